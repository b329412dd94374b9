#include "packager/hls_sink.h"

#include <errno.h>
#include <libavutil/avutil.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "packager/fmp4.h"
#include "packager/hls_group.h"
#include "packager/hls_ladder.h"
#include "packager/timeline.h"
#include "transcode/audio.h"

#define MIN_SEG_US 1000000LL        /* a keyframe starts a new segment after this long */
#define AUDIO_SEG_US 2000000LL      /* audio-only segments stay under this */
#define FIRST_SEG_MAX_US 10000000LL /* a first segment without a second keyframe ends here */
/* EXTINF rounded to the nearest integer must not exceed the target duration. */
#define ROUNDING_SLACK_US 499000LL
/* A composition delay beyond this is no encoder's reordering: not matched (see begin). */
#define MAX_REORDER_US 500000LL
#define US_TB ((AVRational){1, 1000000})
/* Packets waiting for the other tracks to catch up, per track (see drain). A track this far
 * ahead stops waiting for a stalled one. */
#define QUEUE_MAX 64
#define QUEUE_WAIT 48

/* Where the cut media goes: one rendition, its muxer, the tracks it carries. */
struct output {
    struct hls_stream *st;
    struct fmp4 *mux;
    struct hls_variant_info vi;
    int ntracks;
    /* An output without the main track (the ladder's shared audio) cuts its parts on the time
     * of its own track (clock), so that none lasts longer than the part target: cut at the
     * main track's boundaries, 0.5 s of video holds 21 or 22 AAC frames (0.488 or 0.511 s).
     * Its segments still end where the main track's do. clock is -1 for an output whose parts
     * are the main track's. */
    int clock;
    bool part_open;
    int64_t part_start_us, part_end_us;
    bool disc_next; /* its next part starts a segment after a timestamp jump */
};

#define MAX_OUTPUTS 2

struct track {
    bool used; /* packaged: cut, and written to an output or fed to the ladder */
    int out;   /* output index, -1: not written (a video only fed to the ladder) */
    int mux;   /* index in that output's muxer */
    bool video;
    AVRational tb;
    int64_t offset;   /* subtracted from pts and dts (tb) */
    int64_t dts_lead; /* then added to dts (feed mode: minus the source's reorder delay) */
    int64_t last_dts; /* after the shift; INT64_MIN before the first packet */
    int64_t last_dur, default_dur;
    AVPacket *held; /* queued once the next packet gives its duration */
    int64_t held_wall_us;
    int64_t dropped;
    struct audio_transcoder *atx; /* non-AAC audio: transcoded to AAC before anything else */
    /* Packets with known durations, in dts order, waiting to be interleaved with the other
     * tracks: a ring of QUEUE_MAX. */
    AVPacket *q[QUEUE_MAX];
    int q_head, q_len;
};

struct hls_sink {
    struct hls_group *group;    /* source mode; NULL in feed mode */
    struct hls_stream *feed_st; /* feed mode: the rung's rendition */
    bool feed;                  /* timestamps already on the stream's timeline */
    struct hls_sink_config cfg;
    char name[HUB_NAME_MAX + 1];
    int64_t part_target_us;
    struct output out[MAX_OUTPUTS];
    int nout;
    struct hls_ladder *ladder; /* owned by the group; ours to push to until finish */
    int ladder_track;
    struct track tr[HUB_MAX_TRACKS];
    int ntracks;
    int main; /* the track cuts follow: video if any, else audio */
    bool has_video, started, failed, warned_long, ended;
    bool over_budget; /* admission control denied this stream its ladder: the source only */
    /* The segment and part being cut, on the main track's timeline (us after the shift). */
    bool seg_open, part_open, part_independent;
    int64_t seg_start_us, part_start_us, part_end_us;
    int target_s;
    int64_t max_seg_us;
    int64_t fr_frames; /* video frames in the first segment */
    /* A timestamp jump (see mark_discontinuity): pending until the main track's next keyframe,
     * whose dts (tb of the main track) then cuts the segment. */
    bool disc_pending, disc_cut;
    int64_t disc_dts;
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
    if (tl_track_muxable(t, k->has_video, *has_audio, &tr->video, &tr->default_dur)) {
        k->has_video |= tr->video;
        *has_audio |= !tr->video;
        return true;
    }
    if (par->codec_type == AVMEDIA_TYPE_AUDIO && !*has_audio && !k->feed &&
        audio_transcoder_create(par, t->time_base, 0, &tr->atx) == 0) {
        *has_audio = true;
        tr->tb = audio_transcoder_time_base(tr->atx);
        tr->default_dur = 1024;
        log_info("hls", k->name, "track %d (%s) is transcoded to AAC for HLS", i,
                 avcodec_get_name(par->codec_id));
        return true;
    }
    log_warn("hls", k->name,
             "track %d (%s) is not packaged: only H.264 with its configuration, and audio "
             "libavcodec decodes, are",
             i, avcodec_get_name(par->codec_id));
    return false;
}

