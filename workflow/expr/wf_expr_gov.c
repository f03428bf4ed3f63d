/* wf_expr_gov.c - govaluate (github.com/Knetic/govaluate v3) as Argo uses
 * it for `when` (ARGO.md B8; argo-workflows workflow/controller/steps.go
 * shouldExecute): the text is already substituted, every bare word is
 * re-typed as a string literal, and the expression is evaluated without
 * parameters.
 *
 * Values are govaluate's: float64 numbers, bools, strings and lists (from
 * commas, for IN). Semantics of each operator follow govaluate's stages:
 * - == and != compare type and value (reflect.DeepEqual): 1 == '1' is
 *   false, 1 == 1.0 is true.
 * - < <= > >= need two numbers or two strings (byte order).
 * - + concatenates when either side is a string ("%v" formatting of the
 *   other), else needs numbers; - * / % ** need numbers; / by zero gives
 *   an infinity, as Go's float division.
 * - && || ! need bools; && and || short-circuit.
 * - =~ !~ need strings (RE2 syntax, PCRE2 here).
 * - a ? b yields b when a is true, else nil; x : y yields x unless it is
 *   nil; x ?? y yields x unless nil. Together they read as the usual
 *   conditional.
 * - IN needs a list on the right: `x IN (1, 2)`.
 * - & | ^ << >> ~ work on numbers truncated to int64.
 * - A bare word containing '.' is a govaluate accessor; without
 *   parameters it fails ("No parameter 'a' found.").
 * Quoted strings that look like dates are compared as strings (govaluate
 * converts them to Unix times; for ISO dates the order is the same).
 * Precedence, lowest first: ',' ; ?: ?? ; || ; && ; comparators ;
 * & | ^ ; << >> ; + - ; * / % ; ** ; prefix ! - ~.
 */
#include "workflow/expr/wf_expr.h"
#include "workflow/expr/wf_expr_int.h"

#include "common/cl_heap.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum gt { G_NIL, G_NUM, G_BOOL, G_STR, G_LIST };

struct gval {
    enum gt t;
    double n;
    bool b;
    char *s; /* cl_malloc'd for G_STR */
    size_t len;
    struct gval *items; /* cl_malloc'd for G_LIST */
    size_t nitems;
};

static void gval_free(struct gval *v)
{
    if (v->t == G_STR)
        cl_free(v->s);
    if (v->t == G_LIST) {
        for (size_t i = 0; i < v->nitems; i++)
            gval_free(&v->items[i]);
        cl_free(v->items);
    }
    memset(v, 0, sizeof(*v));
}

enum tk {
    K_EOF,
    K_NUM,
    K_BOOL,
    K_STR,      /* quoted string, bare word or [escaped] word */
    K_ACCESSOR, /* bare word with '.' */
    K_OP,       /* operator text in s/len */
    K_LPAREN,
    K_RPAREN,
    K_COMMA,
};

struct gtok {
    enum tk t;
    int col;
    const char *s; /* K_OP/K_ACCESSOR: source; K_STR: decoded (cl_malloc) */
    size_t len;
    double n;
    bool b;
    bool owned;
};

struct gp {
    const char *src;
    size_t len, pos;
    struct gtok tok;
    cl_errmsg *err;
    int rv;
    int depth;
    size_t steps;
};

static int gfail(struct gp *p, int code, const char *fmt, const char *a,
                 const char *b)
{
    if (p->rv == 0) {
        char msg[CL_ERRMSG_SIZE];
        snprintf(msg, sizeof(msg), fmt, a, b);
        p->rv = wf_expr__fail(p->err, code, 0, "%s", msg);
    }
    return p->rv;
}

static void tok_free(struct gtok *t)
{
    if (t->owned)
        cl_free((char *)t->s);
    t->owned = false;
    t->s = NULL;
}

static const char *const gops[] = {
    "==", "!=", ">=", "<=", ">", "<", "=~", "!~", "&&", "||", "!", "-",
    "+",  "*",  "/",  "%",  "**", "&", "|", "^", "<<", ">>", "~", "?",
    ":",  "??", NULL,
};

static bool is_opchar(char c)
{
    return c != '\0' && strchr("=!<>~&|+-*/%^?:", c) != NULL;
}

