/* Thumbnails (packager/thumb.c, transcode/thumb.c): a real H.264 keyframe (libx264, made here)
 * becomes a JPEG at most 320 px wide; through a hub, the cache serves one picture for 10 s (a
 * fake clock), makes a new one only after that and only when a new keyframe came, coalesces
 * the requests of one stream into one job, and forgets the stream when it ends. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "core/clock.h"
#include "core/hub.h"
#include "core/metrics.h"
#include "packager/thumb.h"
#include "test.h"
#include "transcode/thumb.h"

#define W 640
#define H 360
#define NFRAMES 40
#define TB ((AVRational){1, 1000})
static bool is_source_key(int i)
{
    return i % 20 == 0;
}
#include "transcode/source.h"

static int64_t fake_now;
static int64_t fake_clock(void)
{
    return fake_now;
}

/* Decodes a JPEG and checks its size. */
static void check_jpeg(const struct blob *b, int w, int h)
{
    CHECK(b && b->len > 100);
    if (!b || b->len < 4)
        return;
    CHECK(b->data[0] == 0xff && b->data[1] == 0xd8);                   /* SOI */
    CHECK(b->data[b->len - 2] == 0xff && b->data[b->len - 1] == 0xd9); /* EOI */
    const AVCodec *codec = avcodec_find_decoder(AV_CODEC_ID_MJPEG);
    AVCodecContext *c = avcodec_alloc_context3(codec);
    CHECK_EQ_INT(avcodec_open2(c, codec, NULL), 0);
    AVPacket *p = av_packet_alloc();
    av_new_packet(p, (int)b->len);
    memcpy(p->data, b->data, b->len);
    AVFrame *f = av_frame_alloc();
    CHECK_EQ_INT(avcodec_send_packet(c, p), 0);
    CHECK_EQ_INT(avcodec_receive_frame(c, f), 0);
    CHECK_EQ_INT(f->width, w);
    CHECK_EQ_INT(f->height, h);
    av_frame_free(&f);
    av_packet_free(&p);
    avcodec_free_context(&c);
}

struct waitq {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int answered;
    struct blob *jpeg;
    int err;
};

static void on_done(void *ctx, struct blob *jpeg, int err)
{
    struct waitq *w = ctx;
    pthread_mutex_lock(&w->lock);
    blob_unrefp(&w->jpeg);
    w->jpeg = jpeg;
    w->err = err;
    w->answered++;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* thumbs_get, waiting for the worker when the answer is pending. *out: a reference or NULL. */
static int get(struct thumbs *t, const char *name, struct blob **out, bool *waited)
{
    struct waitq w = {.answered = 0};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    int rc = thumbs_get(t, name, on_done, &w, out);
    *waited = rc == THUMBS_PENDING;
    if (rc == THUMBS_PENDING) {
        pthread_mutex_lock(&w.lock);
        while (!w.answered)
            pthread_cond_wait(&w.cond, &w.lock);
        pthread_mutex_unlock(&w.lock);
        *out = w.jpeg;
        rc = w.err;
    }
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.lock);
    return rc;
}

static void test_make(AVPacket **pkts, const AVCodecParameters *par)
{
    struct blob *jpeg = NULL;
    int w = 0, h = 0;
    CHECK(pkts[0]->flags & AV_PKT_FLAG_KEY);
    CHECK_EQ_INT(thumb_make(par, pkts[0], THUMB_MAX_WIDTH, &w, &h, &jpeg), 0);
    CHECK_EQ_INT(w, 320);
    CHECK_EQ_INT(h, 180);
    check_jpeg(jpeg, 320, 180);
    blob_unrefp(&jpeg);
    /* Smaller than the limit: kept at its size. */
    CHECK_EQ_INT(thumb_make(par, pkts[0], 1000, &w, &h, &jpeg), 0);
    CHECK_EQ_INT(w, W);
    check_jpeg(jpeg, W, H);
    blob_unrefp(&jpeg);
    /* Garbage is a failure, not a crash. */
    AVPacket *bad = av_packet_alloc();
    av_new_packet(bad, 64);
    memset(bad->data, 0x5a, 64);
    bad->flags = AV_PKT_FLAG_KEY;
    CHECK(thumb_make(par, bad, 320, &w, &h, &jpeg) < 0);
    CHECK(!jpeg);
    av_packet_free(&bad);
}

