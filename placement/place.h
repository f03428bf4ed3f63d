/* place.h - placement: node resource models, requests, bindings, and the
 * cluster-wide placer with its waiting queue, gang placement and fan-out
 * sizing.
 *
 * The module has three layers:
 *
 *   1. The resource model (place_model) of one node: packages, NUMA nodes
 *      with memory, cores and their hardware threads (PUs, OS numbering),
 *      GPUs with their locality, PCI id and runtime index, and GPU link
 *      matrices. An agent builds it from hwloc (place_model_load_live, or
 *      place_model_load_xml for --topology FILE.xml), packs it into its
 *      register message (place_model_pack) and the coordinator unpacks it
 *      (place_model_unpack). topo.c is the only file that sees hwloc.
 *
 *   2. Requests (place_request) parsed from Argo resources.requests/limits
 *      (place_request_parse), and bindings (place_binding): where a step
 *      runs, down to OS PU numbers, GPUs, NUMA memory nodes, cpu quota and
 *      memory limit.
 *
 *   3. The cluster view (place_cluster): a pure, deterministic state machine
 *      over nodes and their allocations. place_cluster_decide() chooses a
 *      binding, place_cluster_commit() applies it, place_cluster_release()
 *      gives it back. No clock, socket or global RNG is touched: the caller
 *      passes a seeded cl_rng and, for the queue, `now`.
 *
 * Errors: every fallible call returns 0 or a CL_E* code (common/cl_err.h)
 * and, when given a cl_errmsg, a sentence saying why. CL_ENOFIT means "no
 * node of this cluster could ever hold it"; CL_EAGAIN means "not now, it
 * will fit when resources free up" (put it in a place_queue).
 *
 * Threads: none. Objects are not thread-safe; the daemons use them from
 * their one loop thread.
 *
 * See placement/README.md for the lifecycle and the scoring policy.
 */
#ifndef COULER_PLACE_H
#define COULER_PLACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cl_buf.h"
#include "common/cl_err.h"
#include "common/cl_rng.h"

/* ------------------------------------------------------------------ */
/* Limits. Models beyond them are refused (CL_ETOOBIG) when built or    */
/* unpacked, so every array in a model is bounded.                      */

#define PLACE_MAX_PUS 8192
#define PLACE_MAX_CORES 4096
#define PLACE_MAX_PUS_PER_CORE 16
#define PLACE_MAX_NUMA 256
#define PLACE_MAX_PACKAGES 256
#define PLACE_MAX_GPUS 64
#define PLACE_MAX_LINKS 8          /* link matrices per model */
#define PLACE_MAX_LINK_MEMBERS 256 /* objects in one link matrix */
#define PLACE_MAX_STRING 256       /* hostname, GPU model, names */
#define PLACE_MODEL_WIRE_MAX (4u << 20) /* largest packed model, bytes */
#define PLACE_BINDING_WIRE_MAX (64u << 10)
#define PLACE_PCI_ID_SIZE 16 /* "0000:18:00.0" + NUL */

/* ------------------------------------------------------------------ */
/* Resource model                                                       */

enum place_vendor {
    PLACE_VENDOR_NONE = 0,
    PLACE_VENDOR_NVIDIA = 1, /* nvidia.com/gpu, CUDA_VISIBLE_DEVICES */
    PLACE_VENDOR_AMD = 2,    /* amd.com/gpu, ROCR_VISIBLE_DEVICES */
    PLACE_VENDOR_OTHER = 3,
};

/* place_vendor_name - "nvidia", "amd", "other" or "none"; static. */
const char *place_vendor_name(enum place_vendor v);

typedef struct place_package {
    uint32_t os_index;
} place_package;

