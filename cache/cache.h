/* cache.h - the step-output cache (module prefix cache_).
 *
 * Before a step runs, the coordinator computes its cache key from the fully
 * resolved step (cache_key_compute) or from an Argo `memoize` (cache name,
 * user key) pair (cache_key_memo), and asks the key's owner nodes
 * (cache_owners) whether they hold an entry. On a hit the recorded outputs
 * are used and nothing runs. On a miss the step runs; its agent imports the
 * output artifacts into its local store and the outputs are saved as an
 * entry on the owners and on the producer.
 *
 * The module has pure parts and one shell:
 *
 * - Pure (no clock, no I/O, no threads): keys, the eviction score, owner
 *   selection, the wire codecs and the transfer state machines
 *   (cache_xfer_*). They take `now` and I/O vtables from their caller.
 * - The store (cache_store_*): one RocksDB database per node holding
 *   entries, content-addressed artifacts (manifests + 1 MiB chunks) and
 *   counters, plus a hand-over area of whole files (blobs/) for zero-copy
 *   hand-over on the same node. Layout and formats: cache/README.md.
 *
 * Errors: every fallible function returns 0 or a CL_E* code
 * (common/cl_err.h); an optional cl_errmsg receives "cache: what: why".
 * Codes callers should expect: CL_ENOENT (miss, expired, unknown digest),
 * CL_ECORRUPT (a stored chunk or manifest failed its digest check: treat as
 * a miss; the bad data was removed, and re-importing or re-fetching the
 * artifact repairs it), CL_ENOSPC (the file system is full: nothing was
 * written), CL_EPERM (the store or a destination is not writable),
 * CL_EEXIST (an export destination exists), CL_EINVAL, CL_ENOMEM, CL_EDB.
 *
 * Threads: the pure parts hold no global state. A cache_store may be used
 * from several threads (the loop thread and uv_queue_work workers):
 * RocksDB reads run concurrently, and every mutation takes an internal
 * mutex for the short time it updates the database.
 */
#ifndef COULER_CACHE_H
#define COULER_CACHE_H

#include "common/cl_err.h"
#include "common/cl_hash.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Format versions. CACHE_KEY_VERSION is hashed into every key: bumping it
 * invalidates every cached entry at once. CACHE_FORMAT_VERSION is the
 * version of every stored or sent protobuf message. */
#define CACHE_KEY_VERSION 1u
#define CACHE_FORMAT_VERSION 1u

/* Artifacts are split into chunks of this many bytes (the last one of a
 * file may be shorter). */
#define CACHE_CHUNK_SIZE (1u << 20)

/* Bounds enforced by every decoder. */
#define CACHE_MAX_MANIFEST (64u << 20) /* packed manifest */
#define CACHE_MAX_ENTRY (16u << 20)    /* packed entry */
#define CACHE_MAX_XFER_MSG (CACHE_MAX_MANIFEST + 4096u)
#define CACHE_MAX_PATH 4096u /* a path inside a directory artifact */

/* Typed 32-byte identifiers, passed by value. */
typedef struct cache_key {
    uint8_t b[CL_DIGEST_SIZE];
} cache_key;

typedef struct cache_digest {
    uint8_t b[CL_DIGEST_SIZE];
} cache_digest;

typedef struct cache_kv {
    const char *name;
    const char *value;
} cache_kv;

/* ---- cache key (pure) -------------------------------------------------- */

enum cache_kind { CACHE_KIND_CONTAINER = 0, CACHE_KIND_SCRIPT = 1 };

/* An input artifact of the step: what the consumer sees at `path` under
 * the input name `name`, and the digest of its content. */
typedef struct cache_key_artifact {
    const char *name;
    const char *path; /* may be NULL (same as "") */
    cache_digest digest;
} cache_key_artifact;

/* The fully resolved step. Every {{...}} is substituted. Optional strings
 * may be NULL, which hashes like "". Array elements must not be NULL.
 * Order matters for `command` and `args` only: env, params and artifacts
 * are sorted before hashing. Step names, file positions and workflow names
 * are deliberately absent: an identical step in another workflow hits. */
