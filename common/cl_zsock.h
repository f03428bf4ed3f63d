/* cl_zsock.h - a ZeroMQ socket driven by a libuv loop.
 *
 * ZeroMQ exposes readiness through ZMQ_FD, an edge-triggered descriptor that
 * signals "something changed", not "a message is waiting". The glue polls
 * that fd with uv_poll and, on every wake-up, drains the socket until
 * ZMQ_EVENTS no longer shows ZMQ_POLLIN. Sending can also consume the edge
 * (zmq_send processes pending commands), so after every send the glue
 * schedules one more drain on the next loop iteration (a one-shot uv_idle).
 * Forgetting either rule loses wake-ups: messages sit in the socket until an
 * unrelated event arrives.
 *
 * Lifecycle (libuv style): cl_zsock_init -> cl_zsock_start -> ... ->
 * cl_zsock_close(cb). The uv handles are released in the close callback; the
 * ZeroMQ socket itself stays owned by the caller, who zmq_close()s it after
 * the close callback (or earlier if it never started).
 *
 * Callbacks run on the loop thread. recv_cb may send, and may call
 * cl_zsock_close; after close no further callbacks fire.
 */
#ifndef COULER_CL_ZSOCK_H
#define COULER_CL_ZSOCK_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define CL_ZSOCK_MAX_FRAMES 4

typedef struct cl_zsock cl_zsock;

/* A received message: nframes frames (<= CL_ZSOCK_MAX_FRAMES), borrowed for
 * the duration of the callback. */
typedef struct cl_zframes {
    size_t nframes;
    const uint8_t *data[CL_ZSOCK_MAX_FRAMES];
    size_t len[CL_ZSOCK_MAX_FRAMES];
} cl_zframes;

typedef void (*cl_zsock_recv_cb)(cl_zsock *s, const cl_zframes *msg);
typedef void (*cl_zsock_writable_cb)(cl_zsock *s);
typedef void (*cl_zsock_close_cb)(cl_zsock *s);

struct cl_zsock {
    void *data; /* user slot */
    /* private */
    uv_loop_t *loop;
    void *zs;
    uv_poll_t poll;
    uv_idle_t kick;
    cl_zsock_recv_cb recv_cb;
    cl_zsock_writable_cb writable_cb;
    cl_zsock_close_cb close_cb;
    int closing;
    int open_handles;
    int draining;
    int want_writable;
    /* counters */
    uint64_t received;
    uint64_t sent;
    uint64_t dropped_oversized; /* messages with too many frames */
    uint64_t wakeups;
    uint64_t errors; /* recv or ZMQ_EVENTS failures other than EINTR/EAGAIN */
};

/* cl_zsock_init - bind the glue to a ZeroMQ socket `zs` (not owned). Returns
 * 0 or CL_EZMQ/CL_EUV. */
int cl_zsock_init(uv_loop_t *loop, cl_zsock *s, void *zs,
                  cl_zsock_recv_cb recv_cb);

/* cl_zsock_start - begin delivering messages. */
int cl_zsock_start(cl_zsock *s);

/* cl_zsock_send - send one message of n frames without blocking. Returns 0,
 * CL_EAGAIN when the peer's queue is full (call cl_zsock_want_writable to be
 * told when to retry), CL_ENOENT when a ROUTER has no such peer
 * (ZMQ_ROUTER_MANDATORY), or CL_EZMQ. */
int cl_zsock_send(cl_zsock *s, size_t n, const void *const *data,
                  const size_t *len);

/* cl_zsock_want_writable - call cb once the socket can take a message. */
void cl_zsock_want_writable(cl_zsock *s, cl_zsock_writable_cb cb);

/* cl_zsock_close - stop and release the uv handles; cb fires when done. */
void cl_zsock_close(cl_zsock *s, cl_zsock_close_cb cb);

#endif