/* What the multivariant playlist says of output o, from the tracks it carries. */
static void describe_output(struct hls_sink *k, int o, const struct hub_track *tracks, int ntracks)
{
    char avc[24] = "", aac[24] = "";
    struct hls_variant_info *vi = &k->out[o].vi;
    for (int i = 0; i < ntracks; i++) {
        const AVCodecParameters *par = tracks[i].par;
        if (!k->tr[i].used || k->tr[i].out != o)
            continue;
        if (k->tr[i].video) {
            pl_codec_avc(par->extradata, par->extradata_size, avc, sizeof(avc));
            vi->width = par->width;
            vi->height = par->height;
            if (tracks[i].frame_rate.num > 0 && tracks[i].frame_rate.den > 0)
                vi->frame_rate = av_q2d(tracks[i].frame_rate);
        } else {
            pl_codec_aac(par->extradata, par->extradata_size, aac, sizeof(aac));
            vi->channels = par->ch_layout.nb_channels;
        }
    }
    snprintf(vi->codecs, sizeof(vi->codecs), "%s%s%s", avc, avc[0] && aac[0] ? "," : "", aac);
}

/* Opens output o's muxer over its tracks and hands the rendition its init section (a new
 * version of it, after a reconfiguration). */
static int open_output(struct hls_sink *k, int o, const struct hub_track *tracks, int ntracks)
{
    struct fmp4_track ft[HUB_MAX_TRACKS];
    int n = 0;
    for (int i = 0; i < ntracks; i++) {
        if (!k->tr[i].used || k->tr[i].out != o)
            continue;
        k->tr[i].mux = n;
        ft[n++] = (struct fmp4_track){tracks[i].par, tracks[i].time_base};
    }
    struct blob *init = NULL;
    fmp4_destroy(&k->out[o].mux);
    if (fmp4_create(ft, n, k->name, &init, &k->out[o].mux) < 0)
        return -EINVAL;
    k->out[o].ntracks = n;
    k->out[o].vi = (struct hls_variant_info){0};
    describe_output(k, o, tracks, ntracks);
    hls_stream_set_init(k->out[o].st, init, &k->out[o].vi);
    return 0;
}

static int open_outputs(struct hls_sink *k, const struct hub_track *tracks, int ntracks)
{
    for (int o = 0; o < k->nout; o++)
        if (open_output(k, o, tracks, ntracks) < 0)
            return -EINVAL;
    return 0;
}

static int add_output(struct hls_sink *k, const char *rendition, enum hls_rendition_kind kind)
{
    struct hls_stream *st = hls_group_add(k->group, rendition, kind);
    if (!st)
        return -1;
    k->out[k->nout].st = st;
    return k->nout++;
}

/* A source browsers cannot decode is not passed through: an encoded rung at its size takes its
 * place (sink_accept refused it when the ladder has no rungs). A ladder that leaves the source
 * out has nothing to replace, unless no rung fits (the source would then be passed through). */
