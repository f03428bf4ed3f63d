/* cluster.c - the cluster view: nodes, their labels and allocations, the
 * free-capacity class index, and commit/release of bindings.
 *
 * The index files every ready node under a class (vendor class of its
 * GPUs, number of free GPUs, log2 bucket of free whole cores). A decision
 * walks the classes from the tightest that can hold the step, so it looks
 * at a bounded number of nodes however large the cluster is (decide.c).
 * Classes are intrusive lists: moving a node never allocates.
 */
#include "placement/place_int.h"

#include "common/cl_heap.h"

#include <inttypes.h>
#include <string.h>

place_options place_options_default(void)
{
    place_options o;
    memset(&o, 0, sizeof(o));
    o.candidates = 4;
    o.probe_limit = 64;
    o.topology = true;
    o.first_fit = false;
    return o;
}

static const char *node_key(const void *v)
{
    return ((const struct place__node *)v)->id;
}

static const char *label_key(const void *v)
{
    return ((const struct place__label *)v)->kv;
}

int place_cluster_new(const place_options *opt, place_cluster **out)
{
    place_cluster *c = cl_calloc(1, sizeof(*c));
    *out = NULL;
    if (c == NULL)
        return CL_ENOMEM;
    c->opt = opt ? *opt : place_options_default();
    if (c->opt.candidates == 0)
        c->opt.candidates = 1;
    if (c->opt.probe_limit < c->opt.candidates)
        c->opt.probe_limit = c->opt.candidates;
    place__smap_init(&c->by_id, node_key);
    place__smap_init(&c->labels, label_key);
    place__imap_init(&c->recs);
    c->next_id = 1;
    for (int v = 0; v < PLACE__NVENDOR; v++)
        for (int g = 0; g < PLACE__NG; g++)
            for (int b = 0; b < PLACE__NCB; b++)
                c->buckets[v][g][b].head = PLACE__NIL;
    *out = c;
    return 0;
}

static void rec_free(struct place__rec *r)
{
    if (r == NULL)
        return;
    cl_free(r->cores);
    cl_free(r->mem_numa);
    cl_free(r->mem_bytes);
    cl_free(r);
}

static void node_free(struct place__node *n)
{
    if (n == NULL)
        return;
    cl_free(n->id);
    cl_free(n->hostname);
    for (size_t i = 0; i < n->nlabels; i++) {
        cl_free(n->label_names[i]);
        cl_free(n->label_values[i]);
    }
    cl_free(n->label_names);
    cl_free(n->label_values);
    cl_free(n->busy);
    cl_free(n->shared);
    cl_free(n->shared_used);
    cl_free(n->numa_free_cores);
    cl_free(n->numa_free_mem);
    cl_free(n->pkg_free_cores);
    cl_free(n->pkg_free_mem);
    cl_free(n);
}

static void shape_free(struct place__shape *s)
{
    if (s == NULL)
        return;
    place_model_free(s->model);
    cl_free(s->fp);
    cl_free(s);
}

void place_cluster_free(place_cluster *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->recs.cap; i++)
        if (c->recs.keys[i] != 0 && c->recs.vals[i] != NULL)
            rec_free(c->recs.vals[i]);
    place__imap_free(&c->recs);
    for (uint32_t s = 0; s < c->nslots; s++)
        node_free(c->nodes[s]);
    cl_free(c->nodes);
    cl_free(c->free_slots);
    for (size_t i = 0; i < c->labels.cap; i++) {
        struct place__label *l = c->labels.vals[i];
        if (c->labels.hashes[i] >= 2 && l != NULL) {
            cl_free(l->kv);
            cl_free(l->slots);
            cl_free(l);
        }
    }
    place__smap_free(&c->labels);
    place__smap_free(&c->by_id);
    for (uint32_t i = 0; i < c->nshapes; i++)
        shape_free(c->shapes[i]);
    cl_free(c->shapes);
    cl_free(c->choice.cores);
    cl_free(c->choice.mem);
    cl_free(c->choice.mem_bound);
    cl_free(c->tmp_words);
    cl_free(c->tmp_u32);
    cl_free(c->excl);
    cl_free(c);
}

