/* coord_api.c - the coordinator's state as JSON and text for the HTTP API
 * and the dashboard (coord_http.c): workflows, one workflow, its logs,
 * the nodes, and metrics in the Prometheus text format. Read-only views;
 * every function runs on the loop thread. */
#include "coordinator/coord_int.h"

#include "common/cl_heap.h"
#include "common/cl_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *time_or_null(int64_t ms)
{
    char buf[40];
    return ms > 0 ? json_string(cl_time_format_s(ms, buf, sizeof(buf)))
                  : json_null();
}

json_t *coord__api_workflows(coord *c)
{
    json_t *arr = json_array();
    for (coord_wf *w = c->wfs; arr && w; w = w->hh.next) {
        int64_t started =
            w->run ? wf_run_started_at(w->run) : w->rec->started;
        int64_t finished =
            w->run ? wf_run_finished_at(w->run) : w->rec->finished_at;
        const char *msg = w->run ? wf_run_message(w->run) : w->rec->message;
        json_t *o = json_pack(
            "{s:s,s:s,s:o,s:o,s:o,s:s,s:s,s:i,s:s}", "name", w->name, "phase",
            coord__wf_phase(w), "createdAt", time_or_null(w->rec->created),
            "startedAt", time_or_null(started), "finishedAt",
            time_or_null(finished), "message", msg ? msg : "", "progress",
            w->rec->progress ? w->rec->progress : "", "priority",
            w->rec->priority, "uid", w->rec->uid);
        if (o)
            json_array_append_new(arr, o);
    }
    return arr;
}

json_t *coord__api_workflow(coord *c, const char *name)
{
    coord_wf *w = coord__find_wf(c, name);
    if (w == NULL)
        return NULL;
    char *s = coord__status_json(c, w);
    if (s == NULL)
        return NULL;
    json_t *j = json_loads(s, 0, NULL);
    cl_free(s);
    return j;
}

int coord__api_logs(coord *c, const char *name, const char *step,
                    cl_buf *out, cl_errmsg *err)
{
    Couler__LogsRequest req = COULER__LOGS_REQUEST__INIT;
    req.name = (char *)name;
    req.step = (char *)(step ? step : "");
    req.max_bytes = 4u << 20;
    Couler__LogsReply rep = COULER__LOGS_REPLY__INIT;
    int rv = coord__logs(c, &req, &rep, err);
    if (rv == 0) {
        /* One "<step>: <line>" per line, as `couler-coord logs`. A line
         * may span chunks: an attempt's chunks come in a row, in order. */
        const char *pod = NULL;
        bool mid_line = false;
        for (size_t i = 0; i < rep.n_chunks; i++) {
            const Couler__LogChunk *ch = rep.chunks[i];
            if (mid_line && strcmp(pod, ch->pod) != 0) {
                cl_buf_putc(out, '\n');
                mid_line = false;
            }
            pod = ch->pod;
            const char *p = (const char *)ch->data.data;
            size_t left = ch->data.len;
            while (left > 0) {
                const char *nl = memchr(p, '\n', left);
                size_t len = nl ? (size_t)(nl - p) : left;
                if (!mid_line)
                    cl_buf_printf(out, "%s: ", ch->node_name);
                cl_buf_append(out, p, len);
                if (nl)
                    cl_buf_putc(out, '\n');
                mid_line = nl == NULL;
                p += len + (nl ? 1 : 0);
                left -= len + (nl ? 1 : 0);
            }
        }
        if (mid_line)
            cl_buf_putc(out, '\n');
        if (rep.more)
            cl_buf_puts(out, "... (more: use couler-coord logs)\n");
    }
    coord__logs_reply_free(&rep);
    return rv;
}

static const char *agent_state(enum coord_agent_state s)
{
    return s == COORD_AGENT_READY     ? "Ready"
           : s == COORD_AGENT_NOT_READY ? "NotReady"
                                        : "Lost";
}

