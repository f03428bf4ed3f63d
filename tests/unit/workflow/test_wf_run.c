/* test_wf_run.c - the engine core: DAG and steps scheduling, node names,
 * ids and types, phases and messages, parameter flow. */
#include "wf_fake.h"

#include "common/cl_heap.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define WF(body)                                                               \
    "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n"                       \
    "metadata: {generateName: t-}\nspec:\n" body

static const char *diamond =
    WF("  entrypoint: diamond\n"
       "  templates:\n"
       "  - name: diamond\n"
       "    dag:\n"
       "      tasks:\n"
       "      - {name: A, template: echo, arguments: {parameters: [{name: "
       "message, value: A}]}}\n"
       "      - {name: B, depends: A, template: echo, arguments: {parameters: "
       "[{name: message, value: B}]}}\n"
       "      - {name: C, depends: A, template: echo, arguments: {parameters: "
       "[{name: message, value: C}]}}\n"
       "      - {name: D, depends: B && C, template: echo, arguments: "
       "{parameters: [{name: message, value: D}]}}\n"
       "  - name: echo\n"
       "    inputs: {parameters: [{name: message}]}\n"
       "    container: {image: busybox, command: [echo, "
       "'{{inputs.parameters.message}}']}\n");

/* Argo's node id: <wf>-<fnv-1a 32 of the node name>. */
static void expect_id(const char *wf, const char *name, const char *id)
{
    uint32_t h = 2166136261u;
    for (const char *p = name; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 16777619u;
    }
    char want[256];
    snprintf(want, sizeof(want), "%s-%u", wf, h);
    assert_string_equal(id, want);
}

static void test_diamond(void **state)
{
    (void)state;
    wf_spec *s = fake_parse(diamond);
    fake f;
    assert_int_equal(fake_init(&f, s, "dd", NULL, NULL, NULL), 0);
    wf_spec_free(s); /* the run keeps its own reference */
    assert_int_equal(wf_run_phase(f.run), WF_PENDING);
    assert_true(fake_run(&f, 60000));
    assert_int_equal(f.final_phase, WF_SUCCEEDED);
    assert_int_equal(wf_run_phase(f.run), WF_SUCCEEDED);
    assert_string_equal(wf_run_message(f.run), "");
    assert_int_equal(f.ntasks, 4);
    /* A first, B and C together, D last */
    assert_int_equal(fake_order(&f, "dd.A"), 0);
    assert_int_equal(fake_order(&f, "dd.D"), 3);
    assert_true(f.tasks[1].dispatched_at == f.tasks[2].dispatched_at);
    assert_true(f.tasks[3].dispatched_at > f.tasks[2].dispatched_at);
    assert_string_equal(f.tasks[0].argv[1], "A");
    assert_string_equal(fake_find(&f, "dd.D")->argv[1], "D");
    /* names, ids, types */
    uint32_t n;
    assert_int_equal(wf_run_find_node(f.run, "dd", &n), 0);
    assert_string_equal(wf_run_node_id(f.run, n), "dd");
    assert_int_equal(wf_run_find_node(f.run, "dd.B", &n), 0);
    expect_id("dd", "dd.B", wf_run_node_id(f.run, n));
    uint32_t m;
    assert_int_equal(wf_run_find_node(f.run, wf_run_node_id(f.run, n), &m), 0);
    assert_int_equal(m, n);
    json_t *st = wf_run_status_json(f.run, f.now);
    json_t *nodes = json_object_get(json_object_get(st, "status"), "nodes");
    assert_int_equal(json_object_size(nodes), 5);
    json_t *root = json_object_get(nodes, "dd");
    assert_string_equal(json_string_value(json_object_get(root, "type")),
                        "DAG");
    json_t *b = json_object_get(nodes, wf_run_node_id(f.run, n));
    assert_string_equal(json_string_value(json_object_get(b, "type")), "Pod");
    assert_string_equal(json_string_value(json_object_get(b, "displayName")),
                        "B");
    assert_string_equal(json_string_value(json_object_get(b, "boundaryID")),
                        "dd");
    assert_string_equal(json_string_value(json_object_get(b, "templateName")),
                        "echo");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(st, "status"),
                                          "progress")),
        "4/4");
    /* DAG children: the root task; A's children: B and C */
    json_t *kids = json_object_get(root, "children");
    assert_int_equal(json_array_size(kids), 1);
    assert_int_equal(wf_run_find_node(f.run, "dd.A", &n), 0);
    assert_string_equal(json_string_value(json_array_get(kids, 0)),
                        wf_run_node_id(f.run, n));
    json_t *a = json_object_get(nodes, wf_run_node_id(f.run, n));
    assert_int_equal(json_array_size(json_object_get(a, "children")), 2);
    /* inputs and outputs */
    json_t *in = json_object_get(json_object_get(a, "inputs"), "parameters");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(in, 0), "value")),
        "A");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(a, "outputs"),
                                          "result")),
        "A");
    json_decref(st);
    assert_true(wf_run_finished_at(f.run) > wf_run_started_at(f.run));
    fake_free(&f);
}

static const char *failing =
    WF("  entrypoint: main\n"
       "  templates:\n"
       "  - name: main\n"
       "    steps:\n"
       "    - - {name: ok, template: good}\n"
       "    - - {name: bad, template: fail}\n"
       "      - {name: other, template: good}\n"
       "    - - {name: never, template: good}\n"
       "  - name: good\n"
       "    container: {image: busybox, command: [echo, fine]}\n"
       "  - name: fail\n"
       "    container: {image: busybox, command: [sh, -c, 'echo no; exit "
       "3']}\n");

static void test_failing_step(void **state)
{
    (void)state;
    wf_spec *s = fake_parse(failing);
    fake f;
    assert_int_equal(fake_init(&f, s, "ff", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 60000));
    assert_int_equal(f.final_phase, WF_FAILED);
    assert_int_equal(wf_run_phase(f.run), WF_FAILED);
    /* the group's sibling still ran; the next group did not */
    assert_int_not_equal(fake_order(&f, "ff[1].other"), -1);
    assert_int_equal(fake_order(&f, "ff[2].never"), -1);
    json_t *bad = fake_node_json(&f, "ff[1].bad");
    assert_string_equal(json_string_value(json_object_get(bad, "message")),
                        "Error (exit code 3)");
    assert_string_equal(json_string_value(json_object_get(bad, "phase")),
                        "Failed");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(bad, "outputs"), "exitCode")),
                        "3");
    char want[128];
    snprintf(want, sizeof(want), "child '%s' failed",
             json_string_value(json_object_get(bad, "id")));
    assert_string_equal(wf_run_message(f.run), want);
    assert_string_equal(f.final_message, want);
    json_t *grp = fake_node_json(&f, "ff[1]");
    assert_string_equal(json_string_value(json_object_get(grp, "type")),
                        "StepGroup");
    assert_string_equal(json_string_value(json_object_get(grp, "message")),
                        want);
    json_t *root = fake_node_json(&f, "ff");
    assert_string_equal(json_string_value(json_object_get(root, "type")),
                        "Steps");
    assert_string_equal(json_string_value(json_object_get(root, "phase")),
                        "Failed");
    json_decref(bad);
    json_decref(grp);
    json_decref(root);
    assert_int_equal(fake_phase(&f, "ff[0].ok"), WF_SUCCEEDED);
    wf_spec_free(s);
    fake_free(&f);
}

static const char *params =
    WF("  entrypoint: main\n"
       "  arguments:\n"
       "    parameters: [{name: greeting, value: hello}]\n"
       "  templates:\n"
       "  - name: main\n"
       "    steps:\n"
       "    - - name: gen\n"
       "        template: gen\n"
       "    - - name: use\n"
       "        template: print\n"
       "        arguments:\n"
       "          parameters:\n"
       "          - {name: a, value: '{{steps.gen.outputs.parameters.p}}'}\n"
       "          - {name: b, value: '{{steps.gen.outputs.result}}'}\n"
       "          - {name: c, value: '{{workflow.parameters.greeting}} "
       "{{workflow.name}}'}\n"
       "    - - name: dag\n"
       "        template: d\n"
       "        arguments:\n"
       "          parameters: [{name: x, value: '{{steps.use.outputs.result}}'}]\n"
       "  - name: gen\n"
       "    container: {image: busybox, command: [sh, -c, 'echo out; echo val "
       "> /tmp/p']}\n"
       "    outputs: {parameters: [{name: p, valueFrom: {path: /tmp/p}}]}\n"
       "  - name: print\n"
       "    inputs: {parameters: [{name: a}, {name: b}, {name: c}]}\n"
       "    container: {image: busybox, command: [echo, "
       "'{{inputs.parameters.a}}|{{inputs.parameters.b}}|"
       "{{inputs.parameters.c}}']}\n"
       "  - name: d\n"
       "    inputs: {parameters: [{name: x}]}\n"
       "    dag:\n"
       "      tasks:\n"
       "      - {name: t1, template: print1, arguments: {parameters: [{name: "
       "m, value: '{{inputs.parameters.x}}'}]}}\n"
       "      - {name: t2, depends: t1, template: print1, arguments: "
       "{parameters: [{name: m, value: '<{{tasks.t1.outputs.result}}>'}]}}\n"
       "    outputs:\n"
       "      parameters: [{name: last, valueFrom: {parameter: "
       "'{{tasks.t2.outputs.result}}'}}]\n"
       "  - name: print1\n"
       "    inputs: {parameters: [{name: m}]}\n"
       "    container: {image: busybox, command: [echo, "
       "'{{inputs.parameters.m}}']}\n");

