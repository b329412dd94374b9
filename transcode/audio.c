/* Any audio to AAC-LC, once per stream. See audio.h. */
#include "transcode/audio.h"

#include <errno.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libswresample/swresample.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/log.h"
#include "transcode/drain.h"

#define DEFAULT_AAC_BPS 128000
#define GAP_US 100000 /* a source gap longer than this restarts the output timestamps */

struct audio_transcoder {
    AVCodecContext *dec, *enc;
    AVCodecParameters *par; /* the encoder's */
    SwrContext *swr;
    AVAudioFifo *fifo;
    AVFrame *decoded, *frame;
    AVRational src_tb;
    int64_t next_pts;      /* of the next sample into the fifo, in 1/rate; INT64_MIN at first */
    int64_t expect_src_us; /* where the next decoded frame should start */
    int64_t undecodable;
    bool flushed;
    AVPacket *queue[64]; /* encoded, waiting for receive */
    int qhead, qlen;
};

static int open_decoder(struct audio_transcoder *t, const AVCodecParameters *src)
{
    const AVCodec *codec = avcodec_find_decoder(src->codec_id);
    if (!codec)
        return -ENOSYS;
    t->dec = avcodec_alloc_context3(codec);
    if (!t->dec)
        return AVERROR(ENOMEM);
    int rc = avcodec_parameters_to_context(t->dec, src);
    if (rc < 0)
        return rc;
    t->dec->pkt_timebase = t->src_tb;
    return avcodec_open2(t->dec, codec, NULL);
}

static int open_encoder(struct audio_transcoder *t, const AVCodecParameters *src, int64_t bps)
{
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_AAC);
    if (!codec)
        return -ENOSYS;
    AVCodecContext *c = t->enc = avcodec_alloc_context3(codec);
    if (!c)
        return AVERROR(ENOMEM);
    int rate = src->sample_rate >= 8000 && src->sample_rate <= 96000 ? src->sample_rate : 44100;
    int channels = src->ch_layout.nb_channels == 1 ? 1 : 2;
    c->sample_rate = rate;
    av_channel_layout_default(&c->ch_layout, channels);
    c->sample_fmt = AV_SAMPLE_FMT_FLTP;
    c->bit_rate = bps > 0 ? bps : DEFAULT_AAC_BPS;
    c->time_base = (AVRational){1, rate};
    c->profile = FF_PROFILE_AAC_LOW;
    c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER; /* the AudioSpecificConfig, for fMP4 */
    int rc = avcodec_open2(c, codec, NULL);
    if (rc < 0)
        return rc;
    t->par = avcodec_parameters_alloc();
    if (!t->par)
        return AVERROR(ENOMEM);
    return avcodec_parameters_from_context(t->par, c);
}

int audio_transcoder_create(const AVCodecParameters *src, AVRational src_tb, int64_t bit_rate,
                            struct audio_transcoder **out)
{
    *out = NULL;
    if (!src || src->codec_type != AVMEDIA_TYPE_AUDIO || src_tb.num <= 0 || src_tb.den <= 0)
        return -EINVAL;
    struct audio_transcoder *t = xcalloc(1, sizeof(*t));
    t->src_tb = src_tb;
    t->next_pts = INT64_MIN;
    int rc = open_decoder(t, src);
    if (rc == 0)
        rc = open_encoder(t, src, bit_rate);
    if (rc == 0) {
        t->fifo = av_audio_fifo_alloc(AV_SAMPLE_FMT_FLTP, t->enc->ch_layout.nb_channels, 4096);
        t->decoded = av_frame_alloc();
        t->frame = av_frame_alloc();
        if (!t->fifo || !t->decoded || !t->frame)
            rc = AVERROR(ENOMEM);
    }
    if (rc < 0) {
        audio_transcoder_destroy(&t);
        return rc;
    }
    *out = t;
    return 0;
}

void audio_transcoder_destroy(struct audio_transcoder **pt)
{
    struct audio_transcoder *t = *pt;
    if (!t)
        return;
    avcodec_free_context(&t->dec);
    avcodec_free_context(&t->enc);
    avcodec_parameters_free(&t->par);
    swr_free(&t->swr);
    if (t->fifo)
        av_audio_fifo_free(t->fifo);
    av_frame_free(&t->decoded);
    av_frame_free(&t->frame);
    for (; t->qlen > 0; t->qlen--, t->qhead = (t->qhead + 1) % 64)
        av_packet_free(&t->queue[t->qhead]);
    xfreep(pt);
}

const AVCodecParameters *audio_transcoder_par(const struct audio_transcoder *t)
{
    return t->par;
}

AVRational audio_transcoder_time_base(const struct audio_transcoder *t)
{
    return t->enc->time_base;
}

