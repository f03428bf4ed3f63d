/* artifact.c - content-addressed artifacts in the store: import, export,
 * same-node hand-over, checks, removal, and the store side of the transfer
 * protocol.
 *
 * Where the bytes live (see cache/README.md for the reasoning):
 *
 * - chunks CF  'd' + chunk digest  -> up to 1 MiB of content (BlobDB)
 *              'r' + chunk digest  -> ChunkRef: how many manifests list it
 * - artifacts  'm' + artifact digest -> Manifest (immutable)
 *              'i' + artifact digest -> ArtifactInfo (size, times)
 *              'b' + content digest + u32 mode -> BlobStamp
 * - dir/blobs/<content digest hex>.<mode octal>: whole files written from
 *   verified chunks on first hand-over, then hard-linked or reflinked to
 *   consumers on this node. A cache of the chunks, never the only copy.
 */
#include "cache/cache_int.h"

#include "common/cl_heap.h"
#include "common/cl_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <linux/fs.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Imports up to this size go to the database in one WAL batch; larger ones
 * skip the WAL and flush the chunk family before the manifest commits. */
#define SMALL_IMPORT (4u << 20)
#define STAGE_BYTES (8u << 20)
#define MAX_DEPTH 256

static atomic_uint tmp_seq;

static void mkkey(uint8_t *out, uint8_t prefix, const uint8_t *d)
{
    out[0] = prefix;
    memcpy(out + 1, d, CL_DIGEST_SIZE);
}

static const char *hexd(const uint8_t *d, char *buf)
{
    return cl_hex(d, CL_DIGEST_SIZE, buf);
}

static int sys_err(cl_errmsg *err, const char *what, const char *path)
{
    int e = errno;
    cl_errmsg_set(err, "%s '%s': %s", what, path, strerror(e));
    return cl_err_from_errno(e);
}

/* ---- chunk references --------------------------------------------------- */

static int get_ref(cache_store *s, const uint8_t *d, Couler__Cache__ChunkRef *r,
                   cl_errmsg *err)
{
    uint8_t k[1 + CL_DIGEST_SIZE];
    mkkey(k, CACHE__P_REF, d);
    couler__cache__chunk_ref__init(r);
    cache__rdb_val v;
    int rv = cache__rdb_get(s->db, CACHE__CF_CHUNKS, k, sizeof(k), &v, err);
    if (rv != 0)
        return rv;
    Couler__Cache__ChunkRef *u = couler__cache__chunk_ref__unpack(
        &cache__pb_alloc, v.len, (const uint8_t *)v.data);
    cache__rdb_val_free(&v);
    if (u == NULL)
        return CL_ECORRUPT;
    r->refs = u->refs;
    r->size = u->size;
    r->created_ms = u->created_ms;
    r->missing = u->missing;
    couler__cache__chunk_ref__free_unpacked(u, &cache__pb_alloc);
    return 0;
}

static void put_ref(cache__rdb_batch *b, const uint8_t *d,
                    const Couler__Cache__ChunkRef *r)
{
    uint8_t k[1 + CL_DIGEST_SIZE], buf[64];
    mkkey(k, CACHE__P_REF, d);
    size_t n = couler__cache__chunk_ref__pack(r, buf);
    cache__rdb_batch_put(b, CACHE__CF_CHUNKS, k, sizeof(k), buf, n);
}

/* drop_chunk - a chunk failed its check: remove its data and mark it
 * missing, so that a re-import or re-fetch writes it again. */
static void drop_chunk(cache_store *s, const uint8_t *d)
{
    char hex[CL_DIGEST_HEX_SIZE];
    cache__count(s, &s->ctr.corrupt, 1);
    if (s->o.read_only)
        return;
    cl_errmsg m;
    cl_errmsg_clear(&m);
    cache__rdb_batch *wb = NULL;
    if (cache__rdb_batch_new(s->db, &wb) != 0)
        return;
    pthread_mutex_lock(&s->mu);
    Couler__Cache__ChunkRef r;
    if (get_ref(s, d, &r, &m) == 0 && !r.missing) {
        uint8_t k[1 + CL_DIGEST_SIZE];
        mkkey(k, CACHE__P_DATA, d);
        cache__rdb_batch_del(wb, CACHE__CF_CHUNKS, k, sizeof(k));
        r.missing = true;
        put_ref(wb, d, &r);
        cache__delta dl = {0};
        dl.chunks = -1;
        dl.chunk_bytes = -(int64_t)r.size;
        if (cache__write(s, wb, CACHE__RDB_SYNC, &dl, &m) != 0)
            CL_WARN("cache: removing corrupt chunk %s: %s", hexd(d, hex),
                    m.msg);
    }
    pthread_mutex_unlock(&s->mu);
    cache__rdb_batch_free(wb);
    CL_WARN("cache: chunk %s of '%s' failed its digest check; removed",
            hexd(d, hex), s->dir);
}

/* read_chunk - a chunk, checked against its digest (and its expected
 * length unless want is SIZE_MAX). v is freed by the caller. */
static int read_chunk(cache_store *s, const uint8_t *d, size_t want,
                      cache__rdb_val *v, cl_errmsg *err)
{
    char hex[CL_DIGEST_HEX_SIZE];
    uint8_t k[1 + CL_DIGEST_SIZE];
    mkkey(k, CACHE__P_DATA, d);
    cl_errmsg m;
    cl_errmsg_clear(&m);
    /* The digest check below covers every byte: RocksDB's CRC would be a
     * second pass over the same data. */
    int rv =
        cache__rdb_get_unchecked(s->db, CACHE__CF_CHUNKS, k, sizeof(k), v, &m);
    if (rv == CL_ENOENT) {
        cl_errmsg_set(err, "chunk %s is missing", hexd(d, hex));
        return rv;
    }
    if (rv == CL_ECORRUPT) {
        drop_chunk(s, d);
        cl_errmsg_set(err, "chunk %s: %s; removed", hexd(d, hex), m.msg);
        return rv;
    }
    if (rv != 0) {
        cl_errmsg_set(err, "chunk %s: %s", hexd(d, hex), m.msg);
        return rv;
    }
    uint8_t got[CL_DIGEST_SIZE];
    bool ok =
        v->len <= CACHE_CHUNK_SIZE && (want == SIZE_MAX || v->len == want);
    if (ok) {
        cl_digest(v->data, v->len, got);
        ok = memcmp(got, d, CL_DIGEST_SIZE) == 0;
    }
    if (!ok) {
        cache__rdb_val_free(v);
        drop_chunk(s, d);
        cl_errmsg_set(err, "chunk %s failed its digest check; removed",
                      hexd(d, hex));
        return CL_ECORRUPT;
    }
    return 0;
}

/* ---- manifests ---------------------------------------------------------- */

/* load_manifest - the decoded, checked manifest of artifact `d`; its packed
 * bytes too when `raw` is given (cl_malloc'd). */
static int load_manifest(cache_store *s, const uint8_t *d,
                         cache__manifest **out, uint8_t **raw, size_t *rawlen,
                         cl_errmsg *err)
{
    char hex[CL_DIGEST_HEX_SIZE];
    uint8_t k[1 + CL_DIGEST_SIZE];
    mkkey(k, CACHE__P_MANIFEST, d);
    cache__rdb_val v;
    int rv = cache__rdb_get(s->db, CACHE__CF_ARTIFACTS, k, sizeof(k), &v, err);
    if (rv == CL_ENOENT) {
        cl_errmsg_set(err, "no artifact %s", hexd(d, hex));
        return rv;
    }
    if (rv != 0)
        return rv;
    cache__manifest *m = NULL;
    rv = cache__manifest_decode((const uint8_t *)v.data, v.len, &m, err);
    if (rv == 0) {
        cache_digest got;
        cache__manifest_digest(m, &got);
        if (memcmp(got.b, d, CL_DIGEST_SIZE) != 0) {
            cl_errmsg_set(err, "manifest does not match its digest");
            rv = CL_ECORRUPT;
        }
    }
    if (rv == 0 && raw != NULL) {
        *raw = cl_malloc(v.len ? v.len : 1);
        if (*raw == NULL)
            rv = CL_ENOMEM;
        else {
            memcpy(*raw, v.data, v.len);
            *rawlen = v.len;
        }
    }
    cache__rdb_val_free(&v);
    if (rv != 0) {
        cache__manifest_free(m);
        if (rv != CL_ENOMEM) {
            cache__count(s, &s->ctr.corrupt, 1);
            cl_errmsg_wrap(err, "artifact %s", hexd(d, hex));
            return CL_ECORRUPT;
        }
        return rv;
    }
    *out = m;
    return 0;
}

