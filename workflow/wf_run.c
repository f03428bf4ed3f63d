/* wf_run.c - the workflow engine: a pure state machine over a node table.
 *
 * Events (start, step started/exited/lost, memo answers, mutex grants,
 * timers, stop, terminate, retry) mutate the node table and queue actions.
 * Work that follows from an event (a child finished, a composite may create
 * more children) goes through a FIFO worklist, so a chain of 100,000
 * omitted DAG tasks or a deep recursion never grows the C stack.
 *
 * Node kinds and their parents (ARGO.md B1, B3, B4, B11):
 *   Steps      -> StepGroup "<steps>[i]" -> step nodes "<group>.<step>"
 *   DAG        -> task nodes "<dag>.<task>"; loops: TaskGroup -> items
 *   Retry      -> attempts "<name>(n)"
 *   any node   -> exit hook "<node>.onExit"; the workflow "<wf>.onExit"
 * A node is "fulfilled" when its phase is final and "done" when its exit
 * hook, if any, is fulfilled too; parents advance on done.
 */
#include "workflow/wf_int.h"

#include "common/cl_heap.h"
#include "common/cl_time.h"
#include "workflow/expr/wf_expr.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WF__MAX_DEPTH 200

/* ---- phases -------------------------------------------------------------- */

static const char *const wf__phase_names[] = {
    "Pending", "Running", "Succeeded", "Failed", "Error", "Skipped", "Omitted",
};

const char *wf_phase_name(enum wf_phase p)
{
    if ((unsigned)p < sizeof(wf__phase_names) / sizeof(wf__phase_names[0]))
        return wf__phase_names[p];
    return "Unknown";
}

int wf_phase_parse(const char *s)
{
    for (int i = 0; i < 7; i++)
        if (s != NULL && strcmp(s, wf__phase_names[i]) == 0)
            return i;
    return -1;
}

bool wf_phase_done(enum wf_phase p)
{
    return p == WF_SUCCEEDED || p == WF_FAILED || p == WF_ERROR ||
           p == WF_SKIPPED || p == WF_OMITTED;
}

static bool wf__failed(int p)
{
    return p == WF_FAILED || p == WF_ERROR;
}

const char *wf__ntype_name(enum wf__ntype t)
{
    static const char *const names[] = {"Pod", "Steps", "StepGroup", "DAG",
                                        "Retry", "TaskGroup", "Skipped"};
    return (unsigned)t < 7 ? names[t] : "Pod";
}

/* ---- small helpers ------------------------------------------------------- */

wf__node *wf__node_at(const wf_run *r, uint32_t i)
{
    return i < r->nnodes ? &r->nodes[i] : NULL;
}

char *wf__rstrdup(wf_run *r, const char *s)
{
    char *p = wf__arena_strdup(&r->arena, s);
    if (p == NULL && s != NULL)
        r->err = CL_ENOMEM;
    return p;
}

char *wf__rprintf(wf_run *r, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = wf__arena_alloc(&r->arena, (size_t)n + 1);
    if (p == NULL) {
        r->err = CL_ENOMEM;
        return NULL;
    }
    if ((size_t)n < sizeof(small)) {
        memcpy(p, small, (size_t)n + 1);
    } else {
        va_start(ap, fmt);
        vsnprintf(p, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return p;
}

void wf__fmt_time(int64_t ms, char *buf, size_t len)
{
    cl_time_format_s(ms, buf, len);
}

static void *wf__grow(void *p, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    uint32_t nc = *cap ? *cap : 8;
    while (nc < need)
        nc *= 2;
    void *np = cl_realloc(p, (size_t)nc * elem);
    if (np == NULL)
        return NULL;
    *cap = nc;
    return np;
}

/* ---- node index (open addressing on the fnv-1a of the name) -------------- */

static int wf__index_put(wf_run *r, uint32_t node)
{
    if ((r->nnodes + 1) * 2 > r->index_cap) {
        uint32_t cap = r->index_cap ? r->index_cap * 2 : 64;
        while (cap < (r->nnodes + 1) * 2)
            cap *= 2;
        uint32_t *ix = cl_malloc(sizeof(uint32_t) * cap);
        if (ix == NULL)
            return CL_ENOMEM;
        memset(ix, 0xff, sizeof(uint32_t) * cap);
        for (uint32_t i = 0; i < r->index_cap; i++) {
            uint32_t n = r->index[i];
            if (n == WF_NONE)
                continue;
            uint32_t h = r->nodes[n].hash & (cap - 1);
            while (ix[h] != WF_NONE)
                h = (h + 1) & (cap - 1);
            ix[h] = n;
        }
        cl_free(r->index);
        r->index = ix;
        r->index_cap = cap;
    }
    uint32_t h = r->nodes[node].hash & (r->index_cap - 1);
    while (r->index[h] != WF_NONE)
        h = (h + 1) & (r->index_cap - 1);
    r->index[h] = node;
    return 0;
}

uint32_t wf__node_find_name(const wf_run *r, const char *name)
{
    if (r->index_cap == 0 || name == NULL)
        return WF_NONE;
    uint32_t hv = wf__fnv32(name, strlen(name));
    uint32_t h = hv & (r->index_cap - 1);
    while (r->index[h] != WF_NONE) {
        const wf__node *n = &r->nodes[r->index[h]];
        if (n->hash == hv && strcmp(n->name, name) == 0)
            return r->index[h];
        h = (h + 1) & (r->index_cap - 1);
    }
    return WF_NONE;
}

static uint32_t wf__node_find_hash(const wf_run *r, uint32_t hv,
                                   const char *id)
{
    if (r->index_cap == 0)
        return WF_NONE;
    uint32_t h = hv & (r->index_cap - 1);
    while (r->index[h] != WF_NONE) {
        const wf__node *n = &r->nodes[r->index[h]];
        if (n->hash == hv && strcmp(n->id, id) == 0)
            return r->index[h];
        h = (h + 1) & (r->index_cap - 1);
    }
    return WF_NONE;
}

/* ---- queues -------------------------------------------------------------- */

/* Makes room for one more element in the ring buffer buf of *cap elements
 * of esz bytes holding [*head, *tail) (indices taken modulo *cap). Returns
 * buf when it has room; when it is full, a buffer twice as large with the
 * live elements moved to the front (buf is freed); NULL, with buf left as
 * it was, when out of memory. */
static void *wf__ring_reserve(void *buf, uint32_t *head, uint32_t *tail,
                              uint32_t *cap, size_t esz)
{
    uint32_t n = *tail - *head;
    if (n < *cap)
        return buf;
    uint32_t ncap = *cap ? *cap * 2 : 64;
    char *q = cl_malloc(esz * ncap);
    if (q == NULL)
        return NULL;
    for (uint32_t i = 0; i < n; i++)
        memcpy(q + (size_t)i * esz,
               (const char *)buf + (size_t)((*head + i) % *cap) * esz, esz);
    cl_free(buf);
    *head = 0;
    *tail = n;
    *cap = ncap;
    return q;
}

static void wf__q_push(wf_run *r, int kind, uint32_t node, const char *str)
{
    wf__qact *q = wf__ring_reserve(r->q, &r->qhead, &r->qtail, &r->qcap,
                                   sizeof(*q));
    if (q == NULL) {
        r->err = CL_ENOMEM;
        return;
    }
    r->q = q;
    wf__qact *a = &r->q[r->qtail % r->qcap];
    a->kind = (uint8_t)kind;
    a->node = node;
    a->str = str;
    r->qtail++;
}

static void wf__wl_push(wf_run *r, int kind, uint32_t parent, uint32_t child)
{
    wf__work *wl = wf__ring_reserve(r->wl, &r->wlhead, &r->wltail,
                                    &r->wlcap, sizeof(*wl));
    if (wl == NULL) {
        r->err = CL_ENOMEM;
        return;
    }
    r->wl = wl;
    wf__work *w = &r->wl[r->wltail % r->wlcap];
    w->kind = (uint8_t)kind;
    w->parent = parent;
    w->child = child;
    r->wltail++;
}

#define WF__WL_CHILD 1
#define WF__WL_PUMP 2

/* timers: a binary heap ordered by (at, insertion) */
static uint64_t wf__timer_seq;
static bool wf__tm_less(const wf__timer *a, const wf__timer *b)
{
    if (a->at != b->at)
        return a->at < b->at;
    if (a->node != b->node)
        return a->node < b->node;
    return a->kind < b->kind;
}

static void wf__timer_add(wf_run *r, int64_t at, uint32_t node, int kind)
{
    wf__timer *t = wf__grow(r->timers, &r->captimers, r->ntimers + 1,
                            sizeof(*t));
    if (t == NULL) {
        r->err = CL_ENOMEM;
        return;
    }
    r->timers = t;
    uint32_t i = r->ntimers++;
    t[i].at = at;
    t[i].node = node;
    t[i].kind = (uint8_t)kind;
    t[i].gen = node == WF_NONE ? 0 : r->nodes[node].gen;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!wf__tm_less(&t[i], &t[p]))
            break;
        wf__timer tmp = t[i];
        t[i] = t[p];
        t[p] = tmp;
        i = p;
    }
    (void)wf__timer_seq;
}

static void wf__timer_pop(wf_run *r)
{
    wf__timer *t = r->timers;
    t[0] = t[--r->ntimers];
    uint32_t i = 0;
    for (;;) {
        uint32_t l = 2 * i + 1, rr = l + 1, m = i;
        if (l < r->ntimers && wf__tm_less(&t[l], &t[m]))
            m = l;
        if (rr < r->ntimers && wf__tm_less(&t[rr], &t[m]))
            m = rr;
        if (m == i)
            break;
        wf__timer tmp = t[i];
        t[i] = t[m];
        t[m] = tmp;
        i = m;
    }
}

static void wf__block(wf_run *r, uint32_t n)
{
    wf__node *nd = &r->nodes[n];
    if (nd->flags & WF__F_BLOCKED)
        return;
    uint32_t *b = wf__grow(r->blocked, &r->capblocked, r->nblocked + 1,
                           sizeof(uint32_t));
    if (b == NULL) {
        r->err = CL_ENOMEM;
        return;
    }
    r->blocked = b;
    b[r->nblocked++] = n;
    nd->flags |= WF__F_BLOCKED;
}

/* Capacity was freed: give every blocked composite another try. */
static void wf__unblock_all(wf_run *r)
{
    if (r->nblocked == 0)
        return;
    for (uint32_t i = 0; i < r->nblocked; i++) {
        uint32_t n = r->blocked[i];
        r->nodes[n].flags &= ~WF__F_BLOCKED;
        wf__wl_push(r, WF__WL_PUMP, n, WF_NONE);
    }
    r->nblocked = 0;
}

/* ---- node creation ------------------------------------------------------- */

static uint32_t wf__node_new(wf_run *r, const char *name, uint32_t disp_off,
                             int type, uint32_t parent, uint32_t boundary)
{
    if (r->err)
        return WF_NONE;
    wf__node *nodes = wf__grow(r->nodes, &r->capnodes, r->nnodes + 1,
                               sizeof(wf__node));
    if (nodes == NULL) {
        r->err = CL_ENOMEM;
        return WF_NONE;
    }
    r->nodes = nodes;
    uint32_t i = r->nnodes;
    wf__node *n = &nodes[i];
    memset(n, 0, sizeof(*n));
    size_t nl = strlen(name);
    n->hash = wf__fnv32(name, nl);
    bool is_root = strcmp(name, r->name) == 0;
    size_t idlen = is_root ? nl : strlen(r->name) + 12;
    char *buf = wf__arena_alloc(&r->arena, nl + 1 + idlen + 1);
    if (buf == NULL) {
        r->err = CL_ENOMEM;
        return WF_NONE;
    }
    memcpy(buf, name, nl + 1);
    char *id = buf + nl + 1;
    if (is_root)
        memcpy(id, name, nl + 1);
    else
        snprintf(id, idlen + 1, "%s-%" PRIu32, r->name, n->hash);
    n->name = buf;
    n->id = id;
    n->display_off = disp_off;
    n->type = (uint8_t)type;
    n->phase = WF_PENDING;
    n->parent = parent;
    n->boundary = boundary;
    n->index = WF_NONE;
    n->item = WF_NONE;
    n->hook = WF_NONE;
    n->retry = -1;
    n->started = r->now;
    r->nnodes++;
    if (wf__index_put(r, i) != 0) {
        r->err = CL_ENOMEM;
        return WF_NONE;
    }
    if (parent != WF_NONE) {
        wf__node *p = &r->nodes[parent];
        uint32_t *k = wf__grow(p->kids, &p->capkids, p->nkids + 1,
                               sizeof(uint32_t));
        if (k == NULL) {
            r->err = CL_ENOMEM;
            return WF_NONE;
        }
        p->kids = k;
        k[p->nkids++] = i;
        n->depth = p->depth;
    }
    return i;
}

static wf__io *wf__io_of(wf_run *r, uint32_t n)
{
    wf__node *nd = &r->nodes[n];
    if (nd->io == NULL) {
        nd->io = wf__arena_alloc(&r->arena, sizeof(wf__io));
        if (nd->io == NULL)
            r->err = CL_ENOMEM;
    }
    return nd->io;
}

static wf__frame *wf__frame_of(wf_run *r, uint32_t n)
{
    wf__node *nd = &r->nodes[n];
    if (nd->fr == NULL) {
        nd->fr = cl_calloc(1, sizeof(wf__frame));
        if (nd->fr == NULL)
            r->err = CL_ENOMEM;
    }
    return nd->fr;
}

static void wf__frame_free(wf__node *n)
{
    wf__frame *f = n->fr;
    if (f == NULL)
        return;
    switch (n->type) {
    case WF__N_STEPS:
        cl_free(f->u.st.gnodes);
        break;
    case WF__N_STEPGROUP:
    case WF__N_TASKGROUP:
        for (uint32_t i = 0; i < f->u.g.nsteps && f->u.g.exp; i++) {
            if (f->u.g.exp[i].nodes != NULL)
                cl_free(f->u.g.exp[i].nodes);
            json_decref(f->u.g.exp[i].items);
        }
        cl_free(f->u.g.exp);
        break;
    case WF__N_DAG:
        cl_free(f->u.d.tnode);
        cl_free(f->u.d.pending);
        cl_free(f->u.d.ts);
        cl_free(f->u.d.ready);
        cl_free(f->u.d.targets);
        break;
    default:
        break;
    }
    cl_free(f);
    n->fr = NULL;
}

/* ---- forward declarations ------------------------------------------------ */

static void wf__begin(wf_run *r, uint32_t n);
static void wf__run_node(wf_run *r, uint32_t n);
static void wf__fulfill(wf_run *r, uint32_t n, int phase, const char *msg);
static void wf__pump(wf_run *r, uint32_t n);
static void wf__drain(wf_run *r);
static void wf__finish_wf(wf_run *r);

/* ---- contexts ------------------------------------------------------------ */

/* The context in which the fields of a step or task of scope node `scope`
 * (a Steps or DAG node) are substituted. */
static void wf__ctx_scope(wf_run *r, wf__ctx *c, uint32_t scope,
                          json_t *item)
{
    wf__ctx_init(c, r);
    if (scope != WF_NONE) {
        wf__node *s = &r->nodes[scope];
        c->scope = scope;
        c->scope_tmpl = s->tmpl;
        c->inputs = s->io;
        c->tmpl = s->tmpl;
        c->exit_ctx = (s->flags & WF__F_EXIT_CTX) != 0;
    }
    c->item = item;
}

/* The context of a template body executed by node n. */
static void wf__ctx_body(wf_run *r, wf__ctx *c, uint32_t n)
{
    wf__ctx_init(c, r);
    wf__node *nd = &r->nodes[n];
    c->inputs = nd->io;
    c->tmpl = nd->tmpl;
    c->node = n;
    c->retries = nd->retry >= 0 ? nd->retry : 0;
    c->exit_ctx = (nd->flags & WF__F_EXIT_CTX) != 0;
    if (nd->flags & WF__F_INLINE_ITEM)
        c->item = nd->itemv;
    if (nd->type == WF__N_STEPS || nd->type == WF__N_DAG) {
        c->scope = n;
        c->scope_tmpl = nd->tmpl;
    }
}

/* ---- inputs -------------------------------------------------------------- */

static const wf__param *wf__find_param(const wf__args *a, const char *name)
{
    if (a == NULL)
        return NULL;
    for (uint32_t i = 0; i < a->nparams; i++)
        if (strcmp(a->params[i].name, name) == 0)
            return &a->params[i];
    return NULL;
}

static const wf__art *wf__find_art(const wf__args *a, const char *name)
{
    if (a == NULL)
        return NULL;
    for (uint32_t i = 0; i < a->narts; i++)
        if (strcmp(a->arts[i].name, name) == 0)
            return &a->arts[i];
    return NULL;
}

static int wf__check_enum(const wf__param *p, const char *v, cl_errmsg *em)
{
    if (p->nenums == 0)
        return 0;
    for (uint32_t i = 0; i < p->nenums; i++)
        if (strcmp(p->enums[i], v) == 0)
            return 0;
    cl_errmsg_set(em, "value '%s' is not in the enum of inputs.parameters.%s",
                  v, p->name);
    return CL_EINVAL;
}

/* Resolve the inputs of template t called with `args` from context `c`
 * (the caller's scope). A value that is only a reference to an absent
 * output is dropped so that the input default applies (ARGO.md B5). */
