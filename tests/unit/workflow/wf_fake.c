/* wf_fake.c - the fake executor of the engine tests (see wf_fake.h). */
#include "wf_fake.h"

#include "common/cl_heap.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The fake allocates with libc directly: tests that inject allocation
 * faults through cl_heap aim them at the engine only. */
#define cl_malloc malloc
#define cl_calloc calloc
#define cl_realloc realloc
#define cl_free free
#define cl_strdup fake_strdup
#define cl_strndup fake_strndup

static char *fake_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static char *fake_strndup(const char *s, size_t n)
{
    return s ? strndup(s, n) : NULL;
}

#define FAKE_T0 1767225600000LL /* 2026-01-01T00:00:00Z */

wf_spec *fake_parse(const char *yaml)
{
    wf_diag d;
    wf_diag_init(&d);
    wf_spec *s = NULL;
    int rv = wf_parse(yaml, strlen(yaml), "test.yaml", &s, &d);
    if (rv != 0)
        fprintf(stderr, "parse failed: %s\n", d.err.msg);
    assert_int_equal(rv, 0);
    wf_diag_free(&d);
    return s;
}

int fake_init(fake *f, wf_spec *spec, const char *name, const char **params,
              fake_policy policy, void *ud)
{
    memset(f, 0, sizeof(*f));
    f->spec = spec;
    f->policy = policy ? policy : fake_policy_echo;
    f->ud = ud;
    f->now = FAKE_T0;
    wf_kv kv[16];
    size_t nkv = 0;
    char *copies[16];
    for (size_t i = 0; params && params[i] && nkv < 16; i++) {
        copies[nkv] = cl_strdup(params[i]);
        char *eq = strchr(copies[nkv], '=');
        assert_non_null(eq);
        *eq = '\0';
        kv[nkv].name = copies[nkv];
        kv[nkv].value = eq + 1;
        nkv++;
    }
    wf_run_opts o;
    memset(&o, 0, sizeof(o));
    o.name = name;
    o.uid = "uid-1234";
    o.params = kv;
    o.nparams = nkv;
    o.created_ms = f->now;
    cl_errmsg err;
    cl_errmsg_clear(&err);
    int rv = wf_run_new(spec, &o, &f->run, &err);
    for (size_t i = 0; i < nkv; i++)
        cl_free(copies[i]);
    if (rv != 0)
        f->final_message = cl_strdup(err.msg);
    return rv;
}

static void fake_outcome_free(fake_outcome *o)
{
    cl_free(o->out);
    for (int i = 0; i < o->nparams; i++) {
        cl_free(o->pname[i]);
        cl_free(o->pvalue[i]);
    }
    for (int i = 0; i < o->narts; i++) {
        cl_free(o->aname[i]);
        cl_free(o->adigest[i]);
    }
    memset(o, 0, sizeof(*o));
}

void fake_free(fake *f)
{
    for (size_t i = 0; i < f->ntasks; i++) {
        fake_task *t = &f->tasks[i];
        cl_free(t->name);
        cl_free(t->tmpl);
        for (size_t k = 0; k < t->argc; k++)
            cl_free(t->argv[k]);
        cl_free(t->argv);
        cl_free(t->source);
        for (size_t k = 0; k < t->nenv; k++)
            cl_free(t->env[k]);
        cl_free(t->env);
        cl_free(t->memo_key);
        cl_free(t->out);
        for (int k = 0; k < t->ninputs; k++) {
            cl_free(t->in_name[k]);
            cl_free(t->in_raw[k]);
            cl_free(t->in_digest[k]);
        }
    }
    cl_free(f->tasks);
    for (size_t i = 0; i < f->npend; i++)
        fake_outcome_free(&f->pend[i].o);
    cl_free(f->pend);
    for (int i = 0; i < f->nmemo; i++) {
        cl_free(f->mkey[i]);
        fake_outcome_free(&f->mval[i]);
    }
    for (int i = 0; i < f->nmutex; i++)
        cl_free(f->mutex[i]);
    cl_free(f->final_message);
    wf_run_free(f->run);
    memset(f, 0, sizeof(*f));
}

