/* sandbox.c - per-step cgroups on cgroup v1 and v2.
 *
 * v1 (and hybrid systems, whose v2 mount carries no controller) keeps one
 * hierarchy per mounted controller set: a step group is a directory of the
 * same name in each hierarchy Couler uses (cpu, cpuacct, cpuset, memory).
 * v2 has one hierarchy: a step group is one directory whose controllers
 * were enabled in every ancestor's cgroup.subtree_control
 * (Documentation/admin-guide/cgroup-v2.rst, "Enabling and Disabling").
 *
 * A "fake" root (a plain directory standing in for cgroupfs in unit tests)
 * is detected with statfs: interface files are then created on write and
 * unlinked before rmdir, which a real cgroupfs does by itself.
 */
#include "agent/sandbox/sb_int.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "common/cl_heap.h"
#include "common/cl_log.h"

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define MAX_HIER 4
#define PERIOD_US 100000u
#define NAME_MAX_LEN 200

struct hier {
    unsigned ctls;
    char mount[PATH_MAX];
    char parent[PATH_MAX];
};

struct agent_sb_cg {
    enum agent_sb_cgver ver;
    unsigned ctls;
    bool fake;
    size_t nh;
    struct hier h[MAX_HIER];
    const char *parents[MAX_HIER];
};

struct agent_sb_group {
    enum agent_sb_cgver ver;
    bool fake;
    size_t n;
    unsigned ctls[MAX_HIER];
    char dir[MAX_HIER][PATH_MAX];
    char parent[MAX_HIER][PATH_MAX];
    const char *paths[MAX_HIER];
    char name[NAME_MAX_LEN + 1];
};

static const struct {
    const char *name;
    unsigned bit;
} ctl_names[] = {
    {"cpu", AGENT_SB_CTL_CPU},
    {"cpuacct", AGENT_SB_CTL_CPUACCT},
    {"cpuset", AGENT_SB_CTL_CPUSET},
    {"memory", AGENT_SB_CTL_MEMORY},
};

/* ---- small helpers ----------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int cg_write(bool fake, const char *dir, const char *file,
                    const char *text, cl_errmsg *em)
{
    char path[PATH_MAX];
    int rv = agent_sb__join(path, sizeof(path), dir, file);
    if (rv == 0)
        rv = agent_sb__write_file(path, text, fake);
    if (rv != 0)
        cl_errmsg_set(em, "write '%s' to %s/%s: %s", text, dir, file,
                      cl_strerror(rv));
    return rv;
}

static int cg_read(const char *dir, const char *file, char *buf, size_t len)
{
    char path[PATH_MAX];
    int rv = agent_sb__join(path, sizeof(path), dir, file);
    if (rv == 0)
        rv = agent_sb__read_file(path, buf, len, NULL);
    if (rv != 0 && len > 0)
        buf[0] = '\0';
    return rv;
}

static bool is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\n' && *s != '\t')
            return false;
    return true;
}

static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > NAME_MAX_LEN || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* valid_parent - relative path of valid names separated by '/'. */
static bool valid_parent(const char *parent)
{
    char buf[PATH_MAX];
    if (parent[0] == '/' || strlen(parent) >= sizeof(buf))
        return false;
    strcpy(buf, parent);
    char *save = NULL;
    int parts = 0;
    for (char *t = strtok_r(buf, "/", &save); t;
         t = strtok_r(NULL, "/", &save)) {
        if (!valid_name(t))
            return false;
        parts++;
    }
    return parts > 0;
}

bool agent_sb__self_cgroup(const char *text, const char *controller, char *out,
                           size_t len)
{
    const char *p = text;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        const char *c1 = memchr(p, ':', ll);
        const char *c2 =
            c1 ? memchr(c1 + 1, ':', ll - (size_t)(c1 + 1 - p)) : NULL;
        if (c1 && c2) {
            char ctls[256];
            size_t cl = (size_t)(c2 - c1 - 1);
            if (cl < sizeof(ctls)) {
                memcpy(ctls, c1 + 1, cl);
                ctls[cl] = '\0';
                bool match = controller == NULL
                                 ? (cl == 0 && strncmp(p, "0:", 2) == 0)
                                 : agent_sb__has_opt(ctls, controller);
                size_t pl = ll - (size_t)(c2 + 1 - p);
                if (match && pl < len) {
                    memcpy(out, c2 + 1, pl);
                    out[pl] = '\0';
                    return true;
                }
            }
        }
        p = nl ? nl + 1 : NULL;
    }
    return false;
}

