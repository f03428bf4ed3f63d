/* fit.c - where on one node a step goes: pure functions of the node's
 * model, its current allocation and the step's need.
 *
 * Evaluation picks a domain: the tightest of one NUMA node, one package or
 * the whole machine that holds the step's GPUs (of its vendor), cores and
 * memory. Among domains of that level it prefers, in order: not leaving
 * free GPUs without free cores, GPUs from one link-connected set, the
 * fewest GPUs left over (keeps whole GPU groups free), the fewest cores
 * left over (keeps whole NUMA nodes free); a CPU-only step prefers domains
 * without free GPUs. Selection then takes, inside the domain:
 *  - GPUs from the best-fitting link group, then the best-fitting NUMA
 *    node, preferring GPUs whose near cores are free;
 *  - for each GPU, cores near it (its locality: package, NUMA node or L3);
 *    then cores near the chosen GPUs; then cores near no GPU that stays
 *    free; then any. Cores are filled by L3 group, best fit first, fastest
 *    CPU kind first.
 *  - memory from the NUMA nodes of the chosen cores, then the domain's.
 * Whole cores are exclusive with all their hardware threads. A fractional
 * cpu ("500m") is placed on shared cores: the fullest shared core with
 * room first, then a free core that becomes shared.
 */
#include "placement/place_int.h"

#include <string.h>

#define NKEY 4

int place__need_from(const place_request *r, struct place__need *need,
                     cl_errmsg *err)
{
    memset(need, 0, sizeof(*need));
    if (r->gpus > 0 && (r->gpu_vendor == PLACE_VENDOR_NONE ||
                        (unsigned)r->gpu_vendor > PLACE_VENDOR_OTHER)) {
        cl_errmsg_set(err, "request: %u GPUs of no vendor", r->gpus);
        return CL_EINVAL;
    }
    if (r->gpus > PLACE_MAX_GPUS) {
        cl_errmsg_set(err, "needs %u GPUs; a node has at most %d", r->gpus,
                      PLACE_MAX_GPUS);
        return CL_ENOFIT;
    }
    need->gpus = r->gpus;
    need->vendor = r->gpus ? r->gpu_vendor : PLACE_VENDOR_NONE;
    uint32_t milli = r->cpu_milli;
    if (r->cpu_default || milli == 0) {
        if (r->gpus > 0 || r->auto_parallel) {
            /* A core per GPU; an auto rank gets at least a whole core. */
            uint32_t k = r->gpus > 0 ? r->gpus : 1;
            need->cores = k;
            need->milli = k * PLACE__CORE_MILLI;
        } else {
            need->shared = true;
            need->cores = 1;
            need->per_core = PLACE_DEFAULT_CPU_MILLI;
            need->milli = PLACE_DEFAULT_CPU_MILLI;
        }
    } else if (milli % PLACE__CORE_MILLI == 0 || r->auto_parallel) {
        need->cores = (milli + PLACE__CORE_MILLI - 1) / PLACE__CORE_MILLI;
        need->milli = need->cores * PLACE__CORE_MILLI;
    } else {
        uint32_t k = (milli + PLACE__CORE_MILLI - 1) / PLACE__CORE_MILLI;
        need->shared = true;
        need->cores = k;
        need->per_core = (uint16_t)((milli + k - 1) / k);
        need->milli = milli;
    }
    if (need->cores > PLACE_MAX_CORES) {
        cl_errmsg_set(err, "needs %u cores; a node has at most %d",
                      need->cores, PLACE_MAX_CORES);
        return CL_ENOFIT;
    }
    need->mem = r->memory;
    need->auto_parallel = r->auto_parallel;
    need->max_degree = r->max_degree;
    return 0;
}