void fake_set_out(fake_outcome *o, const char *s)
{
    cl_free(o->out);
    o->out = s ? cl_strdup(s) : NULL;
}

void fake_add_param(fake_outcome *o, const char *name, const char *value)
{
    for (int i = 0; i < o->nparams; i++)
        if (!strcmp(o->pname[i], name)) {
            cl_free(o->pvalue[i]);
            o->pvalue[i] = cl_strdup(value);
            return;
        }
    if (o->nparams == FAKE_MAX_PARAMS)
        return;
    o->pname[o->nparams] = cl_strdup(name);
    o->pvalue[o->nparams] = cl_strdup(value);
    o->nparams++;
}

void fake_add_art(fake_outcome *o, const char *name, const char *digest)
{
    if (o->narts == FAKE_MAX_ARTS)
        return;
    o->aname[o->narts] = cl_strdup(name);
    o->adigest[o->narts] = cl_strdup(digest);
    o->narts++;
}

const char *fake_argv(const wf_task *t)
{
    static char buf[4096];
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < t->ncommand; i++) {
        int w = snprintf(buf + o, sizeof(buf) - o, "%s%s", i ? " " : "",
                         t->command[i]);
        if (w < 0 || (size_t)w >= sizeof(buf) - o)
            break;
        o += (size_t)w;
    }
    return buf;
}

static void fake_record(fake *f, const wf_task *t)
{
    if (f->ntasks == f->captasks) {
        f->captasks = f->captasks ? f->captasks * 2 : 16;
        f->tasks = cl_realloc(f->tasks, f->captasks * sizeof(fake_task));
        assert_non_null(f->tasks);
    }
    fake_task *r = &f->tasks[f->ntasks++];
    memset(r, 0, sizeof(*r));
    r->node = t->node;
    r->name = cl_strdup(t->node_name);
    r->tmpl = cl_strdup(t->template_name);
    r->argc = t->ncommand;
    r->argv = cl_calloc(t->ncommand + 1, sizeof(char *));
    for (size_t i = 0; i < t->ncommand; i++)
        r->argv[i] = cl_strdup(t->command[i]);
    r->source = cl_strdup(t->source);
    r->nenv = t->nenv;
    r->env = cl_calloc(t->nenv + 1, sizeof(char *));
    for (size_t i = 0; i < t->nenv; i++) {
        size_t l = strlen(t->env[i].name) + strlen(t->env[i].value) + 2;
        r->env[i] = cl_malloc(l);
        snprintf(r->env[i], l, "%s=%s", t->env[i].name, t->env[i].value);
    }
    r->retry = t->retry;
    r->deadline_ms = t->deadline_ms;
    r->memo_key = cl_strdup(t->memo_key);
    for (size_t i = 0; i < t->ninputs && i < 4; i++) {
        r->in_name[i] = cl_strdup(t->inputs[i].name);
        r->in_raw[i] = cl_strdup(t->inputs[i].raw);
        r->in_digest[i] = cl_strdup(t->inputs[i].digest);
        r->ninputs++;
    }
    r->dispatched_at = f->now;
}

/* deferred events, applied once the action queue is empty */
enum { EV_START = 1, EV_LOST, EV_MEMO, EV_ACQ };
typedef struct fake_ev {
    int kind;
    uint32_t node;
    int memo; /* index into the cache or -1 */
    char mutex[128];
} fake_ev;

static int fake_mutex(fake *f, const char *name)
{
    for (int i = 0; i < f->nmutex; i++)
        if (!strcmp(f->mutex[i], name))
            return i;
    assert_true(f->nmutex < 8);
    f->mutex[f->nmutex] = cl_strdup(name);
    f->holder[f->nmutex] = UINT32_MAX;
    f->nwaiters[f->nmutex] = 0;
    return f->nmutex++;
}

