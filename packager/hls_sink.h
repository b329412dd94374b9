/* The hub sink that cuts one stream into parts and segments (the segmenter).
 *
 * Runs on the source's thread only. It normalises timestamps (starts at the first video
 * keyframe, shifts every track by the same offset so nothing is negative, drops packets whose
 * dts does not increase), holds back one packet per track so each written packet carries its
 * real duration, decides where parts and segments end, muxes through fmp4.c and publishes each
 * finished part into its hls_stream.
 *
 * Segmentation rules (times on the main track: video if there is one, else audio):
 *   - a segment starts on a video keyframe once the current one lasts at least 1 s, so segments
 *     follow the GOP; audio-only streams cut a segment at the part boundary before 2 s;
 *   - the target duration is the ceiling of the first segment's length, fixed for the stream;
 *     a later packet that would make a segment longer than target + 0.5 s (longer than the
 *     EXTINF rounding rule allows) cuts the segment before it, keyframe or not, with a warning
 *     logged once; before the target is known the limit is 10 s;
 *   - a part closes before a packet that would make it longer than the part target, and at every
 *     segment boundary; a part that starts with a keyframe is independent. */
#ifndef KIBITKA_PACKAGER_HLS_SINK_H
#define KIBITKA_PACKAGER_HLS_SINK_H

#include "core/hub.h"
#include "core/metrics.h"
#include "packager/hls_stream.h"
#include "transcode/admission.h"
#include "transcode/ladder.h"

struct hls_group;
struct hls_sink;

struct hls_sink_config {
    int64_t part_target_us;
    const struct ladder *ladder; /* NULL or --ladder none: the source only, A/V muxed */
    const char *preset;          /* x264 */
    struct admission *admission; /* asked at each publish whether it may have a ladder; NULL: yes */
    struct metrics *metrics;
};

/* Attaches a packager sink feeding group to hub (from the registry observer). At the hub's start
 * it adds the group's renditions: "source" with every packaged track (unless the ladder leaves
 * the source out), and one rendition per rung, fed by a transcode ladder (hls_ladder.h) that this
 * sink feeds with its normalised video packets and its audio, which every rung muxes in too.
 * Every rendition is cut at the same points (the video's), so parts and segments line up. The sink
 * holds a reference to the group until the hub destroys it. */
void hls_sink_attach(struct hub *hub, struct hls_group *group, const struct hls_sink_config *cfg);

/* Feed mode: the same segmenter, driven directly (by the ladder, on its worker thread) for one
 * rendition whose timestamps are already on the stream's timeline (no shift): track 0 the
 * video, track 1 the stream's AAC audio if ntracks is 2 (packets by stream_index). One thread
 * at a time. start returns 0 or a negative errno (nothing to package); packets then follow,
 * then end (publishes the last part and ends the rendition), then destroy. */
struct hls_sink *hls_sink_feed_create(const char *name, struct hls_stream *st,
                                      int64_t part_target_us);
int hls_sink_feed_start(struct hls_sink *k, const struct hub_track *tracks, int ntracks);
void hls_sink_feed_packet(struct hls_sink *k, const AVPacket *pkt, int64_t wall_us);
/* The source's reorder delay (hls_ladder_set_reorder_delay, in the rung's time base): each
 * packet's dts becomes its pts minus this, as in the source. Before the packets it applies to. */
void hls_sink_feed_set_reorder_delay(struct hls_sink *k, int64_t delay);
/* The next packet, a keyframe, follows a timestamp jump in the source (hls_ladder_discontinuity):
 * the segment ends before it and the next one is marked EXT-X-DISCONTINUITY. */
void hls_sink_feed_discontinuity(struct hls_sink *k);
/* Feed mode: the worker dropped source frames before the keyframe pkt about to be fed
 * (transcode/worker.h): the frame before it lasts one frame, not the whole hole, so no part is
 * longer than PART-TARGET and no segment longer than the target; the keyframe starts a segment
 * at its own time, so timestamps and PROGRAM-DATE-TIME still match the other renditions'. */
void hls_sink_feed_hole(struct hls_sink *k);
/* The rung was re-opened on a reconfigured source: a new init section and a discontinuity. */
void hls_sink_feed_restart(struct hls_sink *k, const struct hub_track *tracks, int ntracks);
void hls_sink_feed_end(struct hls_sink *k);
void hls_sink_feed_destroy(struct hls_sink **pk);

#endif
