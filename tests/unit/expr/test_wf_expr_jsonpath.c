/* Unit tests for wf_expr_jsonpath.c. */
#include "expr_test.h"

static const char *STORE =
    "{\"store\": {\"book\": ["
    "  {\"category\": \"reference\", \"author\": \"Nigel Rees\","
    "   \"title\": \"Sayings\", \"price\": 8.95},"
    "  {\"category\": \"fiction\", \"author\": \"Evelyn Waugh\","
    "   \"title\": \"Sword\", \"price\": 12.99},"
    "  {\"category\": \"fiction\", \"author\": \"Herman Melville\","
    "   \"title\": \"Moby Dick\", \"isbn\": \"0-553\", \"price\": 8.99},"
    "  {\"category\": \"fiction\", \"author\": \"J. R. R. Tolkien\","
    "   \"title\": \"Rings\", \"isbn\": \"0-395\", \"price\": 22.99}],"
    " \"bicycle\": {\"color\": \"red\", \"price\": 19.95}},"
    " \"odd key\": {\"a-b\": 1, \"length\": \"own\"},"
    " \"n\": null, \"word\": \"hello\"}";

static void jp_check(const char *file, int line, const char *doc,
                     const char *path, const char *want)
{
    json_t *d = expr_env(doc);
    json_t *out = NULL;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = wf_expr_jsonpath(d, path, &out, &err);
    json_decref(d);
    if (rv != 0) {
        print_error("%s: %s %s\n", path, cl_errname(rv), err.msg);
        _fail(file, line);
    }
    char *got = wf_expr_render(out);
    json_decref(out);
    if (strcmp(got, want) != 0) {
        print_error("%s\n  got  '%s'\n  want '%s'\n", path, got, want);
        cl_free(got);
        _fail(file, line);
    }
    cl_free(got);
}

static void jp_check_err(const char *file, int line, const char *doc,
                         const char *path, const char *frag)
{
    json_t *d = expr_env(doc);
    json_t *out = NULL;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = wf_expr_jsonpath(d, path, &out, &err);
    json_decref(d);
    if (rv != CL_EEXPR || out != NULL || strstr(err.msg, frag) == NULL) {
        print_error("%s\n  got %s '%s'\n  want CL_EEXPR '%s'\n", path,
                    cl_errname(rv), err.msg, frag);
        json_decref(out);
        _fail(file, line);
    }
}

#define assert_jp(doc, path, want) jp_check(__FILE__, __LINE__, doc, path, want)
#define assert_jp_err(doc, path, frag)                                        \
    jp_check_err(__FILE__, __LINE__, doc, path, frag)

static void test_definite_paths(void **state)
{
    (void)state;
    assert_jp(STORE, "$", "{\"n\":null,\"odd key\":{\"a-b\":1,"
                                         "\"length\":\"own\"},\"store\":{"
                                         "\"bicycle\":{\"color\":\"red\","
                                         "\"price\":19.95},\"book\":[{"
                                         "\"author\":\"Nigel Rees\","
                                         "\"category\":\"reference\","
                                         "\"price\":8.95,\"title\":"
                                         "\"Sayings\"},{\"author\":\"Evelyn "
                                         "Waugh\",\"category\":\"fiction\","
                                         "\"price\":12.99,\"title\":\"Sword\""
                                         "},{\"author\":\"Herman Melville\","
                                         "\"category\":\"fiction\",\"isbn\":"
                                         "\"0-553\",\"price\":8.99,\"title\":"
                                         "\"Moby Dick\"},{\"author\":\"J. R. "
                                         "R. Tolkien\",\"category\":"
                                         "\"fiction\",\"isbn\":\"0-395\","
                                         "\"price\":22.99,\"title\":\"Rings\""
                                         "}]},\"word\":\"hello\"}");
    assert_jp(STORE, "$.store.bicycle.color", "red");
    assert_jp(STORE, "$['store']['bicycle']['price']", "19.95");
    assert_jp(STORE, "$[\"odd key\"]['a-b']", "1");
    assert_jp(STORE, "$.store.book[0].title", "Sayings");
    assert_jp(STORE, "$.store.book[-1].title", "Rings");
    assert_jp(STORE, "$.store.book[(@.length-1)].title", "Rings");
    assert_jp(STORE, "$.store.book.length", "4");
    assert_jp(STORE, "$.word.length", "5");
    assert_jp(STORE, "$['odd key'].length", "own");
    assert_jp(STORE, "$.word[1]", "e");
    assert_jp(STORE, "$.word[1:3]", "el");
    assert_jp(STORE, "$.n", "null");
    assert_jp("[{\"name\":\"should-print\",\"value\":\"true\"}]",
              "$[0].value", "true");
    assert_jp("{\"temps\": [34, 27, 15]}", "$.temps", "[34,27,15]");
    assert_jp("\"scalar\"", "$", "scalar");
    assert_jp(STORE, " $.word ", "hello");
}

