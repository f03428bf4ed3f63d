/* Unit tests of the keyring (gossip/swim_keyring.c): sealing, wrong keys,
 * tampering, rotation without restart, counters, key parsing. */
#include "fixture.h"

#include <string.h>

#include "common/cl_err.h"

static int setup(void **state)
{
    (void)state;
    fx_heap_install();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    long left = fx_heap_outstanding();
    fx_heap_uninstall();
    assert_int_equal(left, 0);
    return 0;
}

static void key_of(uint8_t k[SWIM_KEY_SIZE], uint8_t fill)
{
    memset(k, fill, SWIM_KEY_SIZE);
}

static void test_seal_open(void **state)
{
    (void)state;
    uint8_t k[SWIM_KEY_SIZE];
    key_of(k, 1);
    struct swim_keyring *kr;
    assert_int_equal(swim_keyring_new(k, &kr), 0);
    const uint8_t msg[] = "a gossip packet";
    uint8_t sealed[128], sealed2[128], opened[128];
    size_t n = 0, n2 = 0, m = 0;
    assert_int_equal(
        swim_keyring_seal(kr, msg, sizeof(msg), sealed, sizeof(sealed), &n), 0);
    assert_int_equal(n, sizeof(msg) + SWIM_SEAL_OVERHEAD);
    assert_int_equal(sealed[0], 1);
    /* A fresh random nonce every time. */
    assert_int_equal(
        swim_keyring_seal(kr, msg, sizeof(msg), sealed2, sizeof(sealed2), &n2),
        0);
    assert_memory_not_equal(sealed + 1, sealed2 + 1, 24);
    assert_int_equal(
        swim_keyring_open(kr, sealed, n, opened, sizeof(opened), &m), 0);
    assert_int_equal(m, sizeof(msg));
    assert_memory_equal(opened, msg, m);
    const struct swim_keyring_stats *st = swim_keyring_stats(kr);
    assert_int_equal(st->sealed, 2);
    assert_int_equal(st->opened, 1);
    assert_int_equal(st->opened_secondary, 0);
    /* Output too small. */
    assert_int_equal(swim_keyring_seal(kr, msg, sizeof(msg), sealed, 20, &n2),
                     CL_ETOOBIG);
    swim_keyring_free(kr);
}

static void test_wrong_key_and_tamper(void **state)
{
    (void)state;
    uint8_t k1[SWIM_KEY_SIZE], k2[SWIM_KEY_SIZE];
    key_of(k1, 1);
    key_of(k2, 2);
    struct swim_keyring *a, *b;
    assert_int_equal(swim_keyring_new(k1, &a), 0);
    assert_int_equal(swim_keyring_new(k2, &b), 0);
    const uint8_t msg[] = "hello";
    uint8_t sealed[64], out[64];
    size_t n, m;
    assert_int_equal(swim_keyring_seal(a, msg, 5, sealed, sizeof(sealed), &n),
                     0);
    assert_int_equal(swim_keyring_open(b, sealed, n, out, sizeof(out), &m),
                     CL_ECRYPTO);
    assert_int_equal(swim_keyring_stats(b)->auth_failed, 1);
    /* Flip one bit anywhere: refused. */
    for (size_t i = 1; i < n; i++) {
        sealed[i] ^= 0x10;
        assert_int_equal(swim_keyring_open(a, sealed, n, out, sizeof(out), &m),
                         CL_ECRYPTO);
        sealed[i] ^= 0x10;
    }
    assert_int_equal(swim_keyring_stats(a)->auth_failed, n - 1);
    /* The version byte is authenticated too, and checked first. */
    sealed[0] = 2;
    assert_int_equal(swim_keyring_open(a, sealed, n, out, sizeof(out), &m),
                     CL_EPROTO);
    sealed[0] = 1;
    /* Too short to hold a nonce and a tag. */
    assert_int_equal(swim_keyring_open(a, sealed, SWIM_SEAL_OVERHEAD - 1, out,
                                       sizeof(out), &m),
                     CL_EPROTO);
    assert_int_equal(swim_keyring_stats(a)->malformed, 2);
    assert_int_equal(swim_keyring_open(a, sealed, n, out, sizeof(out), &m), 0);
    swim_keyring_free(a);
    swim_keyring_free(b);
}

/* Rotation, as an operator does it across a running cluster: add the new
 * key everywhere, switch primaries, remove the old key. */
