/* coord_cache.c - the distributed step-output cache, coordinator side.
 *
 * A cacheable step is looked up before it is queued: its key (a digest of
 * the fully resolved step, coord__task_key) is asked of its owner nodes,
 * chosen by rendezvous hashing over the ready agents (cache_owners, R = 2).
 * A hit is used only after the nodes holding its artifacts have verified
 * them against their digests; an artifact on a node that is gone, or one
 * that fails its check, turns the hit into a miss and the step runs. While
 * a step with some key runs, another step with the same key waits for it
 * instead of computing the same thing twice. When a step succeeds its entry
 * goes to the owners (the producer keeps one with the artifacts it made).
 * Argo `memoize` uses the same machinery with keys in their own namespace
 * (cache_key_memo).
 *
 * Policy (`couler.io/cache`): off | memoize (only templates that ask, as
 * Argo) | auto (every step, unless its template says "off"); from the
 * submit (--cache), else the workflow's annotation, else the server default.
 */
#include "coordinator/coord_int.h"

#include "common/cl_heap.h"
#include "common/cl_log.h"
#include "common/cl_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOOKUP_TIMEOUT_MS 2000
#define VERIFY_TIMEOUT_MS 30000
#define ADMIN_TIMEOUT_MS 3000

enum job_kind { JOB_STEP = 1, JOB_MEMO = 2, JOB_CLIENT = 3 };

typedef struct cache_job {
    uint64_t id;
    enum job_kind kind;
    char *attempt_id;     /* JOB_STEP */
    char *wf_name;        /* JOB_MEMO */
    uint32_t node;        /* JOB_MEMO */
    char key[CL_DIGEST_HEX_SIZE];
    char *user_key;       /* memoize.key, for memoizationStatus */
    int64_t max_age_ms;
    char **owners;
    size_t nowners, next_owner;
    Couler__CacheAnswer *answer; /* the hit being verified (owned) */
    uint8_t ident[256];          /* JOB_CLIENT: who asked */
    size_t ident_len;
    uint64_t client_rid;
    size_t verifies;
    bool verify_failed;
    struct cache_job *next;
} cache_job;

/* An outstanding request to an agent: routes its reply. */
typedef struct cache_req {
    uint64_t rid;
    cache_job *job;       /* lookups and verifications */
    struct admin_job *admin;
    int64_t deadline;     /* monotonic ms */
    UT_hash_handle hh;
} cache_req;

/* A `couler-coord cache ...` request fanned out to every agent. */
typedef struct admin_job {
    uint8_t ident[256];
    size_t ident_len;
    uint64_t client_rid;
    Couler__CacheRequest__Op op;
    char key[CL_DIGEST_HEX_SIZE + 1];
    unsigned outstanding;
    Couler__CacheEntryMsg **entries; /* merged, owned copies */
    size_t nentries, cap;
    uint32_t count;
    cl_buf errors;
    struct admin_job *next;
} admin_job;

typedef struct inflight {
    char key[CL_DIGEST_HEX_SIZE];
    char *leader;         /* attempt computing it */
    char **waiters;       /* attempt ids waiting for its result */
    size_t nwaiters;
    UT_hash_handle hh;
} inflight;

struct coord_cache {
    cache_job *jobs;
    cache_req *reqs;
    admin_job *admins;
    inflight *inflight;
    uint64_t next_job;
};

/* ---- helpers -----------------------------------------------------------------*/

static void job_free(cache_job *j)
{
    if (j == NULL)
        return;
    cl_free(j->attempt_id);
    cl_free(j->wf_name);
    cl_free(j->user_key);
    for (size_t i = 0; i < j->nowners; i++)
        cl_free(j->owners[i]);
    cl_free(j->owners);
    if (j->answer)
        couler__cache_answer__free_unpacked(j->answer, &cl_pb_allocator);
    cl_free(j);
}

static void job_unlink(coord *c, cache_job *j)
{
    cache_job **pp = &c->cache->jobs;
    while (*pp && *pp != j)
        pp = &(*pp)->next;
    if (*pp)
        *pp = j->next;
    cache_req *r, *tmp;
    HASH_ITER(hh, c->cache->reqs, r, tmp)
    {
        if (r->job == j) {
            HASH_DEL(c->cache->reqs, r);
            cl_free(r);
        }
    }
}

