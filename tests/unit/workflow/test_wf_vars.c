/* test_wf_vars.c - variables and substitution (ARGO.md B5, B7, B9): what a
 * dispatched step receives once its tags are resolved. */
#include "wf_fake.h"

#include "common/cl_heap.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static wf_spec *spec_of(const char *body)
{
    size_t l = strlen(body) + 200;
    char *y = malloc(l);
    snprintf(y, l,
             "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n"
             "metadata:\n  generateName: t-\n  labels: {team: ml}\n"
             "  annotations: {note: hi}\nspec:\n%s",
             body);
    wf_spec *s = fake_parse(y);
    free(y);
    return s;
}

/* run and return the argv[1] of the step named `node` (static copy) */
static const char *arg_of(const char *body, const char *name, const char *node,
                          const char **params)
{
    static char buf[4096];
    wf_spec *s = spec_of(body);
    fake f;
    assert_int_equal(fake_init(&f, s, name, params, NULL, NULL), 0);
    assert_true(fake_run(&f, 600000));
    const fake_task *t = fake_find(&f, node);
    if (t == NULL)
        fprintf(stderr, "no task %s (phase %s: %s)\n", node,
                wf_phase_name(f.final_phase), f.final_message);
    assert_non_null(t);
    snprintf(buf, sizeof(buf), "%s", t->argc > 1 ? t->argv[1] : "");
    fake_free(&f);
    wf_spec_free(s);
    return buf;
}

static void test_workflow_globals(void **state)
{
    (void)state;
    const char *w =
        "  entrypoint: main\n"
        "  priority: 7\n"
        "  arguments: {parameters: [{name: a, value: '1'}, {name: b, value: "
        "'x \"q\"'}]}\n"
        "  templates:\n"
        "  - name: main\n"
        "    container: {image: busybox, command: [echo, '{{workflow.name}}|"
        "{{workflow.namespace}}|{{workflow.uid}}|{{workflow.mainEntrypoint}}|"
        "{{workflow.serviceAccountName}}|{{workflow.priority}}|"
        "{{workflow.creationTimestamp}}|{{workflow.creationTimestamp.Y}}|"
        "{{workflow.creationTimestamp.s}}|{{workflow.parameters.b}}|"
        "{{workflow.parameters.json}}|{{workflow.labels.team}}|"
        "{{workflow.annotations.note}}|{{workflow.labels.json}}|"
        "{{workflow.duration}}|{{pod.name}}|{{node.name}}|{{retries}}']}\n";
    assert_string_equal(
        arg_of(w, "gl", "gl", NULL),
        "gl|default|uid-1234|main|default|7|2026-01-01T00:00:00Z|2026|"
        "1767225600|x \"q\"|[{\"name\":\"a\",\"value\":\"1\"},{\"name\":\"b\","
        "\"value\":\"x \\\"q\\\"\"}]|ml|hi|{\"team\":\"ml\"}|0.000000|gl|gl|0");
}

static void test_inputs_and_items(void **state)
{
    (void)state;
    const char *w =
        "  entrypoint: main\n"
        "  templates:\n"
        "  - name: main\n"
        "    steps:\n"
        "    - - name: s\n"
        "        template: e\n"
        "        withItems: [{k: v, n: 2}]\n"
        "        arguments: {parameters: [{name: p, value: '{{item.k}}'}, "
        "{name: q, value: '{{item.n}}-{{item}}'}]}\n"
        "  - name: e\n"
        "    inputs:\n"
        "      parameters: [{name: p}, {name: q}, {name: r, value: "
        "'{{inputs.parameters.p}}!'}, {name: d, default: dd}]\n"
        "      artifacts: [{name: in, path: /in/x, raw: {data: z}}]\n"
        "    outputs: {parameters: [{name: o, valueFrom: {path: /out/o}}], "
        "artifacts: [{name: oa, path: /out/a}]}\n"
        "    container: {image: busybox, command: [echo, "
        "'{{inputs.parameters.p}}|{{inputs.parameters.q}}|"
        "{{inputs.parameters.r}}|{{inputs.parameters.d}}|"
        "{{inputs.parameters}}|{{inputs.artifacts.in.path}}|"
        "{{outputs.parameters.o.path}}|{{outputs.artifacts.oa.path}}']}\n";
    assert_string_equal(
        arg_of(w, "in", "in[0].s(0:k:v,n:2)", NULL),
        "v|2-{\"k\":\"v\",\"n\":2}|v!|dd|[{\"name\":\"p\",\"value\":\"v\"},"
        "{\"name\":\"q\",\"value\":\"2-{\\\"k\\\":\\\"v\\\",\\\"n\\\":2}\"},"
        "{\"name\":\"r\",\"value\":\"v!\"},{\"name\":\"d\",\"value\":\"dd\"}]|"
        "/in/x|/out/o|/out/a");
}

