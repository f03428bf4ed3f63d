/* swim_keyfile.h - cluster keys from a file, for the daemons (part of the
 * gossip module; see swim.h for the keyring itself).
 *
 * A key file holds one key per line (64 hex digits or base64 of 32 bytes,
 * as swim_key_parse reads them); blank lines and lines starting with '#'
 * are ignored. The first key is the primary: new packets are sealed with
 * it. The others are accepted: packets sealed with them still open. To
 * rotate without a restart, put the new key on the accepted lines of every
 * node and reload (SIGHUP), then move it to the first line everywhere and
 * reload again, then drop the old one.
 *
 * Without a path, the environment variable COULER_CLUSTER_KEY holds the
 * same text (keys separated by commas or new lines).
 */
#ifndef COULER_SWIM_KEYFILE_H
#define COULER_SWIM_KEYFILE_H

#include "common/cl_err.h"
#include "gossip/swim.h"

#include <stddef.h>
#include <stdint.h>

struct swim_keyfile {
    uint8_t keys[SWIM_KEYRING_MAX][SWIM_KEY_SIZE]; /* keys[0]: the primary */
    size_t n;
};

/* swim_keyfile_load - read `path` (or COULER_CLUSTER_KEY when path is NULL).
 * Returns 0, CL_ENOENT (no file and no variable), CL_EPERM, CL_EINVAL (a
 * line that is not a key, with its number), CL_ERANGE (more than
 * SWIM_KEYRING_MAX keys); err says which. The file should be readable by
 * root only; a file others can read is refused (CL_EPERM). */
int swim_keyfile_load(const char *path, struct swim_keyfile *out,
                      cl_errmsg *err);

/* swim_keyfile_apply - make `kr` hold `now`: its keys accepted, keys[0]
 * primary, and the keys of `before` that `now` no longer lists removed
 * (before may be NULL: keys the ring holds that `now` does not list stay).
 * Returns 0, CL_EINVAL (empty `now`) or CL_ENOSPC (more than
 * SWIM_KEYRING_MAX keys at once). */
int swim_keyfile_apply(struct swim_keyring *kr,
                       const struct swim_keyfile *before,
                       const struct swim_keyfile *now);

#endif
