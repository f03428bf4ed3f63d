/* coord_http.c - the coordinator's HTTP server: a read-only REST API, the
 * dashboard (web/, embedded at build time) and Prometheus metrics, served
 * on the coordinator's libuv loop (config http_listen).
 *
 *   GET /api/workflows                  JSON array (coord__api_workflows)
 *   GET /api/workflows/NAME             the Argo Workflow object
 *   GET /api/workflows/NAME/logs[?step=S]  text/plain, "<step>: <line>"
 *   GET /api/nodes                      JSON array (coord__api_nodes)
 *   GET /metrics                        Prometheus text format
 *   GET /healthz                        "ok"
 *   GET / and /<file>                   the dashboard
 * HEAD is answered as GET without the body; every other method is a 405.
 *
 * Why our own parser. The server only ever reads request heads of GET and
 * HEAD requests, and it must live on the one loop with no threads
 * (DESIGN.md, principle 2). Of Debian 12's packages, llhttp is not there
 * (only its Node.js sources are); http-parser (libhttp-parser-dev) is the
 * one it replaced, archived upstream and no longer maintained;
 * libmicrohttpd owns its sockets, its connection limits and its timeouts
 * and wants its own threads or select loop driven from outside; h2o
 * (libh2o-dev) is a whole server with TLS and HTTP/2 for the sake of a
 * dozen GET routes. A head parser for this subset of RFC 9112 is small,
 * pure and fuzzed on its own (coord_http_parse.c,
 * tests/fuzz/coordinator/), and this file keeps what a library would have
 * hidden in plain view: the bounds below.
 *
 * Bounds, so that a slow or hostile client never blocks the loop nor
 * grows memory:
 *   - a request head is at most COORD_HTTP_HEAD_MAX bytes (431 or 414
 *     beyond) and must arrive within HTTP_HEAD_MS of the connection or of
 *     the previous answer; a kept-alive connection may idle HTTP_IDLE_MS;
 *     an answer must be taken within HTTP_WRITE_MS;
 *   - one answer at a time per connection: reading stops while it is
 *     written, so pipelined requests wait in the kernel, answered in order;
 *   - at most HTTP_MAX_CONNS connections: a new one evicts the least
 *     recently active connection that is not being answered, or, when all
 *     are, is refused with a 503;
 *   - answers not yet handed to the kernel hold at most HTTP_PENDING_MAX
 *     bytes together, so that clients that do not read cannot make the
 *     daemon hold a copy of the logs each: past it, a big answer becomes
 *     a 503 with Retry-After. Answers up to HTTP_SMALL_ANSWER (health,
 *     metrics, the dashboard's files, most JSON) always go out;
 *   - request bodies are never read (413, or 405 for other methods, and
 *     the connection closes); after a last answer the connection is shut
 *     down for writing and what the client still sends is drained for a
 *     moment (HTTP_LINGER_MS, HTTP_LINGER_MAX) so the answer is not lost
 *     to a reset.
 * Every handler runs on the loop thread, reading coordinator state
 * through coord_api.c.
 *
 * Lifecycle: coord__http_start binds and listens; coord__http_close closes
 * the listener and every connection, frees the server once all their
 * handles are closed, then calls back.
 */
#include "coordinator/coord_http_parse.h"
#include "coordinator/coord_int.h"

#include "common/cl_heap.h"
#include "common/cl_log.h"
#include "web/web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utlist.h>

#define HTTP_MAX_CONNS 256
#define HTTP_BACKLOG 128
#define HTTP_HEAD_MS 10000  /* for a request head to arrive */
#define HTTP_IDLE_MS 30000  /* a kept-alive connection with no request */
#define HTTP_WRITE_MS 60000 /* for the client to take an answer */
#define HTTP_LINGER_MS 2000 /* draining after the last answer */
#define HTTP_LINGER_MAX (64 * 1024)
#define HTTP_PENDING_MAX ((size_t)64 << 20)
#define HTTP_SMALL_ANSWER ((size_t)64 << 10)

enum conn_state {
    CONN_READ = 1,   /* waiting for (the rest of) a request head */
    CONN_WRITE = 2,  /* an answer is being written; not reading */
    CONN_LINGER = 3, /* last answer sent, shut down; draining input */
    CONN_CLOSING = 4,
};

