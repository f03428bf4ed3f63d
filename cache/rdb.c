/* rdb.c - RocksDB behind Couler types. The only includer of rocksdb/c.h. */
#include "cache/rdb.h"

#include "common/cl_heap.h"

#include <rocksdb/c.h>
#include <string.h>

static const char *const cf_names[CACHE__CF_COUNT + 1] = {
    "entries", "artifacts", "chunks", "stats", "default"};

struct cache__rdb {
    rocksdb_t *db;
    rocksdb_options_t *dbopts;
    rocksdb_options_t *cfopts[CACHE__CF_COUNT + 1];
    rocksdb_column_family_handle_t *cf[CACHE__CF_COUNT + 1];
    rocksdb_block_based_table_options_t *table;
    rocksdb_filterpolicy_t *filter; /* owned by `table` once set */
    rocksdb_cache_t *block_cache;
    rocksdb_readoptions_t *ropts;
    rocksdb_readoptions_t *ropts_unchecked;
    rocksdb_writeoptions_t *wopts[3];
    rocksdb_flushoptions_t *fopts;
};

struct cache__rdb_batch {
    cache__rdb *db; /* borrowed: a batch must not outlive its database */
    rocksdb_writebatch_t *wb;
};

struct cache__rdb_iter {
    rocksdb_iterator_t *it;
    rocksdb_readoptions_t *ropts;
    char *prefix; /* cl_malloc'd copy */
    size_t plen;
};

int cache__rdb_err_code(const char *text)
{
    if (text == NULL)
        return 0;
    if (strstr(text, "No space left") != NULL)
        return CL_ENOSPC;
    if (strstr(text, "Read-only file system") != NULL ||
        strstr(text, "Permission denied") != NULL ||
        strstr(text, "Operation not permitted") != NULL)
        return CL_EPERM;
    if (strstr(text, "Corruption") != NULL)
        return CL_ECORRUPT;
    if (strstr(text, "lock") != NULL &&
        (strstr(text, "Resource temporarily unavailable") != NULL ||
         strstr(text, "No locks available") != NULL ||
         strstr(text, "lock hold by current process") != NULL))
        return CL_EBUSY;
    if (strstr(text, "does not exist") != NULL ||
        strstr(text, "No such file") != NULL)
        return CL_ENOENT;
    if (strstr(text, "IO error") != NULL)
        return CL_EIO;
    return CL_EDB;
}

/* take_err - convert and release a RocksDB error string. */
static int take_err(char *e, cl_errmsg *err)
{
    if (e == NULL)
        return 0;
    int rv = cache__rdb_err_code(e);
    cl_errmsg_set(err, "%s", e);
    rocksdb_free(e);
    return rv;
}

static void free_handles(cache__rdb *d)
{
    for (int i = 0; i <= CACHE__CF_COUNT; i++) {
        if (d->cf[i] != NULL)
            rocksdb_column_family_handle_destroy(d->cf[i]);
        d->cf[i] = NULL;
    }
}

void cache__rdb_close(cache__rdb *d)
{
    if (d == NULL)
        return;
    free_handles(d);
    if (d->db != NULL)
        rocksdb_close(d->db);
    for (int i = 0; i <= CACHE__CF_COUNT; i++)
        if (d->cfopts[i] != NULL)
            rocksdb_options_destroy(d->cfopts[i]);
    if (d->dbopts != NULL)
        rocksdb_options_destroy(d->dbopts);
    if (d->table != NULL)
        rocksdb_block_based_options_destroy(d->table);
    if (d->block_cache != NULL)
        rocksdb_cache_destroy(d->block_cache);
    if (d->ropts != NULL)
        rocksdb_readoptions_destroy(d->ropts);
    if (d->ropts_unchecked != NULL)
        rocksdb_readoptions_destroy(d->ropts_unchecked);
    for (int i = 0; i < 3; i++)
        if (d->wopts[i] != NULL)
            rocksdb_writeoptions_destroy(d->wopts[i]);
    if (d->fopts != NULL)
        rocksdb_flushoptions_destroy(d->fopts);
    cl_free(d);
}

static rocksdb_options_t *cf_options(cache__rdb *d, int cf,
                                     const cache__rdb_opts *o)
{
    rocksdb_options_t *opt = rocksdb_options_create();
    size_t wbs = o->write_buffer_size ? o->write_buffer_size : (64u << 20);
    rocksdb_options_set_write_buffer_size(opt, wbs);
    rocksdb_options_set_block_based_table_factory(opt, d->table);
    switch (cf) {
    case CACHE__CF_CHUNKS:
        /* Chunks are up to 1 MiB, written once, read whole: BlobDB keeps
         * them out of the LSM tree so compactions move only keys. Blob
         * garbage collection runs with gc (cache__rdb_reclaim_blobs) only:
         * on, every compaction copied the oldest quarter of the blobs,
         * a third of a fetch's CPU right after a large write. */
        rocksdb_options_set_enable_blob_files(opt, 1);
        rocksdb_options_set_min_blob_size(
            opt, o->min_blob_size ? o->min_blob_size : (16u << 10));
        rocksdb_options_set_blob_file_size(opt, 256u << 20);
        rocksdb_options_set_enable_blob_gc(opt, 0);
        rocksdb_options_set_blob_compression_type(opt, rocksdb_no_compression);
        rocksdb_options_set_compression(opt, rocksdb_no_compression);
        break;
    default:
        break;
    }
    return opt;
}

