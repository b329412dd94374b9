/* The audio transcoder: 2 s of a 48 kHz stereo tone encoded as MP3 (libmp3lame, or MP2 where
 * LAME is missing) with RTMP's millisecond timestamps comes out as AAC-LC with an
 * AudioSpecificConfig, in exact 1024-sample steps of 1/48000, decodable, as long as the input
 * and not silent; a 500 ms hole in the source moves the output clock by the same. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "test.h"
#include "transcode/audio.h"

#define RATE 48000
#define SECONDS 2
#define MS ((AVRational){1, 1000})

/* Encodes SECONDS of a 440 Hz tone; packets get millisecond pts like RTMP's. */
static int make_source(AVPacket **pkts, int max, AVCodecParameters *par)
{
    const AVCodec *codec = avcodec_find_encoder_by_name("libmp3lame");
    if (!codec)
        codec = avcodec_find_encoder(AV_CODEC_ID_MP2);
    AVCodecContext *c = avcodec_alloc_context3(codec);
    c->sample_rate = RATE;
    av_channel_layout_default(&c->ch_layout, 2);
    c->sample_fmt = codec->sample_fmts[0];
    c->bit_rate = 128000;
    c->time_base = (AVRational){1, RATE};
    CHECK_EQ_INT(avcodec_open2(c, codec, NULL), 0);
    avcodec_parameters_from_context(par, c);
    AVFrame *f = av_frame_alloc();
    f->nb_samples = c->frame_size;
    f->format = c->sample_fmt;
    f->sample_rate = RATE;
    av_channel_layout_copy(&f->ch_layout, &c->ch_layout);
    av_frame_get_buffer(f, 0);
    int n = 0;
    int64_t s = 0;
    for (bool done = false; !done;) {
        bool last = s >= SECONDS * RATE;
        if (!last) {
            av_frame_make_writable(f);
            for (int i = 0; i < f->nb_samples; i++)
                for (int ch = 0; ch < 2; ch++) {
                    double v = 0.5 * sin(2 * M_PI * 440 * (double)(s + i) / RATE);
                    if (c->sample_fmt == AV_SAMPLE_FMT_S16P)
                        ((int16_t *)f->data[ch])[i] = (int16_t)(v * 32767);
                    else if (c->sample_fmt == AV_SAMPLE_FMT_S16)
                        ((int16_t *)f->data[0])[2 * i + ch] = (int16_t)(v * 32767);
                    else
                        ((float *)f->data[ch])[i] = (float)v;
                }
            f->pts = s;
            s += f->nb_samples;
        }
        CHECK_EQ_INT(avcodec_send_frame(c, last ? NULL : f), 0);
        AVPacket *p = av_packet_alloc();
        while (avcodec_receive_packet(c, p) == 0 && n < max) {
            p->pts = p->dts = av_rescale_q(p->pts, c->time_base, MS); /* RTMP: whole ms */
            pkts[n++] = p;
            p = av_packet_alloc();
        }
        av_packet_free(&p);
        done = last;
    }
    av_frame_free(&f);
    avcodec_free_context(&c);
    return n;
}

struct result {
    int packets;
    int64_t samples, first_pts, max_step_error, jump;
    double rms;
};

static void run(AVPacket **src, int n, const AVCodecParameters *par, int hole_from, int hole_to,
                struct result *r)
{
    struct audio_transcoder *t = NULL;
    CHECK_EQ_INT(audio_transcoder_create(par, MS, 0, &t), 0);
    const AVCodecParameters *out = audio_transcoder_par(t);
    CHECK_EQ_INT(out->codec_id, AV_CODEC_ID_AAC);
    CHECK_EQ_INT(out->sample_rate, RATE);
    CHECK_EQ_INT(out->ch_layout.nb_channels, 2);
    CHECK(out->extradata_size >= 2 && (out->extradata[0] >> 3) == 2); /* AAC-LC ASC */
    CHECK_EQ_INT(audio_transcoder_time_base(t).den, RATE);