typedef struct place_numa {
    uint32_t os_index; /* the number cpuset.mems and numactl use; may have
                          gaps (P#0, P#8) */
    uint64_t memory;   /* local memory, bytes */
    int32_t package;   /* index into packages[], -1 when its cores span
                          several packages or it has none */
    uint32_t ncores;   /* cores whose PUs are in this node; 0 for a
                          memory-only node (GPU HBM exposed as NUMA) */
} place_numa;

typedef struct place_core {
    uint32_t os_index;
    int32_t package; /* index into packages[] or -1 */
    int32_t numa;    /* index into numa[] or -1 */
    int32_t cache;   /* shared L3 group (0..ncaches-1) or -1 */
    uint32_t kind;   /* CPU kind rank: 0 = most efficient, higher = faster
                        (hybrid P/E cores); 0 on homogeneous machines */
    uint32_t pu_first, npus; /* range in pus[] */
} place_core;

typedef struct place_pu {
    uint32_t os_index; /* what sched_setaffinity and cpuset.cpus take */
    uint32_t core;     /* index into cores[] */
} place_pu;

typedef struct place_gpu {
    enum place_vendor vendor;
    /* The index the vendor runtime uses: CUDA_VISIBLE_DEVICES takes the N
     * of cudaN (or nvmlN), ROCR_VISIBLE_DEVICES the N of rsmiN. When no
     * runtime device names the GPU (a DRM-only export), it is the GPU's
     * rank in PCI bus order among the node's GPUs of that vendor, which is
     * the runtime order under CUDA_DEVICE_ORDER=PCI_BUS_ID, and
     * index_from_pci is set. */
    int32_t index;
    bool index_from_pci;
    char pci_bus_id[PLACE_PCI_ID_SIZE]; /* "0000:18:00.0", "" if not PCI */
    uint16_t pci_vendor, pci_device;
    uint16_t pci_class; /* 0x0302 3D controller, 0x0380 display */
    char *model;        /* "Tesla T4"; "" when unknown */
    char *os_devices;   /* "cuda0,nvml0,opencl0d0" */
    int32_t numa;       /* the one CPU NUMA node its locality falls in, or
                           -1 (locality spans several, or none) */
    int32_t package;    /* the package of its near cores, or -1 */
    char *locality;     /* nearest non-I/O ancestor: "Package L#0",
                           "L3Cache L#5", "Group0 L#1", "Machine L#0" */
    uint32_t *near_cores; /* indexes into cores[] of the CPUs in that
                             ancestor: the cores to drive this GPU from */
    uint32_t nnear;
    int32_t link_group; /* connected set of GPUs by links, or -1 when the
                           model has no link data for it */
} place_gpu;

enum place_link_member_kind {
    PLACE_LINK_GPU = 1,     /* index: into gpus[] */
    PLACE_LINK_SWITCH = 2,  /* a non-GPU PCI device, e.g. an NVSwitch */
    PLACE_LINK_PACKAGE = 3, /* index: into packages[] (NVLink to a CPU) */
    PLACE_LINK_OTHER = 4,
};

typedef struct place_link_member {
    enum place_link_member_kind kind;
    uint32_t index; /* GPU or package index; 0 otherwise */
    char *name;     /* OS device name or PCI bus id */
} place_link_member;

/* A raw link matrix as hwloc reports it (NVLinkBandwidth, XGMIBandwidth):
 * values[i * n + j] between members i and j, in the matrix's unit
 * (MB/s for the bandwidths). Members may include switches and CPUs. */
typedef struct place_link {
    char *name;
    uint32_t n;
    place_link_member *members;
    uint64_t *values;
} place_link;

struct place__model_ix; /* derived indexes, private to placement/ */

/* place_model - the resource model of one node. Read-only for callers;
 * every array is owned by the model. Built by place_model_load_*() or
 * place_model_unpack(), copied with place_model_dup(), freed with
 * place_model_free(). */
