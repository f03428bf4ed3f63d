/* fixture.h - shared fixture of the gossip unit tests.
 *
 * - a counting heap: every test installs it in setup and checks in teardown
 *   that everything allocated through cl_malloc was freed;
 * - struct fx_io: a capturing swim_io for driving one core by hand (every
 *   datagram it sends and every event it emits is recorded);
 * - packet builders for feeding a core crafted datagrams;
 * - struct fx_sim: a simulator with an event log.
 */
#ifndef COULER_TEST_GOSSIP_FIXTURE_H
#define COULER_TEST_GOSSIP_FIXTURE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "gossip/swim.h"
#include "gossip/swim_int.h"
#include "gossip/swim_sim.h"

/* Counting heap. */
void fx_heap_install(void);
/* fx_heap_outstanding - cl_malloc'd blocks not yet freed. */
long fx_heap_outstanding(void);
void fx_heap_uninstall(void);
/* fx_heap_fail - after `delay` more successful allocations, fail `repeat`
 * (negative: all) of them; fx_heap_fail(0, 0) stops failing. */
void fx_heap_fail(int delay, int repeat);

/* A recorded datagram. */
struct fx_packet {
    int64_t t; /* fx_io.now when sent */
    struct swim_addr to;
    uint8_t *data;
    size_t len;
};

/* A recorded event. */
struct fx_event {
    int64_t t;
    size_t observer;
    enum swim_event_type type;
    bool origin;
    char name[SWIM_NAME_MAX + 1];
    uint32_t incarnation;
    uint32_t meta_version;
    size_t meta_len;
    uint8_t meta[64]; /* first bytes of the metadata */
};

struct fx_log {
    struct fx_event *ev;
    size_t n;
    size_t cap;
};

void fx_log_add(struct fx_log *log, int64_t t, size_t observer,
                const struct swim_event *ev);
void fx_log_free(struct fx_log *log);
/* fx_log_count - events of `type` about `name` (NULL: any) seen by
 * `observer` (SIZE_MAX: any). */
size_t fx_log_count(const struct fx_log *log, enum swim_event_type type,
                    const char *name, size_t observer);
/* fx_log_first - the first such event, or NULL. */
const struct fx_event *fx_log_first(const struct fx_log *log,
                                    enum swim_event_type type, const char *name,
                                    size_t observer);
/* fx_log_hash - a digest of the whole log (determinism checks). */
uint64_t fx_log_hash(const struct fx_log *log);

/* Capturing I/O. */
struct fx_io {
    struct swim_io io;
    struct fx_packet *sent;
    size_t n_sent;
    size_t cap_sent;
    struct fx_log log;
    int64_t now;    /* stamped on recorded events */
    int fail_sends; /* the next fail_sends sends return CL_EIO */
};

void fx_io_init(struct fx_io *x);
void fx_io_clear(struct fx_io *x); /* forget recorded datagrams */
void fx_io_free(struct fx_io *x);
/* fx_io_decode - decode recorded datagram i (free with
 * swim__packet_free). */
void fx_io_decode(const struct fx_io *x, size_t i, struct swim__packet *p);
/* fx_io_find - index of the first recorded datagram of `kind` sent to
 * `to` (NULL: anywhere) at or after index `from`, or SIZE_MAX. */
size_t fx_io_find(const struct fx_io *x, enum swim__kind kind,
                  const struct swim_addr *to, size_t from);

/* Test addresses 10.0.0.<i>:7946 and names "m<i>". */
struct swim_addr fx_addr(unsigned i);
const char *fx_name(unsigned i, char buf[16]);

/* Packet builder: a header, then updates, into buf. Returns the length. */
struct fx_pkt {
    uint8_t buf[65536];
    struct swim__wbuf w;
};
void fx_pkt_begin(struct fx_pkt *p, enum swim__kind kind, uint32_t seq,
                  const char *target, const struct swim_addr *target_addr,
                  bool nack);
/* fx_pkt_ping - a ping naming its sender. */
void fx_pkt_ping(struct fx_pkt *p, uint32_t seq, const char *target,
                 const char *from);
void fx_pkt_update(struct fx_pkt *p, enum swim_state st, const char *name,
                   uint32_t inc, const struct swim_addr *addr,
                   uint32_t meta_version, const char *meta, const char *from);
/* fx_pkt_entry - a push-pull entry (the packet must be built with
 * fx_pkt_push_pull). */
void fx_pkt_push_pull(struct fx_pkt *p, uint32_t session, uint32_t bucket_count,
                      const uint64_t *digests, size_t n_digests,
                      const uint32_t *buckets, size_t n_buckets, bool join,
                      bool reply, const struct swim__update *entries,
                      size_t n_entries);

/* A core on a capturing io with a seeded rng. */
struct fx_core {
    struct fx_io io;
    cl_rng rng;
    struct swim_config cfg;
    struct swim *s;
};

/* fx_core_new - member 0 ("m0" at fx_addr(0)) at time 0, with `peers`
 * other members (m1..m<peers>) preloaded alive at incarnation 0. */
void fx_core_new(struct fx_core *c, const struct swim_config *cfg,
                 unsigned peers);
void fx_core_free(struct fx_core *c);
/* fx_core_recv - feed a built packet from fx_addr(from). */
int fx_core_recv(struct fx_core *c, unsigned from, const struct fx_pkt *p,
                 int64_t now);
/* fx_core_run - tick at every deadline up to `until`. */
void fx_core_run(struct fx_core *c, int64_t until);
/* fx_core_state - state of m<i> in the core (-1 when unknown). */
int fx_core_state(const struct fx_core *c, unsigned i);
uint32_t fx_core_inc(const struct fx_core *c, unsigned i);

/* Simulator with a log. */
struct fx_sim {
    struct swim_sim *sim;
    struct fx_log log;
};

/* fx_sim_new - n members; bootstrap them when `bootstrap`. */
void fx_sim_new(struct fx_sim *f, const struct swim_sim_config *cfg, size_t n,
                bool bootstrap);
void fx_sim_free(struct fx_sim *f);

#endif
