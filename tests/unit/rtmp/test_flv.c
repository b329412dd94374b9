/* FLV message bodies -> codec configuration and frames, with AVC configurations captured from
 * ffmpeg/libx264 (testsrc2; `ffmpeg ... -c:v libx264 -frames:v 1 -f flv`). */
#include <errno.h>
#include <stdlib.h>

#include "ingest/rtmp/flv.h"
#include "media/h264.h"
#include "test.h"

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = 0;
    for (; h[0] && h[1]; h += 2)
        out[n++] = (uint8_t)strtoul((char[]){h[0], h[1], 0}, NULL, 16);
    return n;
}

/* Whole video tag bodies (5-byte FLV/AVC header + AVCDecoderConfigurationRecord). */
static const char *cfg_720p =
    "17000000000164001fffe1001a6764001facd9405005bb011000000300100000030320"
    "f183196001000668ebe3cb22c0fdf8f800";
static const char *cfg_1080p = "170000000001640028ffe1001b67640028acd940780227e5c04400000300040000"
                               "0300c83c60c65801000668ebe3cb22c0fdf8f800";
static const char *cfg_444 = "170000000001f4001fffe1001a67f4001f919b280a00b76022000003000200000300"
                             "641e30632c01000668ebe3c44844fff8f800";
static const char *cfg_interlaced = "17000000000164001effe100186764001eacd940b424d808800000030080"
                                    "0000190f8a14cb01000668fba3cb22c0fdf8f800";
static const char *cfg_baseline = "17000000000142c01effe100186742c01ed900a03db011000003000100000300"
                                  "320f162e4801000568cb83cb20";

static void check_config_fmt(const char *hex, int w, int h, int profile, int level, int chroma,
                             int depth)
{
    uint8_t b[256];
    size_t n = unhex(hex, b);
    struct flv_video v;
    CHECK_EQ_INT(flv_video_parse(b, n, &v), 0);
    CHECK_EQ_INT(v.codec_id, FLV_VIDEO_AVC);
    CHECK_EQ_INT(v.frame_type, 1);
    CHECK_EQ_INT(v.avc_type, FLV_AVC_CONFIG);
    struct avc_config c;
    const char *why = NULL;
    CHECK_EQ_INT(flv_avc_config_parse(v.data, v.size, &c, &why), 0);
    CHECK_EQ_INT(c.width, w);
    CHECK_EQ_INT(c.height, h);
    CHECK_EQ_INT(c.profile_idc, profile);
    CHECK_EQ_INT(c.level_idc, level);
    CHECK_EQ_INT(c.nal_length_size, 4);
    CHECK_EQ_INT(c.chroma_format_idc, chroma);
    CHECK_EQ_INT(c.bit_depth, depth);
}

static void check_config(const char *hex, int w, int h, int profile, int level)
{
    check_config_fmt(hex, w, h, profile, level, 1, 8);
}

/* Bare SPS NAL units from libx264 (64x48, -pix_fmt/-profile:v as named). */
static void check_sps(const char *hex, int profile, int chroma, int depth)
{
    uint8_t b[64];
    size_t n = unhex(hex, b);
    struct avc_config c;
    CHECK_EQ_INT(h264_sps_parse(b, n, &c), 0);
    CHECK_EQ_INT(c.width, 64);
    CHECK_EQ_INT(c.height, 48);
    CHECK_EQ_INT(c.profile_idc, profile);
    CHECK_EQ_INT(c.chroma_format_idc, chroma);
    CHECK_EQ_INT(c.bit_depth, depth);
}

static void test_chroma_and_depth(void)
{
    check_sps("67f4000a919b288f6022000003000200000300141e244b2c", 244, 3, 8);  /* yuv444p */
    check_sps("677a000abcd9447b0110000003001000000300a0f1225960", 122, 2, 8);  /* yuv422p */
    check_sps("676e000aa6cd9447b0110000030001000003000a0f122596", 110, 1, 10); /* yuv420p10 */
}

