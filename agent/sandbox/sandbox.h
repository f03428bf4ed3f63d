/* sandbox.h - the step sandbox: per-step cgroups and the couler-exec launcher.
 *
 * The agent spawns every step with libuv's uv_spawn, which cannot run code
 * between fork and exec. Isolation is therefore done by a small launcher,
 * `couler-exec`, that the agent spawns in place of the step command: it sets
 * up a private filesystem view, joins the step's cgroups, applies CPU
 * affinity, runs the step as its child, forwards signals, copies requested
 * output paths out after the step exits and exits with the step's status.
 * This header is the agent's side of that contract:
 *
 *   - CPU lists ("0-3,8") as used by cpuset.cpus and --cpus;
 *   - agent_sb_build_argv(): the couler-exec command line from a spec, so
 *     that the agent never assembles flags by hand;
 *   - agent_sb_opts_parse(): the same command line parsed back (couler-exec
 *     itself uses it; tests check that both directions agree);
 *   - per-step cgroups on cgroup v1 or v2: detect, create with limits,
 *     observe (OOM kills, peak memory, CPU time), kill, remove, sweep.
 *
 * Paths inside the step's view ("the view") are absolute paths as the step
 * sees them (Argo's `/tmp/message`, `/result.txt`); host paths are paths in
 * the agent's own mount namespace.
 *
 * Error convention: every fallible function returns 0 or a positive CL_E*
 * code and, where it takes a cl_errmsg, explains there what failed. None of
 * them logs and continues, except where a comment says it warns.
 *
 * Threads: nothing here keeps global state; the cgroup functions block on
 * small file reads and writes (and agent_sb_group_remove() waits up to its
 * timeout), so an event-loop daemon calls the slow ones from uv_queue_work
 * or with a short timeout.
 */
#ifndef COULER_AGENT_SANDBOX_H
#define COULER_AGENT_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/cl_err.h"

/* ------------------------------------------------------------------------ */
/* CPU lists                                                                 */
/* ------------------------------------------------------------------------ */

/* The highest CPU number + 1 a list may name. Larger machines exist; this
 * bound keeps the set a plain value type and is checked, never truncated. */
#define AGENT_SB_MAX_CPUS 4096

/* agent_sb_cpus - a set of CPU numbers. A plain value: copy it freely. */
struct agent_sb_cpus {
    uint64_t bits[AGENT_SB_MAX_CPUS / 64];
};

void agent_sb_cpus_zero(struct agent_sb_cpus *s);
/* agent_sb_cpus_set - add `cpu`; a cpu >= AGENT_SB_MAX_CPUS is ignored. */
void agent_sb_cpus_set(struct agent_sb_cpus *s, unsigned cpu);
bool agent_sb_cpus_isset(const struct agent_sb_cpus *s, unsigned cpu);
unsigned agent_sb_cpus_count(const struct agent_sb_cpus *s);
bool agent_sb_cpus_empty(const struct agent_sb_cpus *s);
/* out = a & b, and out = a & ~b. out may alias a or b. */
void agent_sb_cpus_and(struct agent_sb_cpus *out, const struct agent_sb_cpus *a,
                       const struct agent_sb_cpus *b);
void agent_sb_cpus_andnot(struct agent_sb_cpus *out,
                          const struct agent_sb_cpus *a,
                          const struct agent_sb_cpus *b);

/* agent_sb_cpus_parse - parse the kernel's list format ("0-3,8", "5",
 * "" for the empty set; surrounding white space and a trailing newline, as
 * read from cpuset.cpus, are allowed). Returns 0, CL_EINVAL for malformed
 * text (a reversed range "3-1" included) or CL_ERANGE for a CPU number at or
 * above AGENT_SB_MAX_CPUS. *out is written only on success. */
int agent_sb_cpus_parse(const char *text, struct agent_sb_cpus *out);

