/* Unit tests for cache/store.c (and the RocksDB wrapper under it): entries,
 * batches, reopening, lookups with maxAge, listing, prune, gc, eviction by
 * score, and the full-disk and read-only cases on real small file
 * systems. */
#include "cache_fixture.h"

#include "cache/cache_int.h"

#include <math.h>
#include <sys/statvfs.h>

struct fixture {
    char dir[256];
    cache_store *s;
    cache_store_opts o;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    fx_tmpdir(f->dir, sizeof(f->dir), "store");
    fx_opts(&f->o, f->dir);
    cl_errmsg err;
    cl_errmsg_clear(&err);
    if (cache_store_open(&f->o, &f->s, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    cache_store_close(f->s);
    fx_rm_rf(f->dir);
    free(f);
    return 0;
}

static void reopen(struct fixture *f)
{
    cache_store_close(f->s);
    f->s = NULL;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = cache_store_open(&f->o, &f->s, &err);
    if (rv != 0)
        fail_msg("reopen: %s", err.msg);
}

static cache_key key_n(uint32_t n)
{
    cache_key k;
    cl_digest(&n, sizeof(n), k.b);
    return k;
}

/* An entry with one parameter "n" = n and one artifact reference. */
struct ent {
    cache_entry e;
    cache_kv p[1];
    cache_artifact_ref a[1];
    char val[32];
};

static void ent_init(struct ent *x, uint32_t n)
{
    memset(x, 0, sizeof(*x));
    snprintf(x->val, sizeof(x->val), "%u", n);
    x->p[0].name = "n";
    x->p[0].value = x->val;
    x->a[0].name = "out";
    cl_digest(&n, sizeof(n), x->a[0].digest.b);
    x->a[0].digest.b[0] ^= 0x5a; /* not the key */
    x->a[0].size = 1000 + n;
    x->a[0].node = "node-1";
    x->e.params = x->p;
    x->e.nparams = 1;
    x->e.result = "ok";
    x->e.artifacts = x->a;
    x->e.nartifacts = 1;
    x->e.producer = "node-1";
    x->e.compute_ms = 1000;
}

static void put_n(struct fixture *f, uint32_t n)
{
    struct ent x;
    ent_init(&x, n);
    cache_key k = key_n(n);
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = cache_store_put(f->s, &k, &x.e, &err);
    if (rv != 0)
        fail_msg("put %u: %s", n, err.msg);
}

static void assert_has(struct fixture *f, uint32_t n)
{
    cache_key k = key_n(n);
    cache_entry *e = NULL;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = cache_store_get(f->s, &k, &e, &err);
    if (rv != 0)
        fail_msg("get %u: %s (%s)", n, cl_errname(rv), err.msg);
    char val[32];
    snprintf(val, sizeof(val), "%u", n);
    assert_int_equal(e->nparams, 1);
    assert_string_equal(e->params[0].value, val);
    assert_true(cache_key_equal(&e->key, &k));
    cache_entry_free(e);
}

static void assert_absent(struct fixture *f, uint32_t n)
{
    cache_key k = key_n(n);
    cache_entry *e = NULL;
    assert_int_equal(cache_store_get(f->s, &k, &e, NULL), CL_ENOENT);
}

static void test_put_get(void **state)
{
    struct fixture *f = *state;
    fx_clock_ms = 1800000000000LL;
    put_n(f, 1);
    cache_key k = key_n(1);
    cache_entry *e = NULL;
    assert_int_equal(cache_store_get(f->s, &k, &e, NULL), 0);
    assert_string_equal(e->result, "ok");
    assert_string_equal(e->producer, "node-1");
    assert_int_equal(e->nartifacts, 1);
    assert_int_equal(e->artifacts[0].size, 1001);
    assert_int_equal(e->created_ms, fx_clock_ms); /* stamped by the store */
    assert_int_equal(e->last_used_ms, fx_clock_ms);
    assert_int_equal(e->hits, 0);
    cache_entry_free(e);
    cl_errmsg err;
    cl_errmsg_clear(&err);
    cache_key missing = key_n(99);
    assert_int_equal(cache_store_get(f->s, &missing, &e, &err), CL_ENOENT);
    assert_non_null(strstr(err.msg, "no entry"));
    /* Replacing keeps one entry. */
    put_n(f, 1);
    cache_store_usage u;
    cache_store_usage_get(f->s, &u);
    assert_int_equal(u.entries, 1);
    assert_int_equal(u.puts, 2);
    assert_true(u.entry_bytes > 32);
}

static void test_batch(void **state)
{
    struct fixture *f = *state;
    cache_batch *b = NULL;
    assert_int_equal(cache_batch_new(f->s, &b), 0);
    struct ent x;
    for (uint32_t i = 0; i < 500; i++) {
        ent_init(&x, i);
        cache_key k = key_n(i);
        assert_int_equal(cache_batch_put(b, &k, &x.e), 0);
    }
    /* Later operations on a key win: 7 is removed, 8 gets a new value. */
    cache_key k7 = key_n(7), k8 = key_n(8);
    assert_int_equal(cache_batch_remove(b, &k7), 0);
    ent_init(&x, 8);
    x.e.result = "second";
    assert_int_equal(cache_batch_put(b, &k8, &x.e), 0);
    assert_int_equal(cache_batch_count(b), 502);
    /* Nothing is visible before the commit. */
    assert_absent(f, 3);
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(cache_batch_commit(b, &err), 0);
    assert_int_equal(cache_batch_count(b), 0);
    for (uint32_t i = 0; i < 500; i++)
        if (i != 7)
            assert_has(f, i);
    assert_absent(f, 7);
    cache_entry *e = NULL;
    assert_int_equal(cache_store_get(f->s, &k8, &e, NULL), 0);
    assert_string_equal(e->result, "second");
    cache_entry_free(e);
    cache_store_usage u;
    cache_store_usage_get(f->s, &u);
    assert_int_equal(u.entries, 499);
    /* A second commit of the same batch object works. */
    assert_int_equal(cache_batch_remove(b, &k8), 0);
    assert_int_equal(cache_batch_commit(b, &err), 0);
    assert_absent(f, 8);
    cache_batch_free(b);
}

static void test_reopen(void **state)
{
    struct fixture *f = *state;
    for (uint32_t i = 0; i < 50; i++)
        put_n(f, i);
    cache_key k = key_n(3);
    cache_entry *e = NULL;
    assert_int_equal(cache_store_lookup(f->s, &k, 0, &e, NULL), 0);
    cache_entry_free(e);
    cache_store_usage before;
    cache_store_usage_get(f->s, &before);
    reopen(f);
    for (uint32_t i = 0; i < 50; i++)
        assert_has(f, i);
    cache_store_usage after;
    cache_store_usage_get(f->s, &after);
    assert_int_equal(after.entries, 50);
    assert_int_equal(after.entry_bytes, before.entry_bytes);
    assert_int_equal(after.hits, 1);
    assert_int_equal(after.puts, 50);
    assert_int_equal(cache_store_get(f->s, &k, &e, NULL), 0);
    assert_int_equal(e->hits, 1);
    cache_entry_free(e);
}

static void test_lookup_max_age(void **state)
{
    struct fixture *f = *state;
    fx_clock_ms = 1800000000000LL;
    put_n(f, 1);
    struct ent x;
    ent_init(&x, 2);
    x.e.max_age_ms = 10000; /* the entry's own memoize.maxAge */
    cache_key k1 = key_n(1), k2 = key_n(2);
    assert_int_equal(cache_store_put(f->s, &k2, &x.e, NULL), 0);

    fx_clock_ms += 5000;
    cache_entry *e = NULL;
    assert_int_equal(cache_store_lookup(f->s, &k1, 10000, &e, NULL), 0);
    assert_int_equal(e->hits, 1);
    assert_int_equal(e->last_used_ms, fx_clock_ms);
    cache_entry_free(e);
    assert_int_equal(cache_store_lookup(f->s, &k2, 0, &e, NULL), 0);
    cache_entry_free(e);

    fx_clock_ms += 6000; /* 11 s old */
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(cache_store_lookup(f->s, &k1, 10000, &e, &err), CL_ENOENT);
    assert_non_null(strstr(err.msg, "expired"));
    assert_int_equal(cache_store_lookup(f->s, &k1, 0, &e, NULL), 0);
    assert_int_equal(e->hits, 2); /* hits persist */
    cache_entry_free(e);
    assert_int_equal(cache_store_lookup(f->s, &k1, 20000, &e, NULL), 0);
    cache_entry_free(e);
    /* The entry's own maxAge applies whatever the lookup asks. */
    assert_int_equal(cache_store_lookup(f->s, &k2, 0, &e, &err), CL_ENOENT);
    assert_non_null(strstr(err.msg, "expired"));
    cache_key k3 = key_n(3);
    assert_int_equal(cache_store_lookup(f->s, &k3, 0, &e, NULL), CL_ENOENT);
    cache_store_usage u;
    cache_store_usage_get(f->s, &u);
    assert_int_equal(u.hits, 4);
    assert_int_equal(u.misses, 3);
    assert_int_equal(u.expired, 2);
    /* gc drops the entry past its own maxAge, keeps the other. */
    cache_gc_report rep;
    assert_int_equal(cache_store_gc(f->s, &rep, NULL), 0);
    assert_int_equal(rep.expired_removed, 1);
    assert_absent(f, 2);
    assert_has(f, 1);
}

struct lister {
    uint32_t n;
    bool seen[64];
};

static int list_cb(void *data, const cache_entry *e)
{
    struct lister *l = data;
    uint32_t v = (uint32_t)atoi(e->params[0].value);
    cache_key k = key_n(v);
    assert_true(cache_key_equal(&k, &e->key));
    l->seen[v] = true;
    l->n++;
    return 0;
}

static int stop_cb(void *data, const cache_entry *e)
{
    (void)e;
    return ++*(int *)data == 3 ? 42 : 0;
}

static void test_list_remove_prune(void **state)
{
    struct fixture *f = *state;
    fx_clock_ms = 1800000000000LL;
    for (uint32_t i = 0; i < 10; i++) {
        put_n(f, i);
        fx_clock_ms += 60000; /* a minute apart */
    }
    struct lister l;
    memset(&l, 0, sizeof(l));
    assert_int_equal(cache_store_list(f->s, list_cb, &l, NULL), 0);
    assert_int_equal(l.n, 10);
    int count = 0;
    assert_int_equal(cache_store_list(f->s, stop_cb, &count, NULL), 42);
    assert_int_equal(count, 3);

    cache_key k = key_n(4);
    assert_int_equal(cache_store_remove(f->s, &k, NULL), 0);
    assert_int_equal(cache_store_remove(f->s, &k, NULL), CL_ENOENT);
    assert_absent(f, 4);

    /* Entry 0 was used just now: it survives a prune. */
    cache_key k0 = key_n(0);
    cache_entry *e = NULL;
    assert_int_equal(cache_store_lookup(f->s, &k0, 0, &e, NULL), 0);
    cache_entry_free(e);
    /* Now = start + 10 min; entries 0..9 were made at start + i min. Prune
     * what was not used for 5 minutes: 1, 2, 3 (4 is gone) and 5. */
    cache_gc_report rep;
    assert_int_equal(cache_store_prune(f->s, 5 * 60000, &rep, NULL), 0);
    assert_int_equal(rep.entries_removed, 4);
    assert_has(f, 0);
    for (uint32_t i = 1; i <= 5; i++)
        assert_absent(f, i);
    for (uint32_t i = 6; i < 10; i++)
        assert_has(f, i);
    assert_int_equal(cache_store_prune(f->s, -1, &rep, NULL), CL_EINVAL);
}

static void test_note_consumer_and_terms(void **state)
{
    struct fixture *f = *state;
    put_n(f, 1);
    cache_key k = key_n(1);
    assert_int_equal(cache_store_note_consumer(f->s, &k, 1, NULL), 0);
    assert_int_equal(cache_store_note_consumer(f->s, &k, 2, NULL), 0);
    assert_int_equal(cache_store_note_consumer(f->s, &k, 0, NULL), CL_EINVAL);
    cache_key missing = key_n(77);
    assert_int_equal(cache_store_note_consumer(f->s, &missing, 1, NULL),
                     CL_ENOENT);
    cache_entry *e = NULL;
    assert_int_equal(cache_store_get(f->s, &k, &e, NULL), 0);
    assert_int_equal(e->consumers, 2);
    assert_float_equal(e->downstream_weight, 1.5, 1e-12);
    cache_score_terms t;
    cache_store_score_terms(f->s, e, &t);
    assert_float_equal(t.L, 1.0, 1e-12);
    assert_float_equal(t.F, log1p(1.5), 1e-12);
    cache_entry_free(e);
}

/* ---- eviction ----------------------------------------------------------- */

/* import_blob - a file of `size` random bytes from `seed` imported. */
static cache_artifact_info import_blob(struct fixture *f, uint64_t seed,
                                       size_t size)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/src-%llu", f->dir,
             (unsigned long long)seed);
    fx_write(path, size, seed, 0, 0644);
    cache_artifact_info info;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = cache_store_import(f->s, path, &info, &err);
    if (rv != 0)
        fail_msg("import: %s", err.msg);
    unlink(path);
    return info;
}