struct place__node *place__node_by_id(const place_cluster *c, const char *id)
{
    return id ? place__smap_get(&c->by_id, id) : NULL;
}

/* ------------------------------------------------------------------ */
/* Class index                                                          */

uint32_t place__core_bucket(uint32_t free_cores)
{
    if (free_cores == 0)
        return 0;
    uint32_t b = 32 - (uint32_t)__builtin_clz(free_cores); /* 1 + log2 */
    return b < PLACE__NCB ? b : PLACE__NCB - 1;
}

static struct place__bucket *bucket_at(place_cluster *c, int32_t key)
{
    int32_t v = key / (PLACE__NG * PLACE__NCB);
    int32_t g = key / PLACE__NCB % PLACE__NG;
    int32_t b = key % PLACE__NCB;
    return &c->buckets[v][g][b];
}

static void bucket_remove(place_cluster *c, struct place__node *n)
{
    if (n->bucket < 0)
        return;
    struct place__bucket *bk = bucket_at(c, n->bucket);
    if (n->bprev != PLACE__NIL)
        c->nodes[n->bprev]->bnext = n->bnext;
    else
        bk->head = n->bnext;
    if (n->bnext != PLACE__NIL)
        c->nodes[n->bnext]->bprev = n->bprev;
    bk->n--;
    if (bk->n == 0) {
        int32_t v = n->bucket / (PLACE__NG * PLACE__NCB);
        int32_t g = n->bucket / PLACE__NCB % PLACE__NG;
        int32_t b = n->bucket % PLACE__NCB;
        c->cb_nonempty[v][g] &= (uint16_t) ~(1u << b);
    }
    n->bucket = -1;
    n->bnext = n->bprev = PLACE__NIL;
}

void place__index_update(place_cluster *c, struct place__node *n)
{
    int32_t key = -1;
    if (n->state == PLACE_NODE_READY) {
        uint32_t v = n->m->ix->vclass;
        uint32_t g = place__popc(n->gpu_free);
        uint32_t b = place__core_bucket(n->free_cores);
        key = (int32_t)((v * PLACE__NG + g) * PLACE__NCB + b);
    }
    if (key == n->bucket)
        return;
    bucket_remove(c, n);
    if (key < 0)
        return;
    struct place__bucket *bk = bucket_at(c, key);
    n->bucket = key;
    n->bprev = PLACE__NIL;
    n->bnext = bk->head;
    if (bk->head != PLACE__NIL)
        c->nodes[bk->head]->bprev = n->slot;
    bk->head = n->slot;
    bk->n++;
    c->cb_nonempty[key / (PLACE__NG * PLACE__NCB)]
                  [key / PLACE__NCB % PLACE__NG] |=
        (uint16_t)(1u << (key % PLACE__NCB));
}

/* ------------------------------------------------------------------ */
/* Nodes                                                                */

static int shape_get(place_cluster *c, const place_model *m,
                     struct place__shape **out)
{
    uint8_t *fp = NULL;
    size_t len = 0;
    int rv = place__model_fingerprint(m, &fp, &len);
    if (rv != 0)
        return rv;
    uint64_t h = 0;
    for (size_t i = 0; i < len; i++)
        h = (h ^ fp[i]) * 0x100000001b3ULL;
    for (uint32_t i = 0; i < c->nshapes; i++) {
        struct place__shape *s = c->shapes[i];
        if (s->fphash == h && s->fplen == len && memcmp(s->fp, fp, len) == 0) {
            cl_free(fp);
            *out = s;
            return 0;
        }
    }
    struct place__shape *s = NULL;
    rv = CL_ENOMEM;
    if (c->nshapes == c->shapes_cap) {
        uint32_t nc = c->shapes_cap ? c->shapes_cap * 2 : 8;
        struct place__shape **ns = cl_realloc(c->shapes, nc * sizeof(*ns));
        if (ns == NULL)
            goto err;
        c->shapes = ns;
        c->shapes_cap = nc;
    }
    s = cl_calloc(1, sizeof(*s));
    if (s == NULL)
        goto err;
    rv = place_model_dup(m, &s->model);
    if (rv != 0)
        goto err;
    s->fp = fp;
    s->fplen = len;
    s->fphash = h;
    c->shapes[c->nshapes++] = s;
    *out = s;
    return 0;
err:
    cl_free(fp);
    shape_free(s);
    return rv;
}

