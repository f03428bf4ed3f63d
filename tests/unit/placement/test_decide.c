/* Unit tests for placement/decide.c: choosing among nodes: stranding
 * against a first-fit baseline, never-fit refusals with reasons, waiting,
 * input locality, selectors, determinism, and a large randomized run whose
 * every binding is checked against an independent ledger. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/cl_heap.h"
#include "placement/place.h"
#include "tests/unit/placement/fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static place_cluster *mixed(bool first_fit)
{
    place_options opt = place_options_default();
    opt.first_fit = first_fit;
    place_cluster *c = NULL;
    assert_int_equal(place_cluster_new(&opt, &c), 0);
    /* GPU nodes first: what a first-fit placer meets first. */
    fx_cluster_add(c, FX_G4DN, "g4dn-0", NULL, 0);
    fx_cluster_add(c, FX_G4DN, "g4dn-1", NULL, 0);
    fx_cluster_add(c, FX_QUARTZ, "quartz-0", NULL, 0);
    fx_cluster_add(c, FX_QUARTZ, "quartz-1", NULL, 0);
    return c;
}

struct outcome {
    unsigned placed, waiting;
    uint64_t stranded;
};

/* Nine 8-core CPU steps then sixteen 1-GPU steps. */
static struct outcome run_stream(place_cluster *c)
{
    struct outcome o = {0, 0, 0};
    cl_rng rng;
    cl_rng_seed(&rng, 3);
    place_request cpu, gpu;
    fx_req(&cpu, "8", "4Gi", NULL, NULL);
    fx_req(&gpu, "2", "8Gi", "nvidia.com/gpu", "1");
    for (int i = 0; i < 25; i++) {
        place_binding b;
        int rv = place_cluster_place(c, i < 9 ? &cpu : &gpu, &rng, &b, NULL);
        if (rv == 0) {
            o.placed++;
            place_binding_free(&b);
        } else {
            assert_int_equal(rv, CL_EAGAIN);
            o.waiting++;
        }
    }
    place_cluster_stats s;
    place_cluster_stats_get(c, &s);
    o.stranded = s.stranded_gpus;
    return o;
}

static void test_no_stranded_gpus_unlike_first_fit(void **state)
{
    (void)state;
    place_cluster *ff = mixed(true);
    struct outcome a = run_stream(ff);
    place_cluster_free(ff);
    /* First fit fills the GPU nodes' cores with CPU work. */
    assert_int_equal(a.stranded, 8);
    assert_int_equal(a.waiting, 8);

    place_cluster *c = mixed(false);
    struct outcome b = run_stream(c);
    assert_int_equal(b.stranded, 0);
    assert_int_equal(b.waiting, 0);
    assert_int_equal(b.placed, 25);
    place_node_usage u;
    assert_int_equal(place_cluster_node_usage(c, "quartz-0", &u), 0);
    assert_true(u.free_cores < u.cores);
    place_cluster_free(c);
}

static void expect_nofit(place_cluster *c, place_request *r,
                         const char *needle)
{
    place_binding b;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = place_cluster_decide(c, r, NULL, &b, &err);
    if (rv != CL_ENOFIT || strstr(err.msg, needle) == NULL)
        fail_msg("got %s '%s', want CL_ENOFIT '%s'", cl_errname(rv), err.msg,
                 needle);
    assert_int_equal(place_cluster_fits_ever(c, r, NULL), CL_ENOFIT);
}

