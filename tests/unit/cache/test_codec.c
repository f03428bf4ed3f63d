/* Unit tests for cache/codec.c: entry images, manifest checks and digests,
 * transfer message decoding, and the digest set. */
#include "cache_fixture.h"

#include "cache/cache_int.h"
#include "common/cl_heap.h"

static void test_entry_roundtrip(void **state)
{
    (void)state;
    cache_kv params[] = {{"accuracy", "0.93"}, {"empty", ""}};
    cache_artifact_ref arts[1];
    memset(arts, 0, sizeof(arts));
    arts[0].name = "model";
    memset(arts[0].digest.b, 0xab, CL_DIGEST_SIZE);
    arts[0].size = 12345;
    arts[0].is_dir = true;
    arts[0].node = "gpu-7";
    cache_entry e;
    memset(&e, 0, sizeof(e));
    e.params = params;
    e.nparams = 2;
    e.result = "";
    e.exit_code = 0;
    e.artifacts = arts;
    e.nartifacts = 1;
    e.producer = "gpu-7";
    e.created_ms = 1000;
    e.last_used_ms = 2000;
    e.hits = 3;
    e.compute_ms = 4000;
    e.upstream_ms = 500;
    e.consumers = 2;
    e.downstream_weight = 1.5;
    e.max_age_ms = 60000;
    e.memo_cache = "cm";
    e.memo_key = "k-1";
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(cache__entry_encode(&e, &buf, &len), 0);
    cache_entry *d = NULL;
    assert_int_equal(cache__entry_decode(buf, len, &d), 0);
    assert_int_equal(d->nparams, 2);
    assert_string_equal(d->params[0].name, "accuracy");
    assert_string_equal(d->params[0].value, "0.93");
    assert_string_equal(d->params[1].value, "");
    assert_non_null(d->result); /* "" is a result, NULL is none */
    assert_string_equal(d->result, "");
    assert_int_equal(d->nartifacts, 1);
    assert_string_equal(d->artifacts[0].name, "model");
    assert_memory_equal(d->artifacts[0].digest.b, arts[0].digest.b,
                        CL_DIGEST_SIZE);
    assert_int_equal(d->artifacts[0].size, 12345);
    assert_true(d->artifacts[0].is_dir);
    assert_string_equal(d->artifacts[0].node, "gpu-7");
    assert_string_equal(d->producer, "gpu-7");
    assert_int_equal(d->created_ms, 1000);
    assert_int_equal(d->last_used_ms, 2000);
    assert_int_equal(d->hits, 3);
    assert_int_equal(d->compute_ms, 4000);
    assert_int_equal(d->upstream_ms, 500);
    assert_int_equal(d->consumers, 2);
    assert_float_equal(d->downstream_weight, 1.5, 0);
    assert_int_equal(d->max_age_ms, 60000);
    assert_string_equal(d->memo_cache, "cm");
    assert_string_equal(d->memo_key, "k-1");
    assert_int_equal(cache_entry_size(d), 12345);
    cache_entry_free(d);

    e.result = NULL;
    e.exit_code = -3;
    cl_free(buf);
    assert_int_equal(cache__entry_encode(&e, &buf, &len), 0);
    assert_int_equal(cache__entry_decode(buf, len, &d), 0);
    assert_null(d->result);
    assert_int_equal(d->exit_code, -3);
    cache_entry_free(d);
    cl_free(buf);
}