typedef struct place_model {
    char *hostname;      /* "" when the export has none */
    bool is_this_system; /* hwloc: describes the machine we run on */
    place_package *packages;
    uint32_t npackages;
    place_numa *numa;
    uint32_t nnuma;
    place_core *cores;
    uint32_t ncores;
    place_pu *pus; /* grouped by core, in core order */
    uint32_t npus;
    place_gpu *gpus; /* one per physical GPU, in PCI bus order */
    uint32_t ngpus;
    place_link *links;
    uint32_t nlinks;
    uint32_t ncaches;      /* number of L3 groups used by cores[].cache */
    uint32_t nlink_groups; /* number of distinct gpus[].link_group */
    /* Effective GPU-to-GPU link bandwidth, ngpus x ngpus, direct or through
     * one switch (min of the two hops); 0 where no link is known. */
    uint64_t *gpu_bw;
    uint64_t memory;       /* total memory of NUMA nodes that have cores */
    struct place__model_ix *ix;
} place_model;

/* place_model_load_xml - build a model from an hwloc XML export. Refuses a
 * path it cannot read (CL_ENOENT / CL_EPERM / CL_EIO) and a file hwloc
 * cannot parse (CL_ETOPO), with the path in the message; never falls back
 * to the live machine. On success *out is owned by the caller. */
int place_model_load_xml(const char *path, place_model **out, cl_errmsg *err);

/* place_model_load_xml_buffer - the same from XML text in memory. */
int place_model_load_xml_buffer(const char *xml, size_t len,
                                place_model **out, cl_errmsg *err);

/* place_model_load_live - build a model of the machine we run on. When the
 * HWLOC_XMLFILE environment variable is set, hwloc would silently load that
 * file instead (and silently use the live machine if the file is missing):
 * this call then loads the file through place_model_load_xml(), so an
 * unreadable path is an error, and is_this_system is false. */
int place_model_load_live(place_model **out, cl_errmsg *err);

/* place_model_free - release a model and everything it owns. NULL is ok. */
void place_model_free(place_model *m);

/* place_model_dup - deep copy; *out owned by the caller. 0 or CL_ENOMEM. */
int place_model_dup(const place_model *m, place_model **out);

/* place_model_describe - append a multi-line human description (the
 * `couler-coord nodes -o wide` text): packages, NUMA nodes with memory,
 * cores/PUs, GPUs with model, PCI id, NUMA node, locality, link groups.
 * Check cl_buf_ok(out) afterwards. */
void place_model_describe(const place_model *m, cl_buf *out);

/* place_model_pack - encode as a couler.topology.Topology protobuf. On
 * success *buf (cl_malloc'd, caller frees with cl_free) holds *len bytes.
 * The hostname and is_this_system are included. */
int place_model_pack(const place_model *m, uint8_t **buf, size_t *len);

/* place_model_unpack - decode and validate network input. Refuses more
 * than PLACE_MODEL_WIRE_MAX bytes (CL_ETOOBIG), malformed protobuf
 * (CL_EPROTO), an unknown format version (CL_EVERSION), and any index,
 * count or string out of bounds (CL_EPROTO/CL_ETOOBIG), naming the field.
 * On success *out is owned by the caller. */
int place_model_unpack(const uint8_t *buf, size_t len, place_model **out,
                       cl_errmsg *err);

/* place_cpuset_format - "0-3,8" from OS indexes (any order, duplicates
 * allowed) into out. */
void place_cpuset_format(const uint32_t *ids, size_t n, cl_buf *out);

/* place_cpuset_parse - the inverse, into a cl_malloc'd ascending array
 * (*ids, caller frees). 0, CL_EINVAL (names the bad token) or CL_ENOMEM. */
int place_cpuset_parse(const char *s, uint32_t **ids, size_t *n,
                       cl_errmsg *err);

/* ------------------------------------------------------------------ */
/* Requests                                                             */

/* A name/value pair: the layout of the workflow engine's key/value pairs,
 * so its arrays can be passed as they are. Borrowed, never freed here. */
typedef struct place_kv {
    const char *name;
    const char *value;
} place_kv;

