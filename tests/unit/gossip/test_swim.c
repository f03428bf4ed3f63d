/* Unit tests of the SWIM core (gossip/swim.c), driven by hand through a
 * capturing swim_io: crafted datagrams in, recorded datagrams and events
 * out, explicit time. */
#include "fixture.h"

#include <math.h>
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

static struct swim_addr A(unsigned i) {
    return fx_addr(i);
}

/* gossip - feed one update from member `from` as a pure gossip packet. */
static int
gossip(struct fx_core *c, unsigned from, int64_t now, enum swim_state st,
       const char *name, uint32_t inc, const char *by)
{
    struct fx_pkt p;
    unsigned idx = (unsigned)atoi(name + 1);
    struct swim_addr a = A(idx);
    fx_pkt_begin(&p, SWIM__GOSSIP, 0, NULL, NULL, false);
    fx_pkt_update(&p, st, name, inc, &a, 0, NULL, by);
    return fx_core_recv(c, from, &p, now);
}

/* find_update - does recorded datagram i carry an update (st, name, inc)? */
static bool has_update(const struct fx_io *x, size_t i, enum swim_state st,
                       const char *name, uint32_t inc)
{
    struct swim__packet p;
    fx_io_decode(x, i, &p);
    bool found = false;
    for (size_t k = 0; k < p.n_updates; k++) {
        const struct swim__update *u = &p.updates[k];
        if (u->state == st && u->incarnation == inc &&
            u->name_len == strlen(name) &&
            memcmp(u->name, name, u->name_len) == 0)
            found = true;
    }
    swim__packet_free(&p);
    return found;
}

static size_t find_update(const struct fx_io *x, enum swim_state st,
                          const char *name, uint32_t inc)
{
    for (size_t i = 0; i < x->n_sent; i++)
        if (has_update(x, i, st, name, inc))
            return i;
    return SIZE_MAX;
}

/* ------------------------------------------------------------------------ */

static void test_config(void **state)
{
    (void)state;
    struct swim_config c;
    char why[128];
    swim_config_default(&c);
    assert_int_equal(swim_config_check(&c, why, sizeof(why)), 0);
    /* attempts * timeout must stay below the interval */
    c.probe_attempts = (unsigned)(c.probe_interval_ms / c.probe_timeout_ms);
    assert_int_equal(swim_config_check(&c, why, sizeof(why)), CL_EINVAL);
    assert_non_null(strstr(why, "probe_attempts"));
    swim_config_default(&c);
    c.max_packet = 100;
    assert_int_equal(swim_config_check(&c, NULL, 0), CL_EINVAL);
    swim_config_default(&c);
    c.lifeguard = 8;
    assert_int_equal(swim_config_check(&c, NULL, 0), CL_EINVAL);

    struct fx_io io;
    fx_io_init(&io);
    cl_rng rng;
    cl_rng_seed(&rng, 1);
    struct swim *s = NULL;
    struct swim_addr a = A(0);
    swim_config_default(&c);
    assert_int_equal(swim_new(&c, &io.io, &rng, "has space", &a, 0, &s),
                     CL_EINVAL);
    assert_int_equal(swim_new(&c, &io.io, &rng, "", &a, 0, &s), CL_EINVAL);
    struct swim_addr none = {0};
    assert_int_equal(swim_new(&c, &io.io, &rng, "ok", &none, 0, &s), CL_EINVAL);
    assert_null(s);
    fx_io_free(&io);
}

static void test_suspicion_timeout(void **state)
{
    (void)state;
    struct swim_config c;
    swim_config_default(&c);
    /* Lifeguard IV.B with T = 200, mult 2, max mult 3, k = 3, n = 1000:
     * min = 2 * log10(1000) * 200 = 1200, max = 3600. */
    assert_int_equal(swim_suspicion_timeout(&c, 1000, 0), 3600);
    assert_int_equal(swim_suspicion_timeout(&c, 1000, 1),
                     (int64_t)(3600 - 2400 * log(2) / log(4)));
    assert_int_equal(swim_suspicion_timeout(&c, 1000, 2),
                     (int64_t)(3600 - 2400 * log(3) / log(4)));
    assert_int_equal(swim_suspicion_timeout(&c, 1000, 3), 1200);
    assert_int_equal(swim_suspicion_timeout(&c, 1000, 10), 1200);
    /* Each confirmation shortens it. */
    assert_true(swim_suspicion_timeout(&c, 1000, 1) >
                swim_suspicion_timeout(&c, 1000, 2));
    /* Too few members to ever confirm k times: min, with the node scale
     * floored at 1. */
    assert_int_equal(swim_suspicion_timeout(&c, 4, 0), 400);
    /* Without the Lifeguard suspicion part: always min. */
    c.lifeguard = SWIM_LIFEGUARD_LHM | SWIM_LIFEGUARD_BUDDY;
    assert_int_equal(swim_suspicion_timeout(&c, 1000, 0), 1200);
}

static void test_retransmit_limit(void **state)
{
    (void)state;
    struct swim_config c;
    swim_config_default(&c);
    c.retransmit_mult = 3;
    assert_int_equal(swim_retransmit_limit(&c, 1), 3);
    assert_int_equal(swim_retransmit_limit(&c, 9), 3);
    assert_int_equal(swim_retransmit_limit(&c, 10), 6);
    assert_int_equal(swim_retransmit_limit(&c, 99), 6);
    assert_int_equal(swim_retransmit_limit(&c, 100), 9);
    assert_int_equal(swim_retransmit_limit(&c, 1000), 12);
}

/* A member that hears it is suspected raises its incarnation above the
 * accusation and gossips Alive [SWIM 4.2]; Lifeguard counts it against the
 * local health. */
static void test_refute(void **state)
{
    (void)state;
    struct fx_core c;
    fx_core_new(&c, NULL, 2);
    assert_int_equal(gossip(&c, 1, 10, SWIM_SUSPECT, "m0", 0, "m1"), 0);
    assert_int_equal(swim_incarnation(c.s), 1);
    assert_int_equal(swim_stats(c.s)->refutes, 1);
    assert_int_equal(swim_health(c.s), 1);
    fx_core_run(&c, 200);
    assert_int_not_equal(find_update(&c.io, SWIM_ALIVE, "m0", 1), SIZE_MAX);
    /* An older accusation changes nothing... */
    assert_int_equal(gossip(&c, 1, 210, SWIM_SUSPECT, "m0", 0, "m1"), 0);
    assert_int_equal(swim_incarnation(c.s), 1);
    assert_int_equal(swim_stats(c.s)->refutes, 1);
    /* ...but once our refutation is out, someone still spreading an older
     * accusation gets our current Alive again. */
    fx_core_run(&c, 5000);
    fx_io_clear(&c.io);
    assert_int_equal(gossip(&c, 1, 5000, SWIM_SUSPECT, "m0", 0, "m1"), 0);
    fx_core_run(&c, 5200);
    assert_int_equal(swim_incarnation(c.s), 1);
    assert_int_not_equal(find_update(&c.io, SWIM_ALIVE, "m0", 1), SIZE_MAX);
    /* A death at our incarnation is refuted above it. */
    assert_int_equal(gossip(&c, 2, 5220, SWIM_DEAD, "m0", 1, "m2"), 0);
    assert_int_equal(swim_incarnation(c.s), 2);
    assert_int_equal(swim_stats(c.s)->refutes, 2);
    /* Others' copy of us at a higher incarnation (a previous process of
     * ours) is overridden too. */
    assert_int_equal(gossip(&c, 2, 5230, SWIM_ALIVE, "m0", 9, NULL), 0);
    assert_int_equal(swim_incarnation(c.s), 10);
    struct swim_member_info me;
    assert_int_equal(swim_member_find(c.s, "m0", &me), 0);
    assert_int_equal(me.state, SWIM_ALIVE);
    assert_true(me.is_self);
    fx_core_free(&c);
}

