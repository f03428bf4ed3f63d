/* coord.c - the coordinator daemon: its sockets and message handlers. */
#include "coordinator/coord_int.h"

#include "common/cl_fs.h"
#include "common/cl_heap.h"
#include "common/cl_log.h"
#include "common/cl_time.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#define COORD_INPROC_AGENTS "inproc://couler-agents"
#define COORD_TICK_MS 200

/* ---- sending ---------------------------------------------------------------*/

/* Free a string field we filled with cl_malloc'd text; the INIT value is
 * protobuf-c's static empty string. */
static void pb_str_free(char *s)
{
    if (s != protobuf_c_empty_string)
        cl_free(s);
}

static int send_to(cl_zsock *zs, const char *ident, size_t ilen,
                   const uint8_t *frame, size_t len)
{
    const void *parts[2] = {ident, frame};
    size_t lens[2] = {ilen, len};
    return cl_zsock_send(zs, 2, parts, lens);
}

int coord__send_agent(coord *c, const char *agent_id, Couler__MsgType type,
                      const ProtobufCMessage *m)
{
    if (agent_id == NULL)
        return CL_EINVAL;
    uint8_t *buf;
    size_t len;
    int rv = cl_env_pack(type, ++c->next_req, m, &buf, &len);
    if (rv != 0)
        return rv;
    rv = send_to(&c->agent_zs, agent_id, strlen(agent_id), buf, len);
    cl_free(buf);
    return rv;
}

int coord__send_agent_frame(coord *c, const char *agent_id,
                            const uint8_t *frame, size_t len)
{
    return send_to(&c->agent_zs, agent_id, strlen(agent_id), frame, len);
}

int coord__send_agent_raw(coord *c, const char *agent_id,
                          Couler__MsgType type, const uint8_t *payload,
                          size_t len)
{
    Couler__Envelope env = COULER__ENVELOPE__INIT;
    env.version = CL_PROTOCOL_VERSION;
    env.type = type;
    env.request_id = ++c->next_req;
    env.payload.data = (uint8_t *)payload;
    env.payload.len = len;
    size_t elen = couler__envelope__get_packed_size(&env);
    uint8_t *buf = cl_malloc(elen);
    if (buf == NULL)
        return CL_ENOMEM;
    couler__envelope__pack(&env, buf);
    int rv = send_to(&c->agent_zs, agent_id, strlen(agent_id), buf, elen);
    cl_free(buf);
    return rv;
}

static void reply(coord *c, const cl_zframes *f, uint64_t rid,
                  Couler__MsgType type, const ProtobufCMessage *m)
{
    uint8_t *buf;
    size_t len;
    if (cl_env_pack(type, rid, m, &buf, &len) != 0)
        return;
    send_to(&c->client_zs, (const char *)f->data[0], f->len[0], buf, len);
    cl_free(buf);
}

void coord__reply_client(coord *c, const uint8_t *ident, size_t ident_len,
                         uint64_t rid, Couler__MsgType type,
                         const ProtobufCMessage *m)
{
    uint8_t *buf;
    size_t len;
    if (cl_env_pack(type, rid, m, &buf, &len) != 0)
        return;
    send_to(&c->client_zs, (const char *)ident, ident_len, buf, len);
    cl_free(buf);
}

static void reply_error(coord *c, const cl_zframes *f, uint64_t rid, int code,
                        const char *msg)
{
    Couler__ErrorReply e = COULER__ERROR_REPLY__INIT;
    e.code = (uint32_t)code;
    e.message = (char *)(msg && msg[0] ? msg : cl_strerror(code));
    reply(c, f, rid, COULER__MSG_TYPE__MSG_ERROR, &e.base);
}

/* ---- agents ----------------------------------------------------------------*/

static coord_agent *agent_get(coord *c, const char *id)
{
    coord_agent *ag;
    HASH_FIND_STR(c->agents, id, ag);
    return ag;
}

