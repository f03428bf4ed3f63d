/* wf_parse.c - Argo Workflow YAML to the validated IR (wf_spec).
 *
 * The walk is strict like `argo submit --strict`: every field is known.
 * Fields that only matter to Kubernetes are accepted with one warning each,
 * fields that would change what runs and that a host cannot honour are
 * refused with their position (ARGO.md B1, DESIGN.md "Workflow language").
 */
#include "workflow/wf_int.h"

#include "common/cl_heap.h"
#include "common/cl_time.h"

#include <ctype.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A string to check for variable references once all templates are known. */
enum wf__where {
    WF__W_BODY = 0,  /* inside a template: inputs/outputs of that template */
    WF__W_STEP,      /* a step or task field: the enclosing template */
    WF__W_OUTPUTS,   /* outputs of a steps/dag template */
    WF__W_GLOBAL,    /* workflow level */
};

typedef struct wf__chk {
    const char *s;
    int line, col;
    wf__tmpl *t;       /* enclosing template */
    const wf__step *st;/* step/task (item scope), or NULL */
    uint8_t where;
} wf__chk;

typedef struct wf__p {
    wf_spec *s;
    wf__arena *a;
    const char *file;
    wf_diag *diag;
    int rv;
    struct fy_node *defaults; /* templateDefaults mapping or NULL */
    wf__chk *chk;
    size_t nchk, capchk;
    wf__tmpl **tmpls;
    uint32_t ntmpls, captmpls;
} wf__p;

/* ---- diagnostics -------------------------------------------------------- */

static int wf__perr_at(wf__p *p, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int wf__perr_at(wf__p *p, int line, int col, const char *fmt, ...)
{
    if (p->rv == 0) {
        char msg[CL_ERRMSG_SIZE];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (p->diag != NULL)
            cl_errmsg_set(&p->diag->err, "%s:%d:%d: %s", p->file, line, col,
                          msg);
        p->rv = CL_EINVAL;
    }
    return p->rv;
}

static int wf__perr(wf__p *p, struct fy_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int wf__perr(wf__p *p, struct fy_node *n, const char *fmt, ...)
{
    if (p->rv != 0)
        return p->rv;
    int line, col;
    wf__yaml_pos(n, &line, &col);
    char msg[CL_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return wf__perr_at(p, line, col, "%s", msg);
}

static int wf__oom(wf__p *p)
{
    if (p->rv == 0) {
        if (p->diag != NULL)
            cl_errmsg_set(&p->diag->err, "%s: out of memory", p->file);
        p->rv = CL_ENOMEM;
    }
    return p->rv;
}

static void wf__pwarn(wf__p *p, struct fy_node *n, const char *field)
{
    if (p->diag == NULL)
        return;
    int line, col;
    wf__yaml_pos(n, &line, &col);
    char buf[512];
    snprintf(buf, sizeof(buf), "%s:%d:%d: %s is ignored", p->file, line, col,
             field);
    char *w = cl_strdup(buf);
    char **nw = w ? cl_realloc(p->diag->warnings,
                               (p->diag->nwarnings + 1) * sizeof(char *))
                  : NULL;
    if (nw == NULL) {
        cl_free(w);
        return; /* a lost warning is not worth failing the parse */
    }
    p->diag->warnings = nw;
    nw[p->diag->nwarnings++] = w;
}

/* ---- node helpers ------------------------------------------------------- */

static const char *wf__yscalar0(struct fy_node *n)
{
    return wf__yscalar(n, NULL);
}

static const char *wf__key(struct fy_node_pair *pr, struct fy_node **kn)
{
    struct fy_node *k = fy_node_pair_key(pr);
    if (kn)
        *kn = k;
    if (k == NULL || !fy_node_is_scalar(k))
        return NULL;
    return wf__yscalar0(k);
}

static bool wf__is_null(struct fy_node *n)
{
    if (n == NULL)
        return true;
    if (!fy_node_is_scalar(n) || fy_node_get_style(n) != FYNS_PLAIN)
        return false;
    size_t len = 0;
    const char *s = wf__yscalar(n, &len);
    return len == 0 || (len == 1 && s[0] == '~') ||
           (len == 4 && memcmp(s, "null", 4) == 0);
}

static const char *wf__str(wf__p *p, struct fy_node *n, const char *what)
{
    if (n == NULL || !fy_node_is_scalar(n)) {
        wf__perr(p, n, "%s: expected a string", what);
        return NULL;
    }
    size_t len = 0;
    const char *s = wf__yscalar(n, &len);
    char *d = wf__arena_strndup(p->a, s ? s : "", s ? len : 0);
    if (d == NULL)
        wf__oom(p);
    return d;
}

/* An optional string: null gives NULL without error. */
static const char *wf__ostr(wf__p *p, struct fy_node *n, const char *what)
{
    if (wf__is_null(n))
        return NULL;
    return wf__str(p, n, what);
}

static bool wf__bool(wf__p *p, struct fy_node *n, const char *what)
{
    const char *s = n && fy_node_is_scalar(n) ? wf__yscalar0(n) : NULL;
    if (s == NULL) {
        wf__perr(p, n, "%s: expected true or false", what);
        return false;
    }
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        return true;
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        return false;
    wf__perr(p, n, "%s: expected true or false, got '%s'", what, s);
    return false;
}

static bool wf__is_map(wf__p *p, struct fy_node *n, const char *what)
{
    if (n != NULL && fy_node_is_mapping(n))
        return true;
    wf__perr(p, n, "%s: expected a mapping", what);
    return false;
}

static bool wf__is_seq(wf__p *p, struct fy_node *n, const char *what)
{
    if (n != NULL && fy_node_is_sequence(n))
        return true;
    wf__perr(p, n, "%s: expected a list", what);
    return false;
}

static int wf__chk_add(wf__p *p, const char *s, struct fy_node *n,
                       wf__tmpl *t, const wf__step *st, int where)
{
    if (s == NULL || strstr(s, "{{") == NULL)
        return 0;
    if (p->nchk == p->capchk) {
        size_t cap = p->capchk ? p->capchk * 2 : 64;
        wf__chk *c = cl_realloc(p->chk, cap * sizeof(*c));
        if (c == NULL)
            return wf__oom(p);
        p->chk = c;
        p->capchk = cap;
    }
    wf__chk *c = &p->chk[p->nchk++];
    c->s = s;
    wf__yaml_pos(n, &c->line, &c->col);
    c->t = t;
    c->st = st;
    c->where = (uint8_t)where;
    return 0;
}

/* name -> list of strings */
static int wf__strlist(wf__p *p, struct fy_node *n, const char *what,
                       const char ***out, uint32_t *nout, wf__tmpl *t,
                       int where)
{
    if (wf__is_null(n)) {
        *out = NULL;
        *nout = 0;
        return 0;
    }
    if (!wf__is_seq(p, n, what))
        return p->rv;
    int cnt = fy_node_sequence_item_count(n);
    const char **v = wf__arena_alloc(p->a, sizeof(char *) * (cnt + 1));
    if (v == NULL)
        return wf__oom(p);
    void *it = NULL;
    struct fy_node *c;
    uint32_t i = 0;
    while ((c = fy_node_sequence_iterate(n, &it)) != NULL) {
        v[i] = wf__str(p, c, what);
        if (v[i] == NULL)
            return p->rv;
        wf__chk_add(p, v[i], c, t, NULL, where);
        i++;
    }
    *out = v;
    *nout = i;
    return p->rv;
}

/* A mapping of string to scalar (labels, nodeSelector, requests). */
static int wf__kvmap(wf__p *p, struct fy_node *n, const char *what,
                     wf__kvl *out, wf__tmpl *t)
{
    out->v = NULL;
    out->n = 0;
    if (wf__is_null(n))
        return 0;
    if (!wf__is_map(p, n, what))
        return p->rv;
    int cnt = fy_node_mapping_item_count(n);
    out->v = wf__arena_alloc(p->a, sizeof(wf_kv) * (cnt + 1));
    if (out->v == NULL)
        return wf__oom(p);
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate(n, &it)) != NULL) {
        struct fy_node *kn;
        const char *k = wf__key(pr, &kn);
        if (k == NULL)
            return wf__perr(p, kn, "%s: expected string keys", what);
        struct fy_node *vn = fy_node_pair_value(pr);
        const char *v = wf__str(p, vn, what);
        if (v == NULL)
            return p->rv;
        out->v[out->n].name = wf__arena_strdup(p->a, k);
        out->v[out->n].value = v;
        if (out->v[out->n].name == NULL)
            return wf__oom(p);
        if (t != NULL)
            wf__chk_add(p, v, vn, t, NULL, WF__W_BODY);
        out->n++;
    }
    return p->rv;
}

/* ---- fields ------------------------------------------------------------- */

static bool wf__in(const char *k, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strcmp(k, list[i]) == 0)
            return true;
    return false;
}

static const char *const wf__art_locations[] = {
    "s3", "gcs", "git", "http", "oss", "azure", "hdfs", "artifactory",
    "hf", "plugin", "raw_", NULL,
};

static int wf__parse_param(wf__p *p, struct fy_node *n, wf__param *pa,
                           int ctx, wf__tmpl *t)
{
    /* ctx: 0 arguments, 1 inputs, 2 outputs, 3 workflow arguments */
    if (!wf__is_map(p, n, "parameter"))
        return p->rv;
    wf__yaml_pos(n, &pa->line, &pa->col);
    void *it = NULL;
    struct fy_node_pair *pr;
    struct fy_node *value_node = NULL;
    while ((pr = fy_node_mapping_iterate(n, &it)) != NULL && p->rv == 0) {
        struct fy_node *kn;
        const char *k = wf__key(pr, &kn);
        struct fy_node *v = fy_node_pair_value(pr);
        if (k == NULL)
            return wf__perr(p, kn, "parameter: expected string keys");
        if (!strcmp(k, "name")) {
            pa->name = wf__str(p, v, "parameter name");
        } else if (!strcmp(k, "value")) {
            if (v != NULL && !fy_node_is_scalar(v)) {
                /* a structured value is kept as its JSON text */
                json_t *j = wf__yaml_to_json(v);
                char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
                json_decref(j);
                if (txt == NULL)
                    return wf__oom(p);
                pa->value = wf__arena_strdup(p->a, txt);
                free(txt);
                if (pa->value == NULL)
                    return wf__oom(p);
            } else if (!wf__is_null(v) || ctx != 2) {
                pa->value = wf__is_null(v) ? "" : wf__str(p, v, "value");
            }
            value_node = v;
        } else if (!strcmp(k, "default") && ctx != 2) {
            pa->def = wf__str(p, v, "default");
            wf__chk_add(p, pa->def, v, t, NULL,
                        ctx == 3 ? WF__W_GLOBAL : WF__W_BODY);
        } else if (!strcmp(k, "enum") && ctx != 2) {
            const char **e;
            uint32_t ne;
            wf__strlist(p, v, "enum", &e, &ne, NULL, 0);
            pa->enums = e;
            pa->nenums = ne;
        } else if (!strcmp(k, "description")) {
            /* documentation only */
        } else if (!strcmp(k, "globalName") && ctx == 2) {
            pa->global_name = wf__str(p, v, "globalName");
        } else if (!strcmp(k, "valueFrom")) {
            if (!wf__is_map(p, v, "valueFrom"))
                return p->rv;
            void *it2 = NULL;
            struct fy_node_pair *p2;
            while ((p2 = fy_node_mapping_iterate(v, &it2)) != NULL &&
                   p->rv == 0) {
                struct fy_node *kn2;
                const char *k2 = wf__key(p2, &kn2);
                struct fy_node *v2 = fy_node_pair_value(p2);
                if (k2 == NULL)
                    return wf__perr(p, kn2, "valueFrom: expected string keys");
                if (ctx == 2 && !strcmp(k2, "path")) {
                    pa->vf_path = wf__str(p, v2, "valueFrom.path");
                    wf__chk_add(p, pa->vf_path, v2, t, NULL, WF__W_BODY);
                } else if (!strcmp(k2, "default")) {
                    pa->def = wf__str(p, v2, "valueFrom.default");
                    pa->has_vf_default = true;
                } else if (ctx == 2 && !strcmp(k2, "expression")) {
                    pa->vf_expression = wf__str(p, v2, "valueFrom.expression");
                } else if (ctx == 2 && !strcmp(k2, "parameter")) {
                    pa->vf_parameter = wf__str(p, v2, "valueFrom.parameter");
                    wf__chk_add(p, pa->vf_parameter, v2, t, NULL,
                                WF__W_OUTPUTS);
                } else if (!strcmp(k2, "supplied")) {
                    return wf__perr(p, kn2,
                                    "valueFrom.supplied needs a suspend "
                                    "template, which is not supported");
                } else if (!strcmp(k2, "jsonPath") || !strcmp(k2, "jqFilter")) {
                    return wf__perr(p, kn2,
                                    "valueFrom.%s needs a resource template, "
                                    "which is not supported", k2);
                } else if (!strcmp(k2, "configMapKeyRef") ||
                           !strcmp(k2, "event")) {
                    return wf__perr(p, kn2,
                                    "valueFrom.%s is not supported without "
                                    "Kubernetes", k2);
                } else {
                    return wf__perr(p, kn2, "unknown field '%s' in valueFrom",
                                    k2);
                }
            }
        } else {
            return wf__perr(p, kn, "unknown field '%s' in parameter", k);
        }
    }
    if (p->rv != 0)
        return p->rv;
    if (pa->name == NULL || pa->name[0] == '\0')
        return wf__perr(p, n, "parameter: 'name' is required");
    if (pa->value != NULL)
        wf__chk_add(p, pa->value, value_node, t, NULL,
                    ctx == 0 ? WF__W_STEP : ctx == 3 ? WF__W_GLOBAL
                                                     : WF__W_BODY);
    if (ctx == 2 && pa->vf_path == NULL && pa->vf_expression == NULL &&
        pa->vf_parameter == NULL && pa->value == NULL && !pa->has_vf_default)
        return wf__perr(p, n,
                        "output parameter '%s': valueFrom (path, expression "
                        "or parameter) is required", pa->name);
    return 0;
}