static void put_with(struct fixture *f, uint32_t n,
                     const cache_artifact_info *a, int64_t compute_ms,
                     uint64_t hits)
{
    struct ent x;
    ent_init(&x, n);
    x.a[0].digest = a->digest;
    x.a[0].size = a->size;
    x.e.compute_ms = compute_ms;
    x.e.hits = hits;
    cache_key k = key_n(n);
    assert_int_equal(cache_store_put(f->s, &k, &x.e, NULL), 0);
}

static void test_evict_by_score(void **state)
{
    struct fixture *f = *state;
    cache_store_close(f->s);
    f->o.auto_evict = false;
    f->o.capacity_bytes = 200u << 10;
    f->s = NULL;
    assert_int_equal(cache_store_open(&f->o, &f->s, NULL), 0);
    fx_clock_ms = 1800000000000LL;
    cache_artifact_info a1 = import_blob(f, 1, 64u << 10);
    cache_artifact_info a2 = import_blob(f, 2, 64u << 10);
    cache_artifact_info a3 = import_blob(f, 3, 64u << 10);
    cache_artifact_info a4 = import_blob(f, 4, 64u << 10);
    /* Scores: 1 s of work < 10 s with 5 hits < 100 s < 1 h. */
    put_with(f, 1, &a1, 1000, 0);
    put_with(f, 2, &a2, 3600000, 0);
    put_with(f, 3, &a3, 10000, 5);
    put_with(f, 4, &a4, 100000, 0);
    /* A fifth entry shares the 1 h step's artifact. */
    put_with(f, 5, &a2, 500, 0);
    cache_store_usage u;
    cache_store_usage_get(f->s, &u);
    assert_true(u.total_bytes > f->o.capacity_bytes);
    cache_gc_report rep;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(cache_store_evict(f->s, &rep, &err), 0);
    cache_store_usage_get(f->s, &u);
    assert_true(u.total_bytes <= (uint64_t)(0.9 * (200u << 10)));
    /* Lowest first: 5 (0.5 s) and 1 (1 s) go, which frees a1 only (a2 is
     * still referenced by 2); then 3 goes, freeing a3. */
    assert_absent(f, 5);
    assert_absent(f, 1);
    assert_absent(f, 3);
    assert_has(f, 2);
    assert_has(f, 4);
    assert_int_equal(rep.entries_removed, 3);
    assert_int_equal(rep.artifacts_removed, 2);
    cache_artifact_info info;
    assert_int_equal(cache_store_artifact_stat(f->s, &a1.digest, &info, NULL),
                     CL_ENOENT);
    assert_int_equal(cache_store_artifact_stat(f->s, &a3.digest, &info, NULL),
                     CL_ENOENT);
    assert_int_equal(cache_store_artifact_stat(f->s, &a2.digest, &info, NULL),
                     0);
    assert_int_equal(cache_store_artifact_stat(f->s, &a4.digest, &info, NULL),
                     0);
    assert_int_equal(u.evicted, 3);
    /* Under capacity: nothing to do. */
    assert_int_equal(cache_store_evict(f->s, &rep, NULL), 0);
    assert_int_equal(rep.entries_removed, 0);
}

