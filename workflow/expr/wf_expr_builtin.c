/* wf_expr_builtin.c - expr-lang builtins without closures and the Argo
 * additions (asInt, asFloat, toJson, jsonpath); see
 * https://expr-lang.org/docs/language-definition#builtin-functions and
 * argo-workflows util/expr/env/env.go. Arguments are borrowed; each
 * function returns a new reference in *out. Messages carry no column: the
 * caller adds the call's position and the function name. */
#include "workflow/expr/wf_expr.h"
#include "workflow/expr/wf_expr_int.h"

#include "common/cl_heap.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ERR(ev) wf_expr__ev_err(ev)

static int bad_arg(wf_expr__ev *ev, size_t i, const char *want,
                   const json_t *got)
{
    return wf_expr__fail(ERR(ev), CL_EEXPR, 0,
                         "argument %zu must be %s, not %s", i + 1, want,
                         wf_expr__type_name(got));
}

#define NEED(pred, i, want)                                                   \
    do {                                                                       \
        if (!(pred(args[i])))                                                  \
            return bad_arg(ev, i, want, args[i]);                              \
    } while (0)

#define SV(v) json_string_value(v)
#define SL(v) json_string_length(v)

/* ---- generic helpers shared with sprig ---- */

bool wf_expr__parse_int(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (len == 0)
        return false;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == len)
        return false;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if ((!neg && v > INT64_MAX) || (neg && v > (uint64_t)INT64_MAX + 1))
        return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

bool wf_expr__parse_float(const char *s, size_t len, double *out)
{
    char buf[128];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    /* Go's ParseFloat accepts no leading spaces, hex only with p exponents
     * (rare); refuse what strtod would skip or read differently. */
    if (isspace((unsigned char)buf[0]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == 'x' || buf[i] == 'X' || buf[i] == '_')
            return false;
    char *end;
    double d = strtod(buf, &end);
    if (*end != '\0')
        return false;
    *out = d;
    return true;
}

/* spf13/cast ToInt64E for strings: a zero fraction is dropped ("3.00"),
 * then strconv.ParseInt(s, 0, 64): sign, 0x/0o/0b or leading-0 octal
 * prefixes, '_' between digits or after a prefix. Anything else is 0. */
static int64_t cast_int(const char *s, size_t len)
{
    const char *dot = memchr(s, '.', len);
    if (dot != NULL) {
        for (const char *p = dot + 1; p < s + len; p++)
            if (*p != '0')
                return 0;
        len = (size_t)(dot - s);
    }
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    unsigned base = 10;
    bool prefixed = false;
    if (i + 1 < len && s[i] == '0') {
        char b = (char)tolower((unsigned char)s[i + 1]);
        if (b == 'x' || b == 'o' || b == 'b') {
            base = b == 'x' ? 16 : b == 'o' ? 8 : 2;
            i += 2;
            prefixed = true;
        } else {
            base = 8;
            i += 1;
            prefixed = true;
        }
    }
    if (i >= len && !(prefixed && base == 8))
        return 0;
    uint64_t v = 0;
    bool last_us = !prefixed; /* '_' may follow a prefix or a digit */
    for (; i < len; i++) {
        char c = s[i];
        if (c == '_' && !last_us) {
            last_us = true;
            continue;
        }
        int d = isdigit((unsigned char)c)   ? c - '0'
                : isxdigit((unsigned char)c) ? tolower((unsigned char)c) - 'a' + 10
                                             : 99;
        if ((unsigned)d >= base)
            return 0;
        if (v > (UINT64_MAX - (uint64_t)d) / base)
            return 0;
        v = v * base + (uint64_t)d;
        last_us = false;
    }
    if (last_us && i > 0 && s[i - 1] == '_')
        return 0;
    if ((!neg && v > INT64_MAX) || (neg && v > (uint64_t)INT64_MAX + 1))
        return 0;
    return neg ? (int64_t)(0 - v) : (int64_t)v;
}

int64_t wf_expr__to_int64(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        return json_integer_value(v);
    case JSON_REAL: {
        double d = json_real_value(v);
        if (d != d)
            return 0;
        if (d >= 9.2233720368547758e18)
            return INT64_MAX;
        if (d <= -9.2233720368547758e18)
            return INT64_MIN;
        return (int64_t)d;
    }
    case JSON_TRUE:
        return 1;
    case JSON_STRING:
        return cast_int(SV(v), SL(v));
    default:
        return 0;
    }
}

double wf_expr__to_float64(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_INTEGER:
    case JSON_REAL:
        return wf_expr__num(v);
    case JSON_TRUE:
        return 1;
    case JSON_STRING: {
        double d;
        if (wf_expr__parse_float(SV(v), SL(v), &d))
            return d;
        return 0;
    }
    default:
        return 0;
    }
}

int wf_expr__to_str(const json_t *v, cl_buf *b, cl_errmsg *err)
{
    if (json_is_string(v)) {
        cl_buf_append(b, SV(v), SL(v));
        return cl_buf_ok(b) ? 0
                            : wf_expr__fail(err, CL_ENOMEM, 0,
                                            "out of memory");
    }
    return wf_expr__gofmt(b, v, err);
}

bool wf_expr__truthy(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
    case JSON_FALSE:
        return false;
    case JSON_TRUE:
        return true;
    case JSON_INTEGER:
        return json_integer_value(v) != 0;
    case JSON_REAL:
        return json_real_value(v) != 0;
    case JSON_STRING:
        return SL(v) != 0;
    case JSON_ARRAY:
        return json_array_size(v) != 0;
    case JSON_OBJECT:
        return json_object_size(v) != 0;
    }
    return false;
}

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int wf_expr__b64enc(const char *s, size_t len, cl_buf *b)
{
    const unsigned char *u = (const unsigned char *)s;
    if (cl_buf_reserve(b, (len + 2) / 3 * 4) != 0)
        return CL_ENOMEM;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)u[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)u[i + 1] << 8;
        if (i + 2 < len)
            v |= u[i + 2];
        char o[4] = {b64chars[(v >> 18) & 63], b64chars[(v >> 12) & 63],
                     i + 1 < len ? b64chars[(v >> 6) & 63] : '=',
                     i + 2 < len ? b64chars[v & 63] : '='};
        cl_buf_append(b, o, 4);
    }
    return cl_buf_ok(b) ? 0 : CL_ENOMEM;
}

