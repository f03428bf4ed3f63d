/* Unit tests for agent/sandbox/sandbox.c: per-step cgroups.
 *
 * Two kinds of test. The "fake" ones point the library at a plain
 * directory laid out like a v1 or v2 cgroup root (with a matching fake
 * mountinfo) and check the paths it uses and the values it writes; they
 * run anywhere. The "real" ones create, configure, join, OOM-kill, kill
 * and remove cgroups on this machine (root and a mounted v1 or v2
 * hierarchy needed, else skipped); their parent is couler-test-<pid>
 * under the test's own cgroup and is swept even when a test fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/sandbox/sb_int.h"
#include "common/cl_heap.h"
#include "common/cl_log.h"

#ifndef SB_MEMHOG
#error "SB_MEMHOG must name the memhog helper"
#endif

/* ---- helpers ----------------------------------------------------------- */

static void write_text(const char *path, const char *text)
{
    int rv = agent_sb__write_file(path, text, true);
    if (rv != 0)
        fail_msg("write %s: %s", path, cl_strerror(rv));
}

static void expect_text(const char *dir, const char *file, const char *want)
{
    char p[PATH_MAX], buf[4096];
    snprintf(p, sizeof(p), "%s/%s", dir, file);
    int rv = agent_sb__read_file(p, buf, sizeof(buf), NULL);
    if (rv != 0)
        fail_msg("read %s: %s", p, cl_strerror(rv));
    buf[strcspn(buf, "\n")] = '\0';
    if (strcmp(buf, want) != 0)
        fail_msg("%s is '%s', want '%s'", p, buf, want);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void mkdir_p(const char *path)
{
    assert_int_equal(agent_sb__mkdirs(path, 0755), 0);
}

/* ---- pure helpers ------------------------------------------------------ */

static void test_self_cgroup_and_quota(void **state)
{
    (void)state;
    const char *text = "9:name=systemd:/\n"
                       "4:memory:/process_api/abc\n"
                       "2:cpu,cpuacct:/svc\n"
                       "0::/user.slice/x\n";
    char out[256];
    assert_true(agent_sb__self_cgroup(text, "memory", out, sizeof(out)));
    assert_string_equal(out, "/process_api/abc");
    assert_true(agent_sb__self_cgroup(text, "cpuacct", out, sizeof(out)));
    assert_string_equal(out, "/svc");
    assert_true(agent_sb__self_cgroup(text, NULL, out, sizeof(out)));
    assert_string_equal(out, "/user.slice/x");
    assert_false(agent_sb__self_cgroup(text, "cpuset", out, sizeof(out)));

    uint64_t q = 0;
    char line[64];
    agent_sb__cpu_quota(1500, &q, line, sizeof(line));
    assert_int_equal(q, 150000);
    assert_string_equal(line, "150000 100000");
    agent_sb__cpu_quota(250, &q, line, sizeof(line));
    assert_string_equal(line, "25000 100000");
    agent_sb__cpu_quota(1, &q, NULL, 0); /* raised to the 1 ms minimum */
    assert_int_equal(q, 1000);
}

static void test_oom_verdict(void **state)
{
    (void)state;
    struct agent_sb_usage u;
    memset(&u, 0, sizeof(u));
    u.oom_known = true;
    u.oom_kills = 1;
    assert_true(agent_sb_oom_killed(&u, 137));
    assert_true(agent_sb_oom_killed(&u, 1)); /* a child was killed */
    assert_false(agent_sb_oom_killed(&u, 0));
    u.oom_kills = 0;
    u.mem_failcnt = 10; /* hit the limit, reclaimed, survived */
    assert_false(agent_sb_oom_killed(&u, 137));
    u.oom_known = false; /* old kernel: failcnt + SIGKILL */
    assert_true(agent_sb_oom_killed(&u, 137));
    assert_false(agent_sb_oom_killed(&u, 143));
    u.mem_failcnt = 0;
    assert_false(agent_sb_oom_killed(&u, 137));
}

/* ---- fake roots -------------------------------------------------------- */

struct fake {
    char dir[PATH_MAX];
    char mountinfo[PATH_MAX];
    char self[PATH_MAX];
};

static int fake_setup(void **state)
{
    struct fake *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/couler-sb-cg.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->mountinfo, sizeof(f->mountinfo), "%s/mountinfo", f->dir);
    snprintf(f->self, sizeof(f->self), "%s/self", f->dir);
    *state = f;
    return 0;
}

static int fake_teardown(void **state)
{
    struct fake *f = *state;
    int rv = agent_sb_rmtree(f->dir, NULL);
    free(f);
    return rv == 0 ? 0 : -1;
}

/* fake_v1 - hierarchies under <dir>/root, like this machine's layout:
 * separate cpu and cpuacct (or co-mounted), cpuset, memory, a named
 * systemd hierarchy and an empty unified mount (hybrid). */