static void test_multi_paths(void **state)
{
    (void)state;
    assert_jp(STORE, "$.store.book[*].author",
              "[\"Nigel Rees\",\"Evelyn Waugh\",\"Herman Melville\","
              "\"J. R. R. Tolkien\"]");
    assert_jp(STORE, "$.store.book.*.price", "[8.95,12.99,8.99,22.99]");
    /* map members in key order */
    assert_jp(STORE, "$.store.bicycle.*", "[\"red\",19.95]");
    /* missing keys drop out of a multi-selection */
    assert_jp(STORE, "$.store.book[*].isbn", "[\"0-553\",\"0-395\"]");
    assert_jp(STORE, "$.store.book[0:2].title", "[\"Sayings\",\"Sword\"]");
    assert_jp(STORE, "$.store.book[:1].title", "[\"Sayings\"]");
    assert_jp(STORE, "$.store.book[2:].title", "[\"Moby Dick\",\"Rings\"]");
    assert_jp(STORE, "$.store.book[-2:].title", "[\"Moby Dick\",\"Rings\"]");
    assert_jp(STORE, "$.store.book[0:4:2].title", "[\"Sayings\",\"Moby Dick\"]");
    assert_jp(STORE, "$.store.book[0:3:-1].title",
              "[\"Moby Dick\",\"Sword\",\"Sayings\"]");
    assert_jp(STORE, "$.store.book[1:100].price", "[12.99,8.99,22.99]");
    assert_jp(STORE, "$.store.book[3:1]", "[]");
    /* an index after a range picks from the range */
    assert_jp(STORE, "$.store.book[1:3][0].title", "Sword");
    assert_jp(STORE, "$.store.book[0,2].title", "[\"Sayings\",\"Moby Dick\"]");
    assert_jp(STORE, "$.store.bicycle['color','price']", "[\"red\",19.95]");
    assert_jp(STORE, "$..price", "[19.95,8.95,12.99,8.99,22.99]");
    assert_jp(STORE, "$..book[2].title", "[\"Moby Dick\"]");
    assert_jp(STORE, "$..author",
              "[\"Nigel Rees\",\"Evelyn Waugh\",\"Herman Melville\","
              "\"J. R. R. Tolkien\"]");
    assert_jp("{\"a\": {\"b\": 1, \"c\": {\"b\": 2}}, \"b\": 3}", "$..b",
              "[3,1,2]");
    assert_jp("{\"a\": [1, [2]]}", "$..*", "[[1,[2]],1,[2],2]");
}

