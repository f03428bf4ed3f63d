/* wf_yaml.c - the libfyaml wrapper of the front end.
 *
 * Only this file talks to libfyaml's parser and diagnostics; the rest of
 * the front end walks fy_node trees it returns and asks here for positions
 * and JSON conversions.
 */
#include "workflow/wf_int.h"

#include "common/cl_heap.h"

#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libfyaml reports "<input>:LINE:COL: error: MESSAGE" through the output
 * callback; the first error is kept. (Collecting errors in the diag object
 * leaks them in libfyaml 0.7.12, so the text is parsed instead.) */
static void wf__diag_sink(struct fy_diag *diag, void *user, const char *buf,
                          size_t len)
{
    (void)diag;
    wf__yerr *err = user;
    if (err->msg[0] != '\0' || len == 0)
        return;
    char line[512];
    snprintf(line, sizeof(line), "%.*s", (int)len, buf);
    char *e = strstr(line, ": error: ");
    if (e == NULL)
        return;
    char *msg = e + 9;
    size_t ml = strlen(msg);
    while (ml > 0 && (msg[ml - 1] == '\n' || msg[ml - 1] == ' '))
        msg[--ml] = '\0';
    *e = '\0';
    /* ...:LINE:COL */
    char *c2 = strrchr(line, ':');
    if (c2 != NULL) {
        *c2 = '\0';
        char *c1 = strrchr(line, ':');
        if (c1 != NULL) {
            err->line = atoi(c1 + 1);
            err->col = atoi(c2 + 1);
        }
    }
    snprintf(err->msg, sizeof(err->msg), "%s", msg[0] ? msg : "invalid YAML");
}

int wf__yaml_load(const char *text, size_t len, struct fy_document **out,
                  wf__yerr *err)
{
    err->line = 1;
    err->col = 1;
    err->msg[0] = '\0';
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = wf__diag_sink;
    dcfg.user = err;
    dcfg.colorize = false;
    dcfg.show_source = false;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    if (diag == NULL)
        return CL_ENOMEM;

    struct fy_parse_cfg cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.flags = FYPCF_QUIET | FYPCF_RESOLVE_DOCUMENT |
                FYPCF_DEFAULT_VERSION_AUTO;
    cfg.diag = diag;

    int rv = 0;
    struct fy_document *doc = fy_document_build_from_string(&cfg, text, len);
    if (doc == NULL || fy_diag_got_error(diag)) {
        rv = CL_EPARSE;
        if (err->msg[0] == '\0')
            snprintf(err->msg, sizeof(err->msg), "%s",
                     len == 0 ? "empty document: expected a Workflow"
                              : "invalid YAML");
        if (doc != NULL)
            fy_document_destroy(doc);
        goto out;
    }
    *out = doc;
out:
    fy_diag_unref(diag);
    return rv;
}

void wf__yaml_pos(struct fy_node *n, int *line, int *col)
{
    *line = 0;
    *col = 0;
    int guard = 0;
    while (n != NULL && guard++ < 64) {
        if (fy_node_is_scalar(n)) {
            struct fy_token *t = fy_node_get_scalar_token(n);
            const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
            if (m != NULL) {
                *line = m->line + 1;
                *col = m->column + 1;
            }
            return;
        }
        if (fy_node_is_mapping(n)) {
            void *it = NULL;
            struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
            if (p == NULL)
                break;
            n = fy_node_pair_key(p);
            continue;
        }
        if (fy_node_is_sequence(n)) {
            void *it = NULL;
            n = fy_node_sequence_iterate(n, &it);
            continue;
        }
        break;
    }
}

/* A plain scalar is typed the way a YAML 1.2 core schema (and Kubernetes'
 * YAML-to-JSON conversion, for the usual cases) does: null, booleans,
 * integers and floats; everything else, and every quoted scalar, is a
 * string. */
static json_t *wf__scalar_json(struct fy_node *n)
{
    size_t len = 0;
    const char *s = fy_node_get_scalar(n, &len);
    if (s == NULL)
        return json_string("");
    if (fy_node_get_style(n) != FYNS_PLAIN)
        return json_stringn(s, len);
    char buf[64];
    if (len == 0 || (len == 1 && s[0] == '~') ||
        (len == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) ||
                      !memcmp(s, "NULL", 4))))
        return json_null();
    if ((len == 4 && (!memcmp(s, "true", 4) || !memcmp(s, "True", 4) ||
                      !memcmp(s, "TRUE", 4))))
        return json_true();
    if ((len == 5 && (!memcmp(s, "false", 5) || !memcmp(s, "False", 5) ||
                      !memcmp(s, "FALSE", 5))))
        return json_false();
    if (len < sizeof(buf)) {
        memcpy(buf, s, len);
        buf[len] = '\0';
        const char *p = buf;
        if (*p == '-' || *p == '+')
            p++;
        bool digits = *p != '\0';
        bool isfloat = false;
        for (const char *q = p; *q; q++) {
            if (*q >= '0' && *q <= '9')
                continue;
            if (*q == '.' || *q == 'e' || *q == 'E' ||
                ((*q == '-' || *q == '+') && (q[-1] == 'e' || q[-1] == 'E'))) {
                isfloat = true;
                continue;
            }
            digits = false;
            break;
        }
        if (digits && (p[0] >= '0' && p[0] <= '9')) {
            char *end = NULL;
            if (!isfloat) {
                long long v = strtoll(buf, &end, 10);
                if (end && *end == '\0')
                    return json_integer(v);
            } else {
                double d = strtod(buf, &end);
                if (end && *end == '\0')
                    return json_real(d);
            }
        }
    }
    return json_stringn(s, len);
}

json_t *wf__yaml_to_json(struct fy_node *n)
{
    if (n == NULL)
        return json_null();
    switch (fy_node_get_type(n)) {
    case FYNT_SCALAR:
        return wf__scalar_json(n);
    case FYNT_SEQUENCE: {
        json_t *a = json_array();
        if (a == NULL)
            return NULL;
        void *it = NULL;
        struct fy_node *c;
        while ((c = fy_node_sequence_iterate(n, &it)) != NULL) {
            json_t *v = wf__yaml_to_json(c);
            if (v == NULL || json_array_append_new(a, v) != 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    case FYNT_MAPPING: {
        json_t *o = json_object();
        if (o == NULL)
            return NULL;
        void *it = NULL;
        struct fy_node_pair *p;
        while ((p = fy_node_mapping_iterate(n, &it)) != NULL) {
            struct fy_node *k = fy_node_pair_key(p);
            size_t klen = 0;
            const char *ks = k && fy_node_is_scalar(k)
                                 ? fy_node_get_scalar(k, &klen)
                                 : NULL;
            if (ks == NULL)
                continue;
            json_t *v = wf__yaml_to_json(fy_node_pair_value(p));
            if (v == NULL || json_object_setn_new(o, ks, klen, v) != 0) {
                json_decref(o);
                return NULL;
            }
        }
        return o;
    }
    }
    return json_null();
}
