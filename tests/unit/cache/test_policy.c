/* Unit tests for cache/policy.c: the eviction score and owner selection. */
#include "cache_fixture.h"

#include <math.h>

static void test_score_defaults(void **state)
{
    (void)state;
    cache_score_params p;
    cache_score_params_init(&p);
    assert_true(p.alpha == 1.5);
    assert_true(p.beta == 1.0);
    assert_true(p.size_scale == 64.0 * 1024 * 1024);
    assert_true(p.half_life_ms > 0);
}

static void test_score_terms(void **state)
{
    (void)state;
    cache_score_params p;
    cache_score_params_init(&p);
    cache_score_input in = {0};
    in.compute_ms = 9000;  /* 9 s of own work */
    in.upstream_ms = 1000; /* 1 s upstream */
    in.hits = 2;
    in.downstream_weight = 1.5; /* a child and a grandchild */
    in.size = 64u << 20;        /* V = 1 */
    in.idle_ms = 0;
    cache_score_terms t;
    cache_score(&p, &in, &t);
    assert_float_equal(t.L, 10.0, 1e-12);
    assert_float_equal(t.cost, 1.5 * log(11.0), 1e-12);
    assert_float_equal(t.F, log(1 + 3.5), 1e-12);
    assert_float_equal(t.reuse, log(4.5) * log(4.5), 1e-12);
    assert_float_equal(t.V, 1.0, 1e-12);
    assert_float_equal(t.size, -exp(-1.0), 1e-12);
    assert_float_equal(t.decay, 1.0, 1e-12);
    assert_float_equal(t.score, t.cost + t.reuse + t.size, 1e-12);

    /* One half-life idle halves the reuse evidence. */
    in.idle_ms = (int64_t)p.half_life_ms;
    cache_score(&p, &in, &t);
    assert_float_equal(t.decay, 0.5, 1e-12);
    assert_float_equal(t.F, log(1 + 1.75), 1e-12);

    /* Nothing known: cost 0, reuse 0, size term -1. */
    memset(&in, 0, sizeof(in));
    cache_score(&p, &in, &t);
    assert_float_equal(t.score, -1.0, 1e-12);
    /* Negative inputs count as zero. */
    in.compute_ms = -5;
    in.downstream_weight = -3;
    cache_score(&p, &in, &t);
    assert_float_equal(t.score, -1.0, 1e-12);
}

static double score_of(int64_t compute, uint64_t hits, uint64_t size,
                       int64_t idle)
{
    cache_score_params p;
    cache_score_params_init(&p);
    cache_score_input in = {0};
    in.compute_ms = compute;
    in.hits = hits;
    in.size = size;
    in.idle_ms = idle;
    cache_score_terms t;
    cache_score(&p, &in, &t);
    return t.score;
}

static void test_score_monotone(void **state)
{
    (void)state;
    /* Costlier to recompute, more reused, larger (the paper's -e^-V term
     * grows with V), or more recently used: more important. */
    assert_true(score_of(60000, 0, 0, 0) > score_of(1000, 0, 0, 0));
    assert_true(score_of(1000, 5, 0, 0) > score_of(1000, 1, 0, 0));
    assert_true(score_of(1000, 0, 1u << 30, 0) >
                score_of(1000, 0, 1u << 10, 0));
    assert_true(score_of(1000, 5, 0, 0) >
                score_of(1000, 5, 0, 86400000LL * 30));
    /* The size term is bounded: a huge output cannot outweigh an hour of
     * compute. */
    assert_true(score_of(3600000, 0, 1024, 0) >
                score_of(1000, 0, 1ull << 40, 0));
}

/* ---- owners ------------------------------------------------------------- */

static cache_key nth_key(uint32_t i)
{
    cache_key k;
    cl_digest(&i, sizeof(i), k.b);
    return k;
}

static void owners_of(const cache_key *k, const char *const *m, size_t n,
                      size_t r, const char **out)
{
    size_t idx[8];
    size_t got = cache_owners(k, m, n, r, idx);
    assert_int_equal(got, r < n ? r : n);
    for (size_t i = 0; i < got; i++)
        out[i] = m[idx[i]];
}

static bool has(const char **v, size_t n, const char *x)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], x) == 0)
            return true;
    return false;
}

static void test_owners_basic(void **state)
{
    (void)state;
    const char *m[] = {"n1", "n2", "n3"};
    cache_key k = nth_key(1);
    size_t out[4];
    assert_int_equal(cache_owners(&k, m, 3, 0, out), 0);
    assert_int_equal(cache_owners(&k, m, 0, 2, out), 0);
    assert_int_equal(cache_owners(&k, m, 3, 5, out), 3);
    /* distinct owners */
    assert_true(out[0] != out[1] && out[1] != out[2] && out[0] != out[2]);
    /* Deterministic and independent of the member order. */
    const char *rev[] = {"n3", "n2", "n1"};
    const char *a[2], *b[2];
    for (uint32_t i = 0; i < 200; i++) {
        k = nth_key(i);
        owners_of(&k, m, 3, 2, a);
        owners_of(&k, rev, 3, 2, b);
        assert_string_equal(a[0], b[0]);
        assert_string_equal(a[1], b[1]);
    }
}

static void test_owners_stability(void **state)
{
    (void)state;
    enum { N = 10, KEYS = 5000, R = 2 };
    const char *all[N] = {"node-a", "node-b", "node-c", "node-d", "node-e",
                          "node-f", "node-g", "node-h", "node-i", "node-j"};
    const char *gone = all[3];
    const char *left[N - 1];
    for (size_t i = 0, j = 0; i < N; i++)
        if (all[i] != gone)
            left[j++] = all[i];
    size_t load[N] = {0};
    size_t moved = 0;
    for (uint32_t i = 0; i < KEYS; i++) {
        cache_key k = nth_key(i);
        const char *before[R], *after[R];
        owners_of(&k, all, N, R, before);
        owners_of(&k, left, N - 1, R, after);
        for (size_t j = 0; j < N; j++)
            if (has(before, R, all[j]))
                load[j]++;
        if (!has(before, R, gone)) {
            /* Not an owner of this key: nothing moves. */
            assert_string_equal(before[0], after[0]);
            assert_string_equal(before[1], after[1]);
        } else {
            /* Only the lost replica moves; the other owner stays. */
            moved++;
            const char *stay =
                strcmp(before[0], gone) == 0 ? before[1] : before[0];
            assert_true(has(after, R, stay));
            assert_false(has(after, R, gone));
        }
        /* Adding the member back restores the original owners. */
        const char *again[R];
        owners_of(&k, all, N, R, again);
        assert_string_equal(before[0], again[0]);
        assert_string_equal(before[1], again[1]);
    }
    /* The removed member owned about R/N of the keys; every member carries
     * a fair share (within 25%). */
    double share = (double)KEYS * R / N;
    assert_true(fabs((double)moved - share) < 0.25 * share);
    for (size_t j = 0; j < N; j++)
        assert_true(fabs((double)load[j] - share) < 0.25 * share);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score_defaults),
        cmocka_unit_test(test_score_terms),
        cmocka_unit_test(test_score_monotone),
        cmocka_unit_test(test_owners_basic),
        cmocka_unit_test(test_owners_stability),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
