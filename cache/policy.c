/* policy.c - eviction score and owner selection (pure). */
#include "cache/cache_int.h"

#include <math.h>
#include <string.h>

void cache_score_params_init(cache_score_params *p)
{
    p->alpha = 1.5;
    p->beta = 1.0;
    p->size_scale = 64.0 * 1024 * 1024;
    p->half_life_ms = 7.0 * 24 * 3600 * 1000;
}

static double nonneg(double v)
{
    return v > 0 && isfinite(v) ? v : 0;
}

/* The Couler paper (ICDE 2024) scores a cached output u by
 * I(u) = alpha*log(1 + L(u)) + beta*F(u)^2 - e^(-V(u)); see cache.h for
 * how L, F and V are estimated from what a node's store records. */
void cache_score(const cache_score_params *p, const cache_score_input *in,
                 cache_score_terms *out)
{
    double L =
        (nonneg((double)in->compute_ms) + nonneg((double)in->upstream_ms)) /
        1000.0;
    double decay = 1.0;
    if (p->half_life_ms > 0 && in->idle_ms > 0)
        decay = exp2(-(double)in->idle_ms / p->half_life_ms);
    double uses = (double)in->hits + nonneg(in->downstream_weight);
    double F = log1p(uses * decay);
    double scale = p->size_scale > 0 ? p->size_scale : 1.0;
    double V = (double)in->size / scale;

    out->L = L;
    out->F = F;
    out->V = V;
    out->decay = decay;
    out->cost = p->alpha * log1p(L);
    out->reuse = p->beta * F * F;
    out->size = -exp(-V);
    out->score = out->cost + out->reuse + out->size;
}

/* weight - the rendezvous weight of a member for a key: cl_hash64 over the
 * key followed by the member id's own 64-bit hash (fixed-size input, so no
 * two (key, member) pairs share an encoding). */
static uint64_t weight(const cache_key *key, uint64_t member_hash)
{
    uint8_t buf[CL_DIGEST_SIZE + 8];
    memcpy(buf, key->b, CL_DIGEST_SIZE);
    cache__put_u64(buf + CL_DIGEST_SIZE, member_hash);
    return cl_hash64(buf, sizeof(buf));
}

/* heavier - true when member a beats member b for this key. */
static bool heavier(uint64_t wa, const char *a, uint64_t wb, const char *b)
{
    if (wa != wb)
        return wa > wb;
    return strcmp(a, b) < 0;
}

size_t cache_owners(const cache_key *key, const char *const *members, size_t n,
                    size_t r, size_t *out)
{
    size_t k = 0;
    if (r == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t w = weight(key, cl_hash64_str(members[i]));
        /* Insertion into the sorted top-r list out[0..k). */
        size_t pos = k;
        while (pos > 0) {
            size_t j = out[pos - 1];
            uint64_t wj = weight(key, cl_hash64_str(members[j]));
            if (!heavier(w, members[i], wj, members[j]))
                break;
            pos--;
        }
        if (pos >= r)
            continue;
        size_t last = k < r ? k : r - 1;
        for (size_t m = last; m > pos; m--)
            out[m] = out[m - 1];
        out[pos] = i;
        if (k < r)
            k++;
    }
    return k;
}
