#include "common/cl_buf.h"

#include "common/cl_err.h"
#include "common/cl_heap.h"

#include <stdio.h>
#include <string.h>

void cl_buf_init(cl_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->oom = false;
}

void cl_buf_free(cl_buf *b)
{
    cl_free(b->data);
    cl_buf_init(b);
}

void cl_buf_reset(cl_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

bool cl_buf_ok(const cl_buf *b)
{
    return !b->oom;
}

int cl_buf_reserve(cl_buf *b, size_t extra)
{
    if (b->oom)
        return CL_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = cl_realloc(b->data, cap);
    if (p == NULL) {
        b->oom = true;
        return CL_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void cl_buf_append(cl_buf *b, const void *data, size_t len)
{
    if (cl_buf_reserve(b, len) != 0)
        return;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void cl_buf_puts(cl_buf *b, const char *s)
{
    cl_buf_append(b, s, strlen(s));
}

void cl_buf_putc(cl_buf *b, char c)
{
    cl_buf_append(b, &c, 1);
}

void cl_buf_vprintf(cl_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || cl_buf_reserve(b, (size_t)n) != 0)
        return;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void cl_buf_printf(cl_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cl_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

char *cl_buf_steal(cl_buf *b, size_t *len)
{
    if (b->oom) {
        cl_buf_free(b);
        return NULL;
    }
    if (b->data == NULL && cl_buf_reserve(b, 0) != 0)
        return NULL;
    if (b->len == 0)
        b->data[0] = '\0';
    char *p = b->data;
    if (len)
        *len = b->len;
    cl_buf_init(b);
    return p;
}
