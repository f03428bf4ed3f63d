/* cl_time.h - clocks and time formatting.
 *
 * Pure cores never call these: they are handed `now` by their shell. Times
 * are int64 milliseconds; monotonic time has an arbitrary origin, wall time
 * counts from the Unix epoch.
 */
#ifndef COULER_CL_TIME_H
#define COULER_CL_TIME_H

#include <stddef.h>
#include <stdint.h>

int64_t cl_now_ms(void);  /* CLOCK_MONOTONIC */
int64_t cl_now_us(void);  /* CLOCK_MONOTONIC, microseconds */
int64_t cl_now_ns(void);  /* CLOCK_MONOTONIC, nanoseconds */
int64_t cl_wall_ms(void); /* CLOCK_REALTIME */

/* cl_time_format - RFC 3339 UTC with milliseconds into buf
 * ("2026-11-27T10:00:00.123Z"); needs 25 bytes. Returns buf. */
char *cl_time_format(int64_t wall_ms, char *buf, size_t len);

/* cl_time_format_s - RFC 3339 UTC to the second ("2026-11-27T10:00:00Z"),
 * the form Argo uses in status timestamps; needs 21 bytes. */
char *cl_time_format_s(int64_t wall_ms, char *buf, size_t len);

/* cl_time_parse - inverse of either format above. 0 or CL_EINVAL. */
int cl_time_parse(const char *s, int64_t *wall_ms);

/* cl_duration_parse - a Go-style duration ("1h30m", "10s", "250ms", "2m")
 * or a bare number of seconds ("30", "1.5") into milliseconds. Returns 0 or
 * CL_EINVAL. */
int cl_duration_parse(const char *s, int64_t *ms);

/* cl_duration_format - human duration as `argo get` prints it ("1m 5s",
 * "12s", "2h 3m", "0s"). Returns buf. */
char *cl_duration_format(int64_t ms, char *buf, size_t len);

#endif