/* [SWIM 4.2] ordering: higher incarnation wins; at equal incarnation
 * Suspect beats Alive and Dead beats both. */
static void test_incarnation_ordering(void **state)
{
    (void)state;
    struct fx_core c;
    fx_core_new(&c, NULL, 2);
    struct fx_log *log = &c.io.log;
    gossip(&c, 2, 1, SWIM_ALIVE, "m1", 5, NULL);
    assert_int_equal(fx_core_inc(&c, 1), 5);
    gossip(&c, 2, 2, SWIM_ALIVE, "m1", 4, NULL);
    assert_int_equal(fx_core_inc(&c, 1), 5);
    gossip(&c, 2, 3, SWIM_SUSPECT, "m1", 4, "m2");
    assert_int_equal(fx_core_state(&c, 1), SWIM_ALIVE);
    gossip(&c, 2, 4, SWIM_SUSPECT, "m1", 5, "m2");
    assert_int_equal(fx_core_state(&c, 1), SWIM_SUSPECT);
    assert_int_equal(fx_log_count(log, SWIM_EV_SUSPECT, "m1", SIZE_MAX), 1);
    assert_false(fx_log_first(log, SWIM_EV_SUSPECT, "m1", SIZE_MAX)->origin);
    gossip(&c, 2, 5, SWIM_ALIVE, "m1", 5, NULL);
    assert_int_equal(fx_core_state(&c, 1), SWIM_SUSPECT);
    gossip(&c, 2, 6, SWIM_ALIVE, "m1", 6, NULL);
    assert_int_equal(fx_core_state(&c, 1), SWIM_ALIVE);
    assert_int_equal(fx_log_count(log, SWIM_EV_ALIVE, "m1", SIZE_MAX), 1);
    gossip(&c, 2, 7, SWIM_DEAD, "m1", 5, "m2");
    assert_int_equal(fx_core_state(&c, 1), SWIM_ALIVE);
    gossip(&c, 2, 8, SWIM_DEAD, "m1", 6, "m2");
    assert_int_equal(fx_core_state(&c, 1), SWIM_DEAD);
    assert_int_equal(fx_log_count(log, SWIM_EV_DEAD, "m1", SIZE_MAX), 1);
    gossip(&c, 2, 9, SWIM_SUSPECT, "m1", 7, "m2");
    assert_int_equal(fx_core_state(&c, 1), SWIM_DEAD);
    gossip(&c, 2, 10, SWIM_ALIVE, "m1", 6, NULL);
    assert_int_equal(fx_core_state(&c, 1), SWIM_DEAD);
    gossip(&c, 2, 11, SWIM_ALIVE, "m1", 7, NULL);
    assert_int_equal(fx_core_state(&c, 1), SWIM_ALIVE);
    assert_int_equal(fx_core_inc(&c, 1), 7);
    assert_int_equal(fx_log_count(log, SWIM_EV_ALIVE, "m1", SIZE_MAX), 2);
    assert_int_equal(swim_state_count(c.s, SWIM_ALIVE), 3);
    fx_core_free(&c);
}

/* final_wait - the last-chance pings after a suspicion times out. */
static int64_t final_wait(const struct fx_core *c)
{
    return (int64_t)c->cfg.final_checks * c->cfg.probe_timeout_ms;
}

/* Suspicion expires into Dead after the Lifeguard timeout, which shrinks
 * with each distinct confirmation, and a last-chance check. Nine peers:
 * n = 10, min = 400, max = 1200, k = 3. */
