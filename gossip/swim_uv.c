/* swim_uv.c - the libuv UDP shell around the SWIM core (see swim_uv.h).
 *
 * Every outgoing datagram is sealed with the keyring's primary key and sent
 * with uv_udp_try_send; when the socket is busy it is copied and queued with
 * uv_udp_send. Every incoming one is bounded by config.max_packet, opened
 * (primary key first, then each accepted key) and handed to the core; any
 * failure is counted and the datagram dropped. One uv timer is re-armed to
 * the core's next deadline after every call into the core. */
#include "gossip/swim_uv.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cl_hash.h"
#include "common/cl_heap.h"
#include "common/cl_log.h"
#include "gossip/swim_int.h"

enum { ST_INIT = 0, ST_STARTED, ST_STOPPED, ST_CLOSING };

/* A membership event copied out of the core, delivered after it returns. */
struct swim_uv_event {
    struct swim_event ev;
    char name[SWIM_NAME_MAX + 1];
    uint8_t *meta; /* cl_malloc'd copy, or NULL */
};

struct swim_uv_resolve {
    uv_getaddrinfo_t req;
    struct swim_uv *u;
    uint16_t port;
    char host[256];
};

struct send_req {
    uv_udp_send_t req;
    struct swim_uv *u;
    size_t len;
    uint8_t data[];
};

/* ------------------------------------------------------------------------ */
/* Address conversions. */

static void to_sockaddr(const struct swim_addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == 6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(a->port);
        memcpy(&s6->sin6_addr, a->ip, 16);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(a->port);
        memcpy(&s4->sin_addr, a->ip, 4);
    }
}

static int from_sockaddr(const struct sockaddr *sa, struct swim_addr *a)
{
    memset(a, 0, sizeof(*a));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        a->family = 4;
        a->port = ntohs(s4->sin_port);
        memcpy(a->ip, &s4->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        a->family = 6;
        a->port = ntohs(s6->sin6_port);
        memcpy(a->ip, &s6->sin6_addr, 16);
        return 0;
    }
    return CL_EINVAL;
}

static bool is_unspecified(const struct swim_addr *a)
{
    static const uint8_t zero[16];
    return memcmp(a->ip, zero, a->family == 6 ? 16 : 4) == 0;
}

/* first_interface - the first non-internal address of the family. */
static int first_interface(int family, struct swim_addr *out)
{
    uv_interface_address_t *ifs = NULL;
    int n = 0;
    if (uv_interface_addresses(&ifs, &n) != 0)
        return CL_EUV;
    int rv = CL_ENOENT;
    for (int i = 0; i < n && rv != 0; i++) {
        if (ifs[i].is_internal)
            continue;
        const struct sockaddr *sa = (const struct sockaddr *)&ifs[i].address;
        if ((family == 4 && sa->sa_family == AF_INET) ||
            (family == 6 && sa->sa_family == AF_INET6))
            rv = from_sockaddr(sa, out);
    }
    uv_free_interface_addresses(ifs, n);
    return rv;
}

/* ------------------------------------------------------------------------ */
/* Events. */

static void core_event(struct swim_io *io, const struct swim_event *ev)
{
    struct swim_uv *u = io->data;
    if (u->on_event == NULL)
        return;
    if (u->n_events == u->cap_events) {
        size_t cap = u->cap_events ? u->cap_events * 2 : 16;
        struct swim_uv_event *e = cl_realloc(u->events, cap * sizeof(*e));
        if (e == NULL)
            return; /* the event is lost; the member list stays right */
        u->events = e;
        u->cap_events = cap;
    }
    struct swim_uv_event *q = &u->events[u->n_events];
    q->ev = *ev;
    snprintf(q->name, sizeof(q->name), "%s", ev->member.name);
    q->meta = NULL;
    if (ev->member.meta_len > 0) {
        q->meta = cl_malloc(ev->member.meta_len);
        if (q->meta == NULL)
            return;
        memcpy(q->meta, ev->member.meta, ev->member.meta_len);
    }
    u->n_events++;
}

