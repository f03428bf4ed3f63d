/* coord_gang.c - gang steps: `couler.io/nodes: "N"` runs N ranks of one
 * step on N distinct nodes, all started together or not at all
 * (place_gang_place), with the environment torch.distributed expects:
 * WORLD_SIZE, RANK, NODE_RANK, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR
 * (rank 0's node) and MASTER_PORT.
 *
 * To the engine a gang is one step: it starts when its first rank starts
 * and ends when the last rank has ended, Succeeded with rank 0's outputs
 * only if every rank succeeded. When one rank fails, the others are
 * stopped and the step fails with that rank's reason, so a retryStrategy
 * retries the whole gang. A rank whose node is lost fails the gang the same
 * way, counted as a node loss (the engine reschedules it).
 *
 * On the wire each rank is an attempt of its own, named "<attempt>/r<k>".
 * A coordinator restart does not keep gangs in flight: their ranks are
 * stopped and the step runs again.
 */
#include "coordinator/coord_int.h"

#include "common/cl_hash.h"
#include "common/cl_heap.h"
#include "common/cl_log.h"
#include "common/cl_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct coord_rank {
    char id[600];
    char *agent;
    bool started;
    bool exited;
    uint64_t log_off;
    place_binding binding;
    bool bound;
} coord_rank;

struct coord_gang {
    uint32_t n;
    coord_rank *ranks;
    uint32_t exited;
    bool started_reported;
    bool failed;
    bool lost;
    char fail_msg[600];
    Couler__StepExited *rank0; /* rank 0's report (owned copy) */
};

void coord__gang_free(coord *c, coord_gang *g)
{
    if (g == NULL)
        return;
    for (uint32_t i = 0; i < g->n; i++) {
        if (g->ranks[i].bound)
            place_cluster_release(c->pc, g->ranks[i].binding.id);
        place_binding_free(&g->ranks[i].binding);
        cl_free(g->ranks[i].agent);
    }
    cl_free(g->ranks);
    if (g->rank0)
        couler__step_exited__free_unpacked(g->rank0, &cl_pb_allocator);
    cl_free(g);
}

static const char *agent_host(coord *c, const char *agent_id)
{
    /* The host part of its artifact endpoint: an address peers reach. */
    static char host[256];
    coord_agent *ag;
    HASH_FIND_STR(c->agents, agent_id, ag);
    for (size_t k = 0; ag && ag->reg && k < ag->reg->n_endpoints; k++) {
        const char *ep = ag->reg->endpoints[k]->value;
        const char *h = strstr(ep, "://");
        if (strcmp(ag->reg->endpoints[k]->name, "artifacts") || h == NULL)
            continue;
        h += 3;
        const char *colon = strrchr(h, ':');
        snprintf(host, sizeof(host), "%.*s",
                 (int)(colon ? colon - h : (long)strlen(h)), h);
        return host;
    }
    return agent_id;
}

static void cancel_ranks(coord *c, coord_gang *g, const char *reason)
{
    for (uint32_t i = 0; i < g->n; i++) {
        coord_rank *r = &g->ranks[i];
        if (r->exited || r->agent == NULL)
            continue;
        Couler__StepCancel m = COULER__STEP_CANCEL__INIT;
        m.attempt_id = r->id;
        m.reason = (char *)reason;
        coord__send_agent(c, r->agent, COULER__MSG_TYPE__MSG_STEP_CANCEL,
                          &m.base);
    }
}

