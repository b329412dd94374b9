/* One WebRTC session (transport.h): ICE-lite checks, the DTLS handshake, SRTP, the inbound RTP
 * streams (stats, reorder, RTX, loss) and the RTCP a receiver sends (RR, REMB, NACK, PLI).
 *
 * Re-entrancy: a user callback may destroy its session (rtc_session_destroy). Every entry
 * point (a packet, the timer) counts itself in `in_callback`; a destroy or failure while it
 * runs only unlinks the session and marks it, and the entry point frees it on its way out. */
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/net.h"
#include "rtc/transport_priv.h"

#define VIDEO_REORDER_SLOTS 512
#define VIDEO_REORDER_DELAY_US 200000
#define AUDIO_REORDER_SLOTS 64
#define AUDIO_REORDER_DELAY_US 60000
#define SFU_AUDIO_REORDER_DELAY_US 20000

static void session_rearm(struct rtc_session *s, int64_t now);

static void path_str(const struct rtc_path *p, char *out, size_t n)
{
    char a[INET6_ADDRSTRLEN + 8];
    net_addr_str(&p->addr, a, sizeof(a));
    snprintf(out, n, "%s %s", p->tcp_id ? "tcp" : "udp", a);
}

/* ---- life cycle ---- */

/* Takes s out of every table and stops its timer; once. */
static void session_unlink(struct rtc_session *s)
{
    struct rtc_transport *t = s->t;
    if (s->ended)
        return;
    s->ended = true;
    transport_ufrag_remove(t, s);
    transport_paths_remove(t, s);
    if (s->prev_all)
        s->prev_all->next_all = s->next_all;
    else
        t->all = s->next_all;
    if (s->next_all)
        s->next_all->prev_all = s->prev_all;
    t->nsessions--;
    metrics_add(t->mx.sessions[s->kind], -1);
    loop_timer_cancel(t->loop, s->timer);
    s->timer = NULL;
}

static void session_free(struct rtc_session *s)
{
    ice_agent_destroy(&s->ice);
    rtc_dtls_destroy(&s->dtls);
    rtc_srtp_destroy(&s->srtp);
    for (int i = 0; i < s->nin; i++)
        rtp_reorder_destroy(&s->in[i].reorder);
    free(s);
}

static void enter(struct rtc_session *s)
{
    s->in_callback++;
}

/* Leaves an entry point: frees s when it was ended meanwhile. Returns false then. */
static bool leave(struct rtc_session *s)
{
    if (--s->in_callback > 0 || !s->destroy_pending)
        return !s->destroy_pending;
    session_free(s);
    return false;
}

void session_fail(struct rtc_session *s, enum fail_reason r, const char *reason)
{
    if (s->destroy_pending)
        return;
    char path[80] = "no path";
    if (s->have_selected)
        path_str(&s->selected, path, sizeof(path));
    if (r < FAIL_COUNT) {
        transport_count_failure(s->t, r);
        log_warn("rtc", s->name, "WebRTC session (%s) ended: %s", path, reason);
    } else {
        log_info("rtc", s->name, "WebRTC session (%s) ended: %s", path, reason);
    }
    session_unlink(s);
    s->destroy_pending = true;
    if (s->ops.closed) {
        s->in_callback++;
        s->ops.closed(s->opaque, reason);
        s->in_callback--;
    }
    if (s->in_callback == 0)
        session_free(s);
}

void rtc_session_destroy(struct rtc_session **ps)
{
    struct rtc_session *s = *ps;
    *ps = NULL;
    if (!s || s->destroy_pending)
        return;
    if (s->dtls && s->have_selected)
        rtc_dtls_close(s->dtls); /* close_notify: the peer learns at once */
    session_unlink(s);
    s->destroy_pending = true;
    if (s->in_callback == 0)
        session_free(s);
}

/* ---- sending ---- */

static void send_datagram(struct rtc_session *s, const uint8_t *p, size_t n)
{
    if (s->have_selected && !s->ended)
        rtc_net_send(s->t->net, &s->selected, p, n);
}

static void dtls_send(void *opaque, const uint8_t *data, size_t len)
{
    send_datagram(opaque, data, len);
}