typedef struct cache_key_input {
    enum cache_kind kind;
    const char *const *command; /* argv */
    size_t ncommand;
    const char *const *args;
    size_t nargs;
    const char *source;  /* script source */
    const char *image;   /* container image */
    const cache_kv *env; /* environment */
    size_t nenv;
    const char *workdir;
    const cache_kv *params; /* resolved inputs.parameters */
    size_t nparams;
    const cache_key_artifact *artifacts; /* inputs.artifacts */
    size_t nartifacts;
    const char *memo_key; /* memoize.key when given, else NULL */
} cache_key_input;

/* cache_key_compute - the implicit cache key: BLAKE2b-256 of the canonical
 * encoding of `in` documented in cache/key.c and cache/README.md (domain
 * "couler-cache-key", CACHE_KEY_VERSION, then every field length-prefixed
 * in a fixed order). Deterministic across runs and machines. Returns 0,
 * CL_EINVAL (a NULL array element or bad kind) or CL_ENOMEM (sorting). */
int cache_key_compute(const cache_key_input *in, cache_key *out);

/* cache_key_memo - the key of Argo's explicit memoization: the entry named
 * by (memoize.cache.configMap.name, memoize.key). It is hashed under its
 * own domain ("couler-cache-memo"), so it can never equal an implicit key.
 * `key` must match ^[a-zA-Z0-9][-a-zA-Z0-9]*$ as in Argo, and `cache_name`
 * must be non-empty; otherwise CL_EINVAL with the reason in `err`. */
int cache_key_memo(const char *cache_name, const char *key, cache_key *out,
                   cl_errmsg *err);

/* Hex forms (64 lowercase chars + NUL; buffers of CL_DIGEST_HEX_SIZE). The
 * parsers accept exactly 64 hex digits: 0 or CL_EINVAL. */
char *cache_key_hex(const cache_key *k, char out[CL_DIGEST_HEX_SIZE]);
int cache_key_parse(const char *hex, cache_key *out);
char *cache_digest_hex(const cache_digest *d, char out[CL_DIGEST_HEX_SIZE]);
int cache_digest_parse(const char *hex, cache_digest *out);
bool cache_key_equal(const cache_key *a, const cache_key *b);
bool cache_digest_equal(const cache_digest *a, const cache_digest *b);

/* ---- owners (pure) ------------------------------------------------------ */

/* cache_owners - the R nodes that hold the entries of `key`, by rendezvous
 * (highest-random-weight) hashing: each member m gets the weight
 * cl_hash64(key || cl_hash64_str(m)) and the r heaviest win (ties broken by
 * member id). Writes up to r indices into `members` to out[], heaviest
 * first, and returns how many (min(r, n)). Removing a member moves only the
 * keys that member owned; adding one takes keys only from others' shares.
 * `members` must hold distinct ids; the order of the array does not
 * matter. */
size_t cache_owners(const cache_key *key, const char *const *members, size_t n,
                    size_t r, size_t *out);

#define CACHE_DEFAULT_REPLICAS 2u

/* ---- eviction score (pure) --------------------------------------------- */

/* The Couler paper's importance of a cached output u (ICDE 2024, Sec. on
 * automatic caching):
 *
 *     I(u) = alpha * log(1 + L(u)) + beta * F(u)^2 - exp(-V(u))
 *
 * L(u): the recompute cost of u's upstream, in seconds: the step's own
 *       compute time plus the recorded cost of the upstream chain that
 *       would have to rerun (compute_ms + upstream_ms) / 1000.
 * F(u): the reuse value of u's downstream, from what the store knows:
 *       F = ln(1 + (hits + downstream_weight) * 2^(-idle / half_life)),
 *       where hits counts lookups served, downstream_weight sums 1/d over
 *       the recorded consumers at distance d (1 for a direct consumer),
 *       and idle is the time since the entry was created or last hit.
 * V(u): the size of u's outputs on the scale `size_scale` (bytes):
 *       V = size / size_scale, so the size term lies in (-1, 0] and
 *       changes most for outputs around size_scale.
 * Lower scores are evicted first. */
typedef struct cache_score_params {
    double alpha;        /* 1.5 */
    double beta;         /* 1.0 */
    double size_scale;   /* bytes; 64 MiB */
    double half_life_ms; /* reuse decay; 7 days; 0 = no decay */
} cache_score_params;

void cache_score_params_init(cache_score_params *p);

typedef struct cache_score_input {
    int64_t compute_ms;
    int64_t upstream_ms;
    uint64_t hits;
    double downstream_weight;
    uint64_t size;
    int64_t idle_ms;
} cache_score_input;

