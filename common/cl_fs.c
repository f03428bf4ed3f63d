#include "common/cl_fs.h"

#include "common/cl_err.h"
#include "common/cl_heap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

int cl_mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
        return CL_ETOOBIG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return cl_err_from_errno(errno);
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return cl_err_from_errno(errno);
    return 0;
}

int cl_write_file(const char *path, const void *data, size_t len, int mode,
                  bool sync)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return CL_ETOOBIG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return cl_err_from_errno(errno);
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return cl_err_from_errno(e);
        }
        p += n;
        left -= (size_t)n;
    }
    if (sync && fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return cl_err_from_errno(e);
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return cl_err_from_errno(e);
    }
    return 0;
}

int cl_read_file(const char *path, size_t max, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cl_err_from_errno(errno);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return CL_EINVAL;
    }
    if ((size_t)st.st_size > max) {
        close(fd);
        return CL_ETOOBIG;
    }
    char *buf = cl_malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return CL_ENOMEM;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

int cl_fs_space(const char *path, uint64_t *avail, uint64_t *size,
                bool *rdonly)
{
    struct statvfs v;
    if (statvfs(path, &v) != 0)
        return cl_err_from_errno(errno);
    if (avail != NULL)
        *avail = (uint64_t)v.f_bavail * v.f_frsize;
    if (size != NULL)
        *size = (uint64_t)v.f_blocks * v.f_frsize;
    if (rdonly != NULL)
        *rdonly = (v.f_flag & ST_RDONLY) != 0;
    return 0;
}

void cl_fs_bytes_format(uint64_t n, char *buf, size_t len)
{
    static const char *units[] = {"B",   "KiB", "MiB", "GiB",
                                  "TiB", "PiB", "EiB"};
    double x = (double)n;
    int u = 0;
    while (x >= 1024 && u < 6) {
        x /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%llu B", (unsigned long long)n);
    else
        snprintf(buf, len, "%.1f %s", x, units[u]);
}
