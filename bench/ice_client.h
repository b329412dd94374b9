/* What the benches' WebRTC load clients (whip_handshakes.c, voice_load.c) share: reading an
 * attribute out of the server's SDP answer, and sending the controlling agent's ICE check. */
#ifndef KIBITKA_BENCH_ICE_CLIENT_H
#define KIBITKA_BENCH_ICE_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/rand.h>

#include "rtc/stun.h"

/* The value after `name` (e.g. "a=ice-pwd:") up to the line's end; false if absent or too long. */
static inline bool bench_sdp_attr(const char *sdp, const char *name, char *out, size_t n)
{
    const char *p = strstr(sdp, name);
    if (!p)
        return false;
    p += strlen(name);
    size_t l = strcspn(p, "\r\n");
    if (l >= n)
        return false;
    memcpy(out, p, l);
    out[l] = '\0';
    return true;
}

/* A binding request with USE-CANDIDATE as the controlling agent, on a connected socket. */
static inline void bench_ice_check(int fd, const char *rufrag, const char *ufrag, const char *rpwd)
{
    uint8_t txid[STUN_TXID_LEN], pkt[512];
    char user[200];
    RAND_bytes(txid, sizeof(txid));
    snprintf(user, sizeof(user), "%s:%s", rufrag, ufrag);
    uint64_t tb;
    RAND_bytes((uint8_t *)&tb, sizeof(tb));
    struct stun_request r = {.txid = txid, .username = user, .priority = 2130706431,
                             .use_candidate = true, .controlling = true, .tiebreaker = tb,
                             .key = rpwd, .keylen = strlen(rpwd)};
    int n = stun_write_binding_request(pkt, sizeof(pkt), &r);
    if (n > 0)
        (void)!send(fd, pkt, (size_t)n, 0);
}

#endif
