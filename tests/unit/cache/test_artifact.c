/* Unit tests for cache/artifact.c: import and export of files and
 * directories, content addressing, same-node hand-over, corruption
 * detection and repair, and full or read-only destinations. */
#include "cache_fixture.h"

#include "cache/cache_int.h"
#include "common/cl_heap.h"

#include <dirent.h>
#include <pthread.h>

struct fixture {
    char dir[256];   /* temp root */
    char store[300]; /* store dir */
    char src[300];   /* sources */
    char out[300];   /* exports */
    cache_store *s;
    cache_store_opts o;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    fx_tmpdir(f->dir, sizeof(f->dir), "art");
    fx_path(f->store, sizeof(f->store), f->dir, "store");
    fx_path(f->src, sizeof(f->src), f->dir, "src");
    fx_path(f->out, sizeof(f->out), f->dir, "out");
    mkdir(f->src, 0755);
    mkdir(f->out, 0755);
    fx_opts(&f->o, f->store);
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
    if (cache_store_open(&f->o, &f->s, &err) != 0)
        fail_msg("reopen: %s", err.msg);
}

static cache_artifact_info import_ok(struct fixture *f, const char *path)
{
    cache_artifact_info info;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = cache_store_import(f->s, path, &info, &err);
    if (rv != 0)
        fail_msg("import %s: %s (%s)", path, cl_errname(rv), err.msg);
    return info;
}

static void export_ok(struct fixture *f, const cache_digest *d,
                      const char *dest)
{
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = cache_store_export(f->s, d, dest, &err);
    if (rv != 0)
        fail_msg("export to %s: %s (%s)", dest, cl_errname(rv), err.msg);
}

