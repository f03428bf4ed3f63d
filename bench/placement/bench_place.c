/* bench_place - placement throughput, latency and packing quality on
 * simulated clusters built from the real topologies in
 * tests/data/topologies/.
 *
 * Throughput: for each cluster size, nodes are drawn from a mix of GPU and
 * CPU machines, loaded to half their cores and GPUs with random steps,
 * then a stream of random steps is placed (decide + commit, topology
 * scoring on) while as many random running steps are released, so the load
 * stays at one half. Every decide+commit is timed for the latency
 * percentiles. One thread, one core.
 *
 * Quality: one random request stream (same seed) runs on two fresh
 * clusters, one with the placer and one with the first-fit baseline, with
 * no releases, until it is 1.3 times the cluster's GPU and core capacity;
 * then it counts the steps left waiting and the stranded GPUs (free GPUs
 * on nodes with fewer free cores than free GPUs), and how many GPU steps
 * got cores, GPUs and memory in one NUMA node.
 *
 * Usage: bench_place [--nodes N]... [--decisions D] [--quality-nodes N]
 *                    [--seed S] [--topodir DIR] [--smoke]
 * Prints a table; the last line is one JSON object with the figures.
 */
#include "placement/place.h"

#include "common/cl_heap.h"
#include "common/cl_rng.h"
#include "common/cl_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef COULER_PLACE_TOPODIR
#define COULER_PLACE_TOPODIR "tests/data/topologies"
#endif

/* The node mix: file, weight (per 100 nodes). */
static const struct {
    const char *file;
    unsigned weight;
} mix[] = {
    {"aws-g4dn-metal-2xXeon8259CL-8xT4.xml", 20},
    {"tioga-epyc7A53-nps4-8xMI250X-gcd.xml", 8},
    {"corona-2xEPYC7402-8xMI50.xml", 8},
    {"pascal-2xE5-2695v4-2xP100-onesocket.xml", 10},
    {"lassen-power9-4xV100.xml", 10},
    {"power8-minsky-4xP100-nvlink.xml", 4},
    {"quartz-2xE5-2695v4-cpuonly.xml", 25},
    {"epyc-2x7551-8numa-cpuonly.v1.xml", 10},
    {"sgi-uv2000-24xE5-4640-384pu.xml", 5},
};
#define NMIX (sizeof(mix) / sizeof(mix[0]))

static place_model *models[NMIX];

static void load_models(const char *dir)
{
    for (size_t i = 0; i < NMIX; i++) {
        char path[4096];
        cl_errmsg err;
        cl_errmsg_clear(&err);
        snprintf(path, sizeof(path), "%s/%s", dir, mix[i].file);
        if (place_model_load_xml(path, &models[i], &err) != 0) {
            fprintf(stderr, "bench_place: %s\n", err.msg);
            exit(2);
        }
    }
}

static place_cluster *build(unsigned nodes, bool first_fit)
{
    place_options opt = place_options_default();
    opt.first_fit = first_fit;
    place_cluster *c = NULL;
    if (place_cluster_new(&opt, &c) != 0)
        exit(3);
    unsigned total = 0;
    for (size_t i = 0; i < NMIX; i++)
        total += mix[i].weight;
    for (unsigned n = 0; n < nodes; n++) {
        /* Deterministic interleaving by weight. */
        unsigned k = (n * 37) % total, acc = 0;
        size_t pick = 0;
        for (size_t i = 0; i < NMIX; i++) {
            acc += mix[i].weight;
            if (k < acc) {
                pick = i;
                break;
            }
        }
        char id[32];
        snprintf(id, sizeof(id), "node-%05u", n);
        const place_kv labels[] = {{"rack", n % 2 ? "a" : "b"}};
        if (place_cluster_add_node(c, id, models[pick], labels, 1, NULL) != 0)
            exit(3);
    }
    return c;
}