static int wf__resolve_inputs(wf_run *r, wf__ctx *c, const wf__args *args,
                              const wf__tmpl *t, wf_kv *wparams,
                              uint32_t nwparams, wf__io *io, cl_errmsg *em)
{
    uint32_t np = t->inputs.nparams, na = t->inputs.narts;
    if (np > 0) {
        io->in = wf__arena_alloc(&r->arena, sizeof(wf_kv) * np);
        if (io->in == NULL)
            return CL_ENOMEM;
    }
    for (uint32_t i = 0; i < np; i++) {
        const wf__param *ip = &t->inputs.params[i];
        const char *val = NULL;
        const wf__param *ap = wf__find_param(args, ip->name);
        if (ap == NULL && wparams != NULL) {
            for (uint32_t k = 0; k < nwparams; k++)
                if (strcmp(wparams[k].name, ip->name) == 0)
                    val = wparams[k].value;
        }
        if (ap != NULL && ap->value != NULL) {
            uint32_t unres = 0, absent = 0;
            const char *v = NULL;
            int rv = wf__subst(c, ap->value, &v, &unres, &absent, em);
            if (rv != 0)
                return rv;
            if (absent > 0) {
                /* only the reference: dropped; anything more: an error */
                const char *s = ap->value;
                while (isspace((unsigned char)*s))
                    s++;
                const char *e = strstr(s, "}}");
                bool only = strncmp(s, "{{", 2) == 0 && e != NULL;
                if (only) {
                    e += 2;
                    while (isspace((unsigned char)*e))
                        e++;
                    only = *e == '\0';
                }
                if (!only) {
                    cl_errmsg_set(em, "argument '%s' uses the output of a "
                                      "skipped or omitted node: '%s'",
                                  ip->name, ap->value);
                    return CL_EINVAL;
                }
                v = NULL;
            } else if (unres > 0) {
                cl_errmsg_set(em, "failed to resolve argument '%s': '%s'",
                              ip->name, v);
                return CL_EINVAL;
            }
            val = v;
        } else if (ap != NULL && ap->def != NULL) {
            val = ap->def;
        }
        if (val == NULL && ip->value != NULL) {
            wf__ctx tc;
            wf__ctx_init(&tc, r);
            tc.tmpl = t;
            tc.exit_ctx = c->exit_ctx;
            /* earlier inputs are visible to later values */
            wf__io partial = *io;
            partial.nin = i;
            tc.inputs = &partial;
            uint32_t unres = 0, absent = 0;
            const char *v = NULL;
            int rv = wf__subst(&tc, ip->value, &v, &unres, &absent, em);
            wf__ctx_fini(&tc);
            if (rv != 0)
                return rv;
            if (unres > 0) {
                cl_errmsg_set(em, "failed to resolve inputs.parameters.%s: "
                                  "'%s'", ip->name, v);
                return CL_EINVAL;
            }
            val = v;
        }
        if (val == NULL && ip->def != NULL)
            val = ip->def;
        if (val == NULL) {
            cl_errmsg_set(em, "inputs.parameters.%s was not supplied",
                          ip->name);
            return CL_EINVAL;
        }
        int rv = wf__check_enum(ip, val, em);
        if (rv != 0)
            return rv;
        io->in[i].name = ip->name;
        io->in[i].value = val;
        io->nin = i + 1;
    }
    if (na > 0) {
        io->in_arts = wf__arena_alloc(&r->arena, sizeof(wf__aref) * na);
        if (io->in_arts == NULL)
            return CL_ENOMEM;
    }
    for (uint32_t i = 0; i < na; i++) {
        const wf__art *ia = &t->inputs.arts[i];
        const wf__art *aa = wf__find_art(args, ia->name);
        const wf__art *src = aa;
        if (src == NULL || (src->from == NULL && src->from_expr == NULL &&
                            src->raw == NULL))
            src = (ia->from || ia->from_expr || ia->raw) ? ia : NULL;
        wf__aref ref;
        memset(&ref, 0, sizeof(ref));
        int rv = CL_ENOENT;
        if (src != NULL) {
            wf__ctx *use = c;
            if (src->raw != NULL) {
                const char *v = NULL;
                uint32_t unres = 0, absent = 0;
                rv = wf__subst(use, src->raw, &v, &unres, &absent, em);
                if (rv != 0)
                    return rv;
                ref.raw = v;
                rv = 0;
            } else if (src->from != NULL) {
                rv = wf__resolve_art_from(use, src->from, &ref, em);
            } else {
                json_t *j = NULL;
                rv = wf__eval(use, src->from_expr, &j, em);
                if (rv == 0) {
                    rv = wf__art_from_json(r, j, &ref);
                    json_decref(j);
                    if (rv != 0) {
                        cl_errmsg_set(em, "fromExpression of input artifact "
                                          "'%s' is not an artifact",
                                      ia->name);
                        return CL_EINVAL;
                    }
                }
            }
            if (rv != 0 && rv != CL_ENOENT)
                return rv;
            if (rv == 0 && aa != NULL && aa->sub_path != NULL)
                ref.path = aa->sub_path; /* carried as subPath */
        }
        if (rv == CL_ENOENT) {
            if (ia->optional || (aa != NULL && aa->optional))
                continue;
            cl_errmsg_set(em, "inputs.artifacts.%s was not supplied",
                          ia->name);
            return CL_EINVAL;
        }
        ref.name = ia->name;
        io->in_arts[io->nin_arts++] = ref;
    }
    return 0;
}

/* ---- seeds (retry, resubmit --memoized) ---------------------------------- */

static const wf__seed *wf__seed_find(const wf_run *r, const char *name)
{
    if (r->seed_cap == 0)
        return NULL;
    uint32_t hv = wf__fnv32(name, strlen(name));
    uint32_t h = hv & (r->seed_cap - 1);
    while (r->seed_index[h] != WF_NONE) {
        const wf__seed *s = &r->seeds[r->seed_index[h]];
        if (strcmp(s->name, name) == 0)
            return s;
        h = (h + 1) & (r->seed_cap - 1);
    }
    return NULL;
}

static void wf__restore(wf_run *r, uint32_t n, const wf__seed *s)
{
    wf__node *nd = &r->nodes[n];
    wf__io *io = wf__io_of(r, n);
    if (io == NULL)
        return;
    io->result = s->io.result;
    io->out = s->io.out;
    io->nout = s->io.nout;
    io->out_arts = s->io.out_arts;
    io->nout_arts = s->io.nout_arts;
    io->exit_code = s->io.exit_code;
    io->has_exit = s->io.has_exit;
    nd->host = s->host;
    nd->flags |= WF__F_SEEDED;
    if (s->memo) {
        nd->flags |= WF__F_MEMO | (s->memo_hit ? WF__F_MEMO_HIT : 0);
        nd->memo_key = s->memo_key;
        nd->memo_cache = s->memo_cache;
    }
}

/* ---- creation of executable nodes ---------------------------------------- */

static int wf__node_type_for(const wf__tmpl *t, bool attempt)
{
    if (t->retry != NULL && !attempt)
        return WF__N_RETRY;
    switch (t->kind) {
    case WF__T_STEPS:
        return WF__N_STEPS;
    case WF__T_DAG:
        return WF__N_DAG;
    default:
        return WF__N_POD;
    }
}

static bool wf__counts(int type)
{
    return type == WF__N_POD || type == WF__N_STEPS || type == WF__N_DAG;
}

/* Mark a node as started executing: counters of its boundary. */
static void wf__count_active(wf_run *r, uint32_t n)
{
    wf__node *nd = &r->nodes[n];
    if (!wf__counts(nd->type) || (nd->flags & WF__F_COUNTED))
        return;
    nd->flags |= WF__F_COUNTED;
    if (nd->boundary != WF_NONE && r->nodes[nd->boundary].fr != NULL)
        r->nodes[nd->boundary].fr->active++;
    if (nd->type == WF__N_POD) {
        nd->flags |= WF__F_POD_COUNTED;
        r->active_pods++;
    }
}

/* Create a node that executes template t and start it; a failure to
 * resolve its inputs makes it Error. Returns the node or WF_NONE (OOM). */
static uint32_t wf__spawn(wf_run *r, const char *name, uint32_t disp_off,
                          uint32_t parent, uint32_t boundary,
                          const wf__tmpl *t, const wf__step *st,
                          uint32_t index, uint32_t item, json_t *itemv,
                          wf__ctx *caller, const wf__args *args,
                          uint32_t extra_flags)
{
    int type = wf__node_type_for(t, false);
    const wf__seed *seed = r->nseeds ? wf__seed_find(r, name) : NULL;
    uint32_t n = wf__node_new(r, name, disp_off, type, parent, boundary);
    if (n == WF_NONE)
        return WF_NONE;
    wf__node *nd = &r->nodes[n];
    nd->tmpl = t;
    nd->step = st;
    nd->index = index;
    nd->item = item;
    nd->itemv = itemv;
    nd->flags |= extra_flags;
    if (t->name == NULL && itemv != NULL)
        nd->flags |= WF__F_INLINE_ITEM;
    if (parent != WF_NONE) {
        nd->depth = (uint16_t)(r->nodes[parent].depth + 1);
        if (r->nodes[parent].flags & WF__F_EXIT_CTX)
            nd->flags |= WF__F_EXIT_CTX;
    }
    wf__io *io = wf__io_of(r, n);
    if (io == NULL)
        return WF_NONE;
    cl_errmsg em;
    cl_errmsg_clear(&em);
    if (nd->depth > WF__MAX_DEPTH) {
        wf__fulfill(r, n, WF_ERROR, "maximum recursion depth exceeded");
        return n;
    }
    int rv = wf__resolve_inputs(r, caller, args, t,
                                parent == WF_NONE || (extra_flags &
                                                      WF__F_ONEXIT_ROOT)
                                    ? r->wparams
                                    : NULL,
                                parent == WF_NONE || (extra_flags &
                                                      WF__F_ONEXIT_ROOT)
                                    ? r->nwparams
                                    : 0,
                                io, &em);
    if (rv == CL_ENOMEM) {
        r->err = CL_ENOMEM;
        return WF_NONE;
    }
    if (rv != 0) {
        wf__fulfill(r, n, WF_ERROR, em.msg);
        return n;
    }
    /* a node that succeeded in the run being retried or resubmitted */
    if (seed != NULL && seed->phase == WF_SUCCEEDED &&
        (seed->type == WF__N_POD || (seed->type == WF__N_RETRY &&
                                     !r->seeds_memoized)) &&
        seed->type == type) {
        if (type == WF__N_RETRY) {
            /* bring back every attempt as it was */
            for (int32_t k = 0;; k++) {
                char an[64];
                const char *aname = wf__rprintf(r, "%s(%d)", name, k);
                (void)an;
                const wf__seed *as = aname ? wf__seed_find(r, aname) : NULL;
                if (as == NULL)
                    break;
                uint32_t a = wf__node_new(r, aname, r->nodes[n].display_off,
                                          WF__N_POD, n, boundary);
                if (a == WF_NONE)
                    return WF_NONE;
                wf__node *an2 = &r->nodes[a];
                an2->tmpl = t;
                an2->step = st;
                an2->retry = k;
                an2->flags |= WF__F_ATTEMPT | WF__F_DONE;
                an2->io = io->in ? NULL : NULL;
                wf__restore(r, a, as);
                if (r->nodes[a].io)
                    r->nodes[a].io->in = io->in, r->nodes[a].io->nin = io->nin;
                an2 = &r->nodes[a];
                an2->phase = as->phase;
                an2->started = as->started;
                an2->finished = as->finished;
                an2->message = as->message;
                an2->id = as->id ? as->id : an2->id;
            }
        }
        wf__restore(r, n, seed);
        nd = &r->nodes[n];
        nd->started = seed->started;
        wf__fulfill(r, n, WF_SUCCEEDED,
                    r->seeds_memoized
                        ? wf__rprintf(r, "original pod: %s", seed->id)
                        : seed->message);
        r->nodes[n].finished = seed->finished ? seed->finished : r->now;
        return n;
    }
    wf__count_active(r, n);
    wf__begin(r, n);
    return n;
}

/* ---- when, items --------------------------------------------------------- */

/* 1: run, 0: skip (msg set), -1: error (msg set) */
static int wf__when(wf_run *r, wf__ctx *c, const wf__step *st,
                    const char **msg)
{
    if (st->when == NULL)
        return 1;
    cl_errmsg em;
    cl_errmsg_clear(&em);
    const char *s = NULL;
    uint32_t unres = 0, absent = 0;
    int rv = wf__subst(c, st->when, &s, &unres, &absent, &em);
    if (rv == CL_ENOMEM) {
        r->err = rv;
        return -1;
    }
    if (rv != 0) {
        *msg = wf__rprintf(r, "Invalid 'when' expression '%s': %s", st->when,
                           em.msg);
        return -1;
    }
    bool b = false;
    cl_errmsg_clear(&em);
    rv = wf_expr_gov_bool(s, &b, &em);
    if (rv != 0) {
        *msg = wf__rprintf(r, "Invalid 'when' expression '%s': %s", s,
                           em.msg);
        return -1;
    }
    if (!b) {
        *msg = wf__rprintf(r, "when '%s' evaluated false", s);
        return 0;
    }
    return 1;
}

/* Expand withItems/withParam/withSequence into a JSON array (new ref), or
 * NULL with *err_msg set, or NULL without message for "not a loop". */
static json_t *wf__expand(wf_run *r, wf__ctx *c, const wf__step *st,
                          const char **err_msg)
{
    *err_msg = NULL;
    if (st->with_items != NULL) {
        /* items may carry tags ({{workflow.parameters.x}}): substitute
         * string items */
        json_t *a = json_array();
        if (a == NULL) {
            r->err = CL_ENOMEM;
            return NULL;
        }
        size_t i;
        json_t *v;
        json_array_foreach(st->with_items, i, v)
        {
            if (json_is_string(v) && strstr(json_string_value(v), "{{")) {
                const char *s = NULL;
                uint32_t unres = 0, absent = 0;
                cl_errmsg em;
                cl_errmsg_clear(&em);
                if (wf__subst(c, json_string_value(v), &s, &unres, &absent,
                              &em) != 0 ||
                    s == NULL) {
                    json_decref(a);
                    *err_msg = wf__rprintf(r, "withItems: %s", em.msg);
                    return NULL;
                }
                json_array_append_new(a, json_string(s));
            } else {
                json_array_append(a, v);
            }
        }
        return a;
    }
    if (st->with_param != NULL) {
        cl_errmsg em;
        cl_errmsg_clear(&em);
        const char *s = NULL;
        uint32_t unres = 0, absent = 0;
        int rv = wf__subst(c, st->with_param, &s, &unres, &absent, &em);
        if (rv != 0 || unres > 0 || absent > 0) {
            *err_msg = rv ? wf__rprintf(r, "withParam: %s", em.msg)
                          : wf__rprintf(r, "failed to resolve withParam "
                                           "'%s'", st->with_param);
            return NULL;
        }
        json_error_t je;
        json_t *j = json_loads(s, JSON_DECODE_ANY, &je);
        if (j == NULL || !json_is_array(j)) {
            json_decref(j);
            const char *t = s;
            while (isspace((unsigned char)*t))
                t++;
            *err_msg = wf__rprintf(r, "withParam value could not be parsed as "
                                      "a JSON list: %s", t);
            return NULL;
        }
        return j;
    }
    if (st->with_seq != NULL) {
        const wf__seq *q = st->with_seq;
        const char *vals[3] = {q->count, q->start, q->end};
        long long num[3] = {0, 0, 0};
        bool has[3] = {false, false, false};
        for (int k = 0; k < 3; k++) {
            if (vals[k] == NULL)
                continue;
            const char *s = NULL;
            uint32_t unres = 0, absent = 0;
            cl_errmsg em;
            cl_errmsg_clear(&em);
            if (wf__subst(c, vals[k], &s, &unres, &absent, &em) != 0 ||
                unres > 0 || absent > 0) {
                *err_msg = wf__rprintf(r, "withSequence: failed to resolve "
                                          "'%s'", vals[k]);
                return NULL;
            }
            while (isspace((unsigned char)*s))
                s++;
            char *end = NULL;
            num[k] = strtoll(s, &end, 10);
            while (end && isspace((unsigned char)*end))
                end++;
            if (end == s || (end && *end != '\0')) {
                *err_msg = wf__rprintf(r, "withSequence: '%s' is not an "
                                          "integer", s);
                return NULL;
            }
            has[k] = true;
        }
        long long start = has[1] ? num[1] : 0, end;
        if (has[0]) {
            if (num[0] < 0) {
                *err_msg = wf__rprintf(r, "withSequence: count must be "
                                          "non-negative");
                return NULL;
            }
            if (num[0] == 0)
                return json_array();
            end = start + num[0] - 1;
        } else if (has[2]) {
            end = num[2];
        } else {
            *err_msg = wf__rprintf(r, "withSequence: count or end is "
                                      "required");
            return NULL;
        }
        long long nitems = end >= start ? end - start + 1 : start - end + 1;
        if (nitems > 1000000) {
            *err_msg = wf__rprintf(r, "withSequence: too many items");
            return NULL;
        }
        json_t *a = json_array();
        if (a == NULL) {
            r->err = CL_ENOMEM;
            return NULL;
        }
        const char *fmt = q->format ? q->format : "%d";
        /* one integer conversion only */
        int convs = 0;
        for (const char *f = fmt; *f; f++)
            if (*f == '%') {
                if (f[1] == '%') {
                    f++;
                    continue;
                }
                convs++;
                const char *g = f + 1;
                while (*g && strchr("-+ #0123456789", *g))
                    g++;
                if (!strchr("dxXoi", *g))
                    convs = 99;
            }
        if (convs != 1) {
            json_decref(a);
            *err_msg = wf__rprintf(r, "withSequence: format '%s' must hold "
                                      "one integer conversion", fmt);
            return NULL;
        }
        long long step = end >= start ? 1 : -1;
        for (long long v = start;; v += step) {
            char buf[128];
            char f2[64];
            /* widen %d to %lld */
            size_t fl = strlen(fmt);
            if (fl > 40) {
                json_decref(a);
                *err_msg = wf__rprintf(r, "withSequence: format too long");
                return NULL;
            }
            size_t o = 0;
            for (size_t k = 0; k < fl; k++) {
                f2[o++] = fmt[k];
                if (fmt[k] == '%' && fmt[k + 1] != '%') {
                    size_t m = k + 1;
                    while (m < fl && strchr("-+ #0123456789", fmt[m]))
                        f2[o++] = fmt[m++];
                    f2[o++] = 'l';
                    f2[o++] = 'l';
                    k = m - 1;
                }
            }
            f2[o] = '\0';
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
            snprintf(buf, sizeof(buf), f2, v);
#pragma GCC diagnostic pop
            json_array_append_new(a, json_string(buf));
            if (v == end)
                break;
        }
        return a;
    }
    return NULL;
}

