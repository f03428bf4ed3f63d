/* store.c - the node-local store: opening, entries, batches, listing,
 * prune, gc and eviction. Artifacts are in artifact.c. */
#include "cache/cache_int.h"

#include "common/cl_fs.h"
#include "common/cl_heap.h"
#include "common/cl_log.h"
#include "common/cl_time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define COUNTERS_KEY "counters"

void cache_store_opts_init(cache_store_opts *o, const char *dir)
{
    memset(o, 0, sizeof(*o));
    o->dir = dir;
    o->low_watermark = 0.9;
    o->reserve_bytes = 64u << 20;
    o->orphan_grace_ms = 3600 * 1000;
    cache_score_params_init(&o->score);
    o->sync = true;
    o->auto_evict = true;
}

int64_t cache__now(cache_store *s)
{
    return s->o.clock != NULL ? s->o.clock(s->o.clock_data) : cl_wall_ms();
}

uint64_t cache__total(const cache_store *s)
{
    return s->entry_bytes + s->manifest_bytes + s->chunk_bytes + s->blob_bytes;
}

void cache__count(cache_store *s, uint64_t *field, uint64_t n)
{
    pthread_mutex_lock(&s->ctr_mu);
    *field += n;
    pthread_mutex_unlock(&s->ctr_mu);
}

int cache__mkdirs(const char *path, cl_errmsg *err)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf)) {
        cl_errmsg_set(err, "bad directory '%s'", path);
        return CL_EINVAL;
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            cl_errmsg_set(err, "mkdir '%s': %s", buf, strerror(e));
            return cl_err_from_errno(e);
        }
        buf[i] = c;
    }
    return 0;
}

int cache__writable(cache_store *s, cl_errmsg *err)
{
    if (s->o.read_only) {
        cl_errmsg_set(err, "cache: store '%s' is open read-only", s->dir);
        return CL_EPERM;
    }
    if (s->failed != 0) {
        cl_errmsg_set(err,
                      "cache: store '%s' refuses writes after an earlier "
                      "write failed (%s); free space and recover it",
                      s->dir, cl_strerror(s->failed));
        return s->failed;
    }
    return 0;
}

int cache__space(cache_store *s, uint64_t need, const char *what,
                 cl_errmsg *err)
{
    uint64_t avail;
    bool rdonly;
    int rv = cl_fs_space(s->dir, &avail, NULL, &rdonly);
    if (rv != 0) {
        cl_errmsg_set(err, "cache: %s: statvfs '%s': %s", what, s->dir,
                      cl_strerror(rv));
        return rv;
    }
    if (rdonly) {
        cl_errmsg_set(err, "cache: %s: '%s' is on a read-only file system",
                      what, s->dir);
        return CL_EPERM;
    }
    if (avail < need || avail - need < s->o.reserve_bytes) {
        char a[32], b[32], c[32];
        cl_fs_bytes_format(need, a, sizeof(a));
        cl_fs_bytes_format(s->o.reserve_bytes, b, sizeof(b));
        cl_fs_bytes_format(avail, c, sizeof(c));
        cl_errmsg_set(err,
                      "cache: %s: needs %s plus a reserve of %s, but only "
                      "%s are free on the file system of '%s'",
                      what, a, b, c, s->dir);
        return CL_ENOSPC;
    }
    return 0;
}

static void put_counters(cache_store *s, cache__rdb_batch *b)
{
    uint8_t buf[128];
    pthread_mutex_lock(&s->ctr_mu);
    size_t n = protobuf_c_message_get_packed_size(&s->ctr.base);
    if (n <= sizeof(buf))
        protobuf_c_message_pack(&s->ctr.base, buf);
    pthread_mutex_unlock(&s->ctr_mu);
    if (n <= sizeof(buf))
        cache__rdb_batch_put(b, CACHE__CF_STATS, COUNTERS_KEY,
                             strlen(COUNTERS_KEY), buf, n);
}

static void apply(uint64_t *v, int64_t d)
{
    if (d < 0 && (uint64_t)(-d) > *v)
        *v = 0;
    else
        *v = (uint64_t)((int64_t)*v + d);
}

int cache__write(cache_store *s, cache__rdb_batch *b,
                 enum cache__rdb_wmode mode, const cache__delta *d,
                 cl_errmsg *err)
{
    int rv = 0;
    if (cache__rdb_batch_count(b) == 0)
        goto out;
    if (mode == CACHE__RDB_SYNC && !s->o.sync)
        mode = CACHE__RDB_NOSYNC;
    int64_t grow =
        d != NULL ? d->entry_bytes + d->manifest_bytes + d->chunk_bytes : 0;
    /* Writes that shrink the store are let through even when the disk is
     * full: they are how space gets freed. */
    if (grow > 0 || d == NULL) {
        uint64_t need = cache__rdb_batch_bytes(b);
        rv = cache__space(s, need, "write", err);
        if (rv != 0)
            goto out;
    }
    put_counters(s, b);
    rv = cache__rdb_write(s->db, b, mode, err);
    if (rv != 0) {
        if (rv == CL_ENOSPC || rv == CL_EIO)
            s->failed = rv;
        cl_errmsg_wrap(err, "cache: write to '%s'", s->db_path);
        goto out;
    }
    if (d != NULL) {
        apply(&s->entries, d->entries);
        apply(&s->entry_bytes, d->entry_bytes);
        apply(&s->artifacts, d->artifacts);
        apply(&s->manifest_bytes, d->manifest_bytes);
        apply(&s->chunks, d->chunks);
        apply(&s->chunk_bytes, d->chunk_bytes);
    }
out:
    cache__rdb_batch_clear(b);
    return rv;
}

