/* agent.c - the agent's connection to the coordinator: registration,
 * heartbeats and the dispatch of control messages to the executor. */
#include "agent/agent_int.h"

#include "common/cl_hash.h"
#include "common/cl_fs.h"
#include "common/cl_heap.h"
#include "placement/place.h"
#include "common/cl_log.h"
#include "common/cl_time.h"

#include <ctype.h>
#include <sched.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <zmq.h>

int agent__send(agent *a, Couler__MsgType type, const ProtobufCMessage *m)
{
    return agent__send_reply(a, type, ++a->next_req, m);
}

/* agent__send_reply - send with the request id of the message answered. */
int agent__send_reply(agent *a, Couler__MsgType type, uint64_t rid,
                      const ProtobufCMessage *m)
{
    uint8_t *buf;
    size_t len;
    int rv = cl_env_pack(type, rid, m, &buf, &len);
    if (rv != 0)
        return rv;
    const void *parts[1] = {buf};
    size_t lens[1] = {len};
    rv = cl_zsock_send(&a->zs, 1, parts, lens);
    cl_free(buf);
    return rv;
}

/* The node's resource model: the live machine from hwloc, or the machine
 * an hwloc XML export describes (--topology). It goes to the coordinator
 * packed, with a summary for listings. */
static int load_model(agent *a, cl_errmsg *err)
{
    place_model *m = NULL;
    int rv = a->topology ? place_model_load_xml(a->topology, &m, err)
                         : place_model_load_live(&m, err);
    if (rv != 0) {
        cl_errmsg_wrap(err, "resource model");
        return rv;
    }
    Couler__NodeSummary *s = &a->summary;
    couler__node_summary__init(s);
    if (gethostname(a->summary_host, sizeof(a->summary_host) - 1) != 0)
        snprintf(a->summary_host, sizeof(a->summary_host), "unknown");
    if (a->topology && m->hostname && m->hostname[0])
        snprintf(a->summary_host, sizeof(a->summary_host), "%s",
                 m->hostname);
    s->hostname = a->summary_host;
    s->packages = m->npackages;
    s->numa_nodes = m->nnuma;
    s->cores = m->ncores;
    s->pus = m->npus;
    s->memory_bytes = m->memory;
    s->gpus = m->ngpus;
    s->pretended = a->topology != NULL;
    s->n_gpu_models = m->ngpus;
    s->gpu_models = cl_calloc(m->ngpus + 1, sizeof(char *));
    for (uint32_t i = 0; s->gpu_models && i < m->ngpus; i++)
        s->gpu_models[i] = cl_strdup(m->gpus[i].model);
    rv = place_model_pack(m, &a->model, &a->model_len);
    if (rv != 0) {
        place_model_free(m);
        cl_errmsg_set(err, "cannot encode the resource model: %s",
                      cl_strerror(rv));
        return rv;
    }
    if (a->topology) {
        /* Bindings are computed for the machine we pretend to be; this
         * one honours only the CPUs and NUMA nodes it really has. */
        CL_INFO("pretending to be %s (%u packages, %u NUMA nodes, %u cores, "
                "%u PUs, %u GPUs) from %s; step bindings are applied only "
                "where this machine can honour them",
                a->summary_host, m->npackages, m->nnuma, m->ncores, m->npus,
                m->ngpus, a->topology);
    }
    place_model_free(m);
    return 0;
}

/* The well-known node labels Kubernetes sets, so that workflows written
 * for it (nodeSelector: kubernetes.io/arch: amd64) place here too. A
 * --label of the same key wins. */
static int add_default_labels(agent *a)
{
    struct utsname u;
    const char *arch = "unknown";
    if (uname(&u) == 0) {
        arch = u.machine;
        if (strcmp(arch, "x86_64") == 0)
            arch = "amd64";
        else if (strcmp(arch, "aarch64") == 0)
            arch = "arm64";
    }
    const char *defs[][2] = {{"kubernetes.io/arch", arch},
                             {"beta.kubernetes.io/arch", arch},
                             {"kubernetes.io/os", "linux"},
                             {"beta.kubernetes.io/os", "linux"},
                             {"kubernetes.io/hostname", a->node_id}};
    for (size_t d = 0; d < sizeof(defs) / sizeof(defs[0]); d++) {
        size_t klen = strlen(defs[d][0]);
        bool given = false;
        for (size_t i = 0; i < a->nlabels_all && !given; i++)
            given = strncmp(a->labels[i], defs[d][0], klen) == 0 &&
                    a->labels[i][klen] == '=';
        if (given)
            continue;
        size_t n = klen + strlen(defs[d][1]) + 2;
        char *kv = cl_malloc(n);
        if (kv == NULL)
            return CL_ENOMEM;
        snprintf(kv, n, "%s=%s", defs[d][0], defs[d][1]);
        a->labels[a->nlabels_all++] = kv;
    }
    return 0;
}

