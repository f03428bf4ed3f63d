/* wf_expr_int.h - private pieces shared by the expression evaluators
 * (internal prefix wf_expr__). Nothing here is part of the contract in
 * wf_expr.h; callers outside workflow/expr/ must not include this file.
 *
 * Values are jansson references throughout. A function that returns a value
 * through `json_t **out` hands over one new reference (json_decref it); a
 * `const json_t *` argument is borrowed and never modified, because values
 * reachable from the caller's env are shared and must stay untouched.
 */
#ifndef COULER_WF_EXPR_INT_H
#define COULER_WF_EXPR_INT_H

#include "common/cl_buf.h"
#include "common/cl_err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds. Hostile input hits one of these and gets CL_EEXPR, never a crash,
 * a hang or an unbounded allocation. */
#define WF_EXPR__MAX_SRC (1u << 20)       /* bytes of expression source */
#define WF_EXPR__MAX_DEPTH 200            /* syntactic nesting */
#define WF_EXPR__MAX_JSON_DEPTH 1000      /* nesting walked in a value */
#define WF_EXPR__MAX_BUILD_DEPTH 512      /* nesting decoded or reduced */
#define WF_EXPR__MAX_STR (16u << 20)      /* bytes in one string value */
#define WF_EXPR__MAX_ARRAY 1000000u       /* elements in one array */
#define WF_EXPR__MAX_MAP 100000u          /* entries in one map */
#define WF_EXPR__MAX_ITER 1000000u        /* closure calls per evaluation */
#define WF_EXPR__MAX_STEPS 20000000u      /* evaluation steps per evaluation */
#define WF_EXPR__MAX_REGEX_MATCH 1000000u /* PCRE2 match limit */

/* wf_expr__fail - set "col N: <message>" (or just the message when col <= 0)
 * in err and return code. err may be NULL. */