static void sub(char *out, size_t len, const char *a, const char *b)
{
    snprintf(out, len, "%s/%s", a, b);
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void test_file_roundtrip(void **state)
{
    struct fixture *f = *state;
    char src[512], dst[512];
    sub(src, sizeof(src), f->src, "model.bin");
    fx_write(src, 3 * CACHE_CHUNK_SIZE + 12345, 7, 0, 0750);
    cache_artifact_info a = import_ok(f, src);
    assert_false(a.is_dir);
    assert_int_equal(a.size, 3 * CACHE_CHUNK_SIZE + 12345);
    assert_int_equal(a.nfiles, 1);
    assert_int_equal(a.nchunks, 4);
    sub(dst, sizeof(dst), f->out, "model.bin");
    export_ok(f, &a.digest, dst);
    assert_true(fx_same(src, dst));
    assert_int_equal(fx_mode(dst), 0750);
    /* The destination must not exist. */
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(cache_store_export(f->s, &a.digest, dst, &err), CL_EEXIST);
    /* Importing the same content again writes nothing new. */
    cache_store_usage u1, u2;
    cache_store_usage_get(f->s, &u1);
    cache_artifact_info b = import_ok(f, src);
    assert_true(cache_digest_equal(&a.digest, &b.digest));
    cache_store_usage_get(f->s, &u2);
    assert_int_equal(u1.chunks, u2.chunks);
    assert_int_equal(u1.chunk_bytes, u2.chunk_bytes);
    assert_int_equal(u2.artifacts, 1);
    /* Survives a reopen. */
    reopen(f);
    sub(dst, sizeof(dst), f->out, "again.bin");
    export_ok(f, &a.digest, dst);
    assert_true(fx_same(src, dst));
    cache_artifact_info st;
    assert_int_equal(cache_store_artifact_stat(f->s, &a.digest, &st, NULL), 0);
    assert_int_equal(st.size, a.size);
    assert_int_equal(st.missing_chunks, 0);
    assert_int_equal(cache_store_artifact_verify(f->s, &a.digest, NULL), 0);
    /* An unknown digest. */
    cache_digest none;
    memset(none.b, 0x42, sizeof(none.b));
    sub(dst, sizeof(dst), f->out, "none");
    cl_errmsg_clear(&err);
    assert_int_equal(cache_store_export(f->s, &none, dst, &err), CL_ENOENT);
    assert_non_null(strstr(err.msg, "no artifact"));
    assert_false(fx_exists(dst));
}

static void test_empty_file(void **state)
{
    struct fixture *f = *state;
    char src[512], dst[512];
    sub(src, sizeof(src), f->src, "empty");
    fx_write(src, 0, 0, 0, 0604);
    cache_artifact_info a = import_ok(f, src);
    assert_int_equal(a.size, 0);
    assert_int_equal(a.nchunks, 0);
    sub(dst, sizeof(dst), f->out, "empty");
    export_ok(f, &a.digest, dst);
    struct stat st;
    assert_int_equal(stat(dst, &st), 0);
    assert_int_equal(st.st_size, 0);
    assert_int_equal(st.st_mode & 0777, 0604);
    /* Same content, another mode: another artifact, no new chunk. */
    chmod(src, 0755);
    cache_artifact_info b = import_ok(f, src);
    assert_false(cache_digest_equal(&a.digest, &b.digest));
}

/* make_tree - a directory with nested dirs, modes, an empty file, an empty
 * directory, a symlink and a multi-chunk file. */
static void make_tree(const char *root, uint64_t seed)
{
    char p[600];
    assert_int_equal(mkdir(root, 0750), 0);
    sub(p, sizeof(p), root, "a.txt");
    fx_write(p, 10, seed, 0, 0644);
    sub(p, sizeof(p), root, "empty.bin");
    fx_write(p, 0, 0, 0, 0600);
    sub(p, sizeof(p), root, "bin");
    assert_int_equal(mkdir(p, 0755), 0);
    sub(p, sizeof(p), root, "bin/run.sh");
    fx_write(p, 300, seed + 1, 0, 0755);
    sub(p, sizeof(p), root, "sub");
    assert_int_equal(mkdir(p, 0755), 0);
    sub(p, sizeof(p), root, "sub/deeper");
    assert_int_equal(mkdir(p, 0700), 0);
    sub(p, sizeof(p), root, "sub/deeper/x.dat");
    fx_write(p, 2 * CACHE_CHUNK_SIZE + 77, seed + 2, 0, 0640);
    sub(p, sizeof(p), root, "emptydir");
    assert_int_equal(mkdir(p, 0711), 0);
    sub(p, sizeof(p), root, "link");
    assert_int_equal(symlink("a.txt", p), 0);
    sub(p, sizeof(p), root, "ro");
    assert_int_equal(mkdir(p, 0755), 0);
    sub(p, sizeof(p), root, "ro/f");
    fx_write(p, 5, seed + 3, 0, 0444);
    sub(p, sizeof(p), root, "ro");
    assert_int_equal(chmod(p, 0555), 0);
}

static void assert_same_tree(const char *a, const char *b)
{
    static const char *const files[] = {"a.txt", "empty.bin", "bin/run.sh",
                                        "sub/deeper/x.dat", "ro/f"};
    static const char *const dirs[] = {"",           "bin",      "sub",
                                       "sub/deeper", "emptydir", "ro"};
    char pa[600], pb[600];
    for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
        sub(pa, sizeof(pa), a, files[i]);
        sub(pb, sizeof(pb), b, files[i]);
        assert_true(fx_same(pa, pb));
        assert_int_equal(fx_mode(pa), fx_mode(pb));
    }
    for (size_t i = 0; i < sizeof(dirs) / sizeof(*dirs); i++) {
        sub(pa, sizeof(pa), a, dirs[i]);
        sub(pb, sizeof(pb), b, dirs[i]);
        assert_int_equal(fx_mode(pa), fx_mode(pb));
    }
    sub(pb, sizeof(pb), b, "link");
    char target[64];
    ssize_t n = readlink(pb, target, sizeof(target) - 1);
    assert_true(n > 0);
    target[n] = '\0';
    assert_string_equal(target, "a.txt");
    sub(pb, sizeof(pb), b, "emptydir");
    assert_int_equal(count_entries(pb), 0);
    assert_int_equal(count_entries(b), count_entries(a));
}

