/* swim.c - the SWIM + Lifeguard state machine.
 *
 * References, quoted where implemented:
 *   [SWIM] Das, Gupta, Motivala, DSN 2002.
 *   [LG]   Dadgar, Phillips, Currey, "Lifeguard", arXiv:1707.00788, 2018.
 * and HashiCorp memberlist, whose state merge rules this follows.
 *
 * The core is single-threaded and its memory grows only with the cluster:
 * a member table (one 48-byte entry per known member, indexed by interned
 * name id; names and metadata live once in the interning pool), a probe
 * order, a broadcast queue bucketed by transmit count, suspicion records,
 * pending ping-req relays and a timer heap for suspicion expiries and
 * reaping. Nothing here reads a clock, a socket or a random source: time
 * comes in as `now`, randomness from the borrowed cl_rng, datagrams go out
 * through swim_io.send.
 */
#include "gossip/swim_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/cl_err.h"
#include "common/cl_heap.h"

/* Most transmit-count buckets of the broadcast queue (retransmit limits
 * above it are clamped). */
#define BCAST_LISTS 64
/* Most confirmations a suspicion tracks (Lifeguard's k is far smaller). */
#define SUSP_FROM_MAX 16
/* Pending ping-req relays beyond this are refused (a flood guard). */
#define RELAYS_MAX 1024
/* Most chunks of entries one push-pull answer carries (joins excepted): a
 * view that differs everywhere is synced over several exchanges rather than
 * in one burst. */
#define PP_MAX_CHUNKS 16
/* Push-pull sessions we remember having answered. */
#define SESSIONS_MAX 16
/* Most push-pull buckets. */
#define PP_BUCKETS_MAX 128

#define MF_META_STALE 0x01 /* a newer meta_version exists than we hold */

/* One known member. Side records (suspicion, queued broadcast) are found
 * through 1-based slot indexes, 0 meaning none; side records and timers name
 * the member by its name id, which is stable, never by its table index,
 * which moves when another member is removed. */
struct member {
    int64_t state_time; /* our time of the last state change */
    uint32_t name;      /* id in pool->names, referenced */
    uint32_t addr;      /* id in pool->values (wire form), referenced */
    uint32_t meta;      /* id in pool->values, referenced; 0 = empty */
    uint32_t incarnation;
    uint32_t meta_version;
    uint32_t order; /* position in s->order */
    uint32_t susp;  /* 1 + slot in s->susps */
    uint32_t bcast; /* 1 + slot in s->bcasts */
    uint8_t state;
    uint8_t flags;
};

/* A queued update about one member (at most one per member: a newer one
 * replaces it). Linked in the list of its transmit count. */
struct bcast {
    uint32_t name; /* member name id; 0 = free slot */
    uint32_t transmits;
    /* Metadata of this member is being disseminated: the queued update, or
     * one it replaced, carried it. */
    bool fresh_meta;
    uint32_t prev, next; /* 1-based slots; 0 = none */
    uint32_t len;
    uint8_t *data; /* encoded Update, cl_malloc'd, owned */
};

/* Suspicion of one member [LG IV.B]: the accuser and the distinct members
 * that confirmed it; the deadline shrinks as confirmations arrive. */
struct susp {
    uint32_t name;      /* 0 = free slot */
    uint32_t next_free; /* 1-based, while free */
    uint32_t gen;
    uint32_t incarnation;
    uint16_t n; /* confirmations */
    uint16_t k; /* confirmations that bring the timeout to min */
    uint16_t n_from;
    int64_t start;
    int64_t deadline;
    size_t cluster_n;     /* live members when it started */
    uint32_t final_seq;   /* of our last-chance pings */
    uint16_t final_pings; /* last-chance pings sent */
    uint32_t from[SUSP_FROM_MAX + 1];
};

enum timer_kind { T_SUSP = 1, T_REAP = 2 };

struct timer {
    int64_t at;
    uint32_t name;
    uint32_t gen;
    uint32_t kind;
};

/* A ping-req we serve for another member [SWIM 3.1]. */
struct relay {
    uint32_t seq;     /* of our ping to the target */
    uint32_t req_seq; /* of the requester's probe */
    struct swim_addr req_addr;
    int64_t nack_at;
    int64_t expire;
    bool nack;
    bool nack_sent;
};

/* A last-chance check in progress: the seq its pings carry. */
struct final_check {
    uint32_t seq;
    uint32_t name;
    uint32_t gen;
};

#define FINALS_MAX 64

struct probe {
    bool active;
    uint32_t target; /* name id */
    uint32_t seq;
    int64_t start;
    int64_t end;     /* end of this (scaled) protocol period */
    int64_t next_at; /* next stage */
    int64_t timeout; /* scaled probe timeout */
    unsigned attempts;
    bool indirect_sent;
    unsigned expected_nacks;
    unsigned nacks;
};

struct swim {
    struct swim_config cfg;
    struct swim_io *io;
    cl_rng *rng;
    struct swim_pool *pool;
    bool own_pool;
    struct swim__table *names;
    struct swim__table *values;

    uint32_t self; /* our name id */
    struct swim_addr self_addr;

    struct member *members; /* n_members entries, cap_members allocated */
    uint32_t n_members;
    uint32_t cap_members;
    uint32_t *by_name; /* name id -> 1 + member index */
    uint32_t by_name_cap;
    uint32_t *order; /* probe order: member indexes */
    uint32_t probe_pos;
    size_t counts[4];

    struct bcast *bcasts;
    uint32_t n_bcast_slots;
    uint32_t bcast_free; /* 1-based free list through .next */
    uint32_t bcast_heads[BCAST_LISTS];
    uint32_t n_bcast;

    struct susp *susps;
    uint32_t n_susp_slots;
    uint32_t susp_free; /* 1-based free list through .next_free */
    uint32_t susp_gen;

    struct timer *timers; /* binary min-heap on .at */
    size_t n_timers;
    size_t cap_timers;

    struct relay *relays;
    size_t n_relays;
    size_t cap_relays;

    struct final_check finals[FINALS_MAX];
    unsigned n_finals;

    struct probe probe;
    uint32_t seq;
    unsigned health; /* [LG IV.A] local health score */

    int64_t probe_next;
    int64_t gossip_next;
    int64_t push_pull_next;
    int64_t reconnect_next;

    struct swim_addr *seeds;
    size_t n_seeds;
    bool join_pending;
    int64_t join_next;

    bool leaving;
    uint64_t left_sends;

    uint32_t sessions[SESSIONS_MAX];
    unsigned session_pos;

    uint8_t *out; /* packet being built, out_cap bytes */
    size_t out_cap;
    uint8_t *scratch; /* push-pull body being built */
    uint8_t upd[SWIM__UPDATE_MAX];

    struct swim_stats stats;
};

/* ------------------------------------------------------------------------ */
/* Configuration. */

void swim_config_default(struct swim_config *c)
{
    memset(c, 0, sizeof(*c));
    c->probe_interval_ms = 200;
    c->probe_timeout_ms = 10;
    c->probe_attempts = 18;
    c->indirect_checks = 3;
    c->gossip_interval_ms = 100;
    c->gossip_fanout = 3;
    c->gossip_to_dead_ms = 5000;
    c->retransmit_mult = 3;
    c->suspicion_mult = 2;
    c->suspicion_max_mult = 3;
    c->suspicion_confirmations = 3;
    c->final_checks = 3;
    c->awareness_max = 8;
    c->push_pull_interval_ms = 10000;
    c->reconnect_interval_ms = 10000;
    c->dead_retention_ms = 300000;
    c->join_retry_ms = 1000;
    c->max_packet = 1400;
    c->lifeguard = SWIM_LIFEGUARD_ALL;
    c->pool = NULL;
}

int swim_config_check(const struct swim_config *c, char *why, size_t len)
{
    const char *msg = NULL;
    if (c->probe_interval_ms <= 0 || c->probe_timeout_ms <= 0)
        msg = "probe interval and timeout must be positive";
    else if (c->probe_attempts < 1)
        msg = "probe_attempts must be at least 1";
    else if ((int64_t)c->probe_attempts * c->probe_timeout_ms >=
             c->probe_interval_ms)
        msg = "probe_attempts * probe_timeout must be below probe_interval";
    else if (c->gossip_interval_ms <= 0 || c->gossip_fanout < 1)
        msg = "gossip interval and fanout must be positive";
    else if (c->retransmit_mult < 1)
        msg = "retransmit_mult must be at least 1";
    else if (c->suspicion_mult < 1 || c->suspicion_max_mult < 1)
        msg = "suspicion multipliers must be at least 1";
    else if (c->suspicion_confirmations > SUSP_FROM_MAX)
        msg = "suspicion_confirmations is at most 16";
    else if (c->final_checks > 16)
        msg = "final_checks is at most 16";
    else if (c->awareness_max < 1)
        msg = "awareness_max must be at least 1";
    else if (c->push_pull_interval_ms < 0 || c->reconnect_interval_ms < 0 ||
             c->dead_retention_ms < 0 || c->gossip_to_dead_ms < 0)
        msg = "intervals must not be negative";
    else if (c->join_retry_ms <= 0)
        msg = "join_retry_ms must be positive";
    else if (c->max_packet < 576 || c->max_packet > SWIM_PACKET_MAX)
        msg = "max_packet must be within 576..65507";
    else if (c->lifeguard & ~(unsigned)SWIM_LIFEGUARD_ALL)
        msg = "unknown lifeguard flags";
    if (msg == NULL)
        return 0;
    if (why != NULL && len > 0)
        snprintf(why, len, "%s", msg);
    return CL_EINVAL;
}

static double node_scale(size_t n)
{
    double s = n > 1 ? log10((double)n) : 1.0;
    return s < 1.0 ? 1.0 : s;
}

/* [LG IV.B]: "the suspicion timeout starts at Max and decays toward Min
 * logarithmically with the number of independent confirmations", k of them
 * reaching Min. As in memberlist, k is 0 (timeout Min) when the cluster is
 * too small to ever produce k confirmations. */
