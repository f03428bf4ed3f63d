/* bench_swim - failure detection, dissemination, accuracy and cost of the
 * gossip module, measured in the simulator (gossip/swim_sim.h) with the
 * default LAN profile, Lifeguard on and off side by side in one run.
 *
 * For each cluster size N, and each mode (Lifeguard on: "lifeguard";
 * off: "swim"), one simulated cluster goes through these phases, in this
 * order (fd30 on a fresh cluster of its own):
 *
 *   fd0 / fd10          T simulated seconds at 0% and 10% uniform loss:
 *                       false suspicions and false deaths of healthy
 *                       members, bytes per second per member.
 *   meta                at 10% loss, metadata changes of random members:
 *                       time until 99.9% and 100% of members hold it.
 *   crash               at 10% loss, members crash one per second: time
 *                       until first suspected, and until every live member
 *                       holds it dead.
 *   stall0 / stall10    at 0% and 10% loss while members stall (input
 *                       processing delayed 2 s, timers running, as in the
 *                       Lifeguard paper) at random, 1% of members stalled
 *                       on average.
 *   fd30                as fd0 at 30% loss.
 *
 * A suspicion or death counts once per (member, incarnation). A member is
 * "healthy" when it is not crashed and not within [start, end + 1 s] of a
 * stall; a death whose suspicion began in that window is the stall's, not
 * a healthy member's. Times are virtual; the wall clock is only printed.
 *
 * Usage: bench_swim [--quick | --smoke] [--sizes N,N,...] [--seconds S]
 *                   [--stall-seconds S] [--crashes K] [--seed S]
 * Prints a table, then one JSON line per N (last).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cl_heap.h"
#include "common/cl_rng.h"
#include "gossip/swim.h"
#include "gossip/swim_sim.h"

#define PREFIX "node-"
#define STALL_MS 2000
#define STALL_GRACE_MS 1000
#define STALL_FRACTION 0.01

/* ------------------------------------------------------------------------ */
/* A set of 64-bit keys (incidents seen). */

struct set {
    uint64_t *k;
    size_t cap;
    size_t n;
};

