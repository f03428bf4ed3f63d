/* cl_heap.h - the allocator every Couler module uses.
 *
 * cl_malloc and friends go through a replaceable table so that tests can
 * inject allocation failures (a countdown fault) and check the error paths
 * of code that must refuse work instead of aborting. Memory from cl_malloc,
 * cl_calloc, cl_realloc, cl_strdup and cl_strndup is released with cl_free.
 * Library-owned memory is not: free it with that library's function.
 */
#ifndef COULER_CL_HEAP_H
#define COULER_CL_HEAP_H

#include <stddef.h>

struct cl_heap {
    void *data;
    void *(*malloc)(void *data, size_t size);
    void *(*realloc)(void *data, void *ptr, size_t size);
    void (*free)(void *data, void *ptr);
};

void *cl_malloc(size_t size);
void *cl_calloc(size_t n, size_t size);
void *cl_realloc(void *ptr, size_t size);
void cl_free(void *ptr);
char *cl_strdup(const char *s);           /* NULL in, NULL out */
char *cl_strndup(const char *s, size_t n);

/* cl_heap_set - install a heap; NULL restores the libc one. The previous
 * heap's allocations must not be freed through the new one, so tests set the
 * heap before building objects and restore it after freeing them. */
void cl_heap_set(const struct cl_heap *heap);

/* cl_heap_fault_* - a ready-made faulty heap for tests: after `delay`
 * successful allocations, the next `repeat` ones fail (repeat < 0: all). */
void cl_heap_fault_enable(int delay, int repeat);
void cl_heap_fault_disable(void);

#endif
