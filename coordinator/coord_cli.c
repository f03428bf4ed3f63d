/* coord_cli.c - the client verbs of couler-coord (submit, list, get, logs,
 * wait, watch, stop, terminate, delete, retry, resubmit, nodes, lint,
 * stats), mirroring the argo CLI. */
#include "coordinator/coord_cli.h"

#include "common/cl_buf.h"
#include "common/cl_heap.h"
#include "common/cl_time.h"
#include "coordinator/coord_client.h"
#include "workflow/wf.h"

#include <errno.h>
#include <getopt.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POLL_MS 500

typedef struct cli {
    const char *coord;
    int timeout_ms;
    coord_client *cl;
} cli;

static int die(int rv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int die(int rv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("couler-coord: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return rv;
}

static int connect_cli(cli *c)
{
    if (c->cl)
        return 0;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = coord_client_open(c->coord, c->timeout_ms, &c->cl, &err);
    if (rv != 0)
        die(1, "%s", err.msg);
    return rv;
}

static int call(cli *c, Couler__MsgType type, const ProtobufCMessage *req,
                Couler__MsgType expect, ProtobufCMessage **rep)
{
    if (connect_cli(c) != 0)
        return CL_EINVAL;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = coord_client_call(c->cl, type, req, expect, rep, &err);
    if (rv != 0)
        die(rv, "%s", err.msg[0] ? err.msg : cl_strerror(rv));
    return rv;
}

static json_t *get_status(cli *c, const char *name, int *rvp)
{
    Couler__GetRequest req = COULER__GET_REQUEST__INIT;
    req.name = (char *)name;
    ProtobufCMessage *m;
    int rv = call(c, COULER__MSG_TYPE__MSG_GET, &req.base,
                  COULER__MSG_TYPE__MSG_GET_REPLY, &m);
    *rvp = rv;
    if (rv != 0)
        return NULL;
    json_error_t jerr;
    json_t *j = json_loads(((Couler__GetReply *)m)->status_json, 0, &jerr);
    cl_env_free(m);
    if (j == NULL) {
        *rvp = CL_EPROTO;
        die(1, "the coordinator sent an unreadable status: %s", jerr.text);
    }
    return j;
}

static const char *status_phase(json_t *j)
{
    json_t *p = json_object_get(json_object_get(j, "status"), "phase");
    return json_is_string(p) ? json_string_value(p) : "Pending";
}

static const char *status_name(json_t *j)
{
    json_t *p = json_object_get(json_object_get(j, "metadata"), "name");
    return json_is_string(p) ? json_string_value(p) : "";
}

static bool phase_final(const char *p)
{
    return strcmp(p, "Succeeded") == 0 || strcmp(p, "Failed") == 0 ||
           strcmp(p, "Error") == 0;
}

static void print_tree(json_t *j, unsigned flags, bool clear)
{
    cl_buf b = CL_BUF_INIT;
    wf_render_tree(j, cl_wall_ms(), &b, flags);
    if (clear && isatty(STDOUT_FILENO))
        fputs("\033[H\033[2J", stdout);
    if (b.data)
        fputs(b.data, stdout);
    fflush(stdout);
    cl_buf_free(&b);
}

static unsigned render_flags(bool wide, bool no_utf8)
{
    unsigned f = 0;
    if (wide)
        f |= WF_RENDER_WIDE;
    if (no_utf8 || getenv("COULER_NO_UTF8"))
        f |= WF_RENDER_NO_UTF8;
    return f;
}

/* Poll until the workflow ends. watch: redraw the tree every second. Returns
 * 0 if it Succeeded, 1 otherwise (2 when it cannot be read). */
static int wait_for(cli *c, const char *name, bool watch, unsigned flags,
                    bool quiet)
{
    int rv;
    for (;;) {
        json_t *j = get_status(c, name, &rv);
        if (j == NULL)
            return 2;
        const char *phase = status_phase(j);
        bool done = phase_final(phase);
        if (watch)
            print_tree(j, flags, true);
        if (done) {
            if (!watch && !quiet) {
                char ts[40];
                json_t *fin = json_object_get(json_object_get(j, "status"),
                                              "finishedAt");
                printf("%s %s at %s\n", status_name(j), phase,
                       json_is_string(fin)
                           ? json_string_value(fin)
                           : cl_time_format_s(cl_wall_ms(), ts, sizeof(ts)));
            }
            int ok = strcmp(phase, "Succeeded") == 0 ? 0 : 1;
            json_decref(j);
            return ok;
        }
        json_decref(j);
        usleep(watch ? 1000 * 1000 : POLL_MS * 1000);
    }
}

/* ---- logs ------------------------------------------------------------------*/

typedef struct pod_state {
    char *pod;
    char *who; /* display name */
    uint64_t off;
    cl_buf partial;
} pod_state;

typedef struct log_state {
    pod_state *pods;
    size_t npods;
} log_state;

static pod_state *pod_get(log_state *ls, const char *pod, const char *who)
{
    for (size_t i = 0; i < ls->npods; i++)
        if (strcmp(ls->pods[i].pod, pod) == 0)
            return &ls->pods[i];
    pod_state *np = realloc(ls->pods, (ls->npods + 1) * sizeof(*np));
    if (np == NULL)
        return NULL;
    ls->pods = np;
    pod_state *p = &ls->pods[ls->npods++];
    p->pod = strdup(pod);
    p->who = strdup(who);
    p->off = 0;
    cl_buf_init(&p->partial);
    return p;
}

/* print_line - one line of a step's log as it was written: bytes after a
 * NUL in it are shown too (printf's %s would stop there). */
static void print_line(const char *who, const char *line, size_t len)
{
    if (who != NULL)
        printf("%s: ", who);
    fwrite(line, 1, len, stdout);
    putchar('\n');
}

static void print_lines(const char *who, cl_buf *partial, const uint8_t *data,
                        size_t len, bool prefix)
{
    cl_buf_append(partial, data, len);
    char *start = partial->data;
    char *nl;
    while (start && (nl = memchr(start, '\n', partial->len -
                                                  (size_t)(start -
                                                           partial->data)))) {
        print_line(prefix ? who : NULL, start, (size_t)(nl - start));
        start = nl + 1;
    }
    if (start) {
        size_t rest = partial->len - (size_t)(start - partial->data);
        memmove(partial->data, start, rest);
        partial->len = rest;
        partial->data[rest] = '\0';
    }
}

static int do_logs(cli *c, const char *name, const char *step, bool follow,
                   bool prefix)
{
    log_state ls = {0};
    int rc = 0;
    for (;;) {
        Couler__LogsRequest req = COULER__LOGS_REQUEST__INIT;
        req.name = (char *)name;
        req.step = (char *)(step ? step : "");
        Couler__RunningStep *from = calloc(ls.npods + 1, sizeof(*from));
        Couler__RunningStep **fromp = calloc(ls.npods + 1, sizeof(*fromp));
        for (size_t i = 0; i < ls.npods; i++) {
            couler__running_step__init(&from[i]);
            from[i].attempt_id = ls.pods[i].pod;
            from[i].log_offset = ls.pods[i].off;
            fromp[i] = &from[i];
        }
        req.from = fromp;
        req.n_from = ls.npods;
        ProtobufCMessage *m;
        int rv = call(c, COULER__MSG_TYPE__MSG_LOGS, &req.base,
                      COULER__MSG_TYPE__MSG_LOGS_REPLY, &m);
        free(from);
        free(fromp);
        if (rv != 0) {
            rc = 1;
            break;
        }
        Couler__LogsReply *rep = (Couler__LogsReply *)m;
        for (size_t i = 0; i < rep->n_chunks; i++) {
            Couler__LogChunk *ch = rep->chunks[i];
            pod_state *p = pod_get(&ls, ch->pod, ch->node_name);
            if (p == NULL || ch->offset != p->off)
                continue;
            print_lines(ch->node_name, &p->partial, ch->data.data,
                        ch->data.len, prefix);
            p->off += ch->data.len;
        }
        bool more = rep->more, done = rep->done;
        cl_env_free(m);
        fflush(stdout);
        if (more)
            continue;
        if (!follow || done)
            break;
        usleep(300 * 1000);
    }
    for (size_t i = 0; i < ls.npods; i++) {
        if (ls.pods[i].partial.len > 0)
            print_line(prefix ? ls.pods[i].who : NULL, ls.pods[i].partial.data,
                       ls.pods[i].partial.len);
        cl_buf_free(&ls.pods[i].partial);
        free(ls.pods[i].pod);
        free(ls.pods[i].who);
    }
    free(ls.pods);
    return rc;
}

/* ---- parameters ---------------------------------------------------------------*/

typedef struct kvlist {
    Couler__KV *items;
    Couler__KV **ptrs;
    size_t n, cap;
} kvlist;

static int kv_add(kvlist *l, const char *name, const char *value)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        Couler__KV *ni = realloc(l->items, cap * sizeof(*ni));
        if (ni == NULL)
            return CL_ENOMEM;
        l->items = ni;
        l->cap = cap;
    }
    Couler__KV *kv = &l->items[l->n++];
    couler__kv__init(kv);
    kv->name = strdup(name);
    kv->value = strdup(value);
    return 0;
}

