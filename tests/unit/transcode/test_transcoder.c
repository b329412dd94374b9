/* The transcoder end to end: a synthetic 1080p H.264 source (made here with libx264, B-frames on,
 * keyframes at irregular places) goes through the default 720p/480p/360p ladder; every rung must
 * decode at its advertised size, have one packet per source frame, and keyframes exactly at the
 * source keyframes' pts. Leaks are LeakSanitizer's job. */
#include <errno.h>
#include <libavutil/opt.h>

#include "test.h"
#include "transcode/transcoder.h"

#define W 1920
#define H 1080
#define NFRAMES 60
#define TB ((AVRational){1, 1000}) /* RTMP's time base */

static bool is_source_key(int i)
{
    return i == 0 || i == 25 || i == 40; /* irregular on purpose */
}

#include "transcode/source.h"

/* Decodes a rung's packets; returns the frame count, checking each frame's size. */
static int decode_rung(const AVCodecParameters *par, AVPacket **pkts, int n)
{
    const AVCodec *codec = avcodec_find_decoder(AV_CODEC_ID_H264);
    AVCodecContext *d = avcodec_alloc_context3(codec);
    avcodec_parameters_to_context(d, par);
    CHECK_EQ_INT(avcodec_open2(d, codec, NULL), 0);
    AVFrame *f = av_frame_alloc();
    int frames = 0;
    for (int i = 0; i <= n; i++) {
        CHECK_EQ_INT(avcodec_send_packet(d, i < n ? pkts[i] : NULL), 0);
        while (avcodec_receive_frame(d, f) == 0) {
            CHECK_EQ_INT(f->width, par->width);
            CHECK_EQ_INT(f->height, par->height);
            frames++;
            av_frame_unref(f);
        }
    }
    av_frame_free(&f);
    avcodec_free_context(&d);
    return frames;
}

static void test_ladder_encode(void)
{
    AVPacket *src[NFRAMES + 8];
    int nsrc = 0;
    AVCodecParameters *par = avcodec_parameters_alloc();
    if (make_source(src, &nsrc, par) < 0) {
        CHECK(!"libx264 missing");
        avcodec_parameters_free(&par);
        return;
    }
    CHECK_EQ_INT(nsrc, NFRAMES);
    CHECK(par->extradata_size > 0);

    struct ladder spec, fitted;
    CHECK_EQ_INT(ladder_parse("source,1440p:8M,720p:2500k,480p:1000k,360p:600k", &spec, NULL, 0),
                 0);
    CHECK_EQ_INT(ladder_fit(&spec, W, H, &fitted), 0);
    CHECK_EQ_INT(fitted.nrungs, 3); /* 1440p dropped */

    struct transcoder_config cfg = {
        .src = par, .time_base = TB, .frame_rate = {30, 1}, .ladder = &fitted, .stream = "t"};
    struct transcoder *t = NULL;
    CHECK_EQ_INT(transcoder_create(&cfg, &t), 0);
    if (!t)
        goto out;
    CHECK_EQ_INT(transcoder_rung_count(t), 3);
    CHECK(transcoder_rung_par(t, 3) == NULL);

    enum { NR = 3 };
    AVPacket *out[NR][NFRAMES + 8];
    int nout[NR] = {0};
    bool overflow = false;
    for (int i = 0; i <= nsrc; i++) {
        CHECK_EQ_INT(transcoder_send(t, i < nsrc ? src[i] : NULL), 0);
        AVPacket *p = av_packet_alloc();
        int r;
        while (transcoder_receive(t, p, &r) == 0) {
            CHECK(r >= 0 && r < NR);
            if (r >= 0 && r < NR && nout[r] < NFRAMES + 8)
                out[r][nout[r]++] = p;
            else {
                overflow = true;
                av_packet_free(&p);
            }
            p = av_packet_alloc();
        }
        av_packet_free(&p);
    }
    CHECK(!overflow);
    CHECK_EQ_INT(transcoder_send(t, src[0]), -EINVAL); /* after the flush */

    static const int widths[NR] = {1280, 854, 640}, heights[NR] = {720, 480, 360};
    for (int r = 0; r < NR; r++) {
        const AVCodecParameters *rp = transcoder_rung_par(t, r);
        CHECK_EQ_INT(rp->width, widths[r]);
        CHECK_EQ_INT(rp->height, heights[r]);
        CHECK(rp->extradata_size > 7 && rp->extradata[0] == 1); /* avcC, not Annex B */
        CHECK_EQ_INT(nout[r], NFRAMES);
        int64_t last_dts = INT64_MIN;
        for (int k = 0; k < nout[r]; k++) {
            AVPacket *p = out[r][k];
            CHECK_EQ_INT(p->pts, frame_pts(k)); /* no B-frames: output in presentation order */
            CHECK_EQ_INT(p->dts, p->pts);
            CHECK(p->dts > last_dts);
            last_dts = p->dts;
            bool key = p->flags & AV_PKT_FLAG_KEY;
            if (key != is_source_key(k))
                fprintf(stderr, "rung %d frame %d: key %d, source key %d\n", r, k, key,
                        is_source_key(k));
            CHECK(key == is_source_key(k));
        }
        CHECK_EQ_INT(decode_rung(rp, out[r], nout[r]), NFRAMES);
        for (int k = 0; k < nout[r]; k++)
            av_packet_free(&out[r][k]);
    }
out:
    transcoder_destroy(&t);
    CHECK(t == NULL);
    transcoder_destroy(&t); /* NULL-safe */
    for (int i = 0; i < nsrc; i++)
        av_packet_free(&src[i]);
    avcodec_parameters_free(&par);
}

static void test_bad_config(void)
{
    struct ladder none;
    ladder_parse("none", &none, NULL, 0);
    AVCodecParameters *par = avcodec_parameters_alloc();
    par->codec_type = AVMEDIA_TYPE_VIDEO;
    par->codec_id = AV_CODEC_ID_H264;
    par->width = W;
    par->height = H;
    struct transcoder *t = NULL;
    struct transcoder_config cfg = {.src = par, .time_base = TB, .ladder = &none};
    CHECK_EQ_INT(transcoder_create(&cfg, &t), -EINVAL); /* no encoded rung */
    CHECK(t == NULL);

    struct ladder l;
    ladder_parse("360p:600k", &l, NULL, 0);
    ladder_fit(&l, W, H, &l);
    cfg.ladder = &l;
    cfg.preset = "no-such-preset";
    CHECK(transcoder_create(&cfg, &t) < 0);
    CHECK(t == NULL);
    avcodec_parameters_free(&par);
}

int main(void)
{
    av_log_set_level(AV_LOG_ERROR);
    test_ladder_encode();
    test_bad_config();
    return test_report("test_transcoder");
}
