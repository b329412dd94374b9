/* The hand-driven WebRTC peer of test_transport.c: plain sockets on the test's loop, STUN checks,
 * a DTLS endpoint, SRTP, RTP/RTCP; and the session user's callbacks that record what the
 * session delivered. Included by test_transport.c after the sources under test. */
#ifndef KIBITKA_TEST_TRANSPORT_PEER_H
#define KIBITKA_TEST_TRANSPORT_PEER_H

#include <ctype.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/uio.h>

#include "core/buf.h"
#include "rtc/rtcp.h"
#include "rtc/srtp.h"
#include "rtc/stun.h"
#include "test.h"

#define SSRC 0x11223344u
#define PEER_PWD_LEN 24

static struct loop *loop;
static struct metrics *mx;
static struct rtc_transport *tr;
static struct rtc_dtls_ctx *ctx_good, *ctx_other;

/* ---- running the loop ---- */

typedef bool (*cond_fn)(void *arg);
struct wait {
    cond_fn cond;
    void *arg;
    int64_t deadline;
};
static void (*tick_hook)(void);

static void poll_cb(struct loop *l, void *o)
{
    struct wait *w = o;
    if (tick_hook)
        tick_hook();
    if ((w->cond && w->cond(w->arg)) || clock_mono_us() > w->deadline)
        loop_stop(l);
}

/* Runs the loop until cond(arg) holds, at most ms milliseconds; NULL cond: runs ms. */
static bool run_until(cond_fn cond, void *arg, int ms)
{
    struct wait w = {cond, arg, clock_mono_us() + (int64_t)ms * 1000};
    struct loop_timer *t = loop_timer_add(loop, 2, true, poll_cb, &w);
    loop_run(loop);
    loop_timer_cancel(loop, t);
    return cond ? cond(arg) : true;
}

static int64_t mval(const char *name, const char *label)
{
    return metrics_value(mx, name, label);
}
static int64_t dropped(const char *reason)
{
    return mval("kibitka_rtc_dropped_total", reason);
}
static int64_t stun_rejected(const char *reason)
{
    return mval("kibitka_rtc_stun_rejected_total", reason);
}
static int64_t failures(const char *reason)
{
    return mval("kibitka_webrtc_failures_total", reason);
}

/* ---- a peer ---- */

struct peer {
    const char *name;
    int fd;
    struct sockaddr_in srv;
    char ufrag[8], pwd[PEER_PWD_LEN + 1];
    char srv_ufrag[32], srv_pwd[64];
    struct rtc_dtls_fingerprint srv_fp;
    struct rtc_dtls *dtls;
    struct rtc_srtp *srtp;
    struct rtc_session *s;
    bool dup_dtls; /* send every DTLS datagram twice */
    bool dtls_server; /* the offer says a=setup:passive: the server is the DTLS client */
    bool tcp;      /* fd is an ICE-TCP connection: RFC 4571 frames */
    bool unwatched; /* the server closed it */
    uint8_t rx[4096];
    size_t rxlen;
    /* what the peer received */
    int stun_ok, stun_err, dtls_in, rtcp_in, plis;
    uint16_t nacked[256];
    int n_nacked;
    /* what the session's user saw */
    int connected, closed;
    char reason[200];
    int rtp;
    uint64_t last_seq;
    bool out_of_order;
    uint16_t seqs[64];
    bool lost[64];
    int nseqs;
    bool destroy_in_rtp, destroy_in_connected; /* the user ends its session from a callback */
    /* what it sends */
    uint16_t seq;
    uint32_t ts;
    /* RTP and sender reports the server sent it (WHEP, SFU sessions), per SSRC */
    struct rx_stream {
        uint32_t ssrc;
        int n, seq_jumps, ts_back, markers;
        uint16_t seq;
        uint32_t ts;
        int level;        /* the last packet's audio level under level_id, -1 */
        bool vad;
        uint32_t tags;    /* bit k: a payload starting with byte k (k < 32) came */
        int tag_n[8];     /* how many with first byte k < 8 */
        uint8_t first_byte;
        size_t payload_len;
        int srs;          /* sender reports for this SSRC */
        struct rtcp_sr_info sr;
        int64_t sr_at_us;
    } rxs[SDP_MAX_MEDIA];
    int n_rxs, rtp_rx;
    int level_id;
};

static struct peer *all_peers[64];
static int n_peers;