static void test_never_fits_refused(void **state)
{
    (void)state;
    place_cluster *c = mixed(false);
    place_request r;
    fx_req(&r, NULL, NULL, "nvidia.com/gpu", "9");
    expect_nofit(c, &r, "needs 9 nvidia GPUs; the largest node has 8");
    fx_req(&r, "49", NULL, NULL, NULL);
    expect_nofit(c, &r, "needs 49 cores; the largest node has 48");
    fx_req(&r, NULL, "2Ti", NULL, NULL);
    expect_nofit(c, &r, "needs 2.0 TiB of memory; the largest node has "
                        "377.5 GiB");
    fx_req(&r, NULL, NULL, "amd.com/gpu", "1");
    expect_nofit(c, &r, "needs 1 amd GPUs; the largest node has 0");
    fx_req(&r, "40", "300Gi", "nvidia.com/gpu", "8"); /* a whole g4dn */
    assert_int_equal(place_cluster_fits_ever(c, &r, NULL), 0);
    fx_req(&r, NULL, NULL, NULL, NULL);
    const place_kv sel[] = {{"gpu", "a100"}};
    r.selector = sel;
    r.nselector = 1;
    expect_nofit(c, &r, "nodeSelector");
    fx_req(&r, NULL, NULL, NULL, NULL);
    r.gpus = 65;
    r.gpu_vendor = PLACE_VENDOR_NVIDIA;
    expect_nofit(c, &r, "at most 64");
    place_cluster_free(c);

    /* Nothing registered yet: wait, do not refuse. */
    assert_int_equal(place_cluster_new(NULL, &c), 0);
    fx_req(&r, "1", NULL, NULL, NULL);
    place_binding b;
    assert_int_equal(place_cluster_decide(c, &r, NULL, &b, NULL), CL_EAGAIN);
    place_cluster_free(c);

    /* Combination that no single node has. */
    assert_int_equal(place_cluster_new(NULL, &c), 0);
    fx_cluster_add(c, FX_DGX2, "dgx", NULL, 0);
    fx_cluster_add(c, FX_QUARTZ, "q", NULL, 0);
    fx_req(&r, "8", NULL, "nvidia.com/gpu", "8");
    expect_nofit(c, &r, "no node has 8 nvidia GPUs, 8 cores");
    place_cluster_free(c);
}

static void test_waits_then_fits(void **state)
{
    (void)state;
    place_cluster *c = fx_cluster(FX_G4DN, "g", 1);
    place_request r;
    fx_req(&r, "4", NULL, "nvidia.com/gpu", "8");
    place_binding a, b;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(place_cluster_place(c, &r, NULL, &a, &err), 0);
    assert_int_equal(place_cluster_place(c, &r, NULL, &b, &err), CL_EAGAIN);
    assert_string_equal(err.msg, "no ready node has 8 free nvidia GPUs and "
                                 "4 free cores now");
    assert_int_equal(place_cluster_release(c, a.id), 0);
    assert_int_equal(place_cluster_place(c, &r, NULL, &b, &err), 0);
    assert_int_equal(b.ngpus, 8);
    assert_int_equal(b.fit, PLACE_FIT_SPREAD);
    place_binding_free(&a);
    place_binding_free(&b);
    place_cluster_free(c);
}

static void test_inputs_local(void **state)
{
    (void)state;
    place_cluster *c = fx_cluster(FX_QUARTZ, "q", 20);
    place_request r;
    fx_req(&r, "2", NULL, NULL, NULL);
    const place_input in[] = {{"q-13", 1u << 30}, {"q-4", 1u << 20}};
    r.inputs = in;
    r.ninputs = 2;
    cl_rng rng;
    cl_rng_seed(&rng, 9);
    place_binding b;
    assert_int_equal(place_cluster_place(c, &r, &rng, &b, NULL), 0);
    assert_string_equal(b.node_id, "q-13");
    place_binding_free(&b);
    /* The node with the data is full: the next best holder wins. */
    place_request big;
    fx_req(&big, "34", NULL, NULL, NULL);
    const place_input only13[] = {{"q-13", 1}};
    big.inputs = only13;
    big.ninputs = 1;
    assert_int_equal(place_cluster_place(c, &big, &rng, &b, NULL), 0);
    assert_string_equal(b.node_id, "q-13");
    place_binding_free(&b);
    assert_int_equal(place_cluster_place(c, &r, &rng, &b, NULL), 0);
    assert_string_equal(b.node_id, "q-4");
    place_binding_free(&b);
    /* An input on an unknown node is harmless. */
    const place_input gone[] = {{"nope", 5}};
    r.inputs = gone;
    r.ninputs = 1;
    assert_int_equal(place_cluster_place(c, &r, &rng, &b, NULL), 0);
    place_binding_free(&b);
    place_cluster_free(c);
}

