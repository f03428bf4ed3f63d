/* argv.c - the couler-exec command line, built by the agent and parsed by
 * the launcher. Both directions live here so they cannot drift apart. */
#include "agent/sandbox/sandbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cl_buf.h"
#include "common/cl_heap.h"

static const char usage_text[] =
    "usage: couler-exec [options] -- COMMAND [ARGS...]\n"
    "\n"
    "Runs one workflow step: sets up its private filesystem view, cgroups\n"
    "and CPU affinity, runs COMMAND as a child, forwards signals, copies\n"
    "requested outputs out and exits with COMMAND's status.\n"
    "\n"
    "Filesystem view (needs root; see --require-isolation):\n"
    "  --rootfs-upper DIR   give the step a private writable layer over the\n"
    "                       host's /: an overlay (lower /, upper DIR/upper,\n"
    "                       work DIR/work) in a new mount namespace, with\n"
    "                       /proc, /sys, /dev, /run and the host's other\n"
    "                       mounts (not /tmp) bound in. Writes to any path\n"
    "                       stay in DIR; the host's / is never changed. DIR\n"
    "                       is created if missing; remove it afterwards.\n"
    "  --tmp DIR            bind-mount host DIR on the view's /tmp\n"
    "  --hide PATH          cover PATH in the view with an empty read-only\n"
    "                       directory (the agent's data dir); may repeat\n"
    "  --bind SRC[:DST]     bind-mount host SRC read-write at DST (default\n"
    "                       the same path); may repeat\n"
    "  --stage SRC:DST      copy host file or directory SRC to DST in the\n"
    "                       view before the step starts; may repeat\n"
    "  --stage-ro SRC:DST   bind-mount host SRC read-only at DST; may repeat\n"
    "  --collect PATH:DEST  after the step exits, copy PATH (file or\n"
    "                       directory, as the step saw it) to host DEST,\n"
    "                       atomically; a PATH that does not exist leaves\n"
    "                       DEST absent; may repeat\n"
    "  --require-isolation  fail (exit 127) instead of running on the host\n"
    "                       filesystem when the view cannot be set up\n"
    "  In SRC:DST, write a ':' or '\\' inside a path as '\\:' or '\\\\'.\n"
    "\n"
    "Process:\n"
    "  --workdir DIR        working directory in the view, created if\n"
    "                       missing (default: the current directory)\n"
    "  --cgroup DIR         join cgroup directory DIR before exec; may repeat\n"
    "  --cpus LIST          CPU affinity, e.g. 0-3,8; CPUs this machine lacks\n"
    "                       are dropped with a warning\n"
    "  --env KEY=VALUE      set an environment variable; may repeat\n"
    "  -h, --help           print this help and exit\n"
    "\n"
    "Exit status: COMMAND's exit status; 128+N if it was killed by signal N;\n"
    "127 with a line \"couler-exec: ...\" on stderr if the launcher failed\n"
    "before COMMAND could start.\n"
    "\n"
    "Signals: couler-exec leads a new process group (and session) that the\n"
    "step and its children share. SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1\n"
    "and SIGUSR2 sent to couler-exec are forwarded to that group; a second\n"
    "SIGTERM or SIGINT kills the whole step with SIGKILL (the group and\n"
    "every process in the --cgroup directories). To kill everything at once\n"
    "send SIGKILL to the group (kill -KILL -PID) and kill the cgroups. When\n"
    "COMMAND exits, what it left running is killed, as when a container's\n"
    "main process exits.\n";

const char *agent_sb_usage_text(void)
{
    return usage_text;
}

void agent_sb_argv_free(char **argv)
{
    if (argv == NULL)
        return;
    for (char **p = argv; *p != NULL; p++)
        cl_free(*p);
    cl_free(argv);
}

/* ---- building ---------------------------------------------------------- */

struct vec {
    char **v;
    size_t n, cap;
    bool oom;
};

static void vec_push_owned(struct vec *a, char *s)
{
    if (s == NULL || a->oom) {
        a->oom = true;
        cl_free(s);
        return;
    }
    if (a->n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        char **nv = cl_realloc(a->v, cap * sizeof(*nv));
        if (nv == NULL) {
            a->oom = true;
            cl_free(s);
            return;
        }
        a->v = nv;
        a->cap = cap;
    }
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

static void vec_push(struct vec *a, const char *s)
{
    if (a->oom)
        return;
    vec_push_owned(a, cl_strdup(s));
}

static void escape_into(cl_buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == ':' || *s == '\\')
            cl_buf_putc(b, '\\');
        cl_buf_putc(b, *s);
    }
}

