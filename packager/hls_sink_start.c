/* The packager's sink at a stream's start: which track goes to which rendition, the ladder
 * fitted to the source (or denied by admission control), the muxers opened. See hls_sink.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "media/fmp4.h"
#include "media/h264.h"
#include "media/sink_front.h"
#include "media/timeline.h"
#include "packager/hls_sink_priv.h"
#include "transcode/admission.h"

/* ---- start ---- */

/* A track the front-end cannot mux as it is (H.264, AAC: media/sink_front.h): audio libavcodec
 * decodes is transcoded to AAC (not in feed mode); VP8 video is taken for the ladder to encode
 * (never passed through: tl_video_playable; sink_accept refused it without a ladder); anything
 * else is left out. */
bool hls_sink_pick(void *opaque, int i, const struct hub_track *t, bool have_audio, AVRational *tb,
                   int64_t *default_dur)
{
    struct hls_sink *k = opaque;
    const AVCodecParameters *par = t->par;
    struct track *tr = &k->tr[i];
    if (par->codec_type == AVMEDIA_TYPE_AUDIO && !have_audio && !k->feed &&
        audio_transcoder_create(par, t->time_base, 0, &tr->atx) == 0) {
        *tb = audio_transcoder_time_base(tr->atx);
        *default_dur = 1024;
        log_info("hls", k->name, "track %d (%s) is transcoded to AAC for HLS", i,
                 avcodec_get_name(par->codec_id));
        return true;
    }
    if (par->codec_type == AVMEDIA_TYPE_VIDEO && par->codec_id == AV_CODEC_ID_VP8 && !k->feed &&
        par->width > 0 && par->height > 0 && avcodec_find_decoder(par->codec_id)) {
        AVRational fr = t->frame_rate.num > 0 ? t->frame_rate : (AVRational){30, 1};
        *default_dur = av_rescale_q(1, av_inv_q(fr), *tb);
        return true;
    }
    log_warn("hls", k->name,
             "track %d (%s) is not packaged: only H.264 with its configuration, VP8 (through the "
             "ladder), and audio libavcodec decodes, are",
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
        if (!sink_front_used(k->front, i) || k->tr[i].out != o)
            continue;
        if (sink_front_track(k->front, i)->video) {
            pl_codec_avc(par->extradata, par->extradata_size, avc, sizeof(avc));
            k->tr[i].nal_length_size =
                par->codec_id == AV_CODEC_ID_H264
                    ? h264_avcc_nal_length_size(par->extradata, par->extradata_size)
                    : 0;
            vi->captions = k->captions;
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
int hls_sink_open_output(struct hls_sink *k, int o, const struct hub_track *tracks, int ntracks)
{
    struct fmp4_track ft[HUB_MAX_TRACKS];
    int n = 0;
    for (int i = 0; i < ntracks; i++) {
        if (!sink_front_used(k->front, i) || k->tr[i].out != o)
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
        if (hls_sink_open_output(k, o, tracks, ntracks) < 0)
            return -EINVAL;
    return 0;
}

static int add_output(struct hls_sink *k, const char *rendition)
{
    struct hls_stream *st = hls_group_add(k->group, rendition);
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
    if (!k->cfg.ladder || !sink_front_has_video(k->front) || k->over_budget)
        return;
    for (int i = 0; i < ntracks; i++)
        if (sink_front_used(k->front, i) && sink_front_track(k->front, i)->video) {
            const AVCodecParameters *par = tracks[i].par;
            if (par->width > 0 && par->height > 0)
                ladder_fit(k->cfg.ladder, par->width, par->height, fitted);
            k->ladder_track = i;
            replace_unplayable(k, par, fitted);
        }
}

/* Starts the transcode ladder: one rendition per rung, fed through hls_ladder. */
static void start_ladder(struct hls_sink *k, const struct hub_track *video,
                         const struct hub_track *audio, const struct ladder *fitted)
{
    struct hls_stream *rungs[LADDER_MAX_RUNGS];
    for (int r = 0; r < fitted->nrungs; r++) {
        char name[HLS_RENDITION_MAX + 1];
        snprintf(name, sizeof(name), "%dp", fitted->rungs[r].height);
        rungs[r] = hls_group_add(k->group, name);
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
        .audio = audio,
    };
    if (hls_ladder_start(&lc, &k->ladder) == 0)
        hls_group_set_ladder(k->group, k->ladder);
    else
        for (int r = 0; r < fitted->nrungs; r++)
            hls_stream_fail(rungs[r]);
    for (int r = 0; r < fitted->nrungs; r++)
        hls_stream_unref(rungs[r]);
}

/* Assigns tracks to outputs: video and audio muxed in "source" (unless the fitted ladder leaves
 * the source out); the encoded rungs get the audio too (ladder_audio), each rendition whole.
 * (A shared audio rendition made players run two loaders, and video.js's waited: see
 * docs/ARCHITECTURE.md.) */
static void plan_outputs(struct hls_sink *k, int ntracks, const struct ladder *fitted)
{
    int out = -1;
    if (fitted->nrungs == 0 || fitted->source)
        out = add_output(k, "source");
    k->ladder_audio = -1;
    for (int i = 0; i < ntracks; i++) {
        k->tr[i].out = out;
        if (fitted->nrungs > 0 && sink_front_used(k->front, i) &&
            !sink_front_track(k->front, i)->video && k->ladder_audio < 0)
            k->ladder_audio = i;
    }
}

/* The tracks as packaged: a transcoded audio track carries the AAC output's parameters. */
void hls_sink_packaged_tracks(const struct hls_sink *k, const struct hub_track *in, int n,
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
int hls_sink_accept(void *opaque, const struct hub_track *tracks, int ntracks, char *why,
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

int hls_sink_start(void *opaque, struct hub *hub, const struct hub_track *hub_tracks, int ntracks)
{
    struct hls_sink *k = opaque;
    struct hub_track tracks[HUB_MAX_TRACKS];
    const struct hub_track *given = hub_tracks;
    for (int i = 0; i < ntracks; i++)
        k->tr[i].out = -1;
    if (sink_front_start(k->front, given, ntracks) == 0) {
        log_error("hls", k->name, "no track can be packaged; no HLS for this stream");
        return -ENOTSUP;
    }
    k->max_seg_us = sink_front_has_video(k->front) ? FIRST_SEG_MAX_US : AUDIO_SEG_US;
    hls_sink_packaged_tracks(k, given, ntracks, tracks);
    struct ladder fitted;
    if (k->feed) {
        k->out[0].st = hls_stream_ref(k->feed_st);
        k->nout = 1;
        for (int i = 0; i < ntracks; i++)
            k->tr[i].out = sink_front_used(k->front, i) ? 0 : -1;
        fitted.nrungs = 0;
    } else {
        fit_ladder(k, tracks, ntracks, &fitted);
        plan_outputs(k, ntracks, &fitted);
    }
    if (open_outputs(k, tracks, ntracks) < 0)
        return -EINVAL;
    if (fitted.nrungs > 0)
        start_ladder(k, &tracks[k->ladder_track],
                     k->ladder_audio >= 0 ? &tracks[k->ladder_audio] : NULL, &fitted);
    return 0;
}
