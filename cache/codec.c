/* codec.c - protobuf images of entries, manifests and transfer messages,
 * their size-bounded validating decoders, and the artifact digests (pure).
 *
 * Artifact digests (all BLAKE2b-256, little-endian integers, str(s) = u64
 * length + bytes):
 *
 *   chunk   c_i = H(bytes of chunk i)          chunks of CACHE_CHUNK_SIZE
 *   content D   = H("couler-file-v1" 0x00  u64 size  u32 chunk_size
 *                   c_0 ... c_{n-1})
 *   file artifact
 *           A   = H("couler-artifact-v1" 0x00  u8 0  u32 mode  D)
 *   directory artifact
 *           A   = H("couler-artifact-v1" 0x00  u8 1  u32 root_mode  u64 n
 *                   then per node, sorted by path:
 *                   str(path) u8 kind u32 mode
 *                   (file: D) (symlink: str(target)) (dir: nothing))
 *
 * So a manifest is verified by recomputing A from it, and every chunk by
 * its own digest: every byte read back is covered.
 */
#include "cache/cache_int.h"

#include "common/cl_heap.h"

#include <stdlib.h>
#include <string.h>

/* ---- protobuf-c glue ---------------------------------------------------- */

static void *pb_alloc(void *data, size_t size)
{
    (void)data;
    return cl_malloc(size);
}

static void pb_free(void *data, void *ptr)
{
    (void)data;
    cl_free(ptr);
}

ProtobufCAllocator cache__pb_alloc = {pb_alloc, pb_free, NULL};

int cache__pack(const ProtobufCMessage *m, uint8_t **buf, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *b = cl_malloc(n > 0 ? n : 1);
    if (b == NULL)
        return CL_ENOMEM;
    size_t w = protobuf_c_message_pack(m, b);
    (void)w; /* equals n by contract */
    *buf = b;
    *len = n;
    return 0;
}

/* ---- digests ------------------------------------------------------------ */

static void h_u8(cl_digest_state *h, uint8_t v)
{
    cl_digest_update(h, &v, 1);
}

static void h_u32(cl_digest_state *h, uint32_t v)
{
    uint8_t b[4];
    cache__put_u32(b, v);
    cl_digest_update(h, b, 4);
}

static void h_u64(cl_digest_state *h, uint64_t v)
{
    uint8_t b[8];
    cache__put_u64(b, v);
    cl_digest_update(h, b, 8);
}

static void h_str(cl_digest_state *h, const char *s)
{
    size_t n = strlen(s);
    h_u64(h, n);
    cl_digest_update(h, s, n);
}

void cache__file_digest_init(cl_digest_state *h, uint64_t size)
{
    static const char domain[] = "couler-file-v1";
    cl_digest_init(h);
    cl_digest_update(h, domain, sizeof(domain));
    h_u64(h, size);
    h_u32(h, CACHE_CHUNK_SIZE);
}

void cache__file_digest_chunk(cl_digest_state *h, const uint8_t *chunk)
{
    cl_digest_update(h, chunk, CL_DIGEST_SIZE);
}

void cache__file_digest_final(cl_digest_state *h, cache_digest *out)
{
    cl_digest_final(h, out->b);
}

void cache__manifest_digest(const cache__manifest *m, cache_digest *out)
{
    static const char domain[] = "couler-artifact-v1";
    cl_digest_state h;
    cl_digest_init(&h);
    cl_digest_update(&h, domain, sizeof(domain));
    if (!m->is_dir) {
        const Couler__Cache__Node *n = m->n_nodes > 0 ? m->nodes[0] : NULL;
        h_u8(&h, 0);
        h_u32(&h, n != NULL ? n->mode : 0);
        uint8_t zero[CL_DIGEST_SIZE] = {0};
        cl_digest_update(&h,
                         n != NULL && n->digest.len == CL_DIGEST_SIZE
                             ? n->digest.data
                             : zero,
                         CL_DIGEST_SIZE);
    } else {
        h_u8(&h, 1);
        h_u32(&h, m->root_mode);
        h_u64(&h, m->n_nodes);
        for (size_t i = 0; i < m->n_nodes; i++) {
            const Couler__Cache__Node *n = m->nodes[i];
            h_str(&h, n->path);
            h_u8(&h, (uint8_t)n->kind);
            h_u32(&h, n->mode);
            if (n->kind == COULER__CACHE__NODE_KIND__NODE_FILE &&
                n->digest.len == CL_DIGEST_SIZE)
                cl_digest_update(&h, n->digest.data, CL_DIGEST_SIZE);
            else if (n->kind == COULER__CACHE__NODE_KIND__NODE_SYMLINK)
                h_str(&h, n->target);
        }
    }
    cl_digest_final(&h, out->b);
}