int coord__gang_try(coord *c, coord_attempt *a, cl_errmsg *err)
{
    uint32_t n = coord__req_gang(a->req);
    place_gang pg;
    memset(&pg, 0, sizeof(pg));
    int rv = place_gang_place(c->pc, coord__req_place(a->req), n, &c->rng,
                              &pg, err);
    if (rv != 0)
        return rv;
    coord_gang *g = cl_calloc(1, sizeof(*g));
    coord_rank *ranks = cl_calloc(n, sizeof(*ranks));
    if (g == NULL || ranks == NULL) {
        cl_free(g);
        cl_free(ranks);
        place_gang_release(c->pc, &pg);
        place_gang_free(&pg);
        return CL_ENOMEM;
    }
    g->n = n;
    g->ranks = ranks;
    char master[256], port[16], world[16];
    snprintf(master, sizeof(master), "%s",
             agent_host(c, pg.bindings[0].node_id));
    snprintf(port, sizeof(port), "%u",
             29500u + (unsigned)(cl_hash64_str(a->id) % 500u));
    snprintf(world, sizeof(world), "%u", n);
    uint32_t sent = 0;
    for (uint32_t k = 0; k < n; k++) {
        coord_rank *r = &ranks[k];
        place_binding_init(&r->binding);
        r->binding = pg.bindings[k]; /* moved */
        place_binding_init(&pg.bindings[k]);
        r->bound = true;
        r->agent = cl_strdup(r->binding.node_id);
        snprintf(r->id, sizeof(r->id), "%s/r%u", a->id, k);
    }
    place_gang_free(&pg);
    for (uint32_t k = 0; k < n; k++) {
        coord_rank *r = &ranks[k];
        char rank[16];
        snprintf(rank, sizeof(rank), "%u", k);
        wf_kv env[] = {{"WORLD_SIZE", world},     {"RANK", rank},
                       {"NODE_RANK", rank},       {"LOCAL_RANK", "0"},
                       {"LOCAL_WORLD_SIZE", "1"}, {"MASTER_ADDR", master},
                       {"MASTER_PORT", port},     {"GROUP_RANK", rank}};
        uint8_t *idf = NULL, *bf = NULL, *msg = NULL;
        size_t idl = 0, bl = 0;
        Couler__StepAssign idm = COULER__STEP_ASSIGN__INIT;
        idm.attempt_id = r->id;
        idl = couler__step_assign__get_packed_size(&idm);
        idf = cl_malloc(idl ? idl : 1);
        rv = idf ? 0 : CL_ENOMEM;
        if (rv == 0) {
            couler__step_assign__pack(&idm, idf);
            rv = coord__binding_field(&r->binding, env,
                                      sizeof(env) / sizeof(env[0]), &bf, &bl);
        }
        if (rv == 0 && (msg = cl_malloc(a->assign_len + idl + bl)) == NULL)
            rv = CL_ENOMEM;
        if (rv == 0) {
            memcpy(msg, a->assign, a->assign_len);
            memcpy(msg + a->assign_len, idf, idl);
            memcpy(msg + a->assign_len + idl, bf, bl);
            rv = coord__send_agent_raw(c, r->agent,
                                       COULER__MSG_TYPE__MSG_STEP_ASSIGN, msg,
                                       a->assign_len + idl + bl);
        }
        cl_free(idf);
        cl_free(bf);
        cl_free(msg);
        if (rv != 0)
            break;
        sent++;
    }
    if (sent < n) {
        /* All or nothing: take back the ranks already sent. */
        for (uint32_t k = sent; k < n; k++)
            ranks[k].exited = true;
        cancel_ranks(c, g, "gang could not start on every node");
        coord__gang_free(c, g);
        cl_errmsg_set(err, "a node of the gang could not be reached");
        return CL_EAGAIN;
    }
    a->gang = g;
    CL_INFO("gang %s: %u ranks on %s%s (master %s:%s)", a->display, n,
            ranks[0].agent, n > 1 ? " and others" : "", master, port);
    return 0;
}

/* The rank of "<attempt>/r<k>", or NULL. */
static coord_rank *rank_of(coord *c, const char *id, coord_attempt **out)
{
    const char *slash = strrchr(id, '/');
    if (slash == NULL || slash[1] != 'r')
        return NULL;
    char parent[600];
    snprintf(parent, sizeof(parent), "%.*s", (int)(slash - id), id);
    char *end;
    unsigned long k = strtoul(slash + 2, &end, 10);
    coord_attempt *a = coord__find_attempt(c, parent);
    if (*end != '\0' || a == NULL || a->gang == NULL || k >= a->gang->n)
        return NULL;
    *out = a;
    return &a->gang->ranks[k];
}

bool coord__gang_is_rank(const char *id)
{
    const char *slash = strrchr(id, '/');
    return slash != NULL && slash[1] == 'r';
}

void coord__gang_rank_ids(const coord_attempt *a, const char *agent_id,
                          void (*fn)(void *data, const char *id,
                                     uint64_t log_off),
                          void *data)
{
    if (a->gang == NULL)
        return;
    for (uint32_t k = 0; k < a->gang->n; k++) {
        const coord_rank *r = &a->gang->ranks[k];
        if (!r->exited && r->agent && strcmp(r->agent, agent_id) == 0)
            fn(data, r->id, r->log_off);
    }
}

