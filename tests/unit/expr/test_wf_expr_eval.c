/* Unit tests for wf_expr_eval.c: operators, member access, closures,
 * absence (CL_ENOENT), limits, out-of-memory paths and the Argo example
 * workflows whose expressions are read from tests/data/argo-examples. */
#include "expr_test.h"

#include <libfyaml.h>

/* ---- literals and operators ---- */

static void test_literals(void **state)
{
    (void)state;
    assert_expr(NULL, "42", "42");
    assert_expr(NULL, "-7", "-7");
    assert_expr(NULL, "1_000_000", "1000000");
    assert_expr(NULL, "0x1F", "31");
    assert_expr(NULL, "0o17", "15");
    assert_expr(NULL, "0b101", "5");
    assert_expr(NULL, "3.25", "3.25");
    assert_expr(NULL, "1e3", "1000");
    assert_expr(NULL, ".5", "0.5");
    assert_expr(NULL, "'single'", "single");
    assert_expr(NULL, "\"double\"", "double");
    assert_expr(NULL, "`raw \\n`", "raw \\n");
    assert_expr(NULL, "'a\\tb\\n'", "a\tb\n");
    assert_expr(NULL, "'\\x41\\u00e9\\101'", "A\xc3\xa9" "A");
    assert_expr(NULL, "\"it's\"", "it's");
    assert_expr(NULL, "'say \\'hi\\''", "say 'hi'");
    assert_expr(NULL, "true", "true");
    assert_expr(NULL, "false", "false");
    assert_expr(NULL, "nil", "null");
    assert_expr(NULL, "[1, 'a', true, nil, [2]]", "[1,\"a\",true,null,[2]]");
    assert_expr(NULL, "[1, 2,]", "[1,2]");
    assert_expr(NULL, "{b: 1, 'a-b': 2, \"c\": [3], 4: 'four'}",
                "{\"4\":\"four\",\"a-b\":2,\"b\":1,\"c\":[3]}");
    assert_expr(NULL, "{('x' + 'y'): 1}", "{\"xy\":1}");
    assert_expr(NULL, "{}", "{}");
    assert_expr(NULL, "[]", "[]");
    assert_expr(NULL, "1 /* comment */ + // to end of line\n 2", "3");
}

static void test_arithmetic(void **state)
{
    (void)state;
    assert_expr(NULL, "1 + 2 * 3", "7");
    assert_expr(NULL, "(1 + 2) * 3", "9");
    assert_expr(NULL, "10 - 4 - 3", "3");
    assert_expr(NULL, "7 / 2", "3.5");
    assert_expr(NULL, "6 / 3", "2"); /* a float that renders whole */
    assert_expr(NULL, "type(6 / 3)", "float");
    assert_expr(NULL, "7 % 3", "1");
    assert_expr(NULL, "-7 % 3", "-1");
    assert_expr(NULL, "2 ** 10", "1024");
    assert_expr(NULL, "type(2 ** 2)", "float");
    assert_expr(NULL, "2 ^ 3 ^ 2", "512"); /* right associative */
    assert_expr(NULL, "-2 ** 2", "-4");
    assert_expr(NULL, "1.5 + 1", "2.5");
    assert_expr(NULL, "0.1 + 0.2", "0.30000000000000004");
    assert_expr(NULL, "9223372036854775807 + 1", "-9223372036854775808");
    assert_expr(NULL, "+5", "5");
    assert_expr(NULL, "--5", "5");
    assert_expr(NULL, "'a' + 'b' + 'c'", "abc");
    assert_expr_err(NULL, "1 % 0", CL_EEXPR, "divide by zero");
    assert_expr_err(NULL, "1 / 0", CL_EEXPR, "division by zero");
    assert_expr_err(NULL, "1.5 % 1", CL_EEXPR, "%");
    assert_expr_err(NULL, "'a' + 1", CL_EEXPR,
                    "mismatched types string and int");
    assert_expr_err(NULL, "'a' * 2", CL_EEXPR, "*");
    assert_expr_err(NULL, "-'a'", CL_EEXPR, "-");
    assert_expr_err(NULL, "10.0 ** 400", CL_EEXPR, "finite");
}

