/* Simulator tests (gossip/swim_sim.c): whole clusters in virtual time.
 * Exact virtual times and message counts for small clusters, partitions
 * that heal, crashes declared dead by every member within a bound, leave,
 * rejoin, stalls with and without Lifeguard, determinism. */
#include "fixture.h"

#include <stdlib.h>
#include <string.h>

#include "common/cl_err.h"

static int setup(void **state)
{
    (void)state;
    fx_heap_install();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    long left = fx_heap_outstanding();
    fx_heap_uninstall();
    assert_int_equal(left, 0);
    return 0;
}

/* A network with a fixed 1 ms one-way latency. */
static void fixed_config(struct swim_sim_config *c, uint64_t seed)
{
    swim_sim_config_default(c);
    c->seed = seed;
    c->latency.min_us = 1000;
    c->latency.max_us = 1000;
}

typedef bool (*sim_pred)(struct fx_sim *f, void *arg);

/* run_until_true - advance in steps of step_ms until pred holds; returns
 * the virtual time it first held at a step, or -1 past deadline_ms. */
static int64_t run_until_true(struct fx_sim *f, sim_pred pred, void *arg,
                              int64_t deadline_ms, int64_t step_ms)
{
    while (swim_sim_now(f->sim) <= deadline_ms) {
        if (pred(f, arg))
            return swim_sim_now(f->sim);
        swim_sim_run_for(f->sim, step_ms);
    }
    return -1;
}

static bool converged(struct fx_sim *f, void *arg)
{
    (void)arg;
    return swim_sim_converged(f->sim);
}

struct seen {
    size_t target;
    enum swim_state st;
    size_t want;
};

static bool all_see(struct fx_sim *f, void *arg)
{
    struct seen *s = arg;
    return swim_sim_count_view(f->sim, s->target, s->st) >= s->want;
}

static size_t running(const struct fx_sim *f)
{
    size_t n = 0;
    for (size_t i = 0; i < swim_sim_size(f->sim); i++)
        n += swim_sim_running(f->sim, i);
    return n;
}

/* ------------------------------------------------------------------------ */

/* Five members, no loss, no anti-entropy: the only traffic is one ping and
 * one ack per probe, one probe per member per 200 ms period. */
static void test_steady_state_counts(void **state)
{
    (void)state;
    struct swim_sim_config c;
    fixed_config(&c, 11);
    c.swim.push_pull_interval_ms = 0;
    c.swim.reconnect_interval_ms = 0;
    struct fx_sim f;
    fx_sim_new(&f, &c, 5, true);
    swim_sim_run_until(f.sim, 10000);
    assert_int_equal(f.log.n, 0);
    uint64_t probes = 0, pings = 0, acks = 0, other = 0;
    for (size_t i = 0; i < 5; i++) {
        const struct swim_stats *st = swim_stats(swim_sim_core(f.sim, i));
        /* A first probe in [0, 200), then one every 200 ms up to 10 s. */
        assert_in_range(st->probes, 50, 51);
        assert_int_equal(st->probes_failed, 0);
        probes += st->probes;
        pings += st->pings_sent;
        acks += st->acks_sent;
        other += st->ping_reqs_sent + st->nacks_sent + st->gossip_sent +
                 st->push_pull_sent;
        assert_int_equal(st->packets_sent, st->pings_sent + st->acks_sent);
        assert_int_equal(swim_health(swim_sim_core(f.sim, i)), 0);
    }
    assert_int_equal(pings, probes);
    assert_int_equal(other, 0);
    /* Acks of pings sent in the last millisecond are not out yet. */
    assert_in_range(pings - acks, 0, 5);
    const struct swim_sim_stats *ss = swim_sim_stats(f.sim);
    assert_int_equal(ss->sent, pings + acks);
    assert_int_equal(
        ss->dropped_loss + ss->dropped_partition + ss->dropped_down, 0);
    /* Every datagram is a ping or an ack: 5 to 6 bytes of body plus the
     * name, plus the seal. */
    assert_in_range(ss->bytes_sent / ss->sent, SWIM_SEAL_OVERHEAD + 4,
                    SWIM_SEAL_OVERHEAD + 16);
    fx_sim_free(&f);
}

