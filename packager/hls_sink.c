#include "packager/hls_sink.h"

#include <errno.h>
#include <libavutil/avutil.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "packager/fmp4.h"

#define MIN_SEG_US 1000000LL        /* a keyframe starts a new segment after this long */
#define AUDIO_SEG_US 2000000LL      /* audio-only segments stay under this */
#define FIRST_SEG_MAX_US 10000000LL /* a first segment without a second keyframe ends here */
/* EXTINF rounded to the nearest integer must not exceed the target duration. */
#define ROUNDING_SLACK_US 499000LL
#define US_TB ((AVRational){1, 1000000})
/* Packets waiting for the other tracks to catch up, per track (see drain). A track this far
 * ahead stops waiting for a stalled one. */
#define QUEUE_MAX 64
#define QUEUE_WAIT 48

struct track {
    int mux; /* index in the muxer; -1: not packaged */
    bool video;
    AVRational tb;
    int64_t offset;   /* subtracted from pts and dts (tb) */
    int64_t last_dts; /* after the shift; INT64_MIN before the first packet */
    int64_t last_dur, default_dur;
    AVPacket *held; /* queued once the next packet gives its duration */
    int64_t held_wall_us;
    int64_t dropped;
    /* Packets with known durations, in dts order, waiting to be interleaved with the other
     * tracks: a ring of QUEUE_MAX. */
    AVPacket *q[QUEUE_MAX];
    int64_t q_wall_us[QUEUE_MAX];
    int q_head, q_len;
};

struct hls_sink {
    struct hls_stream *st;
    char name[HUB_NAME_MAX + 1];
    int64_t part_target_us;
    struct fmp4 *mux;
    struct track tr[HUB_MAX_TRACKS];
    int ntracks;
    int main; /* the track cuts follow: video if any, else audio */
    bool has_video, started, failed, warned_long, ended;
    struct hls_variant_info vi;
    /* The segment and part being cut, on the main track's timeline (us after the shift). */
    bool seg_open, part_open, part_independent;
    int64_t seg_start_us, seg_wall_us, part_start_us, part_end_us;
    int target_s;
    int64_t max_seg_us;
    int64_t fr_frames; /* video frames in the first segment */
};

static void fail(struct hls_sink *k, const char *what, int err)
{
    if (!k->failed)
        log_error("hls", k->name, "%s failed (%s); the stream gets no more parts", what,
                  av_err2str(err));
    k->failed = true;
}

/* ---- start ---- */

static bool pick_track(struct hls_sink *k, int i, const struct hub_track *t, bool *has_audio)
{
    const AVCodecParameters *par = t->par;
    struct track *tr = &k->tr[i];
    tr->tb = t->time_base;
    if (par->codec_type == AVMEDIA_TYPE_VIDEO && par->codec_id == AV_CODEC_ID_H264 &&
        par->extradata_size > 0 && !k->has_video) {
        k->has_video = tr->video = true;
        AVRational fr = t->frame_rate.num > 0 ? t->frame_rate : (AVRational){30, 1};
        tr->default_dur = av_rescale_q(1, av_inv_q(fr), tr->tb);
        return true;
    }
    if (par->codec_type == AVMEDIA_TYPE_AUDIO && par->codec_id == AV_CODEC_ID_AAC &&
        par->extradata_size > 0 && !*has_audio) {
        *has_audio = true;
        int rate = par->sample_rate > 0 ? par->sample_rate : 44100;
        tr->default_dur = av_rescale_q(1024, (AVRational){1, rate}, tr->tb);
        return true;
    }
    log_warn("hls", k->name,
             "track %d (%s) is not packaged: only H.264 and AAC with codec "
             "configuration are",
             i, avcodec_get_name(par->codec_id));
    return false;
}

static void describe_variant(struct hls_sink *k, const struct hub_track *tracks, int ntracks)
{
    char avc[24] = "", aac[24] = "";
    for (int i = 0; i < ntracks; i++) {
        const AVCodecParameters *par = tracks[i].par;
        if (k->tr[i].mux < 0)
            continue;
        if (k->tr[i].video) {
            pl_codec_avc(par->extradata, par->extradata_size, avc, sizeof(avc));
            k->vi.width = par->width;
            k->vi.height = par->height;
            if (tracks[i].frame_rate.num > 0 && tracks[i].frame_rate.den > 0)
                k->vi.frame_rate = av_q2d(tracks[i].frame_rate);
        } else {
            pl_codec_aac(par->extradata, par->extradata_size, aac, sizeof(aac));
        }
    }
    snprintf(k->vi.codecs, sizeof(k->vi.codecs), "%s%s%s", avc, avc[0] && aac[0] ? "," : "", aac);
}