static void kv_finish(kvlist *l)
{
    free(l->ptrs);
    l->ptrs = calloc(l->n + 1, sizeof(*l->ptrs));
    for (size_t i = 0; l->ptrs && i < l->n; i++)
        l->ptrs[i] = &l->items[i];
}

static void kv_free(kvlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].name);
        free(l->items[i].value);
    }
    free(l->items);
    free(l->ptrs);
}

static int parse_param(kvlist *l, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (eq == NULL || eq == arg)
        return die(CL_EINVAL, "parameter '%s' is not name=value", arg);
    char *name = strndup(arg, (size_t)(eq - arg));
    int rv = kv_add(l, name, eq + 1);
    free(name);
    return rv;
}

/* -f/--parameter-file: a YAML or JSON mapping of names to values. */
static int parse_param_file(kvlist *l, const char *path)
{
    struct fy_document *fyd = fy_document_build_from_file(NULL, path);
    if (fyd == NULL)
        return die(CL_EPARSE, "cannot read parameter file '%s'", path);
    struct fy_node *root = fy_document_root(fyd);
    if (root == NULL || !fy_node_is_mapping(root)) {
        fy_document_destroy(fyd);
        return die(CL_EPARSE, "%s: expected a mapping of parameter names "
                              "to values",
                   path);
    }
    void *iter = NULL;
    struct fy_node_pair *pair;
    int rv = 0;
    while ((pair = fy_node_mapping_iterate(root, &iter)) != NULL) {
        struct fy_node *k = fy_node_pair_key(pair);
        struct fy_node *v = fy_node_pair_value(pair);
        const char *ks = fy_node_get_scalar0(k);
        char *vs = NULL;
        if (fy_node_is_scalar(v)) {
            const char *s = fy_node_get_scalar0(v);
            vs = strdup(s ? s : "");
        } else {
            vs = fy_emit_node_to_string(
                v, FYECF_MODE_FLOW_ONELINE | FYECF_NO_ENDING_NEWLINE);
        }
        if (ks == NULL || vs == NULL) {
            free(vs);
            rv = die(CL_EPARSE, "%s: bad parameter entry", path);
            break;
        }
        rv = kv_add(l, ks, vs);
        free(vs);
        if (rv != 0)
            break;
    }
    fy_document_destroy(fyd);
    return rv;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL)
        return NULL;
    cl_buf b = CL_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        cl_buf_append(&b, chunk, n);
    if (f != stdin)
        fclose(f);
    return cl_buf_steal(&b, len);
}