typedef struct http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wr;
    uv_shutdown_t sd;
    struct coord_http *h;
    struct http_conn *prev, *next; /* h->conns, least recently active
                                      first (utlist) */
    enum conn_state state;
    int open; /* handles not yet closed: freed at 0 */
    bool reading;
    bool in_request;  /* the head timer runs (not the idle one) */
    bool close_after; /* the answer being written is the last */
    size_t len;       /* bytes in buf */
    size_t lingered;
    cl_buf head; /* the answer's status line and fields */
    char *body;  /* the answer's body, freed with body_free */
    size_t body_len;
    size_t pending;            /* counted in h->pending until written */
    void (*body_free)(void *); /* NULL: static data */
    char buf[COORD_HTTP_HEAD_MAX];
} http_conn;

/* A connection refused at the cap: told 503 and closed at once. */
typedef struct http_refusal {
    uv_tcp_t tcp;
    struct coord_http *h;
} http_refusal;

struct coord_http {
    coord *c;
    uv_tcp_t listener;
    bool listener_open;
    bool closing;
    bool accept_pending; /* a connection waits for memory to be accepted */
    http_conn *conns;    /* open connections (utlist, LRU order) */
    unsigned nconns;
    unsigned nclosing;      /* connections and refusals still closing */
    coord_http_route route; /* scratch for the request being answered */
    /* counters for /metrics */
    uint64_t answers[6]; /* by status class: [2] is 2xx ... [5] is 5xx */
    uint64_t accepted, evicted, refused, timed_out;
    size_t pending; /* bytes of answers being written, all connections */
    uint64_t busy;  /* answers replaced by a 503 over HTTP_PENDING_MAX */
};

/* ---- connections ----------------------------------------------------------*/

static void accept_one(struct coord_http *h);

static void maybe_done(struct coord_http *h)
{
    if (!h->closing || h->listener_open || h->nconns > 0 || h->nclosing > 0)
        return;
    coord *c = h->c;
    void (*cb)(coord *) = c->http_closed;
    c->http = NULL;
    c->http_closed = NULL;
    cl_free(h);
    if (cb)
        cb(c);
}

static void after_close(struct coord_http *h)
{
    if (h->accept_pending && !h->closing && h->listener_open) {
        h->accept_pending = false;
        accept_one(h);
    }
    maybe_done(h);
}

static void free_answer(http_conn *cn)
{
    if (cn->body && cn->body_free)
        cn->body_free(cn->body);
    cn->body = NULL;
    cn->body_len = 0;
    cn->body_free = NULL;
    cn->h->pending -= cn->pending;
    cn->pending = 0;
    cl_buf_reset(&cn->head);
}

static void on_conn_handle_closed(uv_handle_t *handle)
{
    http_conn *cn = handle->data;
    if (--cn->open > 0)
        return;
    struct coord_http *h = cn->h;
    free_answer(cn);
    cl_buf_free(&cn->head);
    cl_free(cn);
    h->nclosing--;
    after_close(h);
}

/* conn_close - close a connection now; memory goes in the close
 * callbacks. A write or shutdown in flight completes first, cancelled. */
static void conn_close(http_conn *cn)
{
    if (cn->state == CONN_CLOSING)
        return;
    struct coord_http *h = cn->h;
    cn->state = CONN_CLOSING;
    DL_DELETE(h->conns, cn);
    h->nconns--;
    h->nclosing++;
    uv_close((uv_handle_t *)&cn->tcp, on_conn_handle_closed);
    uv_close((uv_handle_t *)&cn->timer, on_conn_handle_closed);
}

/* Most recently active last: eviction takes from the front. */
static void touch(http_conn *cn)
{
    DL_DELETE(cn->h->conns, cn);
    DL_APPEND(cn->h->conns, cn);
}

static void on_timeout(uv_timer_t *t)
{
    http_conn *cn = t->data;
    if (cn->state != CONN_LINGER)
        cn->h->timed_out++;
    CL_DEBUG("http: closing a connection that %s",
             cn->state == CONN_WRITE    ? "did not take its answer"
             : cn->state == CONN_LINGER ? "was done"
             : cn->in_request           ? "sent no whole request in time"
                                        : "stayed idle");
    conn_close(cn);
}