int cache__rdb_open(const char *path, const cache__rdb_opts *o,
                    cache__rdb **out, cl_errmsg *err)
{
    cache__rdb *d = cl_calloc(1, sizeof(*d));
    if (d == NULL)
        return CL_ENOMEM;
    d->block_cache = rocksdb_cache_create_lru(32u << 20);
    d->table = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(d->table, d->block_cache);
    d->filter = rocksdb_filterpolicy_create_bloom_full(10);
    rocksdb_block_based_options_set_filter_policy(d->table, d->filter);

    d->dbopts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(d->dbopts, !o->read_only);
    rocksdb_options_set_create_missing_column_families(d->dbopts,
                                                       !o->read_only);
    rocksdb_options_set_keep_log_file_num(d->dbopts, 2);
    rocksdb_options_set_max_log_file_size(d->dbopts, 1u << 20);
    rocksdb_options_set_max_manifest_file_size(d->dbopts, 4u << 20);
    rocksdb_options_set_max_background_jobs(d->dbopts, 2);
    size_t wbs = o->write_buffer_size ? o->write_buffer_size : (64u << 20);
    rocksdb_options_set_max_total_wal_size(d->dbopts, 4 * (uint64_t)wbs);

    const char *names[CACHE__CF_COUNT + 1];
    const rocksdb_options_t *opts[CACHE__CF_COUNT + 1];
    for (int i = 0; i <= CACHE__CF_COUNT; i++) {
        d->cfopts[i] = cf_options(d, i, o);
        names[i] = cf_names[i];
        opts[i] = d->cfopts[i];
    }
    char *e = NULL;
    if (o->read_only)
        d->db = rocksdb_open_for_read_only_column_families(
            d->dbopts, path, CACHE__CF_COUNT + 1, names, opts, d->cf, 0, &e);
    else
        d->db = rocksdb_open_column_families(
            d->dbopts, path, CACHE__CF_COUNT + 1, names, opts, d->cf, &e);
    if (e != NULL) {
        int rv = take_err(e, err);
        d->db = NULL;
        for (int i = 0; i <= CACHE__CF_COUNT; i++)
            d->cf[i] = NULL;
        cache__rdb_close(d);
        return rv;
    }
    d->ropts = rocksdb_readoptions_create();
    d->ropts_unchecked = rocksdb_readoptions_create();
    rocksdb_readoptions_set_verify_checksums(d->ropts_unchecked, 0);
    for (int i = 0; i < 3; i++)
        d->wopts[i] = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(d->wopts[CACHE__RDB_SYNC], 1);
    rocksdb_writeoptions_disable_WAL(d->wopts[CACHE__RDB_NOWAL], 1);
    d->fopts = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(d->fopts, 1);
    *out = d;
    return 0;
}

static int get_with(cache__rdb *d, const rocksdb_readoptions_t *ro,
                    enum cache__cf cf, const void *key, size_t klen,
                    cache__rdb_val *v, cl_errmsg *err)
{
    char *e = NULL;
    rocksdb_pinnableslice_t *p =
        rocksdb_get_pinned_cf(d->db, ro, d->cf[cf], key, klen, &e);
    if (e != NULL) {
        if (p != NULL)
            rocksdb_pinnableslice_destroy(p);
        return take_err(e, err);
    }
    if (p == NULL)
        return CL_ENOENT;
    v->h_ = p;
    v->data = rocksdb_pinnableslice_value(p, &v->len);
    return 0;
}

int cache__rdb_get(cache__rdb *d, enum cache__cf cf, const void *key,
                   size_t klen, cache__rdb_val *v, cl_errmsg *err)
{
    return get_with(d, d->ropts, cf, key, klen, v, err);
}

int cache__rdb_get_unchecked(cache__rdb *d, enum cache__cf cf, const void *key,
                             size_t klen, cache__rdb_val *v, cl_errmsg *err)
{
    return get_with(d, d->ropts_unchecked, cf, key, klen, v, err);
}

void cache__rdb_val_free(cache__rdb_val *v)
{
    if (v != NULL && v->h_ != NULL) {
        rocksdb_pinnableslice_destroy(v->h_);
        v->h_ = NULL;
        v->data = NULL;
        v->len = 0;
    }
}