typedef struct cache_score_terms {
    double L;     /* seconds */
    double F;     /* reuse value */
    double V;     /* normalized size */
    double decay; /* 2^(-idle/half_life) */
    double cost;  /* alpha * log(1 + L) */
    double reuse; /* beta * F^2 */
    double size;  /* -exp(-V) */
    double score; /* cost + reuse + size */
} cache_score_terms;

/* cache_score - compute I(u) and its terms. Pure; negative inputs count as
 * zero. */
void cache_score(const cache_score_params *p, const cache_score_input *in,
                 cache_score_terms *out);

/* ---- entries ------------------------------------------------------------ */

/* An output artifact of a cached step. */
typedef struct cache_artifact_ref {
    const char *name;
    cache_digest digest;
    uint64_t size;
    bool is_dir;
    const char *node; /* the node that holds it (the producer); may be NULL */
} cache_artifact_ref;

/* The outputs of one successful step. For cache_store_put the caller owns
 * every pointer and the store copies what it keeps. An entry returned by
 * the store (get, lookup, list) is read-only and owned by the store's
 * allocation: release it with cache_entry_free (list callbacks borrow it). */
typedef struct cache_entry {
    cache_key key;          /* filled by the store on return */
    const cache_kv *params; /* output parameters */
    size_t nparams;
    const char *result; /* script result, or NULL */
    int exit_code;
    const cache_artifact_ref *artifacts;
    size_t nartifacts;
    const char *producer; /* node id that ran the step; may be NULL */
    int64_t created_ms;   /* wall ms; 0 at put: the store's clock */
    int64_t last_used_ms; /* 0 at put: created_ms */
    uint64_t hits;
    int64_t compute_ms;       /* run time of the step */
    int64_t upstream_ms;      /* recompute cost of the upstream chain */
    uint32_t consumers;       /* recorded downstream consumers */
    double downstream_weight; /* sum of 1/distance over those */
    int64_t max_age_ms;       /* memoize.maxAge: expire after; 0 = never */
    const char *memo_cache;   /* explicit memoize only, else NULL */
    const char *memo_key;
    void *priv_; /* memory of a returned entry */
} cache_entry;

void cache_entry_free(cache_entry *e); /* NULL allowed */

/* cache_entry_size - total bytes of the entry's output artifacts (V). */
uint64_t cache_entry_size(const cache_entry *e);

/* ---- the store ---------------------------------------------------------- */

typedef struct cache_store cache_store;

typedef struct cache_store_opts {
    const char *dir;         /* data dir: dir/db (RocksDB), dir/blobs */
    uint64_t capacity_bytes; /* evict above this; 0 = unlimited */
    double low_watermark;    /* evict down to this share of capacity: 0.9 */
    uint64_t reserve_bytes;  /* refuse writes that would leave less free
                                space on the file system: 64 MiB */
    int64_t orphan_grace_ms; /* keep unreferenced artifacts and chunks of
                                an unfinished fetch this long: 1 h */
    cache_score_params score;
    size_t write_buffer_size; /* RocksDB memtable size; 0 = 64 MiB */
    bool sync;                /* fsync every committed batch: true */
    bool read_only;           /* open for reading only (mutations refused) */
    bool auto_evict;          /* evict inside puts/imports when over: true */
    /* Wall clock in ms; NULL = cl_wall_ms. Tests install a fake one. */
    int64_t (*clock)(void *data);
    void *clock_data;
} cache_store_opts;

void cache_store_opts_init(cache_store_opts *o, const char *dir);

/* cache_store_open - open or create the store under o->dir (the directory
 * is created when missing). CL_EPERM for an unwritable place (read-only file
 * system, permissions), CL_EBUSY when another process holds it, CL_EDB or
 * CL_ECORRUPT for a damaged database; `err` says which path and why. */
int cache_store_open(const cache_store_opts *o, cache_store **out,
                     cl_errmsg *err);

/* cache_store_close - flush counters and release everything. NULL ok. No
 * other call on `s` may be running. */
void cache_store_close(cache_store *s);

/* cache_store_recover - after a write failed with CL_ENOSPC or CL_EIO the
 * store refuses further writes (its database is in an error state). Once
 * space is freed, this closes and reopens the database. No other call on
 * `s` may be running. */
int cache_store_recover(cache_store *s, cl_errmsg *err);