static void fake_v1(struct fake *f, bool comount, const char *self_text)
{
    char p[PATH_MAX], mi[4096];
    const char *cpu_dir = comount ? "cpu,cpuacct" : "cpu";
    snprintf(p, sizeof(p), "%s/root/%s", f->dir, cpu_dir);
    mkdir_p(p);
    if (!comount) {
        snprintf(p, sizeof(p), "%s/root/cpuacct", f->dir);
        mkdir_p(p);
    }
    snprintf(p, sizeof(p), "%s/root/memory", f->dir);
    mkdir_p(p);
    snprintf(p, sizeof(p), "%s/root/cpuset", f->dir);
    mkdir_p(p);
    snprintf(p, sizeof(p), "%s/root/cpuset/cpuset.cpus", f->dir);
    write_text(p, "0-3\n");
    snprintf(p, sizeof(p), "%s/root/cpuset/cpuset.mems", f->dir);
    write_text(p, "0\n");
    int n = snprintf(mi, sizeof(mi),
                     "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
                     "31 27 0:28 / %s/root rw - tmpfs tmpfs rw,mode=755\n",
                     f->dir);
    if (comount) {
        n += snprintf(mi + n, sizeof(mi) - (size_t)n,
                      "32 31 0:29 / %s/root/cpu,cpuacct rw - cgroup cgroup "
                      "rw,cpu,cpuacct\n",
                      f->dir);
    } else {
        n += snprintf(mi + n, sizeof(mi) - (size_t)n,
                      "32 31 0:29 / %s/root/cpu rw - cgroup cgroup rw,cpu\n"
                      "33 31 0:30 / %s/root/cpuacct rw - cgroup cgroup "
                      "rw,cpuacct\n",
                      f->dir, f->dir);
    }
    snprintf(mi + n, sizeof(mi) - (size_t)n,
             "34 31 0:31 / %s/root/cpuset rw - cgroup cgroup rw,cpuset\n"
             "35 31 0:32 / %s/root/memory rw - cgroup cgroup rw,memory\n"
             "40 31 0:37 / %s/root/systemd rw - cgroup cgroup "
             "rw,name=systemd\n"
             "41 31 0:38 / %s/root/unified rw - cgroup2 cgroup2 rw\n",
             f->dir, f->dir, f->dir, f->dir);
    write_text(f->mountinfo, mi);
    write_text(f->self, self_text ? self_text
                                  : "5:memory:/\n4:cpuset:/\n3:cpuacct:/\n"
                                    "2:cpu:/\n0::/\n");
}

static void test_fake_v1(void **state)
{
    struct fake *f = *state;
    fake_v1(f, false, NULL);
    struct agent_sb_cgconf conf = {.parent = "couler",
                                   .mountinfo_path = f->mountinfo,
                                   .self_cgroup_path = f->self};
    struct agent_sb_cg *cg = NULL;
    cl_errmsg em;
    cl_errmsg_clear(&em);
    int rv = agent_sb_cg_open(&conf, &cg, &em);
    if (rv != 0)
        fail_msg("open: %s", em.msg);
    assert_int_equal(agent_sb_cg_version(cg), AGENT_SB_CG_V1);
    assert_int_equal(agent_sb_cg_controllers(cg),
                     AGENT_SB_CTL_CPU | AGENT_SB_CTL_CPUACCT |
                         AGENT_SB_CTL_CPUSET | AGENT_SB_CTL_MEMORY);
    const char *const *parents;
    assert_int_equal(agent_sb_cg_parents(cg, &parents), 4);
    char want[PATH_MAX];
    snprintf(want, sizeof(want), "%s/root/cpu/couler", f->dir);
    assert_string_equal(parents[0], want);
    snprintf(want, sizeof(want), "%s/root/memory/couler", f->dir);
    assert_string_equal(parents[3], want);
    /* The cpuset parent was made usable: lists copied from its parent. */
    snprintf(want, sizeof(want), "%s/root/cpuset/couler", f->dir);
    expect_text(want, "cpuset.cpus", "0-3");
    expect_text(want, "cpuset.mems", "0");

    /* The placement may describe a bigger machine: CPUs 64-71 dropped. */
    cl_log_set_level(CL_LOG_ERROR);
    struct agent_sb_limits lim = {
        .cpus = "1-2,64-71", .cpu_millis = 1500, .mem_bytes = 32u << 20};
    struct agent_sb_group *g = NULL;
    rv = agent_sb_group_create(cg, "wf-1.step-a.0", &lim, &g, &em);
    cl_log_set_level(CL_LOG_INFO);
    if (rv != 0)
        fail_msg("create: %s", em.msg);
    const char *const *paths;
    assert_int_equal(agent_sb_group_paths(g, &paths), 4);
    snprintf(want, sizeof(want), "%s/root/cpuset/couler/wf-1.step-a.0", f->dir);
    assert_string_equal(paths[2], want);
    expect_text(paths[2], "cpuset.cpus", "1-2");
    expect_text(paths[2], "cpuset.mems", "0");
    expect_text(paths[0], "cpu.cfs_period_us", "100000");
    expect_text(paths[0], "cpu.cfs_quota_us", "150000");
    expect_text(paths[3], "memory.limit_in_bytes", "33554432");
    expect_text(paths[3], "memory.memsw.limit_in_bytes", "33554432");

    /* Joining writes the pid in every hierarchy. */
    assert_int_equal(agent_sb_group_join(g, 4242, &em), 0);
    for (size_t i = 0; i < 4; i++)
        expect_text(paths[i], "cgroup.procs", "4242");

    /* Counters as the kernel would show them after an OOM kill. */
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/memory.oom_control", paths[3]);
    write_text(p, "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    snprintf(p, sizeof(p), "%s/memory.failcnt", paths[3]);
    write_text(p, "17\n");
    snprintf(p, sizeof(p), "%s/memory.max_usage_in_bytes", paths[3]);
    write_text(p, "33550336\n");
    snprintf(p, sizeof(p), "%s/cpuacct.usage", paths[1]);
    write_text(p, "123456789\n");
    struct agent_sb_usage u;
    assert_int_equal(agent_sb_group_usage(g, &u, &em), 0);
    assert_true(u.oom_known);
    assert_int_equal(u.oom_kills, 2);
    assert_int_equal(u.mem_failcnt, 17);
    assert_true(u.has_mem_peak);
    assert_int_equal(u.mem_peak, 33550336);
    assert_true(u.has_cpu);
    assert_int_equal(u.cpu_ns, 123456789);
    assert_true(agent_sb_oom_killed(&u, 137));

    /* Same name again: refused, the first stays. */
    struct agent_sb_group *g2 = NULL;
    assert_int_equal(agent_sb_group_create(cg, "wf-1.step-a.0", NULL, &g2, &em),
                     CL_EEXIST);
    assert_true(exists(paths[0]));

    /* Remove (the fake pid 4242 is in no real process list to kill: clear
     * it first as the kernel would once it exited). */
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s/cgroup.procs", paths[i]);
        write_text(p, "");
    }
    rv = agent_sb_group_remove(g, 1000, &em);
    if (rv != 0)
        fail_msg("remove: %s", em.msg);
    for (size_t i = 0; i < 4; i++)
        assert_false(exists(paths[i]));
    agent_sb_group_free(g);

    /* Leftovers of a killed agent are swept, then the parent goes. */
    assert_int_equal(agent_sb_group_create(cg, "old-1", NULL, &g, &em), 0);
    agent_sb_group_free(g);
    assert_int_equal(agent_sb_group_create(cg, "old-2", NULL, &g, &em), 0);
    agent_sb_group_free(g);
    unsigned removed = 0;
    assert_int_equal(agent_sb_sweep(cg, &removed, &em), 0);
    assert_int_equal(removed, 2);
    snprintf(p, sizeof(p), "%s/root/memory/couler/old-1", f->dir);
    assert_false(exists(p));
    assert_int_equal(agent_sb_cg_destroy(cg, &em), 0);
    assert_false(exists(parents[0]));
    assert_false(exists(parents[3]));
    agent_sb_cg_close(cg);
}