static void test_comparison_logic(void **state)
{
    (void)state;
    assert_expr(NULL, "1 == 1.0", "true");
    assert_expr(NULL, "1 != 2", "true");
    assert_expr(NULL, "'a' == 'a'", "true");
    assert_expr(NULL, "1 == '1'", "false");
    assert_expr(NULL, "nil == nil", "true");
    assert_expr(NULL, "[1, {a: 2}] == [1.0, {a: 2}]", "true");
    assert_expr(NULL, "{a: 1} == {a: 2}", "false");
    assert_expr(NULL, "1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 3", "true");
    assert_expr(NULL, "'abc' < 'abd'", "true");
    assert_expr(NULL, "'b' > 'abc'", "true");
    assert_expr(NULL, "1.5 < 2", "true");
    assert_expr_err(NULL, "1 < 'a'", CL_EEXPR, "<");
    assert_expr_err(NULL, "nil > 1", CL_EEXPR, ">");
    assert_expr(NULL, "true && false || true", "true");
    assert_expr(NULL, "true and not false", "true");
    assert_expr(NULL, "false or !true", "false");
    assert_expr(NULL, "!(1 == 2)", "true");
    assert_expr(NULL, "not true == false", "true");
    /* short-circuit: the right side is never evaluated */
    assert_expr(NULL, "false && missing.value", "false");
    assert_expr(NULL, "true || 1 / 0 > 1", "true");
    assert_expr_err(NULL, "1 && true", CL_EEXPR, "&&");
    assert_expr(NULL, "true || 'x'", "true");
    assert_expr_err(NULL, "false || 'x'", CL_EEXPR, "||");
    assert_expr_err(NULL, "!1", CL_EEXPR, "!");
}

static void test_membership_strings(void **state)
{
    (void)state;
    assert_expr(NULL, "2 in [1, 2, 3]", "true");
    assert_expr(NULL, "2.0 in [1, 2]", "true");
    assert_expr(NULL, "'a' in {a: 1}", "true");
    assert_expr(NULL, "'b' in {a: 1}", "false");
    assert_expr(NULL, "4 not in [1, 2]", "true");
    assert_expr(NULL, "1 in nil", "false");
    assert_expr_err(NULL, "1 in 'abc'", CL_EEXPR, "in");
    assert_expr(NULL, "'foobar' contains 'oba'", "true");
    assert_expr(NULL, "'foobar' startsWith 'foo'", "true");
    assert_expr(NULL, "'foobar' endsWith 'bar'", "true");
    assert_expr(NULL, "'foobar' not contains 'x'", "true");
    assert_expr(NULL, "'foobar' not startsWith 'bar'", "true");
    assert_expr(NULL, "'foobar' not endsWith 'foo'", "true");
    assert_expr(NULL, "'' contains ''", "true");
    assert_expr(NULL, "'pod deleted' matches 'imminent|pod del'", "true");
    assert_expr(NULL, "'abc' matches '^b'", "false");
    assert_expr(NULL, "'abc' not matches '^b'", "true");
    assert_expr(NULL, "'h\xc3\xa9llo' matches '^h.llo$'", "true");
    assert_expr_err(NULL, "'a' matches '('", CL_EEXPR, "regular expression");
    assert_expr_err(NULL, "1 matches 'a'", CL_EEXPR, "matches");
    assert_expr_err(NULL, "1 contains 'a'", CL_EEXPR, "contains");
}

static void test_ranges_conditionals(void **state)
{
    (void)state;
    assert_expr(NULL, "1..4", "[1,2,3,4]");
    assert_expr(NULL, "3..1", "[]");
    assert_expr(NULL, "len(0..999)", "1000");
    assert_expr_err(NULL, "0..100000000", CL_EEXPR, "range");
    assert_expr_err(NULL, "1..2.5", CL_EEXPR, "..");
    assert_expr(NULL, "1 < 2 ? 'yes' : 'no'", "yes");
    assert_expr(NULL, "1 > 2 ? 'yes' : 1 > 0 ? 'nested' : 'no'", "nested");
    assert_expr(NULL, "true ?: false", "true");
    assert_expr_err(NULL, "1 ? 2 : 3", CL_EEXPR, "?:");
    /* only the chosen branch is evaluated */
    assert_expr(NULL, "true ? 1 : missing", "1");
    assert_expr(NULL, "nil ?? 5", "5");
    assert_expr(NULL, "3 ?? 5", "3");
    assert_expr(NULL, "missing ?? 'fallback'", "fallback");
    assert_expr(NULL, "let x = 2; let y = x * 3; x + y", "8");
    assert_expr(NULL, "let x = 1; [x, let x = 2; x, x]", "[1,2,1]");
}

static const char *ENV =
    "{\"inputs\": {\"parameters\": {\"my-p\": \"v\", \"n\": \"41\"}},"
    " \"steps\": {\"flip-coin\": {\"outputs\": {\"result\": \"heads\"}},"
    "            \"skipped\": {\"outputs\": {\"result\": null}}},"
    " \"items\": [10, 20, 30, 40],"
    " \"users\": [{\"name\": \"ann\", \"age\": 30},"
    "            {\"name\": \"bob\", \"age\": 17},"
    "            {\"name\": \"cid\", \"age\": 52}],"
    " \"word\": \"h\xc3\xa9llo\"}";