static void shape_put(place_cluster *c, struct place__shape *s)
{
    if (--s->refs > 0)
        return;
    for (uint32_t i = 0; i < c->nshapes; i++)
        if (c->shapes[i] == s) {
            c->shapes[i] = c->shapes[--c->nshapes];
            break;
        }
    shape_free(s);
}

/* Scratch for selection, sized to the largest model seen. */
static int scratch_fit(place_cluster *c, const place_model *m)
{
    if (m->ncores > c->scratch_cores) {
        uint32_t w = (m->ncores + 63) / 64;
        uint32_t *cores = cl_malloc(m->ncores * sizeof(uint32_t));
        uint32_t *u32 = cl_malloc(m->ncores * sizeof(uint32_t));
        uint64_t *words = cl_malloc(4 * w * sizeof(uint64_t));
        if (!cores || !u32 || !words) {
            cl_free(cores);
            cl_free(u32);
            cl_free(words);
            return CL_ENOMEM;
        }
        cl_free(c->choice.cores);
        cl_free(c->tmp_u32);
        cl_free(c->tmp_words);
        c->choice.cores = cores;
        c->tmp_u32 = u32;
        c->tmp_words = words;
        c->scratch_cores = m->ncores;
    }
    if (m->nnuma > c->scratch_numa) {
        uint64_t *mem = cl_malloc(m->nnuma * sizeof(uint64_t));
        uint8_t *bound = cl_malloc(m->nnuma);
        if (!mem || !bound) {
            cl_free(mem);
            cl_free(bound);
            return CL_ENOMEM;
        }
        cl_free(c->choice.mem);
        cl_free(c->choice.mem_bound);
        c->choice.mem = mem;
        c->choice.mem_bound = bound;
        c->scratch_numa = m->nnuma;
    }
    return 0;
}

static int label_add(place_cluster *c, const char *name, const char *value,
                     uint32_t slot)
{
    size_t ln = strlen(name), lv = strlen(value);
    char *kv = cl_malloc(ln + lv + 2);
    if (kv == NULL)
        return CL_ENOMEM;
    memcpy(kv, name, ln);
    kv[ln] = '=';
    memcpy(kv + ln + 1, value, lv + 1);
    struct place__label *l = place__smap_get(&c->labels, kv);
    if (l == NULL) {
        l = cl_calloc(1, sizeof(*l));
        if (l == NULL) {
            cl_free(kv);
            return CL_ENOMEM;
        }
        l->kv = kv;
        int rv = place__smap_put(&c->labels, l);
        if (rv != 0) {
            cl_free(kv);
            cl_free(l);
            return rv;
        }
    } else {
        cl_free(kv);
    }
    if (l->n == l->cap) {
        uint32_t nc = l->cap ? l->cap * 2 : 8;
        uint32_t *ns = cl_realloc(l->slots, nc * sizeof(uint32_t));
        if (ns == NULL)
            return CL_ENOMEM;
        l->slots = ns;
        l->cap = nc;
    }
    l->slots[l->n++] = slot;
    return 0;
}