static void fake_res(const fake_outcome *o, wf_step_result *res, wf_kv *kv,
                     wf_artifact_ref *ar)
{
    memset(res, 0, sizeof(*res));
    res->phase = o->phase;
    res->exit_code = o->exit_code;
    res->result = o->out;
    for (int i = 0; i < o->nparams; i++) {
        kv[i].name = o->pname[i];
        kv[i].value = o->pvalue[i];
    }
    res->params = kv;
    res->nparams = (size_t)o->nparams;
    for (int i = 0; i < o->narts; i++) {
        memset(&ar[i], 0, sizeof(ar[i]));
        ar[i].name = o->aname[i];
        ar[i].digest = o->adigest[i];
        ar[i].host = "host-1";
        ar[i].size = 11;
    }
    res->artifacts = ar;
    res->nartifacts = (size_t)o->narts;
}

void fake_pump(fake *f)
{
    for (int guard = 0; guard < 1000000; guard++) {
        fake_ev ev[256];
        int nev = 0;
        wf_action a;
        while (wf_run_next_action(f->run, &a)) {
            switch (a.kind) {
            case WF_ACT_DISPATCH: {
                fake_record(f, a.task);
                fake_outcome o;
                memset(&o, 0, sizeof(o));
                o.phase = WF_SUCCEEDED;
                o.duration_ms = 1000;
                f->policy(f->ud, a.task, &o);
                if (o.exit_code != 0 && o.phase == WF_SUCCEEDED)
                    o.phase = WF_FAILED;
                f->tasks[f->ntasks - 1].out = cl_strdup(o.out);
                f->tasks[f->ntasks - 1].exit_code = o.exit_code;
                if (o.lost && a.node < 4096 && !f->lost_done[a.node]) {
                    f->lost_done[a.node] = true;
                    fake_outcome_free(&o);
                    assert_true(nev < 255);
                    ev[nev++] = (fake_ev){EV_START, a.node, -1, ""};
                    ev[nev++] = (fake_ev){EV_LOST, a.node, -1, ""};
                    break;
                }
                if (f->npend == f->cappend) {
                    f->cappend = f->cappend ? f->cappend * 2 : 16;
                    f->pend = cl_realloc(f->pend,
                                         f->cappend * sizeof(fake_pending));
                    assert_non_null(f->pend);
                }
                fake_pending *p = &f->pend[f->npend++];
                p->node = a.node;
                p->at = o.hang || o.unschedulable ? INT64_MAX
                                                  : f->now + o.duration_ms;
                p->started = !o.unschedulable;
                p->o = o;
                assert_true(nev < 256);
                if (p->started)
                    ev[nev++] = (fake_ev){EV_START, a.node, -1, ""};
                break;
            }
            case WF_ACT_KILL:
                f->kills++;
                for (size_t i = 0; i < f->npend; i++)
                    if (f->pend[i].node == a.node) {
                        fake_outcome_free(&f->pend[i].o);
                        f->pend[i] = f->pend[--f->npend];
                        break;
                    }
                break;
            case WF_ACT_MEMO_LOOKUP: {
                f->memo_lookups++;
                char key[512];
                snprintf(key, sizeof(key), "%s/%s", a.memo_cache, a.memo_key);
                int hit = -1;
                for (int i = 0; i < f->nmemo; i++)
                    if (!strcmp(f->mkey[i], key) &&
                        (a.memo_max_age_ms == 0 ||
                         f->now - f->mtime[i] <= a.memo_max_age_ms))
                        hit = i;
                if (hit >= 0)
                    f->memo_hits++;
                assert_true(nev < 256);
                ev[nev++] = (fake_ev){EV_MEMO, a.node, hit, ""};
                break;
            }
            case WF_ACT_MEMO_SAVE: {
                f->memo_saves++;
                char key[512];
                snprintf(key, sizeof(key), "%s/%s", a.memo_cache, a.memo_key);
                int slot = -1;
                for (int i = 0; i < f->nmemo; i++)
                    if (!strcmp(f->mkey[i], key))
                        slot = i;
                if (slot < 0) {
                    assert_true(f->nmemo < 64);
                    slot = f->nmemo++;
                    f->mkey[slot] = cl_strdup(key);
                } else {
                    fake_outcome_free(&f->mval[slot]);
                }
                fake_outcome *m = &f->mval[slot];
                memset(m, 0, sizeof(*m));
                m->phase = WF_SUCCEEDED;
                m->exit_code = a.result->exit_code;
                m->out = cl_strdup(a.result->result);
                for (size_t i = 0; i < a.result->nparams; i++)
                    fake_add_param(m, a.result->params[i].name,
                                   a.result->params[i].value);
                for (size_t i = 0; i < a.result->nartifacts; i++)
                    fake_add_art(m, a.result->artifacts[i].name,
                                 a.result->artifacts[i].digest);
                f->mtime[slot] = f->now;
                break;
            }
            case WF_ACT_ACQUIRE: {
                f->acquires++;
                int m = fake_mutex(f, a.mutex);
                if (f->holder[m] == UINT32_MAX) {
                    f->holder[m] = a.node;
                    assert_true(nev < 256);
                    ev[nev] = (fake_ev){EV_ACQ, a.node, -1, ""};
                    snprintf(ev[nev].mutex, sizeof(ev[nev].mutex), "%s",
                             a.mutex);
                    nev++;
                } else {
                    assert_true(f->nwaiters[m] < 16);
                    f->waiters[m][f->nwaiters[m]++] = a.node;
                }
                break;
            }
            case WF_ACT_RELEASE: {
                f->releases++;
                int m = fake_mutex(f, a.mutex);
                if (f->holder[m] == a.node) {
                    f->holder[m] = UINT32_MAX;
                    if (f->nwaiters[m] > 0) {
                        uint32_t next = f->waiters[m][0];
                        memmove(&f->waiters[m][0], &f->waiters[m][1],
                                sizeof(uint32_t) * (size_t)(--f->nwaiters[m]));
                        f->holder[m] = next;
                        ev[nev] = (fake_ev){EV_ACQ, next, -1, ""};
                        snprintf(ev[nev].mutex, sizeof(ev[nev].mutex), "%s",
                                 a.mutex);
                        nev++;
                    }
                } else {
                    for (int i = 0; i < f->nwaiters[m]; i++)
                        if (f->waiters[m][i] == a.node) {
                            memmove(&f->waiters[m][i], &f->waiters[m][i + 1],
                                    sizeof(uint32_t) *
                                        (size_t)(f->nwaiters[m] - i - 1));
                            f->nwaiters[m]--;
                            break;
                        }
                }
                break;
            }
            case WF_ACT_DONE:
                f->done = true;
                f->final_phase = a.phase;
                cl_free(f->final_message);
                f->final_message = cl_strdup(a.message ? a.message : "");
                break;
            }
        }
        if (nev == 0)
            return;
        for (int i = 0; i < nev; i++) {
            switch (ev[i].kind) {
            case EV_START:
                wf_run_step_started(f->run, ev[i].node, "host-1", f->now);
                break;
            case EV_LOST:
                wf_run_step_lost(f->run, ev[i].node, "agent host-1 is gone",
                                 f->now);
                break;
            case EV_MEMO:
                if (ev[i].memo >= 0) {
                    wf_step_result res;
                    wf_kv kv[FAKE_MAX_PARAMS];
                    wf_artifact_ref ar[FAKE_MAX_ARTS];
                    fake_res(&f->mval[ev[i].memo], &res, kv, ar);
                    res.memo_hit = true;
                    wf_run_memo_result(f->run, ev[i].node, &res, f->now);
                } else {
                    wf_run_memo_result(f->run, ev[i].node, NULL, f->now);
                }
                break;
            case EV_ACQ:
                wf_run_acquired(f->run, ev[i].node, ev[i].mutex, f->now);
                break;
            }
        }
    }
}

