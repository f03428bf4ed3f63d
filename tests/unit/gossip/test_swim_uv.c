/* Tests of the libuv shell (gossip/swim_uv.c): real UDP sockets on
 * 127.0.0.1, several members on one loop shared with other handles. Waits
 * are bounded by generous guards; nothing asserts on wall-clock time. */
#include "fixture.h"

#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "common/cl_err.h"
#include "common/cl_heap.h"
#include "gossip/swim_uv.h"

#define GUARD_MS 30000

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

/* One member and what it saw. */
struct node {
    struct swim_uv u;
    char name[16];
    struct fx_log log;
    int left_status;
    bool left_done;
    bool closed;
};

static void on_event(struct swim_uv *u, const struct swim_event *ev)
{
    struct node *n = u->data;
    fx_log_add(&n->log, 0, 0, ev);
}

static void on_left(struct swim_uv *u, int status)
{
    struct node *n = u->data;
    n->left_status = status;
    n->left_done = true;
}

static void on_closed(struct swim_uv *u)
{
    struct node *n = u->data;
    n->closed = true;
}

static void fast_config(struct swim_config *c)
{
    swim_config_default(c);
    c->probe_interval_ms = 100;
    c->probe_timeout_ms = 10;
    c->probe_attempts = 6;
    c->gossip_interval_ms = 30;
    c->push_pull_interval_ms = 2000;
    c->join_retry_ms = 200;
    c->reconnect_interval_ms = 1000;
}

static void node_start(struct node *n, uv_loop_t *loop, const char *name,
                       const uint8_t *key)
{
    memset(n, 0, sizeof(*n));
    snprintf(n->name, sizeof(n->name), "%s", name);
    struct swim_config cfg;
    fast_config(&cfg);
    struct swim_uv_options o;
    memset(&o, 0, sizeof(o));
    o.name = n->name;
    o.bind = "127.0.0.1:0";
    o.key = key;
    o.config = &cfg;
    o.seed = (uint64_t)name[0] * 131 + (uint64_t)name[1];
    o.on_event = on_event;
    n->u.data = n;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(swim_uv_init(&n->u, loop, &o, &err), 0);
    assert_int_equal(swim_uv_start(&n->u, &err), 0);
    assert_ptr_equal(n->u.data, n);
}

static void node_addr(const struct node *n, char *buf, size_t len)
{
    struct swim_addr a;
    assert_int_equal(swim_uv_addr(&n->u, &a), 0);
    swim_addr_format(&a, buf, len);
}

static int state_of(const struct node *n, const struct node *other)
{
    struct swim_member_info m;
    if (swim_uv_member_find(&n->u, other->name, &m) != 0)
        return -1;
    return (int)m.state;
}

/* run_until - run the loop until pred holds (checked every 10 ms) or the
 * guard expires. */
struct waiter {
    uv_timer_t timer;
    bool (*pred)(void *arg);
    void *arg;
    bool ok;
    uint64_t start;
};

static void on_check(uv_timer_t *t)
{
    struct waiter *w = t->data;
    if (w->pred(w->arg)) {
        w->ok = true;
        uv_stop(t->loop);
    } else if (uv_now(t->loop) - w->start > GUARD_MS) {
        uv_stop(t->loop);
    }
}

static bool run_until(uv_loop_t *loop, bool (*pred)(void *), void *arg)
{
    struct waiter w;
    memset(&w, 0, sizeof(w));
    w.pred = pred;
    w.arg = arg;
    w.start = uv_now(loop);
    uv_timer_init(loop, &w.timer);
    w.timer.data = &w;
    uv_timer_start(&w.timer, on_check, 10, 10);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&w.timer, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return w.ok;
}

struct group {
    struct node *n;
    size_t count;
};

static bool all_alive(void *arg)
{
    struct group *g = arg;
    for (size_t i = 0; i < g->count; i++)
        for (size_t j = 0; j < g->count; j++)
            if (i != j && state_of(&g->n[i], &g->n[j]) != SWIM_ALIVE)
                return false;
    return true;
}

static bool all_closed(void *arg)
{
    struct group *g = arg;
    for (size_t i = 0; i < g->count; i++)
        if (!g->n[i].closed)
            return false;
    return true;
}

static void close_all(uv_loop_t *loop, struct node *n, size_t count)
{
    for (size_t i = 0; i < count; i++)
        swim_uv_close(&n[i].u, on_closed);
    struct group g = {n, count};
    assert_true(run_until(loop, all_closed, &g));
    for (size_t i = 0; i < count; i++)
        fx_log_free(&n[i].log);
}