/* Protects and sends the compound in s->scratch[0..len). */
static void send_rtcp(struct rtc_session *s, size_t len)
{
    if (!s->srtp)
        return;
    if (rtc_srtp_protect_rtcp(s->srtp, s->scratch, &len, sizeof(s->scratch)) < 0)
        return;
    send_datagram(s, s->scratch, len);
}

/* Starts a compound with an empty RR (RFC 3550: every compound starts with SR or RR). */
static void rtcp_begin(struct rtc_session *s, struct rtcp_writer *w)
{
    rtcp_writer_init(w, s->scratch, RTP_MTU, false);
    rtcp_write_rr(w, s->local_ssrc, NULL, 0);
}

/* A PLI still wanted stays wanted: sent once the sender's SSRC is known (the first packet) and
 * PLI_INTERVAL_US after the last one (session_rearm arms the timer for it). */
static void send_pli(struct rtc_session *s, struct in_stream *st, int64_t now)
{
    if (!st->ssrc || now - st->last_pli_us < PLI_INTERVAL_US)
        return;
    st->pli_wanted = false;
    struct rtcp_writer w;
    rtcp_begin(s, &w);
    if (rtcp_write_pli(&w, s->local_ssrc, st->ssrc) < 0)
        return;
    st->last_pli_us = now;
    s->plis_sent++;
    metrics_add(s->t->mx.plis, 1);
    send_rtcp(s, w.len);
}

static void send_nacks(struct rtc_session *s, int64_t now)
{
    uint16_t seqs[NACK_BATCH];
    for (int i = 0; i < s->nin; i++) {
        struct in_stream *st = &s->in[i];
        if (!st->nack || !st->ssrc || rtp_reorder_missing(st->reorder) == 0)
            continue;
        bool want_pli = false;
        size_t n = rtp_reorder_nack(st->reorder, now, 0, seqs, NACK_BATCH, &want_pli);
        if (want_pli)
            st->pli_wanted = true;
        if (n == 0)
            continue;
        struct rtcp_writer w;
        rtcp_begin(s, &w);
        if (rtcp_write_nack(&w, s->local_ssrc, st->ssrc, seqs, n) < 0)
            continue;
        s->nacks_sent += n;
        metrics_add(s->t->mx.nacks, (int64_t)n);
        send_rtcp(s, w.len);
    }
}

/* Receiver reports for every stream heard, SDES CNAME, and the REMB ceiling. */
static void send_reports(struct rtc_session *s, int64_t now)
{
    struct rtcp_report_block rb[SDP_MAX_MEDIA];
    uint32_t remb_ssrcs[SDP_MAX_MEDIA];
    size_t nrb = 0, nremb = 0;
    for (int i = 0; i < s->nin; i++) {
        struct in_stream *st = &s->in[i];
        if (!st->started)
            continue;
        rtp_stats_report(&st->stats, now, &rb[nrb++]);
        if (st->clock)
            transport_note_jitter(s->t, (int64_t)rtp_stats_jitter(&st->stats) * 1000000 / st->clock,
                                  now);
        if (st->kind == SDP_KIND_VIDEO)
            remb_ssrcs[nremb++] = st->ssrc;
    }
    struct rtcp_writer w;
    rtcp_writer_init(&w, s->scratch, RTP_MTU, false);
    if (session_write_sender_reports(s, &w, now, rb, nrb) < 0 ||
        rtcp_write_sdes_cname(&w, s->local_ssrc, "kibitka") < 0)
        return;
    if (nremb)
        (void)rtcp_write_remb(&w, s->local_ssrc, s->t->remb_bps, remb_ssrcs, nremb);
    send_rtcp(s, w.len);
}

/* ---- receiving ---- */