static void arm(http_conn *cn, uint64_t ms)
{
    uv_timer_start(&cn->timer, on_timeout, ms, 0);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    http_conn *cn = handle->data;
    if (cn->state == CONN_LINGER) {
        buf->base = cn->buf; /* drained and dropped */
        buf->len = sizeof(cn->buf);
        return;
    }
    /* Never more than the head limit: a full buffer is answered before
     * reading again. A zero length makes libuv report UV_ENOBUFS. */
    buf->base = cn->buf + cn->len;
    buf->len = sizeof(cn->buf) - cn->len;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void read_start(http_conn *cn)
{
    if (cn->reading)
        return;
    if (uv_read_start((uv_stream_t *)&cn->tcp, on_alloc, on_read) != 0) {
        conn_close(cn);
        return;
    }
    cn->reading = true;
}

static void read_stop(http_conn *cn)
{
    if (!cn->reading)
        return;
    uv_read_stop((uv_stream_t *)&cn->tcp);
    cn->reading = false;
}

/* ---- answers --------------------------------------------------------------*/

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    }
    return "Unknown";
}

static void serve_buffered(http_conn *cn);
static void linger(http_conn *cn);

static void on_written(uv_write_t *wr, int status)
{
    http_conn *cn = wr->data;
    free_answer(cn);
    if (cn->state == CONN_CLOSING)
        return; /* cancelled by conn_close */
    if (status < 0) {
        conn_close(cn);
        return;
    }
    if (cn->close_after) {
        linger(cn);
        return;
    }
    cn->state = CONN_READ;
    cn->in_request = cn->len > 0;
    arm(cn, cn->in_request ? HTTP_HEAD_MS : HTTP_IDLE_MS);
    touch(cn);
    /* A pipelined request may be waiting in the buffer already. */
    if (cn->len > 0)
        serve_buffered(cn);
    if (cn->state == CONN_READ)
        read_start(cn);
}

static void on_shutdown(uv_shutdown_t *sd, int status)
{
    http_conn *cn = sd->data;
    if (status < 0 && cn->state != CONN_CLOSING)
        conn_close(cn);
}

/* After the last answer: shut down our side, then read and drop what the
 * client still sends until it closes, for HTTP_LINGER_MS at most. Closing
 * with unread input would send a reset that can destroy the answer in
 * the client's receive buffer. */
static void linger(http_conn *cn)
{
    cn->state = CONN_LINGER;
    cn->len = 0;
    cn->lingered = 0;
    arm(cn, HTTP_LINGER_MS);
    cn->sd.data = cn;
    if (uv_shutdown(&cn->sd, (uv_stream_t *)&cn->tcp, on_shutdown) != 0) {
        conn_close(cn);
        return;
    }
    read_start(cn);
}

/* answer - send status, fields and body (owned: freed with body_free,
 * NULL for static data), then go on with the connection. `extra` holds
 * more header fields, each ending in CRLF. */
static void answer(http_conn *cn, int status, const char *type,
                   const char *extra, char *body, size_t len,
                   void (*body_free)(void *), bool head_only)
{
    struct coord_http *h = cn->h;
    if (!head_only && len > HTTP_SMALL_ANSWER && h->pending > 0 &&
        h->pending + len > HTTP_PENDING_MAX) {
        static const char busy[] = "busy: answers wait for slow clients; "
                                   "retry\n";
        if (body_free)
            body_free(body);
        h->busy++;
        status = 503;
        type = "text/plain; charset=utf-8";
        extra = "Retry-After: 1\r\n";
        body = (char *)busy;
        len = sizeof(busy) - 1;
        body_free = NULL;
    }
    cn->body = body;
    cn->body_len = len;
    cn->body_free = body_free;
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm) == NULL ||
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
        date[0] = '\0';
    cl_buf_reset(&cn->head);
    cl_buf_printf(&cn->head,
                  "HTTP/1.1 %d %s\r\n"
                  "Date: %s\r\n"
                  "Server: couler-coord\r\n"
                  "Content-Type: %s\r\n"
                  "Content-Length: %zu\r\n"
                  "X-Content-Type-Options: nosniff\r\n"
                  "%s"
                  "Connection: %s\r\n\r\n",
                  status, reason(status), date, type, len, extra ? extra : "",
                  cn->close_after ? "close" : "keep-alive");
    if (status >= 200 && status < 600)
        h->answers[status / 100]++;
    if (!cl_buf_ok(&cn->head)) {
        conn_close(cn);
        return;
    }
    cn->pending = cn->head.len + (head_only ? 0 : len);
    h->pending += cn->pending;
    uv_buf_t bufs[2];
    unsigned n = 0;
    bufs[n++] = uv_buf_init(cn->head.data, (unsigned)cn->head.len);
    if (!head_only && len > 0)
        bufs[n++] = uv_buf_init(body, (unsigned)len);
    read_stop(cn);
    cn->state = CONN_WRITE;
    arm(cn, HTTP_WRITE_MS);
    cn->wr.data = cn;
    if (uv_write(&cn->wr, (uv_stream_t *)&cn->tcp, bufs, n, on_written) != 0)
        conn_close(cn);
}

