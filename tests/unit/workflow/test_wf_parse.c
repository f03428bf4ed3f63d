/* test_wf_parse.c - the YAML front end: errors with positions, refusals,
 * warnings, and the acceptance corpus. */
#include "workflow/wf.h"

#include "common/cl_heap.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int parse(const char *yaml, wf_diag *d, wf_spec **s)
{
    wf_diag_init(d);
    *s = NULL;
    return wf_parse(yaml, strlen(yaml), "w.yaml", s, d);
}

/* expect a refusal whose message contains `needle` */
static void refused(const char *yaml, const char *needle)
{
    wf_diag d;
    wf_spec *s;
    int rv = parse(yaml, &d, &s);
    if (rv == 0 || strstr(d.err.msg, needle) == NULL)
        fprintf(stderr, "expected refusal with '%s', got rv=%d msg='%s'\n",
                needle, rv, d.err.msg);
    assert_int_not_equal(rv, 0);
    assert_null(s);
    assert_non_null(strstr(d.err.msg, needle));
    wf_diag_free(&d);
}

#define HDR                                                                    \
    "apiVersion: argoproj.io/v1alpha1\n"                                       \
    "kind: Workflow\n"                                                         \
    "metadata:\n"                                                              \
    "  generateName: t-\n"                                                     \
    "spec:\n"                                                                  \
    "  entrypoint: main\n"                                                     \
    "  templates:\n"

static void test_minimal(void **state)
{
    (void)state;
    wf_diag d;
    wf_spec *s;
    int rv = parse(HDR "  - name: main\n"
                       "    container:\n"
                       "      image: busybox\n"
                       "      command: [echo, hi]\n",
                   &d, &s);
    assert_int_equal(rv, 0);
    assert_string_equal(wf_spec_entrypoint(s), "main");
    assert_string_equal(wf_spec_generate_name(s), "t-");
    assert_null(wf_spec_name(s));
    assert_int_equal(d.nwarnings, 0);
    wf_spec_free(s);
    wf_diag_free(&d);
}

static void test_yaml_syntax_position(void **state)
{
    (void)state;
    wf_diag d;
    wf_spec *s;
    /* an unterminated flow sequence on line 9 */
    int rv = parse(HDR "  - name: main\n"
                       "    container:\n"
                       "      command: [echo, hi\n",
                   &d, &s);
    assert_int_equal(rv, CL_EPARSE);
    assert_non_null(strstr(d.err.msg, "w.yaml:"));
    /* file:line:col: */
    int line = 0, col = 0;
    assert_int_equal(sscanf(d.err.msg, "w.yaml:%d:%d:", &line, &col), 2);
    assert_true(line >= 9);
    wf_diag_free(&d);
}

static void test_unknown_field_position(void **state)
{
    (void)state;
    wf_diag d;
    wf_spec *s;
    int rv = parse(HDR "  - name: main\n"
                       "    container:\n"
                       "      image: busybox\n"
                       "      command: [echo]\n"
                       "      bogus: 1\n",
                   &d, &s);
    assert_int_equal(rv, CL_EINVAL);
    assert_string_equal(d.err.msg,
                        "w.yaml:12:7: unknown field 'bogus' in container");
    wf_diag_free(&d);
}

static void test_unknown_template_ref(void **state)
{
    (void)state;
    refused(HDR "  - name: main\n"
                "    steps:\n"
                "    - - name: a\n"
                "        template: nope\n",
            "template 'nope' not found");
    refused(HDR "  - name: main\n"
                "    dag:\n"
                "      tasks:\n"
                "      - name: a\n"
                "        template: missing-one\n",
            "task 'a': template 'missing-one' not found");
    refused("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n"
            "metadata: {name: x}\nspec:\n  entrypoint: nothere\n"
            "  templates:\n  - name: main\n    container: {image: busybox, "
            "command: [true]}\n",
            "entrypoint template 'nothere' not found");
}

