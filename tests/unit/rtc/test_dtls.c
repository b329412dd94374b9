/* rtc/dtls + rtc/srtp: two endpoints in memory (each with its own process context and the
 * other's fingerprint) exchange datagrams until both are connected; the exported SRTP keys
 * agree; SRTP/SRTCP sessions made from them round-trip, refuse replays and flipped bits; both
 * profiles. Bad cases: a wrong fingerprint, garbage and mangled handshake fragments, lost
 * flights recovered by retransmission, the handshake deadline, close_notify.
 *
 * Retransmission uses OpenSSL's timer, which reads real time: test_retransmit's contexts use a
 * 20 ms initial timeout, and the waits poll next_timeout_us in steps of at most 5 ms, bounded at 5
 * s.
 *
 * KIBITKA_DTLS_SEED_DIR=DIR writes fuzz seeds there (tests/fuzz/corpus/fuzz_dtls/): the
 * client's ClientHello and the server's first flight. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "rtc/dtls.h"
#include "rtc/srtp.h"
#include "test.h"

#define QMAX 64

struct queue {
    int n, drop; /* drop: how many more datagrams to throw away */
    size_t len[QMAX];
    uint8_t data[QMAX][1500];
    size_t max_len;
};

static void on_send(void *opaque, const uint8_t *data, size_t len)
{
    struct queue *q = opaque;
    if (len > q->max_len)
        q->max_len = len;
    if (q->drop > 0) {
        q->drop--;
        return;
    }
    if (q->n == QMAX || len > sizeof(q->data[0]))
        return;
    memcpy(q->data[q->n], data, len);
    q->len[q->n++] = len;
}

/* Feeds everything queued for `to`; returns how many datagrams moved. */
static int deliver(struct queue *q, struct rtc_dtls *to)
{
    int n = q->n;
    for (int i = 0; i < n; i++)
        rtc_dtls_feed(to, q->data[i], q->len[i], clock_mono_us());
    q->n = 0;
    return n;
}

struct pair {
    struct queue cq, sq; /* what the client sent, what the server sent */
    struct rtc_dtls *client, *server;
};

static void pair_make(struct pair *p, struct rtc_dtls_ctx *cctx, struct rtc_dtls_ctx *sctx,
                      const struct rtc_dtls_fingerprint *client_expects,
                      const struct rtc_dtls_fingerprint *server_expects)
{
    memset(p, 0, sizeof(*p));
    struct rtc_dtls_fingerprint fc, fs;
    rtc_dtls_ctx_fingerprint_bytes(sctx, &fs);
    rtc_dtls_ctx_fingerprint_bytes(cctx, &fc);
    int64_t now = clock_mono_us();
    p->client = rtc_dtls_create(cctx, RTC_DTLS_CLIENT, client_expects ? client_expects : &fs,
                                on_send, &p->cq, now);
    p->server = rtc_dtls_create(sctx, RTC_DTLS_SERVER, server_expects ? server_expects : &fc,
                                on_send, &p->sq, now);
}

static void pair_free(struct pair *p)
{
    rtc_dtls_destroy(&p->client);
    rtc_dtls_destroy(&p->server);
}

static int done(struct rtc_dtls *d)
{
    return rtc_dtls_state(d) != RTC_DTLS_HANDSHAKING;
}

/* Moves datagrams both ways, running timers when nothing moves, until both sides are done or
 * 5 s pass. */
static void pump(struct pair *p)
{
    int64_t end = clock_mono_us() + 5000000;
    while (!(done(p->client) && done(p->server)) && clock_mono_us() < end) {
        int moved = deliver(&p->cq, p->server) + deliver(&p->sq, p->client);
        if (moved)
            continue;
        int64_t now = clock_mono_us();
        int64_t tc = rtc_dtls_next_timeout_us(p->client, now);
        int64_t ts = rtc_dtls_next_timeout_us(p->server, now);
        int64_t t = tc < 0 ? ts : (ts < 0 || tc < ts ? tc : ts);
        if (t < 0)
            break;
        if (t > 0)
            usleep((useconds_t)(t < 5000 ? t : 5000));
        rtc_dtls_on_timeout(p->client, clock_mono_us());
        rtc_dtls_on_timeout(p->server, clock_mono_us());
    }
}