static int gnext(struct gp *p)
{
    tok_free(&p->tok);
    if (p->rv)
        return p->rv;
    struct gtok *t = &p->tok;
    memset(t, 0, sizeof(*t));
    const char *s = p->src;
    while (p->pos < p->len && isspace((unsigned char)s[p->pos]))
        p->pos++;
    t->col = (int)p->pos + 1;
    if (p->pos >= p->len) {
        t->t = K_EOF;
        return 0;
    }
    unsigned char c = (unsigned char)s[p->pos];
    if (c == '(' || c == ')' || c == ',') {
        t->t = c == '(' ? K_LPAREN : c == ')' ? K_RPAREN : K_COMMA;
        p->pos++;
        return 0;
    }
    if (isdigit(c) || c == '.') {
        size_t e = p->pos;
        char buf[64];
        if (c == '0' && e + 1 < p->len && (s[e + 1] == 'x' || s[e + 1] == 'X')) {
            e += 2;
            while (e < p->len && isxdigit((unsigned char)s[e]))
                e++;
            size_t n = e - p->pos;
            if (n >= sizeof(buf) || n == 2)
                return gfail(p, CL_EEXPR, "%s", "Unable to parse hex value",
                             "");
            memcpy(buf, s + p->pos, n);
            buf[n] = '\0';
            t->n = (double)strtoull(buf + 2, NULL, 16);
        } else {
            while (e < p->len &&
                   (isdigit((unsigned char)s[e]) || s[e] == '.'))
                e++;
            size_t n = e - p->pos;
            if (n >= sizeof(buf)) {
                return gfail(p, CL_EEXPR, "%s", "Numeric value too long", "");
            }
            memcpy(buf, s + p->pos, n);
            buf[n] = '\0';
            if (!wf_expr__parse_float(buf, n, &t->n)) {
                char msg[128];
                snprintf(msg, sizeof(msg),
                         "Unable to parse numeric value '%s' to float64",
                         buf);
                return gfail(p, CL_EEXPR, "%s", msg, "");
            }
        }
        t->t = K_NUM;
        p->pos = e;
        return 0;
    }
    if (c == '\'' || c == '"') {
        size_t e = p->pos + 1;
        char *o = cl_malloc(p->len - p->pos + 1);
        if (o == NULL)
            return gfail(p, CL_ENOMEM, "%s", "out of memory", "");
        size_t n = 0;
        while (e < p->len && s[e] != (char)c) {
            if (s[e] == '\\' && e + 1 < p->len)
                e++;
            o[n++] = s[e++];
        }
        if (e >= p->len) {
            cl_free(o);
            return gfail(p, CL_EEXPR, "%s", "Unclosed string literal", "");
        }
        o[n] = '\0';
        t->t = K_STR;
        t->s = o;
        t->len = n;
        t->owned = true;
        p->pos = e + 1;
        return 0;
    }
    if (c == '[') { /* escaped variable: [name with spaces] */
        size_t e = p->pos + 1;
        char *o = cl_malloc(p->len - p->pos + 1);
        if (o == NULL)
            return gfail(p, CL_ENOMEM, "%s", "out of memory", "");
        size_t n = 0;
        while (e < p->len && s[e] != ']') {
            if (s[e] == '\\' && e + 1 < p->len)
                e++;
            o[n++] = s[e++];
        }
        if (e >= p->len) {
            cl_free(o);
            return gfail(p, CL_EEXPR, "%s", "Unclosed parameter bracket", "");
        }
        o[n] = '\0';
        t->t = K_STR;
        t->s = o;
        t->len = n;
        t->owned = true;
        p->pos = e + 1;
        return 0;
    }
    if (isalpha(c) || c == '_' || c >= 0x80) {
        size_t e = p->pos;
        bool dot = false;
        while (e < p->len && (isalnum((unsigned char)s[e]) || s[e] == '_' ||
                              s[e] == '.' || (unsigned char)s[e] >= 0x80)) {
            dot |= s[e] == '.';
            e++;
        }
        t->s = s + p->pos;
        t->len = e - p->pos;
        p->pos = e;
        if (t->len == 4 && memcmp(t->s, "true", 4) == 0) {
            t->t = K_BOOL;
            t->b = true;
        } else if (t->len == 5 && memcmp(t->s, "false", 5) == 0) {
            t->t = K_BOOL;
        } else if (t->len == 2 && (memcmp(t->s, "in", 2) == 0 ||
                                   memcmp(t->s, "IN", 2) == 0)) {
            t->t = K_OP;
            t->s = "in";
        } else if (dot) {
            if (t->s[t->len - 1] == '.')
                return gfail(p, CL_EEXPR, "%s", "Hanging accessor on token",
                             "");
            t->t = K_ACCESSOR;
        } else {
            t->t = K_STR; /* Argo: VARIABLE re-typed as STRING */
        }
        return 0;
    }
    if (is_opchar((char)c)) {
        size_t e = p->pos;
        while (e < p->len && is_opchar(s[e]))
            e++;
        size_t n = e - p->pos;
        for (int k = 0; gops[k]; k++) {
            if (strlen(gops[k]) == n && memcmp(gops[k], s + p->pos, n) == 0) {
                t->t = K_OP;
                t->s = gops[k];
                t->len = n;
                p->pos = e;
                return 0;
            }
        }
        char tmp[40];
        snprintf(tmp, sizeof(tmp), "%.*s", (int)(n < 32 ? n : 32),
                 s + p->pos);
        return gfail(p, CL_EEXPR, "Invalid token: '%s'", tmp, "");
    }
    char tmp[8];
    snprintf(tmp, sizeof(tmp), "%c", c >= 0x20 && c < 0x7f ? c : '?');
    return gfail(p, CL_EEXPR, "Invalid token: '%s'", tmp, "");
}

