/* swim_int.h - private interfaces of the gossip module (swim__ names).
 *
 * Shared by the core (swim.c), the wire codec (swim_wire.c), the interning
 * pool (swim_pool.c) and the simulator (swim_sim.c). Unit tests include it to
 * reach the codec; nothing outside gossip/ and its tests may.
 */
#ifndef COULER_SWIM_INT_H
#define COULER_SWIM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip/swim.h"

/* Protocol version carried in every Packet. */
#define SWIM__VERSION 1
/* Bounds applied by the decoder on top of the datagram size. */
#define SWIM__MAX_UPDATES 256  /* per packet, piggybacked */
#define SWIM__MAX_ENTRIES 1024 /* per push-pull chunk */
#define SWIM__MAX_BUCKETS 1024 /* push-pull digests */
/* Largest encoded Update: name, from, address, meta and field overhead. */
#define SWIM__UPDATE_MAX (SWIM_META_MAX + 2 * SWIM_NAME_MAX + 64)

/* ------------------------------------------------------------------------ */
/* Interning pool (swim_pool.c).
 *
 * A table of immutable, reference-counted byte strings with dense ids. Id 0
 * means "none". Names live in one table and addresses and metadata in
 * another, so that name ids stay dense: a core indexes its members by name
 * id with a flat array. */

struct swim__blob {
    uint32_t refs;
    uint32_t len;
    uint64_t hash; /* cl_hash64 of the bytes */
    uint32_t next; /* id of the next blob in the same hash bucket */
    uint32_t id;
    uint8_t data[]; /* len bytes, then a NUL */
};

struct swim__table {
    struct swim__blob **blobs; /* by id; blobs[0] unused */
    uint32_t cap;              /* entries in blobs */
    uint32_t *free_ids;        /* stack of released ids */
    uint32_t n_free;
    uint32_t top;      /* ids [1, top) have been handed out */
    uint32_t *buckets; /* head id per hash bucket */
    uint32_t mask;     /* buckets - 1 */
    uint32_t count;    /* live blobs */
};

struct swim_pool {
    struct swim__table names;
    struct swim__table values; /* addresses and metadata */
    unsigned users;            /* cores using the pool */
};

void swim__table_init(struct swim__table *t);
void swim__table_free(struct swim__table *t);
/* swim__intern - the id of (data, len), taking one reference; 0 on
 * CL_ENOMEM. */
uint32_t swim__intern(struct swim__table *t, const void *data, size_t len);
/* swim__lookup - the id of (data, len) without a reference, or 0. */
uint32_t swim__lookup(const struct swim__table *t, const void *data,
                      size_t len);
void swim__ref(struct swim__table *t, uint32_t id);
void swim__unref(struct swim__table *t, uint32_t id); /* 0 is ignored */
static inline const struct swim__blob *swim__blob(const struct swim__table *t,
                                                  uint32_t id)
{
    return t->blobs[id];
}

/* ------------------------------------------------------------------------ */
/* Wire codec (swim_wire.c). */

enum swim__kind {
    SWIM__GOSSIP = 0, /* updates only */
    SWIM__PING,
    SWIM__PING_REQ,
    SWIM__ACK,
    SWIM__NACK,
    SWIM__PUSH_PULL
};

/* struct swim__update - one validated update. Decoded ones borrow their
 * strings and bytes from the packet they came from. */
struct swim__update {
    enum swim_state state;
    const char *name;
    size_t name_len;
    uint32_t incarnation;
    bool has_addr;
    struct swim_addr addr;
    uint32_t meta_version;
    bool has_meta;
    const uint8_t *meta;
    size_t meta_len;
    const char *from; /* "" when absent */
    size_t from_len;
};

/* struct swim__packet - a decoded, validated datagram. Owns the unpacked
 * protobuf message and the update arrays; release with
 * swim__packet_free(). */