static int wf__parse_art(wf__p *p, struct fy_node *n, wf__art *ar, int ctx,
                         wf__tmpl *t)
{
    /* ctx: 0 arguments, 1 inputs, 2 outputs, 3 workflow arguments */
    if (!wf__is_map(p, n, "artifact"))
        return p->rv;
    ar->mode = -1;
    wf__yaml_pos(n, &ar->line, &ar->col);
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate(n, &it)) != NULL && p->rv == 0) {
        struct fy_node *kn;
        const char *k = wf__key(pr, &kn);
        struct fy_node *v = fy_node_pair_value(pr);
        if (k == NULL)
            return wf__perr(p, kn, "artifact: expected string keys");
        if (!strcmp(k, "name")) {
            ar->name = wf__str(p, v, "artifact name");
        } else if (!strcmp(k, "path")) {
            ar->path = wf__str(p, v, "artifact path");
            wf__chk_add(p, ar->path, v, t, NULL, WF__W_BODY);
        } else if (!strcmp(k, "from")) {
            ar->from = wf__str(p, v, "artifact from");
            wf__chk_add(p, ar->from, v, t, NULL,
                        ctx == 2 ? WF__W_OUTPUTS : WF__W_STEP);
        } else if (!strcmp(k, "fromExpression")) {
            ar->from_expr = wf__str(p, v, "fromExpression");
        } else if (!strcmp(k, "raw")) {
            if (!wf__is_map(p, v, "raw"))
                return p->rv;
            struct fy_node *d = wf__ylookup(v, "data");
            if (d == NULL)
                return wf__perr(p, v, "raw: 'data' is required");
            ar->raw = wf__str(p, d, "raw.data");
            wf__chk_add(p, ar->raw, d, t, NULL,
                        ctx == 0 ? WF__W_STEP : WF__W_BODY);
        } else if (!strcmp(k, "subPath")) {
            ar->sub_path = wf__str(p, v, "subPath");
        } else if (!strcmp(k, "mode")) {
            const char *m = wf__str(p, v, "mode");
            if (m == NULL)
                return p->rv;
            char *end = NULL;
            long mv = strtol(m, &end, 10);
            if (end == m || *end != '\0' || mv < 0 || mv > 07777)
                return wf__perr(p, v, "mode: expected permission bits, got "
                                      "'%s'", m);
            ar->mode = (int)mv;
        } else if (!strcmp(k, "optional")) {
            ar->optional = wf__bool(p, v, "optional");
        } else if (!strcmp(k, "globalName")) {
            ar->global_name = wf__str(p, v, "globalName");
        } else if (!strcmp(k, "archive")) {
            if (!wf__is_map(p, v, "archive"))
                return p->rv;
            void *it2 = NULL;
            struct fy_node_pair *p2;
            while ((p2 = fy_node_mapping_iterate(v, &it2)) != NULL) {
                struct fy_node *kn2;
                const char *k2 = wf__key(p2, &kn2);
                if (k2 == NULL || (strcmp(k2, "none") && strcmp(k2, "tar") &&
                                   strcmp(k2, "zip")))
                    return wf__perr(p, kn2,
                                    "archive: expected none, tar or zip");
            }
        } else if (!strcmp(k, "recurseMode") || !strcmp(k, "description")) {
            /* no effect on a host */
        } else if (!strcmp(k, "archiveLogs") || !strcmp(k, "artifactGC") ||
                   !strcmp(k, "deleted")) {
            wf__pwarn(p, kn, k);
        } else if (wf__in(k, wf__art_locations)) {
            return wf__perr(p, kn,
                            "artifact '%s': the '%s' location is not "
                            "supported (artifacts move between steps inside "
                            "the cluster, or come from raw data)",
                            ar->name ? ar->name : "?", k);
        } else if (!strcmp(k, "artifactRepositoryRef")) {
            return wf__perr(p, kn, "artifactRepositoryRef is not supported");
        } else {
            return wf__perr(p, kn, "unknown field '%s' in artifact", k);
        }
    }
    if (p->rv != 0)
        return p->rv;
    if (ar->name == NULL || ar->name[0] == '\0')
        return wf__perr(p, n, "artifact: 'name' is required");
    if (ctx == 2 && ar->path == NULL && ar->from == NULL &&
        ar->from_expr == NULL)
        return wf__perr(p, n,
                        "output artifact '%s': 'path', 'from' or "
                        "'fromExpression' is required", ar->name);
    return 0;
}

static int wf__parse_args(wf__p *p, struct fy_node *n, wf__args *out, int ctx,
                          wf__tmpl *t, const char *what)
{
    memset(out, 0, sizeof(*out));
    if (wf__is_null(n))
        return 0;
    if (!wf__is_map(p, n, what))
        return p->rv;
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate(n, &it)) != NULL && p->rv == 0) {
        struct fy_node *kn;
        const char *k = wf__key(pr, &kn);
        struct fy_node *v = fy_node_pair_value(pr);
        if (k == NULL)
            return wf__perr(p, kn, "%s: expected string keys", what);
        if (!strcmp(k, "parameters")) {
            if (wf__is_null(v))
                continue;
            if (!wf__is_seq(p, v, "parameters"))
                return p->rv;
            int cnt = fy_node_sequence_item_count(v);
            out->params = wf__arena_alloc(p->a, sizeof(wf__param) * (cnt + 1));
            if (out->params == NULL)
                return wf__oom(p);
            void *i2 = NULL;
            struct fy_node *c;
            while ((c = fy_node_sequence_iterate(v, &i2)) != NULL) {
                if (wf__parse_param(p, c, &out->params[out->nparams], ctx,
                                    t) != 0)
                    return p->rv;
                for (uint32_t j = 0; j < out->nparams; j++)
                    if (!strcmp(out->params[j].name,
                                out->params[out->nparams].name))
                        return wf__perr(p, c, "parameter '%s' is declared "
                                              "twice",
                                        out->params[j].name);
                out->nparams++;
            }
        } else if (!strcmp(k, "artifacts")) {
            if (wf__is_null(v))
                continue;
            if (!wf__is_seq(p, v, "artifacts"))
                return p->rv;
            int cnt = fy_node_sequence_item_count(v);
            out->arts = wf__arena_alloc(p->a, sizeof(wf__art) * (cnt + 1));
            if (out->arts == NULL)
                return wf__oom(p);
            void *i2 = NULL;
            struct fy_node *c;
            while ((c = fy_node_sequence_iterate(v, &i2)) != NULL) {
                if (wf__parse_art(p, c, &out->arts[out->narts], ctx, t) != 0)
                    return p->rv;
                out->narts++;
            }
        } else if (ctx == 2 && (!strcmp(k, "result") || !strcmp(k, "exitCode"))) {
            return wf__perr(p, kn, "outputs.%s is set by the engine, not in "
                                   "the spec", k);
        } else {
            return wf__perr(p, kn, "unknown field '%s' in %s", k, what);
        }
    }
    return p->rv;
}

static int wf__parse_retry(wf__p *p, struct fy_node *n, wf__retry **out)
{
    if (wf__is_null(n)) {
        *out = NULL;
        return 0;
    }
    if (!wf__is_map(p, n, "retryStrategy"))
        return p->rv;
    wf__retry *r = wf__arena_alloc(p->a, sizeof(*r));
    if (r == NULL)
        return wf__oom(p);
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate(n, &it)) != NULL && p->rv == 0) {
        struct fy_node *kn;
        const char *k = wf__key(pr, &kn);
        struct fy_node *v = fy_node_pair_value(pr);
        if (k == NULL)
            return wf__perr(p, kn, "retryStrategy: expected string keys");
        if (!strcmp(k, "limit")) {
            r->limit = wf__ostr(p, v, "retryStrategy.limit");
        } else if (!strcmp(k, "retryPolicy")) {
            const char *s = wf__str(p, v, "retryPolicy");
            if (s == NULL)
                return p->rv;
            if (!strcmp(s, "OnFailure"))
                r->policy = WF__POL_ON_FAILURE;
            else if (!strcmp(s, "OnError"))
                r->policy = WF__POL_ON_ERROR;
            else if (!strcmp(s, "Always"))
                r->policy = WF__POL_ALWAYS;
            else if (!strcmp(s, "OnTransientError"))
                r->policy = WF__POL_ON_TRANSIENT;
            else
                return wf__perr(p, v,
                                "retryPolicy: expected OnFailure, OnError, "
                                "Always or OnTransientError, got '%s'", s);
        } else if (!strcmp(k, "expression")) {
            r->expression = wf__str(p, v, "retryStrategy.expression");
        } else if (!strcmp(k, "backoff")) {
            if (!wf__is_map(p, v, "backoff"))
                return p->rv;
            void *i2 = NULL;
            struct fy_node_pair *p2;
            while ((p2 = fy_node_mapping_iterate(v, &i2)) != NULL &&
                   p->rv == 0) {
                struct fy_node *kn2;
                const char *k2 = wf__key(p2, &kn2);
                struct fy_node *v2 = fy_node_pair_value(p2);
                if (k2 == NULL)
                    return wf__perr(p, kn2, "backoff: expected string keys");
                const char *s = wf__str(p, v2, k2);
                if (s == NULL)
                    return p->rv;
                int64_t ms;
                if (!strcmp(k2, "duration"))
                    r->b_duration = s;
                else if (!strcmp(k2, "factor"))
                    r->b_factor = s;
                else if (!strcmp(k2, "cap"))
                    r->b_cap = s;
                else if (!strcmp(k2, "maxDuration"))
                    r->b_max_duration = s;
                else
                    return wf__perr(p, kn2, "unknown field '%s' in backoff",
                                    k2);
                if (strcmp(k2, "factor") && strstr(s, "{{") == NULL &&
                    cl_duration_parse(s, &ms) != 0)
                    return wf__perr(p, v2, "backoff.%s: expected a duration "
                                           "like \"30\" or \"2m\", got '%s'",
                                    k2, s);
            }
        } else if (!strcmp(k, "affinity")) {
            wf__pwarn(p, kn, "retryStrategy.affinity");
        } else {
            return wf__perr(p, kn, "unknown field '%s' in retryStrategy", k);
        }
    }
    if (r->limit != NULL && strstr(r->limit, "{{") == NULL) {
        char *end = NULL;
        long long lv = strtoll(r->limit, &end, 10);
        if (end == r->limit || *end != '\0' || lv < 0)
            return wf__perr(p, wf__ylookup(n, "limit"),
                            "retryStrategy.limit: expected a non-negative "
                            "integer, got '%s'", r->limit);
    }
    *out = r;
    return p->rv;
}