static int sink_start(void *opaque, struct hub *hub, const struct hub_track *tracks, int ntracks)
{
    struct hls_sink *k = opaque;
    struct fmp4_track ft[HUB_MAX_TRACKS];
    int n = 0, audio = -1;
    bool has_audio = false;
    k->ntracks = ntracks;
    for (int i = 0; i < ntracks; i++) {
        k->tr[i].mux = -1;
        k->tr[i].last_dts = INT64_MIN;
        if (!pick_track(k, i, &tracks[i], &has_audio))
            continue;
        k->tr[i].mux = n;
        ft[n++] = (struct fmp4_track){tracks[i].par, tracks[i].time_base};
        if (k->tr[i].video)
            k->main = i;
        else
            audio = i;
    }
    if (n == 0) {
        log_error("hls", k->name, "no track can be packaged; no HLS for this stream");
        return -ENOTSUP;
    }
    if (!k->has_video)
        k->main = audio;
    k->max_seg_us = k->has_video ? FIRST_SEG_MAX_US : AUDIO_SEG_US;
    struct blob *init = NULL;
    if (fmp4_create(&k->mux, ft, n, k->name, &init) < 0)
        return -EINVAL;
    describe_variant(k, tracks, ntracks);
    hls_stream_set_init(k->st, init, &k->vi);
    return 0;
}

/* ---- cutting ---- */

static void choose_target(struct hls_sink *k)
{
    int64_t len = k->part_end_us - k->seg_start_us;
    /* The ceiling, with 10 ms of tolerance for timestamp rounding (2.004 s is a 2 s GOP). */
    int64_t t = (len - 10000 + 999999) / 1000000;
    k->target_s = t < 1 ? 1 : (int)t;
    if (k->has_video)
        k->max_seg_us = (int64_t)k->target_s * 1000000 + ROUNDING_SLACK_US;
    log_info("hls", k->name, "target duration %d s (first segment %.3f s)", k->target_s,
             (double)len / 1e6);
    /* No declared frame rate: frames per second of the first segment. */
    if (k->has_video && k->vi.frame_rate == 0 && k->fr_frames >= 2 && len > 0) {
        double fps = (double)k->fr_frames * 1e6 / (double)len;
        k->vi.frame_rate = (double)(int64_t)(fps * 1000 + 0.5) / 1000;
        hls_stream_set_variant(k->st, &k->vi);
    }
}

static void close_part(struct hls_sink *k, bool seg_end)
{
    struct blob *data = NULL;
    int err = fmp4_flush(k->mux, &data);
    k->part_open = false;
    if (err < 0) {
        fail(k, "writing a part", err);
        return;
    }
    if (!data)
        return;
    if (seg_end && k->target_s == 0)
        choose_target(k);
    struct hls_part_pub pub = {
        .data = data,
        .duration_us = k->part_end_us - k->part_start_us,
        .independent = k->part_independent,
        .seg_wall_us = k->seg_wall_us,
        .seg_end = seg_end,
        .target_s = k->target_s,
    };
    hls_stream_publish(k->st, &pub);
    if (seg_end)
        k->seg_open = false;
}

/* Closes the part (and maybe the segment) that the main-track packet [dts, end) must not join. */
static void cut_before(struct hls_sink *k, int64_t dts, int64_t end, bool key)
{
    if (!k->part_open)
        return;
    if (k->has_video && key && dts - k->seg_start_us >= MIN_SEG_US) {
        close_part(k, true);
        return;
    }
    if (k->has_video && end - k->seg_start_us > k->max_seg_us) {
        if (!k->warned_long)
            log_warn("hls", k->name,
                     "no keyframe for %.3f s: cutting segments between "
                     "keyframes to keep the target duration (set a shorter keyframe interval)",
                     (double)(end - k->seg_start_us) / 1e6);
        k->warned_long = true;
        close_part(k, true);
        return;
    }
    if (end - k->part_start_us > k->part_target_us) {
        bool seg_end = !k->has_video && dts - k->seg_start_us + k->part_target_us > AUDIO_SEG_US;
        close_part(k, seg_end);
    }
}