int64_t swim_suspicion_timeout(const struct swim_config *c, size_t n,
                               unsigned confirmations)
{
    double min = (double)c->suspicion_mult * node_scale(n) *
                 (double)c->probe_interval_ms;
    if (!(c->lifeguard & SWIM_LIFEGUARD_SUSPICION))
        return (int64_t)min;
    unsigned k = c->suspicion_confirmations;
    if (n < (size_t)k + 2)
        k = 0;
    if (k == 0 || confirmations >= k)
        return (int64_t)min;
    double max = (double)c->suspicion_max_mult * min;
    double frac = log((double)confirmations + 1.0) / log((double)k + 1.0);
    double t = max - (max - min) * frac;
    return (int64_t)(t < min ? min : t);
}

unsigned swim_retransmit_limit(const struct swim_config *c, size_t n)
{
    /* ceil(log10(n + 1)), as memberlist's retransmitLimit. */
    unsigned d = 0;
    for (uint64_t p = 1; p < (uint64_t)n + 1; p *= 10)
        d++;
    if (d == 0)
        d = 1;
    return c->retransmit_mult * d;
}

const char *swim_state_name(enum swim_state st)
{
    switch (st) {
    case SWIM_ALIVE:
        return "alive";
    case SWIM_SUSPECT:
        return "suspect";
    case SWIM_DEAD:
        return "dead";
    case SWIM_LEFT:
        return "left";
    }
    return "unknown";
}

const char *swim_event_name(enum swim_event_type t)
{
    switch (t) {
    case SWIM_EV_JOINED:
        return "joined";
    case SWIM_EV_UPDATED:
        return "updated";
    case SWIM_EV_SUSPECT:
        return "suspect";
    case SWIM_EV_ALIVE:
        return "alive";
    case SWIM_EV_DEAD:
        return "dead";
    case SWIM_EV_LEFT:
        return "left";
    }
    return "unknown";
}

/* ------------------------------------------------------------------------ */
/* Small helpers. */

static inline int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static inline bool is_live(uint8_t st)
{
    return st == SWIM_ALIVE || st == SWIM_SUSPECT;
}

static inline size_t live_count(const struct swim *s)
{
    return s->counts[SWIM_ALIVE] + s->counts[SWIM_SUSPECT];
}

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline struct member *by_name(const struct swim *s, uint32_t id)
{
    if (id == 0 || id >= s->by_name_cap || s->by_name[id] == 0)
        return NULL;
    return &s->members[s->by_name[id] - 1];
}

static struct member *find(const struct swim *s, const char *name, size_t len)
{
    return by_name(s, swim__lookup(s->names, name, len));
}

static inline struct member *self_member(const struct swim *s)
{
    return by_name(s, s->self);
}

static inline const struct swim__blob *name_blob(const struct swim *s,
                                                 const struct member *m)
{
    return swim__blob(s->names, m->name);
}

static void member_addr(const struct swim *s, const struct member *m,
                        struct swim_addr *a)
{
    const struct swim__blob *b = swim__blob(s->values, m->addr);
    swim__addr_decode(b->data, b->len, a);
}

static bool meta_equal(const struct swim *s, const struct member *m,
                       const uint8_t *meta, size_t len)
{
    if (m->meta == 0)
        return len == 0;
    const struct swim__blob *b = swim__blob(s->values, m->meta);
    return b->len == len && memcmp(b->data, meta, len) == 0;
}

static uint32_t next_seq(struct swim *s)
{
    if (++s->seq == 0)
        s->seq = 1;
    return s->seq;
}

static void fill_info(const struct swim *s, const struct member *m,
                      struct swim_member_info *out)
{
    memset(out, 0, sizeof(*out));
    out->name = (const char *)name_blob(s, m)->data;
    member_addr(s, m, &out->addr);
    out->state = (enum swim_state)m->state;
    out->incarnation = m->incarnation;
    out->meta_version = m->meta_version;
    if (m->meta != 0) {
        const struct swim__blob *b = swim__blob(s->values, m->meta);
        out->meta = b->data;
        out->meta_len = b->len;
    }
    out->state_since = m->state_time;
    out->is_self = m->name == s->self;
}

static void emit(struct swim *s, enum swim_event_type type,
                 const struct member *m, bool origin)
{
    if (s->io->event == NULL)
        return;
    struct swim_event ev;
    ev.type = type;
    ev.origin = origin;
    fill_info(s, m, &ev.member);
    s->io->event(s->io, &ev);
}

/* ------------------------------------------------------------------------ */
/* Timer heap (suspicion expiries and reaping). */

static int timer_push(struct swim *s, int64_t at, uint32_t name, uint32_t gen,
                      enum timer_kind kind)
{
    if (s->n_timers == s->cap_timers) {
        size_t cap = s->cap_timers ? s->cap_timers * 2 : 16;
        struct timer *t = cl_realloc(s->timers, cap * sizeof(*t));
        if (t == NULL)
            return CL_ENOMEM;
        s->timers = t;
        s->cap_timers = cap;
    }
    size_t i = s->n_timers++;
    struct timer x = {at, name, gen, kind};
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (s->timers[p].at <= at)
            break;
        s->timers[i] = s->timers[p];
        i = p;
    }
    s->timers[i] = x;
    return 0;
}

static struct timer timer_pop(struct swim *s)
{
    struct timer top = s->timers[0];
    struct timer x = s->timers[--s->n_timers];
    size_t n = s->n_timers, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && s->timers[c + 1].at < s->timers[c].at)
            c++;
        if (x.at <= s->timers[c].at)
            break;
        s->timers[i] = s->timers[c];
        i = c;
    }
    if (n > 0)
        s->timers[i] = x;
    return top;
}

/* ------------------------------------------------------------------------ */
/* Sending. */

static void xsend(struct swim *s, const struct swim_addr *to,
                  const uint8_t *buf, size_t len)
{
    s->stats.packets_sent++;
    s->stats.bytes_sent += len + SWIM_SEAL_OVERHEAD;
    if (s->io->send(s->io, to, buf, len) != 0)
        s->stats.send_errors++;
}

static void wbuf_start(struct swim *s, struct swim__wbuf *w)
{
    w->buf = s->out;
    w->len = 0;
    w->cap = s->out_cap;
}

/* ------------------------------------------------------------------------ */
/* Broadcast queue: updates waiting to be piggybacked or gossiped, each sent
 * retransmit_mult * ceil(log10(n + 1)) times, fewest transmissions first
 * ([SWIM 4.1] "infection-style dissemination", memberlist's
 * TransmitLimitedQueue). */

static void bcast_unlink(struct swim *s, uint32_t slot)
{
    struct bcast *b = &s->bcasts[slot - 1];
    uint32_t list = b->transmits < BCAST_LISTS ? b->transmits : BCAST_LISTS - 1;
    if (b->prev)
        s->bcasts[b->prev - 1].next = b->next;
    else
        s->bcast_heads[list] = b->next;
    if (b->next)
        s->bcasts[b->next - 1].prev = b->prev;
    b->prev = b->next = 0;
}

static void bcast_link(struct swim *s, uint32_t slot)
{
    struct bcast *b = &s->bcasts[slot - 1];
    uint32_t list = b->transmits < BCAST_LISTS ? b->transmits : BCAST_LISTS - 1;
    b->prev = 0;
    b->next = s->bcast_heads[list];
    if (b->next)
        s->bcasts[b->next - 1].prev = slot;
    s->bcast_heads[list] = slot;
}

/* bcast_release - free an unlinked slot. */
static void bcast_release(struct swim *s, uint32_t slot)
{
    struct bcast *b = &s->bcasts[slot - 1];
    struct member *m = by_name(s, b->name);
    if (m != NULL && m->bcast == slot)
        m->bcast = 0;
    cl_free(b->data);
    b->data = NULL;
    b->name = 0;
    b->next = s->bcast_free;
    s->bcast_free = slot;
    s->n_bcast--;
}

static void bcast_drop(struct swim *s, uint32_t slot)
{
    bcast_unlink(s, slot);
    bcast_release(s, slot);
}

/* bcast_put - queue the update u about member m, replacing any queued update
 * about m. A newer Alive without metadata (a refutation) that replaces a
 * queued update while m's metadata is still being disseminated takes the
 * metadata along, so that members that missed it do not have to wait for a
 * push-pull. Returns 0 or
 * CL_ENOMEM (the update is then not disseminated by us; others and
 * push-pull still spread it). */
static int bcast_put(struct swim *s, struct member *m,
                     const struct swim__update *u)
{
    struct swim__update with;
    bool fresh = m->bcast != 0 && s->bcasts[m->bcast - 1].fresh_meta;
    if (u->state == SWIM_ALIVE && !u->has_meta && fresh &&
        u->meta_version == m->meta_version && !(m->flags & MF_META_STALE)) {
        with = *u;
        with.has_meta = true;
        with.meta = NULL;
        with.meta_len = 0;
        if (m->meta != 0) {
            const struct swim__blob *mb = swim__blob(s->values, m->meta);
            with.meta = mb->data;
            with.meta_len = mb->len;
        }
        u = &with;
    }
    size_t len = swim__encode_update(u, s->upd, sizeof(s->upd));
    if (len == 0)
        return CL_EINVAL;
    uint8_t *data = cl_malloc(len);
    if (data == NULL)
        return CL_ENOMEM;
    memcpy(data, s->upd, len);
    uint32_t slot = m->bcast;
    if (slot != 0) {
        struct bcast *b = &s->bcasts[slot - 1];
        bcast_unlink(s, slot);
        cl_free(b->data);
    } else {
        if (s->bcast_free == 0) {
            uint32_t n = s->n_bcast_slots ? s->n_bcast_slots * 2 : 16;
            struct bcast *nb = cl_realloc(s->bcasts, n * sizeof(*nb));
            if (nb == NULL) {
                cl_free(data);
                return CL_ENOMEM;
            }
            s->bcasts = nb;
            for (uint32_t i = n; i > s->n_bcast_slots; i--) {
                memset(&nb[i - 1], 0, sizeof(nb[i - 1]));
                nb[i - 1].next = s->bcast_free;
                s->bcast_free = i;
            }
            s->n_bcast_slots = n;
        }
        slot = s->bcast_free;
        s->bcast_free = s->bcasts[slot - 1].next;
        s->n_bcast++;
        m->bcast = slot;
    }
    struct bcast *b = &s->bcasts[slot - 1];
    b->name = m->name;
    b->transmits = 0;
    b->fresh_meta = is_live(u->state) && (fresh || u->has_meta);
    b->data = data;
    b->len = (uint32_t)len;
    bcast_link(s, slot);
    return 0;
}

