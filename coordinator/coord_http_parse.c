/* coord_http_parse.c - request heads, percent-decoding and routes for the
 * coordinator's HTTP server (see coord_http_parse.h).
 *
 * Only the first COORD_HTTP_HEAD_MAX bytes of a buffer are ever looked at,
 * and a head counts as complete only when it ends within them. The answer
 * for a buffer therefore depends on those bytes alone (and on whether there
 * are that many), which is what lets the server parse again from the start
 * as bytes arrive and still answer a prefix the way it would answer the
 * whole request. */
#include "coordinator/coord_http_parse.h"

#include "common/cl_err.h"

#include <string.h>
#include <strings.h>

#define METHOD_MAX 32

/* RFC 9110 section 5.6.2: tchar, the characters of a token. */
static bool is_tchar(unsigned char ch)
{
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
        (ch >= 'A' && ch <= 'Z'))
        return true;
    return ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* A request-target byte: visible ASCII, or a byte of UTF-8 some clients
 * send unescaped. Never a control, a space or DEL. */
static bool is_target_char(unsigned char ch)
{
    return ch > 0x20 && ch != 0x7f;
}

/* A field-value byte (RFC 9110 section 5.5): VCHAR, obs-text, SP, HTAB. */
static bool is_value_char(unsigned char ch)
{
    return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

static int fail(coord_http_req *req, int status, int rv)
{
    req->status = status;
    return rv;
}

/* Find the line that starts at pos in buf[0..len): its content ends at
 * *end (a CR before the LF is not content) and the next line starts at
 * *next. False when no LF is there yet. */
static bool find_line(const char *buf, size_t len, size_t pos, size_t *end,
                      size_t *next)
{
    const char *nl = memchr(buf + pos, '\n', len - pos);
    if (nl == NULL)
        return false;
    size_t e = (size_t)(nl - buf);
    *next = e + 1;
    if (e > pos && buf[e - 1] == '\r')
        e--;
    *end = e;
    return true;
}

static bool ieq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* Check the request line s[0..n); when complete is false the line has not
 * ended yet and only what is there is checked. */
static int request_line(const char *s, size_t n, bool complete,
                        coord_http_req *req)
{
    size_t i = 0;
    if (!complete && n > 0 && s[n - 1] == '\r')
        n--; /* a CR waiting for its LF */
    while (i < n && i <= METHOD_MAX && is_tchar((unsigned char)s[i]))
        i++;
    size_t mlen = i;
    if (mlen > METHOD_MAX)
        return fail(req, 400, CL_EPROTO);
    if (i == n)
        return complete ? fail(req, 400, CL_EPROTO) : CL_EAGAIN;
    if (s[i] != ' ' || mlen == 0)
        return fail(req, 400, CL_EPROTO);
    const char *method = s;
    size_t t0 = ++i;
    while (i < n && is_target_char((unsigned char)s[i]))
        i++;
    size_t tlen = i - t0;
    if (i == n)
        return complete ? fail(req, 400, CL_EPROTO) : CL_EAGAIN;
    if (s[i] != ' ' || tlen == 0)
        return fail(req, 400, CL_EPROTO);
    const char *v = s + i + 1;
    size_t vlen = n - i - 1;
    /* "HTTP/" DIGIT "." DIGIT, checked as far as it has arrived. */
    static const char shape[] = "HTTP/9.9";
    if (vlen > 8)
        return fail(req, 400, CL_EPROTO);
    for (size_t k = 0; k < vlen; k++) {
        bool ok =
            shape[k] == '9' ? (v[k] >= '0' && v[k] <= '9') : v[k] == shape[k];
        if (!ok)
            return fail(req, 400, CL_EPROTO);
    }
    if (!complete)
        return CL_EAGAIN;
    if (vlen != 8)
        return fail(req, 400, CL_EPROTO);
    if (v[5] != '1')
        return fail(req, 505, CL_ENOTSUP);
    req->minor = v[7] - '0';

    if (mlen == 3 && memcmp(method, "GET", 3) == 0)
        req->method = COORD_HTTP_GET;
    else if (mlen == 4 && memcmp(method, "HEAD", 4) == 0)
        req->method = COORD_HTTP_HEAD;
    else
        req->method = COORD_HTTP_OTHER;

    const char *t = s + t0;
    const char *end = t + tlen;
    if (req->method != COORD_HTTP_OTHER && t[0] != '/') {
        /* absolute-form (RFC 9112 section 3.2.2): the path follows the
         * authority; "http://host" alone means "/". */
        size_t skip = 0;
        if (tlen >= 7 && strncasecmp(t, "http://", 7) == 0)
            skip = 7;
        else if (tlen >= 8 && strncasecmp(t, "https://", 8) == 0)
            skip = 8;
        if (skip == 0)
            return fail(req, 400, CL_EPROTO);
        const char *slash = memchr(t + skip, '/', tlen - skip);
        t = slash ? slash : "/";
        end = slash ? end : t + 1;
    }
    /* A fragment is never sent; cut it off if a client does. */
    const char *hash = memchr(t, '#', (size_t)(end - t));
    if (hash)
        end = hash;
    const char *q = memchr(t, '?', (size_t)(end - t));
    req->path = t;
    req->path_len = (size_t)((q ? q : end) - t);
    req->query = q ? q + 1 : NULL;
    req->query_len = q ? (size_t)(end - q - 1) : 0;
    return 0;
}

/* Comma-separated tokens of a Connection field. */
static void connection_tokens(const char *v, size_t n, bool *close, bool *keep)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t t0 = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (ieq(v + t0, i - t0, "close"))
            *close = true;
        else if (ieq(v + t0, i - t0, "keep-alive"))
            *keep = true;
    }
}

