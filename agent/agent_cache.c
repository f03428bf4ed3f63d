/* agent_cache.c - this node's part of the distributed step-output cache:
 * it answers lookups for the keys it owns, stores entries it is given,
 * verifies the artifacts it produced before a hit on them is used, and
 * lists, shows, removes and prunes entries for `couler-coord cache`.
 *
 * Lookups, puts and listings are small RocksDB operations done on the
 * loop; verifying an artifact reads and hashes all of it, so it runs on
 * the thread pool.
 */
#include "agent/agent_int.h"

#include "common/cl_heap.h"
#include "common/cl_log.h"
#include "common/cl_time.h"

#include <stdio.h>
#include <string.h>

/* ---- entry conversions -----------------------------------------------------*/

/* Fill `m` from `e`; strings are borrowed from e, arrays allocated here and
 * released with entry_msg_release. */
static int entry_msg_fill(const cache_entry *e, Couler__CacheEntryMsg *m,
                          char keyhex[CL_DIGEST_HEX_SIZE],
                          char (*digests)[CL_DIGEST_HEX_SIZE])
{
    couler__cache_entry_msg__init(m);
    cache_key_hex(&e->key, keyhex);
    m->key = keyhex;
    m->params = cl_calloc(e->nparams + 1, sizeof(*m->params));
    m->artifacts = cl_calloc(e->nartifacts + 1, sizeof(*m->artifacts));
    if (m->params == NULL || m->artifacts == NULL)
        return CL_ENOMEM;
    for (size_t i = 0; i < e->nparams; i++) {
        Couler__KV *kv = cl_calloc(1, sizeof(*kv));
        if (kv == NULL)
            return CL_ENOMEM;
        couler__kv__init(kv);
        kv->name = (char *)e->params[i].name;
        kv->value = (char *)e->params[i].value;
        m->params[m->n_params++] = kv;
    }
    if (e->result) {
        m->result.data = (uint8_t *)e->result;
        m->result.len = strlen(e->result);
        m->has_result = true;
    }
    m->exit_code = e->exit_code;
    for (size_t i = 0; i < e->nartifacts; i++) {
        Couler__ArtifactRef *r = cl_calloc(1, sizeof(*r));
        if (r == NULL)
            return CL_ENOMEM;
        couler__artifact_ref__init(r);
        r->name = (char *)e->artifacts[i].name;
        cache_digest_hex(&e->artifacts[i].digest, digests[i]);
        r->digest = digests[i];
        r->host = (char *)(e->artifacts[i].node ? e->artifacts[i].node : "");
        r->size = e->artifacts[i].size;
        r->is_dir = e->artifacts[i].is_dir;
        m->artifacts[m->n_artifacts++] = r;
    }
    m->producer = (char *)(e->producer ? e->producer : "");
    m->created = e->created_ms;
    m->compute_ms = e->compute_ms;
    m->upstream_ms = e->upstream_ms;
    m->hits = e->hits;
    m->last_used = e->last_used_ms;
    m->memo_cache = (char *)(e->memo_cache ? e->memo_cache : "");
    m->memo_key = (char *)(e->memo_key ? e->memo_key : "");
    m->size = cache_entry_size(e);
    return 0;
}

static void entry_msg_release(Couler__CacheEntryMsg *m)
{
    for (size_t i = 0; i < m->n_params; i++)
        cl_free(m->params[i]);
    cl_free(m->params);
    for (size_t i = 0; i < m->n_artifacts; i++)
        cl_free(m->artifacts[i]);
    cl_free(m->artifacts);
}

/* ---- lookup and put ----------------------------------------------------------*/

static void on_lookup(agent *a, uint64_t rid, const Couler__CacheLookup *q)
{
    Couler__CacheAnswer ans = COULER__CACHE_ANSWER__INIT;
    ans.key = q->key;
    cache_key key;
    cache_entry *e = NULL;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    Couler__CacheEntryMsg m;
    char keyhex[CL_DIGEST_HEX_SIZE];
    char(*digests)[CL_DIGEST_HEX_SIZE] = NULL;
    if (cache_key_parse(q->key, &key) == 0 &&
        cache_store_lookup(agent__art_store(a), &key, q->max_age_ms, &e,
                           &err) == 0) {
        digests = cl_calloc(e->nartifacts + 1, sizeof(*digests));
        if (digests && entry_msg_fill(e, &m, keyhex, digests) == 0) {
            m.held_by = a->node_id;
            ans.hit = true;
            ans.entry = &m;
        }
    }
    agent__send_reply(a, COULER__MSG_TYPE__MSG_CACHE_ANSWER, rid, &ans.base);
    if (ans.entry)
        entry_msg_release(&m);
    cl_free(digests);
    cache_entry_free(e);
}

