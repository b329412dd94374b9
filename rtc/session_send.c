/* One session's send path (transport.h, "sending"): the outgoing streams an answer names, RTP
 * written and encrypted straight into the port's send queue, the sender reports, and what the
 * peer's receiver reports say about our streams. The rest of the session is session.c. */
#include <errno.h>
#include <string.h>

#include "core/clock.h"
#include "rtc/transport_priv.h"

static const struct sdp_codec *codec_of(const struct sdp_media *m, uint8_t pt)
{
    for (size_t i = 0; i < m->n_pts; i++)
        if (m->codecs[i].pt == pt)
            return &m->codecs[i];
    return NULL;
}

/* The id of the audio level extension in the answer (kept from the offer), -1: none. */
int session_level_id(const struct sdp_media *m, const struct sdp_choice *c)
{
    for (size_t j = 0; j < m->n_extmaps && j < 32; j++)
        if ((c->ext_keep & (1u << j)) && strcmp(m->extmaps[j].uri, SDP_EXT_AUDIO_LEVEL) == 0)
            return m->extmaps[j].id;
    return -1;
}

bool session_choice_sends(const struct sdp_choice *c)
{
    return c->accept && c->n_pt > 0 && (c->dir == SDP_DIR_SENDONLY || c->dir == SDP_DIR_SENDRECV);
}

/* The outgoing streams: every accepted m-line we send on (c[i].ssrc set by the caller). */
void session_add_out_streams(struct rtc_session *s, const struct sdp_offer *o,
                             const struct sdp_choice *c)
{
    memset(s->out_of, -1, sizeof(s->out_of));
    for (size_t i = 0; i < o->n_media; i++) {
        if (!session_choice_sends(&c[i]) || !c[i].ssrc)
            continue;
        const struct sdp_codec *k = codec_of(&o->media[i], c[i].pt[0]);
        struct out_stream *os = &s->out[s->nout];
        os->mline = (int)i;
        os->pt = c[i].pt[0];
        os->ssrc = c[i].ssrc;
        os->clock = k && k->clock ? k->clock : (o->media[i].kind == SDP_KIND_AUDIO ? 48000 : 90000);
        os->level_id = session_level_id(&o->media[i], &c[i]);
        os->rtt_us = -1;
        s->out_of[i] = (int8_t)s->nout++;
    }
}

/* A sender report for every outgoing stream that sent (RFC 3550 §6.4.1: the NTP time now and
 * the RTP timestamp of the same instant, extrapolated from the last packet sent); the first
 * carries the report blocks. None sent: a receiver report. */
int session_write_sender_reports(struct rtc_session *s, struct rtcp_writer *w, int64_t now,
                                 const struct rtcp_report_block *rb, size_t nrb)
{
    bool first = true;
    uint64_t ntp = rtcp_ntp_from_unix_us(clock_wall_us());
    for (int i = 0; i < s->nout; i++) {
        struct out_stream *os = &s->out[i];
        if (!os->packets)
            continue;
        struct rtcp_sr_info sr = {
            .ssrc = os->ssrc,
            .ntp = ntp,
            .rtp_ts = os->last_ts + (uint32_t)((now - os->last_send_us) * os->clock / 1000000),
            .packet_count = (uint32_t)os->packets,
            .octet_count = (uint32_t)os->octets,
        };
        int err = rtcp_write_sr(w, &sr, first ? rb : NULL, first ? nrb : 0);
        if (err < 0)
            return first ? err : 0; /* the SRs that fit went */
        first = false;
    }
    return first ? rtcp_write_rr(w, s->local_ssrc, rb, nrb) : 0;
}

/* What the peer's receiver says about our streams: loss, jitter, and the round trip from the
 * LSR/DLSR of the block (RFC 3550 §6.4.1). */