static void test_member_access(void **state)
{
    (void)state;
    assert_expr(ENV, "inputs.parameters['my-p']", "v");
    assert_expr(ENV, "inputs[\"parameters\"].n", "41");
    assert_expr(ENV, "steps['flip-coin'].outputs.result", "heads");
    assert_expr(ENV, "items[0]", "10");
    assert_expr(ENV, "items[-1]", "40");
    assert_expr(ENV, "items[1.0]", "20");
    assert_expr(ENV, "items[1:3]", "[20,30]");
    assert_expr(ENV, "items[:2]", "[10,20]");
    assert_expr(ENV, "items[2:]", "[30,40]");
    assert_expr(ENV, "items[-2:]", "[30,40]");
    assert_expr(ENV, "items[3:1]", "[]");
    assert_expr(ENV, "items[:100]", "[10,20,30,40]");
    assert_expr(ENV, "items[:]", "[10,20,30,40]");
    assert_expr(ENV, "word[1]", "\xc3\xa9");
    assert_expr(ENV, "word[1:3]", "\xc3\xa9l");
    assert_expr(ENV, "'abc'[-1]", "c");
    assert_expr(ENV, "users[1].name", "bob");
    assert_expr(ENV, "{a: {b: [1, {c: 'deep'}]}}.a.b[1].c", "deep");
    assert_expr(ENV, "steps.skipped.outputs.result", "null");
    assert_expr(ENV, "steps.skipped.outputs.result ?? 'default'", "default");
    assert_expr_err(ENV, "items[4]", CL_EEXPR, "index out of range");
    assert_expr_err(ENV, "items[-5]", CL_EEXPR, "index out of range");
    assert_expr_err(ENV, "items['a']", CL_EEXPR, "[]");
    assert_expr_err(ENV, "inputs[1]", CL_EEXPR, "[]");
    assert_expr_err(ENV, "steps.skipped.outputs.result.x", CL_EEXPR,
                    "from nil");
    assert_expr_err(ENV, "(1).x", CL_EEXPR, "[]");
}

static void test_absent(void **state)
{
    (void)state;
    /* Absent names and keys are CL_ENOENT so the engine can retry. */
    assert_expr_err(ENV, "nope", CL_ENOENT, "unknown name nope");
    assert_expr_err(ENV, "steps.tails.outputs.result", CL_ENOENT,
                    "no key 'tails' in steps");
    assert_expr_err(ENV, "steps['flip-coin'].outputs.exitCode", CL_ENOENT,
                    "no key 'exitCode' in steps.flip-coin.outputs");
    assert_expr_err(ENV, "inputs.parameters.x == 'a'", CL_ENOENT, NULL);
    assert_expr_err(ENV, "1 + nope", CL_ENOENT, "col 5");
    assert_expr_err(NULL, "x", CL_ENOENT, NULL);
    /* ... and ?. / ?? turn absence into nil or a fallback */
    assert_expr(ENV, "steps?.tails", "null");
    assert_expr(ENV, "steps.tails?.outputs.result", "null");
    assert_expr(ENV, "steps.tails?.outputs?.result", "null");
    assert_expr(ENV, "steps.tails?.['outputs']", "null");
    assert_expr(ENV, "steps.skipped.outputs.result?.x", "null");
    assert_expr(ENV, "nil?.a.b.c", "null");
    assert_expr(ENV, "steps.tails.outputs.result ?? 'none'", "none");
    assert_expr(ENV, "inputs.parameters.x ?? inputs.parameters.n", "41");
    /* other errors are not swallowed by ?? */
    assert_expr_err(ENV, "(1 / 0) ?? 2", CL_EEXPR, NULL);
}

