/* wf_expr_eval.c - the expr-lang tree walker and the public wf_expr_eval.
 *
 * Semantics follow expr-lang (https://expr-lang.org/docs/language-definition)
 * with these deliberate choices, all listed in README.md:
 * - A name or map key that is absent fails with CL_ENOENT (expr-lang yields
 *   nil for a missing key) so that the engine can retry the tag later;
 *   `?.` and `??` turn that absence into nil / the fallback.
 * - `/` always yields a float (as expr-lang); `%` needs integers.
 * - Integer arithmetic wraps on overflow as Go's int64 does.
 * - Division by zero and non-finite results are errors, because JSON has
 *   no NaN or infinities.
 */
#include "workflow/expr/wf_expr.h"
#include "workflow/expr/wf_expr_ast.h"

#include "common/cl_heap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EVAL_MAX_DEPTH 1000       /* tree depth walked at once */
#define EVAL_MAX_WORK (64u << 20) /* work units: bytes built, elements x16 */

struct scope {
    json_t *elem; /* borrowed */
    int64_t index;
    json_t *acc; /* borrowed; NULL outside reduce */
    struct scope *up;
};

struct letv {
    const char *name;
    size_t len;
    json_t *val; /* owned */
    struct letv *up;
};

struct wf_expr__ev {
    json_t *env; /* borrowed */
    cl_errmsg *err;
    struct scope *scope;
    struct letv *lets;
    size_t steps, iters, work;
    int depth;
    bool nilchain; /* a ?. met nil: the rest of the chain yields nil */
};

cl_errmsg *wf_expr__ev_err(wf_expr__ev *ev)
{
    return ev->err;
}

int wf_expr__ev_budget(wf_expr__ev *ev, int col, size_t n)
{
    ev->work += n;
    if (ev->work > EVAL_MAX_WORK || n > EVAL_MAX_WORK)
        return wf_expr__fail(ev->err, CL_EEXPR, col,
                             "evaluation exceeds its work limit");
    return 0;
}

int wf_expr__ev_elems(wf_expr__ev *ev, int col, size_t n)
{
    if (n > EVAL_MAX_WORK / WF_EXPR__ELEM_COST)
        n = EVAL_MAX_WORK / WF_EXPR__ELEM_COST + 1;
    return wf_expr__ev_budget(ev, col, n * WF_EXPR__ELEM_COST);
}

size_t wf_expr__ev_budget_left(const wf_expr__ev *ev)
{
    return ev->work >= EVAL_MAX_WORK ? 0 : EVAL_MAX_WORK - ev->work;
}

static int fail(wf_expr__ev *e, int code, int col, const char *fmt,
                const char *a, const char *b)
{
    return wf_expr__fail(e->err, code, col, fmt, a, b);
}

static int eval(wf_expr__ev *e, const wf_expr__node *n, json_t **out);

/* Human path of a member chain ("steps.flip-coin.outputs") for messages. */
static void describe(const wf_expr__node *n, cl_buf *b, int depth)
{
    if (depth > 20) {
        cl_buf_puts(b, "...");
        return;
    }
    switch (n->kind) {
    case WF_EXPR__N_IDENT:
        cl_buf_append(b, n->s, n->slen);
        return;
    case WF_EXPR__N_POINTER:
        cl_buf_putc(b, '#');
        cl_buf_append(b, n->s, n->slen);
        return;
    case WF_EXPR__N_MEMBER:
        describe(n->a, b, depth + 1);
        if (n->b->kind == WF_EXPR__N_CONST && json_is_string(n->b->val)) {
            cl_buf_putc(b, '.');
            cl_buf_append(b, json_string_value(n->b->val),
                          json_string_length(n->b->val));
        } else if (n->b->kind == WF_EXPR__N_CONST &&
                   json_is_integer(n->b->val)) {
            cl_buf_printf(b, "[%lld]",
                          (long long)json_integer_value(n->b->val));
        } else {
            cl_buf_puts(b, "[...]");
        }
        return;
    default:
        cl_buf_puts(b, "(...)");
    }
}

static int type_err(wf_expr__ev *e, int col, const char *op, const json_t *a,
                    const json_t *b)
{
    if (b == NULL)
        return wf_expr__fail(e->err, CL_EEXPR, col,
                             "invalid operation: %s (mismatched type %s)", op,
                             wf_expr__type_name(a));
    return wf_expr__fail(e->err, CL_EEXPR, col,
                         "invalid operation: %s (mismatched types %s and %s)",
                         op, wf_expr__type_name(a), wf_expr__type_name(b));
}

/* UTF-8 code point boundaries: byte offset of rune index i, or len. */
static size_t rune_off(const char *s, size_t len, int64_t i)
{
    size_t off = 0;
    while (i > 0 && off < len) {
        off++;
        while (off < len && ((unsigned char)s[off] & 0xc0) == 0x80)
            off++;
        i--;
    }
    return off;
}

static int64_t rune_count(const char *s, size_t len)
{
    int64_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            n++;
    return n;
}

static bool to_index(const json_t *k, int64_t *out)
{
    if (json_is_integer(k)) {
        *out = json_integer_value(k);
        return true;
    }
    if (json_is_real(k)) {
        double d = json_real_value(k);
        if (d != d || d >= 9.2e18 || d <= -9.2e18)
            return false;
        *out = (int64_t)d;
        return true;
    }
    return false;
}

