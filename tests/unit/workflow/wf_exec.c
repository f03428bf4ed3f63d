/* wf_exec.c - the real-process policy of the engine tests (wf_exec.h). */
#include "wf_exec.h"

#include "common/cl_heap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void wf_exec_write(const char *path, const char *text, int mode)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return;
    fputs(text, f);
    fclose(f);
    chmod(path, (mode_t)mode);
}

static bool wf_exec_which(const char *prog, char *out, size_t len)
{
    const char *path = getenv("PATH");
    if (path == NULL)
        return false;
    char *dup = strdup(path);
    bool found = false;
    for (char *save = NULL, *d = strtok_r(dup, ":", &save); d && !found;
         d = strtok_r(NULL, ":", &save)) {
        snprintf(out, len, "%s/%s", d, prog);
        found = access(out, X_OK) == 0;
    }
    free(dup);
    return found;
}

int wf_exec_init(wf_exec *x)
{
    memset(x, 0, sizeof(*x));
    snprintf(x->root, sizeof(x->root), "/tmp/wfexec-XXXXXX");
    if (mkdtemp(x->root) == NULL)
        return -1;
    snprintf(x->bin, sizeof(x->bin), "%s/bin", x->root);
    mkdir(x->bin, 0755);
    char p[1024];
    snprintf(p, sizeof(p), "%s/store", x->root);
    mkdir(p, 0755);
    /* sleep adds virtual time: the fake executor reads the log */
    snprintf(p, sizeof(p), "%s/sleep", x->bin);
    wf_exec_write(p, "#!/bin/sh\necho \"$1\" >> \"$WF_SLEEP_LOG\"\n", 0755);
    snprintf(p, sizeof(p), "%s/cowsay", x->bin);
    wf_exec_write(p, "#!/bin/sh\necho \"$*\"\n", 0755);
    const char *src = getenv("COULER_SOURCE_DIR");
    char target[1024];
    snprintf(target, sizeof(target), "%s/tests/shims/argosay",
             src ? src : ".");
    snprintf(p, sizeof(p), "%s/argosay", x->bin);
    if (symlink(target, p) != 0)
        return -1;
    char py[1024];
    if (wf_exec_which("python3", py, sizeof(py))) {
        snprintf(p, sizeof(p), "%s/python", x->bin);
        char s[1200];
        /* a wrapper, so that pyenv shims resolve their own interpreter */
        snprintf(s, sizeof(s), "#!/bin/sh\nexec python3 \"$@\"\n");
        wf_exec_write(p, s, 0755);
        x->has_python = true;
    }
    x->has_jq = wf_exec_which("jq", py, sizeof(py));
    /* python's random module is seeded per step: runs are reproducible */
    snprintf(p, sizeof(p), "%s/py", x->root);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/py/sitecustomize.py", x->root);
    wf_exec_write(p,
                  "import os, random\n"
                  "s = os.environ.get('WF_SEED')\n"
                  "if s:\n    random.seed(int(s))\n",
                  0644);
    return 0;
}

void wf_exec_free(wf_exec *x)
{
    if (x->root[0] == '\0')
        return;
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", x->root);
    if (system(cmd) != 0)
        fprintf(stderr, "wf_exec: cannot remove %s\n", x->root);
    x->root[0] = '\0';
}

/* ---- path remapping ------------------------------------------------------- */

typedef struct wf_map {
    char dir[700];
    const char *paths[32]; /* declared absolute paths outside /tmp */
    int npaths;
} wf_map;

