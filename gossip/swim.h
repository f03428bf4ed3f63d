/* swim.h - SWIM membership with Lifeguard: the contract of the gossip module.
 *
 * One gossip cluster holds the coordinator and every agent. Each member runs
 * the SWIM failure detector (Das, Gupta, Motivala, "SWIM: Scalable
 * Weakly-consistent Infection-style Process Group Membership Protocol", DSN
 * 2002) with the three Lifeguard extensions (Dadgar, Phillips, Currey,
 * "Lifeguard: Local Health Awareness for More Accurate Failure Detection",
 * 2018): local health multiplier, dynamic suspicion timeout, buddy system.
 *
 * This header holds four things:
 *
 *   - the pure core (struct swim): events and an explicit `now` go in,
 *     datagrams and membership events come out through a struct swim_io
 *     vtable. It owns no socket, clock or randomness: the shell passes a
 *     seeded cl_rng. gossip/swim_uv.h is the libuv shell, gossip/swim_sim.h a
 *     deterministic simulator over the same core;
 *   - the keyring that seals every datagram (libsodium XChaCha20-Poly1305);
 *   - helpers that pack and unpack Couler's member metadata (MemberMeta in
 *     proto/gossip.proto), which the core carries as opaque versioned bytes;
 *   - addresses, configuration with its LAN defaults, statistics.
 *
 * Errors are CL_E* codes from common/cl_err.h; 0 is success. Times are int64
 * milliseconds on the caller's monotonic clock. Nothing here is thread-safe:
 * one core belongs to one thread (the daemon's loop).
 */
#ifndef COULER_SWIM_H
#define COULER_SWIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cl_rng.h"

/* Limits. A member name is 1..SWIM_NAME_MAX bytes in 0x21..0x7e (no spaces,
 * no control bytes): hostnames and node ids fit. Metadata is at most
 * SWIM_META_MAX bytes so that an update carrying it always fits in one
 * datagram of the default size. */
#define SWIM_NAME_MAX 64
#define SWIM_META_MAX 1024
/* Largest datagram any receiver accepts, whatever the configuration. */
#define SWIM_PACKET_MAX 65507
/* Bytes the keyring adds to each datagram: version byte, 24-byte nonce,
 * 16-byte Poly1305 tag. The core budgets for them in every packet it
 * builds. */
#define SWIM_SEAL_OVERHEAD 41

/* ------------------------------------------------------------------------ */
/* Addresses. */

/* struct swim_addr - a UDP endpoint, IPv4 or IPv6, by value. */
struct swim_addr {
    uint8_t family; /* 4 or 6; 0 for "none" */
    uint16_t port;  /* host order */
    uint8_t ip[16]; /* network order; IPv4 uses the first 4 bytes */
};

/* "255.255.255.255:65535" and "[ffff:...:ffff]:65535" fit. */
#define SWIM_ADDR_STRLEN 56

/* swim_addr_parse - parse a numeric "A.B.C.D:PORT" or "[IPV6]:PORT".
 * Returns 0 or CL_EINVAL (host names are resolved by the shell, not here). */
int swim_addr_parse(const char *text, struct swim_addr *out);

/* swim_addr_format - "A.B.C.D:PORT" or "[IPV6]:PORT" into buf (at least
 * SWIM_ADDR_STRLEN bytes). Returns buf. */
char *swim_addr_format(const struct swim_addr *a, char *buf, size_t len);

bool swim_addr_equal(const struct swim_addr *a, const struct swim_addr *b);

/* ------------------------------------------------------------------------ */
/* Configuration. */

/* Lifeguard parts, enabled independently (Lifeguard section IV). */
enum swim_lifeguard {
    /* Local health multiplier: failed probes, missing nacks, refutations
     * about ourselves and our own missed deadlines raise a score that
     * stretches our probe interval and timeouts. A probe that failed
     * without a single nack from the members we asked is blamed on us, not
     * on the target: no suspicion is raised. */
    SWIM_LIFEGUARD_LHM = 1u << 0,
    /* Dynamic suspicion timeout: starts at the maximum and shrinks to the
     * minimum as independent confirmations arrive. */
    SWIM_LIFEGUARD_SUSPICION = 1u << 1,
    /* Buddy system: a suspicion rides first on every ping to the suspected
     * member, and its originator tells the member at once. */
    SWIM_LIFEGUARD_BUDDY = 1u << 2,
    SWIM_LIFEGUARD_ALL = 7u
};

