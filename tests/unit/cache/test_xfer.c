/* Unit tests for cache/xfer.c: a sender and a receiver, each over a real
 * store, wired directly in memory through a network that drops,
 * duplicates, reorders and corrupts messages, on virtual time. */
#include "cache_fixture.h"

#include "cache/cache_int.h"
#include "common/cl_heap.h"

enum { TO_SENDER = 0, TO_RECEIVER = 1 };

struct msg {
    int to;
    uint8_t *buf;
    size_t len;
};

struct net {
    struct msg *q;
    size_t n, cap;
    cl_rng rng;
    double drop;          /* probability a message is lost */
    double dup;           /* probability a message is delivered twice */
    bool reorder;         /* deliver in random order */
    int corrupt_chunks;   /* flip a byte in the next N chunk replies */
    int corrupt_manifest; /* flip a byte in the next N manifest replies */
    int sender_alive_for; /* chunk replies before the sender dies; <0: ever */
    int delivered;
};

static void net_push(struct net *n, int to, const uint8_t *buf, size_t len)
{
    if (n->n == n->cap) {
        n->cap = n->cap ? 2 * n->cap : 64;
        n->q = realloc(n->q, n->cap * sizeof(*n->q));
    }
    struct msg *m = &n->q[n->n++];
    m->to = to;
    m->buf = malloc(len ? len : 1);
    memcpy(m->buf, buf, len);
    m->len = len;
}

static int body_of(const uint8_t *buf, size_t len)
{
    cache__xfer_msg *m = NULL;
    if (cache__xfer_decode(buf, len, CACHE_MAX_XFER_MSG, &m) != 0)
        return -1;
    int b = (int)m->body_case;
    cache__xfer_msg_free(m);
    return b;
}

static int net_send(struct net *n, int to, const uint8_t *buf, size_t len)
{
    int body = body_of(buf, len);
    if (to == TO_RECEIVER && n->sender_alive_for >= 0) {
        if (n->sender_alive_for == 0)
            return 0; /* dead: nothing more comes from the sender */
        if (body == COULER__CACHE__XFER_MSG__BODY_CHUNK)
            n->sender_alive_for--;
    }
    if (cl_rng_double(&n->rng) < n->drop)
        return 0;
    net_push(n, to, buf, len);
    struct msg *m = &n->q[n->n - 1];
    if (to == TO_RECEIVER && body == COULER__CACHE__XFER_MSG__BODY_CHUNK &&
        n->corrupt_chunks > 0) {
        n->corrupt_chunks--;
        m->buf[m->len - 1] ^= 0x01; /* the data field is last */
    }
    if (to == TO_RECEIVER && body == COULER__CACHE__XFER_MSG__BODY_MANIFEST &&
        n->corrupt_manifest > 0) {
        n->corrupt_manifest--;
        m->buf[m->len - 5] ^= 0x10; /* inside the packed manifest */
    }
    if (cl_rng_double(&n->rng) < n->dup)
        net_push(n, to, m->buf, m->len);
    return 0;
}

static int to_sender(void *data, const uint8_t *buf, size_t len)
{
    return net_send(data, TO_SENDER, buf, len);
}

static int to_receiver(void *data, const uint8_t *buf, size_t len)
{
    return net_send(data, TO_RECEIVER, buf, len);
}

static void net_free(struct net *n)
{
    for (size_t i = 0; i < n->n; i++)
        free(n->q[i].buf);
    free(n->q);
    memset(n, 0, sizeof(*n));
}

struct fixture {
    char dir[256];
    char a_dir[300], b_dir[300], src[300];
    cache_store *a; /* holds the artifact */
    cache_store *b; /* fetches it */
    cache_artifact_info art;
};

