/* WHIP ingest, media side: the offer becomes a WebRTC session (rtc/transport.h), its RTP
 * becomes frames (rtc/depack.h), and the frames go to the stream's hub with timestamps on one
 * timeline.
 *
 * Timeline. Each RTP stream has its own clock and a random start. The hub wants one timeline,
 * with audio and video in sync: a frame's pts comes from the sender's wall clock at that frame,
 * which its RTCP sender reports give (RFC 3550 §6.4.1: NTP time <-> RTP timestamp per track).
 * So the hub starts only when every track knows its codec configuration (video: SPS/PPS or a
 * VP8 keyframe) and has had a sender report; frames wait until then (at most WHIP_HOLD_MAX per
 * track). A sender that sends no report within 2 s of its first packet is aligned by arrival
 * time instead (tens of ms worse). From the start on, each track advances by its own RTP clock
 * from that anchor, so a later report never moves the timeline (no jumps); drift between two
 * clocks of one sender over a long publish is left to the hub's rebasing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "ingest/whip/whip_priv.h"
#include "rtc/sdp.h"

#define SYNC_WAIT_US 2000000
/* WebRTC encoders send a keyframe only when asked (Chromium sent none for over 10 s here),
 * and HLS cuts segments at keyframes: so a keyframe is asked for (RTCP PLI) once 1.8 s of video
 * passed since the last one, again every second until it comes. The answer (a round trip and an
 * encode later) lands near 2 s, an RTMP encoder's usual GOP and the usual target duration. Both
 * video codecs' RTP clocks run at 90 kHz. */
#define KEY_ASK_TICKS (18 * 9000)
#define KEY_REPEAT_TICKS 90000

static struct whip_track *track_of(struct whip_session *s, int mline)
{
    for (int i = 0; i < s->ntracks; i++)
        if (s->tracks[i].mline == mline)
            return &s->tracks[i];
    return NULL;
}

/* ---- the hub ---- */

/* wall_us: when the frame arrived (a held frame's is its arrival, not its release: the HLS
 * sink anchors PROGRAM-DATE-TIME on the first keyframe's, and held frames wait up to the first
 * sender report, ~1-2 s, which put PDT that far in the future). */
static void push(struct whip_session *s, struct whip_track *tr, AVPacket *pkt, int64_t ext,
                 int64_t wall_us)
{
    pkt->pts = pkt->dts = ext - tr->rtp_base + tr->offset;
    pkt->stream_index = tr->hub_index;
    struct hub_packet hp = {.pkt = pkt, .wallclock_us = wall_us};
    hub_push(s->hub, &hp);
}

/* The wall time (µs) of a held frame: the sender's, by its report, else its arrival. */
static int64_t frame_wall_us(const struct whip_track *tr, int i, bool by_report)
{
    int64_t us;
    if (by_report && rtcp_ntp_map_to_unix_us(&tr->ntp, (uint32_t)tr->held_ext[i], &us) == 0)
        return us;
    return tr->held_arrival_us[i];
}

/* Fills the hub's tracks. false while a track's configuration is unknown. */
static bool tracks_ready(struct whip_session *s, struct hub_track *ht, AVCodecParameters **pars)
{
    for (int i = 0; i < s->ntracks; i++) {
        pars[i] = avcodec_parameters_alloc();
        AVRational tb;
        if (depack_codecpar(s->tracks[i].dp, pars[i], &tb) < 0 || s->tracks[i].nheld == 0)
            return false;
        ht[i] = (struct hub_track){.par = pars[i], .time_base = tb, .frame_rate = {0, 1}};
        s->tracks[i].tb = tb;
        s->tracks[i].hub_index = i;
    }
    return true;
}

/* Sends the held frames of every track in timeline order. */
static void release_held(struct whip_session *s)
{
    int next[WHIP_MAX_TRACKS] = {0};
    for (;;) {
        int best = -1;
        double best_t = 0;
        for (int i = 0; i < s->ntracks; i++) {
            struct whip_track *tr = &s->tracks[i];
            if (next[i] >= tr->nheld)
                continue;
            double t = (double)(tr->held_ext[next[i]] - tr->rtp_base + tr->offset) *
                       av_q2d(tr->tb);
            if (best < 0 || t < best_t) {
                best = i;
                best_t = t;
            }
        }
        if (best < 0)
            break;
        struct whip_track *tr = &s->tracks[best];
        int k = next[best]++;
        push(s, tr, tr->held[k], tr->held_ext[k], tr->held_arrival_us[k]);
        av_packet_free(&tr->held[k]);
    }
    for (int i = 0; i < s->ntracks; i++)
        s->tracks[i].nheld = 0;
}

