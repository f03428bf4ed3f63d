/* Unit tests for wf_expr_builtin.c: each expr-lang builtin and the Argo
 * additions, with their type errors. */
#include "expr_test.h"

static void test_len_and_numbers(void **state)
{
    (void)state;
    assert_expr(NULL, "len('abc')", "3");
    assert_expr(NULL, "len('h\xc3\xa9')", "2");
    assert_expr(NULL, "len([1, 2])", "2");
    assert_expr(NULL, "len({a: 1})", "1");
    assert_expr_err(NULL, "len(1)", CL_EEXPR, "len: argument 1");
    assert_expr(NULL, "abs(-3)", "3");
    assert_expr(NULL, "abs(-2.5)", "2.5");
    assert_expr(NULL, "type(abs(-3))", "int");
    assert_expr_err(NULL, "abs('x')", CL_EEXPR, "number");
    assert_expr(NULL, "ceil(1.2)", "2");
    assert_expr(NULL, "type(ceil(1))", "float");
    assert_expr(NULL, "floor(-1.2)", "-2");
    assert_expr(NULL, "round(2.5)", "3");
    assert_expr(NULL, "round(-2.5)", "-3");
    assert_expr_err(NULL, "round('1')", CL_EEXPR, "number");
    assert_expr(NULL, "max(1, 5, 3)", "5");
    assert_expr(NULL, "max(1, 5.5)", "5.5");
    assert_expr(NULL, "min([4, 2, 8])", "2");
    assert_expr(NULL, "min(3, 1.5, 2)", "1.5");
    assert_expr_err(NULL, "max([])", CL_EEXPR, "empty");
    assert_expr_err(NULL, "max(1, 'a')", CL_EEXPR, "number");
    assert_expr(NULL, "mean([1, 2, 3, 4])", "2.5");
    assert_expr(NULL, "mean([])", "0");
    assert_expr(NULL, "median([5, 1, 3])", "3");
    assert_expr(NULL, "median([4, 1, 3, 2])", "2.5");
    assert_expr_err(NULL, "mean(['a'])", CL_EEXPR, "not a number");
}

static void test_conversions(void **state)
{
    (void)state;
    assert_expr(NULL, "int('42')", "42");
    assert_expr(NULL, "int('-7')", "-7");
    assert_expr(NULL, "int(3.99)", "3");
    assert_expr(NULL, "int(-3.99)", "-3");
    assert_expr(NULL, "int(5)", "5");
    assert_expr_err(NULL, "int('3.5')", CL_EEXPR, "int(\"3.5\")");
    assert_expr_err(NULL, "int(' 1')", CL_EEXPR, "int");
    assert_expr_err(NULL, "int('')", CL_EEXPR, "int");
    assert_expr_err(NULL, "int(true)", CL_EEXPR, "number or string");
    assert_expr_err(NULL, "int(1e300)", CL_EEXPR, "out of the int range");
    assert_expr(NULL, "asInt('10') * 10", "100");
    assert_expr(NULL, "float('1.5')", "1.5");
    assert_expr(NULL, "float(2)", "2");
    assert_expr(NULL, "type(float(2))", "float");
    assert_expr(NULL, "asFloat('2.25') * 2", "4.5");
    assert_expr(NULL, "float('1e3')", "1000");
    assert_expr_err(NULL, "float('abc')", CL_EEXPR, "float(\"abc\")");
    assert_expr(NULL, "string(42)", "42");
    assert_expr(NULL, "string(1.5)", "1.5");
    assert_expr(NULL, "string(1e6 * 1.0)", "1e+06");
    assert_expr(NULL, "string(true)", "true");
    assert_expr(NULL, "string(nil)", "<nil>");
    assert_expr(NULL, "string([1, 'a', [2]])", "[1 a [2]]");
    assert_expr(NULL, "string({b: 1, a: 'x'})", "map[a:x b:1]");
    assert_expr(NULL, "type(1)", "int");
    assert_expr(NULL, "type(1.0)", "float");
    assert_expr(NULL, "type('')", "string");
    assert_expr(NULL, "type(true)", "bool");
    assert_expr(NULL, "type(nil)", "nil");
    assert_expr(NULL, "type([])", "array");
    assert_expr(NULL, "type({})", "map");
}

