/* wf_vars.c - variables and substitution (ARGO.md B5, B7, B9).
 *
 * Simple tags ({{path}}) are looked up directly in the node table, without
 * building maps: that keeps the 100,000-step hot path free of JSON. Only an
 * expression tag ({{=expr}}) or an expression field builds the nested
 * environment that wf_expr_eval reads, and only once per context.
 */
#include "workflow/wf_int.h"

#include "common/cl_heap.h"
#include "common/cl_time.h"
#include "workflow/expr/wf_expr.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void wf__ctx_init(wf__ctx *c, wf_run *r)
{
    memset(c, 0, sizeof(*c));
    c->r = r;
    c->scope = WF_NONE;
    c->node = WF_NONE;
    c->retries = -1;
    c->arena = &r->arena;
}

void wf__ctx_fini(wf__ctx *c)
{
    json_decref(c->env);
    c->env = NULL;
    c->env_built = false;
}

char *wf__item_str(json_t *item)
{
    if (item == NULL)
        return cl_strdup("");
    if (json_is_string(item))
        return cl_strdup(json_string_value(item));
    char *s = wf_expr_render(item);
    if (s != NULL)
        return s;
    char *d = json_dumps(item, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    char *c = d ? cl_strdup(d) : NULL;
    free(d);
    return c;
}

static bool wf__eq(const char *s, size_t len, const char *lit)
{
    size_t l = strlen(lit);
    return len == l && memcmp(s, lit, l) == 0;
}

static bool wf__pre(const char *s, size_t len, const char *lit,
                    const char **rest, size_t *rlen)
{
    size_t l = strlen(lit);
    if (len < l || memcmp(s, lit, l) != 0)
        return false;
    *rest = s + l;
    *rlen = len - l;
    return true;
}

/* ---- scope lookups: steps.X / tasks.X ------------------------------------ */

uint32_t wf__scope_nodes(const wf_run *r, uint32_t scope, const char *name,
                         size_t len, const uint32_t **nodes, uint32_t *n,
                         const wf__step **step)
{
    *nodes = NULL;
    *n = 0;
    *step = NULL;
    if (scope == WF_NONE)
        return 0;
    const wf__node *sn = &r->nodes[scope];
    const wf__tmpl *t = sn->tmpl;
    if (sn->fr == NULL || t == NULL)
        return 0;
    const wf__step *st = wf__tmpl_step(t, name, len);
    if (st == NULL)
        return 0;
    *step = st;
    if (sn->type == WF__N_STEPS) {
        uint32_t g = st->group;
        uint32_t s = (uint32_t)(st - t->groups[g].steps);
        if (sn->fr->u.st.gnodes == NULL)
            return 0;
        uint32_t gn = sn->fr->u.st.gnodes[g];
        if (gn == WF_NONE || r->nodes[gn].fr == NULL)
            return 0;
        const wf__exp *e = &r->nodes[gn].fr->u.g.exp[s];
        *nodes = e->nodes;
        *n = e->n ? e->n : 1;
        return e->items != NULL && e->n > 0 ? 2 : 1;
    }
    if (sn->type == WF__N_DAG) {
        uint32_t i = (uint32_t)(st - t->tasks);
        if (sn->fr->u.d.tnode == NULL)
            return 0;
        uint32_t tn = sn->fr->u.d.tnode[i];
        if (tn == WF_NONE)
            return 0;
        const wf__node *nd = &r->nodes[tn];
        if (nd->type == WF__N_TASKGROUP && nd->fr != NULL) {
            *nodes = nd->fr->u.g.exp[0].nodes;
            *n = nd->fr->u.g.exp[0].n;
            return 2;
        }
        *nodes = &sn->fr->u.d.tnode[i];
        *n = 1;
        return 1;
    }
    return 0;
}

/* The TaskGroup node of a DAG loop task, for tasks.X.status. */
static uint32_t wf__scope_task_node(const wf_run *r, uint32_t scope,
                                    const char *name, size_t len)
{
    const wf__node *sn = &r->nodes[scope];
    if (sn->type != WF__N_DAG || sn->fr == NULL || sn->fr->u.d.tnode == NULL)
        return WF_NONE;
    const wf__step *st = wf__tmpl_step(sn->tmpl, name, len);
    return st ? sn->fr->u.d.tnode[st - sn->tmpl->tasks] : WF_NONE;
}

const wf__io *wf__node_outputs(const wf_run *r, uint32_t n)
{
    return n < r->nnodes ? r->nodes[n].io : NULL;
}

static bool wf__skipped(int phase)
{
    return phase == WF_SKIPPED || phase == WF_OMITTED;
}

/* The declared valueFrom.default of output p of the step's template. */
static const wf__param *wf__out_decl(const wf__step *st, const char *p,
                                     size_t len)
{
    if (st == NULL || st->tmpl == NULL)
        return NULL;
    const wf__tmpl *t = st->tmpl;
    for (uint32_t i = 0; i < t->outputs.nparams; i++)
        if (strlen(t->outputs.params[i].name) == len &&
            !memcmp(t->outputs.params[i].name, p, len))
            return &t->outputs.params[i];
    return NULL;
}

/* B7: aggregate the outputs of loop children (Succeeded ones, in order). */
int wf__aggregate(wf_run *r, const uint32_t *nodes, uint32_t n,
                  const char *what, const char *pname, cl_buf *out)
{
    json_t *list = json_array();
    if (list == NULL)
        return CL_ENOMEM;
    bool all_json = true;
    json_t *vals = json_array();
    if (vals == NULL) {
        json_decref(list);
        return CL_ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c = nodes[i];
        if (c >= r->nnodes)
            continue;
        const wf__node *cn = &r->nodes[c];
        if (cn->phase != WF_SUCCEEDED || cn->io == NULL)
            continue;
        const wf__io *io = cn->io;
        if (!strcmp(what, "result")) {
            if (io->result == NULL)
                continue;
            json_error_t je;
            json_t *v = json_loads(io->result, JSON_DECODE_ANY, &je);
            if (v == NULL)
                v = json_string(io->result);
            json_array_append_new(list, v);
        } else if (!strcmp(what, "parameters")) {
            if (io->nout == 0)
                continue;
            json_t *m = json_object();
            for (uint32_t k = 0; k < io->nout; k++)
                json_object_set_new(m, io->out[k].name,
                                    json_string(io->out[k].value));
            json_array_append_new(list, m);
        } else {
            for (uint32_t k = 0; k < io->nout; k++) {
                if (strcmp(io->out[k].name, pname) != 0)
                    continue;
                const char *v = io->out[k].value;
                json_array_append_new(vals, json_string(v));
                json_error_t je;
                json_t *d = json_loads(v, JSON_DECODE_ANY, &je);
                if (d == NULL || !(json_is_object(d) || json_is_array(d)))
                    all_json = false;
                json_decref(d);
            }
        }
    }
    json_t *res = list;
    if (strcmp(what, "result") != 0 && strcmp(what, "parameters") != 0) {
        if (all_json && json_array_size(vals) > 0) {
            size_t i;
            json_t *v;
            json_array_foreach(vals, i, v)
            {
                json_error_t je;
                json_array_append_new(
                    list, json_loads(json_string_value(v), JSON_DECODE_ANY,
                                     &je));
            }
        } else {
            json_decref(list);
            list = json_incref(vals);
            res = list;
        }
    }
    json_decref(vals);
    char *s = json_dumps(res, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(list);
    if (s == NULL)
        return CL_ENOMEM;
    cl_buf_puts(out, s);
    free(s);
    return cl_buf_ok(out) ? 0 : CL_ENOMEM;
}

static void wf__put_time(cl_buf *out, int64_t ms)
{
    char buf[32];
    wf__fmt_time(ms, buf, sizeof(buf));
    cl_buf_puts(out, buf);
}

/* steps.X.<rest> or tasks.X.<rest> */
static enum wf__vres wf__lookup_step(wf__ctx *c, const char *s, size_t len,
                                     cl_buf *out)
{
    wf_run *r = c->r;
    size_t nl = 0;
    while (nl < len && s[nl] != '.')
        nl++;
    if (nl == len)
        return WF__V_UNKNOWN;
    const char *rest = s + nl + 1;
    size_t rl = len - nl - 1;
    const uint32_t *nodes;
    uint32_t n;
    const wf__step *st;
    uint32_t kind = wf__scope_nodes(r, c->scope, s, nl, &nodes, &n, &st);
    if (kind == 0)
        return st != NULL ? WF__V_LATER : WF__V_UNKNOWN;
    if (kind == 2) {
        /* a loop: aggregated once every child is done */
        for (uint32_t i = 0; i < n; i++)
            if (nodes[i] >= r->nnodes ||
                !wf_phase_done(r->nodes[nodes[i]].phase))
                return WF__V_LATER;
        const char *p;
        size_t pl;
        if (wf__eq(rest, rl, "outputs.result"))
            return wf__aggregate(r, nodes, n, "result", NULL, out)
                       ? WF__V_LATER
                       : WF__V_OK;
        if (wf__eq(rest, rl, "outputs.parameters"))
            return wf__aggregate(r, nodes, n, "parameters", NULL, out)
                       ? WF__V_LATER
                       : WF__V_OK;
        if (wf__pre(rest, rl, "outputs.parameters.", &p, &pl)) {
            char name[256];
            snprintf(name, sizeof(name), "%.*s", (int)pl, p);
            return wf__aggregate(r, nodes, n, "param", name, out)
                       ? WF__V_LATER
                       : WF__V_OK;
        }
        if (wf__eq(rest, rl, "status")) {
            uint32_t tg = wf__scope_task_node(r, c->scope, s, nl);
            if (tg == WF_NONE)
                return WF__V_LATER;
            cl_buf_puts(out, wf_phase_name(r->nodes[tg].phase));
            return WF__V_OK;
        }
        return WF__V_LATER;
    }
    uint32_t x = nodes[0];
    if (x >= r->nnodes)
        return WF__V_LATER;
    const wf__node *nd = &r->nodes[x];
    const wf__io *io = nd->io;
    if (wf__eq(rest, rl, "id")) {
        cl_buf_puts(out, nd->id);
        return WF__V_OK;
    }
    if (wf__eq(rest, rl, "status")) {
        cl_buf_puts(out, wf_phase_name(nd->phase));
        return WF__V_OK;
    }
    if (wf__eq(rest, rl, "startedAt")) {
        wf__put_time(out, nd->started);
        return WF__V_OK;
    }
    if (wf__eq(rest, rl, "finishedAt")) {
        if (!wf_phase_done(nd->phase))
            return WF__V_LATER;
        wf__put_time(out, nd->finished);
        return WF__V_OK;
    }
    if (wf__eq(rest, rl, "hostNodeName") || wf__eq(rest, rl, "ip")) {
        if (nd->host == NULL)
            return wf_phase_done(nd->phase) ? WF__V_OK : WF__V_LATER;
        cl_buf_puts(out, nd->host);
        return WF__V_OK;
    }
    if (!wf_phase_done(nd->phase))
        return WF__V_LATER;
    if (wf__eq(rest, rl, "exitCode")) {
        if (io == NULL || !io->has_exit)
            return WF__V_LATER;
        cl_buf_printf(out, "%d", io->exit_code);
        return WF__V_OK;
    }
    if (wf__eq(rest, rl, "outputs.result")) {
        if (wf__skipped(nd->phase))
            return WF__V_ABSENT;
        if (io == NULL || io->result == NULL)
            return WF__V_LATER;
        cl_buf_puts(out, io->result);
        return WF__V_OK;
    }
    const char *p;
    size_t pl;
    if (wf__pre(rest, rl, "outputs.parameters.", &p, &pl)) {
        for (uint32_t k = 0; io != NULL && k < io->nout; k++)
            if (strlen(io->out[k].name) == pl &&
                !memcmp(io->out[k].name, p, pl)) {
                cl_buf_puts(out, io->out[k].value);
                return WF__V_OK;
            }
        if (wf__skipped(nd->phase)) {
            const wf__param *d = wf__out_decl(st, p, pl);
            if (d != NULL && d->has_vf_default) {
                cl_buf_puts(out, d->def);
                return WF__V_OK;
            }
            return WF__V_ABSENT;
        }
        return WF__V_LATER;
    }
    if (wf__eq(rest, rl, "outputs.parameters")) {
        if (io == NULL)
            return WF__V_LATER;
        json_t *m = json_object();
        for (uint32_t k = 0; k < io->nout; k++)
            json_object_set_new(m, io->out[k].name,
                                json_string(io->out[k].value));
        char *d = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(m);
        if (d == NULL)
            return WF__V_LATER;
        cl_buf_puts(out, d);
        free(d);
        return WF__V_OK;
    }
    return WF__V_LATER;
}

static const char *wf__wf_status(const wf_run *r)
{
    if (r->root == WF_NONE)
        return NULL;
    int p = r->nodes[r->root].phase;
    if (!wf_phase_done(p))
        return NULL;
    if (r->stop != WF__RUNNING)
        return "Failed";
    return p == WF_FAILED ? "Failed" : p == WF_ERROR ? "Error" : "Succeeded";
}

const char *wf__failures_json(wf_run *r)
{
    json_t *a = json_array();
    if (a == NULL)
        return NULL;
    for (uint32_t i = 0; i < r->nnodes; i++) {
        const wf__node *n = &r->nodes[i];
        if (n->phase != WF_FAILED && n->phase != WF_ERROR)
            continue;
        if (n->flags & WF__F_EXIT_CTX)
            continue;
        char ts[32];
        wf__fmt_time(n->finished, ts, sizeof(ts));
        json_t *o = json_object();
        json_object_set_new(o, "displayName",
                            json_string(n->name + n->display_off));
        json_object_set_new(o, "message", json_string(n->message ? n->message
                                                                 : ""));
        json_object_set_new(o, "templateName",
                            json_string(n->tmpl && n->tmpl->name
                                            ? n->tmpl->name
                                            : ""));
        json_object_set_new(o, "phase", json_string(wf_phase_name(n->phase)));
        json_object_set_new(o, "podName", json_string(n->id));
        json_object_set_new(o, "finishedAt", json_string(ts));
        json_array_append_new(a, o);
    }
    char *s = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(a);
    if (s == NULL)
        return NULL;
    const char *res = wf__rstrdup(r, s);
    free(s);
    return res;
}

static enum wf__vres wf__lookup_wf(wf__ctx *c, const char *s, size_t len,
                                   cl_buf *out)
{
    wf_run *r = c->r;
    const char *rest;
    size_t rl;
    if (wf__eq(s, len, "name")) {
        cl_buf_puts(out, r->name);
        return WF__V_OK;
    }
    if (wf__eq(s, len, "namespace")) {
        cl_buf_puts(out, "default");
        return WF__V_OK;
    }
    if (wf__eq(s, len, "uid")) {
        cl_buf_puts(out, r->uid);
        return WF__V_OK;
    }
    if (wf__eq(s, len, "mainEntrypoint")) {
        cl_buf_puts(out, r->entrypoint);
        return WF__V_OK;
    }
    if (wf__eq(s, len, "serviceAccountName")) {
        cl_buf_puts(out, r->spec->service_account ? r->spec->service_account
                                                  : "default");
        return WF__V_OK;
    }
    if (wf__eq(s, len, "priority")) {
        cl_buf_printf(out, "%d", r->priority);
        return WF__V_OK;
    }
    if (wf__eq(s, len, "duration")) {
        int64_t d = r->started ? r->now - r->started : 0;
        cl_buf_printf(out, "%f", (double)d / 1000.0);
        return WF__V_OK;
    }
    if (wf__eq(s, len, "status")) {
        const char *st = wf__wf_status(r);
        if (st == NULL)
            return WF__V_LATER;
        cl_buf_puts(out, st);
        return WF__V_OK;
    }
    if (wf__eq(s, len, "failures")) {
        if (wf__wf_status(r) == NULL)
            return WF__V_LATER;
        const char *f = wf__failures_json(r);
        if (f == NULL)
            return WF__V_LATER;
        cl_buf_puts(out, f);
        return WF__V_OK;
    }
    if (wf__pre(s, len, "creationTimestamp", &rest, &rl)) {
        int64_t ms = r->created;
        if (rl == 0 || wf__eq(rest, rl, ".RFC3339")) {
            wf__put_time(out, ms);
            return WF__V_OK;
        }
        if (wf__eq(rest, rl, ".s")) {
            cl_buf_printf(out, "%" PRId64, ms / 1000);
            return WF__V_OK;
        }
        if (rl == 2 && rest[0] == '.') {
            char fmt[3] = {'%', rest[1], 0};
            time_t tt = (time_t)(ms / 1000);
            struct tm tm;
            gmtime_r(&tt, &tm);
            char buf[64];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
            size_t w = strftime(buf, sizeof(buf), fmt, &tm);
#pragma GCC diagnostic pop
            if (w == 0 && rest[1] != 'p')
                return WF__V_UNKNOWN;
            cl_buf_append(out, buf, w);
            return WF__V_OK;
        }
        return WF__V_UNKNOWN;
    }
    if (wf__pre(s, len, "parameters", &rest, &rl)) {
        if (rl == 0 || wf__eq(rest, rl, ".json")) {
            json_t *a = json_array();
            for (uint32_t i = 0; i < r->nwparams; i++) {
                json_t *o = json_object();
                json_object_set_new(o, "name",
                                    json_string(r->wparams[i].name));
                json_object_set_new(o, "value",
                                    json_string(r->wparams[i].value));
                json_array_append_new(a, o);
            }
            char *d = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);
            json_decref(a);
            if (d == NULL)
                return WF__V_LATER;
            cl_buf_puts(out, d);
            free(d);
            return WF__V_OK;
        }
        if (rest[0] != '.')
            return WF__V_UNKNOWN;
        rest++;
        rl--;
        for (uint32_t i = 0; i < r->nwparams; i++)
            if (strlen(r->wparams[i].name) == rl &&
                !memcmp(r->wparams[i].name, rest, rl)) {
                cl_buf_puts(out, r->wparams[i].value);
                return WF__V_OK;
            }
        return WF__V_UNKNOWN;
    }
    if (wf__pre(s, len, "labels", &rest, &rl) ||
        wf__pre(s, len, "annotations", &rest, &rl)) {
        json_t *o = s[0] == 'l' ? r->labels : r->spec->annotations;
        if (wf__eq(rest, rl, ".json")) {
            char *d = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)
                        : NULL;
            cl_buf_puts(out, d ? d : "{}");
            free(d);
            return WF__V_OK;
        }
        if (rl < 2 || rest[0] != '.')
            return WF__V_UNKNOWN;
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int)rl - 1, rest + 1);
        json_t *v = o ? json_object_get(o, key) : NULL;
        if (!json_is_string(v))
            return WF__V_UNKNOWN;
        cl_buf_puts(out, json_string_value(v));
        return WF__V_OK;
    }
    if (wf__pre(s, len, "outputs.parameters.", &rest, &rl)) {
        for (uint32_t i = 0; i < r->ngparams; i++)
            if (strlen(r->gparams[i].name) == rl &&
                !memcmp(r->gparams[i].name, rest, rl)) {
                cl_buf_puts(out, r->gparams[i].value);
                return WF__V_OK;
            }
        return WF__V_LATER;
    }
    return WF__V_UNKNOWN;
}