static int wf__parse_sync(wf__p *p, struct fy_node *n, const char ***out,
                          uint32_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (wf__is_null(n))
        return 0;
    if (!wf__is_map(p, n, "synchronization"))
        return p->rv;
    const char **v = NULL;
    uint32_t nv = 0;
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate(n, &it)) != NULL && p->rv == 0) {
        struct fy_node *kn;
        const char *k = wf__key(pr, &kn);
        struct fy_node *val = fy_node_pair_value(pr);
        if (k == NULL)
            return wf__perr(p, kn, "synchronization: expected string keys");
        if (!strcmp(k, "mutex") || !strcmp(k, "mutexes")) {
            struct fy_node *items[1];
            bool one = !strcmp(k, "mutex");
            if (!one && !wf__is_seq(p, val, "synchronization.mutexes"))
                return p->rv;
            int cnt = one ? 1 : fy_node_sequence_item_count(val);
            const char **nvv = wf__arena_alloc(p->a,
                                               sizeof(char *) * (nv + cnt + 1));
            if (nvv == NULL)
                return wf__oom(p);
            if (nv)
                memcpy(nvv, v, nv * sizeof(char *));
            v = nvv;
            void *i2 = NULL;
            struct fy_node *c;
            items[0] = val;
            int idx = 0;
            while ((c = one ? (idx++ == 0 ? items[0] : NULL)
                            : fy_node_sequence_iterate(val, &i2)) != NULL) {
                if (!wf__is_map(p, c, "mutex"))
                    return p->rv;
                void *i3 = NULL;
                struct fy_node_pair *p3;
                const char *name = NULL;
                while ((p3 = fy_node_mapping_iterate(c, &i3)) != NULL) {
                    struct fy_node *kn3;
                    const char *k3 = wf__key(p3, &kn3);
                    if (k3 != NULL && !strcmp(k3, "name"))
                        name = wf__str(p, fy_node_pair_value(p3), "mutex name");
                    else if (k3 != NULL && !strcmp(k3, "namespace"))
                        ;
                    else if (k3 != NULL && !strcmp(k3, "database"))
                        return wf__perr(p, kn3,
                                        "database-backed mutexes are not "
                                        "supported");
                    else
                        return wf__perr(p, kn3, "unknown field '%s' in mutex",
                                        k3 ? k3 : "?");
                }
                if (name == NULL)
                    return wf__perr(p, c, "mutex: 'name' is required");
                v[nv++] = name;
            }
        } else if (!strcmp(k, "semaphore") || !strcmp(k, "semaphores")) {
            return wf__perr(p, kn,
                            "synchronization.%s needs a ConfigMap or a "
                            "database and is not supported (use mutexes)", k);
        } else {
            return wf__perr(p, kn, "unknown field '%s' in synchronization", k);
        }
    }
    *out = v;
    *nout = nv;
    return p->rv;
}

/* ---- image entrypoints ----------------------------------------------------
 * A container without `command` runs its image's ENTRYPOINT (plus args) or,
 * with no ENTRYPOINT, its CMD, which `args` replace. On a host there is no
 * image to read that from, so the images the Argo examples use are known
 * here by name. */
typedef struct wf__image {
    const char *repo;
    const char *tag;      /* NULL: any */
    bool entrypoint;      /* true: command = argv + args; false: CMD */
    const char *argv[2];
} wf__image;

static const wf__image wf__images[] = {
    {"argoproj/argosay", "v1", true, {"cowsay", NULL}},
    {"argoproj/argosay", NULL, true, {"argosay", NULL}},
    {"docker/whalesay", NULL, true, {"cowsay", NULL}},
    {"stedolan/jq", NULL, true, {"jq", NULL}},
    {"alpine", NULL, false, {"sh", NULL}},
    {"busybox", NULL, false, {"sh", NULL}},
    {"ubuntu", NULL, false, {"bash", NULL}},
    {"debian", NULL, false, {"bash", NULL}},
    {"bash", NULL, false, {"bash", NULL}},
    {"python", NULL, false, {"python", NULL}},
    {"node", NULL, false, {"node", NULL}},
};

const void *wf__image_lookup(const char *image);
const void *wf__image_lookup(const char *image)
{
    if (image == NULL)
        return NULL;
    const char *s = image;
    /* strip a registry host ("docker.io/", "quay.io/", "host:5000/") */
    const char *slash = strchr(s, '/');
    if (slash != NULL) {
        size_t hl = (size_t)(slash - s);
        if (memchr(s, '.', hl) != NULL || memchr(s, ':', hl) != NULL ||
            (hl == 9 && !memcmp(s, "localhost", 9)))
            s = slash + 1;
    }
    if (!strncmp(s, "library/", 8))
        s += 8;
    const char *at = strchr(s, '@');
    const char *colon = strrchr(s, ':');
    size_t rl = strlen(s);
    if (at != NULL)
        rl = (size_t)(at - s);
    if (colon != NULL && (size_t)(colon - s) < rl &&
        strchr(colon, '/') == NULL)
        rl = (size_t)(colon - s);
    const char *tag = colon && (size_t)(colon - s) == rl ? colon + 1 : NULL;
    for (size_t i = 0; i < sizeof(wf__images) / sizeof(wf__images[0]); i++) {
        const wf__image *im = &wf__images[i];
        if (strlen(im->repo) != rl || strncmp(im->repo, s, rl) != 0)
            continue;
        if (im->tag != NULL &&
            (tag == NULL || strncmp(tag, im->tag, strlen(im->tag)) != 0))
            continue;
        return im;
    }
    return NULL;
}

/* wf__image_argv - the argv of a container without command: 0, or
 * CL_ENOENT when the image is not known. `out` receives arena strings. */
int wf__image_argv(wf__arena *a, const char *image, const char **args,
                   uint32_t nargs, const char ***out, uint32_t *nout);
int wf__image_argv(wf__arena *a, const char *image, const char **args,
                   uint32_t nargs, const char ***out, uint32_t *nout)
{
    const wf__image *im = wf__image_lookup(image);
    if (im == NULL)
        return CL_ENOENT;
    const char **v = wf__arena_alloc(a, sizeof(char *) * (nargs + 2));
    if (v == NULL)
        return CL_ENOMEM;
    uint32_t n = 0;
    if (im->entrypoint || nargs == 0)
        v[n++] = im->argv[0];
    for (uint32_t i = 0; i < nargs; i++)
        v[n++] = args[i];
    *out = v;
    *nout = n;
    return 0;
}

/* ---- containers --------------------------------------------------------- */

static const char *const wf__container_ignored[] = {
    "imagePullPolicy", "ports", "securityContext", "stdin", "stdinOnce",
    "tty", "lifecycle", "livenessProbe", "readinessProbe", "startupProbe",
    "terminationMessagePath", "terminationMessagePolicy", "resizePolicy",
    "restartPolicy", NULL,
};

static int wf__parse_container(wf__p *p, struct fy_node *n, wf__tmpl *t,
                               bool script, struct fy_node *defaults)
{
    const char *what = script ? "script" : "container";
    if (!wf__is_map(p, n, what))
        return p->rv;
    bool has_cmd = false, has_args = false;
    for (int pass = 0; pass < 2 && p->rv == 0; pass++) {
        struct fy_node *m = pass == 0 ? n : defaults;
        if (m == NULL || !fy_node_is_mapping(m))
            continue;
        void *it = NULL;
        struct fy_node_pair *pr;
        while ((pr = fy_node_mapping_iterate(m, &it)) != NULL && p->rv == 0) {
            struct fy_node *kn;
            const char *k = wf__key(pr, &kn);
            struct fy_node *v = fy_node_pair_value(pr);
            if (k == NULL)
                return wf__perr(p, kn, "%s: expected string keys", what);
            if (pass == 1 && wf__ylookup(n, k))
                continue; /* the template's own field wins */
            if (!strcmp(k, "image")) {
                t->image = wf__ostr(p, v, "image");
                wf__chk_add(p, t->image, v, t, NULL, WF__W_BODY);
            } else if (!strcmp(k, "command")) {
                has_cmd = !wf__is_null(v);
                wf__strlist(p, v, "command", &t->command, &t->ncommand, t,
                            WF__W_BODY);
            } else if (!strcmp(k, "args")) {
                has_args = !wf__is_null(v);
                wf__strlist(p, v, "args", &t->args, &t->nargs, t, WF__W_BODY);
            } else if (script && !strcmp(k, "source")) {
                t->source = wf__str(p, v, "source");
                wf__chk_add(p, t->source, v, t, NULL, WF__W_BODY);
            } else if (!strcmp(k, "workingDir")) {
                t->working_dir = wf__ostr(p, v, "workingDir");
                wf__chk_add(p, t->working_dir, v, t, NULL, WF__W_BODY);
            } else if (!strcmp(k, "name")) {
                /* the container name: "main" on Argo */
            } else if (!strcmp(k, "env")) {
                if (wf__is_null(v))
                    continue;
                if (!wf__is_seq(p, v, "env"))
                    return p->rv;
                int cnt = fy_node_sequence_item_count(v);
                t->env.v = wf__arena_alloc(p->a, sizeof(wf_kv) * (cnt + 1));
                if (t->env.v == NULL)
                    return wf__oom(p);
                void *i2 = NULL;
                struct fy_node *c;
                while ((c = fy_node_sequence_iterate(v, &i2)) != NULL) {
                    if (!wf__is_map(p, c, "env"))
                        return p->rv;
                    wf_kv *kv = &t->env.v[t->env.n];
                    void *i3 = NULL;
                    struct fy_node_pair *p3;
                    while ((p3 = fy_node_mapping_iterate(c, &i3)) != NULL &&
                           p->rv == 0) {
                        struct fy_node *kn3;
                        const char *k3 = wf__key(p3, &kn3);
                        struct fy_node *v3 = fy_node_pair_value(p3);
                        if (k3 != NULL && !strcmp(k3, "name")) {
                            kv->name = wf__str(p, v3, "env name");
                        } else if (k3 != NULL && !strcmp(k3, "value")) {
                            kv->value = wf__is_null(v3)
                                            ? ""
                                            : wf__str(p, v3, "env value");
                            wf__chk_add(p, kv->value, v3, t, NULL,
                                        WF__W_BODY);
                        } else if (k3 != NULL && !strcmp(k3, "valueFrom")) {
                            return wf__perr(p, kn3,
                                            "env valueFrom (secrets, config "
                                            "maps, fields) is not supported "
                                            "without Kubernetes");
                        } else {
                            return wf__perr(p, kn3,
                                            "unknown field '%s' in env",
                                            k3 ? k3 : "?");
                        }
                    }
                    if (p->rv != 0)
                        return p->rv;
                    if (kv->name == NULL)
                        return wf__perr(p, c, "env: 'name' is required");
                    if (kv->value == NULL)
                        kv->value = "";
                    t->env.n++;
                }
            } else if (!strcmp(k, "resources")) {
                if (wf__is_null(v))
                    continue;
                if (!wf__is_map(p, v, "resources"))
                    return p->rv;
                void *i2 = NULL;
                struct fy_node_pair *p2;
                while ((p2 = fy_node_mapping_iterate(v, &i2)) != NULL &&
                       p->rv == 0) {
                    struct fy_node *kn2;
                    const char *k2 = wf__key(p2, &kn2);
                    struct fy_node *v2 = fy_node_pair_value(p2);
                    if (k2 != NULL && !strcmp(k2, "requests"))
                        wf__kvmap(p, v2, "resources.requests", &t->requests,
                                  t);
                    else if (k2 != NULL && !strcmp(k2, "limits"))
                        wf__kvmap(p, v2, "resources.limits", &t->limits, t);
                    else if (k2 != NULL && !strcmp(k2, "claims"))
                        wf__pwarn(p, kn2, "resources.claims");
                    else
                        return wf__perr(p, kn2,
                                        "unknown field '%s' in resources",
                                        k2 ? k2 : "?");
                }
            } else if (!strcmp(k, "volumeMounts") ||
                       !strcmp(k, "volumeDevices")) {
                return wf__perr(p, kn,
                                "%s.%s is not supported: steps run on the "
                                "host with their own working directory",
                                what, k);
            } else if (!strcmp(k, "envFrom")) {
                return wf__perr(p, kn,
                                "%s.envFrom (secrets, config maps) is not "
                                "supported without Kubernetes", what);
            } else if (wf__in(k, wf__container_ignored)) {
                wf__pwarn(p, kn, k);
            } else {
                return wf__perr(p, kn, "unknown field '%s' in %s", k, what);
            }
        }
    }
    if (p->rv != 0)
        return p->rv;
    if (script && t->source == NULL)
        return wf__perr(p, n, "script: 'source' is required");
    if (!has_cmd) {
        /* no command: the image's entrypoint decides */
        if (t->image != NULL && strstr(t->image, "{{") != NULL) {
            t->image_entrypoint_unknown = true;
        } else {
            const char **argv = NULL;
            uint32_t nargv = 0;
            int rv = wf__image_argv(p->a, t->image, t->args, t->nargs, &argv,
                                    &nargv);
            if (rv == CL_ENOMEM)
                return wf__oom(p);
            if (rv != 0)
                return wf__perr(p, n,
                                "%s has no command and image '%s' has no "
                                "known entrypoint",
                                what, t->image ? t->image : "");
            if (script) {
                /* a script runs its interpreter, not the image's args */
                t->command = argv;
                t->ncommand = nargv > 0 ? 1 : 0;
            } else {
                t->command = argv;
                t->ncommand = nargv;
                t->args = NULL;
                t->nargs = 0;
            }
        }
    }
    (void)has_args;
    return 0;
}

