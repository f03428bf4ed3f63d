/* cl_envelope.h - the message envelope of the control and client wires.
 *
 * A wire message is one ZeroMQ frame holding a couler.Envelope (protocol
 * version, message type, request id, payload). Decoding is bounded and
 * checked in this order: frame size (<= CL_MAX_FRAME), envelope decode,
 * version (== CL_PROTOCOL_VERSION), known type, payload decode with the
 * message type's own descriptor. Each refusal is a distinct error code with
 * a message, never an abort, so a daemon counts the bad frame and goes on.
 *
 * Decoded messages are allocated through cl_heap (so fault tests reach the
 * failure paths) and released with cl_env_free.
 */
#ifndef COULER_CL_ENVELOPE_H
#define COULER_CL_ENVELOPE_H

#include "common/cl_err.h"
#include "couler.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#define CL_PROTOCOL_VERSION 1u
#define CL_MAX_FRAME (16u << 20) /* 16 MiB */

/* cl_env_pack - encode `msg` (whose descriptor must match `type`) in an
 * envelope. *out is cl_malloc'd; the caller cl_free's it. */
int cl_env_pack(Couler__MsgType type, uint64_t request_id,
                const ProtobufCMessage *msg, uint8_t **out, size_t *len);

/* cl_env_unpack - decode a frame. On success *type, *request_id and *msg
 * are set (*msg owned by the caller: cl_env_free). Errors: CL_ETOOBIG,
 * CL_EPROTO (not an envelope, unknown type, payload does not decode),
 * CL_EVERSION, CL_ENOMEM; `err` says which. */
int cl_env_unpack(const uint8_t *data, size_t len, Couler__MsgType *type,
                  uint64_t *request_id, ProtobufCMessage **msg,
                  cl_errmsg *err);

void cl_env_free(ProtobufCMessage *msg);

/* cl_env_descriptor - the payload descriptor of a type, NULL if unknown. */
const ProtobufCMessageDescriptor *cl_env_descriptor(Couler__MsgType type);

/* The protobuf-c allocator backed by cl_heap, for other decoders. */
extern ProtobufCAllocator cl_pb_allocator;

#endif
