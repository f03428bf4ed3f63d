/* swim_wire.c - the gossip wire format: bounded decode and validation of
 * Packets, and assembly of outgoing ones.
 *
 * Decoding goes through protobuf-c with Couler's allocator, bounded by the
 * datagram size, then every field is checked before the core sees it.
 * Encoding assembles packets by hand around protobuf-c: the header (version
 * and body) is packed by protobuf-c, and piggybacked updates, which the core
 * keeps pre-encoded, are appended as raw length-delimited fields. Protobuf
 * allows a message's fields in any order, so the result is one valid
 * Packet. */
#include "gossip/swim_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "common/cl_err.h"
#include "common/cl_heap.h"
#include "gossip.pb-c.h"

/* ------------------------------------------------------------------------ */
/* Addresses and names. */

size_t swim__addr_encode(const struct swim_addr *a, uint8_t out[18])
{
    size_t n = a->family == 6 ? 16 : 4;
    memcpy(out, a->ip, n);
    out[n] = (uint8_t)(a->port >> 8);
    out[n + 1] = (uint8_t)(a->port & 0xff);
    return n + 2;
}

int swim__addr_decode(const uint8_t *in, size_t len, struct swim_addr *a)
{
    if (len != 6 && len != 18)
        return CL_EPROTO;
    memset(a, 0, sizeof(*a));
    size_t n = len - 2;
    a->family = n == 4 ? 4 : 6;
    memcpy(a->ip, in, n);
    a->port = (uint16_t)((in[n] << 8) | in[n + 1]);
    return 0;
}

bool swim__name_valid(const char *s, size_t len)
{
    if (len == 0 || len > SWIM_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e)
            return false;
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* Decoding. */

struct alloc_state {
    bool failed;
};

static void *pb_alloc(void *data, size_t size)
{
    void *p = cl_malloc(size);
    if (p == NULL)
        ((struct alloc_state *)data)->failed = true;
    return p;
}

static void pb_free(void *data, void *ptr)
{
    (void)data;
    cl_free(ptr);
}

static int check_update(const Couler__Gossip__Update *pu,
                        struct swim__update *u)
{
    memset(u, 0, sizeof(*u));
    if ((int)pu->state < 0 || (int)pu->state > 3)
        return CL_EPROTO;
    u->state = (enum swim_state)pu->state;
    u->name = pu->name;
    u->name_len = strlen(pu->name);
    if (!swim__name_valid(u->name, u->name_len))
        return CL_EPROTO;
    u->incarnation = pu->incarnation;
    if (pu->addr.len > 0) {
        if (swim__addr_decode(pu->addr.data, pu->addr.len, &u->addr) != 0)
            return CL_EPROTO;
        u->has_addr = true;
    }
    if (u->state == SWIM_ALIVE && !u->has_addr)
        return CL_EPROTO;
    u->meta_version = pu->meta_version;
    u->has_meta = pu->has_meta;
    if (pu->meta.len > SWIM_META_MAX)
        return CL_EPROTO;
    if (!u->has_meta && pu->meta.len != 0)
        return CL_EPROTO;
    u->meta = pu->meta.len ? pu->meta.data : NULL;
    u->meta_len = pu->meta.len;
    u->from = pu->from;
    u->from_len = strlen(pu->from);
    if (u->from_len > 0 && !swim__name_valid(u->from, u->from_len))
        return CL_EPROTO;
    return 0;
}

static int check_updates(Couler__Gossip__Update **in, size_t n, size_t max,
                         struct swim__update **out)
{
    *out = NULL;
    if (n == 0)
        return 0;
    if (n > max)
        return CL_EPROTO;
    struct swim__update *u = cl_calloc(n, sizeof(*u));
    if (u == NULL)
        return CL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int rv = check_update(in[i], &u[i]);
        if (rv != 0) {
            cl_free(u);
            return rv;
        }
    }
    *out = u;
    return 0;
}