static void vec_push_pair(struct vec *a, const char *opt, const char *src,
                          const char *dst)
{
    vec_push(a, opt);
    cl_buf b = CL_BUF_INIT;
    escape_into(&b, src);
    if (dst != NULL) {
        cl_buf_putc(&b, ':');
        escape_into(&b, dst);
    }
    if (!cl_buf_ok(&b)) {
        cl_buf_free(&b);
        a->oom = true;
        return;
    }
    vec_push_owned(a, cl_buf_steal(&b, NULL));
}

static bool is_abs(const char *p)
{
    return p != NULL && p[0] == '/';
}

static int check_pairs(const struct agent_sb_map *m, size_t n, const char *what,
                       bool dst_optional, cl_errmsg *em)
{
    if (n > 0 && m == NULL) {
        cl_errmsg_set(em, "%s: %zu entries but no array", what, n);
        return CL_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_abs(m[i].src)) {
            cl_errmsg_set(em, "%s: source '%s' is not an absolute path", what,
                          m[i].src ? m[i].src : "(null)");
            return CL_EINVAL;
        }
        if (m[i].dst == NULL && dst_optional)
            continue;
        if (!is_abs(m[i].dst)) {
            cl_errmsg_set(em, "%s: destination '%s' is not an absolute path",
                          what, m[i].dst ? m[i].dst : "(null)");
            return CL_EINVAL;
        }
    }
    return 0;
}

/* check_view_dir - overlayfs takes upperdir/workdir in a comma-separated
 * option string where ':' separates lower layers. */
static int check_view_dir(const char *dir, cl_errmsg *em)
{
    if (!is_abs(dir)) {
        cl_errmsg_set(em, "view dir '%s' is not an absolute path", dir);
        return CL_EINVAL;
    }
    if (strpbrk(dir, ",:\\") != NULL) {
        cl_errmsg_set(em, "view dir '%s' contains ',', ':' or '\\'", dir);
        return CL_EINVAL;
    }
    return 0;
}

static int check_spec(const struct agent_sb_spec *s, cl_errmsg *em)
{
    int rv;
    if (s->argc < 1 || s->argv == NULL) {
        cl_errmsg_set(em, "no command");
        return CL_EINVAL;
    }
    for (size_t i = 0; i < s->argc; i++) {
        if (s->argv[i] == NULL) {
            cl_errmsg_set(em, "command argument %zu is NULL", i);
            return CL_EINVAL;
        }
    }
    if (s->argv[0][0] == '\0') {
        cl_errmsg_set(em, "empty command name");
        return CL_EINVAL;
    }
    if (s->view_dir != NULL && (rv = check_view_dir(s->view_dir, em)) != 0)
        return rv;
    if (s->tmp_dir != NULL && !is_abs(s->tmp_dir)) {
        cl_errmsg_set(em, "tmp dir '%s' is not an absolute path", s->tmp_dir);
        return CL_EINVAL;
    }
    if (s->n_hides > 0 && s->hides == NULL) {
        cl_errmsg_set(em, "hides: %zu entries but no array", s->n_hides);
        return CL_EINVAL;
    }
    for (size_t i = 0; i < s->n_hides; i++) {
        if (!is_abs(s->hides[i])) {
            cl_errmsg_set(em, "hide '%s' is not an absolute path",
                          s->hides[i] ? s->hides[i] : "(null)");
            return CL_EINVAL;
        }
    }
    if (s->workdir != NULL && !is_abs(s->workdir)) {
        cl_errmsg_set(em, "workdir '%s' is not an absolute path", s->workdir);
        return CL_EINVAL;
    }
    if ((rv = check_pairs(s->binds, s->n_binds, "bind", true, em)) != 0 ||
        (rv = check_pairs(s->stages, s->n_stages, "stage", false, em)) != 0 ||
        (rv = check_pairs(s->stages_ro, s->n_stages_ro, "stage-ro", false,
                          em)) != 0 ||
        (rv = check_pairs(s->collects, s->n_collects, "collect", false, em)) !=
            0)
        return rv;
    if (s->n_cgroups > 0 && s->cgroups == NULL) {
        cl_errmsg_set(em, "cgroups: %zu entries but no array", s->n_cgroups);
        return CL_EINVAL;
    }
    for (size_t i = 0; i < s->n_cgroups; i++) {
        if (!is_abs(s->cgroups[i])) {
            cl_errmsg_set(em, "cgroup '%s' is not an absolute path",
                          s->cgroups[i] ? s->cgroups[i] : "(null)");
            return CL_EINVAL;
        }
    }
    if (s->cpus != NULL) {
        struct agent_sb_cpus set;
        rv = agent_sb_cpus_parse(s->cpus, &set);
        if (rv != 0) {
            cl_errmsg_set(em, "cpus '%s': %s", s->cpus, cl_strerror(rv));
            return CL_EINVAL;
        }
    }
    if (s->n_env > 0 && s->env == NULL) {
        cl_errmsg_set(em, "env: %zu entries but no array", s->n_env);
        return CL_EINVAL;
    }
    for (size_t i = 0; i < s->n_env; i++) {
        const char *e = s->env[i];
        if (e == NULL || e[0] == '=' || strchr(e, '=') == NULL) {
            cl_errmsg_set(em, "env entry '%s' is not KEY=VALUE",
                          e ? e : "(null)");
            return CL_EINVAL;
        }
    }
    return 0;
}

