/* swim_keyring.c - sealing gossip datagrams with the cluster key.
 *
 * Format of a sealed datagram (see swim.h):
 *   [1] version = 1 | [24] random nonce | [n + 16] XChaCha20-Poly1305
 * with the version byte as associated data. XChaCha's 192-bit nonces may be
 * drawn at random for every packet without a practical risk of reuse, which
 * a 96-bit nonce could not promise at gossip packet rates. */
#include "gossip/swim.h"

#include <sodium.h>
#include <string.h>

#include "common/cl_err.h"
#include "common/cl_hash.h"
#include "common/cl_heap.h"

#define SEAL_VERSION 1
#define NONCE_SIZE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_SIZE crypto_aead_xchacha20poly1305_ietf_ABYTES

_Static_assert(1 + NONCE_SIZE + TAG_SIZE == SWIM_SEAL_OVERHEAD,
               "seal overhead");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == SWIM_KEY_SIZE,
               "key size");

/* keys[0] is the primary; keys[1..n) are accepted for opening. */
struct swim_keyring {
    uint8_t keys[SWIM_KEYRING_MAX][SWIM_KEY_SIZE];
    size_t n;
    struct swim_keyring_stats stats;
};

static ssize_t index_of(const struct swim_keyring *kr,
                        const uint8_t key[SWIM_KEY_SIZE])
{
    for (size_t i = 0; i < kr->n; i++)
        if (sodium_memcmp(kr->keys[i], key, SWIM_KEY_SIZE) == 0)
            return (ssize_t)i;
    return -1;
}

int swim_keyring_new(const uint8_t primary[SWIM_KEY_SIZE],
                     struct swim_keyring **out)
{
    if (primary == NULL || out == NULL)
        return CL_EINVAL;
    if (cl_crypto_init() != 0)
        return CL_ECRYPTO;
    struct swim_keyring *kr = cl_calloc(1, sizeof(*kr));
    if (kr == NULL)
        return CL_ENOMEM;
    memcpy(kr->keys[0], primary, SWIM_KEY_SIZE);
    kr->n = 1;
    *out = kr;
    return 0;
}

void swim_keyring_free(struct swim_keyring *kr)
{
    if (kr == NULL)
        return;
    sodium_memzero(kr->keys, sizeof(kr->keys));
    cl_free(kr);
}

int swim_keyring_add(struct swim_keyring *kr, const uint8_t key[SWIM_KEY_SIZE])
{
    if (key == NULL)
        return CL_EINVAL;
    if (index_of(kr, key) >= 0)
        return CL_EEXIST;
    if (kr->n == SWIM_KEYRING_MAX)
        return CL_ENOSPC;
    memcpy(kr->keys[kr->n++], key, SWIM_KEY_SIZE);
    return 0;
}

int swim_keyring_use(struct swim_keyring *kr, const uint8_t key[SWIM_KEY_SIZE])
{
    if (key == NULL)
        return CL_EINVAL;
    ssize_t i = index_of(kr, key);
    if (i < 0)
        return CL_ENOENT;
    uint8_t tmp[SWIM_KEY_SIZE];
    memcpy(tmp, kr->keys[0], SWIM_KEY_SIZE);
    memcpy(kr->keys[0], kr->keys[i], SWIM_KEY_SIZE);
    memcpy(kr->keys[i], tmp, SWIM_KEY_SIZE);
    sodium_memzero(tmp, sizeof(tmp));
    return 0;
}

int swim_keyring_remove(struct swim_keyring *kr,
                        const uint8_t key[SWIM_KEY_SIZE])
{
    if (key == NULL)
        return CL_EINVAL;
    ssize_t i = index_of(kr, key);
    if (i < 0)
        return CL_ENOENT;
    if (i == 0)
        return CL_EBUSY;
    kr->n--;
    if ((size_t)i != kr->n)
        memcpy(kr->keys[i], kr->keys[kr->n], SWIM_KEY_SIZE);
    sodium_memzero(kr->keys[kr->n], SWIM_KEY_SIZE);
    return 0;
}

size_t swim_keyring_count(const struct swim_keyring *kr)
{
    return kr->n;
}

const struct swim_keyring_stats *
swim_keyring_stats(const struct swim_keyring *kr)
{
    return &kr->stats;
}

int swim_keyring_seal(struct swim_keyring *kr, const uint8_t *in, size_t len,
                      uint8_t *out, size_t cap, size_t *out_len)
{
    size_t total = len + SWIM_SEAL_OVERHEAD;
    if (len > SWIM_PACKET_MAX || total > SWIM_PACKET_MAX || total > cap)
        return CL_ETOOBIG;
    out[0] = SEAL_VERSION;
    uint8_t *nonce = out + 1;
    randombytes_buf(nonce, NONCE_SIZE);
    unsigned long long clen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_encrypt(out + 1 + NONCE_SIZE, &clen,
                                                   in, len, out, 1, NULL, nonce,
                                                   kr->keys[0]) != 0)
        return CL_ECRYPTO;
    *out_len = 1 + NONCE_SIZE + (size_t)clen;
    kr->stats.sealed++;
    return 0;
}

int swim_keyring_open(struct swim_keyring *kr, const uint8_t *in, size_t len,
                      uint8_t *out, size_t cap, size_t *out_len)
{
    if (len < SWIM_SEAL_OVERHEAD || in[0] != SEAL_VERSION) {
        kr->stats.malformed++;
        return CL_EPROTO;
    }
    if (len > SWIM_PACKET_MAX || len - SWIM_SEAL_OVERHEAD > cap) {
        kr->stats.malformed++;
        return CL_ETOOBIG;
    }
    const uint8_t *nonce = in + 1;
    const uint8_t *c = in + 1 + NONCE_SIZE;
    size_t clen = len - 1 - NONCE_SIZE;
    for (size_t i = 0; i < kr->n; i++) {
        unsigned long long mlen = 0;
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(
                out, &mlen, NULL, c, clen, in, 1, nonce, kr->keys[i]) == 0) {
            *out_len = (size_t)mlen;
            kr->stats.opened++;
            if (i > 0)
                kr->stats.opened_secondary++;
            return 0;
        }
    }
    kr->stats.auth_failed++;
    return CL_ECRYPTO;
}

int swim_key_parse(const char *text, uint8_t key[SWIM_KEY_SIZE])
{
    if (text == NULL || key == NULL)
        return CL_EINVAL;
    size_t n = strlen(text);
    if (n == 2 * SWIM_KEY_SIZE)
        return cl_unhex(text, key, SWIM_KEY_SIZE) == 0 ? 0 : CL_EINVAL;
    if (cl_crypto_init() != 0)
        return CL_ECRYPTO;
    uint8_t tmp[SWIM_KEY_SIZE + 3];
    size_t bin_len = 0;
    const char *end = NULL;
    if (sodium_base642bin(tmp, sizeof(tmp), text, n, NULL, &bin_len, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != text + n || bin_len != SWIM_KEY_SIZE) {
        sodium_memzero(tmp, sizeof(tmp));
        return CL_EINVAL;
    }
    memcpy(key, tmp, SWIM_KEY_SIZE);
    sodium_memzero(tmp, sizeof(tmp));
    return 0;
}

int swim_key_generate(uint8_t key[SWIM_KEY_SIZE])
{
    if (cl_crypto_init() != 0)
        return CL_ECRYPTO;
    crypto_aead_xchacha20poly1305_ietf_keygen(key);
    return 0;
}
