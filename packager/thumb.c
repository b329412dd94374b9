/* See thumb.h. One mutex guards the entries, the queue and the waiters; the network thread takes
 * it only to swap a packet reference, and the worker never holds it while it decodes. */
#include "packager/thumb.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "transcode/thumb.h"

struct waiter {
    thumbs_done_fn done;
    void *ctx;
    struct waiter *next;
};

struct entry {
    int refs; /* the sink's (until destroy) and the queue's; under the lock */
    char name[HUB_NAME_MAX + 1];
    struct thumbs *t;
    int track;              /* the video track's index */
    AVCodecParameters *par; /* its codec parameters (a copy) */
    AVPacket *key;          /* the newest keyframe (a reference); empty until the first */
    uint64_t key_seq;       /* keyframes seen */
    struct blob *jpeg;      /* the cache, or NULL */
    int64_t made_us;        /* when jpeg was made (t->now) */
    uint64_t jpeg_seq;      /* key_seq of the keyframe it shows */
    bool listed, queued;
    struct waiter *waiters; /* requests waiting for the queued job */
    struct entry *next;     /* in t->entries */
    struct entry *qnext;    /* in the queue */
};

struct thumbs {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool thread_started, stopping;
    struct entry *entries;
    struct entry *qhead, *qtail;
    int qlen;
    int64_t (*now)(void);
    atomic_int_fast64_t *made, *failures, *make_us_total, *last_make_us;
};

static void entry_unref_locked(struct entry *e)
{
    if (--e->refs > 0)
        return;
    avcodec_parameters_free(&e->par);
    av_packet_free(&e->key);
    blob_unrefp(&e->jpeg);
    free(e);
}

static void unlist_locked(struct thumbs *t, struct entry *e)
{
    for (struct entry **p = &t->entries; *p; p = &(*p)->next)
        if (*p == e) {
            *p = e->next;
            break;
        }
    e->listed = false;
}

/* Sink side: the network thread. */

static int sink_start(void *opaque, struct hub *hub, const struct hub_track *tracks, int ntracks)
{
    (void)hub;
    struct entry *e = opaque;
    for (int i = 0; i < ntracks; i++) {
        enum AVCodecID id = tracks[i].par->codec_id;
        if (tracks[i].par->codec_type == AVMEDIA_TYPE_VIDEO &&
            (id == AV_CODEC_ID_H264 || id == AV_CODEC_ID_VP8)) {
            e->track = i;
            e->par = avcodec_parameters_alloc();
            avcodec_parameters_copy(e->par, tracks[i].par);
            e->key = av_packet_alloc();
            pthread_mutex_lock(&e->t->lock);
            e->next = e->t->entries;
            e->t->entries = e;
            e->listed = true;
            pthread_mutex_unlock(&e->t->lock);
            return 0;
        }
    }
    return 0; /* audio only, or a codec we do not decode: no thumbnail, the sink stays idle */
}

static void sink_packet(void *opaque, const struct hub_packet *hp)
{
    struct entry *e = opaque;
    if (hp->pkt->stream_index != e->track || !(hp->pkt->flags & AV_PKT_FLAG_KEY))
        return;
    pthread_mutex_lock(&e->t->lock);
    av_packet_unref(e->key);
    if (av_packet_ref(e->key, hp->pkt) == 0)
        e->key_seq++;
    pthread_mutex_unlock(&e->t->lock);
}

static void sink_reconfigure(void *opaque, const struct hub_track *tracks, int ntracks)
{
    struct entry *e = opaque;
    if (e->track < 0 || e->track >= ntracks)
        return;
    pthread_mutex_lock(&e->t->lock);
    avcodec_parameters_copy(e->par, tracks[e->track].par);
    av_packet_unref(e->key); /* of the old configuration: wait for the next one */
    pthread_mutex_unlock(&e->t->lock);
}

static void sink_end(void *opaque)
{
    struct entry *e = opaque;
    pthread_mutex_lock(&e->t->lock);
    unlist_locked(e->t, e);
    pthread_mutex_unlock(&e->t->lock);
}