json_t *coord__api_nodes(coord *c)
{
    json_t *arr = json_array();
    for (coord_agent *ag = c->agents; arr && ag; ag = ag->hh.next) {
        const Couler__NodeSummary *s = ag->reg ? ag->reg->summary : NULL;
        json_t *labels = json_object();
        for (size_t i = 0; ag->reg && i < ag->reg->n_labels; i++)
            json_object_set_new(labels, ag->reg->labels[i]->name,
                                json_string(ag->reg->labels[i]->value));
        json_t *running = json_array();
        for (coord_attempt *a = c->attempts; a; a = a->hh.next)
            if (a->agent && strcmp(a->agent, ag->id) == 0 &&
                (a->state == COORD_ATT_ASSIGNED ||
                 a->state == COORD_ATT_STARTED)) {
                char buf[600];
                snprintf(buf, sizeof(buf), "%s/%s", a->wf_name, a->display);
                json_array_append_new(running, json_string(buf));
            }
        cl_buf model = CL_BUF_INIT;
        coord__place_describe(c, ag->id, &model);
        json_t *o = json_pack(
            "{s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:I,s:i,s:o,s:o,s:s,s:b}", "name",
            ag->id, "state", agent_state(ag->state), "gossip",
            coord__gossip_state(c, ag->id), "packages",
            s ? s->packages : 0, "numaNodes", s ? s->numa_nodes : 0, "cores",
            s ? s->cores : 0, "pus", s ? s->pus : 0, "memoryBytes",
            (json_int_t)(s ? s->memory_bytes : 0), "gpus", s ? s->gpus : 0,
            "labels", labels, "running", running, "model",
            model.data ? model.data : "", "pretended",
            s ? s->pretended : false);
        cl_buf_free(&model);
        if (o)
            json_array_append_new(arr, o);
    }
    return arr;
}

void coord__api_metrics(coord *c, cl_buf *out)
{
    unsigned phases[8] = {0};
    static const char *names[] = {"Pending",   "Running", "Succeeded",
                                  "Failed",    "Error",   "Skipped",
                                  "Omitted"};
    for (coord_wf *w = c->wfs; w; w = w->hh.next) {
        int p = wf_phase_parse(coord__wf_phase(w));
        if (p >= 0 && p < 7)
            phases[p]++;
    }
    cl_buf_puts(out, "# HELP couler_workflows Workflows by phase.\n"
                     "# TYPE couler_workflows gauge\n");
    for (int i = 0; i < 7; i++)
        cl_buf_printf(out, "couler_workflows{phase=\"%s\"} %u\n", names[i],
                      phases[i]);
    unsigned ready = 0, lost = 0, other = 0, queued = 0, running = 0;
    for (coord_agent *ag = c->agents; ag; ag = ag->hh.next) {
        if (ag->state == COORD_AGENT_READY)
            ready++;
        else if (ag->state == COORD_AGENT_LOST)
            lost++;
        else
            other++;
    }
    for (coord_attempt *a = c->attempts; a; a = a->hh.next) {
        if (a->state == COORD_ATT_QUEUED || a->state == COORD_ATT_LOOKUP)
            queued++;
        else if (a->state == COORD_ATT_ASSIGNED ||
                 a->state == COORD_ATT_STARTED)
            running++;
    }
    cl_buf_printf(out,
                  "# HELP couler_nodes Agents by state.\n"
                  "# TYPE couler_nodes gauge\n"
                  "couler_nodes{state=\"Ready\"} %u\n"
                  "couler_nodes{state=\"NotReady\"} %u\n"
                  "couler_nodes{state=\"Lost\"} %u\n"
                  "# HELP couler_steps Steps waiting for a node and running.\n"
                  "# TYPE couler_steps gauge\n"
                  "couler_steps{state=\"queued\"} %u\n"
                  "couler_steps{state=\"running\"} %u\n",
                  ready, other, lost, queued, running);
    struct {
        const char *name, *help;
        uint64_t v;
    } ctr[] = {
        {"couler_steps_dispatched_total", "Steps the engines dispatched.",
         c->steps_dispatched},
        {"couler_steps_assigned_total", "Steps sent to agents.",
         c->steps_assigned},
        {"couler_steps_exited_total", "Steps that ended on an agent.",
         c->steps_exited},
        {"couler_steps_lost_total", "Steps whose node was lost.",
         c->steps_lost},
        {"couler_cache_hits_total", "Steps answered by the cache.",
         c->cache_hits},
        {"couler_bad_frames_total{socket=\"client\"}",
         "Malformed messages dropped.", c->bad_client_frames},
        {"couler_bad_frames_total{socket=\"agent\"}", NULL,
         c->bad_agent_frames},
        {"couler_store_errors_total", "Failed writes to the state store.",
         c->store_errors},
    };
    for (size_t i = 0; i < sizeof(ctr) / sizeof(ctr[0]); i++) {
        if (ctr[i].help) {
            char base[128];
            snprintf(base, sizeof(base), "%s", ctr[i].name);
            char *brace = strchr(base, '{');
            if (brace)
                *brace = '\0';
            cl_buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n", base,
                          ctr[i].help, base);
        }
        cl_buf_printf(out, "%s %llu\n", ctr[i].name,
                      (unsigned long long)ctr[i].v);
    }
}
