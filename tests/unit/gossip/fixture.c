/* fixture.c - see fixture.h. */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cl_err.h"
#include "common/cl_hash.h"
#include "common/cl_heap.h"

/* ------------------------------------------------------------------------ */
/* Counting heap with countdown faults. */

static long outstanding;
static int fail_delay;
static int fail_repeat;

static bool should_fail(void)
{
    if (fail_delay > 0) {
        fail_delay--;
        return false;
    }
    if (fail_repeat == 0)
        return false;
    if (fail_repeat > 0)
        fail_repeat--;
    return true;
}

static void *count_malloc(void *d, size_t size)
{
    (void)d;
    if (should_fail())
        return NULL;
    void *p = malloc(size);
    if (p != NULL)
        outstanding++;
    return p;
}

static void *count_realloc(void *d, void *ptr, size_t size)
{
    (void)d;
    if (should_fail())
        return NULL;
    void *p = realloc(ptr, size);
    if (p != NULL && ptr == NULL)
        outstanding++;
    return p;
}

static void count_free(void *d, void *ptr)
{
    (void)d;
    if (ptr != NULL)
        outstanding--;
    free(ptr);
}

static const struct cl_heap counting_heap = {NULL, count_malloc, count_realloc,
                                             count_free};

void fx_heap_install(void)
{
    outstanding = 0;
    fail_delay = 0;
    fail_repeat = 0;
    cl_heap_set(&counting_heap);
}

long fx_heap_outstanding(void)
{
    return outstanding;
}

void fx_heap_uninstall(void)
{
    cl_heap_set(NULL);
}

void fx_heap_fail(int delay, int repeat)
{
    fail_delay = delay;
    fail_repeat = repeat;
}

/* ------------------------------------------------------------------------ */
/* Event log. */

void fx_log_add(struct fx_log *log, int64_t t, size_t observer,
                const struct swim_event *ev)
{
    if (log->n == log->cap) {
        size_t cap = log->cap ? log->cap * 2 : 64;
        /* Plain realloc: the log is the test's, not the code under test's. */
        struct fx_event *e = realloc(log->ev, cap * sizeof(*e));
        assert_non_null(e);
        log->ev = e;
        log->cap = cap;
    }
    struct fx_event *e = &log->ev[log->n++];
    memset(e, 0, sizeof(*e));
    e->t = t;
    e->observer = observer;
    e->type = ev->type;
    e->origin = ev->origin;
    snprintf(e->name, sizeof(e->name), "%s", ev->member.name);
    e->incarnation = ev->member.incarnation;
    e->meta_version = ev->member.meta_version;
    e->meta_len = ev->member.meta_len;
    if (ev->member.meta_len > 0)
        memcpy(e->meta, ev->member.meta,
               ev->member.meta_len < sizeof(e->meta) ? ev->member.meta_len
                                                     : sizeof(e->meta));
}

void fx_log_free(struct fx_log *log)
{
    free(log->ev);
    memset(log, 0, sizeof(*log));
}

static bool matches(const struct fx_event *e, enum swim_event_type type,
                    const char *name, size_t observer)
{
    return e->type == type && (name == NULL || strcmp(e->name, name) == 0) &&
           (observer == SIZE_MAX || e->observer == observer);
}

size_t fx_log_count(const struct fx_log *log, enum swim_event_type type,
                    const char *name, size_t observer)
{
    size_t n = 0;
    for (size_t i = 0; i < log->n; i++)
        n += matches(&log->ev[i], type, name, observer);
    return n;
}

const struct fx_event *fx_log_first(const struct fx_log *log,
                                    enum swim_event_type type, const char *name,
                                    size_t observer)
{
    for (size_t i = 0; i < log->n; i++)
        if (matches(&log->ev[i], type, name, observer))
            return &log->ev[i];
    return NULL;
}

uint64_t fx_log_hash(const struct fx_log *log)
{
    uint64_t h = 0;
    for (size_t i = 0; i < log->n; i++) {
        const struct fx_event *e = &log->ev[i];
        char line[160];
        int n =
            snprintf(line, sizeof(line), "%lld %zu %d %d %s %u %u",
                     (long long)e->t, e->observer, (int)e->type, (int)e->origin,
                     e->name, e->incarnation, e->meta_version);
        h = h * 31 + cl_hash64(line, (size_t)n);
    }
    return h;
}

/* ------------------------------------------------------------------------ */
/* Capturing I/O. */