static struct in_stream *stream_for(struct rtc_session *s, const struct rtp_packet *pkt,
                                    bool *rtx)
{
    *rtx = false;
    for (int i = 0; i < s->nin; i++) {
        struct in_stream *st = &s->in[i];
        if (st->ssrc && pkt->ssrc == st->ssrc)
            return st;
        if (st->rtx_ssrc && pkt->ssrc == st->rtx_ssrc) {
            *rtx = true;
            return st;
        }
    }
    for (int i = 0; i < s->nin; i++) { /* not seen yet: by payload type */
        struct in_stream *st = &s->in[i];
        if (pkt->pt == st->pt) {
            /* Logged at most once each 10 s per stream: a peer alternating two SSRCs on one
             * payload type would otherwise write a line per packet. */
            int64_t now = clock_mono_us();
            if (st->ssrc && (st->ssrc_log_us == 0 || now - st->ssrc_log_us >= 10000000)) {
                log_info("rtc", s->name, "SSRC of m-line %d changed: %08x -> %08x%s",
                         st->mline, st->ssrc, pkt->ssrc,
                         st->ssrc_log_us ? " (changes in between not logged)" : "");
                st->ssrc_log_us = now;
            }
            st->ssrc = pkt->ssrc;
            st->started = false;
            rtp_reorder_reset(st->reorder);
            memset(&st->unwrap, 0, sizeof(st->unwrap));
            st->out_rebase = st->out_started; /* a new stream: see deliver() */
            if (st->out_started && st->kind == SDP_KIND_VIDEO)
                st->pli_wanted = true;
            return st;
        }
        if (st->rtx_pt >= 0 && pkt->pt == st->rtx_pt) {
            st->rtx_ssrc = pkt->ssrc;
            *rtx = true;
            return st;
        }
    }
    return NULL;
}

/* Hands every packet the reorder buffer releases to the user. */
static void deliver(struct rtc_session *s, struct in_stream *st, int64_t now)
{
    struct rtp_packet pkt;
    uint32_t skipped;
    while (!s->destroy_pending && rtp_reorder_pop(st->reorder, now, &pkt, &skipped) == 1) {
        if (skipped) {
            st->lost += skipped;
            metrics_add(s->t->mx.rtp_lost, skipped);
            if (st->kind == SDP_KIND_VIDEO)
                st->pli_wanted = true;
        }
        int64_t ext = rtp_seq_unwrap(&st->unwrap, pkt.seq);
        bool lost = skipped > 0;
        if (st->out_rebase) {
            /* The SSRC changed: its numbers start anywhere (RFC 3550 picks them at random),
             * but the user's must go on increasing (a depacketizer ignores a number that does
             * not), and the break is a loss to it: no frame is glued across two streams. */
            st->out_offset = (int64_t)st->out_last + 1 - ext;
            st->out_rebase = false;
            lost = true;
        }
        uint64_t seq = (uint64_t)(ext + st->out_offset);
        st->out_last = seq;
        st->out_started = true;
        if (s->ops.rtp)
            s->ops.rtp(s->opaque, st->mline, &pkt, seq, lost);
    }
}

static void on_rtp(struct rtc_session *s, uint8_t *p, size_t n, int64_t now)
{
    struct rtp_packet pkt, orig;
    bool rtx;
    if (rtp_parse(p, n, &pkt) < 0) {
        metrics_add(s->t->mx.dropped[DROP_RTP_MALFORMED], 1);
        return;
    }
    struct in_stream *st = stream_for(s, &pkt, &rtx);
    if (!st) {
        metrics_add(s->t->mx.dropped[DROP_NO_STREAM], 1);
        return;
    }
    s->packets_in++;
    s->bytes_in += n;
    metrics_add(s->t->mx.rtp_packets, 1);
    metrics_add(s->t->mx.rtp_bytes, (int64_t)n);
    if (rtx) {
        metrics_add(s->t->mx.rtx_packets, 1);
        struct rtp_rtx_map map = {.rtx_pt = (uint8_t)st->rtx_pt, .media_pt = st->pt,
                                  .rtx_ssrc = st->rtx_ssrc, .media_ssrc = st->ssrc};
        if (!st->ssrc || rtp_rtx_unwrap(&pkt, &map, 1, &orig) < 0 || orig.payload_len == 0)
            return; /* a padding probe, or a repair of a stream not started */
        pkt = orig;
    }
    if (!st->started) {
        rtp_stats_init(&st->stats, st->ssrc, st->clock);
        st->started = true;
    }
    rtp_stats_update(&st->stats, pkt.seq, pkt.ts, now, rtx);
    if (rtp_reorder_push(st->reorder, &pkt, now) < 0)
        return;
    deliver(s, st, now);
}

