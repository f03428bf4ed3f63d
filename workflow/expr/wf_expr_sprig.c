/* wf_expr_sprig.c - `sprig.<fn>` in expr-lang expressions: the Sprig
 * template functions (https://masterminds.github.io/sprig/) that Argo
 * exposes (util/expr/env/env.go: sprig.GenericFuncMap() without env and
 * expandenv). Argument order and conversions follow Sprig v3: arithmetic
 * converts with cast.ToInt64 and returns int64, string functions take the
 * subject last (sprig.trimAll("-", s)), get on a missing key gives "".
 *
 * Functions that need a clock or randomness (now, randAlpha, uuidv4, ...)
 * are absent: evaluation is pure. date/dateInZone format the time they are
 * given (an RFC 3339 string or Unix seconds) in UTC.
 */
#include "workflow/expr/wf_expr.h"
#include "workflow/expr/wf_expr_int.h"

#include "common/cl_heap.h"

#include <ctype.h>
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define ERR(ev) wf_expr__ev_err(ev)
#define SV(v) json_string_value(v)
#define SL(v) json_string_length(v)

#define FN(name)                                                               \
    static int name(wf_expr__ev *ev, int col, json_t **args, size_t n,        \
                    json_t **out)
#define UNUSED                                                                 \
    do {                                                                       \
        (void)col;                                                             \
        (void)n;                                                               \
    } while (0)

static int bad_arg(wf_expr__ev *ev, size_t i, const char *want,
                   const json_t *got)
{
    return wf_expr__fail(ERR(ev), CL_EEXPR, 0,
                         "argument %zu must be %s, not %s", i + 1, want,
                         wf_expr__type_name(got));
}

#define NEED_STR(i)                                                            \
    do {                                                                       \
        if (!json_is_string(args[i]))                                          \
            return bad_arg(ev, i, "a string", args[i]);                        \
    } while (0)

static int ret_buf(wf_expr__ev *ev, cl_buf *b, json_t **out)
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

static int ret_int(wf_expr__ev *ev, int64_t i, json_t **out)
{
    return wf_expr__int(i, out, ERR(ev));
}

static int ret_str(wf_expr__ev *ev, const char *s, size_t len, json_t **out)
{
    return wf_expr__str(s, len, out, ERR(ev));
}

/* ---- math ---- */

FN(s_add)
{
    UNUSED;
    uint64_t a = 0;
    for (size_t i = 0; i < n; i++)
        a += (uint64_t)wf_expr__to_int64(args[i]);
    return ret_int(ev, (int64_t)a, out);
}

FN(s_add1)
{
    UNUSED;
    return ret_int(ev, (int64_t)((uint64_t)wf_expr__to_int64(args[0]) + 1),
                   out);
}

FN(s_sub)
{
    UNUSED;
    return ret_int(ev,
                   (int64_t)((uint64_t)wf_expr__to_int64(args[0]) -
                             (uint64_t)wf_expr__to_int64(args[1])),
                   out);
}

FN(s_mul)
{
    UNUSED;
    uint64_t a = (uint64_t)wf_expr__to_int64(args[0]);
    for (size_t i = 1; i < n; i++)
        a *= (uint64_t)wf_expr__to_int64(args[i]);
    return ret_int(ev, (int64_t)a, out);
}

static int divmod(wf_expr__ev *ev, json_t **args, bool mod, json_t **out)
{
    int64_t a = wf_expr__to_int64(args[0]), b = wf_expr__to_int64(args[1]);
    if (b == 0)
        return wf_expr__fail(ERR(ev), CL_EEXPR, 0, "integer divide by zero");
    if (b == -1)
        return ret_int(ev, mod ? 0 : (int64_t)(0 - (uint64_t)a), out);
    return ret_int(ev, mod ? a % b : a / b, out);
}

FN(s_div)
{
    UNUSED;
    return divmod(ev, args, false, out);
}

FN(s_mod)
{
    UNUSED;
    return divmod(ev, args, true, out);
}

static int minmax(wf_expr__ev *ev, json_t **args, size_t n, bool max,
                  json_t **out)
{
    int64_t a = wf_expr__to_int64(args[0]);
    for (size_t i = 1; i < n; i++) {
        int64_t b = wf_expr__to_int64(args[i]);
        if (max ? b > a : b < a)
            a = b;
    }
    return ret_int(ev, a, out);
}

FN(s_max)
{
    (void)col;
    return minmax(ev, args, n, true, out);
}

FN(s_min)
{
    (void)col;
    return minmax(ev, args, n, false, out);
}

static int minmaxf(wf_expr__ev *ev, json_t **args, size_t n, bool max,
                   json_t **out)
{
    double a = wf_expr__to_float64(args[0]);
    for (size_t i = 1; i < n; i++) {
        double b = wf_expr__to_float64(args[i]);
        a = max ? fmax(a, b) : fmin(a, b);
    }
    return wf_expr__real(a, out, ERR(ev));
}

FN(s_maxf)
{
    (void)col;
    return minmaxf(ev, args, n, true, out);
}

FN(s_minf)
{
    (void)col;
    return minmaxf(ev, args, n, false, out);
}

static int farith(wf_expr__ev *ev, json_t **args, size_t n, char op,
                  json_t **out)
{
    double a = wf_expr__to_float64(args[0]);
    for (size_t i = 1; i < n; i++) {
        double b = wf_expr__to_float64(args[i]);
        switch (op) {
        case '+': a += b; break;
        case '-': a -= b; break;
        case '*': a *= b; break;
        default:
            if (b == 0)
                return wf_expr__fail(ERR(ev), CL_EEXPR, 0,
                                     "division by zero");
            a /= b;
        }
    }
    return wf_expr__real(a, out, ERR(ev));
}

FN(s_addf)
{
    (void)col;
    return farith(ev, args, n, '+', out);
}

FN(s_subf)
{
    (void)col;
    return farith(ev, args, n, '-', out);
}

FN(s_mulf)
{
    (void)col;
    return farith(ev, args, n, '*', out);
}

FN(s_divf)
{
    (void)col;
    return farith(ev, args, n, '/', out);
}

FN(s_ceil)
{
    UNUSED;
    return wf_expr__real(ceil(wf_expr__to_float64(args[0])), out, ERR(ev));
}

FN(s_floor)
{
    UNUSED;
    return wf_expr__real(floor(wf_expr__to_float64(args[0])), out, ERR(ev));
}

/* round(value, places[, roundOn=.5]) as Sprig's round. */
FN(s_round)
{
    (void)col;
    double round_on = n > 2 ? wf_expr__to_float64(args[2]) : .5;
    double val = wf_expr__to_float64(args[0]);
    double pw = pow(10, (double)wf_expr__to_int64(args[1]));
    double digit = pw * val;
    double ip;
    double frac = modf(digit, &ip);
    double r = frac >= round_on ? ceil(digit) : floor(digit);
    return wf_expr__real(r / pw, out, ERR(ev));
}

/* ---- conversions ---- */

FN(s_int)
{
    UNUSED;
    return ret_int(ev, wf_expr__to_int64(args[0]), out);
}

FN(s_float64)
{
    UNUSED;
    return wf_expr__real(wf_expr__to_float64(args[0]), out, ERR(ev));
}

FN(s_atoi)
{
    UNUSED;
    NEED_STR(0);
    int64_t i = 0;
    if (!wf_expr__parse_int(SV(args[0]), SL(args[0]), &i))
        i = 0;
    return ret_int(ev, i, out);
}

FN(s_to_string)
{
    UNUSED;
    cl_buf b = CL_BUF_INIT;
    int rv = wf_expr__to_str(args[0], &b, ERR(ev));
    if (rv != 0) {
        cl_buf_free(&b);
        return rv;
    }
    return ret_buf(ev, &b, out);
}

static int str_list(wf_expr__ev *ev, const json_t *list, json_t **out)
{
    json_t *arr;
    int rv = wf_expr__array(&arr, ERR(ev));
    for (size_t i = 0; rv == 0 && i < json_array_size(list); i++) {
        cl_buf b = CL_BUF_INIT;
        json_t *s = NULL;
        rv = wf_expr__to_str(json_array_get(list, i), &b, ERR(ev));
        if (rv == 0)
            rv = wf_expr__str_buf(&b, &s, ERR(ev));
        cl_buf_free(&b);
        if (rv == 0)
            rv = wf_expr__push(arr, s, ERR(ev));
    }
    if (rv != 0) {
        json_decref(arr);
        return rv;
    }
    *out = arr;
    return 0;
}

