/* coord_wf.c - workflows, their engines, attempts and the run queue.
 *
 * Every input to an engine is an EngineEvent. An event is written to the
 * store first (together with the attempt records it changes, in one batch)
 * and applied second; actions the engine emits are handled at once, and
 * the events they cause (a memo hit, a mutex grant, a step killed before it
 * ran) are queued and go through the same path. After a restart each
 * unfinished run is rebuilt by replaying its events on a fresh engine; the
 * dispatches that are still outstanding at the end are matched with the
 * attempt records: an attempt still in flight is kept (its agent will
 * report it), anything else is queued again.
 */
#include "coordinator/coord_int.h"

#include "cache/cache.h"
#include "common/cl_hash.h"
#include "common/cl_heap.h"
#include "common/cl_log.h"
#include "common/cl_time.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utlist.h>

static void process_pending(coord *c);
static void delete_wf(coord *c, coord_wf *w);
static void agent_load_changed(coord *c, coord_agent *ag);
static void synth_exit(coord *c, coord_wf *w, coord_attempt *a,
                       enum wf_phase phase, const char *message);
static void attempt_done(coord *c, coord_attempt *a, coord_batch *b);
static void drain_actions(coord *c, coord_wf *w);
static void finish_replay(coord *c, coord_wf *w);

/* ---- small helpers ------------------------------------------------------*/

static void set_str(char **field, const char *v)
{
    char *copy = cl_strdup(v ? v : "");
    if (copy == NULL)
        return; /* keep the old value; the record is informational */
    if (*field != NULL && *field != protobuf_c_empty_string)
        cl_free(*field);
    *field = copy;
}

static Couler__WorkflowRecord *record_new(void)
{
    /* Unpacking nothing yields a record owned by cl_pb_allocator, so every
     * field can be replaced with cl_malloc'd strings and freed uniformly. */
    return (Couler__WorkflowRecord *)protobuf_c_message_unpack(
        &couler__workflow_record__descriptor, &cl_pb_allocator, 0, NULL);
}

static void record_put(coord_batch *b, const Couler__WorkflowRecord *rec)
{
    size_t len = couler__workflow_record__get_packed_size(rec);
    uint8_t *buf = cl_malloc(len ? len : 1);
    if (buf == NULL)
        return;
    couler__workflow_record__pack(rec, buf);
    char key[512];
    snprintf(key, sizeof(key), "w/%s", rec->name);
    coord_batch_put(b, key, buf, len);
    cl_free(buf);
}

static void attempt_put(coord_batch *b, const coord_attempt *a)
{
    Couler__AttemptRecord r = COULER__ATTEMPT_RECORD__INIT;
    r.id = a->id;
    r.workflow = a->wf_name;
    r.node = a->node;
    r.node_id = a->node_id;
    r.agent = a->agent ? a->agent : "";
    r.state = (int32_t)a->state;
    r.created = a->queued_at;
    r.seq = a->seq;
    r.display_name = a->display ? a->display : "";
    uint8_t *bbuf = NULL;
    size_t blen = 0;
    if (a->bound && place_binding_pack(&a->binding, &bbuf, &blen) == 0) {
        r.binding.data = bbuf;
        r.binding.len = blen;
    }
    size_t len = couler__attempt_record__get_packed_size(&r);
    uint8_t *buf = cl_malloc(len ? len : 1);
    if (buf == NULL) {
        cl_free(bbuf);
        return;
    }
    couler__attempt_record__pack(&r, buf);
    char key[512];
    snprintf(key, sizeof(key), "a/%s", a->id);
    coord_batch_put(b, key, buf, len);
    cl_free(buf);
    cl_free(bbuf);
}

static char *make_uid(void)
{
    uint8_t r[16];
    randombytes_buf(r, sizeof(r));
    r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
    r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
    char *s = cl_malloc(37);
    if (s)
        snprintf(s, 37,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x"
                 "%02x%02x%02x",
                 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
                 r[10], r[11], r[12], r[13], r[14], r[15]);
    return s;
}

/* generateName: the prefix and 5 random lowercase alphanumerics. */
static void generate_name(const char *prefix, char *out, size_t len)
{
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    char sfx[6];
    for (int i = 0; i < 5; i++)
        sfx[i] = alnum[randombytes_uniform(sizeof(alnum) - 1)];
    sfx[5] = '\0';
    snprintf(out, len, "%s%s", prefix, sfx);
}

coord_wf *coord__find_wf(coord *c, const char *name)
{
    if (name == NULL)
        return NULL;
    if (strcmp(name, "@latest") == 0) {
        coord_wf *best = NULL;
        for (coord_wf *w = c->wfs; w; w = w->hh.next)
            if (best == NULL || w->rec->created >= best->rec->created)
                best = w;
        return best;
    }
    coord_wf *w;
    HASH_FIND_STR(c->wfs, name, w);
    return w;
}

const char *coord__wf_phase(const coord_wf *w)
{
    if (w->run != NULL)
        return wf_phase_name(wf_run_phase(w->run));
    return w->rec->phase && w->rec->phase[0] ? w->rec->phase : "Pending";
}

static coord_attempt *latest_attempt(coord *c, const char *key)
{
    coord_latest *l;
    HASH_FIND_STR(c->latest, key, l);
    return l ? l->att : NULL;
}

static void set_latest(coord *c, coord_attempt *a)
{
    coord_latest *l;
    HASH_FIND_STR(c->latest, a->key, l);
    if (l == NULL) {
        /* The map owns its key: uthash keeps the pointer it was added
         * with, which must outlive any one attempt. */
        l = cl_calloc(1, sizeof(*l));
        if (l == NULL || (l->key = cl_strdup(a->key)) == NULL) {
            cl_free(l);
            return;
        }
        HASH_ADD_KEYPTR(hh, c->latest, l->key, strlen(l->key), l);
    }
    if (l->att == NULL || l->att->seq <= a->seq)
        l->att = a;
}

static void attempt_free(coord *c, coord_attempt *a)
{
    coord_latest *l;
    HASH_FIND_STR(c->latest, a->key, l);
    if (l != NULL && l->att == a) {
        HASH_DEL(c->latest, l);
        cl_free(l->key);
        cl_free(l);
    }
    if (a->queued)
        DL_DELETE(c->queue, a);
    HASH_DEL(c->attempts, a);
    cl_free(a->id);
    cl_free(a->wf_name);
    cl_free(a->key);
    cl_free(a->node_id);
    cl_free(a->display);
    cl_free(a->agent);
    cl_free(a->assign);
    cl_free(a->wait_reason);
    coord__req_free(a->req);
    place_binding_free(&a->binding);
    coord__gang_free(c, a->gang);
    cl_free(a);
}

static void queue_push(coord *c, coord_attempt *a)
{
    if (a->queued)
        return;
    a->queued = true;
    /* Priority first, then age. Steps arrive in age order with equal
     * priority, so the common case appends in O(1). */
    coord_attempt *tail = c->queue ? c->queue->prev : NULL;
    if (tail == NULL || tail->priority >= a->priority) {
        DL_APPEND(c->queue, a);
        return;
    }
    coord_attempt *it;
    DL_FOREACH(c->queue, it)
    {
        if (it->priority < a->priority) {
            DL_PREPEND_ELEM(c->queue, it, a);
            return;
        }
    }
    DL_APPEND(c->queue, a);
}

static void queue_remove(coord *c, coord_attempt *a)
{
    if (!a->queued)
        return;
    DL_DELETE(c->queue, a);
    a->queued = false;
    cl_free(a->wait_reason);
    a->wait_reason = NULL;
}

/* Append field 1 (attempt_id) to a packed StepAssign: protobuf keeps the
 * last occurrence of a field, so this names the attempt without
 * re-encoding the whole message. */
static int assign_with_id(const uint8_t *base, size_t len, const char *id,
                          uint8_t **out, size_t *outlen)
{
    Couler__StepAssign m = COULER__STEP_ASSIGN__INIT;
    m.attempt_id = (char *)id;
    size_t extra = couler__step_assign__get_packed_size(&m);
    uint8_t *buf = cl_malloc(len + extra + 1);
    if (buf == NULL)
        return CL_ENOMEM;
    memcpy(buf, base, len);
    couler__step_assign__pack(&m, buf + len);
    *out = buf;
    *outlen = len + extra;
    return 0;
}

/* ---- wf_task -> StepAssign ----------------------------------------------*/

static Couler__KV **kv_array(const wf_kv *kv, size_t n, Couler__KV **store)
{
    Couler__KV *items = cl_calloc(n ? n : 1, sizeof(*items));
    Couler__KV **ptrs = cl_calloc(n ? n : 1, sizeof(*ptrs));
    if (items == NULL || ptrs == NULL) {
        cl_free(items);
        cl_free(ptrs);
        *store = NULL;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        couler__kv__init(&items[i]);
        items[i].name = (char *)kv[i].name;
        items[i].value = (char *)(kv[i].value ? kv[i].value : "");
        ptrs[i] = &items[i];
    }
    *store = items;
    return ptrs;
}

/* coord__task_key - the step's cache key (cache/README.md): what it runs
 * and what it reads, never where it sits in a workflow. */
int coord__task_key(const wf_task *t, cache_key *out)
{
    cache_kv *env = cl_calloc(t->nenv + 1, sizeof(*env));
    cache_kv *params = cl_calloc(t->ninput_params + 1, sizeof(*params));
    cache_key_artifact *arts = cl_calloc(t->ninputs + 1, sizeof(*arts));
    int rv = CL_ENOMEM;
    if (env == NULL || params == NULL || arts == NULL)
        goto out;
    for (size_t i = 0; i < t->nenv; i++) {
        env[i].name = t->env[i].name;
        env[i].value = t->env[i].value ? t->env[i].value : "";
    }
    for (size_t i = 0; i < t->ninput_params; i++) {
        params[i].name = t->input_params[i].name;
        params[i].value =
            t->input_params[i].value ? t->input_params[i].value : "";
    }
    for (size_t i = 0; i < t->ninputs; i++) {
        const wf_input_artifact *in = &t->inputs[i];
        arts[i].name = in->name ? in->name : "";
        arts[i].path = in->path;
        if (in->raw)
            cl_digest(in->raw, strlen(in->raw), arts[i].digest.b);
        else if (in->digest)
            cache_digest_parse(in->digest, &arts[i].digest);
    }
    cache_key_input k;
    memset(&k, 0, sizeof(k));
    k.kind = t->kind == WF_TASK_SCRIPT ? CACHE_KIND_SCRIPT
                                       : CACHE_KIND_CONTAINER;
    k.command = t->command;
    k.ncommand = t->ncommand;
    k.source = t->source;
    k.image = t->image;
    k.env = env;
    k.nenv = t->nenv;
    k.workdir = t->working_dir;
    k.params = params;
    k.nparams = t->ninput_params;
    k.artifacts = arts;
    k.nartifacts = t->ninputs;
    k.memo_key = t->memo_key;
    rv = cache_key_compute(&k, out);
out:
    cl_free(env);
    cl_free(params);
    cl_free(arts);
    return rv;
}

