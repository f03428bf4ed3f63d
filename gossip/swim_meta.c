/* swim_meta.c - Couler member metadata (MemberMeta in proto/gossip.proto).
 *
 * SWIM disseminates metadata as opaque versioned bytes; these helpers are
 * how the daemons fill and read them: role, named endpoints, labels and a
 * resource summary. Decoding is bounded by SWIM_META_MAX and goes through
 * Couler's allocator; the protobuf message never escapes this file. */
#include "gossip/swim.h"

#include <string.h>

#include "common/cl_err.h"
#include "common/cl_heap.h"
#include "gossip.pb-c.h"

void swim_meta_init(struct swim_meta *m)
{
    memset(m, 0, sizeof(*m));
}

static void free_kvs(struct swim_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cl_free(kv[i].key);
        cl_free(kv[i].value);
    }
    cl_free(kv);
}

void swim_meta_free(struct swim_meta *m)
{
    if (m == NULL)
        return;
    free_kvs(m->endpoints, m->n_endpoints);
    free_kvs(m->labels, m->n_labels);
    swim_meta_init(m);
}

static const char *kv_get(const struct swim_kv *kv, size_t n, const char *key)
{
    if (key == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i].key, key) == 0)
            return kv[i].value;
    return NULL;
}

/* kv_set - add or replace key in *kv (n entries); copies both strings. */
static int kv_set(struct swim_kv **kv, size_t *n, const char *key,
                  const char *value)
{
    if (key == NULL || *key == '\0' || value == NULL)
        return CL_EINVAL;
    char *v = cl_strdup(value);
    if (v == NULL)
        return CL_ENOMEM;
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*kv)[i].key, key) == 0) {
            cl_free((*kv)[i].value);
            (*kv)[i].value = v;
            return 0;
        }
    }
    char *k = cl_strdup(key);
    struct swim_kv *grown = cl_realloc(*kv, (*n + 1) * sizeof(**kv));
    if (k == NULL || grown == NULL) {
        cl_free(k);
        cl_free(v);
        if (grown != NULL)
            *kv = grown;
        return CL_ENOMEM;
    }
    *kv = grown;
    grown[*n].key = k;
    grown[*n].value = v;
    (*n)++;
    return 0;
}

int swim_meta_set_endpoint(struct swim_meta *m, const char *name,
                           const char *url)
{
    return kv_set(&m->endpoints, &m->n_endpoints, name, url);
}

int swim_meta_set_label(struct swim_meta *m, const char *key, const char *value)
{
    return kv_set(&m->labels, &m->n_labels, key, value);
}

const char *swim_meta_endpoint(const struct swim_meta *m, const char *name)
{
    return kv_get(m->endpoints, m->n_endpoints, name);
}

const char *swim_meta_label(const struct swim_meta *m, const char *key)
{
    return kv_get(m->labels, m->n_labels, key);
}

