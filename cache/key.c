/* key.c - cache keys (pure).
 *
 * The implicit key of a step is BLAKE2b-256 (cl_digest) over this byte
 * string, built in this order (u8/u32/u64 are little-endian integers,
 * str(s) is u64 length followed by the bytes of s, NULL being ""):
 *
 *   "couler-cache-key" 0x00       domain, 17 bytes
 *   u32 CACHE_KEY_VERSION
 *   u8 1  u8 kind                 0 container, 1 script
 *   u8 2  u64 n  str(command[i])...
 *   u8 3  u64 n  str(args[i])...
 *   u8 4  str(source)
 *   u8 5  str(image)
 *   u8 6  u64 n  (str(name) str(value))...   env, sorted by name, value
 *   u8 7  str(workdir)
 *   u8 8  u64 n  (str(name) str(value))...   params, sorted by name, value
 *   u8 9  u64 n  (str(name) str(path) digest[32])...
 *                                  input artifacts, sorted by name, path,
 *                                  digest
 *   u8 10 u8 0                     no memoize.key, or
 *   u8 10 u8 1  str(memo_key)
 *
 * Every variable part carries its length or count and the fields come in a
 * fixed order, so the string can be parsed back into its fields: two
 * different inputs never produce the same string (no collision by
 * concatenation, e.g. args ["ab"] vs ["a", "b"], or env a=bc vs ab=c).
 * Sorting makes the order of env, params and artifacts irrelevant, as it is
 * to the step. Names of steps, templates and workflows are not inputs.
 *
 * The memoize key (cache_key_memo) hashes
 *
 *   "couler-cache-memo" 0x00  u32 CACHE_KEY_VERSION  str(cache)  str(key)
 *
 * under its own domain string, so it lives in a separate namespace.
 */
#include "cache/cache_int.h"

#include "common/cl_heap.h"

#include <stdlib.h>
#include <string.h>

void cache__put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void cache__put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void h_u8(cl_digest_state *h, uint8_t v)
{
    cl_digest_update(h, &v, 1);
}

static void h_u32(cl_digest_state *h, uint32_t v)
{
    uint8_t b[4];
    cache__put_u32(b, v);
    cl_digest_update(h, b, 4);
}

static void h_u64(cl_digest_state *h, uint64_t v)
{
    uint8_t b[8];
    cache__put_u64(b, v);
    cl_digest_update(h, b, 8);
}

static void h_str(cl_digest_state *h, const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    h_u64(h, n);
    if (n > 0)
        cl_digest_update(h, s, n);
}

static int h_strv(cl_digest_state *h, const char *const *v, size_t n)
{
    h_u64(h, n);
    for (size_t i = 0; i < n; i++) {
        if (v[i] == NULL)
            return CL_EINVAL;
        h_str(h, v[i]);
    }
    return 0;
}

static int cmp_str(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "");
}

static int cmp_kv(const void *pa, const void *pb)
{
    const cache_kv *a = *(const cache_kv *const *)pa;
    const cache_kv *b = *(const cache_kv *const *)pb;
    int c = cmp_str(a->name, b->name);
    return c != 0 ? c : cmp_str(a->value, b->value);
}

static int cmp_art(const void *pa, const void *pb)
{
    const cache_key_artifact *a = *(const cache_key_artifact *const *)pa;
    const cache_key_artifact *b = *(const cache_key_artifact *const *)pb;
    int c = cmp_str(a->name, b->name);
    if (c == 0)
        c = cmp_str(a->path, b->path);
    if (c == 0)
        c = memcmp(a->digest.b, b->digest.b, CL_DIGEST_SIZE);
    return c;
}

/* h_kvs - the sorted pairs. `tmp` has room for n pointers. */
static int h_kvs(cl_digest_state *h, const cache_kv *kv, size_t n,
                 const cache_kv **tmp)
{
    for (size_t i = 0; i < n; i++) {
        if (kv[i].name == NULL || kv[i].value == NULL)
            return CL_EINVAL;
        tmp[i] = &kv[i];
    }
    if (n > 1)
        qsort(tmp, n, sizeof(*tmp), cmp_kv);
    h_u64(h, n);
    for (size_t i = 0; i < n; i++) {
        h_str(h, tmp[i]->name);
        h_str(h, tmp[i]->value);
    }
    return 0;
}