static void on_rtcp(struct rtc_session *s, const uint8_t *p, size_t n, int64_t now)
{
    struct rtcp_iter it;
    struct rtcp_packet pkt;
    rtcp_iter_init(&it, p, n, s->rtcp_rsize);
    int r;
    while ((r = rtcp_iter_next(&it, &pkt)) > 0 && !s->destroy_pending) {
        if ((pkt.kind == RTCP_KIND_SR || pkt.kind == RTCP_KIND_RR) && s->nout)
            session_on_report_blocks(s, &pkt);
        if (pkt.kind != RTCP_KIND_SR)
            continue; /* NACK/PLI to us: audio only so far (the SFU), nothing to resend */
        for (int i = 0; i < s->nin; i++) {
            struct in_stream *st = &s->in[i];
            if (st->ssrc != pkt.sr.ssrc)
                continue;
            if (st->started)
                rtp_stats_on_sr(&st->stats, pkt.sr.ntp, now);
            if (s->ops.sender_report)
                s->ops.sender_report(s->opaque, st->mline, &pkt.sr);
        }
    }
    if (r < 0)
        metrics_add(s->t->mx.dropped[DROP_RTCP_MALFORMED], 1);
}

void session_on_srtp(struct rtc_session *s, bool rtcp, uint8_t *p, size_t n, int64_t now)
{
    if (!s->srtp) {
        metrics_add(s->t->mx.dropped[DROP_NO_KEYS], 1);
        return;
    }
    size_t len = n;
    int err = rtcp ? rtc_srtp_unprotect_rtcp(s->srtp, p, &len)
                   : rtc_srtp_unprotect_rtp(s->srtp, p, &len);
    if (err < 0) {
        metrics_add(s->t->mx.dropped[DROP_SRTP], 1);
        return;
    }
    enter(s);
    if (rtcp)
        on_rtcp(s, p, len, now);
    else
        on_rtp(s, p, len, now);
    if (leave(s))
        session_rearm(s, now);
}

static void dtls_check(struct rtc_session *s, int64_t now)
{
    enum rtc_dtls_state st = rtc_dtls_state(s->dtls);
    if (st == RTC_DTLS_CONNECTED && !s->connected) {
        struct rtc_srtp_keys keys;
        if (rtc_dtls_srtp_keys(s->dtls, &keys) < 0 ||
            rtc_srtp_create(&s->srtp, &keys, s->role == RTC_DTLS_CLIENT) < 0) {
            session_fail(s, FAIL_SRTP, "SRTP keys could not be set up");
            return;
        }
        s->connected = true;
        metrics_add(s->t->mx.handshakes, 1);
        char path[80];
        path_str(&s->selected, path, sizeof(path));
        log_info("rtc", s->name, "WebRTC connected over %s (%s, %.0f ms)", path,
                 rtc_srtp_profile_name(keys.profile), (now - s->created_us) / 1000.0);
        for (int i = 0; i < s->nin; i++)
            if (s->in[i].kind == SDP_KIND_VIDEO)
                s->in[i].pli_wanted = true; /* start from a keyframe */
        s->next_rtcp_us = now;
        if (s->ops.connected)
            s->ops.connected(s->opaque);
    } else if (st == RTC_DTLS_FAILED) {
        const char *why = rtc_dtls_reason(s->dtls);
        enum fail_reason r = FAIL_DTLS_OTHER;
        if (strstr(why, "fingerprint"))
            r = FAIL_FINGERPRINT;
        else if (strstr(why, "timeout"))
            r = FAIL_DTLS_TIMEOUT;
        else if (strstr(why, "alert"))
            r = FAIL_DTLS_ALERT;
        char msg[160];
        snprintf(msg, sizeof(msg), "DTLS failed: %s", why);
        session_fail(s, r, msg);
    } else if (st == RTC_DTLS_CLOSED) {
        session_fail(s, FAIL_DTLS_CLOSED, "the peer closed DTLS");
    }
}

void session_on_dtls(struct rtc_session *s, const struct rtc_path *from, const uint8_t *p,
                     size_t n, int64_t now)
{
    enter(s);
    if (rtc_dtls_feed(s->dtls, p, n, now) < 0)
        metrics_add(s->t->mx.dropped[DROP_DTLS_MALFORMED], 1);
    else
        dtls_check(s, now);
    if (leave(s))
        session_rearm(s, now);
}