static void test_directory(void **state)
{
    struct fixture *f = *state;
    char src[512], dst[512];
    sub(src, sizeof(src), f->src, "tree");
    make_tree(src, 100);
    cache_artifact_info a = import_ok(f, src);
    assert_true(a.is_dir);
    assert_int_equal(a.nfiles, 5);
    assert_int_equal(a.size, 10 + 300 + 2 * CACHE_CHUNK_SIZE + 77 + 5);
    sub(dst, sizeof(dst), f->out, "tree");
    export_ok(f, &a.digest, dst);
    assert_same_tree(src, dst);

    /* The digest is a function of the content: the same tree elsewhere
     * gives the same digest... */
    char src2[512];
    sub(src2, sizeof(src2), f->src, "tree2");
    make_tree(src2, 100);
    cache_artifact_info b = import_ok(f, src2);
    assert_true(cache_digest_equal(&a.digest, &b.digest));
    /* ...and any change makes another one: a mode, */
    char p[600];
    sub(p, sizeof(p), src2, "bin/run.sh");
    chmod(p, 0700);
    b = import_ok(f, src2);
    assert_false(cache_digest_equal(&a.digest, &b.digest));
    chmod(p, 0755);
    /* a name, */
    char q[600];
    sub(q, sizeof(q), src2, "bin/run2.sh");
    rename(p, q);
    b = import_ok(f, src2);
    assert_false(cache_digest_equal(&a.digest, &b.digest));
    rename(q, p);
    /* a byte. */
    sub(p, sizeof(p), src2, "a.txt");
    fx_write(p, 10, 555, 0, 0644);
    b = import_ok(f, src2);
    assert_false(cache_digest_equal(&a.digest, &b.digest));
    /* Unchanged files share their chunks. */
    cache_store_usage u;
    cache_store_usage_get(f->s, &u);
    assert_int_equal(u.artifacts, 4);
    assert_int_equal(u.chunks, 7); /* 6 of the tree + the new a.txt */
}