/* unique_chunks - the distinct chunk digests of a manifest. */
static int unique_chunks(const cache__manifest *m, cache__dset *set)
{
    cache__dset_init(set);
    for (size_t i = 0; i < m->n_nodes; i++) {
        const Couler__Cache__Node *n = m->nodes[i];
        for (size_t j = 0; j < n->n_chunks; j++) {
            if (cache__dset_get(set, n->chunks[j].data) > 0)
                continue;
            int rv = cache__dset_add(set, n->chunks[j].data);
            if (rv != 0) {
                cache__dset_free(set);
                return rv;
            }
        }
    }
    return 0;
}

#define DSET_FOREACH(set, i, d)                                                \
    for (size_t i = 0; i < (set)->cap; i++)                                    \
        if ((set)->used[i] && ((d) = (set)->slots + i * CL_DIGEST_SIZE))

static void blob_name(cache_store *s, const uint8_t *content, uint32_t mode,
                      char *out, size_t len)
{
    char hex[CL_DIGEST_HEX_SIZE];
    snprintf(out, len, "%s/%s.%o", s->blob_dir, hexd(content, hex),
             mode & 0777);
}

static void blob_key(uint8_t *k, const uint8_t *content, uint32_t mode)
{
    k[0] = CACHE__P_BLOB;
    memcpy(k + 1, content, CL_DIGEST_SIZE);
    cache__put_u32(k + 1 + CL_DIGEST_SIZE, mode & 0777);
}

/* remove_blob_locked - drop a file of the hand-over area (caller holds
 * `mu`); its stamp is deleted through `wb`. */
static void remove_blob_locked(cache_store *s, const Couler__Cache__Node *n,
                               cache__rdb_batch *wb)
{
    char path[4200];
    blob_name(s, n->digest.data, n->mode, path, sizeof(path));
    struct stat st;
    if (lstat(path, &st) == 0 && unlink(path) == 0) {
        if (s->blobs > 0)
            s->blobs--;
        s->blob_bytes = s->blob_bytes > (uint64_t)st.st_size
                            ? s->blob_bytes - (uint64_t)st.st_size
                            : 0;
    }
    uint8_t k[1 + CL_DIGEST_SIZE + 4];
    blob_key(k, n->digest.data, n->mode);
    cache__rdb_batch_del(wb, CACHE__CF_ARTIFACTS, k, sizeof(k));
}

int cache__artifact_remove_locked(cache_store *s, const uint8_t *digest,
                                  cache__rdb_batch *wb, cache__delta *d,
                                  uint64_t *chunks_removed, cl_errmsg *err)
{
    uint8_t mk[1 + CL_DIGEST_SIZE], ik[1 + CL_DIGEST_SIZE];
    mkkey(mk, CACHE__P_MANIFEST, digest);
    mkkey(ik, CACHE__P_INFO, digest);
    uint64_t mbytes = 0;
    cache__rdb_val v;
    int rv =
        cache__rdb_get(s->db, CACHE__CF_ARTIFACTS, ik, sizeof(ik), &v, err);
    if (rv == 0) {
        Couler__Cache__ArtifactInfo *ai = couler__cache__artifact_info__unpack(
            &cache__pb_alloc, v.len, (const uint8_t *)v.data);
        if (ai != NULL)
            mbytes = ai->manifest_bytes;
        couler__cache__artifact_info__free_unpacked(ai, &cache__pb_alloc);
        cache__rdb_val_free(&v);
    } else if (rv != CL_ENOENT) {
        return rv;
    }
    cache__manifest *m = NULL;
    rv = load_manifest(s, digest, &m, NULL, NULL, err);
    if (rv == CL_ENOENT && mbytes == 0)
        return rv;
    if (rv == 0) {
        cache__dset set;
        if ((rv = unique_chunks(m, &set)) != 0) {
            cache__manifest_free(m);
            return rv;
        }
        const uint8_t *c;
        DSET_FOREACH(&set, i, c)
        {
            Couler__Cache__ChunkRef r;
            if (get_ref(s, c, &r, err) != 0)
                continue;
            if (r.refs > 0)
                r.refs--;
            if (r.refs > 0) {
                put_ref(wb, c, &r);
                continue;
            }
            uint8_t k[1 + CL_DIGEST_SIZE];
            mkkey(k, CACHE__P_DATA, c);
            cache__rdb_batch_del(wb, CACHE__CF_CHUNKS, k, sizeof(k));
            mkkey(k, CACHE__P_REF, c);
            cache__rdb_batch_del(wb, CACHE__CF_CHUNKS, k, sizeof(k));
            if (!r.missing) {
                d->chunks--;
                d->chunk_bytes -= r.size;
            }
            (*chunks_removed)++;
        }
        cache__dset_free(&set);
        for (size_t i = 0; i < m->n_nodes; i++)
            if (m->nodes[i]->kind == COULER__CACHE__NODE_KIND__NODE_FILE)
                remove_blob_locked(s, m->nodes[i], wb);
        cache__manifest_free(m);
    } else if (rv == CL_ECORRUPT) {
        char hex[CL_DIGEST_HEX_SIZE];
        CL_WARN("cache: removing artifact %s with an unreadable manifest; "
                "its chunks stay until their references are rebuilt",
                hexd(digest, hex));
    } else if (rv != CL_ENOENT) {
        return rv;
    }
    cache__rdb_batch_del(wb, CACHE__CF_ARTIFACTS, mk, sizeof(mk));
    cache__rdb_batch_del(wb, CACHE__CF_ARTIFACTS, ik, sizeof(ik));
    d->artifacts--;
    d->manifest_bytes -= (int64_t)mbytes;
    return 0;
}

/* ---- committing chunks and manifests ------------------------------------ */

/* ref_present - the ChunkRef of chunk c once its data (of `size` bytes)
 * is written: a new record, or a missing one made present again. Caller
 * holds `mu`. */
static int ref_present(cache_store *s, const uint8_t *c, uint32_t size,
                       int64_t now, Couler__Cache__ChunkRef *r, cache__delta *d,
                       cl_errmsg *err)
{
    int rv = get_ref(s, c, r, err);
    if (rv == CL_ENOENT) {
        couler__cache__chunk_ref__init(r);
        r->size = size;
        r->created_ms = now;
        d->chunks++;
        d->chunk_bytes += size;
        return 0;
    }
    if (rv != 0)
        return rv;
    if (r->missing) {
        r->missing = false;
        r->size = size;
        d->chunks++;
        d->chunk_bytes += size;
    }
    return 0;
}

/* A list of (digest, size) of chunks staged in the current batch. */
struct staged {
    uint8_t *dg; /* n * 32 */
    uint32_t *size;
    size_t n, cap;
    cache__dset set; /* the same digests, for lookups */
};

static void staged_free(struct staged *st)
{
    cl_free(st->dg);
    cl_free(st->size);
    cache__dset_free(&st->set);
    memset(st, 0, sizeof(*st));
}

static void staged_clear(struct staged *st)
{
    st->n = 0;
    cache__dset_free(&st->set);
    cache__dset_init(&st->set);
}

static int staged_add(struct staged *st, const uint8_t *d, uint32_t size)
{
    if (st->n == st->cap) {
        size_t cap = st->cap ? 2 * st->cap : 16;
        uint8_t *dg = cl_realloc(st->dg, cap * CL_DIGEST_SIZE);
        if (dg == NULL)
            return CL_ENOMEM;
        st->dg = dg;
        uint32_t *sz = cl_realloc(st->size, cap * sizeof(*sz));
        if (sz == NULL)
            return CL_ENOMEM;
        st->size = sz;
        st->cap = cap;
    }
    memcpy(st->dg + st->n * CL_DIGEST_SIZE, d, CL_DIGEST_SIZE);
    st->size[st->n] = size;
    st->n++;
    return cache__dset_add(&st->set, d);
}

/* flush_staged_locked - ChunkRefs for the staged chunks, then write `wb`
 * with `mode`. Caller holds `mu`. */
static int flush_staged_locked(cache_store *s, cache__rdb_batch *wb,
                               struct staged *st, enum cache__rdb_wmode mode,
                               int64_t now, cl_errmsg *err)
{
    cache__delta d = {0};
    for (size_t i = 0; i < st->n; i++) {
        Couler__Cache__ChunkRef r;
        int rv = ref_present(s, st->dg + i * CL_DIGEST_SIZE, st->size[i], now,
                             &r, &d, err);
        if (rv != 0) {
            cache__rdb_batch_clear(wb);
            return rv;
        }
        put_ref(wb, st->dg + i * CL_DIGEST_SIZE, &r);
    }
    int rv = cache__write(s, wb, mode, &d, err);
    staged_clear(st);
    return rv;
}

