/* agent_exec.c - running steps: spawn, capture, report.
 *
 * Each step runs in <data>/steps/<attempt>/ (its working directory is
 * work/ there unless the template names one). stdout and stderr go through
 * pipes into one log file, streamed to the coordinator by byte offset so a
 * reconnect resends only what is missing; stdout is also kept (its last
 * 256 KiB) as outputs.result. On exit the agent reads the output parameter
 * files, builds a StepExited report, writes it to report.pb (fsync + rename)
 * and sends it once every log byte has been sent. The report is resent
 * until the coordinator acknowledges it; then the step directory goes.
 */
#include "agent/agent_int.h"

#include "common/cl_fs.h"
#include "common/cl_heap.h"
#include "common/cl_log.h"
#include "common/cl_time.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

#define KILL_GRACE_MS 2000

/* Remove a step directory, overlay work directory (mode 000) included. */
static void rm_rf(const char *path)
{
    cl_errmsg em;
    cl_errmsg_clear(&em);
    if (agent_sb_rmtree(path, &em) != 0)
        CL_WARN("cannot remove %s: %s", path, em.msg);
}

static void step_free(agent_step *s)
{
    agent *a = s->a;
    HASH_DEL(a->steps, s);
    if (s->log_fd >= 0)
        close(s->log_fd);
    if (s->group) {
        agent_sb_group_free(s->group);
        s->group = NULL;
    }
    cl_env_free(&s->assign->base);
    cl_buf_free(&s->out_tail);
    cl_free(s->report);
    cl_free(s->attempt_id);
    cl_free(s->result_copy);
    for (size_t i = 0; i < s->n_out_params_read; i++)
        cl_free((char *)s->out_params_read[i].value);
    cl_free(s->out_params_read);
    if (s->out_art_path)
        for (size_t i = 0; i < s->assign_n_out_artifacts; i++)
            cl_free(s->out_art_path[i]);
    cl_free(s->out_art_path);
    cl_free(s->out_arts);
    cl_free(s);
    agent__steps_closed(a);
}

/* Free a step once nothing refers to it any more: no open handle, no
 * queued work, no fetch, and either its report was acknowledged or the
 * agent is closing. */
void agent__step_maybe_free(agent_step *s)
{
    if (s->open_handles > 0 || s->work_busy || s->pending_fetches > 0)
        return;
    if ((s->state == AGENT_STEP_EXITED && s->report == NULL) ||
        s->a->closing)
        step_free(s);
}

static void on_step_handle_closed(uv_handle_t *h)
{
    agent_step *s = h->data;
    s->open_handles--;
    agent__step_maybe_free(s);
}

static void close_step_handles(agent_step *s)
{
    uv_handle_t *hs[] = {(uv_handle_t *)&s->proc, (uv_handle_t *)&s->out_pipe,
                         (uv_handle_t *)&s->err_pipe,
                         (uv_handle_t *)&s->deadline};
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++)
        if (hs[i]->data == s && !uv_is_closing(hs[i]))
            uv_close(hs[i], on_step_handle_closed);
}

/* ---- logs ---------------------------------------------------------------*/

static void log_append(agent_step *s, const char *data, size_t len)
{
    if (s->log_fd < 0)
        return;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(s->log_fd, data + off, len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            CL_WARN("step %s: log write failed: %s", s->attempt_id,
                    strerror(errno));
            return;
        }
        off += (size_t)n;
    }
    s->log_size += len;
}

/* Send up to a bounded amount of unsent log; returns true when caught up. */
static bool flush_step_log(agent *a, agent_step *s)
{
    if (s->log_fd < 0)
        return true;
    static char chunk[AGENT_LOG_CHUNK];
    for (int i = 0; i < 16 && s->log_sent < s->log_size; i++) {
        uint64_t want = s->log_size - s->log_sent;
        if (want > AGENT_LOG_CHUNK)
            want = AGENT_LOG_CHUNK;
        ssize_t n = pread(s->log_fd, chunk, (size_t)want, (off_t)s->log_sent);
        if (n <= 0)
            return false;
        Couler__StepLog m = COULER__STEP_LOG__INIT;
        m.attempt_id = s->attempt_id;
        m.offset = s->log_sent;
        m.data.data = (uint8_t *)chunk;
        m.data.len = (size_t)n;
        if (agent__send(a, COULER__MSG_TYPE__MSG_STEP_LOG, &m.base) != 0)
            return false;
        s->log_sent += (uint64_t)n;
    }
    return s->log_sent >= s->log_size;
}

static void send_report(agent *a, agent_step *s)
{
    if (s->report == NULL || !a->registered)
        return;
    if (!flush_step_log(a, s))
        return; /* logs first, so the record is complete when it ends */
    const void *parts[1] = {s->report};
    size_t lens[1] = {s->report_len};
    if (cl_zsock_send(&a->zs, 1, parts, lens) == 0)
        s->report_sent = true;
}

/* Logs go out a bounded amount per tick; a step that exited with more
 * unsent log than that has its report held back until the log is out,
 * and sent from here then. */
void agent__flush_logs(agent *a)
{
    if (!a->registered)
        return;
    for (agent_step *s = a->steps; s != NULL; s = s->hh.next) {
        if (s->state == AGENT_STEP_EXITED && !s->report_sent)
            send_report(a, s);
        else
            flush_step_log(a, s);
    }
}

void agent__resend_reports(agent *a)
{
    for (agent_step *s = a->steps; s != NULL; s = s->hh.next)
        if (s->state == AGENT_STEP_EXITED) {
            s->report_sent = false;
            send_report(a, s);
        }
}

/* ---- outputs and the report ---------------------------------------------*/