static void test_closures(void **state)
{
    (void)state;
    assert_expr(ENV, "filter(items, # > 15)", "[20,30,40]");
    assert_expr(ENV, "filter(items, {# > 15})", "[20,30,40]");
    assert_expr(ENV, "map(items, # / 10)", "[1,2,3,4]");
    assert_expr(ENV, "map(items, #index)", "[0,1,2,3]");
    assert_expr(ENV, "map(users, .name)", "[\"ann\",\"bob\",\"cid\"]");
    assert_expr(ENV, "filter(users, .age >= 18) | map(.name)",
                "[\"ann\",\"cid\"]");
    assert_expr(ENV, "all(items, # > 5)", "true");
    assert_expr(ENV, "all(items, # > 15)", "false");
    assert_expr(ENV, "any(items, # == 30)", "true");
    assert_expr(ENV, "none(items, # > 100)", "true");
    assert_expr(ENV, "one(items, # > 35)", "true");
    assert_expr(ENV, "one(items, # > 15)", "false");
    assert_expr(ENV, "count(items, # > 15)", "3");
    assert_expr(ENV, "count([true, false, true])", "2");
    assert_expr(ENV, "sum(items)", "100");
    assert_expr(ENV, "sum([1, 2.5])", "3.5");
    assert_expr(ENV, "sum(users, .age)", "99");
    assert_expr(ENV, "find(users, .age < 18).name", "bob");
    assert_expr(ENV, "find(items, # > 100)", "null");
    assert_expr(ENV, "findIndex(items, # == 30)", "2");
    assert_expr(ENV, "findLast(items, # < 35)", "30");
    assert_expr(ENV, "findLastIndex(items, # > 100)", "-1");
    assert_expr(ENV, "groupBy(items, # > 25)",
                "{\"false\":[10,20],\"true\":[30,40]}");
    assert_expr(ENV, "sortBy(users, .age) | map(.name)",
                "[\"bob\",\"ann\",\"cid\"]");
    assert_expr(ENV, "map(sortBy(users, .name, 'desc'), .name)",
                "[\"cid\",\"bob\",\"ann\"]");
    assert_expr(ENV, "reduce(items, #acc + #)", "100");
    assert_expr(ENV, "reduce(items, #acc + #, 5)", "105");
    assert_expr(ENV, "reduce([], #acc + #)", "null");
    assert_expr(ENV, "map([[1, 2], [3]], map(#, # * 10))", "[[10,20],[30]]");
    assert_expr(ENV, "filter([], # > 1)", "[]");
    assert_expr(ENV, "map(items, {toJson({v: #})})[0]", "{\"v\":10}");
    assert_expr(ENV, "items | filter(# > 25) | map(# * 2)", "[60,80]");
    assert_expr_err(ENV, "filter(items, # + 1)", CL_EEXPR,
                    "predicate should return boolean");
    assert_expr_err(ENV, "map(42, #)", CL_EEXPR, "cannot iterate over int");
    assert_expr_err(ENV, "sortBy([1, 'a'], #)", CL_EEXPR, "one type");
    assert_expr_err(ENV, "count(items)", CL_EEXPR, "booleans");
    assert_expr_err(ENV, "sum(['a'])", CL_EEXPR, "numbers");
    assert_expr_err(ENV, "map(items, missing)", CL_ENOENT, NULL);
}

static void test_parse_errors(void **state)
{
    (void)state;
    assert_expr_err(NULL, "", CL_EEXPR, "empty");
    assert_expr_err(NULL, "   ", CL_EEXPR, "empty");
    assert_expr_err(NULL, "1 +", CL_EEXPR, "col 4: unexpected end");
    assert_expr_err(NULL, "(1", CL_EEXPR, "expected ')'");
    assert_expr_err(NULL, "1 2", CL_EEXPR, "col 3: unexpected token");
    assert_expr_err(NULL, "'abc", CL_EEXPR, "unterminated");
    assert_expr_err(NULL, "'\\q'", CL_EEXPR, "escape");
    assert_expr_err(NULL, "# > 1", CL_EEXPR, "closure");
    assert_expr_err(NULL, "nosuchfn(1)", CL_EEXPR, "unknown function");
    assert_expr_err(NULL, "sprig.nosuch(1)", CL_EEXPR,
                    "unknown sprig function");
    assert_expr_err(NULL, "a.b(1)", CL_EEXPR, "unknown method");
    assert_expr_err(NULL, "len(1, 2)", CL_EEXPR, "wrong number");
    assert_expr_err(NULL, "filter([1])", CL_EEXPR, "wrong number");
    assert_expr_err(NULL, "[1, 2", CL_EEXPR, NULL);
    assert_expr_err(NULL, "{a 1}", CL_EEXPR, NULL);
    assert_expr_err(NULL, "99999999999999999999", CL_EEXPR, "range");
    assert_expr_err(NULL, "1 @ 2", CL_EEXPR, "unexpected character");
    assert_expr_err(NULL, "1 | 2", CL_EEXPR, "call after '|'");
    assert_expr_err(NULL, "#foo", CL_EEXPR, NULL);
    assert_expr_err(NULL, "/* open", CL_EEXPR, "comment");
}

static void test_eval_bool(void **state)
{
    (void)state;
    json_t *env = expr_env(ENV);
    bool b = false;
    cl_errmsg err;
    assert_int_equal(wf_expr_eval_bool("items[0] == 10", env, &b, &err), 0);
    assert_true(b);
    assert_int_equal(wf_expr_eval_bool("'true'", env, &b, &err), CL_EEXPR);
    assert_non_null(strstr(err.msg, "expected a boolean"));
    assert_int_equal(wf_expr_eval_bool("nope", env, &b, &err), CL_ENOENT);
    json_t *out = (json_t *)1;
    assert_int_equal(wf_expr_eval(NULL, env, &out, NULL), CL_EINVAL);
    assert_null(out);
    /* a NULL err sink is allowed */
    assert_int_equal(wf_expr_eval("1 +", env, &out, NULL), CL_EEXPR);
    /* an env that is not an object has no names */
    json_t *arr = json_array();
    assert_int_equal(wf_expr_eval("x", arr, &out, &err), CL_ENOENT);
    assert_int_equal(wf_expr_eval("1", NULL, &out, &err), 0);
    json_decref(out);
    json_decref(arr);
    json_decref(env);
}