static void test_import_errors(void **state)
{
    struct fixture *f = *state;
    char p[512];
    cl_errmsg err;
    cl_errmsg_clear(&err);
    cache_artifact_info a;
    sub(p, sizeof(p), f->src, "nope");
    assert_int_equal(cache_store_import(f->s, p, &a, &err), CL_ENOENT);
    assert_non_null(strstr(err.msg, "nope"));
    sub(p, sizeof(p), f->src, "fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    assert_int_equal(cache_store_import(f->s, p, &a, &err), CL_ENOTSUP);
    char d[512];
    sub(d, sizeof(d), f->src, "withfifo");
    mkdir(d, 0755);
    sub(p, sizeof(p), d, "pipe");
    assert_int_equal(mkfifo(p, 0600), 0);
    cl_errmsg_clear(&err);
    assert_int_equal(cache_store_import(f->s, d, &a, &err), CL_ENOTSUP);
    assert_non_null(strstr(err.msg, "pipe"));
    cache_store_usage u;
    cache_store_usage_get(f->s, &u);
    assert_int_equal(u.artifacts, 0);
}

static void test_handover(void **state)
{
    struct fixture *f = *state;
    char src[512], d1[512], d2[512];
    sub(src, sizeof(src), f->src, "w.bin");
    fx_write(src, CACHE_CHUNK_SIZE + 5, 3, 0, 0640);
    cache_artifact_info a = import_ok(f, src);
    sub(d1, sizeof(d1), f->out, "w1");
    sub(d2, sizeof(d2), f->out, "w2");
    enum cache_handover how = 0;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(cache_store_handover(f->s, &a.digest, d1, &how, &err), 0);
    assert_true(how == CACHE_HANDOVER_HARDLINK ||
                how == CACHE_HANDOVER_REFLINK);
    assert_int_equal(cache_store_handover(f->s, &a.digest, d2, &how, &err), 0);
    assert_true(fx_same(src, d1));
    assert_true(fx_same(src, d2));
    assert_int_equal(fx_mode(d1), 0640);
    struct stat s1, s2;
    assert_int_equal(stat(d1, &s1), 0);
    assert_int_equal(stat(d2, &s2), 0);
    if (how == CACHE_HANDOVER_HARDLINK) {
        /* No copy: both are the hand-over file itself. */
        assert_int_equal(s1.st_ino, s2.st_ino);
        assert_true(s1.st_nlink >= 3);
    }
    cache_store_usage u;
    cache_store_usage_get(f->s, &u);
    assert_int_equal(u.blobs, 1);
    assert_int_equal(u.blob_bytes, CACHE_CHUNK_SIZE + 5);
    assert_int_equal(cache_store_handover(f->s, &a.digest, d1, &how, &err),
                     CL_EEXIST);

    /* A directory: every file handed over the same way. */
    char tree[512], dt[512];
    sub(tree, sizeof(tree), f->src, "tree");
    make_tree(tree, 9);
    cache_artifact_info t = import_ok(f, tree);
    sub(dt, sizeof(dt), f->out, "tree");
    assert_int_equal(cache_store_handover(f->s, &t.digest, dt, &how, &err), 0);
    assert_same_tree(tree, dt);
    if (how == CACHE_HANDOVER_HARDLINK) {
        char p[600];
        sub(p, sizeof(p), dt, "sub/deeper/x.dat");
        assert_int_equal(stat(p, &s1), 0);
        assert_true(s1.st_nlink >= 2);
    }
}

static void test_handover_tampered(void **state)
{
    struct fixture *f = *state;
    char src[512], d1[512], d2[512];
    sub(src, sizeof(src), f->src, "t.bin");
    fx_write(src, 5000, 4, 0, 0644);
    cache_artifact_info a = import_ok(f, src);
    sub(d1, sizeof(d1), f->out, "t1");
    sub(d2, sizeof(d2), f->out, "t2");
    enum cache_handover how = 0;
    assert_int_equal(cache_store_handover(f->s, &a.digest, d1, &how, NULL), 0);
    if (how != CACHE_HANDOVER_HARDLINK) {
        fprintf(stderr, "SKIP tamper check: no hard link here\n");
        skip();
    }
    /* A consumer writes into its input, which is the shared file. */
    FILE *fp = fopen(d1, "r+");
    assert_non_null(fp);
    fputs("tampered", fp);
    fclose(fp);
    assert_false(fx_same(src, d1));
    /* The next hand-over notices and rewrites the area from the chunks. */
    assert_int_equal(cache_store_handover(f->s, &a.digest, d2, &how, NULL), 0);
    assert_true(fx_same(src, d2));
    struct stat s1, s2;
    assert_int_equal(stat(d1, &s1), 0);
    assert_int_equal(stat(d2, &s2), 0);
    assert_true(s1.st_ino != s2.st_ino);
    cache_store_usage u;
    cache_store_usage_get(f->s, &u);
    assert_int_equal(u.corrupt, 1);
}

/* Consumers of one artifact handed over at once, on threads, each round
 * after the hand-over area was emptied: every one gets the content (no
 * consumer sees another's file half made and removes it). */
#define HO_THREADS 8
#define HO_ROUNDS 60

struct ho_arg {
    struct fixture *f;
    const cache_digest *d;
    pthread_barrier_t *bar;
    int id;
    int failures;
    char msg[CL_ERRMSG_SIZE];
};

static void *ho_thread(void *p)
{
    struct ho_arg *a = p;
    for (int r = 0; r < HO_ROUNDS; r++) {
        char dest[600];
        snprintf(dest, sizeof(dest), "%s/c-%d-%d", a->f->out, r, a->id);
        pthread_barrier_wait(a->bar);
        enum cache_handover how = 0;
        cl_errmsg err;
        cl_errmsg_clear(&err);
        if (cache_store_handover(a->f->s, a->d, dest, &how, &err) != 0) {
            a->failures++;
            snprintf(a->msg, sizeof(a->msg), "%s", err.msg);
        }
        pthread_barrier_wait(a->bar); /* the main thread empties the area */
        pthread_barrier_wait(a->bar);
    }
    return NULL;
}

static void test_handover_concurrent(void **state)
{
    struct fixture *f = *state;
    char src[512], blobs[400];
    sub(src, sizeof(src), f->src, "shared.bin");
    fx_write(src, 3 * CACHE_CHUNK_SIZE + 17, 9, 0, 0644);
    cache_artifact_info info = import_ok(f, src);
    sub(blobs, sizeof(blobs), f->store, "blobs");
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, HO_THREADS + 1);
    struct ho_arg args[HO_THREADS];
    pthread_t th[HO_THREADS];
    for (int i = 0; i < HO_THREADS; i++) {
        args[i] = (struct ho_arg){.f = f, .d = &info.digest, .bar = &bar,
                                  .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, ho_thread, &args[i]),
                         0);
    }
    for (int r = 0; r < HO_ROUNDS; r++) {
        pthread_barrier_wait(&bar); /* go */
        pthread_barrier_wait(&bar); /* all handed over */
        fx_rm_rf(blobs);
        mkdir(blobs, 0700);
        pthread_barrier_wait(&bar);
    }
    int failures = 0;
    for (int i = 0; i < HO_THREADS; i++) {
        pthread_join(th[i], NULL);
        if (args[i].failures > 0)
            fprintf(stderr, "consumer %d: %d failures, last: %s\n", i,
                    args[i].failures, args[i].msg);
        failures += args[i].failures;
    }
    pthread_barrier_destroy(&bar);
    assert_int_equal(failures, 0);
    for (int r = 0; r < HO_ROUNDS; r += 7)
        for (int i = 0; i < HO_THREADS; i++) {
            char dest[600];
            snprintf(dest, sizeof(dest), "%s/c-%d-%d", f->out, r, i);
            assert_true(fx_same(src, dest));
        }
}

