/* wf_expr_json.c - value helpers shared by the evaluators: constructors that
 * turn jansson's NULL into CL_ENOMEM, deep equality, Go-compatible number
 * and JSON formatting, and wf_expr_render. */
#include "workflow/expr/wf_expr.h"
#include "workflow/expr/wf_expr_int.h"

#include "common/cl_heap.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int wf_expr__fail(cl_errmsg *err, int code, int col, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    char tmp[CL_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (col > 0)
        cl_errmsg_set(err, "col %d: %s", col, tmp);
    else
        cl_errmsg_set(err, "%s", tmp);
    return code;
}

const char *wf_expr__type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "map";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "int";
    case JSON_REAL:
        return "float";
    case JSON_TRUE:
    case JSON_FALSE:
        return "bool";
    case JSON_NULL:
    default:
        return "nil";
    }
}

bool wf_expr__is_num(const json_t *v)
{
    return json_is_integer(v) || json_is_real(v);
}

double wf_expr__num(const json_t *v)
{
    if (json_is_integer(v))
        return (double)json_integer_value(v);
    return json_real_value(v);
}

static int oom(cl_errmsg *err)
{
    return wf_expr__fail(err, CL_ENOMEM, 0, "out of memory");
}

int wf_expr__str(const char *s, size_t len, json_t **out, cl_errmsg *err)
{
    *out = NULL;
    if (len > WF_EXPR__MAX_STR)
        return wf_expr__fail(err, CL_EEXPR, 0,
                             "string of %zu bytes exceeds the limit", len);
    *out = json_stringn_nocheck(s ? s : "", len);
    return *out ? 0 : oom(err);
}

int wf_expr__str_buf(const cl_buf *b, json_t **out, cl_errmsg *err)
{
    *out = NULL;
    if (!cl_buf_ok(b))
        return oom(err);
    return wf_expr__str(b->data, b->len, out, err);
}

int wf_expr__int(int64_t i, json_t **out, cl_errmsg *err)
{
    *out = json_integer((json_int_t)i);
    return *out ? 0 : oom(err);
}

int wf_expr__real(double d, json_t **out, cl_errmsg *err)
{
    /* jansson refuses NaN and infinities; they cannot appear in JSON. */
    if (isnan(d) || isinf(d))
        return wf_expr__fail(err, CL_EEXPR, 0,
                             "result is not a finite number");
    *out = json_real(d);
    return *out ? 0 : oom(err);
}

int wf_expr__bool(bool b, json_t **out)
{
    *out = json_boolean(b); /* static singletons: never fails */
    return 0;
}

int wf_expr__array(json_t **out, cl_errmsg *err)
{
    *out = json_array();
    return *out ? 0 : oom(err);
}

int wf_expr__object(json_t **out, cl_errmsg *err)
{
    *out = json_object();
    return *out ? 0 : oom(err);
}

int wf_expr__push(json_t *a, json_t *v, cl_errmsg *err)
{
    if (v == NULL)
        return oom(err);
    if (json_array_size(a) >= WF_EXPR__MAX_ARRAY) {
        json_decref(v);
        return wf_expr__fail(err, CL_EEXPR, 0,
                             "array exceeds %u elements", WF_EXPR__MAX_ARRAY);
    }
    /* json_array_append_new releases v when it fails. */
    return json_array_append_new(a, v) == 0 ? 0 : oom(err);
}

int wf_expr__put(json_t *o, const char *key, size_t klen, json_t *v,
                 cl_errmsg *err)
{
    if (v == NULL)
        return oom(err);
    if (json_object_size(o) >= WF_EXPR__MAX_MAP &&
        json_object_getn(o, key, klen) == NULL) {
        json_decref(v);
        return wf_expr__fail(err, CL_EEXPR, 0, "map exceeds %u entries",
                             WF_EXPR__MAX_MAP);
    }
    return json_object_setn_new_nocheck(o, key, klen, v) == 0 ? 0 : oom(err);
}