static void test_param_flow(void **state)
{
    (void)state;
    wf_spec *s = fake_parse(params);
    fake f;
    assert_int_equal(fake_init(&f, s, "pp", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 60000));
    assert_int_equal(f.final_phase, WF_SUCCEEDED);
    const fake_task *t = fake_find(&f, "pp[1].use");
    assert_non_null(t);
    assert_string_equal(t->argv[1], "val|out|hello pp");
    t = fake_find(&f, "pp[2].dag.t1");
    assert_non_null(t);
    assert_string_equal(t->argv[1], "val|out|hello pp");
    t = fake_find(&f, "pp[2].dag.t2");
    assert_string_equal(t->argv[1], "<val|out|hello pp>");
    json_t *d = fake_node_json(&f, "pp[2].dag");
    json_t *p = json_array_get(
        json_object_get(json_object_get(d, "outputs"), "parameters"), 0);
    assert_string_equal(json_string_value(json_object_get(p, "name")), "last");
    assert_string_equal(json_string_value(json_object_get(p, "value")),
                        "<val|out|hello pp>");
    assert_string_equal(json_string_value(json_object_get(d, "type")), "DAG");
    char bid[128];
    uint32_t n;
    assert_int_equal(wf_run_find_node(f.run, "pp", &n), 0);
    snprintf(bid, sizeof(bid), "%s", wf_run_node_id(f.run, n));
    assert_string_equal(json_string_value(json_object_get(d, "boundaryID")),
                        bid);
    json_decref(d);
    wf_spec_free(s);
    fake_free(&f);
}

static void test_overrides(void **state)
{
    (void)state;
    wf_spec *s = fake_parse(params);
    fake f;
    const char *ps[] = {"greeting=bye", NULL};
    assert_int_equal(fake_init(&f, s, "po", ps, NULL, NULL), 0);
    assert_true(fake_run(&f, 60000));
    assert_string_equal(fake_find(&f, "po[1].use")->argv[1], "val|out|bye po");
    fake_free(&f);
    const char *bad[] = {"nosuch=1", NULL};
    assert_int_equal(fake_init(&f, s, "po", bad, NULL, NULL), CL_EINVAL);
    assert_non_null(strstr(f.final_message, "unknown parameter 'nosuch'"));
    fake_free(&f);
    wf_spec_free(s);
}

static void test_missing_input(void **state)
{
    (void)state;
    wf_spec *s = fake_parse(WF("  entrypoint: main\n"
                               "  templates:\n"
                               "  - name: main\n"
                               "    inputs: {parameters: [{name: need}]}\n"
                               "    container: {image: busybox, command: "
                               "[echo, '{{inputs.parameters.need}}']}\n"));
    fake f;
    assert_int_equal(fake_init(&f, s, "mi", NULL, NULL, NULL), CL_EINVAL);
    assert_non_null(strstr(f.final_message, "inputs.parameters.need"));
    fake_free(&f);
    wf_spec_free(s);
}

/* A single container workflow: the root is the pod, named and id'd after
 * the workflow; its failure message is the workflow's. */
static void test_single_pod(void **state)
{
    (void)state;
    wf_spec *s = fake_parse(WF("  entrypoint: main\n"
                               "  templates:\n"
                               "  - name: main\n"
                               "    container: {image: alpine, command: [sh, "
                               "-c, 'exit 1']}\n"));
    fake f;
    assert_int_equal(fake_init(&f, s, "one", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 60000));
    assert_int_equal(f.final_phase, WF_FAILED);
    assert_string_equal(wf_run_message(f.run), "Error (exit code 1)");
    assert_string_equal(f.tasks[0].name, "one");
    uint32_t n;
    assert_int_equal(wf_run_find_node(f.run, "one", &n), 0);
    assert_string_equal(wf_run_node_id(f.run, n), "one");
    /* events for nodes that are not running change nothing */
    wf_step_result res = {.phase = WF_SUCCEEDED, .exit_code = 0};
    assert_int_equal(wf_run_step_exited(f.run, n, &res, f.now), CL_ESTATE);
    assert_int_equal(wf_run_step_started(f.run, 99, "h", f.now), CL_ESTATE);
    assert_int_equal(wf_run_start(f.run, f.now), CL_ESTATE);
    fake_free(&f);
    wf_spec_free(s);
}


/* ---- helpers for the feature tests ---------------------------------------- */

static wf_spec *spec_of(const char *body)
{
    char *y = NULL;
    size_t l = strlen(body) + 200;
    y = malloc(l);
    snprintf(y, l, "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n"
                   "metadata: {generateName: t-}\nspec:\n%s",
             body);
    wf_spec *s = fake_parse(y);
    free(y);
    return s;
}

static const char *node_msg(const fake *f, const char *name)
{
    static char buf[512];
    json_t *n = fake_node_json(f, name);
    assert_non_null(n);
    snprintf(buf, sizeof(buf), "%s",
             json_string_value(json_object_get(n, "message"))
                 ? json_string_value(json_object_get(n, "message"))
                 : "");
    json_decref(n);
    return buf;
}

static const char *node_type(const fake *f, const char *name)
{
    static char buf[64];
    json_t *n = fake_node_json(f, name);
    assert_non_null(n);
    snprintf(buf, sizeof(buf), "%s",
             json_string_value(json_object_get(n, "type")));
    json_decref(n);
    return buf;
}

/* a policy that fails nodes whose name contains "fail" (exit 1), or errors
 * those with "err" */
static void policy_names(void *ud, const wf_task *t, fake_outcome *o)
{
    fake_policy_echo(ud, t, o);
    if (strstr(t->node_name, "fail"))
        o->exit_code = 1;
    if (strstr(t->node_name, "err"))
        o->phase = WF_ERROR;
}

/* ---- retries --------------------------------------------------------------- */

static int attempts_ok_at; /* attempt index that succeeds, or -1 */
static void policy_attempts(void *ud, const wf_task *t, fake_outcome *o)
{
    fake_policy_echo(ud, t, o);
    if (t->retry != attempts_ok_at)
        o->exit_code = 2;
}

static void test_retry_limit(void **state)
{
    (void)state;
    wf_spec *s = spec_of("  entrypoint: main\n"
                         "  templates:\n"
                         "  - name: main\n"
                         "    retryStrategy: {limit: '2'}\n"
                         "    container: {image: busybox, command: [echo, "
                         "'try {{retries}}']}\n");
    fake f;
    attempts_ok_at = -1;
    assert_int_equal(fake_init(&f, s, "rl", NULL, policy_attempts, NULL), 0);
    assert_true(fake_run(&f, 600000));
    assert_int_equal(f.final_phase, WF_FAILED);
    assert_int_equal(f.ntasks, 3);
    assert_string_equal(f.tasks[0].name, "rl(0)");
    assert_string_equal(f.tasks[2].name, "rl(2)");
    assert_string_equal(f.tasks[2].argv[1], "try 2");
    assert_string_equal(node_type(&f, "rl"), "Retry");
    assert_string_equal(node_msg(&f, "rl"), "No more retries left");
    assert_string_equal(wf_run_message(f.run), "No more retries left");
    assert_string_equal(node_msg(&f, "rl(1)"), "Error (exit code 2)");
    fake_free(&f);
    /* the second attempt succeeds: the Retry node takes its outputs */
    attempts_ok_at = 1;
    assert_int_equal(fake_init(&f, s, "rl", NULL, policy_attempts, NULL), 0);
    assert_true(fake_run(&f, 600000));
    assert_int_equal(f.final_phase, WF_SUCCEEDED);
    assert_int_equal(f.ntasks, 2);
    json_t *n = fake_node_json(&f, "rl");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(n, "outputs"), "result")),
                        "try 1");
    json_decref(n);
    fake_free(&f);
    wf_spec_free(s);
}