/* couler-exec next to our own binary, unless configured. */
static char *find_launcher(const agent *a)
{
    if (a->cfg.exec_path)
        return access(a->cfg.exec_path, X_OK) == 0
                   ? cl_strdup(a->cfg.exec_path)
                   : NULL;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return NULL;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return NULL;
    snprintf(slash + 1, sizeof(self) - (size_t)(slash + 1 - self),
             "couler-exec");
    return access(self, X_OK) == 0 ? cl_strdup(self) : NULL;
}

/* Decide how steps are isolated: the couler-exec view and a cgroup per
 * step when we are root and the launcher is there; otherwise steps run
 * directly on the host, which we say once. */
static int setup_sandbox(agent *a, cl_errmsg *err)
{
    int want = a->cfg.isolation;
    if (want != 0) {
        char *launcher = find_launcher(a);
        bool root = geteuid() == 0;
        if (launcher != NULL && root) {
            a->exec_path = launcher;
        } else {
            cl_free(launcher);
            if (want == 1) {
                cl_errmsg_set(err, "step isolation is required but %s",
                              root ? "couler-exec was not found"
                                   : "the agent is not root");
                return CL_ENOTSUP;
            }
            CL_WARN("steps run without a private filesystem view (%s)",
                    root ? "couler-exec was not found next to the agent"
                         : "the agent is not root");
        }
    }
    if (a->exec_path == NULL)
        return 0;
    /* What bindings can use here: the CPUs we may run on, the NUMA nodes
     * the kernel has online. */
    cpu_set_t set;
    agent_sb_cpus_zero(&a->real_cpus);
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        for (unsigned i = 0; i < CPU_SETSIZE && i < AGENT_SB_MAX_CPUS; i++)
            if (CPU_ISSET(i, &set))
                agent_sb_cpus_set(&a->real_cpus, i);
    agent_sb_cpus_zero(&a->real_mems);
    char *online = NULL;
    FILE *f = fopen("/sys/devices/system/node/online", "r");
    char line[256];
    if (f && fgets(line, sizeof(line), f))
        online = line;
    if (f)
        fclose(f);
    if (online == NULL ||
        agent_sb_cpus_parse(online, &a->real_mems) != 0)
        agent_sb_cpus_set(&a->real_mems, 0);
    /* One cgroup parent per agent, so agents sharing a machine (tests, or
     * several pretend nodes) never sweep each other's steps. */
    /* Keyed by the node id and the data directory: two agents of one name
     * on one machine (two test clusters) must not sweep each other. */
    char parent[300];
    snprintf(parent, sizeof(parent), "couler/");
    size_t off = strlen(parent);
    for (const char *p = a->node_id; *p && off + 1 < 200; p++)
        parent[off++] = (isalnum((unsigned char)*p) || *p == '-' ||
                         *p == '_' || *p == '.')
                            ? *p
                            : '_';
    snprintf(parent + off, sizeof(parent) - off, "-%08llx",
             (unsigned long long)(cl_hash64_str(a->data_dir) & 0xffffffffu));
    struct agent_sb_cgconf conf = {parent, false, NULL, NULL};
    cl_errmsg cgerr;
    cl_errmsg_clear(&cgerr);
    int rv = agent_sb_cg_open(&conf, &a->cg, &cgerr);
    if (rv != 0) {
        CL_WARN("steps run without cgroups: %s", cgerr.msg);
        a->cg = NULL;
        return 0;
    }
    unsigned removed = 0;
    if (agent_sb_sweep(a->cg, &removed, &cgerr) != 0)
        CL_WARN("cleaning stale step cgroups: %s", cgerr.msg);
    if (removed > 0)
        CL_INFO("removed %u stale step cgroup(s)", removed);
    return 0;
}