FN(s_to_strings)
{
    UNUSED;
    if (!json_is_array(args[0]))
        return bad_arg(ev, 0, "a list", args[0]);
    return str_list(ev, args[0], out);
}

static int json_out(wf_expr__ev *ev, const json_t *v, int flags, json_t **out)
{
    cl_buf b = CL_BUF_INIT;
    int rv = wf_expr__json_write(&b, v, flags, ERR(ev));
    if (rv != 0) {
        cl_buf_free(&b);
        return rv;
    }
    return ret_buf(ev, &b, out);
}

FN(s_to_json)
{
    UNUSED;
    return json_out(ev, args[0], WF_EXPR__JSON_HTML, out);
}

FN(s_to_raw_json)
{
    UNUSED;
    return json_out(ev, args[0], 0, out);
}

FN(s_to_pretty_json)
{
    UNUSED;
    return json_out(ev, args[0], WF_EXPR__JSON_INDENT | WF_EXPR__JSON_HTML,
                    out);
}

/* fromJson: Sprig returns an empty map when the text does not decode. */
FN(s_from_json)
{
    UNUSED;
    NEED_STR(0);
    cl_errmsg tmp;
    int rv = wf_expr__parse_json(SV(args[0]), SL(args[0]), out, &tmp);
    if (rv == CL_EEXPR)
        return wf_expr__object(out, ERR(ev));
    if (rv != 0)
        return wf_expr__fail(ERR(ev), rv, 0, "%s", tmp.msg);
    return 0;
}

FN(s_must_from_json)
{
    UNUSED;
    NEED_STR(0);
    return wf_expr__parse_json(SV(args[0]), SL(args[0]), out, ERR(ev));
}

/* ---- strings ---- */

static int cut(wf_expr__ev *ev, const char *s, size_t len, const char *set,
               size_t setlen, bool l, bool r, json_t **out)
{
    size_t a = 0, b = len;
    while (l && a < b && memchr(set, s[a], setlen))
        a++;
    while (r && b > a && memchr(set, s[b - 1], setlen))
        b--;
    return ret_str(ev, s + a, b - a, out);
}

FN(s_trim)
{
    UNUSED;
    NEED_STR(0);
    return cut(ev, SV(args[0]), SL(args[0]), " \t\n\r\v\f", 6, true, true,
               out);
}

FN(s_trim_all)
{
    UNUSED;
    NEED_STR(0);
    NEED_STR(1);
    return cut(ev, SV(args[1]), SL(args[1]), SV(args[0]), SL(args[0]), true,
               true, out);
}

static int affix(wf_expr__ev *ev, json_t **args, bool suffix, bool test,
                 json_t **out)
{
    NEED_STR(0);
    NEED_STR(1);
    const char *p = SV(args[0]), *s = SV(args[1]);
    size_t lp = SL(args[0]), ls = SL(args[1]);
    bool has = lp <= ls && memcmp(suffix ? s + ls - lp : s, p, lp) == 0;
    if (test)
        return wf_expr__bool(has, out);
    if (!has)
        return ret_str(ev, s, ls, out);
    return ret_str(ev, suffix ? s : s + lp, ls - lp, out);
}

FN(s_trim_prefix)
{
    UNUSED;
    return affix(ev, args, false, false, out);
}

FN(s_trim_suffix)
{
    UNUSED;
    return affix(ev, args, true, false, out);
}

FN(s_has_prefix)
{
    UNUSED;
    return affix(ev, args, false, true, out);
}

FN(s_has_suffix)
{
    UNUSED;
    return affix(ev, args, true, true, out);
}

static int recase(wf_expr__ev *ev, json_t **args, int mode, json_t **out)
{
    NEED_STR(0);
    cl_buf b = CL_BUF_INIT;
    cl_buf_append(&b, SV(args[0]), SL(args[0]));
    bool word_start = true;
    for (size_t i = 0; b.data && i < b.len; i++) {
        unsigned char c = (unsigned char)b.data[i];
        if (mode == 0)
            b.data[i] = (char)toupper(c);
        else if (mode == 1)
            b.data[i] = (char)tolower(c);
        else if (mode == 2 && word_start) /* title */
            b.data[i] = (char)toupper(c);
        else if (mode == 3 && word_start) /* untitle */
            b.data[i] = (char)tolower(c);
        word_start = isspace(c) || c == '-' || c == '_' || c == '.' ||
                     c == ',' || c == '(' || c == '"' || c == '\'';
        if (mode == 3)
            word_start = isspace(c);
    }
    return ret_buf(ev, &b, out);
}

FN(s_upper)
{
    UNUSED;
    return recase(ev, args, 0, out);
}

FN(s_lower)
{
    UNUSED;
    return recase(ev, args, 1, out);
}

FN(s_title)
{
    UNUSED;
    return recase(ev, args, 2, out);
}

FN(s_untitle)
{
    UNUSED;
    return recase(ev, args, 3, out);
}

FN(s_replace)
{
    UNUSED;
    NEED_STR(0);
    NEED_STR(1);
    NEED_STR(2);
    return wf_expr__replace(ev, SV(args[2]), SL(args[2]), SV(args[0]),
                            SL(args[0]), SV(args[1]), SL(args[1]), out);
}

FN(s_repeat)
{
    UNUSED;
    NEED_STR(1);
    return wf_expr__repeat(ev, SV(args[1]), SL(args[1]),
                           wf_expr__to_int64(args[0]), out);
}

FN(s_contains)
{
    UNUSED;
    NEED_STR(0);
    NEED_STR(1);
    const char *sub = SV(args[0]), *s = SV(args[1]);
    size_t lsub = SL(args[0]), ls = SL(args[1]);
    bool has = lsub == 0;
    for (size_t i = 0; !has && i + lsub <= ls; i++)
        has = memcmp(s + i, sub, lsub) == 0;
    return wf_expr__bool(has, out);
}

/* substr(start, end, s): Sprig's substring on bytes; end < 0 means the
 * rest, start < 0 means 0. */
FN(s_substr)
{
    UNUSED;
    NEED_STR(2);
    int64_t a = wf_expr__to_int64(args[0]), b = wf_expr__to_int64(args[1]);
    int64_t len = (int64_t)SL(args[2]);
    if (a < 0)
        a = 0;
    if (b < 0 || b > len)
        b = len;
    if (a > b)
        a = b;
    return ret_str(ev, SV(args[2]) + a, (size_t)(b - a), out);
}

/* trunc(c, s): first c bytes, or the last -c bytes when c < 0. */
FN(s_trunc)
{
    UNUSED;
    NEED_STR(1);
    int64_t c = wf_expr__to_int64(args[0]);
    int64_t len = (int64_t)SL(args[1]);
    if (c < 0 && len + c > 0)
        return ret_str(ev, SV(args[1]) + len + c, (size_t)-c, out);
    if (c >= 0 && len > c)
        return ret_str(ev, SV(args[1]), (size_t)c, out);
    return ret_str(ev, SV(args[1]), (size_t)len, out);
}

FN(s_nospace)
{
    UNUSED;
    NEED_STR(0);
    cl_buf b = CL_BUF_INIT;
    for (size_t i = 0; i < SL(args[0]); i++)
        if (!isspace((unsigned char)SV(args[0])[i]))
            cl_buf_putc(&b, SV(args[0])[i]);
    return ret_buf(ev, &b, out);
}

static int do_indent(wf_expr__ev *ev, json_t **args, bool nl, json_t **out)
{
    NEED_STR(1);
    int64_t sp = wf_expr__to_int64(args[0]);
    if (sp < 0)
        sp = 0;
    if (sp > 4096)
        return wf_expr__fail(ERR(ev), CL_EEXPR, 0, "indent too large");
    const char *s = SV(args[1]);
    size_t len = SL(args[1]);
    cl_buf b = CL_BUF_INIT;
    if (nl)
        cl_buf_putc(&b, '\n');
    for (int64_t k = 0; k < sp; k++)
        cl_buf_putc(&b, ' ');
    for (size_t i = 0; i < len && cl_buf_ok(&b); i++) {
        cl_buf_putc(&b, s[i]);
        if (s[i] == '\n')
            for (int64_t k = 0; k < sp; k++)
                cl_buf_putc(&b, ' ');
        if (b.len > WF_EXPR__MAX_STR) {
            cl_buf_free(&b);
            return wf_expr__fail(ERR(ev), CL_EEXPR, 0,
                                 "result exceeds the size limit");
        }
    }
    return ret_buf(ev, &b, out);
}

