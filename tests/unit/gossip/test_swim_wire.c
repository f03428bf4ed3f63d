/* Unit tests of the wire codec (gossip/swim_wire.c): addresses, names,
 * bounded decoding and validation, packet assembly. */
#include "fixture.h"

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

static void test_addr_parse_format(void **state)
{
    (void)state;
    struct swim_addr a, b;
    char buf[SWIM_ADDR_STRLEN];
    assert_int_equal(swim_addr_parse("10.1.2.3:7946", &a), 0);
    assert_int_equal(a.family, 4);
    assert_int_equal(a.port, 7946);
    assert_string_equal(swim_addr_format(&a, buf, sizeof(buf)),
                        "10.1.2.3:7946");
    assert_int_equal(swim_addr_parse("[::1]:80", &b), 0);
    assert_int_equal(b.family, 6);
    assert_string_equal(swim_addr_format(&b, buf, sizeof(buf)), "[::1]:80");
    assert_false(swim_addr_equal(&a, &b));
    const char *bad[] = {"10.1.2.3", "10.1.2.3:", "10.1.2.3:70000",
                         "host:80",  "[::1]80",   "[::1]:x",
                         ":80",      "1.2.3.4:8a"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(swim_addr_parse(bad[i], &a), CL_EINVAL);
    /* Wire form round trip, both families. */
    uint8_t w[18];
    struct swim_addr back;
    assert_int_equal(swim_addr_parse("192.168.0.9:1", &a), 0);
    size_t n = swim__addr_encode(&a, w);
    assert_int_equal(n, 6);
    assert_int_equal(swim__addr_decode(w, n, &back), 0);
    assert_true(swim_addr_equal(&a, &back));
    n = swim__addr_encode(&b, w);
    assert_int_equal(n, 18);
    assert_int_equal(swim__addr_decode(w, n, &back), 0);
    assert_true(swim_addr_equal(&b, &back));
    assert_int_equal(swim__addr_decode(w, 7, &back), CL_EPROTO);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(swim__name_valid("node-1.example:7", 16));
    assert_false(swim__name_valid("", 0));
    assert_false(swim__name_valid("a b", 3));
    assert_false(swim__name_valid("tab\t", 4));
    char longname[SWIM_NAME_MAX + 2];
    memset(longname, 'x', sizeof(longname));
    assert_true(swim__name_valid(longname, SWIM_NAME_MAX));
    assert_false(swim__name_valid(longname, SWIM_NAME_MAX + 1));
}

static void test_round_trip(void **state)
{
    (void)state;
    struct fx_pkt p;
    struct swim_addr a = fx_addr(3), t = fx_addr(4);
    fx_pkt_begin(&p, SWIM__PING_REQ, 99, "m4", &t, true);
    fx_pkt_update(&p, SWIM_ALIVE, "m3", 7, &a, 2, "meta", NULL);
    fx_pkt_update(&p, SWIM_SUSPECT, "m4", 1, NULL, 0, NULL, "m3");
    struct swim__packet pk;
    assert_int_equal(swim__decode(p.w.buf, p.w.len, &pk), 0);
    assert_int_equal(pk.kind, SWIM__PING_REQ);
    assert_int_equal(pk.seq, 99);
    assert_string_equal(pk.target, "m4");
    assert_true(swim_addr_equal(&pk.target_addr, &t));
    assert_true(pk.nack);
    assert_int_equal(pk.n_updates, 2);
    const struct swim__update *u = &pk.updates[0];
    assert_int_equal(u->state, SWIM_ALIVE);
    assert_int_equal(u->incarnation, 7);
    assert_true(u->has_addr);
    assert_true(swim_addr_equal(&u->addr, &a));
    assert_true(u->has_meta);
    assert_int_equal(u->meta_len, 4);
    assert_int_equal(u->meta_version, 2);
    assert_int_equal(u->from_len, 0);
    u = &pk.updates[1];
    assert_int_equal(u->state, SWIM_SUSPECT);
    assert_false(u->has_addr);
    assert_false(u->has_meta);
    assert_int_equal(u->from_len, 2);
    swim__packet_free(&pk);

    /* Every kind of body. */
    enum swim__kind kinds[] = {SWIM__GOSSIP, SWIM__PING, SWIM__ACK, SWIM__NACK};
    for (size_t i = 0; i < 4; i++) {
        fx_pkt_begin(&p, kinds[i], 5, "m1", NULL, false);
        assert_int_equal(swim__decode(p.w.buf, p.w.len, &pk), 0);
        assert_int_equal(pk.kind, kinds[i]);
        swim__packet_free(&pk);
    }
    uint64_t d[2] = {1, 2};
    uint32_t b[1] = {1};
    fx_pkt_push_pull(&p, 11, 2, d, 2, b, 1, true, true, NULL, 0);
    assert_int_equal(swim__decode(p.w.buf, p.w.len, &pk), 0);
    assert_int_equal(pk.kind, SWIM__PUSH_PULL);
    assert_int_equal(pk.session, 11);
    assert_int_equal(pk.bucket_count, 2);
    assert_int_equal(pk.n_digests, 2);
    assert_int_equal(pk.digests[1], 2);
    assert_int_equal(pk.n_buckets, 1);
    assert_true(pk.join);
    assert_true(pk.reply);
    swim__packet_free(&pk);
}

static void expect_refused(const struct fx_pkt *p, int err)
{
    struct swim__packet pk;
    assert_int_equal(swim__decode(p->w.buf, p->w.len, &pk), err);
    assert_null(pk.pb);
    assert_null(pk.updates);
    assert_null(pk.entries);
}

static void test_validation(void **state)
{
    (void)state;
    struct fx_pkt p;
    struct swim_addr a = fx_addr(1);
    /* An alive without an address. */
    fx_pkt_begin(&p, SWIM__GOSSIP, 0, NULL, NULL, false);
    fx_pkt_update(&p, SWIM_ALIVE, "m1", 1, NULL, 0, NULL, NULL);
    expect_refused(&p, CL_EPROTO);
    /* A bad `from`. */
    fx_pkt_begin(&p, SWIM__GOSSIP, 0, NULL, NULL, false);
    fx_pkt_update(&p, SWIM_SUSPECT, "m1", 1, NULL, 0, NULL, "x y");
    expect_refused(&p, CL_EPROTO);
    /* A ping for a nameless target. */
    fx_pkt_begin(&p, SWIM__PING, 1, "", NULL, false);
    expect_refused(&p, CL_EPROTO);
    /* Too many piggybacked updates. */
    fx_pkt_begin(&p, SWIM__GOSSIP, 0, NULL, NULL, false);
    for (int i = 0; i <= SWIM__MAX_UPDATES; i++)
        fx_pkt_update(&p, SWIM_ALIVE, "m1", 1, &a, 0, NULL, NULL);
    expect_refused(&p, CL_EPROTO);
    /* Push-pull: a listed bucket out of range, digests of the wrong
     * count, no buckets at all. */
    uint64_t d[3] = {0};
    uint32_t b[1] = {4};
    fx_pkt_push_pull(&p, 1, 2, NULL, 0, b, 1, false, true, NULL, 0);
    expect_refused(&p, CL_EPROTO);
    fx_pkt_push_pull(&p, 1, 2, d, 3, NULL, 0, false, false, NULL, 0);
    expect_refused(&p, CL_EPROTO);
    fx_pkt_push_pull(&p, 1, 0, NULL, 0, NULL, 0, false, false, NULL, 0);
    expect_refused(&p, CL_EPROTO);
    /* Metadata above the bound. */
    static char meta[SWIM_META_MAX + 2];
    memset(meta, 'm', SWIM_META_MAX + 1);
    meta[SWIM_META_MAX + 1] = '\0';
    fx_pkt_begin(&p, SWIM__GOSSIP, 0, NULL, NULL, false);
    fx_pkt_update(&p, SWIM_ALIVE, "m1", 1, &a, 1, meta, NULL);
    expect_refused(&p, CL_EPROTO);
    /* An unknown state value: Update{state: 9, name: "m1"}. */
    uint8_t upd[] = {0x08, 0x09, 0x12, 0x02, 'm', '1'};
    fx_pkt_begin(&p, SWIM__GOSSIP, 0, NULL, NULL, false);
    assert_int_equal(
        swim__put_field(&p.w, SWIM__TAG_PACKET_UPDATE, upd, sizeof(upd)), 0);
    expect_refused(&p, CL_EPROTO);
    /* Every truncation of a valid packet is refused or decodes to a
     * shorter valid one, never read past the end. */
    fx_pkt_begin(&p, SWIM__PING, 1, "m1", NULL, false);
    fx_pkt_update(&p, SWIM_ALIVE, "m1", 1, &a, 1, "meta", NULL);
    for (size_t n = 0; n < p.w.len; n++) {
        struct swim__packet pk;
        int rv = swim__decode(p.w.buf, n, &pk);
        assert_true(rv == 0 || rv == CL_EPROTO || rv == CL_EVERSION);
        if (rv == 0)
            swim__packet_free(&pk);
    }
    /* Oversize input. */
    static uint8_t big[SWIM_PACKET_MAX + 1];
    struct swim__packet pk;
    assert_int_equal(swim__decode(big, sizeof(big), &pk), CL_ETOOBIG);
}

static void test_assembly_bounds(void **state)
{
    (void)state;
    uint8_t buf[8];
    struct swim__wbuf w = {buf, 0, sizeof(buf)};
    assert_int_equal(
        swim__put_header(&w, SWIM__PING, 1, "a-long-name", NULL, NULL, false),
        CL_ETOOBIG);
    assert_int_equal(w.len, 0);
    assert_int_equal(swim__put_version(&w), 0);
    uint8_t data[16] = {0};
    assert_int_equal(swim__put_field(&w, 0x7a, data, sizeof(data)), CL_ETOOBIG);
    assert_int_equal(swim__field_size(100), 102);
    assert_int_equal(swim__field_size(200), 203);
    struct swim__update u;
    memset(&u, 0, sizeof(u));
    u.name = "m1";
    u.name_len = 2;
    u.from = "";
    uint8_t small[2];
    assert_int_equal(swim__encode_update(&u, small, sizeof(small)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_addr_parse_format, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_assembly_bounds, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