static const char *host_path(agent_step *s, const char *path, char *buf,
                             size_t len)
{
    /* Without a private view the step wrote straight to the host; relative
     * paths are relative to its working directory. */
    if (path[0] == '/')
        return path;
    const char *wd = s->assign->working_dir;
    if (wd && wd[0])
        snprintf(buf, len, "%s/%s", wd, path);
    else
        snprintf(buf, len, "%s/work/%s", s->dir, path);
    return buf;
}

/* Where a step's outputs are found after it exits: with the private view,
 * couler-exec copied each one to <dir>/out/<kind><i> (absent when the step
 * did not write it); without it, on the host. */
static const char *output_path(agent_step *s, char kind, size_t i,
                               const char *path, char *buf, size_t len)
{
    if (s->isolated) {
        snprintf(buf, len, "%s/out/%c%zu", s->dir, kind, i);
        return buf;
    }
    return host_path(s, path, buf, len);
}

/* The last stage: the report, written durably and sent once every log byte
 * has been. */
static void complete_report(agent_step *s)
{
    agent *a = s->a;
    Couler__StepExited ex = COULER__STEP_EXITED__INIT;
    ex.attempt_id = s->attempt_id;
    ex.finished_at = cl_wall_ms();
    ex.compute_ms = s->compute_ms;
    if (s->art_status != 0 && s->verdict_phase == AGENT_PHASE_SUCCEEDED) {
        /* The step ran, but what it produced could not be kept. */
        s->verdict_phase = AGENT_PHASE_ERROR;
        snprintf(s->verdict_msg, sizeof(s->verdict_msg), "%s", s->art_why);
    }
    if (s->cache_why[0]) {
        CL_WARN("step %s: %s", s->attempt_id, s->cache_why);
        /* The step's own result stands; its node says why it is not
         * cached. */
        if (s->verdict_phase == AGENT_PHASE_SUCCEEDED && !s->verdict_msg[0])
            snprintf(s->verdict_msg, sizeof(s->verdict_msg), "%s",
                     s->cache_why);
    }
    ex.phase = s->verdict_phase;
    ex.exit_code = s->verdict_code;
    ex.message = s->verdict_msg;
    ex.oom_killed = s->verdict_oom;
    ex.missing_artifact = s->missing_artifact;
    if (s->result_copy) {
        ex.result.data = (uint8_t *)s->result_copy;
        ex.result.len = strlen(s->result_copy);
        ex.has_result = true;
    }
    size_t np = s->n_out_params_read, na = s->assign->n_out_artifacts;
    Couler__KV *kvs = cl_calloc(np + 1, sizeof(*kvs));
    Couler__KV **kvp = cl_calloc(np + 1, sizeof(*kvp));
    Couler__ArtifactRef *refs = cl_calloc(na + 1, sizeof(*refs));
    Couler__ArtifactRef **refp = cl_calloc(na + 1, sizeof(*refp));
    if (kvs && kvp && refs && refp) {
        for (size_t i = 0; i < np; i++) {
            couler__kv__init(&kvs[i]);
            kvs[i].name = (char *)s->out_params_read[i].name;
            kvs[i].value = (char *)s->out_params_read[i].value;
            kvp[i] = &kvs[i];
        }
        ex.params = kvp;
        ex.n_params = np;
        size_t k = 0;
        for (size_t i = 0; s->out_arts && i < na; i++) {
            if (!s->out_arts[i].present)
                continue;
            couler__artifact_ref__init(&refs[k]);
            refs[k].name = s->assign->out_artifacts[i]->name;
            refs[k].digest = s->out_arts[i].digest;
            refs[k].host = a->node_id;
            refs[k].size = s->out_arts[i].size;
            refs[k].is_dir = s->out_arts[i].is_dir;
            refp[k] = &refs[k];
            k++;
        }
        ex.artifacts = refp;
        ex.n_artifacts = k;
    }
    ex.log_size = s->log_size;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rv = cl_env_pack(COULER__MSG_TYPE__MSG_STEP_EXITED, 0, &ex.base, &buf,
                         &len);
    cl_free(kvs);
    cl_free(kvp);
    cl_free(refs);
    cl_free(refp);
    if (rv != 0) {
        CL_ERROR("step %s: cannot encode its report: %s", s->attempt_id,
                 cl_strerror(rv));
        return;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/report.pb", s->dir);
    /* Write and rename: atomic, and it survives the agent being killed
     * (the kernel holds the pages); an fsync per step would only add power
     * loss to that, at the cost of every step's latency. */
    rv = cl_write_file(path, buf, len, 0644, false);
    if (rv != 0)
        CL_WARN("step %s: cannot persist its report (%s); it is kept in "
                "memory until acknowledged",
                s->attempt_id, cl_strerror(rv));
    s->report = buf;
    s->report_len = len;
    s->state = AGENT_STEP_EXITED;
    if (a->running > 0)
        a->running--;
    CL_INFO("step %s (%s) exited: %s%s%s", s->attempt_id,
            s->assign->node_name,
            s->verdict_phase == AGENT_PHASE_SUCCEEDED  ? "Succeeded"
            : s->verdict_phase == AGENT_PHASE_ERROR ? "Error"
                                                       : "Failed",
            s->verdict_msg[0] ? ", " : "", s->verdict_msg);
    send_report(a, s);
}

/* The process is gone and its pipes are drained: settle the verdict, read
 * the output parameters, then store the output artifacts (off the loop)
 * before reporting. */
static void finish_step(agent_step *s)
{
    agent *a = s->a;
    int code = s->term_signal != 0 ? 128 + s->term_signal
                                   : (int)s->exit_status;
    char *msg = s->verdict_msg;
    size_t mlen = sizeof(s->verdict_msg);
    bool oom = false;
    if (s->group != NULL) {
        struct agent_sb_usage u;
        cl_errmsg em;
        cl_errmsg_clear(&em);
        if (agent_sb_group_usage(s->group, &u, &em) == 0)
            oom = agent_sb_oom_killed(&u, code);
        if (agent_sb_group_remove(s->group, 1000, &em) != 0)
            CL_WARN("step %s: its cgroup is not gone yet: %s",
                    s->attempt_id, em.msg);
        agent_sb_group_free(s->group);
        s->group = NULL;
    }
    int phase;
    if (s->art_status != 0) {
        phase = AGENT_PHASE_ERROR; /* its inputs could not be staged */
        snprintf(msg, mlen, "%s", s->art_why);
    } else if (oom) {
        phase = AGENT_PHASE_FAILED; /* with Kubernetes' reason */
        snprintf(msg, mlen, "OOMKilled (exit code %d)", code);
    } else if (s->launch_error[0] && code == 127) {
        phase = AGENT_PHASE_ERROR; /* the step never started */
        snprintf(msg, mlen, "%s", s->launch_error);
    } else if (s->deadline_hit) {
        phase = AGENT_PHASE_FAILED;
        snprintf(msg, mlen, "Pod was active on the node longer than the "
                            "specified deadline");
    } else if (s->cancelled) {
        phase = AGENT_PHASE_FAILED;
        snprintf(msg, mlen, "%s", s->cancel_reason);
    } else if (code == 0) {
        phase = AGENT_PHASE_SUCCEEDED;
    } else if (code == 127 && s->started_at == 0) {
        phase = AGENT_PHASE_ERROR;
        snprintf(msg, mlen, "cannot start the step");
    } else {
        phase = AGENT_PHASE_FAILED;
        snprintf(msg, mlen, "Error (exit code %d)", code);
    }
    s->verdict_phase = phase;
    s->verdict_code = code;
    s->verdict_oom = oom;
    s->compute_ms = s->started_at ? cl_wall_ms() - s->started_at : 0;
    close_step_handles(s);
    if (phase == AGENT_PHASE_ERROR && s->art_status != 0) {
        complete_report(s);
        return;
    }

    /* outputs.result: stdout with one trailing newline removed. */
    size_t rlen = s->out_tail.len;
    if (rlen > 0 && s->out_tail.data[rlen - 1] == '\n')
        rlen--;
    s->result_copy = cl_strndup(s->out_tail.data ? s->out_tail.data : "",
                                rlen);

    /* Output parameters: the file's content, one trailing newline removed
     * for convenience (as Argo does). Missing files are left out: the
     * engine applies valueFrom.default or fails the node. */
    size_t np = s->assign->n_out_params;
    s->out_params_read = cl_calloc(np + 1, sizeof(*s->out_params_read));
    for (size_t i = 0; s->out_params_read && i < np; i++) {
        Couler__OutputParam *op = s->assign->out_params[i];
        char pbuf[PATH_MAX];
        char *val;
        size_t vlen;
        if (cl_read_file(output_path(s, 'p', i, op->path, pbuf, sizeof(pbuf)),
                      AGENT_RESULT_MAX, &val, &vlen) != 0)
            continue;
        if (vlen > 0 && val[vlen - 1] == '\n')
            val[--vlen] = '\0';
        s->out_params_read[s->n_out_params_read].name = op->name;
        s->out_params_read[s->n_out_params_read].value = val;
        s->n_out_params_read++;
    }
    size_t na = s->assign->n_out_artifacts;
    s->assign_n_out_artifacts = na;
    s->out_art_path = cl_calloc(na + 1, sizeof(char *));
    s->out_arts = cl_calloc(na + 1, sizeof(*s->out_arts));
    for (size_t i = 0; s->out_art_path && i < na; i++) {
        char pbuf[PATH_MAX];
        s->out_art_path[i] = cl_strdup(output_path(
            s, 'a', i, s->assign->out_artifacts[i]->path, pbuf, sizeof(pbuf)));
    }
    agent__art_import_outputs(a, s, complete_report);
}

static void maybe_finish(agent_step *s)
{
    if (s->proc_exited && s->pipes_open == 0 && s->state == AGENT_STEP_RUNNING &&
        s->verdict_phase == 0)
        finish_step(s);
}

/* ---- process callbacks ---------------------------------------------------*/

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char slab[65536];
    buf->base = slab;
    buf->len = sizeof(slab);
}

