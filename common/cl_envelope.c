#include "common/cl_envelope.h"

#include "common/cl_heap.h"

#include <string.h>

static void *pb_alloc(void *data, size_t size)
{
    (void)data;
    return cl_malloc(size);
}

static void pb_free(void *data, void *ptr)
{
    (void)data;
    cl_free(ptr);
}

ProtobufCAllocator cl_pb_allocator = {pb_alloc, pb_free, NULL};

const ProtobufCMessageDescriptor *cl_env_descriptor(Couler__MsgType type)
{
    switch (type) {
    case COULER__MSG_TYPE__MSG_AGENT_REGISTER:
        return &couler__agent_register__descriptor;
    case COULER__MSG_TYPE__MSG_REGISTER_ACK:
        return &couler__register_ack__descriptor;
    case COULER__MSG_TYPE__MSG_HEARTBEAT:
        return &couler__heartbeat__descriptor;
    case COULER__MSG_TYPE__MSG_STEP_ASSIGN:
        return &couler__step_assign__descriptor;
    case COULER__MSG_TYPE__MSG_STEP_STARTED:
        return &couler__step_started__descriptor;
    case COULER__MSG_TYPE__MSG_STEP_LOG:
        return &couler__step_log__descriptor;
    case COULER__MSG_TYPE__MSG_STEP_EXITED:
        return &couler__step_exited__descriptor;
    case COULER__MSG_TYPE__MSG_STEP_ACK:
        return &couler__step_ack__descriptor;
    case COULER__MSG_TYPE__MSG_STEP_CANCEL:
        return &couler__step_cancel__descriptor;
    case COULER__MSG_TYPE__MSG_CACHE_LOOKUP:
        return &couler__cache_lookup__descriptor;
    case COULER__MSG_TYPE__MSG_CACHE_ANSWER:
        return &couler__cache_answer__descriptor;
    case COULER__MSG_TYPE__MSG_CACHE_PUT:
        return &couler__cache_put__descriptor;
    case COULER__MSG_TYPE__MSG_CACHE_VERIFY:
        return &couler__cache_verify__descriptor;
    case COULER__MSG_TYPE__MSG_CACHE_VERIFIED:
        return &couler__cache_verified__descriptor;
    case COULER__MSG_TYPE__MSG_CACHE_ADMIN:
        return &couler__cache_request__descriptor;
    case COULER__MSG_TYPE__MSG_CACHE_ADMIN_REPLY:
        return &couler__cache_admin_reply__descriptor;
    case COULER__MSG_TYPE__MSG_ERROR:
        return &couler__error_reply__descriptor;
    case COULER__MSG_TYPE__MSG_SUBMIT:
        return &couler__submit_request__descriptor;
    case COULER__MSG_TYPE__MSG_SUBMIT_REPLY:
        return &couler__submit_reply__descriptor;
    case COULER__MSG_TYPE__MSG_LIST:
        return &couler__list_request__descriptor;
    case COULER__MSG_TYPE__MSG_LIST_REPLY:
        return &couler__list_reply__descriptor;
    case COULER__MSG_TYPE__MSG_GET:
        return &couler__get_request__descriptor;
    case COULER__MSG_TYPE__MSG_GET_REPLY:
        return &couler__get_reply__descriptor;
    case COULER__MSG_TYPE__MSG_LOGS:
        return &couler__logs_request__descriptor;
    case COULER__MSG_TYPE__MSG_LOGS_REPLY:
        return &couler__logs_reply__descriptor;
    case COULER__MSG_TYPE__MSG_CONTROL:
        return &couler__control_request__descriptor;
    case COULER__MSG_TYPE__MSG_CONTROL_REPLY:
        return &couler__control_reply__descriptor;
    case COULER__MSG_TYPE__MSG_NODES:
        return &couler__nodes_request__descriptor;
    case COULER__MSG_TYPE__MSG_NODES_REPLY:
        return &couler__nodes_reply__descriptor;
    case COULER__MSG_TYPE__MSG_RESUBMIT:
        return &couler__resubmit_request__descriptor;
    case COULER__MSG_TYPE__MSG_CACHE:
        return &couler__cache_request__descriptor;
    case COULER__MSG_TYPE__MSG_CACHE_REPLY:
        return &couler__cache_reply__descriptor;
    case COULER__MSG_TYPE__MSG_STATS:
        return &couler__stats_request__descriptor;
    case COULER__MSG_TYPE__MSG_STATS_REPLY:
        return &couler__stats_reply__descriptor;
    default:
        return NULL;
    }
}