static void test_env_untouched(void **state)
{
    (void)state;
    json_t *env = expr_env(ENV);
    char *before = json_dumps(env, JSON_SORT_KEYS);
    const char *exprs[] = {
        "sort(items, 'desc')",
        "sortBy(users, .age)",
        "sprig.set(users[0], 'name', 'zed')",
        "sprig.unset(users[0], 'name')",
        "reverse(items)",
        "sprig.append(items, 1)",
    };
    for (size_t i = 0; i < sizeof(exprs) / sizeof(*exprs); i++) {
        json_t *out;
        assert_int_equal(wf_expr_eval(exprs[i], env, &out, NULL), 0);
        json_decref(out);
    }
    char *after = json_dumps(env, JSON_SORT_KEYS);
    assert_string_equal(before, after);
    cl_free(before);
    cl_free(after);
    json_decref(env);
}

/* ---- limits ---- */

static char *repeat_str(const char *unit, size_t times, const char *tail)
{
    size_t ul = strlen(unit), tl = strlen(tail);
    char *s = cl_malloc(ul * times + tl + 1);
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * ul, unit, ul);
    memcpy(s + ul * times, tail, tl + 1);
    return s;
}

static void test_limits(void **state)
{
    (void)state;
    json_t *out;
    cl_errmsg err;
    /* deep nesting is refused, not a stack overflow */
    char *deep = repeat_str("(", 100000, "1");
    assert_int_equal(wf_expr_eval(deep, NULL, &out, &err), CL_EEXPR);
    assert_non_null(strstr(err.msg, "nested too deeply"));
    cl_free(deep);
    deep = repeat_str("-", 100000, "1");
    assert_int_equal(wf_expr_eval(deep, NULL, &out, &err), CL_EEXPR);
    cl_free(deep);
    deep = repeat_str("[", 5000, "");
    assert_int_equal(wf_expr_eval(deep, NULL, &out, &err), CL_EEXPR);
    cl_free(deep);
    /* long left-deep chains are refused at evaluation */
    deep = repeat_str("1+", 20000, "1");
    assert_int_equal(wf_expr_eval(deep, NULL, &out, &err), CL_EEXPR);
    cl_free(deep);
    deep = repeat_str("[0]", 20000, "");
    char *wrapped = cl_malloc(strlen(deep) + 4);
    sprintf(wrapped, "[1]%s", deep);
    assert_int_equal(wf_expr_eval(wrapped, NULL, &out, &err), CL_EEXPR);
    cl_free(deep);
    cl_free(wrapped);
    /* a moderate chain is fine */
    deep = repeat_str("1+", 300, "1");
    assert_int_equal(wf_expr_eval(deep, NULL, &out, &err), 0);
    assert_int_equal(json_integer_value(out), 301);
    json_decref(out);
    cl_free(deep);
    /* closure work and sizes are bounded */
    assert_int_equal(
        wf_expr_eval("map(0..999999, map(0..999999, #))", NULL, &out, &err),
        CL_EEXPR);
    assert_int_equal(wf_expr_eval("repeat('x', 1 << 40)", NULL, &out, &err),
                     CL_EEXPR);
    assert_int_equal(
        wf_expr_eval("repeat(repeat('ab', 1000000), 100)", NULL, &out, &err),
        CL_EEXPR);
    assert_int_equal(wf_expr_eval("sprig.repeat(100000000, 'x')", NULL, &out,
                                  &err),
                     CL_EEXPR);
    /* maps are capped (groupBy of many distinct keys) */
    assert_int_equal(wf_expr_eval("groupBy(0..200000, #)", NULL, &out, &err),
                     CL_EEXPR);
    assert_non_null(strstr(err.msg, "map exceeds"));
    /* #acc cannot nest a value without bound */
    assert_int_equal(wf_expr_eval("reduce(0..5000, [#acc], 0)", NULL, &out,
                                  &err),
                     CL_EEXPR);
    assert_non_null(strstr(err.msg, "nested deeper"));
    assert_int_equal(wf_expr_eval("len(reduce(0..100, [#acc], 0))", NULL,
                                  &out, &err),
                     0);
    json_decref(out);
    /* string concatenation doubling hits the size or work limit */
    assert_int_equal(
        wf_expr_eval("reduce(0..40, #acc + #acc, 'xy')", NULL, &out, &err),
        CL_EEXPR);
}