/* ---- verbs ---------------------------------------------------------------------*/

enum {
    OPT_WATCH = 1000,
    OPT_WAIT,
    OPT_LOG,
    OPT_DRYRUN,
    OPT_ENTRY,
    OPT_NAME,
    OPT_GENNAME,
    OPT_PRIORITY,
    OPT_CACHE,
    OPT_RUNNING,
    OPT_COMPLETED,
    OPT_STATUS,
    OPT_PREFIX,
    OPT_NOHEAD,
    OPT_NOUTF8,
    OPT_MEMOIZED,
    OPT_MESSAGE,
    OPT_COORD,
    OPT_TIMEOUT,
    OPT_NOPREFIX,
    OPT_OLDER,
};

static const struct option client_opts[] = {
    {"coord", required_argument, 0, OPT_COORD},
    {"timeout-ms", required_argument, 0, OPT_TIMEOUT},
    {"parameter", required_argument, 0, 'p'},
    {"parameter-file", required_argument, 0, 'f'},
    {"output", required_argument, 0, 'o'},
    {"watch", no_argument, 0, OPT_WATCH},
    {"wait", no_argument, 0, OPT_WAIT},
    {"log", no_argument, 0, OPT_LOG},
    {"dry-run", no_argument, 0, OPT_DRYRUN},
    {"entrypoint", required_argument, 0, OPT_ENTRY},
    {"name", required_argument, 0, OPT_NAME},
    {"generate-name", required_argument, 0, OPT_GENNAME},
    {"priority", required_argument, 0, OPT_PRIORITY},
    {"cache", required_argument, 0, OPT_CACHE},
    {"running", no_argument, 0, OPT_RUNNING},
    {"completed", no_argument, 0, OPT_COMPLETED},
    {"status", required_argument, 0, OPT_STATUS},
    {"prefix", required_argument, 0, OPT_PREFIX},
    {"no-headers", no_argument, 0, OPT_NOHEAD},
    {"no-utf8", no_argument, 0, OPT_NOUTF8},
    {"memoized", no_argument, 0, OPT_MEMOIZED},
    {"message", required_argument, 0, OPT_MESSAGE},
    {"follow", no_argument, 0, 'F'},
    {"no-prefix", no_argument, 0, OPT_NOPREFIX},
    {"older-than", required_argument, 0, OPT_OLDER},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0}};

typedef struct opts {
    kvlist params;
    const char *output;
    bool watch, wait, log, dry_run, running, completed, no_headers, no_utf8,
        memoized, follow, no_prefix;
    const char *entrypoint, *name, *generate_name, *cache, *status, *prefix,
        *message, *older_than;
    int priority;
    bool has_priority;
    char **args;
    int nargs;
} opts;