enum wf__vres wf__lookup(wf__ctx *c, const char *s, size_t len, cl_buf *out)
{
    wf_run *r = c->r;
    const char *rest;
    size_t rl;
    if (wf__eq(s, len, "item")) {
        if (c->item == NULL)
            return WF__V_UNKNOWN;
        char *v = wf__item_str(c->item);
        if (v == NULL)
            return WF__V_LATER;
        cl_buf_puts(out, v);
        cl_free(v);
        return WF__V_OK;
    }
    if (wf__pre(s, len, "item.", &rest, &rl)) {
        if (!json_is_object(c->item))
            return WF__V_UNKNOWN;
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int)rl, rest);
        json_t *v = json_object_get(c->item, key);
        if (v == NULL)
            return WF__V_UNKNOWN;
        char *vs = wf__item_str(v);
        cl_buf_puts(out, vs ? vs : "");
        cl_free(vs);
        return WF__V_OK;
    }
    if (wf__pre(s, len, "inputs.parameters", &rest, &rl)) {
        const wf__io *io = c->inputs;
        if (rl == 0) {
            json_t *a = json_array();
            for (uint32_t i = 0; io != NULL && i < io->nin; i++) {
                json_t *o = json_object();
                json_object_set_new(o, "name", json_string(io->in[i].name));
                json_object_set_new(o, "value", json_string(io->in[i].value));
                json_array_append_new(a, o);
            }
            char *d = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);
            json_decref(a);
            if (d == NULL)
                return WF__V_LATER;
            cl_buf_puts(out, d);
            free(d);
            return WF__V_OK;
        }
        if (rest[0] != '.')
            return WF__V_UNKNOWN;
        rest++;
        rl--;
        for (uint32_t i = 0; io != NULL && i < io->nin; i++)
            if (strlen(io->in[i].name) == rl &&
                !memcmp(io->in[i].name, rest, rl)) {
                cl_buf_puts(out, io->in[i].value);
                return WF__V_OK;
            }
        return WF__V_LATER;
    }
    if (wf__pre(s, len, "inputs.artifacts.", &rest, &rl) ||
        wf__pre(s, len, "outputs.artifacts.", &rest, &rl) ||
        wf__pre(s, len, "outputs.parameters.", &rest, &rl)) {
        /* only the .path placeholders are strings */
        if (rl < 5 || memcmp(rest + rl - 5, ".path", 5) != 0 || c->tmpl == NULL)
            return WF__V_LATER;
        size_t nl = rl - 5;
        const wf__tmpl *t = c->tmpl;
        if (s[0] == 'i') {
            for (uint32_t i = 0; i < t->inputs.narts; i++)
                if (strlen(t->inputs.arts[i].name) == nl &&
                    !memcmp(t->inputs.arts[i].name, rest, nl) &&
                    t->inputs.arts[i].path) {
                    cl_buf_puts(out, t->inputs.arts[i].path);
                    return WF__V_OK;
                }
        } else if (s[8] == 'a') {
            for (uint32_t i = 0; i < t->outputs.narts; i++)
                if (strlen(t->outputs.arts[i].name) == nl &&
                    !memcmp(t->outputs.arts[i].name, rest, nl) &&
                    t->outputs.arts[i].path) {
                    cl_buf_puts(out, t->outputs.arts[i].path);
                    return WF__V_OK;
                }
        } else {
            for (uint32_t i = 0; i < t->outputs.nparams; i++)
                if (strlen(t->outputs.params[i].name) == nl &&
                    !memcmp(t->outputs.params[i].name, rest, nl) &&
                    t->outputs.params[i].vf_path) {
                    cl_buf_puts(out, t->outputs.params[i].vf_path);
                    return WF__V_OK;
                }
        }
        return WF__V_LATER;
    }
    if (wf__pre(s, len, "workflow.", &rest, &rl))
        return wf__lookup_wf(c, rest, rl, out);
    if (wf__pre(s, len, "steps.", &rest, &rl) ||
        wf__pre(s, len, "tasks.", &rest, &rl)) {
        if (wf__eq(rest, rl, "name")) {
            if (c->node == WF_NONE)
                return WF__V_LATER;
            cl_buf_puts(out, r->nodes[c->node].name +
                                 r->nodes[c->node].display_off);
            return WF__V_OK;
        }
        return wf__lookup_step(c, rest, rl, out);
    }
    if (wf__eq(s, len, "pod.name")) {
        if (c->node == WF_NONE)
            return WF__V_LATER;
        cl_buf_puts(out, r->nodes[c->node].id);
        return WF__V_OK;
    }
    if (wf__eq(s, len, "node.name")) {
        if (c->node == WF_NONE)
            return WF__V_LATER;
        cl_buf_puts(out, r->nodes[c->node].name);
        return WF__V_OK;
    }
    if (wf__eq(s, len, "retries")) {
        if (c->retries < 0)
            return WF__V_LATER;
        cl_buf_printf(out, "%d", c->retries);
        return WF__V_OK;
    }
    if (wf__pre(s, len, "lastRetry.", &rest, &rl)) {
        if (c->last_retry == NULL)
            return WF__V_LATER;
        char key[64];
        snprintf(key, sizeof(key), "%.*s", (int)rl, rest);
        json_t *v = json_object_get(c->last_retry, key);
        if (!json_is_string(v))
            return WF__V_UNKNOWN;
        cl_buf_puts(out, json_string_value(v));
        return WF__V_OK;
    }
    return WF__V_UNKNOWN;
}