static void test_entry_bad(void **state)
{
    (void)state;
    cache_entry *d = NULL;
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    assert_int_equal(cache__entry_decode(garbage, sizeof(garbage), &d),
                     CL_EPROTO);
    /* A future version is refused. */
    Couler__Cache__Entry pb = COULER__CACHE__ENTRY__INIT;
    pb.version = CACHE_FORMAT_VERSION + 1;
    uint8_t buf[64];
    size_t n = couler__cache__entry__pack(&pb, buf);
    assert_int_equal(cache__entry_decode(buf, n, &d), CL_EVERSION);
    /* A digest of the wrong length. */
    Couler__Cache__ArtifactRef a = COULER__CACHE__ARTIFACT_REF__INIT;
    Couler__Cache__ArtifactRef *pa = &a;
    uint8_t short_digest[5] = {1, 2, 3, 4, 5};
    a.digest.data = short_digest;
    a.digest.len = 5;
    pb.version = CACHE_FORMAT_VERSION;
    pb.n_artifacts = 1;
    pb.artifacts = &pa;
    n = couler__cache__entry__pack(&pb, buf);
    assert_int_equal(cache__entry_decode(buf, n, &d), CL_EPROTO);
    /* Over the size bound: refused before parsing. */
    assert_int_equal(cache__entry_decode(buf, CACHE_MAX_ENTRY + 1, &d),
                     CL_ETOOBIG);
}

/* A small directory manifest built by hand. */
struct mdir {
    Couler__Cache__Manifest m;
    Couler__Cache__Node nodes[4];
    Couler__Cache__Node *pn[4];
    ProtobufCBinaryData chunk[1];
    uint8_t cd[CL_DIGEST_SIZE];
    cache_digest content;
};

static void mdir_init(struct mdir *d)
{
    memset(d, 0, sizeof(*d));
    couler__cache__manifest__init(&d->m);
    d->m.version = CACHE_FORMAT_VERSION;
    d->m.is_dir = true;
    d->m.chunk_size = CACHE_CHUNK_SIZE;
    d->m.root_mode = 0755;
    d->m.size = 10;
    for (int i = 0; i < 4; i++) {
        couler__cache__node__init(&d->nodes[i]);
        d->pn[i] = &d->nodes[i];
    }
    cl_digest("0123456789", 10, d->cd);
    d->chunk[0].data = d->cd;
    d->chunk[0].len = CL_DIGEST_SIZE;
    cl_digest_state h;
    cache__file_digest_init(&h, 10);
    cache__file_digest_chunk(&h, d->cd);
    cache__file_digest_final(&h, &d->content);
    d->nodes[0].path = "a";
    d->nodes[0].kind = COULER__CACHE__NODE_KIND__NODE_DIR;
    d->nodes[0].mode = 0755;
    d->nodes[1].path = "a/f";
    d->nodes[1].kind = COULER__CACHE__NODE_KIND__NODE_FILE;
    d->nodes[1].mode = 0644;
    d->nodes[1].size = 10;
    d->nodes[1].digest.data = d->content.b;
    d->nodes[1].digest.len = CL_DIGEST_SIZE;
    d->nodes[1].n_chunks = 1;
    d->nodes[1].chunks = d->chunk;
    d->nodes[2].path = "b";
    d->nodes[2].kind = COULER__CACHE__NODE_KIND__NODE_SYMLINK;
    d->nodes[2].mode = 0777;
    d->nodes[2].target = "a/f";
    d->m.n_nodes = 3;
    d->m.nodes = d->pn;
}

static int check(const struct mdir *d)
{
    cl_errmsg err;
    cl_errmsg_clear(&err);
    return cache__manifest_check(&d->m, &err);
}

