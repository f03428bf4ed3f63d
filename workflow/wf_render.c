/* wf_render.c - a workflow status as the text of `argo get`.
 *
 * The tree follows the Argo CLI printer (cmd/argo/commands/common/get.go):
 * Steps and DAG nodes contain the nodes of their boundary; StepGroup, Retry
 * and TaskGroup nodes contain their children; StepGroups and single-attempt
 * Retry nodes print no line of their own and Omitted nodes are hidden.
 * Siblings are ordered by start time, then by loop index or name. Columns
 * are aligned like Go's tabwriter with a padding of two.
 */
#include "workflow/wf_int.h"

#include "common/cl_heap.h"
#include "common/cl_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct wf__rn {
    json_t *j;
    const char *id, *name, *disp, *type, *tmpl, *msg, *host;
    int phase;
    int64_t started, finished;
    bool cached;
    int kind; /* 0 execution, 1 boundary, 2 non-boundary parent */
    uint32_t *kids;
    uint32_t nkids, capkids;
    uint32_t parent; /* WF_NONE: a root of the printout */
    uint32_t nchildren_json;
} wf__rn;

typedef struct wf__rows {
    char **cells; /* nrows * ncols */
    size_t nrows, cap;
    int ncols;
} wf__rows;

static const char *wf__js(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int64_t wf__jt(json_t *o, const char *k)
{
    int64_t ms = 0;
    const char *s = json_string_value(json_object_get(o, k));
    if (s == NULL || cl_time_parse(s, &ms) != 0)
        return 0;
    return ms;
}

static const char *wf__icon(int phase, bool ascii)
{
    static const char *const u[] = {"◷", "●", "✔", "✖", "⚠", "○", "○"};
    static const char *const a[] = {"Pending", "Running", "Succeeded",
                                    "Failed", "Error", "Skipped", "Omitted"};
    if (phase < 0 || phase > 6)
        phase = 0;
    return ascii ? a[phase] : u[phase];
}

/* "5s", "3m", "2h", "4d" (humanize.RelativeDurationShort) */
static void wf__dur_short(int64_t ms, char *buf, size_t len)
{
    int64_t s = ms > 0 ? ms / 1000 : 0;
    if (s < 60)
        snprintf(buf, len, "%" PRId64 "s", s);
    else if (s < 3600)
        snprintf(buf, len, "%" PRId64 "m", s / 60);
    else if (s < 86400)
        snprintf(buf, len, "%" PRId64 "h", s / 3600);
    else
        snprintf(buf, len, "%" PRId64 "d", s / 86400);
}

/* "1 minute 5 seconds" (humanize.RelativeDuration) */
static void wf__dur_long(int64_t ms, char *buf, size_t len)
{
    int64_t s = ms > 0 ? ms / 1000 : 0;
    int64_t d = s / 86400, h = (s / 3600) % 24, m = (s / 60) % 60,
            sec = s % 60;
    int64_t v[4] = {d, h, m, sec};
    const char *unit[4] = {"day", "hour", "minute", "second"};
    size_t o = 0;
    int shown = 0;
    buf[0] = '\0';
    for (int i = 0; i < 4 && shown < 2; i++) {
        if (v[i] == 0 && !(i == 3 && shown == 0))
            continue;
        int w = snprintf(buf + o, len - o, "%s%" PRId64 " %s%s",
                         shown ? " " : "", v[i], unit[i], v[i] == 1 ? "" : "s");
        if (w < 0 || (size_t)w >= len - o)
            break;
        o += (size_t)w;
        shown++;
    }
}

static void wf__stamp(int64_t ms, int64_t now, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char d[64];
    strftime(d, sizeof(d), "%a %b %d %H:%M:%S +0000", &tm);
    char ago[64];
    int64_t diff = now - ms;
    if (diff < 1000 && diff > -1000)
        snprintf(ago, sizeof(ago), "now");
    else {
        char l[48];
        wf__dur_long(diff < 0 ? -diff : diff, l, sizeof(l));
        snprintf(ago, sizeof(ago), "%s %s", l,
                 diff < 0 ? "from now" : "ago");
    }
    snprintf(buf, len, "%s (%s)", d, ago);
}

static size_t wf__width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

static void wf__row(wf__rows *t, const char **cells)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        char **c = cl_realloc(t->cells, cap * (size_t)t->ncols * sizeof(char *));
        if (c == NULL)
            return;
        t->cells = c;
        t->cap = cap;
    }
    for (int i = 0; i < t->ncols; i++)
        t->cells[t->nrows * (size_t)t->ncols + (size_t)i] =
            cl_strdup(cells[i] ? cells[i] : "");
    t->nrows++;
}

