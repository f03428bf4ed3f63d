/* couler-coord - the Couler coordinator daemon and its command line. */
#include "coordinator/coord.h"
#include "coordinator/coord_cli.h"

#include "common/cl_hash.h"
#include "common/cl_log.h"
#include "common/cl_signals.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define COULER_VERSION "0.1.0"
#define UP_HTTP_DEFAULT "127.0.0.1:7780"

static cl_signals sigs;

static void on_closed(void *data)
{
    (void)data;
    cl_signals_close(&sigs);
}

static void on_reload(void *data)
{
    cl_errmsg err;
    cl_errmsg_clear(&err);
    if (coord_reload_keys(data, &err) != 0)
        CL_ERROR("reloading the cluster keys: %s", err.msg);
}

static void on_stop(void *data, int sig)
{
    (void)sig;
    coord_close(data, on_closed, NULL);
}

/* `up` serves the dashboard on UP_HTTP_DEFAULT unless told otherwise; when
 * that port is taken (another `up` on this machine), it starts without
 * one rather than not at all. An address given with --http must work. */
static const char *up_http_default(void)
{
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 7780, &sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    bool free_port = fd >= 0 &&
                     setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
                                sizeof(one)) == 0 &&
                     bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    if (free_port)
        return UP_HTTP_DEFAULT;
    CL_WARN("%s is taken: no dashboard (use --http IP:PORT)",
            UP_HTTP_DEFAULT);
    return NULL;
}

static void daemon_usage(FILE *f, bool up)
{
    fprintf(f,
            "Usage: couler-coord %s [options]\n"
            "\n"
            "Options:\n"
            "  --data-dir DIR        state store and %s (default %s)\n"
            "  --listen ADDR         client endpoint (default "
            "tcp://127.0.0.1:7700)\n"
            "  --agent-listen ADDR   agent endpoint (default %s)\n"
            "  --agent-timeout-ms N  silence before an agent's steps move "
            "(default 10000)\n"
            "  --heartbeat-ms N      agent heartbeat interval (default 1000)\n"
            "  --cache-policy P      off|memoize|auto (default memoize)\n"
            "  --gossip IP:PORT      be a gossip member on this UDP address\n"
            "  --join HOST:PORT,...  gossip seeds\n"
            "  --gossip-advertise IP:PORT  the address others reach us on\n"
            "  --cluster-key FILE    gossip keys: the primary, then accepted "
            "ones\n"
            "                        (env COULER_CLUSTER_KEY; SIGHUP reloads)\n"
            "  --advertise HOST      host agents use for our endpoints\n"
            "  --http IP:PORT        HTTP API, dashboard and metrics, or off "
            "(default %s)\n"
            "%s"
            "  --log-level L         debug|info|warn|error (env COULER_LOG)\n",
            up ? "up" : "serve", up ? "the embedded agent's steps" : "logs",
            up ? "./.couler" : "/var/lib/couler/coord",
            up ? "tcp://127.0.0.1:7701"
               : "none: agents connect over tcp "
                 "only when set",
            up ? UP_HTTP_DEFAULT ", if free" : "off",
            up ? "  --topology FILE       embedded agent: pretend to be this "
                 "hwloc XML\n"
                 "  --max-steps N         embedded agent: concurrent steps\n"
                 "  --bind SRC[:DST]      embedded agent: share a host path "
                 "into steps\n"
               : "");
}