/* agent_sb_cpus_format - the canonical list ("0-3,8"; "" when empty) into
 * buf. Returns 0, or CL_ETOOBIG when buf is too small (buf then holds a
 * truncated, still NUL-terminated prefix). */
int agent_sb_cpus_format(const struct agent_sb_cpus *s, char *buf, size_t len);

/* ------------------------------------------------------------------------ */
/* The couler-exec command line                                              */
/* ------------------------------------------------------------------------ */

/* agent_sb_map - a (source, destination) pair of paths; borrowed. */
struct agent_sb_map {
    const char *src;
    const char *dst;
};

/* agent_sb_spec - what the agent wants for one step. Every pointer is
 * borrowed for the duration of agent_sb_build_argv() only. NULL / 0 means
 * "not wanted" unless stated.
 *
 * The filesystem contract (see agent/sandbox/README.md):
 *   view_dir   couler-exec's private layer: an empty directory the agent
 *              owns (one per step attempt) and removes afterwards with
 *              agent_sb_rmtree(). The step sees the host's / with its own
 *              writes kept in view_dir, so two steps writing /result.txt do
 *              not collide and the host's / is never changed. NULL: the step
 *              runs on the host filesystem.
 *   tmp_dir    a host directory bind-mounted on /tmp in the view.
 *   hides      paths covered by an empty read-only directory in the view:
 *              the agent's data dir, so that a step sees neither the agent's
 *              state nor other steps' files. Binds, stages and tmp_dir are
 *              applied after and stay visible at their destinations.
 *   binds      host src bind-mounted read-write at view dst (dst NULL: same
 *              path).
 *   stages     input artifacts: host src (file or directory) copied to view
 *              dst before the step starts; the step may modify its copy.
 *   stages_ro  large inputs: host src bind-mounted read-only at view dst.
 *   collects   outputs: after the step exits, view src (file or directory)
 *              is copied to host dst, atomically (dst appears complete or
 *              not at all). A src the step did not create leaves dst absent:
 *              that is how the agent tells a missing output.
 *   workdir    the step's working directory in the view, created if missing
 *              (as a container runtime creates WORKDIR). NULL: the cwd the
 *              agent gave uv_spawn.
 *   cgroups    directories the step joins before exec (agent_sb_group_paths).
 *   cpus       CPU list for sched_setaffinity ("0-3,8"); CPUs this machine
 *              lacks are dropped with one warning on the step's stderr.
 *   env        extra "KEY=VALUE" entries set for the step, on top of the
 *              environment given to uv_spawn.
 *   argv/argc  the step command, argv[0] looked up in the view's PATH.
 */
struct agent_sb_spec {
    const char *exec_path; /* path of couler-exec; NULL: "couler-exec" */
    const char *view_dir;
    const char *tmp_dir;
    const char *const *hides;
    size_t n_hides;
    const struct agent_sb_map *binds;
    size_t n_binds;
    const struct agent_sb_map *stages;
    size_t n_stages;
    const struct agent_sb_map *stages_ro;
    size_t n_stages_ro;
    const struct agent_sb_map *collects;
    size_t n_collects;
    const char *workdir;
    const char *const *cgroups;
    size_t n_cgroups;
    const char *cpus;
    const char *const *env;
    size_t n_env;
    bool require_isolation; /* fail (127) rather than run on the host fs */
    const char *const *argv;
    size_t argc; /* >= 1 */
};

/* agent_sb_build_argv - the couler-exec argv for `spec`, NULL-terminated,
 * ready for uv_process_options_t.args (file = argv[0]).
 *
 * Checks what couler-exec would refuse: view paths (stage, bind and collect
 * destinations, collect sources, workdir, view_dir, tmp_dir, hides and
 * cgroups) must be absolute; view_dir must not contain ',' or
 * ':' (overlayfs option syntax); cpus must parse; env entries need '=';
 * argc >= 1 and no NULL argument. A ':' or '\' inside a SRC:DST path is
 * escaped as "\:" / "\\", which agent_sb_opts_parse() undoes.
 *
 * Returns 0 and sets *argv_out (owned by the caller: free it with
 * agent_sb_argv_free()), CL_EINVAL with a message, or CL_ENOMEM. On error
 * *argv_out is untouched. */