static void test_suspicion_confirmations(void **state)
{
    (void)state;
    struct fx_core c;
    fx_core_new(&c, NULL, 9);
    gossip(&c, 2, 1000, SWIM_SUSPECT, "m1", 0, "m2");
    fx_core_run(&c, 5000);
    const struct fx_event *d = fx_log_first(&c.io.log, SWIM_EV_DEAD, "m1", 0);
    assert_non_null(d);
    assert_int_equal(swim_suspicion_timeout(&c.cfg, 10, 0), 1200);
    assert_int_equal(d->t, 1000 + 1200 + final_wait(&c));
    assert_true(d->origin);
    assert_int_equal(swim_stats(c.s)->deaths_declared, 1);
    /* The last-chance pings: one per probe timeout from the deadline on,
     * each carrying the suspicion. */
    struct swim_addr a1 = A(1);
    size_t finals = 0;
    uint32_t final_seq = 0;
    for (size_t i = 0; i < c.io.n_sent; i++) {
        if (!swim_addr_equal(&c.io.sent[i].to, &a1) || c.io.sent[i].t < 2200 ||
            c.io.sent[i].t >= d->t)
            continue;
        struct swim__packet pk;
        fx_io_decode(&c.io, i, &pk);
        if (pk.kind == SWIM__PING && finals == 0 && c.io.sent[i].t == 2200)
            final_seq = pk.seq; /* our own probes use other numbers */
        if (pk.kind == SWIM__PING && pk.seq == final_seq) {
            assert_int_equal(c.io.sent[i].t,
                             2200 + (int64_t)finals * c.cfg.probe_timeout_ms);
            assert_int_equal(pk.updates[0].state, SWIM_SUSPECT);
            finals++;
        }
        swim__packet_free(&pk);
    }
    assert_int_equal(finals, c.cfg.final_checks);
    fx_core_free(&c);

    fx_core_new(&c, NULL, 9);
    gossip(&c, 2, 1000, SWIM_SUSPECT, "m1", 0, "m2");
    gossip(&c, 3, 1100, SWIM_SUSPECT, "m1", 0, "m3"); /* c = 1 */
    gossip(&c, 4, 1200, SWIM_SUSPECT, "m1", 0, "m4"); /* c = 2 */
    gossip(&c, 3, 1250, SWIM_SUSPECT, "m1", 0, "m3"); /* repeat: no */
    gossip(&c, 2, 1260, SWIM_SUSPECT, "m1", 0, "m2"); /* accuser: no */
    fx_core_run(&c, 1299);
    assert_null(fx_log_first(&c.io.log, SWIM_EV_DEAD, "m1", 0));
    gossip(&c, 5, 1300, SWIM_SUSPECT, "m1", 0, "m5"); /* c = 3: min */
    fx_core_run(&c, 5000);
    d = fx_log_first(&c.io.log, SWIM_EV_DEAD, "m1", 0);
    assert_non_null(d);
    assert_int_equal(swim_suspicion_timeout(&c.cfg, 10, 3), 400);
    assert_int_equal(d->t, 1000 + 400 + final_wait(&c));
    fx_core_free(&c);

    /* Two confirmations only: the deadline is start + timeout(2). */
    fx_core_new(&c, NULL, 9);
    gossip(&c, 2, 1000, SWIM_SUSPECT, "m1", 0, "m2");
    gossip(&c, 3, 1100, SWIM_SUSPECT, "m1", 0, "m3");
    gossip(&c, 4, 1200, SWIM_SUSPECT, "m1", 0, "m4");
    fx_core_run(&c, 5000);
    d = fx_log_first(&c.io.log, SWIM_EV_DEAD, "m1", 0);
    assert_non_null(d);
    assert_int_equal(d->t, 1000 + swim_suspicion_timeout(&c.cfg, 10, 2) +
                               final_wait(&c));
    fx_core_free(&c);

    /* The suspect answers a last-chance ping: suspected again for the
     * minimum timeout, not declared dead; its refutation then clears it. */
    fx_core_new(&c, NULL, 9);
    gossip(&c, 2, 1000, SWIM_SUSPECT, "m1", 0, "m2");
    fx_core_run(&c, 2200);
    size_t i = SIZE_MAX;
    for (size_t k = 0; k < c.io.n_sent; k++)
        if (c.io.sent[k].t == 2200 && swim_addr_equal(&c.io.sent[k].to, &a1))
            i = k;
    assert_int_not_equal(i, SIZE_MAX);
    struct swim__packet pk;
    fx_io_decode(&c.io, i, &pk);
    assert_int_equal(pk.kind, SWIM__PING);
    struct fx_pkt ack;
    fx_pkt_begin(&ack, SWIM__ACK, pk.seq, NULL, NULL, false);
    swim__packet_free(&pk);
    fx_core_recv(&c, 1, &ack, 2210);
    assert_int_equal(swim_stats(c.s)->final_acks, 1);
    fx_core_run(&c, 2210 + 399);
    assert_null(fx_log_first(&c.io.log, SWIM_EV_DEAD, "m1", 0));
    gossip(&c, 1, 2500, SWIM_ALIVE, "m1", 1, NULL);
    fx_core_run(&c, 8000);
    assert_null(fx_log_first(&c.io.log, SWIM_EV_DEAD, "m1", 0));
    assert_int_equal(fx_core_state(&c, 1), SWIM_ALIVE);
    fx_core_free(&c);

    /* Plain SWIM: a fixed timeout, confirmations or not. */
    struct swim_config cfg;
    swim_config_default(&cfg);
    cfg.lifeguard = SWIM_LIFEGUARD_LHM;
    fx_core_new(&c, &cfg, 9);
    gossip(&c, 2, 1000, SWIM_SUSPECT, "m1", 0, "m2");
    gossip(&c, 3, 1100, SWIM_SUSPECT, "m1", 0, "m3");
    fx_core_run(&c, 5000);
    d = fx_log_first(&c.io.log, SWIM_EV_DEAD, "m1", 0);
    assert_non_null(d);
    assert_int_equal(d->t, 1400);
    fx_core_free(&c);

    /* A refutation before the deadline cancels it. */
    fx_core_new(&c, NULL, 9);
    gossip(&c, 2, 1000, SWIM_SUSPECT, "m1", 0, "m2");
    gossip(&c, 1, 1500, SWIM_ALIVE, "m1", 1, NULL);
    fx_core_run(&c, 5000);
    assert_null(fx_log_first(&c.io.log, SWIM_EV_DEAD, "m1", 0));
    assert_int_equal(fx_core_state(&c, 1), SWIM_ALIVE);
    fx_core_free(&c);
}

static void test_leave_vs_dead(void **state)
{
    (void)state;
    struct fx_core c;
    fx_core_new(&c, NULL, 2);
    struct fx_log *log = &c.io.log;
    gossip(&c, 1, 10, SWIM_LEFT, "m1", 0, "m1");
    assert_int_equal(fx_core_state(&c, 1), SWIM_LEFT);
    assert_int_equal(fx_log_count(log, SWIM_EV_LEFT, "m1", 0), 1);
    gossip(&c, 2, 20, SWIM_DEAD, "m1", 0, "m2");
    assert_int_equal(fx_core_state(&c, 1), SWIM_LEFT);
    assert_int_equal(fx_log_count(log, SWIM_EV_DEAD, "m1", 0), 0);
    /* A member declared dead that in fact left is marked left. */
    gossip(&c, 1, 30, SWIM_DEAD, "m2", 0, "m1");
    assert_int_equal(fx_log_count(log, SWIM_EV_DEAD, "m2", 0), 1);
    gossip(&c, 2, 40, SWIM_LEFT, "m2", 0, "m2");
    assert_int_equal(fx_core_state(&c, 2), SWIM_LEFT);
    assert_int_equal(fx_log_count(log, SWIM_EV_LEFT, "m2", 0), 1);
    fx_core_free(&c);

    /* Our own leave: announced as Left, never refuted, done once sent. */
    fx_core_new(&c, NULL, 3);
    assert_int_equal(swim_leave(c.s, 100), 0);
    assert_false(swim_leave_done(c.s));
    struct swim_member_info me;
    assert_int_equal(swim_member_find(c.s, "m0", &me), 0);
    assert_int_equal(me.state, SWIM_LEFT);
    c.io.now = 100;
    fx_core_run(&c, 1000);
    assert_true(swim_leave_done(c.s));
    assert_int_not_equal(find_update(&c.io, SWIM_LEFT, "m0", 0), SIZE_MAX);
    gossip(&c, 1, 1100, SWIM_DEAD, "m0", 0, "m1");
    assert_int_equal(swim_incarnation(c.s), 0);
    assert_int_equal(swim_stats(c.s)->refutes, 0);
    /* A leaving member no longer probes. */
    uint64_t probes = swim_stats(c.s)->probes;
    fx_core_run(&c, 5000);
    assert_int_equal(swim_stats(c.s)->probes, probes);
    assert_int_equal(swim_set_meta(c.s, "x", 1, 5000), CL_ESTATE);
    fx_core_free(&c);
}

/* Rejoin after death needs a higher incarnation, and may come from a new
 * address; a live member may not move. */
static void test_rejoin(void **state)
{
    (void)state;
    struct fx_core c;
    fx_core_new(&c, NULL, 2);
    gossip(&c, 2, 10, SWIM_DEAD, "m1", 2, "m2");
    assert_int_equal(fx_core_state(&c, 1), SWIM_DEAD);
    struct fx_pkt p;
    struct swim_addr moved = A(50);
    fx_pkt_begin(&p, SWIM__GOSSIP, 0, NULL, NULL, false);
    fx_pkt_update(&p, SWIM_ALIVE, "m1", 2, &moved, 0, NULL, NULL);
    fx_core_recv(&c, 50, &p, 20);
    assert_int_equal(fx_core_state(&c, 1), SWIM_DEAD);
    fx_pkt_begin(&p, SWIM__GOSSIP, 0, NULL, NULL, false);
    fx_pkt_update(&p, SWIM_ALIVE, "m1", 3, &moved, 0, NULL, NULL);
    fx_core_recv(&c, 50, &p, 30);
    assert_int_equal(fx_core_state(&c, 1), SWIM_ALIVE);
    assert_int_equal(fx_log_count(&c.io.log, SWIM_EV_ALIVE, "m1", 0), 1);
    struct swim_member_info m;
    assert_int_equal(swim_member_find(c.s, "m1", &m), 0);
    assert_true(swim_addr_equal(&m.addr, &moved));
    assert_int_equal(m.incarnation, 3);
    /* m2 is alive: a newer incarnation from another address is a name
     * conflict, ignored and counted. */
    fx_pkt_begin(&p, SWIM__GOSSIP, 0, NULL, NULL, false);
    fx_pkt_update(&p, SWIM_ALIVE, "m2", 5, &moved, 0, NULL, NULL);
    fx_core_recv(&c, 50, &p, 40);
    assert_int_equal(fx_core_inc(&c, 2), 0);
    assert_int_equal(swim_stats(c.s)->conflicts, 1);
    fx_core_free(&c);
}