/* ---- paths and manifests ------------------------------------------------ */

bool cache__path_ok(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > CACHE_MAX_PATH || p[0] == '/' || p[n - 1] == '/')
        return false;
    const char *s = p;
    for (;;) {
        const char *e = strchr(s, '/');
        size_t len = e != NULL ? (size_t)(e - s) : strlen(s);
        if (len == 0 || (len == 1 && s[0] == '.') ||
            (len == 2 && s[0] == '.' && s[1] == '.'))
            return false;
        if (e == NULL)
            return true;
        s = e + 1;
    }
}

static int cmp_node_path(const void *key, const void *elem)
{
    const char *k = key;
    const Couler__Cache__Node *n = *(const Couler__Cache__Node *const *)elem;
    return strcmp(k, n->path);
}

/* parent_is_dir - the node's parent is the root or a directory node. */
static bool parent_is_dir(const cache__manifest *m, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return true;
    size_t plen = (size_t)(slash - path);
    char buf[CACHE_MAX_PATH + 1];
    memcpy(buf, path, plen);
    buf[plen] = '\0';
    Couler__Cache__Node **hit =
        bsearch(buf, m->nodes, m->n_nodes, sizeof(*m->nodes), cmp_node_path);
    return hit != NULL && (*hit)->kind == COULER__CACHE__NODE_KIND__NODE_DIR;
}

static int check_file(const Couler__Cache__Node *n, const char *what,
                      cl_errmsg *err)
{
    if (n->digest.len != CL_DIGEST_SIZE) {
        cl_errmsg_set(err, "manifest: %s: bad content digest", what);
        return CL_EPROTO;
    }
    uint64_t want =
        n->size / CACHE_CHUNK_SIZE + (n->size % CACHE_CHUNK_SIZE != 0 ? 1 : 0);
    if (n->n_chunks != want) {
        cl_errmsg_set(err, "manifest: %s: %zu chunks for %llu bytes", what,
                      n->n_chunks, (unsigned long long)n->size);
        return CL_EPROTO;
    }
    cl_digest_state h;
    cache__file_digest_init(&h, n->size);
    for (size_t i = 0; i < n->n_chunks; i++) {
        if (n->chunks[i].len != CL_DIGEST_SIZE) {
            cl_errmsg_set(err, "manifest: %s: bad chunk digest", what);
            return CL_EPROTO;
        }
        cache__file_digest_chunk(&h, n->chunks[i].data);
    }
    cache_digest d;
    cache__file_digest_final(&h, &d);
    if (memcmp(d.b, n->digest.data, CL_DIGEST_SIZE) != 0) {
        cl_errmsg_set(err,
                      "manifest: %s: content digest does not match "
                      "its chunks",
                      what);
        return CL_ECORRUPT;
    }
    if (n->target[0] != '\0') {
        cl_errmsg_set(err, "manifest: %s: a file with a link target", what);
        return CL_EPROTO;
    }
    return 0;
}