static int parse_opts(cli *c, int argc, char **argv, opts *o,
                      const char *verb)
{
    memset(o, 0, sizeof(*o));
    optind = 1;
    int ch;
    /* -f means --follow for logs and --parameter-file elsewhere. */
    bool is_logs = strcmp(verb, "logs") == 0;
    while ((ch = getopt_long(argc, argv, is_logs ? "fo:p:h" : "p:f:o:h",
                             client_opts, NULL)) != -1) {
        switch (ch) {
        case OPT_COORD:
            c->coord = optarg;
            break;
        case OPT_TIMEOUT:
            c->timeout_ms = atoi(optarg);
            break;
        case 'p':
            if (parse_param(&o->params, optarg) != 0)
                return 2;
            break;
        case 'f':
            if (is_logs) {
                o->follow = true;
                break;
            }
            if (parse_param_file(&o->params, optarg) != 0)
                return 2;
            break;
        case 'F':
            o->follow = true;
            break;
        case 'o':
            o->output = optarg;
            break;
        case OPT_WATCH:
            o->watch = true;
            break;
        case OPT_WAIT:
            o->wait = true;
            break;
        case OPT_LOG:
            o->log = true;
            break;
        case OPT_DRYRUN:
            o->dry_run = true;
            break;
        case OPT_ENTRY:
            o->entrypoint = optarg;
            break;
        case OPT_NAME:
            o->name = optarg;
            break;
        case OPT_GENNAME:
            o->generate_name = optarg;
            break;
        case OPT_PRIORITY:
            o->priority = atoi(optarg);
            o->has_priority = true;
            break;
        case OPT_CACHE:
            o->cache = optarg;
            break;
        case OPT_RUNNING:
            o->running = true;
            break;
        case OPT_COMPLETED:
            o->completed = true;
            break;
        case OPT_STATUS:
            o->status = optarg;
            break;
        case OPT_PREFIX:
            o->prefix = optarg;
            break;
        case OPT_NOHEAD:
            o->no_headers = true;
            break;
        case OPT_NOUTF8:
            o->no_utf8 = true;
            break;
        case OPT_MEMOIZED:
            o->memoized = true;
            break;
        case OPT_MESSAGE:
            o->message = optarg;
            break;
        case OPT_NOPREFIX:
            o->no_prefix = true;
            break;
        case OPT_OLDER:
            o->older_than = optarg;
            break;
        case 'h':
            return -1;
        default:
            return 2;
        }
    }
    o->args = argv + optind;
    o->nargs = argc - optind;
    kv_finish(&o->params);
    return 0;
}

static int after_submit(cli *c, const char *name, opts *o)
{
    unsigned flags = render_flags(false, o->no_utf8);
    if (o->output && strcmp(o->output, "name") == 0)
        printf("%s\n", name);
    if (o->log) {
        do_logs(c, name, NULL, true, true);
        return wait_for(c, name, false, flags, true);
    }
    if (o->watch)
        return wait_for(c, name, true, flags, false);
    if (o->wait)
        return wait_for(c, name, false, flags, false);
    if (o->output && strcmp(o->output, "name") == 0)
        return 0;
    int rv;
    json_t *j = get_status(c, name, &rv);
    if (j == NULL)
        return 1;
    if (o->output && strcmp(o->output, "json") == 0) {
        char *s = json_dumps(j, JSON_INDENT(2));
        printf("%s\n", s);
        free(s);
    } else {
        print_tree(j, flags, false);
    }
    json_decref(j);
    return 0;
}

static int verb_submit(cli *c, opts *o)
{
    if (o->nargs < 1)
        return die(2, "submit: a workflow file is required (or - for "
                      "standard input)");
    int rc = 0;
    for (int i = 0; i < o->nargs; i++) {
        size_t len;
        char *yaml = read_all(o->args[i], &len);
        if (yaml == NULL)
            return die(1, "cannot read '%s': %s", o->args[i],
                       strerror(errno));
        Couler__SubmitRequest req = COULER__SUBMIT_REQUEST__INIT;
        req.yaml = yaml;
        req.filename = o->args[i];
        req.params = o->params.ptrs;
        req.n_params = o->params.n;
        req.entrypoint = (char *)(o->entrypoint ? o->entrypoint : "");
        req.name = (char *)(o->name ? o->name : "");
        req.generate_name = (char *)(o->generate_name ? o->generate_name
                                                      : "");
        req.dry_run = o->dry_run;
        req.cache_policy = (char *)(o->cache ? o->cache : "");
        req.priority = o->priority;
        req.has_priority = o->has_priority;
        ProtobufCMessage *m;
        int rv = call(c, COULER__MSG_TYPE__MSG_SUBMIT, &req.base,
                      COULER__MSG_TYPE__MSG_SUBMIT_REPLY, &m);
        cl_free(yaml);
        if (rv != 0)
            return 1;
        Couler__SubmitReply *rep = (Couler__SubmitReply *)m;
        for (size_t k = 0; k < rep->n_warnings; k++)
            fprintf(stderr, "warning: %s\n", rep->warnings[k]);
        if (o->dry_run) {
            json_t *j = json_loads(rep->status_json, 0, NULL);
            if (o->output && strcmp(o->output, "name") == 0)
                printf("%s\n", rep->name);
            else if (j) {
                char *s = json_dumps(j, JSON_INDENT(2));
                printf("%s\n", s);
                free(s);
            }
            json_decref(j);
            cl_env_free(m);
            continue;
        }
        char *name = strdup(rep->name);
        cl_env_free(m);
        int r = after_submit(c, name, o);
        free(name);
        if (r != 0)
            rc = r;
    }
    return rc;
}