static void expect_meta(struct fx_core *c, unsigned i, const char *meta,
                        uint32_t version)
{
    char name[16];
    struct swim_member_info m;
    assert_int_equal(swim_member_find(c->s, fx_name(i, name), &m), 0);
    assert_int_equal(m.meta_len, strlen(meta));
    assert_memory_equal(m.meta, meta, m.meta_len);
    assert_int_equal(m.meta_version, version);
}

static void test_metadata_versions(void **state)
{
    (void)state;
    struct fx_core c;
    fx_core_new(&c, NULL, 0);
    struct fx_log *log = &c.io.log;
    struct swim_addr a1 = A(1);
    struct fx_pkt p;
    fx_pkt_begin(&p, SWIM__GOSSIP, 0, NULL, NULL, false);
    fx_pkt_update(&p, SWIM_ALIVE, "m1", 1, &a1, 1, "a", NULL);
    fx_core_recv(&c, 1, &p, 10);
    assert_int_equal(fx_log_count(log, SWIM_EV_JOINED, "m1", 0), 1);
    const struct fx_event *e = fx_log_first(log, SWIM_EV_JOINED, "m1", 0);
    assert_int_equal(e->meta_version, 1);
    assert_memory_equal(e->meta, "a", 1);
    expect_meta(&c, 1, "a", 1);

    fx_pkt_begin(&p, SWIM__GOSSIP, 0, NULL, NULL, false);
    fx_pkt_update(&p, SWIM_ALIVE, "m1", 2, &a1, 2, "bb", NULL);
    fx_core_recv(&c, 1, &p, 20);
    assert_int_equal(fx_log_count(log, SWIM_EV_UPDATED, "m1", 0), 1);
    expect_meta(&c, 1, "bb", 2);

    /* A refutation travels without metadata: same version, nothing
     * changes. */
    fx_pkt_begin(&p, SWIM__GOSSIP, 0, NULL, NULL, false);
    fx_pkt_update(&p, SWIM_ALIVE, "m1", 3, &a1, 2, NULL, NULL);
    fx_core_recv(&c, 1, &p, 30);
    assert_int_equal(fx_log_count(log, SWIM_EV_UPDATED, "m1", 0), 1);
    expect_meta(&c, 1, "bb", 2);
    assert_int_equal(fx_core_inc(&c, 1), 3);

    /* A newer version announced without its bytes: we keep what we hold
     * (and its version) until a push-pull brings the bytes. */
    fx_pkt_begin(&p, SWIM__GOSSIP, 0, NULL, NULL, false);
    fx_pkt_update(&p, SWIM_ALIVE, "m1", 4, &a1, 3, NULL, NULL);
    fx_core_recv(&c, 1, &p, 40);
    expect_meta(&c, 1, "bb", 2);
    struct swim__update ent;
    memset(&ent, 0, sizeof(ent));
    ent.state = SWIM_ALIVE;
    ent.name = "m1";
    ent.name_len = 2;
    ent.incarnation = 4;
    ent.has_addr = true;
    ent.addr = a1;
    ent.meta_version = 3;
    ent.has_meta = true;
    ent.meta = (const uint8_t *)"ccc";
    ent.meta_len = 3;
    ent.from = "";
    fx_pkt_push_pull(&p, 7, 1, NULL, 0, NULL, 0, false, false, &ent, 1);
    fx_core_recv(&c, 1, &p, 50);
    assert_int_equal(fx_log_count(log, SWIM_EV_UPDATED, "m1", 0), 2);
    expect_meta(&c, 1, "ccc", 3);

    /* Our own metadata: each change raises incarnation and version and is
     * announced with its bytes. */
    assert_int_equal(swim_set_meta(c.s, "hello", 5, 60), 0);
    assert_int_equal(swim_incarnation(c.s), 1);
    expect_meta(&c, 0, "hello", 1);
    assert_int_equal(swim_set_meta(c.s, "world", 5, 70), 0);
    assert_int_equal(swim_incarnation(c.s), 2);
    expect_meta(&c, 0, "world", 2);
    fx_core_run(&c, 1000);
    size_t i = find_update(&c.io, SWIM_ALIVE, "m0", 2);
    assert_int_not_equal(i, SIZE_MAX);
    struct swim__packet pk;
    fx_io_decode(&c.io, i, &pk);
    bool carried = false;
    for (size_t k = 0; k < pk.n_updates; k++)
        if (pk.updates[k].name_len == 2 &&
            memcmp(pk.updates[k].name, "m0", 2) == 0)
            carried = pk.updates[k].has_meta && pk.updates[k].meta_len == 5 &&
                      memcmp(pk.updates[k].meta, "world", 5) == 0 &&
                      pk.updates[k].meta_version == 2;
    swim__packet_free(&pk);
    assert_true(carried);
    uint8_t big[SWIM_META_MAX + 1] = {0};
    assert_int_equal(swim_set_meta(c.s, big, sizeof(big), 80), CL_EINVAL);
    fx_core_free(&c);
}

/* The first probe of the only peer, and its ack. */
static void test_probe_ack(void **state)
{
    (void)state;
    struct fx_core c;
    fx_core_new(&c, NULL, 1);
    gossip(&c, 1, 0, SWIM_SUSPECT, "m0", 0, "m1"); /* health 1 */
    assert_int_equal(swim_health(c.s), 1);
    fx_io_clear(&c.io);
    struct swim_addr a1 = A(1);
    size_t i = SIZE_MAX;
    while (i == SIZE_MAX) { /* up to the first ping, not past it */
        int64_t d = swim_next_deadline(c.s);
        assert_true(d < 200);
        fx_core_run(&c, d);
        i = fx_io_find(&c.io, SWIM__PING, &a1, 0);
    }
    struct swim__packet pk;
    fx_io_decode(&c.io, i, &pk);
    assert_string_equal(pk.target, "m1");
    uint32_t seq = pk.seq;
    swim__packet_free(&pk);
    struct fx_pkt p;
    fx_pkt_begin(&p, SWIM__ACK, seq, NULL, NULL, false);
    int64_t t0 = c.io.sent[i].t;
    fx_core_recv(&c, 1, &p, t0 + 1);
    assert_int_equal(swim_health(c.s), 0);
    fx_core_run(&c, t0 + 199);
    assert_int_equal(swim_stats(c.s)->probes, 1);
    assert_int_equal(swim_stats(c.s)->probes_failed, 0);
    assert_int_equal(swim_stats(c.s)->pings_sent, 1); /* no retry */
    assert_int_equal(fx_core_state(&c, 1), SWIM_ALIVE);
    /* Pings of the ping are answered with an ack to the sender. */
    fx_io_clear(&c.io);
    fx_pkt_begin(&p, SWIM__PING, 4242, "m0", NULL, false);
    fx_core_recv(&c, 1, &p, 5000);
    i = fx_io_find(&c.io, SWIM__ACK, &a1, 0);
    assert_int_not_equal(i, SIZE_MAX);
    fx_io_decode(&c.io, i, &pk);
    assert_int_equal(pk.seq, 4242);
    swim__packet_free(&pk);
    /* ...but not when meant for someone else. */
    fx_io_clear(&c.io);
    fx_pkt_begin(&p, SWIM__PING, 4243, "m7", NULL, false);
    fx_core_recv(&c, 1, &p, 5001);
    assert_int_equal(fx_io_find(&c.io, SWIM__ACK, NULL, 0), SIZE_MAX);
    fx_core_free(&c);
}