void coord__gang_started(coord *c, const char *agent_id,
                         const Couler__StepStarted *m)
{
    coord_attempt *a;
    coord_rank *r = rank_of(c, m->attempt_id, &a);
    if (r == NULL || strcmp(r->agent, agent_id) != 0 || r->started)
        return;
    r->started = true;
    if (!a->gang->started_reported) {
        a->gang->started_reported = true;
        coord__attempt_started(c, a, a->gang->ranks[0].agent, m->started_at);
    }
}

void coord__gang_log(coord *c, const char *agent_id, const Couler__StepLog *m)
{
    coord_attempt *a;
    coord_rank *r = rank_of(c, m->attempt_id, &a);
    if (r == NULL || strcmp(r->agent, agent_id) != 0)
        return;
    uint32_t k = (uint32_t)(r - a->gang->ranks);
    coord__store_log(c, a, k, &r->log_off, m);
}

/* The gang is over: one report to the engine for the whole step. */
static void gang_end(coord *c, coord_attempt *a)
{
    coord_gang *g = a->gang;
    Couler__StepExited ex;
    if (!g->failed && g->rank0 != NULL) {
        ex = *g->rank0;
    } else {
        couler__step_exited__init(&ex);
        ex.phase = WF_FAILED;
        ex.exit_code = g->rank0 ? g->rank0->exit_code : -1;
        ex.message = g->fail_msg;
        ex.finished_at = cl_wall_ms();
    }
    ex.attempt_id = a->id;
    /* The report borrows from the gang: keep it until the step is
     * recorded, then let it go. */
    a->gang = NULL;
    if (g->lost)
        coord__attempt_lost(c, a, g->fail_msg);
    else
        coord__attempt_exited(c, a, &ex, g->ranks[0].agent);
    coord__gang_free(c, g);
}

void coord__gang_exited(coord *c, const char *agent_id,
                        const Couler__StepExited *m, bool *ack)
{
    *ack = true;
    coord_attempt *a;
    coord_rank *r = rank_of(c, m->attempt_id, &a);
    if (r == NULL || strcmp(r->agent, agent_id) != 0 || r->exited ||
        a->state == COORD_ATT_DONE)
        return;
    coord_gang *g = a->gang;
    uint32_t k = (uint32_t)(r - g->ranks);
    r->exited = true;
    g->exited++;
    if (r->bound) {
        place_cluster_release(c->pc, r->binding.id);
        r->bound = false;
    }
    if (k == 0) {
        size_t len = couler__step_exited__get_packed_size(m);
        uint8_t *buf = cl_malloc(len ? len : 1);
        if (buf) {
            couler__step_exited__pack(m, buf);
            g->rank0 = couler__step_exited__unpack(&cl_pb_allocator, len, buf);
            cl_free(buf);
        }
    }
    if (m->phase != WF_SUCCEEDED && !g->failed) {
        g->failed = true;
        snprintf(g->fail_msg, sizeof(g->fail_msg),
                 "rank %u of %u on node %s: %s", k, g->n, agent_id,
                 m->message[0] ? m->message : "failed");
        cancel_ranks(c, g, "another rank of the gang failed");
    }
    if (g->exited == g->n)
        gang_end(c, a);
}

/* A node of the gang is gone: stop the other ranks and reschedule. */
void coord__gang_node_lost(coord *c, coord_attempt *a, const char *agent_id,
                           const char *why)
{
    coord_gang *g = a->gang;
    if (g == NULL || a->state == COORD_ATT_DONE)
        return;
    bool involved = false;
    for (uint32_t k = 0; k < g->n; k++)
        if (!g->ranks[k].exited && strcmp(g->ranks[k].agent, agent_id) == 0)
            involved = true;
    if (!involved)
        return;
    g->lost = true;
    snprintf(g->fail_msg, sizeof(g->fail_msg), "node %s of the gang lost: %s",
             agent_id, why);
    cancel_ranks(c, g, "a node of the gang was lost");
    for (uint32_t k = 0; k < g->n; k++)
        g->ranks[k].exited = true;
    g->exited = g->n;
    gang_end(c, a);
}

void coord__gang_cancel(coord *c, coord_attempt *a, const char *reason)
{
    if (a->gang)
        cancel_ranks(c, a->gang, reason);
}