void agent_sb__cpu_quota(uint32_t millis, uint64_t *quota_us, char *cpu_max,
                         size_t len)
{
    if (millis < 10)
        millis = 10;
    uint64_t q = (uint64_t)millis * PERIOD_US / 1000u;
    if (quota_us != NULL)
        *quota_us = q;
    if (cpu_max != NULL)
        snprintf(cpu_max, len, "%llu %u", (unsigned long long)q, PERIOD_US);
}

/* ---- detection and the parent ------------------------------------------ */

static unsigned v1_ctls(const char *superopts)
{
    unsigned c = 0;
    for (size_t i = 0; i < sizeof(ctl_names) / sizeof(ctl_names[0]); i++)
        if (agent_sb__has_opt(superopts, ctl_names[i].name))
            c |= ctl_names[i].bit;
    return c;
}

static unsigned v2_ctls(const char *controllers)
{
    unsigned c = 0;
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", controllers);
    char *save = NULL;
    for (char *t = strtok_r(buf, " \n\t", &save); t;
         t = strtok_r(NULL, " \n\t", &save)) {
        if (strcmp(t, "cpu") == 0)
            c |= AGENT_SB_CTL_CPU;
        else if (strcmp(t, "cpuset") == 0)
            c |= AGENT_SB_CTL_CPUSET;
        else if (strcmp(t, "memory") == 0)
            c |= AGENT_SB_CTL_MEMORY;
    }
    return c;
}

static const char *first_ctl_name(unsigned ctls)
{
    for (size_t i = 0; i < sizeof(ctl_names) / sizeof(ctl_names[0]); i++)
        if (ctls & ctl_names[i].bit)
            return ctl_names[i].name;
    return NULL;
}

/* base_dir - where the parent goes in one hierarchy: the mount itself, or
 * the caller's own cgroup inside it. */
static int base_dir(const struct agent_sb__mnt *m, const char *self_text,
                    const char *controller, bool under_self, char *out,
                    size_t len, cl_errmsg *em)
{
    if (!under_self) {
        if (snprintf(out, len, "%s", m->mountpoint) >= (int)len)
            return CL_ETOOBIG;
        return 0;
    }
    char self[PATH_MAX];
    if (self_text == NULL ||
        !agent_sb__self_cgroup(self_text, controller, self, sizeof(self))) {
        cl_errmsg_set(em, "own cgroup for %s not found",
                      controller ? controller : "the unified hierarchy");
        return CL_ENOENT;
    }
    /* A mount may show a subtree only (root field != "/"): the own path
     * is relative to the hierarchy's root, so strip the mount's root. */
    const char *rel = self;
    size_t rl = strlen(m->root);
    if (strcmp(m->root, "/") != 0) {
        if (strncmp(self, m->root, rl) != 0 ||
            (self[rl] != '\0' && self[rl] != '/')) {
            cl_errmsg_set(em, "own cgroup '%s' is outside the mounted '%s'",
                          self, m->root);
            return CL_ENOTSUP;
        }
        rel = self + rl;
    }
    return agent_sb__join(out, len, m->mountpoint, rel);
}

/* v1_init_cpuset - a new cpuset cgroup starts with empty cpus and mems and
 * takes no task until both are set: copy them down from its parent. */
static int v1_init_cpuset(bool fake, const char *dir, cl_errmsg *em)
{
    static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash == NULL || slash == parent)
        return 0;
    *slash = '\0';
    for (size_t i = 0; i < 2; i++) {
        char cur[4096], up[4096];
        cg_read(dir, files[i], cur, sizeof(cur));
        if (!is_blank(cur))
            continue;
        if (cg_read(parent, files[i], up, sizeof(up)) != 0 || is_blank(up)) {
            cl_errmsg_set(em, "%s/%s is empty: cannot initialise %s", parent,
                          files[i], dir);
            return CL_EIO;
        }
        up[strcspn(up, "\n")] = '\0';
        int rv = cg_write(fake, dir, files[i], up, em);
        if (rv != 0)
            return rv;
    }
    return 0;
}

static void subtree_text(unsigned ctls, char *buf, size_t len)
{
    buf[0] = '\0';
    size_t used = 0;
    static const struct {
        unsigned bit;
        const char *name;
    } v2[] = {{AGENT_SB_CTL_CPU, "cpu"},
              {AGENT_SB_CTL_CPUSET, "cpuset"},
              {AGENT_SB_CTL_MEMORY, "memory"}};
    for (size_t i = 0; i < 3; i++) {
        if (!(ctls & v2[i].bit))
            continue;
        int n = snprintf(buf + used, len - used, "%s+%s", used ? " " : "",
                         v2[i].name);
        if (n < 0 || (size_t)n >= len - used)
            return;
        used += (size_t)n;
    }
}