/* drive_failed_probe - run to the first probe and let it fail; returns the
 * target index and fills its first ping time. Nobody answers, except that
 * with `nack` the first member asked to relay sends a nack. */
static unsigned drive_failed_probe(struct fx_core *c, bool nack, int64_t *t0)
{
    fx_core_run(c, 199);
    size_t i = fx_io_find(&c->io, SWIM__PING, NULL, 0);
    assert_int_not_equal(i, SIZE_MAX);
    *t0 = c->io.sent[i].t;
    struct swim__packet pk;
    fx_io_decode(&c->io, i, &pk);
    unsigned target = (unsigned)atoi(pk.target + 1);
    uint32_t seq = pk.seq;
    swim__packet_free(&pk);
    /* Direct attempts, one probe timeout apart, then ping-reqs. */
    const int64_t tau = c->cfg.probe_timeout_ms;
    const int64_t ind = tau * c->cfg.probe_attempts;
    fx_core_run(c, *t0 + ind - 1);
    size_t pings = 0;
    for (size_t k = 0; k < c->io.n_sent; k++) {
        struct swim_addr ta = fx_addr(target);
        if (swim_addr_equal(&c->io.sent[k].to, &ta)) {
            struct swim__packet q;
            fx_io_decode(&c->io, k, &q);
            if (q.kind == SWIM__PING && q.seq == seq) {
                assert_int_equal(c->io.sent[k].t, *t0 + tau * (int64_t)pings);
                pings++;
            }
            swim__packet_free(&q);
        }
    }
    assert_int_equal(pings, c->cfg.probe_attempts);
    /* Then ping-reqs to the others. */
    fx_core_run(c, *t0 + ind);
    size_t reqs = 0;
    struct swim_addr via;
    for (size_t k = 0; k < c->io.n_sent; k++) {
        struct swim__packet q;
        fx_io_decode(&c->io, k, &q);
        if (q.kind == SWIM__PING_REQ) {
            if (reqs == 0)
                via = c->io.sent[k].to;
            assert_int_equal(c->io.sent[k].t, *t0 + ind);
            assert_int_equal(q.seq, seq);
            assert_true(q.nack ==
                        ((c->cfg.lifeguard & SWIM_LIFEGUARD_LHM) != 0));
            assert_int_equal(atoi(q.target + 1), target);
            reqs++;
        }
        swim__packet_free(&q);
    }
    assert_int_equal(reqs, 2); /* k = 3, but only two others exist */
    if (nack) {
        struct fx_pkt p;
        fx_pkt_begin(&p, SWIM__NACK, seq, NULL, NULL, false);
        c->io.now = *t0 + ind + tau / 2;
        assert_int_equal(
            swim_recv(c->s, &via, p.w.buf, p.w.len, *t0 + ind + tau / 2), 0);
    }
    fx_core_run(c, *t0 + 200);
    return target;
}

static void test_probe_indirect_nack(void **state)
{
    (void)state;
    struct fx_core c;
    fx_core_new(&c, NULL, 3);
    int64_t t0;
    unsigned target = drive_failed_probe(&c, true, &t0);
    char name[16];
    const struct fx_event *e =
        fx_log_first(&c.io.log, SWIM_EV_SUSPECT, fx_name(target, name), 0);
    assert_non_null(e);
    assert_true(e->origin);
    assert_int_equal(e->t, t0 + 200);
    /* Two nacks expected, one received. */
    assert_int_equal(swim_health(c.s), 1);
    assert_int_equal(swim_stats(c.s)->suspicions_raised, 1);
    /* Buddy system: the suspect hears of it at once. */
    struct swim_addr ta = fx_addr(target);
    size_t i = fx_io_find(&c.io, SWIM__GOSSIP, &ta, 0);
    assert_int_not_equal(i, SIZE_MAX);
    assert_true(has_update(&c.io, i, SWIM_SUSPECT, name, 0));
    assert_int_equal(c.io.sent[i].t, t0 + 200);
    fx_core_free(&c);
}

static void test_probe_self_blame(void **state)
{
    (void)state;
    struct fx_core c;
    fx_core_new(&c, NULL, 3);
    int64_t t0;
    drive_failed_probe(&c, false, &t0);
    /* Not one nack of two: the fault is probably ours. */
    assert_int_equal(fx_log_count(&c.io.log, SWIM_EV_SUSPECT, NULL, 0), 0);
    assert_int_equal(swim_stats(c.s)->probe_self_blamed, 1);
    assert_int_equal(swim_health(c.s), 2);
    fx_core_free(&c);

    /* Plain SWIM suspects regardless, and has no health to raise. */
    struct swim_config cfg;
    swim_config_default(&cfg);
    cfg.lifeguard = 0;
    fx_core_new(&c, &cfg, 3);
    unsigned target = drive_failed_probe(&c, false, &t0);
    char name[16];
    assert_int_equal(
        fx_log_count(&c.io.log, SWIM_EV_SUSPECT, fx_name(target, name), 0), 1);
    assert_int_equal(swim_health(c.s), 0);
    fx_core_free(&c);
}

/* Local health stretches the probe period: with score h the next probe
 * starts (h + 1) * probe_interval after the failed one. */
static void test_health_scales_period(void **state)
{
    (void)state;
    struct fx_core c;
    fx_core_new(&c, NULL, 3);
    int64_t t0;
    drive_failed_probe(&c, false, &t0); /* health 2 */
    assert_int_equal(swim_health(c.s), 2);
    /* The next probe starts when the failed period ends... */
    uint32_t seq = 0;
    int64_t t1 = -1;
    for (size_t k = 0; k < c.io.n_sent && t1 < 0; k++) {
        struct swim__packet q;
        fx_io_decode(&c.io, k, &q);
        if (q.kind == SWIM__PING && c.io.sent[k].t >= t0 + 200) {
            t1 = c.io.sent[k].t;
            seq = q.seq;
        }
        swim__packet_free(&q);
    }
    assert_int_equal(t1, t0 + 200);
    /* ...at scale 3: its retries come three probe timeouts apart. */
    const int64_t tau3 = 3 * c.cfg.probe_timeout_ms;
    fx_core_run(&c, t1 + tau3 - 1);
    size_t pings = 0;
    for (size_t k = 0; k < c.io.n_sent; k++) {
        struct swim__packet q;
        fx_io_decode(&c.io, k, &q);
        pings += q.kind == SWIM__PING && q.seq == seq;
        swim__packet_free(&q);
    }
    assert_int_equal(pings, 1);
    fx_core_run(&c, t1 + tau3);
    pings = 0;
    for (size_t k = 0; k < c.io.n_sent; k++) {
        struct swim__packet q;
        fx_io_decode(&c.io, k, &q);
        pings += q.kind == SWIM__PING && q.seq == seq;
        swim__packet_free(&q);
    }
    assert_int_equal(pings, 2);
    fx_core_free(&c);
}