int agent_sb_build_argv(const struct agent_sb_spec *s, char ***argv_out,
                        cl_errmsg *em)
{
    int rv = check_spec(s, em);
    if (rv != 0) {
        cl_errmsg_wrap(em, "couler-exec argv");
        return rv;
    }
    struct vec a = {0};
    vec_push(&a, s->exec_path ? s->exec_path : "couler-exec");
    if (s->view_dir) {
        vec_push(&a, "--rootfs-upper");
        vec_push(&a, s->view_dir);
    }
    if (s->tmp_dir) {
        vec_push(&a, "--tmp");
        vec_push(&a, s->tmp_dir);
    }
    for (size_t i = 0; i < s->n_hides; i++) {
        vec_push(&a, "--hide");
        vec_push(&a, s->hides[i]);
    }
    for (size_t i = 0; i < s->n_binds; i++)
        vec_push_pair(&a, "--bind", s->binds[i].src, s->binds[i].dst);
    for (size_t i = 0; i < s->n_stages_ro; i++)
        vec_push_pair(&a, "--stage-ro", s->stages_ro[i].src,
                      s->stages_ro[i].dst);
    for (size_t i = 0; i < s->n_stages; i++)
        vec_push_pair(&a, "--stage", s->stages[i].src, s->stages[i].dst);
    for (size_t i = 0; i < s->n_collects; i++)
        vec_push_pair(&a, "--collect", s->collects[i].src, s->collects[i].dst);
    if (s->workdir) {
        vec_push(&a, "--workdir");
        vec_push(&a, s->workdir);
    }
    for (size_t i = 0; i < s->n_cgroups; i++) {
        vec_push(&a, "--cgroup");
        vec_push(&a, s->cgroups[i]);
    }
    if (s->cpus) {
        vec_push(&a, "--cpus");
        vec_push(&a, s->cpus);
    }
    for (size_t i = 0; i < s->n_env; i++) {
        vec_push(&a, "--env");
        vec_push(&a, s->env[i]);
    }
    if (s->require_isolation)
        vec_push(&a, "--require-isolation");
    vec_push(&a, "--");
    for (size_t i = 0; i < s->argc; i++)
        vec_push(&a, s->argv[i]);
    if (a.oom) {
        agent_sb_argv_free(a.v);
        cl_errmsg_set(em, "couler-exec argv: out of memory");
        return CL_ENOMEM;
    }
    *argv_out = a.v;
    return 0;
}

/* ---- parsing ----------------------------------------------------------- */

/* split_pair - "SRC:DST" with "\:" and "\\" escapes into two owned strings.
 * Without an unescaped ':' *dst is NULL. */