/* blob_bytes - the size of RocksDB's blob files under dbdir. */
static uint64_t blob_bytes(const char *dbdir)
{
    DIR *d = opendir(dbdir);
    assert_non_null(d);
    uint64_t total = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        struct stat st;
        if (n > 5 && strcmp(de->d_name + n - 5, ".blob") == 0 &&
            fstatat(dirfd(d), de->d_name, &st, 0) == 0)
            total += (uint64_t)st.st_size;
    }
    closedir(d);
    return total;
}

/* Removed artifacts' chunks leave garbage in blob files shared with live
 * ones; gc gives that space back (blob garbage collection runs with gc, not
 * with every compaction) and the live artifacts stay whole. */
static void test_gc_reclaims_blob_space(void **state)
{
    struct fixture *f = *state;
    char dbdir[512];
    sub(dbdir, sizeof(dbdir), f->store, "db");
    enum { N = 12 };
    cache_artifact_info a[N];
    char src[N][512];
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "g%d.bin", i);
        sub(src[i], sizeof(src[i]), f->src, name);
        fx_write(src[i], 3 * CACHE_CHUNK_SIZE, 100 + i, 0, 0644);
        a[i] = import_ok(f, src[i]);
    }
    reopen(f); /* everything flushed into blob files */
    for (int i = 0; i < N; i += 2)
        assert_int_equal(cache_store_artifact_remove(f->s, &a[i].digest, NULL),
                         0);
    uint64_t before = blob_bytes(dbdir);
    assert_true(before >= (uint64_t)N * 3 * CACHE_CHUNK_SIZE);
    cache_gc_report rep;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(cache_store_gc(f->s, &rep, &err), 0);
    uint64_t after = blob_bytes(dbdir);
    fprintf(stderr, "blob files: %llu bytes before gc, %llu after\n",
            (unsigned long long)before, (unsigned long long)after);
    assert_true(after + CACHE_CHUNK_SIZE <= before);
    for (int i = 1; i < N; i += 2) {
        char out[600];
        snprintf(out, sizeof(out), "%s/g%d.out", f->out, i);
        export_ok(f, &a[i].digest, out);
        assert_true(fx_same(src[i], out));
    }
}

/* flip_blob_file - change one byte of chunk data in the first *.blob
 * file. */
static int flip_blob_file(const char *dbdir)
{
    DIR *d = opendir(dbdir);
    assert_non_null(d);
    struct dirent *de;
    char best[600] = "";
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n > 5 && strcmp(de->d_name + n - 5, ".blob") == 0 &&
            (best[0] == '\0' || strcmp(de->d_name, best) < 0))
            snprintf(best, sizeof(best), "%s", de->d_name);
    }
    closedir(d);
    if (best[0] == '\0')
        return -1;
    char p[800];
    snprintf(p, sizeof(p), "%s/%s", dbdir, best);
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    /* Inside a chunk's bytes, not a record header. */
    off_t off = st.st_size / 2 + 65536;
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, off), 1);
    c ^= 0xff;
    assert_int_equal(pwrite(fd, &c, 1, off), 1);
    close(fd);
    return 0;
}

static void test_corrupt_chunk_on_disk(void **state)
{
    struct fixture *f = *state;
    char src[512], dst[512], dbdir[512];
    sub(src, sizeof(src), f->src, "big.bin");
    fx_write(src, 6 * CACHE_CHUNK_SIZE, 21, 0, 0644);
    cache_artifact_info a = import_ok(f, src);
    cache_store_close(f->s);
    f->s = NULL;
    sub(dbdir, sizeof(dbdir), f->store, "db");
    assert_int_equal(flip_blob_file(dbdir), 0);
    reopen(f);
    sub(dst, sizeof(dst), f->out, "big.bin");
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(cache_store_export(f->s, &a.digest, dst, &err),
                     CL_ECORRUPT);
    assert_non_null(strstr(err.msg, "chunk"));
    /* Nothing half-written is left behind. */
    assert_false(fx_exists(dst));
    assert_int_equal(count_entries(f->out), 0);
    /* The bad chunk is gone: the artifact is known to be incomplete (a
     * caller treats it as a miss) and the other sides see it too. */
    cache_artifact_info st;
    assert_int_equal(cache_store_artifact_stat(f->s, &a.digest, &st, NULL), 0);
    assert_int_equal(st.missing_chunks, 1);
    cache_xfer_store xs;
    cache_store_xfer_store(f->s, &xs);
    assert_int_equal(xs.have_artifact(xs.data, &a.digest), CL_ENOENT);
    cache_store_usage u;
    cache_store_usage_get(f->s, &u);
    assert_true(u.corrupt >= 1);
    assert_int_equal(u.chunks, 5);
    /* Re-importing the same content repairs it. */
    cache_artifact_info b = import_ok(f, src);
    assert_true(cache_digest_equal(&a.digest, &b.digest));
    assert_int_equal(cache_store_artifact_verify(f->s, &a.digest, &err), 0);
    export_ok(f, &a.digest, dst);
    assert_true(fx_same(src, dst));
    assert_int_equal(xs.have_artifact(xs.data, &a.digest), 0);
}