static void test_retry_policy_and_expression(void **state)
{
    (void)state;
    /* OnError does not retry a Failed attempt */
    wf_spec *s = spec_of("  entrypoint: main\n"
                         "  templates:\n"
                         "  - name: main\n"
                         "    retryStrategy: {limit: 5, retryPolicy: OnError}\n"
                         "    container: {image: busybox, command: [sh, -c, "
                         "'exit 1']}\n");
    fake f;
    assert_int_equal(fake_init(&f, s, "rp", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 600000));
    assert_int_equal(f.ntasks, 1);
    assert_int_equal(f.final_phase, WF_FAILED);
    assert_string_equal(node_msg(&f, "rp"), "Error (exit code 1)");
    fake_free(&f);
    wf_spec_free(s);
    /* the expression sees lastRetry.exitCode: retry only while it is 2 */
    s = spec_of("  entrypoint: main\n"
                "  templates:\n"
                "  - name: main\n"
                "    retryStrategy:\n"
                "      limit: 10\n"
                "      expression: asInt(lastRetry.exitCode) == 2 && "
                "lastRetry.status == 'Failed'\n"
                "    container: {image: busybox, command: [sh, -c, "
                "'exit {{retries}}']}\n");
    assert_int_equal(fake_init(&f, s, "re", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 600000));
    /* attempt 0 exits 0? no: exit 0 succeeds at once */
    assert_int_equal(f.final_phase, WF_SUCCEEDED);
    fake_free(&f);
    wf_spec_free(s);
    s = spec_of("  entrypoint: main\n"
                "  templates:\n"
                "  - name: main\n"
                "    retryStrategy:\n"
                "      limit: 10\n"
                "      expression: asInt(lastRetry.exitCode) < 3\n"
                "    container: {image: busybox, command: [sh, -c, "
                "'exit 9{{retries}}']}\n");
    assert_int_equal(fake_init(&f, s, "rx", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 600000));
    assert_int_equal(f.final_phase, WF_FAILED);
    assert_int_equal(f.ntasks, 1);
    assert_string_equal(node_msg(&f, "rx"),
                        "retryStrategy.expression evaluated to false");
    fake_free(&f);
    wf_spec_free(s);
}

static void test_retry_backoff(void **state)
{
    (void)state;
    wf_spec *s = spec_of("  entrypoint: main\n"
                         "  templates:\n"
                         "  - name: main\n"
                         "    retryStrategy:\n"
                         "      limit: '10'\n"
                         "      backoff: {duration: '1', factor: '2', cap: '5', "
                         "maxDuration: '30s'}\n"
                         "    container: {image: busybox, command: [sh, -c, "
                         "'exit 1']}\n");
    fake f;
    assert_int_equal(fake_init(&f, s, "rb", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 600000));
    assert_int_equal(f.final_phase, WF_FAILED);
    /* each attempt runs 1 s; waits 1, 2, 4, 5, 5, ... s (cap 5) */
    int64_t want[] = {0, 2000, 5000, 10000, 16000, 22000, 28000};
    size_t nt = f.ntasks;
    for (size_t i = 0; i < nt && i < 7; i++)
        assert_int_equal(f.tasks[i].dispatched_at - f.tasks[0].dispatched_at,
                         want[i]);
    /* the next wait (5 s after 29 s) would pass 30 s */
    assert_int_equal(nt, 7);
    assert_string_equal(node_msg(&f, "rb"),
                        "Backoff would exceed max duration limit");
    fake_free(&f);
    wf_spec_free(s);
}

/* ---- when and loops ---------------------------------------------------------- */

static void test_when(void **state)
{
    (void)state;
    wf_spec *s = spec_of(
        "  entrypoint: main\n"
        "  arguments: {parameters: [{name: go, value: 'yes'}]}\n"
        "  templates:\n"
        "  - name: main\n"
        "    steps:\n"
        "    - - {name: a, template: e, when: '{{workflow.parameters.go}} == "
        "yes'}\n"
        "      - {name: b, template: e, when: '{{workflow.parameters.go}} != "
        "yes'}\n"
        "      - {name: c, template: e, when: '1 < 10 && \"x\" =~ \"x\"'}\n"
        "      - {name: d, template: e, when: 'a == == b'}\n"
        "  - name: e\n"
        "    container: {image: busybox, command: [echo, hi]}\n");
    fake f;
    assert_int_equal(fake_init(&f, s, "wh", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 60000));
    assert_int_equal(fake_phase(&f, "wh[0].a"), WF_SUCCEEDED);
    assert_int_equal(fake_phase(&f, "wh[0].b"), WF_SKIPPED);
    assert_string_equal(node_msg(&f, "wh[0].b"),
                        "when 'yes != yes' evaluated false");
    assert_string_equal(node_type(&f, "wh[0].b"), "Skipped");
    assert_int_equal(fake_phase(&f, "wh[0].c"), WF_SUCCEEDED);
    assert_int_equal(fake_phase(&f, "wh[0].d"), WF_ERROR);
    assert_non_null(strstr(node_msg(&f, "wh[0].d"),
                           "Invalid 'when' expression"));
    /* d errored without continueOn: the workflow fails */
    assert_int_equal(f.final_phase, WF_FAILED);
    fake_free(&f);
    wf_spec_free(s);
}

static void test_loops(void **state)
{
    (void)state;
    wf_spec *s = spec_of(
        "  entrypoint: main\n"
        "  templates:\n"
        "  - name: main\n"
        "    steps:\n"
        "    - - name: maps\n"
        "        template: e\n"
        "        arguments: {parameters: [{name: m, value: "
        "'{{item.b}}-{{item.a}}-{{item}}'}]}\n"
        "        withItems: [{b: 2, a: x}, {a: 'y(z)', b: 3}]\n"
        "      - name: seq\n"
        "        template: e\n"
        "        arguments: {parameters: [{name: m, value: '{{item}}'}]}\n"
        "        withSequence: {start: '5', end: '3', format: '%02X'}\n"
        "      - name: cnt\n"
        "        template: e\n"
        "        arguments: {parameters: [{name: m, value: '{{item}}'}]}\n"
        "        withSequence: {count: '0'}\n"
        "      - name: lists\n"
        "        template: e\n"
        "        arguments: {parameters: [{name: m, value: '{{item}}'}]}\n"
        "        withItems: [[1, 2], true, 1.5]\n"
        "      - name: bad\n"
        "        template: e\n"
        "        arguments: {parameters: [{name: m, value: '{{item}}'}]}\n"
        "        withParam: 'not json'\n"
        "        continueOn: {error: true}\n"
        "  - name: e\n"
        "    inputs: {parameters: [{name: m}]}\n"
        "    container: {image: busybox, command: [echo, "
        "'{{inputs.parameters.m}}']}\n");
    fake f;
    assert_int_equal(fake_init(&f, s, "lp", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 60000));
    assert_int_equal(f.final_phase, WF_SUCCEEDED);
    const fake_task *t = fake_find(&f, "lp[0].maps(0:a:x,b:2)");
    assert_non_null(t);
    assert_string_equal(t->argv[1], "2-x-{\"a\":\"x\",\"b\":2}");
    assert_non_null(fake_find(&f, "lp[0].maps(1:a:yz,b:3)"));
    assert_string_equal(fake_find(&f, "lp[0].seq(0:05)")->argv[1], "05");
    assert_non_null(fake_find(&f, "lp[0].seq(1:04)"));
    assert_non_null(fake_find(&f, "lp[0].seq(2:03)"));
    assert_int_equal(fake_phase(&f, "lp[0].cnt"), WF_SKIPPED);
    assert_string_equal(node_msg(&f, "lp[0].cnt"), "Skipped, empty params");
    assert_string_equal(fake_find(&f, "lp[0].lists(0:[1,2])")->argv[1],
                        "[1,2]");
    assert_string_equal(fake_find(&f, "lp[0].lists(1:true)")->argv[1], "true");
    assert_string_equal(fake_find(&f, "lp[0].lists(2:1.5)")->argv[1], "1.5");
    assert_int_equal(fake_phase(&f, "lp[0].bad"), WF_ERROR);
    assert_string_equal(node_msg(&f, "lp[0].bad"),
                        "withParam value could not be parsed as a JSON list: "
                        "not json");
    fake_free(&f);
    wf_spec_free(s);
}

/* Loop outputs aggregate (B7), in a DAG: parameters as a list of strings,
 * or of JSON values when every value is an object or a list. */
