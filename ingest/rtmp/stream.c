#include <errno.h>
#include <libavutil/channel_layout.h>
#include <libavutil/mem.h>
#include <libavutil/pixdesc.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "ingest/rtmp/stream_priv.h"

struct rtmp_stream *rtmp_stream_create(struct hub *hub, struct metrics *metrics, const char *peer)
{
    struct rtmp_stream *st = xcalloc(1, sizeof(*st));
    st->hub = hub;
    snprintf(st->peer, sizeof(st->peer), "%s", peer ? peer : "?");
    st->created_mono_us = clock_mono_us();
    rtmp_metrics_register(metrics, &st->mx);
    metrics_add(st->mx.publishers, 1);
    return st;
}

static AVPacket *queue_pop(struct rtmp_stream *st, int64_t *wall_us)
{
    if (st->qlen == 0)
        return NULL;
    struct queued *q = &st->queue[st->qhead];
    AVPacket *pkt = q->pkt;
    *wall_us = q->wall_us;
    q->pkt = NULL;
    st->qhead = (st->qhead + 1) % STREAM_QUEUE_MAX;
    st->qlen--;
    return pkt;
}

void rtmp_stream_destroy(struct rtmp_stream **pst, const char *reason)
{
    struct rtmp_stream *st = *pst;
    if (!st)
        return;
    int64_t wall;
    AVPacket *pkt;
    while ((pkt = queue_pop(st, &wall)))
        av_packet_free(&pkt);
    double secs = (double)(clock_mono_us() - st->created_mono_us) / 1e6;
    log_info("rtmp", hub_name(st->hub),
             "publish ended (%s): %.1f s, %llu video and %llu audio packets, %llu dropped (%s)",
             reason, secs, (unsigned long long)st->video_pkts, (unsigned long long)st->audio_pkts,
             (unsigned long long)st->dropped, st->peer);
    hub_end(st->hub);
    hub_unrefp(&st->hub);
    metrics_add(st->mx.publishers, -1);
    free(st->avcc);
    free(st->asc);
    free(st);
    *pst = NULL;
}

const char *rtmp_stream_refusal(const struct rtmp_stream *st)
{
    return st->refusal;
}

const char *rtmp_stream_name(const struct rtmp_stream *st)
{
    return hub_name(st->hub);
}

int64_t stream_extend_ts(struct rtmp_stream *st, uint32_t ts)
{
    if (!st->ts_init) {
        st->ts_init = true;
        st->last64 = ts;
    } else {
        st->last64 += (int32_t)(ts - st->last32);
    }
    st->last32 = ts;
    return st->last64;
}

static bool is_video(const AVPacket *pkt)
{
    return pkt->stream_index == 0;
}

/* Inside ingest a packet's stream_index says its kind (0 video, 1 audio); the hub's track index
 * differs for an audio-only stream, whose audio is track 0. */
static void push(struct rtmp_stream *st, AVPacket *pkt, int64_t wall_us)
{
    bool video = is_video(pkt);
    if (!st->origin_set) { /* the first packet the hub sees has dts 0 */
        st->origin = pkt->dts;
        st->origin_set = true;
    }
    pkt->dts -= st->origin;
    pkt->pts -= st->origin;
    pkt->stream_index = video || !st->video_track ? 0 : 1;
    struct hub_packet hp = {pkt, wall_us, false};
    hub_push(st->hub, &hp);
    if (video)
        st->video_pkts++;
    else
        st->audio_pkts++;
    av_packet_free(&pkt);
}

/* Before the start: keep the packet unless it is video before the first keyframe, dropping the
 * oldest packets past the count or duration bound. */
static void enqueue(struct rtmp_stream *st, AVPacket *pkt)
{
    bool have_key = false;
    for (int i = 0; i < st->qlen && !have_key; i++) {
        const AVPacket *q = st->queue[(st->qhead + i) % STREAM_QUEUE_MAX].pkt;
        have_key = is_video(q) && (q->flags & AV_PKT_FLAG_KEY);
    }
    if (is_video(pkt) && !(pkt->flags & AV_PKT_FLAG_KEY) && !have_key) {
        st->dropped++;
        av_packet_free(&pkt);
        return;
    }
    int64_t wall;
    while (st->qlen == STREAM_QUEUE_MAX ||
           (st->qlen > 0 && pkt->dts - st->queue[st->qhead].pkt->dts > STREAM_QUEUE_MS)) {
        AVPacket *old = queue_pop(st, &wall);
        st->dropped++;
        av_packet_free(&old);
        if (!st->warned_no_video) {
            st->warned_no_video = true;
            log_warn("rtmp", hub_name(st->hub),
                     "no H.264 keyframe nor audio configuration after %d s of media: dropping the "
                     "oldest queued packets until the stream can start (%s)",
                     STREAM_QUEUE_MS / 1000, st->peer);
        }
    }
    int tail = (st->qhead + st->qlen) % STREAM_QUEUE_MAX;
    st->queue[tail] = (struct queued){pkt, clock_wall_us()};
    st->qlen++;
}