/* The part of a node name that shows an item: "(i:desc)". */
const char *wf__item_desc(wf_run *r, json_t *item)
{
    if (json_is_object(item)) {
        /* sorted k:v joined by commas */
        size_t n = json_object_size(item);
        const char **keys = cl_malloc(sizeof(char *) * (n + 1));
        if (keys == NULL) {
            r->err = CL_ENOMEM;
            return "";
        }
        size_t k = 0;
        const char *key;
        json_t *v;
        json_object_foreach(item, key, v) keys[k++] = key;
        for (size_t i = 1; i < k; i++) {
            const char *x = keys[i];
            size_t j = i;
            while (j > 0 && strcmp(keys[j - 1], x) > 0) {
                keys[j] = keys[j - 1];
                j--;
            }
            keys[j] = x;
        }
        cl_buf b = CL_BUF_INIT;
        for (size_t i = 0; i < k; i++) {
            char *vs = wf__item_str(json_object_get(item, keys[i]));
            cl_buf_printf(&b, "%s%s:%s", i ? "," : "", keys[i], vs ? vs : "");
            cl_free(vs);
        }
        cl_free(keys);
        const char *out = wf__rstrdup(r, b.data ? b.data : "");
        cl_buf_free(&b);
        return out ? out : "";
    }
    char *s = wf__item_str(item);
    const char *out = wf__rstrdup(r, s ? s : "");
    cl_free(s);
    return out ? out : "";
}

static const char *wf__loop_name(wf_run *r, const char *base, uint32_t i,
                                 json_t *item)
{
    const char *desc = wf__item_desc(r, item);
    /* parentheses would confuse the index recovery of node names */
    char *d = wf__rstrdup(r, desc);
    if (d == NULL)
        return NULL;
    char *w = d;
    for (const char *s = d; *s; s++)
        if (*s != '(' && *s != ')')
            *w++ = *s;
    *w = '\0';
    return wf__rprintf(r, "%s(%" PRIu32 ":%s)", base, i, d);
}

/* ---- steps --------------------------------------------------------------- */

static void wf__start_group(wf_run *r, uint32_t steps_node, uint32_t gi)
{
    wf__node *sn = &r->nodes[steps_node];
    const wf__tmpl *t = sn->tmpl;
    const char *name = wf__rprintf(r, "%s[%" PRIu32 "]", sn->name, gi);
    if (name == NULL)
        return;
    uint32_t g = wf__node_new(r, name, (uint32_t)strlen(sn->name),
                              WF__N_STEPGROUP, steps_node, steps_node);
    if (g == WF_NONE)
        return;
    sn = &r->nodes[steps_node];
    sn->fr->u.st.gnodes[gi] = g;
    sn->fr->u.st.cur = gi;
    wf__node *gn = &r->nodes[g];
    gn->index = gi;
    gn->phase = WF_RUNNING;
    if (sn->flags & WF__F_EXIT_CTX)
        gn->flags |= WF__F_EXIT_CTX;
    wf__frame *f = wf__frame_of(r, g);
    if (f == NULL)
        return;
    const wf__group *grp = &t->groups[gi];
    f->u.g.steps = grp->steps;
    f->u.g.nsteps = grp->nsteps;
    f->u.g.exp = cl_calloc(grp->nsteps, sizeof(wf__exp));
    if (f->u.g.exp == NULL) {
        r->err = CL_ENOMEM;
        return;
    }
    /* expand every step of the group now (Argo expandStepGroup) */
    for (uint32_t s = 0; s < grp->nsteps; s++) {
        wf__ctx c;
        wf__ctx_scope(r, &c, steps_node, NULL);
        const char *emsg = NULL;
        json_t *items = wf__expand(r, &c, &grp->steps[s], &emsg);
        wf__ctx_fini(&c);
        wf__exp *e = &f->u.g.exp[s];
        if (items == NULL && emsg != NULL) {
            /* one Error node stands for the step */
            e->items = NULL;
            e->n = 1;
            e->nodes = NULL;
            e->ndone = 0;
            /* mark with a sentinel: nodes == NULL and n == 1 and error */
            e->nodes = cl_malloc(sizeof(uint32_t) * 2);
            if (e->nodes == NULL) {
                r->err = CL_ENOMEM;
                return;
            }
            e->nodes[0] = WF_NONE;
            e->nodes[1] = WF_NONE - 1; /* error marker */
            f->u.g.total += 1;
            /* keep the message on the group for creation */
            gn = &r->nodes[g];
            if (gn->message == NULL)
                gn->message = emsg;
            continue;
        }
        e->items = items;
        e->n = items ? (uint32_t)json_array_size(items) : 1;
        uint32_t cnt = e->n ? e->n : 1;
        e->nodes = cl_malloc(sizeof(uint32_t) * (cnt + 1));
        if (e->nodes == NULL) {
            r->err = CL_ENOMEM;
            return;
        }
        for (uint32_t k = 0; k <= cnt; k++)
            e->nodes[k] = WF_NONE;
        f->u.g.total += cnt;
    }
    wf__wl_push(r, WF__WL_PUMP, g, WF_NONE);
}

/* Shared by StepGroup and TaskGroup: create the next children. */
static bool wf__stopping_for(const wf_run *r, uint32_t n)
{
    if (r->stop == WF__RUNNING)
        return false;
    if (r->stop == WF__TERMINATING)
        return true;
    return (r->nodes[n].flags & WF__F_EXIT_CTX) == 0;
}

/* May a new child be created under boundary b? 1 yes, 0 blocked (wait),
 * -1 never (stopping or failFast). */
static int wf__gate(wf_run *r, uint32_t owner, uint32_t b)
{
    if (wf__stopping_for(r, owner))
        return -1;
    wf__frame *bf = b != WF_NONE ? r->nodes[b].fr : NULL;
    const wf__tmpl *bt = b != WF_NONE ? r->nodes[b].tmpl : NULL;
    if (bf != NULL && bf->stop_creating)
        return -1;
    if (bf != NULL && bt != NULL && bt->kind == WF__T_STEPS && bt->fail_fast &&
        bf->unsuccessful > 0) {
        bf->stop_creating = true;
        return -1;
    }
    bool blocked = false;
    if (r->parallelism > 0 && r->active_pods >= (uint32_t)r->parallelism)
        blocked = true;
    if (bf != NULL && bf->parallelism > 0 &&
        bf->active >= (uint32_t)bf->parallelism)
        blocked = true;
    if (blocked && bf != NULL && bt != NULL && bt->kind == WF__T_DAG &&
        bt->fail_fast && bf->unsuccessful > 0) {
        bf->stop_creating = true;
        return -1;
    }
    return blocked ? 0 : 1;
}

static void wf__group_finish(wf_run *r, uint32_t g);

static void wf__pump_group(wf_run *r, uint32_t g)
{
    wf__node *gn = &r->nodes[g];
    if (wf_phase_done(gn->phase))
        return;
    wf__frame *f = gn->fr;
    bool taskgroup = gn->type == WF__N_TASKGROUP;
    uint32_t scope = gn->boundary; /* Steps or DAG node */
    while (f->u.g.cs < f->u.g.nsteps && !r->err) {
        wf__exp *e = &f->u.g.exp[f->u.g.cs];
        const wf__step *st = &f->u.g.steps[f->u.g.cs];
        uint32_t cnt = e->n ? e->n : 1;
        if (f->u.g.ci >= cnt) {
            f->u.g.cs++;
            f->u.g.ci = 0;
            continue;
        }
        uint32_t i = f->u.g.ci;
        gn = &r->nodes[g];
        bool err_marker = e->items == NULL && e->nodes[1] == WF_NONE - 1;
        bool empty = e->items != NULL && e->n == 0;
        json_t *item = e->items && e->n ? json_array_get(e->items, i) : NULL;
        const char *base = taskgroup ? gn->name
                                     : wf__rprintf(r, "%s.%s", gn->name,
                                                   st->name);
        if (base == NULL)
            return;
        const char *name = item ? wf__loop_name(r, base, i, item) : base;
        if (name == NULL)
            return;
        uint32_t disp = (uint32_t)(taskgroup ? strlen(r->nodes[scope].name) + 1
                                             : strlen(gn->name) + 1);
        uint32_t child = WF_NONE;
        if (err_marker || empty) {
            child = wf__node_new(r, name, disp, WF__N_SKIPPED, g, scope);
            if (child == WF_NONE)
                return;
            r->nodes[child].step = st;
            r->nodes[child].index = f->u.g.cs;
            if (err_marker) {
                const char *m = r->nodes[g].message;
                r->nodes[g].message = NULL;
                wf__fulfill(r, child, WF_ERROR, m ? m : "invalid loop");
            } else {
                wf__fulfill(r, child, WF_SKIPPED, "Skipped, empty params");
            }
        } else {
            wf__ctx c;
            wf__ctx_scope(r, &c, scope, item);
            const char *msg = NULL;
            int w = wf__when(r, &c, st, &msg);
            if (w <= 0) {
                wf__ctx_fini(&c);
                child = wf__node_new(r, name, disp, WF__N_SKIPPED, g, scope);
                if (child == WF_NONE)
                    return;
                r->nodes[child].step = st;
                r->nodes[child].tmpl = st->tmpl;
                r->nodes[child].index = f->u.g.cs;
                r->nodes[child].item = item ? i : WF_NONE;
                r->nodes[child].itemv = item;
                wf__fulfill(r, child, w < 0 ? WF_ERROR : WF_SKIPPED, msg);
            } else {
                int gate = wf__gate(r, g, scope);
                if (gate == 0) {
                    wf__ctx_fini(&c);
                    wf__block(r, g);
                    return;
                }
                if (gate < 0) {
                    wf__ctx_fini(&c);
                    break; /* no more children: finish with what exists */
                }
                child = wf__spawn(r, name, disp, g, scope, st->tmpl, st,
                                  f->u.g.cs, item ? i : WF_NONE, item, &c,
                                  &st->args, 0);
                wf__ctx_fini(&c);
                if (child == WF_NONE)
                    return;
            }
        }
        f = r->nodes[g].fr;
        e = &f->u.g.exp[f->u.g.cs];
        e->nodes[i] = child;
        f->u.g.ncreated++;
        f->u.g.ci++;
    }
    /* nothing more will be created: finish when the created ones are done */
    f = r->nodes[g].fr;
    bool all_created = f->u.g.cs >= f->u.g.nsteps;
    if (!all_created) {
        /* stopped early (stop, deadline or failFast) */
        f->u.g.total = f->u.g.ncreated;
        f->u.g.cs = f->u.g.nsteps;
        f->stop_creating = true; /* marks the group as truncated */
    }
    if (f->u.g.ndone >= f->u.g.total)
        wf__group_finish(r, g);
}

static bool wf__continues(const wf__step *st, int phase)
{
    if (st == NULL)
        return false;
    return (phase == WF_FAILED && st->continue_failed) ||
           (phase == WF_ERROR && st->continue_error);
}

static void wf__group_finish(wf_run *r, uint32_t g)
{
    wf__node *gn = &r->nodes[g];
    if (wf_phase_done(gn->phase))
        return;
    wf__frame *f = gn->fr;
    if (gn->type == WF__N_TASKGROUP) {
        int phase = WF_SUCCEEDED;
        const char *msg = NULL;
        wf__exp *e = &f->u.g.exp[0];
        uint32_t cnt = e->n ? e->n : 1;
        bool all_skipped = true;
        for (uint32_t i = 0; i < cnt; i++) {
            uint32_t c = e->nodes[i];
            if (c == WF_NONE || c == WF_NONE - 1)
                continue;
            int p = r->nodes[c].phase;
            if (p != WF_SKIPPED && p != WF_OMITTED)
                all_skipped = false;
            if (wf__failed(p) && !wf__failed(phase)) {
                phase = p;
                msg = wf__rprintf(r, "child '%s' failed", r->nodes[c].id);
            }
        }
        if (f->stop_creating && !wf__failed(phase) &&
            wf__stopping_for(r, g)) {
            phase = WF_FAILED;
            msg = r->stop_msg;
        }
        if (phase == WF_SUCCEEDED && all_skipped)
            phase = WF_SKIPPED;
        wf__fulfill(r, g, phase, msg);
        return;
    }
    /* StepGroup: Failed if a child failed without continueOn (B3) */
    for (uint32_t s = 0; s < f->u.g.nsteps; s++) {
        wf__exp *e = &f->u.g.exp[s];
        uint32_t cnt = e->n ? e->n : 1;
        for (uint32_t i = 0; i < cnt; i++) {
            uint32_t c = e->nodes[i];
            if (c == WF_NONE || c == WF_NONE - 1)
                continue;
            wf__node *cn = &r->nodes[c];
            if (wf__failed(cn->phase) &&
                !wf__continues(&f->u.g.steps[s], cn->phase)) {
                wf__fulfill(r, g, WF_FAILED,
                            wf__rprintf(r, "child '%s' failed", cn->id));
                return;
            }
            if (cn->hook != WF_NONE && wf__failed(r->nodes[cn->hook].phase)) {
                wf__fulfill(r, g, WF_FAILED,
                            wf__rprintf(r, "child '%s' failed",
                                        r->nodes[cn->hook].id));
                return;
            }
        }
    }
    if (f->stop_creating && wf__stopping_for(r, g)) {
        /* children were left out by stop, terminate or the deadline */
        wf__fulfill(r, g, WF_FAILED, r->stop_msg);
        return;
    }
    wf__fulfill(r, g, WF_SUCCEEDED, NULL);
}

/* ---- outputs of composite templates --------------------------------------- */

static int wf__eval_outputs(wf_run *r, uint32_t n, cl_errmsg *em)
{
    wf__node *nd = &r->nodes[n];
    const wf__tmpl *t = nd->tmpl;
    if (t->outputs.nparams == 0 && t->outputs.narts == 0)
        return 0;
    wf__io *io = wf__io_of(r, n);
    if (io == NULL)
        return CL_ENOMEM;
    wf__ctx c;
    wf__ctx_body(r, &c, n);
    int rv = 0;
    if (t->outputs.nparams > 0) {
        io->out = wf__arena_alloc(&r->arena,
                                  sizeof(wf_kv) * t->outputs.nparams);
        if (io->out == NULL) {
            rv = CL_ENOMEM;
            goto out;
        }
    }
    for (uint32_t i = 0; i < t->outputs.nparams; i++) {
        const wf__param *p = &t->outputs.params[i];
        const char *val = NULL;
        if (p->vf_parameter != NULL || p->value != NULL) {
            const char *src = p->vf_parameter ? p->vf_parameter : p->value;
            uint32_t unres = 0, absent = 0;
            rv = wf__subst(&c, src, &val, &unres, &absent, em);
            if (rv != 0)
                goto out;
            if (unres > 0 || absent > 0)
                val = NULL;
        } else if (p->vf_expression != NULL) {
            json_t *j = NULL;
            rv = wf__eval(&c, p->vf_expression, &j, em);
            if (rv == CL_ENOMEM)
                goto out;
            if (rv == 0 && !json_is_null(j)) {
                char *s = wf_expr_render(j);
                val = s ? wf__rstrdup(r, s) : NULL;
                cl_free(s);
            }
            json_decref(j);
            if (rv != 0 && !p->has_vf_default) {
                cl_errmsg_wrap(em, "outputs.parameters.%s", p->name);
                goto out;
            }
            rv = 0;
        }
        if (val == NULL && p->has_vf_default)
            val = p->def;
        if (val == NULL) {
            cl_errmsg_set(em, "unable to resolve outputs.parameters.%s",
                          p->name);
            rv = CL_EINVAL;
            goto out;
        }
        io->out[io->nout].name = p->name;
        io->out[io->nout].value = val;
        io->nout++;
    }
    if (t->outputs.narts > 0) {
        io->out_arts = wf__arena_alloc(&r->arena,
                                       sizeof(wf__aref) * t->outputs.narts);
        if (io->out_arts == NULL) {
            rv = CL_ENOMEM;
            goto out;
        }
    }
    for (uint32_t i = 0; i < t->outputs.narts; i++) {
        const wf__art *a = &t->outputs.arts[i];
        wf__aref ref;
        memset(&ref, 0, sizeof(ref));
        if (a->from != NULL) {
            rv = wf__resolve_art_from(&c, a->from, &ref, em);
        } else if (a->from_expr != NULL) {
            json_t *j = NULL;
            rv = wf__eval(&c, a->from_expr, &j, em);
            if (rv == 0) {
                rv = wf__art_from_json(r, j, &ref);
                json_decref(j);
                if (rv != 0)
                    cl_errmsg_set(em, "fromExpression of output artifact '%s' "
                                      "is not an artifact", a->name);
            }
        } else {
            rv = CL_ENOENT;
        }
        if (rv == CL_ENOMEM)
            goto out;
        if (rv != 0) {
            if (a->optional) {
                rv = 0;
                continue;
            }
            if (em->msg[0] == '\0')
                cl_errmsg_set(em, "unable to resolve outputs.artifacts.%s",
                              a->name);
            rv = CL_EINVAL;
            goto out;
        }
        ref.name = a->name;
        io->out_arts[io->nout_arts++] = ref;
    }
out:
    wf__ctx_fini(&c);
    return rv;
}