static int send_req(coord *c, const char *agent_id, Couler__MsgType type,
                    const ProtobufCMessage *m, cache_job *job,
                    admin_job *admin, int64_t timeout_ms)
{
    cache_req *r = cl_calloc(1, sizeof(*r));
    if (r == NULL)
        return CL_ENOMEM;
    r->rid = ++c->next_req;
    r->job = job;
    r->admin = admin;
    r->deadline = cl_now_ms() + timeout_ms;
    uint8_t *buf;
    size_t len;
    int rv = cl_env_pack(type, r->rid, m, &buf, &len);
    if (rv == 0) {
        rv = coord__send_agent_frame(c, agent_id, buf, len);
        cl_free(buf);
    }
    if (rv != 0) {
        cl_free(r);
        return rv;
    }
    HASH_ADD(hh, c->cache->reqs, rid, sizeof(r->rid), r);
    return 0;
}

/* The live agents, in a stable order: the members owners are chosen from. */
static size_t live_agents(coord *c, const char ***ids)
{
    size_t n = 0;
    for (coord_agent *ag = c->agents; ag; ag = ag->hh.next)
        n++;
    const char **v = cl_calloc(n + 1, sizeof(char *));
    size_t k = 0;
    for (coord_agent *ag = c->agents; v && ag; ag = ag->hh.next)
        if (ag->state == COORD_AGENT_READY && ag->reg)
            v[k++] = ag->id;
    *ids = v;
    return v ? k : 0;
}

/* owners_of - up to R owner ids of `keyhex` (cl_malloc'd strings). */
static size_t owners_of(coord *c, const char *keyhex, char ***out)
{
    *out = NULL;
    cache_key key;
    if (cache_key_parse(keyhex, &key) != 0)
        return 0;
    const char **ids;
    size_t n = live_agents(c, &ids);
    if (n == 0) {
        cl_free(ids);
        return 0;
    }
    size_t r = n < CACHE_DEFAULT_REPLICAS ? n : CACHE_DEFAULT_REPLICAS;
    size_t idx[CACHE_DEFAULT_REPLICAS];
    char **own = cl_calloc(r + 1, sizeof(char *));
    if (own == NULL) {
        cl_free(ids);
        return 0;
    }
    r = cache_owners(&key, ids, n, r, idx);
    for (size_t i = 0; i < r; i++)
        own[i] = cl_strdup(ids[idx[i]]);
    cl_free(ids);
    *out = own;
    return r;
}

static bool agent_alive(coord *c, const char *id)
{
    coord_agent *ag;
    HASH_FIND_STR(c->agents, id, ag);
    return ag != NULL && ag->state == COORD_AGENT_READY;
}

/* ---- policy ------------------------------------------------------------------*/

static const char *task_annotation(const wf_task *t, const char *name)
{
    for (size_t i = 0; i < t->nannotations; i++)
        if (strcmp(t->annotations[i].name, name) == 0)
            return t->annotations[i].value;
    return NULL;
}

const char *coord__cache_policy(coord *c, const coord_wf *w)
{
    if (w->rec->cache_policy && w->rec->cache_policy[0])
        return w->rec->cache_policy;
    json_t *ann = w->spec ? wf_spec_annotations(w->spec) : NULL;
    json_t *p = json_object_get(ann, "couler.io/cache");
    if (json_is_string(p))
        return json_string_value(p);
    return c->cfg.cache_policy ? c->cfg.cache_policy : "memoize";
}

bool coord__cacheable(coord *c, const coord_wf *w, const wf_task *t)
{
    const char *off = task_annotation(t, "couler.io/cache");
    if (off != NULL && strcmp(off, "off") == 0)
        return false;
    return strcmp(coord__cache_policy(c, w), "auto") == 0;
}

/* ---- results ------------------------------------------------------------------*/

/* The cached outputs as the StepExited an agent would have sent. */
static void exited_from_entry(const Couler__CacheEntryMsg *e,
                              Couler__StepExited *ex)
{
    couler__step_exited__init(ex);
    ex->phase = WF_SUCCEEDED;
    ex->exit_code = e->exit_code;
    ex->message = "";
    ex->result = e->result;
    ex->has_result = e->has_result;
    ex->params = e->params;
    ex->n_params = e->n_params;
    ex->artifacts = e->artifacts;
    ex->n_artifacts = e->n_artifacts;
    ex->finished_at = cl_wall_ms();
}

