/* Unit tests for placement/model.c: cpuset text, the description, copies,
 * and the validation every model goes through (place__model_finish). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/cl_heap.h"
#include "placement/place_int.h"
#include "tests/unit/placement/fixture.h"

#include <stdlib.h>
#include <string.h>

static void check_format(const uint32_t *ids, size_t n, const char *want)
{
    cl_buf b = CL_BUF_INIT;
    place_cpuset_format(ids, n, &b);
    assert_true(cl_buf_ok(&b));
    assert_string_equal(b.data ? b.data : "", want);
    cl_buf_free(&b);
}

static void test_cpuset_format(void **state)
{
    (void)state;
    check_format((uint32_t[]){0, 1, 2, 3, 8}, 5, "0-3,8");
    check_format((uint32_t[]){8, 3, 2, 1, 0, 2}, 6, "0-3,8");
    check_format((uint32_t[]){5}, 1, "5");
    check_format((uint32_t[]){1, 3, 5}, 3, "1,3,5");
    check_format((uint32_t[]){0, 48, 1, 49}, 4, "0-1,48-49");
    check_format(NULL, 0, "");
}

static void test_cpuset_parse(void **state)
{
    (void)state;
    uint32_t *ids = NULL;
    size_t n = 0;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(place_cpuset_parse("0-3,8", &ids, &n, &err), 0);
    assert_int_equal(n, 5);
    assert_int_equal(ids[3], 3);
    assert_int_equal(ids[4], 8);
    cl_free(ids);
    assert_int_equal(place_cpuset_parse("8,0-1,1", &ids, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[2], 8);
    cl_free(ids);
    assert_int_equal(place_cpuset_parse("", &ids, &n, &err), 0);
    assert_int_equal(n, 0);
    const char *bad[] = {"3-1", "a", "1,,2", "1-", "-1", "1 2", "0-99999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rv = place_cpuset_parse(bad[i], &ids, &n, &err);
        if (rv == 0)
            fail_msg("'%s' accepted", bad[i]);
        assert_null(ids);
        assert_non_null(strstr(err.msg, "bad item"));
    }
    /* Round trip. */
    cl_buf b = CL_BUF_INIT;
    assert_int_equal(place_cpuset_parse("0-23,48-71", &ids, &n, &err), 0);
    place_cpuset_format(ids, n, &b);
    assert_string_equal(b.data, "0-23,48-71");
    cl_free(ids);
    cl_buf_free(&b);
}

static void test_describe(void **state)
{
    (void)state;
    place_model *m = fx_load(FX_G4DN);
    cl_buf b = CL_BUF_INIT;
    place_model_describe(m, &b);
    assert_true(cl_buf_ok(&b));
    assert_non_null(strstr(b.data, "host gpu-st-g4dnmetal-1\n"));
    assert_non_null(strstr(b.data, "2 packages, 2 NUMA nodes, 48 cores, 96 "
                                   "PUs, 8 GPUs"));
    assert_non_null(strstr(b.data, "NUMA P#0: 188.5 GiB, package P#0, 24 "
                                   "cores, PUs 0-23,48-71"));
    assert_non_null(strstr(b.data, "GPU 0: nvidia Tesla T4, index 0, PCI "
                                   "0000:18:00.0, NUMA P#0, near Package "
                                   "L#0 (PUs 0-23,48-71)"));
    cl_buf_free(&b);
    place_model_free(m);

    m = fx_load(FX_DGX2);
    place_model_describe(m, &b);
    assert_non_null(strstr(b.data, "host (unnamed)"));
    assert_non_null(strstr(b.data, "links NVLinkBandwidth: 28 members (16 "
                                   "GPUs, 12 switches"));
    assert_non_null(strstr(b.data, "link group 0: GPUs 0-7, up to 25000"));
    assert_non_null(strstr(b.data, "link group 1: GPUs 8-15"));
    cl_buf_free(&b);
    place_model_free(m);

    m = fx_load(FX_LASSEN_V1);
    place_model_describe(m, &b);
    assert_non_null(strstr(b.data, "NUMA P#252: 15.8 GiB, no CPUs (memory "
                                   "only)"));
    assert_non_null(strstr(b.data, "GPU 0: nvidia PCI device 10de:1db1, "
                                   "index 0 (PCI order)"));
    assert_non_null(strstr(b.data, "near Group"));
    cl_buf_free(&b);
    place_model_free(m);

    m = fx_load(FX_LAPTOP);
    place_model_describe(m, &b);
    assert_non_null(strstr(b.data, "CPU kind 1 (fastest): 6 cores, PUs 0-11"));
    assert_non_null(strstr(b.data, "CPU kind 0: 8 cores, PUs 12-19"));
    cl_buf_free(&b);
    place_model_free(m);
}

