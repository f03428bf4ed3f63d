/* Unit tests for cache/key.c: the implicit key and the memoize key. */
#include "cache_fixture.h"

static const char *const CMD[] = {"python", "-c"};
static const char *const ARGS[] = {"print(1)", "--lr", "0.1"};
static const cache_kv ENV[] = {{"A", "1"}, {"B", "2"}, {"PATH", "/usr/bin"}};
static const cache_kv PARAMS[] = {{"lr", "0.1"}, {"epochs", "3"}};

static cache_key_artifact ARTS[2];

/* base - a fully populated input; each test varies one field. */
static cache_key_input base(void)
{
    memset(ARTS, 0, sizeof(ARTS));
    ARTS[0].name = "data";
    ARTS[0].path = "/in/data.csv";
    memset(ARTS[0].digest.b, 0x11, CL_DIGEST_SIZE);
    ARTS[1].name = "model";
    ARTS[1].path = "/in/model";
    memset(ARTS[1].digest.b, 0x22, CL_DIGEST_SIZE);
    cache_key_input in;
    memset(&in, 0, sizeof(in));
    in.kind = CACHE_KIND_SCRIPT;
    in.command = CMD;
    in.ncommand = 2;
    in.args = ARGS;
    in.nargs = 3;
    in.source = "import sys\nprint(sys.argv)\n";
    in.image = "python:3.11";
    in.env = ENV;
    in.nenv = 3;
    in.workdir = "/work";
    in.params = PARAMS;
    in.nparams = 2;
    in.artifacts = ARTS;
    in.nartifacts = 2;
    in.memo_key = NULL;
    return in;
}

static cache_key key_of(const cache_key_input *in)
{
    cache_key k;
    assert_int_equal(cache_key_compute(in, &k), 0);
    return k;
}

static void assert_key_ne(const cache_key *a, const cache_key *b)
{
    char ha[CL_DIGEST_HEX_SIZE], hb[CL_DIGEST_HEX_SIZE];
    cache_key_hex(a, ha);
    cache_key_hex(b, hb);
    assert_string_not_equal(ha, hb);
}

static void assert_key_eq(const cache_key *a, const cache_key *b)
{
    char ha[CL_DIGEST_HEX_SIZE], hb[CL_DIGEST_HEX_SIZE];
    cache_key_hex(a, ha);
    cache_key_hex(b, hb);
    assert_string_equal(ha, hb);
}

static void test_deterministic(void **state)
{
    (void)state;
    cache_key_input in = base();
    cache_key a = key_of(&in), b = key_of(&in);
    assert_key_eq(&a, &b);
    char hex[CL_DIGEST_HEX_SIZE];
    cache_key_hex(&a, hex);
    assert_int_equal(strlen(hex), 64);
    cache_key parsed;
    assert_int_equal(cache_key_parse(hex, &parsed), 0);
    assert_true(cache_key_equal(&parsed, &a));
    assert_int_equal(cache_key_parse("xyz", &parsed), CL_EINVAL);
}

/* The same resolved step built twice, from separate copies of every
 * string, as two workflows with different names and step names would
 * build it: those names are not inputs, only content is. */
static void test_content_not_identity(void **state)
{
    (void)state;
    char cmd0[] = "python", cmd1[] = "-c";
    char a0[] = "print(1)", a1[] = "--lr", a2[] = "0.1";
    const char *const cmd[] = {cmd0, cmd1};
    const char *const args[] = {a0, a1, a2};
    char env_a[] = "A", env_b[] = "B", env_p[] = "PATH";
    const cache_kv env[] = {{env_p, "/usr/bin"}, {env_a, "1"}, {env_b, "2"}};
    char lr[] = "lr", ep[] = "epochs";
    const cache_kv params[] = {{ep, "3"}, {lr, "0.1"}};
    char src[] = "import sys\nprint(sys.argv)\n";
    cache_key_input in = base();
    cache_key k0 = key_of(&in);
    cache_key_artifact arts[2] = {ARTS[0], ARTS[1]};
    char n0[] = "data", p0[] = "/in/data.csv";
    arts[0].name = n0;
    arts[0].path = p0;
    in.command = cmd;
    in.args = args;
    in.env = env;
    in.params = params;
    in.source = src;
    in.artifacts = arts;
    cache_key k1 = key_of(&in);
    assert_key_eq(&k0, &k1);
}

