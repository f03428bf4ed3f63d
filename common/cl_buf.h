/* cl_buf.h - a growable byte buffer and string builder.
 *
 * The buffer owns `data` (cl_malloc'd); it is always NUL-terminated after
 * `len` bytes so text can be used directly. An allocation failure sets the
 * sticky `oom` flag and later appends are ignored: build a whole message,
 * then check cl_buf_ok() once.
 */
#ifndef COULER_CL_BUF_H
#define COULER_CL_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct cl_buf {
    char *data; /* owned; NULL until the first append */
    size_t len;
    size_t cap;
    bool oom;
} cl_buf;

#define CL_BUF_INIT {NULL, 0, 0, false}

void cl_buf_init(cl_buf *b);
void cl_buf_free(cl_buf *b);  /* releases data; b is reusable after init */
void cl_buf_reset(cl_buf *b); /* len = 0, keeps the allocation */
bool cl_buf_ok(const cl_buf *b);
int cl_buf_reserve(cl_buf *b, size_t extra); /* 0 or CL_ENOMEM */
void cl_buf_append(cl_buf *b, const void *data, size_t len);
void cl_buf_puts(cl_buf *b, const char *s);
void cl_buf_putc(cl_buf *b, char c);
void cl_buf_printf(cl_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cl_buf_vprintf(cl_buf *b, const char *fmt, va_list ap);
/* cl_buf_steal - hand the data to the caller (cl_free it); b is emptied.
 * Returns "" (allocated) for an empty buffer, NULL on oom. */
char *cl_buf_steal(cl_buf *b, size_t *len);

#endif