/* The sender side of a transfer reads with RocksDB's CRC instead of a
 * BLAKE2b pass: a flipped byte in a blob file is still caught there, and
 * the chunk removed. */
static void test_corrupt_chunk_on_disk_sender(void **state)
{
    struct fixture *f = *state;
    char src[512], dbdir[512];
    sub(src, sizeof(src), f->src, "send.bin");
    fx_write(src, 6 * CACHE_CHUNK_SIZE, 23, 0, 0644);
    cache_artifact_info a = import_ok(f, src);
    cache_store_close(f->s);
    f->s = NULL;
    sub(dbdir, sizeof(dbdir), f->store, "db");
    assert_int_equal(flip_blob_file(dbdir), 0);
    reopen(f);
    cache_xfer_store xs;
    cache_store_xfer_store(f->s, &xs);
    uint8_t *mbuf = NULL;
    size_t mlen = 0;
    assert_int_equal(xs.read_manifest(xs.data, &a.digest, &mbuf, &mlen), 0);
    cache__manifest *m = NULL;
    assert_int_equal(cache__manifest_decode(mbuf, mlen, &m, NULL), 0);
    assert_int_equal(m->n_nodes, 1);
    assert_int_equal(m->nodes[0]->n_chunks, 6);
    /* The sender's plain read hands the bad copy out (the receiver checks
     * every chunk against its digest); the receiver's re-request, with
     * `verify`, finds it bad and removes it. */
    int ok = 0, bad = 0;
    for (size_t i = 0; i < m->nodes[0]->n_chunks; i++) {
        cache_digest c;
        memcpy(c.b, m->nodes[0]->chunks[i].data, CL_DIGEST_SIZE);
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(xs.read_chunk(xs.data, &c, false, &buf, &len), 0);
        uint8_t d[CL_DIGEST_SIZE];
        cl_digest(buf, len, d);
        cl_free(buf);
        buf = NULL;
        if (memcmp(d, c.b, CL_DIGEST_SIZE) == 0) {
            ok++;
            assert_int_equal(xs.read_chunk(xs.data, &c, true, &buf, &len), 0);
            cl_free(buf);
            continue;
        }
        bad++;
        assert_int_equal(xs.read_chunk(xs.data, &c, true, &buf, &len),
                         CL_ECORRUPT);
        assert_null(buf);
    }
    assert_int_equal(ok, 5);
    assert_int_equal(bad, 1);
    cache__manifest_free(m);
    cl_free(mbuf);
    cache_artifact_info st;
    assert_int_equal(cache_store_artifact_stat(f->s, &a.digest, &st, NULL), 0);
    assert_int_equal(st.missing_chunks, 1);
    assert_int_equal(xs.have_artifact(xs.data, &a.digest), CL_ENOENT);
}