static void fmt_age(int64_t ms, char *buf, size_t len)
{
    int64_t s = ms / 1000;
    if (s < 60)
        snprintf(buf, len, "%llds", (long long)s);
    else if (s < 3600)
        snprintf(buf, len, "%lldm", (long long)(s / 60));
    else if (s < 86400)
        snprintf(buf, len, "%lldh", (long long)(s / 3600));
    else
        snprintf(buf, len, "%lldd", (long long)(s / 86400));
}

static int verb_list(cli *c, opts *o)
{
    Couler__ListRequest req = COULER__LIST_REQUEST__INIT;
    req.running = o->running;
    req.completed = o->completed;
    req.prefix = (char *)(o->prefix ? o->prefix : "");
    char *phases[16];
    size_t np = 0;
    char *st = o->status ? strdup(o->status) : NULL;
    for (char *tok = st ? strtok(st, ",") : NULL; tok && np < 16;
         tok = strtok(NULL, ","))
        phases[np++] = tok;
    req.phases = phases;
    req.n_phases = np;
    ProtobufCMessage *m;
    int rv = call(c, COULER__MSG_TYPE__MSG_LIST, &req.base,
                  COULER__MSG_TYPE__MSG_LIST_REPLY, &m);
    free(st);
    if (rv != 0)
        return 1;
    Couler__ListReply *rep = (Couler__ListReply *)m;
    bool names = o->output && strcmp(o->output, "name") == 0;
    bool json = o->output && strcmp(o->output, "json") == 0;
    int64_t now = cl_wall_ms();
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < rep->n_items; i++) {
            Couler__WorkflowSummary *s = rep->items[i];
            char c1[40], c2[40], c3[40];
            json_array_append_new(
                arr,
                json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:s,s:i}", "name", s->name,
                          "phase", s->phase, "createdAt",
                          cl_time_format_s(s->created, c1, sizeof(c1)),
                          "startedAt",
                          s->started ? cl_time_format_s(s->started, c2,
                                                        sizeof(c2))
                                     : NULL,
                          "finishedAt",
                          s->finished ? cl_time_format_s(s->finished, c3,
                                                         sizeof(c3))
                                      : NULL,
                          "message", s->message, "priority", s->priority));
        }
        char *out = json_dumps(arr, JSON_INDENT(2));
        printf("%s\n", out);
        free(out);
        json_decref(arr);
        cl_env_free(m);
        return 0;
    }
    /* Newest first, as argo lists. */
    for (size_t i = 0; i + 1 < rep->n_items; i++)
        for (size_t j = i + 1; j < rep->n_items; j++)
            if (rep->items[j]->created > rep->items[i]->created) {
                Couler__WorkflowSummary *t = rep->items[i];
                rep->items[i] = rep->items[j];
                rep->items[j] = t;
            }
    if (!names && !o->no_headers)
        printf("%-36s %-10s %-6s %-9s %-9s %s\n", "NAME", "STATUS", "AGE",
               "DURATION", "PRIORITY", "MESSAGE");
    for (size_t i = 0; i < rep->n_items; i++) {
        Couler__WorkflowSummary *s = rep->items[i];
        if (names) {
            printf("%s\n", s->name);
            continue;
        }
        char age[16], dur[32];
        fmt_age(now - s->created, age, sizeof(age));
        int64_t end = s->finished ? s->finished : now;
        cl_duration_format(s->started ? end - s->started : 0, dur,
                           sizeof(dur));
        printf("%-36s %-10s %-6s %-9s %-9d %s\n", s->name, s->phase, age, dur,
               s->priority, s->message);
    }
    cl_env_free(m);
    return 0;
}

static int verb_get(cli *c, opts *o)
{
    if (o->nargs < 1)
        return die(2, "get: a workflow name is required");
    int rc = 0;
    for (int i = 0; i < o->nargs; i++) {
        int rv;
        json_t *j = get_status(c, o->args[i], &rv);
        if (j == NULL) {
            rc = 1;
            continue;
        }
        if (o->output && strcmp(o->output, "json") == 0) {
            char *s = json_dumps(j, JSON_INDENT(2));
            printf("%s\n", s);
            free(s);
        } else if (o->output && strcmp(o->output, "name") == 0) {
            printf("%s\n", status_name(j));
        } else {
            bool wide = o->output && strcmp(o->output, "wide") == 0;
            print_tree(j, render_flags(wide, o->no_utf8), false);
        }
        json_decref(j);
    }
    return rc;
}