static int split_pair(const char *text, char **src, char **dst)
{
    size_t len = strlen(text);
    char *a = cl_malloc(len + 1);
    char *b = cl_malloc(len + 1);
    if (a == NULL || b == NULL) {
        cl_free(a);
        cl_free(b);
        return CL_ENOMEM;
    }
    char *out = a;
    bool second = false;
    for (const char *p = text; *p; p++) {
        if (*p == '\\' && (p[1] == ':' || p[1] == '\\')) {
            *out++ = *++p;
        } else if (*p == ':' && !second) {
            *out = '\0';
            out = b;
            second = true;
        } else {
            *out++ = *p;
        }
    }
    *out = '\0';
    *src = a;
    if (second) {
        *dst = b;
    } else {
        cl_free(b);
        *dst = NULL;
    }
    return 0;
}

static int push_pair(struct agent_sb_pair **arr, size_t *n, const char *opt,
                     const char *val, bool dst_optional, cl_errmsg *em)
{
    char *src, *dst;
    int rv = split_pair(val, &src, &dst);
    if (rv != 0) {
        cl_errmsg_set(em, "out of memory");
        return rv;
    }
    if (dst == NULL) {
        if (!dst_optional) {
            cl_errmsg_set(em, "%s '%s': expected SRC:DST", opt, val);
            cl_free(src);
            return CL_EINVAL;
        }
        dst = cl_strdup(src);
        if (dst == NULL) {
            cl_free(src);
            cl_errmsg_set(em, "out of memory");
            return CL_ENOMEM;
        }
    }
    if (!is_abs(src) || !is_abs(dst)) {
        cl_errmsg_set(em, "%s '%s': both paths must be absolute", opt, val);
        cl_free(src);
        cl_free(dst);
        return CL_EINVAL;
    }
    struct agent_sb_pair *na = cl_realloc(*arr, (*n + 1) * sizeof(*na));
    if (na == NULL) {
        cl_free(src);
        cl_free(dst);
        cl_errmsg_set(em, "out of memory");
        return CL_ENOMEM;
    }
    na[*n].src = src;
    na[*n].dst = dst;
    *arr = na;
    (*n)++;
    return 0;
}

static int push_str(char ***arr, size_t *n, const char *val, cl_errmsg *em)
{
    char *copy = cl_strdup(val);
    char **na = copy ? cl_realloc(*arr, (*n + 1) * sizeof(*na)) : NULL;
    if (na == NULL) {
        cl_free(copy);
        cl_errmsg_set(em, "out of memory");
        return CL_ENOMEM;
    }
    na[*n] = copy;
    *arr = na;
    (*n)++;
    return 0;
}

static int set_path(char **slot, const char *opt, const char *val,
                    cl_errmsg *em)
{
    if (!is_abs(val)) {
        cl_errmsg_set(em, "%s '%s': not an absolute path", opt, val);
        return CL_EINVAL;
    }
    char *copy = cl_strdup(val);
    if (copy == NULL) {
        cl_errmsg_set(em, "out of memory");
        return CL_ENOMEM;
    }
    cl_free(*slot);
    *slot = copy;
    return 0;
}

static void free_pairs(struct agent_sb_pair *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cl_free(p[i].src);
        cl_free(p[i].dst);
    }
    cl_free(p);
}

static void free_strs(char **s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cl_free(s[i]);
    cl_free(s);
}

void agent_sb_opts_free(struct agent_sb_opts *o)
{
    cl_free(o->view_dir);
    cl_free(o->tmp_dir);
    cl_free(o->workdir);
    free_pairs(o->binds, o->n_binds);
    free_pairs(o->stages, o->n_stages);
    free_pairs(o->stages_ro, o->n_stages_ro);
    free_pairs(o->collects, o->n_collects);
    free_strs(o->hides, o->n_hides);
    free_strs(o->cgroups, o->n_cgroups);
    free_strs(o->env, o->n_env);
    memset(o, 0, sizeof(*o));
}

/* Options that take a value. */
enum opt_id {
    O_ROOTFS,
    O_TMP,
    O_HIDE,
    O_BIND,
    O_STAGE,
    O_STAGE_RO,
    O_COLLECT,
    O_WORKDIR,
    O_CGROUP,
    O_CPUS,
    O_ENV,
    O_NONE
};

static const struct {
    const char *name;
    enum opt_id id;
} value_opts[] = {
    {"--rootfs-upper", O_ROOTFS},
    {"--tmp", O_TMP},
    {"--hide", O_HIDE},
    {"--bind", O_BIND},
    {"--stage", O_STAGE},
    {"--stage-ro", O_STAGE_RO},
    {"--collect", O_COLLECT},
    {"--workdir", O_WORKDIR},
    {"--cgroup", O_CGROUP},
    {"--cpus", O_CPUS},
    {"--env", O_ENV},
};