static void replace_unplayable(struct hls_sink *k, const AVCodecParameters *par,
                               struct ladder *fitted)
{
    char why[96];
    if (tl_video_playable(par, why, sizeof(why)) || (!fitted->source && fitted->nrungs > 0))
        return;
    fitted->source = true;
    if (ladder_reencode_source(k->cfg.ladder, par->width, par->height, par->bit_rate, fitted) == 0)
        log_warn("hls", k->name,
                 "the source (%s) is not playable in browsers: it is not passed through, a %dp "
                 "rung is encoded at its size instead",
                 why, fitted->rungs[0].height);
}

/* The ladder for this source: its encoded rungs (none without video, with --ladder none, or when
 * the source is no taller than every rung and browsers can decode it). */
static void fit_ladder(struct hls_sink *k, const struct hub_track *tracks, int ntracks,
                       struct ladder *fitted)
{
    *fitted = (struct ladder){.source = true};
    if (!k->cfg.ladder || !k->has_video || k->over_budget)
        return;
    for (int i = 0; i < ntracks; i++)
        if (k->tr[i].used && k->tr[i].video) {
            const AVCodecParameters *par = tracks[i].par;
            if (par->width > 0 && par->height > 0)
                ladder_fit(k->cfg.ladder, par->width, par->height, fitted);
            k->ladder_track = i;
            replace_unplayable(k, par, fitted);
        }
}

/* Starts the transcode ladder: one rendition per rung, fed through hls_ladder. */
static void start_ladder(struct hls_sink *k, const struct hub_track *video,
                         const struct ladder *fitted)
{
    struct hls_stream *rungs[LADDER_MAX_RUNGS];
    for (int r = 0; r < fitted->nrungs; r++) {
        char name[HLS_RENDITION_MAX + 1];
        snprintf(name, sizeof(name), "%dp", fitted->rungs[r].height);
        rungs[r] = hls_group_add(k->group, name, HLS_RENDITION_VARIANT);
    }
    struct hls_ladder_config lc = {
        .name = k->name,
        .fitted = fitted,
        .src = video->par,
        .time_base = video->time_base,
        .frame_rate = video->frame_rate,
        .preset = k->cfg.preset,
        .part_target_us = k->part_target_us,
        .metrics = k->cfg.metrics,
        .rungs = rungs,
    };
    if (hls_ladder_start(&lc, &k->ladder) == 0)
        hls_group_set_ladder(k->group, k->ladder);
    else
        for (int r = 0; r < fitted->nrungs; r++)
            hls_stream_fail(rungs[r]);
    for (int r = 0; r < fitted->nrungs; r++)
        hls_stream_unref(rungs[r]);
}

/* Assigns tracks to outputs: muxed in "source" without encoded rungs; with them, video in
 * "source" (when the fitted ladder keeps it) and audio in the shared "audio" rendition. */
static void plan_outputs(struct hls_sink *k, int ntracks, const struct ladder *fitted)
{
    int video_out = -1, audio_out = -1;
    if (fitted->nrungs == 0) {
        video_out = audio_out = add_output(k, "source", HLS_RENDITION_VARIANT);
    } else {
        if (fitted->source)
            video_out = add_output(k, "source", HLS_RENDITION_VARIANT);
        for (int i = 0; i < ntracks; i++)
            if (k->tr[i].used && !k->tr[i].video)
                audio_out = add_output(k, "audio", HLS_RENDITION_AUDIO);
    }
    for (int i = 0; i < ntracks; i++)
        k->tr[i].out = k->tr[i].video ? video_out : audio_out;
}

/* Outputs that do not carry the main track cut their parts on their first track's time. */
static void assign_clocks(struct hls_sink *k)
{
    for (int o = 0; o < k->nout; o++) {
        k->out[o].clock = -1;
        if (k->tr[k->main].out == o)
            continue;
        for (int i = k->ntracks - 1; i >= 0; i--)
            if (k->tr[i].used && k->tr[i].out == o)
                k->out[o].clock = i;
    }
}