static void on_register(coord *c, const char *id, Couler__AgentRegister *reg)
{
    Couler__RegisterAck ack = COULER__REGISTER_ACK__INIT;
    ack.heartbeat_ms = c->cfg.heartbeat_ms ? c->cfg.heartbeat_ms : 1000;
    ack.coordinator_id = "couler-coord";
    if (strcmp(reg->node_id, id) != 0) {
        ack.accepted = false;
        ack.reason = "node id does not match the connection's identity";
        coord__send_agent(c, id, COULER__MSG_TYPE__MSG_REGISTER_ACK,
                          &ack.base);
        cl_env_free(&reg->base);
        return;
    }
    coord_agent *ag = agent_get(c, id);
    if (ag == NULL) {
        ag = cl_calloc(1, sizeof(*ag));
        if (ag == NULL || (ag->id = cl_strdup(id)) == NULL) {
            cl_free(ag);
            cl_env_free(&reg->base);
            return;
        }
        HASH_ADD_KEYPTR(hh, c->agents, ag->id, strlen(ag->id), ag);
    }
    bool was_ready = ag->state == COORD_AGENT_READY;
    coord__reconcile_agent(c, ag, reg, &ack);
    if (ag->reg)
        cl_env_free(&ag->reg->base);
    ag->reg = reg;
    ag->state = COORD_AGENT_READY;
    ag->last_seen = cl_now_ms();
    coord__place_agent_up(c, ag);
    ack.accepted = true;
    coord__send_agent(c, id, COULER__MSG_TYPE__MSG_REGISTER_ACK, &ack.base);
    for (size_t i = 0; i < ack.n_known; i++)
        cl_free(ack.known[i]);
    cl_free(ack.known);
    if (!was_ready)
        CL_INFO("agent %s ready: %u PUs, %llu MiB, %u GPUs, max %u steps",
                id, reg->summary ? reg->summary->pus : 0,
                reg->summary
                    ? (unsigned long long)(reg->summary->memory_bytes >> 20)
                    : 0ULL,
                reg->summary ? reg->summary->gpus : 0, reg->max_steps);
    coord__schedule(c);
}

static void not_registered(coord *c, const char *id)
{
    Couler__RegisterAck ack = COULER__REGISTER_ACK__INIT;
    ack.accepted = false;
    ack.reason = "unknown node: register first";
    coord__send_agent(c, id, COULER__MSG_TYPE__MSG_REGISTER_ACK, &ack.base);
}

static void on_agent_message(cl_zsock *zs, const cl_zframes *f)
{
    coord *c = zs->data;
    if (f->nframes != 2 || f->len[0] == 0 || f->len[0] > 255) {
        c->bad_agent_frames++;
        return;
    }
    char id[256];
    memcpy(id, f->data[0], f->len[0]);
    id[f->len[0]] = '\0';
    Couler__MsgType type;
    uint64_t rid;
    ProtobufCMessage *m;
    cl_errmsg err;
    if (cl_env_unpack(f->data[1], f->len[1], &type, &rid, &m, &err) != 0) {
        c->bad_agent_frames++;
        CL_DEBUG("dropped a frame from agent connection '%s': %s", id,
                 err.msg);
        return;
    }
    if (type == COULER__MSG_TYPE__MSG_AGENT_REGISTER) {
        on_register(c, id, (Couler__AgentRegister *)m);
        return; /* ownership passed */
    }
    coord_agent *ag = agent_get(c, id);
    if (ag == NULL || ag->reg == NULL || ag->state == COORD_AGENT_LOST) {
        not_registered(c, id);
        cl_env_free(m);
        return;
    }
    ag->last_seen = cl_now_ms();
    if (ag->state == COORD_AGENT_NOT_READY) {
        ag->state = COORD_AGENT_READY;
        coord__place_agent_state(c, ag, true);
        coord__schedule(c);
    }
    switch (type) {
    case COULER__MSG_TYPE__MSG_HEARTBEAT: {
        Couler__Heartbeat hb = COULER__HEARTBEAT__INIT;
        hb.node_id = "couler-coord";
        coord__send_agent(c, id, COULER__MSG_TYPE__MSG_HEARTBEAT, &hb.base);
        break;
    }
    case COULER__MSG_TYPE__MSG_STEP_STARTED:
        coord__on_started(c, id, (Couler__StepStarted *)m);
        break;
    case COULER__MSG_TYPE__MSG_STEP_LOG:
        coord__on_log(c, id, (Couler__StepLog *)m);
        break;
    case COULER__MSG_TYPE__MSG_STEP_EXITED:
        coord__on_exited(c, id, (Couler__StepExited *)m);
        break;
    default: {
        bool keep = false;
        if (!coord__cache_message(c, id, type, rid, m, &keep))
            c->bad_agent_frames++;
        if (keep)
            return; /* the cache keeps the message */
        break;
    }
    }
    cl_env_free(m);
}

