/* wf_expr_jsonpath.c - JSONPath as Argo's jsonpath() evaluates it
 * (argo-workflows util/expr/env/env.go calls
 * github.com/evilmonkeyinc/jsonpath Query on the decoded JSON).
 *
 * Supported: $ root; .name and ['name'] / ["name"] children; .* and [*]
 * wildcards; [n] and [-n] indexes; [start:end:step] ranges (end
 * exclusive, bounds clamped, a negative step walks the selection
 * backwards); [a,b] unions of indexes or keys; ..name, ..* and ..[...]
 * recursive descent; [?(filter)] with @ (the element) and $ (the root),
 * literals, == != < <= > >= =~ && || ! + - * / % and parentheses;
 * [(script)] computing an index or key, e.g. [(@.length-1)]; .length of
 * arrays, maps and strings (unless a map has a "length" key).
 *
 * The result has the library's shape: a single value while every step
 * selects one element ($.a.b, $[0].value), and a list once a wildcard,
 * range, union, filter or recursive descent selects several
 * ($.items[*].name, $.items[?(@.x > 1)].y, $.items[0:1]). Steps after a
 * multi-selection apply to each element; elements where they fail, and
 * null results, are left out. An index right after a range or filter
 * picks from the selected list. A missing key or an index out of range
 * on the single-value path is an error. Map members are visited in key
 * order (Go maps have no order; sorted keys make results stable).
 */
#include "workflow/expr/wf_expr.h"
#include "workflow/expr/wf_expr_int.h"

#include "common/cl_heap.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define JP_MAX_WORK 2000000u /* elements visited per query */

enum seg_kind {
    S_KEY,
    S_INDEX,
    S_WILD,
    S_RANGE,
    S_UNION,
    S_FILTER,
    S_RECURSE,
    S_SCRIPT,
};

struct uitem {
    bool is_key;
    char *key; /* cl_malloc'd */
    size_t klen;
    int64_t idx;
};

struct seg {
    enum seg_kind kind;
    char *key; /* S_KEY (cl_malloc'd) */
    size_t klen;
    bool dot; /* written .name (enables .length) */
    int64_t idx;
    bool has_from, has_to, has_step;
    int64_t from, to, step;
    struct uitem *items; /* S_UNION */
    size_t nitems;
    const char *expr; /* S_FILTER / S_SCRIPT: source text (borrowed) */
    size_t elen;
};

struct jp {
    cl_errmsg *err;
    size_t work, max_work;
    int depth;
    json_t *root;
};

static int jfail(struct jp *j, const char *fmt, const char *a)
{
    return wf_expr__fail(j->err, CL_EEXPR, 0, fmt, a);
}

static int joom(struct jp *j)
{
    return wf_expr__fail(j->err, CL_ENOMEM, 0, "out of memory");
}

static void segs_free(struct seg *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cl_free(s[i].key);
        for (size_t k = 0; k < s[i].nitems; k++)
            cl_free(s[i].items[k].key);
        cl_free(s[i].items);
    }
    cl_free(s);
}

/* ---- path parsing ---- */

/* End of a bracket starting at p[i] == '[': index of the matching ']',
 * skipping quotes and nested brackets/parentheses; 0 if unbalanced. */
static size_t bracket_end(const char *p, size_t len, size_t i)
{
    int nest = 0;
    char q = 0;
    for (; i < len; i++) {
        char c = p[i];
        if (q) {
            if (c == '\\')
                i++;
            else if (c == q)
                q = 0;
            continue;
        }
        if (c == '\'' || c == '"')
            q = c;
        else if (c == '[' || c == '(')
            nest++;
        else if (c == ']' || c == ')') {
            if (--nest == 0)
                return c == ']' ? i : 0;
        }
    }
    return 0;
}

