/* view.c - the step's private filesystem view, set up by couler-exec.
 *
 * Design. Argo steps expect container paths: they write /result.txt or
 * /tmp/message and read inputs placed at absolute paths. On a shared host
 * two parallel steps writing /result.txt would collide and change the
 * host. couler-exec therefore gives each step an overlayfs view of the
 * host's own root:
 *
 *   lowerdir = /                  (the host root filesystem; binaries,
 *                                  conda and venv installs stay visible)
 *   upperdir = DIR/upper          (the step's writes, on disk)
 *   workdir  = DIR/work
 *   merged   = DIR/merged         (mounted in a private mount namespace)
 *
 * DIR normally lives under the host root itself (the agent's data dir).
 * overlayfs allows a lower layer that is an ancestor of the upper layer:
 * it puts a "trap" on the upper and work directories, and only a lookup of
 * them *through the view* fails (ELOOP); see ovl_check_layer() and
 * ovl_setup_trap() in fs/overlayfs/super.c. The view never shows DIR: an
 * empty read-only tmpfs is mounted over it. If DIR's filesystem cannot be an
 * upper layer at all (no xattrs, NFS), a tmpfs is mounted on DIR inside
 * the namespace and the upper layer lives in memory.
 *
 * overlayfs does not cross mount points, so the host's /proc, /sys, /dev
 * (with /dev/pts and /dev/shm), /run and every other top-level mount (a
 * separate /home or /data) are bound into the view recursively. /tmp is
 * not: without --tmp it is private through the overlay, with --tmp it is
 * the agent's directory.
 *
 * Every mount lives in couler-exec's private namespace (all propagation
 * private), so nothing is ever mounted on the host and nothing needs
 * unmounting: the namespace and its mounts go away with the last process
 * in it. Outputs are copied out by couler-exec itself (--collect) while
 * it still holds the namespace, after the step has exited.
 */
#include "agent/sandbox/sb_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cl_heap.h"

void agent_sb__view_init(struct agent_sb__view *v)
{
    memset(v, 0, sizeof(*v));
    v->rootfd = -1;
}

void agent_sb__view_close(struct agent_sb__view *v)
{
    if (v->rootfd >= 0)
        close(v->rootfd);
    v->rootfd = -1;
}

static bool path_under(const char *path, const char *dir)
{
    size_t l = strlen(dir);
    if (l == 1 && dir[0] == '/')
        return true;
    return strncmp(path, dir, l) == 0 && (path[l] == '\0' || path[l] == '/');
}

/* mount_at_fd - mount(2) onto the exact dentry an O_PATH fd refers to, so
 * that a symlink in the view can never redirect a mount to a host path. */
static int mount_at_fd(const char *src, int fd, const char *fstype,
                       unsigned long flags, const char *data)
{
    char target[64];
    snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
    return mount(src, target, fstype, flags, data);
}

/* bind_into - bind host `src` onto `dst` in the view. With `create` a
 * missing dst is made (a directory for a directory source, an empty file
 * otherwise). */
static int bind_into(int rootfd, const char *src, const char *dst, bool ro,
                     bool create, cl_errmsg *em)
{
    struct stat st;
    if (stat(src, &st) != 0) {
        cl_errmsg_set(em, "'%s': %s", src, strerror(errno));
        return cl_err_from_errno(errno);
    }
    int fd = agent_sb__in_root_open(rootfd, dst, O_PATH, 0);
    if (fd == -ENOENT && create) {
        char parent[PATH_MAX];
        snprintf(parent, sizeof(parent), "%s", dst);
        char *slash = strrchr(parent, '/');
        if (slash != NULL && slash != parent)
            *slash = '\0';
        else
            strcpy(parent, "/");
        int rv = agent_sb__in_root_mkdirs(rootfd, parent, 0755);
        if (rv != 0) {
            cl_errmsg_set(em, "cannot create '%s': %s", parent,
                          cl_strerror(rv));
            return rv;
        }
        if (S_ISDIR(st.st_mode)) {
            rv = agent_sb__in_root_mkdirs(rootfd, dst, 0755);
            if (rv != 0) {
                cl_errmsg_set(em, "cannot create '%s': %s", dst,
                              cl_strerror(rv));
                return rv;
            }
            fd = agent_sb__in_root_open(rootfd, dst, O_PATH, 0);
        } else {
            int wfd = agent_sb__in_root_open(
                rootfd, dst, O_WRONLY | O_CREAT | O_NOFOLLOW, 0644);
            if (wfd >= 0) {
                close(wfd);
                fd = agent_sb__in_root_open(rootfd, dst, O_PATH, 0);
            } else {
                fd = wfd;
            }
        }
    }
    if (fd < 0) {
        cl_errmsg_set(em, "'%s' in the view: %s", dst, strerror(-fd));
        return cl_err_from_errno(-fd);
    }
    int rv = 0;
    if (mount_at_fd(src, fd, NULL, MS_BIND | MS_REC, NULL) != 0) {
        rv = cl_err_from_errno(errno);
        cl_errmsg_set(em, "bind '%s' on '%s': %s", src, dst, strerror(errno));
    }
    close(fd);
    if (rv != 0 || !ro)
        return rv;
    /* A bind mount takes the read-only flag only through a remount of the
     * new mount itself: reopen dst, which now resolves to its top. */
    fd = agent_sb__in_root_open(rootfd, dst, O_PATH, 0);
    if (fd < 0) {
        cl_errmsg_set(em, "'%s' in the view: %s", dst, strerror(-fd));
        return cl_err_from_errno(-fd);
    }
    if (mount_at_fd(NULL, fd, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) !=
        0) {
        rv = cl_err_from_errno(errno);
        cl_errmsg_set(em, "read-only '%s': %s", dst, strerror(errno));
    }
    close(fd);
    return rv;
}

