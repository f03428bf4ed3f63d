/* coord_client.h - a blocking client of the coordinator's client API, for
 * the CLI and for tests. One request at a time over a DEALER socket; a reply
 * is matched by request id and awaited up to the configured timeout.
 */
#ifndef COULER_COORD_CLIENT_H
#define COULER_COORD_CLIENT_H

#include "common/cl_envelope.h"
#include "common/cl_err.h"

typedef struct coord_client coord_client;

/* coord_client_open - connect to `endpoint` (tcp://host:port). Does not
 * block: an absent coordinator shows up as CL_ETIMEDOUT on the first call. */
int coord_client_open(const char *endpoint, int timeout_ms,
                      coord_client **out, cl_errmsg *err);
void coord_client_close(coord_client *cl);

/* coord_client_call - send `req` as `type` and wait for the reply. On
 * success *reply (free with cl_env_free) has type `expect`. An ErrorReply
 * from the coordinator returns its code with its message in err. */
int coord_client_call(coord_client *cl, Couler__MsgType type,
                      const ProtobufCMessage *req, Couler__MsgType expect,
                      ProtobufCMessage **reply, cl_errmsg *err);

#endif
