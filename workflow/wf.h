/* wf.h - the workflow language and the DAG engine (module prefix wf_).
 *
 * Two halves, both pure (no sockets, clocks, threads or randomness of their
 * own; the shell passes `now` as wall-clock milliseconds since the epoch):
 *
 * 1. The front end parses Argo Workflows YAML (kind: Workflow) with libfyaml
 *    into an immutable, validated IR (wf_spec). Errors name the file, line
 *    and column and what was expected. See ../shared ARGO.md for semantics.
 *
 * 2. The engine (wf_run) executes one workflow run as a state machine:
 *    events go in (start, a step started, a step exited with outputs, a timer
 *    fired, stop/terminate/retry), and actions come out (dispatch this fully
 *    resolved step, kill that one, look up / save a memoized result, acquire
 *    or release a mutex, the run finished). The engine never blocks. Given
 *    the same spec, options and event sequence (with the same `now` values)
 *    it produces the same actions and the same status: the coordinator
 *    persists the events and rebuilds a run after a restart by replaying them.
 *
 * Ownership: a wf_spec is created by wf_parse and freed by wf_spec_free; a
 * wf_run holds a reference to its spec (wf_run_new takes one; the caller may
 * free its own handle afterwards, the spec lives until the last user frees
 * it). Pointers inside an action (task, strings) stay valid until the next
 * call into the same run. JSON values returned by wf_run_status_json belong
 * to the caller (json_decref).
 *
 * Errors: functions return 0 or a CL_E* code (common/cl_err.h); a cl_errmsg
 * argument, when given, receives the human explanation.
 */
#ifndef COULER_WF_H
#define COULER_WF_H

#include "common/cl_buf.h"
#include "common/cl_err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- front end ------------------------------------------------------- */

typedef struct wf_spec wf_spec;

/* Diagnostics of a parse or lint: the first error, plus warnings (e.g. one
 * per ignored Kubernetes-only field: "file:12:5: nodeSelector is ignored").
 * Owned by the caller; release with wf_diag_free. */
typedef struct wf_diag {
    cl_errmsg err;   /* "file:line:col: what was expected" when rv != 0 */
    char **warnings; /* cl_malloc'd strings */
    size_t nwarnings;
} wf_diag;

void wf_diag_init(wf_diag *d);
void wf_diag_free(wf_diag *d);

/* wf_parse - parse and validate one YAML document held in text[0..len).
 * `filename` is used in messages only. On success *out is a new spec. An
 * unknown template reference, a dependency cycle, an unsupported template
 * kind or field is refused here with its position. */
int wf_parse(const char *text, size_t len, const char *filename, wf_spec **out,
             wf_diag *diag);

void wf_spec_ref(wf_spec *s);
void wf_spec_free(wf_spec *s); /* drops one reference */

const char *wf_spec_name(const wf_spec *s);          /* metadata.name or NULL */
const char *wf_spec_generate_name(const wf_spec *s); /* or NULL */
const char *wf_spec_entrypoint(const wf_spec *s);
/* metadata.labels / metadata.annotations as JSON objects (borrowed). */
json_t *wf_spec_labels(const wf_spec *s);
json_t *wf_spec_annotations(const wf_spec *s);
/* spec.arguments.parameters, in file order (for `submit` summaries). */
size_t wf_spec_nparams(const wf_spec *s);
const char *wf_spec_param_name(const wf_spec *s, size_t i);

/* ---- engine ---------------------------------------------------------- */

enum wf_phase {
    WF_PENDING = 0,
    WF_RUNNING,
    WF_SUCCEEDED,
    WF_FAILED,
    WF_ERROR,
    WF_SKIPPED,
    WF_OMITTED,
};
const char *wf_phase_name(enum wf_phase p); /* "Succeeded"... */
int wf_phase_parse(const char *s);          /* -1 when unknown */
bool wf_phase_done(enum wf_phase p); /* Succeeded|Failed|Error|Skipped|Omitted */

typedef struct wf_kv {
    const char *name;
    const char *value;
} wf_kv;