/* ---- steps and tasks ---------------------------------------------------- */

static int wf__parse_tmpl_body(wf__p *p, struct fy_node *n, wf__tmpl *t,
                               bool is_inline);

/* Allocates a template and appends it to the parse's template table. */
static wf__tmpl *wf__tmpl_push(wf__p *p)
{
    wf__tmpl *t = wf__arena_alloc(p->a, sizeof(*t));
    if (t == NULL) {
        wf__oom(p);
        return NULL;
    }
    if (p->ntmpls == p->captmpls) {
        uint32_t cap = p->captmpls ? p->captmpls * 2 : 16;
        wf__tmpl **v = cl_realloc(p->tmpls, cap * sizeof(*v));
        if (v == NULL) {
            wf__oom(p);
            return NULL;
        }
        p->tmpls = v;
        p->captmpls = cap;
    }
    t->index = p->ntmpls;
    p->tmpls[p->ntmpls++] = t;
    return t;
}

static int wf__new_inline(wf__p *p, struct fy_node *n, wf__tmpl **out)
{
    wf__tmpl *t = wf__tmpl_push(p);
    if (t == NULL)
        return p->rv;
    if (wf__parse_tmpl_body(p, n, t, true) != 0)
        return p->rv;
    *out = t;
    return 0;
}

static int wf__parse_hook(wf__p *p, struct fy_node *n, wf__hook **out,
                          wf__tmpl *t, const wf__step *st)
{
    if (!wf__is_map(p, n, "hook"))
        return p->rv;
    wf__hook *h = wf__arena_alloc(p->a, sizeof(*h));
    if (h == NULL)
        return wf__oom(p);
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate(n, &it)) != NULL && p->rv == 0) {
        struct fy_node *kn;
        const char *k = wf__key(pr, &kn);
        struct fy_node *v = fy_node_pair_value(pr);
        if (k == NULL)
            return wf__perr(p, kn, "hook: expected string keys");
        if (!strcmp(k, "template")) {
            h->template_name = wf__str(p, v, "hook template");
        } else if (!strcmp(k, "arguments")) {
            wf__parse_args(p, v, &h->args, 0, t, "arguments");
            for (uint32_t i = 0; i < h->args.nparams; i++)
                ; /* checked through the chk list */
        } else if (!strcmp(k, "inline")) {
            wf__new_inline(p, v, &h->tmpl);
        } else if (!strcmp(k, "expression")) {
            return wf__perr(p, kn,
                            "hook expressions are not supported (only exit "
                            "hooks run)");
        } else if (!strcmp(k, "templateRef")) {
            return wf__perr(p, kn, "templateRef needs WorkflowTemplates, "
                                   "which are not supported");
        } else {
            return wf__perr(p, kn, "unknown field '%s' in hook", k);
        }
    }
    if (p->rv != 0)
        return p->rv;
    if (h->template_name == NULL && h->tmpl == NULL)
        return wf__perr(p, n, "hook: 'template' is required");
    (void)st;
    *out = h;
    return 0;
}

static int wf__parse_hooks(wf__p *p, struct fy_node *n, wf__hook **out,
                           wf__tmpl *t, const wf__step *st)
{
    if (wf__is_null(n))
        return 0;
    if (!wf__is_map(p, n, "hooks"))
        return p->rv;
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate(n, &it)) != NULL && p->rv == 0) {
        struct fy_node *kn;
        const char *k = wf__key(pr, &kn);
        if (k != NULL && !strcmp(k, "exit")) {
            if (*out != NULL)
                return wf__perr(p, kn, "both onExit and hooks.exit are set");
            wf__parse_hook(p, fy_node_pair_value(pr), out, t, st);
        } else {
            return wf__perr(p, kn,
                            "lifecycle hook '%s' is not supported (only "
                            "'exit' hooks run)", k ? k : "?");
        }
    }
    return p->rv;
}

static int wf__parse_step(wf__p *p, struct fy_node *n, wf__step *st,
                          wf__tmpl *t, bool dag,
                          struct fy_node **deps_node,
                          struct fy_node **depends_node)
{
    const char *what = dag ? "task" : "step";
    if (!wf__is_map(p, n, what))
        return p->rv;
    wf__yaml_pos(n, &st->line, &st->col);
    void *it = NULL;
    struct fy_node_pair *pr;
    struct fy_node *tmpl_node = NULL;
    while ((pr = fy_node_mapping_iterate(n, &it)) != NULL && p->rv == 0) {
        struct fy_node *kn;
        const char *k = wf__key(pr, &kn);
        struct fy_node *v = fy_node_pair_value(pr);
        if (k == NULL)
            return wf__perr(p, kn, "%s: expected string keys", what);
        if (!strcmp(k, "name")) {
            st->name = wf__str(p, v, "name");
        } else if (!strcmp(k, "template")) {
            st->template_name = wf__str(p, v, "template");
            tmpl_node = v;
        } else if (!strcmp(k, "inline")) {
            wf__new_inline(p, v, &st->tmpl);
        } else if (!strcmp(k, "arguments")) {
            wf__parse_args(p, v, &st->args, 0, t, "arguments");
        } else if (!strcmp(k, "when")) {
            st->when = wf__ostr(p, v, "when");
            wf__chk_add(p, st->when, v, t, st, WF__W_STEP);
        } else if (!strcmp(k, "withItems")) {
            if (!wf__is_seq(p, v, "withItems"))
                return p->rv;
            st->with_items = wf__yaml_to_json(v);
            if (st->with_items == NULL)
                return wf__oom(p);
            /* owned by the spec: kept in a list released by wf_spec_free */
            if (json_array_append_new(p->s->keep, st->with_items)) {
                json_decref(st->with_items);
                st->with_items = NULL;
                return wf__oom(p);
            }
        } else if (!strcmp(k, "withParam")) {
            st->with_param = wf__str(p, v, "withParam");
            wf__chk_add(p, st->with_param, v, t, st, WF__W_STEP);
        } else if (!strcmp(k, "withSequence")) {
            if (!wf__is_map(p, v, "withSequence"))
                return p->rv;
            st->with_seq = wf__arena_alloc(p->a, sizeof(wf__seq));
            if (st->with_seq == NULL)
                return wf__oom(p);
            void *i2 = NULL;
            struct fy_node_pair *p2;
            while ((p2 = fy_node_mapping_iterate(v, &i2)) != NULL &&
                   p->rv == 0) {
                struct fy_node *kn2;
                const char *k2 = wf__key(p2, &kn2);
                struct fy_node *v2 = fy_node_pair_value(p2);
                const char *s = NULL;
                if (k2 == NULL ||
                    (strcmp(k2, "count") && strcmp(k2, "start") &&
                     strcmp(k2, "end") && strcmp(k2, "format")))
                    return wf__perr(p, kn2,
                                    "unknown field '%s' in withSequence",
                                    k2 ? k2 : "?");
                s = wf__str(p, v2, k2);
                wf__chk_add(p, s, v2, t, NULL, WF__W_STEP);
                if (!strcmp(k2, "count"))
                    st->with_seq->count = s;
                else if (!strcmp(k2, "start"))
                    st->with_seq->start = s;
                else if (!strcmp(k2, "end"))
                    st->with_seq->end = s;
                else
                    st->with_seq->format = s;
            }
            if (p->rv == 0 && st->with_seq->count && st->with_seq->end)
                return wf__perr(p, v, "withSequence: 'count' and 'end' are "
                                      "mutually exclusive");
        } else if (!strcmp(k, "continueOn")) {
            if (!wf__is_map(p, v, "continueOn"))
                return p->rv;
            void *i2 = NULL;
            struct fy_node_pair *p2;
            while ((p2 = fy_node_mapping_iterate(v, &i2)) != NULL &&
                   p->rv == 0) {
                struct fy_node *kn2;
                const char *k2 = wf__key(p2, &kn2);
                struct fy_node *v2 = fy_node_pair_value(p2);
                if (k2 != NULL && !strcmp(k2, "failed"))
                    st->continue_failed = wf__bool(p, v2, "continueOn.failed");
                else if (k2 != NULL && !strcmp(k2, "error"))
                    st->continue_error = wf__bool(p, v2, "continueOn.error");
                else
                    return wf__perr(p, kn2, "unknown field '%s' in continueOn",
                                    k2 ? k2 : "?");
            }
        } else if (!strcmp(k, "hooks")) {
            wf__parse_hooks(p, v, &st->exit_hook, t, st);
        } else if (!strcmp(k, "onExit")) {
            if (st->exit_hook != NULL)
                return wf__perr(p, kn, "both onExit and hooks.exit are set");
            st->exit_hook = wf__arena_alloc(p->a, sizeof(wf__hook));
            if (st->exit_hook == NULL)
                return wf__oom(p);
            st->exit_hook->template_name = wf__str(p, v, "onExit");
        } else if (dag && !strcmp(k, "dependencies")) {
            *deps_node = v;
        } else if (dag && !strcmp(k, "depends")) {
            *depends_node = v;
        } else if (!strcmp(k, "templateRef")) {
            return wf__perr(p, kn, "templateRef needs WorkflowTemplates, "
                                   "which are not supported");
        } else {
            return wf__perr(p, kn, "unknown field '%s' in %s", k, what);
        }
    }
    if (p->rv != 0)
        return p->rv;
    if (st->name == NULL || st->name[0] == '\0')
        return wf__perr(p, n, "%s: 'name' is required", what);
    for (const char *c = st->name; *c; c++)
        if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '_'))
            return wf__perr(p, n,
                            "%s name '%s': only letters, digits, '-' and '_' "
                            "are allowed", what, st->name);
    if (st->template_name != NULL && st->tmpl != NULL)
        return wf__perr(p, tmpl_node, "%s '%s': both template and inline are "
                                      "set", what, st->name);
    if (st->template_name == NULL && st->tmpl == NULL)
        return wf__perr(p, n, "%s '%s': 'template' or 'inline' is required",
                        what, st->name);
    int nloop = (st->with_items != NULL) + (st->with_param != NULL) +
                (st->with_seq != NULL);
    if (nloop > 1)
        return wf__perr(p, n, "%s '%s': only one of withItems, withParam and "
                              "withSequence may be set", what, st->name);
    /* re-add the argument strings with the step so {{item}} is in scope */
    for (uint32_t i = 0; i < p->nchk; i++)
        ;
    return 0;
}

/* ---- templates ---------------------------------------------------------- */

static const char *const wf__kinds_refused[] = {
    "resource", "suspend", "http", "plugin", "containerSet", "data", NULL,
};

wf__step *wf__tmpl_step(const wf__tmpl *t, const char *name, size_t len)
{
    if (t->byname_cap == 0)
        return NULL;
    uint32_t h = wf__fnv32(name, len) & (t->byname_cap - 1);
    while (t->byname[h] != NULL) {
        const wf__step *st = t->byname[h];
        if (strlen(st->name) == len && !memcmp(st->name, name, len))
            return t->byname[h];
        h = (h + 1) & (t->byname_cap - 1);
    }
    return NULL;
}

