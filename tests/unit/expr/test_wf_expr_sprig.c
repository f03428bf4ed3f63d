/* Unit tests for wf_expr_sprig.c: sprig.<fn> with Sprig v3 argument order
 * and conversions. */
#include "expr_test.h"

static void test_math(void **state)
{
    (void)state;
    assert_expr(NULL, "sprig.add(1, 2, 3)", "6");
    assert_expr(NULL, "sprig.add()", "0");
    assert_expr(NULL, "sprig.add('4', 1.9, true)", "6"); /* cast.ToInt64 */
    assert_expr(NULL, "sprig.add('x', 1)", "1");
    /* strings convert as strconv.ParseInt(s, 0, 64) after "3.00" -> "3" */
    assert_expr(NULL, "sprig.int('3.00')", "3");
    assert_expr(NULL, "sprig.int('3.5')", "0");
    assert_expr(NULL, "sprig.int('0x1F')", "31");
    assert_expr(NULL, "sprig.int('0b101')", "5");
    assert_expr(NULL, "sprig.int('0o17')", "15");
    assert_expr(NULL, "sprig.int('017')", "15");
    assert_expr(NULL, "sprig.int('08')", "0");
    assert_expr(NULL, "sprig.int('-0x10')", "-16");
    assert_expr(NULL, "sprig.int('0x_1_0')", "16");
    assert_expr(NULL, "sprig.int('1_0')", "10");
    assert_expr(NULL, "sprig.int('1__0')", "0");
    assert_expr(NULL, "sprig.int('_1')", "0");
    assert_expr(NULL, "sprig.int('1_')", "0");
    assert_expr(NULL, "sprig.int('0')", "0");
    assert_expr(NULL, "sprig.int('-')", "0");
    assert_expr(NULL, "sprig.int('99999999999999999999')", "0");
    assert_expr(NULL, "sprig.add(34, 27, 15, 57, 46) / 5", "35.8");
    assert_expr(NULL, "sprig.add1(41)", "42");
    assert_expr(NULL, "sprig.sub(10, 3)", "7");
    assert_expr(NULL, "sprig.mul(2, 3, 4)", "24");
    assert_expr(NULL, "sprig.div(7, 2)", "3");
    assert_expr(NULL, "sprig.div(-7, 2)", "-3");
    assert_expr(NULL, "sprig.mod(7, 3)", "1");
    assert_expr_err(NULL, "sprig.div(1, 0)", CL_EEXPR, "divide by zero");
    assert_expr_err(NULL, "sprig.mod(1, 0)", CL_EEXPR, "divide by zero");
    assert_expr(NULL, "sprig.max(3, 9.7, 5)", "9");
    assert_expr(NULL, "sprig.min(34, 27, 15, 57, 46)", "15");
    assert_expr(NULL, "sprig.biggest(1, 2)", "2");
    assert_expr(NULL, "sprig.maxf(1, 2.5)", "2.5");
    assert_expr(NULL, "sprig.minf(1, 2.5)", "1");
    assert_expr(NULL, "sprig.addf(1.5, 2)", "3.5");
    assert_expr(NULL, "sprig.subf(1.5, 2)", "-0.5");
    assert_expr(NULL, "sprig.mulf(1.5, 2)", "3");
    assert_expr(NULL, "sprig.divf(3, 2)", "1.5");
    assert_expr_err(NULL, "sprig.divf(3, 0)", CL_EEXPR, "division by zero");
    assert_expr(NULL, "sprig.ceil(1.1)", "2");
    assert_expr(NULL, "sprig.floor('1.9')", "1");
    assert_expr(NULL, "sprig.round(3.14159, 2)", "3.14");
    assert_expr(NULL, "sprig.round(2.5, 0)", "3");
    assert_expr(NULL, "sprig.round(2.45, 1, 0.6)", "2.4");
    assert_expr(NULL, "sprig.int('12')", "12");
    assert_expr(NULL, "sprig.int64(3.9)", "3");
    assert_expr(NULL, "sprig.float64('2.5')", "2.5");
    assert_expr(NULL, "sprig.atoi('17')", "17");
    assert_expr(NULL, "sprig.atoi('x')", "0");
    assert_expr(NULL, "sprig.until(3)", "[0,1,2]");
    assert_expr(NULL, "sprig.untilStep(10, 0, -3)", "[10,7,4,1]");
    assert_expr(NULL, "sprig.seq(3)", "1 2 3");
    assert_expr(NULL, "sprig.seq(2, 4)", "2 3 4");
    assert_expr(NULL, "sprig.seq(5, 3)", "5 4 3");
    assert_expr(NULL, "sprig.seq(0, 2, 6)", "0 2 4 6");
    assert_expr(NULL, "sprig.seq(0, -1, 6)", "");
    assert_expr_err(NULL, "sprig.until(100000000)", CL_EEXPR, "too large");
}