static char *wf_map_text(const wf_map *m, const char *s)
{
    if (s == NULL)
        return NULL;
    cl_buf b = CL_BUF_INIT;
    size_t dl = strlen(m->dir);
    (void)dl;
    for (const char *p = s; *p;) {
        bool done = false;
        if (!strncmp(p, "/tmp", 4) && (p[4] == '\0' || p[4] == '/' ||
                                       p[4] == ' ' || p[4] == '"' ||
                                       p[4] == '\'' || p[4] == ';')) {
            cl_buf_puts(&b, m->dir);
            cl_buf_puts(&b, "/tmp");
            p += 4;
            done = true;
        }
        for (int i = 0; i < m->npaths && !done; i++) {
            size_t l = strlen(m->paths[i]);
            if (strncmp(p, m->paths[i], l) != 0)
                continue;
            /* Only now is p known to be at least l long. */
            char after = p[l];
            if (after == '\0' || after == ' ' || after == '"' ||
                after == '\'' || after == ';' || after == '/') {
                cl_buf_puts(&b, m->dir);
                cl_buf_puts(&b, m->paths[i]);
                p += l;
                done = true;
            }
        }
        if (!done)
            cl_buf_putc(&b, *p++);
    }
    return cl_buf_steal(&b, NULL);
}

static void wf_map_add(wf_map *m, const char *path)
{
    if (path == NULL || path[0] != '/' || !strncmp(path, "/tmp", 4) ||
        m->npaths == 32)
        return;
    m->paths[m->npaths++] = path;
}

static void wf_mkparent(const char *path)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
    if (system(cmd) != 0)
        fprintf(stderr, "wf_exec: mkdir failed for %s\n", path);
}

static int64_t wf_dur(const char *v)
{
    char *end = NULL;
    double x = strtod(v, &end);
    if (end == v)
        return 0;
    double mul = 1000;
    if (*end == 'm' && end[1] != 's')
        mul = 60000;
    else if (*end == 'm')
        mul = 1;
    else if (*end == 'h')
        mul = 3600000;
    else if (*end == 'd')
        mul = 86400000;
    return (int64_t)(x * mul);
}

static bool wf_label_ok(const wf_exec *x, const char *k, const char *v)
{
    const char *labels = x->labels ? x->labels
                                   : "kubernetes.io/arch=amd64,"
                                     "beta.kubernetes.io/arch=amd64,"
                                     "kubernetes.io/os=linux";
    char want[512];
    snprintf(want, sizeof(want), "%s=%s", k, v);
    const char *p = labels;
    size_t wl = strlen(want);
    while ((p = strstr(p, want)) != NULL) {
        if ((p == labels || p[-1] == ',') && (p[wl] == ',' || p[wl] == '\0'))
            return true;
        p += wl;
    }
    return false;
}

static char *wf_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    cl_buf b = CL_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        cl_buf_append(&b, chunk, n);
    fclose(f);
    return cl_buf_steal(&b, len);
}