static void test_fake_v1_comount_under_self(void **state)
{
    struct fake *f = *state;
    fake_v1(f, true,
            "5:memory:/svc/agent\n4:cpuset:/\n2:cpu,cpuacct:/svc/agent\n");
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/root/memory/svc/agent", f->dir);
    mkdir_p(p);
    snprintf(p, sizeof(p), "%s/root/cpu,cpuacct/svc/agent", f->dir);
    mkdir_p(p);
    struct agent_sb_cgconf conf = {.parent = "steps/couler",
                                   .under_self = true,
                                   .mountinfo_path = f->mountinfo,
                                   .self_cgroup_path = f->self};
    struct agent_sb_cg *cg = NULL;
    cl_errmsg em;
    int rv = agent_sb_cg_open(&conf, &cg, &em);
    if (rv != 0)
        fail_msg("open: %s", em.msg);
    const char *const *parents;
    /* cpu and cpuacct share one hierarchy: three directories, not four. */
    assert_int_equal(agent_sb_cg_parents(cg, &parents), 3);
    char want[PATH_MAX];
    snprintf(want, sizeof(want), "%s/root/cpu,cpuacct/svc/agent/steps/couler",
             f->dir);
    assert_string_equal(parents[0], want);
    snprintf(want, sizeof(want), "%s/root/cpuset/steps/couler", f->dir);
    assert_string_equal(parents[1], want);
    /* Every new cpuset level got its lists. */
    snprintf(want, sizeof(want), "%s/root/cpuset/steps", f->dir);
    expect_text(want, "cpuset.cpus", "0-3");
    snprintf(want, sizeof(want), "%s/root/memory/svc/agent/steps/couler",
             f->dir);
    assert_string_equal(parents[2], want);
    struct agent_sb_group *g = NULL;
    struct agent_sb_limits lim = {.cpu_millis = 500};
    assert_int_equal(agent_sb_group_create(cg, "s", &lim, &g, &em), 0);
    const char *const *paths;
    assert_int_equal(agent_sb_group_paths(g, &paths), 3);
    expect_text(paths[0], "cpu.cfs_quota_us", "50000");
    expect_text(paths[1], "cpuset.cpus", "0-3"); /* the parent's */
    snprintf(p, sizeof(p), "%s/memory.limit_in_bytes", paths[2]);
    assert_false(exists(p)); /* no limit asked, none written */
    assert_int_equal(agent_sb_group_remove(g, 1000, &em), 0);
    agent_sb_group_free(g);
    assert_int_equal(agent_sb_cg_destroy(cg, &em), 0);
    agent_sb_cg_close(cg);

    /* A cgroup outside the mounted subtree cannot be a base. */
    char mi[1024];
    snprintf(mi, sizeof(mi),
             "35 1 0:32 /docker/c1 %s/root/memory rw - cgroup cgroup "
             "rw,memory\n",
             f->dir);
    write_text(f->mountinfo, mi);
    write_text(f->self, "5:memory:/other\n");
    conf.parent = "couler";
    assert_int_equal(agent_sb_cg_open(&conf, &cg, &em), CL_ENOTSUP);
    assert_non_null(strstr(em.msg, "outside the mounted"));
    /* Inside it, the mount's root is stripped. */
    write_text(f->self, "5:memory:/docker/c1/agent\n");
    snprintf(p, sizeof(p), "%s/root/memory/agent", f->dir);
    mkdir_p(p);
    rv = agent_sb_cg_open(&conf, &cg, &em);
    if (rv != 0)
        fail_msg("open: %s", em.msg);
    assert_int_equal(agent_sb_cg_parents(cg, &parents), 1);
    snprintf(want, sizeof(want), "%s/root/memory/agent/couler", f->dir);
    assert_string_equal(parents[0], want);
    assert_int_equal(agent_sb_cg_destroy(cg, &em), 0);
    agent_sb_cg_close(cg);
}