static void client_answer(coord *c, cache_job *j, const char *from)
{
    char text[400];
    snprintf(text, sizeof(text), from ? "hit %s from %s\n" : "miss %s\n",
             j->key, from ? from : "");
    Couler__CacheReply rep = COULER__CACHE_REPLY__INIT;
    rep.text = text;
    rep.count = from != NULL;
    coord__reply_client(c, j->ident, j->ident_len, j->client_rid,
                        COULER__MSG_TYPE__MSG_CACHE_REPLY, &rep.base);
}

static void job_hit(coord *c, cache_job *j)
{
    const Couler__CacheEntryMsg *e = j->answer->entry;
    const char *from = e->held_by[0] ? e->held_by : e->producer;
    if (j->kind == JOB_CLIENT) {
        client_answer(c, j, from);
        return;
    }
    c->cache_hits++;
    if (j->kind == JOB_MEMO) {
        coord__memo_answer(c, j->wf_name, j->node, e, j->user_key, from);
        return;
    }
    coord_attempt *a = coord__find_attempt(c, j->attempt_id);
    if (a == NULL || a->state != COORD_ATT_LOOKUP)
        return;
    Couler__StepExited ex;
    exited_from_entry(e, &ex);
    ex.attempt_id = a->id;
    coord__cached_exit(c, a, &ex, j->key, from);
}

static void job_miss(coord *c, cache_job *j)
{
    if (j->kind == JOB_CLIENT) {
        client_answer(c, j, NULL);
        return;
    }
    if (j->kind == JOB_MEMO) {
        coord__memo_answer(c, j->wf_name, j->node, NULL, j->user_key, NULL);
        return;
    }
    coord_attempt *a = coord__find_attempt(c, j->attempt_id);
    if (a != NULL && a->state == COORD_ATT_LOOKUP)
        coord__cache_miss(c, a);
}

static void job_finish(coord *c, cache_job *j, bool hit)
{
    CL_DEBUG("cache %.12s: %s after asking %zu of %zu owner(s)", j->key,
             hit ? "hit" : "miss", j->next_owner, j->nowners);
    job_unlink(c, j);
    if (hit)
        job_hit(c, j);
    else
        job_miss(c, j);
    job_free(j);
    coord__process(c);
}

static void job_next_owner(coord *c, cache_job *j)
{
    while (j->next_owner < j->nowners) {
        const char *owner = j->owners[j->next_owner++];
        Couler__CacheLookup q = COULER__CACHE_LOOKUP__INIT;
        q.key = j->key;
        q.max_age_ms = j->max_age_ms;
        if (send_req(c, owner, COULER__MSG_TYPE__MSG_CACHE_LOOKUP, &q.base, j,
                     NULL, LOOKUP_TIMEOUT_MS) == 0)
            return;
    }
    job_finish(c, j, false);
}

static void job_start(coord *c, cache_job *j)
{
    j->id = ++c->cache->next_job;
    j->next = c->cache->jobs;
    c->cache->jobs = j;
    j->nowners = owners_of(c, j->key, &j->owners);
    job_next_owner(c, j);
}

/* A hit from an owner: before it is used, every node that holds one of its
 * artifacts checks them against their digests. */
static void on_answer(coord *c, cache_job *j, Couler__CacheAnswer *ans)
{
    if (!ans->hit || ans->entry == NULL) {
        couler__cache_answer__free_unpacked(ans, &cl_pb_allocator);
        job_next_owner(c, j);
        return;
    }
    j->answer = ans;
    const Couler__CacheEntryMsg *e = ans->entry;
    for (size_t i = 0; i < e->n_artifacts; i++) {
        const char *host = e->artifacts[i]->host;
        if (host[0] == '\0' || !agent_alive(c, host)) {
            CL_INFO("cache %.12s: artifact %s is on node %s, which is gone; "
                    "recomputing",
                    j->key, e->artifacts[i]->name, host);
            job_finish(c, j, false);
            return;
        }
    }
    /* One verification request per producing node. */
    for (size_t i = 0; i < e->n_artifacts; i++) {
        const char *host = e->artifacts[i]->host;
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcmp(e->artifacts[k]->host, host) == 0;
        if (seen)
            continue;
        char **d = cl_calloc(e->n_artifacts + 1, sizeof(char *));
        size_t nd = 0;
        for (size_t k = 0; d && k < e->n_artifacts; k++)
            if (strcmp(e->artifacts[k]->host, host) == 0)
                d[nd++] = e->artifacts[k]->digest;
        Couler__CacheVerify v = COULER__CACHE_VERIFY__INIT;
        v.digests = d;
        v.n_digests = nd;
        if (d && send_req(c, host, COULER__MSG_TYPE__MSG_CACHE_VERIFY,
                          &v.base, j, NULL, VERIFY_TIMEOUT_MS) == 0)
            j->verifies++;
        else
            j->verify_failed = true;
        cl_free(d);
    }
    if (j->verifies == 0)
        job_finish(c, j, !j->verify_failed);
}