static void keep_tail(cl_buf *b, const char *data, size_t len)
{
    cl_buf_append(b, data, len);
    if (b->len > 2 * AGENT_RESULT_MAX) {
        size_t drop = b->len - AGENT_RESULT_MAX;
        memmove(b->data, b->data + drop, b->len - drop);
        b->len -= drop;
        b->data[b->len] = '\0';
    }
}

/* couler-exec reports a failure before exec as one "couler-exec: ..." line
 * on stderr (warnings say "couler-exec: warning:"). */
static void note_launch_error(agent_step *s, const char *data, size_t len)
{
    static const char tag[] = "couler-exec: ";
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (l > sizeof(tag) - 1 && memcmp(p, tag, sizeof(tag) - 1) == 0 &&
            !(l >= 21 && memcmp(p, "couler-exec: warning:", 21) == 0))
            snprintf(s->launch_error, sizeof(s->launch_error), "%.*s",
                     (int)l, p);
        p += l + 1;
    }
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    agent_step *s = st->data;
    if (n > 0) {
        log_append(s, buf->base, (size_t)n);
        if (st == (uv_stream_t *)&s->out_pipe)
            keep_tail(&s->out_tail, buf->base, (size_t)n);
        else
            note_launch_error(s, buf->base, (size_t)n);
        return;
    }
    if (n < 0) {
        uv_read_stop(st);
        s->pipes_open--;
        maybe_finish(s);
    }
}