static int check_push_pull(const Couler__Gossip__PushPull *pp,
                           struct swim__packet *p)
{
    if (pp->bucket_count == 0 || pp->bucket_count > SWIM__MAX_BUCKETS)
        return CL_EPROTO;
    if (pp->n_digests != 0 && pp->n_digests != pp->bucket_count)
        return CL_EPROTO;
    if (pp->n_buckets > pp->bucket_count)
        return CL_EPROTO;
    for (size_t i = 0; i < pp->n_buckets; i++)
        if (pp->buckets[i] >= pp->bucket_count)
            return CL_EPROTO;
    p->session = pp->session;
    p->bucket_count = pp->bucket_count;
    p->digests = pp->digests;
    p->n_digests = pp->n_digests;
    p->buckets = pp->buckets;
    p->n_buckets = pp->n_buckets;
    p->join = pp->join;
    p->reply = pp->reply;
    int rv = check_updates(pp->entries, pp->n_entries, SWIM__MAX_ENTRIES,
                           &p->entries);
    if (rv != 0)
        return rv;
    p->n_entries = pp->n_entries;
    return 0;
}

int swim__decode(const uint8_t *buf, size_t len, struct swim__packet *out)
{
    memset(out, 0, sizeof(*out));
    if (len > SWIM_PACKET_MAX)
        return CL_ETOOBIG;
    struct alloc_state st = {false};
    ProtobufCAllocator alloc = {pb_alloc, pb_free, &st};
    Couler__Gossip__Packet *pb =
        couler__gossip__packet__unpack(&alloc, len, buf);
    if (pb == NULL)
        return st.failed ? CL_ENOMEM : CL_EPROTO;
    int rv = 0;
    if (pb->version != SWIM__VERSION) {
        rv = CL_EVERSION;
        goto err;
    }
    switch (pb->body_case) {
    case COULER__GOSSIP__PACKET__BODY__NOT_SET:
        out->kind = SWIM__GOSSIP;
        break;
    case COULER__GOSSIP__PACKET__BODY_PING:
        out->kind = SWIM__PING;
        out->seq = pb->ping->seq;
        out->target = pb->ping->target;
        out->from = pb->ping->from;
        if (!swim__name_valid(out->target, strlen(out->target)) ||
            (out->from[0] != '\0' &&
             !swim__name_valid(out->from, strlen(out->from)))) {
            rv = CL_EPROTO;
            goto err;
        }
        break;
    case COULER__GOSSIP__PACKET__BODY_PING_REQ:
        out->kind = SWIM__PING_REQ;
        out->seq = pb->ping_req->seq;
        out->target = pb->ping_req->target;
        out->nack = pb->ping_req->nack;
        if (!swim__name_valid(out->target, strlen(out->target)) ||
            swim__addr_decode(pb->ping_req->target_addr.data,
                              pb->ping_req->target_addr.len,
                              &out->target_addr) != 0) {
            rv = CL_EPROTO;
            goto err;
        }
        break;
    case COULER__GOSSIP__PACKET__BODY_ACK:
        out->kind = SWIM__ACK;
        out->seq = pb->ack->seq;
        break;
    case COULER__GOSSIP__PACKET__BODY_NACK:
        out->kind = SWIM__NACK;
        out->seq = pb->nack->seq;
        break;
    case COULER__GOSSIP__PACKET__BODY_PUSH_PULL:
        out->kind = SWIM__PUSH_PULL;
        rv = check_push_pull(pb->push_pull, out);
        if (rv != 0)
            goto err;
        break;
    default:
        rv = CL_EPROTO;
        goto err;
    }
    rv = check_updates(pb->updates, pb->n_updates, SWIM__MAX_UPDATES,
                       &out->updates);
    if (rv != 0)
        goto err;
    out->n_updates = pb->n_updates;
    out->pb = pb;
    return 0;
err:
    cl_free(out->entries);
    memset(out, 0, sizeof(*out));
    couler__gossip__packet__free_unpacked(pb, &alloc);
    return rv;
}