/* Bytes of the step's input artifacts already stored on a node. */
typedef struct place_input {
    const char *node_id;
    uint64_t bytes;
} place_input;

/* place_request - what a step asks for. Fill the resource fields with
 * place_request_parse(); the caller sets the rest. Pointers are borrowed
 * and must stay valid while the request is used (a place_queue copies). */
typedef struct place_request {
    uint32_t cpu_milli;       /* requested cpu, millicores; see below */
    uint32_t cpu_limit_milli; /* 0: no limit */
    bool cpu_default;         /* no cpu given: a best-effort share */
    uint64_t memory;          /* requested bytes; 0: none */
    uint64_t memory_limit;    /* 0: none */
    uint32_t gpus;            /* whole GPUs */
    enum place_vendor gpu_vendor;
    const place_kv *selector; /* nodeSelector: every pair must match */
    size_t nselector;
    const place_input *inputs; /* where input artifacts already are */
    size_t ninputs;
    bool auto_parallel;   /* couler.io/parallelism: auto; the request is
                             then the need of one rank */
    uint32_t max_degree;  /* auto: cap on ranks, 0 = no cap */
} place_request;

/* Default share of a step that names no cpu: 100m on a shared core, with
 * no cpu quota (best effort). A GPU step that names no cpu gets one whole
 * core per GPU, so that no GPU runs without a core to drive it, and an
 * auto-parallel rank one whole core. */
#define PLACE_DEFAULT_CPU_MILLI 100

/* place_request_init - zero the request. */
void place_request_init(place_request *r);

/* place_request_parse - fill the cpu, memory and GPU fields from Argo /
 * Kubernetes resources.requests and resources.limits (either may be NULL
 * with count 0). Semantics:
 *  - cpu: cores ("2", "0.5") or millicores ("500m"); rounded up to 1m.
 *  - memory: bytes with Ki/Mi/Gi/Ti/Pi/Ei, k/K/M/G/T/P/E, an exponent
 *    ("1e9"), or plain; rounded up to a byte.
 *  - nvidia.com/gpu, amd.com/gpu: whole numbers; a request defaults to the
 *    limit and must equal it when both are given (no overcommit).
 *  - cpu/memory requests default to their limits; a request above its
 *    limit is refused.
 *  - ephemeral-storage and hugepages-* are checked and ignored; any other
 *    resource is refused (no node could provide it).
 * On error returns CL_EINVAL (or CL_ERANGE) with a message naming the field,
 * e.g. "resources.requests.memory: '12Qi': unknown suffix 'Qi'". */
int place_request_parse(place_request *r, const place_kv *requests,
                        size_t nrequests, const place_kv *limits,
                        size_t nlimits, cl_errmsg *err);

/* place_parse_cpu - one cpu quantity into millicores. */
int place_parse_cpu(const char *s, uint32_t *milli, cl_errmsg *err);
/* place_parse_memory - one memory quantity into bytes. */
int place_parse_memory(const char *s, uint64_t *bytes, cl_errmsg *err);
/* place_parse_count - a whole, non-negative count ("2", "2.0", "2000m"). */
int place_parse_count(const char *s, uint32_t *count, cl_errmsg *err);

/* place_selector_match - true when every selector pair is among labels. */
bool place_selector_match(const place_kv *selector, size_t nselector,
                          const place_kv *labels, size_t nlabels);

/* ------------------------------------------------------------------ */
/* Bindings                                                             */

enum place_fit {
    PLACE_FIT_NUMA = 0,    /* cores, GPUs and memory in one NUMA node */
    PLACE_FIT_PACKAGE = 1, /* in one package */
    PLACE_FIT_SPREAD = 2,  /* across packages */
};

const char *place_fit_name(enum place_fit f); /* "numa"/"package"/"spread" */