/* cache_store_put - save `e` under `key` (replacing any entry), as a batch
 * of one: one write, one sync. */
int cache_store_put(cache_store *s, const cache_key *key, const cache_entry *e,
                    cl_errmsg *err);

/* cache_store_get - read an entry without touching its statistics.
 * CL_ENOENT when absent. *out is freed with cache_entry_free. */
int cache_store_get(cache_store *s, const cache_key *key, cache_entry **out,
                    cl_errmsg *err);

/* cache_store_lookup - the cache check before a step runs. A hit needs the
 * entry to exist and its age (now - created) to be within `max_age_ms`
 * (the lookup's memoize.maxAge; 0 = any age) and within the entry's own
 * max_age_ms. A hit counts one more hit and sets last_used (a write without
 * sync: a lost hit counter costs nothing). Misses return CL_ENOENT, with
 * "expired" in `err` for an entry that is too old. */
int cache_store_lookup(cache_store *s, const cache_key *key, int64_t max_age_ms,
                       cache_entry **out, cl_errmsg *err);

/* cache_store_remove - delete an entry (CL_ENOENT when absent). Artifacts it
 * referenced are freed by the next gc when nothing else references them. */
int cache_store_remove(cache_store *s, const cache_key *key, cl_errmsg *err);

/* cache_store_note_consumer - record that a step at `distance` (>= 1)
 * downstream consumed this entry's outputs: consumers += 1 and
 * downstream_weight += 1/distance. Feeds F(u) of the eviction score. */
int cache_store_note_consumer(cache_store *s, const cache_key *key,
                              uint32_t distance, cl_errmsg *err);

/* Batches: stage any number of puts and removes, then commit them as one
 * RocksDB WriteBatch with one sync (group commit). Later operations on the
 * same key win. A batch belongs to one thread at a time. After a failed
 * commit nothing of the batch was applied; the batch is empty either way. */
typedef struct cache_batch cache_batch;
int cache_batch_new(cache_store *s, cache_batch **out);
int cache_batch_put(cache_batch *b, const cache_key *key, const cache_entry *e);
int cache_batch_remove(cache_batch *b, const cache_key *key);
size_t cache_batch_count(const cache_batch *b);
int cache_batch_commit(cache_batch *b, cl_errmsg *err);
void cache_batch_free(cache_batch *b); /* drops uncommitted operations */

/* cache_store_list - call fn for every entry in key order. The entry is
 * borrowed for the call. A non-zero return from fn stops the walk and is
 * returned. */
typedef int (*cache_list_fn)(void *data, const cache_entry *e);
int cache_store_list(cache_store *s, cache_list_fn fn, void *data,
                     cl_errmsg *err);

/* cache_store_score_terms - the eviction score of `e` as of now, with the
 * store's parameters (for `cache show KEY`). */
void cache_store_score_terms(cache_store *s, const cache_entry *e,
                             cache_score_terms *out);

typedef struct cache_gc_report {
    uint64_t entries_removed;
    uint64_t expired_removed;
    uint64_t artifacts_removed;
    uint64_t chunks_removed;
    uint64_t blobs_removed;
    uint64_t bytes_before;
    uint64_t bytes_after;
} cache_gc_report;

/* cache_store_prune - remove entries not used (created or hit) for at least
 * `older_than_ms`, then gc. `cache prune --older-than D`. */
int cache_store_prune(cache_store *s, int64_t older_than_ms,
                      cache_gc_report *rep, cl_errmsg *err);

/* cache_store_gc - remove entries past their own max_age, artifacts no
 * entry references and chunks no manifest lists, each once older than the
 * orphan grace; and idle files of the hand-over area. Then the space of
 * removed chunks in RocksDB's blob files is reclaimed (a compaction: run it
 * off an event loop). */
int cache_store_gc(cache_store *s, cache_gc_report *rep, cl_errmsg *err);

/* cache_store_evict - when the store holds more than its capacity: gc,
 * then remove entries lowest score first (and the artifacts only they
 * referenced) until it holds at most low_watermark * capacity. Artifacts
 * no entry references yet and younger than the orphan grace (an import
 * whose entry is not written yet, a fetch in progress) are left alone.
 * Runs inside put/commit/import when auto_evict is set. Scans every entry:
 * daemons run it off the loop thread. */
