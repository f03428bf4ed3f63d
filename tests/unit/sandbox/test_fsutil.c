/* Unit tests for agent/sandbox/fsutil.c: small file helpers, the mount
 * table parser, path resolution inside a view root, recursive copies in
 * and out of a view, and rmtree. Each test works in its own temp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/sandbox/sb_int.h"
#include "common/cl_heap.h"

struct fixture {
    char dir[PATH_MAX];
    int rootfd; /* <dir>/root, standing in for a view root */
};

static void path_in(const struct fixture *f, char *buf, const char *rel)
{
    snprintf(buf, PATH_MAX, "%s/%s", f->dir, rel);
}

static void put(const struct fixture *f, const char *rel, const char *text,
                mode_t mode)
{
    char p[PATH_MAX];
    path_in(f, p, rel);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(chmod(p, mode), 0);
}

static void expect_file(const struct fixture *f, const char *rel,
                        const char *text)
{
    char p[PATH_MAX], buf[4096];
    path_in(f, p, rel);
    int rv = agent_sb__read_file(p, buf, sizeof(buf), NULL);
    if (rv != 0)
        fail_msg("read %s: %s", p, cl_strerror(rv));
    assert_string_equal(buf, text);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/couler-sb-fsutil.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    char root[PATH_MAX];
    path_in(f, root, "root");
    if (mkdir(root, 0755) != 0)
        return -1;
    f->rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (f->rootfd < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    close(f->rootfd);
    cl_errmsg em;
    int rv = agent_sb_rmtree(f->dir, &em);
    struct stat st;
    bool gone = lstat(f->dir, &st) != 0 && errno == ENOENT;
    free(f);
    return rv == 0 && gone ? 0 : -1;
}

static void test_small_files(void **state)
{
    struct fixture *f = *state;
    char p[PATH_MAX], buf[8];
    size_t n = 0;
    path_in(f, p, "v");
    assert_int_equal(agent_sb__write_file(p, "12345", false), CL_ENOENT);
    assert_int_equal(agent_sb__write_file(p, "12345", true), 0);
    assert_int_equal(agent_sb__read_file(p, buf, sizeof(buf), &n), 0);
    assert_string_equal(buf, "12345");
    assert_int_equal(n, 5);
    assert_int_equal(agent_sb__write_file(p, "1234567", true), 0);
    assert_int_equal(agent_sb__read_file(p, buf, sizeof(buf), &n), 0);
    assert_string_equal(buf, "1234567"); /* exactly fills the buffer */
    assert_int_equal(agent_sb__write_file(p, "12345678", true), 0);
    assert_int_equal(agent_sb__read_file(p, buf, sizeof(buf), &n), CL_ETOOBIG);
    char *all = NULL;
    assert_int_equal(agent_sb__read_alloc(p, &all, &n), 0);
    assert_string_equal(all, "12345678");
    cl_free(all);
    path_in(f, p, "nope");
    assert_int_equal(agent_sb__read_file(p, buf, sizeof(buf), NULL), CL_ENOENT);
}

static void test_join_and_numbers(void **state)
{
    (void)state;
    char b[32];
    assert_int_equal(agent_sb__join(b, sizeof(b), "/a/", "/b"), 0);
    assert_string_equal(b, "/a/b");
    assert_int_equal(agent_sb__join(b, sizeof(b), "/", "x"), 0);
    assert_string_equal(b, "/x");
    assert_int_equal(agent_sb__join(b, sizeof(b), "/a", ""), 0);
    assert_string_equal(b, "/a");
    assert_int_equal(agent_sb__join(b, 5, "/abc", "def"), CL_ETOOBIG);
    uint64_t v = 0;
    assert_true(agent_sb__u64(" 42\n", &v));
    assert_int_equal(v, 42);
    assert_false(agent_sb__u64("max\n", &v));
    assert_false(agent_sb__u64("12x", &v));
    const char *events = "low 0\nhigh 2\nmax 7\noom 1\noom_kill 3\n";
    assert_true(agent_sb__kv(events, "oom_kill", &v));
    assert_int_equal(v, 3);
    assert_true(agent_sb__kv(events, "max", &v));
    assert_int_equal(v, 7);
    assert_true(agent_sb__kv(events, "oom", &v));
    assert_int_equal(v, 1);
    assert_false(agent_sb__kv(events, "oom_group_kill", &v));
    assert_false(agent_sb__kv("", "x", &v));
}

static void test_mountinfo(void **state)
{
    (void)state;
    const char *text =
        "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
        "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime shared:5 - cgroup "
        "cgroup rw,cpuset\n"
        "35 31 0:32 /docker/x /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup "
        "rw,cpu,cpuacct\n"
        "50 27 0:50 / /mnt/with\\040space rw master:1 shared:2 - tmpfs none "
        "rw\n";
    struct agent_sb__mnt *m = NULL;
    size_t n = 0;
    assert_int_equal(agent_sb__mountinfo_parse(text, &m, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(m[0].id, 27);
    assert_int_equal(m[0].parent, 1);
    assert_string_equal(m[0].mountpoint, "/");
    assert_string_equal(m[0].fstype, "ext4");
    assert_string_equal(m[1].superopts, "rw,cpuset");
    assert_string_equal(m[2].root, "/docker/x");
    assert_string_equal(m[2].mountpoint, "/sys/fs/cgroup/cpu,cpuacct");
    assert_true(agent_sb__has_opt(m[2].superopts, "cpuacct"));
    assert_true(agent_sb__has_opt(m[2].superopts, "cpu"));
    assert_false(agent_sb__has_opt(m[1].superopts, "cpu"));
    assert_string_equal(m[3].mountpoint, "/mnt/with space");
    assert_int_equal(m[3].parent, 27);
    agent_sb__mountinfo_free(m, n);
    assert_int_equal(agent_sb__mountinfo_parse("1 2 3 4\n", &m, &n), CL_EPARSE);
    assert_int_equal(
        agent_sb__mountinfo_parse("x 1 0:1 / / rw - ext4 d rw\n", &m, &n),
        CL_EPARSE);
}

/* Absolute symlinks and ".." inside a view resolve against the view's
 * root, never the host's. */
static void test_in_root_resolution(void **state)
{
    struct fixture *f = *state;
    char p[PATH_MAX];
    assert_int_equal(agent_sb__in_root_mkdirs(f->rootfd, "/etc/app", 0755), 0);
    put(f, "root/etc/app/conf", "view", 0644);
    path_in(f, p, "root/link");
    assert_int_equal(symlink("/etc/app", p), 0); /* absolute, in the view */
    path_in(f, p, "root/up");
    assert_int_equal(symlink("../../../../../../etc", p), 0);
    int fd = agent_sb__in_root_open(f->rootfd, "/link/conf", O_RDONLY, 0);
    assert_true(fd >= 0);
    char buf[16] = {0};
    assert_int_equal(read(fd, buf, sizeof(buf) - 1), 4);
    assert_string_equal(buf, "view");
    close(fd);
    /* "/up" climbs no higher than the view's root: it lands on /etc of
     * the view, which has app/ but not the host's passwd. */
    fd = agent_sb__in_root_open(f->rootfd, "/up/app/conf", O_RDONLY, 0);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(
        agent_sb__in_root_open(f->rootfd, "/up/passwd", O_RDONLY, 0), -ENOENT);
    /* mkdirs through a symlink stays inside too. */
    assert_int_equal(
        agent_sb__in_root_mkdirs(f->rootfd, "/link/new/deep", 0755), 0);
    struct stat st;
    path_in(f, p, "root/etc/app/new/deep");
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
}

static void test_copy_in(void **state)
{
    struct fixture *f = *state;
    char src[PATH_MAX], p[PATH_MAX];
    cl_errmsg em;
    cl_errmsg_clear(&em);
    /* A directory with a file, an executable, a subdir and a symlink. */
    path_in(f, p, "in");
    assert_int_equal(mkdir(p, 0750), 0);
    path_in(f, p, "in/sub");
    assert_int_equal(mkdir(p, 0755), 0);
    put(f, "in/a.txt", "alpha", 0640);
    put(f, "in/run.sh", "#!/bin/sh\n", 0755);
    put(f, "in/sub/b.txt", "beta", 0644);
    path_in(f, p, "in/ln");
    assert_int_equal(symlink("a.txt", p), 0);
    path_in(f, src, "in");
    int rv = agent_sb__copy_in(src, f->rootfd, "/work/input", &em);
    if (rv != 0)
        fail_msg("copy_in: %s", em.msg);
    expect_file(f, "root/work/input/a.txt", "alpha");
    expect_file(f, "root/work/input/sub/b.txt", "beta");
    expect_file(f, "root/work/input/ln", "alpha");
    struct stat st;
    path_in(f, p, "root/work/input/run.sh");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    path_in(f, p, "root/work/input");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0750);
    path_in(f, p, "root/work/input/ln");
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    /* A single file, replacing what was there. */
    put(f, "msg", "hello world", 0644);
    path_in(f, src, "msg");
    assert_int_equal(agent_sb__copy_in(src, f->rootfd, "/tmp/message", &em), 0);
    put(f, "msg", "second", 0600);
    assert_int_equal(agent_sb__copy_in(src, f->rootfd, "/tmp/message", &em), 0);
    expect_file(f, "root/tmp/message", "second");
    path_in(f, p, "root/tmp/message");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    /* A file cannot replace a directory; a missing source is reported. */
    assert_int_equal(agent_sb__copy_in(src, f->rootfd, "/work/input", &em),
                     CL_EEXIST);
    path_in(f, src, "missing");
    assert_int_equal(agent_sb__copy_in(src, f->rootfd, "/x", &em), CL_ENOENT);
    assert_non_null(strstr(em.msg, "missing"));
    assert_int_equal(agent_sb__copy_in(src, f->rootfd, "/", &em), CL_EINVAL);
}

static void test_copy_out(void **state)
{
    struct fixture *f = *state;
    char dst[PATH_MAX], p[PATH_MAX];
    cl_errmsg em;
    cl_errmsg_clear(&em);
    assert_int_equal(agent_sb__in_root_mkdirs(f->rootfd, "/tmp/out/d", 0755),
                     0);
    put(f, "root/result.txt", "heads", 0644);
    put(f, "root/tmp/out/x", "1", 0644);
    put(f, "root/tmp/out/d/y", "2", 0600);
    path_in(f, p, "root/tmp/alias");
    assert_int_equal(symlink("/result.txt", p), 0); /* view-absolute */

    path_in(f, dst, "collected/params/result");
    int rv = agent_sb__copy_out(f->rootfd, "/result.txt", dst, &em);
    if (rv != 0)
        fail_msg("copy_out: %s", em.msg);
    expect_file(f, "collected/params/result", "heads");

    /* A top-level symlink is followed inside the view. */
    path_in(f, dst, "collected/alias");
    assert_int_equal(agent_sb__copy_out(f->rootfd, "/tmp/alias", dst, &em), 0);
    expect_file(f, "collected/alias", "heads");

    /* A directory, replacing an older copy completely. */
    path_in(f, p, "collected/tmpdir");
    assert_int_equal(mkdir(p, 0755), 0);
    put(f, "collected/tmpdir/stale", "old", 0644);
    path_in(f, dst, "collected/tmpdir");
    assert_int_equal(agent_sb__copy_out(f->rootfd, "/tmp/out", dst, &em), 0);
    expect_file(f, "collected/tmpdir/x", "1");
    expect_file(f, "collected/tmpdir/d/y", "2");
    struct stat st;
    path_in(f, p, "collected/tmpdir/stale");
    assert_int_equal(lstat(p, &st), -1);

    /* Missing output: CL_ENOENT and nothing created, no temp left. */
    path_in(f, dst, "collected/none");
    assert_int_equal(agent_sb__copy_out(f->rootfd, "/no/such", dst, &em),
                     CL_ENOENT);
    assert_int_equal(lstat(dst, &st), -1);
    path_in(f, p, "collected");
    DIR *d = opendir(p);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strstr(de->d_name, ".collect-") != NULL)
            fail_msg("temporary %s left behind", de->d_name);
    closedir(d);
}

static void test_rmtree(void **state)
{
    struct fixture *f = *state;
    char p[PATH_MAX];
    cl_errmsg em;
    path_in(f, p, "t");
    assert_int_equal(agent_sb__mkdirs(p, 0755), 0);
    path_in(f, p, "t/work/work");
    assert_int_equal(agent_sb__mkdirs(p, 0755), 0);
    put(f, "t/work/work/f", "x", 0644);
    assert_int_equal(chmod(p, 0), 0); /* as overlayfs leaves it */
    path_in(f, p, "t/link");
    assert_int_equal(symlink(f->dir, p), 0); /* never followed */
    path_in(f, p, "t");
    assert_int_equal(agent_sb_rmtree(p, &em), 0);
    struct stat st;
    assert_int_equal(lstat(p, &st), -1);
    assert_int_equal(stat(f->dir, &st), 0);
    assert_int_equal(agent_sb_rmtree(p, &em), 0); /* missing is fine */
    path_in(f, p, "a/b/c");
    assert_int_equal(agent_sb__mkdirs(p, 0755), 0);
    put(f, "a/file", "x", 0644);
    path_in(f, p, "a/file/sub");
    assert_int_not_equal(agent_sb__mkdirs(p, 0755), 0); /* under a file */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_small_files, setup, teardown),
        cmocka_unit_test(test_join_and_numbers),
        cmocka_unit_test(test_mountinfo),
        cmocka_unit_test_setup_teardown(test_in_root_resolution, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_copy_in, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rmtree, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