/* Index the steps or tasks of t by name; a duplicate is returned. */
static const wf__step *wf__tmpl_index(wf__p *p, wf__tmpl *t)
{
    uint32_t n = 0;
    if (t->kind == WF__T_DAG)
        n = t->ntasks;
    else
        for (uint32_t g = 0; g < t->ngroups; g++)
            n += t->groups[g].nsteps;
    uint32_t cap = 16;
    while (cap < n * 2 + 2)
        cap *= 2;
    t->byname = wf__arena_alloc(p->a, sizeof(wf__step *) * cap);
    if (t->byname == NULL) {
        wf__oom(p);
        return NULL;
    }
    t->byname_cap = cap;
    uint32_t ng = t->kind == WF__T_DAG ? 1 : t->ngroups;
    for (uint32_t g = 0; g < ng; g++) {
        wf__step *v = t->kind == WF__T_DAG ? t->tasks : t->groups[g].steps;
        uint32_t m = t->kind == WF__T_DAG ? t->ntasks : t->groups[g].nsteps;
        for (uint32_t i = 0; i < m; i++) {
            size_t len = strlen(v[i].name);
            if (wf__tmpl_step(t, v[i].name, len) != NULL)
                return &v[i];
            uint32_t h = wf__fnv32(v[i].name, len) & (cap - 1);
            while (t->byname[h] != NULL)
                h = (h + 1) & (cap - 1);
            t->byname[h] = &v[i];
        }
    }
    return NULL;
}

static uint32_t wf__task_index(const wf__tmpl *t, const char *name, size_t len)
{
    const wf__step *st = wf__tmpl_step(t, name, len);
    return st ? (uint32_t)(st - t->tasks) : WF_NONE;
}

static int wf__dep_lookup(void *ud, const char *name, size_t len,
                          uint32_t *task)
{
    const wf__tmpl *t = ud;
    uint32_t i = wf__task_index(t, name, len);
    if (i == WF_NONE) {
        /* the evaluator replaces '-' by '_' in names: accept both */
        for (uint32_t j = 0; j < t->ntasks && i == WF_NONE; j++) {
            const char *tn = t->tasks[j].name;
            if (strlen(tn) != len)
                continue;
            size_t k = 0;
            for (; k < len; k++) {
                char a = tn[k] == '-' ? '_' : tn[k];
                char b = name[k] == '-' ? '_' : name[k];
                if (a != b)
                    break;
            }
            if (k == len)
                i = j;
        }
    }
    if (i == WF_NONE)
        return CL_ENOENT;
    *task = i;
    return 0;
}

static int wf__parse_dag(wf__p *p, struct fy_node *n, wf__tmpl *t)
{
    if (!wf__is_map(p, n, "dag"))
        return p->rv;
    t->fail_fast = true;
    struct fy_node *tasks = NULL;
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate(n, &it)) != NULL && p->rv == 0) {
        struct fy_node *kn;
        const char *k = wf__key(pr, &kn);
        struct fy_node *v = fy_node_pair_value(pr);
        if (k != NULL && !strcmp(k, "tasks")) {
            tasks = v;
        } else if (k != NULL && !strcmp(k, "target")) {
            t->target = wf__ostr(p, v, "dag.target");
            wf__chk_add(p, t->target, v, t, NULL, WF__W_BODY);
        } else if (k != NULL && !strcmp(k, "failFast")) {
            t->fail_fast = wf__bool(p, v, "dag.failFast");
        } else {
            return wf__perr(p, kn, "unknown field '%s' in dag", k ? k : "?");
        }
    }
    if (p->rv != 0)
        return p->rv;
    if (tasks == NULL || !wf__is_seq(p, tasks, "dag.tasks"))
        return wf__perr(p, n, "dag: 'tasks' is required");
    int cnt = fy_node_sequence_item_count(tasks);
    if (cnt == 0)
        return wf__perr(p, tasks, "dag.tasks: at least one task is required");
    t->tasks = wf__arena_alloc(p->a, sizeof(wf__step) * cnt);
    struct fy_node **depn = cl_calloc((size_t)cnt * 3, sizeof(*depn));
    if (t->tasks == NULL || depn == NULL) {
        cl_free(depn);
        return wf__oom(p);
    }
    struct fy_node **dependsn = depn + cnt, **taskn = depn + 2 * cnt;
    uint8_t *seen = NULL;
    uint32_t *scratch = NULL;
    it = NULL;
    struct fy_node *c;
    while ((c = fy_node_sequence_iterate(tasks, &it)) != NULL) {
        uint32_t i = t->ntasks;
        taskn[i] = c;
        if (wf__parse_step(p, c, &t->tasks[i], t, true, &depn[i],
                           &dependsn[i]) != 0)
            goto out;
        t->ntasks++;
    }
    {
        const wf__step *dup = wf__tmpl_index(p, t);
        if (p->rv != 0)
            goto out;
        if (dup != NULL) {
            wf__perr(p, taskn[dup - t->tasks], "task name '%s' is not unique",
                     dup->name);
            goto out;
        }
    }
    /* dependencies */
    for (uint32_t i = 0; i < t->ntasks && p->rv == 0; i++) {
        wf__step *st = &t->tasks[i];
        if (depn[i] != NULL && dependsn[i] != NULL) {
            wf__perr(p, dependsn[i], "task '%s': dependencies and depends are "
                                     "mutually exclusive", st->name);
            goto out;
        }
        cl_buf src = CL_BUF_INIT;
        struct fy_node *where = dependsn[i];
        if (depn[i] != NULL && !wf__is_null(depn[i])) {
            if (!wf__is_seq(p, depn[i], "dependencies"))
                goto out;
            where = depn[i];
            void *i2 = NULL;
            struct fy_node *d;
            bool first = true;
            while ((d = fy_node_sequence_iterate(depn[i], &i2)) != NULL) {
                const char *dn = fy_node_is_scalar(d) ? wf__yscalar0(d)
                                                      : NULL;
                if (dn == NULL) {
                    cl_buf_free(&src);
                    wf__perr(p, d, "dependencies: expected task names");
                    goto out;
                }
                if (wf__task_index(t, dn, strlen(dn)) == WF_NONE) {
                    cl_buf_free(&src);
                    wf__perr(p, d, "task '%s' depends on unknown task '%s'",
                             st->name, dn);
                    goto out;
                }
                if (!first)
                    cl_buf_puts(&src, " && ");
                cl_buf_puts(&src, dn);
                first = false;
            }
        } else if (dependsn[i] != NULL && !wf__is_null(dependsn[i])) {
            const char *ds = wf__str(p, dependsn[i], "depends");
            if (ds == NULL) {
                cl_buf_free(&src);
                goto out;
            }
            cl_buf_puts(&src, ds);
        }
        if (!cl_buf_ok(&src)) {
            cl_buf_free(&src);
            wf__oom(p);
            goto out;
        }
        if (src.len > 0) {
            cl_errmsg em;
            cl_errmsg_clear(&em);
            int rv = wf__dep_parse(p->a, src.data, wf__dep_lookup, t,
                                   &st->depends, &em);
            cl_buf_free(&src);
            if (rv == CL_ENOMEM) {
                wf__oom(p);
                goto out;
            }
            if (rv != 0) {
                wf__perr(p, where, "task '%s': %s", st->name, em.msg);
                goto out;
            }
            if (seen == NULL) {
                seen = cl_calloc(t->ntasks, 1);
                scratch = cl_malloc(sizeof(uint32_t) * t->ntasks);
            }
            if (seen == NULL || scratch == NULL) {
                wf__oom(p);
                goto out;
            }
            uint32_t nd = 0;
            wf__dep_collect(st->depends, scratch, &nd, seen);
            for (uint32_t k = 0; k < nd; k++)
                seen[scratch[k]] = 0;
            st->deps = wf__arena_alloc(p->a, sizeof(uint32_t) * nd);
            if (st->deps == NULL) {
                wf__oom(p);
                goto out;
            }
            memcpy(st->deps, scratch, sizeof(uint32_t) * nd);
            st->ndeps = nd;
        } else {
            cl_buf_free(&src);
        }
    }
    /* reverse edges and a topological order (Kahn), which finds cycles */
    uint32_t *indeg = cl_calloc(t->ntasks, sizeof(uint32_t) * 2);
    t->topo = wf__arena_alloc(p->a, sizeof(uint32_t) * t->ntasks);
    if (indeg == NULL || t->topo == NULL) {
        cl_free(indeg);
        wf__oom(p);
        goto out;
    }
    uint32_t *cntd = indeg + t->ntasks;
    for (uint32_t i = 0; i < t->ntasks; i++)
        for (uint32_t j = 0; j < t->tasks[i].ndeps; j++)
            cntd[t->tasks[i].deps[j]]++;
    for (uint32_t i = 0; i < t->ntasks; i++) {
        if (cntd[i] > 0) {
            t->tasks[i].dependents =
                wf__arena_alloc(p->a, sizeof(uint32_t) * cntd[i]);
            if (t->tasks[i].dependents == NULL) {
                cl_free(indeg);
                wf__oom(p);
                goto out;
            }
        }
    }
    for (uint32_t i = 0; i < t->ntasks; i++) {
        indeg[i] = t->tasks[i].ndeps;
        for (uint32_t j = 0; j < t->tasks[i].ndeps; j++) {
            wf__step *d = &t->tasks[t->tasks[i].deps[j]];
            d->dependents[d->ndependents++] = i;
        }
    }
    uint32_t head = 0, tail = 0;
    for (uint32_t i = 0; i < t->ntasks; i++)
        if (indeg[i] == 0)
            t->topo[tail++] = i;
    while (head < tail) {
        wf__step *s = &t->tasks[t->topo[head++]];
        for (uint32_t j = 0; j < s->ndependents; j++)
            if (--indeg[s->dependents[j]] == 0)
                t->topo[tail++] = s->dependents[j];
    }
    if (tail < t->ntasks) {
        /* name the tasks of the cycle: follow unresolved dependencies */
        uint32_t start = WF_NONE;
        for (uint32_t i = 0; i < t->ntasks && start == WF_NONE; i++)
            if (indeg[i] > 0)
                start = i;
        uint32_t *visited = cl_calloc(t->ntasks, sizeof(uint32_t));
        cl_buf msg = CL_BUF_INIT;
        uint32_t cur = start;
        uint32_t step = 1;
        while (visited != NULL && visited[cur] == 0) {
            visited[cur] = step++;
            uint32_t next = WF_NONE;
            for (uint32_t j = 0; j < t->tasks[cur].ndeps; j++)
                if (indeg[t->tasks[cur].deps[j]] > 0) {
                    next = t->tasks[cur].deps[j];
                    break;
                }
            if (next == WF_NONE)
                break;
            cur = next;
        }
        /* cur is on the cycle: print it from there */
        uint32_t c0 = cur;
        cl_buf_puts(&msg, t->tasks[c0].name);
        for (uint32_t guard = 0; guard <= t->ntasks; guard++) {
            uint32_t next = WF_NONE;
            for (uint32_t j = 0; j < t->tasks[cur].ndeps; j++)
                if (indeg[t->tasks[cur].deps[j]] > 0) {
                    next = t->tasks[cur].deps[j];
                    break;
                }
            if (next == WF_NONE)
                break;
            cl_buf_printf(&msg, " -> %s", t->tasks[next].name);
            cur = next;
            if (cur == c0)
                break;
        }
        cl_free(visited);
        cl_free(indeg);
        wf__perr(p, taskn[c0], "dependency cycle in template '%s': %s",
                 t->name ? t->name : "(inline)",
                 cl_buf_ok(&msg) && msg.data ? msg.data : "?");
        cl_buf_free(&msg);
        goto out;
    }
    cl_free(indeg);
out:
    cl_free(scratch);
    cl_free(seen);
    cl_free(depn);
    return p->rv;
}