/* ---- the expression environment -------------------------------------------- */

json_t *wf__art_to_json(const wf__aref *a)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "name", json_string(a->name ? a->name : ""));
    if (a->path)
        json_object_set_new(o, "path", json_string(a->path));
    if (a->digest)
        json_object_set_new(o, "digest", json_string(a->digest));
    if (a->host)
        json_object_set_new(o, "host", json_string(a->host));
    if (a->raw)
        json_object_set_new(o, "raw", json_string(a->raw));
    json_object_set_new(o, "size", json_integer((json_int_t)a->size));
    if (a->is_dir)
        json_object_set_new(o, "isDir", json_true());
    return o;
}

int wf__art_from_json(wf_run *r, json_t *v, wf__aref *out)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(v))
        return CL_EINVAL;
    json_t *d = json_object_get(v, "digest");
    json_t *raw = json_object_get(v, "raw");
    if (!json_is_string(d) && !json_is_string(raw))
        return CL_EINVAL;
    out->name = wf__rstrdup(r, json_string_value(json_object_get(v, "name")));
    out->digest = json_is_string(d) ? wf__rstrdup(r, json_string_value(d))
                                    : NULL;
    out->host = wf__rstrdup(r, json_string_value(json_object_get(v, "host")));
    out->raw = json_is_string(raw) ? wf__rstrdup(r, json_string_value(raw))
                                   : NULL;
    out->path = wf__rstrdup(r, json_string_value(json_object_get(v, "path")));
    json_t *sz = json_object_get(v, "size");
    out->size = json_is_integer(sz) ? (uint64_t)json_integer_value(sz) : 0;
    out->is_dir = json_is_true(json_object_get(v, "isDir"));
    return 0;
}