static void answer_text(http_conn *cn, int status, const char *text,
                        const char *extra, bool head_only)
{
    answer(cn, status, "text/plain; charset=utf-8", extra, (char *)text,
           strlen(text), NULL, head_only);
}

#define API_FIELDS "Cache-Control: no-store\r\n"

/* answer_json - j is consumed. */
static void answer_json(http_conn *cn, int status, json_t *j, bool head_only)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (s == NULL) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        answer(cn, 500, "application/json", API_FIELDS, (char *)oom,
               sizeof(oom) - 1, NULL, head_only);
        return;
    }
    answer(cn, status, "application/json", API_FIELDS, s, strlen(s), free,
           head_only);
}

static void answer_error(http_conn *cn, int status, const char *msg,
                         bool head_only)
{
    /* A name from the request may not be UTF-8, which JSON strings must
     * be: then the status's own words stand for the message. */
    json_t *j = json_pack("{s:s}", "error", msg);
    if (j == NULL)
        j = json_pack("{s:s}", "error", reason(status));
    answer_json(cn, status, j, head_only);
}

static void answer_buf(http_conn *cn, const char *type, cl_buf *b,
                       bool head_only)
{
    if (!cl_buf_ok(b)) {
        cl_buf_free(b);
        answer_error(cn, 500, "out of memory", head_only);
        return;
    }
    size_t len = 0;
    char *s = cl_buf_steal(b, &len);
    if (s == NULL) {
        answer_error(cn, 500, "out of memory", head_only);
        return;
    }
    answer(cn, 200, type, API_FIELDS, s, len, cl_free, head_only);
}

static void http_metrics(struct coord_http *h, cl_buf *out)
{
    cl_buf_puts(out, "# HELP couler_http_requests_total HTTP requests "
                     "answered, by status class.\n"
                     "# TYPE couler_http_requests_total counter\n");
    for (int k = 2; k <= 5; k++)
        cl_buf_printf(out, "couler_http_requests_total{code=\"%dxx\"} %llu\n",
                      k, (unsigned long long)h->answers[k]);
    cl_buf_printf(
        out,
        "# HELP couler_http_connections Open HTTP connections.\n"
        "# TYPE couler_http_connections gauge\n"
        "couler_http_connections %u\n"
        "# HELP couler_http_connections_total HTTP connections accepted.\n"
        "# TYPE couler_http_connections_total counter\n"
        "couler_http_connections_total %llu\n"
        "# HELP couler_http_connections_dropped_total HTTP connections "
        "closed by the server: evicted or refused at the connection cap, "
        "or timed out.\n"
        "# TYPE couler_http_connections_dropped_total counter\n"
        "couler_http_connections_dropped_total{reason=\"evicted\"} %llu\n"
        "couler_http_connections_dropped_total{reason=\"refused\"} %llu\n"
        "couler_http_connections_dropped_total{reason=\"timeout\"} %llu\n"
        "# HELP couler_http_busy_total Answers replaced by a 503: too many "
        "bytes were waiting for slow clients.\n"
        "# TYPE couler_http_busy_total counter\n"
        "couler_http_busy_total %llu\n",
        h->nconns, (unsigned long long)h->accepted,
        (unsigned long long)h->evicted, (unsigned long long)h->refused,
        (unsigned long long)h->timed_out, (unsigned long long)h->busy);
}

