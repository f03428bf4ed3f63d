/* cl_fs.h - small file-system helpers shared by the daemons. */
#ifndef COULER_CL_FS_H
#define COULER_CL_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* cl_mkdir_p - create `path` and its missing parents (mode 0755). 0 if it
 * exists or was made, else a CL_E* code. */
int cl_mkdir_p(const char *path);

/* cl_write_file - write len bytes to `path` through `path`.tmp and a
 * rename, so readers see the whole old file or the whole new one, and a
 * crash of the process never leaves half a file. `sync` also fsyncs before
 * the rename (surviving power loss). */
int cl_write_file(const char *path, const void *data, size_t len, int mode,
                  bool sync);

/* cl_read_file - a regular file of at most `max` bytes into a cl_malloc'd,
 * NUL-terminated buffer. CL_ETOOBIG above max, CL_EINVAL for a non-regular
 * file. */
int cl_read_file(const char *path, size_t max, char **out, size_t *len);

/* cl_fs_space - the bytes an unprivileged writer may still use (f_bavail)
 * and the size of the file system holding `path`; *rdonly when it is
 * mounted read-only. Any out pointer may be NULL. 0 or a CL_E* code. */
int cl_fs_space(const char *path, uint64_t *avail, uint64_t *size,
                bool *rdonly);

/* cl_fs_bytes_format - a size for people: "512 B", "1.5 KiB", "64.0 MiB",
 * "377.5 GiB". */
void cl_fs_bytes_format(uint64_t n, char *buf, size_t len);

#endif