static void sink_destroy(void *opaque)
{
    struct entry *e = opaque;
    struct thumbs *t = e->t;
    pthread_mutex_lock(&t->lock);
    if (e->listed)
        unlist_locked(t, e);
    entry_unref_locked(e);
    pthread_mutex_unlock(&t->lock);
}

static const struct hub_sink_ops sink_ops = {
    .name = "thumbnail",
    .start = sink_start,
    .packet = sink_packet,
    .end = sink_end,
    .destroy = sink_destroy,
    .reconfigure = sink_reconfigure,
};

static void observe(void *opaque, struct hub *hub)
{
    struct entry *e = xcalloc(1, sizeof(*e));
    e->t = opaque;
    e->refs = 1;
    e->track = -1;
    snprintf(e->name, sizeof(e->name), "%s", hub_name(hub));
    hub_add_sink(hub, &sink_ops, e);
}

/* The worker. */

static void answer(struct waiter *w, struct blob *jpeg, int err)
{
    while (w) {
        struct waiter *next = w->next;
        w->done(w->ctx, jpeg ? blob_ref(jpeg) : NULL, jpeg ? 0 : err);
        free(w);
        w = next;
    }
}

static void make_one(struct thumbs *t, struct entry *e)
{
    /* Copies under the lock; the decode outside it. */
    AVCodecParameters *par = avcodec_parameters_alloc();
    avcodec_parameters_copy(par, e->par);
    AVPacket *key = e->key->data ? av_packet_clone(e->key) : NULL;
    uint64_t seq = e->key_seq;
    pthread_mutex_unlock(&t->lock);

    int64_t t0 = clock_mono_us();
    struct blob *jpeg = NULL;
    int w = 0, h = 0;
    int rc = key ? thumb_make(par, key, THUMB_MAX_WIDTH, &w, &h, &jpeg) : AVERROR(ENOENT);
    int64_t took = clock_mono_us() - t0;
    avcodec_parameters_free(&par);
    av_packet_free(&key);
    if (rc < 0 && rc != AVERROR(ENOENT))
        log_warn("thumb", e->name, "cannot make a thumbnail: %s", av_err2str(rc));

    pthread_mutex_lock(&t->lock);
    if (jpeg) {
        blob_unrefp(&e->jpeg);
        e->jpeg = jpeg;
        e->made_us = t->now();
        e->jpeg_seq = seq;
        metrics_add(t->made, 1);
        metrics_add(t->make_us_total, took);
        metrics_set(t->last_make_us, took);
    } else if (rc != AVERROR(ENOENT)) {
        metrics_add(t->failures, 1);
    }
    struct waiter *ws = e->waiters;
    e->waiters = NULL;
    e->queued = false;
    struct blob *ans = e->jpeg ? blob_ref(e->jpeg) : NULL; /* a failure serves the old one */
    entry_unref_locked(e);
    pthread_mutex_unlock(&t->lock);
    answer(ws, ans, rc == AVERROR(ENOENT) ? -ENOENT : -EIO);
    blob_unref(ans);
    pthread_mutex_lock(&t->lock);
}

/* 10 nicer than the server, like the transcode workers: thumbnails wait for live media. On
 * Linux the nice value is per thread. A failure only costs the isolation. */
static void lower_priority(void)
{
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int cur = getpriority(PRIO_PROCESS, tid);
    if (cur == -1 && errno != 0)
        return;
    (void)setpriority(PRIO_PROCESS, tid, cur + 10 > 19 ? 19 : cur + 10);
}