static int pack_assign(const coord_wf *w, const wf_task *t, uint8_t **out,
                       size_t *len)
{
    Couler__StepAssign m = COULER__STEP_ASSIGN__INIT;
    m.workflow = w->name;
    m.node_id = (char *)t->node_id;
    m.node_name = (char *)t->node_name;
    m.template_name = (char *)(t->template_name ? t->template_name : "");
    m.script = t->kind == WF_TASK_SCRIPT;
    m.command = (char **)t->command;
    m.n_command = t->ncommand;
    m.source = (char *)(t->source ? t->source : "");
    m.working_dir = (char *)(t->working_dir ? t->working_dir : "");
    m.image = (char *)(t->image ? t->image : "");
    m.deadline_ms = t->deadline_ms;
    m.retry = (uint32_t)(t->retry > 0 ? t->retry : 0);
    char keyhex[CL_DIGEST_HEX_SIZE] = "";
    cache_key key;
    if (coord__task_key(t, &key) == 0)
        cache_key_hex(&key, keyhex);
    m.cache_key = keyhex;
    Couler__KV *env_items = NULL;
    m.env = kv_array(t->env, t->nenv, &env_items);
    m.n_env = t->nenv;

    Couler__InputArtifact *ins = cl_calloc(t->ninputs + 1, sizeof(*ins));
    Couler__InputArtifact **insp = cl_calloc(t->ninputs + 1, sizeof(*insp));
    Couler__OutputParam *ops = cl_calloc(t->nout_params + 1, sizeof(*ops));
    Couler__OutputParam **opsp =
        cl_calloc(t->nout_params + 1, sizeof(*opsp));
    Couler__OutputArtifact *oas =
        cl_calloc(t->nout_artifacts + 1, sizeof(*oas));
    Couler__OutputArtifact **oasp =
        cl_calloc(t->nout_artifacts + 1, sizeof(*oasp));
    int rv = 0;
    if (!ins || !insp || !ops || !opsp || !oas || !oasp ||
        (t->nenv && !m.env)) {
        rv = CL_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < t->ninputs; i++) {
        const wf_input_artifact *in = &t->inputs[i];
        couler__input_artifact__init(&ins[i]);
        ins[i].name = (char *)(in->name ? in->name : "");
        ins[i].path = (char *)(in->path ? in->path : "");
        if (in->raw) {
            ins[i].raw.data = (uint8_t *)in->raw;
            ins[i].raw.len = strlen(in->raw);
            ins[i].has_raw = true;
        }
        ins[i].digest = (char *)(in->digest ? in->digest : "");
        ins[i].host = (char *)(in->host ? in->host : "");
        ins[i].sub_path = (char *)(in->sub_path ? in->sub_path : "");
        ins[i].mode = in->mode;
        ins[i].is_dir = in->is_dir;
        insp[i] = &ins[i];
    }
    m.inputs = insp;
    m.n_inputs = t->ninputs;
    for (size_t i = 0; i < t->nout_params; i++) {
        couler__output_param__init(&ops[i]);
        ops[i].name = (char *)t->out_params[i].name;
        ops[i].path = (char *)t->out_params[i].path;
        opsp[i] = &ops[i];
    }
    m.out_params = opsp;
    m.n_out_params = t->nout_params;
    for (size_t i = 0; i < t->nout_artifacts; i++) {
        couler__output_artifact__init(&oas[i]);
        oas[i].name = (char *)t->out_artifacts[i].name;
        oas[i].path = (char *)t->out_artifacts[i].path;
        oas[i].optional = t->out_artifacts[i].optional;
        oasp[i] = &oas[i];
    }
    m.out_artifacts = oasp;
    m.n_out_artifacts = t->nout_artifacts;

    *len = couler__step_assign__get_packed_size(&m);
    *out = cl_malloc(*len ? *len : 1);
    if (*out == NULL) {
        rv = CL_ENOMEM;
        goto out;
    }
    couler__step_assign__pack(&m, *out);
out:
    cl_free(env_items);
    cl_free(m.env);
    cl_free(ins);
    cl_free(insp);
    cl_free(ops);
    cl_free(opsp);
    cl_free(oas);
    cl_free(oasp);
    return rv;
}

/* ---- events --------------------------------------------------------------*/

static Couler__EngineEvent *event_new(Couler__EngineEvent__Kind kind,
                                      uint32_t node, int64_t now)
{
    Couler__EngineEvent *ev = cl_calloc(1, sizeof(*ev));
    if (ev == NULL)
        return NULL;
    couler__engine_event__init(ev);
    ev->kind = kind;
    ev->node = node;
    ev->now = now;
    return ev;
}

/* Events built here point at borrowed strings; they are packed at once and
 * only the packed bytes are kept, so no deep ownership is needed. */
typedef struct owned_event {
    uint8_t *bytes;
    size_t len;
} owned_event;

/* record_event - write the event (and `extra`, if any) durably, then queue
 * it for the engine. Returns the store's error; the event is then not
 * applied, so memory never runs ahead of the disk. */
static int record_event(coord *c, coord_wf *w, const Couler__EngineEvent *ev,
                        coord_batch *extra)
{
    size_t len = couler__engine_event__get_packed_size(ev);
    uint8_t *buf = cl_malloc(len ? len : 1);
    if (buf == NULL)
        return CL_ENOMEM;
    couler__engine_event__pack(ev, buf);
    coord_batch *b = extra ? extra : coord_batch_new();
    int rv = CL_ENOMEM;
    if (b != NULL) {
        char key[256];
        snprintf(key, sizeof(key), "e/%s/%016llx", w->rec->uid,
                 (unsigned long long)w->next_seq);
        coord_batch_put(b, key, buf, len);
        cl_errmsg err;
        cl_errmsg_clear(&err);
        rv = coord_store_write(c->store, b, false, &err);
        if (rv != 0) {
            c->store_errors++;
            CL_ERROR("workflow %s: cannot record an engine event: %s",
                     w->name, err.msg);
        }
    }
    if (b != extra)
        coord_batch_free(b);
    if (rv != 0) {
        cl_free(buf);
        return rv;
    }
    w->next_seq++;
    Couler__EngineEvent *copy =
        couler__engine_event__unpack(&cl_pb_allocator, len, buf);
    cl_free(buf);
    coord_pending *p = cl_calloc(1, sizeof(*p));
    if (copy == NULL || p == NULL) {
        if (copy)
            couler__engine_event__free_unpacked(copy, &cl_pb_allocator);
        cl_free(p);
        return CL_ENOMEM;
    }
    p->wf_name = cl_strdup(w->name);
    p->ev = copy;
    if (c->pending_tail)
        c->pending_tail->next = p;
    else
        c->pending_head = p;
    c->pending_tail = p;
    return 0;
}

/* Convert a StepExited into the engine's result view (borrowing). */
typedef struct result_view {
    wf_step_result r;
    wf_kv *params;
    wf_artifact_ref *arts;
    char *result;
} result_view;

static int result_view_init(result_view *v, const Couler__StepExited *ex)
{
    memset(v, 0, sizeof(*v));
    v->r.phase = (enum wf_phase)ex->phase;
    v->r.exit_code = ex->exit_code;
    v->r.message = ex->message && ex->message[0] ? ex->message : NULL;
    if (ex->has_result) {
        /* An empty bytes field decodes with data == NULL. */
        v->result = cl_strndup(ex->result.data ? (const char *)ex->result.data
                                               : "",
                               ex->result.len);
        if (v->result == NULL)
            return CL_ENOMEM;
        v->r.result = v->result;
    }
    v->params = cl_calloc(ex->n_params + 1, sizeof(*v->params));
    v->arts = cl_calloc(ex->n_artifacts + 1, sizeof(*v->arts));
    if (v->params == NULL || v->arts == NULL)
        return CL_ENOMEM;
    for (size_t i = 0; i < ex->n_params; i++) {
        v->params[i].name = ex->params[i]->name;
        v->params[i].value = ex->params[i]->value;
    }
    v->r.params = v->params;
    v->r.nparams = ex->n_params;
    for (size_t i = 0; i < ex->n_artifacts; i++) {
        const Couler__ArtifactRef *a = ex->artifacts[i];
        v->arts[i].name = a->name;
        v->arts[i].digest = a->digest;
        v->arts[i].host = a->host;
        v->arts[i].size = a->size;
        v->arts[i].is_dir = a->is_dir;
    }
    v->r.artifacts = v->arts;
    v->r.nartifacts = ex->n_artifacts;
    return 0;
}

static void result_view_free(result_view *v)
{
    cl_free(v->params);
    cl_free(v->arts);
    cl_free(v->result);
}

static int apply_event(coord *c, coord_wf *w, const Couler__EngineEvent *ev)
{
    wf_run *r = w->run;
    if (r == NULL)
        return CL_ESTATE;
    int rv = CL_EINVAL;
    int64_t now = ev->now;
    switch (ev->kind) {
    case COULER__ENGINE_EVENT__KIND__EV_START:
        rv = wf_run_start(r, now);
        break;
    case COULER__ENGINE_EVENT__KIND__EV_STARTED:
        rv = wf_run_step_started(r, ev->node, ev->host, now);
        break;
    case COULER__ENGINE_EVENT__KIND__EV_EXITED:
    case COULER__ENGINE_EVENT__KIND__EV_MEMO: {
        bool memo = ev->kind == COULER__ENGINE_EVENT__KIND__EV_MEMO;
        if (memo && !ev->memo_hit) {
            rv = wf_run_memo_result(r, ev->node, NULL, now);
            break;
        }
        if (ev->result == NULL) {
            rv = CL_EINVAL;
            break;
        }
        result_view v;
        rv = result_view_init(&v, ev->result);
        if (rv == 0) {
            v.r.memo_hit = ev->memo_hit;
            v.r.memo_key = ev->memo_key[0] ? ev->memo_key : NULL;
            v.r.memo_from = ev->memo_from[0] ? ev->memo_from : NULL;
            rv = memo ? wf_run_memo_result(r, ev->node, &v.r, now)
                      : wf_run_step_exited(r, ev->node, &v.r, now);
        }
        result_view_free(&v);
        break;
    }
    case COULER__ENGINE_EVENT__KIND__EV_LOST:
        rv = wf_run_step_lost(r, ev->node, ev->message, now);
        break;
    case COULER__ENGINE_EVENT__KIND__EV_ACQUIRED:
        rv = wf_run_acquired(r, ev->node, ev->mutex, now);
        break;
    case COULER__ENGINE_EVENT__KIND__EV_TICK:
        rv = wf_run_tick(r, now);
        break;
    case COULER__ENGINE_EVENT__KIND__EV_STOP:
        rv = wf_run_stop(r, ev->message[0] ? ev->message : NULL, now);
        break;
    case COULER__ENGINE_EVENT__KIND__EV_TERMINATE:
        rv = wf_run_terminate(r, now);
        break;
    case COULER__ENGINE_EVENT__KIND__EV_RETRY:
        rv = wf_run_retry(r, now);
        break;
    default:
        break;
    }
    if (rv != 0 && rv != CL_ESTATE)
        CL_WARN("workflow %s: engine refused event %d: %s", w->name,
                (int)ev->kind, cl_strerror(rv));
    drain_actions(c, w);
    return rv;
}

/* ---- finishing -------------------------------------------------------------*/

/* Each step node of a status shows where it ran: field `binding`. */
static void add_bindings(coord *c, coord_wf *w, json_t *st)
{
    json_t *nodes = json_object_get(json_object_get(st, "status"), "nodes");
    const char *id;
    json_t *n;
    json_object_foreach(nodes, id, n)
    {
        char key[512];
        snprintf(key, sizeof(key), "%s.%s", w->rec->uid, id);
        coord_attempt *a = latest_attempt(c, key);
        if (a != NULL && a->queued && a->wait_reason != NULL) {
            const char *msg = json_string_value(json_object_get(n, "message"));
            if (msg == NULL || msg[0] == '\0') {
                char buf[600];
                snprintf(buf, sizeof(buf), "Waiting for resources: %s",
                         a->wait_reason);
                json_object_set_new(n, "message", json_string(buf));
            }
        }
        if (a == NULL || a->binding.node_id == NULL)
            continue;
        json_t *b = coord__binding_json(&a->binding);
        if (b)
            json_object_set_new(n, "binding", b);
    }
}

char *coord__status_json(coord *c, coord_wf *w)
{
    if (w->run == NULL)
        return cl_strdup(w->rec->final_status_json);
    json_t *j = wf_run_status_json(w->run, cl_wall_ms());
    if (j)
        add_bindings(c, w, j);
    if (j == NULL)
        return NULL;
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    char *copy = cl_strdup(s);
    free(s);
    return copy;
}

static void update_summary(coord_wf *w)
{
    if (w->run == NULL)
        return;
    set_str(&w->rec->phase, wf_phase_name(wf_run_phase(w->run)));
    set_str(&w->rec->message, wf_run_message(w->run));
    w->rec->started = wf_run_started_at(w->run);
    w->rec->finished_at = wf_run_finished_at(w->run);
}

