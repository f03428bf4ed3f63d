/* Unit tests for wf_expr_parse.c: tree shape, precedence, columns and the
 * arena. */
#include "expr_test.h"

#include "workflow/expr/wf_expr_ast.h"

/* A compact s-expression of a tree, for shape assertions. */
static void shape(const wf_expr__node *n, cl_buf *b)
{
    static const char *const ops[] = {
        [WF_EXPR__OP_OR] = "||",       [WF_EXPR__OP_AND] = "&&",
        [WF_EXPR__OP_EQ] = "==",       [WF_EXPR__OP_NE] = "!=",
        [WF_EXPR__OP_LT] = "<",        [WF_EXPR__OP_LE] = "<=",
        [WF_EXPR__OP_GT] = ">",        [WF_EXPR__OP_GE] = ">=",
        [WF_EXPR__OP_IN] = "in",       [WF_EXPR__OP_MATCHES] = "matches",
        [WF_EXPR__OP_CONTAINS] = "contains",
        [WF_EXPR__OP_STARTS] = "startsWith",
        [WF_EXPR__OP_ENDS] = "endsWith", [WF_EXPR__OP_RANGE] = "..",
        [WF_EXPR__OP_ADD] = "+",       [WF_EXPR__OP_SUB] = "-",
        [WF_EXPR__OP_MUL] = "*",       [WF_EXPR__OP_DIV] = "/",
        [WF_EXPR__OP_MOD] = "%",       [WF_EXPR__OP_POW] = "**",
        [WF_EXPR__OP_COALESCE] = "??", [WF_EXPR__OP_NOT] = "!",
        [WF_EXPR__OP_NEG] = "neg",     [WF_EXPR__OP_POS] = "pos",
    };
    switch (n->kind) {
    case WF_EXPR__N_CONST:
        wf_expr__json_write(b, n->val, 0, NULL);
        return;
    case WF_EXPR__N_IDENT:
        cl_buf_append(b, n->s, n->slen);
        return;
    case WF_EXPR__N_POINTER:
        cl_buf_putc(b, '#');
        cl_buf_append(b, n->s, n->slen);
        return;
    case WF_EXPR__N_UNARY:
    case WF_EXPR__N_BINARY:
        cl_buf_printf(b, "(%s%s ", n->negate ? "not " : "", ops[n->op]);
        shape(n->a, b);
        if (n->b) {
            cl_buf_putc(b, ' ');
            shape(n->b, b);
        }
        cl_buf_putc(b, ')');
        return;
    case WF_EXPR__N_COND:
        cl_buf_puts(b, "(? ");
        shape(n->a, b);
        cl_buf_putc(b, ' ');
        shape(n->b, b);
        cl_buf_putc(b, ' ');
        shape(n->c, b);
        cl_buf_putc(b, ')');
        return;
    case WF_EXPR__N_MEMBER:
        cl_buf_puts(b, n->opt ? "(?. " : "(. ");
        shape(n->a, b);
        cl_buf_putc(b, ' ');
        shape(n->b, b);
        cl_buf_putc(b, ')');
        return;
    case WF_EXPR__N_SLICE:
        cl_buf_puts(b, "(: ");
        shape(n->a, b);
        cl_buf_putc(b, ' ');
        if (n->b)
            shape(n->b, b);
        else
            cl_buf_putc(b, '_');
        cl_buf_putc(b, ' ');
        if (n->c)
            shape(n->c, b);
        else
            cl_buf_putc(b, '_');
        cl_buf_putc(b, ')');
        return;
    case WF_EXPR__N_CALL:
    case WF_EXPR__N_ARRAY:
    case WF_EXPR__N_MAP:
        if (n->kind == WF_EXPR__N_CALL)
            cl_buf_printf(b, "(%.*s", (int)n->slen, n->s);
        else
            cl_buf_puts(b, n->kind == WF_EXPR__N_ARRAY ? "([]" : "({}");
        for (size_t i = 0; i < n->nargs; i++) {
            cl_buf_putc(b, ' ');
            shape(n->args[i], b);
        }
        cl_buf_putc(b, ')');
        return;
    case WF_EXPR__N_CLOSURE:
        cl_buf_puts(b, "{");
        shape(n->a, b);
        cl_buf_puts(b, "}");
        return;
    case WF_EXPR__N_LET:
        cl_buf_printf(b, "(let %.*s ", (int)n->slen, n->s);
        shape(n->a, b);
        cl_buf_putc(b, ' ');
        shape(n->b, b);
        cl_buf_putc(b, ')');
        return;
    }
}

static void shape_is(const char *file, int line, const char *src,
                     const char *want)
{
    wf_expr__arena *arena;
    wf_expr__node *root;
    cl_errmsg err;
    int rv = wf_expr__parse(src, strlen(src), &arena, &root, &err);
    if (rv != 0) {
        wf_expr__arena_free(arena);
        print_error("%s: %s\n", src, err.msg);
        _fail(file, line);
    }
    cl_buf b = CL_BUF_INIT;
    shape(root, &b);
    wf_expr__arena_free(arena);
    if (strcmp(b.data, want) != 0) {
        print_error("%s\n  got  %s\n  want %s\n", src, b.data, want);
        cl_buf_free(&b);
        _fail(file, line);
    }
    cl_buf_free(&b);
}
#define assert_shape(src, want) shape_is(__FILE__, __LINE__, src, want)