static void fake_v2(struct fake *f)
{
    char p[PATH_MAX], mi[1024];
    snprintf(p, sizeof(p), "%s/root", f->dir);
    mkdir_p(p);
    snprintf(p, sizeof(p), "%s/root/cgroup.controllers", f->dir);
    write_text(p, "cpuset cpu io memory hugetlb pids rdma misc\n");
    snprintf(p, sizeof(p), "%s/root/cpuset.cpus.effective", f->dir);
    write_text(p, "0-7\n");
    snprintf(mi, sizeof(mi),
             "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
             "31 27 0:28 / %s/root rw,nosuid - cgroup2 cgroup2 "
             "rw,nsdelegate\n",
             f->dir);
    write_text(f->mountinfo, mi);
    write_text(f->self, "0::/init.scope\n");
}

static void test_fake_v2(void **state)
{
    struct fake *f = *state;
    fake_v2(f);
    struct agent_sb_cgconf conf = {.mountinfo_path = f->mountinfo,
                                   .self_cgroup_path = f->self};
    struct agent_sb_cg *cg = NULL;
    cl_errmsg em;
    cl_errmsg_clear(&em);
    int rv = agent_sb_cg_open(&conf, &cg, &em);
    if (rv != 0)
        fail_msg("open: %s", em.msg);
    assert_int_equal(agent_sb_cg_version(cg), AGENT_SB_CG_V2);
    assert_int_equal(agent_sb_cg_controllers(cg), AGENT_SB_CTL_CPU |
                                                      AGENT_SB_CTL_CPUSET |
                                                      AGENT_SB_CTL_MEMORY);
    const char *const *parents;
    assert_int_equal(agent_sb_cg_parents(cg, &parents), 1);
    char want[PATH_MAX];
    snprintf(want, sizeof(want), "%s/root/couler", f->dir);
    assert_string_equal(parents[0], want);
    /* Controllers enabled from the root down to the parent. */
    snprintf(want, sizeof(want), "%s/root", f->dir);
    expect_text(want, "cgroup.subtree_control", "+cpu +cpuset +memory");
    expect_text(parents[0], "cgroup.subtree_control", "+cpu +cpuset +memory");

    /* Parent's effective CPUs are 0-7: 64-71 dropped, cpus inherit when not
     * asked for (nothing written). */
    snprintf(want, sizeof(want), "%s/cpuset.cpus.effective", parents[0]);
    write_text(want, "0-7\n");
    cl_log_set_level(CL_LOG_ERROR);
    struct agent_sb_limits lim = {.cpus = "6-7,64-71",
                                  .mems = "0",
                                  .cpu_millis = 500,
                                  .mem_bytes = 64u << 20};
    struct agent_sb_group *g = NULL;
    rv = agent_sb_group_create(cg, "s1", &lim, &g, &em);
    cl_log_set_level(CL_LOG_INFO);
    if (rv != 0)
        fail_msg("create: %s", em.msg);
    const char *const *paths;
    assert_int_equal(agent_sb_group_paths(g, &paths), 1);
    snprintf(want, sizeof(want), "%s/root/couler/s1", f->dir);
    assert_string_equal(paths[0], want);
    expect_text(paths[0], "cpuset.cpus", "6-7");
    expect_text(paths[0], "cpuset.mems", "0");
    expect_text(paths[0], "cpu.max", "50000 100000");
    expect_text(paths[0], "memory.max", "67108864");
    expect_text(paths[0], "memory.swap.max", "0");
    expect_text(paths[0], "memory.oom.group", "1");
    assert_int_equal(agent_sb_group_join(g, 77, &em), 0);
    expect_text(paths[0], "cgroup.procs", "77");

    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/memory.events", paths[0]);
    write_text(p, "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"
                  "oom_group_kill 1\n");
    snprintf(p, sizeof(p), "%s/memory.peak", paths[0]);
    write_text(p, "67104768\n");
    snprintf(p, sizeof(p), "%s/cpu.stat", paths[0]);
    write_text(p, "usage_usec 250\nuser_usec 200\nsystem_usec 50\n");
    struct agent_sb_usage u;
    assert_int_equal(agent_sb_group_usage(g, &u, &em), 0);
    assert_true(u.oom_known);
    assert_int_equal(u.oom_kills, 1);
    assert_int_equal(u.mem_failcnt, 3);
    assert_int_equal(u.mem_peak, 67104768);
    assert_int_equal(u.cpu_ns, 250000);
    assert_true(agent_sb_oom_killed(&u, 137));

    snprintf(p, sizeof(p), "%s/cgroup.procs", paths[0]);
    write_text(p, "");
    assert_int_equal(agent_sb_group_remove(g, 1000, &em), 0);
    assert_false(exists(paths[0]));
    agent_sb_group_free(g);
    assert_int_equal(agent_sb_cg_destroy(cg, &em), 0);
    assert_false(exists(parents[0]));
    agent_sb_cg_close(cg);
}