static void label_remove(place_cluster *c, const char *name,
                         const char *value, uint32_t slot)
{
    size_t ln = strlen(name), lv = strlen(value);
    char *kv = cl_malloc(ln + lv + 2);
    if (kv == NULL)
        return; /* the posting stays; lookups re-check node labels */
    memcpy(kv, name, ln);
    kv[ln] = '=';
    memcpy(kv + ln + 1, value, lv + 1);
    struct place__label *l = place__smap_get(&c->labels, kv);
    cl_free(kv);
    if (l == NULL)
        return;
    for (uint32_t i = 0; i < l->n; i++)
        if (l->slots[i] == slot) {
            l->slots[i] = l->slots[--l->n];
            break;
        }
    if (l->n == 0) {
        place__smap_del(&c->labels, l->kv);
        cl_free(l->kv);
        cl_free(l->slots);
        cl_free(l);
    }
}

static void node_unlink(place_cluster *c, struct place__node *n)
{
    bucket_remove(c, n);
    for (size_t i = 0; i < n->nlabels; i++)
        label_remove(c, n->label_names[i], n->label_values[i], n->slot);
    place__smap_del(&c->by_id, n->id);
    c->nodes[n->slot] = NULL;
    c->free_slots[c->nfree++] = n->slot;
    c->nnodes--;
}

