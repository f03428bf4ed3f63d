/* Unit tests for placement/request.c: Kubernetes quantities, Argo
 * resources.requests/limits, and nodeSelector matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "placement/place.h"
#include "tests/unit/placement/fixture.h"

#include <string.h>

static void test_cpu_quantities(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint32_t milli;
    } ok[] = {
        {"2", 2000},      {"500m", 500},   {"0.5", 500},    {"1.5", 1500},
        {"0.0001", 1},    {"100m", 100},   {"1e3", 1000000}, {"+1", 1000},
        {"2000m", 2000},  {".25", 250},    {"4.", 4000},    {"0", 0},
        {"1.0001", 1001}, {"250000u", 250}, {"1k", 1000000}, {"001", 1000},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint32_t v = 0;
        cl_errmsg err;
        cl_errmsg_clear(&err);
        int rv = place_parse_cpu(ok[i].s, &v, &err);
        if (rv != 0 || v != ok[i].milli)
            fail_msg("cpu '%s': rv %d (%s), %u millicores, want %u", ok[i].s,
                     rv, err.msg, v, ok[i].milli);
    }
}

static void test_memory_quantities(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint64_t bytes;
    } ok[] = {
        {"1Gi", 1073741824ULL},
        {"1.5Gi", 1610612736ULL},
        {"512Mi", 536870912ULL},
        {"1G", 1000000000ULL},
        {"1e9", 1000000000ULL},
        {"1E9", 1000000000ULL},
        {"100", 100},
        {"1K", 1000},
        {"1k", 1000},
        {"1Ki", 1024},
        {"2Ti", 2199023255552ULL},
        {"1Ei", 1152921504606846976ULL},
        {"1E", 1000000000000000000ULL},
        {"1P", 1000000000000000ULL},
        {"0", 0},
        {"500m", 1}, /* half a byte rounds up */
        {"128974848", 128974848ULL},
        {"129e6", 129000000ULL},
        {"123Mi", 128974848ULL},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t v = 0;
        cl_errmsg err;
        cl_errmsg_clear(&err);
        int rv = place_parse_memory(ok[i].s, &v, &err);
        if (rv != 0 || v != ok[i].bytes)
            fail_msg("memory '%s': rv %d (%s), %llu, want %llu", ok[i].s, rv,
                     err.msg, (unsigned long long)v,
                     (unsigned long long)ok[i].bytes);
    }
}

static void test_bad_quantities(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int code;
        const char *why;
    } bad[] = {
        {"", CL_EINVAL, "expected a number"},
        {"abc", CL_EINVAL, "expected a number"},
        {"1x", CL_EINVAL, "unknown suffix"},
        {"-1", CL_EINVAL, "negative"},
        {"1Qi", CL_EINVAL, "unknown suffix"},
        {"1.2.3", CL_EINVAL, "unknown suffix"},
        {"1e", CL_EINVAL, "bad exponent"},
        {"Gi", CL_EINVAL, "expected a number"},
        {"1ki", CL_EINVAL, "unknown suffix"},
        {"1 Gi", CL_EINVAL, "unknown suffix"},
        {"20Ei", CL_ERANGE, "out of range"},
        {"1e30", CL_ERANGE, "out of range"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v;
        cl_errmsg err;
        cl_errmsg_clear(&err);
        int rv = place_parse_memory(bad[i].s, &v, &err);
        if (rv != bad[i].code || strstr(err.msg, bad[i].why) == NULL)
            fail_msg("'%s': %s '%s', want %s '%s'", bad[i].s, cl_errname(rv),
                     err.msg, cl_errname(bad[i].code), bad[i].why);
    }
    uint32_t milli;
    assert_int_equal(place_parse_cpu("5000000", &milli, NULL), CL_ERANGE);
    assert_int_equal(place_parse_cpu(NULL, &milli, NULL), CL_EINVAL);
}

