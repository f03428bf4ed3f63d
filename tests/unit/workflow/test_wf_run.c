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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diamond),
        cmocka_unit_test(test_failing_step),
        cmocka_unit_test(test_param_flow),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_missing_input),
        cmocka_unit_test(test_single_pod),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
