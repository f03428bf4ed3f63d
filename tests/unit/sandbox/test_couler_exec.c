/* Integration tests for couler-exec (agent/sandbox/couler_exec.c and
 * view.c): the real launcher, run as root, the way the agent runs it: the
 * command line comes from agent_sb_build_argv() and cgroups from the
 * library.
 *
 * Needs root and overlayfs; exits 77 (skipped) otherwise. Every launcher
 * a test starts is tracked and, if still there at teardown, killed by its
 * pid (and its process group, which it leads); every cgroup is removed;
 * all mounts live in the launchers' private namespaces and vanish with
 * them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/sandbox/sb_int.h"
#include "common/cl_heap.h"

#ifndef SB_MEMHOG
#error "SB_MEMHOG must name the memhog helper"
#endif

#define MAX_RUNS 16
#define RUN_TIMEOUT_MS 20000

static char exec_path[PATH_MAX];

struct run {
    pid_t pid;
    int out, err; /* read ends, -1 once drained */
    char out_buf[8192], err_buf[8192];
    size_t out_len, err_len;
    int code; /* couler-exec's exit code (128+N for a signal) */
};

struct fx {
    char dir[PATH_MAX]; /* host temp dir, under / (the ext4 root here) */
    char shm[PATH_MAX]; /* a second temp dir on another filesystem, or "" */
    struct run *runs[MAX_RUNS];
    size_t nruns;
    struct agent_sb_cg *cg;
};

static void pathf(char *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void pathf(char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, PATH_MAX, fmt, ap);
    va_end(ap);
}

static void put(const char *path, const char *text)
{
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", path);
    *strrchr(parent, '/') = '\0';
    assert_int_equal(agent_sb__mkdirs(parent, 0755), 0);
    int rv = agent_sb__write_file(path, text, true);
    if (rv != 0)
        fail_msg("write %s: %s", path, cl_strerror(rv));
}

static void expect_file(const char *path, const char *want)
{
    char buf[4096];
    int rv = agent_sb__read_file(path, buf, sizeof(buf), NULL);
    if (rv != 0)
        fail_msg("read %s: %s", path, cl_strerror(rv));
    if (strcmp(buf, want) != 0)
        fail_msg("%s holds '%s', want '%s'", path, buf, want);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* ---- launching --------------------------------------------------------- */

/* start_in - launch couler-exec; `prep` (may be NULL) runs in the child
 * before exec and returns false to abort it. */
static struct run *start_in(struct fx *f, const struct agent_sb_spec *spec,
                            bool (*prep)(void *), void *arg)
{
    char **argv = NULL;
    cl_errmsg em;
    cl_errmsg_clear(&em);
    if (agent_sb_build_argv(spec, &argv, &em) != 0)
        fail_msg("build argv: %s", em.msg);
    assert_true(f->nruns < MAX_RUNS);
    struct run *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    int o[2], e[2];
    assert_int_equal(pipe2(o, O_CLOEXEC), 0);
    assert_int_equal(pipe2(e, O_CLOEXEC), 0);
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        dup2(o[1], 1);
        dup2(e[1], 2);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        if (prep != NULL && !prep(arg))
            _exit(125);
        execv(argv[0], argv);
        _exit(126);
    }
    close(o[1]);
    close(e[1]);
    r->out = o[0];
    r->err = e[0];
    agent_sb_argv_free(argv);
    f->runs[f->nruns++] = r;
    return r;
}

static struct run *start(struct fx *f, const struct agent_sb_spec *spec)
{
    return start_in(f, spec, NULL, NULL);
}