/* ---- clients ---------------------------------------------------------------*/

static void handle_submit(coord *c, const cl_zframes *f, uint64_t rid,
                          Couler__SubmitRequest *req)
{
    Couler__SubmitReply rep = COULER__SUBMIT_REPLY__INIT;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = coord__submit(c, req, &rep, &err);
    if (rv != 0)
        reply_error(c, f, rid, rv, err.msg);
    else
        reply(c, f, rid, COULER__MSG_TYPE__MSG_SUBMIT_REPLY, &rep.base);
    pb_str_free(rep.name);
    pb_str_free(rep.uid);
    pb_str_free(rep.status_json);
    for (size_t i = 0; i < rep.n_warnings; i++)
        cl_free(rep.warnings[i]);
    cl_free(rep.warnings);
}

static void handle_resubmit(coord *c, const cl_zframes *f, uint64_t rid,
                            Couler__ResubmitRequest *req)
{
    Couler__SubmitReply rep = COULER__SUBMIT_REPLY__INIT;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = coord__resubmit(c, req, &rep, &err);
    if (rv != 0)
        reply_error(c, f, rid, rv, err.msg);
    else
        reply(c, f, rid, COULER__MSG_TYPE__MSG_SUBMIT_REPLY, &rep.base);
    pb_str_free(rep.name);
    pb_str_free(rep.uid);
    pb_str_free(rep.status_json);
}

static bool phase_matches(const char *phase, const Couler__ListRequest *req)
{
    bool done = strcmp(phase, "Succeeded") == 0 ||
                strcmp(phase, "Failed") == 0 || strcmp(phase, "Error") == 0;
    if (req->running && done)
        return false;
    if (req->completed && !done)
        return false;
    if (req->n_phases == 0)
        return true;
    for (size_t i = 0; i < req->n_phases; i++)
        if (strcasecmp(req->phases[i], phase) == 0)
            return true;
    return false;
}

static void handle_list(coord *c, const cl_zframes *f, uint64_t rid,
                        Couler__ListRequest *req)
{
    size_t n = HASH_COUNT(c->wfs);
    Couler__WorkflowSummary *items = cl_calloc(n + 1, sizeof(*items));
    Couler__WorkflowSummary **ptrs = cl_calloc(n + 1, sizeof(*ptrs));
    if (items == NULL || ptrs == NULL) {
        reply_error(c, f, rid, CL_ENOMEM, NULL);
        cl_free(items);
        cl_free(ptrs);
        return;
    }
    size_t k = 0;
    for (coord_wf *w = c->wfs; w; w = w->hh.next) {
        const char *phase = coord__wf_phase(w);
        if (!phase_matches(phase, req))
            continue;
        if (req->prefix[0] &&
            strncmp(w->name, req->prefix, strlen(req->prefix)) != 0)
            continue;
        Couler__WorkflowSummary *s = &items[k];
        couler__workflow_summary__init(s);
        s->name = w->name;
        s->phase = (char *)phase;
        s->created = w->rec->created;
        s->started = w->run ? wf_run_started_at(w->run) : w->rec->started;
        s->finished =
            w->run ? wf_run_finished_at(w->run) : w->rec->finished_at;
        s->message =
            (char *)(w->run ? wf_run_message(w->run) : w->rec->message);
        s->progress = w->rec->progress;
        s->priority = w->rec->priority;
        ptrs[k++] = s;
    }
    Couler__ListReply rep = COULER__LIST_REPLY__INIT;
    rep.items = ptrs;
    rep.n_items = k;
    reply(c, f, rid, COULER__MSG_TYPE__MSG_LIST_REPLY, &rep.base);
    cl_free(items);
    cl_free(ptrs);
}

