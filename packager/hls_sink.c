#include "packager/hls_sink_priv.h"

#include <errno.h>
#include <libavutil/avutil.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "media/fmp4.h"
#include "media/h264.h"
#include "media/sink_front.h"
#include "packager/hls_group.h"
#include "packager/hls_ladder.h"
#include "transcode/audio.h"

void hls_sink_fail(struct hls_sink *k, const char *what, int err)
{
    if (!k->failed)
        log_error("hls", k->name, "%s failed (%s); the stream gets no more parts", what,
                  av_err2str(err));
    k->failed = true;
}

/* ---- cutting ---- */

/* The rendition this sink writes, for logs: none when the ladder's rungs replace the source
 * (a VP8 source, or H.264 browsers cannot decode). */
static const char *sink_rendition(const struct hls_sink *k)
{
    return k->nout > 0 ? hls_stream_rendition(k->out[0].st) : "source (not served)";
}

static void choose_target(struct hls_sink *k)
{
    int64_t len = k->part_end_us - k->seg_start_us;
    /* The ceiling, with 10 ms of tolerance for timestamp rounding (2.004 s is a 2 s GOP). */
    int64_t t = (len - 10000 + 999999) / 1000000;
    k->target_s = t < 1 ? 1 : (int)t;
    bool has_video = sink_front_has_video(k->front);
    if (has_video)
        k->max_seg_us = (int64_t)k->target_s * 1000000 + ROUNDING_SLACK_US;
    log_info("hls", k->name, "%s: target duration %d s (first segment %.3f s)", sink_rendition(k),
             k->target_s, (double)len / 1e6);
    /* No declared frame rate: frames per second of the first segment. */
    if (!has_video || k->fr_frames < 2 || len <= 0)
        return;
    double fps = (double)k->fr_frames * 1e6 / (double)len;
    for (int o = 0; o < k->nout; o++) {
        struct hls_variant_info *vi = &k->out[o].vi;
        if (vi->width > 0 && vi->frame_rate == 0) {
            vi->frame_rate = (double)(int64_t)(fps * 1000 + 0.5) / 1000;
            hls_stream_set_variant(k->out[o].st, vi);
        }
    }
}

/* Writes output o's samples since its last part as a part of duration_us and publishes it;
 * false when the muxer failed. */
static bool flush_output(struct hls_sink *k, int o, int64_t duration_us, bool seg_end)
{
    struct blob *data = NULL;
    int err = fmp4_flush(k->out[o].mux, &data);
    if (err < 0) {
        hls_sink_fail(k, "writing a part", err);
        return false;
    }
    if (!data)
        return true; /* no sample of this output's tracks in the part (audio stalled) */
    struct hls_part_pub pub = {
        .data = data,
        .duration_us = duration_us,
        .independent = k->part_independent || k->out[o].vi.width == 0,
        .seg_time_us = k->seg_start_us, /* PDT names the segment's first main-track sample */
        .seg_end = seg_end,
        .target_s = k->target_s,
        .discontinuity = k->out[o].disc_next,
    };
    k->out[o].disc_next = false;
    struct output *out = &k->out[o];
    if (k->hold_next && !out->has_held) {
        out->held = pub;
        out->has_held = true;
    } else if (out->has_held) {
        struct hls_part_pub two[2] = {out->held, pub};
        out->has_held = false;
        hls_stream_publish_parts(out->st, two, 2);
    } else {
        hls_stream_publish(out->st, &pub);
    }
    return true;
}

/* Publishes a part kept back (hold_next) on its own: the stream ends before the next. */
static void publish_held(struct hls_sink *k, int o)
{
    if (k->out[o].has_held) {
        k->out[o].has_held = false;
        hls_stream_publish(k->out[o].st, &k->out[o].held);
    }
}

/* Closes the current part in every output (each carries the main track), all at the same point
 * of the timeline, so part K of segment M covers the same time span in each of them. */
static void close_part(struct hls_sink *k, bool seg_end)
{
    k->part_open = false;
    if (seg_end && k->target_s == 0)
        choose_target(k);
    for (int o = 0; o < k->nout; o++)
        if (!flush_output(k, o, k->part_end_us - k->part_start_us, seg_end))
            return;
    if (seg_end) {
        k->last_seg_us = k->part_end_us - k->seg_start_us;
        k->seg_open = false;
    }
}