static int wf__parse_steps(wf__p *p, struct fy_node *n, wf__tmpl *t)
{
    if (!wf__is_seq(p, n, "steps"))
        return p->rv;
    int cnt = fy_node_sequence_item_count(n);
    t->groups = wf__arena_alloc(p->a, sizeof(wf__group) * (cnt + 1));
    if (t->groups == NULL)
        return wf__oom(p);
    void *it = NULL;
    struct fy_node *g;
    while ((g = fy_node_sequence_iterate(n, &it)) != NULL && p->rv == 0) {
        if (wf__is_null(g))
            continue;
        wf__group *grp = &t->groups[t->ngroups];
        /* a single step written without the inner list is accepted too */
        if (fy_node_is_mapping(g)) {
            grp->steps = wf__arena_alloc(p->a, sizeof(wf__step));
            if (grp->steps == NULL)
                return wf__oom(p);
            grp->steps[0].group = t->ngroups;
            if (wf__parse_step(p, g, &grp->steps[0], t, false, NULL, NULL))
                return p->rv;
            grp->nsteps = 1;
        } else {
            if (!wf__is_seq(p, g, "steps group"))
                return p->rv;
            int sc = fy_node_sequence_item_count(g);
            if (sc == 0)
                continue;
            grp->steps = wf__arena_alloc(p->a, sizeof(wf__step) * sc);
            if (grp->steps == NULL)
                return wf__oom(p);
            void *i2 = NULL;
            struct fy_node *s;
            while ((s = fy_node_sequence_iterate(g, &i2)) != NULL) {
                wf__step *st = &grp->steps[grp->nsteps];
                st->group = t->ngroups;
                if (wf__parse_step(p, s, st, t, false, NULL, NULL) != 0)
                    return p->rv;
                grp->nsteps++;
            }
        }
        t->ngroups++;
    }
    if (p->rv != 0)
        return p->rv;
    /* names are unique within the template */
    const wf__step *dup = wf__tmpl_index(p, t);
    if (dup != NULL)
        return wf__perr_at(p, dup->line, dup->col,
                           "step name '%s' is not unique in template '%s'",
                           dup->name, t->name ? t->name : "(inline)");
    return p->rv;
}

static const char *const wf__tmpl_ignored[] = {
    "podSpecPatch", "serviceAccountName", "metrics", "tolerations",
    "affinity", "securityContext", "priorityClassName", "schedulerName",
    "hostAliases", "automountServiceAccountToken", "executor",
    "archiveLocation", "artifactGC", "priority", "imagePullSecrets",
    "dnsConfig", "dnsPolicy", "podGC", NULL,
};

/* parse one field of a template; `n` is the template mapping, `defaults`
 * the templateDefaults mapping when this field comes from there. */
static int wf__tmpl_field(wf__p *p, wf__tmpl *t, const char *k,
                          struct fy_node *kn, struct fy_node *v,
                          bool is_inline, int *kinds)
{
    if (!strcmp(k, "name")) {
        if (!is_inline)
            t->name = wf__str(p, v, "template name");
    } else if (!strcmp(k, "container") || !strcmp(k, "script")) {
        bool script = k[0] == 's';
        struct fy_node *dflt = p->defaults
                                   ? wf__ylookup(p->defaults, k)
                                   : NULL;
        if (dflt == v)
            dflt = NULL;
        t->kind = script ? WF__T_SCRIPT : WF__T_CONTAINER;
        (*kinds)++;
        wf__parse_container(p, v, t, script, dflt);
    } else if (!strcmp(k, "steps")) {
        t->kind = WF__T_STEPS;
        (*kinds)++;
        wf__parse_steps(p, v, t);
    } else if (!strcmp(k, "dag")) {
        t->kind = WF__T_DAG;
        (*kinds)++;
        wf__parse_dag(p, v, t);
    } else if (wf__in(k, wf__kinds_refused)) {
        return wf__perr(p, kn,
                        "template '%s': '%s' templates are not supported "
                        "(container, script, steps and dag are)",
                        t->name ? t->name : "(inline)", k);
    } else if (!strcmp(k, "inputs")) {
        wf__parse_args(p, v, &t->inputs, 1, t, "inputs");
    } else if (!strcmp(k, "outputs")) {
        wf__parse_args(p, v, &t->outputs, 2, t, "outputs");
    } else if (!strcmp(k, "retryStrategy")) {
        wf__parse_retry(p, v, &t->retry);
    } else if (!strcmp(k, "activeDeadlineSeconds")) {
        t->active_deadline = wf__ostr(p, v, "activeDeadlineSeconds");
        wf__chk_add(p, t->active_deadline, v, t, NULL, WF__W_BODY);
    } else if (!strcmp(k, "timeout")) {
        t->timeout = wf__ostr(p, v, "timeout");
        wf__chk_add(p, t->timeout, v, t, NULL, WF__W_BODY);
    } else if (!strcmp(k, "parallelism")) {
        t->parallelism = wf__ostr(p, v, "parallelism");
    } else if (!strcmp(k, "failFast")) {
        t->fail_fast = wf__bool(p, v, "failFast");
    } else if (!strcmp(k, "memoize")) {
        if (!wf__is_map(p, v, "memoize"))
            return p->rv;
        t->memo = wf__arena_alloc(p->a, sizeof(wf__memo));
        if (t->memo == NULL)
            return wf__oom(p);
        void *i2 = NULL;
        struct fy_node_pair *p2;
        while ((p2 = fy_node_mapping_iterate(v, &i2)) != NULL && p->rv == 0) {
            struct fy_node *kn2;
            const char *k2 = wf__key(p2, &kn2);
            struct fy_node *v2 = fy_node_pair_value(p2);
            if (k2 != NULL && !strcmp(k2, "key")) {
                t->memo->key = wf__str(p, v2, "memoize.key");
                wf__chk_add(p, t->memo->key, v2, t, NULL, WF__W_BODY);
            } else if (k2 != NULL && !strcmp(k2, "maxAge")) {
                t->memo->max_age = wf__ostr(p, v2, "memoize.maxAge");
                int64_t ms;
                if (t->memo->max_age && t->memo->max_age[0] &&
                    cl_duration_parse(t->memo->max_age, &ms) != 0)
                    return wf__perr(p, v2, "memoize.maxAge: expected a "
                                           "duration like \"10s\", got '%s'",
                                    t->memo->max_age);
            } else if (k2 != NULL && !strcmp(k2, "cache")) {
                struct fy_node *cm =
                    fy_node_is_mapping(v2)
                        ? wf__ylookup(v2, "configMap")
                        : NULL;
                struct fy_node *nm =
                    cm && fy_node_is_mapping(cm)
                        ? wf__ylookup(cm, "name")
                        : NULL;
                if (nm == NULL)
                    return wf__perr(p, v2, "memoize.cache: expected "
                                           "configMap.name");
                t->memo->cache = wf__str(p, nm, "memoize.cache.configMap.name");
            } else {
                return wf__perr(p, kn2, "unknown field '%s' in memoize",
                                k2 ? k2 : "?");
            }
        }
        if (p->rv == 0 && t->memo->key == NULL)
            return wf__perr(p, v, "memoize: 'key' is required");
        if (p->rv == 0 && t->memo->cache == NULL)
            return wf__perr(p, v, "memoize: 'cache.configMap.name' is "
                                  "required");
    } else if (!strcmp(k, "synchronization")) {
        wf__parse_sync(p, v, &t->mutexes, &t->nmutexes);
    } else if (!strcmp(k, "nodeSelector")) {
        wf__kvmap(p, v, "nodeSelector", &t->node_selector, t);
    } else if (!strcmp(k, "metadata")) {
        if (wf__is_null(v))
            return 0;
        if (!wf__is_map(p, v, "metadata"))
            return p->rv;
        void *i2 = NULL;
        struct fy_node_pair *p2;
        while ((p2 = fy_node_mapping_iterate(v, &i2)) != NULL && p->rv == 0) {
            struct fy_node *kn2;
            const char *k2 = wf__key(p2, &kn2);
            if (k2 != NULL && !strcmp(k2, "annotations"))
                wf__kvmap(p, fy_node_pair_value(p2), "metadata.annotations",
                          &t->annotations, t);
            else if (k2 != NULL && !strcmp(k2, "labels"))
                wf__pwarn(p, kn2, "metadata.labels");
            else
                return wf__perr(p, kn2, "unknown field '%s' in metadata",
                                k2 ? k2 : "?");
        }
    } else if (!strcmp(k, "annotations")) {
        /* not an Argo field, but seen in its examples: treated like
         * metadata.annotations */
        if (t->annotations.n == 0)
            wf__kvmap(p, v, "annotations", &t->annotations, t);
    } else if (!strcmp(k, "volumes") || !strcmp(k, "sidecars") ||
               !strcmp(k, "initContainers")) {
        return wf__perr(p, kn,
                        "template '%s': %s are not supported on a host",
                        t->name ? t->name : "(inline)", k);
    } else if (!strcmp(k, "daemon")) {
        if (wf__bool(p, v, "daemon"))
            return wf__perr(p, kn, "daemon templates are not supported");
    } else if (wf__in(k, wf__tmpl_ignored)) {
        wf__pwarn(p, kn, k);
    } else {
        return wf__perr(p, kn, "unknown field '%s' in template '%s'", k,
                        t->name ? t->name : "(inline)");
    }
    return p->rv;
}

static int wf__parse_tmpl_body(wf__p *p, struct fy_node *n, wf__tmpl *t,
                               bool is_inline)
{
    if (!wf__is_map(p, n, is_inline ? "inline" : "template"))
        return p->rv;
    wf__yaml_pos(n, &t->line, &t->col);
    t->kind = WF__T_CONTAINER;
    int kinds = 0;
    if (!is_inline) {
        struct fy_node *nm = wf__ylookup(n, "name");
        if (nm == NULL)
            return wf__perr(p, n, "template: 'name' is required");
        t->name = wf__str(p, nm, "template name");
        if (t->name == NULL)
            return p->rv;
    }
    /* the template's own fields, then templateDefaults for absent ones */
    for (int pass = 0; pass < 2 && p->rv == 0; pass++) {
        struct fy_node *m = pass == 0 ? n : p->defaults;
        if (m == NULL)
            continue;
        void *it = NULL;
        struct fy_node_pair *pr;
        while ((pr = fy_node_mapping_iterate(m, &it)) != NULL && p->rv == 0) {
            struct fy_node *kn;
            const char *k = wf__key(pr, &kn);
            if (k == NULL)
                return wf__perr(p, kn, "template: expected string keys");
            if (pass == 1) {
                if (wf__ylookup(n, k) != NULL)
                    continue;
                /* the kind of a template is its own */
                if (!strcmp(k, "container") || !strcmp(k, "script") ||
                    !strcmp(k, "steps") || !strcmp(k, "dag") ||
                    !strcmp(k, "name") || !strcmp(k, "inputs") ||
                    !strcmp(k, "outputs"))
                    continue;
            }
            wf__tmpl_field(p, t, k, kn, fy_node_pair_value(pr), is_inline,
                           &kinds);
        }
    }
    if (p->rv != 0)
        return p->rv;
    if (kinds == 0)
        return wf__perr(p, n,
                        "template '%s': one of container, script, steps or "
                        "dag is required", t->name ? t->name : "(inline)");
    if (kinds > 1)
        return wf__perr(p, n, "template '%s': more than one template type is "
                              "defined", t->name ? t->name : "(inline)");
    if (t->kind == WF__T_STEPS && t->ngroups == 0)
        return wf__perr(p, n, "template '%s': steps has no step",
                        t->name ? t->name : "(inline)");
    if (t->parallelism != NULL) {
        char *end = NULL;
        long v = strtol(t->parallelism, &end, 10);
        if (end == t->parallelism || *end != '\0' || v < 0)
            return wf__perr(p, n, "template '%s': parallelism: expected a "
                                  "non-negative integer",
                            t->name ? t->name : "(inline)");
    }
    return 0;
}

/* ---- variable checks ----------------------------------------------------- */

static bool wf__tmpl_has_input(const wf__tmpl *t, const char *name, size_t len,
                               bool art)
{
    if (t == NULL)
        return false;
    uint32_t n = art ? t->inputs.narts : t->inputs.nparams;
    for (uint32_t i = 0; i < n; i++) {
        const char *nm = art ? t->inputs.arts[i].name : t->inputs.params[i].name;
        if (strlen(nm) == len && !memcmp(nm, name, len))
            return true;
    }
    return false;
}

static bool wf__tmpl_has_output(const wf__tmpl *t, const char *name,
                                size_t len, bool art)
{
    uint32_t n = art ? t->outputs.narts : t->outputs.nparams;
    for (uint32_t i = 0; i < n; i++) {
        const char *nm =
            art ? t->outputs.arts[i].name : t->outputs.params[i].name;
        if (strlen(nm) == len && !memcmp(nm, name, len))
            return true;
    }
    return false;
}

static bool wf__tmpl_has_step(const wf__tmpl *t, const char *name, size_t len)
{
    return wf__tmpl_step(t, name, len) != NULL;
}

