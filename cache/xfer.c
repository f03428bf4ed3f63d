/* xfer.c - the artifact transfer protocol: sender and receiver state
 * machines (pure: no sockets, clocks or store of their own).
 *
 * Flow control is credit-based: the receiver keeps at most `credit` chunk
 * requests outstanding and sends a new one only when a reply (or a timeout)
 * frees a slot, so a sender never has more than credit chunks queued for
 * one receiver and a slow receiver never buffers more than credit MiB.
 */
#include "cache/cache_int.h"

#include "common/cl_heap.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Requests are small; a request larger than this is malformed. */
#define MAX_REQUEST 4096

enum { W_PENDING = 0, W_INFLIGHT, W_CHECKING, W_DONE };

struct want {
    uint8_t d[CL_DIGEST_SIZE];
    uint32_t size;
    uint8_t state;
    uint32_t tries; /* re-requests so far */
    int64_t sent_at;
};

struct cache_xfer_recv {
    cache_digest artifact;
    cache_xfer_recv_opts o;
    cache_xfer_store st;
    cache_xfer_transport tr;
    enum cache_xfer_state state;
    int err;
    cl_errmsg why;
    uint8_t *manifest; /* packed, cl_malloc'd */
    size_t manifest_len;
    struct want *w; /* sorted by digest */
    size_t nw;
    size_t next;      /* first never-requested want */
    size_t *inflight; /* indices into w, `credit` slots */
    uint32_t ninflight;
    uint32_t checking; /* offloaded checks not reported yet */
    size_t ndone;
    int64_t man_sent_at;
    uint32_t man_tries;
    cache_xfer_recv_stats stats;
};

/* ---- messages ----------------------------------------------------------- */

static int send_msg(const cache_xfer_transport *tr, Couler__Cache__XferMsg *m)
{
    uint8_t small[256];
    size_t n = couler__cache__xfer_msg__get_packed_size(m);
    uint8_t *buf = n <= sizeof(small) ? small : cl_malloc(n);
    if (buf == NULL)
        return CL_ENOMEM;
    couler__cache__xfer_msg__pack(m, buf);
    int rv = tr->send(tr->data, buf, n);
    if (buf != small)
        cl_free(buf);
    return rv;
}

static ProtobufCBinaryData bin(const uint8_t *p, size_t n)
{
    ProtobufCBinaryData b;
    b.data = (uint8_t *)p;
    b.len = n;
    return b;
}

/* ---- sender ------------------------------------------------------------- */

void cache_xfer_sender_init(cache_xfer_sender *s, const cache_xfer_store *st,
                            const cache_xfer_transport *tr)
{
    memset(s, 0, sizeof(*s));
    s->store = *st;
    s->tr = *tr;
}

static int send_error(cache_xfer_sender *s, uint64_t id, int code,
                      const ProtobufCBinaryData *artifact,
                      const ProtobufCBinaryData *chunk)
{
    Couler__Cache__XferMsg m = COULER__CACHE__XFER_MSG__INIT;
    Couler__Cache__XferError e = COULER__CACHE__XFER_ERROR__INIT;
    m.version = CACHE_FORMAT_VERSION;
    m.xfer_id = id;
    m.body_case = COULER__CACHE__XFER_MSG__BODY_ERROR;
    m.error = &e;
    e.code = (uint32_t)code;
    e.message = (char *)cl_strerror(code);
    e.artifact = *artifact;
    if (chunk != NULL)
        e.chunk = *chunk;
    s->errors_sent++;
    return send_msg(&s->tr, &m);
}