void session_on_stun(struct rtc_session *s, const struct rtc_path *from, const uint8_t *p,
                     size_t n, int64_t now)
{
    uint8_t out[256];
    size_t outlen = 0;
    enum ice_result r = ice_agent_handle_stun(s->ice, p, n, (const struct sockaddr *)&from->addr,
                                              now, out, sizeof(out), &outlen);
    if (outlen)
        rtc_net_send(s->t->net, from, out, outlen);
    if (r != ICE_CHECK_OK && r != ICE_CHECK_SELECTED) {
        if (r >= ICE_REJECT_MALFORMED && r <= ICE_REJECT_NOSPACE)
            metrics_add(s->t->mx.stun_rejected[r], 1);
        return;
    }
    enter(s);
    transport_path_add(s->t, s, from, now);
    if (s->restart_pending) { /* only the new credentials pass the agent after a restart */
        s->restart_pending = false;
        char a[80];
        path_str(from, a, sizeof(a));
        log_info("rtc", s->name, "ICE restart done: a check on the new credentials from %s", a);
    }
    if (r == ICE_CHECK_SELECTED || !s->have_selected) {
        if (s->have_selected && !rtc_path_equal(&s->selected, from)) {
            char a[80], b[80];
            path_str(&s->selected, a, sizeof(a));
            path_str(from, b, sizeof(b));
            log_info("rtc", s->name, "WebRTC path moved from %s to %s", a, b);
        }
        s->selected = *from;
        s->have_selected = true;
    }
    if (s->role == RTC_DTLS_CLIENT && !s->dtls_started) {
        s->dtls_started = true;
        rtc_dtls_start(s->dtls, now);
        dtls_check(s, now);
    }
    if (leave(s))
        session_rearm(s, now);
}

/* ---- the timer ---- */

static void on_timer(struct loop *loop, void *opaque)
{
    struct rtc_session *s = opaque;
    int64_t now = clock_mono_us();
    s->timer = NULL;
    s->timer_due_us = 0;
    enter(s);
    if (ice_agent_consent_expired(s->ice, now)) {
        if (s->connected)
            session_fail(s, FAIL_CONSENT,
                         "ICE consent expired: no connectivity check from the peer for 30 s");
        else
            session_fail(s, FAIL_ICE_TIMEOUT,
                         "ICE timeout: no valid connectivity check within 30 s");
    }
    if (!s->destroy_pending && !s->connected) {
        rtc_dtls_on_timeout(s->dtls, now);
        dtls_check(s, now);
    }
    for (int i = 0; i < s->nin && !s->destroy_pending; i++)
        deliver(s, &s->in[i], now);
    if (!s->destroy_pending && s->connected) {
        if (now >= s->next_nack_us) {
            send_nacks(s, now);
            s->next_nack_us = now + NACK_INTERVAL_US;
        }
        for (int i = 0; i < s->nin; i++)
            if (s->in[i].pli_wanted)
                send_pli(s, &s->in[i], now);
        if (now >= s->next_rtcp_us) {
            send_reports(s, now);
            s->next_rtcp_us = now + RTCP_INTERVAL_US;
        }
    }
    if (leave(s))
        session_rearm(s, now);
}

/* Arms the one timer at the earliest deadline, unless it is armed that early already. */
static void session_rearm(struct rtc_session *s, int64_t now)
{
    if (s->ended)
        return;
    int64_t due = ice_agent_next_deadline_us(s->ice);
    if (!s->connected) {
        int64_t d = rtc_dtls_next_timeout_us(s->dtls, now);
        if (d >= 0 && now + d < due)
            due = now + d;
    } else {
        if (s->next_rtcp_us < due)
            due = s->next_rtcp_us;
        for (int i = 0; i < s->nin; i++) {
            struct in_stream *st = &s->in[i];
            int64_t d = rtp_reorder_deadline(st->reorder);
            if (d < due)
                due = d;
            if (st->pli_wanted && st->ssrc && st->last_pli_us + PLI_INTERVAL_US < due)
                due = st->last_pli_us + PLI_INTERVAL_US;
            if (st->nack && rtp_reorder_missing(st->reorder) && s->next_nack_us < due)
                due = s->next_nack_us;
        }
    }
    if (due < now)
        due = now;
    if (s->timer && s->timer_due_us <= due)
        return;
    loop_timer_cancel(s->t->loop, s->timer);
    int64_t ms = (due - now + 999) / 1000;
    s->timer = loop_timer_add(s->t->loop, ms, false, on_timer, s);
    s->timer_due_us = now + ms * 1000;
}