/* An artifact produced by some step: where it lives and what it is. */
typedef struct wf_artifact_ref {
    const char *name;
    const char *digest; /* hex content digest (cache/ decides the scheme) */
    const char *host;   /* node (agent id) that holds it */
    uint64_t size;
    bool is_dir;
} wf_artifact_ref;

/* An input artifact a dispatched step needs staged before it runs. Exactly
 * one of `raw` (inline content) or `digest`+`host` is set. */
typedef struct wf_input_artifact {
    const char *name;
    const char *path;     /* where to place it inside the step's view */
    const char *raw;      /* inline data, or NULL */
    const char *digest;   /* content digest, or NULL */
    const char *host;     /* node holding `digest` */
    const char *sub_path; /* file inside a directory artifact, or NULL */
    int mode;             /* permission bits, or -1 */
    bool is_dir;
} wf_input_artifact;

typedef struct wf_output_param {
    const char *name;
    const char *path; /* valueFrom.path: read after the step */
} wf_output_param;

typedef struct wf_output_artifact {
    const char *name;
    const char *path;
    bool optional;
} wf_output_artifact;

enum wf_task_kind { WF_TASK_CONTAINER = 0, WF_TASK_SCRIPT = 1 };

/* A fully resolved leaf step: every {{...}} substituted. This is what an
 * agent runs and what the cache key is computed from. */
typedef struct wf_task {
    uint32_t node;          /* engine node index; stable for the run */
    const char *node_id;    /* Argo node id, also the "pod name" for logs */
    const char *node_name;  /* "wf[0].step(1:foo)" */
    const char *display_name; /* as status shows it: "step(1:foo)",
                                 "hello1.onExit" */
    const char *template_name;
    int retry;              /* 0-based attempt number ({{retries}}) */
    enum wf_task_kind kind;
    const char *image;      /* may be NULL */
    const char **command;   /* argv; for a script: command (+args); the agent
                               appends the staged script's path */
    size_t ncommand;
    const char *source;     /* script source, or NULL */
    const wf_kv *env;
    size_t nenv;
    const char *working_dir; /* NULL: the agent's own step directory */
    const wf_input_artifact *inputs;
    size_t ninputs;
    const wf_output_param *out_params;
    size_t nout_params;
    const wf_output_artifact *out_artifacts;
    size_t nout_artifacts;
    const wf_kv *input_params; /* resolved inputs.parameters, for the cache */
    size_t ninput_params;
    /* Raw Kubernetes quantities, parsed by placement/: requests and limits
     * ("cpu" -> "500m", "memory" -> "1Gi", "nvidia.com/gpu" -> "1"). */
    const wf_kv *requests;
    size_t nrequests;
    const wf_kv *limits;
    size_t nlimits;
    const wf_kv *node_selector;
    size_t nnode_selector;
    const wf_kv *annotations; /* template metadata.annotations */
    size_t nannotations;
    int64_t deadline_ms;  /* template activeDeadlineSeconds, per attempt; 0 */
    int priority;         /* spec.priority */
    const char *memo_key; /* memoize.key after substitution, or NULL */
} wf_task;

/* What came of a leaf step, reported by the agent (or found in the cache). */
typedef struct wf_step_result {
    enum wf_phase phase; /* WF_SUCCEEDED, WF_FAILED or WF_ERROR */
    int exit_code;       /* -1 when unknown */
    const char *message; /* "Error (exit code 1)", "OOMKilled", ... or NULL */
    const char *result;  /* stdout, trailing newline stripped; or NULL */
    const wf_kv *params; /* output parameters that were read; a missing one
                            is absent (the engine applies valueFrom.default
                            or errors the node) */
    size_t nparams;
    const wf_artifact_ref *artifacts;
    size_t nartifacts;
    /* Set when the result came from a cache instead of running. */
    bool memo_hit;
    const char *memo_key;
    const char *memo_from; /* where the entry was found, e.g. a node id */
} wf_step_result;