/* Starts the hub once every track is configured and the clocks can be aligned. false when a
 * sink refused the stream: s is ended and freed then. */
static bool try_start(struct whip_session *s, int64_t now)
{
    struct hub_track ht[WHIP_MAX_TRACKS];
    AVCodecParameters *pars[WHIP_MAX_TRACKS] = {0};
    bool ready = tracks_ready(s, ht, pars);
    bool by_report = true;
    for (int i = 0; i < s->ntracks; i++)
        by_report = by_report && s->tracks[i].ntp.valid;
    if (ready && !by_report && now - s->first_packet_us < SYNC_WAIT_US)
        ready = false; /* wait a little for the sender reports */
    if (ready) {
        int64_t base = INT64_MAX;
        for (int i = 0; i < s->ntracks; i++) {
            int64_t w = frame_wall_us(&s->tracks[i], 0, by_report);
            if (w < base)
                base = w;
        }
        for (int i = 0; i < s->ntracks; i++) {
            struct whip_track *tr = &s->tracks[i];
            int64_t w = frame_wall_us(tr, 0, by_report);
            tr->rtp_base = tr->held_ext[0];
            tr->offset = av_rescale_q(w - base, (AVRational){1, 1000000}, tr->tb);
            log_debug("whip", hub_name(s->hub),
                      "track %d: first frame at +%lld us (sender %lld, arrival %lld), %d held",
                      i, (long long)(w - base), (long long)w,
                      (long long)tr->held_arrival_us[0], tr->nheld);
        }
        if (hub_start(s->hub, ht, s->ntracks) < 0) {
            const char *why = hub_refusal(s->hub);
            char reason[HUB_REFUSAL_MAX + 32];
            snprintf(reason, sizeof(reason), "refused: %s", why && why[0] ? why : "by a sink");
            log_warn("whip", hub_name(s->hub), "%s", reason);
            for (int i = 0; i < s->ntracks; i++)
                avcodec_parameters_free(&pars[i]);
            whip_session_end(s, reason); /* frees s */
            return false;
        }
        s->started = true;
        log_info("whip", hub_name(s->hub), "media started (%s), %d track%s",
                 by_report ? "aligned by sender reports" : "aligned by arrival",
                 s->ntracks, s->ntracks == 1 ? "" : "s");
        release_held(s);
    }
    for (int i = 0; i < s->ntracks; i++)
        avcodec_parameters_free(&pars[i]);
    return true;
}

static void reconfigure(struct whip_session *s)
{
    struct hub_track ht[WHIP_MAX_TRACKS];
    AVCodecParameters *pars[WHIP_MAX_TRACKS] = {0};
    bool ok = true;
    for (int i = 0; i < s->ntracks; i++) {
        pars[i] = avcodec_parameters_alloc();
        AVRational tb;
        ok = ok && depack_codecpar(s->tracks[i].dp, pars[i], &tb) == 0;
        ht[i] = (struct hub_track){.par = pars[i], .time_base = s->tracks[i].tb,
                                   .frame_rate = {0, 1}};
    }
    if (ok)
        hub_reconfigure(s->hub, ht, s->ntracks);
    for (int i = 0; i < s->ntracks; i++)
        avcodec_parameters_free(&pars[i]);
}

/* Video: asks for a keyframe when the last one is KEY_ASK_TICKS old (see above). */
static void ask_keyframe(struct whip_session *s, struct whip_track *tr, bool keyframe)
{
    if (keyframe) {
        tr->key_seen = true;
        tr->key_ext = tr->ts_ext;
        return;
    }
    if (!tr->key_seen || tr->ts_ext - tr->key_ext < KEY_ASK_TICKS ||
        (tr->key_asked_ext > tr->key_ext && tr->ts_ext - tr->key_asked_ext < KEY_REPEAT_TICKS))
        return;
    tr->key_asked_ext = tr->ts_ext;
    rtc_session_request_keyframe(s->rtc, tr->mline);
}

