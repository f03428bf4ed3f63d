/* wf_status.c - the Argo Workflow object of a run, and seeds read back from
 * one (retry, resubmit --memoized).
 *
 * The status is built on demand from the node table ("lazy JSON"): the
 * engine keeps no JSON of its own, so a 100,000-node run pays for it only
 * when somebody asks.
 */
#include "workflow/wf_int.h"

#include "common/cl_heap.h"
#include "common/cl_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Text from steps (stdout, parameter files, messages) may hold bytes that
 * are not UTF-8; JSON strings cannot. As Go's encoder does, each invalid
 * byte becomes U+FFFD, so the value is shown rather than dropped. */
static json_t *wf__jstr(const char *s)
{
    if (s == NULL)
        return json_string("");
    json_t *j = json_string(s);
    if (j != NULL)
        return j;
    size_t n = strlen(s);
    char *out = cl_malloc(3 * n + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3
                                : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = (p[i + k] & 0xC0) == 0x80;
        if (ok && len > 1) {
            /* no overlong forms, surrogates or values past U+10FFFF */
            uint32_t cp = len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F)
                                                           : (c & 0x07);
            for (size_t k = 1; k < len; k++)
                cp = (cp << 6) | (p[i + k] & 0x3F);
            ok = !(len == 2 && cp < 0x80) && !(len == 3 && cp < 0x800) &&
                 !(len == 4 && cp < 0x10000) && cp <= 0x10FFFF &&
                 !(cp >= 0xD800 && cp <= 0xDFFF);
        }
        if (ok && c != 0) {
            memcpy(out + o, p + i, len);
            o += len;
            i += len;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    out[o] = '\0';
    j = json_string(out);
    cl_free(out);
    return j;
}

static json_t *wf__time_json(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char buf[32];
    wf__fmt_time(ms, buf, sizeof(buf));
    return wf__jstr(buf);
}

static void wf__add_child(json_t *kids, const wf_run *r, uint32_t c)
{
    if (c < r->nnodes)
        json_array_append_new(kids, wf__jstr(r->nodes[c].id));
}

/* Argo's children links: Steps -> first group -> its steps -> next group;
 * DAG -> root tasks -> dependents; Retry -> attempts; TaskGroup -> items;
 * a node -> its exit hook. */
static uint32_t wf__last_attempt(const wf_run *r, const wf__node *n)
{
    for (uint32_t k = n->nkids; k > 0; k--)
        if (r->nodes[n->kids[k - 1]].flags & WF__F_ATTEMPT)
            return n->kids[k - 1];
    return WF_NONE;
}

static json_t *wf__children(const wf_run *r, uint32_t i)
{
    const wf__node *n = &r->nodes[i];
    json_t *kids = json_array();
    if (kids == NULL)
        return NULL;
    switch (n->type) {
    case WF__N_STEPS:
        if (n->fr && n->fr->u.st.gnodes && n->tmpl->ngroups > 0 &&
            n->fr->u.st.gnodes[0] != WF_NONE)
            wf__add_child(kids, r, n->fr->u.st.gnodes[0]);
        break;
    case WF__N_DAG:
        if (n->fr && n->fr->u.d.tnode) {
            for (uint32_t t = 0; t < n->tmpl->ntasks; t++)
                if (n->tmpl->tasks[t].ndeps == 0 &&
                    n->fr->u.d.tnode[t] != WF_NONE)
                    wf__add_child(kids, r, n->fr->u.d.tnode[t]);
        }
        break;
    default:
        for (uint32_t k = 0; k < n->nkids; k++)
            if (n->kids[k] != n->hook)
                wf__add_child(kids, r, n->kids[k]);
        break;
    }
    /* links that follow the parent's structure; a Retry node's links hang
     * off its last attempt, its "outbound node" */
    const wf__node *lk = n;
    if (n->type == WF__N_RETRY && wf__last_attempt(r, n) != WF_NONE)
        lk = NULL;
    else if ((n->flags & WF__F_ATTEMPT) && n->parent != WF_NONE &&
             wf__last_attempt(r, &r->nodes[n->parent]) == i)
        lk = &r->nodes[n->parent];
    else if (n->flags & WF__F_ATTEMPT)
        lk = NULL;
    if (lk != NULL && lk->parent != WF_NONE) {
        const wf__node *p = &r->nodes[lk->parent];
        const wf__node *dag = NULL;
        uint32_t task = WF_NONE;
        if (p->type == WF__N_STEPGROUP && p->parent != WF_NONE) {
            const wf__node *sn = &r->nodes[p->parent];
            uint32_t next = p->index + 1;
            if (sn->fr && sn->fr->u.st.gnodes && next < sn->tmpl->ngroups &&
                sn->fr->u.st.gnodes[next] != WF_NONE)
                wf__add_child(kids, r, sn->fr->u.st.gnodes[next]);
        } else if (p->type == WF__N_DAG) {
            dag = p;
            task = lk->index;
        } else if (p->type == WF__N_TASKGROUP && p->parent != WF_NONE) {
            dag = &r->nodes[p->parent];
            task = p->index;
        }
        if (dag != NULL && dag->fr && dag->fr->u.d.tnode &&
            task < dag->tmpl->ntasks && lk->type != WF__N_TASKGROUP) {
            const wf__step *st = &dag->tmpl->tasks[task];
            for (uint32_t k = 0; k < st->ndependents; k++) {
                uint32_t d = dag->fr->u.d.tnode[st->dependents[k]];
                if (d != WF_NONE)
                    wf__add_child(kids, r, d);
            }
        }
    }
    if (n->hook != WF_NONE)
        wf__add_child(kids, r, n->hook);
    return kids;
}

static json_t *wf__params_json(const wf_kv *kv, uint32_t n)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "name", wf__jstr(kv[i].name));
        json_object_set_new(o, "value", wf__jstr(kv[i].value
                                                        ? kv[i].value
                                                        : ""));
        json_array_append_new(a, o);
    }
    return a;
}

