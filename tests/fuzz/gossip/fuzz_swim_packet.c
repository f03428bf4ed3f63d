/* fuzz_swim_packet - libFuzzer target for gossip datagram input.
 *
 * Every input goes through the full receive path of a member: the bounded
 * decoder and validator (swim__decode) and then the core's handling of the
 * packet (swim_recv) on a fresh core that knows a few members, followed by a
 * tick so that timers armed by the input run too. The keyring's open is fed
 * the same bytes. The input length picks the configuration (Lifeguard parts
 * on or off). Nothing may crash, leak or read out of bounds. */
#include <stdint.h>
#include <string.h>

#include "gossip/swim.h"
#include "gossip/swim_int.h"

static int fz_send(struct swim_io *io, const struct swim_addr *to,
                   const uint8_t *buf, size_t len)
{
    (void)io;
    (void)to;
    /* What the core sends must always decode. */
    struct swim__packet p;
    if (swim__decode(buf, len, &p) != 0)
        __builtin_trap();
    swim__packet_free(&p);
    return 0;
}

static void fz_event(struct swim_io *io, const struct swim_event *ev)
{
    (void)io;
    if (ev->member.name == NULL || ev->member.name[0] == '\0')
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct swim__packet p;
    if (swim__decode(data, size, &p) == 0)
        swim__packet_free(&p);

    struct swim_config cfg;
    swim_config_default(&cfg);
    cfg.lifeguard = (unsigned)size & SWIM_LIFEGUARD_ALL;
    struct swim_io io = {NULL, fz_send, fz_event};
    cl_rng rng;
    cl_rng_seed(&rng, 1);
    struct swim_addr self = {4, 7946, {10, 0, 0, 1}};
    struct swim *s = NULL;
    if (swim_new(&cfg, &io, &rng, "m0", &self, 0, &s) != 0)
        return 0;
    const char *names[3] = {"m1", "m2", "m3"};
    for (int i = 0; i < 3; i++) {
        struct swim_member_info m;
        memset(&m, 0, sizeof(m));
        m.name = names[i];
        m.addr = self;
        m.addr.ip[3] = (uint8_t)(2 + i);
        m.state = i == 2 ? SWIM_SUSPECT : SWIM_ALIVE;
        m.meta = (const uint8_t *)"meta";
        m.meta_len = 4;
        swim_preload(s, &m, 0);
    }
    struct swim_addr from = self;
    from.ip[3] = 2;
    swim_recv(s, &from, data, size, 10);
    swim_recv(s, &from, data, size, 20); /* again: duplicates */
    swim_tick(s, 5000);
    swim_free(s);

    uint8_t key[SWIM_KEY_SIZE] = {7};
    struct swim_keyring *kr;
    if (swim_keyring_new(key, &kr) == 0) {
        static uint8_t out[SWIM_PACKET_MAX];
        size_t n;
        swim_keyring_open(kr, data, size, out, sizeof(out), &n);
        swim_keyring_free(kr);
    }
    return 0;
}
