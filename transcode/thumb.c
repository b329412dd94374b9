/* See thumb.h. */
#include "transcode/thumb.h"

#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

/* Opens a decoder for par with one thread: one picture does not pay for a thread pool. */
static int open_decoder(const AVCodecParameters *par, AVCodecContext **out)
{
    *out = NULL;
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    if (!codec)
        return AVERROR_DECODER_NOT_FOUND;
    AVCodecContext *c = avcodec_alloc_context3(codec);
    if (!c)
        return AVERROR(ENOMEM);
    int rc = avcodec_parameters_to_context(c, par);
    if (rc >= 0) {
        c->thread_count = 1;
        rc = avcodec_open2(c, codec, NULL);
    }
    if (rc < 0) {
        avcodec_free_context(&c);
        return rc;
    }
    *out = c;
    return 0;
}

/* Sends the keyframe and drains: a decoder with delay gives its picture at the flush. */
static int decode_one(AVCodecContext *dec, const AVPacket *key, AVFrame *f)
{
    int rc = avcodec_send_packet(dec, key);
    if (rc < 0)
        return rc;
    rc = avcodec_receive_frame(dec, f);
    if (rc != AVERROR(EAGAIN))
        return rc;
    avcodec_send_packet(dec, NULL);
    rc = avcodec_receive_frame(dec, f);
    return rc == AVERROR_EOF ? AVERROR(EAGAIN) : rc;
}

static void fit(int sw, int sh, int max_w, int *w, int *h)
{
    int tw = sw > max_w ? max_w : sw;
    int th = (int)((int64_t)sh * tw / (sw > 0 ? sw : 1));
    *w = (tw & ~1) > 0 ? (tw & ~1) : 2;
    *h = (th & ~1) > 0 ? (th & ~1) : 2;
}

/* Scales src into a new YUVJ420P frame of w x h. */
static int scale(const AVFrame *src, int w, int h, AVFrame **out)
{
    *out = NULL;
    struct SwsContext *sws = sws_getContext(src->width, src->height, src->format, w, h,
                                            AV_PIX_FMT_YUVJ420P, SWS_BILINEAR, NULL, NULL, NULL);
    if (!sws)
        return AVERROR(EINVAL);
    AVFrame *dst = av_frame_alloc();
    dst->format = AV_PIX_FMT_YUVJ420P;
    dst->width = w;
    dst->height = h;
    int rc = av_frame_get_buffer(dst, 0);
    if (rc >= 0)
        rc = sws_scale(sws, (const uint8_t *const *)src->data, src->linesize, 0, src->height,
                       dst->data, dst->linesize);
    sws_freeContext(sws);
    if (rc < 0) {
        av_frame_free(&dst);
        return rc;
    }
    *out = dst;
    return 0;
}

static int encode_jpeg(const AVFrame *pic, struct blob **out)
{
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    if (!codec)
        return AVERROR_ENCODER_NOT_FOUND;
    AVCodecContext *c = avcodec_alloc_context3(codec);
    c->width = pic->width;
    c->height = pic->height;
    c->pix_fmt = AV_PIX_FMT_YUVJ420P;
    c->time_base = (AVRational){1, 25};
    c->flags |= AV_CODEC_FLAG_QSCALE;
    c->global_quality = FF_QP2LAMBDA * 5; /* q 5 of 2..31: small and clean at 320 px */
    c->thread_count = 1;
    AVPacket *p = av_packet_alloc();
    int rc = avcodec_open2(c, codec, NULL);
    if (rc >= 0)
        rc = avcodec_send_frame(c, pic);
    if (rc >= 0)
        rc = avcodec_receive_packet(c, p);
    if (rc >= 0)
        *out = blob_create(p->data, (size_t)p->size);
    av_packet_free(&p);
    avcodec_free_context(&c);
    return rc < 0 ? rc : 0;
}

int thumb_make(const AVCodecParameters *par, const AVPacket *key, int max_width, int *w, int *h,
               struct blob **out)
{
    *out = NULL;
    AVCodecContext *dec = NULL;
    AVFrame *f = av_frame_alloc(), *small = NULL;
    int rc = open_decoder(par, &dec);
    if (rc >= 0)
        rc = decode_one(dec, key, f);
    if (rc >= 0) {
        fit(f->width, f->height, max_width, w, h);
        rc = scale(f, *w, *h, &small);
    }
    if (rc >= 0)
        rc = encode_jpeg(small, out);
    av_frame_free(&small);
    av_frame_free(&f);
    avcodec_free_context(&dec);
    return rc < 0 ? rc : 0;
}