/* ---- create ---- */

/* The first accepted m-line: its ICE credentials, fingerprint and setup are the session's
 * (BUNDLE: one transport for all). */
static int first_accepted(const struct sdp_offer *o, const struct sdp_choice *c)
{
    for (size_t i = 0; i < o->n_media; i++)
        if (c[i].accept)
            return (int)i;
    return -1;
}

static const struct sdp_codec *codec_of(const struct sdp_media *m, uint8_t pt)
{
    for (size_t i = 0; i < m->n_pts; i++)
        if (m->codecs[i].pt == pt)
            return &m->codecs[i];
    return NULL;
}

/* The inbound streams: every accepted m-line we receive on. */
static void add_streams(struct rtc_session *s, const struct sdp_offer *o,
                        const struct sdp_choice *c)
{
    for (size_t i = 0; i < o->n_media; i++) {
        const struct sdp_media *m = &o->media[i];
        if (!c[i].accept || c[i].n_pt == 0 ||
            (c[i].dir != SDP_DIR_RECVONLY && c[i].dir != SDP_DIR_SENDRECV))
            continue;
        const struct sdp_codec *k = codec_of(m, c[i].pt[0]);
        struct in_stream *st = &s->in[s->nin++];
        st->mline = (int)i;
        st->kind = m->kind;
        st->pt = c[i].pt[0];
        st->rtx_pt = c[i].rtx_pt;
        st->clock = k && k->clock ? k->clock : (m->kind == SDP_KIND_AUDIO ? 48000 : 90000);
        st->nack = m->kind == SDP_KIND_VIDEO && (c[i].fb & SDP_FB_NACK);
        st->level_id = m->kind == SDP_KIND_AUDIO ? session_level_id(m, &c[i]) : -1;
        if (m->n_fid > 0) { /* a=ssrc-group:FID media rtx */
            st->ssrc = m->fid[0][0];
            st->rtx_ssrc = m->fid[0][1];
        } else if (m->n_ssrcs > 0) {
            st->ssrc = m->ssrcs[0].id;
        }
        bool video = m->kind == SDP_KIND_VIDEO;
        /* An SFU forwards audio at once: a gap is waited for only briefly (the listeners'
         * jitter buffers conceal a loss better than a late packet). */
        struct rtp_reorder_config rc = {
            .capacity = video ? VIDEO_REORDER_SLOTS : AUDIO_REORDER_SLOTS,
            .max_delay_us = video                       ? VIDEO_REORDER_DELAY_US
                            : s->kind == RTC_SESSION_SFU ? SFU_AUDIO_REORDER_DELAY_US
                                                         : AUDIO_REORDER_DELAY_US,
        };
        st->reorder = rtp_reorder_create(&rc);
    }
}

static void fill_candidates(const struct rtc_transport *t, struct sdp_local_candidate *cand,
                            size_t *n)
{
    int port = rtc_net_port(t->net);
    *n = 0;
    for (int i = 0; i < t->naddrs; i++) {
        cand[(*n)++] = (struct sdp_local_candidate){t->addrs[i], (uint16_t)port,
                                                    SDP_TRANSPORT_UDP};
        if (t->tcp)
            cand[(*n)++] = (struct sdp_local_candidate){t->addrs[i], (uint16_t)port,
                                                        SDP_TRANSPORT_TCP};
    }
}

static int write_answer(struct rtc_session *s, const struct rtc_session_params *p,
                        const struct sdp_choice *choices, struct buf *answer, char *why,
                        size_t whylen)
{
    struct sdp_local_candidate cand[2 * RTC_MAX_CANDIDATE_ADDRS];
    size_t ncand;
    fill_candidates(s->t, cand, &ncand);
    uint64_t sid = 0;
    RAND_bytes((uint8_t *)&sid, sizeof(sid));
    struct sdp_local local = {
        .ice_ufrag = ice_agent_local_ufrag(s->ice),
        .ice_pwd = ice_agent_local_pwd(s->ice),
        .fingerprint = rtc_dtls_ctx_fingerprint(s->t->dtls),
        .session_id = sid >> 2,
        .cand = cand,
        .n_cand = ncand,
        .end_of_candidates = true,
    };
    return sdp_answer_write(p->offer, choices, &local, answer, why, whylen);
}