uint32_t place__shared_room(const place_model *m,
                            const struct place__node *n, const uint64_t *dom,
                            uint16_t per, uint32_t *on_shared)
{
    uint32_t w = m->ix->words;
    const uint64_t *all = m->ix->all_cores;
    uint32_t room = 0;
    for (uint32_t i = 0; i < w; i++) {
        uint64_t d = dom ? dom[i] : all[i];
        room += place__popc(d & all[i] & ~n->busy[i] & ~n->shared[i]);
        uint64_t sh = d & n->shared[i];
        uint32_t cnt = 0;
        while (sh) {
            uint32_t c = i * 64 + (uint32_t)__builtin_ctzll(sh);
            sh &= sh - 1;
            if ((uint32_t)n->shared_used[c] + per <= PLACE__CORE_MILLI)
                cnt++;
        }
        room += cnt;
        if (on_shared)
            *on_shared += cnt;
    }
    return room;
}

static bool key_less(const uint64_t *a, const uint64_t *b)
{
    for (int i = 0; i < NKEY; i++)
        if (a[i] != b[i])
            return a[i] < b[i];
    return false;
}

/* Is there a link group with at least g free GPUs among `cand`? */
static bool group_fits(const place_model *m, uint64_t cand, uint32_t g)
{
    for (uint32_t i = 0; i < m->nlink_groups; i++)
        if (place__popc(cand & m->ix->group_gpus[i]) >= g)
            return true;
    return false;
}

struct dom_view {
    uint64_t gpus;     /* GPUs of the domain */
    uint32_t fc;       /* free (or shareable) cores */
    uint32_t onsh;     /* of which on already shared cores */
    uint64_t mem;      /* free memory */
};

static void dom_key(const place_model *m, const struct place__node *n,
                    const struct place__need *need, uint64_t gfree,
                    const struct dom_view *v, uint64_t *key)
{
    uint32_t G = need->gpus, C = need->cores;
    uint32_t fa = place__popc(n->gpu_free & v->gpus);
    uint32_t fg = place__popc(gfree & v->gpus);
    uint32_t cores_left = v->fc - C;
    memset(key, 0, NKEY * sizeof(uint64_t));
    if (G > 0) {
        key[0] = cores_left < fa - G ? 1 : 0;
        key[1] = (G > 1 && m->ix->links_known &&
                  !group_fits(m, gfree & v->gpus, G))
                     ? 1
                     : 0;
        key[2] = fg - G;
        key[3] = cores_left;
    } else {
        key[0] = fa == 0 ? 0 : cores_left < fa ? 2 : 1;
        key[1] = need->shared && v->onsh < C ? 1 : 0;
        key[2] = cores_left;
    }
}

static bool dom_ok(const struct place__need *need, uint64_t gfree,
                   const struct dom_view *v)
{
    return place__popc(gfree & v->gpus) >= need->gpus &&
           v->fc >= need->cores && v->mem >= need->mem;
}

static double share(double used, double total)
{
    return total > 0 ? used / total : 0;
}

/* Score inputs common to every evaluation, for `deg` ranks. */
static void eval_tail(const place_model *m, const struct place__node *n,
                      const struct place__need *need, uint32_t deg,
                      struct place__eval *ev)
{
    uint32_t G = need->gpus * deg, C = need->cores * deg;
    uint64_t M = need->mem * deg;
    uint32_t gleft = place__popc(n->gpu_free) - G;
    uint32_t cores_taken = C;
    if (need->shared) {
        uint32_t onsh = 0;
        place__shared_room(m, n, NULL, need->per_core, &onsh);
        cores_taken = onsh >= C ? 0 : C - onsh;
    }
    uint32_t cleft = n->free_cores - cores_taken;
    ev->stranded = gleft > cleft ? gleft - cleft : 0;
    double p = share((double)(m->ncores - cleft), m->ncores);
    double g = share((double)(m->ngpus - gleft), m->ngpus);
    double mm = share((double)(m->memory - n->free_mem + M),
                      (double)m->memory);
    ev->packing = p > g ? p : g;
    if (mm > ev->packing)
        ev->packing = mm;
}

