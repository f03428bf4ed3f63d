/* Unit tests for placement/cluster.c: node lifecycle, shared models,
 * commit/release/restore, refusals that apply nothing, states, stats,
 * the description, and allocation failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/cl_heap.h"
#include "placement/place.h"
#include "tests/unit/placement/fixture.h"

#include <stdio.h>
#include <string.h>

static void test_nodes(void **state)
{
    (void)state;
    place_cluster *c = NULL;
    assert_int_equal(place_cluster_new(NULL, &c), 0);
    place_model *m = fx_load(FX_G4DN);
    cl_errmsg err;
    cl_errmsg_clear(&err);
    const place_kv labels[] = {{"gpu", "t4"}};
    assert_int_equal(place_cluster_add_node(c, "a", m, labels, 1, &err), 0);
    assert_int_equal(place_cluster_add_node(c, "a", m, NULL, 0, &err),
                     CL_EEXIST);
    assert_non_null(strstr(err.msg, "'a': already registered"));
    assert_int_equal(place_cluster_add_node(c, "", m, NULL, 0, &err),
                     CL_EINVAL);
    /* Identical hardware shares one model; the host name stays per node. */
    cl_free(m->hostname);
    m->hostname = cl_strdup("other-g4dn");
    assert_int_equal(place_cluster_add_node(c, "b", m, NULL, 0, &err), 0);
    assert_ptr_equal(place_cluster_node_model(c, "a"),
                     place_cluster_node_model(c, "b"));
    assert_ptr_not_equal(place_cluster_node_model(c, "a"), m);
    cl_buf d = CL_BUF_INIT;
    assert_int_equal(place_cluster_describe_node(c, "b", &d), 0);
    assert_non_null(strstr(d.data, "node b (ready)\nhost other-g4dn\n"));
    assert_non_null(strstr(d.data, "allocated: 0 bindings, 48/48 cores "
                                   "free, 8/8 GPUs free"));
    cl_buf_free(&d);
    assert_int_equal(place_cluster_describe_node(c, "zz", &d), CL_ENOENT);
    assert_null(place_cluster_node_model(c, "zz"));
    assert_int_equal(place_cluster_remove_node(c, "a"), 0);
    assert_int_equal(place_cluster_remove_node(c, "a"), CL_ENOENT);
    assert_null(place_cluster_node_model(c, "a"));
    assert_non_null(place_cluster_node_model(c, "b"));
    /* The slot is reused. */
    assert_int_equal(place_cluster_add_node(c, "a", m, labels, 1, &err), 0);
    place_cluster_stats s;
    place_cluster_stats_get(c, &s);
    assert_int_equal(s.nodes, 2);
    assert_int_equal(s.gpus, 16);
    assert_int_equal(s.cores, 96);
    place_model_free(m);
    place_cluster_free(c);
}