static void progress_of(json_t *status, char *buf, size_t len)
{
    json_t *p = json_object_get(json_object_get(status, "status"),
                                "progress");
    snprintf(buf, len, "%s", json_is_string(p) ? json_string_value(p) : "");
}

/* The run ended: freeze its status in the record and let the engine go. */
static void finish_wf(coord *c, coord_wf *w)
{
    update_summary(w);
    json_t *j = wf_run_status_json(w->run, cl_wall_ms());
    if (j)
        add_bindings(c, w, j);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    char prog[64] = "";
    if (j)
        progress_of(j, prog, sizeof(prog));
    json_decref(j);
    set_str(&w->rec->final_status_json, s ? s : "{}");
    set_str(&w->rec->progress, prog);
    free(s);
    w->rec->finished = true;
    /* spec.ttlStrategy: the record goes that long after the end. */
    int64_t ttl = w->spec ? wf_spec_ttl_seconds(w->spec,
                                                wf_run_phase(w->run))
                          : -1;
    w->rec->delete_at = ttl >= 0 ? cl_wall_ms() + ttl * 1000 : 0;
    coord_batch *b = coord_batch_new();
    if (b != NULL) {
        record_put(b, w->rec);
        cl_errmsg err;
        if (coord_store_write(c->store, b, true, &err) != 0) {
            c->store_errors++;
            CL_ERROR("workflow %s: cannot record its end: %s", w->name,
                     err.msg);
        }
        coord_batch_free(b);
    }
    CL_INFO("workflow %s %s%s%s", w->name, w->rec->phase,
            w->rec->message[0] ? ": " : "", w->rec->message);
    wf_run_free(w->run);
    w->run = NULL;
}

/* ---- actions ---------------------------------------------------------------*/

static coord_attempt *attempt_create(coord *c, coord_wf *w, uint32_t node,
                                     const char *node_id, const char *display,
                                     int priority, uint32_t seq)
{
    coord_attempt *a = cl_calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    char buf[512];
    snprintf(buf, sizeof(buf), "%s.%s", w->rec->uid, node_id);
    a->key = cl_strdup(buf);
    snprintf(buf, sizeof(buf), "%s.%s.%u", w->rec->uid, node_id, seq);
    a->id = cl_strdup(buf);
    a->wf_name = cl_strdup(w->name);
    a->node_id = cl_strdup(node_id);
    a->display = cl_strdup(display ? display : node_id);
    if (!a->key || !a->id || !a->wf_name || !a->node_id || !a->display) {
        attempt_free(c, a);
        return NULL;
    }
    place_binding_init(&a->binding);
    a->order = ++c->next_attempt_order;
    a->node = node;
    a->seq = seq;
    a->priority = priority;
    a->queued_at = cl_wall_ms();
    a->state = COORD_ATT_QUEUED;
    HASH_ADD_KEYPTR(hh, c->attempts, a->id, strlen(a->id), a);
    set_latest(c, a);
    return a;
}

static int attempt_set_assign(coord_attempt *a, const uint8_t *base,
                              size_t len)
{
    cl_free(a->assign);
    a->assign = NULL;
    return assign_with_id(base, len, a->id, &a->assign, &a->assign_len);
}

static const char *display_of(const wf_task *t)
{
    if (t->display_name && t->display_name[0])
        return t->display_name;
    /* The last path element of the node name: "wf.A" -> "A",
     * "wf[0].step(1:x)" -> "step(1:x)". */
    const char *name = t->node_name;
    const char *best = name;
    int depth = 0;
    for (const char *p = name; *p; p++) {
        if (*p == '(')
            depth++;
        else if (*p == ')')
            depth--;
        else if (*p == '.' && depth == 0)
            best = p + 1;
    }
    return best;
}

static void handle_dispatch(coord *c, coord_wf *w, const wf_task *t)
{
    uint8_t *base;
    size_t len;
    if (pack_assign(w, t, &base, &len) != 0) {
        CL_ERROR("workflow %s: out of memory dispatching %s", w->name,
                 t->node_name);
        return;
    }
    if (w->replaying) {
        coord_replay_item *it;
        HASH_FIND(hh, w->replay, &t->node, sizeof(t->node), it);
        if (it == NULL) {
            it = cl_calloc(1, sizeof(*it));
            if (it == NULL) {
                cl_free(base);
                return;
            }
            it->node = t->node;
            HASH_ADD(hh, w->replay, node, sizeof(it->node), it);
        }
        cl_free(it->assign);
        cl_free(it->node_id);
        cl_free(it->display);
        coord__req_free(it->req);
        it->req = NULL;
        cl_errmsg rerr;
        coord__req_from_task(t, &it->req, &rerr);
        it->has_inputs = t->ninputs > 0;
        it->assign = base;
        it->assign_len = len;
        it->node_id = cl_strdup(t->node_id);
        it->display = cl_strdup(display_of(t));
        it->priority = t->priority;
        it->kill = false;
        return;
    }
    char key[512];
    snprintf(key, sizeof(key), "%s.%s", w->rec->uid, t->node_id);
    coord_attempt *prev = latest_attempt(c, key);
    uint32_t seq = prev ? prev->seq + 1 : 0;
    coord_attempt *a = attempt_create(c, w, t->node, t->node_id,
                                      display_of(t), t->priority, seq);
    if (a == NULL || attempt_set_assign(a, base, len) != 0) {
        cl_free(base);
        CL_ERROR("workflow %s: out of memory dispatching %s", w->name,
                 t->node_name);
        return;
    }
    a->has_inputs = t->ninputs > 0;
    cl_free(base);
    cl_errmsg rerr;
    cl_errmsg_clear(&rerr);
    int rrv = coord__req_from_task(t, &a->req, &rerr);
    coord_batch *b = coord_batch_new();
    if (b) {
        attempt_put(b, a);
        cl_errmsg err;
        if (coord_store_write(c->store, b, false, &err) != 0) {
            c->store_errors++;
            CL_ERROR("cannot record attempt %s: %s", a->id, err.msg);
        }
        coord_batch_free(b);
    }
    c->steps_dispatched++;
    if (rrv != 0) {
        /* A request no node could ever read (a bad quantity): the step
         * fails at once, saying why. */
        synth_exit(c, w, a, WF_ERROR, rerr.msg);
        return;
    }
    cache_key ck;
    if (coord__cacheable(c, w, t) && coord__task_key(t, &ck) == 0) {
        cache_key_hex(&ck, a->cache_key);
        a->state = COORD_ATT_LOOKUP;
        coord__cache_lookup_step(c, a, a->cache_key);
        return;
    }
    queue_push(c, a);
}

void coord__cache_miss(coord *c, coord_attempt *a)
{
    a->state = COORD_ATT_QUEUED;
    if (a->cache_key[0] && !coord__cache_claim(c, a->cache_key, a->id)) {
        a->state = COORD_ATT_LOOKUP; /* waits for the identical one */
        return;
    }
    queue_push(c, a);
    coord__schedule(c);
}

void coord__cached_exit(coord *c, coord_attempt *a, const Couler__StepExited *ex,
                        const char *keyhex, const char *from)
{
    coord_wf *w = coord__find_wf(c, a->wf_name);
    coord_batch *b = coord_batch_new();
    if (b == NULL)
        return;
    attempt_done(c, a, b);
    if (w != NULL && w->run != NULL) {
        Couler__EngineEvent *ev =
            event_new(COULER__ENGINE_EVENT__KIND__EV_EXITED, a->node,
                      cl_wall_ms());
        if (ev) {
            ev->result = (Couler__StepExited *)ex;
            ev->memo_hit = true;
            ev->memo_key = (char *)keyhex;
            ev->memo_from = (char *)(from ? from : "");
            record_event(c, w, ev, b);
            cl_free(ev);
        }
    } else {
        cl_errmsg err;
        coord_store_write(c->store, b, false, &err);
    }
    coord_batch_free(b);
    CL_INFO("step %s: cache hit (%.12s, from %s)", a->display, keyhex,
            from ? from : "?");
}

void coord__process(coord *c)
{
    process_pending(c);
}

/* Mark an attempt final and write it, as part of `b`. */
static void attempt_done(coord *c, coord_attempt *a, coord_batch *b)
{
    if (a->state == COORD_ATT_DONE)
        return;
    queue_remove(c, a);
    if (a->agent && (a->state == COORD_ATT_ASSIGNED ||
                     a->state == COORD_ATT_STARTED)) {
        coord_agent *ag;
        HASH_FIND_STR(c->agents, a->agent, ag);
        if (ag && ag->running > 0) {
            ag->running--;
            agent_load_changed(c, ag);
        }
    }
    coord__place_release(c, a);
    if (a->gang) {
        coord__gang_free(c, a->gang);
        a->gang = NULL;
    }
    /* What it was sent and what it asked for are not needed any more (a
     * rerun is a new attempt, made from the engine's task): a finished
     * attempt keeps only what listings show. */
    cl_free(a->assign);
    a->assign = NULL;
    a->assign_len = 0;
    coord__req_free(a->req);
    a->req = NULL;
    cl_free(a->wait_reason);
    a->wait_reason = NULL;
    a->state = COORD_ATT_DONE;
    attempt_put(b, a);
}

static void synth_exit(coord *c, coord_wf *w, coord_attempt *a,
                       enum wf_phase phase, const char *message)
{
    Couler__StepExited ex = COULER__STEP_EXITED__INIT;
    ex.attempt_id = a->id;
    ex.phase = phase;
    ex.exit_code = -1;
    ex.message = (char *)message;
    ex.finished_at = cl_wall_ms();
    Couler__EngineEvent *ev = event_new(
        COULER__ENGINE_EVENT__KIND__EV_EXITED, a->node, cl_wall_ms());
    if (ev == NULL)
        return;
    ev->result = &ex;
    coord_batch *b = coord_batch_new();
    if (b) {
        attempt_done(c, a, b);
        record_event(c, w, ev, b);
        coord_batch_free(b);
    }
    cl_free(ev);
}

static void handle_kill(coord *c, coord_wf *w, uint32_t node,
                        const char *node_id, const char *reason)
{
    if (w->replaying) {
        coord_replay_item *it;
        HASH_FIND(hh, w->replay, &node, sizeof(node), it);
        if (it) {
            it->kill = true;
            cl_free(it->kill_reason);
            it->kill_reason = cl_strdup(reason);
        }
        return;
    }
    char key[512];
    snprintf(key, sizeof(key), "%s.%s", w->rec->uid, node_id);
    coord_attempt *a = latest_attempt(c, key);
    if (a == NULL || a->state == COORD_ATT_DONE)
        return;
    const char *why = reason && reason[0] ? reason : "cancelled";
    if (a->state == COORD_ATT_QUEUED || a->state == COORD_ATT_LOOKUP) {
        synth_exit(c, w, a, WF_FAILED, why);
        return;
    }
    if (a->gang != NULL) {
        coord__gang_cancel(c, a, why);
        return;
    }
    Couler__StepCancel m = COULER__STEP_CANCEL__INIT;
    m.attempt_id = a->id;
    m.reason = (char *)why;
    coord__send_agent(c, a->agent, COULER__MSG_TYPE__MSG_STEP_CANCEL,
                      &m.base);
}

static void handle_memo_lookup(coord *c, coord_wf *w, const wf_action *act)
{
    if (w->replaying)
        return; /* the answer, if it was given, is in the log */
    coord__memo_lookup(c, w->name, act->node, act->memo_cache, act->memo_key,
                       act->memo_max_age_ms);
}

static void handle_memo_save(coord *c, coord_wf *w, const wf_action *act)
{
    if (w->replaying || act->result == NULL)
        return;
    coord__memo_save(c, act->memo_cache, act->memo_key, act->result,
                     act->node_id);
}