/* The step's main process is gone but something it started still holds
 * stdout or stderr open: stop waiting for that after a grace period, as a
 * container runtime does when the main process exits. */
static void on_drain_timeout(uv_timer_t *t)
{
    agent_step *s = t->data;
    if (s->pipes_open == 0)
        return;
    uv_read_stop((uv_stream_t *)&s->out_pipe);
    uv_read_stop((uv_stream_t *)&s->err_pipe);
    s->pipes_open = 0;
    maybe_finish(s);
}

static void on_proc_exit(uv_process_t *p, int64_t status, int sig)
{
    agent_step *s = p->data;
    s->proc_exited = true;
    s->exit_status = status;
    s->term_signal = sig;
    uv_timer_stop(&s->deadline);
    if (s->pipes_open > 0)
        uv_timer_start(&s->deadline, on_drain_timeout, KILL_GRACE_MS, 0);
    /* Trim the kept stdout to the last 256 KiB. */
    if (s->out_tail.len > AGENT_RESULT_MAX) {
        size_t drop = s->out_tail.len - AGENT_RESULT_MAX;
        memmove(s->out_tail.data, s->out_tail.data + drop,
                s->out_tail.len - drop);
        s->out_tail.len -= drop;
        s->out_tail.data[s->out_tail.len] = '\0';
    }
    maybe_finish(s);
}

/* Graceful stop: SIGTERM. Under couler-exec the launcher forwards it to
 * the step's group (signalling the group ourselves would deliver it twice);
 * a direct child leads its own group, which gets it. */
static void term_step(agent_step *s)
{
    if (s->proc.pid <= 0)
        return;
    kill(s->isolated ? s->proc.pid : -s->proc.pid, SIGTERM);
}

static void on_kill_timer(uv_timer_t *t)
{
    agent_step *s = t->data;
    if (s->proc_exited || s->proc.pid <= 0)
        return;
    kill(-s->proc.pid, SIGKILL);
    if (s->group) {
        cl_errmsg em;
        agent_sb_group_kill(s->group, 500, &em);
    }
}

static void on_deadline(uv_timer_t *t)
{
    agent_step *s = t->data;
    if (s->proc_exited)
        return;
    s->deadline_hit = true;
    term_step(s);
    uv_timer_start(&s->deadline, on_kill_timer, KILL_GRACE_MS, 0);
}

static void end_unlaunched(agent_step *s, int code);

void agent__step_cancel(agent *a, agent_step *s, const char *reason)
{
    if (s->proc_exited || s->cancelled || s->state == AGENT_STEP_EXITED)
        return;
    s->cancelled = true;
    snprintf(s->cancel_reason, sizeof(s->cancel_reason), "%s",
             reason && reason[0] ? reason : "cancelled");
    CL_INFO("step %s: cancelling (%s)", s->attempt_id, s->cancel_reason);
    if (s->state == AGENT_STEP_PREPARING) {
        /* Its inputs are still being staged: the fetches stop here; a
         * hand-over on the thread pool finishes first, and then
         * on_inputs_ready ends the step without starting it. */
        if (s->pending_fetches > 0)
            agent__art_cancel_fetches(a, s);
        if (!s->work_busy)
            end_unlaunched(s, 128 + SIGTERM);
        return;
    }
    term_step(s);
    uv_timer_stop(&s->deadline);
    uv_timer_start(&s->deadline, on_kill_timer, KILL_GRACE_MS, 0);
}

void agent__step_ack(agent *a, agent_step *s)
{
    (void)a;
    cl_free(s->report);
    s->report = NULL;
    rm_rf(s->dir);
    agent__step_maybe_free(s);
}

/* ---- start ---------------------------------------------------------------*/

static char *kv_string(const char *k, const char *v)
{
    size_t n = strlen(k) + strlen(v) + 2;
    char *s = cl_malloc(n);
    if (s)
        snprintf(s, n, "%s=%s", k, v);
    return s;
}

/* Environment: the agent's own (so PATH and friends work as on the host),
 * then Couler's, then the template's, later entries winning. */
static char **build_env(agent *a, const Couler__StepAssign *as)
{
    size_t n0 = 0;
    while (environ[n0])
        n0++;
    size_t extra = as->n_env + 8 + (as->binding ? as->binding->n_env : 0);
    char **env = cl_calloc(n0 + extra + 1, sizeof(char *));
    if (env == NULL)
        return NULL;
    size_t n = 0;
    struct {
        const char *k, *v;
    } ours[] = {{"COULER_WORKFLOW", as->workflow},
                {"COULER_NODE_ID", as->node_id},
                {"COULER_NODE_NAME", as->node_name},
                {"COULER_ATTEMPT", as->attempt_id},
                {"COULER_HOST", a->node_id}};
    /* Drop inherited entries that a later one overrides. */
    for (size_t i = 0; i < n0; i++) {
        const char *e = environ[i];
        size_t klen = strcspn(e, "=");
        bool overridden = false;
        for (size_t j = 0; j < as->n_env && !overridden; j++)
            overridden = strlen(as->env[j]->name) == klen &&
                         strncmp(as->env[j]->name, e, klen) == 0;
        for (size_t j = 0; j < sizeof(ours) / sizeof(ours[0]) && !overridden;
             j++)
            overridden =
                strlen(ours[j].k) == klen && strncmp(ours[j].k, e, klen) == 0;
        if (!overridden)
            env[n++] = cl_strdup(e);
    }
    for (size_t j = 0; j < sizeof(ours) / sizeof(ours[0]); j++)
        env[n++] = kv_string(ours[j].k, ours[j].v ? ours[j].v : "");
    for (size_t j = 0; as->binding && j < as->binding->n_env; j++)
        env[n++] = kv_string(as->binding->env[j]->name,
                             as->binding->env[j]->value);
    for (size_t j = 0; j < as->n_env; j++)
        env[n++] = kv_string(as->env[j]->name, as->env[j]->value);
    for (size_t j = 0; j < n; j++)
        if (env[j] == NULL) {
            for (size_t k = 0; k < n; k++)
                cl_free(env[k]);
            cl_free(env);
            return NULL;
        }
    return env;
}

