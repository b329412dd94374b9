#include "ingest/rtmp/flv.h"

#include <errno.h>
#include <string.h>

#include "media/bits.h"

static uint32_t be(const uint8_t *p, int bytes)
{
    uint32_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

int flv_video_parse(const uint8_t *p, size_t n, struct flv_video *v)
{
    memset(v, 0, sizeof(*v));
    v->avc_type = -1;
    if (n < 1)
        return -EINVAL;
    v->frame_type = (p[0] >> 4) & 7;
    if (p[0] & 0x80) { /* enhanced RTMP: IsExHeader, then a FourCC */
        if (n < 5)
            return -EINVAL;
        v->codec_id = -1;
        memcpy(v->fourcc, p + 1, 4);
        for (int i = 0; i < 4; i++)
            if (v->fourcc[i] < 0x20 || v->fourcc[i] > 0x7E)
                v->fourcc[i] = '?';
        return 0;
    }
    v->codec_id = p[0] & 0x0F;
    if (v->codec_id != FLV_VIDEO_AVC || v->frame_type == 5) {
        v->data = p + 1;
        v->size = n - 1;
        return 0;
    }
    if (n < 5)
        return -EINVAL;
    v->avc_type = p[1];
    uint32_t cts = be(p + 2, 3);
    v->cts = (int32_t)(cts ^ 0x800000) - 0x800000; /* sign-extend 24 bits */
    v->data = p + 5;
    v->size = n - 5;
    return 0;
}

int flv_audio_parse(const uint8_t *p, size_t n, struct flv_audio *a)
{
    memset(a, 0, sizeof(*a));
    a->aac_type = -1;
    if (n < 1)
        return -EINVAL;
    a->format = p[0] >> 4;
    if (a->format != FLV_AUDIO_AAC) {
        a->data = p + 1;
        a->size = n - 1;
        return 0;
    }
    if (n < 2)
        return -EINVAL;
    a->aac_type = p[1];
    a->data = p + 2;
    a->size = n - 2;
    return 0;
}

int flv_mp3_header_parse(const uint8_t *p, size_t n, int *sample_rate, int *channels)
{
    static const int rates[3] = {44100, 48000, 32000}; /* MPEG-1; halved for 2, quartered 2.5 */
    if (n < 4 || p[0] != 0xff || (p[1] & 0xe0) != 0xe0)
        return -EINVAL;
    int version = (p[1] >> 3) & 3; /* 0: 2.5, 1: reserved, 2: 2, 3: 1 */
    int layer = (p[1] >> 1) & 3;   /* 0: reserved */
    int bitrate = p[2] >> 4, rate = (p[2] >> 2) & 3;
    if (version == 1 || layer == 0 || bitrate == 15 || rate == 3)
        return -EINVAL;
    *sample_rate = rates[rate] >> (version == 3 ? 0 : version == 2 ? 1 : 2);
    *channels = (p[3] >> 6) == 3 ? 1 : 2;
    return 0;
}

const char *flv_video_codec_name(int codec_id)
{
    static const char *names[] = {NULL,
                                  "JPEG",
                                  "Sorenson H.263",
                                  "Screen video",
                                  "VP6",
                                  "VP6 alpha",
                                  "Screen video 2",
                                  "H.264",
                                  NULL,
                                  NULL,
                                  NULL,
                                  NULL,
                                  "HEVC",
                                  "AV1"};
    if (codec_id >= 0 && codec_id < (int)(sizeof(names) / sizeof(names[0])) && names[codec_id])
        return names[codec_id];
    return "unknown";
}

const char *flv_audio_codec_name(int format)
{
    static const char *names[16] = {"Linear PCM",
                                    "ADPCM",
                                    "MP3",
                                    "Linear PCM LE",
                                    "Nellymoser 16 kHz",
                                    "Nellymoser 8 kHz",
                                    "Nellymoser",
                                    "G.711 A-law",
                                    "G.711 mu-law",
                                    "enhanced (FourCC)",
                                    "AAC",
                                    "Speex",
                                    "reserved",
                                    "reserved",
                                    "MP3 8 kHz",
                                    "device-specific"};
    return format >= 0 && format < 16 ? names[format] : "unknown";
}

/* Walks count parameter sets of 2-byte length + bytes; each nonzero and inside the body. */
static int walk_sets(const uint8_t *p, size_t n, size_t *pos, int count, const char **why)
{
    for (int i = 0; i < count; i++) {
        if (n - *pos < 2) {
            *why = "parameter set length past the end of the tag";
            return -EINVAL;
        }
        size_t len = be(p + *pos, 2);
        *pos += 2;
        if (len == 0) {
            *why = "zero-length parameter set";
            return -EINVAL;
        }
        if (len > n - *pos) {
            *why = "parameter set past the end of the tag";
            return -EINVAL;
        }
        *pos += len;
    }
    return 0;
}

int flv_avc_config_parse(const uint8_t *p, size_t n, struct avc_config *c, const char **why)
{
    memset(c, 0, sizeof(*c));
    *why = "record shorter than its 7-byte header";
    if (n < 7)
        return -EINVAL;
    *why = "configurationVersion is not 1";
    if (p[0] != 1)
        return -EINVAL;
    *why = "lengthSizeMinusOne is 2 (3-byte NAL lengths)";
    c->nal_length_size = (p[4] & 3) + 1;
    if (c->nal_length_size == 3)
        return -EINVAL;
    int nsps = p[5] & 0x1F;
    *why = "no SPS";
    if (nsps == 0)
        return -EINVAL;
    size_t pos = 6;
    if (walk_sets(p, n, &pos, nsps, why) < 0)
        return -EINVAL;
    *why = "no PPS";
    if (pos >= n || p[pos] == 0)
        return -EINVAL;
    int npps = p[pos++];
    if (walk_sets(p, n, &pos, npps, why) < 0)
        return -EINVAL;
    *why = "SPS does not parse";
    if (h264_sps_parse(p + 8, be(p + 6, 2), c) < 0)
        return -EINVAL;
    *why = NULL;
    return 0;
}

bool flv_avc_frame_valid(const uint8_t *p, size_t n, int nal_length_size)
{
    size_t pos = 0;
    if (n == 0 || nal_length_size < 1 || nal_length_size > 4)
        return false;
    while (pos < n) {
        if (n - pos < (size_t)nal_length_size)
            return false;
        size_t len = be(p + pos, nal_length_size);
        pos += (size_t)nal_length_size;
        if (len == 0 || len > n - pos)
            return false;
        pos += len;
    }
    return true;
}

static const int aac_rates[13] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                  22050, 16000, 12000, 11025, 8000,  7350};

int flv_aac_config_parse(const uint8_t *p, size_t n, struct aac_config *c)
{
    struct bits b;
    bits_init(&b, p, n);
    memset(c, 0, sizeof(*c));
    c->object_type = (int)bits_get(&b, 5);
    if (c->object_type == 31)
        c->object_type = 32 + (int)bits_get(&b, 6);
    uint32_t idx = bits_get(&b, 4);
    if (idx == 15)
        c->sample_rate = (int)bits_get(&b, 24);
    else if (idx < 13)
        c->sample_rate = aac_rates[idx];
    uint32_t chan = bits_get(&b, 4);
    if (b.err || c->object_type == 0 || c->sample_rate <= 0 || chan == 0 || chan > 7)
        return -EINVAL; /* channel configuration 0 (a PCE) is not supported */
    c->channels = chan == 7 ? 8 : (int)chan;
    return 0;
}

const char *aac_object_name(int object_type)
{
    switch (object_type) {
    case 1:
        return "AAC Main";
    case 2:
        return "AAC-LC";
    case 5:
        return "HE-AAC";
    case 29:
        return "HE-AACv2";
    default:
        return "AAC";
    }
}
