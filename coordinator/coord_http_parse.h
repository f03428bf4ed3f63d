/* coord_http_parse.h - the request side of the coordinator's HTTP server
 * (coord_http.c), kept apart from sockets and from the coordinator's state
 * so that it can be tested and fuzzed on its own
 * (tests/fuzz/coordinator/).
 *
 * The server is read-only: it answers GET and HEAD and never reads a
 * request body. This file parses one request head (request line and header
 * fields, RFC 9112 sections 2 to 6), percent-decodes (RFC 3986 section
 * 2.1) and routes a target to what the server serves. Everything here is
 * pure: no allocation, no I/O, no clock; results point into the caller's
 * buffer or are copied into fixed-size fields.
 */
#ifndef COULER_COORD_HTTP_PARSE_H
#define COULER_COORD_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/* The most bytes a request head (request line, fields and the blank line
 * that ends them) may take. */
#define COORD_HTTP_HEAD_MAX 16384
/* The most header fields a request may carry. */
#define COORD_HTTP_FIELDS_MAX 100

enum coord_http_method {
    COORD_HTTP_GET = 1,
    COORD_HTTP_HEAD = 2,
    COORD_HTTP_OTHER = 3, /* a valid method we do not serve: 405 */
};

typedef struct coord_http_req {
    enum coord_http_method method;
    const char *path; /* origin-form path, from '/' (into buf) */
    size_t path_len;
    const char *query; /* after '?', or NULL (into buf) */
    size_t query_len;
    int minor;       /* HTTP/1.<minor> */
    bool keep_alive; /* the connection persists after the answer */
    bool has_body;   /* Content-Length > 0 or Transfer-Encoding */
    size_t head_len; /* bytes of the head: the next request starts at
                        buf + head_len */
    int status;      /* after an error: the HTTP status to answer */
} coord_http_req;

/* coord__http_parse - parse the request head at the start of buf[0..len).
 *
 * Returns 0 when a whole head is there (req filled), CL_EAGAIN when more
 * bytes are needed, or an error with req->status set to the status to
 * answer before closing the connection: CL_EPROTO (400, malformed),
 * CL_ETOOBIG (414 when the request line alone passes COORD_HTTP_HEAD_MAX,
 * 431 when the head does or has too many fields) or CL_ENOTSUP (505, a
 * version other than HTTP/1.x). Lines already complete are checked as they
 * arrive, so garbage is refused without waiting for a whole head; a prefix
 * of a request never gets an answer that the whole request would not.
 * Empty lines before the request line are skipped (section 2.2); lines may
 * end in CRLF or a bare LF. Never reads past buf + len. */
int coord__http_parse(const char *buf, size_t len, coord_http_req *req);

/* coord__http_unescape - percent-decode s[0..len) into out (room for
 * cap bytes, NUL included), '+' as a space when plus_space (query
 * strings). Returns 0, CL_EPROTO for a bad escape or a decoded NUL, or
 * CL_ETOOBIG when out is too small. */
int coord__http_unescape(const char *s, size_t len, bool plus_space, char *out,
                         size_t cap, size_t *out_len);

enum coord_http_target {
    COORD_HTTP_T_NOT_FOUND = 0,
    COORD_HTTP_T_ASSET,         /* a dashboard file: `name` holds its path */
    COORD_HTTP_T_HEALTHZ,       /* /healthz */
    COORD_HTTP_T_METRICS,       /* /metrics */
    COORD_HTTP_T_WORKFLOWS,     /* /api/workflows */
    COORD_HTTP_T_WORKFLOW,      /* /api/workflows/NAME */
    COORD_HTTP_T_LOGS,          /* /api/workflows/NAME/logs[?step=S] */
    COORD_HTTP_T_NODES,         /* /api/nodes */
    COORD_HTTP_T_API_NOT_FOUND, /* under /api/, nothing there */
};

typedef struct coord_http_route {
    enum coord_http_target target;
    char name[COORD_HTTP_HEAD_MAX]; /* decoded workflow name, or the asset
                                       path ("/" is "/index.html") */
    char step[COORD_HTTP_HEAD_MAX]; /* decoded `step` query value */
    bool has_step;
} coord_http_route;

/* coord__http_route - what a parsed request's path and query name.
 * Returns 0 (out filled; unknown paths are T_NOT_FOUND or
 * T_API_NOT_FOUND) or CL_EPROTO for a bad percent escape (400). */
int coord__http_route(const coord_http_req *req, coord_http_route *out);

#endif