static void test_rotation(void **state)
{
    (void)state;
    uint8_t old[SWIM_KEY_SIZE], nw[SWIM_KEY_SIZE];
    key_of(old, 7);
    key_of(nw, 8);
    struct swim_keyring *a, *b;
    assert_int_equal(swim_keyring_new(old, &a), 0);
    assert_int_equal(swim_keyring_new(old, &b), 0);
    uint8_t sealed[64], out[64];
    size_t n, m;
    /* Step 1: both accept the new key. */
    assert_int_equal(swim_keyring_add(a, nw), 0);
    assert_int_equal(swim_keyring_add(b, nw), 0);
    assert_int_equal(swim_keyring_add(b, nw), CL_EEXIST);
    assert_int_equal(swim_keyring_count(b), 2);
    /* Step 2: a switches first; b still opens a's packets, and a still
     * opens b's. */
    assert_int_equal(swim_keyring_use(a, nw), 0);
    assert_int_equal(swim_keyring_seal(a, (const uint8_t *)"x", 1, sealed,
                                       sizeof(sealed), &n),
                     0);
    assert_int_equal(swim_keyring_open(b, sealed, n, out, sizeof(out), &m), 0);
    assert_int_equal(swim_keyring_stats(b)->opened_secondary, 1);
    assert_int_equal(swim_keyring_seal(b, (const uint8_t *)"y", 1, sealed,
                                       sizeof(sealed), &n),
                     0);
    assert_int_equal(swim_keyring_open(a, sealed, n, out, sizeof(out), &m), 0);
    assert_int_equal(swim_keyring_use(b, nw), 0);
    /* Step 3: the old key goes; packets sealed with it are refused. */
    assert_int_equal(swim_keyring_remove(a, nw), CL_EBUSY);
    assert_int_equal(swim_keyring_remove(a, old), 0);
    assert_int_equal(swim_keyring_remove(a, old), CL_ENOENT);
    struct swim_keyring *stale;
    assert_int_equal(swim_keyring_new(old, &stale), 0);
    assert_int_equal(swim_keyring_seal(stale, (const uint8_t *)"z", 1, sealed,
                                       sizeof(sealed), &n),
                     0);
    assert_int_equal(swim_keyring_open(a, sealed, n, out, sizeof(out), &m),
                     CL_ECRYPTO);
    assert_int_equal(swim_keyring_stats(a)->auth_failed, 1);
    uint8_t unknown[SWIM_KEY_SIZE];
    key_of(unknown, 9);
    assert_int_equal(swim_keyring_use(a, unknown), CL_ENOENT);
    swim_keyring_free(stale);
    swim_keyring_free(a);
    swim_keyring_free(b);
}

static void test_capacity(void **state)
{
    (void)state;
    uint8_t k[SWIM_KEY_SIZE];
    key_of(k, 0);
    struct swim_keyring *kr;
    assert_int_equal(swim_keyring_new(k, &kr), 0);
    for (int i = 1; i < SWIM_KEYRING_MAX; i++) {
        key_of(k, (uint8_t)i);
        assert_int_equal(swim_keyring_add(kr, k), 0);
    }
    key_of(k, 0xee);
    assert_int_equal(swim_keyring_add(kr, k), CL_ENOSPC);
    swim_keyring_free(kr);
    /* Allocation failure is an error, not a crash. */
    fx_heap_fail(0, 1);
    assert_int_equal(swim_keyring_new(k, &kr), CL_ENOMEM);
    fx_heap_fail(0, 0);
}

static void test_key_parse(void **state)
{
    (void)state;
    uint8_t k[SWIM_KEY_SIZE], g[SWIM_KEY_SIZE];
    assert_int_equal(swim_key_parse("000102030405060708090a0b0c0d0e0f"
                                    "101112131415161718191a1b1c1d1e1f",
                                    k),
                     0);
    for (int i = 0; i < SWIM_KEY_SIZE; i++)
        assert_int_equal(k[i], i);
    assert_int_equal(
        swim_key_parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", g), 0);
    assert_memory_equal(k, g, SWIM_KEY_SIZE);
    assert_int_equal(swim_key_parse("too short", k), CL_EINVAL);
    assert_int_equal(
        swim_key_parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd", k),
        CL_EINVAL);
    assert_int_equal(swim_key_parse("zz0102030405060708090a0b0c0d0e0f"
                                    "101112131415161718191a1b1c1d1e1f",
                                    k),
                     CL_EINVAL);
    assert_int_equal(swim_key_generate(k), 0);
    assert_int_equal(swim_key_generate(g), 0);
    assert_memory_not_equal(k, g, SWIM_KEY_SIZE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seal_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_key_and_tamper, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_capacity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_parse, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
