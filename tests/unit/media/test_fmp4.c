/* The fragments fmp4.c writes, read back box by box: sample flags (every audio sample a sync
 * sample, video by its keyframe flag), tfhd without default sample flags, durations. And the
 * WHIP codecs: VP8 ('vp08' + 'vpcC', which FFmpeg 5.1's mp4 muxer cannot write itself) and Opus
 * ('Opus' + 'dOps'), read back and decoded by libavformat/libavcodec. */
#include "media/fmp4.h"

#include <libavformat/avformat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "media/boxes.h"
#include "packager/clip.h"
#include "test.h"

static struct clip clip;

/* The clip's first two seconds through one muxer, a fragment every 0.5 s, as RTMP ingest hands
 * them over: audio packets carry no key flag. */
static void test_sample_flags(void)
{
    struct fmp4_track tr[2] = {{clip.par[0], {1, 1000}}, {clip.par[1], {1, 1000}}};
    struct fmp4 *m = NULL;
    struct blob *init = NULL;
    CHECK_EQ_INT(fmp4_create(tr, 2, "test", &init, &m), 0);
    if (!m)
        return;
    struct buf all;
    buf_init(&all);
    buf_append(&all, init->data, init->len);
    int keys = 0, video = 0, audio = 0, audio_keyed = 0;
    int64_t next_flush = 500;
    for (int i = 0; i < clip.n && clip.pkts[i].pkt->dts < 2000; i++) {
        AVPacket *p = av_packet_clone(clip.pkts[i].pkt);
        p->duration = p->stream_index == 0 ? 33 : 23;
        if (p->dts < 0) {
            av_packet_free(&p);
            continue;
        }
        if (p->dts >= next_flush) {
            struct blob *frag = NULL;
            CHECK_EQ_INT(fmp4_flush(m, &frag), 0);
            if (frag)
                buf_append(&all, frag->data, frag->len);
            blob_unref(frag);
            next_flush += 500;
        }
        CHECK_EQ_INT(fmp4_write(m, p->stream_index, p), 0);
        if (p->stream_index == 0) {
            video++;
            keys += !!(p->flags & AV_PKT_FLAG_KEY);
        } else {
            audio++;
            audio_keyed += !!(p->flags & AV_PKT_FLAG_KEY);
        }
        av_packet_free(&p);
    }
    struct blob *frag = NULL;
    CHECK_EQ_INT(fmp4_flush(m, &frag), 0);
    if (frag)
        buf_append(&all, frag->data, frag->len);
    blob_unref(frag);
    CHECK_EQ_INT(audio_keyed, 0); /* as RTMP gives them */

    struct boxes b = {0};
    boxes_read(&b, buf_head(&all), buf_size(&all));
    CHECK_EQ_INT(b.fragments, 4);
    struct box_track *v = boxes_by_handler(&b, "vide"), *a = boxes_by_handler(&b, "soun");
    CHECK(v && a);
    if (v && a) {
        fprintf(stderr, "video: %d sync, %d non-sync; audio: %d sync, %d non-sync\n", v->sync,
                v->non_sync, a->sync, a->non_sync);
        CHECK_EQ_INT(v->sync, keys);
        CHECK_EQ_INT(v->non_sync, video - keys);
        CHECK_EQ_INT(a->sync, audio);
        CHECK_EQ_INT(a->non_sync, 0);
        /* tfhd: default-base-is-moof only, no default sample flags to override trun's */
        CHECK_EQ_INT(v->tfhd_flags, 0x020000);
        CHECK_EQ_INT(a->tfhd_flags, 0x020000);
        CHECK_EQ_INT(a->timescale, 44100);
    }
    buf_free(&all);
    blob_unref(init);
    fmp4_destroy(&m);
}

/* Whether the 4 bytes of type occur in p (n bytes). */
static bool has_type(const uint8_t *p, size_t n, const char *type)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if (memcmp(p + i, type, 4) == 0)
            return true;
    return false;
}

/* 2 s of 320x240 VP8 (libvpx, a keyframe every 30 frames) and a 48 kHz Opus track declared by
 * its 19-byte OpusHead (as rtc/depack_opus.c gives it; no packets: the init section's entry is
 * the point), muxed in 1 s fragments: the init section holds 'vp08' with its 'vpcC' (profile 0,
 * level 10, 8-bit) and 'Opus' with 'dOps', no 'vp09'; libavformat reads the file back as VP8
 * and Opus, and every frame decodes. */