int agent_sb_build_argv(const struct agent_sb_spec *spec, char ***argv_out,
                        cl_errmsg *em);

/* agent_sb_argv_free - free an argv from agent_sb_build_argv(); NULL ok. */
void agent_sb_argv_free(char **argv);

/* agent_sb_pair - an owned (source, destination) pair in agent_sb_opts. */
struct agent_sb_pair {
    char *src; /* cl_malloc'd, unescaped */
    char *dst; /* cl_malloc'd, unescaped */
};

/* agent_sb_opts - a parsed couler-exec command line. Strings and arrays
 * are cl_malloc'd and owned by the struct (agent_sb_opts_free), except
 * `argv`, which points into the array given to agent_sb_opts_parse(). */
struct agent_sb_opts {
    char *view_dir;
    char *tmp_dir;
    char *workdir;
    char **hides;
    size_t n_hides;
    struct agent_sb_pair *binds;
    size_t n_binds;
    struct agent_sb_pair *stages;
    size_t n_stages;
    struct agent_sb_pair *stages_ro;
    size_t n_stages_ro;
    struct agent_sb_pair *collects;
    size_t n_collects;
    char **cgroups;
    size_t n_cgroups;
    bool has_cpus;
    struct agent_sb_cpus cpus;
    char **env; /* "KEY=VALUE" */
    size_t n_env;
    bool require_isolation;
    bool help;
    char **argv; /* borrowed, NULL-terminated; NULL when help */
    int argc;
};

/* agent_sb_opts_parse - parse couler-exec's arguments (argv[0] is the
 * program name and is skipped). The command follows "--" and is required
 * unless --help is given. Returns 0, CL_EINVAL (unknown option, missing
 * value, relative path, bad list) or CL_ENOMEM, with a message. On error the
 * struct is left freed and zeroed. */
int agent_sb_opts_parse(int argc, char **argv, struct agent_sb_opts *o,
                        cl_errmsg *em);

/* agent_sb_opts_free - release everything the struct owns; zeroes it. */
void agent_sb_opts_free(struct agent_sb_opts *o);

/* agent_sb_usage_text - couler-exec's --help text (static). */
const char *agent_sb_usage_text(void);

/* agent_sb_rmtree - remove a file or directory tree on the host (a step's
 * view_dir, including the overlay work directory the kernel leaves mode
 * 000). Symlinks are removed, never followed; mount points are not crossed
 * (CL_EBUSY). A missing path is success. */
int agent_sb_rmtree(const char *path, cl_errmsg *em);

/* ------------------------------------------------------------------------ */
/* Cgroups                                                                   */
/* ------------------------------------------------------------------------ */

enum agent_sb_cgver {
    AGENT_SB_CG_NONE = 0, /* no usable cgroup controller */
    AGENT_SB_CG_V1 = 1,   /* per-controller hierarchies (incl. hybrid) */
    AGENT_SB_CG_V2 = 2    /* the unified hierarchy */
};

/* Controllers Couler uses (bit mask). */
#define AGENT_SB_CTL_CPU 0x1u     /* cpu quota */
#define AGENT_SB_CTL_CPUACCT 0x2u /* v1 only: CPU time (v2 has cpu.stat) */
#define AGENT_SB_CTL_CPUSET 0x4u
#define AGENT_SB_CTL_MEMORY 0x8u

