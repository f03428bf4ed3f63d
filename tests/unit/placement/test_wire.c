/* Unit tests for placement/wire.c: model and binding protobuf round trips,
 * and the refusal of truncated, garbage, oversized, wrong-version and
 * out-of-range input, including under allocation failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/cl_heap.h"
#include "common/cl_rng.h"
#include "placement/place.h"
#include "tests/unit/placement/fixture.h"

#include "topology.pb-c.h"

#include <string.h>

static const char *all_files[] = {
    FX_DGX2,   FX_POWER8, FX_LASSEN, FX_LASSEN_V1, FX_G4DN, FX_PASCAL,
    FX_TIOGA,  FX_CORONA, FX_QUARTZ, FX_EPYC_V1,   FX_SGI,  FX_LAPTOP,
};

static void test_roundtrip_every_file(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(all_files) / sizeof(all_files[0]); i++) {
        place_model *m = fx_load(all_files[i]);
        uint8_t *buf = NULL, *buf2 = NULL;
        size_t len = 0, len2 = 0;
        assert_int_equal(place_model_pack(m, &buf, &len), 0);
        assert_true(len > 0 && len <= PLACE_MODEL_WIRE_MAX);
        place_model *u = NULL;
        cl_errmsg err;
        cl_errmsg_clear(&err);
        int rv = place_model_unpack(buf, len, &u, &err);
        if (rv != 0)
            fail_msg("%s: %s", all_files[i], err.msg);
        /* Same facts, same derived data, same bytes again. */
        cl_buf a = CL_BUF_INIT, b = CL_BUF_INIT;
        place_model_describe(m, &a);
        place_model_describe(u, &b);
        assert_string_equal(a.data, b.data);
        assert_int_equal(u->nlink_groups, m->nlink_groups);
        assert_int_equal(u->memory, m->memory);
        if (m->ngpus > 0)
            assert_memory_equal(u->gpu_bw, m->gpu_bw,
                                (size_t)m->ngpus * m->ngpus * sizeof(uint64_t));
        assert_int_equal(place_model_pack(u, &buf2, &len2), 0);
        assert_int_equal(len, len2);
        assert_memory_equal(buf, buf2, len);
        cl_buf_free(&a);
        cl_buf_free(&b);
        cl_free(buf);
        cl_free(buf2);
        place_model_free(u);
        place_model_free(m);
    }
}

static void test_truncated_refused(void **state)
{
    (void)state;
    const char *files[] = {FX_G4DN, FX_POWER8, FX_DGX2};
    for (size_t f = 0; f < 3; f++) {
        place_model *m = fx_load(files[f]);
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(place_model_pack(m, &buf, &len), 0);
        for (size_t cut = 0; cut < len; cut++) {
            place_model *u = NULL;
            cl_errmsg err;
            cl_errmsg_clear(&err);
            int rv = place_model_unpack(buf, cut, &u, &err);
            if (rv == 0)
                fail_msg("%s: %zu of %zu bytes accepted", files[f], cut, len);
            assert_null(u);
            assert_true(err.msg[0] != '\0');
        }
        cl_free(buf);
        place_model_free(m);
    }
}

static void test_garbage_refused(void **state)
{
    (void)state;
    cl_rng rng;
    cl_rng_seed(&rng, 42);
    uint8_t buf[512];
    for (int i = 0; i < 2000; i++) {
        size_t len = (size_t)cl_rng_below(&rng, sizeof(buf) + 1);
        for (size_t j = 0; j < len; j++)
            buf[j] = (uint8_t)cl_rng_next(&rng);
        place_model *u = NULL;
        int rv = place_model_unpack(buf, len, &u, NULL);
        assert_true(rv != 0);
        assert_null(u);
        place_binding b;
        assert_true(place_binding_unpack(buf, len, &b, NULL) != 0);
    }
    /* Oversized input is refused before it is read. */
    place_model *u = NULL;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(place_model_unpack(buf, PLACE_MODEL_WIRE_MAX + 1, &u,
                                        &err),
                     CL_ETOOBIG);
    assert_non_null(strstr(err.msg, "at most"));
}