int cache__manifest_check(const cache__manifest *m, cl_errmsg *err)
{
    if (m->version != CACHE_FORMAT_VERSION) {
        cl_errmsg_set(err, "manifest: version %u (want %u)", m->version,
                      CACHE_FORMAT_VERSION);
        return CL_EVERSION;
    }
    if (m->chunk_size != CACHE_CHUNK_SIZE) {
        cl_errmsg_set(err, "manifest: chunk size %u (want %u)", m->chunk_size,
                      CACHE_CHUNK_SIZE);
        return CL_EPROTO;
    }
    if (m->root_mode > 07777) {
        cl_errmsg_set(err, "manifest: bad root mode %o", m->root_mode);
        return CL_EPROTO;
    }
    int rv;
    if (!m->is_dir) {
        if (m->n_nodes != 1 || m->nodes[0]->path[0] != '\0' ||
            m->nodes[0]->kind != COULER__CACHE__NODE_KIND__NODE_FILE) {
            cl_errmsg_set(err, "manifest: a file artifact needs one file "
                               "node with an empty path");
            return CL_EPROTO;
        }
        if (m->nodes[0]->mode > 07777) {
            cl_errmsg_set(err, "manifest: bad mode %o", m->nodes[0]->mode);
            return CL_EPROTO;
        }
        if ((rv = check_file(m->nodes[0], "file", err)) != 0)
            return rv;
        if (m->nodes[0]->size != m->size) {
            cl_errmsg_set(err, "manifest: size %llu, file holds %llu",
                          (unsigned long long)m->size,
                          (unsigned long long)m->nodes[0]->size);
            return CL_EPROTO;
        }
        return 0;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < m->n_nodes; i++) {
        const Couler__Cache__Node *n = m->nodes[i];
        if (!cache__path_ok(n->path)) {
            cl_errmsg_set(err, "manifest: unsafe path '%.200s'", n->path);
            return CL_EPROTO;
        }
        if (i > 0 && strcmp(m->nodes[i - 1]->path, n->path) >= 0) {
            cl_errmsg_set(err, "manifest: paths out of order at '%.200s'",
                          n->path);
            return CL_EPROTO;
        }
        if (n->mode > 07777) {
            cl_errmsg_set(err, "manifest: '%.200s': bad mode", n->path);
            return CL_EPROTO;
        }
        switch (n->kind) {
        case COULER__CACHE__NODE_KIND__NODE_FILE:
            if ((rv = check_file(n, n->path, err)) != 0)
                return rv;
            if (total + n->size < total) {
                cl_errmsg_set(err, "manifest: sizes overflow");
                return CL_EPROTO;
            }
            total += n->size;
            break;
        case COULER__CACHE__NODE_KIND__NODE_DIR:
        case COULER__CACHE__NODE_KIND__NODE_SYMLINK: {
            bool link = n->kind == COULER__CACHE__NODE_KIND__NODE_SYMLINK;
            size_t tl = strlen(n->target);
            if (n->size != 0 || n->n_chunks != 0 || n->digest.len != 0 ||
                (link && (tl == 0 || tl > CACHE_MAX_PATH)) ||
                (!link && tl != 0)) {
                cl_errmsg_set(err, "manifest: '%.200s': bad %s node", n->path,
                              link ? "symlink" : "directory");
                return CL_EPROTO;
            }
            break;
        }
        default:
            cl_errmsg_set(err, "manifest: '%.200s': unknown kind %d", n->path,
                          (int)n->kind);
            return CL_EPROTO;
        }
    }
    /* Second pass: parents exist (needs the whole sorted list). */
    for (size_t i = 0; i < m->n_nodes; i++) {
        if (!parent_is_dir(m, m->nodes[i]->path)) {
            cl_errmsg_set(err,
                          "manifest: '%.200s': parent is not a "
                          "directory of the artifact",
                          m->nodes[i]->path);
            return CL_EPROTO;
        }
    }
    if (total != m->size) {
        cl_errmsg_set(err, "manifest: size %llu, files hold %llu",
                      (unsigned long long)m->size, (unsigned long long)total);
        return CL_EPROTO;
    }
    return 0;
}

int cache__manifest_decode(const uint8_t *buf, size_t len,
                           cache__manifest **out, cl_errmsg *err)
{
    if (len > CACHE_MAX_MANIFEST) {
        cl_errmsg_set(err, "manifest: %zu bytes, limit %u", len,
                      CACHE_MAX_MANIFEST);
        return CL_ETOOBIG;
    }
    cache__manifest *m =
        couler__cache__manifest__unpack(&cache__pb_alloc, len, buf);
    if (m == NULL) {
        cl_errmsg_set(err, "manifest: malformed");
        return CL_EPROTO;
    }
    int rv = cache__manifest_check(m, err);
    if (rv != 0) {
        couler__cache__manifest__free_unpacked(m, &cache__pb_alloc);
        return rv;
    }
    *out = m;
    return 0;
}

