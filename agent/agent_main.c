/* couler-agent - run steps for a Couler coordinator on this node. */
#include "agent/agent.h"

#include "common/cl_hash.h"
#include "common/cl_heap.h"
#include "common/cl_log.h"
#include "common/cl_signals.h"
#include "placement/place.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: couler-agent --coord tcp://HOST:PORT [options]\n"
            "\n"
            "Runs the steps a Couler coordinator assigns to this node.\n"
            "\n"
            "Options:\n"
            "  --coord ADDR        the coordinator's agent endpoint "
            "(env COULER_AGENT_COORD)\n"
            "  --gossip IP:PORT    be a gossip member on this UDP address\n"
            "  --join HOST:PORT,.. gossip seeds; without --coord the "
            "coordinator\n"
            "                      is found through gossip\n"
            "  --gossip-advertise IP:PORT  the address others reach us on\n"
            "  --cluster-key FILE  gossip keys: the primary, then accepted "
            "ones\n"
            "                      (env COULER_CLUSTER_KEY; SIGHUP reloads)\n"
            "  --data-dir DIR      step directories and reports "
            "(default /var/lib/couler/agent)\n"
            "  --name ID           node id (default: the host name)\n"
            "  --label K=V         a label for nodeSelector (repeatable)\n"
            "  --topology FILE     pretend to be the machine of this hwloc "
            "XML export\n"
            "  --max-steps N       concurrent steps (default: one per PU)\n"
            "  --cache-size SIZE   evict the node's step-output store above "
            "this (e.g. 50Gi)\n"
            "  --artifact-listen A where peers fetch artifacts (default "
            "tcp://0.0.0.0:*)\n"
            "  --advertise HOST    host peers use to reach this node\n"
            "  --bind SRC[:DST]    share a host path read-write into every "
            "step (repeatable)\n"
            "  --no-isolation      run steps directly on the host filesystem\n"
            "  --require-isolation refuse to run steps without a private "
            "view\n"
            "  --heartbeat-ms N    heartbeat interval (default 1000)\n"
            "  --log-level L       debug|info|warn|error (env COULER_LOG)\n"
            "  -h, --help          this text\n");
}

static cl_signals sigs;

static void on_closed(agent *a, void *data)
{
    (void)a;
    (void)data;
    cl_signals_close(&sigs);
}

static void on_reload(void *data)
{
    cl_errmsg err;
    cl_errmsg_clear(&err);
    if (agent_reload_keys(data, &err) != 0)
        CL_ERROR("reloading the cluster keys: %s", err.msg);
}

static void on_stop(void *data, int sig)
{
    (void)sig;
    agent_close(data, on_closed, NULL);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"coord", required_argument, 0, 'c'},
        {"gossip", required_argument, 0, 'g'},
        {"join", required_argument, 0, 'j'},
        {"gossip-advertise", required_argument, 0, 'G'},
        {"cluster-key", required_argument, 0, 'k'},
        {"data-dir", required_argument, 0, 'd'},
        {"name", required_argument, 0, 'n'},
        {"label", required_argument, 0, 'l'},
        {"topology", required_argument, 0, 't'},
        {"max-steps", required_argument, 0, 'm'},
        {"heartbeat-ms", required_argument, 0, 'b'},
        {"bind", required_argument, 0, 'B'},
        {"cache-size", required_argument, 0, 'S'},
        {"artifact-listen", required_argument, 0, 'A'},
        {"advertise", required_argument, 0, 'V'},
        {"no-isolation", no_argument, 0, 'I'},
        {"require-isolation", no_argument, 0, 'R'},
        {"log-level", required_argument, 0, 'L'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    agent_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.coord = getenv("COULER_AGENT_COORD");
    cfg.data_dir = "/var/lib/couler/agent";
    cfg.isolation = -1;
    const char **labels = calloc((size_t)argc, sizeof(char *));
    const char **binds = calloc((size_t)argc, sizeof(char *));
    int c;
    cl_log_set_tag("agent");
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cfg.coord = optarg;
            break;
        case 'g':
            cfg.gossip_bind = optarg;
            break;
        case 'j':
            cfg.gossip_join = optarg;
            break;
        case 'G':
            cfg.gossip_advertise = optarg;
            break;
        case 'k':
            cfg.cluster_key = optarg;
            break;
        case 'd':
            cfg.data_dir = optarg;
            break;
        case 'n':
            cfg.node_id = optarg;
            break;
        case 'l':
            labels[cfg.nlabels++] = optarg;
            break;
        case 't':
            cfg.topology = optarg;
            break;
        case 'B':
            binds[cfg.nbinds++] = optarg;
            break;
        case 'S': {
            cl_errmsg e;
            if (place_parse_memory(optarg, &cfg.cache_size, &e) != 0) {
                fprintf(stderr, "couler-agent: --cache-size: %s\n", e.msg);
                return 2;
            }
            break;
        }
        case 'A':
            cfg.artifact_listen = optarg;
            break;
        case 'V':
            cfg.advertise = optarg;
            break;
        case 'I':
            cfg.isolation = 0;
            break;
        case 'R':
            cfg.isolation = 1;
            break;
        case 'm':
            cfg.max_steps = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'b':
            cfg.heartbeat_ms = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'L': {
            int l = cl_log_parse_level(optarg);
            if (l < 0) {
                fprintf(stderr, "couler-agent: unknown log level '%s'\n",
                        optarg);
                return 2;
            }
            cl_log_set_level((enum cl_log_level)l);
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "couler-agent: unexpected argument '%s'\n",
                argv[optind]);
        return 2;
    }
    if (cfg.coord == NULL && cfg.gossip_join == NULL) {
        fprintf(stderr, "couler-agent: --coord (e.g. --coord "
                        "tcp://10.0.0.1:7701) or --join (gossip seeds) is "
                        "required\n");
        return 2;
    }
    if (cfg.gossip_join != NULL && cfg.gossip_bind == NULL)
        cfg.gossip_bind = "0.0.0.0:0";
    cfg.labels = labels;
    cfg.binds = binds;
    if (cl_crypto_init() != 0) {
        fprintf(stderr, "couler-agent: libsodium failed to initialise\n");
        return 1;
    }
    uv_loop_t *loop = uv_default_loop();
    cl_errmsg err;
    cl_errmsg_clear(&err);
    agent *a = NULL;
    int rv = agent_new(loop, NULL, &cfg, &a, &err);
    if (rv == 0)
        rv = agent_start(a, &err);
    if (rv != 0) {
        fprintf(stderr, "couler-agent: %s\n",
                err.msg[0] ? err.msg : cl_strerror(rv));
        if (a)
            agent_close(a, NULL, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        return 1;
    }
    if (cl_signals_start(&sigs, loop, on_stop, on_reload, a) != 0)
        CL_WARN("signal handlers not installed: stop with SIGKILL");
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    free(labels);
    free(binds);
    return 0;
}
