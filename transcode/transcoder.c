/* Decode once, scale per rung, encode per rung with aligned keyframes. See transcoder.h. */
#include "transcode/transcoder.h"

#include <errno.h>
#include <inttypes.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "transcode/avcc.h"
#include "transcode/drain.h"

/* Far longer than any live GOP: x264 must only place the keyframes we force. */
#define LONG_GOP 100000
/* Source keyframe pts waiting for their decoded frame; a decoder holds a few frames at most. */
#define KEY_PTS_MAX 16

struct rung {
    bool skip; /* encode keyframes only (the worker is behind) */
    AVCodecContext *enc;
    AVCodecParameters *par;
    struct SwsContext *sws;
    AVFrame *frame; /* the scaled picture, reused (made writable before each scale) */
};

struct queued {
    AVPacket *pkt;
    int rung;
};

struct transcoder {
    AVCodecContext *dec;
    AVFrame *decoded;
    struct rung rungs[LADDER_MAX_RUNGS];
    int nrungs;
    int64_t key_pts[KEY_PTS_MAX];
    int nkey_pts;
    struct queued *queue; /* FIFO: [head, tail) of cap */
    int head, tail, cap;
    bool flushed;
    int64_t skipped;
    AVRational time_base;
    int64_t shed_interval_us;
    int64_t last_shed_us; /* media time of the last frame the shedding rungs took */
    char stream[64];
};

static const char *stream_name(const struct transcoder *t)
{
    return t->stream[0] ? t->stream : NULL;
}

static int open_decoder(struct transcoder *t, const struct transcoder_config *cfg)
{
    const AVCodec *codec = avcodec_find_decoder(cfg->src->codec_id);
    if (!codec)
        return -ENOSYS;
    t->dec = avcodec_alloc_context3(codec);
    if (!t->dec)
        return AVERROR(ENOMEM);
    int rc = avcodec_parameters_to_context(t->dec, cfg->src);
    if (rc < 0)
        return rc;
    t->dec->pkt_timebase = cfg->time_base;
    t->dec->thread_count = 0; /* one per core */
    t->dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    return avcodec_open2(t->dec, codec, NULL);
}

/* libx264's global header is Annex B; fMP4 and the hub want avcC. */
static int extradata_to_avcc(AVCodecParameters *par)
{
    if (par->extradata_size > 0 && par->extradata[0] == 1)
        return 0; /* already avcC */
    uint8_t *avcc;
    int n;
    int rc = avcc_from_annexb(par->extradata, par->extradata_size, &avcc, &n);
    if (rc < 0)
        return rc;
    av_freep(&par->extradata);
    par->extradata = avcc;
    par->extradata_size = n;
    return 0;
}

static int open_encoder(struct rung *r, const struct ladder_rung *lr,
                        const struct transcoder_config *cfg)
{
    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    if (!codec)
        return -ENOSYS;
    AVCodecContext *c = r->enc = avcodec_alloc_context3(codec);
    if (!c)
        return AVERROR(ENOMEM);
    AVRational fr = cfg->frame_rate.num > 0 ? cfg->frame_rate : (AVRational){30, 1};
    c->width = lr->width;
    c->height = lr->height;
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    c->sample_aspect_ratio = (AVRational){1, 1};
    c->time_base = cfg->time_base;
    c->framerate = fr;
    c->gop_size = LONG_GOP;
    c->keyint_min = 1;
    c->max_b_frames = 0;
    c->bit_rate = lr->bit_rate;
    c->rc_max_rate = lr->bit_rate;
    c->rc_buffer_size = (int)lr->bit_rate;   /* one second of VBV */
    c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER; /* avcC in extradata, for fMP4 */
    c->thread_count = 0;

    AVDictionary *opts = NULL;
    av_dict_set(&opts, "preset", cfg->preset ? cfg->preset : "veryfast", 0);
    av_dict_set(&opts, "forced-idr", "1", 0);
    /* No lookahead and sliced threads: a frame comes out right after it goes in, so the rungs'
     * parts trail the source's by a frame or two instead of ~0.6 s (measured: first rung
     * playlist 0.14 s after the source's, not 0.6 s; 134 MB instead of 218 MB for a 1080p
     * ladder; slightly less CPU), at the cost of x264's mb-tree (a few % of bitrate). */
    av_dict_set(&opts, "x264-params", "scenecut=0:rc-lookahead=0:sync-lookahead=0:sliced-threads=1",
                0);
    int rc = avcodec_open2(c, codec, &opts);
    if (rc == 0 && av_dict_count(opts) > 0)
        rc = -EINVAL; /* an option libx264 did not take: a bad preset name, say */
    av_dict_free(&opts);
    if (rc < 0)
        return rc;
    r->par = avcodec_parameters_alloc();
    r->frame = av_frame_alloc();
    if (!r->par || !r->frame)
        return AVERROR(ENOMEM);
    rc = avcodec_parameters_from_context(r->par, c);
    if (rc < 0)
        return rc;
    rc = extradata_to_avcc(r->par);
    if (rc < 0)
        return rc;
    r->frame->format = AV_PIX_FMT_YUV420P;
    r->frame->width = lr->width;
    r->frame->height = lr->height;
    return av_frame_get_buffer(r->frame, 0);
}