FN(s_indent)
{
    UNUSED;
    return do_indent(ev, args, false, out);
}

FN(s_nindent)
{
    UNUSED;
    return do_indent(ev, args, true, out);
}

/* Go's %q: a double-quoted string with Go escapes. */
static void go_quote(cl_buf *b, const char *s, size_t len, char q)
{
    cl_buf_putc(b, q);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == (unsigned char)q || c == '\\') {
            cl_buf_putc(b, '\\');
            cl_buf_putc(b, (char)c);
        } else if (c == '\n') {
            cl_buf_puts(b, "\\n");
        } else if (c == '\t') {
            cl_buf_puts(b, "\\t");
        } else if (c == '\r') {
            cl_buf_puts(b, "\\r");
        } else if (c < 0x20 || c == 0x7f) {
            cl_buf_printf(b, "\\x%02x", c);
        } else {
            cl_buf_putc(b, (char)c);
        }
    }
    cl_buf_putc(b, q);
}

static int quote_all(wf_expr__ev *ev, json_t **args, size_t n, bool dbl,
                     json_t **out)
{
    cl_buf b = CL_BUF_INIT;
    bool first = true;
    int rv = 0;
    for (size_t i = 0; i < n && rv == 0; i++) {
        if (json_is_null(args[i]))
            continue;
        cl_buf tmp = CL_BUF_INIT;
        rv = wf_expr__to_str(args[i], &tmp, ERR(ev));
        if (rv == 0) {
            if (!first)
                cl_buf_putc(&b, ' ');
            first = false;
            if (dbl)
                go_quote(&b, tmp.data ? tmp.data : "", tmp.len, '"');
            else {
                cl_buf_putc(&b, '\'');
                cl_buf_append(&b, tmp.data, tmp.len);
                cl_buf_putc(&b, '\'');
            }
        }
        cl_buf_free(&tmp);
    }
    if (rv != 0) {
        cl_buf_free(&b);
        return rv;
    }
    return ret_buf(ev, &b, out);
}

FN(s_quote)
{
    (void)col;
    return quote_all(ev, args, n, true, out);
}

FN(s_squote)
{
    (void)col;
    return quote_all(ev, args, n, false, out);
}

/* cat: the non-nil arguments formatted with %v, joined by spaces. */
FN(s_cat)
{
    (void)col;
    cl_buf b = CL_BUF_INIT;
    int rv = 0;
    bool first = true;
    for (size_t i = 0; i < n && rv == 0; i++) {
        if (json_is_null(args[i]))
            continue;
        if (!first)
            cl_buf_putc(&b, ' ');
        first = false;
        rv = wf_expr__to_str(args[i], &b, ERR(ev));
    }
    if (rv != 0) {
        cl_buf_free(&b);
        return rv;
    }
    return ret_buf(ev, &b, out);
}

/* join(sep, list): each element via strval. */
FN(s_join)
{
    UNUSED;
    NEED_STR(0);
    json_t *list = args[1];
    cl_buf b = CL_BUF_INIT;
    int rv = 0;
    if (json_is_array(list)) {
        for (size_t i = 0; i < json_array_size(list) && rv == 0; i++) {
            if (i)
                cl_buf_append(&b, SV(args[0]), SL(args[0]));
            rv = wf_expr__to_str(json_array_get(list, i), &b, ERR(ev));
            if (b.len > WF_EXPR__MAX_STR)
                break;
        }
    } else {
        rv = wf_expr__to_str(list, &b, ERR(ev));
    }
    if (rv != 0) {
        cl_buf_free(&b);
        return rv;
    }
    return ret_buf(ev, &b, out);
}

/* split(sep, s) gives a map {_0: ..., _1: ...}; splitn(sep, n, s) too. */
static int split_map(wf_expr__ev *ev, json_t *sep, json_t *s, int64_t cnt,
                     json_t **out)
{
    json_t *parts;
    int rv = wf_expr__split(ev, SV(s), SL(s), SV(sep), SL(sep), cnt, false,
                            &parts);
    if (rv != 0)
        return rv;
    json_t *m;
    rv = wf_expr__object(&m, ERR(ev));
    for (size_t i = 0; i < json_array_size(parts) && rv == 0; i++) {
        char k[32];
        int kl = snprintf(k, sizeof(k), "_%zu", i);
        rv = wf_expr__put(m, k, (size_t)kl,
                          json_incref(json_array_get(parts, i)), ERR(ev));
    }
    json_decref(parts);
    if (rv != 0) {
        json_decref(m);
        return rv;
    }
    *out = m;
    return 0;
}

FN(s_split)
{
    UNUSED;
    NEED_STR(0);
    NEED_STR(1);
    return split_map(ev, args[0], args[1], -1, out);
}

FN(s_splitn)
{
    UNUSED;
    NEED_STR(0);
    NEED_STR(2);
    return split_map(ev, args[0], args[2], wf_expr__to_int64(args[1]), out);
}

FN(s_split_list)
{
    UNUSED;
    NEED_STR(0);
    NEED_STR(1);
    return wf_expr__split(ev, SV(args[1]), SL(args[1]), SV(args[0]),
                          SL(args[0]), -1, false, out);
}

FN(s_b64enc)
{
    UNUSED;
    cl_buf src = CL_BUF_INIT, b = CL_BUF_INIT;
    int rv = wf_expr__to_str(args[0], &src, ERR(ev));
    if (rv == 0 && wf_expr__b64enc(src.data, src.len, &b) != 0)
        rv = wf_expr__fail(ERR(ev), CL_ENOMEM, 0, "out of memory");
    cl_buf_free(&src);
    if (rv != 0) {
        cl_buf_free(&b);
        return rv;
    }
    return ret_buf(ev, &b, out);
}

/* b64dec: Sprig returns the decoder's error text instead of failing. */
FN(s_b64dec)
{
    UNUSED;
    NEED_STR(0);
    cl_buf b = CL_BUF_INIT;
    cl_errmsg tmp;
    int rv = wf_expr__b64dec(SV(args[0]), SL(args[0]), &b, &tmp);
    if (rv == CL_EEXPR) {
        cl_buf_free(&b);
        return ret_str(ev, tmp.msg, strlen(tmp.msg), out);
    }
    if (rv != 0) {
        cl_buf_free(&b);
        return wf_expr__fail(ERR(ev), rv, 0, "%s", tmp.msg);
    }
    return ret_buf(ev, &b, out);
}

FN(s_sha256sum)
{
    UNUSED;
    NEED_STR(0);
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)SV(args[0]), SL(args[0]));
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    for (size_t i = 0; i < sizeof(h); i++) {
        static const char d[] = "0123456789abcdef";
        hex[2 * i] = d[h[i] >> 4];
        hex[2 * i + 1] = d[h[i] & 15];
    }
    return ret_str(ev, hex, 2 * sizeof(h), out);
}

FN(s_adler32sum)
{
    UNUSED;
    NEED_STR(0);
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < SL(args[0]); i++) {
        a = (a + (unsigned char)SV(args[0])[i]) % 65521;
        b = (b + a) % 65521;
    }
    char buf[16];
    int len = snprintf(buf, sizeof(buf), "%u", (unsigned)((b << 16) | a));
    return ret_str(ev, buf, (size_t)len, out);
}

/* ---- defaults and logic ---- */

FN(s_default)
{
    (void)col;
    if (n < 2 || !wf_expr__truthy(args[1])) {
        *out = json_incref(args[0]);
        return 0;
    }
    *out = json_incref(args[1]);
    return 0;
}

FN(s_empty)
{
    UNUSED;
    return wf_expr__bool(!wf_expr__truthy(args[0]), out);
}

FN(s_coalesce)
{
    (void)col;
    for (size_t i = 0; i < n; i++) {
        if (wf_expr__truthy(args[i])) {
            *out = json_incref(args[i]);
            return 0;
        }
    }
    *out = json_null();
    return 0;
}

FN(s_all)
{
    (void)col;
    bool r = true;
    for (size_t i = 0; i < n && r; i++)
        r = wf_expr__truthy(args[i]);
    return wf_expr__bool(r, out);
}

FN(s_any)
{
    (void)col;
    bool r = n == 0 ? true : false;
    for (size_t i = 0; i < n && !r; i++)
        r = wf_expr__truthy(args[i]);
    return wf_expr__bool(r, out);
}

