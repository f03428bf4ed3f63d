/* fsutil.c - file helpers for the sandbox: small reads and writes of
 * cgroup interface files, paths resolved inside a step's view, recursive
 * copies in and out of a view, removal of trees and the mount table. */
#include "agent/sandbox/sb_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cl_heap.h"

/* ---- small files ------------------------------------------------------- */

int agent_sb__read_file(const char *path, char *buf, size_t len, size_t *n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cl_err_from_errno(errno);
    size_t used = 0;
    int rv = 0;
    for (;;) {
        if (used + 1 >= len) {
            /* Probe for more data: a full buffer is only an error when the
             * file goes on. */
            char probe;
            ssize_t r = read(fd, &probe, 1);
            if (r > 0)
                rv = CL_ETOOBIG;
            break;
        }
        ssize_t r = read(fd, buf + used, len - 1 - used);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rv = cl_err_from_errno(errno);
            break;
        }
        if (r == 0)
            break;
        used += (size_t)r;
    }
    close(fd);
    if (len > 0)
        buf[used < len ? used : len - 1] = '\0';
    if (n != NULL)
        *n = used;
    return rv;
}

int agent_sb__read_alloc(const char *path, char **out, size_t *n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cl_err_from_errno(errno);
    size_t cap = 4096, used = 0;
    char *buf = cl_malloc(cap);
    int rv = 0;
    if (buf == NULL) {
        rv = CL_ENOMEM;
        goto out;
    }
    for (;;) {
        if (used + 1 >= cap) {
            char *nb = cl_realloc(buf, cap * 2);
            if (nb == NULL) {
                rv = CL_ENOMEM;
                goto out;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + used, cap - 1 - used);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rv = cl_err_from_errno(errno);
            goto out;
        }
        if (r == 0)
            break;
        used += (size_t)r;
    }
    buf[used] = '\0';
    *out = buf;
    buf = NULL;
    if (n != NULL)
        *n = used;
out:
    cl_free(buf);
    close(fd);
    return rv;
}

int agent_sb__write_file(const char *path, const char *text, bool create)
{
    int flags = O_WRONLY | O_CLOEXEC;
    if (create)
        flags |= O_CREAT | O_TRUNC;
    int fd = open(path, flags, 0644);
    if (fd < 0)
        return cl_err_from_errno(errno);
    size_t len = strlen(text);
    ssize_t w;
    do {
        w = write(fd, text, len);
    } while (w < 0 && errno == EINTR);
    int e = errno;
    int rv = 0;
    if (w < 0)
        rv = cl_err_from_errno(e);
    else if ((size_t)w != len)
        rv = CL_EIO;
    if (close(fd) != 0 && rv == 0)
        rv = cl_err_from_errno(errno);
    return rv;
}

int agent_sb__join(char *buf, size_t len, const char *a, const char *b)
{
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    int n;
    if (*b == '\0')
        n = snprintf(buf, len, "%.*s", (int)la, a);
    else if (la == 1 && a[0] == '/')
        n = snprintf(buf, len, "/%s", b);
    else
        n = snprintf(buf, len, "%.*s/%s", (int)la, a, b);
    if (n < 0 || (size_t)n >= len)
        return CL_ETOOBIG;
    return 0;
}

int agent_sb__mkdirs(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(buf))
        return CL_EINVAL;
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return cl_err_from_errno(errno);
        *p = saved;
        if (saved == '\0')
            break;
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return cl_err_from_errno(errno);
    return S_ISDIR(st.st_mode) ? 0 : CL_EEXIST;
}

bool agent_sb__u64(const char *text, uint64_t *val)
{
    while (isspace((unsigned char)*text))
        text++;
    if (!isdigit((unsigned char)*text))
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0)
        return false;
    while (isspace((unsigned char)*end))
        end++;
    if (*end != '\0')
        return false;
    *val = (uint64_t)v;
    return true;
}