static void test_fake_detection_errors(void **state)
{
    struct fake *f = *state;
    char mi[1024], p[PATH_MAX];
    cl_errmsg em;
    struct agent_sb_cg *cg = NULL;
    /* Hybrid leftovers only: an empty unified mount and a named one. */
    snprintf(p, sizeof(p), "%s/root", f->dir);
    mkdir_p(p);
    snprintf(p, sizeof(p), "%s/root/cgroup.controllers", f->dir);
    write_text(p, "\n");
    snprintf(mi, sizeof(mi),
             "40 1 0:37 / %s/root/systemd rw - cgroup cgroup rw,name=systemd\n"
             "41 1 0:38 / %s/root rw - cgroup2 cgroup2 rw\n",
             f->dir, f->dir);
    write_text(f->mountinfo, mi);
    struct agent_sb_cgconf conf = {.mountinfo_path = f->mountinfo,
                                   .self_cgroup_path = f->self};
    assert_int_equal(agent_sb_cg_open(&conf, &cg, &em), CL_ENOTSUP);
    assert_non_null(strstr(em.msg, "no cgroup controller"));

    conf.parent = "../escape";
    assert_int_equal(agent_sb_cg_open(&conf, &cg, &em), CL_EINVAL);
    conf.parent = "/abs";
    assert_int_equal(agent_sb_cg_open(&conf, &cg, &em), CL_EINVAL);
    conf.parent = "couler";
    write_text(f->mountinfo, "garbage\n");
    assert_int_equal(agent_sb_cg_open(&conf, &cg, &em), CL_EPARSE);
    snprintf(p, sizeof(p), "%s/none", f->dir);
    conf.mountinfo_path = p;
    assert_int_equal(agent_sb_cg_open(&conf, &cg, &em), CL_ENOENT);

    fake_v2(f);
    conf.mountinfo_path = f->mountinfo;
    assert_int_equal(agent_sb_cg_open(&conf, &cg, &em), 0);
    struct agent_sb_group *g = NULL;
    static const char *const bad[] = {"", ".", "..", "a/b", "a b", "x\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(agent_sb_group_create(cg, bad[i], NULL, &g, &em),
                         CL_EINVAL);
    struct agent_sb_limits lim = {.cpus = "x"};
    assert_int_equal(agent_sb_group_create(cg, "bad-cpus", &lim, &g, &em),
                     CL_EINVAL);
    /* A failed create leaves nothing behind. */
    snprintf(p, sizeof(p), "%s/root/couler/bad-cpus", f->dir);
    assert_false(exists(p));
    assert_int_equal(agent_sb_cg_destroy(cg, &em), 0);
    agent_sb_cg_close(cg);
}

/* Allocation failures in open and create are reported, never crash. */
static void test_fake_out_of_memory(void **state)
{
    struct fake *f = *state;
    fake_v1(f, false, NULL);
    struct agent_sb_cgconf conf = {.mountinfo_path = f->mountinfo,
                                   .self_cgroup_path = f->self};
    int failures = 0;
    for (int delay = 0; delay < 100; delay++) {
        struct agent_sb_cg *cg = NULL;
        struct agent_sb_group *g = NULL;
        cl_heap_fault_enable(delay, 1);
        int rv = agent_sb_cg_open(&conf, &cg, NULL);
        if (rv == 0)
            rv = agent_sb_group_create(cg, "s", NULL, &g, NULL);
        cl_heap_fault_disable();
        if (rv == 0) {
            assert_int_equal(agent_sb_group_remove(g, 1000, NULL), 0);
            agent_sb_group_free(g);
            assert_int_equal(agent_sb_cg_destroy(cg, NULL), 0);
            agent_sb_cg_close(cg);
            break;
        }
        assert_int_equal(rv, CL_ENOMEM);
        if (cg != NULL) {
            assert_int_equal(agent_sb_cg_destroy(cg, NULL), 0);
            agent_sb_cg_close(cg);
        }
        failures++;
    }
    assert_true(failures >= 3);
}

/* ---- real cgroups ------------------------------------------------------ */

#define MAX_CHILDREN 8

struct real {
    struct agent_sb_cg *cg; /* NULL: no usable cgroups here, tests skip */
    char parent[64];
    pid_t children[MAX_CHILDREN];
    size_t nchildren;
};

static struct real real_fx;

static pid_t track(struct real *r, pid_t pid)
{
    if (pid > 0 && r->nchildren < MAX_CHILDREN)
        r->children[r->nchildren++] = pid;
    return pid;
}

/* sweep_stale - parents of earlier runs whose process is gone. */
static void sweep_stale(const char *parent_path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", parent_path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        return;
    *slash = '\0';
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        long pid;
        char tail;
        if (sscanf(de->d_name, "couler-test-%ld%c", &pid, &tail) != 1 ||
            pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        struct agent_sb_cgconf conf = {.parent = de->d_name,
                                       .under_self = true};
        struct agent_sb_cg *cg = NULL;
        if (agent_sb_cg_open(&conf, &cg, NULL) == 0) {
            (void)agent_sb_cg_destroy(cg, NULL);
            agent_sb_cg_close(cg);
        }
    }
    closedir(d);
}