/* make_parent - mkdir -p from the hierarchy base down to the parent,
 * initialising cpuset (v1) or enabling controllers (v2) at every level. */
static int make_parent(struct agent_sb_cg *cg, struct hier *h, const char *base,
                       cl_errmsg *em)
{
    char path[PATH_MAX];
    size_t bl = strlen(base);
    snprintf(path, sizeof(path), "%s", h->parent);
    char ctl_text[64];
    subtree_text(h->ctls, ctl_text, sizeof(ctl_text));
    /* Levels: base (v2 only: enable controllers for its children), then
     * each component below it. */
    for (size_t i = bl;; i++) {
        char c = path[i];
        if (c != '/' && c != '\0')
            continue;
        path[i] = '\0';
        if (i > bl) {
            if (mkdir(path, 0755) != 0 && errno != EEXIST) {
                int e = errno;
                cl_errmsg_set(em, "mkdir %s: %s", path, strerror(e));
                return e == EACCES || e == EPERM || e == EROFS
                           ? CL_EPERM
                           : cl_err_from_errno(e);
            }
            if (cg->ver == AGENT_SB_CG_V1 && (h->ctls & AGENT_SB_CTL_CPUSET)) {
                int rv = v1_init_cpuset(cg->fake, path, em);
                if (rv != 0)
                    return rv;
            }
        }
        if (cg->ver == AGENT_SB_CG_V2 && ctl_text[0] != '\0') {
            int rv = cg_write(cg->fake, path, "cgroup.subtree_control",
                              ctl_text, em);
            if (rv != 0) {
                if (rv == CL_EBUSY)
                    cl_errmsg_wrap(em,
                                   "%s has processes of its own (cgroup "
                                   "v2 no-internal-processes rule)",
                                   path);
                return rv;
            }
        }
        path[i] = c;
        if (c == '\0')
            break;
    }
    return 0;
}

