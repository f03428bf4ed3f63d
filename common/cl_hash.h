/* cl_hash.h - hashing helpers over libsodium.
 *
 * cl_digest is BLAKE2b-256 (crypto_generichash), used for cache keys and
 * content-addressed artifacts. cl_hash64 is a fast non-cryptographic 64-bit
 * hash (for hash tables and rendezvous hashing):
 * it is FNV-1a followed by a 64-bit finalizer, stable across runs.
 */
#ifndef COULER_CL_HASH_H
#define COULER_CL_HASH_H

#include <stddef.h>
#include <stdint.h>

#define CL_DIGEST_SIZE 32
#define CL_DIGEST_HEX_SIZE (2 * CL_DIGEST_SIZE + 1)

/* cl_digest_state - incremental BLAKE2b-256 state. */
typedef struct cl_digest_state {
    _Alignas(64) unsigned char opaque[384];
} cl_digest_state;

/* cl_crypto_init - sodium_init() once; safe to call many times. 0 or
 * CL_ECRYPTO. */
int cl_crypto_init(void);

void cl_digest(const void *data, size_t len, uint8_t out[CL_DIGEST_SIZE]);
void cl_digest_init(cl_digest_state *st);
void cl_digest_update(cl_digest_state *st, const void *data, size_t len);
void cl_digest_final(cl_digest_state *st, uint8_t out[CL_DIGEST_SIZE]);

/* cl_hex - lowercase hex of len bytes into out (2*len+1 bytes). */
char *cl_hex(const uint8_t *bytes, size_t len, char *out);
/* cl_unhex - parse 2*len hex chars; 0 or CL_EINVAL. */
int cl_unhex(const char *hex, uint8_t *bytes, size_t len);

uint64_t cl_hash64(const void *data, size_t len);
uint64_t cl_hash64_str(const char *s);

#endif