static void test_precedence(void **state)
{
    (void)state;
    assert_shape("1 + 2 * 3", "(+ 1 (* 2 3))");
    assert_shape("1 - 2 - 3", "(- (- 1 2) 3)");
    assert_shape("2 ** 3 ** 2", "(** 2 (** 3 2))");
    assert_shape("-2 ** 2", "(neg (** 2 2))");
    assert_shape("!a == b", "(== (! a) b)");
    assert_shape("not a in b", "(in (! a) b)");
    assert_shape("a || b && c", "(|| a (&& b c))");
    assert_shape("a or b and not c", "(|| a (&& b (! c)))");
    assert_shape("a == 1 ? b : c", "(? (== a 1) b c)");
    assert_shape("a ? b : c ? d : e", "(? a b (? c d e))");
    assert_shape("a ?: b", "(? a a b)");
    assert_shape("a ?? b + 1", "(+ (?? a b) 1)");
    assert_shape("1..2 + 3", "(.. 1 (+ 2 3))");
    assert_shape("a < 1 == b", "(== (< a 1) b)");
    assert_shape("x not matches 'y'", "(not matches x \"y\")");
    assert_shape("x not startsWith 'y'", "(not startsWith x \"y\")");
}

static void test_postfix(void **state)
{
    (void)state;
    assert_shape("a.b['c'][0]", "(. (. (. a \"b\") \"c\") 0)");
    assert_shape("a?.b.c", "(. (?. a \"b\") \"c\")");
    assert_shape("a?.[1]", "(?. a 1)");
    assert_shape("a[1:2]", "(: a 1 2)");
    assert_shape("a[:2]", "(: a _ 2)");
    assert_shape("a[1:]", "(: a 1 _)");
    assert_shape("a ? .5 : 1", "(? a 0.5 1)");
    assert_shape("sprig.add(1, 2)", "(add 1 2)");
    assert_shape("len([1, {a: 2}])", "(len ([] 1 ({} \"a\" 2)))");
    assert_shape("filter(x, # > 1)", "(filter x {(> # 1)})");
    assert_shape("map(x, {.a})", "(map x {(. # \"a\")})");
    assert_shape("x | map(#index)", "(map x {#index})");
    assert_shape("x | upper()", "(upper x)");
    assert_shape("x | join(',')", "(join x \",\")");
    assert_shape("let v = 1; v", "(let v 1 v)");
    assert_shape("1..3", "(.. 1 3)");
    assert_shape("1.5", "1.5");
}

static void test_columns(void **state)
{
    (void)state;
    assert_expr_err(NULL, "1 + * 2", CL_EEXPR, "col 5: unexpected '*'");
    assert_expr_err(NULL, "a.", CL_EEXPR, "col 3: expected a name");
    assert_expr_err(NULL, "f(1,", CL_EEXPR, "col 1: unknown function");
    assert_expr_err(NULL, "len(1,", CL_EEXPR, "col 7: unexpected end");
    assert_expr_err(NULL, "'\\xZZ'", CL_EEXPR, "col 2: invalid \\x escape");
    assert_expr_err(NULL, "let = 1; 2", CL_EEXPR, "col 5: expected a name");
    assert_expr_err(NULL, "let x 1; 2", CL_EEXPR, "col 7: expected '='");
    assert_expr_err(NULL, "1 ? 2", CL_EEXPR, "expected ':'");
    assert_expr_err(NULL, "#index", CL_EEXPR, "col 1:");
    assert_expr_err(NULL, "map(x, #bad)", CL_EEXPR, "unknown pointer '#bad'");
    assert_expr_err(NULL, "1 not 2", CL_EEXPR, "col 3: unexpected token");
    assert_expr_err(NULL, "x | filter(# > 1)", CL_ENOENT, NULL);
}

static void test_arena(void **state)
{
    (void)state;
    /* a large tree spans several arena chunks and frees cleanly */
    cl_buf b = CL_BUF_INIT;
    cl_buf_puts(&b, "[");
    for (int i = 0; i < 5000; i++)
        cl_buf_printf(&b, "%s'string number %d'", i ? ", " : "", i);
    cl_buf_puts(&b, "]");
    wf_expr__arena *arena;
    wf_expr__node *root;
    assert_int_equal(wf_expr__parse(b.data, b.len, &arena, &root, NULL), 0);
    assert_int_equal(root->nargs, 5000);
    wf_expr__arena_free(arena);
    wf_expr__arena_free(NULL);
    cl_buf_free(&b);
    /* every allocation failure is reported, and nothing leaks */
    const char *src =
        "map(filter(a.b['c'], # > 1), {{x: #, 'y': [1, 2.5], z: `raw`}})";
    int oom = 0, ok = 0;
    for (int delay = 0; delay < 200 && ok < 3; delay++) {
        cl_errmsg err;
        cl_heap_fault_enable(delay, 1);
        int rv = wf_expr__parse(src, strlen(src), &arena, &root, &err);
        wf_expr__arena_free(arena);
        cl_heap_fault_disable();
        cl_heap_set(&expr_test_heap);
        if (rv == 0) {
            ok++;
        } else {
            assert_int_equal(rv, CL_ENOMEM);
            oom++;
        }
    }
    assert_true(oom > 3);
    assert_true(ok > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        EXPR_TEST(test_precedence),
        EXPR_TEST(test_postfix),
        EXPR_TEST(test_columns),
        EXPR_TEST(test_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