static void test_auto_evict(void **state)
{
    struct fixture *f = *state;
    cache_store_close(f->s);
    f->o.capacity_bytes = 64u << 10;
    f->s = NULL;
    assert_int_equal(cache_store_open(&f->o, &f->s, NULL), 0);
    for (uint32_t i = 0; i < 2000; i++) {
        fx_clock_ms++; /* equal scores: the least recently used goes */
        put_n(f, i);
    }
    cache_store_usage u;
    cache_store_usage_get(f->s, &u);
    assert_true(u.total_bytes <= f->o.capacity_bytes);
    assert_true(u.evicted > 0);
    assert_true(u.entries > 0);
    /* The last entry written is there. */
    assert_has(f, 1999);
}

static void test_gc_orphans(void **state)
{
    struct fixture *f = *state;
    fx_clock_ms = 1800000000000LL;
    cache_artifact_info a = import_blob(f, 11, 3000);
    cache_artifact_info b = import_blob(f, 12, 3000);
    put_with(f, 1, &a, 1000, 0);
    cache_gc_report rep;
    /* Within the grace period an unreferenced artifact stays... */
    assert_int_equal(cache_store_gc(f->s, &rep, NULL), 0);
    assert_int_equal(rep.artifacts_removed, 0);
    /* ...after it, it goes; the referenced one stays. */
    fx_clock_ms += f->o.orphan_grace_ms + 1;
    assert_int_equal(cache_store_gc(f->s, &rep, NULL), 0);
    assert_int_equal(rep.artifacts_removed, 1);
    assert_int_equal(rep.chunks_removed, 1);
    cache_artifact_info info;
    assert_int_equal(cache_store_artifact_stat(f->s, &b.digest, &info, NULL),
                     CL_ENOENT);
    assert_int_equal(cache_store_artifact_stat(f->s, &a.digest, &info, NULL),
                     0);
    /* Removing the entry orphans its artifact. */
    cache_key k = key_n(1);
    assert_int_equal(cache_store_remove(f->s, &k, NULL), 0);
    assert_int_equal(cache_store_gc(f->s, &rep, NULL), 0);
    assert_int_equal(rep.artifacts_removed, 1);
    cache_store_usage u;
    cache_store_usage_get(f->s, &u);
    assert_int_equal(u.artifacts, 0);
    assert_int_equal(u.chunks, 0);
    assert_int_equal(u.chunk_bytes, 0);
}

