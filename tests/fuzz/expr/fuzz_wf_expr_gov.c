/* libFuzzer target for wf_expr_gov: the input is a substituted `when`
 * text. */
#include "workflow/expr/wf_expr.h"

#include "common/cl_heap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *src = malloc(size + 1);
    if (src == NULL)
        return 0;
    memcpy(src, data, size);
    src[size] = '\0';
    json_t *out = NULL;
    cl_errmsg err;
    if (wf_expr_gov(src, &out, &err) == 0) {
        char *r = wf_expr_render(out);
        cl_free(r);
        json_decref(out);
    }
    bool b;
    (void)wf_expr_gov_bool(src, &b, &err);
    free(src);
    return 0;
}