int transcoder_create(const struct transcoder_config *cfg, struct transcoder **out)
{
    *out = NULL;
    if (!cfg->src || cfg->src->codec_type != AVMEDIA_TYPE_VIDEO || cfg->src->width <= 0 ||
        cfg->src->height <= 0 || !cfg->ladder || cfg->ladder->nrungs <= 0 ||
        cfg->time_base.num <= 0 || cfg->time_base.den <= 0)
        return -EINVAL;
    struct transcoder *t = xcalloc(1, sizeof(*t));
    snprintf(t->stream, sizeof(t->stream), "%s", cfg->stream ? cfg->stream : "");
    t->time_base = cfg->time_base;
    t->shed_interval_us = cfg->shed_interval_us;
    t->last_shed_us = INT64_MIN;
    int rc = open_decoder(t, cfg);
    t->decoded = av_frame_alloc();
    if (rc == 0 && !t->decoded)
        rc = AVERROR(ENOMEM);
    for (int i = 0; rc == 0 && i < cfg->ladder->nrungs; i++) {
        rc = open_encoder(&t->rungs[i], &cfg->ladder->rungs[i], cfg);
        t->nrungs = i + 1; /* so a half-opened rung is freed too */
    }
    if (rc < 0)
        goto fail;
    log_info("transcode", stream_name(t), "ladder of %d encoded rung%s from %dx%d, preset %s",
             t->nrungs, t->nrungs == 1 ? "" : "s", cfg->src->width, cfg->src->height,
             cfg->preset ? cfg->preset : "veryfast");
    *out = t;
    return 0;
fail:
    log_error("transcode", stream_name(t), "cannot open the ladder: %s", av_err2str(rc));
    transcoder_destroy(&t);
    return rc;
}

void transcoder_destroy(struct transcoder **pt)
{
    struct transcoder *t = *pt;
    if (!t)
        return;
    avcodec_free_context(&t->dec);
    av_frame_free(&t->decoded);
    for (int i = 0; i < t->nrungs; i++) {
        struct rung *r = &t->rungs[i];
        avcodec_free_context(&r->enc);
        avcodec_parameters_free(&r->par);
        sws_freeContext(r->sws);
        av_frame_free(&r->frame);
    }
    for (int i = t->head; i < t->tail; i++)
        av_packet_free(&t->queue[i].pkt);
    free(t->queue);
    xfreep(pt);
}

int transcoder_rung_count(const struct transcoder *t)
{
    return t->nrungs;
}

const AVCodecParameters *transcoder_rung_par(const struct transcoder *t, int i)
{
    return i >= 0 && i < t->nrungs ? t->rungs[i].par : NULL;
}

static void enqueue(struct transcoder *t, AVPacket *pkt, int rung)
{
    if (t->tail == t->cap) {
        if (t->head > 0) { /* slide down before growing */
            memmove(t->queue, t->queue + t->head, (size_t)(t->tail - t->head) * sizeof(*t->queue));
            t->tail -= t->head;
            t->head = 0;
        }
        if (t->tail == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 16;
            t->queue = xrealloc(t->queue, (size_t)t->cap * sizeof(*t->queue));
        }
    }
    t->queue[t->tail++] = (struct queued){.pkt = pkt, .rung = rung};
}

struct rung_ref {
    struct transcoder *t;
    int r;
};

static int queue_packet(void *arg, AVPacket *pkt)
{
    struct rung_ref *ref = arg;
    int rc = avcc_packet_from_annexb(pkt); /* lengths, to match the avcC extradata */
    if (rc < 0) {
        av_packet_free(&pkt);
        return rc;
    }
    enqueue(ref->t, pkt, ref->r);
    return 0;
}

/* Moves every packet rung r's encoder has ready into the queue. */
static int drain_encoder(struct transcoder *t, int r)
{
    struct rung_ref ref = {t, r};
    return transcode_drain_packets(t->rungs[r].enc, queue_packet, &ref);
}

/* True (and forgets it) when a source keyframe had this pts; drops older entries, whose frames
 * the decoder will never produce. */
static bool take_key_pts(struct transcoder *t, int64_t pts)
{
    bool key = false;
    int n = 0;
    for (int i = 0; i < t->nkey_pts; i++) {
        if (t->key_pts[i] == pts)
            key = true;
        else if (t->key_pts[i] > pts)
            t->key_pts[n++] = t->key_pts[i];
    }
    t->nkey_pts = n;
    return key;
}

