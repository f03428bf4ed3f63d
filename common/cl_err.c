#include "common/cl_err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

const char *cl_strerror(int err)
{
    switch (err) {
    case CL_OK:
        return "success";
#define CL__ERR_STR(name, value, desc)                                         \
    case name:                                                                 \
        return desc;
        CL_ERRNO_MAP(CL__ERR_STR)
#undef CL__ERR_STR
    default:
        return "unknown error";
    }
}

const char *cl_errname(int err)
{
    switch (err) {
    case CL_OK:
        return "CL_OK";
#define CL__ERR_NAME(name, value, desc)                                        \
    case name:                                                                 \
        return #name;
        CL_ERRNO_MAP(CL__ERR_NAME)
#undef CL__ERR_NAME
    default:
        return "CL_EUNKNOWN";
    }
}

int cl_err_from_errno(int e)
{
    switch (e) {
    case 0:
        return CL_OK;
    case ENOMEM:
        return CL_ENOMEM;
    case EINVAL:
        return CL_EINVAL;
    case ENOENT:
    case ESRCH:
        return CL_ENOENT;
    case EEXIST:
        return CL_EEXIST;
    case ENOSPC:
    case EDQUOT:
        return CL_ENOSPC;
    case EAGAIN:
        return CL_EAGAIN;
    case ETIMEDOUT:
        return CL_ETIMEDOUT;
    case EPERM:
    case EACCES:
    case EROFS:
        return CL_EPERM;
    case EBUSY:
        return CL_EBUSY;
    case ECANCELED:
        return CL_ECANCELED;
    case E2BIG:
    case EMSGSIZE:
    case EFBIG:
        return CL_ETOOBIG;
    case ENOTSUP:
        return CL_ENOTSUP;
    case EPROTO:
        return CL_EPROTO;
    case EIO:
        return CL_EIO;
    case ERANGE:
        return CL_ERANGE;
    default:
        return CL_ESYS;
    }
}

int cl_err_from_uv(int uverr)
{
    if (uverr >= 0)
        return CL_OK;
    /* libuv codes are negated errno values on Unix. */
    switch (uverr) {
    case UV_EOF:
        return CL_ECLOSED;
    case UV_ECANCELED:
        return CL_ECANCELED;
    default:
        break;
    }
    int rv = cl_err_from_errno(-uverr);
    return rv == CL_ESYS ? CL_EUV : rv;
}

void cl_errmsg_vset(cl_errmsg *m, const char *fmt, va_list ap)
{
    if (m == NULL)
        return;
    vsnprintf(m->msg, sizeof(m->msg), fmt, ap);
}

void cl_errmsg_set(cl_errmsg *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cl_errmsg_vset(m, fmt, ap);
    va_end(ap);
}

void cl_errmsg_wrap(cl_errmsg *m, const char *fmt, ...)
{
    if (m == NULL)
        return;
    char prefix[CL_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    if (m->msg[0] == '\0') {
        snprintf(m->msg, sizeof(m->msg), "%s", prefix);
        return;
    }
    /* Shift the old text right and put "prefix: " in front, truncating the
     * tail when the whole no longer fits. */
    size_t pl = strlen(prefix), ol = strlen(m->msg);
    if (pl + 2 >= CL_ERRMSG_SIZE)
        pl = CL_ERRMSG_SIZE - 3;
    if (pl + 2 + ol >= CL_ERRMSG_SIZE)
        ol = CL_ERRMSG_SIZE - 1 - pl - 2;
    memmove(m->msg + pl + 2, m->msg, ol);
    memcpy(m->msg, prefix, pl);
    m->msg[pl] = ':';
    m->msg[pl + 1] = ' ';
    m->msg[pl + 2 + ol] = '\0';
}

void cl_errmsg_clear(cl_errmsg *m)
{
    if (m != NULL)
        m->msg[0] = '\0';
}
