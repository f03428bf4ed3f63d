/* Unit tests for placement/map.c: the id and string maps, through growth
 * and heavy delete/insert churn (tombstones), checked against a plain
 * array model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/cl_heap.h"
#include "common/cl_rng.h"
#include "placement/place_int.h"
#include "tests/unit/placement/fixture.h"

#include <stdio.h>
#include <string.h>

#define N 5000

static void test_imap(void **state)
{
    (void)state;
    place__imap m;
    place__imap_init(&m);
    static int vals[N];
    static bool in[N];
    memset(in, 0, sizeof(in));
    cl_rng rng;
    cl_rng_seed(&rng, 7);
    assert_null(place__imap_get(&m, 1));
    assert_int_equal(place__imap_put(&m, 0, vals), CL_EINVAL);
    for (int round = 0; round < 40000; round++) {
        uint64_t k = cl_rng_below(&rng, N);
        if (cl_rng_below(&rng, 3) == 0) {
            void *v = place__imap_del(&m, k + 1);
            assert_ptr_equal(v, in[k] ? &vals[k] : NULL);
            in[k] = false;
        } else {
            assert_int_equal(place__imap_put(&m, k + 1, &vals[k]), 0);
            in[k] = true;
        }
    }
    size_t live = 0;
    for (int k = 0; k < N; k++) {
        assert_ptr_equal(place__imap_get(&m, (uint64_t)k + 1),
                         in[k] ? &vals[k] : NULL);
        live += in[k];
    }
    assert_int_equal(m.len, live);
    size_t it = 0, seen = 0;
    uint64_t key;
    void *val;
    while (place__imap_next(&m, &it, &key, &val)) {
        assert_true(in[key - 1]);
        assert_ptr_equal(val, &vals[key - 1]);
        seen++;
    }
    assert_int_equal(seen, live);
    assert_true(m.cap < 4 * N); /* tombstones do not grow it forever */
    place__imap_free(&m);
}

struct item {
    char name[16];
};

static const char *item_key(const void *v)
{
    return ((const struct item *)v)->name;
}

static void test_smap(void **state)
{
    (void)state;
    static struct item items[N];
    place__smap m;
    place__smap_init(&m, item_key);
    for (int i = 0; i < N; i++) {
        snprintf(items[i].name, sizeof(items[i].name), "node-%d", i);
        assert_int_equal(place__smap_put(&m, &items[i]), 0);
    }
    assert_int_equal(place__smap_put(&m, &items[3]), CL_EEXIST);
    for (int i = 0; i < N; i += 2)
        assert_ptr_equal(place__smap_del(&m, items[i].name), &items[i]);
    assert_null(place__smap_del(&m, "node-0"));
    for (int i = 0; i < N; i++)
        assert_ptr_equal(place__smap_get(&m, items[i].name),
                         i % 2 ? &items[i] : NULL);
    for (int i = 0; i < N; i += 2)
        assert_int_equal(place__smap_put(&m, &items[i]), 0);
    assert_int_equal(m.len, N);
    assert_null(place__smap_get(&m, "node-x"));
    place__smap_free(&m);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {T(test_imap), T(test_smap)};
    return cmocka_run_group_tests_name("placement/map", tests, NULL, NULL);
}
