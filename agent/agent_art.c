/* agent_art.c - the node's artifacts: its content-addressed store
 * (cache/), outputs imported after a step, inputs handed over from the
 * local store or fetched from the node that produced them, and the server
 * that lets peers fetch from us.
 *
 * Store work that reads or hashes whole artifacts (import, hand-over) runs
 * on the libuv thread pool; the store serialises its own operations. The
 * transfer protocol runs on this loop: one DEALER per peer endpoint, one
 * receiver (cache_xfer_recv) per fetch, routed by transfer id; our ROUTER
 * answers peers through a cache_xfer_sender.
 */
#include "agent/agent_int.h"

#include "common/cl_heap.h"
#include "common/cl_log.h"
#include "common/cl_time.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define ART_TICK_MS 200

typedef struct art_peer {
    char *endpoint;
    void *sock;
    cl_zsock zs;
    agent *a;
    UT_hash_handle hh;
} art_peer;

typedef struct art_fetch {
    uint64_t id;
    int64_t started; /* monotonic ms */
    agent_step *s;
    size_t input;
    cache_xfer_recv *recv;
    art_peer *peer;
    unsigned checks; /* chunk checks on the thread pool */
    bool orphan;     /* ended (or cancelled) while checks were running */
    struct art_fetch *next;
} art_fetch;

/* A received chunk hashed and written on the thread pool. */
typedef struct check_job {
    uv_work_t work;
    agent *a;
    art_fetch *f;
    cache_digest chunk;
    uint8_t *buf;
    size_t len;
    int rv;
} check_job;

struct agent_art {
    cache_store *store;
    void *server;
    cl_zsock server_zs;
    cache_xfer_sender sender;
    const uint8_t *cur_ident; /* the peer being answered */
    size_t cur_ident_len;
    char endpoint[256];       /* advertised */
    art_peer *peers;
    art_fetch *fetches;
    uint64_t next_id;
    uv_timer_t tick;
    int open_handles;
};

static void art_maybe_free(agent *a);

/* ---- server -------------------------------------------------------------*/

static int server_send(void *data, const uint8_t *msg, size_t len)
{
    struct agent_art *art = data;
    const void *parts[2] = {art->cur_ident, msg};
    size_t lens[2] = {art->cur_ident_len, len};
    return cl_zsock_send(&art->server_zs, 2, parts, lens);
}

static void on_server_msg(cl_zsock *zs, const cl_zframes *f)
{
    agent *a = zs->data;
    struct agent_art *art = a->art;
    if (f->nframes != 2) {
        a->bad_frames++;
        return;
    }
    art->cur_ident = f->data[0];
    art->cur_ident_len = f->len[0];
    if (cache_xfer_sender_on_msg(&art->sender, f->data[1], f->len[1]) != 0)
        a->bad_frames++;
    art->cur_ident = NULL;
}

/* ---- fetches ------------------------------------------------------------*/

static void fetch_done(agent *a, art_fetch *f);

static void on_peer_msg(cl_zsock *zs, const cl_zframes *fr)
{
    art_peer *p = zs->data;
    agent *a = p->a;
    if (fr->nframes != 1) {
        a->bad_frames++;
        return;
    }
    uint64_t id;
    bool is_req;
    if (cache_xfer_msg_id(fr->data[0], fr->len[0], &id, &is_req) != 0 ||
        is_req) {
        a->bad_frames++;
        return;
    }
    for (art_fetch *f = a->art->fetches; f; f = f->next) {
        if (f->id != id)
            continue;
        cache_xfer_recv_on_msg(f->recv, fr->data[0], fr->len[0], cl_now_ms());
        enum cache_xfer_state st = cache_xfer_recv_state(f->recv);
        if (st == CACHE_XFER_DONE || st == CACHE_XFER_FAILED)
            fetch_done(a, f);
        return;
    }
}

static int peer_send(void *data, const uint8_t *msg, size_t len)
{
    art_peer *p = data;
    const void *parts[1] = {msg};
    size_t lens[1] = {len};
    return cl_zsock_send(&p->zs, 1, parts, lens);
}