int wf_expr__b64dec(const char *s, size_t len, cl_buf *b, cl_errmsg *err)
{
    /* base64.StdEncoding: padded, '\r' and '\n' ignored. */
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    size_t nch = 0;
    if (cl_buf_reserve(b, len / 4 * 3 + 3) != 0)
        return wf_expr__fail(err, CL_ENOMEM, 0, "out of memory");
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\r' || c == '\n')
            continue;
        nch++;
        if (c == '=') {
            pad++;
            continue;
        }
        const char *p = c ? strchr(b64chars, c) : NULL;
        if (p == NULL || pad)
            return wf_expr__fail(err, CL_EEXPR, 0,
                                 "illegal base64 data at input byte %zu", i);
        acc = (acc << 6) | (uint32_t)(p - b64chars);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            cl_buf_putc(b, (char)((acc >> bits) & 0xff));
        }
    }
    if (nch % 4 != 0 || pad > 2)
        return wf_expr__fail(err, CL_EEXPR, 0,
                             "illegal base64 data at input byte %zu", len);
    return cl_buf_ok(b) ? 0
                        : wf_expr__fail(err, CL_ENOMEM, 0, "out of memory");
}

static int done_buf(wf_expr__ev *ev, cl_buf *b, json_t **out)
{
    int rv = wf_expr__str_buf(b, out, ERR(ev));
    if (rv == 0)
        rv = wf_expr__ev_budget(ev, 0, b->len);
    cl_buf_free(b);
    if (rv != 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rv;
}

static size_t runes(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            n++;
    return n;
}

/* ---- builtins ---- */

static int b_len(wf_expr__ev *ev, int col, json_t **args, size_t n,
                 json_t **out)
{
    (void)col;
    (void)n;
    json_t *v = args[0];
    if (json_is_string(v))
        return wf_expr__int((int64_t)runes(SV(v), SL(v)), out, ERR(ev));
    if (json_is_array(v))
        return wf_expr__int((int64_t)json_array_size(v), out, ERR(ev));
    if (json_is_object(v))
        return wf_expr__int((int64_t)json_object_size(v), out, ERR(ev));
    return bad_arg(ev, 0, "an array, map or string", v);
}

static int b_abs(wf_expr__ev *ev, int col, json_t **args, size_t n,
                 json_t **out)
{
    (void)col;
    (void)n;
    if (json_is_integer(args[0])) {
        int64_t i = json_integer_value(args[0]);
        return wf_expr__int(i < 0 ? (int64_t)(0 - (uint64_t)i) : i, out,
                            ERR(ev));
    }
    NEED(json_is_real, 0, "a number");
    return wf_expr__real(fabs(json_real_value(args[0])), out, ERR(ev));
}

static int round_like(wf_expr__ev *ev, json_t **args, double (*f)(double),
                      json_t **out)
{
    NEED(wf_expr__is_num, 0, "a number");
    return wf_expr__real(f(wf_expr__num(args[0])), out, ERR(ev));
}

static int b_ceil(wf_expr__ev *ev, int col, json_t **args, size_t n,
                  json_t **out)
{
    (void)col;
    (void)n;
    return round_like(ev, args, ceil, out);
}

static int b_floor(wf_expr__ev *ev, int col, json_t **args, size_t n,
                   json_t **out)
{
    (void)col;
    (void)n;
    return round_like(ev, args, floor, out);
}

static int b_round(wf_expr__ev *ev, int col, json_t **args, size_t n,
                   json_t **out)
{
    (void)col;
    (void)n;
    return round_like(ev, args, round, out); /* half away from zero */
}

static int minmax(wf_expr__ev *ev, json_t **args, size_t n, bool max,
                  json_t **out)
{
    json_t **v = args;
    if (n == 1 && json_is_array(args[0])) {
        n = json_array_size(args[0]);
        if (n == 0)
            return wf_expr__fail(ERR(ev), CL_EEXPR, 0, "empty array");
        v = NULL;
    }
    json_t *best = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *x = v ? v[i] : json_array_get(args[0], i);
        if (!wf_expr__is_num(x))
            return bad_arg(ev, v ? i : 0, "a number", x);
        if (best == NULL) {
            best = x;
            continue;
        }
        bool better;
        if (json_is_integer(x) && json_is_integer(best))
            better = max ? json_integer_value(x) > json_integer_value(best)
                         : json_integer_value(x) < json_integer_value(best);
        else
            better = max ? wf_expr__num(x) > wf_expr__num(best)
                         : wf_expr__num(x) < wf_expr__num(best);
        if (better)
            best = x;
    }
    *out = json_incref(best);
    return 0;
}

static int b_max(wf_expr__ev *ev, int col, json_t **args, size_t n,
                 json_t **out)
{
    (void)col;
    return minmax(ev, args, n, true, out);
}

static int b_min(wf_expr__ev *ev, int col, json_t **args, size_t n,
                 json_t **out)
{
    (void)col;
    return minmax(ev, args, n, false, out);
}

/* int(x): expr's builtin.Int: numbers truncated, strings by Atoi. */
static int b_int(wf_expr__ev *ev, int col, json_t **args, size_t n,
                 json_t **out)
{
    (void)col;
    (void)n;
    json_t *v = args[0];
    if (json_is_integer(v)) {
        *out = json_incref(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d > -9.2233720368547758e18 && d < 9.2233720368547758e18))
            return wf_expr__fail(ERR(ev), CL_EEXPR, 0,
                                 "%g is out of the int range", d);
        return wf_expr__int((int64_t)d, out, ERR(ev));
    }
    if (json_is_string(v)) {
        int64_t i;
        if (!wf_expr__parse_int(SV(v), SL(v), &i))
            return wf_expr__fail(ERR(ev), CL_EEXPR, 0,
                                 "invalid operation: int(\"%.*s\")",
                                 (int)(SL(v) < 64 ? SL(v) : 64), SV(v));
        return wf_expr__int(i, out, ERR(ev));
    }
    return bad_arg(ev, 0, "a number or string", v);
}