int cache_store_evict(cache_store *s, cache_gc_report *rep, cl_errmsg *err);

typedef struct cache_store_usage {
    uint64_t entries, entry_bytes;
    uint64_t artifacts, manifest_bytes;
    uint64_t chunks, chunk_bytes; /* distinct stored chunks */
    uint64_t blobs, blob_bytes;   /* hand-over area */
    uint64_t total_bytes;         /* what capacity is compared with */
    uint64_t capacity_bytes;
    uint64_t hits, misses, expired, puts, evicted, corrupt;
} cache_store_usage;

void cache_store_usage_get(cache_store *s, cache_store_usage *out);

/* ---- artifacts ---------------------------------------------------------- */

typedef struct cache_artifact_info {
    cache_digest digest;
    uint64_t size; /* bytes of file content */
    bool is_dir;
    uint64_t nfiles; /* regular files */
    uint64_t nchunks;
    uint64_t missing_chunks; /* chunks removed after a failed check */
    int64_t created_ms;
    int64_t last_used_ms;
} cache_artifact_info;

/* cache_store_import - store the file or directory at `path` (a top-level
 * symlink is followed; symlinks inside a directory are kept as symlinks;
 * sockets, fifos and devices are refused with CL_ENOTSUP). Chunks already
 * present are not written again, so importing the same content twice costs
 * one read and repairs chunks that were removed as corrupt. Fills `out`
 * (digest, size...). CL_ENOSPC when the content would not fit with the
 * reserve left: nothing is written then. */
int cache_store_import(cache_store *s, const char *path,
                       cache_artifact_info *out, cl_errmsg *err);

/* cache_store_export - materialize an artifact at `dest`, which must not
 * exist (CL_EEXIST). The content is written under a temporary name next to
 * `dest` and renamed into place, so `dest` appears whole or not at all.
 * Every chunk is checked against its digest: CL_ECORRUPT (the bad chunk is
 * removed, see cache_store_artifact_stat) and nothing is left behind. */
int cache_store_export(cache_store *s, const cache_digest *d, const char *dest,
                       cl_errmsg *err);

enum cache_handover {
    CACHE_HANDOVER_REFLINK = 1, /* copy-on-write clone (btrfs, xfs) */
    CACHE_HANDOVER_HARDLINK = 2,
    CACHE_HANDOVER_COPY = 3, /* other file system than the store */
};

/* cache_store_handover - like export, but for a consumer on this node:
 * files come from the hand-over area dir/blobs (written from verified
 * chunks on first use) as a reflink when the file system can, else as a
 * hard link, else as a copy. *how (may be NULL) tells the weakest method
 * used. A hard-linked file shares its inode with the area: consumers must
 * not modify their inputs; a blob whose size or mtime changed is detected,
 * checked and rewritten before it is handed over again. */
int cache_store_handover(cache_store *s, const cache_digest *d,
                         const char *dest, enum cache_handover *how,
                         cl_errmsg *err);

/* cache_store_artifact_stat - what the store knows of an artifact, without
 * reading its chunks. CL_ENOENT when unknown. missing_chunks > 0 means the
 * artifact cannot be exported until re-imported or re-fetched. */
int cache_store_artifact_stat(cache_store *s, const cache_digest *d,
                              cache_artifact_info *out, cl_errmsg *err);

/* cache_store_artifact_verify - read and check every chunk. CL_ECORRUPT
 * when one fails (it is removed), CL_ENOENT when a chunk is missing. */
int cache_store_artifact_verify(cache_store *s, const cache_digest *d,
                                cl_errmsg *err);

/* cache_store_artifact_remove - delete an artifact now (its chunks go when
 * no other manifest lists them). CL_ENOENT when unknown. */
int cache_store_artifact_remove(cache_store *s, const cache_digest *d,
                                cl_errmsg *err);

/* ---- transfer protocol (pure) ------------------------------------------- */

/* An artifact moves from the node that holds it (sender) to a consumer's
 * agent (receiver) over a ZeroMQ ROUTER (sender) / DEALER (receiver) pair:
 *
 *   receiver                          sender
 *   GetManifest{artifact}      --->
 *                              <---   ManifestData{artifact, manifest}
 *   GetChunk{artifact, chunk}  --->   (at most `credit` outstanding)
 *                              <---   ChunkData{chunk, data} | XferError
 *
 * The receiver checks the manifest against the artifact digest and every
 * chunk against its digest, writes good chunks to its store at once and
 * commits the manifest when every chunk is there. Lost, duplicated,
 * reordered or corrupted replies are handled by timeouts and re-requests.
 * A receiver that fails or is dropped leaves its chunks in the store: a
 * later receiver of the same artifact asks only for the missing ones.
 *
 * Both sides are pure: they see the store and the socket only through the
 * vtables below, and time only through `now` (monotonic ms). */