static void test_counts(void **state)
{
    (void)state;
    uint32_t n;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(place_parse_count("2", &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(place_parse_count("2.0", &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(place_parse_count("2000m", &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(place_parse_count("1.5", &n, &err), CL_EINVAL);
    assert_non_null(strstr(err.msg, "whole number"));
    assert_int_equal(place_parse_count("-1", &n, &err), CL_EINVAL);
}

static int parse(place_request *r, const place_kv *req, size_t nreq,
                 const place_kv *lim, size_t nlim, cl_errmsg *err)
{
    place_request_init(r);
    cl_errmsg_clear(err);
    return place_request_parse(r, req, nreq, lim, nlim, err);
}

static void test_request_parse(void **state)
{
    (void)state;
    place_request r;
    cl_errmsg err;
    const place_kv req[] = {{"cpu", "500m"}, {"memory", "1Gi"}};
    const place_kv lim[] = {{"cpu", "2"}, {"memory", "2Gi"},
                            {"nvidia.com/gpu", "2"}};
    assert_int_equal(parse(&r, req, 2, lim, 3, &err), 0);
    assert_int_equal(r.cpu_milli, 500);
    assert_int_equal(r.cpu_limit_milli, 2000);
    assert_false(r.cpu_default);
    assert_int_equal(r.memory, 1u << 30);
    assert_int_equal(r.memory_limit, 2u << 30);
    /* Extended resources: the request defaults to the limit. */
    assert_int_equal(r.gpus, 2);
    assert_int_equal(r.gpu_vendor, PLACE_VENDOR_NVIDIA);

    /* cpu and memory requests default to limits. */
    assert_int_equal(parse(&r, NULL, 0, lim, 2, &err), 0);
    assert_int_equal(r.cpu_milli, 2000);
    assert_int_equal(r.memory, 2u << 30);

    /* Nothing given: best effort. */
    assert_int_equal(parse(&r, NULL, 0, NULL, 0, &err), 0);
    assert_true(r.cpu_default);
    assert_int_equal(r.gpus, 0);

    const place_kv amd[] = {{"amd.com/gpu", "1"},
                            {"ephemeral-storage", "10Gi"},
                            {"hugepages-2Mi", "0"}};
    assert_int_equal(parse(&r, amd, 3, NULL, 0, &err), 0);
    assert_int_equal(r.gpus, 1);
    assert_int_equal(r.gpu_vendor, PLACE_VENDOR_AMD);
}

static void expect_error(const place_kv *req, size_t nreq,
                         const place_kv *lim, size_t nlim, int code,
                         const char *needle)
{
    place_request r;
    cl_errmsg err;
    place_request_init(&r);
    r.cpu_milli = 1234; /* must survive a refused parse */
    cl_errmsg_clear(&err);
    int rv = place_request_parse(&r, req, nreq, lim, nlim, &err);
    if (rv != code || strstr(err.msg, needle) == NULL)
        fail_msg("got %s '%s', want %s '%s'", cl_errname(rv), err.msg,
                 cl_errname(code), needle);
    assert_int_equal(r.cpu_milli, 1234);
}

static void test_request_errors(void **state)
{
    (void)state;
    expect_error((place_kv[]){{"memory", "12Qi"}}, 1, NULL, 0, CL_EINVAL,
                 "resources.requests.memory: '12Qi'");
    expect_error(NULL, 0, (place_kv[]){{"cpu", "lots"}}, 1, CL_EINVAL,
                 "resources.limits.cpu: 'lots'");
    expect_error((place_kv[]){{"nvidia.com/gpu", "0.5"}}, 1, NULL, 0,
                 CL_EINVAL, "resources.requests.nvidia.com/gpu");
    expect_error((place_kv[]){{"nvidia.com/gpu", "1"}}, 1,
                 (place_kv[]){{"nvidia.com/gpu", "2"}}, 1, CL_EINVAL,
                 "cannot be overcommitted");
    expect_error((place_kv[]){{"cpu", "4"}}, 1, (place_kv[]){{"cpu", "2"}}, 1,
                 CL_EINVAL, "resources.requests.cpu: more than its limit");
    expect_error((place_kv[]){{"nvidia.com/gpu", "1"}, {"amd.com/gpu", "1"}},
                 2, NULL, 0, CL_EINVAL, "both");
    expect_error((place_kv[]){{"example.com/fpga", "1"}}, 1, NULL, 0,
                 CL_EINVAL, "resources.requests.example.com/fpga: "
                            "unsupported resource");
    expect_error((place_kv[]){{"cpu", "1"}, {"cpu", "2"}}, 2, NULL, 0,
                 CL_EINVAL, "given twice");
    expect_error((place_kv[]){{"cpu", NULL}}, 1, NULL, 0, CL_EINVAL,
                 "resources.requests.cpu: no value");
    expect_error((place_kv[]){{"memory", "99999Ei"}}, 1, NULL, 0, CL_ERANGE,
                 "out of range");
}

static void test_selector(void **state)
{
    (void)state;
    const place_kv labels[] = {{"gpu", "t4"}, {"zone", "a"}};
    const place_kv s1[] = {{"gpu", "t4"}};
    const place_kv s2[] = {{"gpu", "t4"}, {"zone", "b"}};
    const place_kv s3[] = {{"zone", "a"}, {"gpu", "t4"}};
    assert_true(place_selector_match(s1, 1, labels, 2));
    assert_false(place_selector_match(s2, 2, labels, 2));
    assert_true(place_selector_match(s3, 2, labels, 2));
    assert_true(place_selector_match(NULL, 0, labels, 2));
    assert_false(place_selector_match(s1, 1, NULL, 0));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_cpu_quantities), T(test_memory_quantities),
        T(test_bad_quantities), T(test_counts),
        T(test_request_parse),  T(test_request_errors),
        T(test_selector),
    };
    return cmocka_run_group_tests_name("placement/request", tests, NULL, NULL);
}