void coord__memo_answer(coord *c, const char *wf_name, uint32_t node,
                        const Couler__CacheEntryMsg *hit, const char *user_key,
                        const char *from)
{
    coord_wf *w = coord__find_wf(c, wf_name);
    if (w == NULL || w->run == NULL)
        return;
    Couler__EngineEvent *ev =
        event_new(COULER__ENGINE_EVENT__KIND__EV_MEMO, node, cl_wall_ms());
    if (ev == NULL)
        return;
    Couler__StepExited ex;
    if (hit != NULL) {
        couler__step_exited__init(&ex);
        ex.phase = WF_SUCCEEDED;
        ex.exit_code = hit->exit_code;
        ex.result = hit->result;
        ex.has_result = hit->has_result;
        ex.params = hit->params;
        ex.n_params = hit->n_params;
        ex.artifacts = hit->artifacts;
        ex.n_artifacts = hit->n_artifacts;
        ev->result = &ex;
    }
    ev->memo_hit = hit != NULL;
    ev->memo_key = (char *)(user_key ? user_key : "");
    ev->memo_from = (char *)(from ? from : "");
    record_event(c, w, ev, NULL);
    cl_free(ev);
}

/* ---- mutexes (synchronization.mutex, cluster-wide) ------------------------*/

static coord_mutex *mutex_get(coord *c, const char *name)
{
    coord_mutex *m;
    HASH_FIND_STR(c->mutexes, name, m);
    if (m == NULL) {
        m = cl_calloc(1, sizeof(*m));
        if (m == NULL)
            return NULL;
        m->name = cl_strdup(name);
        if (m->name == NULL) {
            cl_free(m);
            return NULL;
        }
        HASH_ADD_KEYPTR(hh, c->mutexes, m->name, strlen(m->name), m);
    }
    return m;
}

static void holder_id(const coord_wf *w, uint32_t node, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%u", w->name, node);
}

static void mutex_remove_waiter(coord_mutex *m, const char *who)
{
    for (size_t i = 0; i < m->nwaiters; i++) {
        if (strcmp(m->waiters[i], who) == 0) {
            cl_free(m->waiters[i]);
            memmove(&m->waiters[i], &m->waiters[i + 1],
                    (m->nwaiters - i - 1) * sizeof(char *));
            m->nwaiters--;
            return;
        }
    }
}

static void grant(coord *c, coord_mutex *m, const char *who)
{
    char wfname[512];
    const char *slash = strrchr(who, '/');
    if (slash == NULL)
        return;
    snprintf(wfname, sizeof(wfname), "%.*s", (int)(slash - who), who);
    uint32_t node = (uint32_t)strtoul(slash + 1, NULL, 10);
    coord_wf *w = coord__find_wf(c, wfname);
    if (w == NULL || w->run == NULL)
        return;
    set_str(&m->holder, who);
    Couler__EngineEvent *ev = event_new(
        COULER__ENGINE_EVENT__KIND__EV_ACQUIRED, node, cl_wall_ms());
    if (ev) {
        ev->mutex = m->name;
        record_event(c, w, ev, NULL);
        cl_free(ev);
    }
}

static void grant_next(coord *c, coord_mutex *m)
{
    while (m->holder == NULL && m->nwaiters > 0) {
        char *who = m->waiters[0];
        memmove(&m->waiters[0], &m->waiters[1],
                (m->nwaiters - 1) * sizeof(char *));
        m->nwaiters--;
        grant(c, m, who);
        cl_free(who);
    }
}

static void handle_acquire(coord *c, coord_wf *w, const wf_action *act)
{
    coord_mutex *m = mutex_get(c, act->mutex);
    if (m == NULL)
        return;
    char who[600];
    holder_id(w, act->node, who, sizeof(who));
    if (m->holder && strcmp(m->holder, who) == 0)
        return;
    for (size_t i = 0; i < m->nwaiters; i++)
        if (strcmp(m->waiters[i], who) == 0)
            return;
    char **nw = cl_realloc(m->waiters, (m->nwaiters + 1) * sizeof(char *));
    if (nw == NULL)
        return;
    m->waiters = nw;
    m->waiters[m->nwaiters] = cl_strdup(who);
    if (m->waiters[m->nwaiters] == NULL)
        return;
    m->nwaiters++;
    if (!w->replaying)
        grant_next(c, m);
}

static void handle_release(coord *c, coord_wf *w, const wf_action *act)
{
    coord_mutex *m = mutex_get(c, act->mutex);
    if (m == NULL)
        return;
    char who[600];
    holder_id(w, act->node, who, sizeof(who));
    mutex_remove_waiter(m, who);
    if (m->holder && strcmp(m->holder, who) == 0) {
        cl_free(m->holder);
        m->holder = NULL;
    }
    if (!w->replaying)
        grant_next(c, m);
}

/* ---- the action loop -------------------------------------------------------*/

static void drain_actions(coord *c, coord_wf *w)
{
    if (w->run == NULL)
        return;
    wf_action act;
    bool done = false;
    while (wf_run_next_action(w->run, &act)) {
        switch (act.kind) {
        case WF_ACT_DISPATCH:
            handle_dispatch(c, w, act.task);
            break;
        case WF_ACT_KILL:
            handle_kill(c, w, act.node, act.node_id, act.message);
            break;
        case WF_ACT_MEMO_LOOKUP:
            handle_memo_lookup(c, w, &act);
            break;
        case WF_ACT_MEMO_SAVE:
            handle_memo_save(c, w, &act);
            break;
        case WF_ACT_ACQUIRE:
            handle_acquire(c, w, &act);
            break;
        case WF_ACT_RELEASE:
            handle_release(c, w, &act);
            break;
        case WF_ACT_DONE:
            done = true;
            break;
        }
    }
    update_summary(w);
    if (done && !w->replaying)
        finish_wf(c, w);
}

static void process_pending(coord *c)
{
    if (c->processing)
        return;
    c->processing = true;
    while (c->pending_head) {
        coord_pending *p = c->pending_head;
        c->pending_head = p->next;
        if (c->pending_head == NULL)
            c->pending_tail = NULL;
        coord_wf *w = coord__find_wf(c, p->wf_name);
        if (w != NULL)
            apply_event(c, w, p->ev);
        couler__engine_event__free_unpacked(p->ev, &cl_pb_allocator);
        cl_free(p->wf_name);
        cl_free(p);
    }
    c->processing = false;
    coord__schedule(c);
}

/* ---- scheduling ------------------------------------------------------------*/

/* Tell the agent where each input artifact can be fetched from: the
 * producing node's artifact endpoint, as that node registered it now. */
static int assign_for_send(coord *c, const coord_attempt *a, uint8_t **out,
                           size_t *len)
{
    Couler__StepAssign *m = couler__step_assign__unpack(
        &cl_pb_allocator, a->assign_len, a->assign);
    if (m == NULL)
        return CL_ENOMEM;
    bool changed = false;
    for (size_t i = 0; i < m->n_inputs; i++) {
        Couler__InputArtifact *in = m->inputs[i];
        if (in->host[0] == '\0')
            continue;
        coord_agent *ag;
        HASH_FIND_STR(c->agents, in->host, ag);
        const char *ep = "";
        for (size_t k = 0; ag && ag->reg && k < ag->reg->n_endpoints; k++)
            if (strcmp(ag->reg->endpoints[k]->name, "artifacts") == 0 &&
                ag->state != COORD_AGENT_LOST)
                ep = ag->reg->endpoints[k]->value;
        char *copy = cl_strdup(ep);
        if (copy == NULL)
            continue;
        if (in->host_endpoint != protobuf_c_empty_string)
            cl_free(in->host_endpoint);
        in->host_endpoint = copy;
        changed = true;
    }
    if (!changed) {
        couler__step_assign__free_unpacked(m, &cl_pb_allocator);
        *out = NULL;
        return 0;
    }
    *len = couler__step_assign__get_packed_size(m);
    *out = cl_malloc(*len ? *len : 1);
    if (*out != NULL)
        couler__step_assign__pack(m, *out);
    couler__step_assign__free_unpacked(m, &cl_pb_allocator);
    return *out ? 0 : CL_ENOMEM;
}

/* An agent takes no more steps than it said (max_steps); while full it is
 * draining in the placement view. */
static void agent_load_changed(coord *c, coord_agent *ag)
{
    if (ag->reg == NULL || ag->state != COORD_AGENT_READY)
        return;
    unsigned cap = ag->reg->max_steps ? ag->reg->max_steps : 1;
    place_cluster_set_state(c->pc, ag->id,
                            ag->running >= cap ? PLACE_NODE_DRAINING
                                               : PLACE_NODE_READY);
}

/* Send a placed attempt to its node; false (binding released) when the
 * node cannot be reached now. */
static bool send_assign(coord *c, coord_attempt *a)
{
    coord_agent *ag;
    HASH_FIND_STR(c->agents, a->binding.node_id, ag);
    uint8_t *filled = NULL, *field = NULL, *msg = NULL;
    size_t flen = 0, blen = 0;
    if (a->has_inputs)
        assign_for_send(c, a, &filled, &flen);
    const uint8_t *base = filled ? filled : a->assign;
    size_t len = filled ? flen : a->assign_len;
    int rv = coord__binding_field(&a->binding, NULL, 0, &field, &blen);
    if (rv == 0) {
        msg = cl_malloc(len + blen);
        if (msg == NULL)
            rv = CL_ENOMEM;
        else {
            memcpy(msg, base, len);
            memcpy(msg + len, field, blen);
        }
    }
    if (rv == 0 && ag != NULL)
        rv = coord__send_agent_raw(c, ag->id,
                                   COULER__MSG_TYPE__MSG_STEP_ASSIGN, msg,
                                   len + blen);
    cl_free(filled);
    cl_free(field);
    cl_free(msg);
    if (rv != 0 || ag == NULL) {
        CL_WARN("cannot reach agent %s (%s); its steps wait",
                a->binding.node_id, cl_strerror(ag ? rv : CL_ENOENT));
        if (ag) {
            ag->state = COORD_AGENT_NOT_READY;
            coord__place_agent_state(c, ag, false);
        }
        coord__place_release(c, a);
        return false;
    }
    queue_remove(c, a);
    a->state = COORD_ATT_ASSIGNED;
    set_str(&a->agent, ag->id);
    ag->running++;
    c->steps_assigned++;
    agent_load_changed(c, ag);
    coord_batch *b = coord_batch_new();
    if (b) {
        attempt_put(b, a);
        cl_errmsg err;
        if (coord_store_write(c->store, b, false, &err) != 0)
            c->store_errors++;
        coord_batch_free(b);
    }
    return true;
}

/* A gang's ranks are out: to the engine it is one step, shown on rank 0's
 * node. */
static void gang_assigned(coord *c, coord_attempt *a)
{
    queue_remove(c, a);
    a->state = COORD_ATT_ASSIGNED;
    set_str(&a->agent, "");
    c->steps_assigned++;
    coord_batch *b = coord_batch_new();
    if (b) {
        attempt_put(b, a);
        cl_errmsg err;
        if (coord_store_write(c->store, b, false, &err) != 0)
            c->store_errors++;
        coord_batch_free(b);
    }
}

/* coord__schedule - place what waits, highest priority first, then oldest.
 * A step that does not fit now is passed over for later ones of the same
 * priority (backfill), never for lower ones. After a run of misses the
 * pass stops: the cluster is full, and scanning a deep queue on every
 * event would cost more than it finds. */
void coord__schedule(coord *c)
{
    enum { MAX_MISSES = 64 };
    unsigned misses = 0;
    bool waiting = false;
    int waiting_prio = 0;
    coord_attempt *a, *tmp;
    DL_FOREACH_SAFE(c->queue, a, tmp)
    {
        if (waiting && a->priority < waiting_prio)
            break;
        cl_errmsg err;
        cl_errmsg_clear(&err);
        bool gang = coord__req_gang(a->req) > 0;
        int rv = gang ? coord__gang_try(c, a, &err)
                      : coord__place_try(c, a, &err);
        if (rv == CL_EAGAIN) {
            /* said on the step while it waits, as a pending pod's reason */
            const char *why = err.msg[0] ? err.msg : "no node is free";
            if (a->wait_reason == NULL || strcmp(a->wait_reason, why) != 0)
                set_str(&a->wait_reason, why);
            if (!waiting) {
                waiting = true;
                waiting_prio = a->priority;
            }
            if (++misses >= MAX_MISSES)
                break;
            continue;
        }
        if (rv != 0) {
            /* It can never run in this cluster: say why on the step. */
            coord_wf *w = coord__find_wf(c, a->wf_name);
            queue_remove(c, a);
            if (w != NULL && w->run != NULL) {
                char msg[600];
                snprintf(msg, sizeof(msg), "Unschedulable: %s", err.msg);
                synth_exit(c, w, a, WF_ERROR, msg);
            }
            continue;
        }
        misses = 0;
        if (gang)
            gang_assigned(c, a);
        else
            send_assign(c, a);
    }
    if (c->pending_head && !c->processing)
        process_pending(c);
}