static void test_selector(void **state)
{
    (void)state;
    place_cluster *c = NULL;
    assert_int_equal(place_cluster_new(NULL, &c), 0);
    const place_kv t4[] = {{"gpu", "t4"}, {"zone", "a"}};
    const place_kv none[] = {{"zone", "a"}};
    for (int i = 0; i < 6; i++) {
        char id[16];
        snprintf(id, sizeof(id), "n%d", i);
        fx_cluster_add(c, i == 4 ? FX_G4DN : FX_QUARTZ, id,
                       i == 4 ? t4 : none, i == 4 ? 2 : 1);
    }
    place_request r;
    fx_req(&r, "1", NULL, NULL, NULL);
    const place_kv sel[] = {{"gpu", "t4"}};
    r.selector = sel;
    r.nselector = 1;
    for (int i = 0; i < 3; i++) {
        place_binding b;
        assert_int_equal(place_cluster_place(c, &r, NULL, &b, NULL), 0);
        assert_string_equal(b.node_id, "n4");
        place_binding_free(&b);
    }
    const place_kv sel2[] = {{"zone", "a"}, {"gpu", "t4"}};
    r.selector = sel2;
    r.nselector = 2;
    place_binding b;
    assert_int_equal(place_cluster_place(c, &r, NULL, &b, NULL), 0);
    assert_string_equal(b.node_id, "n4");
    place_binding_free(&b);
    /* Draining the only match: never fits any more. */
    assert_int_equal(place_cluster_set_state(c, "n4", PLACE_NODE_DRAINING), 0);
    assert_int_equal(place_cluster_decide(c, &r, NULL, &b, NULL), CL_ENOFIT);
    /* Down (may come back): waits. */
    assert_int_equal(place_cluster_set_state(c, "n4", PLACE_NODE_DOWN), 0);
    assert_int_equal(place_cluster_decide(c, &r, NULL, &b, NULL), CL_EAGAIN);
    place_cluster_free(c);
}

/* Same seed, same decisions; ties are broken by the rng. */
static void sequence(uint64_t seed, char out[][16], int n)
{
    place_cluster *c = fx_cluster(FX_QUARTZ, "q", 40);
    cl_rng rng;
    cl_rng_seed(&rng, seed);
    place_request r;
    fx_req(&r, "36", NULL, NULL, NULL); /* a whole node each */
    for (int i = 0; i < n; i++) {
        place_binding b;
        assert_int_equal(place_cluster_place(c, &r, &rng, &b, NULL), 0);
        snprintf(out[i], 16, "%s", b.node_id);
        place_binding_free(&b);
    }
    place_cluster_free(c);
}

static void test_deterministic_ties(void **state)
{
    (void)state;
    char a[10][16], b[10][16], d[10][16];
    sequence(1, a, 10);
    sequence(1, b, 10);
    sequence(2, d, 10);
    bool differ = false;
    for (int i = 0; i < 10; i++) {
        assert_string_equal(a[i], b[i]);
        differ = differ || strcmp(a[i], d[i]) != 0;
        for (int j = 0; j < i; j++)
            assert_string_not_equal(a[i], a[j]);
    }
    assert_true(differ);
}

