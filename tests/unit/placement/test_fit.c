/* Unit tests for placement/fit.c: where on one machine a step lands, on
 * the real topologies (one-node clusters, so only the in-node choice is
 * under test). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "placement/place.h"
#include "tests/unit/placement/fixture.h"

#include <stdio.h>
#include <string.h>

struct one {
    place_cluster *c;
    const place_model *m;
    cl_rng rng;
};

static void one_init(struct one *o, const char *file)
{
    o->c = fx_cluster(file, "n", 1);
    o->m = place_cluster_node_model(o->c, "n-0");
    cl_rng_seed(&o->rng, 1);
}

static void place_ok(struct one *o, const place_request *r, place_binding *b)
{
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = place_cluster_place(o->c, r, &o->rng, b, &err);
    if (rv != 0)
        fail_msg("place: %s: %s", cl_errname(rv), err.msg);
}

static int place_rv(struct one *o, const place_request *r, cl_errmsg *err)
{
    place_binding b;
    cl_errmsg_clear(err);
    int rv = place_cluster_place(o->c, r, &o->rng, &b, err);
    if (rv == 0)
        place_binding_free(&b);
    return rv;
}

/* DGX-2 (trimmed to 2 cores per socket): two 8-GPU steps land one per
 * socket, with that socket's cores and NUMA memory, each on one NVSwitch
 * link group. */
static void test_dgx2_two_eight_gpu_steps(void **state)
{
    (void)state;
    struct one o;
    one_init(&o, FX_DGX2);
    place_request r;
    fx_req(&r, "2", "64Gi", "nvidia.com/gpu", "8");
    place_binding b[2];
    int32_t pkg_seen[2] = {-1, -1};
    for (int i = 0; i < 2; i++) {
        place_ok(&o, &r, &b[i]);
        assert_int_equal(b[i].ngpus, 8);
        assert_int_equal(b[i].npus, 2);
        assert_int_equal(b[i].fit, PLACE_FIT_NUMA);
        assert_true(b[i].gpus_linked);
        int32_t pkg = o.m->gpus[b[i].gpus[0].slot].package;
        for (size_t g = 0; g < 8; g++)
            assert_int_equal(o.m->gpus[b[i].gpus[g].slot].package, pkg);
        assert_true(fx_pus_in_package(o.m, &b[i], pkg));
        assert_int_equal(b[i].nmems, 1);
        assert_int_equal(b[i].mems[0].numa_os, (uint32_t)pkg);
        assert_int_equal(b[i].mems[0].bytes, 64ULL << 30);
        pkg_seen[i] = pkg;
    }
    assert_int_not_equal(pkg_seen[0], pkg_seen[1]);
    cl_errmsg err;
    assert_int_equal(place_rv(&o, &r, &err), CL_EAGAIN);
    assert_non_null(strstr(err.msg, "no ready node has 8 free nvidia GPUs"));
    for (int i = 0; i < 2; i++)
        place_binding_free(&b[i]);
    place_cluster_free(o.c);
}

/* g4dn: four 1-GPU steps with 4 cores each never split a GPU from its
 * socket's cores; then steps too wide for what is left of a socket still
 * keep GPU and cores together while a socket can hold them. */
static void test_g4dn_gpu_with_its_socket(void **state)
{
    (void)state;
    struct one o;
    one_init(&o, FX_G4DN);
    place_request r;
    fx_req(&r, "4", "8Gi", "nvidia.com/gpu", "1");
    uint64_t used_gpus = 0;
    for (int i = 0; i < 4; i++) {
        place_binding b;
        place_ok(&o, &r, &b);
        assert_int_equal(b.ngpus, 1);
        uint32_t slot = b.gpus[0].slot;
        assert_false(used_gpus >> slot & 1);
        used_gpus |= 1ULL << slot;
        assert_true(fx_pus_in_package(o.m, &b, o.m->gpus[slot].package));
        assert_true(fx_pus_near_gpu(o.m, &b, slot));
        assert_int_equal(b.fit, PLACE_FIT_NUMA);
        /* Whole cores: 4 cores with both hyperthreads. */
        assert_int_equal(b.npus, 8);
        assert_false(b.shared);
        place_binding_free(&b);
    }
    /* 10-core GPU steps: socket 0 has 8 cores left, so they go to socket
     * 1 with socket-1 cores, two of them; the third has to spread. */
    fx_req(&r, "10", NULL, "nvidia.com/gpu", "1");
    for (int i = 0; i < 2; i++) {
        place_binding b;
        place_ok(&o, &r, &b);
        uint32_t slot = b.gpus[0].slot;
        assert_int_equal(o.m->gpus[slot].package, 1);
        assert_true(fx_pus_in_package(o.m, &b, 1));
        place_binding_free(&b);
    }
    place_binding b;
    place_ok(&o, &r, &b);
    assert_int_equal(b.fit, PLACE_FIT_SPREAD);
    place_binding_free(&b);
    place_cluster_free(o.c);
}