void wf_exec_policy(void *ud, const wf_task *t, fake_outcome *o)
{
    wf_exec *x = ud;
    for (size_t i = 0; i < t->nnode_selector; i++)
        if (!wf_label_ok(x, t->node_selector[i].name,
                         t->node_selector[i].value)) {
            o->unschedulable = true;
            return;
        }
    wf_map m;
    memset(&m, 0, sizeof(m));
    snprintf(m.dir, sizeof(m.dir), "%s/s%u", x->root, ++x->seq);
    mkdir(m.dir, 0755);
    char p[1024];
    snprintf(p, sizeof(p), "%s/tmp", m.dir);
    mkdir(p, 0755);
    for (size_t i = 0; i < t->nout_params; i++)
        wf_map_add(&m, t->out_params[i].path);
    for (size_t i = 0; i < t->nout_artifacts; i++)
        wf_map_add(&m, t->out_artifacts[i].path);
    for (size_t i = 0; i < t->ninputs; i++)
        wf_map_add(&m, t->inputs[i].path);
    /* stage inputs */
    for (size_t i = 0; i < t->ninputs; i++) {
        const wf_input_artifact *in = &t->inputs[i];
        char dst[1200];
        snprintf(dst, sizeof(dst), "%s%s", m.dir, in->path);
        wf_mkparent(dst);
        if (in->raw != NULL) {
            wf_exec_write(dst, in->raw, 0644);
        } else {
            char cmd[4096];
            snprintf(cmd, sizeof(cmd), "cp -r '%s/store/%s%s%s' '%s'", x->root,
                     in->digest, in->sub_path ? "/" : "",
                     in->sub_path ? in->sub_path : "", dst);
            if (system(cmd) != 0)
                fprintf(stderr, "wf_exec: staging %s failed\n", in->name);
        }
        if (in->mode >= 0)
            chmod(dst, (mode_t)in->mode);
    }
    /* argv */
    size_t argc = t->ncommand;
    char **argv = cl_calloc(argc + 8, sizeof(char *));
    size_t a = 0;
    argv[a++] = cl_strdup("timeout");
    argv[a++] = cl_strdup("-s");
    argv[a++] = cl_strdup("KILL");
    argv[a++] = cl_strdup("60");
    for (size_t i = 0; i < argc; i++)
        argv[a++] = wf_map_text(&m, t->command[i]);
    if (t->kind == WF_TASK_SCRIPT) {
        char sp[800];
        snprintf(sp, sizeof(sp), "%s/.script", m.dir);
        char *src = wf_map_text(&m, t->source);
        wf_exec_write(sp, src ? src : "", 0755);
        cl_free(src);
        argv[a++] = cl_strdup(sp);
    }
    argv[a] = NULL;
    char sleeplog[800];
    snprintf(sleeplog, sizeof(sleeplog), "%s/.sleep", m.dir);
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        o->phase = WF_ERROR;
        goto out;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        dup2(pipefd[1], 1);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(devnull, 2);
        if (chdir(m.dir) != 0)
            _exit(127);
        char path[2048];
        snprintf(path, sizeof(path), "%s:%s", x->bin,
                 getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
        setenv("PATH", path, 1);
        setenv("WF_SLEEP_LOG", sleeplog, 1);
        char pyp[700], seed[32];
        snprintf(pyp, sizeof(pyp), "%s/py", x->root);
        setenv("PYTHONPATH", pyp, 1);
        snprintf(seed, sizeof(seed), "%u", x->seq * 7919u + 17u);
        setenv("WF_SEED", seed, 1);
        for (size_t i = 0; i < t->nenv; i++) {
            char *v = wf_map_text(&m, t->env[i].value);
            setenv(t->env[i].name, v ? v : "", 1);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    cl_buf out = CL_BUF_INIT;
    char chunk[4096];
    ssize_t n;
    while ((n = read(pipefd[0], chunk, sizeof(chunk))) > 0)
        cl_buf_append(&out, chunk, (size_t)n);
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    o->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 137;
    if (out.len > 0 && out.data[out.len - 1] == '\n')
        out.data[--out.len] = '\0';
    o->out = cl_buf_steal(&out, NULL);
    /* virtual time */
    o->duration_ms = 100;
    FILE *sl = fopen(sleeplog, "r");
    if (sl != NULL) {
        char line[128];
        while (fgets(line, sizeof(line), sl))
            o->duration_ms += wf_dur(line);
        fclose(sl);
    }
    /* outputs */
    for (size_t i = 0; i < t->nout_params; i++) {
        char src[1200];
        snprintf(src, sizeof(src), "%s%s", m.dir, t->out_params[i].path);
        size_t len = 0;
        char *v = wf_read(src, &len);
        if (v == NULL)
            continue;
        if (len > 0 && v[len - 1] == '\n')
            v[len - 1] = '\0';
        fake_add_param(o, t->out_params[i].name, v);
        cl_free(v);
    }
    for (size_t i = 0; i < t->nout_artifacts; i++) {
        char src[1200];
        snprintf(src, sizeof(src), "%s%s", m.dir, t->out_artifacts[i].path);
        struct stat st;
        if (stat(src, &st) != 0)
            continue;
        char digest[64];
        snprintf(digest, sizeof(digest), "d%u-%zu", x->seq, i);
        char cmd[4096];
        snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s/store/%s'", src, x->root,
                 digest);
        if (system(cmd) != 0)
            continue;
        fake_add_art(o, t->out_artifacts[i].name, digest);
    }
out:
    for (size_t i = 0; i < a; i++)
        cl_free(argv[i]);
    cl_free(argv);
}