static void test_real_configs(void)
{
    check_config(cfg_720p, 1280, 720, 100, 31);
    check_config(cfg_1080p, 1920, 1080, 100, 40);        /* frame cropping 1088 -> 1080 */
    check_config_fmt(cfg_444, 1280, 720, 244, 31, 3, 8); /* chroma_format_idc 3 */
    check_config(cfg_interlaced, 720, 576, 100, 30);     /* frame_mbs_only 0 */
    check_config(cfg_baseline, 640, 480, 66, 30);
    CHECK_STREQ(h264_profile_name(66, true), "Constrained Baseline");
    CHECK_STREQ(h264_profile_name(100, false), "High");
}

/* The record of cfg_720p without the 5-byte tag header, for mutation. */
static size_t base_record(uint8_t *b)
{
    uint8_t tag[256];
    size_t n = unhex(cfg_720p, tag);
    memcpy(b, tag + 5, n - 5);
    return n - 5;
}

static void test_bad_configs(void)
{
    uint8_t b[256];
    struct avc_config c;
    const char *why;
    size_t n = base_record(b);

    /* numOfSPS 31 with a body holding one. */
    b[5] = 0xE0 | 31;
    CHECK_EQ_INT(flv_avc_config_parse(b, n, &c, &why), -EINVAL);
    CHECK(why != NULL);

    /* SPS length past the tag. */
    n = base_record(b);
    b[6] = 0x01;
    b[7] = 0x00;
    CHECK_EQ_INT(flv_avc_config_parse(b, n, &c, &why), -EINVAL);

    /* Zero SPS length. */
    n = base_record(b);
    b[6] = b[7] = 0;
    CHECK_EQ_INT(flv_avc_config_parse(b, n, &c, &why), -EINVAL);

    /* Zero PPS length. */
    n = base_record(b);
    size_t pps_len_at = 8 + 0x1a + 1;
    b[pps_len_at] = b[pps_len_at + 1] = 0;
    CHECK_EQ_INT(flv_avc_config_parse(b, n, &c, &why), -EINVAL);

    /* numOfSPS 0, version 2, truncated everywhere. */
    n = base_record(b);
    b[5] = 0xE0;
    CHECK_EQ_INT(flv_avc_config_parse(b, n, &c, &why), -EINVAL);
    n = base_record(b);
    b[0] = 2;
    CHECK_EQ_INT(flv_avc_config_parse(b, n, &c, &why), -EINVAL);
    n = base_record(b);
    /* Every truncation before the end of the PPS fails (the last 4 bytes are the optional
     * high-profile extension, which we do not need). */
    for (size_t k = 0; k < n - 4; k++)
        CHECK_EQ_INT(flv_avc_config_parse(b, k, &c, &why), -EINVAL);
    CHECK_EQ_INT(flv_avc_config_parse(b, n, &c, &why), 0);

    /* An SPS cut before its size fields (the VUI after them is not read): fails cleanly. */
    for (size_t k = 0; k < 8; k++)
        CHECK_EQ_INT(h264_sps_parse(b + 8, k, &c), -EINVAL);
    /* All-zero SPS body: exp-Golomb with more than 31 leading zeros. */
    uint8_t zeros[64] = {0x67, 100, 0, 31};
    CHECK_EQ_INT(h264_sps_parse(zeros, sizeof(zeros), &c), -EINVAL);
}