/* Closes the part (and maybe the segment) that the main-track packet [dts, end) must not join. */
static void cut_before(struct hls_sink *k, int64_t dts, int64_t end, bool key)
{
    if (!k->part_open)
        return;
    bool has_video = sink_front_has_video(k->front);
    if (has_video && key && dts - k->seg_start_us >= MIN_SEG_US) {
        close_part(k, true);
        return;
    }
    if (has_video && end - k->seg_start_us > k->max_seg_us) {
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
        bool seg_end = !has_video && dts - k->seg_start_us + k->part_target_us > AUDIO_SEG_US;
        /* The frame ends where a keyframe that ends the segment starts: it will be the
         * segment's last part on its own, published with this one (see hold_next). */
        k->hold_next =
            has_video && !seg_end && end == k->key_taken_us && end - k->seg_start_us >= MIN_SEG_US;
        close_part(k, seg_end);
        k->hold_next = false;
    }
}

/* The video carries closed captions: from now on every output with video says so, for the
 * multivariant playlist (which says CLOSED-CAPTIONS=NONE only while no rendition has any). */
static void mark_captions(struct hls_sink *k)
{
    k->captions = true;
    log_info("hls", k->name, "%s: the video carries closed captions (CEA-608/708)",
             sink_rendition(k));
    for (int o = 0; o < k->nout; o++) {
        struct hls_variant_info *vi = &k->out[o].vi;
        if (vi->width > 0) {
            vi->captions = true;
            hls_stream_set_variant(k->out[o].st, vi);
        }
    }
}

/* Writes one packet whose duration is known. */
static void emit(struct hls_sink *k, int idx, AVPacket *pkt)
{
    struct track *t = &k->tr[idx];
    const struct sink_front_track *ft = sink_front_track(k->front, idx);
    if (idx == sink_front_main(k->front)) {
        int64_t dts = av_rescale_q(pkt->dts, ft->tb, US_TB);
        int64_t end = av_rescale_q(pkt->dts + pkt->duration, ft->tb, US_TB);
        bool key = !ft->video || (pkt->flags & AV_PKT_FLAG_KEY);
        if (k->disc_cut && pkt->dts == k->disc_dts) {
            k->disc_cut = false;
            if (k->part_open)
                close_part(k, true);
            for (int o = 0; o < k->nout; o++)
                k->out[o].disc_next = true;
        }
        cut_before(k, dts, end, key);
        if (!k->seg_open) {
            k->seg_open = true;
            k->seg_start_us = dts;
        }
        if (!k->part_open) {
            k->part_open = true;
            k->part_start_us = dts;
            k->part_independent = key;
        }
        k->part_end_us = end;
        if (ft->video && k->target_s == 0)
            k->fr_frames++;
    }
    if (t->out < 0)
        return;
    if (ft->video && !k->captions && t->nal_length_size &&
        h264_au_has_captions(pkt->data, (size_t)pkt->size, t->nal_length_size))
        mark_captions(k);
    if (k->failed)
        return;
    int err = fmp4_write(k->out[t->out].mux, t->mux, pkt);
    if (err < 0)
        hls_sink_fail(k, "muxing a packet", err);
}

/* ---- packets ---- */

/* The front-end's drop: logged, the first and every 100th per track. */
static void on_drop(void *opaque, int idx, const AVPacket *in, bool no_timestamp, int64_t dts)
{
    struct hls_sink *k = opaque;
    struct track *t = &k->tr[idx];
    (void)in;
    if (t->dropped++ % 100 == 0)
        log_warn("hls", k->name, "dropped a packet (%s, dts %lld; %lld dropped on this track)",
                 no_timestamp ? "no timestamp" : "dts does not increase", (long long)dts,
                 (long long)t->dropped);
}

/* The front-end's begin: the stream starts at the first video keyframe (media/sink_front.h); in
 * feed mode (a rung) the source sink already shifted the timeline, so nothing is. The keyframe's
 * arrival is the wall clock of the timeline's 0 for every rendition's PROGRAM-DATE-TIME: anchored
 * once, so PDT advances by the media's duration, not by the jitter of arrival times (which made
 * Shaka Player and video.js, which place segments by PDT, see holes and overlaps between
 * segments). */