void swim__packet_free(struct swim__packet *p)
{
    if (p->pb != NULL) {
        struct alloc_state st = {false};
        ProtobufCAllocator alloc = {pb_alloc, pb_free, &st};
        couler__gossip__packet__free_unpacked(p->pb, &alloc);
    }
    cl_free(p->entries);
    cl_free(p->updates);
    memset(p, 0, sizeof(*p));
}

/* ------------------------------------------------------------------------ */
/* Encoding. */

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

size_t swim__field_size(size_t len)
{
    return 1 + varint_size(len) + len;
}

int swim__put_field(struct swim__wbuf *w, uint8_t tag, const uint8_t *data,
                    size_t len)
{
    if (w->len + swim__field_size(len) > w->cap)
        return CL_ETOOBIG;
    w->buf[w->len++] = tag;
    w->len += put_varint(w->buf + w->len, len);
    if (len > 0)
        memcpy(w->buf + w->len, data, len);
    w->len += len;
    return 0;
}

static int put_message(struct swim__wbuf *w, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    if (w->len + n > w->cap)
        return CL_ETOOBIG;
    w->len += protobuf_c_message_pack(m, w->buf + w->len);
    return 0;
}

int swim__put_version(struct swim__wbuf *w)
{
    Couler__Gossip__Packet pkt = COULER__GOSSIP__PACKET__INIT;
    pkt.version = SWIM__VERSION;
    return put_message(w, &pkt.base);
}

int swim__put_header(struct swim__wbuf *w, enum swim__kind kind, uint32_t seq,
                     const char *target, const char *from,
                     const struct swim_addr *target_addr, bool nack)
{
    Couler__Gossip__Packet pkt = COULER__GOSSIP__PACKET__INIT;
    Couler__Gossip__Ping ping = COULER__GOSSIP__PING__INIT;
    Couler__Gossip__PingReq req = COULER__GOSSIP__PING_REQ__INIT;
    Couler__Gossip__Ack ack = COULER__GOSSIP__ACK__INIT;
    Couler__Gossip__Nack nk = COULER__GOSSIP__NACK__INIT;
    uint8_t abuf[18];
    pkt.version = SWIM__VERSION;
    switch (kind) {
    case SWIM__GOSSIP:
        break;
    case SWIM__PING:
        ping.seq = seq;
        ping.target = (char *)target;
        if (from != NULL)
            ping.from = (char *)from;
        pkt.body_case = COULER__GOSSIP__PACKET__BODY_PING;
        pkt.ping = &ping;
        break;
    case SWIM__PING_REQ:
        req.seq = seq;
        req.target = (char *)target;
        req.target_addr.len = swim__addr_encode(target_addr, abuf);
        req.target_addr.data = abuf;
        req.nack = nack;
        pkt.body_case = COULER__GOSSIP__PACKET__BODY_PING_REQ;
        pkt.ping_req = &req;
        break;
    case SWIM__ACK:
        ack.seq = seq;
        pkt.body_case = COULER__GOSSIP__PACKET__BODY_ACK;
        pkt.ack = &ack;
        break;
    case SWIM__NACK:
        nk.seq = seq;
        pkt.body_case = COULER__GOSSIP__PACKET__BODY_NACK;
        pkt.nack = &nk;
        break;
    default:
        return CL_EINVAL;
    }
    return put_message(w, &pkt.base);
}

int swim__put_push_pull_head(struct swim__wbuf *w, uint32_t session,
                             uint32_t bucket_count, const uint64_t *digests,
                             size_t n_digests, const uint32_t *buckets,
                             size_t n_buckets, bool join, bool reply)
{
    Couler__Gossip__PushPull pp = COULER__GOSSIP__PUSH_PULL__INIT;
    pp.session = session;
    pp.bucket_count = bucket_count;
    pp.digests = (uint64_t *)digests;
    pp.n_digests = n_digests;
    pp.buckets = (uint32_t *)buckets;
    pp.n_buckets = n_buckets;
    pp.join = join;
    pp.reply = reply;
    return put_message(w, &pp.base);
}

