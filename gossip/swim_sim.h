/* swim_sim.h - a deterministic simulator of a SWIM cluster.
 *
 * Thousands of swim cores run in one process over a simulated network in
 * virtual time, in the manner of canonical/raft's fixture: the same seed
 * gives the same run, event for event. The network has a latency
 * distribution per link, uniform and per-link loss, asymmetric partitions
 * between groups of members, and members can crash, come back, leave, and
 * stall. Tests assert exact virtual times and message counts with it; the
 * benchmark runs 10,000 members with it.
 *
 * Members are numbered 0..n-1, named "<prefix><i>" and addressed
 * 10.a.b.c:7946 with a.b.c = i + 1. Datagrams travel as the plaintext the
 * core produced; the keyring is not run, but every byte count includes
 * SWIM_SEAL_OVERHEAD per datagram, as on the wire.
 *
 * Virtual time is kept in microseconds (cores see milliseconds). Events at
 * the same instant run timers first, then datagrams, each in the order they
 * were scheduled, as a libuv loop iteration does.
 */
#ifndef COULER_SWIM_SIM_H
#define COULER_SWIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip/swim.h"

struct swim_sim;

/* One-way latency: uniform in [min_us, max_us], plus with probability
 * tail_p an exponential delay of mean tail_mean_us. */
struct swim_sim_latency {
    int64_t min_us;
    int64_t max_us;
    double tail_p;
    int64_t tail_mean_us;
};

enum swim_sim_stall {
    /* Input processing is deferred until the stall ends while timers keep
     * firing: the slow member of the Lifeguard paper's evaluation, whose
     * receive path is starved. */
    SWIM_SIM_STALL_RECV = 1,
    /* The whole process is frozen (a long pause): timers and input run
     * when it ends, timers first. */
    SWIM_SIM_STALL_ALL = 2
};

/* swim_sim_event_cb - every membership event of every member; `observer`
 * is the member that saw it. Runs inside the simulation step: it may read
 * the simulator and cores but must not change them. */
typedef void (*swim_sim_event_cb)(struct swim_sim *sim, size_t observer,
                                  const struct swim_event *ev, void *data);

struct swim_sim_config {
    uint64_t seed;
    struct swim_config swim; /* every member's profile; .pool is ignored */
    struct swim_sim_latency latency;
    double loss;             /* uniform loss probability, 0..1 */
    size_t backlog_max;      /* datagrams a stalled member queues; 0 = any */
    const char *name_prefix; /* "n" by default; copied */
    swim_sim_event_cb on_event;
    void *data;
};

/* Global counters of the simulated network. */
struct swim_sim_stats {
    uint64_t events;
    uint64_t sent;
    uint64_t delivered;
    uint64_t dropped_loss;
    uint64_t dropped_partition;
    uint64_t dropped_down;    /* to a crashed member or nowhere */
    uint64_t dropped_backlog; /* a stalled member's queue was full */
    uint64_t bytes_sent;
};

/* Per-member counters, kept across crashes and revivals. */
struct swim_sim_member_stats {
    uint64_t packets_sent;
    uint64_t bytes_sent;
    uint64_t packets_recv;
    uint64_t bytes_recv;
};

/* swim_sim_config_default - seed 1, swim_config_default(), latency 100 to
 * 300 us, no loss. */
void swim_sim_config_default(struct swim_sim_config *c);

/* swim_sim_new - an empty simulator at time 0. cfg is copied. Free with
 * swim_sim_free(). CL_EINVAL for a bad profile, CL_ENOMEM. */
int swim_sim_new(const struct swim_sim_config *cfg, struct swim_sim **out);
void swim_sim_free(struct swim_sim *sim);

/* swim_sim_add - start n new members, each alone (join or bootstrap them).
 * *first (may be NULL) gets the first new index. */
int swim_sim_add(struct swim_sim *sim, size_t n, size_t *first);
/* swim_sim_bootstrap - make every running member know every other running
 * member as alive, as after a converged join, without any traffic. */
int swim_sim_bootstrap(struct swim_sim *sim);
/* swim_sim_join - member i joins through member seed's address. */
int swim_sim_join(struct swim_sim *sim, size_t i, size_t seed);
/* swim_sim_kill - crash member i: its core is freed, its timers stop and
 * datagrams to it are lost. CL_ESTATE if it is not running. */
