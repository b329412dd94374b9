/* rtc/ send path (issue 14): a session that sends (a WHEP-like offer, recvonly Opus with the
 * audio level) against the hand-driven peer of transport_peer.h, which decrypts what
 * rtc_session_send_rtp sent. Checked: our SSRC/cname/msid in the answer; -ENOTCONN before DTLS
 * and -ENOENT for an m-line that sends nothing; 10 packets across the 16- and 32-bit wraps
 * (SSRC, consecutive numbers, timestamps, marker, level and VAD, payload); 40 copies sent from
 * inside a read callback going out in 1-3 sendmmsg calls; a sender report with exactly the
 * packets and octets sent; the peer's receiver report read back as loss, jitter and RTT; the
 * same over ICE-TCP (frames, from outside and inside a read callback). A healthy WHIP session
 * beside it keeps its packets. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "rtc/dtls.h"
#include "rtc/net.h"
#include "rtc/rtp.h"
#include "rtc/transport.h"

/* The helpers of the peer that this test does not use are fine. */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-variable"
#include "transport_peer.h"

/* ---- the send path (issue 14) ---- */

static struct peer *send_target;
static int hook_burst;

/* From inside a read callback (the healthy session's rtp): the copies are queued and go in
 * one sendmmsg at the end of the read batch. */
static void burst_hook(struct peer *from)
{
    (void)from;
    for (int k = 0; k < hook_burst; k++) {
        uint8_t payload[40];
        memset(payload, 7, sizeof(payload));
        payload[0] = 2;
        struct rtc_rtp_out o = {.seq = send_target->seq,
                                .ts = send_target->ts,
                                .audio_level = 90,
                                .payload = payload,
                                .payload_len = sizeof(payload)};
        send_target->seq++;
        send_target->ts += 960;
        CHECK_EQ_INT(rtc_session_send_rtp(send_target->s, 0, &o), 0);
    }
    hook_burst = 0;
}

struct sr_wait {
    struct rx_stream *r;
    uint32_t packets;
};
static bool sr_reached(void *a)
{
    struct sr_wait *w = a;
    return w->r->srs > 0 && w->r->sr.packet_count >= w->packets;
}

static bool rr_seen(void *a)
{
    struct rtc_out_stats st;
    return rtc_session_out_stats(a, 0, &st) == 0 && st.have_rr;
}

/* A WHEP-like session that sends audio: the answer names our SSRC, the peer decrypts what
 * rtc_session_send_rtp sent (SSRC, numbers, payload, audio level), batches go by sendmmsg,
 * a sender report counts the packets and octets, and the peer's receiver report gives loss,
 * jitter and a round trip. */
/* A session that sends audio (a WHEP-like offer: recvonly opus with the audio level), its
 * answer taken by the peer, which is on ICE-TCP when tcp. */
static struct peer *audio_sender(const char *name, bool tcp)
{
    struct peer *p = peer_alloc(name, false);
    p->level_id = 3;
    const char *media = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
                        "a=recvonly\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"
                        "a=extmap:3 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n";
    struct buf offer, ans;
    buf_init(&offer);
    buf_init(&ans);
    peer_offer(p, ctx_good, "0", &media, 1, &offer);
    struct sdp_offer *o = NULL;
    char why[SDP_ERR_LEN];
    CHECK_EQ_INT(
        sdp_offer_parse((const char *)buf_head(&offer), buf_size(&offer), &o, why, sizeof(why)), 0);
    struct sdp_choice ch[1];
    CHECK_EQ_INT(sdp_choose(o, 0, &ch[0]), 0);
    CHECK_EQ_INT(ch[0].dir, SDP_DIR_SENDONLY);
    struct rtc_session_params sp = {.kind = RTC_SESSION_WHEP,
                                    .offer = o,
                                    .choices = ch,
                                    .ops = &ops,
                                    .opaque = p,
                                    .log_name = name};
    CHECK_EQ_INT(rtc_session_create(tr, &sp, &ans, why, sizeof(why), &p->s), 0);
    buf_append(&ans, "", 1);
    const char *a = (const char *)buf_head(&ans);
    peer_take_answer(p, a, ctx_good);
    uint32_t ssrc = rtc_session_out_ssrc(p->s, 0);
    char line[64];
    snprintf(line, sizeof(line), "a=ssrc:%u cname:kibitka", ssrc);
    CHECK(ssrc != 0 && strstr(a, line) != NULL);
    snprintf(line, sizeof(line), "a=ssrc:%u msid:kibitka-", ssrc);
    CHECK(strstr(a, line) != NULL);
    CHECK(strstr(a, "a=sendonly") && strstr(a, "a=extmap:3 urn:ietf:params:rtp-hdrext:ssrc"));
    buf_free(&offer);
    buf_free(&ans);
    sdp_offer_free(&o);
    if (tcp) {
        loop_del_fd(loop, p->fd);
        close(p->fd);
        p->fd = socket(AF_INET, SOCK_STREAM, 0);
        CHECK_EQ_INT(connect(p->fd, (struct sockaddr *)&p->srv, sizeof(p->srv)), 0);
        fcntl(p->fd, F_SETFL, O_NONBLOCK);
        p->tcp = true;
        CHECK_EQ_INT(loop_add_fd(loop, p->fd, EPOLLIN, peer_readable, p), 0);
    }
    return p;
}