FN(s_ternary)
{
    UNUSED;
    if (!json_is_boolean(args[2]))
        return bad_arg(ev, 2, "a bool", args[2]);
    *out = json_incref(json_is_true(args[2]) ? args[0] : args[1]);
    return 0;
}

FN(s_fail)
{
    UNUSED;
    cl_buf b = CL_BUF_INIT;
    wf_expr__to_str(args[0], &b, NULL);
    int rv = wf_expr__fail(ERR(ev), CL_EEXPR, 0, "%s",
                           b.data ? b.data : "");
    cl_buf_free(&b);
    return rv;
}

FN(s_type_of)
{
    UNUSED;
    static const char *const go[] = {
        [JSON_OBJECT] = "map[string]interface {}",
        [JSON_ARRAY] = "[]interface {}",
        [JSON_STRING] = "string",
        [JSON_INTEGER] = "int64",
        [JSON_REAL] = "float64",
        [JSON_TRUE] = "bool",
        [JSON_FALSE] = "bool",
        [JSON_NULL] = "<nil>",
    };
    const char *t = go[json_typeof(args[0])];
    return ret_str(ev, t, strlen(t), out);
}

static const char *kind_of(const json_t *v)
{
    static const char *const k[] = {
        [JSON_OBJECT] = "map",     [JSON_ARRAY] = "slice",
        [JSON_STRING] = "string",  [JSON_INTEGER] = "int64",
        [JSON_REAL] = "float64",   [JSON_TRUE] = "bool",
        [JSON_FALSE] = "bool",     [JSON_NULL] = "invalid",
    };
    return k[json_typeof(v)];
}

FN(s_kind_of)
{
    UNUSED;
    const char *k = kind_of(args[0]);
    return ret_str(ev, k, strlen(k), out);
}

FN(s_kind_is)
{
    UNUSED;
    NEED_STR(0);
    return wf_expr__bool(strcmp(SV(args[0]), kind_of(args[1])) == 0, out);
}

FN(s_deep_equal)
{
    UNUSED;
    return wf_expr__bool(wf_expr__equal(args[0], args[1]), out);
}

/* ---- lists ---- */

FN(s_list)
{
    (void)col;
    json_t *arr;
    int rv = wf_expr__array(&arr, ERR(ev));
    for (size_t i = 0; i < n && rv == 0; i++)
        rv = wf_expr__push(arr, json_incref(args[i]), ERR(ev));
    if (rv != 0) {
        json_decref(arr);
        return rv;
    }
    *out = arr;
    return 0;
}

static int need_list(wf_expr__ev *ev, json_t **args, size_t i)
{
    if (!json_is_array(args[i]))
        return bad_arg(ev, i, "a list", args[i]);
    return 0;
}

/* A new list with src[from, to) plus optional extras at either end. */
static int list_part(wf_expr__ev *ev, const json_t *src, size_t from,
                     size_t to, json_t *pre, json_t *post, bool rev,
                     json_t **out)
{
    json_t *arr;
    int rv = wf_expr__array(&arr, ERR(ev));
    if (rv == 0 && pre)
        rv = wf_expr__push(arr, json_incref(pre), ERR(ev));
    for (size_t i = from; i < to && rv == 0; i++)
        rv = wf_expr__push(
            arr, json_incref(json_array_get(src, rev ? to - 1 - (i - from) : i)),
            ERR(ev));
    if (rv == 0 && post)
        rv = wf_expr__push(arr, json_incref(post), ERR(ev));
    if (rv == 0)
        rv = wf_expr__ev_elems(ev, 0, to - from + 1);
    if (rv != 0) {
        json_decref(arr);
        return rv;
    }
    *out = arr;
    return 0;
}

FN(s_first)
{
    UNUSED;
    int rv = need_list(ev, args, 0);
    if (rv != 0)
        return rv;
    size_t len = json_array_size(args[0]);
    *out = len ? json_incref(json_array_get(args[0], 0)) : json_null();
    return 0;
}

FN(s_last)
{
    UNUSED;
    int rv = need_list(ev, args, 0);
    if (rv != 0)
        return rv;
    size_t len = json_array_size(args[0]);
    *out = len ? json_incref(json_array_get(args[0], len - 1)) : json_null();
    return 0;
}

FN(s_rest)
{
    UNUSED;
    int rv = need_list(ev, args, 0);
    if (rv != 0)
        return rv;
    size_t len = json_array_size(args[0]);
    return list_part(ev, args[0], len ? 1 : 0, len, NULL, NULL, false, out);
}

FN(s_initial)
{
    UNUSED;
    int rv = need_list(ev, args, 0);
    if (rv != 0)
        return rv;
    size_t len = json_array_size(args[0]);
    return list_part(ev, args[0], 0, len ? len - 1 : 0, NULL, NULL, false,
                     out);
}

FN(s_append)
{
    UNUSED;
    int rv = need_list(ev, args, 0);
    if (rv != 0)
        return rv;
    return list_part(ev, args[0], 0, json_array_size(args[0]), NULL, args[1],
                     false, out);
}

FN(s_prepend)
{
    UNUSED;
    int rv = need_list(ev, args, 0);
    if (rv != 0)
        return rv;
    return list_part(ev, args[0], 0, json_array_size(args[0]), args[1], NULL,
                     false, out);
}

FN(s_reverse)
{
    UNUSED;
    int rv = need_list(ev, args, 0);
    if (rv != 0)
        return rv;
    return list_part(ev, args[0], 0, json_array_size(args[0]), NULL, NULL,
                     true, out);
}

FN(s_concat)
{
    (void)col;
    json_t *arr;
    int rv = wf_expr__array(&arr, ERR(ev));
    for (size_t i = 0; i < n && rv == 0; i++) {
        if ((rv = need_list(ev, args, i)) != 0)
            break;
        for (size_t j = 0; j < json_array_size(args[i]) && rv == 0; j++)
            rv = wf_expr__push(arr, json_incref(json_array_get(args[i], j)),
                               ERR(ev));
    }
    if (rv != 0) {
        json_decref(arr);
        return rv;
    }
    *out = arr;
    return 0;
}

FN(s_uniq)
{
    UNUSED;
    int rv = need_list(ev, args, 0);
    if (rv != 0)
        return rv;
    return wf_expr__uniq(ev, args[0], out);
}

FN(s_compact)
{
    UNUSED;
    int rv = need_list(ev, args, 0);
    if (rv != 0)
        return rv;
    json_t *arr;
    rv = wf_expr__array(&arr, ERR(ev));
    for (size_t i = 0; i < json_array_size(args[0]) && rv == 0; i++) {
        json_t *el = json_array_get(args[0], i);
        if (wf_expr__truthy(el))
            rv = wf_expr__push(arr, json_incref(el), ERR(ev));
    }
    if (rv != 0) {
        json_decref(arr);
        return rv;
    }
    *out = arr;
    return 0;
}

FN(s_without)
{
    (void)col;
    int rv = need_list(ev, args, 0);
    if (rv != 0)
        return rv;
    json_t *arr;
    rv = wf_expr__array(&arr, ERR(ev));
    for (size_t i = 0; i < json_array_size(args[0]) && rv == 0; i++) {
        json_t *el = json_array_get(args[0], i);
        bool drop = false;
        for (size_t k = 1; k < n && !drop; k++)
            drop = wf_expr__equal(el, args[k]);
        if (!drop)
            rv = wf_expr__push(arr, json_incref(el), ERR(ev));
    }
    if (rv != 0) {
        json_decref(arr);
        return rv;
    }
    *out = arr;
    return 0;
}

/* has(needle, list) */
FN(s_has)
{
    UNUSED;
    bool r = false;
    if (json_is_array(args[1]))
        for (size_t i = 0; i < json_array_size(args[1]) && !r; i++)
            r = wf_expr__equal(args[0], json_array_get(args[1], i));
    return wf_expr__bool(r, out);
}

/* slice(list, start[, end]) */
FN(s_slice)
{
    (void)col;
    int rv = need_list(ev, args, 0);
    if (rv != 0)
        return rv;
    int64_t len = (int64_t)json_array_size(args[0]);
    int64_t a = n > 1 ? wf_expr__to_int64(args[1]) : 0;
    int64_t b = n > 2 ? wf_expr__to_int64(args[2]) : len;
    if (a < 0 || b > len || a > b)
        return wf_expr__fail(ERR(ev), CL_EEXPR, 0,
                             "slice bounds out of range [%lld:%lld]",
                             (long long)a, (long long)b);
    return list_part(ev, args[0], (size_t)a, (size_t)b, NULL, NULL, false,
                     out);
}