static void handle_get(coord *c, const cl_zframes *f, uint64_t rid,
                       Couler__GetRequest *req)
{
    coord_wf *w = coord__find_wf(c, req->name);
    if (w == NULL) {
        char msg[400];
        snprintf(msg, sizeof(msg), "workflow '%s' not found", req->name);
        reply_error(c, f, rid, CL_ENOENT, msg);
        return;
    }
    char *json = coord__status_json(c, w);
    if (json == NULL) {
        reply_error(c, f, rid, CL_ENOMEM, NULL);
        return;
    }
    Couler__GetReply rep = COULER__GET_REPLY__INIT;
    rep.status_json = json;
    reply(c, f, rid, COULER__MSG_TYPE__MSG_GET_REPLY, &rep.base);
    cl_free(json);
}

static void handle_logs(coord *c, const cl_zframes *f, uint64_t rid,
                        Couler__LogsRequest *req)
{
    Couler__LogsReply rep = COULER__LOGS_REPLY__INIT;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = coord__logs(c, req, &rep, &err);
    if (rv != 0)
        reply_error(c, f, rid, rv, err.msg);
    else
        reply(c, f, rid, COULER__MSG_TYPE__MSG_LOGS_REPLY, &rep.base);
    coord__logs_reply_free(&rep);
}

static void handle_control(coord *c, const cl_zframes *f, uint64_t rid,
                           Couler__ControlRequest *req)
{
    Couler__ControlReply rep = COULER__CONTROL_REPLY__INIT;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = coord__control(c, req, &rep, &err);
    if (rv != 0)
        reply_error(c, f, rid, rv, err.msg);
    else
        reply(c, f, rid, COULER__MSG_TYPE__MSG_CONTROL_REPLY, &rep.base);
    pb_str_free(rep.name);
    pb_str_free(rep.phase);
}

static const char *agent_state_name(enum coord_agent_state s)
{
    switch (s) {
    case COORD_AGENT_READY:
        return "Ready";
    case COORD_AGENT_NOT_READY:
        return "NotReady";
    case COORD_AGENT_LOST:
        return "Lost";
    }
    return "Unknown";
}

static void handle_nodes(coord *c, const cl_zframes *f, uint64_t rid,
                         Couler__NodesRequest *req)
{
    size_t n = HASH_COUNT(c->agents);
    cl_buf *texts = cl_calloc(n + 1, sizeof(*texts));
    Couler__NodeInfo *items = cl_calloc(n + 1, sizeof(*items));
    Couler__NodeInfo **ptrs = cl_calloc(n + 1, sizeof(*ptrs));
    char ***running = cl_calloc(n + 1, sizeof(char **));
    if (!items || !ptrs || !running || !texts) {
        reply_error(c, f, rid, CL_ENOMEM, NULL);
        goto out;
    }
    size_t k = 0;
    int64_t mono = cl_now_ms(), wall = cl_wall_ms();
    for (coord_agent *ag = c->agents; ag; ag = ag->hh.next, k++) {
        Couler__NodeInfo *ni = &items[k];
        couler__node_info__init(ni);
        ni->node_id = ag->id;
        ni->state = (char *)agent_state_name(ag->state);
        ni->summary = ag->reg ? ag->reg->summary : NULL;
        ni->last_seen = wall - (mono - ag->last_seen);
        ni->gossip_state = (char *)coord__gossip_state(c, ag->id);
        if (ag->reg) {
            ni->labels = ag->reg->labels;
            ni->n_labels = ag->reg->n_labels;
        }
        if (req->wide) {
            cl_buf_init(&texts[k]);
            coord__place_describe(c, ag->id, &texts[k]);
            ni->model_text = texts[k].data ? texts[k].data : "";
        }
        size_t cnt = 0;
        for (coord_attempt *a = c->attempts; a; a = a->hh.next)
            if (a->agent && strcmp(a->agent, ag->id) == 0 &&
                (a->state == COORD_ATT_ASSIGNED ||
                 a->state == COORD_ATT_STARTED))
                cnt++;
        running[k] = cl_calloc(cnt + 1, sizeof(char *));
        size_t j = 0;
        for (coord_attempt *a = c->attempts; a && running[k] && j < cnt;
             a = a->hh.next)
            if (a->agent && strcmp(a->agent, ag->id) == 0 &&
                (a->state == COORD_ATT_ASSIGNED ||
                 a->state == COORD_ATT_STARTED)) {
                size_t len = strlen(a->wf_name) + strlen(a->display) + 2;
                running[k][j] = cl_malloc(len);
                if (running[k][j])
                    snprintf(running[k][j++], len, "%s/%s", a->wf_name,
                             a->display);
            }
        ni->running = running[k];
        ni->n_running = j;
        ptrs[k] = ni;
    }
    Couler__NodesReply rep = COULER__NODES_REPLY__INIT;
    rep.nodes = ptrs;
    rep.n_nodes = k;
    reply(c, f, rid, COULER__MSG_TYPE__MSG_NODES_REPLY, &rep.base);
out:
    for (size_t i = 0; running && i < n; i++) {
        for (size_t j = 0; running[i] && running[i][j]; j++)
            cl_free(running[i][j]);
        cl_free(running[i]);
    }
    cl_free(running);
    for (size_t i = 0; texts && i < n; i++)
        cl_buf_free(&texts[i]);
    cl_free(texts);
    cl_free(items);
    cl_free(ptrs);
}