static int fetch(wf_expr__ev *e, const wf_expr__node *n, json_t *obj,
                 json_t *key, json_t **out)
{
    int col = n->col;
    if (json_is_object(obj)) {
        if (!json_is_string(key))
            return type_err(e, col, "[]", obj, key);
        json_t *v = json_object_getn(obj, json_string_value(key),
                                     json_string_length(key));
        if (v == NULL) {
            if (n->opt || n->soft) {
                *out = json_null();
                return 0;
            }
            cl_buf path = CL_BUF_INIT;
            describe(n->a, &path, 0);
            char k[128];
            snprintf(k, sizeof(k), "%.*s",
                     (int)(json_string_length(key) < 100
                               ? json_string_length(key)
                               : 100),
                     json_string_value(key));
            int rv = fail(e, CL_ENOENT, col, "no key '%s' in %s", k,
                          path.data ? path.data : "map");
            cl_buf_free(&path);
            return rv;
        }
        *out = json_incref(v);
        return 0;
    }
    if (json_is_array(obj) || json_is_string(obj)) {
        int64_t i;
        if (!to_index(key, &i))
            return type_err(e, col, "[]", obj, key);
        int64_t len = json_is_array(obj)
                          ? (int64_t)json_array_size(obj)
                          : rune_count(json_string_value(obj),
                                       json_string_length(obj));
        if (i < 0)
            i += len;
        if (i < 0 || i >= len) {
            char a[32], b[32];
            snprintf(a, sizeof(a), "%lld", (long long)(i < 0 ? i - len : i));
            snprintf(b, sizeof(b), "%lld", (long long)len);
            return fail(e, CL_EEXPR, col,
                        "index out of range: %s (array length is %s)", a, b);
        }
        if (json_is_array(obj)) {
            *out = json_incref(json_array_get(obj, (size_t)i));
            return 0;
        }
        const char *s = json_string_value(obj);
        size_t slen = json_string_length(obj);
        size_t a = rune_off(s, slen, i);
        size_t b = rune_off(s + a, slen - a, 1) + a;
        return wf_expr__str(s + a, b - a, out, e->err);
    }
    if (json_is_null(obj)) {
        if (n->opt) {
            *out = json_null();
            return 0;
        }
        char k[128] = "";
        if (json_is_string(key))
            snprintf(k, sizeof(k), "%.*s",
                     (int)(json_string_length(key) < 100
                               ? json_string_length(key)
                               : 100),
                     json_string_value(key));
        return fail(e, CL_EEXPR, col, "cannot fetch %s from %s", k, "nil");
    }
    return type_err(e, col, "[]", obj, key);
}

static int eval_member(wf_expr__ev *e, const wf_expr__node *n, json_t **out)
{
    json_t *obj = NULL, *key = NULL;
    int rv = eval(e, n->a, &obj);
    if (rv != 0)
        goto done;
    if (e->nilchain) { /* an earlier ?. met nil */
        *out = obj;
        obj = NULL;
        goto done;
    }
    if (json_is_null(obj) && n->opt) {
        e->nilchain = true;
        *out = obj;
        obj = NULL;
        goto done;
    }
    rv = eval(e, n->b, &key);
    if (rv != 0)
        goto done;
    rv = fetch(e, n, obj, key, out);
done:
    if (n->chain_end)
        e->nilchain = false;
    json_decref(obj);
    json_decref(key);
    return rv;
}

static int slice_bound(wf_expr__ev *e, const wf_expr__node *n, int64_t dflt,
                       int64_t len, int64_t *out)
{
    *out = dflt;
    if (n == NULL)
        return 0;
    json_t *v;
    int rv = eval(e, n, &v);
    if (rv != 0)
        return rv;
    int64_t i;
    if (!to_index(v, &i)) {
        rv = type_err(e, n->col, "[:]", v, NULL);
        json_decref(v);
        return rv;
    }
    json_decref(v);
    if (i < 0)
        i += len;
    if (i < 0)
        i = 0;
    if (i > len)
        i = len;
    *out = i;
    return 0;
}

static int eval_slice(wf_expr__ev *e, const wf_expr__node *n, json_t **out)
{
    json_t *obj = NULL;
    int rv = eval(e, n->a, &obj);
    if (rv != 0)
        goto done;
    if (e->nilchain || (json_is_null(obj) && n->opt)) {
        e->nilchain = true;
        *out = obj;
        obj = NULL;
        goto done;
    }
    if (!json_is_array(obj) && !json_is_string(obj)) {
        rv = type_err(e, n->col, "[:]", obj, NULL);
        goto done;
    }
    int64_t len = json_is_array(obj) ? (int64_t)json_array_size(obj)
                                     : rune_count(json_string_value(obj),
                                                  json_string_length(obj));
    int64_t from, to;
    if ((rv = slice_bound(e, n->b, 0, len, &from)) != 0 ||
        (rv = slice_bound(e, n->c, len, len, &to)) != 0)
        goto done;
    if (from > to)
        from = to;
    if (json_is_string(obj)) {
        const char *s = json_string_value(obj);
        size_t slen = json_string_length(obj);
        size_t a = rune_off(s, slen, from);
        size_t b = rune_off(s, slen, to);
        rv = wf_expr__str(s + a, b - a, out, e->err);
        goto done;
    }
    json_t *arr;
    if ((rv = wf_expr__array(&arr, e->err)) != 0)
        goto done;
    for (int64_t i = from; i < to && rv == 0; i++)
        rv = wf_expr__push(arr, json_incref(json_array_get(obj, (size_t)i)),
                           e->err);
    if (rv == 0)
        rv = wf_expr__ev_elems(e, n->col, (size_t)(to - from));
    if (rv != 0)
        json_decref(arr);
    else
        *out = arr;
done:
    if (n->chain_end)
        e->nilchain = false;
    json_decref(obj);
    return rv;
}