static cache_store *open_store(const char *dir)
{
    cache_store_opts o;
    fx_opts(&o, dir);
    cache_store *s = NULL;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    if (cache_store_open(&o, &s, &err) != 0)
        fail_msg("open %s: %s", dir, err.msg);
    return s;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    fx_tmpdir(f->dir, sizeof(f->dir), "xfer");
    fx_path(f->a_dir, sizeof(f->a_dir), f->dir, "a");
    fx_path(f->b_dir, sizeof(f->b_dir), f->dir, "b");
    fx_path(f->src, sizeof(f->src), f->dir, "src");
    f->a = open_store(f->a_dir);
    f->b = open_store(f->b_dir);
    /* A directory of 6 files, 10 distinct chunks (one file repeats
     * another one's content). */
    char p[400];
    mkdir(f->src, 0755);
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof(p), "%s/part-%d", f->src, i);
        fx_write(p, (size_t)i * 700000 + 1000, 1000 + (uint64_t)i, 0, 0644);
    }
    snprintf(p, sizeof(p), "%s/copy-of-4", f->src);
    fx_write(p, 4 * 700000 + 1000, 1004, 0, 0644);
    cl_errmsg err;
    cl_errmsg_clear(&err);
    if (cache_store_import(f->a, f->src, &f->art, &err) != 0)
        fail_msg("import: %s", err.msg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    cache_store_close(f->a);
    cache_store_close(f->b);
    fx_rm_rf(f->dir);
    free(f);
    return 0;
}

/* An offloaded chunk check, run when drive chooses (out of order). */
struct job {
    cache_digest c;
    uint8_t *buf;
    size_t len;
};

struct run {
    cache_xfer_recv *r;
    cache_xfer_sender snd;
    struct net net;
    int64_t now;
    int steps;
    /* offload */
    cache_xfer_store sb;
    struct job jobs[64];
    int njobs, max_jobs, jobs_started;
    bool hold_jobs; /* run none until the receiver has ended */
};

static int offload_start(void *data, cache_xfer_recv *r, const cache_digest *c,
                         uint8_t *buf, size_t len)
{
    struct run *x = data;
    (void)r;
    assert_true(x->njobs < 64);
    x->jobs[x->njobs++] = (struct job){*c, buf, len};
    x->jobs_started++;
    if (x->njobs > x->max_jobs)
        x->max_jobs = x->njobs;
    return 0;
}

/* run_job - check and write job i, then report it to the receiver. */
static void run_job(struct run *x, int i)
{
    struct job j = x->jobs[i];
    x->jobs[i] = x->jobs[--x->njobs];
    int rv = cache_xfer_check_write(&x->sb, &j.c, j.buf, j.len);
    cl_free(j.buf);
    (void)cache_xfer_recv_chunk_checked(x->r, &j.c, rv, x->now);
}

static void run_init_offload(struct run *x, struct fixture *f,
                             const cache_digest *art, uint64_t id,
                             uint32_t credit, uint64_t seed, bool offload)
{
    memset(x, 0, sizeof(*x));
    cl_rng_seed(&x->net.rng, seed);
    x->net.sender_alive_for = -1;
    cache_xfer_store sa, sb;
    cache_store_xfer_store(f->a, &sa);
    cache_store_xfer_store(f->b, &sb);
    cache_xfer_transport ts = {&x->net, to_receiver};
    cache_xfer_transport tr = {&x->net, to_sender};
    cache_xfer_sender_init(&x->snd, &sa, &ts);
    x->sb = sb;
    cache_xfer_recv_opts o;
    cache_xfer_recv_opts_init(&o);
    o.xfer_id = id;
    o.credit = credit;
    o.timeout_ms = 500;
    o.max_retries = 8;
    if (offload) {
        o.offload.data = x;
        o.offload.start = offload_start;
    }
    assert_int_equal(cache_xfer_recv_new(art, &o, &sb, &tr, &x->r), 0);
}

static void run_init_for(struct run *x, struct fixture *f,
                         const cache_digest *art, uint64_t id, uint32_t credit,
                         uint64_t seed)
{
    run_init_offload(x, f, art, id, credit, seed, false);
}

static void run_init(struct run *x, struct fixture *f, uint64_t id,
                     uint32_t credit, uint64_t seed)
{
    run_init_for(x, f, &f->art.digest, id, credit, seed);
}

/* drive - deliver messages until the receiver is done or failed; with no
 * message in flight, jump virtual time to the receiver's next timer. */