static void policy_agg(void *ud, const wf_task *t, fake_outcome *o)
{
    fake_policy_echo(ud, t, o);
    if (strstr(t->node_name, ".gen(")) {
        const char *m = t->command[1];
        char v[64];
        snprintf(v, sizeof(v), "{\"n\":%s}", m);
        fake_add_param(o, "obj", v);
        fake_add_param(o, "str", m);
        fake_set_out(o, v);
    }
}

static void test_aggregation(void **state)
{
    (void)state;
    wf_spec *s = spec_of(
        "  entrypoint: main\n"
        "  templates:\n"
        "  - name: main\n"
        "    dag:\n"
        "      tasks:\n"
        "      - {name: gen, template: g, withItems: [1, 2, 3], arguments: "
        "{parameters: [{name: m, value: '{{item}}'}]}}\n"
        "      - {name: use, depends: gen, template: p, arguments: "
        "{parameters: [{name: a, value: '{{tasks.gen.outputs.parameters.str}}"
        "|{{tasks.gen.outputs.parameters.obj}}|{{tasks.gen.outputs.result}}"
        "|{{tasks.gen.status}}'}]}}\n"
        "      - {name: each, depends: gen.AnySucceeded, template: p, "
        "withParam: '{{tasks.gen.outputs.parameters}}', arguments: "
        "{parameters: [{name: a, value: '{{item.str}}'}]}}\n"
        "  - name: g\n"
        "    inputs: {parameters: [{name: m}]}\n"
        "    container: {image: busybox, command: [echo, "
        "'{{inputs.parameters.m}}']}\n"
        "    outputs: {parameters: [{name: obj, valueFrom: {path: /o}}, "
        "{name: str, valueFrom: {path: /s}}]}\n"
        "  - name: p\n"
        "    inputs: {parameters: [{name: a}]}\n"
        "    container: {image: busybox, command: [echo, "
        "'{{inputs.parameters.a}}']}\n");
    fake f;
    assert_int_equal(fake_init(&f, s, "ag", NULL, policy_agg, NULL), 0);
    assert_true(fake_run(&f, 60000));
    assert_int_equal(f.final_phase, WF_SUCCEEDED);
    assert_string_equal(fake_find(&f, "ag.use")->argv[1],
                        "[\"1\",\"2\",\"3\"]|[{\"n\":1},{\"n\":2},{\"n\":3}]|"
                        "[{\"n\":1},{\"n\":2},{\"n\":3}]|Succeeded");
    assert_string_equal(node_type(&f, "ag.gen"), "TaskGroup");
    assert_string_equal(fake_find(&f, "ag.each(2:obj:{\"n\":3},str:3)")->argv[1],
                        "3");
    fake_free(&f);
    wf_spec_free(s);
}

/* ---- DAG semantics (B4) ------------------------------------------------------- */

static void test_depends(void **state)
{
    (void)state;
    wf_spec *s = spec_of(
        "  entrypoint: main\n"
        "  templates:\n"
        "  - name: main\n"
        "    dag:\n"
        "      tasks:\n"
        "      - {name: ok, template: e}\n"
        "      - {name: fail-a, template: e, continueOn: {failed: true}}\n"
        "      - {name: skip, template: e, when: 'no == yes'}\n"
        "      - {name: t1, template: e, depends: 'fail-a.Failed && "
        "ok.Succeeded'}\n"
        "      - {name: t2, template: e, depends: '!ok.Succeeded || "
        "fail-a.Succeeded'}\n"
        "      - {name: t3, template: e, depends: '(skip.Skipped || "
        "ok.Failed) && fail-a'}\n"
        "      - {name: t4, template: e, depends: t2}\n"
        "      - {name: t5, template: e, depends: 't2.Omitted && t4.Omitted'}\n"
        "  - name: e\n"
        "    container: {image: busybox, command: [echo, hi]}\n");
    fake f;
    assert_int_equal(fake_init(&f, s, "dp", NULL, policy_names, NULL), 0);
    assert_true(fake_run(&f, 60000));
    assert_int_equal(fake_phase(&f, "dp.fail-a"), WF_FAILED);
    assert_int_equal(fake_phase(&f, "dp.t1"), WF_SUCCEEDED);
    assert_int_equal(fake_phase(&f, "dp.t2"), WF_OMITTED);
    assert_string_equal(node_msg(&f, "dp.t2"),
                        "omitted: depends condition not met");
    assert_string_equal(node_type(&f, "dp.t2"), "Skipped");
    assert_int_equal(fake_phase(&f, "dp.t3"), WF_SUCCEEDED);
    assert_int_equal(fake_phase(&f, "dp.t4"), WF_OMITTED);
    assert_int_equal(fake_phase(&f, "dp.t5"), WF_SUCCEEDED);
    /* targets: t1, t3, t5 and the leaf skip... fail-a has dependents and
     * continueOn: the DAG succeeds */
    assert_int_equal(f.final_phase, WF_SUCCEEDED);
    fake_free(&f);
    wf_spec_free(s);
}

/* dag-continue-on-fail: an omitted target below a failure fails the DAG */
static void test_dag_branch_phase(void **state)
{
    (void)state;
    wf_spec *s = spec_of(
        "  entrypoint: main\n"
        "  templates:\n"
        "  - name: main\n"
        "    dag:\n"
        "      tasks:\n"
        "      - {name: a, template: e}\n"
        "      - {name: fail, depends: a, template: e}\n"
        "      - {name: g, depends: fail, template: e}\n"
        "      - {name: other, depends: a, template: e}\n"
        "  - name: e\n"
        "    container: {image: busybox, command: [echo, hi]}\n");
    fake f;
    assert_int_equal(fake_init(&f, s, "bp", NULL, policy_names, NULL), 0);
    assert_true(fake_run(&f, 60000));
    assert_int_equal(fake_phase(&f, "bp.g"), WF_OMITTED);
    assert_int_equal(fake_phase(&f, "bp.other"), WF_SUCCEEDED);
    assert_int_equal(f.final_phase, WF_FAILED);
    uint32_t n;
    assert_int_equal(wf_run_find_node(f.run, "bp.fail", &n), 0);
    char want[128];
    snprintf(want, sizeof(want), "child '%s' failed", wf_run_node_id(f.run, n));
    assert_string_equal(wf_run_message(f.run), want);
    fake_free(&f);
    /* with a target, only its ancestors run */
    wf_spec_free(s);
    s = spec_of("  entrypoint: main\n"
                "  arguments: {parameters: [{name: t, value: 'c'}]}\n"
                "  templates:\n"
                "  - name: main\n"
                "    dag:\n"
                "      target: '{{workflow.parameters.t}}'\n"
                "      tasks:\n"
                "      - {name: a, template: e}\n"
                "      - {name: b, depends: a, template: e}\n"
                "      - {name: c, depends: a, template: e}\n"
                "  - name: e\n"
                "    container: {image: busybox, command: [echo, hi]}\n");
    assert_int_equal(fake_init(&f, s, "tg", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 60000));
    assert_int_equal(f.final_phase, WF_SUCCEEDED);
    assert_int_equal(f.ntasks, 2);
    assert_int_equal(fake_order(&f, "tg.b"), -1);
    fake_free(&f);
    const char *bad[] = {"t=zz", NULL};
    assert_int_equal(fake_init(&f, s, "tg", bad, NULL, NULL), 0);
    assert_true(fake_run(&f, 60000));
    assert_int_equal(f.final_phase, WF_ERROR);
    assert_non_null(strstr(wf_run_message(f.run), "target 'zz'"));
    fake_free(&f);
    wf_spec_free(s);
}

static void test_continue_on_steps(void **state)
{
    (void)state;
    wf_spec *s = spec_of(
        "  entrypoint: main\n"
        "  templates:\n"
        "  - name: main\n"
        "    steps:\n"
        "    - - {name: fail, template: e, continueOn: {failed: true}}\n"
        "      - {name: err, template: e, continueOn: {error: true}}\n"
        "    - - {name: after, template: e, arguments: {parameters: [{name: "
        "x, value: '{{steps.fail.exitCode}} {{steps.fail.status}} "
        "{{steps.err.status}}'}]}}\n"
        "  - name: e\n"
        "    inputs: {parameters: [{name: x, default: none}]}\n"
        "    container: {image: busybox, command: [echo, "
        "'{{inputs.parameters.x}}']}\n");
    fake f;
    assert_int_equal(fake_init(&f, s, "co", NULL, policy_names, NULL), 0);
    assert_true(fake_run(&f, 60000));
    assert_int_equal(f.final_phase, WF_SUCCEEDED);
    assert_string_equal(fake_find(&f, "co[1].after")->argv[1],
                        "1 Failed Error");
    fake_free(&f);
    wf_spec_free(s);
}