static struct rtc_dtls_ctx *make_ctx_timeout(const char *profiles, unsigned initial_ms)
{
    struct rtc_dtls_ctx_options o = {.srtp_profiles = profiles, .initial_timeout_ms = initial_ms};
    struct rtc_dtls_ctx *c = NULL;
    CHECK_EQ_INT(rtc_dtls_ctx_create(&c, &o), 0);
    return c;
}

static struct rtc_dtls_ctx *make_ctx(const char *profiles)
{
    return make_ctx_timeout(profiles, 0); /* the default 1 s */
}

/* ---- SRTP over the exported keys ---- */

static size_t make_rtp(uint8_t *b, uint16_t seq, uint32_t ssrc)
{
    b[0] = 0x80;
    b[1] = 96;
    b[2] = (uint8_t)(seq >> 8);
    b[3] = (uint8_t)seq;
    memset(b + 4, 0, 4);
    b[8] = (uint8_t)(ssrc >> 24);
    b[9] = (uint8_t)(ssrc >> 16);
    b[10] = (uint8_t)(ssrc >> 8);
    b[11] = (uint8_t)ssrc;
    for (int i = 0; i < 100; i++)
        b[12 + i] = (uint8_t)(i * 7 + seq);
    return 112;
}

static size_t make_rtcp_rr(uint8_t *b, uint32_t ssrc)
{
    memset(b, 0, 32);
    b[0] = 0x81; /* V=2, RC=1 */
    b[1] = 201;
    b[3] = 7; /* length in words - 1 */
    b[4] = (uint8_t)(ssrc >> 24);
    b[7] = (uint8_t)ssrc;
    b[8] = 0x12; /* the reported SSRC */
    return 32;
}

/* Sender protects, receiver unprotects: same bytes back; replay; flipped bit; stale. */
static void check_rtp(struct rtc_srtp *tx, struct rtc_srtp *rx, uint32_t ssrc)
{
    uint8_t orig[200], pkt[200], copy[200];
    size_t olen = make_rtp(orig, 1000, ssrc), len = olen;
    memcpy(pkt, orig, olen);
    CHECK_EQ_INT(rtc_srtp_protect_rtp(tx, pkt, &len, 12), -ENOBUFS);
    CHECK_EQ_INT(rtc_srtp_protect_rtp(tx, pkt, &len, sizeof(pkt)), 0);
    CHECK(len > olen);
    CHECK(memcmp(pkt + 12, orig + 12, 100) != 0); /* encrypted */
    memcpy(copy, pkt, len);
    size_t clen = len;
    CHECK_EQ_INT(rtc_srtp_unprotect_rtp(rx, pkt, &len), 0);
    CHECK_EQ_INT(len, olen);
    CHECK(memcmp(pkt, orig, olen) == 0);
    CHECK_EQ_INT(rtc_srtp_unprotect_rtp(rx, copy, &clen), -EALREADY); /* replayed */

    len = make_rtp(pkt, 1001, ssrc);
    CHECK_EQ_INT(rtc_srtp_protect_rtp(tx, pkt, &len, sizeof(pkt)), 0);
    pkt[40] ^= 0x10;
    CHECK_EQ_INT(rtc_srtp_unprotect_rtp(rx, pkt, &len), -EBADMSG);

    /* 1002 held back while 3100 arrives: 1002 is then behind the 1024-packet window. */
    uint8_t old[200];
    size_t oldlen = make_rtp(old, 1002, ssrc);
    CHECK_EQ_INT(rtc_srtp_protect_rtp(tx, old, &oldlen, sizeof(old)), 0);
    len = make_rtp(pkt, 3100, ssrc);
    CHECK_EQ_INT(rtc_srtp_protect_rtp(tx, pkt, &len, sizeof(pkt)), 0);
    CHECK_EQ_INT(rtc_srtp_unprotect_rtp(rx, pkt, &len), 0);
    CHECK_EQ_INT(rtc_srtp_unprotect_rtp(rx, old, &oldlen), -ESTALE);
    CHECK_STREQ(rtc_srtp_strerror(-ESTALE), "packet too old for the replay window");

    /* A new SSRC (an RTX stream, say) needs no set-up on the receiving side. */
    len = make_rtp(pkt, 5, ssrc + 1);
    CHECK_EQ_INT(rtc_srtp_protect_rtp(tx, pkt, &len, sizeof(pkt)), 0);
    CHECK_EQ_INT(rtc_srtp_unprotect_rtp(rx, pkt, &len), 0);
}