static void test_strings(void **state)
{
    (void)state;
    assert_expr(NULL, "sprig.trim('  a  ')", "a");
    assert_expr(NULL, "sprig.trimAll('$', '$5.00$')", "5.00");
    assert_expr(NULL, "sprig.trimPrefix('-', '-x')", "x");
    assert_expr(NULL, "sprig.trimSuffix('-', 'x-')", "x");
    assert_expr(NULL, "sprig.upper('abc')", "ABC");
    assert_expr(NULL, "sprig.lower('ABC')", "abc");
    assert_expr(NULL, "sprig.title('hello big world')", "Hello Big World");
    assert_expr(NULL, "sprig.untitle('Hello World')", "hello world");
    assert_expr(NULL, "sprig.replace(' ', '-', 'a b c')", "a-b-c");
    assert_expr(NULL, "sprig.repeat(3, 'ab')", "ababab");
    assert_expr(NULL, "sprig.contains('cat', 'catch')", "true");
    assert_expr(NULL, "sprig.contains('dog', 'catch')", "false");
    assert_expr(NULL, "sprig.hasPrefix('ca', 'cat')", "true");
    assert_expr(NULL, "sprig.hasSuffix('at', 'cat')", "true");
    assert_expr(NULL, "sprig.substr(1, 3, 'hello')", "el");
    assert_expr(NULL, "sprig.substr(2, -1, 'hello')", "llo");
    assert_expr(NULL, "sprig.trunc(3, 'hello')", "hel");
    assert_expr(NULL, "sprig.trunc(-3, 'hello')", "llo");
    assert_expr(NULL, "sprig.trunc(10, 'hi')", "hi");
    assert_expr(NULL, "sprig.nospace(' a b\\tc ')", "abc");
    assert_expr(NULL, "sprig.indent(2, 'a\\nb')", "  a\n  b");
    assert_expr(NULL, "sprig.nindent(2, 'a')", "\n  a");
    assert_expr(NULL, "sprig.quote('a\"b', 1)", "\"a\\\"b\" \"1\"");
    assert_expr(NULL, "sprig.squote('a', nil, 2)", "'a' '2'");
    assert_expr(NULL, "sprig.cat('a', 1, nil, [2, 3])", "a 1 [2 3]");
    assert_expr(NULL, "sprig.b64enc('hi there')", "aGkgdGhlcmU=");
    assert_expr(NULL,
                "sprig.b64dec('eyJ0ZW1wcyI6IFszNCwgMjcsIDE1LCA1NywgNDZdfQo=')",
                "{\"temps\": [34, 27, 15, 57, 46]}\n");
    /* Sprig returns the decoder error as the value */
    assert_expr(NULL, "sprig.b64dec('!!')",
                "illegal base64 data at input byte 0");
    assert_expr(NULL, "sprig.toString(1.5)", "1.5");
    assert_expr(NULL, "sprig.toString([1, 'a'])", "[1 a]");
    assert_expr(NULL, "sprig.toStrings([1, nil, 'a'])",
                "[\"1\",\"<nil>\",\"a\"]");
    assert_expr(NULL, "sprig.join('-', [1, 'a', true])", "1-a-true");
    assert_expr(NULL, "sprig.join(',', 'solo')", "solo");
    assert_expr(NULL, "sprig.split('.', 'a.b')", "{\"_0\":\"a\",\"_1\":\"b\"}");
    assert_expr(NULL, "sprig.splitn('.', 2, 'a.b.c')",
                "{\"_0\":\"a\",\"_1\":\"b.c\"}");
    assert_expr(NULL, "sprig.splitList(',', 'a,b')", "[\"a\",\"b\"]");
    assert_expr(NULL, "sprig.sha256sum('hello')",
                "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b"
                "9824");
    assert_expr(NULL, "sprig.adler32sum('hello')", "103547413");
    assert_expr_err(NULL, "sprig.upper(1)", CL_EEXPR, "upper: argument 1");
    assert_expr_err(NULL, "sprig.trimAll('x')", CL_EEXPR, "wrong number");
}