static void dispatch_events(struct swim_uv *u)
{
    if (u->dispatching)
        return;
    u->dispatching = true;
    for (size_t i = 0; i < u->n_events; i++) {
        /* Copy out: the callback may queue more and move the array. */
        struct swim_uv_event q = u->events[i];
        u->events[i].meta = NULL; /* owned by q now */
        q.ev.member.name = q.name;
        q.ev.member.meta = q.meta;
        if (u->on_event != NULL && u->state != ST_CLOSING)
            u->on_event(u, &q.ev);
        cl_free(q.meta);
    }
    u->n_events = 0;
    u->dispatching = false;
}

static void drop_events(struct swim_uv *u)
{
    for (size_t i = 0; i < u->n_events; i++)
        cl_free(u->events[i].meta);
    u->n_events = 0;
}

/* ------------------------------------------------------------------------ */
/* Driving the core. */

static void on_timer(uv_timer_t *t);
static void maybe_closed(struct swim_uv *u);

static void finish_leave(struct swim_uv *u, int status)
{
    swim_uv_leave_cb cb = u->leave_cb;
    if (cb == NULL)
        return;
    u->leave_cb = NULL;
    uv_timer_stop(&u->leave_timer);
    cb(u, status);
}

/* after_core - what follows every call into the core: re-arm the timer,
 * complete a leave, deliver events. */
static void after_core(struct swim_uv *u)
{
    if (u->state == ST_STARTED) {
        int64_t d = swim_next_deadline(u->core);
        if (d == INT64_MAX) {
            uv_timer_stop(&u->timer);
        } else {
            int64_t now = (int64_t)uv_now(u->loop);
            uint64_t delay = d > now ? (uint64_t)(d - now) : 0;
            uv_timer_start(&u->timer, on_timer, delay, 0);
        }
        if (u->leave_cb != NULL && swim_leave_done(u->core))
            finish_leave(u, 0);
    }
    dispatch_events(u);
}

static void on_timer(uv_timer_t *t)
{
    struct swim_uv *u = t->data;
    if (u->state != ST_STARTED)
        return;
    swim_tick(u->core, (int64_t)uv_now(u->loop));
    after_core(u);
}

static void on_leave_timeout(uv_timer_t *t)
{
    struct swim_uv *u = t->data;
    bool done = u->core != NULL && swim_leave_done(u->core);
    finish_leave(u, done ? 0 : CL_ETIMEDOUT);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct swim_uv *u = h->data;
    buf->base = (char *)u->recv_buf;
    buf->len = SWIM_PACKET_MAX + 1;
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                    const struct sockaddr *sa, unsigned flags)
{
    (void)buf;
    struct swim_uv *u = h->data;
    if (nread == 0 && sa == NULL)
        return; /* nothing more to read */
    if (nread < 0) {
        u->recv_errors++;
        return;
    }
    if (u->state != ST_STARTED || sa == NULL)
        return;
    if ((flags & UV_UDP_PARTIAL) || (size_t)nread > u->config.max_packet) {
        u->recv_oversize++;
        return;
    }
    size_t len = 0;
    if (swim_keyring_open(u->keyring, u->recv_buf, (size_t)nread, u->open_buf,
                          SWIM_PACKET_MAX, &len) != 0)
        return; /* counted by the keyring */
    struct swim_addr from;
    if (from_sockaddr(sa, &from) != 0)
        return;
    swim_recv(u->core, &from, u->open_buf, len, (int64_t)uv_now(u->loop));
    after_core(u);
}

static void on_sent(uv_udp_send_t *req, int status)
{
    struct send_req *s = (struct send_req *)req;
    struct swim_uv *u = s->u;
    if (status != 0 && status != UV_ECANCELED)
        u->send_errors++;
    u->pending_sends--;
    cl_free(s);
}