/* struct swim_pool - interning pool for names, addresses and metadata.
 * Optional: a core creates a private one when none is configured. A
 * simulator shares one between thousands of cores so that each member's
 * name and metadata are stored once in the process. Not thread-safe. */
struct swim_pool;

int swim_pool_new(struct swim_pool **out);
/* swim_pool_free - every core that uses the pool must be freed first. */
void swim_pool_free(struct swim_pool *pool);

/* struct swim_config - every timing of the protocol. swim_config_default()
 * fills the LAN profile; change fields after it. The cluster should share
 * one profile. n below is the number of live (alive or suspect) members this
 * member knows, itself included. */
struct swim_config {
    /* Probe period T: one member is probed per period, in a shuffled
     * round-robin order (SWIM section 4.3). Scaled by the local health
     * multiplier. */
    int64_t probe_interval_ms;
    /* Wait for an ack before each retry of the direct ping. Scaled. */
    int64_t probe_timeout_ms;
    /* Direct pings sent (each probe_timeout apart) before asking others. */
    unsigned probe_attempts;
    /* k: members asked to ping the target for us (ping-req). */
    unsigned indirect_checks;
    /* Gossip: while updates are queued, send them to gossip_fanout random
     * members every gossip_interval, besides piggybacking them on every
     * ping, ack and ping-req. */
    int64_t gossip_interval_ms;
    unsigned gossip_fanout;
    /* Keep gossiping to members this long after they are declared dead, so
     * that a wrongly declared member hears of it and refutes. */
    int64_t gossip_to_dead_ms;
    /* Each update is sent retransmit_mult * ceil(log10(n + 1)) times. */
    unsigned retransmit_mult;
    /* Suspicion timeout bounds (Lifeguard section IV.B):
     *   min = suspicion_mult * max(1, log10(n)) * probe_interval
     *   max = suspicion_max_mult * min
     * and suspicion_confirmations independent confirmations bring it down
     * to min. Without SWIM_LIFEGUARD_SUSPICION the timeout is min. */
    unsigned suspicion_mult;
    unsigned suspicion_max_mult;
    unsigned suspicion_confirmations;
    /* With SWIM_LIFEGUARD_BUDDY, when a suspicion times out the member is
     * pinged up to final_checks more times, one probe timeout apart, with
     * the suspicion attached, before it is declared dead; an ack puts it
     * back under suspicion for the minimum timeout (its refutation
     * follows). 0 disables the last-chance check. */
    unsigned final_checks;
    /* Local health score is kept in [0, awareness_max - 1]; timeouts are
     * multiplied by score + 1. */
    unsigned awareness_max;
    /* Push-pull anti-entropy with one random member, every
     * push_pull_interval times 1 + ceil(log10(n / 100)) above 100 members.
     * An exchange sends per-bucket digests, then only the buckets that
     * differ. 0 disables it. */
    int64_t push_pull_interval_ms;
    /* Every reconnect_interval, ping one random member we hold dead,
     * telling it so: if it lives (a healed partition, a wrong verdict) it
     * refutes in its ack and the views merge. 0 disables it. */
    int64_t reconnect_interval_ms;
    /* Dead and left members are remembered this long, then forgotten. */
    int64_t dead_retention_ms;
    /* swim_join() retries every join_retry_ms until a seed answers. */
    int64_t join_retry_ms;
    /* Largest sealed datagram we send (bytes, SWIM_SEAL_OVERHEAD
     * included). 576..SWIM_PACKET_MAX. */
    size_t max_packet;
    /* SWIM_LIFEGUARD_* flags. */
    unsigned lifeguard;
    /* Optional interning pool (not owned); NULL for a private one. */
    struct swim_pool *pool;
};

/* swim_config_default - the LAN profile (sub-millisecond round trips, rare
 * loss). See gossip/README.md for the numbers and how they were chosen. */
void swim_config_default(struct swim_config *c);

/* swim_config_check - 0 or CL_EINVAL with the reason in why (may be NULL;
 * at least 128 bytes). */
int swim_config_check(const struct swim_config *c, char *why, size_t len);

/* swim_suspicion_timeout - the Lifeguard suspicion timeout after
 * `confirmations` independent confirmations in a cluster of n live members:
 *   max(min, max - (max - min) * log(c + 1) / log(k + 1))
 * or min without SWIM_LIFEGUARD_SUSPICION. */
int64_t swim_suspicion_timeout(const struct swim_config *c, size_t n,
                               unsigned confirmations);

/* swim_retransmit_limit - how many times one update is sent, for n. */
unsigned swim_retransmit_limit(const struct swim_config *c, size_t n);

