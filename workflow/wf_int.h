/* wf_int.h - private types of the workflow module (internal prefix wf__).
 *
 * Nothing here is part of the contract in wf.h: the coordinator and the CLI
 * include only wf.h. The front end (wf_parse.c, wf_yaml.c) builds the IR
 * declared below; the engine (wf_run.c, wf_vars.c, wf_status.c) executes it.
 *
 * Memory: a spec owns one arena (wf__arena) that holds every IR string and
 * array; a run owns another for node names, ids, messages and outputs. Both
 * are released at once, which keeps a 100,000-step run at a few hundred bytes
 * per node and makes teardown O(chunks).
 */
#ifndef COULER_WF_INT_H
#define COULER_WF_INT_H

#include "workflow/wf.h"

#include "common/cl_buf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WF_NONE UINT32_MAX

/* ---- arena ------------------------------------------------------------ */

typedef struct wf__chunk wf__chunk;
typedef struct wf__arena {
    wf__chunk *head; /* newest chunk first */
    size_t bytes;    /* bytes obtained from cl_malloc, for accounting */
    size_t chunk;    /* chunk size; 0: 16 KiB */
} wf__arena;

void wf__arena_init(wf__arena *a);
void wf__arena_free(wf__arena *a); /* releases every allocation */
void wf__arena_reset(wf__arena *a); /* empties it, keeping one chunk */
void *wf__arena_alloc(wf__arena *a, size_t n); /* zeroed, 8-aligned; NULL=OOM */
char *wf__arena_strdup(wf__arena *a, const char *s);   /* NULL in, NULL out */
char *wf__arena_strndup(wf__arena *a, const char *s, size_t n);
char *wf__arena_printf(wf__arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* fnv-1a 32-bit, as Argo's node ids use (hash/fnv New32a). */
uint32_t wf__fnv32(const char *s, size_t n);

/* ---- IR ------------------------------------------------------------------ */

/* A parameter as it appears in arguments, inputs or outputs. */
typedef struct wf__param {
    const char *name;
    const char *value;   /* NULL when absent */
    const char *def;     /* `default` (inputs) or valueFrom.default */
    const char **enums;
    uint32_t nenums;
    /* outputs only */
    const char *vf_path;
    const char *vf_expression;
    const char *vf_parameter;
    const char *global_name;
    bool vf_supplied;
    bool has_vf_default;
    int line, col;
} wf__param;

typedef struct wf__art {
    const char *name;
    const char *path;
    const char *from;
    const char *from_expr;
    const char *raw;      /* raw.data, or NULL */
    const char *sub_path;
    const char *global_name;
    int mode;             /* -1 when unset */
    bool optional;
    int line, col;
} wf__art;

typedef struct wf__args {
    wf__param *params;
    uint32_t nparams;
    wf__art *arts;
    uint32_t narts;
} wf__args;

enum wf__policy {
    WF__POL_DEFAULT = 0, /* OnFailure, or Always when an expression is set */
    WF__POL_ON_FAILURE,
    WF__POL_ON_ERROR,
    WF__POL_ALWAYS,
    WF__POL_ON_TRANSIENT,
};

typedef struct wf__retry {
    const char *limit; /* NULL: unlimited */
    enum wf__policy policy;
    const char *expression;
    const char *b_duration, *b_factor, *b_cap, *b_max_duration;
} wf__retry;

typedef struct wf__memo {
    const char *key;
    const char *max_age;
    const char *cache;
} wf__memo;

typedef struct wf__kvl { /* list of name/value pairs from the YAML */
    wf_kv *v;
    uint32_t n;
} wf__kvl;

typedef struct wf__seq {
    const char *count, *start, *end, *format;
} wf__seq;

struct wf__tmpl;
struct wf__dep;

/* A hook (hooks.exit or onExit) of a step, a task or the workflow. */
typedef struct wf__hook {
    const char *template_name;
    struct wf__tmpl *tmpl; /* resolved */
    wf__args args;
} wf__hook;

/* A step of a steps template or a task of a DAG template. */
typedef struct wf__step {
    const char *name;
    const char *template_name;
    struct wf__tmpl *tmpl; /* resolved or inline */
    wf__args args;
    const char *when;
    json_t *with_items; /* array, owned by the spec */
    const char *with_param;
    wf__seq *with_seq;
    bool continue_failed, continue_error;
    wf__hook *exit_hook;
    /* DAG only */
    struct wf__dep *depends; /* NULL: a root */
    uint32_t *deps;          /* task indexes referenced by depends */
    uint32_t ndeps;
    uint32_t *dependents;    /* reverse edges */
    uint32_t ndependents;
    /* steps only */
    uint32_t group;
    int line, col;
} wf__step;

typedef struct wf__group {
    wf__step *steps;
    uint32_t nsteps;
} wf__group;

enum wf__tkind {
    WF__T_CONTAINER = 0,
    WF__T_SCRIPT,
    WF__T_STEPS,
    WF__T_DAG,
};

typedef struct wf__tmpl {
    const char *name;
    enum wf__tkind kind;
    wf__args inputs;
    wf__args outputs;
    /* container / script */
    const char *image;
    const char **command; /* command, with an entrypoint default applied */
    uint32_t ncommand;
    const char **args;
    uint32_t nargs;
    const char *source;
    wf__kvl env;
    const char *working_dir;
    wf__kvl requests, limits, node_selector, annotations;
    bool image_entrypoint_unknown; /* templated image without a command */
    /* steps */
    wf__group *groups;
    uint32_t ngroups;
    /* dag */
    wf__step *tasks;
    uint32_t ntasks;
    uint32_t *topo; /* task indexes in a topological order */
    const char *target;
    bool fail_fast;     /* DAG default true; steps default false */
    /* both */
    wf__retry *retry;
    wf__memo *memo;
    const char *timeout;
    const char *active_deadline;
    const char *parallelism; /* NULL: none */
    const char **mutexes;
    uint32_t nmutexes;
    uint32_t index;          /* position in spec->tmpls (inline: after) */
    wf__step **byname;       /* steps/tasks by name: open addressing */
    uint32_t byname_cap;     /* power of two, or 0 */
    int line, col;
} wf__tmpl;

/* wf__tmpl_step - the step or task of t named name[0..len), or NULL. */
wf__step *wf__tmpl_step(const wf__tmpl *t, const char *name, size_t len);

/* DAG depends expression, compiled. */
enum wf__dep_op { WF__DEP_LEAF = 0, WF__DEP_AND, WF__DEP_OR, WF__DEP_NOT };
enum wf__dep_res {
    WF__RES_SUCCEEDED = 0,
    WF__RES_FAILED,
    WF__RES_ERRORED,
    WF__RES_SKIPPED,
    WF__RES_OMITTED,
    WF__RES_DAEMONED,
    WF__RES_ANY_SUCCEEDED,
    WF__RES_ALL_FAILED,
    WF__RES_BARE, /* `A`: Succeeded|Skipped|Daemoned (+ continueOn) */
};
typedef struct wf__dep {
    enum wf__dep_op op;
    uint32_t task;          /* LEAF */
    enum wf__dep_res res;   /* LEAF */
    struct wf__dep **kids;  /* AND/OR: n >= 1; NOT: 1 */
    uint32_t nkids;
} wf__dep;

struct wf_spec {
    int refs;
    wf__arena arena;
    char *text;          /* the YAML as submitted (status "spec") */
    size_t text_len;
    json_t *keep;        /* withItems arrays referenced by steps */
    json_t *labels;      /* owned references */
    json_t *annotations;
    const char *name, *generate_name, *entrypoint;
    wf__param *params;   /* spec.arguments.parameters */
    uint32_t nparams;
    wf__art *arts;       /* spec.arguments.artifacts */
    uint32_t narts;
    wf__tmpl **tmpls;    /* named templates then inline ones */
    uint32_t ntmpls, nnamed;
    wf__hook *on_exit;   /* spec.onExit or spec.hooks.exit */
    const char *parallelism;
    const char *active_deadline;
    const char *priority;
    const char *service_account;
    const char **mutexes;
    uint32_t nmutexes;
    wf__kvl node_selector; /* spec.nodeSelector, merged into pods */
    int64_t ttl_after_completion_s, ttl_after_success_s, ttl_after_failure_s;
    json_t *labels_from;   /* workflowMetadata.labelsFrom (owned) */
};

wf__tmpl *wf__spec_find_tmpl(const wf_spec *s, const char *name);
/* The spec as JSON, built from the YAML text (new reference or NULL). */
json_t *wf__spec_json(const wf_spec *s);

/* depends (wf_depends.c) */
typedef int (*wf__task_lookup)(void *ud, const char *name, size_t len,
                               uint32_t *task);
int wf__dep_parse(wf__arena *a, const char *src, wf__task_lookup lookup,
                  void *ud, wf__dep **out, cl_errmsg *err);
/* Leaves are appended to deps once each; `seen` has one zeroed byte per
 * task and is left marked for the appended ones. */
void wf__dep_collect(const wf__dep *d, uint32_t *deps, uint32_t *ndeps,
                     uint8_t *seen);
/* res_of(ud, task, res) -> bool */
typedef bool (*wf__dep_value)(void *ud, uint32_t task, enum wf__dep_res res);
bool wf__dep_eval(const wf__dep *d, wf__dep_value val, void *ud);

/* YAML (wf_yaml.c) */
struct fy_node;
struct fy_document;
typedef struct wf__yerr {
    int line, col; /* 1-based */
    char msg[256];
} wf__yerr;
int wf__yaml_load(const char *text, size_t len, struct fy_document **out,
                  wf__yerr *err);
void wf__yaml_pos(struct fy_node *n, int *line, int *col); /* 1-based */
json_t *wf__yaml_to_json(struct fy_node *n); /* NULL on OOM */
/* The text of a scalar node, NUL-terminated, valid while its document
 * lives (NULL for a non-scalar). */
const char *wf__yscalar(struct fy_node *n, size_t *len);
/* The value of `key` in a mapping node, or NULL. */
struct fy_node *wf__ylookup(struct fy_node *map, const char *key);

/* ---- engine ------------------------------------------------------------- */

enum wf__ntype {
    WF__N_POD = 0,
    WF__N_STEPS,
    WF__N_STEPGROUP,
    WF__N_DAG,
    WF__N_RETRY,
    WF__N_TASKGROUP,
    WF__N_SKIPPED,
};
const char *wf__ntype_name(enum wf__ntype t);

/* An artifact known to the engine (an output, or a resolved input). */
typedef struct wf__aref {
    const char *name;
    const char *digest;
    const char *host;
    const char *raw; /* inline content instead of digest/host */
    const char *path; /* where it was produced (outputs), for display */
    uint64_t size;
    bool is_dir;
} wf__aref;

typedef struct wf__io {
    wf_kv *in;           /* resolved input parameters (template order) */
    uint32_t nin;
    wf__aref *in_arts;   /* resolved input artifacts */
    uint32_t nin_arts;
    const char *result;  /* NULL: none */
    wf_kv *out;          /* output parameters */
    uint32_t nout;
    wf__aref *out_arts;
    uint32_t nout_arts;
    int exit_code;
    bool has_exit;
} wf__io;

/* Expansion of one step or task over its items. */
typedef struct wf__exp {
    json_t *items;  /* NULL: not a loop */
    uint32_t n;     /* children (1 when not a loop) */
    uint32_t *nodes;/* n entries, WF_NONE until created */
    uint32_t ndone;
} wf__exp;

enum wf__tstate {
    WF__TS_UNREACH = 0, /* not an ancestor of a target */
    WF__TS_WAIT,        /* dependencies pending */
    WF__TS_READY,       /* in the ready queue */
    WF__TS_CREATED,     /* node exists, not done */
    WF__TS_DONE,        /* node done (hooks included) */
};

typedef struct wf__frame {
    /* boundary counters (Steps and DAG invocations) */
    uint32_t active;       /* unfulfilled Pod/Steps/DAG with this boundary */
    uint32_t unsuccessful; /* Failed/Error children with this boundary */
    int32_t parallelism;   /* resolved; 0 = none */
    bool stop_creating;    /* failFast tripped */
    union {
        struct { /* Steps */
            uint32_t cur;      /* current group index */
            uint32_t *gnodes;  /* group node per group index */
        } st;
        struct { /* StepGroup and TaskGroup */
            const wf__step *steps;
            uint32_t nsteps;
            wf__exp *exp;
            uint32_t cs, ci;   /* creation cursor: step, item */
            uint32_t total, ndone, ncreated;
        } g;
        struct { /* DAG */
            uint32_t *tnode;   /* task -> node (TaskGroup for loops) */
            uint32_t *pending; /* unfinished dependencies */
            uint8_t *ts;       /* enum wf__tstate */
            uint32_t *ready;   /* FIFO of tasks */
            uint32_t rhead, rtail;
            uint32_t nwait, nready, nrun;
            uint32_t *targets;
            uint32_t ntargets;
        } d;
        struct { /* Retry */
            uint32_t attempts;
            int64_t limit;     /* -1: unlimited */
            bool waiting;      /* backoff timer or gate pending */
        } r;
    } u;
} wf__frame;

enum wf__nflag {
    WF__F_DISPATCHED = 1u << 0,  /* DISPATCH queued, not yet exited */
    WF__F_STARTED = 1u << 1,
    WF__F_COUNTED = 1u << 2,     /* counted in boundary active */
    WF__F_POD_COUNTED = 1u << 3, /* counted in active pods */
    WF__F_HOOK = 1u << 4,        /* this is an exit hook node */
    WF__F_HOOK_RUNNING = 1u << 5,/* fulfilled, waiting for its hook */
    WF__F_DONE = 1u << 6,        /* fulfilled and hooks done */
    WF__F_MEMO_WAIT = 1u << 7,
    WF__F_MUTEX_WAIT = 1u << 8,
    WF__F_MEMO = 1u << 9,        /* memoizationStatus present */
    WF__F_MEMO_HIT = 1u << 10,
    WF__F_EXIT_CTX = 1u << 11,   /* runs under an exit handler */
    WF__F_ATTEMPT = 1u << 12,    /* a retry attempt */
    WF__F_BLOCKED = 1u << 13,    /* in the blocked list */
    WF__F_SEEDED = 1u << 14,
    WF__F_HOLDS_MUTEX = 1u << 15,
    WF__F_ONEXIT_ROOT = 1u << 16,
    WF__F_INLINE_ITEM = 1u << 17,/* item visible to the template body */
    WF__F_QUEUED = 1u << 18,     /* DISPATCH queued, not yet popped */
};

typedef struct wf__node {
    const char *name;
    const char *id;
    uint32_t display_off;   /* display name = name + display_off */
    uint32_t hash;
    uint32_t parent;        /* execution parent, WF_NONE for roots */
    uint32_t boundary;
    uint32_t flags;
    uint8_t type;           /* enum wf__ntype */
    uint8_t phase;          /* enum wf_phase */
    uint16_t depth;         /* template nesting depth */
    const wf__tmpl *tmpl;   /* executed template, or NULL */
    const wf__step *step;   /* step/task that created it, or NULL */
    uint32_t index;         /* task index (DAG), step index (group) */
    uint32_t item;          /* item index or WF_NONE */
    json_t *itemv;          /* borrowed from the expansion */
    int32_t retry;          /* attempt number for attempts */
    int64_t started, finished;
    const char *message;    /* arena string or NULL */
    const char *host;
    const char *memo_key;
    const char *memo_cache;
    const char *memo_from;  /* where a cache hit came from, or NULL */
    wf__io *io;
    wf__frame *fr;
    uint32_t *kids;         /* execution children, in creation order */
    uint32_t nkids, capkids;
    uint32_t hook;          /* hook node, or WF_NONE */
    uint32_t gen;           /* timer generation */
    int64_t attempt_deadline; /* absolute ms, 0 none */
    uint32_t lost;          /* step_lost count */
    uint32_t mutex_next;    /* next mutex to acquire */
} wf__node;

/* Queued action: materialised when popped. */
typedef struct wf__qact {
    uint8_t kind;        /* enum wf_action_kind */
    uint32_t node;
    const char *str;     /* mutex name, message */
} wf__qact;

enum wf__timer_kind {
    WF__TM_WF_DEADLINE = 1,
    WF__TM_TIMEOUT,   /* template timeout of a leaf attempt */
    WF__TM_ATTEMPT,   /* activeDeadlineSeconds from start */
    WF__TM_BACKOFF,
};
typedef struct wf__timer {
    int64_t at;
    uint32_t node;
    uint32_t gen;
    uint8_t kind;
} wf__timer;

typedef struct wf__work {
    uint8_t kind; /* 1 child done, 2 pump */
    uint32_t parent;
    uint32_t child;
} wf__work;

/* A node restored from an earlier run (retry, resubmit --memoized). */
typedef struct wf__seed {
    const char *name;
    const char *id;
    uint8_t phase, type;
    const char *message;
    const char *host;
    const char *tmpl_name;
    int64_t started, finished;
    wf__io io;
    bool memo, memo_hit;
    const char *memo_key, *memo_cache;
} wf__seed;

enum wf__stop { WF__RUNNING = 0, WF__STOPPING, WF__TERMINATING, WF__DEADLINE };

struct wf_run {
    wf_spec *spec;
    wf__arena arena;
    char *name, *uid;
    const char *entrypoint;
    wf_kv *wparams;        /* workflow parameters after overrides */
    uint32_t nwparams;
    int64_t created, started, finished;
    int64_t now;
    enum wf_phase phase;
    const char *message;
    int stop;              /* enum wf__stop */
    const char *stop_msg;
    bool done_emitted;
    bool holds_wf_mutex;
    uint32_t wf_mutex_next;
    int32_t parallelism;   /* spec.parallelism, 0 = none */
    int64_t deadline_ms;   /* spec.activeDeadlineSeconds, 0 = none */
    int priority;
    uint32_t active_pods;
    uint32_t root, onexit;
    /* nodes */
    wf__node *nodes;
    uint32_t nnodes, capnodes;
    uint32_t *index;       /* open addressing by name hash */
    uint32_t index_cap;
    /* actions */
    wf__qact *q;
    uint32_t qhead, qtail, qcap;
    /* worklist */
    wf__work *wl;
    uint32_t wlhead, wltail, wlcap;
    /* blocked composites (FIFO, flag WF__F_BLOCKED) */
    uint32_t *blocked;
    uint32_t nblocked, capblocked;
    /* timers: binary heap */
    wf__timer *timers;
    uint32_t ntimers, captimers;
    /* globals exported by globalName */
    wf_kv *gparams;
    uint32_t ngparams;
    wf__aref *garts;
    uint32_t ngarts;
    /* seeds */
    wf__seed *seeds;
    uint32_t nseeds;
    uint32_t *seed_index;
    uint32_t seed_cap;
    bool seeds_memoized;   /* message "original pod: <id>" */
    /* popped action storage, valid until the next call */
    wf__arena tarena;      /* scratch of task validation */
    wf__arena parena;      /* the popped task */
    wf_task ptask;
    wf_step_result last_result;
    wf_kv *last_kv;
    wf_artifact_ref *last_arts;
    /* labels evaluated from workflowMetadata.labelsFrom */
    json_t *labels;
    int err;               /* sticky CL_ENOMEM */
    cl_errmsg errmsg;
};

/* ---- variables (wf_vars.c) ---------------------------------------------- */

/* The scope in which a string is substituted. */
typedef struct wf__ctx {
    wf_run *r;
    uint32_t scope;        /* Steps/DAG node whose steps./tasks. apply */
    const wf__tmpl *scope_tmpl;
    const wf__io *inputs;  /* inputs.parameters / inputs.artifacts */
    const wf__tmpl *tmpl;  /* template whose inputs/outputs are declared */
    json_t *item;          /* loop item or NULL */
    uint32_t node;         /* node for pod.name / node.name, or WF_NONE */
    int retries;           /* -1: not in a leaf */
    json_t *last_retry;    /* lastRetry object, or NULL */
    bool exit_ctx;         /* workflow.status/failures visible */
    wf__arena *arena;      /* where substituted strings go (run arena) */
    json_t *env;           /* built lazily for {{=...}} */
    bool env_built;
} wf__ctx;

enum wf__vres {
    WF__V_OK = 0,
    WF__V_LATER,   /* known, not yet available: keep the tag */
    WF__V_ABSENT,  /* output of a Skipped/Omitted node without default */
    WF__V_UNKNOWN, /* not a variable */
};

void wf__ctx_init(wf__ctx *c, wf_run *r);
void wf__ctx_fini(wf__ctx *c);
/* Look up one simple tag; the value is appended to out. */
enum wf__vres wf__lookup(wf__ctx *c, const char *path, size_t len,
                         cl_buf *out);
/* Substitute every tag of `in`. Unresolved tags stay verbatim and are
 * counted in *unresolved (the first is copied into first_unres if given).
 * *absent counts tags that named an absent output. Returns 0, CL_EEXPR
 * (message in err) or CL_ENOMEM. *out is an arena string of r. */
int wf__subst(wf__ctx *c, const char *in, const char **out,
              uint32_t *unresolved, uint32_t *absent, cl_errmsg *err);
/* Evaluate an expr-lang expression over the context's environment. */
int wf__eval(wf__ctx *c, const char *src, json_t **out, cl_errmsg *err);
json_t *wf__env(wf__ctx *c); /* borrowed; NULL on OOM */
/* Artifact reference from a `from` string or an expression value. */
int wf__resolve_art_from(wf__ctx *c, const char *from, wf__aref *out,
                         cl_errmsg *err); /* CL_ENOENT when missing */
int wf__art_from_json(wf_run *r, json_t *v, wf__aref *out);
json_t *wf__art_to_json(const wf__aref *a);
/* The node standing for step/task `name` in the context scope; for loops
 * the caller aggregates. Returns WF_NONE when unknown. */
const char *wf__item_desc(wf_run *r, json_t *item); /* node-name form */
char *wf__item_str(json_t *item);                   /* {{item}} (cl_malloc) */
const wf__io *wf__node_outputs(const wf_run *r, uint32_t n);
int wf__aggregate(wf_run *r, const uint32_t *nodes, uint32_t n,
                  const char *what, const char *pname, cl_buf *out);
const char *wf__failures_json(wf_run *r);

/* ---- engine helpers shared by the files of the engine -------------------- */

wf__node *wf__node_at(const wf_run *r, uint32_t i);
uint32_t wf__node_find_name(const wf_run *r, const char *name);
char *wf__rstrdup(wf_run *r, const char *s);
char *wf__rprintf(wf_run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void wf__fmt_time(int64_t ms, char *buf, size_t len); /* RFC 3339 s */
int wf__seed_from_status(wf_run *r, const json_t *status, bool memoized);
json_t *wf__node_json(const wf_run *r, uint32_t i);
/* step/task lookup in the scope node's template */
uint32_t wf__scope_nodes(const wf_run *r, uint32_t scope, const char *name,
                         size_t len, const uint32_t **nodes, uint32_t *n,
                         const wf__step **step);

#endif