static void test_ping_req_relay(void **state)
{
    (void)state;
    struct fx_core c;
    fx_core_new(&c, NULL, 2);
    struct swim_addr a1 = A(1), a2 = A(2);
    struct fx_pkt p;
    fx_pkt_begin(&p, SWIM__PING_REQ, 77, "m2", &a2, true);
    c.io.now = 10;
    fx_core_recv(&c, 1, &p, 10);
    size_t i = fx_io_find(&c.io, SWIM__PING, &a2, 0);
    assert_int_not_equal(i, SIZE_MAX);
    struct swim__packet pk;
    fx_io_decode(&c.io, i, &pk);
    assert_string_equal(pk.target, "m2");
    uint32_t relay = pk.seq;
    swim__packet_free(&pk);
    fx_pkt_begin(&p, SWIM__ACK, relay, NULL, NULL, false);
    fx_core_recv(&c, 2, &p, 12);
    i = fx_io_find(&c.io, SWIM__ACK, &a1, 0);
    assert_int_not_equal(i, SIZE_MAX);
    fx_io_decode(&c.io, i, &pk);
    assert_int_equal(pk.seq, 77);
    swim__packet_free(&pk);

    /* The target stays silent: a nack 80% of a probe timeout later. */
    const int64_t nack_at = 20 + c.cfg.probe_timeout_ms * 4 / 5;
    fx_io_clear(&c.io);
    fx_pkt_begin(&p, SWIM__PING_REQ, 78, "m2", &a2, true);
    c.io.now = 20;
    fx_core_recv(&c, 1, &p, 20);
    fx_core_run(&c, nack_at - 1);
    assert_int_equal(fx_io_find(&c.io, SWIM__NACK, &a1, 0), SIZE_MAX);
    fx_core_run(&c, nack_at);
    i = fx_io_find(&c.io, SWIM__NACK, &a1, 0);
    assert_int_not_equal(i, SIZE_MAX);
    assert_int_equal(c.io.sent[i].t, nack_at);
    fx_io_decode(&c.io, i, &pk);
    assert_int_equal(pk.seq, 78);
    swim__packet_free(&pk);
    assert_int_equal(swim_stats(c.s)->nacks_sent, 1);
    fx_core_free(&c);
}

/* Buddy system [LG IV.C]: our ping to a member we suspect carries the
 * suspicion. */
static void preload_suspect(struct fx_core *c, unsigned i)
{
    char name[16];
    struct swim_member_info m;
    memset(&m, 0, sizeof(m));
    m.name = fx_name(i, name);
    m.addr = fx_addr(i);
    m.state = SWIM_SUSPECT;
    assert_int_equal(swim_preload(c->s, &m, 0), 0);
}

static void test_buddy_ping(void **state)
{
    (void)state;
    struct fx_core c;
    fx_core_new(&c, NULL, 0);
    preload_suspect(&c, 1); /* suspected, nothing queued about it */
    struct swim_addr a1 = A(1);
    fx_core_run(&c, 199);
    size_t i = fx_io_find(&c.io, SWIM__PING, &a1, 0);
    assert_int_not_equal(i, SIZE_MAX);
    struct swim__packet pk;
    fx_io_decode(&c.io, i, &pk);
    assert_int_equal(pk.n_updates, 1);
    assert_int_equal(pk.updates[0].state, SWIM_SUSPECT);
    assert_memory_equal(pk.updates[0].name, "m1", 2);
    assert_memory_equal(pk.updates[0].from, "m0", 2);
    swim__packet_free(&pk);
    fx_core_free(&c);

    /* A member we hold dead pings us: our ack says so first, and it
     * refutes at once. */
    fx_core_new(&c, NULL, 2);
    gossip(&c, 2, 10, SWIM_DEAD, "m1", 3, "m2");
    fx_io_clear(&c.io);
    struct fx_pkt ping;
    fx_pkt_ping(&ping, 31, "m0", "m1");
    fx_core_recv(&c, 1, &ping, 20);
    i = fx_io_find(&c.io, SWIM__ACK, &a1, 0);
    assert_int_not_equal(i, SIZE_MAX);
    fx_io_decode(&c.io, i, &pk);
    assert_int_equal(pk.seq, 31);
    assert_true(pk.n_updates >= 1);
    assert_int_equal(pk.updates[0].state, SWIM_DEAD);
    assert_memory_equal(pk.updates[0].name, "m1", 2);
    assert_int_equal(pk.updates[0].incarnation, 3);
    swim__packet_free(&pk);
    /* ...but not when it is alive to us. */
    fx_io_clear(&c.io);
    fx_pkt_ping(&ping, 32, "m0", "m2");
    struct swim_addr a2 = A(2);
    fx_core_recv(&c, 2, &ping, 30);
    i = fx_io_find(&c.io, SWIM__ACK, &a2, 0);
    assert_int_not_equal(i, SIZE_MAX);
    assert_false(has_update(&c.io, i, SWIM_DEAD, "m1", 3) &&
                 c.io.sent[i].len < 20);
    fx_io_decode(&c.io, i, &pk);
    for (size_t k = 0; k < pk.n_updates; k++)
        assert_false(pk.updates[k].name_len == 2 &&
                     memcmp(pk.updates[k].name, "m2", 2) == 0);
    swim__packet_free(&pk);
    fx_core_free(&c);

    /* Without the buddy system the ping carries nothing. */
    struct swim_config cfg;
    swim_config_default(&cfg);
    cfg.lifeguard = SWIM_LIFEGUARD_LHM | SWIM_LIFEGUARD_SUSPICION;
    fx_core_new(&c, &cfg, 0);
    preload_suspect(&c, 1);
    fx_core_run(&c, 199);
    i = fx_io_find(&c.io, SWIM__PING, &a1, 0);
    assert_int_not_equal(i, SIZE_MAX);
    fx_io_decode(&c.io, i, &pk);
    assert_int_equal(pk.n_updates, 0);
    swim__packet_free(&pk);
    fx_core_free(&c);
}