/* ---- agent events ----------------------------------------------------------*/

coord_attempt *coord__find_attempt(coord *c, const char *id)
{
    coord_attempt *a;
    HASH_FIND_STR(c->attempts, id, a);
    return a;
}

#define find_attempt coord__find_attempt

void coord__attempt_started(coord *c, coord_attempt *a, const char *host,
                            int64_t started_at)
{
    coord_wf *w = coord__find_wf(c, a->wf_name);
    a->state = COORD_ATT_STARTED;
    if (w == NULL || w->run == NULL)
        return;
    Couler__EngineEvent *ev =
        event_new(COULER__ENGINE_EVENT__KIND__EV_STARTED, a->node,
                  started_at ? started_at : cl_wall_ms());
    if (ev == NULL)
        return;
    ev->host = (char *)host;
    coord_batch *b = coord_batch_new();
    if (b) {
        attempt_put(b, a);
        record_event(c, w, ev, b);
        coord_batch_free(b);
    }
    cl_free(ev);
    process_pending(c);
}

void coord__on_started(coord *c, const char *agent_id,
                       const Couler__StepStarted *m)
{
    if (coord__gang_is_rank(m->attempt_id)) {
        coord__gang_started(c, agent_id, m);
        return;
    }
    coord_attempt *a = find_attempt(c, m->attempt_id);
    if (a == NULL || a->state != COORD_ATT_ASSIGNED || a->agent == NULL ||
        strcmp(a->agent, agent_id) != 0)
        return;
    coord__attempt_started(c, a, agent_id, m->started_at);
}

static void log_key_rank(const coord_attempt *a, int rank, uint64_t off,
                         char *buf, size_t len)
{
    /* a->key is "<uid>.<node id>" and the uid holds no '.'; a gang's ranks
     * keep their logs apart ("<node id>.<seq>.r<k>"). */
    const char *dot = strchr(a->key, '.');
    int ulen = dot ? (int)(dot - a->key) : (int)strlen(a->key);
    char rk[16] = "";
    if (rank >= 0)
        snprintf(rk, sizeof(rk), ".r%d", rank);
    snprintf(buf, len, "l/%.*s/%s.%u%s/%016llx", ulen, a->key, a->node_id,
             a->seq, rk, (unsigned long long)off);
}

static void log_key(const coord_attempt *a, uint64_t off, char *buf,
                    size_t len)
{
    log_key_rank(a, -1, off, buf, len);
}

void coord__store_log(coord *c, coord_attempt *a, int rank, uint64_t *log_off,
                      const Couler__StepLog *m)
{
    uint64_t start = m->offset, end = m->offset + m->data.len;
    if (start > *log_off || end <= *log_off)
        return; /* a gap (resent after a reconnect) or a duplicate */
    uint64_t skip = *log_off - start;
    char key[600];
    log_key_rank(a, rank, *log_off, key, sizeof(key));
    coord_batch *b = coord_batch_new();
    if (b == NULL)
        return;
    coord_batch_put(b, key, m->data.data + skip, m->data.len - skip);
    cl_errmsg err;
    if (coord_store_write(c->store, b, false, &err) == 0)
        *log_off = end;
    else
        c->store_errors++;
    coord_batch_free(b);
}

void coord__on_log(coord *c, const char *agent_id, const Couler__StepLog *m)
{
    if (coord__gang_is_rank(m->attempt_id)) {
        coord__gang_log(c, agent_id, m);
        return;
    }
    coord_attempt *a = find_attempt(c, m->attempt_id);
    if (a == NULL || a->agent == NULL || strcmp(a->agent, agent_id) != 0)
        return;
    coord__store_log(c, a, -1, &a->log_off, m);
}

static void send_ack(coord *c, const char *agent_id, const char *attempt_id)
{
    Couler__StepAck ack = COULER__STEP_ACK__INIT;
    ack.attempt_id = (char *)attempt_id;
    coord__send_agent(c, agent_id, COULER__MSG_TYPE__MSG_STEP_ACK, &ack.base);
}

/* A cacheable step succeeded: its owners keep the entry (the producer
 * already stored it with its artifacts). */
static void put_entry(coord *c, const coord_attempt *a,
                      const Couler__StepExited *m, const char *producer)
{
    Couler__CacheEntryMsg e = COULER__CACHE_ENTRY_MSG__INIT;
    e.key = (char *)a->cache_key;
    e.params = m->params;
    e.n_params = m->n_params;
    e.result = m->result;
    e.has_result = m->has_result;
    e.exit_code = m->exit_code;
    e.artifacts = m->artifacts;
    e.n_artifacts = m->n_artifacts;
    e.producer = (char *)producer;
    e.created = cl_wall_ms();
    e.compute_ms = m->compute_ms;
    coord__cache_put(c, a->cache_key, &e, producer);
}

/* The step is over: record it for the engine (with the attempt, in one
 * batch), then settle the cache. Returns the store's verdict: the agent's
 * report is acknowledged only once it is durable. */
static int attempt_exited(coord *c, coord_attempt *a,
                          const Couler__StepExited *m, const char *host)
{
    c->steps_exited++;
    coord_wf *w = coord__find_wf(c, a->wf_name);
    coord_batch *b = coord_batch_new();
    if (b == NULL)
        return CL_ENOMEM;
    attempt_done(c, a, b);
    int rv;
    if (w != NULL && w->run != NULL) {
        Couler__EngineEvent *ev = event_new(
            COULER__ENGINE_EVENT__KIND__EV_EXITED, a->node,
            m->finished_at ? m->finished_at : cl_wall_ms());
        if (ev == NULL) {
            coord_batch_free(b);
            return CL_ENOMEM;
        }
        ev->result = (Couler__StepExited *)m;
        ev->host = (char *)host;
        rv = record_event(c, w, ev, b);
        cl_free(ev);
    } else {
        cl_errmsg err;
        rv = coord_store_write(c->store, b, false, &err);
    }
    coord_batch_free(b);
    if (a->cache_key[0]) {
        if (m->phase == WF_SUCCEEDED)
            put_entry(c, a, m, host);
        coord__cache_settle(c, a->cache_key, m, host);
    }
    return rv;
}

void coord__attempt_exited(coord *c, coord_attempt *a,
                           const Couler__StepExited *m, const char *host)
{
    attempt_exited(c, a, m, host);
    process_pending(c);
}

void coord__on_exited(coord *c, const char *agent_id,
                      const Couler__StepExited *m)
{
    if (coord__gang_is_rank(m->attempt_id)) {
        bool ack = true;
        coord__gang_exited(c, agent_id, m, &ack);
        if (ack)
            send_ack(c, agent_id, m->attempt_id);
        process_pending(c);
        return;
    }
    coord_attempt *a = find_attempt(c, m->attempt_id);
    if (a == NULL || a->state == COORD_ATT_DONE || a->agent == NULL ||
        strcmp(a->agent, agent_id) != 0) {
        /* Already recorded, or not ours to take: let the agent drop it. */
        send_ack(c, agent_id, m->attempt_id);
        return;
    }
    if (attempt_exited(c, a, m, agent_id) == 0)
        send_ack(c, agent_id, m->attempt_id); /* only once it is durable */
    process_pending(c);
}

void coord__attempt_lost(coord *c, coord_attempt *a, const char *why);
#define lose_attempt coord__attempt_lost

void coord__attempt_lost(coord *c, coord_attempt *a, const char *why)
{
    if (a->cache_key[0])
        coord__cache_settle(c, a->cache_key, NULL, NULL);
    coord_wf *w = coord__find_wf(c, a->wf_name);
    coord_batch *b = coord_batch_new();
    if (b == NULL)
        return;
    attempt_done(c, a, b);
    c->steps_lost++;
    if (w != NULL && w->run != NULL) {
        Couler__EngineEvent *ev = event_new(
            COULER__ENGINE_EVENT__KIND__EV_LOST, a->node, cl_wall_ms());
        if (ev) {
            ev->message = (char *)why;
            record_event(c, w, ev, b);
            cl_free(ev);
        }
    } else {
        cl_errmsg err;
        coord_store_write(c->store, b, false, &err);
    }
    coord_batch_free(b);
}

void coord__agent_lost(coord *c, coord_agent *ag, const char *why)
{
    CL_WARN("agent %s lost (%s); its steps run elsewhere", ag->id, why);
    ag->state = COORD_AGENT_LOST;
    coord__place_agent_state(c, ag, false);
    coord_attempt *a, *tmp;
    HASH_ITER(hh, c->attempts, a, tmp)
    {
        if (a->gang != NULL) {
            coord__gang_node_lost(c, a, ag->id, why);
            continue;
        }
        if (a->agent && strcmp(a->agent, ag->id) == 0 &&
            (a->state == COORD_ATT_ASSIGNED ||
             a->state == COORD_ATT_STARTED)) {
            char msg[300];
            snprintf(msg, sizeof(msg), "node %s lost: %s", ag->id, why);
            lose_attempt(c, a, msg);
        }
    }
    ag->running = 0;
    process_pending(c);
}

typedef struct known_list {
    Couler__RunningStep **v;
    size_t n, cap;
    const Couler__AgentRegister *reg;
    bool missing; /* a gang rank the agent did not report */
} known_list;

static bool reported_by(const Couler__AgentRegister *reg, const char *id)
{
    for (size_t i = 0; i < reg->n_running; i++)
        if (strcmp(reg->running[i]->attempt_id, id) == 0)
            return true;
    return false;
}

static void add_known(void *data, const char *id, uint64_t log_off)
{
    known_list *k = data;
    if (!reported_by(k->reg, id)) {
        k->missing = true;
        return;
    }
    if (k->n == k->cap) {
        size_t ncap = k->cap ? 2 * k->cap : 16;
        Couler__RunningStep **nk = cl_realloc(k->v, ncap * sizeof(*nk));
        if (nk == NULL)
            return;
        k->v = nk;
        k->cap = ncap;
    }
    Couler__RunningStep *rs = cl_calloc(1, sizeof(*rs));
    if (rs == NULL)
        return;
    couler__running_step__init(rs);
    rs->attempt_id = (char *)id; /* lives in the attempt or its gang */
    rs->log_offset = log_off;
    k->v[k->n++] = rs;
}

void coord__reconcile_agent(coord *c, coord_agent *ag,
                            const Couler__AgentRegister *reg,
                            Couler__RegisterAck *ack)
{
    /* Attempts we placed on this agent: those it reports are kept (with
     * how much of their log we already have); the others are gone with an
     * earlier incarnation of the agent and run again elsewhere. */
    known_list k = {NULL, 0, 0, reg, false};
    unsigned running = 0;
    coord_attempt *a, *tmp;
    HASH_ITER(hh, c->attempts, a, tmp)
    {
        if (a->state != COORD_ATT_ASSIGNED && a->state != COORD_ATT_STARTED)
            continue;
        if (a->gang != NULL) {
            k.missing = false;
            size_t before = k.n;
            coord__gang_rank_ids(a, ag->id, add_known, &k);
            running += (unsigned)(k.n - before);
            if (k.missing) {
                /* Its ranks here still in the list are cancelled along
                 * with the gang; the agent then drops them. */
                for (size_t i = before; i < k.n; i++)
                    cl_free(k.v[i]);
                k.n = before;
                coord__gang_node_lost(c, a, ag->id,
                                      "the agent restarted without it");
            }
            continue;
        }
        if (a->agent == NULL || strcmp(a->agent, ag->id) != 0)
            continue;
        if (!reported_by(reg, a->id)) {
            lose_attempt(c, a, "the agent restarted without it");
            continue;
        }
        add_known(&k, a->id, a->log_off);
        running++;
    }
    ag->running = running;
    ack->known = k.v;
    ack->n_known = k.n;
}

