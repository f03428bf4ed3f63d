/* cpus.c - CPU list sets: the kernel's "0-3,8" format. */
#include "agent/sandbox/sandbox.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define WORDS (AGENT_SB_MAX_CPUS / 64)

void agent_sb_cpus_zero(struct agent_sb_cpus *s)
{
    memset(s, 0, sizeof(*s));
}

void agent_sb_cpus_set(struct agent_sb_cpus *s, unsigned cpu)
{
    if (cpu >= AGENT_SB_MAX_CPUS)
        return;
    s->bits[cpu / 64] |= UINT64_C(1) << (cpu % 64);
}

bool agent_sb_cpus_isset(const struct agent_sb_cpus *s, unsigned cpu)
{
    if (cpu >= AGENT_SB_MAX_CPUS)
        return false;
    return (s->bits[cpu / 64] >> (cpu % 64)) & 1u;
}

unsigned agent_sb_cpus_count(const struct agent_sb_cpus *s)
{
    unsigned n = 0;
    for (size_t i = 0; i < WORDS; i++)
        n += (unsigned)__builtin_popcountll(s->bits[i]);
    return n;
}

bool agent_sb_cpus_empty(const struct agent_sb_cpus *s)
{
    for (size_t i = 0; i < WORDS; i++)
        if (s->bits[i] != 0)
            return false;
    return true;
}

void agent_sb_cpus_and(struct agent_sb_cpus *out, const struct agent_sb_cpus *a,
                       const struct agent_sb_cpus *b)
{
    for (size_t i = 0; i < WORDS; i++)
        out->bits[i] = a->bits[i] & b->bits[i];
}

void agent_sb_cpus_andnot(struct agent_sb_cpus *out,
                          const struct agent_sb_cpus *a,
                          const struct agent_sb_cpus *b)
{
    for (size_t i = 0; i < WORDS; i++)
        out->bits[i] = a->bits[i] & ~b->bits[i];
}

/* parse_num - a decimal CPU number at *p; advances *p. */
static int parse_num(const char **p, unsigned *out)
{
    const char *s = *p;
    if (!isdigit((unsigned char)*s))
        return CL_EINVAL;
    unsigned long v = 0;
    while (isdigit((unsigned char)*s)) {
        v = v * 10 + (unsigned long)(*s - '0');
        if (v >= AGENT_SB_MAX_CPUS) {
            /* Keep scanning the digits so the error is about range, not
             * syntax, whatever the length of the number. */
            while (isdigit((unsigned char)*s))
                s++;
            *p = s;
            return CL_ERANGE;
        }
        s++;
    }
    *p = s;
    *out = (unsigned)v;
    return 0;
}

int agent_sb_cpus_parse(const char *text, struct agent_sb_cpus *out)
{
    if (text == NULL)
        return CL_EINVAL;
    struct agent_sb_cpus set;
    agent_sb_cpus_zero(&set);
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    const char *end = p + strlen(p);
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    if (p == end) {
        *out = set;
        return 0;
    }
    for (;;) {
        unsigned lo, hi;
        int rv = parse_num(&p, &lo);
        if (rv != 0)
            return rv;
        hi = lo;
        if (*p == '-') {
            p++;
            rv = parse_num(&p, &hi);
            if (rv != 0)
                return rv;
            if (hi < lo)
                return CL_EINVAL;
        }
        for (unsigned c = lo; c <= hi; c++)
            agent_sb_cpus_set(&set, c);
        if (p == end)
            break;
        if (*p != ',')
            return CL_EINVAL;
        p++;
    }
    *out = set;
    return 0;
}

int agent_sb_cpus_format(const struct agent_sb_cpus *s, char *buf, size_t len)
{
    if (len == 0)
        return CL_ETOOBIG;
    size_t used = 0;
    buf[0] = '\0';
    unsigned c = 0;
    while (c < AGENT_SB_MAX_CPUS) {
        if (!agent_sb_cpus_isset(s, c)) {
            c++;
            continue;
        }
        unsigned lo = c;
        while (c + 1 < AGENT_SB_MAX_CPUS && agent_sb_cpus_isset(s, c + 1))
            c++;
        char item[32];
        int n;
        if (c == lo)
            n = snprintf(item, sizeof(item), "%s%u", used ? "," : "", lo);
        else
            n = snprintf(item, sizeof(item), "%s%u-%u", used ? "," : "", lo, c);
        if (used + (size_t)n + 1 > len) {
            /* Keep a NUL-terminated prefix, as documented. */
            size_t room = len - 1 - used;
            memcpy(buf + used, item, room);
            buf[len - 1] = '\0';
            return CL_ETOOBIG;
        }
        memcpy(buf + used, item, (size_t)n + 1);
        used += (size_t)n;
        c++;
    }
    return 0;
}
