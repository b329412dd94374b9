#include <errno.h>
#include <libavutil/channel_layout.h>
#include <libavutil/mem.h>
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
    st->metrics = metrics;
    snprintf(st->peer, sizeof(st->peer), "%s", peer ? peer : "?");
    st->created_mono_us = clock_mono_us();
    if (metrics)
        metrics_add(&metrics->publishers, 1);
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
    if (st->metrics)
        metrics_add(&st->metrics->publishers, -1);
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

static void push(struct rtmp_stream *st, AVPacket *pkt, int64_t wall_us)
{
    if (!st->origin_set) { /* the first packet the hub sees has dts 0 */
        st->origin = pkt->dts;
        st->origin_set = true;
    }
    pkt->dts -= st->origin;
    pkt->pts -= st->origin;
    struct hub_packet hp = {pkt, wall_us};
    hub_push(st->hub, &hp);
    if (pkt->stream_index == 0)
        st->video_pkts++;
    else
        st->audio_pkts++;
    av_packet_free(&pkt);
}

static bool is_video(const AVPacket *pkt)
{
    return pkt->stream_index == 0;
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
        if (!st->avcc && !st->warned_no_video) {
            st->warned_no_video = true;
            log_warn("rtmp", hub_name(st->hub),
                     "no H.264 configuration after %d s of media; the stream starts only with "
                     "H.264 video (%s)",
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

/* Milliseconds of video in the queue, from its first keyframe to its last video packet. */
static int64_t queued_video_ms(const struct rtmp_stream *st)
{
    int64_t first = INT64_MIN, last = INT64_MIN;
    for (int i = 0; i < st->qlen; i++) {
        const AVPacket *q = st->queue[(st->qhead + i) % STREAM_QUEUE_MAX].pkt;
        if (!is_video(q))
            continue;
        if (first == INT64_MIN && (q->flags & AV_PKT_FLAG_KEY))
            first = q->dts;
        last = q->dts;
    }
    return first == INT64_MIN ? 0 : last - first;
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
    char level[16], fps[24] = "", audio[64] = ", no audio";
    int l = st->avc.level_idc;
    snprintf(level, sizeof(level), l % 10 ? "%d.%d" : "%d", l / 10, l % 10);
    if (st->meta_fps > 0 && st->meta_fps <= 1000)
        snprintf(fps, sizeof(fps), " %gfps", st->meta_fps);
    if (st->audio_track && st->asc)
        snprintf(audio, sizeof(audio), ", %s %d Hz %dch", aac_object_name(st->aac.object_type),
                 st->aac.sample_rate, st->aac.channels);
    else if (st->audio_track)
        snprintf(audio, sizeof(audio), ", MP3 %d Hz %dch (HLS gets it as AAC)", st->mp3_rate,
                 st->mp3_channels);
    log_info("rtmp", hub_name(st->hub), "publish started: H.264 %s@%s %dx%d%s%s (%s)",
             h264_profile_name(st->avc.profile_idc, st->avc.constraint_set1), level, st->avc.width,
             st->avc.height, fps, audio, st->peer);
}

/* The hub's tracks from what the stream knows: video, then audio when with_audio. */
static int make_tracks(const struct rtmp_stream *st, bool with_audio, struct hub_track tracks[2])
{
    int n = 0;
    AVRational fr = {0, 1};
    if (st->meta_fps > 0 && st->meta_fps <= 1000)
        fr = av_d2q(st->meta_fps, 1001000);
    tracks[n++] = (struct hub_track){video_par(st), {1, 1000}, fr};
    if (with_audio)
        tracks[n++] = (struct hub_track){audio_par(st), {1, 1000}, {0, 1}};
    return n;
}

void stream_reconfigure(struct rtmp_stream *st)
{
    struct hub_track tracks[2];
    int n = make_tracks(st, st->audio_track, tracks);
    int err = hub_reconfigure(st->hub, tracks, n);
    for (int i = 0; i < n; i++)
        avcodec_parameters_free(&tracks[i].par);
    if (err < 0)
        log_error("rtmp", hub_name(st->hub), "hub_reconfigure failed: %s", strerror(-err));
}

static void start_hub(struct rtmp_stream *st)
{
    struct hub_track tracks[2];
    int n = make_tracks(st, st->asc != NULL || st->mp3_rate > 0, tracks);
    int err = hub_start(st->hub, tracks, n);
    for (int i = 0; i < n; i++)
        avcodec_parameters_free(&tracks[i].par);
    st->started = true; /* even on failure: packets then go to hub_push, which drops them */
    st->audio_track = n == 2;
    if (err < 0)
        log_error("rtmp", hub_name(st->hub), "hub_start failed: %s", strerror(-err));
    else
        log_start(st);

    int64_t wall;
    AVPacket *pkt;
    while ((pkt = queue_pop(st, &wall))) {
        if (!is_video(pkt) && !st->audio_track)
            av_packet_free(&pkt);
        else
            push(st, pkt, wall);
    }
}

void stream_maybe_start(struct rtmp_stream *st)
{
    if (st->started || !st->avcc)
        return;
    bool no_audio = st->meta_seen && !st->meta_has_audio;
    if (st->asc || st->mp3_rate || no_audio || queued_video_ms(st) >= STREAM_VIDEO_ONLY_MS)
        start_hub(st);
}
