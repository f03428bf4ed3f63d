/* The envelope: round trips and every refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/cl_envelope.h"
#include "common/cl_heap.h"

#include <string.h>

static void test_roundtrip(void **state)
{
    (void)state;
    Couler__SubmitRequest req = COULER__SUBMIT_REQUEST__INIT;
    req.yaml = "kind: Workflow\n";
    req.filename = "x.yaml";
    req.dry_run = 1;
    uint8_t *buf;
    size_t len;
    assert_int_equal(cl_env_pack(COULER__MSG_TYPE__MSG_SUBMIT, 77,
                                 &req.base, &buf, &len),
                     0);
    Couler__MsgType type;
    uint64_t rid;
    ProtobufCMessage *m;
    cl_errmsg err = {{0}};
    assert_int_equal(cl_env_unpack(buf, len, &type, &rid, &m, &err), 0);
    assert_int_equal(type, COULER__MSG_TYPE__MSG_SUBMIT);
    assert_int_equal(rid, 77);
    Couler__SubmitRequest *back = (Couler__SubmitRequest *)m;
    assert_string_equal(back->yaml, "kind: Workflow\n");
    assert_string_equal(back->filename, "x.yaml");
    assert_true(back->dry_run);
    cl_env_free(m);
    cl_free(buf);
}

static void test_pack_refuses_mismatch(void **state)
{
    (void)state;
    Couler__GetRequest get = COULER__GET_REQUEST__INIT;
    uint8_t *buf;
    size_t len;
    /* A GetRequest is not a SubmitRequest. */
    assert_int_equal(cl_env_pack(COULER__MSG_TYPE__MSG_SUBMIT, 1, &get.base,
                                 &buf, &len),
                     CL_EINVAL);
    assert_int_equal(
        cl_env_pack((Couler__MsgType)999, 1, &get.base, &buf, &len),
        CL_EINVAL);
}

static int unpack_raw(const uint8_t *d, size_t n, cl_errmsg *err)
{
    Couler__MsgType type;
    uint64_t rid;
    ProtobufCMessage *m = NULL;
    int rv = cl_env_unpack(d, n, &type, &rid, &m, err);
    if (rv == 0)
        cl_env_free(m);
    else
        assert_null(m);
    return rv;
}

static int pack_env(uint32_t version, uint32_t type, const uint8_t *payload,
                    size_t plen, uint8_t *out)
{
    Couler__Envelope env = COULER__ENVELOPE__INIT;
    env.version = version;
    env.type = (Couler__MsgType)type;
    env.payload.data = (uint8_t *)payload;
    env.payload.len = plen;
    return (int)couler__envelope__pack(&env, out);
}

static void test_refusals(void **state)
{
    (void)state;
    cl_errmsg err = {{0}};
    uint8_t garbage[64];
    memset(garbage, 0xff, sizeof(garbage));
    assert_int_equal(unpack_raw(garbage, sizeof(garbage), &err), CL_EPROTO);
    assert_non_null(strstr(err.msg, "not an envelope"));
    assert_int_equal(unpack_raw(garbage, 0, &err), CL_EPROTO);
    assert_int_equal(unpack_raw(garbage, CL_MAX_FRAME + 1, &err),
                     CL_ETOOBIG);

    uint8_t buf[256];
    int n = pack_env(2, COULER__MSG_TYPE__MSG_GET, NULL, 0, buf);
    assert_int_equal(unpack_raw(buf, (size_t)n, &err), CL_EVERSION);
    assert_non_null(strstr(err.msg, "version 2"));

    n = pack_env(CL_PROTOCOL_VERSION, 4242, NULL, 0, buf);
    assert_int_equal(unpack_raw(buf, (size_t)n, &err), CL_EPROTO);
    assert_non_null(strstr(err.msg, "unknown message type 4242"));

    /* A payload that is not a GetRequest: field 1 declared as a string of
     * length 100 with 2 bytes present. */
    const uint8_t bad[] = {0x0a, 100, 'a', 'b'};
    n = pack_env(CL_PROTOCOL_VERSION, COULER__MSG_TYPE__MSG_GET, bad,
                 sizeof(bad), buf);
    assert_int_equal(unpack_raw(buf, (size_t)n, &err), CL_EPROTO);
    assert_non_null(strstr(err.msg, "does not decode"));

    /* Every truncation of a valid frame is refused or decodes; none crash. */
    Couler__StepLog log = COULER__STEP_LOG__INIT;
    log.attempt_id = "wf.n.0";
    log.offset = 123456;
    uint8_t data[300];
    memset(data, 'x', sizeof(data));
    log.data.data = data;
    log.data.len = sizeof(data);
    uint8_t *frame;
    size_t flen;
    assert_int_equal(cl_env_pack(COULER__MSG_TYPE__MSG_STEP_LOG, 9,
                                 &log.base, &frame, &flen),
                     0);
    /* Only the two prefixes that end before the payload field (after the
     * type, after the request id) are valid empty messages; every other cut
     * lands inside a field and is refused. */
    int refused = 0;
    for (size_t cut = 0; cut < flen; cut++)
        refused += unpack_raw(frame, cut, &err) != 0;
    assert_int_equal(refused, (int)flen - 2);
    assert_int_equal(unpack_raw(frame, flen, &err), 0);
    cl_free(frame);
}

static void test_oom(void **state)
{
    (void)state;
    Couler__StepExited ex = COULER__STEP_EXITED__INIT;
    ex.attempt_id = "a";
    ex.message = "Error (exit code 1)";
    uint8_t *frame;
    size_t flen;
    assert_int_equal(cl_env_pack(COULER__MSG_TYPE__MSG_STEP_EXITED, 1,
                                 &ex.base, &frame, &flen),
                     0);
    cl_errmsg err;
    for (int delay = 0; delay < 6; delay++) {
        cl_heap_fault_enable(delay, 1);
        int rv = unpack_raw(frame, flen, &err);
        cl_heap_fault_disable();
        /* protobuf-c reports OOM as a decode failure; either way it is a
         * clean refusal and nothing leaks (ASan checks). */
        assert_true(rv == 0 || rv == CL_EPROTO);
    }
    cl_heap_fault_enable(0, 1);
    uint8_t *out;
    size_t olen;
    assert_int_equal(cl_env_pack(COULER__MSG_TYPE__MSG_STEP_EXITED, 1,
                                 &ex.base, &out, &olen),
                     CL_ENOMEM);
    cl_heap_fault_disable();
    cl_free(frame);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_pack_refuses_mismatch),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