int cache_xfer_sender_on_msg(cache_xfer_sender *s, const uint8_t *msg,
                             size_t len)
{
    cache__xfer_msg *req = NULL;
    int rv = cache__xfer_decode(msg, len, MAX_REQUEST, &req);
    if (rv != 0) {
        s->bad_requests++;
        return rv;
    }
    Couler__Cache__XferMsg m = COULER__CACHE__XFER_MSG__INIT;
    m.version = CACHE_FORMAT_VERSION;
    m.xfer_id = req->xfer_id;
    uint8_t *buf = NULL;
    size_t blen = 0;
    switch (req->body_case) {
    case COULER__CACHE__XFER_MSG__BODY_GET_MANIFEST: {
        cache_digest a;
        memcpy(a.b, req->get_manifest->artifact.data, CL_DIGEST_SIZE);
        int r = s->store.read_manifest(s->store.data, &a, &buf, &blen);
        if (r != 0) {
            rv = send_error(s, req->xfer_id, r, &req->get_manifest->artifact,
                            NULL);
            break;
        }
        Couler__Cache__ManifestData md = COULER__CACHE__MANIFEST_DATA__INIT;
        md.artifact = req->get_manifest->artifact;
        md.manifest = bin(buf, blen);
        m.body_case = COULER__CACHE__XFER_MSG__BODY_MANIFEST;
        m.manifest = &md;
        rv = send_msg(&s->tr, &m);
        if (rv == 0)
            s->manifests_sent++;
        break;
    }
    case COULER__CACHE__XFER_MSG__BODY_GET_CHUNK: {
        cache_digest c;
        memcpy(c.b, req->get_chunk->chunk.data, CL_DIGEST_SIZE);
        int r = s->store.read_chunk(s->store.data, &c,
                                    req->get_chunk->verify, &buf, &blen);
        if (r != 0) {
            rv = send_error(s, req->xfer_id, r, &req->get_chunk->artifact,
                            &req->get_chunk->chunk);
            break;
        }
        Couler__Cache__ChunkData cd = COULER__CACHE__CHUNK_DATA__INIT;
        cd.chunk = req->get_chunk->chunk;
        cd.data = bin(buf, blen);
        m.body_case = COULER__CACHE__XFER_MSG__BODY_CHUNK;
        m.chunk = &cd;
        rv = send_msg(&s->tr, &m);
        if (rv == 0) {
            s->chunks_sent++;
            s->bytes_sent += blen;
        }
        break;
    }
    default:
        s->bad_requests++;
        rv = CL_EPROTO;
        break;
    }
    cl_free(buf);
    cache__xfer_msg_free(req);
    return rv;
}

/* ---- receiver ----------------------------------------------------------- */

void cache_xfer_recv_opts_init(cache_xfer_recv_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->credit = 8;
    o->timeout_ms = 2000;
    o->max_retries = 5;
}

int cache_xfer_recv_new(const cache_digest *artifact,
                        const cache_xfer_recv_opts *o,
                        const cache_xfer_store *st,
                        const cache_xfer_transport *tr, cache_xfer_recv **out)
{
    if (o->credit == 0 || o->timeout_ms <= 0)
        return CL_EINVAL;
    cache_xfer_recv *r = cl_calloc(1, sizeof(*r));
    if (r == NULL)
        return CL_ENOMEM;
    r->inflight = cl_calloc(o->credit, sizeof(*r->inflight));
    if (r->inflight == NULL) {
        cl_free(r);
        return CL_ENOMEM;
    }
    r->artifact = *artifact;
    r->o = *o;
    r->st = *st;
    r->tr = *tr;
    r->state = CACHE_XFER_IDLE;
    cl_errmsg_clear(&r->why);
    *out = r;
    return 0;
}

void cache_xfer_recv_free(cache_xfer_recv *r)
{
    if (r == NULL)
        return;
    cl_free(r->manifest);
    cl_free(r->w);
    cl_free(r->inflight);
    cl_free(r);
}

enum cache_xfer_state cache_xfer_recv_state(const cache_xfer_recv *r)
{
    return r->state;
}

int cache_xfer_recv_error(const cache_xfer_recv *r, cl_errmsg *why)
{
    if (why != NULL)
        *why = r->why;
    return r->err;
}

void cache_xfer_recv_get_stats(const cache_xfer_recv *r,
                               cache_xfer_recv_stats *out)
{
    *out = r->stats;
}