static void handle_stats(coord *c, const cl_zframes *f, uint64_t rid)
{
    struct {
        const char *name;
        uint64_t v;
    } cs[] = {{"bad_client_frames", c->bad_client_frames},
              {"bad_agent_frames", c->bad_agent_frames},
              {"steps_dispatched", c->steps_dispatched},
              {"steps_exited", c->steps_exited},
              {"steps_lost", c->steps_lost},
              {"store_errors", c->store_errors},
              {"steps_assigned", c->steps_assigned},
              {"cache_hits", c->cache_hits},
              {"workflows", HASH_COUNT(c->wfs)},
              {"agents", HASH_COUNT(c->agents)}};
    enum { N = sizeof(cs) / sizeof(cs[0]) };
    Couler__KV kv[N];
    Couler__KV *kvp[N];
    char vals[N][24];
    for (size_t i = 0; i < N; i++) {
        couler__kv__init(&kv[i]);
        kv[i].name = (char *)cs[i].name;
        snprintf(vals[i], sizeof(vals[i]), "%llu",
                 (unsigned long long)cs[i].v);
        kv[i].value = vals[i];
        kvp[i] = &kv[i];
    }
    Couler__StatsReply rep = COULER__STATS_REPLY__INIT;
    rep.counters = kvp;
    rep.n_counters = N;
    reply(c, f, rid, COULER__MSG_TYPE__MSG_STATS_REPLY, &rep.base);
}

static void on_client_message(cl_zsock *zs, const cl_zframes *f)
{
    coord *c = zs->data;
    if (f->nframes != 2 || f->len[0] == 0) {
        c->bad_client_frames++;
        return;
    }
    Couler__MsgType type;
    uint64_t rid = 0;
    ProtobufCMessage *m;
    cl_errmsg err;
    int rv = cl_env_unpack(f->data[1], f->len[1], &type, &rid, &m, &err);
    if (rv != 0) {
        c->bad_client_frames++;
        /* A client that speaks another version deserves to be told. */
        if (rv == CL_EVERSION)
            reply_error(c, f, 0, rv, err.msg);
        return;
    }
    switch (type) {
    case COULER__MSG_TYPE__MSG_SUBMIT:
        handle_submit(c, f, rid, (Couler__SubmitRequest *)m);
        break;
    case COULER__MSG_TYPE__MSG_RESUBMIT:
        handle_resubmit(c, f, rid, (Couler__ResubmitRequest *)m);
        break;
    case COULER__MSG_TYPE__MSG_LIST:
        handle_list(c, f, rid, (Couler__ListRequest *)m);
        break;
    case COULER__MSG_TYPE__MSG_GET:
        handle_get(c, f, rid, (Couler__GetRequest *)m);
        break;
    case COULER__MSG_TYPE__MSG_LOGS:
        handle_logs(c, f, rid, (Couler__LogsRequest *)m);
        break;
    case COULER__MSG_TYPE__MSG_CONTROL:
        handle_control(c, f, rid, (Couler__ControlRequest *)m);
        break;
    case COULER__MSG_TYPE__MSG_NODES:
        handle_nodes(c, f, rid, (Couler__NodesRequest *)m);
        break;
    case COULER__MSG_TYPE__MSG_STATS:
        handle_stats(c, f, rid);
        break;
    case COULER__MSG_TYPE__MSG_CACHE: {
        cl_errmsg aerr;
        cl_errmsg_clear(&aerr);
        int arv = coord__cache_admin(c, f->data[0], f->len[0], rid,
                                     (Couler__CacheRequest *)m, &aerr);
        if (arv != 0)
            reply_error(c, f, rid, arv, aerr.msg);
        break;
    }
    default:
        c->bad_client_frames++;
        reply_error(c, f, rid, CL_ENOTSUP, "not a client request");
        break;
    }
    cl_env_free(m);
}