void stream_deliver(struct rtmp_stream *st, AVPacket *pkt)
{
    if (st->started) {
        push(st, pkt, clock_wall_us());
        return;
    }
    enqueue(st, pkt);
    stream_maybe_start(st);
}

/* Milliseconds of queued media of one kind, from its first packet (the first keyframe, for
 * video) to its last; -1 when there is none (for video: no keyframe). */
static int64_t queued_ms(const struct rtmp_stream *st, bool video)
{
    int64_t first = INT64_MIN, last = INT64_MIN;
    for (int i = 0; i < st->qlen; i++) {
        const AVPacket *q = st->queue[(st->qhead + i) % STREAM_QUEUE_MAX].pkt;
        if (is_video(q) != video)
            continue;
        if (first == INT64_MIN && (!video || (q->flags & AV_PKT_FLAG_KEY)))
            first = q->dts;
        last = q->dts;
    }
    return first == INT64_MIN ? -1 : last - first;
}

static uint8_t *extradata_copy(const uint8_t *p, size_t n)
{
    uint8_t *e = av_mallocz(n + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!e)
        abort(); /* out of memory, as xmalloc decides */
    memcpy(e, p, n);
    return e;
}

static AVCodecParameters *video_par(const struct rtmp_stream *st)
{
    AVCodecParameters *par = avcodec_parameters_alloc();
    if (!par)
        abort();
    par->codec_type = AVMEDIA_TYPE_VIDEO;
    par->codec_id = AV_CODEC_ID_H264;
    par->extradata = extradata_copy(st->avcc, st->avcc_len);
    par->extradata_size = (int)st->avcc_len;
    par->width = st->avc.width;
    par->height = st->avc.height;
    /* FFmpeg's H.264 profile values are profile_idc, plus FF_PROFILE_H264_CONSTRAINED (1 << 9)
     * for constrained baseline. */
    par->profile =
        st->avc.profile_idc | (st->avc.profile_idc == 66 && st->avc.constraint_set1 ? 1 << 9 : 0);
    par->level = st->avc.level_idc;
    par->format = h264_pix_fmt(&st->avc);
    if (st->meta_vrate > 0 && st->meta_vrate < 1e6)
        par->bit_rate = (int64_t)(st->meta_vrate * 1000);
    return par;
}

static AVCodecParameters *audio_par(const struct rtmp_stream *st)
{
    AVCodecParameters *par = avcodec_parameters_alloc();
    if (!par)
        abort();
    par->codec_type = AVMEDIA_TYPE_AUDIO;
    if (!st->asc) { /* MP3 */
        par->codec_id = AV_CODEC_ID_MP3;
        par->sample_rate = st->mp3_rate;
        av_channel_layout_default(&par->ch_layout, st->mp3_channels);
        if (st->meta_arate > 0 && st->meta_arate < 1e6)
            par->bit_rate = (int64_t)(st->meta_arate * 1000);
        return par;
    }
    par->codec_id = AV_CODEC_ID_AAC;
    par->extradata = extradata_copy(st->asc, st->asc_len);
    par->extradata_size = (int)st->asc_len;
    par->sample_rate = st->aac.sample_rate;
    av_channel_layout_default(&par->ch_layout, st->aac.channels);
    par->profile = st->aac.object_type - 1; /* FF_PROFILE_AAC_LOW is 1 for object type 2 */
    if (st->meta_arate > 0 && st->meta_arate < 1e6)
        par->bit_rate = (int64_t)(st->meta_arate * 1000);
    return par;
}