/* detach_under - lazily unmount every mount at or below `prefix` (a path
 * in our namespace). Only the outermost ones need it: MNT_DETACH takes
 * their children along. */
static void detach_under(const char *prefix)
{
    char *text = NULL;
    struct agent_sb__mnt *m = NULL;
    size_t nm = 0;
    if (agent_sb__read_alloc("/proc/self/mountinfo", &text, NULL) != 0 ||
        agent_sb__mountinfo_parse(text, &m, &nm) != 0) {
        cl_free(text);
        return;
    }
    cl_free(text);
    for (size_t i = 0; i < nm; i++) {
        if (!path_under(m[i].mountpoint, prefix))
            continue;
        bool nested = false;
        for (size_t k = 0; k < nm && !nested; k++)
            nested =
                m[k].id == m[i].parent && path_under(m[k].mountpoint, prefix);
        if (!nested)
            (void)umount2(m[i].mountpoint, MNT_DETACH);
    }
    agent_sb__mountinfo_free(m, nm);
}

/* hide - cover `path` in the view with an empty read-only tmpfs. A path
 * the view does not have needs no hiding. */
static int hide(int rootfd, const char *path, cl_errmsg *em)
{
    int fd = agent_sb__in_root_open(rootfd, path, O_PATH | O_DIRECTORY, 0);
    if (fd == -ENOENT)
        return 0;
    if (fd < 0) {
        cl_errmsg_set(em, "hide %s in the view: %s", path, strerror(-fd));
        return cl_err_from_errno(-fd);
    }
    int r = mount_at_fd("tmpfs", fd, "tmpfs",
                        MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                        "size=4k,mode=0755");
    int e = errno;
    close(fd);
    if (r != 0) {
        cl_errmsg_set(em, "hide %s in the view: %s", path, strerror(e));
        return cl_err_from_errno(e);
    }
    return 0;
}

/* host_mounts - the mount points to bind into the view: the fixed set
 * plus every mount whose parent is the root mount, minus /tmp and anything
 * at or under the view dir. *list is cl_malloc'd strings. */
static int host_mounts(const char *dir, char ***list, size_t *n, cl_errmsg *em)
{
    static const char *const fixed[] = {"/proc", "/sys", "/dev", "/run"};
    char *text = NULL;
    struct agent_sb__mnt *m = NULL;
    size_t nm = 0;
    int rv = agent_sb__read_alloc("/proc/self/mountinfo", &text, NULL);
    if (rv == 0)
        rv = agent_sb__mountinfo_parse(text, &m, &nm);
    cl_free(text);
    if (rv != 0) {
        cl_errmsg_set(em, "read /proc/self/mountinfo: %s", cl_strerror(rv));
        return rv;
    }
    int root_id = -1;
    for (size_t i = 0; i < nm; i++)
        if (strcmp(m[i].mountpoint, "/") == 0)
            root_id = m[i].id; /* the last one is the visible one */
    char **out = cl_calloc(nm + 4 + 1, sizeof(*out));
    size_t cnt = 0;
    if (out == NULL) {
        agent_sb__mountinfo_free(m, nm);
        cl_errmsg_set(em, "out of memory");
        return CL_ENOMEM;
    }
    for (size_t i = 0; i < 4 + nm; i++) {
        const char *p;
        if (i < 4) {
            p = fixed[i];
            struct stat st;
            if (stat(p, &st) != 0)
                continue;
        } else {
            if (m[i - 4].parent != root_id)
                continue;
            p = m[i - 4].mountpoint;
        }
        if (strcmp(p, "/") == 0 || path_under(p, "/tmp") || path_under(p, dir))
            continue;
        bool dup = false;
        for (size_t k = 0; k < cnt; k++)
            if (path_under(p, out[k]))
                dup = true; /* covered by a recursive bind already */
        if (dup)
            continue;
        out[cnt] = cl_strdup(p);
        if (out[cnt] == NULL) {
            rv = CL_ENOMEM;
            break;
        }
        cnt++;
    }
    agent_sb__mountinfo_free(m, nm);
    if (rv != 0) {
        for (size_t k = 0; k < cnt; k++)
            cl_free(out[k]);
        cl_free(out);
        cl_errmsg_set(em, "out of memory");
        return rv;
    }
    *list = out;
    *n = cnt;
    return 0;
}

