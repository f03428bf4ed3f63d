/* swim_sim.c - the deterministic cluster simulator (see swim_sim.h).
 *
 * One binary heap of events ordered by (time, kind, sequence): member timer
 * wake-ups (one live entry per member; superseded ones are skipped when
 * popped) and datagram deliveries. Per step the cost is O(log events) plus
 * the core's own work, never a pass over all members, so 10,000 members
 * run in one process. All members share one interning pool, so each name
 * and metadata blob is stored once. */
#include "gossip/swim_sim.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/cl_err.h"
#include "common/cl_heap.h"
#include "common/cl_rng.h"
#include "gossip/swim_int.h"

#define SIM_PORT 7946
#define GROUPS 16

enum { EV_TIMER = 0, EV_DELIVER = 1 };

struct pkt {
    uint32_t from;
    uint32_t len;
    uint8_t data[];
};

struct event {
    int64_t at; /* us */
    uint64_t seq;
    uint32_t kind;
    uint32_t member;
    uint32_t gen;    /* EV_TIMER: the member's process generation */
    bool deferred;   /* EV_DELIVER: counted in the member's backlog */
    struct pkt *pkt; /* EV_DELIVER: owned by the event */
};

struct link {
    uint64_t key; /* from << 32 | to, + 1; 0 = empty slot */
    bool has_loss;
    bool has_latency;
    double loss;
    struct swim_sim_latency lat;
};

struct sim_member {
    struct swim_sim *sim;
    uint32_t index;
    uint32_t gen;
    struct swim *core; /* NULL while crashed */
    struct swim_io io;
    cl_rng rng; /* borrowed by core: the struct never moves */
    struct swim_addr addr;
    char name[SWIM_NAME_MAX + 1];
    int64_t timer_at;    /* us; INT64_MAX when none is scheduled */
    int64_t stall_until; /* us */
    enum swim_sim_stall stall_kind;
    size_t backlog;
    uint8_t group;
    struct swim_sim_member_stats stats;
};

struct swim_sim {
    struct swim_sim_config cfg;
    char prefix[32];
    cl_rng rng;
    struct swim_pool *pool;
    int64_t now; /* us */
    uint64_t seq;
    struct event *heap;
    size_t n_heap;
    size_t cap_heap;
    struct sim_member **members;
    size_t n_members;
    size_t cap_members;
    struct link *links; /* open addressing, power of two */
    size_t n_links;
    size_t cap_links;
    uint16_t block[GROUPS]; /* block[from] bit to */
    struct swim_sim_stats stats;
};

void swim_sim_config_default(struct swim_sim_config *c)
{
    memset(c, 0, sizeof(*c));
    c->seed = 1;
    swim_config_default(&c->swim);
    c->latency.min_us = 100;
    c->latency.max_us = 300;
    c->name_prefix = "n";
}

/* ------------------------------------------------------------------------ */
/* Event heap. */

static bool ev_before(const struct event *a, const struct event *b)
{
    if (a->at != b->at)
        return a->at < b->at;
    if (a->kind != b->kind)
        return a->kind < b->kind;
    return a->seq < b->seq;
}

static int heap_push(struct swim_sim *sim, struct event e)
{
    if (sim->n_heap == sim->cap_heap) {
        size_t cap = sim->cap_heap ? sim->cap_heap * 2 : 1024;
        struct event *h = cl_realloc(sim->heap, cap * sizeof(*h));
        if (h == NULL)
            return CL_ENOMEM;
        sim->heap = h;
        sim->cap_heap = cap;
    }
    e.seq = sim->seq++;
    size_t i = sim->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_before(&e, &sim->heap[p]))
            break;
        sim->heap[i] = sim->heap[p];
        i = p;
    }
    sim->heap[i] = e;
    return 0;
}

static struct event heap_pop(struct swim_sim *sim)
{
    struct event top = sim->heap[0];
    struct event x = sim->heap[--sim->n_heap];
    size_t n = sim->n_heap, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && ev_before(&sim->heap[c + 1], &sim->heap[c]))
            c++;
        if (!ev_before(&sim->heap[c], &x))
            break;
        sim->heap[i] = sim->heap[c];
        i = c;
    }
    if (n > 0)
        sim->heap[i] = x;
    return top;
}

/* ------------------------------------------------------------------------ */
/* Links. */