bool agent_sb__kv(const char *text, const char *key, uint64_t *val)
{
    size_t kl = strlen(key);
    const char *p = text;
    while (p != NULL && *p != '\0') {
        if (strncmp(p, key, kl) == 0 && (p[kl] == ' ' || p[kl] == '\t')) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(p + kl, &end, 10);
            if (errno == 0 && end != p + kl) {
                *val = (uint64_t)v;
                return true;
            }
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return false;
}

/* ---- paths inside a view ----------------------------------------------- */

int agent_sb__in_root_open(int rootfd, const char *path, int flags, mode_t mode)
{
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    long fd;
    do {
        fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
    } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    return fd < 0 ? -errno : (int)fd;
}

/* split_path - dirname and basename of a path, trailing '/' ignored, into
 * two buffers of PATH_MAX and NAME_MAX+1 bytes. dir gets "/" for top-level
 * names and "." for a bare name. Returns false for "/" itself, "" or a
 * name that does not fit. */
static bool split_path(const char *path, char *dir, char *base)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    if (n == 0 || (n == 1 && path[0] == '/') || n >= PATH_MAX)
        return false;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/')
        b--;
    if (n - b > NAME_MAX)
        return false;
    memcpy(base, path + b, n - b);
    base[n - b] = '\0';
    if (b == 0) {
        strcpy(dir, ".");
        return true;
    }
    size_t d = b;
    while (d > 1 && path[d - 1] == '/')
        d--;
    memcpy(dir, path, d);
    dir[d] = '\0';
    return true;
}

int agent_sb__in_root_mkdirs(int rootfd, const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof(buf))
        return CL_ETOOBIG;
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        int fd = agent_sb__in_root_open(rootfd, buf, O_PATH | O_DIRECTORY, 0);
        if (fd == -ENOENT) {
            char dir[PATH_MAX], base[NAME_MAX + 1];
            if (!split_path(buf, dir, base))
                return CL_EINVAL;
            int pfd =
                agent_sb__in_root_open(rootfd, dir, O_PATH | O_DIRECTORY, 0);
            if (pfd < 0)
                return cl_err_from_errno(-pfd);
            int r = mkdirat(pfd, base, mode);
            int e = errno;
            close(pfd);
            if (r != 0 && e != EEXIST)
                return cl_err_from_errno(e);
            fd = agent_sb__in_root_open(rootfd, buf, O_PATH | O_DIRECTORY, 0);
        }
        if (fd < 0)
            return cl_err_from_errno(-fd);
        close(fd);
        *p = saved;
        if (saved == '\0' || p[1] == '\0')
            break;
    }
    return 0;
}

/* ---- recursive copies -------------------------------------------------- */

static int copy_bytes(int in, int out)
{
    char buf[65536];
    for (;;) {
        ssize_t r = read(in, buf, sizeof(buf));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return cl_err_from_errno(errno);
        }
        if (r == 0)
            return 0;
        char *p = buf;
        while (r > 0) {
            ssize_t w = write(out, p, (size_t)r);
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                return cl_err_from_errno(errno);
            }
            p += w;
            r -= w;
        }
    }
}

/* prepare_slot - make room for a new `want` (S_IFDIR or other) entry named
 * `name` in ddir: an existing non-directory is unlinked, an existing
 * directory is kept when a directory is wanted (merge). */