static void drive(struct run *x)
{
    assert_int_equal(cache_xfer_recv_start(x->r, x->now), 0);
    while (x->steps++ < 100000) {
        enum cache_xfer_state st = cache_xfer_recv_state(x->r);
        if (st == CACHE_XFER_DONE || st == CACHE_XFER_FAILED)
            return;
        struct net *n = &x->net;
        if (x->njobs > 0 && !x->hold_jobs &&
            (n->n == 0 || cl_rng_below(&n->rng, 2) == 0)) {
            x->now += 1;
            run_job(x, (int)cl_rng_below(&n->rng, (uint64_t)x->njobs));
            continue;
        }
        if (n->n == 0 && x->hold_jobs && x->njobs > 0)
            return; /* waiting for held checks only */
        if (n->n == 0) {
            int64_t t = cache_xfer_recv_next_timer(x->r);
            assert_true(t != INT64_MAX);
            x->now = t;
            int rv = cache_xfer_recv_tick(x->r, x->now);
            if (rv != 0) /* only the end of the transfer is an error */
                assert_int_equal(cache_xfer_recv_state(x->r),
                                 CACHE_XFER_FAILED);
            continue;
        }
        size_t i = n->reorder ? (size_t)cl_rng_below(&n->rng, n->n) : 0;
        struct msg m = n->q[i];
        memmove(&n->q[i], &n->q[i + 1], (n->n - i - 1) * sizeof(*n->q));
        n->n--;
        n->delivered++;
        x->now += 1; /* a millisecond per hop */
        if (m.to == TO_SENDER)
            (void)cache_xfer_sender_on_msg(&x->snd, m.buf, m.len);
        else
            (void)cache_xfer_recv_on_msg(x->r, m.buf, m.len, x->now);
        free(m.buf);
    }
    fail_msg("transfer did not finish");
}

static void run_free(struct run *x)
{
    while (x->njobs > 0) /* outcomes after the end are only counted off */
        run_job(x, 0);
    cache_xfer_recv_free(x->r);
    net_free(&x->net);
}

static void assert_fetched(struct fixture *f)
{
    char dst[400];
    snprintf(dst, sizeof(dst), "%s/fetched-%d", f->dir, rand());
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = cache_store_export(f->b, &f->art.digest, dst, &err);
    if (rv != 0)
        fail_msg("export: %s", err.msg);
    char pa[500], pb[500];
    for (int i = 0; i < 5; i++) {
        snprintf(pa, sizeof(pa), "%s/part-%d", f->src, i);
        snprintf(pb, sizeof(pb), "%s/part-%d", dst, i);
        assert_true(fx_same(pa, pb));
    }
    snprintf(pa, sizeof(pa), "%s/copy-of-4", f->src);
    snprintf(pb, sizeof(pb), "%s/copy-of-4", dst);
    assert_true(fx_same(pa, pb));
    fx_rm_rf(dst);
}

static void test_clean(void **state)
{
    struct fixture *f = *state;
    struct run x;
    run_init(&x, f, 1, 4, 1);
    drive(&x);
    cl_errmsg why;
    assert_int_equal(cache_xfer_recv_error(x.r, &why), 0);
    assert_int_equal(cache_xfer_recv_state(x.r), CACHE_XFER_DONE);
    cache_xfer_recv_stats st;
    cache_xfer_recv_get_stats(x.r, &st);
    assert_int_equal(st.chunks_total, 10);
    assert_int_equal(st.chunks_present, 0);
    assert_int_equal(st.chunks_fetched, 10);
    assert_int_equal(st.retries, 0);
    assert_int_equal(st.corrupt, 0);
    assert_int_equal(st.max_in_flight, 4); /* the window was used, no more */
    assert_int_equal(st.requests_sent, 11);
    assert_int_equal(x.snd.chunks_sent, 10);
    assert_int_equal(x.snd.manifests_sent, 1);
    assert_int_equal(x.now, 22); /* 11 requests and 11 replies, 1 ms each */
    assert_fetched(f);
    run_free(&x);
    /* Already there: done at once, nothing sent. */
    run_init(&x, f, 2, 4, 1);
    drive(&x);
    assert_int_equal(cache_xfer_recv_state(x.r), CACHE_XFER_DONE);
    assert_int_equal(x.net.delivered, 0);
    run_free(&x);
}

