/* swim_keyfile.c - cluster keys from a key file or the environment, for
 * the daemons (see swim_keyfile.h). */
#include "gossip/swim_keyfile.h"

#include "common/cl_buf.h"
#include "common/cl_heap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int parse_text(const char *text, const char *what,
                      struct swim_keyfile *out, cl_errmsg *err)
{
    out->n = 0;
    int line = 0;
    const char *p = text;
    while (*p) {
        line++;
        size_t len = strcspn(p, "\n,");
        char buf[256];
        /* trim */
        const char *s = p, *e = p + len;
        while (s < e && (*s == ' ' || *s == '\t' || *s == '\r'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        p += len + (p[len] ? 1 : 0);
        if (s == e || *s == '#')
            continue;
        if ((size_t)(e - s) >= sizeof(buf)) {
            cl_errmsg_set(err, "%s: entry %d is not a key", what, line);
            return CL_EINVAL;
        }
        memcpy(buf, s, (size_t)(e - s));
        buf[e - s] = '\0';
        if (out->n == SWIM_KEYRING_MAX) {
            cl_errmsg_set(err, "%s: more than %d keys", what, SWIM_KEYRING_MAX);
            return CL_ERANGE;
        }
        if (swim_key_parse(buf, out->keys[out->n]) != 0) {
            cl_errmsg_set(err,
                          "%s: entry %d is not a key (64 hex digits or "
                          "base64 of 32 bytes)",
                          what, line);
            return CL_EINVAL;
        }
        out->n++;
    }
    if (out->n == 0) {
        cl_errmsg_set(err, "%s holds no key", what);
        return CL_EINVAL;
    }
    return 0;
}

int swim_keyfile_load(const char *path, struct swim_keyfile *out,
                      cl_errmsg *err)
{
    if (path == NULL) {
        const char *env = getenv("COULER_CLUSTER_KEY");
        if (env == NULL || env[0] == '\0') {
            cl_errmsg_set(err, "gossip needs a cluster key: --cluster-key "
                               "FILE or COULER_CLUSTER_KEY");
            return CL_ENOENT;
        }
        return parse_text(env, "COULER_CLUSTER_KEY", out, err);
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        int e = errno;
        cl_errmsg_set(err, "cluster key file '%s': %s", path, strerror(e));
        return cl_err_from_errno(e);
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0077) != 0) {
        fclose(f);
        cl_errmsg_set(err,
                      "cluster key file '%s' is readable by others; make "
                      "it mode 0600",
                      path);
        return CL_EPERM;
    }
    cl_buf b = CL_BUF_INIT;
    char chunk[1024];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len < 65536)
        cl_buf_append(&b, chunk, n);
    fclose(f);
    if (!cl_buf_ok(&b)) {
        cl_buf_free(&b);
        return CL_ENOMEM;
    }
    int rv = parse_text(b.data ? b.data : "", path, out, err);
    cl_buf_free(&b);
    return rv;
}

static int listed(const struct swim_keyfile *kf, const uint8_t *key)
{
    for (size_t i = 0; kf && i < kf->n; i++)
        if (memcmp(kf->keys[i], key, SWIM_KEY_SIZE) == 0)
            return 1;
    return 0;
}

/* drop_unlisted - remove the keys of `before` that `now` does not list;
 * the primary cannot go (CL_EBUSY) and is left for after the switch. */
static void drop_unlisted(struct swim_keyring *kr,
                          const struct swim_keyfile *before,
                          const struct swim_keyfile *now)
{
    for (size_t i = 0; before && i < before->n; i++)
        if (!listed(now, before->keys[i]))
            swim_keyring_remove(kr, before->keys[i]);
}

int swim_keyfile_apply(struct swim_keyring *kr,
                       const struct swim_keyfile *before,
                       const struct swim_keyfile *now)
{
    if (kr == NULL || now == NULL || now->n == 0)
        return CL_EINVAL;
    /* Make room first, so that a full ring still takes the new keys: stale
     * accepted keys go, then the new primary comes and takes over, then
     * the old primary goes, then the other keys come. */
    drop_unlisted(kr, before, now);
    int rv = swim_keyring_add(kr, now->keys[0]);
    if (rv != 0 && rv != CL_EEXIST)
        return rv;
    rv = swim_keyring_use(kr, now->keys[0]);
    if (rv != 0)
        return rv;
    drop_unlisted(kr, before, now);
    for (size_t i = 1; i < now->n; i++) {
        rv = swim_keyring_add(kr, now->keys[i]);
        if (rv != 0 && rv != CL_EEXIST)
            return rv;
    }
    return 0;
}
