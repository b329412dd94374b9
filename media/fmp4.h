/* An in-memory fMP4/CMAF muxer. The init section (ftyp+moov) comes from libavformat's "mp4"
 * muxer (movflags=cmaf+frag_custom+empty_moov+default_base_moof, no edit list), which knows
 * every codec's sample entry. The fragments are written here: one moof (mfhd, and per track
 * tfhd with default-base-is-moof, tfdt, trun version 1 with per-sample duration, size, flags
 * and composition offset) and one mdat, straight into the part's blob. Writing them ourselves
 * copies each frame once instead of through the muxer's growing per-fragment buffers, which
 * cost about a quarter of the server's CPU per stream (perf, 20 publishers).
 *
 * Timestamps are the tracks' own, rescaled to the timescales the moov declares: tfdt is the
 * first sample's dts, so the tracks keep their relative timing (A/V sync) with no shift.
 *
 * fmp4_create writes the header at once and returns the init section as a blob, so every
 * track's extradata must be known then. Each fmp4_flush emits one moof+mdat over every track
 * with the samples written since the previous flush: one LL-HLS part.
 *
 * The caller feeds packets with non-negative, strictly increasing dts per track and a duration
 * set on every packet. Not thread-safe: one owner, one thread at a time. */
#ifndef KIBITKA_PACKAGER_FMP4_H
#define KIBITKA_PACKAGER_FMP4_H

#include <libavcodec/avcodec.h>

#include "core/blob.h"

struct fmp4;

struct fmp4_track {
    const AVCodecParameters *par; /* copied */
    AVRational time_base;         /* of the packets given to fmp4_write for this track */
};

/* Returns 0 and *out plus the init section in *init (a reference for the caller), or a negative
 * AVERROR after logging why (stream names the stream in the log). */
int fmp4_create(const struct fmp4_track *tracks, int ntracks, const char *stream,
                struct blob **init, struct fmp4 **out);
/* Frees the muxer; NULL-safe, clears *pm. Whatever was written since the last flush is lost. */
void fmp4_destroy(struct fmp4 **pm);
/* Adds one packet of track idx (pts/dts/duration in that track's time_base). The packet is not
 * modified or kept. Returns 0 or a negative AVERROR. */
int fmp4_write(struct fmp4 *m, int idx, const AVPacket *pkt);
/* Closes the current fragment. Returns 0 with *out = the moof+mdat bytes (a new reference), or
 * *out = NULL when nothing was written since the last flush; or a negative AVERROR. */
int fmp4_flush(struct fmp4 *m, struct blob **out);

#endif