static void test_dup_and_fingerprint(void **state)
{
    (void)state;
    place_model *m = fx_load(FX_TIOGA);
    place_model *d = NULL;
    assert_int_equal(place_model_dup(m, &d), 0);
    assert_ptr_not_equal(d->gpus, m->gpus);
    cl_buf a = CL_BUF_INIT, b = CL_BUF_INIT;
    place_model_describe(m, &a);
    place_model_describe(d, &b);
    assert_string_equal(a.data, b.data);
    /* Same hardware, other host name: same fingerprint. */
    cl_free(d->hostname);
    d->hostname = cl_strdup("other-host");
    uint8_t *f1, *f2;
    size_t l1, l2;
    assert_int_equal(place__model_fingerprint(m, &f1, &l1), 0);
    assert_int_equal(place__model_fingerprint(d, &f2, &l2), 0);
    assert_int_equal(l1, l2);
    assert_memory_equal(f1, f2, l1);
    cl_free(f2);
    /* Other hardware: another fingerprint. */
    d->numa[0].memory -= 4096;
    assert_int_equal(place__model_fingerprint(d, &f2, &l2), 0);
    assert_true(l1 != l2 || memcmp(f1, f2, l1) != 0);
    cl_free(f1);
    cl_free(f2);
    cl_buf_free(&a);
    cl_buf_free(&b);
    place_model_free(d);
    place_model_free(m);
}

static void test_derived(void **state)
{
    (void)state;
    place_model *m = fx_load(FX_LASSEN_V1);
    /* Memory-only NUMA nodes (GPU HBM) are not placeable memory. */
    assert_int_equal(m->memory, m->numa[0].memory + m->numa[1].memory);
    assert_int_equal(m->numa[0].ncores, 20);
    assert_int_equal(m->numa[2].ncores, 0);
    assert_int_equal(m->numa[0].package, 0);
    assert_int_equal(place__numa_lookup(m, 8), 1);
    assert_int_equal(place__numa_lookup(m, 7), -1);
    int32_t pu = place__pu_lookup(m, 96);
    assert_true(pu >= 0);
    assert_int_equal(m->pus[pu].os_index, 96);
    assert_int_equal(place__pu_lookup(m, 95), -1);
    assert_int_equal(place__pu_lookup(m, 3), -1);
    place_model_free(m);
}

/* A small hand-built model: 1 package, 1 NUMA node, 2 cores x 2 PUs, one
 * GPU near both cores. */
static place_model *tiny(void)
{
    place_model *m = place__model_new();
    m->hostname = cl_strdup("tiny");
    m->npackages = 1;
    m->packages = cl_calloc(1, sizeof(place_package));
    m->nnuma = 1;
    m->numa = cl_calloc(1, sizeof(place_numa));
    m->numa[0].memory = 1u << 30;
    m->ncores = 2;
    m->cores = cl_calloc(2, sizeof(place_core));
    m->npus = 4;
    m->pus = cl_calloc(4, sizeof(place_pu));
    for (uint32_t c = 0; c < 2; c++) {
        m->cores[c].os_index = c;
        m->cores[c].numa = 0;
        m->cores[c].cache = -1;
        m->cores[c].pu_first = 2 * c;
        m->cores[c].npus = 2;
        m->pus[2 * c].os_index = c;
        m->pus[2 * c + 1].os_index = c + 2;
    }
    m->ngpus = 1;
    m->gpus = cl_calloc(1, sizeof(place_gpu));
    m->gpus[0].vendor = PLACE_VENDOR_NVIDIA;
    strcpy(m->gpus[0].pci_bus_id, "0000:01:00.0");
    m->gpus[0].model = cl_strdup("T");
    m->gpus[0].os_devices = cl_strdup("cuda0");
    m->gpus[0].locality = cl_strdup("Package L#0");
    m->gpus[0].numa = 0;
    m->gpus[0].nnear = 2;
    m->gpus[0].near_cores = cl_calloc(2, sizeof(uint32_t));
    m->gpus[0].near_cores[1] = 1;
    return m;
}

