/* A synthetic test clip for the packager tests: H.264 (libx264, fixed GOP, B-frames) and AAC
 * (FFmpeg's encoder) made from generated frames, shaped the way RTMP ingest hands them to the
 * hub: avcC extradata with length-prefixed NAL units, AudioSpecificConfig, times in ms. */
#ifndef KIBITKA_TEST_CLIP_H
#define KIBITKA_TEST_CLIP_H

#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct clip_packet {
    AVPacket *pkt; /* stream_index is the hub track: 0 video, 1 audio; times in 1/1000 */
};

struct clip {
    AVCodecParameters *par[2]; /* video, audio (NULL when no audio) */
    struct clip_packet *pkts;  /* in dts order */
    int n, cap;
    int video_frames, audio_frames;
};

/* Start of the next Annex B NAL unit at or after *pos; sets *len to its length. */
static const uint8_t *clip_next_nal(const uint8_t *p, int size, int *pos, int *len)
{
    int i = *pos;
    while (i + 3 <= size && !(p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1))
        i++;
    if (i + 3 > size)
        return NULL;
    int start = i + 3, j = start;
    while (j + 3 <= size && !(p[j] == 0 && p[j + 1] == 0 && (p[j + 2] == 1 || p[j + 2] == 0)))
        j++;
    if (j + 3 > size)
        j = size;
    *pos = j;
    *len = j - start;
    return p + start;
}

/* Annex B SPS+PPS to an avcC record. */
static void clip_avcc(AVCodecParameters *par, const uint8_t *ex, int size)
{
    const uint8_t *sps = NULL, *pps = NULL, *nal;
    int sps_len = 0, pps_len = 0, pos = 0, len;
    while ((nal = clip_next_nal(ex, size, &pos, &len))) {
        if ((nal[0] & 0x1f) == 7 && !sps)
            sps = nal, sps_len = len;
        if ((nal[0] & 0x1f) == 8 && !pps)
            pps = nal, pps_len = len;
    }
    int n = 11 + sps_len + pps_len;
    uint8_t *a = av_mallocz((size_t)n + AV_INPUT_BUFFER_PADDING_SIZE);
    uint8_t head[6] = {1, sps[1], sps[2], sps[3], 0xff, 0xe1};
    memcpy(a, head, 6);
    a[6] = (uint8_t)(sps_len >> 8), a[7] = (uint8_t)sps_len;
    memcpy(a + 8, sps, (size_t)sps_len);
    a[8 + sps_len] = 1;
    a[9 + sps_len] = (uint8_t)(pps_len >> 8), a[10 + sps_len] = (uint8_t)pps_len;
    memcpy(a + 11 + sps_len, pps, (size_t)pps_len);
    av_freep(&par->extradata);
    par->extradata = a;
    par->extradata_size = n;
}

/* An Annex B packet to 4-byte length prefixes, times to ms. */
static void clip_add(struct clip *c, const AVPacket *in, int track, AVRational tb)
{
    AVPacket *p = av_packet_alloc();
    if (track == 0) {
        int pos = 0, len, total = 0;
        const uint8_t *nal;
        while ((nal = clip_next_nal(in->data, in->size, &pos, &len)))
            total += 4 + len;
        av_new_packet(p, total);
        uint8_t *w = p->data;
        pos = 0;
        while ((nal = clip_next_nal(in->data, in->size, &pos, &len))) {
            w[0] = (uint8_t)(len >> 24), w[1] = (uint8_t)(len >> 16);
            w[2] = (uint8_t)(len >> 8), w[3] = (uint8_t)len;
            memcpy(w + 4, nal, (size_t)len);
            w += 4 + len;
        }
    } else {
        av_new_packet(p, in->size);
        memcpy(p->data, in->data, (size_t)in->size);
    }
    /* RTMP ingest flags video keyframes only (FLV has no key flag for audio). */
    p->flags = track == 0 ? in->flags : 0;
    p->stream_index = track;
    p->pts = av_rescale_q(in->pts, tb, (AVRational){1, 1000});
    p->dts = av_rescale_q(in->dts, tb, (AVRational){1, 1000});
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->pkts = realloc(c->pkts, sizeof(*c->pkts) * (size_t)c->cap);
    }
    c->pkts[c->n++].pkt = p;
}