static void test_faults(void **state)
{
    struct fixture *f = *state;
    struct run x;
    run_init(&x, f, 7, 3, 12345);
    x.net.drop = 0.2;
    x.net.dup = 0.2;
    x.net.reorder = true;
    x.net.corrupt_chunks = 2;
    x.net.corrupt_manifest = 1;
    drive(&x);
    cl_errmsg why;
    cl_errmsg_clear(&why);
    if (cache_xfer_recv_error(x.r, &why) != 0)
        fail_msg("failed: %s", why.msg);
    cache_xfer_recv_stats st;
    cache_xfer_recv_get_stats(x.r, &st);
    assert_int_equal(st.chunks_fetched, 10);
    /* Corrupt replies may be overtaken by a good duplicate; at least one
     * was caught (test_corrupt_reply counts them exactly). */
    assert_true(st.corrupt >= 1);
    assert_true(st.retries > 0);
    assert_true(st.duplicates > 0);
    assert_true(st.max_in_flight <= 3);
    assert_fetched(f);
    run_free(&x);
}

static void test_corrupt_reply(void **state)
{
    struct fixture *f = *state;
    struct run x;
    run_init(&x, f, 8, 2, 77);
    x.net.corrupt_chunks = 2;
    x.net.corrupt_manifest = 1;
    drive(&x);
    assert_int_equal(cache_xfer_recv_state(x.r), CACHE_XFER_DONE);
    cache_xfer_recv_stats st;
    cache_xfer_recv_get_stats(x.r, &st);
    assert_int_equal(st.corrupt, 3);
    assert_int_equal(st.retries, 3); /* each re-asked at once */
    assert_int_equal(st.chunks_fetched, 10);
    assert_int_equal(x.now, 2 * (11 + 3)); /* no timeout was needed */
    assert_fetched(f);
    run_free(&x);
}

/* Chunks checked off the receiver's thread, finishing in any order, on a
 * network that drops, duplicates, reorders and corrupts: the transfer ends
 * whole, and checks in progress count against the credit. */
static void test_offload(void **state)
{
    struct fixture *f = *state;
    struct run x;
    run_init_offload(&x, f, &f->art.digest, 20, 3, 4242, true);
    x.net.drop = 0.2;
    x.net.dup = 0.2;
    x.net.reorder = true;
    x.net.corrupt_chunks = 3;
    drive(&x);
    cl_errmsg why;
    cl_errmsg_clear(&why);
    if (cache_xfer_recv_error(x.r, &why) != 0)
        fail_msg("failed: %s", why.msg);
    cache_xfer_recv_stats st;
    cache_xfer_recv_get_stats(x.r, &st);
    assert_int_equal(st.chunks_fetched, 10);
    assert_true(st.corrupt >= 1);
    assert_true(x.jobs_started >= 10);
    assert_true(x.max_jobs >= 2); /* checks overlapped */
    assert_true(x.max_jobs <= 3);
    assert_true(st.max_in_flight <= 3);
    assert_int_equal(x.njobs, 0);
    assert_fetched(f);
    run_free(&x);
}

/* A check that fails to write (a full disk) ends the receiver while other
 * checks still run: their outcomes change nothing and send nothing. Checks
 * in progress hold the credit, and no timer runs for them. */
