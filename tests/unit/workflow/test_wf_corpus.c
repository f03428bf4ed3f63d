/* test_wf_corpus.c - the acceptance corpus at the engine level: every
 * example of tests/data/argo-examples parses and runs to the phase that
 * expected.tsv gives, with its steps really executed by /bin/sh (wf_exec).
 * Randomness is pinned: python's `random` is seeded per step. Examples whose
 * tools are missing on this host (python, jq) are parsed but not run.
 */
#include "wf_exec.h"

#include "common/cl_heap.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    cl_buf b = CL_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        cl_buf_append(&b, chunk, n);
    fclose(f);
    return cl_buf_steal(&b, len);
}

typedef struct row {
    char file[256];
    char phase[64];
    char obs[1024];
} row;

static int load_rows(row *rows, int max)
{
    const char *data = getenv("COULER_TESTDATA");
    assert_non_null(data);
    char path[1024];
    snprintf(path, sizeof(path), "%s/argo-examples/expected.tsv", data);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof(line), f) && n < max) {
        if (!strncmp(line, "file\t", 5))
            continue;
        char *t1 = strchr(line, '\t');
        if (t1 == NULL)
            continue;
        *t1 = '\0';
        char *t2 = strchr(t1 + 1, '\t');
        if (t2 == NULL)
            continue;
        *t2 = '\0';
        snprintf(rows[n].file, sizeof(rows[n].file), "%s", line);
        snprintf(rows[n].phase, sizeof(rows[n].phase), "%s", t1 + 1);
        snprintf(rows[n].obs, sizeof(rows[n].obs), "%s", t2 + 1);
        n++;
    }
    fclose(f);
    return n;
}

/* What expected.tsv says should be visible, checked per example. */
static const char *out_of(const fake *f, const char *suffix)
{
    for (size_t i = 0; i < f->ntasks; i++) {
        size_t nl = strlen(f->tasks[i].name), sl = strlen(suffix);
        if (nl >= sl && !strcmp(f->tasks[i].name + nl - sl, suffix))
            return f->tasks[i].out ? f->tasks[i].out : "";
    }
    return NULL;
}

static bool has_node(const fake *f, const char *suffix)
{
    json_t *st = wf_run_status_json(f->run, f->now);
    json_t *nodes = json_object_get(json_object_get(st, "status"), "nodes");
    const char *id;
    json_t *n;
    bool found = false;
    json_object_foreach(nodes, id, n)
    {
        const char *nm = json_string_value(json_object_get(n, "name"));
        size_t nl = strlen(nm), sl = strlen(suffix);
        if (nl >= sl && !strcmp(nm + nl - sl, suffix))
            found = true;
    }
    json_decref(st);
    return found;
}

static void expect_out(const fake *f, const char *file, const char *node,
                       const char *want)
{
    const char *got = out_of(f, node);
    if (got == NULL || strcmp(got, want) != 0)
        fprintf(stderr, "%s: %s printed '%s', expected '%s'\n", file, node,
                got ? got : "(not run)", want);
    assert_non_null(got);
    assert_string_equal(got, want);
}