static void test_regex(void **state)
{
    (void)state;
    assert_expr(NULL, "sprig.regexMatch('^[a-z]+\\\\d$', 'abc1')", "true");
    assert_expr(NULL, "sprig.regexMatch('^x', 'abc')", "false");
    assert_expr(NULL, "sprig.regexFind('[0-9]+', 'ab12cd345')", "12");
    assert_expr(NULL, "sprig.regexFind('z', 'abc')", "");
    assert_expr(NULL, "sprig.regexFindAll('[0-9]+', 'a1b22c333', -1)",
                "[\"1\",\"22\",\"333\"]");
    assert_expr(NULL, "sprig.regexFindAll('[0-9]+', 'a1b22c333', 2)",
                "[\"1\",\"22\"]");
    assert_expr(NULL, "sprig.regexReplaceAll('a(x*)b', '-ab-axxb-', '${1}W')",
                "-W-xxW-");
    assert_expr(NULL, "sprig.regexReplaceAll('(\\\\w+)@(\\\\w+)', 'me@host', "
                      "'$2 at $1, $$')",
                "host at me, $");
    assert_expr(NULL, "sprig.regexReplaceAllLiteral('a(x*)b', '-ab-', '$1')",
                "-$1-");
    assert_expr(NULL, "sprig.regexReplaceAll('x*', 'abc', '-')", "-a-b-c-");
    assert_expr(NULL, "sprig.regexSplit('z+', 'pizza', -1)",
                "[\"pi\",\"a\"]");
    assert_expr(NULL, "sprig.regexSplit(',', 'a,b,c', 2)", "[\"a\",\"b,c\"]");
    assert_expr(NULL, "sprig.regexSplit(',', 'a,b', 0)", "[]");
    assert_expr_err(NULL, "sprig.regexMatch('(', 'a')", CL_EEXPR,
                    "invalid regular expression");
    /* catastrophic backtracking is cut by the match limit */
    assert_expr_err(NULL,
                    "sprig.regexMatch('^(a+)+$', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                    "aaaaaaaaaaaaaaaaaaab')",
                    CL_EEXPR, "match limit");
}