static void send_register(agent *a)
{
    if (a->coord == NULL)
        return; /* not found yet */
    Couler__AgentRegister reg = COULER__AGENT_REGISTER__INIT;
    reg.node_id = a->node_id;
    reg.boot_id = a->boot_id;
    reg.summary = &a->summary;
    reg.model.data = a->model;
    reg.model.len = a->model_len;
    reg.max_steps = a->cfg.max_steps;
    reg.version = "0.1.0";

    size_t nl = a->nlabels_all;
    Couler__KV *kvs = cl_calloc(nl ? nl : 1, sizeof(*kvs));
    Couler__KV **kvp = cl_calloc(nl ? nl : 1, sizeof(*kvp));
    char **names = cl_calloc(nl ? nl : 1, sizeof(char *));
    size_t nrun = HASH_COUNT(a->steps);
    Couler__RunningStep *rs = cl_calloc(nrun ? nrun : 1, sizeof(*rs));
    Couler__RunningStep **rsp = cl_calloc(nrun ? nrun : 1, sizeof(*rsp));
    if (!kvs || !kvp || !names || !rs || !rsp)
        goto out;
    for (size_t i = 0; i < nl; i++) {
        couler__kv__init(&kvs[i]);
        const char *eq = strchr(a->labels[i], '=');
        names[i] = cl_strndup(a->labels[i],
                              eq ? (size_t)(eq - a->labels[i])
                                 : strlen(a->labels[i]));
        kvs[i].name = names[i] ? names[i] : "";
        kvs[i].value = eq ? (char *)eq + 1 : "";
        kvp[i] = &kvs[i];
    }
    reg.labels = kvp;
    reg.n_labels = nl;
    size_t i = 0;
    for (agent_step *s = a->steps; s != NULL; s = s->hh.next, i++) {
        couler__running_step__init(&rs[i]);
        rs[i].attempt_id = s->attempt_id;
        rs[i].log_offset = s->log_size;
        rs[i].finished = s->state == AGENT_STEP_EXITED;
        rsp[i] = &rs[i];
    }
    reg.running = rsp;
    reg.n_running = nrun;
    Couler__KV ep = COULER__KV__INIT;
    Couler__KV *epp[1] = {&ep};
    ep.name = "artifacts";
    ep.value = (char *)agent__art_endpoint(a);
    if (ep.value[0]) {
        reg.endpoints = epp;
        reg.n_endpoints = 1;
    }
    int rv = agent__send(a, COULER__MSG_TYPE__MSG_AGENT_REGISTER, &reg.base);
    if (rv != 0 && rv != CL_EAGAIN)
        CL_WARN("register: %s", cl_strerror(rv));
out:
    for (size_t j = 0; names && j < nl; j++)
        cl_free(names[j]);
    cl_free(names);
    cl_free(kvs);
    cl_free(kvp);
    cl_free(rs);
    cl_free(rsp);
}

static void send_heartbeat(agent *a)
{
    if (a->coord == NULL)
        return;
    Couler__Heartbeat hb = COULER__HEARTBEAT__INIT;
    hb.node_id = a->node_id;
    size_t n = HASH_COUNT(a->steps);
    char **ids = cl_calloc(n ? n : 1, sizeof(char *));
    if (ids == NULL)
        return;
    size_t i = 0;
    for (agent_step *s = a->steps; s != NULL; s = s->hh.next)
        if (s->state == AGENT_STEP_RUNNING)
            ids[i++] = s->attempt_id;
    hb.running = ids;
    hb.n_running = i;
    agent__send(a, COULER__MSG_TYPE__MSG_HEARTBEAT, &hb.base);
    cl_free(ids);
}

