/* place_int.h - placement internals shared by the files of placement/.
 *
 * Not a contract: only the sources of placement/ and the module's own
 * unit tests include it. Names carry the private prefix place__.
 */
#ifndef COULER_PLACE_INT_H
#define COULER_PLACE_INT_H

#include "placement/place.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PLACE__FORMAT 1 /* couler.topology.Topology.format */
#define PLACE__TRAILER 0x434c5450u /* last field of every message */
#define PLACE__NVENDOR 4
#define PLACE__CORE_MILLI 1000u

static inline uint32_t place__popc(uint64_t x)
{
    return (uint32_t)__builtin_popcountll(x);
}

static inline bool place__bit(const uint64_t *bm, uint32_t i)
{
    return (bm[i >> 6] >> (i & 63)) & 1u;
}

static inline void place__bit_set(uint64_t *bm, uint32_t i)
{
    bm[i >> 6] |= (uint64_t)1 << (i & 63);
}

static inline void place__bit_clear(uint64_t *bm, uint32_t i)
{
    bm[i >> 6] &= ~((uint64_t)1 << (i & 63));
}

/* ------------------------------------------------------------------ */
/* Model: derived indexes, built by place__model_finish().             */

struct place__model_ix {
    uint32_t words;         /* uint64 words in one core bitmap */
    uint64_t *all_cores;    /* every core */
    uint64_t *numa_cores;   /* nnuma bitmaps */
    uint64_t *pkg_cores;    /* npackages bitmaps */
    uint64_t *cache_cores;  /* ncaches bitmaps */
    uint64_t *gpu_near;     /* ngpus bitmaps: cores near each GPU */
    uint64_t *core_gpus;    /* per core: GPUs it is near */
    uint64_t *numa_gpus;    /* per NUMA node: GPUs with gpu.numa == it */
    uint64_t *pkg_gpus;     /* per package: GPUs with gpu.package == it */
    uint64_t *group_gpus;   /* per link group */
    uint64_t vendor_gpus[PLACE__NVENDOR];
    uint64_t all_gpus;
    uint32_t *cpu_numa;     /* indexes of NUMA nodes that have cores */
    uint32_t ncpu_numa;
    uint32_t *pkg_ncores;
    uint64_t *pkg_memory;   /* memory of the package's CPU NUMA nodes */
    uint32_t *pu_sorted;    /* PU indexes sorted by OS index */
    uint32_t max_kind;
    uint32_t vclass;        /* vendor class of the node, see cluster.c */
    bool links_known;
};

/* place__model_new - an empty model (all arrays NULL). */
place_model *place__model_new(void);

/* place__model_finish - validate a model whose raw arrays are filled
 * (packages, numa without ncores, cores, pus, gpus without link_group,
 * links, ncaches, hostname) and compute everything derived: numa ncores,
 * GPU link groups and gpu_bw, memory, and the index. Used by both the hwloc
 * and the wire paths, so a model is as strict whatever its source. On
 * error the model is left for the caller to free. */
int place__model_finish(place_model *m, cl_errmsg *err);

/* place__model_describe_as - place_model_describe() under another host
 * name (models shared by identical nodes carry the first one's). */
void place__model_describe_as(const place_model *m, const char *host,
                              bool this_system, cl_buf *out);

/* place__pu_lookup - the index in m->pus[] of OS PU `os`, or -1. */
int32_t place__pu_lookup(const place_model *m, uint32_t os);

/* place__numa_lookup - the index in m->numa[] of NUMA OS index, or -1. */
int32_t place__numa_lookup(const place_model *m, uint32_t os);

/* place__model_fingerprint - canonical bytes identifying the hardware
 * (the packed model without hostname and is_this_system). *buf is
 * cl_malloc'd. */
int place__model_fingerprint(const place_model *m, uint8_t **buf,
                             size_t *len);

/* ------------------------------------------------------------------ */
/* Maps                                                                 */

