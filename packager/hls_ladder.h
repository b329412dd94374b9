/* The transcode ladder of one stream, on the packager's side: a transcode worker (transcode/
 * worker.h) fed with the source sink's normalised video packets, and one segmenter per encoded
 * rung (an hls_sink in feed mode, run on the worker thread) publishing into the rung's
 * rendition, with the stream's audio muxed in (each rendition is whole: a player runs one
 * loader per rendition, see docs/ARCHITECTURE.md).
 *
 * Why the packager feeds the transcoder instead of the transcoder being a sink on the hub: the
 * packager must know every rendition when the stream starts (the multivariant playlist depends
 * on it), and the rungs must use the source sink's timeline (the same shift
 * of timestamps), so that segment N starts at the same presentation time in every rendition.
 *
 * Lifetime. The source sink creates it, pushes packets and calls finish at its end, and never
 * touches it after that. The group (hls_group_set_ladder) owns it: it is destroyed once it is
 * done (finish was called and the worker exited) or with the group. */
#ifndef KIBITKA_PACKAGER_HLS_LADDER_H
#define KIBITKA_PACKAGER_HLS_LADDER_H

#include <libavcodec/avcodec.h>
#include <stdbool.h>

#include "core/metrics.h"
#include "packager/hls_stream.h"
#include "transcode/ladder.h"

struct hls_ladder;

struct hls_ladder_config {
    const char *name;             /* the stream, for logs */
    const struct ladder *fitted;  /* ladder_fit'ted to the source; nrungs > 0 */
    const AVCodecParameters *src; /* the source video track */
    AVRational time_base, frame_rate;
    const char *preset; /* x264 preset, NULL: veryfast */
    int64_t part_target_us;
    struct metrics *metrics;
    struct hls_stream *const *rungs; /* one rendition per fitted rung; the ladder takes refs */
    /* The stream's audio as packaged (AAC), muxed into every rung; NULL: none. Copied. */
    const struct hub_track *audio;
};

int hls_ladder_start(const struct hls_ladder_config *cfg, struct hls_ladder **out);
/* The source's reorder delay (pts - dts of its first keyframe, in time_base; B-frames make it
 * one or two frames): the rungs' encoder has no B-frames, so its dts equal its pts; each rung's
 * dts is set to pts minus this delay, so that a rung's segment N starts at the same decode time
 * (tfdt) as the source's, and has the same PROGRAM-DATE-TIME. Without it, the rungs' segments
 * started 67 ms after the source's in Shaka Player's timeline (it maps tfdt to PDT) and its ABR
 * switches left holes in the video buffer. Call before the first push; 0 until then. */
void hls_ladder_set_reorder_delay(struct hls_ladder *l, int64_t delay);
/* A normalised source video packet (the source sink's thread). */
void hls_ladder_push(struct hls_ladder *l, const AVPacket *pkt, int64_t wall_us);
/* A packet of the audio track (cfg.audio's time base, on the packager's timeline; the source
 * sink's thread): every rung muxes it with its video, once the worker has reached it. */
void hls_ladder_push_audio(struct hls_ladder *l, const AVPacket *pkt, int64_t wall_us);
/* The source cut a segment before its keyframe of this pts for a timestamp jump and marked the
 * next one EXT-X-DISCONTINUITY (the source sink's thread, before pushing that keyframe): each
 * rung does the same before its first keyframe at or after pts (the IDR forced there), so the
 * discontinuity is at the same segment in every rendition. */
void hls_ladder_discontinuity(struct hls_ladder *l, int64_t pts);
/* The source's video changed configuration: the worker finishes the frames before the change,
 * then re-opens its decoder and encoders on the new source (the same rung heights, widths from
 * the new aspect ratio) and each rung continues with a new init section. */
void hls_ladder_restart(struct hls_ladder *l, const struct hub_track *video);
void hls_ladder_finish(struct hls_ladder *l);
bool hls_ladder_done(struct hls_ladder *l);
void hls_ladder_destroy(struct hls_ladder **pl);
double hls_ladder_lag(struct hls_ladder *l);

#endif
