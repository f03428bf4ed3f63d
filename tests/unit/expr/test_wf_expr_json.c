/* Unit tests for wf_expr_json.c: wf_expr_render of every JSON type, Go
 * number formatting, JSON text output and decoding. */
#include "expr_test.h"

#include "workflow/expr/wf_expr_int.h"

static void render_is(const char *file, int line, json_t *v,
                      const char *want)
{
    char *got = wf_expr_render(v);
    json_decref(v);
    if (got == NULL || strcmp(got, want) != 0) {
        print_error("got '%s' want '%s'\n", got ? got : "(null)", want);
        cl_free(got);
        _fail(file, line);
    }
    cl_free(got);
}
#define assert_render(v, want) render_is(__FILE__, __LINE__, v, want)

static void test_render_types(void **state)
{
    (void)state;
    assert_render(json_string("raw \"text\"\n"), "raw \"text\"\n");
    assert_render(json_string(""), "");
    assert_render(json_integer(43), "43");
    assert_render(json_integer(-9223372036854775807LL - 1),
                  "-9223372036854775808");
    assert_render(json_real(35.8), "35.8");
    assert_render(json_real(43.0), "43");
    assert_render(json_real(-0.0), "0");
    assert_render(json_real(1e21), "1e+21");
    assert_render(json_real(1e20), "100000000000000000000");
    assert_render(json_real(1e-7), "1e-7");
    assert_render(json_real(0.000001), "0.000001");
    assert_render(json_real(123456.789), "123456.789");
    assert_render(json_real(2.5e-10), "2.5e-10");
    assert_render(json_true(), "true");
    assert_render(json_false(), "false");
    assert_render(json_null(), "null");
    assert_render(NULL, "null");
    assert_render(json_pack("[i]", 43), "[43]");
    assert_render(json_pack("{s:s,s:i}", "name", "Baris", "age", 43),
                  "{\"age\":43,\"name\":\"Baris\"}");
    assert_render(json_pack("[{s:[]},{}]", "z"), "[{\"z\":[]},{}]");
    /* strings inside containers are escaped as Go does */
    assert_render(json_pack("[s]", "a\"\\\n\t\x01<>&\xe2\x80\xa8"),
                  "[\"a\\\"\\\\\\n\\t\\u0001<>&\\u2028\"]");
    json_t *bad = json_array();
    json_array_append_new(bad, json_stringn_nocheck("a\xff" "b", 3));
    assert_render(bad, "[\"a\\ufffdb\"]");
    assert_render(json_pack("{s:i,s:i,s:i}", "b", 1, "a", 2, "B", 3),
                  "{\"B\":3,\"a\":2,\"b\":1}");
}

static void test_float_formats(void **state)
{
    (void)state;
    struct {
        double d;
        const char *j, *g;
    } cases[] = {
        {0.1, "0.1", "0.1"},
        {1.0 / 3, "0.3333333333333333", "0.3333333333333333"},
        {1e6, "1000000", "1e+06"},
        {123456, "123456", "123456"},
        {1234567, "1234567", "1.234567e+06"},
        {0.0001, "0.0001", "0.0001"},
        {0.00001, "0.00001", "1e-05"},
        {1e-7, "1e-7", "1e-07"},
        {-2.5, "-2.5", "-2.5"},
        {1.7976931348623157e308, "1.7976931348623157e+308",
         "1.7976931348623157e+308"},
        {5e-324, "5e-324", "5e-324"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char buf[48];
        wf_expr__fmt_float(cases[i].d, 'j', buf);
        assert_string_equal(buf, cases[i].j);
        wf_expr__fmt_float(cases[i].d, 'g', buf);
        assert_string_equal(buf, cases[i].g);
    }
    char buf[48];
    wf_expr__fmt_float(1.0 / 0.0, 'g', buf);
    assert_string_equal(buf, "+Inf");
    wf_expr__fmt_float(0.0 / 0.0, 'g', buf);
    assert_string_equal(buf, "NaN");
    wf_expr__fmt_float(1e22, 'f', buf);
    assert_string_equal(buf, "10000000000000000000000");
}

static void test_json_write(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:[i,f,{}],s:n,s:{s:b}}", "a", 1, 2.5, "b", "c",
                          "d", 1);
    cl_buf b = CL_BUF_INIT;
    assert_int_equal(wf_expr__json_write(&b, v, WF_EXPR__JSON_COMPACT, NULL),
                     0);
    assert_string_equal(b.data,
                        "{\"a\":[1,2.5,{}],\"b\":null,\"c\":{\"d\":true}}");
    cl_buf_reset(&b);
    assert_int_equal(wf_expr__json_write(&b, v, WF_EXPR__JSON_INDENT, NULL),
                     0);
    assert_string_equal(b.data, "{\n  \"a\": [\n    1,\n    2.5,\n    {}\n"
                                "  ],\n  \"b\": null,\n  \"c\": {\n"
                                "    \"d\": true\n  }\n}");
    cl_buf_free(&b);
    json_decref(v);
    /* too deep to serialise: an error, not a crash */
    json_t *deep = json_integer(0);
    for (int i = 0; i < 1200; i++) {
        json_t *a = json_array();
        json_array_append_new(a, deep);
        deep = a;
    }
    cl_errmsg err;
    assert_int_equal(wf_expr__json_write(&b, deep, 0, &err), CL_EEXPR);
    assert_non_null(strstr(err.msg, "nested deeper"));
    cl_buf_free(&b);
    /* render clips what lies below the limit instead of failing */
    char *r = wf_expr_render(deep);
    assert_non_null(r);
    assert_non_null(strstr(r, "[[null]]"));
    assert_null(strstr(r, "0"));
    cl_free(r);
    json_decref(deep);
}