bool fake_run(fake *f, int64_t limit_ms)
{
    int64_t start = f->now;
    if (wf_run_started_at(f->run) == 0) {
        if (wf_run_start(f->run, f->now) != 0)
            return false;
    }
    fake_pump(f);
    while (!f->done) {
        int64_t next = wf_run_next_timer(f->run);
        for (size_t i = 0; i < f->npend; i++)
            if (f->pend[i].at < next)
                next = f->pend[i].at;
        if (next == INT64_MAX || next - start > limit_ms)
            break;
        if (next > f->now)
            f->now = next;
        /* completions due now, oldest node first */
        for (;;) {
            size_t best = SIZE_MAX;
            for (size_t i = 0; i < f->npend; i++)
                if (f->pend[i].at <= f->now &&
                    (best == SIZE_MAX || f->pend[i].node < f->pend[best].node))
                    best = i;
            if (best == SIZE_MAX)
                break;
            fake_pending p = f->pend[best];
            f->pend[best] = f->pend[--f->npend];
            wf_step_result res;
            wf_kv kv[FAKE_MAX_PARAMS];
            wf_artifact_ref ar[FAKE_MAX_ARTS];
            fake_res(&p.o, &res, kv, ar);
            wf_run_step_exited(f->run, p.node, &res, f->now);
            fake_outcome_free(&p.o);
            fake_pump(f);
        }
        if (wf_run_next_timer(f->run) <= f->now)
            wf_run_tick(f->run, f->now);
        fake_pump(f);
    }
    return f->done;
}