static int b_float(wf_expr__ev *ev, int col, json_t **args, size_t n,
                   json_t **out)
{
    (void)col;
    (void)n;
    json_t *v = args[0];
    if (wf_expr__is_num(v))
        return wf_expr__real(wf_expr__num(v), out, ERR(ev));
    if (json_is_string(v)) {
        double d;
        if (!wf_expr__parse_float(SV(v), SL(v), &d))
            return wf_expr__fail(ERR(ev), CL_EEXPR, 0,
                                 "invalid operation: float(\"%.*s\")",
                                 (int)(SL(v) < 64 ? SL(v) : 64), SV(v));
        return wf_expr__real(d, out, ERR(ev));
    }
    return bad_arg(ev, 0, "a number or string", v);
}

static int b_string(wf_expr__ev *ev, int col, json_t **args, size_t n,
                    json_t **out)
{
    (void)col;
    (void)n;
    cl_buf b = CL_BUF_INIT;
    int rv = wf_expr__gofmt(&b, args[0], ERR(ev));
    if (rv != 0) {
        cl_buf_free(&b);
        return rv;
    }
    return done_buf(ev, &b, out);
}

static int b_type(wf_expr__ev *ev, int col, json_t **args, size_t n,
                  json_t **out)
{
    (void)col;
    (void)n;
    const char *t = wf_expr__type_name(args[0]);
    return wf_expr__str(t, strlen(t), out, ERR(ev));
}

static int change_case(wf_expr__ev *ev, json_t **args, bool up, json_t **out)
{
    NEED(json_is_string, 0, "a string");
    cl_buf b = CL_BUF_INIT;
    cl_buf_append(&b, SV(args[0]), SL(args[0]));
    for (size_t i = 0; b.data && i < b.len; i++)
        b.data[i] = (char)(up ? toupper((unsigned char)b.data[i])
                              : tolower((unsigned char)b.data[i]));
    return done_buf(ev, &b, out);
}

static int b_upper(wf_expr__ev *ev, int col, json_t **args, size_t n,
                   json_t **out)
{
    (void)col;
    (void)n;
    return change_case(ev, args, true, out);
}

static int b_lower(wf_expr__ev *ev, int col, json_t **args, size_t n,
                   json_t **out)
{
    (void)col;
    (void)n;
    return change_case(ev, args, false, out);
}

static bool in_cutset(unsigned char c, const char *set, size_t setlen)
{
    return memchr(set, c, setlen) != NULL;
}

/* strings.Trim over bytes (cutsets in workflows are ASCII). */
static int trim_with(wf_expr__ev *ev, const char *s, size_t len,
                     const char *set, size_t setlen, bool left, bool right,
                     json_t **out)
{
    size_t a = 0, b = len;
    while (left && a < b && in_cutset((unsigned char)s[a], set, setlen))
        a++;
    while (right && b > a && in_cutset((unsigned char)s[b - 1], set, setlen))
        b--;
    return wf_expr__str(s + a, b - a, out, ERR(ev));
}

static int b_trim(wf_expr__ev *ev, int col, json_t **args, size_t n,
                  json_t **out)
{
    (void)col;
    NEED(json_is_string, 0, "a string");
    if (n > 1) {
        NEED(json_is_string, 1, "a string");
        return trim_with(ev, SV(args[0]), SL(args[0]), SV(args[1]),
                         SL(args[1]), true, true, out);
    }
    return trim_with(ev, SV(args[0]), SL(args[0]), " \t\n\r\v\f", 6, true,
                     true, out);
}

static int prefix_suffix(wf_expr__ev *ev, json_t **args, bool suffix,
                         bool test, json_t **out)
{
    NEED(json_is_string, 0, "a string");
    NEED(json_is_string, 1, "a string");
    const char *s = SV(args[0]), *p = SV(args[1]);
    size_t ls = SL(args[0]), lp = SL(args[1]);
    bool has = lp <= ls && memcmp(suffix ? s + ls - lp : s, p, lp) == 0;
    if (test)
        return wf_expr__bool(has, out);
    if (!has) {
        *out = json_incref(args[0]);
        return 0;
    }
    return wf_expr__str(suffix ? s : s + lp, ls - lp, out, ERR(ev));
}

static int b_trim_prefix(wf_expr__ev *ev, int col, json_t **args, size_t n,
                         json_t **out)
{
    (void)col;
    (void)n;
    return prefix_suffix(ev, args, false, false, out);
}

static int b_trim_suffix(wf_expr__ev *ev, int col, json_t **args, size_t n,
                         json_t **out)
{
    (void)col;
    (void)n;
    return prefix_suffix(ev, args, true, false, out);
}

static int b_has_prefix(wf_expr__ev *ev, int col, json_t **args, size_t n,
                        json_t **out)
{
    (void)col;
    (void)n;
    return prefix_suffix(ev, args, false, true, out);
}

static int b_has_suffix(wf_expr__ev *ev, int col, json_t **args, size_t n,
                        json_t **out)
{
    (void)col;
    (void)n;
    return prefix_suffix(ev, args, true, true, out);
}

static const char *find_sub(const char *s, size_t len, const char *sub,
                            size_t sublen)
{
    if (sublen == 0)
        return s;
    for (size_t i = 0; i + sublen <= len; i++)
        if (s[i] == sub[0] && memcmp(s + i, sub, sublen) == 0)
            return s + i;
    return NULL;
}

static size_t rune_len_at(const char *s, size_t len)
{
    size_t k = 1;
    while (k < len && ((unsigned char)s[k] & 0xc0) == 0x80)
        k++;
    return k;
}

