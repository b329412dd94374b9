/* One still picture from one keyframe: decode it (H.264 or VP8, the keyframe alone: an IDR or a
 * VP8 key frame needs no other frame), scale it to at most max_width pixels wide (the aspect
 * kept, even sizes) and encode it as a baseline JPEG (libavcodec's mjpeg, YUVJ420P). Pure: no
 * thread, no state; packager/thumb.c calls it on its worker thread, never the network thread.
 * It costs a decoder and an encoder open per call (a few ms at 1080p), which is fine for one
 * picture per stream every 10 s. */
#ifndef KIBITKA_TRANSCODE_THUMB_H
#define KIBITKA_TRANSCODE_THUMB_H

#include <libavcodec/avcodec.h>

#include "core/blob.h"

#define THUMB_MAX_WIDTH 320

/* par: the track's codec parameters (extradata: avcC for H.264); key: a keyframe of that track.
 * On success *out is a new blob holding the JPEG (the caller's reference) and *w, *h its size;
 * else a negative AVERROR (AVERROR(EAGAIN): the decoder gave no picture for this packet alone)
 * and *out NULL. */
int thumb_make(const AVCodecParameters *par, const AVPacket *key, int max_width, int *w, int *h,
               struct blob **out);

#endif
