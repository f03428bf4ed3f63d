/* expr_test.h - fixture shared by the expression tests.
 *
 * Every test runs on a counting heap that also carries jansson's and
 * PCRE2's allocations, and ends by checking that nothing is left
 * allocated. Helpers evaluate an expression against an environment given as
 * JSON text and compare the rendered result, printing both on mismatch.
 */
#ifndef COULER_TEST_EXPR_TEST_H
#define COULER_TEST_EXPR_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/cl_err.h"
#include "common/cl_heap.h"
#include "workflow/expr/wf_expr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((unused)) static long expr_test_live;

static inline void *count_malloc(void *d, size_t n)
{
    (void)d;
    void *p = malloc(n);
    if (p)
        expr_test_live++;
    return p;
}

static inline void *count_realloc(void *d, void *p, size_t n)
{
    (void)d;
    void *q = realloc(p, n);
    if (q && p == NULL)
        expr_test_live++;
    return q;
}

static inline void count_free(void *d, void *p)
{
    (void)d;
    if (p) {
        expr_test_live--;
        free(p);
    }
}

__attribute__((unused)) static const struct cl_heap expr_test_heap = {NULL, count_malloc,
                                              count_realloc, count_free};

static inline void *json_via_cl_malloc(size_t n)
{
    return cl_malloc(n);
}

/* setup/teardown for cmocka_unit_test_setup_teardown */
static inline int expr_setup(void **state)
{
    (void)state;
    json_set_alloc_funcs(json_via_cl_malloc, cl_free);
    cl_heap_set(&expr_test_heap);
    expr_test_live = 0;
    return 0;
}

static inline int expr_teardown(void **state)
{
    (void)state;
    cl_heap_set(NULL);
    if (expr_test_live != 0) {
        fprintf(stderr, "leak: %ld allocations still live\n", expr_test_live);
        return -1;
    }
    return 0;
}

#define EXPR_TEST(f) cmocka_unit_test_setup_teardown(f, expr_setup, expr_teardown)

static inline json_t *expr_env(const char *text)
{
    json_error_t je;
    json_t *env = json_loads(text ? text : "{}", JSON_DECODE_ANY, &je);
    if (env == NULL)
        fail_msg("bad test env: %s", je.text);
    return env;
}

/* Evaluate with wf_expr_eval and compare the rendered value. */
static inline void expr_check(const char *file, int line, const char *envtext,
                       const char *src, const char *want)
{
    json_t *env = expr_env(envtext);
    json_t *out = NULL;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = wf_expr_eval(src, env, &out, &err);
    if (rv != 0) {
        json_decref(env);
        print_error("%s: error %s: %s\n", src, cl_errname(rv), err.msg);
        _fail(file, line);
    }
    char *got = wf_expr_render(out);
    json_decref(out);
    json_decref(env);
    if (got == NULL || strcmp(got, want) != 0) {
        print_error("%s\n  got  '%s'\n  want '%s'\n", src,
                       got ? got : "(null)", want);
        cl_free(got);
        _fail(file, line);
    }
    cl_free(got);
}

/* Expect failure code and, when frag is not NULL, frag in the message. */
static inline void expr_check_err(const char *file, int line, const char *envtext,
                           const char *src, int code, const char *frag)
{
    json_t *env = expr_env(envtext);
    json_t *out = NULL;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = wf_expr_eval(src, env, &out, &err);
    json_decref(env);
    if (rv != code || out != NULL ||
        (frag != NULL && strstr(err.msg, frag) == NULL)) {
        char *got = out ? wf_expr_render(out) : NULL;
        print_error("%s\n  got %s '%s' (value %s)\n  want %s '%s'\n", src,
                       cl_errname(rv), err.msg, got ? got : "none",
                       cl_errname(code), frag ? frag : "");
        cl_free(got);
        json_decref(out);
        _fail(file, line);
    }
}

#define assert_expr(env, src, want) expr_check(__FILE__, __LINE__, env, src, want)
#define assert_expr_err(env, src, code, frag)                                 \
    expr_check_err(__FILE__, __LINE__, env, src, code, frag)

#endif
