/* H.264 parameter sets, shared by the ingests (RTMP's AVC configuration, WebRTC's in-band and
 * sprop-parameter-sets SPS/PPS) and the transcoder (libx264's global header): the SPS parsed for
 * size, profile, chroma format and bit depth, and the avcC record (ISO/IEC 14496-15
 * AVCDecoderConfigurationRecord) the hub and fMP4 carry as H.264 extradata. */
#ifndef KIBITKA_MEDIA_H264_H
#define KIBITKA_MEDIA_H264_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libavutil/pixfmt.h>

struct avc_config {
    int profile_idc, level_idc;
    bool constraint_set1;
    int chroma_format_idc; /* 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4 (1 below the high profiles) */
    int bit_depth;         /* luma bits per sample, 8 below the high profiles */
    int width, height;
    int nal_length_size; /* 1, 2 or 4: from an avcC record (flv_avc_config_parse), else 0 */
};

/* Parses an H.264 SPS NAL unit (with its 1-byte NAL header, emulation prevention bytes still in)
 * for size, profile, chroma format and bit depth. Returns 0 or -EINVAL; leaves nal_length_size
 * alone. */
int h264_sps_parse(const uint8_t *p, size_t n, struct avc_config *c);
/* "High", "Main", "Constrained Baseline" ... */
const char *h264_profile_name(int profile_idc, bool constraint_set1);
/* The SPS's chroma format and bit depth as a pixel format ("yuv444p", "yuv420p10"...), so that
 * sinks can tell what a player would have to decode; AV_PIX_FMT_NONE when FFmpeg has none. */
enum AVPixelFormat h264_pix_fmt(const struct avc_config *c);

/* Builds an avcC record with one SPS and one PPS (NAL units with their header byte, no start
 * code) and 4-byte NAL lengths, into a new av_malloc'ed buffer padded with
 * AV_INPUT_BUFFER_PADDING_SIZE zeros: *out, *outlen. Returns 0, -EINVAL when the SPS is
 * shorter than 4 bytes, the PPS empty or either over 65535 bytes, or -ENOMEM (*out is then
 * NULL). The caller av_free's *out. */
int h264_avcc_build(const uint8_t *sps, size_t sps_len, const uint8_t *pps, size_t pps_len,
                    uint8_t **out, int *outlen);

/* Whether an H.264 access unit in AVCC form (each NAL unit after its big-endian length of
 * nal_length_size bytes: 1, 2 or 4) carries closed captions: an SEI message of payload type 4
 * (user_data_registered_itu_t_t35) with ATSC A/53's header (country 0xB5, provider 0x0031,
 * "GA94", user_data_type_code 3: cc_data), which CEA-608 and CEA-708 captions travel in. Reads
 * no more than n bytes, and only the first H264_SEI_SCAN_MAX of each SEI NAL unit; anything
 * malformed answers false. */
#define H264_SEI_SCAN_MAX 2048
bool h264_au_has_captions(const uint8_t *p, size_t n, int nal_length_size);
/* The NAL length size of an avcC record (1, 2 or 4), or 0 when extradata is not one. */
int h264_avcc_nal_length_size(const uint8_t *extradata, int size);

#endif
