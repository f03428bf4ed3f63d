/* bench_cache - benchmarks of the step-output cache.
 *
 *   bench_cache [--quick] [--dir DIR] [--entries N] [--file-mib M]
 *
 * 1. get: latency of a local RocksDB lookup (cache_store_get) of a random
 *    key among N entries: p50/p99/p999 (goal p99 <= 50 us).
 * 2. put: entries written per second with group commit (one sync per
 *    batch) for several batch sizes (goal >= 20,000/s).
 * 3. artifacts: import, export and same-node hand-over of an M MiB file,
 *    against `cp` of the same file in the same run (and `cp` + fsync of
 *    the copy, since the store syncs what it writes); medians of three
 *    interleaved rounds.
 * 4. xfer: the transfer state machines moving an artifact between two
 *    stores in memory (no network), and the bare protocol cost with an
 *    in-memory store.
 *
 * Prints a table; the last line is one JSON object with every number.
 * Data lives under DIR (default /tmp) and is removed afterwards. --quick
 * shrinks everything to a smoke run (ctest label bench-smoke).
 */
#include "cache/cache.h"

#include "common/cl_heap.h"
#include "common/cl_log.h"
#include "common/cl_rng.h"
#include "common/cl_time.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

static void rm_rf(const char *p)
{
    nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void die(const char *what, int rv, const cl_errmsg *err)
{
    fprintf(stderr, "bench_cache: %s: %s (%s)\n", what, cl_strerror(rv),
            err != NULL ? err->msg : "");
    exit(1);
}

static cache_key key_n(uint64_t n)
{
    cache_key k;
    cl_digest(&n, sizeof(n), k.b);
    return k;
}

/* A typical entry: a few parameters, a result, two artifacts. */
struct ent {
    cache_entry e;
    cache_kv p[3];
    cache_artifact_ref a[2];
    char v[32];
};

static void ent_init(struct ent *x, uint64_t n)
{
    memset(x, 0, sizeof(*x));
    snprintf(x->v, sizeof(x->v), "%llu", (unsigned long long)n);
    x->p[0] = (cache_kv){"accuracy", "0.9312"};
    x->p[1] = (cache_kv){"loss", "0.2051"};
    x->p[2] = (cache_kv){"n", x->v};
    for (int i = 0; i < 2; i++) {
        x->a[i].name = i == 0 ? "model" : "metrics";
        cl_digest(&n, sizeof(n), x->a[i].digest.b);
        x->a[i].digest.b[0] ^= (uint8_t)(i + 1);
        x->a[i].size = 1000000;
        x->a[i].node = "node-17";
    }
    x->e.params = x->p;
    x->e.nparams = 3;
    x->e.result = "done";
    x->e.artifacts = x->a;
    x->e.nartifacts = 2;
    x->e.producer = "node-17";
    x->e.compute_ms = 12000;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double median3(const double *v)
{
    double a = v[0], b = v[1], c = v[2];
    if ((a <= b && b <= c) || (c <= b && b <= a))
        return b;
    if ((b <= a && a <= c) || (c <= a && a <= b))
        return a;
    return c;
}

static double pct(const int64_t *v, size_t n, double p)
{
    size_t i = (size_t)(p * (double)(n - 1));
    return (double)v[i] / 1000.0; /* ns -> us */
}

static cache_store *open_store(const char *dir)
{
    cache_store_opts o;
    cache_store_opts_init(&o, dir);
    o.reserve_bytes = 0;
    cache_store *s = NULL;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = cache_store_open(&o, &s, &err);
    if (rv != 0)
        die("open", rv, &err);
    return s;
}

/* run - a shell command's wall time in seconds. */
static double run(const char *cmd)
{
    int64_t t0 = cl_now_ns();
    int rv = system(cmd);
    if (rv != 0) {
        fprintf(stderr, "bench_cache: '%s' failed\n", cmd);
        exit(1);
    }
    return (double)(cl_now_ns() - t0) / 1e9;
}

static void write_random(const char *path, size_t mib)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(path);
        exit(1);
    }
    cl_rng r;
    cl_rng_seed(&r, 42);
    uint64_t *buf = malloc(1u << 20);
    for (size_t m = 0; m < mib; m++) {
        for (size_t i = 0; i < (1u << 20) / 8; i++)
            buf[i] = cl_rng_next(&r);
        if (write(fd, buf, 1u << 20) != (ssize_t)(1u << 20)) {
            perror("write");
            exit(1);
        }
    }
    free(buf);
    fsync(fd);
    close(fd);
}