/* Decode our own packing with protobuf-c, change it, encode it again. */
typedef void (*mutator)(Couler__Topology__Topology *t);

static int unpack_mutated(const char *file, mutator mut, cl_errmsg *err)
{
    place_model *m = fx_load(file);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(place_model_pack(m, &buf, &len), 0);
    place_model_free(m);
    Couler__Topology__Topology *t =
        couler__topology__topology__unpack(NULL, len, buf);
    assert_non_null(t);
    cl_free(buf);
    mut(t);
    size_t n = couler__topology__topology__get_packed_size(t);
    uint8_t *out = cl_malloc(n);
    couler__topology__topology__pack(t, out);
    couler__topology__topology__free_unpacked(t, NULL);
    place_model *u = NULL;
    cl_errmsg_clear(err);
    int rv = place_model_unpack(out, n, &u, err);
    cl_free(out);
    place_model_free(u);
    return rv;
}

static void mut_version(Couler__Topology__Topology *t)
{
    t->format = 2;
}
static void mut_core_numa(Couler__Topology__Topology *t)
{
    t->cores[3]->numa = 7;
}
static void mut_near(Couler__Topology__Topology *t)
{
    t->gpus[1]->near_cores[0] = 100000;
}
static void mut_vendor(Couler__Topology__Topology *t)
{
    t->gpus[0]->vendor = 17;
}
static void mut_no_trailer(Couler__Topology__Topology *t)
{
    t->trailer = 0;
}
static void mut_pus(Couler__Topology__Topology *t)
{
    t->cores[0]->n_pus = 0;
}
static void mut_dup_pu(Couler__Topology__Topology *t)
{
    t->cores[1]->pus[0] = t->cores[0]->pus[0];
}
static void mut_links(Couler__Topology__Topology *t)
{
    t->links[0]->n_values = 3;
}
static void mut_pci(Couler__Topology__Topology *t)
{
    t->gpus[0]->pci_bus_id[5] = 'z'; /* "0000:z2:..." */
}
static void mut_pkg(Couler__Topology__Topology *t)
{
    t->numa_nodes[0]->package = 5;
}