static void log_start(const struct rtmp_stream *st)
{
    char video[96] = "audio only", level[16], fps[24] = "", audio[64] = ", no audio";
    if (st->video_track) {
        int l = st->avc.level_idc;
        snprintf(level, sizeof(level), l % 10 ? "%d.%d" : "%d", l / 10, l % 10);
        if (st->meta_fps > 0 && st->meta_fps <= 1000)
            snprintf(fps, sizeof(fps), " %gfps", st->meta_fps);
        snprintf(video, sizeof(video), "H.264 %s@%s %dx%d%s",
                 h264_profile_name(st->avc.profile_idc, st->avc.constraint_set1), level,
                 st->avc.width, st->avc.height, fps);
    }
    if (st->audio_track && st->asc)
        snprintf(audio, sizeof(audio), ", %s %d Hz %dch", aac_object_name(st->aac.object_type),
                 st->aac.sample_rate, st->aac.channels);
    else if (st->audio_track)
        snprintf(audio, sizeof(audio), ", MP3 %d Hz %dch (HLS gets it as AAC)", st->mp3_rate,
                 st->mp3_channels);
    log_info("rtmp", hub_name(st->hub), "publish started: %s%s (%s)", video, audio, st->peer);
}

/* The hub's tracks from what the stream knows: video when with_video, then audio when
 * with_audio. */
static int make_tracks(const struct rtmp_stream *st, bool with_video, bool with_audio,
                       struct hub_track tracks[2])
{
    int n = 0;
    AVRational fr = {0, 1};
    if (st->meta_fps > 0 && st->meta_fps <= 1000)
        fr = av_d2q(st->meta_fps, 1001000);
    if (with_video)
        tracks[n++] = (struct hub_track){video_par(st), {1, 1000}, fr};
    if (with_audio)
        tracks[n++] = (struct hub_track){audio_par(st), {1, 1000}, {0, 1}};
    return n;
}

void stream_reconfigure(struct rtmp_stream *st)
{
    struct hub_track tracks[2];
    int n = make_tracks(st, st->video_track, st->audio_track, tracks);
    int err = hub_reconfigure(st->hub, tracks, n);
    for (int i = 0; i < n; i++)
        avcodec_parameters_free(&tracks[i].par);
    if (err < 0)
        log_error("rtmp", hub_name(st->hub), "hub_reconfigure failed: %s", strerror(-err));
}

static void start_hub(struct rtmp_stream *st, bool with_video)
{
    struct hub_track tracks[2];
    bool with_audio = st->asc != NULL || st->mp3_rate > 0;
    int n = make_tracks(st, with_video, with_audio, tracks);
    int err = hub_start(st->hub, tracks, n);
    for (int i = 0; i < n; i++)
        avcodec_parameters_free(&tracks[i].par);
    st->started = true; /* even on failure: packets then go to hub_push, which drops them */
    st->video_track = with_video;
    st->audio_track = with_audio;
    if (err == -EPERM) { /* a sink refused the stream: the publish ends */
        st->refused = true;
        snprintf(st->refusal, sizeof(st->refusal), "%s", hub_refusal(st->hub));
    } else if (err < 0) {
        log_error("rtmp", hub_name(st->hub), "hub_start failed: %s", strerror(-err));
    } else {
        log_start(st);
    }

    int64_t wall;
    AVPacket *pkt;
    while ((pkt = queue_pop(st, &wall))) {
        bool kept = is_video(pkt) ? st->video_track : st->audio_track;
        if (!kept || st->refused) {
            st->dropped++;
            av_packet_free(&pkt);
        } else {
            push(st, pkt, wall);
        }
    }
}

/* With video (its configuration and a keyframe queued): start once the audio is known too, or
 * the metadata said there is none, or 1 s of video came without it. Without video: start
 * audio-only once the audio is known and the metadata said there is no video, or
 * STREAM_VIDEO_WAIT_MS of audio came without a keyframe. */
void stream_maybe_start(struct rtmp_stream *st)
{
    if (st->started)
        return;
    bool audio = st->asc || st->mp3_rate;
    if (st->avcc && queued_ms(st, true) >= 0) {
        bool no_audio = st->meta_seen && !st->meta_has_audio;
        if (audio || no_audio || queued_ms(st, true) >= STREAM_VIDEO_ONLY_MS)
            start_hub(st, true);
        return;
    }
    bool no_video = st->meta_seen && !st->meta_has_video;
    if (audio && (no_video || queued_ms(st, false) >= STREAM_VIDEO_WAIT_MS)) {
        if (!no_video)
            log_warn("rtmp", hub_name(st->hub),
                     "no H.264 keyframe after %.1f s of audio: the stream starts audio-only, and "
                     "video sent later is ignored (%s)",
                     STREAM_VIDEO_WAIT_MS / 1000.0, st->peer);
        start_hub(st, false);
    }
}