int place_cluster_add_node(place_cluster *c, const char *id,
                           const place_model *model, const place_kv *labels,
                           size_t nlabels, cl_errmsg *err)
{
    if (id == NULL || id[0] == '\0' || strlen(id) > PLACE_MAX_STRING) {
        cl_errmsg_set(err, "add node: empty or overlong node id");
        return CL_EINVAL;
    }
    if (model == NULL || model->ncores == 0 || model->ix == NULL) {
        cl_errmsg_set(err, "add node '%s': no usable model", id);
        return CL_EINVAL;
    }
    if (place__node_by_id(c, id) != NULL) {
        cl_errmsg_set(err, "add node '%s': already registered", id);
        return CL_EEXIST;
    }
    for (size_t i = 0; i < nlabels; i++)
        if (labels[i].name == NULL || labels[i].value == NULL ||
            strlen(labels[i].name) > PLACE_MAX_STRING ||
            strlen(labels[i].value) > PLACE_MAX_STRING) {
            cl_errmsg_set(err, "add node '%s': label %zu malformed", id, i);
            return CL_EINVAL;
        }
    int rv = CL_ENOMEM;
    struct place__node *n = NULL;
    struct place__shape *shape = NULL;
    if ((rv = scratch_fit(c, model)) != 0)
        goto err;
    if ((rv = shape_get(c, model, &shape)) != 0)
        goto err;
    shape->refs++;
    rv = CL_ENOMEM;
    const place_model *m = shape->model;
    uint32_t w = m->ix->words;
    n = cl_calloc(1, sizeof(*n));
    if (n == NULL)
        goto err;
    n->shape = shape;
    n->m = m;
    n->bucket = -1;
    n->bnext = n->bprev = PLACE__NIL;
    n->state = PLACE_NODE_READY;
    n->id = cl_strdup(id);
    n->hostname = cl_strdup(model->hostname);
    n->busy = cl_calloc(w, sizeof(uint64_t));
    n->shared = cl_calloc(w, sizeof(uint64_t));
    n->shared_used = cl_calloc(m->ncores, sizeof(uint16_t));
    n->numa_free_cores = cl_calloc(m->nnuma, sizeof(uint32_t));
    n->numa_free_mem = cl_calloc(m->nnuma, sizeof(uint64_t));
    n->pkg_free_cores = cl_calloc(m->npackages + 1, sizeof(uint32_t));
    n->pkg_free_mem = cl_calloc(m->npackages + 1, sizeof(uint64_t));
    n->label_names = cl_calloc(nlabels + 1, sizeof(char *));
    n->label_values = cl_calloc(nlabels + 1, sizeof(char *));
    if (!n->id || !n->hostname || !n->busy || !n->shared ||
        !n->shared_used || !n->numa_free_cores || !n->numa_free_mem ||
        !n->pkg_free_cores || !n->pkg_free_mem || !n->label_names ||
        !n->label_values)
        goto err;
    for (size_t i = 0; i < nlabels; i++) {
        n->label_names[i] = cl_strdup(labels[i].name);
        n->label_values[i] = cl_strdup(labels[i].value);
        n->nlabels = i + 1;
        if (!n->label_names[i] || !n->label_values[i])
            goto err;
    }
    n->gpu_free = m->ix->all_gpus;
    n->free_cores = m->ncores;
    n->free_mem = m->memory;
    for (uint32_t i = 0; i < m->nnuma; i++) {
        n->numa_free_cores[i] = m->numa[i].ncores;
        n->numa_free_mem[i] = m->numa[i].ncores > 0 ? m->numa[i].memory : 0;
    }
    for (uint32_t p = 0; p < m->npackages; p++) {
        n->pkg_free_cores[p] = m->ix->pkg_ncores[p];
        n->pkg_free_mem[p] = m->ix->pkg_memory[p];
    }
    /* A slot, the id map, then labels: undone in reverse on failure. */
    if (c->nfree == 0) {
        if (c->nslots == c->cap) {
            uint32_t nc = c->cap ? c->cap * 2 : 64;
            struct place__node **nn = cl_realloc(c->nodes, nc * sizeof(*nn));
            if (nn == NULL)
                goto err;
            c->nodes = nn;
            uint32_t *fs = cl_realloc(c->free_slots, nc * sizeof(uint32_t));
            if (fs == NULL)
                goto err;
            c->free_slots = fs;
            c->cap = nc;
        }
        n->slot = c->nslots++;
    } else {
        n->slot = c->free_slots[--c->nfree];
    }
    c->nodes[n->slot] = n;
    c->nnodes++;
    if ((rv = place__smap_put(&c->by_id, n)) != 0) {
        c->nodes[n->slot] = NULL;
        c->free_slots[c->nfree++] = n->slot;
        c->nnodes--;
        goto err;
    }
    size_t nl = n->nlabels;
    n->nlabels = 0;
    for (size_t i = 0; i < nl; i++) {
        rv = label_add(c, n->label_names[i], n->label_values[i], n->slot);
        if (rv != 0) {
            node_unlink(c, n);
            for (size_t j = i; j < nl; j++) {
                cl_free(n->label_names[j]);
                cl_free(n->label_values[j]);
                n->label_names[j] = n->label_values[j] = NULL;
            }
            goto err;
        }
        n->nlabels = i + 1;
    }
    shape->avail++;
    place__index_update(c, n);
    return 0;
err:
    cl_errmsg_set(err, "add node '%s': %s", id, cl_strerror(rv));
    node_free(n);
    if (shape != NULL && shape->refs > 0)
        shape_put(c, shape);
    return rv;
}

int place_cluster_remove_node(place_cluster *c, const char *id)
{
    struct place__node *n = place__node_by_id(c, id);
    if (n == NULL)
        return CL_ENOENT;
    for (struct place__rec *r = n->recs; r != NULL;) {
        struct place__rec *next = r->next;
        place__imap_del(&c->recs, r->id);
        rec_free(r);
        r = next;
    }
    n->recs = NULL;
    if (n->state != PLACE_NODE_DRAINING)
        n->shape->avail--;
    node_unlink(c, n);
    shape_put(c, n->shape);
    node_free(n);
    return 0;
}

int place_cluster_set_state(place_cluster *c, const char *id,
                            enum place_node_state state)
{
    struct place__node *n = place__node_by_id(c, id);
    if (n == NULL)
        return CL_ENOENT;
    if ((unsigned)state > PLACE_NODE_DOWN)
        return CL_EINVAL;
    if (n->state != PLACE_NODE_DRAINING && state == PLACE_NODE_DRAINING)
        n->shape->avail--;
    else if (n->state == PLACE_NODE_DRAINING && state != PLACE_NODE_DRAINING)
        n->shape->avail++;
    n->state = state;
    place__index_update(c, n);
    return 0;
}