/* ---- timers ----------------------------------------------------------------*/

void coord__tick(coord *c)
{
    coord__cache_tick(c);
    int64_t mono = cl_now_ms();
    int64_t now = cl_wall_ms();
    unsigned timeout = c->cfg.agent_timeout_ms ? c->cfg.agent_timeout_ms
                                               : 10000;
    unsigned hb = c->cfg.heartbeat_ms ? c->cfg.heartbeat_ms : 1000;
    coord_agent *ag, *tmpa;
    HASH_ITER(hh, c->agents, ag, tmpa)
    {
        int64_t quiet = mono - ag->last_seen;
        if (ag->state != COORD_AGENT_LOST && quiet > (int64_t)timeout) {
            char why[128];
            snprintf(why, sizeof(why), "silent for %lld ms",
                     (long long)quiet);
            coord__agent_lost(c, ag, why);
        } else if (ag->state == COORD_AGENT_READY &&
                   quiet > 3 * (int64_t)hb) {
            ag->state = COORD_AGENT_NOT_READY;
            coord__place_agent_state(c, ag, false);
        }
    }
    coord_wf *w, *wtmp;
    HASH_ITER(hh, c->wfs, w, wtmp)
    {
        if (w->run == NULL && w->rec->delete_at > 0 &&
            w->rec->delete_at <= now) {
            CL_INFO("workflow %s: its ttlStrategy has expired", w->name);
            delete_wf(c, w);
        }
    }
    for (w = c->wfs; w; w = w->hh.next) {
        if (w->run == NULL || wf_run_next_timer(w->run) > now)
            continue;
        Couler__EngineEvent *ev =
            event_new(COULER__ENGINE_EVENT__KIND__EV_TICK, 0, now);
        if (ev) {
            record_event(c, w, ev, NULL);
            cl_free(ev);
        }
    }
    process_pending(c);
}

/* ---- submit ----------------------------------------------------------------*/

static int kv_copy(Couler__KV ***dst, size_t *n, Couler__KV *const *src,
                   size_t count)
{
    *dst = cl_calloc(count + 1, sizeof(Couler__KV *));
    if (*dst == NULL)
        return CL_ENOMEM;
    for (size_t i = 0; i < count; i++) {
        Couler__KV *kv = cl_calloc(1, sizeof(*kv));
        if (kv == NULL)
            return CL_ENOMEM;
        couler__kv__init(kv);
        kv->name = cl_strdup(src[i]->name);
        kv->value = cl_strdup(src[i]->value);
        (*dst)[i] = kv;
        *n = i + 1;
        if (kv->name == NULL || kv->value == NULL)
            return CL_ENOMEM;
    }
    return 0;
}

/* Build a run for a record (a fresh submit or a restart). */
static int make_run(coord_wf *w, cl_errmsg *err)
{
    Couler__WorkflowRecord *rec = w->rec;
    wf_diag diag;
    wf_diag_init(&diag);
    int rv = wf_parse(rec->yaml, strlen(rec->yaml), rec->filename, &w->spec,
                      &diag);
    if (rv != 0) {
        cl_errmsg_set(err, "%s", diag.err.msg);
        wf_diag_free(&diag);
        return rv;
    }
    wf_diag_free(&diag);
    wf_kv *params = cl_calloc(rec->n_params + 1, sizeof(*params));
    if (params == NULL)
        return CL_ENOMEM;
    for (size_t i = 0; i < rec->n_params; i++) {
        params[i].name = rec->params[i]->name;
        params[i].value = rec->params[i]->value;
    }
    json_t *memo = NULL;
    if (rec->memoized_from_json && rec->memoized_from_json[0])
        memo = json_loads(rec->memoized_from_json, 0, NULL);
    wf_run_opts o;
    memset(&o, 0, sizeof(o));
    o.name = rec->name;
    o.uid = rec->uid;
    o.entrypoint = rec->entrypoint[0] ? rec->entrypoint : NULL;
    o.params = params;
    o.nparams = rec->n_params;
    o.created_ms = rec->created;
    o.memoized_from = memo;
    rv = wf_run_new(w->spec, &o, &w->run, err);
    json_decref(memo);
    cl_free(params);
    return rv;
}

static void wf_free(coord_wf *w)
{
    if (w->run)
        wf_run_free(w->run);
    if (w->spec)
        wf_spec_free(w->spec);
    coord_replay_item *it, *tmp;
    HASH_ITER(hh, w->replay, it, tmp)
    {
        HASH_DEL(w->replay, it);
        cl_free(it->assign);
        cl_free(it->node_id);
        cl_free(it->display);
        cl_free(it->kill_reason);
        coord__req_free(it->req);
        cl_free(it);
    }
    if (w->rec)
        couler__workflow_record__free_unpacked(w->rec, &cl_pb_allocator);
    cl_free(w->name);
    cl_free(w);
}

static int create_wf(coord *c, Couler__WorkflowRecord *rec, bool dry_run,
                     Couler__SubmitReply *reply, cl_errmsg *err)
{
    coord_wf *w = cl_calloc(1, sizeof(*w));
    if (w == NULL)
        return CL_ENOMEM;
    w->rec = rec;
    w->name = cl_strdup(rec->name);
    if (w->name == NULL) {
        wf_free(w);
        return CL_ENOMEM;
    }
    int rv = make_run(w, err);
    if (rv != 0) {
        wf_free(w);
        return rv;
    }
    reply->name = cl_strdup(rec->name);
    reply->uid = cl_strdup(rec->uid);
    if (dry_run) {
        json_t *j = wf_run_status_json(w->run, cl_wall_ms());
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        reply->status_json = cl_strdup(s ? s : "{}");
        free(s);
        json_decref(j);
        wf_free(w);
        return 0;
    }
    set_str(&rec->phase, "Pending");
    coord_batch *b = coord_batch_new();
    if (b == NULL) {
        wf_free(w);
        return CL_ENOMEM;
    }
    record_put(b, rec);
    rv = coord_store_write(c->store, b, true, err);
    coord_batch_free(b);
    if (rv != 0) {
        cl_errmsg_wrap(err, "workflow not accepted");
        wf_free(w);
        return rv;
    }
    HASH_ADD_KEYPTR(hh, c->wfs, w->name, strlen(w->name), w);
    CL_INFO("workflow %s accepted (%s)", w->name, rec->filename);
    Couler__EngineEvent *ev =
        event_new(COULER__ENGINE_EVENT__KIND__EV_START, 0, cl_wall_ms());
    if (ev) {
        record_event(c, w, ev, NULL);
        cl_free(ev);
    }
    process_pending(c);
    return 0;
}

int coord__submit(coord *c, const Couler__SubmitRequest *req,
                  Couler__SubmitReply *reply, cl_errmsg *err)
{
    /* Parse first: a YAML error stores nothing. */
    wf_spec *spec = NULL;
    wf_diag diag;
    wf_diag_init(&diag);
    int rv = wf_parse(req->yaml, strlen(req->yaml),
                      req->filename[0] ? req->filename : "<stdin>", &spec,
                      &diag);
    if (rv != 0) {
        cl_errmsg_set(err, "%s", diag.err.msg);
        wf_diag_free(&diag);
        return rv;
    }
    if (diag.nwarnings > 0) {
        reply->warnings = cl_calloc(diag.nwarnings, sizeof(char *));
        for (size_t i = 0; reply->warnings && i < diag.nwarnings; i++) {
            reply->warnings[i] = diag.warnings[i];
            diag.warnings[i] = NULL;
            reply->n_warnings = i + 1;
        }
    }
    wf_diag_free(&diag);

    char name[300];
    const char *gen = req->generate_name[0] ? req->generate_name
                                            : wf_spec_generate_name(spec);
    if (req->name[0])
        snprintf(name, sizeof(name), "%s", req->name);
    else if (wf_spec_name(spec))
        snprintf(name, sizeof(name), "%s", wf_spec_name(spec));
    else if (gen) {
        for (int tries = 0; tries < 20; tries++) {
            generate_name(gen, name, sizeof(name));
            if (coord__find_wf(c, name) == NULL)
                break;
        }
    } else {
        wf_spec_free(spec);
        cl_errmsg_set(err, "metadata.name or metadata.generateName is "
                           "required");
        return CL_EINVAL;
    }
    wf_spec_free(spec);
    if (coord__find_wf(c, name) != NULL) {
        cl_errmsg_set(err, "workflow '%s' already exists", name);
        return CL_EEXIST;
    }

    Couler__WorkflowRecord *rec = record_new();
    char *uid = make_uid();
    if (rec == NULL || uid == NULL) {
        cl_free(uid);
        if (rec)
            couler__workflow_record__free_unpacked(rec, &cl_pb_allocator);
        return CL_ENOMEM;
    }
    set_str(&rec->name, name);
    set_str(&rec->uid, uid);
    cl_free(uid);
    set_str(&rec->yaml, req->yaml);
    set_str(&rec->filename, req->filename[0] ? req->filename : "<stdin>");
    set_str(&rec->entrypoint, req->entrypoint);
    set_str(&rec->cache_policy, req->cache_policy);
    rec->created = cl_wall_ms();
    rec->priority = req->has_priority ? req->priority : 0;
    rv = kv_copy(&rec->params, &rec->n_params, req->params, req->n_params);
    if (rv != 0) {
        couler__workflow_record__free_unpacked(rec, &cl_pb_allocator);
        return rv;
    }
    return create_wf(c, rec, req->dry_run, reply, err);
}

int coord__resubmit(coord *c, const Couler__ResubmitRequest *req,
                    Couler__SubmitReply *reply, cl_errmsg *err)
{
    coord_wf *old = coord__find_wf(c, req->name);
    if (old == NULL) {
        cl_errmsg_set(err, "workflow '%s' not found", req->name);
        return CL_ENOENT;
    }
    if (req->memoized && old->run != NULL) {
        cl_errmsg_set(err, "workflow '%s' is still running; resubmit "
                           "--memoized needs a finished one",
                      old->name);
        return CL_ESTATE;
    }
    if (req->memoized && strcmp(coord__wf_phase(old), "Failed") != 0 &&
        strcmp(coord__wf_phase(old), "Error") != 0) {
        cl_errmsg_set(err, "resubmit --memoized needs a Failed or Error "
                           "workflow; '%s' is %s",
                      old->name, coord__wf_phase(old));
        return CL_ESTATE;
    }
    Couler__WorkflowRecord *rec = record_new();
    char *uid = make_uid();
    if (rec == NULL || uid == NULL) {
        cl_free(uid);
        if (rec)
            couler__workflow_record__free_unpacked(rec, &cl_pb_allocator);
        return CL_ENOMEM;
    }
    char name[300], prefix[300];
    snprintf(prefix, sizeof(prefix), "%s-", old->name);
    for (int tries = 0; tries < 20; tries++) {
        generate_name(prefix, name, sizeof(name));
        if (coord__find_wf(c, name) == NULL)
            break;
    }
    set_str(&rec->name, name);
    set_str(&rec->uid, uid);
    cl_free(uid);
    set_str(&rec->yaml, old->rec->yaml);
    set_str(&rec->filename, old->rec->filename);
    set_str(&rec->entrypoint, old->rec->entrypoint);
    set_str(&rec->cache_policy, old->rec->cache_policy);
    set_str(&rec->resubmitted_from, old->name);
    rec->created = cl_wall_ms();
    rec->priority = old->rec->priority;
    /* Old parameters, then the overrides. */
    size_t n = old->rec->n_params + req->n_params;
    Couler__KV **all = cl_calloc(n + 1, sizeof(*all));
    size_t k = 0;
    for (size_t i = 0; all && i < old->rec->n_params; i++) {
        bool overridden = false;
        for (size_t j = 0; j < req->n_params; j++)
            overridden |=
                strcmp(req->params[j]->name, old->rec->params[i]->name) == 0;
        if (!overridden)
            all[k++] = old->rec->params[i];
    }
    for (size_t j = 0; all && j < req->n_params; j++)
        all[k++] = req->params[j];
    int rv = all ? kv_copy(&rec->params, &rec->n_params, all, k) : CL_ENOMEM;
    cl_free(all);
    if (rv == 0 && req->memoized)
        set_str(&rec->memoized_from_json, old->rec->final_status_json);
    if (rv != 0) {
        couler__workflow_record__free_unpacked(rec, &cl_pb_allocator);
        return rv;
    }
    return create_wf(c, rec, false, reply, err);
}