/* ---- exit handlers (B12) ------------------------------------------------------ */

static const char *exit_wf =
    "  entrypoint: main\n"
    "  onExit: bye\n"
    "  templates:\n"
    "  - name: main\n"
    "    steps:\n"
    "    - - name: one\n"
    "        template: e\n"
    "        hooks: {exit: {template: hook, arguments: {parameters: [{name: "
    "r, value: '{{steps.one.outputs.result}}'}]}}}\n"
    "    - - {name: two, template: long}\n"
    "  - name: e\n"
    "    container: {image: busybox, command: [echo, hello]}\n"
    "  - name: long\n"
    "    container: {image: busybox, command: [sh, -c, 'sleep 100']}\n"
    "  - name: hook\n"
    "    inputs: {parameters: [{name: r}]}\n"
    "    container: {image: busybox, command: [echo, "
    "'hook {{inputs.parameters.r}}']}\n"
    "  - name: bye\n"
    "    container: {image: busybox, command: [echo, '{{workflow.status}} "
    "{{workflow.failures}}']}\n";

static void test_exit_handlers(void **state)
{
    (void)state;
    wf_spec *s = spec_of(exit_wf);
    fake f;
    assert_int_equal(fake_init(&f, s, "ex", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 600000));
    assert_int_equal(f.final_phase, WF_SUCCEEDED);
    /* the hook ran after one and before two; the handler last */
    assert_string_equal(fake_find(&f, "ex[0].one.onExit")->argv[1],
                        "hook hello");
    assert_true(fake_order(&f, "ex[0].one.onExit") < fake_order(&f, "ex[1].two"));
    assert_string_equal(fake_find(&f, "ex.onExit")->argv[1], "Succeeded []");
    assert_int_equal(fake_order(&f, "ex.onExit"), (int)f.ntasks - 1);
    fake_free(&f);
    wf_spec_free(s);
}

static void test_exit_handler_fails_wf(void **state)
{
    (void)state;
    wf_spec *s = spec_of("  entrypoint: main\n"
                         "  onExit: fail-exit\n"
                         "  templates:\n"
                         "  - name: main\n"
                         "    container: {image: busybox, command: [echo, ok]}\n"
                         "  - name: fail-exit\n"
                         "    container: {image: busybox, command: [sh, -c, "
                         "'exit 4']}\n");
    fake f;
    assert_int_equal(fake_init(&f, s, "xf", NULL, policy_names, NULL), 0);
    assert_true(fake_run(&f, 600000));
    assert_int_equal(f.final_phase, WF_FAILED);
    assert_string_equal(wf_run_message(f.run), "Error (exit code 4)");
    fake_free(&f);
    wf_spec_free(s);
}

static void test_failures_json(void **state)
{
    (void)state;
    wf_spec *s = spec_of("  entrypoint: main\n"
                         "  onExit: bye\n"
                         "  templates:\n"
                         "  - name: main\n"
                         "    container: {image: busybox, command: [sh, -c, "
                         "'exit 1']}\n"
                         "  - name: bye\n"
                         "    container: {image: busybox, command: [echo, "
                         "'{{workflow.status}} {{workflow.failures}}']}\n");
    fake f;
    assert_int_equal(fake_init(&f, s, "fj", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 600000));
    assert_int_equal(f.final_phase, WF_FAILED);
    const char *out = fake_find(&f, "fj.onExit")->argv[1];
    assert_string_equal(out,
                        "Failed [{\"displayName\":\"fj\",\"message\":\"Error "
                        "(exit code 1)\",\"templateName\":\"main\",\"phase\":"
                        "\"Failed\",\"podName\":\"fj\",\"finishedAt\":"
                        "\"2026-01-01T00:00:01Z\"}]");
    fake_free(&f);
    wf_spec_free(s);
}

/* ---- stop, terminate, deadlines (B12, B13) -------------------------------- */

static void test_stop_and_terminate(void **state)
{
    (void)state;
    wf_spec *s = spec_of(exit_wf);
    fake f;
    /* stop: running steps killed, exit handlers run */
    assert_int_equal(fake_init(&f, s, "st", NULL, NULL, NULL), 0);
    assert_false(fake_run(&f, 10000)); /* two sleeps 100 s */
    assert_int_equal(wf_run_stop(f.run, NULL, f.now), 0);
    fake_pump(&f);
    assert_true(fake_run(&f, 600000) || f.done);
    assert_true(f.done);
    assert_int_equal(f.final_phase, WF_FAILED);
    assert_string_equal(f.final_message, "Stopped with strategy 'Stop'");
    assert_int_equal(f.kills, 1);
    assert_int_equal(fake_phase(&f, "st[1].two"), WF_FAILED);
    assert_string_equal(node_msg(&f, "st[1].two"),
                        "Stopped with strategy 'Stop'");
    assert_non_null(fake_find(&f, "st.onExit"));
    /* workflow.failures lists the failed nodes, in node order */
    {
        uint32_t two, grp;
        assert_int_equal(wf_run_find_node(f.run, "st[1].two", &two), 0);
        assert_int_equal(wf_run_find_node(f.run, "st[1]", &grp), 0);
        const char *tid = wf_run_node_id(f.run, two);
        char want[2048];
        snprintf(want, sizeof(want),
                 "Failed [{\"displayName\":\"st\",\"message\":\"child "
                 "'%s' failed\",\"templateName\":\"main\",\"phase\":"
                 "\"Failed\",\"podName\":\"st\",\"finishedAt\":"
                 "\"2026-01-01T00:00:02Z\"},{\"displayName\":\"[1]\","
                 "\"message\":\"child '%s' failed\",\"templateName\":\"\","
                 "\"phase\":\"Failed\",\"podName\":\"%s\",\"finishedAt\":"
                 "\"2026-01-01T00:00:02Z\"},{\"displayName\":\"two\","
                 "\"message\":\"Stopped with strategy 'Stop'\","
                 "\"templateName\":\"long\",\"phase\":\"Failed\","
                 "\"podName\":\"%s\",\"finishedAt\":"
                 "\"2026-01-01T00:00:02Z\"}]",
                 tid, tid, wf_run_node_id(f.run, grp), tid);
        assert_string_equal(fake_find(&f, "st.onExit")->argv[1], want);
    }
    assert_int_equal(wf_run_stop(f.run, NULL, f.now), CL_ESTATE);
    fake_free(&f);
    /* terminate: no exit handler */
    assert_int_equal(fake_init(&f, s, "tm", NULL, NULL, NULL), 0);
    assert_false(fake_run(&f, 10000));
    assert_int_equal(wf_run_terminate(f.run, f.now), 0);
    fake_pump(&f);
    assert_true(f.done);
    assert_int_equal(f.final_phase, WF_FAILED);
    assert_string_equal(f.final_message, "Stopped with strategy 'Terminate'");
    assert_null(fake_find(&f, "tm.onExit"));
    uint32_t n;
    assert_int_not_equal(wf_run_find_node(f.run, "tm.onExit", &n), 0);
    fake_free(&f);
    wf_spec_free(s);
}

static void test_workflow_deadline(void **state)
{
    (void)state;
    wf_spec *s = spec_of("  entrypoint: main\n"
                         "  activeDeadlineSeconds: 30\n"
                         "  onExit: bye\n"
                         "  templates:\n"
                         "  - name: main\n"
                         "    steps:\n"
                         "    - - {name: a, template: long}\n"
                         "      - {name: b, template: long}\n"
                         "    - - {name: c, template: long}\n"
                         "  - name: long\n"
                         "    container: {image: busybox, command: [sleep, 1d]}\n"
                         "  - name: bye\n"
                         "    container: {image: busybox, command: [echo, "
                         "'{{workflow.status}}']}\n");
    fake f;
    assert_int_equal(fake_init(&f, s, "dl", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 3600000));
    assert_int_equal(f.final_phase, WF_FAILED);
    assert_string_equal(f.final_message, "Step exceeded its deadline");
    assert_int_equal(f.kills, 2);
    assert_string_equal(node_msg(&f, "dl[0].a"), "Step exceeded its deadline");
    assert_null(fake_find(&f, "dl[1].c"));
    /* the exit handler still ran, after the deadline */
    assert_string_equal(fake_find(&f, "dl.onExit")->argv[1], "Failed");
    assert_int_equal(wf_run_finished_at(f.run) - wf_run_started_at(f.run),
                     31000);
    fake_free(&f);
    wf_spec_free(s);
}