static void observe(const fake *f, const char *file)
{
    int64_t dur = wf_run_finished_at(f->run) - wf_run_started_at(f->run);
    if (!strcmp(file, "dag-targets.yaml")) {
        assert_false(has_node(f, ".B"));
        assert_false(has_node(f, ".D"));
        expect_out(f, file, ".E", "E");
    } else if (!strcmp(file, "loops-arbitrary-sequential-steps.yaml")) {
        assert_int_equal(f->ntasks, 4);
        expect_out(f, file, "(3:exit_code:1,message:will fail and stop here)",
                   "will fail and stop here");
    } else if (!strcmp(file, "parallelism-template-limit.yaml")) {
        assert_true(dur >= 50000);
    } else if (!strcmp(file, "parallelism-nested-workflow.yaml")) {
        assert_true(dur >= 120000);
    } else if (!strcmp(file, "parallelism-nested-dag.yaml")) {
        assert_true(dur >= 80000);
    } else if (!strcmp(file, "exit-handlers.yaml")) {
        assert_null(out_of(f, ".celebrate"));
        expect_out(f, file, ".cry", "boohoo!");
        const char *n = out_of(f, ".notify");
        assert_non_null(n);
        assert_non_null(strstr(n, "send e-mail: corpus-abcde Failed "));
        assert_non_null(strstr(n, "Failed steps [{"));
    } else if (!strcmp(file, "expression-destructure-json-complex.yaml")) {
        expect_out(f, file, "corpus-abcde",
                   "[43][43][{\"age\":43,\"name\":\"Baris\"}]"
                   "[\"Baris\",\"Mo\",\"Jai\"]");
    } else if (!strcmp(file, "expression-reusing-verbose-snippets.yaml")) {
        expect_out(f, file, "corpus-abcde",
                   "The week's average temperature was 35.8 with a minimum "
                   "of 15 and a maximum of 57.");
    } else if (!strcmp(file, "exit-code-output-variable.yaml")) {
        expect_out(f, file, ".echo-container", "Exit code was: 123");
    } else if (!strcmp(file, "parameter-aggregation-dag.yaml") ||
               !strcmp(file, "parameter-aggregation.yaml")) {
        expect_out(f, file, ".print-nums", "[\"1\",\"2\",\"3\",\"4\"]");
        expect_out(f, file, ".print-evenness",
                   "[\"odd\",\"even\",\"odd\",\"even\"]");
        expect_out(f, file, ".print(0:1)", "1");
        expect_out(f, file, ".print(1:2)", "2");
    } else if (!strcmp(file, "input-artifact-raw.yaml")) {
        expect_out(f, file, "corpus-abcde", "this is\nthe raw file\ncontents");
    } else if (!strcmp(file, "artifact-passing-subpath.yaml")) {
        expect_out(f, file, ".list-artifact", "hello_world.txt");
        expect_out(f, file, ".consume-artifact", "hello world");
    } else if (!strcmp(file, "artifact-passing.yaml")) {
        expect_out(f, file, ".consume-artifact", "hello world");
    } else if (!strcmp(file, "output-parameter.yaml")) {
        expect_out(f, file, ".consume-parameter", "hello world");
    } else if (!strcmp(file, "global-parameters.yaml") ||
               !strcmp(file, "arguments-parameters.yaml")) {
        expect_out(f, file, "corpus-abcde", "hello world");
    } else if (!strcmp(file, "skipped-output-defaults/consumer-input-default.yaml")) {
        expect_out(f, file, ".consumer", "consumer got: [fallback-from-input]");
    } else if (!strcmp(file, "skipped-output-defaults/producer-output-default.yaml")) {
        expect_out(f, file, ".consumer", "consumer got: [hello-from-producer]");
    } else if (!strcmp(file, "dag-inline-workflow.yaml") ||
               !strcmp(file, "steps-inline-workflow.yaml")) {
        expect_out(f, file, ".a", "hello argo");
    } else if (!strcmp(file, "status-reference.yaml")) {
        expect_out(f, file, ".failed", "the flakey container failed");
        assert_null(out_of(f, ".succeeded"));
    } else if (!strcmp(file, "dag-custom-metrics.yaml")) {
        expect_out(f, file, ".TEST-ONE(0:command:ONE-A,tag:TEST-ONE-A)",
                   "console output-->TEST-ONE-A");
    } else if (!strcmp(file, "handle-large-output-results.yaml")) {
        expect_out(f, file, ".sequence-param(2:2)", "\"c\"");
    } else if (!strcmp(file, "conditionals.yaml")) {
        assert_int_equal(f->ntasks, 3);
    } else if (!strcmp(file, "dag-task-level-timeout.yaml")) {
        /* A 15 s; then B killed 10 s in, C done 15 s in */
        assert_true(dur >= 30000 && dur < 31000);
        assert_int_equal(fake_phase(f, "corpus-abcde.B"), WF_FAILED);
        assert_int_equal(fake_phase(f, "corpus-abcde.C"), WF_SUCCEEDED);
    } else if (!strcmp(file, "timeouts-step.yaml")) {
        assert_int_equal(dur, 10000);
    } else if (!strcmp(file, "timeouts-workflow.yaml")) {
        assert_int_equal(dur, 30000);
    } else if (!strcmp(file, "expression-tag-template-workflow.yaml")) {
        assert_int_equal(f->ntasks, 1);
    }
}