/* place__imap - open addressing map from nonzero uint64 keys to non-NULL
 * pointers. The map owns only its table. */
typedef struct place__imap {
    uint64_t *keys;
    void **vals;
    size_t cap, len, tomb;
} place__imap;

void place__imap_init(place__imap *m);
void place__imap_free(place__imap *m);
void *place__imap_get(const place__imap *m, uint64_t key);
int place__imap_put(place__imap *m, uint64_t key, void *val); /* CL_ENOMEM */
void *place__imap_del(place__imap *m, uint64_t key);
/* Iterate: for (size_t i = 0; place__imap_next(m, &i, &k, &v);) */
bool place__imap_next(const place__imap *m, size_t *i, uint64_t *key,
                      void **val);

/* place__smap - string keys (borrowed from the values: keyfn returns the
 * key of a stored value) to pointers, over an imap of hash chains. */
typedef const char *(*place__keyfn)(const void *val);
typedef struct place__smap {
    void **vals;
    uint64_t *hashes;
    size_t cap, len, tomb;
    place__keyfn key;
} place__smap;

void place__smap_init(place__smap *m, place__keyfn key);
void place__smap_free(place__smap *m);
void *place__smap_get(const place__smap *m, const char *key);
int place__smap_put(place__smap *m, void *val); /* CL_EEXIST, CL_ENOMEM */
void *place__smap_del(place__smap *m, const char *key);

/* ------------------------------------------------------------------ */
/* Cluster internals                                                    */

#define PLACE__NG (PLACE_MAX_GPUS + 1) /* free GPU counts 0..64 */
#define PLACE__NCB 16                  /* free core buckets */

struct place__rec;

/* One distinct hardware shape, shared by the nodes that have it. */
struct place__shape {
    place_model *model; /* owned */
    uint8_t *fp;        /* fingerprint bytes, owned */
    size_t fplen;
    uint64_t fphash;
    uint32_t refs;      /* nodes using it */
    uint32_t avail;     /* of which not draining: "can it ever fit" */
};

struct place__label {
    char *kv; /* "name=value", owned; the map key */
    uint32_t *slots;
    uint32_t n, cap;
};

struct place__node {
    char *id;
    char *hostname;
    struct place__shape *shape;
    const place_model *m;
    char **label_names, **label_values;
    size_t nlabels;
    enum place_node_state state;
    uint32_t slot;
    /* allocation */
    uint64_t *busy;        /* cores held exclusively */
    uint64_t *shared;      /* cores holding shared work */
    uint16_t *shared_used; /* per core: millicores of shared work */
    uint32_t *numa_free_cores;
    uint64_t *numa_free_mem;
    uint32_t *pkg_free_cores;
    uint64_t *pkg_free_mem;
    uint64_t gpu_free;
    uint32_t free_cores;
    uint64_t free_mem;
    uint32_t nbindings;
    struct place__rec *recs; /* its bindings, doubly linked */
    /* free-capacity class index: an intrusive list per class, so moving
     * a node between classes never allocates and never fails */
    int32_t bucket;
    uint32_t bnext, bprev; /* slots, PLACE__NIL at the ends */
};

#define PLACE__NIL UINT32_MAX

struct place__rec {
    uint64_t id;
    struct place__node *node;
    struct place__rec *prev, *next;
    uint32_t *cores;
    uint32_t ncores;
    bool shared;
    uint16_t per_core; /* shared: millicores on each core */
    uint64_t gpus;
    uint32_t nmem;
    uint32_t *mem_numa; /* NUMA indexes */
    uint64_t *mem_bytes;
};

struct place__bucket {
    uint32_t head; /* slot or PLACE__NIL */
    uint32_t n;
};