static art_peer *peer_get(agent *a, const char *endpoint)
{
    struct agent_art *art = a->art;
    art_peer *p;
    HASH_FIND_STR(art->peers, endpoint, p);
    if (p != NULL)
        return p;
    p = cl_calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->a = a;
    p->endpoint = cl_strdup(endpoint);
    p->sock = zmq_socket(a->zctx, ZMQ_DEALER);
    if (p->endpoint == NULL || p->sock == NULL) {
        if (p->sock)
            zmq_close(p->sock);
        cl_free(p->endpoint);
        cl_free(p);
        return NULL;
    }
    int zero = 0, hwm = 10000;
    zmq_setsockopt(p->sock, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(p->sock, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    if (zmq_connect(p->sock, endpoint) != 0) {
        zmq_close(p->sock);
        cl_free(p->endpoint);
        cl_free(p);
        return NULL;
    }
    p->zs.data = p;
    if (cl_zsock_init(a->loop, &p->zs, p->sock, on_peer_msg) != 0 ||
        cl_zsock_start(&p->zs) != 0) {
        /* zs handles may be half made: close them the normal way later */
    }
    art->open_handles++;
    HASH_ADD_KEYPTR(hh, art->peers, p->endpoint, strlen(p->endpoint), p);
    return p;
}

static void on_tick(uv_timer_t *t)
{
    agent *a = t->data;
    int64_t now = cl_now_ms();
    art_fetch *f = a->art->fetches;
    while (f) {
        art_fetch *next = f->next;
        if (cache_xfer_recv_next_timer(f->recv) <= now) {
            cache_xfer_recv_tick(f->recv, now);
            enum cache_xfer_state st = cache_xfer_recv_state(f->recv);
            if (st == CACHE_XFER_DONE || st == CACHE_XFER_FAILED)
                fetch_done(a, f);
        }
        f = next;
    }
}

/* ---- staging inputs -------------------------------------------------------*/

static void inputs_work(uv_work_t *w);
static void inputs_after(uv_work_t *w, int status);

static void unlink_fetch(agent *a, art_fetch *f)
{
    art_fetch **pp = &a->art->fetches;
    while (*pp && *pp != f)
        pp = &(*pp)->next;
    if (*pp)
        *pp = f->next;
}

static void start_handover(agent *a, agent_step *s)
{
    s->work.data = s;
    s->work_busy = true;
    int rv = uv_queue_work(a->loop, &s->work, inputs_work, inputs_after);
    if (rv != 0) {
        s->work_busy = false;
        s->art_status = CL_EUV;
        snprintf(s->art_why, sizeof(s->art_why), "cannot queue work: %s",
                 uv_strerror(rv));
        s->art_cb(s);
    }
}

/* fetch_free - a fetch unlinked from the list; one with chunk checks still
 * running is freed by the last of them. */
static void fetch_free(art_fetch *f)
{
    if (f->checks > 0) {
        f->orphan = true;
        f->s = NULL;
        return;
    }
    cache_xfer_recv_free(f->recv);
    cl_free(f);
}

static void check_work(uv_work_t *w)
{
    check_job *j = w->data;
    cache_xfer_store st;
    cache_store_xfer_store(j->a->art->store, &st);
    j->rv = cache_xfer_check_write(&st, &j->chunk, j->buf, j->len);
}

static void check_after(uv_work_t *w, int status)
{
    check_job *j = w->data;
    agent *a = j->a;
    art_fetch *f = j->f;
    int rv = status != 0 ? CL_ECANCELED : j->rv;
    cache_digest chunk = j->chunk;
    cl_free(j->buf);
    cl_free(j);
    a->jobs--;
    f->checks--;
    if (f->orphan) {
        fetch_free(f);
    } else {
        cache_xfer_recv_chunk_checked(f->recv, &chunk, rv, cl_now_ms());
        enum cache_xfer_state st = cache_xfer_recv_state(f->recv);
        if (st == CACHE_XFER_DONE || st == CACHE_XFER_FAILED)
            fetch_done(a, f);
    }
    agent__steps_closed(a);
}

static int check_start(void *data, cache_xfer_recv *r, const cache_digest *chunk,
                       uint8_t *buf, size_t len)
{
    (void)r;
    art_fetch *f = data;
    agent *a = f->peer->a;
    check_job *j = cl_calloc(1, sizeof(*j));
    if (j == NULL) {
        cl_free(buf);
        return CL_ENOMEM;
    }
    j->a = a;
    j->f = f;
    j->chunk = *chunk;
    j->buf = buf;
    j->len = len;
    j->work.data = j;
    int rv = uv_queue_work(a->loop, &j->work, check_work, check_after);
    if (rv != 0) {
        cl_free(buf);
        cl_free(j);
        return CL_EUV;
    }
    a->jobs++;
    f->checks++;
    return 0;
}

static void fetch_done(agent *a, art_fetch *f)
{
    agent_step *s = f->s;
    if (cache_xfer_recv_state(f->recv) == CACHE_XFER_DONE) {
        cache_xfer_recv_stats st;
        cache_xfer_recv_get_stats(f->recv, &st);
        int64_t ms = cl_now_ms() - f->started;
        CL_INFO("fetched artifact %s (%llu bytes, %llu chunks, %llu already "
                "here) from %s in %lld ms",
                s->assign->inputs[f->input]->digest,
                (unsigned long long)st.bytes_fetched,
                (unsigned long long)st.chunks_total,
                (unsigned long long)st.chunks_present, f->peer->endpoint,
                (long long)ms);
    }
    if (cache_xfer_recv_state(f->recv) == CACHE_XFER_FAILED &&
        s->art_status == 0) {
        cl_errmsg why;
        cl_errmsg_clear(&why);
        int rv = cache_xfer_recv_error(f->recv, &why);
        Couler__InputArtifact *in = s->assign->inputs[f->input];
        s->art_status = rv ? rv : CL_EIO;
        snprintf(s->art_why, sizeof(s->art_why),
                 "input artifact '%s' could not be fetched from node %s: %s",
                 in->name, in->host, why.msg);
        snprintf(s->missing_artifact, sizeof(s->missing_artifact), "%s",
                 in->digest);
    }
    unlink_fetch(a, f);
    fetch_free(f);
    if (--s->pending_fetches == 0) {
        if (s->art_status != 0)
            s->art_cb(s);
        else
            start_handover(a, s);
    }
}

/* Where input i is handed over on the host before couler-exec stages it. */
void agent__art_input_path(const agent_step *s, size_t i, char *buf,
                           size_t len)
{
    snprintf(buf, len, "%s/in/%zu", s->dir, i);
}

static void inputs_work(uv_work_t *w)
{
    agent_step *s = w->data;
    agent *a = s->a;
    for (size_t i = 0; i < s->assign->n_inputs && s->art_status == 0; i++) {
        Couler__InputArtifact *in = s->assign->inputs[i];
        if (in->has_raw || in->digest[0] == '\0')
            continue;
        cache_digest d;
        if (cache_digest_parse(in->digest, &d) != 0) {
            s->art_status = CL_EINVAL;
            snprintf(s->art_why, sizeof(s->art_why),
                     "input artifact '%s' has a malformed digest", in->name);
            break;
        }
        char dest[PATH_MAX];
        agent__art_input_path(s, i, dest, sizeof(dest));
        cl_errmsg err;
        cl_errmsg_clear(&err);
        int rv = cache_store_handover(a->art->store, &d, dest, NULL, &err);
        if (rv != 0) {
            s->art_status = rv;
            snprintf(s->art_why, sizeof(s->art_why),
                     "input artifact '%s': %s", in->name, err.msg);
            if (rv == CL_ECORRUPT || rv == CL_ENOENT)
                snprintf(s->missing_artifact, sizeof(s->missing_artifact),
                         "%s", in->digest);
        }
    }
}

static void inputs_after(uv_work_t *w, int status)
{
    agent_step *s = w->data;
    s->work_busy = false;
    if (s->a->closing) {
        agent__step_maybe_free(s);
        return;
    }
    if (status != 0 && s->art_status == 0) {
        s->art_status = CL_ECANCELED;
        snprintf(s->art_why, sizeof(s->art_why), "staging cancelled");
    }
    s->art_cb(s);
}

int agent__art_prepare_inputs(agent *a, agent_step *s,
                              void (*cb)(agent_step *s))
{
    s->art_cb = cb;
    s->art_status = 0;
    s->pending_fetches = 0;
    bool any = false;
    for (size_t i = 0; i < s->assign->n_inputs; i++) {
        Couler__InputArtifact *in = s->assign->inputs[i];
        if (in->has_raw || in->digest[0] == '\0')
            continue;
        any = true;
        cache_digest d;
        if (cache_digest_parse(in->digest, &d) != 0)
            continue; /* reported by the hand-over */
        cache_artifact_info info;
        cl_errmsg err;
        if (cache_store_artifact_stat(a->art->store, &d, &info, &err) == 0 &&
            info.missing_chunks == 0)
            continue; /* here already */
        if (in->host_endpoint[0] == '\0') {
            s->art_status = CL_ENOENT;
            snprintf(s->art_why, sizeof(s->art_why),
                     "input artifact '%s' is on node %s, which is not "
                     "reachable",
                     in->name, in->host[0] ? in->host : "(unknown)");
            snprintf(s->missing_artifact, sizeof(s->missing_artifact), "%s",
                     in->digest);
            break;
        }
        art_peer *p = peer_get(a, in->host_endpoint);
        art_fetch *f = cl_calloc(1, sizeof(*f));
        if (p == NULL || f == NULL) {
            cl_free(f);
            s->art_status = CL_ENOMEM;
            snprintf(s->art_why, sizeof(s->art_why), "out of memory");
            break;
        }
        f->id = ++a->art->next_id;
        f->started = cl_now_ms();
        f->s = s;
        f->input = i;
        f->peer = p;
        cache_xfer_recv_opts o;
        cache_xfer_recv_opts_init(&o);
        o.xfer_id = f->id;
        o.credit = 16;
        o.offload.data = f;
        o.offload.start = check_start;
        cache_xfer_store st;
        cache_store_xfer_store(a->art->store, &st);
        cache_xfer_transport tr = {p, peer_send};
        if (cache_xfer_recv_new(&d, &o, &st, &tr, &f->recv) != 0) {
            cl_free(f);
            s->art_status = CL_ENOMEM;
            snprintf(s->art_why, sizeof(s->art_why), "out of memory");
            break;
        }
        f->next = a->art->fetches;
        a->art->fetches = f;
        s->pending_fetches++;
        CL_INFO("step %s: fetching input artifact '%s' (%.12s) from node %s",
                s->attempt_id, in->name, in->digest, in->host);
        cache_xfer_recv_start(f->recv, cl_now_ms());
    }
    if (s->pending_fetches > 0) {
        /* Receivers that finished at once (already stored) complete on the
         * next tick; the others on replies. */
        for (art_fetch *f = a->art->fetches, *n; f; f = n) {
            n = f->next;
            if (f->s == s) {
                enum cache_xfer_state st = cache_xfer_recv_state(f->recv);
                if (st == CACHE_XFER_DONE || st == CACHE_XFER_FAILED)
                    fetch_done(a, f);
            }
        }
        return 0;
    }
    if (s->art_status != 0 || !any) {
        cb(s);
        return 0;
    }
    start_handover(a, s);
    return 0;
}

void agent__art_cancel_fetches(agent *a, agent_step *s)
{
    for (art_fetch *f = a->art->fetches, *n; f; f = n) {
        n = f->next;
        if (f->s == s) {
            unlink_fetch(a, f);
            fetch_free(f);
        }
    }
    s->pending_fetches = 0;
}

/* ---- importing outputs -----------------------------------------------------*/

static void outputs_work(uv_work_t *w)
{
    agent_step *s = w->data;
    agent *a = s->a;
    size_t n = s->assign->n_out_artifacts;
    for (size_t i = 0; i < n; i++) {
        const char *path = s->out_art_path[i];
        struct stat st;
        if (path == NULL || lstat(path, &st) != 0)
            continue; /* not written: the engine decides (optional?) */
        cache_artifact_info info;
        cl_errmsg err;
        cl_errmsg_clear(&err);
        int rv = cache_store_import(a->art->store, path, &info, &err);
        if (rv != 0) {
            snprintf(s->art_why, sizeof(s->art_why),
                     "output artifact '%s' could not be stored: %s",
                     s->assign->out_artifacts[i]->name, err.msg);
            s->art_status = rv;
            continue;
        }
        s->out_arts[i].present = true;
        s->out_arts[i].size = info.size;
        s->out_arts[i].is_dir = info.is_dir;
        cache_digest_hex(&info.digest, s->out_arts[i].digest);
    }
    /* Keep what the step produced under its cache key: the entry is what
     * holds its artifacts in the store, and what a later identical step
     * reuses. A failed write leaves the step's own result standing. */
    if (s->verdict_phase != AGENT_PHASE_SUCCEEDED || s->assign->cache_key[0] == 0)
        return;
    cache_key key;
    if (cache_key_parse(s->assign->cache_key, &key) != 0)
        return;
    size_t np = s->n_out_params_read;
    cache_kv *params = cl_calloc(np + 1, sizeof(*params));
    cache_artifact_ref *arts = cl_calloc(n + 1, sizeof(*arts));
    if (params == NULL || arts == NULL) {
        cl_free(params);
        cl_free(arts);
        return;
    }
    for (size_t i = 0; i < np; i++) {
        params[i].name = s->out_params_read[i].name;
        params[i].value = s->out_params_read[i].value;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!s->out_arts[i].present)
            continue;
        arts[k].name = s->assign->out_artifacts[i]->name;
        cache_digest_parse(s->out_arts[i].digest, &arts[k].digest);
        arts[k].size = s->out_arts[i].size;
        arts[k].is_dir = s->out_arts[i].is_dir;
        arts[k].node = a->node_id;
        k++;
    }
    cache_entry e;
    memset(&e, 0, sizeof(e));
    e.params = params;
    e.nparams = np;
    e.result = s->out_tail.data ? s->result_copy : NULL;
    e.exit_code = 0;
    e.artifacts = arts;
    e.nartifacts = k;
    e.producer = a->node_id;
    e.compute_ms = s->compute_ms;
    e.upstream_ms = s->assign->upstream_ms;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    if (cache_store_put(a->art->store, &key, &e, &err) != 0)
        snprintf(s->cache_why, sizeof(s->cache_why),
                 "the step's outputs were not cached: %s", err.msg);
    cl_free(params);
    cl_free(arts);
}

static void outputs_after(uv_work_t *w, int status)
{
    agent_step *s = w->data;
    (void)status;
    s->work_busy = false;
    if (s->a->closing) {
        agent__step_maybe_free(s);
        return;
    }
    s->art_cb(s);
}

int agent__art_import_outputs(agent *a, agent_step *s,
                              void (*cb)(agent_step *s))
{
    s->art_cb = cb;
    s->art_status = 0;
    bool any = s->assign->n_out_artifacts > 0 ||
               (s->verdict_phase == AGENT_PHASE_SUCCEEDED &&
                s->assign->cache_key[0] != 0);
    if (!any) {
        cb(s);
        return 0;
    }
    s->work.data = s;
    s->work_busy = true;
    int rv = uv_queue_work(a->loop, &s->work, outputs_work, outputs_after);
    if (rv != 0) {
        s->work_busy = false;
        cb(s);
        return 0;
    }
    return 0;
}

/* ---- lifecycle ---------------------------------------------------------------*/

/* The artifact endpoint peers use: --advertise, else the bound host, else
 * (bound to every interface) the gossip address's host, else 127.0.0.1
 * for a cluster on loopback and the host name otherwise. */
static void advertise(agent *a, const char *bound)
{
    const char *port = strrchr(bound, ':');
    const char *host = a->cfg.advertise;
    char fallback[256] = "127.0.0.1";
    if (host == NULL) {
        const char *h = strstr(bound, "://");
        h = h ? h + 3 : bound;
        size_t hl = port ? (size_t)(port - h) : strlen(h);
        const char *ref = a->coord ? a->coord
                          : a->cfg.gossip_join ? a->cfg.gossip_join
                                               : "";
        const char *gaddr = a->cfg.gossip_advertise ? a->cfg.gossip_advertise
                                                    : a->cfg.gossip_bind;
        const char *gcolon = gaddr ? strrchr(gaddr, ':') : NULL;
        if (hl > 0 && hl < sizeof(fallback) && strncmp(h, "0.0.0.0", hl) &&
            strncmp(h, "*", hl))
            snprintf(fallback, sizeof(fallback), "%.*s", (int)hl, h);
        else if (gcolon && gcolon > gaddr &&
                 strncmp(gaddr, "0.0.0.0", (size_t)(gcolon - gaddr)))
            snprintf(fallback, sizeof(fallback), "%.*s",
                     (int)(gcolon - gaddr), gaddr);
        else if (strstr(ref, "127.0.0.1") == NULL &&
                 strstr(ref, "localhost") == NULL &&
                 strncmp(ref, "inproc:", 7) != 0)
            gethostname(fallback, sizeof(fallback) - 1);
        host = fallback;
    }
    snprintf(a->art->endpoint, sizeof(a->art->endpoint), "tcp://%s%s", host,
             port ? port : ":0");
}

int agent__art_open(agent *a, cl_errmsg *err)
{
    struct agent_art *art = cl_calloc(1, sizeof(*art));
    if (art == NULL)
        return CL_ENOMEM;
    a->art = art;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/cache", a->data_dir);
    mkdir(dir, 0755);
    cache_store_opts o;
    cache_store_opts_init(&o, dir);
    o.capacity_bytes = a->cfg.cache_size;
    /* Entries reach the WAL at once, which survives the agent being
     * killed; not syncing each one costs at most some recomputation after
     * a power loss, and saves an fsync per step. */
    o.sync = false;
    int rv = cache_store_open(&o, &art->store, err);
    if (rv != 0) {
        cl_errmsg_wrap(err, "the node's store in %s", dir);
        return rv;
    }
    art->server = zmq_socket(a->zctx, ZMQ_ROUTER);
    int zero = 0, hwm = 10000;
    zmq_setsockopt(art->server, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_setsockopt(art->server, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    const char *listen =
        a->cfg.artifact_listen ? a->cfg.artifact_listen : "tcp://0.0.0.0:*";
    if (zmq_bind(art->server, listen) != 0) {
        cl_errmsg_set(err, "cannot serve artifacts on '%s': %s", listen,
                      zmq_strerror(zmq_errno()));
        return CL_EINVAL;
    }
    char bound[256];
    size_t blen = sizeof(bound);
    zmq_getsockopt(art->server, ZMQ_LAST_ENDPOINT, bound, &blen);
    advertise(a, bound);
    cache_xfer_store st;
    cache_store_xfer_store(art->store, &st);
    cache_xfer_transport tr = {art, server_send};
    cache_xfer_sender_init(&art->sender, &st, &tr);
    art->server_zs.data = a;
    rv = cl_zsock_init(a->loop, &art->server_zs, art->server, on_server_msg);
    if (rv == 0)
        rv = cl_zsock_start(&art->server_zs);
    art->open_handles++;
    uv_timer_init(a->loop, &art->tick);
    art->tick.data = a;
    art->open_handles++;
    uv_timer_start(&art->tick, on_tick, ART_TICK_MS, ART_TICK_MS);
    return rv;
}

void agent__art_maybe_free(agent *a)
{
    if (a->closing)
        art_maybe_free(a);
}

const char *agent__art_endpoint(const agent *a)
{
    return a->art ? a->art->endpoint : "";
}

cache_store *agent__art_store(const agent *a)
{
    return a->art ? a->art->store : NULL;
}

/* The store goes last: after its handles, and after every thread-pool
 * job that uses it (verifications, steps' imports and hand-overs). */
static void art_maybe_free(agent *a)
{
    struct agent_art *art = a->art;
    if (art == NULL || art->open_handles > 0 || a->jobs > 0)
        return;
    for (agent_step *s = a->steps; s; s = s->hh.next)
        if (s->work_busy)
            return;
    if (art->server)
        zmq_close(art->server);
    cache_store_close(art->store);
    cl_free(art);
    a->art = NULL;
    agent__steps_closed(a);
}

static void on_art_handle_closed(uv_handle_t *h)
{
    agent *a = h->data;
    a->art->open_handles--;
    art_maybe_free(a);
}

static void on_art_zs_closed(cl_zsock *zs)
{
    agent *a = zs->data;
    a->art->open_handles--;
    art_maybe_free(a);
}

static void on_peer_closed(cl_zsock *zs)
{
    art_peer *p = zs->data;
    agent *a = p->a;
    zmq_close(p->sock);
    cl_free(p->endpoint);
    cl_free(p);
    a->art->open_handles--;
    art_maybe_free(a);
}

void agent__art_close(agent *a)
{
    struct agent_art *art = a->art;
    if (art == NULL)
        return;
    while (art->fetches) {
        art_fetch *f = art->fetches;
        art->fetches = f->next;
        f->s->pending_fetches--;
        fetch_free(f);
    }
    art_peer *p, *tmp;
    HASH_ITER(hh, art->peers, p, tmp)
    {
        HASH_DEL(art->peers, p);
        cl_zsock_close(&p->zs, on_peer_closed);
    }
    if (art->tick.data == a)
        uv_close((uv_handle_t *)&art->tick, on_art_handle_closed);
    if (art->server_zs.data == a)
        cl_zsock_close(&art->server_zs, on_art_zs_closed);
    else
        art_maybe_free(a);
}
