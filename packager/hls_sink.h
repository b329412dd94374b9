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
#include "packager/hls_stream.h"

/* Attaches a packager sink for st to hub (from the registry observer). The sink holds a
 * reference to st until the hub destroys it. */
void hls_sink_attach(struct hub *hub, struct hls_stream *st, int64_t part_target_us);

#endif