static bool eval_auto(const place_model *m, const struct place__node *n,
                      const struct place__need *need, uint64_t gfree,
                      struct place__eval *ev)
{
    const struct place__model_ix *ix = m->ix;
    uint32_t G = need->gpus, C = need->cores ? need->cores : 1;
    uint64_t M = need->mem;
    uint32_t best = 0;
    uint32_t best_fg = 0;
    if (G > 0) {
        uint64_t units[PLACE_MAX_GPUS + 1];
        uint32_t nu = 0;
        if (ix->links_known) {
            for (uint32_t i = 0; i < m->nlink_groups; i++)
                units[nu++] = ix->group_gpus[i];
        } else {
            uint64_t seen = 0;
            for (uint32_t i = 0; i < ix->ncpu_numa && nu < PLACE_MAX_GPUS;
                 i++) {
                uint64_t u = ix->numa_gpus[ix->cpu_numa[i]];
                if (u) {
                    units[nu++] = u;
                    seen |= u;
                }
            }
            if (ix->all_gpus & ~seen)
                units[nu++] = ix->all_gpus & ~seen;
        }
        for (uint32_t u = 0; u < nu; u++) {
            uint32_t fg = place__popc(gfree & units[u]);
            uint64_t d = fg / G;
            uint64_t dc = n->free_cores / C;
            if (dc < d)
                d = dc;
            if (M > 0 && n->free_mem / M < d)
                d = n->free_mem / M;
            if (need->max_degree > 0 && d > need->max_degree)
                d = need->max_degree;
            if (d > best || (d == best && d > 0 && fg < best_fg)) {
                best = (uint32_t)d;
                best_fg = fg;
                ev->gpu_cand = gfree & units[u];
            }
        }
        ev->level = PLACE_FIT_SPREAD;
        ev->dom = -1;
        ev->linked = ix->links_known;
    } else {
        uint32_t best_fa = 0;
        for (uint32_t i = 0; i < ix->ncpu_numa; i++) {
            uint32_t dn = ix->cpu_numa[i];
            uint64_t d = n->numa_free_cores[dn] / C;
            if (M > 0 && n->numa_free_mem[dn] / M < d)
                d = n->numa_free_mem[dn] / M;
            if (need->max_degree > 0 && d > need->max_degree)
                d = need->max_degree;
            uint32_t fa = place__popc(n->gpu_free & ix->numa_gpus[dn]);
            if (d > best || (d == best && d > 0 && fa < best_fa)) {
                best = (uint32_t)d;
                best_fa = fa;
                ev->dom = (int32_t)dn;
            }
        }
        ev->level = PLACE_FIT_NUMA;
        ev->gpu_cand = 0;
    }
    if (best == 0)
        return false;
    ev->degree = best;
    eval_tail(m, n, need, best, ev);
    return true;
}

