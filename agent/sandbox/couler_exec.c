/* couler_exec.c - couler-exec, the step launcher.
 *
 * The agent spawns `couler-exec [options] -- CMD ARGS...` in place of the
 * step command (uv_spawn cannot run code between fork and exec). The
 * launcher:
 *
 *   1. parses its options (agent_sb_opts_parse; see --help);
 *   2. leads a new session and process group, and becomes a child
 *      subreaper, so that every process the step starts stays below it;
 *   3. sets up the private filesystem view (view.c) and stages inputs;
 *   4. forks the step, which joins its cgroups, takes its CPU affinity,
 *      enters the view, changes directory and execs CMD;
 *   5. forwards signals to the process group while the step runs;
 *   6. when the step's main process exits, kills what it left behind,
 *      copies the --collect paths out, and exits with the step's status
 *      (128+N for a signal).
 *
 * A failure before exec is exit status 127 with one line on stderr that
 * starts with "couler-exec: ". The launcher never writes to stdout (the
 * agent captures the step's stdout as its result), except for --help.
 */
#include "agent/sandbox/sb_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cl_heap.h"

#define LAUNCH_FAILED 127

static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
    char line[1024];
    vsnprintf(line, sizeof(line), fmt, ap);
    /* One line, whatever the message holds. */
    for (char *p = line; *p; p++)
        if (*p == '\n')
            *p = ' ';
    fprintf(stderr, "couler-exec: %s%s\n", prefix, line);
    fflush(stderr);
}

static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("warning: ", fmt, ap);
    va_end(ap);
}

/* die - a launcher failure: one line, exit 127. In the forked child it
 * must not run atexit handlers or flush the parent's buffers twice. */
static void die(bool child, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
static void die(bool child, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("", fmt, ap);
    va_end(ap);
    if (child)
        _exit(LAUNCH_FAILED);
    exit(LAUNCH_FAILED);
}

/* ---- CPU affinity ------------------------------------------------------ */

static void apply_cpus(const struct agent_sb_cpus *want)
{
    size_t size = CPU_ALLOC_SIZE(AGENT_SB_MAX_CPUS);
    cpu_set_t *set = CPU_ALLOC(AGENT_SB_MAX_CPUS);
    if (set == NULL)
        die(true, "cannot set CPU affinity: out of memory");
    CPU_ZERO_S(size, set);
    if (sched_getaffinity(0, size, set) != 0)
        die(true, "cannot read CPU affinity: %s", strerror(errno));
    struct agent_sb_cpus avail, use, lack;
    agent_sb_cpus_zero(&avail);
    for (unsigned c = 0; c < AGENT_SB_MAX_CPUS; c++)
        if (CPU_ISSET_S(c, size, set))
            agent_sb_cpus_set(&avail, c);
    agent_sb_cpus_and(&use, want, &avail);
    agent_sb_cpus_andnot(&lack, want, &avail);
    if (!agent_sb_cpus_empty(&lack)) {
        /* The placement may describe a bigger machine than this one (an
         * hwloc XML topology): honour what exists and say so. */
        if (agent_sb_cpus_empty(&use))
            use = avail;
        char lt[512], ut[512];
        agent_sb_cpus_format(&lack, lt, sizeof(lt));
        agent_sb_cpus_format(&use, ut, sizeof(ut));
        warn("binding asks for CPUs %s which this machine lacks; using %s", lt,
             ut);
    }
    CPU_ZERO_S(size, set);
    for (unsigned c = 0; c < AGENT_SB_MAX_CPUS; c++)
        if (agent_sb_cpus_isset(&use, c))
            CPU_SET_S(c, size, set);
    if (sched_setaffinity(0, size, set) != 0) {
        char ut[512];
        agent_sb_cpus_format(&use, ut, sizeof(ut));
        die(true, "cannot bind to CPUs %s: %s", ut, strerror(errno));
    }
    CPU_FREE(set);
}

/* ---- the step (child side) --------------------------------------------- */

static void join_cgroups(const struct agent_sb_opts *o)
{
    char pid[32];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    for (size_t i = 0; i < o->n_cgroups; i++) {
        char path[PATH_MAX];
        int rv =
            agent_sb__join(path, sizeof(path), o->cgroups[i], "cgroup.procs");
        if (rv == 0)
            rv = agent_sb__write_file(path, pid, false);
        if (rv != 0)
            die(true, "cannot join cgroup '%s': %s", o->cgroups[i],
                rv == CL_ENOENT ? "No such file or directory"
                                : cl_strerror(rv));
    }
}

static void reset_signals(const sigset_t *mask)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (int s = 1; s < NSIG; s++) {
        if (s == SIGKILL || s == SIGSTOP)
            continue;
        (void)sigaction(s, &sa, NULL); /* glibc's reserved ones: EINVAL */
    }
    sigprocmask(SIG_SETMASK, mask, NULL);
}