/* Go's strings.SplitN / SplitAfterN (n < 0: all). */
int wf_expr__split(wf_expr__ev *ev, const char *s, size_t len,
                   const char *sep, size_t seplen, int64_t n, bool after,
                   json_t **out)
{
    json_t *arr;
    int rv = wf_expr__array(&arr, ERR(ev));
    if (rv != 0)
        return rv;
    if (n == 0) {
        *out = arr;
        return 0;
    }
    size_t pos = 0;
    int64_t parts = 0;
    while (rv == 0) {
        if (n > 0 && parts == n - 1)
            break;
        const char *hit;
        size_t cut;
        if (seplen == 0) { /* split into runes */
            if (pos >= len)
                break;
            cut = pos + rune_len_at(s + pos, len - pos);
            if (cut >= len)
                break;
            rv = wf_expr__push(arr, json_stringn_nocheck(s + pos, cut - pos),
                               ERR(ev));
            pos = cut;
            parts++;
            continue;
        }
        hit = find_sub(s + pos, len - pos, sep, seplen);
        if (hit == NULL)
            break;
        cut = (size_t)(hit - s);
        rv = wf_expr__push(
            arr,
            json_stringn_nocheck(s + pos, cut - pos + (after ? seplen : 0)),
            ERR(ev));
        pos = cut + seplen;
        parts++;
    }
    if (rv == 0 && !(seplen == 0 && len == 0))
        rv = wf_expr__push(arr, json_stringn_nocheck(s + pos, len - pos),
                           ERR(ev));
    if (rv == 0)
        rv = wf_expr__ev_elems(ev, 0, json_array_size(arr));
    if (rv != 0) {
        json_decref(arr);
        return rv;
    }
    *out = arr;
    return 0;
}

static int split_common(wf_expr__ev *ev, json_t **args, size_t n, bool after,
                        json_t **out)
{
    NEED(json_is_string, 0, "a string");
    NEED(json_is_string, 1, "a string");
    int64_t cnt = -1;
    if (n > 2) {
        NEED(json_is_integer, 2, "an int");
        cnt = json_integer_value(args[2]);
    }
    return wf_expr__split(ev, SV(args[0]), SL(args[0]), SV(args[1]),
                          SL(args[1]), cnt, after, out);
}

static int b_split(wf_expr__ev *ev, int col, json_t **args, size_t n,
                   json_t **out)
{
    (void)col;
    return split_common(ev, args, n, false, out);
}

static int b_split_after(wf_expr__ev *ev, int col, json_t **args, size_t n,
                         json_t **out)
{
    (void)col;
    return split_common(ev, args, n, true, out);
}

/* strings.Replace(s, old, new, -1); an empty old inserts new between
 * runes, as Go does. */
int wf_expr__replace(wf_expr__ev *ev, const char *s, size_t len,
                     const char *old, size_t oldlen, const char *nw,
                     size_t nwlen, json_t **out)
{
    cl_buf b = CL_BUF_INIT;
    size_t pos = 0;
    if (oldlen == 0) {
        cl_buf_append(&b, nw, nwlen);
        while (pos < len && cl_buf_ok(&b)) {
            size_t k = rune_len_at(s + pos, len - pos);
            cl_buf_append(&b, s + pos, k);
            cl_buf_append(&b, nw, nwlen);
            pos += k;
            if (b.len > WF_EXPR__MAX_STR)
                break;
        }
    } else {
        const char *hit;
        while ((hit = find_sub(s + pos, len - pos, old, oldlen)) != NULL) {
            size_t at = (size_t)(hit - s);
            cl_buf_append(&b, s + pos, at - pos);
            cl_buf_append(&b, nw, nwlen);
            pos = at + oldlen;
            if (b.len > WF_EXPR__MAX_STR || !cl_buf_ok(&b))
                break;
        }
        cl_buf_append(&b, s + pos, len - pos);
    }
    return done_buf(ev, &b, out);
}

static int b_replace(wf_expr__ev *ev, int col, json_t **args, size_t n,
                     json_t **out)
{
    (void)col;
    (void)n;
    NEED(json_is_string, 0, "a string");
    NEED(json_is_string, 1, "a string");
    NEED(json_is_string, 2, "a string");
    return wf_expr__replace(ev, SV(args[0]), SL(args[0]), SV(args[1]),
                            SL(args[1]), SV(args[2]), SL(args[2]), out);
}

int wf_expr__repeat(wf_expr__ev *ev, const char *s, size_t len, int64_t cnt,
                    json_t **out)
{
    if (cnt < 0)
        return wf_expr__fail(ERR(ev), CL_EEXPR, 0, "negative repeat count");
    if (len != 0 && (uint64_t)cnt > WF_EXPR__MAX_STR / len)
        return wf_expr__fail(ERR(ev), CL_EEXPR, 0,
                             "repeated string exceeds the size limit");
    if (len == 0)
        cnt = 0;
    int rv = wf_expr__ev_budget(ev, 0, len * (size_t)cnt);
    if (rv != 0)
        return rv;
    cl_buf b = CL_BUF_INIT;
    cl_buf_reserve(&b, len * (size_t)cnt);
    for (int64_t i = 0; i < cnt && cl_buf_ok(&b); i++)
        cl_buf_append(&b, s, len);
    return done_buf(ev, &b, out);
}

static int b_repeat(wf_expr__ev *ev, int col, json_t **args, size_t n,
                    json_t **out)
{
    (void)col;
    (void)n;
    NEED(json_is_string, 0, "a string");
    NEED(json_is_integer, 1, "an int");
    return wf_expr__repeat(ev, SV(args[0]), SL(args[0]),
                           json_integer_value(args[1]), out);
}

static int index_of(wf_expr__ev *ev, json_t **args, bool last, json_t **out)
{
    NEED(json_is_string, 0, "a string");
    NEED(json_is_string, 1, "a string");
    const char *s = SV(args[0]), *sub = SV(args[1]);
    size_t ls = SL(args[0]), lsub = SL(args[1]);
    int64_t at = -1;
    for (size_t i = 0; i + lsub <= ls; i++) {
        if (memcmp(s + i, sub, lsub) == 0) {
            at = (int64_t)i;
            if (!last)
                break;
        }
    }
    if (at > 0)
        at = (int64_t)runes(s, (size_t)at);
    return wf_expr__int(at, out, ERR(ev));
}