/* ------------------------------------------------------------------------ */
/* Members and events. */

enum swim_state {
    SWIM_ALIVE = 0,
    SWIM_SUSPECT = 1,
    SWIM_DEAD = 2,
    SWIM_LEFT = 3
};

/* swim_state_name - "alive", "suspect", "dead", "left"; static. */
const char *swim_state_name(enum swim_state s);

/* struct swim_member_info - a view of one member. The pointers borrow from
 * the core: they stay valid until the next call that can change the core
 * (swim_recv, swim_tick, swim_set_meta, swim_join, swim_leave, swim_free). */
struct swim_member_info {
    const char *name; /* NUL-terminated */
    struct swim_addr addr;
    enum swim_state state;
    uint32_t incarnation;
    uint32_t meta_version;
    const uint8_t *meta; /* meta_len bytes; NULL when empty */
    size_t meta_len;
    int64_t state_since; /* our time of the last state change */
    bool is_self;
};

enum swim_event_type {
    SWIM_EV_JOINED = 1,  /* first heard of, alive */
    SWIM_EV_UPDATED = 2, /* metadata changed */
    SWIM_EV_SUSPECT = 3,
    SWIM_EV_ALIVE = 4, /* alive again after suspect, dead or left */
    SWIM_EV_DEAD = 5,
    SWIM_EV_LEFT = 6
};

const char *swim_event_name(enum swim_event_type t);

/* struct swim_event - one membership change seen by this member. `origin`
 * is true when this member raised it itself (its own probe failed, its own
 * suspicion timer expired) rather than hearing it from others. */
struct swim_event {
    enum swim_event_type type;
    bool origin;
    struct swim_member_info member;
};

/* ------------------------------------------------------------------------ */
/* I/O. */

/* struct swim_io - what the core needs from its shell, in the manner of
 * canonical/raft's struct raft_io.
 *
 * send - hand one datagram (plaintext Packet bytes; the shell seals it) to
 *   the transport. The shell copies buf before returning; buf is not valid
 *   afterwards. There is no completion callback: a datagram that left is as
 *   good as lost to SWIM, which is built on loss. A nonzero return is
 *   counted in swim_stats.send_errors and otherwise ignored.
 * event - a membership change. Called synchronously from inside a core
 *   call; it may read the core (swim_member_*, swim_stats) but must not call
 *   anything that changes it. swim_uv defers events for its users so that
 *   they may.
 *
 * The vtable and data are owned by the shell and must outlive the core. */
struct swim_io {
    void *data;
    int (*send)(struct swim_io *io, const struct swim_addr *to,
                const uint8_t *buf, size_t len);
    void (*event)(struct swim_io *io, const struct swim_event *ev);
};

/* struct swim_stats - counters of one core, monotonically increasing. */
struct swim_stats {
    uint64_t packets_sent;
    uint64_t bytes_sent; /* plaintext + SWIM_SEAL_OVERHEAD per packet */
    uint64_t packets_recv;
    uint64_t bytes_recv;
    uint64_t pings_sent;
    uint64_t ping_reqs_sent;
    uint64_t acks_sent;
    uint64_t nacks_sent;
    uint64_t gossip_sent; /* packets that carry updates only */
    uint64_t push_pull_sent;
    uint64_t updates_sent; /* piggybacked updates, all packets */
    uint64_t updates_recv;
    uint64_t probes;
    uint64_t probes_failed;
    uint64_t suspicions_raised; /* our probe failed, we suspected */
    uint64_t probe_self_blamed; /* failed without a nack: not suspected */
    uint64_t deaths_declared;   /* our suspicion timer expired */
    uint64_t final_acks;        /* a last-chance ping was answered */
    uint64_t refutes;           /* we refuted a suspicion or death */
    uint64_t missed_deadlines;  /* our own timers ran late */
    uint64_t conflicts;         /* a live name announced at a new address */
    /* Dropped input, never answered. */
    uint64_t drop_oversize;
    uint64_t drop_decode;  /* not a well-formed Packet */
    uint64_t drop_version; /* unknown protocol version */
    uint64_t drop_nomem;
    uint64_t send_errors;
};

/* ------------------------------------------------------------------------ */
/* The core. */

struct swim;

/* swim_new - create a member named `name` reachable at `addr`, alone in its
 * cluster, at time `now`.
 *
 * cfg is copied. io and rng are borrowed and must outlive the core; rng is
 * the core's only source of randomness (probe order, targets, jitter), so a
 * seeded rng makes a run reproducible. *out is freed with swim_free().
 * Returns 0, CL_EINVAL (bad name, address or configuration) or
 * CL_ENOMEM. */
