/* Annex B (start codes, what libx264 emits) to the ISO/IEC 14496-15 form that fMP4 and the hub
 * carry: an avcC record as extradata and 4-byte big-endian NAL lengths in packets. FFmpeg 5.1
 * keeps its own converter (ff_isom_write_avcc) private, so this is ours. */
#ifndef KIBITKA_TRANSCODE_AVCC_H
#define KIBITKA_TRANSCODE_AVCC_H

#include <libavcodec/avcodec.h>
#include <stdint.h>

/* Builds an avcC record from Annex B SPS and PPS NAL units into a new av_malloc'ed buffer
 * (padded for libavcodec) in *out / *outlen. Returns 0, -EINVAL when there is no SPS or PPS or
 * a parameter set is over 64 KiB, or -ENOMEM. The caller av_free's *out. */
int avcc_from_annexb(const uint8_t *p, int size, uint8_t **out, int *outlen);

/* Rewrites pkt's payload in place from start codes to 4-byte lengths (a new buffer; side data,
 * timestamps and flags are kept). Returns 0 or a negative AVERROR. */
int avcc_packet_from_annexb(AVPacket *pkt);

#endif