static int fx_send(struct swim_io *io, const struct swim_addr *to,
                   const uint8_t *buf, size_t len)
{
    struct fx_io *x = io->data;
    if (x->fail_sends > 0) {
        x->fail_sends--;
        return CL_EIO;
    }
    if (x->n_sent == x->cap_sent) {
        size_t cap = x->cap_sent ? x->cap_sent * 2 : 16;
        struct fx_packet *p = realloc(x->sent, cap * sizeof(*p));
        assert_non_null(p);
        x->sent = p;
        x->cap_sent = cap;
    }
    struct fx_packet *p = &x->sent[x->n_sent++];
    p->t = x->now;
    p->to = *to;
    p->len = len;
    p->data = malloc(len ? len : 1);
    assert_non_null(p->data);
    memcpy(p->data, buf, len);
    return 0;
}

static void fx_ev(struct swim_io *io, const struct swim_event *ev)
{
    struct fx_io *x = io->data;
    fx_log_add(&x->log, x->now, 0, ev);
}

void fx_io_init(struct fx_io *x)
{
    memset(x, 0, sizeof(*x));
    x->io.data = x;
    x->io.send = fx_send;
    x->io.event = fx_ev;
}

void fx_io_clear(struct fx_io *x)
{
    for (size_t i = 0; i < x->n_sent; i++)
        free(x->sent[i].data);
    x->n_sent = 0;
}

void fx_io_free(struct fx_io *x)
{
    fx_io_clear(x);
    free(x->sent);
    fx_log_free(&x->log);
    memset(x, 0, sizeof(*x));
}

void fx_io_decode(const struct fx_io *x, size_t i, struct swim__packet *p)
{
    assert_true(i < x->n_sent);
    assert_int_equal(swim__decode(x->sent[i].data, x->sent[i].len, p), 0);
}

size_t fx_io_find(const struct fx_io *x, enum swim__kind kind,
                  const struct swim_addr *to, size_t from)
{
    for (size_t i = from; i < x->n_sent; i++) {
        struct swim__packet p;
        if (swim__decode(x->sent[i].data, x->sent[i].len, &p) != 0)
            continue;
        bool ok = p.kind == kind &&
                  (to == NULL || swim_addr_equal(to, &x->sent[i].to));
        swim__packet_free(&p);
        if (ok)
            return i;
    }
    return SIZE_MAX;
}

struct swim_addr fx_addr(unsigned i)
{
    struct swim_addr a;
    memset(&a, 0, sizeof(a));
    a.family = 4;
    a.ip[0] = 10;
    a.ip[3] = (uint8_t)i;
    a.ip[2] = (uint8_t)(i >> 8);
    a.port = 7946;
    return a;
}

const char *fx_name(unsigned i, char buf[16])
{
    snprintf(buf, 16, "m%u", i);
    return buf;
}

/* ------------------------------------------------------------------------ */
/* Packets. */

void fx_pkt_begin(struct fx_pkt *p, enum swim__kind kind, uint32_t seq,
                  const char *target, const struct swim_addr *target_addr,
                  bool nack)
{
    p->w.buf = p->buf;
    p->w.len = 0;
    p->w.cap = sizeof(p->buf);
    assert_int_equal(
        swim__put_header(&p->w, kind, seq, target, NULL, target_addr, nack), 0);
}

void fx_pkt_ping(struct fx_pkt *p, uint32_t seq, const char *target,
                 const char *from)
{
    p->w.buf = p->buf;
    p->w.len = 0;
    p->w.cap = sizeof(p->buf);
    assert_int_equal(
        swim__put_header(&p->w, SWIM__PING, seq, target, from, NULL, false), 0);
}

static size_t make_update(uint8_t *out, size_t cap, enum swim_state st,
                          const char *name, uint32_t inc,
                          const struct swim_addr *addr, uint32_t meta_version,
                          const char *meta, const char *from)
{
    struct swim__update u;
    memset(&u, 0, sizeof(u));
    u.state = st;
    u.name = name;
    u.name_len = strlen(name);
    u.incarnation = inc;
    if (addr != NULL) {
        u.has_addr = true;
        u.addr = *addr;
    }
    u.meta_version = meta_version;
    if (meta != NULL) {
        u.has_meta = true;
        u.meta = (const uint8_t *)meta;
        u.meta_len = strlen(meta);
    }
    u.from = from ? from : "";
    u.from_len = from ? strlen(from) : 0;
    size_t n = swim__encode_update(&u, out, cap);
    assert_true(n > 0);
    return n;
}