static void test_commit_release_restore(void **state)
{
    (void)state;
    place_cluster *c = fx_cluster(FX_PASCAL, "p", 2);
    place_request r;
    fx_req(&r, "4", "16Gi", "nvidia.com/gpu", "1");
    place_binding b;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(place_cluster_decide(c, &r, NULL, &b, &err), 0);
    assert_int_equal(b.id, 0);
    place_node_usage u;
    assert_int_equal(place_cluster_node_usage(c, b.node_id, &u), 0);
    assert_int_equal(u.free_cores, 36); /* decide changes nothing */
    assert_int_equal(place_cluster_commit(c, &b, &err), 0);
    assert_true(b.id != 0);
    assert_int_equal(place_cluster_node_usage(c, b.node_id, &u), 0);
    assert_int_equal(u.free_cores, 32);
    assert_int_equal(u.free_gpus, 1);
    assert_int_equal(u.memory - u.free_memory, 16ULL << 30);
    assert_int_equal(u.bindings, 1);

    /* The same resources again: refused, nothing applied. */
    place_binding again;
    assert_int_equal(place_binding_copy(&b, &again), 0);
    again.id = 0;
    assert_int_equal(place_cluster_commit(c, &again, &err), CL_EBUSY);
    assert_non_null(strstr(err.msg, "is taken"));
    assert_int_equal(place_cluster_node_usage(c, b.node_id, &u), 0);
    assert_int_equal(u.free_cores, 32);
    assert_int_equal(u.bindings, 1);

    /* Keep it as the coordinator would, release, restore with its id. */
    uint8_t *buf;
    size_t len;
    assert_int_equal(place_binding_pack(&b, &buf, &len), 0);
    uint64_t id = b.id;
    assert_int_equal(place_cluster_release(c, id), 0);
    assert_int_equal(place_cluster_release(c, id), CL_ENOENT);
    assert_int_equal(place_cluster_node_usage(c, b.node_id, &u), 0);
    assert_int_equal(u.free_cores, 36);
    assert_int_equal(u.free_memory, u.memory);
    place_binding restored;
    assert_int_equal(place_binding_unpack(buf, len, &restored, &err), 0);
    cl_free(buf);
    assert_int_equal(place_cluster_commit(c, &restored, &err), 0);
    assert_int_equal(restored.id, id);
    assert_int_equal(place_cluster_commit(c, &restored, &err), CL_EEXIST);
    /* New ids never collide with restored ones. */
    place_binding n2;
    assert_int_equal(place_cluster_place(c, &r, NULL, &n2, &err), 0);
    assert_true(n2.id > id);

    /* Bindings that do not fit the node are refused. */
    again.id = 0;
    cl_free(again.node_id);
    again.node_id = cl_strdup("nope");
    assert_int_equal(place_cluster_commit(c, &again, &err), CL_ENOENT);
    cl_free(again.node_id);
    again.node_id = cl_strdup("p-0");
    assert_int_equal(place_cluster_release(c, restored.id), 0);
    again.npus = 1; /* half a hyperthreaded core */
    assert_int_equal(place_cluster_commit(c, &again, &err), CL_EINVAL);
    assert_non_null(strstr(err.msg, "part of a core"));
    again.npus = 2;
    again.pus[0] = 999;
    assert_int_equal(place_cluster_commit(c, &again, &err), CL_EINVAL);
    assert_non_null(strstr(err.msg, "no PU 999"));

    place_binding_free(&again);
    place_binding_free(&restored);
    place_binding_free(&n2);
    place_binding_free(&b);
    place_cluster_free(c);
}