static uint64_t link_key(size_t from, size_t to)
{
    return (((uint64_t)from << 32) | (uint64_t)to) + 1;
}

static struct link *link_find(const struct swim_sim *sim, size_t from,
                              size_t to)
{
    if (sim->n_links == 0)
        return NULL;
    uint64_t key = link_key(from, to);
    size_t mask = sim->cap_links - 1;
    for (size_t i = (size_t)(key * 0x9e3779b97f4a7c15ULL) & mask;;
         i = (i + 1) & mask) {
        struct link *l = &sim->links[i];
        if (l->key == key)
            return l;
        if (l->key == 0)
            return NULL;
    }
}

static struct link *link_get(struct swim_sim *sim, size_t from, size_t to)
{
    struct link *l = link_find(sim, from, to);
    if (l != NULL)
        return l;
    if ((sim->n_links + 1) * 2 > sim->cap_links) {
        size_t cap = sim->cap_links ? sim->cap_links * 2 : 64;
        struct link *nl = cl_calloc(cap, sizeof(*nl));
        if (nl == NULL)
            return NULL;
        for (size_t i = 0; i < sim->cap_links; i++) {
            struct link *o = &sim->links[i];
            if (o->key == 0)
                continue;
            size_t j = (size_t)(o->key * 0x9e3779b97f4a7c15ULL) & (cap - 1);
            while (nl[j].key != 0)
                j = (j + 1) & (cap - 1);
            nl[j] = *o;
        }
        cl_free(sim->links);
        sim->links = nl;
        sim->cap_links = cap;
    }
    uint64_t key = link_key(from, to);
    size_t mask = sim->cap_links - 1;
    size_t i = (size_t)(key * 0x9e3779b97f4a7c15ULL) & mask;
    while (sim->links[i].key != 0)
        i = (i + 1) & mask;
    l = &sim->links[i];
    memset(l, 0, sizeof(*l));
    l->key = key;
    sim->n_links++;
    return l;
}

static int64_t sample_latency(struct swim_sim *sim,
                              const struct swim_sim_latency *lat)
{
    int64_t d = lat->min_us;
    if (lat->max_us > lat->min_us)
        d += (int64_t)cl_rng_below(&sim->rng,
                                   (uint64_t)(lat->max_us - lat->min_us + 1));
    if (lat->tail_p > 0 && cl_rng_double(&sim->rng) < lat->tail_p) {
        double u = cl_rng_double(&sim->rng);
        d += (int64_t)(-log(1.0 - u) * (double)lat->tail_mean_us);
    }
    return d < 0 ? 0 : d;
}

/* ------------------------------------------------------------------------ */
/* Members and their I/O. */

static void sim_addr(size_t i, struct swim_addr *a)
{
    memset(a, 0, sizeof(*a));
    uint32_t v = (uint32_t)i + 1;
    a->family = 4;
    a->ip[0] = 10;
    a->ip[1] = (uint8_t)(v >> 16);
    a->ip[2] = (uint8_t)(v >> 8);
    a->ip[3] = (uint8_t)v;
    a->port = SIM_PORT;
}

static bool sim_index(const struct swim_sim *sim, const struct swim_addr *a,
                      size_t *i)
{
    if (a->family != 4 || a->ip[0] != 10 || a->port != SIM_PORT)
        return false;
    uint32_t v =
        ((uint32_t)a->ip[1] << 16) | ((uint32_t)a->ip[2] << 8) | a->ip[3];
    if (v == 0 || v > sim->n_members)
        return false;
    *i = v - 1;
    return true;
}

static int sim_send(struct swim_io *io, const struct swim_addr *to,
                    const uint8_t *buf, size_t len)
{
    struct sim_member *m = io->data;
    struct swim_sim *sim = m->sim;
    uint64_t bytes = len + SWIM_SEAL_OVERHEAD;
    sim->stats.sent++;
    sim->stats.bytes_sent += bytes;
    m->stats.packets_sent++;
    m->stats.bytes_sent += bytes;
    size_t j;
    if (!sim_index(sim, to, &j)) {
        sim->stats.dropped_down++;
        return 0;
    }
    struct sim_member *dst = sim->members[j];
    if (sim->block[m->group] & (1u << dst->group)) {
        sim->stats.dropped_partition++;
        return 0;
    }
    const struct link *l = link_find(sim, m->index, j);
    double loss = l && l->has_loss ? l->loss : sim->cfg.loss;
    if (loss > 0 && cl_rng_double(&sim->rng) < loss) {
        sim->stats.dropped_loss++;
        return 0;
    }
    const struct swim_sim_latency *lat =
        l && l->has_latency ? &l->lat : &sim->cfg.latency;
    int64_t at = sim->now + sample_latency(sim, lat);
    struct pkt *p = cl_malloc(sizeof(*p) + len);
    if (p == NULL)
        return CL_ENOMEM;
    p->from = m->index;
    p->len = (uint32_t)len;
    memcpy(p->data, buf, len);
    struct event e = {0};
    e.at = at;
    e.kind = EV_DELIVER;
    e.member = (uint32_t)j;
    e.pkt = p;
    if (heap_push(sim, e) != 0) {
        cl_free(p);
        return CL_ENOMEM;
    }
    return 0;
}

