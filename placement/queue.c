/* queue.c - steps waiting for resources, in workflow-priority then age
 * order, drained by the coordinator when resources free up.
 *
 * The queue is a sorted array of entries (higher priority, then older,
 * then earlier push first) plus an id map. Entries own deep copies of
 * their requests, so the caller's strings may go away after a push. */
#include "placement/place_int.h"

#include "common/cl_heap.h"

#include <string.h>

struct qent {
    uint64_t id;
    int priority;
    int64_t t;
    uint64_t seq;
    void *data;
    place_request req; /* points into the copies below */
    place_kv *sel;
    place_input *inputs;
};

struct place_queue {
    struct qent **v;
    size_t n, cap;
    place__imap by_id;
    uint64_t seq;
};

int place_queue_new(place_queue **out)
{
    place_queue *q = cl_calloc(1, sizeof(*q));
    *out = q;
    if (q == NULL)
        return CL_ENOMEM;
    place__imap_init(&q->by_id);
    return 0;
}

static void ent_free(struct qent *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; e->sel && i < e->req.nselector; i++) {
        cl_free((char *)e->sel[i].name);
        cl_free((char *)e->sel[i].value);
    }
    for (size_t i = 0; e->inputs && i < e->req.ninputs; i++)
        cl_free((char *)e->inputs[i].node_id);
    cl_free(e->sel);
    cl_free(e->inputs);
    cl_free(e);
}

void place_queue_free(place_queue *q)
{
    if (q == NULL)
        return;
    for (size_t i = 0; i < q->n; i++)
        ent_free(q->v[i]);
    cl_free(q->v);
    place__imap_free(&q->by_id);
    cl_free(q);
}

static bool before(const struct qent *a, const struct qent *b)
{
    if (a->priority != b->priority)
        return a->priority > b->priority;
    if (a->t != b->t)
        return a->t < b->t;
    return a->seq < b->seq;
}