static void test_offload_end_with_checks_running(void **state)
{
    struct fixture *f = *state;
    struct run x;
    run_init_offload(&x, f, &f->art.digest, 21, 4, 99, true);
    x.hold_jobs = true;
    drive(&x);
    assert_int_equal(cache_xfer_recv_state(x.r), CACHE_XFER_CHUNKS);
    assert_int_equal(x.njobs, 4); /* the whole credit */
    assert_int_equal(x.net.n, 0);
    assert_int_equal(cache_xfer_recv_next_timer(x.r), INT64_MAX);
    struct job j = x.jobs[--x.njobs];
    cl_free(j.buf);
    assert_int_equal(
        cache_xfer_recv_chunk_checked(x.r, &j.c, CL_ENOSPC, x.now),
        CL_ENOSPC);
    assert_int_equal(cache_xfer_recv_state(x.r), CACHE_XFER_FAILED);
    cl_errmsg why;
    cl_errmsg_clear(&why);
    assert_int_equal(cache_xfer_recv_error(x.r, &why), CL_ENOSPC);
    assert_non_null(strstr(why.msg, "writing a chunk"));
    while (x.njobs > 0)
        run_job(&x, x.njobs - 1);
    assert_int_equal(x.net.n, 0);
    assert_int_equal(cache_xfer_recv_state(x.r), CACHE_XFER_FAILED);
    cache_xfer_recv_stats st;
    cache_xfer_recv_get_stats(x.r, &st);
    assert_int_equal(st.chunks_fetched, 0);
    run_free(&x);
}

static void test_resume(void **state)
{
    struct fixture *f = *state;
    struct run x;
    run_init(&x, f, 3, 2, 5);
    x.net.sender_alive_for = 3; /* the peer dies after 3 chunks */
    drive(&x);
    assert_int_equal(cache_xfer_recv_state(x.r), CACHE_XFER_FAILED);
    cl_errmsg why;
    assert_int_equal(cache_xfer_recv_error(x.r, &why), CL_ETIMEDOUT);
    assert_non_null(strstr(why.msg, "peer lost"));
    cache_xfer_recv_stats st;
    cache_xfer_recv_get_stats(x.r, &st);
    assert_int_equal(st.chunks_fetched, 3);
    run_free(&x);
    /* Not committed: the artifact is not there... */
    cache_xfer_store sb;
    cache_store_xfer_store(f->b, &sb);
    assert_int_equal(sb.have_artifact(sb.data, &f->art.digest), CL_ENOENT);
    /* ...but its chunks are, and the next fetch asks only for the rest. */
    run_init(&x, f, 4, 2, 6);
    drive(&x);
    assert_int_equal(cache_xfer_recv_state(x.r), CACHE_XFER_DONE);
    cache_xfer_recv_get_stats(x.r, &st);
    assert_int_equal(st.chunks_present, 3);
    assert_int_equal(st.chunks_fetched, 7);
    assert_int_equal(x.snd.chunks_sent, 7);
    assert_fetched(f);
    run_free(&x);
}

static void test_unknown_and_corrupt_source(void **state)
{
    struct fixture *f = *state;
    struct run x;
    cache_digest unknown;
    memset(unknown.b, 0x77, CL_DIGEST_SIZE); /* not on the sender */
    run_init_for(&x, f, &unknown, 9, 2, 1);
    drive(&x);
    cl_errmsg why;
    assert_int_equal(cache_xfer_recv_error(x.r, &why), CL_ENOENT);
    assert_int_equal(x.snd.errors_sent, 1);
    run_free(&x);

    /* The sender's copy of a chunk is bad: it says so, and the receiver
     * gives up with CL_ECORRUPT (the caller treats it as a miss). */
    uint8_t k[1 + CL_DIGEST_SIZE], junk[100];
    memset(junk, 0xee, sizeof(junk));
    char p[400];
    snprintf(p, sizeof(p), "%s/part-0", f->src);
    uint8_t buf[1000];
    FILE *fp = fopen(p, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(buf, 1, 1000, fp), 1000);
    fclose(fp);
    k[0] = 'd';
    cl_digest(buf, 1000, k + 1);
    cache__rdb_batch *b = NULL;
    assert_int_equal(cache__rdb_batch_new(f->a->db, &b), 0);
    cache__rdb_batch_put(b, CACHE__CF_CHUNKS, k, sizeof(k), junk, sizeof(junk));
    assert_int_equal(cache__rdb_write(f->a->db, b, CACHE__RDB_SYNC, NULL), 0);
    cache__rdb_batch_free(b);
    run_init(&x, f, 10, 2, 1);
    drive(&x);
    assert_int_equal(cache_xfer_recv_error(x.r, &why), CL_ECORRUPT);
    assert_non_null(strstr(why.msg, "cannot serve chunk"));
    run_free(&x);
    cache_artifact_info info;
    assert_int_equal(
        cache_store_artifact_stat(f->a, &f->art.digest, &info, NULL), 0);
    assert_int_equal(info.missing_chunks, 1);
}