static void test_template_deadlines(void **state)
{
    (void)state;
    wf_spec *s = spec_of(
        "  entrypoint: main\n"
        "  templates:\n"
        "  - name: main\n"
        "    dag:\n"
        "      tasks:\n"
        "      - {name: a, template: t, arguments: {parameters: [{name: to, "
        "value: 20s}]}}\n"
        "      - {name: b, template: t, arguments: {parameters: [{name: to, "
        "value: 10s}]}}\n"
        "      - {name: c, template: ad}\n"
        "  - name: t\n"
        "    timeout: '{{inputs.parameters.to}}'\n"
        "    inputs: {parameters: [{name: to}]}\n"
        "    container: {image: busybox, command: [sleep, 15s]}\n"
        "  - name: ad\n"
        "    activeDeadlineSeconds: 5\n"
        "    container: {image: busybox, command: [sleep, 1d]}\n");
    fake f;
    assert_int_equal(fake_init(&f, s, "to", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 3600000));
    assert_int_equal(f.final_phase, WF_FAILED);
    assert_int_equal(fake_phase(&f, "to.a"), WF_SUCCEEDED);
    assert_int_equal(fake_phase(&f, "to.b"), WF_FAILED);
    assert_string_equal(node_msg(&f, "to.b"), "Step exceeded its deadline");
    assert_int_equal(fake_find(&f, "to.c")->deadline_ms, 5000);
    assert_int_equal(fake_phase(&f, "to.c"), WF_FAILED);
    assert_int_equal(f.kills, 2);
    assert_int_equal(wf_run_finished_at(f.run) - wf_run_started_at(f.run),
                     15000);
    fake_free(&f);
    wf_spec_free(s);
}

/* ---- parallelism and failFast (B14) ------------------------------------------ */

static int max_running(const fake *f)
{
    /* each task runs 1 s from its dispatch: count overlaps */
    int best = 0;
    for (size_t i = 0; i < f->ntasks; i++) {
        int n = 0;
        for (size_t k = 0; k < f->ntasks; k++)
            if (f->tasks[k].dispatched_at <= f->tasks[i].dispatched_at &&
                f->tasks[k].dispatched_at + 1000 > f->tasks[i].dispatched_at)
                n++;
        if (n > best)
            best = n;
    }
    return best;
}

static void test_parallelism(void **state)
{
    (void)state;
    wf_spec *s = spec_of("  entrypoint: main\n"
                         "  templates:\n"
                         "  - name: main\n"
                         "    parallelism: 2\n"
                         "    steps:\n"
                         "    - - {name: s, template: e, withSequence: {count: "
                         "'7'}}\n"
                         "  - name: e\n"
                         "    container: {image: busybox, command: [echo, x]}\n");
    fake f;
    assert_int_equal(fake_init(&f, s, "pl", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 600000));
    assert_int_equal(f.final_phase, WF_SUCCEEDED);
    assert_int_equal(f.ntasks, 7);
    assert_int_equal(max_running(&f), 2);
    assert_int_equal(wf_run_finished_at(f.run) - wf_run_started_at(f.run),
                     4000);
    fake_free(&f);
    wf_spec_free(s);
    /* workflow level: nested DAGs share one slot */
    s = spec_of("  entrypoint: main\n"
                "  parallelism: 1\n"
                "  templates:\n"
                "  - name: main\n"
                "    dag:\n"
                "      tasks:\n"
                "      - {name: x, template: inner}\n"
                "      - {name: y, template: inner}\n"
                "  - name: inner\n"
                "    dag:\n"
                "      tasks:\n"
                "      - {name: p, template: e}\n"
                "      - {name: q, template: e}\n"
                "  - name: e\n"
                "    container: {image: busybox, command: [echo, x]}\n");
    assert_int_equal(fake_init(&f, s, "pw", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 600000));
    assert_int_equal(f.final_phase, WF_SUCCEEDED);
    assert_int_equal(f.ntasks, 4);
    assert_int_equal(max_running(&f), 1);
    fake_free(&f);
    wf_spec_free(s);
}

static void test_fail_fast_steps(void **state)
{
    (void)state;
    wf_spec *s = spec_of(
        "  entrypoint: main\n"
        "  templates:\n"
        "  - name: main\n"
        "    parallelism: 1\n"
        "    failFast: true\n"
        "    steps:\n"
        "    - - {name: s, template: e, withItems: [ok1, ok2, fail, ok3], "
        "arguments: {parameters: [{name: m, value: '{{item}}'}]}}\n"
        "  - name: e\n"
        "    inputs: {parameters: [{name: m}]}\n"
        "    container: {image: busybox, command: [echo, "
        "'{{inputs.parameters.m}}']}\n");
    fake f;
    assert_int_equal(fake_init(&f, s, "ff", NULL, policy_names, NULL), 0);
    assert_true(fake_run(&f, 600000));
    assert_int_equal(f.final_phase, WF_FAILED);
    assert_int_equal(f.ntasks, 3);
    uint32_t n;
    assert_int_not_equal(wf_run_find_node(f.run, "ff[0].s(3:ok3)", &n), 0);
    fake_free(&f);
    wf_spec_free(s);
}

/* ---- mutexes and memoization (B14, B15) --------------------------------------- */

static void test_mutex(void **state)
{
    (void)state;
    wf_spec *s = spec_of("  entrypoint: main\n"
                         "  synchronization: {mutexes: [{name: wf}]}\n"
                         "  templates:\n"
                         "  - name: main\n"
                         "    steps:\n"
                         "    - - {name: a, template: locked}\n"
                         "      - {name: b, template: locked}\n"
                         "  - name: locked\n"
                         "    synchronization: {mutex: {name: m}}\n"
                         "    container: {image: busybox, command: [echo, x]}\n");
    fake f;
    assert_int_equal(fake_init(&f, s, "mx", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 600000));
    assert_int_equal(f.final_phase, WF_SUCCEEDED);
    assert_int_equal(f.acquires, 3);
    assert_int_equal(f.releases, 3);
    assert_int_equal(max_running(&f), 1); /* a and b never overlap */
    fake_free(&f);
    wf_spec_free(s);
}

/* A node stopped while it waits for a mutex withdraws its request. */
static void test_mutex_withdrawn(void **state)
{
    (void)state;
    wf_spec *s = spec_of("  entrypoint: main\n"
                         "  templates:\n"
                         "  - name: main\n"
                         "    synchronization: {mutex: {name: m}}\n"
                         "    container: {image: busybox, command: [echo, x]}\n");
    wf_run_opts o;
    memset(&o, 0, sizeof(o));
    o.name = "mw";
    o.uid = "u";
    wf_run *r = NULL;
    cl_errmsg em;
    assert_int_equal(wf_run_new(s, &o, &r, &em), 0);
    assert_int_equal(wf_run_start(r, 1000), 0);
    wf_action a;
    assert_true(wf_run_next_action(r, &a));
    assert_int_equal(a.kind, WF_ACT_ACQUIRE);
    assert_string_equal(a.mutex, "m");
    uint32_t node = a.node;
    assert_false(wf_run_next_action(r, &a));
    assert_int_equal(wf_run_terminate(r, 2000), 0);
    assert_true(wf_run_next_action(r, &a));
    assert_int_equal(a.kind, WF_ACT_RELEASE);
    assert_string_equal(a.mutex, "m");
    assert_int_equal(a.node, node);
    assert_true(wf_run_next_action(r, &a));
    assert_int_equal(a.kind, WF_ACT_DONE);
    assert_int_equal(a.phase, WF_FAILED);
    /* a late grant changes nothing */
    assert_int_equal(wf_run_acquired(r, node, "m", 3000), CL_ESTATE);
    wf_run_free(r);
    wf_spec_free(s);
}

