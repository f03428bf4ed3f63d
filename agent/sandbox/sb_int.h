/* sb_int.h - internals of the sandbox module shared by its source files,
 * couler-exec and the module's unit tests. Not part of the agent's
 * contract (that is sandbox.h). Names carry the private agent_sb__ prefix.
 */
#ifndef COULER_AGENT_SB_INT_H
#define COULER_AGENT_SB_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/sandbox/sandbox.h"

/* ---- small file helpers (fsutil.c) ------------------------------------- */

/* agent_sb__read_file - read a whole (small) file into buf, NUL-terminated.
 * Returns 0, CL_ENOENT, CL_ETOOBIG (buf too small) or another errno-derived
 * code. *n (may be NULL) gets the length. */
int agent_sb__read_file(const char *path, char *buf, size_t len, size_t *n);

/* agent_sb__read_alloc - read a whole file of any size; *out is cl_malloc'd
 * and NUL-terminated. */
int agent_sb__read_alloc(const char *path, char **out, size_t *n);

/* agent_sb__write_file - write text to an existing file in one write(2)
 * (cgroup interface files take one value per write). With `create` the
 * file is created or truncated first (fake cgroup roots in tests). */
int agent_sb__write_file(const char *path, const char *text, bool create);

/* agent_sb__join - "a" + "/" + "b" into buf; CL_ETOOBIG if it does not fit.
 * Leading '/' of b and trailing '/' of a are not doubled. */
int agent_sb__join(char *buf, size_t len, const char *a, const char *b);

/* agent_sb__mkdirs - mkdir -p on the host; existing directories are fine. */
int agent_sb__mkdirs(const char *path, mode_t mode);

/* agent_sb__kv - in text made of "key value" lines, find `key` and parse
 * its unsigned value. Returns true when found. */
bool agent_sb__kv(const char *text, const char *key, uint64_t *val);

/* agent_sb__u64 - parse a decimal number (white space around allowed). */
bool agent_sb__u64(const char *text, uint64_t *val);

/* ---- paths inside a view (fsutil.c) ------------------------------------ */

/* agent_sb__in_root_open - open `path` (absolute or relative) resolved with
 * `rootfd` as the root: ".." and absolute symlinks cannot leave it
 * (openat2 RESOLVE_IN_ROOT). Returns an fd or -errno. */
int agent_sb__in_root_open(int rootfd, const char *path, int flags,
                           mode_t mode);

/* agent_sb__in_root_mkdirs - create every missing directory of `path`
 * inside rootfd's tree. Returns 0 or a CL_E* code. */
int agent_sb__in_root_mkdirs(int rootfd, const char *path, mode_t mode);

/* agent_sb__copy_in - copy host file/dir `src` to `dst` inside rootfd's
 * tree (parents created; an existing file is replaced, an existing
 * directory merged). Regular files, directories and symlinks are copied,
 * with permission bits; other types are skipped. */
int agent_sb__copy_in(const char *src, int rootfd, const char *dst,
                      cl_errmsg *em);

/* agent_sb__copy_out - copy `src` inside rootfd's tree to host path `dst`
 * atomically: into a temporary sibling, then rename(2). Returns CL_ENOENT
 * when src does not exist (nothing is created). An existing dst is
 * replaced. */
int agent_sb__copy_out(int rootfd, const char *src, const char *dst,
                       cl_errmsg *em);

/* ---- mount table (fsutil.c) -------------------------------------------- */

struct agent_sb__mnt {
    int id;
    int parent;
    char *root;       /* root of the mount within its filesystem */
    char *mountpoint; /* unescaped */
    char *fstype;
    char *superopts;
};

/* agent_sb__mountinfo_parse - parse /proc/<pid>/mountinfo text. *out is
 * cl_malloc'd; free with agent_sb__mountinfo_free(). Malformed lines are
 * CL_EPARSE. */
int agent_sb__mountinfo_parse(const char *text, struct agent_sb__mnt **out,
                              size_t *n);
void agent_sb__mountinfo_free(struct agent_sb__mnt *m, size_t n);

/* agent_sb__has_opt - whether comma-separated `opts` holds `opt`. */
bool agent_sb__has_opt(const char *opts, const char *opt);

/* ---- cgroup internals (sandbox.c) -------------------------------------- */

/* agent_sb__self_cgroup - from /proc/self/cgroup text, the path of the
 * hierarchy that carries `controller` (v1), or of the "0::" line when
 * controller is NULL (v2). Returns true and writes out when found. */
bool agent_sb__self_cgroup(const char *text, const char *controller, char *out,
                           size_t len);

/* agent_sb__cpu_quota - v1 and v2 text for `millis` millicores over a
 * 100 ms period: *quota_us (v1 cpu.cfs_quota_us) and the v2 cpu.max line
 * "QUOTA 100000". millis below 10 is raised to 10 (the kernel's 1 ms
 * minimum quota). */
void agent_sb__cpu_quota(uint32_t millis, uint64_t *quota_us, char *cpu_max,
                         size_t len);

/* ---- the step's filesystem view (view.c) ------------------------------ */

/* agent_sb__view - couler-exec's private view of the host filesystem. */
struct agent_sb__view {
    bool isolated;         /* an overlay view is mounted */
    bool upper_in_memory;  /* the upper layer had to go on a tmpfs */
    int rootfd;            /* O_PATH fd of the view's root, -1 if none */
    char dir[PATH_MAX];    /* --rootfs-upper, canonical */
    char merged[PATH_MAX]; /* dir/merged: the view's root in our namespace */
};

/* agent_sb__view_init - an empty view (rootfd -1). */
void agent_sb__view_init(struct agent_sb__view *v);

/* agent_sb__view_setup - in the calling, single-threaded process: a new
 * mount namespace (all mounts private), the overlay (lower /, upper and
 * work in o->view_dir; a tmpfs on view_dir if that filesystem cannot be an
 * upper layer), the host's /proc, /sys, /dev, /run and other top-level
 * mounts except /tmp bound in recursively, view_dir itself hidden, then
 * --tmp, --bind, --stage-ro and --stage applied. On failure *can_fallback
 * tells whether nothing step-specific had been set up yet, so the caller
 * may run the step without a view. */
int agent_sb__view_setup(const struct agent_sb_opts *o,
                         struct agent_sb__view *v, bool *can_fallback,
                         cl_errmsg *em);

/* agent_sb__view_enter - in the step's child process: its own copy of the
 * namespace, pivot_root into the view and detach the old root. */
int agent_sb__view_enter(const struct agent_sb__view *v, cl_errmsg *em);

/* agent_sb__view_close - close the fd (mounts go with the namespace). */
void agent_sb__view_close(struct agent_sb__view *v);

#endif