/* A crash in a three-member cluster, step by step. With n = 3 the Lifeguard
 * timeout is its minimum, 2 * 1 * 200 = 400 ms, followed by the last-chance
 * pings (final_checks probe timeouts); the link takes exactly 1 ms. */
static void test_crash_exact_times(void **state)
{
    (void)state;
    struct swim_sim_config c;
    fixed_config(&c, 5);
    struct fx_sim f;
    fx_sim_new(&f, &c, 3, true);
    swim_sim_run_until(f.sim, 5000);
    assert_int_equal(swim_sim_kill(f.sim, 2), 0);
    swim_sim_run_until(f.sim, 15000);
    const struct fx_event *s =
        fx_log_first(&f.log, SWIM_EV_SUSPECT, "n2", SIZE_MAX);
    assert_non_null(s);
    assert_true(s->origin);
    size_t o = s->observer, other = 1 - o;
    int64_t ts = s->t;
    /* The probe that failed began one period earlier, after the crash. */
    assert_true(ts - 200 >= 5000 - 1);
    assert_true(ts <= 5000 + 3 * 200 + 200);
    const struct fx_event *s2 =
        fx_log_first(&f.log, SWIM_EV_SUSPECT, "n2", other);
    assert_non_null(s2);
    assert_int_equal(s2->t, ts + 1); /* gossiped at once, 1 ms away */
    const struct fx_event *d = fx_log_first(&f.log, SWIM_EV_DEAD, "n2", o);
    assert_non_null(d);
    assert_int_equal(swim_suspicion_timeout(&c.swim, 3, 0), 400);
    const int64_t final = c.swim.final_checks * c.swim.probe_timeout_ms;
    assert_int_equal(d->t, ts + 400 + final);
    const struct fx_event *d2 = fx_log_first(&f.log, SWIM_EV_DEAD, "n2", other);
    assert_non_null(d2);
    assert_int_equal(d2->t, ts + 401 + final);
    /* The originator's failed probe: direct pings, then a ping-req to the
     * only other member, which answered with a nack. (A second probe of
     * the suspect before the deadline may have failed too: a
     * confirmation, not a new suspicion.) */
    const struct swim_stats *st = swim_stats(swim_sim_core(f.sim, o));
    assert_in_range(st->probes_failed, 1, 3);
    assert_int_equal(st->suspicions_raised, 1);
    assert_true(st->ping_reqs_sent >= 1);
    assert_true(swim_stats(swim_sim_core(f.sim, other))->nacks_sent >= 1);
    assert_int_equal(fx_log_count(&f.log, SWIM_EV_DEAD, NULL, SIZE_MAX), 2);
    fx_sim_free(&f);
}

static uint64_t scenario(uint64_t seed, struct swim_sim_stats *stats)
{
    struct swim_sim_config c;
    swim_sim_config_default(&c);
    c.seed = seed;
    c.loss = 0.05;
    struct fx_sim f;
    fx_sim_new(&f, &c, 12, true);
    swim_sim_run_until(f.sim, 3000);
    swim_sim_kill(f.sim, 4);
    swim_sim_set_meta(f.sim, 7, "v1", 2);
    swim_sim_run_until(f.sim, 12000);
    uint64_t h = fx_log_hash(&f.log);
    *stats = *swim_sim_stats(f.sim);
    fx_sim_free(&f);
    return h;
}

static void test_determinism(void **state)
{
    (void)state;
    struct swim_sim_stats a, b, x;
    uint64_t h1 = scenario(7, &a);
    uint64_t h2 = scenario(7, &b);
    uint64_t h3 = scenario(8, &x);
    assert_int_equal(h1, h2);
    assert_memory_equal(&a, &b, sizeof(a));
    assert_int_not_equal(h1, h3);
    assert_true(a.dropped_loss > 0);
}

/* A symmetric partition splits the cluster in two; each side declares the
 * other dead; once healed, reconnection and refutation merge it again. */
