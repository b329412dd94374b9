/* What the packager's sink and the recorder's sink both need to turn hub packets into a clean
 * fMP4 timeline: which tracks they can mux, and the shift of every packet's timestamps.
 *
 * A stream starts at its first video keyframe (or its first packet when it has no video); every
 * track is shifted by that packet's dts, so no dts is negative (x264 B-frames and AAC priming
 * start below zero) and the tracks keep their relative timing. A packet without a timestamp,
 * from before the start, or whose dts does not increase on its track is dropped. */
#ifndef KIBITKA_PACKAGER_TIMELINE_H
#define KIBITKA_PACKAGER_TIMELINE_H

#include <libavcodec/avcodec.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/hub.h"

/* Whether ht can be muxed as it is: the first H.264 track with its configuration (video) or the
 * first AAC track with its AudioSpecificConfig. On true, *video tells which, and *default_dur
 * is one frame (1/frame rate, 30 when undeclared; 1024 samples) in ht's time base, the duration
 * of a track's last packet. */
bool tl_track_muxable(const struct hub_track *ht, bool have_video, bool have_audio, bool *video,
                      int64_t *default_dur);

/* Whether browsers can decode the video track as it is. MSE in Chromium, Firefox and Safari
 * (and the hardware decoders behind them) play H.264 Baseline and Constrained Baseline (66),
 * Main (77) and High (100) in 4:2:0 8-bit; not High 10 (110), High 4:2:2 (122), High 4:4:4
 * (244), nor Extended (88: no hardware decoder, and Chromium's isTypeSupported says no), nor
 * 4:2:2/4:4:4 chroma or more than 8 bits. The profile comes from par->profile (else the avcC),
 * the chroma format and depth from par->format (AV_PIX_FMT_NONE: unknown, not held against the
 * track). Video in any other codec (VP8 from WHIP) is not played from HLS (hls.js and Safari
 * take H.264/HEVC in fMP4; MSE has VP8 in WebM only): false ("vp8 video"). A track that is not
 * video is not this rule's business: true. On false, why (n bytes) describes the track ("H.264
 * High 4:4:4 Predictive, yuv444p"). */
bool tl_video_playable(const AVCodecParameters *par, char *why, size_t n);

/* The dts (else pts) of in, in microseconds of tb; INT64_MIN when it has neither. */
int64_t tl_dts_us(const AVPacket *in, AVRational tb);

enum tl_drop { TL_KEEP = 0, TL_NO_TIMESTAMP, TL_BEFORE_START, TL_NOT_INCREASING };

/* Shifts in by offset (in its time base) into a new packet *out (pts never below dts, duration
 * 0), or says why it is dropped (*out NULL). *last_dts is the track's last kept dts (INT64_MIN
 * before the first), updated. */
enum tl_drop tl_shift(const AVPacket *in, int64_t offset, int64_t *last_dts, AVPacket **out);

#endif