/* ---- operators ---- */

static int cmp_values(wf_expr__ev *e, int col, const char *op,
                      const json_t *a, const json_t *b, int *out)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        *out = x < y ? -1 : x > y;
        return 0;
    }
    if (wf_expr__is_num(a) && wf_expr__is_num(b)) {
        double x = wf_expr__num(a), y = wf_expr__num(b);
        *out = x < y ? -1 : x > y ? 1 : 0;
        return 0;
    }
    if (json_is_string(a) && json_is_string(b)) {
        size_t la = json_string_length(a), lb = json_string_length(b);
        int c = memcmp(json_string_value(a), json_string_value(b),
                       la < lb ? la : lb);
        *out = c != 0 ? (c < 0 ? -1 : 1) : (la < lb ? -1 : la > lb);
        return 0;
    }
    return type_err(e, col, op, a, b);
}

static int arith(wf_expr__ev *e, int col, int op, const json_t *a,
                 const json_t *b, json_t **out)
{
    static const char *const names[] = {
        [WF_EXPR__OP_ADD] = "+", [WF_EXPR__OP_SUB] = "-",
        [WF_EXPR__OP_MUL] = "*", [WF_EXPR__OP_DIV] = "/",
        [WF_EXPR__OP_MOD] = "%", [WF_EXPR__OP_POW] = "**",
    };
    if (op == WF_EXPR__OP_ADD && json_is_string(a) && json_is_string(b)) {
        size_t la = json_string_length(a), lb = json_string_length(b);
        if (la + lb > WF_EXPR__MAX_STR)
            return wf_expr__fail(e->err, CL_EEXPR, col,
                                 "string exceeds the size limit");
        int rv = wf_expr__ev_budget(e, col, la + lb);
        if (rv != 0)
            return rv;
        char *buf = cl_malloc(la + lb + 1);
        if (buf == NULL)
            return wf_expr__fail(e->err, CL_ENOMEM, 0, "out of memory");
        memcpy(buf, json_string_value(a), la);
        memcpy(buf + la, json_string_value(b), lb);
        rv = wf_expr__str(buf, la + lb, out, e->err);
        cl_free(buf);
        return rv;
    }
    if (!wf_expr__is_num(a) || !wf_expr__is_num(b))
        return type_err(e, col, names[op], a, b);
    bool ints = json_is_integer(a) && json_is_integer(b);
    if (ints && op != WF_EXPR__OP_DIV && op != WF_EXPR__OP_POW) {
        uint64_t x = (uint64_t)json_integer_value(a);
        uint64_t y = (uint64_t)json_integer_value(b);
        int64_t r;
        switch (op) {
        case WF_EXPR__OP_ADD:
            r = (int64_t)(x + y);
            break;
        case WF_EXPR__OP_SUB:
            r = (int64_t)(x - y);
            break;
        case WF_EXPR__OP_MUL:
            r = (int64_t)(x * y);
            break;
        default: /* MOD */
            if (y == 0)
                return wf_expr__fail(e->err, CL_EEXPR, col,
                                     "integer divide by zero");
            if ((int64_t)y == -1)
                r = 0;
            else
                r = (int64_t)x % (int64_t)y;
        }
        return wf_expr__int(r, out, e->err);
    }
    if (op == WF_EXPR__OP_MOD)
        return type_err(e, col, "%", a, b);
    double x = wf_expr__num(a), y = wf_expr__num(b), r;
    switch (op) {
    case WF_EXPR__OP_ADD:
        r = x + y;
        break;
    case WF_EXPR__OP_SUB:
        r = x - y;
        break;
    case WF_EXPR__OP_MUL:
        r = x * y;
        break;
    case WF_EXPR__OP_DIV:
        if (y == 0)
            return wf_expr__fail(e->err, CL_EEXPR, col, "division by zero");
        r = x / y;
        break;
    default:
        r = pow(x, y);
    }
    if (isnan(r) || isinf(r))
        return wf_expr__fail(e->err, CL_EEXPR, col,
                             "result of %s is not a finite number",
                             names[op]);
    return wf_expr__real(r, out, e->err);
}

static bool str_has(const json_t *s, const json_t *sub, int where)
{
    const char *a = json_string_value(s), *b = json_string_value(sub);
    size_t la = json_string_length(s), lb = json_string_length(sub);
    if (lb > la)
        return false;
    if (where < 0)
        return memcmp(a, b, lb) == 0;
    if (where > 0)
        return memcmp(a + la - lb, b, lb) == 0;
    if (lb == 0)
        return true;
    for (size_t i = 0; i + lb <= la; i++)
        if (a[i] == b[0] && memcmp(a + i, b, lb) == 0)
            return true;
    return false;
}