/* ---- out of memory ---- */

static void test_oom(void **state)
{
    (void)state;
    const char *src =
        "map(filter(users, .age > 18), {toJson({n: upper(.name), "
        "a: sprig.add(.age, 1), s: split('a,b', ',')})}) | join('-') + "
        "string(sort(keys({x: 1, y: 2}))) + string(word matches '^h') + "
        "jsonpath(toJson(users), '$[?(@.age > 20)].name')[0]";
    json_t *env = expr_env(ENV);
    json_t *out;
    cl_errmsg err;
    assert_int_equal(wf_expr_eval(src, env, &out, &err), 0);
    char *want = wf_expr_render(out);
    json_decref(out);
    int ok = 0, oom = 0;
    for (int delay = 0; delay < 5000; delay++) {
        /* Under the fault heap nothing is counted: everything made in this
         * window is also freed in it, and ASan builds check for leaks. */
        cl_heap_fault_enable(delay, 1);
        int rv = wf_expr_eval(src, env, &out, &err);
        cl_heap_fault_disable();
        if (rv == 0) {
            char *got = wf_expr_render(out);
            assert_non_null(got);
            assert_string_equal(got, want);
            free(got);
            json_decref(out);
            ok++;
        } else {
            assert_int_equal(rv, CL_ENOMEM);
            assert_null(out);
            oom++;
        }
        cl_heap_set(&expr_test_heap);
        if (ok > 20)
            break; /* well past the last allocation */
    }
    assert_true(oom > 50);
    /* every allocation failing */
    cl_heap_fault_enable(0, -1);
    int rv = wf_expr_eval(src, env, &out, &err);
    cl_heap_fault_disable();
    cl_heap_set(&expr_test_heap);
    assert_non_null(strstr(err.msg, "out of memory"));
    assert_int_equal(rv, CL_ENOMEM);
    cl_free(want);
    json_decref(env);
}

/* ---- the Argo examples ---- */

struct yaml {
    struct fy_document *doc;
};

static struct yaml yaml_open(const char *name)
{
    const char *dir = getenv("COULER_TESTDATA");
    char path[1024];
    snprintf(path, sizeof(path), "%s/argo-examples/%s",
             dir ? dir : "tests/data", name);
    struct yaml y = {fy_document_build_from_file(NULL, path)};
    if (y.doc == NULL)
        fail_msg("cannot read %s", path);
    return y;
}

/* The scalar at path (a cl_malloc'd copy). */
static char *yaml_get(struct yaml y, const char *path)
{
    struct fy_node *n = fy_node_by_path(fy_document_root(y.doc), path,
                                        (size_t)-1, FYNWF_DONT_FOLLOW);
    size_t len = 0;
    const char *s = n ? fy_node_get_scalar(n, &len) : NULL;
    if (s == NULL)
        fail_msg("no scalar at %s", path);
    return cl_strndup(s, len);
}

/* A stand-in for the engine's substitution: replaces each {{=expr}} with
 * its rendered value and each {{name}} with vars[name]. */
static char *render_tags(const char *text, json_t *env, const char **vars)
{
    size_t len = strlen(text);
    char *o = cl_malloc(len * 4 + 1024);
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (strncmp(text + i, "{{", 2) != 0) {
            o[n++] = text[i++];
            continue;
        }
        const char *end = strstr(text + i, "}}");
        assert_non_null(end);
        size_t inner = (size_t)(end - (text + i + 2));
        char *tag = cl_strndup(text + i + 2, inner);
        if (tag[0] == '=') {
            json_t *v;
            cl_errmsg err;
            int rv = wf_expr_eval(tag + 1, env, &v, &err);
            if (rv != 0)
                fail_msg("%s: %s", tag, err.msg);
            char *r = wf_expr_render(v);
            json_decref(v);
            memcpy(o + n, r, strlen(r));
            n += strlen(r);
            cl_free(r);
        } else {
            const char *val = NULL;
            for (size_t k = 0; vars && vars[k]; k += 2)
                if (strcmp(vars[k], tag) == 0)
                    val = vars[k + 1];
            if (val == NULL)
                fail_msg("no value for {{%s}}", tag);
            memcpy(o + n, val, strlen(val));
            n += strlen(val);
        }
        cl_free(tag);
        i = (size_t)(end - text) + 2;
    }
    o[n] = '\0';
    return o;
}

