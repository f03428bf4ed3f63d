/* coord.h - couler-coord, the coordinator daemon (prefix coord_).
 *
 * The coordinator accepts workflows from clients, keeps each one's engine
 * (workflow/wf.h) fed with events, places the steps the engines dispatch on
 * agents, and keeps everything it accepted in RocksDB: a workflow's record
 * and the ordered log of its engine events. After a crash it rebuilds every
 * unfinished run by replaying that log, then reconciles with the agents as
 * they re-register, so nothing accepted is lost and nothing is started
 * twice.
 *
 * Two ZeroMQ ROUTERs: one for clients (the CLI), one for agents. With
 * `embedded_agent`, an agent runs in the same process and loop (`couler-coord
 * up`), connected over inproc.
 *
 * Lifecycle: coord_new -> coord_start -> ... -> coord_close(cb).
 */
#ifndef COULER_COORD_H
#define COULER_COORD_H

#include "common/cl_err.h"

#include <stdbool.h>
#include <uv.h>

typedef struct coord coord;

typedef struct coord_config {
    const char *data_dir;       /* state store lives in <data_dir>/state */
    const char *listen;         /* client endpoint, e.g. tcp://0.0.0.0:7700 */
    const char *agent_listen;   /* agent endpoint, e.g. tcp://0.0.0.0:7701 */
    unsigned agent_timeout_ms;  /* silence after which an agent is lost
                                   and its steps run elsewhere (0: 10000) */
    unsigned heartbeat_ms;      /* expected agent heartbeat (0: 1000) */
    bool embedded_agent;        /* run an agent in this process; the
                                   agent_* strings below are borrowed and
                                   must outlive the coordinator */
    const char *agent_topology; /* embedded agent: hwloc XML to pretend */
    unsigned agent_max_steps;   /* embedded agent: 0 = one per PU */
    const char **agent_binds;   /* embedded agent: paths shared into steps */
    size_t agent_nbinds;
    const char *cache_policy;   /* off | memoize | auto (default memoize) */
    const char *gossip_bind;    /* "IP:PORT": be a gossip member, or NULL */
    const char *gossip_join;    /* seeds "HOST:PORT[,...]" */
    const char *gossip_advertise; /* "IP:PORT" others reach us on */
    const char *gossip_name;    /* member name (default coordinator@host) */
    const char *cluster_key;    /* key file: primary, then accepted keys */
    const char *advertise;      /* host agents use for our endpoints */
    const char *http_listen;    /* "IP:PORT" of the HTTP API and dashboard,
                                   or NULL: none */
} coord_config;

int coord_new(uv_loop_t *loop, const coord_config *cfg, coord **out,
              cl_errmsg *err);
int coord_start(coord *c, cl_errmsg *err);
/* coord_reload_keys - read the cluster key file again (SIGHUP). */
int coord_reload_keys(coord *c, cl_errmsg *err);
void coord_close(coord *c, void (*cb)(void *data), void *data);

#endif