/* ---- open / close ------------------------------------------------------- */

static int recount(cache_store *s, cl_errmsg *err)
{
    cache__rdb_iter *it = NULL;
    int rv = cache__rdb_iter_new(s->db, CACHE__CF_ENTRIES, NULL, 0, &it);
    if (rv != 0)
        return rv;
    s->entries = s->entry_bytes = 0;
    for (; cache__rdb_iter_valid(it); cache__rdb_iter_next(it)) {
        size_t kl, vl;
        (void)cache__rdb_iter_key(it, &kl);
        (void)cache__rdb_iter_value(it, &vl);
        s->entries++;
        s->entry_bytes += kl + vl;
    }
    rv = cache__rdb_iter_status(it, err);
    cache__rdb_iter_free(it);
    if (rv != 0)
        return rv;
    return cache__recount_artifacts(s, err);
}

static int load_counters(cache_store *s, cl_errmsg *err)
{
    couler__cache__counters__init(&s->ctr);
    cache__rdb_val v;
    int rv = cache__rdb_get(s->db, CACHE__CF_STATS, COUNTERS_KEY,
                            strlen(COUNTERS_KEY), &v, err);
    if (rv == CL_ENOENT)
        return 0;
    if (rv != 0)
        return rv;
    Couler__Cache__Counters *c = couler__cache__counters__unpack(
        &cache__pb_alloc, v.len, (const uint8_t *)v.data);
    cache__rdb_val_free(&v);
    if (c == NULL) {
        CL_WARN("cache: counters of '%s' unreadable; starting from zero",
                s->dir);
        return 0;
    }
    s->ctr = *c;
    s->ctr.base.unknown_fields = NULL;
    s->ctr.base.n_unknown_fields = 0;
    couler__cache__counters__free_unpacked(c, &cache__pb_alloc);
    return 0;
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = cl_malloc(la + lb + 2);
    if (p == NULL)
        return NULL;
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

static int open_db(cache_store *s, cl_errmsg *err)
{
    cache__rdb_opts ro = {0};
    ro.write_buffer_size = s->o.write_buffer_size;
    ro.read_only = s->o.read_only;
    int rv = cache__rdb_open(s->db_path, &ro, &s->db, err);
    if (rv != 0) {
        cl_errmsg_wrap(err, "cache: open '%s'", s->db_path);
        return rv;
    }
    return 0;
}

int cache_store_open(const cache_store_opts *o, cache_store **out,
                     cl_errmsg *err)
{
    if (o == NULL || o->dir == NULL || o->dir[0] == '\0') {
        cl_errmsg_set(err, "cache: open: no directory given");
        return CL_EINVAL;
    }
    int rv = cl_crypto_init();
    if (rv != 0) {
        cl_errmsg_set(err, "cache: open: libsodium failed to initialize");
        return rv;
    }
    cache_store *s = cl_calloc(1, sizeof(*s));
    if (s == NULL)
        return CL_ENOMEM;
    s->o = *o;
    if (s->o.low_watermark <= 0 || s->o.low_watermark > 1)
        s->o.low_watermark = 0.9;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->ctr_mu, NULL);
    for (size_t i = 0; i < CACHE__BLOB_LOCKS; i++)
        pthread_mutex_init(&s->blob_mu[i], NULL);
    couler__cache__counters__init(&s->ctr);
    s->dir = cl_strdup(o->dir);
    s->db_path = join(o->dir, "db");
    s->blob_dir = join(o->dir, "blobs");
    rv = CL_ENOMEM;
    if (s->dir == NULL || s->db_path == NULL || s->blob_dir == NULL)
        goto fail;
    if (!o->read_only) {
        if ((rv = cache__mkdirs(s->dir, err)) != 0 ||
            (rv = cache__mkdirs(s->blob_dir, err)) != 0) {
            cl_errmsg_wrap(err, "cache: open '%s'", s->dir);
            goto fail;
        }
    }
    s->o.dir = s->dir;
    if ((rv = open_db(s, err)) != 0)
        goto fail;
    if ((rv = load_counters(s, err)) != 0 || (rv = recount(s, err)) != 0) {
        cl_errmsg_wrap(err, "cache: open '%s': reading totals", s->dir);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    cache_store_close(s);
    return rv;
}

static void save_counters(cache_store *s)
{
    if (s->db == NULL || s->o.read_only || s->failed != 0)
        return;
    cache__rdb_batch *b = NULL;
    if (cache__rdb_batch_new(s->db, &b) != 0)
        return;
    put_counters(s, b);
    cl_errmsg m;
    cl_errmsg_clear(&m);
    if (cache__rdb_write(s->db, b, CACHE__RDB_SYNC, &m) != 0)
        CL_WARN("cache: saving counters of '%s': %s", s->dir, m.msg);
    cache__rdb_batch_free(b);
}

void cache_store_close(cache_store *s)
{
    if (s == NULL)
        return;
    save_counters(s);
    cache__rdb_close(s->db);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->ctr_mu);
    for (size_t i = 0; i < CACHE__BLOB_LOCKS; i++)
        pthread_mutex_destroy(&s->blob_mu[i]);
    cl_free(s->dir);
    cl_free(s->db_path);
    cl_free(s->blob_dir);
    cl_free(s);
}