static void *worker(void *arg)
{
    struct thumbs *t = arg;
    lower_priority();
    pthread_mutex_lock(&t->lock);
    for (;;) {
        while (!t->qhead && !t->stopping)
            pthread_cond_wait(&t->cond, &t->lock);
        if (t->stopping)
            break;
        struct entry *e = t->qhead;
        t->qhead = e->qnext;
        if (!t->qhead)
            t->qtail = NULL;
        t->qlen--;
        make_one(t, e); /* returns with the lock held */
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

/* The request side: HTTP threads. */

static struct entry *find_locked(struct thumbs *t, const char *name)
{
    for (struct entry *e = t->entries; e; e = e->next)
        if (!strcmp(e->name, name))
            return e;
    return NULL;
}

int thumbs_get(struct thumbs *t, const char *name, thumbs_done_fn done, void *ctx,
               struct blob **out)
{
    *out = NULL;
    pthread_mutex_lock(&t->lock);
    struct entry *e = find_locked(t, name);
    int rc = -ENOENT;
    if (!e || (!e->jpeg && !e->key->data))
        goto unlock;
    bool fresh = e->jpeg && (t->now() - e->made_us < THUMBS_MAX_AGE_US ||
                             e->jpeg_seq == e->key_seq || !e->key->data);
    if (fresh || (e->jpeg && (t->stopping || (!e->queued && t->qlen >= THUMBS_QUEUE_MAX)))) {
        *out = blob_ref(e->jpeg); /* fresh, or stale while the worker cannot make one */
        rc = 0;
        goto unlock;
    }
    rc = t->stopping ? -ECANCELED : -EBUSY;
    if (t->stopping || (!e->queued && t->qlen >= THUMBS_QUEUE_MAX))
        goto unlock;
    struct waiter *w = xcalloc(1, sizeof(*w));
    w->done = done;
    w->ctx = ctx;
    w->next = e->waiters;
    e->waiters = w;
    if (!e->queued) { /* coalesced: one job per stream however many wait */
        e->queued = true;
        e->refs++;
        e->qnext = NULL;
        if (t->qtail)
            t->qtail->qnext = e;
        else
            t->qhead = e;
        t->qtail = e;
        t->qlen++;
        pthread_cond_signal(&t->cond);
    }
    rc = THUMBS_PENDING;
unlock:
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void thumbs_set_clock(struct thumbs *t, int64_t (*now_us)(void))
{
    t->now = now_us;
}

struct thumbs *thumbs_create(struct hub_registry *reg, struct metrics *metrics)
{
    struct thumbs *t = xcalloc(1, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    t->now = clock_mono_us;
    if (metrics) {
        t->made = metrics_counter(metrics, "kibitka_thumbnails_made_total",
                                  "Stream thumbnails (JPEG) made.");
        t->failures = metrics_counter(metrics, "kibitka_thumbnail_failures_total",
                                      "Stream thumbnails that could not be made.");
        t->make_us_total = metrics_counter(metrics, "kibitka_thumbnail_make_microseconds_total",
                                           "Time spent making thumbnails, in microseconds.");
        t->last_make_us = metrics_gauge(metrics, "kibitka_thumbnail_last_make_microseconds",
                                        "Time the last thumbnail took to make, in microseconds.");
    }
    if (pthread_create(&t->thread, NULL, worker, t) != 0) {
        log_error("thumb", NULL, "cannot start the thumbnail worker");
        thumbs_destroy(&t);
        return NULL;
    }
    t->thread_started = true;
    if (reg)
        hub_registry_observe(reg, observe, t);
    return t;
}

void thumbs_stop(struct thumbs *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    bool join = t->thread_started && !t->stopping;
    t->stopping = true;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
    if (join)
        pthread_join(t->thread, NULL);
    /* The worker is gone: answer what it left in the queue. */
    pthread_mutex_lock(&t->lock);
    while (t->qhead) {
        struct entry *e = t->qhead;
        t->qhead = e->qnext;
        t->qlen--;
        struct waiter *ws = e->waiters;
        e->waiters = NULL;
        e->queued = false;
        entry_unref_locked(e);
        pthread_mutex_unlock(&t->lock);
        answer(ws, NULL, -ECANCELED);
        pthread_mutex_lock(&t->lock);
    }
    t->qtail = NULL;
    pthread_mutex_unlock(&t->lock);
}

void thumbs_destroy(struct thumbs **pt)
{
    struct thumbs *t = *pt;
    if (!t)
        return;
    *pt = NULL;
    thumbs_stop(t);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