static bool set_add(struct set *s, uint64_t key)
{
    key++; /* 0 marks an empty slot */
    if ((s->n + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        uint64_t *k = calloc(cap, sizeof(*k));
        for (size_t i = 0; i < s->cap; i++) {
            if (s->k[i] == 0)
                continue;
            size_t j = (size_t)(s->k[i] * 0x9e3779b97f4a7c15ULL) & (cap - 1);
            while (k[j] != 0)
                j = (j + 1) & (cap - 1);
            k[j] = s->k[i];
        }
        free(s->k);
        s->k = k;
        s->cap = cap;
    }
    size_t j = (size_t)(key * 0x9e3779b97f4a7c15ULL) & (s->cap - 1);
    while (s->k[j] != 0) {
        if (s->k[j] == key)
            return false;
        j = (j + 1) & (s->cap - 1);
    }
    s->k[j] = key;
    s->n++;
    return true;
}

static bool set_has(const struct set *s, uint64_t key)
{
    if (s->cap == 0)
        return false;
    key++;
    size_t j = (size_t)(key * 0x9e3779b97f4a7c15ULL) & (s->cap - 1);
    while (s->k[j] != 0) {
        if (s->k[j] == key)
            return true;
        j = (j + 1) & (s->cap - 1);
    }
    return false;
}

static void set_clear(struct set *s)
{
    free(s->k);
    memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------------------------------ */
/* Tracking state, fed by the event callback. */

struct tracked {
    size_t target;    /* member index */
    uint32_t version; /* meta: version to reach */
    int64_t start;    /* ms */
    int64_t first;    /* crash: first suspected; -1 */
    int64_t t999;     /* meta: 99.9% reached; -1 */
    int64_t done;     /* all reached; -1 */
    size_t missing;   /* observers still missing */
    size_t need999;   /* meta: observers needed for 99.9% */
    size_t have;
    uint8_t *seen; /* per observer */
};

struct bench {
    struct swim_sim *sim;
    size_t n;
    cl_rng rng;
    /* per member */
    bool *crashed;
    int64_t *stall_start;
    int64_t *stall_end;
    /* phase counters */
    struct set susp_healthy, susp_impaired, dead_healthy, dead_impaired;
    uint64_t susp_by_stalled; /* raised by a member while it was stalled */
    /* tracked crashes or metadata changes */
    struct tracked *tr;
    size_t n_tr;
    bool tracking_meta;
};

static size_t member_index(const char *name)
{
    return (size_t)strtoul(name + sizeof(PREFIX) - 1, NULL, 10);
}

static bool impaired(const struct bench *b, size_t i, int64_t now)
{
    return b->stall_end[i] > 0 && now >= b->stall_start[i] &&
           now <= b->stall_end[i] + STALL_GRACE_MS;
}

static void on_event(struct swim_sim *sim, size_t observer,
                     const struct swim_event *ev, void *data)
{
    struct bench *b = data;
    int64_t now = swim_sim_now(sim);
    size_t x = member_index(ev->member.name);
    uint64_t incident = ((uint64_t)x << 32) | ev->member.incarnation;
    switch (ev->type) {
    case SWIM_EV_SUSPECT:
        if (!ev->origin)
            break;
        if (b->crashed[x]) {
            for (size_t i = 0; i < b->n_tr; i++)
                if (!b->tracking_meta && b->tr[i].target == x &&
                    b->tr[i].first < 0)
                    b->tr[i].first = now;
            break;
        }
        if (impaired(b, x, now)) {
            set_add(&b->susp_impaired, incident);
        } else {
            set_add(&b->susp_healthy, incident);
            if (swim_sim_stalled(sim, observer))
                b->susp_by_stalled++;
        }
        break;
    case SWIM_EV_DEAD:
    case SWIM_EV_LEFT:
        if (!b->crashed[x]) {
            /* A death is the stall's doing when its suspicion began while
             * the member was impaired. */
            if (ev->origin)
                set_add(impaired(b, x, now) ||
                                set_has(&b->susp_impaired, incident)
                            ? &b->dead_impaired
                            : &b->dead_healthy,
                        incident);
            break;
        }
        if (b->tracking_meta)
            break;
        for (size_t i = 0; i < b->n_tr; i++) {
            struct tracked *t = &b->tr[i];
            if (t->target != x || t->seen[observer])
                continue;
            t->seen[observer] = 1;
            if (t->missing > 0 && --t->missing == 0)
                t->done = now;
        }
        break;
    case SWIM_EV_UPDATED:
    case SWIM_EV_JOINED:
        if (!b->tracking_meta)
            break;
        for (size_t i = 0; i < b->n_tr; i++) {
            struct tracked *t = &b->tr[i];
            if (t->target != x || t->seen[observer] ||
                ev->member.meta_version < t->version)
                continue;
            t->seen[observer] = 1;
            t->have++;
            if (t->t999 < 0 && t->have >= t->need999)
                t->t999 = now;
            if (t->missing > 0 && --t->missing == 0)
                t->done = now;
        }
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* Helpers. */

static double now_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* pct - nearest-rank percentile of n samples (sorted in place); -1 when a
 * sample never completed (stored as INT64_MAX). */
static int64_t pct(int64_t *v, size_t n, double p)
{
    if (n == 0)
        return -1;
    qsort(v, n, sizeof(*v), cmp_i64);
    size_t rank = (size_t)ceil(p * (double)n);
    if (rank < 1)
        rank = 1;
    int64_t x = v[rank - 1];
    return x == INT64_MAX ? -1 : x;
}

static size_t running(const struct bench *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        n += swim_sim_running(b->sim, i);
    return n;
}

static size_t random_running(struct bench *b)
{
    for (;;) {
        size_t i = (size_t)cl_rng_below(&b->rng, b->n);
        if (swim_sim_running(b->sim, i) && !b->crashed[i])
            return i;
    }
}

static void make_meta(size_t i, uint32_t cores_free, uint8_t **out, size_t *len)
{
    struct swim_meta m;
    char url[64], rack[16];
    swim_meta_init(&m);
    m.role = i == 0 ? SWIM_ROLE_COORDINATOR : SWIM_ROLE_AGENT;
    snprintf(url, sizeof(url), "tcp://10.%zu.%zu.%zu:7100", (i >> 16) & 255,
             (i >> 8) & 255, i & 255);
    swim_meta_set_endpoint(&m, "control", url);
    snprintf(url, sizeof(url), "tcp://10.%zu.%zu.%zu:7200", (i >> 16) & 255,
             (i >> 8) & 255, i & 255);
    swim_meta_set_endpoint(&m, "artifacts", url);
    snprintf(rack, sizeof(rack), "r%zu", i / 40);
    swim_meta_set_label(&m, "rack", rack);
    swim_meta_set_label(&m, "gpu", "a100");
    m.resources.cores_total = 64;
    m.resources.cores_free = cores_free;
    m.resources.memory_total = 512ULL << 30;
    m.resources.memory_free = 300ULL << 30;
    m.resources.gpus_total = 8;
    m.resources.gpus_free = 8;
    if (swim_meta_pack(&m, out, len) != 0) {
        fprintf(stderr, "bench: metadata does not pack\n");
        exit(1);
    }
    swim_meta_free(&m);
}

static void reset_counters(struct bench *b)
{
    set_clear(&b->susp_healthy);
    set_clear(&b->susp_impaired);
    set_clear(&b->dead_healthy);
    set_clear(&b->dead_impaired);
    b->susp_by_stalled = 0;
}

/* ------------------------------------------------------------------------ */
/* Phases. */

struct fd_result {
    double seconds;
    uint64_t susp_healthy;
    uint64_t susp_impaired;
    uint64_t susp_by_stalled;
    uint64_t dead_healthy;
    uint64_t dead_impaired;
    uint64_t stalls;
    double bytes_per_member;
};

/* run_fd - T seconds at loss `loss`, stalling members when `stall`. */
static void run_fd(struct bench *b, double loss, bool stall, double seconds,
                   struct fd_result *r)
{
    swim_sim_set_loss(b->sim, loss);
    swim_sim_run_for(b->sim, 5000); /* settle into the new loss */
    reset_counters(b);
    memset(r, 0, sizeof(*r));
    uint64_t bytes0 = swim_sim_stats(b->sim)->bytes_sent;
    int64_t start = swim_sim_now(b->sim);
    int64_t end = start + (int64_t)(seconds * 1000);
    size_t live = running(b);
    double rate = stall ? STALL_FRACTION / (STALL_MS / 1000.0) * (double)live
                        : 0; /* stalls per second */
    int64_t next = INT64_MAX;
    if (stall)
        next =
            start + (int64_t)(-log(1 - cl_rng_double(&b->rng)) / rate * 1000.0);
    while (swim_sim_now(b->sim) < end) {
        int64_t until = next < end ? next : end;
        swim_sim_run_until(b->sim, until);
        if (stall && swim_sim_now(b->sim) >= next) {
            int64_t now = swim_sim_now(b->sim);
            size_t i = random_running(b);
            if (!swim_sim_stalled(b->sim, i)) {
                swim_sim_stall(b->sim, i, STALL_MS, SWIM_SIM_STALL_RECV);
                b->stall_start[i] = now;
                b->stall_end[i] = now + STALL_MS;
                r->stalls++;
            }
            next = now + 1 +
                   (int64_t)(-log(1 - cl_rng_double(&b->rng)) / rate * 1000.0);
        }
    }
    r->seconds = seconds;
    r->susp_healthy = b->susp_healthy.n;
    r->susp_impaired = b->susp_impaired.n;
    r->susp_by_stalled = b->susp_by_stalled;
    r->dead_healthy = b->dead_healthy.n;
    r->dead_impaired = b->dead_impaired.n;
    r->bytes_per_member =
        (double)(swim_sim_stats(b->sim)->bytes_sent - bytes0) / (double)live /
        seconds;
    /* Let the last stalls end before the next phase. */
    swim_sim_run_for(b->sim, STALL_MS + STALL_GRACE_MS);
}

struct timing {
    size_t samples;
    size_t incomplete;
    int64_t first_p50, first_p99;
    int64_t t999_p50, t999_p99;
    int64_t done_p50, done_p99;
};

static void start_tracked(struct bench *b, size_t count)
{
    b->tr = calloc(count, sizeof(*b->tr));
    b->n_tr = 0;
}

static void finish_tracked(struct bench *b, struct timing *t)
{
    int64_t *first = calloc(b->n_tr + 1, sizeof(int64_t));
    int64_t *t999 = calloc(b->n_tr + 1, sizeof(int64_t));
    int64_t *done = calloc(b->n_tr + 1, sizeof(int64_t));
    memset(t, 0, sizeof(*t));
    for (size_t i = 0; i < b->n_tr; i++) {
        struct tracked *x = &b->tr[i];
        first[i] = x->first >= 0 ? x->first - x->start : INT64_MAX;
        t999[i] = x->t999 >= 0 ? x->t999 - x->start : INT64_MAX;
        done[i] = x->done >= 0 ? x->done - x->start : INT64_MAX;
        t->incomplete += x->done < 0;
        free(x->seen);
    }
    t->samples = b->n_tr;
    t->first_p50 = pct(first, b->n_tr, 0.50);
    t->first_p99 = pct(first, b->n_tr, 0.99);
    t->t999_p50 = pct(t999, b->n_tr, 0.50);
    t->t999_p99 = pct(t999, b->n_tr, 0.99);
    t->done_p50 = pct(done, b->n_tr, 0.50);
    t->done_p99 = pct(done, b->n_tr, 0.99);
    free(first);
    free(t999);
    free(done);
    free(b->tr);
    b->tr = NULL;
    b->n_tr = 0;
}

static bool all_done(const struct bench *b)
{
    for (size_t i = 0; i < b->n_tr; i++)
        if (b->tr[i].done < 0)
            return false;
    return true;
}

static void run_meta(struct bench *b, size_t changes, struct timing *t)
{
    swim_sim_set_loss(b->sim, 0.10);
    swim_sim_run_for(b->sim, 5000);
    start_tracked(b, changes);
    b->tracking_meta = true;
    for (size_t k = 0; k < changes; k++) {
        size_t who = random_running(b);
        struct swim_member_info me;
        swim_member_find(swim_sim_core(b->sim, who), swim_sim_name(b->sim, who),
                         &me);
        uint8_t *meta;
        size_t len;
        make_meta(who, 10 + (uint32_t)k, &meta, &len);
        struct tracked *x = &b->tr[b->n_tr++];
        x->target = who;
        x->version = me.meta_version + 1;
        x->start = swim_sim_now(b->sim);
        x->first = x->t999 = x->done = -1;
        size_t live = running(b);
        x->missing = live - 1;
        x->need999 = (size_t)ceil(0.999 * (double)live) - 1;
        x->seen = calloc(b->n, 1);
        x->seen[who] = 1;
        swim_sim_set_meta(b->sim, who, meta, len);
        cl_free(meta);
        swim_sim_run_for(b->sim, 1000);
    }
    int64_t limit = swim_sim_now(b->sim) + 60000;
    while (!all_done(b) && swim_sim_now(b->sim) < limit)
        swim_sim_run_for(b->sim, 100);
    b->tracking_meta = false;
    finish_tracked(b, t);
}

static void run_crashes(struct bench *b, size_t crashes, struct timing *t)
{
    swim_sim_set_loss(b->sim, 0.10);
    swim_sim_run_for(b->sim, 5000);
    start_tracked(b, crashes);
    for (size_t k = 0; k < crashes; k++) {
        size_t v = random_running(b);
        /* Observers killed now no longer have to see earlier victims. */
        for (size_t i = 0; i < b->n_tr; i++) {
            struct tracked *x = &b->tr[i];
            if (!x->seen[v] && x->missing > 0 && --x->missing == 0)
                x->done = swim_sim_now(b->sim);
        }
        b->crashed[v] = true;
        swim_sim_kill(b->sim, v);
        struct tracked *x = &b->tr[b->n_tr++];
        x->target = v;
        x->start = swim_sim_now(b->sim);
        x->first = x->t999 = x->done = -1;
        x->missing = running(b);
        x->seen = calloc(b->n, 1);
        swim_sim_run_for(b->sim, 1000);
    }
    int64_t limit = swim_sim_now(b->sim) + 60000;
    while (!all_done(b) && swim_sim_now(b->sim) < limit)
        swim_sim_run_for(b->sim, 100);
    finish_tracked(b, t);
}

/* ------------------------------------------------------------------------ */

struct mode_result {
    const char *mode;
    struct fd_result fd[3];    /* 0%, 10%, 30% */
    struct fd_result stall[2]; /* 0%, 10% */
    struct timing meta;
    struct timing crash;
    double wall;
};

/* new_cluster - a bootstrapped cluster of n members with metadata. */
static void new_cluster(struct bench *b, size_t n, bool lifeguard,
                        uint64_t seed)
{
    memset(b, 0, sizeof(*b));
    b->n = n;
    cl_rng_seed(&b->rng, seed ^ 0x5eed);
    b->crashed = calloc(n, sizeof(bool));
    b->stall_start = calloc(n, sizeof(int64_t));
    b->stall_end = calloc(n, sizeof(int64_t));
    struct swim_sim_config c;
    swim_sim_config_default(&c);
    c.seed = seed;
    c.name_prefix = PREFIX;
    c.swim.lifeguard = lifeguard ? SWIM_LIFEGUARD_ALL : 0;
    c.on_event = on_event;
    c.data = b;
    if (swim_sim_new(&c, &b->sim) != 0 || swim_sim_add(b->sim, n, NULL) != 0) {
        fprintf(stderr, "bench: cannot create the simulator\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t *meta;
        size_t len;
        make_meta(i, 32, &meta, &len);
        swim_sim_set_meta(b->sim, i, meta, len);
        cl_free(meta);
    }
    if (swim_sim_bootstrap(b->sim) != 0) {
        fprintf(stderr, "bench: bootstrap failed\n");
        exit(1);
    }
}

static void free_cluster(struct bench *b)
{
    swim_sim_free(b->sim);
    reset_counters(b);
    free(b->crashed);
    free(b->stall_start);
    free(b->stall_end);
}

/* run_mode - every phase for one N and one mode. The 30% loss phase runs
 * on a cluster of its own so that what it does cannot leak into the
 * others. */
static void run_mode(size_t n, bool lifeguard, uint64_t seed, double seconds,
                     double stall_seconds, size_t crashes,
                     struct mode_result *r)
{
    double w0 = now_wall();
    struct bench b;
    memset(r, 0, sizeof(*r));
    r->mode = lifeguard ? "lifeguard" : "swim";
    new_cluster(&b, n, lifeguard, seed);
    run_fd(&b, 0.0, false, seconds, &r->fd[0]);
    run_fd(&b, 0.10, false, seconds, &r->fd[1]);
    fprintf(stderr, "  n=%zu %s loss 0%%/10%%: %.0fs wall\n", n, r->mode,
            now_wall() - w0);
    run_meta(&b, crashes, &r->meta);
    run_crashes(&b, crashes, &r->crash);
    fprintf(stderr, "  n=%zu %s metadata, crashes: %.0fs wall\n", n, r->mode,
            now_wall() - w0);
    /* Stalls last: without Lifeguard they leave the cluster churning. */
    if (stall_seconds > 0) {
        run_fd(&b, 0.0, true, stall_seconds, &r->stall[0]);
        run_fd(&b, 0.10, true, stall_seconds, &r->stall[1]);
        fprintf(stderr, "  n=%zu %s stalls: %.0fs wall\n", n, r->mode,
                now_wall() - w0);
    }
    free_cluster(&b);
    new_cluster(&b, n, lifeguard, seed + 1);
    run_fd(&b, 0.30, false, seconds, &r->fd[2]);
    free_cluster(&b);
    r->wall = now_wall() - w0;
    fprintf(stderr, "  n=%zu %s done: %.0fs wall\n", n, r->mode, r->wall);
}

static void print_ms(int64_t v)
{
    if (v < 0)
        printf(" %7s", ">60s");
    else
        printf(" %7lld", (long long)v);
}

static void print_table(size_t n, const struct mode_result *r, int nr)
{
    printf("\nN = %zu (%.0f simulated s per loss phase, %.0f s per stall "
           "phase; crash and metadata phases at 10%% loss)\n",
           n, r[0].fd[0].seconds, r[0].stall[0].seconds);
    printf("%-10s %7s %7s %7s %7s | %7s %7s %7s %7s |"
           " %5s %5s %5s | %5s %5s %5s | %6s %6s %6s\n",
           "mode", "susp50", "susp99", "dead50", "dead99", "meta999", "meta99",
           "all50", "all99", "FD0", "FD10", "FD30", "FS0", "FS10", "FS30",
           "B/s0", "B/s10", "B/s30");
    for (int k = 0; k < nr; k++) {
        const struct mode_result *m = &r[k];
        printf("%-10s", m->mode);
        print_ms(m->crash.first_p50);
        print_ms(m->crash.first_p99);
        print_ms(m->crash.done_p50);
        print_ms(m->crash.done_p99);
        printf(" |");
        print_ms(m->meta.t999_p50);
        print_ms(m->meta.t999_p99);
        print_ms(m->meta.done_p50);
        print_ms(m->meta.done_p99);
        printf(" | %5llu %5llu %5llu | %5llu %5llu %5llu | %6.0f %6.0f "
               "%6.0f\n",
               (unsigned long long)m->fd[0].dead_healthy,
               (unsigned long long)m->fd[1].dead_healthy,
               (unsigned long long)m->fd[2].dead_healthy,
               (unsigned long long)m->fd[0].susp_healthy,
               (unsigned long long)m->fd[1].susp_healthy,
               (unsigned long long)m->fd[2].susp_healthy,
               m->fd[0].bytes_per_member, m->fd[1].bytes_per_member,
               m->fd[2].bytes_per_member);
    }
    if (r[0].stall[0].seconds <= 0) {
        printf("stalls: not run at this size\n");
        goto tail;
    }
    printf("%-10s %6s %6s %7s %7s %7s %7s | %6s %6s %7s %7s %7s %7s\n",
           "stalls", "st0", "FS0", "byStl0", "FDh0", "FDst0", "B/s0", "st10",
           "FS10", "byStl10", "FDh10", "FDst10", "B/s10");
    for (int k = 0; k < nr; k++) {
        const struct fd_result *a = &r[k].stall[0], *b = &r[k].stall[1];
        printf("%-10s %6llu %6llu %7llu %7llu %7llu %7.0f | %6llu %6llu "
               "%7llu %7llu %7llu %7.0f\n",
               r[k].mode, (unsigned long long)a->stalls,
               (unsigned long long)a->susp_healthy,
               (unsigned long long)a->susp_by_stalled,
               (unsigned long long)a->dead_healthy,
               (unsigned long long)a->dead_impaired, a->bytes_per_member,
               (unsigned long long)b->stalls,
               (unsigned long long)b->susp_healthy,
               (unsigned long long)b->susp_by_stalled,
               (unsigned long long)b->dead_healthy,
               (unsigned long long)b->dead_impaired, b->bytes_per_member);
    }
tail:
    for (int k = 0; k < nr; k++)
        printf("%-10s crashes %zu (incomplete %zu), metadata changes %zu "
               "(incomplete %zu), wall %.0f s\n",
               r[k].mode, r[k].crash.samples, r[k].crash.incomplete,
               r[k].meta.samples, r[k].meta.incomplete, r[k].wall);
}

static void json_fd(const char *key, const struct fd_result *f, bool comma)
{
    printf("\"%s\":{\"seconds\":%.0f,\"false_suspicions\":%llu,"
           "\"false_deaths\":%llu,\"suspicions_of_stalled\":%llu,"
           "\"suspicions_by_stalled\":%llu,\"deaths_of_stalled\":%llu,"
           "\"stalls\":%llu,\"bytes_per_s_per_member\":%.1f}%s",
           key, f->seconds, (unsigned long long)f->susp_healthy,
           (unsigned long long)f->dead_healthy,
           (unsigned long long)f->susp_impaired,
           (unsigned long long)f->susp_by_stalled,
           (unsigned long long)f->dead_impaired, (unsigned long long)f->stalls,
           f->bytes_per_member, comma ? "," : "");
}

static void json_mode(const struct mode_result *m)
{
    printf("\"%s\":{\"crash\":{\"samples\":%zu,\"incomplete\":%zu,"
           "\"first_suspect_ms\":{\"p50\":%lld,\"p99\":%lld},"
           "\"all_dead_ms\":{\"p50\":%lld,\"p99\":%lld}},",
           m->mode, m->crash.samples, m->crash.incomplete,
           (long long)m->crash.first_p50, (long long)m->crash.first_p99,
           (long long)m->crash.done_p50, (long long)m->crash.done_p99);
    printf("\"metadata\":{\"samples\":%zu,\"incomplete\":%zu,"
           "\"p999_ms\":{\"p50\":%lld,\"p99\":%lld},"
           "\"all_ms\":{\"p50\":%lld,\"p99\":%lld}},",
           m->meta.samples, m->meta.incomplete, (long long)m->meta.t999_p50,
           (long long)m->meta.t999_p99, (long long)m->meta.done_p50,
           (long long)m->meta.done_p99);
    json_fd("loss0", &m->fd[0], true);
    json_fd("loss10", &m->fd[1], true);
    json_fd("loss30", &m->fd[2], true);
    json_fd("stall_loss0", &m->stall[0], true);
    json_fd("stall_loss10", &m->stall[1], false);
    printf("}");
}

static double ratio(uint64_t a, uint64_t b)
{
    return (double)a / (double)(b ? b : 1);
}

static void print_json(size_t n, const struct mode_result *r, int nr)
{
    printf("{\"n\":%zu,", n);
    for (int k = 0; k < nr; k++) {
        json_mode(&r[k]);
        printf(",");
    }
    const struct mode_result *lg = &r[0];
    const struct mode_result *sw = nr > 1 ? &r[1] : NULL;
    double hours = lg->fd[1].seconds / 3600.0;
    printf("\"goals\":{\"crash_all_dead_p99_le_3000ms\":%s,"
           "\"meta_999_p99_le_1500ms\":%s,"
           "\"zero_false_deaths_loss10\":%s,\"false_death_hours\":%.3f,"
           "\"bytes_le_2048_loss10\":%s",
           lg->crash.done_p99 >= 0 && lg->crash.done_p99 <= 3000 ? "true"
                                                                 : "false",
           lg->meta.t999_p99 >= 0 && lg->meta.t999_p99 <= 1500 ? "true"
                                                               : "false",
           lg->fd[1].dead_healthy == 0 ? "true" : "false", hours,
           lg->fd[1].bytes_per_member <= 2048 ? "true" : "false");
    if (sw != NULL && lg->stall[0].seconds > 0) {
        printf(
            ",\"stall_false_suspicion_ratio_loss0\":%.1f,"
            "\"stall_false_suspicion_ratio_loss10\":%.2f,"
            "\"stall_suspicions_by_stalled_ratio_loss10\":%.1f",
            ratio(sw->stall[0].susp_healthy, lg->stall[0].susp_healthy),
            ratio(sw->stall[1].susp_healthy, lg->stall[1].susp_healthy),
            ratio(sw->stall[1].susp_by_stalled, lg->stall[1].susp_by_stalled));
    }
    printf("}}\n");
}

/* Phase lengths by cluster size, unless given: an hour for loss phases up
 * to 1,000 members; stall phases, whose churn dominates the cost (every
 * stall kills and revives a member: three updates sent ~log n times by
 * every member), are shorter at 1,000 and not run at 10,000 (1% stalled
 * is 50 stalls a second; about half a minute of wall time per simulated
 * second). Loss phases at 10,000 last five minutes. */
static void durations(size_t n, double seconds, double stall_seconds,
                      double *loss, double *stall)
{
    if (n >= 10000) {
        *loss = 300;
        *stall = 0;
    } else if (n >= 1000) {
        *loss = 3600;
        *stall = 300;
    } else {
        *loss = 3600;
        *stall = 3600;
    }
    if (seconds > 0)
        *loss = seconds;
    if (stall_seconds >= 0)
        *stall = stall_seconds;
}

int main(int argc, char **argv)
{
    size_t sizes[8] = {100, 1000, 10000};
    size_t n_sizes = 3;
    double seconds = 0, stall_seconds = -1;
    size_t crashes = 20, crashes_10k = 20;
    bool crashes_given = false;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            n_sizes = 2;
            seconds = 300;
            stall_seconds = 60;
            crashes = 20;
            crashes_given = true;
        } else if (strcmp(argv[i], "--smoke") == 0) {
            sizes[0] = 40;
            n_sizes = 1;
            seconds = 20;
            stall_seconds = 20;
            crashes = 5;
            crashes_given = true;
        } else if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc) {
            n_sizes = 0;
            for (char *p = argv[++i]; *p && n_sizes < 8;) {
                sizes[n_sizes++] = (size_t)strtoul(p, &p, 10);
                if (*p == ',')
                    p++;
            }
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (strcmp(argv[i], "--stall-seconds") == 0 && i + 1 < argc) {
            stall_seconds = atof(argv[++i]);
        } else if (strcmp(argv[i], "--crashes") == 0 && i + 1 < argc) {
            crashes = crashes_10k = (size_t)atoi(argv[++i]);
            crashes_given = true;
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else {
            fprintf(stderr,
                    "usage: %s [--quick|--smoke] [--sizes N,N] [--seconds S]"
                    " [--stall-seconds S] [--crashes K] [--seed S]\n",
                    argv[0]);
            return 2;
        }
    }
    struct swim_config d;
    swim_config_default(&d);
    printf("gossip benchmark: default LAN profile (probe %lld ms, ping "
           "retransmit %lld ms x%u, k=%u, gossip %lld ms x%u, retransmit "
           "x%u, suspicion x%u..x%u with %u confirmations, %u last-chance "
           "pings, push-pull %lld ms); one-way latency 100-300 us\n",
           (long long)d.probe_interval_ms, (long long)d.probe_timeout_ms,
           d.probe_attempts, d.indirect_checks, (long long)d.gossip_interval_ms,
           d.gossip_fanout, d.retransmit_mult, d.suspicion_mult,
           d.suspicion_mult * d.suspicion_max_mult, d.suspicion_confirmations,
           d.final_checks, (long long)d.push_pull_interval_ms);
    printf("columns: susp/dead = crash first suspected / dead at every live "
           "member (ms); meta999/meta99 = metadata at 99.9%% of members, "
           "p50/p99 (ms); all = at 100%%; FDx / FSx = false deaths / false "
           "suspicions of healthy members at x%% loss; B/s = bytes sent per "
           "member per second; stalls: st = stalls, byStl = false suspicions "
           "raised by stalled members, FDh / FDst = false deaths of healthy / "
           "of stalled members\n");
    struct mode_result all[8][2];
    for (size_t s = 0; s < n_sizes; s++) {
        size_t n = sizes[s];
        double loss_s, stall_s;
        durations(n, seconds, stall_seconds, &loss_s, &stall_s);
        size_t k = crashes;
        if (!crashes_given)
            k = n >= 10000 ? crashes_10k : n >= 1000 ? 50 : 20;
        run_mode(n, true, seed, loss_s, stall_s, k, &all[s][0]);
        run_mode(n, false, seed, loss_s, stall_s, k, &all[s][1]);
        print_table(n, all[s], 2);
        fflush(stdout);
    }
    printf("\n");
    for (size_t s = 0; s < n_sizes; s++)
        print_json(sizes[s], all[s], 2);
    return 0;
}
