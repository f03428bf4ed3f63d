#include "coordinator/coord_store.h"

#include "common/cl_fs.h"
#include "common/cl_heap.h"
#include "common/cl_log.h"
#include "common/cl_time.h"

#include <rocksdb/c.h>
#include <stdlib.h>
#include <string.h>

struct coord_store {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_readoptions_t *ropts;
    rocksdb_writeoptions_t *wopts;
    rocksdb_writeoptions_t *wopts_sync;
    char *dir;
    uint64_t reserve; /* bytes kept free on the store's file system */
    int64_t logged_at; /* cl_now_ms of the last failure logged */
    uint64_t unlogged; /* failures since then */
};

/* Free space kept on the store's file system: a 16 MiB memtable's flush
 * and the WAL growing meanwhile. */
#define RESERVE (32ull << 20)

struct coord_batch {
    rocksdb_writebatch_t *wb;
};

/* Map a RocksDB error string to a CL code, keeping the text; frees it. */
static int rdb_error(char *rerr, const char *what, cl_errmsg *err)
{
    int rv = CL_EDB;
    if (strstr(rerr, "No space left") || strstr(rerr, "NoSpace"))
        rv = CL_ENOSPC;
    else if (strstr(rerr, "Permission denied") ||
             strstr(rerr, "Read-only file system"))
        rv = CL_EPERM;
    else if (strstr(rerr, "Corruption"))
        rv = CL_ECORRUPT;
    cl_errmsg_set(err, "%s: %s", what, rerr);
    rocksdb_free(rerr);
    return rv;
}

int coord_store_open(const char *dir, coord_store **out, cl_errmsg *err)
{
    coord_store *s = cl_calloc(1, sizeof(*s));
    if (s == NULL)
        return CL_ENOMEM;
    s->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(s->opts, 1);
    rocksdb_options_set_keep_log_file_num(s->opts, 2);
    rocksdb_options_set_max_open_files(s->opts, 256);
    /* Small daemon: modest memory, compression where available. */
    rocksdb_options_set_write_buffer_size(s->opts, 16u << 20);
    rocksdb_options_set_compression(s->opts, rocksdb_lz4_compression);
    char *rerr = NULL;
    s->db = rocksdb_open(s->opts, dir, &rerr);
    if (rerr != NULL) {
        int rv = rdb_error(rerr, "opening the state store", err);
        rocksdb_options_destroy(s->opts);
        cl_free(s);
        return rv;
    }
    s->dir = cl_strdup(dir);
    uint64_t size = 0;
    if (s->dir == NULL || cl_fs_space(dir, NULL, &size, NULL) != 0)
        size = 0;
    s->reserve = size > 0 && size / 4 < RESERVE ? size / 4 : RESERVE;
    s->ropts = rocksdb_readoptions_create();
    s->wopts = rocksdb_writeoptions_create();
    s->wopts_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(s->wopts_sync, 1);
    *out = s;
    return 0;
}

void coord_store_close(coord_store *s)
{
    if (s == NULL)
        return;
    rocksdb_close(s->db);
    cl_free(s->dir);
    rocksdb_readoptions_destroy(s->ropts);
    rocksdb_writeoptions_destroy(s->wopts);
    rocksdb_writeoptions_destroy(s->wopts_sync);
    rocksdb_options_destroy(s->opts);
    cl_free(s);
}

int coord_store_get(coord_store *s, const char *key, char **val, size_t *vlen,
                    cl_errmsg *err)
{
    char *rerr = NULL;
    size_t len = 0;
    char *v = rocksdb_get(s->db, s->ropts, key, strlen(key), &len, &rerr);
    if (rerr != NULL)
        return rdb_error(rerr, "reading the state store", err);
    if (v == NULL)
        return CL_ENOENT;
    char *copy = cl_malloc(len + 1);
    if (copy == NULL) {
        rocksdb_free(v);
        return CL_ENOMEM;
    }
    memcpy(copy, v, len);
    copy[len] = '\0';
    rocksdb_free(v);
    *val = copy;
    *vlen = len;
    return 0;
}