static void on_begin(void *opaque, int idx, const AVPacket *in, int64_t wall_us)
{
    struct hls_sink *k = opaque;
    AVRational tb = sink_front_track(k->front, idx)->tb;
    if (k->group)
        hls_group_set_clock(k->group, wall_us / 1000 * 1000); /* PDT has milliseconds */
    if (k->ladder && in->pts != AV_NOPTS_VALUE && in->pts > in->dts &&
        av_rescale_q(in->pts - in->dts, tb, US_TB) <= MAX_REORDER_US)
        hls_ladder_set_reorder_delay(k->ladder, in->pts - in->dts);
}

static int64_t queued_dts_us(const struct hls_sink *k, int idx)
{
    const struct track *t = &k->tr[idx];
    return av_rescale_q(t->q[t->q_head]->dts, sink_front_track(k->front, idx)->tb, US_TB);
}

/* Writes queued packets in dts order across tracks, so that every part holds the audio of the
 * same time span as its video: RTMP interleaves by arrival, and an audio frame that arrived
 * before the video frame that closes a part may still belong after the cut. A packet is
 * written only once every other track has one queued (or is far behind: a stalled track must
 * not stop the stream), or when all is true (the end). On equal dts the main track goes first,
 * so its cut precedes the audio of the new part. */
static void drain(struct hls_sink *k, bool all)
{
    int main = sink_front_main(k->front);
    for (;;) {
        int best = -1;
        bool waiting = false, full = false;
        for (int i = 0; i < sink_front_ntracks(k->front); i++) {
            struct track *t = &k->tr[i];
            if (!sink_front_used(k->front, i))
                continue;
            if (t->q_len == 0) {
                waiting = true;
                continue;
            }
            full |= t->q_len >= QUEUE_WAIT;
            if (best < 0 || queued_dts_us(k, i) < queued_dts_us(k, best) ||
                (queued_dts_us(k, i) == queued_dts_us(k, best) && i == main))
                best = i;
        }
        if (best < 0 || (waiting && !all && !full))
            return;
        struct track *t = &k->tr[best];
        AVPacket *p = t->q[t->q_head];
        t->q[t->q_head] = NULL;
        t->q_head = (t->q_head + 1) % QUEUE_MAX;
        t->q_len--;
        if (!k->failed)
            emit(k, best, p);
        av_packet_free(&p);
    }
}

/* The front-end's release: queues the packet, whose duration is known, and writes what the
 * interleaving allows. */
static void on_release(void *opaque, int idx, AVPacket *p)
{
    struct hls_sink *k = opaque;
    struct track *t = &k->tr[idx];
    if (k->hole_dts != INT64_MIN && idx == sink_front_main(k->front) &&
        p->dts + p->duration == k->hole_dts) {
        /* the frame before a rung's hole (hls_sink_feed_hole): one frame long */
        const struct sink_front_track *ft = sink_front_track(k->front, idx);
        int64_t frame = ft->default_dur > 0 ? ft->default_dur
                                            : av_rescale_q(k->part_target_us / 2, US_TB, ft->tb);
        if (p->duration > frame)
            p->duration = frame;
        k->hole_dts = INT64_MIN;
    }
    if (t->q_len == QUEUE_MAX)
        drain(k, true); /* cannot happen while QUEUE_WAIT < QUEUE_MAX; kept as a bound */
    t->q[(t->q_head + t->q_len) % QUEUE_MAX] = p;
    t->q_len++;
    drain(k, false);
}

/* The main track's first keyframe (audio-only: packet) after a timestamp jump, which the hub
 * rebased (hub_packet.discontinuity; for a rung, the ladder's word that the source cut at this
 * pts). The timeline is continuous, so waiting for the keyframe costs nothing, and the new
 * segment starts with one: the segment ends before it in every output, and the next one is
 * marked EXT-X-DISCONTINUITY (see emit), in the rungs too. A jump before the target duration is
 * known (the first segment, no playlist yet) cuts nothing: it would choose too short a target. */
static void mark_discontinuity(struct hls_sink *k, const AVPacket *p)
{
    if (!k->feed && k->target_s == 0)
        return;
    k->disc_cut = true;
    k->disc_dts = p->dts;
    if (k->ladder)
        hls_ladder_discontinuity(k->ladder, p->pts);
}

/* The front-end's take: one packet of track idx as packaged (after the audio transcoder, if
 * any), on the timeline, before it is held: the ladder gets the video now. */