static void test_golden(void **state)
{
    (void)state;
    static const char *const cmd[] = {"echo"};
    static const char *const args[] = {"hello"};
    cache_key_input in;
    memset(&in, 0, sizeof(in));
    in.kind = CACHE_KIND_CONTAINER;
    in.command = cmd;
    in.ncommand = 1;
    in.args = args;
    in.nargs = 1;
    in.image = "alpine:3.19";
    cache_key k = key_of(&in);
    /* Rebuild the encoding documented in key.c byte by byte: the encoding
     * is a format, and changing it needs a new CACHE_KEY_VERSION. */
    uint8_t buf[512];
    size_t n = 0;
    memcpy(buf, "couler-cache-key", 17); /* with its NUL */
    n = 17;
#define U8(v) (buf[n++] = (uint8_t)(v))
#define U32(v)                                                                 \
    do {                                                                       \
        for (int i_ = 0; i_ < 4; i_++)                                         \
            U8((uint32_t)(v) >> (8 * i_));                                     \
    } while (0)
#define U64(v)                                                                 \
    do {                                                                       \
        for (int i_ = 0; i_ < 8; i_++)                                         \
            U8((uint64_t)(v) >> (8 * i_));                                     \
    } while (0)
#define STR(s)                                                                 \
    do {                                                                       \
        U64(strlen(s));                                                        \
        memcpy(buf + n, s, strlen(s));                                         \
        n += strlen(s);                                                        \
    } while (0)
    U32(CACHE_KEY_VERSION);
    U8(1);
    U8(0);
    U8(2);
    U64(1);
    STR("echo");
    U8(3);
    U64(1);
    STR("hello");
    U8(4);
    STR("");
    U8(5);
    STR("alpine:3.19");
    U8(6);
    U64(0);
    U8(7);
    STR("");
    U8(8);
    U64(0);
    U8(9);
    U64(0);
    U8(10);
    U8(0);
    cache_key want;
    cl_digest(buf, n, want.b);
    assert_key_eq(&k, &want);
}

static void test_every_field_matters(void **state)
{
    (void)state;
    cache_key_input in = base();
    cache_key k0 = key_of(&in);

    cache_key_input v = base();
    v.kind = CACHE_KIND_CONTAINER;
    cache_key k = key_of(&v);
    assert_key_ne(&k0, &k);

    static const char *const cmd2[] = {"python3", "-c"};
    v = base();
    v.command = cmd2;
    k = key_of(&v);
    assert_key_ne(&k0, &k);

    static const char *const args2[] = {"print(1)", "--lr", "0.2"};
    v = base();
    v.args = args2;
    k = key_of(&v);
    assert_key_ne(&k0, &k);

    v = base();
    v.source = "print(2)\n";
    k = key_of(&v);
    assert_key_ne(&k0, &k);

    v = base();
    v.image = "python:3.12";
    k = key_of(&v);
    assert_key_ne(&k0, &k);

    static const cache_kv env2[] = {
        {"A", "1"}, {"B", "3"}, {"PATH", "/usr/bin"}};
    v = base();
    v.env = env2;
    k = key_of(&v);
    assert_key_ne(&k0, &k);

    v = base();
    v.nenv = 2; /* one variable less */
    k = key_of(&v);
    assert_key_ne(&k0, &k);

    v = base();
    v.workdir = "/tmp";
    k = key_of(&v);
    assert_key_ne(&k0, &k);

    static const cache_kv params2[] = {{"lr", "0.01"}, {"epochs", "3"}};
    v = base();
    v.params = params2;
    k = key_of(&v);
    assert_key_ne(&k0, &k);

    v = base();
    ARTS[1].digest.b[31] ^= 1; /* another model */
    k = key_of(&v);
    assert_key_ne(&k0, &k);

    v = base();
    ARTS[0].path = "/in/other.csv";
    k = key_of(&v);
    assert_key_ne(&k0, &k);

    v = base();
    ARTS[0].name = "dataset";
    k = key_of(&v);
    assert_key_ne(&k0, &k);

    v = base();
    v.memo_key = "run-1";
    k = key_of(&v);
    assert_key_ne(&k0, &k);
    cache_key_input v2 = base();
    v2.memo_key = "run-2";
    cache_key k2 = key_of(&v2);
    assert_key_ne(&k, &k2);
}

static void test_order_and_absence(void **state)
{
    (void)state;
    cache_key_input in = base();
    cache_key k0 = key_of(&in);
    /* env, params and artifacts are sets: their order does not matter. */
    static const cache_kv env_rev[] = {
        {"PATH", "/usr/bin"}, {"B", "2"}, {"A", "1"}};
    static const cache_kv params_rev[] = {{"epochs", "3"}, {"lr", "0.1"}};
    cache_key_input v = base();
    v.env = env_rev;
    v.params = params_rev;
    cache_key_artifact arts_rev[2] = {ARTS[1], ARTS[0]};
    v.artifacts = arts_rev;
    cache_key k = key_of(&v);
    assert_key_eq(&k0, &k);
    /* argv order does matter. */
    static const char *const args_swapped[] = {"--lr", "print(1)", "0.1"};
    v = base();
    v.args = args_swapped;
    k = key_of(&v);
    assert_key_ne(&k0, &k);
    /* NULL optional strings hash like "". */
    v = base();
    v.image = NULL;
    cache_key_input w = base();
    w.image = "";
    cache_key kv = key_of(&v), kw = key_of(&w);
    assert_key_eq(&kv, &kw);
    /* Bad input is refused, not hashed. */
    static const char *const with_null[] = {"a", NULL};
    v = base();
    v.args = with_null;
    v.nargs = 2;
    cache_key dummy;
    assert_int_equal(cache_key_compute(&v, &dummy), CL_EINVAL);
    v = base();
    v.kind = (enum cache_kind)7;
    assert_int_equal(cache_key_compute(&v, &dummy), CL_EINVAL);
}

