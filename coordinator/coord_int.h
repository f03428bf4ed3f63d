/* coord_int.h - internals shared by the coordinator's source files. */
#ifndef COULER_COORD_INT_H
#define COULER_COORD_INT_H

#include "agent/agent.h"
#include "cache/cache.h"
#include "common/cl_buf.h"
#include "common/cl_envelope.h"
#include "common/cl_rng.h"
#include "common/cl_zsock.h"
#include "coordinator/coord.h"
#include "coordinator/coord_store.h"
#include "placement/place.h"
#include "workflow/wf.h"

#include <stdbool.h>
#include <stdint.h>
#include <uthash.h>

enum coord_att_state {
    COORD_ATT_QUEUED = 1,   /* waiting for a node */
    COORD_ATT_ASSIGNED = 2, /* sent to an agent */
    COORD_ATT_STARTED = 3,  /* the agent reported it running */
    COORD_ATT_DONE = 4,     /* exited, lost or cancelled: final */
    COORD_ATT_LOOKUP = 5,   /* asking the cache, or waiting for an
                               identical step in flight */
};

enum coord_agent_state {
    COORD_AGENT_READY = 1,
    COORD_AGENT_NOT_READY = 2, /* missed heartbeats, or not yet back */
    COORD_AGENT_LOST = 3,      /* its steps were moved elsewhere */
};

typedef struct coord_wf coord_wf;
typedef struct coord_req coord_req; /* a step's placement request */
typedef struct coord_gang coord_gang; /* the ranks of a gang step */

/* One run of one step on one agent. Its id "<uid>.<node id>.<seq>" names it
 * on the wire; a step rescheduled after a node loss, or rerun by `retry`,
 * gets the next seq. */
typedef struct coord_attempt {
    char *id;
    char *wf_name;    /* typed reference: looked up, never a pointer */
    char *key;        /* "<uid>.<node id>": the step, across attempts */
    uint32_t node;
    uint32_t seq;
    char *node_id;
    char *display;    /* the node's display name, for logs */
    char *agent;      /* assigned agent id, or NULL */
    enum coord_att_state state;
    int priority;
    int64_t queued_at;
    uint64_t log_off; /* contiguous log bytes stored */
    uint8_t *assign;  /* packed StepAssign payload (no envelope) */
    size_t assign_len;
    UT_hash_handle hh;      /* by id */
    struct coord_attempt *prev, *next; /* run queue (utlist) */
    bool queued;
    bool has_inputs;  /* input artifacts: endpoints filled at send time */
    coord_req *req;   /* what it asks for (owned), NULL when unknown */
    place_binding binding; /* where it runs (owned); kept after release */
    bool bound;       /* binding committed in the cluster view */
    uint64_t order;   /* creation order in this process, for listings */
    char cache_key[CL_DIGEST_HEX_SIZE]; /* "" unless cacheable */
    coord_gang *gang; /* couler.io/nodes: its ranks, while placed */
    char *wait_reason; /* why it still waits in the queue, or NULL */
} coord_attempt;

/* The latest attempt of each step, by "<uid>.<node id>". */
typedef struct coord_latest {
    char *key;
    coord_attempt *att;
    UT_hash_handle hh;
} coord_latest;

/* Pending work found while replaying a run, settled when replay ends. */
typedef struct coord_replay_item {
    uint32_t node;
    uint8_t *assign;
    size_t assign_len;
    char *node_id;
    char *display;
    int priority;
    bool kill;
    bool has_inputs;
    char *kill_reason;
    coord_req *req;
    UT_hash_handle hh;
} coord_replay_item;

struct coord_wf {
    char *name;
    Couler__WorkflowRecord *rec; /* owned, cl_pb_allocator */
    wf_spec *spec;
    wf_run *run;                 /* NULL once finished (rebuilt on demand) */
    uint64_t next_seq;
    bool replaying;
    coord_replay_item *replay;
    UT_hash_handle hh;
};

typedef struct coord_agent {
    char *id;
    Couler__AgentRegister *reg; /* owned: cl_env_free */
    enum coord_agent_state state;
    int64_t last_seen;          /* monotonic ms */
    unsigned running;
    UT_hash_handle hh;
} coord_agent;

typedef struct coord_mutex {
    char *name;
    char *holder;               /* "<wf name>/<node>" */
    char **waiters;
    size_t nwaiters;
    UT_hash_handle hh;
} coord_mutex;