static void test_logic_and_lists(void **state)
{
    (void)state;
    assert_expr(NULL, "sprig.default('d', '')", "d");
    assert_expr(NULL, "sprig.default('d', 0)", "d");
    assert_expr(NULL, "sprig.default('d', [])", "d");
    assert_expr(NULL, "sprig.default('d', 'x')", "x");
    assert_expr(NULL, "sprig.default('d')", "d");
    assert_expr(NULL, "sprig.empty('')", "true");
    assert_expr(NULL, "sprig.empty({})", "true");
    assert_expr(NULL, "sprig.empty(false)", "true");
    assert_expr(NULL, "sprig.empty(0.0)", "true");
    assert_expr(NULL, "sprig.empty(' ')", "false");
    assert_expr(NULL, "sprig.coalesce(nil, '', 0, 'a', 'b')", "a");
    assert_expr(NULL, "sprig.coalesce(nil, '')", "null");
    assert_expr(NULL, "sprig.all(1, 'a', true)", "true");
    assert_expr(NULL, "sprig.all(1, '')", "false");
    assert_expr(NULL, "sprig.any(0, '', 'x')", "true");
    assert_expr(NULL, "sprig.any(0, '')", "false");
    assert_expr(NULL, "sprig.ternary('yes', 'no', 1 > 0)", "yes");
    assert_expr(NULL, "sprig.ternary('yes', 'no', false)", "no");
    assert_expr_err(NULL, "sprig.ternary('yes', 'no', 1)", CL_EEXPR, "bool");
    assert_expr_err(NULL, "sprig.fail('stop here')", CL_EEXPR, "stop here");
    assert_expr(NULL, "sprig.typeOf(1)", "int64");
    assert_expr(NULL, "sprig.typeOf([])", "[]interface {}");
    assert_expr(NULL, "sprig.kindOf({})", "map");
    assert_expr(NULL, "sprig.kindIs('slice', [1])", "true");
    assert_expr(NULL, "sprig.deepEqual([1, {a: 2}], [1, {a: 2}])", "true");
    assert_expr(NULL, "sprig.list(1, 'a', nil)", "[1,\"a\",null]");
    assert_expr(NULL, "sprig.first([1, 2])", "1");
    assert_expr(NULL, "sprig.first([])", "null");
    assert_expr(NULL, "sprig.last([1, 2])", "2");
    assert_expr(NULL, "sprig.rest([1, 2, 3])", "[2,3]");
    assert_expr(NULL, "sprig.initial([1, 2, 3])", "[1,2]");
    assert_expr(NULL, "sprig.append([1], 2)", "[1,2]");
    assert_expr(NULL, "sprig.push([1], 2)", "[1,2]");
    assert_expr(NULL, "sprig.prepend([1], 0)", "[0,1]");
    assert_expr(NULL, "sprig.concat([1], [2], [3, 4])", "[1,2,3,4]");
    assert_expr(NULL, "sprig.reverse([1, 2])", "[2,1]");
    assert_expr(NULL, "sprig.uniq([1, 1, 2])", "[1,2]");
    assert_expr(NULL, "sprig.compact([0, 1, '', 'a', nil])", "[1,\"a\"]");
    assert_expr(NULL, "sprig.without([1, 2, 3, 2], 2)", "[1,3]");
    assert_expr(NULL, "sprig.has(2, [1, 2])", "true");
    assert_expr(NULL, "sprig.has(5, [1, 2])", "false");
    assert_expr(NULL, "sprig.slice([1, 2, 3, 4], 1, 3)", "[2,3]");
    assert_expr(NULL, "sprig.slice([1, 2, 3], 1)", "[2,3]");
    assert_expr_err(NULL, "sprig.slice([1], 2)", CL_EEXPR, "out of range");
    assert_expr(NULL, "sprig.sortAlpha(['b', 'a', 10])",
                "[\"10\",\"a\",\"b\"]");
    assert_expr_err(NULL, "sprig.first(1)", CL_EEXPR, "list");
}