static bool gis(const struct gp *p, const char *op)
{
    return p->tok.t == K_OP && strcmp(p->tok.s, op) == 0;
}

/* "%v" of a value into b (for messages and string concatenation). */
static void gfmt(cl_buf *b, const struct gval *v)
{
    char tmp[48];
    switch (v->t) {
    case G_NUM:
        wf_expr__fmt_float(v->n, 'g', tmp);
        cl_buf_puts(b, tmp);
        break;
    case G_BOOL:
        cl_buf_puts(b, v->b ? "true" : "false");
        break;
    case G_STR:
        cl_buf_append(b, v->s, v->len);
        break;
    case G_LIST:
        cl_buf_putc(b, '[');
        for (size_t i = 0; i < v->nitems; i++) {
            if (i)
                cl_buf_putc(b, ' ');
            gfmt(b, &v->items[i]);
        }
        cl_buf_putc(b, ']');
        break;
    default:
        cl_buf_puts(b, "<nil>");
    }
}

static int type_fail(struct gp *p, const struct gval *v, const char *what,
                     const char *op, const char *need)
{
    if (p->rv)
        return p->rv;
    cl_buf b = CL_BUF_INIT;
    gfmt(&b, v);
    char val[128];
    snprintf(val, sizeof(val), "%.*s", (int)(b.len < 100 ? b.len : 100),
             b.data ? b.data : "");
    cl_buf_free(&b);
    p->rv = wf_expr__fail(p->err, CL_EEXPR, 0,
                          "Value '%s' cannot be used with the %s '%s', it is "
                          "not %s",
                          val, what, op, need);
    return p->rv;
}

/* Go's int64(f) on amd64: NaN and out-of-range values give INT64_MIN
 * (C leaves those conversions undefined, so they are checked here). */
static int64_t f2i(double d)
{
    if (!(d >= -9.2233720368547758e18 && d < 9.2233720368547758e18))
        return INT64_MIN;
    return (int64_t)d;
}

static bool gequal(const struct gval *a, const struct gval *b)
{
    if (a->t != b->t)
        return false;
    switch (a->t) {
    case G_NUM:
        return a->n == b->n;
    case G_BOOL:
        return a->b == b->b;
    case G_STR:
        return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
    case G_LIST:
        if (a->nitems != b->nitems)
            return false;
        for (size_t i = 0; i < a->nitems; i++)
            if (!gequal(&a->items[i], &b->items[i]))
                return false;
        return true;
    default:
        return true;
    }
}

/* skip: the operand is parsed but not needed (short-circuit); type errors
 * there are not reported, as govaluate never evaluates it. */
static int parse_list(struct gp *p, bool skip, struct gval *out);
static int parse_ternary(struct gp *p, bool skip, struct gval *out);