enum wf_action_kind {
    WF_ACT_DISPATCH = 1, /* run `task` somewhere */
    WF_ACT_KILL,         /* stop the process of `node` (deadline, stop) */
    WF_ACT_MEMO_LOOKUP,  /* answer with wf_run_memo_result */
    WF_ACT_MEMO_SAVE,    /* store `result` under (memo_cache, memo_key) */
    WF_ACT_ACQUIRE,      /* acquire mutex `mutex` for `node`; answer with
                            wf_run_acquired when granted */
    WF_ACT_RELEASE,      /* release mutex `mutex` held by `node` */
    WF_ACT_DONE,         /* the run ended with `phase` and `message` */
};

typedef struct wf_action {
    enum wf_action_kind kind;
    uint32_t node;
    const char *node_id;
    const wf_task *task;           /* DISPATCH */
    const char *message;           /* KILL reason, DONE message */
    enum wf_phase phase;           /* DONE */
    const char *memo_cache;        /* MEMO_*: cache (configMap) name */
    const char *memo_key;          /* MEMO_* */
    int64_t memo_max_age_ms;       /* MEMO_LOOKUP; 0 = no limit */
    const wf_step_result *result;  /* MEMO_SAVE */
    const char *mutex;             /* ACQUIRE/RELEASE */
} wf_action;

typedef struct wf_run wf_run;

typedef struct wf_run_opts {
    const char *name;       /* the final workflow name (required) */
    const char *uid;        /* {{workflow.uid}} (required) */
    const char *entrypoint; /* override, or NULL */
    const wf_kv *params;    /* -p overrides of spec.arguments.parameters */
    size_t nparams;
    int64_t created_ms;     /* creationTimestamp, wall ms */
    /* `resubmit --memoized`: the status JSON (wf_run_status_json) of the
     * earlier run, or NULL. Its Succeeded pod nodes are reused by node name:
     * they start Succeeded with their outputs and the message
     * "original pod: <id>", and are not dispatched. Borrowed during
     * wf_run_new only. */
    const json_t *memoized_from;
} wf_run_opts;

/* wf_run_new - a run of `spec` in phase Pending. Refuses (CL_EINVAL, with
 * the reason) an unknown parameter override, a missing required parameter,
 * an enum violation or an unknown entrypoint. */
int wf_run_new(wf_spec *spec, const wf_run_opts *opts, wf_run **out,
               cl_errmsg *err);
void wf_run_free(wf_run *r);

/* Events. Each may queue actions; drain them with wf_run_next_action. Event
 * functions return CL_ESTATE for an event that does not apply (a node that
 * is not running, say); such events change nothing. */
int wf_run_start(wf_run *r, int64_t now);
int wf_run_step_started(wf_run *r, uint32_t node, const char *host,
                        int64_t now);
int wf_run_step_exited(wf_run *r, uint32_t node, const wf_step_result *res,
                       int64_t now);
/* wf_run_step_lost - the node running `node` died: run it again elsewhere
 * (a new DISPATCH of the same attempt). This does not consume the template's
 * retryStrategy.limit; the node's message counts the reschedules. */
int wf_run_step_lost(wf_run *r, uint32_t node, const char *why, int64_t now);
int wf_run_memo_result(wf_run *r, uint32_t node, const wf_step_result *hit,
                       int64_t now); /* hit == NULL: miss */
int wf_run_acquired(wf_run *r, uint32_t node, const char *mutex, int64_t now);
/* wf_run_tick - deliver timers (backoff, deadlines, timeouts) due at `now`.
 * wf_run_next_timer says when to call it next (INT64_MAX: no timer). */
int wf_run_tick(wf_run *r, int64_t now);
int64_t wf_run_next_timer(const wf_run *r);
/* stop: kill running steps, run exit handlers, end Failed "Stopped with
 * strategy 'Stop'" (or `message`). terminate: no exit handlers. */