static int strcmp_json(const void *x, const void *y)
{
    const json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
    size_t la = SL(a), lb = SL(b);
    int c = memcmp(SV(a), SV(b), la < lb ? la : lb);
    return c ? c : (la < lb ? -1 : la > lb);
}

FN(s_sort_alpha)
{
    UNUSED;
    int rv = need_list(ev, args, 0);
    if (rv != 0)
        return rv;
    json_t *strs;
    if ((rv = str_list(ev, args[0], &strs)) != 0)
        return rv;
    size_t len = json_array_size(strs);
    json_t **v = cl_calloc(len ? len : 1, sizeof(*v));
    if (v == NULL) {
        json_decref(strs);
        return wf_expr__fail(ERR(ev), CL_ENOMEM, 0, "out of memory");
    }
    for (size_t i = 0; i < len; i++)
        v[i] = json_array_get(strs, i);
    qsort(v, len, sizeof(*v), strcmp_json);
    json_t *arr;
    rv = wf_expr__array(&arr, ERR(ev));
    for (size_t i = 0; i < len && rv == 0; i++)
        rv = wf_expr__push(arr, json_incref(v[i]), ERR(ev));
    cl_free(v);
    json_decref(strs);
    if (rv != 0) {
        json_decref(arr);
        return rv;
    }
    *out = arr;
    return 0;
}