int cl_env_pack(Couler__MsgType type, uint64_t request_id,
                const ProtobufCMessage *msg, uint8_t **out, size_t *len)
{
    const ProtobufCMessageDescriptor *d = cl_env_descriptor(type);
    if (d == NULL || msg == NULL || msg->descriptor != d)
        return CL_EINVAL;
    size_t plen = protobuf_c_message_get_packed_size(msg);
    if (plen > CL_MAX_FRAME - 64)
        return CL_ETOOBIG;
    uint8_t *payload = cl_malloc(plen);
    if (payload == NULL)
        return CL_ENOMEM;
    protobuf_c_message_pack(msg, payload);

    Couler__Envelope env = COULER__ENVELOPE__INIT;
    env.version = CL_PROTOCOL_VERSION;
    env.type = type;
    env.request_id = request_id;
    env.payload.data = payload;
    env.payload.len = plen;
    size_t elen = couler__envelope__get_packed_size(&env);
    uint8_t *buf = cl_malloc(elen);
    if (buf == NULL) {
        cl_free(payload);
        return CL_ENOMEM;
    }
    couler__envelope__pack(&env, buf);
    cl_free(payload);
    *out = buf;
    *len = elen;
    return 0;
}

int cl_env_unpack(const uint8_t *data, size_t len, Couler__MsgType *type,
                  uint64_t *request_id, ProtobufCMessage **msg,
                  cl_errmsg *err)
{
    *msg = NULL;
    if (len > CL_MAX_FRAME) {
        cl_errmsg_set(err, "frame of %zu bytes exceeds the %u byte limit",
                      len, CL_MAX_FRAME);
        return CL_ETOOBIG;
    }
    if (len == 0) {
        cl_errmsg_set(err, "empty frame");
        return CL_EPROTO;
    }
    Couler__Envelope *env =
        couler__envelope__unpack(&cl_pb_allocator, len, data);
    if (env == NULL) {
        cl_errmsg_set(err, "frame is not an envelope");
        return CL_EPROTO;
    }
    int rv;
    if (env->version != CL_PROTOCOL_VERSION) {
        cl_errmsg_set(err, "protocol version %u, this build speaks %u",
                      env->version, CL_PROTOCOL_VERSION);
        rv = CL_EVERSION;
        goto out;
    }
    const ProtobufCMessageDescriptor *d =
        cl_env_descriptor((Couler__MsgType)env->type);
    if (d == NULL) {
        cl_errmsg_set(err, "unknown message type %d", (int)env->type);
        rv = CL_EPROTO;
        goto out;
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(
        d, &cl_pb_allocator, env->payload.len, env->payload.data);
    if (m == NULL) {
        cl_errmsg_set(err, "%s payload does not decode", d->short_name);
        rv = CL_EPROTO;
        goto out;
    }
    *type = (Couler__MsgType)env->type;
    *request_id = env->request_id;
    *msg = m;
    rv = 0;
out:
    couler__envelope__free_unpacked(env, &cl_pb_allocator);
    return rv;
}

void cl_env_free(ProtobufCMessage *msg)
{
    if (msg != NULL)
        protobuf_c_message_free_unpacked(msg, &cl_pb_allocator);
}