static void test_read_only_open(void **state)
{
    struct fixture *f = *state;
    put_n(f, 1);
    cache_store_close(f->s);
    f->s = NULL;
    cache_store_opts o = f->o;
    o.read_only = true;
    cache_store *ro = NULL;
    assert_int_equal(cache_store_open(&o, &ro, NULL), 0);
    cache_key k = key_n(1);
    cache_entry *e = NULL;
    assert_int_equal(cache_store_get(ro, &k, &e, NULL), 0);
    cache_entry_free(e);
    cl_errmsg err;
    cl_errmsg_clear(&err);
    struct ent x;
    ent_init(&x, 2);
    cache_key k2 = key_n(2);
    assert_int_equal(cache_store_put(ro, &k2, &x.e, &err), CL_EPERM);
    assert_non_null(strstr(err.msg, "read-only"));
    cache_store_close(ro);
    assert_int_equal(cache_store_open(&f->o, &f->s, NULL), 0);
    /* Two writers: the second is refused with CL_EBUSY. */
    cache_store *second = NULL;
    cl_errmsg_clear(&err);
    assert_int_equal(cache_store_open(&f->o, &second, &err), CL_EBUSY);
}

static void test_rdb_error_codes(void **state)
{
    (void)state;
    assert_int_equal(cache__rdb_err_code(NULL), 0);
    assert_int_equal(
        cache__rdb_err_code("IO error: No space left on device: While "
                            "appending to file: x/000013.blob"),
        CL_ENOSPC);
    assert_int_equal(cache__rdb_err_code("IO error: While mkdir if missing: "
                                         "ro/db: Read-only file system"),
                     CL_EPERM);
    assert_int_equal(cache__rdb_err_code("Corruption: block checksum "
                                         "mismatch"),
                     CL_ECORRUPT);
    assert_int_equal(cache__rdb_err_code("IO error: While lock file: x/LOCK: "
                                         "Resource temporarily unavailable"),
                     CL_EBUSY);
    assert_int_equal(cache__rdb_err_code("Invalid argument: x: does not exist "
                                         "(create_if_missing is false)"),
                     CL_ENOENT);
    assert_int_equal(cache__rdb_err_code("Invalid argument: whatever"), CL_EDB);
}