/* Sends one packet from fd: a datagram, or on ICE-TCP a frame (RFC 4571). */
static ssize_t peer_send(struct peer *p, int fd, const void *d, size_t n)
{
    if (!p->tcp || fd != p->fd)
        return sendto(fd, d, n, 0, (struct sockaddr *)&p->srv, sizeof(p->srv));
    uint8_t len[2] = {(uint8_t)(n >> 8), (uint8_t)n};
    struct iovec iov[2] = {{len, 2}, {(void *)d, n}};
    ssize_t w = writev(fd, iov, 2);
    return w == (ssize_t)n + 2 ? (ssize_t)n : -1;
}

static void peer_dtls_send(void *opaque, const uint8_t *d, size_t n)
{
    struct peer *p = opaque;
    peer_send(p, p->fd, d, n);
    if (p->dup_dtls)
        peer_send(p, p->fd, d, n);
}

static struct rx_stream *rx_of(struct peer *p, uint32_t ssrc)
{
    for (int i = 0; i < p->n_rxs; i++)
        if (p->rxs[i].ssrc == ssrc)
            return &p->rxs[i];
    if (p->n_rxs == SDP_MAX_MEDIA)
        return NULL;
    struct rx_stream *r = &p->rxs[p->n_rxs++];
    r->ssrc = ssrc;
    r->level = -1;
    return r;
}

static void peer_on_rtp(struct peer *p, uint8_t *b, size_t n)
{
    struct rtp_packet pkt;
    if (!p->srtp || rtc_srtp_unprotect_rtp(p->srtp, b, &n) < 0 || rtp_parse(b, n, &pkt) < 0)
        return;
    struct rx_stream *r = rx_of(p, pkt.ssrc);
    if (!r)
        return;
    if (r->n) {
        r->seq_jumps += pkt.seq != (uint16_t)(r->seq + 1);
        r->ts_back += (int32_t)(pkt.ts - r->ts) <= 0;
    }
    r->markers += pkt.marker;
    r->seq = pkt.seq;
    r->ts = pkt.ts;
    r->level = p->level_id ? rtp_audio_level(&pkt, p->level_id, &r->vad) : -1;
    r->payload_len = pkt.payload_len;
    if (pkt.payload_len) {
        r->first_byte = pkt.payload[0];
        if (pkt.payload[0] < 32)
            r->tags |= 1u << pkt.payload[0];
        if (pkt.payload[0] < 8)
            r->tag_n[pkt.payload[0]]++;
    }
    r->n++;
    p->rtp_rx++;
}

static void peer_on_rtcp(struct peer *p, uint8_t *b, size_t n)
{
    if (!p->srtp || rtc_srtp_unprotect_rtcp(p->srtp, b, &n) < 0)
        return;
    p->rtcp_in++;
    struct rtcp_iter it;
    struct rtcp_packet pkt;
    rtcp_iter_init(&it, b, n, false);
    while (rtcp_iter_next(&it, &pkt) > 0) {
        if (pkt.kind == RTCP_KIND_PLI)
            p->plis++;
        if (pkt.kind == RTCP_KIND_SR) {
            struct rx_stream *r = rx_of(p, pkt.sr.ssrc);
            if (r) {
                r->srs++;
                r->sr = pkt.sr;
                r->sr_at_us = clock_mono_us();
            }
        }
        if (pkt.kind == RTCP_KIND_NACK) {
            CHECK_EQ_INT(pkt.media_ssrc, SSRC);
            uint16_t seqs[64];
            size_t k = rtcp_nack_seqs(&pkt, seqs, 64);
            for (size_t i = 0; i < k && p->n_nacked < 256; i++)
                p->nacked[p->n_nacked++] = seqs[i];
        }
    }
}

static void peer_packet(struct peer *p, uint8_t *b, size_t n)
{
    switch (rtc_classify(b, n)) {
    case RTC_PKT_STUN: {
        struct stun_msg m;
        if (stun_parse(b, n, &m) == 0 && m.cls == STUN_CLASS_SUCCESS &&
            stun_check_integrity(&m, p->srv_pwd, strlen(p->srv_pwd)))
            p->stun_ok++;
        else
            p->stun_err++;
        break;
    }
    case RTC_PKT_DTLS:
        p->dtls_in++;
        if (p->dtls)
            rtc_dtls_feed(p->dtls, b, n, clock_mono_us());
        if (p->dtls && !p->srtp && rtc_dtls_state(p->dtls) == RTC_DTLS_CONNECTED) {
            struct rtc_srtp_keys k;
            CHECK_EQ_INT(rtc_dtls_srtp_keys(p->dtls, &k), 0);
            CHECK_EQ_INT(rtc_srtp_create(&p->srtp, &k, !p->dtls_server), 0);
        }
        break;
    case RTC_PKT_RTCP:
        peer_on_rtcp(p, b, n);
        break;
    case RTC_PKT_RTP:
        peer_on_rtp(p, b, n);
        break;
    default:
        break;
    }
}