int rtc_session_create(struct rtc_transport *t, const struct rtc_session_params *p,
                       struct buf *answer, char *why, size_t whylen, struct rtc_session **out)
{
    *out = NULL;
    int64_t now = clock_mono_us();
    if (t->nsessions >= t->max_sessions) {
        snprintf(why, whylen, "this server has its maximum of %d WebRTC sessions",
                 t->max_sessions);
        return -EBUSY;
    }
    int first = first_accepted(p->offer, p->choices);
    if (first < 0) {
        snprintf(why, whylen, "no m-line of the offer can be accepted");
        return -EINVAL;
    }
    const struct sdp_media *m0 = &p->offer->media[first];
    const struct sdp_fingerprint *fp = sdp_media_fingerprint(m0, "sha-256");
    if (!fp || fp->len != 32) {
        snprintf(why, whylen, "the offer has no sha-256 fingerprint");
        return -EINVAL;
    }
    struct rtc_session *s = xcalloc(1, sizeof(*s));
    s->t = t;
    s->kind = p->kind;
    s->ops = *p->ops;
    s->opaque = p->opaque;
    snprintf(s->name, sizeof(s->name), "%s", p->log_name ? p->log_name : "");
    s->created_us = now;
    s->peer_fp.hash = RTC_DTLS_SHA256;
    s->peer_fp.len = 32;
    memcpy(s->peer_fp.md, fp->bytes, 32);
    s->rtcp_rsize = m0->rtcp_rsize;
    snprintf(s->remote_ufrag, sizeof(s->remote_ufrag), "%s", m0->ice_ufrag);
    snprintf(s->remote_pwd, sizeof(s->remote_pwd), "%s", m0->ice_pwd);
    RAND_bytes((uint8_t *)&s->local_ssrc, sizeof(s->local_ssrc));
    s->rtt_us = -1;
    int err = ice_agent_create(now, &s->ice);
    if (err == 0)
        err = ice_agent_set_remote(s->ice, m0->ice_ufrag, m0->ice_pwd);
    if (err < 0) {
        snprintf(why, whylen, "the offer's ICE credentials are not usable");
        goto fail;
    }
    /* Our answer's setup: passive (we are the DTLS server) unless the offer is passive. */
    s->role = sdp_answer_setup(m0->setup) == SDP_SETUP_ACTIVE ? RTC_DTLS_CLIENT : RTC_DTLS_SERVER;
    /* The choices with what we send as: the user's SSRC/cname/msid, or ours. */
    struct sdp_choice *ch = xcalloc(p->offer->n_media ? p->offer->n_media : 1, sizeof(*ch));
    uint64_t sid = 0;
    RAND_bytes((uint8_t *)&sid, sizeof(sid));
    for (size_t i = 0; i < p->offer->n_media; i++) {
        ch[i] = p->choices[i];
        if (!session_choice_sends(&ch[i]) || ch[i].ssrc)
            continue;
        while (!ch[i].ssrc)
            RAND_bytes((uint8_t *)&ch[i].ssrc, sizeof(ch[i].ssrc));
        if (!ch[i].cname[0])
            snprintf(ch[i].cname, sizeof(ch[i].cname), "kibitka");
        if (!ch[i].msid[0])
            snprintf(ch[i].msid, sizeof(ch[i].msid), "kibitka-%08x t%zu", (unsigned)sid, i);
    }
    add_streams(s, p->offer, ch);
    session_add_out_streams(s, p->offer, ch);
    err = write_answer(s, p, ch, answer, why, whylen);
    free(ch);
    if (err < 0)
        goto fail;
    s->dtls = rtc_dtls_create(t->dtls, s->role, &s->peer_fp, dtls_send, s, now);
    if (!s->dtls) {
        snprintf(why, whylen, "out of memory for DTLS");
        err = -ENOMEM;
        goto fail;
    }
    snprintf(s->ufrag, sizeof(s->ufrag), "%s", ice_agent_local_ufrag(s->ice));
    transport_ufrag_add(t, s);
    s->next_all = t->all;
    if (t->all)
        t->all->prev_all = s;
    t->all = s;
    t->nsessions++;
    metrics_add(t->mx.sessions[s->kind], 1);
    session_rearm(s, now);
    *out = s;
    return 0;
fail:
    session_free(s);
    return err < 0 ? err : -EINVAL;
}