void session_on_report_blocks(struct rtc_session *s, const struct rtcp_packet *pkt)
{
    uint32_t arrival = 0;
    for (size_t i = 0; i < pkt->nitems; i++) {
        struct rtcp_report_block rb;
        rtcp_report_block_get(pkt, i, &rb);
        for (int k = 0; k < s->nout; k++) {
            struct out_stream *os = &s->out[k];
            if (os->ssrc != rb.ssrc)
                continue;
            os->have_rr = true;
            os->fraction_lost = rb.fraction_lost;
            os->cumulative_lost = rb.cumulative_lost;
            os->jitter = rb.jitter;
            if (rb.lsr) {
                if (!arrival)
                    arrival = rtcp_ntp_mid(rtcp_ntp_from_unix_us(clock_wall_us()));
                int64_t rtt = rtcp_rtt_us(arrival, rb.lsr, rb.dlsr);
                if (rtt >= 0)
                    os->rtt_us = s->rtt_us = rtt;
            }
        }
    }
}

static struct out_stream *out_of(const struct rtc_session *s, int mline)
{
    if (mline < 0 || mline >= SDP_MAX_MEDIA || s->out_of[mline] < 0)
        return NULL;
    return (struct out_stream *)&s->out[s->out_of[mline]];
}

/* Writes the RTP header (and the audio level element) at b; returns its length. */
static size_t write_header(const struct out_stream *os, const struct rtc_rtp_out *o, uint8_t *b)
{
    bool level = os->level_id >= 1 && os->level_id <= 14 && o->audio_level >= 0;
    b[0] = level ? 0x90 : 0x80;
    b[1] = (uint8_t)(os->pt | (o->marker ? 0x80 : 0));
    rtp_wr16(b + 2, o->seq);
    rtp_wr32(b + 4, o->ts);
    rtp_wr32(b + 8, os->ssrc);
    if (!level)
        return 12;
    b[12] = 0xbe; /* RFC 8285 one-byte form, one word */
    b[13] = 0xde;
    b[14] = 0;
    b[15] = 1;
    b[16] = (uint8_t)(os->level_id << 4); /* length 1 */
    b[17] = (uint8_t)((o->audio_level > 127 ? 127 : o->audio_level) | (o->vad ? 0x80 : 0));
    b[18] = b[19] = 0;
    return 20;
}

int rtc_session_send_rtp(struct rtc_session *s, int mline, const struct rtc_rtp_out *o)
{
    struct out_stream *os = out_of(s, mline);
    if (!os)
        return -ENOENT;
    if (!s->connected || !s->srtp || !s->have_selected || s->ended)
        return -ENOTCONN;
    size_t cap;
    uint8_t *b = rtc_net_send_buf(s->t->net, &cap);
    if (20 + o->payload_len + RTC_SRTP_MAX_TRAILER > cap || 20 + o->payload_len > RTP_MTU)
        return -EMSGSIZE;
    size_t len = write_header(os, o, b);
    memcpy(b + len, o->payload, o->payload_len);
    len += o->payload_len;
    int err = rtc_srtp_protect_rtp(s->srtp, b, &len, cap);
    if (err < 0)
        return err;
    os->packets++;
    os->octets += o->payload_len;
    os->last_ts = o->ts;
    os->last_send_us = clock_mono_us();
    return rtc_net_send_commit_timed(s->t->net, &s->selected, len, o->delay, o->arrival_us);
}

uint32_t rtc_session_out_ssrc(const struct rtc_session *s, int mline)
{
    const struct out_stream *os = out_of(s, mline);
    return os ? os->ssrc : 0;
}

int rtc_session_out_stats(const struct rtc_session *s, int mline, struct rtc_out_stats *out)
{
    const struct out_stream *os = out_of(s, mline);
    memset(out, 0, sizeof(*out));
    out->rtt_ms = -1;
    if (!os)
        return -ENOENT;
    out->packets = os->packets;
    out->octets = os->octets;
    out->have_rr = os->have_rr;
    out->fraction_lost = os->fraction_lost;
    out->cumulative_lost = os->cumulative_lost;
    out->jitter_ms = os->clock ? (uint32_t)((uint64_t)os->jitter * 1000 / os->clock) : 0;
    out->rtt_ms = os->rtt_us < 0 ? -1 : (int32_t)(os->rtt_us / 1000);
    return 0;
}

int rtc_session_audio_level(const struct rtc_session *s, int mline, const struct rtp_packet *pkt,
                            bool *vad)
{
    for (int i = 0; i < s->nin; i++)
        if (s->in[i].mline == mline)
            return s->in[i].level_id > 0 ? rtp_audio_level(pkt, s->in[i].level_id, vad) : -1;
    return -1;
}