static void test_memoize(void **state)
{
    (void)state;
    wf_spec *s = spec_of("  entrypoint: main\n"
                         "  templates:\n"
                         "  - name: main\n"
                         "    steps:\n"
                         "    - - {name: a, template: m}\n"
                         "    - - {name: b, template: m}\n"
                         "      - {name: c, template: badkey, continueOn: "
                         "{error: true}}\n"
                         "  - name: m\n"
                         "    memoize: {key: 'k-{{workflow.parameters.v}}', "
                         "maxAge: 10s, cache: {configMap: {name: cc}}}\n"
                         "    container: {image: busybox, command: [sh, -c, "
                         "'echo w > /tmp/o']}\n"
                         "    outputs: {parameters: [{name: o, valueFrom: "
                         "{path: /tmp/o}}]}\n"
                         "  - name: badkey\n"
                         "    memoize: {key: '-bad key', cache: {configMap: "
                         "{name: cc}}}\n"
                         "    container: {image: busybox, command: [echo]}\n"
                         "  arguments: {parameters: [{name: v, value: '1'}]}\n");
    fake f;
    assert_int_equal(fake_init(&f, s, "mm", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 600000));
    assert_int_equal(f.final_phase, WF_SUCCEEDED);
    /* a runs and is saved; b is a hit and does not run */
    assert_int_equal(f.ntasks, 1);
    assert_int_equal(f.memo_saves, 1);
    assert_int_equal(f.memo_hits, 1);
    assert_string_equal(f.tasks[0].memo_key, "k-1");
    json_t *b = fake_node_json(&f, "mm[1].b");
    json_t *ms = json_object_get(b, "memoizationStatus");
    assert_true(json_is_true(json_object_get(ms, "hit")));
    assert_string_equal(json_string_value(json_object_get(ms, "key")), "k-1");
    assert_string_equal(json_string_value(json_object_get(ms, "cacheName")),
                        "cc");
    json_t *p = json_array_get(
        json_object_get(json_object_get(b, "outputs"), "parameters"), 0);
    assert_string_equal(json_string_value(json_object_get(p, "value")), "w");
    json_decref(b);
    json_t *a = fake_node_json(&f, "mm[0].a");
    assert_false(json_is_true(json_object_get(
        json_object_get(a, "memoizationStatus"), "hit")));
    json_decref(a);
    assert_int_equal(fake_phase(&f, "mm[1].c"), WF_ERROR);
    assert_non_null(strstr(node_msg(&f, "mm[1].c"), "invalid memoization key"));
    /* the rendered tree marks the hit */
    json_t *st = wf_run_status_json(f.run, f.now);
    cl_buf out = CL_BUF_INIT;
    wf_render_tree(st, f.now, &out, WF_RENDER_NO_HEADER);
    assert_non_null(strstr(out.data, "b (cached)"));
    cl_buf_free(&out);
    json_decref(st);
    fake_free(&f);
    wf_spec_free(s);
}

/* ---- artifacts (B10) ------------------------------------------------------------ */

static void test_artifacts(void **state)
{
    (void)state;
    wf_spec *s = spec_of(
        "  entrypoint: main\n"
        "  arguments: {artifacts: [{name: top, raw: {data: 'top data'}}]}\n"
        "  templates:\n"
        "  - name: main\n"
        "    inputs: {artifacts: [{name: top}]}\n"
        "    steps:\n"
        "    - - {name: gen, template: gen}\n"
        "    - - name: use\n"
        "        template: use\n"
        "        arguments:\n"
        "          artifacts:\n"
        "          - {name: a, from: '{{steps.gen.outputs.artifacts.out}}', "
        "subPath: f.txt}\n"
        "          - {name: t, from: '{{inputs.artifacts.top}}'}\n"
        "          - {name: opt, from: '{{steps.gen.outputs.artifacts.none}}', "
        "optional: true}\n"
        "    outputs: {artifacts: [{name: fwd, from: "
        "'{{steps.gen.outputs.artifacts.out}}', globalName: g}]}\n"
        "  - name: gen\n"
        "    container: {image: busybox, command: [echo]}\n"
        "    outputs: {artifacts: [{name: out, path: /tmp/d}, {name: none, "
        "path: /nope, optional: true}]}\n"
        "  - name: use\n"
        "    inputs:\n"
        "      artifacts:\n"
        "      - {name: a, path: /in/a, mode: 0755}\n"
        "      - {name: t, path: /in/t}\n"
        "      - {name: opt, path: /in/o, optional: true}\n"
        "      - {name: r, path: /in/r, raw: {data: 'raw {{workflow.name}}'}}\n"
        "    container: {image: busybox, command: [echo]}\n");
    fake f;
    assert_int_equal(fake_init(&f, s, "ar", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 600000));
    assert_int_equal(f.final_phase, WF_SUCCEEDED);
    const fake_task *t = fake_find(&f, "ar[1].use");
    assert_int_equal(t->ninputs, 4);
    assert_string_equal(t->in_name[0], "a");
    uint32_t g;
    assert_int_equal(wf_run_find_node(f.run, "ar[0].gen", &g), 0);
    char d[128];
    snprintf(d, sizeof(d), "digest-%s-out", wf_run_node_id(f.run, g));
    assert_string_equal(t->in_digest[0], d);
    assert_string_equal(t->in_name[1], "t");
    assert_string_equal(t->in_raw[1], "top data");
    assert_string_equal(t->in_name[2], "opt");
    assert_string_equal(t->in_name[3], "r");
    assert_string_equal(t->in_raw[3], "raw ar");
    json_t *st = wf_run_status_json(f.run, f.now);
    json_t *ga = json_array_get(json_object_get(json_object_get(
                                    json_object_get(st, "status"), "outputs"),
                                                "artifacts"),
                                0);
    assert_string_equal(json_string_value(json_object_get(ga, "name")), "g");
    assert_string_equal(json_string_value(json_object_get(ga, "digest")), d);
    json_decref(st);
    fake_free(&f);
    wf_spec_free(s);
    /* a missing output artifact without optional errors the node */
    s = spec_of("  entrypoint: main\n"
                "  templates:\n"
                "  - name: main\n"
                "    container: {image: busybox, command: [echo]}\n"
                "    outputs: {artifacts: [{name: must, path: /x}]}\n");
    assert_int_equal(fake_init(&f, s, "am", NULL, fake_policy_echo, NULL), 0);
    assert_true(fake_run(&f, 600000));
    assert_int_equal(f.final_phase, WF_SUCCEEDED); /* the fake produced it */
    fake_free(&f);
    wf_spec_free(s);
}

static void policy_no_outputs(void *ud, const wf_task *t, fake_outcome *o)
{
    (void)ud;
    (void)t;
    (void)o;
}

static void test_missing_outputs(void **state)
{
    (void)state;
    wf_spec *s = spec_of("  entrypoint: main\n"
                         "  templates:\n"
                         "  - name: main\n"
                         "    steps:\n"
                         "    - - {name: a, template: art, continueOn: {error: "
                         "true}}\n"
                         "      - {name: b, template: par, continueOn: {error: "
                         "true}}\n"
                         "      - {name: c, template: pardef}\n"
                         "  - name: art\n"
                         "    container: {image: busybox, command: [echo]}\n"
                         "    outputs: {artifacts: [{name: must, path: /x}]}\n"
                         "  - name: par\n"
                         "    container: {image: busybox, command: [echo]}\n"
                         "    outputs: {parameters: [{name: p, valueFrom: "
                         "{path: /p}}]}\n"
                         "  - name: pardef\n"
                         "    container: {image: busybox, command: [echo]}\n"
                         "    outputs: {parameters: [{name: p, valueFrom: "
                         "{path: /p, default: dflt}}]}\n");
    fake f;
    assert_int_equal(fake_init(&f, s, "mo", NULL, policy_no_outputs, NULL), 0);
    assert_true(fake_run(&f, 600000));
    assert_int_equal(f.final_phase, WF_SUCCEEDED);
    assert_int_equal(fake_phase(&f, "mo[0].a"), WF_ERROR);
    assert_string_equal(node_msg(&f, "mo[0].a"),
                        "output artifact 'must' not found at path '/x'");
    assert_int_equal(fake_phase(&f, "mo[0].b"), WF_ERROR);
    assert_string_equal(node_msg(&f, "mo[0].b"),
                        "failed to read output parameter 'p' from /p");
    json_t *c = fake_node_json(&f, "mo[0].c");
    json_t *p = json_array_get(
        json_object_get(json_object_get(c, "outputs"), "parameters"), 0);
    assert_string_equal(json_string_value(json_object_get(p, "value")), "dflt");
    json_decref(c);
    fake_free(&f);
    wf_spec_free(s);
}

/* ---- lost steps, retry of a run, resubmit --memoized ------------------------- */

static void policy_lose(void *ud, const wf_task *t, fake_outcome *o)
{
    fake_policy_echo(ud, t, o);
    o->lost = true;
}

static void test_step_lost(void **state)
{
    (void)state;
    wf_spec *s = fake_parse(diamond);
    fake f;
    assert_int_equal(fake_init(&f, s, "sl", NULL, policy_lose, NULL), 0);
    assert_true(fake_run(&f, 600000));
    assert_int_equal(f.final_phase, WF_SUCCEEDED);
    assert_int_equal(f.ntasks, 8); /* every step dispatched twice */
    assert_int_equal(f.tasks[0].retry, f.tasks[1].retry);
    assert_string_equal(node_msg(&f, "sl.A"),
                        "agent host-1 is gone (rescheduled 1 time)");
    fake_free(&f);
    wf_spec_free(s);
}

