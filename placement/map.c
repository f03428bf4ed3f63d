/* map.c - two small open-addressing hash maps (linear probing, tombstones,
 * power-of-two tables at most 3/4 full) used by the cluster view and the
 * queue: uint64 ids to pointers, and strings to the values that hold them. */
#include "placement/place_int.h"

#include "common/cl_hash.h"
#include "common/cl_heap.h"

#include <string.h>

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* ------------------------------------------------------------------ */
/* uint64 -> pointer. Empty: key 0. Tombstone: key != 0, val NULL.      */

void place__imap_init(place__imap *m)
{
    memset(m, 0, sizeof(*m));
}

void place__imap_free(place__imap *m)
{
    cl_free(m->keys);
    cl_free(m->vals);
    place__imap_init(m);
}

static size_t imap_find(const place__imap *m, uint64_t key)
{
    size_t mask = m->cap - 1;
    for (size_t i = mix64(key) & mask;; i = (i + 1) & mask) {
        if (m->keys[i] == 0)
            return SIZE_MAX;
        if (m->keys[i] == key && m->vals[i] != NULL)
            return i;
    }
}

void *place__imap_get(const place__imap *m, uint64_t key)
{
    if (m->cap == 0 || key == 0)
        return NULL;
    size_t i = imap_find(m, key);
    return i == SIZE_MAX ? NULL : m->vals[i];
}

static int imap_grow(place__imap *m, size_t cap)
{
    uint64_t *keys = cl_calloc(cap, sizeof(uint64_t));
    void **vals = cl_calloc(cap, sizeof(void *));
    if (keys == NULL || vals == NULL) {
        cl_free(keys);
        cl_free(vals);
        return CL_ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] == 0 || m->vals[i] == NULL)
            continue;
        size_t j = mix64(m->keys[i]) & (cap - 1);
        while (keys[j] != 0)
            j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    cl_free(m->keys);
    cl_free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    m->tomb = 0;
    return 0;
}

int place__imap_put(place__imap *m, uint64_t key, void *val)
{
    if (key == 0 || val == NULL)
        return CL_EINVAL;
    if ((m->len + m->tomb + 1) * 4 > m->cap * 3) {
        size_t cap = m->cap ? m->cap : 16;
        while ((m->len + 1) * 4 > cap * 3 / 2)
            cap *= 2;
        int rv = imap_grow(m, cap);
        if (rv != 0)
            return rv;
    }
    size_t mask = m->cap - 1;
    size_t slot = SIZE_MAX;
    for (size_t i = mix64(key) & mask;; i = (i + 1) & mask) {
        if (m->keys[i] == 0) {
            if (slot == SIZE_MAX)
                slot = i;
            break;
        }
        if (m->vals[i] == NULL) {
            if (slot == SIZE_MAX)
                slot = i;
            continue;
        }
        if (m->keys[i] == key) {
            m->vals[i] = val;
            return 0;
        }
    }
    if (m->keys[slot] != 0)
        m->tomb--;
    m->keys[slot] = key;
    m->vals[slot] = val;
    m->len++;
    return 0;
}

void *place__imap_del(place__imap *m, uint64_t key)
{
    if (m->cap == 0 || key == 0)
        return NULL;
    size_t i = imap_find(m, key);
    if (i == SIZE_MAX)
        return NULL;
    void *v = m->vals[i];
    m->vals[i] = NULL;
    m->len--;
    m->tomb++;
    return v;
}

bool place__imap_next(const place__imap *m, size_t *i, uint64_t *key,
                      void **val)
{
    for (; *i < m->cap; (*i)++) {
        if (m->keys[*i] != 0 && m->vals[*i] != NULL) {
            if (key)
                *key = m->keys[*i];
            if (val)
                *val = m->vals[*i];
            (*i)++;
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* string -> pointer. Empty: hash 0. Tombstone: hash 1. Live hash >= 2. */

static uint64_t shash(const char *s)
{
    uint64_t h = cl_hash64_str(s);
    return h < 2 ? h + 2 : h;
}

void place__smap_init(place__smap *m, place__keyfn key)
{
    memset(m, 0, sizeof(*m));
    m->key = key;
}

void place__smap_free(place__smap *m)
{
    place__keyfn k = m->key;
    cl_free(m->vals);
    cl_free(m->hashes);
    place__smap_init(m, k);
}

static size_t smap_find(const place__smap *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        if (m->hashes[i] == 0)
            return SIZE_MAX;
        if (m->hashes[i] == h && strcmp(m->key(m->vals[i]), key) == 0)
            return i;
    }
}

void *place__smap_get(const place__smap *m, const char *key)
{
    if (m->cap == 0)
        return NULL;
    size_t i = smap_find(m, key, shash(key));
    return i == SIZE_MAX ? NULL : m->vals[i];
}

static int smap_grow(place__smap *m, size_t cap)
{
    void **vals = cl_calloc(cap, sizeof(void *));
    uint64_t *hashes = cl_calloc(cap, sizeof(uint64_t));
    if (vals == NULL || hashes == NULL) {
        cl_free(vals);
        cl_free(hashes);
        return CL_ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->hashes[i] < 2)
            continue;
        size_t j = m->hashes[i] & (cap - 1);
        while (hashes[j] != 0)
            j = (j + 1) & (cap - 1);
        hashes[j] = m->hashes[i];
        vals[j] = m->vals[i];
    }
    cl_free(m->vals);
    cl_free(m->hashes);
    m->vals = vals;
    m->hashes = hashes;
    m->cap = cap;
    m->tomb = 0;
    return 0;
}

int place__smap_put(place__smap *m, void *val)
{
    const char *key = m->key(val);
    uint64_t h = shash(key);
    if (m->cap > 0 && smap_find(m, key, h) != SIZE_MAX)
        return CL_EEXIST;
    if ((m->len + m->tomb + 1) * 4 > m->cap * 3) {
        size_t cap = m->cap ? m->cap : 16;
        while ((m->len + 1) * 4 > cap * 3 / 2)
            cap *= 2;
        int rv = smap_grow(m, cap);
        if (rv != 0)
            return rv;
    }
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->hashes[i] >= 2)
        i = (i + 1) & mask;
    if (m->hashes[i] == 1)
        m->tomb--;
    m->hashes[i] = h;
    m->vals[i] = val;
    m->len++;
    return 0;
}

void *place__smap_del(place__smap *m, const char *key)
{
    if (m->cap == 0)
        return NULL;
    size_t i = smap_find(m, key, shash(key));
    if (i == SIZE_MAX)
        return NULL;
    void *v = m->vals[i];
    m->vals[i] = NULL;
    m->hashes[i] = 1;
    m->len--;
    m->tomb++;
    return v;
}
