/* binding.c - place_binding lifecycle and the environment text an agent
 * sets from it. */
#include "placement/place_int.h"

#include "common/cl_heap.h"

#include <inttypes.h>
#include <string.h>

void place_binding_init(place_binding *b)
{
    memset(b, 0, sizeof(*b));
    b->degree = 1;
    b->fit = PLACE_FIT_SPREAD;
}

void place_binding_free(place_binding *b)
{
    if (b == NULL)
        return;
    cl_free(b->node_id);
    cl_free(b->pus);
    cl_free(b->cpuset);
    cl_free(b->gpus);
    cl_free(b->mems);
    place_binding_init(b);
}

int place_binding_copy(const place_binding *src, place_binding *dst)
{
    place_binding_init(dst);
    *dst = *src;
    dst->node_id = cl_strdup(src->node_id ? src->node_id : "");
    dst->cpuset = cl_strdup(src->cpuset ? src->cpuset : "");
    dst->pus = cl_malloc((src->npus + 1) * sizeof(uint32_t));
    dst->gpus = cl_malloc((src->ngpus + 1) * sizeof(place_binding_gpu));
    dst->mems = cl_malloc((src->nmems + 1) * sizeof(place_binding_mem));
    if (!dst->node_id || !dst->cpuset || !dst->pus || !dst->gpus ||
        !dst->mems) {
        place_binding_free(dst);
        return CL_ENOMEM;
    }
    if (src->npus)
        memcpy(dst->pus, src->pus, src->npus * sizeof(uint32_t));
    if (src->ngpus)
        memcpy(dst->gpus, src->gpus, src->ngpus * sizeof(place_binding_gpu));
    if (src->nmems)
        memcpy(dst->mems, src->mems, src->nmems * sizeof(place_binding_mem));
    return 0;
}

void place_binding_visible_devices(const place_binding *b,
                                   enum place_vendor v, cl_buf *out)
{
    bool first = true;
    for (size_t i = 0; i < b->ngpus; i++) {
        if (b->gpus[i].vendor != v || b->gpus[i].index < 0)
            continue;
        cl_buf_printf(out, "%s%" PRId32, first ? "" : ",", b->gpus[i].index);
        first = false;
    }
}