/* agent_sb_cgconf - where step cgroups go. Borrowed during open only. */
struct agent_sb_cgconf {
    /* The parent of all step cgroups, relative to each hierarchy's root
     * ("couler"; may have several components, no "." or ".."). */
    const char *parent;
    /* Place the parent under the cgroup the caller itself is in (a service
     * whose manager delegated a subtree to it). On v2 the caller's own cgroup
     * must then have no processes of its own except through a leaf (the
     * "no internal processes" rule), else open fails with CL_EBUSY. */
    bool under_self;
    /* Where to read the mount table and the caller's cgroup membership;
     * NULL: /proc/self/mountinfo and /proc/self/cgroup. Tests point these at
     * files describing a fake cgroup root directory. */
    const char *mountinfo_path;
    const char *self_cgroup_path;
};

struct agent_sb_cg; /* opaque; one per agent */

/* agent_sb_cg_open - detect the cgroup version and controllers and make
 * sure the parent exists in every hierarchy used (v1: cpuset.cpus/.mems
 * copied down from above so children can be configured; v2: the used
 * controllers enabled in cgroup.subtree_control from the root down to the
 * parent).
 *
 * Detection: a v1 mount (type "cgroup") carrying cpu, cpuacct, cpuset or
 * memory makes the mode v1 (a hybrid system's empty "unified" mount is
 * ignored); otherwise a "cgroup2" mount whose cgroup.controllers lists any of
 * cpu, cpuset, memory makes it v2.
 *
 * Returns 0 and *out (free with agent_sb_cg_close), CL_ENOTSUP when no
 * usable controller is mounted, CL_EPERM when the parent cannot be created
 * (not root), CL_EBUSY (see under_self), CL_EINVAL, CL_EIO, CL_ENOMEM. */
int agent_sb_cg_open(const struct agent_sb_cgconf *conf,
                     struct agent_sb_cg **out, cl_errmsg *em);

/* agent_sb_cg_close - free the handle; cgroups on disk stay. NULL ok. */
void agent_sb_cg_close(struct agent_sb_cg *cg);

enum agent_sb_cgver agent_sb_cg_version(const struct agent_sb_cg *cg);
unsigned agent_sb_cg_controllers(const struct agent_sb_cg *cg);

/* agent_sb_cg_parents - the parent directory in each hierarchy used (v1:
 * one per distinct mount; v2: one). The array belongs to cg. */
size_t agent_sb_cg_parents(const struct agent_sb_cg *cg,
                           const char *const **paths);

/* agent_sb_sweep - remove every cgroup under the parent: leftovers of an
 * agent that was killed. Each is emptied first (its processes get
 * SIGKILL). Sets *removed (may be NULL) to the number of step cgroup names
 * removed. Returns 0, or the first error (CL_EBUSY when a cgroup did not
 * drain in time) after trying all of them. */
int agent_sb_sweep(struct agent_sb_cg *cg, unsigned *removed, cl_errmsg *em);

/* agent_sb_cg_destroy - sweep, then remove the parent directories
 * themselves (the last path component only). For an agent's clean shutdown
 * and for tests. */
int agent_sb_cg_destroy(struct agent_sb_cg *cg, cl_errmsg *em);

/* agent_sb_limits - what to enforce on one step. Borrowed during create. */
struct agent_sb_limits {
    /* cpuset.cpus / cpuset.mems. NULL: the parent's. CPUs or nodes the
     * parent does not have are dropped with a warning (the placement may
     * describe a bigger machine than this one); if nothing is left the
     * parent's set is used. */
    const char *cpus;
    const char *mems;
    /* CPU bandwidth in millicores (Kubernetes "500m" = 500): quota =
     * millicores/1000 of a 100 ms period. 0: no quota. At least 10. */
    uint32_t cpu_millis;
    /* Hard memory limit in bytes with swap disabled for the group. 0: no
     * limit. Exceeding it makes the kernel OOM-kill a process of the step. */
    uint64_t mem_bytes;
};

struct agent_sb_group; /* opaque; one per step attempt */

