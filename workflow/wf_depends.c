/* wf_depends.c - the DAG `depends` language (ARGO.md B4).
 *
 *   expr    := or
 *   or      := and ('||' and)*
 *   and     := unary ('&&' unary)*
 *   unary   := '!' unary | '(' expr ')' | operand
 *   operand := TASK ['.' RESULT]
 *
 * RESULT is Succeeded, Failed, Errored, Skipped, Omitted, Daemoned,
 * AnySucceeded or AllFailed. A bare TASK means (TASK.Succeeded ||
 * TASK.Skipped || TASK.Daemoned), widened by the task's continueOn when the
 * expression is evaluated (workflow/common/ancestry.go expandDependency).
 * Chains of && and || build one n-ary node each, so `dependencies` lists of
 * 100,000 names need no deep recursion; nesting by parentheses and `!` is
 * capped.
 */
#include "workflow/wf_int.h"

#include <ctype.h>
#include <string.h>

#define WF__DEP_MAX_DEPTH 64

typedef struct wf__dp {
    wf__arena *a;
    const char *s;
    size_t pos;
    wf__task_lookup lookup;
    void *ud;
    cl_errmsg *err;
    int rv;
    int depth;
} wf__dp;

static void wf__dp_ws(wf__dp *p)
{
    while (isspace((unsigned char)p->s[p->pos]))
        p->pos++;
}

static int wf__dp_fail(wf__dp *p, const char *what)
{
    if (p->rv == 0) {
        cl_errmsg_set(p->err, "depends '%s': %s at column %zu", p->s, what,
                      p->pos + 1);
        p->rv = CL_EINVAL;
    }
    return p->rv;
}

static wf__dep *wf__dp_node(wf__dp *p, enum wf__dep_op op, uint32_t nkids)
{
    wf__dep *d = wf__arena_alloc(p->a, sizeof(*d));
    if (d == NULL) {
        p->rv = CL_ENOMEM;
        return NULL;
    }
    d->op = op;
    if (nkids > 0) {
        d->kids = wf__arena_alloc(p->a, sizeof(wf__dep *) * nkids);
        if (d->kids == NULL) {
            p->rv = CL_ENOMEM;
            return NULL;
        }
    }
    return d;
}

static wf__dep *wf__dp_expr(wf__dp *p);

static const struct {
    const char *name;
    enum wf__dep_res res;
} wf__results[] = {
    {"Succeeded", WF__RES_SUCCEEDED}, {"Failed", WF__RES_FAILED},
    {"Errored", WF__RES_ERRORED},     {"Skipped", WF__RES_SKIPPED},
    {"Omitted", WF__RES_OMITTED},     {"Daemoned", WF__RES_DAEMONED},
    {"AnySucceeded", WF__RES_ANY_SUCCEEDED},
    {"AllFailed", WF__RES_ALL_FAILED},
};

static wf__dep *wf__dp_unary(wf__dp *p)
{
    wf__dp_ws(p);
    char c = p->s[p->pos];
    if (c == '!') {
        p->pos++;
        if (++p->depth > WF__DEP_MAX_DEPTH) {
            wf__dp_fail(p, "nested too deeply");
            return NULL;
        }
        wf__dep *k = wf__dp_unary(p);
        p->depth--;
        if (k == NULL)
            return NULL;
        wf__dep *d = wf__dp_node(p, WF__DEP_NOT, 1);
        if (d == NULL)
            return NULL;
        d->kids[0] = k;
        d->nkids = 1;
        return d;
    }
    if (c == '(') {
        p->pos++;
        if (++p->depth > WF__DEP_MAX_DEPTH) {
            wf__dp_fail(p, "nested too deeply");
            return NULL;
        }
        wf__dep *d = wf__dp_expr(p);
        p->depth--;
        if (d == NULL)
            return NULL;
        wf__dp_ws(p);
        if (p->s[p->pos] != ')') {
            wf__dp_fail(p, "expected ')'");
            return NULL;
        }
        p->pos++;
        return d;
    }
    size_t start = p->pos;
    while (isalnum((unsigned char)p->s[p->pos]) || p->s[p->pos] == '-' ||
           p->s[p->pos] == '_')
        p->pos++;
    if (p->pos == start) {
        wf__dp_fail(p, c ? "expected a task name" : "unexpected end");
        return NULL;
    }
    size_t nlen = p->pos - start;
    uint32_t task;
    int rv = p->lookup(p->ud, p->s + start, nlen, &task);
    if (rv != 0) {
        if (p->rv == 0) {
            cl_errmsg_set(p->err, "depends on unknown task '%.*s'", (int)nlen,
                          p->s + start);
            p->rv = CL_EINVAL;
        }
        return NULL;
    }
    enum wf__dep_res res = WF__RES_BARE;
    if (p->s[p->pos] == '.') {
        p->pos++;
        size_t rs = p->pos;
        while (isalpha((unsigned char)p->s[p->pos]))
            p->pos++;
        size_t rl = p->pos - rs;
        bool found = false;
        for (size_t i = 0; i < sizeof(wf__results) / sizeof(wf__results[0]);
             i++) {
            if (strlen(wf__results[i].name) == rl &&
                !memcmp(wf__results[i].name, p->s + rs, rl)) {
                res = wf__results[i].res;
                found = true;
            }
        }
        if (!found) {
            p->pos = rs;
            wf__dp_fail(p, "expected Succeeded, Failed, Errored, Skipped, "
                           "Omitted, Daemoned, AnySucceeded or AllFailed");
            return NULL;
        }
    }
    wf__dep *d = wf__dp_node(p, WF__DEP_LEAF, 0);
    if (d == NULL)
        return NULL;
    d->task = task;
    d->res = res;
    return d;
}