int swim_new(const struct swim_config *cfg, struct swim_io *io, cl_rng *rng,
             const char *name, const struct swim_addr *addr, int64_t now,
             struct swim **out);

/* swim_free - release the core and everything it owns. Sends nothing: call
 * swim_leave() first for a graceful exit. NULL is ignored. */
void swim_free(struct swim *s);

/* swim_recv - one datagram (plaintext, as the keyring opened it) from
 * `from`. Input that is oversized, malformed or of another protocol version
 * is dropped and counted; the return value says why (CL_ETOOBIG, CL_EPROTO,
 * CL_EVERSION, CL_ENOMEM), and the core stays as it was. */
int swim_recv(struct swim *s, const struct swim_addr *from, const void *buf,
              size_t len, int64_t now);

/* swim_tick - run every timer due at `now`. Call it when
 * swim_next_deadline() is reached; calling it early is harmless. */
void swim_tick(struct swim *s, int64_t now);

/* swim_next_deadline - the time by which swim_tick() must be called next.
 * It can only move earlier after swim_recv() or another call, so a shell
 * re-arms its timer after each. */
int64_t swim_next_deadline(const struct swim *s);

/* swim_join - ask the seeds for their state, and keep asking every
 * join_retry_ms until one answers. Seeds equal to our own address are
 * skipped. The array is copied. CL_EINVAL when n is 0. */
int swim_join(struct swim *s, const struct swim_addr *seeds, size_t n,
              int64_t now);

/* swim_set_meta - replace our metadata (at most SWIM_META_MAX bytes, copied)
 * and announce it: our incarnation and meta_version go up by one. */
int swim_set_meta(struct swim *s, const void *meta, size_t len, int64_t now);

/* swim_leave - leave gracefully: announce that we left, stop probing, keep
 * answering and gossiping until the notice is out. Idempotent. Others mark
 * us LEFT, not DEAD, and do not refute it for us. */
int swim_leave(struct swim *s, int64_t now);

/* swim_leave_done - true once the leave notice was sent to gossip_fanout
 * members (or there is nobody to tell). */
bool swim_leave_done(const struct swim *s);

/* Queries. Indexes are stable only between calls that change the core. */
size_t swim_member_count(const struct swim *s); /* self and dead included */
int swim_member_at(const struct swim *s, size_t i,
                   struct swim_member_info *out); /* 0 or CL_ERANGE */
int swim_member_find(const struct swim *s, const char *name,
                     struct swim_member_info *out); /* 0 or CL_ENOENT */
/* swim_state_count - members (self included) in state st. */
size_t swim_state_count(const struct swim *s, enum swim_state st);
/* swim_health - the local health score, 0 = healthy. */
unsigned swim_health(const struct swim *s);
const char *swim_self_name(const struct swim *s);
uint32_t swim_incarnation(const struct swim *s);
const struct swim_stats *swim_stats(const struct swim *s);

/* swim_preload - record a member as `m` describes it (name, addr, state,
 * incarnation, meta) without an event or a broadcast, as if learned long
 * ago. For simulators and tests that start from a converged cluster; a
 * daemon joins instead. Our own name is refused (CL_EINVAL). */
int swim_preload(struct swim *s, const struct swim_member_info *m, int64_t now);

/* ------------------------------------------------------------------------ */
/* Keyring: authenticated encryption of every datagram.
 *
 * A sealed datagram is: 1 version byte (1), a 24-byte random nonce, then
 * crypto_aead_xchacha20poly1305_ietf of the plaintext with the version byte
 * as associated data. Sealing uses the primary key; opening tries the
 * primary, then every accepted key, so a key rotates without a restart:
 * (1) add the new key everywhere, (2) make it primary everywhere, (3) remove
 * the old one. Keys are wiped from memory when removed or freed. */

#define SWIM_KEY_SIZE 32
#define SWIM_KEYRING_MAX 16

struct swim_keyring;

struct swim_keyring_stats {
    uint64_t sealed;
    uint64_t opened;           /* opened with any key */
    uint64_t opened_secondary; /* ... with an accepted, non-primary key */
    uint64_t auth_failed;      /* no key authenticates it */
    uint64_t malformed;        /* too short, too long or unknown version */
};

/* swim_keyring_new - a keyring whose primary key is `primary` (copied).
 * Returns 0, CL_ECRYPTO (libsodium unusable) or CL_ENOMEM. */
int swim_keyring_new(const uint8_t primary[SWIM_KEY_SIZE],
                     struct swim_keyring **out);
