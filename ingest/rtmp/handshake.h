/* The RTMP handshake, server side, as a pure state machine over bytes (no sockets).
 *
 *   client: C0 (1 byte, version 3) C1 (1536 bytes)       server: S0 S1 S2 (1 + 1536 + 1536)
 *   client: C2 (1536 bytes)                               -> done, the chunk stream follows
 *
 * Two flavours. Plain: S1 is random, S2 echoes C1. Digest (Flash-era encoders: FMLE, Wirecast,
 * and ffmpeg's client): C1 carries an HMAC-SHA256 digest keyed with "Genuine Adobe Flash Player
 * 001" at scheme 0 (offset from bytes 8..11) or scheme 1 (from bytes 772..775). When one
 * validates, S1 carries a server digest at the same scheme (key: the 36-byte "Genuine Adobe
 * Flash Media Server 001") and S2 ends with HMAC-SHA256(key = HMAC-SHA256(68-byte FMS key,
 * client digest), data = S2's first 1504 bytes). Otherwise the plain reply is sent. C2 is read
 * and not checked (encoders differ; nothing depends on it). */
#ifndef KIBITKA_INGEST_RTMP_HANDSHAKE_H
#define KIBITKA_INGEST_RTMP_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define RTMP_HANDSHAKE_SIZE 1536
#define RTMP_DIGEST_LEN 32

enum rtmp_hs_state { RTMP_HS_C0, RTMP_HS_C1, RTMP_HS_C2, RTMP_HS_DONE };

struct rtmp_handshake {
    enum rtmp_hs_state state;
    uint8_t c1[RTMP_HANDSHAKE_SIZE];
    size_t have; /* bytes of the current C1 or C2 */
    bool digest; /* the client's C1 carried a valid digest */
};

void rtmp_handshake_init(struct rtmp_handshake *hs);
/* Consumes bytes from p[0, n) (at most up to the end of C2: *used says how many), appends S0S1S2
 * to out once C1 is complete. Returns 1 when the handshake is done, 0 when it needs more bytes,
 * -EPROTO on a C0 version other than 3. */
int rtmp_handshake_feed(struct rtmp_handshake *hs, const uint8_t *p, size_t n, size_t *used,
                        struct buf *out);

/* Exposed for tests. The offset of the digest in a 1536-byte C1/S1 for scheme 0 or 1. */
size_t rtmp_digest_offset(const uint8_t *c1, int scheme);
/* HMAC-SHA256 of the 1536-byte packet minus the 32 digest bytes at off. */
void rtmp_digest_calc(const uint8_t *pkt, size_t off, const uint8_t *key, size_t keylen,
                      uint8_t out[RTMP_DIGEST_LEN]);
/* The scheme (0 or 1) whose digest validates with the Flash Player key, or -1. */
int rtmp_digest_find(const uint8_t *c1);

/* The 68-byte server key ("Genuine Adobe Flash Media Server 001" + 32 fixed bytes) and the
 * 30-byte client key. */
extern const uint8_t rtmp_fms_key[68];
extern const uint8_t rtmp_fp_key[30];

#endif
