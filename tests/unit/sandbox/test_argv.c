/* Unit tests for agent/sandbox/argv.c: the couler-exec command line built
 * by the agent (agent_sb_build_argv) and parsed by the launcher
 * (agent_sb_opts_parse). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "agent/sandbox/sandbox.h"
#include "common/cl_heap.h"

static size_t argv_len(char **argv)
{
    size_t n = 0;
    while (argv[n] != NULL)
        n++;
    return n;
}

static void assert_argv(char **got, const char *const *want, size_t n)
{
    size_t gn = argv_len(got);
    for (size_t i = 0; i < n && i < gn; i++)
        if (strcmp(got[i], want[i]) != 0)
            fail_msg("argv[%zu] = '%s', want '%s'", i, got[i], want[i]);
    assert_int_equal(gn, n);
}

static const struct agent_sb_map stages[] = {
    {"/var/lib/couler/cas/ab12", "/tmp/message"},
    {"/var/lib/couler/cas/dir:1", "/in/a\\b"},
};
static const struct agent_sb_map stages_ro[] = {
    {"/data/set", "/mnt/data"},
};
static const struct agent_sb_map binds[] = {
    {"/home/u/.cache", NULL},
    {"/srv/x", "/x"},
};
static const struct agent_sb_map collects[] = {
    {"/result.txt", "/var/lib/couler/s/out/result"},
    {"/tmp", "/var/lib/couler/s/out/tmpdir"},
};
static const char *const cgroups[] = {"/sys/fs/cgroup/memory/couler/s1",
                                      "/sys/fs/cgroup/cpu/couler/s1"};
static const char *const hides[] = {"/var/lib/couler"};
static const char *const env[] = {"CUDA_VISIBLE_DEVICES=0,1", "RANK=0"};
static const char *const cmd[] = {"python3", "-c", "print('--')", "--"};

static struct agent_sb_spec full_spec(void)
{
    struct agent_sb_spec s;
    memset(&s, 0, sizeof(s));
    s.exec_path = "/usr/lib/couler/couler-exec";
    s.view_dir = "/var/lib/couler/s/view";
    s.tmp_dir = "/var/lib/couler/s/tmp";
    s.hides = hides;
    s.n_hides = 1;
    s.binds = binds;
    s.n_binds = 2;
    s.stages = stages;
    s.n_stages = 2;
    s.stages_ro = stages_ro;
    s.n_stages_ro = 1;
    s.collects = collects;
    s.n_collects = 2;
    s.workdir = "/";
    s.cgroups = cgroups;
    s.n_cgroups = 2;
    s.cpus = "0-3,8";
    s.env = env;
    s.n_env = 2;
    s.require_isolation = true;
    s.argv = cmd;
    s.argc = 4;
    return s;
}

static void test_build_full(void **state)
{
    (void)state;
    struct agent_sb_spec s = full_spec();
    char **argv = NULL;
    cl_errmsg em;
    cl_errmsg_clear(&em);
    assert_int_equal(agent_sb_build_argv(&s, &argv, &em), 0);
    static const char *const want[] = {
        "/usr/lib/couler/couler-exec",
        "--rootfs-upper",
        "/var/lib/couler/s/view",
        "--tmp",
        "/var/lib/couler/s/tmp",
        "--hide",
        "/var/lib/couler",
        "--bind",
        "/home/u/.cache",
        "--bind",
        "/srv/x:/x",
        "--stage-ro",
        "/data/set:/mnt/data",
        "--stage",
        "/var/lib/couler/cas/ab12:/tmp/message",
        "--stage",
        "/var/lib/couler/cas/dir\\:1:/in/a\\\\b",
        "--collect",
        "/result.txt:/var/lib/couler/s/out/result",
        "--collect",
        "/tmp:/var/lib/couler/s/out/tmpdir",
        "--workdir",
        "/",
        "--cgroup",
        "/sys/fs/cgroup/memory/couler/s1",
        "--cgroup",
        "/sys/fs/cgroup/cpu/couler/s1",
        "--cpus",
        "0-3,8",
        "--env",
        "CUDA_VISIBLE_DEVICES=0,1",
        "--env",
        "RANK=0",
        "--require-isolation",
        "--",
        "python3",
        "-c",
        "print('--')",
        "--",
    };
    assert_argv(argv, want, sizeof(want) / sizeof(want[0]));
    agent_sb_argv_free(argv);
}

static void test_build_minimal(void **state)
{
    (void)state;
    static const char *const c[] = {"true"};
    struct agent_sb_spec s;
    memset(&s, 0, sizeof(s));
    s.argv = c;
    s.argc = 1;
    char **argv = NULL;
    assert_int_equal(agent_sb_build_argv(&s, &argv, NULL), 0);
    static const char *const want[] = {"couler-exec", "--", "true"};
    assert_argv(argv, want, 3);
    agent_sb_argv_free(argv);
    agent_sb_argv_free(NULL);
}

/* The launcher reads back exactly what the agent meant. */
static void test_roundtrip(void **state)
{
    (void)state;
    struct agent_sb_spec s = full_spec();
    char **argv = NULL;
    assert_int_equal(agent_sb_build_argv(&s, &argv, NULL), 0);
    struct agent_sb_opts o;
    cl_errmsg em;
    cl_errmsg_clear(&em);
    int rv = agent_sb_opts_parse((int)argv_len(argv), argv, &o, &em);
    if (rv != 0)
        fail_msg("parse: %s", em.msg);
    assert_string_equal(o.view_dir, s.view_dir);
    assert_string_equal(o.tmp_dir, s.tmp_dir);
    assert_string_equal(o.workdir, "/");
    assert_int_equal(o.n_hides, 1);
    assert_string_equal(o.hides[0], "/var/lib/couler");
    assert_int_equal(o.n_binds, 2);
    assert_string_equal(o.binds[0].src, "/home/u/.cache");
    assert_string_equal(o.binds[0].dst, "/home/u/.cache");
    assert_string_equal(o.binds[1].dst, "/x");
    assert_int_equal(o.n_stages, 2);
    assert_string_equal(o.stages[1].src, "/var/lib/couler/cas/dir:1");
    assert_string_equal(o.stages[1].dst, "/in/a\\b");
    assert_int_equal(o.n_stages_ro, 1);
    assert_string_equal(o.stages_ro[0].dst, "/mnt/data");
    assert_int_equal(o.n_collects, 2);
    assert_string_equal(o.collects[0].src, "/result.txt");
    assert_string_equal(o.collects[1].dst, "/var/lib/couler/s/out/tmpdir");
    assert_int_equal(o.n_cgroups, 2);
    assert_string_equal(o.cgroups[1], cgroups[1]);
    assert_true(o.has_cpus);
    assert_int_equal(agent_sb_cpus_count(&o.cpus), 5);
    assert_int_equal(o.n_env, 2);
    assert_string_equal(o.env[0], env[0]);
    assert_true(o.require_isolation);
    assert_false(o.help);
    assert_int_equal(o.argc, 4);
    assert_string_equal(o.argv[0], "python3");
    assert_string_equal(o.argv[3], "--");
    assert_null(o.argv[4]);
    agent_sb_opts_free(&o);
    assert_null(o.view_dir);
    agent_sb_argv_free(argv);
}