static void on_verified(coord *c, cache_job *j, const Couler__CacheVerified *v)
{
    if (v == NULL || v->n_missing > 0) {
        j->verify_failed = true;
        if (v)
            CL_WARN("cache %.12s: %zu artifact(s) failed their check on the "
                    "producing node; recomputing",
                    j->key, v->n_missing);
    }
    if (--j->verifies == 0)
        job_finish(c, j, !j->verify_failed);
}

/* ---- entry points ----------------------------------------------------------------*/

int coord__cache_init(coord *c)
{
    c->cache = cl_calloc(1, sizeof(*c->cache));
    return c->cache ? 0 : CL_ENOMEM;
}

static void admin_free(admin_job *a);

void coord__cache_free(coord *c)
{
    if (c->cache == NULL)
        return;
    while (c->cache->jobs) {
        cache_job *j = c->cache->jobs;
        c->cache->jobs = j->next;
        job_free(j);
    }
    cache_req *r, *tmp;
    HASH_ITER(hh, c->cache->reqs, r, tmp)
    {
        HASH_DEL(c->cache->reqs, r);
        cl_free(r);
    }
    while (c->cache->admins) {
        admin_job *a = c->cache->admins;
        c->cache->admins = a->next;
        admin_free(a);
    }
    inflight *f, *ftmp;
    HASH_ITER(hh, c->cache->inflight, f, ftmp)
    {
        HASH_DEL(c->cache->inflight, f);
        cl_free(f->leader);
        for (size_t i = 0; i < f->nwaiters; i++)
            cl_free(f->waiters[i]);
        cl_free(f->waiters);
        cl_free(f);
    }
    cl_free(c->cache);
    c->cache = NULL;
}

/* coord__cache_lookup_step - attempt `a` (state LOOKUP) with key `keyhex`:
 * wait for an identical step in flight, else ask the owners. The answer
 * comes back through coord__cached_exit or coord__cache_miss. */
void coord__cache_lookup_step(coord *c, coord_attempt *a, const char *keyhex)
{
    inflight *f;
    HASH_FIND_STR(c->cache->inflight, keyhex, f);
    if (f != NULL && strcmp(f->leader, a->id) != 0) {
        char **nw = cl_realloc(f->waiters, (f->nwaiters + 1) * sizeof(char *));
        if (nw != NULL && (nw[f->nwaiters] = cl_strdup(a->id)) != NULL) {
            f->waiters = nw;
            f->nwaiters++;
            CL_INFO("step %s waits for an identical step in flight (%s)",
                    a->display, f->leader);
            return;
        }
        if (nw)
            f->waiters = nw;
    }
    cache_job *j = cl_calloc(1, sizeof(*j));
    if (j == NULL || (j->attempt_id = cl_strdup(a->id)) == NULL) {
        job_free(j);
        coord__cache_miss(c, a);
        return;
    }
    j->kind = JOB_STEP;
    snprintf(j->key, sizeof(j->key), "%s", keyhex);
    job_start(c, j);
}

/* coord__cache_claim - a step with `keyhex` missed the cache: it computes
 * it (true: queue it) unless an identical step already does, in which case
 * it waits for that one's result (false). */