static int verb_logs(cli *c, opts *o)
{
    if (o->nargs < 1)
        return die(2, "logs: a workflow name is required");
    return do_logs(c, o->args[0], o->nargs > 1 ? o->args[1] : NULL,
                   o->follow, !o->no_prefix);
}

static int verb_wait(cli *c, opts *o)
{
    if (o->nargs < 1)
        return die(2, "wait: a workflow name is required");
    int rc = 0;
    for (int i = 0; i < o->nargs; i++) {
        int r = wait_for(c, o->args[i], false, 0, false);
        if (r != 0)
            rc = 1;
    }
    return rc;
}

static int verb_watch(cli *c, opts *o)
{
    if (o->nargs < 1)
        return die(2, "watch: a workflow name is required");
    return wait_for(c, o->args[0], true, render_flags(false, o->no_utf8),
                    false);
}

static int control(cli *c, opts *o, Couler__ControlRequest__Op op,
                   const char *verb, const char *done)
{
    if (o->nargs < 1)
        return die(2, "%s: a workflow name is required", verb);
    int rc = 0;
    for (int i = 0; i < o->nargs; i++) {
        Couler__ControlRequest req = COULER__CONTROL_REQUEST__INIT;
        req.op = op;
        req.name = o->args[i];
        req.message = (char *)(o->message ? o->message : "");
        ProtobufCMessage *m;
        if (call(c, COULER__MSG_TYPE__MSG_CONTROL, &req.base,
                 COULER__MSG_TYPE__MSG_CONTROL_REPLY, &m) != 0) {
            rc = 1;
            continue;
        }
        Couler__ControlReply *rep = (Couler__ControlReply *)m;
        printf("workflow %s %s\n", rep->name, done);
        char *name = strdup(rep->name);
        cl_env_free(m);
        if (op == COULER__CONTROL_REQUEST__OP__OP_RETRY &&
            (o->wait || o->watch)) {
            int r = wait_for(c, name, o->watch, render_flags(false, false),
                             false);
            if (r != 0)
                rc = r;
        }
        free(name);
    }
    return rc;
}

static int verb_resubmit(cli *c, opts *o)
{
    if (o->nargs < 1)
        return die(2, "resubmit: a workflow name is required");
    Couler__ResubmitRequest req = COULER__RESUBMIT_REQUEST__INIT;
    req.name = o->args[0];
    req.memoized = o->memoized;
    req.params = o->params.ptrs;
    req.n_params = o->params.n;
    ProtobufCMessage *m;
    if (call(c, COULER__MSG_TYPE__MSG_RESUBMIT, &req.base,
             COULER__MSG_TYPE__MSG_SUBMIT_REPLY, &m) != 0)
        return 1;
    char *name = strdup(((Couler__SubmitReply *)m)->name);
    cl_env_free(m);
    int r = after_submit(c, name, o);
    free(name);
    return r;
}

static void fmt_bytes(uint64_t b, char *buf, size_t len)
{
    if (b >= (1ULL << 30))
        snprintf(buf, len, "%.1fGi", (double)b / (double)(1ULL << 30));
    else
        snprintf(buf, len, "%lluMi", (unsigned long long)(b >> 20));
}

static int verb_nodes(cli *c, opts *o)
{
    Couler__NodesRequest req = COULER__NODES_REQUEST__INIT;
    bool wide = o->output && strcmp(o->output, "wide") == 0;
    bool json = o->output && strcmp(o->output, "json") == 0;
    req.wide = wide;
    ProtobufCMessage *m;
    if (call(c, COULER__MSG_TYPE__MSG_NODES, &req.base,
             COULER__MSG_TYPE__MSG_NODES_REPLY, &m) != 0)
        return 1;
    Couler__NodesReply *rep = (Couler__NodesReply *)m;
    json_t *arr = json ? json_array() : NULL;
    if (!json)
        printf("%-20s %-9s %-7s %-8s %-5s %-6s %-5s %-9s %-5s %s\n", "NAME",
               "STATE", "GOSSIP", "PACKAGES", "NUMA", "CORES", "PUS",
               "MEMORY", "GPUS", "RUNNING");
    for (size_t i = 0; i < rep->n_nodes; i++) {
        Couler__NodeInfo *n = rep->nodes[i];
        Couler__NodeSummary empty = COULER__NODE_SUMMARY__INIT;
        Couler__NodeSummary *s = n->summary ? n->summary : &empty;
        if (json) {
            json_t *run = json_array();
            for (size_t k = 0; k < n->n_running; k++)
                json_array_append_new(run, json_string(n->running[k]));
            json_t *labels = json_object();
            for (size_t k = 0; k < n->n_labels; k++)
                json_object_set_new(labels, n->labels[k]->name,
                                    json_string(n->labels[k]->value));
            json_array_append_new(
                arr, json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:I,s:i,s:o,s:o,"
                               "s:s,s:b,s:s}",
                               "name", n->node_id, "state", n->state,
                               "packages", s->packages, "numaNodes",
                               s->numa_nodes, "cores", s->cores, "pus",
                               s->pus, "memoryBytes",
                               (json_int_t)s->memory_bytes, "gpus", s->gpus,
                               "running", run, "labels", labels, "hostname",
                               s->hostname, "pretended", s->pretended,
                               "gossip", n->gossip_state));
            continue;
        }
        char mem[32];
        fmt_bytes(s->memory_bytes, mem, sizeof(mem));
        printf("%-20s %-9s %-7s %-8u %-5u %-6u %-5u %-9s %-5u %zu\n",
               n->node_id, n->state,
               n->gossip_state[0] ? n->gossip_state : "-", s->packages,
               s->numa_nodes, s->cores, s->pus, mem, s->gpus, n->n_running);
        if (wide) {
            for (size_t k = 0; k < n->n_labels; k++)
                printf("    label %s=%s\n", n->labels[k]->name,
                       n->labels[k]->value);
            for (size_t k = 0; k < s->n_gpu_models; k++)
                printf("    gpu %zu: %s\n", k, s->gpu_models[k]);
            if (n->model_text[0])
                printf("%s", n->model_text);
            for (size_t k = 0; k < n->n_running; k++)
                printf("    running %s\n", n->running[k]);
        }
    }
    if (json) {
        char *out = json_dumps(arr, JSON_INDENT(2));
        printf("%s\n", out);
        free(out);
        json_decref(arr);
    }
    cl_env_free(m);
    return 0;
}