static bool equal_at(const json_t *a, const json_t *b, int depth)
{
    if (a == b)
        return true;
    if (depth > WF_EXPR__MAX_JSON_DEPTH)
        return false;
    if (wf_expr__is_num(a) && wf_expr__is_num(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return wf_expr__num(a) == wf_expr__num(b);
    }
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b),
                      json_string_length(a)) == 0;
    case JSON_ARRAY: {
        size_t n = json_array_size(a);
        if (n != json_array_size(b))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!equal_at(json_array_get(a, i), json_array_get(b, i),
                          depth + 1))
                return false;
        return true;
    }
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        size_t klen;
        json_t *va;
        json_object_keylen_foreach((json_t *)a, k, klen, va)
        {
            json_t *vb = json_object_getn(b, k, klen);
            if (vb == NULL || !equal_at(va, vb, depth + 1))
                return false;
        }
        return true;
    }
    default:
        return true; /* true, false, null: same type means equal */
    }
}

static bool depth_over(const json_t *v, int left, size_t *visited)
{
    if (!json_is_array(v) && !json_is_object(v))
        return false;
    (*visited)++;
    if (left <= 0)
        return true;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (depth_over(json_array_get(v, i), left - 1, visited))
                return true;
        return false;
    }
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x)
    {
        if (depth_over(x, left - 1, visited))
            return true;
    }
    return false;
}

bool wf_expr__depth_over(const json_t *v, int limit, size_t *visited)
{
    return depth_over(v, limit, visited);
}

bool wf_expr__equal(const json_t *a, const json_t *b)
{
    return equal_at(a, b, 0);
}

struct keyref {
    const char *k;
    size_t len;
};

static int keyref_cmp(const void *x, const void *y)
{
    const struct keyref *a = x, *b = y;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->k, b->k, n);
    if (c != 0)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

int wf_expr__sorted_keys(const json_t *o, const char ***keys, size_t **lens,
                         size_t *n, cl_errmsg *err)
{
    size_t cnt = json_object_size(o);
    struct keyref *refs = cl_malloc(sizeof(*refs) * (cnt ? cnt : 1));
    const char **ks = cl_malloc(sizeof(*ks) * (cnt ? cnt : 1));
    size_t *ls = lens ? cl_malloc(sizeof(*ls) * (cnt ? cnt : 1)) : NULL;
    if (refs == NULL || ks == NULL || (lens && ls == NULL)) {
        cl_free(refs);
        cl_free(ks);
        cl_free(ls);
        return oom(err);
    }
    size_t i = 0;
    const char *k;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach((json_t *)o, k, klen, v)
    {
        (void)v;
        refs[i].k = k;
        refs[i].len = klen;
        i++;
    }
    qsort(refs, i, sizeof(*refs), keyref_cmp);
    for (size_t j = 0; j < i; j++) {
        ks[j] = refs[j].k;
        if (ls)
            ls[j] = refs[j].len;
    }
    cl_free(refs);
    *keys = ks;
    if (lens)
        *lens = ls;
    *n = i;
    return 0;
}

/* ---- numbers ---- */

/* Shortest decimal digits that read back as d (d finite, > 0): digits in
 * digs (no dot), count in *nd, and the decimal point position *dp so that
 * d = 0.digs * 10^dp, as Go's strconv decimal. */
static void shortest(double d, char *digs, int *nd, int *dp)
{
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
        if (prec == 17 || strtod(tmp, NULL) == d)
            break;
    }
    /* tmp is "d.ddde+XX" or "de+XX". */
    int n = 0;
    const char *p = tmp;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digs[n++] = *p;
    int exp = atoi(p + 1);
    while (n > 1 && digs[n - 1] == '0')
        n--;
    digs[n] = '\0';
    *nd = n;
    *dp = exp + 1;
}

static char *put_e(char *o, const char *digs, int nd, int dp, bool json)
{
    *o++ = digs[0];
    if (nd > 1) {
        *o++ = '.';
        memcpy(o, digs + 1, (size_t)nd - 1);
        o += nd - 1;
    }
    int exp = dp - 1;
    *o++ = 'e';
    *o++ = exp < 0 ? '-' : '+';
    if (exp < 0)
        exp = -exp;
    /* Go writes at least two exponent digits; encoding/json then drops
     * the padding zero of a negative exponent ("1e-07" -> "1e-7"). */
    if (exp < 10 && !(json && dp - 1 < 0))
        *o++ = '0';
    o += sprintf(o, "%d", exp);
    return o;
}