static void on_put(agent *a, const Couler__CachePut *p)
{
    const Couler__CacheEntryMsg *m = p->entry;
    cache_key key;
    if (m == NULL || cache_key_parse(m->key, &key) != 0)
        return;
    cache_kv *params = cl_calloc(m->n_params + 1, sizeof(*params));
    cache_artifact_ref *arts = cl_calloc(m->n_artifacts + 1, sizeof(*arts));
    char *result = m->has_result ? cl_strndup(m->result.data
                                                  ? (char *)m->result.data
                                                  : "",
                                              m->result.len)
                                 : NULL;
    if (params && arts && (!m->has_result || result)) {
        for (size_t i = 0; i < m->n_params; i++) {
            params[i].name = m->params[i]->name;
            params[i].value = m->params[i]->value;
        }
        size_t k = 0;
        for (size_t i = 0; i < m->n_artifacts; i++) {
            const Couler__ArtifactRef *r = m->artifacts[i];
            if (cache_digest_parse(r->digest, &arts[k].digest) != 0)
                continue;
            arts[k].name = r->name;
            arts[k].size = r->size;
            arts[k].is_dir = r->is_dir;
            arts[k].node = r->host;
            k++;
        }
        cache_entry e;
        memset(&e, 0, sizeof(e));
        e.params = params;
        e.nparams = m->n_params;
        e.result = result;
        e.exit_code = m->exit_code;
        e.artifacts = arts;
        e.nartifacts = k;
        e.producer = m->producer[0] ? m->producer : NULL;
        e.created_ms = m->created;
        e.compute_ms = m->compute_ms;
        e.upstream_ms = m->upstream_ms;
        e.memo_cache = m->memo_cache[0] ? m->memo_cache : NULL;
        e.memo_key = m->memo_key[0] ? m->memo_key : NULL;
        cl_errmsg err;
        cl_errmsg_clear(&err);
        if (cache_store_put(agent__art_store(a), &key, &e, &err) != 0)
            CL_WARN("cache entry %.12s not stored: %s", m->key, err.msg);
    }
    cl_free(params);
    cl_free(arts);
    cl_free(result);
}

/* ---- verify ------------------------------------------------------------------*/

typedef struct verify_job {
    uv_work_t work;
    agent *a;
    uint64_t rid;
    char **digests;
    size_t n;
    bool *bad;
} verify_job;

static void verify_work(uv_work_t *w)
{
    verify_job *j = w->data;
    for (size_t i = 0; i < j->n; i++) {
        cache_digest d;
        cl_errmsg err;
        j->bad[i] = cache_digest_parse(j->digests[i], &d) != 0 ||
                    cache_store_artifact_verify(agent__art_store(j->a), &d,
                                                &err) != 0;
        if (j->bad[i])
            CL_WARN("artifact %.12s failed its check here: %s",
                    j->digests[i], err.msg);
    }
}

static void verify_after(uv_work_t *w, int status)
{
    verify_job *j = w->data;
    Couler__CacheVerified v = COULER__CACHE_VERIFIED__INIT;
    char **missing = cl_calloc(j->n + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; missing && i < j->n; i++)
        if (status != 0 || j->bad[i])
            missing[k++] = j->digests[i];
    v.missing = missing;
    v.n_missing = k;
    if (!j->a->closing)
        agent__send_reply(j->a, COULER__MSG_TYPE__MSG_CACHE_VERIFIED, j->rid,
                          &v.base);
    j->a->jobs--;
    cl_free(missing);
    for (size_t i = 0; i < j->n; i++)
        cl_free(j->digests[i]);
    cl_free(j->digests);
    cl_free(j->bad);
    agent *a = j->a;
    cl_free(j);
    agent__steps_closed(a);
}