static int fail(cache_xfer_recv *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(cache_xfer_recv *r, int code, const char *fmt, ...)
{
    char hex[CL_DIGEST_HEX_SIZE];
    va_list ap;
    va_start(ap, fmt);
    cl_errmsg_vset(&r->why, fmt, ap);
    va_end(ap);
    cl_errmsg_wrap(&r->why, "fetch %s", cache_digest_hex(&r->artifact, hex));
    r->state = CACHE_XFER_FAILED;
    r->err = code;
    r->ninflight = 0;
    return code;
}

static int send_get_manifest(cache_xfer_recv *r, int64_t now)
{
    Couler__Cache__XferMsg m = COULER__CACHE__XFER_MSG__INIT;
    Couler__Cache__GetManifest g = COULER__CACHE__GET_MANIFEST__INIT;
    m.version = CACHE_FORMAT_VERSION;
    m.xfer_id = r->o.xfer_id;
    m.body_case = COULER__CACHE__XFER_MSG__BODY_GET_MANIFEST;
    m.get_manifest = &g;
    g.artifact = bin(r->artifact.b, CL_DIGEST_SIZE);
    r->man_sent_at = now;
    r->stats.requests_sent++;
    return send_msg(&r->tr, &m);
}

static int send_get_chunk(cache_xfer_recv *r, struct want *w, int64_t now)
{
    Couler__Cache__XferMsg m = COULER__CACHE__XFER_MSG__INIT;
    Couler__Cache__GetChunk g = COULER__CACHE__GET_CHUNK__INIT;
    m.version = CACHE_FORMAT_VERSION;
    m.xfer_id = r->o.xfer_id;
    m.body_case = COULER__CACHE__XFER_MSG__BODY_GET_CHUNK;
    m.get_chunk = &g;
    g.artifact = bin(r->artifact.b, CL_DIGEST_SIZE);
    g.chunk = bin(w->d, CL_DIGEST_SIZE);
    g.verify = w->tries > 0;
    w->sent_at = now;
    r->stats.requests_sent++;
    return send_msg(&r->tr, &m);
}

int cache_xfer_recv_start(cache_xfer_recv *r, int64_t now)
{
    if (r->state != CACHE_XFER_IDLE)
        return CL_ESTATE;
    int rv = r->st.have_artifact(r->st.data, &r->artifact);
    if (rv == 0) {
        r->state = CACHE_XFER_DONE;
        return 0;
    }
    if (rv != CL_ENOENT)
        return fail(r, rv, "checking the local store: %s", cl_strerror(rv));
    r->state = CACHE_XFER_MANIFEST;
    r->man_tries = 0;
    rv = send_get_manifest(r, now);
    /* A send that fails is retried by tick like a lost message. */
    (void)rv;
    return 0;
}

static int commit(cache_xfer_recv *r)
{
    int rv =
        r->st.commit(r->st.data, &r->artifact, r->manifest, r->manifest_len);
    if (rv != 0)
        return fail(r, rv, "committing to the local store: %s",
                    cl_strerror(rv));
    r->state = CACHE_XFER_DONE;
    r->ninflight = 0;
    return 0;
}

/* pump - fill the credit window with new requests. */
static void pump(cache_xfer_recv *r, int64_t now)
{
    while (r->ninflight + r->checking < r->o.credit && r->next < r->nw) {
        struct want *w = &r->w[r->next];
        if (w->state == W_PENDING) {
            w->state = W_INFLIGHT;
            r->inflight[r->ninflight++] = r->next;
            (void)send_get_chunk(r, w, now);
        }
        r->next++;
    }
    if (r->ninflight > r->stats.max_in_flight)
        r->stats.max_in_flight = r->ninflight;
}

static void drop_inflight(cache_xfer_recv *r, size_t idx)
{
    for (uint32_t i = 0; i < r->ninflight; i++) {
        if (r->inflight[i] == idx) {
            r->inflight[i] = r->inflight[--r->ninflight];
            return;
        }
    }
}

static int cmp_want(const void *a, const void *b)
{
    return memcmp(((const struct want *)a)->d, ((const struct want *)b)->d,
                  CL_DIGEST_SIZE);
}

static int on_manifest(cache_xfer_recv *r,
                       const Couler__Cache__ManifestData *md, int64_t now)
{
    if (r->state != CACHE_XFER_MANIFEST) {
        r->stats.duplicates++;
        return 0;
    }
    if (memcmp(md->artifact.data, r->artifact.b, CL_DIGEST_SIZE) != 0) {
        r->stats.stray++;
        return 0;
    }
    cache__manifest *m = NULL;
    cl_errmsg why;
    cl_errmsg_clear(&why);
    int rv =
        cache__manifest_decode(md->manifest.data, md->manifest.len, &m, &why);
    if (rv == 0) {
        cache_digest got;
        cache__manifest_digest(m, &got);
        if (!cache_digest_equal(&got, &r->artifact)) {
            rv = CL_ECORRUPT;
            cl_errmsg_set(&why, "manifest does not match the digest");
        }
    }
    if (rv == CL_ENOMEM)
        return fail(r, rv, "out of memory");
    if (rv != 0) {
        cache__manifest_free(m);
        r->stats.corrupt++;
        if (++r->man_tries > r->o.max_retries)
            return fail(r, CL_ECORRUPT, "bad manifest from the peer: %s",
                        why.msg);
        r->stats.retries++;
        (void)send_get_manifest(r, now);
        return 0;
    }
    /* The distinct chunks, with their lengths. */
    size_t total = 0;
    for (size_t i = 0; i < m->n_nodes; i++)
        total += m->nodes[i]->n_chunks;
    struct want *w = total > 0 ? cl_calloc(total, sizeof(*w)) : NULL;
    uint8_t *copy = cl_malloc(md->manifest.len ? md->manifest.len : 1);
    if ((total > 0 && w == NULL) || copy == NULL) {
        cl_free(w);
        cl_free(copy);
        cache__manifest_free(m);
        return fail(r, CL_ENOMEM, "out of memory");
    }
    size_t n = 0;
    for (size_t i = 0; i < m->n_nodes; i++) {
        const Couler__Cache__Node *nd = m->nodes[i];
        uint64_t left = nd->size;
        for (size_t j = 0; j < nd->n_chunks; j++) {
            uint32_t sz =
                left < CACHE_CHUNK_SIZE ? (uint32_t)left : CACHE_CHUNK_SIZE;
            left -= sz;
            memcpy(w[n].d, nd->chunks[j].data, CL_DIGEST_SIZE);
            w[n].size = sz;
            n++;
        }
    }
    cache__manifest_free(m);
    if (n > 1)
        qsort(w, n, sizeof(*w), cmp_want);
    /* Drop duplicates and the chunks the store already holds (resume). */
    size_t k = 0;
    uint8_t last[CL_DIGEST_SIZE];
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && memcmp(last, w[i].d, CL_DIGEST_SIZE) == 0)
            continue;
        memcpy(last, w[i].d, CL_DIGEST_SIZE);
        r->stats.chunks_total++;
        cache_digest c;
        memcpy(c.b, w[i].d, CL_DIGEST_SIZE);
        int h = r->st.have_chunk(r->st.data, &c);
        if (h == 0) {
            r->stats.chunks_present++;
            continue;
        }
        if (h != CL_ENOENT) {
            cl_free(w);
            cl_free(copy);
            return fail(r, h, "checking the local store: %s", cl_strerror(h));
        }
        w[k++] = w[i];
    }
    memcpy(copy, md->manifest.data, md->manifest.len);
    r->manifest = copy;
    r->manifest_len = md->manifest.len;
    r->w = w;
    r->nw = k;
    r->next = 0;
    r->ndone = 0;
    r->state = CACHE_XFER_CHUNKS;
    if (k == 0)
        return commit(r);
    pump(r, now);
    return 0;
}