/* Pascal: both GPUs on socket 0. A CPU-only step goes to socket 1 and
 * leaves socket 0's cores to the GPU steps, which get socket-0 cores. */
static void test_pascal_gpu_steps_get_socket0(void **state)
{
    (void)state;
    struct one o;
    one_init(&o, FX_PASCAL);
    place_request cpu, gpu;
    fx_req(&cpu, "16", NULL, NULL, NULL);
    fx_req(&gpu, "8", NULL, "nvidia.com/gpu", "1");
    place_binding b;
    place_ok(&o, &cpu, &b);
    assert_true(fx_pus_in_package(o.m, &b, 1));
    place_binding_free(&b);
    for (int i = 0; i < 2; i++) {
        place_ok(&o, &gpu, &b);
        assert_int_equal(o.m->gpus[b.gpus[0].slot].package, 0);
        assert_true(fx_pus_in_package(o.m, &b, 0));
        assert_int_equal(b.fit, PLACE_FIT_NUMA);
        assert_int_equal(b.mems[0].numa_os, 0);
        place_binding_free(&b);
    }
    place_cluster_free(o.c);
}

/* Tioga: each MI250X GCD sits under its own L3; a 1-GPU step gets the
 * cores of that L3. */
static void test_tioga_cores_from_gpu_l3(void **state)
{
    (void)state;
    struct one o;
    one_init(&o, FX_TIOGA);
    place_request r;
    fx_req(&r, "8", NULL, "amd.com/gpu", "1");
    for (int i = 0; i < 8; i++) {
        place_binding b;
        place_ok(&o, &r, &b);
        uint32_t slot = b.gpus[0].slot;
        assert_true(fx_pus_near_gpu(o.m, &b, slot));
        assert_int_equal(b.npus, 16);
        /* All 8 cores of the one L3. */
        int32_t l3 = o.m->cores[fx_core_of(o.m, b.pus[0])].cache;
        for (size_t p = 0; p < b.npus; p++)
            assert_int_equal(o.m->cores[fx_core_of(o.m, b.pus[p])].cache, l3);
        assert_int_equal(b.fit, PLACE_FIT_NUMA);
        cl_buf v = CL_BUF_INIT;
        place_binding_visible_devices(&b, PLACE_VENDOR_AMD, &v);
        char want[8];
        snprintf(want, sizeof(want), "%d", o.m->gpus[slot].index);
        assert_string_equal(v.data, want);
        cl_buf_free(&v);
        place_binding_free(&b);
    }
    place_cluster_free(o.c);
}

/* Fractional cpu shares a core; whole cores are exclusive. */
static void test_shared_fractional_cpu(void **state)
{
    (void)state;
    struct one o;
    one_init(&o, FX_QUARTZ);
    place_request half, dflt, two;
    fx_req(&half, "500m", NULL, NULL, NULL);
    fx_req(&dflt, NULL, NULL, NULL, NULL);
    fx_req(&two, "2", NULL, NULL, NULL);
    place_binding a, b, c, d;
    place_ok(&o, &half, &a);
    assert_true(a.shared);
    assert_int_equal(a.npus, 1);
    assert_int_equal(a.cpu_quota_milli, 500);
    assert_int_equal(a.cpu_milli, 500);
    place_ok(&o, &half, &b);
    assert_string_equal(a.cpuset, b.cpuset); /* packed on the same core */
    place_ok(&o, &half, &c);
    assert_string_not_equal(a.cpuset, c.cpuset);
    place_ok(&o, &dflt, &d); /* best effort: no quota */
    assert_true(d.shared);
    assert_int_equal(d.cpu_quota_milli, 0);
    assert_int_equal(d.cpu_milli, PLACE_DEFAULT_CPU_MILLI);
    place_node_usage u;
    assert_int_equal(place_cluster_node_usage(o.c, "n-0", &u), 0);
    assert_int_equal(u.free_cores, 36 - 2);
    place_binding e;
    place_ok(&o, &two, &e);
    assert_false(e.shared);
    for (size_t i = 0; i < e.npus; i++) /* not on a shared core */
        assert_true(e.pus[i] != a.pus[0] && e.pus[i] != c.pus[0]);
    assert_int_equal(place_cluster_release(o.c, a.id), 0);
    assert_int_equal(place_cluster_node_usage(o.c, "n-0", &u), 0);
    assert_int_equal(u.free_cores, 36 - 4); /* b still shares a's core */
    assert_int_equal(place_cluster_release(o.c, b.id), 0);
    assert_int_equal(place_cluster_node_usage(o.c, "n-0", &u), 0);
    assert_int_equal(u.free_cores, 36 - 3);
    place_binding *all[] = {&a, &b, &c, &d, &e};
    for (int i = 0; i < 5; i++)
        place_binding_free(all[i]);
    place_cluster_free(o.c);
}