static void test_expression_tags(void **state)
{
    (void)state;
    const char *w =
        "  entrypoint: main\n"
        "  arguments: {parameters: [{name: cfg, value: '{\"a\": [1, 2, 3]}'}]}\n"
        "  templates:\n"
        "  - name: main\n"
        "    steps:\n"
        "    - - {name: one, template: e, arguments: {parameters: [{name: m, "
        "value: '41'}]}}\n"
        "    - - name: two\n"
        "        template: e\n"
        "        arguments:\n"
        "          parameters:\n"
        "          - name: m\n"
        "            value: \"{{=asInt(steps.one.outputs.result) + 1}}"
        "{{=jsonpath(workflow.parameters.cfg, '$.a')}}"
        "{{=inputs.parameters['not-there'] ?? 'dflt'}}{{= 'x' }}\"\n"
        "  - name: e\n"
        "    inputs: {parameters: [{name: m}]}\n"
        "    container: {image: busybox, command: [echo, "
        "'{{inputs.parameters.m}}']}\n";
    const char *got = arg_of(w, "ex", "ex[1].two", NULL);
    assert_string_equal(got, "42[1,2,3]dfltx");
}

/* B5: outputs of skipped nodes: a valueFrom.default applies, else a bare
 * reference is dropped so the input default applies. */
static void test_skipped_outputs(void **state)
{
    (void)state;
    const char *w =
        "  entrypoint: main\n"
        "  templates:\n"
        "  - name: main\n"
        "    dag:\n"
        "      tasks:\n"
        "      - {name: p, template: prod, when: 'false'}\n"
        "      - name: c\n"
        "        depends: p.Skipped\n"
        "        template: cons\n"
        "        arguments: {parameters: [{name: a, value: "
        "'{{tasks.p.outputs.parameters.x}}'}, {name: b, value: "
        "'{{tasks.p.outputs.parameters.y}}'}]}\n"
        "  - name: prod\n"
        "    outputs: {parameters: [{name: x, valueFrom: {path: /x, default: "
        "fromdefault}}, {name: y, valueFrom: {path: /y}}]}\n"
        "    container: {image: busybox, command: [echo]}\n"
        "  - name: cons\n"
        "    inputs: {parameters: [{name: a}, {name: b, default: inputdefault}]}\n"
        "    container: {image: busybox, command: [echo, "
        "'{{inputs.parameters.a}} {{inputs.parameters.b}}']}\n";
    assert_string_equal(arg_of(w, "so", "so.c", NULL),
                        "fromdefault inputdefault");
}

static void test_unresolved_fails(void **state)
{
    (void)state;
    /* a tag that never resolves fails the step (Argo "failed to resolve") */
    wf_spec *s = spec_of("  entrypoint: main\n"
                         "  templates:\n"
                         "  - name: main\n"
                         "    container: {image: busybox, command: [echo, "
                         "'{{workflow.scheduledTime}}']}\n");
    fake f;
    assert_int_equal(fake_init(&f, s, "un", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 60000));
    assert_int_equal(f.final_phase, WF_ERROR);
    assert_string_equal(f.final_message,
                        "failed to resolve {{workflow.scheduledTime}}");
    assert_int_equal(f.ntasks, 0);
    fake_free(&f);
    wf_spec_free(s);
}