int cache_store_recover(cache_store *s, cl_errmsg *err)
{
    pthread_mutex_lock(&s->mu);
    cache__rdb_close(s->db);
    s->db = NULL;
    int rv = open_db(s, err);
    if (rv == 0) {
        s->failed = 0;
        rv = recount(s, err);
    }
    pthread_mutex_unlock(&s->mu);
    return rv;
}

/* ---- batches ------------------------------------------------------------ */

struct batch_op {
    cache_key key;
    uint8_t *val; /* cl_malloc'd encoded entry; NULL for a remove */
    size_t len;
    size_t seq;
};

struct cache_batch {
    cache_store *s;
    struct batch_op *ops;
    size_t n, cap;
};

int cache_batch_new(cache_store *s, cache_batch **out)
{
    cache_batch *b = cl_calloc(1, sizeof(*b));
    if (b == NULL)
        return CL_ENOMEM;
    b->s = s;
    *out = b;
    return 0;
}

static void batch_reset(cache_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        cl_free(b->ops[i].val);
    b->n = 0;
}

void cache_batch_free(cache_batch *b)
{
    if (b == NULL)
        return;
    batch_reset(b);
    cl_free(b->ops);
    cl_free(b);
}

size_t cache_batch_count(const cache_batch *b)
{
    return b->n;
}

static int batch_push(cache_batch *b, const cache_key *key, uint8_t *val,
                      size_t len)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        struct batch_op *ops = cl_realloc(b->ops, cap * sizeof(*ops));
        if (ops == NULL)
            return CL_ENOMEM;
        b->ops = ops;
        b->cap = cap;
    }
    struct batch_op *op = &b->ops[b->n];
    op->key = *key;
    op->val = val;
    op->len = len;
    op->seq = b->n;
    b->n++;
    return 0;
}

int cache_batch_put(cache_batch *b, const cache_key *key, const cache_entry *e)
{
    cache_entry c = *e;
    if (c.created_ms == 0)
        c.created_ms = cache__now(b->s);
    if (c.last_used_ms < c.created_ms)
        c.last_used_ms = c.created_ms;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rv = cache__entry_encode(&c, &buf, &len);
    if (rv != 0)
        return rv;
    if (len > CACHE_MAX_ENTRY) {
        cl_free(buf);
        return CL_ETOOBIG;
    }
    rv = batch_push(b, key, buf, len);
    if (rv != 0)
        cl_free(buf);
    return rv;
}

int cache_batch_remove(cache_batch *b, const cache_key *key)
{
    return batch_push(b, key, NULL, 0);
}

static int cmp_op(const void *pa, const void *pb)
{
    const struct batch_op *a = pa, *b = pb;
    int c = memcmp(a->key.b, b->key.b, CL_DIGEST_SIZE);
    if (c != 0)
        return c;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

int cache_batch_commit(cache_batch *b, cl_errmsg *err)
{
    cache_store *s = b->s;
    int rv = cache__writable(s, err);
    if (rv != 0 || b->n == 0)
        goto out_nolock;
    /* Only the last operation on a key matters (as in the WriteBatch); the
     * accounting needs each key once. */
    if (b->n > 1)
        qsort(b->ops, b->n, sizeof(*b->ops), cmp_op);
    cache__rdb_batch *wb = NULL;
    if ((rv = cache__rdb_batch_new(s->db, &wb)) != 0)
        goto out_nolock;
    cache__delta d = {0};
    uint64_t puts = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < b->n; i++) {
        struct batch_op *op = &b->ops[i];
        if (i + 1 < b->n &&
            memcmp(op->key.b, b->ops[i + 1].key.b, CL_DIGEST_SIZE) == 0)
            continue;
        cache__rdb_val old;
        int g = cache__rdb_get(s->db, CACHE__CF_ENTRIES, op->key.b,
                               CL_DIGEST_SIZE, &old, err);
        if (g == 0) {
            d.entries--;
            d.entry_bytes -= (int64_t)(CL_DIGEST_SIZE + old.len);
            cache__rdb_val_free(&old);
        } else if (g != CL_ENOENT) {
            rv = g;
            pthread_mutex_unlock(&s->mu);
            cache__rdb_batch_free(wb);
            goto out_nolock;
        }
        if (op->val != NULL) {
            cache__rdb_batch_put(wb, CACHE__CF_ENTRIES, op->key.b,
                                 CL_DIGEST_SIZE, op->val, op->len);
            d.entries++;
            d.entry_bytes += (int64_t)(CL_DIGEST_SIZE + op->len);
            puts++;
        } else {
            cache__rdb_batch_del(wb, CACHE__CF_ENTRIES, op->key.b,
                                 CL_DIGEST_SIZE);
        }
    }
    cache__count(s, &s->ctr.puts, puts);
    rv = cache__write(s, wb, CACHE__RDB_SYNC, &d, err);
    if (rv != 0)
        cache__count(s, &s->ctr.puts, (uint64_t) - (int64_t)puts);
    bool over = rv == 0 && s->o.auto_evict && s->o.capacity_bytes > 0 &&
                cache__total(s) > s->o.capacity_bytes;
    pthread_mutex_unlock(&s->mu);
    cache__rdb_batch_free(wb);
    if (over) {
        cl_errmsg m;
        cl_errmsg_clear(&m);
        if (cache_store_evict(s, NULL, &m) != 0)
            CL_WARN("%s", m.msg);
    }
out_nolock:
    batch_reset(b);
    return rv;
}