/* Hybrid laptop: whole-core steps get the fast cores first. */
static void test_hybrid_prefers_fast_cores(void **state)
{
    (void)state;
    struct one o;
    one_init(&o, FX_LAPTOP);
    place_request r;
    fx_req(&r, "2", NULL, NULL, NULL);
    place_binding b;
    place_ok(&o, &r, &b);
    for (size_t i = 0; i < b.npus; i++)
        assert_true(b.pus[i] < 12);
    assert_int_equal(b.npus, 4); /* 2 P-cores x 2 threads */
    place_binding_free(&b);
    place_cluster_free(o.c);
}

/* Memory larger than a NUMA node spreads over the package; memory-only
 * NUMA nodes (GPU HBM) are never used. */
static void test_memory_placement(void **state)
{
    (void)state;
    struct one o;
    one_init(&o, FX_EPYC_V1);
    place_request r;
    fx_req(&r, "4", "40Gi", NULL, NULL);
    place_binding b;
    place_ok(&o, &r, &b);
    assert_int_equal(b.fit, PLACE_FIT_PACKAGE);
    uint64_t sum = 0;
    for (size_t i = 0; i < b.nmems; i++)
        sum += b.mems[i].bytes;
    assert_int_equal(sum, 40ULL << 30);
    assert_int_equal(b.memory, 40ULL << 30);
    assert_int_equal(b.memory_limit, 40ULL << 30);
    assert_true(b.nmems >= 2);
    place_binding_free(&b);
    place_cluster_free(o.c);

    one_init(&o, FX_LASSEN_V1);
    fx_req(&r, "20", "200Gi", NULL, NULL);
    place_ok(&o, &r, &b);
    for (size_t i = 0; i < b.nmems; i++)
        assert_true(b.mems[i].numa_os == 0 || b.mems[i].numa_os == 8);
    place_binding_free(&b);
    cl_errmsg err;
    fx_req(&r, "1", "60Gi", NULL, NULL); /* 55 GiB CPU memory left */
    assert_int_equal(place_rv(&o, &r, &err), CL_EAGAIN);
    place_cluster_free(o.c);
}

/* POWER8: GPUs 0-1 and 2-3 are NVLink pairs. With GPU 0 taken, a 2-GPU
 * step gets the other pair, never 1+2. */
static void test_power8_linked_pair(void **state)
{
    (void)state;
    struct one o;
    one_init(&o, FX_POWER8);
    place_request one_gpu, two_gpu;
    fx_req(&one_gpu, "1", NULL, "nvidia.com/gpu", "1");
    fx_req(&two_gpu, "2", NULL, "nvidia.com/gpu", "2");
    place_binding a, b;
    place_ok(&o, &one_gpu, &a);
    place_ok(&o, &two_gpu, &b);
    assert_int_equal(b.ngpus, 2);
    assert_true(b.gpus_linked);
    int32_t g0 = o.m->gpus[b.gpus[0].slot].link_group;
    assert_int_equal(o.m->gpus[b.gpus[1].slot].link_group, g0);
    assert_int_not_equal(o.m->gpus[a.gpus[0].slot].link_group, g0);
    assert_true(fx_pus_in_package(o.m, &b, o.m->gpus[b.gpus[0].slot].package));
    place_binding_free(&a);
    place_binding_free(&b);
    place_cluster_free(o.c);
}

