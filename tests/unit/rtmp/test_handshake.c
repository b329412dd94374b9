/* The handshake: digest C1 (both schemes) gets a digest S1 and a signed S2, a plain C1 gets its
 * echo, a bad version is refused, and ffmpeg's real C1 (from the fuzz seed captured off a real
 * `ffmpeg -f flv rtmp://...` publish) validates. The digests are recomputed here with OpenSSL
 * directly, from the spec, not with the functions under test. */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>

#include "ingest/rtmp/handshake.h"
#include "test.h"

#define HS RTMP_HANDSHAKE_SIZE

static const char fp_key[] = "Genuine Adobe Flash Player 001"; /* 30 bytes */
static const uint8_t fms_tail[32] = {
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE};

static size_t offset(const uint8_t *p, int scheme)
{
    size_t b = scheme ? 772 : 8;
    return ((size_t)p[b] + p[b + 1] + p[b + 2] + p[b + 3]) % 728 + (scheme ? 776 : 12);
}

/* HMAC-SHA256 over the packet without the 32 bytes at off. */
static void digest(const uint8_t *p, size_t off, const void *key, int keylen, uint8_t out[32])
{
    uint8_t msg[HS - 32];
    memcpy(msg, p, off);
    memcpy(msg + off, p + off + 32, HS - off - 32);
    unsigned len = 32;
    HMAC(EVP_sha256(), key, keylen, msg, sizeof(msg), out, &len);
}

static void fms_key(uint8_t key[68])
{
    memcpy(key, "Genuine Adobe Flash Media Server 001", 36);
    memcpy(key + 36, fms_tail, 32);
}

static void make_c1(uint8_t *c1, int scheme, unsigned seed)
{
    srand(seed);
    for (int i = 0; i < HS; i++)
        c1[i] = (uint8_t)rand();
    memset(c1, 0, 4);
    c1[4] = 9; /* Flash Player 9.0.124.2 */
    c1[5] = 0;
    c1[6] = 124;
    c1[7] = 2;
    if (scheme < 0)
        return;
    size_t off = offset(c1, scheme);
    digest(c1, off, fp_key, 30, c1 + off);
}

/* Runs C0 C1 (one byte at a time when slow) and C2 + 5 extra bytes; returns the reply. */
static int run(const uint8_t *c1, uint8_t version, bool slow, struct buf *out, bool *digest_used)
{
    struct rtmp_handshake hs;
    rtmp_handshake_init(&hs);
    uint8_t in[1 + 2 * HS + 5];
    in[0] = version;
    memcpy(in + 1, c1, HS);
    memset(in + 1 + HS, 0x33, HS + 5);
    size_t pos = 0, used = 0;
    int r = 0;
    while (pos < sizeof(in) && r == 0) {
        size_t n = slow ? 1 : sizeof(in) - pos;
        r = rtmp_handshake_feed(&hs, in + pos, n, &used, out);
        pos += used;
    }
    if (r == 1)
        CHECK_EQ_INT(pos, 1 + 2 * HS); /* the 5 bytes after C2 belong to the chunk stream */
    *digest_used = hs.digest;
    return r;
}

static void check_digest_reply(const uint8_t *c1, int scheme, const struct buf *out)
{
    CHECK_EQ_INT(buf_size(out), 1 + 2 * HS);
    if (buf_size(out) != 1 + 2 * HS)
        return;
    const uint8_t *s1 = buf_head(out) + 1, *s2 = s1 + HS;
    CHECK_EQ_INT(buf_head(out)[0], 3);
    CHECK(s1[4] >= 3); /* ffmpeg's client looks for a digest only then */
    uint8_t key[68], d[32];
    fms_key(key);
    size_t off = offset(s1, scheme);
    digest(s1, off, key, 36, d);
    CHECK(memcmp(d, s1 + off, 32) == 0);

    uint8_t s2key[32];
    unsigned len = 32;
    HMAC(EVP_sha256(), key, 68, c1 + offset(c1, scheme), 32, s2key, &len);
    HMAC(EVP_sha256(), s2key, 32, s2, HS - 32, d, &len);
    CHECK(memcmp(d, s2 + HS - 32, 32) == 0);
}

static void test_digest(void)
{
    for (int scheme = 0; scheme < 2; scheme++) {
        for (int slow = 0; slow < 2; slow++) {
            uint8_t c1[HS];
            make_c1(c1, scheme, 42 + (unsigned)scheme);
            CHECK_EQ_INT(rtmp_digest_find(c1), scheme);
            struct buf out;
            buf_init(&out);
            bool used;
            CHECK_EQ_INT(run(c1, 3, slow, &out, &used), 1);
            CHECK(used);
            check_digest_reply(c1, scheme, &out);
            buf_free(&out);
        }
    }
}

static void test_plain(void)
{
    uint8_t c1[HS];
    for (int variant = 0; variant < 2; variant++) {
        make_c1(c1, 0, 7);
        if (variant == 0)
            memset(c1 + 4, 0, 4); /* zero version: a plain client */
        else
            c1[offset(c1, 0)] ^= 1; /* a version but a wrong digest */
        CHECK_EQ_INT(rtmp_digest_find(c1), -1);
        struct buf out;
        buf_init(&out);
        bool used;
        CHECK_EQ_INT(run(c1, 3, false, &out, &used), 1);
        CHECK(!used);
        CHECK_EQ_INT(buf_size(&out), 1 + 2 * HS);
        CHECK(buf_size(&out) == 1 + 2 * HS && memcmp(buf_head(&out) + 1 + HS, c1, HS) == 0);
        buf_free(&out);
    }
}

static void test_bad_version(void)
{
    uint8_t c1[HS];
    make_c1(c1, 0, 1);
    static const uint8_t versions[] = {0, 6, 0xFF, 'G'};
    for (int i = 0; i < 4; i++) {
        struct buf out;
        buf_init(&out);
        bool used;
        CHECK_EQ_INT(run(c1, versions[i], false, &out, &used), -EPROTO);
        CHECK_EQ_INT(buf_size(&out), 0);
        buf_free(&out);
    }
    /* A short C1 is simply incomplete: no reply yet. */
    struct rtmp_handshake hs;
    rtmp_handshake_init(&hs);
    struct buf out;
    buf_init(&out);
    uint8_t part[100] = {3};
    size_t used;
    CHECK_EQ_INT(rtmp_handshake_feed(&hs, part, sizeof(part), &used, &out), 0);
    CHECK_EQ_INT(used, sizeof(part));
    CHECK_EQ_INT(buf_size(&out), 0);
    buf_free(&out);
}

static void test_ffmpeg_c1(void)
{
    FILE *f = fopen("tests/fuzz/corpus/fuzz_rtmp/ffmpeg_publish.bin", "rb");
    CHECK(f != NULL);
    if (!f)
        return;
    uint8_t c01[1 + HS];
    CHECK_EQ_INT(fread(c01, 1, sizeof(c01), f), sizeof(c01));
    fclose(f);
    CHECK_EQ_INT(c01[0], 3);
    CHECK_EQ_INT(rtmp_digest_find(c01 + 1), 0); /* ffmpeg puts its digest at scheme 0 */
    struct buf out;
    buf_init(&out);
    bool used;
    CHECK_EQ_INT(run(c01 + 1, 3, false, &out, &used), 1);
    CHECK(used);
    check_digest_reply(c01 + 1, 0, &out);
    buf_free(&out);
}

int main(void)
{
    test_digest();
    test_plain();
    test_bad_version();
    test_ffmpeg_c1();
    return test_report("test_handshake");
}