/* commit_locked - make artifact `digest` (manifest `m`, packed `raw`)
 * complete in the store: the chunks staged in `wb` (listed in `st`, may be
 * NULL) become present, every chunk of the manifest must be present, and
 * a new manifest adds one reference to each distinct chunk. Caller holds
 * `mu`. */
static int commit_locked(cache_store *s, const uint8_t *digest,
                         const cache__manifest *m, const uint8_t *raw,
                         size_t rawlen, cache__rdb_batch *wb, struct staged *st,
                         int64_t now, cl_errmsg *err)
{
    char hex[CL_DIGEST_HEX_SIZE];
    uint8_t mk[1 + CL_DIGEST_SIZE], ik[1 + CL_DIGEST_SIZE];
    mkkey(mk, CACHE__P_MANIFEST, digest);
    mkkey(ik, CACHE__P_INFO, digest);
    cache__rdb_val v;
    int rv =
        cache__rdb_get(s->db, CACHE__CF_ARTIFACTS, mk, sizeof(mk), &v, err);
    bool exists = rv == 0;
    if (exists)
        cache__rdb_val_free(&v);
    else if (rv != CL_ENOENT)
        return rv;
    cache__dset set;
    if ((rv = unique_chunks(m, &set)) != 0)
        return rv;
    cache__delta d = {0};
    uint64_t nfiles = 0;
    for (size_t i = 0; i < m->n_nodes; i++)
        if (m->nodes[i]->kind == COULER__CACHE__NODE_KIND__NODE_FILE)
            nfiles++;
    /* Sizes of staged chunks, by digest. */
    const uint8_t *c;
    DSET_FOREACH(&set, i, c)
    {
        Couler__Cache__ChunkRef r;
        bool staged = st != NULL && cache__dset_get(&st->set, c) > 0;
        if (staged) {
            uint32_t size = 0;
            for (size_t j = 0; j < st->n; j++)
                if (memcmp(st->dg + j * CL_DIGEST_SIZE, c, CL_DIGEST_SIZE) ==
                    0) {
                    size = st->size[j];
                    break;
                }
            rv = ref_present(s, c, size, now, &r, &d, err);
        } else {
            rv = get_ref(s, c, &r, err);
            if (rv == 0 && r.missing)
                rv = CL_ENOENT;
            if (rv == CL_ENOENT)
                cl_errmsg_set(err, "chunk %s is not in the store",
                              hexd(c, hex));
        }
        if (rv != 0)
            goto out;
        if (!exists)
            r.refs++;
        put_ref(wb, c, &r);
    }
    Couler__Cache__ArtifactInfo ai = COULER__CACHE__ARTIFACT_INFO__INIT;
    ai.size = m->size;
    ai.is_dir = m->is_dir;
    ai.nfiles = nfiles;
    ai.nchunks = set.n;
    ai.created_ms = now;
    ai.last_used_ms = now;
    ai.manifest_bytes = rawlen;
    if (exists) {
        rv =
            cache__rdb_get(s->db, CACHE__CF_ARTIFACTS, ik, sizeof(ik), &v, err);
        if (rv == 0) {
            Couler__Cache__ArtifactInfo *old =
                couler__cache__artifact_info__unpack(&cache__pb_alloc, v.len,
                                                     (const uint8_t *)v.data);
            if (old != NULL)
                ai.created_ms = old->created_ms;
            couler__cache__artifact_info__free_unpacked(old, &cache__pb_alloc);
            cache__rdb_val_free(&v);
        }
    } else {
        cache__rdb_batch_put(wb, CACHE__CF_ARTIFACTS, mk, sizeof(mk), raw,
                             rawlen);
        d.artifacts++;
        d.manifest_bytes += (int64_t)rawlen;
    }
    uint8_t ib[128];
    size_t in = couler__cache__artifact_info__pack(&ai, ib);
    cache__rdb_batch_put(wb, CACHE__CF_ARTIFACTS, ik, sizeof(ik), ib, in);
    rv = cache__write(s, wb, CACHE__RDB_SYNC, &d, err);
    if (st != NULL && rv == 0)
        staged_clear(st);
out:
    if (rv != 0)
        cache__rdb_batch_clear(wb);
    cache__dset_free(&set);
    return rv;
}

static void maybe_evict(cache_store *s)
{
    if (!s->o.auto_evict || s->o.capacity_bytes == 0)
        return;
    pthread_mutex_lock(&s->mu);
    bool over = cache__total(s) > s->o.capacity_bytes;
    pthread_mutex_unlock(&s->mu);
    if (!over)
        return;
    cl_errmsg m;
    cl_errmsg_clear(&m);
    if (cache_store_evict(s, NULL, &m) != 0)
        CL_WARN("%s", m.msg);
}

/* ---- import ------------------------------------------------------------- */

struct inode {
    char *path; /* cl_malloc'd; "" for a file artifact */
    int kind;
    uint32_t mode;
    uint64_t size;
    char *target;    /* symlinks */
    uint8_t *chunks; /* files: nchunks * 32 */
    size_t nchunks;
    uint8_t content[CL_DIGEST_SIZE];
};

struct walk {
    struct inode *v;
    size_t n, cap;
    uint64_t total;
    uint64_t nchunks;
};

static void walk_free(struct walk *w)
{
    for (size_t i = 0; i < w->n; i++) {
        cl_free(w->v[i].path);
        cl_free(w->v[i].target);
        cl_free(w->v[i].chunks);
    }
    cl_free(w->v);
    memset(w, 0, sizeof(*w));
}

static struct inode *walk_push(struct walk *w)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 32;
        struct inode *v = cl_realloc(w->v, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        w->v = v;
        w->cap = cap;
    }
    struct inode *n = &w->v[w->n++];
    memset(n, 0, sizeof(*n));
    return n;
}

static char *path_join(const char *rel, const char *name)
{
    size_t a = rel != NULL ? strlen(rel) : 0, b = strlen(name);
    char *p = cl_malloc(a + b + 2);
    if (p == NULL)
        return NULL;
    if (a > 0) {
        memcpy(p, rel, a);
        p[a++] = '/';
    }
    memcpy(p + a, name, b + 1);
    return p;
}

static int walk_dir(int dfd, const char *rel, const char *top, int depth,
                    struct walk *w, cl_errmsg *err)
{
    if (depth > MAX_DEPTH) {
        cl_errmsg_set(err, "'%s/%s': directories nested too deep", top, rel);
        return CL_ETOOBIG;
    }
    int fd = dup(dfd);
    if (fd < 0)
        return sys_err(err, "dup", top);
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return sys_err(err, "opendir", top);
    }
    int rv = 0;
    struct dirent *de;
    errno = 0;
    while (rv == 0 && (de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        char *path = path_join(rel, name);
        if (path == NULL) {
            rv = CL_ENOMEM;
            break;
        }
        if (strlen(path) > CACHE_MAX_PATH) {
            cl_errmsg_set(err, "'%s/%.100s...': path too long", top, path);
            cl_free(path);
            rv = CL_ETOOBIG;
            break;
        }
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rv = sys_err(err, "stat", path);
            cl_free(path);
            break;
        }
        struct inode *n = walk_push(w);
        if (n == NULL) {
            cl_free(path);
            rv = CL_ENOMEM;
            break;
        }
        n->path = path;
        n->mode = st.st_mode & 0777;
        if (S_ISREG(st.st_mode)) {
            n->kind = COULER__CACHE__NODE_KIND__NODE_FILE;
            n->size = (uint64_t)st.st_size;
            w->total += n->size;
        } else if (S_ISDIR(st.st_mode)) {
            n->kind = COULER__CACHE__NODE_KIND__NODE_DIR;
            int sub = openat(dfd, name,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                rv = sys_err(err, "open", path);
                break;
            }
            /* n may move when the array grows: keep the path by copy. */
            char *p = cl_strdup(path);
            if (p == NULL) {
                close(sub);
                rv = CL_ENOMEM;
                break;
            }
            rv = walk_dir(sub, p, top, depth + 1, w, err);
            cl_free(p);
            close(sub);
        } else if (S_ISLNK(st.st_mode)) {
            n->kind = COULER__CACHE__NODE_KIND__NODE_SYMLINK;
            n->mode = 0777;
            char buf[CACHE_MAX_PATH + 1];
            ssize_t l = readlinkat(dfd, name, buf, sizeof(buf));
            if (l < 0) {
                rv = sys_err(err, "readlink", path);
                break;
            }
            if (l == 0 || (size_t)l > CACHE_MAX_PATH) {
                cl_errmsg_set(err, "'%s': bad symlink target", path);
                rv = CL_ENOTSUP;
                break;
            }
            n->target = cl_strndup(buf, (size_t)l);
            if (n->target == NULL) {
                rv = CL_ENOMEM;
                break;
            }
        } else {
            cl_errmsg_set(err, "'%s': not a file, directory or symlink", path);
            rv = CL_ENOTSUP;
            break;
        }
        errno = 0;
    }
    if (rv == 0 && errno != 0)
        rv = sys_err(err, "readdir", top);
    closedir(d);
    return rv;
}