/* ---- control ---------------------------------------------------------------*/

static int rebuild_run(coord *c, coord_wf *w, cl_errmsg *err);

static void delete_wf(coord *c, coord_wf *w)
{
    coord_batch *b = coord_batch_new();
    if (b == NULL)
        return;
    coord_attempt *a, *tmp;
    char prefix[512];
    snprintf(prefix, sizeof(prefix), "%s.", w->rec->uid);
    HASH_ITER(hh, c->attempts, a, tmp)
    {
        if (strncmp(a->id, prefix, strlen(prefix)) != 0)
            continue;
        if (a->state == COORD_ATT_ASSIGNED || a->state == COORD_ATT_STARTED) {
            Couler__StepCancel m = COULER__STEP_CANCEL__INIT;
            m.attempt_id = a->id;
            m.reason = "workflow deleted";
            coord__send_agent(c, a->agent, COULER__MSG_TYPE__MSG_STEP_CANCEL,
                              &m.base);
        }
        attempt_done(c, a, b);
        attempt_free(c, a);
    }
    char key[512];
    snprintf(key, sizeof(key), "w/%s", w->name);
    coord_batch_del(b, key);
    snprintf(key, sizeof(key), "e/%s/", w->rec->uid);
    coord_batch_del_prefix(b, key);
    snprintf(key, sizeof(key), "a/%s.", w->rec->uid);
    coord_batch_del_prefix(b, key);
    snprintf(key, sizeof(key), "l/%s/", w->rec->uid);
    coord_batch_del_prefix(b, key);
    cl_errmsg err;
    if (coord_store_write(c->store, b, true, &err) != 0)
        CL_ERROR("deleting workflow %s: %s", w->name, err.msg);
    coord_batch_free(b);
    HASH_DEL(c->wfs, w);
    CL_INFO("workflow %s deleted", w->name);
    wf_free(w);
}

int coord__control(coord *c, const Couler__ControlRequest *req,
                   Couler__ControlReply *reply, cl_errmsg *err)
{
    coord_wf *w = coord__find_wf(c, req->name);
    if (w == NULL) {
        cl_errmsg_set(err, "workflow '%s' not found", req->name);
        return CL_ENOENT;
    }
    reply->name = cl_strdup(w->name);
    Couler__EngineEvent__Kind kind;
    switch (req->op) {
    case COULER__CONTROL_REQUEST__OP__OP_DELETE:
        reply->phase = cl_strdup("Deleted");
        delete_wf(c, w);
        coord__schedule(c);
        return 0;
    case COULER__CONTROL_REQUEST__OP__OP_STOP:
        kind = COULER__ENGINE_EVENT__KIND__EV_STOP;
        break;
    case COULER__CONTROL_REQUEST__OP__OP_TERMINATE:
        kind = COULER__ENGINE_EVENT__KIND__EV_TERMINATE;
        break;
    case COULER__CONTROL_REQUEST__OP__OP_RETRY: {
        const char *ph = coord__wf_phase(w);
        if (w->run != NULL ||
            (strcmp(ph, "Failed") != 0 && strcmp(ph, "Error") != 0)) {
            cl_errmsg_set(err, "workflow '%s' is %s; only a Failed or "
                               "Error workflow can be retried",
                          w->name, ph);
            return CL_ESTATE;
        }
        int rv = rebuild_run(c, w, err);
        if (rv != 0)
            return rv;
        kind = COULER__ENGINE_EVENT__KIND__EV_RETRY;
        break;
    }
    default:
        cl_errmsg_set(err, "unknown operation");
        return CL_EINVAL;
    }
    if (w->run == NULL) {
        cl_errmsg_set(err, "workflow '%s' has already finished (%s)",
                      w->name, coord__wf_phase(w));
        return CL_ESTATE;
    }
    Couler__EngineEvent *ev = event_new(kind, 0, cl_wall_ms());
    if (ev == NULL)
        return CL_ENOMEM;
    ev->message = (char *)(req->message ? req->message : "");
    int rv = record_event(c, w, ev, NULL);
    cl_free(ev);
    if (rv != 0) {
        cl_errmsg_set(err, "cannot record the request: %s", cl_strerror(rv));
        return rv;
    }
    process_pending(c);
    reply->phase = cl_strdup(coord__wf_phase(w));
    return 0;
}

/* ---- restart: load and replay ---------------------------------------------*/

typedef struct replay_ctx {
    coord *c;
    coord_wf *w;
    uint64_t count;
    uint64_t last_seq;
    int rv;
} replay_ctx;

static int replay_one(void *data, const char *key, size_t klen,
                      const char *val, size_t vlen)
{
    replay_ctx *r = data;
    Couler__EngineEvent *ev = couler__engine_event__unpack(
        &cl_pb_allocator, vlen, (const uint8_t *)val);
    if (ev == NULL) {
        CL_ERROR("workflow %s: unreadable event %.*s", r->w->name, (int)klen,
                 key);
        r->rv = CL_ECORRUPT;
        return 1;
    }
    const char *slash = memrchr(key, '/', klen);
    r->last_seq = slash ? strtoull(slash + 1, NULL, 16) : r->count;
    r->count++;
    /* Exits and losses settle the attempt the engine dispatched. */
    if (ev->kind == COULER__ENGINE_EVENT__KIND__EV_EXITED ||
        ev->kind == COULER__ENGINE_EVENT__KIND__EV_LOST) {
        coord_replay_item *it;
        HASH_FIND(hh, r->w->replay, &ev->node, sizeof(ev->node), it);
        if (it) {
            HASH_DEL(r->w->replay, it);
            cl_free(it->assign);
            cl_free(it->node_id);
            cl_free(it->display);
            cl_free(it->kill_reason);
            coord__req_free(it->req);
            cl_free(it);
        }
    }
    if (ev->kind == COULER__ENGINE_EVENT__KIND__EV_ACQUIRED) {
        coord_mutex *m = mutex_get(r->c, ev->mutex);
        if (m) {
            char who[600];
            holder_id(r->w, ev->node, who, sizeof(who));
            mutex_remove_waiter(m, who);
            set_str(&m->holder, who);
        }
    }
    apply_event(r->c, r->w, ev);
    couler__engine_event__free_unpacked(ev, &cl_pb_allocator);
    return 0;
}

static int replay(coord *c, coord_wf *w)
{
    w->replaying = true;
    replay_ctx r = {c, w, 0, 0, 0};
    char prefix[256];
    snprintf(prefix, sizeof(prefix), "e/%s/", w->rec->uid);
    cl_errmsg err;
    int rv = coord_store_scan(c->store, prefix, NULL, replay_one, &r, &err);
    w->replaying = false;
    w->next_seq = r.count ? r.last_seq + 1 : 0;
    if (rv == 0)
        rv = r.rv;
    return rv == 0 && r.count == 0 ? CL_ENOENT : rv;
}

static int rebuild_run(coord *c, coord_wf *w, cl_errmsg *err)
{
    if (w->spec) {
        wf_spec_free(w->spec);
        w->spec = NULL;
    }
    int rv = make_run(w, err);
    if (rv != 0)
        return rv;
    rv = replay(c, w);
    if (rv != 0 && rv != CL_ENOENT) {
        cl_errmsg_set(err, "cannot rebuild '%s': %s", w->name,
                      cl_strerror(rv));
        return rv;
    }
    w->rec->finished = false;
    finish_replay(c, w);
    return 0;
}

static void finish_replay(coord *c, coord_wf *w)
{
    coord_replay_item *it, *tmp;
    HASH_ITER(hh, w->replay, it, tmp)
    {
        HASH_DEL(w->replay, it);
        if (w->run != NULL && !wf_phase_done(wf_run_node_phase(w->run,
                                                                it->node))) {
            char key[512];
            snprintf(key, sizeof(key), "%s.%s", w->rec->uid, it->node_id);
            coord_attempt *a = latest_attempt(c, key);
            if (a == NULL || a->state == COORD_ATT_DONE) {
                a = attempt_create(c, w, it->node, it->node_id, it->display,
                                   it->priority, a ? a->seq + 1 : 0);
                if (a != NULL) {
                    coord_batch *b = coord_batch_new();
                    if (b) {
                        attempt_put(b, a);
                        cl_errmsg err;
                        coord_store_write(c->store, b, false, &err);
                        coord_batch_free(b);
                    }
                }
            }
            if (a != NULL) {
                a->priority = it->priority;
                a->has_inputs = it->has_inputs;
                attempt_set_assign(a, it->assign, it->assign_len);
                if (a->req == NULL) {
                    a->req = it->req;
                    it->req = NULL;
                }
                if (it->kill)
                    synth_exit(c, w, a, WF_FAILED,
                               it->kill_reason ? it->kill_reason
                                               : "cancelled");
                else if (a->state == COORD_ATT_QUEUED)
                    queue_push(c, a);
            }
        }
        cl_free(it->assign);
        cl_free(it->node_id);
        cl_free(it->display);
        cl_free(it->kill_reason);
        cl_free(it);
    }
}

static int log_end_cb(void *data, const char *key, size_t klen,
                      const char *val, size_t vlen)
{
    (void)val;
    uint64_t *end = data;
    if (klen < 16)
        return 0;
    char hex[17];
    memcpy(hex, key + klen - 16, 16);
    hex[16] = '\0';
    uint64_t off = strtoull(hex, NULL, 16);
    if (off + vlen > *end)
        *end = off + vlen;
    return 0;
}

static int log_end(coord_store *s, const char *prefix, uint64_t *end,
                   cl_errmsg *err)
{
    *end = 0;
    return coord_store_scan(s, prefix, NULL, log_end_cb, end, err);
}

static int load_attempt(void *data, const char *key, size_t klen,
                        const char *val, size_t vlen)
{
    (void)key;
    (void)klen;
    coord *c = data;
    Couler__AttemptRecord *r = couler__attempt_record__unpack(
        &cl_pb_allocator, vlen, (const uint8_t *)val);
    if (r == NULL)
        return 0;
    coord_wf *w = coord__find_wf(c, r->workflow);
    if (w != NULL) {
        coord_attempt *a = attempt_create(c, w, r->node, r->node_id,
                                          r->display_name, 0, r->seq);
        if (a != NULL) {
            a->state = (enum coord_att_state)r->state;
            if (a->state == COORD_ATT_LOOKUP)
                a->state = COORD_ATT_QUEUED; /* its lookup starts over */
            a->queued_at = r->created;
            cl_errmsg berr;
            if (r->binding.len > 0 &&
                place_binding_unpack(r->binding.data, r->binding.len,
                                     &a->binding, &berr) == 0)
                a->bound = a->state == COORD_ATT_ASSIGNED ||
                           a->state == COORD_ATT_STARTED;
            if (r->agent[0])
                a->agent = cl_strdup(r->agent);
            /* How much of its log we hold: the end of its last chunk. */
            if (a->state == COORD_ATT_ASSIGNED ||
                a->state == COORD_ATT_STARTED) {
                char lk[600];
                log_key(a, 0, lk, sizeof(lk));
                lk[strlen(lk) - 16] = '\0';
                uint64_t end = 0;
                cl_errmsg err;
                log_end(c->store, lk, &end, &err);
                a->log_off = end;
                /* An agent we have not heard from since the restart: it has
                 * agent_timeout to come back before its steps move. */
                coord_agent *ag = NULL;
                if (a->agent)
                    HASH_FIND_STR(c->agents, a->agent, ag);
                if (ag == NULL && a->agent) {
                    ag = cl_calloc(1, sizeof(*ag));
                    if (ag) {
                        ag->id = cl_strdup(a->agent);
                        ag->state = COORD_AGENT_NOT_READY;
                        ag->last_seen = cl_now_ms();
                        HASH_ADD_KEYPTR(hh, c->agents, ag->id,
                                        strlen(ag->id), ag);
                    }
                }
            }
        }
    }
    couler__attempt_record__free_unpacked(r, &cl_pb_allocator);
    return 0;
}