static void peer_readable(struct loop *l, int fd, uint32_t ev, void *opaque)
{
    struct peer *p = opaque;
    uint8_t b[2048];
    ssize_t r;
    if (p->tcp) {
        while ((r = recv(fd, p->rx + p->rxlen, sizeof(p->rx) - p->rxlen, MSG_DONTWAIT)) > 0) {
            p->rxlen += (size_t)r;
            size_t n;
            while (p->rxlen >= 2 && p->rxlen >= 2 + (n = (size_t)(p->rx[0] << 8 | p->rx[1]))) {
                memcpy(b, p->rx + 2, n);
                memmove(p->rx, p->rx + 2 + n, p->rxlen - 2 - n);
                p->rxlen -= 2 + n;
                peer_packet(p, b, n);
            }
        }
        if (r == 0) { /* the server closed: stop watching */
            loop_del_fd(l, fd);
            p->unwatched = true;
        }
        return;
    }
    while ((r = recv(fd, b, sizeof(b), MSG_DONTWAIT)) > 0)
        peer_packet(p, b, (size_t)r);
}

static void peers_tick(void)
{
    for (int i = 0; i < n_peers; i++)
        if (all_peers[i]->dtls)
            rtc_dtls_on_timeout(all_peers[i]->dtls, clock_mono_us());
}

static int udp_socket(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ_INT(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static int local_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    return ntohs(a.sin_port);
}

/* ---- the session's user ---- */

static void op_connected(void *o)
{
    struct peer *p = o;
    p->connected++;
    if (p->destroy_in_connected)
        rtc_session_destroy(&p->s);
}

static void (*rtp_hook)(struct peer *p); /* called from the rtp callback when set */

static void op_rtp(void *o, int mline, const struct rtp_packet *pkt, uint64_t seq, bool lost)
{
    struct peer *p = o;
    if (rtp_hook)
        rtp_hook(p);
    if (p->rtp && seq <= p->last_seq)
        p->out_of_order = true;
    p->last_seq = seq;
    if (p->nseqs < 64) {
        p->seqs[p->nseqs] = pkt->seq;
        p->lost[p->nseqs++] = lost;
    }
    p->rtp++;
    if (p->destroy_in_rtp)
        rtc_session_destroy(&p->s);
}

static void op_closed(void *o, const char *reason)
{
    struct peer *p = o;
    p->closed++;
    snprintf(p->reason, sizeof(p->reason), "%s", reason);
    p->s = NULL;
}

static const struct rtc_session_ops ops = {
    .connected = op_connected, .rtp = op_rtp, .closed = op_closed};

/* Copies the value of "a=KEY:" in the answer to out. */
static bool answer_attr(const char *sdp, const char *key, char *out, size_t cap)
{
    const char *v = strstr(sdp, key);
    if (!v)
        return false;
    v += strlen(key);
    size_t n = strcspn(v, "\r\n");
    if (n >= cap)
        return false;
    memcpy(out, v, n);
    out[n] = '\0';
    return true;
}

/* A peer's socket and ICE credentials; no session yet. */
static struct peer *peer_alloc(const char *name, bool passive)
{
    struct peer *p = xcalloc(1, sizeof(*p));
    p->name = name;
    p->dtls_server = passive;
    snprintf(p->ufrag, sizeof(p->ufrag), "p%.3s", name);
    for (char *c = p->ufrag; *c; c++)
        if (!isalnum((unsigned char)*c))
            *c = 'x'; /* ice-chars only */
    for (int i = 0; i < PEER_PWD_LEN; i++)
        p->pwd[i] = (char)('a' + (i + name[0]) % 26);
    p->fd = udp_socket();
    p->srv = (struct sockaddr_in){.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)rtc_transport_port(tr)),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ_INT(loop_add_fd(loop, p->fd, EPOLLIN, peer_readable, p), 0);
    p->seq = 1000;
    CHECK(n_peers < 64);
    all_peers[n_peers++] = p;
    return p;
}

/* The session part of an offer (BUNDLE of mids "0".."n-1" is the caller's media's business):
 * v=, o=, s=, t=, then media, each m-line given its credentials, fingerprint and setup. */
static void peer_offer(struct peer *p, struct rtc_dtls_ctx *offer_ctx, const char *bundle,
                       const char *const *media, int nmedia, struct buf *out)
{
    buf_printf(out, "v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE %s\r\n",
               bundle);
    for (int i = 0; i < nmedia; i++)
        buf_printf(out, "%sa=ice-ufrag:%s\r\na=ice-pwd:%s\r\na=fingerprint:%s\r\na=setup:%s\r\n",
                   media[i], p->ufrag, p->pwd, rtc_dtls_ctx_fingerprint(offer_ctx),
                   p->dtls_server ? "passive" : "actpass");
}

