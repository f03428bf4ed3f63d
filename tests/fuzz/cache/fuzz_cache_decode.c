/* fuzz_cache_decode - libFuzzer target over every decoder of network input
 * in cache/: transfer messages (and the transfer state machines fed with
 * them), entries and manifests.
 *
 * The first input byte picks the decoder; the rest is the message. The
 * transfer case drives a receiver (waiting for a manifest or for chunks)
 * and a sender, both over an in-memory store, so that every reply path of
 * the state machines sees hostile bytes. */
#include "cache/cache_int.h"

#include "common/cl_heap.h"

#include <string.h>

/* ---- an in-memory store holding one small artifact ---------------------- */

static const uint8_t CONTENT[] = "couler fuzz chunk";

struct mem {
    cache_digest art, chunk;
    uint8_t *manifest;
    size_t mlen;
    int writes;
};

static struct mem M;

static int m_read_manifest(void *data, const cache_digest *a, uint8_t **buf,
                           size_t *len)
{
    struct mem *m = data;
    if (!cache_digest_equal(a, &m->art))
        return CL_ENOENT;
    *buf = cl_malloc(m->mlen);
    if (*buf == NULL)
        return CL_ENOMEM;
    memcpy(*buf, m->manifest, m->mlen);
    *len = m->mlen;
    return 0;
}

static int m_read_chunk(void *data, const cache_digest *c, bool verify,
                        uint8_t **buf, size_t *len)
{
    (void)verify;
    struct mem *m = data;
    if (!cache_digest_equal(c, &m->chunk))
        return CL_ENOENT;
    *buf = cl_malloc(sizeof(CONTENT) - 1);
    if (*buf == NULL)
        return CL_ENOMEM;
    memcpy(*buf, CONTENT, sizeof(CONTENT) - 1);
    *len = sizeof(CONTENT) - 1;
    return 0;
}

static int m_have(void *data, const cache_digest *d)
{
    (void)data;
    (void)d;
    return CL_ENOENT;
}

static int m_write_chunk(void *data, const cache_digest *c, const uint8_t *buf,
                         size_t len)
{
    (void)c;
    (void)buf;
    (void)len;
    ((struct mem *)data)->writes++;
    return 0;
}

static int m_commit(void *data, const cache_digest *a, const uint8_t *buf,
                    size_t len)
{
    (void)a;
    cache__manifest *m = NULL;
    int rv = cache__manifest_decode(buf, len, &m, NULL);
    cache__manifest_free(m);
    (void)data;
    return rv;
}

static int sink(void *data, const uint8_t *buf, size_t len)
{
    (void)data;
    (void)buf;
    (void)len;
    return 0;
}

static void init_mem(void)
{
    if (M.manifest != NULL)
        return;
    cl_crypto_init();
    cl_digest(CONTENT, sizeof(CONTENT) - 1, M.chunk.b);
    cl_digest_state h;
    cache_digest content;
    cache__file_digest_init(&h, sizeof(CONTENT) - 1);
    cache__file_digest_chunk(&h, M.chunk.b);
    cache__file_digest_final(&h, &content);
    Couler__Cache__Manifest mf = COULER__CACHE__MANIFEST__INIT;
    Couler__Cache__Node node = COULER__CACHE__NODE__INIT;
    Couler__Cache__Node *pn = &node;
    ProtobufCBinaryData ch = {CL_DIGEST_SIZE, M.chunk.b};
    node.path = "";
    node.mode = 0644;
    node.size = sizeof(CONTENT) - 1;
    node.digest.data = content.b;
    node.digest.len = CL_DIGEST_SIZE;
    node.n_chunks = 1;
    node.chunks = &ch;
    mf.version = CACHE_FORMAT_VERSION;
    mf.chunk_size = CACHE_CHUNK_SIZE;
    mf.size = node.size;
    mf.n_nodes = 1;
    mf.nodes = &pn;
    cache__manifest_digest(&mf, &M.art);
    cache__pack(&mf.base, &M.manifest, &M.mlen);
}

static void fuzz_xfer(const uint8_t *data, size_t size)
{
    uint64_t id = 0;
    bool req = false;
    (void)cache_xfer_msg_id(data, size, &id, &req);

    cache_xfer_store st = {&M,     m_read_manifest, m_read_chunk, m_have,
                           m_have, m_write_chunk,   m_commit};
    cache_xfer_transport tr = {NULL, sink};
    cache_xfer_sender snd;
    cache_xfer_sender_init(&snd, &st, &tr);
    (void)cache_xfer_sender_on_msg(&snd, data, size);

    /* A receiver in each phase: fresh (waiting for the manifest), and one
     * that got the real manifest (waiting for chunks). */
    cache_xfer_recv_opts o;
    cache_xfer_recv_opts_init(&o);
    o.xfer_id = id; /* let the message reach the state machine */
    cache_xfer_recv *r = NULL;
    if (cache_xfer_recv_new(&M.art, &o, &st, &tr, &r) != 0)
        return;
    cache_xfer_recv_start(r, 0);
    (void)cache_xfer_recv_on_msg(r, data, size, 1);
    (void)cache_xfer_recv_tick(r, 5000);
    cache_xfer_recv_free(r);

    r = NULL;
    if (cache_xfer_recv_new(&M.art, &o, &st, &tr, &r) != 0)
        return;
    cache_xfer_recv_start(r, 0);
    Couler__Cache__XferMsg m = COULER__CACHE__XFER_MSG__INIT;
    Couler__Cache__ManifestData md = COULER__CACHE__MANIFEST_DATA__INIT;
    m.version = CACHE_FORMAT_VERSION;
    m.xfer_id = id;
    m.body_case = COULER__CACHE__XFER_MSG__BODY_MANIFEST;
    m.manifest = &md;
    md.artifact.data = M.art.b;
    md.artifact.len = CL_DIGEST_SIZE;
    md.manifest.data = M.manifest;
    md.manifest.len = M.mlen;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (cache__pack(&m.base, &buf, &len) == 0) {
        (void)cache_xfer_recv_on_msg(r, buf, len, 1);
        (void)cache_xfer_recv_on_msg(r, data, size, 2);
        (void)cache_xfer_recv_tick(r, 10000);
        cl_free(buf);
    }
    cache_xfer_recv_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_mem();
    if (size == 0)
        return 0;
    uint8_t which = data[0];
    data++;
    size--;
    switch (which % 3) {
    case 0:
        fuzz_xfer(data, size);
        break;
    case 1: {
        cache_entry *e = NULL;
        if (cache__entry_decode(data, size, &e) == 0) {
            (void)cache_entry_size(e);
            uint8_t *buf = NULL;
            size_t len = 0;
            if (cache__entry_encode(e, &buf, &len) == 0)
                cl_free(buf);
            cache_entry_free(e);
        }
        break;
    }
    default: {
        cache__manifest *m = NULL;
        if (cache__manifest_decode(data, size, &m, NULL) == 0) {
            cache_digest d;
            cache__manifest_digest(m, &d);
            cache__manifest_free(m);
        }
        break;
    }
    }
    return 0;
}