static int real_group_setup(void **state)
{
    struct real *r = &real_fx;
    memset(r, 0, sizeof(*r));
    *state = r;
    if (geteuid() != 0)
        return 0;
    snprintf(r->parent, sizeof(r->parent), "couler-test-%ld", (long)getpid());
    struct agent_sb_cgconf conf = {.parent = r->parent, .under_self = true};
    cl_errmsg em;
    cl_errmsg_clear(&em);
    int rv = agent_sb_cg_open(&conf, &r->cg, &em);
    if (rv != 0) {
        fprintf(stderr, "# real cgroup tests skipped: %s\n", em.msg);
        r->cg = NULL;
        return 0;
    }
    const char *const *parents;
    size_t n = agent_sb_cg_parents(r->cg, &parents);
    for (size_t i = 0; i < n; i++)
        sweep_stale(parents[i]);
    return 0;
}

static int real_group_teardown(void **state)
{
    struct real *r = *state;
    if (r->cg == NULL)
        return 0;
    cl_errmsg em;
    cl_errmsg_clear(&em);
    int rv = agent_sb_cg_destroy(r->cg, &em);
    if (rv != 0)
        fprintf(stderr, "# destroy: %s\n", em.msg);
    agent_sb_cg_close(r->cg);
    r->cg = NULL;
    return rv == 0 ? 0 : -1;
}

/* Per test: whatever happened, end our children and remove the groups. */
static int real_teardown(void **state)
{
    struct real *r = *state;
    for (size_t i = 0; i < r->nchildren; i++) {
        (void)kill(r->children[i], SIGKILL);
        (void)waitpid(r->children[i], NULL, 0);
    }
    r->nchildren = 0;
    if (r->cg == NULL)
        return 0;
    cl_errmsg em;
    return agent_sb_sweep(r->cg, NULL, &em) == 0 ? 0 : -1;
}

static struct real *need_real(void **state)
{
    struct real *r = *state;
    if (r->cg == NULL)
        skip();
    return r;
}

static const char *ctl_dir(struct agent_sb_group *g, struct agent_sb_cg *cg,
                           unsigned ctl)
{
    const char *const *paths;
    size_t n = agent_sb_group_paths(g, &paths);
    if (agent_sb_cg_version(cg) == AGENT_SB_CG_V2)
        return paths[0];
    /* v1: the order of hierarchies follows the mount table; find it by
     * the controller's own file. */
    const char *probe = ctl == AGENT_SB_CTL_CPU      ? "cpu.cfs_quota_us"
                        : ctl == AGENT_SB_CTL_CPUSET ? "cpuset.cpus"
                                                     : "memory.limit_in_bytes";
    for (size_t i = 0; i < n; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", paths[i], probe);
        if (exists(p))
            return paths[i];
    }
    fail_msg("no hierarchy has %s", probe);
    return NULL;
}

static void test_real_create_limits(void **state)
{
    struct real *r = need_real(state);
    cl_errmsg em;
    cl_errmsg_clear(&em);
    struct agent_sb_limits lim = {
        .cpus = "0", .cpu_millis = 500, .mem_bytes = 64u << 20};
    struct agent_sb_group *g = NULL;
    int rv = agent_sb_group_create(r->cg, "limits", &lim, &g, &em);
    if (rv != 0)
        fail_msg("create: %s", em.msg);
    unsigned ctls = agent_sb_cg_controllers(r->cg);
    bool v2 = agent_sb_cg_version(r->cg) == AGENT_SB_CG_V2;
    if (ctls & AGENT_SB_CTL_CPUSET)
        expect_text(ctl_dir(g, r->cg, AGENT_SB_CTL_CPUSET), "cpuset.cpus", "0");
    if (ctls & AGENT_SB_CTL_CPU) {
        if (v2)
            expect_text(ctl_dir(g, r->cg, AGENT_SB_CTL_CPU), "cpu.max",
                        "50000 100000");
        else
            expect_text(ctl_dir(g, r->cg, AGENT_SB_CTL_CPU), "cpu.cfs_quota_us",
                        "50000");
    }
    if (ctls & AGENT_SB_CTL_MEMORY)
        expect_text(ctl_dir(g, r->cg, AGENT_SB_CTL_MEMORY),
                    v2 ? "memory.max" : "memory.limit_in_bytes", "67108864");
    const char *const *paths;
    size_t n = agent_sb_group_paths(g, &paths);
    if (v2) {
        /* Only where the unified hierarchy carries the controllers: the
         * parent delegates them and swap is off for the group. */
        const char *const *parents;
        agent_sb_cg_parents(r->cg, &parents);
        char p[PATH_MAX], text[256];
        snprintf(p, sizeof(p), "%s/cgroup.subtree_control", parents[0]);
        assert_int_equal(agent_sb__read_file(p, text, sizeof(text), NULL), 0);
        if ((ctls & AGENT_SB_CTL_MEMORY) && strstr(text, "memory") == NULL)
            fail_msg("%s: '%s' lacks memory", p, text);
        snprintf(p, sizeof(p), "%s/memory.swap.max", paths[0]);
        if (exists(p))
            expect_text(paths[0], "memory.swap.max", "0");
    } else if (ctls & AGENT_SB_CTL_MEMORY) {
        char p[PATH_MAX];
        const char *mdir = ctl_dir(g, r->cg, AGENT_SB_CTL_MEMORY);
        snprintf(p, sizeof(p), "%s/memory.memsw.limit_in_bytes", mdir);
        if (exists(p))
            expect_text(mdir, "memory.memsw.limit_in_bytes", "67108864");
    }
    rv = agent_sb_group_remove(g, 2000, &em);
    if (rv != 0)
        fail_msg("remove: %s", em.msg);
    for (size_t i = 0; i < n; i++)
        assert_false(exists(paths[i]));
    agent_sb_group_free(g);
}

