/* coord_gossip.c - the coordinator as a gossip member (gossip/swim_uv.h).
 *
 * It joins the cluster with role `coordinator` and publishes its endpoints
 * ("control": where agents connect, "client": where the CLI connects), so an
 * agent started with --join finds it without --coord. When gossip declares
 * an agent dead (or it leaves), its steps move at once instead of waiting
 * for the heartbeat timeout; `nodes` shows each agent's gossip state.
 */
#include "coordinator/coord_int.h"

#include "common/cl_heap.h"
#include "common/cl_log.h"
#include "gossip/swim_keyfile.h"
#include "gossip/swim_uv.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct coord_gossip {
    struct swim_uv uv;
    bool started;
    coord *c;
    struct swim_keyfile keys; /* as last applied, for rotations */
};

static void on_member(struct swim_uv *u, const struct swim_event *ev)
{
    struct coord_gossip *g = u->data;
    coord *c = g->c;
    const char *name = ev->member.name;
    if (ev->member.is_self)
        return;
    switch (ev->type) {
    case SWIM_EV_SUSPECT:
        CL_INFO("gossip: %s is suspected", name);
        break;
    case SWIM_EV_DEAD:
    case SWIM_EV_LEFT: {
        coord_agent *ag;
        HASH_FIND_STR(c->agents, name, ag);
        CL_WARN("gossip: %s %s", name,
                ev->type == SWIM_EV_DEAD ? "is dead" : "left the cluster");
        if (ag != NULL && ag->state != COORD_AGENT_LOST)
            coord__agent_lost(c, ag,
                              ev->type == SWIM_EV_DEAD
                                  ? "declared dead by gossip"
                                  : "left the cluster");
        break;
    }
    case SWIM_EV_ALIVE:
        CL_INFO("gossip: %s is alive again", name);
        break;
    default:
        break;
    }
}

/* The host others reach us on: --advertise, else the gossip address's. */
static void endpoint_for(coord *c, const char *bound, char *out, size_t len)
{
    const char *port = strrchr(bound, ':');
    char host[256] = "";
    if (c->cfg.advertise) {
        snprintf(host, sizeof(host), "%s", c->cfg.advertise);
    } else {
        struct swim_addr a;
        char text[SWIM_ADDR_STRLEN];
        if (swim_uv_addr(&c->gossip->uv, &a) == 0 &&
            swim_addr_format(&a, text, sizeof(text)) != NULL) {
            char *colon = strrchr(text, ':');
            if (colon)
                *colon = '\0';
            snprintf(host, sizeof(host), "%s", text);
        }
    }
    const char *h = strstr(bound, "://");
    h = h ? h + 3 : bound;
    size_t hl = port ? (size_t)(port - h) : strlen(h);
    bool wildcard = hl == 0 || strncmp(h, "0.0.0.0", hl) == 0 ||
                    strncmp(h, "*", hl) == 0;
    if (!wildcard)
        snprintf(out, len, "%s", bound);
    else
        snprintf(out, len, "tcp://%s%s", host[0] ? host : "127.0.0.1",
                 port ? port : "");
}