void cache__manifest_free(cache__manifest *m)
{
    if (m != NULL)
        couler__cache__manifest__free_unpacked(m, &cache__pb_alloc);
}

/* ---- entries ------------------------------------------------------------ */

static char *s_or_empty(const char *s)
{
    return (char *)(s != NULL ? s : "");
}

int cache__entry_encode(const cache_entry *e, uint8_t **buf, size_t *len)
{
    Couler__Cache__Entry pb = COULER__CACHE__ENTRY__INIT;
    Couler__Cache__Param *params = NULL, **pparams = NULL;
    Couler__Cache__ArtifactRef *arts = NULL, **parts = NULL;
    int rv = CL_ENOMEM;
    if (e->nparams > 0) {
        params = cl_calloc(e->nparams, sizeof(*params));
        pparams = cl_calloc(e->nparams, sizeof(*pparams));
        if (params == NULL || pparams == NULL)
            goto out;
    }
    if (e->nartifacts > 0) {
        arts = cl_calloc(e->nartifacts, sizeof(*arts));
        parts = cl_calloc(e->nartifacts, sizeof(*parts));
        if (arts == NULL || parts == NULL)
            goto out;
    }
    pb.version = CACHE_FORMAT_VERSION;
    for (size_t i = 0; i < e->nparams; i++) {
        couler__cache__param__init(&params[i]);
        params[i].name = s_or_empty(e->params[i].name);
        params[i].value = s_or_empty(e->params[i].value);
        pparams[i] = &params[i];
    }
    pb.n_params = e->nparams;
    pb.params = pparams;
    pb.has_result = e->result != NULL;
    pb.result = s_or_empty(e->result);
    pb.exit_code = e->exit_code;
    for (size_t i = 0; i < e->nartifacts; i++) {
        const cache_artifact_ref *a = &e->artifacts[i];
        couler__cache__artifact_ref__init(&arts[i]);
        arts[i].name = s_or_empty(a->name);
        arts[i].digest.data = (uint8_t *)a->digest.b;
        arts[i].digest.len = CL_DIGEST_SIZE;
        arts[i].size = a->size;
        arts[i].is_dir = a->is_dir;
        arts[i].node = s_or_empty(a->node);
        parts[i] = &arts[i];
    }
    pb.n_artifacts = e->nartifacts;
    pb.artifacts = parts;
    pb.producer = s_or_empty(e->producer);
    pb.created_ms = e->created_ms;
    pb.last_used_ms = e->last_used_ms;
    pb.hits = e->hits;
    pb.compute_ms = e->compute_ms;
    pb.upstream_ms = e->upstream_ms;
    pb.consumers = e->consumers;
    pb.downstream_weight = e->downstream_weight;
    pb.max_age_ms = e->max_age_ms;
    pb.memo_cache = s_or_empty(e->memo_cache);
    pb.memo_key = s_or_empty(e->memo_key);
    rv = cache__pack(&pb.base, buf, len);
out:
    cl_free(params);
    cl_free(pparams);
    cl_free(arts);
    cl_free(parts);
    return rv;
}

static const char *empty_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

