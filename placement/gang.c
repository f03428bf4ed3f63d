/* gang.c - gang placement (N ranks on N distinct nodes, all or nothing)
 * and fan-out sizing. Both are built on decide/commit/release, so they
 * obey the same scoring and leave the view exactly as they found it when
 * they fail (gang) or always (fan-out). */
#include "placement/place_int.h"

#include "common/cl_heap.h"

#include <inttypes.h>
#include <string.h>

/* Nodes (not draining) that could hold one rank on an empty machine. */
static uint64_t static_capacity(const place_cluster *c,
                                const place_request *r,
                                const struct place__need *need)
{
    uint64_t n = 0;
    if (r->nselector == 0) {
        for (uint32_t i = 0; i < c->nshapes; i++)
            if (place__fit_static(c->shapes[i]->model, need))
                n += c->shapes[i]->avail;
        return n;
    }
    for (uint32_t s = 0; s < c->nslots; s++) {
        const struct place__node *nd = c->nodes[s];
        if (nd == NULL || nd->state == PLACE_NODE_DRAINING)
            continue;
        place_kv labels[1];
        bool ok = true;
        for (size_t i = 0; i < r->nselector && ok; i++) {
            bool found = false;
            for (size_t j = 0; j < nd->nlabels && !found; j++) {
                labels[0].name = nd->label_names[j];
                labels[0].value = nd->label_values[j];
                found = place_selector_match(&r->selector[i], 1, labels, 1);
            }
            ok = found;
        }
        if (ok && place__fit_static(nd->m, need))
            n++;
    }
    return n;
}

void place_gang_release(place_cluster *c, const place_gang *g)
{
    for (size_t i = 0; i < g->n; i++)
        if (g->bindings[i].id != 0)
            place_cluster_release(c, g->bindings[i].id);
}

void place_gang_free(place_gang *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; i < g->n; i++)
        place_binding_free(&g->bindings[i]);
    cl_free(g->bindings);
    g->bindings = NULL;
    g->n = 0;
}

int place_gang_place(place_cluster *c, const place_request *per_node,
                     uint32_t ranks, cl_rng *rng, place_gang *out,
                     cl_errmsg *err)
{
    memset(out, 0, sizeof(*out));
    struct place__need need;
    if (ranks == 0) {
        cl_errmsg_set(err, "gang: zero ranks");
        return CL_EINVAL;
    }
    if (per_node->auto_parallel) {
        cl_errmsg_set(err, "gang: a rank cannot ask for auto parallelism");
        return CL_EINVAL;
    }
    int rv = place__need_from(per_node, &need, err);
    if (rv != 0)
        return rv;
    uint64_t able = static_capacity(c, per_node, &need);
    if (able < ranks) {
        cl_errmsg_set(err, "gang: needs %" PRIu32 " nodes that can each hold "
                           "a rank; the cluster has %" PRIu64,
                      ranks, able);
        return CL_ENOFIT;
    }
    if (c->excl_cap < ranks) {
        uint32_t *e = cl_realloc(c->excl, ranks * sizeof(uint32_t));
        if (e == NULL)
            return CL_ENOMEM;
        c->excl = e;
        c->excl_cap = ranks;
    }
    out->bindings = cl_calloc(ranks, sizeof(place_binding));
    if (out->bindings == NULL)
        return CL_ENOMEM;
    c->nexcl = 0;
    for (uint32_t r = 0; r < ranks; r++) {
        place_binding *b = &out->bindings[r];
        out->n = r + 1;
        rv = place_cluster_place(c, per_node, rng, b, err);
        if (rv != 0)
            break;
        struct place__node *n = place__node_by_id(c, b->node_id);
        c->excl[c->nexcl++] = n->slot;
    }
    c->nexcl = 0;
    if (rv == 0)
        return 0;
    uint32_t placed = (uint32_t)out->n - 1;
    place_gang_release(c, out);
    place_gang_free(out);
    if (rv == CL_EAGAIN || rv == CL_ENOFIT) {
        cl_errmsg_set(err, "gang: waiting: %" PRIu32 " of %" PRIu32
                           " ranks fit on distinct nodes now",
                      placed, ranks);
        return CL_EAGAIN;
    }
    return rv;
}

int place_fanout_count(place_cluster *c, const place_request *per_item,
                       uint32_t k, cl_rng *rng, uint32_t *n)
{
    *n = 0;
    uint64_t *ids = cl_calloc(k + 1, sizeof(uint64_t));
    if (ids == NULL)
        return CL_ENOMEM;
    int rv = 0;
    uint32_t got = 0;
    for (; got < k; got++) {
        place_binding b;
        rv = place_cluster_place(c, per_item, rng, &b, NULL);
        if (rv != 0)
            break;
        ids[got] = b.id;
        place_binding_free(&b);
    }
    for (uint32_t i = got; i-- > 0;)
        place_cluster_release(c, ids[i]);
    cl_free(ids);
    if (rv == CL_EAGAIN || rv == CL_ENOFIT)
        rv = 0;
    if (rv == 0)
        *n = got;
    return rv;
}