static void test_partition_heals(void **state)
{
    (void)state;
    struct swim_sim_config c;
    swim_sim_config_default(&c);
    c.seed = 3;
    struct fx_sim f;
    fx_sim_new(&f, &c, 10, true);
    for (size_t i = 5; i < 10; i++)
        swim_sim_set_group(f.sim, i, 1);
    swim_sim_run_until(f.sim, 2000);
    swim_sim_block(f.sim, 0, 1, true);
    swim_sim_block(f.sim, 1, 0, true);
    swim_sim_run_until(f.sim, 20000);
    for (size_t i = 0; i < 10; i++)
        for (size_t j = 0; j < 10; j++) {
            enum swim_state v;
            assert_int_equal(swim_sim_view(f.sim, i, j, &v), 0);
            bool same = (i < 5) == (j < 5);
            assert_int_equal(v, same ? SWIM_ALIVE : SWIM_DEAD);
        }
    swim_sim_heal(f.sim);
    int64_t t = run_until_true(&f, converged, NULL, 20000 + 40000, 100);
    assert_true(t > 0);
    /* Each side's members came back by raising their incarnations. */
    for (size_t i = 0; i < 10; i++)
        assert_true(swim_incarnation(swim_sim_core(f.sim, i)) >= 1);
    assert_true(fx_log_count(&f.log, SWIM_EV_ALIVE, NULL, SIZE_MAX) >= 50);
    fx_sim_free(&f);
}

/* An asymmetric partition: member 7 hears everyone, nobody hears it. The
 * others declare it dead; Lifeguard keeps 7 from accusing them (its probes
 * fail without nacks); healed, it is alive everywhere again. */
static void test_asymmetric_partition(void **state)
{
    (void)state;
    struct swim_sim_config c;
    swim_sim_config_default(&c);
    c.seed = 4;
    struct fx_sim f;
    fx_sim_new(&f, &c, 8, true);
    swim_sim_set_group(f.sim, 7, 1);
    swim_sim_run_until(f.sim, 1000);
    swim_sim_block(f.sim, 1, 0, true);
    struct seen dead7 = {7, SWIM_DEAD, 7};
    int64_t t = run_until_true(&f, all_see, &dead7, 15000, 50);
    assert_true(t > 0);
    swim_sim_run_until(f.sim, 20000);
    for (size_t j = 0; j < 7; j++) {
        enum swim_state v;
        assert_int_equal(swim_sim_view(f.sim, 7, j, &v), 0);
        assert_int_equal(v, SWIM_ALIVE);
    }
    assert_int_equal(fx_log_count(&f.log, SWIM_EV_SUSPECT, NULL, 7), 0);
    assert_true(swim_stats(swim_sim_core(f.sim, 7))->probe_self_blamed > 0);
    assert_true(swim_health(swim_sim_core(f.sim, 7)) > 0);
    swim_sim_heal(f.sim);
    t = run_until_true(&f, converged, NULL, 20000 + 30000, 100);
    assert_true(t > 0);
    fx_sim_free(&f);
}

/* Crashed members are declared dead by every live member within a bound,
 * under 10% loss, and no healthy member is declared dead. */
static void test_crash_dead_within_bound(void **state)
{
    (void)state;
    struct swim_sim_config c;
    swim_sim_config_default(&c);
    c.seed = 21;
    c.loss = 0.10;
    struct fx_sim f;
    fx_sim_new(&f, &c, 64, true);
    swim_sim_run_until(f.sim, 10000);
    size_t victims[4] = {3, 17, 40, 63};
    for (int k = 0; k < 4; k++)
        assert_int_equal(swim_sim_kill(f.sim, victims[k]), 0);
    for (int k = 0; k < 4; k++) {
        struct seen s = {victims[k], SWIM_DEAD, 60};
        int64_t t = run_until_true(&f, all_see, &s, 10000 + 8000, 10);
        assert_true(t > 0);
    }
    swim_sim_run_until(f.sim, 30000);
    for (size_t i = 0; i < f.log.n; i++) {
        const struct fx_event *e = &f.log.ev[i];
        if (e->type != SWIM_EV_DEAD)
            continue;
        int idx = atoi(e->name + 1);
        assert_true(idx == 3 || idx == 17 || idx == 40 || idx == 63);
    }
    fx_sim_free(&f);
}