#define HTML_FIELDS                                                            \
    "Cache-Control: no-cache\r\n"                                              \
    "Content-Security-Policy: default-src 'self'; img-src 'self' data:; "      \
    "object-src 'none'; base-uri 'none'; form-action 'none'; "                 \
    "frame-ancestors 'none'\r\n"                                               \
    "X-Frame-Options: DENY\r\n"                                                \
    "Referrer-Policy: no-referrer\r\n"

/* handle - answer one parsed request (req points into cn->buf, which is
 * not touched until the answer's buffers are set up). */
static void handle(http_conn *cn, const coord_http_req *req)
{
    struct coord_http *h = cn->h;
    coord *c = h->c;
    bool head_only = req->method == COORD_HTTP_HEAD;
    cn->close_after = !req->keep_alive || req->has_body;
    if (req->method == COORD_HTTP_OTHER) {
        answer_text(cn, 405, "method not allowed: this server is read-only\n",
                    "Allow: GET, HEAD\r\n", false);
        return;
    }
    if (req->has_body) {
        answer_text(cn, 413, "request bodies are not accepted\n", NULL,
                    head_only);
        return;
    }
    coord_http_route *r = &h->route;
    if (coord__http_route(req, r) != 0) {
        answer_text(cn, 400, "bad percent-encoding in the request target\n",
                    NULL, head_only);
        return;
    }
    switch (r->target) {
    case COORD_HTTP_T_HEALTHZ:
        answer_text(cn, 200, "ok", API_FIELDS, head_only);
        return;
    case COORD_HTTP_T_METRICS: {
        cl_buf out = CL_BUF_INIT;
        coord__api_metrics(c, &out);
        http_metrics(h, &out);
        answer_buf(cn, "text/plain; version=0.0.4; charset=utf-8", &out,
                   head_only);
        return;
    }
    case COORD_HTTP_T_WORKFLOWS:
        answer_json(cn, 200, coord__api_workflows(c), head_only);
        return;
    case COORD_HTTP_T_WORKFLOW: {
        json_t *j = coord__api_workflow(c, r->name);
        if (j != NULL) {
            answer_json(cn, 200, j, head_only);
        } else if (coord__find_wf(c, r->name) != NULL) {
            answer_error(cn, 500, "the workflow's status is unavailable",
                         head_only);
        } else {
            char msg[600];
            snprintf(msg, sizeof(msg), "workflow '%.500s' not found", r->name);
            answer_error(cn, 404, msg, head_only);
        }
        return;
    }
    case COORD_HTTP_T_LOGS: {
        cl_buf out = CL_BUF_INIT;
        cl_errmsg err;
        cl_errmsg_clear(&err);
        int rv = coord__api_logs(c, r->name, r->has_step ? r->step : NULL, &out,
                                 &err);
        if (rv != 0) {
            cl_buf_free(&out);
            answer_error(cn, rv == CL_ENOENT ? 404 : 500,
                         err.msg[0] ? err.msg : cl_strerror(rv), head_only);
            return;
        }
        answer_buf(cn, "text/plain; charset=utf-8", &out, head_only);
        return;
    }
    case COORD_HTTP_T_NODES:
        answer_json(cn, 200, coord__api_nodes(c), head_only);
        return;
    case COORD_HTTP_T_API_NOT_FOUND:
        answer_error(cn, 404, "no such API endpoint", head_only);
        return;
    case COORD_HTTP_T_ASSET: {
        const web_asset *a = web_find(r->name);
        if (a != NULL) {
            answer(cn, 200, a->type, HTML_FIELDS, (char *)a->data, a->len, NULL,
                   head_only);
            return;
        }
        break;
    }
    case COORD_HTTP_T_NOT_FOUND:
        break;
    }
    answer_text(cn, 404, "not found\n", NULL, head_only);
}

/* serve_buffered - answer the request whose head is in the buffer, if it
 * is all there. */