    const AVCodec *dc = avcodec_find_decoder(AV_CODEC_ID_AAC);
    AVCodecContext *d = avcodec_alloc_context3(dc);
    avcodec_parameters_to_context(d, out);
    CHECK_EQ_INT(avcodec_open2(d, dc, NULL), 0);
    AVFrame *f = av_frame_alloc();
    AVPacket *p = av_packet_alloc();
    memset(r, 0, sizeof(*r));
    int64_t prev = INT64_MIN;
    double sum = 0;
    for (int i = 0; i <= n; i++) {
        if (i < n && i >= hole_from && i < hole_to)
            continue;
        CHECK_EQ_INT(audio_transcoder_send(t, i < n ? src[i] : NULL), 0);
        while (audio_transcoder_receive(t, p) == 0) {
            if (r->packets++ == 0)
                r->first_pts = p->pts;
            if (prev != INT64_MIN) {
                int64_t step = p->pts - prev;
                if (step > 1024 + 4800)
                    r->jump += step - 1024;
                else if (llabs(step - 1024) > r->max_step_error)
                    r->max_step_error = llabs(step - 1024);
            }
            prev = p->pts;
            CHECK_EQ_INT(avcodec_send_packet(d, p), 0);
            while (avcodec_receive_frame(d, f) == 0) {
                r->samples += f->nb_samples;
                for (int k = 0; k < f->nb_samples; k++)
                    sum += (double)((float *)f->data[0])[k] * ((float *)f->data[0])[k];
                av_frame_unref(f);
            }
            av_packet_unref(p);
        }
    }
    r->rms = r->samples ? sqrt(sum / (double)r->samples) : 0;
    av_packet_free(&p);
    av_frame_free(&f);
    avcodec_free_context(&d);
    audio_transcoder_destroy(&t);
    CHECK(t == NULL);
}

int main(void)
{
    av_log_set_level(AV_LOG_ERROR);
    AVPacket *src[400];
    AVCodecParameters *par = avcodec_parameters_alloc();
    int n = make_source(src, 400, par);
    CHECK(n > 50);
    struct result r;
    run(src, n, par, -1, -1, &r);
    CHECK_EQ_INT(r.max_step_error, 0); /* exact 1024-sample steps despite ms timestamps */
    CHECK_EQ_INT(r.jump, 0);
    CHECK(llabs(r.samples - SECONDS * RATE) <= 3 * 1024);
    CHECK(r.rms > 0.2 && r.rms < 0.5);            /* a 0.5 tone has an RMS of 0.354 */
    CHECK(llabs(r.first_pts) <= 2 * 1152 + 1024); /* from 0, less the codecs' priming */

    /* a 500 ms hole (about 20 MP3 frames of 24 ms) in the middle */
    int64_t hole_ms = src[n / 2 + 20]->pts - src[n / 2]->pts;
    run(src, n, par, n / 2, n / 2 + 20, &r);
    fprintf(stderr, "hole %lld ms: jump %lld samples, %lld samples out\n", (long long)hole_ms,
            (long long)r.jump, (long long)r.samples);
    CHECK(llabs(r.jump - hole_ms * RATE / 1000) <= 1024);
    CHECK(r.samples < (SECONDS * RATE) - hole_ms * RATE / 1000 + 3 * 1024);

    /* bad input */
    struct audio_transcoder *t = NULL;
    CHECK_EQ_INT(audio_transcoder_create(par, (AVRational){0, 1}, 0, &t), -EINVAL);
    AVCodecParameters *video = avcodec_parameters_alloc();
    video->codec_type = AVMEDIA_TYPE_VIDEO;
    CHECK_EQ_INT(audio_transcoder_create(video, MS, 0, &t), -EINVAL);
    CHECK(t == NULL);
    avcodec_parameters_free(&video);
    for (int i = 0; i < n; i++)
        av_packet_free(&src[i]);
    avcodec_parameters_free(&par);
    return test_report("test_audio");
}