/* chunk_outcome - what a checked chunk (w) comes to: rv 0 written,
 * CL_ECORRUPT asked again (with `verify`), else the receiver fails. */
static int chunk_outcome(cache_xfer_recv *r, struct want *w, int rv,
                         int64_t now)
{
    size_t idx = (size_t)(w - r->w);
    if (rv == CL_ECORRUPT) {
        char hex[CL_DIGEST_HEX_SIZE];
        r->stats.corrupt++;
        if (++w->tries > r->o.max_retries)
            return fail(r, CL_ECORRUPT,
                        "chunk %s failed its digest check %u times",
                        cl_hex(w->d, CL_DIGEST_SIZE, hex), w->tries);
        r->stats.retries++;
        if (w->state != W_INFLIGHT) {
            /* A late corrupt copy of a chunk not yet asked for: ask again
             * only when a slot is free (pump comes to it later). A chunk
             * that was being checked has just given its slot back. */
            if (w->state != W_CHECKING &&
                r->ninflight + r->checking >= r->o.credit)
                return 0;
            w->state = W_INFLIGHT;
            r->inflight[r->ninflight++] = idx;
        }
        (void)send_get_chunk(r, w, now);
        return 0;
    }
    if (rv != 0)
        return fail(r, rv, "writing a chunk to the local store: %s",
                    cl_strerror(rv));
    if (w->state == W_INFLIGHT)
        drop_inflight(r, idx);
    w->state = W_DONE;
    r->ndone++;
    r->stats.chunks_fetched++;
    r->stats.bytes_fetched += w->size;
    if (r->ndone == r->nw)
        return commit(r);
    pump(r, now);
    return 0;
}