/* ---- lifecycle ---------------------------------------------------------------*/

static void on_timer(uv_timer_t *t)
{
    coord__tick(t->data);
}

int coord_new(uv_loop_t *loop, const coord_config *cfg, coord **out,
              cl_errmsg *err)
{
    coord *c = cl_calloc(1, sizeof(*c));
    if (c == NULL)
        return CL_ENOMEM;
    c->loop = loop;
    c->cfg = *cfg;
    c->data_dir = cl_strdup(cfg->data_dir ? cfg->data_dir : "./.couler");
    c->listen = cl_strdup(cfg->listen ? cfg->listen : "tcp://127.0.0.1:7700");
    c->agent_listen =
        cl_strdup(cfg->agent_listen ? cfg->agent_listen : "");
    if (!c->data_dir || !c->listen || !c->agent_listen) {
        cl_free(c->data_dir);
        cl_free(c->listen);
        cl_free(c->agent_listen);
        cl_free(c);
        cl_errmsg_set(err, "out of memory");
        return CL_ENOMEM;
    }
    c->cfg.data_dir = c->data_dir;
    c->cfg.listen = c->listen;
    c->cfg.agent_listen = c->agent_listen;
    c->zctx = zmq_ctx_new();
    *out = c;
    return 0;
}

static void *router(coord *c, const char *what, cl_errmsg *err)
{
    void *s = zmq_socket(c->zctx, ZMQ_ROUTER);
    if (s == NULL) {
        cl_errmsg_set(err, "%s socket: %s", what, zmq_strerror(zmq_errno()));
        return NULL;
    }
    int one = 1, zero = 0, hwm = 100000;
    zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
    zmq_setsockopt(s, ZMQ_ROUTER_HANDOVER, &one, sizeof(one));
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    int64_t maxmsg = CL_MAX_FRAME + 4096;
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
    return s;
}

static int bind_to(void *s, const char *ep, const char *what, cl_errmsg *err)
{
    if (zmq_bind(s, ep) != 0) {
        cl_errmsg_set(err, "cannot listen for %s on '%s': %s", what, ep,
                      zmq_strerror(zmq_errno()));
        return zmq_errno() == EADDRINUSE ? CL_EBUSY : CL_EINVAL;
    }
    return 0;
}