static void test_manifest_check(void **state)
{
    (void)state;
    struct mdir d;
    mdir_init(&d);
    assert_int_equal(check(&d), 0);
    /* Roundtrip through the bounded decoder, and the digest is stable. */
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(cache__pack(&d.m.base, &buf, &len), 0);
    cache__manifest *m = NULL;
    assert_int_equal(cache__manifest_decode(buf, len, &m, NULL), 0);
    cache_digest a, b;
    cache__manifest_digest(&d.m, &a);
    cache__manifest_digest(m, &b);
    assert_true(cache_digest_equal(&a, &b));
    cache__manifest_free(m);
    cl_free(buf);

    /* Every covered field changes the digest. */
    d.nodes[1].mode = 0600;
    cache__manifest_digest(&d.m, &b);
    assert_false(cache_digest_equal(&a, &b));
    mdir_init(&d);
    d.m.root_mode = 0700;
    cache__manifest_digest(&d.m, &b);
    assert_false(cache_digest_equal(&a, &b));
    mdir_init(&d);
    d.nodes[2].target = "a";
    cache__manifest_digest(&d.m, &b);
    assert_false(cache_digest_equal(&a, &b));

    const char *bad_paths[] = {"../x", "/abs", "a//f", "a/./f", "a/", ".", ""};
    for (size_t i = 0; i < sizeof(bad_paths) / sizeof(*bad_paths); i++) {
        mdir_init(&d);
        d.nodes[2].path = (char *)bad_paths[i];
        assert_int_equal(check(&d), CL_EPROTO);
    }
    /* Out of order. */
    mdir_init(&d);
    d.nodes[0].path = "c";
    assert_int_equal(check(&d), CL_EPROTO);
    /* A parent that is a symlink (would write through it). */
    mdir_init(&d);
    d.nodes[2].path = "a/g";
    d.nodes[3] = d.nodes[1];
    d.nodes[3].path = "a/g/x";
    d.m.n_nodes = 4;
    d.m.size = 20;
    assert_int_equal(check(&d), CL_EPROTO);
    /* A missing parent. */
    mdir_init(&d);
    d.nodes[1].path = "z/f";
    d.nodes[2].path = "zz";
    assert_int_equal(check(&d), CL_EPROTO);
    /* Sizes that do not add up, or chunks that do not fit the size. */
    mdir_init(&d);
    d.m.size = 11;
    assert_int_equal(check(&d), CL_EPROTO);
    mdir_init(&d);
    d.nodes[1].size = CACHE_CHUNK_SIZE + 1;
    d.m.size = CACHE_CHUNK_SIZE + 1;
    assert_int_equal(check(&d), CL_EPROTO);
    /* A content digest that does not match the chunk list. */
    mdir_init(&d);
    d.content.b[0] ^= 1;
    assert_int_equal(check(&d), CL_ECORRUPT);
    /* Unknown version, chunk size, kind, bad modes. */
    mdir_init(&d);
    d.m.version = 9;
    assert_int_equal(check(&d), CL_EVERSION);
    mdir_init(&d);
    d.m.chunk_size = 4096;
    assert_int_equal(check(&d), CL_EPROTO);
    mdir_init(&d);
    d.nodes[2].kind = (Couler__Cache__NodeKind)7;
    assert_int_equal(check(&d), CL_EPROTO);
    mdir_init(&d);
    d.nodes[0].mode = 010000;
    assert_int_equal(check(&d), CL_EPROTO);
    /* A directory with data, a symlink without a target. */
    mdir_init(&d);
    d.nodes[0].size = 1;
    assert_int_equal(check(&d), CL_EPROTO);
    mdir_init(&d);
    d.nodes[2].target = "";
    assert_int_equal(check(&d), CL_EPROTO);
    /* A file artifact needs exactly one root file node. */
    mdir_init(&d);
    d.m.is_dir = false;
    assert_int_equal(check(&d), CL_EPROTO);
    d.m.n_nodes = 1;
    d.pn[0] = &d.nodes[1];
    d.nodes[1].path = "";
    assert_int_equal(check(&d), 0);
    /* Over the bound: refused before a byte is read. */
    static const uint8_t one[1] = {0};
    assert_int_equal(
        cache__manifest_decode(one, CACHE_MAX_MANIFEST + 1, &m, NULL),
        CL_ETOOBIG);
}