/* The tracks as packaged: a transcoded audio track carries the AAC output's parameters. */
static void packaged_tracks(const struct hls_sink *k, const struct hub_track *in, int n,
                            struct hub_track *out)
{
    for (int i = 0; i < n; i++) {
        out[i] = in[i];
        if (k->tr[i].atx) {
            out[i].par = (AVCodecParameters *)audio_transcoder_par(k->tr[i].atx);
            out[i].time_base = audio_transcoder_time_base(k->tr[i].atx);
        }
    }
}

static bool has_video_track(const struct hub_track *tracks, int ntracks)
{
    for (int i = 0; i < ntracks; i++)
        if (tracks[i].par->codec_type == AVMEDIA_TYPE_VIDEO)
            return true;
    return false;
}

/* Admission control: a stream with video asks whether it may have its ladder. Past the CPU
 * budget it gets the source only (over_budget), or is refused. */
static int admit(struct hls_sink *k, const struct hub_track *tracks, int ntracks, char *why,
                 size_t whylen)
{
    if (!k->cfg.ladder || k->cfg.ladder->nrungs == 0 || !has_video_track(tracks, ntracks))
        return 0;
    switch (admission_decide(k->cfg.admission, k->name, why, whylen)) {
    case ADMIT_REFUSE:
        return -EPERM;
    case ADMIT_PASSTHROUGH:
        k->over_budget = true;
        return 0;
    default:
        return 0;
    }
}

/* A source browsers cannot decode is refused when no ladder can re-encode it: a variant nobody
 * can play would be all the stream had. */
static int sink_accept(void *opaque, const struct hub_track *tracks, int ntracks, char *why,
                       size_t whylen)
{
    struct hls_sink *k = opaque;
    if (admit(k, tracks, ntracks, why, whylen) < 0)
        return -EPERM;
    if (k->cfg.ladder && k->cfg.ladder->nrungs > 0 && !k->over_budget)
        return 0;
    for (int i = 0; i < ntracks; i++) {
        char what[96];
        if (tl_video_playable(tracks[i].par, what, sizeof(what)))
            continue;
        if (k->over_budget) {
            snprintf(why, whylen,
                     "%s cannot be played by browsers and the server is over its CPU budget, so "
                     "no ladder can re-encode it now; try again later",
                     what);
            log_error("hls", k->name,
                      "publish refused: the source is %s and the server is "
                      "over --cpu-budget: it cannot be re-encoded now",
                      what);
            return -EPERM;
        }
        snprintf(why, whylen,
                 "%s cannot be played by browsers and there is no ladder to re-encode it; "
                 "publish H.264 High, Main or Baseline in 4:2:0 8-bit (yuv420p)",
                 what);
        log_error("hls", k->name,
                  "publish refused: the source is %s, which browsers cannot "
                  "decode, and --ladder none passes it through as it is",
                  what);
        return -EPERM;
    }
    return 0;
}

