/* wf_yaml.c - the libfyaml wrapper of the front end.
 *
 * Only this file talks to libfyaml's parser and diagnostics; the rest of
 * the front end walks fy_node trees it returns and asks here for positions
 * and JSON conversions.
 */
#include "workflow/wf_int.h"

#include "common/cl_heap.h"

#include <libfyaml.h>
#include <stdbool.h>
#include <stdint.h>
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

static int wf__yattach(struct fy_document *doc, const char *text,
                       size_t len);

int wf__yaml_load(const char *text, size_t len, struct fy_document **out,
                  wf__yerr *err)
{
    err->line = 1;
    err->col = 1;
    err->msg[0] = '\0';
    /* YAML allows no C0 control character but TAB, LF and CR; refusing
     * them here also keeps libfyaml 0.7.12 away from its scanner loop on a
     * NUL inside a directive. */
    int line = 1, col = 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch == '\n') {
            line++;
            col = 1;
            continue;
        }
        err->line = line;
        err->col = col;
        if ((ch < 0x20 && ch != '\t' && ch != '\r') || ch == 0x7f) {
            snprintf(err->msg, sizeof(err->msg),
                     "control character 0x%02x is not allowed in YAML", ch);
            return CL_EPARSE;
        }
        if (ch == '%' && col == 1) {
            /* %YAML and %TAG are never needed by a Workflow; the directive
             * scanner of libfyaml 0.7.12 can loop on malformed ones */
            snprintf(err->msg, sizeof(err->msg),
                     "YAML directives are not supported");
            return CL_EPARSE;
        }
        if (ch >= 0x80) {
            /* strict UTF-8: the scanner loops on some invalid octets */
            size_t n = (ch & 0xE0) == 0xC0   ? 1
                       : (ch & 0xF0) == 0xE0 ? 2
                       : (ch & 0xF8) == 0xF0 ? 3
                                             : 0;
            bool ok = n > 0;
            uint32_t cp = ch & (0x3F >> n);
            for (size_t k = 1; ok && k <= n; k++) {
                if (i + k >= len ||
                    ((unsigned char)text[i + k] & 0xC0) != 0x80)
                    ok = false;
                else
                    cp = (cp << 6) | ((unsigned char)text[i + k] & 0x3F);
            }
            if (ok && ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
                       (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
                       (cp >= 0xD800 && cp <= 0xDFFF)))
                ok = false;
            if (!ok) {
                snprintf(err->msg, sizeof(err->msg),
                         "invalid UTF-8 byte 0x%02x", ch);
                return CL_EPARSE;
            }
            i += n;
        }
        col++;
    }
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
    if (wf__yattach(doc, text, len) != 0) {
        fy_document_destroy(doc);
        rv = CL_ENOMEM;
        goto out;
    }
    *out = doc;
out:
    fy_diag_unref(diag);
    return rv;
}


/* ---- scalars -------------------------------------------------------------
 * libfyaml 0.7.12 leaks the buffer it builds for a single-quoted scalar with
 * several '' escapes (fy_token_get_text). Such scalars are unescaped here
 * from the source text instead, and the result is kept as the node's meta
 * data, freed with the document. */

#define WF__YMETA_ROOT 0x524f4f54u
#define WF__YMETA_STR 0x53545221u

typedef struct wf__ymeta {
    uint32_t magic;
    size_t len;
    const char *text; /* ROOT: the source */
    size_t text_len;
    char s[];
} wf__ymeta;

static void wf__ymeta_free(struct fy_node *n, void *meta, void *user)
{
    (void)n;
    (void)user;
    free(meta);
}

static int wf__yattach(struct fy_document *doc, const char *text, size_t len)
{
    struct fy_node *root = fy_document_root(doc);
    if (fy_document_register_meta(doc, wf__ymeta_free, NULL) != 0)
        return CL_ENOMEM;
    if (root == NULL || fy_node_is_scalar(root))
        return 0;
    wf__ymeta *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return CL_ENOMEM;
    m->magic = WF__YMETA_ROOT;
    m->text = text;
    m->text_len = len;
    if (fy_node_set_meta(root, m) != 0) {
        free(m);
        return CL_ENOMEM;
    }
    return 0;
}