static int b_index_of(wf_expr__ev *ev, int col, json_t **args, size_t n,
                      json_t **out)
{
    (void)col;
    (void)n;
    return index_of(ev, args, false, out);
}

static int b_last_index_of(wf_expr__ev *ev, int col, json_t **args, size_t n,
                           json_t **out)
{
    (void)col;
    (void)n;
    return index_of(ev, args, true, out);
}

static int b_join(wf_expr__ev *ev, int col, json_t **args, size_t n,
                  json_t **out)
{
    (void)col;
    NEED(json_is_array, 0, "an array");
    const char *sep = "";
    size_t seplen = 0;
    if (n > 1) {
        NEED(json_is_string, 1, "a string");
        sep = SV(args[1]);
        seplen = SL(args[1]);
    }
    cl_buf b = CL_BUF_INIT;
    for (size_t i = 0; i < json_array_size(args[0]); i++) {
        json_t *el = json_array_get(args[0], i);
        if (!json_is_string(el)) {
            cl_buf_free(&b);
            return wf_expr__fail(ERR(ev), CL_EEXPR, 0,
                                 "element %zu is %s, not a string", i,
                                 wf_expr__type_name(el));
        }
        if (i)
            cl_buf_append(&b, sep, seplen);
        cl_buf_append(&b, SV(el), SL(el));
        if (b.len > WF_EXPR__MAX_STR)
            break;
    }
    return done_buf(ev, &b, out);
}

static int keys_values(wf_expr__ev *ev, json_t **args, int what, json_t **out)
{
    NEED(json_is_object, 0, "a map");
    const char **keys;
    size_t *lens, cnt;
    int rv = wf_expr__sorted_keys(args[0], &keys, &lens, &cnt, ERR(ev));
    if (rv != 0)
        return rv;
    json_t *arr;
    rv = wf_expr__array(&arr, ERR(ev));
    for (size_t i = 0; i < cnt && rv == 0; i++) {
        json_t *k = json_stringn_nocheck(keys[i], lens[i]);
        json_t *v = json_incref(json_object_getn(args[0], keys[i], lens[i]));
        if (what == 0) {
            json_decref(v);
            rv = wf_expr__push(arr, k, ERR(ev));
        } else if (what == 1) {
            json_decref(k);
            rv = wf_expr__push(arr, v, ERR(ev));
        } else { /* pairs */
            json_t *pair = json_array();
            if (pair != NULL && k != NULL && v != NULL) {
                json_array_append_new(pair, k);
                json_array_append_new(pair, v);
                k = v = NULL;
                if (json_array_size(pair) != 2) {
                    json_decref(pair);
                    pair = NULL;
                }
            }
            json_decref(k);
            json_decref(v);
            rv = wf_expr__push(arr, pair, ERR(ev));
        }
    }
    cl_free(keys);
    cl_free(lens);
    if (rv != 0) {
        json_decref(arr);
        return rv;
    }
    *out = arr;
    return 0;
}

static int b_keys(wf_expr__ev *ev, int col, json_t **args, size_t n,
                  json_t **out)
{
    (void)col;
    (void)n;
    return keys_values(ev, args, 0, out);
}

static int b_values(wf_expr__ev *ev, int col, json_t **args, size_t n,
                    json_t **out)
{
    (void)col;
    (void)n;
    return keys_values(ev, args, 1, out);
}

static int b_to_pairs(wf_expr__ev *ev, int col, json_t **args, size_t n,
                      json_t **out)
{
    (void)col;
    (void)n;
    return keys_values(ev, args, 2, out);
}

static int b_from_pairs(wf_expr__ev *ev, int col, json_t **args, size_t n,
                        json_t **out)
{
    (void)col;
    (void)n;
    NEED(json_is_array, 0, "an array");
    json_t *o;
    int rv = wf_expr__object(&o, ERR(ev));
    for (size_t i = 0; i < json_array_size(args[0]) && rv == 0; i++) {
        json_t *p = json_array_get(args[0], i);
        if (!json_is_array(p) || json_array_size(p) != 2 ||
            !json_is_string(json_array_get(p, 0))) {
            rv = wf_expr__fail(ERR(ev), CL_EEXPR, 0,
                               "element %zu is not a [string, value] pair",
                               i);
            break;
        }
        json_t *k = json_array_get(p, 0);
        rv = wf_expr__put(o, SV(k), SL(k),
                          json_incref(json_array_get(p, 1)), ERR(ev));
    }
    if (rv != 0) {
        json_decref(o);
        return rv;
    }
    *out = o;
    return 0;
}

static int b_first(wf_expr__ev *ev, int col, json_t **args, size_t n,
                   json_t **out)
{
    (void)col;
    (void)n;
    NEED(json_is_array, 0, "an array");
    size_t len = json_array_size(args[0]);
    *out = len ? json_incref(json_array_get(args[0], 0)) : json_null();
    return 0;
}

static int b_last(wf_expr__ev *ev, int col, json_t **args, size_t n,
                  json_t **out)
{
    (void)col;
    (void)n;
    NEED(json_is_array, 0, "an array");
    size_t len = json_array_size(args[0]);
    *out = len ? json_incref(json_array_get(args[0], len - 1)) : json_null();
    return 0;
}

/* A new array holding src[from, to) (borrowed elements), optionally
 * reversed. */
static int sub_array(wf_expr__ev *ev, const json_t *src, size_t from,
                     size_t to, bool rev, json_t **out)
{
    json_t *arr;
    int rv = wf_expr__array(&arr, ERR(ev));
    for (size_t i = from; i < to && rv == 0; i++)
        rv = wf_expr__push(
            arr, json_incref(json_array_get(src, rev ? to - 1 - (i - from) : i)),
            ERR(ev));
    if (rv == 0)
        rv = wf_expr__ev_elems(ev, 0, to - from);
    if (rv != 0) {
        json_decref(arr);
        return rv;
    }
    *out = arr;
    return 0;
}

