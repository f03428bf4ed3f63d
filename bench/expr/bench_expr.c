/* bench_expr - evaluations per second of typical workflow expressions:
 * `when` conditions (govaluate), expression tags and retry expressions
 * (expr-lang), jsonpath() and rendering. Each case runs parse + evaluate +
 * release from scratch, as the engine does per step.
 *
 *   bench_expr [--seconds S] [--quick]
 */
#include "workflow/expr/wf_expr.h"

#include "common/cl_heap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char ENV[] =
    "{\"inputs\": {\"parameters\": {\"should-print\": \"true\", \"foo\": "
    "\"3\", \"week-temps\": \"{\\\"avg\\\":35.8,\\\"max\\\":57,"
    "\\\"min\\\":15}\"}},"
    " \"workflow\": {\"parameters\": {\"config\": \"{\\\"employees\\\": "
    "[{\\\"name\\\": \\\"Baris\\\", \\\"age\\\":43},{\\\"name\\\": \\\"Mo\\\","
    " \\\"age\\\": 42}, {\\\"name\\\": \\\"Jai\\\", \\\"age\\\" :44}]}\","
    " \"weather\": \"{\\\"weekWeather\\\": "
    "\\\"eyJ0ZW1wcyI6IFszNCwgMjcsIDE1LCA1NywgNDZdfQo=\\\"}\"}},"
    " \"steps\": {\"flip-coin\": {\"outputs\": {\"result\": \"heads\"}},"
    "            \"heads\": {\"outputs\": {\"result\": \"it was heads\"}}},"
    " \"lastRetry\": {\"exitCode\": \"2\", \"status\": \"Failed\","
    "               \"duration\": \"5\", \"message\": \"pod deleted\"}}";

enum kind { GOV, EXPR };

static const struct {
    const char *name;
    enum kind kind;
    const char *src;
} cases[] = {
    {"when heads == heads", GOV, "heads == heads"},
    {"when 3 < 10 && x != y", GOV, "3 < 10 && x != y"},
    {"tag inputs.parameters['should-print']", EXPR,
     "inputs.parameters['should-print'] == 'true'"},
    {"fromExpression ternary", EXPR,
     "steps['flip-coin'].outputs.result == 'heads' ? "
     "steps.heads.outputs.result : steps.tails.outputs.result"},
    {"retryStrategy.expression", EXPR,
     "asInt(lastRetry.exitCode) > 1 && lastRetry.status != \"Error\" && "
     "asInt(lastRetry.duration) < 120 && (false || lastRetry.message "
     "matches 'imminent node shutdown|pod deleted')"},
    {"withParam toJson(filter(...))", EXPR,
     "toJson(filter([1, 3], {# > 1}))"},
    {"jsonpath filter", EXPR,
     "jsonpath(workflow.parameters.config, "
     "'$.employees[?(@.age>42 && @.age<44)].age')"},
    {"verbose snippet (map, b64dec, sprig)", EXPR,
     "map([jsonpath(sprig.b64dec(jsonpath(workflow.parameters.weather, "
     "'$.weekWeather')), '$.temps')], {toJson({avg: sprig.add(#[0], #[1], "
     "#[2], #[3], #[4]) / 5, min: sprig.min(#[0], #[1], #[2], #[3], #[4]), "
     "max: sprig.max(#[0], #[1], #[2], #[3], #[4])})})[0]"},
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double seconds = 0.5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            seconds = 0.02;
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--seconds S] [--quick]\n", argv[0]);
            return 2;
        }
    }
    json_t *env = json_loads(ENV, 0, NULL);
    if (env == NULL)
        return 1;
    printf("%-40s %12s %10s  %s\n", "case", "evals/s", "us/eval", "result");
    int status = 0;
    for (size_t c = 0; c < sizeof(cases) / sizeof(*cases); c++) {
        long n = 0;
        char *shown = NULL;
        double t0 = now_s(), t;
        do {
            for (int k = 0; k < 64; k++) {
                json_t *out;
                cl_errmsg err;
                int rv = cases[c].kind == GOV
                             ? wf_expr_gov(cases[c].src, &out, &err)
                             : wf_expr_eval(cases[c].src, env, &out, &err);
                if (rv != 0) {
                    fprintf(stderr, "%s: %s\n", cases[c].name, err.msg);
                    json_decref(env);
                    return 1;
                }
                char *r = wf_expr_render(out);
                if (shown == NULL)
                    shown = r;
                else
                    cl_free(r);
                json_decref(out);
                n++;
            }
            t = now_s() - t0;
        } while (t < seconds);
        printf("%-40s %12.0f %10.2f  %s\n", cases[c].name, (double)n / t,
               t / (double)n * 1e6, shown ? shown : "");
        cl_free(shown);
    }
    json_decref(env);
    return status;
}