int coord_store_scan(coord_store *s, const char *prefix, const char *from,
                     coord_scan_cb cb, void *data, cl_errmsg *err)
{
    size_t plen = strlen(prefix);
    rocksdb_iterator_t *it = rocksdb_create_iterator(s->db, s->ropts);
    const char *start = from ? from : prefix;
    rocksdb_iter_seek(it, start, strlen(start));
    int rv = 0;
    for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen < plen || memcmp(k, prefix, plen) != 0)
            break;
        const char *v = rocksdb_iter_value(it, &vlen);
        if (cb(data, k, klen, v, vlen) != 0)
            break;
    }
    char *rerr = NULL;
    rocksdb_iter_get_error(it, &rerr);
    if (rerr != NULL)
        rv = rdb_error(rerr, "scanning the state store", err);
    rocksdb_iter_destroy(it);
    return rv;
}

coord_batch *coord_batch_new(void)
{
    coord_batch *b = cl_calloc(1, sizeof(*b));
    if (b != NULL)
        b->wb = rocksdb_writebatch_create();
    return b;
}

void coord_batch_free(coord_batch *b)
{
    if (b == NULL)
        return;
    rocksdb_writebatch_destroy(b->wb);
    cl_free(b);
}

void coord_batch_put(coord_batch *b, const char *key, const void *val,
                     size_t vlen)
{
    rocksdb_writebatch_put(b->wb, key, strlen(key), val, vlen);
}

void coord_batch_del(coord_batch *b, const char *key)
{
    rocksdb_writebatch_delete(b->wb, key, strlen(key));
}

void coord_batch_del_prefix(coord_batch *b, const char *prefix)
{
    /* [prefix, prefix with its last byte incremented) */
    size_t n = strlen(prefix);
    char *end = cl_malloc(n + 1);
    if (end == NULL)
        return;
    memcpy(end, prefix, n + 1);
    end[n - 1]++;
    rocksdb_writebatch_delete_range(b->wb, prefix, n, end, n);
    cl_free(end);
}

size_t coord_batch_count(const coord_batch *b)
{
    return (size_t)rocksdb_writebatch_count(b->wb);
}

static int check_space(coord_store *s, size_t need, cl_errmsg *err)
{
    if (s->dir == NULL)
        return 0;
    uint64_t avail;
    if (cl_fs_space(s->dir, &avail, NULL, NULL) != 0)
        return 0; /* RocksDB reports what is wrong, if anything */
    if (avail >= need && avail - need >= s->reserve)
        return 0;
    char a[32], r[32];
    cl_fs_bytes_format(avail, a, sizeof(a));
    cl_fs_bytes_format(s->reserve, r, sizeof(r));
    cl_errmsg_set(err,
                  "the disk of %s is full: %s free, "
                  "%s are kept in reserve; free some space",
                  s->dir, a, r);
    return CL_ENOSPC;
}

int coord_store_write(coord_store *s, coord_batch *b, bool sync,
                      cl_errmsg *err)
{
    size_t need = 0;
    rocksdb_writebatch_data(b->wb, &need);
    int rv = check_space(s, need, err);
    if (rv == 0) {
        char *rerr = NULL;
        rocksdb_write(s->db, sync ? s->wopts_sync : s->wopts, b->wb, &rerr);
        if (rerr != NULL)
            rv = rdb_error(rerr, "writing the state store", err);
    }
    if (rv != 0) {
        /* Callers count failures; the log says why, once per 10 s. */
        int64_t now = cl_now_ms();
        if (s->logged_at == 0 || now - s->logged_at >= 10000) {
            CL_ERROR("%s (%llu more writes failed since the last report)",
                     err->msg, (unsigned long long)s->unlogged);
            s->logged_at = now;
            s->unlogged = 0;
        } else {
            s->unlogged++;
        }
    }
    return rv;
}
