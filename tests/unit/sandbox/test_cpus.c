/* Unit tests for agent/sandbox/cpus.c: CPU list parsing and formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "agent/sandbox/sandbox.h"

static void assert_roundtrip(const char *in, const char *canon)
{
    struct agent_sb_cpus s;
    char buf[256];
    assert_int_equal(agent_sb_cpus_parse(in, &s), 0);
    assert_int_equal(agent_sb_cpus_format(&s, buf, sizeof(buf)), 0);
    assert_string_equal(buf, canon);
}

static void test_parse_format(void **state)
{
    (void)state;
    assert_roundtrip("0-3,8", "0-3,8");
    assert_roundtrip("5", "5");
    assert_roundtrip("", "");
    assert_roundtrip("  \n", "");
    assert_roundtrip("0-3\n", "0-3"); /* as read from cpuset.cpus */
    assert_roundtrip("3,1,2,0", "0-3");
    assert_roundtrip("0,2,4,6", "0,2,4,6");
    assert_roundtrip("7-7", "7");
    assert_roundtrip("0-1,1-2,10-11,12", "0-2,10-12");
    assert_roundtrip("4095", "4095");
    assert_roundtrip("4094-4095,0", "0,4094-4095");
}

static void test_parse_members(void **state)
{
    (void)state;
    struct agent_sb_cpus s;
    assert_int_equal(agent_sb_cpus_parse("0-3,8", &s), 0);
    assert_int_equal(agent_sb_cpus_count(&s), 5);
    assert_true(agent_sb_cpus_isset(&s, 0));
    assert_true(agent_sb_cpus_isset(&s, 3));
    assert_false(agent_sb_cpus_isset(&s, 4));
    assert_true(agent_sb_cpus_isset(&s, 8));
    assert_false(agent_sb_cpus_isset(&s, 9));
    assert_false(agent_sb_cpus_isset(&s, 100000));
    assert_false(agent_sb_cpus_empty(&s));
    assert_int_equal(agent_sb_cpus_parse("", &s), 0);
    assert_true(agent_sb_cpus_empty(&s));
    assert_int_equal(agent_sb_cpus_parse("0-4095", &s), 0);
    assert_int_equal(agent_sb_cpus_count(&s), 4096);
}

static void test_parse_errors(void **state)
{
    (void)state;
    struct agent_sb_cpus s;
    agent_sb_cpus_zero(&s);
    agent_sb_cpus_set(&s, 42);
    static const char *const bad[] = {"3-1", "a",    "1,",  ",1",    "1-", "-1",
                                      "1 2", "1,,2", "0x3", "1-2-3", "1;2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rv = agent_sb_cpus_parse(bad[i], &s);
        if (rv != CL_EINVAL)
            fail_msg("'%s' gave %d, want CL_EINVAL", bad[i], rv);
    }
    assert_int_equal(agent_sb_cpus_parse("4096", &s), CL_ERANGE);
    assert_int_equal(agent_sb_cpus_parse("0-99999999999999999999", &s),
                     CL_ERANGE);
    assert_int_equal(agent_sb_cpus_parse(NULL, &s), CL_EINVAL);
    /* Failed parses leave the output alone. */
    assert_int_equal(agent_sb_cpus_count(&s), 1);
    assert_true(agent_sb_cpus_isset(&s, 42));
}

static void test_set_ops(void **state)
{
    (void)state;
    struct agent_sb_cpus want, have, use, lack;
    assert_int_equal(agent_sb_cpus_parse("0-3,64-71", &want), 0);
    assert_int_equal(agent_sb_cpus_parse("0-7", &have), 0);
    agent_sb_cpus_and(&use, &want, &have);
    agent_sb_cpus_andnot(&lack, &want, &have);
    char b1[64], b2[64];
    agent_sb_cpus_format(&use, b1, sizeof(b1));
    agent_sb_cpus_format(&lack, b2, sizeof(b2));
    assert_string_equal(b1, "0-3");
    assert_string_equal(b2, "64-71");
    /* Aliasing output and input is allowed. */
    agent_sb_cpus_and(&want, &want, &have);
    agent_sb_cpus_format(&want, b1, sizeof(b1));
    assert_string_equal(b1, "0-3");
    agent_sb_cpus_set(&want, AGENT_SB_MAX_CPUS); /* ignored */
    assert_int_equal(agent_sb_cpus_count(&want), 4);
}

static void test_format_small_buffer(void **state)
{
    (void)state;
    struct agent_sb_cpus s;
    assert_int_equal(agent_sb_cpus_parse("0-3,8,10-12", &s), 0);
    char buf[8];
    memset(buf, 'x', sizeof(buf));
    assert_int_equal(agent_sb_cpus_format(&s, buf, sizeof(buf)), CL_ETOOBIG);
    assert_int_equal(strlen(buf), sizeof(buf) - 1);
    assert_memory_equal(buf, "0-3,8,1", 7);
    char exact[12]; /* "0-3,8,10-12" is 11 chars */
    assert_int_equal(agent_sb_cpus_format(&s, exact, sizeof(exact)), 0);
    assert_string_equal(exact, "0-3,8,10-12");
    assert_int_equal(agent_sb_cpus_format(&s, exact, 0), CL_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_format),
        cmocka_unit_test(test_parse_members),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_set_ops),
        cmocka_unit_test(test_format_small_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
