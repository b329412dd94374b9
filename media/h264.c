/* H.264 sequence parameter set: just enough to learn the picture size and profile
 * (ITU-T H.264 7.3.2.1.1), including the high profiles' chroma format and scaling lists, frame
 * cropping and field coding; the avcC record from one SPS and one PPS; and whether an access
 * unit's SEI carries closed captions (7.3.2.3.1, ATSC A/53 Part 4). See h264.h. */
#include "media/h264.h"

#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavutil/pixdesc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "media/bits.h"

#define MAX_DIMENSION 16384

const char *h264_profile_name(int profile_idc, bool constraint_set1)
{
    switch (profile_idc) {
    case 66:
        return constraint_set1 ? "Constrained Baseline" : "Baseline";
    case 77:
        return "Main";
    case 88:
        return "Extended";
    case 100:
        return "High";
    case 110:
        return "High 10";
    case 122:
        return "High 4:2:2";
    case 244:
        return "High 4:4:4";
    default:
        return "profile?";
    }
}

static bool high_profile(int p)
{
    return p == 100 || p == 110 || p == 122 || p == 244 || p == 44 || p == 83 || p == 86 ||
           p == 118 || p == 128 || p == 138 || p == 139 || p == 134 || p == 135;
}

static void skip_scaling_list(struct bits *b, int size)
{
    int last = 8, next = 8;
    for (int j = 0; j < size && !b->err; j++) {
        if (next != 0) {
            int32_t delta = bits_se(b);
            if (delta < -128 || delta > 127) {
                b->err = true;
                return;
            }
            next = (last + delta + 256) % 256;
        }
        last = next == 0 ? last : next;
    }
}

/* Reads the high-profile fields into c; returns ChromaArrayType (chroma_format_idc, or 0 with
 * separate colour planes), or -1 on a bad value. Other profiles are 4:2:0 8-bit, ChromaArrayType
 * 1. */
static int parse_chroma(struct bits *b, struct avc_config *c)
{
    c->chroma_format_idc = 1;
    c->bit_depth = 8;
    if (!high_profile(c->profile_idc))
        return 1;
    uint32_t chroma = bits_ue(b);
    if (chroma > 3)
        return -1;
    int array_type = (int)chroma;
    if (chroma == 3 && bits_get(b, 1))
        array_type = 0; /* separate_colour_plane_flag */
    c->chroma_format_idc = (int)chroma;
    uint32_t depth = bits_ue(b); /* bit_depth_luma_minus8 */
    if (depth > 6)
        return -1;
    c->bit_depth = 8 + (int)depth;
    bits_ue(b);           /* bit_depth_chroma_minus8 */
    bits_get(b, 1);       /* qpprime_y_zero_transform_bypass_flag */
    if (bits_get(b, 1)) { /* seq_scaling_matrix_present_flag */
        for (int i = 0; i < (chroma == 3 ? 12 : 8) && !b->err; i++)
            if (bits_get(b, 1))
                skip_scaling_list(b, i < 6 ? 16 : 64);
    }
    return b->err ? -1 : array_type;
}

static int skip_poc(struct bits *b)
{
    bits_ue(b); /* log2_max_frame_num_minus4 */
    uint32_t poc_type = bits_ue(b);
    if (poc_type == 0) {
        bits_ue(b); /* log2_max_pic_order_cnt_lsb_minus4 */
    } else if (poc_type == 1) {
        bits_get(b, 1);
        bits_se(b);
        bits_se(b);
        uint32_t cycle = bits_ue(b);
        if (cycle > 255)
            return -EINVAL;
        for (uint32_t i = 0; i < cycle && !b->err; i++)
            bits_se(b);
    } else if (poc_type != 2) {
        return -EINVAL;
    }
    return b->err ? -EINVAL : 0;
}

/* The SPS without emulation-prevention bytes (00 00 03 -> 00 00). */
/* The RBSP of NAL unit bytes p[0..n): emulation prevention bytes (0x03 after two zeros) taken
 * out, at most cap bytes written to o; returns how many. */
static size_t unescape_into(const uint8_t *p, size_t n, uint8_t *o, size_t cap)
{
    size_t k = 0, zeros = 0;
    for (size_t i = 0; i < n && k < cap; i++) {
        if (zeros >= 2 && p[i] == 3) {
            zeros = 0;
            continue;
        }
        zeros = p[i] == 0 ? zeros + 1 : 0;
        o[k++] = p[i];
    }
    return k;
}

static int parse_size(struct bits *b, int chroma_array_type, struct avc_config *c)
{
    bits_ue(b);     /* max_num_ref_frames */
    bits_get(b, 1); /* gaps_in_frame_num_value_allowed_flag */
    uint32_t w_mbs = bits_ue(b) + 1, h_units = bits_ue(b) + 1;
    int frame_mbs_only = (int)bits_get(b, 1);
    if (!frame_mbs_only)
        bits_get(b, 1); /* mb_adaptive_frame_field_flag */
    bits_get(b, 1);     /* direct_8x8_inference_flag */
    uint32_t crop[4] = {0, 0, 0, 0};
    if (bits_get(b, 1))
        for (int i = 0; i < 4; i++)
            crop[i] = bits_ue(b);
    if (b->err || w_mbs > MAX_DIMENSION / 16 || h_units > MAX_DIMENSION / 16)
        return -EINVAL;
    int64_t unit_x = 1, unit_y = 2 - frame_mbs_only;
    if (chroma_array_type != 0) {
        unit_x = chroma_array_type == 3 ? 1 : 2;
        unit_y = (chroma_array_type == 1 ? 2 : 1) * (2 - frame_mbs_only);
    }
    int64_t w = (int64_t)w_mbs * 16 - unit_x * ((int64_t)crop[0] + crop[1]);
    int64_t h =
        (int64_t)h_units * 16 * (2 - frame_mbs_only) - unit_y * ((int64_t)crop[2] + crop[3]);
    if (w <= 0 || h <= 0 || w > MAX_DIMENSION || h > MAX_DIMENSION)
        return -EINVAL;
    c->width = (int)w;
    c->height = (int)h;
    return 0;
}