/* ---- entries ------------------------------------------------------------ */

int cache_store_put(cache_store *s, const cache_key *key, const cache_entry *e,
                    cl_errmsg *err)
{
    cache_batch b = {s, NULL, 0, 0};
    struct batch_op op;
    b.ops = &op;
    b.cap = 1;
    int rv = cache_batch_put(&b, key, e);
    if (rv != 0)
        return rv;
    rv = cache_batch_commit(&b, err);
    /* ops lives on the stack: batch_reset already freed op.val. */
    return rv;
}

static int get_entry(cache_store *s, const cache_key *key, cache_entry **out,
                     size_t *vlen, cl_errmsg *err)
{
    cache__rdb_val v;
    int rv = cache__rdb_get(s->db, CACHE__CF_ENTRIES, key->b, CL_DIGEST_SIZE,
                            &v, err);
    if (rv == CL_ENOENT) {
        char hex[CL_DIGEST_HEX_SIZE];
        cl_errmsg_set(err, "cache: no entry %s", cache_key_hex(key, hex));
        return rv;
    }
    if (rv != 0)
        return rv;
    rv = cache__entry_decode((const uint8_t *)v.data, v.len, out);
    if (vlen != NULL)
        *vlen = v.len;
    cache__rdb_val_free(&v);
    if (rv != 0) {
        char hex[CL_DIGEST_HEX_SIZE];
        cl_errmsg_set(err, "cache: entry %s is unreadable (%s)",
                      cache_key_hex(key, hex), cl_strerror(rv));
        return rv == CL_ENOMEM ? rv : CL_ECORRUPT;
    }
    (*out)->key = *key;
    return 0;
}

int cache_store_get(cache_store *s, const cache_key *key, cache_entry **out,
                    cl_errmsg *err)
{
    return get_entry(s, key, out, NULL, err);
}

/* rewrite - read-modify-write an entry under `mu` (hits, consumers). */
static int rewrite(cache_store *s, const cache_key *key,
                   void (*fn)(cache_entry *e, void *arg), void *arg,
                   enum cache__rdb_wmode mode, cl_errmsg *err)
{
    int rv = cache__writable(s, err);
    if (rv != 0)
        return rv;
    cache__rdb_batch *wb = NULL;
    if ((rv = cache__rdb_batch_new(s->db, &wb)) != 0)
        return rv;
    pthread_mutex_lock(&s->mu);
    cache_entry *e = NULL;
    size_t oldlen = 0;
    uint8_t *buf = NULL;
    size_t len = 0;
    rv = get_entry(s, key, &e, &oldlen, err);
    if (rv != 0)
        goto out;
    fn(e, arg);
    if ((rv = cache__entry_encode(e, &buf, &len)) != 0)
        goto out;
    cache__rdb_batch_put(wb, CACHE__CF_ENTRIES, key->b, CL_DIGEST_SIZE, buf,
                         len);
    cache__delta d = {0};
    d.entry_bytes = (int64_t)len - (int64_t)oldlen;
    rv = cache__write(s, wb, mode, &d, err);
out:
    pthread_mutex_unlock(&s->mu);
    cl_free(buf);
    cache_entry_free(e);
    cache__rdb_batch_free(wb);
    return rv;
}

struct hit_arg {
    int64_t now;
};

static void note_hit(cache_entry *e, void *arg)
{
    struct hit_arg *h = arg;
    e->hits++;
    if (h->now > e->last_used_ms)
        e->last_used_ms = h->now;
}

int cache_store_lookup(cache_store *s, const cache_key *key, int64_t max_age_ms,
                       cache_entry **out, cl_errmsg *err)
{
    cache_entry *e = NULL;
    int rv = get_entry(s, key, &e, NULL, err);
    if (rv != 0) {
        if (rv == CL_ENOENT)
            cache__count(s, &s->ctr.misses, 1);
        return rv;
    }
    int64_t now = cache__now(s);
    int64_t age = now - e->created_ms;
    int64_t limit = max_age_ms;
    if (e->max_age_ms > 0 && (limit <= 0 || e->max_age_ms < limit))
        limit = e->max_age_ms;
    if (limit > 0 && age > limit) {
        char hex[CL_DIGEST_HEX_SIZE], a[32], l[32];
        cl_errmsg_set(err, "cache: entry %s expired (age %s > maxAge %s)",
                      cache_key_hex(key, hex),
                      cl_duration_format(age, a, sizeof(a)),
                      cl_duration_format(limit, l, sizeof(l)));
        cache_entry_free(e);
        cache__count(s, &s->ctr.misses, 1);
        cache__count(s, &s->ctr.expired, 1);
        return CL_ENOENT;
    }
    cache__count(s, &s->ctr.hits, 1);
    e->hits++;
    if (now > e->last_used_ms)
        e->last_used_ms = now;
    if (!s->o.read_only && s->failed == 0) {
        struct hit_arg h = {now};
        cl_errmsg m;
        cl_errmsg_clear(&m);
        /* A lost hit counter costs nothing: no sync. */
        if (rewrite(s, key, note_hit, &h, CACHE__RDB_NOSYNC, &m) != 0)
            CL_DEBUG("cache: recording a hit: %s", m.msg);
    }
    *out = e;
    return 0;
}