int cache_xfer_check_write(const cache_xfer_store *st, const cache_digest *chunk,
                           const uint8_t *buf, size_t len)
{
    uint8_t got[CL_DIGEST_SIZE];
    cl_digest(buf, len, got);
    if (memcmp(got, chunk->b, CL_DIGEST_SIZE) != 0)
        return CL_ECORRUPT;
    return st->write_chunk(st->data, chunk, buf, len);
}

static int on_chunk(cache_xfer_recv *r, Couler__Cache__ChunkData *cd,
                    int64_t now)
{
    if (r->state != CACHE_XFER_CHUNKS) {
        r->stats.stray++;
        return 0;
    }
    struct want key;
    memcpy(key.d, cd->chunk.data, CL_DIGEST_SIZE);
    struct want *w = bsearch(&key, r->w, r->nw, sizeof(*r->w), cmp_want);
    if (w == NULL) {
        r->stats.stray++;
        return 0;
    }
    if (w->state == W_DONE || w->state == W_CHECKING) {
        r->stats.duplicates++;
        return 0;
    }
    cache_digest c;
    memcpy(c.b, w->d, CL_DIGEST_SIZE);
    if (cd->data.len != w->size)
        return chunk_outcome(r, w, CL_ECORRUPT, now);
    if (r->o.offload.start == NULL)
        return chunk_outcome(
            r, w, cache_xfer_check_write(&r->st, &c, cd->data.data,
                                         cd->data.len),
            now);
    /* The decoded reply's buffer goes to the job as it is. */
    uint8_t *buf = cd->data.data;
    size_t len = cd->data.len;
    cd->data.data = NULL;
    cd->data.len = 0;
    if (w->state == W_INFLIGHT)
        drop_inflight(r, (size_t)(w - r->w));
    w->state = W_CHECKING;
    r->checking++;
    int rv = r->o.offload.start(r->o.offload.data, r, &c, buf, len);
    if (rv != 0) {
        r->checking--;
        w->state = W_PENDING;
        return fail(r, rv, "cannot check a chunk: %s", cl_strerror(rv));
    }
    return 0;
}

int cache_xfer_recv_chunk_checked(cache_xfer_recv *r, const cache_digest *chunk,
                                  int rv, int64_t now)
{
    if (r->checking > 0)
        r->checking--;
    if (r->state != CACHE_XFER_CHUNKS)
        return 0;
    struct want key;
    memcpy(key.d, chunk->b, CL_DIGEST_SIZE);
    struct want *w = bsearch(&key, r->w, r->nw, sizeof(*r->w), cmp_want);
    if (w == NULL || w->state != W_CHECKING)
        return 0;
    return chunk_outcome(r, w, rv, now);
}