typedef struct place_binding_gpu {
    uint32_t slot; /* index into the node model's gpus[] */
    enum place_vendor vendor;
    int32_t index; /* runtime index, see place_gpu.index */
    char pci_bus_id[PLACE_PCI_ID_SIZE];
} place_binding_gpu;

typedef struct place_binding_mem {
    uint32_t numa_os; /* NUMA OS index: cpuset.mems */
    uint64_t bytes;   /* memory reserved there (0: bound, none reserved) */
} place_binding_mem;

/* place_binding - where one step runs. Every pointer is owned by the
 * binding; release with place_binding_free(). */
typedef struct place_binding {
    uint64_t id;    /* set by place_cluster_commit(); 0 before */
    char *node_id;
    uint32_t *pus;  /* OS PU indexes, ascending */
    size_t npus;
    char *cpuset;   /* the same as text, "0-3,8" */
    place_binding_gpu *gpus; /* ascending runtime index */
    size_t ngpus;
    place_binding_mem *mems; /* ascending NUMA OS index */
    size_t nmems;
    uint32_t cpu_milli;       /* cpu reserved */
    uint32_t cpu_quota_milli; /* CFS quota to set; 0: none */
    uint64_t memory;          /* memory reserved */
    uint64_t memory_limit;    /* cgroup memory.max; 0: none */
    bool shared;              /* cores are shared with other steps */
    uint32_t degree;          /* ranks (auto parallelism); 1 otherwise */
    enum place_fit fit;       /* topology fit achieved */
    bool gpus_linked;         /* all GPUs in one link-connected set */
} place_binding;

void place_binding_init(place_binding *b);
/* place_binding_free - release what b owns; b is then empty (init). */
void place_binding_free(place_binding *b);
int place_binding_copy(const place_binding *src, place_binding *dst);

/* place_binding_visible_devices - append "0,1" (runtime indexes of the
 * binding's GPUs of vendor v) for CUDA_VISIBLE_DEVICES (NVIDIA) or
 * ROCR_VISIBLE_DEVICES (AMD). Appends nothing when there are none. */
void place_binding_visible_devices(const place_binding *b,
                                   enum place_vendor v, cl_buf *out);

/* place_binding_pack / _unpack - the couler.topology.Binding message the
 * coordinator sends with a step and keeps to restore its view. Unpack is
 * size-bounded (PLACE_BINDING_WIRE_MAX) and checked like the model's. */
int place_binding_pack(const place_binding *b, uint8_t **buf, size_t *len);
int place_binding_unpack(const uint8_t *buf, size_t len, place_binding *out,
                         cl_errmsg *err);

/* ------------------------------------------------------------------ */
/* Cluster view                                                         */

typedef struct place_cluster place_cluster;

enum place_node_state {
    PLACE_NODE_READY = 0,    /* takes new work */
    PLACE_NODE_DRAINING = 1, /* keeps its work, takes none, and does not
                                count when deciding "can never fit" */
    PLACE_NODE_DOWN = 2,     /* unreachable for now: takes none, but still
                                counts for "can ever fit" */
};

/* Tuning. place_cluster_new() starts from place_options_default(). */
typedef struct place_options {
    /* Feasible nodes scored per decision (Nomad's "limit"); the search
     * stops once it has this many, looking first at the tightest
     * free-capacity classes. Nodes holding the step's inputs are always
     * scored on top of these. */
    uint32_t candidates;
    /* Probe budget per decision: once spent, the search stops at the
     * first feasible node it has; with none yet it walks on until it finds
     * one, so nothing waits while some ready node could hold it. */
    uint32_t probe_limit;
    bool topology; /* topology-aware choice and scoring (default on) */
    bool first_fit; /* baseline: first node in insertion order, lowest
                       free GPUs and cores; for comparisons only */
} place_options;

place_options place_options_default(void);

/* place_cluster_new - an empty view. *out owned by the caller: free with
 * place_cluster_free(). */
