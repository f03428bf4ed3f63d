/* zmq_garbage - throw malformed traffic at a Couler ROUTER.
 *
 * Usage: zmq_garbage ENDPOINT [IDENTITY]
 * Sends, over one DEALER: random bytes, an empty frame, a message of many
 * frames, an envelope of an unknown version, one of an unknown type, one
 * whose payload does not decode, a truncated envelope, and (last) a frame
 * above the coordinator's size limit. Prints how many it sent. The daemon
 * must count and drop them all and keep serving.
 */
#include "common/cl_envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

static int sent;

static void send_frame(void *s, const void *data, size_t len, int more)
{
    if (zmq_send(s, data, len, more ? ZMQ_SNDMORE : 0) >= 0 && !more)
        sent++;
}

static size_t env(uint32_t version, uint32_t type, const uint8_t *payload,
                  size_t plen, uint8_t *out)
{
    Couler__Envelope e = COULER__ENVELOPE__INIT;
    e.version = version;
    e.type = (Couler__MsgType)type;
    e.request_id = 1;
    e.payload.data = (uint8_t *)payload;
    e.payload.len = plen;
    return couler__envelope__pack(&e, out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: zmq_garbage ENDPOINT [IDENTITY]\n");
        return 2;
    }
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    if (argc > 2)
        zmq_setsockopt(s, ZMQ_ROUTING_ID, argv[2], strlen(argv[2]));
    int linger = 2000;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
    if (zmq_connect(s, argv[1]) != 0) {
        fprintf(stderr, "connect: %s\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    uint8_t buf[4096];
    srand(42);
    for (int i = 0; i < 50; i++) {
        size_t n = (size_t)(rand() % 300) + 1;
        for (size_t k = 0; k < n; k++)
            buf[k] = (uint8_t)rand();
        send_frame(s, buf, n, 0);
    }
    send_frame(s, "", 0, 0);
    for (int k = 0; k < 6; k++)
        send_frame(s, "x", 1, k < 5);
    size_t n = env(99, COULER__MSG_TYPE__MSG_LIST, NULL, 0, buf);
    send_frame(s, buf, n, 0);
    n = env(CL_PROTOCOL_VERSION, 31337, NULL, 0, buf);
    send_frame(s, buf, n, 0);
    const uint8_t bad[] = {0x0a, 0x7f, 'a'};
    n = env(CL_PROTOCOL_VERSION, COULER__MSG_TYPE__MSG_SUBMIT, bad,
            sizeof(bad), buf);
    send_frame(s, buf, n, 0);
    n = env(CL_PROTOCOL_VERSION, COULER__MSG_TYPE__MSG_STEP_EXITED, bad,
            sizeof(bad), buf);
    send_frame(s, buf, n, 0);
    send_frame(s, buf, n / 2, 0);
    /* Agent messages from a connection that never registered. */
    Couler__StepExited ex = COULER__STEP_EXITED__INIT;
    ex.attempt_id = "no-such-attempt";
    uint8_t *frame;
    size_t flen;
    if (cl_env_pack(COULER__MSG_TYPE__MSG_STEP_EXITED, 7, &ex.base, &frame,
                    &flen) == 0) {
        send_frame(s, frame, flen, 0);
        free(frame);
    }
    size_t big = CL_MAX_FRAME + 8192;
    uint8_t *huge = calloc(1, big);
    if (huge) {
        send_frame(s, huge, big, 0);
        free(huge);
    }
    usleep(200 * 1000);
    zmq_close(s);
    zmq_ctx_term(ctx);
    printf("%d\n", sent);
    return 0;
}