/* Writes one packet whose duration is known. */
static void emit(struct hls_sink *k, int idx, AVPacket *pkt, int64_t wall_us)
{
    struct track *t = &k->tr[idx];
    if (idx == k->main) {
        int64_t dts = av_rescale_q(pkt->dts, t->tb, US_TB);
        int64_t end = av_rescale_q(pkt->dts + pkt->duration, t->tb, US_TB);
        bool key = !t->video || (pkt->flags & AV_PKT_FLAG_KEY);
        cut_before(k, dts, end, key);
        if (!k->seg_open) {
            k->seg_open = true;
            k->seg_start_us = dts;
            k->seg_wall_us = wall_us;
        }
        if (!k->part_open) {
            k->part_open = true;
            k->part_start_us = dts;
            k->part_independent = key;
        }
        k->part_end_us = end;
        if (t->video && k->target_s == 0)
            k->fr_frames++;
    }
    int err = fmp4_write(k->mux, t->mux, pkt);
    if (err < 0)
        fail(k, "muxing a packet", err);
}

/* ---- packets ---- */

static void drop(struct hls_sink *k, struct track *t, const char *why, int64_t dts)
{
    if (t->dropped++ % 100 == 0)
        log_warn("hls", k->name, "dropped a packet (%s, dts %lld; %lld dropped on this track)", why,
                 (long long)dts, (long long)t->dropped);
}

/* The stream starts at the first video keyframe (or the first audio packet when there is no
 * video); every track is shifted by that packet's dts so no dts is negative. */
static bool begin(struct hls_sink *k, const struct track *t, const AVPacket *in)
{
    if (k->started)
        return true;
    if (k->has_video && !(t->video && (in->flags & AV_PKT_FLAG_KEY)))
        return false;
    int64_t dts = in->dts != AV_NOPTS_VALUE ? in->dts : in->pts;
    if (dts == AV_NOPTS_VALUE)
        return false;
    int64_t offset_us = av_rescale_q(dts, t->tb, US_TB);
    for (int i = 0; i < k->ntracks; i++)
        k->tr[i].offset = av_rescale_q(offset_us, US_TB, k->tr[i].tb);
    k->started = true;
    return true;
}

/* A shifted copy of in, or NULL when it must be dropped. */
static AVPacket *normalize(struct hls_sink *k, struct track *t, const AVPacket *in)
{
    int64_t dts = in->dts != AV_NOPTS_VALUE ? in->dts : in->pts;
    if (dts == AV_NOPTS_VALUE) {
        drop(k, t, "no timestamp", 0);
        return NULL;
    }
    int64_t pts = in->pts != AV_NOPTS_VALUE ? in->pts : dts;
    dts -= t->offset;
    pts -= t->offset;
    if (dts < 0)
        return NULL; /* from before the first keyframe */
    if (t->last_dts != INT64_MIN && dts <= t->last_dts) {
        drop(k, t, "dts does not increase", dts);
        return NULL;
    }
    AVPacket *p = av_packet_clone(in);
    if (!p)
        abort(); /* out of memory, as in xmalloc */
    p->dts = dts;
    p->pts = pts < dts ? dts : pts;
    p->duration = 0;
    t->last_dts = dts;
    return p;
}

static int64_t queued_dts_us(const struct track *t)
{
    return av_rescale_q(t->q[t->q_head]->dts, t->tb, US_TB);
}

/* Writes queued packets in dts order across tracks, so that every part holds the audio of the
 * same time span as its video: RTMP interleaves by arrival, and an audio frame that arrived
 * before the video frame that closes a part may still belong after the cut. A packet is
 * written only once every other track has one queued (or is far behind: a stalled track must
 * not stop the stream), or when all is true (the end). On equal dts the main track goes first,
 * so its cut precedes the audio of the new part. */
