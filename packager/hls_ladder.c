/* The packager's side of a stream's transcode ladder. See hls_ladder.h. */
#include "packager/hls_ladder.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/log.h"
#include "packager/hls_sink.h"
#include "transcode/worker.h"

#define DISC_MAX 8

struct hls_ladder {
    char name[HUB_NAME_MAX + 1];
    struct transcode_worker *worker;
    int nrungs;
    struct hls_stream *st[LADDER_MAX_RUNGS];
    /* Worker thread only (and destroy, after the join). */
    struct hls_sink *seg[LADDER_MAX_RUNGS];
    AVRational time_base, frame_rate;
    int64_t part_target_us;
    /* The audio muxed into every rung (has_audio), its parameters owned. */
    bool has_audio;
    struct hub_track audio;
    AVCodecParameters *audio_par;
    int64_t reorder_delay; /* set before the first push, read on the worker after it */
    atomic_bool finished;
    /* The source's discontinuities (hls_ladder_discontinuity): the pts of the last DISC_MAX of
     * them, under disc_lock; disc_n counts them all, each rung how many it has applied. */
    pthread_mutex_t disc_lock;
    int64_t disc_pts[DISC_MAX];
    atomic_int_fast64_t disc_n;
    int64_t disc_done[LADDER_MAX_RUNGS]; /* worker thread */
    /* Worker thread: the keyframe after a hole (on_hole) each rung has yet to reach. */
    int64_t hole_pts[LADDER_MAX_RUNGS];
    bool hole_due[LADDER_MAX_RUNGS];
};

/* Rung r's track as its segmenter sees it: the encoder's parameters on the source's timeline. */
static struct hub_track rung_track(const struct hls_ladder *l, const AVCodecParameters *par)
{
    return (struct hub_track){
        .par = (AVCodecParameters *)par,
        .time_base = l->time_base,
        .frame_rate = l->frame_rate,
    };
}

/* Rung r's tracks as its segmenter takes them: the encoded video, then the audio if any.
 * Returns how many. */
static int rung_tracks(const struct hls_ladder *l, const AVCodecParameters *par,
                       struct hub_track *tracks)
{
    tracks[0] = rung_track(l, par);
    if (!l->has_audio)
        return 1;
    tracks[1] = l->audio;
    return 2;
}

static void on_start(void *opaque, const struct transcoder *t)
{
    struct hls_ladder *l = opaque;
    for (int r = 0; r < l->nrungs; r++) {
        const AVCodecParameters *par = transcoder_rung_par(t, r);
        struct hub_track tracks[2];
        int n = rung_tracks(l, par, tracks);
        l->seg[r] = hls_sink_feed_create(l->name, l->st[r], l->part_target_us);
        if (!par || hls_sink_feed_start(l->seg[r], tracks, n) < 0) {
            log_error("hls", l->name, "rendition %s cannot be packaged",
                      hls_stream_rendition(l->st[r]));
            hls_sink_feed_destroy(&l->seg[r]);
            hls_stream_fail(l->st[r]);
        }
    }
}

static void on_restart(void *opaque, const struct transcoder *t)
{
    struct hls_ladder *l = opaque;
    for (int r = 0; r < l->nrungs; r++) {
        const AVCodecParameters *par = transcoder_rung_par(t, r);
        struct hub_track tracks[2];
        int n = rung_tracks(l, par, tracks);
        if (l->seg[r] && par)
            hls_sink_feed_restart(l->seg[r], tracks, n);
    }
}

/* Whether rung r's keyframe pkt is the first at or after a discontinuity of the source's it has
 * not applied yet (they are consumed, in order, up to pkt's pts). */
static bool disc_due(struct hls_ladder *l, int r, const AVPacket *pkt)
{
    if (atomic_load(&l->disc_n) == l->disc_done[r] || !(pkt->flags & AV_PKT_FLAG_KEY))
        return false;
    bool due = false;
    pthread_mutex_lock(&l->disc_lock);
    int64_t n = atomic_load(&l->disc_n);
    if (n - l->disc_done[r] > DISC_MAX)
        l->disc_done[r] = n - DISC_MAX; /* older ones are gone: the rung is far behind */
    for (; l->disc_done[r] < n && pkt->pts >= l->disc_pts[l->disc_done[r] % DISC_MAX];
         l->disc_done[r]++)
        due = true;
    pthread_mutex_unlock(&l->disc_lock);
    return due;
}

static void on_packet(void *opaque, int rung, const AVPacket *pkt, int64_t wall_us)
{
    struct hls_ladder *l = opaque;
    if (rung >= 0 && rung < l->nrungs && l->seg[rung]) {
        if (disc_due(l, rung, pkt))
            hls_sink_feed_discontinuity(l->seg[rung]);
        if (l->hole_due[rung] && (pkt->flags & AV_PKT_FLAG_KEY) && pkt->pts >= l->hole_pts[rung]) {
            l->hole_due[rung] = false;
            hls_sink_feed_hole(l->seg[rung]);
        }
        hls_sink_feed_set_reorder_delay(l->seg[rung], l->reorder_delay);
        hls_sink_feed_packet(l->seg[rung], pkt, wall_us);
    }
}

/* An audio packet, on the worker thread: into every rung, as its track 1. */
static void on_audio(void *opaque, const AVPacket *pkt, int64_t wall_us)
{
    struct hls_ladder *l = opaque;
    AVPacket *p = av_packet_clone(pkt);
    if (!p)
        abort();
    p->stream_index = 1;
    for (int r = 0; r < l->nrungs; r++)
        if (l->seg[r])
            hls_sink_feed_packet(l->seg[r], p, wall_us);
    av_packet_free(&p);
}

