/* FLV messages of a publishing stream -> codec state (AVC and AAC configurations, metadata) and
 * AVPackets for stream.c to queue or push. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "ingest/rtmp/stream_priv.h"

static void drop(struct rtmp_stream *st, bool *warned, const char *why)
{
    st->dropped++;
    if (warned && *warned)
        return;
    if (warned)
        *warned = true;
    log_warn("rtmp", hub_name(st->hub), "dropping %s (%s)", why, st->peer);
}

/* Video after an audio-only start: the hub's track list is fixed, and turning an audio-only
 * playlist into a video one mid-stream is something players do not follow; the publisher
 * republishes to add video. */
static bool video_too_late(struct rtmp_stream *st)
{
    if (!st->started || st->video_track)
        return false;
    drop(st, &st->warned_video_late,
         "video that arrived after the stream started audio-only (republish to add video)");
    return true;
}

static void video_config(struct rtmp_stream *st, const uint8_t *p, size_t n)
{
    struct avc_config c;
    const char *why;
    if (video_too_late(st))
        return;
    if (flv_avc_config_parse(p, n, &c, &why) < 0) {
        log_warn("rtmp", hub_name(st->hub), "dropping malformed AVC configuration: %s (%s)", why,
                 st->peer);
        return;
    }
    if (st->avcc && st->avcc_len == n && memcmp(st->avcc, p, n) == 0)
        return; /* a repeat (some encoders resend it before keyframes) */
    if (st->started) {
        log_warn("rtmp", hub_name(st->hub),
                 "H.264 configuration changed mid-stream (now %dx%d): renditions restart with a "
                 "discontinuity at the next frame",
                 c.width, c.height);
        st->new_extradata = true;
    }
    free(st->avcc);
    st->avcc = xmalloc(n);
    memcpy(st->avcc, p, n);
    st->avcc_len = n;
    st->avc = c;
    stream_maybe_start(st);
}

static AVPacket *packet_new(const uint8_t *p, size_t n, int64_t dts, int index)
{
    AVPacket *pkt = av_packet_alloc();
    if (!pkt || av_new_packet(pkt, (int)n) < 0)
        abort(); /* out of memory; n is at most the 8 MiB message cap */
    memcpy(pkt->data, p, n);
    pkt->dts = pkt->pts = dts;
    pkt->stream_index = index;
    pkt->time_base = (AVRational){1, 1000};
    return pkt;
}

static void video_frame(struct rtmp_stream *st, uint32_t ts, const struct flv_video *v)
{
    if (video_too_late(st))
        return;
    if (!st->avcc) {
        drop(st, &st->warned_no_config, "H.264 frames sent before the AVC configuration");
        return;
    }
    if (!flv_avc_frame_valid(v->data, v->size, st->avc.nal_length_size)) {
        drop(st, &st->warned_bad_frame, "H.264 frame with bad NAL unit lengths");
        return;
    }
    AVPacket *pkt = packet_new(v->data, v->size, stream_extend_ts(st, ts), 0);
    pkt->pts = pkt->dts + v->cts;
    if (v->frame_type == 1)
        pkt->flags |= AV_PKT_FLAG_KEY;
    if (st->new_extradata) {
        uint8_t *sd = av_packet_new_side_data(pkt, AV_PKT_DATA_NEW_EXTRADATA, st->avcc_len);
        if (sd)
            memcpy(sd, st->avcc, st->avcc_len);
        st->new_extradata = false;
        stream_reconfigure(st); /* sinks restart on the new configuration before this frame */
    }
    stream_deliver(st, pkt);
}

int rtmp_stream_video(struct rtmp_stream *st, uint32_t ts, const uint8_t *p, size_t n)
{
    struct flv_video v;
    hub_count_bytes_in(st->hub, n);
    if (st->refused)
        return -EPROTONOSUPPORT;
    if (flv_video_parse(p, n, &v) < 0) {
        drop(st, NULL, "truncated video message");
        return 0;
    }
    if (v.codec_id < 0) {
        snprintf(st->refusal, sizeof(st->refusal),
                 "video codec %s (enhanced RTMP) is not supported; use H.264", v.fourcc);
        return -EPROTONOSUPPORT;
    }
    if (v.codec_id != FLV_VIDEO_AVC) {
        snprintf(st->refusal, sizeof(st->refusal),
                 "video codec %s (%d) is not supported; use H.264",
                 flv_video_codec_name(v.codec_id), v.codec_id);
        return -EPROTONOSUPPORT;
    }
    if (v.avc_type == FLV_AVC_CONFIG)
        video_config(st, v.data, v.size);
    else if (v.avc_type == FLV_AVC_NALU)
        video_frame(st, ts, &v);
    /* end of sequence and info frames carry nothing for the hub */
    return st->refused ? -EPROTONOSUPPORT : 0;
}