static void remember_key_pts(struct transcoder *t, int64_t pts)
{
    if (t->nkey_pts == KEY_PTS_MAX) { /* cannot happen with a sane decoder; keep the newest */
        memmove(t->key_pts, t->key_pts + 1, (KEY_PTS_MAX - 1) * sizeof(t->key_pts[0]));
        t->nkey_pts--;
    }
    t->key_pts[t->nkey_pts++] = pts;
}

static int scale_rung(struct transcoder *t, int i, const AVFrame *src)
{
    struct rung *r = &t->rungs[i];
    r->sws =
        sws_getCachedContext(r->sws, src->width, src->height, src->format, r->frame->width,
                             r->frame->height, AV_PIX_FMT_YUV420P, SWS_BICUBIC, NULL, NULL, NULL);
    if (!r->sws)
        return AVERROR(EINVAL);
    int rc = av_frame_make_writable(r->frame); /* the encoder may still hold the last one */
    if (rc < 0)
        return rc;
    rc = sws_scale(r->sws, (const uint8_t *const *)src->data, src->linesize, 0, src->height,
                   r->frame->data, r->frame->linesize);
    return rc < 0 ? rc : 0;
}

/* Scales and encodes one decoded frame into every rung. */
static int encode_frame(struct transcoder *t, AVFrame *in)
{
    int64_t pts = in->best_effort_timestamp;
    bool key = take_key_pts(t, pts);
    /* What the shedding rungs take: keyframes, and a frame each shed_interval_us. */
    int64_t us = av_rescale_q(pts, t->time_base, (AVRational){1, 1000000});
    bool take = key || (t->shed_interval_us > 0 && (t->last_shed_us == INT64_MIN ||
                                                     us - t->last_shed_us >= t->shed_interval_us ||
                                                     us < t->last_shed_us));
    if (take)
        t->last_shed_us = us;
    for (int i = 0; i < t->nrungs; i++) {
        /* Skipping rungs are the lowest ones (see transcoder_set_skip) and take the same frames,
         * so no rung that is encoded scales from a skipped rung's stale picture. */
        if (t->rungs[i].skip && !take) {
            t->skipped++;
            continue;
        }
        const AVFrame *src = i == 0 ? in : t->rungs[i - 1].frame; /* the cascade */
        int rc = scale_rung(t, i, src);
        if (rc < 0)
            return rc;
        AVFrame *f = t->rungs[i].frame;
        f->pts = pts;
        f->pict_type = key ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
        rc = avcodec_send_frame(t->rungs[i].enc, f);
        if (rc < 0)
            return rc;
        rc = drain_encoder(t, i);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int encode_decoded(void *t, AVFrame *in)
{
    return encode_frame(t, in);
}

static int drain_decoder(struct transcoder *t)
{
    return transcode_drain_frames(t->dec, t->decoded, encode_decoded, t);
}

static int flush(struct transcoder *t)
{
    int rc = avcodec_send_packet(t->dec, NULL);
    if (rc == 0)
        rc = drain_decoder(t);
    for (int i = 0; rc == 0 && i < t->nrungs; i++) {
        rc = avcodec_send_frame(t->rungs[i].enc, NULL);
        if (rc == 0)
            rc = drain_encoder(t, i);
    }
    return rc;
}

int transcoder_send(struct transcoder *t, const AVPacket *pkt)
{
    if (t->flushed)
        return -EINVAL;
    if (!pkt) {
        t->flushed = true;
        return flush(t);
    }
    if ((pkt->flags & AV_PKT_FLAG_KEY) && pkt->pts != AV_NOPTS_VALUE)
        remember_key_pts(t, pkt->pts);
    int rc = avcodec_send_packet(t->dec, pkt);
    if (rc < 0 && rc != AVERROR(EAGAIN)) {
        log_warn("transcode", stream_name(t), "decode error at pts %" PRId64 ": %s", pkt->pts,
                 av_err2str(rc));
        return 0;
    }
    rc = drain_decoder(t);
    if (rc < 0)
        log_error("transcode", stream_name(t), "transcode error at pts %" PRId64 ": %s", pkt->pts,
                  av_err2str(rc));
    return rc;
}

void transcoder_set_skip(struct transcoder *t, int nskip)
{
    for (int i = 0; i < t->nrungs; i++)
        t->rungs[i].skip = i >= t->nrungs - nskip;
}

int64_t transcoder_skipped(const struct transcoder *t)
{
    return t->skipped;
}

int transcoder_receive(struct transcoder *t, AVPacket *out, int *rung)
{
    if (t->head == t->tail)
        return -EAGAIN;
    struct queued *q = &t->queue[t->head++];
    av_packet_move_ref(out, q->pkt);
    av_packet_free(&q->pkt);
    *rung = q->rung;
    return 0;
}
