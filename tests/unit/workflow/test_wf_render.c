/* test_wf_render.c - the `argo get` text of a status (wf_render_tree). */
#include "wf_fake.h"

#include "common/cl_heap.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char *yaml =
    "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n"
    "metadata: {generateName: t-}\nspec:\n"
    "  entrypoint: main\n"
    "  arguments: {parameters: [{name: who, value: world}]}\n"
    "  onExit: bye\n"
    "  templates:\n"
    "  - name: main\n"
    "    steps:\n"
    "    - - {name: hello1, template: e}\n"
    "    - - {name: hello2a, template: e}\n"
    "      - {name: fail, template: f}\n"
    "    - - {name: dag, template: d}\n"
    "  - name: d\n"
    "    dag:\n"
    "      tasks:\n"
    "      - {name: A, template: e}\n"
    "  - name: e\n"
    "    container: {image: busybox, command: [echo, hi]}\n"
    "  - name: f\n"
    "    retryStrategy: {limit: 1}\n"
    "    container: {image: busybox, command: [sh, -c, 'exit 1']}\n"
    "  - name: bye\n"
    "    container: {image: busybox, command: [echo, bye]}\n";

static char *render(unsigned flags)
{
    wf_spec *s = fake_parse(yaml);
    fake f;
    assert_int_equal(fake_init(&f, s, "rt", NULL, NULL, NULL), 0);
    assert_true(fake_run(&f, 600000));
    json_t *st = wf_run_status_json(f.run, f.now);
    cl_buf b = CL_BUF_INIT;
    wf_render_tree(st, f.now + 5000, &b, flags);
    assert_true(cl_buf_ok(&b));
    json_decref(st);
    fake_free(&f);
    wf_spec_free(s);
    return cl_buf_steal(&b, NULL);
}

static void test_tree_utf8(void **state)
{
    (void)state;
    char *out = render(0);
    assert_string_equal(
        out,
        "Name:                rt\n"
        "Namespace:           default\n"
        "Status:              Failed\n"
        "Message:             child 'rt-3356024728' failed\n"
        "Created:             Thu Jan 01 00:00:00 +0000 (9 seconds ago)\n"
        "Started:             Thu Jan 01 00:00:00 +0000 (9 seconds ago)\n"
        "Finished:            Thu Jan 01 00:00:04 +0000 (5 seconds ago)\n"
        "Duration:            4 seconds\n"
        "Progress:            3/5\n"
        "Parameters:\n"
        "  who:               world\n"
        "\n"
        "STEP              TEMPLATE  PODNAME        DURATION  MESSAGE\n"
        " ✖ rt             main                               child "
        "'rt-3356024728' failed\n"
        " ├───✔ hello1     e         rt-409759888   1s\n"
        " └─┬─✖ fail       f                                  No more retries "
        "left\n"
        "   │ ├─✖ fail(0)  f         rt-2957581035  1s        Error (exit code "
        "1)\n"
        "   │ └─✖ fail(1)  f         rt-3561722414  1s        Error (exit code "
        "1)\n"
        "   └─✔ hello2a    e         rt-3119388425  1s\n"
        "\n"
        " ✔ rt.onExit      bye       rt-2031197050  1s\n");
    cl_free(out);
}

static void test_tree_ascii_wide(void **state)
{
    (void)state;
    char *out = render(WF_RENDER_NO_UTF8 | WF_RENDER_WIDE |
                       WF_RENDER_NO_HEADER);
    assert_string_equal(
        out,
        "STEP                    TEMPLATE  PODNAME        DURATION  MESSAGE      "
        "                 NODENAME\n"
        " Failed rt              main                               child "
        "'rt-3356024728' failed\n"
        " |---Succeeded hello1   e         rt-409759888   1s                     "
        "                 host-1\n"
        " `-+-Failed fail        f                                  No more "
        "retries left          host-1\n"
        "   | |-Failed fail(0)   f         rt-2957581035  1s        Error (exit "
        "code 1)           host-1\n"
        "   | `-Failed fail(1)   f         rt-3561722414  1s        Error (exit "
        "code 1)           host-1\n"
        "   `-Succeeded hello2a  e         rt-3119388425  1s                     "
        "                 host-1\n"
        "\n"
        " Succeeded rt.onExit    bye       rt-2031197050  1s                     "
        "                 host-1\n");
    cl_free(out);
}

/* A running DAG: the running pod's duration counts up to `now`. */
static void test_running_dag(void **state)
{
    (void)state;
    wf_spec *s = fake_parse(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n"
        "metadata: {name: run1}\nspec:\n"
        "  entrypoint: d\n"
        "  templates:\n"
        "  - name: d\n"
        "    dag:\n"
        "      tasks:\n"
        "      - {name: A, template: e}\n"
        "      - {name: B, depends: A, template: e}\n"
        "  - name: e\n"
        "    container: {image: busybox, command: [sleep, '100']}\n");
    fake f;
    assert_int_equal(fake_init(&f, s, "run1", NULL, NULL, NULL), 0);
    assert_false(fake_run(&f, 5000));
    json_t *st = wf_run_status_json(f.run, f.now);
    cl_buf b = CL_BUF_INIT;
    wf_render_tree(st, f.now + 65000, &b, WF_RENDER_NO_HEADER);
    assert_string_equal(b.data,
                        "STEP     TEMPLATE  PODNAME          DURATION  MESSAGE\n"
                        " ● run1  d\n"
                        " └─● A   e         run1-1790274644  1m\n");
    cl_buf_free(&b);
    json_decref(st);
    fake_free(&f);
    wf_spec_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_utf8),
        cmocka_unit_test(test_tree_ascii_wide),
        cmocka_unit_test(test_running_dag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