static void test_cycle(void **state)
{
    (void)state;
    wf_diag d;
    wf_spec *s;
    int rv = parse(HDR "  - name: main\n"
                       "    dag:\n"
                       "      tasks:\n"
                       "      - {name: A, template: e}\n"
                       "      - {name: B, template: e, depends: A && C}\n"
                       "      - {name: C, template: e, dependencies: [B]}\n"
                       "  - name: e\n"
                       "    container: {image: busybox, command: [true]}\n",
                   &d, &s);
    assert_int_equal(rv, CL_EINVAL);
    assert_non_null(strstr(d.err.msg, "dependency cycle in template 'main'"));
    assert_true(strstr(d.err.msg, "B -> C -> B") ||
                strstr(d.err.msg, "C -> B -> C"));
    wf_diag_free(&d);
    refused(HDR "  - name: main\n"
                "    dag:\n"
                "      tasks:\n"
                "      - {name: A, template: e, depends: A}\n"
                "  - name: e\n"
                "    container: {image: busybox, command: [true]}\n",
            "A -> A");
}

static void test_refusals(void **state)
{
    (void)state;
    refused(HDR "  - name: main\n    resource: {action: create}\n",
            "'resource' templates are not supported");
    refused(HDR "  - name: main\n    suspend: {}\n",
            "'suspend' templates are not supported");
    refused(HDR "  - name: main\n    container:\n      image: busybox\n"
                "      command: [true]\n      volumeMounts: []\n",
            "container.volumeMounts is not supported");
    refused(HDR "  - name: main\n    container: {image: busybox, command: "
                "[true]}\n    outputs:\n      artifacts:\n      - name: a\n"
                "        path: /x\n        s3: {key: k}\n",
            "the 's3' location is not supported");
    refused(HDR "  - name: main\n    container: {image: nothing-known}\n",
            "container has no command and image 'nothing-known' has no known "
            "entrypoint");
    refused("apiVersion: argoproj.io/v1alpha1\nkind: CronWorkflow\n"
            "metadata: {name: x}\nspec: {}\n",
            "kind: expected Workflow");
    refused(HDR "  - name: main\n    container: {image: busybox, command: "
                "[echo, '{{inputs.parameters.nope}}']}\n",
            "failed to resolve {{inputs.parameters.nope}}");
    refused(HDR "  - name: main\n    steps:\n    - - name: a\n"
                "        template: e\n"
                "        arguments: {parameters: [{name: x, value: "
                "'{{steps.zz.outputs.result}}'}]}\n"
                "  - name: e\n    container: {image: busybox, command: [true]}\n",
            "failed to resolve {{steps.zz.outputs.result}}");
    refused(HDR "  - name: main\n    dag:\n      tasks:\n"
                "      - {name: a, template: e, depends: 'b.Bogus'}\n"
                "      - {name: b, template: e}\n"
                "  - name: e\n    container: {image: busybox, command: [true]}\n",
            "expected Succeeded, Failed");
    refused(HDR "  - name: main\n    steps:\n    - - {name: a, template: e}\n"
                "    - - {name: a, template: e}\n"
                "  - name: e\n    container: {image: busybox, command: [true]}\n",
            "step name 'a' is not unique");
    refused(HDR "  - name: main\n    synchronization:\n      semaphore: {}\n"
                "    container: {image: busybox, command: [true]}\n",
            "semaphore needs a ConfigMap");
}

static void test_warnings(void **state)
{
    (void)state;
    wf_diag d;
    wf_spec *s;
    int rv = parse("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n"
                   "metadata: {generateName: w-}\n"
                   "spec:\n"
                   "  entrypoint: main\n"
                   "  podGC: {strategy: OnPodSuccess}\n"
                   "  imagePullSecrets: [{name: x}]\n"
                   "  templates:\n"
                   "  - name: main\n"
                   "    podSpecPatch: '{}'\n"
                   "    nodeSelector: {arch: amd64}\n"
                   "    container: {image: busybox, command: [true]}\n",
                   &d, &s);
    assert_int_equal(rv, 0);
    assert_int_equal(d.nwarnings, 3);
    assert_string_equal(d.warnings[0], "w.yaml:6:3: podGC is ignored");
    assert_string_equal(d.warnings[1], "w.yaml:7:3: imagePullSecrets is ignored");
    assert_string_equal(d.warnings[2],
                        "w.yaml:10:5: podSpecPatch is ignored");
    wf_spec_free(s);
    wf_diag_free(&d);
}