int cache_store_remove(cache_store *s, const cache_key *key, cl_errmsg *err)
{
    int rv = cache__writable(s, err);
    if (rv != 0)
        return rv;
    cache__rdb_batch *wb = NULL;
    if ((rv = cache__rdb_batch_new(s->db, &wb)) != 0)
        return rv;
    pthread_mutex_lock(&s->mu);
    cache__rdb_val v;
    rv = cache__rdb_get(s->db, CACHE__CF_ENTRIES, key->b, CL_DIGEST_SIZE, &v,
                        err);
    if (rv == 0) {
        cache__delta d = {0};
        d.entries = -1;
        d.entry_bytes = -(int64_t)(CL_DIGEST_SIZE + v.len);
        cache__rdb_val_free(&v);
        cache__rdb_batch_del(wb, CACHE__CF_ENTRIES, key->b, CL_DIGEST_SIZE);
        rv = cache__write(s, wb, CACHE__RDB_SYNC, &d, err);
    } else if (rv == CL_ENOENT) {
        char hex[CL_DIGEST_HEX_SIZE];
        cl_errmsg_set(err, "cache: no entry %s", cache_key_hex(key, hex));
    }
    pthread_mutex_unlock(&s->mu);
    cache__rdb_batch_free(wb);
    return rv;
}

static void note_consumer(cache_entry *e, void *arg)
{
    uint32_t dist = *(uint32_t *)arg;
    e->consumers++;
    e->downstream_weight += 1.0 / (double)dist;
}

int cache_store_note_consumer(cache_store *s, const cache_key *key,
                              uint32_t distance, cl_errmsg *err)
{
    if (distance == 0) {
        cl_errmsg_set(err, "cache: consumer distance must be at least 1");
        return CL_EINVAL;
    }
    return rewrite(s, key, note_consumer, &distance, CACHE__RDB_NOSYNC, err);
}

int cache_store_list(cache_store *s, cache_list_fn fn, void *data,
                     cl_errmsg *err)
{
    cache__rdb_iter *it = NULL;
    int rv = cache__rdb_iter_new(s->db, CACHE__CF_ENTRIES, NULL, 0, &it);
    if (rv != 0)
        return rv;
    for (; cache__rdb_iter_valid(it); cache__rdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = cache__rdb_iter_key(it, &kl);
        const char *v = cache__rdb_iter_value(it, &vl);
        if (kl != CL_DIGEST_SIZE)
            continue;
        cache_entry *e = NULL;
        rv = cache__entry_decode((const uint8_t *)v, vl, &e);
        if (rv == CL_ENOMEM)
            break;
        if (rv != 0) {
            CL_WARN("cache: skipping an unreadable entry (%s)",
                    cl_strerror(rv));
            rv = 0;
            continue;
        }
        memcpy(e->key.b, k, CL_DIGEST_SIZE);
        rv = fn(data, e);
        cache_entry_free(e);
        if (rv != 0)
            break;
    }
    if (rv == 0)
        rv = cache__rdb_iter_status(it, err);
    cache__rdb_iter_free(it);
    return rv;
}

static void terms_at(const cache_score_params *p, const cache_entry *e,
                     int64_t now, cache_score_terms *out)
{
    cache_score_input in;
    in.compute_ms = e->compute_ms;
    in.upstream_ms = e->upstream_ms;
    in.hits = e->hits;
    in.downstream_weight = e->downstream_weight;
    in.size = cache_entry_size(e);
    int64_t last =
        e->last_used_ms > e->created_ms ? e->last_used_ms : e->created_ms;
    in.idle_ms = now > last ? now - last : 0;
    cache_score(p, &in, out);
}

void cache_store_score_terms(cache_store *s, const cache_entry *e,
                             cache_score_terms *out)
{
    terms_at(&s->o.score, e, cache__now(s), out);
}

void cache_store_usage_get(cache_store *s, cache_store_usage *u)
{
    memset(u, 0, sizeof(*u));
    pthread_mutex_lock(&s->mu);
    u->entries = s->entries;
    u->entry_bytes = s->entry_bytes;
    u->artifacts = s->artifacts;
    u->manifest_bytes = s->manifest_bytes;
    u->chunks = s->chunks;
    u->chunk_bytes = s->chunk_bytes;
    u->blobs = s->blobs;
    u->blob_bytes = s->blob_bytes;
    u->total_bytes = cache__total(s);
    u->capacity_bytes = s->o.capacity_bytes;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_lock(&s->ctr_mu);
    u->hits = s->ctr.hits;
    u->misses = s->ctr.misses;
    u->expired = s->ctr.expired;
    u->puts = s->ctr.puts;
    u->evicted = s->ctr.evicted;
    u->corrupt = s->ctr.corrupt;
    pthread_mutex_unlock(&s->ctr_mu);
}

/* ---- prune, gc, evict --------------------------------------------------- */