/* A process joined by pid shows up in the group, is bound by its cpuset,
 * and a kill of the group ends it. */
static void test_real_join_and_kill(void **state)
{
    struct real *r = need_real(state);
    cl_errmsg em;
    cl_errmsg_clear(&em);
    struct agent_sb_limits lim = {.cpus = "0"};
    struct agent_sb_group *g = NULL;
    assert_int_equal(agent_sb_group_create(r->cg, "join", &lim, &g, &em), 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t child = track(r, fork());
    assert_true(child >= 0);
    if (child == 0) {
        close(fds[1]);
        char c;
        (void)!read(fds[0], &c, 1); /* until the parent goes or writes */
        _exit(0);
    }
    close(fds[0]);
    int rv = agent_sb_group_join(g, child, &em);
    if (rv != 0)
        fail_msg("join: %s", em.msg);
    pid_t *pids = NULL;
    size_t n = 0;
    assert_int_equal(agent_sb_group_pids(g, &pids, &n, &em), 0);
    assert_int_equal(n, 1);
    assert_int_equal(pids[0], child);
    cl_free(pids);
    char p[64], text[4096];
    snprintf(p, sizeof(p), "/proc/%ld/cgroup", (long)child);
    assert_int_equal(agent_sb__read_file(p, text, sizeof(text), NULL), 0);
    if (strstr(text, "/join\n") == NULL)
        fail_msg("child not in the group:\n%s", text);
    if (agent_sb_cg_controllers(r->cg) & AGENT_SB_CTL_CPUSET) {
        snprintf(p, sizeof(p), "/proc/%ld/status", (long)child);
        assert_int_equal(agent_sb__read_file(p, text, sizeof(text), NULL), 0);
        if (strstr(text, "Cpus_allowed_list:\t0\n") == NULL)
            fail_msg("cpuset not applied:\n%s", strstr(text, "Cpus_allowed"));
    }
    rv = agent_sb_group_kill(g, 2000, &em);
    if (rv != 0)
        fail_msg("kill: %s", em.msg);
    int st = 0;
    assert_int_equal(waitpid(child, &st, 0), child);
    r->nchildren = 0;
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
    close(fds[1]);
    assert_int_equal(agent_sb_group_remove(g, 2000, &em), 0);
    agent_sb_group_free(g);
}

/* run_hog - a child that joins the group itself and execs memhog MIB. */
static int run_hog(struct real *r, struct agent_sb_group *g, const char *mib)
{
    pid_t child = track(r, fork());
    assert_true(child >= 0);
    if (child == 0) {
        if (agent_sb_group_join(g, 0, NULL) != 0)
            _exit(120);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 1);
        execl(SB_MEMHOG, "memhog", mib, (char *)NULL);
        _exit(121);
    }
    int st = 0;
    assert_int_equal(waitpid(child, &st, 0), child);
    r->nchildren = 0;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + WTERMSIG(st);
}

static void test_real_oom(void **state)
{
    struct real *r = need_real(state);
    if (!(agent_sb_cg_controllers(r->cg) & AGENT_SB_CTL_MEMORY))
        skip();
    cl_errmsg em;
    cl_errmsg_clear(&em);
    struct agent_sb_limits lim = {.mem_bytes = 32u << 20};
    struct agent_sb_group *g = NULL;
    assert_int_equal(agent_sb_group_create(r->cg, "oom", &lim, &g, &em), 0);
    int code = run_hog(r, g, "256");
    assert_int_equal(code, 128 + SIGKILL);
    struct agent_sb_usage u;
    assert_int_equal(agent_sb_group_usage(g, &u, &em), 0);
    /* The kernel's OOM-kill counter is the record (4.13+); older kernels
     * leave only the limit's fail count. */
    if (u.oom_known)
        assert_true(u.oom_kills >= 1);
    else
        assert_true(u.mem_failcnt > 0);
    assert_true(agent_sb_oom_killed(&u, code));
    if (u.has_mem_peak)
        assert_true(u.mem_peak > (16u << 20));
    assert_int_equal(agent_sb_group_remove(g, 2000, &em), 0);
    agent_sb_group_free(g);

    /* The same program with room to spare: no OOM verdict. */
    lim.mem_bytes = 128u << 20;
    assert_int_equal(agent_sb_group_create(r->cg, "no-oom", &lim, &g, &em), 0);
    code = run_hog(r, g, "16");
    assert_int_equal(code, 0);
    assert_int_equal(agent_sb_group_usage(g, &u, &em), 0);
    assert_int_equal(u.oom_kills, 0);
    assert_false(agent_sb_oom_killed(&u, code));
    if (agent_sb_cg_controllers(r->cg) &
        (AGENT_SB_CTL_CPUACCT | AGENT_SB_CTL_CPU)) {
        assert_true(u.has_cpu);
        assert_true(u.cpu_ns > 0);
    }
    assert_int_equal(agent_sb_group_remove(g, 2000, &em), 0);
    agent_sb_group_free(g);
}