static int set_str(struct gp *p, struct gval *out, const char *s, size_t len)
{
    out->t = G_STR;
    out->s = cl_malloc(len + 1);
    if (out->s == NULL) {
        out->t = G_NIL;
        return gfail(p, CL_ENOMEM, "%s", "out of memory", "");
    }
    memcpy(out->s, s, len);
    out->s[len] = '\0';
    out->len = len;
    return 0;
}

static int parse_value(struct gp *p, bool skip, struct gval *out)
{
    memset(out, 0, sizeof(*out));
    if (p->rv)
        return p->rv;
    if (++p->depth > WF_EXPR__MAX_DEPTH)
        return gfail(p, CL_EEXPR, "%s", "Expression nested too deeply", "");
    if (++p->steps > WF_EXPR__MAX_STEPS)
        return gfail(p, CL_EEXPR, "%s", "Expression too long", "");
    int rv = 0;
    struct gtok *t = &p->tok;
    switch (t->t) {
    case K_NUM:
        out->t = G_NUM;
        out->n = t->n;
        rv = gnext(p);
        break;
    case K_BOOL:
        out->t = G_BOOL;
        out->b = t->b;
        rv = gnext(p);
        break;
    case K_STR:
        if ((rv = set_str(p, out, t->s, t->len)) == 0)
            rv = gnext(p);
        break;
    case K_ACCESSOR: {
        char name[128];
        const char *dot = memchr(t->s, '.', t->len);
        size_t n = (size_t)(dot - t->s);
        snprintf(name, sizeof(name), "%.*s", (int)(n < 100 ? n : 100), t->s);
        if (!skip) {
            rv = gfail(p, CL_EEXPR, "No parameter '%s' found.", name, "");
            break;
        }
        rv = gnext(p);
        break;
    }
    case K_LPAREN:
        if ((rv = gnext(p)) != 0)
            break;
        if (p->tok.t == K_RPAREN) {
            rv = gfail(p, CL_EEXPR, "%s", "Empty parentheses", "");
            break;
        }
        if ((rv = parse_list(p, skip, out)) != 0)
            break;
        if (p->tok.t != K_RPAREN) {
            rv = gfail(p, CL_EEXPR, "%s", "Unbalanced parenthesis", "");
            break;
        }
        rv = gnext(p);
        break;
    case K_OP:
        if (gis(p, "!") || gis(p, "-") || gis(p, "~")) {
            char op = p->tok.s[0];
            if ((rv = gnext(p)) != 0 || (rv = parse_value(p, skip, out)) != 0)
                break;
            if (skip)
                break;
            if (op == '!') {
                if (out->t != G_BOOL)
                    rv = type_fail(p, out, "prefix", "!", "a bool");
                else
                    out->b = !out->b;
            } else if (out->t != G_NUM) {
                rv = type_fail(p, out, "prefix", op == '-' ? "-" : "~",
                               "a number");
            } else if (op == '-') {
                out->n = -out->n;
            } else {
                out->n = (double)~f2i(out->n);
            }
            break;
        }
        /* fall through */
    default: {
        char tmp[40];
        if (t->t == K_EOF)
            rv = gfail(p, CL_EEXPR, "%s", "Unexpected end of expression", "");
        else if (t->t == K_OP)
            rv = gfail(p, CL_EEXPR, "Unexpected operator '%s'", t->s, "");
        else {
            snprintf(tmp, sizeof(tmp), "%s", t->t == K_RPAREN ? ")" : ",");
            rv = gfail(p, CL_EEXPR, "Unexpected '%s'", tmp, "");
        }
    }
    }
    p->depth--;
    if (rv != 0)
        gval_free(out);
    return p->rv ? p->rv : rv;
}

static int bin_num(struct gp *p, struct gval *a, struct gval *b,
                   const char *op, const char *what)
{
    if (a->t != G_NUM)
        return type_fail(p, a, what, op, "a number");
    if (b->t != G_NUM)
        return type_fail(p, b, what, op, "a number");
    return 0;
}

