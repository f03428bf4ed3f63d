/* decide.c - choosing a node: bounded candidate search over the class
 * index, scoring, and turning the winner's choice into a binding.
 *
 * Search (see README.md "Scoring policy"). Nodes that hold the step's
 * inputs are always evaluated. Then, with a nodeSelector, the nodes of its
 * rarest label; otherwise the free-capacity classes, tightest first: for a
 * GPU step, nodes with exactly the GPUs it needs, then one more, ...; for
 * a CPU-only step, nodes with no free GPU first; within those, the fewest
 * free cores that can hold it (best fit). The search stops once it has
 * `candidates` feasible nodes or has probed `probe_limit` nodes; like
 * Nomad's limit of 2 (power of two choices) this keeps a decision's cost
 * independent of the cluster size, while the class order keeps the
 * candidates good. Only while it has found nothing does it go on past the
 * probe budget, to the first feasible node, so a step that fits somewhere
 * is never told to wait; classes it skips cannot hold the step.
 *
 * Score, higher is better:
 *   4.0 x share of the step's input bytes already on the node
 * + 1.0 NUMA fit / 0.5 package fit / 0 spread
 * + 0.5 when a multi-GPU step's GPUs share one link-connected set
 * - 1.0 x free GPUs left without a free core / GPUs of the node
 * + 0.5 x dominant used share after placing (bin packing)
 * + 1000 x degree for auto parallelism (widest first)
 * Equal scores are broken with the caller's cl_rng (reservoir choice), or
 * by search order without one.
 */
#include "placement/place_int.h"

#include "common/cl_fs.h"
#include "common/cl_heap.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct search {
    place_cluster *c;
    const place_request *req;
    const struct place__need *need;
    cl_rng *rng;
    bool topology;
    struct place__node *best;
    struct place__eval best_ev;
    double best_score;
    uint32_t ties;
    uint32_t found, probes;
    bool unlimited; /* first fit: stop at the first feasible node */
    uint64_t total_in;
};

static bool excluded(const place_cluster *c, uint32_t slot)
{
    for (uint32_t i = 0; i < c->nexcl; i++)
        if (c->excl[i] == slot)
            return true;
    return false;
}

static bool labels_match(const struct place__node *n, const place_kv *sel,
                         size_t nsel)
{
    for (size_t i = 0; i < nsel; i++) {
        bool found = false;
        for (size_t j = 0; j < n->nlabels && !found; j++)
            found = strcmp(sel[i].name, n->label_names[j]) == 0 &&
                    strcmp(sel[i].value, n->label_values[j]) == 0;
        if (!found)
            return false;
    }
    return true;
}

static double score(const struct search *s, const struct place__node *n,
                    const struct place__eval *ev)
{
    double sc = 0;
    if (s->total_in > 0) {
        uint64_t local = 0;
        for (size_t i = 0; i < s->req->ninputs; i++)
            if (strcmp(s->req->inputs[i].node_id, n->id) == 0)
                local += s->req->inputs[i].bytes;
        sc += 4.0 * (double)local / (double)s->total_in;
    }
    if (s->topology) {
        sc += ev->level == PLACE_FIT_NUMA      ? 1.0
              : ev->level == PLACE_FIT_PACKAGE ? 0.5
                                               : 0.0;
        if (s->need->gpus > 1 && ev->linked && n->m->ix->links_known)
            sc += 0.5;
        uint32_t ng = n->m->ngpus ? n->m->ngpus : 1;
        sc -= 1.0 * (double)ev->stranded / (double)ng;
    }
    sc += 0.5 * ev->packing;
    if (s->need->auto_parallel)
        sc += 1000.0 * (double)ev->degree;
    return sc;
}

/* done - enough candidates, or the probe budget is spent and there is at
 * least one. With none, the walk goes on to the first feasible node, from
 * where it is: a step that fits somewhere is never told to wait. */
static bool done(const struct search *s)
{
    if (s->unlimited)
        return s->found >= 1;
    return s->found >= s->c->opt.candidates ||
           (s->found >= 1 && s->probes >= s->c->opt.probe_limit);
}

/* consider - evaluate one node; `extra` nodes (inputs) do not count
 * towards the candidate bound. */
