#include "ingest/rtmp/handshake.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

#include "core/alloc.h"

const uint8_t rtmp_fp_key[30] = "Genuine Adobe Flash Player 001";

const uint8_t rtmp_fms_key[68] = {
    'G',  'e',  'n',  'u',  'i',  'n',  'e',  ' ',  'A',  'd',  'o',  'b',  'e',  ' ',
    'F',  'l',  'a',  's',  'h',  ' ',  'M',  'e',  'd',  'i',  'a',  ' ',  'S',  'e',
    'r',  'v',  'e',  'r',  ' ',  '0',  '0',  '1',  0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68,
    0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57, 0x6E, 0xEC, 0x5D, 0x2D,
    0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
};

#define FMS_KEY_TEXT_LEN 36
/* The version we put in S1 bytes 4..7: nonzero tells the client we speak the digest flavour
 * (ffmpeg's client checks the first byte is >= 3). */
static const uint8_t server_version[4] = {4, 5, 0, 1};

void rtmp_handshake_init(struct rtmp_handshake *hs)
{
    memset(hs, 0, sizeof(*hs));
}

size_t rtmp_digest_offset(const uint8_t *c1, int scheme)
{
    size_t base = scheme == 0 ? 8 : 772;
    size_t sum = (size_t)c1[base] + c1[base + 1] + c1[base + 2] + c1[base + 3];
    return sum % 728 + base + 4;
}

void rtmp_digest_calc(const uint8_t *pkt, size_t off, const uint8_t *key, size_t keylen,
                      uint8_t out[RTMP_DIGEST_LEN])
{
    uint8_t msg[RTMP_HANDSHAKE_SIZE - RTMP_DIGEST_LEN];
    memcpy(msg, pkt, off);
    memcpy(msg + off, pkt + off + RTMP_DIGEST_LEN, RTMP_HANDSHAKE_SIZE - off - RTMP_DIGEST_LEN);
    unsigned int len = RTMP_DIGEST_LEN;
    if (!HMAC(EVP_sha256(), key, (int)keylen, msg, sizeof(msg), out, &len))
        abort(); /* only fails when OpenSSL cannot allocate */
}

int rtmp_digest_find(const uint8_t *c1)
{
    for (int scheme = 0; scheme < 2; scheme++) {
        size_t off = rtmp_digest_offset(c1, scheme);
        uint8_t d[RTMP_DIGEST_LEN];
        rtmp_digest_calc(c1, off, rtmp_fp_key, sizeof(rtmp_fp_key), d);
        if (CRYPTO_memcmp(d, c1 + off, RTMP_DIGEST_LEN) == 0)
            return scheme;
    }
    return -1;
}

static void random_bytes(uint8_t *p, size_t n)
{
    if (RAND_bytes(p, (int)n) != 1)
        abort(); /* no entropy at all: nothing sensible to do */
}

/* S1 with a server digest at the client's scheme, S2 signed with a key derived from the
 * client's digest. */
static void reply_digest(const uint8_t *c1, int scheme, uint8_t *s1, uint8_t *s2)
{
    random_bytes(s1, RTMP_HANDSHAKE_SIZE);
    memset(s1, 0, 4);
    memcpy(s1 + 4, server_version, 4);
    size_t off = rtmp_digest_offset(s1, scheme);
    rtmp_digest_calc(s1, off, rtmp_fms_key, FMS_KEY_TEXT_LEN, s1 + off);

    size_t coff = rtmp_digest_offset(c1, scheme);
    uint8_t key[RTMP_DIGEST_LEN];
    unsigned int len = RTMP_DIGEST_LEN;
    if (!HMAC(EVP_sha256(), rtmp_fms_key, sizeof(rtmp_fms_key), c1 + coff, RTMP_DIGEST_LEN, key,
              &len))
        abort();
    random_bytes(s2, RTMP_HANDSHAKE_SIZE - RTMP_DIGEST_LEN);
    size_t data_len = RTMP_HANDSHAKE_SIZE - RTMP_DIGEST_LEN;
    if (!HMAC(EVP_sha256(), key, RTMP_DIGEST_LEN, s2, data_len, s2 + data_len, &len))
        abort();
}

static void reply(struct rtmp_handshake *hs, struct buf *out)
{
    uint8_t s[1 + 2 * RTMP_HANDSHAKE_SIZE];
    uint8_t *s1 = s + 1, *s2 = s + 1 + RTMP_HANDSHAKE_SIZE;
    s[0] = 3;
    /* A C1 with a zero version field is a plain-handshake client: no digest to look for. */
    bool has_version = hs->c1[4] | hs->c1[5] | hs->c1[6] | hs->c1[7];
    int scheme = has_version ? rtmp_digest_find(hs->c1) : -1;
    hs->digest = scheme >= 0;
    if (hs->digest) {
        reply_digest(hs->c1, scheme, s1, s2);
    } else {
        random_bytes(s1, RTMP_HANDSHAKE_SIZE);
        memset(s1, 0, 8); /* time 0, zero version: plain */
        memcpy(s2, hs->c1, RTMP_HANDSHAKE_SIZE);
    }
    buf_append(out, s, sizeof(s));
}

int rtmp_handshake_feed(struct rtmp_handshake *hs, const uint8_t *p, size_t n, size_t *used,
                        struct buf *out)
{
    size_t i = 0;
    while (i < n && hs->state != RTMP_HS_DONE) {
        if (hs->state == RTMP_HS_C0) {
            if (p[i++] != 3)
                goto fail;
            hs->state = RTMP_HS_C1;
            continue;
        }
        size_t k = n - i < RTMP_HANDSHAKE_SIZE - hs->have ? n - i : RTMP_HANDSHAKE_SIZE - hs->have;
        if (hs->state == RTMP_HS_C1)
            memcpy(hs->c1 + hs->have, p + i, k);
        hs->have += k;
        i += k;
        if (hs->have < RTMP_HANDSHAKE_SIZE)
            break;
        hs->have = 0;
        if (hs->state == RTMP_HS_C1) {
            reply(hs, out);
            hs->state = RTMP_HS_C2;
        } else {
            hs->state = RTMP_HS_DONE;
        }
    }
    *used = i;
    return hs->state == RTMP_HS_DONE ? 1 : 0;
fail:
    *used = i;
    return -EPROTO;
}