static void free_strv(char **v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; v[i]; i++)
        cl_free(v[i]);
    cl_free(v);
}

static void sanitize(const char *in, char *out, size_t len)
{
    size_t i = 0;
    for (; in[i] && i + 1 < len; i++) {
        char c = in[i];
        out[i] = (c == '/' || c == '\0') ? '_' : c;
    }
    out[i] = '\0';
}

/* A path as the step sees it: relative paths are relative to its working
 * directory, "/" by default as in a container. */
static void view_path(const Couler__StepAssign *as, const char *path,
                      char *buf, size_t len)
{
    if (path[0] == '/') {
        snprintf(buf, len, "%s", path);
        return;
    }
    const char *wd = as->working_dir && as->working_dir[0] ? as->working_dir
                                                           : "/";
    snprintf(buf, len, "%s%s%s", wd, wd[strlen(wd) - 1] == '/' ? "" : "/",
             path);
}

/* Raw input artifacts are written under <dir>/in/ and staged (copied) into
 * the view at their path; without a view they are written in place. */
static int stage_raw_inputs(agent_step *s, struct agent_sb_map *stages,
                            size_t *nstages, char (*paths)[2][PATH_MAX])
{
    for (size_t i = 0; i < s->assign->n_inputs; i++) {
        Couler__InputArtifact *in = s->assign->inputs[i];
        if (!in->has_raw)
            continue; /* fetched artifacts need the artifact service */
        int mode = in->mode >= 0 ? in->mode : 0644;
        if (!s->isolated) {
            char pbuf[PATH_MAX];
            int rv = cl_write_file(host_path(s, in->path, pbuf, sizeof(pbuf)),
                                in->raw.data, in->raw.len, mode, false);
            if (rv != 0)
                return rv;
            continue;
        }
        char *src = paths[*nstages][0], *dst = paths[*nstages][1];
        snprintf(src, PATH_MAX, "%s/in/%zu", s->dir, i);
        view_path(s->assign, in->path, dst, PATH_MAX);
        int rv = cl_write_file(src, in->raw.data, in->raw.len, mode, false);
        if (rv != 0)
            return rv;
        stages[*nstages].src = src;
        stages[*nstages].dst = dst;
        (*nstages)++;
    }
    return 0;
}

void agent__honour(const struct agent_sb_cpus *real, const char *list,
                   char *out, size_t len)
{
    struct agent_sb_cpus want;
    out[0] = '\0';
    if (list == NULL || list[0] == '\0' ||
        agent_sb_cpus_parse(list, &want) != 0)
        return;
    agent_sb_cpus_and(&want, &want, real);
    if (agent_sb_cpus_format(&want, out, len) != 0)
        out[0] = '\0';
}

static void sanitize_cg(const char *in, char *out, size_t len)
{
    size_t i = 0;
    for (; in[i] && i + 1 < len && i < 200; i++) {
        char c = in[i];
        out[i] = (isalnum((unsigned char)c) || c == '-' || c == '_' ||
                  c == '.')
                     ? c
                     : '_';
    }
    out[i] = '\0';
}

/* The per-step cgroup: limits from the binding. Failing to make one is not
 * fatal (the step runs unconfined, with a warning) unless a memory limit
 * was asked for, which must be enforced. */
static int make_group(agent *a, agent_step *s, cl_errmsg *em)
{
    if (a->cg == NULL)
        return 0;
    const Couler__Binding *b = s->assign->binding;
    struct agent_sb_limits lim = {0};
    char cpus[1024], mems[256];
    if (b) {
        agent__honour(&a->real_cpus, b->cpus, cpus, sizeof(cpus));
        agent__honour(&a->real_mems, b->mems, mems, sizeof(mems));
        lim.cpus = cpus[0] ? cpus : NULL;
        lim.mems = mems[0] ? mems : NULL;
        lim.cpu_millis = b->cpu_milli;
        lim.mem_bytes = b->memory_limit;
    }
    char name[256];
    sanitize_cg(s->attempt_id, name, sizeof(name));
    int rv = agent_sb_group_create(a->cg, name, &lim, &s->group, em);
    if (rv == CL_EEXIST) {
        /* Left over from an earlier run of this very attempt. */
        agent_sb_sweep(a->cg, NULL, em);
        rv = agent_sb_group_create(a->cg, name, &lim, &s->group, em);
    }
    if (rv != 0) {
        s->group = NULL;
        if (lim.mem_bytes == 0) {
            CL_WARN("step %s runs without its cgroup: %s", s->attempt_id,
                    em->msg);
            return 0;
        }
    }
    return rv;
}

static void launch_step(agent_step *s);

/* The inputs are in place (or could not be): run the step, or report why
 * it cannot run. */
/* end_unlaunched - a step ends before its process started (its inputs
 * could not be staged, or it was cancelled meanwhile). */