bool place__fit_eval(const place_model *m, const struct place__node *n,
                     const struct place__need *need, bool topology,
                     struct place__eval *ev)
{
    const struct place__model_ix *ix = m->ix;
    uint32_t w = ix->words;
    uint64_t vm = need->gpus ? ix->vendor_gpus[need->vendor] : 0;
    uint64_t gfree = n->gpu_free & vm;
    memset(ev, 0, sizeof(*ev));
    ev->degree = 1;
    ev->dom = -1;
    ev->level = PLACE_FIT_SPREAD;
    ev->gpu_cand = gfree;
    if (place__popc(gfree) < need->gpus || need->mem > n->free_mem)
        return false;
    if (need->auto_parallel)
        return eval_auto(m, n, need, gfree, ev);
    if (!need->shared && need->cores > n->free_cores)
        return false;
    if (need->shared && n->free_cores < need->cores &&
        place__shared_room(m, n, NULL, need->per_core, NULL) < need->cores)
        return false;
    ev->linked = need->gpus <= 1 || !ix->links_known ||
                 group_fits(m, gfree, need->gpus);
    if (topology) {
        uint64_t best_key[NKEY], key[NKEY];
        struct dom_view v;
        /* One NUMA node. */
        for (uint32_t i = 0; i < ix->ncpu_numa; i++) {
            uint32_t d = ix->cpu_numa[i];
            const uint64_t *cores = ix->numa_cores + (size_t)d * w;
            v.gpus = ix->numa_gpus[d];
            v.onsh = 0;
            v.fc = need->shared ? place__shared_room(m, n, cores,
                                                     need->per_core, &v.onsh)
                                : n->numa_free_cores[d];
            v.mem = n->numa_free_mem[d];
            if (!dom_ok(need, gfree, &v))
                continue;
            dom_key(m, n, need, gfree, &v, key);
            if (ev->dom < 0 || key_less(key, best_key)) {
                memcpy(best_key, key, sizeof(key));
                ev->dom = (int32_t)d;
                ev->level = PLACE_FIT_NUMA;
            }
        }
        /* One package. */
        if (ev->dom < 0) {
            int32_t bp = -1;
            for (uint32_t p = 0; p < m->npackages; p++) {
                const uint64_t *cores = ix->pkg_cores + (size_t)p * w;
                v.gpus = ix->pkg_gpus[p];
                v.onsh = 0;
                v.fc = need->shared
                           ? place__shared_room(m, n, cores, need->per_core,
                                                &v.onsh)
                           : n->pkg_free_cores[p];
                v.mem = n->pkg_free_mem[p];
                if (!dom_ok(need, gfree, &v))
                    continue;
                dom_key(m, n, need, gfree, &v, key);
                if (bp < 0 || key_less(key, best_key)) {
                    memcpy(best_key, key, sizeof(key));
                    bp = (int32_t)p;
                }
            }
            if (bp >= 0) {
                ev->dom = bp;
                ev->level = PLACE_FIT_PACKAGE;
            }
        }
        if (ev->dom >= 0 && ev->level == PLACE_FIT_NUMA)
            ev->gpu_cand = gfree & ix->numa_gpus[ev->dom];
        else if (ev->dom >= 0)
            ev->gpu_cand = gfree & ix->pkg_gpus[ev->dom];
        if (ev->dom >= 0)
            ev->linked = need->gpus <= 1 || !ix->links_known ||
                         group_fits(m, ev->gpu_cand, need->gpus);
    }
    eval_tail(m, n, need, 1, ev);
    return true;
}

/* ------------------------------------------------------------------ */
/* Selection                                                            */

struct sel {
    const place_model *m;
    const struct place__node *n;
    uint32_t w;
    uint64_t *avail; /* free cores still untaken */
    uint64_t *x;     /* scratch */
    struct place__choice *ch;
};

static void take_core(struct sel *s, uint32_t c)
{
    s->ch->cores[s->ch->ncores++] = c;
    place__bit_clear(s->avail, c);
    place__bit_clear(s->x, c);
}

/* Take up to `want` cores of bitmap s->x in fastest-kind, index order. */
static uint32_t take_ordered(struct sel *s, const uint64_t *within,
                             uint32_t want)
{
    uint32_t got = 0;
    uint32_t maxk = s->m->ix->max_kind;
    for (uint32_t k = maxk + 1; k-- > 0 && got < want;) {
        for (uint32_t i = 0; i < s->w && got < want; i++) {
            uint64_t bits = s->x[i] & (within ? within[i] : ~(uint64_t)0);
            while (bits && got < want) {
                uint32_t c = i * 64 + (uint32_t)__builtin_ctzll(bits);
                bits &= bits - 1;
                if (s->m->cores[c].kind != k)
                    continue;
                take_core(s, c);
                got++;
            }
        }
    }
    return got;
}

/* fill - take `want` cores from avail & tier, L3 group by group: the
 * smallest group that holds the rest, else the largest group. */
static uint32_t fill(struct sel *s, const uint64_t *tier, uint32_t want)
{
    const place_model *m = s->m;
    uint32_t got = 0;
    for (uint32_t i = 0; i < s->w; i++)
        s->x[i] = s->avail[i] & (tier ? tier[i] : ~(uint64_t)0);
    while (got < want && m->ncaches > 0) {
        int32_t best = -1;
        uint32_t best_cnt = 0;
        bool best_fits = false;
        uint32_t rest = want - got;
        for (uint32_t g = 0; g < m->ncaches; g++) {
            const uint64_t *cc = m->ix->cache_cores + (size_t)g * s->w;
            uint32_t cnt = 0;
            for (uint32_t i = 0; i < s->w; i++)
                cnt += place__popc(s->x[i] & cc[i]);
            if (cnt == 0)
                continue;
            bool fits = cnt >= rest;
            if (best < 0 || (fits && !best_fits) ||
                (fits && best_fits && cnt < best_cnt) ||
                (!fits && !best_fits && cnt > best_cnt)) {
                best = (int32_t)g;
                best_cnt = cnt;
                best_fits = fits;
            }
        }
        if (best < 0)
            break;
        got += take_ordered(s, m->ix->cache_cores + (size_t)best * s->w,
                            rest);
    }
    if (got < want)
        got += take_ordered(s, NULL, want - got);
    return got;
}