static int binary(wf_expr__ev *e, const wf_expr__node *n, json_t *a,
                  json_t *b, json_t **out)
{
    int col = n->col;
    int c = 0, rv;
    bool r;
    switch (n->op) {
    case WF_EXPR__OP_EQ:
        return wf_expr__bool(wf_expr__equal(a, b), out);
    case WF_EXPR__OP_NE:
        return wf_expr__bool(!wf_expr__equal(a, b), out);
    case WF_EXPR__OP_LT:
    case WF_EXPR__OP_LE:
    case WF_EXPR__OP_GT:
    case WF_EXPR__OP_GE: {
        static const char *const nm[] = {[WF_EXPR__OP_LT] = "<",
                                         [WF_EXPR__OP_LE] = "<=",
                                         [WF_EXPR__OP_GT] = ">",
                                         [WF_EXPR__OP_GE] = ">="};
        if ((rv = cmp_values(e, col, nm[n->op], a, b, &c)) != 0)
            return rv;
        r = n->op == WF_EXPR__OP_LT   ? c < 0
            : n->op == WF_EXPR__OP_LE ? c <= 0
            : n->op == WF_EXPR__OP_GT ? c > 0
                                      : c >= 0;
        return wf_expr__bool(r, out);
    }
    case WF_EXPR__OP_IN:
        if (json_is_array(b)) {
            r = false;
            for (size_t i = 0; i < json_array_size(b) && !r; i++)
                r = wf_expr__equal(a, json_array_get(b, i));
        } else if (json_is_object(b)) {
            if (!json_is_string(a))
                return type_err(e, col, "in", a, b);
            r = json_object_getn(b, json_string_value(a),
                                 json_string_length(a)) != NULL;
        } else if (json_is_null(b)) {
            r = false;
        } else {
            return type_err(e, col, "in", a, b);
        }
        return wf_expr__bool(r != n->negate, out);
    case WF_EXPR__OP_MATCHES:
        if (!json_is_string(a) || !json_is_string(b))
            return type_err(e, col, "matches", a, b);
        rv = wf_expr__re_match(json_string_value(b), json_string_length(b),
                               json_string_value(a), json_string_length(a),
                               &r, e->err);
        if (rv != 0)
            return wf_expr__fail(e->err, rv, col, "%s", e->err->msg);
        return wf_expr__bool(r != n->negate, out);
    case WF_EXPR__OP_CONTAINS:
    case WF_EXPR__OP_STARTS:
    case WF_EXPR__OP_ENDS: {
        const char *nm = n->op == WF_EXPR__OP_CONTAINS ? "contains"
                         : n->op == WF_EXPR__OP_STARTS ? "startsWith"
                                                       : "endsWith";
        if (!json_is_string(a) || !json_is_string(b))
            return type_err(e, col, nm, a, b);
        r = str_has(a, b,
                    n->op == WF_EXPR__OP_CONTAINS ? 0
                    : n->op == WF_EXPR__OP_STARTS ? -1
                                                  : 1);
        return wf_expr__bool(r != n->negate, out);
    }
    case WF_EXPR__OP_RANGE: {
        if (!json_is_integer(a) || !json_is_integer(b))
            return type_err(e, col, "..", a, b);
        int64_t x = json_integer_value(a), y = json_integer_value(b);
        json_t *arr;
        if ((rv = wf_expr__array(&arr, e->err)) != 0)
            return rv;
        if (y >= x && (uint64_t)y - (uint64_t)x >= WF_EXPR__MAX_ARRAY) {
            json_decref(arr);
            return wf_expr__fail(e->err, CL_EEXPR, col,
                                 "range exceeds %u elements",
                                 WF_EXPR__MAX_ARRAY);
        }
        if (y >= x)
            rv = wf_expr__ev_elems(e, col, (size_t)(y - x + 1));
        for (int64_t i = x; i <= y && rv == 0; i++) {
            rv = wf_expr__push(arr, json_integer(i), e->err);
            if (i == INT64_MAX)
                break;
        }
        if (rv != 0) {
            json_decref(arr);
            return rv;
        }
        *out = arr;
        return 0;
    }
    default:
        return arith(e, col, n->op, a, b, out);
    }
}

static int want_bool(wf_expr__ev *e, const wf_expr__node *n, const char *op,
                     bool *out)
{
    json_t *v;
    int rv = eval(e, n, &v);
    if (rv != 0)
        return rv;
    if (!json_is_boolean(v)) {
        rv = type_err(e, n->col, op, v, NULL);
        json_decref(v);
        return rv;
    }
    *out = json_is_true(v);
    json_decref(v);
    return 0;
}

static int eval_binary(wf_expr__ev *e, const wf_expr__node *n, json_t **out)
{
    int rv;
    if (n->op == WF_EXPR__OP_AND || n->op == WF_EXPR__OP_OR) {
        const char *nm = n->op == WF_EXPR__OP_AND ? "&&" : "||";
        bool l, r;
        if ((rv = want_bool(e, n->a, nm, &l)) != 0)
            return rv;
        if (l == (n->op == WF_EXPR__OP_OR))
            return wf_expr__bool(l, out);
        if ((rv = want_bool(e, n->b, nm, &r)) != 0)
            return rv;
        return wf_expr__bool(r, out);
    }
    json_t *a = NULL, *b = NULL;
    if (n->op == WF_EXPR__OP_COALESCE) {
        rv = eval(e, n->a, &a);
        if (rv == 0 && !json_is_null(a)) {
            *out = a;
            return 0;
        }
        if (rv != 0 && rv != CL_ENOENT)
            return rv;
        json_decref(a);
        return eval(e, n->b, out);
    }
    if ((rv = eval(e, n->a, &a)) != 0)
        return rv;
    if ((rv = eval(e, n->b, &b)) != 0) {
        json_decref(a);
        return rv;
    }
    rv = binary(e, n, a, b, out);
    json_decref(a);
    json_decref(b);
    return rv;
}