int swim_sim_kill(struct swim_sim *sim, size_t i);
/* swim_sim_revive - restart a crashed member as a fresh process (same name
 * and address, incarnation 0) that joins through `seed` (SIZE_MAX: it
 * does not join). */
int swim_sim_revive(struct swim_sim *sim, size_t i, size_t seed);
int swim_sim_leave(struct swim_sim *sim, size_t i);
int swim_sim_set_meta(struct swim_sim *sim, size_t i, const void *meta,
                      size_t len);
/* swim_sim_stall - stall member i for duration_ms from now. */
int swim_sim_stall(struct swim_sim *sim, size_t i, int64_t duration_ms,
                   enum swim_sim_stall kind);
bool swim_sim_stalled(const struct swim_sim *sim, size_t i);

/* Network controls. A per-link setting overrides the uniform one for
 * datagrams from `from` to `to` only. */
void swim_sim_set_loss(struct swim_sim *sim, double p);
int swim_sim_set_link_loss(struct swim_sim *sim, size_t from, size_t to,
                           double p);
int swim_sim_set_link_latency(struct swim_sim *sim, size_t from, size_t to,
                              const struct swim_sim_latency *lat);
void swim_sim_set_latency(struct swim_sim *sim,
                          const struct swim_sim_latency *lat);
/* Partitions: every member is in group 0 until moved (groups 0..15);
 * swim_sim_block drops every datagram from group `from` to group `to` (one
 * direction: asymmetric partitions); swim_sim_heal lifts every block. */
int swim_sim_set_group(struct swim_sim *sim, size_t i, unsigned group);
void swim_sim_block(struct swim_sim *sim, unsigned from, unsigned to,
                    bool blocked);
void swim_sim_heal(struct swim_sim *sim);

/* Running. */
/* swim_sim_step - run the next event. CL_ENOENT when nothing is left. */
int swim_sim_step(struct swim_sim *sim);
/* swim_sim_run_until - run every event up to virtual time t_ms; the clock
 * then reads t_ms. */
int swim_sim_run_until(struct swim_sim *sim, int64_t t_ms);
/* swim_sim_run_for - run_until(now + ms). */
int swim_sim_run_for(struct swim_sim *sim, int64_t ms);
/* swim_sim_step_until - step until pred(sim, arg) holds (0; the clock
 * stays at that event) or the clock would pass deadline_ms
 * (CL_ETIMEDOUT; the clock reads deadline_ms). pred is checked first. */
int swim_sim_step_until(struct swim_sim *sim,
                        bool (*pred)(struct swim_sim *sim, void *arg),
                        void *arg, int64_t deadline_ms);

/* Observation. */
int64_t swim_sim_now(const struct swim_sim *sim); /* ms */
int64_t swim_sim_now_us(const struct swim_sim *sim);
size_t swim_sim_size(const struct swim_sim *sim);
bool swim_sim_running(const struct swim_sim *sim, size_t i);
const char *swim_sim_name(const struct swim_sim *sim, size_t i);
/* swim_sim_core - member i's core, NULL while crashed. The pointer changes
 * when the member is revived. */
struct swim *swim_sim_core(const struct swim_sim *sim, size_t i);
/* swim_sim_view - how running member `observer` sees `target`: 0 with
 * *state set, CL_ENOENT (unknown to it) or CL_ESTATE (observer down). */
int swim_sim_view(const struct swim_sim *sim, size_t observer, size_t target,
                  enum swim_state *state);
/* swim_sim_count_view - running members other than target that see target
 * in state st. */
size_t swim_sim_count_view(const struct swim_sim *sim, size_t target,
                           enum swim_state st);
/* swim_sim_converged - every running member sees every running member
 * alive and every crashed member dead or unknown. O(n^2). */
bool swim_sim_converged(const struct swim_sim *sim);
const struct swim_sim_stats *swim_sim_stats(const struct swim_sim *sim);
const struct swim_sim_member_stats *
swim_sim_member_stats(const struct swim_sim *sim, size_t i);

#endif