/* A WHEP-like session that sends audio: the answer names our SSRC, the peer decrypts what
 * rtc_session_send_rtp sent (SSRC, numbers, payload, audio level), batches go by sendmmsg,
 * a sender report counts the packets and octets, and the peer's receiver report gives loss,
 * jitter and a round trip. Then the same over ICE-TCP (frames, from a read callback too). */
static void test_send_path(struct peer *healthy)
{
    struct peer *p = audio_sender("sender", false);
    uint32_t ssrc = rtc_session_out_ssrc(p->s, 0);
    uint8_t payload[60];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)i;
    payload[0] = 1;
    struct rtc_rtp_out out = {.seq = 65530,
                              .ts = 0xfffffc00u,
                              .audio_level = 33,
                              .vad = true,
                              .payload = payload,
                              .payload_len = sizeof(payload)};
    CHECK_EQ_INT(rtc_session_send_rtp(p->s, 0, &out), -ENOTCONN); /* before DTLS */
    CHECK_EQ_INT(rtc_session_send_rtp(p->s, 1, &out), -ENOENT);
    CHECK(peer_connect(p));

    /* Outside a read callback: sent at once. Across the 16-bit and 32-bit wraps. */
    for (int k = 0; k < 10; k++) {
        out.marker = k == 0;
        CHECK_EQ_INT(rtc_session_send_rtp(p->s, 0, &out), 0);
        out.seq++;
        out.ts += 960;
    }
    CHECK(wait_count(&p->rtp_rx, 10, 5000));
    CHECK_EQ_INT(p->n_rxs, 1);
    struct rx_stream *r = &p->rxs[0];
    CHECK_EQ_INT(r->ssrc, ssrc);
    CHECK_EQ_INT(r->n, 10);
    CHECK_EQ_INT(r->seq_jumps, 0);
    CHECK_EQ_INT(r->ts_back, 0);
    CHECK_EQ_INT(r->markers, 1);
    CHECK_EQ_INT(r->seq, (uint16_t)(65530 + 9));
    CHECK_EQ_INT(r->ts, 0xfffffc00u + 9 * 960);
    CHECK_EQ_INT(r->level, 33);
    CHECK(r->vad);
    CHECK_EQ_INT(r->payload_len, sizeof(payload));

    /* Inside one: 40 copies, one flush. */
    send_target = p;
    p->seq = (uint16_t)(out.seq);
    p->ts = out.ts;
    hook_burst = 40;
    rtp_hook = burst_hook;
    int64_t batches = mval("kibitka_rtc_send_batches_total", NULL);
    int64_t out_before = mval("kibitka_rtc_packets_out_total", NULL);
    send_rtp(healthy, healthy->seq++);
    CHECK(wait_count(&p->rtp_rx, 50, 5000));
    rtp_hook = NULL;
    int64_t nb = mval("kibitka_rtc_send_batches_total", NULL) - batches;
    CHECK(nb >= 1 && nb <= 3);
    CHECK(mval("kibitka_rtc_packets_out_total", NULL) - out_before >= 40);
    CHECK_EQ_INT(r->n, 50);
    CHECK_EQ_INT(r->seq_jumps, 0);
    CHECK_EQ_INT(r->level, 90);
    CHECK(!r->vad);
    CHECK(r->tags & (1u << 2));

    /* The sender report: 50 packets, their payload octets, an RTP time near the last sent. */
    struct sr_wait sw = {r, 50};
    CHECK(run_until(sr_reached, &sw, 4000));
    CHECK_EQ_INT(r->sr.packet_count, 50);
    CHECK_EQ_INT(r->sr.octet_count, 10 * sizeof(payload) + 40 * 40);
    CHECK((uint32_t)(r->sr.rtp_ts - (p->ts - 960)) < 48000 * 3);

    /* The peer's receiver report about our stream. */
    uint8_t b[256];
    struct rtcp_writer w;
    rtcp_writer_init(&w, b, sizeof(b), false);
    uint32_t dlsr = (uint32_t)((clock_mono_us() - r->sr_at_us) * 65536 / 1000000);
    struct rtcp_report_block rb = {.ssrc = ssrc,
                                   .fraction_lost = 64,
                                   .cumulative_lost = 3,
                                   .ext_highest_seq = 99,
                                   .jitter = 480,
                                   .lsr = rtcp_ntp_mid(r->sr.ntp),
                                   .dlsr = dlsr};
    CHECK_EQ_INT(rtcp_write_rr(&w, 0x5555, &rb, 1), 0);
    send_rtcp_raw(p, b, w.len);
    CHECK(run_until(rr_seen, p->s, 3000));
    struct rtc_out_stats st;
    CHECK_EQ_INT(rtc_session_out_stats(p->s, 0, &st), 0);
    CHECK_EQ_INT(st.packets, 50);
    CHECK_EQ_INT(st.fraction_lost, 64);
    CHECK_EQ_INT(st.cumulative_lost, 3);
    CHECK_EQ_INT(st.jitter_ms, 10);
    CHECK(st.rtt_ms >= 0 && st.rtt_ms < 1000);
    struct rtc_session_stats ss;
    rtc_session_stats_get(p->s, &ss);
    CHECK_EQ_INT(ss.packets_out, 50);
    CHECK_EQ_INT(ss.rtt_ms, st.rtt_ms);
    peer_free(p);
    check_healthy(healthy, "send path");

    /* ICE-TCP: 5 packets from here, 5 from a read callback, all framed on the connection. */
    p = audio_sender("tcp-sender", true);
    CHECK(peer_connect(p));
    for (int k = 0; k < 5; k++) {
        out.seq = (uint16_t)(100 + k);
        CHECK_EQ_INT(rtc_session_send_rtp(p->s, 0, &out), 0);
    }
    CHECK(wait_count(&p->rtp_rx, 5, 5000));
    send_target = p;
    p->seq = 105;
    hook_burst = 5;
    rtp_hook = burst_hook;
    send_rtp(healthy, healthy->seq++);
    CHECK(wait_count(&p->rtp_rx, 10, 5000));
    rtp_hook = NULL;
    CHECK_EQ_INT(p->n_rxs, 1);
    CHECK_EQ_INT(p->rxs[0].seq_jumps, 0);
    CHECK_EQ_INT(p->rxs[0].seq, 109);
    peer_free(p);
    check_healthy(healthy, "send path over ICE-TCP");
}

int main(void)
{
    log_set_level(LOG_WARN);
    loop = loop_create();
    mx = metrics_create();
    int ufd, tfd;
    CHECK_EQ_INT(rtc_net_open("127.0.0.1:0", true, &ufd, &tfd), 0);
    struct rtc_transport_config cfg = {.udp_fd = ufd, .tcp_fd = tfd, .metrics = mx};
    tr = rtc_transport_create(loop, &cfg);
    CHECK(tr != NULL);
    CHECK_EQ_INT(rtc_dtls_ctx_create(&ctx_good, NULL), 0);
    tick_hook = peers_tick;
    if (!tr || !ctx_good)
        return test_report("rtc_send");
    struct peer *healthy = peer_new("healthy", ctx_good, ctx_good);
    CHECK(peer_connect(healthy));
    check_healthy(healthy, "start");
    test_send_path(healthy);
    peer_free(healthy);
    rtc_transport_destroy(&tr);
    rtc_dtls_ctx_destroy(&ctx_good);
    loop_destroy(&loop);
    metrics_destroy(&mx);
    return test_report("rtc_send");
}