static void test_filters(void **state)
{
    (void)state;
    const char *emp =
        "{\"employees\": [{\"name\": \"Baris\", \"age\":43},"
        "{\"name\": \"Mo\", \"age\": 42}, {\"name\": \"Jai\", \"age\" :44}]}";
    /* expression-destructure-json-complex */
    assert_jp(emp, "$.employees[?(@.name==\"Baris\")].age", "[43]");
    assert_jp(emp, "$.employees[?(@.age>42 && @.age<44)].age", "[43]");
    assert_jp(emp, "$.employees[0:1]", "[{\"age\":43,\"name\":\"Baris\"}]");
    assert_jp(emp, "$.employees[*].name", "[\"Baris\",\"Mo\",\"Jai\"]");
    assert_jp(emp, "$.employees[?(@.age > 42)].name", "[\"Baris\",\"Jai\"]");
    assert_jp(emp, "$.employees[?(@.age >= 44 || @.name == 'Mo')].name",
              "[\"Mo\",\"Jai\"]");
    assert_jp(emp, "$.employees[?(@.age != 42)][1].name", "Jai");
    assert_jp(emp, "$.employees[?(@.age == 100)]", "[]");
    assert_jp(emp, "$.employees[?(@.name =~ /^[BJ]/)].name",
              "[\"Baris\",\"Jai\"]");
    assert_jp(emp, "$.employees[?(@.name =~ 'o$')].name", "[\"Mo\"]");
    assert_jp(emp, "$.employees[?(!(@.age > 42))].name", "[\"Mo\"]");
    assert_jp(emp, "$.employees[?(@.age + 1 == 43)].name", "[\"Mo\"]");
    assert_jp(emp, "$.employees[?(@.age * 2 - 4 > 83 && @.age % 2 == 0)].name",
              "[\"Jai\"]");
    assert_jp(emp, "$.employees[?(@.age > $.employees[1].age)].name",
              "[\"Baris\",\"Jai\"]");
    assert_jp(STORE, "$.store.book[?(@.isbn)].title",
              "[\"Moby Dick\",\"Rings\"]");
    assert_jp(STORE, "$.store.book[?(@.price < 10)].title",
              "[\"Sayings\",\"Moby Dick\"]");
    assert_jp(STORE, "$.store.book[?(@.category == 'fiction' && "
                     "@.price > 20)].author",
              "[\"J. R. R. Tolkien\"]");
    assert_jp(STORE, "$..book[?(@.author =~ /Mel/)].title", "[\"Moby Dick\"]");
    assert_jp("[1, 5, 10]", "$[?(@ > 3)]", "[5,10]");
    assert_jp("[\"a\", \"\", \"b\"]", "$[?(@)]", "[\"a\",\"b\"]");
    assert_jp("{\"x\": {\"v\": 1}, \"y\": {\"v\": 2}}", "$[?(@.v > 1)]",
              "[{\"v\":2}]");
    assert_jp("[{\"a\": true}, {\"a\": false}, {}]", "$[?(@.a == true)]",
              "[{\"a\":true}]");
    assert_jp("[{\"a\": null}, {\"a\": 1}]", "$[?(@.a == null)]",
              "[{\"a\":null}]");
}

static void test_errors(void **state)
{
    (void)state;
    assert_jp_err(STORE, "store", "must start with '$'");
    assert_jp_err(STORE, "", "must start with '$'");
    assert_jp_err(STORE, "$.nope", "key 'nope' not found");
    assert_jp_err(STORE, "$.store.book[9]", "index out of range");
    assert_jp_err(STORE, "$.word.x", "cannot select key of string");
    assert_jp_err(STORE, "$.store[0", "unbalanced");
    assert_jp_err(STORE, "$.store.book[1:2:0]", "step");
    assert_jp_err(STORE, "$.store.book[x]", "invalid subscript");
    assert_jp_err(STORE, "$.store.book[]", "empty subscript");
    /* a filter that does not evaluate selects nothing (library
     * behaviour: filter errors are ignored) */
    assert_jp(STORE, "$.store.book[?(@.price >)]", "[]");
    assert_jp_err(STORE, "$..", "ends after");
    assert_jp_err(STORE, "$...x", "unexpected '.' after '..'");
    assert_jp_err(STORE, "$.", "empty name");
    assert_jp_err(STORE, "$x", "unexpected 'x'");
    assert_jp_err(STORE, "$.store.book[?@.x]", "invalid filter");
    assert_jp_err(STORE, "$.n[*]", "cannot select members of nil");
    json_t *out;
    assert_int_equal(wf_expr_jsonpath(NULL, "$", &out, NULL), CL_EINVAL);
}