/* ---- xfer wiring -------------------------------------------------------- */

struct q {
    uint8_t **m;
    size_t *len;
    size_t n, cap, head;
};

static int q_push(void *data, const uint8_t *buf, size_t len)
{
    struct q *q = data;
    if (q->n == q->cap) {
        q->cap = q->cap ? 2 * q->cap : 64;
        q->m = realloc(q->m, q->cap * sizeof(*q->m));
        q->len = realloc(q->len, q->cap * sizeof(*q->len));
    }
    q->m[q->n] = malloc(len);
    memcpy(q->m[q->n], buf, len);
    q->len[q->n++] = len;
    return 0;
}

static double xfer_once(const cache_xfer_store *src,
                        const cache_xfer_store *dst, const cache_digest *d,
                        uint32_t credit, uint64_t *bytes)
{
    struct q to_snd = {0}, to_rcv = {0};
    cache_xfer_transport ts = {&to_rcv, q_push}, tr = {&to_snd, q_push};
    cache_xfer_sender snd;
    cache_xfer_sender_init(&snd, src, &ts);
    cache_xfer_recv_opts o;
    cache_xfer_recv_opts_init(&o);
    o.credit = credit;
    o.xfer_id = 1;
    cache_xfer_recv *r = NULL;
    if (cache_xfer_recv_new(d, &o, dst, &tr, &r) != 0)
        exit(1);
    int64_t t0 = cl_now_ns();
    cache_xfer_recv_start(r, 0);
    while (cache_xfer_recv_state(r) != CACHE_XFER_DONE &&
           cache_xfer_recv_state(r) != CACHE_XFER_FAILED) {
        while (to_snd.head < to_snd.n) {
            size_t i = to_snd.head++;
            cache_xfer_sender_on_msg(&snd, to_snd.m[i], to_snd.len[i]);
            free(to_snd.m[i]);
        }
        if (to_rcv.head == to_rcv.n)
            break;
        while (to_rcv.head < to_rcv.n) {
            size_t i = to_rcv.head++;
            cache_xfer_recv_on_msg(r, to_rcv.m[i], to_rcv.len[i], 0);
            free(to_rcv.m[i]);
        }
    }
    double secs = (double)(cl_now_ns() - t0) / 1e9;
    cl_errmsg why;
    if (cache_xfer_recv_error(r, &why) != 0) {
        fprintf(stderr, "bench_cache: xfer: %s\n", why.msg);
        exit(1);
    }
    cache_xfer_recv_stats st;
    cache_xfer_recv_get_stats(r, &st);
    *bytes = st.bytes_fetched;
    cache_xfer_recv_free(r);
    for (size_t i = to_snd.head; i < to_snd.n; i++)
        free(to_snd.m[i]);
    for (size_t i = to_rcv.head; i < to_rcv.n; i++)
        free(to_rcv.m[i]);
    free(to_snd.m);
    free(to_snd.len);
    free(to_rcv.m);
    free(to_rcv.len);
    return secs;
}

/* A receiving store that keeps nothing: the bare protocol cost. */
static int null_have(void *data, const cache_digest *d)
{
    (void)data;
    (void)d;
    return CL_ENOENT;
}

static int null_write(void *data, const cache_digest *c, const uint8_t *b,
                      size_t l)
{
    (void)data;
    (void)c;
    (void)b;
    (void)l;
    return 0;
}

static int null_commit(void *data, const cache_digest *a, const uint8_t *m,
                       size_t l)
{
    (void)data;
    (void)a;
    (void)m;
    (void)l;
    return 0;
}

