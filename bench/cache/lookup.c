/* bench_cache_lookup - the latency of a cache lookup through the
 * coordinator, as a client sees it: client -> coordinator -> owner node ->
 * coordinator -> client, the owner answering from its RocksDB store (and,
 * for an entry with artifacts, the producer verifying them).
 *
 * Usage: bench_cache_lookup ENDPOINT KEY [N]
 * Prints p50/p99/max in microseconds, then one JSON line.
 */
#include "common/cl_time.h"
#include "coordinator/coord_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_cache_lookup ENDPOINT KEY [N]\n");
        return 2;
    }
    int n = argc > 3 ? atoi(argv[3]) : 2000;
    if (n <= 0)
        n = 2000;
    coord_client *cl;
    cl_errmsg err;
    if (coord_client_open(argv[1], 5000, &cl, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int64_t *us = calloc((size_t)n, sizeof(int64_t));
    int hits = 0;
    for (int i = -50; i < n; i++) { /* 50 warm-up lookups */
        Couler__CacheRequest req = COULER__CACHE_REQUEST__INIT;
        req.op = COULER__CACHE_REQUEST__OP__OP_LOOKUP;
        req.key = argv[2];
        ProtobufCMessage *m;
        int64_t t0 = cl_now_ns();
        if (coord_client_call(cl, COULER__MSG_TYPE__MSG_CACHE, &req.base,
                              COULER__MSG_TYPE__MSG_CACHE_REPLY, &m,
                              &err) != 0) {
            fprintf(stderr, "lookup: %s\n", err.msg);
            return 1;
        }
        int64_t t1 = cl_now_ns();
        if (i >= 0) {
            us[i] = (t1 - t0) / 1000;
            hits += ((Couler__CacheReply *)m)->count == 1;
        }
        cl_env_free(m);
    }
    qsort(us, (size_t)n, sizeof(int64_t), cmp);
    int64_t p50 = us[n / 2], p99 = us[(n * 99) / 100], max = us[n - 1];
    printf("%d lookups, %d hits: p50 %lld us, p99 %lld us, max %lld us\n", n,
           hits, (long long)p50, (long long)p99, (long long)max);
    printf("{\"lookups\":%d,\"hits\":%d,\"lookup_p50_us\":%lld,"
           "\"lookup_p99_us\":%lld,\"lookup_max_us\":%lld}\n",
           n, hits, (long long)p50, (long long)p99, (long long)max);
    free(us);
    coord_client_close(cl);
    return hits == n ? 0 : 1;
}