/* A random step: 55% CPU-only, 45% GPU (3:1 NVIDIA:AMD). */
static void random_request(cl_rng *rng, place_request *r)
{
    static const char *cpus[] = {"500m", "1", "2", "4", "8", "16"};
    static const uint64_t mems[] = {1, 2, 4, 8, 16, 32};
    static const uint32_t gpus[] = {1, 1, 1, 2, 2, 4, 8};
    place_request_init(r);
    if (cl_rng_below(rng, 100) < 55) {
        const char *cpu = cpus[cl_rng_below(rng, 6)];
        place_parse_cpu(cpu, &r->cpu_milli, NULL);
        r->memory = mems[cl_rng_below(rng, 6)] << 30;
    } else {
        r->gpus = gpus[cl_rng_below(rng, 7)];
        r->gpu_vendor = cl_rng_below(rng, 4) ? PLACE_VENDOR_NVIDIA
                                             : PLACE_VENDOR_AMD;
        r->cpu_milli = r->gpus * 1000 * (uint32_t)(1 + cl_rng_below(rng, 4));
        r->memory = (uint64_t)r->gpus * (8ULL << 30);
    }
}

struct live {
    uint64_t *ids;
    size_t n, cap;
};

static void live_add(struct live *l, uint64_t id)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->ids = realloc(l->ids, l->cap * sizeof(uint64_t));
        if (l->ids == NULL)
            exit(4);
    }
    l->ids[l->n++] = id;
}

static void live_release_one(struct live *l, place_cluster *c, cl_rng *rng)
{
    size_t k = (size_t)cl_rng_below(rng, l->n);
    place_cluster_release(c, l->ids[k]);
    l->ids[k] = l->ids[--l->n];
}

