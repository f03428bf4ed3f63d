/* request.c - Kubernetes quantities, Argo resources.requests/limits, and
 * nodeSelector matching. Pure.
 *
 * Quantity grammar (k8s.io/apimachinery resource.Quantity):
 *   quantity ::= [+|-] number suffix
 *   number   ::= digits | digits "." [digits] | "." digits
 *   suffix   ::= binarySI (Ki Mi Gi Ti Pi Ei)
 *              | decimalSI (n u m "" k M G T P E)
 *              | ("e" | "E") [+|-] digits
 * Upper-case "K" is accepted as kilo as well. Values are exact: a mantissa
 * of up to 18 significant digits with decimal and binary exponents, turned
 * into whole units by rounding up, as Kubernetes does for cpu.
 */
#include "placement/place_int.h"

#include <inttypes.h>
#include <string.h>

struct qty {
    uint64_t mant;
    int32_t dexp;   /* times 10^dexp */
    uint32_t bexp;  /* times 2^bexp */
    bool dropped;   /* nonzero digits beyond the mantissa */
    bool neg;
};

/* qty_parse - returns NULL or a static reason. */
static const char *qty_parse(const char *s, struct qty *q)
{
    memset(q, 0, sizeof(*q));
    const char *p = s;
    if (*p == '+' || *p == '-') {
        q->neg = *p == '-';
        p++;
    }
    int digits = 0, sig = 0;
    bool frac = false;
    for (;; p++) {
        if (*p == '.' && !frac) {
            frac = true;
            continue;
        }
        if (*p < '0' || *p > '9')
            break;
        unsigned d = (unsigned)(*p - '0');
        digits++;
        if (q->mant == 0 && d == 0) {
            if (frac)
                q->dexp--;
            continue; /* leading zeros are not significant */
        }
        if (sig < 18) {
            q->mant = q->mant * 10 + d;
            sig++;
            if (frac)
                q->dexp--;
        } else {
            if (!frac)
                q->dexp++;
            if (d != 0)
                q->dropped = true;
        }
    }
    if (digits == 0)
        return "expected a number";
    int32_t e = 0;
    switch (*p) {
    case '\0':
        break;
    case 'n':
        e = -9;
        p++;
        break;
    case 'u':
        e = -6;
        p++;
        break;
    case 'm':
        e = -3;
        p++;
        break;
    case 'k':
    case 'K':
        e = 3;
        p++;
        break;
    case 'M':
        e = 6;
        p++;
        break;
    case 'G':
        e = 9;
        p++;
        break;
    case 'T':
        e = 12;
        p++;
        break;
    case 'P':
        e = 15;
        p++;
        break;
    case 'E':
    case 'e': {
        const char *x = p + 1;
        if (*x == '+' || *x == '-')
            x++;
        if (*x >= '0' && *x <= '9') {
            bool eneg = p[1] == '-';
            int32_t v = 0;
            for (; *x >= '0' && *x <= '9'; x++) {
                v = v * 10 + (*x - '0');
                if (v > 1000)
                    return "exponent out of range";
            }
            e = eneg ? -v : v;
            p = x;
        } else if (*p == 'E') {
            e = 18;
            p++;
        } else {
            return "bad exponent";
        }
        break;
    }
    default:
        break;
    }
    if (*p == 'i' && e > 0 && e % 3 == 0 && p[-1] != 'k' && p[-1] != 'e' &&
        !(p[-1] >= '0' && p[-1] <= '9')) {
        /* Ki Mi Gi Ti Pi Ei: binary. */
        q->bexp = (uint32_t)(e / 3) * 10;
        e = 0;
        p++;
    }
    if (*p != '\0')
        return "unknown suffix";
    q->dexp += e;
    return NULL;
}