/* ---- real small file systems -------------------------------------------- */

struct mnt {
    char top[256];
    char mnt[300];
    char dir[320];
};

static int mnt_setup(struct mnt *m, const char *size)
{
    fx_tmpdir(m->top, sizeof(m->top), "mnt");
    snprintf(m->mnt, sizeof(m->mnt), "%s/fs", m->top);
    assert_int_equal(mkdir(m->mnt, 0755), 0);
    if (fx_mount_tmpfs(m->mnt, size, 0) != 0) {
        fprintf(stderr, "SKIP: cannot mount a tmpfs here: %s\n",
                strerror(errno));
        fx_rm_rf(m->top);
        return -1;
    }
    snprintf(m->dir, sizeof(m->dir), "%s/store", m->mnt);
    return 0;
}

static void mnt_teardown(struct mnt *m)
{
    fx_umount(m->mnt);
    fx_rm_rf(m->top);
}

static void test_unwritable_store(void **state)
{
    (void)state;
    FX_SKIP_UNLESS_ROOT("unwritable store");
    struct mnt m;
    if (mnt_setup(&m, "8m") != 0)
        skip();
    cache_store_opts o;
    fx_opts(&o, m.dir);
    cache_store *s = NULL;
    assert_int_equal(cache_store_open(&o, &s, NULL), 0);
    cache_key k = key_n(1);
    struct ent x;
    ent_init(&x, 1);
    assert_int_equal(cache_store_put(s, &k, &x.e, NULL), 0);
    cache_store_close(s);
    s = NULL;
    assert_int_equal(fx_remount(m.mnt, MS_RDONLY, "8m"), 0);
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(cache_store_open(&o, &s, &err), CL_EPERM);
    assert_non_null(strstr(err.msg, "Read-only file system"));
    assert_non_null(strstr(err.msg, m.dir));
    /* A store that does not exist yet cannot be made there either. */
    cache_store_opts o2;
    char other[400];
    snprintf(other, sizeof(other), "%s/other", m.mnt);
    fx_opts(&o2, other);
    assert_int_equal(cache_store_open(&o2, &s, &err), CL_EPERM);
    /* Read-only open still serves what is there. */
    o.read_only = true;
    assert_int_equal(cache_store_open(&o, &s, NULL), 0);
    cache_entry *e = NULL;
    assert_int_equal(cache_store_get(s, &k, &e, NULL), 0);
    cache_entry_free(e);
    cache_store_close(s);
    mnt_teardown(&m);
}