static int verb_stats(cli *c, opts *o)
{
    (void)o;
    Couler__StatsRequest req = COULER__STATS_REQUEST__INIT;
    ProtobufCMessage *m;
    if (call(c, COULER__MSG_TYPE__MSG_STATS, &req.base,
             COULER__MSG_TYPE__MSG_STATS_REPLY, &m) != 0)
        return 1;
    Couler__StatsReply *rep = (Couler__StatsReply *)m;
    for (size_t i = 0; i < rep->n_counters; i++)
        printf("%s %s\n", rep->counters[i]->name, rep->counters[i]->value);
    cl_env_free(m);
    return 0;
}

static int verb_cache(cli *c, opts *o)
{
    if (o->nargs < 1)
        return die(2, "cache: ls, show KEY, rm KEY or prune --older-than D");
    Couler__CacheRequest req = COULER__CACHE_REQUEST__INIT;
    const char *op = o->args[0];
    if (strcmp(op, "ls") == 0 || strcmp(op, "list") == 0) {
        req.op = COULER__CACHE_REQUEST__OP__OP_LS;
    } else if (strcmp(op, "show") == 0 || strcmp(op, "rm") == 0) {
        if (o->nargs < 2)
            return die(2, "cache %s: a key is required (see `cache ls`)", op);
        req.op = op[0] == 's' ? COULER__CACHE_REQUEST__OP__OP_SHOW
                              : COULER__CACHE_REQUEST__OP__OP_RM;
        req.key = o->args[1];
    } else if (strcmp(op, "lookup") == 0) {
        if (o->nargs < 2)
            return die(2, "cache lookup: a key is required");
        req.op = COULER__CACHE_REQUEST__OP__OP_LOOKUP;
        req.key = o->args[1];
    } else if (strcmp(op, "prune") == 0) {
        int64_t ms;
        if (o->older_than == NULL || cl_duration_parse(o->older_than, &ms))
            return die(2, "cache prune: --older-than DURATION is required "
                          "(e.g. 24h)");
        req.op = COULER__CACHE_REQUEST__OP__OP_PRUNE;
        req.older_than_ms = ms;
    } else {
        return die(2, "cache: unknown operation '%s'", op);
    }
    ProtobufCMessage *m;
    if (call(c, COULER__MSG_TYPE__MSG_CACHE, &req.base,
             COULER__MSG_TYPE__MSG_CACHE_REPLY, &m) != 0)
        return 1;
    Couler__CacheReply *rep = (Couler__CacheReply *)m;
    fputs(rep->text, stdout);
    int rc = (req.op == COULER__CACHE_REQUEST__OP__OP_SHOW ||
              req.op == COULER__CACHE_REQUEST__OP__OP_RM) &&
                     rep->count == 0 && strstr(rep->text, "no entry")
                 ? 1
                 : 0;
    cl_env_free(m);
    return rc;
}

static int verb_lint(cli *c, opts *o)
{
    (void)c;
    if (o->nargs < 1)
        return die(2, "lint: a file or directory is required");
    int rc = 0;
    for (int i = 0; i < o->nargs; i++) {
        wf_diag d;
        wf_diag_init(&d);
        int rv = wf_lint_path(o->args[i], &d);
        for (size_t k = 0; k < d.nwarnings; k++)
            fprintf(stderr, "warning: %s\n", d.warnings[k]);
        if (rv != 0) {
            fprintf(stderr, "%s\n", d.err.msg);
            rc = 1;
        }
        wf_diag_free(&d);
    }
    if (rc == 0)
        printf("no linting errors found\n");
    return rc;
}