static void test_no_concatenation_collisions(void **state)
{
    (void)state;
    /* args ["ab"] vs ["a", "b"] */
    static const char *const ab[] = {"ab"};
    static const char *const a_b[] = {"a", "b"};
    cache_key_input v = base(), w = base();
    v.args = ab;
    v.nargs = 1;
    w.args = a_b;
    w.nargs = 2;
    cache_key kv = key_of(&v), kw = key_of(&w);
    assert_key_ne(&kv, &kw);
    /* command ["a"] args ["b"] vs command ["a", "b"] args [] */
    static const char *const a[] = {"a"}, *const b[] = {"b"};
    v = base();
    v.command = a;
    v.ncommand = 1;
    v.args = b;
    v.nargs = 1;
    w = base();
    w.command = a_b;
    w.ncommand = 2;
    w.args = NULL;
    w.nargs = 0;
    kv = key_of(&v);
    kw = key_of(&w);
    assert_key_ne(&kv, &kw);
    /* env a=bc vs ab=c */
    static const cache_kv e1[] = {{"a", "bc"}}, e2[] = {{"ab", "c"}};
    v = base();
    v.env = e1;
    v.nenv = 1;
    w = base();
    w.env = e2;
    w.nenv = 1;
    kv = key_of(&v);
    kw = key_of(&w);
    assert_key_ne(&kv, &kw);
    /* the same pair as env or as a parameter */
    v = base();
    v.env = e1;
    v.nenv = 1;
    v.params = NULL;
    v.nparams = 0;
    w = base();
    w.env = NULL;
    w.nenv = 0;
    w.params = e1;
    w.nparams = 1;
    kv = key_of(&v);
    kw = key_of(&w);
    assert_key_ne(&kv, &kw);
    /* source vs image carrying the same text */
    v = base();
    v.source = "x";
    v.image = NULL;
    w = base();
    w.source = NULL;
    w.image = "x";
    kv = key_of(&v);
    kw = key_of(&w);
    assert_key_ne(&kv, &kw);
}

static void test_memo_key(void **state)
{
    (void)state;
    cache_key a, b, c;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    assert_int_equal(cache_key_memo("my-cache", "fib-10", &a, &err), 0);
    assert_int_equal(cache_key_memo("my-cache", "fib-10", &b, &err), 0);
    assert_key_eq(&a, &b);
    assert_int_equal(cache_key_memo("my-cache", "fib-11", &c, &err), 0);
    assert_key_ne(&a, &c);
    assert_int_equal(cache_key_memo("other-cache", "fib-10", &c, &err), 0);
    assert_key_ne(&a, &c);
    /* ("a", "bc") vs ("ab", "c") */
    assert_int_equal(cache_key_memo("a", "bc", &b, &err), 0);
    assert_int_equal(cache_key_memo("ab", "c", &c, &err), 0);
    assert_key_ne(&b, &c);
    /* Argo's key syntax. */
    assert_int_equal(cache_key_memo("m", "-bad", &c, &err), CL_EINVAL);
    assert_non_null(strstr(err.msg, "must match"));
    assert_int_equal(cache_key_memo("m", "has space", &c, &err), CL_EINVAL);
    assert_int_equal(cache_key_memo("m", "", &c, &err), CL_EINVAL);
    assert_int_equal(cache_key_memo("", "k", &c, &err), CL_EINVAL);
    assert_int_equal(cache_key_memo("m", "A1-b2", &c, &err), 0);
    /* A separate namespace: never equal to an implicit key, even one whose
     * only distinguishing input is the same memoize key. */
    cache_key_input in;
    memset(&in, 0, sizeof(in));
    in.memo_key = "fib-10";
    cache_key implicit = key_of(&in);
    assert_key_ne(&a, &implicit);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_content_not_identity),
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_every_field_matters),
        cmocka_unit_test(test_order_and_absence),
        cmocka_unit_test(test_no_concatenation_collisions),
        cmocka_unit_test(test_memo_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