int cache__rdb_batch_new(cache__rdb *d, cache__rdb_batch **out)
{
    cache__rdb_batch *b = cl_malloc(sizeof(*b));
    if (b == NULL)
        return CL_ENOMEM;
    b->db = d;
    b->wb = rocksdb_writebatch_create();
    *out = b;
    return 0;
}

void cache__rdb_batch_put(cache__rdb_batch *b, enum cache__cf cf, const void *k,
                          size_t kl, const void *v, size_t vl)
{
    rocksdb_writebatch_put_cf(b->wb, b->db->cf[cf], k, kl, v, vl);
}

void cache__rdb_batch_del(cache__rdb_batch *b, enum cache__cf cf, const void *k,
                          size_t kl)
{
    rocksdb_writebatch_delete_cf(b->wb, b->db->cf[cf], k, kl);
}

size_t cache__rdb_batch_count(const cache__rdb_batch *b)
{
    return (size_t)rocksdb_writebatch_count(b->wb);
}

size_t cache__rdb_batch_bytes(const cache__rdb_batch *b)
{
    size_t len = 0;
    (void)rocksdb_writebatch_data(b->wb, &len);
    return len;
}

void cache__rdb_batch_clear(cache__rdb_batch *b)
{
    rocksdb_writebatch_clear(b->wb);
}

void cache__rdb_batch_free(cache__rdb_batch *b)
{
    if (b == NULL)
        return;
    rocksdb_writebatch_destroy(b->wb);
    cl_free(b);
}

int cache__rdb_write(cache__rdb *d, cache__rdb_batch *b,
                     enum cache__rdb_wmode mode, cl_errmsg *err)
{
    char *e = NULL;
    rocksdb_write(d->db, d->wopts[mode], b->wb, &e);
    return take_err(e, err);
}

int cache__rdb_flush(cache__rdb *d, enum cache__cf cf, cl_errmsg *err)
{
    char *e = NULL;
    rocksdb_flush_cf(d->db, d->fopts, d->cf[cf], &e);
    return take_err(e, err);
}

int cache__rdb_reclaim_blobs(cache__rdb *d, enum cache__cf cf, cl_errmsg *err)
{
    const char *keys[] = {"enable_blob_garbage_collection"};
    const char *on[] = {"true"}, *off[] = {"false"};
    char *e = NULL;
    rocksdb_set_options_cf(d->db, d->cf[cf], 1, keys, on, &e);
    if (e != NULL)
        return take_err(e, err);
    rocksdb_compact_range_cf(d->db, d->cf[cf], NULL, 0, NULL, 0);
    rocksdb_set_options_cf(d->db, d->cf[cf], 1, keys, off, &e);
    return take_err(e, err);
}

int cache__rdb_iter_new(cache__rdb *d, enum cache__cf cf, const void *prefix,
                        size_t plen, cache__rdb_iter **out)
{
    cache__rdb_iter *it = cl_calloc(1, sizeof(*it));
    if (it == NULL)
        return CL_ENOMEM;
    if (plen > 0) {
        it->prefix = cl_malloc(plen);
        if (it->prefix == NULL) {
            cl_free(it);
            return CL_ENOMEM;
        }
        memcpy(it->prefix, prefix, plen);
    }
    it->plen = plen;
    it->ropts = rocksdb_readoptions_create();
    /* A full scan should not push the hot entries out of the cache. */
    rocksdb_readoptions_set_fill_cache(it->ropts, 0);
    it->it = rocksdb_create_iterator_cf(d->db, it->ropts, d->cf[cf]);
    if (plen > 0)
        rocksdb_iter_seek(it->it, it->prefix, plen);
    else
        rocksdb_iter_seek_to_first(it->it);
    *out = it;
    return 0;
}

bool cache__rdb_iter_valid(cache__rdb_iter *it)
{
    if (!rocksdb_iter_valid(it->it))
        return false;
    if (it->plen == 0)
        return true;
    size_t kl = 0;
    const char *k = rocksdb_iter_key(it->it, &kl);
    return kl >= it->plen && memcmp(k, it->prefix, it->plen) == 0;
}

void cache__rdb_iter_next(cache__rdb_iter *it)
{
    rocksdb_iter_next(it->it);
}

const char *cache__rdb_iter_key(cache__rdb_iter *it, size_t *len)
{
    return rocksdb_iter_key(it->it, len);
}

const char *cache__rdb_iter_value(cache__rdb_iter *it, size_t *len)
{
    return rocksdb_iter_value(it->it, len);
}

int cache__rdb_iter_status(cache__rdb_iter *it, cl_errmsg *err)
{
    char *e = NULL;
    rocksdb_iter_get_error(it->it, &e);
    return take_err(e, err);
}

void cache__rdb_iter_free(cache__rdb_iter *it)
{
    if (it == NULL)
        return;
    rocksdb_iter_destroy(it->it);
    rocksdb_readoptions_destroy(it->ropts);
    cl_free(it->prefix);
    cl_free(it);
}