/* pump - read what is available from the run's pipes, up to timeout_ms. */
static void pump(struct run *r, int timeout_ms)
{
    struct pollfd p[2];
    int n = 0;
    if (r->out >= 0)
        p[n++] = (struct pollfd){.fd = r->out, .events = POLLIN};
    if (r->err >= 0)
        p[n++] = (struct pollfd){.fd = r->err, .events = POLLIN};
    if (n == 0 || poll(p, (nfds_t)n, timeout_ms) <= 0)
        return;
    for (int i = 0; i < n; i++) {
        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        bool is_out = p[i].fd == r->out;
        char *buf = is_out ? r->out_buf : r->err_buf;
        size_t *len = is_out ? &r->out_len : &r->err_len;
        size_t room = sizeof(r->out_buf) - 1 - *len;
        ssize_t got = read(p[i].fd, buf + *len, room > 0 ? room : 1);
        if (got > 0 && room > 0) {
            *len += (size_t)got;
            buf[*len] = '\0';
        } else if (got <= 0) {
            close(p[i].fd);
            if (is_out)
                r->out = -1;
            else
                r->err = -1;
        }
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* wait_output - until stdout contains `needle`. */
static void wait_output(struct run *r, const char *needle)
{
    int64_t deadline = now_ms() + RUN_TIMEOUT_MS;
    while (strstr(r->out_buf, needle) == NULL) {
        if (now_ms() > deadline || r->out < 0)
            fail_msg("no '%s' on stdout; got '%s', stderr '%s'", needle,
                     r->out_buf, r->err_buf);
        pump(r, 50);
    }
}

static int finish(struct run *r)
{
    int64_t deadline = now_ms() + RUN_TIMEOUT_MS;
    while (r->out >= 0 || r->err >= 0) {
        if (now_ms() > deadline)
            fail_msg("couler-exec %ld did not finish; stdout '%s' stderr "
                     "'%s'",
                     (long)r->pid, r->out_buf, r->err_buf);
        pump(r, 100);
    }
    int st = 0;
    for (;;) {
        pid_t w = waitpid(r->pid, &st, WNOHANG);
        if (w == r->pid)
            break;
        if (now_ms() > deadline)
            fail_msg("couler-exec %ld did not exit", (long)r->pid);
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    r->pid = 0;
    r->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r->code;
}

static int run_spec(struct fx *f, const struct agent_sb_spec *spec,
                    struct run **out)
{
    struct run *r = start(f, spec);
    int code = finish(r);
    if (out != NULL)
        *out = r;
    return code;
}

/* spec_sh - a spec running `sh -c script` with a view in <dir>/<name>. */
struct step {
    struct agent_sb_spec spec;
    const char *argv[4];
    char view[PATH_MAX];
    char script[2048];
};

static void step_init(struct step *s, const struct fx *f, const char *name,
                      const char *script)
{
    memset(s, 0, sizeof(*s));
    pathf(s->view, "%s/%s/view", f->dir, name);
    snprintf(s->script, sizeof(s->script), "%s", script);
    s->argv[0] = "sh";
    s->argv[1] = "-c";
    s->argv[2] = s->script;
    s->spec.exec_path = exec_path;
    s->spec.view_dir = s->view;
    s->spec.require_isolation = true;
    s->spec.workdir = "/";
    s->spec.argv = s->argv;
    s->spec.argc = 3;
}

static void assert_run(const struct run *r, int code, const char *out)
{
    if (r->code != code || (out != NULL && strcmp(r->out_buf, out) != 0))
        fail_msg("exit %d stdout '%s' stderr '%s'; want exit %d stdout '%s'",
                 r->code, r->out_buf, r->err_buf, code, out ? out : "(any)");
}

/* ---- fixture ----------------------------------------------------------- */

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/var/tmp/couler-sb-exec.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    /* A second temp dir on a filesystem other than the root's exercises
     * the other upper-layer placement. */
    struct statfs a, b;
    snprintf(f->shm, sizeof(f->shm), "/dev/shm/couler-sb-exec.XXXXXX");
    if (statfs("/", &a) != 0 || statfs("/dev/shm", &b) != 0 ||
        a.f_type == b.f_type || mkdtemp(f->shm) == NULL)
        f->shm[0] = '\0';
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int bad = 0;
    for (size_t i = 0; i < f->nruns; i++) {
        struct run *r = f->runs[i];
        if (r->pid > 0) {
            /* Still there after a failed assertion: the launcher leads its
             * own process group. */
            (void)kill(-r->pid, SIGKILL);
            (void)kill(r->pid, SIGKILL);
            (void)waitpid(r->pid, NULL, 0);
        }
        if (r->out >= 0)
            close(r->out);
        if (r->err >= 0)
            close(r->err);
        free(r);
    }
    if (f->cg != NULL) {
        if (agent_sb_cg_destroy(f->cg, NULL) != 0)
            bad = 1;
        agent_sb_cg_close(f->cg);
    }
    cl_errmsg em;
    if (agent_sb_rmtree(f->dir, &em) != 0) {
        fprintf(stderr, "# %s\n", em.msg);
        bad = 1;
    }
    if (f->shm[0] != '\0' && agent_sb_rmtree(f->shm, &em) != 0)
        bad = 1;
    free(f);
    return bad ? -1 : 0;
}

/* ---- tests ------------------------------------------------------------- */

/* Two steps at once write the same absolute paths; each sees and hands
 * back its own content; the host's / is unchanged. */
static void test_parallel_private_paths(void **state)
{
    struct fx *f = *state;
    char host_x_before[256] = "";
    bool had_x = agent_sb__read_file("/tmp/x", host_x_before,
                                     sizeof(host_x_before), NULL) == 0;
    char sentinel[PATH_MAX];
    pathf(sentinel, "%s/sentinel", f->dir);
    put(sentinel, "keep");
    assert_false(exists("/result.txt"));

    struct step s[2];
    struct agent_sb_map collects[2][2];
    char out[2][2][PATH_MAX];
    struct run *r[2];
    const char *ids[2] = {"A", "B"};
    const char *envs[2][1] = {{"ID=A"}, {"ID=B"}};
    char script[1024];
    snprintf(script, sizeof(script),
             "echo $ID > /result.txt && echo x$ID > /tmp/x && "
             "echo $ID > %s && rm -f %s && echo $ID > /etc/couler-sb-marker "
             "&& sleep 0.3 && cat /result.txt /tmp/x",
             sentinel, sentinel);
    for (int i = 0; i < 2; i++) {
        step_init(&s[i], f, ids[i], script);
        pathf(out[i][0], "%s/%s/out/result.txt", f->dir, ids[i]);
        pathf(out[i][1], "%s/%s/out/x", f->dir, ids[i]);
        collects[i][0] = (struct agent_sb_map){"/result.txt", out[i][0]};
        collects[i][1] = (struct agent_sb_map){"/tmp/x", out[i][1]};
        s[i].spec.collects = collects[i];
        s[i].spec.n_collects = 2;
        s[i].spec.env = envs[i];
        s[i].spec.n_env = 1;
        r[i] = start(f, &s[i].spec);
    }
    for (int i = 0; i < 2; i++)
        finish(r[i]);
    assert_run(r[0], 0, "A\nxA\n");
    assert_run(r[1], 0, "B\nxB\n");
    expect_file(out[0][0], "A\n");
    expect_file(out[0][1], "xA\n");
    expect_file(out[1][0], "B\n");
    expect_file(out[1][1], "xB\n");

    assert_false(exists("/result.txt"));
    assert_false(exists("/etc/couler-sb-marker"));
    expect_file(sentinel, "keep");
    char host_x_after[256] = "";
    bool has_x = agent_sb__read_file("/tmp/x", host_x_after,
                                     sizeof(host_x_after), NULL) == 0;
    assert_int_equal(had_x, has_x);
    assert_string_equal(host_x_before, host_x_after);
    /* The writes went to each step's own upper layer on disk. */
    char upper[PATH_MAX];
    pathf(upper, "%s/upper/result.txt", s[0].view);
    expect_file(upper, "A\n");
}

/* The view dir on a filesystem other than / (tmpfs here). */
static void test_view_on_other_fs(void **state)
{
    struct fx *f = *state;
    if (f->shm[0] == '\0')
        skip();
    struct step s;
    step_init(&s, f, "shm", "echo shm > /output && cat /output");
    pathf(s.view, "%s/view", f->shm);
    char dst[PATH_MAX];
    pathf(dst, "%s/collected", f->dir);
    struct agent_sb_map c = {"/output", dst};
    s.spec.collects = &c;
    s.spec.n_collects = 1;
    struct run *r;
    run_spec(f, &s.spec, &r);
    assert_run(r, 0, "shm\n");
    expect_file(dst, "shm\n");
    assert_false(exists("/output"));
}

/* odd_fs - in the child only: a private mount namespace where <dir>/m is
 * an overlayfs, which cannot serve as another overlay's upper layer. */
static bool odd_fs(void *arg)
{
    const char *dir = arg;
    char l[PATH_MAX], u[PATH_MAX], m[PATH_MAX], opts[3 * PATH_MAX];
    snprintf(l, sizeof(l), "%s/l", dir);
    snprintf(u, sizeof(u), "%s/u", dir);
    snprintf(m, sizeof(m), "%s/m", dir);
    if (unshare(CLONE_NEWNS) != 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", u, "tmpfs", 0, "mode=0755") != 0)
        return false;
    snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s/u,workdir=%s/w", l, u,
             u);
    char uu[PATH_MAX + 4], uw[PATH_MAX + 4];
    snprintf(uu, sizeof(uu), "%s/u", u);
    snprintf(uw, sizeof(uw), "%s/w", u);
    return mkdir(uu, 0755) == 0 && mkdir(uw, 0755) == 0 &&
           mount("overlay", m, "overlay", 0, opts) == 0;
}

/* A view dir whose filesystem cannot hold an upper layer: the layer goes
 * to a tmpfs in the launcher's namespace, and the step still sees none of
 * the launcher's own mounts. */
static void test_upper_in_memory(void **state)
{
    struct fx *f = *state;
    char base[PATH_MAX], p[PATH_MAX], out[PATH_MAX];
    pathf(base, "%s/odd", f->dir);
    for (const char *sub = "lum"; *sub; sub++) {
        pathf(p, "%s/%c", base, *sub);
        assert_int_equal(agent_sb__mkdirs(p, 0755), 0);
    }
    pathf(out, "%s/collected", f->dir);
    char script[1024];
    snprintf(script, sizeof(script),
             "echo inmem > /r.txt && grep -c ' %s/m/view' /proc/self/mountinfo",
             base);
    struct step s;
    step_init(&s, f, "odd", script);
    pathf(s.view, "%s/m/view", base);
    struct agent_sb_map c = {"/r.txt", out};
    s.spec.collects = &c;
    s.spec.n_collects = 1;
    struct run *r = start_in(f, &s.spec, odd_fs, base);
    finish(r);
    /* One line: the empty tmpfs that hides the view dir. */
    assert_run(r, 0, "1\n");
    expect_file(out, "inmem\n");
}

/* Inputs are placed at absolute paths before the step runs; parallel
 * steps staging the same path each see their own. */
static void test_stage_inputs(void **state)
{
    struct fx *f = *state;
    char msg[PATH_MAX], dir_b[PATH_MAX], tmpdir[PATH_MAX], p[PATH_MAX];
    pathf(msg, "%s/in/message", f->dir);
    put(msg, "hello world\n");
    pathf(p, "%s/in/dir/a/b", f->dir);
    put(p, "deep\n");
    pathf(dir_b, "%s/in/dir", f->dir);
    pathf(tmpdir, "%s/stage-tmp", f->dir);
    assert_int_equal(agent_sb__mkdirs(tmpdir, 0755), 0);

    struct step s;
    step_init(&s, f, "stage",
              "cat /tmp/message /inputs/dir/a/b /ro/message; "
              "(echo x > /ro/message) 2>/dev/null && echo writable || "
              "echo readonly; echo changed > /tmp/message");
    struct agent_sb_map st[2] = {{msg, "/tmp/message"}, {dir_b, "/inputs/dir"}};
    struct agent_sb_map ro = {msg, "/ro/message"};
    s.spec.stages = st;
    s.spec.n_stages = 2;
    s.spec.stages_ro = &ro;
    s.spec.n_stages_ro = 1;
    s.spec.tmp_dir = tmpdir;
    struct run *r;
    run_spec(f, &s.spec, &r);
    assert_run(r, 0, "hello world\ndeep\nhello world\nreadonly\n");
    /* /tmp was the agent's dir; the source stayed as it was. */
    pathf(p, "%s/message", tmpdir);
    expect_file(p, "changed\n");
    expect_file(msg, "hello world\n");

    /* Two parallel steps, one destination, different inputs. */
    bool had_items = exists("/tmp/items");
    struct step par[2];
    char src[2][PATH_MAX];
    struct agent_sb_map maps[2];
    struct run *runs[2];
    for (int i = 0; i < 2; i++) {
        pathf(src[i], "%s/in/items-%d", f->dir, i);
        put(src[i], i == 0 ? "[\"a\"]\n" : "[\"b\"]\n");
        step_init(&par[i], f, i == 0 ? "items0" : "items1",
                  "sleep 0.2; cat /tmp/items");
        maps[i] = (struct agent_sb_map){src[i], "/tmp/items"};
        par[i].spec.stages = &maps[i];
        par[i].spec.n_stages = 1;
        runs[i] = start(f, &par[i].spec);
    }
    finish(runs[0]);
    finish(runs[1]);
    assert_run(runs[0], 0, "[\"a\"]\n");
    assert_run(runs[1], 0, "[\"b\"]\n");
    if (!had_items)
        assert_false(exists("/tmp/items"));
}

/* --tmp and --bind reach the host; a whole directory is collected; a
 * missing output leaves its destination absent. */
static void test_tmp_bind_collect(void **state)
{
    struct fx *f = *state;
    char tmpdir[PATH_MAX], shared[PATH_MAX], p[PATH_MAX], out_dir[PATH_MAX],
        none[PATH_MAX];
    pathf(tmpdir, "%s/tb-tmp", f->dir);
    pathf(shared, "%s/tb-shared", f->dir);
    assert_int_equal(agent_sb__mkdirs(tmpdir, 0755), 0);
    assert_int_equal(agent_sb__mkdirs(shared, 0755), 0);
    pathf(out_dir, "%s/tb-out/tmpdir", f->dir);
    pathf(none, "%s/tb-out/none", f->dir);
    /* The agent's data dir (here: the test dir, which holds the tmp and
     * shared dirs) is hidden; what is bound from it stays visible. */
    char script[1024];
    snprintf(script, sizeof(script),
             "mkdir -p /tmp/out/sub && echo 1 > /tmp/out/a && "
             "echo 2 > /tmp/out/sub/b && echo s > /shared/s && "
             "ln -s a /tmp/out/link && test -z \"$(ls -A %s)\" && "
             "! touch %s/x 2>/dev/null",
             f->dir, f->dir);
    struct step s;
    step_init(&s, f, "tb", script);
    const char *hides[] = {f->dir};
    s.spec.hides = hides;
    s.spec.n_hides = 1;
    struct agent_sb_map bind = {shared, "/shared"};
    struct agent_sb_map col[2] = {{"/tmp/out", out_dir},
                                  {"/no/such/output", none}};
    s.spec.tmp_dir = tmpdir;
    s.spec.binds = &bind;
    s.spec.n_binds = 1;
    s.spec.collects = col;
    s.spec.n_collects = 2;
    struct run *r;
    run_spec(f, &s.spec, &r);
    assert_run(r, 0, "");
    pathf(p, "%s/out/sub/b", tmpdir);
    expect_file(p, "2\n");
    pathf(p, "%s/s", shared);
    expect_file(p, "s\n");
    pathf(p, "%s/a", out_dir);
    expect_file(p, "1\n");
    pathf(p, "%s/sub/b", out_dir);
    expect_file(p, "2\n");
    pathf(p, "%s/link", out_dir);
    char target[64] = {0};
    assert_int_equal(readlink(p, target, sizeof(target) - 1), 1);
    assert_string_equal(target, "a");
    assert_false(exists(none));
    assert_false(exists("/shared"));
}

static void test_workdir(void **state)
{
    struct fx *f = *state;
    struct step s;
    step_init(&s, f, "wd",
              "pwd; echo r > result.txt; cat /couler-sb-wd/x/"
              "result.txt");
    s.spec.workdir = "/couler-sb-wd/x";
    struct run *r;
    run_spec(f, &s.spec, &r);
    assert_run(r, 0, "/couler-sb-wd/x\nr\n");
    assert_false(exists("/couler-sb-wd"));
}

static void test_affinity(void **state)
{
    struct fx *f = *state;
    struct step s;
    step_init(&s, f, "cpu", "grep Cpus_allowed_list /proc/self/status");
    s.spec.cpus = "0";
    struct run *r;
    run_spec(f, &s.spec, &r);
    assert_run(r, 0, "Cpus_allowed_list:\t0\n");
    assert_string_equal(r->err_buf, "");

    /* A binding for a bigger machine: what exists is applied, with one
     * warning line. */
    step_init(&s, f, "cpu2", "grep Cpus_allowed_list /proc/self/status");
    s.spec.cpus = "0,4088-4095";
    run_spec(f, &s.spec, &r);
    assert_run(r, 0, "Cpus_allowed_list:\t0\n");
    assert_string_equal(r->err_buf,
                        "couler-exec: warning: binding asks for CPUs "
                        "4088-4095 which this machine lacks; using 0\n");
}

static struct agent_sb_group *make_group(struct fx *f, const char *name,
                                         uint64_t mem)
{
    if (f->cg == NULL) {
        char parent[64];
        snprintf(parent, sizeof(parent), "couler-test-exec-%ld",
                 (long)getpid());
        struct agent_sb_cgconf conf = {.parent = parent, .under_self = true};
        cl_errmsg em;
        if (agent_sb_cg_open(&conf, &f->cg, &em) != 0) {
            fprintf(stderr, "# no cgroups: %s\n", em.msg);
            f->cg = NULL;
            return NULL;
        }
    }
    if (!(agent_sb_cg_controllers(f->cg) & AGENT_SB_CTL_MEMORY))
        return NULL;
    struct agent_sb_limits lim = {.mem_bytes = mem};
    struct agent_sb_group *g = NULL;
    cl_errmsg em;
    if (agent_sb_group_create(f->cg, name, &lim, &g, &em) != 0)
        fail_msg("create: %s", em.msg);
    return g;
}

/* A memory hog under a 32 MiB limit is OOM-killed; the agent tells. */
static void test_oom_killed(void **state)
{
    struct fx *f = *state;
    struct agent_sb_group *g = make_group(f, "hog", 32u << 20);
    if (g == NULL)
        skip();
    struct step s;
    step_init(&s, f, "hog", "");
    static const char *const argv[] = {SB_MEMHOG, "256"};
    s.spec.argv = argv;
    s.spec.argc = 2;
    const char *const *paths;
    s.spec.n_cgroups = agent_sb_group_paths(g, &paths);
    s.spec.cgroups = paths;
    struct run *r;
    int code = run_spec(f, &s.spec, &r);
    assert_int_equal(code, 128 + SIGKILL);
    struct agent_sb_usage u;
    cl_errmsg em;
    assert_int_equal(agent_sb_group_usage(g, &u, &em), 0);
    assert_true(agent_sb_oom_killed(&u, code));
    assert_int_equal(agent_sb_group_remove(g, 2000, &em), 0);
    agent_sb_group_free(g);

    /* With room to spare the same program succeeds: no verdict. */
    g = make_group(f, "fits", 256u << 20);
    static const char *const small[] = {SB_MEMHOG, "16"};
    s.spec.argv = small;
    s.spec.n_cgroups = agent_sb_group_paths(g, &paths);
    s.spec.cgroups = paths;
    code = run_spec(f, &s.spec, &r);
    assert_run(r, 0, "done 16\n");
    assert_int_equal(agent_sb_group_usage(g, &u, &em), 0);
    assert_false(agent_sb_oom_killed(&u, code));
    assert_int_equal(agent_sb_group_remove(g, 2000, &em), 0);
    agent_sb_group_free(g);
}

static void test_exit_statuses(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *script;
        int code;
    } cases[] = {
        {"true", 0},
        {"exit 7", 7},
        {"kill -TERM $$", 128 + SIGTERM},
        {"kill -KILL $$", 128 + SIGKILL},
        {"kill -SEGV $$", 128 + SIGSEGV},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct step s;
        step_init(&s, f, "st", cases[i].script);
        struct run *r;
        int code = run_spec(f, &s.spec, &r);
        if (code != cases[i].code)
            fail_msg("'%s': exit %d, want %d (stderr '%s')", cases[i].script,
                     code, cases[i].code, r->err_buf);
    }
}

/* Launcher failures: 127 and exactly one line on stderr. */
static void test_launch_failures(void **state)
{
    struct fx *f = *state;
    /* A view dir that an earlier attempt used is refused. */
    struct step s;
    step_init(&s, f, "again", "echo first > /first");
    struct run *r;
    assert_int_equal(run_spec(f, &s.spec, &r), 0);
    assert_int_equal(run_spec(f, &s.spec, &r), 127);
    assert_non_null(strstr(r->err_buf, "holds an earlier step's layer"));
    assert_int_equal(count_lines(r->err_buf), 1);

    step_init(&s, f, "miss", "");
    static const char *const argv[] = {"no-such-command-xyz", "arg"};
    s.spec.argv = argv;
    s.spec.argc = 2;
    assert_int_equal(run_spec(f, &s.spec, &r), 127);
    assert_string_equal(r->err_buf, "couler-exec: cannot exec "
                                    "'no-such-command-xyz': No such file or "
                                    "directory\n");
    assert_string_equal(r->out_buf, "");

    /* Without a view too. */
    s.spec.view_dir = NULL;
    s.spec.require_isolation = false;
    assert_int_equal(run_spec(f, &s.spec, &r), 127);
    assert_string_equal(r->err_buf, "couler-exec: cannot exec "
                                    "'no-such-command-xyz': No such file or "
                                    "directory\n");

    char missing[PATH_MAX];
    pathf(missing, "%s/does-not-exist", f->dir);
    step_init(&s, f, "miss2", "echo never");
    struct agent_sb_map st = {missing, "/tmp/in"};
    s.spec.stages = &st;
    s.spec.n_stages = 1;
    assert_int_equal(run_spec(f, &s.spec, &r), 127);
    assert_string_equal(r->out_buf, "");
    assert_non_null(strstr(r->err_buf, "couler-exec: stage '"));
    assert_non_null(strstr(r->err_buf, "does-not-exist"));
    assert_int_equal(count_lines(r->err_buf), 1);

    step_init(&s, f, "miss3", "echo never");
    static const char *const cg[] = {"/sys/fs/cgroup/no-such-cgroup-xyz"};
    s.spec.cgroups = cg;
    s.spec.n_cgroups = 1;
    assert_int_equal(run_spec(f, &s.spec, &r), 127);
    assert_string_equal(r->err_buf,
                        "couler-exec: cannot join cgroup "
                        "'/sys/fs/cgroup/no-such-cgroup-xyz': No such file "
                        "or directory\n");
}

/* live_in_group - processes of process group pg that are not zombies. */
static int live_in_group(pid_t pg)
{
    DIR *d = opendir("/proc");
    assert_non_null(d);
    int live = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char path[300], buf[1024];
        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        int rv = agent_sb__read_file(path, buf, sizeof(buf), NULL);
        if (rv != 0 && rv != CL_ETOOBIG)
            continue;
        char *rp = strrchr(buf, ')');
        char state;
        long ppid, pgrp;
        if (rp != NULL &&
            sscanf(rp + 1, " %c %ld %ld", &state, &ppid, &pgrp) == 3 &&
            pgrp == (long)pg && state != 'Z' && state != 'X')
            live++;
    }
    closedir(d);
    return live;
}