static int eval_unary(wf_expr__ev *e, const wf_expr__node *n, json_t **out)
{
    json_t *v;
    int rv = eval(e, n->a, &v);
    if (rv != 0)
        return rv;
    switch (n->op) {
    case WF_EXPR__OP_NOT:
        if (!json_is_boolean(v))
            rv = type_err(e, n->col, "!", v, NULL);
        else
            rv = wf_expr__bool(!json_is_true(v), out);
        break;
    case WF_EXPR__OP_NEG:
        if (json_is_integer(v))
            rv = wf_expr__int(
                (int64_t)(0 - (uint64_t)json_integer_value(v)), out, e->err);
        else if (json_is_real(v))
            rv = wf_expr__real(-json_real_value(v), out, e->err);
        else
            rv = type_err(e, n->col, "-", v, NULL);
        break;
    default:
        if (!wf_expr__is_num(v)) {
            rv = type_err(e, n->col, "+", v, NULL);
        } else {
            *out = v;
            return 0;
        }
    }
    json_decref(v);
    return rv;
}

/* ---- closures ---- */

static int run_closure(wf_expr__ev *e, const wf_expr__node *c, json_t *elem,
                       int64_t index, json_t *acc, json_t **out)
{
    if (++e->iters > WF_EXPR__MAX_ITER)
        return wf_expr__fail(e->err, CL_EEXPR, c->col,
                             "closures ran more than %u times",
                             WF_EXPR__MAX_ITER);
    int rv = wf_expr__ev_budget(e, c->col, 4);
    if (rv != 0)
        return rv;
    struct scope s = {elem, index, acc, e->scope};
    e->scope = &s;
    rv = eval(e, c->a, out);
    e->scope = s.up;
    return rv;
}

static int closure_bool(wf_expr__ev *e, const wf_expr__node *c, json_t *elem,
                        int64_t index, bool *out)
{
    json_t *v;
    int rv = run_closure(e, c, elem, index, NULL, &v);
    if (rv != 0)
        return rv;
    if (!json_is_boolean(v)) {
        rv = wf_expr__fail(e->err, CL_EEXPR, c->col,
                           "predicate should return boolean, not %s",
                           wf_expr__type_name(v));
        json_decref(v);
        return rv;
    }
    *out = json_is_true(v);
    json_decref(v);
    return 0;
}

struct sortkey {
    json_t *key;
    size_t idx;
};

static int sortkey_cmp(const void *x, const void *y)
{
    const struct sortkey *a = x, *b = y;
    int c;
    if (wf_expr__is_num(a->key)) {
        double p = wf_expr__num(a->key), q = wf_expr__num(b->key);
        c = p < q ? -1 : p > q;
    } else {
        size_t la = json_string_length(a->key),
               lb = json_string_length(b->key);
        c = memcmp(json_string_value(a->key), json_string_value(b->key),
                   la < lb ? la : lb);
        if (c == 0)
            c = la < lb ? -1 : la > lb;
    }
    if (c == 0) /* stable */
        c = a->idx < b->idx ? -1 : 1;
    return c;
}

static int sort_by(wf_expr__ev *e, const wf_expr__node *n, json_t *coll,
                   json_t **out)
{
    size_t len = json_array_size(coll);
    bool desc = false;
    int rv = 0;
    if (n->nargs == 3) {
        json_t *o;
        if ((rv = eval(e, n->args[2], &o)) != 0)
            return rv;
        if (json_is_string(o) && strcmp(json_string_value(o), "desc") == 0)
            desc = true;
        else if (!(json_is_string(o) &&
                   strcmp(json_string_value(o), "asc") == 0))
            rv = wf_expr__fail(e->err, CL_EEXPR, n->col,
                               "unknown order, use asc or desc");
        json_decref(o);
        if (rv != 0)
            return rv;
    }
    struct sortkey *keys = cl_calloc(len ? len : 1, sizeof(*keys));
    if (keys == NULL)
        return wf_expr__fail(e->err, CL_ENOMEM, 0, "out of memory");
    size_t got = 0;
    for (size_t i = 0; i < len && rv == 0; i++) {
        rv = run_closure(e, n->args[1], json_array_get(coll, i), (int64_t)i,
                         NULL, &keys[i].key);
        if (rv != 0)
            break;
        got++;
        keys[i].idx = i;
        bool num = wf_expr__is_num(keys[i].key);
        if (!num && !json_is_string(keys[i].key))
            rv = wf_expr__fail(e->err, CL_EEXPR, n->col,
                               "sortBy keys must be numbers or strings");
        else if (i > 0 && num != wf_expr__is_num(keys[0].key))
            rv = wf_expr__fail(e->err, CL_EEXPR, n->col,
                               "sortBy keys must all have one type");
    }
    json_t *arr = NULL;
    if (rv == 0) {
        qsort(keys, len, sizeof(*keys), sortkey_cmp);
        rv = wf_expr__array(&arr, e->err);
    }
    for (size_t i = 0; i < len && rv == 0; i++) {
        size_t k = desc ? len - 1 - i : i;
        rv = wf_expr__push(
            arr, json_incref(json_array_get(coll, keys[k].idx)), e->err);
    }
    for (size_t i = 0; i < got; i++)
        json_decref(keys[i].key);
    cl_free(keys);
    if (rv != 0) {
        json_decref(arr);
        return rv;
    }
    *out = arr;
    return 0;
}