static void test_key(uint8_t key[SWIM_KEY_SIZE], uint8_t fill)
{
    memset(key, fill, SWIM_KEY_SIZE);
}

/* Unrelated work on the same loop: a busy repeating timer. */
static void on_other_work(uv_timer_t *t)
{
    (*(uint64_t *)t->data)++;
}

struct watch {
    struct node *n;
    struct node *target;
    int state;
};

static bool sees(void *arg)
{
    struct watch *w = arg;
    return state_of(w->n, w->target) == w->state;
}

static bool left_done(void *arg)
{
    return ((struct node *)arg)->left_done;
}

/* Three members on one loop: join through a seed, see each other alive,
 * see metadata, one leaves gracefully, one stops abruptly and is declared
 * dead. */
static void test_three_members(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_timer_t other;
    uint64_t other_ticks = 0;
    uv_timer_init(&loop, &other);
    other.data = &other_ticks;
    uv_timer_start(&other, on_other_work, 1, 1);

    uint8_t key[SWIM_KEY_SIZE];
    test_key(key, 0x42);
    struct node n[3];
    node_start(&n[0], &loop, "alpha", key);
    node_start(&n[1], &loop, "beta", key);
    node_start(&n[2], &loop, "gamma", key);

    struct swim_meta meta;
    swim_meta_init(&meta);
    meta.role = SWIM_ROLE_AGENT;
    assert_int_equal(
        swim_meta_set_endpoint(&meta, "control", "tcp://127.0.0.1:7100"), 0);
    meta.resources.gpus_total = 8;
    uint8_t *packed;
    size_t packed_len;
    assert_int_equal(swim_meta_pack(&meta, &packed, &packed_len), 0);
    swim_meta_free(&meta);
    assert_int_equal(swim_uv_set_meta(&n[1].u, packed, packed_len), 0);
    cl_free(packed);

    char seed[SWIM_ADDR_STRLEN], list[3 * SWIM_ADDR_STRLEN];
    node_addr(&n[0], seed, sizeof(seed));
    /* The same list for everyone, the seed itself included. */
    snprintf(list, sizeof(list), "%s,localhost:1", seed);
    cl_errmsg err;
    assert_int_equal(swim_uv_join(&n[1].u, seed, &err), 0);
    assert_int_equal(swim_uv_join(&n[2].u, list, &err), 0);
    assert_int_equal(swim_uv_join(&n[0].u, seed, &err), 0);
    assert_int_equal(swim_uv_join(&n[0].u, "not an address", &err), CL_EINVAL);

    struct group g = {n, 3};
    assert_true(run_until(&loop, all_alive, &g));
    assert_true(other_ticks > 0);
    assert_int_equal(swim_uv_member_count(&n[0].u), 3);

    /* alpha sees beta's metadata. */
    struct swim_member_info m;
    assert_int_equal(swim_uv_member_find(&n[0].u, "beta", &m), 0);
    assert_int_equal(m.meta_version, 1);
    struct swim_meta seen;
    assert_int_equal(swim_meta_unpack(m.meta, m.meta_len, &seen), 0);
    assert_int_equal(seen.role, SWIM_ROLE_AGENT);
    assert_string_equal(swim_meta_endpoint(&seen, "control"),
                        "tcp://127.0.0.1:7100");
    assert_int_equal(seen.resources.gpus_total, 8);
    swim_meta_free(&seen);
    assert_int_equal(fx_log_count(&n[0].log, SWIM_EV_JOINED, "beta", 0), 1);
    assert_int_equal(fx_log_count(&n[0].log, SWIM_EV_JOINED, "gamma", 0), 1);

    /* gamma leaves gracefully, then stops. */
    assert_int_equal(swim_uv_leave(&n[2].u, 5000, on_left), 0);
    assert_true(run_until(&loop, left_done, &n[2]));
    assert_int_equal(n[2].left_status, 0);
    swim_uv_stop(&n[2].u);
    struct watch w0 = {&n[0], &n[2], SWIM_LEFT};
    struct watch w1 = {&n[1], &n[2], SWIM_LEFT};
    assert_true(run_until(&loop, sees, &w0));
    assert_true(run_until(&loop, sees, &w1));

    /* beta stops abruptly: declared dead. */
    swim_uv_stop(&n[1].u);
    swim_uv_stop(&n[1].u); /* idempotent */
    struct watch wd = {&n[0], &n[1], SWIM_DEAD};
    assert_true(run_until(&loop, sees, &wd));
    assert_int_equal(fx_log_count(&n[0].log, SWIM_EV_LEFT, "gamma", 0), 1);
    assert_int_equal(fx_log_count(&n[0].log, SWIM_EV_DEAD, "gamma", 0), 0);
    assert_int_equal(fx_log_count(&n[0].log, SWIM_EV_DEAD, "beta", 0), 1);

    struct swim_uv_stats st;
    swim_uv_stats(&n[0].u, &st);
    assert_true(st.swim.packets_recv > 0);
    assert_int_equal(st.keyring.opened, st.swim.packets_recv);
    assert_int_equal(st.keyring.auth_failed, 0);

    uv_close((uv_handle_t *)&other, NULL);
    close_all(&loop, n, 3);
    assert_int_equal(uv_loop_close(&loop), 0);
}