static void wf__rows_flush(wf__rows *t, cl_buf *out)
{
    size_t *w = cl_calloc((size_t)t->ncols, sizeof(size_t));
    if (w == NULL)
        return;
    for (size_t r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
            size_t x = s ? wf__width(s) : 0;
            if (x > w[c])
                w[c] = x;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        size_t start = out->len;
        for (int c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
            cl_buf_puts(out, s ? s : "");
            if (c + 1 < t->ncols) {
                size_t pad = w[c] + 2 - (s ? wf__width(s) : 0);
                for (size_t k = 0; k < pad; k++)
                    cl_buf_putc(out, ' ');
            }
        }
        /* no trailing blanks */
        while (out->len > start && out->data[out->len - 1] == ' ')
            out->len--;
        if (out->data)
            out->data[out->len] = '\0';
        cl_buf_putc(out, '\n');
    }
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
        cl_free(t->cells[i]);
    cl_free(t->cells);
    cl_free(w);
    t->cells = NULL;
    t->nrows = t->cap = 0;
}

typedef struct wf__rctx {
    wf__rn *n;
    uint32_t count;
    wf__rows rows;
    int64_t now;
    unsigned flags;
    const char *wfname;
} wf__rctx;

static void wf__kid(wf__rn *p, uint32_t k)
{
    if (p->nkids == p->capkids) {
        uint32_t cap = p->capkids ? p->capkids * 2 : 4;
        uint32_t *v = cl_realloc(p->kids, cap * sizeof(uint32_t));
        if (v == NULL)
            return;
        p->kids = v;
        p->capkids = cap;
    }
    p->kids[p->nkids++] = k;
}

/* the loop index in "name(3:foo)", or -1 */
static long wf__loop_index(const char *disp)
{
    const char *p = strrchr(disp, '(');
    if (p == NULL)
        return -1;
    char *end = NULL;
    long v = strtol(p + 1, &end, 10);
    if (end == p + 1 || (*end != ':' && *end != ')'))
        return -1;
    return v;
}

static const wf__rn *wf__sort_base;
static int wf__sort_cmp(const void *a, const void *b)
{
    const wf__rn *x = &wf__sort_base[*(const uint32_t *)a];
    const wf__rn *y = &wf__sort_base[*(const uint32_t *)b];
    int64_t tx = x->started ? x->started : INT64_MAX;
    int64_t ty = y->started ? y->started : INT64_MAX;
    if (tx != ty)
        return tx < ty ? -1 : 1;
    long ix = wf__loop_index(x->disp), iy = wf__loop_index(y->disp);
    if (ix >= 0 && iy >= 0 && ix != iy)
        return ix < iy ? -1 : 1;
    return strcmp(x->disp, y->disp);
}

static void wf__print_node(wf__rctx *c, const wf__rn *n, const char *prefix)
{
    bool ascii = (c->flags & WF_RENDER_NO_UTF8) != 0;
    char name[1024];
    snprintf(name, sizeof(name), "%s%s %s%s", prefix, wf__icon(n->phase, ascii),
             n->disp, n->cached ? " (cached)" : "");
    char dur[32] = "";
    const char *pod = "";
    if (!strcmp(n->type, "Pod")) {
        pod = n->id;
        if (n->started > 0) {
            int64_t end = n->finished > 0 ? n->finished : c->now;
            wf__dur_short(end - n->started, dur, sizeof(dur));
        }
    }
    const char *cells[6] = {name, n->tmpl, pod, dur, n->msg, n->host};
    wf__row(&c->rows, cells);
}

static void wf__render_node(wf__rctx *c, uint32_t i, int depth,
                            const char *node_prefix, const char *child_prefix);

static void wf__filter(const wf__rn *n, bool *filtered, bool *indent)
{
    *filtered = false;
    *indent = false;
    if (!strcmp(n->type, "Retry") && n->nchildren_json == 1)
        *filtered = true;
    else if (!strcmp(n->type, "StepGroup"))
        *filtered = *indent = true;
    else if (!strcmp(n->type, "Skipped") && n->phase == WF_OMITTED)
        *filtered = true;
}