static void end_unlaunched(agent_step *s, int code)
{
    s->state = AGENT_STEP_RUNNING;
    s->proc_exited = true;
    s->exit_status = code;
    finish_step(s);
}

static void on_inputs_ready(agent_step *s)
{
    if (s->a->closing)
        return;
    if (s->cancelled) {
        end_unlaunched(s, 128 + SIGTERM);
        return;
    }
    if (s->art_status != 0) {
        char line[640];
        int n = snprintf(line, sizeof(line), "couler-agent: %s\n",
                         s->art_why);
        log_append(s, line, (size_t)n);
        end_unlaunched(s, 127);
        return;
    }
    launch_step(s);
}

int agent__step_start(agent *a, Couler__StepAssign *as)
{
    agent_step *s = cl_calloc(1, sizeof(*s));
    if (s == NULL)
        return CL_ENOMEM;
    s->a = a;
    s->assign = as;
    s->log_fd = -1;
    s->attempt_id = cl_strdup(as->attempt_id);
    if (s->attempt_id == NULL) {
        cl_free(s);
        return CL_ENOMEM;
    }
    cl_buf_init(&s->out_tail);
    char name[256];
    sanitize(as->attempt_id, name, sizeof(name));
    snprintf(s->dir, sizeof(s->dir), "%s/steps/%s", a->data_dir, name);
    HASH_ADD_KEYPTR(hh, a->steps, s->attempt_id, strlen(s->attempt_id), s);
    s->state = AGENT_STEP_PREPARING;
    s->isolated = a->exec_path != NULL;
    a->running++;

    char path[PATH_MAX];
    const char *why = "";
    int rv = 0;
    if (mkdir(s->dir, 0755) != 0 && errno != EEXIST) {
        rv = cl_err_from_errno(errno);
        why = "cannot create the step directory";
    }
    snprintf(path, sizeof(path), "%s/log", s->dir);
    if (rv == 0 &&
        (s->log_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
                          0644)) < 0) {
        rv = cl_err_from_errno(errno);
        why = "cannot create the log file";
    }
    const char *subdirs[] = {"work", "in", "out", "tmp", "view"};
    for (size_t i = 0; rv == 0 && i < sizeof(subdirs) / sizeof(subdirs[0]);
         i++) {
        snprintf(path, sizeof(path), "%s/%s", s->dir, subdirs[i]);
        mkdir(path, subdirs[i][0] == 't' ? 01777 : 0755);
    }
    if (rv != 0) {
        s->art_status = rv;
        snprintf(s->art_why, sizeof(s->art_why), "%s: %s", why,
                 cl_strerror(rv));
        on_inputs_ready(s);
        return 0;
    }
    agent__art_prepare_inputs(a, s, on_inputs_ready);
    return 0;
}

/* Fetched input artifacts: handed over to <dir>/in/<i>; couler-exec copies
 * each into the view at its path (subPath picks a file inside a directory
 * artifact). Without a view they are moved into place on the host. */
static int stage_fetched_inputs(agent_step *s, struct agent_sb_map *stages,
                                size_t *nstages, char (*paths)[2][PATH_MAX])
{
    for (size_t i = 0; i < s->assign->n_inputs; i++) {
        Couler__InputArtifact *in = s->assign->inputs[i];
        if (in->has_raw || in->digest[0] == '\0')
            continue;
        char *src = paths[*nstages][0], *dst = paths[*nstages][1];
        agent__art_input_path(s, i, src, PATH_MAX);
        if (in->sub_path[0]) {
            size_t l = strlen(src);
            snprintf(src + l, PATH_MAX - l, "/%s", in->sub_path);
        }
        if (!s->isolated) {
            char pbuf[PATH_MAX];
            const char *host = host_path(s, in->path, pbuf, sizeof(pbuf));
            rm_rf(host);
            if (rename(src, host) != 0)
                return cl_err_from_errno(errno);
            continue;
        }
        view_path(s->assign, in->path, dst, PATH_MAX);
        stages[*nstages].src = src;
        stages[*nstages].dst = dst;
        (*nstages)++;
    }
    return 0;
}