static void test_leave(void **state)
{
    (void)state;
    struct swim_sim_config c;
    swim_sim_config_default(&c);
    c.seed = 9;
    c.loss = 0.05;
    struct fx_sim f;
    fx_sim_new(&f, &c, 20, true);
    swim_sim_run_until(f.sim, 2000);
    assert_int_equal(swim_sim_leave(f.sim, 3), 0);
    struct seen s = {3, SWIM_LEFT, 19};
    int64_t t = run_until_true(&f, all_see, &s, 2000 + 5000, 10);
    assert_true(t > 0);
    assert_true(swim_leave_done(swim_sim_core(f.sim, 3)));
    swim_sim_kill(f.sim, 3);
    swim_sim_run_until(f.sim, 20000);
    assert_int_equal(fx_log_count(&f.log, SWIM_EV_DEAD, "n3", SIZE_MAX), 0);
    assert_int_equal(fx_log_count(&f.log, SWIM_EV_SUSPECT, "n3", SIZE_MAX), 0);
    assert_int_equal(fx_log_count(&f.log, SWIM_EV_LEFT, "n3", SIZE_MAX), 19);
    assert_int_equal(swim_sim_count_view(f.sim, 3, SWIM_LEFT), 19);
    fx_sim_free(&f);
}

/* A crashed member restarts as a fresh process and rejoins: everyone sees
 * it alive again, above the incarnation it died at. */
static void test_rejoin(void **state)
{
    (void)state;
    struct swim_sim_config c;
    swim_sim_config_default(&c);
    c.seed = 10;
    struct fx_sim f;
    fx_sim_new(&f, &c, 20, true);
    swim_sim_run_until(f.sim, 1000);
    swim_sim_kill(f.sim, 5);
    struct seen s = {5, SWIM_DEAD, 19};
    assert_true(run_until_true(&f, all_see, &s, 10000, 10) > 0);
    assert_int_equal(swim_sim_kill(f.sim, 5), CL_ESTATE);
    assert_int_equal(swim_sim_revive(f.sim, 5, 0), 0);
    assert_int_equal(swim_sim_revive(f.sim, 5, 0), CL_ESTATE);
    int64_t t = run_until_true(&f, converged, NULL, 20000, 50);
    assert_true(t > 0);
    assert_true(swim_incarnation(swim_sim_core(f.sim, 5)) >= 1);
    assert_int_equal(fx_log_count(&f.log, SWIM_EV_ALIVE, "n5", SIZE_MAX), 19);
    /* The fresh process learned the whole cluster from its seed. */
    assert_int_equal(swim_state_count(swim_sim_core(f.sim, 5), SWIM_ALIVE), 20);
    fx_sim_free(&f);
}

static bool meta_everywhere(struct fx_sim *f, void *arg)
{
    size_t who = *(size_t *)arg;
    return fx_log_count(&f->log, SWIM_EV_UPDATED, swim_sim_name(f->sim, who),
                        SIZE_MAX) == swim_sim_size(f->sim) - 1;
}

/* Members that start alone join through one seed; a metadata change then
 * reaches everyone with its bytes. */
static void test_join_and_metadata(void **state)
{
    (void)state;
    struct swim_sim_config c;
    swim_sim_config_default(&c);
    c.seed = 12;
    c.loss = 0.02;
    struct fx_sim f;
    fx_sim_new(&f, &c, 16, false);
    for (size_t i = 1; i < 16; i++)
        assert_int_equal(swim_sim_join(f.sim, i, 0), 0);
    int64_t t = run_until_true(&f, converged, NULL, 15000, 50);
    assert_true(t > 0);
    assert_int_equal(fx_log_count(&f.log, SWIM_EV_JOINED, NULL, SIZE_MAX),
                     16 * 15);
    size_t who = 7;
    int64_t t0 = swim_sim_now(f.sim);
    assert_int_equal(swim_sim_set_meta(f.sim, who, "role=agent", 10), 0);
    t = run_until_true(&f, meta_everywhere, &who, t0 + 5000, 5);
    assert_true(t > 0);
    for (size_t i = 0; i < 16; i++) {
        if (i == who)
            continue;
        struct swim_member_info m;
        assert_int_equal(swim_member_find(swim_sim_core(f.sim, i), "n7", &m),
                         0);
        assert_int_equal(m.meta_version, 1);
        assert_int_equal(m.meta_len, 10);
        assert_memory_equal(m.meta, "role=agent", 10);
    }
    fx_sim_free(&f);
}