static void wf__render_child(wf__rctx *c, uint32_t k, int depth,
                             const char *node_prefix, const char *child_prefix,
                             bool parent_filtered, uint32_t idx, uint32_t maxi,
                             bool indent)
{
    bool ascii = (c->flags & WF_RENDER_NO_UTF8) != 0;
    const char *part = "", *subp = "";
    if (parent_filtered && indent) {
        if (maxi == 0) {
            part = ascii ? "--" : "──";
            subp = "  ";
        } else if (idx == 0) {
            part = ascii ? "+-" : "┬─";
            subp = ascii ? "| " : "│ ";
        } else if (idx == maxi) {
            part = ascii ? "`-" : "└─";
            subp = "  ";
        } else {
            part = ascii ? "|-" : "├─";
            subp = ascii ? "| " : "│ ";
        }
    } else if (!parent_filtered) {
        if (idx == maxi) {
            part = ascii ? "`-" : "└─";
            subp = "  ";
        } else {
            part = ascii ? "|-" : "├─";
            subp = ascii ? "| " : "│ ";
        }
    }
    char np[1024], cp[1024];
    if (!parent_filtered) {
        depth++;
        snprintf(np, sizeof(np), "%s%s", child_prefix, part);
        snprintf(cp, sizeof(cp), "%s%s", child_prefix, subp);
    } else {
        snprintf(np, sizeof(np), "%s%s", idx == 0 ? node_prefix : child_prefix,
                 part);
        snprintf(cp, sizeof(cp), "%s%s", child_prefix, subp);
    }
    wf__render_node(c, k, depth, np, cp);
}

static void wf__render_node(wf__rctx *c, uint32_t i, int depth,
                            const char *node_prefix, const char *child_prefix)
{
    wf__rn *n = &c->n[i];
    bool filtered, indent;
    wf__filter(n, &filtered, &indent);
    if (!filtered)
        wf__print_node(c, n, node_prefix);
    if (depth > 400)
        return;
    for (uint32_t k = 0; k < n->nkids; k++)
        wf__render_child(c, n->kids[k], depth, node_prefix, child_prefix,
                         filtered, k, n->nkids - 1, indent);
}

static void wf__header(cl_buf *out, const char *k, const char *v)
{
    if (v[0] == '\0')
        cl_buf_printf(out, "%s\n", k);
    else
        cl_buf_printf(out, "%-20s %s\n", k, v);
}