/* The worker dropped source frames before the keyframe of pts (transcode/worker.h): each rung's
 * segmenter is told when it gets that keyframe, so the frame before the hole does not last it. */
static void on_hole(void *opaque, int64_t pts)
{
    struct hls_ladder *l = opaque;
    for (int r = 0; r < l->nrungs; r++) {
        l->hole_pts[r] = pts;
        l->hole_due[r] = true;
    }
}

static void on_end(void *opaque)
{
    struct hls_ladder *l = opaque;
    for (int r = 0; r < l->nrungs; r++)
        if (l->seg[r])
            hls_sink_feed_end(l->seg[r]);
}

static void on_fail(void *opaque, int err)
{
    struct hls_ladder *l = opaque;
    log_error("hls", l->name, "no transcoded renditions: the ladder did not open (%s)",
              av_err2str(err));
    for (int r = 0; r < l->nrungs; r++)
        hls_stream_fail(l->st[r]);
}

int hls_ladder_start(const struct hls_ladder_config *cfg, struct hls_ladder **out)
{
    struct hls_ladder *l = xcalloc(1, sizeof(*l));
    snprintf(l->name, sizeof(l->name), "%s", cfg->name);
    l->nrungs = cfg->fitted->nrungs;
    for (int r = 0; r < l->nrungs; r++)
        l->st[r] = hls_stream_ref(cfg->rungs[r]);
    l->time_base = cfg->time_base;
    l->frame_rate = cfg->frame_rate;
    l->part_target_us = cfg->part_target_us;
    if (cfg->audio) {
        l->audio_par = avcodec_parameters_alloc();
        if (!l->audio_par || avcodec_parameters_copy(l->audio_par, cfg->audio->par) < 0)
            abort();
        l->audio = *cfg->audio;
        l->audio.par = l->audio_par;
        l->has_audio = true;
    }
    pthread_mutex_init(&l->disc_lock, NULL);
    atomic_init(&l->disc_n, 0);
    struct transcode_worker_config wc = {
        .tc =
            {
                .src = cfg->src,
                .time_base = cfg->time_base,
                .frame_rate = cfg->frame_rate,
                .ladder = cfg->fitted,
                .preset = cfg->preset,
                .stream = cfg->name,
                /* a shedding rung keeps a frame in each part (parts stay <= PART-TARGET) */
                .shed_interval_us = cfg->part_target_us / 2,
            },
        .ops = {.start = on_start,
                .restart = on_restart,
                .packet = on_packet,
                .end = on_end,
                .fail = on_fail,
                .hole = on_hole,
                .audio = on_audio},
        .opaque = l,
        .metrics = cfg->metrics,
    };
    int rc = transcode_worker_start(&wc, &l->worker);
    if (rc < 0) {
        log_error("hls", l->name, "cannot start the transcode worker: %s", strerror(-rc));
        atomic_store(&l->finished, true);
        hls_ladder_destroy(&l);
        *out = NULL;
        return rc;
    }
    *out = l;
    return 0;
}

void hls_ladder_set_reorder_delay(struct hls_ladder *l, int64_t delay)
{
    l->reorder_delay = delay;
}

void hls_ladder_push_audio(struct hls_ladder *l, const AVPacket *pkt, int64_t wall_us)
{
    if (l->has_audio)
        transcode_worker_push_audio(
            l->worker, pkt, av_rescale_q(pkt->dts, l->audio.time_base, (AVRational){1, 1000000}),
            wall_us);
}

void hls_ladder_discontinuity(struct hls_ladder *l, int64_t pts)
{
    pthread_mutex_lock(&l->disc_lock);
    int64_t n = atomic_load(&l->disc_n);
    l->disc_pts[n % DISC_MAX] = pts;
    atomic_store(&l->disc_n, n + 1);
    pthread_mutex_unlock(&l->disc_lock);
}

void hls_ladder_push(struct hls_ladder *l, const AVPacket *pkt, int64_t wall_us)
{
    transcode_worker_push(l->worker, pkt, wall_us);
}

void hls_ladder_restart(struct hls_ladder *l, const struct hub_track *video)
{
    transcode_worker_restart(l->worker, video->par);
}

void hls_ladder_finish(struct hls_ladder *l)
{
    transcode_worker_finish(l->worker);
    atomic_store(&l->finished, true);
}

bool hls_ladder_done(struct hls_ladder *l)
{
    return atomic_load(&l->finished) && (!l->worker || transcode_worker_done(l->worker));
}

void hls_ladder_destroy(struct hls_ladder **pl)
{
    struct hls_ladder *l = *pl;
    if (!l)
        return;
    transcode_worker_destroy(&l->worker); /* joins: the segmenters are ours after this */
    for (int r = 0; r < l->nrungs; r++) {
        hls_sink_feed_destroy(&l->seg[r]);
        hls_stream_end(l->st[r]); /* a no-op after the worker's end */
        hls_stream_unref(l->st[r]);
    }
    pthread_mutex_destroy(&l->disc_lock);
    avcodec_parameters_free(&l->audio_par);
    xfreep(pl);
}

double hls_ladder_lag(struct hls_ladder *l)
{
    return l->worker ? transcode_worker_lag(l->worker) : 0;
}
