#include "common/cl_hash.h"

#include "common/cl_err.h"

#include <sodium.h>
#include <string.h>

_Static_assert(sizeof(cl_digest_state) >= sizeof(crypto_generichash_state),
               "cl_digest_state too small for crypto_generichash_state");

int cl_crypto_init(void)
{
    return sodium_init() < 0 ? CL_ECRYPTO : 0;
}

void cl_digest(const void *data, size_t len, uint8_t out[CL_DIGEST_SIZE])
{
    crypto_generichash(out, CL_DIGEST_SIZE, data, len, NULL, 0);
}

void cl_digest_init(cl_digest_state *st)
{
    crypto_generichash_init((crypto_generichash_state *)st->opaque, NULL, 0,
                            CL_DIGEST_SIZE);
}

void cl_digest_update(cl_digest_state *st, const void *data, size_t len)
{
    crypto_generichash_update((crypto_generichash_state *)st->opaque, data,
                              len);
}

void cl_digest_final(cl_digest_state *st, uint8_t out[CL_DIGEST_SIZE])
{
    crypto_generichash_final((crypto_generichash_state *)st->opaque, out,
                             CL_DIGEST_SIZE);
}

char *cl_hex(const uint8_t *bytes, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * len] = '\0';
    return out;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cl_unhex(const char *hex, uint8_t *bytes, size_t len)
{
    if (hex == NULL || strlen(hex) != 2 * len)
        return CL_EINVAL;
    for (size_t i = 0; i < len; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return CL_EINVAL;
        bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

uint64_t cl_hash64(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    /* murmur3 fmix64 so that nearby inputs spread over all bits */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

uint64_t cl_hash64_str(const char *s)
{
    return cl_hash64(s, strlen(s));
}