static void check_rtcp(struct rtc_srtp *tx, struct rtc_srtp *rx, uint32_t ssrc)
{
    uint8_t orig[64], pkt[64], copy[64];
    size_t olen = make_rtcp_rr(orig, ssrc), len = olen;
    memcpy(pkt, orig, olen);
    CHECK_EQ_INT(rtc_srtp_protect_rtcp(tx, pkt, &len, olen + 4), -ENOBUFS);
    CHECK_EQ_INT(rtc_srtp_protect_rtcp(tx, pkt, &len, sizeof(pkt)), 0);
    CHECK(len >= olen + 14);
    memcpy(copy, pkt, len);
    size_t clen = len;
    CHECK_EQ_INT(rtc_srtp_unprotect_rtcp(rx, pkt, &len), 0);
    CHECK_EQ_INT(len, olen);
    CHECK(memcmp(pkt, orig, olen) == 0);
    CHECK_EQ_INT(rtc_srtp_unprotect_rtcp(rx, copy, &clen), -EALREADY);

    len = make_rtcp_rr(pkt, ssrc);
    CHECK_EQ_INT(rtc_srtp_protect_rtcp(tx, pkt, &len, sizeof(pkt)), 0);
    pkt[12] ^= 0x01;
    CHECK_EQ_INT(rtc_srtp_unprotect_rtcp(rx, pkt, &len), -EBADMSG);
}

/* A fuzz seed (tests/fuzz/fuzz_dtls.c's input format): a mode byte, then each queued datagram
 * after a 2-byte length. Only when KIBITKA_DTLS_SEED_DIR is set. */