static void run_step(const struct agent_sb_opts *o,
                     const struct agent_sb__view *v, const char *cwd,
                     pid_t launcher, const sigset_t *orig_mask)
{
    /* The step dies with its launcher, whoever kills it. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != launcher)
        _exit(LAUNCH_FAILED);
    join_cgroups(o);
    if (o->has_cpus)
        apply_cpus(&o->cpus);
    if (v->isolated) {
        cl_errmsg em;
        cl_errmsg_clear(&em);
        if (agent_sb__view_enter(v, &em) != 0)
            die(true, "%s", em.msg);
    }
    if (o->workdir != NULL) {
        int rv = agent_sb__mkdirs(o->workdir, 0755);
        if (rv != 0 || chdir(o->workdir) != 0)
            die(true, "cannot use working directory '%s': %s", o->workdir,
                rv != 0 ? cl_strerror(rv) : strerror(errno));
    } else if (chdir(cwd) != 0) {
        warn("working directory %s is not in the step's view; using /", cwd);
        if (chdir("/") != 0)
            die(true, "cannot chdir to /: %s", strerror(errno));
    }
    for (size_t i = 0; i < o->n_env; i++) {
        /* putenv keeps the pointer: the options live until exec. */
        if (putenv(o->env[i]) != 0)
            die(true, "cannot set '%s': %s", o->env[i], strerror(errno));
    }
    if (!v->isolated && o->tmp_dir != NULL)
        setenv("TMPDIR", o->tmp_dir, 1);
    reset_signals(orig_mask);
    execvp(o->argv[0], o->argv);
    die(true, "cannot exec '%s': %s", o->argv[0], strerror(errno));
}

/* ---- the launcher (parent side) ---------------------------------------- */

/* descendants - pids below `self` (children, grandchildren, and orphans
 * that the subreaper flag brought back to us). *out is cl_malloc'd. */
struct proc {
    pid_t pid, ppid;
};

static int cmp_proc(const void *a, const void *b)
{
    pid_t x = ((const struct proc *)a)->pid, y = ((const struct proc *)b)->pid;
    return (x > y) - (x < y);
}

static size_t descendants(pid_t self, pid_t **out)
{
    *out = NULL;
    DIR *d = opendir("/proc");
    if (d == NULL)
        return 0;
    size_t n = 0, cap = 0;
    struct proc *ps = NULL;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *end;
        long p = strtol(de->d_name, &end, 10);
        if (*end != '\0' || p <= 0)
            continue;
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%ld/stat", p);
        int rv = agent_sb__read_file(path, buf, sizeof(buf), NULL);
        if (rv != 0 && rv != CL_ETOOBIG)
            continue; /* gone meanwhile */
        /* "pid (comm) state ppid ...": comm may hold spaces and ')'. */
        char *rp = strrchr(buf, ')');
        char state;
        long pp;
        if (rp == NULL || sscanf(rp + 1, " %c %ld", &state, &pp) != 2)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            struct proc *np = cl_realloc(ps, ncap * sizeof(*np));
            if (np == NULL)
                break;
            ps = np;
            cap = ncap;
        }
        ps[n].pid = (pid_t)p;
        ps[n].ppid = (pid_t)pp;
        n++;
    }
    closedir(d);
    if (n == 0) {
        cl_free(ps);
        return 0;
    }
    qsort(ps, n, sizeof(*ps), cmp_proc);
    pid_t *found = cl_malloc(n * sizeof(*found));
    size_t nf = 0;
    for (size_t i = 0; found != NULL && i < n; i++) {
        /* Walk up the parent chain; a process tree is shallow. */
        const struct proc *p = &ps[i];
        for (int depth = 0; depth < 512; depth++) {
            if (p->ppid == self) {
                found[nf++] = ps[i].pid;
                break;
            }
            struct proc key = {p->ppid, 0};
            p = p->ppid > 1 ? bsearch(&key, ps, n, sizeof(*ps), cmp_proc)
                            : NULL;
            if (p == NULL)
                break;
        }
    }
    cl_free(ps);
    *out = found;
    return nf;
}

/* kill_cgroups - SIGKILL every process in the step's cgroups (those that
 * left the process tree with a double fork into another parent). */
static void kill_cgroups(const struct agent_sb_opts *o, pid_t self)
{
    for (size_t i = 0; i < o->n_cgroups; i++) {
        char path[PATH_MAX];
        char *text = NULL;
        if (agent_sb__join(path, sizeof(path), o->cgroups[i], "cgroup.procs") !=
                0 ||
            agent_sb__read_alloc(path, &text, NULL) != 0)
            continue;
        for (char *p = text; *p;) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p) {
                p++;
                continue;
            }
            if (v > 0 && v != self)
                (void)kill((pid_t)v, SIGKILL);
            p = end;
        }
        cl_free(text);
    }
}

/* reap - collect every exited child; note the step's status. */
static void reap(pid_t step, bool *done, int *status)
{
    for (;;) {
        int st;
        pid_t r = waitpid(-1, &st, WNOHANG);
        if (r <= 0)
            break;
        if (r == step) {
            *done = true;
            *status = st;
        }
    }
}

/* kill_everything - SIGKILL all descendants and cgroup members until none
 * is left (bounded: a process in uninterruptible sleep may linger). */
