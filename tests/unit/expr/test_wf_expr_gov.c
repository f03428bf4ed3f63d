/* Unit tests for wf_expr_gov.c: govaluate as Argo's `when` uses it. */
#include "expr_test.h"

static void gov_check(const char *file, int line, const char *src,
                      const char *want)
{
    json_t *out = NULL;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = wf_expr_gov(src, &out, &err);
    if (rv != 0) {
        print_error("%s: %s %s\n", src, cl_errname(rv), err.msg);
        _fail(file, line);
    }
    char *got = wf_expr_render(out);
    json_decref(out);
    if (strcmp(got, want) != 0) {
        print_error("%s\n  got  '%s'\n  want '%s'\n", src, got, want);
        cl_free(got);
        _fail(file, line);
    }
    cl_free(got);
}

static void gov_check_err(const char *file, int line, const char *src,
                          const char *frag)
{
    json_t *out = NULL;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = wf_expr_gov(src, &out, &err);
    if (rv != CL_EEXPR || out != NULL || strstr(err.msg, frag) == NULL) {
        print_error("%s\n  got %s '%s'\n  want CL_EEXPR '%s'\n", src,
                    cl_errname(rv), err.msg, frag);
        json_decref(out);
        _fail(file, line);
    }
}

#define assert_gov(src, want) gov_check(__FILE__, __LINE__, src, want)
#define assert_gov_err(src, frag) gov_check_err(__FILE__, __LINE__, src, frag)

static void test_bare_words(void **state)
{
    (void)state;
    /* every bare word is a string literal (ARGO.md B8) */
    assert_gov("heads == heads", "true");
    assert_gov("tails == heads", "false");
    assert_gov("tails != heads", "true");
    assert_gov("Succeeded == Succeeded", "true");
    assert_gov("Failed == Succeeded", "false");
    assert_gov("even == even", "true");
    assert_gov("heads == 'heads'", "true");
    assert_gov("heads == \"heads\"", "true");
    assert_gov("[with space] == 'with space'", "true");
    assert_gov("snake_case == snake_case", "true");
    assert_gov("x1 == x1", "true");
    /* words with '.' are accessors, which have no parameters here */
    assert_gov_err("a.b == a.b", "No parameter 'a' found.");
    assert_gov_err("v1. == x", "Hanging accessor");
    /* values with spaces or '-' break the parse, as in govaluate */
    assert_gov_err("hello world == hello world", "Invalid 'when' expression");
    assert_gov_err("my-value == my-value", "cannot be used with the modifier");
}

static void test_numbers_and_types(void **state)
{
    (void)state;
    assert_gov("1 < 10", "true");
    assert_gov("10 < 10", "false");
    assert_gov("10 <= 10", "true");
    assert_gov("5 > 3", "true");
    assert_gov("3 >= 5", "false");
    assert_gov("1.5 == 1.50", "true");
    assert_gov("0x10 == 16", "true");
    assert_gov("-3 < -2", "true");
    assert_gov("2 + 3 * 4", "14");
    assert_gov("(2 + 3) * 4", "20");
    assert_gov("7 / 2", "3.5");
    assert_gov("7 % 4", "3");
    assert_gov("2 ** 3", "8");
    assert_gov("10 - 2 - 3", "5");
    assert_gov("5 & 3", "1");
    assert_gov("5 | 3", "7");
    assert_gov("5 ^ 3", "6");
    assert_gov("1 << 4", "16");
    assert_gov("-16 >> 2", "-4");
    assert_gov("~0", "-1");
    assert_gov("1 / 0 > 5", "true"); /* float division gives +Inf */
    /* typed comparison: a number never equals a string */
    assert_gov("1 == '1'", "false");
    assert_gov("'1' == '1'", "true");
    assert_gov("true == true", "true");
    assert_gov("true == 'true'", "false");
    /* strings compare by bytes */
    assert_gov("'abc' < 'abd'", "true");
    assert_gov("b > a", "true");
    assert_gov("'2024-01-02' > '2024-01-01'", "true");
    assert_gov_err("5 > abc", "cannot be used with the comparator '>'");
    assert_gov_err("true < 1", "comparator");
    /* + concatenates when either side is a string */
    assert_gov("a + b", "ab");
    assert_gov("'n' + 1", "n1");
    assert_gov("1 + 'n'", "1n");
    assert_gov("'x' + 1.5", "x1.5");
    assert_gov("'x' + true", "xtrue");
    assert_gov_err("true + 1", "modifier '+'");
    assert_gov_err("a - b", "modifier '-'");
    assert_gov_err("-a", "prefix '-'");
}

static void test_logic_and_ternary(void **state)
{
    (void)state;
    assert_gov("true && false", "false");
    assert_gov("true || false", "true");
    assert_gov("!false", "true");
    assert_gov("!(1 == 2) && 2 > 1", "true");
    assert_gov("1 == 1 && heads == heads || x == y", "true");
    assert_gov("false && false || true", "true");
    assert_gov("true || false && false", "true");
    /* short-circuit: the right side is not type checked */
    assert_gov("false && 'x'", "false");
    assert_gov("true || 'x'", "true");
    assert_gov_err("true && 'x'", "logical operator '&&'");
    assert_gov_err("1 || true", "logical operator '||'");
    assert_gov_err("!1", "prefix '!'");
    assert_gov("true ? yes : no", "yes");
    assert_gov("false ? yes : no", "no");
    assert_gov("1 > 2 ? a : 2 > 1 ? b : c", "b");
    assert_gov("false ? 1", "null");
    assert_gov("x ?? y", "x");
    assert_gov_err("1 ? a : b", "ternary operator");
}