/* ---- DAG ----------------------------------------------------------------- */

typedef struct wf__dv {
    wf_run *r;
    wf__frame *f;
    const wf__tmpl *t;
} wf__dv;

static bool wf__dep_val(void *ud, uint32_t task, enum wf__dep_res res)
{
    wf__dv *dv = ud;
    uint32_t n = dv->f->u.d.tnode[task];
    if (n == WF_NONE)
        return false;
    const wf__node *nd = &dv->r->nodes[n];
    int p = nd->phase;
    switch (res) {
    case WF__RES_SUCCEEDED:
        return p == WF_SUCCEEDED;
    case WF__RES_FAILED:
        return p == WF_FAILED;
    case WF__RES_ERRORED:
        return p == WF_ERROR;
    case WF__RES_SKIPPED:
        return p == WF_SKIPPED;
    case WF__RES_OMITTED:
        return p == WF_OMITTED;
    case WF__RES_DAEMONED:
        return false;
    case WF__RES_BARE: {
        const wf__step *st = &dv->t->tasks[task];
        return p == WF_SUCCEEDED || p == WF_SKIPPED ||
               (p == WF_ERROR && st->continue_error) ||
               (p == WF_FAILED && st->continue_failed);
    }
    case WF__RES_ANY_SUCCEEDED:
    case WF__RES_ALL_FAILED: {
        if (nd->type != WF__N_TASKGROUP || nd->fr == NULL)
            return false;
        const wf__exp *e = &nd->fr->u.g.exp[0];
        bool any = false, all = e->n > 0;
        for (uint32_t i = 0; i < e->n; i++) {
            uint32_t c = e->nodes[i];
            int cp = c < dv->r->nnodes ? dv->r->nodes[c].phase : WF_PENDING;
            any = any || cp == WF_SUCCEEDED;
            all = all && cp == WF_FAILED;
        }
        return res == WF__RES_ANY_SUCCEEDED ? any : all;
    }
    }
    return false;
}

static void wf__dag_ready(wf_run *r, uint32_t dag, uint32_t task)
{
    wf__frame *f = r->nodes[dag].fr;
    f->u.d.ts[task] = WF__TS_READY;
    f->u.d.ready[f->u.d.rtail++ % r->nodes[dag].tmpl->ntasks] = task;
    f->u.d.nready++;
    f->u.d.nwait--;
}

static void wf__dag_finish(wf_run *r, uint32_t dag);

static void wf__pump_dag(wf_run *r, uint32_t dag)
{
    wf__node *dn = &r->nodes[dag];
    if (wf_phase_done(dn->phase))
        return;
    const wf__tmpl *t = dn->tmpl;
    while (dn->fr->u.d.nready > 0 && !r->err) {
        wf__frame *f = dn->fr;
        uint32_t task = f->u.d.ready[f->u.d.rhead % t->ntasks];
        const wf__step *st = &t->tasks[task];
        const char *name = wf__rprintf(r, "%s.%s", dn->name, st->name);
        if (name == NULL)
            return;
        uint32_t disp = (uint32_t)strlen(dn->name) + 1;
        bool loop = st->with_items || st->with_param || st->with_seq;
        /* depends false: Omitted, never run (B4) */
        bool run = true;
        if (st->depends != NULL) {
            wf__dv dv = {r, f, t};
            run = wf__dep_eval(st->depends, wf__dep_val, &dv);
        }
        uint32_t child = WF_NONE;
        if (!run) {
            child = wf__node_new(r, name, disp, WF__N_SKIPPED, dag, dag);
            if (child == WF_NONE)
                return;
            r->nodes[child].step = st;
            r->nodes[child].tmpl = st->tmpl;
            r->nodes[child].index = task;
            dn = &r->nodes[dag];
            f = dn->fr;
            f->u.d.rhead++;
            f->u.d.nready--;
            f->u.d.tnode[task] = child;
            f->u.d.ts[task] = WF__TS_CREATED;
            f->u.d.nrun++;
            wf__fulfill(r, child, WF_OMITTED,
                        "omitted: depends condition not met");
            dn = &r->nodes[dag];
            continue;
        }
        wf__ctx c;
        wf__ctx_scope(r, &c, dag, NULL);
        if (loop) {
            const char *emsg = NULL;
            json_t *items = wf__expand(r, &c, st, &emsg);
            wf__ctx_fini(&c);
            int type = items ? WF__N_TASKGROUP : WF__N_SKIPPED;
            child = wf__node_new(r, name, disp, type, dag, dag);
            if (child == WF_NONE) {
                json_decref(items);
                return;
            }
            dn = &r->nodes[dag];
            f = dn->fr;
            f->u.d.rhead++;
            f->u.d.nready--;
            f->u.d.tnode[task] = child;
            f->u.d.ts[task] = WF__TS_CREATED;
            f->u.d.nrun++;
            wf__node *cn = &r->nodes[child];
            cn->step = st;
            cn->tmpl = st->tmpl;
            cn->index = task;
            if (items == NULL) {
                wf__fulfill(r, child, WF_ERROR, emsg ? emsg : "invalid loop");
                dn = &r->nodes[dag];
                continue;
            }
            cn->phase = WF_RUNNING;
            if (dn->flags & WF__F_EXIT_CTX)
                cn->flags |= WF__F_EXIT_CTX;
            wf__frame *gf = wf__frame_of(r, child);
            if (gf == NULL) {
                json_decref(items);
                return;
            }
            gf->u.g.steps = st;
            gf->u.g.nsteps = 1;
            gf->u.g.exp = cl_calloc(1, sizeof(wf__exp));
            if (gf->u.g.exp == NULL) {
                json_decref(items);
                r->err = CL_ENOMEM;
                return;
            }
            wf__exp *e = &gf->u.g.exp[0];
            e->items = items;
            e->n = (uint32_t)json_array_size(items);
            e->nodes = cl_malloc(sizeof(uint32_t) * (e->n + 2));
            if (e->nodes == NULL) {
                r->err = CL_ENOMEM;
                return;
            }
            for (uint32_t k = 0; k < e->n + 2; k++)
                e->nodes[k] = WF_NONE;
            if (e->n == 0) {
                gf->u.g.total = 0;
                gf->u.g.cs = 1;
                wf__fulfill(r, child, WF_SKIPPED, "Skipped, empty params");
            } else {
                gf->u.g.total = e->n;
                wf__wl_push(r, WF__WL_PUMP, child, WF_NONE);
            }
            dn = &r->nodes[dag];
            continue;
        }
        const char *msg = NULL;
        int w = wf__when(r, &c, st, &msg);
        if (w <= 0) {
            wf__ctx_fini(&c);
            child = wf__node_new(r, name, disp, WF__N_SKIPPED, dag, dag);
            if (child == WF_NONE)
                return;
            r->nodes[child].step = st;
            r->nodes[child].tmpl = st->tmpl;
            r->nodes[child].index = task;
            dn = &r->nodes[dag];
            f = dn->fr;
            f->u.d.rhead++;
            f->u.d.nready--;
            f->u.d.tnode[task] = child;
            f->u.d.ts[task] = WF__TS_CREATED;
            f->u.d.nrun++;
            wf__fulfill(r, child, w < 0 ? WF_ERROR : WF_SKIPPED, msg);
            dn = &r->nodes[dag];
            continue;
        }
        int gate = wf__gate(r, dag, dag);
        if (gate == 0) {
            wf__ctx_fini(&c);
            wf__block(r, dag);
            return;
        }
        if (gate < 0) {
            wf__ctx_fini(&c);
            break;
        }
        dn = &r->nodes[dag];
        f = dn->fr;
        f->u.d.rhead++;
        f->u.d.nready--;
        f->u.d.ts[task] = WF__TS_CREATED;
        f->u.d.nrun++;
        /* the node index is known once created; children done events are
         * queued, never immediate, so tnode is set before they run */
        child = wf__spawn(r, name, disp, dag, dag, st->tmpl, st, task,
                          WF_NONE, NULL, &c, &st->args, 0);
        wf__ctx_fini(&c);
        if (child == WF_NONE)
            return;
        dn = &r->nodes[dag];
        dn->fr->u.d.tnode[task] = child;
    }
    dn = &r->nodes[dag];
    wf__frame *f = dn->fr;
    if (f->u.d.nrun == 0 &&
        (f->u.d.nready == 0 || f->stop_creating ||
         wf__stopping_for(r, dag) || f->stop_creating))
        wf__dag_finish(r, dag);
}

/* Branch phases over the reachable tasks (dag.go assessDAGPhase): a task's
 * own phase if it completed, else the worst phase of its dependencies. */
static void wf__dag_finish(wf_run *r, uint32_t dag)
{
    wf__node *dn = &r->nodes[dag];
    if (wf_phase_done(dn->phase))
        return;
    const wf__tmpl *t = dn->tmpl;
    wf__frame *f = dn->fr;
    uint8_t *bp = cl_malloc(t->ntasks ? t->ntasks : 1);
    uint32_t *culprit = cl_malloc(sizeof(uint32_t) * (t->ntasks + 1));
    if (bp == NULL || culprit == NULL) {
        cl_free(bp);
        cl_free(culprit);
        r->err = CL_ENOMEM;
        return;
    }
    for (uint32_t k = 0; k < t->ntasks; k++) {
        uint32_t task = t->topo[k];
        bp[task] = WF_PENDING; /* "" in Argo: not created */
        culprit[task] = WF_NONE;
        if (f->u.d.ts[task] == WF__TS_UNREACH)
            continue;
        uint32_t n = f->u.d.tnode[task];
        if (n == WF_NONE)
            continue;
        int p = r->nodes[n].phase;
        if (p == WF_SUCCEEDED || p == WF_FAILED || p == WF_ERROR) {
            bp[task] = (uint8_t)p;
            culprit[task] = wf__failed(p) ? n : WF_NONE;
            continue;
        }
        /* Skipped/Omitted: inherit, failures win */
        int best = WF_SUCCEEDED;
        uint32_t cul = WF_NONE;
        const wf__step *st = &t->tasks[task];
        for (uint32_t j = 0; j < st->ndeps; j++) {
            uint32_t d = st->deps[j];
            if (wf__failed(bp[d]) && !wf__failed(best)) {
                best = bp[d];
                cul = culprit[d];
            }
        }
        bp[task] = (uint8_t)best;
        culprit[task] = cul;
    }
    int result = WF_SUCCEEDED;
    uint32_t cul = WF_NONE;
    for (uint32_t k = 0; k < f->u.d.ntargets; k++) {
        uint32_t task = f->u.d.targets[k];
        int b = bp[task];
        if (b == WF_PENDING) {
            /* a target never created: the DAG was stopped or failed fast */
            if (!wf__failed(result)) {
                result = WF_FAILED;
                cul = WF_NONE;
            }
            continue;
        }
        if (wf__failed(b)) {
            if (wf__continues(&t->tasks[task], b))
                continue;
            if (!wf__failed(result) || cul == WF_NONE) {
                result = b;
                cul = culprit[task];
            }
        }
    }
    cl_free(bp);
    cl_free(culprit);
    if (result == WF_SUCCEEDED) {
        cl_errmsg em;
        cl_errmsg_clear(&em);
        int rv = wf__eval_outputs(r, dag, &em);
        if (rv == CL_ENOMEM) {
            r->err = rv;
            return;
        }
        if (rv != 0) {
            wf__fulfill(r, dag, WF_ERROR, em.msg);
            return;
        }
        wf__fulfill(r, dag, WF_SUCCEEDED, NULL);
        return;
    }
    const char *msg = NULL;
    if (cul != WF_NONE)
        msg = wf__rprintf(r, "child '%s' failed", r->nodes[cul].id);
    else if (r->stop != WF__RUNNING)
        msg = r->stop_msg;
    wf__fulfill(r, dag, result, msg);
}

static void wf__dag_start(wf_run *r, uint32_t dag)
{
    wf__node *dn = &r->nodes[dag];
    const wf__tmpl *t = dn->tmpl;
    wf__frame *f = dn->fr;
    uint32_t nt = t->ntasks;
    f->u.d.tnode = cl_malloc(sizeof(uint32_t) * nt);
    f->u.d.pending = cl_malloc(sizeof(uint32_t) * nt);
    f->u.d.ts = cl_calloc(nt, 1);
    f->u.d.ready = cl_malloc(sizeof(uint32_t) * nt);
    if (!f->u.d.tnode || !f->u.d.pending || !f->u.d.ts || !f->u.d.ready) {
        r->err = CL_ENOMEM;
        return;
    }
    for (uint32_t i = 0; i < nt; i++)
        f->u.d.tnode[i] = WF_NONE;
    /* targets: dag.target (templated, space separated) or the leaves */
    const char *target = NULL;
    if (t->target != NULL && t->target[0] != '\0') {
        wf__ctx c;
        wf__ctx_body(r, &c, dag);
        cl_errmsg em;
        cl_errmsg_clear(&em);
        uint32_t unres = 0, absent = 0;
        int rv = wf__subst(&c, t->target, &target, &unres, &absent, &em);
        wf__ctx_fini(&c);
        if (rv != 0 || unres > 0) {
            wf__fulfill(r, dag, WF_ERROR,
                        rv ? em.msg
                           : wf__rprintf(r, "failed to resolve dag.target "
                                            "'%s'", t->target));
            return;
        }
    }
    f->u.d.targets = cl_malloc(sizeof(uint32_t) * (nt + 1));
    if (f->u.d.targets == NULL) {
        r->err = CL_ENOMEM;
        return;
    }
    if (target != NULL && target[0] != '\0') {
        const char *s = target;
        while (*s) {
            while (*s == ' ')
                s++;
            const char *e = s;
            while (*e && *e != ' ')
                e++;
            if (e > s) {
                uint32_t ti = WF_NONE;
                for (uint32_t i = 0; i < nt; i++)
                    if (strlen(t->tasks[i].name) == (size_t)(e - s) &&
                        !memcmp(t->tasks[i].name, s, (size_t)(e - s)))
                        ti = i;
                if (ti == WF_NONE) {
                    wf__fulfill(r, dag, WF_ERROR,
                                wf__rprintf(r, "target '%.*s' is not a task "
                                               "of the DAG",
                                            (int)(e - s), s));
                    return;
                }
                bool dup = false;
                for (uint32_t k = 0; k < f->u.d.ntargets; k++)
                    dup = dup || f->u.d.targets[k] == ti;
                if (!dup)
                    f->u.d.targets[f->u.d.ntargets++] = ti;
            }
            s = e;
        }
    } else {
        /* leaves, sorted by name */
        for (uint32_t i = 0; i < nt; i++)
            if (t->tasks[i].ndependents == 0)
                f->u.d.targets[f->u.d.ntargets++] = i;
        uint32_t *v = f->u.d.targets;
        for (uint32_t i = 1; i < f->u.d.ntargets; i++) {
            uint32_t x = v[i];
            uint32_t j = i;
            while (j > 0 && strcmp(t->tasks[v[j - 1]].name,
                                   t->tasks[x].name) > 0) {
                v[j] = v[j - 1];
                j--;
            }
            v[j] = x;
        }
    }
    /* reachable: the targets and their ancestors */
    uint32_t *stack = f->u.d.ready; /* free until tasks become ready */
    uint32_t sp = 0;
    for (uint32_t k = 0; k < f->u.d.ntargets; k++) {
        uint32_t ti = f->u.d.targets[k];
        if (f->u.d.ts[ti] == WF__TS_UNREACH) {
            f->u.d.ts[ti] = WF__TS_WAIT;
            stack[sp++] = ti;
        }
    }
    while (sp > 0) {
        const wf__step *st = &t->tasks[stack[--sp]];
        for (uint32_t j = 0; j < st->ndeps; j++) {
            uint32_t d = st->deps[j];
            if (f->u.d.ts[d] == WF__TS_UNREACH) {
                f->u.d.ts[d] = WF__TS_WAIT;
                stack[sp++] = d;
            }
        }
    }
    f->u.d.nwait = 0;
    for (uint32_t i = 0; i < nt; i++) {
        f->u.d.pending[i] = t->tasks[i].ndeps;
        if (f->u.d.ts[i] == WF__TS_WAIT)
            f->u.d.nwait++;
    }
    f->u.d.rhead = f->u.d.rtail = 0;
    for (uint32_t i = 0; i < nt; i++)
        if (f->u.d.ts[i] == WF__TS_WAIT && t->tasks[i].ndeps == 0)
            wf__dag_ready(r, dag, i);
    wf__wl_push(r, WF__WL_PUMP, dag, WF_NONE);
}

static void wf__dag_child_done(wf_run *r, uint32_t dag, uint32_t child)
{
    wf__node *dn = &r->nodes[dag];
    if (wf_phase_done(dn->phase))
        return;
    const wf__tmpl *t = dn->tmpl;
    wf__frame *f = dn->fr;
    uint32_t task = r->nodes[child].index;
    if (task >= t->ntasks || f->u.d.tnode[task] != child)
        return;
    f->u.d.ts[task] = WF__TS_DONE;
    f->u.d.nrun--;
    const wf__step *st = &t->tasks[task];
    for (uint32_t j = 0; j < st->ndependents; j++) {
        uint32_t d = st->dependents[j];
        if (f->u.d.ts[d] != WF__TS_WAIT)
            continue;
        if (--f->u.d.pending[d] == 0)
            wf__dag_ready(r, dag, d);
    }
    wf__pump_dag(r, dag);
}

/* ---- retries (B11) -------------------------------------------------------- */

static int64_t wf__int_of(wf_run *r, uint32_t n, const char *s, bool *ok)
{
    *ok = false;
    if (s == NULL)
        return 0;
    const char *v = s;
    if (strstr(s, "{{") != NULL) {
        wf__ctx c;
        wf__ctx_body(r, &c, n);
        uint32_t unres = 0, absent = 0;
        cl_errmsg em;
        cl_errmsg_clear(&em);
        int rv = wf__subst(&c, s, &v, &unres, &absent, &em);
        wf__ctx_fini(&c);
        if (rv != 0 || unres > 0 || v == NULL)
            return 0;
    }
    char *end = NULL;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end != '\0')
        return 0;
    *ok = true;
    return x;
}