const place_model *place_cluster_node_model(const place_cluster *c,
                                            const char *id)
{
    struct place__node *n = place__node_by_id(c, id);
    return n ? n->m : NULL;
}

int place_cluster_node_usage(const place_cluster *c, const char *id,
                             place_node_usage *out)
{
    struct place__node *n = place__node_by_id(c, id);
    if (n == NULL)
        return CL_ENOENT;
    out->cores = n->m->ncores;
    out->free_cores = n->free_cores;
    out->gpus = n->m->ngpus;
    out->free_gpus = place__popc(n->gpu_free);
    out->memory = n->m->memory;
    out->free_memory = n->free_mem;
    out->bindings = n->nbindings;
    out->state = n->state;
    return 0;
}

static uint32_t node_stranded(const struct place__node *n)
{
    uint32_t g = place__popc(n->gpu_free);
    return g > n->free_cores ? g - n->free_cores : 0;
}

void place_cluster_stats_get(const place_cluster *c, place_cluster_stats *s)
{
    memset(s, 0, sizeof(*s));
    for (uint32_t i = 0; i < c->nslots; i++) {
        const struct place__node *n = c->nodes[i];
        if (n == NULL)
            continue;
        s->nodes++;
        if (n->state == PLACE_NODE_READY)
            s->ready++;
        s->cores += n->m->ncores;
        s->free_cores += n->free_cores;
        s->gpus += n->m->ngpus;
        s->free_gpus += place__popc(n->gpu_free);
        s->stranded_gpus += node_stranded(n);
        s->memory += n->m->memory;
        s->free_memory += n->free_mem;
    }
    s->bindings = c->recs.len;
}

int place_cluster_describe_node(const place_cluster *c, const char *id,
                                cl_buf *out)
{
    struct place__node *n = place__node_by_id(c, id);
    if (n == NULL)
        return CL_ENOENT;
    static const char *states[] = {"ready", "draining", "down"};
    cl_buf_printf(out, "node %s (%s)\n", n->id, states[n->state]);
    place__model_describe_as(n->m, n->hostname, false, out);
    cl_buf_printf(out,
                  "  allocated: %" PRIu32 " bindings, %" PRIu32 "/%" PRIu32
                  " cores free, %" PRIu32 "/%" PRIu32 " GPUs free, "
                  "%.1f/%.1f GiB free\n",
                  n->nbindings, n->free_cores, n->m->ncores,
                  place__popc(n->gpu_free), n->m->ngpus,
                  (double)n->free_mem / (1024.0 * 1024 * 1024),
                  (double)n->m->memory / (1024.0 * 1024 * 1024));
    return cl_buf_ok(out) ? 0 : CL_ENOMEM;
}

/* ------------------------------------------------------------------ */
/* Allocation                                                           */

static void core_count(struct place__node *n, uint32_t core, int delta)
{
    const place_core *k = &n->m->cores[core];
    n->free_cores = (uint32_t)((int64_t)n->free_cores + delta);
    if (k->numa >= 0)
        n->numa_free_cores[k->numa] =
            (uint32_t)((int64_t)n->numa_free_cores[k->numa] + delta);
    if (k->package >= 0)
        n->pkg_free_cores[k->package] =
            (uint32_t)((int64_t)n->pkg_free_cores[k->package] + delta);
}

static void mem_count(struct place__node *n, uint32_t numa, uint64_t bytes,
                      bool take)
{
    int32_t p = n->m->numa[numa].package;
    if (take) {
        n->numa_free_mem[numa] -= bytes;
        n->free_mem -= bytes;
        if (p >= 0)
            n->pkg_free_mem[p] -= bytes;
    } else {
        n->numa_free_mem[numa] += bytes;
        n->free_mem += bytes;
        if (p >= 0)
            n->pkg_free_mem[p] += bytes;
    }
}

