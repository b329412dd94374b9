/* The transcode worker thread. See worker.h. */
#include "transcode/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

/* Lag thresholds for keyframe-only rungs (see worker.h). */
#define SKIP_FIRST_S 1.0
#define SKIP_STEP_S 0.5
#define SKIP_CLEAR_S 0.5
/* Output pts -> wall clock: the encoders hold far fewer frames than this. */
#define WALL_RING 256
/* How much nicer than the server the worker runs (at most 19), with the decoder's and the
 * encoders' threads, which inherit it (see worker.h). */
#define WORKER_NICE 10
/* Ring slots beyond WORKER_QUEUE_MAX, for restarts, which are never dropped. */
#define RING (WORKER_QUEUE_MAX + 16)

struct item {
    AVPacket *pkt;              /* NULL for a restart */
    AVCodecParameters *restart; /* the new source, for a restart */
    int64_t wall_us;
    int64_t queued_us; /* clock_mono_us() at push */
    bool after_hole;   /* the keyframe after source frames push dropped */
};

/* An audio packet waiting for the video before it (transcode_worker_push_audio). */
struct audio_item {
    AVPacket *pkt;
    int64_t dts_us, wall_us;
};

atomic_int_fast64_t *transcode_dropped_frames_metric(struct metrics *m)
{
    return metrics_counter(
        m, "kibitka_transcode_dropped_frames_total",
        "Rendition frames not encoded because a transcode worker fell behind (per rung).");
}

struct transcode_worker {
    atomic_int_fast64_t *dropped_frames; /* kibitka_transcode_dropped_frames_total */
    struct transcode_worker_config cfg;  /* cfg.tc.src is src */
    AVCodecParameters *src;              /* the worker's own copy of the source's parameters */
    struct ladder ladder;
    char preset[32], stream[64];
    pthread_t thread;
    bool thread_started; /* false only when transcode_worker_start failed to start it */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    /* Under lock: the queue (a ring of WORKER_QUEUE_MAX), and the flags. */
    struct item q[RING];
    int head, len;
    bool finishing, abort, dropping;
    int64_t dropped; /* source packets dropped by push */
    /* Under lock: audio for the rungs (a ring of WORKER_AUDIO_MAX), and how much of it was lost
     * to a full ring. */
    struct audio_item aq[WORKER_AUDIO_MAX];
    int ahead, alen;
    int64_t audio_lost;
    /* Read by any thread. */
    atomic_bool done;
    atomic_int_fast64_t lag_us;
    atomic_int skipping;
    /* Worker thread only. */
    struct transcoder *t;
    int64_t wall_pts[WALL_RING], wall_us[WALL_RING];
    int wall_next;
    int64_t skipped_seen;
    double test_pause_s; /* KIBITKA_TEST_WORKER_PAUSE; 0 once paused */
};

static const char *name_of(const struct transcode_worker *w)
{
    return w->stream[0] ? w->stream : NULL;
}

static int64_t wall_for(const struct transcode_worker *w, int64_t pts)
{
    int64_t best = 0, best_pts = INT64_MIN;
    for (int i = 0; i < WALL_RING; i++) {
        if (w->wall_us[i] == 0)
            continue;
        if (w->wall_pts[i] == pts)
            return w->wall_us[i];
        if (w->wall_pts[i] < pts && w->wall_pts[i] > best_pts) {
            best_pts = w->wall_pts[i];
            best = w->wall_us[i];
        }
    }
    if (best == 0)
        return clock_wall_us();
    return best + av_rescale_q(pts - best_pts, w->cfg.tc.time_base, (AVRational){1, 1000000});
}

/* Adjusts the keyframe-only rungs to the lag. */
static void shed(struct transcode_worker *w, double lag_s)
{
    int n = transcoder_rung_count(w->t), cur = atomic_load(&w->skipping), want = cur;
    double first = w->cfg.shed_after_s > 0 ? w->cfg.shed_after_s : SKIP_FIRST_S;
    if (lag_s < SKIP_CLEAR_S)
        want = 0;
    else if (lag_s >= first)
        want = 1 + (int)((lag_s - first) / SKIP_STEP_S);
    if (want > n)
        want = n;
    if (want < cur && lag_s >= SKIP_CLEAR_S)
        want = cur; /* hysteresis: only clear once well caught up */
    if (want == cur)
        return;
    if (want > cur)
        log_warn("transcode", name_of(w),
                 "%.1f s behind the source: the %d lowest rung(s) now encode keyframes and a frame "
                 "per part only",
                 lag_s, want);
    else
        log_info("transcode", name_of(w), "caught up (%.2f s behind): every rung encodes again",
                 lag_s);
    transcoder_set_skip(w->t, want);
    atomic_store(&w->skipping, want);
}