/* Reads our credentials and fingerprint from the answer and makes the peer's DTLS end. */
static void peer_take_answer(struct peer *p, const char *a, struct rtc_dtls_ctx *dtls_ctx)
{
    char fp[256];
    CHECK(answer_attr(a, "a=ice-ufrag:", p->srv_ufrag, sizeof(p->srv_ufrag)));
    CHECK(answer_attr(a, "a=ice-pwd:", p->srv_pwd, sizeof(p->srv_pwd)));
    CHECK(answer_attr(a, "a=fingerprint:", fp, sizeof(fp)));
    CHECK_EQ_INT(rtc_dtls_fingerprint_parse(fp, &p->srv_fp), 0);
    CHECK(strstr(a, p->dtls_server ? "a=setup:active" : "a=setup:passive") != NULL);
    p->dtls = rtc_dtls_create(dtls_ctx, p->dtls_server ? RTC_DTLS_SERVER : RTC_DTLS_CLIENT,
                              &p->srv_fp, peer_dtls_send, p, clock_mono_us());
}

/* A peer with its own ufrag/pwd, a session made from its offer (whose fingerprint is that of
 * offer_ctx) and a DTLS client made from dtls_ctx (the same, unless the test lies). */
static struct peer *peer_new_setup(const char *name, struct rtc_dtls_ctx *offer_ctx,
                                   struct rtc_dtls_ctx *dtls_ctx, bool passive)
{
    struct peer *p = peer_alloc(name, passive);
    char media[1024];
    snprintf(media, sizeof(media),
             "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 0.0.0.0\r\n"
             "a=mid:0\r\na=sendonly\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\n"
             "a=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\na=rtpmap:97 rtx/90000\r\n"
             "a=fmtp:97 apt=96\r\na=ssrc:%u cname:peer\r\n",
             SSRC);
    const char *mp = media;
    struct buf offer;
    buf_init(&offer);
    peer_offer(p, offer_ctx, "0", &mp, 1, &offer);
    struct sdp_offer *o = NULL;
    char why[SDP_ERR_LEN];
    if (sdp_offer_parse((const char *)buf_head(&offer), buf_size(&offer), &o, why,
                        sizeof(why)) != 0)
        fprintf(stderr, "offer refused: %s\n", why);
    buf_free(&offer);
    CHECK(o != NULL);
    struct sdp_choice ch[SDP_MAX_MEDIA];
    for (size_t i = 0; o && i < o->n_media; i++)
        CHECK_EQ_INT(sdp_choose(o, i, &ch[i]), 0);
    struct rtc_session_params sp = {.kind = RTC_SESSION_WHIP, .offer = o, .choices = ch,
                                    .ops = &ops, .opaque = p, .log_name = name};
    struct buf ans;
    buf_init(&ans);
    CHECK_EQ_INT(rtc_session_create(tr, &sp, &ans, why, sizeof(why), &p->s), 0);
    buf_append(&ans, "", 1);
    peer_take_answer(p, (const char *)buf_head(&ans), dtls_ctx);
    buf_free(&ans);
    sdp_offer_free(&o);
    return p;
}

static struct peer *peer_new(const char *name, struct rtc_dtls_ctx *offer_ctx,
                             struct rtc_dtls_ctx *dtls_ctx)
{
    return peer_new_setup(name, offer_ctx, dtls_ctx, false);
}

static void peer_free(struct peer *p)
{
    rtc_session_destroy(&p->s);
    if (!p->unwatched)
        loop_del_fd(loop, p->fd);
    close(p->fd);
    rtc_dtls_destroy(&p->dtls);
    rtc_srtp_destroy(&p->srtp);
    for (int i = 0; i < n_peers; i++)
        if (all_peers[i] == p)
            all_peers[i] = all_peers[--n_peers];
    free(p);
}

/* A binding request as a full agent sends it, from fd. */
static size_t check_request(struct peer *p, const char *pwd, bool nominate, uint8_t *out,
                            size_t cap)
{
    static uint8_t txid[STUN_TXID_LEN] = {9};
    for (int i = 0; i < STUN_TXID_LEN && !++txid[i]; i++)
        ;
    char user[64];
    snprintf(user, sizeof(user), "%s:%s", p->srv_ufrag, p->ufrag);
    struct stun_request r = {.txid = txid, .username = user, .priority = 0x6e7f1eff,
                             .use_candidate = nominate, .controlling = true,
                             .tiebreaker = 0x1122334455667788ull, .key = pwd,
                             .keylen = strlen(pwd)};
    int n = stun_write_binding_request(out, cap, &r);
    CHECK(n > 0);
    return n > 0 ? (size_t)n : 0;
}