static int sink(void *data, const uint8_t *buf, size_t len)
{
    (void)buf;
    (void)len;
    ++*(int *)data;
    return 0;
}

static void test_malformed(void **state)
{
    struct fixture *f = *state;
    int sent = 0;
    cache_xfer_store sa, sb;
    cache_store_xfer_store(f->a, &sa);
    cache_store_xfer_store(f->b, &sb);
    cache_xfer_transport t = {&sent, sink};
    cache_xfer_sender snd;
    cache_xfer_sender_init(&snd, &sa, &t);
    static const uint8_t garbage[] = {0x0a, 0xff, 0x01, 0x02};
    assert_int_equal(cache_xfer_sender_on_msg(&snd, garbage, sizeof(garbage)),
                     CL_EPROTO);
    assert_int_equal(snd.bad_requests, 1);
    assert_int_equal(sent, 0);
    /* A request larger than any request can be is refused unread. */
    uint8_t *big = calloc(1, 8192);
    assert_int_equal(cache_xfer_sender_on_msg(&snd, big, 8192), CL_ETOOBIG);
    free(big);

    cache_xfer_recv_opts o;
    cache_xfer_recv_opts_init(&o);
    o.xfer_id = 5;
    cache_xfer_recv *r = NULL;
    assert_int_equal(cache_xfer_recv_new(&f->art.digest, &o, &sb, &t, &r), 0);
    assert_int_equal(cache_xfer_recv_start(r, 0), 0);
    assert_int_equal(sent, 1);
    assert_int_equal(cache_xfer_recv_start(r, 0), CL_ESTATE);
    assert_int_equal(cache_xfer_recv_on_msg(r, garbage, sizeof(garbage), 1),
                     CL_EPROTO);
    assert_int_equal(cache_xfer_recv_state(r), CACHE_XFER_MANIFEST);
    /* A reply for another transfer is ignored. */
    Couler__Cache__XferMsg m = COULER__CACHE__XFER_MSG__INIT;
    Couler__Cache__ChunkData cd = COULER__CACHE__CHUNK_DATA__INIT;
    uint8_t d[CL_DIGEST_SIZE] = {1};
    m.version = CACHE_FORMAT_VERSION;
    m.xfer_id = 6;
    m.body_case = COULER__CACHE__XFER_MSG__BODY_CHUNK;
    m.chunk = &cd;
    cd.chunk.data = d;
    cd.chunk.len = CL_DIGEST_SIZE;
    uint8_t buf[128];
    size_t n = couler__cache__xfer_msg__pack(&m, buf);
    assert_int_equal(cache_xfer_recv_on_msg(r, buf, n, 2), 0);
    cache_xfer_recv_stats st;
    cache_xfer_recv_get_stats(r, &st);
    assert_int_equal(st.stray, 1);
    /* Timeouts: the manifest is asked for again, then the peer is lost. */
    assert_int_equal(cache_xfer_recv_next_timer(r), o.timeout_ms);
    for (uint32_t i = 0; i <= o.max_retries; i++)
        assert_int_equal(
            cache_xfer_recv_tick(r, (int64_t)(i + 1) * o.timeout_ms),
            i < o.max_retries ? 0 : CL_ETIMEDOUT);
    assert_int_equal(cache_xfer_recv_state(r), CACHE_XFER_FAILED);
    assert_int_equal(sent, 1 + (int)o.max_retries);
    assert_int_equal(cache_xfer_recv_next_timer(r), INT64_MAX);
    cache_xfer_recv_free(r);
    uint64_t id;
    bool req;
    assert_int_equal(cache_xfer_msg_id(buf, n, &id, &req), 0);
    assert_int_equal(id, 6);
    assert_false(req);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_clean),
        T(test_faults),
        T(test_corrupt_reply),
        T(test_offload),
        T(test_offload_end_with_checks_running),
        T(test_resume),
        T(test_unknown_and_corrupt_source),
        T(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