static int apply(struct gp *p, const char *op, struct gval *a,
                 struct gval *b)
{
    /* Result replaces *a; *b is released by the caller. */
    double x = a->n, y = b->n;
    if (strcmp(op, "+") == 0) {
        if (a->t == G_STR || b->t == G_STR) {
            cl_buf s = CL_BUF_INIT;
            gfmt(&s, a);
            gfmt(&s, b);
            if (!cl_buf_ok(&s) || s.len > WF_EXPR__MAX_STR) {
                bool nomem = !cl_buf_ok(&s);
                cl_buf_free(&s);
                return gfail(p, nomem ? CL_ENOMEM : CL_EEXPR, "%s",
                             nomem ? "out of memory" : "String too long", "");
            }
            gval_free(a);
            int rv = set_str(p, a, s.data ? s.data : "", s.len);
            cl_buf_free(&s);
            return rv;
        }
        if (bin_num(p, a, b, op, "modifier"))
            return p->rv;
        a->n = x + y;
        return 0;
    }
    if (strchr("-*/%&|^", op[0]) && op[1] == '\0') {
        if (bin_num(p, a, b, op, "modifier"))
            return p->rv;
        switch (op[0]) {
        case '-': a->n = x - y; break;
        case '*': a->n = x * y; break;
        case '/': a->n = x / y; break;
        case '%': a->n = fmod(x, y); break;
        case '&': a->n = (double)(f2i(x) & f2i(y)); break;
        case '|': a->n = (double)(f2i(x) | f2i(y)); break;
        default: a->n = (double)(f2i(x) ^ f2i(y)); break;
        }
        return 0;
    }
    if (strcmp(op, "**") == 0 || strcmp(op, "<<") == 0 ||
        strcmp(op, ">>") == 0) {
        if (bin_num(p, a, b, op, "modifier"))
            return p->rv;
        if (op[0] == '*') {
            a->n = pow(x, y);
        } else {
            uint64_t sh = (uint64_t)f2i(y);
            int64_t v = f2i(x);
            if (sh >= 64)
                a->n = op[0] == '<' ? 0 : (v < 0 ? -1 : 0);
            else if (op[0] == '<')
                a->n = (double)(int64_t)((uint64_t)v << sh);
            else
                a->n = (double)(v < 0 ? ~(~v >> sh) : v >> sh);
        }
        return 0;
    }
    bool r;
    if (strcmp(op, "==") == 0 || strcmp(op, "!=") == 0) {
        r = gequal(a, b) == (op[0] == '=');
    } else if (strcmp(op, "=~") == 0 || strcmp(op, "!~") == 0) {
        if (a->t != G_STR)
            return type_fail(p, a, "comparator", op, "a string");
        if (b->t != G_STR)
            return type_fail(p, b, "comparator", op, "a string");
        int rv = wf_expr__re_match(b->s, b->len, a->s, a->len, &r, p->err);
        if (rv != 0)
            return p->rv = rv;
        r = r == (op[0] == '=');
    } else if (strcmp(op, "in") == 0) {
        if (b->t != G_LIST)
            return type_fail(p, b, "comparator", "in", "an array");
        r = false;
        for (size_t i = 0; i < b->nitems && !r; i++)
            r = gequal(a, &b->items[i]);
    } else { /* < <= > >= */
        int c;
        if (a->t == G_STR && b->t == G_STR) {
            int m = memcmp(a->s, b->s, a->len < b->len ? a->len : b->len);
            c = m ? m : (a->len < b->len ? -1 : a->len > b->len);
        } else if (a->t == G_NUM && b->t == G_NUM) {
            c = x < y ? -1 : x > y ? 1 : 0;
            if (x != x || y != y) { /* NaN compares false */
                gval_free(a);
                a->t = G_BOOL;
                a->b = false;
                return 0;
            }
        } else {
            return type_fail(p, a->t == G_NUM || a->t == G_STR ? b : a,
                             "comparator", op, "a number");
        }
        r = op[0] == '<' ? (op[1] == '=' ? c <= 0 : c < 0)
                         : (op[1] == '=' ? c >= 0 : c > 0);
    }
    gval_free(a);
    a->t = G_BOOL;
    a->b = r;
    return 0;
}

/* Binary levels, loosest first (after ternary). */
static const char *const levels[][9] = {
    {"||", NULL},
    {"&&", NULL},
    {"==", "!=", ">", ">=", "<", "<=", "=~", "!~", "in"},
    {"&", "|", "^", NULL},
    {"<<", ">>", NULL},
    {"+", "-", NULL},
    {"*", "/", "%", NULL},
    {"**", NULL},
};
#define NLEVELS ((int)(sizeof(levels) / sizeof(levels[0])))