bool coord__cache_claim(coord *c, const char *keyhex, const char *attempt_id)
{
    inflight *f;
    HASH_FIND_STR(c->cache->inflight, keyhex, f);
    if (f != NULL) {
        if (strcmp(f->leader, attempt_id) == 0)
            return true;
        char **nw = cl_realloc(f->waiters, (f->nwaiters + 1) * sizeof(char *));
        if (nw == NULL)
            return true;
        f->waiters = nw;
        if ((nw[f->nwaiters] = cl_strdup(attempt_id)) == NULL)
            return true;
        f->nwaiters++;
        return false;
    }
    f = cl_calloc(1, sizeof(*f));
    if (f == NULL || (f->leader = cl_strdup(attempt_id)) == NULL) {
        cl_free(f);
        return true;
    }
    snprintf(f->key, sizeof(f->key), "%s", keyhex);
    HASH_ADD_STR(c->cache->inflight, key, f);
    return true;
}

/* The leader of `keyhex` ended: waiters take its result (ex, when it
 * succeeded) or run themselves. */
void coord__cache_settle(coord *c, const char *keyhex,
                         const Couler__StepExited *ex, const char *host)
{
    inflight *f;
    HASH_FIND_STR(c->cache->inflight, keyhex, f);
    if (f == NULL)
        return;
    HASH_DEL(c->cache->inflight, f);
    for (size_t i = 0; i < f->nwaiters; i++) {
        coord_attempt *w = coord__find_attempt(c, f->waiters[i]);
        if (w != NULL && w->state == COORD_ATT_LOOKUP) {
            if (ex != NULL && ex->phase == WF_SUCCEEDED) {
                Couler__StepExited copy = *ex;
                copy.attempt_id = w->id;
                copy.message = "";
                c->cache_hits++;
                coord__cached_exit(c, w, &copy, keyhex, host);
            } else {
                coord__cache_miss(c, w);
            }
        }
        cl_free(f->waiters[i]);
    }
    cl_free(f->waiters);
    cl_free(f->leader);
    cl_free(f);
}

void coord__memo_lookup(coord *c, const char *wf_name, uint32_t node,
                        const char *cache_name, const char *user_key,
                        int64_t max_age_ms)
{
    cache_key k;
    cl_errmsg err;
    cache_job *j = cl_calloc(1, sizeof(*j));
    if (j == NULL)
        return;
    j->kind = JOB_MEMO;
    j->wf_name = cl_strdup(wf_name);
    j->user_key = cl_strdup(user_key);
    j->node = node;
    j->max_age_ms = max_age_ms;
    if (j->wf_name == NULL || j->user_key == NULL ||
        cache_key_memo(cache_name ? cache_name : "", user_key, &k, &err) !=
            0) {
        coord__memo_answer(c, wf_name, node, NULL, user_key, NULL);
        job_free(j);
        return;
    }
    cache_key_hex(&k, j->key);
    job_start(c, j);
}

/* Send an entry to the owners of its key. */
void coord__cache_put(coord *c, const char *keyhex,
                      const Couler__CacheEntryMsg *e, const char *skip)
{
    char **owners;
    size_t n = owners_of(c, keyhex, &owners);
    Couler__CachePut p = COULER__CACHE_PUT__INIT;
    p.entry = (Couler__CacheEntryMsg *)e;
    for (size_t i = 0; i < n; i++) {
        if (skip == NULL || strcmp(owners[i], skip) != 0)
            coord__send_agent(c, owners[i], COULER__MSG_TYPE__MSG_CACHE_PUT,
                              &p.base);
        cl_free(owners[i]);
    }
    cl_free(owners);
}