/* SIGTERM to the launcher reaches the step; a second one kills it all;
 * nothing the step started outlives it. */
static void test_signals(void **state)
{
    struct fx *f = *state;
    struct step s;
    step_init(&s, f, "sig1",
              "trap 'echo got-term; exit 3' TERM; echo ready; "
              "while :; do sleep 0.05; done");
    struct run *r = start(f, &s.spec);
    wait_output(r, "ready\n");
    assert_int_equal(kill(r->pid, SIGTERM), 0);
    finish(r);
    assert_run(r, 3, "ready\ngot-term\n");

    /* A step that ignores SIGTERM: the second one is a SIGKILL for all. */
    step_init(&s, f, "sig2", "trap '' TERM; echo ready; sleep 100");
    r = start(f, &s.spec);
    wait_output(r, "ready\n");
    assert_int_equal(kill(r->pid, SIGTERM), 0);
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_int_equal(waitpid(r->pid, NULL, WNOHANG), 0); /* still running */
    assert_int_equal(kill(r->pid, SIGTERM), 0);
    finish(r);
    assert_run(r, 128 + SIGKILL, "ready\n");

    /* Leftovers, including one that left the process group and session,
     * are killed when the main process exits. */
    step_init(&s, f, "sig3",
              "setsid sleep 100 & echo $!; sleep 100 & echo $!; exit 4");
    run_spec(f, &s.spec, &r);
    assert_int_equal(r->code, 4);
    long p1 = 0, p2 = 0;
    assert_int_equal(sscanf(r->out_buf, "%ld\n%ld", &p1, &p2), 2);
    assert_true(p1 > 0 && p2 > 0);
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld", p1);
    assert_false(exists(path));
    snprintf(path, sizeof(path), "/proc/%ld", p2);
    assert_false(exists(path));

    /* The agent's SIGKILL of the process group ends the step too. */
    step_init(&s, f, "sig4", "echo ready; sleep 100");
    r = start(f, &s.spec);
    wait_output(r, "ready\n");
    pid_t pg = r->pid;
    assert_int_equal(getpgid(pg), pg); /* it leads its own group */
    assert_int_equal(kill(-pg, SIGKILL), 0);
    finish(r);
    assert_int_equal(r->code, 128 + SIGKILL);
    /* Whoever reaps them, no process of that group is still running. */
    int live = 0;
    for (int i = 0; i < 200 && (live = live_in_group(pg)) > 0; i++)
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    assert_int_equal(live, 0);
}