static void on_register_ack(agent *a, Couler__RegisterAck *ack)
{
    if (!ack->accepted) {
        /* The coordinator does not know us (it restarted, or we were
         * declared lost): register again at once. */
        if (a->registered)
            CL_INFO("coordinator asks to register again: %s", ack->reason);
        a->registered = false;
        send_register(a);
        return;
    }
    if (!a->registered)
        CL_INFO("registered with the coordinator as '%s'", a->node_id);
    a->registered = true;
    /* Reconcile: what the coordinator knows it has of each step's log, and
     * which steps it no longer wants. */
    agent_step *s, *tmp;
    HASH_ITER(hh, a->steps, s, tmp)
    {
        Couler__RunningStep *known = NULL;
        for (size_t i = 0; i < ack->n_known; i++)
            if (strcmp(ack->known[i]->attempt_id, s->attempt_id) == 0)
                known = ack->known[i];
        if (known == NULL) {
            if (s->state != AGENT_STEP_EXITED)
                agent__step_cancel(a, s, "unknown to the coordinator");
            else
                agent__step_ack(a, s); /* already recorded there */
            continue;
        }
        if (known->log_offset <= s->log_size)
            s->log_sent = known->log_offset;
    }
    agent__flush_logs(a);
    agent__resend_reports(a);
}

static void on_message(cl_zsock *zs, const cl_zframes *f)
{
    agent *a = zs->data;
    if (f->nframes != 1) {
        a->bad_frames++;
        return;
    }
    Couler__MsgType type;
    uint64_t rid;
    ProtobufCMessage *m;
    cl_errmsg err;
    int rv = cl_env_unpack(f->data[0], f->len[0], &type, &rid, &m, &err);
    if (rv != 0) {
        a->bad_frames++;
        CL_WARN("dropped a message from the coordinator: %s", err.msg);
        return;
    }
    a->last_heard = cl_now_ms();
    switch (type) {
    case COULER__MSG_TYPE__MSG_REGISTER_ACK:
        on_register_ack(a, (Couler__RegisterAck *)m);
        break;
    case COULER__MSG_TYPE__MSG_HEARTBEAT:
        break;
    case COULER__MSG_TYPE__MSG_STEP_ASSIGN: {
        Couler__StepAssign *as = (Couler__StepAssign *)m;
        agent_step *s;
        HASH_FIND_STR(a->steps, as->attempt_id, s);
        if (s != NULL)
            break; /* a duplicate: we already run or ran it */
        rv = agent__step_start(a, as);
        if (rv == 0)
            m = NULL; /* the step owns the message now */
        break;
    }
    case COULER__MSG_TYPE__MSG_STEP_ACK: {
        Couler__StepAck *ack = (Couler__StepAck *)m;
        agent_step *s;
        HASH_FIND_STR(a->steps, ack->attempt_id, s);
        if (s != NULL && s->state == AGENT_STEP_EXITED)
            agent__step_ack(a, s);
        break;
    }
    case COULER__MSG_TYPE__MSG_STEP_CANCEL: {
        Couler__StepCancel *c = (Couler__StepCancel *)m;
        agent_step *s;
        HASH_FIND_STR(a->steps, c->attempt_id, s);
        if (s != NULL)
            agent__step_cancel(a, s, c->reason);
        break;
    }
    default:
        if (agent__cache_message(a, type, rid, m))
            break;
        a->bad_frames++;
        CL_WARN("unexpected %s from the coordinator",
                cl_env_descriptor(type)->short_name);
        break;
    }
    cl_env_free(m);
}

void agent__register_now(agent *a)
{
    send_register(a);
}

static void on_heartbeat(uv_timer_t *t)
{
    agent *a = t->data;
    if (a->gossip != NULL && a->running != a->published_running) {
        a->published_running = a->running;
        agent__gossip_publish(a);
    }
    int64_t now = cl_now_ms();
    unsigned hb = a->cfg.heartbeat_ms;
    if (a->registered && now - a->last_heard > 3 * (int64_t)hb) {
        CL_WARN("no word from the coordinator for %lld ms; registering "
                "again",
                (long long)(now - a->last_heard));
        a->registered = false;
    }
    if (!a->registered)
        send_register(a);
    else
        send_heartbeat(a);
}

static void on_flush(uv_timer_t *t)
{
    agent__flush_logs(t->data);
}