int agent_sb_cg_open(const struct agent_sb_cgconf *conf,
                     struct agent_sb_cg **out, cl_errmsg *em)
{
    struct agent_sb_cgconf def = {0};
    if (conf == NULL)
        conf = &def;
    const char *parent = conf->parent ? conf->parent : "couler";
    if (!valid_parent(parent)) {
        cl_errmsg_set(em,
                      "cgroup parent '%s': expected a relative path of "
                      "[A-Za-z0-9._-] names",
                      parent);
        return CL_EINVAL;
    }
    char *mi_text = NULL, *self_text = NULL;
    struct agent_sb__mnt *mnts = NULL;
    size_t nm = 0;
    struct agent_sb_cg *cg = NULL;
    const char *mi_path =
        conf->mountinfo_path ? conf->mountinfo_path : "/proc/self/mountinfo";
    const char *self_path =
        conf->self_cgroup_path ? conf->self_cgroup_path : "/proc/self/cgroup";
    int rv = agent_sb__read_alloc(mi_path, &mi_text, NULL);
    if (rv != 0) {
        cl_errmsg_set(em, "read %s: %s", mi_path, cl_strerror(rv));
        goto out;
    }
    rv = agent_sb__mountinfo_parse(mi_text, &mnts, &nm);
    if (rv != 0) {
        cl_errmsg_set(em, "parse %s: %s", mi_path, cl_strerror(rv));
        goto out;
    }
    if (conf->under_self) {
        rv = agent_sb__read_alloc(self_path, &self_text, NULL);
        if (rv != 0) {
            cl_errmsg_set(em, "read %s: %s", self_path, cl_strerror(rv));
            goto out;
        }
    }
    cg = cl_calloc(1, sizeof(*cg));
    if (cg == NULL) {
        rv = CL_ENOMEM;
        cl_errmsg_set(em, "out of memory");
        goto out;
    }
    const struct agent_sb__mnt *mount_of[MAX_HIER] = {0};
    /* v1: every "cgroup" mount carrying a controller we use, the first
     * mount of each controller only (a hierarchy may be mounted twice). */
    for (size_t i = 0; i < nm && cg->nh < MAX_HIER; i++) {
        if (strcmp(mnts[i].fstype, "cgroup") != 0)
            continue;
        unsigned c = v1_ctls(mnts[i].superopts) & ~cg->ctls;
        if (c == 0)
            continue;
        struct hier *h = &cg->h[cg->nh];
        h->ctls = c;
        snprintf(h->mount, sizeof(h->mount), "%s", mnts[i].mountpoint);
        mount_of[cg->nh] = &mnts[i];
        cg->ctls |= c;
        cg->nh++;
    }
    if (cg->nh > 0) {
        cg->ver = AGENT_SB_CG_V1;
    } else {
        /* v2: prefer the conventional mount point. */
        const struct agent_sb__mnt *m2 = NULL;
        for (size_t i = 0; i < nm; i++) {
            if (strcmp(mnts[i].fstype, "cgroup2") != 0)
                continue;
            if (m2 == NULL || strcmp(mnts[i].mountpoint, "/sys/fs/cgroup") == 0)
                m2 = &mnts[i];
        }
        if (m2 != NULL) {
            char path[PATH_MAX], text[512];
            agent_sb__join(path, sizeof(path), m2->mountpoint,
                           "cgroup.controllers");
            if (agent_sb__read_file(path, text, sizeof(text), NULL) == 0 &&
                v2_ctls(text) != 0) {
                cg->ver = AGENT_SB_CG_V2;
                cg->nh = 1;
                cg->h[0].ctls = v2_ctls(text);
                cg->ctls = cg->h[0].ctls;
                snprintf(cg->h[0].mount, sizeof(cg->h[0].mount), "%s",
                         m2->mountpoint);
                mount_of[0] = m2;
            }
        }
    }
    if (cg->ver == AGENT_SB_CG_NONE) {
        rv = CL_ENOTSUP;
        cl_errmsg_set(em, "no cgroup controller (cpu, cpuset, memory) is "
                          "mounted");
        goto out;
    }
    struct statfs sfs;
    if (statfs(cg->h[0].mount, &sfs) != 0) {
        rv = cl_err_from_errno(errno);
        cl_errmsg_set(em, "statfs %s: %s", cg->h[0].mount, strerror(errno));
        goto out;
    }
    cg->fake = (unsigned long)sfs.f_type != CGROUP_SUPER_MAGIC &&
               (unsigned long)sfs.f_type != CGROUP2_SUPER_MAGIC;
    for (size_t i = 0; i < cg->nh; i++) {
        struct hier *h = &cg->h[i];
        char base[PATH_MAX];
        const char *ctl =
            cg->ver == AGENT_SB_CG_V1 ? first_ctl_name(h->ctls) : NULL;
        rv = base_dir(mount_of[i], self_text, ctl, conf->under_self, base,
                      sizeof(base), em);
        if (rv == 0)
            rv = agent_sb__join(h->parent, sizeof(h->parent), base, parent);
        if (rv == 0)
            rv = make_parent(cg, h, base, em);
        if (rv != 0) {
            cl_errmsg_wrap(em, "cgroup parent in %s", h->mount);
            goto out;
        }
        cg->parents[i] = h->parent;
    }
    *out = cg;
    cg = NULL;
out:
    cl_free(cg);
    agent_sb__mountinfo_free(mnts, nm);
    cl_free(mi_text);
    cl_free(self_text);
    return rv;
}

void agent_sb_cg_close(struct agent_sb_cg *cg)
{
    cl_free(cg);
}

enum agent_sb_cgver agent_sb_cg_version(const struct agent_sb_cg *cg)
{
    return cg->ver;
}

unsigned agent_sb_cg_controllers(const struct agent_sb_cg *cg)
{
    return cg->ctls;
}

size_t agent_sb_cg_parents(const struct agent_sb_cg *cg,
                           const char *const **paths)
{
    *paths = cg->parents;
    return cg->nh;
}

/* ---- groups ------------------------------------------------------------ */

/* rmdir_tree - rmdir a cgroup and its sub-cgroups depth-first. On a fake
 * root, files are unlinked first. */
static int rmdir_tree(bool fake, const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : cl_err_from_errno(errno);
    int rv = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char sub[PATH_MAX];
        if (agent_sb__join(sub, sizeof(sub), dir, de->d_name) != 0)
            continue;
        struct stat st;
        if (lstat(sub, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            int r = rmdir_tree(fake, sub);
            if (r != 0 && rv == 0)
                rv = r;
        } else if (fake) {
            unlink(sub);
        }
    }
    closedir(d);
    if (rv != 0)
        return rv;
    if (rmdir(dir) != 0 && errno != ENOENT)
        return cl_err_from_errno(errno);
    return 0;
}

