/* rdb.h - the thin wrapper around RocksDB's C API (private to cache/).
 *
 * cache/rdb.c is the only file that includes rocksdb/c.h. Code above it sees
 * Couler types only: CL_E* codes instead of RocksDB's `char **errptr`
 * (converted once, in rdb.c), and value/iterator/batch handles whose
 * foreign memory is released by the matching cache__rdb_*_free call.
 *
 * The database has four column families (see cache/README.md):
 * entries, artifacts, chunks (BlobDB: large values in blob files) and
 * stats. RocksDB handles are thread-safe; a batch or an iterator belongs to
 * one thread at a time.
 */
#ifndef COULER_CACHE_RDB_H
#define COULER_CACHE_RDB_H

#include "common/cl_err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cache__cf {
    CACHE__CF_ENTRIES = 0,
    CACHE__CF_ARTIFACTS,
    CACHE__CF_CHUNKS,
    CACHE__CF_STATS,
    CACHE__CF_COUNT
};

typedef struct cache__rdb cache__rdb;

typedef struct cache__rdb_opts {
    size_t write_buffer_size; /* 0: 64 MiB */
    uint64_t min_blob_size;   /* chunks CF: values this large go to blob
                                 files; 0: 16 KiB */
    bool read_only;
} cache__rdb_opts;

/* cache__rdb_open - open or create the database at `path`. Errors:
 * CL_EPERM (read-only or forbidden), CL_ENOSPC, CL_EBUSY (locked by another
 * process), CL_ECORRUPT, CL_EDB; `err` gets RocksDB's text. */
int cache__rdb_open(const char *path, const cache__rdb_opts *o,
                    cache__rdb **out, cl_errmsg *err);
void cache__rdb_close(cache__rdb *db); /* NULL ok */

/* A value read from the database; data is valid until cache__rdb_val_free
 * (which releases the RocksDB pinnable slice). */
typedef struct cache__rdb_val {
    const char *data;
    size_t len;
    void *h_;
} cache__rdb_val;

/* cache__rdb_get - CL_ENOENT when absent. On success v must be freed. */
int cache__rdb_get(cache__rdb *db, enum cache__cf cf, const void *key,
                   size_t klen, cache__rdb_val *v, cl_errmsg *err);
void cache__rdb_val_free(cache__rdb_val *v);

/* cache__rdb_get_unchecked - like cache__rdb_get, without RocksDB's own
 * checksum verification: for values the caller checks itself (chunk data,
 * which carries its BLAKE2b digest in its key). Saves a CRC pass over
 * every byte read. */
int cache__rdb_get_unchecked(cache__rdb *db, enum cache__cf cf, const void *key,
                             size_t klen, cache__rdb_val *v, cl_errmsg *err);

/* Write batches: operations are copied into the batch at once. */
typedef struct cache__rdb_batch cache__rdb_batch;

enum cache__rdb_wmode {
    CACHE__RDB_SYNC = 0, /* WAL, fsync before returning */
    CACHE__RDB_NOSYNC,   /* WAL, no fsync */
    CACHE__RDB_NOWAL,    /* memtable only: durable after cache__rdb_flush */
};

int cache__rdb_batch_new(cache__rdb *db,
                         cache__rdb_batch **out); /* 0, ENOMEM */
void cache__rdb_batch_put(cache__rdb_batch *b, enum cache__cf cf, const void *k,
                          size_t kl, const void *v, size_t vl);
void cache__rdb_batch_del(cache__rdb_batch *b, enum cache__cf cf, const void *k,
                          size_t kl);
size_t cache__rdb_batch_count(const cache__rdb_batch *b);
size_t cache__rdb_batch_bytes(const cache__rdb_batch *b);
void cache__rdb_batch_clear(cache__rdb_batch *b);
void cache__rdb_batch_free(cache__rdb_batch *b); /* NULL ok */

int cache__rdb_write(cache__rdb *db, cache__rdb_batch *b,
                     enum cache__rdb_wmode mode, cl_errmsg *err);

/* cache__rdb_flush - write the memtable of `cf` to disk and wait. */
int cache__rdb_flush(cache__rdb *db, enum cache__cf cf, cl_errmsg *err);

/* cache__rdb_reclaim_blobs - give back the space of removed values in the
 * blob files of `cf`: a manual compaction with RocksDB's blob garbage
 * collection on for its duration (the live values of the oldest quarter of
 * the blob files are moved, files left with nothing live are deleted).
 * Garbage collection stays off otherwise, so that ordinary compactions after
 * a large write do not copy the blobs just written. */
int cache__rdb_reclaim_blobs(cache__rdb *db, enum cache__cf cf, cl_errmsg *err);

/* Iterators over the keys that start with `prefix` (plen may be 0), in key
 * order. key/value pointers are valid until the next move or free. */
typedef struct cache__rdb_iter cache__rdb_iter;

int cache__rdb_iter_new(cache__rdb *db, enum cache__cf cf, const void *prefix,
                        size_t plen, cache__rdb_iter **out);
bool cache__rdb_iter_valid(cache__rdb_iter *it);
void cache__rdb_iter_next(cache__rdb_iter *it);
const char *cache__rdb_iter_key(cache__rdb_iter *it, size_t *len);
const char *cache__rdb_iter_value(cache__rdb_iter *it, size_t *len);
/* cache__rdb_iter_status - 0, or the error that ended the iteration. */
int cache__rdb_iter_status(cache__rdb_iter *it, cl_errmsg *err);
void cache__rdb_iter_free(cache__rdb_iter *it); /* NULL ok */

/* cache__rdb_err_code - the CL_E* code for a RocksDB status text (exposed
 * for the tests of the conversion). */
int cache__rdb_err_code(const char *text);

#endif