static int cmp_inode(const void *pa, const void *pb)
{
    const struct inode *a = pa, *b = pb;
    return strcmp(a->path, b->path);
}

struct imp {
    cache_store *s;
    cache__rdb_batch *wb;
    struct staged st;
    cache__dset seen; /* chunks this import already staged or found */
    uint64_t staged_bytes;
    bool small;
    bool wrote_nowal;
    uint8_t *buf;
    int64_t now;
};

static int have_chunk(cache_store *s, const uint8_t *d)
{
    Couler__Cache__ChunkRef r;
    cl_errmsg m;
    int rv = get_ref(s, d, &r, &m);
    if (rv != 0)
        return rv;
    return r.missing ? CL_ENOENT : 0;
}

static int imp_chunk(struct imp *im, const uint8_t *data, size_t len,
                     const uint8_t *d, cl_errmsg *err)
{
    if (cache__dset_get(&im->seen, d) > 0)
        return 0;
    int rv = cache__dset_add(&im->seen, d);
    if (rv != 0)
        return rv;
    rv = have_chunk(im->s, d);
    if (rv == 0)
        return 0;
    if (rv != CL_ENOENT)
        return rv;
    uint8_t k[1 + CL_DIGEST_SIZE];
    mkkey(k, CACHE__P_DATA, d);
    cache__rdb_batch_put(im->wb, CACHE__CF_CHUNKS, k, sizeof(k), data, len);
    if ((rv = staged_add(&im->st, d, (uint32_t)len)) != 0)
        return rv;
    im->staged_bytes += len;
    if (!im->small && im->staged_bytes >= STAGE_BYTES) {
        pthread_mutex_lock(&im->s->mu);
        rv = flush_staged_locked(im->s, im->wb, &im->st, CACHE__RDB_NOWAL,
                                 im->now, err);
        pthread_mutex_unlock(&im->s->mu);
        im->staged_bytes = 0;
        im->wrote_nowal = true;
    }
    return rv;
}