/* Parse a chain of `sub` joined by `tok`, into one n-ary node. */
static wf__dep *wf__dp_chain(wf__dp *p, const char *tok, enum wf__dep_op op,
                             wf__dep *(*sub)(wf__dp *))
{
    wf__dep *first = sub(p);
    if (first == NULL)
        return NULL;
    wf__dp_ws(p);
    if (strncmp(p->s + p->pos, tok, 2) != 0)
        return first;
    /* collect into a growing array (arena: doubling copies are bounded) */
    uint32_t cap = 8, n = 0;
    wf__dep **v = wf__arena_alloc(p->a, sizeof(wf__dep *) * cap);
    if (v == NULL) {
        p->rv = CL_ENOMEM;
        return NULL;
    }
    v[n++] = first;
    while (strncmp(p->s + p->pos, tok, 2) == 0) {
        p->pos += 2;
        wf__dep *k = sub(p);
        if (k == NULL)
            return NULL;
        if (n == cap) {
            wf__dep **nv = wf__arena_alloc(p->a, sizeof(wf__dep *) * cap * 2);
            if (nv == NULL) {
                p->rv = CL_ENOMEM;
                return NULL;
            }
            memcpy(nv, v, sizeof(wf__dep *) * n);
            v = nv;
            cap *= 2;
        }
        v[n++] = k;
        wf__dp_ws(p);
    }
    wf__dep *d = wf__dp_node(p, op, 0);
    if (d == NULL)
        return NULL;
    d->kids = v;
    d->nkids = n;
    return d;
}

static wf__dep *wf__dp_and(wf__dp *p)
{
    return wf__dp_chain(p, "&&", WF__DEP_AND, wf__dp_unary);
}

static wf__dep *wf__dp_expr(wf__dp *p)
{
    return wf__dp_chain(p, "||", WF__DEP_OR, wf__dp_and);
}

int wf__dep_parse(wf__arena *a, const char *src, wf__task_lookup lookup,
                  void *ud, wf__dep **out, cl_errmsg *err)
{
    wf__dp p = {a, src, 0, lookup, ud, err, 0, 0};
    wf__dep *d = wf__dp_expr(&p);
    if (d != NULL) {
        wf__dp_ws(&p);
        if (p.s[p.pos] != '\0') {
            wf__dp_fail(&p, "unexpected text");
            d = NULL;
        }
    }
    if (d == NULL) {
        if (p.rv == 0)
            wf__dp_fail(&p, "invalid expression");
        return p.rv;
    }
    *out = d;
    return 0;
}

void wf__dep_collect(const wf__dep *d, uint32_t *deps, uint32_t *ndeps,
                     uint8_t *seen)
{
    if (d->op == WF__DEP_LEAF) {
        if (!seen[d->task]) {
            seen[d->task] = 1;
            deps[(*ndeps)++] = d->task;
        }
        return;
    }
    for (uint32_t i = 0; i < d->nkids; i++)
        wf__dep_collect(d->kids[i], deps, ndeps, seen);
}

bool wf__dep_eval(const wf__dep *d, wf__dep_value val, void *ud)
{
    switch (d->op) {
    case WF__DEP_LEAF:
        return val(ud, d->task, d->res);
    case WF__DEP_NOT:
        return !wf__dep_eval(d->kids[0], val, ud);
    case WF__DEP_AND:
        for (uint32_t i = 0; i < d->nkids; i++)
            if (!wf__dep_eval(d->kids[i], val, ud))
                return false;
        return true;
    case WF__DEP_OR:
        for (uint32_t i = 0; i < d->nkids; i++)
            if (wf__dep_eval(d->kids[i], val, ud))
                return true;
        return false;
    }
    return false;
}