static int64_t wf__dur_of(wf_run *r, uint32_t n, const char *s, bool *ok)
{
    *ok = false;
    if (s == NULL)
        return 0;
    const char *v = s;
    if (strstr(s, "{{") != NULL) {
        wf__ctx c;
        wf__ctx_body(r, &c, n);
        uint32_t unres = 0, absent = 0;
        cl_errmsg em;
        cl_errmsg_clear(&em);
        int rv = wf__subst(&c, s, &v, &unres, &absent, &em);
        wf__ctx_fini(&c);
        if (rv != 0 || unres > 0 || v == NULL)
            return 0;
    }
    int64_t ms = 0;
    if (cl_duration_parse(v, &ms) != 0)
        return 0;
    *ok = true;
    return ms;
}

static void wf__new_attempt(wf_run *r, uint32_t rn)
{
    wf__node *nd = &r->nodes[rn];
    wf__frame *f = nd->fr;
    uint32_t k = f->u.r.attempts;
    const char *name = wf__rprintf(r, "%s(%" PRIu32 ")", nd->name, k);
    if (name == NULL)
        return;
    int type = wf__node_type_for(nd->tmpl, true);
    uint32_t a = wf__node_new(r, name, r->nodes[rn].display_off, type, rn,
                              r->nodes[rn].boundary);
    if (a == WF_NONE)
        return;
    nd = &r->nodes[rn];
    f = nd->fr;
    f->u.r.attempts++;
    f->u.r.waiting = false;
    wf__node *an = &r->nodes[a];
    an->tmpl = nd->tmpl;
    an->step = nd->step;
    an->retry = (int32_t)k;
    an->index = nd->index;
    an->item = nd->item;
    an->itemv = nd->itemv;
    an->depth = (uint16_t)(nd->depth + 1);
    an->flags |= WF__F_ATTEMPT |
                 (nd->flags & (WF__F_EXIT_CTX | WF__F_INLINE_ITEM));
    an->io = wf__arena_alloc(&r->arena, sizeof(wf__io));
    if (an->io == NULL) {
        r->err = CL_ENOMEM;
        return;
    }
    an->io->in = nd->io ? nd->io->in : NULL;
    an->io->nin = nd->io ? nd->io->nin : 0;
    an->io->in_arts = nd->io ? nd->io->in_arts : NULL;
    an->io->nin_arts = nd->io ? nd->io->nin_arts : 0;
    /* an attempt that succeeded in the run being retried */
    const wf__seed *seed = r->nseeds ? wf__seed_find(r, name) : NULL;
    if (seed != NULL && seed->phase == WF_SUCCEEDED && seed->type == type &&
        type == WF__N_POD) {
        wf__restore(r, a, seed);
        r->nodes[a].started = seed->started;
        wf__fulfill(r, a, WF_SUCCEEDED,
                    r->seeds_memoized
                        ? wf__rprintf(r, "original pod: %s", seed->id)
                        : seed->message);
        r->nodes[a].finished = seed->finished ? seed->finished : r->now;
        return;
    }
    wf__count_active(r, a);
    wf__run_node(r, a);
}

static bool wf__retry_policy_allows(const wf__retry *rs, int phase)
{
    enum wf__policy p = rs->policy;
    if (p == WF__POL_DEFAULT)
        p = rs->expression ? WF__POL_ALWAYS : WF__POL_ON_FAILURE;
    switch (p) {
    case WF__POL_ON_FAILURE:
        return phase == WF_FAILED;
    case WF__POL_ON_ERROR:
        return phase == WF_ERROR;
    case WF__POL_ALWAYS:
        return phase == WF_FAILED || phase == WF_ERROR;
    case WF__POL_ON_TRANSIENT:
        return false; /* no transient infrastructure errors on a host */
    default:
        return false;
    }
}

static void wf__retry_child_done(wf_run *r, uint32_t rn, uint32_t child)
{
    wf__node *nd = &r->nodes[rn];
    if (wf_phase_done(nd->phase))
        return;
    wf__node *cn = &r->nodes[child];
    const wf__retry *rs = nd->tmpl->retry;
    int cp = cn->phase;
    const char *cmsg = cn->message;
    if (!wf__failed(cp)) {
        /* outputs are the last child's */
        nd->io->result = cn->io ? cn->io->result : NULL;
        if (cn->io) {
            nd->io->out = cn->io->out;
            nd->io->nout = cn->io->nout;
            nd->io->out_arts = cn->io->out_arts;
            nd->io->nout_arts = cn->io->nout_arts;
            nd->io->exit_code = cn->io->exit_code;
            nd->io->has_exit = cn->io->has_exit;
        }
        nd->host = cn->host;
        wf__fulfill(r, rn, cp, cmsg);
        return;
    }
    /* failed or errored: copy what the attempt left, then decide */
    if (cn->io) {
        nd->io->result = cn->io->result;
        nd->io->exit_code = cn->io->exit_code;
        nd->io->has_exit = cn->io->has_exit;
        nd->io->out = cn->io->out;
        nd->io->nout = cn->io->nout;
    }
    nd->host = cn->host;
    if (r->stop != WF__RUNNING && wf__stopping_for(r, rn)) {
        wf__fulfill(r, rn, cp, cmsg);
        return;
    }
    if (!wf__retry_policy_allows(rs, cp)) {
        wf__fulfill(r, rn, cp, cmsg);
        return;
    }
    if (rs->expression != NULL) {
        wf__ctx c;
        wf__ctx_body(r, &c, rn);
        json_t *lr = json_object();
        char buf[64];
        snprintf(buf, sizeof(buf), "%d",
                 cn->io && cn->io->has_exit ? cn->io->exit_code : -1);
        json_object_set_new(lr, "exitCode", json_string(buf));
        json_object_set_new(lr, "status", json_string(wf_phase_name(cp)));
        int64_t dur = cn->finished - cn->started;
        snprintf(buf, sizeof(buf), "%" PRId64, dur > 0 ? dur / 1000 : 0);
        json_object_set_new(lr, "duration", json_string(buf));
        json_object_set_new(lr, "message",
                            json_string(cmsg ? cmsg : ""));
        c.last_retry = lr;
        /* the expression may hold {{...}} tags: substitute first */
        const char *src = rs->expression;
        uint32_t unres = 0, absent = 0;
        cl_errmsg em;
        cl_errmsg_clear(&em);
        const char *sub = NULL;
        int rv = wf__subst(&c, src, &sub, &unres, &absent, &em);
        bool ok = false;
        if (rv == 0)
            rv = wf_expr_eval_bool(sub, wf__env(&c), &ok, &em);
        wf__ctx_fini(&c);
        json_decref(lr);
        if (rv != 0) {
            wf__fulfill(r, rn, WF_ERROR,
                        wf__rprintf(r, "retryStrategy.expression: %s",
                                    em.msg));
            return;
        }
        if (!ok) {
            wf__fulfill(r, rn, cp,
                        "retryStrategy.expression evaluated to false");
            return;
        }
    }
    wf__frame *f = r->nodes[rn].fr;
    bool okd = false;
    int64_t maxdur = wf__dur_of(r, rn, rs->b_max_duration, &okd);
    int64_t first = r->nodes[rn].started;
    if (okd && maxdur > 0 && r->now - first > maxdur) {
        wf__fulfill(r, rn, cp, "Max duration limit exceeded");
        return;
    }
    if (f->u.r.limit >= 0 && (int64_t)f->u.r.attempts > f->u.r.limit) {
        wf__fulfill(r, rn, cp, "No more retries left");
        return;
    }
    int64_t wait = 0;
    bool okb = false;
    int64_t base = wf__dur_of(r, rn, rs->b_duration, &okb);
    if (okb && base > 0) {
        double factor = 2.0;
        if (rs->b_factor != NULL) {
            bool okf = false;
            int64_t fv = wf__int_of(r, rn, rs->b_factor, &okf);
            factor = okf ? (double)fv : atof(rs->b_factor);
        }
        double w = (double)base;
        for (uint32_t k = 1; k < f->u.r.attempts; k++) {
            w *= factor;
            if (w > 1e15)
                break;
        }
        bool okc = false;
        int64_t cap = wf__dur_of(r, rn, rs->b_cap, &okc);
        if (okc && cap > 0 && w > (double)cap)
            w = (double)cap;
        wait = (int64_t)w;
        if (okd && maxdur > 0 && r->now + wait - first > maxdur) {
            wf__fulfill(r, rn, cp, "Backoff would exceed max duration limit");
            return;
        }
    }
    f->u.r.waiting = true;
    if (wait > 0) {
        char dbuf[32];
        r->nodes[rn].message =
            wf__rprintf(r, "Backoff for %s",
                        cl_duration_format(wait, dbuf, sizeof(dbuf)));
        wf__timer_add(r, r->now + wait, rn, WF__TM_BACKOFF);
        return;
    }
    wf__wl_push(r, WF__WL_PUMP, rn, WF_NONE);
}

/* ---- leaf tasks ------------------------------------------------------------ */

/* The first unresolved tag of s, for messages. */
static void wf__first_tag(const char *s, char *buf, size_t len)
{
    const char *b = s ? strstr(s, "{{") : NULL;
    const char *e = b ? strstr(b, "}}") : NULL;
    if (b == NULL || e == NULL) {
        snprintf(buf, len, "%s", s ? s : "");
        return;
    }
    snprintf(buf, len, "%.*s", (int)(e + 2 - b), b);
}

typedef struct wf__tb {
    wf_run *r;
    wf__ctx *c;
    wf__arena *a;
    cl_errmsg *em;
    int rv;
} wf__tb;

static const char *wf__tb_sub(wf__tb *tb, const char *in)
{
    if (tb->rv != 0 || in == NULL)
        return in;
    if (strstr(in, "{{") == NULL)
        return in; /* IR strings live as long as the spec */
    const char *out = NULL;
    uint32_t unres = 0, absent = 0;
    int rv = wf__subst(tb->c, in, &out, &unres, &absent, tb->em);
    if (rv != 0) {
        tb->rv = rv;
        return NULL;
    }
    if (unres > 0 || absent > 0) {
        char tag[256];
        wf__first_tag(out, tag, sizeof(tag));
        cl_errmsg_set(tb->em, "failed to resolve %s", tag);
        tb->rv = CL_EINVAL;
        return NULL;
    }
    return out; /* run arena */
}

static const wf_kv *wf__tb_kvs(wf__tb *tb, const wf__kvl *l, size_t *n)
{
    *n = 0;
    if (l->n == 0)
        return NULL;
    wf_kv *v = wf__arena_alloc(tb->a, sizeof(wf_kv) * l->n);
    if (v == NULL) {
        tb->rv = CL_ENOMEM;
        return NULL;
    }
    for (uint32_t i = 0; i < l->n; i++) {
        v[i].name = l->v[i].name;
        v[i].value = wf__tb_sub(tb, l->v[i].value);
    }
    *n = l->n;
    return v;
}

/* Resolve the task of leaf node n into `k`, every string in arena `a`.
 * The task is built twice: when the node starts (to find errors while the
 * event that caused it is being applied) and when its DISPATCH is popped,
 * so that queued dispatches cost no memory. Both see the same state: the
 * shell drains the actions after every event. */
static int wf__build_task(wf_run *r, uint32_t n, wf__arena *a, wf_task *k,
                          cl_errmsg *em)
{
    wf__node *nd = &r->nodes[n];
    const wf__tmpl *t = nd->tmpl;
    memset(k, 0, sizeof(*k));
    wf__ctx c;
    wf__ctx_body(r, &c, n);
    c.arena = a;
    wf__tb tb = {r, &c, a, em, 0};
    k->node = n;
    k->node_id = nd->id;
    k->node_name = nd->name;
    k->display_name = nd->name + nd->display_off;
    k->template_name = t->name;
    k->retry = nd->retry >= 0 ? nd->retry : 0;
    k->kind = t->kind == WF__T_SCRIPT ? WF_TASK_SCRIPT : WF_TASK_CONTAINER;
    k->image = wf__tb_sub(&tb, t->image);
    /* argv: command + args, or the image's entrypoint */
    uint32_t ncmd = t->ncommand, nargs = t->nargs;
    const char **argv = wf__arena_alloc(a,
                                        sizeof(char *) * (ncmd + nargs + 2));
    if (argv == NULL) {
        tb.rv = CL_ENOMEM;
        goto out;
    }
    uint32_t na = 0;
    if (t->image_entrypoint_unknown) {
        const char **args = wf__arena_alloc(a,
                                            sizeof(char *) * (nargs + 1));
        if (args == NULL) {
            tb.rv = CL_ENOMEM;
            goto out;
        }
        for (uint32_t i = 0; i < nargs; i++)
            args[i] = wf__tb_sub(&tb, t->args[i]);
        if (tb.rv != 0)
            goto out;
        const char **v = NULL;
        uint32_t nv = 0;
        extern int wf__image_argv(wf__arena *, const char *, const char **,
                                  uint32_t, const char ***, uint32_t *);
        int rv = wf__image_argv(a, k->image, args,
                                t->kind == WF__T_SCRIPT ? 0 : nargs, &v, &nv);
        if (rv == CL_ENOMEM) {
            tb.rv = rv;
            goto out;
        }
        if (rv != 0) {
            cl_errmsg_set(em, "container has no command and image '%s' has "
                              "no known entrypoint",
                          k->image ? k->image : "");
            tb.rv = CL_EINVAL;
            goto out;
        }
        if (t->kind == WF__T_SCRIPT)
            nv = nv > 0 ? 1 : 0;
        for (uint32_t i = 0; i < nv; i++)
            argv[na++] = v[i];
        if (t->kind == WF__T_SCRIPT)
            for (uint32_t i = 0; i < nargs; i++)
                argv[na++] = args[i];
    } else {
        for (uint32_t i = 0; i < ncmd; i++)
            argv[na++] = wf__tb_sub(&tb, t->command[i]);
        for (uint32_t i = 0; i < nargs; i++)
            argv[na++] = wf__tb_sub(&tb, t->args[i]);
    }
    k->command = argv;
    k->ncommand = na;
    k->source = wf__tb_sub(&tb, t->source);
    k->env = wf__tb_kvs(&tb, &t->env, &k->nenv);
    k->working_dir = wf__tb_sub(&tb, t->working_dir);
    /* input artifacts */
    const wf__io *io = nd->io;
    if (io != NULL && io->nin_arts > 0) {
        wf_input_artifact *ia = wf__arena_alloc(
            a, sizeof(wf_input_artifact) * io->nin_arts);
        if (ia == NULL) {
            tb.rv = CL_ENOMEM;
            goto out;
        }
        for (uint32_t i = 0; i < io->nin_arts; i++) {
            const wf__aref *ar = &io->in_arts[i];
            const wf__art *decl = wf__find_art(&t->inputs, ar->name);
            ia[i].name = ar->name;
            ia[i].path = decl ? wf__tb_sub(&tb, decl->path) : NULL;
            ia[i].raw = ar->raw;
            ia[i].digest = ar->raw ? NULL : ar->digest;
            ia[i].host = ar->raw ? NULL : ar->host;
            ia[i].sub_path = ar->path; /* subPath of the argument */
            if (ia[i].sub_path == NULL && decl)
                ia[i].sub_path = decl->sub_path;
            ia[i].mode = decl ? decl->mode : -1;
            ia[i].is_dir = ar->is_dir;
            if (ia[i].path == NULL && tb.rv == 0) {
                cl_errmsg_set(em, "input artifact '%s' has no path",
                              ar->name);
                tb.rv = CL_EINVAL;
            }
        }
        k->inputs = ia;
        k->ninputs = io->nin_arts;
    }
    /* outputs */
    uint32_t nop = 0;
    for (uint32_t i = 0; i < t->outputs.nparams; i++)
        nop += t->outputs.params[i].vf_path != NULL;
    if (nop > 0) {
        wf_output_param *op = wf__arena_alloc(a,
                                              sizeof(wf_output_param) * nop);
        if (op == NULL) {
            tb.rv = CL_ENOMEM;
            goto out;
        }
        uint32_t j = 0;
        for (uint32_t i = 0; i < t->outputs.nparams; i++) {
            const wf__param *p = &t->outputs.params[i];
            if (p->vf_path == NULL)
                continue;
            op[j].name = p->name;
            op[j].path = wf__tb_sub(&tb, p->vf_path);
            j++;
        }
        k->out_params = op;
        k->nout_params = nop;
    }
    if (t->outputs.narts > 0) {
        wf_output_artifact *oa = wf__arena_alloc(
            a, sizeof(wf_output_artifact) * t->outputs.narts);
        if (oa == NULL) {
            tb.rv = CL_ENOMEM;
            goto out;
        }
        uint32_t j = 0;
        for (uint32_t i = 0; i < t->outputs.narts; i++) {
            const wf__art *oart = &t->outputs.arts[i];
            if (oart->path == NULL)
                continue;
            oa[j].name = oart->name;
            oa[j].path = wf__tb_sub(&tb, oart->path);
            oa[j].optional = oart->optional;
            j++;
        }
        k->out_artifacts = oa;
        k->nout_artifacts = j;
    }
    if (io != NULL && io->nin > 0) {
        k->input_params = io->in;
        k->ninput_params = io->nin;
    }
    k->requests = wf__tb_kvs(&tb, &t->requests, &k->nrequests);
    k->limits = wf__tb_kvs(&tb, &t->limits, &k->nlimits);
    /* Kubernetes: a resource with a limit and no request requests its
     * limit (extended resources such as nvidia.com/gpu are given so) */
    if (k->nlimits > 0 && tb.rv == 0) {
        wf_kv *req = wf__arena_alloc(a, sizeof(wf_kv) *
                                            (k->nrequests + k->nlimits));
        if (req == NULL) {
            tb.rv = CL_ENOMEM;
            goto out;
        }
        size_t nr = 0;
        for (size_t i = 0; i < k->nrequests; i++)
            req[nr++] = k->requests[i];
        for (size_t i = 0; i < k->nlimits; i++) {
            bool have = false;
            for (size_t j = 0; j < k->nrequests; j++)
                have = have || !strcmp(k->requests[j].name,
                                       k->limits[i].name);
            if (!have)
                req[nr++] = k->limits[i];
        }
        k->requests = req;
        k->nrequests = nr;
    }
    /* nodeSelector: the template's, then the workflow's for other keys */
    {
        const wf__kvl *tl = &t->node_selector, *sl = &r->spec->node_selector;
        uint32_t cap = tl->n + sl->n;
        if (cap > 0) {
            wf_kv *v = wf__arena_alloc(a, sizeof(wf_kv) * cap);
            if (v == NULL) {
                tb.rv = CL_ENOMEM;
                goto out;
            }
            size_t m = 0;
            for (uint32_t i = 0; i < tl->n; i++) {
                v[m].name = tl->v[i].name;
                v[m++].value = wf__tb_sub(&tb, tl->v[i].value);
            }
            for (uint32_t i = 0; i < sl->n; i++) {
                bool dup = false;
                for (uint32_t j = 0; j < tl->n; j++)
                    dup = dup || !strcmp(tl->v[j].name, sl->v[i].name);
                if (dup)
                    continue;
                v[m].name = sl->v[i].name;
                wf__ctx gc;
                wf__ctx_init(&gc, r);
                wf__ctx *save = tb.c;
                tb.c = &gc;
                v[m++].value = wf__tb_sub(&tb, sl->v[i].value);
                tb.c = save;
                wf__ctx_fini(&gc);
            }
            k->node_selector = v;
            k->nnode_selector = m;
        }
    }
    k->annotations = wf__tb_kvs(&tb, &t->annotations, &k->nannotations);
    if (t->active_deadline != NULL) {
        const char *s = wf__tb_sub(&tb, t->active_deadline);
        if (tb.rv == 0) {
            char *end = NULL;
            long long v = strtoll(s, &end, 10);
            if (end == s || *end != '\0' || v < 0) {
                cl_errmsg_set(em, "activeDeadlineSeconds: expected seconds, "
                                  "got '%s'", s);
                tb.rv = CL_EINVAL;
            } else {
                k->deadline_ms = v * 1000;
            }
        }
    }
    k->priority = r->priority;
    k->memo_key = nd->memo_key;
out:
    wf__ctx_fini(&c);
    return tb.rv;
}