static void on_verify(agent *a, uint64_t rid, const Couler__CacheVerify *q)
{
    verify_job *j = cl_calloc(1, sizeof(*j));
    if (j == NULL)
        return;
    j->a = a;
    j->rid = rid;
    j->n = q->n_digests;
    j->digests = cl_calloc(j->n + 1, sizeof(char *));
    j->bad = cl_calloc(j->n + 1, sizeof(bool));
    for (size_t i = 0; j->digests && i < j->n; i++)
        j->digests[i] = cl_strdup(q->digests[i]);
    j->work.data = j;
    a->jobs++;
    if (j->digests == NULL || j->bad == NULL ||
        uv_queue_work(a->loop, &j->work, verify_work, verify_after) != 0)
        verify_after(&j->work, CL_ENOMEM);
}

/* ---- administration ----------------------------------------------------------*/

typedef struct list_ctx {
    Couler__CacheAdminReply *rep;
    size_t cap;
    agent *a;
    int rv;
} list_ctx;

static int list_cb(void *data, const cache_entry *e)
{
    list_ctx *x = data;
    Couler__CacheAdminReply *r = x->rep;
    if (r->n_entries == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 64;
        Couler__CacheEntryMsg **ne =
            cl_realloc(r->entries, cap * sizeof(*ne));
        if (ne == NULL)
            return (x->rv = CL_ENOMEM);
        r->entries = ne;
        x->cap = cap;
    }
    /* Listings carry the summary only: key, producer, times, sizes. */
    Couler__CacheEntryMsg *m = cl_calloc(1, sizeof(*m));
    char *key = cl_malloc(CL_DIGEST_HEX_SIZE);
    if (m == NULL || key == NULL) {
        cl_free(m);
        cl_free(key);
        return (x->rv = CL_ENOMEM);
    }
    couler__cache_entry_msg__init(m);
    cache_key_hex(&e->key, key);
    m->key = key;
    m->producer = cl_strdup(e->producer ? e->producer : "");
    m->memo_cache = cl_strdup(e->memo_cache ? e->memo_cache : "");
    m->memo_key = cl_strdup(e->memo_key ? e->memo_key : "");
    m->held_by = x->a->node_id;
    m->created = e->created_ms;
    m->last_used = e->last_used_ms;
    m->hits = e->hits;
    m->compute_ms = e->compute_ms;
    m->size = cache_entry_size(e);
    r->entries[r->n_entries++] = m;
    return 0;
}

static void free_listing(Couler__CacheAdminReply *r)
{
    for (size_t i = 0; i < r->n_entries; i++) {
        Couler__CacheEntryMsg *m = r->entries[i];
        cl_free(m->key);
        cl_free(m->producer);
        cl_free(m->memo_cache);
        cl_free(m->memo_key);
        if (m->text != protobuf_c_empty_string) /* set by `show` only */
            cl_free(m->text);
        cl_free(m);
    }
    cl_free(r->entries);
}

/* ---- prune (on the thread pool) ------------------------------------------*/

typedef struct prune_job {
    uv_work_t work;
    agent *a;
    uint64_t rid;
    int64_t older_than_ms;
    int rv;
    cache_gc_report gr;
    cl_errmsg err;
} prune_job;

static void prune_work(uv_work_t *w)
{
    prune_job *j = w->data;
    j->rv = cache_store_prune(agent__art_store(j->a), j->older_than_ms,
                              &j->gr, &j->err);
}

static void prune_after(uv_work_t *w, int status)
{
    prune_job *j = w->data;
    agent *a = j->a;
    Couler__CacheAdminReply rep = COULER__CACHE_ADMIN_REPLY__INIT;
    if (status != 0 && j->rv == 0) {
        j->rv = CL_ECANCELED;
        cl_errmsg_set(&j->err, "cache prune: cancelled");
    }
    rep.count = j->rv == 0 ? (uint32_t)j->gr.entries_removed : 0;
    rep.error = j->rv == 0 ? "" : j->err.msg;
    if (!a->closing)
        agent__send_reply(a, COULER__MSG_TYPE__MSG_CACHE_ADMIN_REPLY, j->rid,
                          &rep.base);
    a->jobs--;
    cl_free(j);
    agent__steps_closed(a);
}

static void start_prune(agent *a, uint64_t rid, int64_t older_than_ms)
{
    prune_job *j = cl_calloc(1, sizeof(*j));
    if (j == NULL) {
        Couler__CacheAdminReply rep = COULER__CACHE_ADMIN_REPLY__INIT;
        rep.error = "out of memory";
        agent__send_reply(a, COULER__MSG_TYPE__MSG_CACHE_ADMIN_REPLY, rid,
                          &rep.base);
        return;
    }
    j->a = a;
    j->rid = rid;
    j->older_than_ms = older_than_ms;
    cl_errmsg_clear(&j->err);
    j->work.data = j;
    a->jobs++;
    int rv = uv_queue_work(a->loop, &j->work, prune_work, prune_after);
    if (rv != 0) {
        j->rv = CL_EUV;
        cl_errmsg_set(&j->err, "cache prune: cannot queue work: %s",
                      uv_strerror(rv));
        prune_after(&j->work, 0);
    }
}