/* One frame out of a depacketizer; takes pkt. false when s was ended (see try_start). */
static bool on_frame(struct whip_session *s, struct whip_track *tr,
                     const struct depack_frame *f, AVPacket *pkt, int64_t now)
{
    if (!tr->ts_started) {
        tr->ts_ext = f->timestamp;
        tr->ts_started = true;
    } else {
        tr->ts_ext += (int32_t)(f->timestamp - tr->last_ts);
    }
    tr->last_ts = f->timestamp;
    if (tr->type == AVMEDIA_TYPE_VIDEO)
        ask_keyframe(s, tr, f->keyframe);
    if (s->started) {
        if (f->config_changed)
            reconfigure(s);
        push(s, tr, pkt, tr->ts_ext, clock_wall_us());
        av_packet_free(&pkt);
        return true;
    }
    if (tr->nheld == WHIP_HOLD_MAX) { /* never started: keep the newest */
        av_packet_free(&tr->held[0]);
        memmove(tr->held, tr->held + 1, sizeof(tr->held[0]) * (WHIP_HOLD_MAX - 1));
        memmove(tr->held_ext, tr->held_ext + 1, sizeof(tr->held_ext[0]) * (WHIP_HOLD_MAX - 1));
        memmove(tr->held_arrival_us, tr->held_arrival_us + 1,
                sizeof(tr->held_arrival_us[0]) * (WHIP_HOLD_MAX - 1));
        tr->nheld--;
    }
    tr->held[tr->nheld] = pkt;
    tr->held_ext[tr->nheld] = tr->ts_ext;
    tr->held_arrival_us[tr->nheld] = clock_wall_us();
    tr->nheld++;
    return try_start(s, now);
}

/* ---- the WebRTC session's callbacks ---- */

static void on_connected(void *opaque)
{
    struct whip_session *s = opaque;
    log_info("whip", hub_name(s->hub), "WebRTC connected from %s", s->client);
}

static void on_rtp(void *opaque, int mline, const struct rtp_packet *pkt, uint64_t seq,
                   bool lost_before)
{
    struct whip_session *s = opaque;
    struct whip_track *tr = track_of(s, mline);
    if (!tr)
        return;
    int64_t now = clock_mono_us();
    if (!s->first_packet_us)
        s->first_packet_us = now;
    hub_count_bytes_in(s->hub, pkt->payload_len);
    struct depack_in in = {
        .payload = pkt->payload,
        .len = pkt->payload_len,
        .timestamp = pkt->ts,
        .marker = pkt->marker,
        .seq = seq,
        .lost_before = lost_before,
    };
    struct depack_out out;
    depack_push(tr->dp, &in, &out);
    if (out.need_keyframe || (depack_waiting_keyframe(tr->dp) && lost_before))
        rtc_session_request_keyframe(s->rtc, mline);
    for (int i = 0; i < out.nframes; i++) {
        AVPacket *p = out.frames[i].pkt;
        out.frames[i].pkt = NULL;
        if (!on_frame(s, tr, &out.frames[i], p, now)) { /* a sink refused: s is gone */
            depack_out_clear(&out);
            return;
        }
    }
    depack_out_clear(&out);
    if (!s->started && s->first_packet_us && now - s->first_packet_us >= SYNC_WAIT_US)
        try_start(s, now);
}

static void on_sender_report(void *opaque, int mline, const struct rtcp_sr_info *sr)
{
    struct whip_session *s = opaque;
    struct whip_track *tr = track_of(s, mline);
    if (!tr)
        return;
    rtcp_ntp_map_update(&tr->ntp, sr->ntp, sr->rtp_ts);
    int64_t us;
    if (tr->ts_started && rtcp_ntp_map_to_unix_us(&tr->ntp, (uint32_t)tr->ts_ext, &us) == 0)
        log_debug("whip", hub_name(s->hub),
                  "SR m-line %d: the newest frame's sender time %lld us, %lld us before now",
                  mline, (long long)us, (long long)(clock_wall_us() - us));
}

static void on_closed(void *opaque, const char *reason)
{
    struct whip_session *s = opaque;
    s->rtc = NULL; /* freed by the transport after this call */
    whip_session_end(s, reason);
}

static const struct rtc_session_ops session_ops = {
    .connected = on_connected,
    .rtp = on_rtp,
    .sender_report = on_sender_report,
    .closed = on_closed,
};

/* ---- start and stop ---- */

/* The fmtp line a depacketizer reads, from what the SDP parser kept. */
static void fmtp_string(const struct sdp_codec *k, char *out, size_t n)
{
    out[0] = '\0';
    if (k->fmtp.packetization_mode >= 0)
        snprintf(out, n, "packetization-mode=%d", k->fmtp.packetization_mode);
    if (k->fmtp.sprop) {
        size_t l = strlen(out);
        snprintf(out + l, n - l, "%ssprop-parameter-sets=%s", l ? ";" : "", k->fmtp.sprop);
    }
}