static bool wf__seg(const char *s, size_t len, const char *prefix,
                    const char **rest, size_t *rlen)
{
    size_t pl = strlen(prefix);
    if (len < pl || memcmp(s, prefix, pl) != 0)
        return false;
    *rest = s + pl;
    *rlen = len - pl;
    return true;
}

/* The name segment at the start of s (up to '.'). */
static size_t wf__name_len(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && s[i] != '.')
        i++;
    return i;
}

static int wf__check_tag(wf__p *p, const wf__chk *c, const char *tag,
                         size_t len)
{
    const char *r;
    size_t rl;
    wf__tmpl *t = c->t;
    /* only variable-like tags are checked; others fail at run time */
    for (size_t i = 0; i < len; i++) {
        char ch = tag[i];
        if (!(isalnum((unsigned char)ch) || ch == '.' || ch == '-' ||
              ch == '_'))
            return 0;
    }
    if (len == 0)
        return 0;
    if (wf__seg(tag, len, "inputs.parameters.", &r, &rl)) {
        if (!wf__tmpl_has_input(t, r, rl, false))
            goto fail;
        return 0;
    }
    if (wf__seg(tag, len, "inputs.artifacts.", &r, &rl)) {
        size_t nl = wf__name_len(r, rl);
        if (!wf__tmpl_has_input(t, r, nl, true))
            goto fail;
        return 0;
    }
    if (wf__seg(tag, len, "outputs.parameters.", &r, &rl) ||
        wf__seg(tag, len, "outputs.artifacts.", &r, &rl)) {
        bool art = tag[8] == 'a';
        size_t nl = wf__name_len(r, rl);
        if (!wf__tmpl_has_output(t, r, nl, art))
            goto fail;
        return 0;
    }
    if (wf__seg(tag, len, "steps.", &r, &rl)) {
        size_t nl = wf__name_len(r, rl);
        if (nl == rl && nl == 4 && !memcmp(r, "name", 4))
            return 0;
        if (t == NULL || t->kind != WF__T_STEPS || !wf__tmpl_has_step(t, r, nl))
            goto fail;
        return 0;
    }
    if (wf__seg(tag, len, "tasks.", &r, &rl)) {
        size_t nl = wf__name_len(r, rl);
        if (nl == rl && nl == 4 && !memcmp(r, "name", 4))
            return 0;
        if (t == NULL || t->kind != WF__T_DAG ||
            wf__task_index(t, r, nl) == WF_NONE)
            goto fail;
        return 0;
    }
    if (wf__seg(tag, len, "workflow.parameters.", &r, &rl)) {
        if (rl == 4 && !memcmp(r, "json", 4))
            return 0;
        for (uint32_t i = 0; i < p->s->nparams; i++)
            if (strlen(p->s->params[i].name) == rl &&
                !memcmp(p->s->params[i].name, r, rl))
                return 0;
        goto fail;
    }
    if ((len == 4 && !memcmp(tag, "item", 4)) ||
        wf__seg(tag, len, "item.", &r, &rl)) {
        /* an item is in scope in a looping step, or inside an inline
         * template that such a step runs */
        return 0;
    }
    static const char *const roots[] = {
        "inputs.parameters", "workflow.", "pod.name", "node.name", "retries",
        "lastRetry.", "steps.name", "tasks.name", NULL,
    };
    for (size_t i = 0; roots[i] != NULL; i++) {
        size_t l = strlen(roots[i]);
        if (len >= l && !memcmp(tag, roots[i], l))
            return 0;
    }
fail:
    return wf__perr_at(p, c->line, c->col, "failed to resolve {{%.*s}}",
                       (int)len, tag);
}

static int wf__check_refs(wf__p *p)
{
    for (size_t i = 0; i < p->nchk && p->rv == 0; i++) {
        const wf__chk *c = &p->chk[i];
        const char *s = c->s;
        while ((s = strstr(s, "{{")) != NULL && p->rv == 0) {
            const char *e = strstr(s + 2, "}}");
            if (e == NULL)
                break;
            const char *b = s + 2;
            while (b < e && isspace((unsigned char)*b))
                b++;
            const char *q = e;
            while (q > b && isspace((unsigned char)q[-1]))
                q--;
            if (b < q && *b != '=')
                wf__check_tag(p, c, b, (size_t)(q - b));
            s = e + 2;
        }
    }
    return p->rv;
}

/* ---- resolution of template references ----------------------------------- */

wf__tmpl *wf__spec_find_tmpl(const wf_spec *s, const char *name)
{
    if (name == NULL)
        return NULL;
    for (uint32_t i = 0; i < s->nnamed; i++)
        if (s->tmpls[i]->name != NULL && !strcmp(s->tmpls[i]->name, name))
            return s->tmpls[i];
    return NULL;
}

static int wf__resolve_refs(wf__p *p)
{
    p->s->tmpls = p->tmpls;
    p->s->ntmpls = p->ntmpls;
    for (uint32_t ti = 0; ti < p->ntmpls && p->rv == 0; ti++) {
        wf__tmpl *t = p->tmpls[ti];
        uint32_t ng = t->kind == WF__T_STEPS ? t->ngroups : 1;
        for (uint32_t g = 0; g < ng && p->rv == 0; g++) {
            wf__step *steps = t->kind == WF__T_STEPS ? t->groups[g].steps
                                                     : t->tasks;
            uint32_t n = t->kind == WF__T_STEPS ? t->groups[g].nsteps
                       : t->kind == WF__T_DAG   ? t->ntasks
                                                : 0;
            for (uint32_t i = 0; i < n && p->rv == 0; i++) {
                wf__step *st = &steps[i];
                if (st->tmpl == NULL) {
                    st->tmpl = wf__spec_find_tmpl(p->s, st->template_name);
                    if (st->tmpl == NULL)
                        return wf__perr_at(p, st->line, st->col,
                                           "%s '%s': template '%s' not found",
                                           t->kind == WF__T_DAG ? "task"
                                                                : "step",
                                           st->name, st->template_name);
                }
                if (st->exit_hook != NULL && st->exit_hook->tmpl == NULL) {
                    st->exit_hook->tmpl =
                        wf__spec_find_tmpl(p->s, st->exit_hook->template_name);
                    if (st->exit_hook->tmpl == NULL)
                        return wf__perr_at(p, st->line, st->col,
                                           "%s '%s': exit hook template '%s' "
                                           "not found",
                                           t->kind == WF__T_DAG ? "task"
                                                                : "step",
                                           st->name,
                                           st->exit_hook->template_name);
                }
            }
        }
    }
    return p->rv;
}

/* ---- top level ----------------------------------------------------------- */

static const char *const wf__spec_ignored[] = {
    "podGC", "metrics", "podSpecPatch", "podMetadata", "imagePullSecrets",
    "dnsConfig", "dnsPolicy", "securityContext", "tolerations", "affinity",
    "archiveLogs", "volumeClaimGC", "podDisruptionBudget", "hostNetwork",
    "priorityClassName", "podPriorityClassName", "podPriority",
    "schedulerName", "executor", "artifactGC",
    "automountServiceAccountToken", "hostAliases", "archiveLocation", NULL,
};

static int wf__parse_spec(wf__p *p, struct fy_node *spec)
{
    wf_spec *s = p->s;
    struct fy_node *templates = NULL;
    if (!wf__is_map(p, spec, "spec"))
        return p->rv;
    p->defaults = wf__ylookup(spec, "templateDefaults");
    if (p->defaults != NULL && !wf__is_null(p->defaults) &&
        !wf__is_map(p, p->defaults, "templateDefaults"))
        return p->rv;
    if (wf__is_null(p->defaults))
        p->defaults = NULL;
    void *it = NULL;
    struct fy_node_pair *pr;
    struct fy_node *onexit = NULL, *hooks = NULL, *retry = NULL;
    while ((pr = fy_node_mapping_iterate(spec, &it)) != NULL && p->rv == 0) {
        struct fy_node *kn;
        const char *k = wf__key(pr, &kn);
        struct fy_node *v = fy_node_pair_value(pr);
        if (k == NULL)
            return wf__perr(p, kn, "spec: expected string keys");
        if (!strcmp(k, "entrypoint")) {
            s->entrypoint = wf__str(p, v, "entrypoint");
        } else if (!strcmp(k, "templates")) {
            templates = v;
        } else if (!strcmp(k, "arguments")) {
            wf__args a;
            wf__parse_args(p, v, &a, 3, NULL, "arguments");
            s->params = a.params;
            s->nparams = a.nparams;
            s->arts = a.arts;
            s->narts = a.narts;
        } else if (!strcmp(k, "onExit")) {
            onexit = v;
        } else if (!strcmp(k, "hooks")) {
            hooks = v;
        } else if (!strcmp(k, "parallelism")) {
            s->parallelism = wf__ostr(p, v, "parallelism");
        } else if (!strcmp(k, "activeDeadlineSeconds")) {
            s->active_deadline = wf__ostr(p, v, "activeDeadlineSeconds");
        } else if (!strcmp(k, "priority")) {
            s->priority = wf__ostr(p, v, "priority");
        } else if (!strcmp(k, "serviceAccountName")) {
            s->service_account = wf__ostr(p, v, "serviceAccountName");
            wf__pwarn(p, kn, k);
        } else if (!strcmp(k, "synchronization")) {
            wf__parse_sync(p, v, &s->mutexes, &s->nmutexes);
        } else if (!strcmp(k, "templateDefaults")) {
            /* merged into each template */
        } else if (!strcmp(k, "retryStrategy")) {
            retry = v;
        } else if (!strcmp(k, "nodeSelector")) {
            wf__kvmap(p, v, "nodeSelector", &s->node_selector, NULL);
        } else if (!strcmp(k, "ttlStrategy")) {
            wf__pwarn(p, kn, k);
            if (fy_node_is_mapping(v)) {
                const char *names[] = {"secondsAfterCompletion",
                                       "secondsAfterSuccess",
                                       "secondsAfterFailure"};
                int64_t *dst[] = {&s->ttl_after_completion_s,
                                  &s->ttl_after_success_s,
                                  &s->ttl_after_failure_s};
                for (int i = 0; i < 3; i++) {
                    struct fy_node *x =
                        wf__ylookup(v, names[i]);
                    const char *xs = x && fy_node_is_scalar(x)
                                         ? wf__yscalar0(x)
                                         : NULL;
                    if (xs != NULL)
                        *dst[i] = strtoll(xs, NULL, 10);
                }
            }
        } else if (!strcmp(k, "workflowMetadata")) {
            wf__pwarn(p, kn, k);
            struct fy_node *lf =
                fy_node_is_mapping(v)
                    ? wf__ylookup(v, "labelsFrom")
                    : NULL;
            if (lf != NULL && fy_node_is_mapping(lf)) {
                s->labels_from = wf__yaml_to_json(lf);
                if (s->labels_from == NULL)
                    return wf__oom(p);
            }
        } else if (!strcmp(k, "volumes") ||
                   !strcmp(k, "volumeClaimTemplates")) {
            return wf__perr(p, kn, "spec.%s is not supported on a host", k);
        } else if (!strcmp(k, "artifactRepositoryRef")) {
            return wf__perr(p, kn, "artifactRepositoryRef is not supported: "
                                   "artifacts stay inside the cluster");
        } else if (!strcmp(k, "workflowTemplateRef")) {
            return wf__perr(p, kn, "workflowTemplateRef needs "
                                   "WorkflowTemplates, which are not "
                                   "supported");
        } else if (!strcmp(k, "suspend")) {
            return wf__perr(p, kn, "spec.suspend is not supported");
        } else if (wf__in(k, wf__spec_ignored)) {
            wf__pwarn(p, kn, k);
        } else {
            return wf__perr(p, kn, "unknown field '%s' in spec", k);
        }
    }
    if (p->rv != 0)
        return p->rv;
    /* templates */
    if (templates == NULL || !fy_node_is_sequence(templates) ||
        fy_node_sequence_item_count(templates) == 0)
        return wf__perr(p, templates ? templates : spec,
                        "spec.templates: at least one template is required");
    it = NULL;
    struct fy_node *tn;
    while ((tn = fy_node_sequence_iterate(templates, &it)) != NULL &&
           p->rv == 0) {
        wf__tmpl *t = wf__tmpl_push(p);
        if (t == NULL)
            return p->rv;
        /* named templates first: inline ones created while parsing this
         * template are moved behind */
        uint32_t before = p->ntmpls;
        if (wf__parse_tmpl_body(p, tn, t, false) != 0)
            return p->rv;
        (void)before;
        for (uint32_t i = 0; i + 1 < p->ntmpls; i++)
            if (p->tmpls[i]->name && !strcmp(p->tmpls[i]->name, t->name) &&
                p->tmpls[i] != t)
                return wf__perr(p, tn, "template name '%s' is not unique",
                                t->name);
    }
    /* keep named templates first for lookups */
    uint32_t w = 0;
    wf__tmpl **sorted = cl_malloc(sizeof(*sorted) * (p->ntmpls + 1));
    if (sorted == NULL)
        return wf__oom(p);
    for (uint32_t i = 0; i < p->ntmpls; i++)
        if (p->tmpls[i]->name != NULL)
            sorted[w++] = p->tmpls[i];
    s->nnamed = w;
    for (uint32_t i = 0; i < p->ntmpls; i++)
        if (p->tmpls[i]->name == NULL)
            sorted[w++] = p->tmpls[i];
    cl_free(p->tmpls);
    p->tmpls = sorted;
    p->captmpls = p->ntmpls + 1;
    for (uint32_t i = 0; i < p->ntmpls; i++)
        p->tmpls[i]->index = i;
    s->tmpls = p->tmpls;
    s->ntmpls = p->ntmpls;
    /* spec-level retryStrategy applies to templates without their own */
    if (retry != NULL) {
        wf__retry *r = NULL;
        if (wf__parse_retry(p, retry, &r) != 0)
            return p->rv;
        for (uint32_t i = 0; i < p->ntmpls; i++)
            if (p->tmpls[i]->retry == NULL)
                p->tmpls[i]->retry = r;
    }
    /* exit handler */
    if (onexit != NULL && !wf__is_null(onexit)) {
        s->on_exit = wf__arena_alloc(p->a, sizeof(wf__hook));
        if (s->on_exit == NULL)
            return wf__oom(p);
        s->on_exit->template_name = wf__str(p, onexit, "onExit");
    }
    if (hooks != NULL && !wf__is_null(hooks)) {
        wf__hook *h = NULL;
        if (wf__parse_hooks(p, hooks, &h, NULL, NULL) != 0)
            return p->rv;
        if (h != NULL && s->on_exit != NULL)
            return wf__perr(p, hooks, "both spec.onExit and spec.hooks.exit "
                                      "are set");
        if (h != NULL)
            s->on_exit = h;
    }
    if (wf__resolve_refs(p) != 0)
        return p->rv;
    if (s->on_exit != NULL && s->on_exit->tmpl == NULL) {
        s->on_exit->tmpl = wf__spec_find_tmpl(s, s->on_exit->template_name);
        if (s->on_exit->tmpl == NULL)
            return wf__perr(p, onexit ? onexit : hooks,
                            "onExit: template '%s' not found",
                            s->on_exit->template_name);
    }
    if (s->entrypoint != NULL && wf__spec_find_tmpl(s, s->entrypoint) == NULL)
        return wf__perr(p, wf__ylookup(spec, "entrypoint"),
                        "entrypoint template '%s' not found", s->entrypoint);
    const char *ints[] = {s->parallelism, s->active_deadline, s->priority};
    const char *names[] = {"parallelism", "activeDeadlineSeconds", "priority"};
    for (int i = 0; i < 3; i++) {
        if (ints[i] == NULL)
            continue;
        char *end = NULL;
        long long v = strtoll(ints[i], &end, 10);
        if (end == ints[i] || *end != '\0' || (i < 2 && v < 0))
            return wf__perr(p, wf__ylookup(spec, names[i]),
                            "spec.%s: expected an integer, got '%s'",
                            names[i], ints[i]);
    }
    return wf__check_refs(p);
}