/* A feasible node far beyond the probe limit is still found. */
static void test_no_false_wait(void **state)
{
    (void)state;
    place_options opt = place_options_default();
    opt.probe_limit = 8;
    opt.candidates = 2;
    place_cluster *c = NULL;
    assert_int_equal(place_cluster_new(&opt, &c), 0);
    place_model *q = fx_load(FX_QUARTZ);
    place_model *g = fx_load(FX_G4DN);
    char id[32];
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof(id), "q%d", i);
        assert_int_equal(place_cluster_add_node(c, id, q, NULL, 0, NULL), 0);
    }
    assert_int_equal(place_cluster_add_node(c, "big", g, NULL, 0, NULL), 0);
    place_model_free(q);
    place_model_free(g);
    /* Only the g4dn has 300 GiB; the quartz nodes have as many cores. */
    place_request r;
    fx_req(&r, "30", "300Gi", NULL, NULL);
    place_binding b;
    assert_int_equal(place_cluster_place(c, &r, NULL, &b, NULL), 0);
    assert_string_equal(b.node_id, "big");
    place_binding_free(&b);
    place_cluster_free(c);
}

/* Auto parallelism across nodes takes the widest unit. */
static void test_auto_widest_node(void **state)
{
    (void)state;
    place_cluster *c = NULL;
    assert_int_equal(place_cluster_new(NULL, &c), 0);
    fx_cluster_add(c, FX_PASCAL, "two", NULL, 0);
    fx_cluster_add(c, FX_TIOGA, "amd", NULL, 0);
    fx_cluster_add(c, FX_POWER8, "pairs", NULL, 0);
    fx_cluster_add(c, FX_G4DN, "eight", NULL, 0);
    place_request r;
    fx_req(&r, "1", NULL, "nvidia.com/gpu", "1");
    r.auto_parallel = true;
    place_binding b;
    assert_int_equal(place_cluster_place(c, &r, NULL, &b, NULL), 0);
    /* g4dn has no link data: one NUMA node of 4 GPUs is its unit, which
     * beats the Pascal's 2 and a POWER8 NVLink pair. */
    assert_string_equal(b.node_id, "eight");
    assert_int_equal(b.degree, 4);
    assert_int_equal(b.fit, PLACE_FIT_NUMA);
    place_binding_free(&b);
    place_cluster_free(c);
}

/* Randomized: many nodes, random requests and releases; every binding is
 * checked against a ledger kept here, independently of the placer. */
struct ledger {
    const char *id;
    const place_model *m;
    uint8_t pu_owner[512]; /* by PU OS index: 0 free, 1 exclusive, 2+ n shared */
    uint64_t gpus;
    uint64_t mem;
};

static struct ledger *find(struct ledger *l, int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (strcmp(l[i].id, id) == 0)
            return &l[i];
    return NULL;
}

static void apply(struct ledger *l, const place_binding *b, int sign)
{
    for (size_t i = 0; i < b->npus; i++) {
        assert_true(b->pus[i] < 512);
        uint8_t *o = &l->pu_owner[b->pus[i]];
        if (sign > 0 && b->shared) {
            assert_true(*o != 1);
            *o = (uint8_t)(*o ? *o + 1 : 2);
        } else if (sign > 0) {
            assert_int_equal(*o, 0);
            *o = 1;
        } else {
            *o = (uint8_t)(b->shared ? (*o == 2 ? 0 : *o - 1) : 0);
        }
    }
    for (size_t i = 0; i < b->ngpus; i++) {
        uint64_t bit = 1ULL << b->gpus[i].slot;
        if (sign > 0)
            assert_false(l->gpus & bit);
        l->gpus ^= bit;
    }
    l->mem = sign > 0 ? l->mem + b->memory : l->mem - b->memory;
    assert_true(l->mem <= l->m->memory);
}