void coord__memo_save(coord *c, const char *cache_name, const char *user_key,
                      const wf_step_result *r, const char *node_id)
{
    cache_key k;
    cl_errmsg err;
    if (cache_key_memo(cache_name ? cache_name : "", user_key, &k, &err) != 0)
        return;
    char hex[CL_DIGEST_HEX_SIZE];
    cache_key_hex(&k, hex);
    Couler__CacheEntryMsg e = COULER__CACHE_ENTRY_MSG__INIT;
    e.key = hex;
    Couler__KV *kvs = cl_calloc(r->nparams + 1, sizeof(*kvs));
    Couler__KV **kvp = cl_calloc(r->nparams + 1, sizeof(*kvp));
    Couler__ArtifactRef *refs = cl_calloc(r->nartifacts + 1, sizeof(*refs));
    Couler__ArtifactRef **refp = cl_calloc(r->nartifacts + 1, sizeof(*refp));
    if (kvs && kvp && refs && refp) {
        for (size_t i = 0; i < r->nparams; i++) {
            couler__kv__init(&kvs[i]);
            kvs[i].name = (char *)r->params[i].name;
            kvs[i].value = (char *)(r->params[i].value ? r->params[i].value
                                                       : "");
            kvp[i] = &kvs[i];
        }
        e.params = kvp;
        e.n_params = r->nparams;
        for (size_t i = 0; i < r->nartifacts; i++) {
            couler__artifact_ref__init(&refs[i]);
            refs[i].name = (char *)r->artifacts[i].name;
            refs[i].digest = (char *)r->artifacts[i].digest;
            refs[i].host = (char *)r->artifacts[i].host;
            refs[i].size = r->artifacts[i].size;
            refs[i].is_dir = r->artifacts[i].is_dir;
            refp[i] = &refs[i];
        }
        e.artifacts = refp;
        e.n_artifacts = r->nartifacts;
        if (r->result) {
            e.result.data = (uint8_t *)r->result;
            e.result.len = strlen(r->result);
            e.has_result = true;
        }
        e.exit_code = r->exit_code;
        e.producer = (char *)(node_id ? node_id : "");
        e.created = cl_wall_ms();
        e.memo_cache = (char *)(cache_name ? cache_name : "");
        e.memo_key = (char *)user_key;
        coord__cache_put(c, hex, &e, NULL);
    }
    cl_free(kvs);
    cl_free(kvp);
    cl_free(refs);
    cl_free(refp);
}

/* ---- replies from agents ---------------------------------------------------------*/

static void admin_reply(coord *c, admin_job *a, const Couler__CacheAdminReply *r,
                        const char *from);

bool coord__cache_message(coord *c, const char *agent_id, Couler__MsgType type,
                          uint64_t rid, ProtobufCMessage *m, bool *keep)
{
    *keep = false;
    if (type != COULER__MSG_TYPE__MSG_CACHE_ANSWER &&
        type != COULER__MSG_TYPE__MSG_CACHE_VERIFIED &&
        type != COULER__MSG_TYPE__MSG_CACHE_ADMIN_REPLY)
        return false;
    cache_req *r;
    HASH_FIND(hh, c->cache->reqs, &rid, sizeof(rid), r);
    if (r == NULL)
        return true; /* late: its job has moved on */
    HASH_DEL(c->cache->reqs, r);
    cache_job *j = r->job;
    admin_job *adm = r->admin;
    cl_free(r);
    if (type == COULER__MSG_TYPE__MSG_CACHE_ANSWER && j) {
        *keep = true; /* on_answer owns it now */
        on_answer(c, j, (Couler__CacheAnswer *)m);
    } else if (type == COULER__MSG_TYPE__MSG_CACHE_VERIFIED && j) {
        on_verified(c, j, (Couler__CacheVerified *)m);
    } else if (type == COULER__MSG_TYPE__MSG_CACHE_ADMIN_REPLY && adm) {
        admin_reply(c, adm, (Couler__CacheAdminReply *)m, agent_id);
    }
    return true;
}

/* ---- cache ls / show / rm / prune -------------------------------------------------*/

static void admin_free(admin_job *a)
{
    for (size_t i = 0; i < a->nentries; i++)
        couler__cache_entry_msg__free_unpacked(a->entries[i],
                                               &cl_pb_allocator);
    cl_free(a->entries);
    cl_buf_free(&a->errors);
    cl_free(a);
}

static Couler__CacheEntryMsg *entry_copy(const Couler__CacheEntryMsg *e)
{
    size_t len = couler__cache_entry_msg__get_packed_size(e);
    uint8_t *buf = cl_malloc(len ? len : 1);
    if (buf == NULL)
        return NULL;
    couler__cache_entry_msg__pack(e, buf);
    Couler__CacheEntryMsg *copy =
        couler__cache_entry_msg__unpack(&cl_pb_allocator, len, buf);
    cl_free(buf);
    return copy;
}

static void fmt_size(uint64_t b, char *buf, size_t len)
{
    if (b >= (1ull << 30))
        snprintf(buf, len, "%.1fGi", (double)b / (double)(1ull << 30));
    else if (b >= (1ull << 20))
        snprintf(buf, len, "%.1fMi", (double)b / (double)(1ull << 20));
    else if (b >= 1024)
        snprintf(buf, len, "%.1fKi", (double)b / 1024.0);
    else
        snprintf(buf, len, "%lluB", (unsigned long long)b);
}

