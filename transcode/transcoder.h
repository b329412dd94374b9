/* The transcoder: one H.264 source in, one encoded H.264 rendition per ladder rung out.
 *
 * Decode once, scale once per rung, encode per rung:
 *
 *   source AVPacket --decode (libavcodec, threads)--> frame --sws--> rung 0 --x264--> packets
 *                                                                 \-sws--> rung 1 --x264--> ...
 *
 * Scaling cascades: each rung is scaled from the next taller rung's frame (cheaper than scaling
 * every rung from a 1080p source), rung 0 from the decoded frame.
 *
 * Aligned keyframes. Every rung encodes a frame as an IDR exactly when the source packet with the
 * same pts was a keyframe (AV_PKT_FLAG_KEY), and never otherwise: x264 runs with forced-idr=1,
 * scenecut=0 and a GOP far longer than any source's, so it adds no keyframes of its own. Segments
 * cut at keyframes therefore start at the same pts in every rendition. No B-frames, so output
 * packets have dts == pts, in the source's time_base.
 *
 * This step is synchronous and single-threaded from the caller's point of view (x264 and the
 * decoder run their own threads inside): transcoder_send decodes, scales and encodes, and the
 * encoded packets are queued until transcoder_receive takes them. The worker thread and the hub
 * sink come on top of this API.
 *
 * Ownership. The caller keeps the packets it sends (they are read, not kept). Packets from
 * transcoder_receive belong to the caller. Rung codec parameters (with avcC extradata) are owned
 * by the transcoder and valid until transcoder_destroy. */
#ifndef KIBITKA_TRANSCODE_TRANSCODER_H
#define KIBITKA_TRANSCODE_TRANSCODER_H

#include <libavcodec/avcodec.h>

#include "transcode/ladder.h"

struct transcoder;

struct transcoder_config {
    const AVCodecParameters *src; /* H.264 with avcC extradata, width/height set */
    AVRational time_base;         /* of the source packets' pts; also of the output packets */
    AVRational frame_rate;        /* nominal; 0/1 when unknown (30 is assumed for rate control) */
    const struct ladder *ladder; /* fitted (ladder_fit) to src's size; its encoded rungs are used */
    const char *preset;          /* x264 preset; NULL means "veryfast" */
    const char *stream;          /* for log lines; may be NULL */
    /* While rungs shed (transcoder_set_skip), they still encode one frame at least this often
     * (µs of media time), besides the source's keyframes, so that each LL-HLS part of theirs
     * holds a frame: the packager gives half its part target. 0: keyframes only. */
    int64_t shed_interval_us;
};

/* Opens the decoder and one encoder per encoded rung. Returns 0 and *out, or a negative errno
 * (-EINVAL for a bad config or ladder with no encoded rungs, -ENOSYS when libx264 is missing,
 * or an AVERROR from libavcodec). */
int transcoder_create(const struct transcoder_config *cfg, struct transcoder **out);
/* Frees everything, queued packets included, and clears *pt; NULL-safe. */
void transcoder_destroy(struct transcoder **pt);

int transcoder_rung_count(const struct transcoder *t);
/* Codec parameters of rung i's output: width, height, bit_rate, profile/level, avcC extradata. */
const AVCodecParameters *transcoder_rung_par(const struct transcoder *t, int i);

/* Feeds one source video packet, or NULL to flush at the end of the stream (after which only
 * transcoder_receive may be called). Returns 0 or a negative error; a packet that fails to
 * decode is logged and skipped (returns 0), as a live source can recover at its next keyframe. */
int transcoder_send(struct transcoder *t, const AVPacket *pkt);

/* Sheds load: the nskip lowest rungs encode only the source's keyframes (their segments stay
 * aligned) and one frame per shed_interval_us between them, until called again with a smaller
 * nskip. The shedding rungs take or skip each frame together, so a rung scaled from the one
 * above it never scales a stale picture. 0 encodes every frame in every rung. */
void transcoder_set_skip(struct transcoder *t, int nskip);
/* Frames not encoded because of transcoder_set_skip, summed over rungs. */
int64_t transcoder_skipped(const struct transcoder *t);

/* Takes the next encoded packet into out (which must be blank) and its rung index into *rung.
 * Returns 0, or -EAGAIN when nothing is queued. Packets of one rung come out in order. */
int transcoder_receive(struct transcoder *t, AVPacket *out, int *rung);

#endif