/* ---- execution ----------------------------------------------------------- */

static const char *wf__sub_simple(wf_run *r, uint32_t n, const char *s,
                                  cl_errmsg *em, int *rv)
{
    *rv = 0;
    if (s == NULL || strstr(s, "{{") == NULL)
        return s;
    wf__ctx c;
    wf__ctx_body(r, &c, n);
    const char *out = NULL;
    uint32_t unres = 0, absent = 0;
    *rv = wf__subst(&c, s, &out, &unres, &absent, em);
    wf__ctx_fini(&c);
    if (*rv == 0 && (unres > 0 || absent > 0)) {
        char tag[256];
        wf__first_tag(out, tag, sizeof(tag));
        cl_errmsg_set(em, "failed to resolve %s", tag);
        *rv = CL_EINVAL;
    }
    return out;
}

static void wf__run_pod(wf_run *r, uint32_t n)
{
    cl_errmsg em;
    cl_errmsg_clear(&em);
    wf_task k;
    int rv = wf__build_task(r, n, &r->tarena, &k, &em);
    int64_t deadline = k.deadline_ms;
    wf__arena_reset(&r->tarena);
    if (rv == CL_ENOMEM) {
        r->err = rv;
        return;
    }
    if (rv != 0) {
        wf__fulfill(r, n, WF_ERROR, wf__rstrdup(r, em.msg));
        return;
    }
    wf__node *nd = &r->nodes[n];
    nd->attempt_deadline = deadline;
    nd->flags |= WF__F_DISPATCHED | WF__F_QUEUED;
    wf__q_push(r, WF_ACT_DISPATCH, n, NULL);
    const wf__tmpl *t = nd->tmpl;
    if (t->timeout != NULL) {
        int srv = 0;
        const char *s = wf__sub_simple(r, n, t->timeout, &em, &srv);
        int64_t ms = 0;
        if (srv == 0 && s != NULL && cl_duration_parse(s, &ms) == 0 && ms > 0)
            wf__timer_add(r, nd->started + ms, n, WF__TM_TIMEOUT);
    }
}

static void wf__run_node(wf_run *r, uint32_t n)
{
    wf__node *nd = &r->nodes[n];
    const wf__tmpl *t = nd->tmpl;
    switch (nd->type) {
    case WF__N_RETRY: {
        wf__frame *f = wf__frame_of(r, n);
        if (f == NULL)
            return;
        nd = &r->nodes[n];
        nd->phase = WF_RUNNING;
        f->u.r.limit = -1;
        if (t->retry->limit != NULL) {
            bool ok = false;
            int64_t v = wf__int_of(r, n, t->retry->limit, &ok);
            if (!ok || v < 0) {
                wf__fulfill(r, n, WF_ERROR,
                            wf__rprintf(r, "retryStrategy.limit: expected a "
                                           "non-negative integer, got '%s'",
                                        t->retry->limit));
                return;
            }
            f->u.r.limit = v;
        }
        wf__new_attempt(r, n);
        return;
    }
    case WF__N_POD:
        wf__run_pod(r, n);
        return;
    case WF__N_STEPS:
    case WF__N_DAG: {
        wf__frame *f = wf__frame_of(r, n);
        if (f == NULL)
            return;
        nd = &r->nodes[n];
        nd->phase = WF_RUNNING;
        if (t->parallelism != NULL) {
            bool ok = false;
            int64_t v = wf__int_of(r, n, t->parallelism, &ok);
            f->parallelism = ok && v > 0 ? (int32_t)v : 0;
        }
        if (nd->type == WF__N_STEPS) {
            f->u.st.gnodes = cl_malloc(sizeof(uint32_t) * t->ngroups);
            if (f->u.st.gnodes == NULL) {
                r->err = CL_ENOMEM;
                return;
            }
            for (uint32_t i = 0; i < t->ngroups; i++)
                f->u.st.gnodes[i] = WF_NONE;
            wf__start_group(r, n, 0);
        } else {
            wf__dag_start(r, n);
        }
        return;
    }
    default:
        return;
    }
}

static const regex_t *wf__memo_re(void)
{
    static regex_t re;
    static int state; /* 0 unset, 1 ok, 2 failed */
    if (state == 0)
        state = regcomp(&re, "^[a-zA-Z0-9][-a-zA-Z0-9]*$",
                        REG_EXTENDED | REG_NOSUB) == 0
                    ? 1
                    : 2;
    return state == 1 ? &re : NULL;
}

/* memoize -> mutexes -> run */
static void wf__begin(wf_run *r, uint32_t n)
{
    wf__node *nd = &r->nodes[n];
    const wf__tmpl *t = nd->tmpl;
    if (t->memo != NULL && !(nd->flags & WF__F_MEMO)) {
        cl_errmsg em;
        cl_errmsg_clear(&em);
        int rv = 0;
        const char *key = wf__sub_simple(r, n, t->memo->key, &em, &rv);
        if (rv == CL_ENOMEM) {
            r->err = rv;
            return;
        }
        nd = &r->nodes[n];
        nd->flags |= WF__F_MEMO;
        if (rv != 0) {
            wf__fulfill(r, n, WF_ERROR, em.msg);
            return;
        }
        const regex_t *re = wf__memo_re();
        if (re == NULL || regexec(re, key, 0, NULL, 0) != 0) {
            wf__fulfill(r, n, WF_ERROR,
                        wf__rprintf(r, "invalid memoization key '%s': it must "
                                       "match ^[a-zA-Z0-9][-a-zA-Z0-9]*$",
                                    key));
            return;
        }
        nd->memo_key = wf__rstrdup(r, key);
        nd->memo_cache = t->memo->cache;
        nd->flags |= WF__F_MEMO_WAIT;
        wf__q_push(r, WF_ACT_MEMO_LOOKUP, n, NULL);
        return;
    }
    if (nd->mutex_next < t->nmutexes) {
        cl_errmsg em;
        cl_errmsg_clear(&em);
        int rv = 0;
        const char *m = wf__sub_simple(r, n, t->mutexes[nd->mutex_next], &em,
                                       &rv);
        if (rv == CL_ENOMEM) {
            r->err = rv;
            return;
        }
        if (rv != 0) {
            wf__fulfill(r, n, WF_ERROR, em.msg);
            return;
        }
        nd = &r->nodes[n];
        nd->flags |= WF__F_MUTEX_WAIT;
        wf__q_push(r, WF_ACT_ACQUIRE, n, wf__rstrdup(r, m));
        return;
    }
    wf__run_node(r, n);
}

static void wf__export_globals(wf_run *r, uint32_t n)
{
    wf__node *nd = &r->nodes[n];
    const wf__tmpl *t = nd->tmpl;
    const wf__io *io = nd->io;
    if (t == NULL || io == NULL)
        return;
    for (uint32_t i = 0; i < t->outputs.nparams; i++) {
        const wf__param *p = &t->outputs.params[i];
        if (p->global_name == NULL)
            continue;
        for (uint32_t j = 0; j < io->nout; j++) {
            if (strcmp(io->out[j].name, p->name) != 0)
                continue;
            uint32_t k = 0;
            while (k < r->ngparams && strcmp(r->gparams[k].name,
                                             p->global_name) != 0)
                k++;
            if (k == r->ngparams) {
                wf_kv *g = cl_realloc(r->gparams,
                                      sizeof(wf_kv) * (r->ngparams + 1));
                if (g == NULL) {
                    r->err = CL_ENOMEM;
                    return;
                }
                r->gparams = g;
                r->ngparams++;
                g[k].name = p->global_name;
            }
            r->gparams[k].value = io->out[j].value;
        }
    }
    for (uint32_t i = 0; i < t->outputs.narts; i++) {
        const wf__art *a = &t->outputs.arts[i];
        if (a->global_name == NULL)
            continue;
        for (uint32_t j = 0; j < io->nout_arts; j++) {
            if (strcmp(io->out_arts[j].name, a->name) != 0)
                continue;
            uint32_t k = 0;
            while (k < r->ngarts && strcmp(r->garts[k].name,
                                           a->global_name) != 0)
                k++;
            if (k == r->ngarts) {
                wf__aref *g = cl_realloc(r->garts,
                                         sizeof(wf__aref) * (r->ngarts + 1));
                if (g == NULL) {
                    r->err = CL_ENOMEM;
                    return;
                }
                r->garts = g;
                r->ngarts++;
            }
            r->garts[k] = io->out_arts[j];
            r->garts[k].name = a->global_name;
        }
    }
}

static void wf__node_done(wf_run *r, uint32_t n)
{
    wf__node *nd = &r->nodes[n];
    if (nd->flags & WF__F_DONE)
        return;
    nd->flags |= WF__F_DONE;
    nd->flags &= ~WF__F_HOOK_RUNNING;
    if (nd->parent != WF_NONE) {
        wf__wl_push(r, WF__WL_CHILD, nd->parent, n);
        return;
    }
    if (n == r->root) {
        const wf_spec *s = r->spec;
        if (s->on_exit != NULL && r->stop != WF__TERMINATING) {
            const char *name = wf__rprintf(r, "%s.onExit", r->name);
            if (name == NULL)
                return;
            wf__ctx c;
            wf__ctx_init(&c, r);
            c.exit_ctx = true;
            r->onexit = r->nnodes; /* it may finish inside wf__spawn */
            wf__spawn(r, name, 0, WF_NONE, WF_NONE,
                                  s->on_exit->tmpl, NULL, WF_NONE, WF_NONE,
                                  NULL, &c, &s->on_exit->args,
                                  WF__F_EXIT_CTX | WF__F_ONEXIT_ROOT |
                                      WF__F_HOOK);
            wf__ctx_fini(&c);
            return;
        }
        wf__finish_wf(r);
        return;
    }
    if (n == r->onexit)
        wf__finish_wf(r);
}

static void wf__fulfill(wf_run *r, uint32_t n, int phase, const char *msg)
{
    wf__node *nd = &r->nodes[n];
    if (wf_phase_done(nd->phase))
        return;
    nd->phase = (uint8_t)phase;
    nd->finished = r->now;
    nd->message = msg;
    nd->gen++;
    /* a DISPATCH still queued is dropped when popped */
    nd->flags &= ~(WF__F_DISPATCHED | WF__F_MEMO_WAIT | WF__F_QUEUED);
    bool freed = false;
    if (nd->flags & WF__F_COUNTED) {
        nd->flags &= ~WF__F_COUNTED;
        if (nd->boundary != WF_NONE && r->nodes[nd->boundary].fr != NULL) {
            wf__frame *bf = r->nodes[nd->boundary].fr;
            if (bf->active > 0)
                bf->active--;
            if (bf->parallelism > 0)
                freed = true;
        }
    }
    if (nd->flags & WF__F_POD_COUNTED) {
        nd->flags &= ~WF__F_POD_COUNTED;
        if (r->active_pods > 0)
            r->active_pods--;
        if (r->parallelism > 0)
            freed = true;
    }
    if (wf__failed(phase) && nd->parent != WF_NONE && nd->boundary != WF_NONE) {
        int pt = r->nodes[nd->parent].type;
        if ((pt == WF__N_STEPGROUP || pt == WF__N_DAG ||
             pt == WF__N_TASKGROUP) &&
            r->nodes[nd->boundary].fr != NULL)
            r->nodes[nd->boundary].fr->unsuccessful++;
    }
    if (nd->flags & WF__F_MUTEX_WAIT) {
        /* the grant never came: withdraw the request */
        nd->flags &= ~WF__F_MUTEX_WAIT;
        const wf__tmpl *t = nd->tmpl;
        if (t != NULL && nd->mutex_next < t->nmutexes) {
            cl_errmsg em;
            int rv = 0;
            const char *m = wf__sub_simple(r, n, t->mutexes[nd->mutex_next],
                                           &em, &rv);
            if (rv == 0)
                wf__q_push(r, WF_ACT_RELEASE, n, wf__rstrdup(r, m));
        }
    }
    if (nd->flags & WF__F_HOLDS_MUTEX) {
        nd->flags &= ~WF__F_HOLDS_MUTEX;
        const wf__tmpl *t = nd->tmpl;
        for (uint32_t i = 0; t != NULL && i < nd->mutex_next; i++) {
            cl_errmsg em;
            int rv = 0;
            const char *m = wf__sub_simple(r, n, t->mutexes[i], &em, &rv);
            if (rv == 0)
                wf__q_push(r, WF_ACT_RELEASE, n, wf__rstrdup(r, m));
        }
    }
    nd = &r->nodes[n];
    if (phase == WF_SUCCEEDED) {
        wf__export_globals(r, n);
        nd = &r->nodes[n];
        if ((nd->flags & WF__F_MEMO) && !(nd->flags & WF__F_MEMO_HIT) &&
            !(nd->flags & WF__F_SEEDED) && nd->memo_key != NULL)
            wf__q_push(r, WF_ACT_MEMO_SAVE, n, NULL);
    }
    if (freed)
        wf__unblock_all(r);
    nd = &r->nodes[n];
    /* the exit hook of a step or task (B12) */
    const wf__step *st = nd->step;
    if (st != NULL && st->exit_hook != NULL && !(nd->flags & WF__F_HOOK) &&
        !(nd->flags & WF__F_ATTEMPT) && nd->type != WF__N_SKIPPED &&
        nd->type != WF__N_TASKGROUP &&
        (phase == WF_SUCCEEDED || wf__failed(phase)) &&
        r->stop != WF__TERMINATING && st->exit_hook->tmpl != NULL) {
        const char *name = wf__rprintf(r, "%s.onExit", nd->name);
        if (name == NULL)
            return;
        wf__ctx c;
        wf__ctx_scope(r, &c, nd->boundary, nd->itemv);
        c.exit_ctx = true;
        nd->flags |= WF__F_HOOK_RUNNING;
        uint32_t h = wf__spawn(r, name, nd->display_off, n, nd->boundary,
                               st->exit_hook->tmpl, NULL, WF_NONE, WF_NONE,
                               NULL, &c, &st->exit_hook->args,
                               WF__F_HOOK | WF__F_EXIT_CTX);
        wf__ctx_fini(&c);
        if (h != WF_NONE)
            r->nodes[n].hook = h;
        return;
    }
    wf__node_done(r, n);
}

static void wf__steps_child_done(wf_run *r, uint32_t sn, uint32_t g)
{
    wf__node *nd = &r->nodes[sn];
    if (wf_phase_done(nd->phase))
        return;
    wf__node *gn = &r->nodes[g];
    if (gn->type != WF__N_STEPGROUP)
        return;
    if (wf__failed(gn->phase)) {
        wf__fulfill(r, sn, gn->phase, gn->message);
        return;
    }
    uint32_t next = gn->index + 1;
    if (next < nd->tmpl->ngroups && !wf__stopping_for(r, sn)) {
        wf__start_group(r, sn, next);
        return;
    }
    if (next < nd->tmpl->ngroups) {
        wf__fulfill(r, sn, WF_FAILED, r->stop_msg);
        return;
    }
    cl_errmsg em;
    cl_errmsg_clear(&em);
    int rv = wf__eval_outputs(r, sn, &em);
    if (rv == CL_ENOMEM) {
        r->err = rv;
        return;
    }
    wf__fulfill(r, sn, rv ? WF_ERROR : WF_SUCCEEDED, rv ? em.msg : NULL);
}