struct swim__packet {
    enum swim__kind kind;
    uint32_t seq;                 /* ping, ping-req, ack, nack */
    const char *target;           /* ping, ping-req */
    const char *from;             /* ping: the sender's name, "" when absent */
    struct swim_addr target_addr; /* ping-req */
    bool nack;                    /* ping-req */
    /* push-pull */
    uint32_t session;
    uint32_t bucket_count;
    const uint64_t *digests;
    size_t n_digests;
    const uint32_t *buckets;
    size_t n_buckets;
    bool join;
    bool reply;
    struct swim__update *entries;
    size_t n_entries;
    /* piggyback */
    struct swim__update *updates;
    size_t n_updates;
    void *pb; /* Couler__Gossip__Packet, owned */
};

/* swim__decode - bounded decode and validation of one plaintext datagram.
 * Returns 0, CL_ETOOBIG (over SWIM_PACKET_MAX), CL_EPROTO (not a valid
 * Packet, or a field out of bounds), CL_EVERSION, CL_ENOMEM. On error *out
 * holds nothing to free. */
int swim__decode(const uint8_t *buf, size_t len, struct swim__packet *out);
void swim__packet_free(struct swim__packet *p);

/* swim__encode_update - the Update message bytes for u (no field tag).
 * Returns the length, or 0 when cap is too small. */
size_t swim__encode_update(const struct swim__update *u, uint8_t *buf,
                           size_t cap);

/* Packet assembly. A packet is built in a caller-provided buffer: a header
 * (version and body) first, then length-delimited fields appended raw
 * (piggybacked updates of Packet, entries of PushPull). */
struct swim__wbuf {
    uint8_t *buf;
    size_t len;
    size_t cap;
};

/* swim__put_header - version and one body: `target` for pings and
 * ping-reqs, `from` (may be NULL) for pings, `target_addr` and `nack` for
 * ping-reqs. For SWIM__PUSH_PULL use swim__put_push_pull_head. Returns 0 or
 * CL_ETOOBIG. */
int swim__put_header(struct swim__wbuf *w, enum swim__kind kind, uint32_t seq,
                     const char *target, const char *from,
                     const struct swim_addr *target_addr, bool nack);
/* swim__field_size - bytes of a length-delimited field of one-byte tag. */
size_t swim__field_size(size_t len);
/* swim__put_field - append tag, varint length and bytes. 0 or CL_ETOOBIG. */
int swim__put_field(struct swim__wbuf *w, uint8_t tag, const uint8_t *data,
                    size_t len);
/* Tags of the raw-appended fields. */
#define SWIM__TAG_PACKET_UPDATE ((15u << 3) | 2u)
#define SWIM__TAG_PUSH_PULL_ENTRY ((7u << 3) | 2u)
#define SWIM__TAG_PACKET_PUSH_PULL ((6u << 3) | 2u)

/* swim__put_push_pull_head - the PushPull fields other than entries, into w
 * (as bare PushPull message bytes, not yet wrapped in a Packet). */
int swim__put_push_pull_head(struct swim__wbuf *w, uint32_t session,
                             uint32_t bucket_count, const uint64_t *digests,
                             size_t n_digests, const uint32_t *buckets,
                             size_t n_buckets, bool join, bool reply);
/* swim__put_version - just the Packet version field. */
int swim__put_version(struct swim__wbuf *w);

/* Address <-> wire bytes (4 or 16 bytes of IP, then the port, big
 * endian). */
size_t swim__addr_encode(const struct swim_addr *a, uint8_t out[18]);
int swim__addr_decode(const uint8_t *in, size_t len, struct swim_addr *a);

/* swim__name_valid - the name rule of swim.h. */
bool swim__name_valid(const char *s, size_t len);

/* ------------------------------------------------------------------------ */
/* Core hooks for the simulator (swim.c). */

/* swim__clone_view - make dst know every member src knows (except dst
 * itself), as swim_preload would, sharing interned blobs. Both cores must use
 * the same pool. 0 or CL_ENOMEM / CL_EINVAL. */
int swim__clone_view(struct swim *dst, const struct swim *src, int64_t now);

#endif