static void drain(struct hls_sink *k, bool all)
{
    for (;;) {
        int best = -1;
        bool waiting = false, full = false;
        for (int i = 0; i < k->ntracks; i++) {
            struct track *t = &k->tr[i];
            if (t->mux < 0)
                continue;
            if (t->q_len == 0) {
                waiting = true;
                continue;
            }
            full |= t->q_len >= QUEUE_WAIT;
            if (best < 0 || queued_dts_us(t) < queued_dts_us(&k->tr[best]) ||
                (queued_dts_us(t) == queued_dts_us(&k->tr[best]) && i == k->main))
                best = i;
        }
        if (best < 0 || (waiting && !all && !full))
            return;
        struct track *t = &k->tr[best];
        AVPacket *p = t->q[t->q_head];
        int64_t wall = t->q_wall_us[t->q_head];
        t->q[t->q_head] = NULL;
        t->q_head = (t->q_head + 1) % QUEUE_MAX;
        t->q_len--;
        if (!k->failed)
            emit(k, best, p, wall);
        av_packet_free(&p);
    }
}

/* Queues t's held packet, whose duration is dur, and writes what the interleaving allows. */
static void release_held(struct hls_sink *k, int idx, int64_t dur)
{
    struct track *t = &k->tr[idx];
    if (!t->held)
        return;
    t->held->duration = dur;
    t->last_dur = dur;
    if (t->q_len == QUEUE_MAX)
        drain(k, true); /* cannot happen while QUEUE_WAIT < QUEUE_MAX; kept as a bound */
    t->q[(t->q_head + t->q_len) % QUEUE_MAX] = t->held;
    t->q_wall_us[(t->q_head + t->q_len) % QUEUE_MAX] = t->held_wall_us;
    t->q_len++;
    t->held = NULL;
    drain(k, false);
}

static void sink_packet(void *opaque, const struct hub_packet *hp)
{
    struct hls_sink *k = opaque;
    int idx = hp->pkt->stream_index;
    if (k->failed || idx < 0 || idx >= k->ntracks || k->tr[idx].mux < 0)
        return;
    struct track *t = &k->tr[idx];
    if (!begin(k, t, hp->pkt))
        return;
    AVPacket *p = normalize(k, t, hp->pkt);
    if (!p)
        return;
    if (t->held)
        release_held(k, idx, p->dts - t->held->dts);
    t->held = p;
    t->held_wall_us = hp->wallclock_us;
}

static void sink_end(void *opaque)
{
    struct hls_sink *k = opaque;
    if (k->started && !k->failed) {
        /* The main track first: its last packet closes the last part's timeline. */
        struct track *m = &k->tr[k->main];
        release_held(k, k->main, m->last_dur > 0 ? m->last_dur : m->default_dur);
        for (int i = 0; i < k->ntracks; i++) {
            struct track *t = &k->tr[i];
            release_held(k, i, t->last_dur > 0 ? t->last_dur : t->default_dur);
        }
        drain(k, true);
        if (k->part_open && !k->failed)
            close_part(k, true);
    }
    k->ended = true;
    hls_stream_end(k->st);
}

static void sink_destroy(void *opaque)
{
    struct hls_sink *k = opaque;
    /* A hub that never started, or whose start this sink refused, gets no end: the stream
     * still has to end so that it lingers out of the server. */
    if (!k->ended)
        hls_stream_end(k->st);
    for (int i = 0; i < HUB_MAX_TRACKS; i++) {
        struct track *t = &k->tr[i];
        av_packet_free(&t->held);
        for (; t->q_len > 0; t->q_len--, t->q_head = (t->q_head + 1) % QUEUE_MAX)
            av_packet_free(&t->q[t->q_head]);
    }
    fmp4_destroy(&k->mux);
    hls_stream_unref(k->st);
    free(k);
}

static const struct hub_sink_ops sink_ops = {
    .name = "hls",
    .start = sink_start,
    .packet = sink_packet,
    .end = sink_end,
    .destroy = sink_destroy,
};

void hls_sink_attach(struct hub *hub, struct hls_stream *st, int64_t part_target_us)
{
    struct hls_sink *k = xcalloc(1, sizeof(*k));
    k->st = hls_stream_ref(st);
    snprintf(k->name, sizeof(k->name), "%s", hub_name(hub));
    k->part_target_us = part_target_us;
    hub_add_sink(hub, &sink_ops, k);
}
