/* swim_uv.h - SWIM membership over UDP on a libuv loop.
 *
 * The shell the daemons embed: it binds one UDP socket, seals and opens
 * every datagram with the cluster keyring, drives the pure core
 * (gossip/swim.h) with one uv timer and uv_now(), and reports membership
 * changes through a callback. It shares its loop with whatever else the
 * process runs: it owns two timers and one UDP handle, nothing more, and
 * never blocks.
 *
 * Lifecycle (libuv style): swim_uv_init -> swim_uv_start -> (swim_uv_join,
 * swim_uv_set_meta, queries...) -> [swim_uv_leave] -> swim_uv_stop ->
 * swim_uv_close(cb). The struct is the caller's; it may be freed only in or
 * after the close callback. A call that returns an error never fires its
 * callback. After a successful swim_uv_init the caller must call
 * swim_uv_close, whatever else failed.
 *
 * Callbacks run on the loop thread and may call any swim_uv function,
 * including swim_uv_close: membership events are queued while the core
 * works and delivered after it returns.
 */
#ifndef COULER_SWIM_UV_H
#define COULER_SWIM_UV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/cl_err.h"
#include "common/cl_rng.h"
#include "gossip/swim.h"

struct swim_uv;

/* swim_uv_event_cb - one membership change. ev and what it points to are
 * valid during the call only. */
typedef void (*swim_uv_event_cb)(struct swim_uv *u,
                                 const struct swim_event *ev);
/* swim_uv_leave_cb - status 0 once our leave notice is out, CL_ETIMEDOUT
 * when the timeout passed first, CL_ECANCELED when closed before either. */
typedef void (*swim_uv_leave_cb)(struct swim_uv *u, int status);
typedef void (*swim_uv_close_cb)(struct swim_uv *u);

struct swim_uv_options {
    const char *name; /* member name, required (see swim.h) */
    const char *bind; /* "IP:PORT" to bind; port 0 picks a free port */
    /* "IP:PORT" others use to reach us; NULL: the bound address, or, when
     * bound to 0.0.0.0 / ::, the first non-loopback interface address. */
    const char *advertise;
    const uint8_t *key; /* primary cluster key, SWIM_KEY_SIZE bytes */
    const struct swim_config *config; /* NULL: swim_config_default() */
    uint64_t seed;             /* rng seed for probe order etc.; 0: random */
    swim_uv_event_cb on_event; /* may be NULL */
};

/* Counters of the core, the keyring and the transport together. */
struct swim_uv_stats {
    struct swim_stats swim;
    struct swim_keyring_stats keyring;
    uint64_t recv_oversize; /* datagrams above config.max_packet */
    uint64_t recv_errors;
    uint64_t send_errors;
    uint64_t send_queued; /* socket was busy: copied and queued */
};

struct swim_uv_event;   /* private: a queued event */
struct swim_uv_resolve; /* private: a pending name resolution */

struct swim_uv {
    void *data; /* the caller's */

    /* Private below. */
    uv_loop_t *loop;
    uv_udp_t udp;
    uv_timer_t timer;
    uv_timer_t leave_timer;
    unsigned state;
    unsigned open_handles;
    unsigned pending_sends;
    unsigned pending_resolves;
    struct swim *core;
    struct swim_keyring *keyring;
    struct swim_io io;
    cl_rng rng;
    struct swim_config config;
    char name[SWIM_NAME_MAX + 1];
    struct sockaddr_storage bind_sa;
    struct swim_addr advertise;
    bool has_advertise;
    struct swim_addr *seeds;
    size_t n_seeds;
    swim_uv_event_cb on_event;
    swim_uv_leave_cb leave_cb;
    swim_uv_close_cb close_cb;
    struct swim_uv_event *events;
    size_t n_events;
    size_t cap_events;
    bool dispatching;
    uint8_t *recv_buf;
    uint8_t *open_buf;
    uint8_t *seal_buf;
    uint64_t recv_oversize;
    uint64_t recv_errors;
    uint64_t send_errors;
    uint64_t send_queued;
};

/* swim_uv_init - check the options, copy them and prepare the handles on
 * `loop`. Nothing is bound yet. Returns 0, CL_EINVAL (with the reason in
 * err, which may be NULL), CL_ENOMEM, CL_ECRYPTO or CL_EUV. */
int swim_uv_init(struct swim_uv *u, uv_loop_t *loop,
                 const struct swim_uv_options *opt, cl_errmsg *err);

/* swim_uv_start - bind the socket, create the core (alone in its cluster)
 * and start receiving and ticking. CL_EUV / CL_EINVAL with err set;
 * CL_ESTATE if not freshly initialized. */
int swim_uv_start(struct swim_uv *u, cl_errmsg *err);

/* swim_uv_join - join through seeds given as "HOST:PORT[,HOST:PORT...]",
 * the form of the daemons' --join flag. Numeric addresses are used at once;
 * host names are resolved asynchronously (IPv4 and IPv6) and added as they
 * resolve. The core keeps asking the seeds every join_retry_ms until one
 * answers. Seeds naming ourselves are skipped, so every node of a cluster
 * may be given the same list. CL_EINVAL for a malformed list. */
int swim_uv_join(struct swim_uv *u, const char *seeds, cl_errmsg *err);

/* swim_uv_set_meta - publish new metadata (opaque bytes, at most
 * SWIM_META_MAX; see swim_meta_pack). Usable before or after joining. */
int swim_uv_set_meta(struct swim_uv *u, const void *meta, size_t len);

/* swim_uv_leave - leave gracefully: others mark us LEFT rather than DEAD.
 * cb fires once, when the notice has been sent to a few members or after
 * timeout_ms, never from inside this call. Keep the loop running until
 * then, then stop and close. CL_ESTATE when not started, CL_EBUSY when a
 * leave is already pending, CL_ECANCELED when an event callback run by
 * this call closed the member. */
int swim_uv_leave(struct swim_uv *u, uint64_t timeout_ms, swim_uv_leave_cb cb);

/* swim_uv_stop - stop receiving and ticking at once (an abrupt stop: the
 * cluster will declare us dead). Queries still work. Idempotent. */
void swim_uv_stop(struct swim_uv *u);

/* swim_uv_close - close the handles; cb (may be NULL) runs when all are
 * closed and the memory may be freed. Stops first if needed. A pending
 * leave callback fires with CL_ECANCELED. */
void swim_uv_close(struct swim_uv *u, swim_uv_close_cb cb);

/* Queries (valid after swim_uv_start; the info pointers live until the
 * next loop callback). */
size_t swim_uv_member_count(const struct swim_uv *u);
int swim_uv_member_at(const struct swim_uv *u, size_t i,
                      struct swim_member_info *out);
int swim_uv_member_find(const struct swim_uv *u, const char *name,
                        struct swim_member_info *out);
/* swim_uv_addr - the address we advertise (valid after start). */
int swim_uv_addr(const struct swim_uv *u, struct swim_addr *out);
void swim_uv_stats(const struct swim_uv *u, struct swim_uv_stats *out);
/* swim_uv_keyring - the live keyring, to rotate keys without a restart
 * (swim_keyring_add / _use / _remove). Owned by u. */
struct swim_keyring *swim_uv_keyring(struct swim_uv *u);
/* swim_uv_core - the core, for read-only use (swim_state_count...). */
const struct swim *swim_uv_core(const struct swim_uv *u);

#endif