json_t *wf__node_json(const wf_run *r, uint32_t i)
{
    const wf__node *n = &r->nodes[i];
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "id", wf__jstr(n->id));
    json_object_set_new(o, "name", wf__jstr(n->name));
    json_object_set_new(o, "displayName",
                        wf__jstr(n->name + n->display_off));
    json_object_set_new(o, "type", wf__jstr(wf__ntype_name(n->type)));
    if (n->tmpl && n->tmpl->name)
        json_object_set_new(o, "templateName", wf__jstr(n->tmpl->name));
    json_object_set_new(o, "phase", wf__jstr(wf_phase_name(n->phase)));
    if (n->boundary != WF_NONE)
        json_object_set_new(o, "boundaryID",
                            wf__jstr(r->nodes[n->boundary].id));
    json_t *kids = wf__children(r, i);
    if (kids && json_array_size(kids) > 0)
        json_object_set_new(o, "children", kids);
    else
        json_decref(kids);
    json_object_set_new(o, "startedAt", wf__time_json(n->started));
    json_object_set_new(o, "finishedAt",
                        wf__time_json(wf_phase_done(n->phase) ? n->finished
                                                              : 0));
    if (n->message && n->message[0])
        json_object_set_new(o, "message", wf__jstr(n->message));
    if (n->host)
        json_object_set_new(o, "hostNodeName", wf__jstr(n->host));
    const wf__io *io = n->io;
    if (io != NULL && (io->nin > 0 || io->nin_arts > 0) &&
        !(n->flags & WF__F_ATTEMPT && n->type != WF__N_POD)) {
        json_t *in = json_object();
        if (io->nin > 0)
            json_object_set_new(in, "parameters",
                                wf__params_json(io->in, io->nin));
        if (io->nin_arts > 0) {
            json_t *a = json_array();
            for (uint32_t k = 0; k < io->nin_arts; k++)
                json_array_append_new(a, wf__art_to_json(&io->in_arts[k]));
            json_object_set_new(in, "artifacts", a);
        }
        json_object_set_new(o, "inputs", in);
    }
    if (io != NULL && (io->nout > 0 || io->result || io->has_exit ||
                       io->nout_arts > 0)) {
        json_t *out = json_object();
        if (io->nout > 0)
            json_object_set_new(out, "parameters",
                                wf__params_json(io->out, io->nout));
        if (io->result)
            json_object_set_new(out, "result", wf__jstr(io->result));
        if (io->has_exit) {
            char b[16];
            snprintf(b, sizeof(b), "%d", io->exit_code);
            json_object_set_new(out, "exitCode", wf__jstr(b));
        }
        if (io->nout_arts > 0) {
            json_t *a = json_array();
            for (uint32_t k = 0; k < io->nout_arts; k++)
                json_array_append_new(a, wf__art_to_json(&io->out_arts[k]));
            json_object_set_new(out, "artifacts", a);
        }
        json_object_set_new(o, "outputs", out);
    }
    if (n->flags & WF__F_MEMO) {
        json_t *m = json_object();
        json_object_set_new(m, "hit",
                            json_boolean((n->flags & WF__F_MEMO_HIT) != 0));
        json_object_set_new(m, "key", wf__jstr(n->memo_key ? n->memo_key
                                                              : ""));
        json_object_set_new(m, "cacheName",
                            wf__jstr(n->memo_cache ? n->memo_cache : ""));
        if (n->memo_from)
            json_object_set_new(m, "from", wf__jstr(n->memo_from));
        json_object_set_new(o, "memoizationStatus", m);
    }
    return o;
}