static void test_recv_malformed(void **state)
{
    (void)state;
    struct fx_core c;
    fx_core_new(&c, NULL, 1);
    struct swim_addr a1 = A(1);
    uint8_t junk[64];
    memset(junk, 0xff, sizeof(junk));
    assert_int_equal(swim_recv(c.s, &a1, junk, sizeof(junk), 1), CL_EPROTO);
    assert_int_equal(swim_stats(c.s)->drop_decode, 1);
    uint8_t v2[] = {0x08, 0x02}; /* Packet{version: 2} */
    assert_int_equal(swim_recv(c.s, &a1, v2, sizeof(v2), 1), CL_EVERSION);
    assert_int_equal(swim_stats(c.s)->drop_version, 1);
    uint8_t v0[] = {0x22, 0x00}; /* an ack without a version */
    assert_int_equal(swim_recv(c.s, &a1, v0, sizeof(v0), 1), CL_EVERSION);
    static uint8_t big[SWIM_PACKET_MAX + 1];
    assert_int_equal(swim_recv(c.s, &a1, big, sizeof(big), 1), CL_ETOOBIG);
    assert_int_equal(swim_stats(c.s)->drop_oversize, 1);
    /* A bad name anywhere refuses the whole packet. */
    struct fx_pkt p;
    fx_pkt_begin(&p, SWIM__GOSSIP, 0, NULL, NULL, false);
    fx_pkt_update(&p, SWIM_ALIVE, "m5", 1, &a1, 0, NULL, NULL);
    fx_pkt_update(&p, SWIM_ALIVE, "bad name", 1, &a1, 0, NULL, NULL);
    assert_int_equal(fx_core_recv(&c, 1, &p, 2), CL_EPROTO);
    assert_int_equal(swim_member_count(c.s), 2);
    assert_int_equal(swim_stats(c.s)->drop_decode, 2);
    fx_core_free(&c);
}

static void test_join(void **state)
{
    (void)state;
    struct fx_core c;
    fx_core_new(&c, NULL, 0);
    struct swim_addr seed = A(9), self = A(0);
    struct swim_addr seeds[2] = {self, seed};
    assert_int_equal(swim_join(c.s, seeds, 0, 0), CL_EINVAL);
    assert_int_equal(swim_join(c.s, seeds, 2, 0), 0);
    /* Sent at once, to the seed only, introducing ourselves. */
    assert_int_equal(c.io.n_sent, 1);
    assert_true(swim_addr_equal(&c.io.sent[0].to, &seed));
    struct swim__packet pk;
    fx_io_decode(&c.io, 0, &pk);
    assert_int_equal(pk.kind, SWIM__PUSH_PULL);
    assert_true(pk.join);
    assert_int_equal(pk.n_entries, 1);
    assert_memory_equal(pk.entries[0].name, "m0", 2);
    swim__packet_free(&pk);
    /* Retried until answered. */
    fx_core_run(&c, 999);
    assert_int_equal(fx_io_find(&c.io, SWIM__PUSH_PULL, &seed, 1), SIZE_MAX);
    fx_core_run(&c, 1000);
    assert_int_not_equal(fx_io_find(&c.io, SWIM__PUSH_PULL, &seed, 1),
                         SIZE_MAX);
    struct swim__update e[2];
    memset(e, 0, sizeof(e));
    struct swim_addr a5 = A(5);
    e[0].state = SWIM_ALIVE;
    e[0].name = "m9";
    e[0].name_len = 2;
    e[0].has_addr = true;
    e[0].addr = seed;
    e[0].from = "";
    e[1] = e[0];
    e[1].name = "m5";
    e[1].addr = a5;
    e[1].incarnation = 4;
    struct fx_pkt p;
    fx_pkt_push_pull(&p, 1, 1, NULL, 0, NULL, 0, false, false, e, 2);
    assert_int_equal(fx_core_recv(&c, 9, &p, 1100), 0);
    assert_int_equal(fx_log_count(&c.io.log, SWIM_EV_JOINED, NULL, 0), 2);
    assert_int_equal(fx_core_inc(&c, 5), 4);
    fx_io_clear(&c.io);
    fx_core_run(&c, 5000);
    assert_int_equal(fx_io_find(&c.io, SWIM__PUSH_PULL, &seed, 0), SIZE_MAX);
    fx_core_free(&c);
}

static void test_push_pull(void **state)
{
    (void)state;
    struct fx_core c;
    fx_core_new(&c, NULL, 3);
    /* The core's own periodic request: digests of its view. */
    fx_core_run(&c, 45000);
    size_t i = fx_io_find(&c.io, SWIM__PUSH_PULL, NULL, 0);
    assert_int_not_equal(i, SIZE_MAX);
    struct swim__packet req;
    fx_io_decode(&c.io, i, &req);
    assert_false(req.join);
    assert_int_equal(req.n_digests, req.bucket_count);
    uint64_t digests[8];
    uint32_t nb = req.bucket_count;
    assert_true(nb <= 8);
    memcpy(digests, req.digests, nb * sizeof(uint64_t));
    swim__packet_free(&req);
    /* The same view is in sync: no answer. */
    fx_io_clear(&c.io);
    struct fx_pkt p;
    fx_pkt_push_pull(&p, 5, nb, digests, nb, NULL, 0, false, false, NULL, 0);
    fx_core_recv(&c, 1, &p, 45001);
    assert_int_equal(fx_io_find(&c.io, SWIM__PUSH_PULL, NULL, 0), SIZE_MAX);
    /* A different view: our entries of the differing bucket, reply
     * wanted. */
    uint64_t other = digests[0] + 1;
    fx_pkt_push_pull(&p, 6, 1, &other, 1, NULL, 0, false, false, NULL, 0);
    fx_core_recv(&c, 1, &p, 45002);
    i = fx_io_find(&c.io, SWIM__PUSH_PULL, NULL, 0);
    assert_int_not_equal(i, SIZE_MAX);
    struct swim__packet ans;
    fx_io_decode(&c.io, i, &ans);
    assert_true(ans.reply);
    assert_int_equal(ans.session, 6);
    assert_int_equal(ans.n_entries, 4); /* m0..m3 */
    swim__packet_free(&ans);
    /* A reply wanting ours: answered once per session, learned from. */
    fx_io_clear(&c.io);
    struct swim__update e;
    memset(&e, 0, sizeof(e));
    struct swim_addr a7 = A(7);
    e.state = SWIM_ALIVE;
    e.name = "m7";
    e.name_len = 2;
    e.has_addr = true;
    e.addr = a7;
    e.from = "";
    uint32_t b0 = 0;
    fx_pkt_push_pull(&p, 99, 1, NULL, 0, &b0, 1, false, true, &e, 1);
    fx_core_recv(&c, 1, &p, 45003);
    assert_int_equal(fx_core_state(&c, 7), SWIM_ALIVE);
    i = fx_io_find(&c.io, SWIM__PUSH_PULL, NULL, 0);
    assert_int_not_equal(i, SIZE_MAX);
    fx_io_decode(&c.io, i, &ans);
    assert_false(ans.reply);
    assert_int_equal(ans.n_entries, 4); /* built before merging m7 */
    swim__packet_free(&ans);
    fx_io_clear(&c.io);
    fx_core_recv(&c, 1, &p, 45004);
    assert_int_equal(fx_io_find(&c.io, SWIM__PUSH_PULL, NULL, 0), SIZE_MAX);
    /* A dead entry about a live member only makes us suspect it. */
    e.name = "m2";
    e.addr = A(2);
    e.state = SWIM_DEAD;
    fx_pkt_push_pull(&p, 100, 1, NULL, 0, NULL, 0, false, false, &e, 1);
    fx_core_recv(&c, 1, &p, 45005);
    assert_int_equal(fx_core_state(&c, 2), SWIM_SUSPECT);
    fx_core_free(&c);
}