static int io_send(struct swim_io *io, const struct swim_addr *to,
                   const uint8_t *buf, size_t len)
{
    struct swim_uv *u = io->data;
    if (u->state != ST_STARTED)
        return CL_ECLOSED;
    size_t sealed = 0;
    int rv = swim_keyring_seal(u->keyring, buf, len, u->seal_buf,
                               SWIM_PACKET_MAX, &sealed);
    if (rv != 0) {
        u->send_errors++;
        return rv;
    }
    struct sockaddr_storage ss;
    to_sockaddr(to, &ss);
    uv_buf_t b = uv_buf_init((char *)u->seal_buf, (unsigned)sealed);
    int n = uv_udp_try_send(&u->udp, &b, 1, (const struct sockaddr *)&ss);
    if (n >= 0)
        return 0;
    if (n != UV_EAGAIN && n != UV_ENOSYS) {
        u->send_errors++;
        return cl_err_from_uv(n);
    }
    /* The socket is busy: queue a copy. */
    struct send_req *s = cl_malloc(sizeof(*s) + sealed);
    if (s == NULL) {
        u->send_errors++;
        return CL_ENOMEM;
    }
    s->u = u;
    s->len = sealed;
    memcpy(s->data, u->seal_buf, sealed);
    b = uv_buf_init((char *)s->data, (unsigned)sealed);
    n = uv_udp_send(&s->req, &u->udp, &b, 1, (const struct sockaddr *)&ss,
                    on_sent);
    if (n != 0) {
        cl_free(s);
        u->send_errors++;
        return cl_err_from_uv(n);
    }
    u->pending_sends++;
    u->send_queued++;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Lifecycle. */

int swim_uv_init(struct swim_uv *u, uv_loop_t *loop,
                 const struct swim_uv_options *opt, cl_errmsg *err)
{
    char why[128];
    void *data = u ? u->data : NULL;
    if (u == NULL || loop == NULL || opt == NULL) {
        cl_errmsg_set(err, "swim_uv_init: missing argument");
        return CL_EINVAL;
    }
    memset(u, 0, sizeof(*u));
    u->data = data;
    if (opt->name == NULL || !swim__name_valid(opt->name, strlen(opt->name))) {
        cl_errmsg_set(err,
                      "gossip: member name must be 1..%d printable "
                      "characters without spaces",
                      SWIM_NAME_MAX);
        return CL_EINVAL;
    }
    if (opt->key == NULL) {
        cl_errmsg_set(err, "gossip: a cluster key is required");
        return CL_EINVAL;
    }
    struct swim_addr bind;
    if (opt->bind == NULL || swim_addr_parse(opt->bind, &bind) != 0) {
        cl_errmsg_set(err, "gossip: bind address '%s' is not IP:PORT",
                      opt->bind ? opt->bind : "");
        return CL_EINVAL;
    }
    if (opt->advertise != NULL) {
        if (swim_addr_parse(opt->advertise, &u->advertise) != 0 ||
            u->advertise.port == 0 || is_unspecified(&u->advertise)) {
            cl_errmsg_set(err,
                          "gossip: advertise address '%s' is not a "
                          "usable IP:PORT",
                          opt->advertise);
            return CL_EINVAL;
        }
        u->has_advertise = true;
    }
    if (opt->config != NULL)
        u->config = *opt->config;
    else
        swim_config_default(&u->config);
    u->config.pool = NULL;
    if (swim_config_check(&u->config, why, sizeof(why)) != 0) {
        cl_errmsg_set(err, "gossip: configuration: %s", why);
        return CL_EINVAL;
    }
    uint64_t seed = opt->seed;
    if (seed == 0) {
        if (cl_crypto_init() != 0) {
            cl_errmsg_set(err, "gossip: libsodium is unusable");
            return CL_ECRYPTO;
        }
        randombytes_buf(&seed, sizeof(seed));
    }
    cl_rng_seed(&u->rng, seed);
    snprintf(u->name, sizeof(u->name), "%s", opt->name);
    to_sockaddr(&bind, &u->bind_sa);
    u->loop = loop;
    u->on_event = opt->on_event;
    u->io.data = u;
    u->io.send = io_send;
    u->io.event = core_event;
    int rv = swim_keyring_new(opt->key, &u->keyring);
    if (rv != 0) {
        cl_errmsg_set(err, "gossip: keyring: %s", cl_strerror(rv));
        return rv;
    }
    u->recv_buf = cl_malloc(SWIM_PACKET_MAX + 1);
    u->open_buf = cl_malloc(SWIM_PACKET_MAX);
    u->seal_buf = cl_malloc(SWIM_PACKET_MAX);
    if (u->recv_buf == NULL || u->open_buf == NULL || u->seal_buf == NULL) {
        rv = CL_ENOMEM;
        cl_errmsg_set(err, "gossip: %s", cl_strerror(rv));
        goto err;
    }
    int uvrv = uv_udp_init(loop, &u->udp);
    if (uvrv != 0) {
        rv = cl_err_from_uv(uvrv);
        cl_errmsg_set(err, "gossip: udp: %s", uv_strerror(uvrv));
        goto err;
    }
    uv_timer_init(loop, &u->timer);
    uv_timer_init(loop, &u->leave_timer);
    u->udp.data = u;
    u->timer.data = u;
    u->leave_timer.data = u;
    u->open_handles = 3;
    u->state = ST_INIT;
    return 0;
err:
    cl_free(u->recv_buf);
    cl_free(u->open_buf);
    cl_free(u->seal_buf);
    swim_keyring_free(u->keyring);
    memset(u, 0, sizeof(*u));
    u->data = data;
    return rv;
}

int swim_uv_start(struct swim_uv *u, cl_errmsg *err)
{
    if (u->state != ST_INIT || u->core != NULL) {
        cl_errmsg_set(err, "gossip: start: already started");
        return CL_ESTATE;
    }
    char text[SWIM_ADDR_STRLEN];
    int uvrv = uv_udp_bind(&u->udp, (const struct sockaddr *)&u->bind_sa, 0);
    if (uvrv != 0) {
        struct swim_addr b;
        from_sockaddr((const struct sockaddr *)&u->bind_sa, &b);
        cl_errmsg_set(err, "gossip: bind %s: %s",
                      swim_addr_format(&b, text, sizeof(text)),
                      uv_strerror(uvrv));
        return cl_err_from_uv(uvrv);
    }
    struct sockaddr_storage ss;
    int sslen = sizeof(ss);
    uvrv = uv_udp_getsockname(&u->udp, (struct sockaddr *)&ss, &sslen);
    struct swim_addr bound;
    if (uvrv != 0 || from_sockaddr((struct sockaddr *)&ss, &bound) != 0) {
        cl_errmsg_set(err, "gossip: getsockname: %s",
                      uvrv ? uv_strerror(uvrv) : "unknown family");
        return uvrv ? cl_err_from_uv(uvrv) : CL_EUV;
    }
    struct swim_addr adv = bound;
    if (u->has_advertise) {
        adv = u->advertise;
    } else if (is_unspecified(&bound)) {
        if (first_interface(bound.family, &adv) != 0) {
            cl_errmsg_set(err, "gossip: bound to a wildcard address and no "
                               "interface address to advertise; set "
                               "advertise");
            return CL_EINVAL;
        }
        adv.port = bound.port;
    }
    u->advertise = adv;
    u->has_advertise = true;
    int rv = swim_new(&u->config, &u->io, &u->rng, u->name, &adv,
                      (int64_t)uv_now(u->loop), &u->core);
    if (rv != 0) {
        cl_errmsg_set(err, "gossip: %s", cl_strerror(rv));
        return rv;
    }
    uvrv = uv_udp_recv_start(&u->udp, on_alloc, on_recv);
    if (uvrv != 0) {
        cl_errmsg_set(err, "gossip: recv: %s", uv_strerror(uvrv));
        return cl_err_from_uv(uvrv);
    }
    u->state = ST_STARTED;
    after_core(u);
    return 0;
}

static int add_seeds(struct swim_uv *u, const struct swim_addr *a, size_t n)
{
    if (n == 0)
        return 0;
    struct swim_addr *s = cl_realloc(u->seeds, (u->n_seeds + n) * sizeof(*s));
    if (s == NULL)
        return CL_ENOMEM;
    memcpy(s + u->n_seeds, a, n * sizeof(*a));
    u->seeds = s;
    u->n_seeds += n;
    if (u->state != ST_STARTED)
        return 0;
    int rv = swim_join(u->core, u->seeds, u->n_seeds, (int64_t)uv_now(u->loop));
    after_core(u);
    return rv;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct swim_uv_resolve *r = (struct swim_uv_resolve *)req;
    struct swim_uv *u = r->u;
    u->pending_resolves--;
    if (status == 0 && u->state == ST_STARTED) {
        struct swim_addr found[8];
        size_t n = 0;
        /* Only addresses our socket can reach: an IPv4 socket skips the
         * IPv6 answers and the other way round. */
        for (struct addrinfo *ai = res; ai != NULL && n < 8; ai = ai->ai_next)
            if (from_sockaddr(ai->ai_addr, &found[n]) == 0 &&
                found[n].family == u->advertise.family) {
                found[n].port = r->port;
                n++;
            }
        add_seeds(u, found, n);
    } else if (status != 0 && status != UV_EAI_CANCELED) {
        /* The core keeps retrying the seeds it has; a seed that does not
         * resolve is reported and skipped. */
        CL_WARN("gossip: seed '%s' does not resolve: %s", r->host,
                uv_strerror(status));
    }
    uv_freeaddrinfo(res);
    cl_free(r);
    maybe_closed(u);
}

int swim_uv_join(struct swim_uv *u, const char *seeds, cl_errmsg *err)
{
    if (u->state != ST_STARTED) {
        cl_errmsg_set(err, "gossip: join: not started");
        return CL_ESTATE;
    }
    if (seeds == NULL || *seeds == '\0') {
        cl_errmsg_set(err, "gossip: join: no seed given");
        return CL_EINVAL;
    }
    /* Parse the whole list first: a malformed item refuses the call. */
    struct swim_addr numeric[64];
    size_t n_numeric = 0;
    struct {
        char host[256];
        uint16_t port;
    } names[64];
    size_t n_names = 0;
    const char *p = seeds;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[300];
        if (len == 0 || len >= sizeof(item)) {
            cl_errmsg_set(err, "gossip: join: bad seed list '%s'", seeds);
            return CL_EINVAL;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (n_numeric + n_names >= 64) {
            cl_errmsg_set(err, "gossip: join: more than 64 seeds");
            return CL_EINVAL;
        }
        if (swim_addr_parse(item, &numeric[n_numeric]) == 0) {
            n_numeric++;
        } else {
            char *colon = strrchr(item, ':');
            unsigned long port = 0;
            char *stop = NULL;
            if (colon != NULL && colon != item && colon[1] != '\0')
                port = strtoul(colon + 1, &stop, 10);
            if (colon == NULL || colon == item || stop == NULL ||
                *stop != '\0' || port == 0 || port > 65535 ||
                (size_t)(colon - item) >= sizeof(names[0].host)) {
                cl_errmsg_set(err,
                              "gossip: join: seed '%s' is not "
                              "HOST:PORT",
                              item);
                return CL_EINVAL;
            }
            *colon = '\0';
            snprintf(names[n_names].host, sizeof(names[n_names].host), "%s",
                     item);
            names[n_names].port = (uint16_t)port;
            n_names++;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    int rv = add_seeds(u, numeric, n_numeric);
    if (rv != 0) {
        cl_errmsg_set(err, "gossip: join: %s", cl_strerror(rv));
        return rv;
    }
    for (size_t i = 0; i < n_names; i++) {
        struct swim_uv_resolve *r = cl_calloc(1, sizeof(*r));
        if (r == NULL) {
            cl_errmsg_set(err, "gossip: join: %s", cl_strerror(CL_ENOMEM));
            return CL_ENOMEM;
        }
        r->u = u;
        r->port = names[i].port;
        snprintf(r->host, sizeof(r->host), "%s", names[i].host);
        struct addrinfo hints;
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_DGRAM;
        int uvrv = uv_getaddrinfo(u->loop, &r->req, on_resolved, r->host, NULL,
                                  &hints);
        if (uvrv != 0) {
            cl_free(r);
            cl_errmsg_set(err, "gossip: join: resolve '%s': %s", names[i].host,
                          uv_strerror(uvrv));
            return cl_err_from_uv(uvrv);
        }
        u->pending_resolves++;
    }
    return 0;
}

int swim_uv_set_meta(struct swim_uv *u, const void *meta, size_t len)
{
    if (u->core == NULL || u->state == ST_CLOSING)
        return CL_ESTATE;
    int rv = swim_set_meta(u->core, meta, len, (int64_t)uv_now(u->loop));
    after_core(u);
    return rv;
}

int swim_uv_leave(struct swim_uv *u, uint64_t timeout_ms, swim_uv_leave_cb cb)
{
    if (u->state != ST_STARTED)
        return CL_ESTATE;
    if (u->leave_cb != NULL)
        return CL_EBUSY;
    int rv = swim_leave(u->core, (int64_t)uv_now(u->loop));
    if (rv != 0)
        return rv;
    after_core(u);
    if (u->state != ST_STARTED)
        return CL_ECANCELED; /* an event callback closed us meanwhile */
    /* The callback is set after after_core() so that it never runs from
     * inside this call; when there is nobody to tell, it runs on the next
     * loop iteration. */
    u->leave_cb = cb;
    if (cb != NULL)
        uv_timer_start(&u->leave_timer, on_leave_timeout,
                       swim_leave_done(u->core) ? 0 : timeout_ms, 0);
    return 0;
}

void swim_uv_stop(struct swim_uv *u)
{
    if (u->state != ST_STARTED)
        return;
    uv_udp_recv_stop(&u->udp);
    uv_timer_stop(&u->timer);
    u->state = ST_STOPPED;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct swim_uv *u = h->data;
    u->open_handles--;
    maybe_closed(u);
}

/* maybe_closed - the last step of closing, once every handle, resolution
 * and queued send has completed. */
static void maybe_closed(struct swim_uv *u)
{
    if (u->state != ST_CLOSING || u->open_handles > 0 ||
        u->pending_resolves > 0 || u->pending_sends > 0)
        return;
    drop_events(u);
    cl_free(u->events);
    swim_free(u->core);
    swim_keyring_free(u->keyring);
    cl_free(u->recv_buf);
    cl_free(u->open_buf);
    cl_free(u->seal_buf);
    cl_free(u->seeds);
    swim_uv_close_cb cb = u->close_cb;
    void *data = u->data;
    memset(u, 0, sizeof(*u));
    u->data = data;
    u->state = ST_CLOSING;
    if (cb != NULL)
        cb(u);
}

void swim_uv_close(struct swim_uv *u, swim_uv_close_cb cb)
{
    if (u->state == ST_CLOSING)
        return;
    swim_uv_stop(u);
    finish_leave(u, CL_ECANCELED);
    u->state = ST_CLOSING;
    u->close_cb = cb;
    drop_events(u);
    /* Pending resolutions complete with UV_EAI_CANCELED; queued sends are
     * cancelled by closing the socket, before its close callback. */
    uv_close((uv_handle_t *)&u->udp, on_handle_closed);
    uv_close((uv_handle_t *)&u->timer, on_handle_closed);
    uv_close((uv_handle_t *)&u->leave_timer, on_handle_closed);
}

/* ------------------------------------------------------------------------ */
/* Queries. */

size_t swim_uv_member_count(const struct swim_uv *u)
{
    return u->core ? swim_member_count(u->core) : 0;
}

int swim_uv_member_at(const struct swim_uv *u, size_t i,
                      struct swim_member_info *out)
{
    if (u->core == NULL)
        return CL_ESTATE;
    return swim_member_at(u->core, i, out);
}

int swim_uv_member_find(const struct swim_uv *u, const char *name,
                        struct swim_member_info *out)
{
    if (u->core == NULL)
        return CL_ESTATE;
    return swim_member_find(u->core, name, out);
}

int swim_uv_addr(const struct swim_uv *u, struct swim_addr *out)
{
    if (u->core == NULL)
        return CL_ESTATE;
    *out = u->advertise;
    return 0;
}

void swim_uv_stats(const struct swim_uv *u, struct swim_uv_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (u->core != NULL)
        out->swim = *swim_stats(u->core);
    if (u->keyring != NULL)
        out->keyring = *swim_keyring_stats(u->keyring);
    out->recv_oversize = u->recv_oversize;
    out->recv_errors = u->recv_errors;
    out->send_errors = u->send_errors;
    out->send_queued = u->send_queued;
}

struct swim_keyring *swim_uv_keyring(struct swim_uv *u)
{
    return u->keyring;
}

const struct swim *swim_uv_core(const struct swim_uv *u)
{
    return u->core;
}
