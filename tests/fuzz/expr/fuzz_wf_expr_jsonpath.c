/* libFuzzer target for wf_expr_jsonpath: the first line of the input is
 * the path, the rest a JSON document (a fixed one when it does not
 * decode). */
#include "workflow/expr/wf_expr.h"
#include "workflow/expr/wf_expr_int.h"

#include "common/cl_heap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char DOC[] =
    "{\"store\": {\"book\": [{\"title\": \"a\", \"price\": 8.95, \"tags\": "
    "[\"x\", \"y\"]}, {\"title\": \"b\", \"price\": 12, \"isbn\": \"1\"}],"
    " \"bicycle\": {\"color\": \"red\", \"price\": 19.95}},"
    " \"employees\": [{\"name\": \"Baris\", \"age\": 43}, {\"name\": \"Mo\","
    " \"age\": 42}], \"s\": \"hello\", \"n\": null}";

static json_t *fixed;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fixed == NULL)
        fixed = json_loads(DOC, 0, NULL);
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    char *path = malloc(plen + 1);
    if (path == NULL)
        return 0;
    memcpy(path, data, plen);
    path[plen] = '\0';
    json_t *doc = NULL;
    cl_errmsg err;
    if (nl == NULL || wf_expr__parse_json((const char *)nl + 1,
                                          size - plen - 1, &doc, &err) != 0)
        doc = json_incref(fixed);
    json_t *out = NULL;
    if (wf_expr_jsonpath(doc, path, &out, &err) == 0) {
        char *r = wf_expr_render(out);
        cl_free(r);
        json_decref(out);
    }
    json_decref(doc);
    free(path);
    return 0;
}