int agent_new(uv_loop_t *loop, void *zctx, const agent_config *cfg,
              agent **out, cl_errmsg *err)
{
    agent *a = cl_calloc(1, sizeof(*a));
    if (a == NULL)
        return CL_ENOMEM;
    a->loop = loop;
    a->cfg = *cfg;
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    a->node_id = cl_strdup(cfg->node_id ? cfg->node_id : host);
    a->data_dir = cl_strdup(cfg->data_dir ? cfg->data_dir : "/var/lib/couler");
    if (cfg->coord == NULL && cfg->gossip_join != NULL)
        a->coord_from_gossip = true; /* found later, through gossip */
    else
        a->coord = cl_strdup(cfg->coord ? cfg->coord : "tcp://127.0.0.1:7701");
    a->topology = cl_strdup(cfg->topology);
    a->labels = cl_calloc(cfg->nlabels + 8, sizeof(char *));
    a->binds = cl_calloc(cfg->nbinds + 1, sizeof(char *));
    if (!a->node_id || !a->data_dir || (!a->coord && !a->coord_from_gossip) ||
        !a->labels || !a->binds)
        goto oom;
    for (size_t i = 0; i < cfg->nbinds; i++)
        if ((a->binds[i] = cl_strdup(cfg->binds[i])) == NULL)
            goto oom;
    for (size_t i = 0; i < cfg->nlabels; i++) {
        if (strchr(cfg->labels[i], '=') == NULL) {
            cl_errmsg_set(err, "label '%s' is not key=value", cfg->labels[i]);
            agent_close(a, NULL, NULL);
            return CL_EINVAL;
        }
        if ((a->labels[i] = cl_strdup(cfg->labels[i])) == NULL)
            goto oom;
        a->nlabels_all = i + 1;
    }
    if (add_default_labels(a) != 0)
        goto oom;
    if (a->cfg.heartbeat_ms == 0)
        a->cfg.heartbeat_ms = 1000;
    int mrv = load_model(a, err);
    if (mrv != 0) {
        agent_close(a, NULL, NULL);
        return mrv;
    }
    if (a->cfg.max_steps == 0) {
        /* One step per PU of the real machine, at least. */
        long real = sysconf(_SC_NPROCESSORS_ONLN);
        a->cfg.max_steps = a->summary.pus > (uint32_t)(real > 0 ? real : 1)
                               ? a->summary.pus
                               : (unsigned)(real > 0 ? real : 1);
    }
    uint8_t rnd[16];
    randombytes_buf(rnd, sizeof(rnd));
    for (int i = 0; i < 16; i++)
        snprintf(a->boot_id + 2 * i, 3, "%02x", rnd[i]);
    if (zctx == NULL) {
        a->zctx = zmq_ctx_new();
        a->own_zctx = true;
    } else {
        a->zctx = zctx;
    }
    *out = a;
    return 0;
oom:
    cl_errmsg_set(err, "out of memory");
    agent_close(a, NULL, NULL);
    return CL_ENOMEM;
}