/* Kubernetes defaults: a limit without request requests the limit. */
static void test_resources_and_selector(void **state)
{
    (void)state;
    wf_spec *s = spec_of("  entrypoint: main\n"
                         "  nodeSelector: {zone: a, arch: x}\n"
                         "  templates:\n"
                         "  - name: main\n"
                         "    nodeSelector: {arch: '{{workflow.name}}'}\n"
                         "    metadata: {annotations: {k: v}}\n"
                         "    container:\n"
                         "      image: busybox\n"
                         "      command: [echo]\n"
                         "      resources:\n"
                         "        requests: {cpu: 500m}\n"
                         "        limits: {cpu: '1', nvidia.com/gpu: 2}\n");
    wf_run_opts o;
    memset(&o, 0, sizeof(o));
    o.name = "rs";
    o.uid = "u";
    wf_run *r = NULL;
    cl_errmsg em;
    assert_int_equal(wf_run_new(s, &o, &r, &em), 0);
    assert_int_equal(wf_run_start(r, 1000), 0);
    wf_action a;
    assert_true(wf_run_next_action(r, &a));
    assert_int_equal(a.kind, WF_ACT_DISPATCH);
    const wf_task *t = a.task;
    assert_int_equal(t->nrequests, 2);
    assert_string_equal(t->requests[0].name, "cpu");
    assert_string_equal(t->requests[0].value, "500m");
    assert_string_equal(t->requests[1].name, "nvidia.com/gpu");
    assert_string_equal(t->requests[1].value, "2");
    assert_int_equal(t->nlimits, 2);
    assert_int_equal(t->nnode_selector, 2);
    assert_string_equal(t->node_selector[0].name, "arch");
    assert_string_equal(t->node_selector[0].value, "rs");
    assert_string_equal(t->node_selector[1].name, "zone");
    assert_int_equal(t->nannotations, 1);
    assert_string_equal(t->image, "busybox");
    assert_string_equal(t->template_name, "main");
    assert_string_equal(t->node_id, "rs");
    assert_false(wf_run_next_action(r, &a));
    wf_run_free(r);
    wf_spec_free(s);
}

/* Images without a command run their entrypoint (argosay, python...). */
static void test_image_entrypoints(void **state)
{
    (void)state;
    wf_spec *s = spec_of("  entrypoint: main\n"
                         "  templates:\n"
                         "  - name: main\n"
                         "    steps:\n"
                         "    - - {name: a, template: say}\n"
                         "      - {name: b, template: alp}\n"
                         "      - {name: c, template: py}\n"
                         "      - {name: d, template: tmpl-img}\n"
                         "  - name: say\n"
                         "    container: {image: argoproj/argosay:v2, args: "
                         "[echo, hi]}\n"
                         "  - name: alp\n"
                         "    container: {image: 'docker.io/library/alpine:3', "
                         "args: [uname, -a]}\n"
                         "  - name: py\n"
                         "    script: {image: 'python:3.12', source: 'print(1)'}\n"
                         "  - name: tmpl-img\n"
                         "    inputs: {parameters: [{name: i, default: "
                         "'argoproj/argosay:v2'}]}\n"
                         "    container: {image: '{{inputs.parameters.i}}'}\n");
    fake f;
    assert_int_equal(fake_init(&f, s, "im", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 60000));
    assert_int_equal(f.final_phase, WF_SUCCEEDED);
    const fake_task *t = fake_find(&f, "im[0].a");
    assert_int_equal(t->argc, 3);
    assert_string_equal(t->argv[0], "argosay");
    assert_string_equal(t->argv[2], "hi");
    t = fake_find(&f, "im[0].b");
    assert_int_equal(t->argc, 2);
    assert_string_equal(t->argv[0], "uname");
    t = fake_find(&f, "im[0].c");
    assert_int_equal(t->argc, 1);
    assert_string_equal(t->argv[0], "python");
    assert_string_equal(t->source, "print(1)");
    t = fake_find(&f, "im[0].d");
    assert_int_equal(t->argc, 1);
    assert_string_equal(t->argv[0], "argosay");
    fake_free(&f);
    wf_spec_free(s);
}

static void test_ttl(void **state)
{
    (void)state;
    wf_spec *s = spec_of("  entrypoint: main\n"
                         "  ttlStrategy: {secondsAfterCompletion: 10, "
                         "secondsAfterSuccess: 5}\n"
                         "  templates:\n"
                         "  - name: main\n"
                         "    container: {image: busybox, command: [echo]}\n");
    assert_int_equal(wf_spec_ttl_seconds(s, WF_SUCCEEDED), 5);
    assert_int_equal(wf_spec_ttl_seconds(s, WF_FAILED), 10);
    wf_spec_free(s);
    s = spec_of("  entrypoint: main\n"
                "  templates:\n"
                "  - name: main\n"
                "    container: {image: busybox, command: [echo]}\n");
    assert_int_equal(wf_spec_ttl_seconds(s, WF_SUCCEEDED), -1);
    wf_spec_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workflow_globals),
        cmocka_unit_test(test_inputs_and_items),
        cmocka_unit_test(test_expression_tags),
        cmocka_unit_test(test_skipped_outputs),
        cmocka_unit_test(test_unresolved_fails),
        cmocka_unit_test(test_resources_and_selector),
        cmocka_unit_test(test_image_entrypoints),
        cmocka_unit_test(test_ttl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