/* A push-pull answer for a view that differs everywhere is capped; a join
 * gets everything. */
static void test_push_pull_cap(void **state)
{
    (void)state;
    struct fx_core c;
    fx_core_new(&c, NULL, 0);
    char meta[300];
    memset(meta, 'm', sizeof(meta) - 1);
    meta[sizeof(meta) - 1] = '\0';
    for (unsigned i = 1; i <= 400; i++) {
        char name[16];
        struct swim_member_info m;
        memset(&m, 0, sizeof(m));
        m.name = fx_name(i, name);
        m.addr = fx_addr(i);
        m.meta = (const uint8_t *)meta;
        m.meta_len = strlen(meta);
        assert_int_equal(swim_preload(c.s, &m, 0), 0);
    }
    uint64_t zero = 0;
    struct fx_pkt p;
    fx_pkt_push_pull(&p, 1, 1, &zero, 1, NULL, 0, false, false, NULL, 0);
    fx_core_recv(&c, 1, &p, 1);
    size_t chunks = 0, entries = 0;
    for (size_t i = 0; i < c.io.n_sent; i++) {
        struct swim__packet pk;
        fx_io_decode(&c.io, i, &pk);
        if (pk.kind == SWIM__PUSH_PULL) {
            chunks++;
            entries += pk.n_entries;
            assert_true(c.io.sent[i].len + SWIM_SEAL_OVERHEAD <=
                        c.cfg.max_packet);
        }
        swim__packet_free(&pk);
    }
    assert_int_equal(chunks, 16);
    assert_true(entries < 401);
    fx_io_clear(&c.io);
    struct swim__update e;
    memset(&e, 0, sizeof(e));
    e.state = SWIM_ALIVE;
    e.name = "m999";
    e.name_len = 4;
    e.has_addr = true;
    e.addr = fx_addr(999);
    e.from = "";
    fx_pkt_push_pull(&p, 2, 1, &zero, 1, NULL, 0, true, false, &e, 1);
    fx_core_recv(&c, 999, &p, 2);
    entries = 0;
    for (size_t i = 0; i < c.io.n_sent; i++) {
        struct swim__packet pk;
        fx_io_decode(&c.io, i, &pk);
        if (pk.kind == SWIM__PUSH_PULL) {
            assert_false(pk.reply);
            entries += pk.n_entries;
        }
        swim__packet_free(&pk);
    }
    assert_int_equal(entries, 401); /* m0..m400: our whole view */
    assert_int_equal(fx_core_state(&c, 999), SWIM_ALIVE);
    fx_core_free(&c);
}

/* Every allocation failure inside swim_new and swim_recv is a returned
 * error or a counted drop, never a crash or a leak. */
static void test_out_of_memory(void **state)
{
    (void)state;
    struct swim_config cfg;
    swim_config_default(&cfg);
    struct swim_addr a = A(0);
    int rv = CL_ENOMEM;
    for (int delay = 0; rv != 0; delay++) {
        struct fx_io io;
        fx_io_init(&io);
        cl_rng rng;
        cl_rng_seed(&rng, 1);
        struct swim *s = NULL;
        fx_heap_fail(delay, 1);
        rv = swim_new(&cfg, &io.io, &rng, "m0", &a, 0, &s);
        fx_heap_fail(0, 0);
        if (rv != 0) {
            assert_int_equal(rv, CL_ENOMEM);
            assert_null(s);
        }
        swim_free(s);
        fx_io_free(&io);
        assert_int_equal(fx_heap_outstanding(), 0);
        assert_true(delay < 100);
    }
    struct fx_core c;
    fx_core_new(&c, NULL, 2);
    struct swim__update e[3];
    memset(e, 0, sizeof(e));
    const char *names[3] = {"m5", "m6", "m7"};
    for (int k = 0; k < 3; k++) {
        e[k].state = SWIM_ALIVE;
        e[k].name = names[k];
        e[k].name_len = 2;
        e[k].has_addr = true;
        e[k].addr = A(5 + (unsigned)k);
        e[k].has_meta = true;
        e[k].meta = (const uint8_t *)"meta";
        e[k].meta_len = 4;
        e[k].from = "";
    }
    struct fx_pkt p;
    fx_pkt_push_pull(&p, 1, 1, NULL, 0, NULL, 0, false, false, e, 3);
    for (int delay = 0; delay < 120; delay++) {
        fx_heap_fail(delay, 1);
        fx_core_recv(&c, 1, &p, 10 + delay);
        fx_heap_fail(0, 0);
    }
    const struct swim_stats *st = swim_stats(c.s);
    assert_true(st->drop_nomem > 0);
    /* Eventually every entry got in. */
    assert_int_equal(fx_core_state(&c, 5), SWIM_ALIVE);
    assert_int_equal(fx_core_state(&c, 7), SWIM_ALIVE);
    fx_core_free(&c);
}

static void test_send_errors_counted(void **state)
{
    (void)state;
    struct fx_core c;
    fx_core_new(&c, NULL, 1);
    c.io.fail_sends = 2;
    fx_core_run(&c, 1000);
    const struct swim_stats *st = swim_stats(c.s);
    assert_int_equal(st->send_errors, 2);
    assert_int_equal(st->packets_sent, c.io.n_sent + 2);
    fx_core_free(&c);
}

static void test_queries(void **state)
{
    (void)state;
    struct fx_core c;
    fx_core_new(&c, NULL, 3);
    assert_int_equal(swim_member_count(c.s), 4);
    assert_int_equal(swim_state_count(c.s, SWIM_ALIVE), 4);
    assert_string_equal(swim_self_name(c.s), "m0");
    size_t selfs = 0;
    for (size_t i = 0; i < swim_member_count(c.s); i++) {
        struct swim_member_info m;
        assert_int_equal(swim_member_at(c.s, i, &m), 0);
        selfs += m.is_self;
    }
    assert_int_equal(selfs, 1);
    struct swim_member_info m;
    assert_int_equal(swim_member_at(c.s, 4, &m), CL_ERANGE);
    assert_int_equal(swim_member_find(c.s, "nobody", &m), CL_ENOENT);
    memset(&m, 0, sizeof(m));
    m.name = "m0";
    m.addr = A(0);
    assert_int_equal(swim_preload(c.s, &m, 0), CL_EINVAL);
    assert_string_equal(swim_state_name(SWIM_SUSPECT), "suspect");
    assert_string_equal(swim_event_name(SWIM_EV_UPDATED), "updated");
    fx_core_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_suspicion_timeout, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retransmit_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refute, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incarnation_ordering, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_suspicion_confirmations, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_leave_vs_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejoin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metadata_versions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_probe_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probe_indirect_nack, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_probe_self_blame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_scales_period, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ping_req_relay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buddy_ping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recv_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_join, setup, teardown),
        cmocka_unit_test_setup_teardown(test_push_pull, setup, teardown),
        cmocka_unit_test_setup_teardown(test_push_pull_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_errors_counted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queries, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