static int sink_start(void *opaque, struct hub *hub, const struct hub_track *hub_tracks,
                      int ntracks)
{
    struct hls_sink *k = opaque;
    struct hub_track tracks[HUB_MAX_TRACKS];
    const struct hub_track *given = hub_tracks;
    int n = 0, audio = -1;
    bool has_audio = false;
    k->ntracks = ntracks;
    for (int i = 0; i < ntracks; i++) {
        k->tr[i].last_dts = INT64_MIN;
        k->tr[i].out = -1;
        if (!pick_track(k, i, &given[i], &has_audio))
            continue;
        k->tr[i].used = true;
        n++;
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
    packaged_tracks(k, given, ntracks, tracks);
    struct ladder fitted;
    if (k->feed) {
        k->out[0].st = hls_stream_ref(k->feed_st);
        k->nout = 1;
        k->tr[k->main].out = 0;
        fitted.nrungs = 0;
    } else {
        fit_ladder(k, tracks, ntracks, &fitted);
        plan_outputs(k, ntracks, &fitted);
    }
    assign_clocks(k);
    if (open_outputs(k, tracks, ntracks) < 0)
        return -EINVAL;
    if (fitted.nrungs > 0)
        start_ladder(k, &tracks[k->ladder_track], &fitted);
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
    log_info("hls", k->name, "%s%s%s: target duration %d s (first segment %.3f s)",
             hls_stream_rendition(k->out[0].st), k->nout > 1 ? "+" : "",
             k->nout > 1 ? hls_stream_rendition(k->out[1].st) : "", k->target_s, (double)len / 1e6);
    /* No declared frame rate: frames per second of the first segment. */
    if (!k->has_video || k->fr_frames < 2 || len <= 0)
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
        fail(k, "writing a part", err);
        return false;
    }
    if (!data)
        return true; /* no sample of this output's tracks in the part (audio stalled) */
    struct hls_part_pub pub = {
        .data = data,
        .duration_us = duration_us,
        .independent = k->part_independent || k->out[o].vi.width == 0,
        /* PDT names the segment's first sample: an output on its own clock (the ladder's
         * audio) starts its segments at its first frame at or after the cut, up to a frame
         * after the main track's, and its EXTINF is its own frames' length. */
        .seg_time_us = k->out[o].clock >= 0 ? k->out[o].part_start_us : k->seg_start_us,
        .seg_end = seg_end,
        .target_s = k->target_s,
        .discontinuity = k->out[o].disc_next,
    };
    k->out[o].disc_next = false;
    hls_stream_publish(k->out[o].st, &pub);
    return true;
}

/* Closes the current part in every output that follows the main track, all at the same point
 * of the timeline, so part K of segment M covers the same time span in each of them; at a
 * segment's end, the last part of the outputs that cut their own parts too, so segment M
 * covers the same time span in every rendition. */
static void close_part(struct hls_sink *k, bool seg_end)
{
    k->part_open = false;
    if (seg_end && k->target_s == 0)
        choose_target(k);
    for (int o = 0; o < k->nout; o++) {
        struct output *out = &k->out[o];
        if (out->clock >= 0 && !seg_end)
            continue;
        int64_t duration = out->clock >= 0 ? out->part_end_us - out->part_start_us
                                           : k->part_end_us - k->part_start_us;
        out->part_open = false;
        if (!flush_output(k, o, duration, seg_end))
            return;
    }
    if (seg_end)
        k->seg_open = false;
}

/* Before a packet [dts, end) of the track that cuts output o's parts: the part closes when the
 * packet would make it longer than the part target. */