static char *trimdup(const char *s, size_t len, size_t *outlen)
{
    while (len && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    char *o = cl_malloc(len + 1);
    if (o) {
        memcpy(o, s, len);
        o[len] = '\0';
        *outlen = len;
    }
    return o;
}

static bool parse_i64(const char *s, size_t len, int64_t *out)
{
    while (len && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    return wf_expr__parse_int(s, len, out);
}

/* A quoted key: decode '...' or "..." with backslash escapes. */
static bool unquote(const char *s, size_t len, char **out, size_t *outlen)
{
    while (len && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    if (len < 2 || (s[0] != '\'' && s[0] != '"') || s[len - 1] != s[0])
        return false;
    char *o = cl_malloc(len);
    if (o == NULL) {
        *out = NULL;
        return true;
    }
    size_t n = 0;
    for (size_t i = 1; i + 1 < len; i++) {
        if (s[i] == '\\' && i + 2 < len)
            i++;
        else if (s[i] == s[0]) {
            cl_free(o);
            *out = NULL;
            return false;
        }
        o[n++] = s[i];
    }
    o[n] = '\0';
    *out = o;
    *outlen = n;
    return true;
}

/* Split s at top-level occurrences of sep (outside quotes/parens). */
static size_t top_split(const char *s, size_t len, char sep, size_t *pos,
                        size_t max)
{
    size_t n = 0;
    int nest = 0;
    char q = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (q) {
            if (c == '\\')
                i++;
            else if (c == q)
                q = 0;
        } else if (c == '\'' || c == '"') {
            q = c;
        } else if (c == '(' || c == '[') {
            nest++;
        } else if (c == ')' || c == ']') {
            nest--;
        } else if (c == sep && nest == 0) {
            if (n < max)
                pos[n] = i;
            n++;
        }
    }
    return n;
}

static int parse_bracket(struct jp *j, const char *s, size_t len,
                         struct seg *sg)
{
    while (len && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    if (len == 0)
        return jfail(j, "%s", "empty subscript");
    if (len == 1 && s[0] == '*') {
        sg->kind = S_WILD;
        return 0;
    }
    if (s[0] == '?') {
        size_t k = 1;
        while (k < len && isspace((unsigned char)s[k]))
            k++;
        if (k >= len || s[k] != '(' || s[len - 1] != ')')
            return jfail(j, "%s", "invalid filter, expected [?(...)]");
        sg->kind = S_FILTER;
        sg->expr = s + k + 1;
        sg->elen = len - k - 2;
        return 0;
    }
    size_t pos[3];
    size_t ncolon = top_split(s, len, ':', pos, 3);
    size_t ncomma = top_split(s, len, ',', NULL, 0);
    if (s[0] == '(' && s[len - 1] == ')' && ncolon == 0 && ncomma == 0) {
        sg->kind = S_SCRIPT;
        sg->expr = s + 1;
        sg->elen = len - 2;
        return 0;
    }
    if (ncolon > 0) {
        if (ncolon > 2)
            return jfail(j, "%s", "invalid range");
        sg->kind = S_RANGE;
        size_t starts[3] = {0, pos[0] + 1, ncolon > 1 ? pos[1] + 1 : len};
        size_t ends[3] = {pos[0], ncolon > 1 ? pos[1] : len, len};
        bool *has[3] = {&sg->has_from, &sg->has_to, &sg->has_step};
        int64_t *val[3] = {&sg->from, &sg->to, &sg->step};
        for (size_t k = 0; k <= ncolon; k++) {
            const char *p = s + starts[k];
            size_t l = ends[k] - starts[k];
            size_t m = l;
            while (m && isspace((unsigned char)p[m - 1]))
                m--;
            size_t lead = 0;
            while (lead < m && isspace((unsigned char)p[lead]))
                lead++;
            if (lead == m)
                continue;
            if (!parse_i64(p, l, val[k]))
                return jfail(j, "%s", "range bounds must be integers");
            *has[k] = true;
        }
        if (sg->has_step && sg->step == 0)
            return jfail(j, "%s", "range step must not be zero");
        return 0;
    }
    if (ncomma > 0) {
        if (ncomma > 10000)
            return jfail(j, "%s", "union too long");
        size_t *cpos = cl_malloc(ncomma * sizeof(*cpos));
        sg->items = cl_calloc(ncomma + 1, sizeof(*sg->items));
        if (cpos == NULL || sg->items == NULL) {
            cl_free(cpos);
            return joom(j);
        }
        top_split(s, len, ',', cpos, ncomma);
        sg->kind = S_UNION;
        int rv = 0;
        for (size_t k = 0; k <= ncomma && rv == 0; k++) {
            size_t a = k == 0 ? 0 : cpos[k - 1] + 1;
            size_t b = k == ncomma ? len : cpos[k];
            struct uitem *it = &sg->items[k];
            sg->nitems++;
            if (unquote(s + a, b - a, &it->key, &it->klen)) {
                if (it->key == NULL)
                    rv = joom(j);
                it->is_key = true;
            } else if (!parse_i64(s + a, b - a, &it->idx)) {
                rv = jfail(j, "%s", "union members must be indexes or "
                                    "quoted keys");
            }
        }
        cl_free(cpos);
        return rv;
    }
    char *key;
    size_t klen;
    if (unquote(s, len, &key, &klen)) {
        if (key == NULL)
            return joom(j);
        sg->kind = S_KEY;
        sg->key = key;
        sg->klen = klen;
        return 0;
    }
    if (parse_i64(s, len, &sg->idx)) {
        sg->kind = S_INDEX;
        return 0;
    }
    return jfail(j, "%s", "invalid subscript");
}

/* Parse path (after the root symbol) into segments. */
static int parse_path(struct jp *j, const char *p, size_t len,
                      struct seg **out, size_t *nout)
{
    struct seg *segs = NULL;
    size_t n = 0, cap = 0;
    size_t i = 0;
    int rv = 0;
    while (i < len && rv == 0) {
        if (n + 2 > cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct seg *ns = cl_realloc(segs, ncap * sizeof(*ns));
            if (ns == NULL) {
                rv = joom(j);
                break;
            }
            segs = ns;
            cap = ncap;
        }
        struct seg *sg = &segs[n];
        memset(sg, 0, sizeof(*sg));
        if (p[i] == '.' && i + 1 < len && p[i + 1] == '.') {
            sg->kind = S_RECURSE;
            n++;
            i += 2;
            if (i >= len)
                rv = jfail(j, "%s", "path ends after '..'");
            else if (p[i] == '.')
                rv = jfail(j, "%s", "unexpected '.' after '..'");
            else if (p[i] == '[')
                continue;
            else if (p[i] == '*') {
                memset(&segs[n], 0, sizeof(segs[n]));
                segs[n++].kind = S_WILD;
                i++;
            } else {
                i--; /* reread as ".name" */
                /* p[i] is '.', handled below */
            }
            continue;
        }
        if (p[i] == '.') {
            i++;
            if (i < len && p[i] == '*') {
                sg->kind = S_WILD;
                n++;
                i++;
                continue;
            }
            size_t st = i;
            while (i < len && p[i] != '.' && p[i] != '[')
                i++;
            if (i == st) {
                rv = jfail(j, "%s", "empty name after '.'");
                break;
            }
            sg->kind = S_KEY;
            sg->dot = true;
            sg->key = trimdup(p + st, i - st, &sg->klen);
            if (sg->key == NULL)
                rv = joom(j);
            n++;
            continue;
        }
        if (p[i] == '[') {
            size_t e = bracket_end(p, len, i);
            if (e == 0) {
                rv = jfail(j, "%s", "unbalanced '['");
                break;
            }
            n++;
            rv = parse_bracket(j, p + i + 1, e - i - 1, sg);
            i = e + 1;
            continue;
        }
        if (isspace((unsigned char)p[i])) {
            i++;
            continue;
        }
        char tmp[2] = {p[i], 0};
        rv = jfail(j, "unexpected '%s' in path", tmp);
    }
    if (rv != 0) {
        segs_free(segs, n);
        return rv;
    }
    *out = segs;
    *nout = n;
    return 0;
}

/* ---- evaluation ---- */

static int apply(struct jp *j, const struct seg *s, size_t n, json_t *cur,
                 json_t **out);

static int charge(struct jp *j, size_t k)
{
    j->work += k;
    if (j->work > j->max_work)
        return jfail(j, "%s", "query visits too many elements");
    return 0;
}

static int64_t length_of(const json_t *v)
{
    if (json_is_array(v))
        return (int64_t)json_array_size(v);
    if (json_is_object(v))
        return (int64_t)json_object_size(v);
    if (json_is_string(v))
        return (int64_t)json_string_length(v);
    return -1;
}

/* Elements of an array, or a map's values in key order, as borrowed
 * pointers in a cl_malloc'd vector. */
static int members(struct jp *j, json_t *v, json_t ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (json_is_array(v)) {
        size_t len = json_array_size(v);
        json_t **m = cl_malloc((len ? len : 1) * sizeof(*m));
        if (m == NULL)
            return joom(j);
        for (size_t i = 0; i < len; i++)
            m[i] = json_array_get(v, i);
        *out = m;
        *n = len;
        return charge(j, len);
    }
    if (json_is_object(v)) {
        const char **keys;
        size_t *lens, cnt;
        int rv = wf_expr__sorted_keys(v, &keys, &lens, &cnt, j->err);
        if (rv != 0)
            return rv;
        json_t **m = cl_malloc((cnt ? cnt : 1) * sizeof(*m));
        if (m == NULL) {
            cl_free(keys);
            cl_free(lens);
            return joom(j);
        }
        for (size_t i = 0; i < cnt; i++)
            m[i] = json_object_getn(v, keys[i], lens[i]);
        cl_free(keys);
        cl_free(lens);
        *out = m;
        *n = cnt;
        return charge(j, cnt);
    }
    return jfail(j, "cannot select members of %s", wf_expr__type_name(v));
}

/* Apply the remaining segments to each element and collect the results
 * into a list, dropping failures and nulls (but not out of memory). */
static int map_rest(struct jp *j, const struct seg *s, size_t n,
                    json_t **elems, size_t cnt, bool flatten, json_t **out)
{
    json_t *list;
    int rv = wf_expr__array(&list, j->err);
    for (size_t i = 0; i < cnt && rv == 0; i++) {
        json_t *r = NULL;
        int e = apply(j, s, n, elems[i], &r);
        if (e == CL_ENOMEM || (e != 0 && j->work > j->max_work)) {
            rv = e;
            break;
        }
        if (e != 0 || r == NULL || json_is_null(r)) {
            json_decref(r);
            continue;
        }
        if (flatten && json_is_array(r) && n > 0) {
            for (size_t k = 0; k < json_array_size(r) && rv == 0; k++)
                rv = wf_expr__push(list, json_incref(json_array_get(r, k)),
                                   j->err);
            json_decref(r);
        } else {
            rv = wf_expr__push(list, r, j->err);
        }
    }
    if (rv != 0) {
        json_decref(list);
        return rv;
    }
    *out = list;
    return 0;
}

/* A list result followed by an index picks from the list itself. */
static int list_then(struct jp *j, const struct seg *s, size_t n,
                     json_t **elems, size_t cnt, json_t **out)
{
    if (n > 0 && s[0].kind == S_INDEX) {
        json_t *list;
        int rv = wf_expr__array(&list, j->err);
        for (size_t i = 0; i < cnt && rv == 0; i++)
            rv = wf_expr__push(list, json_incref(elems[i]), j->err);
        if (rv != 0) {
            json_decref(list);
            return rv;
        }
        rv = apply(j, s, n, list, out);
        json_decref(list);
        return rv;
    }
    return map_rest(j, s, n, elems, cnt, false, out);
}

static void flatten_into(json_t *v, json_t ***vec, size_t *n, size_t *cap,
                         int depth, bool *oom, bool *deep)
{
    if (*oom || *deep)
        return;
    if (depth > WF_EXPR__MAX_JSON_DEPTH) {
        *deep = true;
        return;
    }
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 32;
        json_t **nv = cl_realloc(*vec, nc * sizeof(*nv));
        if (nv == NULL) {
            *oom = true;
            return;
        }
        *vec = nv;
        *cap = nc;
    }
    (*vec)[(*n)++] = v;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            flatten_into(json_array_get(v, i), vec, n, cap, depth + 1, oom,
                         deep);
    } else if (json_is_object(v)) {
        const char **keys;
        size_t *lens, cnt;
        if (wf_expr__sorted_keys(v, &keys, &lens, &cnt, NULL) != 0) {
            *oom = true;
            return;
        }
        for (size_t i = 0; i < cnt; i++)
            flatten_into(json_object_getn(v, keys[i], lens[i]), vec, n, cap,
                         depth + 1, oom, deep);
        cl_free(keys);
        cl_free(lens);
    }
}

static int filter_eval(struct jp *j, const char *e, size_t len, json_t *cur,
                       json_t **out);

static bool include(const json_t *v)
{
    if (v == NULL || json_is_null(v))
        return false;
    if (json_is_boolean(v))
        return json_is_true(v);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t a = 0, b = json_string_length(v);
        while (a < b && s[a] == '"')
            a++;
        while (b > a && s[b - 1] == '"')
            b--;
        return b > a;
    }
    return true;
}