static void test_bad_fields_refused(void **state)
{
    (void)state;
    static const struct {
        mutator mut;
        int code;
        const char *needle;
    } cases[] = {
        {mut_version, CL_EVERSION, "format 2"},
        {mut_core_numa, CL_EPROTO, "core 3"},
        {mut_near, CL_EPROTO, "GPU 1"},
        {mut_vendor, CL_EPROTO, "GPU 0: unknown vendor"},
        {mut_no_trailer, CL_EPROTO, "truncated"},
        {mut_pus, CL_EPROTO, "core 0 has 0 PUs"},
        {mut_dup_pu, CL_EPROTO, "appears twice"},
        {mut_links, CL_EPROTO, "link matrix 0"},
        {mut_pci, CL_EPROTO, "bad PCI bus id"},
        {mut_pkg, CL_EPROTO, "NUMA node 0"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cl_errmsg err;
        int rv = unpack_mutated(FX_POWER8, cases[i].mut, &err);
        if (rv != cases[i].code || strstr(err.msg, cases[i].needle) == NULL)
            fail_msg("case %zu: got %s '%s', want %s '%s'", i, cl_errname(rv),
                     err.msg, cl_errname(cases[i].code), cases[i].needle);
    }
}

static void test_unpack_out_of_memory(void **state)
{
    (void)state;
    place_model *m = fx_load(FX_TIOGA);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(place_model_pack(m, &buf, &len), 0);
    place_model_free(m);
    bool ok = false;
    for (long n = 0; n < 2000 && !ok; n++) {
        place_model *u = NULL;
        fx_heap_fail_after(n);
        int rv = place_model_unpack(buf, len, &u, NULL);
        fx_heap_fail_after(-1);
        if (rv == 0) {
            ok = true;
            place_model_free(u);
        } else {
            if (rv != CL_ENOMEM)
                fail_msg("after %ld allocations: %s", n, cl_errname(rv));
            assert_null(u);
        }
    }
    assert_true(ok);
    cl_free(buf);
}

static void sample_binding(place_binding *b)
{
    place_binding_init(b);
    b->id = 42;
    b->node_id = cl_strdup("gpu-7");
    b->npus = 4;
    b->pus = cl_malloc(4 * sizeof(uint32_t));
    uint32_t pus[4] = {0, 1, 48, 49};
    memcpy(b->pus, pus, sizeof(pus));
    b->cpuset = cl_strdup("0-1,48-49");
    b->ngpus = 2;
    b->gpus = cl_calloc(2, sizeof(place_binding_gpu));
    b->gpus[0] = (place_binding_gpu){0, PLACE_VENDOR_NVIDIA, 0, "0000:18:00.0"};
    b->gpus[1] = (place_binding_gpu){1, PLACE_VENDOR_NVIDIA, 1, "0000:19:00.0"};
    b->nmems = 1;
    b->mems = cl_calloc(1, sizeof(place_binding_mem));
    b->mems[0] = (place_binding_mem){0, 1u << 30};
    b->cpu_milli = 2000;
    b->memory = 1u << 30;
    b->memory_limit = 2u << 30;
    b->fit = PLACE_FIT_NUMA;
    b->gpus_linked = true;
    b->degree = 1;
}

static void test_binding_roundtrip(void **state)
{
    (void)state;
    place_binding b, u;
    sample_binding(&b);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(place_binding_pack(&b, &buf, &len), 0);
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(place_binding_unpack(buf, len, &u, &err), 0);
    assert_int_equal(u.id, 42);
    assert_string_equal(u.node_id, "gpu-7");
    assert_string_equal(u.cpuset, "0-1,48-49");
    assert_int_equal(u.npus, 4);
    assert_int_equal(u.pus[2], 48);
    assert_int_equal(u.ngpus, 2);
    assert_string_equal(u.gpus[1].pci_bus_id, "0000:19:00.0");
    assert_int_equal(u.nmems, 1);
    assert_int_equal(u.mems[0].bytes, 1u << 30);
    assert_int_equal(u.memory_limit, 2u << 30);
    assert_int_equal(u.fit, PLACE_FIT_NUMA);
    assert_true(u.gpus_linked);
    place_binding_free(&u);
    for (size_t cut = 0; cut < len; cut++)
        assert_true(place_binding_unpack(buf, cut, &u, NULL) != 0);
    cl_free(buf);

    /* Inconsistent fields are refused. */
    cl_free(b.cpuset);
    b.cpuset = cl_strdup("0-3");
    assert_int_equal(place_binding_pack(&b, &buf, &len), 0);
    assert_int_equal(place_binding_unpack(buf, len, &u, &err), CL_EPROTO);
    assert_non_null(strstr(err.msg, "cpuset"));
    cl_free(buf);
    cl_free(b.cpuset);
    b.cpuset = cl_strdup("0-1,48-49");
    b.memory = 5;
    assert_int_equal(place_binding_pack(&b, &buf, &len), 0);
    assert_int_equal(place_binding_unpack(buf, len, &u, &err), CL_EPROTO);
    assert_non_null(strstr(err.msg, "memory"));
    cl_free(buf);
    b.memory = 1u << 30;
    b.gpus[1].slot = 0;
    assert_int_equal(place_binding_pack(&b, &buf, &len), 0);
    assert_int_equal(place_binding_unpack(buf, len, &u, &err), CL_EPROTO);
    assert_non_null(strstr(err.msg, "twice"));
    cl_free(buf);
    place_binding_free(&b);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_roundtrip_every_file), T(test_truncated_refused),
        T(test_garbage_refused),      T(test_bad_fields_refused),
        T(test_unpack_out_of_memory), T(test_binding_roundtrip),
    };
    return cmocka_run_group_tests_name("placement/wire", tests, NULL, NULL);
}