int h264_sps_parse(const uint8_t *p, size_t n, struct avc_config *c)
{
    int ret = -EINVAL;
    uint8_t *rbsp = xmalloc(n ? n : 1);
    size_t len = unescape_into(p, n, rbsp, n);
    struct bits b;
    bits_init(&b, rbsp, len);
    if ((bits_get(&b, 8) & 0x1F) != 7) /* NAL header: must be an SPS */
        goto fail;
    c->profile_idc = (int)bits_get(&b, 8);
    c->constraint_set1 = (bits_get(&b, 8) & 0x40) != 0;
    c->level_idc = (int)bits_get(&b, 8);
    if (bits_ue(&b) > 31 || b.err) /* seq_parameter_set_id */
        goto fail;
    int chroma_array_type = parse_chroma(&b, c);
    if (chroma_array_type < 0 || skip_poc(&b) < 0)
        goto fail;
    ret = parse_size(&b, chroma_array_type, c);
fail:
    free(rbsp);
    return ret;
}

static uint8_t *put_u16(uint8_t *w, size_t v)
{
    *w++ = (uint8_t)(v >> 8);
    *w++ = (uint8_t)v;
    return w;
}

int h264_avcc_build(const uint8_t *sps, size_t sps_len, const uint8_t *pps, size_t pps_len,
                    uint8_t **out, int *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (sps_len < 4 || sps_len > 0xffff || pps_len < 1 || pps_len > 0xffff)
        return -EINVAL;
    size_t n = 6 + 2 + sps_len + 1 + 2 + pps_len;
    uint8_t *buf = av_mallocz(n + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!buf)
        return -ENOMEM;
    uint8_t *w = buf;
    *w++ = 1;      /* configurationVersion */
    *w++ = sps[1]; /* profile_idc */
    *w++ = sps[2]; /* constraint flags */
    *w++ = sps[3]; /* level_idc */
    *w++ = 0xff;   /* 6 reserved bits, lengthSizeMinusOne = 3 */
    *w++ = 0xe1;   /* 3 reserved bits, one SPS */
    w = put_u16(w, sps_len);
    memcpy(w, sps, sps_len);
    w += sps_len;
    *w++ = 1; /* one PPS */
    w = put_u16(w, pps_len);
    memcpy(w, pps, pps_len);
    *out = buf;
    *outlen = (int)n;
    return 0;
}

/* The SPS's chroma format and bit depth as a pixel format ("yuv444p", "yuv420p10"...), so that
 * sinks can tell what a player would have to decode. */
enum AVPixelFormat h264_pix_fmt(const struct avc_config *c)
{
    static const char *const chroma[4] = {"gray", "yuv420p", "yuv422p", "yuv444p"};
    char name[24];
    if (c->chroma_format_idc < 0 || c->chroma_format_idc > 3)
        return AV_PIX_FMT_NONE;
    if (c->bit_depth == 8)
        snprintf(name, sizeof(name), "%s", chroma[c->chroma_format_idc]);
    else
        snprintf(name, sizeof(name), "%s%d", chroma[c->chroma_format_idc], c->bit_depth);
    return av_get_pix_fmt(name); /* NONE for a depth FFmpeg has no format for */
}

int h264_avcc_nal_length_size(const uint8_t *extradata, int size)
{
    if (!extradata || size < 7 || extradata[0] != 1)
        return 0;
    int n = (extradata[4] & 3) + 1;
    return n == 3 ? 0 : n;
}

/* An SEI NAL unit (header byte first): does one of its messages carry A/53 cc_data? */
static bool sei_has_captions(const uint8_t *nal, size_t n)
{
    uint8_t rbsp[H264_SEI_SCAN_MAX]; /* the RBSP's first bytes, after the header byte */
    size_t m = unescape_into(nal + 1, n - 1, rbsp, sizeof(rbsp));
    bool whole = m < sizeof(rbsp); /* else the unit may go on past what was read */
    static const uint8_t a53[8] = {0xb5, 0x00, 0x31, 'G', 'A', '9', '4', 0x03};
    size_t i = 0;
    while (m - i >= 2) { /* a message has at least a type and a size byte */
        size_t type = 0, size = 0;
        while (i < m && rbsp[i] == 0xff)
            type += 255, i++;
        if (i >= m)
            return false;
        type += rbsp[i++];
        while (i < m && rbsp[i] == 0xff)
            size += 255, i++;
        if (i >= m)
            return false;
        size += rbsp[i++];
        if (size > m - i && whole)
            return false; /* runs past the NAL unit */
        if (type == 4 && size >= sizeof(a53) && m - i >= sizeof(a53) &&
            memcmp(rbsp + i, a53, sizeof(a53)) == 0)
            return true;
        if (size > m - i)
            return false; /* runs past what was read */
        i += size;
    }
    return false;
}

bool h264_au_has_captions(const uint8_t *p, size_t n, int nal_length_size)
{
    if (!p || (nal_length_size != 1 && nal_length_size != 2 && nal_length_size != 4))
        return false;
    size_t pos = 0, ls = (size_t)nal_length_size;
    while (n - pos > ls) {
        size_t len = 0;
        for (size_t i = 0; i < ls; i++)
            len = len << 8 | p[pos++];
        if (len == 0 || len > n - pos)
            return false;
        if ((p[pos] & 0x1f) == 6 && sei_has_captions(p + pos, len))
            return true;
        pos += len;
    }
    return false;
}