/* agent_sb_group_create - create and configure <parent>/<name> in every
 * hierarchy. `name` is [A-Za-z0-9._-]{1,200}, not "." or "..". Limits are
 * written before any process joins (v1 cpuset needs cpus and mems set first).
 * An existing group of that name is CL_EEXIST (sweep at start-up). On any
 * error what was created is removed again. *out is freed with
 * agent_sb_group_free(). */
int agent_sb_group_create(struct agent_sb_cg *cg, const char *name,
                          const struct agent_sb_limits *lim,
                          struct agent_sb_group **out, cl_errmsg *em);

/* agent_sb_group_paths - the group's directory in each hierarchy: give
 * these to couler-exec (spec.cgroups) so the step joins them before exec.
 * The array belongs to g. */
size_t agent_sb_group_paths(const struct agent_sb_group *g,
                            const char *const **paths);

/* agent_sb_group_join - move process `pid` (0: the caller) into the group
 * in every hierarchy. */
int agent_sb_group_join(struct agent_sb_group *g, pid_t pid, cl_errmsg *em);

/* agent_sb_group_pids - the processes now in the group (sub-groups
 * included), deduplicated. *pids is cl_malloc'd (cl_free it); *n may be 0. */
int agent_sb_group_pids(const struct agent_sb_group *g, pid_t **pids, size_t *n,
                        cl_errmsg *em);

/* agent_sb_usage - what the kernel recorded about a group. */
struct agent_sb_usage {
    /* The kernel's count of processes OOM-killed in the group (v1
     * memory.oom_control "oom_kill", kernel >= 4.13; v2 memory.events
     * "oom_kill"). oom_known is false when the kernel has no such counter;
     * then mem_failcnt is the hint. */
    bool oom_known;
    uint64_t oom_kills;
    uint64_t mem_failcnt; /* v1 memory.failcnt + memory.memsw.failcnt,
                           * v2 memory.events "max" */
    bool has_mem_peak;
    uint64_t mem_peak; /* bytes: v1 max_usage_in_bytes, v2 memory.peak */
    bool has_cpu;
    uint64_t cpu_ns; /* v1 cpuacct.usage, v2 cpu.stat usage_usec * 1000 */
};

/* agent_sb_group_usage - read the counters. Counters a kernel lacks are
 * flagged absent, not errors. */
int agent_sb_group_usage(const struct agent_sb_group *g,
                         struct agent_sb_usage *u, cl_errmsg *em);

/* agent_sb_oom_killed - the agent's verdict: a step that did not exit 0
 * and whose group saw an OOM kill ended "OOMKilled" (Kubernetes' reason).
 * `exit_code` is couler-exec's exit code (128+N for signal N). Without a
 * kernel counter, a SIGKILL (137) after the memory limit was hit counts. */
bool agent_sb_oom_killed(const struct agent_sb_usage *u, int exit_code);

/* agent_sb_group_kill - send SIGKILL to every process in the group and in
 * its sub-groups (v2: cgroup.kill where the kernel has it), re-reading until
 * no process is left or `timeout_ms` passed. Returns 0 once empty, CL_EBUSY
 * if processes remain (e.g. in uninterruptible sleep). Never signals the
 * caller itself (CL_EBUSY if the caller is inside). */
int agent_sb_group_kill(struct agent_sb_group *g, int timeout_ms,
                        cl_errmsg *em);

/* agent_sb_group_remove - kill what is left, then rmdir the group (and any
 * sub-groups the step made) in every hierarchy, retrying while tasks drain,
 * up to timeout_ms. Returns 0, or CL_EBUSY (call again later). g stays
 * valid either way; free it with agent_sb_group_free(). */
int agent_sb_group_remove(struct agent_sb_group *g, int timeout_ms,
                          cl_errmsg *em);

/* agent_sb_group_free - free the handle only (no cgroup is touched). */
void agent_sb_group_free(struct agent_sb_group *g);

#endif