static void send_to_srv(struct peer *p, int fd, const void *b, size_t n)
{
    CHECK_EQ_INT(peer_send(p, fd, b, n), (ssize_t)n);
}

struct count_wait {
    int *v;
    int want;
};
static bool count_reached(void *a)
{
    struct count_wait *w = a;
    return *w->v >= w->want;
}
static bool wait_count(int *v, int want, int ms)
{
    struct count_wait w = {v, want};
    return run_until(count_reached, &w, ms);
}

/* Sends a valid check (nominating) and waits for the success response. */
static bool peer_check(struct peer *p)
{
    uint8_t b[512];
    int want = p->stun_ok + 1;
    send_to_srv(p, p->fd, b, check_request(p, p->srv_pwd, true, b, sizeof(b)));
    return wait_count(&p->stun_ok, want, 5000);
}

static bool is_connected(void *a)
{
    struct peer *p = a;
    return (p->srtp && p->connected) || p->closed;
}

/* ICE, then DTLS: true once both ends have keys. */
static bool peer_connect(struct peer *p)
{
    if (!peer_check(p))
        return false;
    if (!p->dtls_server)
        rtc_dtls_start(p->dtls, clock_mono_us());
    return run_until(is_connected, p, 10000) && p->connected;
}

/* Protects and sends an RTP packet (raw header bytes and payload) from fd; false if the
 * peer's SRTP refused to protect it. */
static bool send_rtp_raw(struct peer *p, int fd, const uint8_t *pkt, size_t n)
{
    uint8_t b[RTP_MTU + RTC_SRTP_MAX_TRAILER];
    memcpy(b, pkt, n);
    size_t len = n;
    if (rtc_srtp_protect_rtp(p->srtp, b, &len, sizeof(b)) < 0)
        return false;
    send_to_srv(p, fd, b, len);
    return true;
}

static void rtp_header(uint8_t *b, uint8_t first, uint8_t pt, uint16_t seq, uint32_t ts,
                       uint32_t ssrc)
{
    b[0] = first;
    b[1] = pt;
    b[2] = (uint8_t)(seq >> 8);
    b[3] = (uint8_t)seq;
    b[4] = (uint8_t)(ts >> 24);
    b[5] = (uint8_t)(ts >> 16);
    b[6] = (uint8_t)(ts >> 8);
    b[7] = (uint8_t)ts;
    b[8] = (uint8_t)(ssrc >> 24);
    b[9] = (uint8_t)(ssrc >> 16);
    b[10] = (uint8_t)(ssrc >> 8);
    b[11] = (uint8_t)ssrc;
}

/* One good RTP packet of the video stream with sequence number seq. */
static void send_rtp(struct peer *p, uint16_t seq)
{
    uint8_t b[12 + 100];
    rtp_header(b, 0x80, 0x80 | 96, seq, p->ts += 3000, SSRC);
    memset(b + 12, 0x10, 100); /* VP8 descriptor S=1 ... the transport does not look */
    CHECK(send_rtp_raw(p, p->fd, b, sizeof(b)));
}

static void send_rtcp_raw(struct peer *p, const uint8_t *pkt, size_t n)
{
    uint8_t b[RTP_MTU + RTC_SRTP_MAX_TRAILER];
    memcpy(b, pkt, n);
    size_t len = n;
    CHECK_EQ_INT(rtc_srtp_protect_rtcp(p->srtp, b, &len, sizeof(b)), 0);
    send_to_srv(p, p->fd, b, len);
}

struct metric_wait {
    const char *name, *label;
    int64_t want;
};
static bool metric_reached(void *a)
{
    struct metric_wait *w = a;
    return mval(w->name, w->label) >= w->want;
}
static bool wait_metric(const char *name, const char *label, int64_t want, int ms)
{
    struct metric_wait w = {name, label, want};
    return run_until(metric_reached, &w, ms);
}

/* The healthy session still gets its packets (and keeps its consent). */
static void check_healthy(struct peer *b, const char *after)
{
    int before = b->rtp;
    CHECK(b->s != NULL && !b->closed);
    CHECK(peer_check(b));
    send_rtp(b, b->seq++);
    bool ok = wait_count(&b->rtp, before + 1, 5000);
    if (!ok)
        fprintf(stderr, "healthy session lost after: %s\n", after);
    CHECK(ok);
    CHECK(!b->out_of_order);
}

#endif
