#include "common/cl_time.h"

#include "common/cl_err.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t cl_now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

int64_t cl_now_us(void)
{
    return clock_ns(CLOCK_MONOTONIC) / 1000;
}

int64_t cl_now_ms(void)
{
    return clock_ns(CLOCK_MONOTONIC) / 1000000;
}

int64_t cl_wall_ms(void)
{
    return clock_ns(CLOCK_REALTIME) / 1000000;
}

static void split(int64_t wall_ms, struct tm *tm, int *millis)
{
    int64_t s = wall_ms / 1000;
    int64_t r = wall_ms % 1000;
    if (r < 0) {
        r += 1000;
        s -= 1;
    }
    time_t t = (time_t)s;
    gmtime_r(&t, tm);
    *millis = (int)r;
}

char *cl_time_format(int64_t wall_ms, char *buf, size_t len)
{
    struct tm tm;
    int ms;
    split(wall_ms, &tm, &ms);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ms);
    return buf;
}

char *cl_time_format_s(int64_t wall_ms, char *buf, size_t len)
{
    struct tm tm;
    int ms;
    split(wall_ms, &tm, &ms);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

int cl_time_parse(const char *s, int64_t *wall_ms)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (s == NULL ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
               &n) != 6)
        return CL_EINVAL;
    const char *p = s + n;
    int ms = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (isdigit((unsigned char)*p)) {
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
            digits++;
            p++;
        }
        while (digits > 0 && digits < 3) {
            ms *= 10;
            digits++;
        }
    }
    if (*p != 'Z' || p[1] != '\0')
        return CL_EINVAL;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *wall_ms = (int64_t)t * 1000 + ms;
    return 0;
}

int cl_duration_parse(const char *s, int64_t *ms)
{
    if (s == NULL || *s == '\0')
        return CL_EINVAL;
    char *end;
    /* A bare number is seconds (Argo accepts "30" for 30s). */
    double bare = strtod(s, &end);
    if (*end == '\0' && end != s) {
        if (bare < 0)
            return CL_EINVAL;
        *ms = (int64_t)(bare * 1000.0 + 0.5);
        return 0;
    }
    double total = 0;
    const char *p = s;
    while (*p) {
        double v = strtod(p, &end);
        if (end == p || v < 0)
            return CL_EINVAL;
        p = end;
        double unit;
        if (strncmp(p, "ms", 2) == 0) {
            unit = 1;
            p += 2;
        } else if (strncmp(p, "us", 2) == 0) {
            unit = 0.001;
            p += 2;
        } else if (strncmp(p, "ns", 2) == 0) {
            unit = 0.000001;
            p += 2;
        } else if (*p == 'h') {
            unit = 3600000;
            p++;
        } else if (*p == 'm') {
            unit = 60000;
            p++;
        } else if (*p == 's') {
            unit = 1000;
            p++;
        } else if (*p == 'd') {
            unit = 86400000;
            p++;
        } else {
            return CL_EINVAL;
        }
        total += v * unit;
    }
    *ms = (int64_t)(total + 0.5);
    return 0;
}

char *cl_duration_format(int64_t ms, char *buf, size_t len)
{
    if (ms < 0)
        ms = 0;
    int64_t s = ms / 1000;
    int64_t h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
    if (h > 0)
        snprintf(buf, len, "%lldh %lldm", (long long)h, (long long)m);
    else if (m > 0)
        snprintf(buf, len, "%lldm %llds", (long long)m, (long long)sec);
    else
        snprintf(buf, len, "%llds", (long long)sec);
    return buf;
}
