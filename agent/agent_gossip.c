/* agent_gossip.c - the agent as a gossip member (gossip/swim_uv.h).
 *
 * It publishes role `agent`, its artifact endpoint, its labels and a
 * resource summary. Started with --join and no --coord, it finds the
 * coordinator through gossip (the member with role `coordinator`, endpoint
 * "control") and connects there; if another coordinator takes over, it
 * follows it.
 */
#include "agent/agent_int.h"

#include "common/cl_heap.h"
#include "common/cl_log.h"
#include "gossip/swim_keyfile.h"
#include "gossip/swim_uv.h"

#include <stdio.h>
#include <string.h>
#include <zmq.h>

struct agent_gossip {
    struct swim_uv uv;
    bool started;
    agent *a;
    struct swim_keyfile keys;
    void (*closed)(agent *a);
};

/* agent__use_coord - connect the control socket to `endpoint` (from gossip),
 * leaving the one used before. */
static void use_coord(agent *a, const char *endpoint)
{
    if (a->coord != NULL && strcmp(a->coord, endpoint) == 0)
        return;
    char *copy = cl_strdup(endpoint);
    if (copy == NULL)
        return;
    if (a->coord != NULL && a->coord[0])
        zmq_disconnect(a->dealer, a->coord);
    if (zmq_connect(a->dealer, copy) != 0) {
        CL_WARN("gossip: cannot connect to coordinator at %s: %s", copy,
                zmq_strerror(zmq_errno()));
        cl_free(copy);
        return;
    }
    CL_INFO("gossip: coordinator found at %s", copy);
    cl_free(a->coord);
    a->coord = copy;
    a->registered = false;
    agent__register_now(a);
}

static void on_member(struct swim_uv *u, const struct swim_event *ev)
{
    struct agent_gossip *g = u->data;
    if (ev->member.is_self || ev->member.meta == NULL)
        return;
    if (ev->type != SWIM_EV_JOINED && ev->type != SWIM_EV_UPDATED &&
        ev->type != SWIM_EV_ALIVE)
        return;
    struct swim_meta m;
    swim_meta_init(&m);
    if (swim_meta_unpack(ev->member.meta, ev->member.meta_len, &m) == 0 &&
        m.role == SWIM_ROLE_COORDINATOR) {
        const char *ep = swim_meta_endpoint(&m, "control");
        if (ep != NULL && g->a->coord_from_gossip)
            use_coord(g->a, ep);
    }
    swim_meta_free(&m);
}

int agent__gossip_publish(agent *a)
{
    if (a->gossip == NULL || !a->gossip->started)
        return 0;
    struct swim_meta m;
    swim_meta_init(&m);
    m.role = SWIM_ROLE_AGENT;
    int rv = 0;
    const char *art = agent__art_endpoint(a);
    if (art[0])
        rv = swim_meta_set_endpoint(&m, "artifacts", art);
    for (size_t i = 0; rv == 0 && i < a->nlabels_all; i++) {
        char key[256];
        const char *eq = strchr(a->labels[i], '=');
        snprintf(key, sizeof(key), "%.*s", (int)(eq - a->labels[i]),
                 a->labels[i]);
        rv = swim_meta_set_label(&m, key, eq + 1);
    }
    m.resources.cores_total = a->summary.cores;
    m.resources.cores_free = a->summary.cores > a->running
                                 ? a->summary.cores - a->running
                                 : 0;
    m.resources.memory_total = a->summary.memory_bytes;
    m.resources.memory_free = a->summary.memory_bytes;
    m.resources.gpus_total = a->summary.gpus;
    m.resources.gpus_free = a->summary.gpus;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (rv == 0)
        rv = swim_meta_pack(&m, &buf, &len);
    if (rv == 0)
        rv = swim_uv_set_meta(&a->gossip->uv, buf, len);
    cl_free(buf);
    swim_meta_free(&m);
    return rv;
}

int agent__gossip_start(agent *a, cl_errmsg *err)
{
    if (a->cfg.gossip_bind == NULL)
        return 0;
    struct swim_keyfile kf;
    int rv = swim_keyfile_load(a->cfg.cluster_key, &kf, err);
    if (rv != 0)
        return rv;
    struct agent_gossip *g = cl_calloc(1, sizeof(*g));
    if (g == NULL)
        return CL_ENOMEM;
    g->a = a;
    g->keys = kf;
    g->uv.data = g;
    struct swim_uv_options o;
    memset(&o, 0, sizeof(o));
    o.name = a->node_id;
    o.bind = a->cfg.gossip_bind;
    o.advertise = a->cfg.gossip_advertise;
    o.key = kf.keys[0];
    o.on_event = on_member;
    rv = swim_uv_init(&g->uv, a->loop, &o, err);
    if (rv != 0) {
        cl_free(g);
        return rv;
    }
    a->gossip = g;
    swim_keyfile_apply(swim_uv_keyring(&g->uv), NULL, &kf);
    rv = swim_uv_start(&g->uv, err);
    if (rv == 0) {
        g->started = true;
        rv = agent__gossip_publish(a);
    }
    if (rv == 0 && a->cfg.gossip_join && a->cfg.gossip_join[0])
        rv = swim_uv_join(&g->uv, a->cfg.gossip_join, err);
    if (rv != 0) {
        cl_errmsg_wrap(err, "gossip");
        return rv;
    }
    CL_INFO("gossip: member '%s' on %s%s%s", a->node_id, a->cfg.gossip_bind,
            a->cfg.gossip_join ? ", joining " : "",
            a->cfg.gossip_join ? a->cfg.gossip_join : "");
    return 0;
}

int agent__gossip_reload_keys(agent *a, cl_errmsg *err)
{
    if (a->gossip == NULL)
        return 0;
    struct swim_keyfile kf;
    int rv = swim_keyfile_load(a->cfg.cluster_key, &kf, err);
    if (rv == 0)
        rv = swim_keyfile_apply(swim_uv_keyring(&a->gossip->uv),
                                &a->gossip->keys, &kf);
    if (rv == 0) {
        a->gossip->keys = kf;
        CL_INFO("gossip: cluster keys reloaded (%zu key%s)", kf.n,
                kf.n == 1 ? "" : "s");
    }
    return rv;
}

static void on_closed(struct swim_uv *u)
{
    struct agent_gossip *g = u->data;
    agent *a = g->a;
    cl_free(g);
    a->gossip = NULL;
    agent__steps_closed(a);
}

static void on_left(struct swim_uv *u, int status)
{
    (void)status;
    swim_uv_stop(u);
    swim_uv_close(u, on_closed);
}

void agent__gossip_close(agent *a)
{
    struct agent_gossip *g = a->gossip;
    if (g == NULL)
        return;
    if (!g->started || swim_uv_leave(&g->uv, 1000, on_left) != 0) {
        swim_uv_stop(&g->uv);
        swim_uv_close(&g->uv, on_closed);
    }
}