static char *put_f(char *o, const char *digs, int nd, int dp)
{
    if (dp <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -dp; i++)
            *o++ = '0';
        memcpy(o, digs, (size_t)nd);
        return o + nd;
    }
    for (int i = 0; i < dp; i++)
        *o++ = i < nd ? digs[i] : '0';
    if (nd > dp) {
        *o++ = '.';
        memcpy(o, digs + dp, (size_t)(nd - dp));
        o += nd - dp;
    }
    return o;
}

void wf_expr__fmt_float(double d, char mode, char *buf)
{
    if (isnan(d)) {
        strcpy(buf, "NaN");
        return;
    }
    if (isinf(d)) {
        strcpy(buf, d > 0 ? "+Inf" : "-Inf");
        return;
    }
    char *o = buf;
    if (d == 0) {
        if (signbit(d) && mode != 'j')
            *o++ = '-';
        *o++ = '0';
        *o = '\0';
        return;
    }
    if (d < 0) {
        *o++ = '-';
        d = -d;
    }
    char digs[24];
    int nd, dp;
    shortest(d, digs, &nd, &dp);
    bool use_e;
    if (mode == 'j') /* encoding/json: 'e' outside [1e-6, 1e21) */
        use_e = d < 1e-6 || d >= 1e21;
    else if (mode == 'g') /* strconv 'g', shortest: exponent < -4 or >= 6 */
        use_e = dp - 1 < -4 || dp - 1 >= 6;
    else
        use_e = false;
    o = use_e ? put_e(o, digs, nd, dp, mode == 'j') : put_f(o, digs, nd, dp);
    *o = '\0';
}

/* ---- JSON text ---- */

static const char hexd[] = "0123456789abcdef";

/* Length of a valid UTF-8 sequence at s (<= n bytes), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

static void json_str(cl_buf *b, const char *str, size_t n, int flags)
{
    const unsigned char *s = (const unsigned char *)str;
    cl_buf_putc(b, '"');
    size_t start = 0;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        const char *esc = NULL;
        char ubuf[7];
        size_t adv = 1;
        if (c < 0x80) {
            if (c == '"')
                esc = "\\\"";
            else if (c == '\\')
                esc = "\\\\";
            else if (c == '\n')
                esc = "\\n";
            else if (c == '\r')
                esc = "\\r";
            else if (c == '\t')
                esc = "\\t";
            else if (c < 0x20 ||
                     ((flags & WF_EXPR__JSON_HTML) &&
                      (c == '<' || c == '>' || c == '&'))) {
                ubuf[0] = '\\';
                ubuf[1] = 'u';
                ubuf[2] = '0';
                ubuf[3] = '0';
                ubuf[4] = hexd[c >> 4];
                ubuf[5] = hexd[c & 15];
                ubuf[6] = '\0';
                esc = ubuf;
            }
        } else {
            adv = utf8_len(s + i, n - i);
            if (adv == 0) {
                esc = "\\ufffd"; /* Go replaces invalid bytes */
                adv = 1;
            } else if (adv == 3 && s[i] == 0xe2 && s[i + 1] == 0x80 &&
                       (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
                /* encoding/json escapes U+2028 and U+2029 */
                esc = s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";
            }
        }
        if (esc != NULL) {
            cl_buf_append(b, s + start, i - start);
            cl_buf_puts(b, esc);
            start = i + adv;
        }
        i += adv;
    }
    cl_buf_append(b, s + start, n - start);
    cl_buf_putc(b, '"');
}

static void indent(cl_buf *b, int level)
{
    cl_buf_putc(b, '\n');
    for (int i = 0; i < level; i++)
        cl_buf_append(b, "  ", 2);
}