static int b_take(wf_expr__ev *ev, int col, json_t **args, size_t n,
                  json_t **out)
{
    (void)col;
    (void)n;
    NEED(json_is_array, 0, "an array");
    NEED(json_is_integer, 1, "an int");
    int64_t k = json_integer_value(args[1]);
    size_t len = json_array_size(args[0]);
    if (k < 0)
        k = 0;
    return sub_array(ev, args[0], 0, (uint64_t)k < len ? (size_t)k : len,
                     false, out);
}

static int b_reverse(wf_expr__ev *ev, int col, json_t **args, size_t n,
                     json_t **out)
{
    (void)col;
    (void)n;
    NEED(json_is_array, 0, "an array");
    return sub_array(ev, args[0], 0, json_array_size(args[0]), true, out);
}

struct sorted {
    json_t *v;
    size_t idx;
};

static int sorted_cmp(const void *x, const void *y)
{
    const struct sorted *a = x, *b = y;
    int c;
    if (json_is_string(a->v)) {
        size_t la = SL(a->v), lb = SL(b->v);
        c = memcmp(SV(a->v), SV(b->v), la < lb ? la : lb);
        if (c == 0)
            c = la < lb ? -1 : la > lb;
    } else {
        double p = wf_expr__num(a->v), q = wf_expr__num(b->v);
        c = p < q ? -1 : p > q;
    }
    return c ? c : (a->idx < b->idx ? -1 : 1);
}

static int b_sort(wf_expr__ev *ev, int col, json_t **args, size_t n,
                  json_t **out)
{
    (void)col;
    NEED(json_is_array, 0, "an array");
    bool desc = false;
    if (n > 1) {
        NEED(json_is_string, 1, "a string");
        if (strcmp(SV(args[1]), "desc") == 0)
            desc = true;
        else if (strcmp(SV(args[1]), "asc") != 0)
            return wf_expr__fail(ERR(ev), CL_EEXPR, 0,
                                 "unknown order, use asc or desc");
    }
    size_t len = json_array_size(args[0]);
    struct sorted *v = cl_calloc(len ? len : 1, sizeof(*v));
    if (v == NULL)
        return wf_expr__fail(ERR(ev), CL_ENOMEM, 0, "out of memory");
    int rv = 0;
    for (size_t i = 0; i < len; i++) {
        v[i].v = json_array_get(args[0], i);
        v[i].idx = i;
        bool str = json_is_string(v[i].v);
        if ((!str && !wf_expr__is_num(v[i].v)) ||
            (i > 0 && str != json_is_string(v[0].v))) {
            rv = wf_expr__fail(ERR(ev), CL_EEXPR, 0,
                               "sort needs all numbers or all strings");
            break;
        }
    }
    json_t *arr = NULL;
    if (rv == 0) {
        qsort(v, len, sizeof(*v), sorted_cmp);
        rv = wf_expr__array(&arr, ERR(ev));
    }
    for (size_t i = 0; i < len && rv == 0; i++)
        rv = wf_expr__push(arr, json_incref(v[desc ? len - 1 - i : i].v),
                           ERR(ev));
    cl_free(v);
    if (rv != 0) {
        json_decref(arr);
        return rv;
    }
    *out = arr;
    return 0;
}

int wf_expr__uniq(wf_expr__ev *ev, const json_t *src, json_t **out)
{
    json_t *arr;
    int rv = wf_expr__array(&arr, ERR(ev));
    size_t len = json_array_size(src);
    /* Quadratic in the worst case: bounded by the work budget. */
    if (rv == 0)
        rv = wf_expr__ev_budget(ev, 0, len * (len / 64 + 1));
    for (size_t i = 0; i < len && rv == 0; i++) {
        json_t *el = json_array_get(src, i);
        bool seen = false;
        for (size_t j = 0; j < json_array_size(arr) && !seen; j++)
            seen = wf_expr__equal(el, json_array_get(arr, j));
        if (!seen)
            rv = wf_expr__push(arr, json_incref(el), ERR(ev));
    }
    if (rv != 0) {
        json_decref(arr);
        return rv;
    }
    *out = arr;
    return 0;
}

static int b_uniq(wf_expr__ev *ev, int col, json_t **args, size_t n,
                  json_t **out)
{
    (void)col;
    (void)n;
    NEED(json_is_array, 0, "an array");
    return wf_expr__uniq(ev, args[0], out);
}

static int b_concat(wf_expr__ev *ev, int col, json_t **args, size_t n,
                    json_t **out)
{
    (void)col;
    json_t *arr;
    int rv = wf_expr__array(&arr, ERR(ev));
    for (size_t i = 0; i < n && rv == 0; i++) {
        if (!json_is_array(args[i])) {
            rv = bad_arg(ev, i, "an array", args[i]);
            break;
        }
        for (size_t j = 0; j < json_array_size(args[i]) && rv == 0; j++)
            rv = wf_expr__push(arr, json_incref(json_array_get(args[i], j)),
                               ERR(ev));
    }
    if (rv == 0)
        rv = wf_expr__ev_elems(ev, 0, json_array_size(arr));
    if (rv != 0) {
        json_decref(arr);
        return rv;
    }
    *out = arr;
    return 0;
}

static int flatten_into(wf_expr__ev *ev, json_t *dst, const json_t *src,
                        int depth)
{
    if (depth > WF_EXPR__MAX_JSON_DEPTH)
        return wf_expr__fail(ERR(ev), CL_EEXPR, 0, "array nested too deeply");
    int rv = wf_expr__ev_elems(ev, 0, json_array_size(src));
    for (size_t i = 0; i < json_array_size(src) && rv == 0; i++) {
        json_t *el = json_array_get(src, i);
        if (json_is_array(el))
            rv = flatten_into(ev, dst, el, depth + 1);
        else
            rv = wf_expr__push(dst, json_incref(el), ERR(ev));
    }
    return rv;
}