static int entry_cmp(const void *pa, const void *pb)
{
    const Couler__CacheEntryMsg *a = *(Couler__CacheEntryMsg *const *)pa;
    const Couler__CacheEntryMsg *b = *(Couler__CacheEntryMsg *const *)pb;
    int k = strcmp(a->key, b->key);
    if (k != 0)
        return k;
    return strcmp(a->held_by, b->held_by);
}

static void admin_finish(coord *c, admin_job *a)
{
    admin_job **pp = &c->cache->admins;
    while (*pp && *pp != a)
        pp = &(*pp)->next;
    if (*pp)
        *pp = a->next;
    cache_req *r, *tmp;
    HASH_ITER(hh, c->cache->reqs, r, tmp)
    {
        if (r->admin == a) {
            HASH_DEL(c->cache->reqs, r);
            cl_free(r);
        }
    }
    cl_buf out = CL_BUF_INIT;
    if (a->nentries > 1) /* none: entries is NULL, which qsort must not get */
        qsort(a->entries, a->nentries, sizeof(*a->entries), entry_cmp);
    switch (a->op) {
    case COULER__CACHE_REQUEST__OP__OP_LS:
        cl_buf_printf(&out, "%-16s %-12s %-20s %5s %9s %9s %s\n", "KEY",
                      "PRODUCER", "CREATED", "HITS", "SIZE", "COMPUTE",
                      "HELD BY");
        for (size_t i = 0; i < a->nentries;) {
            const Couler__CacheEntryMsg *e = a->entries[i];
            char held[512] = "";
            uint64_t hits = 0;
            size_t k = i;
            for (; k < a->nentries && strcmp(a->entries[k]->key, e->key) == 0;
                 k++) {
                size_t l = strlen(held);
                snprintf(held + l, sizeof(held) - l, "%s%s", l ? "," : "",
                         a->entries[k]->held_by);
                hits += a->entries[k]->hits;
            }
            char ts[40], size[32], comp[32];
            cl_time_format_s(e->created, ts, sizeof(ts));
            fmt_size(e->size, size, sizeof(size));
            cl_duration_format(e->compute_ms, comp, sizeof(comp));
            cl_buf_printf(&out, "%-16.16s %-12.12s %-20s %5llu %9s %9s %s%s%s\n",
                          e->key, e->producer, ts, (unsigned long long)hits,
                          size, comp, held, e->memo_key[0] ? "  memoize " : "",
                          e->memo_key);
            i = k;
        }
        a->count = (uint32_t)a->nentries;
        break;
    case COULER__CACHE_REQUEST__OP__OP_SHOW:
        if (a->nentries == 0)
            cl_buf_printf(&out, "no entry %s on any live node\n", a->key);
        for (size_t i = 0; i < a->nentries; i++) {
            const Couler__CacheEntryMsg *e = a->entries[i];
            char ts[40], comp[32];
            cl_buf_printf(&out,
                          "key %s\nheld by %s\nproducer %s\ncreated %s\n"
                          "hits %llu\ncompute %s\n%s",
                          e->key, e->held_by, e->producer,
                          cl_time_format_s(e->created, ts, sizeof(ts)),
                          (unsigned long long)e->hits,
                          cl_duration_format(e->compute_ms, comp,
                                             sizeof(comp)),
                          e->text);
            if (i + 1 < a->nentries)
                cl_buf_puts(&out, "\n");
        }
        break;
    case COULER__CACHE_REQUEST__OP__OP_RM:
        cl_buf_printf(&out, "removed %u cop%s of %s\n", a->count,
                      a->count == 1 ? "y" : "ies", a->key);
        break;
    case COULER__CACHE_REQUEST__OP__OP_PRUNE:
        cl_buf_printf(&out, "pruned %u entr%s\n", a->count,
                      a->count == 1 ? "y" : "ies");
        break;
    default:
        break;
    }
    if (a->errors.len > 0)
        cl_buf_append(&out, a->errors.data, a->errors.len);
    Couler__CacheReply rep = COULER__CACHE_REPLY__INIT;
    rep.text = out.data ? out.data : "";
    rep.count = a->count;
    coord__reply_client(c, a->ident, a->ident_len, a->client_rid,
                        COULER__MSG_TYPE__MSG_CACHE_REPLY, &rep.base);
    cl_buf_free(&out);
    admin_free(a);
}