static int eval_cfn(wf_expr__ev *e, const wf_expr__node *n, json_t **out)
{
    json_t *coll = NULL, *acc = NULL, *res = NULL;
    int rv = eval(e, n->args[0], &coll);
    if (rv != 0)
        return rv;
    if (!json_is_array(coll)) {
        rv = wf_expr__fail(e->err, CL_EEXPR, n->col,
                           "cannot iterate over %s",
                           wf_expr__type_name(coll));
        goto done;
    }
    const wf_expr__node *c = n->nargs > 1 ? n->args[1] : NULL;
    size_t len = json_array_size(coll);
    bool b = false;
    switch (n->cfn) {
    case WF_EXPR__C_ALL:
    case WF_EXPR__C_ANY:
    case WF_EXPR__C_NONE_OF: {
        /* all: stop at the first false; any/none: at the first true. */
        bool stop_on = n->cfn != WF_EXPR__C_ALL;
        bool hit = false;
        for (size_t i = 0; i < len && !hit; i++) {
            if ((rv = closure_bool(e, c, json_array_get(coll, i), (int64_t)i,
                                   &b)) != 0)
                goto done;
            hit = b == stop_on;
        }
        rv = wf_expr__bool(n->cfn == WF_EXPR__C_ANY ? hit : !hit, &res);
        break;
    }
    case WF_EXPR__C_ONE:
    case WF_EXPR__C_COUNT: {
        int64_t cnt = 0;
        for (size_t i = 0; i < len; i++) {
            json_t *el = json_array_get(coll, i);
            if (c != NULL) {
                if ((rv = closure_bool(e, c, el, (int64_t)i, &b)) != 0)
                    goto done;
            } else if (json_is_boolean(el)) {
                b = json_is_true(el);
            } else {
                rv = wf_expr__fail(e->err, CL_EEXPR, n->col,
                                   "count needs booleans or a predicate");
                goto done;
            }
            cnt += b;
        }
        if (n->cfn == WF_EXPR__C_ONE)
            rv = wf_expr__bool(cnt == 1, &res);
        else
            rv = wf_expr__int(cnt, &res, e->err);
        break;
    }
    case WF_EXPR__C_FILTER:
    case WF_EXPR__C_MAP:
        if ((rv = wf_expr__array(&res, e->err)) != 0)
            goto done;
        for (size_t i = 0; i < len && rv == 0; i++) {
            json_t *el = json_array_get(coll, i);
            if (n->cfn == WF_EXPR__C_FILTER) {
                if ((rv = closure_bool(e, c, el, (int64_t)i, &b)) == 0 && b)
                    rv = wf_expr__push(res, json_incref(el), e->err);
            } else {
                json_t *v;
                if ((rv = run_closure(e, c, el, (int64_t)i, NULL, &v)) == 0)
                    rv = wf_expr__push(res, v, e->err);
            }
        }
        if (rv == 0)
            rv = wf_expr__ev_elems(e, n->col, len);
        break;
    case WF_EXPR__C_SUM: {
        int64_t si = 0;
        double sf = 0;
        bool isf = false;
        for (size_t i = 0; i < len; i++) {
            json_t *v = json_array_get(coll, i);
            json_t *tmp = NULL;
            if (c != NULL) {
                if ((rv = run_closure(e, c, v, (int64_t)i, NULL, &tmp)) != 0)
                    goto done;
                v = tmp;
            }
            if (json_is_integer(v)) {
                si = (int64_t)((uint64_t)si + (uint64_t)json_integer_value(v));
            } else if (json_is_real(v)) {
                isf = true;
                sf += json_real_value(v);
            } else {
                rv = wf_expr__fail(e->err, CL_EEXPR, n->col,
                                   "sum needs numbers, not %s",
                                   wf_expr__type_name(v));
                json_decref(tmp);
                goto done;
            }
            json_decref(tmp);
        }
        rv = isf ? wf_expr__real(sf + (double)si, &res, e->err)
                 : wf_expr__int(si, &res, e->err);
        break;
    }
    case WF_EXPR__C_FIND:
    case WF_EXPR__C_FIND_INDEX:
    case WF_EXPR__C_FIND_LAST:
    case WF_EXPR__C_FIND_LAST_INDEX: {
        bool last = n->cfn == WF_EXPR__C_FIND_LAST ||
                    n->cfn == WF_EXPR__C_FIND_LAST_INDEX;
        bool idx = n->cfn == WF_EXPR__C_FIND_INDEX ||
                   n->cfn == WF_EXPR__C_FIND_LAST_INDEX;
        int64_t found = -1;
        for (size_t k = 0; k < len && found < 0; k++) {
            size_t i = last ? len - 1 - k : k;
            if ((rv = closure_bool(e, c, json_array_get(coll, i), (int64_t)i,
                                   &b)) != 0)
                goto done;
            if (b)
                found = (int64_t)i;
        }
        if (idx)
            rv = wf_expr__int(found, &res, e->err);
        else
            res = found < 0 ? json_null()
                            : json_incref(json_array_get(coll, (size_t)found));
        break;
    }
    case WF_EXPR__C_GROUP_BY:
        if ((rv = wf_expr__object(&res, e->err)) != 0)
            goto done;
        for (size_t i = 0; i < len && rv == 0; i++) {
            json_t *el = json_array_get(coll, i), *k;
            if ((rv = run_closure(e, c, el, (int64_t)i, NULL, &k)) != 0)
                break;
            cl_buf kb = CL_BUF_INIT;
            rv = wf_expr__gofmt(&kb, k, e->err);
            json_decref(k);
            if (rv == 0) {
                const char *ks = kb.data ? kb.data : "";
                json_t *g = json_object_getn(res, ks, kb.len);
                if (g == NULL) {
                    rv = wf_expr__ev_elems(e, n->col, 2);
                    if (rv == 0)
                        rv = wf_expr__array(&g, e->err);
                    if (rv == 0)
                        rv = wf_expr__put(res, ks, kb.len, g, e->err);
                }
                if (rv == 0)
                    rv = wf_expr__push(g, json_incref(el), e->err);
            }
            cl_buf_free(&kb);
        }
        break;
    case WF_EXPR__C_SORT_BY:
        rv = sort_by(e, n, coll, &res);
        break;
    case WF_EXPR__C_REDUCE: {
        size_t start = 0;
        if (n->nargs == 3) {
            if ((rv = eval(e, n->args[2], &acc)) != 0)
                goto done;
        } else if (len > 0) {
            acc = json_incref(json_array_get(coll, 0));
            start = 1;
        } else {
            acc = json_null();
        }
        for (size_t i = start; i < len; i++) {
            json_t *next;
            if ((rv = run_closure(e, c, json_array_get(coll, i), (int64_t)i,
                                  acc, &next)) != 0)
                goto done;
            json_decref(acc);
            acc = next;
            /* #acc is the only way a value can nest itself: bound it so
             * no later walk (or jansson's own release) recurses too deep. */
            size_t visited = 0;
            bool deep = wf_expr__depth_over(acc, WF_EXPR__MAX_BUILD_DEPTH,
                                            &visited);
            if ((rv = wf_expr__ev_budget(e, n->col, visited)) != 0)
                goto done;
            if (deep) {
                rv = wf_expr__fail(e->err, CL_EEXPR, n->col,
                                   "reduce result nested deeper than %d "
                                   "levels",
                                   WF_EXPR__MAX_BUILD_DEPTH);
                goto done;
            }
        }
        res = acc;
        acc = NULL;
        break;
    }
    default:
        rv = wf_expr__fail(e->err, CL_EEXPR, n->col, "unknown builtin");
    }
done:
    json_decref(coll);
    json_decref(acc);
    if (rv != 0) {
        json_decref(res);
        return rv;
    }
    *out = res;
    return 0;
}