static void push(struct hub *hub, AVPacket **pkts, int from, int to)
{
    for (int i = from; i < to; i++) {
        struct hub_packet hp = {.pkt = pkts[i], .wallclock_us = clock_mono_us()};
        hub_push(hub, &hp);
    }
}

static void test_cache(AVPacket **pkts, int npkts, AVCodecParameters *par)
{
    struct hub_registry *reg = hub_registry_create();
    struct metrics *m = metrics_create();
    struct thumbs *t = thumbs_create(reg, m);
    CHECK(t != NULL);
    thumbs_set_clock(t, fake_clock);
    fake_now = 1000000;
    struct blob *a = NULL, *b = NULL;
    bool waited;
    CHECK_EQ_INT(get(t, "cam", &a, &waited), -ENOENT); /* not live */

    struct hub *hub = NULL;
    CHECK_EQ_INT(hub_registry_claim(reg, "cam", &hub), 0);
    struct hub_track tr = {.par = par, .time_base = TB, .frame_rate = {30, 1}};
    CHECK_EQ_INT(hub_start(hub, &tr, 1), 0);
    CHECK_EQ_INT(get(t, "cam", &a, &waited), -ENOENT); /* no keyframe yet */

    int half = 5; /* frame 0 only: the keyframe of frame 20 comes later */
    push(hub, pkts, 0, half);
    CHECK_EQ_INT(get(t, "cam", &a, &waited), 0);
    CHECK(waited); /* made by the worker */
    check_jpeg(a, 320, 180);
    CHECK_EQ_INT(metrics_value(m, "kibitka_thumbnails_made_total", NULL), 1);

    /* Within 10 s: the same picture, even after a new keyframe. */
    push(hub, pkts, half, npkts);
    fake_now += 9 * 1000000;
    CHECK_EQ_INT(get(t, "cam", &b, &waited), 0);
    CHECK(!waited && b == a);
    blob_unrefp(&b);

    /* Past 10 s with a new keyframe: a new one, once for requests that come together. */
    fake_now += 2 * 1000000;
    struct waitq w1 = {.answered = 0}, w2 = {.answered = 0};
    pthread_mutex_init(&w1.lock, NULL);
    pthread_cond_init(&w1.cond, NULL);
    pthread_mutex_init(&w2.lock, NULL);
    pthread_cond_init(&w2.cond, NULL);
    struct blob *c1 = NULL, *c2 = NULL;
    int r1 = thumbs_get(t, "cam", on_done, &w1, &c1);
    int r2 = thumbs_get(t, "cam", on_done, &w2, &c2);
    CHECK_EQ_INT(r1, THUMBS_PENDING);
    CHECK(r2 == THUMBS_PENDING || r2 == 0); /* joined the job, or it was already done */
    struct waitq *ws[2] = {&w1, &w2};
    for (int i = 0; i < (r2 == 0 ? 1 : 2); i++) {
        pthread_mutex_lock(&ws[i]->lock);
        while (!ws[i]->answered)
            pthread_cond_wait(&ws[i]->cond, &ws[i]->lock);
        pthread_mutex_unlock(&ws[i]->lock);
    }
    CHECK(w1.jpeg && w1.jpeg != a);
    CHECK(r2 == 0 ? c2 == w1.jpeg : w2.jpeg == w1.jpeg);
    check_jpeg(w1.jpeg, 320, 180);
    CHECK_EQ_INT(metrics_value(m, "kibitka_thumbnails_made_total", NULL), 2);
    CHECK(metrics_value(m, "kibitka_thumbnail_last_make_microseconds", NULL) > 0);
    blob_unrefp(&w1.jpeg);
    blob_unrefp(&w2.jpeg);
    blob_unrefp(&c2);

    /* Past 10 s without a new keyframe: nothing new to show, the cache answers. */
    fake_now += 30 * 1000000;
    CHECK_EQ_INT(get(t, "cam", &b, &waited), 0);
    CHECK(!waited);
    blob_unrefp(&b);
    CHECK_EQ_INT(metrics_value(m, "kibitka_thumbnails_made_total", NULL), 2);
    CHECK_EQ_INT(metrics_value(m, "kibitka_thumbnail_failures_total", NULL), 0);

    /* Ended: gone. */
    hub_end(hub);
    hub_unrefp(&hub);
    CHECK_EQ_INT(get(t, "cam", &b, &waited), -ENOENT);
    blob_unrefp(&a);
    thumbs_destroy(&t);
    CHECK(t == NULL);
    hub_registry_destroy(&reg);
    metrics_destroy(&m);
}

