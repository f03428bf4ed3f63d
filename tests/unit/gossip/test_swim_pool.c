/* Unit tests of the interning pool (gossip/swim_pool.c). */
#include "fixture.h"

#include <stdio.h>
#include <string.h>

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

static void test_intern(void **state)
{
    (void)state;
    struct swim__table t;
    swim__table_init(&t);
    uint32_t a = swim__intern(&t, "alpha", 5);
    uint32_t b = swim__intern(&t, "beta", 4);
    assert_int_not_equal(a, 0);
    assert_int_not_equal(b, 0);
    assert_int_not_equal(a, b);
    assert_int_equal(swim__intern(&t, "alpha", 5), a);
    assert_int_equal(swim__blob(&t, a)->refs, 2);
    assert_int_equal(swim__lookup(&t, "alpha", 5), a);
    assert_int_equal(swim__lookup(&t, "alph", 4), 0);
    assert_string_equal((const char *)swim__blob(&t, b)->data, "beta");
    /* Empty blobs are fine. */
    uint32_t e = swim__intern(&t, "", 0);
    assert_int_not_equal(e, 0);
    assert_int_equal(swim__blob(&t, e)->len, 0);
    /* Released when the last reference goes; the id is reused. */
    swim__unref(&t, a);
    assert_int_equal(swim__lookup(&t, "alpha", 5), a);
    swim__unref(&t, a);
    assert_int_equal(swim__lookup(&t, "alpha", 5), 0);
    assert_int_equal(t.count, 2);
    uint32_t c = swim__intern(&t, "gamma", 5);
    assert_int_equal(c, a);
    swim__unref(&t, 0); /* ignored */
    swim__table_free(&t);
}

static void test_many(void **state)
{
    (void)state;
    struct swim__table t;
    swim__table_init(&t);
    enum { N = 5000 };
    static uint32_t ids[N];
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "node-%d", i);
        ids[i] = swim__intern(&t, name, strlen(name));
        assert_int_not_equal(ids[i], 0);
    }
    /* Dense ids and intact lookups across rehashes. */
    assert_int_equal(t.count, N);
    assert_true(t.top <= N + 1);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "node-%d", i);
        assert_int_equal(swim__lookup(&t, name, strlen(name)), ids[i]);
    }
    for (int i = 0; i < N; i += 2)
        swim__unref(&t, ids[i]);
    assert_int_equal(t.count, N / 2);
    for (int i = 1; i < N; i += 2) {
        snprintf(name, sizeof(name), "node-%d", i);
        assert_int_equal(swim__lookup(&t, name, strlen(name)), ids[i]);
    }
    swim__table_free(&t);
}

static void test_pool_shared(void **state)
{
    (void)state;
    struct swim_pool *pool;
    assert_int_equal(swim_pool_new(&pool), 0);
    struct swim_config cfg;
    swim_config_default(&cfg);
    cfg.pool = pool;
    struct fx_io io1, io2;
    fx_io_init(&io1);
    fx_io_init(&io2);
    cl_rng r1, r2;
    cl_rng_seed(&r1, 1);
    cl_rng_seed(&r2, 2);
    struct swim *a, *b;
    struct swim_addr a0 = fx_addr(0), a1 = fx_addr(1);
    assert_int_equal(swim_new(&cfg, &io1.io, &r1, "m0", &a0, 0, &a), 0);
    assert_int_equal(swim_new(&cfg, &io2.io, &r2, "m1", &a1, 0, &b), 0);
    assert_int_equal(pool->users, 2);
    /* b learns a's view through the pool: "m0" is one blob with two
     * references. */
    assert_int_equal(swim__clone_view(b, a, 0), 0);
    uint32_t id = swim__lookup(&pool->names, "m0", 2);
    assert_int_not_equal(id, 0);
    assert_int_equal(swim__blob(&pool->names, id)->refs, 2);
    swim_free(a);
    swim_free(b);
    assert_int_equal(pool->users, 0);
    assert_int_equal(pool->names.count, 0);
    assert_int_equal(pool->values.count, 0);
    swim_pool_free(pool);
    fx_io_free(&io1);
    fx_io_free(&io2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_intern, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_shared, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