static json_t *wf__jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* A node as steps.X / tasks.X in the environment. */
static json_t *wf__env_node(wf_run *r, uint32_t x, const wf__step *st)
{
    const wf__node *nd = &r->nodes[x];
    const wf__io *io = nd->io;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(nd->id));
    json_object_set_new(o, "status", json_string(wf_phase_name(nd->phase)));
    char ts[32];
    wf__fmt_time(nd->started, ts, sizeof(ts));
    json_object_set_new(o, "startedAt", json_string(ts));
    if (wf_phase_done(nd->phase)) {
        wf__fmt_time(nd->finished, ts, sizeof(ts));
        json_object_set_new(o, "finishedAt", json_string(ts));
    }
    if (nd->host)
        json_object_set_new(o, "hostNodeName", json_string(nd->host));
    if (io && io->has_exit) {
        char b[16];
        snprintf(b, sizeof(b), "%d", io->exit_code);
        json_object_set_new(o, "exitCode", json_string(b));
    }
    json_t *outs = json_object();
    json_t *params = json_object();
    json_t *arts = json_object();
    if (io && io->result)
        json_object_set_new(outs, "result", json_string(io->result));
    else if (wf__skipped(nd->phase))
        json_object_set_new(outs, "result", json_null());
    for (uint32_t k = 0; io && k < io->nout; k++)
        json_object_set_new(params, io->out[k].name,
                            json_string(io->out[k].value));
    if (wf__skipped(nd->phase) && st && st->tmpl) {
        const wf__tmpl *t = st->tmpl;
        for (uint32_t k = 0; k < t->outputs.nparams; k++) {
            const wf__param *p = &t->outputs.params[k];
            if (json_object_get(params, p->name) == NULL)
                json_object_set_new(params, p->name,
                                    p->has_vf_default ? json_string(p->def)
                                                      : json_null());
        }
    }
    for (uint32_t k = 0; io && k < io->nout_arts; k++)
        json_object_set_new(arts, io->out_arts[k].name,
                            wf__art_to_json(&io->out_arts[k]));
    json_object_set_new(outs, "parameters", params);
    json_object_set_new(outs, "artifacts", arts);
    json_object_set_new(o, "outputs", outs);
    return o;
}

