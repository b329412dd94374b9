/* Shared timeline rules of the packager's and the recorder's sinks. See timeline.h. */
#include "media/timeline.h"

#include <libavutil/pixdesc.h>
#include <stdio.h>
#include <stdlib.h>

bool tl_track_muxable(const struct hub_track *ht, bool have_video, bool have_audio, bool *video,
                      int64_t *default_dur)
{
    const AVCodecParameters *par = ht->par;
    if (par->codec_type == AVMEDIA_TYPE_VIDEO && par->codec_id == AV_CODEC_ID_H264 &&
        par->extradata_size > 0 && !have_video) {
        AVRational fr = ht->frame_rate.num > 0 ? ht->frame_rate : (AVRational){30, 1};
        *video = true;
        *default_dur = av_rescale_q(1, av_inv_q(fr), ht->time_base);
        return true;
    }
    if (par->codec_type == AVMEDIA_TYPE_AUDIO && par->codec_id == AV_CODEC_ID_AAC &&
        par->extradata_size > 0 && !have_audio) {
        int rate = par->sample_rate > 0 ? par->sample_rate : 44100;
        *video = false;
        *default_dur = av_rescale_q(1024, (AVRational){1, rate}, ht->time_base);
        return true;
    }
    return false;
}

bool tl_video_playable(const AVCodecParameters *par, char *why, size_t n)
{
    if (par->codec_type != AVMEDIA_TYPE_VIDEO)
        return true;
    if (par->codec_id != AV_CODEC_ID_H264) {
        /* VP8 (WHIP): MSE plays it in WebM only, and HLS players not at all */
        snprintf(why, n, "%s video", avcodec_get_name(par->codec_id));
        return false;
    }
    int profile = par->profile;
    if (profile < 0 && par->extradata_size > 1 && par->extradata[0] == 1)
        profile = par->extradata[1];             /* avcC: AVCProfileIndication */
    int idc = profile < 0 ? -1 : profile & 0xFF; /* without FFmpeg's constrained/intra flags */
    bool profile_ok = idc < 0 || idc == 66 || idc == 77 || idc == 100;
    enum AVPixelFormat f = par->format;
    bool format_ok = f == AV_PIX_FMT_NONE || f == AV_PIX_FMT_YUV420P || f == AV_PIX_FMT_YUVJ420P;
    if (profile_ok && format_ok)
        return true;
    const char *pname = avcodec_profile_name(AV_CODEC_ID_H264, profile);
    const char *fname = f == AV_PIX_FMT_NONE ? NULL : av_get_pix_fmt_name(f);
    char pbuf[24];
    if (!pname) {
        snprintf(pbuf, sizeof(pbuf), "profile %d", idc);
        pname = pbuf;
    }
    snprintf(why, n, "H.264 %s%s%s", pname, fname ? ", " : "", fname ? fname : "");
    return false;
}

int64_t tl_dts_us(const AVPacket *in, AVRational tb)
{
    int64_t dts = in->dts != AV_NOPTS_VALUE ? in->dts : in->pts;
    return dts == AV_NOPTS_VALUE ? INT64_MIN : av_rescale_q(dts, tb, (AVRational){1, 1000000});
}

enum tl_drop tl_shift(const AVPacket *in, int64_t offset, int64_t *last_dts, AVPacket **out)
{
    *out = NULL;
    int64_t dts = in->dts != AV_NOPTS_VALUE ? in->dts : in->pts;
    if (dts == AV_NOPTS_VALUE)
        return TL_NO_TIMESTAMP;
    int64_t pts = in->pts != AV_NOPTS_VALUE ? in->pts : dts;
    dts -= offset;
    pts -= offset;
    if (dts < 0)
        return TL_BEFORE_START;
    if (*last_dts != INT64_MIN && dts <= *last_dts)
        return TL_NOT_INCREASING;
    AVPacket *p = av_packet_clone(in);
    if (!p)
        abort(); /* out of memory, as in xmalloc */
    p->dts = dts;
    p->pts = pts < dts ? dts : pts;
    p->duration = 0;
    *last_dts = dts;
    *out = p;
    return TL_KEEP;
}