static void clip_drain(struct clip *c, AVCodecContext *enc, int track)
{
    AVPacket *pkt = av_packet_alloc();
    while (avcodec_receive_packet(enc, pkt) == 0) {
        clip_add(c, pkt, track, enc->time_base);
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
}

static int clip_video(struct clip *c, int frames, int fps, int gop)
{
    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    if (!codec)
        return -1;
    AVCodecContext *enc = avcodec_alloc_context3(codec);
    enc->width = 160, enc->height = 96;
    enc->pix_fmt = AV_PIX_FMT_YUV420P;
    enc->time_base = (AVRational){1, fps};
    enc->framerate = (AVRational){fps, 1};
    enc->gop_size = gop, enc->keyint_min = gop, enc->max_b_frames = 2;
    enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    av_opt_set(enc->priv_data, "preset", "ultrafast", 0);
    av_opt_set(enc->priv_data, "x264-params", "scenecut=0:bframes=2:threads=1", 0);
    if (avcodec_open2(enc, codec, NULL) < 0)
        return -1;
    AVFrame *f = av_frame_alloc();
    f->format = enc->pix_fmt, f->width = enc->width, f->height = enc->height;
    av_frame_get_buffer(f, 0);
    for (int i = 0; i <= frames; i++) {
        if (i < frames) {
            av_frame_make_writable(f);
            for (int y = 0; y < f->height; y++)
                for (int x = 0; x < f->width; x++)
                    f->data[0][y * f->linesize[0] + x] = (uint8_t)(x + y + i * 3);
            for (int y = 0; y < f->height / 2; y++) {
                memset(f->data[1] + y * f->linesize[1], 128 + (i % 40), (size_t)f->width / 2);
                memset(f->data[2] + y * f->linesize[2], 100, (size_t)f->width / 2);
            }
            f->pts = i;
        }
        avcodec_send_frame(enc, i < frames ? f : NULL);
        clip_drain(c, enc, 0);
    }
    c->par[0] = avcodec_parameters_alloc();
    avcodec_parameters_from_context(c->par[0], enc);
    clip_avcc(c->par[0], enc->extradata, enc->extradata_size);
    c->video_frames = frames;
    av_frame_free(&f);
    avcodec_free_context(&enc);
    return 0;
}

static int clip_audio(struct clip *c, double seconds)
{
    const AVCodec *codec = avcodec_find_encoder_by_name("aac");
    if (!codec)
        return -1;
    AVCodecContext *enc = avcodec_alloc_context3(codec);
    enc->sample_rate = 44100;
    enc->sample_fmt = AV_SAMPLE_FMT_FLTP;
    av_channel_layout_default(&enc->ch_layout, 2);
    enc->bit_rate = 64000;
    enc->time_base = (AVRational){1, 44100};
    if (avcodec_open2(enc, codec, NULL) < 0)
        return -1;
    AVFrame *f = av_frame_alloc();
    f->format = enc->sample_fmt, f->nb_samples = enc->frame_size;
    f->sample_rate = enc->sample_rate;
    av_channel_layout_copy(&f->ch_layout, &enc->ch_layout);
    av_frame_get_buffer(f, 0);
    int frames = (int)(seconds * 44100 / enc->frame_size);
    for (int i = 0; i <= frames; i++) {
        if (i < frames) {
            av_frame_make_writable(f);
            for (int ch = 0; ch < 2; ch++) {
                float *s = (float *)f->data[ch];
                for (int k = 0; k < f->nb_samples; k++)
                    s[k] = 0.3f *
                           sinf((float)(i * f->nb_samples + k) * 440.0f * 6.2831853f / 44100.0f);
            }
            f->pts = (int64_t)i * enc->frame_size;
        }
        avcodec_send_frame(enc, i < frames ? f : NULL);
        clip_drain(c, enc, 1);
    }
    c->par[1] = avcodec_parameters_alloc();
    avcodec_parameters_from_context(c->par[1], enc);
    c->audio_frames = frames;
    av_frame_free(&f);
    avcodec_free_context(&enc);
    return 0;
}

static int clip_cmp(const void *a, const void *b)
{
    const AVPacket *x = ((const struct clip_packet *)a)->pkt;
    const AVPacket *y = ((const struct clip_packet *)b)->pkt;
    if (x->dts != y->dts)
        return x->dts < y->dts ? -1 : 1;
    return x->stream_index - y->stream_index;
}

/* seconds of video at fps with a keyframe every gop frames, plus AAC when audio. */
static int clip_make(struct clip *c, double seconds, int fps, int gop, bool audio)
{
    memset(c, 0, sizeof(*c));
    if (clip_video(c, (int)(seconds * fps) + 1, fps, gop) < 0)
        return -1;
    if (audio && clip_audio(c, seconds) < 0)
        return -1;
    qsort(c->pkts, (size_t)c->n, sizeof(*c->pkts), clip_cmp);
    return 0;
}

static void clip_free(struct clip *c)
{
    for (int i = 0; i < c->n; i++)
        av_packet_free(&c->pkts[i].pkt);
    free(c->pkts);
    avcodec_parameters_free(&c->par[0]);
    avcodec_parameters_free(&c->par[1]);
}

#endif