static void wait_pids(struct agent_sb_group *g, size_t want)
{
    for (int i = 0; i < 400; i++) {
        pid_t *pids = NULL;
        size_t n = 0;
        assert_int_equal(agent_sb_group_pids(g, &pids, &n, NULL), 0);
        cl_free(pids);
        if (n >= want)
            return;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("the group never held %zu processes", want);
}

/* A tree with a daemon that left the process group (setsid) dies whole,
 * and a sweep removes groups that still hold processes. */
static void test_real_kill_tree_and_sweep(void **state)
{
    struct real *r = need_real(state);
    cl_errmsg em;
    cl_errmsg_clear(&em);
    struct agent_sb_group *g = NULL;
    assert_int_equal(agent_sb_group_create(r->cg, "tree", NULL, &g, &em), 0);
    pid_t child = track(r, fork());
    assert_true(child >= 0);
    if (child == 0) {
        if (agent_sb_group_join(g, 0, NULL) != 0)
            _exit(120);
        execl("/bin/sh", "sh", "-c",
              "sleep 100 & sleep 100 & setsid sleep 100 & wait", (char *)NULL);
        _exit(121);
    }
    wait_pids(g, 4);
    int rv = agent_sb_group_kill(g, 2000, &em);
    if (rv != 0)
        fail_msg("kill: %s", em.msg);
    pid_t *pids = NULL;
    size_t n = 0;
    assert_int_equal(agent_sb_group_pids(g, &pids, &n, &em), 0);
    cl_free(pids);
    assert_int_equal(n, 0);
    int st = 0;
    assert_int_equal(waitpid(child, &st, 0), child);
    r->nchildren = 0;
    assert_true(WIFSIGNALED(st));

    /* "tree" is empty but still there; "busy" holds a sleeping process. */
    struct agent_sb_group *b = NULL;
    assert_int_equal(agent_sb_group_create(r->cg, "busy", NULL, &b, &em), 0);
    child = track(r, fork());
    assert_true(child >= 0);
    if (child == 0) {
        if (agent_sb_group_join(b, 0, NULL) != 0)
            _exit(120);
        execl("/bin/sleep", "sleep", "100", (char *)NULL);
        _exit(121);
    }
    wait_pids(b, 1);
    unsigned removed = 0;
    rv = agent_sb_sweep(r->cg, &removed, &em);
    if (rv != 0)
        fail_msg("sweep: %s", em.msg);
    assert_int_equal(removed, 2);
    const char *const *paths;
    size_t np = agent_sb_group_paths(b, &paths);
    for (size_t i = 0; i < np; i++)
        assert_false(exists(paths[i]));
    assert_int_equal(waitpid(child, &st, 0), child);
    r->nchildren = 0;
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
    agent_sb_group_free(g);
    agent_sb_group_free(b);
}

/* The kill never targets the caller itself. */
static void test_real_kill_spares_caller(void **state)
{
    struct real *r = need_real(state);
    cl_errmsg em;
    struct agent_sb_group *g = NULL;
    assert_int_equal(agent_sb_group_create(r->cg, "self", NULL, &g, &em), 0);
    pid_t child = track(r, fork());
    assert_true(child >= 0);
    if (child == 0) {
        /* Join, try to kill the group from inside, report the result. */
        if (agent_sb_group_join(g, 0, NULL) != 0)
            _exit(120);
        int rv = agent_sb_group_kill(g, 50, NULL);
        _exit(rv == CL_EBUSY ? 0 : 1);
    }
    int st = 0;
    assert_int_equal(waitpid(child, &st, 0), child);
    r->nchildren = 0;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(agent_sb_group_remove(g, 2000, &em), 0);
    agent_sb_group_free(g);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_self_cgroup_and_quota),
        cmocka_unit_test(test_oom_verdict),
        cmocka_unit_test_setup_teardown(test_fake_v1, fake_setup,
                                        fake_teardown),
        cmocka_unit_test_setup_teardown(test_fake_v1_comount_under_self,
                                        fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_fake_v2, fake_setup,
                                        fake_teardown),
        cmocka_unit_test_setup_teardown(test_fake_detection_errors, fake_setup,
                                        fake_teardown),
        cmocka_unit_test_setup_teardown(test_fake_out_of_memory, fake_setup,
                                        fake_teardown),
    };
    const struct CMUnitTest real[] = {
        cmocka_unit_test_teardown(test_real_create_limits, real_teardown),
        cmocka_unit_test_teardown(test_real_join_and_kill, real_teardown),
        cmocka_unit_test_teardown(test_real_oom, real_teardown),
        cmocka_unit_test_teardown(test_real_kill_tree_and_sweep, real_teardown),
        cmocka_unit_test_teardown(test_real_kill_spares_caller, real_teardown),
    };
    int failed = cmocka_run_group_tests_name("fake", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("real", real, real_group_setup,
                                          real_group_teardown);
    return failed;
}