static int load_wf(void *data, const char *key, size_t klen, const char *val,
                   size_t vlen)
{
    coord *c = data;
    Couler__WorkflowRecord *rec = couler__workflow_record__unpack(
        &cl_pb_allocator, vlen, (const uint8_t *)val);
    if (rec == NULL) {
        CL_ERROR("unreadable workflow record %.*s", (int)klen, key);
        return 0;
    }
    coord_wf *w = cl_calloc(1, sizeof(*w));
    if (w == NULL) {
        couler__workflow_record__free_unpacked(rec, &cl_pb_allocator);
        return 1;
    }
    w->rec = rec;
    w->name = cl_strdup(rec->name);
    HASH_ADD_KEYPTR(hh, c->wfs, w->name, strlen(w->name), w);
    return 0;
}

int coord__load(coord *c, cl_errmsg *err)
{
    int rv = coord_store_scan(c->store, "w/", NULL, load_wf, c, err);
    if (rv != 0)
        return rv;
    size_t resumed = 0;
    coord_wf *w, *tmp;
    HASH_ITER(hh, c->wfs, w, tmp)
    {
        if (w->rec->finished)
            continue;
        cl_errmsg e;
        cl_errmsg_clear(&e);
        if (make_run(w, &e) != 0) {
            CL_ERROR("workflow %s cannot be resumed: %s", w->name, e.msg);
            continue;
        }
        rv = replay(c, w);
        if (rv == CL_ENOENT) {
            /* Accepted, but the start was never recorded. */
            Couler__EngineEvent *ev = event_new(
                COULER__ENGINE_EVENT__KIND__EV_START, 0, cl_wall_ms());
            if (ev) {
                record_event(c, w, ev, NULL);
                cl_free(ev);
            }
        } else if (rv != 0) {
            CL_ERROR("workflow %s: replay failed: %s", w->name,
                     cl_strerror(rv));
        }
        resumed++;
    }
    rv = coord_store_scan(c->store, "a/", NULL, load_attempt, c, err);
    if (rv != 0)
        return rv;
    HASH_ITER(hh, c->wfs, w, tmp)
    {
        if (w->run != NULL)
            finish_replay(c, w);
    }
    /* Attempts left in flight that no run waits for any more. */
    coord_attempt *a, *atmp;
    HASH_ITER(hh, c->attempts, a, atmp)
    {
        coord_wf *aw = coord__find_wf(c, a->wf_name);
        if (a->state != COORD_ATT_DONE && (aw == NULL || aw->run == NULL ||
                                           a->assign == NULL)) {
            coord_batch *b = coord_batch_new();
            if (b) {
                attempt_done(c, a, b);
                coord_store_write(c->store, b, false, err);
                coord_batch_free(b);
            }
        }
    }
    coord_mutex *m, *mtmp;
    HASH_ITER(hh, c->mutexes, m, mtmp)
    grant_next(c, m);
    if (resumed > 0)
        CL_INFO("resumed %zu running workflow(s) from the store", resumed);
    process_pending(c);
    return 0;
}

/* ---- logs --------------------------------------------------------------------*/

typedef struct logs_ctx {
    coord *c;
    const Couler__LogsRequest *req;
    Couler__LogsReply *reply;
    size_t cap;
    size_t bytes;
    size_t max;
    const char *uid;
    const char *step;
    bool full;
} logs_ctx;

static const char *attempt_display(coord *c, const char *uid,
                                   const char *pod)
{
    static char shown[700];
    char id[600];
    snprintf(id, sizeof(id), "%s.%s", uid, pod);
    coord_attempt *a = find_attempt(c, id);
    if (a != NULL)
        return a->display;
    /* A gang rank: "<node id>.<seq>.r<k>". */
    const char *r = strrchr(id, '.');
    if (r != NULL && r[1] == 'r') {
        id[r - id] = '\0';
        a = find_attempt(c, id);
        if (a != NULL) {
            snprintf(shown, sizeof(shown), "%s (rank %s)", a->display, r + 2);
            return shown;
        }
    }
    return pod;
}

static int logs_cb(void *data, const char *key, size_t klen, const char *val,
                   size_t vlen)
{
    logs_ctx *x = data;
    /* key: l/<uid>/<node id>.<seq>/<offset> */
    size_t plen = 2 + strlen(x->uid) + 1;
    if (klen < plen + 17)
        return 0;
    const char *pod = key + plen;
    size_t podlen = klen - plen - 17;
    char podbuf[512];
    snprintf(podbuf, sizeof(podbuf), "%.*s", (int)podlen, pod);
    char hex[17];
    memcpy(hex, key + klen - 16, 16);
    hex[16] = '\0';
    uint64_t off = strtoull(hex, NULL, 16);
    const char *display = attempt_display(x->c, x->uid, podbuf);
    if (x->step && x->step[0]) {
        /* Match the node id, the node's display name or its full name. */
        char nodeid[512], shown[512];
        snprintf(nodeid, sizeof(nodeid), "%s", podbuf);
        char *dot = strrchr(nodeid, '.');
        if (dot && dot[1] == 'r') { /* a gang rank */
            *dot = '\0';
            dot = strrchr(nodeid, '.');
        }
        if (dot)
            *dot = '\0';
        snprintf(shown, sizeof(shown), "%s", display);
        char *rank = strstr(shown, " (rank ");
        if (rank)
            *rank = '\0';
        if (strcmp(x->step, nodeid) != 0 && strcmp(x->step, shown) != 0 &&
            strcmp(x->step, display) != 0)
            return 0;
    }
    /* Skip what the client already has. */
    uint64_t have = 0;
    for (size_t i = 0; i < x->req->n_from; i++)
        if (strcmp(x->req->from[i]->attempt_id, podbuf) == 0)
            have = x->req->from[i]->log_offset;
    if (off + vlen <= have)
        return 0;
    size_t skip = have > off ? (size_t)(have - off) : 0;
    if (x->bytes >= x->max) {
        x->full = true;
        return 1;
    }
    Couler__LogsReply *r = x->reply;
    if (r->n_chunks == x->cap) {
        size_t ncap = x->cap ? 2 * x->cap : 32;
        Couler__LogChunk **nc =
            cl_realloc(r->chunks, ncap * sizeof(*r->chunks));
        if (nc == NULL)
            return 1;
        r->chunks = nc;
        x->cap = ncap;
    }
    Couler__LogChunk *ch = cl_calloc(1, sizeof(*ch));
    if (ch == NULL)
        return 1;
    couler__log_chunk__init(ch);
    ch->pod = cl_strdup(podbuf);
    ch->node_name = cl_strdup(display);
    ch->offset = off + skip;
    ch->data.len = vlen - skip;
    ch->data.data = cl_malloc(ch->data.len + 1);
    if (ch->pod == NULL || ch->node_name == NULL || ch->data.data == NULL) {
        cl_free(ch->pod);
        cl_free(ch->node_name);
        cl_free(ch->data.data);
        cl_free(ch);
        return 1;
    }
    memcpy(ch->data.data, val + skip, ch->data.len);
    r->chunks[r->n_chunks++] = ch;
    x->bytes += ch->data.len;
    return 0;
}

/* Pods in the order their steps were dispatched, as `argo logs` shows
 * them; a pod's chunks keep their offset order. */
typedef struct chunk_order {
    Couler__LogChunk *ch;
    int64_t when;
    uint64_t order;
    size_t idx;
} chunk_order;

static int chunk_cmp(const void *pa, const void *pb)
{
    const chunk_order *a = pa, *b = pb;
    if (a->when != b->when)
        return a->when < b->when ? -1 : 1;
    if (a->order != b->order)
        return a->order < b->order ? -1 : 1;
    int c = strcmp(a->ch->pod, b->ch->pod);
    if (c != 0)
        return c;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static void sort_chunks(coord *c, const char *uid, Couler__LogsReply *r)
{
    chunk_order *o = cl_calloc(r->n_chunks + 1, sizeof(*o));
    if (o == NULL)
        return;
    for (size_t i = 0; i < r->n_chunks; i++) {
        char id[600];
        snprintf(id, sizeof(id), "%s.%s", uid, r->chunks[i]->pod);
        coord_attempt *a = find_attempt(c, id);
        o[i].ch = r->chunks[i];
        o[i].when = a ? a->queued_at : 0;
        o[i].order = a ? a->order : 0;
        o[i].idx = i;
    }
    if (r->n_chunks > 1)
        qsort(o, r->n_chunks, sizeof(*o), chunk_cmp);
    for (size_t i = 0; i < r->n_chunks; i++)
        r->chunks[i] = o[i].ch;
    cl_free(o);
}

int coord__logs(coord *c, const Couler__LogsRequest *req,
                Couler__LogsReply *reply, cl_errmsg *err)
{
    coord_wf *w = coord__find_wf(c, req->name);
    if (w == NULL) {
        cl_errmsg_set(err, "workflow '%s' not found", req->name);
        return CL_ENOENT;
    }
    logs_ctx x = {0};
    x.c = c;
    x.req = req;
    x.reply = reply;
    x.uid = w->rec->uid;
    x.step = req->step;
    x.max = req->max_bytes ? req->max_bytes : (1u << 20);
    char prefix[300];
    snprintf(prefix, sizeof(prefix), "l/%s/", w->rec->uid);
    int rv = coord_store_scan(c->store, prefix, NULL, logs_cb, &x, err);
    sort_chunks(c, w->rec->uid, reply);
    reply->more = x.full;
    /* Done once the run ended and every attempt's log is in. */
    bool in_flight = false;
    char ap[300];
    snprintf(ap, sizeof(ap), "%s.", w->rec->uid);
    for (coord_attempt *a = c->attempts; a && !in_flight; a = a->hh.next)
        in_flight = a->state != COORD_ATT_DONE &&
                    strncmp(a->id, ap, strlen(ap)) == 0;
    reply->done = w->run == NULL && !in_flight && !x.full;
    return rv;
}

void coord__logs_reply_free(Couler__LogsReply *reply)
{
    for (size_t i = 0; i < reply->n_chunks; i++) {
        cl_free(reply->chunks[i]->pod);
        cl_free(reply->chunks[i]->node_name);
        cl_free(reply->chunks[i]->data.data);
        cl_free(reply->chunks[i]);
    }
    cl_free(reply->chunks);
}

void coord__free_all(coord *c)
{
    coord_wf *w, *wt;
    HASH_ITER(hh, c->wfs, w, wt)
    {
        HASH_DEL(c->wfs, w);
        wf_free(w);
    }
    coord_attempt *a, *at;
    HASH_ITER(hh, c->attempts, a, at)
    attempt_free(c, a);
    coord_latest *l, *lt;
    HASH_ITER(hh, c->latest, l, lt)
    {
        HASH_DEL(c->latest, l);
        cl_free(l->key);
        cl_free(l);
    }
    coord_agent *ag, *agt;
    HASH_ITER(hh, c->agents, ag, agt)
    {
        HASH_DEL(c->agents, ag);
        if (ag->reg)
            cl_env_free(&ag->reg->base);
        cl_free(ag->id);
        cl_free(ag);
    }
    coord_mutex *m, *mt;
    HASH_ITER(hh, c->mutexes, m, mt)
    {
        HASH_DEL(c->mutexes, m);
        for (size_t i = 0; i < m->nwaiters; i++)
            cl_free(m->waiters[i]);
        cl_free(m->waiters);
        cl_free(m->holder);
        cl_free(m->name);
        cl_free(m);
    }
    while (c->pending_head) {
        coord_pending *p = c->pending_head;
        c->pending_head = p->next;
        couler__engine_event__free_unpacked(p->ev, &cl_pb_allocator);
        cl_free(p->wf_name);
        cl_free(p);
    }
}