static void test_vp8_opus(void)
{
    const AVCodec *enc = avcodec_find_encoder_by_name("libvpx");
    if (!enc) {
        fprintf(stderr, "test_vp8_opus: no libvpx encoder, skipped\n");
        return;
    }
    AVCodecContext *e = avcodec_alloc_context3(enc);
    e->width = 320;
    e->height = 240;
    e->pix_fmt = AV_PIX_FMT_YUV420P;
    e->time_base = (AVRational){1, 90000};
    e->framerate = (AVRational){30, 1};
    e->gop_size = 30;
    e->bit_rate = 300000;
    CHECK_EQ_INT(avcodec_open2(e, enc, NULL), 0);
    AVCodecParameters *vp = avcodec_parameters_alloc(), *op = avcodec_parameters_alloc();
    avcodec_parameters_from_context(vp, e);
    op->codec_type = AVMEDIA_TYPE_AUDIO;
    op->codec_id = AV_CODEC_ID_OPUS;
    op->sample_rate = 48000;
    av_channel_layout_default(&op->ch_layout, 2);
    static const uint8_t head[19] = {'O',  'p', 'u',  's',  'H', 'e', 'a', 'd', 1, 2,
                                     0x38, 1,   0x80, 0xbb, 0,   0,   0,   0,   0};
    op->extradata = av_mallocz(sizeof(head) + AV_INPUT_BUFFER_PADDING_SIZE);
    memcpy(op->extradata, head, sizeof(head));
    op->extradata_size = sizeof(head);
    struct fmp4_track tr[2] = {{vp, {1, 90000}}, {op, {1, 48000}}};
    struct fmp4 *m = NULL;
    struct blob *init = NULL;
    CHECK_EQ_INT(fmp4_create(tr, 2, "test", &init, &m), 0);
    if (!m)
        goto out;
    CHECK(has_type(init->data, init->len, "vp08") && has_type(init->data, init->len, "vpcC"));
    CHECK(!has_type(init->data, init->len, "vp09"));
    CHECK(has_type(init->data, init->len, "Opus") && has_type(init->data, init->len, "dOps"));
    struct buf all;
    buf_init(&all);
    buf_append(&all, init->data, init->len);
    AVFrame *f = av_frame_alloc();
    AVPacket *pkt = av_packet_alloc();
    int frames = 0, keys = 0;
    for (int i = 0; i <= 60; i++) {
        if (i < 60) {
            f->format = e->pix_fmt;
            f->width = e->width;
            f->height = e->height;
            av_frame_get_buffer(f, 0);
            for (int y = 0; y < f->height; y++)
                memset(f->data[0] + y * f->linesize[0], (y + i * 4) & 0xff, (size_t)f->width);
            memset(f->data[1], 128, (size_t)(f->linesize[1] * f->height / 2));
            memset(f->data[2], 128, (size_t)(f->linesize[2] * f->height / 2));
            f->pts = i * 3000;
        }
        CHECK_EQ_INT(avcodec_send_frame(e, i < 60 ? f : NULL), 0);
        av_frame_unref(f);
        while (avcodec_receive_packet(e, pkt) == 0) {
            pkt->duration = 3000;
            if (pkt->dts == 90000 || pkt->dts == 180000) { /* 1 s fragments */
                struct blob *frag = NULL;
                CHECK_EQ_INT(fmp4_flush(m, &frag), 0);
                if (frag)
                    buf_append(&all, frag->data, frag->len);
                blob_unref(frag);
            }
            CHECK_EQ_INT(fmp4_write(m, 0, pkt), 0);
            frames++;
            keys += !!(pkt->flags & AV_PKT_FLAG_KEY);
            av_packet_unref(pkt);
        }
    }
    struct blob *frag = NULL;
    CHECK_EQ_INT(fmp4_flush(m, &frag), 0);
    if (frag)
        buf_append(&all, frag->data, frag->len);
    blob_unref(frag);
    CHECK_EQ_INT(frames, 60);
    CHECK_EQ_INT(keys, 2);

    char path[] = "/tmp/test_fmp4_vp8_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, buf_head(&all), buf_size(&all)) == (ssize_t)buf_size(&all));
    close(fd);
    AVFormatContext *in = NULL;
    CHECK_EQ_INT(avformat_open_input(&in, path, NULL, NULL), 0);
    if (in && avformat_find_stream_info(in, NULL) >= 0 && in->nb_streams == 2) {
        const AVCodecParameters *v = in->streams[0]->codecpar, *a = in->streams[1]->codecpar;
        CHECK_EQ_INT(v->codec_id, AV_CODEC_ID_VP8);
        CHECK_EQ_INT(v->codec_tag, MKTAG('v', 'p', '0', '8'));
        CHECK_EQ_INT(v->width, 320);
        CHECK_EQ_INT(a->codec_id, AV_CODEC_ID_OPUS);
        CHECK_EQ_INT(a->extradata_size, 19);
        const AVCodec *dc = avcodec_find_decoder(AV_CODEC_ID_VP8);
        AVCodecContext *d = avcodec_alloc_context3(dc);
        avcodec_parameters_to_context(d, v);
        d->err_recognition = AV_EF_EXPLODE;
        CHECK_EQ_INT(avcodec_open2(d, dc, NULL), 0);
        int decoded = 0, read = 0;
        while (av_read_frame(in, pkt) >= 0) {
            if (pkt->stream_index == 0) {
                read++;
                CHECK_EQ_INT(avcodec_send_packet(d, pkt), 0);
                while (avcodec_receive_frame(d, f) == 0) {
                    decoded += f->width == 320 && f->height == 240;
                    av_frame_unref(f);
                }
            }
            av_packet_unref(pkt);
        }
        avcodec_send_packet(d, NULL);
        while (avcodec_receive_frame(d, f) == 0) {
            decoded += f->width == 320 && f->height == 240;
            av_frame_unref(f);
        }
        fprintf(stderr, "vp8: %d frames read back, %d decoded\n", read, decoded);
        CHECK_EQ_INT(read, 60);
        CHECK_EQ_INT(decoded, 60);
        avcodec_free_context(&d);
    } else {
        CHECK(!"the file opens with two streams");
    }
    avformat_close_input(&in);
    unlink(path);
    av_packet_free(&pkt);
    av_frame_free(&f);
    buf_free(&all);
out:
    blob_unref(init);
    fmp4_destroy(&m);
    avcodec_parameters_free(&vp);
    avcodec_parameters_free(&op);
    avcodec_free_context(&e);
}

int main(void)
{
    av_log_set_level(AV_LOG_ERROR);
    if (clip_make(&clip, 3, 30, 30, true) < 0) {
        fprintf(stderr, "test_fmp4: cannot encode the test clip (libx264 and aac needed)\n");
        return 1;
    }
    test_sample_flags();
    test_vp8_opus();
    clip_free(&clip);
    return test_report("test_fmp4");
}