static json_t *wf__env_scope(wf_run *r, uint32_t scope)
{
    json_t *m = json_object();
    const wf__node *sn = &r->nodes[scope];
    const wf__tmpl *t = sn->tmpl;
    if (sn->fr == NULL)
        return m;
    uint32_t ng = sn->type == WF__N_STEPS ? t->ngroups : 1;
    for (uint32_t g = 0; g < ng; g++) {
        const wf__step *steps = sn->type == WF__N_STEPS ? t->groups[g].steps
                                                        : t->tasks;
        uint32_t ns = sn->type == WF__N_STEPS ? t->groups[g].nsteps
                                              : t->ntasks;
        for (uint32_t s = 0; s < ns; s++) {
            const uint32_t *nodes;
            uint32_t n;
            const wf__step *st;
            uint32_t kind = wf__scope_nodes(r, scope, steps[s].name,
                                            strlen(steps[s].name), &nodes, &n,
                                            &st);
            if (kind == 0)
                continue;
            if (kind == 1) {
                if (nodes[0] < r->nnodes)
                    json_object_set_new(m, steps[s].name,
                                        wf__env_node(r, nodes[0], st));
                continue;
            }
            bool done = true;
            for (uint32_t i = 0; i < n; i++)
                done = done && nodes[i] < r->nnodes &&
                       wf_phase_done(r->nodes[nodes[i]].phase);
            if (!done)
                continue;
            json_t *o = json_object();
            json_t *outs = json_object();
            json_t *params = json_object();
            cl_buf b = CL_BUF_INIT;
            if (wf__aggregate(r, nodes, n, "result", NULL, &b) == 0)
                json_object_set_new(outs, "result",
                                    json_string(b.data ? b.data : "[]"));
            cl_buf_reset(&b);
            if (st && st->tmpl) {
                for (uint32_t k = 0; k < st->tmpl->outputs.nparams; k++) {
                    const char *pn = st->tmpl->outputs.params[k].name;
                    cl_buf_reset(&b);
                    if (wf__aggregate(r, nodes, n, "param", pn, &b) == 0)
                        json_object_set_new(params, pn,
                                            json_string(b.data ? b.data
                                                               : "[]"));
                }
            }
            cl_buf_free(&b);
            json_object_set_new(outs, "parameters", params);
            json_object_set_new(o, "outputs", outs);
            json_object_set_new(m, steps[s].name, o);
        }
    }
    return m;
}