static int run_daemon(int argc, char **argv, bool up)
{
    static const struct option opts[] = {
        {"data-dir", required_argument, 0, 'd'},
        {"listen", required_argument, 0, 'l'},
        {"agent-listen", required_argument, 0, 'a'},
        {"agent-timeout-ms", required_argument, 0, 't'},
        {"heartbeat-ms", required_argument, 0, 'b'},
        {"cache-policy", required_argument, 0, 'c'},
        {"topology", required_argument, 0, 'T'},
        {"max-steps", required_argument, 0, 'm'},
        {"bind", required_argument, 0, 'B'},
        {"gossip", required_argument, 0, 'g'},
        {"join", required_argument, 0, 'j'},
        {"gossip-advertise", required_argument, 0, 'G'},
        {"gossip-name", required_argument, 0, 'N'},
        {"cluster-key", required_argument, 0, 'k'},
        {"advertise", required_argument, 0, 'V'},
        {"http", required_argument, 0, 'H'},
        {"log-level", required_argument, 0, 'L'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    coord_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.data_dir = up ? "./.couler" : "/var/lib/couler/coord";
    cfg.listen = "tcp://127.0.0.1:7700";
    cfg.agent_listen = up ? "tcp://127.0.0.1:7701" : NULL;
    cfg.embedded_agent = up;
    cfg.cache_policy = "memoize";
    int rc = 0;
    const char *http = NULL;
    const char **binds = calloc((size_t)argc + 1, sizeof(char *));
    cfg.agent_binds = binds;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            cfg.data_dir = optarg;
            break;
        case 'l':
            cfg.listen = optarg;
            break;
        case 'a':
            cfg.agent_listen = optarg;
            break;
        case 't':
            cfg.agent_timeout_ms = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'b':
            cfg.heartbeat_ms = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'c':
            if (strcmp(optarg, "off") && strcmp(optarg, "memoize") &&
                strcmp(optarg, "auto")) {
                fprintf(stderr, "couler-coord: --cache-policy must be off, "
                                "memoize or auto\n");
                {
                    rc = 2;
                    goto out;
                }
            }
            cfg.cache_policy = optarg;
            break;
        case 'T':
            cfg.agent_topology = optarg;
            break;
        case 'm':
            cfg.agent_max_steps = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'B':
            binds[cfg.agent_nbinds++] = optarg;
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
        case 'N':
            cfg.gossip_name = optarg;
            break;
        case 'k':
            cfg.cluster_key = optarg;
            break;
        case 'V':
            cfg.advertise = optarg;
            break;
        case 'H':
            http = optarg;
            break;
        case 'L': {
            int l = cl_log_parse_level(optarg);
            if (l < 0) {
                fprintf(stderr, "couler-coord: unknown log level '%s'\n",
                        optarg);
                {
                    rc = 2;
                    goto out;
                }
            }
            cl_log_set_level((enum cl_log_level)l);
            break;
        }
        case 'h':
            daemon_usage(stdout, up);
            {
                rc = 0;
                goto out;
            }
        default:
            daemon_usage(stderr, up);
            {
                rc = 2;
                goto out;
            }
        }
    }
    if (optind < argc) {
        fprintf(stderr, "couler-coord: unexpected argument '%s'\n",
                argv[optind]);
        {
            rc = 2;
            goto out;
        }
    }
    if (!up &&
        (cfg.agent_topology || cfg.agent_max_steps || cfg.agent_nbinds)) {
        fprintf(stderr, "couler-coord: --topology, --max-steps and --bind "
                        "apply to `up` (the embedded agent) only\n");
        {
            rc = 2;
            goto out;
        }
    }
    cl_log_set_tag("coord");
    if (http == NULL && up)
        http = up_http_default();
    cfg.http_listen = http && strcmp(http, "off") != 0 ? http : NULL;
    if (cl_crypto_init() != 0) {
        fprintf(stderr, "couler-coord: libsodium failed to initialise\n");
        rc = 1;
        goto out;
    }
    uv_loop_t *loop = uv_default_loop();
    cl_errmsg err;
    cl_errmsg_clear(&err);
    coord *c = NULL;
    int rv = coord_new(loop, &cfg, &c, &err);
    if (rv == 0)
        rv = coord_start(c, &err);
    if (rv != 0) {
        fprintf(stderr, "couler-coord: %s\n",
                err.msg[0] ? err.msg : cl_strerror(rv));
        if (c)
            coord_close(c, NULL, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        rc = 1;
        goto out;
    }
    if (cl_signals_start(&sigs, loop, on_stop, on_reload, c) != 0)
        CL_WARN("signal handlers not installed: stop with SIGKILL");
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
out:
    free(binds);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        coord_cli_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "version") == 0 || strcmp(verb, "--version") == 0) {
        printf("couler-coord %s\n", COULER_VERSION);
        return 0;
    }
    if (strcmp(verb, "serve") == 0)
        return run_daemon(argc - 1, argv + 1, false);
    if (strcmp(verb, "up") == 0)
        return run_daemon(argc - 1, argv + 1, true);
    if (cl_crypto_init() != 0)
        return 1;
    cl_log_set_tag("couler-coord");
    return coord_cli_main(verb, argc - 1, argv + 1);
}