static const char *level_op(struct gp *p, int lvl)
{
    if (p->tok.t != K_OP)
        return NULL;
    for (int i = 0; i < 9 && levels[lvl][i]; i++)
        if (strcmp(p->tok.s, levels[lvl][i]) == 0)
            return levels[lvl][i];
    return NULL;
}

static int parse_level(struct gp *p, int lvl, bool skip, struct gval *out)
{
    if (lvl == NLEVELS)
        return parse_value(p, skip, out);
    int rv = parse_level(p, lvl + 1, skip, out);
    const char *op;
    while (rv == 0 && (op = level_op(p, lvl)) != NULL) {
        if ((rv = gnext(p)) != 0)
            break;
        bool logic = lvl < 2;
        bool rskip = skip;
        if (logic && !skip) {
            if (out->t != G_BOOL) {
                rv = type_fail(p, out, "logical operator", op, "a bool");
                break;
            }
            /* short-circuit: the right side is not evaluated */
            if ((op[0] == '&' && !out->b) || (op[0] == '|' && out->b))
                rskip = true;
        }
        struct gval rhs;
        if ((rv = parse_level(p, lvl + 1, rskip, &rhs)) != 0)
            break;
        if (skip || rskip) {
            gval_free(&rhs);
            continue;
        }
        if (logic) {
            if (rhs.t != G_BOOL)
                rv = type_fail(p, &rhs, "logical operator", op, "a bool");
            else
                out->b = rhs.b;
        } else {
            rv = apply(p, op, out, &rhs);
        }
        gval_free(&rhs);
    }
    if (rv != 0)
        gval_free(out);
    return p->rv ? p->rv : rv;
}

static int parse_ternary(struct gp *p, bool skip, struct gval *out)
{
    int rv = parse_level(p, 0, skip, out);
    while (rv == 0 && (gis(p, "?") || gis(p, ":") || gis(p, "??"))) {
        char op = p->tok.s[0] == ':' ? ':' : p->tok.s[1] == '?' ? 'c' : '?';
        if ((rv = gnext(p)) != 0)
            break;
        bool use_rhs;
        if (skip) {
            use_rhs = false;
        } else if (op == '?') {
            if (out->t != G_BOOL) {
                rv = type_fail(p, out, "ternary operator", "?", "a bool");
                break;
            }
            use_rhs = out->b;
        } else {
            use_rhs = out->t == G_NIL; /* ':' and '??' */
        }
        struct gval rhs;
        if ((rv = parse_level(p, 0, skip || !use_rhs, &rhs)) != 0)
            break;
        if (skip) {
            gval_free(&rhs);
            continue;
        }
        if (op == '?') {
            gval_free(out);
            if (use_rhs)
                *out = rhs; /* else nil */
            else
                gval_free(&rhs);
        } else if (use_rhs) {
            gval_free(out);
            *out = rhs;
        } else {
            gval_free(&rhs);
        }
    }
    if (rv != 0)
        gval_free(out);
    return p->rv ? p->rv : rv;
}

static int parse_list(struct gp *p, bool skip, struct gval *out)
{
    int rv = parse_ternary(p, skip, out);
    if (rv != 0 || p->tok.t != K_COMMA)
        return rv;
    struct gval list = {G_LIST, 0, false, NULL, 0, NULL, 0};
    size_t cap = 4;
    list.items = cl_malloc(cap * sizeof(*list.items));
    if (list.items == NULL) {
        gval_free(out);
        return gfail(p, CL_ENOMEM, "%s", "out of memory", "");
    }
    list.items[list.nitems++] = *out;
    while (rv == 0 && p->tok.t == K_COMMA) {
        if ((rv = gnext(p)) != 0)
            break;
        if (list.nitems == cap) {
            if (cap >= WF_EXPR__MAX_ARRAY) {
                rv = gfail(p, CL_EEXPR, "%s", "List too long", "");
                break;
            }
            struct gval *n = cl_realloc(list.items, 2 * cap * sizeof(*n));
            if (n == NULL) {
                rv = gfail(p, CL_ENOMEM, "%s", "out of memory", "");
                break;
            }
            list.items = n;
            cap *= 2;
        }
        rv = parse_ternary(p, skip, &list.items[list.nitems]);
        if (rv == 0)
            list.nitems++;
    }
    if (rv != 0) {
        gval_free(&list);
        memset(out, 0, sizeof(*out));
        return rv;
    }
    *out = list;
    return 0;
}