int main(int argc, char **argv)
{
    bool quick = false;
    const char *base = "/tmp";
    size_t nentries = 100000, file_mib = 256;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = true;
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            base = argv[++i];
        else if (strcmp(argv[i], "--entries") == 0 && i + 1 < argc)
            nentries = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--file-mib") == 0 && i + 1 < argc)
            file_mib = (size_t)atol(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: bench_cache [--quick] [--dir DIR] [--entries N] "
                    "[--file-mib M]\n");
            return 2;
        }
    }
    if (quick) {
        nentries = 2000;
        file_mib = 4;
    }
    cl_log_set_level(CL_LOG_ERROR);
    char root[512];
    snprintf(root, sizeof(root), "%s/couler-bench-cache-XXXXXX", base);
    if (mkdtemp(root) == NULL) {
        perror(root);
        return 1;
    }
    char sdir[600], src[600], out[600], cpy[600], cmd[2048];
    snprintf(sdir, sizeof(sdir), "%s/store", root);
    cache_store *s = open_store(sdir);
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv;

    /* ---- 2. group commit ---- */
    static const size_t batch_sizes[] = {1, 100, 1000};
    double put_rate[3] = {0};
    size_t next = 0;
    for (int b = 0; b < 3; b++) {
        size_t bs = batch_sizes[b];
        size_t total = bs == 1 ? (quick ? 50 : 500) : nentries / 2;
        cache_batch *batch = NULL;
        cache_batch_new(s, &batch);
        int64_t t0 = cl_now_ns();
        struct ent x;
        for (size_t i = 0; i < total; i++) {
            ent_init(&x, next);
            cache_key k = key_n(next++);
            cache_batch_put(batch, &k, &x.e);
            if (cache_batch_count(batch) == bs &&
                (rv = cache_batch_commit(batch, &err)) != 0)
                die("commit", rv, &err);
        }
        if ((rv = cache_batch_commit(batch, &err)) != 0)
            die("commit", rv, &err);
        put_rate[b] = (double)total / ((double)(cl_now_ns() - t0) / 1e9);
        cache_batch_free(batch);
    }
    /* Top up to nentries for the lookups. */
    {
        cache_batch *batch = NULL;
        cache_batch_new(s, &batch);
        struct ent x;
        while (next < nentries) {
            ent_init(&x, next);
            cache_key k = key_n(next++);
            cache_batch_put(batch, &k, &x.e);
            if (cache_batch_count(batch) == 1000)
                cache_batch_commit(batch, &err);
        }
        cache_batch_commit(batch, &err);
        cache_batch_free(batch);
    }

    /* ---- 1. get latency ---- */
    size_t ngets = quick ? 5000 : 200000;
    int64_t *lat = malloc(ngets * sizeof(*lat));
    cl_rng rng;
    cl_rng_seed(&rng, 7);
    for (size_t i = 0; i < ngets; i++) {
        cache_key k = key_n(cl_rng_below(&rng, next));
        cache_entry *e = NULL;
        int64_t t0 = cl_now_ns();
        rv = cache_store_get(s, &k, &e, &err);
        lat[i] = cl_now_ns() - t0;
        if (rv != 0)
            die("get", rv, &err);
        cache_entry_free(e);
    }
    qsort(lat, ngets, sizeof(*lat), cmp_i64);
    double g50 = pct(lat, ngets, 0.5), g99 = pct(lat, ngets, 0.99),
           g999 = pct(lat, ngets, 0.999);
    /* lookup: get + maxAge + hit recorded (an unsynced write). */
    size_t nlook = ngets / 4;
    for (size_t i = 0; i < nlook; i++) {
        cache_key k = key_n(cl_rng_below(&rng, next));
        cache_entry *e = NULL;
        int64_t t0 = cl_now_ns();
        rv = cache_store_lookup(s, &k, 0, &e, &err);
        lat[i] = cl_now_ns() - t0;
        if (rv != 0)
            die("lookup", rv, &err);
        cache_entry_free(e);
    }
    qsort(lat, nlook, sizeof(*lat), cmp_i64);
    double l50 = pct(lat, nlook, 0.5), l99 = pct(lat, nlook, 0.99);
    free(lat);
    /* A miss: the bloom filters answer. */
    int64_t tm = cl_now_ns();
    for (size_t i = 0; i < 10000; i++) {
        cache_key k = key_n(10000000 + i);
        cache_entry *e = NULL;
        (void)cache_store_get(s, &k, &e, NULL);
    }
    double miss_us = (double)(cl_now_ns() - tm) / 1e3 / 10000;

    /* ---- 3. artifacts vs cp ----
     * Three rounds, each timing cp, cp + sync, import (of content the store
     * does not hold), re-import and export, one after the other, with the
     * page cache's dirty data written back before each timing so that no
     * step pays for the previous one. Medians are reported. */
    snprintf(src, sizeof(src), "%s/src.bin", root);
    write_random(src, file_mib);
    double mib = (double)file_mib;
    snprintf(cpy, sizeof(cpy), "%s/cp.bin", root);
    double r_cp[3], r_cps[3], r_imp[3], r_reimp[3], r_exp[3];
    cache_artifact_info info;
    int64_t t0;
    for (int round = 0; round < 3; round++) {
        sync();
        snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, cpy);
        r_cp[round] = run(cmd);
        unlink(cpy);
        sync();
        snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && sync '%s'", src, cpy, cpy);
        r_cps[round] = run(cmd);
        unlink(cpy);
        sync();
        t0 = cl_now_ns();
        if ((rv = cache_store_import(s, src, &info, &err)) != 0)
            die("import", rv, &err);
        r_imp[round] = (double)(cl_now_ns() - t0) / 1e9;
        sync();
        t0 = cl_now_ns();
        if ((rv = cache_store_import(s, src, &info, &err)) != 0)
            die("re-import", rv, &err);
        r_reimp[round] = (double)(cl_now_ns() - t0) / 1e9;
        snprintf(out, sizeof(out), "%s/export.bin", root);
        sync();
        t0 = cl_now_ns();
        if ((rv = cache_store_export(s, &info.digest, out, &err)) != 0)
            die("export", rv, &err);
        r_exp[round] = (double)(cl_now_ns() - t0) / 1e9;
        unlink(out);
        if (round < 2 &&
            (rv = cache_store_artifact_remove(s, &info.digest, &err)) != 0)
            die("remove", rv, &err);
    }
    double t_cp = median3(r_cp), t_cps = median3(r_cps), t_imp = median3(r_imp),
           t_reimp = median3(r_reimp), t_exp = median3(r_exp);
    enum cache_handover how = 0;
    snprintf(out, sizeof(out), "%s/hand1.bin", root);
    sync();
    t0 = cl_now_ns();
    if ((rv = cache_store_handover(s, &info.digest, out, &how, &err)) != 0)
        die("hand-over", rv, &err);
    double t_hand1 = (double)(cl_now_ns() - t0) / 1e9;
    snprintf(out, sizeof(out), "%s/hand2.bin", root);
    t0 = cl_now_ns();
    if ((rv = cache_store_handover(s, &info.digest, out, &how, &err)) != 0)
        die("hand-over", rv, &err);
    double t_hand2 = (double)(cl_now_ns() - t0) / 1e9;

    /* ---- 4. xfer ---- */
    char s2dir[600];
    snprintf(s2dir, sizeof(s2dir), "%s/store2", root);
    cache_store *s2 = open_store(s2dir);
    cache_xfer_store xa, xb;
    cache_store_xfer_store(s, &xa);
    cache_store_xfer_store(s2, &xb);
    uint64_t bytes = 0;
    double t_x = xfer_once(&xa, &xb, &info.digest, 8, &bytes);
    double x_mibs = (double)bytes / (1 << 20) / t_x;
    cache_xfer_store xn = xb;
    xn.have_artifact = null_have;
    xn.have_chunk = null_have;
    xn.write_chunk = null_write;
    xn.commit = null_commit;
    double t_xn = xfer_once(&xa, &xn, &info.digest, 8, &bytes);
    double xn_mibs = (double)bytes / (1 << 20) / t_xn;
    cache_store_close(s2);
    cache_store_close(s);

    double cp_mibs = mib / t_cp, cps_mibs = mib / t_cps;
    double imp_mibs = mib / t_imp, exp_mibs = mib / t_exp;
    const char *hows = how == CACHE_HANDOVER_REFLINK    ? "reflink"
                       : how == CACHE_HANDOVER_HARDLINK ? "hardlink"
                                                        : "copy";
    printf("%-44s %14s\n", "benchmark", "result");
    printf("%-44s %14s\n", "--------------------------------------------",
           "--------------");
    printf("%-44s %11.1f us\n", "get p50 (local RocksDB)", g50);
    printf("%-44s %11.1f us   goal <= 50\n", "get p99", g99);
    printf("%-44s %11.1f us\n", "get p99.9", g999);
    printf("%-44s %11.2f us\n", "get miss (mean)", miss_us);
    printf("%-44s %11.1f us\n", "lookup p50 (get + hit recorded)", l50);
    printf("%-44s %11.1f us\n", "lookup p99", l99);
    printf("%-44s %11.0f /s\n", "put, 1 entry per batch (sync each)",
           put_rate[0]);
    printf("%-44s %11.0f /s\n", "put, 100 per batch", put_rate[1]);
    printf("%-44s %11.0f /s   goal >= 20000\n", "put, 1000 per batch",
           put_rate[2]);
    printf("%-44s %11.0f MiB/s\n", "cp (page cache, no sync)", cp_mibs);
    printf("%-44s %11.0f MiB/s\n", "cp + sync", cps_mibs);
    printf("%-44s %11.0f MiB/s   x%.2f of cp, x%.2f of cp+sync\n",
           "import (hash, chunk, write, sync)", imp_mibs, imp_mibs / cp_mibs,
           imp_mibs / cps_mibs);
    printf("%-44s %11.0f MiB/s\n", "re-import (already stored)", mib / t_reimp);
    printf("%-44s %11.0f MiB/s   x%.2f of cp\n", "export (verify, write)",
           exp_mibs, exp_mibs / cp_mibs);
    printf("%-44s %11.3f s      first: writes the hand-over file\n",
           "hand-over, first", t_hand1);
    printf("%-44s %11.6f s      %s, x%.0f faster than cp\n", "hand-over, again",
           t_hand2, hows, t_cp / t_hand2);
    printf("%-44s %11.0f MiB/s\n", "xfer store -> store (in memory)", x_mibs);
    printf("%-44s %11.0f MiB/s\n", "xfer core (sender store, null receiver)",
           xn_mibs);
    printf("{\"entries\":%zu,\"file_mib\":%zu,\"get_p50_us\":%.2f,"
           "\"get_p99_us\":%.2f,\"get_p999_us\":%.2f,\"get_miss_us\":%.2f,"
           "\"lookup_p50_us\":%.2f,\"lookup_p99_us\":%.2f,"
           "\"put_per_s_batch1\":%.0f,\"put_per_s_batch100\":%.0f,"
           "\"put_per_s_batch1000\":%.0f,\"cp_mib_s\":%.1f,"
           "\"cp_sync_mib_s\":%.1f,\"import_mib_s\":%.1f,"
           "\"import_vs_cp\":%.3f,\"import_vs_cp_sync\":%.3f,"
           "\"reimport_mib_s\":%.1f,\"export_mib_s\":%.1f,"
           "\"export_vs_cp\":%.3f,\"handover_first_s\":%.4f,"
           "\"handover_again_s\":%.6f,\"handover\":\"%s\","
           "\"xfer_store_mib_s\":%.1f,\"xfer_core_mib_s\":%.1f,"
           "\"goal_get_p99\":%s,\"goal_put\":%s}\n",
           nentries, file_mib, g50, g99, g999, miss_us, l50, l99, put_rate[0],
           put_rate[1], put_rate[2], cp_mibs, cps_mibs, imp_mibs,
           imp_mibs / cp_mibs, imp_mibs / cps_mibs, mib / t_reimp, exp_mibs,
           exp_mibs / cp_mibs, t_hand1, t_hand2, hows, x_mibs, xn_mibs,
           g99 <= 50 ? "true" : "false",
           put_rate[2] >= 20000 ? "true" : "false");
    rm_rf(root);
    return 0;
}