static int publish(coord *c)
{
    struct swim_meta m;
    swim_meta_init(&m);
    m.role = SWIM_ROLE_COORDINATOR;
    char ep[512];
    int rv = 0;
    if (c->agent_listen[0]) {
        endpoint_for(c, c->agent_listen, ep, sizeof(ep));
        rv = swim_meta_set_endpoint(&m, "control", ep);
    }
    if (rv == 0) {
        endpoint_for(c, c->listen, ep, sizeof(ep));
        rv = swim_meta_set_endpoint(&m, "client", ep);
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (rv == 0)
        rv = swim_meta_pack(&m, &buf, &len);
    if (rv == 0)
        rv = swim_uv_set_meta(&c->gossip->uv, buf, len);
    cl_free(buf);
    swim_meta_free(&m);
    return rv;
}

int coord__gossip_start(coord *c, cl_errmsg *err)
{
    if (c->cfg.gossip_bind == NULL)
        return 0;
    struct swim_keyfile kf;
    int rv = swim_keyfile_load(c->cfg.cluster_key, &kf, err);
    if (rv != 0)
        return rv;
    c->gossip = cl_calloc(1, sizeof(*c->gossip));
    if (c->gossip == NULL)
        return CL_ENOMEM;
    c->gossip->keys = kf;
    c->gossip->c = c;
    c->gossip->uv.data = c->gossip;
    char name[SWIM_NAME_MAX + 1];
    if (c->cfg.gossip_name) {
        snprintf(name, sizeof(name), "%s", c->cfg.gossip_name);
    } else {
        char host[200] = "localhost";
        gethostname(host, sizeof(host) - 1);
        snprintf(name, sizeof(name), "coordinator@%s", host);
    }
    struct swim_uv_options o;
    memset(&o, 0, sizeof(o));
    o.name = name;
    o.bind = c->cfg.gossip_bind;
    o.advertise = c->cfg.gossip_advertise;
    o.key = kf.keys[0];
    o.on_event = on_member;
    rv = swim_uv_init(&c->gossip->uv, c->loop, &o, err);
    if (rv != 0) {
        cl_free(c->gossip);
        c->gossip = NULL;
        return rv;
    }
    /* Accepted keys beyond the primary (a rotation in progress). */
    swim_keyfile_apply(swim_uv_keyring(&c->gossip->uv), NULL, &kf);
    rv = swim_uv_start(&c->gossip->uv, err);
    if (rv == 0)
        c->gossip->started = true;
    if (rv == 0)
        rv = publish(c);
    if (rv == 0 && c->cfg.gossip_join && c->cfg.gossip_join[0])
        rv = swim_uv_join(&c->gossip->uv, c->cfg.gossip_join, err);
    if (rv != 0) {
        cl_errmsg_wrap(err, "gossip");
        return rv;
    }
    CL_INFO("gossip: member '%s' on %s", name, c->cfg.gossip_bind);
    return 0;
}

/* coord__gossip_reload_keys - SIGHUP: read the key file again, so a key
 * rotates without a restart. */
int coord__gossip_reload_keys(coord *c, cl_errmsg *err)
{
    if (c->gossip == NULL)
        return 0;
    struct swim_keyfile kf;
    int rv = swim_keyfile_load(c->cfg.cluster_key, &kf, err);
    if (rv != 0)
        return rv;
    rv = swim_keyfile_apply(swim_uv_keyring(&c->gossip->uv), &c->gossip->keys,
                            &kf);
    if (rv == 0) {
        c->gossip->keys = kf;
        CL_INFO("gossip: cluster keys reloaded (%zu key%s)", kf.n,
                kf.n == 1 ? "" : "s");
    }
    return rv;
}

const char *coord__gossip_state(coord *c, const char *name)
{
    if (c->gossip == NULL || !c->gossip->started)
        return "";
    struct swim_member_info m;
    if (swim_uv_member_find(&c->gossip->uv, name, &m) != 0)
        return "unknown";
    return swim_state_name(m.state);
}

static void on_gossip_closed(struct swim_uv *u)
{
    struct coord_gossip *g = u->data;
    void (*cb)(coord *) = g->c->gossip_closed;
    coord *c = g->c;
    cl_free(g);
    c->gossip = NULL;
    if (cb)
        cb(c);
}

static void on_left(struct swim_uv *u, int status)
{
    (void)status;
    swim_uv_stop(u);
    swim_uv_close(u, on_gossip_closed);
}

/* coord__gossip_close - leave the cluster gracefully (others mark us left,
 * not dead), then close; cb runs when done. */
void coord__gossip_close(coord *c, void (*cb)(coord *c))
{
    if (c->gossip == NULL) {
        if (cb)
            cb(c);
        return;
    }
    c->gossip_closed = cb;
    if (!c->gossip->started ||
        swim_uv_leave(&c->gossip->uv, 1000, on_left) != 0) {
        swim_uv_stop(&c->gossip->uv);
        swim_uv_close(&c->gossip->uv, on_gossip_closed);
    }
}