static void test_strings(void **state)
{
    (void)state;
    assert_expr(NULL, "upper('abc-d')", "ABC-D");
    assert_expr(NULL, "lower('ABC')", "abc");
    assert_expr(NULL, "trim('  x y \\n')", "x y");
    assert_expr(NULL, "trim('--x--', '-')", "x");
    assert_expr(NULL, "trimPrefix('v1.2', 'v')", "1.2");
    assert_expr(NULL, "trimPrefix('v1.2', 'x')", "v1.2");
    assert_expr(NULL, "trimSuffix('a.txt', '.txt')", "a");
    assert_expr(NULL, "hasPrefix('abc', 'ab')", "true");
    assert_expr(NULL, "hasSuffix('abc', 'ab')", "false");
    assert_expr(NULL, "split('a,b,,c', ',')", "[\"a\",\"b\",\"\",\"c\"]");
    assert_expr(NULL, "split('a,b,c', ',', 2)", "[\"a\",\"b,c\"]");
    assert_expr(NULL, "split('abc', '')", "[\"a\",\"b\",\"c\"]");
    assert_expr(NULL, "split('', ',')", "[\"\"]");
    assert_expr(NULL, "split('a,b', ',', 0)", "[]");
    assert_expr(NULL, "splitAfter('a,b', ',')", "[\"a,\",\"b\"]");
    assert_expr(NULL, "replace('a-b-c', '-', '+')", "a+b+c");
    assert_expr(NULL, "replace('ab', '', '.')", ".a.b.");
    assert_expr(NULL, "repeat('ab', 3)", "ababab");
    assert_expr(NULL, "repeat('ab', 0)", "");
    assert_expr_err(NULL, "repeat('ab', -1)", CL_EEXPR, "negative");
    assert_expr(NULL, "indexOf('h\xc3\xa9llo', 'l')", "2");
    assert_expr(NULL, "indexOf('abc', 'x')", "-1");
    assert_expr(NULL, "lastIndexOf('abcabc', 'b')", "4");
    assert_expr(NULL, "join(['a', 'b'], '-')", "a-b");
    assert_expr(NULL, "join(['a', 'b'])", "ab");
    assert_expr(NULL, "join([], ',')", "");
    assert_expr_err(NULL, "join([1], ',')", CL_EEXPR, "not a string");
    assert_expr_err(NULL, "upper(1)", CL_EEXPR, "upper: argument 1");
    assert_expr_err(NULL, "split(1, ',')", CL_EEXPR, "string");
    assert_expr(NULL, "toBase64('hello')", "aGVsbG8=");
    assert_expr(NULL, "toBase64('')", "");
    assert_expr(NULL, "fromBase64('aGVsbG8=')", "hello");
    assert_expr(NULL, "fromBase64('YWI=')", "ab");
    assert_expr_err(NULL, "fromBase64('a$')", CL_EEXPR, "illegal base64");
    assert_expr_err(NULL, "fromBase64('YWI')", CL_EEXPR, "illegal base64");
}

static void test_collections(void **state)
{
    (void)state;
    assert_expr(NULL, "keys({b: 1, a: 2})", "[\"a\",\"b\"]");
    assert_expr(NULL, "values({b: 1, a: 2})", "[2,1]");
    assert_expr(NULL, "toPairs({b: 1, a: 2})", "[[\"a\",2],[\"b\",1]]");
    assert_expr(NULL, "fromPairs([['a', 1], ['b', [2]]])",
                "{\"a\":1,\"b\":[2]}");
    assert_expr_err(NULL, "fromPairs([[1, 2]])", CL_EEXPR, "pair");
    assert_expr_err(NULL, "keys([1])", CL_EEXPR, "map");
    assert_expr(NULL, "first([3, 4])", "3");
    assert_expr(NULL, "first([])", "null");
    assert_expr(NULL, "last([3, 4])", "4");
    assert_expr(NULL, "take([1, 2, 3], 2)", "[1,2]");
    assert_expr(NULL, "take([1, 2, 3], 10)", "[1,2,3]");
    assert_expr(NULL, "take([1, 2, 3], -1)", "[]");
    assert_expr(NULL, "reverse([1, 2, 3])", "[3,2,1]");
    assert_expr(NULL, "sort([3, 1.5, 2])", "[1.5,2,3]");
    assert_expr(NULL, "sort(['b', 'a', 'c'], 'desc')", "[\"c\",\"b\",\"a\"]");
    assert_expr_err(NULL, "sort([1, 'a'])", CL_EEXPR, "all numbers");
    assert_expr_err(NULL, "sort([1], 'up')", CL_EEXPR, "asc or desc");
    assert_expr(NULL, "uniq([1, 2, 1, 3, 2.0])", "[1,2,3]");
    assert_expr(NULL, "concat([1], [2, 3], [])", "[1,2,3]");
    assert_expr_err(NULL, "concat([1], 2)", CL_EEXPR, "array");
    assert_expr(NULL, "flatten([1, [2, [3, [4]]], []])", "[1,2,3,4]");
    assert_expr(NULL, "get({a: 1}, 'a')", "1");
    assert_expr(NULL, "get({a: 1}, 'b')", "null");
    assert_expr(NULL, "get([1, 2], -1)", "2");
    assert_expr(NULL, "get([1, 2], 5)", "null");
    assert_expr(NULL, "get(1, 'a')", "null");
}