static int parse_list(const char *const *args, size_t n,
                      struct agent_sb_opts *o, cl_errmsg *em)
{
    char *argv[32];
    assert_true(n < 32);
    for (size_t i = 0; i < n; i++)
        argv[i] = (char *)args[i];
    argv[n] = NULL;
    return agent_sb_opts_parse((int)n, argv, o, em);
}

static void test_parse_forms(void **state)
{
    (void)state;
    struct agent_sb_opts o;
    cl_errmsg em;
    static const char *const a[] = {"couler-exec", "--tmp=/t", "--cpus=1",
                                    "--env=A=b=c", "--",       "echo"};
    assert_int_equal(parse_list(a, 6, &o, &em), 0);
    assert_string_equal(o.tmp_dir, "/t");
    assert_string_equal(o.env[0], "A=b=c");
    assert_int_equal(o.argc, 1);
    agent_sb_opts_free(&o);

    static const char *const h[] = {"couler-exec", "--help"};
    assert_int_equal(parse_list(h, 2, &o, &em), 0);
    assert_true(o.help);
    assert_null(o.argv);
    agent_sb_opts_free(&o);
    assert_non_null(strstr(agent_sb_usage_text(), "--collect PATH:DEST"));
    assert_non_null(strstr(agent_sb_usage_text(), "--rootfs-upper DIR"));
}