static int read_full(int fd, uint8_t *buf, size_t want, size_t *got)
{
    size_t n = 0;
    while (n < want) {
        ssize_t r = read(fd, buf + n, want - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    *got = n;
    return 0;
}

/* Chunks are read IMP_BATCH at a time and hashed by up to TEAM_MAX
 * threads (never more than the CPUs): BLAKE2b on one thread bounds an
 * import otherwise. The file digest then takes them in order. Exports and
 * hand-over files are written by such a team too (write_node). */
#define IMP_BATCH 8
#define TEAM_MAX 4

struct hash_batch {
    const uint8_t *buf; /* IMP_BATCH chunks, CACHE_CHUNK_SIZE apart */
    const size_t *lens;
    uint8_t *out; /* a digest per chunk */
    size_t n;
    atomic_size_t next;
};

static void *hash_chunks(void *p)
{
    struct hash_batch *b = p;
    for (size_t i; (i = atomic_fetch_add(&b->next, 1)) < b->n;)
        cl_digest(b->buf + i * CACHE_CHUNK_SIZE, b->lens[i],
                  b->out + i * CL_DIGEST_SIZE);
    return NULL;
}

/* run_team - fn(arg) on this thread and on up to `helpers` more, never more
 * threads than CPUs (counted once); returns when every one is done. */
static void run_team(void *(*fn)(void *), void *arg, size_t helpers)
{
    static atomic_long cpus;
    long n = atomic_load_explicit(&cpus, memory_order_relaxed);
    if (n == 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 1)
            n = 1;
        atomic_store_explicit(&cpus, n, memory_order_relaxed);
    }
    if (helpers > (size_t)n - 1)
        helpers = (size_t)n - 1;
    pthread_t th[TEAM_MAX - 1];
    size_t nth = 0;
    while (nth < helpers && nth < TEAM_MAX - 1 &&
           pthread_create(&th[nth], NULL, fn, arg) == 0)
        nth++;
    fn(arg);
    for (size_t i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
}

static void hash_batch_run(const uint8_t *buf, const size_t *lens, size_t n,
                           uint8_t *out)
{
    struct hash_batch b = {.buf = buf, .lens = lens, .out = out, .n = n};
    atomic_init(&b.next, 0);
    run_team(hash_chunks, &b, n - 1);
}

static int imp_file(struct imp *im, int fd, struct inode *n, const char *shown,
                    cl_errmsg *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return sys_err(err, "stat", shown);
    if ((uint64_t)st.st_size != n->size) {
        cl_errmsg_set(err, "'%s' changed while it was imported", shown);
        return CL_EIO;
    }
    size_t nchunks = (size_t)(n->size / CACHE_CHUNK_SIZE +
                              (n->size % CACHE_CHUNK_SIZE != 0));
    if (nchunks > 0) {
        n->chunks = cl_malloc(nchunks * CL_DIGEST_SIZE);
        if (n->chunks == NULL)
            return CL_ENOMEM;
    }
    n->nchunks = nchunks;
    cl_digest_state h;
    cache__file_digest_init(&h, n->size);
    uint64_t left = n->size;
    for (size_t i = 0; i < nchunks;) {
        size_t k = nchunks - i < IMP_BATCH ? nchunks - i : IMP_BATCH;
        size_t lens[IMP_BATCH];
        for (size_t j = 0; j < k; j++) {
            size_t want =
                left < CACHE_CHUNK_SIZE ? (size_t)left : CACHE_CHUNK_SIZE;
            size_t got = 0;
            if (read_full(fd, im->buf + j * CACHE_CHUNK_SIZE, want, &got) != 0)
                return sys_err(err, "read", shown);
            if (got != want) {
                cl_errmsg_set(err, "'%s' changed while it was imported",
                              shown);
                return CL_EIO;
            }
            lens[j] = got;
            left -= got;
        }
        uint8_t *d = n->chunks + i * CL_DIGEST_SIZE;
        hash_batch_run(im->buf, lens, k, d);
        for (size_t j = 0; j < k; j++) {
            cache__file_digest_chunk(&h, d + j * CL_DIGEST_SIZE);
            int rv = imp_chunk(im, im->buf + j * CACHE_CHUNK_SIZE, lens[j],
                               d + j * CL_DIGEST_SIZE, err);
            if (rv != 0)
                return rv;
        }
        i += k;
    }
    size_t extra = 0;
    if (read_full(fd, im->buf, 1, &extra) != 0)
        return sys_err(err, "read", shown);
    if (extra != 0) {
        cl_errmsg_set(err, "'%s' changed while it was imported", shown);
        return CL_EIO;
    }
    cache_digest c;
    cache__file_digest_final(&h, &c);
    memcpy(n->content, c.b, CL_DIGEST_SIZE);
    return 0;
}

/* build_manifest - the protobuf manifest over the walked nodes (pointers
 * into `w`, which must outlive it). Frees with free_manifest. */
struct built {
    Couler__Cache__Manifest m;
    Couler__Cache__Node *nodes;
    Couler__Cache__Node **pnodes;
    ProtobufCBinaryData *bins;
};

static void free_built(struct built *b)
{
    cl_free(b->nodes);
    cl_free(b->pnodes);
    cl_free(b->bins);
}

static int build_manifest(struct walk *w, bool is_dir, uint32_t root_mode,
                          struct built *b)
{
    memset(b, 0, sizeof(*b));
    couler__cache__manifest__init(&b->m);
    if (w->n > 0) {
        b->nodes = cl_calloc(w->n, sizeof(*b->nodes));
        b->pnodes = cl_calloc(w->n, sizeof(*b->pnodes));
        if (b->nodes == NULL || b->pnodes == NULL)
            goto oom;
    }
    size_t nbins = 0;
    for (size_t i = 0; i < w->n; i++)
        nbins += w->v[i].nchunks;
    if (nbins > 0 && (b->bins = cl_calloc(nbins, sizeof(*b->bins))) == NULL)
        goto oom;
    size_t bi = 0;
    for (size_t i = 0; i < w->n; i++) {
        struct inode *in = &w->v[i];
        Couler__Cache__Node *n = &b->nodes[i];
        couler__cache__node__init(n);
        n->path = in->path;
        n->kind = (Couler__Cache__NodeKind)in->kind;
        n->mode = in->mode;
        if (in->kind == COULER__CACHE__NODE_KIND__NODE_FILE) {
            n->size = in->size;
            n->digest.data = in->content;
            n->digest.len = CL_DIGEST_SIZE;
            n->n_chunks = in->nchunks;
            n->chunks = in->nchunks > 0 ? &b->bins[bi] : NULL;
            for (size_t j = 0; j < in->nchunks; j++) {
                b->bins[bi].data = in->chunks + j * CL_DIGEST_SIZE;
                b->bins[bi].len = CL_DIGEST_SIZE;
                bi++;
            }
        } else if (in->kind == COULER__CACHE__NODE_KIND__NODE_SYMLINK) {
            n->target = in->target;
        }
        b->pnodes[i] = n;
    }
    b->m.version = CACHE_FORMAT_VERSION;
    b->m.is_dir = is_dir;
    b->m.chunk_size = CACHE_CHUNK_SIZE;
    b->m.root_mode = is_dir ? root_mode : 0;
    b->m.size = w->total;
    b->m.n_nodes = w->n;
    b->m.nodes = b->pnodes;
    return 0;
oom:
    free_built(b);
    return CL_ENOMEM;
}

int cache_store_import(cache_store *s, const char *path,
                       cache_artifact_info *out, cl_errmsg *err)
{
    int rv = cache__writable(s, err);
    if (rv != 0)
        return rv;
    struct walk w;
    memset(&w, 0, sizeof(w));
    struct imp im;
    memset(&im, 0, sizeof(im));
    struct built b;
    memset(&b, 0, sizeof(b));
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    int rootfd = -1;
    bool is_dir = false;
    struct stat st;
    cache_digest digest;

    if (stat(path, &st) != 0) {
        rv = sys_err(err, "stat", path);
        goto out;
    }
    if (S_ISREG(st.st_mode)) {
        struct inode *n = walk_push(&w);
        if (n == NULL || (n->path = cl_strdup("")) == NULL) {
            rv = CL_ENOMEM;
            goto out;
        }
        n->kind = COULER__CACHE__NODE_KIND__NODE_FILE;
        n->mode = st.st_mode & 0777;
        n->size = (uint64_t)st.st_size;
        w.total = n->size;
    } else if (S_ISDIR(st.st_mode)) {
        is_dir = true;
        rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0) {
            rv = sys_err(err, "open", path);
            goto out;
        }
        if ((rv = walk_dir(rootfd, NULL, path, 0, &w, err)) != 0)
            goto out;
        if (w.n > 1)
            qsort(w.v, w.n, sizeof(*w.v), cmp_inode);
    } else {
        cl_errmsg_set(err, "'%s': not a file or directory", path);
        rv = CL_ENOTSUP;
        goto out;
    }
    uint64_t meta = (uint64_t)w.n * 128 + w.total / CACHE_CHUNK_SIZE * 40;
    if ((rv = cache__space(s, w.total + meta, "import", err)) != 0)
        goto out;

    im.s = s;
    im.small = w.total <= SMALL_IMPORT;
    im.now = cache__now(s);
    cache__dset_init(&im.seen);
    cache__dset_init(&im.st.set);
    im.buf = cl_malloc((size_t)IMP_BATCH * CACHE_CHUNK_SIZE);
    if (im.buf == NULL || cache__rdb_batch_new(s->db, &im.wb) != 0) {
        rv = CL_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < w.n; i++) {
        struct inode *n = &w.v[i];
        if (n->kind != COULER__CACHE__NODE_KIND__NODE_FILE)
            continue;
        int fd =
            is_dir ? openat(rootfd, n->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                   : open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            rv = sys_err(err, "open", is_dir ? n->path : path);
            goto out;
        }
        rv = imp_file(&im, fd, n, is_dir ? n->path : path, err);
        close(fd);
        if (rv != 0)
            goto out;
    }
    if ((rv = build_manifest(&w, is_dir, st.st_mode & 0777, &b)) != 0)
        goto out;
    cache__manifest_digest(&b.m, &digest);
    if ((rv = cache__pack(&b.m.base, &raw, &rawlen)) != 0)
        goto out;
    if (rawlen > CACHE_MAX_MANIFEST) {
        cl_errmsg_set(err,
                      "%zu files and directories make a manifest of "
                      "%zu bytes, over the %u byte limit",
                      w.n, rawlen, CACHE_MAX_MANIFEST);
        rv = CL_ETOOBIG;
        goto out;
    }
    if (!im.small) {
        pthread_mutex_lock(&s->mu);
        rv = flush_staged_locked(s, im.wb, &im.st, CACHE__RDB_NOWAL, im.now,
                                 err);
        pthread_mutex_unlock(&s->mu);
        if (rv == 0) {
            rv = cache__rdb_flush(s->db, CACHE__CF_CHUNKS, err);
            /* A failed flush leaves the database in its error state. */
            if (rv == CL_ENOSPC || rv == CL_EIO)
                s->failed = rv;
        }
        if (rv != 0)
            goto out;
    }
    pthread_mutex_lock(&s->mu);
    rv = commit_locked(s, digest.b, &b.m, raw, rawlen, im.wb, &im.st, im.now,
                       err);
    pthread_mutex_unlock(&s->mu);
    if (rv != 0)
        goto out;
    if (out != NULL) {
        memset(out, 0, sizeof(*out));
        out->digest = digest;
        out->size = w.total;
        out->is_dir = is_dir;
        for (size_t i = 0; i < w.n; i++)
            if (w.v[i].kind == COULER__CACHE__NODE_KIND__NODE_FILE)
                out->nfiles++;
        out->nchunks = im.seen.n;
        out->created_ms = im.now;
        out->last_used_ms = im.now;
    }
out:
    if (rv != 0)
        cl_errmsg_wrap(err, "cache: import '%s'", path);
    if (rootfd >= 0)
        close(rootfd);
    cl_free(raw);
    free_built(&b);
    cache__rdb_batch_free(im.wb);
    staged_free(&im.st);
    cache__dset_free(&im.seen);
    cl_free(im.buf);
    walk_free(&w);
    if (rv == 0)
        maybe_evict(s);
    return rv;
}

/* ---- export and hand-over ----------------------------------------------- */

/* pwrite_all - write all of buf at off (write_all when off < 0). */
static int pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = off < 0 ? write(fd, p, len) : pwrite(fd, p, len, off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
        if (off >= 0)
            off += w;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
    return pwrite_all(fd, buf, len, -1);
}

/* A file written from its chunks by several threads: each takes the next
 * chunk, checks it against its digest and writes it at its offset. The
 * digest check (BLAKE2b, about 700 MB/s on one thread) bounds an export or
 * a first hand-over otherwise. */
struct node_writer {
    cache_store *s;
    const Couler__Cache__Node *n;
    int fd;
    const char *name;
    atomic_size_t next;
    atomic_int failed;
    pthread_mutex_t mu;
    int rv; /* the first failure, under mu */
    cl_errmsg err;
};

static void *write_chunks(void *p)
{
    struct node_writer *w = p;
    const Couler__Cache__Node *n = w->n;
    for (;;) {
        size_t i = atomic_fetch_add(&w->next, 1);
        if (i >= n->n_chunks || atomic_load(&w->failed))
            break;
        uint64_t off = (uint64_t)i * CACHE_CHUNK_SIZE;
        size_t want = n->size - off < CACHE_CHUNK_SIZE
                          ? (size_t)(n->size - off)
                          : CACHE_CHUNK_SIZE;
        /* Chunk counts match sizes: manifests are checked when decoded. */
        cl_errmsg e;
        cl_errmsg_clear(&e);
        cache__rdb_val v;
        int rv = read_chunk(w->s, n->chunks[i].data, want, &v, &e);
        if (rv == 0) {
            if (pwrite_all(w->fd, v.data, v.len, (off_t)off) != 0)
                rv = sys_err(&e, "write", w->name);
            cache__rdb_val_free(&v);
        }
        if (rv != 0) {
            pthread_mutex_lock(&w->mu);
            if (w->rv == 0) {
                w->rv = rv;
                w->err = e;
            }
            pthread_mutex_unlock(&w->mu);
            atomic_store(&w->failed, 1);
            break;
        }
    }
    return NULL;
}

/* write_node - create file `name` under dirfd from the node's verified
 * chunks, with the node's mode. The file is removed on failure. */
static int write_node(cache_store *s, const Couler__Cache__Node *n, int dirfd,
                      const char *name, bool do_fsync, cl_errmsg *err)
{
    int fd = openat(dirfd, name,
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return sys_err(err, "create", name);
    struct node_writer w = {.s = s, .n = n, .fd = fd, .name = name};
    atomic_init(&w.next, 0);
    atomic_init(&w.failed, 0);
    pthread_mutex_init(&w.mu, NULL);
    cl_errmsg_clear(&w.err);
    /* Helpers only for files of several chunks; this thread works too. */
    run_team(write_chunks, &w, n->n_chunks / 2);
    pthread_mutex_destroy(&w.mu);
    int rv = w.rv;
    if (rv != 0 && err != NULL)
        *err = w.err;
    if (rv == 0 && ftruncate(fd, (off_t)n->size) != 0)
        rv = sys_err(err, "truncate", name);
    if (rv == 0 && fchmod(fd, n->mode & 0777) != 0)
        rv = sys_err(err, "chmod", name);
    if (rv == 0 && do_fsync && fsync(fd) != 0)
        rv = sys_err(err, "fsync", name);
    if (close(fd) != 0 && rv == 0)
        rv = sys_err(err, "close", name);
    if (rv != 0)
        unlinkat(dirfd, name, 0);
    return rv;
}

static int rm_cb(const char *p, const struct stat *sb, int flag,
                 struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(p);
    else
        unlink(p);
    return 0;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static char *tmp_name(const char *dest)
{
    size_t n = strlen(dest) + 64;
    char *p = cl_malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s.couler-tmp-%d-%u", dest, (int)getpid(),
                 atomic_fetch_add(&tmp_seq, 1));
    return p;
}

/* ensure_blob - the hand-over file of a node, written from verified chunks
 * when missing or changed since it was written. `path` receives its name. */
static int ensure_blob(cache_store *s, const Couler__Cache__Node *n, char *path,
                       size_t plen, cl_errmsg *err)
{
    blob_name(s, n->digest.data, n->mode, path, plen);
    uint8_t k[1 + CL_DIGEST_SIZE + 4];
    blob_key(k, n->digest.data, n->mode);
    struct stat st;
    int rv;
    if (lstat(path, &st) == 0) {
        cache__rdb_val v;
        bool same = false;
        if (cache__rdb_get(s->db, CACHE__CF_ARTIFACTS, k, sizeof(k), &v,
                           NULL) == 0) {
            Couler__Cache__BlobStamp *bs = couler__cache__blob_stamp__unpack(
                &cache__pb_alloc, v.len, (const uint8_t *)v.data);
            same = bs != NULL && S_ISREG(st.st_mode) &&
                   bs->size == (uint64_t)st.st_size &&
                   bs->ino == (uint64_t)st.st_ino &&
                   bs->mtime_ns == (int64_t)st.st_mtim.tv_sec * 1000000000 +
                                       st.st_mtim.tv_nsec;
            couler__cache__blob_stamp__free_unpacked(bs, &cache__pb_alloc);
            cache__rdb_val_free(&v);
        }
        if (same)
            return 0;
        /* Changed (or never stamped): it is rewritten from the chunks. */
        char hex[CL_DIGEST_HEX_SIZE];
        CL_WARN("cache: hand-over file %s changed since it was written; "
                "rewriting it",
                hexd(n->digest.data, hex));
        cache__count(s, &s->ctr.corrupt, 1);
        pthread_mutex_lock(&s->mu);
        if (unlink(path) == 0) {
            if (s->blobs > 0)
                s->blobs--;
            s->blob_bytes = s->blob_bytes > (uint64_t)st.st_size
                                ? s->blob_bytes - (uint64_t)st.st_size
                                : 0;
        }
        pthread_mutex_unlock(&s->mu);
    }
    if ((rv = cache__space(s, n->size, "hand-over", err)) != 0)
        return rv;
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s/.tmp-%d-%u", s->blob_dir, (int)getpid(),
             atomic_fetch_add(&tmp_seq, 1));
    if ((rv = write_node(s, n, AT_FDCWD, tmp, true, err)) != 0)
        return rv;
    if (rename(tmp, path) != 0) {
        rv = sys_err(err, "rename", tmp);
        unlink(tmp);
        return rv;
    }
    if (lstat(path, &st) != 0)
        return sys_err(err, "stat", path);
    Couler__Cache__BlobStamp bs = COULER__CACHE__BLOB_STAMP__INIT;
    bs.size = (uint64_t)st.st_size;
    bs.ino = (uint64_t)st.st_ino;
    bs.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    uint8_t buf[64];
    size_t bl = couler__cache__blob_stamp__pack(&bs, buf);
    cache__rdb_batch *wb = NULL;
    if ((rv = cache__rdb_batch_new(s->db, &wb)) != 0)
        return rv;
    cache__rdb_batch_put(wb, CACHE__CF_ARTIFACTS, k, sizeof(k), buf, bl);
    pthread_mutex_lock(&s->mu);
    s->blobs++;
    s->blob_bytes += (uint64_t)st.st_size;
    cache__delta none = {0};
    rv = cache__write(s, wb, CACHE__RDB_NOSYNC, &none, err);
    pthread_mutex_unlock(&s->mu);
    cache__rdb_batch_free(wb);
    return rv;
}

static int copy_fd(int src, int dst)
{
    char buf[1 << 16];
    for (;;) {
        ssize_t r = read(src, buf, sizeof(buf));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            return 0;
        if (write_all(dst, buf, (size_t)r) != 0)
            return -1;
    }
}

/* clone_or_link - give `name` under dirfd the content of the hand-over file
 * `blob` (open as `src`): 0 when reflinked or hard-linked, 1 when neither
 * works on this file system and a copy is needed, else an error (errno of a
 * failed link left in place for the caller). */
static int clone_or_link(const Couler__Cache__Node *n, const char *blob,
                         int src, int dirfd, const char *name,
                         enum cache_handover *how, cl_errmsg *err)
{
    int rv = 0;
    int dst =
        openat(dirfd, name,
               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (dst < 0)
        return sys_err(err, "create", name);
    if (ioctl(dst, FICLONE, src) == 0) {
        if (fchmod(dst, n->mode & 0777) != 0)
            rv = sys_err(err, "chmod", name);
        close(dst);
        if (rv == 0 && *how < CACHE_HANDOVER_REFLINK)
            *how = CACHE_HANDOVER_REFLINK;
        return rv;
    }
    close(dst);
    unlinkat(dirfd, name, 0);
    if (linkat(AT_FDCWD, blob, dirfd, name, 0) == 0) {
        if (*how < CACHE_HANDOVER_HARDLINK)
            *how = CACHE_HANDOVER_HARDLINK;
        return 0;
    }
    if (errno == EXDEV || errno == EPERM || errno == EMLINK ||
        errno == ENOTSUP)
        return 1;
    int e = errno;
    rv = sys_err(err, "link", name);
    errno = e;
    return rv;
}

/* hand_node - give the consumer `name` under dirfd the content of node n
 * from the hand-over area: reflink, else hard link, else copy. The file is
 * made and linked under the lock of its content, so that consumers of one
 * artifact handed over at once share one file; a gc that removes it between
 * the check and the link (ENOENT) has it made again. */
static int hand_node(cache_store *s, const Couler__Cache__Node *n, int dirfd,
                     const char *name, enum cache_handover *how, cl_errmsg *err)
{
    pthread_mutex_t *mu =
        &s->blob_mu[(n->digest.len > 0 ? n->digest.data[0] : 0) %
                    CACHE__BLOB_LOCKS];
    char blob[4200];
    int rv, src = -1;
    for (int tries = 0;; tries++) {
        pthread_mutex_lock(mu);
        rv = ensure_blob(s, n, blob, sizeof(blob), err);
        if (rv == 0 && (src = open(blob, O_RDONLY | O_CLOEXEC)) < 0)
            rv = sys_err(err, "open", blob);
        if (rv == 0)
            rv = clone_or_link(n, blob, src, dirfd, name, how, err);
        int e = errno;
        pthread_mutex_unlock(mu);
        if (rv == 1)
            break; /* copy, outside the lock: src stays readable */
        if (src >= 0)
            close(src);
        if (rv == 0 || e != ENOENT || tries == 3)
            return rv;
        cl_errmsg_clear(err);
        src = -1;
    }
    rv = 0;
    int dst = openat(dirfd, name,
                     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (dst < 0) {
        rv = sys_err(err, "create", name);
        close(src);
        return rv;
    }
    if (copy_fd(src, dst) != 0)
        rv = sys_err(err, "copy to", name);
    if (rv == 0 && fchmod(dst, n->mode & 0777) != 0)
        rv = sys_err(err, "chmod", name);
    if (close(dst) != 0 && rv == 0)
        rv = sys_err(err, "close", name);
    close(src);
    if (rv != 0)
        unlinkat(dirfd, name, 0);
    else
        *how = CACHE_HANDOVER_COPY;
    return rv;
}

/* materialize - export (hand == NULL) or hand over an artifact at dest. */
static int materialize(cache_store *s, const cache_digest *d, const char *dest,
                       enum cache_handover *hand, const char *what,
                       cl_errmsg *err)
{
    char hex[CL_DIGEST_HEX_SIZE];
    cache__manifest *m = NULL;
    char *tmp = NULL;
    int tmpfd = -1;
    int rv = load_manifest(s, d->b, &m, NULL, NULL, err);
    if (rv != 0)
        goto out;
    struct stat st;
    if (lstat(dest, &st) == 0) {
        cl_errmsg_set(err, "'%s' already exists", dest);
        rv = CL_EEXIST;
        goto out;
    }
    if ((tmp = tmp_name(dest)) == NULL) {
        rv = CL_ENOMEM;
        goto out;
    }
    if (!m->is_dir) {
        const Couler__Cache__Node *n = m->nodes[0];
        rv = hand != NULL ? hand_node(s, n, AT_FDCWD, tmp, hand, err)
                          : write_node(s, n, AT_FDCWD, tmp, false, err);
        if (rv != 0)
            goto out;
    } else {
        if (mkdir(tmp, 0700) != 0) {
            rv = sys_err(err, "mkdir", tmp);
            goto out;
        }
        tmpfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (tmpfd < 0) {
            rv = sys_err(err, "open", tmp);
            goto out;
        }
        for (size_t i = 0; i < m->n_nodes && rv == 0; i++) {
            const Couler__Cache__Node *n = m->nodes[i];
            switch (n->kind) {
            case COULER__CACHE__NODE_KIND__NODE_DIR:
                if (mkdirat(tmpfd, n->path, 0700) != 0)
                    rv = sys_err(err, "mkdir", n->path);
                break;
            case COULER__CACHE__NODE_KIND__NODE_SYMLINK:
                if (symlinkat(n->target, tmpfd, n->path) != 0)
                    rv = sys_err(err, "symlink", n->path);
                break;
            default:
                rv = hand != NULL
                         ? hand_node(s, n, tmpfd, n->path, hand, err)
                         : write_node(s, n, tmpfd, n->path, false, err);
                break;
            }
        }
        /* Modes of directories last, deepest first, so a read-only
         * directory does not stop its own filling. */
        for (size_t i = m->n_nodes; rv == 0 && i-- > 0;) {
            const Couler__Cache__Node *n = m->nodes[i];
            if (n->kind == COULER__CACHE__NODE_KIND__NODE_DIR &&
                fchmodat(tmpfd, n->path, n->mode & 0777, 0) != 0)
                rv = sys_err(err, "chmod", n->path);
        }
        if (rv == 0 && fchmod(tmpfd, m->root_mode & 0777) != 0)
            rv = sys_err(err, "chmod", dest);
        if (rv != 0)
            goto out;
    }
    if (rename(tmp, dest) != 0) {
        rv = sys_err(err, "rename to", dest);
        goto out;
    }
    cl_free(tmp);
    tmp = NULL;
out:
    if (tmpfd >= 0)
        close(tmpfd);
    if (tmp != NULL) {
        rm_rf(tmp);
        cl_free(tmp);
    }
    cache__manifest_free(m);
    if (rv != 0)
        cl_errmsg_wrap(err, "cache: %s %s", what, hexd(d->b, hex));
    return rv;
}

int cache_store_export(cache_store *s, const cache_digest *d, const char *dest,
                       cl_errmsg *err)
{
    return materialize(s, d, dest, NULL, "export", err);
}

int cache_store_handover(cache_store *s, const cache_digest *d,
                         const char *dest, enum cache_handover *how,
                         cl_errmsg *err)
{
    int rv = cache__writable(s, err);
    if (rv != 0)
        return rv;
    enum cache_handover h = 0;
    rv = materialize(s, d, dest, &h, "hand-over", err);
    if (how != NULL)
        *how = rv == 0 ? (h != 0 ? h : CACHE_HANDOVER_HARDLINK) : 0;
    return rv;
}

/* ---- stat, verify, remove ----------------------------------------------- */

int cache_store_artifact_stat(cache_store *s, const cache_digest *d,
                              cache_artifact_info *out, cl_errmsg *err)
{
    char hex[CL_DIGEST_HEX_SIZE];
    uint8_t k[1 + CL_DIGEST_SIZE];
    mkkey(k, CACHE__P_INFO, d->b);
    cache__rdb_val v;
    int rv = cache__rdb_get(s->db, CACHE__CF_ARTIFACTS, k, sizeof(k), &v, err);
    if (rv == CL_ENOENT)
        cl_errmsg_set(err, "cache: no artifact %s", hexd(d->b, hex));
    if (rv != 0)
        return rv;
    Couler__Cache__ArtifactInfo *ai = couler__cache__artifact_info__unpack(
        &cache__pb_alloc, v.len, (const uint8_t *)v.data);
    cache__rdb_val_free(&v);
    if (ai == NULL) {
        cl_errmsg_set(err, "cache: artifact %s: unreadable record",
                      hexd(d->b, hex));
        return CL_ECORRUPT;
    }
    memset(out, 0, sizeof(*out));
    out->digest = *d;
    out->size = ai->size;
    out->is_dir = ai->is_dir;
    out->nfiles = ai->nfiles;
    out->nchunks = ai->nchunks;
    out->created_ms = ai->created_ms;
    out->last_used_ms = ai->last_used_ms;
    couler__cache__artifact_info__free_unpacked(ai, &cache__pb_alloc);
    cache__manifest *m = NULL;
    if ((rv = load_manifest(s, d->b, &m, NULL, NULL, err)) != 0) {
        cl_errmsg_wrap(err, "cache");
        return rv;
    }
    cache__dset set;
    if ((rv = unique_chunks(m, &set)) != 0) {
        cache__manifest_free(m);
        return rv;
    }
    const uint8_t *c;
    DSET_FOREACH(&set, i, c)
    {
        if (have_chunk(s, c) != 0)
            out->missing_chunks++;
    }
    cache__dset_free(&set);
    cache__manifest_free(m);
    return 0;
}

int cache_store_artifact_verify(cache_store *s, const cache_digest *d,
                                cl_errmsg *err)
{
    char hex[CL_DIGEST_HEX_SIZE];
    cache__manifest *m = NULL;
    int rv = load_manifest(s, d->b, &m, NULL, NULL, err);
    if (rv != 0)
        goto out;
    for (size_t i = 0; i < m->n_nodes; i++) {
        const Couler__Cache__Node *n = m->nodes[i];
        uint64_t left = n->size;
        for (size_t j = 0; j < n->n_chunks; j++) {
            size_t want =
                left < CACHE_CHUNK_SIZE ? (size_t)left : CACHE_CHUNK_SIZE;
            left -= want;
            cache__rdb_val v;
            cl_errmsg m2;
            cl_errmsg_clear(&m2);
            int r = read_chunk(s, n->chunks[j].data, want, &v, &m2);
            if (r == 0) {
                cache__rdb_val_free(&v);
                continue;
            }
            if (rv == 0) {
                rv = r;
                cl_errmsg_set(err, "'%s' at offset %llu: %s", n->path,
                              (unsigned long long)(n->size - left - want),
                              m2.msg);
            }
        }
    }
out:
    cache__manifest_free(m);
    if (rv != 0)
        cl_errmsg_wrap(err, "cache: verify %s", hexd(d->b, hex));
    return rv;
}

int cache_store_artifact_remove(cache_store *s, const cache_digest *d,
                                cl_errmsg *err)
{
    int rv = cache__writable(s, err);
    if (rv != 0)
        return rv;
    cache__rdb_batch *wb = NULL;
    if ((rv = cache__rdb_batch_new(s->db, &wb)) != 0)
        return rv;
    cache__delta dl = {0};
    uint64_t chunks = 0;
    pthread_mutex_lock(&s->mu);
    rv = cache__artifact_remove_locked(s, d->b, wb, &dl, &chunks, err);
    if (rv == 0)
        rv = cache__write(s, wb, CACHE__RDB_SYNC, &dl, err);
    pthread_mutex_unlock(&s->mu);
    cache__rdb_batch_free(wb);
    if (rv != 0) {
        char hex[CL_DIGEST_HEX_SIZE];
        cl_errmsg_wrap(err, "cache: remove artifact %s", hexd(d->b, hex));
    }
    return rv;
}

/* ---- totals and the hand-over area -------------------------------------- */

int cache__recount_artifacts(cache_store *s, cl_errmsg *err)
{
    uint8_t pfx = CACHE__P_INFO;
    cache__rdb_iter *it = NULL;
    int rv = cache__rdb_iter_new(s->db, CACHE__CF_ARTIFACTS, &pfx, 1, &it);
    if (rv != 0)
        return rv;
    s->artifacts = s->manifest_bytes = 0;
    for (; cache__rdb_iter_valid(it); cache__rdb_iter_next(it)) {
        size_t vl;
        const char *v = cache__rdb_iter_value(it, &vl);
        Couler__Cache__ArtifactInfo *ai = couler__cache__artifact_info__unpack(
            &cache__pb_alloc, vl, (const uint8_t *)v);
        s->artifacts++;
        if (ai != NULL)
            s->manifest_bytes += ai->manifest_bytes;
        couler__cache__artifact_info__free_unpacked(ai, &cache__pb_alloc);
    }
    rv = cache__rdb_iter_status(it, err);
    cache__rdb_iter_free(it);
    if (rv != 0)
        return rv;
    pfx = CACHE__P_REF;
    if ((rv = cache__rdb_iter_new(s->db, CACHE__CF_CHUNKS, &pfx, 1, &it)) != 0)
        return rv;
    s->chunks = s->chunk_bytes = 0;
    for (; cache__rdb_iter_valid(it); cache__rdb_iter_next(it)) {
        size_t vl;
        const char *v = cache__rdb_iter_value(it, &vl);
        Couler__Cache__ChunkRef *r = couler__cache__chunk_ref__unpack(
            &cache__pb_alloc, vl, (const uint8_t *)v);
        if (r != NULL && !r->missing) {
            s->chunks++;
            s->chunk_bytes += r->size;
        }
        couler__cache__chunk_ref__free_unpacked(r, &cache__pb_alloc);
    }
    rv = cache__rdb_iter_status(it, err);
    cache__rdb_iter_free(it);
    if (rv != 0)
        return rv;
    uint64_t removed = 0;
    return cache__blobs_scan(s, false, INT64_MIN, &removed, err);
}

int cache__blobs_scan(cache_store *s, bool remove_idle, int64_t older_than,
                      uint64_t *removed, cl_errmsg *err)
{
    *removed = 0;
    s->blobs = s->blob_bytes = 0;
    DIR *d = opendir(s->blob_dir);
    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        return sys_err(err, "opendir", s->blob_dir);
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        int64_t mtime =
            (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        bool tmp = de->d_name[0] == '.';
        /* Stale temporaries and idle files nobody links to any more. */
        if (!s->o.read_only && mtime <= older_than &&
            (tmp || (remove_idle && st.st_nlink == 1))) {
            if (unlinkat(dirfd(d), de->d_name, 0) == 0) {
                if (!tmp)
                    (*removed)++;
                continue;
            }
        }
        if (tmp)
            continue;
        s->blobs++;
        s->blob_bytes += (uint64_t)st.st_size;
    }
    closedir(d);
    return 0;
}

/* ---- the store side of the transfer protocol ---------------------------- */

static int xs_read_manifest(void *data, const cache_digest *a, uint8_t **buf,
                            size_t *len)
{
    cache__manifest *m = NULL;
    int rv = load_manifest(data, a->b, &m, buf, len, NULL);
    cache__manifest_free(m);
    return rv;
}

/* The sender side reads without a check of its own: the receiver checks
 * every chunk against its digest end to end, and asks again with `verify`
 * when a copy fails, so that the sender hashes its copy and removes it when
 * bad. A check here on every chunk would only slow the transfer down
 * (Debian's RocksDB computes its CRC32C without the CPU's instruction). */
static int read_chunk_plain(cache_store *s, const uint8_t *d,
                            cache__rdb_val *v)
{
    uint8_t k[1 + CL_DIGEST_SIZE];
    mkkey(k, CACHE__P_DATA, d);
    cl_errmsg m;
    cl_errmsg_clear(&m);
    int rv = cache__rdb_get_unchecked(s->db, CACHE__CF_CHUNKS, k, sizeof(k),
                                      v, &m);
    if (rv == 0 && v->len > CACHE_CHUNK_SIZE) {
        cache__rdb_val_free(v);
        rv = CL_ECORRUPT;
    }
    if (rv == CL_ECORRUPT)
        drop_chunk(s, d);
    return rv;
}

static int xs_read_chunk(void *data, const cache_digest *c, bool verify,
                         uint8_t **buf, size_t *len)
{
    cache__rdb_val v;
    int rv = verify ? read_chunk(data, c->b, SIZE_MAX, &v, NULL)
                    : read_chunk_plain(data, c->b, &v);
    if (rv != 0)
        return rv;
    *buf = cl_malloc(v.len ? v.len : 1);
    if (*buf == NULL) {
        cache__rdb_val_free(&v);
        return CL_ENOMEM;
    }
    memcpy(*buf, v.data, v.len);
    *len = v.len;
    cache__rdb_val_free(&v);
    return 0;
}

static int xs_have_artifact(void *data, const cache_digest *a)
{
    cache_artifact_info info;
    int rv = cache_store_artifact_stat(data, a, &info, NULL);
    if (rv != 0)
        return rv;
    return info.missing_chunks == 0 ? 0 : CL_ENOENT;
}

static int xs_have_chunk(void *data, const cache_digest *c)
{
    return have_chunk(data, c->b);
}

static int xs_write_chunk(void *data, const cache_digest *c, const uint8_t *buf,
                          size_t len)
{
    cache_store *s = data;
    if (len > CACHE_CHUNK_SIZE)
        return CL_ETOOBIG;
    /* The receiver checked the data against its digest; hashing it again
     * here would only slow the transfer down, and every later read of the
     * chunk checks it anyway. */
    int rv = cache__writable(s, NULL);
    if (rv != 0)
        return rv;
    if (have_chunk(s, c->b) == 0)
        return 0;
    cache__rdb_batch *wb = NULL;
    if ((rv = cache__rdb_batch_new(s->db, &wb)) != 0)
        return rv;
    struct staged st;
    memset(&st, 0, sizeof(st));
    cache__dset_init(&st.set);
    uint8_t k[1 + CL_DIGEST_SIZE];
    mkkey(k, CACHE__P_DATA, c->b);
    cache__rdb_batch_put(wb, CACHE__CF_CHUNKS, k, sizeof(k), buf, len);
    rv = staged_add(&st, c->b, (uint32_t)len);
    if (rv == 0) {
        pthread_mutex_lock(&s->mu);
        /* Without the WAL (its CRC pass and second copy of the data): the
         * commit flushes the chunk family before the manifest is written,
         * and a crash before that only costs a re-fetch of these chunks. */
        rv = flush_staged_locked(s, wb, &st, CACHE__RDB_NOWAL, cache__now(s),
                                 NULL);
        pthread_mutex_unlock(&s->mu);
    }
    staged_free(&st);
    cache__rdb_batch_free(wb);
    return rv;
}

static int xs_commit(void *data, const cache_digest *a, const uint8_t *manifest,
                     size_t len)
{
    cache_store *s = data;
    cache__manifest *m = NULL;
    int rv = cache__writable(s, NULL);
    if (rv != 0)
        return rv;
    if ((rv = cache__manifest_decode(manifest, len, &m, NULL)) != 0)
        return rv;
    cache_digest got;
    cache__manifest_digest(m, &got);
    if (!cache_digest_equal(&got, a)) {
        cache__manifest_free(m);
        return CL_ECORRUPT;
    }
    /* Chunks were written without the WAL: make them durable first. */
    if ((rv = cache__rdb_flush(s->db, CACHE__CF_CHUNKS, NULL)) != 0) {
        if (rv == CL_ENOSPC || rv == CL_EIO)
            s->failed = rv;
        cache__manifest_free(m);
        return rv;
    }
    cache__rdb_batch *wb = NULL;
    if ((rv = cache__rdb_batch_new(s->db, &wb)) != 0) {
        cache__manifest_free(m);
        return rv;
    }
    pthread_mutex_lock(&s->mu);
    rv =
        commit_locked(s, a->b, m, manifest, len, wb, NULL, cache__now(s), NULL);
    pthread_mutex_unlock(&s->mu);
    cache__rdb_batch_free(wb);
    cache__manifest_free(m);
    if (rv == 0)
        maybe_evict(s);
    return rv;
}

void cache_store_xfer_store(cache_store *s, cache_xfer_store *out)
{
    out->data = s;
    out->read_manifest = xs_read_manifest;
    out->read_chunk = xs_read_chunk;
    out->have_artifact = xs_have_artifact;
    out->have_chunk = xs_have_chunk;
    out->write_chunk = xs_write_chunk;
    out->commit = xs_commit;
}