static int fail_c_once;
static void policy_fail_c(void *ud, const wf_task *t, fake_outcome *o)
{
    fake_policy_echo(ud, t, o);
    if (strstr(t->node_name, ".C") && fail_c_once-- > 0)
        o->exit_code = 1;
}

static void test_run_retry(void **state)
{
    (void)state;
    wf_spec *s = fake_parse(diamond);
    fake f;
    fail_c_once = 1;
    assert_int_equal(fake_init(&f, s, "rr", NULL, policy_fail_c, NULL), 0);
    assert_int_equal(wf_run_retry(f.run, f.now), CL_ESTATE);
    assert_true(fake_run(&f, 600000));
    assert_int_equal(f.final_phase, WF_FAILED);
    assert_int_equal(f.ntasks, 3); /* A, B, C; D omitted */
    assert_int_equal(fake_phase(&f, "rr.D"), WF_OMITTED);
    f.done = false;
    assert_int_equal(wf_run_retry(f.run, f.now), 0);
    assert_int_equal(wf_run_phase(f.run), WF_RUNNING);
    fake_pump(&f);
    assert_true(fake_run(&f, 600000) || f.done);
    while (!f.done) {
        if (!fake_run(&f, 600000))
            break;
    }
    assert_true(f.done);
    assert_int_equal(f.final_phase, WF_SUCCEEDED);
    /* only C and D ran again */
    assert_int_equal(f.ntasks, 5);
    assert_string_equal(f.tasks[3].name, "rr.C");
    assert_string_equal(f.tasks[4].name, "rr.D");
    assert_int_equal(fake_phase(&f, "rr.A"), WF_SUCCEEDED);
    fake_free(&f);
    wf_spec_free(s);
}

static void test_resubmit_memoized(void **state)
{
    (void)state;
    wf_spec *s = fake_parse(diamond);
    fake f;
    fail_c_once = 1;
    assert_int_equal(fake_init(&f, s, "rs1", NULL, policy_fail_c, NULL), 0);
    assert_true(fake_run(&f, 600000));
    assert_int_equal(f.final_phase, WF_FAILED);
    json_t *old = wf_run_status_json(f.run, f.now);
    fake_free(&f);
    /* same name: node names match */
    fake g;
    memset(&g, 0, sizeof(g));
    g.spec = s;
    g.policy = fake_policy_echo;
    g.now = 1767225700000LL;
    wf_run_opts o;
    memset(&o, 0, sizeof(o));
    o.name = "rs1";
    o.uid = "u2";
    o.created_ms = g.now;
    o.memoized_from = old;
    cl_errmsg em;
    assert_int_equal(wf_run_new(s, &o, &g.run, &em), 0);
    json_decref(old);
    assert_true(fake_run(&g, 600000));
    assert_int_equal(g.final_phase, WF_SUCCEEDED);
    assert_int_equal(g.ntasks, 2); /* C and D */
    assert_null(fake_find(&g, "rs1.A"));
    assert_int_equal(fake_phase(&g, "rs1.A"), WF_SUCCEEDED);
    uint32_t n;
    assert_int_equal(wf_run_find_node(g.run, "rs1.A", &n), 0);
    char want[128];
    snprintf(want, sizeof(want), "original pod: %s", wf_run_node_id(g.run, n));
    assert_string_equal(node_msg(&g, "rs1.A"), want);
    fake_free(&g);
    wf_spec_free(s);
}

/* Same spec, same events: the same actions and the same status. */
static void test_determinism(void **state)
{
    (void)state;
    wf_spec *s = spec_of(exit_wf);
    char *dumps[2];
    for (int i = 0; i < 2; i++) {
        fake f;
        assert_int_equal(fake_init(&f, s, "det", NULL, NULL, NULL), 0);
        assert_true(fake_run(&f, 600000));
        json_t *st = wf_run_status_json(f.run, f.now);
        dumps[i] = json_dumps(st, JSON_SORT_KEYS | JSON_COMPACT);
        json_decref(st);
        fake_free(&f);
    }
    assert_string_equal(dumps[0], dumps[1]);
    free(dumps[0]);
    free(dumps[1]);
    wf_spec_free(s);
}

/* Allocation failures anywhere in a run are returned, never a crash. */
static void test_engine_oom(void **state)
{
    (void)state;
    wf_spec *s = spec_of(exit_wf);
    int completed = 0;
    for (int i = 0; i < 1500; i += 3) {
        fake f;
        cl_heap_fault_enable(i, 1);
        int rv = fake_init(&f, s, "oom", NULL, NULL, NULL);
        if (rv == 0)
            completed += fake_run(&f, 600000) ? 1 : 0;
        cl_heap_fault_disable();
        if (rv == 0)
            fake_free(&f);
        else {
            assert_int_equal(rv, CL_ENOMEM);
            cl_free(f.final_message);
        }
    }
    assert_true(completed > 0);
    wf_spec_free(s);
}
/* A step's stdout is bytes; the status JSON shows invalid UTF-8 as U+FFFD
 * rather than dropping the result. */
static void test_invalid_utf8_result(void **state)
{
    (void)state;
    static const char yaml[] =
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n"
        "metadata: {name: u8}\nspec:\n  entrypoint: m\n  templates:\n"
        "  - name: m\n    container: {image: x, command: [cat, f]}\n";
    wf_spec *s = fake_parse(yaml);
    wf_run_opts o;
    memset(&o, 0, sizeof(o));
    o.name = "u8";
    o.uid = "u";
    wf_run *r;
    cl_errmsg err;
    assert_int_equal(wf_run_new(s, &o, &r, &err), 0);
    assert_int_equal(wf_run_start(r, 1000), 0);
    wf_action a;
    uint32_t node = UINT32_MAX;
    while (wf_run_next_action(r, &a))
        if (a.kind == WF_ACT_DISPATCH)
            node = a.node;
    assert_int_not_equal(node, UINT32_MAX);
    wf_step_result res;
    memset(&res, 0, sizeof(res));
    res.phase = WF_SUCCEEDED;
    res.result = "ok\xff\xc3(\xe2\x82\xac";
    assert_int_equal(wf_run_step_exited(r, node, &res, 2000), 0);
    json_t *st = wf_run_status_json(r, 3000);
    json_t *n = json_object_get(json_object_get(json_object_get(st, "status"),
                                                "nodes"),
                                wf_run_node_id(r, node));
    const char *got = json_string_value(
        json_object_get(json_object_get(n, "outputs"), "result"));
    assert_non_null(got);
    /* two invalid sequences replaced; the euro sign kept */
    assert_string_equal(got, "ok\xef\xbf\xbd\xef\xbf\xbd(\xe2\x82\xac");
    json_decref(st);
    while (wf_run_next_action(r, &a))
        ;
    wf_run_free(r);
    wf_spec_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diamond),
        cmocka_unit_test(test_invalid_utf8_result),
        cmocka_unit_test(test_failing_step),
        cmocka_unit_test(test_param_flow),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_missing_input),
        cmocka_unit_test(test_single_pod),
        cmocka_unit_test(test_retry_limit),
        cmocka_unit_test(test_retry_policy_and_expression),
        cmocka_unit_test(test_retry_backoff),
        cmocka_unit_test(test_when),
        cmocka_unit_test(test_loops),
        cmocka_unit_test(test_aggregation),
        cmocka_unit_test(test_depends),
        cmocka_unit_test(test_dag_branch_phase),
        cmocka_unit_test(test_continue_on_steps),
        cmocka_unit_test(test_exit_handlers),
        cmocka_unit_test(test_exit_handler_fails_wf),
        cmocka_unit_test(test_failures_json),
        cmocka_unit_test(test_stop_and_terminate),
        cmocka_unit_test(test_workflow_deadline),
        cmocka_unit_test(test_template_deadlines),
        cmocka_unit_test(test_parallelism),
        cmocka_unit_test(test_fail_fast_steps),
        cmocka_unit_test(test_mutex),
        cmocka_unit_test(test_mutex_withdrawn),
        cmocka_unit_test(test_memoize),
        cmocka_unit_test(test_artifacts),
        cmocka_unit_test(test_missing_outputs),
        cmocka_unit_test(test_step_lost),
        cmocka_unit_test(test_run_retry),
        cmocka_unit_test(test_resubmit_memoized),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_engine_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