int agent_start(agent *a, cl_errmsg *err)
{
    char path[PATH_MAX];
    int rv = cl_mkdir_p(a->data_dir);
    if (rv == 0) {
        snprintf(path, sizeof(path), "%s/steps", a->data_dir);
        rv = cl_mkdir_p(path);
    }
    if (rv != 0) {
        cl_errmsg_set(err, "data dir '%s': %s", a->data_dir,
                      cl_strerror(rv));
        return rv;
    }
    char abs[PATH_MAX];
    if (realpath(a->data_dir, abs) != NULL) {
        char *copy = cl_strdup(abs);
        if (copy) {
            cl_free(a->data_dir);
            a->data_dir = copy;
        }
    }
    rv = setup_sandbox(a, err);
    if (rv != 0)
        return rv;
    rv = agent__load_reports(a);
    if (rv != 0) {
        cl_errmsg_set(err, "reading unacknowledged reports in '%s': %s",
                      a->data_dir, cl_strerror(rv));
        return rv;
    }
    rv = agent__art_open(a, err);
    if (rv != 0)
        return rv;
    a->dealer = zmq_socket(a->zctx, ZMQ_DEALER);
    if (a->dealer == NULL) {
        cl_errmsg_set(err, "zmq socket: %s", zmq_strerror(zmq_errno()));
        return CL_EZMQ;
    }
    zmq_setsockopt(a->dealer, ZMQ_ROUTING_ID, a->node_id,
                   strlen(a->node_id));
    int linger = 1000, ivl = 200, hwm = 100000;
    zmq_setsockopt(a->dealer, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(a->dealer, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
    zmq_setsockopt(a->dealer, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    if (a->coord != NULL && zmq_connect(a->dealer, a->coord) != 0) {
        cl_errmsg_set(err, "cannot connect to '%s': %s", a->coord,
                      zmq_strerror(zmq_errno()));
        return CL_EINVAL;
    }
    a->zs.data = a;
    rv = cl_zsock_init(a->loop, &a->zs, a->dealer, on_message);
    if (rv == 0)
        rv = cl_zsock_start(&a->zs);
    if (rv != 0) {
        cl_errmsg_set(err, "event loop: %s", cl_strerror(rv));
        return rv;
    }
    uv_timer_init(a->loop, &a->hb_timer);
    a->hb_timer.data = a;
    uv_timer_init(a->loop, &a->flush_timer);
    a->flush_timer.data = a;
    a->open_handles += 2;
    if ((rv = agent__gossip_start(a, err)) != 0)
        return rv;
    send_register(a);
    uv_timer_start(&a->hb_timer, on_heartbeat, a->cfg.heartbeat_ms,
                   a->cfg.heartbeat_ms);
    uv_timer_start(&a->flush_timer, on_flush, AGENT_LOG_FLUSH_MS,
                   AGENT_LOG_FLUSH_MS);
    CL_INFO("agent '%s' up: data %s, coordinator %s, %u PUs, max %u steps",
            a->node_id, a->data_dir,
            a->coord ? a->coord : "(found through gossip)", a->summary.pus,
            a->cfg.max_steps);
    return 0;
}

const char *agent_node_id(const agent *a)
{
    return a->node_id;
}

int agent_reload_keys(agent *a, cl_errmsg *err)
{
    return agent__gossip_reload_keys(a, err);
}

static void agent_free(agent *a)
{
    if (a->dealer)
        zmq_close(a->dealer);
    if (a->own_zctx && a->zctx)
        zmq_ctx_term(a->zctx);
    cl_free(a->node_id);
    cl_free(a->data_dir);
    cl_free(a->coord);
    cl_free(a->topology);
    cl_free(a->exec_path);
    if (a->labels)
        for (size_t i = 0; i < a->nlabels_all; i++)
            cl_free(a->labels[i]);
    cl_free(a->labels);
    if (a->binds)
        for (size_t i = 0; i < a->cfg.nbinds; i++)
            cl_free(a->binds[i]);
    cl_free(a->binds);
    agent_sb_cg_close(a->cg);
    cl_free(a->model);
    for (size_t i = 0; a->summary.gpu_models && i < a->summary.n_gpu_models;
         i++)
        cl_free(a->summary.gpu_models[i]);
    cl_free(a->summary.gpu_models);
    void (*cb)(agent *, void *) = a->close_cb;
    void *data = a->close_data;
    cl_free(a);
    if (cb)
        cb(NULL, data);
}

static void maybe_finish_close(agent *a)
{
    if (a->open_handles == 0 && a->steps == NULL && a->art == NULL &&
        a->jobs == 0 && a->gossip == NULL)
        agent_free(a);
}

static void on_handle_closed(uv_handle_t *h)
{
    agent *a = h->data;
    a->open_handles--;
    maybe_finish_close(a);
}

static void on_zs_closed(cl_zsock *zs)
{
    agent *a = zs->data;
    a->open_handles--;
    maybe_finish_close(a);
}

void agent__steps_closed(agent *a)
{
    if (a->closing) {
        agent__art_maybe_free(a);
        maybe_finish_close(a);
    }
}

void agent_close(agent *a, void (*cb)(agent *a, void *data), void *data)
{
    if (a->closing)
        return;
    a->closing = true;
    a->close_cb = cb;
    a->close_data = data;
    if (a->dealer == NULL) { /* never started */
        agent_free(a);
        return;
    }
    agent__flush_logs(a);
    agent__steps_close(a);
    agent__art_close(a);
    agent__gossip_close(a);
    a->open_handles++; /* the zsock */
    cl_zsock_close(&a->zs, on_zs_closed);
    uv_close((uv_handle_t *)&a->hb_timer, on_handle_closed);
    uv_close((uv_handle_t *)&a->flush_timer, on_handle_closed);
}