static void expect_refused(place_model *m, int code, const char *needle)
{
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = place__model_finish(m, &err);
    if (rv != code)
        fail_msg("expected %s for '%s', got %s (%s)", cl_errname(code), needle,
                 cl_errname(rv), err.msg);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("'%s' not in '%s'", needle, err.msg);
    place_model_free(m);
}

static void test_finish_validates(void **state)
{
    (void)state;
    place_model *m = tiny();
    assert_int_equal(place__model_finish(m, NULL), 0);
    assert_int_equal(m->numa[0].ncores, 2);
    assert_int_equal(m->memory, 1u << 30);
    place_model_free(m);

    m = tiny();
    m->pus[3].os_index = 0;
    expect_refused(m, CL_EPROTO, "PU OS index 0 appears twice");
    m = tiny();
    m->cores[1].numa = 3;
    expect_refused(m, CL_EPROTO, "core 1");
    m = tiny();
    m->cores[1].pu_first = 1;
    expect_refused(m, CL_EPROTO, "bad PU range");
    m = tiny();
    m->gpus[0].near_cores[1] = 9;
    expect_refused(m, CL_EPROTO, "near core 9 out of range");
    m = tiny();
    m->gpus[0].near_cores[0] = 1;
    expect_refused(m, CL_EPROTO, "not ascending");
    m = tiny();
    strcpy(m->gpus[0].pci_bus_id, "0000:1:00.0");
    expect_refused(m, CL_EPROTO, "bad PCI bus id");
    m = tiny();
    m->gpus[0].vendor = (enum place_vendor)9;
    expect_refused(m, CL_EPROTO, "GPU 0");
    m = tiny();
    m->ncores = 0;
    expect_refused(m, CL_ETOPO, "at least one");
    m = tiny();
    m->nlinks = 1;
    m->links = cl_calloc(1, sizeof(place_link));
    m->links[0].name = cl_strdup("NVLinkBandwidth");
    m->links[0].n = 1;
    m->links[0].members = cl_calloc(1, sizeof(place_link_member));
    m->links[0].members[0].kind = PLACE_LINK_GPU;
    m->links[0].members[0].index = 4;
    m->links[0].members[0].name = cl_strdup("x");
    m->links[0].values = cl_calloc(1, sizeof(uint64_t));
    expect_refused(m, CL_EPROTO, "member 0 malformed");
}

static void test_dup_out_of_memory(void **state)
{
    (void)state;
    place_model *m = fx_load(FX_DGX2);
    int ok = 0;
    for (long n = 0; n < 400 && !ok; n++) {
        place_model *d = NULL;
        fx_heap_fail_after(n);
        int rv = place_model_dup(m, &d);
        fx_heap_fail_after(-1);
        if (rv == 0) {
            ok = 1;
            place_model_free(d);
        } else {
            assert_int_equal(rv, CL_ENOMEM);
            assert_null(d);
        }
    }
    assert_true(ok);
    place_model_free(m);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_cpuset_format), T(test_cpuset_parse),
        T(test_describe),      T(test_dup_and_fingerprint),
        T(test_derived),       T(test_finish_validates),
        T(test_dup_out_of_memory),
    };
    return cmocka_run_group_tests_name("placement/model", tests, NULL, NULL);
}
