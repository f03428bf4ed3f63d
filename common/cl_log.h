/* cl_log.h - logging to stderr.
 *
 * One line per event: "2026-11-27T10:00:00.123Z INFO  coord: message".
 * The level threshold comes from cl_log_set_level() or, at the first call,
 * from the COULER_LOG environment variable (debug|info|warn|error). The
 * component tag names the daemon or module ("coord", "agent", "swim").
 * Not thread-safe beyond what stdio gives; Couler daemons log from their
 * one loop thread.
 */
#ifndef COULER_CL_LOG_H
#define COULER_CL_LOG_H

enum cl_log_level {
    CL_LOG_DEBUG = 0,
    CL_LOG_INFO = 1,
    CL_LOG_WARN = 2,
    CL_LOG_ERROR = 3,
    CL_LOG_OFF = 4
};

void cl_log_set_level(enum cl_log_level level);
enum cl_log_level cl_log_get_level(void);
/* cl_log_set_tag - the component name printed on every line (copied). */
void cl_log_set_tag(const char *tag);
/* cl_log_parse_level - "debug"... -> level; returns -1 for unknown text. */
int cl_log_parse_level(const char *s);

void cl_log(enum cl_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define CL_DEBUG(...) cl_log(CL_LOG_DEBUG, __VA_ARGS__)
#define CL_INFO(...) cl_log(CL_LOG_INFO, __VA_ARGS__)
#define CL_WARN(...) cl_log(CL_LOG_WARN, __VA_ARGS__)
#define CL_ERROR(...) cl_log(CL_LOG_ERROR, __VA_ARGS__)

#endif
