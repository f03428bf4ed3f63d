/* fuzz_wf_parse.c - libFuzzer target for the YAML front end. Whatever the
 * input, wf_parse returns 0 with a spec or an error with a message, and
 * never crashes or leaks. An input that parses is also started and run one
 * round (every dispatched step succeeds at once), so the engine sees the
 * IR the front end accepted. */
#include "workflow/wf.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    wf_diag d;
    wf_diag_init(&d);
    wf_spec *s = NULL;
    int rv = wf_parse((const char *)data, size, "fuzz.yaml", &s, &d);
    if (rv == 0) {
        wf_run_opts o;
        memset(&o, 0, sizeof(o));
        o.name = "fuzz";
        o.uid = "u";
        o.created_ms = 1000;
        wf_run *r = NULL;
        cl_errmsg em;
        if (wf_run_new(s, &o, &r, &em) == 0) {
            int64_t now = 1000;
            wf_run_start(r, now);
            for (int round = 0; round < 64; round++) {
                uint32_t todo[64];
                size_t n = 0;
                wf_action a;
                bool done = false;
                while (wf_run_next_action(r, &a)) {
                    if (a.kind == WF_ACT_DISPATCH && n < 64)
                        todo[n++] = a.node;
                    else if (a.kind == WF_ACT_MEMO_LOOKUP)
                        wf_run_memo_result(r, a.node, NULL, now);
                    else if (a.kind == WF_ACT_ACQUIRE)
                        wf_run_acquired(r, a.node, a.mutex, now);
                    else if (a.kind == WF_ACT_DONE)
                        done = true;
                }
                if (done)
                    break;
                now += 1000;
                wf_step_result res;
                memset(&res, 0, sizeof(res));
                res.phase = (round % 3) ? WF_SUCCEEDED : WF_FAILED;
                res.exit_code = (round % 3) ? 0 : 1;
                res.result = "[1,2]";
                for (size_t i = 0; i < n; i++) {
                    wf_run_step_started(r, todo[i], "h", now);
                    wf_run_step_exited(r, todo[i], &res, now);
                }
                if (n == 0)
                    wf_run_tick(r, wf_run_next_timer(r) == INT64_MAX
                                       ? now
                                       : wf_run_next_timer(r));
            }
            json_t *j = wf_run_status_json(r, now);
            json_decref(j);
            wf_run_free(r);
        }
        wf_spec_free(s);
    }
    wf_diag_free(&d);
    return 0;
}