int place_cluster_new(const place_options *opt, place_cluster **out);
/* place_cluster_free - frees the view, its models, nodes and bindings. */
void place_cluster_free(place_cluster *c);

/* place_cluster_add_node - register node `id` with its model and labels
 * (all copied; the caller keeps ownership of its arguments). Nodes of
 * identical hardware share one model copy. CL_EEXIST if the id is known,
 * CL_EINVAL for an empty id or a model with no cores. */
int place_cluster_add_node(place_cluster *c, const char *id,
                           const place_model *model, const place_kv *labels,
                           size_t nlabels, cl_errmsg *err);

/* place_cluster_remove_node - forget a node and every binding on it (their
 * ids then release with CL_ENOENT). CL_ENOENT if unknown. */
int place_cluster_remove_node(place_cluster *c, const char *id);

/* place_cluster_set_state - ready / draining / down. CL_ENOENT if unknown. */
int place_cluster_set_state(place_cluster *c, const char *id,
                            enum place_node_state state);

/* place_cluster_node_model - the model of a node (shared, owned by the
 * cluster, valid until the node is removed), or NULL. */
const place_model *place_cluster_node_model(const place_cluster *c,
                                            const char *id);

/* place_cluster_describe_node - the model description of node `id`
 * followed by its current allocation (free cores, GPUs, memory). */
int place_cluster_describe_node(const place_cluster *c, const char *id,
                                cl_buf *out);

/* Free and total capacity of a node, for listings and tests. */
typedef struct place_node_usage {
    uint32_t cores, free_cores;  /* whole cores; shared ones are not free */
    uint32_t gpus, free_gpus;
    uint64_t memory, free_memory;
    uint32_t bindings;
    enum place_node_state state;
} place_node_usage;

int place_cluster_node_usage(const place_cluster *c, const char *id,
                             place_node_usage *out);

/* Cluster totals, e.g. for the stranded-GPU figure: a free GPU is stranded
 * when its node has fewer free whole cores than free GPUs. */
typedef struct place_cluster_stats {
    uint32_t nodes, ready;
    uint64_t cores, free_cores;
    uint64_t gpus, free_gpus, stranded_gpus;
    uint64_t memory, free_memory;
    uint64_t bindings;
} place_cluster_stats;

void place_cluster_stats_get(const place_cluster *c, place_cluster_stats *s);

/* place_cluster_decide - choose a binding for `req` without changing the
 * view. Filters ready nodes that can hold it (selector, GPUs of the vendor,
 * cores, memory), scores a bounded set of candidates (inputs already local,
 * topology fit, stranded capacity, packing), breaks ties with `rng`.
 * Returns 0 and fills *out (caller frees with place_binding_free, or hands
 * it to place_cluster_commit), CL_EAGAIN when nothing fits now, CL_ENOFIT
 * when no node could ever hold it, CL_EINVAL for a malformed request; the
 * last three with a reason in err. */
int place_cluster_decide(place_cluster *c, const place_request *req,
                         cl_rng *rng, place_binding *out, cl_errmsg *err);

/* place_cluster_commit - apply a binding (from decide, or one restored from
 * storage) to the view. Assigns b->id when it is 0; a nonzero id is kept
 * (restore) and must be unused (CL_EEXIST). Refuses a binding whose node is
 * unknown (CL_ENOENT) or whose resources are taken (CL_EBUSY); nothing is
 * applied then. */
int place_cluster_commit(place_cluster *c, place_binding *b, cl_errmsg *err);

/* place_cluster_place - decide then commit. */
int place_cluster_place(place_cluster *c, const place_request *req,
                        cl_rng *rng, place_binding *out, cl_errmsg *err);

/* place_cluster_release - give back binding `id`. CL_ENOENT if unknown. */
int place_cluster_release(place_cluster *c, uint64_t id);

/* place_cluster_fits_ever - 0 when some non-draining node could hold the
 * request on an empty machine, else CL_ENOFIT with the reason. While no
 * node accepts work at all (none registered yet, or all draining) the
 * answer is CL_EAGAIN: steps wait for nodes rather than fail. */