static int to_json(struct gp *p, const struct gval *v, json_t **out,
                   int depth)
{
    switch (v->t) {
    case G_NUM:
        if (isnan(v->n) || isinf(v->n))
            return gfail(p, CL_EEXPR, "%s", "Result is not a finite number",
                         "");
        /* govaluate numbers are float64; whole ones read back as ints. */
        if (v->n == floor(v->n) && fabs(v->n) < 9.007199254740992e15)
            *out = json_integer((json_int_t)v->n);
        else
            *out = json_real(v->n);
        break;
    case G_BOOL:
        *out = json_boolean(v->b);
        break;
    case G_STR:
        *out = json_stringn_nocheck(v->s, v->len);
        break;
    case G_LIST: {
        if (depth > WF_EXPR__MAX_JSON_DEPTH)
            return gfail(p, CL_EEXPR, "%s", "Result nested too deeply", "");
        json_t *a = json_array();
        for (size_t i = 0; a != NULL && i < v->nitems; i++) {
            json_t *el;
            int rv = to_json(p, &v->items[i], &el, depth + 1);
            if (rv != 0) {
                json_decref(a);
                return rv;
            }
            if (json_array_append_new(a, el) != 0) {
                json_decref(a);
                a = NULL;
            }
        }
        *out = a;
        break;
    }
    default:
        *out = json_null();
    }
    if (*out == NULL)
        return gfail(p, CL_ENOMEM, "%s", "out of memory", "");
    return 0;
}

static void wrap_when(cl_errmsg *err, const char *src, const char *what)
{
    if (err == NULL)
        return;
    char msg[CL_ERRMSG_SIZE];
    snprintf(msg, sizeof(msg), "%s", err->msg);
    int n = (int)strlen(src);
    cl_errmsg_set(err, "%s 'when' expression '%.*s%s': %s", what,
                  n > 200 ? 200 : n, src, n > 200 ? "..." : "", msg);
}

int wf_expr_gov(const char *src, json_t **out, cl_errmsg *err)
{
    *out = NULL;
    if (src == NULL)
        return wf_expr__fail(err, CL_EINVAL, 0, "no expression");
    struct gp p;
    memset(&p, 0, sizeof(p));
    p.src = src;
    p.len = strlen(src);
    p.err = err;
    struct gval v = {G_NIL, 0, false, NULL, 0, NULL, 0};
    int rv;
    if (p.len > WF_EXPR__MAX_SRC) {
        rv = gfail(&p, CL_EEXPR, "%s", "Expression too long", "");
    } else if ((rv = gnext(&p)) == 0) {
        if (p.tok.t == K_EOF)
            rv = gfail(&p, CL_EEXPR, "%s", "Empty expression", "");
        else
            rv = parse_list(&p, false, &v);
        if (rv == 0 && p.tok.t != K_EOF)
            rv = gfail(&p, CL_EEXPR, "%s",
                       p.tok.t == K_RPAREN ? "Unbalanced parenthesis"
                                           : "Unexpected token after "
                                             "expression",
                       "");
        if (rv == 0)
            rv = to_json(&p, &v, out, 0);
    }
    tok_free(&p.tok);
    gval_free(&v);
    if (rv != 0) {
        json_decref(*out);
        *out = NULL;
        if (rv == CL_EEXPR)
            wrap_when(err, src, "Invalid");
    }
    return rv;
}

int wf_expr_gov_bool(const char *src, bool *out, cl_errmsg *err)
{
    json_t *v;
    int rv = wf_expr_gov(src, &v, err);
    if (rv != 0)
        return rv;
    if (!json_is_boolean(v)) {
        char *txt = wf_expr_render(v);
        int n = (int)strlen(src);
        rv = wf_expr__fail(err, CL_EEXPR, 0,
                           "Expected boolean evaluation for '%.*s%s'. Got %s",
                           n > 200 ? 200 : n, src, n > 200 ? "..." : "",
                           txt ? txt : "?");
        cl_free(txt);
        json_decref(v);
        return rv;
    }
    *out = json_is_true(v);
    json_decref(v);
    return 0;
}