int wf_expr__fail(cl_errmsg *err, int code, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- values (wf_expr_json.c) ---- */

/* Type names as expr-lang's type() reports them: "nil", "bool", "int",
 * "float", "string", "array", "map". */
const char *wf_expr__type_name(const json_t *v);

bool wf_expr__is_num(const json_t *v);
double wf_expr__num(const json_t *v); /* integer or real as double */

/* wf_expr__str - a new string value of len bytes copied from s (any bytes;
 * not validated as UTF-8). CL_ENOMEM, or CL_EEXPR past WF_EXPR__MAX_STR. */
int wf_expr__str(const char *s, size_t len, json_t **out, cl_errmsg *err);
/* wf_expr__str_buf - the same from a cl_buf; the buffer is left as is. */
int wf_expr__str_buf(const cl_buf *b, json_t **out, cl_errmsg *err);
int wf_expr__int(int64_t i, json_t **out, cl_errmsg *err);
int wf_expr__real(double d, json_t **out, cl_errmsg *err);
int wf_expr__bool(bool b, json_t **out);
int wf_expr__array(json_t **out, cl_errmsg *err);
int wf_expr__object(json_t **out, cl_errmsg *err);
/* wf_expr__push - append (stealing v, even on failure) to array a. */
int wf_expr__push(json_t *a, json_t *v, cl_errmsg *err);
/* wf_expr__put - set key (stealing v, even on failure) in object o. */
int wf_expr__put(json_t *o, const char *key, size_t klen, json_t *v,
                 cl_errmsg *err);

/* wf_expr__depth_over - whether v nests deeper than limit levels; *visited
 * counts the containers walked (charge it to a budget). */
bool wf_expr__depth_over(const json_t *v, int limit, size_t *visited);

/* wf_expr__equal - deep equality where 1 == 1.0 (expr-lang semantics). */
bool wf_expr__equal(const json_t *a, const json_t *b);

/* wf_expr__sorted_keys - the keys of object o in byte order. *keys is a
 * cl_malloc'd array of borrowed pointers into o (valid while o lives and is
 * not modified); cl_free it. Key lengths go to *lens when lens is not NULL
 * (also cl_malloc'd). */
int wf_expr__sorted_keys(const json_t *o, const char ***keys, size_t **lens,
                         size_t *n, cl_errmsg *err);

/* Serialisation. JSON modes follow Go's encoding/json: object keys sorted,
 * floats in the shortest form that reads back ('f' notation below 1e21,
 * 'e' notation outside [1e-6, 1e21)), invalid UTF-8 replaced by U+FFFD. */
enum {
    WF_EXPR__JSON_COMPACT = 0,
    WF_EXPR__JSON_INDENT = 1, /* two spaces per level, as MarshalIndent */
    WF_EXPR__JSON_HTML = 2,   /* escape < > & as \u003c... as json.Marshal */
    WF_EXPR__JSON_CLIP = 4,   /* write null below the depth limit */
};
int wf_expr__json_write(cl_buf *b, const json_t *v, int flags, cl_errmsg *err);
/* wf_expr__gofmt - Go's fmt "%v" of a decoded JSON value: strings raw,
 * floats via strconv 'g' shortest ("1e+06"), arrays "[a b]", maps
 * "map[k:v]" with sorted keys, null "<nil>". */
int wf_expr__gofmt(cl_buf *b, const json_t *v, cl_errmsg *err);
/* wf_expr__fmt_float - shortest round-trip text of d; mode 'j' (JSON), 'g'
 * (Go %v) or 'f' (plain decimal, never an exponent). buf holds >= 40 bytes.
 * NaN and infinities print as Go does ("NaN", "+Inf", "-Inf"). */
void wf_expr__fmt_float(double d, char mode, char *buf);

/* wf_expr__parse_json - decode a JSON text (any value at top level).
 * CL_EEXPR with jansson's reason on bad input. */
int wf_expr__parse_json(const char *s, size_t len, json_t **out,
                        cl_errmsg *err);

/* wf_expr__jsonpath - wf_expr_jsonpath visiting at most max_work
 * elements (CL_EEXPR beyond); the count visited goes to *used. */
int wf_expr__jsonpath(json_t *doc, const char *path, size_t max_work,
                      size_t *used, json_t **out, cl_errmsg *err);

/* ---- regular expressions (wf_expr_regex.c), PCRE2 with UTF and a match
 * limit. Patterns are RE2 syntax as Go accepts it; PCRE2 reads the common
 * subset identically. ---- */
typedef struct wf_expr__re wf_expr__re;
int wf_expr__re_compile(const char *pat, size_t plen, wf_expr__re **out,
                        cl_errmsg *err);
void wf_expr__re_free(wf_expr__re *re);
/* wf_expr__re_exec - find the first match at or after byte offset start.
 * *found says whether one was found; ovec receives 2*nov offsets (group 0
 * first; unset groups are SIZE_MAX). */
int wf_expr__re_exec(wf_expr__re *re, const char *s, size_t len, size_t start,
                     bool *found, size_t *ovec, size_t nov, cl_errmsg *err);
/* wf_expr__re_match - one-shot: does pat match anywhere in s. */
int wf_expr__re_match(const char *pat, size_t plen, const char *s, size_t len,
                      bool *out, cl_errmsg *err);

/* ---- the expr-lang evaluator (wf_expr_parse.c, wf_expr_eval.c) ---- */

typedef struct wf_expr__node wf_expr__node;
typedef struct wf_expr__arena wf_expr__arena;
typedef struct wf_expr__ev wf_expr__ev;

/* wf_expr__call - a builtin or sprig function over already evaluated
 * arguments (borrowed). Closure-taking builtins are evaluated in
 * wf_expr_eval.c instead. col is for messages. */
typedef int (*wf_expr__fn)(wf_expr__ev *ev, int col, json_t **args,
                           size_t nargs, json_t **out);

struct wf_expr__fndef {
    const char *name;
    wf_expr__fn fn;
    int min_args;
    int max_args; /* -1: variadic */
};

/* Lookup in the builtin and sprig tables (wf_expr_builtin.c,
 * wf_expr_sprig.c); NULL when absent. */
const struct wf_expr__fndef *wf_expr__builtin(const char *name, size_t len);
const struct wf_expr__fndef *wf_expr__sprig(const char *name, size_t len);

/* The error sink of the evaluation in progress (for builtins). */
cl_errmsg *wf_expr__ev_err(wf_expr__ev *ev);
/* wf_expr__ev_budget - charge n units of work (string bytes built, elements
 * copied); CL_EEXPR when the evaluation exceeds its budget. */
int wf_expr__ev_budget(wf_expr__ev *ev, int col, size_t n);
/* wf_expr__ev_elems - charge n elements created (each costs
 * WF_EXPR__ELEM_COST units: an element is a heap object, a byte is not). */
#define WF_EXPR__ELEM_COST 16u
int wf_expr__ev_elems(wf_expr__ev *ev, int col, size_t n);
/* wf_expr__ev_budget_left - work units still available. */
size_t wf_expr__ev_budget_left(const wf_expr__ev *ev);

/* wf_expr__fn_lookup - binary search in a table sorted by name. */
const struct wf_expr__fndef *wf_expr__fn_lookup(
    const struct wf_expr__fndef *table, size_t n, const char *name,
    size_t len);

/* String and array helpers shared by builtins and sprig; results are new
 * values, work is charged to ev. */
/* strings.SplitN (n < 0: all parts) or SplitAfterN when after. */
int wf_expr__split(wf_expr__ev *ev, const char *s, size_t len,
                   const char *sep, size_t seplen, int64_t n, bool after,
                   json_t **out);
/* strings.ReplaceAll. */
int wf_expr__replace(wf_expr__ev *ev, const char *s, size_t len,
                     const char *old, size_t oldlen, const char *nw,
                     size_t nwlen, json_t **out);
/* strings.Repeat; CL_EEXPR for a negative count or an oversized result. */
int wf_expr__repeat(wf_expr__ev *ev, const char *s, size_t len, int64_t cnt,
                    json_t **out);
/* The distinct elements of array src, first occurrences in order. */
int wf_expr__uniq(wf_expr__ev *ev, const json_t *src, json_t **out);

/* Go-like conversions shared by builtins and sprig. */
/* wf_expr__to_int64 - spf13/cast ToInt64 as sprig uses it: numbers
 * truncated, integer strings parsed as strconv.ParseInt(s, 0, 64) after
 * dropping a zero fraction (else 0), bools 1/0, others 0. */
int64_t wf_expr__to_int64(const json_t *v);
double wf_expr__to_float64(const json_t *v);
/* wf_expr__to_str - sprig's strval: strings as is, else Go "%v". */
int wf_expr__to_str(const json_t *v, cl_buf *b, cl_errmsg *err);
/* wf_expr__truthy - Go template truth (sprig empty() negated). */
bool wf_expr__truthy(const json_t *v);

/* base64 (standard alphabet, padded). decode: CL_EEXPR on bad input. */
int wf_expr__b64enc(const char *s, size_t len, cl_buf *b);
int wf_expr__b64dec(const char *s, size_t len, cl_buf *b, cl_errmsg *err);

/* Integer parsing as Go's strconv.ParseInt(s, 10, 64) / ParseFloat:
 * whole string, optional sign; false when it does not parse or overflows. */
bool wf_expr__parse_int(const char *s, size_t len, int64_t *out);
bool wf_expr__parse_float(const char *s, size_t len, double *out);

#endif