static int wf__parse_doc(wf__p *p, struct fy_node *root)
{
    wf_spec *s = p->s;
    if (root == NULL || !fy_node_is_mapping(root))
        return wf__perr(p, root, "expected a Workflow mapping");
    struct fy_node *spec = NULL, *meta = NULL;
    const char *kind = NULL, *api = NULL;
    void *it = NULL;
    struct fy_node_pair *pr;
    while ((pr = fy_node_mapping_iterate(root, &it)) != NULL && p->rv == 0) {
        struct fy_node *kn;
        const char *k = wf__key(pr, &kn);
        struct fy_node *v = fy_node_pair_value(pr);
        if (k == NULL)
            return wf__perr(p, kn, "expected string keys");
        if (!strcmp(k, "apiVersion"))
            api = wf__str(p, v, "apiVersion");
        else if (!strcmp(k, "kind"))
            kind = wf__str(p, v, "kind");
        else if (!strcmp(k, "metadata"))
            meta = v;
        else if (!strcmp(k, "spec"))
            spec = v;
        else if (!strcmp(k, "status"))
            ; /* a status written by a previous run is not input */
        else
            return wf__perr(p, kn, "unknown field '%s' in Workflow", k);
    }
    if (p->rv != 0)
        return p->rv;
    if (kind == NULL || strcmp(kind, "Workflow") != 0) {
        struct fy_node *kn = wf__ylookup(root, "kind");
        return wf__perr(p, kn ? kn : root,
                        "kind: expected Workflow, got '%s'",
                        kind ? kind : "(none)");
    }
    if (api == NULL || strncmp(api, "argoproj.io/", 12) != 0) {
        struct fy_node *an = wf__ylookup(root, "apiVersion");
        return wf__perr(p, an ? an : root,
                        "apiVersion: expected argoproj.io/v1alpha1, got '%s'",
                        api ? api : "(none)");
    }
    if (meta == NULL)
        return wf__perr(p, root, "metadata: name or generateName is required");
    if (!wf__is_map(p, meta, "metadata"))
        return p->rv;
    it = NULL;
    while ((pr = fy_node_mapping_iterate(meta, &it)) != NULL && p->rv == 0) {
        struct fy_node *kn;
        const char *k = wf__key(pr, &kn);
        struct fy_node *v = fy_node_pair_value(pr);
        if (k == NULL)
            return wf__perr(p, kn, "metadata: expected string keys");
        if (!strcmp(k, "name")) {
            s->name = wf__str(p, v, "metadata.name");
        } else if (!strcmp(k, "generateName")) {
            s->generate_name = wf__str(p, v, "metadata.generateName");
        } else if (!strcmp(k, "labels") || !strcmp(k, "annotations")) {
            if (wf__is_null(v))
                continue;
            if (!wf__is_map(p, v, k))
                return p->rv;
            json_t *j = wf__yaml_to_json(v);
            if (j == NULL)
                return wf__oom(p);
            /* values are strings in Kubernetes */
            const char *jk;
            json_t *jv;
            json_object_foreach(j, jk, jv)
            {
                if (!json_is_string(jv)) {
                    wf__perr(p, v, "metadata.%s: values must be strings "
                                   "(quote '%s')", k, jk);
                    json_decref(j);
                    return p->rv;
                }
            }
            if (k[0] == 'l') {
                json_decref(s->labels);
                s->labels = j;
            } else {
                json_decref(s->annotations);
                s->annotations = j;
            }
        } else if (!strcmp(k, "namespace") || !strcmp(k, "uid") ||
                   !strcmp(k, "resourceVersion") ||
                   !strcmp(k, "creationTimestamp") ||
                   !strcmp(k, "generation") || !strcmp(k, "finalizers") ||
                   !strcmp(k, "ownerReferences") ||
                   !strcmp(k, "managedFields")) {
            wf__pwarn(p, kn, k);
        } else {
            return wf__perr(p, kn, "unknown field '%s' in metadata", k);
        }
    }
    if (p->rv != 0)
        return p->rv;
    if (s->name == NULL && s->generate_name == NULL)
        return wf__perr(p, meta, "metadata: name or generateName is required");
    if (spec == NULL)
        return wf__perr(p, root, "spec is required");
    return wf__parse_spec(p, spec);
}

int wf_parse(const char *text, size_t len, const char *filename,
             wf_spec **out, wf_diag *diag)
{
    if (filename == NULL)
        filename = "<input>";
    *out = NULL;
    wf_spec *s = cl_calloc(1, sizeof(*s));
    if (s == NULL) {
        if (diag)
            cl_errmsg_set(&diag->err, "%s: out of memory", filename);
        return CL_ENOMEM;
    }
    s->refs = 1;
    s->ttl_after_completion_s = s->ttl_after_success_s =
        s->ttl_after_failure_s = -1;
    wf__arena_init(&s->arena);
    s->keep = json_array();
    if (s->keep == NULL) {
        cl_free(s);
        if (diag)
            cl_errmsg_set(&diag->err, "%s: out of memory", filename);
        return CL_ENOMEM;
    }
    wf__p p;
    memset(&p, 0, sizeof(p));
    p.s = s;
    p.a = &s->arena;
    p.file = filename;
    p.diag = diag;

    struct fy_document *doc = NULL;
    wf__yerr ye;
    int rv = wf__yaml_load(text, len, &doc, &ye);
    if (rv != 0) {
        if (rv == CL_ENOMEM)
            wf__oom(&p);
        else
            wf__perr_at(&p, ye.line, ye.col, "%s", ye.msg);
        if (rv == CL_EPARSE)
            p.rv = CL_EPARSE;
        goto fail;
    }
    struct fy_node *root = fy_document_root(doc);
    s->text = cl_malloc(len + 1);
    if (s->text == NULL) {
        wf__oom(&p);
        goto fail;
    }
    memcpy(s->text, text, len);
    s->text[len] = '\0';
    s->text_len = len;
    if (wf__parse_doc(&p, root) != 0)
        goto fail;
    fy_document_destroy(doc);
    cl_free(p.chk);
    *out = s;
    return 0;
fail:
    if (doc != NULL)
        fy_document_destroy(doc);
    cl_free(p.chk);
    /* the template array belongs to the parser until success */
    s->tmpls = NULL;
    cl_free(p.tmpls);
    wf_spec_free(s);
    return p.rv ? p.rv : CL_EINVAL;
}

json_t *wf__spec_json(const wf_spec *s)
{
    struct fy_document *doc = NULL;
    wf__yerr ye;
    if (s->text == NULL || wf__yaml_load(s->text, s->text_len, &doc, &ye))
        return NULL;
    json_t *all = wf__yaml_to_json(fy_document_root(doc));
    fy_document_destroy(doc);
    json_t *spec = json_incref(json_object_get(all, "spec"));
    json_decref(all);
    return spec;
}

void wf_spec_ref(wf_spec *s)
{
    s->refs++;
}

void wf_spec_free(wf_spec *s)
{
    if (s == NULL || --s->refs > 0)
        return;
    cl_free(s->text);
    json_decref(s->keep);
    json_decref(s->labels);
    json_decref(s->annotations);
    json_decref(s->labels_from);
    cl_free(s->tmpls);
    wf__arena_free(&s->arena);
    cl_free(s);
}

const char *wf_spec_name(const wf_spec *s)
{
    return s->name;
}

const char *wf_spec_generate_name(const wf_spec *s)
{
    return s->generate_name;
}

const char *wf_spec_entrypoint(const wf_spec *s)
{
    return s->entrypoint;
}

json_t *wf_spec_labels(const wf_spec *s)
{
    return s->labels;
}

json_t *wf_spec_annotations(const wf_spec *s)
{
    return s->annotations;
}

int64_t wf_spec_ttl_seconds(const wf_spec *s, enum wf_phase final)
{
    int64_t v = -1;
    if (final == WF_SUCCEEDED && s->ttl_after_success_s >= 0)
        v = s->ttl_after_success_s;
    else if ((final == WF_FAILED || final == WF_ERROR) &&
             s->ttl_after_failure_s >= 0)
        v = s->ttl_after_failure_s;
    else if (s->ttl_after_completion_s >= 0)
        v = s->ttl_after_completion_s;
    return v;
}

size_t wf_spec_nparams(const wf_spec *s)
{
    return s->nparams;
}

const char *wf_spec_param_name(const wf_spec *s, size_t i)
{
    return i < s->nparams ? s->params[i].name : NULL;
}

void wf_diag_init(wf_diag *d)
{
    cl_errmsg_clear(&d->err);
    d->warnings = NULL;
    d->nwarnings = 0;
}

void wf_diag_free(wf_diag *d)
{
    for (size_t i = 0; i < d->nwarnings; i++)
        cl_free(d->warnings[i]);
    cl_free(d->warnings);
    wf_diag_init(d);
}