static int prepare_slot(int ddir, const char *name, mode_t want, cl_errmsg *em)
{
    struct stat st;
    if (fstatat(ddir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return 0;
        cl_errmsg_set(em, "'%s': %s", name, strerror(errno));
        return cl_err_from_errno(errno);
    }
    if (S_ISDIR(st.st_mode)) {
        if (want == S_IFDIR)
            return 0;
        cl_errmsg_set(em, "'%s' is a directory", name);
        return CL_EEXIST;
    }
    if (unlinkat(ddir, name, 0) != 0) {
        cl_errmsg_set(em, "cannot replace '%s': %s", name, strerror(errno));
        return cl_err_from_errno(errno);
    }
    return 0;
}

static int copy_from_fd(int sfd, const struct stat *st, int ddir,
                        const char *dname, cl_errmsg *em);

static int copy_dir_entries(int sfd, int dfd, cl_errmsg *em)
{
    int dupfd = dup(sfd);
    if (dupfd < 0)
        return cl_err_from_errno(errno);
    DIR *d = fdopendir(dupfd);
    if (d == NULL) {
        int e = errno;
        close(dupfd);
        return cl_err_from_errno(e);
    }
    int rv = 0;
    struct dirent *de;
    while (rv == 0 && (errno = 0, de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
            continue;
        struct stat cst;
        if (fstatat(sfd, n, &cst, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT)
                continue;
            rv = cl_err_from_errno(errno);
            cl_errmsg_set(em, "'%s': %s", n, strerror(errno));
            break;
        }
        if (S_ISLNK(cst.st_mode)) {
            char target[PATH_MAX];
            ssize_t tl = readlinkat(sfd, n, target, sizeof(target) - 1);
            if (tl < 0) {
                rv = cl_err_from_errno(errno);
                cl_errmsg_set(em, "'%s': %s", n, strerror(errno));
                break;
            }
            target[tl] = '\0';
            rv = prepare_slot(dfd, n, S_IFLNK, em);
            if (rv == 0 && symlinkat(target, dfd, n) != 0) {
                rv = cl_err_from_errno(errno);
                cl_errmsg_set(em, "'%s': %s", n, strerror(errno));
            }
            continue;
        }
        if (!S_ISREG(cst.st_mode) && !S_ISDIR(cst.st_mode))
            continue; /* devices, fifos, sockets: not artifact content */
        int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY;
        if (S_ISDIR(cst.st_mode))
            flags |= O_DIRECTORY;
        int cfd = openat(sfd, n, flags);
        if (cfd < 0) {
            rv = cl_err_from_errno(errno);
            cl_errmsg_set(em, "'%s': %s", n, strerror(errno));
            break;
        }
        rv = copy_from_fd(cfd, &cst, dfd, n, em);
        close(cfd);
        if (rv != 0)
            cl_errmsg_wrap(em, "%s", n);
    }
    if (rv == 0 && errno != 0)
        rv = cl_err_from_errno(errno);
    closedir(d);
    return rv;
}

/* copy_from_fd - copy the open file or directory sfd (stat in st) to name
 * dname inside directory ddir. */
static int copy_from_fd(int sfd, const struct stat *st, int ddir,
                        const char *dname, cl_errmsg *em)
{
    int rv;
    mode_t perm = st->st_mode & 07777;
    if (S_ISDIR(st->st_mode)) {
        rv = prepare_slot(ddir, dname, S_IFDIR, em);
        if (rv != 0)
            return rv;
        if (mkdirat(ddir, dname, 0700) != 0 && errno != EEXIST) {
            cl_errmsg_set(em, "mkdir '%s': %s", dname, strerror(errno));
            return cl_err_from_errno(errno);
        }
        int dfd = openat(ddir, dname,
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0) {
            cl_errmsg_set(em, "'%s': %s", dname, strerror(errno));
            return cl_err_from_errno(errno);
        }
        rv = copy_dir_entries(sfd, dfd, em);
        if (rv == 0 && fchmod(dfd, perm) != 0)
            rv = cl_err_from_errno(errno);
        close(dfd);
        return rv;
    }
    if (!S_ISREG(st->st_mode)) {
        cl_errmsg_set(em, "'%s' is neither a file nor a directory", dname);
        return CL_ENOTSUP;
    }
    rv = prepare_slot(ddir, dname, S_IFREG, em);
    if (rv != 0)
        return rv;
    int dfd =
        openat(ddir, dname,
               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (dfd < 0) {
        cl_errmsg_set(em, "create '%s': %s", dname, strerror(errno));
        return cl_err_from_errno(errno);
    }
    rv = copy_bytes(sfd, dfd);
    if (rv != 0)
        cl_errmsg_set(em, "copy '%s': %s", dname, cl_strerror(rv));
    if (rv == 0 && fchmod(dfd, perm) != 0)
        rv = cl_err_from_errno(errno);
    if (close(dfd) != 0 && rv == 0) {
        rv = cl_err_from_errno(errno);
        cl_errmsg_set(em, "close '%s': %s", dname, strerror(errno));
    }
    return rv;
}

/* reopen_readable - turn an O_PATH fd of a file or directory into one that
 * can be read, without following anything again. */
static int reopen_readable(int pathfd, const struct stat *st)
{
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pathfd);
    int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY;
    if (S_ISDIR(st->st_mode))
        flags |= O_DIRECTORY;
    return open(proc, flags);
}

int agent_sb__copy_in(const char *src, int rootfd, const char *dst,
                      cl_errmsg *em)
{
    char dir[PATH_MAX], base[NAME_MAX + 1];
    if (!split_path(dst, dir, base)) {
        cl_errmsg_set(em, "stage '%s': bad destination", dst);
        return CL_EINVAL;
    }
    int rv = 0, pfd = -1, sfd = -1, rfd = -1;
    sfd = open(src, O_PATH | O_CLOEXEC);
    if (sfd < 0) {
        rv = cl_err_from_errno(errno);
        cl_errmsg_set(em, "stage '%s': %s", src, strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(sfd, &st) != 0 ||
        (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))) {
        rv = CL_ENOTSUP;
        cl_errmsg_set(em, "stage '%s': not a file or directory", src);
        goto out;
    }
    rfd = reopen_readable(sfd, &st);
    if (rfd < 0) {
        rv = cl_err_from_errno(errno);
        cl_errmsg_set(em, "stage '%s': %s", src, strerror(errno));
        goto out;
    }
    rv = agent_sb__in_root_mkdirs(rootfd, dir, 0755);
    if (rv != 0) {
        cl_errmsg_set(em, "stage '%s': cannot create '%s': %s", dst, dir,
                      cl_strerror(rv));
        goto out;
    }
    pfd = agent_sb__in_root_open(rootfd, dir, O_PATH | O_DIRECTORY, 0);
    if (pfd < 0) {
        rv = cl_err_from_errno(-pfd);
        cl_errmsg_set(em, "stage '%s': %s", dst, strerror(-pfd));
        goto out;
    }
    rv = copy_from_fd(rfd, &st, pfd, base, em);
    if (rv != 0)
        cl_errmsg_wrap(em, "stage '%s' to '%s'", src, dst);
out:
    if (pfd >= 0)
        close(pfd);
    if (rfd >= 0)
        close(rfd);
    if (sfd >= 0)
        close(sfd);
    return rv;
}

int agent_sb__copy_out(int rootfd, const char *src, const char *dst,
                       cl_errmsg *em)
{
    char dir[PATH_MAX], base[NAME_MAX + 1];
    if (!split_path(dst, dir, base)) {
        cl_errmsg_set(em, "collect to '%s': bad destination", dst);
        return CL_EINVAL;
    }
    int rv = 0, pathfd = -1, rfd = -1, pfd = -1;
    char tmp[NAME_MAX + 1];
    bool tmp_made = false;
    pathfd = agent_sb__in_root_open(rootfd, src, O_PATH, 0);
    if (pathfd < 0) {
        if (pathfd == -ENOENT || pathfd == -ENOTDIR)
            return CL_ENOENT; /* the step did not produce it */
        cl_errmsg_set(em, "collect '%s': %s", src, strerror(-pathfd));
        return cl_err_from_errno(-pathfd);
    }
    struct stat st;
    if (fstat(pathfd, &st) != 0 ||
        (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))) {
        rv = CL_ENOTSUP;
        cl_errmsg_set(em, "collect '%s': not a file or directory", src);
        goto out;
    }
    rfd = reopen_readable(pathfd, &st);
    if (rfd < 0) {
        rv = cl_err_from_errno(errno);
        cl_errmsg_set(em, "collect '%s': %s", src, strerror(errno));
        goto out;
    }
    rv = agent_sb__mkdirs(dir, 0755);
    if (rv != 0) {
        cl_errmsg_set(em, "collect '%s': cannot create '%s': %s", src, dir,
                      cl_strerror(rv));
        goto out;
    }
    pfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0) {
        rv = cl_err_from_errno(errno);
        cl_errmsg_set(em, "collect '%s': %s: %s", src, dir, strerror(errno));
        goto out;
    }
    snprintf(tmp, sizeof(tmp), ".%.200s.collect-%ld", base, (long)getpid());
    char tmppath[PATH_MAX];
    rv = agent_sb__join(tmppath, sizeof(tmppath), dir, tmp);
    if (rv != 0)
        goto out;
    (void)agent_sb_rmtree(tmppath, NULL);
    tmp_made = true;
    rv = copy_from_fd(rfd, &st, pfd, tmp, em);
    if (rv != 0) {
        cl_errmsg_wrap(em, "collect '%s'", src);
        goto out;
    }
    struct stat dst_st;
    if (fstatat(pfd, base, &dst_st, AT_SYMLINK_NOFOLLOW) == 0) {
        rv = agent_sb_rmtree(dst, em);
        if (rv != 0) {
            cl_errmsg_wrap(em, "collect '%s': replace '%s'", src, dst);
            goto out;
        }
    }
    if (renameat(pfd, tmp, pfd, base) != 0) {
        rv = cl_err_from_errno(errno);
        cl_errmsg_set(em, "collect '%s': rename to '%s': %s", src, dst,
                      strerror(errno));
        goto out;
    }
    tmp_made = false;
out:
    if (tmp_made)
        (void)agent_sb_rmtree(tmppath, NULL);
    if (pfd >= 0)
        close(pfd);
    if (rfd >= 0)
        close(rfd);
    close(pathfd);
    return rv;
}