static void wf__child_done(wf_run *r, uint32_t p, uint32_t c)
{
    wf__node *pn = &r->nodes[p];
    if (pn->hook == c) {
        wf__node_done(r, p);
        return;
    }
    switch (pn->type) {
    case WF__N_STEPGROUP:
    case WF__N_TASKGROUP:
        if (wf_phase_done(pn->phase))
            return;
        pn->fr->u.g.ndone++;
        wf__pump_group(r, p);
        return;
    case WF__N_STEPS:
        wf__steps_child_done(r, p, c);
        return;
    case WF__N_DAG:
        wf__dag_child_done(r, p, c);
        return;
    case WF__N_RETRY:
        wf__retry_child_done(r, p, c);
        return;
    default:
        return;
    }
}

static void wf__pump(wf_run *r, uint32_t n)
{
    wf__node *nd = &r->nodes[n];
    if (wf_phase_done(nd->phase))
        return;
    switch (nd->type) {
    case WF__N_STEPGROUP:
    case WF__N_TASKGROUP:
        wf__pump_group(r, n);
        return;
    case WF__N_DAG:
        wf__pump_dag(r, n);
        return;
    case WF__N_RETRY: {
        wf__frame *f = nd->fr;
        if (f == NULL || !f->u.r.waiting)
            return;
        if (wf__stopping_for(r, n)) {
            uint32_t last = nd->nkids ? nd->kids[nd->nkids - 1] : WF_NONE;
            wf__fulfill(r, n,
                        last != WF_NONE ? r->nodes[last].phase : WF_FAILED,
                        r->stop_msg);
            return;
        }
        int gate = wf__gate(r, n, nd->boundary);
        if (gate == 0) {
            wf__block(r, n);
            return;
        }
        wf__new_attempt(r, n);
        return;
    }
    default:
        return;
    }
}

static void wf__drain(wf_run *r)
{
    while (r->wlhead < r->wltail && !r->err) {
        wf__work w = r->wl[r->wlhead % r->wlcap];
        r->wlhead++;
        if (w.kind == WF__WL_CHILD)
            wf__child_done(r, w.parent, w.child);
        else
            wf__pump(r, w.parent);
    }
    if (r->wlhead == r->wltail)
        r->wlhead = r->wltail = 0;
}

static void wf__finish_wf(wf_run *r)
{
    if (r->done_emitted)
        return;
    int phase = WF_SUCCEEDED;
    const char *msg = NULL;
    if (r->root != WF_NONE) {
        const wf__node *root = &r->nodes[r->root];
        if (wf__failed(root->phase)) {
            phase = root->phase;
            msg = root->message;
        }
    } else {
        phase = WF_FAILED;
    }
    if (r->onexit != WF_NONE) {
        const wf__node *ox = &r->nodes[r->onexit];
        if (phase == WF_SUCCEEDED && wf__failed(ox->phase)) {
            phase = ox->phase;
            msg = ox->message;
        }
    }
    if (r->stop != WF__RUNNING) {
        phase = WF_FAILED;
        msg = r->stop_msg;
    }
    r->phase = (enum wf_phase)phase;
    r->message = msg;
    r->finished = r->now;
    for (uint32_t i = 0; i < r->wf_mutex_next && r->holds_wf_mutex; i++)
        wf__q_push(r, WF_ACT_RELEASE, 0, r->spec->mutexes[i]);
    r->holds_wf_mutex = false;
    r->done_emitted = true;
    wf__q_push(r, WF_ACT_DONE, r->root, NULL);
}

static void wf__start_root(wf_run *r)
{
    const wf__tmpl *t = wf__spec_find_tmpl(r->spec, r->entrypoint);
    wf__args args;
    memset(&args, 0, sizeof(args));
    args.arts = r->spec->arts;
    args.narts = r->spec->narts;
    wf__ctx c;
    wf__ctx_init(&c, r);
    /* the index the root gets: it may finish inside wf__spawn already */
    r->root = r->nnodes;
    uint32_t n = wf__spawn(r, r->name, 0, WF_NONE, WF_NONE, t, NULL, WF_NONE,
                           WF_NONE, NULL, &c, &args, 0);
    if (n == WF_NONE)
        r->root = WF_NONE;
    wf__ctx_fini(&c);
}

/* ---- events ----------------------------------------------------------------- */

static void wf__api_enter(wf_run *r, int64_t now)
{
    wf__arena_reset(&r->parena);
    cl_free(r->last_kv);
    r->last_kv = NULL;
    cl_free(r->last_arts);
    r->last_arts = NULL;
    if (now > r->now)
        r->now = now;
}

static int wf__api_leave(wf_run *r)
{
    wf__drain(r);
    if (r->err) {
        cl_errmsg_set(&r->errmsg, "out of memory");
        return r->err;
    }
    return 0;
}

int wf_run_start(wf_run *r, int64_t now)
{
    wf__api_enter(r, now);
    if (r->phase != WF_PENDING || r->started != 0)
        return CL_ESTATE;
    r->started = r->now;
    r->phase = WF_RUNNING;
    if (r->deadline_ms > 0)
        wf__timer_add(r, r->started + r->deadline_ms, WF_NONE,
                      WF__TM_WF_DEADLINE);
    if (r->spec->nmutexes > 0) {
        r->wf_mutex_next = 0;
        wf__q_push(r, WF_ACT_ACQUIRE, 0, r->spec->mutexes[0]);
        return wf__api_leave(r);
    }
    wf__start_root(r);
    return wf__api_leave(r);
}

static bool wf__wf_mutex_pending(const wf_run *r)
{
    return r->spec->nmutexes > 0 && r->root == WF_NONE &&
           r->wf_mutex_next < r->spec->nmutexes && r->started != 0 &&
           !r->done_emitted;
}

int wf_run_acquired(wf_run *r, uint32_t node, const char *mutex, int64_t now)
{
    wf__api_enter(r, now);
    if (node == 0 && wf__wf_mutex_pending(r)) {
        if (mutex == NULL ||
            strcmp(mutex, r->spec->mutexes[r->wf_mutex_next]) != 0)
            return CL_ESTATE;
        r->wf_mutex_next++;
        r->holds_wf_mutex = true;
        if (r->wf_mutex_next < r->spec->nmutexes) {
            wf__q_push(r, WF_ACT_ACQUIRE, 0,
                       r->spec->mutexes[r->wf_mutex_next]);
            return wf__api_leave(r);
        }
        wf__start_root(r);
        return wf__api_leave(r);
    }
    wf__node *nd = wf__node_at(r, node);
    if (nd == NULL || !(nd->flags & WF__F_MUTEX_WAIT) ||
        wf_phase_done(nd->phase))
        return CL_ESTATE;
    nd->flags &= ~WF__F_MUTEX_WAIT;
    nd->flags |= WF__F_HOLDS_MUTEX;
    nd->mutex_next++;
    wf__begin(r, node);
    return wf__api_leave(r);
}

int wf_run_memo_result(wf_run *r, uint32_t node, const wf_step_result *hit,
                       int64_t now)
{
    wf__api_enter(r, now);
    wf__node *nd = wf__node_at(r, node);
    if (nd == NULL || !(nd->flags & WF__F_MEMO_WAIT) ||
        wf_phase_done(nd->phase))
        return CL_ESTATE;
    nd->flags &= ~WF__F_MEMO_WAIT;
    if (hit == NULL) {
        wf__begin(r, node);
        return wf__api_leave(r);
    }
    wf__io *io = wf__io_of(r, node);
    if (io == NULL)
        return wf__api_leave(r);
    nd = &r->nodes[node];
    nd->flags |= WF__F_MEMO_HIT;
    if (hit->memo_from)
        nd->memo_from = wf__rstrdup(r, hit->memo_from);
    io->result = wf__rstrdup(r, hit->result);
    io->exit_code = hit->exit_code;
    io->has_exit = hit->exit_code >= 0;
    if (hit->nparams > 0) {
        io->out = wf__arena_alloc(&r->arena, sizeof(wf_kv) * hit->nparams);
        if (io->out == NULL) {
            r->err = CL_ENOMEM;
            return wf__api_leave(r);
        }
        for (size_t i = 0; i < hit->nparams; i++) {
            io->out[i].name = wf__rstrdup(r, hit->params[i].name);
            io->out[i].value = wf__rstrdup(r, hit->params[i].value);
        }
        io->nout = (uint32_t)hit->nparams;
    }
    if (hit->nartifacts > 0) {
        io->out_arts = wf__arena_alloc(&r->arena,
                                       sizeof(wf__aref) * hit->nartifacts);
        if (io->out_arts == NULL) {
            r->err = CL_ENOMEM;
            return wf__api_leave(r);
        }
        for (size_t i = 0; i < hit->nartifacts; i++) {
            const wf_artifact_ref *a = &hit->artifacts[i];
            wf__aref *o = &io->out_arts[i];
            o->name = wf__rstrdup(r, a->name);
            o->digest = wf__rstrdup(r, a->digest);
            o->host = wf__rstrdup(r, a->host);
            o->size = a->size;
            o->is_dir = a->is_dir;
        }
        io->nout_arts = (uint32_t)hit->nartifacts;
    }
    wf__fulfill(r, node, WF_SUCCEEDED, NULL);
    return wf__api_leave(r);
}

int wf_run_step_started(wf_run *r, uint32_t node, const char *host,
                        int64_t now)
{
    wf__api_enter(r, now);
    wf__node *nd = wf__node_at(r, node);
    if (nd == NULL || nd->type != WF__N_POD ||
        !(nd->flags & WF__F_DISPATCHED) || nd->phase != WF_PENDING)
        return CL_ESTATE;
    nd->phase = WF_RUNNING;
    nd->flags |= WF__F_STARTED;
    nd->host = wf__rstrdup(r, host);
    if (nd->attempt_deadline > 0)
        wf__timer_add(r, r->now + nd->attempt_deadline, node, WF__TM_ATTEMPT);
    return wf__api_leave(r);
}

static const wf_kv *wf__res_param(const wf_step_result *res, const char *name)
{
    for (size_t i = 0; i < res->nparams; i++)
        if (res->params[i].name && !strcmp(res->params[i].name, name))
            return &res->params[i];
    return NULL;
}

static const wf_artifact_ref *wf__res_art(const wf_step_result *res,
                                          const char *name)
{
    for (size_t i = 0; i < res->nartifacts; i++)
        if (res->artifacts[i].name && !strcmp(res->artifacts[i].name, name))
            return &res->artifacts[i];
    return NULL;
}

int wf_run_step_exited(wf_run *r, uint32_t node, const wf_step_result *res,
                       int64_t now)
{
    wf__api_enter(r, now);
    wf__node *nd = wf__node_at(r, node);
    if (nd == NULL || res == NULL || nd->type != WF__N_POD ||
        !(nd->flags & WF__F_DISPATCHED) || wf_phase_done(nd->phase))
        return CL_ESTATE;
    wf__io *io = wf__io_of(r, node);
    if (io == NULL)
        return wf__api_leave(r);
    nd = &r->nodes[node];
    const wf__tmpl *t = nd->tmpl;
    int phase = res->phase;
    if (phase != WF_SUCCEEDED && phase != WF_FAILED && phase != WF_ERROR)
        phase = WF_ERROR;
    const char *msg = res->message;
    char mbuf[96];
    if (msg == NULL && phase == WF_FAILED) {
        snprintf(mbuf, sizeof(mbuf), "Error (exit code %d)", res->exit_code);
        msg = mbuf;
    }
    io->result = res->result ? wf__rstrdup(r, res->result) : NULL;
    io->exit_code = res->exit_code;
    io->has_exit = res->exit_code >= 0;
    /* output parameters in template order, defaults for missing files */
    if (t->outputs.nparams > 0) {
        io->out = wf__arena_alloc(&r->arena,
                                  sizeof(wf_kv) * t->outputs.nparams);
        if (io->out == NULL) {
            r->err = CL_ENOMEM;
            return wf__api_leave(r);
        }
    }
    for (uint32_t i = 0; i < t->outputs.nparams; i++) {
        const wf__param *p = &t->outputs.params[i];
        const wf_kv *kv = wf__res_param(res, p->name);
        const char *v = kv && kv->value ? wf__rstrdup(r, kv->value) : NULL;
        if (v == NULL && p->has_vf_default)
            v = p->def;
        if (v == NULL && p->value != NULL && p->vf_path == NULL)
            v = p->value;
        if (v == NULL) {
            if (phase == WF_SUCCEEDED) {
                phase = WF_ERROR;
                msg = wf__rprintf(r, "failed to read output parameter '%s'"
                                     "%s%s",
                                  p->name, p->vf_path ? " from " : "",
                                  p->vf_path ? p->vf_path : "");
            }
            continue;
        }
        io->out[io->nout].name = p->name;
        io->out[io->nout].value = v;
        io->nout++;
    }
    if (t->outputs.narts > 0) {
        io->out_arts = wf__arena_alloc(&r->arena,
                                       sizeof(wf__aref) * t->outputs.narts);
        if (io->out_arts == NULL) {
            r->err = CL_ENOMEM;
            return wf__api_leave(r);
        }
    }
    for (uint32_t i = 0; i < t->outputs.narts; i++) {
        const wf__art *a = &t->outputs.arts[i];
        const wf_artifact_ref *ar = wf__res_art(res, a->name);
        if (ar == NULL) {
            if (!a->optional && phase == WF_SUCCEEDED) {
                phase = WF_ERROR;
                msg = wf__rprintf(r, "output artifact '%s' not found at "
                                     "path '%s'",
                                  a->name, a->path ? a->path : "");
            }
            continue;
        }
        wf__aref *o = &io->out_arts[io->nout_arts++];
        o->name = a->name;
        o->digest = wf__rstrdup(r, ar->digest);
        o->host = wf__rstrdup(r, ar->host);
        o->path = a->path;
        o->size = ar->size;
        o->is_dir = ar->is_dir;
    }
    if (res->memo_hit) {
        nd->flags |= WF__F_MEMO | WF__F_MEMO_HIT;
        nd->memo_key = wf__rstrdup(r, res->memo_key);
        if (res->memo_from)
            nd->memo_from = wf__rstrdup(r, res->memo_from);
    }
    if (nd->host == NULL && res->memo_from == NULL)
        nd->host = NULL;
    const char *m = msg ? wf__rstrdup(r, msg) : NULL;
    if (m == NULL && nd->lost > 0)
        m = nd->message; /* keep counting the reschedules */
    wf__fulfill(r, node, phase, m);
    return wf__api_leave(r);
}

int wf_run_step_lost(wf_run *r, uint32_t node, const char *why, int64_t now)
{
    wf__api_enter(r, now);
    wf__node *nd = wf__node_at(r, node);
    if (nd == NULL || nd->type != WF__N_POD ||
        !(nd->flags & WF__F_DISPATCHED) || wf_phase_done(nd->phase))
        return CL_ESTATE;
    nd->lost++;
    nd->gen++;
    nd->phase = WF_PENDING;
    nd->host = NULL;
    nd->flags &= ~WF__F_STARTED;
    nd->message = wf__rprintf(r, "%s (rescheduled %" PRIu32 " time%s)",
                              why && why[0] ? why : "node lost", nd->lost,
                              nd->lost == 1 ? "" : "s");
    if (nd->flags & WF__F_QUEUED) {
        /* still queued: the queued DISPATCH goes out as is */
        return wf__api_leave(r);
    }
    nd->flags |= WF__F_QUEUED;
    wf__q_push(r, WF_ACT_DISPATCH, node, NULL);
    cl_errmsg em;
    const wf__tmpl *t = nd->tmpl;
    if (t->timeout != NULL) {
        int srv = 0;
        const char *s = wf__sub_simple(r, node, t->timeout, &em, &srv);
        int64_t ms = 0;
        if (srv == 0 && s && cl_duration_parse(s, &ms) == 0 && ms > 0)
            wf__timer_add(r, r->nodes[node].started + ms, node,
                          WF__TM_TIMEOUT);
    }
    return wf__api_leave(r);
}

/* Stop, terminate, deadline: fail what runs, stop creating (B12, B13). */
static void wf__shutdown(wf_run *r, int kind, const char *msg)
{
    if (r->stop == WF__TERMINATING)
        return;
    r->stop = kind;
    r->stop_msg = msg;
    if (r->root == WF_NONE && !r->done_emitted) {
        /* still waiting for the workflow mutex */
        if (r->wf_mutex_next < r->spec->nmutexes && r->started != 0)
            wf__q_push(r, WF_ACT_RELEASE, 0,
                       r->spec->mutexes[r->wf_mutex_next]);
        wf__finish_wf(r);
        return;
    }
    for (uint32_t i = 0; i < r->nnodes && !r->err; i++) {
        wf__node *nd = &r->nodes[i];
        if (wf_phase_done(nd->phase))
            continue;
        if (!wf__stopping_for(r, i))
            continue;
        if (nd->type == WF__N_POD) {
            if ((nd->flags & WF__F_DISPATCHED) && !(nd->flags & WF__F_QUEUED))
                wf__q_push(r, WF_ACT_KILL, i, msg);
            wf__fulfill(r, i, WF_FAILED, msg);
            continue;
        }
        if (nd->flags & (WF__F_MEMO_WAIT | WF__F_MUTEX_WAIT)) {
            wf__fulfill(r, i, WF_FAILED, msg);
            continue;
        }
        if (nd->type == WF__N_RETRY && nd->fr && nd->fr->u.r.waiting) {
            wf__fulfill(r, i, WF_FAILED, msg);
            continue;
        }
        wf__wl_push(r, WF__WL_PUMP, i, WF_NONE);
    }
}