static size_t position(const place_queue *q, const struct qent *e)
{
    size_t lo = 0, hi = q->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (before(q->v[mid], e))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct qent *ent_copy(const place_request *r)
{
    struct qent *e = cl_calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->req = *r;
    e->req.selector = NULL;
    e->req.inputs = NULL;
    e->req.nselector = 0;
    e->req.ninputs = 0;
    if (r->nselector > 0) {
        e->sel = cl_calloc(r->nselector, sizeof(place_kv));
        if (e->sel == NULL)
            goto err;
        for (size_t i = 0; i < r->nselector; i++) {
            e->sel[i].name = cl_strdup(r->selector[i].name);
            e->sel[i].value = cl_strdup(r->selector[i].value);
            e->req.nselector = i + 1;
            if (!e->sel[i].name || !e->sel[i].value)
                goto err;
        }
        e->req.selector = e->sel;
    }
    if (r->ninputs > 0) {
        e->inputs = cl_calloc(r->ninputs, sizeof(place_input));
        if (e->inputs == NULL)
            goto err;
        for (size_t i = 0; i < r->ninputs; i++) {
            e->inputs[i].node_id = cl_strdup(r->inputs[i].node_id);
            e->inputs[i].bytes = r->inputs[i].bytes;
            e->req.ninputs = i + 1;
            if (!e->inputs[i].node_id)
                goto err;
        }
        e->req.inputs = e->inputs;
    }
    return e;
err:
    ent_free(e);
    return NULL;
}

int place_queue_push(place_queue *q, uint64_t id, int priority,
                     int64_t now_ms, const place_request *req, void *data)
{
    if (id == 0)
        return CL_EINVAL;
    for (size_t i = 0; i < req->nselector; i++)
        if (req->selector[i].name == NULL || req->selector[i].value == NULL)
            return CL_EINVAL;
    for (size_t i = 0; i < req->ninputs; i++)
        if (req->inputs[i].node_id == NULL)
            return CL_EINVAL;
    if (place__imap_get(&q->by_id, id) != NULL)
        return CL_EEXIST;
    if (q->n == q->cap) {
        size_t nc = q->cap ? q->cap * 2 : 16;
        struct qent **nv = cl_realloc(q->v, nc * sizeof(*nv));
        if (nv == NULL)
            return CL_ENOMEM;
        q->v = nv;
        q->cap = nc;
    }
    struct qent *e = ent_copy(req);
    if (e == NULL)
        return CL_ENOMEM;
    e->id = id;
    e->priority = priority;
    e->t = now_ms;
    e->seq = ++q->seq;
    e->data = data;
    int rv = place__imap_put(&q->by_id, id, e);
    if (rv != 0) {
        ent_free(e);
        return rv;
    }
    size_t pos = position(q, e);
    memmove(&q->v[pos + 1], &q->v[pos], (q->n - pos) * sizeof(*q->v));
    q->v[pos] = e;
    q->n++;
    return 0;
}

static void remove_at(place_queue *q, size_t pos)
{
    memmove(&q->v[pos], &q->v[pos + 1], (q->n - pos - 1) * sizeof(*q->v));
    q->n--;
}

int place_queue_remove(place_queue *q, uint64_t id, void **data)
{
    struct qent *e = place__imap_del(&q->by_id, id);
    if (e == NULL)
        return CL_ENOENT;
    size_t pos = position(q, e);
    remove_at(q, pos);
    if (data != NULL)
        *data = e->data;
    ent_free(e);
    return 0;
}

size_t place_queue_len(const place_queue *q)
{
    return q->n;
}

bool place_queue_at(const place_queue *q, size_t i, uint64_t *id,
                    int *priority, void **data)
{
    if (i >= q->n)
        return false;
    if (id)
        *id = q->v[i]->id;
    if (priority)
        *priority = q->v[i]->priority;
    if (data)
        *data = q->v[i]->data;
    return true;
}

#define FAILED_SHAPES 32

static bool same_shape(const struct place__need *a,
                       const struct place__need *b)
{
    return a->gpus == b->gpus && a->vendor == b->vendor &&
           a->cores == b->cores && a->shared == b->shared &&
           a->per_core == b->per_core && a->mem == b->mem &&
           a->auto_parallel == b->auto_parallel &&
           a->max_degree == b->max_degree;
}

int place_queue_drain(place_queue *q, place_cluster *c, cl_rng *rng,
                      place_queue_cb cb, void *ctx, size_t *placed)
{
    struct place__need failed[FAILED_SHAPES];
    size_t nfailed = 0;
    bool blocked = false;
    int blocked_prio = 0;
    size_t count = 0;
    size_t i = 0;
    if (placed)
        *placed = 0;
    while (i < q->n) {
        struct qent *e = q->v[i];
        if (blocked && e->priority < blocked_prio)
            break;
        struct place__need need;
        bool plain = e->req.nselector == 0 && e->req.ninputs == 0 &&
                     place__need_from(&e->req, &need, NULL) == 0;
        bool skip = false;
        for (size_t k = 0; plain && k < nfailed && !skip; k++)
            skip = same_shape(&need, &failed[k]);
        if (skip) {
            i++;
            continue;
        }
        cl_errmsg em;
        cl_errmsg_clear(&em);
        place_binding b;
        int rv = place_cluster_place(c, &e->req, rng, &b, &em);
        if (rv == CL_EAGAIN) {
            if (!blocked) {
                blocked = true;
                blocked_prio = e->priority;
            }
            if (plain && nfailed < FAILED_SHAPES)
                failed[nfailed++] = need;
            i++;
            continue;
        }
        if (rv != 0 && rv != CL_ENOFIT && rv != CL_EINVAL) {
            if (placed)
                *placed = count;
            return rv;
        }
        place__imap_del(&q->by_id, e->id);
        remove_at(q, i);
        uint64_t id = e->id;
        void *data = e->data;
        ent_free(e);
        if (rv == 0) {
            count++;
            cb(ctx, id, data, 0, &b, NULL);
        } else {
            cb(ctx, id, data, rv, NULL, em.msg);
        }
    }
    if (placed)
        *placed = count;
    return 0;
}