static void test_corrupt_chunk_value(void **state)
{
    struct fixture *f = *state;
    char src[512], dst[512];
    sub(src, sizeof(src), f->src, "v.bin");
    fx_write(src, 2 * CACHE_CHUNK_SIZE, 31, 0, 0644);
    cache_artifact_info a = import_ok(f, src);
    /* Replace the second chunk's bytes behind the store's back (a bit flip
     * RocksDB's own checksums would not see: the record is well formed). */
    uint8_t *buf = malloc(CACHE_CHUNK_SIZE);
    FILE *fp = fopen(src, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(buf, 1, CACHE_CHUNK_SIZE, fp), CACHE_CHUNK_SIZE);
    assert_int_equal(fread(buf, 1, CACHE_CHUNK_SIZE, fp), CACHE_CHUNK_SIZE);
    fclose(fp);
    uint8_t d[CL_DIGEST_SIZE], k[1 + CL_DIGEST_SIZE];
    cl_digest(buf, CACHE_CHUNK_SIZE, d);
    k[0] = 'd';
    memcpy(k + 1, d, CL_DIGEST_SIZE);
    buf[12345] ^= 1;
    cache__rdb_batch *b = NULL;
    assert_int_equal(cache__rdb_batch_new(f->s->db, &b), 0);
    cache__rdb_batch_put(b, CACHE__CF_CHUNKS, k, sizeof(k), buf,
                         CACHE_CHUNK_SIZE);
    assert_int_equal(cache__rdb_write(f->s->db, b, CACHE__RDB_SYNC, NULL), 0);
    cache__rdb_batch_free(b);
    free(buf);
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(cache_store_artifact_verify(f->s, &a.digest, &err),
                     CL_ECORRUPT);
    assert_non_null(strstr(err.msg, "offset 1048576"));
    sub(dst, sizeof(dst), f->out, "v.bin");
    /* Removed on detection: now it is missing, not corrupt. */
    assert_int_equal(cache_store_export(f->s, &a.digest, dst, &err), CL_ENOENT);
    assert_false(fx_exists(dst));
    import_ok(f, src);
    export_ok(f, &a.digest, dst);
    assert_true(fx_same(src, dst));
}

static void test_artifact_remove(void **state)
{
    struct fixture *f = *state;
    char s1[512], s2[512], dst[512];
    sub(s1, sizeof(s1), f->src, "one");
    sub(s2, sizeof(s2), f->src, "two");
    /* Same first chunk, different second chunk. */
    fx_write(s1, 2 * CACHE_CHUNK_SIZE, 0, 'x', 0644);
    fx_write(s2, 2 * CACHE_CHUNK_SIZE, 0, 'x', 0644);
    FILE *fp = fopen(s2, "r+");
    fseek(fp, CACHE_CHUNK_SIZE + 10, SEEK_SET);
    fputc('y', fp);
    fclose(fp);
    cache_artifact_info a = import_ok(f, s1);
    cache_artifact_info b = import_ok(f, s2);
    cache_store_usage u;
    cache_store_usage_get(f->s, &u);
    assert_int_equal(u.chunks, 2); /* x-chunk (shared) and the y-chunk */
    sub(dst, sizeof(dst), f->out, "h");
    assert_int_equal(cache_store_handover(f->s, &a.digest, dst, NULL, NULL), 0);
    assert_int_equal(cache_store_artifact_remove(f->s, &a.digest, NULL), 0);
    assert_int_equal(cache_store_artifact_remove(f->s, &a.digest, NULL),
                     CL_ENOENT);
    cache_store_usage_get(f->s, &u);
    assert_int_equal(u.artifacts, 1);
    assert_int_equal(u.chunks, 2); /* both still listed by b */
    assert_int_equal(u.blobs, 0);
    /* The consumer's hard link outlives the area's file. */
    assert_true(fx_same(s1, dst));
    sub(dst, sizeof(dst), f->out, "two");
    export_ok(f, &b.digest, dst);
    assert_true(fx_same(s2, dst));
    assert_int_equal(cache_store_artifact_remove(f->s, &b.digest, NULL), 0);
    cache_store_usage_get(f->s, &u);
    assert_int_equal(u.chunks, 0);
    assert_int_equal(u.chunk_bytes, 0);
    assert_int_equal(u.artifacts, 0);
}

/* ---- full and read-only destinations ------------------------------------ */

