/* Unit tests for the base pieces of common/: errors, time, buffers, rng,
 * hashing and the fault heap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/cl_buf.h"
#include "common/cl_err.h"
#include "common/cl_fs.h"
#include "common/cl_hash.h"
#include "common/cl_heap.h"
#include "common/cl_rng.h"
#include "common/cl_time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static void test_err_table(void **state)
{
    (void)state;
    assert_string_equal(cl_errname(CL_ENOENT), "CL_ENOENT");
    assert_string_equal(cl_strerror(CL_ENOSPC), "no space left on device");
    assert_string_equal(cl_strerror(9999), "unknown error");
    assert_int_equal(cl_err_from_errno(ENOSPC), CL_ENOSPC);
    assert_int_equal(cl_err_from_errno(0), CL_OK);
    assert_int_equal(cl_err_from_uv(UV_ENOENT), CL_ENOENT);
    assert_int_equal(cl_err_from_uv(UV_EOF), CL_ECLOSED);
    assert_int_equal(cl_err_from_uv(0), CL_OK);
}

static void test_errmsg_wrap(void **state)
{
    (void)state;
    cl_errmsg m;
    cl_errmsg_clear(&m);
    cl_errmsg_set(&m, "line %d col %d: expected a mapping", 12, 5);
    cl_errmsg_wrap(&m, "template '%s'", "train");
    cl_errmsg_wrap(&m, "submit");
    assert_string_equal(m.msg, "submit: template 'train': line 12 col 5: "
                               "expected a mapping");
    cl_errmsg_clear(&m);
    cl_errmsg_wrap(&m, "alone");
    assert_string_equal(m.msg, "alone");
    cl_errmsg_set(NULL, "ignored"); /* must not crash */
}

static void test_time_roundtrip(void **state)
{
    (void)state;
    char buf[40];
    int64_t t = 1795000000123LL;
    cl_time_format(t, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-18T11:06:40.123Z");
    int64_t back = 0;
    assert_int_equal(cl_time_parse(buf, &back), 0);
    assert_int_equal(back, t);
    cl_time_format_s(t, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-18T11:06:40Z");
    assert_int_equal(cl_time_parse(buf, &back), 0);
    assert_int_equal(back, t - 123);
    assert_int_equal(cl_time_parse("yesterday", &back), CL_EINVAL);
}

static void test_duration(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(cl_duration_parse("30", &ms), 0);
    assert_int_equal(ms, 30000);
    assert_int_equal(cl_duration_parse("1h30m", &ms), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(cl_duration_parse("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(cl_duration_parse("1.5s", &ms), 0);
    assert_int_equal(ms, 1500);
    assert_int_equal(cl_duration_parse("10x", &ms), CL_EINVAL);
    assert_int_equal(cl_duration_parse("", &ms), CL_EINVAL);
    char buf[32];
    assert_string_equal(cl_duration_format(65000, buf, sizeof(buf)), "1m 5s");
    assert_string_equal(cl_duration_format(999, buf, sizeof(buf)), "0s");
    assert_string_equal(cl_duration_format(7380000, buf, sizeof(buf)),
                        "2h 3m");
}

static void test_buf(void **state)
{
    (void)state;
    cl_buf b = CL_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        cl_buf_printf(&b, "%d,", i);
    assert_true(cl_buf_ok(&b));
    assert_int_equal(strncmp(b.data, "0,1,2,", 6), 0);
    size_t len;
    char *s = cl_buf_steal(&b, &len);
    assert_non_null(s);
    assert_int_equal(strlen(s), len);
    assert_null(b.data);
    cl_free(s);

    /* An allocation failure is sticky and reported once. */
    cl_heap_fault_enable(0, -1);
    cl_buf_puts(&b, "x");
    cl_buf_puts(&b, "y");
    cl_heap_fault_disable();
    assert_false(cl_buf_ok(&b));
    assert_null(cl_buf_steal(&b, NULL));
}

static void test_rng_deterministic(void **state)
{
    (void)state;
    cl_rng a, b;
    cl_rng_seed(&a, 42);
    cl_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++)
        assert_int_equal(cl_rng_next(&a), cl_rng_next(&b));
    int counts[10] = {0};
    for (int i = 0; i < 100000; i++)
        counts[cl_rng_below(&a, 10)]++;
    for (int i = 0; i < 10; i++) {
        assert_in_range(counts[i], 9000, 11000);
    }
    double d = cl_rng_double(&a);
    assert_true(d >= 0.0 && d < 1.0);
}

static void test_digest(void **state)
{
    (void)state;
    assert_int_equal(cl_crypto_init(), 0);
    uint8_t d1[CL_DIGEST_SIZE], d2[CL_DIGEST_SIZE];
    cl_digest("abc", 3, d1);
    cl_digest_state st;
    cl_digest_init(&st);
    cl_digest_update(&st, "a", 1);
    cl_digest_update(&st, "bc", 2);
    cl_digest_final(&st, d2);
    assert_memory_equal(d1, d2, CL_DIGEST_SIZE);
    char hex[CL_DIGEST_HEX_SIZE];
    cl_hex(d1, CL_DIGEST_SIZE, hex);
    /* BLAKE2b-256("abc"), RFC 7693 test vector family. */
    assert_string_equal(hex, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e42"
                             "7262c8c068d52319");
    uint8_t back[CL_DIGEST_SIZE];
    assert_int_equal(cl_unhex(hex, back, CL_DIGEST_SIZE), 0);
    assert_memory_equal(back, d1, CL_DIGEST_SIZE);
    assert_int_equal(cl_unhex("zz", back, 1), CL_EINVAL);
    assert_true(cl_hash64_str("a") != cl_hash64_str("b"));
    assert_int_equal(cl_hash64_str("node-1"), cl_hash64_str("node-1"));
}

static void test_fs(void **state)
{
    (void)state;
    char dir[] = "/tmp/cl-fs-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char deep[256], file[300];
    snprintf(deep, sizeof(deep), "%s/a/b/c", dir);
    assert_int_equal(cl_mkdir_p(deep), 0);
    assert_int_equal(cl_mkdir_p(deep), 0); /* exists: fine */
    snprintf(file, sizeof(file), "%s/f", deep);
    assert_int_equal(cl_write_file(file, "hello", 5, 0600, true), 0);
    char *data;
    size_t len;
    assert_int_equal(cl_read_file(file, 100, &data, &len), 0);
    assert_int_equal(len, 5);
    assert_string_equal(data, "hello");
    cl_free(data);
    assert_int_equal(cl_read_file(file, 4, &data, &len), CL_ETOOBIG);
    assert_int_equal(cl_read_file(deep, 100, &data, &len), CL_EINVAL);
    char missing[300];
    snprintf(missing, sizeof(missing), "%s/none", dir);
    assert_int_equal(cl_read_file(missing, 100, &data, &len), CL_ENOENT);
    /* A file where a directory should be. */
    snprintf(missing, sizeof(missing), "%s/f/x", deep);
    assert_int_not_equal(cl_mkdir_p(missing), 0);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_table),
        cmocka_unit_test(test_errmsg_wrap),
        cmocka_unit_test(test_time_roundtrip),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_rng_deterministic),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_fs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