static void on_take(void *opaque, int idx, AVPacket *p, bool disc, int64_t wall_us)
{
    struct hls_sink *k = opaque;
    struct track *t = &k->tr[idx];
    p->dts += t->dts_lead;
    if (idx == sink_front_main(k->front) && (p->flags & AV_PKT_FLAG_KEY)) {
        k->key_taken_us = av_rescale_q(p->dts, sink_front_track(k->front, idx)->tb, US_TB);
        if (k->hole_next) {
            k->hole_next = false;
            k->hole_dts = p->dts; /* the frame held before it is released next, ending here */
        }
    }
    if (disc)
        mark_discontinuity(k, p);
    if (k->ladder && idx == k->ladder_track)
        hls_ladder_push(k->ladder, p, wall_us);
    else if (k->ladder && idx == k->ladder_audio)
        hls_ladder_push_audio(k->ladder, p, wall_us);
    t->last_wall_us = wall_us;
}

/* Audio to AAC: every AAC packet the transcoder has ready, on the track's AAC timeline. */
static void transcode_audio(struct hls_sink *k, int idx, const AVPacket *in, int64_t wall_us)
{
    struct track *t = &k->tr[idx];
    if (audio_transcoder_send(t->atx, in) < 0)
        return;
    AVPacket *out = av_packet_alloc();
    if (!out)
        abort();
    while (audio_transcoder_receive(t->atx, out) == 0) {
        out->stream_index = idx;
        sink_front_packet(k->front, idx, out, wall_us);
        av_packet_unref(out);
    }
    av_packet_free(&out);
}

static void sink_packet(void *opaque, const struct hub_packet *hp)
{
    struct hls_sink *k = opaque;
    int idx = hp->pkt->stream_index;
    if (hp->discontinuity && sink_front_started(k->front))
        sink_front_jump(k->front); /* a jump before the start cuts nothing */
    if (k->failed || !sink_front_used(k->front, idx))
        return;
    if (k->tr[idx].atx)
        transcode_audio(k, idx, hp->pkt, hp->wallclock_us);
    else
        sink_front_packet(k->front, idx, hp->pkt, hp->wallclock_us);
}

/* Writes every packet held or queued and closes the part and the segment: the end, or a
 * reconfiguration. */
static void flush_all(struct hls_sink *k)
{
    if (!sink_front_started(k->front) || k->failed)
        return;
    sink_front_flush(k->front); /* the main track first: it closes the last part's timeline */
    drain(k, true);
    if (k->part_open && !k->failed)
        close_part(k, true);
}

/* The source's configuration changed (a new resolution): the segment so far ends, every output
 * with the video gets a new init section (a discontinuity in its playlist), the timeline goes
 * on, and the ladder restarts its encoders on the new source. */
static void sink_reconfigure(void *opaque, const struct hub_track *given, int ntracks)
{
    struct hls_sink *k = opaque;
    if (k->failed || ntracks != sink_front_ntracks(k->front))
        return;
    struct hub_track tracks[HUB_MAX_TRACKS];
    hls_sink_packaged_tracks(k, given, ntracks, tracks);
    flush_all(k);
    for (int o = 0; o < k->nout; o++) {
        bool video = false;
        for (int i = 0; i < ntracks; i++)
            video |= sink_front_used(k->front, i) && sink_front_track(k->front, i)->video &&
                     k->tr[i].out == o;
        if (video && hls_sink_open_output(k, o, tracks, ntracks) < 0) {
            hls_sink_fail(k, "reopening the muxer", AVERROR(EINVAL));
            return;
        }
    }
    sink_front_reconfigure(k->front, tracks, ntracks); /* the new frame rate */
    if (k->ladder)
        hls_ladder_restart(k->ladder, &tracks[k->ladder_track]);
}

/* flush: write what is held and queued (the end); not when the hub never started or this sink
 * refused its start (destroy without end). */
static void end_stream(struct hls_sink *k, bool flush)
{
    bool write = flush && sink_front_started(k->front) && !k->failed;
    for (int i = 0; i < sink_front_ntracks(k->front); i++) /* the transcoded audio's last frames */
        if (k->tr[i].atx && write)
            transcode_audio(k, i, NULL, k->tr[i].last_wall_us);
    if (flush)
        flush_all(k);
    k->ended = true;
    if (k->ladder)
        hls_ladder_finish(k->ladder); /* the group reaps it once its rungs are flushed */
    k->ladder = NULL;
    for (int o = 0; o < k->nout; o++) {
        publish_held(k, o);
        hls_stream_end(k->out[o].st);
    }
    if (k->group)
        hls_group_end(k->group);
}