static void test_params(void **state)
{
    (void)state;
    wf_diag d;
    wf_spec *s;
    int rv = parse("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n"
                   "metadata: {name: fixed}\n"
                   "spec:\n"
                   "  entrypoint: main\n"
                   "  arguments:\n"
                   "    parameters:\n"
                   "    - {name: a, value: '1'}\n"
                   "    - {name: b, value: x}\n"
                   "  templates:\n"
                   "  - name: main\n"
                   "    container: {image: busybox, command: [true]}\n",
                   &d, &s);
    assert_int_equal(rv, 0);
    assert_string_equal(wf_spec_name(s), "fixed");
    assert_int_equal(wf_spec_nparams(s), 2);
    assert_string_equal(wf_spec_param_name(s, 0), "a");
    assert_string_equal(wf_spec_param_name(s, 1), "b");
    assert_null(wf_spec_param_name(s, 2));
    wf_spec_free(s);
    wf_diag_free(&d);
}

/* Every example of the corpus parses (ARGO.md refuses none of them). */
static int corpus_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    cl_buf b = CL_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        cl_buf_append(&b, chunk, n);
    fclose(f);
    wf_diag d;
    wf_diag_init(&d);
    wf_spec *s = NULL;
    int rv = wf_parse(b.data, b.len, path, &s, &d);
    if (rv != 0)
        fprintf(stderr, "corpus: %s\n", d.err.msg);
    wf_spec_free(s);
    wf_diag_free(&d);
    cl_buf_free(&b);
    return rv;
}

static void test_corpus_parses(void **state)
{
    (void)state;
    const char *data = getenv("COULER_TESTDATA");
    assert_non_null(data);
    char path[1024];
    snprintf(path, sizeof(path), "%s/argo-examples/expected.tsv", data);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[2048];
    int files = 0, bad = 0;
    while (fgets(line, sizeof(line), f)) {
        char *tab = strchr(line, '\t');
        if (tab == NULL || !strncmp(line, "file\t", 5))
            continue;
        *tab = '\0';
        char p[1200];
        snprintf(p, sizeof(p), "%s/argo-examples/%s", data, line);
        files++;
        if (corpus_file(p) != 0)
            bad++;
    }
    fclose(f);
    assert_int_equal(files, 72);
    assert_int_equal(bad, 0);
}

static void test_lint_dir(void **state)
{
    (void)state;
    const char *data = getenv("COULER_TESTDATA");
    char path[1024];
    snprintf(path, sizeof(path), "%s/argo-examples", data);
    wf_diag d;
    wf_diag_init(&d);
    assert_int_equal(wf_lint_path(path, &d), 0);
    assert_true(d.nwarnings > 0);
    wf_diag_free(&d);
    wf_diag_init(&d);
    assert_int_not_equal(wf_lint_path("/nonexistent/x.yaml", &d), 0);
    assert_non_null(strstr(d.err.msg, "/nonexistent/x.yaml"));
    wf_diag_free(&d);
}

/* Every allocation failure is a clean CL_ENOMEM (checked under ASan for
 * leaks). */
static void test_parse_oom(void **state)
{
    (void)state;
    const char *y = HDR "  - name: main\n"
                        "    dag:\n"
                        "      tasks:\n"
                        "      - {name: A, template: e}\n"
                        "      - {name: B, template: e, depends: A}\n"
                        "  - name: e\n"
                        "    inputs: {parameters: [{name: x, default: '1'}]}\n"
                        "    container: {image: busybox, command: [echo, "
                        "'{{inputs.parameters.x}}']}\n";
    int ok = 0;
    for (int i = 0; i < 400; i++) {
        cl_heap_fault_enable(i, 1);
        wf_diag d;
        wf_diag_init(&d);
        wf_spec *s = NULL;
        int rv = wf_parse(y, strlen(y), "w.yaml", &s, &d);
        cl_heap_fault_disable();
        assert_true(rv == 0 || rv == CL_ENOMEM);
        if (rv == 0)
            ok++;
        wf_spec_free(s);
        wf_diag_free(&d);
    }
    assert_true(ok > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal),
        cmocka_unit_test(test_yaml_syntax_position),
        cmocka_unit_test(test_unknown_field_position),
        cmocka_unit_test(test_unknown_template_ref),
        cmocka_unit_test(test_cycle),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_warnings),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_corpus_parses),
        cmocka_unit_test(test_lint_dir),
        cmocka_unit_test(test_parse_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