static int json_at(cl_buf *b, const json_t *v, int flags, int depth,
                   cl_errmsg *err)
{
    if (depth > WF_EXPR__MAX_JSON_DEPTH && (flags & WF_EXPR__JSON_CLIP)) {
        cl_buf_puts(b, "null");
        return 0;
    }
    if (depth > WF_EXPR__MAX_JSON_DEPTH)
        return wf_expr__fail(err, CL_EEXPR, 0,
                             "value nested deeper than %d levels",
                             WF_EXPR__MAX_JSON_DEPTH);
    if (b->len > WF_EXPR__MAX_STR)
        return wf_expr__fail(err, CL_EEXPR, 0,
                             "serialised value exceeds the size limit");
    bool ind = flags & WF_EXPR__JSON_INDENT;
    switch (json_typeof(v)) {
    case JSON_NULL:
        cl_buf_puts(b, "null");
        return 0;
    case JSON_TRUE:
        cl_buf_puts(b, "true");
        return 0;
    case JSON_FALSE:
        cl_buf_puts(b, "false");
        return 0;
    case JSON_INTEGER:
        cl_buf_printf(b, "%lld", (long long)json_integer_value(v));
        return 0;
    case JSON_REAL: {
        char tmp[48];
        wf_expr__fmt_float(json_real_value(v), 'j', tmp);
        cl_buf_puts(b, tmp);
        return 0;
    }
    case JSON_STRING:
        json_str(b, json_string_value(v), json_string_length(v), flags);
        return 0;
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        cl_buf_putc(b, '[');
        for (size_t i = 0; i < n; i++) {
            if (i)
                cl_buf_putc(b, ',');
            if (ind)
                indent(b, depth + 1);
            int rv = json_at(b, json_array_get(v, i), flags, depth + 1, err);
            if (rv != 0)
                return rv;
        }
        if (ind && n)
            indent(b, depth);
        cl_buf_putc(b, ']');
        return 0;
    }
    case JSON_OBJECT: {
        const char **keys;
        size_t *lens, n;
        int rv = wf_expr__sorted_keys(v, &keys, &lens, &n, err);
        if (rv != 0)
            return rv;
        cl_buf_putc(b, '{');
        for (size_t i = 0; i < n && rv == 0; i++) {
            if (i)
                cl_buf_putc(b, ',');
            if (ind)
                indent(b, depth + 1);
            json_str(b, keys[i], lens[i], flags);
            cl_buf_putc(b, ':');
            if (ind)
                cl_buf_putc(b, ' ');
            rv = json_at(b, json_object_getn(v, keys[i], lens[i]), flags,
                         depth + 1, err);
        }
        if (rv == 0 && ind && n)
            indent(b, depth);
        cl_buf_putc(b, '}');
        cl_free(keys);
        cl_free(lens);
        return rv;
    }
    }
    return 0;
}

int wf_expr__json_write(cl_buf *b, const json_t *v, int flags, cl_errmsg *err)
{
    int rv = json_at(b, v, flags, 0, err);
    if (rv == 0 && !cl_buf_ok(b))
        rv = oom(err);
    return rv;
}