/* ---- the user's requests ---- */

void rtc_session_request_keyframe(struct rtc_session *s, int mline)
{
    int64_t now = clock_mono_us();
    for (int i = 0; i < s->nin; i++)
        if (s->in[i].mline == mline && s->in[i].kind == SDP_KIND_VIDEO) {
            s->in[i].pli_wanted = true;
            if (s->connected && s->in_callback == 0)
                send_pli(s, &s->in[i], now);
        }
    if (s->in_callback == 0)
        session_rearm(s, now);
}

int rtc_session_trickle(struct rtc_session *s, const struct sdp_frag *f, bool *restarted,
                        struct buf *frag_answer, char *why, size_t whylen)
{
    *restarted = false;
    if (!f->ice_ufrag[0] || !sdp_frag_is_restart(f, s->remote_ufrag, s->remote_pwd))
        return 0; /* candidates only: a lite agent sends no checks, so it needs none */
    /* An ICE restart (RFC 8839 §4.4.1.1.1): new local credentials, the peer's new ones. */
    transport_ufrag_remove(s->t, s);
    int err = ice_agent_restart(s->ice, f->ice_ufrag, f->ice_pwd[0] ? f->ice_pwd : NULL);
    snprintf(s->ufrag, sizeof(s->ufrag), "%s", ice_agent_local_ufrag(s->ice));
    transport_ufrag_add(s->t, s);
    if (err < 0) {
        snprintf(why, whylen, "the fragment's ICE credentials are not usable");
        return err;
    }
    snprintf(s->remote_ufrag, sizeof(s->remote_ufrag), "%s", f->ice_ufrag);
    snprintf(s->remote_pwd, sizeof(s->remote_pwd), "%s", f->ice_pwd);
    *restarted = true;
    s->restart_pending = true;
    struct sdp_local_candidate cand[2 * RTC_MAX_CANDIDATE_ADDRS];
    size_t ncand;
    fill_candidates(s->t, cand, &ncand);
    buf_printf(frag_answer, "a=ice-lite\r\na=ice-ufrag:%s\r\na=ice-pwd:%s\r\n",
               ice_agent_local_ufrag(s->ice), ice_agent_local_pwd(s->ice));
    const char *mid = f->n_media ? f->media[0].mid : "0";
    buf_printf(frag_answer, "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:%s\r\n", mid);
    sdp_write_candidates(frag_answer, cand, ncand, true);
    return 0;
}

void rtc_session_stats_get(const struct rtc_session *s, struct rtc_session_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->connected = s->connected;
    out->packets_in = s->packets_in;
    out->bytes_in = s->bytes_in;
    out->nacks_sent = s->nacks_sent;
    out->plis_sent = s->plis_sent;
    const struct in_stream *jit = NULL;
    for (int i = 0; i < s->nin; i++) {
        out->packets_lost += s->in[i].lost;
        if (s->in[i].started && (!jit || s->in[i].kind == SDP_KIND_VIDEO))
            jit = &s->in[i];
    }
    out->rtt_ms = s->rtt_us < 0 ? -1 : (int32_t)(s->rtt_us / 1000);
    for (int i = 0; i < s->nout; i++) {
        out->packets_out += s->out[i].packets;
        out->bytes_out += s->out[i].octets;
    }
    if (jit && jit->clock)
        out->jitter_ms = (uint32_t)(rtp_stats_jitter(&jit->stats) * 1000ULL / jit->clock);
    if (s->have_selected)
        path_str(&s->selected, out->path, sizeof(out->path));
    if (s->connected) {
        struct rtc_srtp_keys keys;
        if (rtc_dtls_srtp_keys(s->dtls, &keys) == 0)
            snprintf(out->srtp_profile, sizeof(out->srtp_profile), "%s",
                     rtc_srtp_profile_name(keys.profile));
    }
}