static void launch_step(agent_step *s)
{
    agent *a = s->a;
    const Couler__StepAssign *as = s->assign;
    s->state = AGENT_STEP_RUNNING;
    char path[PATH_MAX], work[PATH_MAX], script[PATH_MAX];
    char **argv = NULL, **env = NULL;
    const char **cmd = NULL;
    struct agent_sb_map *stages = NULL, *collects = NULL, *binds = NULL;
    char(*stage_paths)[2][PATH_MAX] = NULL;
    char(*collect_paths)[2][PATH_MAX] = NULL;
    int rv = 0;
    const char *why = "";
    cl_errmsg em;
    cl_errmsg_clear(&em);
    (void)path;
    snprintf(work, sizeof(work), "%s/work", s->dir);
    if (!s->isolated && as->working_dir && as->working_dir[0])
        mkdir(as->working_dir, 0755);

    size_t nin = as->n_inputs, nout = as->n_out_params + as->n_out_artifacts;
    stages = cl_calloc(2 * nin + 2, sizeof(*stages));
    stage_paths = cl_calloc(2 * nin + 2, sizeof(*stage_paths));
    collects = cl_calloc(nout + 1, sizeof(*collects));
    collect_paths = cl_calloc(nout + 1, sizeof(*collect_paths));
    binds = cl_calloc(a->cfg.nbinds + 1, sizeof(*binds));
    cmd = cl_calloc(as->n_command + 2, sizeof(char *));
    if (!stages || !stage_paths || !collects || !collect_paths || !binds ||
        !cmd) {
        rv = CL_ENOMEM;
        goto fail;
    }
    size_t nstages = 0;
    if ((rv = stage_raw_inputs(s, stages, &nstages, stage_paths)) != 0 ||
        (rv = stage_fetched_inputs(s, stages, &nstages, stage_paths)) != 0) {
        why = "cannot stage input artifacts";
        goto fail;
    }
    size_t argc = 0;
    for (size_t i = 0; i < as->n_command; i++)
        cmd[argc++] = as->command[i];
    if (as->script) {
        /* Argo stages a script at /argo/staging/script, mode 0755. */
        snprintf(script, sizeof(script), "%s/script", s->dir);
        rv = cl_write_file(script, as->source ? as->source : "",
                        as->source ? strlen(as->source) : 0, 0755, false);
        if (rv != 0) {
            why = "cannot write the script";
            goto fail;
        }
        if (s->isolated) {
            stages[nstages].src = script;
            stages[nstages].dst = "/argo/staging/script";
            nstages++;
            cmd[argc++] = "/argo/staging/script";
        } else {
            cmd[argc++] = script;
        }
    }
    if (argc == 0) {
        rv = CL_EINVAL;
        why = "the step has no command";
        goto fail;
    }
    const char *cwd = s->dir;
    if (s->isolated) {
        size_t nc = 0;
        for (size_t i = 0; i < as->n_out_params; i++, nc++) {
            view_path(as, as->out_params[i]->path, collect_paths[nc][0],
                      PATH_MAX);
            output_path(s, 'p', i, NULL, collect_paths[nc][1], PATH_MAX);
            collects[nc].src = collect_paths[nc][0];
            collects[nc].dst = collect_paths[nc][1];
        }
        for (size_t i = 0; i < as->n_out_artifacts; i++, nc++) {
            view_path(as, as->out_artifacts[i]->path, collect_paths[nc][0],
                      PATH_MAX);
            output_path(s, 'a', i, NULL, collect_paths[nc][1], PATH_MAX);
            collects[nc].src = collect_paths[nc][0];
            collects[nc].dst = collect_paths[nc][1];
        }
        for (size_t i = 0; i < a->cfg.nbinds; i++) {
            char *colon = strchr(a->binds[i], ':');
            if (colon) {
                *colon = '\0';
                binds[i].dst = colon + 1;
            }
            binds[i].src = a->binds[i];
        }
        if ((rv = make_group(a, s, &em)) != 0) {
            why = "cannot create the step's cgroup";
            goto fail;
        }
        char viewdir[PATH_MAX], tmpdir[PATH_MAX];
        snprintf(viewdir, sizeof(viewdir), "%s/view", s->dir);
        snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", s->dir);
        const char *hides[1] = {a->data_dir};
        struct agent_sb_spec spec;
        memset(&spec, 0, sizeof(spec));
        spec.exec_path = a->exec_path;
        spec.view_dir = viewdir;
        spec.tmp_dir = tmpdir;
        spec.hides = hides;
        spec.n_hides = 1;
        spec.binds = binds;
        spec.n_binds = a->cfg.nbinds;
        spec.stages = stages;
        spec.n_stages = nstages;
        spec.collects = collects;
        spec.n_collects = nc;
        spec.workdir =
            as->working_dir && as->working_dir[0] ? as->working_dir : "/";
        if (s->group)
            spec.n_cgroups = agent_sb_group_paths(s->group, &spec.cgroups);
        char honoured[1024];
        if (as->binding && as->binding->cpus[0]) {
            agent__honour(&a->real_cpus, as->binding->cpus, honoured,
                          sizeof(honoured));
            if (honoured[0])
                spec.cpus = honoured;
        }
        spec.require_isolation = a->cfg.isolation == 1;
        spec.argv = cmd;
        spec.argc = argc;
        rv = agent_sb_build_argv(&spec, &argv, &em);
        for (size_t i = 0; i < a->cfg.nbinds; i++)
            if (binds[i].dst)
                ((char *)binds[i].dst)[-1] = ':';
        if (rv != 0) {
            why = em.msg;
            goto fail;
        }
    } else {
        argv = cl_calloc(argc + 1, sizeof(char *));
        if (argv == NULL) {
            rv = CL_ENOMEM;
            goto fail;
        }
        for (size_t i = 0; i < argc; i++)
            if ((argv[i] = cl_strdup(cmd[i])) == NULL) {
                rv = CL_ENOMEM;
                goto fail;
            }
        cwd = as->working_dir && as->working_dir[0] ? as->working_dir : work;
    }
    env = build_env(a, as);
    if (env == NULL) {
        rv = CL_ENOMEM;
        goto fail;
    }

    uv_pipe_init(a->loop, &s->out_pipe, 0);
    uv_pipe_init(a->loop, &s->err_pipe, 0);
    uv_timer_init(a->loop, &s->deadline);
    s->out_pipe.data = s->err_pipe.data = s->deadline.data = s;
    s->open_handles = 3;
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&s->out_pipe;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&s->err_pipe;
    uv_process_options_t opt;
    memset(&opt, 0, sizeof(opt));
    opt.file = argv[0];
    opt.args = argv;
    opt.env = env;
    opt.cwd = cwd;
    opt.exit_cb = on_proc_exit;
    opt.stdio = stdio;
    opt.stdio_count = 3;
    /* Its own process group, so a cancel reaches every descendant. */
    opt.flags = UV_PROCESS_DETACHED;
    s->proc.data = s;
    int uvrv = uv_spawn(a->loop, &s->proc, &opt);
    if (uvrv != 0) {
        /* The handle is initialised even on failure and must be closed. */
        s->open_handles++;
        char line[512];
        int n = snprintf(line, sizeof(line), "cannot run '%s': %s\n",
                         argv[0], uv_strerror(uvrv));
        log_append(s, line, (size_t)n);
        s->proc_exited = true;
        s->exit_status = 127;
        s->pipes_open = 0;
        goto spawned_fail;
    }
    s->open_handles++;
    s->pipes_open = 2;
    s->started_at = cl_wall_ms();
    uv_read_start((uv_stream_t *)&s->out_pipe, on_alloc, on_read);
    uv_read_start((uv_stream_t *)&s->err_pipe, on_alloc, on_read);
    if (as->deadline_ms > 0)
        uv_timer_start(&s->deadline, on_deadline, (uint64_t)as->deadline_ms,
                       0);
    {
        Couler__StepStarted st = COULER__STEP_STARTED__INIT;
        st.attempt_id = s->attempt_id;
        st.started_at = s->started_at;
        st.pid = s->proc.pid;
        agent__send(a, COULER__MSG_TYPE__MSG_STEP_STARTED, &st.base);
    }
    CL_DEBUG("step %s (%s) started, pid %d", s->attempt_id, as->node_name,
             s->proc.pid);
    goto out;


fail : {
    char line[768];
    int n = snprintf(line, sizeof(line), "couler-agent: %s: %s\n", why,
                     cl_strerror(rv));
    log_append(s, line, (size_t)n);
    s->proc_exited = true;
    s->exit_status = 127;
}
spawned_fail:
    if (s->state == AGENT_STEP_RUNNING && s->verdict_phase == 0)
        finish_step(s);
out:
    if (s->isolated)
        agent_sb_argv_free(argv);
    else
        free_strv(argv);
    free_strv(env);
    cl_free(cmd);
    cl_free(stages);
    cl_free(stage_paths);
    cl_free(collects);
    cl_free(collect_paths);
    cl_free(binds);
}