static int apply(struct agent_sb_opts *o, enum opt_id id, const char *opt,
                 const char *val, cl_errmsg *em)
{
    int rv;
    switch (id) {
    case O_ROOTFS:
        rv = check_view_dir(val, em);
        if (rv != 0)
            return rv;
        return set_path(&o->view_dir, opt, val, em);
    case O_TMP:
        return set_path(&o->tmp_dir, opt, val, em);
    case O_WORKDIR:
        return set_path(&o->workdir, opt, val, em);
    case O_BIND:
        return push_pair(&o->binds, &o->n_binds, opt, val, true, em);
    case O_STAGE:
        return push_pair(&o->stages, &o->n_stages, opt, val, false, em);
    case O_STAGE_RO:
        return push_pair(&o->stages_ro, &o->n_stages_ro, opt, val, false, em);
    case O_COLLECT:
        return push_pair(&o->collects, &o->n_collects, opt, val, false, em);
    case O_HIDE:
    case O_CGROUP:
        if (!is_abs(val)) {
            cl_errmsg_set(em, "%s '%s': not an absolute path", opt, val);
            return CL_EINVAL;
        }
        if (id == O_HIDE)
            return push_str(&o->hides, &o->n_hides, val, em);
        return push_str(&o->cgroups, &o->n_cgroups, val, em);
    case O_CPUS:
        rv = agent_sb_cpus_parse(val, &o->cpus);
        if (rv != 0) {
            cl_errmsg_set(em, "%s '%s': %s", opt, val,
                          rv == CL_ERANGE ? "CPU number too large"
                                          : "expected a list like 0-3,8");
            return CL_EINVAL;
        }
        o->has_cpus = true;
        return 0;
    case O_ENV:
        if (val[0] == '=' || strchr(val, '=') == NULL) {
            cl_errmsg_set(em, "%s '%s': expected KEY=VALUE", opt, val);
            return CL_EINVAL;
        }
        return push_str(&o->env, &o->n_env, val, em);
    case O_NONE:
        break;
    }
    cl_errmsg_set(em, "internal: unknown option id");
    return CL_EINVAL;
}

int agent_sb_opts_parse(int argc, char **argv, struct agent_sb_opts *o,
                        cl_errmsg *em)
{
    memset(o, 0, sizeof(*o));
    int rv = 0;
    int i = 1;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            o->help = true;
            continue;
        }
        if (strcmp(arg, "--require-isolation") == 0) {
            o->require_isolation = true;
            continue;
        }
        enum opt_id id = O_NONE;
        const char *val = NULL;
        size_t nlen = 0;
        for (size_t k = 0; k < sizeof(value_opts) / sizeof(value_opts[0]);
             k++) {
            nlen = strlen(value_opts[k].name);
            if (strncmp(arg, value_opts[k].name, nlen) == 0 &&
                (arg[nlen] == '\0' || arg[nlen] == '=')) {
                id = value_opts[k].id;
                break;
            }
        }
        if (id == O_NONE) {
            if (arg[0] == '-')
                cl_errmsg_set(em, "unknown option '%s' (see --help)", arg);
            else
                cl_errmsg_set(em, "expected '--' before the command '%s'", arg);
            rv = CL_EINVAL;
            goto err;
        }
        if (arg[nlen] == '=') {
            val = arg + nlen + 1;
        } else {
            if (i + 1 >= argc) {
                cl_errmsg_set(em, "option '%s' needs a value", arg);
                rv = CL_EINVAL;
                goto err;
            }
            val = argv[++i];
        }
        char opt[32];
        snprintf(opt, sizeof(opt), "%.*s", (int)nlen, arg);
        rv = apply(o, id, opt, val, em);
        if (rv != 0)
            goto err;
    }
    if (i < argc) {
        o->argv = &argv[i];
        o->argc = argc - i;
    } else if (!o->help) {
        cl_errmsg_set(em, "no command given (usage: couler-exec [options] -- "
                          "COMMAND [ARGS...])");
        rv = CL_EINVAL;
        goto err;
    }
    return 0;
err:
    agent_sb_opts_free(o);
    return rv;
}