json_t *wf__env(wf__ctx *c)
{
    if (c->env_built)
        return c->env;
    c->env_built = true;
    wf_run *r = c->r;
    json_t *env = json_object();
    if (env == NULL)
        return NULL;
    /* inputs */
    json_t *inputs = json_object();
    json_t *ip = json_object();
    json_t *ia = json_object();
    for (uint32_t i = 0; c->inputs && i < c->inputs->nin; i++)
        json_object_set_new(ip, c->inputs->in[i].name,
                            json_string(c->inputs->in[i].value));
    for (uint32_t i = 0; c->inputs && i < c->inputs->nin_arts; i++)
        json_object_set_new(ia, c->inputs->in_arts[i].name,
                            wf__art_to_json(&c->inputs->in_arts[i]));
    json_object_set_new(inputs, "parameters", ip);
    json_object_set_new(inputs, "artifacts", ia);
    json_object_set_new(env, "inputs", inputs);
    /* workflow */
    json_t *w = json_object();
    json_object_set_new(w, "name", json_string(r->name));
    json_object_set_new(w, "namespace", json_string("default"));
    json_object_set_new(w, "uid", json_string(r->uid));
    json_object_set_new(w, "mainEntrypoint", json_string(r->entrypoint));
    json_object_set_new(w, "serviceAccountName",
                        json_string(r->spec->service_account
                                        ? r->spec->service_account
                                        : "default"));
    char buf[64];
    snprintf(buf, sizeof(buf), "%d", r->priority);
    json_object_set_new(w, "priority", json_string(buf));
    wf__fmt_time(r->created, buf, sizeof(buf));
    json_object_set_new(w, "creationTimestamp", json_string(buf));
    snprintf(buf, sizeof(buf), "%f",
             (double)(r->started ? r->now - r->started : 0) / 1000.0);
    json_object_set_new(w, "duration", json_string(buf));
    json_t *wp = json_object();
    cl_buf b = CL_BUF_INIT;
    for (uint32_t i = 0; i < r->nwparams; i++)
        json_object_set_new(wp, r->wparams[i].name,
                            json_string(r->wparams[i].value));
    wf__ctx tmp;
    wf__ctx_init(&tmp, r);
    if (wf__lookup_wf(&tmp, "parameters.json", 15, &b) == WF__V_OK)
        json_object_set_new(wp, "json", json_string(b.data ? b.data : "[]"));
    cl_buf_reset(&b);
    json_object_set_new(w, "parameters", wp);
    const char *st = wf__wf_status(r);
    if (st != NULL) {
        json_object_set_new(w, "status", json_string(st));
        const char *f = wf__failures_json(r);
        if (f)
            json_object_set_new(w, "failures", json_string(f));
    }
    json_object_set_new(w, "labels",
                        r->labels ? json_deep_copy(r->labels) : json_object());
    json_object_set_new(w, "annotations",
                        r->spec->annotations
                            ? json_deep_copy(r->spec->annotations)
                            : json_object());
    json_t *wo = json_object(), *wop = json_object(), *woa = json_object();
    for (uint32_t i = 0; i < r->ngparams; i++)
        json_object_set_new(wop, r->gparams[i].name,
                            json_string(r->gparams[i].value));
    for (uint32_t i = 0; i < r->ngarts; i++)
        json_object_set_new(woa, r->garts[i].name,
                            wf__art_to_json(&r->garts[i]));
    json_object_set_new(wo, "parameters", wop);
    json_object_set_new(wo, "artifacts", woa);
    json_object_set_new(w, "outputs", wo);
    json_object_set_new(env, "workflow", w);
    cl_buf_free(&b);
    /* steps / tasks */
    if (c->scope != WF_NONE) {
        const char *key = r->nodes[c->scope].type == WF__N_DAG ? "tasks"
                                                               : "steps";
        json_object_set_new(env, key, wf__env_scope(r, c->scope));
    }
    if (c->item != NULL)
        json_object_set(env, "item", c->item);
    if (c->retries >= 0) {
        snprintf(buf, sizeof(buf), "%d", c->retries);
        json_object_set_new(env, "retries", json_string(buf));
    }
    if (c->last_retry != NULL)
        json_object_set(env, "lastRetry", c->last_retry);
    if (c->node != WF_NONE) {
        json_t *pod = json_object();
        json_object_set_new(pod, "name", json_string(r->nodes[c->node].id));
        json_object_set_new(env, "pod", pod);
        json_t *node = json_object();
        json_object_set_new(node, "name",
                            json_string(r->nodes[c->node].name));
        json_object_set_new(env, "node", node);
    }
    (void)wf__jstr;
    c->env = env;
    return env;
}