int place_cluster_fits_ever(const place_cluster *c, const place_request *req,
                            cl_errmsg *err);

/* ------------------------------------------------------------------ */
/* Gang placement and fan-out                                           */

/* place_gang - N ranks on N distinct nodes, all committed or none.
 * bindings[r] is rank r; rank 0's node is the master (MASTER_ADDR). */
typedef struct place_gang {
    place_binding *bindings; /* owned */
    size_t n;
} place_gang;

/* place_gang_place - place and commit `ranks` copies of the per-node
 * request on distinct nodes. All or nothing: on failure nothing stays
 * committed, and the result is CL_EAGAIN (not now) or CL_ENOFIT (fewer
 * than `ranks` nodes could ever hold one rank). *out owned by the caller:
 * free with place_gang_free() (which does not release; use
 * place_gang_release). */
int place_gang_place(place_cluster *c, const place_request *per_node,
                     uint32_t ranks, cl_rng *rng, place_gang *out,
                     cl_errmsg *err);
/* place_gang_release - release every rank's binding from the view. */
void place_gang_release(place_cluster *c, const place_gang *g);
void place_gang_free(place_gang *g);

/* place_fanout_count - how many of `k` items, each needing `per_item`,
 * can start now: placed one by one as the placer would, then released, so
 * the view is unchanged. */
int place_fanout_count(place_cluster *c, const place_request *per_item,
                       uint32_t k, cl_rng *rng, uint32_t *n);

/* ------------------------------------------------------------------ */
/* Waiting queue                                                        */

typedef struct place_queue place_queue;

int place_queue_new(place_queue **out);
/* place_queue_free - frees the queue and its request copies; `data`
 * pointers are the caller's and are not touched. */
void place_queue_free(place_queue *q);

/* place_queue_push - enqueue item `id` (unique, nonzero) with a deep copy
 * of `req`. Order: higher `priority` first, then older `now_ms`, then push
 * order. CL_EEXIST for a duplicate id. */
int place_queue_push(place_queue *q, uint64_t id, int priority,
                     int64_t now_ms, const place_request *req, void *data);

/* place_queue_remove - drop item `id` (e.g. a cancelled step). *data gets
 * its pointer when data != NULL. CL_ENOENT if absent. */
int place_queue_remove(place_queue *q, uint64_t id, void **data);

size_t place_queue_len(const place_queue *q);

/* place_queue_at - the i-th item in queue order (0 = next to run); false
 * past the end. Out pointers may be NULL. */
bool place_queue_at(const place_queue *q, size_t i, uint64_t *id,
                    int *priority, void **data);

/* place_queue_cb - called by drain for each item it settles. status 0: `b`
 * is committed and now owned by the callback (place_binding_free it;
 * release it from the cluster if the step no longer wants it). status
 * CL_ENOFIT (or CL_EINVAL for a malformed request): b is NULL and `why`
 * says why the item can never run. Either way the item has left the queue.
 * The callback may use the cluster (e.g. release) but must not push to or
 * remove from the queue being drained. */
typedef void (*place_queue_cb)(void *ctx, uint64_t id, void *data,
                               int status, place_binding *b,
                               const char *why);

/* place_queue_drain - try the items in order and place what fits now.
 * Policy: within one priority, a smaller item may start ahead of an older
 * one that does not fit (backfill); no item starts while an item of a
 * higher priority waits for lack of resources. Items whose shape already
 * failed in this pass are not tried again. Returns 0 or an error other
 * than CL_EAGAIN/CL_ENOFIT (then the queue is as the callbacks left it).
 * *placed (may be NULL) counts the items started. */
int place_queue_drain(place_queue *q, place_cluster *c, cl_rng *rng,
                      place_queue_cb cb, void *ctx, size_t *placed);

#endif