int cache__entry_decode(const uint8_t *buf, size_t len, cache_entry **out)
{
    if (len > CACHE_MAX_ENTRY)
        return CL_ETOOBIG;
    Couler__Cache__Entry *pb =
        couler__cache__entry__unpack(&cache__pb_alloc, len, buf);
    if (pb == NULL)
        return CL_EPROTO;
    int rv = CL_EVERSION;
    if (pb->version != CACHE_FORMAT_VERSION)
        goto fail;
    rv = CL_EPROTO;
    for (size_t i = 0; i < pb->n_artifacts; i++)
        if (pb->artifacts[i]->digest.len != CL_DIGEST_SIZE)
            goto fail;
    rv = CL_ENOMEM;
    size_t sz = sizeof(cache_entry) + pb->n_params * sizeof(cache_kv) +
                pb->n_artifacts * sizeof(cache_artifact_ref);
    cache_entry *e = cl_calloc(1, sz);
    if (e == NULL)
        goto fail;
    cache_kv *params = (cache_kv *)(e + 1);
    cache_artifact_ref *arts = (cache_artifact_ref *)(params + pb->n_params);
    for (size_t i = 0; i < pb->n_params; i++) {
        params[i].name = pb->params[i]->name;
        params[i].value = pb->params[i]->value;
    }
    for (size_t i = 0; i < pb->n_artifacts; i++) {
        const Couler__Cache__ArtifactRef *a = pb->artifacts[i];
        arts[i].name = a->name;
        memcpy(arts[i].digest.b, a->digest.data, CL_DIGEST_SIZE);
        arts[i].size = a->size;
        arts[i].is_dir = a->is_dir;
        arts[i].node = empty_null(a->node);
    }
    e->params = params;
    e->nparams = pb->n_params;
    e->result = pb->has_result ? pb->result : NULL;
    e->exit_code = pb->exit_code;
    e->artifacts = arts;
    e->nartifacts = pb->n_artifacts;
    e->producer = empty_null(pb->producer);
    e->created_ms = pb->created_ms;
    e->last_used_ms = pb->last_used_ms;
    e->hits = pb->hits;
    e->compute_ms = pb->compute_ms;
    e->upstream_ms = pb->upstream_ms;
    e->consumers = pb->consumers;
    e->downstream_weight = pb->downstream_weight;
    e->max_age_ms = pb->max_age_ms;
    e->memo_cache = empty_null(pb->memo_cache);
    e->memo_key = empty_null(pb->memo_key);
    e->priv_ = pb;
    *out = e;
    return 0;
fail:
    couler__cache__entry__free_unpacked(pb, &cache__pb_alloc);
    return rv;
}

void cache_entry_free(cache_entry *e)
{
    if (e == NULL)
        return;
    if (e->priv_ != NULL)
        couler__cache__entry__free_unpacked(e->priv_, &cache__pb_alloc);
    cl_free(e);
}

uint64_t cache_entry_size(const cache_entry *e)
{
    uint64_t n = 0;
    for (size_t i = 0; i < e->nartifacts; i++)
        n += e->artifacts[i].size;
    return n;
}

/* ---- transfer messages -------------------------------------------------- */

static bool dig_ok(const ProtobufCBinaryData *b)
{
    return b->len == CL_DIGEST_SIZE;
}

static bool dig_opt(const ProtobufCBinaryData *b)
{
    return b->len == 0 || b->len == CL_DIGEST_SIZE;
}

int cache__xfer_decode(const uint8_t *buf, size_t len, size_t max_len,
                       cache__xfer_msg **out)
{
    if (len > max_len || len > CACHE_MAX_XFER_MSG)
        return CL_ETOOBIG;
    cache__xfer_msg *m =
        couler__cache__xfer_msg__unpack(&cache__pb_alloc, len, buf);
    if (m == NULL)
        return CL_EPROTO;
    int rv = CL_EVERSION;
    if (m->version != CACHE_FORMAT_VERSION)
        goto fail;
    rv = CL_EPROTO;
    switch (m->body_case) {
    case COULER__CACHE__XFER_MSG__BODY_GET_MANIFEST:
        if (m->get_manifest == NULL || !dig_ok(&m->get_manifest->artifact))
            goto fail;
        break;
    case COULER__CACHE__XFER_MSG__BODY_MANIFEST:
        if (m->manifest == NULL || !dig_ok(&m->manifest->artifact) ||
            m->manifest->manifest.len > CACHE_MAX_MANIFEST)
            goto fail;
        break;
    case COULER__CACHE__XFER_MSG__BODY_GET_CHUNK:
        if (m->get_chunk == NULL || !dig_ok(&m->get_chunk->artifact) ||
            !dig_ok(&m->get_chunk->chunk))
            goto fail;
        break;
    case COULER__CACHE__XFER_MSG__BODY_CHUNK:
        if (m->chunk == NULL || !dig_ok(&m->chunk->chunk) ||
            m->chunk->data.len > CACHE_CHUNK_SIZE)
            goto fail;
        break;
    case COULER__CACHE__XFER_MSG__BODY_ERROR:
        if (m->error == NULL || !dig_opt(&m->error->artifact) ||
            !dig_opt(&m->error->chunk))
            goto fail;
        break;
    default:
        goto fail;
    }
    *out = m;
    return 0;
fail:
    couler__cache__xfer_msg__free_unpacked(m, &cache__pb_alloc);
    return rv;
}