int coord_cli_main(const char *verb, int argc, char **argv)
{
    cli c = {0};
    c.coord = getenv("COULER_COORD");
    if (c.coord == NULL || c.coord[0] == '\0')
        c.coord = "tcp://127.0.0.1:7700";
    const char *t = getenv("COULER_TIMEOUT_MS");
    c.timeout_ms = t ? atoi(t) : 10000;
    opts o;
    int rv = parse_opts(&c, argc, argv, &o, verb);
    if (rv == -1) {
        coord_cli_usage(stdout);
        kv_free(&o.params);
        return 0;
    }
    if (rv != 0) {
        kv_free(&o.params);
        return 2;
    }
    if (strcmp(verb, "submit") == 0)
        rv = verb_submit(&c, &o);
    else if (strcmp(verb, "list") == 0)
        rv = verb_list(&c, &o);
    else if (strcmp(verb, "get") == 0)
        rv = verb_get(&c, &o);
    else if (strcmp(verb, "logs") == 0)
        rv = verb_logs(&c, &o);
    else if (strcmp(verb, "wait") == 0)
        rv = verb_wait(&c, &o);
    else if (strcmp(verb, "watch") == 0)
        rv = verb_watch(&c, &o);
    else if (strcmp(verb, "stop") == 0)
        rv = control(&c, &o, COULER__CONTROL_REQUEST__OP__OP_STOP, verb,
                     "stopped");
    else if (strcmp(verb, "terminate") == 0)
        rv = control(&c, &o, COULER__CONTROL_REQUEST__OP__OP_TERMINATE, verb,
                     "terminated");
    else if (strcmp(verb, "delete") == 0)
        rv = control(&c, &o, COULER__CONTROL_REQUEST__OP__OP_DELETE, verb,
                     "deleted");
    else if (strcmp(verb, "retry") == 0)
        rv = control(&c, &o, COULER__CONTROL_REQUEST__OP__OP_RETRY, verb,
                     "retried");
    else if (strcmp(verb, "resubmit") == 0)
        rv = verb_resubmit(&c, &o);
    else if (strcmp(verb, "nodes") == 0)
        rv = verb_nodes(&c, &o);
    else if (strcmp(verb, "stats") == 0)
        rv = verb_stats(&c, &o);
    else if (strcmp(verb, "lint") == 0)
        rv = verb_lint(&c, &o);
    else if (strcmp(verb, "cache") == 0)
        rv = verb_cache(&c, &o);
    else
        rv = die(2, "unknown command '%s' (see couler-coord --help)", verb);
    kv_free(&o.params);
    coord_client_close(c.cl);
    return rv;
}

void coord_cli_usage(FILE *f)
{
    fprintf(f,
        "Usage: couler-coord COMMAND [options]\n"
        "\n"
        "Daemon:\n"
        "  serve      run the coordinator\n"
        "  up         run a coordinator with an embedded agent (one node)\n"
        "\n"
        "Workflows (find the coordinator with --coord or COULER_COORD,\n"
        "default tcp://127.0.0.1:7700):\n"
        "  submit FILE|- [-p k=v]... [-f params.yaml] [--entrypoint E]\n"
        "         [--name N] [--generate-name P] [--priority N]\n"
        "         [--watch|--wait|--log] [-o name|json] [--dry-run]\n"
        "  list [--running|--completed] [--status S,...] [--prefix P]\n"
        "       [-o name|json] [--no-headers]\n"
        "  get NAME [-o json|wide|name] [--no-utf8]\n"
        "  logs NAME [STEP] [-f] [--no-prefix]\n"
        "  wait NAME...           exit 1 unless every one Succeeded\n"
        "  watch NAME\n"
        "  stop NAME [--message M]   kill running steps, run exit handlers\n"
        "  terminate NAME            kill running steps, no exit handlers\n"
        "  retry NAME [--wait|--watch]  rerun failed steps, keep the rest\n"
        "  resubmit NAME [--memoized] [-p k=v] [--wait|--watch]\n"
        "  delete NAME...\n"
        "  lint FILE|DIR...       check workflows offline\n"
        "\n"
        "Cache:\n"
        "  cache ls                        entries on every live node\n"
        "  cache show KEY                  an entry and its eviction score\n"
        "  cache rm KEY\n"
        "  cache lookup KEY                what a step with this key would "
        "find\n"
        "  cache prune --older-than D      entries unused for D (e.g. 24h)\n"
        "  (submit --cache off|memoize|auto overrides the policy)\n"
        "\n"
        "Cluster:\n"
        "  nodes [-o wide|json]   agents, their hardware and running steps\n"
        "  stats                  coordinator counters\n"
        "  version\n"
        "\n"
        "NAME may be @latest.\n");
}