static void test_via_expr(void **state)
{
    (void)state;
    const char *env = "{\"doc\": \"{\\\"a\\\": [1, 2, 3]}\", "
                      "\"m\": {\"a\": [4]}}";
    assert_expr(env, "jsonpath(doc, '$.a[1]')", "2");
    assert_expr(env, "jsonpath(doc, '$.a[*]') | sum()", "6");
    assert_expr(env, "jsonpath(m, '$.a[0]')", "4");
    assert_expr_err(env, "jsonpath(doc, '$.b')", CL_EEXPR, "not found");
    assert_expr_err(env, "jsonpath('{bad', '$')", CL_EEXPR, "invalid JSON");
    assert_expr_err(env, "jsonpath(1, '$')", CL_EEXPR, "JSON string");
}

static void test_limits(void **state)
{
    (void)state;
    /* deep documents and paths are refused, not a stack overflow */
    size_t n = 3000;
    char *doc = cl_malloc(2 * n + 2);
    memset(doc, '[', n);
    doc[n] = '1';
    memset(doc + n + 1, ']', n);
    doc[2 * n + 1] = '\0';
    json_t *out;
    cl_errmsg err;
    char *src = cl_malloc(2 * n + 64);
    sprintf(src, "jsonpath('%s', '$')", doc);
    assert_int_equal(wf_expr_eval(src, NULL, &out, &err), CL_EEXPR);
    assert_non_null(strstr(err.msg, "nested deeper"));
    cl_free(src);
    /* a 400-deep document is fine, and ..* over it stays bounded */
    json_t *deep = json_integer(1);
    for (int i = 0; i < 400; i++) {
        json_t *a = json_array();
        json_array_append_new(a, deep);
        deep = a;
    }
    assert_int_equal(wf_expr_jsonpath(deep, "$..*", &out, &err), 0);
    assert_int_equal(json_array_size(out), 400);
    json_decref(out);
    /* repeated recursive descent is cut by the work limit */
    assert_int_equal(
        wf_expr_jsonpath(deep, "$..*..*..*..*..*", &out, &err), CL_EEXPR);
    json_decref(deep);
    char *path = cl_malloc(3 * n + 2);
    path[0] = '$';
    for (size_t i = 0; i < n; i++)
        memcpy(path + 1 + 3 * i, "[0]", 3);
    path[1 + 3 * n] = '\0';
    json_t *arr = json_pack("[i]", 1);
    assert_int_equal(wf_expr_jsonpath(arr, path, &out, &err), CL_EEXPR);
    json_decref(arr);
    cl_free(path);
    cl_free(doc);
}

static void test_oom(void **state)
{
    (void)state;
    json_t *doc = expr_env(STORE);
    const char *path = "$..book[?(@.price < 10 && @.title =~ /^[MS]/)].title";
    int ok = 0, oom = 0;
    for (int delay = 0; delay < 2000 && ok < 10; delay++) {
        json_t *out = NULL;
        cl_errmsg err;
        cl_heap_fault_enable(delay, 1);
        int rv = wf_expr_jsonpath(doc, path, &out, &err);
        cl_heap_fault_disable();
        if (rv == 0) {
            assert_int_equal(json_array_size(out), 2);
            json_decref(out);
            ok++;
        } else {
            assert_int_equal(rv, CL_ENOMEM);
            assert_null(out);
            oom++;
        }
        cl_heap_set(&expr_test_heap);
    }
    assert_true(oom > 10);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        EXPR_TEST(test_definite_paths), EXPR_TEST(test_multi_paths),
        EXPR_TEST(test_filters),        EXPR_TEST(test_errors),
        EXPR_TEST(test_via_expr),       EXPR_TEST(test_limits),
        EXPR_TEST(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