static int b_flatten(wf_expr__ev *ev, int col, json_t **args, size_t n,
                     json_t **out)
{
    (void)col;
    (void)n;
    NEED(json_is_array, 0, "an array");
    json_t *arr;
    int rv = wf_expr__array(&arr, ERR(ev));
    if (rv == 0)
        rv = flatten_into(ev, arr, args[0], 0);
    if (rv != 0) {
        json_decref(arr);
        return rv;
    }
    *out = arr;
    return 0;
}

static int dcmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static int mean_median(wf_expr__ev *ev, json_t **args, bool median,
                       json_t **out)
{
    NEED(json_is_array, 0, "an array");
    size_t len = json_array_size(args[0]);
    if (len == 0)
        return wf_expr__real(0, out, ERR(ev));
    double *v = cl_malloc(len * sizeof(*v));
    if (v == NULL)
        return wf_expr__fail(ERR(ev), CL_ENOMEM, 0, "out of memory");
    double sum = 0;
    for (size_t i = 0; i < len; i++) {
        json_t *el = json_array_get(args[0], i);
        if (!wf_expr__is_num(el)) {
            cl_free(v);
            return wf_expr__fail(ERR(ev), CL_EEXPR, 0,
                                 "element %zu is %s, not a number", i,
                                 wf_expr__type_name(el));
        }
        v[i] = wf_expr__num(el);
        sum += v[i];
    }
    double r;
    if (median) {
        qsort(v, len, sizeof(*v), dcmp);
        r = len % 2 ? v[len / 2] : (v[len / 2 - 1] + v[len / 2]) / 2;
    } else {
        r = sum / (double)len;
    }
    cl_free(v);
    return wf_expr__real(r, out, ERR(ev));
}

static int b_mean(wf_expr__ev *ev, int col, json_t **args, size_t n,
                  json_t **out)
{
    (void)col;
    (void)n;
    return mean_median(ev, args, false, out);
}

static int b_median(wf_expr__ev *ev, int col, json_t **args, size_t n,
                    json_t **out)
{
    (void)col;
    (void)n;
    return mean_median(ev, args, true, out);
}

static int to_json(wf_expr__ev *ev, const json_t *v, int flags, json_t **out)
{
    cl_buf b = CL_BUF_INIT;
    int rv = wf_expr__json_write(&b, v, flags, ERR(ev));
    if (rv != 0) {
        cl_buf_free(&b);
        return rv;
    }
    return done_buf(ev, &b, out);
}

/* expr's toJSON is json.MarshalIndent(v, "", "  "). */
static int b_to_json_indent(wf_expr__ev *ev, int col, json_t **args, size_t n,
                            json_t **out)
{
    (void)col;
    (void)n;
    return to_json(ev, args[0], WF_EXPR__JSON_INDENT | WF_EXPR__JSON_HTML,
                   out);
}

/* Argo's toJson is json.Marshal: compact, sorted keys, HTML-escaped. */
static int b_to_json(wf_expr__ev *ev, int col, json_t **args, size_t n,
                     json_t **out)
{
    (void)col;
    (void)n;
    return to_json(ev, args[0], WF_EXPR__JSON_COMPACT | WF_EXPR__JSON_HTML,
                   out);
}

static int b_from_json(wf_expr__ev *ev, int col, json_t **args, size_t n,
                       json_t **out)
{
    (void)col;
    (void)n;
    NEED(json_is_string, 0, "a string");
    return wf_expr__parse_json(SV(args[0]), SL(args[0]), out, ERR(ev));
}

static int b_to_base64(wf_expr__ev *ev, int col, json_t **args, size_t n,
                       json_t **out)
{
    (void)col;
    (void)n;
    NEED(json_is_string, 0, "a string");
    cl_buf b = CL_BUF_INIT;
    wf_expr__b64enc(SV(args[0]), SL(args[0]), &b);
    return done_buf(ev, &b, out);
}

static int b_from_base64(wf_expr__ev *ev, int col, json_t **args, size_t n,
                         json_t **out)
{
    (void)col;
    (void)n;
    NEED(json_is_string, 0, "a string");
    cl_buf b = CL_BUF_INIT;
    int rv = wf_expr__b64dec(SV(args[0]), SL(args[0]), &b, ERR(ev));
    if (rv != 0) {
        cl_buf_free(&b);
        return rv;
    }
    return done_buf(ev, &b, out);
}

static int b_get(wf_expr__ev *ev, int col, json_t **args, size_t n,
                 json_t **out)
{
    (void)col;
    (void)n;
    json_t *v = NULL;
    if (json_is_object(args[0]) && json_is_string(args[1])) {
        v = json_object_getn(args[0], SV(args[1]), SL(args[1]));
    } else if (json_is_array(args[0]) && json_is_integer(args[1])) {
        int64_t i = json_integer_value(args[1]);
        int64_t len = (int64_t)json_array_size(args[0]);
        if (i < 0)
            i += len;
        if (i >= 0 && i < len)
            v = json_array_get(args[0], (size_t)i);
    }
    *out = v ? json_incref(v) : json_null();
    return 0;
}

static int bits(wf_expr__ev *ev, json_t **args, size_t n, int op,
                json_t **out)
{
    for (size_t i = 0; i < n; i++)
        NEED(json_is_integer, i, "an int");
    uint64_t a = (uint64_t)json_integer_value(args[0]);
    uint64_t b = n > 1 ? (uint64_t)json_integer_value(args[1]) : 0;
    int64_t r;
    if ((op == 4 || op == 5 || op == 6) && (int64_t)b < 0)
        return wf_expr__fail(ERR(ev), CL_EEXPR, 0, "negative shift count");
    switch (op) {
    case 0: r = (int64_t)(a & b); break;
    case 1: r = (int64_t)(a | b); break;
    case 2: r = (int64_t)(a ^ b); break;
    case 3: r = (int64_t)(a & ~b); break;
    case 4: r = b >= 64 ? 0 : (int64_t)(a << b); break;
    case 5:
        r = b >= 64 ? ((int64_t)a < 0 ? -1 : 0)
                    : ((int64_t)a < 0 ? (int64_t)~(~a >> b)
                                      : (int64_t)(a >> b));
        break;
    case 6: r = b >= 64 ? 0 : (int64_t)(a >> b); break;
    default: r = (int64_t)~a;
    }
    return wf_expr__int(r, out, ERR(ev));
}