/* Run one example; returns the final phase name, or NULL when skipped. */
static const char *run_example(wf_exec *x, const row *r, char *node_report,
                               size_t nrlen)
{
    const char *data = getenv("COULER_TESTDATA");
    char path[1024];
    snprintf(path, sizeof(path), "%s/argo-examples/%s", data, r->file);
    size_t len = 0;
    char *text = slurp(path, &len);
    assert_non_null(text);
    wf_diag d;
    wf_diag_init(&d);
    wf_spec *s = NULL;
    int rv = wf_parse(text, len, r->file, &s, &d);
    cl_free(text);
    if (rv != 0)
        fprintf(stderr, "%s: %s\n", r->file, d.err.msg);
    assert_int_equal(rv, 0);
    wf_diag_free(&d);
    if ((strstr(r->obs, "needs=python") && !x->has_python) ||
        (strstr(r->obs, "needs=jq") && !x->has_jq)) {
        wf_spec_free(s);
        return NULL;
    }
    fake f;
    const char *name = wf_spec_name(s) ? wf_spec_name(s) : "corpus-abcde";
    assert_int_equal(fake_init(&f, s, name, NULL, wf_exec_policy, x), 0);
    bool done = fake_run(&f, 3 * 3600 * 1000LL);
    if (!done)
        fprintf(stderr, "%s: did not finish\n", r->file);
    assert_true(done);
    const char *ph = wf_phase_name(f.final_phase);
    snprintf(node_report, nrlen, "%zu nodes, %zu dispatches, message '%s'",
             wf_run_node_count(f.run), f.ntasks,
             f.final_message ? f.final_message : "");
    /* the status renders */
    json_t *st = wf_run_status_json(f.run, f.now);
    cl_buf b = CL_BUF_INIT;
    wf_render_tree(st, f.now, &b, 0);
    assert_true(cl_buf_ok(&b));
    assert_non_null(strstr(b.data, "STEP"));
    if (getenv("WF_CORPUS_VERBOSE"))
        fprintf(stderr, "---- %s\n%s\n", r->file, b.data);
    cl_buf_free(&b);
    json_decref(st);
    observe(&f, r->file);
    fake_free(&f);
    wf_spec_free(s);
    return ph;
}

static void test_corpus_phases(void **state)
{
    (void)state;
    static row rows[128];
    int n = load_rows(rows, 128);
    assert_int_equal(n, 72);
    wf_exec x;
    assert_int_equal(wf_exec_init(&x), 0);
    int ran = 0, mism = 0;
    for (int i = 0; i < n; i++) {
        char rep[700];
        const char *ph = run_example(&x, &rows[i], rep, sizeof(rep));
        if (ph == NULL) {
            fprintf(stderr, "corpus %-48s skipped (tool missing)\n",
                    rows[i].file);
            continue;
        }
        ran++;
        bool ok = strstr(rows[i].phase, ph) != NULL;
        if (!ok)
            mism++;
        fprintf(stderr, "corpus %-48s %-9s %s%s\n", rows[i].file, ph,
                ok ? "" : "EXPECTED ", ok ? rep : rows[i].phase);
    }
    wf_exec_free(&x);
    assert_true(ran >= 50);
    assert_int_equal(mism, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_phases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