/* ---- removal ----------------------------------------------------------- */

static int rmtree_at(int dfd, const char *name, dev_t dev, cl_errmsg *em)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : cl_err_from_errno(errno);
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT) {
            cl_errmsg_set(em, "unlink '%s': %s", name, strerror(errno));
            return cl_err_from_errno(errno);
        }
        return 0;
    }
    if (st.st_dev != dev) {
        cl_errmsg_set(em, "'%s' is a mount point", name);
        return CL_EBUSY;
    }
    int cfd =
        openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (cfd < 0 && errno == EACCES) {
        /* The overlay work dir is mode 000; an owner may open it after a
         * chmod (root does not need to). */
        if (fchmodat(dfd, name, 0700, 0) == 0)
            cfd = openat(dfd, name,
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (cfd < 0) {
        cl_errmsg_set(em, "open '%s': %s", name, strerror(errno));
        return cl_err_from_errno(errno);
    }
    DIR *d = fdopendir(cfd);
    if (d == NULL) {
        int e = errno;
        close(cfd);
        return cl_err_from_errno(e);
    }
    int rv = 0;
    struct dirent *de;
    while (rv == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rv = rmtree_at(dirfd(d), de->d_name, dev, em);
        if (rv != 0)
            cl_errmsg_wrap(em, "%s", name);
    }
    closedir(d);
    if (rv == 0 && unlinkat(dfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
        cl_errmsg_set(em, "rmdir '%s': %s", name, strerror(errno));
        rv = cl_err_from_errno(errno);
    }
    return rv;
}

int agent_sb_rmtree(const char *path, cl_errmsg *em)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        cl_errmsg_set(em, "rmtree '%s': %s", path, strerror(errno));
        return cl_err_from_errno(errno);
    }
    int rv = rmtree_at(AT_FDCWD, path, st.st_dev, em);
    if (rv != 0)
        cl_errmsg_wrap(em, "rmtree");
    return rv;
}