/* An engine event waiting to be applied (see coord_wf.c). */
typedef struct coord_pending {
    char *wf_name;
    Couler__EngineEvent *ev;    /* owned */
    struct coord_pending *next;
} coord_pending;

struct coord {
    uv_loop_t *loop;
    void *zctx;
    coord_config cfg;
    char *data_dir;
    char *listen;
    char *agent_listen;
    void *client_sock, *agent_sock;
    cl_zsock client_zs, agent_zs;
    coord_store *store;
    uv_timer_t timer;
    int open_handles;
    bool closing;
    void (*close_cb)(void *);
    void *close_data;
    int64_t started_mono;

    coord_wf *wfs;
    coord_attempt *attempts;
    coord_latest *latest;
    coord_attempt *queue;
    coord_agent *agents;
    coord_mutex *mutexes;
    coord_pending *pending_head, *pending_tail;
    bool processing;
    agent *emb;
    place_cluster *pc;
    cl_rng rng;
    struct coord_cache *cache;
    struct coord_gossip *gossip;
    void (*gossip_closed)(coord *c);
    struct coord_http *http;
    void (*http_closed)(coord *c);

    uint64_t next_req;
    uint64_t next_attempt_order;
    /* counters (STATS) */
    uint64_t bad_client_frames;
    uint64_t bad_agent_frames;
    uint64_t steps_dispatched;
    uint64_t steps_exited;
    uint64_t steps_lost;
    uint64_t store_errors;
    uint64_t cache_hits;
    uint64_t steps_assigned;
};

/* coord.c */
int coord__send_agent(coord *c, const char *agent_id, Couler__MsgType type,
                      const ProtobufCMessage *m);
int coord__send_agent_raw(coord *c, const char *agent_id,
                          Couler__MsgType type, const uint8_t *payload,
                          size_t len);

/* coord_wf.c: workflows, the engines, the run queue */
int coord__load(coord *c, cl_errmsg *err);
int coord__submit(coord *c, const Couler__SubmitRequest *req,
                  Couler__SubmitReply *reply, cl_errmsg *err);
int coord__resubmit(coord *c, const Couler__ResubmitRequest *req,
                    Couler__SubmitReply *reply, cl_errmsg *err);
coord_wf *coord__find_wf(coord *c, const char *name);
char *coord__status_json(coord *c, coord_wf *w);
int coord__control(coord *c, const Couler__ControlRequest *req,
                   Couler__ControlReply *reply, cl_errmsg *err);
void coord__on_started(coord *c, const char *agent_id,
                       const Couler__StepStarted *m);
void coord__on_log(coord *c, const char *agent_id, const Couler__StepLog *m);
void coord__on_exited(coord *c, const char *agent_id,
                      const Couler__StepExited *m);
void coord__agent_lost(coord *c, coord_agent *ag, const char *why);
void coord__reconcile_agent(coord *c, coord_agent *ag,
                            const Couler__AgentRegister *reg,
                            Couler__RegisterAck *ack);
void coord__schedule(coord *c);
void coord__tick(coord *c);
int coord__logs(coord *c, const Couler__LogsRequest *req,
                Couler__LogsReply *reply, cl_errmsg *err);
void coord__logs_reply_free(Couler__LogsReply *reply);
void coord__free_all(coord *c);
const char *coord__wf_phase(const coord_wf *w);
int coord__task_key(const wf_task *t, cache_key *out);

coord_attempt *coord__find_attempt(coord *c, const char *id);
void coord__process(coord *c);
/* A cache hit (or an identical step's result) stands for attempt a. */
void coord__cached_exit(coord *c, coord_attempt *a, const Couler__StepExited *ex,
                        const char *keyhex, const char *from);
void coord__cache_miss(coord *c, coord_attempt *a);
void coord__memo_answer(coord *c, const char *wf_name, uint32_t node,
                        const Couler__CacheEntryMsg *hit, const char *user_key,
                        const char *from);

/* coord.c */
int coord__send_agent_frame(coord *c, const char *agent_id,
                            const uint8_t *frame, size_t len);
void coord__reply_client(coord *c, const uint8_t *ident, size_t ident_len,
                         uint64_t rid, Couler__MsgType type,
                         const ProtobufCMessage *m);