static void kill_everything(const struct agent_sb_opts *o, pid_t step,
                            bool *done, int *status)
{
    pid_t self = getpid();
    for (int round = 0; round < 400; round++) {
        pid_t *pids = NULL;
        size_t n = descendants(self, &pids);
        for (size_t i = 0; i < n; i++)
            (void)kill(pids[i], SIGKILL);
        cl_free(pids);
        kill_cgroups(o, self);
        reap(step, done, status);
        if (n == 0)
            return;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    warn("processes of the step are still exiting");
}

static int exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return LAUNCH_FAILED;
}

static void collect_outputs(const struct agent_sb_opts *o, int rootfd)
{
    for (size_t i = 0; i < o->n_collects; i++) {
        cl_errmsg em;
        cl_errmsg_clear(&em);
        int rv = agent_sb__copy_out(rootfd, o->collects[i].src,
                                    o->collects[i].dst, &em);
        /* A path the step did not create is the agent's to judge (Argo:
         * an error unless the output is optional or has a default). */
        if (rv != 0 && rv != CL_ENOENT)
            warn("%s", em.msg);
    }
}

int main(int argc, char **argv)
{
    struct agent_sb_opts o;
    cl_errmsg em;
    cl_errmsg_clear(&em);
    if (agent_sb_opts_parse(argc, argv, &o, &em) != 0)
        die(false, "%s", em.msg);
    if (o.help) {
        fputs(agent_sb_usage_text(), stdout);
        agent_sb_opts_free(&o);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Lead a session and process group of our own (uv_spawn with
     * UV_PROCESS_DETACHED already made us one): the agent's pid for us is
     * then also the step's process-group id. */
    if (getpgrp() != getpid())
        (void)setsid();
    /* Orphans of the step come back to us, so we can end them. */
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1);

    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        strcpy(cwd, "/");

    struct agent_sb__view v;
    agent_sb__view_init(&v);
    if (o.view_dir != NULL) {
        bool can_fallback = false;
        int rv = agent_sb__view_setup(&o, &v, &can_fallback, &em);
        if (rv != 0) {
            if (!can_fallback || o.require_isolation)
                die(false, "%s", em.msg);
            warn("no private filesystem view (%s); the step runs on the host "
                 "filesystem",
                 em.msg);
        }
    } else if (o.require_isolation) {
        die(false, "--require-isolation needs --rootfs-upper");
    }
    if (!v.isolated) {
        v.rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (v.rootfd < 0)
            die(false, "open /: %s", strerror(errno));
        if (o.n_binds > 0 || o.n_hides > 0)
            warn("--bind and --hide need the private view; ignored");
        /* Inputs still go where the step looks for them. */
        for (size_t k = 0; k < 2; k++) {
            struct agent_sb_pair *p = k == 0 ? o.stages_ro : o.stages;
            size_t n = k == 0 ? o.n_stages_ro : o.n_stages;
            for (size_t i = 0; i < n; i++)
                if (agent_sb__copy_in(p[i].src, v.rootfd, p[i].dst, &em) != 0)
                    die(false, "%s", em.msg);
        }
    }

    sigset_t fwd, orig;
    sigemptyset(&fwd);
    sigaddset(&fwd, SIGCHLD);
    sigaddset(&fwd, SIGTERM);
    sigaddset(&fwd, SIGINT);
    sigaddset(&fwd, SIGHUP);
    sigaddset(&fwd, SIGQUIT);
    sigaddset(&fwd, SIGUSR1);
    sigaddset(&fwd, SIGUSR2);
    sigprocmask(SIG_BLOCK, &fwd, &orig);

    fflush(NULL);
    pid_t self = getpid();
    pid_t pgrp = getpgrp();
    pid_t step = fork();
    if (step < 0)
        die(false, "fork: %s", strerror(errno));
    if (step == 0)
        run_step(&o, &v, cwd, self, &orig);

    bool done = false;
    int status = 0, terms = 0;
    while (!done) {
        siginfo_t si;
        int sig = sigwaitinfo(&fwd, &si);
        if (sig < 0)
            continue; /* EINTR */
        if (sig == SIGCHLD) {
            reap(step, &done, &status);
            continue;
        }
        bool sent = si.si_code == SI_USER || si.si_code == SI_QUEUE ||
                    si.si_code == SI_TKILL;
        /* Our own forward coming back, or a member of the step signalling
         * its own group: already delivered where it belongs. */
        if (sent && (si.si_pid == self ||
                     (si.si_pid > 0 && getpgid(si.si_pid) == pgrp)))
            continue;
        if (sig == SIGTERM || sig == SIGINT) {
            if (++terms >= 2) {
                kill_everything(&o, step, &done, &status);
                continue;
            }
        }
        /* A terminal's signal reached the whole foreground group already. */
        if (si.si_code != SI_KERNEL)
            (void)kill(-pgrp, sig);
    }
    /* The step's main process is gone: as when a container's main process
     * exits, nothing it started outlives it. */
    kill_everything(&o, step, &done, &status);
    collect_outputs(&o, v.rootfd);
    agent_sb__view_close(&v);
    agent_sb_opts_free(&o);
    return exit_code(status);
}