static void test_json_builtins(void **state)
{
    (void)state;
    assert_expr(NULL, "toJson({b: [1, 2.5, 'x'], a: nil, c: true})",
                "{\"a\":null,\"b\":[1,2.5,\"x\"],\"c\":true}");
    assert_expr(NULL, "toJson('<a&b>')", "\"\\u003ca\\u0026b\\u003e\"");
    assert_expr(NULL, "toJson(filter([1, 3], {# > 1}))", "[3]");
    assert_expr(NULL, "toJSON({a: [1, {b: 2}], c: {}})",
                "{\n  \"a\": [\n    1,\n    {\n      \"b\": 2\n    }\n  ],\n"
                "  \"c\": {}\n}");
    assert_expr(NULL, "fromJSON('{\"a\": [1, 2.5, \"x\", null, true]}')",
                "{\"a\":[1,2.5,\"x\",null,true]}");
    assert_expr(NULL, "fromJSON('\"str\"')", "str");
    assert_expr(NULL, "fromJSON('12345678901234567890')",
                "12345678901234567000");
    assert_expr(NULL, "fromJSON('\"\\\\ud83d\\\\ude00\"')", "\xf0\x9f\x98\x80");
    assert_expr(NULL, "fromJSON('\"\\\\ud83d\"')", "\xef\xbf\xbd");
    assert_expr(NULL, "fromJSON('{\"a\": 1, \"a\": 2}').a", "2");
    assert_expr_err(NULL, "fromJSON('{\"a\": }')", CL_EEXPR,
                    "invalid character '}'");
    assert_expr_err(NULL, "fromJSON('[1,]')", CL_EEXPR, "invalid JSON");
    assert_expr_err(NULL, "fromJSON('1 2')", CL_EEXPR,
                    "after top-level value");
    assert_expr_err(NULL, "fromJSON('')", CL_EEXPR, "end of input");
    assert_expr_err(NULL, "fromJSON('\"a\\tb\"')", CL_EEXPR, "string");
    assert_expr_err(NULL, "fromJSON('1e999')", CL_EEXPR, "out of range");
}

static void test_bits(void **state)
{
    (void)state;
    assert_expr(NULL, "bitand(12, 10)", "8");
    assert_expr(NULL, "bitor(12, 10)", "14");
    assert_expr(NULL, "bitxor(12, 10)", "6");
    assert_expr(NULL, "bitnand(12, 10)", "4");
    assert_expr(NULL, "bitnot(0)", "-1");
    assert_expr(NULL, "bitshl(1, 10)", "1024");
    assert_expr(NULL, "bitshr(-16, 2)", "-4");
    assert_expr(NULL, "bitushr(-1, 60)", "15");
    assert_expr(NULL, "bitshl(1, 64)", "0");
    assert_expr_err(NULL, "bitshl(1, -1)", CL_EEXPR, "negative shift");
    assert_expr_err(NULL, "bitand(1.5, 1)", CL_EEXPR, "int");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        EXPR_TEST(test_len_and_numbers), EXPR_TEST(test_conversions),
        EXPR_TEST(test_strings),         EXPR_TEST(test_collections),
        EXPR_TEST(test_json_builtins),   EXPR_TEST(test_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
