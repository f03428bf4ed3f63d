/* gen_corpus - writes the seed corpus of fuzz_swim_packet: one valid
 * datagram of every kind, as the wire codec builds them. Run as
 * `gen_corpus DIR`; the files are committed under corpus/. */
#include <stdio.h>
#include <string.h>

#include "gossip/swim_int.h"

static uint8_t buf[4096];

static void write_file(const char *dir, const char *name,
                       const struct swim__wbuf *w)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        perror(path);
        return;
    }
    fwrite(w->buf, 1, w->len, f);
    fclose(f);
}

static void add_update(struct swim__wbuf *w, uint8_t tag, enum swim_state st,
                       const char *name, uint32_t inc, const char *meta,
                       const char *from)
{
    struct swim__update u;
    uint8_t enc[SWIM__UPDATE_MAX];
    memset(&u, 0, sizeof(u));
    u.state = st;
    u.name = name;
    u.name_len = strlen(name);
    u.incarnation = inc;
    u.has_addr = true;
    u.addr.family = 4;
    u.addr.port = 7946;
    u.addr.ip[0] = 10;
    u.addr.ip[3] = 2;
    u.meta_version = meta ? 1 : 0;
    u.has_meta = meta != NULL;
    u.meta = (const uint8_t *)meta;
    u.meta_len = meta ? strlen(meta) : 0;
    u.from = from ? from : "";
    u.from_len = from ? strlen(from) : 0;
    size_t n = swim__encode_update(&u, enc, sizeof(enc));
    swim__put_field(w, tag, enc, n);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    struct swim__wbuf w;
    struct swim_addr t = {4, 7946, {10, 0, 0, 3}};

    w = (struct swim__wbuf){buf, 0, sizeof(buf)};
    swim__put_header(&w, SWIM__PING, 7, "m0", "m1", NULL, false);
    add_update(&w, SWIM__TAG_PACKET_UPDATE, SWIM_SUSPECT, "m0", 0, NULL, "m1");
    write_file(dir, "ping-buddy", &w);

    w = (struct swim__wbuf){buf, 0, sizeof(buf)};
    swim__put_header(&w, SWIM__PING_REQ, 8, "m3", NULL, &t, true);
    write_file(dir, "ping-req", &w);

    w = (struct swim__wbuf){buf, 0, sizeof(buf)};
    swim__put_header(&w, SWIM__ACK, 1, NULL, NULL, NULL, false);
    add_update(&w, SWIM__TAG_PACKET_UPDATE, SWIM_ALIVE, "m9", 3, "meta", NULL);
    write_file(dir, "ack-alive", &w);

    w = (struct swim__wbuf){buf, 0, sizeof(buf)};
    swim__put_header(&w, SWIM__NACK, 1, NULL, NULL, NULL, false);
    write_file(dir, "nack", &w);

    w = (struct swim__wbuf){buf, 0, sizeof(buf)};
    swim__put_header(&w, SWIM__GOSSIP, 0, NULL, NULL, NULL, false);
    add_update(&w, SWIM__TAG_PACKET_UPDATE, SWIM_SUSPECT, "m1", 0, NULL, "m2");
    add_update(&w, SWIM__TAG_PACKET_UPDATE, SWIM_DEAD, "m2", 0, NULL, "m1");
    add_update(&w, SWIM__TAG_PACKET_UPDATE, SWIM_LEFT, "m3", 1, NULL, "m3");
    write_file(dir, "gossip", &w);

    static uint8_t body[4096];
    struct swim__wbuf b = {body, 0, sizeof(body)};
    uint64_t d[2] = {1, 2};
    uint32_t bk[1] = {1};
    swim__put_push_pull_head(&b, 5, 2, d, 2, bk, 1, false, true);
    add_update(&b, SWIM__TAG_PUSH_PULL_ENTRY, SWIM_ALIVE, "m7", 2, "x", NULL);
    add_update(&b, SWIM__TAG_PUSH_PULL_ENTRY, SWIM_SUSPECT, "m8", 2, NULL,
               NULL);
    w = (struct swim__wbuf){buf, 0, sizeof(buf)};
    swim__put_version(&w);
    swim__put_field(&w, SWIM__TAG_PACKET_PUSH_PULL, b.buf, b.len);
    write_file(dir, "push-pull", &w);

    b.len = 0;
    uint64_t zero = 0;
    swim__put_push_pull_head(&b, 6, 1, &zero, 1, NULL, 0, true, false);
    add_update(&b, SWIM__TAG_PUSH_PULL_ENTRY, SWIM_ALIVE, "m5", 0, "", NULL);
    w = (struct swim__wbuf){buf, 0, sizeof(buf)};
    swim__put_version(&w);
    swim__put_field(&w, SWIM__TAG_PACKET_PUSH_PULL, b.buf, b.len);
    write_file(dir, "join", &w);
    return 0;
}