/* Without root there is no view: a warning, and the step still runs;
 * --require-isolation refuses instead. */
static void test_fallback_without_root(void **state)
{
    struct fx *f = *state;
    for (int strict = 0; strict < 2; strict++) {
        char view[PATH_MAX];
        pathf(view, "%s/fallback/view", f->dir);
        struct step s;
        step_init(&s, f, "fallback", "echo ran");
        s.spec.view_dir = view;
        s.spec.require_isolation = strict;
        s.spec.workdir = NULL;
        char **argv = NULL;
        assert_int_equal(agent_sb_build_argv(&s.spec, &argv, NULL), 0);
        int o[2], e[2];
        assert_int_equal(pipe(o), 0);
        assert_int_equal(pipe(e), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            dup2(o[1], 1);
            dup2(e[1], 2);
            close(o[0]);
            close(e[0]);
            if (chdir("/") != 0 || setgroups(0, NULL) != 0 ||
                setgid(65534) != 0 || setuid(65534) != 0)
                _exit(125);
            execv(argv[0], argv);
            _exit(126);
        }
        agent_sb_argv_free(argv);
        close(o[1]);
        close(e[1]);
        struct run *r = calloc(1, sizeof(*r));
        assert_non_null(r);
        r->pid = pid;
        r->out = o[0];
        r->err = e[0];
        f->runs[f->nruns++] = r;
        finish(r);
        if (strict) {
            assert_run(r, 127, "");
            assert_string_equal(r->err_buf,
                                "couler-exec: not running as root\n");
        } else {
            assert_run(r, 0, "ran\n");
            assert_string_equal(r->err_buf,
                                "couler-exec: warning: no private filesystem "
                                "view (not running as root); the step runs on "
                                "the host filesystem\n");
        }
        assert_false(exists(view));
    }
}