static void emit_ready(struct transcode_worker *w)
{
    AVPacket *out = av_packet_alloc();
    if (!out)
        abort();
    int rung;
    while (transcoder_receive(w->t, out, &rung) == 0) {
        w->cfg.ops.packet(w->cfg.opaque, rung, out, wall_for(w, out->pts));
        av_packet_unref(out);
    }
    av_packet_free(&out);
    int64_t skipped = transcoder_skipped(w->t);
    if (skipped > w->skipped_seen)
        metrics_add(w->dropped_frames, skipped - w->skipped_seen);
    w->skipped_seen = skipped;
}

/* Gives ops.audio the audio held that starts at or before upto_us (all of it when all). */
static void release_audio(struct transcode_worker *w, int64_t upto_us, bool all)
{
    for (;;) {
        struct audio_item it = {0};
        pthread_mutex_lock(&w->lock);
        if (w->alen > 0 && (all || w->aq[w->ahead].dts_us <= upto_us)) {
            it = w->aq[w->ahead];
            w->aq[w->ahead].pkt = NULL;
            w->ahead = (w->ahead + 1) % WORKER_AUDIO_MAX;
            w->alen--;
        }
        pthread_mutex_unlock(&w->lock);
        if (!it.pkt)
            return;
        if (w->cfg.ops.audio)
            w->cfg.ops.audio(w->cfg.opaque, it.pkt, it.wall_us);
        av_packet_free(&it.pkt);
    }
}

/* Takes the next item; false when the worker must stop (finished and empty, or aborted). */
static bool take(struct transcode_worker *w, struct item *it)
{
    pthread_mutex_lock(&w->lock);
    while (w->len == 0 && !w->finishing && !w->abort)
        pthread_cond_wait(&w->cond, &w->lock);
    bool ok = !w->abort && w->len > 0;
    if (ok) {
        *it = w->q[w->head];
        w->q[w->head].pkt = NULL;
        w->q[w->head].restart = NULL;
        w->head = (w->head + 1) % RING;
        w->len--;
    }
    pthread_mutex_unlock(&w->lock);
    return ok;
}

/* Flushes the frames before a reconfiguration and re-opens the ladder on the new source. */
static void restart(struct transcode_worker *w, AVCodecParameters *par)
{
    if (w->t) {
        transcoder_send(w->t, NULL);
        emit_ready(w);
        transcoder_destroy(&w->t);
    }
    avcodec_parameters_free(&w->src);
    w->src = par;
    w->cfg.tc.src = par;
    for (int i = 0; i < w->ladder.nrungs; i++)
        w->ladder.rungs[i].width =
            ladder_even_width(par->width, par->height, w->ladder.rungs[i].height);
    atomic_store(&w->skipping, 0);
    w->skipped_seen = 0;
    int rc = transcoder_create(&w->cfg.tc, &w->t);
    if (rc < 0) {
        w->cfg.ops.fail(w->cfg.opaque, rc);
        return;
    }
    log_info("transcode", name_of(w), "ladder re-opened on the new %dx%d source", par->width,
             par->height);
    w->cfg.ops.restart(w->cfg.opaque, w->t);
}

/* KIBITKA_TEST_WORKER_PAUSE=S (tests only): once, at the first packet 8 s into the stream, the
 * worker stands still for S seconds (until the stream ends, at most), as a rung starved of CPU
 * would: the queue ages past WORKER_LAG_DROP_S and push drops source frames, leaving a hole. */