/* Store access. Buffers returned through `buf` are cl_malloc'd and freed
 * by the caller with cl_free. Each returns 0 or a CL_E* code; CL_ENOENT
 * means "not here". cache_store_xfer_store() provides a store's. */
typedef struct cache_xfer_store {
    void *data;
    /* sender side */
    int (*read_manifest)(void *data, const cache_digest *artifact,
                         uint8_t **buf, size_t *len);
    /* unchecked (the receiver checks); with `verify`, CL_ECORRUPT (and
     * the chunk removed) when it fails its digest */
    int (*read_chunk)(void *data, const cache_digest *chunk, bool verify,
                      uint8_t **buf, size_t *len);
    /* receiver side */
    int (*have_artifact)(void *data, const cache_digest *artifact);
    int (*have_chunk)(void *data, const cache_digest *chunk);
    int (*write_chunk)(void *data, const cache_digest *chunk,
                       const uint8_t *buf, size_t len); /* buf was checked
                                                           against chunk */
    int (*commit)(void *data, const cache_digest *artifact,
                  const uint8_t *manifest, size_t len);
} cache_xfer_store;

/* Transport: send one message to the peer. The buffer is borrowed for the
 * call. A sender calls it only from inside cache_xfer_sender_on_msg, so a
 * ROUTER shell knows which peer identity to address. */
typedef struct cache_xfer_transport {
    void *data;
    int (*send)(void *data, const uint8_t *msg, size_t len);
} cache_xfer_transport;

/* cache_store_xfer_store - the vtable over a store (data = s). */
void cache_store_xfer_store(cache_store *s, cache_xfer_store *out);

/* cache_xfer_msg_id - the transfer id of a message (to route a reply to its
 * receiver) and whether it is a request (true) or a reply. Size-bounded
 * decode: CL_ETOOBIG, CL_EPROTO, CL_EVERSION. */
int cache_xfer_msg_id(const uint8_t *msg, size_t len, uint64_t *xfer_id,
                      bool *is_request);

/* The sender answers requests from its store. It keeps only counters. */
typedef struct cache_xfer_sender {
    cache_xfer_store store;
    cache_xfer_transport tr;
    uint64_t manifests_sent, chunks_sent, bytes_sent, errors_sent;
    uint64_t bad_requests;
} cache_xfer_sender;

void cache_xfer_sender_init(cache_xfer_sender *s, const cache_xfer_store *st,
                            const cache_xfer_transport *tr);

/* cache_xfer_sender_on_msg - handle one request, replying through the
 * transport (a data reply or an XferError). A malformed request gets no
 * reply and returns CL_EPROTO/CL_EVERSION/CL_ETOOBIG; a transport failure
 * is returned as is. */
int cache_xfer_sender_on_msg(cache_xfer_sender *s, const uint8_t *msg,
                             size_t len);

enum cache_xfer_state {
    CACHE_XFER_IDLE = 0,
    CACHE_XFER_MANIFEST, /* waiting for the manifest */
    CACHE_XFER_CHUNKS,   /* fetching chunks */
    CACHE_XFER_DONE,     /* committed in the local store */
    CACHE_XFER_FAILED,   /* see cache_xfer_recv_error */
};

typedef struct cache_xfer_recv cache_xfer_recv;

/* Checking chunks off the receiver's thread. Without it the receiver hashes
 * and writes each chunk inside cache_xfer_recv_on_msg, one at a time. With
 * it, the receiver hands each reply's chunk to `start` and keeps its credit
 * slot until cache_xfer_recv_chunk_checked brings the outcome back, so that
 * a thread pool hashes and writes several chunks at once (the digest, not
 * the network, bounds a fetch on one thread). */
