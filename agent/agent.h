/* agent.h - couler-agent, the per-node executor (prefix agent_).
 *
 * An agent connects a DEALER (identity = its node id) to the coordinator's
 * agent ROUTER, registers with its resource model, then runs the steps it is
 * assigned: each in its own directory with stdout and stderr captured,
 * streamed back as log chunks, and reported on exit with the outputs Argo
 * defines (result = stdout, parameters read from valueFrom.path files,
 * artifacts). A finished step's report is kept on disk until the
 * coordinator acknowledges it, so neither a coordinator restart nor an agent
 * restart loses a finished step.
 *
 * The agent is a library so that `couler-coord up` can embed one in the
 * coordinator's process and loop; `couler-agent` is a thin main around it.
 *
 * Lifecycle: agent_new -> agent_start -> ... -> agent_close(cb). Memory is
 * released after the close callback. All calls on the loop thread.
 */
#ifndef COULER_AGENT_H
#define COULER_AGENT_H

#include "common/cl_err.h"

#include <stdint.h>
#include <uv.h>

typedef struct agent agent;

typedef struct agent_config {
    const char *node_id;      /* default: the host name */
    const char *data_dir;     /* steps/, results, cache; created if missing */
    const char *coord;        /* coordinator agent endpoint (tcp://h:p) */
    const char *topology;     /* hwloc XML to pretend to be, or NULL */
    const char **labels;      /* "k=v" strings */
    size_t nlabels;
    unsigned max_steps;       /* 0: one per PU */
    unsigned heartbeat_ms;    /* 0: 1000 */
    const char *exec_path;    /* couler-exec launcher, or NULL: found next
                                 to the running binary, else run directly */
    int isolation;            /* -1 auto (on when root and couler-exec is
                                 found), 0 off, 1 required */
    const char **binds;       /* host paths (SRC[:DST]) shared read-write
                                 into every step's view, e.g. datasets */
    size_t nbinds;
    const char *artifact_listen; /* artifact server endpoint to bind, or
                                    NULL: tcp://0.0.0.0:* (any port) */
    const char *advertise;    /* host peers use to reach our artifact
                                 server; NULL: guessed */
    uint64_t cache_size;      /* evict the node's store above this; 0 */
    const char *gossip_bind;  /* "IP:PORT": be a gossip member, or NULL */
    const char *gossip_join;  /* seeds "HOST:PORT[,...]"; with coord NULL
                                 the coordinator is found through gossip */
    const char *gossip_advertise; /* "IP:PORT" others reach us on */
    const char *cluster_key;  /* key file: primary key, then accepted ones */
} agent_config;

/* agent_new - build an agent. `zctx` is the ZeroMQ context to use (shared
 * with an embedding coordinator), or NULL to make its own. Copies cfg. */
int agent_new(uv_loop_t *loop, void *zctx, const agent_config *cfg,
              agent **out, cl_errmsg *err);
int agent_start(agent *a, cl_errmsg *err);

/* agent_close - stop: kill running steps (their reports stay on disk for
 * the next start), close sockets, then call cb(NULL, data): the agent is
 * already freed when cb runs. */
void agent_close(agent *a, void (*cb)(agent *a, void *data), void *data);

const char *agent_node_id(const agent *a);

/* agent_reload_keys - read the cluster key file again (a key rotation);
 * nothing to do without gossip. */
int agent_reload_keys(agent *a, cl_errmsg *err);

#endif