static int queue_packet(void *arg, AVPacket *p)
{
    struct audio_transcoder *t = arg;
    if (t->qlen == 64) { /* cannot happen: receive drains after every send */
        av_packet_free(&p);
        return 0;
    }
    t->queue[(t->qhead + t->qlen++) % 64] = p;
    return 0;
}

/* Moves every packet the encoder has ready into the queue. */
static int drain_encoder(struct audio_transcoder *t)
{
    return transcode_drain_packets(t->enc, queue_packet, t);
}

/* Encodes whole frames from the fifo (and the rest, padded by the encoder, when final). */
static int encode_fifo(struct audio_transcoder *t, bool final)
{
    int fs = t->enc->frame_size;
    while (av_audio_fifo_size(t->fifo) >= fs || (final && av_audio_fifo_size(t->fifo) > 0)) {
        int n = FFMIN(fs, av_audio_fifo_size(t->fifo));
        av_frame_unref(t->frame);
        t->frame->nb_samples = n;
        t->frame->format = t->enc->sample_fmt;
        t->frame->sample_rate = t->enc->sample_rate;
        av_channel_layout_copy(&t->frame->ch_layout, &t->enc->ch_layout);
        int rc = av_frame_get_buffer(t->frame, 0);
        if (rc < 0)
            return rc;
        av_audio_fifo_read(t->fifo, (void **)t->frame->data, n);
        t->frame->pts = t->next_pts;
        t->next_pts += n;
        rc = avcodec_send_frame(t->enc, t->frame);
        if (rc < 0)
            return rc;
        rc = drain_encoder(t);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Converts one decoded frame into the fifo, timing the output from the source's pts. */
static int resample(struct audio_transcoder *t, AVFrame *in)
{
    int rate = t->enc->sample_rate;
    if (!t->swr) {
        int rc = swr_alloc_set_opts2(&t->swr, &t->enc->ch_layout, t->enc->sample_fmt, rate,
                                     &in->ch_layout, in->format, in->sample_rate, 0, NULL);
        if (rc < 0 || (rc = swr_init(t->swr)) < 0)
            return rc;
    }
    int64_t src_us = in->pts == AV_NOPTS_VALUE
                         ? t->expect_src_us
                         : av_rescale_q(in->pts, t->src_tb, (AVRational){1, 1000000});
    if (t->next_pts == INT64_MIN || llabs(src_us - t->expect_src_us) > GAP_US) {
        /* The first frame, or a gap: the output clock restarts at the source's time. Samples
         * short of a whole frame are dropped (under 1024): the encoder takes a short frame only
         * as its last. */
        av_audio_fifo_reset(t->fifo);
        t->next_pts = av_rescale_q(src_us, (AVRational){1, 1000000}, t->enc->time_base);
    }
    t->expect_src_us = src_us + av_rescale(in->nb_samples, 1000000, in->sample_rate);
    int max = swr_get_out_samples(t->swr, in->nb_samples);
    uint8_t **buf = NULL;
    int rc = av_samples_alloc_array_and_samples(&buf, NULL, t->enc->ch_layout.nb_channels, max,
                                                t->enc->sample_fmt, 0);
    if (rc < 0)
        return rc;
    int n = swr_convert(t->swr, buf, max, (const uint8_t **)in->extended_data, in->nb_samples);
    if (n > 0)
        av_audio_fifo_write(t->fifo, (void **)buf, n);
    av_freep(&buf[0]);
    av_freep(&buf);
    return n < 0 ? n : encode_fifo(t, false);
}

static int resample_decoded(void *t, AVFrame *in)
{
    return resample(t, in);
}

static int drain_decoder(struct audio_transcoder *t)
{
    return transcode_drain_frames(t->dec, t->decoded, resample_decoded, t);
}

int audio_transcoder_send(struct audio_transcoder *t, const AVPacket *pkt)
{
    if (t->flushed)
        return -EINVAL;
    if (!pkt) {
        t->flushed = true;
        avcodec_send_packet(t->dec, NULL);
        int rc = drain_decoder(t);
        if (rc == 0 && t->next_pts != INT64_MIN)
            rc = encode_fifo(t, true);
        if (rc == 0 && (rc = avcodec_send_frame(t->enc, NULL)) == 0)
            rc = drain_encoder(t);
        return rc;
    }
    int rc = avcodec_send_packet(t->dec, pkt);
    if (rc < 0) {
        if (t->undecodable++ % 100 == 0)
            log_warn("transcode", NULL, "audio packet not decodable (%s); skipped", av_err2str(rc));
        return 0;
    }
    return drain_decoder(t);
}

int audio_transcoder_receive(struct audio_transcoder *t, AVPacket *out)
{
    if (t->qlen == 0)
        return -EAGAIN;
    AVPacket *p = t->queue[t->qhead];
    t->qhead = (t->qhead + 1) % 64;
    t->qlen--;
    av_packet_move_ref(out, p);
    av_packet_free(&p);
    return 0;
}