void place__node_take(place_cluster *c, struct place__node *n,
                      struct place__rec *r)
{
    for (uint32_t i = 0; i < r->ncores; i++) {
        uint32_t core = r->cores[i];
        if (r->shared) {
            if (!place__bit(n->shared, core)) {
                place__bit_set(n->shared, core);
                core_count(n, core, -1);
            }
            n->shared_used[core] = (uint16_t)(n->shared_used[core] +
                                              r->per_core);
        } else {
            place__bit_set(n->busy, core);
            core_count(n, core, -1);
        }
    }
    n->gpu_free &= ~r->gpus;
    for (uint32_t i = 0; i < r->nmem; i++)
        mem_count(n, r->mem_numa[i], r->mem_bytes[i], true);
    n->nbindings++;
    r->node = n;
    r->prev = NULL;
    r->next = n->recs;
    if (n->recs)
        n->recs->prev = r;
    n->recs = r;
    place__index_update(c, n);
}

void place__node_give(place_cluster *c, struct place__node *n,
                      const struct place__rec *r)
{
    for (uint32_t i = 0; i < r->ncores; i++) {
        uint32_t core = r->cores[i];
        if (r->shared) {
            n->shared_used[core] = (uint16_t)(n->shared_used[core] -
                                              r->per_core);
            if (n->shared_used[core] == 0) {
                place__bit_clear(n->shared, core);
                core_count(n, core, +1);
            }
        } else {
            place__bit_clear(n->busy, core);
            core_count(n, core, +1);
        }
    }
    n->gpu_free |= r->gpus;
    for (uint32_t i = 0; i < r->nmem; i++)
        mem_count(n, r->mem_numa[i], r->mem_bytes[i], false);
    n->nbindings--;
    if (r->prev)
        r->prev->next = r->next;
    else
        n->recs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    place__index_update(c, n);
}

#define CFAIL(code, ...)                                                       \
    do {                                                                       \
        cl_errmsg_set(err, __VA_ARGS__);                                       \
        rv = (code);                                                           \
        goto err;                                                              \
    } while (0)