struct fields {
    unsigned hosts;
    bool conn_close, conn_keep;
    bool te;
    const char *cl; /* the first Content-Length value */
    size_t cl_len;
};

static int field(const char *s, size_t n, struct fields *f, coord_http_req *req)
{
    /* No obs-fold (RFC 9112 section 5.2): a line may not start with
     * whitespace. No whitespace between name and colon (section 5.1). */
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i == n || s[i] != ':')
        return fail(req, 400, CL_EPROTO);
    const char *name = s;
    size_t nlen = i++;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    size_t v0 = i, vend = n;
    for (size_t k = v0; k < n; k++)
        if (!is_value_char((unsigned char)s[k]))
            return fail(req, 400, CL_EPROTO);
    while (vend > v0 && (s[vend - 1] == ' ' || s[vend - 1] == '\t'))
        vend--;
    const char *v = s + v0;
    size_t vlen = vend - v0;
    if (ieq(name, nlen, "host")) {
        if (++f->hosts > 1)
            return fail(req, 400, CL_EPROTO);
    } else if (ieq(name, nlen, "connection")) {
        connection_tokens(v, vlen, &f->conn_close, &f->conn_keep);
    } else if (ieq(name, nlen, "content-length")) {
        if (vlen == 0)
            return fail(req, 400, CL_EPROTO);
        for (size_t k = 0; k < vlen; k++) {
            if (v[k] < '0' || v[k] > '9')
                return fail(req, 400, CL_EPROTO);
            if (v[k] != '0')
                req->has_body = true;
        }
        if (f->cl && (f->cl_len != vlen || memcmp(f->cl, v, vlen) != 0))
            return fail(req, 400, CL_EPROTO);
        f->cl = v;
        f->cl_len = vlen;
    } else if (ieq(name, nlen, "transfer-encoding")) {
        f->te = true;
        req->has_body = true;
    }
    /* Both framings at once is how requests are smuggled past proxies
     * (RFC 9112 section 6.1): refuse it. */
    if (f->te && f->cl)
        return fail(req, 400, CL_EPROTO);
    return 0;
}

int coord__http_parse(const char *buf, size_t len, coord_http_req *req)
{
    memset(req, 0, sizeof(*req));
    size_t lim = len < COORD_HTTP_HEAD_MAX ? len : COORD_HTTP_HEAD_MAX;
    bool full = len >= COORD_HTTP_HEAD_MAX;
    size_t pos = 0;
    /* Empty lines before a request line are ignored (RFC 9112 2.2). */
    while (pos < lim) {
        if (buf[pos] == '\n')
            pos++;
        else if (buf[pos] == '\r' && pos + 1 < lim && buf[pos + 1] == '\n')
            pos += 2;
        else if (buf[pos] == '\r' && pos + 1 == lim)
            return full ? fail(req, 414, CL_ETOOBIG) : CL_EAGAIN;
        else
            break;
    }
    size_t end, next;
    if (!find_line(buf, lim, pos, &end, &next)) {
        int rv = request_line(buf + pos, lim - pos, false, req);
        if (rv != CL_EAGAIN)
            return rv;
        return full ? fail(req, 414, CL_ETOOBIG) : CL_EAGAIN;
    }
    int rv = request_line(buf + pos, end - pos, true, req);
    if (rv != 0)
        return rv;
    struct fields f;
    memset(&f, 0, sizeof(f));
    unsigned nfields = 0;
    pos = next;
    for (;;) {
        if (!find_line(buf, lim, pos, &end, &next))
            return full ? fail(req, 431, CL_ETOOBIG) : CL_EAGAIN;
        if (end == pos)
            break; /* the blank line: the head is complete */
        if (++nfields > COORD_HTTP_FIELDS_MAX)
            return fail(req, 431, CL_ETOOBIG);
        rv = field(buf + pos, end - pos, &f, req);
        if (rv != 0)
            return rv;
        pos = next;
    }
    /* RFC 9112 section 3.2: an HTTP/1.1 request without Host is a 400. */
    if (req->minor >= 1 && f.hosts == 0)
        return fail(req, 400, CL_EPROTO);
    req->head_len = next;
    req->keep_alive =
        req->minor >= 1 ? !f.conn_close : f.conn_keep && !f.conn_close;
    return 0;
}