static void consider(struct search *s, struct place__node *n, bool extra)
{
    if (n == NULL || n->state != PLACE_NODE_READY ||
        excluded(s->c, n->slot) ||
        !labels_match(n, s->req->selector, s->req->nselector))
        return;
    if (!extra)
        s->probes++;
    struct place__eval ev;
    if (!place__fit_eval(n->m, n, s->need, s->topology, &ev))
        return;
    if (!extra)
        s->found++;
    double sc = score(s, n, &ev);
    if (s->best == NULL || sc > s->best_score + 1e-9) {
        s->best = n;
        s->best_ev = ev;
        s->best_score = sc;
        s->ties = 1;
    } else if (fabs(sc - s->best_score) <= 1e-9 && n != s->best) {
        s->ties++;
        if (s->rng != NULL && cl_rng_below(s->rng, s->ties) == 0) {
            s->best = n;
            s->best_ev = ev;
        }
    }
}

static void walk(struct search *s, uint32_t v, uint32_t g, uint32_t b)
{
    place_cluster *c = s->c;
    for (uint32_t slot = c->buckets[v][g][b].head;
         slot != PLACE__NIL && !done(s); slot = c->nodes[slot]->bnext)
        consider(s, c->nodes[slot], false);
}

static void scan_classes(struct search *s)
{
    place_cluster *c = s->c;
    const struct place__need *need = s->need;
    uint32_t vend[PLACE__NVENDOR], nv = 0;
    if (need->gpus > 0) {
        if (need->vendor != PLACE_VENDOR_OTHER)
            vend[nv++] = need->vendor;
        vend[nv++] = PLACE_VENDOR_OTHER;
    } else {
        for (uint32_t v = 0; v < PLACE__NVENDOR; v++)
            vend[nv++] = v;
    }
    /* Classes whose free whole cores may hold the step. A fractional step
     * may also fit on shared cores of a node with fewer free cores: those
     * classes come last. */
    uint32_t cbmin = place__core_bucket(need->cores);
    uint16_t cbmask = (uint16_t)(0xffffu << cbmin);
    if (need->auto_parallel) {
        for (uint32_t g = PLACE__NG; g-- > need->gpus && !done(s);)
            for (uint32_t i = 0; i < nv && !done(s); i++) {
                uint16_t bits = c->cb_nonempty[vend[i]][g] & cbmask;
                for (uint32_t b = PLACE__NCB; b-- > 0 && !done(s);)
                    if (bits >> b & 1)
                        walk(s, vend[i], g, b);
            }
        return;
    }
    for (int phase = 0; phase < (need->shared ? 2 : 1); phase++) {
        uint16_t mask = phase == 0 ? cbmask : (uint16_t)~cbmask;
        for (uint32_t g = need->gpus; g < PLACE__NG && !done(s); g++)
            for (uint32_t i = 0; i < nv && !done(s); i++) {
                uint16_t bits = c->cb_nonempty[vend[i]][g] & mask;
                while (bits && !done(s)) {
                    uint32_t b = (uint32_t)__builtin_ctz(bits);
                    bits &= (uint16_t)(bits - 1);
                    walk(s, vend[i], g, b);
                }
            }
    }
}

/* The posting list of the selector's rarest pair, or NULL when some pair
 * is on no node (*none set). */
static const struct place__label *rarest_label(const place_cluster *c,
                                               const place_request *r,
                                               bool *none)
{
    const struct place__label *best = NULL;
    *none = false;
    for (size_t i = 0; i < r->nselector; i++) {
        char key[2 * PLACE_MAX_STRING + 2];
        size_t ln = strlen(r->selector[i].name);
        size_t lv = strlen(r->selector[i].value);
        if (ln > PLACE_MAX_STRING || lv > PLACE_MAX_STRING) {
            *none = true;
            return NULL;
        }
        memcpy(key, r->selector[i].name, ln);
        key[ln] = '=';
        memcpy(key + ln + 1, r->selector[i].value, lv + 1);
        const struct place__label *l = place__smap_get(&c->labels, key);
        if (l == NULL) {
            *none = true;
            return NULL;
        }
        if (best == NULL || l->n < best->n)
            best = l;
    }
    return best;
}

