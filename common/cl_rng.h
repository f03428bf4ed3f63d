/* cl_rng.h - a small seeded pseudo-random generator (xoshiro256**).
 *
 * Pure cores (SWIM, the simulator, placement tie-breaks) take a cl_rng from
 * their shell so that every run is reproducible from its seed. Not for
 * secrets: use libsodium's randombytes for keys and nonces.
 */
#ifndef COULER_CL_RNG_H
#define COULER_CL_RNG_H

#include <stdint.h>

typedef struct cl_rng {
    uint64_t s[4];
} cl_rng;

void cl_rng_seed(cl_rng *r, uint64_t seed);
uint64_t cl_rng_next(cl_rng *r);
/* cl_rng_below - uniform in [0, n); n == 0 returns 0. Unbiased. */
uint64_t cl_rng_below(cl_rng *r, uint64_t n);
/* cl_rng_double - uniform in [0, 1). */
double cl_rng_double(cl_rng *r);

#endif