static void sink_end(void *opaque)
{
    end_stream(opaque, true);
}

static void sink_destroy(void *opaque)
{
    struct hls_sink *k = opaque;
    /* A hub that never started, or whose start this sink refused, gets no end: the stream
     * still has to end so that it lingers out of the server. */
    if (!k->ended)
        end_stream(k, false);      /* nothing more to cut */
    sink_front_destroy(&k->front); /* frees the packets it holds */
    for (int i = 0; i < HUB_MAX_TRACKS; i++) {
        struct track *t = &k->tr[i];
        audio_transcoder_destroy(&t->atx);
        for (; t->q_len > 0; t->q_len--, t->q_head = (t->q_head + 1) % QUEUE_MAX)
            av_packet_free(&t->q[t->q_head]);
    }
    for (int o = 0; o < k->nout; o++) {
        fmp4_destroy(&k->out[o].mux);
        hls_stream_unref(k->out[o].st);
    }
    hls_stream_unref(k->feed_st);
    if (k->group)
        hls_group_unref(k->group);
    free(k);
}

static const struct sink_front_ops front_ops = {
    .pick = hls_sink_pick,
    .begin = on_begin,
    .drop = on_drop,
    .take = on_take,
    .release = on_release,
};

static const struct hub_sink_ops sink_ops = {
    .name = "hls",
    .start = hls_sink_start,
    .packet = sink_packet,
    .end = sink_end,
    .destroy = sink_destroy,
    .reconfigure = sink_reconfigure,
    .accept = hls_sink_accept,
};

void hls_sink_attach(struct hub *hub, struct hls_group *group, const struct hls_sink_config *cfg)
{
    struct hls_sink *k = xcalloc(1, sizeof(*k));
    k->group = hls_group_ref(group);
    k->front = sink_front_create(&front_ops, k, false);
    k->hole_dts = INT64_MIN; /* feed mode only */
    k->key_taken_us = INT64_MIN;
    k->ladder_audio = -1;
    k->cfg = *cfg;
    snprintf(k->name, sizeof(k->name), "%s", hub_name(hub));
    k->part_target_us = cfg->part_target_us;
    hub_add_sink(hub, &sink_ops, k);
}

/* ---- feed mode ---- */

struct hls_sink *hls_sink_feed_create(const char *name, struct hls_stream *st,
                                      int64_t part_target_us)
{
    struct hls_sink *k = xcalloc(1, sizeof(*k));
    k->feed = true;
    k->front = sink_front_create(&front_ops, k, true); /* already on the source's timeline */
    k->feed_st = hls_stream_ref(st);
    k->hole_dts = INT64_MIN;
    k->key_taken_us = INT64_MIN;
    k->ladder_audio = -1;
    snprintf(k->name, sizeof(k->name), "%s", name);
    k->part_target_us = part_target_us;
    return k;
}

int hls_sink_feed_start(struct hls_sink *k, const struct hub_track *tracks, int ntracks)
{
    int rc = hls_sink_start(k, NULL, tracks, ntracks);
    if (rc < 0 || !sink_front_has_video(k->front)) {
        k->failed = true;
        return rc < 0 ? rc : -EINVAL;
    }
    return 0;
}

void hls_sink_feed_packet(struct hls_sink *k, const AVPacket *pkt, int64_t wall_us)
{
    struct hub_packet hp = {.pkt = pkt, .wallclock_us = wall_us};
    sink_packet(k, &hp);
}

void hls_sink_feed_discontinuity(struct hls_sink *k)
{
    sink_front_jump(k->front);
}

void hls_sink_feed_hole(struct hls_sink *k)
{
    k->hole_next = true;
}

void hls_sink_feed_set_reorder_delay(struct hls_sink *k, int64_t delay)
{
    int main = sink_front_main(k->front);
    if (main >= 0)
        k->tr[main].dts_lead = -delay;
}

void hls_sink_feed_restart(struct hls_sink *k, const struct hub_track *tracks, int ntracks)
{
    sink_reconfigure(k, tracks, ntracks);
}

void hls_sink_feed_end(struct hls_sink *k)
{
    if (!k->ended)
        sink_end(k);
}

void hls_sink_feed_destroy(struct hls_sink **pk)
{
    if (*pk)
        sink_destroy(*pk);
    *pk = NULL;
}