static int int_range(wf_expr__ev *ev, int64_t a, int64_t b, int64_t step,
                     json_t **out)
{
    json_t *arr;
    int rv = wf_expr__array(&arr, ERR(ev));
    if (rv != 0)
        return rv;
    if (step == 0) {
        *out = arr;
        return 0;
    }
    uint64_t span = step > 0 ? (a < b ? (uint64_t)b - (uint64_t)a : 0)
                             : (a > b ? (uint64_t)a - (uint64_t)b : 0);
    uint64_t astep = step > 0 ? (uint64_t)step : 0 - (uint64_t)step;
    if (span / astep >= WF_EXPR__MAX_ARRAY) {
        json_decref(arr);
        return wf_expr__fail(ERR(ev), CL_EEXPR, 0, "range too large");
    }
    for (uint64_t k = 0; k * astep < span && rv == 0; k++)
        rv = wf_expr__push(arr,
                           json_integer((json_int_t)(int64_t)(
                               (uint64_t)a + (step > 0 ? k * astep
                                                       : 0 - k * astep))),
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

FN(s_until)
{
    UNUSED;
    int64_t c = wf_expr__to_int64(args[0]);
    return int_range(ev, 0, c, c >= 0 ? 1 : -1, out);
}

FN(s_until_step)
{
    UNUSED;
    return int_range(ev, wf_expr__to_int64(args[0]),
                     wf_expr__to_int64(args[1]), wf_expr__to_int64(args[2]),
                     out);
}

/* seq: like Unix seq, as a space separated string. */
FN(s_seq)
{
    (void)col;
    int64_t start = 1, step = 1, end;
    if (n == 0)
        return ret_str(ev, "", 0, out);
    if (n == 1) {
        end = wf_expr__to_int64(args[0]);
    } else if (n == 2) {
        start = wf_expr__to_int64(args[0]);
        end = wf_expr__to_int64(args[1]);
        step = start <= end ? 1 : -1;
    } else {
        start = wf_expr__to_int64(args[0]);
        step = wf_expr__to_int64(args[1]);
        end = wf_expr__to_int64(args[2]);
        if ((step > 0 && end < start) || (step < 0 && end > start) ||
            step == 0)
            return ret_str(ev, "", 0, out);
    }
    if (n == 1 && end < 1)
        step = -1;
    /* inclusive */
    int64_t stop = step > 0 ? end + 1 : end - 1;
    if ((step > 0 && end == INT64_MAX) || (step < 0 && end == INT64_MIN))
        return wf_expr__fail(ERR(ev), CL_EEXPR, 0, "range too large");
    json_t *arr;
    int rv = int_range(ev, start, stop, step, &arr);
    if (rv != 0)
        return rv;
    cl_buf b = CL_BUF_INIT;
    for (size_t i = 0; i < json_array_size(arr); i++)
        cl_buf_printf(&b, i ? " %lld" : "%lld",
                      (long long)json_integer_value(json_array_get(arr, i)));
    json_decref(arr);
    return ret_buf(ev, &b, out);
}

/* ---- dicts ---- */

FN(s_dict)
{
    (void)col;
    json_t *m;
    int rv = wf_expr__object(&m, ERR(ev));
    for (size_t i = 0; i < n && rv == 0; i += 2) {
        cl_buf k = CL_BUF_INIT;
        rv = wf_expr__to_str(args[i], &k, ERR(ev));
        if (rv == 0)
            rv = wf_expr__put(m, k.data ? k.data : "", k.len,
                              i + 1 < n ? json_incref(args[i + 1])
                                        : json_string(""),
                              ERR(ev));
        cl_buf_free(&k);
    }
    if (rv != 0) {
        json_decref(m);
        return rv;
    }
    *out = m;
    return 0;
}

static int need_dict(wf_expr__ev *ev, json_t **args, size_t i)
{
    if (!json_is_object(args[i]))
        return bad_arg(ev, i, "a dict", args[i]);
    return 0;
}

FN(s_get)
{
    UNUSED;
    int rv = need_dict(ev, args, 0);
    if (rv != 0)
        return rv;
    NEED_STR(1);
    json_t *v = json_object_getn(args[0], SV(args[1]), SL(args[1]));
    *out = v ? json_incref(v) : json_string("");
    return *out ? 0 : wf_expr__fail(ERR(ev), CL_ENOMEM, 0, "out of memory");
}

FN(s_has_key)
{
    UNUSED;
    int rv = need_dict(ev, args, 0);
    if (rv != 0)
        return rv;
    NEED_STR(1);
    return wf_expr__bool(
        json_object_getn(args[0], SV(args[1]), SL(args[1])) != NULL, out);
}

/* set and unset return a changed copy: values from the environment are
 * shared and never modified in place. */
static int dict_copy(wf_expr__ev *ev, const json_t *src, json_t **out)
{
    *out = json_copy((json_t *)src);
    if (*out == NULL)
        return wf_expr__fail(ERR(ev), CL_ENOMEM, 0, "out of memory");
    return wf_expr__ev_elems(ev, 0, json_object_size(src));
}

FN(s_set)
{
    UNUSED;
    int rv = need_dict(ev, args, 0);
    if (rv != 0)
        return rv;
    NEED_STR(1);
    json_t *m;
    if ((rv = dict_copy(ev, args[0], &m)) != 0)
        return rv;
    rv = wf_expr__put(m, SV(args[1]), SL(args[1]), json_incref(args[2]),
                      ERR(ev));
    if (rv != 0) {
        json_decref(m);
        return rv;
    }
    *out = m;
    return 0;
}

FN(s_unset)
{
    UNUSED;
    int rv = need_dict(ev, args, 0);
    if (rv != 0)
        return rv;
    NEED_STR(1);
    json_t *m;
    if ((rv = dict_copy(ev, args[0], &m)) != 0)
        return rv;
    /* jansson has no length-aware delete; keys with NUL stay. */
    json_object_del(m, SV(args[1]));
    *out = m;
    return 0;
}

static int pick_omit(wf_expr__ev *ev, json_t **args, size_t n, bool pick,
                     json_t **out)
{
    int rv = need_dict(ev, args, 0);
    if (rv != 0)
        return rv;
    json_t *m;
    if ((rv = wf_expr__object(&m, ERR(ev))) != 0)
        return rv;
    const char *k;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach(args[0], k, klen, v)
    {
        bool listed = false;
        for (size_t i = 1; i < n && !listed; i++)
            listed = json_is_string(args[i]) && SL(args[i]) == klen &&
                     memcmp(SV(args[i]), k, klen) == 0;
        if (listed == pick &&
            (rv = wf_expr__put(m, k, klen, json_incref(v), ERR(ev))) != 0)
            break;
    }
    if (rv != 0) {
        json_decref(m);
        return rv;
    }
    *out = m;
    return 0;
}

FN(s_pick)
{
    (void)col;
    return pick_omit(ev, args, n, true, out);
}

FN(s_omit)
{
    (void)col;
    return pick_omit(ev, args, n, false, out);
}

/* keys(dict...): every key, sorted here for a stable result. */
FN(s_keys)
{
    (void)col;
    json_t *all;
    int rv = wf_expr__object(&all, ERR(ev));
    for (size_t i = 0; i < n && rv == 0; i++) {
        if ((rv = need_dict(ev, args, i)) != 0)
            break;
        const char *k;
        size_t klen;
        json_t *v;
        json_object_keylen_foreach(args[i], k, klen, v)
        {
            if ((rv = wf_expr__put(all, k, klen, json_true(), ERR(ev))) != 0)
                break;
        }
    }
    json_t *arr = NULL;
    if (rv == 0) {
        const char **keys;
        size_t *lens, cnt;
        rv = wf_expr__sorted_keys(all, &keys, &lens, &cnt, ERR(ev));
        if (rv == 0) {
            rv = wf_expr__array(&arr, ERR(ev));
            for (size_t i = 0; i < cnt && rv == 0; i++)
                rv = wf_expr__push(arr, json_stringn_nocheck(keys[i], lens[i]),
                                   ERR(ev));
            cl_free(keys);
            cl_free(lens);
        }
    }
    json_decref(all);
    if (rv != 0) {
        json_decref(arr);
        return rv;
    }
    *out = arr;
    return 0;
}

FN(s_values)
{
    UNUSED;
    int rv = need_dict(ev, args, 0);
    if (rv != 0)
        return rv;
    const char **keys;
    size_t *lens, cnt;
    if ((rv = wf_expr__sorted_keys(args[0], &keys, &lens, &cnt, ERR(ev))))
        return rv;
    json_t *arr;
    rv = wf_expr__array(&arr, ERR(ev));
    for (size_t i = 0; i < cnt && rv == 0; i++)
        rv = wf_expr__push(
            arr, json_incref(json_object_getn(args[0], keys[i], lens[i])),
            ERR(ev));
    cl_free(keys);
    cl_free(lens);
    if (rv != 0) {
        json_decref(arr);
        return rv;
    }
    *out = arr;
    return 0;
}

/* pluck(key, dicts...) */
FN(s_pluck)
{
    (void)col;
    NEED_STR(0);
    json_t *arr;
    int rv = wf_expr__array(&arr, ERR(ev));
    for (size_t i = 1; i < n && rv == 0; i++) {
        if (!json_is_object(args[i]))
            continue;
        json_t *v = json_object_getn(args[i], SV(args[0]), SL(args[0]));
        if (v)
            rv = wf_expr__push(arr, json_incref(v), ERR(ev));
    }
    if (rv != 0) {
        json_decref(arr);
        return rv;
    }
    *out = arr;
    return 0;
}

/* ---- regular expressions ---- */

FN(s_regex_match)
{
    UNUSED;
    NEED_STR(0);
    NEED_STR(1);
    bool r;
    int rv = wf_expr__re_match(SV(args[0]), SL(args[0]), SV(args[1]),
                               SL(args[1]), &r, ERR(ev));
    if (rv != 0)
        return rv;
    return wf_expr__bool(r, out);
}

/* All matches of re in s (at most max when max >= 0), as an array of
 * strings, or the first as a string when first. */
static int regex_find(wf_expr__ev *ev, json_t *pat, json_t *s, int64_t max,
                      bool first, json_t **out)
{
    wf_expr__re *re;
    int rv = wf_expr__re_compile(SV(pat), SL(pat), &re, ERR(ev));
    if (rv != 0)
        return rv;
    json_t *arr = NULL;
    if (!first && (rv = wf_expr__array(&arr, ERR(ev))) != 0) {
        wf_expr__re_free(re);
        return rv;
    }
    size_t pos = 0, len = SL(s);
    bool found = false;
    while (rv == 0 && pos <= len && (max < 0 || (int64_t)json_array_size(arr) < max)) {
        size_t ov[2];
        rv = wf_expr__re_exec(re, SV(s), len, pos, &found, ov, 1, ERR(ev));
        if (rv != 0 || !found)
            break;
        if (first) {
            rv = ret_str(ev, SV(s) + ov[0], ov[1] - ov[0], out);
            wf_expr__re_free(re);
            return rv;
        }
        rv = wf_expr__push(arr, json_stringn_nocheck(SV(s) + ov[0],
                                                     ov[1] - ov[0]),
                           ERR(ev));
        pos = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
        if (rv == 0)
            rv = wf_expr__ev_elems(ev, 0, 1);
    }
    wf_expr__re_free(re);
    if (first) {
        if (rv == 0)
            rv = ret_str(ev, "", 0, out);
        return rv;
    }
    if (rv != 0) {
        json_decref(arr);
        return rv;
    }
    *out = arr;
    return 0;
}

FN(s_regex_find)
{
    UNUSED;
    NEED_STR(0);
    NEED_STR(1);
    return regex_find(ev, args[0], args[1], -1, true, out);
}

FN(s_regex_find_all)
{
    UNUSED;
    NEED_STR(0);
    NEED_STR(1);
    return regex_find(ev, args[0], args[1], wf_expr__to_int64(args[2]), false,
                      out);
}

/* Go's Regexp.Expand template: $1, ${1}, ${name} is not supported (named
 * groups expand to ""), $$ is a dollar. */
static void expand(cl_buf *b, const char *tpl, size_t tlen, const char *s,
                   const size_t *ov, size_t nov)
{
    for (size_t i = 0; i < tlen; i++) {
        if (tpl[i] != '$' || i + 1 >= tlen) {
            cl_buf_putc(b, tpl[i]);
            continue;
        }
        if (tpl[i + 1] == '$') {
            cl_buf_putc(b, '$');
            i++;
            continue;
        }
        size_t j = i + 1;
        bool brace = tpl[j] == '{';
        if (brace)
            j++;
        size_t start = j;
        while (j < tlen && (isalnum((unsigned char)tpl[j]) || tpl[j] == '_'))
            j++;
        if (j == start || (brace && (j >= tlen || tpl[j] != '}'))) {
            cl_buf_putc(b, '$');
            continue;
        }
        size_t g = 0;
        bool num = true;
        for (size_t k = start; k < j; k++) {
            if (!isdigit((unsigned char)tpl[k]) || g > 1000) {
                num = false;
                break;
            }
            g = g * 10 + (size_t)(tpl[k] - '0');
        }
        if (num && g < nov && ov[2 * g] != SIZE_MAX)
            cl_buf_append(b, s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
        i = brace ? j : j - 1;
    }
}

static int regex_replace(wf_expr__ev *ev, json_t **args, bool literal,
                         json_t **out)
{
    NEED_STR(0);
    NEED_STR(1);
    NEED_STR(2);
    wf_expr__re *re;
    int rv = wf_expr__re_compile(SV(args[0]), SL(args[0]), &re, ERR(ev));
    if (rv != 0)
        return rv;
    const char *s = SV(args[1]);
    size_t len = SL(args[1]), pos = 0, copied = 0;
    cl_buf b = CL_BUF_INIT;
    enum { NOV = 10 };
    size_t ov[2 * NOV];
    while (rv == 0 && pos <= len) {
        bool found;
        rv = wf_expr__re_exec(re, s, len, pos, &found, ov, NOV, ERR(ev));
        if (rv != 0 || !found)
            break;
        cl_buf_append(&b, s + copied, ov[0] - copied);
        if (literal)
            cl_buf_append(&b, SV(args[2]), SL(args[2]));
        else
            expand(&b, SV(args[2]), SL(args[2]), s, ov, NOV);
        copied = ov[1];
        pos = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
        if (ov[1] == ov[0] && ov[1] < len) {
            /* an empty match: keep the next byte and move on */
            cl_buf_putc(&b, s[ov[1]]);
            copied = ov[1] + 1;
        }
        if (b.len > WF_EXPR__MAX_STR) {
            rv = wf_expr__fail(ERR(ev), CL_EEXPR, 0,
                               "result exceeds the size limit");
        }
    }
    wf_expr__re_free(re);
    if (rv != 0) {
        cl_buf_free(&b);
        return rv;
    }
    if (copied < len)
        cl_buf_append(&b, s + copied, len - copied);
    return ret_buf(ev, &b, out);
}

FN(s_regex_replace_all)
{
    UNUSED;
    return regex_replace(ev, args, false, out);
}

FN(s_regex_replace_all_literal)
{
    UNUSED;
    return regex_replace(ev, args, true, out);
}

FN(s_regex_split)
{
    UNUSED;
    NEED_STR(0);
    NEED_STR(1);
    int64_t max = wf_expr__to_int64(args[2]);
    wf_expr__re *re;
    int rv = wf_expr__re_compile(SV(args[0]), SL(args[0]), &re, ERR(ev));
    if (rv != 0)
        return rv;
    json_t *arr;
    if ((rv = wf_expr__array(&arr, ERR(ev))) != 0) {
        wf_expr__re_free(re);
        return rv;
    }
    const char *s = SV(args[1]);
    size_t len = SL(args[1]), pos = 0, last = 0;
    if (max != 0) {
        while (rv == 0 && pos <= len &&
               (max < 0 || (int64_t)json_array_size(arr) < max - 1)) {
            bool found;
            size_t ov[2];
            rv = wf_expr__re_exec(re, s, len, pos, &found, ov, 1, ERR(ev));
            if (rv != 0 || !found)
                break;
            if (ov[1] == 0 && ov[0] == 0) { /* empty match at start */
                pos = 1;
                continue;
            }
            rv = wf_expr__push(arr, json_stringn_nocheck(s + last, ov[0] - last),
                               ERR(ev));
            last = ov[1];
            pos = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
        }
        if (rv == 0)
            rv = wf_expr__push(arr, json_stringn_nocheck(s + last, len - last),
                               ERR(ev));
    }
    wf_expr__re_free(re);
    if (rv != 0) {
        json_decref(arr);
        return rv;
    }
    *out = arr;
    return 0;
}

/* ---- dates (UTC; Go reference-time layouts) ---- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    *y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y += *m <= 2;
}

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* RFC 3339 ("2024-05-01T10:00:00Z", fraction and offset optional; a date
 * alone is midnight UTC) to Unix seconds and nanoseconds. */
static bool parse_rfc3339(const char *s, size_t len, int64_t *sec,
                          int32_t *nsec)
{
    int y, mo, d, h = 0, mi = 0, se = 0;
    if (len < 10 || digits(s, 4, &y) || s[4] != '-' ||
        digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d) ||
        mo < 1 || mo > 12 || d < 1 || d > 31)
        return false;
    size_t i = 10;
    int64_t off = 0;
    *nsec = 0;
    if (i < len) {
        if ((s[i] != 'T' && s[i] != 't' && s[i] != ' ') || len < i + 9 ||
            digits(s + i + 1, 2, &h) || s[i + 3] != ':' ||
            digits(s + i + 4, 2, &mi) || s[i + 6] != ':' ||
            digits(s + i + 7, 2, &se) || h > 23 || mi > 59 || se > 60)
            return false;
        i += 9;
        if (i < len && (s[i] == '.' || s[i] == ',')) {
            i++;
            int32_t scale = 100000000;
            size_t start = i;
            while (i < len && isdigit((unsigned char)s[i])) {
                *nsec += (int32_t)(s[i] - '0') * scale;
                scale /= 10;
                i++;
            }
            if (i == start)
                return false;
        }
        if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
            i++;
        } else if (i < len && (s[i] == '+' || s[i] == '-')) {
            int oh, om;
            if (len < i + 6 || digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
                digits(s + i + 4, 2, &om))
                return false;
            off = (oh * 3600 + om * 60) * (s[i] == '-' ? -1 : 1);
            i += 6;
        } else {
            return false;
        }
    }
    if (i != len)
        return false;
    *sec = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 +
           mi * 60 + se - off;
    return true;
}

static const char *const months[] = {"January", "February", "March",
                                     "April",   "May",      "June",
                                     "July",    "August",   "September",
                                     "October", "November", "December"};
static const char *const wdays[] = {"Sunday",   "Monday", "Tuesday",
                                    "Wednesday", "Thursday", "Friday",
                                    "Saturday"};

static bool at(const char *l, size_t n, size_t i, const char *tok)
{
    size_t k = strlen(tok);
    return i + k <= n && memcmp(l + i, tok, k) == 0;
}

/* Go's time.Format for a UTC time. */
static void go_format(cl_buf *b, const char *l, size_t n, int64_t sec,
                      int32_t nsec)
{
    int64_t days = sec >= 0 ? sec / 86400 : -((-sec + 86399) / 86400);
    int64_t rem = sec - days * 86400;
    int64_t y;
    unsigned mo, d;
    civil_from_days(days, &y, &mo, &d);
    int h = (int)(rem / 3600), mi = (int)(rem / 60 % 60), s = (int)(rem % 60);
    int wd = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
    int yday = (int)(days - days_from_civil(y, 1, 1)) + 1;
    for (size_t i = 0; i < n;) {
        if (at(l, n, i, "January")) {
            cl_buf_puts(b, months[mo - 1]);
            i += 7;
        } else if (at(l, n, i, "Jan")) {
            cl_buf_printf(b, "%.3s", months[mo - 1]);
            i += 3;
        } else if (at(l, n, i, "Monday")) {
            cl_buf_puts(b, wdays[wd]);
            i += 6;
        } else if (at(l, n, i, "Mon")) {
            cl_buf_printf(b, "%.3s", wdays[wd]);
            i += 3;
        } else if (at(l, n, i, "MST")) {
            cl_buf_puts(b, "UTC");
            i += 3;
        } else if (at(l, n, i, "2006")) {
            cl_buf_printf(b, "%04lld", (long long)y);
            i += 4;
        } else if (at(l, n, i, "002")) {
            cl_buf_printf(b, "%03d", yday);
            i += 3;
        } else if (at(l, n, i, "01")) {
            cl_buf_printf(b, "%02u", mo);
            i += 2;
        } else if (at(l, n, i, "02")) {
            cl_buf_printf(b, "%02u", d);
            i += 2;
        } else if (at(l, n, i, "03")) {
            cl_buf_printf(b, "%02d", h % 12 ? h % 12 : 12);
            i += 2;
        } else if (at(l, n, i, "04")) {
            cl_buf_printf(b, "%02d", mi);
            i += 2;
        } else if (at(l, n, i, "05")) {
            cl_buf_printf(b, "%02d", s);
            i += 2;
        } else if (at(l, n, i, "06")) {
            cl_buf_printf(b, "%02d", (int)(((y % 100) + 100) % 100));
            i += 2;
        } else if (at(l, n, i, "15")) {
            cl_buf_printf(b, "%02d", h);
            i += 2;
        } else if (at(l, n, i, "__2")) {
            cl_buf_printf(b, "%3d", yday);
            i += 3;
        } else if (at(l, n, i, "_2")) {
            cl_buf_printf(b, "%2u", d);
            i += 2;
        } else if (at(l, n, i, "1")) {
            cl_buf_printf(b, "%u", mo);
            i += 1;
        } else if (at(l, n, i, "2")) {
            cl_buf_printf(b, "%u", d);
            i += 1;
        } else if (at(l, n, i, "3")) {
            cl_buf_printf(b, "%d", h % 12 ? h % 12 : 12);
            i += 1;
        } else if (at(l, n, i, "4")) {
            cl_buf_printf(b, "%d", mi);
            i += 1;
        } else if (at(l, n, i, "5")) {
            cl_buf_printf(b, "%d", s);
            i += 1;
        } else if (at(l, n, i, "PM")) {
            cl_buf_puts(b, h >= 12 ? "PM" : "AM");
            i += 2;
        } else if (at(l, n, i, "pm")) {
            cl_buf_puts(b, h >= 12 ? "pm" : "am");
            i += 2;
        } else if (at(l, n, i, "Z07:00") || at(l, n, i, "Z0700") ||
                   at(l, n, i, "Z07")) {
            cl_buf_putc(b, 'Z');
            i += at(l, n, i, "Z07:00") ? 6 : at(l, n, i, "Z0700") ? 5 : 3;
        } else if (at(l, n, i, "-07:00")) {
            cl_buf_puts(b, "+00:00");
            i += 6;
        } else if (at(l, n, i, "-0700")) {
            cl_buf_puts(b, "+0000");
            i += 5;
        } else if (at(l, n, i, "-07")) {
            cl_buf_puts(b, "+00");
            i += 3;
        } else if ((l[i] == '.' || l[i] == ',') && i + 1 < n &&
                   (l[i + 1] == '0' || l[i + 1] == '9')) {
            char z = l[i + 1];
            size_t j = i + 1;
            while (j < n && l[j] == z)
                j++;
            if (j < n && isdigit((unsigned char)l[j])) {
                cl_buf_putc(b, l[i++]);
                continue;
            }
            int nd = (int)(j - i - 1);
            if (nd > 9)
                nd = 9;
            char frac[16];
            snprintf(frac, sizeof(frac), "%09d", (int)nsec);
            int keep = nd;
            if (z == '9')
                while (keep > 0 && frac[keep - 1] == '0')
                    keep--;
            if (keep > 0) {
                cl_buf_putc(b, l[i]);
                cl_buf_append(b, frac, (size_t)keep);
            }
            i = j;
        } else {
            cl_buf_putc(b, l[i++]);
        }
    }
}

static int to_time(wf_expr__ev *ev, const json_t *v, int64_t *sec,
                   int32_t *nsec)
{
    *nsec = 0;
    if (json_is_integer(v)) {
        *sec = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        *sec = wf_expr__to_int64(v); /* clamped; range checked later */
        return 0;
    }
    if (json_is_string(v) && parse_rfc3339(SV(v), SL(v), sec, nsec))
        return 0;
    return wf_expr__fail(ERR(ev), CL_EEXPR, 0,
                         "date needs Unix seconds or an RFC 3339 time");
}

static int format_date(wf_expr__ev *ev, json_t *layout, json_t *when,
                       json_t **out)
{
    if (!json_is_string(layout))
        return bad_arg(ev, 0, "a layout string", layout);
    int64_t sec;
    int32_t nsec;
    int rv = to_time(ev, when, &sec, &nsec);
    if (rv != 0)
        return rv;
    if (sec > 253402300799LL || sec < -62135596800LL)
        return wf_expr__fail(ERR(ev), CL_EEXPR, 0, "date out of range");
    cl_buf b = CL_BUF_INIT;
    go_format(&b, SV(layout), SL(layout), sec, nsec);
    return ret_buf(ev, &b, out);
}

FN(s_date)
{
    UNUSED;
    return format_date(ev, args[0], args[1], out);
}

FN(s_date_in_zone)
{
    UNUSED;
    NEED_STR(2);
    if (strcmp(SV(args[2]), "UTC") != 0 && strcmp(SV(args[2]), "Etc/UTC"))
        return wf_expr__fail(ERR(ev), CL_EEXPR, 0,
                             "only the UTC zone is supported");
    return format_date(ev, args[0], args[1], out);
}

FN(s_html_date)
{
    UNUSED;
    json_t *layout = json_string("2006-01-02");
    if (layout == NULL)
        return wf_expr__fail(ERR(ev), CL_ENOMEM, 0, "out of memory");
    int rv = format_date(ev, layout, args[0], out);
    json_decref(layout);
    return rv;
}

FN(s_unix_epoch)
{
    UNUSED;
    int64_t sec;
    int32_t nsec;
    int rv = to_time(ev, args[0], &sec, &nsec);
    if (rv != 0)
        return rv;
    char buf[32];
    int len = snprintf(buf, sizeof(buf), "%lld", (long long)sec);
    return ret_str(ev, buf, (size_t)len, out);
}

/* Sorted by name for wf_expr__fn_lookup. */
static const struct wf_expr__fndef sprig[] = {
    {"add", s_add, 0, -1},
    {"add1", s_add1, 1, 1},
    {"addf", s_addf, 1, -1},
    {"adler32sum", s_adler32sum, 1, 1},
    {"all", s_all, 0, -1},
    {"any", s_any, 0, -1},
    {"append", s_append, 2, 2},
    {"atoi", s_atoi, 1, 1},
    {"b64dec", s_b64dec, 1, 1},
    {"b64enc", s_b64enc, 1, 1},
    {"biggest", s_max, 1, -1},
    {"cat", s_cat, 0, -1},
    {"ceil", s_ceil, 1, 1},
    {"coalesce", s_coalesce, 0, -1},
    {"compact", s_compact, 1, 1},
    {"concat", s_concat, 0, -1},
    {"contains", s_contains, 2, 2},
    {"date", s_date, 2, 2},
    {"dateInZone", s_date_in_zone, 3, 3},
    {"deepEqual", s_deep_equal, 2, 2},
    {"default", s_default, 1, 2},
    {"dict", s_dict, 0, -1},
    {"div", s_div, 2, 2},
    {"divf", s_divf, 1, -1},
    {"empty", s_empty, 1, 1},
    {"fail", s_fail, 1, 1},
    {"first", s_first, 1, 1},
    {"float64", s_float64, 1, 1},
    {"floor", s_floor, 1, 1},
    {"fromJson", s_from_json, 1, 1},
    {"get", s_get, 2, 2},
    {"has", s_has, 2, 2},
    {"hasKey", s_has_key, 2, 2},
    {"hasPrefix", s_has_prefix, 2, 2},
    {"hasSuffix", s_has_suffix, 2, 2},
    {"htmlDate", s_html_date, 1, 1},
    {"indent", s_indent, 2, 2},
    {"initial", s_initial, 1, 1},
    {"int", s_int, 1, 1},
    {"int64", s_int, 1, 1},
    {"join", s_join, 2, 2},
    {"keys", s_keys, 0, -1},
    {"kindIs", s_kind_is, 2, 2},
    {"kindOf", s_kind_of, 1, 1},
    {"last", s_last, 1, 1},
    {"list", s_list, 0, -1},
    {"lower", s_lower, 1, 1},
    {"max", s_max, 1, -1},
    {"maxf", s_maxf, 1, -1},
    {"min", s_min, 1, -1},
    {"minf", s_minf, 1, -1},
    {"mod", s_mod, 2, 2},
    {"mul", s_mul, 1, -1},
    {"mulf", s_mulf, 1, -1},
    {"mustFromJson", s_must_from_json, 1, 1},
    {"mustToJson", s_to_json, 1, 1},
    {"mustToPrettyJson", s_to_pretty_json, 1, 1},
    {"mustToRawJson", s_to_raw_json, 1, 1},
    {"nindent", s_nindent, 2, 2},
    {"nospace", s_nospace, 1, 1},
    {"omit", s_omit, 1, -1},
    {"pick", s_pick, 1, -1},
    {"pluck", s_pluck, 1, -1},
    {"prepend", s_prepend, 2, 2},
    {"push", s_append, 2, 2},
    {"quote", s_quote, 0, -1},
    {"regexFind", s_regex_find, 2, 2},
    {"regexFindAll", s_regex_find_all, 3, 3},
    {"regexMatch", s_regex_match, 2, 2},
    {"regexReplaceAll", s_regex_replace_all, 3, 3},
    {"regexReplaceAllLiteral", s_regex_replace_all_literal, 3, 3},
    {"regexSplit", s_regex_split, 3, 3},
    {"repeat", s_repeat, 2, 2},
    {"replace", s_replace, 3, 3},
    {"rest", s_rest, 1, 1},
    {"reverse", s_reverse, 1, 1},
    {"round", s_round, 2, 3},
    {"seq", s_seq, 0, 3},
    {"set", s_set, 3, 3},
    {"sha256sum", s_sha256sum, 1, 1},
    {"slice", s_slice, 1, 3},
    {"sortAlpha", s_sort_alpha, 1, 1},
    {"split", s_split, 2, 2},
    {"splitList", s_split_list, 2, 2},
    {"splitn", s_splitn, 3, 3},
    {"squote", s_squote, 0, -1},
    {"sub", s_sub, 2, 2},
    {"subf", s_subf, 1, -1},
    {"substr", s_substr, 3, 3},
    {"ternary", s_ternary, 3, 3},
    {"title", s_title, 1, 1},
    {"toJson", s_to_json, 1, 1},
    {"toPrettyJson", s_to_pretty_json, 1, 1},
    {"toRawJson", s_to_raw_json, 1, 1},
    {"toString", s_to_string, 1, 1},
    {"toStrings", s_to_strings, 1, 1},
    {"trim", s_trim, 1, 1},
    {"trimAll", s_trim_all, 2, 2},
    {"trimPrefix", s_trim_prefix, 2, 2},
    {"trimSuffix", s_trim_suffix, 2, 2},
    {"trunc", s_trunc, 2, 2},
    {"typeOf", s_type_of, 1, 1},
    {"uniq", s_uniq, 1, 1},
    {"unixEpoch", s_unix_epoch, 1, 1},
    {"unset", s_unset, 2, 2},
    {"until", s_until, 1, 1},
    {"untilStep", s_until_step, 3, 3},
    {"untitle", s_untitle, 1, 1},
    {"upper", s_upper, 1, 1},
    {"values", s_values, 1, 1},
    {"without", s_without, 1, -1},
};

const struct wf_expr__fndef *wf_expr__sprig(const char *name, size_t len)
{
    return wf_expr__fn_lookup(sprig, sizeof(sprig) / sizeof(*sprig), name,
                              len);
}
