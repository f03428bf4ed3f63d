#include "common/cl_log.h"

#include "common/cl_time.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int log_level = -1;
static char log_tag[32] = "couler";

int cl_log_parse_level(const char *s)
{
    if (s == NULL)
        return -1;
    if (strcasecmp(s, "debug") == 0)
        return CL_LOG_DEBUG;
    if (strcasecmp(s, "info") == 0)
        return CL_LOG_INFO;
    if (strcasecmp(s, "warn") == 0 || strcasecmp(s, "warning") == 0)
        return CL_LOG_WARN;
    if (strcasecmp(s, "error") == 0)
        return CL_LOG_ERROR;
    if (strcasecmp(s, "off") == 0 || strcasecmp(s, "none") == 0)
        return CL_LOG_OFF;
    return -1;
}

enum cl_log_level cl_log_get_level(void)
{
    if (log_level < 0) {
        int l = cl_log_parse_level(getenv("COULER_LOG"));
        log_level = l < 0 ? CL_LOG_INFO : l;
    }
    return (enum cl_log_level)log_level;
}

void cl_log_set_level(enum cl_log_level level)
{
    log_level = (int)level;
}

void cl_log_set_tag(const char *tag)
{
    snprintf(log_tag, sizeof(log_tag), "%s", tag ? tag : "couler");
}

void cl_log(enum cl_log_level level, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    if (level < cl_log_get_level() || level >= CL_LOG_OFF)
        return;
    char ts[40];
    cl_time_format(cl_wall_ms(), ts, sizeof(ts));
    char line[2048];
    int n = snprintf(line, sizeof(line), "%s %s %s: ", ts, names[level],
                     log_tag);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line))
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}