/* Auto parallelism: the widest allocation inside one topology unit. */
static void test_auto_degree(void **state)
{
    (void)state;
    struct one o;
    one_init(&o, FX_DGX2);
    place_request r;
    fx_req(&r, NULL, NULL, "nvidia.com/gpu", "1");
    r.auto_parallel = true;
    place_binding b;
    place_ok(&o, &r, &b);
    /* 8 GPUs per NVSwitch group, but only 2 cores per socket here, and a
     * GPU rank needs one: the degree is bounded by the cores. */
    assert_int_equal(b.degree, 4);
    assert_int_equal(b.ngpus, 4);
    assert_true(b.gpus_linked);
    place_binding_free(&b);
    place_cluster_free(o.c);

    one_init(&o, FX_TIOGA);
    fx_req(&r, "1", NULL, "amd.com/gpu", "1");
    r.auto_parallel = true;
    place_ok(&o, &r, &b);
    assert_int_equal(b.degree, 8); /* one XGMI set of 8 */
    assert_int_equal(b.ngpus, 8);
    assert_int_equal(b.npus, 16);
    /* Each GPU got a core from its own L3. */
    for (size_t g = 0; g < b.ngpus; g++) {
        bool near = false;
        const place_gpu *gp = &o.m->gpus[b.gpus[g].slot];
        for (size_t p = 0; p < b.npus && !near; p++)
            for (uint32_t k = 0; k < gp->nnear && !near; k++)
                near = gp->near_cores[k] == (uint32_t)fx_core_of(o.m, b.pus[p]);
        assert_true(near);
    }
    place_binding_free(&b);
    place_cluster_free(o.c);

    one_init(&o, FX_EPYC_V1);
    fx_req(&r, "2", "1Gi", NULL, NULL);
    r.auto_parallel = true;
    place_ok(&o, &r, &b);
    assert_int_equal(b.degree, 4); /* 8 cores per NUMA node / 2 */
    assert_int_equal(b.fit, PLACE_FIT_NUMA);
    assert_int_equal(b.memory, 4ULL << 30);
    place_binding_free(&b);
    r.max_degree = 3;
    place_ok(&o, &r, &b);
    assert_int_equal(b.degree, 3);
    assert_int_equal(b.npus, 12);
    place_binding_free(&b);
    /* No cpu named: a whole core per rank, the whole of a free NUMA node. */
    fx_req(&r, NULL, NULL, NULL, NULL);
    r.auto_parallel = true;
    place_ok(&o, &r, &b);
    assert_int_equal(b.degree, 8);
    assert_false(b.shared);
    assert_int_equal(b.npus, 16);
    assert_int_equal(b.fit, PLACE_FIT_NUMA);
    place_binding_free(&b);
    place_cluster_free(o.c);
}

/* The first-fit baseline really is naive: on the g4dn it takes the
 * lowest free cores whatever the GPU. */
static void test_first_fit_baseline(void **state)
{
    (void)state;
    place_options opt = place_options_default();
    opt.first_fit = true;
    place_cluster *c = NULL;
    assert_int_equal(place_cluster_new(&opt, &c), 0);
    fx_cluster_add(c, FX_G4DN, "g", NULL, 0);
    const place_model *m = place_cluster_node_model(c, "g");
    place_request r;
    fx_req(&r, "10", NULL, "nvidia.com/gpu", "1");
    place_binding b;
    bool split = false;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(place_cluster_place(c, &r, NULL, &b, NULL), 0);
        split = split || !fx_pus_in_package(m, &b, m->gpus[b.gpus[0].slot]
                                                       .package);
        place_binding_free(&b);
    }
    assert_true(split);
    place_cluster_free(c);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_dgx2_two_eight_gpu_steps),
        T(test_g4dn_gpu_with_its_socket),
        T(test_pascal_gpu_steps_get_socket0),
        T(test_tioga_cores_from_gpu_l3),
        T(test_shared_fractional_cpu),
        T(test_hybrid_prefers_fast_cores),
        T(test_memory_placement),
        T(test_power8_linked_pair),
        T(test_auto_degree),
        T(test_first_fit_baseline),
    };
    return cmocka_run_group_tests_name("placement/fit", tests, NULL, NULL);
}