/* stall_suspicions - suspicions raised by a member whose input is stalled
 * for 5 s, about members that are all healthy. */
static size_t stall_suspicions(unsigned lifeguard, size_t *false_deaths)
{
    struct swim_sim_config c;
    swim_sim_config_default(&c);
    c.seed = 13;
    c.swim.lifeguard = lifeguard;
    struct fx_sim f;
    fx_sim_new(&f, &c, 12, true);
    swim_sim_run_until(f.sim, 2000);
    assert_int_equal(swim_sim_stall(f.sim, 4, 5000, SWIM_SIM_STALL_RECV), 0);
    assert_true(swim_sim_stalled(f.sim, 4));
    swim_sim_run_until(f.sim, 12000);
    assert_false(swim_sim_stalled(f.sim, 4));
    size_t n = 0;
    for (size_t i = 0; i < f.log.n; i++) {
        const struct fx_event *e = &f.log.ev[i];
        if (e->type == SWIM_EV_SUSPECT && e->origin && e->observer == 4)
            n++;
    }
    *false_deaths = 0;
    for (size_t i = 0; i < f.log.n; i++) {
        const struct fx_event *e = &f.log.ev[i];
        if (e->type == SWIM_EV_DEAD && strcmp(e->name, "n4") != 0)
            (*false_deaths)++;
    }
    fx_sim_free(&f);
    return n;
}

static void test_stall_lifeguard(void **state)
{
    (void)state;
    size_t deaths_lg, deaths_swim;
    size_t with = stall_suspicions(SWIM_LIFEGUARD_ALL, &deaths_lg);
    size_t without = stall_suspicions(0, &deaths_swim);
    /* Plain SWIM: every probe of the stalled member fails and accuses a
     * healthy member. Lifeguard: no nack came back either, so the member
     * blames itself. */
    assert_true(without >= 5);
    assert_int_equal(with, 0);
    assert_int_equal(deaths_lg, 0);
}

/* A frozen process wakes up late: it notices its own missed deadlines. */
static void test_stall_all(void **state)
{
    (void)state;
    struct swim_sim_config c;
    swim_sim_config_default(&c);
    c.seed = 14;
    struct fx_sim f;
    fx_sim_new(&f, &c, 8, true);
    swim_sim_run_until(f.sim, 2000);
    swim_sim_stall(f.sim, 3, 3000, SWIM_SIM_STALL_ALL);
    swim_sim_run_until(f.sim, 4999);
    assert_int_equal(swim_stats(swim_sim_core(f.sim, 3))->missed_deadlines, 0);
    swim_sim_run_until(f.sim, 5001);
    assert_true(swim_stats(swim_sim_core(f.sim, 3))->missed_deadlines >= 1);
    assert_true(swim_health(swim_sim_core(f.sim, 3)) >= 1);
    /* It heard it was suspected (probably dead) and refuted. */
    int64_t t = run_until_true(&f, converged, NULL, 20000, 50);
    assert_true(t > 0);
    assert_true(swim_incarnation(swim_sim_core(f.sim, 3)) >= 1);
    assert_int_equal(fx_log_count(&f.log, SWIM_EV_SUSPECT, NULL, 3), 0);
    fx_sim_free(&f);
}

/* Per-link controls: members 0 and 1 cannot reach each other directly;
 * indirect probes keep both alive. A slow link from 0 to 2 (50 ms) is
 * answered within the retries. */