static int eval_call(wf_expr__ev *e, const wf_expr__node *n, json_t **out)
{
    if (n->cfn != WF_EXPR__C_NONE)
        return eval_cfn(e, n, out);
    json_t *small[8];
    json_t **args = small;
    if (n->nargs > 8) {
        args = cl_calloc(n->nargs, sizeof(*args));
        if (args == NULL)
            return wf_expr__fail(e->err, CL_ENOMEM, 0, "out of memory");
    }
    size_t got = 0;
    int rv = 0;
    for (; got < n->nargs; got++)
        if ((rv = eval(e, n->args[got], &args[got])) != 0)
            break;
    if (rv == 0) {
        cl_errmsg_clear(e->err ? e->err : NULL);
        rv = n->def->fn(e, n->col, args, n->nargs, out);
        if (rv != 0 && e->err != NULL &&
            strncmp(e->err->msg, "col ", 4) != 0) {
            /* Builtins report without a position: add the call's. */
            char tmp[CL_ERRMSG_SIZE];
            snprintf(tmp, sizeof(tmp), "%s", e->err->msg);
            wf_expr__fail(e->err, rv, n->col, "%s: %s", n->def->name, tmp);
        }
    }
    for (size_t i = 0; i < got; i++)
        json_decref(args[i]);
    if (args != small)
        cl_free(args);
    return rv;
}

static int eval_collection(wf_expr__ev *e, const wf_expr__node *n,
                           json_t **out)
{
    bool map = n->kind == WF_EXPR__N_MAP;
    json_t *res;
    int rv = map ? wf_expr__object(&res, e->err)
                 : wf_expr__array(&res, e->err);
    if (rv != 0)
        return rv;
    for (size_t i = 0; i < n->nargs && rv == 0; i += map ? 2 : 1) {
        json_t *k = NULL, *v = NULL;
        if (map) {
            if ((rv = eval(e, n->args[i], &k)) != 0)
                break;
            if (!json_is_string(k)) {
                rv = wf_expr__fail(e->err, CL_EEXPR, n->args[i]->col,
                                   "map key must be a string, not %s",
                                   wf_expr__type_name(k));
                json_decref(k);
                break;
            }
        }
        rv = eval(e, n->args[map ? i + 1 : i], &v);
        if (rv == 0)
            rv = map ? wf_expr__put(res, json_string_value(k),
                                    json_string_length(k), v, e->err)
                     : wf_expr__push(res, v, e->err);
        json_decref(k);
    }
    if (rv != 0) {
        json_decref(res);
        return rv;
    }
    *out = res;
    return 0;
}