/* fill_updates - append queued updates to w while they fit, fewest
 * transmissions first; count the transmissions and retire updates that
 * reached the limit. */
static void fill_updates(struct swim *s, struct swim__wbuf *w)
{
    if (s->n_bcast == 0)
        return;
    unsigned limit = swim_retransmit_limit(&s->cfg, live_count(s));
    if (limit > BCAST_LISTS - 1)
        limit = BCAST_LISTS - 1;
    uint32_t taken[SWIM__MAX_UPDATES];
    size_t n_taken = 0;
    unsigned scanned = 0;
    for (unsigned t = 0; t < BCAST_LISTS && n_taken < SWIM__MAX_UPDATES; t++) {
        uint32_t slot = s->bcast_heads[t];
        while (slot != 0 && n_taken < SWIM__MAX_UPDATES) {
            struct bcast *b = &s->bcasts[slot - 1];
            uint32_t next = b->next;
            if (t >= limit) {
                /* The limit shrank with the cluster: retire. */
                bcast_drop(s, slot);
            } else if (swim__field_size(b->len) <= w->cap - w->len) {
                swim__put_field(w, SWIM__TAG_PACKET_UPDATE, b->data, b->len);
                taken[n_taken++] = slot;
            } else if (++scanned > 64) {
                goto done;
            }
            slot = next;
        }
        if (w->cap - w->len < 16)
            break;
    }
done:
    for (size_t i = 0; i < n_taken; i++) {
        uint32_t slot = taken[i];
        struct bcast *b = &s->bcasts[slot - 1];
        if (b->name == s->self && s->leaving)
            s->left_sends++;
        s->stats.updates_sent++;
        bcast_unlink(s, slot);
        b->transmits++;
        if (b->transmits >= limit)
            bcast_release(s, slot);
        else
            bcast_link(s, slot);
    }
}

/* ------------------------------------------------------------------------ */
/* Suspicions. */

static struct susp *susp_of(const struct swim *s, const struct member *m)
{
    return m->susp ? &s->susps[m->susp - 1] : NULL;
}

static void susp_clear(struct swim *s, struct member *m)
{
    if (m->susp == 0)
        return;
    struct susp *x = &s->susps[m->susp - 1];
    x->name = 0;
    x->next_free = s->susp_free;
    s->susp_free = m->susp;
    m->susp = 0;
}

static uint32_t susp_alloc(struct swim *s)
{
    if (s->susp_free == 0) {
        uint32_t n = s->n_susp_slots ? s->n_susp_slots * 2 : 8;
        struct susp *ns = cl_realloc(s->susps, n * sizeof(*ns));
        if (ns == NULL)
            return 0;
        s->susps = ns;
        for (uint32_t i = n; i > s->n_susp_slots; i--) {
            memset(&ns[i - 1], 0, sizeof(ns[i - 1]));
            ns[i - 1].next_free = s->susp_free;
            s->susp_free = i;
        }
        s->n_susp_slots = n;
    }
    uint32_t slot = s->susp_free;
    s->susp_free = s->susps[slot - 1].next_free;
    return slot;
}

/* susp_start - m becomes suspect at `incarnation`, accused by `from` (a name
 * id, 0 when unknown). The accuser does not count as a confirmation
 * [LG IV.B]. */
static int susp_start(struct swim *s, struct member *m, uint32_t from,
                      int64_t now)
{
    susp_clear(s, m);
    uint32_t slot = susp_alloc(s);
    if (slot == 0)
        return CL_ENOMEM;
    struct susp *x = &s->susps[slot - 1];
    memset(x, 0, sizeof(*x));
    x->name = m->name;
    x->gen = ++s->susp_gen;
    x->incarnation = m->incarnation;
    x->cluster_n = live_count(s);
    x->k = (uint16_t)s->cfg.suspicion_confirmations;
    if (x->cluster_n < (size_t)x->k + 2)
        x->k = 0;
    x->start = now;
    if (from != 0)
        x->from[x->n_from++] = from;
    x->deadline = now + swim_suspicion_timeout(&s->cfg, x->cluster_n, 0);
    m->susp = slot;
    if (timer_push(s, x->deadline, m->name, x->gen, T_SUSP) != 0) {
        susp_clear(s, m);
        return CL_ENOMEM;
    }
    return 0;
}

/* susp_confirm - an independent confirmation from `from`. Returns true when
 * it is new (and so worth passing on). */