static void test_randomized_ledger(void **state)
{
    (void)state;
    const char *files[] = {FX_G4DN, FX_TIOGA, FX_QUARTZ, FX_DGX2,
                           FX_PASCAL, FX_EPYC_V1, FX_POWER8, FX_CORONA};
    enum { NODES = 64, STEPS = 4000 };
    place_cluster *c = NULL;
    assert_int_equal(place_cluster_new(NULL, &c), 0);
    static struct ledger led[NODES];
    static char ids[NODES][16];
    place_model *models[8];
    for (int i = 0; i < 8; i++)
        models[i] = fx_load(files[i]);
    for (int i = 0; i < NODES; i++) {
        snprintf(ids[i], 16, "n%d", i);
        assert_int_equal(place_cluster_add_node(c, ids[i], models[i % 8],
                                                NULL, 0, NULL),
                         0);
        memset(&led[i], 0, sizeof(led[i]));
        led[i].id = ids[i];
        led[i].m = place_cluster_node_model(c, ids[i]);
    }
    for (int i = 0; i < 8; i++)
        place_model_free(models[i]);
    static place_binding live[STEPS];
    int nlive = 0;
    cl_rng rng;
    cl_rng_seed(&rng, 77);
    static const char *cpus[] = {"250m", "1", "2", "4", "1500m", NULL};
    static const char *mems[] = {NULL, "512Mi", "4Gi", "24Gi"};
    int placed = 0, waited = 0;
    for (int step = 0; step < STEPS; step++) {
        if (nlive > 0 && cl_rng_below(&rng, 5) < 2) {
            int k = (int)cl_rng_below(&rng, (uint64_t)nlive);
            place_binding *b = &live[k];
            apply(find(led, NODES, b->node_id), b, -1);
            assert_int_equal(place_cluster_release(c, b->id), 0);
            assert_int_equal(place_cluster_release(c, b->id), CL_ENOENT);
            place_binding_free(b);
            live[k] = live[--nlive];
            continue;
        }
        place_request r;
        uint64_t g = cl_rng_below(&rng, 6);
        fx_req(&r, cpus[cl_rng_below(&rng, 6)], mems[cl_rng_below(&rng, 4)],
               cl_rng_below(&rng, 4) ? "nvidia.com/gpu" : "amd.com/gpu",
               g < 3 ? NULL : g == 3 ? "1" : g == 4 ? "2" : "4");
        place_binding b;
        int rv = place_cluster_place(c, &r, &rng, &b, NULL);
        if (rv != 0) {
            assert_int_equal(rv, CL_EAGAIN);
            waited++;
            continue;
        }
        placed++;
        struct ledger *l = find(led, NODES, b.node_id);
        assert_non_null(l);
        assert_int_equal(b.ngpus, r.gpus);
        for (size_t i = 0; i < b.ngpus; i++)
            assert_int_equal(b.gpus[i].vendor, r.gpu_vendor);
        assert_int_equal(b.memory, r.memory);
        apply(l, &b, +1);
        live[nlive++] = b;
    }
    assert_true(placed > STEPS / 3);
    assert_true(waited > 0);
    /* The view agrees with the ledger. */
    for (int i = 0; i < NODES; i++) {
        place_node_usage u;
        assert_int_equal(place_cluster_node_usage(c, ids[i], &u), 0);
        assert_int_equal(u.gpus - u.free_gpus,
                         __builtin_popcountll(led[i].gpus));
        assert_int_equal(u.memory - u.free_memory, led[i].mem);
    }
    while (nlive > 0) {
        place_binding *b = &live[--nlive];
        assert_int_equal(place_cluster_release(c, b->id), 0);
        place_binding_free(b);
    }
    place_cluster_stats s;
    place_cluster_stats_get(c, &s);
    assert_int_equal(s.free_cores, s.cores);
    assert_int_equal(s.free_gpus, s.gpus);
    assert_int_equal(s.free_memory, s.memory);
    assert_int_equal(s.bindings, 0);
    place_cluster_free(c);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_no_stranded_gpus_unlike_first_fit),
        T(test_never_fits_refused),
        T(test_waits_then_fits),
        T(test_inputs_local),
        T(test_selector),
        T(test_deterministic_ties),
        T(test_no_false_wait),
        T(test_auto_widest_node),
        T(test_randomized_ledger),
    };
    return cmocka_run_group_tests_name("placement/decide", tests, NULL, NULL);
}