static void run_search(struct search *s)
{
    place_cluster *c = s->c;
    const place_request *r = s->req;
    if (c->opt.first_fit) {
        /* Baseline: insertion order, the first node that fits. */
        s->unlimited = true;
        for (uint32_t i = 0; i < c->nslots && !done(s); i++)
            consider(s, c->nodes[i], false);
        return;
    }
    for (size_t i = 0; i < r->ninputs; i++)
        consider(s, place__node_by_id(c, r->inputs[i].node_id), true);
    if (r->nselector > 0) {
        bool none;
        const struct place__label *l = rarest_label(c, r, &none);
        for (uint32_t i = 0; l != NULL && i < l->n && !done(s); i++)
            consider(s, c->nodes[l->slots[i]], false);
    } else {
        scan_classes(s);
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int cmp_gpu(const void *a, const void *b)
{
    const place_binding_gpu *x = a, *y = b;
    if (x->vendor != y->vendor)
        return (int)x->vendor - (int)y->vendor;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

static uint64_t sat_mul(uint64_t a, uint64_t b, uint64_t max)
{
    if (a != 0 && b > max / a)
        return max;
    return a * b;
}

static int build_binding(const struct place__node *n,
                         const place_request *req,
                         const struct place__need *need,
                         const struct place__eval *ev,
                         const struct place__choice *ch, place_binding *b)
{
    const place_model *m = n->m;
    uint32_t deg = ev->degree ? ev->degree : 1;
    cl_buf cs = CL_BUF_INIT;
    place_binding_init(b);
    size_t npus = 0;
    for (uint32_t i = 0; i < ch->ncores; i++)
        npus += m->cores[ch->cores[i]].npus;
    size_t nmem = 0;
    for (uint32_t d = 0; d < m->nnuma; d++)
        if (ch->mem_bound[d] || ch->mem[d] > 0)
            nmem++;
    uint32_t ng = place__popc(ch->gpus);
    b->node_id = cl_strdup(n->id);
    b->pus = cl_malloc((npus + 1) * sizeof(uint32_t));
    b->gpus = cl_calloc(ng + 1, sizeof(place_binding_gpu));
    b->mems = cl_calloc(nmem + 1, sizeof(place_binding_mem));
    if (!b->node_id || !b->pus || !b->gpus || !b->mems)
        goto oom;
    for (uint32_t i = 0; i < ch->ncores; i++) {
        const place_core *k = &m->cores[ch->cores[i]];
        for (uint32_t p = 0; p < k->npus; p++)
            b->pus[b->npus++] = m->pus[k->pu_first + p].os_index;
    }
    qsort(b->pus, b->npus, sizeof(uint32_t), cmp_u32);
    place_cpuset_format(b->pus, b->npus, &cs);
    b->cpuset = cl_buf_steal(&cs, NULL);
    if (b->cpuset == NULL)
        goto oom;
    for (uint64_t bits = ch->gpus; bits; bits &= bits - 1) {
        uint32_t g = (uint32_t)__builtin_ctzll(bits);
        place_binding_gpu *o = &b->gpus[b->ngpus++];
        o->slot = g;
        o->vendor = m->gpus[g].vendor;
        o->index = m->gpus[g].index;
        memcpy(o->pci_bus_id, m->gpus[g].pci_bus_id, PLACE_PCI_ID_SIZE);
    }
    qsort(b->gpus, b->ngpus, sizeof(*b->gpus), cmp_gpu);
    uint32_t order[PLACE_MAX_NUMA];
    size_t k = 0;
    for (uint32_t d = 0; d < m->nnuma; d++)
        if (ch->mem_bound[d] || ch->mem[d] > 0)
            order[k++] = d;
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && m->numa[order[j - 1]].os_index >
                                        m->numa[order[j]].os_index;
             j--) {
            uint32_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (size_t i = 0; i < k; i++) {
        b->mems[i].numa_os = m->numa[order[i]].os_index;
        b->mems[i].bytes = ch->mem[order[i]];
        b->memory += ch->mem[order[i]];
    }
    b->nmems = k;
    b->cpu_milli = (uint32_t)sat_mul(need->milli, deg, UINT32_MAX);
    b->shared = need->shared;
    if (need->shared)
        b->cpu_quota_milli = req->cpu_limit_milli ? req->cpu_limit_milli
                             : req->cpu_default   ? 0
                                                  : need->milli;
    else
        b->cpu_quota_milli =
            (uint32_t)sat_mul(req->cpu_limit_milli, deg, UINT32_MAX);
    uint64_t lim = req->memory_limit ? req->memory_limit : req->memory;
    b->memory_limit = sat_mul(lim, deg, UINT64_MAX);
    b->degree = deg;
    b->fit = ch->fit;
    b->gpus_linked = ch->linked;
    return 0;
oom:
    cl_buf_free(&cs);
    place_binding_free(b);
    return CL_ENOMEM;
}

static int fits_ever(const place_cluster *c, const place_request *req,
                     const struct place__need *need, cl_errmsg *err)
{
    uint32_t considered = 0;
    uint32_t max_gpus = 0, max_cores = 0;
    uint64_t max_mem = 0;
    uint64_t accepting = 0;
    for (uint32_t i = 0; i < c->nshapes; i++)
        accepting += c->shapes[i]->avail;
    if (accepting == 0) {
        /* Starting up, or every node drains for maintenance: wait. */
        cl_errmsg_set(err, "no node accepts work yet");
        return CL_EAGAIN;
    }
    if (req->nselector > 0) {
        bool none;
        const struct place__label *l = rarest_label(c, req, &none);
        if (l == NULL) {
            cl_errmsg_set(err, "no node matches nodeSelector (no node has "
                               "one of its labels)");
            return CL_ENOFIT;
        }
        for (uint32_t i = 0; i < l->n; i++) {
            const struct place__node *n = c->nodes[l->slots[i]];
            if (n == NULL || n->state == PLACE_NODE_DRAINING ||
                !labels_match(n, req->selector, req->nselector))
                continue;
            considered++;
            if (place__fit_static(n->m, need))
                return 0;
            const place_model *m = n->m;
            uint32_t g = need->gpus ? place__popc(m->ix->vendor_gpus[need->vendor])
                                    : 0;
            max_gpus = g > max_gpus ? g : max_gpus;
            max_cores = m->ncores > max_cores ? m->ncores : max_cores;
            max_mem = m->memory > max_mem ? m->memory : max_mem;
        }
    } else {
        for (uint32_t i = 0; i < c->nshapes; i++) {
            const struct place__shape *sh = c->shapes[i];
            if (sh->avail == 0)
                continue;
            considered++;
            if (place__fit_static(sh->model, need))
                return 0;
            const place_model *m = sh->model;
            uint32_t g = need->gpus ? place__popc(m->ix->vendor_gpus[need->vendor])
                                    : 0;
            max_gpus = g > max_gpus ? g : max_gpus;
            max_cores = m->ncores > max_cores ? m->ncores : max_cores;
            max_mem = m->memory > max_mem ? m->memory : max_mem;
        }
    }
    if (considered == 0) {
        cl_errmsg_set(err, "no node matches nodeSelector");
        return CL_ENOFIT;
    }
    char a[32], b[32];
    const char *scope = req->nselector ? " matching nodeSelector" : "";
    if (need->gpus > max_gpus)
        cl_errmsg_set(err, "needs %" PRIu32 " %s GPUs; the largest node%s "
                           "has %" PRIu32,
                      need->gpus, place_vendor_name(need->vendor), scope,
                      max_gpus);
    else if (need->cores > max_cores)
        cl_errmsg_set(err, "needs %" PRIu32 " cores; the largest node%s "
                           "has %" PRIu32,
                      need->cores, scope, max_cores);
    else if (need->mem > max_mem) {
        cl_fs_bytes_format(need->mem, a, sizeof(a));
        cl_fs_bytes_format(max_mem, b, sizeof(b));
        cl_errmsg_set(err, "needs %s of memory; the largest node%s has %s", a,
                      scope, b);
    } else {
        cl_fs_bytes_format(need->mem, a, sizeof(a));
        cl_errmsg_set(err, "no node%s has %" PRIu32 " %s GPUs, %" PRIu32
                           " cores and %s of memory together",
                      scope, need->gpus, place_vendor_name(need->vendor),
                      need->cores, a);
    }
    return CL_ENOFIT;
}

int place_cluster_fits_ever(const place_cluster *c, const place_request *req,
                            cl_errmsg *err)
{
    struct place__need need;
    int rv = place__need_from(req, &need, err);
    if (rv != 0)
        return rv;
    return fits_ever(c, req, &need, err);
}

static int check_request(const place_request *req, cl_errmsg *err)
{
    for (size_t i = 0; i < req->nselector; i++)
        if (req->selector == NULL || req->selector[i].name == NULL ||
            req->selector[i].value == NULL) {
            cl_errmsg_set(err, "nodeSelector: entry %zu has no name or "
                               "value",
                          i);
            return CL_EINVAL;
        }
    for (size_t i = 0; i < req->ninputs; i++)
        if (req->inputs == NULL || req->inputs[i].node_id == NULL) {
            cl_errmsg_set(err, "inputs: entry %zu names no node", i);
            return CL_EINVAL;
        }
    return 0;
}

int place_cluster_decide(place_cluster *c, const place_request *req,
                         cl_rng *rng, place_binding *out, cl_errmsg *err)
{
    struct place__need need;
    place_binding_init(out);
    int rv = check_request(req, err);
    if (rv == 0)
        rv = place__need_from(req, &need, err);
    if (rv != 0)
        return rv;
    struct search s;
    memset(&s, 0, sizeof(s));
    s.c = c;
    s.req = req;
    s.need = &need;
    s.rng = rng;
    s.topology = c->opt.topology && !c->opt.first_fit;
    for (size_t i = 0; i < req->ninputs; i++)
        s.total_in += req->inputs[i].bytes;
    run_search(&s);
    if (s.best == NULL) {
        rv = fits_ever(c, req, &need, err);
        if (rv != 0)
            return rv;
        /* "no ready node has 8 free nvidia GPUs, 4 free cores and 16 GiB
         * of memory now", naming only what the step asks for */
        char parts[3][64];
        int n = 0;
        if (need.gpus > 0)
            snprintf(parts[n++], sizeof(parts[0]), "%" PRIu32 " free %s GPU%s",
                     need.gpus, place_vendor_name(need.vendor),
                     need.gpus == 1 ? "" : "s");
        if (need.cores > 0)
            snprintf(parts[n++], sizeof(parts[0]), "%" PRIu32 " %s core%s",
                     need.cores, need.shared ? "shareable" : "free",
                     need.cores == 1 ? "" : "s");
        if (need.mem > 0) {
            char mem[32];
            cl_fs_bytes_format(need.mem, mem, sizeof(mem));
            snprintf(parts[n++], sizeof(parts[0]), "%s of memory", mem);
        }
        if (n == 0)
            cl_errmsg_set(err, "no ready node can take a step now");
        else
            cl_errmsg_set(err, "no ready node has %s%s%s%s%s now", parts[0],
                          n == 3 ? ", " : n == 2 ? " and " : "",
                          n >= 2 ? parts[1] : "", n == 3 ? " and " : "",
                          n == 3 ? parts[2] : "");
        return CL_EAGAIN;
    }
    if (!place__fit_select(s.best->m, s.best, &need, s.topology, &s.best_ev,
                           c->tmp_words, &c->choice)) {
        cl_errmsg_set(err, "decide: node '%s' changed during the decision",
                      s.best->id);
        return CL_ESTATE;
    }
    rv = build_binding(s.best, req, &need, &s.best_ev, &c->choice, out);
    if (rv != 0)
        cl_errmsg_set(err, "decide: out of memory");
    return rv;
}

int place_cluster_place(place_cluster *c, const place_request *req,
                        cl_rng *rng, place_binding *out, cl_errmsg *err)
{
    int rv = place_cluster_decide(c, req, rng, out, err);
    if (rv != 0)
        return rv;
    rv = place_cluster_commit(c, out, err);
    if (rv != 0)
        place_binding_free(out);
    return rv;
}
