/* fuzz_place_unpack - libFuzzer target over the placement decoders.
 *
 * The first byte picks the decoder: even, place_model_unpack(); odd,
 * place_binding_unpack(). A model that decodes is then used as a peer's
 * would be: described, packed again (which must decode to the same bytes),
 * registered in a cluster and asked for a few bindings, which are committed
 * and released. Any crash, leak or sanitizer report is a bug. */
#include "placement/place.h"

#include "common/cl_heap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise_model(place_model *m)
{
    cl_buf text = CL_BUF_INIT;
    place_model_describe(m, &text);
    cl_buf_free(&text);

    uint8_t *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;
    if (place_model_pack(m, &buf, &len) != 0)
        abort();
    place_model *again = NULL;
    if (place_model_unpack(buf, len, &again, NULL) != 0)
        abort(); /* what we pack, we must read back */
    if (place_model_pack(again, &buf2, &len2) != 0 || len2 != len ||
        memcmp(buf, buf2, len) != 0)
        abort();
    cl_free(buf);
    cl_free(buf2);
    place_model_free(again);

    place_cluster *c = NULL;
    if (place_cluster_new(NULL, &c) != 0)
        return;
    if (place_cluster_add_node(c, "fuzz", m, NULL, 0, NULL) != 0 ||
        place_cluster_add_node(c, "fuzz2", m, NULL, 0, NULL) != 0) {
        place_cluster_free(c);
        return;
    }
    cl_rng rng;
    cl_rng_seed(&rng, 1);
    static const char *cpus[] = {"500m", "1", "3", NULL};
    static const char *gpus[] = {NULL, "1", "2"};
    for (int i = 0; i < 6; i++) {
        place_kv kv[3];
        size_t n = 0;
        if (cpus[i % 4])
            kv[n++] = (place_kv){"cpu", cpus[i % 4]};
        kv[n++] = (place_kv){"memory", i & 1 ? "1Gi" : "0"};
        if (gpus[i % 3])
            kv[n++] = (place_kv){m->ngpus && m->gpus[0].vendor ==
                                                 PLACE_VENDOR_AMD
                                     ? "amd.com/gpu"
                                     : "nvidia.com/gpu",
                                 gpus[i % 3]};
        place_request r;
        place_request_init(&r);
        if (place_request_parse(&r, kv, n, NULL, 0, NULL) != 0)
            abort();
        r.auto_parallel = i == 5;
        place_binding b;
        if (place_cluster_place(c, &r, &rng, &b, NULL) == 0) {
            uint8_t *bb = NULL;
            size_t bl = 0;
            place_binding back;
            if (place_binding_pack(&b, &bb, &bl) != 0 ||
                place_binding_unpack(bb, bl, &back, NULL) != 0)
                abort();
            cl_free(bb);
            place_binding_free(&back);
            if (i % 2 == 0 && place_cluster_release(c, b.id) != 0)
                abort();
            place_binding_free(&b);
        }
    }
    place_gang g;
    place_request r;
    place_request_init(&r);
    r.cpu_milli = 1000;
    if (place_gang_place(c, &r, 2, &rng, &g, NULL) == 0) {
        place_gang_release(c, &g);
        place_gang_free(&g);
    }
    place_cluster_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] % 2 == 0) {
        place_model *m = NULL;
        if (place_model_unpack(data + 1, size - 1, &m, NULL) == 0) {
            exercise_model(m);
            place_model_free(m);
        } else if (m != NULL) {
            abort(); /* a refused model must not be returned */
        }
    } else {
        place_binding b;
        if (place_binding_unpack(data + 1, size - 1, &b, NULL) == 0) {
            uint8_t *buf = NULL;
            size_t len = 0;
            if (place_binding_pack(&b, &buf, &len) != 0)
                abort();
            cl_free(buf);
            place_binding_free(&b);
        }
    }
    return 0;
}
