#include "common/cl_heap.h"

#include <stdlib.h>
#include <string.h>

static void *libc_malloc(void *d, size_t s)
{
    (void)d;
    return malloc(s);
}
static void *libc_realloc(void *d, void *p, size_t s)
{
    (void)d;
    return realloc(p, s);
}
static void libc_free(void *d, void *p)
{
    (void)d;
    free(p);
}

static const struct cl_heap libc_heap = {NULL, libc_malloc, libc_realloc,
                                         libc_free};
static const struct cl_heap *heap = &libc_heap;

void cl_heap_set(const struct cl_heap *h)
{
    heap = h ? h : &libc_heap;
}

void *cl_malloc(size_t size)
{
    return heap->malloc(heap->data, size ? size : 1);
}

void *cl_calloc(size_t n, size_t size)
{
    if (size != 0 && n > (size_t)-1 / size)
        return NULL;
    void *p = cl_malloc(n * size);
    if (p != NULL)
        memset(p, 0, n * size);
    return p;
}

void *cl_realloc(void *ptr, size_t size)
{
    return heap->realloc(heap->data, ptr, size ? size : 1);
}

void cl_free(void *ptr)
{
    if (ptr != NULL)
        heap->free(heap->data, ptr);
}

char *cl_strndup(const char *s, size_t n)
{
    if (s == NULL)
        return NULL;
    size_t len = strnlen(s, n);
    char *p = cl_malloc(len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *cl_strdup(const char *s)
{
    return s ? cl_strndup(s, strlen(s)) : NULL;
}

/* Countdown fault heap. */
static struct {
    int delay;
    int repeat;
} fault;

static int fault_tick(void)
{
    if (fault.delay > 0) {
        fault.delay--;
        return 0;
    }
    if (fault.repeat == 0)
        return 0;
    if (fault.repeat > 0)
        fault.repeat--;
    return 1;
}

static void *fault_malloc(void *d, size_t s)
{
    return fault_tick() ? NULL : libc_malloc(d, s);
}

static void *fault_realloc(void *d, void *p, size_t s)
{
    return fault_tick() ? NULL : libc_realloc(d, p, s);
}

static const struct cl_heap fault_heap = {NULL, fault_malloc, fault_realloc,
                                          libc_free};

void cl_heap_fault_enable(int delay, int repeat)
{
    fault.delay = delay;
    fault.repeat = repeat;
    heap = &fault_heap;
}

void cl_heap_fault_disable(void)
{
    heap = &libc_heap;
}