static void expect_parse_error(const char *const *args, size_t n,
                               const char *needle)
{
    struct agent_sb_opts o;
    cl_errmsg em;
    cl_errmsg_clear(&em);
    int rv = parse_list(args, n, &o, &em);
    if (rv != CL_EINVAL)
        fail_msg("%s: rv %d, want CL_EINVAL", args[1], rv);
    if (strstr(em.msg, needle) == NULL)
        fail_msg("message '%s' lacks '%s'", em.msg, needle);
    assert_null(o.view_dir);
    assert_int_equal(o.n_stages, 0);
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const char *const unknown[] = {"x", "--bogus", "--", "true"};
    expect_parse_error(unknown, 4, "unknown option '--bogus'");
    static const char *const nocmd[] = {"x", "--tmp", "/t"};
    expect_parse_error(nocmd, 3, "no command");
    static const char *const nodash[] = {"x", "true"};
    expect_parse_error(nodash, 2, "expected '--'");
    static const char *const novalue[] = {"x", "--stage"};
    expect_parse_error(novalue, 2, "needs a value");
    static const char *const pair[] = {"x", "--stage", "/a", "--", "true"};
    expect_parse_error(pair, 5, "expected SRC:DST");
    static const char *const rel[] = {"x", "--collect", "out:/b", "--", "t"};
    expect_parse_error(rel, 5, "absolute");
    static const char *const cpus[] = {"x", "--cpus", "3-1", "--", "t"};
    expect_parse_error(cpus, 5, "0-3,8");
    static const char *const envs[] = {"x", "--env", "NOEQ", "--", "t"};
    expect_parse_error(envs, 5, "KEY=VALUE");
    static const char *const view[] = {"x", "--rootfs-upper", "/a,b", "--",
                                       "t"};
    expect_parse_error(view, 5, "contains");
    /* Options after an earlier valid one are still freed on error. */
    static const char *const late[] = {"x",   "--stage", "/a:/b", "--cgroup",
                                       "rel", "--",      "t"};
    expect_parse_error(late, 7, "not an absolute path");
}

static void test_build_errors(void **state)
{
    (void)state;
    char **argv = (char **)0x1; /* must stay untouched */
    cl_errmsg em;
    struct agent_sb_spec s = full_spec();
    s.argc = 0;
    assert_int_equal(agent_sb_build_argv(&s, &argv, &em), CL_EINVAL);
    assert_non_null(strstr(em.msg, "no command"));

    s = full_spec();
    static const struct agent_sb_map bad_stage[] = {{"/a", "rel/path"}};
    s.stages = bad_stage;
    s.n_stages = 1;
    assert_int_equal(agent_sb_build_argv(&s, &argv, &em), CL_EINVAL);
    assert_non_null(strstr(em.msg, "stage: destination 'rel/path'"));

    s = full_spec();
    s.cpus = "0-3,x";
    assert_int_equal(agent_sb_build_argv(&s, &argv, &em), CL_EINVAL);
    assert_non_null(strstr(em.msg, "cpus '0-3,x'"));

    s = full_spec();
    static const char *const bad_env[] = {"=x"};
    s.env = bad_env;
    s.n_env = 1;
    assert_int_equal(agent_sb_build_argv(&s, &argv, &em), CL_EINVAL);

    s = full_spec();
    s.view_dir = "/var/lib/cou:ler";
    assert_int_equal(agent_sb_build_argv(&s, &argv, &em), CL_EINVAL);

    s = full_spec();
    static const char *const bad_cg[] = {"sys/fs/cgroup"};
    s.cgroups = bad_cg;
    s.n_cgroups = 1;
    assert_int_equal(agent_sb_build_argv(&s, &argv, &em), CL_EINVAL);

    s = full_spec();
    static const char *const bad_hide[] = {"var/lib"};
    s.hides = bad_hide;
    assert_int_equal(agent_sb_build_argv(&s, &argv, &em), CL_EINVAL);
    assert_non_null(strstr(em.msg, "hide 'var/lib'"));

    s = full_spec();
    static const char *const nullarg[] = {"echo", NULL};
    s.argv = nullarg;
    s.argc = 2;
    assert_int_equal(agent_sb_build_argv(&s, &argv, &em), CL_EINVAL);
    assert_ptr_equal(argv, (char **)0x1);
}

/* Every allocation failure is reported, and nothing leaks (the sanitizer
 * build checks the second half). */
static void test_out_of_memory(void **state)
{
    (void)state;
    struct agent_sb_spec s = full_spec();
    int failures = 0;
    for (int delay = 0; delay < 200; delay++) {
        char **argv = NULL;
        cl_heap_fault_enable(delay, 1);
        int rv = agent_sb_build_argv(&s, &argv, NULL);
        cl_heap_fault_disable();
        if (rv == 0) {
            agent_sb_argv_free(argv);
            break;
        }
        assert_int_equal(rv, CL_ENOMEM);
        failures++;
    }
    assert_true(failures > 10);

    char **argv = NULL;
    assert_int_equal(agent_sb_build_argv(&s, &argv, NULL), 0);
    int n = (int)argv_len(argv);
    failures = 0;
    for (int delay = 0; delay < 200; delay++) {
        struct agent_sb_opts o;
        cl_heap_fault_enable(delay, 1);
        int rv = agent_sb_opts_parse(n, argv, &o, NULL);
        cl_heap_fault_disable();
        if (rv == 0) {
            agent_sb_opts_free(&o);
            break;
        }
        assert_int_equal(rv, CL_ENOMEM);
        failures++;
    }
    assert_true(failures > 10);
    agent_sb_argv_free(argv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_full),
        cmocka_unit_test(test_build_minimal),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