/* A stopped module answers a request that would wait at once (the API's shutdown). */
static void test_stop(AVPacket **pkts, AVCodecParameters *par)
{
    struct hub_registry *reg = hub_registry_create();
    struct thumbs *t = thumbs_create(reg, NULL);
    struct hub *hub = NULL;
    CHECK_EQ_INT(hub_registry_claim(reg, "cam", &hub), 0);
    struct hub_track tr = {.par = par, .time_base = TB, .frame_rate = {30, 1}};
    CHECK_EQ_INT(hub_start(hub, &tr, 1), 0);
    push(hub, pkts, 0, 5);
    thumbs_stop(t);
    struct blob *b = NULL;
    bool waited;
    CHECK_EQ_INT(get(t, "cam", &b, &waited), -ECANCELED);
    hub_end(hub);
    hub_unrefp(&hub);
    thumbs_destroy(&t);
    hub_registry_destroy(&reg);
}

/* An audio-only stream has no picture: 404, and its sink stays idle. */
static void test_audio_only(void)
{
    struct hub_registry *reg = hub_registry_create();
    struct thumbs *t = thumbs_create(reg, NULL);
    AVCodecParameters *apar = avcodec_parameters_alloc();
    apar->codec_type = AVMEDIA_TYPE_AUDIO;
    apar->codec_id = AV_CODEC_ID_AAC;
    apar->sample_rate = 48000;
    struct hub *hub = NULL;
    CHECK_EQ_INT(hub_registry_claim(reg, "radio", &hub), 0);
    struct hub_track tr = {.par = apar, .time_base = {1, 48000}};
    CHECK_EQ_INT(hub_start(hub, &tr, 1), 0);
    AVPacket *p = av_packet_alloc();
    av_new_packet(p, 8);
    p->flags = AV_PKT_FLAG_KEY;
    struct hub_packet hp = {.pkt = p, .wallclock_us = clock_mono_us()};
    hub_push(hub, &hp);
    struct blob *b = NULL;
    bool waited;
    CHECK_EQ_INT(get(t, "radio", &b, &waited), -ENOENT);
    av_packet_free(&p);
    hub_end(hub);
    hub_unrefp(&hub);
    avcodec_parameters_free(&apar);
    thumbs_destroy(&t);
    hub_registry_destroy(&reg);
}

int main(void)
{
    av_log_set_level(AV_LOG_ERROR);
    AVPacket *pkts[NFRAMES + 8];
    int npkts = 0;
    AVCodecParameters *par = avcodec_parameters_alloc();
    if (make_source(pkts, &npkts, par) == -ENOSYS) {
        avcodec_parameters_free(&par);
        return test_skip("test_thumb", "no libx264");
    }
    for (int i = 0; i < npkts; i++)
        pkts[i]->stream_index = 0;
    test_make(pkts, par);
    test_cache(pkts, npkts, par);
    test_stop(pkts, par);
    test_audio_only();
    for (int i = 0; i < npkts; i++)
        av_packet_free(&pkts[i]);
    avcodec_parameters_free(&par);
    return test_report("test_thumb");
}
