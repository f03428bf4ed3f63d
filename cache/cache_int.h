/* cache_int.h - internals shared by the files of cache/ (names cache__*).
 *
 * Not part of the module's contract: only cache/ and its tests and fuzz
 * targets include this header.
 */
#ifndef COULER_CACHE_INT_H
#define COULER_CACHE_INT_H

#include "cache/cache.h"
#include "cache/rdb.h"

#include "cache.pb-c.h"

#include <pthread.h>

/* ---- protobuf-c glue (codec.c) ------------------------------------------ */

/* An allocator that routes protobuf-c through cl_malloc/cl_free, so the
 * fault heap reaches decoders too. */
extern ProtobufCAllocator cache__pb_alloc;

/* cache__pack - pack any message into a cl_malloc'd buffer. 0 or
 * CL_ENOMEM. */
int cache__pack(const ProtobufCMessage *m, uint8_t **buf, size_t *len);

/* Entries. encode: the protobuf image of `e` (ignores e->key, priv_).
 * decode: size-bounded (CACHE_MAX_ENTRY), validated; *out owns the
 * unpacked message (cache_entry_free). */
int cache__entry_encode(const cache_entry *e, uint8_t **buf, size_t *len);
int cache__entry_decode(const uint8_t *buf, size_t len, cache_entry **out);

/* Manifests. decode: size-bounded and structurally checked
 * (cache__manifest_check); free with cache__manifest_free. */
typedef Couler__Cache__Manifest cache__manifest;
int cache__manifest_decode(const uint8_t *buf, size_t len,
                           cache__manifest **out, cl_errmsg *err);
void cache__manifest_free(cache__manifest *m);

/* cache__manifest_check - structure: version, chunk size, one root file
 * node for a file artifact, sorted unique safe paths whose parents are
 * directories, chunk counts matching sizes, sizes summing up, each file's
 * content digest matching its chunk list. CL_EPROTO / CL_EVERSION. */
int cache__manifest_check(const cache__manifest *m, cl_errmsg *err);

/* cache__manifest_digest - the artifact digest a manifest stands for. */
void cache__manifest_digest(const cache__manifest *m, cache_digest *out);

/* A file's content digest, built from its size and its chunk digests in
 * order: init, one chunk call per chunk, final. */
void cache__file_digest_init(cl_digest_state *h, uint64_t size);
void cache__file_digest_chunk(cl_digest_state *h, const uint8_t *chunk);
void cache__file_digest_final(cl_digest_state *h, cache_digest *out);

/* cache__path_ok - a relative path inside an artifact: non-empty, at most
 * CACHE_MAX_PATH bytes, no leading or doubled '/', no '.' or '..' parts. */
bool cache__path_ok(const char *p);

/* Transfer messages. decode: size-bounded (max_len), version and field
 * checked (digests 32 bytes, a chunk at most CACHE_CHUNK_SIZE bytes, a
 * body present). free with cache__xfer_msg_free. */
typedef Couler__Cache__XferMsg cache__xfer_msg;
int cache__xfer_decode(const uint8_t *buf, size_t len, size_t max_len,
                       cache__xfer_msg **out);
void cache__xfer_msg_free(cache__xfer_msg *m);

/* ---- small helpers ------------------------------------------------------ */

void cache__put_u32(uint8_t *p, uint32_t v);
void cache__put_u64(uint8_t *p, uint64_t v);

/* A set of 32-byte digests (open addressing), for mark and sweep. */
typedef struct cache__dset {
    uint8_t *slots; /* cap * 32 bytes, cl_malloc'd */
    uint32_t *counts;
    bool *used;
    size_t cap, n;
} cache__dset;
void cache__dset_init(cache__dset *s);
void cache__dset_free(cache__dset *s);
/* add: count += 1 (0 or CL_ENOMEM); get: the count (0 when absent);
 * dec: count -= 1, returning the new count. */