static void sim_event(struct swim_io *io, const struct swim_event *ev)
{
    struct sim_member *m = io->data;
    struct swim_sim *sim = m->sim;
    if (sim->cfg.on_event != NULL)
        sim->cfg.on_event(sim, m->index, ev, sim->cfg.data);
}

/* resched - make sure a timer event exists for the member's next core
 * deadline (earlier ones already scheduled stay; later ones are found
 * stale and skipped). `floor_us` is the earliest allowed time. */
static void resched(struct swim_sim *sim, struct sim_member *m,
                    int64_t floor_us)
{
    if (m->core == NULL)
        return;
    int64_t d = swim_next_deadline(m->core);
    if (d == INT64_MAX)
        return;
    int64_t at = d > INT64_MAX / 1000 ? INT64_MAX : d * 1000;
    if (at < floor_us)
        at = floor_us;
    if (at >= m->timer_at)
        return;
    struct event e = {0};
    e.at = at;
    e.kind = EV_TIMER;
    e.member = m->index;
    e.gen = m->gen;
    if (heap_push(sim, e) == 0)
        m->timer_at = at;
}

static int start_core(struct swim_sim *sim, struct sim_member *m)
{
    struct swim_config c = sim->cfg.swim;
    c.pool = sim->pool;
    cl_rng_seed(&m->rng, cl_rng_next(&sim->rng));
    m->gen++;
    m->timer_at = INT64_MAX;
    int rv = swim_new(&c, &m->io, &m->rng, m->name, &m->addr, sim->now / 1000,
                      &m->core);
    if (rv != 0)
        return rv;
    resched(sim, m, sim->now);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Lifecycle. */

int swim_sim_new(const struct swim_sim_config *cfg, struct swim_sim **out)
{
    if (cfg == NULL || out == NULL)
        return CL_EINVAL;
    if (swim_config_check(&cfg->swim, NULL, 0) != 0 || cfg->loss < 0 ||
        cfg->loss > 1 || cfg->latency.min_us < 0 ||
        cfg->latency.max_us < cfg->latency.min_us)
        return CL_EINVAL;
    struct swim_sim *sim = cl_calloc(1, sizeof(*sim));
    if (sim == NULL)
        return CL_ENOMEM;
    sim->cfg = *cfg;
    snprintf(sim->prefix, sizeof(sim->prefix), "%s",
             cfg->name_prefix ? cfg->name_prefix : "n");
    sim->cfg.name_prefix = sim->prefix;
    cl_rng_seed(&sim->rng, cfg->seed);
    if (swim_pool_new(&sim->pool) != 0) {
        cl_free(sim);
        return CL_ENOMEM;
    }
    *out = sim;
    return 0;
}

void swim_sim_free(struct swim_sim *sim)
{
    if (sim == NULL)
        return;
    for (size_t i = 0; i < sim->n_heap; i++)
        cl_free(sim->heap[i].pkt);
    cl_free(sim->heap);
    for (size_t i = 0; i < sim->n_members; i++) {
        swim_free(sim->members[i]->core);
        cl_free(sim->members[i]);
    }
    cl_free(sim->members);
    cl_free(sim->links);
    swim_pool_free(sim->pool);
    cl_free(sim);
}

int swim_sim_add(struct swim_sim *sim, size_t n, size_t *first)
{
    if (sim->n_members + n > 0xffffff)
        return CL_ERANGE;
    if (sim->n_members + n > sim->cap_members) {
        size_t cap = sim->cap_members ? sim->cap_members : 16;
        while (cap < sim->n_members + n)
            cap *= 2;
        struct sim_member **ms = cl_realloc(sim->members, cap * sizeof(*ms));
        if (ms == NULL)
            return CL_ENOMEM;
        sim->members = ms;
        sim->cap_members = cap;
    }
    if (first != NULL)
        *first = sim->n_members;
    for (size_t k = 0; k < n; k++) {
        struct sim_member *m = cl_calloc(1, sizeof(*m));
        if (m == NULL)
            return CL_ENOMEM;
        size_t i = sim->n_members;
        m->sim = sim;
        m->index = (uint32_t)i;
        m->io.data = m;
        m->io.send = sim_send;
        m->io.event = sim_event;
        sim_addr(i, &m->addr);
        snprintf(m->name, sizeof(m->name), "%s%zu", sim->prefix, i);
        m->timer_at = INT64_MAX;
        sim->members[i] = m;
        sim->n_members++;
        int rv = start_core(sim, m);
        if (rv != 0)
            return rv;
    }
    return 0;
}

int swim_sim_bootstrap(struct swim_sim *sim)
{
    struct sim_member *src = NULL;
    for (size_t i = 0; i < sim->n_members && src == NULL; i++)
        if (sim->members[i]->core != NULL)
            src = sim->members[i];
    if (src == NULL)
        return 0;
    int64_t now = sim->now / 1000;
    for (size_t i = 0; i < sim->n_members; i++) {
        struct sim_member *m = sim->members[i];
        if (m == src || m->core == NULL)
            continue;
        struct swim_member_info info;
        int rv = swim_member_find(m->core, m->name, &info);
        if (rv != 0)
            return rv;
        info.is_self = false;
        rv = swim_preload(src->core, &info, now);
        if (rv != 0)
            return rv;
    }
    for (size_t i = 0; i < sim->n_members; i++) {
        struct sim_member *m = sim->members[i];
        if (m == src || m->core == NULL)
            continue;
        int rv = swim__clone_view(m->core, src->core, now);
        if (rv != 0)
            return rv;
        resched(sim, m, sim->now);
    }
    resched(sim, src, sim->now);
    return 0;
}

static struct sim_member *member(const struct swim_sim *sim, size_t i)
{
    return i < sim->n_members ? sim->members[i] : NULL;
}

int swim_sim_join(struct swim_sim *sim, size_t i, size_t seed)
{
    struct sim_member *m = member(sim, i), *s = member(sim, seed);
    if (m == NULL || s == NULL)
        return CL_EINVAL;
    if (m->core == NULL)
        return CL_ESTATE;
    int rv = swim_join(m->core, &s->addr, 1, sim->now / 1000);
    resched(sim, m, sim->now);
    return rv;
}

int swim_sim_kill(struct swim_sim *sim, size_t i)
{
    struct sim_member *m = member(sim, i);
    if (m == NULL)
        return CL_EINVAL;
    if (m->core == NULL)
        return CL_ESTATE;
    swim_free(m->core);
    m->core = NULL;
    m->gen++;
    m->timer_at = INT64_MAX;
    m->stall_until = 0;
    return 0;
}

int swim_sim_revive(struct swim_sim *sim, size_t i, size_t seed)
{
    struct sim_member *m = member(sim, i);
    if (m == NULL)
        return CL_EINVAL;
    if (m->core != NULL)
        return CL_ESTATE;
    int rv = start_core(sim, m);
    if (rv != 0)
        return rv;
    if (seed != SIZE_MAX)
        return swim_sim_join(sim, i, seed);
    return 0;
}

int swim_sim_leave(struct swim_sim *sim, size_t i)
{
    struct sim_member *m = member(sim, i);
    if (m == NULL)
        return CL_EINVAL;
    if (m->core == NULL)
        return CL_ESTATE;
    int rv = swim_leave(m->core, sim->now / 1000);
    resched(sim, m, sim->now);
    return rv;
}

int swim_sim_set_meta(struct swim_sim *sim, size_t i, const void *meta,
                      size_t len)
{
    struct sim_member *m = member(sim, i);
    if (m == NULL)
        return CL_EINVAL;
    if (m->core == NULL)
        return CL_ESTATE;
    int rv = swim_set_meta(m->core, meta, len, sim->now / 1000);
    resched(sim, m, sim->now);
    return rv;
}

int swim_sim_stall(struct swim_sim *sim, size_t i, int64_t duration_ms,
                   enum swim_sim_stall kind)
{
    struct sim_member *m = member(sim, i);
    if (m == NULL || duration_ms < 0 ||
        (kind != SWIM_SIM_STALL_RECV && kind != SWIM_SIM_STALL_ALL))
        return CL_EINVAL;
    if (m->core == NULL)
        return CL_ESTATE;
    int64_t until = sim->now + duration_ms * 1000;
    if (until > m->stall_until) {
        m->stall_until = until;
        m->stall_kind = kind;
    }
    return 0;
}

bool swim_sim_stalled(const struct swim_sim *sim, size_t i)
{
    const struct sim_member *m = member(sim, i);
    return m != NULL && m->core != NULL && m->stall_until > sim->now;
}

void swim_sim_set_loss(struct swim_sim *sim, double p)
{
    sim->cfg.loss = p < 0 ? 0 : p > 1 ? 1 : p;
}

void swim_sim_set_latency(struct swim_sim *sim,
                          const struct swim_sim_latency *lat)
{
    sim->cfg.latency = *lat;
}

int swim_sim_set_link_loss(struct swim_sim *sim, size_t from, size_t to,
                           double p)
{
    if (from >= sim->n_members || to >= sim->n_members || p < 0 || p > 1)
        return CL_EINVAL;
    struct link *l = link_get(sim, from, to);
    if (l == NULL)
        return CL_ENOMEM;
    l->has_loss = true;
    l->loss = p;
    return 0;
}

int swim_sim_set_link_latency(struct swim_sim *sim, size_t from, size_t to,
                              const struct swim_sim_latency *lat)
{
    if (from >= sim->n_members || to >= sim->n_members || lat == NULL ||
        lat->min_us < 0 || lat->max_us < lat->min_us)
        return CL_EINVAL;
    struct link *l = link_get(sim, from, to);
    if (l == NULL)
        return CL_ENOMEM;
    l->has_latency = true;
    l->lat = *lat;
    return 0;
}

int swim_sim_set_group(struct swim_sim *sim, size_t i, unsigned group)
{
    struct sim_member *m = member(sim, i);
    if (m == NULL || group >= GROUPS)
        return CL_EINVAL;
    m->group = (uint8_t)group;
    return 0;
}

void swim_sim_block(struct swim_sim *sim, unsigned from, unsigned to,
                    bool blocked)
{
    if (from >= GROUPS || to >= GROUPS)
        return;
    if (blocked)
        sim->block[from] |= (uint16_t)(1u << to);
    else
        sim->block[from] &= (uint16_t) ~(1u << to);
}

void swim_sim_heal(struct swim_sim *sim)
{
    memset(sim->block, 0, sizeof(sim->block));
}

/* ------------------------------------------------------------------------ */
/* Running. */

static void run_event(struct swim_sim *sim, struct event *e)
{
    struct sim_member *m = sim->members[e->member];
    sim->stats.events++;
    if (e->kind == EV_TIMER) {
        if (m->core == NULL || e->gen != m->gen || e->at != m->timer_at)
            return; /* superseded */
        m->timer_at = INT64_MAX;
        if (m->stall_kind == SWIM_SIM_STALL_ALL && m->stall_until > sim->now) {
            struct event d = *e;
            d.at = m->stall_until;
            if (heap_push(sim, d) == 0)
                m->timer_at = d.at;
            return;
        }
        int64_t now_ms = sim->now / 1000;
        swim_tick(m->core, now_ms);
        /* The core handled everything due; guard against a deadline that
         * does not move so that a bug cannot spin the simulator. */
        resched(sim, m, (now_ms + 1) * 1000);
        return;
    }
    struct pkt *p = e->pkt;
    e->pkt = NULL;
    if (e->deferred)
        m->backlog--;
    if (m->core == NULL) {
        sim->stats.dropped_down++;
        cl_free(p);
        return;
    }
    if (m->stall_until > sim->now) {
        if (sim->cfg.backlog_max != 0 && m->backlog >= sim->cfg.backlog_max) {
            sim->stats.dropped_backlog++;
            cl_free(p);
            return;
        }
        struct event d = *e;
        d.at = m->stall_until;
        d.deferred = true;
        d.pkt = p;
        if (heap_push(sim, d) != 0) {
            cl_free(p);
            return;
        }
        m->backlog++;
        return;
    }
    sim->stats.delivered++;
    m->stats.packets_recv++;
    m->stats.bytes_recv += p->len + SWIM_SEAL_OVERHEAD;
    struct sim_member *from = sim->members[p->from];
    swim_recv(m->core, &from->addr, p->data, p->len, sim->now / 1000);
    cl_free(p);
    resched(sim, m, sim->now);
}

int swim_sim_step(struct swim_sim *sim)
{
    if (sim->n_heap == 0)
        return CL_ENOENT;
    struct event e = heap_pop(sim);
    if (e.at > sim->now)
        sim->now = e.at;
    run_event(sim, &e);
    return 0;
}

int swim_sim_run_until(struct swim_sim *sim, int64_t t_ms)
{
    int64_t until = t_ms * 1000;
    while (sim->n_heap > 0 && sim->heap[0].at <= until)
        swim_sim_step(sim);
    if (sim->now < until)
        sim->now = until;
    return 0;
}

int swim_sim_run_for(struct swim_sim *sim, int64_t ms)
{
    return swim_sim_run_until(sim, sim->now / 1000 + ms);
}

int swim_sim_step_until(struct swim_sim *sim,
                        bool (*pred)(struct swim_sim *sim, void *arg),
                        void *arg, int64_t deadline_ms)
{
    int64_t until = deadline_ms * 1000;
    if (pred(sim, arg))
        return 0;
    while (sim->n_heap > 0 && sim->heap[0].at <= until) {
        swim_sim_step(sim);
        if (pred(sim, arg))
            return 0;
    }
    if (sim->now < until)
        sim->now = until;
    return CL_ETIMEDOUT;
}

/* ------------------------------------------------------------------------ */
/* Observation. */

int64_t swim_sim_now(const struct swim_sim *sim)
{
    return sim->now / 1000;
}

int64_t swim_sim_now_us(const struct swim_sim *sim)
{
    return sim->now;
}

size_t swim_sim_size(const struct swim_sim *sim)
{
    return sim->n_members;
}

bool swim_sim_running(const struct swim_sim *sim, size_t i)
{
    const struct sim_member *m = member(sim, i);
    return m != NULL && m->core != NULL;
}

const char *swim_sim_name(const struct swim_sim *sim, size_t i)
{
    const struct sim_member *m = member(sim, i);
    return m ? m->name : NULL;
}

struct swim *swim_sim_core(const struct swim_sim *sim, size_t i)
{
    const struct sim_member *m = member(sim, i);
    return m ? m->core : NULL;
}

int swim_sim_view(const struct swim_sim *sim, size_t observer, size_t target,
                  enum swim_state *state)
{
    const struct sim_member *o = member(sim, observer);
    const struct sim_member *t = member(sim, target);
    if (o == NULL || t == NULL)
        return CL_EINVAL;
    if (o->core == NULL)
        return CL_ESTATE;
    struct swim_member_info info;
    int rv = swim_member_find(o->core, t->name, &info);
    if (rv != 0)
        return rv;
    *state = info.state;
    return 0;
}

size_t swim_sim_count_view(const struct swim_sim *sim, size_t target,
                           enum swim_state st)
{
    size_t n = 0;
    for (size_t i = 0; i < sim->n_members; i++) {
        enum swim_state v;
        if (i != target && swim_sim_view(sim, i, target, &v) == 0 && v == st)
            n++;
    }
    return n;
}

bool swim_sim_converged(const struct swim_sim *sim)
{
    for (size_t i = 0; i < sim->n_members; i++) {
        if (sim->members[i]->core == NULL)
            continue;
        for (size_t j = 0; j < sim->n_members; j++) {
            if (i == j)
                continue;
            enum swim_state v;
            int rv = swim_sim_view(sim, i, j, &v);
            if (sim->members[j]->core != NULL) {
                if (rv != 0 || v != SWIM_ALIVE)
                    return false;
            } else if (rv == 0 && v != SWIM_DEAD && v != SWIM_LEFT) {
                return false;
            }
        }
    }
    return true;
}

const struct swim_sim_stats *swim_sim_stats(const struct swim_sim *sim)
{
    return &sim->stats;
}

const struct swim_sim_member_stats *
swim_sim_member_stats(const struct swim_sim *sim, size_t i)
{
    const struct sim_member *m = member(sim, i);
    return m ? &m->stats : NULL;
}