/* A request turned into allocation units. */
struct place__need {
    uint32_t gpus;
    enum place_vendor vendor;
    uint32_t cores;    /* exclusive cores, or cores to share */
    bool shared;
    uint16_t per_core; /* shared: millicores on each core */
    uint32_t milli;    /* cpu reserved */
    uint64_t mem;
    bool auto_parallel;
    uint32_t max_degree;
};

/* What place__fit_eval found on one node: enough to score it. */
struct place__eval {
    enum place_fit level; /* domain level chosen */
    int32_t dom;          /* NUMA or package index, -1 for the machine */
    uint64_t gpu_cand;    /* GPUs the selection may take */
    uint32_t degree;      /* auto: ranks; else 1 */
    uint32_t stranded;    /* free GPUs left without a free core */
    bool linked;          /* the GPUs can come from one link group */
    double packing;       /* dominant used share after placing */
};

/* Scratch a selection writes into; sized by the cluster to its largest
 * model. */
struct place__choice {
    uint64_t gpus;
    uint32_t *cores;
    uint32_t ncores;
    uint64_t *mem; /* per NUMA index: bytes taken */
    uint8_t *mem_bound; /* per NUMA index: in cpuset.mems */
    enum place_fit fit;
    bool linked;
};

struct place_cluster {
    place_options opt;
    struct place__node **nodes; /* by slot; NULL = free slot */
    uint32_t nslots, cap;
    uint32_t *free_slots;
    uint32_t nfree;
    uint32_t nnodes;
    place__smap by_id;
    place__smap labels;
    struct place__shape **shapes;
    uint32_t nshapes, shapes_cap;
    place__imap recs;
    uint64_t next_id;
    struct place__bucket buckets[PLACE__NVENDOR][PLACE__NG][PLACE__NCB];
    uint16_t cb_nonempty[PLACE__NVENDOR][PLACE__NG];
    /* scratch */
    uint32_t scratch_cores, scratch_numa;
    struct place__choice choice;
    uint64_t *tmp_words; /* 4 bitmaps of the largest model */
    uint32_t *tmp_u32;   /* ncores */
    uint32_t *excl;      /* gang: slots to skip */
    uint32_t nexcl, excl_cap;
};

/* cluster.c */
void place__node_take(place_cluster *c, struct place__node *n,
                      struct place__rec *r);
void place__node_give(place_cluster *c, struct place__node *n,
                      const struct place__rec *r);
void place__index_update(place_cluster *c, struct place__node *n);
uint32_t place__core_bucket(uint32_t free_cores);
struct place__node *place__node_by_id(const place_cluster *c,
                                      const char *id);

/* fit.c: pure functions over one node's model and allocation. */

/* place__need_from - resolve a request into units. CL_EINVAL with a reason
 * for a request no machine can satisfy by construction. */
int place__need_from(const place_request *r, struct place__need *need,
                     cl_errmsg *err);

/* place__shared_room - cores in bitmap dom (NULL: all) that could take
 * `per` more shared millicores: free cores plus shared cores with room. */
uint32_t place__shared_room(const place_model *m,
                            const struct place__node *n, const uint64_t *dom,
                            uint16_t per, uint32_t *on_shared);

/* place__fit_eval - can node n hold `need` now, and how well? true when it
 * can, with *ev filled. */
bool place__fit_eval(const place_model *m, const struct place__node *n,
                     const struct place__need *need, bool topology,
                     struct place__eval *ev);

/* place__fit_select - choose the GPUs, cores and memory for an evaluated
 * fit into ch (scratch sized for m). `need` is the per-rank need; it is
 * scaled by ev->degree. Returns false only when the state changed since
 * the evaluation (an invariant in normal use). */
bool place__fit_select(const place_model *m, const struct place__node *n,
                       const struct place__need *need, bool topology,
                       const struct place__eval *ev, uint64_t *tmp,
                       struct place__choice *ch);

/* place__fit_static - could an empty node of model m hold `need`? */
bool place__fit_static(const place_model *m, const struct place__need *need);

#endif