/* qty_units - value * 10^extra, rounded up, into *out (<= max). */
static int qty_units(const struct qty *q, int32_t extra, uint64_t max,
                     uint64_t *out, bool *exact)
{
    uint64_t v = q->mant;
    bool inexact = q->dropped;
    if (v != 0) {
        for (uint32_t i = 0; i < q->bexp; i++) {
            if (v > UINT64_MAX / 2)
                return CL_ERANGE;
            v *= 2;
        }
    }
    int32_t e = q->dexp + extra;
    if (v != 0 && e > 0) {
        for (int32_t i = 0; i < e; i++) {
            if (v > UINT64_MAX / 10)
                return CL_ERANGE;
            v *= 10;
        }
    } else if (e < 0) {
        for (int32_t i = 0; i < -e && (v != 0); i++) {
            if (v % 10 != 0)
                inexact = true;
            v /= 10;
        }
    }
    if (inexact) {
        if (v == UINT64_MAX)
            return CL_ERANGE;
        v++;
    }
    if (v > max)
        return CL_ERANGE;
    *out = v;
    if (exact)
        *exact = !inexact;
    return 0;
}

static int parse_units(const char *s, int32_t extra, uint64_t max,
                       bool whole, uint64_t *out, cl_errmsg *err)
{
    struct qty q;
    if (s == NULL) {
        cl_errmsg_set(err, "no value");
        return CL_EINVAL;
    }
    const char *why = qty_parse(s, &q);
    if (why != NULL) {
        cl_errmsg_set(err, "'%s': not a quantity (%s)", s, why);
        return CL_EINVAL;
    }
    if (q.neg && (q.mant != 0 || q.dropped)) {
        cl_errmsg_set(err, "'%s': must not be negative", s);
        return CL_EINVAL;
    }
    bool exact = true;
    int rv = qty_units(&q, extra, max, out, &exact);
    if (rv != 0) {
        cl_errmsg_set(err, "'%s': out of range", s);
        return CL_ERANGE;
    }
    if (whole && !exact) {
        cl_errmsg_set(err, "'%s': must be a whole number", s);
        return CL_EINVAL;
    }
    return 0;
}

int place_parse_cpu(const char *s, uint32_t *milli, cl_errmsg *err)
{
    uint64_t v;
    int rv = parse_units(s, 3, UINT32_MAX, false, &v, err);
    if (rv == 0)
        *milli = (uint32_t)v;
    return rv;
}

int place_parse_memory(const char *s, uint64_t *bytes, cl_errmsg *err)
{
    return parse_units(s, 0, UINT64_MAX, false, bytes, err);
}

int place_parse_count(const char *s, uint32_t *count, cl_errmsg *err)
{
    uint64_t v;
    int rv = parse_units(s, 0, UINT32_MAX, true, &v, err);
    if (rv == 0)
        *count = (uint32_t)v;
    return rv;
}

void place_request_init(place_request *r)
{
    memset(r, 0, sizeof(*r));
}

enum { R_CPU, R_MEM, R_NVIDIA, R_AMD, R_N };

struct rparse {
    bool have[2][R_N];
    uint64_t val[2][R_N];
};

static int parse_list(struct rparse *rp, int which, const place_kv *kv,
                      size_t n, cl_errmsg *err)
{
    const char *list = which == 0 ? "requests" : "limits";
    for (size_t i = 0; i < n; i++) {
        const char *name = kv[i].name;
        const char *value = kv[i].value;
        int rv = 0;
        int slot = -1;
        if (name == NULL || name[0] == '\0') {
            cl_errmsg_set(err, "resources.%s: entry %zu has no name", list, i);
            return CL_EINVAL;
        }
        if (value == NULL) {
            cl_errmsg_set(err, "resources.%s.%s: no value", list, name);
            return CL_EINVAL;
        }
        if (strcmp(name, "cpu") == 0) {
            uint32_t v = 0;
            slot = R_CPU;
            rv = place_parse_cpu(value, &v, err);
            rp->val[which][slot] = v;
        } else if (strcmp(name, "memory") == 0) {
            slot = R_MEM;
            rv = place_parse_memory(value, &rp->val[which][slot], err);
        } else if (strcmp(name, "nvidia.com/gpu") == 0 ||
                   strcmp(name, "amd.com/gpu") == 0) {
            uint32_t v = 0;
            slot = name[0] == 'n' ? R_NVIDIA : R_AMD;
            rv = place_parse_count(value, &v, err);
            rp->val[which][slot] = v;
        } else if (strcmp(name, "ephemeral-storage") == 0 ||
                   strncmp(name, "hugepages-", 10) == 0) {
            uint64_t ignored;
            rv = place_parse_memory(value, &ignored, err);
        } else {
            cl_errmsg_set(err, "resources.%s.%s: unsupported resource "
                               "(cpu, memory, nvidia.com/gpu, amd.com/gpu)",
                          list, name);
            return CL_EINVAL;
        }
        if (rv != 0) {
            cl_errmsg_wrap(err, "resources.%s.%s", list, name);
            return rv;
        }
        if (slot >= 0) {
            if (rp->have[which][slot]) {
                cl_errmsg_set(err, "resources.%s.%s: given twice", list, name);
                return CL_EINVAL;
            }
            rp->have[which][slot] = true;
        }
    }
    return 0;
}