/* A scanned entry, for eviction. */
struct victim {
    cache_key key;
    double score;
    int64_t last;
    size_t bytes;  /* key + value */
    uint8_t *arts; /* nart * 32 bytes, cl_malloc'd */
    size_t nart;
};

struct scan {
    struct victim *v;
    size_t n, cap;
    cache__dset refs; /* artifact digest -> referencing entries */
};

static void scan_free(struct scan *sc)
{
    for (size_t i = 0; i < sc->n; i++)
        cl_free(sc->v[i].arts);
    cl_free(sc->v);
    cache__dset_free(&sc->refs);
}

/* delete_entry_locked - stage the removal of one entry. */
static void delete_entry(cache__rdb_batch *wb, const uint8_t *key, size_t bytes,
                         cache__delta *d)
{
    cache__rdb_batch_del(wb, CACHE__CF_ENTRIES, key, CL_DIGEST_SIZE);
    d->entries--;
    d->entry_bytes -= (int64_t)bytes;
}

/* sweep_entries - under `mu`: remove the entries `drop` selects (expired,
 * or unused since `cutoff` when cutoff > INT64_MIN), and collect the
 * survivors (with scores when `sc->v` is wanted) and their artifact
 * references. */
static int sweep_entries(cache_store *s, int64_t now, int64_t cutoff,
                         bool want_victims, struct scan *sc,
                         cache_gc_report *rep, cl_errmsg *err)
{
    cache__rdb_iter *it = NULL;
    cache__rdb_batch *wb = NULL;
    int rv = cache__rdb_iter_new(s->db, CACHE__CF_ENTRIES, NULL, 0, &it);
    if (rv != 0)
        return rv;
    if ((rv = cache__rdb_batch_new(s->db, &wb)) != 0)
        goto out;
    cache__delta d = {0};
    for (; cache__rdb_iter_valid(it); cache__rdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = cache__rdb_iter_key(it, &kl);
        const char *v = cache__rdb_iter_value(it, &vl);
        if (kl != CL_DIGEST_SIZE)
            continue;
        cache_entry *e = NULL;
        rv = cache__entry_decode((const uint8_t *)v, vl, &e);
        if (rv == CL_ENOMEM)
            goto out;
        if (rv != 0) { /* unreadable: drop it */
            delete_entry(wb, (const uint8_t *)k, kl + vl, &d);
            rep->entries_removed++;
            rv = 0;
            continue;
        }
        int64_t last =
            e->last_used_ms > e->created_ms ? e->last_used_ms : e->created_ms;
        bool expired = e->max_age_ms > 0 && now - e->created_ms > e->max_age_ms;
        bool old = cutoff != INT64_MIN && last <= cutoff;
        if (expired || old) {
            delete_entry(wb, (const uint8_t *)k, kl + vl, &d);
            if (expired)
                rep->expired_removed++;
            else
                rep->entries_removed++;
            cache_entry_free(e);
            continue;
        }
        for (size_t i = 0; i < e->nartifacts && rv == 0; i++)
            rv = cache__dset_add(&sc->refs, e->artifacts[i].digest.b);
        if (rv == 0 && want_victims) {
            if (sc->n == sc->cap) {
                size_t cap = sc->cap ? 2 * sc->cap : 64;
                struct victim *nv = cl_realloc(sc->v, cap * sizeof(*nv));
                if (nv == NULL)
                    rv = CL_ENOMEM;
                else {
                    sc->v = nv;
                    sc->cap = cap;
                }
            }
            if (rv == 0) {
                struct victim *vi = &sc->v[sc->n];
                memset(vi, 0, sizeof(*vi));
                memcpy(vi->key.b, k, CL_DIGEST_SIZE);
                cache_score_terms t;
                terms_at(&s->o.score, e, now, &t);
                vi->score = t.score;
                vi->last = last;
                vi->bytes = kl + vl;
                vi->nart = e->nartifacts;
                if (vi->nart > 0) {
                    vi->arts = cl_malloc(vi->nart * CL_DIGEST_SIZE);
                    if (vi->arts == NULL)
                        rv = CL_ENOMEM;
                    for (size_t i = 0; rv == 0 && i < vi->nart; i++)
                        memcpy(vi->arts + i * CL_DIGEST_SIZE,
                               e->artifacts[i].digest.b, CL_DIGEST_SIZE);
                }
                if (rv == 0)
                    sc->n++;
            }
        }
        cache_entry_free(e);
        if (rv != 0)
            goto out;
        if (cache__rdb_batch_count(wb) >= 1024 &&
            (rv = cache__write(s, wb, CACHE__RDB_NOSYNC, &d, err)) != 0)
            goto out;
        if (cache__rdb_batch_count(wb) == 0)
            memset(&d, 0, sizeof(d));
    }
    if ((rv = cache__rdb_iter_status(it, err)) != 0)
        goto out;
    rv = cache__write(s, wb, CACHE__RDB_SYNC, &d, err);
out:
    cache__rdb_batch_free(wb);
    cache__rdb_iter_free(it);
    return rv;
}

/* remove_artifact - remove one artifact in its own batch (its chunk
 * reference counts are read back by the next removal). */