/* coord_cache.c: the distributed step-output cache */
int coord__cache_init(coord *c);
void coord__cache_free(coord *c);
const char *coord__cache_policy(coord *c, const coord_wf *w);
bool coord__cacheable(coord *c, const coord_wf *w, const wf_task *t);
void coord__cache_lookup_step(coord *c, coord_attempt *a, const char *keyhex);
bool coord__cache_claim(coord *c, const char *keyhex, const char *attempt_id);
void coord__cache_settle(coord *c, const char *keyhex,
                         const Couler__StepExited *ex, const char *host);
void coord__memo_lookup(coord *c, const char *wf_name, uint32_t node,
                        const char *cache_name, const char *user_key,
                        int64_t max_age_ms);
void coord__memo_save(coord *c, const char *cache_name, const char *user_key,
                      const wf_step_result *r, const char *node_id);
void coord__cache_put(coord *c, const char *keyhex,
                      const Couler__CacheEntryMsg *e, const char *skip);
bool coord__cache_message(coord *c, const char *agent_id, Couler__MsgType type,
                          uint64_t rid, ProtobufCMessage *m, bool *keep);
int coord__cache_admin(coord *c, const uint8_t *ident, size_t ident_len,
                       uint64_t client_rid, const Couler__CacheRequest *req,
                       cl_errmsg *err);
void coord__cache_tick(coord *c);

/* The shared ends of a step's life, for single steps and gangs alike. */
void coord__attempt_started(coord *c, coord_attempt *a, const char *host,
                            int64_t started_at);
void coord__attempt_exited(coord *c, coord_attempt *a,
                           const Couler__StepExited *m, const char *host);
void coord__attempt_lost(coord *c, coord_attempt *a, const char *why);
/* Store a log chunk of attempt a (rank -1) or of one of its ranks. */
void coord__store_log(coord *c, coord_attempt *a, int rank, uint64_t *log_off,
                      const Couler__StepLog *m);

/* coord_gang.c: gang steps */
int coord__gang_try(coord *c, coord_attempt *a, cl_errmsg *err);
void coord__gang_free(coord *c, coord_gang *g);
bool coord__gang_is_rank(const char *attempt_id);
void coord__gang_started(coord *c, const char *agent_id,
                         const Couler__StepStarted *m);
void coord__gang_log(coord *c, const char *agent_id, const Couler__StepLog *m);
void coord__gang_exited(coord *c, const char *agent_id,
                        const Couler__StepExited *m, bool *ack);
void coord__gang_node_lost(coord *c, coord_attempt *a, const char *agent_id,
                           const char *why);
void coord__gang_cancel(coord *c, coord_attempt *a, const char *reason);
void coord__gang_rank_ids(const coord_attempt *a, const char *agent_id,
                          void (*fn)(void *data, const char *id,
                                     uint64_t log_off),
                          void *data);

/* coord_api.c: read-only views for the HTTP API and the dashboard. JSON
 * results belong to the caller (json_decref). */
json_t *coord__api_workflows(coord *c);
json_t *coord__api_workflow(coord *c, const char *name); /* NULL: none */
int coord__api_logs(coord *c, const char *name, const char *step,
                    cl_buf *out, cl_errmsg *err);
json_t *coord__api_nodes(coord *c);
void coord__api_metrics(coord *c, cl_buf *out);

/* coord_http.c: the HTTP server (config http_listen) */
int coord__http_start(coord *c, cl_errmsg *err);
void coord__http_close(coord *c, void (*cb)(coord *c));

/* coord_gossip.c: membership */
int coord__gossip_start(coord *c, cl_errmsg *err);
int coord__gossip_reload_keys(coord *c, cl_errmsg *err);
const char *coord__gossip_state(coord *c, const char *name);
void coord__gossip_close(coord *c, void (*cb)(coord *c));

/* coord_place.c: placement */
int coord__place_init(coord *c);
void coord__place_free(coord *c);
int coord__req_from_task(const wf_task *t, coord_req **out, cl_errmsg *err);
void coord__req_free(coord_req *q);
uint32_t coord__req_gang(const coord_req *q);
const place_request *coord__req_place(const coord_req *q);
void coord__place_agent_up(coord *c, coord_agent *ag);
void coord__place_agent_state(coord *c, coord_agent *ag, bool ready);
int coord__place_try(coord *c, coord_attempt *a, cl_errmsg *err);
void coord__place_release(coord *c, coord_attempt *a);
int coord__binding_field(const place_binding *b, const wf_kv *extra,
                         size_t nextra, uint8_t **out, size_t *len);
json_t *coord__binding_json(const place_binding *b);
void coord__place_describe(coord *c, const char *node, cl_buf *out);

#endif