size_t swim__encode_update(const struct swim__update *u, uint8_t *buf,
                           size_t cap)
{
    Couler__Gossip__Update pu = COULER__GOSSIP__UPDATE__INIT;
    uint8_t abuf[18];
    char name[SWIM_NAME_MAX + 1];
    char from[SWIM_NAME_MAX + 1];
    if (u->name_len > SWIM_NAME_MAX || u->from_len > SWIM_NAME_MAX)
        return 0;
    memcpy(name, u->name, u->name_len);
    name[u->name_len] = '\0';
    pu.state = (Couler__Gossip__MemberState)u->state;
    pu.name = name;
    pu.incarnation = u->incarnation;
    if (u->has_addr) {
        pu.addr.len = swim__addr_encode(&u->addr, abuf);
        pu.addr.data = abuf;
    }
    pu.meta_version = u->meta_version;
    if (u->has_meta) {
        pu.has_meta = 1;
        pu.meta.len = u->meta_len;
        pu.meta.data = (uint8_t *)u->meta;
    }
    if (u->from_len > 0) {
        memcpy(from, u->from, u->from_len);
        from[u->from_len] = '\0';
        pu.from = from;
    }
    size_t n = couler__gossip__update__get_packed_size(&pu);
    if (n > cap)
        return 0;
    return couler__gossip__update__pack(&pu, buf);
}

/* ------------------------------------------------------------------------ */
/* Public address helpers. */

int swim_addr_parse(const char *text, struct swim_addr *out)
{
    char host[64];
    const char *port_s;
    if (text == NULL || out == NULL)
        return CL_EINVAL;
    memset(out, 0, sizeof(*out));
    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (end == NULL || end[1] != ':' ||
            (size_t)(end - text - 1) >= sizeof(host))
            return CL_EINVAL;
        memcpy(host, text + 1, (size_t)(end - text - 1));
        host[end - text - 1] = '\0';
        port_s = end + 2;
        if (inet_pton(AF_INET6, host, out->ip) != 1)
            return CL_EINVAL;
        out->family = 6;
    } else {
        const char *colon = strrchr(text, ':');
        if (colon == NULL || (size_t)(colon - text) >= sizeof(host))
            return CL_EINVAL;
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port_s = colon + 1;
        if (inet_pton(AF_INET, host, out->ip) != 1)
            return CL_EINVAL;
        out->family = 4;
    }
    if (*port_s == '\0')
        return CL_EINVAL;
    unsigned long port = 0;
    for (const char *p = port_s; *p; p++) {
        if (*p < '0' || *p > '9')
            return CL_EINVAL;
        port = port * 10 + (unsigned long)(*p - '0');
        if (port > 65535)
            return CL_EINVAL;
    }
    out->port = (uint16_t)port;
    return 0;
}

char *swim_addr_format(const struct swim_addr *a, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];
    if (len == 0)
        return buf;
    buf[0] = '\0';
    if (a->family == 4) {
        if (inet_ntop(AF_INET, a->ip, ip, sizeof(ip)) != NULL)
            snprintf(buf, len, "%s:%u", ip, (unsigned)a->port);
    } else if (a->family == 6) {
        if (inet_ntop(AF_INET6, a->ip, ip, sizeof(ip)) != NULL)
            snprintf(buf, len, "[%s]:%u", ip, (unsigned)a->port);
    } else {
        snprintf(buf, len, "none");
    }
    return buf;
}

bool swim_addr_equal(const struct swim_addr *a, const struct swim_addr *b)
{
    if (a->family != b->family || a->port != b->port)
        return false;
    return memcmp(a->ip, b->ip, a->family == 6 ? 16 : 4) == 0;
}
