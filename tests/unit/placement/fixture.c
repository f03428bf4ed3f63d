/* fixture.c - see fixture.h. */
#include "tests/unit/placement/fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/cl_heap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long live;
static long fail_after = -1;

static void *count_malloc(void *d, size_t s)
{
    (void)d;
    if (fail_after == 0)
        return NULL;
    if (fail_after > 0)
        fail_after--;
    void *p = malloc(s);
    if (p != NULL)
        live++;
    return p;
}

static void *count_realloc(void *d, void *p, size_t s)
{
    (void)d;
    if (fail_after == 0)
        return NULL;
    if (fail_after > 0)
        fail_after--;
    void *q = realloc(p, s);
    if (q != NULL && p == NULL)
        live++;
    return q;
}

static void count_free(void *d, void *p)
{
    (void)d;
    if (p != NULL)
        live--;
    free(p);
}

static const struct cl_heap counting = {NULL, count_malloc, count_realloc,
                                        count_free};

void fx_heap_install(void)
{
    live = 0;
    fail_after = -1;
    cl_heap_set(&counting);
}

void fx_heap_uninstall(void)
{
    cl_heap_set(NULL);
}

long fx_heap_live(void)
{
    return live;
}

void fx_heap_fail_after(long n)
{
    fail_after = n;
}

int fx_setup(void **state)
{
    (void)state;
    fx_heap_install();
    return 0;
}

int fx_teardown(void **state)
{
    (void)state;
    fail_after = -1;
    long left = live;
    fx_heap_uninstall();
    assert_int_equal(left, 0);
    return 0;
}

const char *fx_path(const char *file)
{
    static char buf[4096];
    const char *dir = getenv("COULER_TESTDATA");
    assert_non_null(dir);
    snprintf(buf, sizeof(buf), "%s/topologies/%s", dir, file);
    return buf;
}

place_model *fx_load(const char *file)
{
    place_model *m = NULL;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = place_model_load_xml(fx_path(file), &m, &err);
    if (rv != 0)
        fail_msg("load %s: %s: %s", file, cl_errname(rv), err.msg);
    return m;
}

void fx_req(place_request *r, const char *cpu, const char *mem,
            const char *gpu_name, const char *gpus)
{
    place_kv kv[3];
    size_t n = 0;
    if (cpu)
        kv[n++] = (place_kv){"cpu", cpu};
    if (mem)
        kv[n++] = (place_kv){"memory", mem};
    if (gpus)
        kv[n++] = (place_kv){gpu_name, gpus};
    cl_errmsg err;
    cl_errmsg_clear(&err);
    place_request_init(r);
    int rv = place_request_parse(r, kv, n, NULL, 0, &err);
    if (rv != 0)
        fail_msg("request: %s", err.msg);
}

void fx_cluster_add(place_cluster *c, const char *file, const char *id,
                    const place_kv *labels, size_t nlabels)
{
    place_model *m = fx_load(file);
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = place_cluster_add_node(c, id, m, labels, nlabels, &err);
    place_model_free(m);
    if (rv != 0)
        fail_msg("add %s: %s", id, err.msg);
}

place_cluster *fx_cluster(const char *file, const char *prefix,
                          unsigned count)
{
    place_cluster *c = NULL;
    assert_int_equal(place_cluster_new(NULL, &c), 0);
    place_model *m = fx_load(file);
    for (unsigned i = 0; i < count; i++) {
        char id[64];
        snprintf(id, sizeof(id), "%s-%u", prefix, i);
        assert_int_equal(place_cluster_add_node(c, id, m, NULL, 0, NULL), 0);
    }
    place_model_free(m);
    return c;
}

int32_t fx_core_of(const place_model *m, uint32_t pu_os)
{
    for (uint32_t i = 0; i < m->npus; i++)
        if (m->pus[i].os_index == pu_os)
            return (int32_t)m->pus[i].core;
    return -1;
}

bool fx_pus_in_package(const place_model *m, const place_binding *b,
                       int32_t p)
{
    for (size_t i = 0; i < b->npus; i++) {
        int32_t c = fx_core_of(m, b->pus[i]);
        if (c < 0 || m->cores[c].package != p)
            return false;
    }
    return b->npus > 0;
}

bool fx_pus_in_numa(const place_model *m, const place_binding *b, int32_t d)
{
    for (size_t i = 0; i < b->npus; i++) {
        int32_t c = fx_core_of(m, b->pus[i]);
        if (c < 0 || m->cores[c].numa != d)
            return false;
    }
    return b->npus > 0;
}

bool fx_pus_near_gpu(const place_model *m, const place_binding *b,
                     uint32_t slot)
{
    const place_gpu *g = &m->gpus[slot];
    for (size_t i = 0; i < b->npus; i++) {
        int32_t c = fx_core_of(m, b->pus[i]);
        bool near = false;
        for (uint32_t j = 0; j < g->nnear && !near; j++)
            near = g->near_cores[j] == (uint32_t)c;
        if (!near)
            return false;
    }
    return b->npus > 0;
}
