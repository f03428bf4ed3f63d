/* swim_pool.c - interning of names, addresses and metadata.
 *
 * Every member of a cluster holds an entry for every other member, so a
 * simulator of 10,000 members holds 10^8 entries. Interning keeps each
 * distinct name, address and metadata blob once per pool, and gives names
 * dense ids that cores use to index their member tables. */
#include "gossip/swim_int.h"

#include <string.h>

#include "common/cl_err.h"
#include "common/cl_hash.h"
#include "common/cl_heap.h"

void swim__table_init(struct swim__table *t)
{
    memset(t, 0, sizeof(*t));
}

void swim__table_free(struct swim__table *t)
{
    for (uint32_t i = 1; i < t->top; i++)
        cl_free(t->blobs[i]);
    cl_free(t->blobs);
    cl_free(t->free_ids);
    cl_free(t->buckets);
    memset(t, 0, sizeof(*t));
}

static int table_rehash(struct swim__table *t, uint32_t nbuckets)
{
    uint32_t *b = cl_calloc(nbuckets, sizeof(*b));
    if (b == NULL)
        return CL_ENOMEM;
    uint32_t mask = nbuckets - 1;
    for (uint32_t id = 1; id < t->top; id++) {
        struct swim__blob *x = t->blobs[id];
        if (x == NULL)
            continue;
        uint32_t h = (uint32_t)(x->hash & mask);
        x->next = b[h];
        b[h] = id;
    }
    cl_free(t->buckets);
    t->buckets = b;
    t->mask = mask;
    return 0;
}

uint32_t swim__lookup(const struct swim__table *t, const void *data, size_t len)
{
    if (t->buckets == NULL)
        return 0;
    uint64_t h = cl_hash64(data, len);
    for (uint32_t id = t->buckets[h & t->mask]; id != 0;
         id = t->blobs[id]->next) {
        const struct swim__blob *x = t->blobs[id];
        if (x->hash == h && x->len == len && memcmp(x->data, data, len) == 0)
            return id;
    }
    return 0;
}

/* new_id - an id to hand out: a released one, else the next fresh one. */
static uint32_t new_id(struct swim__table *t)
{
    if (t->n_free > 0)
        return t->free_ids[--t->n_free];
    if (t->top == UINT32_MAX)
        return 0;
    if (t->top == 0)
        t->top = 1;
    if (t->top >= t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 64;
        struct swim__blob **nb = cl_realloc(t->blobs, cap * sizeof(*nb));
        if (nb == NULL)
            return 0;
        memset(nb + t->cap, 0, (cap - t->cap) * sizeof(*nb));
        t->blobs = nb;
        uint32_t *nf = cl_realloc(t->free_ids, cap * sizeof(*nf));
        if (nf == NULL)
            return 0;
        t->free_ids = nf;
        t->cap = cap;
    }
    return t->top++;
}

uint32_t swim__intern(struct swim__table *t, const void *data, size_t len)
{
    if (len > UINT32_MAX - 1)
        return 0;
    uint32_t id = swim__lookup(t, data, len);
    if (id != 0) {
        t->blobs[id]->refs++;
        return id;
    }
    if (t->buckets == NULL || t->count + 1 > (t->mask + 1) / 2 * 3) {
        uint32_t n = t->buckets ? (t->mask + 1) * 2 : 64;
        if (table_rehash(t, n) != 0)
            return 0;
    }
    struct swim__blob *x = cl_malloc(sizeof(*x) + len + 1);
    if (x == NULL)
        return 0;
    id = new_id(t);
    if (id == 0) {
        cl_free(x);
        return 0;
    }
    x->refs = 1;
    x->len = (uint32_t)len;
    x->hash = cl_hash64(data, len);
    x->id = id;
    if (len > 0)
        memcpy(x->data, data, len);
    x->data[len] = '\0';
    uint32_t b = (uint32_t)(x->hash & t->mask);
    x->next = t->buckets[b];
    t->buckets[b] = id;
    t->blobs[id] = x;
    t->count++;
    return id;
}

void swim__ref(struct swim__table *t, uint32_t id)
{
    if (id != 0)
        t->blobs[id]->refs++;
}

void swim__unref(struct swim__table *t, uint32_t id)
{
    if (id == 0)
        return;
    struct swim__blob *x = t->blobs[id];
    if (--x->refs > 0)
        return;
    uint32_t *link = &t->buckets[x->hash & t->mask];
    while (*link != id)
        link = &t->blobs[*link]->next;
    *link = x->next;
    t->blobs[id] = NULL;
    /* free_ids has room for every id ever handed out (same capacity). */
    t->free_ids[t->n_free++] = id;
    t->count--;
    cl_free(x);
}

int swim_pool_new(struct swim_pool **out)
{
    struct swim_pool *p = cl_calloc(1, sizeof(*p));
    if (p == NULL)
        return CL_ENOMEM;
    swim__table_init(&p->names);
    swim__table_init(&p->values);
    *out = p;
    return 0;
}

void swim_pool_free(struct swim_pool *p)
{
    if (p == NULL)
        return;
    swim__table_free(&p->names);
    swim__table_free(&p->values);
    cl_free(p);
}