int place_cluster_commit(place_cluster *c, place_binding *b, cl_errmsg *err)
{
    int rv = 0;
    struct place__rec *r = NULL;
    struct place__node *n = place__node_by_id(c, b->node_id);
    if (n == NULL)
        CFAIL(CL_ENOENT, "commit: unknown node '%s'",
              b->node_id ? b->node_id : "");
    if (b->id != 0 && place__imap_get(&c->recs, b->id) != NULL)
        CFAIL(CL_EEXIST, "commit: binding %" PRIu64 " exists", b->id);
    const place_model *m = n->m;
    if (b->npus == 0 || b->npus > m->npus || b->ngpus > m->ngpus ||
        b->nmems > m->nnuma)
        CFAIL(CL_EINVAL, "commit: binding does not match node '%s'", n->id);
    r = cl_calloc(1, sizeof(*r));
    if (r == NULL)
        CFAIL(CL_ENOMEM, "commit: out of memory");
    r->cores = cl_malloc(b->npus * sizeof(uint32_t));
    r->mem_numa = cl_malloc((b->nmems + 1) * sizeof(uint32_t));
    r->mem_bytes = cl_malloc((b->nmems + 1) * sizeof(uint64_t));
    if (!r->cores || !r->mem_numa || !r->mem_bytes)
        CFAIL(CL_ENOMEM, "commit: out of memory");
    /* PUs -> whole cores. */
    uint32_t *seen = c->tmp_u32;
    memset(seen, 0, m->ncores * sizeof(uint32_t));
    for (size_t i = 0; i < b->npus; i++) {
        int32_t pu = place__pu_lookup(m, b->pus[i]);
        if (pu < 0)
            CFAIL(CL_EINVAL, "commit: node '%s' has no PU %" PRIu32, n->id,
                  b->pus[i]);
        uint32_t core = m->pus[pu].core;
        if (seen[core]++ == 0)
            r->cores[r->ncores++] = core;
    }
    for (uint32_t i = 0; i < r->ncores; i++)
        if (seen[r->cores[i]] != m->cores[r->cores[i]].npus)
            CFAIL(CL_EINVAL, "commit: binding holds part of a core "
                             "(cpuset %s)",
                  b->cpuset ? b->cpuset : "");
    r->shared = b->shared;
    if (r->shared) {
        uint32_t per = (b->cpu_milli + r->ncores - 1) / r->ncores;
        if (per == 0 || per > PLACE__CORE_MILLI)
            CFAIL(CL_EINVAL, "commit: %" PRIu32 "m on %" PRIu32
                             " shared cores",
                  b->cpu_milli, r->ncores);
        r->per_core = (uint16_t)per;
    }
    for (uint32_t i = 0; i < r->ncores; i++) {
        uint32_t core = r->cores[i];
        bool ok = !place__bit(n->busy, core) &&
                  (r->shared ? (uint32_t)n->shared_used[core] + r->per_core <=
                                   PLACE__CORE_MILLI
                             : !place__bit(n->shared, core));
        if (!ok)
            CFAIL(CL_EBUSY, "commit: node '%s': core %" PRIu32 " is taken",
                  n->id, m->cores[core].os_index);
    }
    for (size_t i = 0; i < b->ngpus; i++) {
        const place_binding_gpu *g = &b->gpus[i];
        if (g->slot >= m->ngpus ||
            strcmp(m->gpus[g->slot].pci_bus_id, g->pci_bus_id) != 0)
            CFAIL(CL_EINVAL, "commit: node '%s' has no GPU %s", n->id,
                  g->pci_bus_id);
        uint64_t bit = (uint64_t)1 << g->slot;
        if (!(n->gpu_free & bit) || (r->gpus & bit))
            CFAIL(CL_EBUSY, "commit: node '%s': GPU %s is taken", n->id,
                  g->pci_bus_id);
        r->gpus |= bit;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < b->nmems; i++) {
        int32_t d = place__numa_lookup(m, b->mems[i].numa_os);
        if (d < 0)
            CFAIL(CL_EINVAL, "commit: node '%s' has no NUMA node %" PRIu32,
                  n->id, b->mems[i].numa_os);
        if (b->mems[i].bytes == 0)
            continue;
        if (b->mems[i].bytes > n->numa_free_mem[d])
            CFAIL(CL_EBUSY, "commit: node '%s': NUMA node %" PRIu32
                            " lacks the memory",
                  n->id, b->mems[i].numa_os);
        for (uint32_t j = 0; j < r->nmem; j++)
            if (r->mem_numa[j] == (uint32_t)d)
                CFAIL(CL_EINVAL, "commit: NUMA node listed twice");
        r->mem_numa[r->nmem] = (uint32_t)d;
        r->mem_bytes[r->nmem++] = b->mems[i].bytes;
        total += b->mems[i].bytes;
    }
    if (total != b->memory)
        CFAIL(CL_EINVAL, "commit: memory %" PRIu64 " but NUMA nodes hold %" PRIu64,
              b->memory, total);
    r->id = b->id ? b->id : c->next_id;
    if ((rv = place__imap_put(&c->recs, r->id, r)) != 0)
        CFAIL(rv, "commit: out of memory");
    if (r->id >= c->next_id)
        c->next_id = r->id + 1;
    b->id = r->id;
    place__node_take(c, n, r);
    return 0;
err:
    rec_free(r);
    return rv;
}

int place_cluster_release(place_cluster *c, uint64_t id)
{
    struct place__rec *r = place__imap_del(&c->recs, id);
    if (r == NULL)
        return CL_ENOENT;
    place__node_give(c, r->node, r);
    rec_free(r);
    return 0;
}
