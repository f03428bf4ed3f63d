/* wf_bench.c - engine throughput and memory on large workflows.
 *
 *   wf_bench [-n STEPS] [-s wide|deep|fanout|steps|all] [-r REPEAT] [-j]
 *
 * Builds the YAML of a workflow with STEPS leaf steps, parses it, then runs
 * it with every step completing instantly: each DISPATCH is answered with
 * step_started and step_exited. It reports
 *   - events/s: engine events (start, started, exited) per second of CPU,
 *   - steps/s:  leaf steps driven to Succeeded per second,
 *   - bytes/step: peak bytes allocated (every allocation of the spec, the
 *     run and jansson goes through a counting cl_heap) per step,
 *   - RSS: the process's peak resident set (VmHWM) as a cross-check.
 * Shapes: wide (one root, N-2 parallel tasks, one sink that depends on all),
 * deep (a chain), fanout (withItems of N items), steps (a steps template
 * looping withSequence count N). -j also times wf_run_status_json at the
 * end of each run.
 */
#include "workflow/wf.h"

#include "common/cl_buf.h"
#include "common/cl_heap.h"
#include "common/cl_time.h"

#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- counting heap ------------------------------------------------------- */

static size_t g_live, g_peak, g_calls;
static bool g_status;

static void *cnt_malloc(void *d, size_t n)
{
    (void)d;
    void *p = malloc(n);
    if (p != NULL) {
        g_live += malloc_usable_size(p);
        if (g_live > g_peak)
            g_peak = g_live;
        g_calls++;
    }
    return p;
}

static void *cnt_realloc(void *d, void *old, size_t n)
{
    (void)d;
    size_t before = old ? malloc_usable_size(old) : 0;
    void *p = realloc(old, n);
    if (p != NULL) {
        g_live += malloc_usable_size(p);
        g_live -= before;
        if (g_live > g_peak)
            g_peak = g_live;
        g_calls++;
    }
    return p;
}

static void cnt_free(void *d, void *p)
{
    (void)d;
    if (p != NULL)
        g_live -= malloc_usable_size(p);
    free(p);
}

static const struct cl_heap cnt_heap = {NULL, cnt_malloc, cnt_realloc,
                                        cnt_free};

static void *j_malloc(size_t n)
{
    return cl_malloc(n);
}

static void j_free(void *p)
{
    cl_free(p);
}

static long rss_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long v = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, field, fl))
            v = strtol(line + fl, NULL, 10);
    fclose(f);
    return v;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- workflows ------------------------------------------------------------ */

static const char *hdr =
    "apiVersion: argoproj.io/v1alpha1\n"
    "kind: Workflow\n"
    "metadata: {generateName: bench-}\n"
    "spec:\n"
    "  entrypoint: main\n"
    "  templates:\n"
    "  - name: work\n"
    "    inputs: {parameters: [{name: i}]}\n"
    "    container:\n"
    "      image: busybox\n"
    "      command: [echo, 'step {{inputs.parameters.i}}']\n";

static char *build(const char *shape, long n)
{
    cl_buf b = CL_BUF_INIT;
    cl_buf_puts(&b, hdr);
    if (!strcmp(shape, "wide") || !strcmp(shape, "deep")) {
        cl_buf_puts(&b, "  - name: main\n    dag:\n      tasks:\n");
        for (long i = 0; i < n; i++) {
            cl_buf_printf(&b, "      - {name: t%ld, template: work, "
                              "arguments: {parameters: [{name: i, value: "
                              "'%ld'}]}",
                          i, i);
            if (!strcmp(shape, "deep")) {
                if (i > 0)
                    cl_buf_printf(&b, ", depends: t%ld", i - 1);
            } else if (i > 0 && i < n - 1) {
                cl_buf_puts(&b, ", depends: t0");
            } else if (i == n - 1 && n > 1) {
                cl_buf_puts(&b, ", dependencies: [");
                for (long k = 1; k < n - 1; k++)
                    cl_buf_printf(&b, "%st%ld", k > 1 ? "," : "", k);
                cl_buf_puts(&b, "]");
            }
            cl_buf_puts(&b, "}\n");
        }
    } else if (!strcmp(shape, "fanout")) {
        cl_buf_puts(&b, "  - name: main\n    dag:\n      tasks:\n"
                        "      - name: fan\n        template: work\n"
                        "        arguments: {parameters: [{name: i, value: "
                        "'{{item}}'}]}\n        withItems: [");
        for (long i = 0; i < n; i++)
            cl_buf_printf(&b, "%s%ld", i ? "," : "", i);
        cl_buf_puts(&b, "]\n");
    } else {
        cl_buf_printf(&b, "  - name: main\n    steps:\n"
                          "    - - name: s\n        template: work\n"
                          "        arguments: {parameters: [{name: i, value: "
                          "'{{item}}'}]}\n"
                          "        withSequence: {count: '%ld'}\n",
                      n);
    }
    return cl_buf_steal(&b, NULL);
}