int wf_run_stop(wf_run *r, const char *message, int64_t now);
int wf_run_terminate(wf_run *r, int64_t now);
/* wf_run_retry - `argo retry`: failed and errored nodes go back to pending,
 * succeeded ones are kept; the run is Running again. CL_ESTATE unless the run
 * ended Failed or Error. */
int wf_run_retry(wf_run *r, int64_t now);

/* wf_run_next_action - pop the next queued action into *a; false when the
 * queue is empty. */
bool wf_run_next_action(wf_run *r, wf_action *a);

/* Queries. */
enum wf_phase wf_run_phase(const wf_run *r);
const char *wf_run_name(const wf_run *r);
const char *wf_run_message(const wf_run *r); /* "" when none */
int64_t wf_run_started_at(const wf_run *r);  /* 0 when not started */
int64_t wf_run_finished_at(const wf_run *r); /* 0 while running */
size_t wf_run_node_count(const wf_run *r);
/* wf_run_find_node - node index by Argo node id or by node name. */
int wf_run_find_node(const wf_run *r, const char *id_or_name, uint32_t *node);
const char *wf_run_node_id(const wf_run *r, uint32_t node);
enum wf_phase wf_run_node_phase(const wf_run *r, uint32_t node);

/* wf_run_status_json - the Argo Workflow object:
 *   {"apiVersion","kind","metadata":{"name","uid","creationTimestamp",
 *    "labels","annotations"},"spec":{...as submitted...},
 *    "status":{"phase","startedAt","finishedAt","message","progress",
 *      "nodes":{<id>:{"id","name","displayName","type","templateName",
 *        "phase","boundaryID","children","startedAt","finishedAt","message",
 *        "hostNodeName","inputs","outputs":{"parameters","result","exitCode",
 *        "artifacts"},"memoizationStatus":{"hit","key","cacheName",
 *        "from"}}},
 *      "outputs":{"parameters":[...globals...]}}}
 * Timestamps are RFC 3339 to the second; absent ones are null. The caller
 * owns the result. */
json_t *wf_run_status_json(const wf_run *r, int64_t now);

/* ---- additions to the original contract --------------------------------- */

/* wf_spec_ttl_seconds - spec.ttlStrategy for a run that ended in `final`:
 * secondsAfterSuccess / secondsAfterFailure, else secondsAfterCompletion;
 * -1 when none applies. The coordinator deletes the record that long after
 * the run finished (Argo's TTL controller). */
int64_t wf_spec_ttl_seconds(const wf_spec *s, enum wf_phase final);

/* wf_run_node_name - the Argo node name of `node` ("wf[0].step"), or NULL
 * for an index out of range. Valid until the next call into the run. */
const char *wf_run_node_name(const wf_run *r, uint32_t node);

/* ---- CLI helpers -------------------------------------------------------- */

/* wf_lint_path - `argo lint`, offline: parse one file, or every .yaml and
 * .yml file of a directory (not recursive, sorted by name). Returns 0 when
 * all parse; otherwise CL_EINVAL (or CL_EPARSE, CL_EIO, CL_ENOMEM) with one
 * "file:line:col: message" line per failing file in diag->err (truncated
 * to its size). Warnings of every file are collected in diag. */
int wf_lint_path(const char *path, wf_diag *diag);

/* wf_render_tree - render a status JSON (wf_run_status_json) as the text of
 * `argo get`: the header (Name, Namespace, Status, Message, Created,
 * Started, Finished, Duration, Progress, Parameters, Output Parameters)
 * then the node tree with the columns STEP TEMPLATE PODNAME DURATION
 * MESSAGE (+ NODENAME with WF_RENDER_WIDE). `now` (wall ms) is used for the
 * ages and the durations of running nodes. Appends to `out`; check
 * cl_buf_ok(out) for an allocation failure. */
#define WF_RENDER_WIDE 1u    /* add the NODENAME column */
#define WF_RENDER_NO_UTF8 2u /* ASCII icons and tree lines */
#define WF_RENDER_NO_HEADER 4u /* only the node tree */
void wf_render_tree(json_t *status, int64_t now, cl_buf *out, unsigned flags);

#endif