int cache_xfer_recv_on_msg(cache_xfer_recv *r, const uint8_t *msg, size_t len,
                           int64_t now)
{
    cache__xfer_msg *m = NULL;
    int rv = cache__xfer_decode(msg, len, CACHE_MAX_XFER_MSG, &m);
    if (rv != 0)
        return rv;
    if (m->xfer_id != r->o.xfer_id || r->state == CACHE_XFER_DONE ||
        r->state == CACHE_XFER_FAILED || r->state == CACHE_XFER_IDLE) {
        r->stats.stray++;
        cache__xfer_msg_free(m);
        return 0;
    }
    switch (m->body_case) {
    case COULER__CACHE__XFER_MSG__BODY_MANIFEST:
        rv = on_manifest(r, m->manifest, now);
        break;
    case COULER__CACHE__XFER_MSG__BODY_CHUNK:
        rv = on_chunk(r, m->chunk, now);
        break;
    case COULER__CACHE__XFER_MSG__BODY_ERROR: {
        const Couler__Cache__XferError *e = m->error;
        int code =
            e->code > 0 && e->code < CL_ERR_MAX_ ? (int)e->code : CL_EPROTO;
        if (e->artifact.len == CL_DIGEST_SIZE &&
            memcmp(e->artifact.data, r->artifact.b, CL_DIGEST_SIZE) != 0) {
            r->stats.stray++;
            break;
        }
        if (e->chunk.len == CL_DIGEST_SIZE) {
            char hex[CL_DIGEST_HEX_SIZE];
            rv = fail(r, code, "peer cannot serve chunk %s: %s",
                      cl_hex(e->chunk.data, CL_DIGEST_SIZE, hex),
                      cl_strerror(code));
        } else {
            rv = fail(r, code, "peer cannot serve it: %s", cl_strerror(code));
        }
        /* A peer's refusal is the transfer's outcome, not a bad call. */
        rv = 0;
        break;
    }
    default:
        r->stats.stray++;
        break;
    }
    cache__xfer_msg_free(m);
    return rv;
}

int cache_xfer_recv_tick(cache_xfer_recv *r, int64_t now)
{
    if (r->state == CACHE_XFER_MANIFEST) {
        if (now - r->man_sent_at < r->o.timeout_ms)
            return 0;
        if (++r->man_tries > r->o.max_retries)
            return fail(r, CL_ETIMEDOUT,
                        "peer lost: no manifest after %u requests",
                        r->man_tries);
        r->stats.retries++;
        (void)send_get_manifest(r, now);
        return 0;
    }
    if (r->state != CACHE_XFER_CHUNKS)
        return 0;
    for (uint32_t i = 0; i < r->ninflight; i++) {
        struct want *w = &r->w[r->inflight[i]];
        if (now - w->sent_at < r->o.timeout_ms)
            continue;
        if (++w->tries > r->o.max_retries) {
            char hex[CL_DIGEST_HEX_SIZE];
            return fail(r, CL_ETIMEDOUT,
                        "peer lost: chunk %s unanswered after %u requests "
                        "(%zu of %zu chunks fetched, kept for a resume)",
                        cl_hex(w->d, CL_DIGEST_SIZE, hex), w->tries, r->ndone,
                        r->nw);
        }
        r->stats.retries++;
        (void)send_get_chunk(r, w, now);
    }
    return 0;
}

int64_t cache_xfer_recv_next_timer(const cache_xfer_recv *r)
{
    if (r->state == CACHE_XFER_MANIFEST)
        return r->man_sent_at + r->o.timeout_ms;
    if (r->state != CACHE_XFER_CHUNKS || r->ninflight == 0)
        return INT64_MAX;
    int64_t t = INT64_MAX;
    for (uint32_t i = 0; i < r->ninflight; i++) {
        int64_t due = r->w[r->inflight[i]].sent_at + r->o.timeout_ms;
        if (due < t)
            t = due;
    }
    return t;
}