static int index_into(struct jp *j, json_t *cur, int64_t idx, json_t **out)
{
    int64_t len = length_of(cur);
    if (len < 0)
        return jfail(j, "cannot index %s", wf_expr__type_name(cur));
    if (idx < 0)
        idx += len;
    if (idx < 0 || idx >= len)
        return jfail(j, "%s", "index out of range");
    if (json_is_array(cur)) {
        *out = json_incref(json_array_get(cur, (size_t)idx));
        return 0;
    }
    if (json_is_string(cur))
        return wf_expr__str(json_string_value(cur) + idx, 1, out, j->err);
    json_t **m;
    size_t cnt;
    int rv = members(j, cur, &m, &cnt);
    if (rv != 0)
        return rv;
    *out = json_incref(m[idx]);
    cl_free(m);
    return 0;
}

static int apply(struct jp *j, const struct seg *s, size_t n, json_t *cur,
                 json_t **out)
{
    *out = NULL;
    if (n == 0) {
        *out = json_incref(cur);
        return 0;
    }
    if (++j->depth > WF_EXPR__MAX_DEPTH) {
        j->depth--;
        return jfail(j, "%s", "path too deep");
    }
    int rv = charge(j, 1);
    json_t *v = NULL;
    json_t **m = NULL;
    size_t cnt = 0;
    if (rv != 0)
        goto done;
    switch (s->kind) {
    case S_KEY:
        if (json_is_object(cur)) {
            v = json_object_getn(cur, s->key, s->klen);
            if (v != NULL) {
                rv = apply(j, s + 1, n - 1, v, out);
                goto done;
            }
        }
        if (s->dot && s->klen == 6 && memcmp(s->key, "length", 6) == 0 &&
            length_of(cur) >= 0) {
            json_t *l = json_integer(length_of(cur));
            if (l == NULL) {
                rv = joom(j);
                goto done;
            }
            rv = apply(j, s + 1, n - 1, l, out);
            json_decref(l);
            goto done;
        }
        if (!json_is_object(cur))
            rv = jfail(j, "cannot select key of %s", wf_expr__type_name(cur));
        else {
            char k[128];
            snprintf(k, sizeof(k), "%.*s",
                     (int)(s->klen < 100 ? s->klen : 100), s->key);
            rv = jfail(j, "key '%s' not found", k);
        }
        goto done;
    case S_INDEX:
    case S_SCRIPT: {
        json_t *picked = NULL;
        if (s->kind == S_INDEX) {
            rv = index_into(j, cur, s->idx, &picked);
        } else {
            json_t *k;
            if ((rv = filter_eval(j, s->expr, s->elen, cur, &k)) != 0)
                goto done;
            if (json_is_string(k) && json_is_object(cur)) {
                picked = json_object_getn(cur, json_string_value(k),
                                          json_string_length(k));
                if (picked == NULL)
                    rv = jfail(j, "%s", "script key not found");
                else
                    json_incref(picked);
            } else if (json_is_integer(k)) {
                rv = index_into(j, cur, json_integer_value(k), &picked);
            } else {
                rv = jfail(j, "%s", "script must give an index or key");
            }
            json_decref(k);
        }
        if (rv == 0)
            rv = apply(j, s + 1, n - 1, picked, out);
        json_decref(picked);
        goto done;
    }
    case S_WILD:
        if ((rv = members(j, cur, &m, &cnt)) == 0)
            rv = map_rest(j, s + 1, n - 1, m, cnt, false, out);
        goto done;
    case S_UNION: {
        m = cl_calloc(s->nitems ? s->nitems : 1, sizeof(*m));
        if (m == NULL) {
            rv = joom(j);
            goto done;
        }
        for (size_t i = 0; i < s->nitems; i++) {
            const struct uitem *it = &s->items[i];
            json_t *x = NULL;
            if (it->is_key && json_is_object(cur))
                x = json_object_getn(cur, it->key, it->klen);
            else if (!it->is_key && json_is_array(cur)) {
                int64_t k = it->idx < 0
                                ? it->idx + (int64_t)json_array_size(cur)
                                : it->idx;
                if (k >= 0 && k < (int64_t)json_array_size(cur))
                    x = json_array_get(cur, (size_t)k);
            }
            if (x != NULL)
                m[cnt++] = x;
        }
        rv = map_rest(j, s + 1, n - 1, m, cnt, false, out);
        goto done;
    }
    case S_RANGE: {
        int64_t len = length_of(cur);
        if (len < 0) {
            rv = jfail(j, "cannot take a range of %s",
                       wf_expr__type_name(cur));
            goto done;
        }
        int64_t a = s->has_from ? s->from : 0;
        int64_t b = s->has_to ? s->to : len;
        int64_t step = s->has_step ? s->step : 1;
        if (a < 0)
            a += len;
        if (b < 0)
            b += len;
        a = a < 0 ? 0 : a > len ? len : a;
        b = b < 0 ? 0 : b > len ? len : b;
        if (b < a)
            b = a;
        uint64_t astep = step < 0 ? 0 - (uint64_t)step : (uint64_t)step;
        if (json_is_string(cur)) {
            cl_buf buf = CL_BUF_INIT;
            const char *str = json_string_value(cur);
            if (step > 0)
                for (int64_t i = a; i < b; i += (int64_t)astep)
                    cl_buf_putc(&buf, str[i]);
            else
                for (int64_t i = b - 1; i >= a; i -= (int64_t)astep)
                    cl_buf_putc(&buf, str[i]);
            json_t *sub = NULL;
            rv = wf_expr__str_buf(&buf, &sub, j->err);
            cl_buf_free(&buf);
            if (rv == 0)
                rv = apply(j, s + 1, n - 1, sub, out);
            json_decref(sub);
            goto done;
        }
        json_t **all;
        size_t total;
        if ((rv = members(j, cur, &all, &total)) != 0)
            goto done;
        m = cl_malloc(((size_t)(b - a) + 1) * sizeof(*m));
        if (m == NULL) {
            cl_free(all);
            rv = joom(j);
            goto done;
        }
        if (step > 0)
            for (int64_t i = a; i < b; i += (int64_t)astep)
                m[cnt++] = all[i];
        else
            for (int64_t i = b - 1; i >= a; i -= (int64_t)astep)
                m[cnt++] = all[i];
        cl_free(all);
        rv = list_then(j, s + 1, n - 1, m, cnt, out);
        goto done;
    }
    case S_FILTER: {
        json_t **all;
        size_t total;
        if ((rv = members(j, cur, &all, &total)) != 0)
            goto done;
        m = cl_malloc((total ? total : 1) * sizeof(*m));
        if (m == NULL) {
            cl_free(all);
            rv = joom(j);
            goto done;
        }
        for (size_t i = 0; i < total && rv == 0; i++) {
            json_t *r = NULL;
            int e = filter_eval(j, s->expr, s->elen, all[i], &r);
            if (e == CL_ENOMEM || (e != 0 && j->work > j->max_work))
                rv = e;
            else if (e == 0 && include(r))
                m[cnt++] = all[i];
            json_decref(r);
        }
        cl_free(all);
        if (rv == 0)
            rv = list_then(j, s + 1, n - 1, m, cnt, out);
        goto done;
    }
    case S_RECURSE: {
        size_t cap = 0;
        bool oom = false, deep = false;
        flatten_into(cur, &m, &cnt, &cap, 0, &oom, &deep);
        if (oom)
            rv = joom(j);
        else if (deep)
            rv = jfail(j, "%s", "document nested too deeply");
        else if ((rv = charge(j, cnt)) == 0)
            rv = map_rest(j, s + 1, n - 1, m, cnt, true, out);
        goto done;
    }
    }
done:
    cl_free(m);
    j->depth--;
    if (rv != 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rv;
}

/* ---- filter and script expressions ---- */

struct fx {
    struct jp *j;
    const char *s;
    size_t len, pos;
    json_t *cur;
    int depth;
};

static void fx_ws(struct fx *f)
{
    while (f->pos < f->len && isspace((unsigned char)f->s[f->pos]))
        f->pos++;
}

static bool fx_eat(struct fx *f, const char *op)
{
    fx_ws(f);
    size_t n = strlen(op);
    if (f->pos + n <= f->len && memcmp(f->s + f->pos, op, n) == 0) {
        f->pos += n;
        return true;
    }
    return false;
}

static int fx_or(struct fx *f, json_t **out);

/* @ or $ followed by a path: evaluate it against the element or root. */
static int fx_path(struct fx *f, json_t **out)
{
    char sym = f->s[f->pos++];
    size_t st = f->pos;
    while (f->pos < f->len) {
        char c = f->s[f->pos];
        if (c == '[') {
            size_t e = bracket_end(f->s, f->len, f->pos);
            if (e == 0)
                return jfail(f->j, "%s", "unbalanced '[' in filter");
            f->pos = e + 1;
        } else if (c == '.' || isalnum((unsigned char)c) || c == '_' ||
                   c == '-' || c == '*' || (unsigned char)c >= 0x80) {
            /* '-' belongs to names like @.my-key only when followed by a
             * name character, else it is the minus operator. */
            if (c == '-' && !(f->pos + 1 < f->len &&
                              (isalpha((unsigned char)f->s[f->pos + 1]) ||
                               f->s[f->pos + 1] == '_')))
                break;
            f->pos++;
        } else {
            break;
        }
    }
    struct seg *segs;
    size_t n;
    int rv = parse_path(f->j, f->s + st, f->pos - st, &segs, &n);
    if (rv != 0)
        return rv;
    rv = apply(f->j, segs, n, sym == '@' ? f->cur : f->j->root, out);
    segs_free(segs, n);
    return rv;
}

static int fx_primary(struct fx *f, json_t **out)
{
    *out = NULL;
    fx_ws(f);
    if (f->pos >= f->len)
        return jfail(f->j, "%s", "unexpected end of filter");
    if (++f->depth > WF_EXPR__MAX_DEPTH)
        return jfail(f->j, "%s", "filter nested too deeply");
    char c = f->s[f->pos];
    int rv;
    if (c == '(') {
        f->pos++;
        rv = fx_or(f, out);
        if (rv == 0 && !fx_eat(f, ")")) {
            json_decref(*out);
            *out = NULL;
            rv = jfail(f->j, "%s", "expected ')' in filter");
        }
    } else if (c == '@' || c == '$') {
        rv = fx_path(f, out);
    } else if (c == '\'' || c == '"') {
        size_t e = f->pos + 1;
        while (e < f->len && f->s[e] != c) {
            if (f->s[e] == '\\')
                e++;
            e++;
        }
        if (e >= f->len) {
            rv = jfail(f->j, "%s", "unterminated string in filter");
        } else {
            char *k;
            size_t kl;
            if (!unquote(f->s + f->pos, e + 1 - f->pos, &k, &kl))
                rv = jfail(f->j, "%s", "bad string in filter");
            else if (k == NULL)
                rv = joom(f->j);
            else {
                rv = wf_expr__str(k, kl, out, f->j->err);
                cl_free(k);
            }
            f->pos = e + 1;
        }
    } else if (isdigit((unsigned char)c) ||
               (c == '.' && f->pos + 1 < f->len &&
                isdigit((unsigned char)f->s[f->pos + 1]))) {
        size_t e = f->pos;
        bool real = false;
        while (e < f->len && (isdigit((unsigned char)f->s[e]) ||
                              f->s[e] == '.' || f->s[e] == 'e' ||
                              f->s[e] == 'E' ||
                              ((f->s[e] == '+' || f->s[e] == '-') && e > 0 &&
                               (f->s[e - 1] == 'e' || f->s[e - 1] == 'E')))) {
            real |= !isdigit((unsigned char)f->s[e]);
            e++;
        }
        int64_t i;
        double d;
        if (!real && wf_expr__parse_int(f->s + f->pos, e - f->pos, &i))
            rv = wf_expr__int(i, out, f->j->err);
        else if (wf_expr__parse_float(f->s + f->pos, e - f->pos, &d))
            rv = wf_expr__real(d, out, f->j->err);
        else
            rv = jfail(f->j, "%s", "bad number in filter");
        f->pos = e;
    } else if (c == '/') { /* /regex/ literal for =~ */
        size_t e = f->pos + 1;
        while (e < f->len && f->s[e] != '/') {
            if (f->s[e] == '\\')
                e++;
            e++;
        }
        if (e >= f->len) {
            rv = jfail(f->j, "%s", "unterminated regex in filter");
        } else {
            rv = wf_expr__str(f->s + f->pos + 1, e - f->pos - 1, out,
                              f->j->err);
            f->pos = e + 1;
        }
    } else if (isalpha((unsigned char)c)) {
        size_t e = f->pos;
        while (e < f->len && isalnum((unsigned char)f->s[e]))
            e++;
        size_t n = e - f->pos;
        const char *w = f->s + f->pos;
        f->pos = e;
        if (n == 4 && memcmp(w, "true", 4) == 0)
            *out = json_true();
        else if (n == 5 && memcmp(w, "false", 5) == 0)
            *out = json_false();
        else if ((n == 4 && memcmp(w, "null", 4) == 0) ||
                 (n == 3 && memcmp(w, "nil", 3) == 0))
            *out = json_null();
        else /* a bare word is a string, as in the library */
            return f->depth--, wf_expr__str(w, n, out, f->j->err);
        rv = 0;
    } else {
        char tmp[2] = {c, 0};
        rv = jfail(f->j, "unexpected '%s' in filter", tmp);
    }
    f->depth--;
    return rv;
}

static int fx_unary(struct fx *f, json_t **out)
{
    *out = NULL;
    fx_ws(f);
    if (f->pos < f->len && f->s[f->pos] == '!' &&
        !(f->pos + 1 < f->len && f->s[f->pos + 1] == '=')) {
        f->pos++;
        if (++f->depth > WF_EXPR__MAX_DEPTH)
            return jfail(f->j, "%s", "filter nested too deeply");
        json_t *v;
        int rv = fx_unary(f, &v);
        f->depth--;
        if (rv != 0)
            return rv;
        *out = json_boolean(!include(v));
        json_decref(v);
        return 0;
    }
    if (f->pos < f->len && f->s[f->pos] == '-') {
        f->pos++;
        if (++f->depth > WF_EXPR__MAX_DEPTH)
            return jfail(f->j, "%s", "filter nested too deeply");
        json_t *v;
        int rv = fx_unary(f, &v);
        f->depth--;
        if (rv != 0)
            return rv;
        if (json_is_integer(v))
            rv = wf_expr__int((int64_t)(0 - (uint64_t)json_integer_value(v)),
                              out, f->j->err);
        else if (json_is_real(v))
            rv = wf_expr__real(-json_real_value(v), out, f->j->err);
        else
            rv = jfail(f->j, "%s", "cannot negate a non-number");
        json_decref(v);
        return rv;
    }
    return fx_primary(f, out);
}

static int fx_arith(struct fx *f, char op, json_t *a, json_t *b,
                    json_t **out)
{
    if (op == '+' && json_is_string(a) && json_is_string(b)) {
        cl_buf s = CL_BUF_INIT;
        cl_buf_append(&s, json_string_value(a), json_string_length(a));
        cl_buf_append(&s, json_string_value(b), json_string_length(b));
        int rv = wf_expr__str_buf(&s, out, f->j->err);
        cl_buf_free(&s);
        return rv;
    }
    if (!wf_expr__is_num(a) || !wf_expr__is_num(b))
        return jfail(f->j, "%s", "arithmetic needs numbers");
    if (json_is_integer(a) && json_is_integer(b) && op != '/') {
        uint64_t x = (uint64_t)json_integer_value(a);
        uint64_t y = (uint64_t)json_integer_value(b);
        int64_t r;
        if (op == '+')
            r = (int64_t)(x + y);
        else if (op == '-')
            r = (int64_t)(x - y);
        else if (op == '*')
            r = (int64_t)(x * y);
        else {
            if (y == 0)
                return jfail(f->j, "%s", "modulo by zero");
            r = (int64_t)y == -1 ? 0 : (int64_t)x % (int64_t)y;
        }
        return wf_expr__int(r, out, f->j->err);
    }
    double x = wf_expr__num(a), y = wf_expr__num(b), r;
    switch (op) {
    case '+': r = x + y; break;
    case '-': r = x - y; break;
    case '*': r = x * y; break;
    case '/':
        if (y == 0)
            return jfail(f->j, "%s", "division by zero");
        r = x / y;
        break;
    default:
        if (y == 0)
            return jfail(f->j, "%s", "modulo by zero");
        r = fmod(x, y);
    }
    return wf_expr__real(r, out, f->j->err);
}

static int fx_mul(struct fx *f, json_t **out)
{
    *out = NULL;
    int rv = fx_unary(f, out);
    while (rv == 0) {
        fx_ws(f);
        if (f->pos >= f->len || !strchr("*/%", f->s[f->pos]) ||
            f->s[f->pos] == '\0')
            break;
        char op = f->s[f->pos++];
        json_t *b, *r = NULL;
        if ((rv = fx_unary(f, &b)) != 0)
            break;
        rv = fx_arith(f, op, *out, b, &r);
        json_decref(b);
        json_decref(*out);
        *out = r;
    }
    if (rv != 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rv;
}

static int fx_add(struct fx *f, json_t **out)
{
    *out = NULL;
    int rv = fx_mul(f, out);
    while (rv == 0) {
        fx_ws(f);
        if (f->pos >= f->len || (f->s[f->pos] != '+' && f->s[f->pos] != '-'))
            break;
        char op = f->s[f->pos++];
        json_t *b, *r = NULL;
        if ((rv = fx_mul(f, &b)) != 0)
            break;
        rv = fx_arith(f, op, *out, b, &r);
        json_decref(b);
        json_decref(*out);
        *out = r;
    }
    if (rv != 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rv;
}

static int fx_cmp(struct fx *f, json_t **out)
{
    *out = NULL;
    static const char *const ops[] = {"==", "!=", "<=", ">=", "=~", "<", ">",
                                      NULL};
    int rv = fx_add(f, out);
    if (rv != 0)
        return rv;
    const char *op = NULL;
    for (int k = 0; ops[k] && op == NULL; k++)
        if (fx_eat(f, ops[k]))
            op = ops[k];
    if (op == NULL)
        return 0;
    json_t *b;
    if ((rv = fx_add(f, &b)) != 0) {
        json_decref(*out);
        *out = NULL;
        return rv;
    }
    json_t *a = *out;
    bool r = false;
    if (op[0] == '=' && op[1] == '=') {
        r = wf_expr__equal(a, b);
    } else if (op[0] == '!') {
        r = !wf_expr__equal(a, b);
    } else if (op[1] == '~') {
        if (!json_is_string(a) || !json_is_string(b))
            rv = jfail(f->j, "%s", "=~ needs strings");
        else
            rv = wf_expr__re_match(json_string_value(b),
                                   json_string_length(b),
                                   json_string_value(a),
                                   json_string_length(a), &r, f->j->err);
    } else {
        int c = 0;
        if (wf_expr__is_num(a) && wf_expr__is_num(b)) {
            double x = wf_expr__num(a), y = wf_expr__num(b);
            c = x < y ? -1 : x > y;
        } else if (json_is_string(a) && json_is_string(b)) {
            size_t la = json_string_length(a), lb = json_string_length(b);
            c = memcmp(json_string_value(a), json_string_value(b),
                       la < lb ? la : lb);
            if (c == 0)
                c = la < lb ? -1 : la > lb;
        } else {
            rv = jfail(f->j, "%s", "cannot compare these values");
        }
        r = op[0] == '<' ? (op[1] == '=' ? c <= 0 : c < 0)
                         : (op[1] == '=' ? c >= 0 : c > 0);
    }
    json_decref(a);
    json_decref(b);
    *out = NULL;
    if (rv != 0)
        return rv;
    *out = json_boolean(r);
    return 0;
}

static int fx_and(struct fx *f, json_t **out)
{
    *out = NULL;
    int rv = fx_cmp(f, out);
    while (rv == 0 && fx_eat(f, "&&")) {
        json_t *b;
        if ((rv = fx_cmp(f, &b)) != 0)
            break;
        bool r = include(*out) && include(b);
        json_decref(b);
        json_decref(*out);
        *out = json_boolean(r);
    }
    if (rv != 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rv;
}

static int fx_or(struct fx *f, json_t **out)
{
    *out = NULL;
    int rv = fx_and(f, out);
    while (rv == 0 && fx_eat(f, "||")) {
        json_t *b;
        if ((rv = fx_and(f, &b)) != 0)
            break;
        bool r = include(*out) || include(b);
        json_decref(b);
        json_decref(*out);
        *out = json_boolean(r);
    }
    if (rv != 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rv;
}

static int filter_eval(struct jp *j, const char *e, size_t len, json_t *cur,
                       json_t **out)
{
    if (++j->depth > WF_EXPR__MAX_DEPTH) {
        j->depth--;
        return jfail(j, "%s", "filter nested too deeply");
    }
    struct fx f = {j, e, len, 0, cur, 0};
    int rv = fx_or(&f, out);
    fx_ws(&f);
    if (rv == 0 && f.pos != f.len) {
        json_decref(*out);
        *out = NULL;
        rv = jfail(j, "%s", "unexpected text in filter");
    }
    j->depth--;
    return rv;
}

int wf_expr__jsonpath(json_t *doc, const char *path, size_t max_work,
                      size_t *used, json_t **out, cl_errmsg *err)
{
    *out = NULL;
    if (used)
        *used = 0;
    if (path == NULL || doc == NULL)
        return wf_expr__fail(err, CL_EINVAL, 0, "no path or document");
    struct jp j = {err, 0, max_work, 0, doc};
    size_t len = strlen(path);
    size_t i = 0;
    while (i < len && isspace((unsigned char)path[i]))
        i++;
    if (len > WF_EXPR__MAX_SRC)
        return jfail(&j, "%s", "path too long");
    if (i >= len || path[i] != '$')
        return jfail(&j, "%s", "path must start with '$'");
    struct seg *segs;
    size_t n;
    int rv = parse_path(&j, path + i + 1, len - i - 1, &segs, &n);
    if (rv != 0)
        return rv;
    rv = apply(&j, segs, n, doc, out);
    segs_free(segs, n);
    if (used)
        *used = j.work;
    return rv;
}

int wf_expr_jsonpath(json_t *doc, const char *path, json_t **out,
                     cl_errmsg *err)
{
    return wf_expr__jsonpath(doc, path, JP_MAX_WORK, NULL, out, err);
}