void swim_keyring_free(struct swim_keyring *kr);
/* swim_keyring_add - accept `key` for opening. CL_EEXIST, CL_ENOSPC. */
int swim_keyring_add(struct swim_keyring *kr, const uint8_t key[SWIM_KEY_SIZE]);
/* swim_keyring_use - make an accepted key primary (the old primary stays
 * accepted). CL_ENOENT when the key is not in the ring. */
int swim_keyring_use(struct swim_keyring *kr, const uint8_t key[SWIM_KEY_SIZE]);
/* swim_keyring_remove - forget a key. CL_EBUSY for the primary,
 * CL_ENOENT. */
int swim_keyring_remove(struct swim_keyring *kr,
                        const uint8_t key[SWIM_KEY_SIZE]);
size_t swim_keyring_count(const struct swim_keyring *kr);
/* swim_keyring_seal - out gets len + SWIM_SEAL_OVERHEAD bytes. CL_ETOOBIG
 * when that exceeds cap or SWIM_PACKET_MAX. */
int swim_keyring_seal(struct swim_keyring *kr, const uint8_t *in, size_t len,
                      uint8_t *out, size_t cap, size_t *out_len);
/* swim_keyring_open - authenticate and decrypt; out needs len -
 * SWIM_SEAL_OVERHEAD bytes. CL_EPROTO (malformed), CL_ETOOBIG, CL_ECRYPTO
 * (no key opens it). Every failure is counted. */
int swim_keyring_open(struct swim_keyring *kr, const uint8_t *in, size_t len,
                      uint8_t *out, size_t cap, size_t *out_len);
const struct swim_keyring_stats *
swim_keyring_stats(const struct swim_keyring *kr);

/* swim_key_parse - a key given as 64 hex digits or as standard base64 (44
 * characters). 0 or CL_EINVAL. */
int swim_key_parse(const char *text, uint8_t key[SWIM_KEY_SIZE]);
/* swim_key_generate - a fresh random key (libsodium). 0 or CL_ECRYPTO. */
int swim_key_generate(uint8_t key[SWIM_KEY_SIZE]);

/* ------------------------------------------------------------------------ */
/* Member metadata (MemberMeta in proto/gossip.proto). */

enum swim_role {
    SWIM_ROLE_UNSPECIFIED = 0,
    SWIM_ROLE_AGENT = 1,
    SWIM_ROLE_COORDINATOR = 2
};

struct swim_kv {
    char *key;   /* owned by the swim_meta (cl_malloc) */
    char *value; /* owned by the swim_meta (cl_malloc) */
};

struct swim_resources {
    uint32_t cores_free;
    uint32_t cores_total;
    uint64_t memory_free;  /* bytes */
    uint64_t memory_total; /* bytes */
    uint32_t gpus_free;
    uint32_t gpus_total;
};

/* struct swim_meta - the decoded metadata. Owns its arrays and strings;
 * release with swim_meta_free(). */
struct swim_meta {
    enum swim_role role;
    struct swim_kv *endpoints; /* "control" -> "tcp://10.0.0.1:7100" */
    size_t n_endpoints;
    struct swim_kv *labels; /* k=v */
    size_t n_labels;
    struct swim_resources resources;
};

void swim_meta_init(struct swim_meta *m);
void swim_meta_free(struct swim_meta *m); /* m is reusable after init */
/* swim_meta_set_endpoint / swim_meta_set_label - add or replace (copies the
 * strings). 0 or CL_ENOMEM, CL_EINVAL for NULL/empty keys. */
int swim_meta_set_endpoint(struct swim_meta *m, const char *name,
                           const char *url);
int swim_meta_set_label(struct swim_meta *m, const char *key,
                        const char *value);
/* Lookups: the value, or NULL. */
const char *swim_meta_endpoint(const struct swim_meta *m, const char *name);
const char *swim_meta_label(const struct swim_meta *m, const char *key);
/* swim_meta_pack - encode into a cl_malloc'd buffer (*out, *len; free with
 * cl_free). CL_ETOOBIG above SWIM_META_MAX, CL_ENOMEM. */
int swim_meta_pack(const struct swim_meta *m, uint8_t **out, size_t *len);
/* swim_meta_unpack - decode len bytes (bounded by SWIM_META_MAX) into an
 * initialized or freed m. CL_EPROTO, CL_ETOOBIG, CL_ENOMEM; m is left empty
 * on error. */
int swim_meta_unpack(const void *buf, size_t len, struct swim_meta *m);

#endif