/* dir_empty - true for a missing or empty directory. */
static bool dir_empty(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return errno == ENOENT;
    struct dirent *de;
    bool empty = true;
    while (empty && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            empty = false;
    closedir(d);
    return empty;
}

static int mount_overlay(const struct agent_sb__view *v, cl_errmsg *em)
{
    char upper[PATH_MAX], work[PATH_MAX], opts[3 * PATH_MAX];
    int rv = agent_sb__join(upper, sizeof(upper), v->dir, "upper");
    if (rv == 0)
        rv = agent_sb__join(work, sizeof(work), v->dir, "work");
    if (rv != 0)
        return rv;
    if (mkdir(upper, 0755) != 0 && errno != EEXIST)
        goto sys_err;
    if (mkdir(work, 0700) != 0 && errno != EEXIST)
        goto sys_err;
    if (mkdir(v->merged, 0755) != 0 && errno != EEXIST)
        goto sys_err;
    /* "volatile" (Linux 5.10) skips syncs of an upper layer that is thrown
     * away after the step; older kernels refuse the option. */
    snprintf(opts, sizeof(opts), "lowerdir=/,upperdir=%s,workdir=%s,volatile",
             upper, work);
    if (mount("overlay", v->merged, "overlay", 0, opts) == 0)
        return 0;
    snprintf(opts, sizeof(opts), "lowerdir=/,upperdir=%s,workdir=%s", upper,
             work);
    if (mount("overlay", v->merged, "overlay", 0, opts) == 0)
        return 0;
sys_err:
    cl_errmsg_set(em, "overlayfs over / in %s: %s", v->dir, strerror(errno));
    return cl_err_from_errno(errno);
}

int agent_sb__view_setup(const struct agent_sb_opts *o,
                         struct agent_sb__view *v, bool *can_fallback,
                         cl_errmsg *em)
{
    *can_fallback = true;
    char **mounts = NULL;
    size_t nmounts = 0;
    int rv = 0;
    if (geteuid() != 0) {
        cl_errmsg_set(em, "not running as root");
        return CL_EPERM;
    }
    rv = agent_sb__mkdirs(o->view_dir, 0755);
    if (rv != 0) {
        *can_fallback = false;
        cl_errmsg_set(em, "cannot create %s: %s", o->view_dir, cl_strerror(rv));
        return rv;
    }
    if (realpath(o->view_dir, v->dir) == NULL) {
        *can_fallback = false;
        cl_errmsg_set(em, "%s: %s", o->view_dir, strerror(errno));
        return cl_err_from_errno(errno);
    }
    if (strpbrk(v->dir, ",:\\") != NULL) {
        *can_fallback = false;
        cl_errmsg_set(em, "view dir '%s' contains ',', ':' or '\\'", v->dir);
        return CL_EINVAL;
    }
    rv = agent_sb__join(v->merged, sizeof(v->merged), v->dir, "merged");
    if (rv != 0) {
        cl_errmsg_set(em, "view dir path too long");
        return rv;
    }
    /* An upper layer left by an earlier attempt would show its files to
     * this one: each attempt gets a fresh directory. */
    char upper[PATH_MAX];
    if (agent_sb__join(upper, sizeof(upper), v->dir, "upper") == 0 &&
        !dir_empty(upper)) {
        *can_fallback = false;
        cl_errmsg_set(em,
                      "view dir %s holds an earlier step's layer; use a "
                      "fresh directory for each attempt",
                      v->dir);
        return CL_EEXIST;
    }
    rv = host_mounts(v->dir, &mounts, &nmounts, em);
    if (rv != 0)
        return rv;
    if (unshare(CLONE_NEWNS) != 0) {
        rv = cl_err_from_errno(errno);
        cl_errmsg_set(em, "new mount namespace: %s", strerror(errno));
        goto out;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        rv = cl_err_from_errno(errno);
        cl_errmsg_set(em, "make mounts private: %s", strerror(errno));
        goto out;
    }
    rv = mount_overlay(v, em);
    if (rv != 0) {
        /* DIR's filesystem cannot hold an upper layer: keep it in memory. */
        cl_errmsg tmp_em;
        cl_errmsg_clear(&tmp_em);
        if (mount("tmpfs", v->dir, "tmpfs", MS_NOSUID | MS_NODEV,
                  "mode=0755") == 0) {
            if (mount_overlay(v, &tmp_em) == 0) {
                rv = 0;
                v->upper_in_memory = true;
            } else {
                (void)umount2(v->dir, MNT_DETACH);
            }
        }
        if (rv != 0)
            goto out;
    }
    v->rootfd = open(v->merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (v->rootfd < 0) {
        rv = cl_err_from_errno(errno);
        cl_errmsg_set(em, "open %s: %s", v->merged, strerror(errno));
        goto out;
    }
    /* From here on the step's own setup begins: a failure is the agent's
     * to see, not a reason to run the step elsewhere. */
    *can_fallback = false;
    for (size_t i = 0; i < nmounts; i++) {
        cl_errmsg m;
        cl_errmsg_clear(&m);
        int r = bind_into(v->rootfd, mounts[i], mounts[i], false, false, &m);
        if (r == 0)
            continue;
        bool essential = strcmp(mounts[i], "/proc") == 0 ||
                         strcmp(mounts[i], "/sys") == 0 ||
                         strcmp(mounts[i], "/dev") == 0;
        if (essential) {
            rv = r;
            cl_errmsg_set(em, "%s", m.msg);
            goto out;
        }
        fprintf(stderr,
                "couler-exec: warning: host mount %s is not in the "
                "step's view: %s\n",
                mounts[i], m.msg);
    }
    /* Hide DIR (and with it the overlay's trapped upper and work dirs),
     * then what the agent asks to hide. A host mount that contains DIR was
     * bound in with copies of our own mounts at DIR: detach those first. */
    char inner[2 * PATH_MAX];
    snprintf(inner, sizeof(inner), "%s%s", v->merged, v->dir);
    detach_under(inner);
    rv = hide(v->rootfd, v->dir, em);
    for (size_t i = 0; rv == 0 && i < o->n_hides; i++)
        rv = hide(v->rootfd, o->hides[i], em);
    if (rv != 0)
        goto out;
    if (o->tmp_dir != NULL) {
        rv = bind_into(v->rootfd, o->tmp_dir, "/tmp", false, true, em);
        if (rv != 0) {
            cl_errmsg_wrap(em, "--tmp");
            goto out;
        }
    }
    for (size_t i = 0; i < o->n_binds; i++) {
        rv = bind_into(v->rootfd, o->binds[i].src, o->binds[i].dst, false, true,
                       em);
        if (rv != 0) {
            cl_errmsg_wrap(em, "--bind");
            goto out;
        }
    }
    for (size_t i = 0; i < o->n_stages_ro; i++) {
        rv = bind_into(v->rootfd, o->stages_ro[i].src, o->stages_ro[i].dst,
                       true, true, em);
        if (rv != 0) {
            cl_errmsg_wrap(em, "--stage-ro");
            goto out;
        }
    }
    for (size_t i = 0; i < o->n_stages; i++) {
        rv = agent_sb__copy_in(o->stages[i].src, v->rootfd, o->stages[i].dst,
                               em);
        if (rv != 0)
            goto out;
    }
    v->isolated = true;
out:
    for (size_t i = 0; i < nmounts; i++)
        cl_free(mounts[i]);
    cl_free(mounts);
    if (rv != 0)
        agent_sb__view_close(v);
    return rv;
}

int agent_sb__view_enter(const struct agent_sb__view *v, cl_errmsg *em)
{
    /* Our own copy of the namespace, so that pivot_root moves only the
     * step's root and couler-exec keeps the view at DIR/merged for
     * --collect. The copies are private like their originals. */
    if (unshare(CLONE_NEWNS) != 0) {
        cl_errmsg_set(em, "new mount namespace: %s", strerror(errno));
        return cl_err_from_errno(errno);
    }
    if (chdir(v->merged) != 0) {
        cl_errmsg_set(em, "chdir %s: %s", v->merged, strerror(errno));
        return cl_err_from_errno(errno);
    }
    /* pivot_root(".", ".") stacks the old root on top of the new one;
     * detaching it leaves the view alone (pivot_root(2), NOTES). */
    if (syscall(SYS_pivot_root, ".", ".") != 0) {
        cl_errmsg_set(em, "pivot_root into the view: %s", strerror(errno));
        return cl_err_from_errno(errno);
    }
    if (umount2(".", MNT_DETACH) != 0) {
        cl_errmsg_set(em, "detach the host root: %s", strerror(errno));
        return cl_err_from_errno(errno);
    }
    if (chdir("/") != 0) {
        cl_errmsg_set(em, "chdir /: %s", strerror(errno));
        return cl_err_from_errno(errno);
    }
    return 0;
}