static void on_admin(agent *a, uint64_t rid, const Couler__CacheRequest *q)
{
    Couler__CacheAdminReply rep = COULER__CACHE_ADMIN_REPLY__INIT;
    cache_store *st = agent__art_store(a);
    cl_errmsg err;
    cl_errmsg_clear(&err);
    char errbuf[CL_ERRMSG_SIZE] = "";
    list_ctx x = {&rep, 0, a, 0};
    cache_key key;
    switch (q->op) {
    case COULER__CACHE_REQUEST__OP__OP_LS:
        if (cache_store_list(st, list_cb, &x, &err) != 0)
            snprintf(errbuf, sizeof(errbuf), "%s", err.msg);
        break;
    case COULER__CACHE_REQUEST__OP__OP_SHOW: {
        cache_entry *e = NULL;
        if (cache_key_parse(q->key, &key) != 0 ||
            cache_store_get(st, &key, &e, &err) != 0)
            break; /* not here */
        list_cb(&x, e);
        if (rep.n_entries == 1) {
            cache_score_terms t;
            cache_store_score_terms(st, e, &t);
            cl_buf b = CL_BUF_INIT;
            cl_buf_printf(&b,
                          "score I = %.4f = alpha*log(1+L) %.4f + beta*F^2 "
                          "%.4f - e^-V %.4f (L %.3f s, F %.4f, V %.4f)\n",
                          t.score, t.cost, t.reuse, -t.size, t.L, t.F,
                          t.V);
            for (size_t i = 0; i < e->nparams; i++)
                cl_buf_printf(&b, "parameter %s = %s\n", e->params[i].name,
                              e->params[i].value);
            for (size_t i = 0; i < e->nartifacts; i++) {
                char d[CL_DIGEST_HEX_SIZE];
                cl_buf_printf(&b, "artifact %s %s %llu bytes on %s\n",
                              e->artifacts[i].name,
                              cache_digest_hex(&e->artifacts[i].digest, d),
                              (unsigned long long)e->artifacts[i].size,
                              e->artifacts[i].node ? e->artifacts[i].node
                                                   : "?");
            }
            if (e->result)
                cl_buf_printf(&b, "result %.200s\n", e->result);
            rep.entries[0]->text = cl_buf_steal(&b, NULL);
        }
        cache_entry_free(e);
        break;
    }
    case COULER__CACHE_REQUEST__OP__OP_RM:
        if (cache_key_parse(q->key, &key) == 0 &&
            cache_store_remove(st, &key, &err) == 0)
            rep.count = 1;
        break;
    case COULER__CACHE_REQUEST__OP__OP_PRUNE:
        /* On the thread pool: reclaiming blob space compacts. */
        start_prune(a, rid, q->older_than_ms);
        return;
    default:
        snprintf(errbuf, sizeof(errbuf), "unknown cache operation");
        break;
    }
    if (x.rv != 0)
        snprintf(errbuf, sizeof(errbuf), "%s", cl_strerror(x.rv));
    rep.error = errbuf;
    agent__send_reply(a, COULER__MSG_TYPE__MSG_CACHE_ADMIN_REPLY, rid,
                      &rep.base);
    free_listing(&rep);
}

bool agent__cache_message(agent *a, Couler__MsgType type, uint64_t rid,
                          ProtobufCMessage *m)
{
    if (agent__art_store(a) == NULL)
        return false;
    switch (type) {
    case COULER__MSG_TYPE__MSG_CACHE_LOOKUP:
        on_lookup(a, rid, (Couler__CacheLookup *)m);
        return true;
    case COULER__MSG_TYPE__MSG_CACHE_PUT:
        on_put(a, (Couler__CachePut *)m);
        return true;
    case COULER__MSG_TYPE__MSG_CACHE_VERIFY:
        on_verify(a, rid, (Couler__CacheVerify *)m);
        return true;
    case COULER__MSG_TYPE__MSG_CACHE_ADMIN:
        on_admin(a, rid, (Couler__CacheRequest *)m);
        return true;
    default:
        return false;
    }
}