int wf__eval(wf__ctx *c, const char *src, json_t **out, cl_errmsg *err)
{
    json_t *env = wf__env(c);
    if (env == NULL)
        return CL_ENOMEM;
    return wf_expr_eval(src, env, out, err);
}

/* ---- substitution ---------------------------------------------------------- */

int wf__subst(wf__ctx *c, const char *in, const char **out,
              uint32_t *unresolved, uint32_t *absent, cl_errmsg *err)
{
    *out = NULL;
    if (in == NULL)
        return 0;
    const char *p = strstr(in, "{{");
    if (p == NULL) {
        *out = in;
        return 0;
    }
    cl_buf b = CL_BUF_INIT;
    const char *s = in;
    int rv = 0;
    while (p != NULL) {
        const char *e = strstr(p + 2, "}}");
        if (e == NULL)
            break;
        cl_buf_append(&b, s, (size_t)(p - s));
        const char *t = p + 2;
        const char *te = e;
        while (t < te && isspace((unsigned char)*t))
            t++;
        while (te > t && isspace((unsigned char)te[-1]))
            te--;
        if (t < te && *t == '=') {
            char *src = cl_strndup(t + 1, (size_t)(te - t - 1));
            if (src == NULL) {
                rv = CL_ENOMEM;
                break;
            }
            json_t *v = NULL;
            cl_errmsg em;
            cl_errmsg_clear(&em);
            int erv = wf__eval(c, src, &v, &em);
            cl_free(src);
            if (erv == 0) {
                char *txt = wf_expr_render(v);
                json_decref(v);
                if (txt == NULL) {
                    rv = CL_ENOMEM;
                    break;
                }
                cl_buf_puts(&b, txt);
                cl_free(txt);
            } else if (erv == CL_ENOENT) {
                cl_buf_append(&b, p, (size_t)(e + 2 - p));
                (*unresolved)++;
            } else if (erv == CL_ENOMEM) {
                rv = erv;
                break;
            } else {
                cl_errmsg_set(err, "expression '%.*s': %s",
                              (int)(te - t - 1), t + 1, em.msg);
                rv = CL_EEXPR;
                break;
            }
        } else {
            size_t before = b.len;
            enum wf__vres vr = wf__lookup(c, t, (size_t)(te - t), &b);
            if (vr != WF__V_OK) {
                b.len = before;
                if (b.data)
                    b.data[b.len] = '\0';
                cl_buf_append(&b, p, (size_t)(e + 2 - p));
                if (vr == WF__V_ABSENT)
                    (*absent)++;
                else
                    (*unresolved)++;
            }
        }
        s = e + 2;
        p = strstr(s, "{{");
    }
    if (rv == 0) {
        cl_buf_puts(&b, s);
        if (!cl_buf_ok(&b)) {
            rv = CL_ENOMEM;
        } else {
            *out = wf__arena_strndup(c->arena, b.data ? b.data : "",
                                     b.len);
            if (*out == NULL)
                rv = CL_ENOMEM;
        }
    }
    cl_buf_free(&b);
    if (rv == CL_ENOMEM)
        c->r->err = CL_ENOMEM;
    return rv;
}