static void test_example_destructure_json(void **state)
{
    (void)state;
    struct yaml y = yaml_open("expression-destructure-json-complex.yaml");
    char *config = yaml_get(y, "/spec/arguments/parameters/0/value");
    json_t *env = json_pack("{s:{s:{s:s}}}", "workflow", "parameters",
                            "config", config);
    char out[1024] = "";
    for (int i = 0; i < 4; i++) {
        char path[128];
        snprintf(path, sizeof(path),
                 "/spec/templates/0/inputs/parameters/%d/value", i);
        char *tag = yaml_get(y, path);
        char *r = render_tags(tag, env, NULL);
        strcat(out, r);
        cl_free(r);
        cl_free(tag);
    }
    assert_string_equal(out, "[43][43][{\"age\":43,\"name\":\"Baris\"}]"
                             "[\"Baris\",\"Mo\",\"Jai\"]");
    json_decref(env);
    cl_free(config);
    fy_document_destroy(y.doc);
}

static void test_example_reusing_verbose_snippets(void **state)
{
    (void)state;
    struct yaml y = yaml_open("expression-reusing-verbose-snippets.yaml");
    char *weather = yaml_get(y, "/spec/arguments/parameters/0/value");
    char *snippet =
        yaml_get(y, "/spec/templates/0/inputs/parameters/0/value");
    json_t *env = json_pack("{s:{s:{s:s}}}", "workflow", "parameters",
                            "weather", weather);
    char *temps = render_tags(snippet, env, NULL);
    assert_string_equal(temps, "{\"avg\":35.8,\"max\":57,\"min\":15}");
    json_t *env2 = json_pack("{s:{s:{s:s}}}", "inputs", "parameters",
                             "week-temps", temps);
    char *vals[3];
    for (int i = 0; i < 3; i++) {
        char path[128];
        snprintf(path, sizeof(path),
                 "/spec/templates/0/script/env/%d/value", i);
        char *tag = yaml_get(y, path);
        vals[i] = render_tags(tag, env2, NULL);
        cl_free(tag);
    }
    char *source = yaml_get(y, "/spec/templates/0/script/source");
    /* the script echoes $AVG, $MIN and $MAX */
    char line[256];
    snprintf(line, sizeof(line),
             "The week's average temperature was %s with a minimum of %s "
             "and a maximum of %s.",
             vals[0], vals[1], vals[2]);
    assert_string_equal(line, "The week's average temperature was 35.8 with "
                              "a minimum of 15 and a maximum of 57.");
    assert_non_null(strstr(source, "$AVG with a minimum of $MIN"));
    for (int i = 0; i < 3; i++)
        cl_free(vals[i]);
    cl_free(source);
    cl_free(temps);
    cl_free(snippet);
    cl_free(weather);
    json_decref(env);
    json_decref(env2);
    fy_document_destroy(y.doc);
}

static void test_example_conditionals(void **state)
{
    (void)state;
    struct yaml y = yaml_open("conditionals.yaml");
    const char *values[] = {"true", "false"};
    for (int k = 0; k < 2; k++) {
        const char *vars[] = {"inputs.parameters.should-print", values[k],
                              NULL};
        char wfjson[128];
        snprintf(wfjson, sizeof(wfjson),
                 "[{\"name\":\"should-print\",\"value\":\"%s\"}]", values[k]);
        json_t *env = json_pack("{s:{s:{s:s}}, s:{s:{s:s}}}", "inputs",
                                "parameters", "should-print", values[k],
                                "workflow", "parameters", "json", wfjson);
        for (int i = 0; i < 3; i++) {
            char path[128];
            snprintf(path, sizeof(path), "/spec/templates/0/steps/0/%d/when",
                     i);
            char *when = yaml_get(y, path);
            /* tags first, then govaluate over the text (ARGO.md B8) */
            char *text = render_tags(when, env, vars);
            bool b = !k;
            cl_errmsg err;
            assert_int_equal(wf_expr_gov_bool(text, &b, &err), 0);
            assert_int_equal(b, k == 0);
            cl_free(text);
            cl_free(when);
        }
        json_decref(env);
    }
    fy_document_destroy(y.doc);
}