static uint32_t near_free(const struct sel *s, uint32_t g)
{
    const uint64_t *nb = s->m->ix->gpu_near + (size_t)g * s->w;
    uint32_t c = 0;
    for (uint32_t i = 0; i < s->w; i++)
        c += place__popc(nb[i] & s->avail[i]);
    return c;
}

static uint64_t pick_gpus(struct sel *s, uint64_t cand, uint32_t G,
                          uint32_t per)
{
    const place_model *m = s->m;
    const struct place__model_ix *ix = m->ix;
    if (G == 0)
        return 0;
    if (place__popc(cand) == G)
        return cand;
    uint64_t r = cand;
    bool group_spill = false;
    if (ix->links_known && G > 1) {
        int32_t bg = -1;
        uint32_t bc = 0;
        for (uint32_t g = 0; g < m->nlink_groups; g++) {
            uint32_t c = place__popc(r & ix->group_gpus[g]);
            if (c >= G && (bg < 0 || c < bc)) {
                bg = (int32_t)g;
                bc = c;
            }
        }
        if (bg >= 0)
            r &= ix->group_gpus[bg];
        else
            group_spill = true;
    }
    int32_t bn = -1;
    uint32_t bnc = 0;
    for (uint32_t i = 0; i < ix->ncpu_numa; i++) {
        uint32_t d = ix->cpu_numa[i];
        uint32_t c = place__popc(r & ix->numa_gpus[d]);
        if (c >= G && (bn < 0 || c < bnc)) {
            bn = (int32_t)d;
            bnc = c;
        }
    }
    if (bn >= 0)
        r &= ix->numa_gpus[bn];
    /* Order what is left and take the first G. */
    uint32_t idx[PLACE_MAX_GPUS];
    uint64_t key[PLACE_MAX_GPUS];
    uint32_t n = 0;
    for (uint64_t b = r; b; b &= b - 1) {
        uint32_t g = (uint32_t)__builtin_ctzll(b);
        const place_gpu *gp = &m->gpus[g];
        uint64_t k = 0;
        if (group_spill && gp->link_group >= 0)
            k |= (uint64_t)(64 - place__popc(r & ix->group_gpus[gp->link_group]))
                 << 48;
        if (bn < 0 && gp->numa >= 0)
            k |= (uint64_t)(64 - place__popc(r & ix->numa_gpus[gp->numa]))
                 << 40;
        k |= (uint64_t)(near_free(s, g) >= per ? 0 : 1) << 32;
        k |= g;
        uint32_t j = n++;
        while (j > 0 && key[j - 1] > k) {
            key[j] = key[j - 1];
            idx[j] = idx[j - 1];
            j--;
        }
        key[j] = k;
        idx[j] = g;
    }
    uint64_t out = 0;
    for (uint32_t i = 0; i < G && i < n; i++)
        out |= (uint64_t)1 << idx[i];
    return out;
}

/* Cores not near any GPU in `gpus`. */
static void not_near(const struct sel *s, uint64_t gpus, uint64_t *out)
{
    for (uint32_t i = 0; i < s->w; i++)
        out[i] = ~(uint64_t)0;
    for (uint64_t b = gpus; b; b &= b - 1) {
        uint32_t g = (uint32_t)__builtin_ctzll(b);
        const uint64_t *nb = s->m->ix->gpu_near + (size_t)g * s->w;
        for (uint32_t i = 0; i < s->w; i++)
            out[i] &= ~nb[i];
    }
}