/* ---- artifacts by reference -------------------------------------------------- */

int wf__resolve_art_from(wf__ctx *c, const char *from, wf__aref *out,
                         cl_errmsg *err)
{
    wf_run *r = c->r;
    memset(out, 0, sizeof(*out));
    const char *s = from;
    while (isspace((unsigned char)*s))
        s++;
    if (strncmp(s, "{{", 2) != 0) {
        cl_errmsg_set(err, "artifact 'from' must be a {{...}} reference, got "
                           "'%s'", from);
        return CL_EINVAL;
    }
    const char *e = strstr(s, "}}");
    if (e == NULL) {
        cl_errmsg_set(err, "unterminated reference '%s'", from);
        return CL_EINVAL;
    }
    const char *t = s + 2;
    const char *te = e;
    while (t < te && isspace((unsigned char)*t))
        t++;
    while (te > t && isspace((unsigned char)te[-1]))
        te--;
    size_t len = (size_t)(te - t);
    const char *rest;
    size_t rl;
    if (wf__pre(t, len, "inputs.artifacts.", &rest, &rl)) {
        for (uint32_t i = 0; c->inputs && i < c->inputs->nin_arts; i++)
            if (strlen(c->inputs->in_arts[i].name) == rl &&
                !memcmp(c->inputs->in_arts[i].name, rest, rl)) {
                *out = c->inputs->in_arts[i];
                out->path = NULL;
                return 0;
            }
        return CL_ENOENT;
    }
    if (wf__pre(t, len, "workflow.outputs.artifacts.", &rest, &rl)) {
        for (uint32_t i = 0; i < r->ngarts; i++)
            if (strlen(r->garts[i].name) == rl &&
                !memcmp(r->garts[i].name, rest, rl)) {
                *out = r->garts[i];
                out->path = NULL;
                return 0;
            }
        return CL_ENOENT;
    }
    if (wf__pre(t, len, "steps.", &rest, &rl) ||
        wf__pre(t, len, "tasks.", &rest, &rl)) {
        size_t nl = 0;
        while (nl < rl && rest[nl] != '.')
            nl++;
        const char *a;
        size_t al;
        if (nl == rl || !wf__pre(rest + nl + 1, rl - nl - 1,
                                 "outputs.artifacts.", &a, &al)) {
            cl_errmsg_set(err, "'%s' is not an artifact reference", from);
            return CL_EINVAL;
        }
        const uint32_t *nodes;
        uint32_t n;
        const wf__step *st;
        uint32_t kind = wf__scope_nodes(r, c->scope, rest, nl, &nodes, &n,
                                        &st);
        if (kind != 1 || nodes[0] >= r->nnodes)
            return CL_ENOENT;
        const wf__io *io = r->nodes[nodes[0]].io;
        for (uint32_t i = 0; io && i < io->nout_arts; i++)
            if (strlen(io->out_arts[i].name) == al &&
                !memcmp(io->out_arts[i].name, a, al)) {
                *out = io->out_arts[i];
                out->path = NULL;
                return 0;
            }
        return CL_ENOENT;
    }
    cl_errmsg_set(err, "'%s' is not an artifact reference", from);
    return CL_EINVAL;
}