static void test_gofmt(void **state)
{
    (void)state;
    json_t *v = json_pack("[s,i,f,b,n,{s:[i]}]", "s", 1, 1e21, 0, "k", 2);
    cl_buf b = CL_BUF_INIT;
    assert_int_equal(wf_expr__gofmt(&b, v, NULL), 0);
    assert_string_equal(b.data, "[s 1 1e+21 false <nil> map[k:[2]]]");
    cl_buf_free(&b);
    json_decref(v);
}

static void test_parse_json(void **state)
{
    (void)state;
    json_t *v;
    cl_errmsg err;
    const char *ok[][2] = {
        {" {\"a\" : [1, -2.5e1, true, false, null, \"\\u00e9\\/\"]} ",
         "{\"a\":[1,-25,true,false,null,\"\xc3\xa9/\"]}"},
        {"-0", "0"},
        {"9223372036854775807", "9223372036854775807"},
        {"9223372036854775808", "9223372036854776000"},
        {"\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80"},
        {"\"\\udc00x\"", "\xef\xbf\xbdx"},
        {"[]", "[]"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
        assert_int_equal(wf_expr__parse_json(ok[i][0], strlen(ok[i][0]), &v,
                                             &err),
                         0);
        char *r = wf_expr_render(v);
        assert_string_equal(r, ok[i][1]);
        cl_free(r);
        json_decref(v);
    }
    const char *bad[] = {"",      "{",        "[1,]",   "{\"a\" 1}", "01",
                         "1.",    "1e",       "tru",    "\"\\x\"",  "[1 2]",
                         "\"\x01\"", "{1: 2}", "-",      "\"\\u12\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        v = (json_t *)1;
        int rv = wf_expr__parse_json(bad[i], strlen(bad[i]), &v, &err);
        if (rv != CL_EEXPR)
            fail_msg("'%s' parsed (rv %d)", bad[i], rv);
        assert_null(v);
        assert_non_null(strstr(err.msg, "invalid JSON"));
    }
    /* NUL inside a string is kept */
    assert_int_equal(wf_expr__parse_json("\"a\\u0000b\"", 10, &v, &err), 0);
    assert_int_equal(json_string_length(v), 3);
    json_decref(v);
}

static void test_oom(void **state)
{
    (void)state;
    const char *text = "{\"a\": [1, 2.5, \"x\\u00e9\", {\"b\": null}], "
                       "\"c\": \"long string value\"}";
    int ok = 0, oom = 0;
    for (int delay = 0; delay < 200 && ok < 5; delay++) {
        json_t *v = NULL;
        cl_errmsg err;
        cl_heap_fault_enable(delay, 1);
        int rv = wf_expr__parse_json(text, strlen(text), &v, &err);
        char *r = rv == 0 ? wf_expr_render(v) : NULL;
        cl_heap_fault_disable();
        if (rv == 0) {
            if (r != NULL) {
                if (strstr(r, "\"c\":\"long string value\"") == NULL)
                    fail_msg("delay %d: %s", delay, r);
                ok++;
            }
            free(r);
            json_decref(v);
        } else {
            assert_int_equal(rv, CL_ENOMEM);
            assert_null(v);
            oom++;
        }
        cl_heap_set(&expr_test_heap);
    }
    assert_true(oom > 5);
    assert_true(ok > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        EXPR_TEST(test_render_types), EXPR_TEST(test_float_formats),
        EXPR_TEST(test_json_write),   EXPR_TEST(test_gofmt),
        EXPR_TEST(test_parse_json),   EXPR_TEST(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