static int configure_cpuset(const struct agent_sb_group *g, size_t i,
                            const char *file, const char *want,
                            const char *what, cl_errmsg *em)
{
    /* v1: the parent's own list; v2: its effective list (an empty v2
     * cpuset.cpus means "inherit"). */
    char pfile[64];
    snprintf(pfile, sizeof(pfile), "%s%s", file,
             g->ver == AGENT_SB_CG_V2 ? ".effective" : "");
    char ptext[4096];
    bool have_parent =
        cg_read(g->parent[i], pfile, ptext, sizeof(ptext)) == 0 &&
        !is_blank(ptext);
    if (want == NULL) {
        if (g->ver == AGENT_SB_CG_V2)
            return 0; /* inherits */
        if (!have_parent) {
            cl_errmsg_set(em, "%s/%s is empty", g->parent[i], pfile);
            return CL_EIO;
        }
        ptext[strcspn(ptext, "\n")] = '\0';
        return cg_write(g->fake, g->dir[i], file, ptext, em);
    }
    struct agent_sb_cpus req, par, use, lack;
    int rv = agent_sb_cpus_parse(want, &req);
    if (rv != 0) {
        cl_errmsg_set(em, "%s '%s': not a list like 0-3,8", what, want);
        return CL_EINVAL;
    }
    use = req;
    if (have_parent && agent_sb_cpus_parse(ptext, &par) == 0) {
        agent_sb_cpus_and(&use, &req, &par);
        agent_sb_cpus_andnot(&lack, &req, &par);
        if (!agent_sb_cpus_empty(&lack)) {
            if (agent_sb_cpus_empty(&use))
                use = par;
            char lt[256], ut[256];
            agent_sb_cpus_format(&lack, lt, sizeof(lt));
            agent_sb_cpus_format(&use, ut, sizeof(ut));
            CL_WARN("sandbox: cgroup %s: binding asks for %s %s which this "
                    "machine lacks; using %s",
                    g->name, what, lt, ut);
        }
    }
    char text[4096];
    if (agent_sb_cpus_format(&use, text, sizeof(text)) != 0) {
        cl_errmsg_set(em, "%s list too long", what);
        return CL_ETOOBIG;
    }
    return cg_write(g->fake, g->dir[i], file, text, em);
}

static int configure(const struct agent_sb_group *g,
                     const struct agent_sb_limits *lim, cl_errmsg *em)
{
    int rv = 0;
    char text[64];
    for (size_t i = 0; i < g->n && rv == 0; i++) {
        unsigned c = g->ctls[i];
        const char *dir = g->dir[i];
        if (c & AGENT_SB_CTL_CPUSET) {
            rv = configure_cpuset(g, i, "cpuset.cpus", lim ? lim->cpus : NULL,
                                  "CPUs", em);
            if (rv == 0)
                rv = configure_cpuset(g, i, "cpuset.mems",
                                      lim ? lim->mems : NULL, "memory nodes",
                                      em);
            if (rv != 0)
                break;
        }
        if ((c & AGENT_SB_CTL_CPU) && lim && lim->cpu_millis > 0) {
            uint64_t quota;
            agent_sb__cpu_quota(lim->cpu_millis, &quota, text, sizeof(text));
            if (g->ver == AGENT_SB_CG_V2) {
                rv = cg_write(g->fake, dir, "cpu.max", text, em);
            } else {
                char q[32], p[32];
                snprintf(p, sizeof(p), "%u", PERIOD_US);
                snprintf(q, sizeof(q), "%llu", (unsigned long long)quota);
                rv = cg_write(g->fake, dir, "cpu.cfs_period_us", p, em);
                if (rv == 0)
                    rv = cg_write(g->fake, dir, "cpu.cfs_quota_us", q, em);
            }
            if (rv != 0)
                break;
        }
        if ((c & AGENT_SB_CTL_MEMORY) && lim && lim->mem_bytes > 0) {
            snprintf(text, sizeof(text), "%llu",
                     (unsigned long long)lim->mem_bytes);
            if (g->ver == AGENT_SB_CG_V2) {
                rv = cg_write(g->fake, dir, "memory.max", text, em);
                if (rv != 0)
                    break;
                /* No swap for the group, and an OOM kills the whole step, as
                 * the kubelet does on v2. Both files may be missing (no swap
                 * accounting; kernel < 4.19): the limit still holds. */
                (void)cg_write(g->fake, dir, "memory.swap.max", "0", NULL);
                (void)cg_write(g->fake, dir, "memory.oom.group", "1", NULL);
            } else {
                rv = cg_write(g->fake, dir, "memory.limit_in_bytes", text, em);
                if (rv != 0)
                    break;
                /* memsw = limit means no swap at all; without swap
                 * accounting the file is missing: then ask the kernel not to
                 * swap the group's pages. */
                if (cg_write(g->fake, dir, "memory.memsw.limit_in_bytes", text,
                             NULL) != 0)
                    (void)cg_write(g->fake, dir, "memory.swappiness", "0",
                                   NULL);
            }
        }
    }
    return rv;
}