static void audio_config(struct rtmp_stream *st, const uint8_t *p, size_t n)
{
    struct aac_config c;
    if (flv_aac_config_parse(p, n, &c) < 0) {
        log_warn("rtmp", hub_name(st->hub), "dropping malformed AAC AudioSpecificConfig (%s)",
                 st->peer);
        return;
    }
    if (st->started && !st->audio_track) {
        drop(st, &st->warned_audio_late,
             "AAC configuration that arrived after the stream started video-only (audio lost)");
        return;
    }
    if (st->started)
        return; /* the audio track is fixed once started; a repeat or change is ignored */
    free(st->asc);
    st->asc = xmalloc(n);
    memcpy(st->asc, p, n);
    st->asc_len = n;
    st->aac = c;
    stream_maybe_start(st);
}

/* MP3 has no configuration message: the first frame's header tells the rate and channels, and
 * the audio track exists from then on (the packager transcodes it to AAC once). */
static int audio_mp3(struct rtmp_stream *st, uint32_t ts, const struct flv_audio *a)
{
    int rate, channels;
    if (st->asc) {
        snprintf(st->refusal, sizeof(st->refusal), "audio switched from AAC to MP3 mid-stream");
        return -EPROTONOSUPPORT;
    }
    if (flv_mp3_header_parse(a->data, a->size, &rate, &channels) < 0) {
        drop(st, &st->warned_bad_frame, "MP3 frame without a valid MPEG audio header");
        return 0;
    }
    if (!st->mp3_rate && !st->started) {
        st->mp3_rate = rate;
        st->mp3_channels = channels;
        stream_maybe_start(st);
    }
    if (!st->mp3_rate || (st->started && !st->audio_track)) {
        st->dropped++;
        return 0;
    }
    stream_deliver(st, packet_new(a->data, a->size, stream_extend_ts(st, ts), 1));
    return st->refused ? -EPROTONOSUPPORT : 0;
}

int rtmp_stream_audio(struct rtmp_stream *st, uint32_t ts, const uint8_t *p, size_t n)
{
    struct flv_audio a;
    hub_count_bytes_in(st->hub, n);
    if (st->refused)
        return -EPROTONOSUPPORT;
    if (flv_audio_parse(p, n, &a) < 0) {
        drop(st, NULL, "truncated audio message");
        return 0;
    }
    if (a.format == FLV_AUDIO_MP3)
        return audio_mp3(st, ts, &a);
    if (a.format != FLV_AUDIO_AAC) {
        snprintf(st->refusal, sizeof(st->refusal),
                 "audio codec %s (%d) is not supported; use AAC or MP3",
                 flv_audio_codec_name(a.format), a.format);
        return -EPROTONOSUPPORT;
    }
    if (a.aac_type == 0) {
        audio_config(st, a.data, a.size);
    } else if (a.aac_type == 1) {
        if (!st->asc || (st->started && !st->audio_track) || a.size == 0) {
            st->dropped++;
            return 0;
        }
        stream_deliver(st, packet_new(a.data, a.size, stream_extend_ts(st, ts), 1));
    }
    return st->refused ? -EPROTONOSUPPORT : 0;
}

void rtmp_stream_metadata(struct rtmp_stream *st, const struct amf0_value *meta)
{
    double d;
    st->meta_seen = true;
    st->meta_has_audio = amf0_get(meta, "audiocodecid") != NULL;
    st->meta_has_video = amf0_get(meta, "videocodecid") != NULL;
    if (amf0_get_num(meta, "framerate", &d))
        st->meta_fps = d;
    if (amf0_get_num(meta, "videodatarate", &d))
        st->meta_vrate = d;
    if (amf0_get_num(meta, "audiodatarate", &d))
        st->meta_arate = d;
    double w = 0, h = 0, vc = -1, ac = -1;
    amf0_get_num(meta, "width", &w);
    amf0_get_num(meta, "height", &h);
    amf0_get_num(meta, "videocodecid", &vc);
    amf0_get_num(meta, "audiocodecid", &ac);
    log_debug("rtmp", hub_name(st->hub), "metadata: %gx%g %g fps, video codec %g, audio codec %g",
              w, h, st->meta_fps, vc, ac);
    stream_maybe_start(st);
}