static void test_full_disk_put(void **state)
{
    (void)state;
    FX_SKIP_UNLESS_ROOT("full disk");
    struct mnt m;
    if (mnt_setup(&m, "8m") != 0)
        skip();
    cache_store_opts o;
    fx_opts(&o, m.dir);
    o.reserve_bytes = 256u << 10;
    o.write_buffer_size = 1u << 20;
    cache_store *s = NULL;
    assert_int_equal(cache_store_open(&o, &s, NULL), 0);
    struct ent x;
    ent_init(&x, 1);
    cache_key k1 = key_n(1), k2 = key_n(2);
    assert_int_equal(cache_store_put(s, &k1, &x.e, NULL), 0);
    char filler[400];
    snprintf(filler, sizeof(filler), "%s/filler", m.mnt);
    fx_fill(filler);
    cl_errmsg err;
    cl_errmsg_clear(&err);
    ent_init(&x, 2);
    assert_int_equal(cache_store_put(s, &k2, &x.e, &err), CL_ENOSPC);
    assert_non_null(strstr(err.msg, "free on the file system"));
    /* Consistent: the old entry reads, the new one is absent, and a batch
     * failing as a whole left nothing half-applied. */
    cache_entry *e = NULL;
    assert_int_equal(cache_store_get(s, &k1, &e, NULL), 0);
    cache_entry_free(e);
    assert_int_equal(cache_store_get(s, &k2, &e, NULL), CL_ENOENT);
    /* Removing still works on a full disk: that is how space comes back. */
    assert_int_equal(cache_store_remove(s, &k1, NULL), 0);
    unlink(filler);
    assert_int_equal(cache_store_put(s, &k2, &x.e, NULL), 0);
    cache_store_close(s);
    s = NULL;
    assert_int_equal(cache_store_open(&o, &s, NULL), 0);
    assert_int_equal(cache_store_get(s, &k2, &e, NULL), 0);
    cache_entry_free(e);
    assert_int_equal(cache_store_get(s, &k1, &e, NULL), CL_ENOENT);
    cache_store_close(s);
    mnt_teardown(&m);
}