static void serve_buffered(http_conn *cn)
{
    coord_http_req req;
    int rv = coord__http_parse(cn->buf, cn->len, &req);
    if (rv == CL_EAGAIN)
        return;
    if (rv != 0) {
        /* The stream cannot be trusted past a bad head: answer, close. */
        CL_DEBUG("http: refusing a request: %d %s", req.status,
                 reason(req.status));
        cn->close_after = true;
        char text[80];
        snprintf(text, sizeof(text), "%d %s\n", req.status, reason(req.status));
        char *body = cl_strdup(text);
        if (body == NULL) {
            conn_close(cn);
            return;
        }
        answer(cn, req.status, "text/plain; charset=utf-8", NULL, body,
               strlen(body), cl_free, false);
        return;
    }
    handle(cn, &req);
    if (cn->state == CONN_CLOSING)
        return;
    /* The answer owns copies of all it needs: drop the head. */
    memmove(cn->buf, cn->buf + req.head_len, cn->len - req.head_len);
    cn->len -= req.head_len;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    http_conn *cn = s->data;
    if (cn->state == CONN_CLOSING)
        return;
    if (nread < 0) {
        /* End of stream, a reset, or UV_ENOBUFS: nothing more to do. */
        conn_close(cn);
        return;
    }
    if (nread == 0)
        return;
    if (cn->state == CONN_LINGER) {
        cn->lingered += (size_t)nread;
        if (cn->lingered > HTTP_LINGER_MAX)
            conn_close(cn);
        return;
    }
    bool first = cn->len == 0;
    bool newline = memchr(cn->buf + cn->len, '\n', (size_t)nread) != NULL;
    if (!cn->in_request) {
        cn->in_request = true;
        arm(cn, HTTP_HEAD_MS);
    }
    cn->len += (size_t)nread;
    touch(cn);
    /* A head can only complete, or a line go wrong, with a new line; the
     * first bytes are checked at once so that garbage is refused early. */
    if (newline || first || cn->len >= sizeof(cn->buf))
        serve_buffered(cn);
}

/* ---- accepting ------------------------------------------------------------*/

static void on_refusal_closed(uv_handle_t *handle)
{
    http_refusal *r = handle->data;
    struct coord_http *h = r->h;
    cl_free(r);
    h->nclosing--;
    after_close(h);
}

/* At the cap with every connection being answered: tell the new one. */
static void refuse(struct coord_http *h)
{
    static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\n"
                              "Content-Type: text/plain; charset=utf-8\r\n"
                              "Content-Length: 21\r\n"
                              "Retry-After: 1\r\n"
                              "Connection: close\r\n\r\n"
                              "too many connections\n";
    http_refusal *r = cl_calloc(1, sizeof(*r));
    if (r == NULL || uv_tcp_init(h->c->loop, &r->tcp) != 0) {
        cl_free(r);
        h->accept_pending = true;
        return;
    }
    r->h = h;
    r->tcp.data = r;
    h->nclosing++;
    h->refused++;
    if (uv_accept((uv_stream_t *)&h->listener, (uv_stream_t *)&r->tcp) == 0) {
        uv_buf_t b = uv_buf_init((char *)msg, sizeof(msg) - 1);
        (void)uv_try_write((uv_stream_t *)&r->tcp, &b, 1);
    }
    uv_close((uv_handle_t *)&r->tcp, on_refusal_closed);
}

/* Make room at the cap: close the least recently active connection that
 * is not being answered. */
static bool evict(struct coord_http *h)
{
    http_conn *cn;
    DL_FOREACH(h->conns, cn)
    {
        if (cn->state == CONN_READ || cn->state == CONN_LINGER) {
            h->evicted++;
            CL_DEBUG("http: %u connections: closing the least recently "
                     "active",
                     h->nconns);
            conn_close(cn);
            return true;
        }
    }
    return false;
}