static void test_path_ok(void **state)
{
    (void)state;
    assert_true(cache__path_ok("a"));
    assert_true(cache__path_ok("a/b/c.txt"));
    assert_true(cache__path_ok("..a/b..")); /* dots inside names are fine */
    assert_false(cache__path_ok(""));
    assert_false(cache__path_ok("a/../b"));
    assert_false(cache__path_ok("./a"));
    assert_false(cache__path_ok("a/"));
    char longp[CACHE_MAX_PATH + 2];
    memset(longp, 'x', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    assert_false(cache__path_ok(longp));
}

static size_t pack_msg(Couler__Cache__XferMsg *m, uint8_t *buf)
{
    return couler__cache__xfer_msg__pack(m, buf);
}

static void test_xfer_decode(void **state)
{
    (void)state;
    uint8_t d32[CL_DIGEST_SIZE] = {7};
    uint8_t buf[512];
    Couler__Cache__XferMsg m = COULER__CACHE__XFER_MSG__INIT;
    Couler__Cache__GetChunk g = COULER__CACHE__GET_CHUNK__INIT;
    m.version = CACHE_FORMAT_VERSION;
    m.xfer_id = 42;
    m.body_case = COULER__CACHE__XFER_MSG__BODY_GET_CHUNK;
    m.get_chunk = &g;
    g.artifact.data = d32;
    g.artifact.len = CL_DIGEST_SIZE;
    g.chunk.data = d32;
    g.chunk.len = CL_DIGEST_SIZE;
    size_t n = pack_msg(&m, buf);
    cache__xfer_msg *out = NULL;
    assert_int_equal(cache__xfer_decode(buf, n, 4096, &out), 0);
    assert_int_equal(out->xfer_id, 42);
    cache__xfer_msg_free(out);
    uint64_t id = 0;
    bool req = false;
    assert_int_equal(cache_xfer_msg_id(buf, n, &id, &req), 0);
    assert_int_equal(id, 42);
    assert_true(req);
    /* size bound */
    assert_int_equal(cache__xfer_decode(buf, n, n - 1, &out), CL_ETOOBIG);
    /* truncated */
    assert_int_equal(cache__xfer_decode(buf, n - 3, 4096, &out), CL_EPROTO);
    /* a digest of the wrong length */
    g.chunk.len = 31;
    n = pack_msg(&m, buf);
    assert_int_equal(cache__xfer_decode(buf, n, 4096, &out), CL_EPROTO);
    /* another version */
    g.chunk.len = CL_DIGEST_SIZE;
    m.version = 2;
    n = pack_msg(&m, buf);
    assert_int_equal(cache__xfer_decode(buf, n, 4096, &out), CL_EVERSION);
    /* no body */
    Couler__Cache__XferMsg empty = COULER__CACHE__XFER_MSG__INIT;
    empty.version = CACHE_FORMAT_VERSION;
    n = pack_msg(&empty, buf);
    assert_int_equal(cache__xfer_decode(buf, n, 4096, &out), CL_EPROTO);
}

static void test_dset(void **state)
{
    (void)state;
    cache__dset s;
    cache__dset_init(&s);
    uint8_t d[CL_DIGEST_SIZE];
    for (uint32_t i = 0; i < 1000; i++) {
        cl_digest(&i, sizeof(i), d);
        assert_int_equal(cache__dset_add(&s, d), 0);
        if (i % 2 == 0)
            assert_int_equal(cache__dset_add(&s, d), 0);
    }
    assert_int_equal(s.n, 1000);
    for (uint32_t i = 0; i < 1000; i++) {
        cl_digest(&i, sizeof(i), d);
        assert_int_equal(cache__dset_get(&s, d), i % 2 == 0 ? 2 : 1);
        assert_int_equal(cache__dset_dec(&s, d), i % 2 == 0 ? 1 : 0);
    }
    uint32_t x = 5000;
    cl_digest(&x, sizeof(x), d);
    assert_int_equal(cache__dset_get(&s, d), 0);
    cache__dset_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entry_roundtrip),
        cmocka_unit_test(test_entry_bad),
        cmocka_unit_test(test_manifest_check),
        cmocka_unit_test(test_path_ok),
        cmocka_unit_test(test_xfer_decode),
        cmocka_unit_test(test_dset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
