#include "coordinator/coord_client.h"

#include "common/cl_heap.h"
#include "common/cl_time.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

struct coord_client {
    void *ctx;
    void *sock;
    char *endpoint;
    int timeout_ms;
    uint64_t next_id;
};

int coord_client_open(const char *endpoint, int timeout_ms,
                      coord_client **out, cl_errmsg *err)
{
    coord_client *cl = cl_calloc(1, sizeof(*cl));
    if (cl == NULL)
        return CL_ENOMEM;
    cl->ctx = zmq_ctx_new();
    cl->sock = zmq_socket(cl->ctx, ZMQ_DEALER);
    cl->endpoint = cl_strdup(endpoint);
    cl->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    cl->next_id = randombytes_random();
    int zero = 0;
    zmq_setsockopt(cl->sock, ZMQ_LINGER, &zero, sizeof(zero));
    int64_t maxmsg = CL_MAX_FRAME + 4096;
    zmq_setsockopt(cl->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
    if (cl->endpoint == NULL || zmq_connect(cl->sock, endpoint) != 0) {
        cl_errmsg_set(err, "cannot use coordinator address '%s': %s",
                      endpoint, zmq_strerror(zmq_errno()));
        coord_client_close(cl);
        return CL_EINVAL;
    }
    *out = cl;
    return 0;
}

void coord_client_close(coord_client *cl)
{
    if (cl == NULL)
        return;
    if (cl->sock)
        zmq_close(cl->sock);
    if (cl->ctx)
        zmq_ctx_term(cl->ctx);
    cl_free(cl->endpoint);
    cl_free(cl);
}

int coord_client_call(coord_client *cl, Couler__MsgType type,
                      const ProtobufCMessage *req, Couler__MsgType expect,
                      ProtobufCMessage **reply, cl_errmsg *err)
{
    *reply = NULL;
    uint64_t id = ++cl->next_id;
    uint8_t *buf;
    size_t len;
    int rv = cl_env_pack(type, id, req, &buf, &len);
    if (rv != 0) {
        cl_errmsg_set(err, "cannot encode the request: %s", cl_strerror(rv));
        return rv;
    }
    zmq_pollitem_t pi = {cl->sock, 0, ZMQ_POLLOUT, 0};
    if (zmq_poll(&pi, 1, cl->timeout_ms) <= 0 ||
        zmq_send(cl->sock, buf, len, ZMQ_DONTWAIT) < 0) {
        cl_free(buf);
        cl_errmsg_set(err,
                      "cannot reach the coordinator at %s (is "
                      "`couler-coord serve` or `up` running? set --coord "
                      "or COULER_COORD)",
                      cl->endpoint);
        return CL_ETIMEDOUT;
    }
    cl_free(buf);
    int64_t deadline = cl_now_ms() + cl->timeout_ms;
    for (;;) {
        int64_t left = deadline - cl_now_ms();
        if (left <= 0)
            break;
        pi.events = ZMQ_POLLIN;
        pi.revents = 0;
        if (zmq_poll(&pi, 1, (long)left) <= 0)
            continue;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, cl->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            continue;
        }
        Couler__MsgType rtype;
        uint64_t rid;
        ProtobufCMessage *m;
        rv = cl_env_unpack(zmq_msg_data(&msg), zmq_msg_size(&msg), &rtype,
                           &rid, &m, err);
        zmq_msg_close(&msg);
        if (rv == CL_EVERSION)
            return rv;
        if (rv != 0)
            continue; /* not for us; keep waiting */
        if (rtype == COULER__MSG_TYPE__MSG_ERROR && (rid == id || rid == 0)) {
            Couler__ErrorReply *e = (Couler__ErrorReply *)m;
            rv = e->code ? (int)e->code : CL_EPROTO;
            cl_errmsg_set(err, "%s", e->message);
            cl_env_free(m);
            return rv;
        }
        if (rid != id || rtype != expect) {
            cl_env_free(m);
            continue; /* a late reply to an earlier request */
        }
        *reply = m;
        return 0;
    }
    cl_errmsg_set(err,
                  "no answer from the coordinator at %s within %d ms (is "
                  "`couler-coord serve` or `up` running? set --coord or "
                  "COULER_COORD)",
                  cl->endpoint, cl->timeout_ms);
    return CL_ETIMEDOUT;
}
