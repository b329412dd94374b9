/* FLV audio/video message bodies (RTMP message types 8 and 9) -> codec configuration and frames.
 *
 * Only H.264 (video codec id 7) and AAC (sound format 10) are accepted; anything else is reported
 * with its name so the session can refuse the publish with a clear reason. Every parser here
 * reads untrusted bytes and checks each length against the body. Nothing is allocated except
 * where noted; returned pointers point into the body given. */
#ifndef KIBITKA_INGEST_RTMP_FLV_H
#define KIBITKA_INGEST_RTMP_FLV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media/h264.h" /* struct avc_config, h264_sps_parse */

#define FLV_VIDEO_AVC 7
#define FLV_AUDIO_MP3 2
#define FLV_AUDIO_AAC 10

enum flv_avc_type { FLV_AVC_CONFIG = 0, FLV_AVC_NALU = 1, FLV_AVC_END = 2 };

struct flv_video {
    int frame_type; /* 1 keyframe, 2 inter, 5 info/command */
    int codec_id;   /* 7 = AVC; for enhanced RTMP headers, -1 and fourcc is set */
    char fourcc[5]; /* enhanced RTMP (ExVideoTagHeader) codec, e.g. "hvc1" */
    int avc_type;   /* enum flv_avc_type */
    int32_t cts;    /* composition time offset, ms (pts = dts + cts) */
    const uint8_t *data;
    size_t size;
};

struct flv_audio {
    int format;   /* 10 = AAC */
    int aac_type; /* 0 AudioSpecificConfig, 1 raw frame */
    const uint8_t *data;
    size_t size;
};

/* Parses the video tag header. -EINVAL when the body is too short for it. */
int flv_video_parse(const uint8_t *p, size_t n, struct flv_video *v);
int flv_audio_parse(const uint8_t *p, size_t n, struct flv_audio *a);
/* The sample rate and channel count from an MPEG audio (MP3) frame header at p: 0, or -EINVAL
 * when p does not start with a valid MPEG-1/2/2.5 layer I-III header. */
int flv_mp3_header_parse(const uint8_t *p, size_t n, int *sample_rate, int *channels);
/* "H.264", "HEVC", "VP6" ... for log lines and refusals. */
const char *flv_video_codec_name(int codec_id);
const char *flv_audio_codec_name(int format);

/* Validates an AVCDecoderConfigurationRecord (version 1; 1..31 SPS and the PPS count with every
 * length nonzero and inside the body) and parses its first SPS. Returns 0, or -EINVAL with a
 * reason in why (a static string). */
int flv_avc_config_parse(const uint8_t *p, size_t n, struct avc_config *c, const char **why);
/* True when an AVCC frame is a sequence of nonzero NAL lengths that exactly fill it. */
bool flv_avc_frame_valid(const uint8_t *p, size_t n, int nal_length_size);

struct aac_config {
    int object_type; /* 2 = AAC-LC, 5 = HE-AAC (SBR), 29 = HE-AACv2 */
    int sample_rate;
    int channels;
};

/* Parses an AudioSpecificConfig. 0 or -EINVAL (unsupported channel configuration 0 included). */
int flv_aac_config_parse(const uint8_t *p, size_t n, struct aac_config *c);
const char *aac_object_name(int object_type);

#endif