static void accept_one(struct coord_http *h)
{
    if (h->nconns >= HTTP_MAX_CONNS && !evict(h)) {
        refuse(h);
        return;
    }
    http_conn *cn = cl_calloc(1, sizeof(*cn));
    if (cn == NULL) {
        /* libuv holds the connection until it is accepted; try again when
         * a connection closes and gives its memory back. */
        CL_WARN("http: out of memory: a connection waits");
        h->accept_pending = true;
        return;
    }
    cn->h = h;
    cl_buf_init(&cn->head);
    if (uv_tcp_init(h->c->loop, &cn->tcp) != 0) {
        cl_free(cn);
        h->accept_pending = true;
        return;
    }
    uv_timer_init(h->c->loop, &cn->timer);
    cn->tcp.data = cn;
    cn->timer.data = cn;
    cn->open = 2;
    cn->state = CONN_READ;
    DL_APPEND(h->conns, cn);
    h->nconns++;
    if (uv_accept((uv_stream_t *)&h->listener, (uv_stream_t *)&cn->tcp) != 0) {
        conn_close(cn);
        return;
    }
    h->accepted++;
    uv_tcp_nodelay(&cn->tcp, 1);
    /* A new connection owes a request head within the head timeout. */
    cn->in_request = true;
    arm(cn, HTTP_HEAD_MS);
    read_start(cn);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct coord_http *h = server->data;
    if (status < 0) {
        CL_WARN("http: accepting a connection: %s", uv_strerror(status));
        return;
    }
    if (h->closing)
        return;
    accept_one(h);
}

/* ---- lifecycle ------------------------------------------------------------*/

/* "IP:PORT", "[IPv6]:PORT" or "localhost:PORT". */
static int parse_addr(const char *text, struct sockaddr_storage *sa,
                      cl_errmsg *err)
{
    char host[128];
    const char *colon = strrchr(text, ':');
    const char *h = text;
    size_t hl = colon ? (size_t)(colon - text) : 0;
    if (hl >= 2 && text[0] == '[' && text[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    char *end = NULL;
    unsigned long port = colon && colon[1] ? strtoul(colon + 1, &end, 10) : 0;
    if (colon == NULL || hl == 0 || hl >= sizeof(host) || end == NULL ||
        *end != '\0' || colon[1] < '0' || colon[1] > '9' || port > 65535) {
        cl_errmsg_set(err, "HTTP address '%s': expected IP:PORT", text);
        return CL_EINVAL;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    memset(sa, 0, sizeof(*sa));
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)sa) != 0 &&
        uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)sa) != 0) {
        cl_errmsg_set(err, "HTTP address '%s': '%s' is not an IP address", text,
                      host);
        return CL_EINVAL;
    }
    return 0;
}

int coord__http_start(coord *c, cl_errmsg *err)
{
    if (c->cfg.http_listen == NULL)
        return 0;
    struct sockaddr_storage sa;
    int rv = parse_addr(c->cfg.http_listen, &sa, err);
    if (rv != 0)
        return rv;
    struct coord_http *h = cl_calloc(1, sizeof(*h));
    if (h == NULL) {
        cl_errmsg_set(err, "HTTP server: out of memory");
        return CL_ENOMEM;
    }
    h->c = c;
    int uerr = uv_tcp_init(c->loop, &h->listener);
    if (uerr != 0) {
        cl_free(h);
        cl_errmsg_set(err, "HTTP server: %s", uv_strerror(uerr));
        return cl_err_from_uv(uerr);
    }
    /* From here the listener is a handle: coord__http_close frees it. */
    c->http = h;
    h->listener_open = true;
    h->listener.data = h;
    uerr = uv_tcp_bind(&h->listener, (const struct sockaddr *)&sa, 0);
    if (uerr == 0)
        uerr =
            uv_listen((uv_stream_t *)&h->listener, HTTP_BACKLOG, on_connection);
    if (uerr != 0) {
        cl_errmsg_set(err, "cannot listen for HTTP on '%s': %s",
                      c->cfg.http_listen, uv_strerror(uerr));
        return uerr == UV_EADDRINUSE ? CL_EBUSY : cl_err_from_uv(uerr);
    }
    CL_INFO("HTTP API and dashboard on http://%s/", c->cfg.http_listen);
    return 0;
}

static void on_listener_closed(uv_handle_t *handle)
{
    struct coord_http *h = handle->data;
    h->listener_open = false;
    maybe_done(h);
}

void coord__http_close(coord *c, void (*cb)(coord *c))
{
    struct coord_http *h = c->http;
    if (h == NULL) {
        if (cb)
            cb(c);
        return;
    }
    if (h->closing)
        return;
    c->http_closed = cb;
    h->closing = true;
    http_conn *cn, *tmp;
    DL_FOREACH_SAFE(h->conns, cn, tmp)
    conn_close(cn);
    uv_close((uv_handle_t *)&h->listener, on_listener_closed);
}