json_t *wf_run_status_json(const wf_run *r, int64_t now)
{
    (void)now;
    json_t *root = json_object();
    if (root == NULL)
        return NULL;
    json_object_set_new(root, "apiVersion", wf__jstr("argoproj.io/v1alpha1"));
    json_object_set_new(root, "kind", wf__jstr("Workflow"));
    json_t *meta = json_object();
    json_object_set_new(meta, "name", wf__jstr(r->name));
    json_object_set_new(meta, "namespace", wf__jstr("default"));
    json_object_set_new(meta, "uid", wf__jstr(r->uid));
    json_object_set_new(meta, "creationTimestamp", wf__time_json(r->created));
    json_object_set_new(meta, "labels",
                        r->labels ? json_deep_copy(r->labels) : json_object());
    json_object_set_new(meta, "annotations",
                        r->spec->annotations
                            ? json_deep_copy(r->spec->annotations)
                            : json_object());
    json_object_set_new(root, "metadata", meta);
    json_t *spec = wf__spec_json(r->spec);
    if (spec == NULL)
        spec = json_object();
    if (spec != NULL && r->nwparams > 0) {
        /* the parameters as run, overrides included */
        json_t *args = json_object_get(spec, "arguments");
        if (!json_is_object(args)) {
            args = json_object();
            json_object_set_new(spec, "arguments", args);
        }
        json_object_set_new(args, "parameters",
                            wf__params_json(r->wparams, r->nwparams));
    }
    if (spec != NULL && r->entrypoint)
        json_object_set_new(spec, "entrypoint", wf__jstr(r->entrypoint));
    json_object_set_new(root, "spec", spec ? spec : json_object());
    json_t *st = json_object();
    json_object_set_new(st, "phase", wf__jstr(wf_phase_name(r->phase)));
    json_object_set_new(st, "startedAt", wf__time_json(r->started));
    json_object_set_new(st, "finishedAt",
                        wf__time_json(r->done_emitted ? r->finished : 0));
    if (r->message && r->message[0])
        json_object_set_new(st, "message", wf__jstr(r->message));
    uint32_t pods = 0, done = 0;
    for (uint32_t i = 0; i < r->nnodes; i++) {
        if (r->nodes[i].type != WF__N_POD)
            continue;
        pods++;
        done += r->nodes[i].phase == WF_SUCCEEDED;
    }
    char prog[32];
    snprintf(prog, sizeof(prog), "%" PRIu32 "/%" PRIu32, done, pods);
    json_object_set_new(st, "progress", wf__jstr(prog));
    json_t *nodes = json_object();
    for (uint32_t i = 0; i < r->nnodes; i++)
        json_object_set_new(nodes, r->nodes[i].id, wf__node_json(r, i));
    json_object_set_new(st, "nodes", nodes);
    if (r->ngparams > 0 || r->ngarts > 0) {
        json_t *o = json_object();
        if (r->ngparams > 0)
            json_object_set_new(o, "parameters",
                                wf__params_json(r->gparams, r->ngparams));
        if (r->ngarts > 0) {
            json_t *a = json_array();
            for (uint32_t k = 0; k < r->ngarts; k++)
                json_array_append_new(a, wf__art_to_json(&r->garts[k]));
            json_object_set_new(o, "artifacts", a);
        }
        json_object_set_new(st, "outputs", o);
    }
    json_object_set_new(root, "status", st);
    return root;
}

/* ---- seeds -------------------------------------------------------------------- */

static int wf__seed_time(json_t *v, int64_t *ms)
{
    *ms = 0;
    if (!json_is_string(v))
        return 0;
    return cl_time_parse(json_string_value(v), ms);
}