#define BITFN(name, op)                                                        \
    static int name(wf_expr__ev *ev, int col, json_t **args, size_t n,        \
                    json_t **out)                                             \
    {                                                                          \
        (void)col;                                                             \
        return bits(ev, args, n, op, out);                                     \
    }
BITFN(b_bitand, 0)
BITFN(b_bitor, 1)
BITFN(b_bitxor, 2)
BITFN(b_bitnand, 3)
BITFN(b_bitshl, 4)
BITFN(b_bitshr, 5)
BITFN(b_bitushr, 6)
BITFN(b_bitnot, 7)

/* jsonpath(json, path): Argo decodes the JSON text first. A map or array
 * is accepted as an already decoded document. */
static int b_jsonpath(wf_expr__ev *ev, int col, json_t **args, size_t n,
                      json_t **out)
{
    (void)col;
    (void)n;
    NEED(json_is_string, 1, "a string");
    json_t *doc;
    int rv;
    if (json_is_string(args[0])) {
        rv = wf_expr__parse_json(SV(args[0]), SL(args[0]), &doc, ERR(ev));
        if (rv != 0)
            return rv;
    } else if (json_is_object(args[0]) || json_is_array(args[0])) {
        doc = json_incref(args[0]);
    } else {
        return bad_arg(ev, 0, "a JSON string", args[0]);
    }
    /* The query's visits count against the evaluation's work, so many
     * queries in a closure stay bounded too. */
    size_t left = wf_expr__ev_budget_left(ev), used = 0;
    rv = wf_expr__jsonpath(doc, SV(args[1]), left < 2000000 ? left : 2000000,
                           &used, out, ERR(ev));
    json_decref(doc);
    if (rv == 0 && (rv = wf_expr__ev_budget(ev, 0, used)) != 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rv;
}

static const struct wf_expr__fndef builtins[] = {
    {"abs", b_abs, 1, 1},
    {"asFloat", b_float, 1, 1},
    {"asInt", b_int, 1, 1},
    {"bitand", b_bitand, 2, 2},
    {"bitnand", b_bitnand, 2, 2},
    {"bitnot", b_bitnot, 1, 1},
    {"bitor", b_bitor, 2, 2},
    {"bitshl", b_bitshl, 2, 2},
    {"bitshr", b_bitshr, 2, 2},
    {"bitushr", b_bitushr, 2, 2},
    {"bitxor", b_bitxor, 2, 2},
    {"ceil", b_ceil, 1, 1},
    {"concat", b_concat, 1, -1},
    {"first", b_first, 1, 1},
    {"flatten", b_flatten, 1, 1},
    {"float", b_float, 1, 1},
    {"floor", b_floor, 1, 1},
    {"fromBase64", b_from_base64, 1, 1},
    {"fromJSON", b_from_json, 1, 1},
    {"fromPairs", b_from_pairs, 1, 1},
    {"get", b_get, 2, 2},
    {"hasPrefix", b_has_prefix, 2, 2},
    {"hasSuffix", b_has_suffix, 2, 2},
    {"indexOf", b_index_of, 2, 2},
    {"int", b_int, 1, 1},
    {"join", b_join, 1, 2},
    {"jsonpath", b_jsonpath, 2, 2},
    {"keys", b_keys, 1, 1},
    {"last", b_last, 1, 1},
    {"lastIndexOf", b_last_index_of, 2, 2},
    {"len", b_len, 1, 1},
    {"lower", b_lower, 1, 1},
    {"max", b_max, 1, -1},
    {"mean", b_mean, 1, 1},
    {"median", b_median, 1, 1},
    {"min", b_min, 1, -1},
    {"repeat", b_repeat, 2, 2},
    {"replace", b_replace, 3, 3},
    {"reverse", b_reverse, 1, 1},
    {"round", b_round, 1, 1},
    {"sort", b_sort, 1, 2},
    {"split", b_split, 2, 3},
    {"splitAfter", b_split_after, 2, 3},
    {"string", b_string, 1, 1},
    {"take", b_take, 2, 2},
    {"toBase64", b_to_base64, 1, 1},
    {"toJSON", b_to_json_indent, 1, 1},
    {"toJson", b_to_json, 1, 1},
    {"toPairs", b_to_pairs, 1, 1},
    {"trim", b_trim, 1, 2},
    {"trimPrefix", b_trim_prefix, 2, 2},
    {"trimSuffix", b_trim_suffix, 2, 2},
    {"type", b_type, 1, 1},
    {"uniq", b_uniq, 1, 1},
    {"upper", b_upper, 1, 1},
    {"values", b_values, 1, 1},
};

static int fndef_cmp(const void *key, const void *elem)
{
    const struct {
        const char *s;
        size_t len;
    } *k = key;
    const struct wf_expr__fndef *d = elem;
    size_t dl = strlen(d->name);
    int c = memcmp(k->s, d->name, k->len < dl ? k->len : dl);
    if (c != 0)
        return c;
    return k->len < dl ? -1 : k->len > dl;
}

const struct wf_expr__fndef *wf_expr__fn_lookup(
    const struct wf_expr__fndef *table, size_t n, const char *name,
    size_t len)
{
    struct {
        const char *s;
        size_t len;
    } k = {name, len};
    return bsearch(&k, table, n, sizeof(*table), fndef_cmp);
}

const struct wf_expr__fndef *wf_expr__builtin(const char *name, size_t len)
{
    return wf_expr__fn_lookup(builtins, sizeof(builtins) / sizeof(*builtins),
                              name, len);
}