static void near_of(const struct sel *s, uint64_t gpus, uint64_t *out)
{
    memset(out, 0, s->w * sizeof(uint64_t));
    for (uint64_t b = gpus; b; b &= b - 1) {
        uint32_t g = (uint32_t)__builtin_ctzll(b);
        const uint64_t *nb = s->m->ix->gpu_near + (size_t)g * s->w;
        for (uint32_t i = 0; i < s->w; i++)
            out[i] |= nb[i];
    }
}

static uint32_t pick_cores(struct sel *s, uint32_t C, uint64_t gpus,
                           uint64_t *tier)
{
    uint32_t got = 0;
    uint32_t G = place__popc(gpus);
    if (G > 0) {
        uint32_t per = C / G, rem = C % G, j = 0;
        for (uint64_t b = gpus; b; b &= b - 1, j++) {
            uint32_t g = (uint32_t)__builtin_ctzll(b);
            got += fill(s, s->m->ix->gpu_near + (size_t)g * s->w,
                        per + (j < rem ? 1 : 0));
        }
        if (got < C) {
            near_of(s, gpus, tier);
            got += fill(s, tier, C - got);
        }
    }
    if (got < C) {
        not_near(s, s->n->gpu_free & ~gpus, tier);
        got += fill(s, tier, C - got);
    }
    if (got < C)
        got += fill(s, NULL, C - got);
    return got;
}

/* Shared cores with room for `per` in dom, fullest first, near the chosen
 * GPUs first. */
static uint32_t pick_shared(struct sel *s, const uint64_t *dom, uint32_t k,
                            uint16_t per, uint64_t gpus, uint64_t *tier)
{
    const struct place__node *n = s->n;
    uint32_t got = 0;
    near_of(s, gpus, tier);
    while (got < k) {
        int64_t best = -1;
        uint64_t bkey = 0;
        for (uint32_t i = 0; i < s->w; i++) {
            uint64_t sh = dom[i] & n->shared[i];
            while (sh) {
                uint32_t c = i * 64 + (uint32_t)__builtin_ctzll(sh);
                sh &= sh - 1;
                if ((uint32_t)n->shared_used[c] + per > PLACE__CORE_MILLI)
                    continue;
                bool taken = false;
                for (uint32_t t = 0; t < s->ch->ncores; t++)
                    taken = taken || s->ch->cores[t] == c;
                if (taken)
                    continue;
                uint64_t key = (uint64_t)(place__bit(tier, c) ? 0 : 1) << 40 |
                               (uint64_t)(PLACE__CORE_MILLI -
                                          n->shared_used[c])
                                   << 20 |
                               c;
                if (best < 0 || key < bkey) {
                    best = c;
                    bkey = key;
                }
            }
        }
        if (best < 0)
            break;
        s->ch->cores[s->ch->ncores++] = (uint32_t)best;
        got++;
    }
    if (got < k) {
        /* New shared cores from the free ones, like exclusive cores. */
        got += pick_cores(s, k - got, gpus, tier);
    }
    return got;
}