static void test_dicts_and_json(void **state)
{
    (void)state;
    assert_expr(NULL, "sprig.dict('a', 1, 'b', 'x')", "{\"a\":1,\"b\":\"x\"}");
    assert_expr(NULL, "sprig.dict('a')", "{\"a\":\"\"}");
    assert_expr(NULL, "sprig.get({a: 1}, 'a')", "1");
    assert_expr(NULL, "sprig.get({a: 1}, 'b')", "");
    assert_expr(NULL, "sprig.hasKey({a: 1}, 'a')", "true");
    assert_expr(NULL, "sprig.set({a: 1}, 'b', 2)", "{\"a\":1,\"b\":2}");
    assert_expr(NULL, "sprig.unset({a: 1, b: 2}, 'a')", "{\"b\":2}");
    assert_expr(NULL, "sprig.keys({b: 1}, {a: 2, b: 3})", "[\"a\",\"b\"]");
    assert_expr(NULL, "sprig.values({b: 1, a: 2})", "[2,1]");
    assert_expr(NULL, "sprig.pick({a: 1, b: 2, c: 3}, 'a', 'c')",
                "{\"a\":1,\"c\":3}");
    assert_expr(NULL, "sprig.omit({a: 1, b: 2, c: 3}, 'a', 'c')", "{\"b\":2}");
    assert_expr(NULL, "sprig.pluck('a', {a: 1}, {b: 2}, {a: 3})", "[1,3]");
    assert_expr_err(NULL, "sprig.get([1], 'a')", CL_EEXPR, "dict");
    assert_expr(NULL, "sprig.toJson({b: 1, a: '<'})",
                "{\"a\":\"\\u003c\",\"b\":1}");
    assert_expr(NULL, "sprig.toRawJson({a: '<'})", "{\"a\":\"<\"}");
    assert_expr(NULL, "sprig.toPrettyJson({a: [1]})",
                "{\n  \"a\": [\n    1\n  ]\n}");
    assert_expr(NULL, "sprig.fromJson('{\"a\": 1}').a", "1");
    assert_expr(NULL, "sprig.fromJson('{bad')", "{}");
    assert_expr_err(NULL, "sprig.mustFromJson('{bad')", CL_EEXPR,
                    "invalid JSON");
}

static void test_dates(void **state)
{
    (void)state;
    const char *env = "{\"ts\": \"2024-02-29T13:04:05.123Z\","
                      " \"off\": \"2024-03-01T01:30:00+02:00\"}";
    assert_expr(env, "sprig.date('2006', ts)", "2024");
    assert_expr(env, "sprig.date('2006-01-02 15:04:05', ts)",
                "2024-02-29 13:04:05");
    assert_expr(env, "sprig.date('Mon Jan _2 3:4:5 PM 06', ts)",
                "Thu Feb 29 1:4:5 PM 24");
    assert_expr(env, "sprig.date('Monday, January 2, 002', ts)",
                "Thursday, February 29, 060");
    assert_expr(env, "sprig.date('15:04:05.000 MST Z07:00 -0700', ts)",
                "13:04:05.123 UTC Z +0000");
    assert_expr(env, "sprig.date('05.999999', ts)", "05.123");
    assert_expr(env, "sprig.date('2006-01-02T15:04', off)",
                "2024-02-29T23:30");
    assert_expr(env, "sprig.date('2006-01-02', 0)", "1970-01-01");
    assert_expr(env, "sprig.date('2006-01-02 15:04', -1)", "1969-12-31 23:59");
    assert_expr(env, "sprig.htmlDate(86400)", "1970-01-02");
    assert_expr(env, "sprig.dateInZone('2006', ts, 'UTC')", "2024");
    assert_expr(env, "sprig.unixEpoch(ts)", "1709211845");
    assert_expr(env, "sprig.date('2006-01-02', '2000-01-01')", "2000-01-01");
    assert_expr_err(env, "sprig.date('2006', 'yesterday')", CL_EEXPR,
                    "RFC 3339");
    assert_expr_err(env, "sprig.dateInZone('2006', ts, 'Europe/Paris')",
                    CL_EEXPR, "UTC");
    assert_expr_err(env, "sprig.date('2006', 1e18)", CL_EEXPR, "range");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        EXPR_TEST(test_math),           EXPR_TEST(test_strings),
        EXPR_TEST(test_regex),          EXPR_TEST(test_logic_and_lists),
        EXPR_TEST(test_dicts_and_json), EXPR_TEST(test_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