static void test_full_disk_in_rocksdb(void **state)
{
    (void)state;
    FX_SKIP_UNLESS_ROOT("full disk inside RocksDB");
    struct mnt m;
    if (mnt_setup(&m, "16m") != 0)
        skip();
    cache_store_opts o;
    fx_opts(&o, m.dir);
    o.reserve_bytes = 0; /* let the write reach RocksDB */
    o.write_buffer_size = 1u << 20;
    cache_store *s = NULL;
    assert_int_equal(cache_store_open(&o, &s, NULL), 0);
    struct ent x;
    ent_init(&x, 1);
    cache_key k1 = key_n(1), k2 = key_n(2);
    assert_int_equal(cache_store_put(s, &k1, &x.e, NULL), 0);
    /* Leave about 6 MiB, then import a file that just passes the space
     * check but cannot fit with RocksDB's own overhead. */
    char filler[400], src[400];
    snprintf(filler, sizeof(filler), "%s/filler", m.mnt);
    snprintf(src, sizeof(src), "%s/src", m.top);
    struct statvfs v;
    assert_int_equal(statvfs(m.mnt, &v), 0);
    uint64_t avail = (uint64_t)v.f_bavail * v.f_frsize;
    fx_write(filler, avail - (6u << 20), 0, 'f', 0600);
    assert_int_equal(statvfs(m.mnt, &v), 0);
    avail = (uint64_t)v.f_bavail * v.f_frsize;
    uint64_t size = avail - 2048;
    fx_write(src, size, 99, 0, 0644);
    cl_errmsg err;
    cl_errmsg_clear(&err);
    cache_artifact_info info;
    int rv = cache_store_import(s, src, &info, &err);
    assert_int_equal(rv, CL_ENOSPC);
    assert_non_null(strstr(err.msg, "No space left"));
    /* The store refuses writes until recovered, and still reads. */
    cl_errmsg_clear(&err);
    assert_int_equal(cache_store_put(s, &k2, &x.e, &err), CL_ENOSPC);
    assert_non_null(strstr(err.msg, "recover"));
    cache_entry *e = NULL;
    assert_int_equal(cache_store_get(s, &k1, &e, NULL), 0);
    cache_entry_free(e);
    unlink(filler);
    cl_errmsg_clear(&err);
    rv = cache_store_recover(s, &err);
    if (rv != 0)
        fail_msg("recover: %s", err.msg);
    assert_int_equal(cache_store_put(s, &k2, &x.e, NULL), 0);
    /* The import can now be done, whole. */
    rv = cache_store_import(s, src, &info, &err);
    if (rv != 0)
        fail_msg("import after recover: %s", err.msg);
    assert_int_equal(info.size, size);
    cache_store_close(s);
    s = NULL;
    assert_int_equal(cache_store_open(&o, &s, NULL), 0);
    assert_int_equal(cache_store_get(s, &k1, &e, NULL), 0);
    cache_entry_free(e);
    assert_int_equal(cache_store_artifact_verify(s, &info.digest, NULL), 0);
    cache_store_close(s);
    mnt_teardown(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_max_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_remove_prune, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_note_consumer_and_terms, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_evict_by_score, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto_evict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc_orphans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_open, setup, teardown),
        cmocka_unit_test(test_rdb_error_codes),
        cmocka_unit_test(test_unwritable_store),
        cmocka_unit_test(test_full_disk_put),
        cmocka_unit_test(test_full_disk_in_rocksdb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