int cache__dset_add(cache__dset *s, const uint8_t *d);
uint32_t cache__dset_get(const cache__dset *s, const uint8_t *d);
uint32_t cache__dset_dec(cache__dset *s, const uint8_t *d);

/* ---- the store ---------------------------------------------------------- */

/* Key prefixes inside the column families. */
#define CACHE__P_MANIFEST 'm' /* artifacts: 'm' + digest -> Manifest */
#define CACHE__P_INFO 'i'     /* artifacts: 'i' + digest -> ArtifactInfo */
#define CACHE__P_BLOB 'b'     /* artifacts: 'b' + content + mode -> stamp */
#define CACHE__P_DATA 'd'     /* chunks: 'd' + digest -> bytes */
#define CACHE__P_REF 'r'      /* chunks: 'r' + digest -> ChunkRef */

#define CACHE__BLOB_LOCKS 16

struct cache_store {
    cache_store_opts o;
    char *dir;      /* cl_strdup'd o.dir */
    char *db_path;  /* dir/db */
    char *blob_dir; /* dir/blobs */
    cache__rdb *db;
    /* Mutations (batches, imports' commits, gc) run under `mu`. Reads do
     * not take it: RocksDB reads are thread-safe. */
    pthread_mutex_t mu;
    int failed; /* sticky write failure (CL_ENOSPC/CL_EIO) until recover */
    /* Sizes, recounted at open and kept up to date under `mu`. */
    uint64_t entries, entry_bytes;
    uint64_t artifacts, manifest_bytes;
    uint64_t chunks, chunk_bytes;
    uint64_t blobs, blob_bytes;
    /* Counters, persisted in the stats column family. */
    Couler__Cache__Counters ctr;
    pthread_mutex_t ctr_mu; /* counters are bumped by readers too */
    /* A hand-over file is checked, written and linked under the lock of its
     * content (striped), so that two consumers of one artifact never see
     * the other's file half made. Taken before `mu`, never under it. */
    pthread_mutex_t blob_mu[CACHE__BLOB_LOCKS];
};

int64_t cache__now(cache_store *s);
uint64_t cache__total(const cache_store *s);

/* cache__writable - CL_EPERM for a read-only store, the sticky failure
 * after a database write error. */
int cache__writable(cache_store *s, cl_errmsg *err);

/* cache__space - CL_ENOSPC unless `need` bytes plus the reserve are free on
 * the store's file system; CL_EPERM when it is mounted read-only. */
int cache__space(cache_store *s, uint64_t need, const char *what,
                 cl_errmsg *err);

/* Size changes a batch makes, applied to the store's totals only once the
 * batch is written. */
typedef struct cache__delta {
    int64_t entries, entry_bytes;
    int64_t artifacts, manifest_bytes;
    int64_t chunks, chunk_bytes;
} cache__delta;

/* cache__write - check space when the batch grows the store, commit `b`
 * with the counters, apply `d` (may be NULL) on success, and note a
 * failure that leaves the database in its error state. Caller holds
 * `mu`. The batch is cleared either way. */
int cache__write(cache_store *s, cache__rdb_batch *b,
                 enum cache__rdb_wmode mode, const cache__delta *d,
                 cl_errmsg *err);

void cache__count(cache_store *s, uint64_t *field, uint64_t n);

/* Artifact internals (artifact.c) used by the store's gc and eviction.
 * Callers hold `mu`. */
int cache__artifact_remove_locked(cache_store *s, const uint8_t *digest,
                                  cache__rdb_batch *b, cache__delta *d,
                                  uint64_t *chunks_removed, cl_errmsg *err);
int cache__recount_artifacts(cache_store *s, cl_errmsg *err);
int cache__blobs_scan(cache_store *s, bool remove_idle, int64_t older_than,
                      uint64_t *removed, cl_errmsg *err);

/* cache__mkdirs - mkdir -p (mode 0755). 0 or a CL_E* code. */
int cache__mkdirs(const char *path, cl_errmsg *err);

#endif