void cache__xfer_msg_free(cache__xfer_msg *m)
{
    if (m != NULL)
        couler__cache__xfer_msg__free_unpacked(m, &cache__pb_alloc);
}

int cache_xfer_msg_id(const uint8_t *msg, size_t len, uint64_t *xfer_id,
                      bool *is_request)
{
    cache__xfer_msg *m = NULL;
    int rv = cache__xfer_decode(msg, len, CACHE_MAX_XFER_MSG, &m);
    if (rv != 0)
        return rv;
    *xfer_id = m->xfer_id;
    *is_request = m->body_case == COULER__CACHE__XFER_MSG__BODY_GET_MANIFEST ||
                  m->body_case == COULER__CACHE__XFER_MSG__BODY_GET_CHUNK;
    cache__xfer_msg_free(m);
    return 0;
}

/* ---- digest set --------------------------------------------------------- */

void cache__dset_init(cache__dset *s)
{
    memset(s, 0, sizeof(*s));
}

void cache__dset_free(cache__dset *s)
{
    cl_free(s->slots);
    cl_free(s->counts);
    cl_free(s->used);
    memset(s, 0, sizeof(*s));
}

static size_t dset_find(const cache__dset *s, const uint8_t *d)
{
    uint64_t h;
    memcpy(&h, d, sizeof(h)); /* digests are uniform already */
    size_t i = (size_t)(h & (s->cap - 1));
    while (s->used[i] &&
           memcmp(s->slots + i * CL_DIGEST_SIZE, d, CL_DIGEST_SIZE) != 0)
        i = (i + 1) & (s->cap - 1);
    return i;
}

static int dset_grow(cache__dset *s)
{
    size_t cap = s->cap ? s->cap * 2 : 64;
    cache__dset n = {0};
    n.cap = cap;
    n.slots = cl_malloc(cap * CL_DIGEST_SIZE);
    n.counts = cl_calloc(cap, sizeof(*n.counts));
    n.used = cl_calloc(cap, sizeof(*n.used));
    if (n.slots == NULL || n.counts == NULL || n.used == NULL) {
        cache__dset_free(&n);
        return CL_ENOMEM;
    }
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->used[i])
            continue;
        size_t j = dset_find(&n, s->slots + i * CL_DIGEST_SIZE);
        memcpy(n.slots + j * CL_DIGEST_SIZE, s->slots + i * CL_DIGEST_SIZE,
               CL_DIGEST_SIZE);
        n.counts[j] = s->counts[i];
        n.used[j] = true;
    }
    n.n = s->n;
    cache__dset_free(s);
    *s = n;
    return 0;
}

int cache__dset_add(cache__dset *s, const uint8_t *d)
{
    if ((s->n + 1) * 2 > s->cap) {
        int rv = dset_grow(s);
        if (rv != 0)
            return rv;
    }
    size_t i = dset_find(s, d);
    if (!s->used[i]) {
        s->used[i] = true;
        memcpy(s->slots + i * CL_DIGEST_SIZE, d, CL_DIGEST_SIZE);
        s->n++;
    }
    s->counts[i]++;
    return 0;
}

uint32_t cache__dset_get(const cache__dset *s, const uint8_t *d)
{
    if (s->cap == 0)
        return 0;
    size_t i = dset_find(s, d);
    return s->used[i] ? s->counts[i] : 0;
}

uint32_t cache__dset_dec(cache__dset *s, const uint8_t *d)
{
    if (s->cap == 0)
        return 0;
    size_t i = dset_find(s, d);
    if (!s->used[i] || s->counts[i] == 0)
        return 0;
    return --s->counts[i];
}