void fx_pkt_update(struct fx_pkt *p, enum swim_state st, const char *name,
                   uint32_t inc, const struct swim_addr *addr,
                   uint32_t meta_version, const char *meta, const char *from)
{
    uint8_t u[SWIM__UPDATE_MAX];
    size_t n = make_update(u, sizeof(u), st, name, inc, addr, meta_version,
                           meta, from);
    assert_int_equal(swim__put_field(&p->w, SWIM__TAG_PACKET_UPDATE, u, n), 0);
}

void fx_pkt_push_pull(struct fx_pkt *p, uint32_t session, uint32_t bucket_count,
                      const uint64_t *digests, size_t n_digests,
                      const uint32_t *buckets, size_t n_buckets, bool join,
                      bool reply, const struct swim__update *entries,
                      size_t n_entries)
{
    static uint8_t body[65536];
    struct swim__wbuf b = {body, 0, sizeof(body)};
    assert_int_equal(swim__put_push_pull_head(&b, session, bucket_count,
                                              digests, n_digests, buckets,
                                              n_buckets, join, reply),
                     0);
    for (size_t i = 0; i < n_entries; i++) {
        uint8_t u[SWIM__UPDATE_MAX];
        size_t n = swim__encode_update(&entries[i], u, sizeof(u));
        assert_true(n > 0);
        assert_int_equal(swim__put_field(&b, SWIM__TAG_PUSH_PULL_ENTRY, u, n),
                         0);
    }
    p->w.buf = p->buf;
    p->w.len = 0;
    p->w.cap = sizeof(p->buf);
    assert_int_equal(swim__put_version(&p->w), 0);
    assert_int_equal(
        swim__put_field(&p->w, SWIM__TAG_PACKET_PUSH_PULL, b.buf, b.len), 0);
}

/* ------------------------------------------------------------------------ */
/* A core by hand. */

void fx_core_new(struct fx_core *c, const struct swim_config *cfg,
                 unsigned peers)
{
    memset(c, 0, sizeof(*c));
    fx_io_init(&c->io);
    cl_rng_seed(&c->rng, 42);
    if (cfg != NULL)
        c->cfg = *cfg;
    else
        swim_config_default(&c->cfg);
    struct swim_addr a = fx_addr(0);
    assert_int_equal(swim_new(&c->cfg, &c->io.io, &c->rng, "m0", &a, 0, &c->s),
                     0);
    for (unsigned i = 1; i <= peers; i++) {
        char name[16];
        struct swim_member_info m;
        memset(&m, 0, sizeof(m));
        m.name = fx_name(i, name);
        m.addr = fx_addr(i);
        m.state = SWIM_ALIVE;
        assert_int_equal(swim_preload(c->s, &m, 0), 0);
    }
}

void fx_core_free(struct fx_core *c)
{
    swim_free(c->s);
    fx_io_free(&c->io);
}

int fx_core_recv(struct fx_core *c, unsigned from, const struct fx_pkt *p,
                 int64_t now)
{
    struct swim_addr a = fx_addr(from);
    c->io.now = now;
    return swim_recv(c->s, &a, p->w.buf, p->w.len, now);
}

void fx_core_run(struct fx_core *c, int64_t until)
{
    for (;;) {
        int64_t d = swim_next_deadline(c->s);
        if (d > until)
            break;
        c->io.now = d;
        swim_tick(c->s, d);
    }
}

int fx_core_state(const struct fx_core *c, unsigned i)
{
    char name[16];
    struct swim_member_info m;
    if (swim_member_find(c->s, fx_name(i, name), &m) != 0)
        return -1;
    return (int)m.state;
}

uint32_t fx_core_inc(const struct fx_core *c, unsigned i)
{
    char name[16];
    struct swim_member_info m;
    assert_int_equal(swim_member_find(c->s, fx_name(i, name), &m), 0);
    return m.incarnation;
}

/* ------------------------------------------------------------------------ */
/* Simulator. */

static void sim_ev(struct swim_sim *sim, size_t observer,
                   const struct swim_event *ev, void *data)
{
    struct fx_sim *f = data;
    fx_log_add(&f->log, swim_sim_now(sim), observer, ev);
}

void fx_sim_new(struct fx_sim *f, const struct swim_sim_config *cfg, size_t n,
                bool bootstrap)
{
    memset(f, 0, sizeof(*f));
    struct swim_sim_config c = *cfg;
    c.on_event = sim_ev;
    c.data = f;
    assert_int_equal(swim_sim_new(&c, &f->sim), 0);
    assert_int_equal(swim_sim_add(f->sim, n, NULL), 0);
    if (bootstrap)
        assert_int_equal(swim_sim_bootstrap(f->sim), 0);
}

void fx_sim_free(struct fx_sim *f)
{
    swim_sim_free(f->sim);
    fx_log_free(&f->log);
}