static void pick_mem(struct sel *s, enum place_fit level, int32_t dom,
                     uint64_t M)
{
    const place_model *m = s->m;
    const struct place__node *n = s->n;
    struct place__choice *ch = s->ch;
    memset(ch->mem, 0, m->nnuma * sizeof(uint64_t));
    memset(ch->mem_bound, 0, m->nnuma);
    uint32_t cnt[PLACE_MAX_NUMA];
    memset(cnt, 0, m->nnuma * sizeof(uint32_t));
    for (uint32_t i = 0; i < ch->ncores; i++) {
        int32_t d = m->cores[ch->cores[i]].numa;
        if (d >= 0) {
            ch->mem_bound[d] = 1;
            cnt[d]++;
        }
    }
    uint64_t left = M;
    if (left > 0 && level == PLACE_FIT_NUMA && dom >= 0) {
        uint64_t t = n->numa_free_mem[dom] < left ? n->numa_free_mem[dom]
                                                  : left;
        ch->mem[dom] = t;
        ch->mem_bound[dom] = 1;
        left -= t;
    }
    /* NUMA nodes of the chosen cores, most cores first. */
    while (left > 0) {
        int32_t best = -1;
        for (uint32_t d = 0; d < m->nnuma; d++)
            if (cnt[d] > 0 && ch->mem[d] < n->numa_free_mem[d] &&
                (best < 0 || cnt[d] > cnt[best]))
                best = (int32_t)d;
        if (best < 0)
            break;
        uint64_t room = n->numa_free_mem[best] - ch->mem[best];
        uint64_t t = room < left ? room : left;
        ch->mem[best] += t;
        left -= t;
        cnt[best] = 0;
    }
    /* Then the domain's (or any) CPU NUMA nodes, most free memory first. */
    while (left > 0) {
        int32_t best = -1;
        uint64_t broom = 0;
        for (uint32_t i = 0; i < m->ix->ncpu_numa; i++) {
            uint32_t d = m->ix->cpu_numa[i];
            if (level == PLACE_FIT_PACKAGE && dom >= 0 &&
                m->numa[d].package != dom)
                continue;
            uint64_t room = n->numa_free_mem[d] - ch->mem[d];
            if (room > broom) {
                best = (int32_t)d;
                broom = room;
            }
        }
        if (best < 0) {
            if (level == PLACE_FIT_PACKAGE) {
                level = PLACE_FIT_SPREAD; /* widen rather than fail */
                continue;
            }
            break;
        }
        uint64_t t = broom < left ? broom : left;
        ch->mem[best] += t;
        ch->mem_bound[best] = 1;
        left -= t;
    }
}

static void first_fit_pick(struct sel *s, const struct place__need *need,
                           uint32_t G, uint32_t C, uint64_t M,
                           uint64_t gcand)
{
    const place_model *m = s->m;
    const struct place__node *n = s->n;
    struct place__choice *ch = s->ch;
    uint64_t gp = 0;
    for (uint64_t b = gcand; b && place__popc(gp) < G; b &= b - 1)
        gp |= b & (~b + 1);
    ch->gpus = gp;
    uint32_t got = 0;
    if (need->shared) {
        for (uint32_t c = 0; c < m->ncores && got < C; c++)
            if (place__bit(n->shared, c) &&
                (uint32_t)n->shared_used[c] + need->per_core <=
                    PLACE__CORE_MILLI) {
                ch->cores[ch->ncores++] = c;
                got++;
            }
    }
    for (uint32_t c = 0; c < m->ncores && got < C; c++)
        if (place__bit(s->avail, c)) {
            take_core(s, c);
            got++;
        }
    memset(ch->mem, 0, m->nnuma * sizeof(uint64_t));
    memset(ch->mem_bound, 0, m->nnuma);
    for (uint32_t i = 0; i < ch->ncores; i++)
        if (m->cores[ch->cores[i]].numa >= 0)
            ch->mem_bound[m->cores[ch->cores[i]].numa] = 1;
    uint64_t left = M;
    for (uint32_t i = 0; i < m->ix->ncpu_numa && left > 0; i++) {
        uint32_t d = m->ix->cpu_numa[i];
        uint64_t t = n->numa_free_mem[d] < left ? n->numa_free_mem[d] : left;
        if (t > 0) {
            ch->mem[d] = t;
            ch->mem_bound[d] = 1;
            left -= t;
        }
    }
}