static int gofmt_at(cl_buf *b, const json_t *v, int depth, cl_errmsg *err)
{
    if (depth > WF_EXPR__MAX_JSON_DEPTH)
        return wf_expr__fail(err, CL_EEXPR, 0,
                             "value nested deeper than %d levels",
                             WF_EXPR__MAX_JSON_DEPTH);
    if (b->len > WF_EXPR__MAX_STR)
        return wf_expr__fail(err, CL_EEXPR, 0,
                             "formatted value exceeds the size limit");
    switch (json_typeof(v)) {
    case JSON_NULL:
        cl_buf_puts(b, "<nil>");
        return 0;
    case JSON_STRING:
        cl_buf_append(b, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_REAL: {
        char tmp[48];
        wf_expr__fmt_float(json_real_value(v), 'g', tmp);
        cl_buf_puts(b, tmp);
        return 0;
    }
    case JSON_ARRAY: {
        cl_buf_putc(b, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                cl_buf_putc(b, ' ');
            int rv = gofmt_at(b, json_array_get(v, i), depth + 1, err);
            if (rv != 0)
                return rv;
        }
        cl_buf_putc(b, ']');
        return 0;
    }
    case JSON_OBJECT: {
        const char **keys;
        size_t *lens, n;
        int rv = wf_expr__sorted_keys(v, &keys, &lens, &n, err);
        if (rv != 0)
            return rv;
        cl_buf_puts(b, "map[");
        for (size_t i = 0; i < n && rv == 0; i++) {
            if (i)
                cl_buf_putc(b, ' ');
            cl_buf_append(b, keys[i], lens[i]);
            cl_buf_putc(b, ':');
            rv = gofmt_at(b, json_object_getn(v, keys[i], lens[i]), depth + 1,
                          err);
        }
        cl_buf_putc(b, ']');
        cl_free(keys);
        cl_free(lens);
        return rv;
    }
    default:
        return json_at(b, v, 0, depth, err); /* ints and booleans */
    }
}

int wf_expr__gofmt(cl_buf *b, const json_t *v, cl_errmsg *err)
{
    int rv = gofmt_at(b, v, 0, err);
    if (rv == 0 && !cl_buf_ok(b))
        rv = oom(err);
    return rv;
}

/* ---- JSON decoding ----
 * A small strict decoder (RFC 8259) instead of json_loadb: its failures
 * must tell out-of-memory from bad input, its nesting is bounded, and it
 * decodes as Go's encoding/json does where that differs from jansson
 * (invalid UTF-8 and lone surrogates become U+FFFD; the last of duplicate
 * keys wins). Integers that fit int64 stay integers, other numbers are
 * reals. */

struct jdec {
    const char *s;
    size_t len, pos;
    cl_errmsg *err;
    cl_buf tmp; /* string scratch */
};

static int jbad(struct jdec *d, const char *what)
{
    if (d->pos >= d->len)
        return wf_expr__fail(d->err, CL_EEXPR, 0,
                             "invalid JSON: unexpected end of input");
    unsigned char c = (unsigned char)d->s[d->pos];
    if (c >= 0x20 && c < 0x7f)
        return wf_expr__fail(d->err, CL_EEXPR, 0,
                             "invalid JSON: invalid character '%c' %s at "
                             "offset %zu",
                             c, what, d->pos);
    return wf_expr__fail(d->err, CL_EEXPR, 0,
                         "invalid JSON: invalid byte 0x%02x %s at offset %zu",
                         c, what, d->pos);
}

static void jws(struct jdec *d)
{
    while (d->pos < d->len && (d->s[d->pos] == ' ' || d->s[d->pos] == '\t' ||
                               d->s[d->pos] == '\n' || d->s[d->pos] == '\r'))
        d->pos++;
}

static int hex4(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static void put_cp(cl_buf *b, uint32_t cp)
{
    char o[4];
    size_t n;
    if (cp < 0x80) {
        o[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        o[0] = (char)(0xf0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    cl_buf_append(b, o, n);
}

/* Decode the string at d->pos (a '"') into d->tmp. */
static int jstring(struct jdec *d)
{
    cl_buf_reset(&d->tmp);
    d->pos++;
    size_t start = d->pos;
    for (;;) {
        if (d->pos >= d->len)
            return jbad(d, "in string literal");
        unsigned char c = (unsigned char)d->s[d->pos];
        if (c == '"') {
            cl_buf_append(&d->tmp, d->s + start, d->pos - start);
            d->pos++;
            break;
        }
        if (c < 0x20)
            return jbad(d, "in string literal");
        if (c >= 0x80) {
            size_t k = utf8_len((const unsigned char *)d->s + d->pos,
                                d->len - d->pos);
            if (k == 0) {
                cl_buf_append(&d->tmp, d->s + start, d->pos - start);
                cl_buf_puts(&d->tmp, "\xef\xbf\xbd");
                d->pos++;
                start = d->pos;
            } else {
                d->pos += k;
            }
            continue;
        }
        if (c != '\\') {
            d->pos++;
            continue;
        }
        cl_buf_append(&d->tmp, d->s + start, d->pos - start);
        if (d->pos + 1 >= d->len)
            return jbad(d, "in string escape code");
        char e = d->s[d->pos + 1];
        const char *map = "\"\\/bfnrt";
        const char *rep = "\"\\/\b\f\n\r\t";
        const char *m = e ? strchr(map, e) : NULL;
        if (m != NULL) {
            cl_buf_putc(&d->tmp, rep[m - map]);
            d->pos += 2;
        } else if (e == 'u') {
            uint32_t cp;
            if (d->pos + 6 > d->len || hex4(d->s + d->pos + 2, &cp) != 0) {
                d->pos++;
                return jbad(d, "in \\u hexadecimal character escape");
            }
            d->pos += 6;
            if (cp >= 0xd800 && cp < 0xdc00) {
                uint32_t lo;
                if (d->pos + 6 <= d->len && d->s[d->pos] == '\\' &&
                    d->s[d->pos + 1] == 'u' &&
                    hex4(d->s + d->pos + 2, &lo) == 0 && lo >= 0xdc00 &&
                    lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    d->pos += 6;
                } else {
                    cp = 0xfffd;
                }
            } else if (cp >= 0xdc00 && cp < 0xe000) {
                cp = 0xfffd;
            }
            put_cp(&d->tmp, cp);
        } else {
            d->pos++;
            return jbad(d, "in string escape code");
        }
        start = d->pos;
    }
    if (d->tmp.len > WF_EXPR__MAX_STR)
        return wf_expr__fail(d->err, CL_EEXPR, 0,
                             "invalid JSON: string exceeds the size limit");
    return cl_buf_ok(&d->tmp) ? 0 : oom(d->err);
}

static int jnumber(struct jdec *d, json_t **out)
{
    size_t st = d->pos, i = d->pos;
    const char *s = d->s;
    bool real = false;
    if (i < d->len && s[i] == '-')
        i++;
    if (i < d->len && s[i] == '0') {
        i++;
    } else if (i < d->len && s[i] >= '1' && s[i] <= '9') {
        while (i < d->len && s[i] >= '0' && s[i] <= '9')
            i++;
    } else {
        d->pos = i;
        return jbad(d, "in numeric literal");
    }
    if (i < d->len && s[i] == '.') {
        real = true;
        i++;
        if (i >= d->len || s[i] < '0' || s[i] > '9') {
            d->pos = i;
            return jbad(d, "after decimal point in numeric literal");
        }
        while (i < d->len && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < d->len && (s[i] == 'e' || s[i] == 'E')) {
        real = true;
        i++;
        if (i < d->len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= d->len || s[i] < '0' || s[i] > '9') {
            d->pos = i;
            return jbad(d, "in exponent of numeric literal");
        }
        while (i < d->len && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    d->pos = i;
    char buf[64];
    size_t n = i - st;
    int64_t iv;
    if (!real && wf_expr__parse_int(s + st, n, &iv)) {
        *out = json_integer((json_int_t)iv);
    } else {
        double v;
        if (n < sizeof(buf)) {
            memcpy(buf, s + st, n);
            buf[n] = '\0';
            v = strtod(buf, NULL);
        } else { /* very long literal: strtod needs a terminated copy */
            char *big = cl_strndup(s + st, n);
            if (big == NULL)
                return oom(d->err);
            v = strtod(big, NULL);
            cl_free(big);
        }
        if (isinf(v))
            return wf_expr__fail(d->err, CL_EEXPR, 0,
                                 "invalid JSON: number out of range at "
                                 "offset %zu",
                                 st);
        *out = json_real(v);
    }
    return *out ? 0 : oom(d->err);
}

static int jvalue(struct jdec *d, json_t **out, int depth)
{
    *out = NULL;
    jws(d);
    if (d->pos >= d->len)
        return jbad(d, "looking for beginning of value");
    if (depth >= WF_EXPR__MAX_BUILD_DEPTH)
        return wf_expr__fail(d->err, CL_EEXPR, 0,
                             "invalid JSON: nested deeper than %d levels",
                             WF_EXPR__MAX_BUILD_DEPTH);
    char c = d->s[d->pos];
    int rv;
    if (c == '{' || c == '[') {
        bool obj = c == '{';
        json_t *v = obj ? json_object() : json_array();
        if (v == NULL)
            return oom(d->err);
        d->pos++;
        jws(d);
        if (d->pos < d->len && d->s[d->pos] == (obj ? '}' : ']')) {
            d->pos++;
            *out = v;
            return 0;
        }
        for (;;) {
            json_t *item;
            if (obj) {
                jws(d);
                if (d->pos >= d->len || d->s[d->pos] != '"') {
                    rv = jbad(d, "looking for beginning of object key "
                                 "string");
                    break;
                }
                if ((rv = jstring(d)) != 0)
                    break;
                jws(d);
                if (d->pos >= d->len || d->s[d->pos] != ':') {
                    rv = jbad(d, "after object key");
                    break;
                }
                d->pos++;
                char *key = cl_strndup(d->tmp.data ? d->tmp.data : "",
                                       d->tmp.len);
                size_t klen = d->tmp.len;
                if (key == NULL) {
                    rv = oom(d->err);
                    break;
                }
                rv = jvalue(d, &item, depth + 1);
                if (rv == 0)
                    rv = wf_expr__put(v, key, klen, item, d->err);
                cl_free(key);
            } else {
                rv = jvalue(d, &item, depth + 1);
                if (rv == 0)
                    rv = wf_expr__push(v, item, d->err);
            }
            if (rv != 0)
                break;
            jws(d);
            if (d->pos < d->len && d->s[d->pos] == ',') {
                d->pos++;
                continue;
            }
            if (d->pos < d->len && d->s[d->pos] == (obj ? '}' : ']')) {
                d->pos++;
                *out = v;
                return 0;
            }
            rv = jbad(d, obj ? "after object key:value pair"
                             : "after array element");
            break;
        }
        json_decref(v);
        return rv;
    }
    if (c == '"') {
        if ((rv = jstring(d)) != 0)
            return rv;
        return wf_expr__str(d->tmp.data, d->tmp.len, out, d->err);
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return jnumber(d, out);
    static const struct {
        const char *word;
        size_t len;
    } words[] = {{"true", 4}, {"false", 5}, {"null", 4}};
    for (int k = 0; k < 3; k++) {
        if (d->len - d->pos >= words[k].len &&
            memcmp(d->s + d->pos, words[k].word, words[k].len) == 0) {
            d->pos += words[k].len;
            *out = k == 0 ? json_true() : k == 1 ? json_false() : json_null();
            return 0;
        }
    }
    return jbad(d, "looking for beginning of value");
}

int wf_expr__parse_json(const char *s, size_t len, json_t **out,
                        cl_errmsg *err)
{
    struct jdec d = {s ? s : "", s ? len : 0, 0, err, CL_BUF_INIT};
    int rv = jvalue(&d, out, 0);
    if (rv == 0) {
        jws(&d);
        if (d.pos < d.len) {
            rv = jbad(&d, "after top-level value");
            json_decref(*out);
            *out = NULL;
        }
    }
    cl_buf_free(&d.tmp);
    return rv;
}

char *wf_expr_render(const json_t *v)
{
    cl_buf b = CL_BUF_INIT;
    if (v == NULL)
        v = json_null();
    if (json_is_string(v)) {
        cl_buf_append(&b, json_string_value(v), json_string_length(v));
    } else if (json_is_real(v)) {
        char tmp[48];
        wf_expr__fmt_float(json_real_value(v), 'j', tmp);
        cl_buf_puts(&b, tmp);
    } else if (wf_expr__json_write(&b, v, WF_EXPR__JSON_CLIP, NULL) != 0) {
        /* Out of memory, or past the size limit (only a value built by the
         * caller can be that large). */
        cl_buf_free(&b);
        return NULL;
    }
    size_t len;
    return cl_buf_steal(&b, &len);
}