static int remove_artifact(cache_store *s, const uint8_t *digest,
                           cache_gc_report *rep, cl_errmsg *err)
{
    cache__rdb_batch *wb = NULL;
    int rv = cache__rdb_batch_new(s->db, &wb);
    if (rv != 0)
        return rv;
    cache__delta d = {0};
    uint64_t chunks = 0;
    rv = cache__artifact_remove_locked(s, digest, wb, &d, &chunks, err);
    if (rv == 0)
        rv = cache__write(s, wb, CACHE__RDB_NOSYNC, &d, err);
    if (rv == 0) {
        rep->artifacts_removed++;
        rep->chunks_removed += chunks;
    }
    cache__rdb_batch_free(wb);
    return rv == CL_ENOENT ? 0 : rv;
}

/* sweep_artifacts - remove artifacts no entry references and that were
 * not used since `cutoff`; then chunks no manifest lists, created before
 * `cutoff`. */
static int sweep_artifacts(cache_store *s, const cache__dset *refs,
                           int64_t cutoff, cache_gc_report *rep, cl_errmsg *err)
{
    uint8_t pfx = CACHE__P_INFO;
    cache__rdb_iter *it = NULL;
    uint8_t *doomed = NULL;
    size_t n = 0, cap = 0;
    int rv = cache__rdb_iter_new(s->db, CACHE__CF_ARTIFACTS, &pfx, 1, &it);
    if (rv != 0)
        return rv;
    for (; cache__rdb_iter_valid(it); cache__rdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = cache__rdb_iter_key(it, &kl);
        const char *v = cache__rdb_iter_value(it, &vl);
        if (kl != 1 + CL_DIGEST_SIZE)
            continue;
        const uint8_t *dg = (const uint8_t *)k + 1;
        if (cache__dset_get(refs, dg) > 0)
            continue;
        Couler__Cache__ArtifactInfo *ai = couler__cache__artifact_info__unpack(
            &cache__pb_alloc, vl, (const uint8_t *)v);
        int64_t last = ai != NULL ? ai->last_used_ms : INT64_MIN;
        if (ai != NULL)
            couler__cache__artifact_info__free_unpacked(ai, &cache__pb_alloc);
        if (last > cutoff)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            uint8_t *nd = cl_realloc(doomed, cap * CL_DIGEST_SIZE);
            if (nd == NULL) {
                rv = CL_ENOMEM;
                goto out;
            }
            doomed = nd;
        }
        memcpy(doomed + n * CL_DIGEST_SIZE, dg, CL_DIGEST_SIZE);
        n++;
    }
    if ((rv = cache__rdb_iter_status(it, err)) != 0)
        goto out;
    cache__rdb_iter_free(it);
    it = NULL;
    for (size_t i = 0; i < n && rv == 0; i++)
        rv = remove_artifact(s, doomed + i * CL_DIGEST_SIZE, rep, err);
    if (rv != 0)
        goto out;

    /* Chunks of unfinished fetches (no manifest lists them). */
    pfx = CACHE__P_REF;
    if ((rv = cache__rdb_iter_new(s->db, CACHE__CF_CHUNKS, &pfx, 1, &it)) != 0)
        goto out;
    cache__rdb_batch *wb = NULL;
    if ((rv = cache__rdb_batch_new(s->db, &wb)) != 0)
        goto out;
    cache__delta d = {0};
    for (; cache__rdb_iter_valid(it); cache__rdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = cache__rdb_iter_key(it, &kl);
        const char *v = cache__rdb_iter_value(it, &vl);
        if (kl != 1 + CL_DIGEST_SIZE)
            continue;
        Couler__Cache__ChunkRef *cr = couler__cache__chunk_ref__unpack(
            &cache__pb_alloc, vl, (const uint8_t *)v);
        if (cr == NULL)
            continue;
        if (cr->refs == 0 && cr->created_ms <= cutoff) {
            uint8_t dk[1 + CL_DIGEST_SIZE];
            dk[0] = CACHE__P_DATA;
            memcpy(dk + 1, k + 1, CL_DIGEST_SIZE);
            cache__rdb_batch_del(wb, CACHE__CF_CHUNKS, dk, sizeof(dk));
            cache__rdb_batch_del(wb, CACHE__CF_CHUNKS, k, kl);
            if (!cr->missing) {
                d.chunks--;
                d.chunk_bytes -= cr->size;
            }
            rep->chunks_removed++;
        }
        couler__cache__chunk_ref__free_unpacked(cr, &cache__pb_alloc);
    }
    rv = cache__rdb_iter_status(it, err);
    if (rv == 0)
        rv = cache__write(s, wb, CACHE__RDB_SYNC, &d, err);
    cache__rdb_batch_free(wb);
out:
    cache__rdb_iter_free(it);
    cl_free(doomed);
    return rv;
}

static int gc_locked(cache_store *s, int64_t now, int64_t entry_cutoff,
                     struct scan *sc, bool want_victims, cache_gc_report *rep,
                     cl_errmsg *err)
{
    int rv = sweep_entries(s, now, entry_cutoff, want_victims, sc, rep, err);
    if (rv != 0)
        return rv;
    int64_t cutoff = now - s->o.orphan_grace_ms;
    if ((rv = sweep_artifacts(s, &sc->refs, cutoff, rep, err)) != 0)
        return rv;
    uint64_t blobs = 0;
    rv = cache__blobs_scan(s, true, cutoff, &blobs, err);
    rep->blobs_removed += blobs;
    return rv;
}

