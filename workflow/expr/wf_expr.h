/* wf_expr.h - expressions of the workflow language (prefix wf_expr_).
 *
 * Three evaluators over JSON values (jansson), all pure and bounded (no I/O;
 * recursion depth, string sizes and loop work are capped so hostile input
 * returns an error instead of exhausting the stack or memory):
 *
 * - wf_expr_eval: the expr-lang (https://expr-lang.org) subset used by Argo
 *   `{{=...}}` tags, valueFrom.expression, fromExpression,
 *   retryStrategy.expression and hook expressions (ARGO.md B9): literals,
 *   member and index access (a.b, a['b-c'], a[0], a[1:3]), arithmetic,
 *   comparison, logic (&& || ! and/or/not), ?:, ??, in, matches, contains,
 *   startsWith, endsWith, closures with # (filter, map, all, any, none, one,
 *   count), len, string, int, float, upper, lower, trim, split, join, keys,
 *   values, abs, max, min, and the Argo additions asInt,
 *   asFloat, toJson, jsonpath(json, path), and sprig.<fn> for the sprig
 *   functions workflows use (add, sub, mul, div, mod, max, min, trim, upper,
 *   lower, replace, b64enc, b64dec, toString, int, float64, default, ...).
 * - wf_expr_gov: govaluate, used by `when` (ARGO.md B8): bare words are
 *   string literals, numbers numeric, true/false booleans; operators
 *   == != < <= > >= && || ! =~ !~ + - * / % ?: ?? ( ) IN.
 * - wf_expr_jsonpath: JSONPath as Argo's jsonpath() accepts it
 *   ($.a.b, [n], [*], [a:b], ..name, [?(@.x > 1)]).
 *
 * The environment `env` is a JSON object of nested maps built by the engine
 * (inputs.parameters, steps/tasks.<name>.outputs..., workflow.*, item,
 * lastRetry.*). A reference to a variable that is not in env fails with
 * CL_ENOENT, so the engine can leave the tag for a later pass. That holds
 * for a missing key at any depth (steps.tails.outputs.result when tails has
 * no entry); `a?.b` and `x ?? fallback` turn the absence into nil or the
 * fallback, and a key present with a JSON null reads as nil. env is
 * borrowed and never modified; it may be NULL (no variables).
 *
 * Results are new references owned by the caller (json_decref). Failures
 * return CL_EEXPR (syntax, type or limit error), CL_ENOENT (absent
 * variable), CL_ENOMEM (allocation failure) or CL_EINVAL (NULL source),
 * with the reason and, where it applies, "col N: " in *err (err may be
 * NULL); *out is NULL after a failure. No function keeps state between
 * calls, so all may run concurrently on different threads (env shared
 * read-only). workflow/expr/README.md lists what is supported and where
 * the semantics differ from expr-lang, govaluate and Sprig.
 */
#ifndef COULER_WF_EXPR_H
#define COULER_WF_EXPR_H

#include "common/cl_err.h"

#include <jansson.h>
#include <stdbool.h>

int wf_expr_eval(const char *src, json_t *env, json_t **out, cl_errmsg *err);

/* wf_expr_eval_bool - evaluate and require a boolean result (CL_EEXPR
 * otherwise). */
int wf_expr_eval_bool(const char *src, json_t *env, bool *out, cl_errmsg *err);

/* wf_expr_gov - govaluate over an already-substituted string. Errors read
 * "Invalid 'when' expression '<src>': <reason>", as Argo's. */
int wf_expr_gov(const char *src, json_t **out, cl_errmsg *err);
int wf_expr_gov_bool(const char *src, bool *out, cl_errmsg *err);

/* wf_expr_jsonpath - query doc (borrowed) with path. The result is a
 * single value while every step selects one element ($.a[0].b) and a list
 * once a wildcard, range, union, filter or recursive descent may select
 * several ($.a[*].b, $.a[0:1], $.a[?(@.x > 1)].y), as Argo's jsonpath().
 * A missing key or index on a single-value path is CL_EEXPR. */
int wf_expr_jsonpath(json_t *doc, const char *path, json_t **out,
                     cl_errmsg *err);

/* wf_expr_render - how an expression's value is inserted into text: a
 * string raw, anything else as compact JSON with sorted keys ("[43]",
 * "{\"age\":43}"), integers without a fraction, booleans as true/false,
 * null as "null". Returns a cl_malloc'd string (cl_free) or NULL on OOM. */
char *wf_expr_render(const json_t *v);

#endif