static void test_example_retry_conditional(void **state)
{
    (void)state;
    struct yaml y = yaml_open("retry-conditional.yaml");
    char *expr = yaml_get(y, "/spec/templates/2/retryStrategy/expression");
    struct {
        const char *safe, *code, *status, *duration, *message;
        bool want;
    } cases[] = {
        {"true", "2", "Failed", "10", "", true},
        {"true", "1", "Failed", "10", "", false},
        {"true", "2", "Error", "10", "", false},
        {"true", "2", "Failed", "120", "", false},
        {"false", "2", "Failed", "10", "pod deleted", true},
        {"false", "2", "Failed", "10", "oom killed", false},
        {"false", "-1", "Failed", "0", "imminent node shutdown", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        const char *vars[] = {"inputs.parameters.safe-to-retry",
                              cases[i].safe, NULL};
        char *text = render_tags(expr, NULL, vars);
        json_t *env = json_pack("{s:{s:s,s:s,s:s,s:s}}", "lastRetry",
                                "exitCode", cases[i].code, "status",
                                cases[i].status, "duration", cases[i].duration,
                                "message", cases[i].message);
        bool b;
        cl_errmsg err;
        int rv = wf_expr_eval_bool(text, env, &b, &err);
        if (rv != 0)
            fail_msg("case %zu: %s", i, err.msg);
        if (b != cases[i].want)
            fail_msg("case %zu: got %d", i, b);
        json_decref(env);
        cl_free(text);
    }
    cl_free(expr);
    fy_document_destroy(y.doc);
}

static void test_example_tag_template(void **state)
{
    (void)state;
    struct yaml y = yaml_open("expression-tag-template-workflow.yaml");
    char *with = yaml_get(y, "/spec/templates/0/dag/tasks/0/withParam");
    char *items = render_tags(with, NULL, NULL);
    assert_string_equal(items, "[3]");
    json_t *list = json_loads(items, 0, NULL);
    json_t *item_env = json_pack("{s:O}", "item", json_array_get(list, 0));
    char *arg =
        yaml_get(y, "/spec/templates/0/dag/tasks/0/arguments/parameters/0/"
                    "value");
    char *foo = render_tags(arg, item_env, NULL);
    assert_string_equal(foo, "3");
    char *args = yaml_get(y, "/spec/templates/1/container/args/1");
    json_t *env = json_pack("{s:{s:{s:s}}, s:{s:s}}", "inputs", "parameters",
                            "foo", foo, "workflow", "creationTimestamp",
                            "2025-11-03T08:09:10Z");
    char *text = render_tags(args, env, NULL);
    assert_string_equal(text, "hello 30 @ 2025\n");
    cl_free(text);
    cl_free(args);
    cl_free(foo);
    cl_free(arg);
    cl_free(items);
    cl_free(with);
    json_decref(list);
    json_decref(item_env);
    json_decref(env);
    fy_document_destroy(y.doc);
}

static void test_example_conditional_outputs(void **state)
{
    (void)state;
    struct yaml p = yaml_open("conditional-parameters.yaml");
    struct yaml a = yaml_open("conditional-artifacts.yaml");
    char *pexpr =
        yaml_get(p, "/spec/templates/0/outputs/parameters/0/valueFrom/"
                    "expression");
    char *aexpr = yaml_get(
        a, "/spec/templates/0/outputs/artifacts/0/fromExpression");
    /* tails was skipped: its outputs are absent, and only the chosen
     * branch is evaluated */
    const char *heads =
        "{\"steps\": {\"flip-coin\": {\"outputs\": {\"result\": \"heads\"}},"
        " \"heads\": {\"outputs\": {\"result\": \"heads\","
        "   \"artifacts\": {\"result\": {\"name\": \"result\", \"key\": "
        "\"h\"}}}}}}";
    const char *tails =
        "{\"steps\": {\"flip-coin\": {\"outputs\": {\"result\": \"tails\"}},"
        " \"tails\": {\"outputs\": {\"result\": \"tails\","
        "   \"artifacts\": {\"result\": {\"name\": \"result\", \"key\": "
        "\"t\"}}}}}}";
    assert_expr(heads, pexpr, "heads");
    assert_expr(tails, pexpr, "tails");
    assert_expr(heads, aexpr, "{\"key\":\"h\",\"name\":\"result\"}");
    assert_expr(tails, aexpr, "{\"key\":\"t\",\"name\":\"result\"}");
    /* before flip-coin finished the expression waits */
    assert_expr_err("{\"steps\": {}}", pexpr, CL_ENOENT, "flip-coin");
    cl_free(pexpr);
    cl_free(aexpr);
    fy_document_destroy(p.doc);
    fy_document_destroy(a.doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        EXPR_TEST(test_literals),
        EXPR_TEST(test_arithmetic),
        EXPR_TEST(test_comparison_logic),
        EXPR_TEST(test_membership_strings),
        EXPR_TEST(test_ranges_conditionals),
        EXPR_TEST(test_member_access),
        EXPR_TEST(test_absent),
        EXPR_TEST(test_closures),
        EXPR_TEST(test_parse_errors),
        EXPR_TEST(test_eval_bool),
        EXPR_TEST(test_env_untouched),
        EXPR_TEST(test_limits),
        EXPR_TEST(test_oom),
        EXPR_TEST(test_example_destructure_json),
        EXPR_TEST(test_example_reusing_verbose_snippets),
        EXPR_TEST(test_example_conditionals),
        EXPR_TEST(test_example_retry_conditional),
        EXPR_TEST(test_example_tag_template),
        EXPR_TEST(test_example_conditional_outputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