int place_request_parse(place_request *r, const place_kv *requests,
                        size_t nrequests, const place_kv *limits,
                        size_t nlimits, cl_errmsg *err)
{
    struct rparse rp;
    memset(&rp, 0, sizeof(rp));
    int rv = parse_list(&rp, 0, requests, requests ? nrequests : 0, err);
    if (rv == 0)
        rv = parse_list(&rp, 1, limits, limits ? nlimits : 0, err);
    if (rv != 0)
        return rv;
    static const char *names[R_N] = {"cpu", "memory", "nvidia.com/gpu",
                                     "amd.com/gpu"};
    uint64_t req[R_N];
    for (int i = 0; i < R_N; i++) {
        req[i] = rp.have[0][i] ? rp.val[0][i] : rp.val[1][i];
        if (!rp.have[0][i] || !rp.have[1][i])
            continue;
        if (i >= R_NVIDIA && rp.val[0][i] != rp.val[1][i]) {
            cl_errmsg_set(err, "resources.requests.%s: %" PRIu64
                               " must equal the limit %" PRIu64
                               " (extended resources cannot be "
                               "overcommitted)",
                          names[i], rp.val[0][i], rp.val[1][i]);
            return CL_EINVAL;
        }
        if (rp.val[0][i] > rp.val[1][i]) {
            cl_errmsg_set(err, "resources.requests.%s: more than its limit",
                          names[i]);
            return CL_EINVAL;
        }
    }
    if (req[R_NVIDIA] > 0 && req[R_AMD] > 0) {
        cl_errmsg_set(err, "resources: asks for both nvidia.com/gpu and "
                           "amd.com/gpu");
        return CL_EINVAL;
    }
    r->cpu_milli = (uint32_t)req[R_CPU];
    r->cpu_limit_milli = rp.have[1][R_CPU] ? (uint32_t)rp.val[1][R_CPU] : 0;
    r->cpu_default = r->cpu_milli == 0;
    r->memory = req[R_MEM];
    r->memory_limit = rp.have[1][R_MEM] ? rp.val[1][R_MEM] : 0;
    r->gpus = 0;
    r->gpu_vendor = PLACE_VENDOR_NONE;
    if (req[R_NVIDIA] > 0) {
        r->gpus = (uint32_t)req[R_NVIDIA];
        r->gpu_vendor = PLACE_VENDOR_NVIDIA;
    } else if (req[R_AMD] > 0) {
        r->gpus = (uint32_t)req[R_AMD];
        r->gpu_vendor = PLACE_VENDOR_AMD;
    }
    return 0;
}

bool place_selector_match(const place_kv *selector, size_t nselector,
                          const place_kv *labels, size_t nlabels)
{
    for (size_t i = 0; i < nselector; i++) {
        bool found = false;
        for (size_t j = 0; j < nlabels && !found; j++)
            found = selector[i].name && labels[j].name &&
                    strcmp(selector[i].name, labels[j].name) == 0 &&
                    strcmp(selector[i].value ? selector[i].value : "",
                           labels[j].value ? labels[j].value : "") == 0;
        if (!found)
            return false;
    }
    return true;
}
