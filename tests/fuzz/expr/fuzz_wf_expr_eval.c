/* libFuzzer target for wf_expr_eval: the input is an expression evaluated
 * against a fixed environment shaped like the engine's (parameters, step
 * outputs, items, lastRetry); the result is rendered and released. */
#include "workflow/expr/wf_expr.h"

#include "common/cl_heap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char ENV[] =
    "{\"inputs\": {\"parameters\": {\"should-print\": \"true\", \"foo\": "
    "\"3\", \"json\": \"{\\\"a\\\": [1, 2, {\\\"b\\\": \\\"c\\\"}]}\"}},"
    " \"workflow\": {\"name\": \"wf\", \"creationTimestamp\": "
    "\"2024-05-01T10:00:00Z\", \"parameters\": {\"config\": "
    "\"{\\\"employees\\\": [{\\\"name\\\": \\\"Baris\\\", \\\"age\\\": 43}, "
    "{\\\"name\\\": \\\"Mo\\\", \\\"age\\\": 42}]}\", \"json\": "
    "\"[{\\\"name\\\":\\\"x\\\",\\\"value\\\":\\\"true\\\"}]\"}},"
    " \"steps\": {\"flip-coin\": {\"outputs\": {\"result\": \"heads\"}},"
    "            \"heads\": {\"outputs\": {\"result\": \"it was heads\"}},"
    "            \"skipped\": {\"outputs\": {\"result\": null}}},"
    " \"item\": {\"n\": 1, \"list\": [1, 2.5, \"x\", true, null]},"
    " \"lastRetry\": {\"exitCode\": \"2\", \"status\": \"Failed\","
    "               \"duration\": \"5\", \"message\": \"pod deleted\"}}";

static json_t *env;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (env == NULL)
        env = json_loads(ENV, 0, NULL);
    char *src = malloc(size + 1);
    if (src == NULL)
        return 0;
    memcpy(src, data, size);
    src[size] = '\0';
    json_t *out = NULL;
    cl_errmsg err;
    if (wf_expr_eval(src, env, &out, &err) == 0) {
        char *r = wf_expr_render(out);
        cl_free(r);
        json_decref(out);
    }
    free(src);
    return 0;
}