/* The topology fit a choice achieved, from what it holds. */
static void choice_fit(const place_model *m, struct place__choice *ch)
{
    int32_t numa = -2, pkg = -2;
    bool many_numa = false, many_pkg = false;
#define SEE(var, many, v)                                                      \
    do {                                                                       \
        if ((v) < 0)                                                           \
            many = true;                                                       \
        else if (var == -2)                                                    \
            var = (v);                                                         \
        else if (var != (v))                                                   \
            many = true;                                                       \
    } while (0)
    for (uint32_t i = 0; i < ch->ncores; i++) {
        const place_core *k = &m->cores[ch->cores[i]];
        SEE(numa, many_numa, k->numa);
        SEE(pkg, many_pkg, k->package);
    }
    for (uint64_t b = ch->gpus; b; b &= b - 1) {
        const place_gpu *g = &m->gpus[__builtin_ctzll(b)];
        SEE(numa, many_numa, g->numa);
        SEE(pkg, many_pkg, g->package);
    }
    for (uint32_t d = 0; d < m->nnuma; d++)
        if (ch->mem[d] > 0) {
            SEE(numa, many_numa, (int32_t)d);
            SEE(pkg, many_pkg, m->numa[d].package);
        }
#undef SEE
    ch->fit = !many_numa ? PLACE_FIT_NUMA
                         : !many_pkg ? PLACE_FIT_PACKAGE : PLACE_FIT_SPREAD;
    uint32_t ng = place__popc(ch->gpus);
    ch->linked = false;
    if (ng == 1) {
        ch->linked = true;
    } else if (ng > 1) {
        int32_t grp = m->gpus[__builtin_ctzll(ch->gpus)].link_group;
        ch->linked = grp >= 0 && (ch->gpus & ~m->ix->group_gpus[grp]) == 0;
    }
}

bool place__fit_select(const place_model *m, const struct place__node *n,
                       const struct place__need *need, bool topology,
                       const struct place__eval *ev, uint64_t *tmp,
                       struct place__choice *ch)
{
    const struct place__model_ix *ix = m->ix;
    uint32_t w = ix->words;
    uint32_t deg = ev->degree ? ev->degree : 1;
    uint32_t G = need->gpus * deg, C = need->cores * deg;
    uint64_t M = need->mem * deg;
    struct sel s = {m, n, w, tmp, tmp + w, ch};
    uint64_t *tier = tmp + 2 * w;
    uint64_t *domb = tmp + 3 * w;
    ch->ncores = 0;
    ch->gpus = 0;
    const uint64_t *dom_cores = ix->all_cores;
    if (ev->dom >= 0 && ev->level == PLACE_FIT_NUMA)
        dom_cores = ix->numa_cores + (size_t)ev->dom * w;
    else if (ev->dom >= 0 && ev->level == PLACE_FIT_PACKAGE)
        dom_cores = ix->pkg_cores + (size_t)ev->dom * w;
    for (uint32_t i = 0; i < w; i++) {
        s.avail[i] = ix->all_cores[i] & ~n->busy[i] & ~n->shared[i];
        domb[i] = dom_cores[i];
    }
    if (!topology) {
        first_fit_pick(&s, need, G, C, M, ev->gpu_cand);
    } else {
        /* Take from the domain; the machine-wide fallback below only
         * serves auto degrees sized from the whole node. */
        ch->gpus = pick_gpus(&s, ev->gpu_cand, G,
                             G ? (C + G - 1) / G : 0);
        if (place__popc(ch->gpus) < G)
            return false;
        for (uint32_t i = 0; i < w; i++)
            s.avail[i] &= domb[i];
        uint32_t got = need->shared
                           ? pick_shared(&s, domb, C, need->per_core,
                                         ch->gpus, tier)
                           : pick_cores(&s, C, ch->gpus, tier);
        if (got < C) {
            /* Auto degrees are sized from machine-wide free cores. */
            for (uint32_t i = 0; i < w; i++)
                s.avail[i] = ix->all_cores[i] & ~n->busy[i] &
                             ~n->shared[i];
            for (uint32_t i = 0; i < ch->ncores; i++)
                place__bit_clear(s.avail, ch->cores[i]);
            got += pick_cores(&s, C - got, ch->gpus, tier);
        }
        pick_mem(&s, ev->level, ev->dom, M);
    }
    if (ch->ncores < C || place__popc(ch->gpus) < G)
        return false;
    uint64_t tot = 0;
    for (uint32_t d = 0; d < m->nnuma; d++)
        tot += ch->mem[d];
    if (tot < M)
        return false;
    choice_fit(m, ch);
    return true;
}

bool place__fit_static(const place_model *m, const struct place__need *need)
{
    uint64_t vm = need->gpus ? m->ix->vendor_gpus[need->vendor] : 0;
    if (place__popc(vm) < need->gpus || m->memory < need->mem ||
        m->ncores < need->cores)
        return false;
    return true;
}