static bool susp_confirm(struct swim *s, struct member *m, uint32_t from)
{
    struct susp *x = susp_of(s, m);
    if (x == NULL || from == 0 || from == m->name)
        return false;
    if (!(s->cfg.lifeguard & SWIM_LIFEGUARD_SUSPICION))
        return false;
    if (x->n >= x->k)
        return false;
    for (unsigned i = 0; i < x->n_from; i++)
        if (x->from[i] == from)
            return false;
    if (x->n_from < SUSP_FROM_MAX + 1)
        x->from[x->n_from++] = from;
    x->n++;
    int64_t d = x->start + swim_suspicion_timeout(&s->cfg, x->cluster_n, x->n);
    if (d < x->deadline) {
        x->deadline = d;
        timer_push(s, d, m->name, x->gen, T_SUSP);
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* The member table. */

static void set_state(struct swim *s, struct member *m, enum swim_state st,
                      int64_t now)
{
    if (m->state != st) {
        s->counts[m->state]--;
        s->counts[st]++;
        m->state = (uint8_t)st;
    }
    m->state_time = now;
    if (st != SWIM_SUSPECT)
        susp_clear(s, m);
    if ((st == SWIM_DEAD || st == SWIM_LEFT) && m->name != s->self)
        timer_push(s, now + s->cfg.dead_retention_ms, m->name, 0, T_REAP);
}

static int reserve_members(struct swim *s, uint32_t extra)
{
    if (s->n_members + extra <= s->cap_members)
        return 0;
    uint32_t cap = s->cap_members ? s->cap_members : 16;
    while (cap < s->n_members + extra)
        cap *= 2;
    struct member *m = cl_realloc(s->members, cap * sizeof(*m));
    if (m == NULL)
        return CL_ENOMEM;
    s->members = m;
    uint32_t *o = cl_realloc(s->order, cap * sizeof(*o));
    if (o == NULL)
        return CL_ENOMEM;
    s->order = o;
    s->cap_members = cap;
    return 0;
}

static int reserve_by_name(struct swim *s, uint32_t id)
{
    if (id < s->by_name_cap)
        return 0;
    uint32_t cap = s->by_name_cap ? s->by_name_cap : 16;
    while (cap <= id)
        cap *= 2;
    uint32_t *b = cl_realloc(s->by_name, cap * sizeof(*b));
    if (b == NULL)
        return CL_ENOMEM;
    memset(b + s->by_name_cap, 0, (cap - s->by_name_cap) * sizeof(*b));
    s->by_name = b;
    s->by_name_cap = cap;
    return 0;
}

/* insert - put a member whose name, address and meta references the caller
 * already holds into the table, at a random place of the probe order
 * ([SWIM 4.3]: new members are inserted at random positions so that the
 * round-robin stays a random permutation). */
static struct member *insert(struct swim *s, uint32_t name, uint32_t addr,
                             uint32_t meta, enum swim_state st, int64_t now)
{
    if (reserve_members(s, 1) != 0 || reserve_by_name(s, name) != 0)
        return NULL;
    uint32_t i = s->n_members++;
    struct member *m = &s->members[i];
    memset(m, 0, sizeof(*m));
    m->name = name;
    m->addr = addr;
    m->meta = meta;
    m->state = (uint8_t)st;
    m->state_time = now;
    s->counts[st]++;
    s->by_name[name] = i + 1;
    s->order[i] = i;
    m->order = i;
    uint32_t j = (uint32_t)cl_rng_below(s->rng, (uint64_t)i + 1);
    if (j != i) {
        uint32_t other = s->order[j];
        s->order[j] = i;
        m->order = j;
        s->order[i] = other;
        s->members[other].order = i;
    }
    return m;
}

static struct member *add_member(struct swim *s, const char *name, size_t len,
                                 const struct swim_addr *addr, int64_t now)
{
    uint8_t abuf[18];
    size_t alen = swim__addr_encode(addr, abuf);
    uint32_t nid = swim__intern(s->names, name, len);
    if (nid == 0)
        return NULL;
    uint32_t aid = swim__intern(s->values, abuf, alen);
    if (aid == 0) {
        swim__unref(s->names, nid);
        return NULL;
    }
    struct member *m = insert(s, nid, aid, 0, SWIM_ALIVE, now);
    if (m == NULL) {
        swim__unref(s->values, aid);
        swim__unref(s->names, nid);
    }
    return m;
}

static void remove_member(struct swim *s, struct member *m)
{
    uint32_t idx = (uint32_t)(m - s->members);
    if (m->bcast)
        bcast_drop(s, m->bcast);
    susp_clear(s, m);
    s->counts[m->state]--;
    if (s->probe.active && s->probe.target == m->name)
        s->probe.active = false;
    s->by_name[m->name] = 0;
    swim__unref(s->names, m->name);
    swim__unref(s->values, m->addr);
    swim__unref(s->values, m->meta);
    /* Probe order: the last position fills the hole. */
    uint32_t last = s->n_members - 1;
    uint32_t o = m->order;
    s->order[o] = s->order[last];
    s->members[s->order[o]].order = o;
    /* Member table: the last member fills the hole. */
    if (idx != last) {
        s->members[idx] = s->members[last];
        struct member *moved = &s->members[idx];
        s->by_name[moved->name] = idx + 1;
        s->order[moved->order] = idx;
    }
    s->n_members--;
}

static int set_meta_bytes(struct swim *s, struct member *m, const uint8_t *meta,
                          size_t len)
{
    uint32_t id = 0;
    if (len > 0) {
        id = swim__intern(s->values, meta, len);
        if (id == 0)
            return CL_ENOMEM;
    }
    swim__unref(s->values, m->meta);
    m->meta = id;
    return 0;
}

static int set_addr(struct swim *s, struct member *m, const struct swim_addr *a)
{
    uint8_t abuf[18];
    size_t alen = swim__addr_encode(a, abuf);
    uint32_t id = swim__intern(s->values, abuf, alen);
    if (id == 0)
        return CL_ENOMEM;
    swim__unref(s->values, m->addr);
    m->addr = id;
    return 0;
}

/* make_update - the update that states what we believe of m. */
static void make_update(const struct swim *s, const struct member *m,
                        bool with_meta, uint32_t from, struct swim__update *u)
{
    memset(u, 0, sizeof(*u));
    const struct swim__blob *nb = name_blob(s, m);
    u->state = (enum swim_state)m->state;
    u->name = (const char *)nb->data;
    u->name_len = nb->len;
    u->incarnation = m->incarnation;
    u->has_addr = true;
    member_addr(s, m, &u->addr);
    u->meta_version = m->meta_version;
    if (with_meta) {
        u->has_meta = true;
        if (m->meta != 0) {
            const struct swim__blob *mb = swim__blob(s->values, m->meta);
            u->meta = mb->data;
            u->meta_len = mb->len;
        }
    }
    u->from = "";
    if (from != 0) {
        const struct swim__blob *fb = swim__blob(s->names, from);
        u->from = (const char *)fb->data;
        u->from_len = fb->len;
    }
}

/* announce - queue what we believe of m for dissemination. */
static void announce(struct swim *s, struct member *m, bool with_meta,
                     uint32_t from)
{
    struct swim__update u;
    make_update(s, m, with_meta, from, &u);
    bcast_put(s, m, &u);
}

/* ------------------------------------------------------------------------ */
/* Random choices. */

typedef bool (*member_filter)(const struct swim *s, const struct member *m,
                              int64_t now);

/* pick - up to k distinct members passing `ok`, other than self and
 * `exclude` (a name id or 0), into out (member name ids). Random draws with
 * rejection, falling back to a scan when eligible members are rare. */
static size_t pick(struct swim *s, size_t k, member_filter ok, uint32_t exclude,
                   int64_t now, uint32_t *out)
{
    size_t got = 0;
    uint32_t n = s->n_members;
    if (n == 0 || k == 0)
        return 0;
    unsigned tries = (unsigned)(4 * k + 16);
    while (got < k && tries-- > 0) {
        const struct member *m = &s->members[cl_rng_below(s->rng, n)];
        if (m->name == s->self || m->name == exclude || !ok(s, m, now))
            continue;
        bool dup = false;
        for (size_t i = 0; i < got; i++)
            dup |= out[i] == m->name;
        if (!dup)
            out[got++] = m->name;
    }
    if (got == k)
        return got;
    /* Scan from a random start; reservoir-free but still unbiased enough for
     * the rare case it serves (few eligible members). */
    uint32_t start = (uint32_t)cl_rng_below(s->rng, n);
    for (uint32_t j = 0; j < n && got < k; j++) {
        const struct member *m = &s->members[(start + j) % n];
        if (m->name == s->self || m->name == exclude || !ok(s, m, now))
            continue;
        bool dup = false;
        for (size_t i = 0; i < got; i++)
            dup |= out[i] == m->name;
        if (!dup)
            out[got++] = m->name;
    }
    return got;
}

static bool f_alive(const struct swim *s, const struct member *m, int64_t now)
{
    (void)s;
    (void)now;
    return m->state == SWIM_ALIVE;
}

static bool f_gossip(const struct swim *s, const struct member *m, int64_t now)
{
    if (is_live(m->state))
        return true;
    return m->state == SWIM_DEAD &&
           now - m->state_time < s->cfg.gossip_to_dead_ms;
}

static bool f_dead(const struct swim *s, const struct member *m, int64_t now)
{
    (void)s;
    (void)now;
    return m->state == SWIM_DEAD;
}

/* ------------------------------------------------------------------------ */
/* Local health [LG IV.A]. */

static void health_add(struct swim *s, int delta)
{
    if (!(s->cfg.lifeguard & SWIM_LIFEGUARD_LHM))
        return;
    int h = (int)s->health + delta;
    int max = (int)s->cfg.awareness_max - 1;
    s->health = (unsigned)(h < 0 ? 0 : h > max ? max : h);
}

static int64_t scaled(const struct swim *s, int64_t t)
{
    return t * (int64_t)(s->health + 1);
}

/* ------------------------------------------------------------------------ */
/* Merging what others tell us. The ordering of [SWIM 4.2]: a higher
 * incarnation overrides; at the same incarnation Suspect overrides Alive and
 * Dead (or Left) overrides both. */

/* refute - someone believes we are suspect, dead, left, or at a newer
 * incarnation than ours: "the member ... increments its incarnation number
 * and disseminates an Alive message" [SWIM 4.2]. When their copy of our
 * metadata may differ from ours (a restarted process), the metadata goes
 * out again under a higher meta_version. */
static void refute(struct swim *s, const struct swim__update *u, bool accused)
{
    struct member *me = self_member(s);
    uint32_t inc =
        u->incarnation > me->incarnation ? u->incarnation : me->incarnation;
    me->incarnation = inc + 1;
    bool with_meta = false;
    if (u->meta_version != me->meta_version ||
        (u->has_meta && !meta_equal(s, me, u->meta, u->meta_len))) {
        if (u->meta_version >= me->meta_version)
            me->meta_version = u->meta_version + 1;
        with_meta = true;
    }
    s->stats.refutes++;
    if (accused)
        health_add(s, 1);
    announce(s, me, with_meta, 0);
}

/* refute_or_remind - an accusation about ourselves: refute one at or above
 * our incarnation; for an older one, someone missed our last refutation and
 * still spreads the accusation, so our current Alive goes out again (unless
 * it is still queued). */
static void refute_or_remind(struct swim *s, struct member *me,
                             const struct swim__update *u)
{
    if (u->incarnation >= me->incarnation)
        refute(s, u, true);
    else if (me->bcast == 0)
        announce(s, me, false, 0);
}

static int on_alive(struct swim *s, const struct swim__update *u, int64_t now)
{
    struct member *m = find(s, u->name, u->name_len);
    if (m != NULL && m->name == s->self) {
        if (s->leaving)
            return 0;
        if (u->incarnation > m->incarnation ||
            (u->incarnation == m->incarnation &&
             (u->meta_version != m->meta_version ||
              (u->has_meta && !meta_equal(s, m, u->meta, u->meta_len)) ||
              !swim_addr_equal(&u->addr, &s->self_addr))))
            refute(s, u, false);
        return 0;
    }
    if (m == NULL) {
        m = add_member(s, u->name, u->name_len, &u->addr, now);
        if (m == NULL)
            return CL_ENOMEM;
        m->incarnation = u->incarnation;
        if (u->has_meta) {
            if (set_meta_bytes(s, m, u->meta, u->meta_len) != 0) {
                remove_member(s, m);
                return CL_ENOMEM;
            }
            m->meta_version = u->meta_version;
        } else if (u->meta_version != 0) {
            m->flags |= MF_META_STALE;
        }
        emit(s, SWIM_EV_JOINED, m, false);
        bcast_put(s, m, u);
        return 0;
    }
    struct swim_addr cur;
    member_addr(s, m, &cur);
    bool addr_same = swim_addr_equal(&cur, &u->addr);
    if (u->incarnation > m->incarnation) {
        if (!addr_same) {
            if (is_live(m->state)) {
                /* Two live processes claim one name (memberlist's "name
                 * conflict"): keep the one we know until it is declared
                 * dead. */
                s->stats.conflicts++;
                return 0;
            }
            if (set_addr(s, m, &u->addr) != 0)
                return CL_ENOMEM;
        }
        enum swim_state prev = (enum swim_state)m->state;
        bool meta_changed = false;
        if (u->has_meta) {
            if (u->meta_version != m->meta_version ||
                !meta_equal(s, m, u->meta, u->meta_len)) {
                if (set_meta_bytes(s, m, u->meta, u->meta_len) != 0)
                    return CL_ENOMEM;
                meta_changed = true;
            }
            m->meta_version = u->meta_version;
            m->flags &= (uint8_t)~MF_META_STALE;
        } else if (u->meta_version != m->meta_version) {
            m->flags |= MF_META_STALE;
        }
        m->incarnation = u->incarnation;
        if (prev != SWIM_ALIVE)
            set_state(s, m, SWIM_ALIVE, now);
        if (prev != SWIM_ALIVE)
            emit(s, SWIM_EV_ALIVE, m, false);
        if (meta_changed)
            emit(s, SWIM_EV_UPDATED, m, false);
        bcast_put(s, m, u);
        return 0;
    }
    /* The same incarnation, with metadata we lack (a push-pull filling in
     * after a refutation that travelled without metadata). */
    if (u->incarnation == m->incarnation && u->has_meta && addr_same &&
        is_live(m->state) &&
        ((m->flags & MF_META_STALE) || u->meta_version > m->meta_version)) {
        bool changed = !meta_equal(s, m, u->meta, u->meta_len);
        if (changed && set_meta_bytes(s, m, u->meta, u->meta_len) != 0)
            return CL_ENOMEM;
        m->meta_version = u->meta_version;
        m->flags &= (uint8_t)~MF_META_STALE;
        if (changed)
            emit(s, SWIM_EV_UPDATED, m, false);
    }
    return 0;
}

static int on_suspect(struct swim *s, const struct swim__update *u, int64_t now)
{
    struct member *m = find(s, u->name, u->name_len);
    if (m == NULL)
        return 0;
    if (m->name == s->self) {
        if (!s->leaving)
            refute_or_remind(s, m, u);
        return 0;
    }
    if (u->incarnation < m->incarnation || !is_live(m->state))
        return 0;
    uint32_t from =
        u->from_len ? swim__lookup(s->names, u->from, u->from_len) : 0;
    if (m->state == SWIM_SUSPECT && u->incarnation == m->incarnation) {
        /* "Confirmations" [LG IV.B]: a suspicion of the same incarnation
         * from another member. Passed on so that every member's timer
         * shrinks, as memberlist does. */
        if (susp_confirm(s, m, from))
            bcast_put(s, m, u);
        return 0;
    }
    bool was_alive = m->state == SWIM_ALIVE;
    m->incarnation = u->incarnation;
    set_state(s, m, SWIM_SUSPECT, now);
    if (susp_start(s, m, from, now) != 0)
        return CL_ENOMEM;
    if (was_alive)
        emit(s, SWIM_EV_SUSPECT, m, false);
    bcast_put(s, m, u);
    return 0;
}

static int on_dead(struct swim *s, const struct swim__update *u, int64_t now)
{
    struct member *m = find(s, u->name, u->name_len);
    if (m == NULL)
        return 0;
    if (m->name == s->self) {
        if (!s->leaving)
            refute_or_remind(s, m, u);
        return 0;
    }
    if (u->incarnation < m->incarnation || m->state == SWIM_LEFT)
        return 0;
    if (m->state == SWIM_DEAD && u->state != SWIM_LEFT)
        return 0;
    m->incarnation = u->incarnation;
    set_state(s, m, u->state, now);
    emit(s, u->state == SWIM_LEFT ? SWIM_EV_LEFT : SWIM_EV_DEAD, m, false);
    bcast_put(s, m, u);
    return 0;
}

static int apply_update(struct swim *s, const struct swim__update *u,
                        int64_t now)
{
    s->stats.updates_recv++;
    switch (u->state) {
    case SWIM_ALIVE:
        return on_alive(s, u, now);
    case SWIM_SUSPECT:
        return on_suspect(s, u, now);
    case SWIM_DEAD:
    case SWIM_LEFT:
        return on_dead(s, u, now);
    }
    return 0;
}

/* merge_entry - one push-pull entry, by memberlist's mergeState rules: a
 * remote "dead" only makes us suspect (we check for ourselves), and a
 * member we never heard of that the peer suspects is first learned as
 * alive. */
static int merge_entry(struct swim *s, const struct swim__update *e,
                       int64_t now)
{
    struct swim__update u = *e;
    switch (e->state) {
    case SWIM_ALIVE:
        return on_alive(s, &u, now);
    case SWIM_LEFT:
        return on_dead(s, &u, now);
    case SWIM_DEAD:
    case SWIM_SUSPECT:
        u.state = SWIM_SUSPECT;
        u.from = "";
        u.from_len = 0;
        if (e->state == SWIM_SUSPECT && e->has_addr &&
            find(s, e->name, e->name_len) == NULL) {
            struct swim__update a = *e;
            a.state = SWIM_ALIVE;
            int rv = on_alive(s, &a, now);
            if (rv != 0)
                return rv;
        }
        return on_suspect(s, &u, now);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Outgoing packets. */

/* put_suspicion - the buddy system [LG IV.C]: "when a member pings a
 * suspected member, it piggybacks the suspicion first", so that the member
 * learns of it at once and refutes. With `dead`, a member we hold dead is
 * told so too (reconnection probes). */
static void put_suspicion(struct swim *s, struct swim__wbuf *w,
                          const struct member *m, bool dead)
{
    if (m == NULL)
        return;
    if (!(m->state == SWIM_SUSPECT &&
          (s->cfg.lifeguard & SWIM_LIFEGUARD_BUDDY)) &&
        !(m->state == SWIM_DEAD && dead))
        return;
    struct swim__update u;
    make_update(s, m, false, s->self, &u);
    size_t len = swim__encode_update(&u, s->upd, sizeof(s->upd));
    if (len > 0 &&
        swim__put_field(w, SWIM__TAG_PACKET_UPDATE, s->upd, len) == 0)
        s->stats.updates_sent++;
}

/* send_ping - ping `target` (by name) at `to`, piggybacking. */
static void send_ping(struct swim *s, const char *target,
                      const struct swim_addr *to, uint32_t seq)
{
    struct swim__wbuf w;
    wbuf_start(s, &w);
    if (swim__put_header(&w, SWIM__PING, seq, target, swim_self_name(s), NULL,
                         false) != 0)
        return;
    put_suspicion(s, &w, find(s, target, strlen(target)), true);
    fill_updates(s, &w);
    xsend(s, to, w.buf, w.len);
    s->stats.pings_sent++;
}

static void send_member_ping(struct swim *s, const struct member *m,
                             uint32_t seq)
{
    struct swim_addr to;
    member_addr(s, m, &to);
    send_ping(s, (const char *)name_blob(s, m)->data, &to, seq);
}

/* put_belief - tell a member that pinged us that we hold it suspect or
 * dead, first thing in our ack: the member refutes at once instead of
 * waiting for gossip, which no longer reaches a member declared dead. This
 * extends the buddy system [LG IV.C] from the pings we send to the pings we
 * answer. */
static void put_belief(struct swim *s, struct swim__wbuf *w, const char *who)
{
    if (who == NULL || who[0] == '\0' ||
        !(s->cfg.lifeguard & SWIM_LIFEGUARD_BUDDY))
        return;
    const struct member *m = find(s, who, strlen(who));
    if (m == NULL || (m->state != SWIM_SUSPECT && m->state != SWIM_DEAD))
        return;
    struct swim__update u;
    make_update(s, m, false, s->self, &u);
    size_t len = swim__encode_update(&u, s->upd, sizeof(s->upd));
    if (len > 0 &&
        swim__put_field(w, SWIM__TAG_PACKET_UPDATE, s->upd, len) == 0)
        s->stats.updates_sent++;
}

/* send_reply - an ack or a nack, piggybacking; `pinger` (may be NULL) is
 * the name the ping came from. */
static void send_reply(struct swim *s, enum swim__kind kind,
                       const struct swim_addr *to, uint32_t seq,
                       const char *pinger)
{
    struct swim__wbuf w;
    wbuf_start(s, &w);
    if (swim__put_header(&w, kind, seq, NULL, NULL, NULL, false) != 0)
        return;
    put_belief(s, &w, pinger);
    fill_updates(s, &w);
    xsend(s, to, w.buf, w.len);
    if (kind == SWIM__ACK)
        s->stats.acks_sent++;
    else
        s->stats.nacks_sent++;
}

/* ------------------------------------------------------------------------ */
/* Probing [SWIM 3.1, 4.3] with local health [LG IV.A]. */

static void shuffle_order(struct swim *s)
{
    for (uint32_t i = s->n_members; i > 1; i--) {
        uint32_t j = (uint32_t)cl_rng_below(s->rng, i);
        uint32_t a = s->order[i - 1], b = s->order[j];
        s->order[i - 1] = b;
        s->order[j] = a;
        s->members[b].order = i - 1;
        s->members[a].order = j;
    }
}

/* next_target - the next live member in the shuffled round-robin order:
 * "each member ... selects ping targets in a round-robin fashion; after
 * each traversal the list is randomly rearranged" [SWIM 4.3]. */
static struct member *next_target(struct swim *s)
{
    uint32_t n = s->n_members;
    for (uint32_t step = 0; step <= n; step++) {
        if (s->probe_pos >= n) {
            shuffle_order(s);
            s->probe_pos = 0;
        }
        struct member *m = &s->members[s->order[s->probe_pos++]];
        if (m->name != s->self && is_live(m->state))
            return m;
    }
    return NULL;
}

static void probe_start(struct swim *s, int64_t now)
{
    struct probe *p = &s->probe;
    int64_t period = scaled(s, s->cfg.probe_interval_ms);
    s->probe_next = now + period;
    struct member *m = next_target(s);
    if (m == NULL)
        return;
    memset(p, 0, sizeof(*p));
    p->active = true;
    p->target = m->name;
    p->seq = next_seq(s);
    p->start = now;
    p->end = now + period;
    p->timeout = scaled(s, s->cfg.probe_timeout_ms);
    p->attempts = 1;
    p->next_at = now + p->timeout;
    s->stats.probes++;
    send_member_ping(s, m, p->seq);
}

static void probe_indirect(struct swim *s, const struct member *m, int64_t now)
{
    struct probe *p = &s->probe;
    uint32_t ids[16];
    size_t k = s->cfg.indirect_checks < 16 ? s->cfg.indirect_checks : 16;
    size_t n = pick(s, k, f_alive, m->name, now, ids);
    bool nack = (s->cfg.lifeguard & SWIM_LIFEGUARD_LHM) != 0;
    p->expected_nacks = nack ? (unsigned)n : 0;
    struct swim_addr target;
    member_addr(s, m, &target);
    const char *tname = (const char *)name_blob(s, m)->data;
    for (size_t i = 0; i < n; i++) {
        struct member *via = by_name(s, ids[i]);
        struct swim__wbuf w;
        wbuf_start(s, &w);
        if (swim__put_header(&w, SWIM__PING_REQ, p->seq, tname, NULL, &target,
                             nack) != 0)
            return;
        fill_updates(s, &w);
        struct swim_addr to;
        member_addr(s, via, &to);
        xsend(s, &to, w.buf, w.len);
        s->stats.ping_reqs_sent++;
    }
}

static void buddy_notify(struct swim *s, const struct member *m)
{
    if (!(s->cfg.lifeguard & SWIM_LIFEGUARD_BUDDY))
        return;
    struct swim__wbuf w;
    wbuf_start(s, &w);
    if (swim__put_header(&w, SWIM__GOSSIP, 0, NULL, NULL, NULL, false) != 0)
        return;
    put_suspicion(s, &w, m, false);
    fill_updates(s, &w);
    struct swim_addr to;
    member_addr(s, m, &to);
    xsend(s, &to, w.buf, w.len);
    s->stats.gossip_sent++;
}

/* probe_fail - no ack within the protocol period. [LG IV.A]: a probe that
 * fails raises the local health score by one, or by the number of nacks
 * that did not come back when others were asked; "if a member does not
 * receive the expected nacks it is likely the member itself that is
 * degraded", so with LHM a failure without a single nack is blamed on
 * ourselves and raises no suspicion. */
static void probe_fail(struct swim *s, struct member *m, int64_t now)
{
    struct probe *p = &s->probe;
    s->stats.probes_failed++;
    if (p->expected_nacks > 0)
        health_add(s, (int)(p->expected_nacks - p->nacks));
    else
        health_add(s, 1);
    if ((s->cfg.lifeguard & SWIM_LIFEGUARD_LHM) && p->expected_nacks > 0 &&
        p->nacks == 0) {
        s->stats.probe_self_blamed++;
        return;
    }
    if (m->state == SWIM_SUSPECT) {
        /* Our own failed probe confirms a suspicion someone else raised. */
        if (susp_confirm(s, m, s->self))
            announce(s, m, false, s->self);
        return;
    }
    s->stats.suspicions_raised++;
    set_state(s, m, SWIM_SUSPECT, now);
    if (susp_start(s, m, s->self, now) != 0)
        return;
    emit(s, SWIM_EV_SUSPECT, m, true);
    announce(s, m, false, s->self);
    buddy_notify(s, m);
}

/* missed_after - how late a timer of ours may run before we count it as a
 * missed deadline: a quarter of the probe period, so that ordinary timer
 * jitter of a busy event loop is not mistaken for a stall. */
static int64_t missed_after(const struct swim *s)
{
    return s->cfg.probe_interval_ms / 4;
}

static void probe_step(struct swim *s, int64_t now)
{
    struct probe *p = &s->probe;
    for (int guard = 0; guard < 16; guard++) {
        if (!p->active) {
            if (now < s->probe_next)
                return;
            if (now - s->probe_next > missed_after(s)) {
                /* We woke up late: something stalled this process. */
                s->stats.missed_deadlines++;
                health_add(s, 1);
            }
            probe_start(s, now);
            if (!p->active)
                return;
            continue;
        }
        if (now < p->next_at)
            return;
        struct member *m = by_name(s, p->target);
        if (m == NULL || !is_live(m->state)) {
            p->active = false;
            continue;
        }
        if (now - p->next_at > missed_after(s)) {
            /* A deadline of our own probe passed long ago: its acks may
             * sit unread behind the stall. With LHM the probe proves
             * nothing about the target and is dropped. */
            s->stats.missed_deadlines++;
            if (s->cfg.lifeguard & SWIM_LIFEGUARD_LHM) {
                health_add(s, 1);
                p->active = false;
                s->probe_next = now;
                continue;
            }
        }
        if (p->attempts < s->cfg.probe_attempts) {
            p->attempts++;
            send_member_ping(s, m, p->seq);
            p->next_at = p->start + (int64_t)p->attempts * p->timeout;
        } else if (!p->indirect_sent) {
            p->indirect_sent = true;
            probe_indirect(s, m, now);
            p->next_at = p->end;
        } else {
            p->active = false;
            probe_fail(s, m, now);
        }
    }
}

/* final_track - remember a last-chance check so that its ack finds it;
 * checks whose suspicion ended are dropped to make room. */
static void final_track(struct swim *s, const struct susp *x)
{
    unsigned k = 0;
    for (unsigned i = 0; i < s->n_finals; i++) {
        const struct final_check *f = &s->finals[i];
        const struct member *m = by_name(s, f->name);
        const struct susp *y = m ? susp_of(s, m) : NULL;
        if (y != NULL && y->gen == f->gen && y->final_pings > 0)
            s->finals[k++] = *f;
    }
    s->n_finals = k;
    if (k == FINALS_MAX)
        memmove(s->finals, s->finals + 1, --s->n_finals * sizeof(*s->finals));
    s->finals[s->n_finals++] =
        (struct final_check){x->final_seq, x->name, x->gen};
}

static void on_ack(struct swim *s, uint32_t seq, int64_t now)
{
    struct probe *p = &s->probe;
    if (p->active && seq == p->seq) {
        p->active = false;
        health_add(s, -1);
        return;
    }
    for (unsigned i = 0; i < s->n_finals; i++) {
        if (s->finals[i].seq != seq)
            continue;
        struct final_check f = s->finals[i];
        s->finals[i] = s->finals[--s->n_finals];
        struct member *m = by_name(s, f.name);
        struct susp *x = m ? susp_of(s, m) : NULL;
        if (x == NULL || x->gen != f.gen || x->final_pings == 0)
            return;
        /* It answered our last-chance ping without refuting (yet): it is
         * alive, and its refutation follows. Suspect it for the minimum
         * timeout again rather than declare it dead. */
        x->final_pings = 0;
        x->deadline = now + swim_suspicion_timeout(&s->cfg, x->cluster_n, x->k);
        timer_push(s, x->deadline, x->name, x->gen, T_SUSP);
        s->stats.final_acks++;
        return;
    }
    for (size_t i = 0; i < s->n_relays; i++) {
        struct relay *r = &s->relays[i];
        if (r->seq != seq)
            continue;
        struct swim_addr to = r->req_addr;
        uint32_t req_seq = r->req_seq;
        s->relays[i] = s->relays[--s->n_relays];
        send_reply(s, SWIM__ACK, &to, req_seq, NULL);
        return;
    }
}

static void on_nack(struct swim *s, uint32_t seq)
{
    struct probe *p = &s->probe;
    if (p->active && seq == p->seq && p->nacks < p->expected_nacks)
        p->nacks++;
}

static void on_ping_req(struct swim *s, const struct swim__packet *pk,
                        const struct swim_addr *from, int64_t now)
{
    if (strcmp(pk->target, swim_self_name(s)) == 0)
        return;
    if (s->n_relays >= RELAYS_MAX)
        return;
    if (s->n_relays == s->cap_relays) {
        size_t cap = s->cap_relays ? s->cap_relays * 2 : 8;
        struct relay *r = cl_realloc(s->relays, cap * sizeof(*r));
        if (r == NULL) {
            s->stats.drop_nomem++;
            return;
        }
        s->relays = r;
        s->cap_relays = cap;
    }
    struct relay *r = &s->relays[s->n_relays++];
    memset(r, 0, sizeof(*r));
    r->seq = next_seq(s);
    r->req_seq = pk->seq;
    r->req_addr = *from;
    r->nack = pk->nack;
    /* Nack before the requester's period ends: its indirect stage lasts
     * at least one probe timeout; 80% of it, as memberlist does. */
    r->nack_at = now + s->cfg.probe_timeout_ms * 4 / 5;
    r->expire = now + s->cfg.probe_interval_ms;
    send_ping(s, pk->target, &pk->target_addr, r->seq);
}

static void relays_tick(struct swim *s, int64_t now)
{
    for (size_t i = 0; i < s->n_relays;) {
        struct relay *r = &s->relays[i];
        if (r->nack && !r->nack_sent && now >= r->nack_at) {
            r->nack_sent = true;
            struct swim_addr to = r->req_addr;
            send_reply(s, SWIM__NACK, &to, r->req_seq, NULL);
            r = &s->relays[i];
        }
        if (now >= r->expire) {
            s->relays[i] = s->relays[--s->n_relays];
            continue;
        }
        i++;
    }
}

/* ------------------------------------------------------------------------ */
/* Push-pull anti-entropy (gossip.proto, message PushPull). */

static uint32_t pp_bucket_count(const struct swim *s, size_t n)
{
    uint32_t b = 1;
    while ((size_t)b * 8 < n && b < PP_BUCKETS_MAX)
        b *= 2;
    while (b > 1 && 48 + 10 * (size_t)b > s->out_cap)
        b /= 2;
    return b;
}

static inline uint32_t bucket_of(uint64_t h, uint32_t buckets)
{
    return (uint32_t)((h >> 20) % buckets);
}

/* compute_digests - per bucket, a sum of a hash of (name, incarnation,
 * meta_version) over live members: order-free, so two members agree on a
 * bucket exactly when they hold the same live members there, at the same
 * incarnations and metadata versions (up to 64-bit collisions). */
static void compute_digests(const struct swim *s, uint32_t buckets, uint64_t *d)
{
    memset(d, 0, buckets * sizeof(*d));
    for (uint32_t i = 0; i < s->n_members; i++) {
        const struct member *m = &s->members[i];
        if (!is_live(m->state))
            continue;
        uint64_t h = swim__blob(s->names, m->name)->hash;
        uint64_t v = ((uint64_t)m->incarnation << 32) | m->meta_version;
        d[bucket_of(h, buckets)] += mix64(h ^ mix64(v + 1));
    }
}

static void pp_flush(struct swim *s, const struct swim__wbuf *pp,
                     const struct swim_addr *to)
{
    struct swim__wbuf w;
    wbuf_start(s, &w);
    if (swim__put_version(&w) != 0 ||
        swim__put_field(&w, SWIM__TAG_PACKET_PUSH_PULL, pp->buf, pp->len) != 0)
        return;
    xsend(s, to, w.buf, w.len);
    s->stats.push_pull_sent++;
}

static void pp_scratch(struct swim *s, struct swim__wbuf *pp)
{
    pp->buf = s->scratch;
    pp->len = 0;
    /* Room for the Packet version (2), the field tag (1) and length (3). */
    pp->cap = s->out_cap - 6;
}

/* pp_send_entries - our entries of the listed buckets, in chunks: every
 * one of them when `all` (a join), else at most PP_MAX_CHUNKS starting at a
 * random member; at least one chunk, so that `reply` always reaches the
 * peer. */
static void pp_send_entries(struct swim *s, const struct swim_addr *to,
                            uint32_t session, uint32_t buckets,
                            const uint32_t *list, size_t n_list, bool reply,
                            bool all)
{
    static const uint32_t bucket0 = 0;
    uint8_t want[SWIM__MAX_BUCKETS];
    struct swim__wbuf pp;
    pp_scratch(s, &pp);
    if (swim__put_push_pull_head(&pp, session, buckets, NULL, 0, list, n_list,
                                 false, reply) != 0) {
        /* Too many buckets to list: send everything as one bucket. */
        buckets = 1;
        list = &bucket0;
        n_list = 1;
        pp.len = 0;
        if (swim__put_push_pull_head(&pp, session, 1, NULL, 0, &bucket0, 1,
                                     false, reply) != 0)
            return;
    }
    size_t head = pp.len;
    memset(want, 0, buckets);
    for (size_t i = 0; i < n_list; i++)
        want[list[i]] = 1;
    bool sent = false;
    unsigned chunks = 0;
    uint32_t n = s->n_members;
    uint32_t start = all ? 0 : (uint32_t)cl_rng_below(s->rng, n);
    for (uint32_t j = 0; j < n; j++) {
        const struct member *m = &s->members[(start + j) % n];
        uint64_t h = swim__blob(s->names, m->name)->hash;
        if (!want[bucket_of(h, buckets)])
            continue;
        struct swim__update u;
        make_update(s, m, true, 0, &u);
        size_t len = swim__encode_update(&u, s->upd, sizeof(s->upd));
        if (len == 0)
            continue;
        if (pp.len + swim__field_size(len) > pp.cap && pp.len > head) {
            pp_flush(s, &pp, to);
            sent = true;
            pp.len = head; /* the head is identical for every chunk */
            if (!all && ++chunks >= PP_MAX_CHUNKS)
                return;
        }
        if (swim__put_field(&pp, SWIM__TAG_PUSH_PULL_ENTRY, s->upd, len) != 0)
            continue;
    }
    if (pp.len > head || !sent)
        pp_flush(s, &pp, to);
}

/* pp_request - start a push-pull (or a join) with `to`. */
static void pp_request(struct swim *s, const struct swim_addr *to, bool join,
                       uint32_t buckets)
{
    uint64_t d[PP_BUCKETS_MAX];
    if (join) {
        buckets = 1;
        d[0] = 0;
    } else {
        compute_digests(s, buckets, d);
    }
    uint32_t session = (uint32_t)cl_rng_next(s->rng);
    struct swim__wbuf pp;
    pp_scratch(s, &pp);
    if (swim__put_push_pull_head(&pp, session, buckets, d, buckets, NULL, 0,
                                 join, false) != 0)
        return;
    if (join) {
        /* The joiner introduces itself in the request, so that the seed
         * knows it before answering with its whole state. */
        struct swim__update u;
        make_update(s, self_member(s), true, 0, &u);
        size_t len = swim__encode_update(&u, s->upd, sizeof(s->upd));
        if (len == 0 ||
            swim__put_field(&pp, SWIM__TAG_PUSH_PULL_ENTRY, s->upd, len) != 0)
            return;
    }
    pp_flush(s, &pp, to);
}

static bool session_seen(struct swim *s, uint32_t session)
{
    for (unsigned i = 0; i < SESSIONS_MAX; i++)
        if (s->sessions[i] == session)
            return true;
    s->sessions[s->session_pos] = session;
    s->session_pos = (s->session_pos + 1) % SESSIONS_MAX;
    return false;
}

static void on_push_pull(struct swim *s, const struct swim__packet *pk,
                         const struct swim_addr *from, int64_t now)
{
    if (pk->n_digests > 0) {
        /* A request: answer with the buckets that differ. */
        uint32_t buckets = pk->bucket_count;
        uint64_t d[SWIM__MAX_BUCKETS];
        uint32_t list[SWIM__MAX_BUCKETS];
        size_t n_list = 0;
        compute_digests(s, buckets, d);
        for (uint32_t b = 0; b < buckets; b++)
            if (pk->join || d[b] != pk->digests[b])
                list[n_list++] = b;
        if (n_list > 0)
            pp_send_entries(s, from, pk->session, buckets, list, n_list,
                            !pk->join, pk->join);
    }
    if (pk->reply && !session_seen(s, pk->session)) {
        /* Our side of the buckets the peer found different, built before
         * merging its entries so that they are not echoed back. */
        pp_send_entries(s, from, pk->session, pk->bucket_count, pk->buckets,
                        pk->n_buckets, false, false);
    }
    for (size_t i = 0; i < pk->n_entries; i++) {
        if (merge_entry(s, &pk->entries[i], now) == CL_ENOMEM)
            s->stats.drop_nomem++;
    }
    if (pk->n_entries > 0 && !pk->join)
        s->join_pending = false;
}

static int64_t pp_interval(const struct swim *s)
{
    size_t n = live_count(s);
    int64_t iv = s->cfg.push_pull_interval_ms;
    /* One exchange costs O(buckets) plus the buckets that differ, not the
     * whole state as in memberlist, so the interval grows gently:
     * x(1 + ceil(log10(n / 100))) above 100 members. */
    int64_t mult = 1;
    for (size_t k = 100; k < n; k *= 10)
        mult++;
    return iv * mult;
}

/* ------------------------------------------------------------------------ */
/* Timers. */

static void gossip_tick(struct swim *s, int64_t now)
{
    if (s->n_bcast == 0 || now < s->gossip_next)
        return;
    s->gossip_next = now + s->cfg.gossip_interval_ms;
    uint32_t ids[16];
    size_t k = s->cfg.gossip_fanout < 16 ? s->cfg.gossip_fanout : 16;
    size_t n = pick(s, k, f_gossip, 0, now, ids);
    for (size_t i = 0; i < n && s->n_bcast > 0; i++) {
        struct member *m = by_name(s, ids[i]);
        struct swim__wbuf w;
        wbuf_start(s, &w);
        if (swim__put_header(&w, SWIM__GOSSIP, 0, NULL, NULL, NULL, false) != 0)
            return;
        size_t head = w.len;
        fill_updates(s, &w);
        if (w.len == head)
            return;
        struct swim_addr to;
        member_addr(s, m, &to);
        xsend(s, &to, w.buf, w.len);
        s->stats.gossip_sent++;
    }
}

static void timers_tick(struct swim *s, int64_t now)
{
    while (s->n_timers > 0 && s->timers[0].at <= now) {
        struct timer t = timer_pop(s);
        struct member *m = by_name(s, t.name);
        if (m == NULL)
            continue;
        if (t.kind == T_SUSP) {
            struct susp *x = susp_of(s, m);
            if (m->state != SWIM_SUSPECT || x == NULL || x->gen != t.gen ||
                x->deadline > now)
                continue;
            if ((s->cfg.lifeguard & SWIM_LIFEGUARD_BUDDY) &&
                x->final_pings < s->cfg.final_checks) {
                /* Last chance: before declaring it dead, ping it once more
                 * with the suspicion attached (the buddy system at the
                 * deadline). A member that missed the refutation everyone
                 * else heard learns it from the ack instead of declaring a
                 * live member dead. */
                if (x->final_pings == 0) {
                    x->final_seq = next_seq(s);
                    final_track(s, x);
                }
                x->final_pings++;
                send_member_ping(s, m, x->final_seq);
                x->deadline = now + s->cfg.probe_timeout_ms;
                timer_push(s, x->deadline, m->name, x->gen, T_SUSP);
                continue;
            }
            /* "If the suspected member ... is not refuted within the
             * timeout, it is declared faulty" [SWIM 4.2]. */
            set_state(s, m, SWIM_DEAD, now);
            s->stats.deaths_declared++;
            emit(s, SWIM_EV_DEAD, m, true);
            announce(s, m, false, s->self);
        } else if (t.kind == T_REAP) {
            if ((m->state == SWIM_DEAD || m->state == SWIM_LEFT) &&
                now - m->state_time >= s->cfg.dead_retention_ms)
                remove_member(s, m);
        }
    }
}

static void maintenance_tick(struct swim *s, int64_t now)
{
    if (s->cfg.push_pull_interval_ms > 0 && now >= s->push_pull_next) {
        s->push_pull_next = now + pp_interval(s);
        uint32_t id;
        if (pick(s, 1, f_alive, 0, now, &id) == 1) {
            struct swim_addr to;
            member_addr(s, by_name(s, id), &to);
            pp_request(s, &to, false, pp_bucket_count(s, live_count(s)));
        }
    }
    if (s->cfg.reconnect_interval_ms > 0 && s->counts[SWIM_DEAD] > 0 &&
        now >= s->reconnect_next) {
        s->reconnect_next = now + s->cfg.reconnect_interval_ms;
        /* Reconnection: ping a member we hold dead, telling it so. If it
         * lives (a partition healed, or we were wrong) it refutes in its
         * ack and both sides merge from there. */
        uint32_t id;
        if (pick(s, 1, f_dead, 0, now, &id) == 1)
            send_member_ping(s, by_name(s, id), next_seq(s));
    }
    if (s->join_pending && now >= s->join_next) {
        s->join_next = now + s->cfg.join_retry_ms;
        for (size_t i = 0; i < s->n_seeds; i++)
            pp_request(s, &s->seeds[i], true, 1);
    }
}

void swim_tick(struct swim *s, int64_t now)
{
    timers_tick(s, now);
    relays_tick(s, now);
    if (!s->leaving) {
        probe_step(s, now);
        maintenance_tick(s, now);
    }
    gossip_tick(s, now);
}

int64_t swim_next_deadline(const struct swim *s)
{
    int64_t d = INT64_MAX;
    if (!s->leaving) {
        d = s->probe.active ? s->probe.next_at : s->probe_next;
        if (s->cfg.push_pull_interval_ms > 0)
            d = min64(d, s->push_pull_next);
        if (s->cfg.reconnect_interval_ms > 0 && s->counts[SWIM_DEAD] > 0)
            d = min64(d, s->reconnect_next);
        if (s->join_pending)
            d = min64(d, s->join_next);
    }
    if (s->n_bcast > 0)
        d = min64(d, s->gossip_next);
    for (size_t i = 0; i < s->n_relays; i++) {
        const struct relay *r = &s->relays[i];
        d = min64(d, r->nack && !r->nack_sent ? r->nack_at : r->expire);
    }
    if (s->n_timers > 0)
        d = min64(d, s->timers[0].at);
    return d;
}

/* ------------------------------------------------------------------------ */
/* Input. */

int swim_recv(struct swim *s, const struct swim_addr *from, const void *buf,
              size_t len, int64_t now)
{
    s->stats.packets_recv++;
    s->stats.bytes_recv += len + SWIM_SEAL_OVERHEAD;
    if (len > SWIM_PACKET_MAX) {
        s->stats.drop_oversize++;
        return CL_ETOOBIG;
    }
    struct swim__packet pk;
    int rv = swim__decode(buf, len, &pk);
    if (rv != 0) {
        if (rv == CL_EVERSION)
            s->stats.drop_version++;
        else if (rv == CL_ENOMEM)
            s->stats.drop_nomem++;
        else if (rv == CL_ETOOBIG)
            s->stats.drop_oversize++;
        else
            s->stats.drop_decode++;
        return rv;
    }
    /* Piggybacked updates first, so that a reply built below carries what
     * they changed (a refutation answers a buddy-system suspicion in the
     * very ack). */
    for (size_t i = 0; i < pk.n_updates; i++)
        if (apply_update(s, &pk.updates[i], now) == CL_ENOMEM)
            s->stats.drop_nomem++;
    switch (pk.kind) {
    case SWIM__GOSSIP:
        break;
    case SWIM__PING:
        if (strcmp(pk.target, swim_self_name(s)) == 0)
            send_reply(s, SWIM__ACK, from, pk.seq, pk.from);
        break;
    case SWIM__PING_REQ:
        if (!s->leaving)
            on_ping_req(s, &pk, from, now);
        break;
    case SWIM__ACK:
        on_ack(s, pk.seq, now);
        break;
    case SWIM__NACK:
        on_nack(s, pk.seq);
        break;
    case SWIM__PUSH_PULL:
        on_push_pull(s, &pk, from, now);
        break;
    }
    swim__packet_free(&pk);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Lifecycle and commands. */

int swim_new(const struct swim_config *cfg, struct swim_io *io, cl_rng *rng,
             const char *name, const struct swim_addr *addr, int64_t now,
             struct swim **out)
{
    if (cfg == NULL || io == NULL || io->send == NULL || rng == NULL ||
        name == NULL || addr == NULL || out == NULL)
        return CL_EINVAL;
    if (swim_config_check(cfg, NULL, 0) != 0)
        return CL_EINVAL;
    if (!swim__name_valid(name, strlen(name)))
        return CL_EINVAL;
    if (addr->family != 4 && addr->family != 6)
        return CL_EINVAL;
    struct swim *s = cl_calloc(1, sizeof(*s));
    if (s == NULL)
        return CL_ENOMEM;
    s->cfg = *cfg;
    s->io = io;
    s->rng = rng;
    if (cfg->pool != NULL) {
        s->pool = cfg->pool;
    } else {
        if (swim_pool_new(&s->pool) != 0)
            goto oom;
        s->own_pool = true;
    }
    s->pool->users++;
    s->names = &s->pool->names;
    s->values = &s->pool->values;
    s->out_cap = cfg->max_packet - SWIM_SEAL_OVERHEAD;
    s->out = cl_malloc(s->out_cap);
    s->scratch = cl_malloc(s->out_cap);
    if (s->out == NULL || s->scratch == NULL)
        goto oom;
    s->self_addr = *addr;
    struct member *me = add_member(s, name, strlen(name), addr, now);
    if (me == NULL)
        goto oom;
    s->self = me->name;
    s->probe_next =
        now + (int64_t)cl_rng_below(rng, (uint64_t)cfg->probe_interval_ms);
    s->gossip_next = now;
    s->push_pull_next =
        now + cfg->push_pull_interval_ms / 2 +
        (int64_t)cl_rng_below(rng, (uint64_t)cfg->push_pull_interval_ms + 1);
    s->reconnect_next = now + cfg->reconnect_interval_ms;
    *out = s;
    return 0;
oom:
    swim_free(s);
    return CL_ENOMEM;
}

void swim_free(struct swim *s)
{
    if (s == NULL)
        return;
    if (s->pool != NULL) {
        for (uint32_t i = 0; i < s->n_members; i++) {
            struct member *m = &s->members[i];
            swim__unref(s->names, m->name);
            swim__unref(s->values, m->addr);
            swim__unref(s->values, m->meta);
        }
    }
    for (uint32_t i = 0; i < s->n_bcast_slots; i++)
        cl_free(s->bcasts[i].data);
    cl_free(s->bcasts);
    cl_free(s->susps);
    cl_free(s->timers);
    cl_free(s->relays);
    cl_free(s->members);
    cl_free(s->order);
    cl_free(s->by_name);
    cl_free(s->seeds);
    cl_free(s->out);
    cl_free(s->scratch);
    if (s->pool != NULL) {
        s->pool->users--;
        if (s->own_pool)
            swim_pool_free(s->pool);
    }
    cl_free(s);
}

int swim_join(struct swim *s, const struct swim_addr *seeds, size_t n,
              int64_t now)
{
    if (seeds == NULL || n == 0)
        return CL_EINVAL;
    if (s->leaving)
        return CL_ESTATE;
    struct swim_addr *copy = cl_calloc(n, sizeof(*copy));
    if (copy == NULL)
        return CL_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (seeds[i].family != 4 && seeds[i].family != 6) {
            cl_free(copy);
            return CL_EINVAL;
        }
        if (!swim_addr_equal(&seeds[i], &s->self_addr))
            copy[k++] = seeds[i];
    }
    cl_free(s->seeds);
    s->seeds = copy;
    s->n_seeds = k;
    s->join_pending = k > 0;
    s->join_next = now;
    if (s->join_pending)
        maintenance_tick(s, now);
    return 0;
}

int swim_set_meta(struct swim *s, const void *meta, size_t len, int64_t now)
{
    (void)now;
    if (len > SWIM_META_MAX || (len > 0 && meta == NULL))
        return CL_EINVAL;
    if (s->leaving)
        return CL_ESTATE;
    struct member *me = self_member(s);
    int rv = set_meta_bytes(s, me, meta, len);
    if (rv != 0)
        return rv;
    me->incarnation++;
    me->meta_version++;
    announce(s, me, true, 0);
    return 0;
}

int swim_leave(struct swim *s, int64_t now)
{
    if (s->leaving)
        return 0;
    struct member *me = self_member(s);
    s->leaving = true;
    s->probe.active = false;
    s->join_pending = false;
    set_state(s, me, SWIM_LEFT, now);
    announce(s, me, false, 0);
    return 0;
}

bool swim_leave_done(const struct swim *s)
{
    if (!s->leaving)
        return false;
    size_t others = live_count(s);
    if (others == 0)
        return true;
    size_t need = s->cfg.gossip_fanout < others ? s->cfg.gossip_fanout : others;
    return s->left_sends >= need;
}

/* ------------------------------------------------------------------------ */
/* Queries. */

size_t swim_member_count(const struct swim *s)
{
    return s->n_members;
}

int swim_member_at(const struct swim *s, size_t i, struct swim_member_info *out)
{
    if (i >= s->n_members)
        return CL_ERANGE;
    fill_info(s, &s->members[i], out);
    return 0;
}

int swim_member_find(const struct swim *s, const char *name,
                     struct swim_member_info *out)
{
    if (name == NULL)
        return CL_EINVAL;
    const struct member *m = find(s, name, strlen(name));
    if (m == NULL)
        return CL_ENOENT;
    if (out != NULL)
        fill_info(s, m, out);
    return 0;
}

size_t swim_state_count(const struct swim *s, enum swim_state st)
{
    return (unsigned)st < 4 ? s->counts[st] : 0;
}

unsigned swim_health(const struct swim *s)
{
    return s->health;
}

const char *swim_self_name(const struct swim *s)
{
    return (const char *)swim__blob(s->names, s->self)->data;
}

uint32_t swim_incarnation(const struct swim *s)
{
    return self_member(s)->incarnation;
}

const struct swim_stats *swim_stats(const struct swim *s)
{
    return &s->stats;
}

int swim_preload(struct swim *s, const struct swim_member_info *mi, int64_t now)
{
    if (mi == NULL || mi->name == NULL || (unsigned)mi->state > SWIM_LEFT ||
        mi->meta_len > SWIM_META_MAX || (mi->meta_len && mi->meta == NULL))
        return CL_EINVAL;
    size_t len = strlen(mi->name);
    if (!swim__name_valid(mi->name, len) ||
        (mi->addr.family != 4 && mi->addr.family != 6))
        return CL_EINVAL;
    struct member *m = find(s, mi->name, len);
    if (m != NULL && m->name == s->self)
        return CL_EINVAL;
    if (m == NULL) {
        m = add_member(s, mi->name, len, &mi->addr, now);
        if (m == NULL)
            return CL_ENOMEM;
    } else if (set_addr(s, m, &mi->addr) != 0) {
        return CL_ENOMEM;
    }
    if (set_meta_bytes(s, m, mi->meta, mi->meta_len) != 0)
        return CL_ENOMEM;
    m->incarnation = mi->incarnation;
    m->meta_version = mi->meta_version;
    m->flags = 0;
    set_state(s, m, mi->state, now);
    if (mi->state == SWIM_SUSPECT)
        return susp_start(s, m, 0, now);
    return 0;
}

int swim__clone_view(struct swim *dst, const struct swim *src, int64_t now)
{
    if (dst->pool != src->pool)
        return CL_EINVAL;
    if (reserve_members(dst, src->n_members) != 0)
        return CL_ENOMEM;
    for (uint32_t i = 0; i < src->n_members; i++) {
        const struct member *sm = &src->members[i];
        if (sm->name == dst->self || by_name(dst, sm->name) != NULL)
            continue;
        swim__ref(dst->names, sm->name);
        swim__ref(dst->values, sm->addr);
        swim__ref(dst->values, sm->meta);
        struct member *m =
            insert(dst, sm->name, sm->addr, sm->meta, SWIM_ALIVE, now);
        if (m == NULL) {
            swim__unref(dst->names, sm->name);
            swim__unref(dst->values, sm->addr);
            swim__unref(dst->values, sm->meta);
            return CL_ENOMEM;
        }
        m->incarnation = sm->incarnation;
        m->meta_version = sm->meta_version;
        m->flags = sm->flags;
        set_state(dst, m, (enum swim_state)sm->state, now);
        if (sm->state == SWIM_SUSPECT && susp_start(dst, m, 0, now) != 0)
            return CL_ENOMEM;
    }
    return 0;
}