static void group_init(struct agent_sb_group *g, const struct agent_sb_cg *cg,
                       const char *name)
{
    memset(g, 0, sizeof(*g));
    g->ver = cg->ver;
    g->fake = cg->fake;
    g->n = cg->nh;
    snprintf(g->name, sizeof(g->name), "%s", name);
    for (size_t i = 0; i < cg->nh; i++) {
        g->ctls[i] = cg->h[i].ctls;
        snprintf(g->parent[i], sizeof(g->parent[i]), "%s", cg->h[i].parent);
        agent_sb__join(g->dir[i], sizeof(g->dir[i]), cg->h[i].parent, name);
        g->paths[i] = g->dir[i];
    }
}

int agent_sb_group_create(struct agent_sb_cg *cg, const char *name,
                          const struct agent_sb_limits *lim,
                          struct agent_sb_group **out, cl_errmsg *em)
{
    if (name == NULL || !valid_name(name)) {
        cl_errmsg_set(em, "cgroup name '%s': expected [A-Za-z0-9._-]{1,200}",
                      name ? name : "(null)");
        return CL_EINVAL;
    }
    struct agent_sb_group *g = cl_malloc(sizeof(*g));
    if (g == NULL) {
        cl_errmsg_set(em, "out of memory");
        return CL_ENOMEM;
    }
    group_init(g, cg, name);
    int rv = 0;
    size_t made = 0;
    for (; made < g->n; made++) {
        if (mkdir(g->dir[made], 0755) != 0) {
            int e = errno;
            rv = e == EEXIST ? CL_EEXIST : cl_err_from_errno(e);
            cl_errmsg_set(em, "mkdir %s: %s", g->dir[made], strerror(e));
            goto err;
        }
    }
    rv = configure(g, lim, em);
    if (rv != 0)
        goto err;
    *out = g;
    return 0;
err:
    while (made > 0) {
        made--;
        (void)rmdir_tree(g->fake, g->dir[made]);
    }
    cl_errmsg_wrap(em, "cgroup %s", name);
    cl_free(g);
    return rv;
}

size_t agent_sb_group_paths(const struct agent_sb_group *g,
                            const char *const **paths)
{
    *paths = g->paths;
    return g->n;
}

void agent_sb_group_free(struct agent_sb_group *g)
{
    cl_free(g);
}

int agent_sb_group_join(struct agent_sb_group *g, pid_t pid, cl_errmsg *em)
{
    char text[32];
    snprintf(text, sizeof(text), "%ld", (long)(pid ? pid : getpid()));
    for (size_t i = 0; i < g->n; i++) {
        int rv = cg_write(g->fake, g->dir[i], "cgroup.procs", text, em);
        if (rv != 0) {
            cl_errmsg_wrap(em, "join cgroup %s", g->name);
            return rv;
        }
    }
    return 0;
}

/* ---- processes in a group ---------------------------------------------- */

struct pidvec {
    pid_t *v;
    size_t n, cap;
};

static int pidvec_add(struct pidvec *pv, pid_t p)
{
    if (pv->n == pv->cap) {
        size_t cap = pv->cap ? pv->cap * 2 : 64;
        pid_t *nv = cl_realloc(pv->v, cap * sizeof(*nv));
        if (nv == NULL)
            return CL_ENOMEM;
        pv->v = nv;
        pv->cap = cap;
    }
    pv->v[pv->n++] = p;
    return 0;
}