static double load_of(const place_cluster_stats *s)
{
    double cu = 1.0 - (double)s->free_cores / (double)s->cores;
    double gu = s->gpus ? 1.0 - (double)s->free_gpus / (double)s->gpus : 0;
    return cu < gu ? cu : gu;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

struct tput {
    unsigned nodes;
    uint64_t decisions, placed, waited;
    double seconds, per_s, per_s_with_release;
    double p50_us, p99_us, max_us;
    double load_before, load_after;
    uint64_t build_ms;
};

static struct tput run_throughput(unsigned nodes, uint64_t decisions,
                                  uint64_t seed)
{
    struct tput t;
    memset(&t, 0, sizeof(t));
    t.nodes = nodes;
    int64_t b0 = cl_now_ms();
    place_cluster *c = build(nodes, false);
    t.build_ms = (uint64_t)(cl_now_ms() - b0);
    cl_rng rng;
    cl_rng_seed(&rng, seed);
    struct live l = {NULL, 0, 0};
    place_cluster_stats s;
    place_cluster_stats_get(c, &s);
    /* Load to one half. */
    unsigned misses = 0;
    while (load_of(&s) < 0.5 && misses < 10000) {
        place_request r;
        place_binding b;
        random_request(&rng, &r);
        if (place_cluster_place(c, &r, &rng, &b, NULL) == 0) {
            live_add(&l, b.id);
            place_binding_free(&b);
            misses = 0;
        } else {
            misses++;
        }
        if (l.n % 64 == 0)
            place_cluster_stats_get(c, &s);
    }
    place_cluster_stats_get(c, &s);
    t.load_before = load_of(&s);
    uint64_t *lat = malloc(decisions * sizeof(uint64_t));
    if (lat == NULL)
        exit(4);
    int64_t release_ns = 0;
    for (uint64_t i = 0; i < decisions; i++) {
        place_request r;
        place_binding b;
        random_request(&rng, &r);
        int64_t t0 = cl_now_ns();
        int rv = place_cluster_place(c, &r, &rng, &b, NULL);
        int64_t t1 = cl_now_ns();
        lat[i] = (uint64_t)(t1 - t0);
        if (rv == 0) {
            t.placed++;
            live_add(&l, b.id);
            place_binding_free(&b);
            int64_t r0 = cl_now_ns();
            live_release_one(&l, c, &rng);
            release_ns += cl_now_ns() - r0;
        } else {
            t.waited++;
        }
    }
    t.decisions = decisions;
    uint64_t total_ns = 0;
    for (uint64_t i = 0; i < decisions; i++)
        total_ns += lat[i];
    qsort(lat, decisions, sizeof(uint64_t), cmp_u64);
    t.seconds = (double)total_ns / 1e9;
    t.per_s = (double)decisions / t.seconds;
    t.per_s_with_release =
        (double)decisions / ((double)(total_ns + (uint64_t)release_ns) / 1e9);
    t.p50_us = (double)lat[decisions / 2] / 1e3;
    t.p99_us = (double)lat[(decisions * 99) / 100] / 1e3;
    t.max_us = (double)lat[decisions - 1] / 1e3;
    place_cluster_stats_get(c, &s);
    t.load_after = load_of(&s);
    free(lat);
    free(l.ids);
    place_cluster_free(c);
    return t;
}

struct quality {
    uint64_t requests, placed, waiting, gpu_waiting;
    uint64_t stranded, free_gpus;
    uint64_t gpu_steps, gpu_numa_fit;
};

static struct quality run_quality(unsigned nodes, uint64_t seed,
                                  bool first_fit)
{
    struct quality q;
    memset(&q, 0, sizeof(q));
    place_cluster *c = build(nodes, first_fit);
    place_cluster_stats s;
    place_cluster_stats_get(c, &s);
    cl_rng rng, tie;
    cl_rng_seed(&rng, seed);
    cl_rng_seed(&tie, seed + 1);
    uint64_t gpu_demand = 0, core_demand = 0;
    while (gpu_demand < s.gpus * 13 / 10 || core_demand < s.cores * 13 / 10) {
        place_request r;
        place_binding b;
        random_request(&rng, &r);
        gpu_demand += r.gpus;
        core_demand += (r.cpu_milli + 999) / 1000;
        q.requests++;
        int rv = place_cluster_place(c, &r, &tie, &b, NULL);
        if (rv == 0) {
            q.placed++;
            if (r.gpus > 0) {
                q.gpu_steps++;
                q.gpu_numa_fit += b.fit == PLACE_FIT_NUMA;
            }
            place_binding_free(&b);
        } else {
            q.waiting++;
            q.gpu_waiting += r.gpus > 0;
        }
    }
    place_cluster_stats_get(c, &s);
    q.stranded = s.stranded_gpus;
    q.free_gpus = s.free_gpus;
    place_cluster_free(c);
    return q;
}

int main(int argc, char **argv)
{
    unsigned sizes[8];
    size_t nsizes = 0;
    uint64_t decisions = 200000, seed = 1;
    unsigned qnodes = 1000;
    const char *dir = getenv("COULER_PLACE_TOPODIR");
    if (dir == NULL)
        dir = COULER_PLACE_TOPODIR;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc && nsizes < 8)
            sizes[nsizes++] = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--decisions") == 0 && i + 1 < argc)
            decisions = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--quality-nodes") == 0 && i + 1 < argc)
            qnodes = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--topodir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--smoke") == 0) {
            sizes[0] = 200;
            nsizes = 1;
            decisions = 2000;
            qnodes = 100;
        } else {
            fprintf(stderr,
                    "usage: %s [--nodes N]... [--decisions D] "
                    "[--quality-nodes N] [--seed S] [--topodir DIR] "
                    "[--smoke]\n",
                    argv[0]);
            return 2;
        }
    }
    if (nsizes == 0) {
        sizes[nsizes++] = 1000;
        sizes[nsizes++] = 10000;
    }
    if (decisions == 0)
        decisions = 1;
    load_models(dir);

    printf("placement benchmark: %" PRIu64 " decisions per size, seed %" PRIu64
           ", topology scoring on, one thread\n\n",
           decisions, seed);
    printf("%8s %10s %12s %14s %9s %9s %9s %8s %8s\n", "nodes", "placed",
           "decide+commit/s", "incl. release/s", "p50 us", "p99 us",
           "max us", "load", "build ms");
    struct tput t[8];
    for (size_t i = 0; i < nsizes; i++) {
        t[i] = run_throughput(sizes[i], decisions, seed);
        printf("%8u %10" PRIu64 " %15.0f %15.0f %9.1f %9.1f %9.1f %4.2f/%4.2f "
               "%6" PRIu64 "\n",
               t[i].nodes, t[i].placed, t[i].per_s, t[i].per_s_with_release,
               t[i].p50_us, t[i].p99_us, t[i].max_us, t[i].load_before,
               t[i].load_after, t[i].build_ms);
    }
    struct quality ours = run_quality(qnodes, seed, false);
    struct quality ff = run_quality(qnodes, seed, true);
    printf("\npacking quality, %u nodes, %" PRIu64
           " requests (1.3x capacity), no releases:\n",
           qnodes, ours.requests);
    printf("%-12s %8s %8s %12s %15s %14s\n", "placer", "placed", "waiting",
           "GPU waiting", "stranded GPUs", "GPU NUMA fit");
    struct quality *qs[2] = {&ours, &ff};
    const char *names[2] = {"placer", "first-fit"};
    for (int i = 0; i < 2; i++)
        printf("%-12s %8" PRIu64 " %8" PRIu64 " %12" PRIu64 " %15" PRIu64
               " %13.1f%%\n",
               names[i], qs[i]->placed, qs[i]->waiting, qs[i]->gpu_waiting,
               qs[i]->stranded,
               qs[i]->gpu_steps ? 100.0 * (double)qs[i]->gpu_numa_fit /
                                      (double)qs[i]->gpu_steps
                                : 0.0);

    /* Goals: >= 20,000 placements/s and p99 <= 1 ms at the largest size. */
    const struct tput *big = &t[0];
    for (size_t i = 1; i < nsizes; i++)
        if (t[i].nodes > big->nodes)
            big = &t[i];
    bool met = big->per_s >= 20000 && big->p99_us <= 1000;
    printf("\ngoal at %u nodes: >= 20000 placements/s and p99 <= 1000 us: "
           "%s\n\n",
           big->nodes, met ? "met" : "NOT met");

    printf("{\"bench\":\"placement\",\"seed\":%" PRIu64
           ",\"decisions\":%" PRIu64 ",\"sizes\":[",
           seed, decisions);
    for (size_t i = 0; i < nsizes; i++)
        printf("%s{\"nodes\":%u,\"placements_per_s\":%.0f,"
               "\"placements_per_s_incl_release\":%.0f,\"p50_us\":%.2f,"
               "\"p99_us\":%.2f,\"max_us\":%.2f,\"placed\":%" PRIu64
               ",\"waited\":%" PRIu64 ",\"load\":%.3f}",
               i ? "," : "", t[i].nodes, t[i].per_s, t[i].per_s_with_release,
               t[i].p50_us, t[i].p99_us, t[i].max_us, t[i].placed,
               t[i].waited, t[i].load_after);
    printf("],\"quality\":{\"nodes\":%u,\"requests\":%" PRIu64, qnodes,
           ours.requests);
    for (int i = 0; i < 2; i++)
        printf(",\"%s\":{\"placed\":%" PRIu64 ",\"waiting\":%" PRIu64
               ",\"gpu_waiting\":%" PRIu64 ",\"stranded_gpus\":%" PRIu64
               ",\"gpu_numa_fit_pct\":%.1f}",
               i ? "first_fit" : "placer", qs[i]->placed, qs[i]->waiting,
               qs[i]->gpu_waiting, qs[i]->stranded,
               qs[i]->gpu_steps ? 100.0 * (double)qs[i]->gpu_numa_fit /
                                      (double)qs[i]->gpu_steps
                                : 0.0);
    printf("},\"goal\":{\"nodes\":%u,\"placements_per_s\":20000,"
           "\"p99_us\":1000,\"met\":%s}}\n",
           big->nodes, met ? "true" : "false");
    for (size_t i = 0; i < NMIX; i++)
        place_model_free(models[i]);
    return 0;
}