static void test_remove_drops_bindings(void **state)
{
    (void)state;
    place_cluster *c = fx_cluster(FX_QUARTZ, "q", 1);
    place_request r;
    fx_req(&r, "1", NULL, NULL, NULL);
    place_binding b[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(place_cluster_place(c, &r, NULL, &b[i], NULL), 0);
    assert_int_equal(place_cluster_release(c, b[1].id), 0);
    assert_int_equal(place_cluster_remove_node(c, "q-0"), 0);
    assert_int_equal(place_cluster_release(c, b[0].id), CL_ENOENT);
    assert_int_equal(place_cluster_release(c, b[2].id), CL_ENOENT);
    place_cluster_stats s;
    place_cluster_stats_get(c, &s);
    assert_int_equal(s.bindings, 0);
    assert_int_equal(s.nodes, 0);
    for (int i = 0; i < 3; i++)
        place_binding_free(&b[i]);
    place_cluster_free(c);
}

static void test_states(void **state)
{
    (void)state;
    place_cluster *c = fx_cluster(FX_QUARTZ, "q", 2);
    place_request r;
    fx_req(&r, "30", NULL, NULL, NULL);
    assert_int_equal(place_cluster_set_state(c, "q-0", PLACE_NODE_DRAINING),
                     0);
    assert_int_equal(place_cluster_set_state(c, "x", PLACE_NODE_DOWN),
                     CL_ENOENT);
    place_binding b;
    assert_int_equal(place_cluster_place(c, &r, NULL, &b, NULL), 0);
    assert_string_equal(b.node_id, "q-1");
    place_binding_free(&b);
    /* q-0 drains, q-1 is full: waits, because q-1 frees up later. */
    assert_int_equal(place_cluster_decide(c, &r, NULL, &b, NULL), CL_EAGAIN);
    assert_int_equal(place_cluster_set_state(c, "q-1", PLACE_NODE_DRAINING),
                     0);
    /* Everything drains (maintenance): wait for nodes to come back. */
    assert_int_equal(place_cluster_decide(c, &r, NULL, &b, NULL), CL_EAGAIN);
    /* A ready node that is too small makes it a refusal. */
    fx_cluster_add(c, FX_LAPTOP, "small", NULL, 0);
    assert_int_equal(place_cluster_decide(c, &r, NULL, &b, NULL), CL_ENOFIT);
    assert_int_equal(place_cluster_remove_node(c, "small"), 0);
    assert_int_equal(place_cluster_set_state(c, "q-0", PLACE_NODE_READY), 0);
    assert_int_equal(place_cluster_place(c, &r, NULL, &b, NULL), 0);
    assert_string_equal(b.node_id, "q-0");
    place_binding_free(&b);
    place_cluster_stats s;
    place_cluster_stats_get(c, &s);
    assert_int_equal(s.ready, 1);
    assert_int_equal(s.bindings, 2);
    place_node_usage u;
    assert_int_equal(place_cluster_node_usage(c, "q-1", &u), 0);
    assert_int_equal(u.state, PLACE_NODE_DRAINING);
    place_cluster_free(c);
}

static void test_stranded_stat(void **state)
{
    (void)state;
    place_cluster *c = fx_cluster(FX_DGX2, "d", 1);
    place_request r;
    fx_req(&r, "3", NULL, NULL, NULL); /* 3 of the 4 cores */
    place_binding b;
    assert_int_equal(place_cluster_place(c, &r, NULL, &b, NULL), 0);
    place_cluster_stats s;
    place_cluster_stats_get(c, &s);
    assert_int_equal(s.free_gpus, 16);
    assert_int_equal(s.free_cores, 1);
    assert_int_equal(s.stranded_gpus, 15);
    place_binding_free(&b);
    place_cluster_free(c);
}

/* Every allocation failure is a clean refusal: no leak, no half state. */
static void test_out_of_memory(void **state)
{
    (void)state;
    place_model *m = fx_load(FX_TIOGA);
    place_request r;
    fx_req(&r, "4", "1Gi", "amd.com/gpu", "2");
    const place_kv labels[] = {{"zone", "a"}, {"gpu", "mi250x"}};
    bool done = false;
    for (long n = 0; n < 3000 && !done; n++) {
        place_cluster *c = NULL;
        fx_heap_fail_after(n);
        int rv = place_cluster_new(NULL, &c);
        if (rv == 0)
            rv = place_cluster_add_node(c, "t0", m, labels, 2, NULL);
        if (rv == 0)
            rv = place_cluster_add_node(c, "t1", m, labels, 2, NULL);
        place_binding b;
        if (rv == 0) {
            rv = place_cluster_place(c, &r, NULL, &b, NULL);
            if (rv == 0)
                place_binding_free(&b);
        }
        fx_heap_fail_after(-1);
        if (rv == 0) {
            done = true;
        } else {
            assert_int_equal(rv, CL_ENOMEM);
            if (c != NULL) {
                /* What was added is consistent and usable. */
                place_cluster_stats s;
                place_cluster_stats_get(c, &s);
                assert_int_equal(s.free_gpus + 2 * s.bindings, s.gpus);
            }
        }
        place_cluster_free(c);
    }
    assert_true(done);
    place_model_free(m);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_nodes),
        T(test_commit_release_restore),
        T(test_remove_drops_bindings),
        T(test_states),
        T(test_stranded_stat),
        T(test_out_of_memory),
    };
    return cmocka_run_group_tests_name("placement/cluster", tests, NULL, NULL);
}