static void test_nalu(void)
{
    /* Keyframe, NALU, cts = 67 ms, two NAL units of 3 and 2 bytes. */
    uint8_t b[] = {0x17, 0x01, 0x00, 0x00, 0x43, 0, 0, 0, 3, 0x65, 1, 2, 0, 0, 0, 2, 0x06, 5};
    struct flv_video v;
    CHECK_EQ_INT(flv_video_parse(b, sizeof(b), &v), 0);
    CHECK_EQ_INT(v.avc_type, FLV_AVC_NALU);
    CHECK_EQ_INT(v.cts, 67);
    CHECK_EQ_INT(v.frame_type, 1);
    CHECK_EQ_INT(v.size, 13);
    CHECK(flv_avc_frame_valid(v.data, v.size, 4));
    CHECK(!flv_avc_frame_valid(v.data, v.size - 1, 4)); /* NAL past the end */
    CHECK(!flv_avc_frame_valid(v.data, v.size, 2));
    uint8_t zero_len[] = {0, 0, 0, 0, 0x65};
    CHECK(!flv_avc_frame_valid(zero_len, sizeof(zero_len), 4));
    CHECK(!flv_avc_frame_valid(zero_len, 0, 4));

    /* Negative composition offset, inter frame. */
    uint8_t neg[] = {0x27, 0x01, 0xFF, 0xFF, 0xDF, 0, 0, 0, 1, 0x41};
    CHECK_EQ_INT(flv_video_parse(neg, sizeof(neg), &v), 0);
    CHECK_EQ_INT(v.cts, -33);
    CHECK_EQ_INT(v.frame_type, 2);
    CHECK_EQ_INT(flv_video_parse(neg, 4, &v), -EINVAL);
    CHECK_EQ_INT(flv_video_parse(neg, 0, &v), -EINVAL);

    /* HEVC (12, the non-standard id) and an enhanced-RTMP hvc1 header are recognised. */
    uint8_t hevc[] = {0x1C, 0, 0, 0, 0};
    CHECK_EQ_INT(flv_video_parse(hevc, sizeof(hevc), &v), 0);
    CHECK_EQ_INT(v.codec_id, 12);
    CHECK_STREQ(flv_video_codec_name(12), "HEVC");
    uint8_t ex[] = {0x90, 'h', 'v', 'c', '1'};
    CHECK_EQ_INT(flv_video_parse(ex, sizeof(ex), &v), 0);
    CHECK_EQ_INT(v.codec_id, -1);
    CHECK_STREQ(v.fourcc, "hvc1");
}

static void test_aac(void)
{
    struct aac_config c;
    uint8_t lc44[] = {0x12, 0x10}; /* AAC-LC 44100 Hz stereo */
    CHECK_EQ_INT(flv_aac_config_parse(lc44, 2, &c), 0);
    CHECK_EQ_INT(c.object_type, 2);
    CHECK_EQ_INT(c.sample_rate, 44100);
    CHECK_EQ_INT(c.channels, 2);
    uint8_t body[] = {0xAF, 0x00, 0x11, 0x90, 0x56, 0xE5, 0x00}; /* ffmpeg: 48000 Hz stereo */
    struct flv_audio a;
    CHECK_EQ_INT(flv_audio_parse(body, sizeof(body), &a), 0);
    CHECK_EQ_INT(a.format, FLV_AUDIO_AAC);
    CHECK_EQ_INT(a.aac_type, 0);
    CHECK_EQ_INT(flv_aac_config_parse(a.data, a.size, &c), 0);
    CHECK_EQ_INT(c.sample_rate, 48000);
    CHECK_EQ_INT(c.channels, 2);
    uint8_t mono[] = {0x12, 0x08};
    CHECK_EQ_INT(flv_aac_config_parse(mono, 2, &c), 0);
    CHECK_EQ_INT(c.channels, 1);
    uint8_t pce[] = {0x12, 0x00}; /* channel configuration 0 */
    CHECK_EQ_INT(flv_aac_config_parse(pce, 2, &c), -EINVAL);
    CHECK_EQ_INT(flv_aac_config_parse(lc44, 1, &c), -EINVAL);
    uint8_t bad_rate[] = {0x16, 0x90}; /* sampling index 13 (reserved) */
    CHECK_EQ_INT(flv_aac_config_parse(bad_rate, 2, &c), -EINVAL);
    uint8_t mp3[] = {0x2F, 0xFF};
    CHECK_EQ_INT(flv_audio_parse(mp3, 2, &a), 0);
    CHECK_EQ_INT(a.format, 2);
    CHECK_EQ_INT(flv_audio_parse(body, 1, &a), -EINVAL);
}

int main(void)
{
    test_real_configs();
    test_chroma_and_depth();
    test_bad_configs();
    test_nalu();
    test_aac();
    return test_report("test_flv");
}