static int eval_ident(wf_expr__ev *e, const wf_expr__node *n, json_t **out)
{
    for (struct letv *l = e->lets; l; l = l->up) {
        if (l->len == n->slen && memcmp(l->name, n->s, n->slen) == 0) {
            *out = json_incref(l->val);
            return 0;
        }
    }
    json_t *v = json_is_object(e->env)
                    ? json_object_getn(e->env, n->s, n->slen)
                    : NULL;
    if (v == NULL) {
        char nm[128];
        snprintf(nm, sizeof(nm), "%.*s", (int)(n->slen < 100 ? n->slen : 100),
                 n->s);
        return wf_expr__fail(e->err, CL_ENOENT, n->col, "unknown name %s",
                             nm);
    }
    *out = json_incref(v);
    return 0;
}

static int eval_node(wf_expr__ev *e, const wf_expr__node *n, json_t **out)
{
    switch (n->kind) {
    case WF_EXPR__N_CONST:
        *out = json_incref(n->val);
        return 0;
    case WF_EXPR__N_IDENT:
        return eval_ident(e, n, out);
    case WF_EXPR__N_POINTER:
        if (e->scope == NULL)
            return wf_expr__fail(e->err, CL_EEXPR, n->col,
                                 "'#' outside a closure");
        if (n->slen == 0) {
            *out = json_incref(e->scope->elem);
            return 0;
        }
        if (n->slen == 5) /* #index */
            return wf_expr__int(e->scope->index, out, e->err);
        *out = e->scope->acc ? json_incref(e->scope->acc) : json_null();
        return 0;
    case WF_EXPR__N_ARRAY:
    case WF_EXPR__N_MAP:
        return eval_collection(e, n, out);
    case WF_EXPR__N_MEMBER:
        return eval_member(e, n, out);
    case WF_EXPR__N_SLICE:
        return eval_slice(e, n, out);
    case WF_EXPR__N_CALL:
        return eval_call(e, n, out);
    case WF_EXPR__N_UNARY:
        return eval_unary(e, n, out);
    case WF_EXPR__N_BINARY:
        return eval_binary(e, n, out);
    case WF_EXPR__N_COND: {
        bool c;
        int rv = want_bool(e, n->a, "?:", &c);
        if (rv != 0)
            return rv;
        return eval(e, c ? n->b : n->c, out);
    }
    case WF_EXPR__N_LET: {
        struct letv l = {n->s, n->slen, NULL, e->lets};
        int rv = eval(e, n->a, &l.val);
        if (rv != 0)
            return rv;
        e->lets = &l;
        rv = eval(e, n->b, out);
        e->lets = l.up;
        json_decref(l.val);
        return rv;
    }
    default:
        return wf_expr__fail(e->err, CL_EEXPR, n->col,
                             "a closure is only valid as an argument");
    }
}

static int eval(wf_expr__ev *e, const wf_expr__node *n, json_t **out)
{
    *out = NULL;
    if (++e->steps > WF_EXPR__MAX_STEPS)
        return wf_expr__fail(e->err, CL_EEXPR, n->col,
                             "evaluation exceeds %u steps",
                             WF_EXPR__MAX_STEPS);
    if (++e->depth > EVAL_MAX_DEPTH) {
        e->depth--;
        return wf_expr__fail(e->err, CL_EEXPR, n->col,
                             "expression nested too deeply");
    }
    int rv = eval_node(e, n, out);
    e->depth--;
    if (rv != 0 && *out != NULL) {
        json_decref(*out);
        *out = NULL;
    }
    return rv;
}

int wf_expr_eval(const char *src, json_t *env, json_t **out, cl_errmsg *err)
{
    *out = NULL;
    if (src == NULL)
        return wf_expr__fail(err, CL_EINVAL, 0, "no expression");
    wf_expr__arena *arena;
    wf_expr__node *root;
    int rv = wf_expr__parse(src, strlen(src), &arena, &root, err);
    if (rv == 0) {
        cl_errmsg local;
        wf_expr__ev e;
        memset(&e, 0, sizeof(e));
        e.env = env;
        /* Builtins format through err; give them a sink even when the
         * caller passes none. */
        e.err = err ? err : &local;
        rv = eval(&e, root, out);
    }
    wf_expr__arena_free(arena);
    return rv;
}

int wf_expr_eval_bool(const char *src, json_t *env, bool *out, cl_errmsg *err)
{
    json_t *v;
    int rv = wf_expr_eval(src, env, &v, err);
    if (rv != 0)
        return rv;
    if (!json_is_boolean(v)) {
        rv = wf_expr__fail(err, CL_EEXPR, 0,
                           "expected a boolean result, got %s",
                           wf_expr__type_name(v));
        json_decref(v);
        return rv;
    }
    *out = json_is_true(v);
    json_decref(v);
    return 0;
}
