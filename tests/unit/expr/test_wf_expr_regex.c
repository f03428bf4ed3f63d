/* Unit tests for wf_expr_regex.c: the PCRE2 wrapper. */
#include "expr_test.h"

#include "workflow/expr/wf_expr_int.h"

static bool matches(const char *pat, const char *s)
{
    bool r = false;
    cl_errmsg err;
    int rv = wf_expr__re_match(pat, strlen(pat), s, strlen(s), &r, &err);
    if (rv != 0)
        fail_msg("%s: %s", pat, err.msg);
    return r;
}

static void test_match(void **state)
{
    (void)state;
    assert_true(matches("imminent node shutdown|pod deleted", "pod deleted"));
    assert_false(matches("^abc$", "xabc"));
    assert_true(matches("\\d{3}-\\d{2}", "tel 555-12"));
    assert_true(matches("(?i)HELLO", "hello"));
    assert_true(matches("^h.llo$", "h\xc3\xa9llo")); /* . is one rune */
    assert_true(matches("[[:alpha:]]+", "abc"));
    assert_true(matches("", "anything"));
    /* an invalid UTF-8 subject does not match */
    assert_false(matches("a", "\xff" "a"));
}

static void test_exec_groups(void **state)
{
    (void)state;
    wf_expr__re *re;
    cl_errmsg err;
    assert_int_equal(wf_expr__re_compile("(a)(x)?(b)", 10, &re, &err), 0);
    size_t ov[8];
    bool found;
    const char *s = "zzab";
    assert_int_equal(wf_expr__re_exec(re, s, 4, 0, &found, ov, 4, &err), 0);
    assert_true(found);
    assert_int_equal(ov[0], 2);
    assert_int_equal(ov[1], 4);
    assert_int_equal(ov[2], 2);
    assert_int_equal(ov[4], SIZE_MAX); /* unset group */
    assert_int_equal(ov[6], 3);
    assert_int_equal(wf_expr__re_exec(re, s, 4, 3, &found, ov, 1, &err), 0);
    assert_false(found);
    assert_int_equal(wf_expr__re_exec(re, s, 4, 9, &found, ov, 1, &err), 0);
    assert_false(found);
    wf_expr__re_free(re);
    wf_expr__re_free(NULL);
}

static void test_errors(void **state)
{
    (void)state;
    wf_expr__re *re = NULL;
    cl_errmsg err;
    assert_int_equal(wf_expr__re_compile("a(b", 3, &re, &err), CL_EEXPR);
    assert_null(re);
    assert_non_null(strstr(err.msg, "invalid regular expression at offset"));
    assert_int_equal(wf_expr__re_compile("\xff", 1, &re, &err), CL_EEXPR);
    bool r;
    const char *evil = "^(a|aa)+$";
    char subject[64];
    memset(subject, 'a', 50);
    subject[50] = 'b';
    subject[51] = '\0';
    assert_int_equal(wf_expr__re_match(evil, strlen(evil), subject, 51, &r,
                                       &err),
                     CL_EEXPR);
    assert_non_null(strstr(err.msg, "match limit"));
}

static void test_oom(void **state)
{
    (void)state;
    int ok = 0, oom = 0;
    for (int delay = 0; delay < 50 && ok < 3; delay++) {
        bool r = false;
        cl_errmsg err;
        cl_heap_fault_enable(delay, 1);
        int rv = wf_expr__re_match("(\\w+)@(\\w+)\\.com", 16, "me@x.com", 8,
                                   &r, &err);
        cl_heap_fault_disable();
        cl_heap_set(&expr_test_heap);
        if (rv == 0) {
            assert_true(r);
            ok++;
        } else {
            assert_int_equal(rv, CL_ENOMEM);
            oom++;
        }
    }
    assert_true(oom >= 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        EXPR_TEST(test_match),
        EXPR_TEST(test_exec_groups),
        EXPR_TEST(test_errors),
        EXPR_TEST(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