static void test_links(void **state)
{
    (void)state;
    struct swim_sim_config c;
    swim_sim_config_default(&c);
    c.seed = 15;
    struct fx_sim f;
    fx_sim_new(&f, &c, 6, true);
    assert_int_equal(swim_sim_set_link_loss(f.sim, 0, 1, 1.0), 0);
    assert_int_equal(swim_sim_set_link_loss(f.sim, 1, 0, 1.0), 0);
    struct swim_sim_latency slow = {50000, 50000, 0, 0};
    assert_int_equal(swim_sim_set_link_latency(f.sim, 0, 2, &slow), 0);
    assert_int_equal(swim_sim_set_link_loss(f.sim, 0, 9, 0.5), CL_EINVAL);
    swim_sim_run_until(f.sim, 60000);
    assert_int_equal(fx_log_count(&f.log, SWIM_EV_DEAD, NULL, SIZE_MAX), 0);
    assert_true(swim_stats(swim_sim_core(f.sim, 0))->ping_reqs_sent > 0);
    assert_true(swim_sim_stats(f.sim)->dropped_loss > 0);
    assert_true(swim_sim_converged(f.sim));
    fx_sim_free(&f);
}

static void test_api(void **state)
{
    (void)state;
    struct swim_sim_config c;
    swim_sim_config_default(&c);
    struct fx_sim f;
    fx_sim_new(&f, &c, 0, false);
    assert_int_equal(swim_sim_step(f.sim), CL_ENOENT);
    assert_int_equal(swim_sim_kill(f.sim, 0), CL_EINVAL);
    size_t first;
    assert_int_equal(swim_sim_add(f.sim, 2, &first), 0);
    assert_int_equal(first, 0);
    assert_string_equal(swim_sim_name(f.sim, 1), "n1");
    assert_int_equal(swim_sim_set_group(f.sim, 0, 16), CL_EINVAL);
    assert_int_equal(swim_sim_stall(f.sim, 0, 10, 9), CL_EINVAL);
    enum swim_state v;
    assert_int_equal(swim_sim_view(f.sim, 0, 1, &v), CL_ENOENT);
    assert_int_equal(swim_sim_join(f.sim, 1, 0), 0);
    assert_int_equal(swim_sim_step(f.sim), 0);
    swim_sim_run_until(f.sim, 3000);
    assert_int_equal(swim_sim_view(f.sim, 0, 1, &v), 0);
    assert_int_equal(v, SWIM_ALIVE);
    swim_sim_kill(f.sim, 1);
    assert_int_equal(swim_sim_view(f.sim, 1, 0, &v), CL_ESTATE);
    assert_null(swim_sim_core(f.sim, 1));
    assert_false(swim_sim_running(f.sim, 1));
    assert_int_equal(running(&f), 1);
    assert_int_equal(swim_sim_leave(f.sim, 1), CL_ESTATE);
    assert_int_equal(swim_sim_stall(f.sim, 1, 10, SWIM_SIM_STALL_ALL),
                     CL_ESTATE);
    const struct swim_sim_member_stats *ms = swim_sim_member_stats(f.sim, 0);
    assert_non_null(ms);
    assert_true(ms->packets_sent > 0 && ms->bytes_recv > 0);
    struct swim_sim_config bad = c;
    bad.loss = 2;
    struct swim_sim *s;
    assert_int_equal(swim_sim_new(&bad, &s), CL_EINVAL);
    fx_sim_free(&f);
}

/* A larger cluster through the same harness: 1,500 members. */
static void test_scale(void **state)
{
    (void)state;
    struct swim_sim_config c;
    swim_sim_config_default(&c);
    c.seed = 16;
    c.loss = 0.01;
    struct fx_sim f;
    fx_sim_new(&f, &c, 1500, true);
    swim_sim_run_until(f.sim, 3000);
    swim_sim_kill(f.sim, 777);
    struct seen s = {777, SWIM_DEAD, 1499};
    int64_t t = run_until_true(&f, all_see, &s, 3000 + 8000, 100);
    assert_true(t > 0);
    for (size_t i = 0; i < f.log.n; i++)
        if (f.log.ev[i].type == SWIM_EV_DEAD)
            assert_string_equal(f.log.ev[i].name, "n777");
    fx_sim_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_steady_state_counts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_crash_exact_times, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_determinism, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partition_heals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_asymmetric_partition, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_crash_dead_within_bound, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_leave, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejoin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_join_and_metadata, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stall_lifeguard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stall_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scale, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