struct auth_watch {
    struct node *n;
    uint64_t want;
};

static bool auth_failures(void *arg)
{
    struct auth_watch *w = arg;
    struct swim_uv_stats st;
    swim_uv_stats(&w->n->u, &st);
    return st.keyring.auth_failed >= w->want;
}

/* A member with another key cannot join: its packets fail
 * authentication and are counted. Then keys rotate without a restart. */
static void test_keys(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    uint8_t k1[SWIM_KEY_SIZE], k2[SWIM_KEY_SIZE];
    test_key(k1, 1);
    test_key(k2, 2);
    struct node n[3];
    node_start(&n[0], &loop, "a1", k1);
    node_start(&n[1], &loop, "b1", k1);
    node_start(&n[2], &loop, "x2", k2);
    char seed[SWIM_ADDR_STRLEN];
    node_addr(&n[0], seed, sizeof(seed));
    cl_errmsg err;
    assert_int_equal(swim_uv_join(&n[1].u, seed, &err), 0);
    assert_int_equal(swim_uv_join(&n[2].u, seed, &err), 0);
    struct group g = {n, 2};
    assert_true(run_until(&loop, all_alive, &g));
    struct auth_watch aw = {&n[0], 3};
    assert_true(run_until(&loop, auth_failures, &aw));
    assert_int_equal(swim_uv_member_count(&n[2].u), 1);
    assert_int_equal(state_of(&n[0], &n[2]), -1);

    /* Rotate k1 -> k2 on the two members while they run. */
    struct swim_keyring *ka = swim_uv_keyring(&n[0].u);
    struct swim_keyring *kb = swim_uv_keyring(&n[1].u);
    assert_int_equal(swim_keyring_add(ka, k2), 0);
    assert_int_equal(swim_keyring_add(kb, k2), 0);
    assert_int_equal(swim_keyring_use(ka, k2), 0);
    struct swim_uv_stats before;
    swim_uv_stats(&n[1].u, &before);
    struct auth_watch dummy = {&n[0], 0};
    (void)dummy;
    /* b1 opens a1's packets with its secondary key meanwhile. */
    uint64_t want = before.keyring.opened_secondary + 3;
    bool seen_secondary = false;
    for (int i = 0; i < 300 && !seen_secondary; i++) {
        uv_run(&loop, UV_RUN_ONCE);
        struct swim_uv_stats now;
        swim_uv_stats(&n[1].u, &now);
        seen_secondary = now.keyring.opened_secondary >= want;
    }
    assert_true(seen_secondary);
    assert_int_equal(swim_keyring_use(kb, k2), 0);
    assert_int_equal(swim_keyring_remove(ka, k1), 0);
    assert_int_equal(swim_keyring_remove(kb, k1), 0);
    /* Still one cluster; and now x2 (k2) is let in. */
    g.count = 3;
    assert_true(run_until(&loop, all_alive, &g));
    close_all(&loop, n, 3);
    assert_int_equal(uv_loop_close(&loop), 0);
}

struct drop_watch {
    struct node *n;
};

static bool dropped(void *arg)
{
    struct drop_watch *w = arg;
    struct swim_uv_stats st;
    swim_uv_stats(&w->n->u, &st);
    return st.recv_oversize >= 1 && st.keyring.malformed >= 1 &&
           st.keyring.auth_failed >= 1;
}

static void on_raw_sent(uv_udp_send_t *req, int status)
{
    (void)req;
    (void)status;
}

