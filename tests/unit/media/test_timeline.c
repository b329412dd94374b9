/* The timeline rules shared by the packager and the recorder: which H.264 sources browsers can
 * decode (tl_video_playable). */
#include "media/timeline.h"
#include "test.h"

static bool playable(int profile, enum AVPixelFormat fmt, char *why, size_t n)
{
    AVCodecParameters *par = avcodec_parameters_alloc();
    par->codec_type = AVMEDIA_TYPE_VIDEO;
    par->codec_id = AV_CODEC_ID_H264;
    par->profile = profile;
    par->format = fmt;
    why[0] = 0;
    bool ok = tl_video_playable(par, why, n);
    avcodec_parameters_free(&par);
    return ok;
}

int main(void)
{
    char why[96];
    CHECK(playable(66 | (1 << 9), AV_PIX_FMT_YUV420P, why, sizeof(why))); /* Constrained Baseline */
    CHECK(playable(66, AV_PIX_FMT_YUV420P, why, sizeof(why)));
    CHECK(playable(77, AV_PIX_FMT_YUV420P, why, sizeof(why)));
    CHECK(playable(100, AV_PIX_FMT_YUV420P, why, sizeof(why)));
    CHECK(playable(100, AV_PIX_FMT_NONE, why, sizeof(why))); /* format unknown: not held */
    CHECK(!playable(244, AV_PIX_FMT_YUV444P, why, sizeof(why)));
    CHECK_STREQ(why, "H.264 High 4:4:4 Predictive, yuv444p");
    CHECK(!playable(122, AV_PIX_FMT_YUV422P, why, sizeof(why)));
    CHECK_STREQ(why, "H.264 High 4:2:2, yuv422p");
    CHECK(!playable(110, AV_PIX_FMT_YUV420P10LE, why, sizeof(why)));
    CHECK_STREQ(why, "H.264 High 10, yuv420p10le");
    CHECK(!playable(88, AV_PIX_FMT_YUV420P, why, sizeof(why)));
    CHECK(!playable(100, AV_PIX_FMT_YUV444P, why, sizeof(why))); /* the format decides too */

    /* the profile from the avcC when the parameters do not say */
    AVCodecParameters *par = avcodec_parameters_alloc();
    par->codec_type = AVMEDIA_TYPE_VIDEO;
    par->codec_id = AV_CODEC_ID_H264;
    /* the profile is unknown after avcodec_parameters_alloc */
    par->extradata = av_mallocz(8 + AV_INPUT_BUFFER_PADDING_SIZE);
    par->extradata_size = 8;
    par->extradata[0] = 1;
    par->extradata[1] = 244;
    CHECK(!tl_video_playable(par, why, sizeof(why)));
    par->extradata[1] = 100;
    CHECK(tl_video_playable(par, why, sizeof(why)));
    /* VP8 (WHIP): not played from HLS, whatever its parameters */
    par->codec_id = AV_CODEC_ID_VP8;
    par->format = AV_PIX_FMT_YUV420P;
    CHECK(!tl_video_playable(par, why, sizeof(why)));
    CHECK_STREQ(why, "vp8 video");
    /* not video: not this rule's business */
    par->codec_type = AVMEDIA_TYPE_AUDIO;
    par->codec_id = AV_CODEC_ID_AAC;
    par->profile = 1;
    CHECK(tl_video_playable(par, why, sizeof(why)));
    avcodec_parameters_free(&par);
    return test_report("test_timeline");
}