static int collect_pids(const char *dir, struct pidvec *pv)
{
    char path[PATH_MAX];
    int rv = agent_sb__join(path, sizeof(path), dir, "cgroup.procs");
    if (rv != 0)
        return rv;
    char *text = NULL;
    rv = agent_sb__read_alloc(path, &text, NULL);
    if (rv == CL_ENOENT)
        return 0; /* removed meanwhile, or a fake dir without the file */
    if (rv != 0)
        return rv;
    for (char *p = text; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        if (v > 0 && (rv = pidvec_add(pv, (pid_t)v)) != 0)
            break;
        p = end;
    }
    cl_free(text);
    if (rv != 0)
        return rv;
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    struct dirent *de;
    while (rv == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char sub[PATH_MAX];
        struct stat st;
        if (agent_sb__join(sub, sizeof(sub), dir, de->d_name) == 0 &&
            lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            rv = collect_pids(sub, pv);
    }
    closedir(d);
    return rv;
}

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

int agent_sb_group_pids(const struct agent_sb_group *g, pid_t **pids, size_t *n,
                        cl_errmsg *em)
{
    struct pidvec pv = {0};
    int rv = 0;
    for (size_t i = 0; i < g->n && rv == 0; i++)
        rv = collect_pids(g->dir[i], &pv);
    if (rv != 0) {
        cl_free(pv.v);
        cl_errmsg_set(em, "cgroup %s: read processes: %s", g->name,
                      cl_strerror(rv));
        return rv;
    }
    if (pv.n > 1) {
        qsort(pv.v, pv.n, sizeof(pid_t), cmp_pid);
        size_t w = 1;
        for (size_t r = 1; r < pv.n; r++)
            if (pv.v[r] != pv.v[w - 1])
                pv.v[w++] = pv.v[r];
        pv.n = w;
    }
    *pids = pv.v;
    *n = pv.n;
    return 0;
}

int agent_sb_group_kill(struct agent_sb_group *g, int timeout_ms, cl_errmsg *em)
{
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    pid_t self = getpid();
    bool used_kill_file = false;
    for (;;) {
        pid_t *pids = NULL;
        size_t n = 0;
        int rv = agent_sb_group_pids(g, &pids, &n, em);
        if (rv != 0)
            return rv;
        bool self_inside = false;
        size_t others = 0;
        for (size_t i = 0; i < n; i++) {
            if (pids[i] == self)
                self_inside = true;
            else
                others++;
        }
        if (others == 0) {
            cl_free(pids);
            if (self_inside) {
                cl_errmsg_set(em, "cgroup %s: the caller itself is inside",
                              g->name);
                return CL_EBUSY;
            }
            return 0;
        }
        /* cgroup.kill (v2, Linux 5.14) kills the subtree in the kernel
         * without racing against forks; elsewhere SIGKILL each process and
         * read again: a killed process cannot fork any more, so the loop
         * ends once the forks in flight have been caught. */
        if (g->ver == AGENT_SB_CG_V2 && !g->fake && !self_inside &&
            !used_kill_file &&
            cg_write(false, g->dir[0], "cgroup.kill", "1", NULL) == 0) {
            used_kill_file = true;
        } else {
            for (size_t i = 0; i < n; i++)
                if (pids[i] != self)
                    (void)kill(pids[i], SIGKILL);
        }
        cl_free(pids);
        if (now_ms() >= deadline) {
            cl_errmsg_set(em, "cgroup %s: %zu process(es) still present",
                          g->name, others);
            return CL_EBUSY;
        }
        sleep_ms(2);
    }
}

int agent_sb_group_remove(struct agent_sb_group *g, int timeout_ms,
                          cl_errmsg *em)
{
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        int64_t left = deadline - now_ms();
        int rv = agent_sb_group_kill(g, left > 0 ? (int)left : 0, em);
        if (rv != 0 && rv != CL_EBUSY)
            return rv;
        if (rv == 0) {
            int first = 0;
            for (size_t i = 0; i < g->n; i++) {
                int r = rmdir_tree(g->fake, g->dir[i]);
                if (r != 0 && first == 0)
                    first = r;
            }
            if (first == 0)
                return 0;
            if (first != CL_EBUSY) {
                cl_errmsg_set(em, "cgroup %s: rmdir: %s", g->name,
                              cl_strerror(first));
                return first;
            }
        }
        if (now_ms() >= deadline) {
            if (rv == 0)
                cl_errmsg_set(em, "cgroup %s: still busy after %d ms", g->name,
                              timeout_ms);
            return CL_EBUSY;
        }
        sleep_ms(5);
    }
}

/* ---- usage ------------------------------------------------------------- */