/* ---- mount table ------------------------------------------------------- */

/* unescape - mountinfo writes space, tab, newline and backslash as \ooo. */
static char *unescape(const char *s, size_t len)
{
    char *out = cl_malloc(len + 1);
    if (out == NULL)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' &&
            s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' &&
            s[i + 3] <= '7') {
            out[j++] = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 +
                              (s[i + 3] - '0'));
            i += 3;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return out;
}

void agent_sb__mountinfo_free(struct agent_sb__mnt *m, size_t n)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        cl_free(m[i].root);
        cl_free(m[i].mountpoint);
        cl_free(m[i].fstype);
        cl_free(m[i].superopts);
    }
    cl_free(m);
}

/* next_field - the next space-separated field of a line. */
static bool next_field(const char **p, const char *end, const char **f,
                       size_t *flen)
{
    const char *s = *p;
    while (s < end && *s == ' ')
        s++;
    if (s >= end)
        return false;
    const char *e = s;
    while (e < end && *e != ' ')
        e++;
    *f = s;
    *flen = (size_t)(e - s);
    *p = e;
    return true;
}

static int parse_line(const char *s, const char *end, struct agent_sb__mnt *m)
{
    const char *f[6];
    size_t fl[6];
    for (int i = 0; i < 6; i++)
        if (!next_field(&s, end, &f[i], &fl[i]))
            return CL_EPARSE;
    /* Optional fields up to the "-" separator. */
    const char *sep;
    size_t sl;
    do {
        if (!next_field(&s, end, &sep, &sl))
            return CL_EPARSE;
    } while (!(sl == 1 && sep[0] == '-'));
    const char *fs, *src, *sup;
    size_t fsl, srcl, supl;
    if (!next_field(&s, end, &fs, &fsl) || !next_field(&s, end, &src, &srcl))
        return CL_EPARSE;
    if (!next_field(&s, end, &sup, &supl)) {
        sup = "";
        supl = 0;
    }
    char *e1, *e2;
    long id = strtol(f[0], &e1, 10);
    long parent = strtol(f[1], &e2, 10);
    if (e1 != f[0] + fl[0] || e2 != f[1] + fl[1])
        return CL_EPARSE;
    m->id = (int)id;
    m->parent = (int)parent;
    m->root = unescape(f[3], fl[3]);
    m->mountpoint = unescape(f[4], fl[4]);
    m->fstype = unescape(fs, fsl);
    m->superopts = unescape(sup, supl);
    if (!m->root || !m->mountpoint || !m->fstype || !m->superopts)
        return CL_ENOMEM;
    return 0;
}

