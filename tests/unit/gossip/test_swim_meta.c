/* Unit tests of the member metadata helpers (gossip/swim_meta.c). */
#include "fixture.h"

#include <stdio.h>
#include <string.h>

#include "common/cl_err.h"
#include "common/cl_heap.h"

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

static void fill(struct swim_meta *m)
{
    swim_meta_init(m);
    m->role = SWIM_ROLE_AGENT;
    assert_int_equal(
        swim_meta_set_endpoint(m, "control", "tcp://10.0.0.1:7100"), 0);
    assert_int_equal(
        swim_meta_set_endpoint(m, "artifacts", "tcp://10.0.0.1:7200"), 0);
    assert_int_equal(swim_meta_set_label(m, "rack", "r7"), 0);
    assert_int_equal(swim_meta_set_label(m, "zone", "a"), 0);
    m->resources.cores_free = 30;
    m->resources.cores_total = 64;
    m->resources.memory_free = 100ULL << 30;
    m->resources.memory_total = 512ULL << 30;
    m->resources.gpus_free = 3;
    m->resources.gpus_total = 8;
}

static void test_round_trip(void **state)
{
    (void)state;
    struct swim_meta m, back;
    fill(&m);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(swim_meta_pack(&m, &buf, &len), 0);
    assert_true(len > 0 && len <= SWIM_META_MAX);
    assert_int_equal(swim_meta_unpack(buf, len, &back), 0);
    assert_int_equal(back.role, SWIM_ROLE_AGENT);
    assert_int_equal(back.n_endpoints, 2);
    assert_string_equal(swim_meta_endpoint(&back, "control"),
                        "tcp://10.0.0.1:7100");
    assert_string_equal(swim_meta_endpoint(&back, "artifacts"),
                        "tcp://10.0.0.1:7200");
    assert_null(swim_meta_endpoint(&back, "nope"));
    assert_string_equal(swim_meta_label(&back, "rack"), "r7");
    assert_int_equal(back.resources.memory_total, 512ULL << 30);
    assert_int_equal(back.resources.gpus_free, 3);
    assert_int_equal(back.resources.cores_total, 64);
    swim_meta_free(&back);
    cl_free(buf);
    /* Setting an existing key replaces its value. */
    assert_int_equal(swim_meta_set_label(&m, "rack", "r8"), 0);
    assert_int_equal(m.n_labels, 2);
    assert_string_equal(swim_meta_label(&m, "rack"), "r8");
    assert_int_equal(swim_meta_set_label(&m, "", "x"), CL_EINVAL);
    assert_int_equal(swim_meta_set_label(&m, NULL, "x"), CL_EINVAL);
    swim_meta_free(&m);
    /* Empty metadata packs to nothing much and unpacks. */
    swim_meta_init(&m);
    assert_int_equal(swim_meta_pack(&m, &buf, &len), 0);
    assert_int_equal(swim_meta_unpack(buf, len, &back), 0);
    assert_int_equal(back.role, SWIM_ROLE_UNSPECIFIED);
    assert_int_equal(back.n_endpoints, 0);
    swim_meta_free(&back);
    cl_free(buf);
}

static void test_bounds(void **state)
{
    (void)state;
    struct swim_meta m, back;
    swim_meta_init(&m);
    char value[200];
    memset(value, 'v', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    for (int i = 0; i < 8; i++) {
        char key[8];
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(swim_meta_set_label(&m, key, value), 0);
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(swim_meta_pack(&m, &buf, &len), CL_ETOOBIG);
    assert_null(buf);
    swim_meta_free(&m);
    uint8_t junk[16];
    memset(junk, 0xff, sizeof(junk));
    assert_int_equal(swim_meta_unpack(junk, sizeof(junk), &back), CL_EPROTO);
    assert_int_equal(back.n_labels, 0);
    static uint8_t big[SWIM_META_MAX + 1];
    assert_int_equal(swim_meta_unpack(big, sizeof(big), &back), CL_ETOOBIG);
    /* MemberMeta{role: 7}: an unknown role. */
    uint8_t role7[] = {0x08, 0x07};
    assert_int_equal(swim_meta_unpack(role7, sizeof(role7), &back), CL_EPROTO);
    /* An endpoint without a name. */
    uint8_t noname[] = {0x12, 0x03, 0x12, 0x01, 'u'};
    assert_int_equal(swim_meta_unpack(noname, sizeof(noname), &back),
                     CL_EPROTO);
}

static void test_out_of_memory(void **state)
{
    (void)state;
    struct swim_meta m, back;
    fill(&m);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(swim_meta_pack(&m, &buf, &len), 0);
    int rv = CL_ENOMEM;
    for (int delay = 0; rv != 0; delay++) {
        fx_heap_fail(delay, 1);
        rv = swim_meta_unpack(buf, len, &back);
        fx_heap_fail(0, 0);
        assert_true(rv == 0 || rv == CL_ENOMEM);
        if (rv != 0)
            assert_int_equal(back.n_endpoints + back.n_labels, 0);
        assert_true(delay < 100);
    }
    swim_meta_free(&back);
    cl_free(buf);
    rv = CL_ENOMEM;
    for (int delay = 0; rv != 0; delay++) {
        fx_heap_fail(delay, 1);
        rv = swim_meta_pack(&m, &buf, &len);
        fx_heap_fail(0, 0);
        assert_true(rv == 0 || rv == CL_ENOMEM);
        assert_true(delay < 100);
    }
    cl_free(buf);
    swim_meta_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_memory, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
