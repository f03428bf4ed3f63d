/* wf_util.c - arena allocator and small helpers of the workflow module. */
#include "workflow/wf_int.h"

#include "common/cl_heap.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A chunk holds many small allocations; a large request gets a chunk of
 * its own so that the waste stays below one chunk per arena. */
struct wf__chunk {
    wf__chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

#define WF__CHUNK 16384

void wf__arena_init(wf__arena *a)
{
    a->head = NULL;
    a->bytes = 0;
    a->chunk = 0;
}

void wf__arena_free(wf__arena *a)
{
    wf__chunk *c = a->head;
    while (c != NULL) {
        wf__chunk *next = c->next;
        cl_free(c);
        c = next;
    }
    a->head = NULL;
    a->bytes = 0;
}

void wf__arena_reset(wf__arena *a)
{
    /* keep one standard chunk for reuse, release the rest */
    size_t csz = a->chunk ? a->chunk : WF__CHUNK;
    wf__chunk *keep = NULL;
    wf__chunk *c = a->head;
    while (c != NULL) {
        wf__chunk *next = c->next;
        if (keep == NULL && c->cap == csz) {
            keep = c;
        } else {
            a->bytes -= sizeof(*c) + c->cap;
            cl_free(c);
        }
        c = next;
    }
    if (keep != NULL) {
        keep->used = 0;
        keep->next = NULL;
    }
    a->head = keep;
}

void *wf__arena_alloc(wf__arena *a, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (n == 0)
        n = 8;
    wf__chunk *c = a->head;
    if (c == NULL || c->cap - c->used < n) {
        size_t csz = a->chunk ? a->chunk : WF__CHUNK;
        size_t cap = n > csz / 4 ? n : csz;
        wf__chunk *nc = cl_malloc(sizeof(*nc) + cap);
        if (nc == NULL)
            return NULL;
        nc->used = 0;
        nc->cap = cap;
        a->bytes += sizeof(*nc) + cap;
        if (cap == n && c != NULL) {
            /* keep filling the current chunk: put the big one behind it */
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            a->head = nc;
        }
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *wf__arena_strndup(wf__arena *a, const char *s, size_t n)
{
    if (s == NULL)
        return NULL;
    char *p = wf__arena_alloc(a, n + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *wf__arena_strdup(wf__arena *a, const char *s)
{
    if (s == NULL)
        return NULL;
    return wf__arena_strndup(a, s, strlen(s));
}

char *wf__arena_printf(wf__arena *a, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = wf__arena_alloc(a, (size_t)n + 1);
    if (p == NULL)
        return NULL;
    if ((size_t)n < sizeof(small)) {
        memcpy(p, small, (size_t)n + 1);
    } else {
        va_start(ap, fmt);
        vsnprintf(p, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return p;
}

uint32_t wf__fnv32(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}