/* sweep_stale - cgroup parents of earlier runs that were killed before
 * their teardown (couler-test-exec-<pid> whose pid is gone). */
static void sweep_stale(void)
{
    char probe[64];
    snprintf(probe, sizeof(probe), "couler-test-exec-%ld", (long)getpid());
    struct agent_sb_cgconf conf = {.parent = probe, .under_self = true};
    struct agent_sb_cg *cg = NULL;
    if (agent_sb_cg_open(&conf, &cg, NULL) != 0)
        return;
    const char *const *parents;
    size_t n = agent_sb_cg_parents(cg, &parents);
    for (size_t i = 0; i < n; i++) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", parents[i]);
        *strrchr(dir, '/') = '\0';
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d != NULL && (de = readdir(d)) != NULL) {
            long pid;
            char tail;
            if (sscanf(de->d_name, "couler-test-exec-%ld%c", &pid, &tail) !=
                    1 ||
                (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
                continue;
            struct agent_sb_cgconf old = {.parent = de->d_name,
                                          .under_self = true};
            struct agent_sb_cg *ocg = NULL;
            if (agent_sb_cg_open(&old, &ocg, NULL) == 0) {
                (void)agent_sb_cg_destroy(ocg, NULL);
                agent_sb_cg_close(ocg);
            }
        }
        if (d != NULL)
            closedir(d);
    }
    (void)agent_sb_cg_destroy(cg, NULL);
    agent_sb_cg_close(cg);
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "couler-exec integration tests need root; skipped\n");
        return 77;
    }
    const char *e = getenv("COULER_EXEC");
    const char *b = getenv("COULER_BUILD_DIR");
    if (e != NULL)
        snprintf(exec_path, sizeof(exec_path), "%s", e);
    else if (b != NULL)
        snprintf(exec_path, sizeof(exec_path), "%s/bin/couler-exec", b);
    else
        snprintf(exec_path, sizeof(exec_path), "couler-exec");
    if (access(exec_path, X_OK) != 0) {
        fprintf(stderr, "%s: %s\n", exec_path, strerror(errno));
        return 1;
    }
    sweep_stale();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parallel_private_paths, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_view_on_other_fs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upper_in_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stage_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tmp_bind_collect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_workdir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_affinity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oom_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exit_statuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_launch_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fallback_without_root, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