static void admin_reply(coord *c, admin_job *a, const Couler__CacheAdminReply *r,
                        const char *from)
{
    for (size_t i = 0; i < r->n_entries; i++) {
        if (a->nentries == a->cap) {
            size_t cap = a->cap ? 2 * a->cap : 64;
            Couler__CacheEntryMsg **ne =
                cl_realloc(a->entries, cap * sizeof(*ne));
            if (ne == NULL)
                break;
            a->entries = ne;
            a->cap = cap;
        }
        Couler__CacheEntryMsg *e = entry_copy(r->entries[i]);
        if (e)
            a->entries[a->nentries++] = e;
    }
    a->count += r->count;
    if (r->error[0])
        cl_buf_printf(&a->errors, "node %s: %s\n", from, r->error);
    if (--a->outstanding == 0)
        admin_finish(c, a);
}

int coord__cache_admin(coord *c, const uint8_t *ident, size_t ident_len,
                       uint64_t client_rid, const Couler__CacheRequest *req,
                       cl_errmsg *err)
{
    if (req->op == COULER__CACHE_REQUEST__OP__OP_LOOKUP) {
        /* Exactly what a step's lookup does: owners, then verification. */
        cache_key k;
        if (cache_key_parse(req->key, &k) != 0 || ident_len > 256) {
            cl_errmsg_set(err, "'%s' is not a cache key", req->key);
            return CL_EINVAL;
        }
        cache_job *j = cl_calloc(1, sizeof(*j));
        if (j == NULL)
            return CL_ENOMEM;
        j->kind = JOB_CLIENT;
        snprintf(j->key, sizeof(j->key), "%s", req->key);
        memcpy(j->ident, ident, ident_len);
        j->ident_len = ident_len;
        j->client_rid = client_rid;
        job_start(c, j);
        return 0;
    }
    if (req->op == COULER__CACHE_REQUEST__OP__OP_SHOW ||
        req->op == COULER__CACHE_REQUEST__OP__OP_RM) {
        cache_key k;
        if (cache_key_parse(req->key, &k) != 0) {
            cl_errmsg_set(err, "'%s' is not a cache key (64 hex digits, as "
                               "`cache ls` shows them)",
                          req->key);
            return CL_EINVAL;
        }
    }
    if (ident_len > sizeof(((admin_job *)0)->ident)) {
        cl_errmsg_set(err, "client identity too long");
        return CL_EINVAL;
    }
    admin_job *a = cl_calloc(1, sizeof(*a));
    if (a == NULL)
        return CL_ENOMEM;
    memcpy(a->ident, ident, ident_len);
    a->ident_len = ident_len;
    a->client_rid = client_rid;
    a->op = req->op;
    snprintf(a->key, sizeof(a->key), "%s", req->key);
    cl_buf_init(&a->errors);
    a->next = c->cache->admins;
    c->cache->admins = a;
    for (coord_agent *ag = c->agents; ag; ag = ag->hh.next) {
        if (ag->state != COORD_AGENT_READY || ag->reg == NULL)
            continue;
        if (send_req(c, ag->id, COULER__MSG_TYPE__MSG_CACHE_ADMIN, &req->base,
                     NULL, a, ADMIN_TIMEOUT_MS) == 0)
            a->outstanding++;
    }
    if (a->outstanding == 0)
        admin_finish(c, a);
    return 0;
}

/* ---- timers ------------------------------------------------------------------------*/

void coord__cache_tick(coord *c)
{
    int64_t now = cl_now_ms();
    cache_req *r, *tmp;
    HASH_ITER(hh, c->cache->reqs, r, tmp)
    {
        if (r->deadline > now)
            continue;
        HASH_DEL(c->cache->reqs, r);
        cache_job *j = r->job;
        admin_job *a = r->admin;
        cl_free(r);
        if (a != NULL) {
            cl_buf_puts(&a->errors, "a node did not answer in time\n");
            if (--a->outstanding == 0)
                admin_finish(c, a);
        } else if (j != NULL && j->answer == NULL) {
            job_next_owner(c, j); /* that owner is silent: ask the next */
        } else if (j != NULL) {
            on_verified(c, j, NULL);
        }
    }
}