static void test_pause(struct transcode_worker *w, const AVPacket *pkt)
{
    if (w->test_pause_s <= 0 || pkt->pts == AV_NOPTS_VALUE ||
        av_rescale_q(pkt->pts, w->cfg.tc.time_base, (AVRational){1, 1000}) < 8000)
        return;
    log_warn("transcode", name_of(w),
             "KIBITKA_TEST_WORKER_PAUSE: the ladder stands still for %.1f s", w->test_pause_s);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    int64_t ns = until.tv_nsec + (int64_t)(w->test_pause_s * 1e9);
    until.tv_sec += (time_t)(ns / 1000000000);
    until.tv_nsec = (long)(ns % 1000000000);
    w->test_pause_s = 0;
    pthread_mutex_lock(&w->lock);
    while (!w->finishing && !w->abort &&
           pthread_cond_timedwait(&w->cond, &w->lock, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&w->lock);
}

static void transcode_one(struct transcode_worker *w, struct item *it)
{
    if (it->restart) {
        restart(w, it->restart);
        return;
    }
    if (!w->t) { /* the ladder failed to re-open: nothing to encode with */
        av_packet_free(&it->pkt);
        return;
    }
    test_pause(w, it->pkt);
    if (it->after_hole && w->cfg.ops.hole)
        w->cfg.ops.hole(w->cfg.opaque, it->pkt->pts);
    int64_t lag = clock_mono_us() - it->queued_us;
    atomic_store(&w->lag_us, lag);
    shed(w, (double)lag / 1e6);
    w->wall_pts[w->wall_next] = it->pkt->pts;
    w->wall_us[w->wall_next] = it->wall_us;
    w->wall_next = (w->wall_next + 1) % WALL_RING;
    int64_t sent_us = av_rescale_q(it->pkt->pts != AV_NOPTS_VALUE ? it->pkt->pts : it->pkt->dts,
                                   w->cfg.tc.time_base, (AVRational){1, 1000000});
    transcoder_send(w->t, it->pkt); /* errors are logged there; a live source recovers */
    av_packet_free(&it->pkt);
    emit_ready(w);
    release_audio(w, sent_us, false);
}

/* Lowers this thread's priority before the decoder and encoders start theirs: on Linux the
 * nice value is per thread and a new thread inherits its creator's. A failure only costs the
 * isolation, so it is not an error. */
static void lower_priority(void)
{
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int cur = getpriority(PRIO_PROCESS, tid);
    if (cur == -1 && errno != 0)
        return;
    (void)setpriority(PRIO_PROCESS, tid, cur + WORKER_NICE > 19 ? 19 : cur + WORKER_NICE);
}

/* KIBITKA_TEST_WORKER_STALL set (tests only): the worker stays stuck before opening the ladder
 * until the stream ends, as a rung that cannot keep up at all; its rungs get nothing. */
static void test_stall(struct transcode_worker *w)
{
    if (!getenv("KIBITKA_TEST_WORKER_STALL"))
        return;
    log_warn("transcode", name_of(w), "KIBITKA_TEST_WORKER_STALL: the ladder is stalled");
    pthread_mutex_lock(&w->lock);
    while (!w->finishing && !w->abort)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

static void *run(void *arg)
{
    struct transcode_worker *w = arg;
    lower_priority();
    test_stall(w);
    const char *pause = getenv("KIBITKA_TEST_WORKER_PAUSE");
    w->test_pause_s = pause ? atof(pause) : 0;
    int rc = transcoder_create(&w->cfg.tc, &w->t);
    if (rc < 0) {
        w->cfg.ops.fail(w->cfg.opaque, rc);
        atomic_store(&w->done, true);
        return NULL;
    }
    w->cfg.ops.start(w->cfg.opaque, w->t);
    struct item it;
    while (take(w, &it))
        transcode_one(w, &it);
    atomic_store(&w->lag_us, 0);
    pthread_mutex_lock(&w->lock);
    bool aborted = w->abort;
    pthread_mutex_unlock(&w->lock);
    if (!aborted && w->t) {
        transcoder_send(w->t, NULL);
        emit_ready(w);
    }
    if (!aborted)
        release_audio(w, 0, true);
    w->cfg.ops.end(w->cfg.opaque);
    transcoder_destroy(&w->t);
    atomic_store(&w->done, true);
    return NULL;
}

int transcode_worker_start(const struct transcode_worker_config *cfg, struct transcode_worker **out)
{
    struct transcode_worker *w = xcalloc(1, sizeof(*w));
    w->cfg = *cfg;
    w->dropped_frames = transcode_dropped_frames_metric(cfg->metrics);
    w->ladder = *cfg->tc.ladder;
    w->cfg.tc.ladder = &w->ladder;
    snprintf(w->preset, sizeof(w->preset), "%s", cfg->tc.preset ? cfg->tc.preset : "veryfast");
    w->cfg.tc.preset = w->preset;
    snprintf(w->stream, sizeof(w->stream), "%s", cfg->tc.stream ? cfg->tc.stream : "");
    w->cfg.tc.stream = w->stream;
    /* The source's codec parameters are the caller's: keep a copy. */
    w->src = avcodec_parameters_alloc();
    if (!w->src || avcodec_parameters_copy(w->src, cfg->tc.src) < 0)
        abort();
    w->cfg.tc.src = w->src;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    int rc = pthread_create(&w->thread, NULL, run, w);
    w->thread_started = rc == 0;
    if (rc != 0)
        transcode_worker_destroy(&w);
    *out = w;
    return -rc;
}

/* Under lock: whether pkt must be dropped to keep the queue bounded. */
static bool must_drop(struct transcode_worker *w, const AVPacket *pkt, int64_t now)
{
    bool key = pkt->flags & AV_PKT_FLAG_KEY;
    if (w->dropping && !key)
        return true;
    bool behind = w->len > 0 && now - w->q[w->head].queued_us > (int64_t)(WORKER_LAG_DROP_S * 1e6);
    if (w->len < WORKER_QUEUE_MAX && !behind) {
        if (w->dropping)
            log_info("transcode", name_of(w),
                     "transcoding again from a keyframe after dropping %lld source frames",
                     (long long)w->dropped);
        w->dropping = false;
        return false;
    }
    if (!w->dropping)
        log_warn("transcode", name_of(w),
                 "%d packets (%.1f s) queued: dropping source frames until the next keyframe",
                 w->len, (double)(now - w->q[w->head].queued_us) / 1e6);
    w->dropping = true;
    return true;
}

void transcode_worker_push(struct transcode_worker *w, const AVPacket *pkt, int64_t wall_us)
{
    int64_t now = clock_mono_us();
    pthread_mutex_lock(&w->lock);
    if (w->finishing || w->abort) {
        pthread_mutex_unlock(&w->lock);
        return;
    }
    bool was_dropping = w->dropping;
    if (must_drop(w, pkt, now)) {
        w->dropped++;
        pthread_mutex_unlock(&w->lock);
        metrics_add(w->dropped_frames, w->ladder.nrungs);
        return;
    }
    AVPacket *ref = av_packet_clone(pkt);
    if (!ref)
        abort();
    w->q[(w->head + w->len) % RING] =
        (struct item){.pkt = ref, .wall_us = wall_us, .queued_us = now, .after_hole = was_dropping};
    w->len++;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void transcode_worker_push_audio(struct transcode_worker *w, const AVPacket *pkt, int64_t dts_us,
                                 int64_t wall_us)
{
    AVPacket *ref = av_packet_clone(pkt);
    if (!ref)
        abort();
    AVPacket *lost = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->finishing || w->abort) {
        pthread_mutex_unlock(&w->lock);
        av_packet_free(&ref);
        return;
    }
    if (w->alen == WORKER_AUDIO_MAX) { /* the ladder stands still: the oldest goes */
        lost = w->aq[w->ahead].pkt;
        w->aq[w->ahead].pkt = NULL;
        w->ahead = (w->ahead + 1) % WORKER_AUDIO_MAX;
        w->alen--;
        if (w->audio_lost++ == 0)
            log_warn("transcode", name_of(w),
                     "the ladder is %d audio packets behind: the rungs lose their oldest audio",
                     WORKER_AUDIO_MAX);
    }
    w->aq[(w->ahead + w->alen) % WORKER_AUDIO_MAX] =
        (struct audio_item){.pkt = ref, .dts_us = dts_us, .wall_us = wall_us};
    w->alen++;
    pthread_mutex_unlock(&w->lock);
    av_packet_free(&lost);
}

void transcode_worker_restart(struct transcode_worker *w, const AVCodecParameters *par)
{
    AVCodecParameters *copy = avcodec_parameters_alloc();
    if (!copy || avcodec_parameters_copy(copy, par) < 0)
        abort();
    pthread_mutex_lock(&w->lock);
    if (w->finishing || w->abort || w->len == RING) {
        pthread_mutex_unlock(&w->lock);
        avcodec_parameters_free(&copy);
        return;
    }
    w->q[(w->head + w->len) % RING] = (struct item){.restart = copy, .queued_us = clock_mono_us()};
    w->len++;
    w->dropping = false; /* the next keyframe is in the new configuration */
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void transcode_worker_finish(struct transcode_worker *w)
{
    pthread_mutex_lock(&w->lock);
    w->finishing = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

bool transcode_worker_done(struct transcode_worker *w)
{
    return atomic_load(&w->done);
}

void transcode_worker_destroy(struct transcode_worker **pw)
{
    struct transcode_worker *w = *pw;
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    if (!atomic_load(&w->done))
        w->abort = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    if (w->thread_started)
        pthread_join(w->thread, NULL);
    for (; w->len > 0; w->len--, w->head = (w->head + 1) % RING) {
        av_packet_free(&w->q[w->head].pkt);
        avcodec_parameters_free(&w->q[w->head].restart);
    }
    for (; w->alen > 0; w->alen--, w->ahead = (w->ahead + 1) % WORKER_AUDIO_MAX)
        av_packet_free(&w->aq[w->ahead].pkt);
    avcodec_parameters_free(&w->src);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    xfreep(pw);
}

double transcode_worker_lag(struct transcode_worker *w)
{
    return (double)atomic_load(&w->lag_us) / 1e6;
}

int transcode_worker_skipping(struct transcode_worker *w)
{
    return atomic_load(&w->skipping);
}