static void cut_own(struct hls_sink *k, int o, int64_t dts, int64_t end)
{
    struct output *out = &k->out[o];
    if (out->part_open && end - out->part_start_us > k->part_target_us) {
        out->part_open = false;
        if (!flush_output(k, o, out->part_end_us - out->part_start_us, false))
            return;
    }
    if (!out->part_open) {
        out->part_open = true;
        out->part_start_us = dts;
    }
    out->part_end_us = end;
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
static void emit(struct hls_sink *k, int idx, AVPacket *pkt)
{
    struct track *t = &k->tr[idx];
    if (idx == k->main) {
        int64_t dts = av_rescale_q(pkt->dts, t->tb, US_TB);
        int64_t end = av_rescale_q(pkt->dts + pkt->duration, t->tb, US_TB);
        bool key = !t->video || (pkt->flags & AV_PKT_FLAG_KEY);
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
        if (t->video && k->target_s == 0)
            k->fr_frames++;
    }
    if (t->out < 0)
        return;
    if (k->out[t->out].clock == idx)
        cut_own(k, t->out, av_rescale_q(pkt->dts, t->tb, US_TB),
                av_rescale_q(pkt->dts + pkt->duration, t->tb, US_TB));
    if (k->failed)
        return;
    int err = fmp4_write(k->out[t->out].mux, t->mux, pkt);
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

/* The stream starts at the first video keyframe (timeline.h); in feed mode (a rung) the source
 * sink already shifted the timeline, so nothing is. The keyframe's arrival is the wall clock of
 * the timeline's 0 for every rendition's PROGRAM-DATE-TIME: anchored once, so PDT advances by
 * the media's duration, not by the jitter of arrival times (which made Shaka Player and
 * video.js, which place segments by PDT, see holes and overlaps between segments). */
static bool begin(struct hls_sink *k, const struct track *t, const AVPacket *in, int64_t wall_us)
{
    if (k->started)
        return true;
    if (k->has_video && !(t->video && (in->flags & AV_PKT_FLAG_KEY)))
        return false;
    int64_t offset_us = tl_dts_us(in, t->tb);
    if (offset_us == INT64_MIN)
        return false;
    if (k->feed)
        offset_us = 0;
    for (int i = 0; i < k->ntracks; i++)
        k->tr[i].offset = av_rescale_q(offset_us, US_TB, k->tr[i].tb);
    if (k->group)
        hls_group_set_clock(k->group, wall_us / 1000 * 1000); /* PDT has milliseconds */
    if (k->ladder && in->pts != AV_NOPTS_VALUE && in->pts > in->dts &&
        av_rescale_q(in->pts - in->dts, t->tb, US_TB) <= MAX_REORDER_US)
        hls_ladder_set_reorder_delay(k->ladder, in->pts - in->dts);
    k->started = true;
    return true;
}

/* A shifted copy of in, or NULL when it must be dropped. */
static AVPacket *normalize(struct hls_sink *k, struct track *t, const AVPacket *in)
{
    AVPacket *p;
    switch (tl_shift(in, t->offset, &t->last_dts, &p)) {
    case TL_NO_TIMESTAMP:
        drop(k, t, "no timestamp", 0);
        break;
    case TL_NOT_INCREASING:
        drop(k, t, "dts does not increase", in->dts - t->offset);
        break;
    default: /* kept, or from before the first keyframe */
        break;
    }
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
            if (!t->used)
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
        t->q[t->q_head] = NULL;
        t->q_head = (t->q_head + 1) % QUEUE_MAX;
        t->q_len--;
        if (!k->failed)
            emit(k, best, p);
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
    t->q_len++;
    t->held = NULL;
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
    k->disc_pending = false;
    if (!k->feed && k->target_s == 0)
        return;
    k->disc_cut = true;
    k->disc_dts = p->dts;
    if (k->ladder)
        hls_ladder_discontinuity(k->ladder, p->pts);
}

/* One packet of track idx as packaged (after the audio transcoder, if any). */
static void take_packet(struct hls_sink *k, int idx, const AVPacket *in, int64_t wall_us)
{
    struct track *t = &k->tr[idx];
    if (!begin(k, t, in, wall_us))
        return;
    AVPacket *p = normalize(k, t, in);
    if (!p)
        return;
    p->dts += t->dts_lead;
    if (k->disc_pending && idx == k->main && (!t->video || (p->flags & AV_PKT_FLAG_KEY)))
        mark_discontinuity(k, p);
    if (k->ladder && idx == k->ladder_track)
        hls_ladder_push(k->ladder, p, wall_us);
    if (t->held)
        release_held(k, idx, p->dts - t->held->dts);
    t->held = p;
    t->held_wall_us = wall_us;
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
        take_packet(k, idx, out, wall_us);
        av_packet_unref(out);
    }
    av_packet_free(&out);
}

static void sink_packet(void *opaque, const struct hub_packet *hp)
{
    struct hls_sink *k = opaque;
    int idx = hp->pkt->stream_index;
    k->disc_pending |= hp->discontinuity && k->started;
    if (k->failed || idx < 0 || idx >= k->ntracks || !k->tr[idx].used)
        return;
    if (k->tr[idx].atx)
        transcode_audio(k, idx, hp->pkt, hp->wallclock_us);
    else
        take_packet(k, idx, hp->pkt, hp->wallclock_us);
}

/* Writes every packet held or queued and closes the part and the segment: the end, or a
 * reconfiguration. */
static void flush_all(struct hls_sink *k)
{
    if (!k->started || k->failed)
        return;
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

/* The source's configuration changed (a new resolution): the segment so far ends, every output
 * with the video gets a new init section (a discontinuity in its playlist), the timeline goes
 * on, and the ladder restarts its encoders on the new source. */
static void sink_reconfigure(void *opaque, const struct hub_track *given, int ntracks)
{
    struct hls_sink *k = opaque;
    if (k->failed || ntracks != k->ntracks)
        return;
    struct hub_track tracks[HUB_MAX_TRACKS];
    packaged_tracks(k, given, ntracks, tracks);
    flush_all(k);
    for (int o = 0; o < k->nout; o++) {
        bool video = false;
        for (int i = 0; i < ntracks; i++)
            video |= k->tr[i].used && k->tr[i].video && k->tr[i].out == o;
        if (video && open_output(k, o, tracks, ntracks) < 0) {
            fail(k, "reopening the muxer", AVERROR(EINVAL));
            return;
        }
    }
    for (int i = 0; i < ntracks; i++)
        if (k->tr[i].used && k->tr[i].video && tracks[i].frame_rate.num > 0)
            k->tr[i].default_dur = av_rescale_q(1, av_inv_q(tracks[i].frame_rate), k->tr[i].tb);
    if (k->ladder)
        hls_ladder_restart(k->ladder, &tracks[k->ladder_track]);
}

static void sink_end(void *opaque)
{
    struct hls_sink *k = opaque;
    for (int i = 0; i < k->ntracks; i++) /* the transcoded audio's last frames */
        if (k->tr[i].atx && k->started && !k->failed)
            transcode_audio(k, i, NULL, k->tr[i].held_wall_us);
    flush_all(k);
    k->ended = true;
    if (k->ladder)
        hls_ladder_finish(k->ladder); /* the group reaps it once its rungs are flushed */
    k->ladder = NULL;
    for (int o = 0; o < k->nout; o++)
        hls_stream_end(k->out[o].st);
    if (k->group)
        hls_group_end(k->group);
}

static void sink_destroy(void *opaque)
{
    struct hls_sink *k = opaque;
    /* A hub that never started, or whose start this sink refused, gets no end: the stream
     * still has to end so that it lingers out of the server. */
    if (!k->ended) {
        k->started = false; /* nothing more to cut */
        sink_end(k);
    }
    for (int i = 0; i < HUB_MAX_TRACKS; i++) {
        struct track *t = &k->tr[i];
        audio_transcoder_destroy(&t->atx);
        av_packet_free(&t->held);
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

static const struct hub_sink_ops sink_ops = {
    .name = "hls",
    .start = sink_start,
    .packet = sink_packet,
    .end = sink_end,
    .destroy = sink_destroy,
    .reconfigure = sink_reconfigure,
    .accept = sink_accept,
};

void hls_sink_attach(struct hub *hub, struct hls_group *group, const struct hls_sink_config *cfg)
{
    struct hls_sink *k = xcalloc(1, sizeof(*k));
    k->group = hls_group_ref(group);
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
    k->feed_st = hls_stream_ref(st);
    snprintf(k->name, sizeof(k->name), "%s", name);
    k->part_target_us = part_target_us;
    return k;
}

int hls_sink_feed_start(struct hls_sink *k, const struct hub_track *video)
{
    int rc = sink_start(k, NULL, video, 1);
    if (rc < 0 || !k->has_video) {
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
    k->disc_pending = true;
}

void hls_sink_feed_set_reorder_delay(struct hls_sink *k, int64_t delay)
{
    k->tr[k->main].dts_lead = -delay;
}

void hls_sink_feed_restart(struct hls_sink *k, const struct hub_track *video)
{
    sink_reconfigure(k, video, 1);
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
