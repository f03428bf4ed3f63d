/* Unit tests for placement/gang.c: gang placement on distinct nodes, all
 * or nothing, with rank order and master; and fan-out sizing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "placement/place.h"
#include "tests/unit/placement/fixture.h"

#include <string.h>

static uint64_t bindings(place_cluster *c)
{
    place_cluster_stats s;
    place_cluster_stats_get(c, &s);
    return s.bindings;
}

static void test_gang_distinct_nodes(void **state)
{
    (void)state;
    place_cluster *c = fx_cluster(FX_G4DN, "g", 4);
    place_request r;
    fx_req(&r, "8", "32Gi", "nvidia.com/gpu", "4");
    cl_rng rng;
    cl_rng_seed(&rng, 5);
    place_gang g;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(place_gang_place(c, &r, 3, &rng, &g, &err), 0);
    assert_int_equal(g.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_true(g.bindings[i].id != 0);
        assert_int_equal(g.bindings[i].ngpus, 4);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(g.bindings[i].node_id,
                                    g.bindings[j].node_id);
    }
    assert_int_equal(bindings(c), 3);
    /* Rank 0 is the master; its node really holds rank 0's binding. */
    place_node_usage u;
    assert_int_equal(place_cluster_node_usage(c, g.bindings[0].node_id, &u),
                     0);
    assert_int_equal(u.free_gpus, 4);
    place_gang_release(c, &g);
    assert_int_equal(bindings(c), 0);
    place_gang_free(&g);
    place_cluster_free(c);
}

static void test_gang_all_or_nothing(void **state)
{
    (void)state;
    place_cluster *c = fx_cluster(FX_G4DN, "g", 4);
    place_request full, r;
    fx_req(&full, "4", NULL, "nvidia.com/gpu", "8");
    fx_req(&r, "4", NULL, "nvidia.com/gpu", "2");
    place_binding busy;
    assert_int_equal(place_cluster_place(c, &full, NULL, &busy, NULL), 0);
    /* Three nodes have room for a rank; four ranks cannot start. */
    place_gang g;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(place_gang_place(c, &r, 4, NULL, &g, &err), CL_EAGAIN);
    assert_non_null(strstr(err.msg, "3 of 4 ranks"));
    assert_int_equal(g.n, 0);
    assert_null(g.bindings);
    assert_int_equal(bindings(c), 1); /* nothing left behind */
    place_cluster_stats s;
    place_cluster_stats_get(c, &s);
    assert_int_equal(s.free_gpus, 24);
    /* Once the busy node frees up, all four start. */
    assert_int_equal(place_cluster_release(c, busy.id), 0);
    assert_int_equal(place_gang_place(c, &r, 4, NULL, &g, &err), 0);
    assert_int_equal(bindings(c), 4);
    place_gang_release(c, &g);
    place_gang_free(&g);
    /* More ranks than nodes: never. */
    assert_int_equal(place_gang_place(c, &r, 5, NULL, &g, &err), CL_ENOFIT);
    assert_non_null(strstr(err.msg, "needs 5 nodes"));
    assert_int_equal(place_gang_place(c, &r, 0, NULL, &g, &err), CL_EINVAL);
    place_binding_free(&busy);
    place_cluster_free(c);
}

static void test_fanout_count(void **state)
{
    (void)state;
    place_cluster *c = fx_cluster(FX_G4DN, "g", 2);
    place_request r;
    fx_req(&r, "2", NULL, "nvidia.com/gpu", "1");
    uint32_t n = 0;
    assert_int_equal(place_fanout_count(c, &r, 100, NULL, &n), 0);
    assert_int_equal(n, 16);
    assert_int_equal(place_fanout_count(c, &r, 5, NULL, &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(bindings(c), 0); /* the view is unchanged */
    place_binding b;
    place_request half;
    fx_req(&half, "46", NULL, "nvidia.com/gpu", "2");
    assert_int_equal(place_cluster_place(c, &half, NULL, &b, NULL), 0);
    /* That node has 6 GPUs but only 2 cores left: one item per core. */
    assert_int_equal(place_fanout_count(c, &r, 100, NULL, &n), 0);
    assert_int_equal(n, 9);
    place_request cpu;
    fx_req(&cpu, "500m", NULL, NULL, NULL);
    assert_int_equal(place_fanout_count(c, &cpu, 1000, NULL, &n), 0);
    assert_int_equal(n, 2 * (48 + 2)); /* two per free core */
    place_cluster_stats s;
    place_cluster_stats_get(c, &s);
    assert_int_equal(s.bindings, 1);
    assert_int_equal(s.free_cores, 50);
    place_binding_free(&b);
    place_cluster_free(c);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_gang_distinct_nodes),
        T(test_gang_all_or_nothing),
        T(test_fanout_count),
    };
    return cmocka_run_group_tests_name("placement/gang", tests, NULL, NULL);
}