static const struct sdp_codec *codec_of(const struct sdp_media *m, uint8_t pt)
{
    for (size_t i = 0; i < m->n_pts; i++)
        if (m->codecs[i].pt == pt)
            return &m->codecs[i];
    return NULL;
}

/* Decides every m-line: one video (H.264 or VP8) and one audio (Opus) the publisher sends. */
static int choose(struct whip_session *s, const struct sdp_offer *o, struct sdp_choice *ch,
                  char *why, size_t whylen)
{
    bool video = false, audio = false;
    for (size_t i = 0; i < o->n_media; i++) {
        const struct sdp_media *m = &o->media[i];
        if (sdp_choose(o, i, &ch[i]) < 0)
            continue;
        bool *have = m->kind == SDP_KIND_VIDEO ? &video : &audio;
        if (ch[i].dir != SDP_DIR_RECVONLY || *have) {
            ch[i].accept = false;
            snprintf(ch[i].reason, sizeof(ch[i].reason), "%s",
                     *have ? "one video and one audio track per publish"
                           : "a WHIP publisher sends (sendonly)");
            continue;
        }
        const struct sdp_codec *k = codec_of(m, ch[i].pt[0]);
        const struct depack_ops *ops = k ? depack_ops_find(k->name) : NULL;
        char fmtp[4200];
        fmtp_string(k, fmtp, sizeof(fmtp));
        /* Opus: stereo when the sender says it sends stereo (RFC 7587 sprop-stereo), else as
         * its first packet is coded (a browser's microphone is mono) */
        int stereo = k && k->has_fmtp && k->fmtp.sprop_stereo == 1;
        struct depack_params dp = {.fmtp = fmtp, .channels = stereo ? 2 : 0};
        struct whip_track *tr = &s->tracks[s->ntracks];
        if (!ops || depack_create(ops, &dp, &tr->dp) < 0) {
            ch[i].accept = false;
            snprintf(ch[i].reason, sizeof(ch[i].reason), "codec not taken");
            continue;
        }
        *have = true;
        tr->mline = (int)i;
        tr->type = ops->type;
        rtcp_ntp_map_init(&tr->ntp, (uint32_t)ops->clock_rate);
        s->ntracks++;
    }
    if (s->ntracks > 0)
        return 0;
    size_t off = (size_t)snprintf(why, whylen, "no track kibitka can take (H.264, VP8, Opus)");
    for (size_t i = 0; i < o->n_media && off < whylen; i++)
        off += (size_t)snprintf(why + off, whylen - off, "; m-line %zu: %s", i,
                                ch[i].reason[0] ? ch[i].reason : "rejected");
    return -EINVAL;
}

int whip_media_start(struct whip_session *s, const char *offer, size_t len,
                     struct whip_response *resp, char *why, size_t whylen)
{
    struct sdp_offer *o = NULL;
    char err[SDP_ERR_LEN];
    int r = sdp_offer_parse(offer, len, &o, err, sizeof(err));
    if (r < 0) {
        snprintf(why, whylen, "bad SDP offer: %s", err);
        return -EINVAL;
    }
    struct sdp_choice ch[SDP_MAX_MEDIA];
    memset(ch, 0, sizeof(ch));
    r = choose(s, o, ch, why, whylen);
    if (r == 0) {
        struct buf answer;
        buf_init(&answer);
        struct rtc_session_params p = {
            .kind = RTC_SESSION_WHIP,
            .offer = o,
            .choices = ch,
            .ops = &session_ops,
            .opaque = s,
            .log_name = hub_name(s->hub),
        };
        if (!s->w->cfg.rtc) {
            snprintf(why, whylen, "WebRTC is off on this server (--rtc)");
            r = -EBUSY;
        } else {
            r = rtc_session_create(s->w->cfg.rtc, &p, &answer, why, whylen, &s->rtc);
        }
        if (r == 0) {
            resp->body = xstrndup((const char *)buf_head(&answer), buf_size(&answer));
            resp->content_type = "application/sdp";
        }
        buf_free(&answer);
    }
    sdp_offer_free(&o);
    return r;
}

void whip_media_stop(struct whip_session *s)
{
    rtc_session_destroy(&s->rtc);
    for (int i = 0; i < s->ntracks; i++) {
        struct whip_track *tr = &s->tracks[i];
        for (int k = 0; k < tr->nheld; k++)
            av_packet_free(&tr->held[k]);
        tr->nheld = 0;
        depack_destroy(&tr->dp);
    }
    s->ntracks = 0;
}