const fake_task *fake_find(const fake *f, const char *name)
{
    for (size_t i = 0; i < f->ntasks; i++)
        if (!strcmp(f->tasks[i].name, name))
            return &f->tasks[i];
    return NULL;
}

int fake_order(const fake *f, const char *name)
{
    for (size_t i = 0; i < f->ntasks; i++)
        if (!strcmp(f->tasks[i].name, name))
            return (int)i;
    return -1;
}

enum wf_phase fake_phase(const fake *f, const char *name)
{
    uint32_t n;
    int rv = wf_run_find_node(f->run, name, &n);
    if (rv != 0)
        fprintf(stderr, "no node named '%s'\n", name);
    assert_int_equal(rv, 0);
    return wf_run_node_phase(f->run, n);
}

json_t *fake_node_json(const fake *f, const char *name)
{
    uint32_t n;
    if (wf_run_find_node(f->run, name, &n) != 0)
        return NULL;
    json_t *st = wf_run_status_json(f->run, f->now);
    json_t *node = json_object_get(json_object_get(json_object_get(st,
                                                                   "status"),
                                                   "nodes"),
                                   wf_run_node_id(f->run, n));
    json_incref(node);
    json_decref(st);
    return node;
}

/* ---- the generic policy ---------------------------------------------------- */

static char *fake_unquote(const char *s, size_t n)
{
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == ';'))
        n--;
    if (n >= 2 && ((s[0] == '"' && s[n - 1] == '"') ||
                   (s[0] == '\'' && s[n - 1] == '\''))) {
        s++;
        n -= 2;
    }
    return cl_strndup(s, n);
}

static int64_t fake_sleep_ms(const char *v)
{
    char *end = NULL;
    double x = strtod(v, &end);
    if (end == v)
        return 0;
    double mul = 1000;
    if (*end == 'm')
        mul = 60000;
    else if (*end == 'h')
        mul = 3600000;
    else if (*end == 'd')
        mul = 86400000;
    return (int64_t)(x * mul);
}

