/* fuzz_http_parse - libFuzzer target for the HTTP server's request side
 * (coordinator/coord_http_parse.c): every input is a byte stream as a
 * client could send it.
 *
 * The stream is parsed request by request, as the server does with
 * pipelined requests, and each parsed head is routed. The parser's
 * contract is checked, not only its memory safety: results lie inside the
 * input, an error carries the status that goes with it, and a prefix of
 * the input (cut where the first byte says) never gets an answer that the
 * whole input does not. Each parse reads from a copy of exactly the bytes
 * it is given, so a read past them is caught. */
#include "coordinator/coord_http_parse.h"

#include "common/cl_err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x)                                                               \
    do {                                                                       \
        if (!(x))                                                              \
            __builtin_trap();                                                  \
    } while (0)

static coord_http_route route; /* large: not on the stack */

static bool inside(const char *p, size_t n, const char *buf, size_t len)
{
    return p >= buf && p + n <= buf + len;
}

static void check_result(int rv, const coord_http_req *r, const char *buf,
                         size_t len)
{
    switch (rv) {
    case 0:
        CHECK(r->head_len > 0 && r->head_len <= len &&
              r->head_len <= COORD_HTTP_HEAD_MAX);
        CHECK(r->method >= COORD_HTTP_GET && r->method <= COORD_HTTP_OTHER);
        CHECK(r->minor >= 0 && r->minor <= 9);
        CHECK(r->path != NULL);
        /* "/" alone may stand for an absolute-form target with no path. */
        CHECK(inside(r->path, r->path_len, buf, r->head_len) ||
              (r->path_len == 1 && r->path[0] == '/'));
        if (r->method != COORD_HTTP_OTHER)
            CHECK(r->path_len >= 1 && r->path[0] == '/');
        if (r->query)
            CHECK(inside(r->query, r->query_len, buf, r->head_len));
        break;
    case CL_EAGAIN:
        CHECK(len < COORD_HTTP_HEAD_MAX);
        break;
    case CL_EPROTO:
        CHECK(r->status == 400);
        break;
    case CL_ETOOBIG:
        CHECK(r->status == 414 || r->status == 431);
        break;
    case CL_ENOTSUP:
        CHECK(r->status == 505);
        break;
    default:
        CHECK(0);
    }
}

static int parse_copy(const char *data, size_t len, coord_http_req *r,
                      char **copy)
{
    *copy = malloc(len ? len : 1);
    CHECK(*copy != NULL);
    if (len)
        memcpy(*copy, data, len);
    int rv = coord__http_parse(*copy, len, r);
    check_result(rv, r, *copy, len);
    return rv;
}

static void check_route(const coord_http_req *r)
{
    int rv = coord__http_route(r, &route);
    CHECK(rv == 0 || rv == CL_EPROTO);
    if (rv != 0)
        return;
    CHECK(memchr(route.name, '\0', sizeof(route.name)) != NULL);
    CHECK(memchr(route.step, '\0', sizeof(route.step)) != NULL);
    switch (route.target) {
    case COORD_HTTP_T_WORKFLOW:
    case COORD_HTTP_T_LOGS:
        CHECK(route.name[0] != '\0');
        break;
    case COORD_HTTP_T_ASSET:
        CHECK(route.name[0] == '/');
        break;
    default:
        break;
    }
    if (route.target != COORD_HTTP_T_LOGS)
        CHECK(!route.has_step);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;

    /* Percent-decoding on its own, into a small buffer. */
    char small[32];
    size_t olen = 0;
    int urv =
        coord__http_unescape(in, size, size & 1, small, sizeof(small), &olen);
    CHECK(urv == 0 || urv == CL_EPROTO || urv == CL_ETOOBIG);
    if (urv == 0)
        CHECK(olen < sizeof(small) && strlen(small) == olen);

    /* The stream, request after request. */
    size_t off = 0;
    for (int n = 0; n < 8 && off <= size; n++) {
        coord_http_req whole;
        char *copy;
        int rv = parse_copy(in + off, size - off, &whole, &copy);

        /* A prefix cut where the first byte says. */
        size_t left = size - off;
        size_t cut = left ? (size_t)data[off] * left / 255 : 0;
        coord_http_req part;
        char *pcopy;
        int prv = parse_copy(in + off, cut, &part, &pcopy);
        if (prv == 0) {
            CHECK(rv == 0);
            CHECK(part.head_len == whole.head_len);
            CHECK(part.method == whole.method);
            CHECK(part.path_len == whole.path_len);
            CHECK(part.keep_alive == whole.keep_alive);
            CHECK(part.has_body == whole.has_body);
        } else if (prv != CL_EAGAIN) {
            CHECK(rv == prv && part.status == whole.status);
        }
        free(pcopy);

        if (rv == 0)
            check_route(&whole);
        free(copy);
        if (rv != 0)
            break;
        off += whole.head_len;
    }
    return 0;
}