int wf__seed_from_status(wf_run *r, const json_t *status, bool memoized)
{
    json_t *nodes = json_object_get(json_object_get(status, "status"),
                                    "nodes");
    if (!json_is_object(nodes))
        return CL_EINVAL;
    /* Node names start with the workflow's name: a resubmitted workflow
     * has another one, so the earlier names are matched under the new. */
    const char *old_root = json_string_value(json_object_get(
        json_object_get(status, "metadata"), "name"));
    size_t old_len = old_root ? strlen(old_root) : 0;
    size_t cnt = json_object_size(nodes);
    r->seeds = cl_calloc(cnt ? cnt : 1, sizeof(wf__seed));
    if (r->seeds == NULL)
        return CL_ENOMEM;
    r->nseeds = 0;
    const char *id;
    json_t *n;
    json_object_foreach(nodes, id, n)
    {
        const char *phase = json_string_value(json_object_get(n, "phase"));
        const char *type = json_string_value(json_object_get(n, "type"));
        const char *name = json_string_value(json_object_get(n, "name"));
        if (phase == NULL || type == NULL || name == NULL)
            continue;
        int ph = wf_phase_parse(phase);
        if (ph != WF_SUCCEEDED)
            continue;
        int ty = -1;
        for (int k = 0; k < 7; k++)
            if (!strcmp(wf__ntype_name(k), type))
                ty = k;
        if (ty != WF__N_POD && (memoized || ty != WF__N_RETRY))
            continue;
        wf__seed *s = &r->seeds[r->nseeds++];
        if (old_len > 0 && strncmp(name, old_root, old_len) == 0 &&
            (name[old_len] == '\0' || name[old_len] == '.' ||
             name[old_len] == '['))
            s->name = wf__rprintf(r, "%s%s", r->name, name + old_len);
        else
            s->name = wf__rstrdup(r, name);
        s->id = wf__rstrdup(r, id);
        s->phase = (uint8_t)ph;
        s->type = (uint8_t)ty;
        s->message = wf__rstrdup(r, json_string_value(json_object_get(
                                        n, "message")));
        s->host = wf__rstrdup(r, json_string_value(json_object_get(
                                     n, "hostNodeName")));
        wf__seed_time(json_object_get(n, "startedAt"), &s->started);
        wf__seed_time(json_object_get(n, "finishedAt"), &s->finished);
        json_t *out = json_object_get(n, "outputs");
        if (json_is_object(out)) {
            json_t *res = json_object_get(out, "result");
            if (json_is_string(res))
                s->io.result = wf__rstrdup(r, json_string_value(res));
            json_t *ec = json_object_get(out, "exitCode");
            if (json_is_string(ec)) {
                s->io.exit_code = atoi(json_string_value(ec));
                s->io.has_exit = true;
            }
            json_t *ps = json_object_get(out, "parameters");
            size_t np = json_array_size(ps);
            if (np > 0) {
                s->io.out = wf__arena_alloc(&r->arena, sizeof(wf_kv) * np);
                if (s->io.out == NULL)
                    return CL_ENOMEM;
                size_t k;
                json_t *p;
                json_array_foreach(ps, k, p)
                {
                    s->io.out[s->io.nout].name = wf__rstrdup(
                        r, json_string_value(json_object_get(p, "name")));
                    s->io.out[s->io.nout].value = wf__rstrdup(
                        r, json_string_value(json_object_get(p, "value")));
                    if (s->io.out[s->io.nout].name &&
                        s->io.out[s->io.nout].value)
                        s->io.nout++;
                }
            }
            json_t *as = json_object_get(out, "artifacts");
            size_t na = json_array_size(as);
            if (na > 0) {
                s->io.out_arts = wf__arena_alloc(&r->arena,
                                                 sizeof(wf__aref) * na);
                if (s->io.out_arts == NULL)
                    return CL_ENOMEM;
                size_t k;
                json_t *a;
                json_array_foreach(as, k, a)
                {
                    if (wf__art_from_json(r, a, &s->io.out_arts[s->io.nout_arts])
                        == 0)
                        s->io.nout_arts++;
                }
            }
        }
        json_t *m = json_object_get(n, "memoizationStatus");
        if (json_is_object(m)) {
            s->memo = true;
            s->memo_hit = json_is_true(json_object_get(m, "hit"));
            s->memo_key = wf__rstrdup(r, json_string_value(json_object_get(
                                             m, "key")));
            s->memo_cache = wf__rstrdup(r, json_string_value(json_object_get(
                                               m, "cacheName")));
        }
        if (r->err)
            return r->err;
    }
    /* index by name */
    uint32_t cap = 16;
    while (cap < r->nseeds * 2 + 2)
        cap *= 2;
    r->seed_index = cl_malloc(sizeof(uint32_t) * cap);
    if (r->seed_index == NULL)
        return CL_ENOMEM;
    memset(r->seed_index, 0xff, sizeof(uint32_t) * cap);
    r->seed_cap = cap;
    for (uint32_t i = 0; i < r->nseeds; i++) {
        uint32_t h = wf__fnv32(r->seeds[i].name, strlen(r->seeds[i].name)) &
                     (cap - 1);
        while (r->seed_index[h] != WF_NONE)
            h = (h + 1) & (cap - 1);
        r->seed_index[h] = i;
    }
    r->seeds_memoized = memoized;
    return 0;
}