static int hexval(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int coord__http_unescape(const char *s, size_t len, bool plus_space, char *out,
                         size_t cap, size_t *out_len)
{
    size_t o = 0;
    if (cap == 0)
        return CL_ETOOBIG;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '%') {
            if (len - i < 3)
                return CL_EPROTO;
            int hi = hexval((unsigned char)s[i + 1]);
            int lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return CL_EPROTO;
            ch = (unsigned char)(hi << 4 | lo);
            i += 2;
        } else if (ch == '+' && plus_space) {
            ch = ' ';
        } else if (ch == 0) {
            return CL_EPROTO;
        }
        if (o + 1 >= cap)
            return CL_ETOOBIG;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return 0;
}

static bool starts(const char *s, size_t n, const char *lit, size_t *rest)
{
    size_t l = strlen(lit);
    if (n < l || memcmp(s, lit, l) != 0)
        return false;
    *rest = l;
    return true;
}

/* The first `key` of an application/x-www-form-urlencoded query. */
static int query_value(const char *q, size_t n, const char *key, char *out,
                       size_t cap, bool *found)
{
    size_t i = 0;
    *found = false;
    while (q && i < n) {
        const char *amp = memchr(q + i, '&', n - i);
        size_t pend = amp ? (size_t)(amp - q) : n;
        const char *eq = memchr(q + i, '=', pend - i);
        size_t kend = eq ? (size_t)(eq - q) : pend;
        char k[64];
        if (kend - i < sizeof(k) &&
            coord__http_unescape(q + i, kend - i, true, k, sizeof(k), NULL) ==
                0 &&
            strcmp(k, key) == 0) {
            size_t v0 = eq ? kend + 1 : pend;
            int rv =
                coord__http_unescape(q + v0, pend - v0, true, out, cap, NULL);
            if (rv != 0)
                return CL_EPROTO;
            *found = true;
            return 0;
        }
        i = pend + 1;
    }
    return 0;
}

int coord__http_route(const coord_http_req *req, coord_http_route *out)
{
    const char *p = req->path;
    size_t n = req->path_len, r;
    out->target = COORD_HTTP_T_NOT_FOUND;
    out->name[0] = '\0';
    out->step[0] = '\0';
    out->has_step = false;
    if (n == 0 || p[0] != '/')
        return 0;
    if (n == 1) {
        out->target = COORD_HTTP_T_ASSET;
        strcpy(out->name, "/index.html");
        return 0;
    }
    if (n == 8 && memcmp(p, "/healthz", 8) == 0) {
        out->target = COORD_HTTP_T_HEALTHZ;
        return 0;
    }
    if (n == 8 && memcmp(p, "/metrics", 8) == 0) {
        out->target = COORD_HTTP_T_METRICS;
        return 0;
    }
    if ((n == 4 && memcmp(p, "/api", 4) == 0) || starts(p, n, "/api/", &r)) {
        out->target = COORD_HTTP_T_API_NOT_FOUND;
        if (n == 4)
            return 0;
        p += r;
        n -= r;
        if (n == 9 && memcmp(p, "workflows", 9) == 0) {
            out->target = COORD_HTTP_T_WORKFLOWS;
            return 0;
        }
        if (n == 5 && memcmp(p, "nodes", 5) == 0) {
            out->target = COORD_HTTP_T_NODES;
            return 0;
        }
        if (!starts(p, n, "workflows/", &r))
            return 0;
        p += r;
        n -= r;
        const char *slash = memchr(p, '/', n);
        size_t nlen = slash ? (size_t)(slash - p) : n;
        const char *tail = p + nlen;
        size_t tlen = n - nlen;
        if (nlen == 0)
            return 0;
        if (tlen != 0 && !(tlen == 5 && memcmp(tail, "/logs", 5) == 0))
            return 0;
        int rv = coord__http_unescape(p, nlen, false, out->name,
                                      sizeof(out->name), NULL);
        if (rv != 0)
            return CL_EPROTO;
        if (tlen == 0) {
            out->target = COORD_HTTP_T_WORKFLOW;
            return 0;
        }
        rv = query_value(req->query, req->query_len, "step", out->step,
                         sizeof(out->step), &out->has_step);
        if (rv != 0)
            return rv;
        out->target = COORD_HTTP_T_LOGS;
        return 0;
    }
    if (coord__http_unescape(p, n, false, out->name, sizeof(out->name), NULL) !=
        0)
        return CL_EPROTO;
    out->target = COORD_HTTP_T_ASSET;
    return 0;
}
