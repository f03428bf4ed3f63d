/* Unit tests of the key files (gossip/swim_keyfile.c): the format, its
 * refusals, the environment fallback, applying a file to a live keyring. */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cl_err.h"
#include "gossip/swim_keyfile.h"

#define K1 "0101010101010101010101010101010101010101010101010101010101010101"
#define K2 "0202020202020202020202020202020202020202020202020202020202020202"
/* base64 of 32 bytes of 0x03 */
#define K3 "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="

static char path[256];

static int setup(void **state)
{
    (void)state;
    fx_heap_install();
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof(path), "%s/swim-keyfile-XXXXXX",
             dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    long left = fx_heap_outstanding();
    fx_heap_uninstall();
    assert_int_equal(left, 0);
    return 0;
}

static void write_file(const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_load(void **state)
{
    (void)state;
    struct swim_keyfile kf;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    write_file("# cluster keys\n\n  " K1 "  \n" K3 "\n", 0600);
    assert_int_equal(swim_keyfile_load(path, &kf, &err), 0);
    assert_int_equal(kf.n, 2);
    assert_int_equal(kf.keys[0][0], 1);
    assert_int_equal(kf.keys[1][31], 3);

    write_file(K1 "\n", 0644);
    assert_int_equal(swim_keyfile_load(path, &kf, &err), CL_EPERM);
    assert_non_null(strstr(err.msg, "0600"));

    write_file(K1 "\nnot-a-key\n", 0600);
    assert_int_equal(swim_keyfile_load(path, &kf, &err), CL_EINVAL);
    assert_non_null(strstr(err.msg, "entry 2"));

    write_file("# nothing\n", 0600);
    assert_int_equal(swim_keyfile_load(path, &kf, &err), CL_EINVAL);

    char many[40 * 70] = "";
    for (int i = 0; i < SWIM_KEYRING_MAX + 1; i++)
        strcat(many, K2 "\n");
    write_file(many, 0600);
    assert_int_equal(swim_keyfile_load(path, &kf, &err), CL_ERANGE);

    assert_int_equal(swim_keyfile_load("/nonexistent/keys", &kf, &err),
                     CL_ENOENT);
}

static void test_environment(void **state)
{
    (void)state;
    struct swim_keyfile kf;
    cl_errmsg err;
    setenv("COULER_CLUSTER_KEY", K2 "," K1, 1);
    assert_int_equal(swim_keyfile_load(NULL, &kf, &err), 0);
    assert_int_equal(kf.n, 2);
    assert_int_equal(kf.keys[0][0], 2);
    unsetenv("COULER_CLUSTER_KEY");
    assert_int_equal(swim_keyfile_load(NULL, &kf, &err), CL_ENOENT);
    assert_non_null(strstr(err.msg, "COULER_CLUSTER_KEY"));
}

/* The rotation of swim_keyfile.h, applied to a running keyring. */
static void test_apply_rotation(void **state)
{
    (void)state;
    struct swim_keyfile f1, f2, f3;
    cl_errmsg err;
    write_file(K1 "\n", 0600);
    assert_int_equal(swim_keyfile_load(path, &f1, &err), 0);
    write_file(K1 "\n" K2 "\n", 0600); /* new key accepted */
    assert_int_equal(swim_keyfile_load(path, &f2, &err), 0);
    write_file(K2 "\n", 0600); /* new key primary, old one gone */
    assert_int_equal(swim_keyfile_load(path, &f3, &err), 0);

    struct swim_keyring *kr, *newonly;
    assert_int_equal(swim_keyring_new(f1.keys[0], &kr), 0);
    assert_int_equal(swim_keyring_new(f3.keys[0], &newonly), 0);
    assert_int_equal(swim_keyfile_apply(kr, NULL, &f1), 0);
    assert_int_equal(swim_keyring_count(kr), 1);
    assert_int_equal(swim_keyfile_apply(kr, &f1, &f2), 0);
    assert_int_equal(swim_keyring_count(kr), 2);
    /* Still sealing with the old key: the new-only ring cannot open. */
    uint8_t sealed[64], out[64];
    size_t n, m;
    assert_int_equal(
        swim_keyring_seal(kr, (const uint8_t *)"x", 1, sealed, 64, &n), 0);
    assert_int_equal(swim_keyring_open(newonly, sealed, n, out, 64, &m),
                     CL_ECRYPTO);
    assert_int_equal(swim_keyfile_apply(kr, &f2, &f3), 0);
    assert_int_equal(swim_keyring_count(kr), 1);
    assert_int_equal(
        swim_keyring_seal(kr, (const uint8_t *)"y", 1, sealed, 64, &n), 0);
    assert_int_equal(swim_keyring_open(newonly, sealed, n, out, 64, &m), 0);

    /* A full ring still rotates: stale keys go before new ones come. */
    struct swim_keyfile full, next;
    memset(&full, 0, sizeof(full));
    full.n = SWIM_KEYRING_MAX;
    for (size_t i = 0; i < full.n; i++)
        memset(full.keys[i], (int)(0x40 + i), SWIM_KEY_SIZE);
    assert_int_equal(swim_keyfile_apply(kr, &f3, &full), 0);
    assert_int_equal(swim_keyring_count(kr), SWIM_KEYRING_MAX);
    next = full;
    memset(next.keys[SWIM_KEYRING_MAX - 1], 0x7f, SWIM_KEY_SIZE);
    assert_int_equal(swim_keyfile_apply(kr, &full, &next), 0);
    assert_int_equal(swim_keyring_count(kr), SWIM_KEYRING_MAX);
    struct swim_keyfile empty = {.n = 0};
    assert_int_equal(swim_keyfile_apply(kr, NULL, &empty), CL_EINVAL);
    swim_keyring_free(kr);
    swim_keyring_free(newonly);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_rotation, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