typedef struct cache_xfer_offload {
    void *data;
    /* Check `buf` against `chunk` and write it, off this thread (the job's
     * body is cache_xfer_check_write); `buf` is cl_malloc'd and becomes the
     * job's, even when starting fails. 0 once started. */
    int (*start)(void *data, cache_xfer_recv *r, const cache_digest *chunk,
                 uint8_t *buf, size_t len);
} cache_xfer_offload;

typedef struct cache_xfer_recv_opts {
    uint64_t xfer_id;     /* echoed in replies; unique per receiver */
    uint32_t credit;      /* chunks in flight or being checked: 8 */
    int64_t timeout_ms;   /* re-request after this long: 2000 */
    uint32_t max_retries; /* per request, then FAILED/CL_ETIMEDOUT: 5 */
    cache_xfer_offload offload; /* start == NULL: check inline */
} cache_xfer_recv_opts;

void cache_xfer_recv_opts_init(cache_xfer_recv_opts *o);

typedef struct cache_xfer_recv_stats {
    uint64_t chunks_total;   /* distinct chunks of the artifact */
    uint64_t chunks_present; /* already in the store at start (resume) */
    uint64_t chunks_fetched;
    uint64_t bytes_fetched;
    uint64_t requests_sent;
    uint64_t retries;
    uint64_t duplicates;    /* replies for chunks already done */
    uint64_t corrupt;       /* replies that failed their digest check */
    uint64_t stray;         /* replies for another transfer or unknown */
    uint32_t max_in_flight; /* highest number of outstanding requests */
} cache_xfer_recv_stats;

/* cache_xfer_recv_new - a receiver for `artifact`. `st` and `tr` are
 * copied; their data must outlive the receiver. Free with
 * cache_xfer_recv_free. */
int cache_xfer_recv_new(const cache_digest *artifact,
                        const cache_xfer_recv_opts *o,
                        const cache_xfer_store *st,
                        const cache_xfer_transport *tr, cache_xfer_recv **out);
void cache_xfer_recv_free(cache_xfer_recv *r);

/* cache_xfer_recv_start - begin: DONE at once when the store already holds
 * the artifact, else request the manifest. */
int cache_xfer_recv_start(cache_xfer_recv *r, int64_t now);

/* cache_xfer_recv_on_msg - feed one reply. Malformed input returns
 * CL_EPROTO (or CL_ETOOBIG/CL_EVERSION) and changes nothing; a reply that
 * belongs elsewhere is counted as stray and ignored. A store failure
 * (CL_ENOSPC...) moves the receiver to FAILED and is returned. */
int cache_xfer_recv_on_msg(cache_xfer_recv *r, const uint8_t *msg, size_t len,
                           int64_t now);

/* cache_xfer_recv_tick - re-request what timed out; FAILED with
 * CL_ETIMEDOUT after max_retries re-requests of one item (the peer is
 * considered lost; fetched chunks stay in the store). */
int cache_xfer_recv_tick(cache_xfer_recv *r, int64_t now);

/* cache_xfer_recv_next_timer - when to call tick next (INT64_MAX: never). */
int64_t cache_xfer_recv_next_timer(const cache_xfer_recv *r);

enum cache_xfer_state cache_xfer_recv_state(const cache_xfer_recv *r);

/* cache_xfer_recv_error - the failure code (0 unless FAILED) and, when
 * `why` is given, its explanation. */
int cache_xfer_recv_error(const cache_xfer_recv *r, cl_errmsg *why);

void cache_xfer_recv_get_stats(const cache_xfer_recv *r,
                               cache_xfer_recv_stats *out);

/* cache_xfer_check_write - an offloaded chunk's job: CL_ECORRUPT when `buf`
 * does not hash to `chunk`, else what the store's write_chunk returns. Safe
 * on any thread when the store is (cache_store_xfer_store's is). */
int cache_xfer_check_write(const cache_xfer_store *st, const cache_digest *chunk,
                           const uint8_t *buf, size_t len);

/* cache_xfer_recv_chunk_checked - the outcome `rv` of an offloaded check,
 * on the receiver's thread: done, asked again (CL_ECORRUPT), or FAILED (a
 * store error, returned). An outcome after the receiver ended is only
 * counted off. The receiver must outlive the checks it started: its owner
 * counts them, and frees it only once each has reported or been dropped
 * with the receiver (then nothing is reported). */
int cache_xfer_recv_chunk_checked(cache_xfer_recv *r, const cache_digest *chunk,
                                  int rv, int64_t now);

#endif
