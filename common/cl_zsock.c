#include "common/cl_zsock.h"

#include "common/cl_err.h"
#include "common/cl_log.h"

#include <errno.h>
#include <string.h>
#include <zmq.h>

static void drain(cl_zsock *s);

static void on_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    cl_zsock *s = h->data;
    s->wakeups++;
    drain(s);
}

static void on_kick(uv_idle_t *h)
{
    cl_zsock *s = h->data;
    uv_idle_stop(&s->kick);
    drain(s);
}

static void schedule_drain(cl_zsock *s)
{
    if (!s->closing)
        uv_idle_start(&s->kick, on_kick);
}

int cl_zsock_init(uv_loop_t *loop, cl_zsock *s, void *zs,
                  cl_zsock_recv_cb recv_cb)
{
    void *keep = s->data;
    memset(s, 0, sizeof(*s));
    s->data = keep;
    s->loop = loop;
    s->zs = zs;
    s->recv_cb = recv_cb;
    int fd;
    size_t fdlen = sizeof(fd);
    if (zmq_getsockopt(zs, ZMQ_FD, &fd, &fdlen) != 0)
        return CL_EZMQ;
    int rv = uv_poll_init(loop, &s->poll, fd);
    if (rv != 0)
        return cl_err_from_uv(rv);
    s->open_handles++;
    s->poll.data = s;
    rv = uv_idle_init(loop, &s->kick);
    if (rv != 0) {
        /* The poll handle must still be closed by cl_zsock_close. */
        return cl_err_from_uv(rv);
    }
    s->open_handles++;
    s->kick.data = s;
    return 0;
}

int cl_zsock_start(cl_zsock *s)
{
    int rv = uv_poll_start(&s->poll, UV_READABLE, on_poll);
    if (rv != 0)
        return cl_err_from_uv(rv);
    /* Messages may already be queued: the edge happened before we looked. */
    schedule_drain(s);
    return 0;
}

static int recv_message(cl_zsock *s, zmq_msg_t *parts, size_t *n)
{
    size_t count = 0;
    int more = 1;
    while (more) {
        zmq_msg_t tmp;
        zmq_msg_t *m = count < CL_ZSOCK_MAX_FRAMES ? &parts[count] : &tmp;
        zmq_msg_init(m);
        int rc;
        do
            rc = zmq_msg_recv(m, s->zs, ZMQ_DONTWAIT);
        while (rc < 0 && zmq_errno() == EINTR);
        if (rc < 0) {
            int e = zmq_errno();
            zmq_msg_close(m);
            for (size_t i = 0; i < count && i < CL_ZSOCK_MAX_FRAMES; i++)
                zmq_msg_close(&parts[i]);
            /* A multipart message arrives atomically, so EAGAIN can only
             * happen before its first frame. */
            return e == EAGAIN ? CL_EAGAIN : CL_EZMQ;
        }
        more = zmq_msg_more(m);
        if (m == &tmp)
            zmq_msg_close(&tmp);
        count++;
    }
    *n = count;
    return 0;
}

/* ZMQ_FD is edge-triggered: it signals once when commands arrive for a
 * socket whose mailbox was idle, and every recv, send or ZMQ_EVENTS may
 * consume that signal. So a drain must go on until ZMQ_EVENTS says there
 * is nothing to read. A call interrupted by a signal (EINTR: SIGCHLD from
 * the steps, for one) is retried; stopping there would leave messages
 * queued behind a signal already consumed, and the socket silent for
 * good. Another error is retried on the next turn of the loop. */
static void drain(cl_zsock *s)
{
    if (s->draining || s->closing)
        return;
    s->draining = 1;
    for (;;) {
        if (s->closing)
            break;
        int events = 0;
        size_t elen = sizeof(events);
        if (zmq_getsockopt(s->zs, ZMQ_EVENTS, &events, &elen) != 0) {
            if (zmq_errno() == EINTR)
                continue;
            s->errors++;
            schedule_drain(s);
            break;
        }
        if ((events & ZMQ_POLLOUT) && s->want_writable) {
            s->want_writable = 0;
            if (s->writable_cb)
                s->writable_cb(s);
            continue;
        }
        if (!(events & ZMQ_POLLIN))
            break;
        zmq_msg_t parts[CL_ZSOCK_MAX_FRAMES];
        size_t n = 0;
        int rv = recv_message(s, parts, &n);
        if (rv != 0) {
            if (rv != CL_EAGAIN) {
                s->errors++;
                schedule_drain(s);
            }
            break;
        }
        if (n > CL_ZSOCK_MAX_FRAMES) {
            s->dropped_oversized++;
            for (size_t i = 0; i < CL_ZSOCK_MAX_FRAMES; i++)
                zmq_msg_close(&parts[i]);
            continue;
        }
        cl_zframes f;
        f.nframes = n;
        for (size_t i = 0; i < n; i++) {
            f.data[i] = zmq_msg_data(&parts[i]);
            f.len[i] = zmq_msg_size(&parts[i]);
        }
        s->received++;
        if (s->recv_cb)
            s->recv_cb(s, &f);
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&parts[i]);
    }
    s->draining = 0;
}

int cl_zsock_send(cl_zsock *s, size_t n, const void *const *data,
                  const size_t *len)
{
    if (s->closing)
        return CL_ECLOSED;
    for (size_t i = 0; i < n; i++) {
        int flags = ZMQ_DONTWAIT | (i + 1 < n ? ZMQ_SNDMORE : 0);
        int rc;
        do
            rc = zmq_send(s->zs, data[i], len[i], flags);
        while (rc < 0 && zmq_errno() == EINTR);
        if (rc < 0) {
            int e = zmq_errno();
            /* A multipart message is queued atomically: a failure can only
             * happen on the first frame (ROUTER peer lookup, HWM). */
            schedule_drain(s);
            if (e == EAGAIN)
                return CL_EAGAIN;
            if (e == EHOSTUNREACH)
                return CL_ENOENT;
            return CL_EZMQ;
        }
    }
    s->sent++;
    schedule_drain(s);
    return 0;
}

void cl_zsock_want_writable(cl_zsock *s, cl_zsock_writable_cb cb)
{
    s->writable_cb = cb;
    s->want_writable = 1;
    schedule_drain(s);
}

static void on_handle_closed(uv_handle_t *h)
{
    cl_zsock *s = h->data;
    if (--s->open_handles == 0 && s->close_cb)
        s->close_cb(s);
}

void cl_zsock_close(cl_zsock *s, cl_zsock_close_cb cb)
{
    if (s->closing)
        return;
    s->closing = 1;
    s->close_cb = cb;
    int handles = s->open_handles;
    if (handles == 0) {
        if (cb)
            cb(s);
        return;
    }
    if (handles >= 1)
        uv_close((uv_handle_t *)&s->poll, on_handle_closed);
    if (handles >= 2)
        uv_close((uv_handle_t *)&s->kick, on_handle_closed);
}