typedef struct result {
    double parse_s, run_s;
    long events, steps;
    size_t peak_bytes, spec_bytes;
    const char *phase;
} result;

static int run_shape(const char *shape, long n, result *res)
{
    char *yaml = build(shape, n);
    if (yaml == NULL)
        return 1;
    size_t base = g_live;
    g_peak = g_live;
    double t0 = cpu_s();
    wf_diag d;
    wf_diag_init(&d);
    wf_spec *spec = NULL;
    int rv = wf_parse(yaml, strlen(yaml), shape, &spec, &d);
    double t1 = cpu_s();
    cl_free(yaml);
    if (rv != 0) {
        fprintf(stderr, "parse: %s\n", d.err.msg);
        wf_diag_free(&d);
        return 1;
    }
    wf_diag_free(&d);
    res->spec_bytes = g_live - base;
    /* the YAML text and parser peak are not the engine's: restart the peak */
    g_peak = g_live;
    wf_run_opts o;
    memset(&o, 0, sizeof(o));
    o.name = "bench-x1y2z";
    o.uid = "0000";
    o.created_ms = 1;
    wf_run *r = NULL;
    cl_errmsg em;
    rv = wf_run_new(spec, &o, &r, &em);
    wf_spec_free(spec);
    if (rv != 0) {
        fprintf(stderr, "run: %s\n", em.msg);
        return 1;
    }
    uint32_t *todo = malloc(sizeof(uint32_t) * (size_t)(n + 16));
    long events = 0, steps = 0;
    int64_t now = 1000;
    double t2 = cpu_s();
    wf_run_start(r, now);
    events++;
    bool done = false;
    while (!done) {
        size_t nt = 0;
        wf_action a;
        while (wf_run_next_action(r, &a)) {
            if (a.kind == WF_ACT_DISPATCH)
                todo[nt++] = a.node;
            else if (a.kind == WF_ACT_DONE)
                done = true;
        }
        if (nt == 0)
            break;
        now++;
        wf_step_result sr;
        memset(&sr, 0, sizeof(sr));
        sr.phase = WF_SUCCEEDED;
        sr.exit_code = 0;
        sr.result = "ok";
        for (size_t i = 0; i < nt; i++) {
            wf_run_step_started(r, todo[i], "h1", now);
            wf_run_step_exited(r, todo[i], &sr, now);
            events += 2;
            steps++;
        }
    }
    double t3 = cpu_s();
    if (g_status) {
        double a = cpu_s();
        json_t *st = wf_run_status_json(r, now);
        double b2 = cpu_s();
        printf("  status JSON of %s: %.3f s, %zu nodes\n", shape, b2 - a,
               json_object_size(json_object_get(json_object_get(st, "status"),
                                                "nodes")));
        json_decref(st);
    }
    res->parse_s = t1 - t0;
    res->run_s = t3 - t2;
    res->events = events;
    res->steps = steps;
    res->peak_bytes = g_peak - base;
    res->phase = wf_phase_name(wf_run_phase(r));
    wf_run_free(r);
    free(todo);
    return 0;
}

int main(int argc, char **argv)
{
    long n = 100000;
    const char *shape = "all";
    int repeat = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            n = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-s") && i + 1 < argc)
            shape = argv[++i];
        else if (!strcmp(argv[i], "-r") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-j"))
            g_status = true;
        else {
            fprintf(stderr, "usage: %s [-n STEPS] [-s wide|deep|fanout|steps|"
                            "all] [-r REPEAT] [-j]\n",
                    argv[0]);
            return 2;
        }
    }
    cl_heap_set(&cnt_heap);
    json_set_alloc_funcs(j_malloc, j_free);
    const char *shapes[] = {"wide", "deep", "fanout", "steps"};
    printf("%-7s %8s %9s %9s %12s %11s %11s %9s %s\n", "shape", "steps",
           "parse_s", "run_s", "events/s", "steps/s", "bytes/step",
           "spec_B/st", "phase");
    int bad = 0;
    for (int s = 0; s < 4; s++) {
        if (strcmp(shape, "all") && strcmp(shape, shapes[s]))
            continue;
        for (int k = 0; k < repeat; k++) {
            result res;
            memset(&res, 0, sizeof(res));
            if (run_shape(shapes[s], n, &res) != 0) {
                bad++;
                continue;
            }
            printf("%-7s %8ld %9.3f %9.3f %12.0f %11.0f %11.0f %9.0f %s\n",
                   shapes[s], res.steps, res.parse_s, res.run_s,
                   res.run_s > 0 ? (double)res.events / res.run_s : 0,
                   res.run_s > 0 ? (double)res.steps / res.run_s : 0,
                   res.steps ? (double)res.peak_bytes / (double)res.steps : 0,
                   res.steps ? (double)res.spec_bytes / (double)res.steps : 0,
                   res.phase);
            if (res.steps != n || strcmp(res.phase, "Succeeded") != 0)
                bad++;
        }
    }
    printf("peak RSS %ld KiB\n", rss_kb("VmHWM:"));
    cl_heap_set(NULL);
    return bad ? 1 : 0;
}