/* reclaim - the space of removed chunks in the blob files (outside `mu`: a
 * compaction can take a while, and writes go on meanwhile). */
static int reclaim(cache_store *s, cl_errmsg *err)
{
    int rv = cache__rdb_reclaim_blobs(s->db, CACHE__CF_CHUNKS, err);
    if (rv != 0)
        cl_errmsg_wrap(err, "reclaiming blob space");
    return rv;
}

static int gc_run(cache_store *s, int64_t entry_cutoff, cache_gc_report *rep,
                  const char *what, cl_errmsg *err)
{
    cache_gc_report local;
    if (rep == NULL)
        rep = &local;
    memset(rep, 0, sizeof(*rep));
    int rv = cache__writable(s, err);
    if (rv != 0)
        return rv;
    struct scan sc;
    memset(&sc, 0, sizeof(sc));
    cache__dset_init(&sc.refs);
    pthread_mutex_lock(&s->mu);
    rep->bytes_before = cache__total(s);
    rv = gc_locked(s, cache__now(s), entry_cutoff, &sc, false, rep, err);
    rep->bytes_after = cache__total(s);
    pthread_mutex_unlock(&s->mu);
    scan_free(&sc);
    if (rv == 0)
        rv = reclaim(s, err);
    if (rv != 0)
        cl_errmsg_wrap(err, "cache: %s", what);
    return rv;
}

int cache_store_gc(cache_store *s, cache_gc_report *rep, cl_errmsg *err)
{
    return gc_run(s, INT64_MIN, rep, "gc", err);
}

int cache_store_prune(cache_store *s, int64_t older_than_ms,
                      cache_gc_report *rep, cl_errmsg *err)
{
    if (older_than_ms < 0) {
        cl_errmsg_set(err, "cache: prune: negative duration");
        return CL_EINVAL;
    }
    return gc_run(s, cache__now(s) - older_than_ms, rep, "prune", err);
}

static int cmp_victim(const void *pa, const void *pb)
{
    const struct victim *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score < b->score ? -1 : 1;
    if (a->last != b->last)
        return a->last < b->last ? -1 : 1;
    return memcmp(a->key.b, b->key.b, CL_DIGEST_SIZE);
}

int cache_store_evict(cache_store *s, cache_gc_report *rep, cl_errmsg *err)
{
    cache_gc_report local;
    if (rep == NULL)
        rep = &local;
    memset(rep, 0, sizeof(*rep));
    int rv = cache__writable(s, err);
    if (rv != 0)
        return rv;
    struct scan sc;
    memset(&sc, 0, sizeof(sc));
    cache__dset_init(&sc.refs);
    pthread_mutex_lock(&s->mu);
    rep->bytes_before = cache__total(s);
    uint64_t cap = s->o.capacity_bytes;
    if (cap == 0 || cache__total(s) <= cap)
        goto out;
    uint64_t low = (uint64_t)((double)cap * s->o.low_watermark);
    int64_t now = cache__now(s);
    if ((rv = gc_locked(s, now, INT64_MIN, &sc, true, rep, err)) != 0)
        goto out;
    if (sc.n > 1) /* none: sc.v is NULL, which qsort must not get */
        qsort(sc.v, sc.n, sizeof(*sc.v), cmp_victim);
    cache__rdb_batch *wb = NULL;
    if ((rv = cache__rdb_batch_new(s->db, &wb)) != 0)
        goto out;
    uint64_t evicted = 0;
    for (size_t i = 0; i < sc.n && cache__total(s) > low; i++) {
        struct victim *v = &sc.v[i];
        cache__delta d = {0};
        delete_entry(wb, v->key.b, v->bytes, &d);
        if ((rv = cache__write(s, wb, CACHE__RDB_NOSYNC, &d, err)) != 0)
            break;
        evicted++;
        for (size_t j = 0; j < v->nart && rv == 0; j++) {
            const uint8_t *dg = v->arts + j * CL_DIGEST_SIZE;
            if (cache__dset_dec(&sc.refs, dg) == 0)
                rv = remove_artifact(s, dg, rep, err);
        }
    }
    /* What may still be over is recent unreferenced data (an import whose
     * entry is not written yet, a fetch in progress): it is left alone,
     * and the warning below says so. */
    if (rv == 0) {
        /* One sync makes the unsynced removals above durable. */
        cache__delta none = {0};
        put_counters(s, wb);
        rv = cache__write(s, wb, CACHE__RDB_SYNC, &none, err);
    }
    cache__rdb_batch_free(wb);
    rep->entries_removed += evicted;
    cache__count(s, &s->ctr.evicted, evicted);
    if (cache__total(s) > cap)
        CL_WARN("cache: '%s' holds %llu bytes after eviction, capacity "
                "%llu: the rest is recent data no entry references yet",
                s->dir, (unsigned long long)cache__total(s),
                (unsigned long long)cap);
out:
    rep->bytes_after = cache__total(s);
    pthread_mutex_unlock(&s->mu);
    scan_free(&sc);
    /* No reclaim here: eviction runs inline after a commit, and blob files
     * left with nothing live go with ordinary compactions anyway. */
    if (rv != 0)
        cl_errmsg_wrap(err, "cache: evict");
    return rv;
}
