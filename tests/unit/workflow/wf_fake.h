/* wf_fake.h - a fake executor for engine tests: drives a wf_run over
 * virtual time, answering DISPATCH with outcomes a policy decides, MEMO_*
 * with an in-memory cache and ACQUIRE/RELEASE with a mutex table.
 *
 * Steps complete `duration_ms` of virtual time after they start; timers
 * fire when virtual time reaches them. Everything is deterministic.
 */
#ifndef COULER_TEST_WF_FAKE_H
#define COULER_TEST_WF_FAKE_H

#include "workflow/wf.h"

#include <stdbool.h>
#include <stdint.h>

#define FAKE_MAX_PARAMS 8
#define FAKE_MAX_ARTS 4

typedef struct fake_outcome {
    enum wf_phase phase;   /* default WF_SUCCEEDED (or Failed if exit != 0) */
    int exit_code;
    char *out;             /* stdout (cl_malloc'd), or NULL */
    int64_t duration_ms;   /* default 1000 */
    bool hang;             /* never exits (until killed) */
    bool lost;             /* report the node lost once, then run */
    bool unschedulable;    /* never starts (no agent matches) */
    int nparams;
    char *pname[FAKE_MAX_PARAMS];
    char *pvalue[FAKE_MAX_PARAMS];
    int narts;
    char *aname[FAKE_MAX_ARTS];
    char *adigest[FAKE_MAX_ARTS];
} fake_outcome;

/* Decide the outcome of one dispatched task. `o` is zeroed with
 * phase/exit 0 and duration 1000 before the call. */
typedef void (*fake_policy)(void *ud, const wf_task *t, fake_outcome *o);

typedef struct fake_task {
    uint32_t node;
    char *name;        /* node name */
    char *tmpl;
    char **argv;
    size_t argc;
    char *source;
    char **env;        /* "K=V" */
    size_t nenv;
    int retry;
    int64_t deadline_ms;
    char *memo_key;
    int ninputs;
    char *in_name[4];
    char *in_raw[4];
    char *in_digest[4];
    int64_t dispatched_at;
    char *out;         /* the stdout the policy decided */
    int exit_code;
} fake_task;

typedef struct fake_pending {
    uint32_t node;
    int64_t at;
    fake_outcome o;
    bool started;
} fake_pending;

typedef struct fake {
    wf_run *run;
    wf_spec *spec;
    int64_t now;
    fake_policy policy;
    void *ud;
    fake_task *tasks;      /* every DISPATCH, in order */
    size_t ntasks, captasks;
    fake_pending *pend;
    size_t npend, cappend;
    int kills, memo_lookups, memo_saves, memo_hits, acquires, releases;
    bool done;
    enum wf_phase final_phase;
    char *final_message;
    /* memo cache */
    char *mkey[64];
    fake_outcome mval[64];
    int64_t mtime[64];
    int nmemo;
    /* mutexes: holder node or UINT32_MAX; waiters FIFO */
    char *mutex[8];
    uint32_t holder[8];
    uint32_t waiters[8][16];
    int nwaiters[8];
    int nmutex;
    bool lost_done[4096];
} fake;

/* fake_parse_or_die: parse YAML text into a spec (asserts on failure). */
wf_spec *fake_parse(const char *yaml);

/* fake_init - a run of spec named `name` with `-p` overrides "k=v" (NULL
 * terminated, may be NULL). Returns 0 or the wf_run_new error. */
int fake_init(fake *f, wf_spec *spec, const char *name, const char **params,
              fake_policy policy, void *ud);
void fake_free(fake *f);

/* Run until DONE or until virtual time passes `limit_ms` after start.
 * Returns true when DONE was seen. */
bool fake_run(fake *f, int64_t limit_ms);

/* Process actions and due events once at the current time. */
void fake_pump(fake *f);

/* helpers for policies */
void fake_set_out(fake_outcome *o, const char *s);
void fake_add_param(fake_outcome *o, const char *name, const char *value);
void fake_add_art(fake_outcome *o, const char *name, const char *digest);
/* argv joined by spaces (static buffer) */
const char *fake_argv(const wf_task *t);
/* the dispatched task whose node name is `name`, or NULL */
const fake_task *fake_find(const fake *f, const char *name);
/* index of the first dispatch of node name, or -1 */
int fake_order(const fake *f, const char *name);
/* phase of node by name (asserts it exists) */
enum wf_phase fake_phase(const fake *f, const char *name);
/* node JSON from the status by name (new reference), or NULL */
json_t *fake_node_json(const fake *f, const char *name);

/* The generic policy: echo-like commands produce their text on stdout,
 * `exit N` in a shell script gives exit code N, `sleep N` sets the duration,
 * output parameters with a path get "<param>-value" unless the script
 * writes `echo X > path`. */
void fake_policy_echo(void *ud, const wf_task *t, fake_outcome *o);

#endif
