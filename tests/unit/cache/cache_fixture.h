/* cache_fixture.h - shared helpers of the cache unit tests: temporary
 * directories under /tmp (removed afterwards), a fake wall clock, small
 * file helpers and tmpfs mounts for the disk-full and read-only cases. */
#ifndef COULER_TEST_CACHE_FIXTURE_H
#define COULER_TEST_CACHE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cache/cache.h"
#include "common/cl_rng.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* The fake clock: tests move it by hand. */
static int64_t fx_clock_ms = 1800000000000LL;

static inline int64_t fx_clock(void *data)
{
    (void)data;
    return fx_clock_ms;
}

static inline int fx_rm_cb(const char *p, const struct stat *sb, int flag,
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

static inline void fx_rm_rf(const char *path)
{
    nftw(path, fx_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* fx_tmpdir - a fresh directory /tmp/couler-cache-<tag>-XXXXXX (static
 * buffer per call site: copy it). */
static inline void fx_tmpdir(char *out, size_t len, const char *tag)
{
    snprintf(out, len, "/tmp/couler-cache-%s-XXXXXX", tag);
    assert_non_null(mkdtemp(out));
}

static inline void fx_path(char *out, size_t len, const char *dir,
                           const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

/* fx_write - a file of `len` bytes: pseudo-random from `seed`, or all
 * `fill` when seed is 0. */
static inline void fx_write(const char *path, size_t len, uint64_t seed,
                            int fill, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    cl_rng r;
    cl_rng_seed(&r, seed);
    uint8_t buf[65536];
    size_t left = len;
    while (left > 0) {
        size_t n = left < sizeof(buf) ? left : sizeof(buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = seed != 0 ? (uint8_t)cl_rng_next(&r) : (uint8_t)fill;
        assert_int_equal(write(fd, buf, n), (ssize_t)n);
        left -= n;
    }
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

/* fx_same - two files have identical bytes. */
static inline int fx_same(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    if (fa == NULL || fb == NULL) {
        if (fa)
            fclose(fa);
        if (fb)
            fclose(fb);
        return 0;
    }
    int same = 1;
    for (;;) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) {
            same = 0;
            break;
        }
        if (ca == EOF)
            break;
    }
    fclose(fa);
    fclose(fb);
    return same;
}

static inline mode_t fx_mode(const char *p)
{
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    return st.st_mode & 07777;
}

static inline int fx_exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

/* fx_mount_tmpfs - mount a tmpfs of `size` ("2m") at dir; returns 0 or
 * -1 (not root, or mounts not allowed here). */
static inline int fx_mount_tmpfs(const char *dir, const char *size,
                                 unsigned long flags)
{
    if (geteuid() != 0)
        return -1;
    char opts[64];
    snprintf(opts, sizeof(opts), "size=%s", size);
    return mount("couler-test", dir, "tmpfs", flags, opts);
}

static inline int fx_remount(const char *dir, unsigned long flags,
                             const char *size)
{
    char opts[64];
    snprintf(opts, sizeof(opts), "size=%s", size);
    return mount("couler-test", dir, "tmpfs", MS_REMOUNT | flags, opts);
}

static inline void fx_umount(const char *dir)
{
    if (umount2(dir, 0) != 0)
        umount2(dir, MNT_DETACH);
}

/* fx_fill - write a filler file until the file system is full. */
static inline void fx_fill(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    char buf[4096];
    memset(buf, 'f', sizeof(buf));
    while (write(fd, buf, sizeof(buf)) > 0) {
    }
    /* Top off the last partial page. */
    while (write(fd, buf, 1) > 0) {
    }
    close(fd);
}

static inline void fx_opts(cache_store_opts *o, const char *dir)
{
    cache_store_opts_init(o, dir);
    o->clock = fx_clock;
    o->reserve_bytes = 0;
    o->write_buffer_size = 4u << 20;
}

#define FX_SKIP_UNLESS_ROOT(what)                                              \
    do {                                                                       \
        if (geteuid() != 0) {                                                  \
            fprintf(stderr,                                                    \
                    "SKIP %s: needs root to mount a small tmpfs "              \
                    "(run the suite as root to cover it)\n",                   \
                    what);                                                     \
            skip();                                                            \
        }                                                                      \
    } while (0)

#endif