int wf_run_stop(wf_run *r, const char *message, int64_t now)
{
    wf__api_enter(r, now);
    if (r->started == 0 || r->done_emitted || r->stop != WF__RUNNING)
        return CL_ESTATE;
    const char *m = message && message[0]
                        ? wf__rstrdup(r, message)
                        : "Stopped with strategy 'Stop'";
    wf__shutdown(r, WF__STOPPING, m);
    return wf__api_leave(r);
}

int wf_run_terminate(wf_run *r, int64_t now)
{
    wf__api_enter(r, now);
    if (r->started == 0 || r->done_emitted || r->stop == WF__TERMINATING)
        return CL_ESTATE;
    wf__shutdown(r, WF__TERMINATING, "Stopped with strategy 'Terminate'");
    return wf__api_leave(r);
}

int wf_run_tick(wf_run *r, int64_t now)
{
    wf__api_enter(r, now);
    while (r->ntimers > 0 && r->timers[0].at <= r->now && !r->err) {
        wf__timer t = r->timers[0];
        wf__timer_pop(r);
        if (t.node != WF_NONE && r->nodes[t.node].gen != t.gen)
            continue;
        switch (t.kind) {
        case WF__TM_WF_DEADLINE:
            if (!r->done_emitted && r->stop == WF__RUNNING)
                wf__shutdown(r, WF__DEADLINE, "Step exceeded its deadline");
            break;
        case WF__TM_TIMEOUT:
        case WF__TM_ATTEMPT: {
            wf__node *nd = &r->nodes[t.node];
            if (wf_phase_done(nd->phase) || nd->type != WF__N_POD)
                break;
            if ((nd->flags & WF__F_DISPATCHED) && !(nd->flags & WF__F_QUEUED))
                wf__q_push(r, WF_ACT_KILL, t.node,
                           "Step exceeded its deadline");
            wf__fulfill(r, t.node, WF_FAILED, "Step exceeded its deadline");
            break;
        }
        case WF__TM_BACKOFF: {
            wf__node *nd = &r->nodes[t.node];
            if (wf_phase_done(nd->phase))
                break;
            nd->message = NULL;
            wf__wl_push(r, WF__WL_PUMP, t.node, WF_NONE);
            break;
        }
        }
        wf__drain(r);
    }
    return wf__api_leave(r);
}

int64_t wf_run_next_timer(const wf_run *r)
{
    if (r->ntimers == 0 || r->done_emitted)
        return INT64_MAX;
    return r->timers[0].at;
}

bool wf_run_next_action(wf_run *r, wf_action *a)
{
    wf__api_enter(r, 0);
    while (r->qhead < r->qtail) {
        wf__qact q = r->q[r->qhead % r->qcap];
        r->qhead++;
        memset(a, 0, sizeof(*a));
        a->kind = (enum wf_action_kind)q.kind;
        a->node = q.node;
        a->node_id = q.node < r->nnodes ? r->nodes[q.node].id : r->name;
        wf__node *nd = q.node < r->nnodes ? &r->nodes[q.node] : NULL;
        switch (q.kind) {
        case WF_ACT_DISPATCH: {
            if (nd == NULL || !(nd->flags & WF__F_QUEUED) ||
                !(nd->flags & WF__F_DISPATCHED))
                continue; /* failed or stopped before it went out */
            nd->flags &= ~WF__F_QUEUED;
            cl_errmsg em;
            cl_errmsg_clear(&em);
            int rv = wf__build_task(r, q.node, &r->parena, &r->ptask, &em);
            if (rv != 0) {
                /* only when the state changed since validation */
                if (rv == CL_ENOMEM)
                    r->err = rv;
                else
                    wf__fulfill(r, q.node, WF_ERROR, wf__rstrdup(r, em.msg));
                wf__drain(r);
                wf__arena_reset(&r->parena);
                continue;
            }
            a->task = &r->ptask;
            break;
        }
        case WF_ACT_KILL:
            a->message = q.str;
            break;
        case WF_ACT_MEMO_LOOKUP:
            if (nd == NULL || !(nd->flags & WF__F_MEMO_WAIT))
                continue;
            a->memo_cache = nd->memo_cache;
            a->memo_key = nd->memo_key;
            if (nd->tmpl && nd->tmpl->memo && nd->tmpl->memo->max_age &&
                nd->tmpl->memo->max_age[0]) {
                int64_t ms = 0;
                if (cl_duration_parse(nd->tmpl->memo->max_age, &ms) == 0)
                    a->memo_max_age_ms = ms;
            }
            break;
        case WF_ACT_MEMO_SAVE: {
            if (nd == NULL)
                continue;
            const wf__io *io = nd->io;
            wf_step_result *res = &r->last_result;
            memset(res, 0, sizeof(*res));
            res->phase = WF_SUCCEEDED;
            res->exit_code = io && io->has_exit ? io->exit_code : -1;
            res->result = io ? io->result : NULL;
            if (io && io->nout > 0) {
                r->last_kv = cl_malloc(sizeof(wf_kv) * io->nout);
                if (r->last_kv == NULL) {
                    r->err = CL_ENOMEM;
                    return false;
                }
                memcpy(r->last_kv, io->out, sizeof(wf_kv) * io->nout);
                res->params = r->last_kv;
                res->nparams = io->nout;
            }
            if (io && io->nout_arts > 0) {
                r->last_arts = cl_malloc(sizeof(wf_artifact_ref) *
                                         io->nout_arts);
                if (r->last_arts == NULL) {
                    r->err = CL_ENOMEM;
                    return false;
                }
                for (uint32_t i = 0; i < io->nout_arts; i++) {
                    const wf__aref *ar = &io->out_arts[i];
                    r->last_arts[i].name = ar->name;
                    r->last_arts[i].digest = ar->digest;
                    r->last_arts[i].host = ar->host;
                    r->last_arts[i].size = ar->size;
                    r->last_arts[i].is_dir = ar->is_dir;
                }
                res->artifacts = r->last_arts;
                res->nartifacts = io->nout_arts;
            }
            res->memo_key = nd->memo_key;
            a->result = res;
            a->memo_cache = nd->memo_cache;
            a->memo_key = nd->memo_key;
            break;
        }
        case WF_ACT_ACQUIRE:
        case WF_ACT_RELEASE:
            a->mutex = q.str;
            if (a->mutex == NULL)
                continue;
            break;
        case WF_ACT_DONE:
            a->phase = r->phase;
            a->message = r->message ? r->message : "";
            a->node_id = r->name;
            break;
        default:
            continue;
        }
        if (r->qhead == r->qtail)
            r->qhead = r->qtail = 0;
        return true;
    }
    r->qhead = r->qtail = 0;
    return false;
}

/* ---- queries ----------------------------------------------------------------- */

enum wf_phase wf_run_phase(const wf_run *r)
{
    return r->phase;
}

const char *wf_run_name(const wf_run *r)
{
    return r->name;
}

const char *wf_run_message(const wf_run *r)
{
    return r->message ? r->message : "";
}

int64_t wf_run_started_at(const wf_run *r)
{
    return r->started;
}

int64_t wf_run_finished_at(const wf_run *r)
{
    return r->done_emitted ? r->finished : 0;
}

size_t wf_run_node_count(const wf_run *r)
{
    return r->nnodes;
}

int wf_run_find_node(const wf_run *r, const char *id_or_name, uint32_t *node)
{
    if (id_or_name == NULL)
        return CL_EINVAL;
    uint32_t n = wf__node_find_name(r, id_or_name);
    if (n == WF_NONE) {
        size_t nl = strlen(r->name);
        if (strncmp(id_or_name, r->name, nl) == 0 && id_or_name[nl] == '-') {
            const char *d = id_or_name + nl + 1;
            char *end = NULL;
            unsigned long long v = strtoull(d, &end, 10);
            if (end != d && *end == '\0' && v <= UINT32_MAX)
                n = wf__node_find_hash(r, (uint32_t)v, id_or_name);
        }
    }
    if (n == WF_NONE)
        return CL_ENOENT;
    *node = n;
    return 0;
}

const char *wf_run_node_id(const wf_run *r, uint32_t node)
{
    return node < r->nnodes ? r->nodes[node].id : NULL;
}

const char *wf_run_node_name(const wf_run *r, uint32_t node)
{
    return node < r->nnodes ? r->nodes[node].name : NULL;
}

enum wf_phase wf_run_node_phase(const wf_run *r, uint32_t node)
{
    return node < r->nnodes ? (enum wf_phase)r->nodes[node].phase
                            : WF_PENDING;
}

/* ---- creation and teardown ----------------------------------------------------- */

static void wf__run_clear_nodes(wf_run *r)
{
    for (uint32_t i = 0; i < r->nnodes; i++) {
        wf__node *nd = &r->nodes[i];
        wf__frame_free(nd);
        cl_free(nd->kids);
    }
    cl_free(r->nodes);
    r->nodes = NULL;
    r->nnodes = r->capnodes = 0;
    cl_free(r->index);
    r->index = NULL;
    r->index_cap = 0;
}

void wf_run_free(wf_run *r)
{
    if (r == NULL)
        return;
    wf__run_clear_nodes(r);
    wf__arena_free(&r->tarena);
    wf__arena_free(&r->parena);
    cl_free(r->last_kv);
    cl_free(r->last_arts);
    cl_free(r->q);
    cl_free(r->wl);
    cl_free(r->blocked);
    cl_free(r->timers);
    cl_free(r->gparams);
    cl_free(r->garts);
    cl_free(r->seeds);
    cl_free(r->seed_index);
    json_decref(r->labels);
    wf__arena_free(&r->arena);
    wf_spec_free(r->spec);
    cl_free(r);
}

int wf_run_new(wf_spec *spec, const wf_run_opts *opts, wf_run **out,
               cl_errmsg *err)
{
    *out = NULL;
    if (spec == NULL || opts == NULL || opts->name == NULL ||
        opts->name[0] == '\0' || opts->uid == NULL) {
        cl_errmsg_set(err, "a workflow name and uid are required");
        return CL_EINVAL;
    }
    const char *entry = opts->entrypoint ? opts->entrypoint : spec->entrypoint;
    if (entry == NULL) {
        cl_errmsg_set(err, "spec.entrypoint is required");
        return CL_EINVAL;
    }
    const wf__tmpl *et = wf__spec_find_tmpl(spec, entry);
    if (et == NULL) {
        cl_errmsg_set(err, "entrypoint template '%s' not found", entry);
        return CL_EINVAL;
    }
    for (size_t i = 0; i < opts->nparams; i++) {
        bool known = false;
        for (uint32_t k = 0; k < spec->nparams; k++)
            known = known || !strcmp(spec->params[k].name,
                                     opts->params[i].name ? opts->params[i].name
                                                          : "");
        if (!known) {
            cl_errmsg_set(err, "unknown parameter '%s': spec.arguments has "
                               "no such parameter",
                          opts->params[i].name ? opts->params[i].name : "");
            return CL_EINVAL;
        }
    }
    wf_run *r = cl_calloc(1, sizeof(*r));
    if (r == NULL) {
        cl_errmsg_set(err, "out of memory");
        return CL_ENOMEM;
    }
    wf__arena_init(&r->arena);
    wf__arena_init(&r->tarena);
    wf__arena_init(&r->parena);
    r->tarena.chunk = r->parena.chunk = 4096;
    wf_spec_ref(spec);
    r->spec = spec;
    r->root = r->onexit = WF_NONE;
    r->phase = WF_PENDING;
    r->created = opts->created_ms;
    r->now = opts->created_ms;
    r->name = wf__rstrdup(r, opts->name);
    r->uid = wf__rstrdup(r, opts->uid);
    r->entrypoint = wf__rstrdup(r, entry);
    int rv = CL_ENOMEM;
    if (r->err)
        goto fail;
    /* workflow parameters with the overrides */
    if (spec->nparams > 0) {
        r->wparams = wf__arena_alloc(&r->arena, sizeof(wf_kv) * spec->nparams);
        if (r->wparams == NULL)
            goto fail;
    }
    for (uint32_t k = 0; k < spec->nparams; k++) {
        const wf__param *p = &spec->params[k];
        const char *v = p->value;
        for (size_t i = 0; i < opts->nparams; i++)
            if (!strcmp(opts->params[i].name, p->name))
                v = opts->params[i].value ? opts->params[i].value : "";
        if (v == NULL)
            v = p->def;
        if (v == NULL) {
            cl_errmsg_set(err, "spec.arguments.parameters.%s needs a value",
                          p->name);
            rv = CL_EINVAL;
            goto fail;
        }
        r->wparams[k].name = p->name;
        r->wparams[k].value = wf__rstrdup(r, v);
        r->nwparams = k + 1;
        cl_errmsg em;
        cl_errmsg_clear(&em);
        if (wf__check_enum(p, v, &em) != 0) {
            cl_errmsg_set(err, "%s", em.msg);
            rv = CL_EINVAL;
            goto fail;
        }
    }
    /* substitute globals inside workflow parameter values */
    for (uint32_t k = 0; k < r->nwparams; k++) {
        if (strstr(r->wparams[k].value, "{{") == NULL)
            continue;
        wf__ctx c;
        wf__ctx_init(&c, r);
        const char *v = NULL;
        uint32_t unres = 0, absent = 0;
        cl_errmsg em;
        cl_errmsg_clear(&em);
        int srv = wf__subst(&c, r->wparams[k].value, &v, &unres, &absent, &em);
        wf__ctx_fini(&c);
        if (srv == 0)
            r->wparams[k].value = v;
    }
    /* the entrypoint's required inputs */
    for (uint32_t i = 0; i < et->inputs.nparams; i++) {
        const wf__param *ip = &et->inputs.params[i];
        bool have = ip->value != NULL || ip->def != NULL;
        for (uint32_t k = 0; k < r->nwparams && !have; k++)
            have = !strcmp(r->wparams[k].name, ip->name);
        if (!have) {
            cl_errmsg_set(err, "inputs.parameters.%s of entrypoint '%s' was "
                               "not supplied", ip->name, entry);
            rv = CL_EINVAL;
            goto fail;
        }
        if (ip->nenums > 0) {
            for (uint32_t k = 0; k < r->nwparams; k++) {
                cl_errmsg em;
                cl_errmsg_clear(&em);
                if (!strcmp(r->wparams[k].name, ip->name) &&
                    wf__check_enum(ip, r->wparams[k].value, &em) != 0) {
                    cl_errmsg_set(err, "%s", em.msg);
                    rv = CL_EINVAL;
                    goto fail;
                }
            }
        }
    }
    if (spec->parallelism)
        r->parallelism = (int32_t)strtol(spec->parallelism, NULL, 10);
    if (spec->active_deadline)
        r->deadline_ms = strtoll(spec->active_deadline, NULL, 10) * 1000;
    if (spec->priority)
        r->priority = (int)strtol(spec->priority, NULL, 10);
    r->labels = spec->labels ? json_deep_copy(spec->labels) : json_object();
    if (r->labels == NULL)
        goto fail;
    if (spec->labels_from != NULL) {
        const char *k;
        json_t *v;
        json_object_foreach(spec->labels_from, k, v)
        {
            json_t *e = json_object_get(v, "expression");
            if (!json_is_string(e))
                continue;
            wf__ctx c;
            wf__ctx_init(&c, r);
            json_t *res = NULL;
            cl_errmsg em;
            cl_errmsg_clear(&em);
            if (wf__eval(&c, json_string_value(e), &res, &em) == 0) {
                char *s = wf_expr_render(res);
                if (s != NULL)
                    json_object_set_new(r->labels, k, json_string(s));
                cl_free(s);
            }
            json_decref(res);
            wf__ctx_fini(&c);
        }
    }
    if (opts->memoized_from != NULL) {
        rv = wf__seed_from_status(r, opts->memoized_from, true);
        if (rv != 0) {
            cl_errmsg_set(err, "memoized_from: %s",
                          rv == CL_ENOMEM ? "out of memory"
                                          : "not a workflow status");
            goto fail;
        }
    }
    if (r->err)
        goto fail;
    *out = r;
    return 0;
fail:
    if (rv == CL_ENOMEM)
        cl_errmsg_set(err, "out of memory");
    wf_run_free(r);
    return rv;
}

int wf_run_retry(wf_run *r, int64_t now)
{
    wf__api_enter(r, now);
    if (!r->done_emitted || (r->phase != WF_FAILED && r->phase != WF_ERROR))
        return CL_ESTATE;
    json_t *st = wf_run_status_json(r, r->now);
    if (st == NULL)
        return CL_ENOMEM;
    /* rebuild from scratch: nodes that succeeded come back from seeds */
    cl_free(r->seeds);
    r->seeds = NULL;
    r->nseeds = 0;
    cl_free(r->seed_index);
    r->seed_index = NULL;
    r->seed_cap = 0;
    int rv = wf__seed_from_status(r, st, false);
    json_decref(st);
    if (rv != 0)
        return rv;
    wf__run_clear_nodes(r);
    r->qhead = r->qtail = 0;
    r->wlhead = r->wltail = 0;
    r->nblocked = 0;
    r->ntimers = 0;
    r->active_pods = 0;
    r->root = r->onexit = WF_NONE;
    r->stop = WF__RUNNING;
    r->stop_msg = NULL;
    r->done_emitted = false;
    r->phase = WF_RUNNING;
    r->message = NULL;
    r->finished = 0;
    r->ngparams = 0;
    r->ngarts = 0;
    if (r->deadline_ms > 0)
        wf__timer_add(r, r->now + r->deadline_ms, WF_NONE,
                      WF__TM_WF_DEADLINE);
    if (r->spec->nmutexes > 0) {
        r->wf_mutex_next = 0;
        r->holds_wf_mutex = false;
        wf__q_push(r, WF_ACT_ACQUIRE, 0, r->spec->mutexes[0]);
        return wf__api_leave(r);
    }
    wf__start_root(r);
    return wf__api_leave(r);
}