int coord_start(coord *c, cl_errmsg *err)
{
    char path[4096];
    int rv = cl_mkdir_p(c->data_dir);
    if (rv != 0) {
        cl_errmsg_set(err, "data dir '%s': %s", c->data_dir, cl_strerror(rv));
        return rv;
    }
    snprintf(path, sizeof(path), "%s/state", c->data_dir);
    rv = coord_store_open(path, &c->store, err);
    if (rv != 0)
        return rv;
    c->client_sock = router(c, "client", err);
    c->agent_sock = router(c, "agent", err);
    if (!c->client_sock || !c->agent_sock)
        return CL_EZMQ;
    if ((rv = bind_to(c->client_sock, c->listen, "clients", err)) != 0)
        return rv;
    if (c->agent_listen[0] &&
        (rv = bind_to(c->agent_sock, c->agent_listen, "agents", err)) != 0)
        return rv;
    if ((rv = bind_to(c->agent_sock, COORD_INPROC_AGENTS, "agents", err)) !=
        0)
        return rv;
    c->client_zs.data = c;
    c->agent_zs.data = c;
    if ((rv = cl_zsock_init(c->loop, &c->client_zs, c->client_sock,
                            on_client_message)) != 0 ||
        (rv = cl_zsock_init(c->loop, &c->agent_zs, c->agent_sock,
                            on_agent_message)) != 0) {
        cl_errmsg_set(err, "event loop: %s", cl_strerror(rv));
        return rv;
    }
    c->open_handles += 2;
    c->started_mono = cl_now_ms();
    if ((rv = coord__place_init(c)) != 0 || (rv = coord__cache_init(c)) != 0) {
        cl_errmsg_set(err, "out of memory");
        return rv;
    }
    rv = coord__load(c, err);
    if (rv != 0) {
        cl_errmsg_wrap(err, "loading the state store");
        return rv;
    }
    cl_zsock_start(&c->client_zs);
    cl_zsock_start(&c->agent_zs);
    if ((rv = coord__gossip_start(c, err)) != 0)
        return rv;
    uv_timer_init(c->loop, &c->timer);
    c->timer.data = c;
    c->open_handles++;
    uv_timer_start(&c->timer, on_timer, COORD_TICK_MS, COORD_TICK_MS);
    CL_INFO("coordinator up: clients on %s, agents on %s%s, data in %s",
            c->listen, c->agent_listen[0] ? c->agent_listen : "",
            c->agent_listen[0] ? " and " COORD_INPROC_AGENTS
                               : COORD_INPROC_AGENTS,
            c->data_dir);
    if (c->cfg.embedded_agent) {
        char adir[4096];
        snprintf(adir, sizeof(adir), "%s/agent", c->data_dir);
        agent_config ac;
        memset(&ac, 0, sizeof(ac));
        ac.data_dir = adir;
        ac.coord = COORD_INPROC_AGENTS;
        ac.topology = c->cfg.agent_topology;
        ac.max_steps = c->cfg.agent_max_steps;
        ac.binds = c->cfg.agent_binds;
        ac.nbinds = c->cfg.agent_nbinds;
        ac.heartbeat_ms = c->cfg.heartbeat_ms;
        ac.isolation = -1;
        rv = agent_new(c->loop, c->zctx, &ac, &c->emb, err);
        if (rv == 0)
            rv = agent_start(c->emb, err);
        if (rv != 0) {
            cl_errmsg_wrap(err, "embedded agent");
            return rv;
        }
    }
    return coord__http_start(c, err);
}

static void finish_close(coord *c)
{
    coord__cache_free(c);
    coord__free_all(c);
    coord__place_free(c);
    coord_store_close(c->store);
    if (c->client_sock)
        zmq_close(c->client_sock);
    if (c->agent_sock)
        zmq_close(c->agent_sock);
    zmq_ctx_term(c->zctx);
    void (*cb)(void *) = c->close_cb;
    void *data = c->close_data;
    cl_free(c->data_dir);
    cl_free(c->listen);
    cl_free(c->agent_listen);
    cl_free(c);
    if (cb)
        cb(data);
}

static void on_closed_handle(uv_handle_t *h)
{
    coord *c = h->data;
    if (--c->open_handles == 0)
        finish_close(c);
}

static void on_zs_closed(cl_zsock *zs)
{
    coord *c = zs->data;
    if (--c->open_handles == 0)
        finish_close(c);
}

static void close_sockets(coord *c)
{
    if (c->open_handles == 0) {
        finish_close(c);
        return;
    }
    if (uv_is_active((uv_handle_t *)&c->timer) ||
        c->timer.data == c) {
        uv_close((uv_handle_t *)&c->timer, on_closed_handle);
    }
    cl_zsock_close(&c->client_zs, on_zs_closed);
    cl_zsock_close(&c->agent_zs, on_zs_closed);
}

static void on_gossip_gone(coord *c)
{
    close_sockets(c);
}

static void on_emb_closed(agent *a, void *data)
{
    (void)a;
    coord *c = data;
    c->emb = NULL;
    coord__gossip_close(c, on_gossip_gone);
}

/* Closing order: HTTP, the embedded agent, gossip, then the sockets. */
static void on_http_gone(coord *c)
{
    if (c->emb)
        agent_close(c->emb, on_emb_closed, c);
    else
        coord__gossip_close(c, on_gossip_gone);
}

void coord_close(coord *c, void (*cb)(void *data), void *data)
{
    if (c->closing)
        return;
    c->closing = true;
    c->close_cb = cb;
    c->close_data = data;
    coord__http_close(c, on_http_gone);
}

int coord_reload_keys(coord *c, cl_errmsg *err)
{
    return coord__gossip_reload_keys(c, err);
}