/* YAML 1.2 single-quoted scalar: '' is a quote, line breaks fold. */
static wf__ymeta *wf__unquote_single(const char *raw, size_t n)
{
    wf__ymeta *m = malloc(sizeof(*m) + n + 1);
    if (m == NULL)
        return NULL;
    memset(m, 0, sizeof(*m));
    m->magic = WF__YMETA_STR;
    char *o = m->s;
    size_t k = 0;
    size_t i = 0;
    while (i < n) {
        char c = raw[i];
        if (c == '\'' && i + 1 < n && raw[i + 1] == '\'') {
            o[k++] = '\'';
            i += 2;
            continue;
        }
        if (c == '\n' || c == '\r') {
            while (k > 0 && (o[k - 1] == ' ' || o[k - 1] == '\t'))
                k--;
            size_t breaks = 0;
            for (;;) {
                if (i < n && raw[i] == '\r')
                    i++;
                if (i < n && raw[i] == '\n')
                    i++;
                breaks++;
                size_t j = i;
                while (j < n && (raw[j] == ' ' || raw[j] == '\t'))
                    j++;
                i = j;
                if (j < n && (raw[j] == '\n' || raw[j] == '\r'))
                    continue;
                break;
            }
            if (breaks == 1)
                o[k++] = ' ';
            else
                for (size_t b = 1; b < breaks; b++)
                    o[k++] = '\n';
            continue;
        }
        o[k++] = c;
        i++;
    }
    o[k] = '\0';
    m->len = k;
    return m;
}

const char *wf__yscalar(struct fy_node *n, size_t *len)
{
    size_t dummy;
    if (len == NULL)
        len = &dummy;
    *len = 0;
    if (n == NULL || !fy_node_is_scalar(n))
        return NULL;
    if (fy_node_get_style(n) == FYNS_SINGLE_QUOTED) {
        wf__ymeta *m = fy_node_get_meta(n);
        if (m != NULL && m->magic == WF__YMETA_STR) {
            *len = m->len;
            return m->s;
        }
        struct fy_document *doc = fy_node_document(n);
        struct fy_node *root = doc ? fy_document_root(doc) : NULL;
        wf__ymeta *rm = root ? fy_node_get_meta(root) : NULL;
        struct fy_token *t = fy_node_get_scalar_token(n);
        const struct fy_mark *sm = t ? fy_token_start_mark(t) : NULL;
        const struct fy_mark *em = t ? fy_token_end_mark(t) : NULL;
        /* the marks span the content, between the quotes */
        if (rm != NULL && rm->magic == WF__YMETA_ROOT && sm && em &&
            sm->input_pos > 0 && sm->input_pos <= em->input_pos &&
            em->input_pos < rm->text_len &&
            rm->text[sm->input_pos - 1] == '\'' &&
            rm->text[em->input_pos] == '\'') {
            m = wf__unquote_single(rm->text + sm->input_pos,
                                   em->input_pos - sm->input_pos);
            if (m != NULL && fy_node_set_meta(n, m) == 0) {
                *len = m->len;
                return m->s;
            }
            free(m);
        }
    }
    const char *s = fy_node_get_scalar0(n);
    if (s != NULL)
        *len = strlen(s);
    return s;
}

struct fy_node *wf__ylookup(struct fy_node *map, const char *key)
{
    if (map == NULL || !fy_node_is_mapping(map))
        return NULL;
    void *it = NULL;
    struct fy_node_pair *p;
    size_t kl = strlen(key);
    while ((p = fy_node_mapping_iterate(map, &it)) != NULL) {
        size_t l = 0;
        const char *k = wf__yscalar(fy_node_pair_key(p), &l);
        if (k != NULL && l == kl && memcmp(k, key, kl) == 0)
            return fy_node_pair_value(p);
    }
    return NULL;
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
    const char *s = wf__yscalar(n, &len);
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
            const char *ks = k && fy_node_is_scalar(k) ? wf__yscalar(k, &klen)
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
