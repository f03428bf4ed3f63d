/* cl_err.h - Couler's one error type.
 *
 * Every fallible function in Couler returns int: 0 on success, or a positive
 * CL_E* code from the table below. Foreign conventions (libuv negatives,
 * errno, zmq_errno(), RocksDB's char **errptr, a NULL from protobuf-c unpack,
 * hwloc's -1/errno) are converted once, in the wrapper around that library,
 * with the cl_err_from_* helpers, and never leak upward.
 *
 * Human context travels separately in a cl_errmsg: a fixed-size buffer that
 * each layer prefixes with what it was doing, so the final message reads
 * "submit: template 'train': line 12 col 5: expected a mapping".
 */
#ifndef COULER_CL_ERR_H
#define COULER_CL_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* X(name, value, description). Values are stable: they appear on the wire. */
#define CL_ERRNO_MAP(X)                                                        \
    X(CL_ENOMEM, 1, "out of memory")                                          \
    X(CL_EINVAL, 2, "invalid argument")                                       \
    X(CL_EIO, 3, "input/output error")                                        \
    X(CL_ENOENT, 4, "not found")                                              \
    X(CL_EEXIST, 5, "already exists")                                         \
    X(CL_EPROTO, 6, "malformed message")                                      \
    X(CL_EVERSION, 7, "unsupported protocol version")                         \
    X(CL_ETOOBIG, 8, "too large")                                             \
    X(CL_ETIMEDOUT, 9, "timed out")                                           \
    X(CL_ECLOSED, 10, "closed")                                               \
    X(CL_EAGAIN, 11, "try again")                                             \
    X(CL_ENOSPC, 12, "no space left on device")                               \
    X(CL_EPARSE, 13, "parse error")                                           \
    X(CL_EDB, 14, "database error")                                           \
    X(CL_EZMQ, 15, "messaging error")                                         \
    X(CL_EUV, 16, "event loop error")                                         \
    X(CL_ETOPO, 17, "topology error")                                         \
    X(CL_ECRYPTO, 18, "authentication failed")                                \
    X(CL_EBUSY, 19, "busy")                                                   \
    X(CL_ECANCELED, 20, "canceled")                                           \
    X(CL_ESYS, 21, "system error")                                            \
    X(CL_ENOTSUP, 22, "not supported")                                        \
    X(CL_ECORRUPT, 23, "data corrupted")                                      \
    X(CL_EPERM, 24, "permission denied")                                      \
    X(CL_ESTATE, 25, "invalid state for this operation")                      \
    X(CL_EEXPR, 26, "expression error")                                       \
    X(CL_ERANGE, 27, "out of range")                                          \
    X(CL_ENOFIT, 28, "no node can hold it")

enum cl_err {
    CL_OK = 0,
#define CL__ERR_ENUM(name, value, desc) name = value,
    CL_ERRNO_MAP(CL__ERR_ENUM)
#undef CL__ERR_ENUM
        CL_ERR_MAX_
};

/* cl_strerror - a human description of a CL_E* code ("unknown error" for
 * anything outside the table). The string is static. */
const char *cl_strerror(int err);

/* cl_errname - the symbolic name ("CL_ENOENT"); static string. */
const char *cl_errname(int err);

/* Conversions from foreign conventions. Each returns 0 only for success. */
int cl_err_from_errno(int e);  /* errno value, e.g. ENOSPC -> CL_ENOSPC */
int cl_err_from_uv(int uverr); /* libuv negative code -> CL_E* */

/* Fixed-size context message carried by long-lived objects and parsers. */
#define CL_ERRMSG_SIZE 512
typedef struct cl_errmsg {
    char msg[CL_ERRMSG_SIZE];
} cl_errmsg;

/* cl_errmsg_set - replace the message (printf format). NULL m is allowed and
 * ignored, so callers that do not care may pass NULL. Always NUL-terminates,
 * truncating if needed. */
void cl_errmsg_set(cl_errmsg *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cl_errmsg_vset(cl_errmsg *m, const char *fmt, va_list ap);

/* cl_errmsg_wrap - prefix the current message with "<formatted>: ". When the
 * message is empty the prefix alone is stored. NULL m is ignored. */
void cl_errmsg_wrap(cl_errmsg *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* cl_errmsg_clear - empty the message. */
void cl_errmsg_clear(cl_errmsg *m);

#endif