static void test_export_full_disk(void **state)
{
    struct fixture *f = *state;
    FX_SKIP_UNLESS_ROOT("export to a full disk");
    char mnt[512], src[512], dst[600];
    sub(mnt, sizeof(mnt), f->dir, "small");
    mkdir(mnt, 0755);
    if (fx_mount_tmpfs(mnt, "2m", 0) != 0) {
        fprintf(stderr, "SKIP: cannot mount: %s\n", strerror(errno));
        skip();
    }
    sub(src, sizeof(src), f->src, "four.bin");
    fx_write(src, 4 * CACHE_CHUNK_SIZE, 41, 0, 0644);
    cache_artifact_info a = import_ok(f, src);
    sub(dst, sizeof(dst), mnt, "four.bin");
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = cache_store_export(f->s, &a.digest, dst, &err);
    assert_int_equal(rv, CL_ENOSPC);
    assert_non_null(strstr(err.msg, "No space left"));
    assert_false(fx_exists(dst));
    assert_int_equal(count_entries(mnt), 0); /* no temporary left */
    /* Hand-over across file systems falls back to a copy and fails the
     * same way. */
    rv = cache_store_handover(f->s, &a.digest, dst, NULL, &err);
    assert_int_equal(rv, CL_ENOSPC);
    assert_int_equal(count_entries(mnt), 0);
    /* A small one fits and is copied (another file system: no link). */
    char small[512];
    sub(small, sizeof(small), f->src, "small.bin");
    fx_write(small, 1000, 42, 0, 0644);
    cache_artifact_info b = import_ok(f, small);
    sub(dst, sizeof(dst), mnt, "small.bin");
    enum cache_handover how = 0;
    assert_int_equal(cache_store_handover(f->s, &b.digest, dst, &how, NULL), 0);
    assert_int_equal(how, CACHE_HANDOVER_COPY);
    assert_true(fx_same(small, dst));
    fx_umount(mnt);
}

static void test_export_read_only(void **state)
{
    struct fixture *f = *state;
    FX_SKIP_UNLESS_ROOT("export to a read-only file system");
    char mnt[512], src[512], dst[600];
    sub(mnt, sizeof(mnt), f->dir, "ro");
    mkdir(mnt, 0755);
    if (fx_mount_tmpfs(mnt, "1m", MS_RDONLY) != 0) {
        fprintf(stderr, "SKIP: cannot mount: %s\n", strerror(errno));
        skip();
    }
    sub(src, sizeof(src), f->src, "r.bin");
    fx_write(src, 1000, 43, 0, 0644);
    cache_artifact_info a = import_ok(f, src);
    sub(dst, sizeof(dst), mnt, "r.bin");
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(cache_store_export(f->s, &a.digest, dst, &err), CL_EPERM);
    assert_non_null(strstr(err.msg, "Read-only file system"));
    fx_umount(mnt);
}

static void test_import_full_disk(void **state)
{
    (void)state;
    FX_SKIP_UNLESS_ROOT("import into a full store");
    char top[256], mnt[300], store[320], src[320], dst[320];
    fx_tmpdir(top, sizeof(top), "artfull");
    sub(mnt, sizeof(mnt), top, "fs");
    mkdir(mnt, 0755);
    if (fx_mount_tmpfs(mnt, "8m", 0) != 0) {
        fprintf(stderr, "SKIP: cannot mount: %s\n", strerror(errno));
        fx_rm_rf(top);
        skip();
    }
    sub(store, sizeof(store), mnt, "store");
    cache_store_opts o;
    fx_opts(&o, store);
    o.reserve_bytes = 256u << 10;
    o.write_buffer_size = 1u << 20;
    cache_store *s = NULL;
    assert_int_equal(cache_store_open(&o, &s, NULL), 0);
    sub(src, sizeof(src), top, "small");
    fx_write(src, 100000, 51, 0, 0644);
    cache_artifact_info a;
    assert_int_equal(cache_store_import(s, src, &a, NULL), 0);
    sub(src, sizeof(src), top, "big");
    fx_write(src, 16u << 20, 52, 0, 0644);
    cl_errmsg err;
    cl_errmsg_clear(&err);
    cache_artifact_info b;
    assert_int_equal(cache_store_import(s, src, &b, &err), CL_ENOSPC);
    assert_non_null(strstr(err.msg, "import"));
    assert_non_null(strstr(err.msg, "16.0 MiB"));
    cache_store_usage u;
    cache_store_usage_get(s, &u);
    assert_int_equal(u.artifacts, 1);
    sub(dst, sizeof(dst), top, "small.out");
    assert_int_equal(cache_store_export(s, &a.digest, dst, NULL), 0);
    cache_store_close(s);
    fx_umount(mnt);
    fx_rm_rf(top);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_file_roundtrip),
        T(test_empty_file),
        T(test_directory),
        T(test_import_errors),
        T(test_handover),
        T(test_handover_tampered),
        T(test_handover_concurrent),
        T(test_corrupt_chunk_on_disk),
        T(test_corrupt_chunk_on_disk_sender),
        T(test_corrupt_chunk_value),
        T(test_artifact_remove),
        T(test_gc_reclaims_blob_space),
        T(test_export_full_disk),
        T(test_export_read_only),
        cmocka_unit_test(test_import_full_disk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