void wf_render_tree(json_t *status, int64_t now, cl_buf *out, unsigned flags)
{
    json_t *meta = json_object_get(status, "metadata");
    json_t *st = json_object_get(status, "status");
    json_t *nodes = json_object_get(st, "nodes");
    const char *wfname = wf__js(meta, "name");
    char buf[256];
    if (!(flags & WF_RENDER_NO_HEADER)) {
        wf__header(out, "Name:", wfname);
        wf__header(out, "Namespace:", json_object_get(meta, "namespace")
                                          ? wf__js(meta, "namespace")
                                          : "default");
        const char *phase = json_string_value(json_object_get(st, "phase"));
        wf__header(out, "Status:", phase ? phase : "Pending");
        const char *msg = wf__js(st, "message");
        if (msg[0])
            wf__header(out, "Message:", msg);
        int64_t created = wf__jt(meta, "creationTimestamp");
        int64_t started = wf__jt(st, "startedAt");
        int64_t finished = wf__jt(st, "finishedAt");
        if (created) {
            wf__stamp(created, now, buf, sizeof(buf));
            wf__header(out, "Created:", buf);
        }
        if (started) {
            wf__stamp(started, now, buf, sizeof(buf));
            wf__header(out, "Started:", buf);
        }
        if (finished) {
            wf__stamp(finished, now, buf, sizeof(buf));
            wf__header(out, "Finished:", buf);
        }
        if (started) {
            wf__dur_long((finished ? finished : now) - started, buf,
                         sizeof(buf));
            wf__header(out, "Duration:", buf);
        }
        const char *prog = wf__js(st, "progress");
        if (prog[0])
            wf__header(out, "Progress:", prog);
        json_t *params = json_object_get(
            json_object_get(json_object_get(status, "spec"), "arguments"),
            "parameters");
        if (json_array_size(params) > 0) {
            wf__header(out, "Parameters:", "");
            size_t k;
            json_t *p;
            json_array_foreach(params, k, p)
            {
                snprintf(buf, sizeof(buf), "%s:", wf__js(p, "name"));
                cl_buf_printf(out, "  %-18s %s\n", buf, wf__js(p, "value"));
            }
        }
        json_t *oparams = json_object_get(json_object_get(st, "outputs"),
                                          "parameters");
        if (json_array_size(oparams) > 0) {
            wf__header(out, "Output Parameters:", "");
            size_t k;
            json_t *p;
            json_array_foreach(oparams, k, p)
            {
                snprintf(buf, sizeof(buf), "%s:", wf__js(p, "name"));
                cl_buf_printf(out, "  %-18s %s\n", buf, wf__js(p, "value"));
            }
        }
    }
    size_t nn = json_object_size(nodes);
    if (nn == 0)
        return;
    wf__rctx c;
    memset(&c, 0, sizeof(c));
    c.now = now;
    c.flags = flags;
    c.wfname = wfname;
    c.rows.ncols = (flags & WF_RENDER_WIDE) ? 6 : 5;
    c.n = cl_calloc(nn, sizeof(wf__rn));
    if (c.n == NULL) {
        out->oom = true;
        return;
    }
    const char *id;
    json_t *j;
    json_object_foreach(nodes, id, j)
    {
        wf__rn *n = &c.n[c.count++];
        n->j = j;
        n->id = id;
        n->name = wf__js(j, "name");
        n->disp = wf__js(j, "displayName");
        if (!n->disp[0])
            n->disp = n->name;
        n->type = wf__js(j, "type");
        n->tmpl = wf__js(j, "templateName");
        n->msg = wf__js(j, "message");
        n->host = wf__js(j, "hostNodeName");
        n->phase = wf_phase_parse(wf__js(j, "phase"));
        if (n->phase < 0)
            n->phase = WF_PENDING;
        n->started = wf__jt(j, "startedAt");
        n->finished = wf__jt(j, "finishedAt");
        n->cached = json_is_true(json_object_get(
            json_object_get(j, "memoizationStatus"), "hit"));
        n->nchildren_json = (uint32_t)json_array_size(
            json_object_get(j, "children"));
        n->parent = WF_NONE;
        if (!strcmp(n->type, "Steps") || !strcmp(n->type, "DAG"))
            n->kind = 1;
        else if (!strcmp(n->type, "StepGroup") || !strcmp(n->type, "Retry") ||
                 !strcmp(n->type, "TaskGroup"))
            n->kind = 2;
    }
    /* id -> index, by sorting a copy of the ids */
    uint32_t *order = cl_malloc(sizeof(uint32_t) * c.count);
    if (order == NULL) {
        cl_free(c.n);
        out->oom = true;
        return;
    }
    for (uint32_t i = 0; i < c.count; i++)
        order[i] = i;
    /* parents: children of non-boundary parents first */
    json_t *idx = json_object();
    for (uint32_t i = 0; i < c.count; i++)
        json_object_set_new(idx, c.n[i].id, json_integer(i));
    for (uint32_t i = 0; i < c.count; i++) {
        if (c.n[i].kind != 2)
            continue;
        size_t k;
        json_t *cid;
        json_array_foreach(json_object_get(c.n[i].j, "children"), k, cid)
        {
            json_t *x = json_object_get(idx, json_string_value(cid));
            if (json_is_integer(x)) {
                uint32_t ci = (uint32_t)json_integer_value(x);
                if (ci != i && c.n[ci].parent == WF_NONE)
                    c.n[ci].parent = i;
            }
        }
    }
    for (uint32_t i = 0; i < c.count; i++) {
        if (c.n[i].parent != WF_NONE)
            continue;
        const char *b = wf__js(c.n[i].j, "boundaryID");
        json_t *x = b[0] ? json_object_get(idx, b) : NULL;
        if (json_is_integer(x) && (uint32_t)json_integer_value(x) != i)
            c.n[i].parent = (uint32_t)json_integer_value(x);
    }
    for (uint32_t i = 0; i < c.count; i++)
        if (c.n[i].parent != WF_NONE)
            wf__kid(&c.n[c.n[i].parent], i);
    wf__sort_base = c.n;
    for (uint32_t i = 0; i < c.count; i++)
        if (c.n[i].nkids > 1)
            qsort(c.n[i].kids, c.n[i].nkids, sizeof(uint32_t), wf__sort_cmp);
    const char *hdr[6] = {"STEP", "TEMPLATE", "PODNAME", "DURATION", "MESSAGE",
                          "NODENAME"};
    if (!(flags & WF_RENDER_NO_HEADER))
        cl_buf_putc(out, '\n');
    wf__row(&c.rows, hdr);
    /* the workflow's root, then the exit handler */
    json_t *ri = json_object_get(idx, wfname);
    uint32_t rooti = json_is_integer(ri) ? (uint32_t)json_integer_value(ri)
                                         : WF_NONE;
    if (rooti != WF_NONE)
        wf__render_node(&c, rooti, 0, " ", " ");
    for (uint32_t i = 0; i < c.count; i++) {
        if (c.n[i].parent != WF_NONE || i == rooti)
            continue;
        const char *blank[6] = {"", "", "", "", "", ""};
        wf__row(&c.rows, blank);
        wf__render_node(&c, i, 0, " ", " ");
    }
    wf__rows_flush(&c.rows, out);
    json_decref(idx);
    for (uint32_t i = 0; i < c.count; i++)
        cl_free(c.n[i].kids);
    cl_free(c.n);
    cl_free(order);
}