static void write_seed(const char *name, int mode, const struct queue *q)
{
    const char *dir = getenv("KIBITKA_DTLS_SEED_DIR");
    char path[512];
    if (!dir || snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
        return;
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fputc(mode, f);
    for (int i = 0; i < q->n; i++) {
        fputc((int)(q->len[i] >> 8), f);
        fputc((int)(q->len[i] & 0xff), f);
        fwrite(q->data[i], 1, q->len[i], f);
    }
    fclose(f);
}

static void test_handshake(const char *profiles, enum rtc_srtp_profile want)
{
    struct rtc_dtls_ctx *cctx = make_ctx(profiles), *sctx = make_ctx(profiles);
    struct pair p;
    pair_make(&p, cctx, sctx, NULL, NULL);
    CHECK_EQ_INT(rtc_dtls_start(p.server, clock_mono_us()), -EINVAL);
    struct rtc_srtp_keys kc, ks;
    CHECK_EQ_INT(rtc_dtls_srtp_keys(p.client, &kc), -EAGAIN);
    CHECK_EQ_INT(rtc_dtls_start(p.client, clock_mono_us()), 0);
    CHECK(p.cq.n >= 1); /* the ClientHello (and a retransmission on a slow box) */
    if (!profiles)
        write_seed("client_hello", 0, &p.cq);
    deliver(&p.cq, p.server);
    CHECK(p.sq.n >= 1); /* ServerHello .. ServerHelloDone */
    if (!profiles)
        write_seed("server_flight", 1, &p.sq);
    pump(&p);
    CHECK_EQ_INT(rtc_dtls_state(p.client), RTC_DTLS_CONNECTED);
    CHECK_EQ_INT(rtc_dtls_state(p.server), RTC_DTLS_CONNECTED);
    CHECK(p.cq.max_len <= 1200 && p.sq.max_len <= 1200);
    CHECK_EQ_INT(rtc_dtls_srtp_keys(p.client, &kc), 0);
    CHECK_EQ_INT(rtc_dtls_srtp_keys(p.server, &ks), 0);
    CHECK_EQ_INT(kc.profile, want);
    CHECK(memcmp(&kc, &ks, sizeof(kc)) == 0);
    CHECK(memcmp(kc.client_key, kc.server_key, kc.key_len) != 0);
    CHECK_EQ_INT(rtc_dtls_next_timeout_us(p.client, clock_mono_us()), -1);

    struct rtc_srtp *sc = NULL, *ss = NULL;
    CHECK_EQ_INT(rtc_srtp_create(&sc, &kc, 1), 0);
    CHECK_EQ_INT(rtc_srtp_create(&ss, &ks, 0), 0);
    if (sc && ss) {
        check_rtp(sc, ss, 0x11111111);
        check_rtp(ss, sc, 0x22222222);
        check_rtcp(sc, ss, 0x11111111);
        check_rtcp(ss, sc, 0x22222222);
    }
    /* The wrong role: the inbound key is then our own write key, nothing authenticates. */
    struct rtc_srtp *wrong = NULL;
    CHECK_EQ_INT(rtc_srtp_create(&wrong, &ks, 1), 0);
    if (wrong && sc) {
        uint8_t pkt[200];
        size_t len = make_rtp(pkt, 7, 0x33);
        CHECK_EQ_INT(rtc_srtp_protect_rtp(sc, pkt, &len, sizeof(pkt)), 0);
        CHECK_EQ_INT(rtc_srtp_unprotect_rtp(wrong, pkt, &len), -EBADMSG);
    }
    rtc_srtp_destroy(&wrong);
    rtc_srtp_destroy(&sc);
    rtc_srtp_destroy(&ss);
    CHECK(sc == NULL);

    /* close_notify reaches the server. */
    p.cq.n = 0;
    rtc_dtls_close(p.client);
    CHECK_EQ_INT(rtc_dtls_state(p.client), RTC_DTLS_CLOSED);
    CHECK_EQ_INT(deliver(&p.cq, p.server), 1);
    CHECK_EQ_INT(rtc_dtls_state(p.server), RTC_DTLS_CLOSED);
    CHECK_STREQ(rtc_dtls_reason(p.server), "peer closed");
    pair_free(&p);
    rtc_dtls_ctx_destroy(&cctx);
    rtc_dtls_ctx_destroy(&sctx);
}

static void test_fingerprint_string(void)
{
    struct rtc_dtls_ctx *c = make_ctx(NULL);
    if (!c)
        return;
    const char *s = rtc_dtls_ctx_fingerprint(c);
    CHECK_EQ_INT(strlen(s), 8 + 32 * 3 - 1);
    CHECK(strncmp(s, "sha-256 ", 8) == 0);
    for (const char *p = s + 8; *p; p++)
        CHECK((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'F') || *p == ':');
    struct rtc_dtls_fingerprint a, b;
    rtc_dtls_ctx_fingerprint_bytes(c, &a);
    CHECK_EQ_INT(rtc_dtls_fingerprint_parse(s, &b), 0);
    CHECK(a.hash == b.hash && a.len == b.len && memcmp(a.md, b.md, a.len) == 0);
    CHECK_EQ_INT(rtc_dtls_fingerprint_parse("SHA-1 00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:"
                                            "ff:00:11:22:33",
                                            &b),
                 0);
    CHECK_EQ_INT(b.len, 20);
    CHECK_EQ_INT(rtc_dtls_fingerprint_parse("sha-256 00:11", &b), -EINVAL);
    CHECK_EQ_INT(rtc_dtls_fingerprint_parse("md5 00:11", &b), -EINVAL);
    CHECK_EQ_INT(rtc_dtls_fingerprint_parse("sha-1 00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:"
                                            "ff:00:11:22:33:",
                                            &b),
                 -EINVAL);
    struct rtc_dtls_ctx_options bad = {.srtp_profiles = "SRTP_NOPE"};
    struct rtc_dtls_ctx *x = NULL;
    CHECK_EQ_INT(rtc_dtls_ctx_create(&x, &bad), -EINVAL);
    CHECK(x == NULL);
    rtc_dtls_ctx_destroy(&c);
}

/* The client expects another certificate than the server has, then the other way round. */
static void test_fingerprint_mismatch(void)
{
    struct rtc_dtls_ctx *cctx = make_ctx(NULL), *sctx = make_ctx(NULL), *other = make_ctx(NULL);
    struct rtc_dtls_fingerprint wrong;
    rtc_dtls_ctx_fingerprint_bytes(other, &wrong);
    struct rtc_srtp_keys k;

    struct pair p;
    pair_make(&p, cctx, sctx, &wrong, NULL);
    rtc_dtls_start(p.client, clock_mono_us());
    pump(&p);
    CHECK_EQ_INT(rtc_dtls_state(p.client), RTC_DTLS_FAILED);
    CHECK_STREQ(rtc_dtls_reason(p.client), "fingerprint mismatch");
    CHECK_EQ_INT(rtc_dtls_srtp_keys(p.client, &k), -EINVAL);
    CHECK(rtc_dtls_state(p.server) != RTC_DTLS_CONNECTED);
    CHECK_STREQ(rtc_dtls_reason(p.server), "DTLS alert: bad certificate");
    CHECK_EQ_INT(rtc_dtls_srtp_keys(p.server, &k), -EINVAL);
    pair_free(&p);

    /* The server expects another certificate than the client has. */
    pair_make(&p, cctx, sctx, NULL, &wrong);
    rtc_dtls_start(p.client, clock_mono_us());
    pump(&p);
    CHECK_EQ_INT(rtc_dtls_state(p.server), RTC_DTLS_FAILED);
    CHECK_STREQ(rtc_dtls_reason(p.server), "fingerprint mismatch");
    CHECK_EQ_INT(rtc_dtls_srtp_keys(p.server, &k), -EINVAL);
    CHECK_EQ_INT(rtc_dtls_state(p.client), RTC_DTLS_FAILED);
    CHECK_STREQ(rtc_dtls_reason(p.client), "DTLS alert: bad certificate");
    pair_free(&p);
    rtc_dtls_ctx_destroy(&cctx);
    rtc_dtls_ctx_destroy(&sctx);
    rtc_dtls_ctx_destroy(&other);
}

/* The SDP may name sha-1, sha-384 or sha-512 instead of sha-256: accepted when the digest is
 * right; the right sha-256 bytes cut down and labelled sha-1 are not. */
static void test_other_hashes(void)
{
    struct rtc_dtls_ctx *cctx = make_ctx(NULL), *sctx = make_ctx(NULL);
    struct rtc_dtls_fingerprint fc, fs;
    CHECK_EQ_INT(rtc_dtls_ctx_digest(cctx, RTC_DTLS_SHA1, &fc), 0);
    CHECK_EQ_INT(rtc_dtls_ctx_digest(sctx, RTC_DTLS_SHA512, &fs), 0);
    CHECK_EQ_INT(fc.len, 20);
    CHECK_EQ_INT(fs.len, 64);
    struct pair p;
    pair_make(&p, cctx, sctx, &fs, &fc);
    rtc_dtls_start(p.client, clock_mono_us());
    pump(&p);
    CHECK_EQ_INT(rtc_dtls_state(p.client), RTC_DTLS_CONNECTED);
    CHECK_EQ_INT(rtc_dtls_state(p.server), RTC_DTLS_CONNECTED);
    pair_free(&p);

    CHECK_EQ_INT(rtc_dtls_ctx_digest(sctx, RTC_DTLS_SHA384, &fs), 0);
    CHECK_EQ_INT(fs.len, 48);
    rtc_dtls_ctx_fingerprint_bytes(cctx, &fc);
    fc.hash = RTC_DTLS_SHA1;
    fc.len = 20;
    pair_make(&p, cctx, sctx, &fs, &fc);
    rtc_dtls_start(p.client, clock_mono_us());
    pump(&p);
    CHECK_EQ_INT(rtc_dtls_state(p.server), RTC_DTLS_FAILED);
    CHECK_STREQ(rtc_dtls_reason(p.server), "fingerprint mismatch");
    pair_free(&p);
    rtc_dtls_ctx_destroy(&cctx);
    rtc_dtls_ctx_destroy(&sctx);
}

/* Garbage, truncated, oversized and duplicated fragments before the real ClientHello: the
 * server survives them all and still completes the handshake. */
static void test_garbage(void)
{
    struct rtc_dtls_ctx *cctx = make_ctx(NULL), *sctx = make_ctx(NULL);
    struct pair p;
    pair_make(&p, cctx, sctx, NULL, NULL);
    int64_t now = clock_mono_us();
    uint8_t buf[1500];
    srand(13);
    for (int i = 0; i < 200; i++) {
        size_t n = (size_t)(rand() % (int)sizeof(buf));
        for (size_t j = 0; j < n; j++)
            buf[j] = (uint8_t)rand();
        if (i % 2)
            buf[0] = 22; /* looks like a handshake record */
        rtc_dtls_feed(p.server, buf, n, now);
    }
    CHECK_EQ_INT(rtc_dtls_feed(p.server, buf, 0, now), -EINVAL);
    CHECK_EQ_INT(rtc_dtls_state(p.server), RTC_DTLS_HANDSHAKING);

    rtc_dtls_start(p.client, now);
    CHECK(p.cq.n >= 1);
    size_t len = p.cq.len[0];
    uint8_t hello[1500];
    memcpy(hello, p.cq.data[0], len);
    /* Record framing: 13-byte header, then the 12-byte handshake header. */
    memcpy(buf, hello, len);
    CHECK_EQ_INT(rtc_dtls_feed(p.server, buf, len - 1, now), -EINVAL); /* truncated record */
    CHECK_EQ_INT(rtc_dtls_feed(p.server, buf, 20, now), -EINVAL);
    buf[13 + 11] = (uint8_t)(buf[13 + 11] + 1); /* fragment longer than its record */
    CHECK_EQ_INT(rtc_dtls_feed(p.server, buf, len, now), -EINVAL);
    memcpy(buf, hello, len);
    buf[13 + 1] = 0;
    buf[13 + 2] = 0;
    buf[13 + 3] = 5; /* fragment past the message's length */
    CHECK_EQ_INT(rtc_dtls_feed(p.server, buf, len, now), -EINVAL);
    memcpy(buf, hello, len);
    buf[13 + 1] = 0xff; /* a 16 MB message */
    CHECK_EQ_INT(rtc_dtls_feed(p.server, buf, len, now), -EINVAL);
    memcpy(buf, hello, len);
    memcpy(buf + len, hello, 10); /* trailing bytes that are no record */
    CHECK_EQ_INT(rtc_dtls_feed(p.server, buf, len + 10, now), -EINVAL);
    CHECK_EQ_INT(p.sq.n, 0);
    CHECK_EQ_INT(rtc_dtls_state(p.server), RTC_DTLS_HANDSHAKING);

    /* A well-framed first fragment alone (the rest never comes in this datagram): OpenSSL keeps
     * it for reassembly, the whole message later completes it. */
    size_t half = (len - 25) / 2;
    memcpy(buf, hello, 25 + half);
    buf[11] = (uint8_t)((12 + half) >> 8);
    buf[12] = (uint8_t)(12 + half);
    buf[13 + 9] = (uint8_t)(half >> 16);
    buf[13 + 10] = (uint8_t)(half >> 8);
    buf[13 + 11] = (uint8_t)half;
    CHECK_EQ_INT(rtc_dtls_feed(p.server, buf, 25 + half, now), 0);
    CHECK_EQ_INT(rtc_dtls_state(p.server), RTC_DTLS_HANDSHAKING);

    /* The real ClientHello, twice. */
    CHECK(deliver(&p.cq, p.server) >= 1);
    CHECK_EQ_INT(rtc_dtls_feed(p.server, hello, len, now), 0);
    pump(&p);
    CHECK_EQ_INT(rtc_dtls_state(p.client), RTC_DTLS_CONNECTED);
    CHECK_EQ_INT(rtc_dtls_state(p.server), RTC_DTLS_CONNECTED);

    /* Connected: garbage and a stale ClientHello change nothing. */
    for (int i = 0; i < 50; i++) {
        size_t n = (size_t)(rand() % 300);
        for (size_t j = 0; j < n; j++)
            buf[j] = (uint8_t)rand();
        buf[0] = (uint8_t)(20 + i % 6);
        buf[1] = 0xfe;
        buf[2] = 0xfd;
        rtc_dtls_feed(p.server, buf, n, now);
    }
    rtc_dtls_feed(p.server, hello, len, now);
    CHECK_EQ_INT(rtc_dtls_state(p.server), RTC_DTLS_CONNECTED);
    pair_free(&p);
    rtc_dtls_ctx_destroy(&cctx);
    rtc_dtls_ctx_destroy(&sctx);
}

/* Lost flights: the ClientHello, then the server's first flight, then the client's second.
 * Each is recovered by a retransmission from on_timeout. */
static void test_retransmit(void)
{
    struct rtc_dtls_ctx *cctx = make_ctx_timeout(NULL, 20), *sctx = make_ctx_timeout(NULL, 20);
    struct pair p;
    pair_make(&p, cctx, sctx, NULL, NULL);
    p.cq.drop = 100;
    rtc_dtls_start(p.client, clock_mono_us());
    CHECK_EQ_INT(p.cq.n, 0);
    p.cq.drop = 0;
    int64_t t = rtc_dtls_next_timeout_us(p.client, clock_mono_us());
    CHECK(t >= 0 && t <= 20000);
    t = rtc_dtls_next_timeout_us(p.server, clock_mono_us()); /* only the deadline */
    CHECK(t > 29000000 && t <= 30000000);
    int64_t end = clock_mono_us() + 5000000;
    while (p.cq.n == 0 && clock_mono_us() < end) {
        t = rtc_dtls_next_timeout_us(p.client, clock_mono_us());
        if (t > 0)
            usleep((useconds_t)(t < 5000 ? t : 5000));
        rtc_dtls_on_timeout(p.client, clock_mono_us());
    }
    CHECK(p.cq.n >= 1); /* the ClientHello again */
    p.sq.drop = 100;    /* the server's whole first flight */
    deliver(&p.cq, p.server);
    CHECK(p.sq.drop < 100);
    p.sq.drop = 0;
    pump(&p);
    CHECK_EQ_INT(rtc_dtls_state(p.client), RTC_DTLS_CONNECTED);
    CHECK_EQ_INT(rtc_dtls_state(p.server), RTC_DTLS_CONNECTED);
    pair_free(&p);

    /* The client's second flight (certificate .. finished) lost once. */
    pair_make(&p, cctx, sctx, NULL, NULL);
    rtc_dtls_start(p.client, clock_mono_us());
    deliver(&p.cq, p.server);
    deliver(&p.sq, p.client);
    CHECK(p.cq.n > 0);
    p.cq.n = 0;
    pump(&p);
    CHECK_EQ_INT(rtc_dtls_state(p.client), RTC_DTLS_CONNECTED);
    CHECK_EQ_INT(rtc_dtls_state(p.server), RTC_DTLS_CONNECTED);
    pair_free(&p);
    rtc_dtls_ctx_destroy(&cctx);
    rtc_dtls_ctx_destroy(&sctx);
}

/* The deadline counts on the caller's clock: no real waiting. */
static void test_handshake_timeout(void)
{
    struct rtc_dtls_ctx *sctx = make_ctx(NULL);
    struct rtc_dtls_fingerprint fp;
    rtc_dtls_ctx_fingerprint_bytes(sctx, &fp);
    struct queue q = {0};
    struct rtc_dtls *s = rtc_dtls_create(sctx, RTC_DTLS_SERVER, &fp, on_send, &q, 1000);
    CHECK_EQ_INT(rtc_dtls_next_timeout_us(s, 1000), 30000000);
    rtc_dtls_on_timeout(s, 1000 + 29000000);
    CHECK_EQ_INT(rtc_dtls_state(s), RTC_DTLS_HANDSHAKING);
    CHECK_EQ_INT(rtc_dtls_next_timeout_us(s, 1000 + 29000000), 1000000);
    rtc_dtls_on_timeout(s, 1000 + 30000000);
    CHECK_EQ_INT(rtc_dtls_state(s), RTC_DTLS_FAILED);
    CHECK_STREQ(rtc_dtls_reason(s), "handshake timeout");
    CHECK_EQ_INT(rtc_dtls_next_timeout_us(s, 1000 + 30000000), -1);
    rtc_dtls_destroy(&s);
    CHECK(s == NULL);
    rtc_dtls_ctx_destroy(&sctx);
}

/* ---- interop: `openssl s_client -dtls1_2 -use_srtp` against a server endpoint ----
 * Over a loopback UDP socket. s_client prints the keying material it exports with the same
 * label; RFC 5764 §4.2 lays it out as client key, server key, client salt, server salt, which
 * checks our split against another implementation. */

static int run(const char *cmd)
{
    int r = system(cmd);
    return r == 0 ? 0 : -1;
}

struct udp_peer {
    int fd;
    struct sockaddr_in addr;
    int have_addr;
};

static void udp_send(void *opaque, const uint8_t *data, size_t len)
{
    struct udp_peer *u = opaque;
    if (u->have_addr)
        (void)sendto(u->fd, data, len, 0, (struct sockaddr *)&u->addr, sizeof(u->addr));
}

/* "sha256 Fingerprint=AB:CD..." from `openssl x509 -fingerprint` to our parser's form. */
static int read_fingerprint(const char *cert, struct rtc_dtls_fingerprint *fp)
{
    char cmd[600], line[300];
    snprintf(cmd, sizeof(cmd), "openssl x509 -in %s -noout -fingerprint -sha256", cert);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    int ok = fgets(line, sizeof(line), f) != NULL;
    pclose(f);
    char *eq = ok ? strchr(line, '=') : NULL;
    if (!eq)
        return -1;
    eq[strcspn(eq, "\r\n")] = '\0';
    char sdp[300];
    snprintf(sdp, sizeof(sdp), "sha-256 %s", eq + 1);
    return rtc_dtls_fingerprint_parse(sdp, fp);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02X", b[i]);
}

static void test_interop_s_client(void)
{
    char dir[] = "/tmp/kibitka-dtls-XXXXXX", cmd[1024];
    if (run("openssl version >/dev/null 2>&1") != 0 || !mkdtemp(dir)) {
        fprintf(stderr, "test_dtls: interop with openssl s_client skipped (no openssl)\n");
        return;
    }
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "
             "%s/k.pem -out %s/c.pem -subj /CN=interop -days 1 >/dev/null 2>&1",
             dir, dir);
    struct rtc_dtls_fingerprint fp;
    CHECK_EQ_INT(run(cmd), 0);
    char cert[64];
    snprintf(cert, sizeof(cert), "%s/c.pem", dir);
    CHECK_EQ_INT(read_fingerprint(cert, &fp), 0);

    struct udp_peer u = {.fd = socket(AF_INET, SOCK_DGRAM, 0)};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    CHECK(u.fd >= 0 && bind(u.fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
          getsockname(u.fd, (struct sockaddr *)&a, &alen) == 0);
    struct rtc_dtls_ctx *sctx = make_ctx(NULL);
    struct rtc_dtls *s = rtc_dtls_create(sctx, RTC_DTLS_SERVER, &fp, udp_send, &u, clock_mono_us());
    snprintf(cmd, sizeof(cmd),
             "openssl s_client -dtls1_2 -connect 127.0.0.1:%d -use_srtp SRTP_AES128_CM_SHA1_80 "
             "-keymatexport EXTRACTOR-dtls_srtp -keymatexportlen 60 -cert %s/c.pem -key %s/k.pem "
             "</dev/null 2>&1",
             ntohs(a.sin_port), dir, dir);
    FILE *out = popen(cmd, "r");
    CHECK(out != NULL);
    int64_t end = clock_mono_us() + 10000000;
    while (out && rtc_dtls_state(s) == RTC_DTLS_HANDSHAKING && clock_mono_us() < end) {
        struct pollfd pfd = {.fd = u.fd, .events = POLLIN};
        int64_t t = rtc_dtls_next_timeout_us(s, clock_mono_us());
        int ms = t < 0 || t > 100000 ? 100 : (int)(t / 1000);
        if (poll(&pfd, 1, ms) == 1) {
            uint8_t buf[2048];
            alen = sizeof(u.addr);
            ssize_t n = recvfrom(u.fd, buf, sizeof(buf), 0, (struct sockaddr *)&u.addr, &alen);
            u.have_addr = 1;
            if (n > 0)
                rtc_dtls_feed(s, buf, (size_t)n, clock_mono_us());
        } else
            rtc_dtls_on_timeout(s, clock_mono_us());
    }
    CHECK_EQ_INT(rtc_dtls_state(s), RTC_DTLS_CONNECTED);
    struct rtc_srtp_keys k;
    char want[130] = "", line[512];
    if (rtc_dtls_srtp_keys(s, &k) == 0) {
        CHECK_EQ_INT(k.profile, RTC_SRTP_AES128_CM_SHA1_80);
        hex(k.client_key, 16, want);
        hex(k.server_key, 16, want + 32);
        hex(k.client_salt, 14, want + 64);
        hex(k.server_salt, 14, want + 92);
    }
    int seen = 0;
    while (out && fgets(line, sizeof(line), out)) {
        char *km = strstr(line, "Keying material: ");
        if (km) {
            km += strlen("Keying material: ");
            km[strcspn(km, "\r\n")] = '\0';
            CHECK_STREQ(km, want);
            seen = 1;
        }
    }
    CHECK(seen);
    if (out)
        pclose(out);
    rtc_dtls_destroy(&s);
    rtc_dtls_ctx_destroy(&sctx);
    close(u.fd);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    run(cmd);
}

int main(void)
{
    test_fingerprint_string();
    test_handshake(NULL, RTC_SRTP_AEAD_AES_128_GCM);
    test_handshake("SRTP_AEAD_AES_128_GCM", RTC_SRTP_AEAD_AES_128_GCM);
    test_handshake("SRTP_AES128_CM_SHA1_80", RTC_SRTP_AES128_CM_SHA1_80);
    test_fingerprint_mismatch();
    test_other_hashes();
    test_garbage();
    test_retransmit();
    test_handshake_timeout();
    test_interop_s_client();
    return test_report("test_dtls");
}