int swim_meta_pack(const struct swim_meta *m, uint8_t **out, size_t *len)
{
    int rv = CL_ENOMEM;
    size_t ne = m->n_endpoints, nl = m->n_labels;
    Couler__Gossip__MemberMeta pm = COULER__GOSSIP__MEMBER_META__INIT;
    Couler__Gossip__Resources res = COULER__GOSSIP__RESOURCES__INIT;
    Couler__Gossip__Endpoint *eps = cl_calloc(ne ? ne : 1, sizeof(*eps));
    Couler__Gossip__Endpoint **epp = cl_calloc(ne ? ne : 1, sizeof(*epp));
    Couler__Gossip__Label *lbs = cl_calloc(nl ? nl : 1, sizeof(*lbs));
    Couler__Gossip__Label **lbp = cl_calloc(nl ? nl : 1, sizeof(*lbp));
    uint8_t *buf = NULL;
    if (eps == NULL || epp == NULL || lbs == NULL || lbp == NULL)
        goto out;
    if ((unsigned)m->role > SWIM_ROLE_COORDINATOR) {
        rv = CL_EINVAL;
        goto out;
    }
    pm.role = (Couler__Gossip__Role)m->role;
    for (size_t i = 0; i < ne; i++) {
        couler__gossip__endpoint__init(&eps[i]);
        eps[i].name = m->endpoints[i].key;
        eps[i].url = m->endpoints[i].value;
        epp[i] = &eps[i];
    }
    for (size_t i = 0; i < nl; i++) {
        couler__gossip__label__init(&lbs[i]);
        lbs[i].key = m->labels[i].key;
        lbs[i].value = m->labels[i].value;
        lbp[i] = &lbs[i];
    }
    pm.n_endpoints = ne;
    pm.endpoints = epp;
    pm.n_labels = nl;
    pm.labels = lbp;
    res.cores_free = m->resources.cores_free;
    res.cores_total = m->resources.cores_total;
    res.memory_free = m->resources.memory_free;
    res.memory_total = m->resources.memory_total;
    res.gpus_free = m->resources.gpus_free;
    res.gpus_total = m->resources.gpus_total;
    pm.resources = &res;
    size_t n = couler__gossip__member_meta__get_packed_size(&pm);
    if (n > SWIM_META_MAX) {
        rv = CL_ETOOBIG;
        goto out;
    }
    buf = cl_malloc(n);
    if (buf == NULL)
        goto out;
    couler__gossip__member_meta__pack(&pm, buf);
    *out = buf;
    *len = n;
    rv = 0;
out:
    cl_free(eps);
    cl_free(epp);
    cl_free(lbs);
    cl_free(lbp);
    return rv;
}

struct alloc_state {
    bool failed;
};

static void *pb_alloc(void *data, size_t size)
{
    void *p = cl_malloc(size);
    if (p == NULL)
        ((struct alloc_state *)data)->failed = true;
    return p;
}

static void pb_free(void *data, void *ptr)
{
    (void)data;
    cl_free(ptr);
}

int swim_meta_unpack(const void *buf, size_t len, struct swim_meta *m)
{
    swim_meta_init(m);
    if (len > SWIM_META_MAX)
        return CL_ETOOBIG;
    struct alloc_state st = {false};
    ProtobufCAllocator alloc = {pb_alloc, pb_free, &st};
    Couler__Gossip__MemberMeta *pm =
        couler__gossip__member_meta__unpack(&alloc, len, buf);
    if (pm == NULL)
        return st.failed ? CL_ENOMEM : CL_EPROTO;
    int rv = 0;
    if ((int)pm->role < 0 || (int)pm->role > SWIM_ROLE_COORDINATOR) {
        rv = CL_EPROTO;
        goto out;
    }
    m->role = (enum swim_role)pm->role;
    for (size_t i = 0; i < pm->n_endpoints && rv == 0; i++) {
        rv = swim_meta_set_endpoint(m, pm->endpoints[i]->name,
                                    pm->endpoints[i]->url);
        if (rv == CL_EINVAL)
            rv = CL_EPROTO;
    }
    for (size_t i = 0; i < pm->n_labels && rv == 0; i++) {
        rv = swim_meta_set_label(m, pm->labels[i]->key, pm->labels[i]->value);
        if (rv == CL_EINVAL)
            rv = CL_EPROTO;
    }
    if (pm->resources != NULL) {
        m->resources.cores_free = pm->resources->cores_free;
        m->resources.cores_total = pm->resources->cores_total;
        m->resources.memory_free = pm->resources->memory_free;
        m->resources.memory_total = pm->resources->memory_total;
        m->resources.gpus_free = pm->resources->gpus_free;
        m->resources.gpus_total = pm->resources->gpus_total;
    }
out:
    couler__gossip__member_meta__free_unpacked(pm, &alloc);
    if (rv != 0)
        swim_meta_free(m);
    return rv;
}