/* Oversized, malformed and forged datagrams are dropped and counted. */
static void test_hostile_input(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    uint8_t k[SWIM_KEY_SIZE];
    test_key(k, 3);
    struct node n[1];
    node_start(&n[0], &loop, "target", k);
    struct swim_addr a;
    assert_int_equal(swim_uv_addr(&n[0].u, &a), 0);
    struct sockaddr_in to;
    char ip[32];
    snprintf(ip, sizeof(ip), "%u.%u.%u.%u", a.ip[0], a.ip[1], a.ip[2], a.ip[3]);
    uv_ip4_addr(ip, a.port, &to);
    uv_udp_t raw;
    uv_udp_init(&loop, &raw);
    static char big[3000], junk[10], forged[200];
    memset(big, 1, sizeof(big));
    memset(junk, 1, sizeof(junk));
    memset(forged, 0, sizeof(forged));
    forged[0] = 1; /* right version byte, no valid tag */
    uv_udp_send_t r1, r2, r3;
    uv_buf_t b1 = uv_buf_init(big, sizeof(big));
    uv_buf_t b2 = uv_buf_init(junk, sizeof(junk));
    uv_buf_t b3 = uv_buf_init(forged, sizeof(forged));
    assert_int_equal(uv_udp_send(&r1, &raw, &b1, 1,
                                 (const struct sockaddr *)&to, on_raw_sent),
                     0);
    assert_int_equal(uv_udp_send(&r2, &raw, &b2, 1,
                                 (const struct sockaddr *)&to, on_raw_sent),
                     0);
    assert_int_equal(uv_udp_send(&r3, &raw, &b3, 1,
                                 (const struct sockaddr *)&to, on_raw_sent),
                     0);
    struct drop_watch w = {&n[0]};
    assert_true(run_until(&loop, dropped, &w));
    struct swim_uv_stats st;
    swim_uv_stats(&n[0].u, &st);
    assert_int_equal(st.swim.packets_recv, 0);
    uv_close((uv_handle_t *)&raw, NULL);
    close_all(&loop, n, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Lifecycle edges: bad options, close without start, close with a pending
 * leave and a pending name resolution. */
static void test_lifecycle(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    uint8_t k[SWIM_KEY_SIZE];
    test_key(k, 4);
    struct swim_uv u;
    struct swim_uv_options o;
    memset(&o, 0, sizeof(o));
    o.name = "bad name";
    o.bind = "127.0.0.1:0";
    o.key = k;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(swim_uv_init(&u, &loop, &o, &err), CL_EINVAL);
    assert_non_null(strstr(err.msg, "name"));
    o.name = "ok";
    o.bind = "localhost:0";
    assert_int_equal(swim_uv_init(&u, &loop, &o, &err), CL_EINVAL);
    o.bind = "127.0.0.1:0";
    o.key = NULL;
    assert_int_equal(swim_uv_init(&u, &loop, &o, &err), CL_EINVAL);
    o.key = k;
    struct swim_config bad;
    swim_config_default(&bad);
    bad.probe_interval_ms = 0;
    o.config = &bad;
    assert_int_equal(swim_uv_init(&u, &loop, &o, &err), CL_EINVAL);
    assert_non_null(strstr(err.msg, "configuration"));
    o.config = NULL;

    /* Closed before started. */
    struct node n[2];
    memset(n, 0, sizeof(n));
    n[0].u.data = &n[0];
    assert_int_equal(swim_uv_init(&n[0].u, &loop, &o, &err), 0);
    assert_int_equal(swim_uv_join(&n[0].u, "127.0.0.1:1", &err), CL_ESTATE);
    assert_int_equal(swim_uv_member_count(&n[0].u), 0);

    /* Started, leaving and resolving when closed. */
    node_start(&n[1], &loop, "z1", k);
    assert_int_equal(swim_uv_start(&n[1].u, &err), CL_ESTATE);
    assert_int_equal(swim_uv_join(&n[1].u, "localhost:9", &err), 0);
    assert_int_equal(swim_uv_join(&n[1].u, "localhost:x", &err), CL_EINVAL);
    assert_int_equal(swim_uv_join(&n[1].u, "127.0.0.1:9,", &err), 0);
    assert_int_equal(swim_uv_leave(&n[1].u, 60000, on_left), 0);
    assert_int_equal(swim_uv_leave(&n[1].u, 60000, on_left), CL_EBUSY);
    close_all(&loop, n, 2);
    assert_true(n[1].left_done);
    assert_true(n[1].left_status == 0 || n[1].left_status == CL_ECANCELED);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_three_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
