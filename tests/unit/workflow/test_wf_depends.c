/* test_wf_depends.c - the `depends` language (wf_depends.c): parsing,
 * errors, evaluation, and long chains without deep recursion. */
#include "workflow/wf_int.h"

#include "common/cl_heap.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char *names[] = {"a", "b-c", "d_e", "f"};

static int lookup(void *ud, const char *name, size_t len, uint32_t *task)
{
    (void)ud;
    for (uint32_t i = 0; i < 4; i++)
        if (strlen(names[i]) == len && !memcmp(names[i], name, len)) {
            *task = i;
            return 0;
        }
    return CL_ENOENT;
}

/* phases by task: a Succeeded, b-c Failed, d_e Skipped, f Omitted */
static bool value(void *ud, uint32_t task, enum wf__dep_res res)
{
    (void)ud;
    static const enum wf__dep_res is[] = {WF__RES_SUCCEEDED, WF__RES_FAILED,
                                          WF__RES_SKIPPED, WF__RES_OMITTED};
    if (res == WF__RES_BARE)
        return is[task] == WF__RES_SUCCEEDED || is[task] == WF__RES_SKIPPED;
    return is[task] == res;
}

static int eval(const char *src, bool *out, cl_errmsg *em)
{
    wf__arena a;
    wf__arena_init(&a);
    wf__dep *d = NULL;
    int rv = wf__dep_parse(&a, src, lookup, NULL, &d, em);
    if (rv == 0)
        *out = wf__dep_eval(d, value, NULL);
    wf__arena_free(&a);
    return rv;
}

static void expect(const char *src, bool want)
{
    bool got = !want;
    cl_errmsg em;
    cl_errmsg_clear(&em);
    int rv = eval(src, &got, &em);
    if (rv != 0)
        fprintf(stderr, "%s: %s\n", src, em.msg);
    assert_int_equal(rv, 0);
    if (got != want)
        fprintf(stderr, "%s: got %d\n", src, got);
    assert_true(got == want);
}

static void test_eval(void **state)
{
    (void)state;
    expect("a", true);
    expect("a.Succeeded", true);
    expect("b-c", false);
    expect("b-c.Failed", true);
    expect("d_e", true); /* bare: Skipped counts */
    expect("d_e.Skipped && a", true);
    expect("f.Omitted", true);
    expect("f", false);
    expect("!a", false);
    expect("!(a && b-c)", true);
    expect("a && b-c || d_e", true);
    expect("a && (b-c || f)", false);
    expect("b-c.Errored || b-c.Failed", true);
    expect("  a.Succeeded&&b-c.Failed ", true);
    expect("a.AnySucceeded", false); /* not a loop */
}

static void test_errors(void **state)
{
    (void)state;
    bool b;
    cl_errmsg em;
    cl_errmsg_clear(&em);
    assert_int_equal(eval("zz", &b, &em), CL_EINVAL);
    assert_string_equal(em.msg, "depends on unknown task 'zz'");
    assert_int_equal(eval("a.Done", &b, &em), CL_EINVAL);
    assert_non_null(strstr(em.msg, "expected Succeeded"));
    assert_int_equal(eval("a &&", &b, &em), CL_EINVAL);
    assert_int_equal(eval("(a", &b, &em), CL_EINVAL);
    assert_non_null(strstr(em.msg, "expected ')'"));
    assert_int_equal(eval("a b", &b, &em), CL_EINVAL);
    assert_non_null(strstr(em.msg, "unexpected text"));
    /* nesting is capped, not a stack overflow */
    char deep[400];
    memset(deep, '(', 200);
    strcpy(deep + 200, "a");
    assert_int_equal(eval(deep, &b, &em), CL_EINVAL);
    assert_non_null(strstr(em.msg, "nested too deeply"));
}

/* 100,000 operands in one && chain: one n-ary node, no recursion. */
static void test_long_chain(void **state)
{
    (void)state;
    cl_buf b = CL_BUF_INIT;
    for (int i = 0; i < 100000; i++)
        cl_buf_puts(&b, i ? " && a" : "a");
    assert_true(cl_buf_ok(&b));
    bool r = false;
    cl_errmsg em;
    assert_int_equal(eval(b.data, &r, &em), 0);
    assert_true(r);
    wf__arena a;
    wf__arena_init(&a);
    wf__dep *d = NULL;
    assert_int_equal(wf__dep_parse(&a, b.data, lookup, NULL, &d, &em), 0);
    assert_int_equal(d->op, WF__DEP_AND);
    assert_int_equal(d->nkids, 100000);
    uint32_t deps[4];
    uint32_t nd = 0;
    uint8_t seen[4] = {0};
    wf__dep_collect(d, deps, &nd, seen);
    assert_int_equal(nd, 1);
    wf__arena_free(&a);
    cl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_long_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