/* interpret a small shell script: echo, exit, sleep, "> path" */
static void fake_script(const wf_task *t, const char *script, fake_outcome *o)
{
    const char *s = script;
    while (s && *s) {
        const char *e = s + strcspn(s, ";\n&|");
        size_t n = (size_t)(e - s);
        char *cmd = cl_strndup(s, n);
        char *c = cmd;
        while (*c == ' ' || *c == '\t')
            c++;
        if (!strncmp(c, "exit ", 5)) {
            o->exit_code = atoi(c + 5);
            cl_free(cmd);
            break;
        }
        if (!strncmp(c, "sleep ", 6))
            o->duration_ms += fake_sleep_ms(c + 6);
        if (!strncmp(c, "echo ", 5)) {
            char *gt = strchr(c, '>');
            if (gt != NULL) {
                char *val = fake_unquote(c + 5, (size_t)(gt - c - 5));
                char *path = fake_unquote(gt + 1, strlen(gt + 1));
                for (size_t i = 0; i < t->nout_params; i++)
                    if (!strcmp(t->out_params[i].path, path))
                        fake_add_param(o, t->out_params[i].name, val);
                cl_free(val);
                cl_free(path);
            } else if (o->out == NULL) {
                o->out = fake_unquote(c + 5, strlen(c + 5));
            }
        }
        cl_free(cmd);
        s = *e ? e + 1 : e;
    }
}

void fake_policy_echo(void *ud, const wf_task *t, fake_outcome *o)
{
    (void)ud;
    const char *a0 = t->ncommand > 0 ? t->command[0] : "";
    const char *base = strrchr(a0, '/') ? strrchr(a0, '/') + 1 : a0;
    if (!strcmp(base, "echo")) {
        size_t len = 1;
        for (size_t i = 1; i < t->ncommand; i++)
            len += strlen(t->command[i]) + 1;
        o->out = malloc(len);
        if (o->out != NULL) {
            o->out[0] = '\0';
            for (size_t i = 1; i < t->ncommand; i++) {
                if (i > 1)
                    strcat(o->out, " ");
                strcat(o->out, t->command[i]);
            }
        }
    } else if (!strcmp(base, "sleep") && t->ncommand > 1) {
        o->duration_ms = fake_sleep_ms(t->command[1]);
    } else if (!strcmp(base, "argosay")) {
        if (t->ncommand == 1) {
            o->out = cl_strdup("hello argo");
        } else if (!strcmp(t->command[1], "echo") && t->ncommand >= 3) {
            if (t->ncommand >= 4) {
                for (size_t i = 0; i < t->nout_params; i++)
                    if (!strcmp(t->out_params[i].path, t->command[3]))
                        fake_add_param(o, t->out_params[i].name,
                                       t->command[2]);
            } else {
                o->out = cl_strdup(t->command[2]);
            }
        } else if (!strcmp(t->command[1], "exit") && t->ncommand >= 3) {
            o->exit_code = atoi(t->command[2]);
        } else if (!strcmp(t->command[1], "sleep") && t->ncommand >= 3) {
            o->duration_ms = fake_sleep_ms(t->command[2]);
        }
    } else if ((!strcmp(base, "sh") || !strcmp(base, "bash")) &&
               t->ncommand >= 2) {
        if (t->kind == WF_TASK_SCRIPT)
            fake_script(t, t->source, o);
        else
            fake_script(t, t->command[t->ncommand - 1], o);
    } else if (t->kind == WF_TASK_SCRIPT && t->source != NULL) {
        const char *p = strstr(t->source, "print(");
        if (p != NULL) {
            const char *e = strchr(p, ')');
            if (e)
                o->out = fake_unquote(p + 6, (size_t)(e - p - 6));
        }
    }
    for (size_t i = 0; i < t->nout_params; i++) {
        bool have = false;
        for (int k = 0; k < o->nparams; k++)
            have = have || !strcmp(o->pname[k], t->out_params[i].name);
        if (!have) {
            char v[128];
            snprintf(v, sizeof(v), "%s-value", t->out_params[i].name);
            fake_add_param(o, t->out_params[i].name, v);
        }
    }
    for (size_t i = 0; i < t->nout_artifacts; i++) {
        char d[128];
        snprintf(d, sizeof(d), "digest-%s-%s", t->node_id,
                 t->out_artifacts[i].name);
        fake_add_art(o, t->out_artifacts[i].name, d);
    }
}