static void test_regex_and_in(void **state)
{
    (void)state;
    assert_gov("'pod deleted' =~ 'pod|node'", "true");
    assert_gov("heads =~ '^h'", "true");
    assert_gov("heads !~ '^h'", "false");
    assert_gov("tails !~ '^h'", "true");
    assert_gov_err("1 =~ 'a'", "comparator '=~'");
    assert_gov_err("a =~ '('", "regular expression");
    assert_gov("a IN (a, b, c)", "true");
    assert_gov("d in (a, b, c)", "false");
    assert_gov("2 IN (1, 2)", "true");
    assert_gov("'2' IN (1, 2)", "false");
    assert_gov("1, 2", "[1,2]");
    assert_gov_err("a IN (a)", "not an array");
}

static void test_syntax_errors(void **state)
{
    (void)state;
    assert_gov_err("", "Empty expression");
    assert_gov_err("(1 == 1", "Unbalanced parenthesis");
    assert_gov_err("1 == 1)", "Unbalanced parenthesis");
    assert_gov_err("1 ==", "Unexpected end of expression");
    assert_gov_err("== 1", "Unexpected operator");
    assert_gov_err("'open", "Unclosed string");
    assert_gov_err("1 === 1", "Invalid token: '==='");
    assert_gov_err("1 @ 1", "Invalid token");
    assert_gov_err("1.2.3 == 1", "Unable to parse numeric value");
    assert_gov_err("()", "Empty parentheses");
    /* the message names the expression, as Argo's does */
    json_t *out;
    cl_errmsg err;
    assert_int_equal(wf_expr_gov("foo bar", &out, &err), CL_EEXPR);
    assert_string_equal(err.msg, "Invalid 'when' expression 'foo bar': "
                                 "Unexpected token after expression");
    assert_int_equal(wf_expr_gov(NULL, &out, &err), CL_EINVAL);
}

static void test_gov_bool(void **state)
{
    (void)state;
    bool b = false;
    cl_errmsg err;
    assert_int_equal(wf_expr_gov_bool("true", &b, &err), 0);
    assert_true(b);
    assert_int_equal(wf_expr_gov_bool("heads == tails", &b, &err), 0);
    assert_false(b);
    /* recursive-for-loop: "{{...result}} < {{inputs.parameters.limit}}" */
    assert_int_equal(wf_expr_gov_bool("3 < 10", &b, &err), 0);
    assert_true(b);
    assert_int_equal(wf_expr_gov_bool("heads", &b, &err), CL_EEXPR);
    assert_string_equal(err.msg,
                        "Expected boolean evaluation for 'heads'. Got heads");
    assert_int_equal(wf_expr_gov_bool("1 +", &b, &err), CL_EEXPR);
}

static void test_limits(void **state)
{
    (void)state;
    size_t n = 200000;
    char *s = cl_malloc(2 * n + 2);
    memset(s, '(', n);
    s[n] = '1';
    memset(s + n + 1, ')', n);
    s[2 * n + 1] = '\0';
    json_t *out;
    cl_errmsg err;
    assert_int_equal(wf_expr_gov(s, &out, &err), CL_EEXPR);
    assert_non_null(strstr(err.msg, "nested too deeply"));
    memset(s, '!', n);
    s[n] = '\0';
    assert_int_equal(wf_expr_gov(s, &out, &err), CL_EEXPR);
    /* a long flat expression is fine */
    size_t k = 0;
    for (int i = 0; i < 2000; i++)
        k += (size_t)sprintf(s + k, "%s1", i ? " + " : "");
    assert_int_equal(wf_expr_gov(s, &out, &err), 0);
    assert_int_equal(json_integer_value(out), 2000);
    json_decref(out);
    cl_free(s);
}

static void test_oom(void **state)
{
    (void)state;
    const char *src = "(heads == heads && 'a b' + c != x) ? "
                      "(a IN (a, b, 'c' + d)) : y =~ '^y'";
    int ok = 0, oom = 0;
    for (int delay = 0; delay < 1000 && ok < 10; delay++) {
        json_t *out = NULL;
        cl_errmsg err;
        cl_heap_fault_enable(delay, 1);
        int rv = wf_expr_gov(src, &out, &err);
        cl_heap_fault_disable();
        if (rv == 0) {
            assert_true(json_is_true(out));
            json_decref(out);
            ok++;
        } else {
            assert_int_equal(rv, CL_ENOMEM);
            assert_null(out);
            oom++;
        }
        cl_heap_set(&expr_test_heap);
    }
    assert_true(oom > 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        EXPR_TEST(test_bare_words),
        EXPR_TEST(test_numbers_and_types),
        EXPR_TEST(test_logic_and_ternary),
        EXPR_TEST(test_regex_and_in),
        EXPR_TEST(test_syntax_errors),
        EXPR_TEST(test_gov_bool),
        EXPR_TEST(test_limits),
        EXPR_TEST(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