int cache_key_compute(const cache_key_input *in, cache_key *out)
{
    static const char domain[] = "couler-cache-key"; /* + its NUL */
    if (in == NULL || out == NULL)
        return CL_EINVAL;
    if (in->kind != CACHE_KIND_CONTAINER && in->kind != CACHE_KIND_SCRIPT)
        return CL_EINVAL;
    if ((in->ncommand > 0 && in->command == NULL) ||
        (in->nargs > 0 && in->args == NULL) ||
        (in->nenv > 0 && in->env == NULL) ||
        (in->nparams > 0 && in->params == NULL) ||
        (in->nartifacts > 0 && in->artifacts == NULL))
        return CL_EINVAL;

    size_t most = in->nenv > in->nparams ? in->nenv : in->nparams;
    if (in->nartifacts > most)
        most = in->nartifacts;
    void **tmp = NULL;
    if (most > 0) {
        tmp = cl_malloc(most * sizeof(*tmp));
        if (tmp == NULL)
            return CL_ENOMEM;
    }

    cl_digest_state h;
    cl_digest_init(&h);
    cl_digest_update(&h, domain, sizeof(domain));
    h_u32(&h, CACHE_KEY_VERSION);
    h_u8(&h, 1);
    h_u8(&h, (uint8_t)in->kind);
    int rv;
    h_u8(&h, 2);
    if ((rv = h_strv(&h, in->command, in->ncommand)) != 0)
        goto out;
    h_u8(&h, 3);
    if ((rv = h_strv(&h, in->args, in->nargs)) != 0)
        goto out;
    h_u8(&h, 4);
    h_str(&h, in->source);
    h_u8(&h, 5);
    h_str(&h, in->image);
    h_u8(&h, 6);
    if ((rv = h_kvs(&h, in->env, in->nenv, (const cache_kv **)tmp)) != 0)
        goto out;
    h_u8(&h, 7);
    h_str(&h, in->workdir);
    h_u8(&h, 8);
    if ((rv = h_kvs(&h, in->params, in->nparams, (const cache_kv **)tmp)) != 0)
        goto out;
    h_u8(&h, 9);
    const cache_key_artifact **arts = (const cache_key_artifact **)tmp;
    for (size_t i = 0; i < in->nartifacts; i++) {
        if (in->artifacts[i].name == NULL) {
            rv = CL_EINVAL;
            goto out;
        }
        arts[i] = &in->artifacts[i];
    }
    if (in->nartifacts > 1)
        qsort(arts, in->nartifacts, sizeof(*arts), cmp_art);
    h_u64(&h, in->nartifacts);
    for (size_t i = 0; i < in->nartifacts; i++) {
        h_str(&h, arts[i]->name);
        h_str(&h, arts[i]->path);
        cl_digest_update(&h, arts[i]->digest.b, CL_DIGEST_SIZE);
    }
    h_u8(&h, 10);
    if (in->memo_key != NULL) {
        h_u8(&h, 1);
        h_str(&h, in->memo_key);
    } else {
        h_u8(&h, 0);
    }
    cl_digest_final(&h, out->b);
    rv = 0;
out:
    cl_free(tmp);
    return rv;
}

static bool alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

int cache_key_memo(const char *cache_name, const char *key, cache_key *out,
                   cl_errmsg *err)
{
    static const char domain[] = "couler-cache-memo";
    if (cache_name == NULL || cache_name[0] == '\0') {
        cl_errmsg_set(err, "memoize: cache name is empty");
        return CL_EINVAL;
    }
    if (key == NULL || !alnum(key[0])) {
        cl_errmsg_set(err,
                      "memoize: key '%s' must match ^[a-zA-Z0-9][-a-zA-Z0-9]*$",
                      key != NULL ? key : "");
        return CL_EINVAL;
    }
    for (const char *p = key; *p != '\0'; p++) {
        if (!alnum(*p) && *p != '-') {
            cl_errmsg_set(err,
                          "memoize: key '%s' must match "
                          "^[a-zA-Z0-9][-a-zA-Z0-9]*$",
                          key);
            return CL_EINVAL;
        }
    }
    cl_digest_state h;
    cl_digest_init(&h);
    cl_digest_update(&h, domain, sizeof(domain));
    h_u32(&h, CACHE_KEY_VERSION);
    h_str(&h, cache_name);
    h_str(&h, key);
    cl_digest_final(&h, out->b);
    return 0;
}

char *cache_key_hex(const cache_key *k, char out[CL_DIGEST_HEX_SIZE])
{
    return cl_hex(k->b, CL_DIGEST_SIZE, out);
}

int cache_key_parse(const char *hex, cache_key *out)
{
    return cl_unhex(hex, out->b, CL_DIGEST_SIZE);
}

char *cache_digest_hex(const cache_digest *d, char out[CL_DIGEST_HEX_SIZE])
{
    return cl_hex(d->b, CL_DIGEST_SIZE, out);
}

int cache_digest_parse(const char *hex, cache_digest *out)
{
    return cl_unhex(hex, out->b, CL_DIGEST_SIZE);
}

bool cache_key_equal(const cache_key *a, const cache_key *b)
{
    return memcmp(a->b, b->b, CL_DIGEST_SIZE) == 0;
}

bool cache_digest_equal(const cache_digest *a, const cache_digest *b)
{
    return memcmp(a->b, b->b, CL_DIGEST_SIZE) == 0;
}