int agent_sb_group_usage(const struct agent_sb_group *g,
                         struct agent_sb_usage *u, cl_errmsg *em)
{
    memset(u, 0, sizeof(*u));
    char text[4096];
    uint64_t v;
    for (size_t i = 0; i < g->n; i++) {
        const char *dir = g->dir[i];
        unsigned c = g->ctls[i];
        if (g->ver == AGENT_SB_CG_V2) {
            if (cg_read(dir, "memory.events", text, sizeof(text)) == 0) {
                if (agent_sb__kv(text, "oom_kill", &v)) {
                    u->oom_known = true;
                    u->oom_kills = v;
                }
                if (agent_sb__kv(text, "max", &v))
                    u->mem_failcnt = v;
            }
            if (cg_read(dir, "memory.peak", text, sizeof(text)) == 0 &&
                agent_sb__u64(text, &v)) {
                u->has_mem_peak = true;
                u->mem_peak = v;
            }
            if (cg_read(dir, "cpu.stat", text, sizeof(text)) == 0 &&
                agent_sb__kv(text, "usage_usec", &v)) {
                u->has_cpu = true;
                u->cpu_ns = v * 1000u;
            }
            continue;
        }
        if (c & AGENT_SB_CTL_MEMORY) {
            if (cg_read(dir, "memory.oom_control", text, sizeof(text)) == 0) {
                if (agent_sb__kv(text, "oom_kill", &v)) {
                    u->oom_known = true;
                    u->oom_kills = v;
                }
            }
            /* With memsw limited too, the kernel charges (and fails) the
             * memory+swap counter first: count both. */
            if (cg_read(dir, "memory.failcnt", text, sizeof(text)) == 0 &&
                agent_sb__u64(text, &v))
                u->mem_failcnt = v;
            if (cg_read(dir, "memory.memsw.failcnt", text, sizeof(text)) == 0 &&
                agent_sb__u64(text, &v))
                u->mem_failcnt += v;
            if (cg_read(dir, "memory.max_usage_in_bytes", text, sizeof(text)) ==
                    0 &&
                agent_sb__u64(text, &v)) {
                u->has_mem_peak = true;
                u->mem_peak = v;
            }
        }
        if (c & AGENT_SB_CTL_CPUACCT) {
            if (cg_read(dir, "cpuacct.usage", text, sizeof(text)) == 0 &&
                agent_sb__u64(text, &v)) {
                u->has_cpu = true;
                u->cpu_ns = v;
            }
        }
    }
    /* A group without the memory controller simply has no OOM record;
     * the flags say what was found. */
    (void)em;
    return 0;
}

bool agent_sb_oom_killed(const struct agent_sb_usage *u, int exit_code)
{
    if (exit_code == 0)
        return false;
    if (u->oom_known)
        return u->oom_kills > 0;
    return u->mem_failcnt > 0 && exit_code == 128 + SIGKILL;
}

/* ---- sweep ------------------------------------------------------------- */

struct names {
    char **v;
    size_t n;
};

static bool names_has(const struct names *ns, const char *s)
{
    for (size_t i = 0; i < ns->n; i++)
        if (strcmp(ns->v[i], s) == 0)
            return true;
    return false;
}

int agent_sb_sweep(struct agent_sb_cg *cg, unsigned *removed, cl_errmsg *em)
{
    struct names ns = {0};
    int rv = 0;
    unsigned count = 0;
    for (size_t i = 0; i < cg->nh && rv == 0; i++) {
        DIR *d = opendir(cg->h[i].parent);
        if (d == NULL)
            continue;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.' || !valid_name(de->d_name) ||
                names_has(&ns, de->d_name))
                continue;
            char sub[PATH_MAX];
            struct stat st;
            if (agent_sb__join(sub, sizeof(sub), cg->h[i].parent, de->d_name) !=
                    0 ||
                lstat(sub, &st) != 0 || !S_ISDIR(st.st_mode))
                continue;
            char **nv = cl_realloc(ns.v, (ns.n + 1) * sizeof(*nv));
            char *copy = nv ? cl_strdup(de->d_name) : NULL;
            if (nv != NULL)
                ns.v = nv;
            if (copy == NULL) {
                rv = CL_ENOMEM;
                cl_errmsg_set(em, "out of memory");
                break;
            }
            ns.v[ns.n++] = copy;
        }
        closedir(d);
    }
    struct agent_sb_group *g = rv == 0 ? cl_malloc(sizeof(*g)) : NULL;
    if (rv == 0 && g == NULL) {
        rv = CL_ENOMEM;
        cl_errmsg_set(em, "out of memory");
    }
    for (size_t k = 0; rv == 0 && k < ns.n; k++) {
        group_init(g, cg, ns.v[k]);
        cl_errmsg m;
        cl_errmsg_clear(&m);
        int r = agent_sb_group_remove(g, 2000, &m);
        if (r == 0) {
            count++;
        } else if (rv == 0) {
            rv = r;
            cl_errmsg_set(em, "%s", m.msg);
        }
    }
    cl_free(g);
    for (size_t k = 0; k < ns.n; k++)
        cl_free(ns.v[k]);
    cl_free(ns.v);
    if (removed != NULL)
        *removed = count;
    if (rv != 0)
        cl_errmsg_wrap(em, "sweep");
    return rv;
}

int agent_sb_cg_destroy(struct agent_sb_cg *cg, cl_errmsg *em)
{
    int rv = agent_sb_sweep(cg, NULL, em);
    if (rv != 0)
        return rv;
    for (size_t i = 0; i < cg->nh; i++) {
        int r = rmdir_tree(cg->fake, cg->h[i].parent);
        if (r != 0 && rv == 0) {
            rv = r;
            cl_errmsg_set(em, "rmdir %s: %s", cg->h[i].parent, cl_strerror(r));
        }
    }
    return rv;
}
