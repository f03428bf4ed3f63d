/* agent_int.h - internals of the agent shared by its source files. */
#ifndef COULER_AGENT_INT_H
#define COULER_AGENT_INT_H

#include "agent/agent.h"
#include "agent/sandbox/sandbox.h"
#include "cache/cache.h"
#include "common/cl_buf.h"
#include "common/cl_envelope.h"
#include "common/cl_zsock.h"

#include <limits.h>
#include <stdbool.h>
#include <uthash.h>

#define AGENT_RESULT_MAX (256u * 1024u) /* Argo keeps the last 256 KiB */
#define AGENT_LOG_CHUNK (64u * 1024u)
#define AGENT_LOG_FLUSH_MS 100

/* Step phases on the wire are wf_phase values (workflow/wf.h). */
#define AGENT_PHASE_SUCCEEDED 2
#define AGENT_PHASE_FAILED 3
#define AGENT_PHASE_ERROR 4

enum agent_step_state {
    AGENT_STEP_PREPARING = 0, /* fetching and staging inputs */
    AGENT_STEP_RUNNING = 1, /* process alive */
    AGENT_STEP_EXITED,      /* report written, not yet acknowledged */
};

typedef struct agent_step agent_step;
struct agent_step {
    char *attempt_id;
    Couler__StepAssign *assign; /* owned: cl_env_free */
    char dir[PATH_MAX];         /* <data>/steps/<attempt> */
    enum agent_step_state state;
    agent *a;

    uv_process_t proc;
    uv_pipe_t out_pipe, err_pipe;
    uv_timer_t deadline;
    int open_handles;    /* handles still to close before free */
    int pipes_open;      /* stdout/stderr not yet at EOF */
    bool proc_exited;
    int64_t exit_status; /* from the exit callback */
    int term_signal;
    bool deadline_hit;
    bool cancelled;
    char cancel_reason[256];
    struct agent_sb_group *group; /* per-step cgroup, or NULL */
    bool isolated;                /* runs under couler-exec's view */
    char launch_error[256];       /* couler-exec's reason, if it failed */

    int log_fd;          /* <dir>/log, append */
    uint64_t log_size;   /* bytes written to the log file */
    uint64_t log_sent;   /* bytes sent to the coordinator */
    cl_buf out_tail;     /* stdout, trimmed to the last AGENT_RESULT_MAX */
    int64_t started_at;

    uint8_t *report;     /* packed StepExited envelope, until acked */
    size_t report_len;
    bool report_sent;    /* sent since the last (re-)registration */

    /* The verdict, settled when the process is gone. */
    int verdict_phase;   /* AGENT_PHASE_* */
    int verdict_code;
    char verdict_msg[512];
    bool verdict_oom;
    int64_t compute_ms;
    char *result_copy;   /* stdout as reported (cl_malloc'd) */
    cache_kv *out_params_read; /* names borrowed, values owned */
    size_t n_out_params_read;
    char **out_art_path; /* host paths of output artifacts to store */
    size_t assign_n_out_artifacts;
    struct agent_out_art {
        char digest[CL_DIGEST_HEX_SIZE];
        uint64_t size;
        bool is_dir;
        bool present;
    } * out_arts;

    /* Artifact work (agent_art.c). */
    uv_work_t work;
    bool work_busy;
    void (*art_cb)(struct agent_step *s);
    int art_status;
    char art_why[512];
    char missing_artifact[CL_DIGEST_HEX_SIZE];
    char cache_why[256];
    int pending_fetches;
    UT_hash_handle hh;
};

struct agent_art;

struct agent {
    uv_loop_t *loop;
    void *zctx;
    bool own_zctx;
    void *dealer;
    cl_zsock zs;
    agent_config cfg;  /* strings below are owned copies */
    char *node_id;
    char *data_dir;
    char *coord;
    char *topology;
    char *exec_path;   /* couler-exec, or NULL: steps run directly */
    char **labels;     /* "k=v": --label ones, then the defaults */
    size_t nlabels_all;
    char **binds;      /* host paths shared read-write into every step */
    struct agent_sb_cg *cg; /* step cgroups, or NULL when unavailable */
    struct agent_sb_cpus real_cpus; /* what this machine can honour */
    struct agent_sb_cpus real_mems;
    char boot_id[40];
    uint64_t next_req;

    bool registered;
    int64_t last_heard;   /* monotonic ms of the last coordinator message */
    uv_timer_t hb_timer;
    uv_timer_t flush_timer;
    int open_handles;
    bool closing;
    void (*close_cb)(agent *, void *);
    void *close_data;

    Couler__NodeSummary summary;
    char summary_host[256];
    uint8_t *model;        /* packed topology model, or NULL */
    size_t model_len;

    struct agent_art *art; /* store, artifact server, fetches */
    struct agent_gossip *gossip; /* membership, or NULL */
    bool coord_from_gossip;      /* no --coord: follow gossip */
    unsigned published_running;  /* `running` when gossip last heard */
    agent_step *steps;     /* by attempt id */
    unsigned running;

    uint64_t bad_frames;
    unsigned jobs; /* thread-pool jobs not tied to a step */
};

/* agent_cache.c: lookups, puts, verification and listings for the
 * coordinator; true when `type` was a cache message (m stays the
 * caller's). */
bool agent__cache_message(agent *a, Couler__MsgType type, uint64_t rid,
                          ProtobufCMessage *m);

/* agent_gossip.c */
int agent__gossip_start(agent *a, cl_errmsg *err);
int agent__gossip_publish(agent *a);
int agent__gossip_reload_keys(agent *a, cl_errmsg *err);
void agent__gossip_close(agent *a);

/* agent.c */
int agent__send_reply(agent *a, Couler__MsgType type, uint64_t rid,
                      const ProtobufCMessage *m);
void agent__steps_closed(agent *a); /* a step was freed; finish a close */
void agent__register_now(agent *a);
int agent__send(agent *a, Couler__MsgType type, const ProtobufCMessage *m);

/* agent_art.c */
int agent__art_open(agent *a, cl_errmsg *err);
void agent__art_close(agent *a);
void agent__art_maybe_free(agent *a); /* during close, once jobs are done */
const char *agent__art_endpoint(const agent *a);
cache_store *agent__art_store(const agent *a);
/* Hand over (or fetch, then hand over) every input artifact of `s` to
 * <dir>/in/<i>; cb runs on the loop with s->art_status set. */
int agent__art_prepare_inputs(agent *a, agent_step *s,
                              void (*cb)(agent_step *s));
void agent__art_cancel_fetches(agent *a, agent_step *s);
void agent__art_input_path(const agent_step *s, size_t i, char *buf,
                           size_t len);
/* Store s->out_art_path[] (and, on success, the entry under the step's
 * cache key); cb runs on the loop. */
int agent__art_import_outputs(agent *a, agent_step *s,
                              void (*cb)(agent_step *s));

/* agent_exec.c */
void agent__step_maybe_free(agent_step *s);
/* The part of a CPU or NUMA list this machine has, as a list ("" when
 * none of it). */
void agent__honour(const struct agent_sb_cpus *real, const char *list,
                   char *out, size_t len);
int agent__step_start(agent *a, Couler__StepAssign *assign);
void agent__step_cancel(agent *a, agent_step *s, const char *reason);
void agent__step_ack(agent *a, agent_step *s);
void agent__flush_logs(agent *a);
void agent__resend_reports(agent *a);
int agent__load_reports(agent *a);
void agent__steps_close(agent *a);

#endif