int agent_sb__mountinfo_parse(const char *text, struct agent_sb__mnt **out,
                              size_t *n)
{
    size_t cap = 0, cnt = 0;
    struct agent_sb__mnt *arr = NULL;
    int rv = 0;
    const char *p = text;
    while (*p != '\0') {
        const char *end = strchr(p, '\n');
        if (end == NULL)
            end = p + strlen(p);
        if (end > p) {
            if (cnt == cap) {
                size_t ncap = cap ? cap * 2 : 32;
                struct agent_sb__mnt *na = cl_realloc(arr, ncap * sizeof(*na));
                if (na == NULL) {
                    rv = CL_ENOMEM;
                    goto err;
                }
                arr = na;
                cap = ncap;
            }
            memset(&arr[cnt], 0, sizeof(arr[cnt]));
            rv = parse_line(p, end, &arr[cnt]);
            cnt++;
            if (rv != 0)
                goto err;
        }
        p = *end ? end + 1 : end;
    }
    *out = arr;
    *n = cnt;
    return 0;
err:
    agent_sb__mountinfo_free(arr, cnt);
    return rv;
}

bool agent_sb__has_opt(const char *opts, const char *opt)
{
    size_t ol = strlen(opt);
    const char *p = opts;
    while (p != NULL && *p) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l == ol && strncmp(p, opt, ol) == 0)
            return true;
        p = c ? c + 1 : NULL;
    }
    return false;
}
