/* wf_expr_parse.c - lexer and parser of the expr-lang subset.
 *
 * Grammar and precedences follow expr-lang's parser (parser/operator):
 *   ?: (0, after binary)   | pipe (0)   or || (10)   and && (15)
 *   == != < > <= >= in matches contains startsWith endsWith (20)
 *   .. (25)   + - (30)   * / % (60)   unary not ! (50)   unary - + (90)
 *   ** ^ (100, right)   ?? (500)   then member access, index, slice, call.
 * Closure builtins (filter, map, all, ...) take their predicate either in
 * braces ({# > 1}) or bare (# > 1); `#`, `#index`, `#acc` and `.field`
 * (short for #.field) are valid only inside one. `let x = e; body` binds a
 * name. Nesting deeper than WF_EXPR__MAX_DEPTH is refused.
 */
#include "workflow/expr/wf_expr_ast.h"

#include "common/cl_heap.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---- */

struct chunk {
    struct chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

struct wf_expr__arena {
    struct chunk *head;
    json_t **consts; /* literal values to release */
    size_t nconsts, capconsts;
};

void wf_expr__arena_free(wf_expr__arena *a)
{
    if (a == NULL)
        return;
    struct chunk *c = a->head;
    while (c) {
        struct chunk *n = c->next;
        cl_free(c);
        c = n;
    }
    for (size_t i = 0; i < a->nconsts; i++)
        json_decref(a->consts[i]);
    cl_free(a->consts);
    cl_free(a);
}

static void *arena_alloc(wf_expr__arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct chunk *c = a->head;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > 4000 ? n : 4000;
        c = cl_malloc(sizeof(*c) + cap);
        if (c == NULL)
            return NULL;
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

static int arena_keep(wf_expr__arena *a, json_t *v)
{
    if (v == NULL)
        return CL_ENOMEM;
    if (a->nconsts == a->capconsts) {
        size_t cap = a->capconsts ? a->capconsts * 2 : 16;
        json_t **p = cl_realloc(a->consts, cap * sizeof(*p));
        if (p == NULL) {
            json_decref(v);
            return CL_ENOMEM;
        }
        a->consts = p;
        a->capconsts = cap;
    }
    a->consts[a->nconsts++] = v;
    return 0;
}

/* ---- lexer ---- */

enum tok {
    T_EOF,
    T_INT,
    T_FLOAT,
    T_STR,
    T_IDENT,
    T_POINTER, /* #name */
    T_OP,      /* punctuation: text in s/len */
};

struct token {
    enum tok t;
    int col;
    const char *s; /* source text (T_IDENT, T_OP, T_POINTER name) */
    size_t len;
    int64_t i;
    double f;
    char *str; /* decoded T_STR (arena) */
    size_t slen;
};

struct parser {
    const char *src;
    size_t len, pos;
    wf_expr__arena *arena;
    cl_errmsg *err;
    struct token tok; /* current */
    int depth;
    int closures; /* closures open around the current position */
    wf_expr__node *pipe_arg; /* left side of '|', taken by the next call */
    int rv;       /* first error */
};

static int perr(struct parser *p, int col, const char *fmt, const char *arg)
{
    if (p->rv == 0)
        p->rv = wf_expr__fail(p->err, CL_EEXPR, col, fmt, arg);
    return p->rv;
}

static int poom(struct parser *p)
{
    if (p->rv == 0)
        p->rv = wf_expr__fail(p->err, CL_ENOMEM, 0, "out of memory");
    return p->rv;
}

static bool is_ident_start(unsigned char c)
{
    return isalpha(c) || c == '_' || c == '$' || c >= 0x80;
}

static bool is_ident_char(unsigned char c)
{
    return is_ident_start(c) || isdigit(c);
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        cp = 0xfffd;
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Quoted string with Go escapes; p->pos is at the opening quote. */
static int lex_string(struct parser *p, struct token *t)
{
    char q = p->src[p->pos];
    size_t start = ++p->pos;
    size_t end = start;
    if (q == '`') {
        while (end < p->len && p->src[end] != '`')
            end++;
    } else {
        while (end < p->len && p->src[end] != q) {
            if (p->src[end] == '\\' && end + 1 < p->len)
                end++;
            end++;
        }
    }
    if (end >= p->len)
        return perr(p, t->col, "%s", "unterminated string literal");
    /* Decoded text is never longer than the source. */
    char *o = arena_alloc(p->arena, end - start + 1);
    if (o == NULL)
        return poom(p);
    size_t n = 0;
    for (size_t i = start; i < end; i++) {
        unsigned char c = (unsigned char)p->src[i];
        if (c != '\\' || q == '`') {
            o[n++] = (char)c;
            continue;
        }
        c = (unsigned char)p->src[++i];
        int col = t->col + (int)(i - start);
        switch (c) {
        case 'a': o[n++] = '\a'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'v': o[n++] = '\v'; break;
        case '\\': o[n++] = '\\'; break;
        case '\'': o[n++] = '\''; break;
        case '"': o[n++] = '"'; break;
        case 'x': {
            int h1 = i + 1 < end ? hexval((unsigned char)p->src[i + 1]) : -1;
            int h2 = i + 2 < end ? hexval((unsigned char)p->src[i + 2]) : -1;
            if (h1 < 0 || h2 < 0)
                return perr(p, col, "%s", "invalid \\x escape");
            o[n++] = (char)(h1 * 16 + h2);
            i += 2;
            break;
        }
        case 'u':
        case 'U': {
            int digits = c == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (int k = 1; k <= digits; k++) {
                int h = i + (size_t)k < end
                            ? hexval((unsigned char)p->src[i + (size_t)k])
                            : -1;
                if (h < 0)
                    return perr(p, col, "%s", "invalid unicode escape");
                cp = cp * 16 + (uint32_t)h;
            }
            i += (size_t)digits;
            /* A \u escape is at least 6 source bytes; UTF-8 needs <= 4. */
            n += put_utf8(o + n, cp);
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                unsigned v = 0;
                for (int k = 0; k < 3; k++) {
                    unsigned char d = i + (size_t)k < end
                                          ? (unsigned char)p->src[i + (size_t)k]
                                          : 0;
                    if (d < '0' || d > '7')
                        return perr(p, col, "%s", "invalid octal escape");
                    v = v * 8 + (d - '0');
                }
                if (v > 255)
                    return perr(p, col, "%s", "octal escape out of range");
                o[n++] = (char)v;
                i += 2;
                break;
            }
            return perr(p, col, "%s", "invalid escape in string literal");
        }
    }
    o[n] = '\0';
    t->t = T_STR;
    t->str = o;
    t->slen = n;
    p->pos = end + 1;
    return 0;
}

static int lex_number(struct parser *p, struct token *t)
{
    const char *s = p->src;
    size_t i = p->pos, start = i;
    char buf[128];
    size_t n = 0;
    bool isfloat = false;
    int base = 10;
    if (s[i] == '0' && i + 1 < p->len &&
        strchr("xXoObB", s[i + 1]) != NULL) {
        char b = (char)tolower((unsigned char)s[i + 1]);
        base = b == 'x' ? 16 : b == 'o' ? 8 : 2;
        i += 2;
        while (i < p->len && (isxdigit((unsigned char)s[i]) || s[i] == '_')) {
            if (s[i] != '_' && n < sizeof(buf) - 1)
                buf[n++] = s[i];
            i++;
        }
    } else {
        while (i < p->len && (isdigit((unsigned char)s[i]) || s[i] == '_')) {
            if (s[i] != '_' && n < sizeof(buf) - 1)
                buf[n++] = s[i];
            i++;
        }
        /* A '.' starts a fraction unless it is the range operator "..". */
        if (i < p->len && s[i] == '.' &&
            !(i + 1 < p->len && s[i + 1] == '.') &&
            !(i + 1 < p->len && is_ident_start((unsigned char)s[i + 1]) &&
              s[i + 1] != 'e' && s[i + 1] != 'E')) {
            isfloat = true;
            if (n < sizeof(buf) - 1)
                buf[n++] = '.';
            i++;
            while (i < p->len &&
                   (isdigit((unsigned char)s[i]) || s[i] == '_')) {
                if (s[i] != '_' && n < sizeof(buf) - 1)
                    buf[n++] = s[i];
                i++;
            }
        }
        if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
            size_t j = i + 1;
            if (j < p->len && (s[j] == '+' || s[j] == '-'))
                j++;
            if (j < p->len && isdigit((unsigned char)s[j])) {
                isfloat = true;
                while (i < j && n < sizeof(buf) - 1)
                    buf[n++] = s[i++];
                while (i < p->len && isdigit((unsigned char)s[i])) {
                    if (n < sizeof(buf) - 1)
                        buf[n++] = s[i];
                    i++;
                }
            }
        }
    }
    buf[n] = '\0';
    if (n == 0 || n >= sizeof(buf) - 1 ||
        (i < p->len && is_ident_char((unsigned char)s[i])))
        return perr(p, t->col, "%s", "invalid number literal");
    errno = 0;
    char *end;
    if (isfloat) {
        t->t = T_FLOAT;
        t->f = strtod(buf, &end);
        if (*end != '\0' || isinf(t->f))
            return perr(p, t->col, "%s", "invalid float literal");
    } else {
        t->t = T_INT;
        unsigned long long v = strtoull(buf, &end, base);
        if (*end != '\0' || errno == ERANGE || v > INT64_MAX)
            return perr(p, t->col, "%s", "integer literal out of range");
        t->i = (int64_t)v;
    }
    t->len = i - start;
    p->pos = i;
    return 0;
}

static const char *const ops2[] = {"**", "==", "!=", "<=", ">=", "&&", "||",
                                   "??", "?.", "..", NULL};

static int next(struct parser *p)
{
    if (p->rv)
        return p->rv;
    struct token *t = &p->tok;
    const char *s = p->src;
    memset(t, 0, sizeof(*t));
    for (;;) {
        while (p->pos < p->len && strchr(" \t\r\n\f\v", s[p->pos]) &&
               s[p->pos] != '\0')
            p->pos++;
        if (p->pos + 1 < p->len && s[p->pos] == '/' && s[p->pos + 1] == '/') {
            while (p->pos < p->len && s[p->pos] != '\n')
                p->pos++;
            continue;
        }
        if (p->pos + 1 < p->len && s[p->pos] == '/' && s[p->pos + 1] == '*') {
            size_t e = p->pos + 2;
            while (e + 1 < p->len && !(s[e] == '*' && s[e + 1] == '/'))
                e++;
            if (e + 1 >= p->len)
                return perr(p, (int)p->pos + 1, "%s", "unterminated comment");
            p->pos = e + 2;
            continue;
        }
        break;
    }
    t->col = (int)p->pos + 1;
    if (p->pos >= p->len) {
        t->t = T_EOF;
        return 0;
    }
    unsigned char c = (unsigned char)s[p->pos];
    if (isdigit(c) ||
        (c == '.' && p->pos + 1 < p->len &&
         isdigit((unsigned char)s[p->pos + 1]) &&
         !(p->pos > 0 && s[p->pos - 1] == '.')))
        return lex_number(p, t);
    if (c == '"' || c == '\'' || c == '`')
        return lex_string(p, t);
    if (is_ident_start(c)) {
        size_t e = p->pos;
        while (e < p->len && is_ident_char((unsigned char)s[e]))
            e++;
        t->t = T_IDENT;
        t->s = s + p->pos;
        t->len = e - p->pos;
        p->pos = e;
        return 0;
    }
    if (c == '#') {
        size_t e = p->pos + 1;
        while (e < p->len && is_ident_char((unsigned char)s[e]))
            e++;
        t->t = T_POINTER;
        t->s = s + p->pos + 1;
        t->len = e - p->pos - 1;
        p->pos = e;
        return 0;
    }
    for (int k = 0; ops2[k]; k++) {
        if (p->pos + 1 < p->len && s[p->pos] == ops2[k][0] &&
            s[p->pos + 1] == ops2[k][1]) {
            /* "?." followed by a digit is "? .5", a conditional. */
            if (ops2[k][0] == '?' && ops2[k][1] == '.' &&
                p->pos + 2 < p->len && isdigit((unsigned char)s[p->pos + 2]))
                break;
            t->t = T_OP;
            t->s = s + p->pos;
            t->len = 2;
            p->pos += 2;
            return 0;
        }
    }
    if (strchr("+-*/%^<>!?:.,()[]{}|;=", c) && c != '\0') {
        t->t = T_OP;
        t->s = s + p->pos;
        t->len = 1;
        p->pos++;
        return 0;
    }
    char tmp[8];
    snprintf(tmp, sizeof(tmp), c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
    return perr(p, t->col, "unexpected character '%s'", tmp);
}

static bool is_op(const struct parser *p, const char *op)
{
    size_t n = strlen(op);
    return p->tok.t == T_OP && p->tok.len == n && memcmp(p->tok.s, op, n) == 0;
}

static bool is_word(const struct parser *p, const char *w)
{
    size_t n = strlen(w);
    return p->tok.t == T_IDENT && p->tok.len == n &&
           memcmp(p->tok.s, w, n) == 0;
}

static int expect(struct parser *p, const char *op)
{
    if (p->rv)
        return p->rv;
    if (!is_op(p, op))
        return perr(p, p->tok.col, "expected '%s'", op);
    return next(p);
}

/* ---- nodes ---- */

static wf_expr__node *mk(struct parser *p, int kind, int col)
{
    wf_expr__node *n = arena_alloc(p->arena, sizeof(*n));
    if (n == NULL) {
        poom(p);
        return NULL;
    }
    memset(n, 0, sizeof(*n));
    n->kind = (unsigned char)kind;
    n->col = col;
    return n;
}

static wf_expr__node *mk_const(struct parser *p, json_t *v, int col)
{
    if (arena_keep(p->arena, v) != 0) {
        poom(p);
        return NULL;
    }
    wf_expr__node *n = mk(p, WF_EXPR__N_CONST, col);
    if (n)
        n->val = v;
    return n;
}

static char *arena_strndup(struct parser *p, const char *s, size_t len)
{
    char *o = arena_alloc(p->arena, len + 1);
    if (o == NULL) {
        poom(p);
        return NULL;
    }
    memcpy(o, s, len);
    o[len] = '\0';
    return o;
}

/* Growable list of nodes, moved into the arena when complete. */
struct list {
    wf_expr__node **v;
    size_t n, cap;
};

static int list_push(struct parser *p, struct list *l, wf_expr__node *n)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        wf_expr__node **v = cl_realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return poom(p);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = n;
    return 0;
}

static wf_expr__node **list_finish(struct parser *p, struct list *l)
{
    wf_expr__node **v = arena_alloc(p->arena, (l->n ? l->n : 1) * sizeof(*v));
    if (v == NULL)
        poom(p);
    else if (l->n)
        memcpy(v, l->v, l->n * sizeof(*v));
    cl_free(l->v);
    l->v = NULL;
    return v;
}

/* ---- grammar ---- */

static wf_expr__node *parse_expr(struct parser *p, int prec);

struct binop {
    const char *text;
    bool word;
    int prec;
    bool right;
    enum wf_expr__op op;
};

static const struct binop binops[] = {
    {"|", false, 0, false, WF_EXPR__OP_NONE},
    {"or", true, 10, false, WF_EXPR__OP_OR},
    {"||", false, 10, false, WF_EXPR__OP_OR},
    {"and", true, 15, false, WF_EXPR__OP_AND},
    {"&&", false, 15, false, WF_EXPR__OP_AND},
    {"==", false, 20, false, WF_EXPR__OP_EQ},
    {"!=", false, 20, false, WF_EXPR__OP_NE},
    {"<", false, 20, false, WF_EXPR__OP_LT},
    {">", false, 20, false, WF_EXPR__OP_GT},
    {">=", false, 20, false, WF_EXPR__OP_GE},
    {"<=", false, 20, false, WF_EXPR__OP_LE},
    {"in", true, 20, false, WF_EXPR__OP_IN},
    {"matches", true, 20, false, WF_EXPR__OP_MATCHES},
    {"contains", true, 20, false, WF_EXPR__OP_CONTAINS},
    {"startsWith", true, 20, false, WF_EXPR__OP_STARTS},
    {"endsWith", true, 20, false, WF_EXPR__OP_ENDS},
    {"..", false, 25, false, WF_EXPR__OP_RANGE},
    {"+", false, 30, false, WF_EXPR__OP_ADD},
    {"-", false, 30, false, WF_EXPR__OP_SUB},
    {"*", false, 60, false, WF_EXPR__OP_MUL},
    {"/", false, 60, false, WF_EXPR__OP_DIV},
    {"%", false, 60, false, WF_EXPR__OP_MOD},
    {"**", false, 100, true, WF_EXPR__OP_POW},
    {"^", false, 100, true, WF_EXPR__OP_POW},
    {"??", false, 500, false, WF_EXPR__OP_COALESCE},
    {NULL, false, 0, false, WF_EXPR__OP_NONE},
};

static const struct binop *cur_binop(struct parser *p)
{
    for (int i = 0; binops[i].text; i++) {
        if (binops[i].word ? is_word(p, binops[i].text)
                           : is_op(p, binops[i].text))
            return &binops[i];
    }
    return NULL;
}

struct cfn_name {
    const char *name;
    enum wf_expr__cfn cfn;
    int min, max;
};

static const struct cfn_name cfns[] = {
    {"all", WF_EXPR__C_ALL, 2, 2},
    {"any", WF_EXPR__C_ANY, 2, 2},
    {"none", WF_EXPR__C_NONE_OF, 2, 2},
    {"one", WF_EXPR__C_ONE, 2, 2},
    {"filter", WF_EXPR__C_FILTER, 2, 2},
    {"map", WF_EXPR__C_MAP, 2, 2},
    {"count", WF_EXPR__C_COUNT, 1, 2},
    {"sum", WF_EXPR__C_SUM, 1, 2},
    {"find", WF_EXPR__C_FIND, 2, 2},
    {"findIndex", WF_EXPR__C_FIND_INDEX, 2, 2},
    {"findLast", WF_EXPR__C_FIND_LAST, 2, 2},
    {"findLastIndex", WF_EXPR__C_FIND_LAST_INDEX, 2, 2},
    {"groupBy", WF_EXPR__C_GROUP_BY, 2, 2},
    {"sortBy", WF_EXPR__C_SORT_BY, 2, 3},
    {"reduce", WF_EXPR__C_REDUCE, 2, 3},
    {NULL, WF_EXPR__C_NONE, 0, 0},
};

static const struct cfn_name *find_cfn(const char *s, size_t len)
{
    for (int i = 0; cfns[i].name; i++)
        if (strlen(cfns[i].name) == len && memcmp(cfns[i].name, s, len) == 0)
            return &cfns[i];
    return NULL;
}

static bool enter(struct parser *p)
{
    if (++p->depth > WF_EXPR__MAX_DEPTH) {
        perr(p, p->tok.col, "%s", "expression nested too deeply");
        return false;
    }
    return true;
}

/* A closure argument: { body } or a bare body. */
static wf_expr__node *parse_closure(struct parser *p)
{
    int col = p->tok.col;
    bool braces = is_op(p, "{");
    if (braces && next(p))
        return NULL;
    p->closures++;
    wf_expr__node *body = parse_expr(p, 0);
    p->closures--;
    if (body == NULL)
        return NULL;
    if (braces && expect(p, "}"))
        return NULL;
    wf_expr__node *n = mk(p, WF_EXPR__N_CLOSURE, col);
    if (n)
        n->a = body;
    return n;
}

/* Arguments after '(' up to ')'. cfn marks which one is a closure. */
static int parse_args(struct parser *p, const struct cfn_name *cfn,
                      struct list *l)
{
    if (expect(p, "("))
        return p->rv;
    while (!is_op(p, ")")) {
        wf_expr__node *a;
        if (cfn != NULL && l->n == 1)
            a = parse_closure(p);
        else
            a = parse_expr(p, 0);
        if (a == NULL || list_push(p, l, a))
            return p->rv;
        if (is_op(p, ","))
            next(p);
        else if (!is_op(p, ")"))
            return perr(p, p->tok.col, "%s", "expected ',' or ')'");
        if (p->rv)
            return p->rv;
    }
    return next(p);
}

static wf_expr__node *parse_call(struct parser *p, const char *name,
                                 size_t len, int col, wf_expr__node *recv,
                                 bool sprig)
{
    wf_expr__node *n = mk(p, WF_EXPR__N_CALL, col);
    if (n == NULL)
        return NULL;
    const struct cfn_name *cfn = NULL;
    if (sprig) {
        n->def = wf_expr__sprig(name, len);
        if (n->def == NULL) {
            char nm[64];
            snprintf(nm, sizeof(nm), "%.*s", (int)(len < 60 ? len : 60), name);
            perr(p, col, "unknown sprig function '%s'", nm);
            return NULL;
        }
    } else if (recv == NULL) {
        cfn = find_cfn(name, len);
        if (cfn != NULL) {
            n->cfn = (unsigned char)cfn->cfn;
        } else {
            n->def = wf_expr__builtin(name, len);
            if (n->def == NULL) {
                char nm[64];
                snprintf(nm, sizeof(nm), "%.*s", (int)(len < 60 ? len : 60),
                         name);
                perr(p, col, "unknown function '%s'", nm);
                return NULL;
            }
        }
    } else {
        char nm[64];
        snprintf(nm, sizeof(nm), "%.*s", (int)(len < 60 ? len : 60), name);
        perr(p, col, "unknown method '%s'", nm);
        return NULL;
    }
    struct list l = {0};
    if (p->pipe_arg != NULL) {
        /* a | f(b) is f(a, b): the piped value is the first argument. */
        wf_expr__node *piped = p->pipe_arg;
        p->pipe_arg = NULL;
        if (list_push(p, &l, piped))
            return NULL;
    }
    if (parse_args(p, cfn, &l)) {
        cl_free(l.v);
        return NULL;
    }
    int min = cfn ? cfn->min : n->def->min_args;
    int max = cfn ? cfn->max : n->def->max_args;
    if ((int)l.n < min || (max >= 0 && (int)l.n > max)) {
        char nm[64];
        snprintf(nm, sizeof(nm), "%.*s", (int)(len < 60 ? len : 60), name);
        cl_free(l.v);
        perr(p, col, "wrong number of arguments to %s", nm);
        return NULL;
    }
    n->nargs = l.n;
    n->args = list_finish(p, &l);
    n->s = name;
    n->slen = len;
    return p->rv ? NULL : n;
}

static wf_expr__node *parse_postfix(struct parser *p, wf_expr__node *n)
{
    bool chain_opt = false;
    while (n != NULL && p->rv == 0) {
        int col = p->tok.col;
        if (is_op(p, ".") || (is_op(p, "?.") && p->pos < p->len &&
                              p->src[p->pos] != '[')) {
            bool opt = is_op(p, "?.");
            if (next(p))
                return NULL;
            if (p->tok.t != T_IDENT) {
                perr(p, p->tok.col, "%s", "expected a name after '.'");
                return NULL;
            }
            const char *name = p->tok.s;
            size_t len = p->tok.len;
            int ncol = p->tok.col;
            if (next(p))
                return NULL;
            if (is_op(p, "(")) {
                bool sprig = n->kind == WF_EXPR__N_IDENT && n->slen == 5 &&
                             memcmp(n->s, "sprig", 5) == 0;
                n = parse_call(p, name, len, ncol, sprig ? NULL : n, sprig);
                continue;
            }
            wf_expr__node *m = mk(p, WF_EXPR__N_MEMBER, col);
            wf_expr__node *k = mk_const(p, json_stringn_nocheck(name, len),
                                        ncol);
            if (m == NULL || k == NULL)
                return NULL;
            if (opt && n->kind == WF_EXPR__N_MEMBER)
                n->soft = true; /* a.b?.c: a missing b is nil too */
            m->a = n;
            m->b = k;
            m->opt = opt;
            chain_opt |= opt;
            n = m;
        } else if (is_op(p, "[") || is_op(p, "?.")) {
            bool opt = is_op(p, "?.");
            if (opt && next(p))
                return NULL;
            if (next(p)) /* '[' */
                return NULL;
            wf_expr__node *from = NULL, *to = NULL;
            bool slice = false;
            if (!is_op(p, ":")) {
                from = parse_expr(p, 0);
                if (from == NULL)
                    return NULL;
            }
            if (is_op(p, ":")) {
                slice = true;
                if (next(p))
                    return NULL;
                if (!is_op(p, "]")) {
                    to = parse_expr(p, 0);
                    if (to == NULL)
                        return NULL;
                }
            }
            if (expect(p, "]"))
                return NULL;
            wf_expr__node *m =
                mk(p, slice ? WF_EXPR__N_SLICE : WF_EXPR__N_MEMBER, col);
            if (m == NULL)
                return NULL;
            if (opt && n->kind == WF_EXPR__N_MEMBER)
                n->soft = true;
            m->a = n;
            m->b = from;
            m->c = to;
            m->opt = opt;
            chain_opt |= opt;
            n = m;
        } else {
            break;
        }
    }
    if (n != NULL && chain_opt)
        n->chain_end = true;
    return p->rv ? NULL : n;
}

static wf_expr__node *parse_primary(struct parser *p)
{
    struct token t = p->tok;
    wf_expr__node *n = NULL;
    switch (t.t) {
    case T_EOF:
        perr(p, t.col, "%s", "unexpected end of expression");
        return NULL;
    case T_INT:
        n = mk_const(p, json_integer((json_int_t)t.i), t.col);
        next(p);
        return n;
    case T_FLOAT:
        n = mk_const(p, json_real(t.f), t.col);
        next(p);
        return n;
    case T_STR:
        n = mk_const(p, json_stringn_nocheck(t.str, t.slen), t.col);
        next(p);
        return n;
    case T_POINTER: {
        if (p->closures == 0) {
            perr(p, t.col, "%s", "'#' is only valid inside a closure");
            return NULL;
        }
        if (!(t.len == 0 || (t.len == 5 && memcmp(t.s, "index", 5) == 0) ||
              (t.len == 3 && memcmp(t.s, "acc", 3) == 0))) {
            char nm[64];
            snprintf(nm, sizeof(nm), "%.*s", (int)(t.len < 60 ? t.len : 60),
                     t.s);
            perr(p, t.col, "unknown pointer '#%s'", nm);
            return NULL;
        }
        n = mk(p, WF_EXPR__N_POINTER, t.col);
        if (n) {
            n->s = t.s;
            n->slen = t.len;
        }
        next(p);
        return n;
    }
    case T_IDENT:
    case T_OP:
        break;
    }
    if (t.t == T_IDENT) {
        if (is_word(p, "true") || is_word(p, "false")) {
            n = mk_const(p, json_boolean(is_word(p, "true")), t.col);
            next(p);
            return n;
        }
        if (is_word(p, "nil")) {
            n = mk_const(p, json_null(), t.col);
            next(p);
            return n;
        }
        if (next(p))
            return NULL;
        if (is_op(p, "("))
            return parse_call(p, t.s, t.len, t.col, NULL, false);
        n = mk(p, WF_EXPR__N_IDENT, t.col);
        if (n) {
            n->s = arena_strndup(p, t.s, t.len);
            n->slen = t.len;
        }
        return p->rv ? NULL : n;
    }
    /* punctuation */
    if (is_op(p, "(")) {
        next(p);
        n = parse_expr(p, 0);
        if (n == NULL || expect(p, ")"))
            return NULL;
        return n;
    }
    if (is_op(p, "[")) {
        next(p);
        struct list l = {0};
        while (p->rv == 0 && !is_op(p, "]")) {
            wf_expr__node *e = parse_expr(p, 0);
            if (e == NULL || list_push(p, &l, e))
                break;
            if (is_op(p, ","))
                next(p);
            else if (!is_op(p, "]"))
                perr(p, p->tok.col, "%s", "expected ',' or ']'");
        }
        if (p->rv) {
            cl_free(l.v);
            return NULL;
        }
        next(p);
        n = mk(p, WF_EXPR__N_ARRAY, t.col);
        if (n == NULL) {
            cl_free(l.v);
            return NULL;
        }
        n->nargs = l.n;
        n->args = list_finish(p, &l);
        return p->rv ? NULL : n;
    }
    if (is_op(p, "{")) {
        next(p);
        struct list l = {0};
        while (p->rv == 0 && !is_op(p, "}")) {
            wf_expr__node *k = NULL;
            if (p->tok.t == T_IDENT) {
                k = mk_const(p, json_stringn_nocheck(p->tok.s, p->tok.len),
                             p->tok.col);
                next(p);
            } else if (p->tok.t == T_STR) {
                k = mk_const(p, json_stringn_nocheck(p->tok.str, p->tok.slen),
                             p->tok.col);
                next(p);
            } else if (p->tok.t == T_INT) {
                char num[32];
                int nl = snprintf(num, sizeof(num), "%lld",
                                  (long long)p->tok.i);
                k = mk_const(p, json_stringn_nocheck(num, (size_t)nl),
                             p->tok.col);
                next(p);
            } else if (is_op(p, "(")) {
                next(p);
                k = parse_expr(p, 0);
                if (k != NULL)
                    expect(p, ")");
            } else {
                perr(p, p->tok.col, "%s", "expected a map key");
            }
            if (k == NULL || p->rv || expect(p, ":"))
                break;
            wf_expr__node *v = parse_expr(p, 0);
            if (v == NULL || list_push(p, &l, k) || list_push(p, &l, v))
                break;
            if (is_op(p, ","))
                next(p);
            else if (!is_op(p, "}"))
                perr(p, p->tok.col, "%s", "expected ',' or '}'");
        }
        if (p->rv) {
            cl_free(l.v);
            return NULL;
        }
        next(p);
        n = mk(p, WF_EXPR__N_MAP, t.col);
        if (n == NULL) {
            cl_free(l.v);
            return NULL;
        }
        n->nargs = l.n;
        n->args = list_finish(p, &l);
        return p->rv ? NULL : n;
    }
    if (is_op(p, ".") && p->closures > 0) {
        /* .field inside a closure is #.field */
        wf_expr__node *ptr = mk(p, WF_EXPR__N_POINTER, t.col);
        if (ptr == NULL)
            return NULL;
        ptr->s = "";
        ptr->slen = 0;
        return ptr; /* parse_postfix reads ".field" */
    }
    char op[8];
    snprintf(op, sizeof(op), "%.*s", (int)t.len, t.s);
    perr(p, t.col, "unexpected '%s'", op);
    return NULL;
}

static wf_expr__node *parse_unary(struct parser *p)
{
    int col = p->tok.col;
    enum wf_expr__op op = WF_EXPR__OP_NONE;
    int prec = 0;
    if (is_op(p, "!") || is_word(p, "not")) {
        op = WF_EXPR__OP_NOT;
        prec = 50;
    } else if (is_op(p, "-")) {
        op = WF_EXPR__OP_NEG;
        prec = 90;
    } else if (is_op(p, "+")) {
        op = WF_EXPR__OP_POS;
        prec = 90;
    }
    if (op != WF_EXPR__OP_NONE) {
        if (next(p))
            return NULL;
        wf_expr__node *a = parse_expr(p, prec);
        if (a == NULL)
            return NULL;
        /* Fold negative literals so -9223372036854775808 stays exact. */
        wf_expr__node *n = mk(p, WF_EXPR__N_UNARY, col);
        if (n) {
            n->op = (unsigned char)op;
            n->a = a;
        }
        return n;
    }
    return parse_postfix(p, parse_primary(p));
}

static wf_expr__node *parse_cond(struct parser *p, wf_expr__node *cond)
{
    while (cond != NULL && p->rv == 0 && is_op(p, "?")) {
        int col = p->tok.col;
        if (next(p))
            return NULL;
        wf_expr__node *a, *b;
        if (is_op(p, ":")) {
            /* a ?: b is a ? a : b */
            a = cond;
            next(p);
        } else {
            a = parse_expr(p, 0);
            if (a == NULL || expect(p, ":"))
                return NULL;
        }
        b = parse_expr(p, 0);
        if (b == NULL)
            return NULL;
        wf_expr__node *n = mk(p, WF_EXPR__N_COND, col);
        if (n == NULL)
            return NULL;
        n->a = cond;
        n->b = a;
        n->c = b;
        cond = n;
    }
    return p->rv ? NULL : cond;
}

static wf_expr__node *parse_expr(struct parser *p, int prec)
{
    if (!enter(p))
        return NULL;
    wf_expr__node *lhs;
    if (prec == 0 && is_word(p, "let")) {
        int col = p->tok.col;
        if (next(p))
            return NULL;
        if (p->tok.t != T_IDENT) {
            perr(p, p->tok.col, "%s", "expected a name after 'let'");
            return NULL;
        }
        struct token name = p->tok;
        if (next(p) || expect(p, "="))
            return NULL;
        wf_expr__node *v = parse_expr(p, 0);
        if (v == NULL || expect(p, ";"))
            return NULL;
        wf_expr__node *body = parse_expr(p, 0);
        if (body == NULL)
            return NULL;
        lhs = mk(p, WF_EXPR__N_LET, col);
        if (lhs == NULL)
            return NULL;
        lhs->s = arena_strndup(p, name.s, name.len);
        lhs->slen = name.len;
        lhs->a = v;
        lhs->b = body;
        p->depth--;
        return p->rv ? NULL : lhs;
    }
    lhs = parse_unary(p);
    while (lhs != NULL && p->rv == 0) {
        int col = p->tok.col;
        bool negate = false;
        const struct binop *op;
        if (is_word(p, "not")) {
            /* not in, not matches, not contains, ... */
            size_t save_pos = p->pos;
            struct token save = p->tok;
            if (next(p))
                return NULL;
            op = cur_binop(p);
            if (op == NULL || !op->word || op->prec != 20) {
                p->pos = save_pos;
                p->tok = save;
                break;
            }
            negate = true;
        } else {
            op = cur_binop(p);
        }
        if (op == NULL || op->prec < prec)
            break;
        if (next(p))
            return NULL;
        if (op->text[0] == '|' && op->text[1] == '\0') {
            if (p->tok.t != T_IDENT) {
                perr(p, p->tok.col, "%s", "expected a call after '|'");
                return NULL;
            }
            int ccol = p->tok.col;
            p->pipe_arg = lhs;
            wf_expr__node *call = parse_postfix(p, parse_primary(p));
            if (call == NULL)
                return NULL;
            if (p->pipe_arg != NULL) {
                perr(p, ccol, "%s", "expected a call after '|'");
                return NULL;
            }
            lhs = call;
            continue;
        }
        wf_expr__node *rhs = parse_expr(p, op->right ? op->prec : op->prec + 1);
        if (rhs == NULL)
            return NULL;
        wf_expr__node *n = mk(p, WF_EXPR__N_BINARY, col);
        if (n == NULL)
            return NULL;
        n->op = (unsigned char)op->op;
        n->negate = negate;
        n->a = lhs;
        n->b = rhs;
        lhs = n;
    }
    if (prec == 0)
        lhs = parse_cond(p, lhs);
    p->depth--;
    return p->rv ? NULL : lhs;
}

int wf_expr__parse(const char *src, size_t len, wf_expr__arena **arena,
                   wf_expr__node **root, cl_errmsg *err)
{
    *arena = NULL;
    *root = NULL;
    if (len > WF_EXPR__MAX_SRC)
        return wf_expr__fail(err, CL_EEXPR, 0, "expression too long");
    struct parser p;
    memset(&p, 0, sizeof(p));
    p.src = src;
    p.len = len;
    p.err = err;
    p.arena = cl_calloc(1, sizeof(*p.arena));
    if (p.arena == NULL)
        return wf_expr__fail(err, CL_ENOMEM, 0, "out of memory");
    *arena = p.arena;
    if (next(&p))
        return p.rv;
    if (p.tok.t == T_EOF)
        return wf_expr__fail(err, CL_EEXPR, 0, "empty expression");
    wf_expr__node *n = parse_expr(&p, 0);
    if (n != NULL && p.rv == 0 && p.tok.t != T_EOF) {
        char tmp[32];
        snprintf(tmp, sizeof(tmp), "%.*s",
                 (int)(p.tok.len ? (p.tok.len < 20 ? p.tok.len : 20) : 1),
                 p.tok.s ? p.tok.s : src + (p.tok.col - 1));
        perr(&p, p.tok.col, "unexpected token '%s'", tmp);
    }
    if (p.rv)
        return p.rv;
    *root = n;
    return 0;
}