/* ---- restart -------------------------------------------------------------*/

int agent__load_reports(agent *a)
{
    char steps[PATH_MAX];
    snprintf(steps, sizeof(steps), "%s/steps", a->data_dir);
    DIR *d = opendir(steps);
    if (d == NULL)
        return errno == ENOENT ? 0 : cl_err_from_errno(errno);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char dir[PATH_MAX], path[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/%s", steps, de->d_name);
        snprintf(path, sizeof(path), "%s/report.pb", dir);
        char *data;
        size_t len;
        if (cl_read_file(path, CL_MAX_FRAME, &data, &len) != 0) {
            /* It was running when the agent stopped: the process is gone
             * with us, and the coordinator will run it again. */
            rm_rf(dir);
            continue;
        }
        Couler__MsgType type;
        uint64_t rid;
        ProtobufCMessage *m;
        cl_errmsg err;
        if (cl_env_unpack((uint8_t *)data, len, &type, &rid, &m, &err) != 0 ||
            type != COULER__MSG_TYPE__MSG_STEP_EXITED) {
            CL_WARN("discarding unreadable report %s: %s", path, err.msg);
            if (m)
                cl_env_free(m);
            cl_free(data);
            rm_rf(dir);
            continue;
        }
        Couler__StepExited *ex = (Couler__StepExited *)m;
        agent_step *s = cl_calloc(1, sizeof(*s));
        Couler__StepAssign *as = cl_calloc(1, sizeof(*as));
        if (s == NULL || as == NULL) {
            cl_free(s);
            cl_free(as);
            cl_env_free(m);
            cl_free(data);
            closedir(d);
            return CL_ENOMEM;
        }
        /* A minimal assignment record so the step can be freed uniformly. */
        couler__step_assign__init(as);
        Couler__StepAssign *owned = (Couler__StepAssign *)
            protobuf_c_message_unpack(&couler__step_assign__descriptor,
                                      &cl_pb_allocator, 0, NULL);
        cl_free(as);
        s->assign = owned;
        s->a = a;
        s->attempt_id = cl_strdup(ex->attempt_id);
        snprintf(s->dir, sizeof(s->dir), "%s", dir);
        s->state = AGENT_STEP_EXITED;
        s->report = (uint8_t *)data;
        s->report_len = len;
        snprintf(path, sizeof(path), "%s/log", dir);
        s->log_fd = open(path, O_RDONLY | O_CLOEXEC);
        s->log_size = ex->log_size;
        cl_buf_init(&s->out_tail);
        cl_env_free(m);
        if (s->attempt_id == NULL || s->assign == NULL) {
            closedir(d);
            return CL_ENOMEM;
        }
        HASH_ADD_KEYPTR(hh, a->steps, s->attempt_id, strlen(s->attempt_id),
                        s);
        CL_INFO("found the unacknowledged report of step %s",
                s->attempt_id);
    }
    closedir(d);
    return 0;
}

void agent__steps_close(agent *a)
{
    agent_step *s, *tmp;
    HASH_ITER(hh, a->steps, s, tmp)
    {
        if (s->state == AGENT_STEP_RUNNING && !s->proc_exited &&
            s->proc.pid > 0)
            kill(-s->proc.pid, SIGKILL);
        if (s->group) {
            cl_errmsg em;
            agent_sb_group_remove(s->group, 1000, &em);
            agent_sb_group_free(s->group);
            s->group = NULL;
        }
        /* Fetches refer to the step: they go first (one with chunk checks
         * on the pool is freed by its last check). */
        if (s->pending_fetches > 0)
            agent__art_cancel_fetches(a, s);
        if (s->open_handles > 0)
            close_step_handles(s);
        else if (!s->work_busy) /* else its job's callback frees it */
            step_free(s);
    }
}
