/* A live stream's renditions and its multivariant playlist. See hls_group.h. */
#include "packager/hls_group.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "packager/hls_ladder.h"

/* A multivariant request before the renditions are ready waits at most this long. */
#define NOT_READY_WAIT_US (15 * 1000000LL)
/* Once a variant is ready, renditions that are not (an encoded rung whose worker lags) are
 * waited for this many target durations, then left out of the answer: a slow rung must not
 * hold back the start of the stream. They are listed once ready. Normally the rungs are ready
 * 0.15 s after the source; two targets let a busy machine's rungs start too (their encoders
 * ramp up), while a player that asks at the publish's start still gets an answer within about
 * 4 s + 4 s, under hls.js' 10 s manifest timeout. */
#define LAGGARD_WAIT_TARGETS 2

/* Distinct playlist clients, by address hash: a fixed table, the least recently seen slot
 * reused when full, so memory stays bounded whatever the audience. */
#define VIEWER_SLOTS 1024

struct viewer {
    uint64_t client;
    int64_t seen_us;
};

struct rendition {
    char name[HLS_RENDITION_MAX + 1];
    struct hls_stream *st;
};

struct hls_group {
    atomic_int refs;
    char name[HUB_NAME_MAX + 1];
    char sid[PL_SID_MAX + 1];
    struct hls_stream_config cfg;
    struct hls_counters mx;
    int64_t started_mono_us;
    pthread_mutex_t lock;
    /* Under lock. */
    struct rendition r[HLS_GROUP_MAX_RENDITIONS];
    int n;
    bool detached, ended;
    int64_t ended_us;
    int64_t first_ready_us; /* when a variant was first seen ready; 0 before */
    int64_t clock_us;       /* hls_group_set_clock; 0 before */
    struct hls_waiter *waiters;
    struct hls_ladder *ladder;
    struct hls_peers *peers; /* for the renditions' EXT-X-RENDITION-REPORT tags */
    struct viewer viewers[VIEWER_SLOTS];
};

struct hls_group *hls_group_create(const char *name, const char *sid,
                                   const struct hls_stream_config *cfg, int64_t started_mono_us)
{
    struct hls_group *g = xcalloc(1, sizeof(*g));
    atomic_init(&g->refs, 1);
    snprintf(g->name, sizeof(g->name), "%s", name);
    snprintf(g->sid, sizeof(g->sid), "%s", sid);
    g->cfg = *cfg;
    hls_counters_register(cfg->metrics, &g->mx);
    g->started_mono_us = started_mono_us;
    g->peers = hls_peers_create();
    pthread_mutex_init(&g->lock, NULL);
    return g;
}

struct hls_group *hls_group_ref(struct hls_group *g)
{
    atomic_fetch_add(&g->refs, 1);
    return g;
}

void hls_group_unref(struct hls_group *g)
{
    if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
        return;
    hls_waiters_wake(g->waiters, g->mx.blocking);
    hls_ladder_destroy(&g->ladder);
    for (int i = 0; i < g->n; i++)
        hls_stream_unref(g->r[i].st);
    hls_peers_unref(g->peers);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

const char *hls_group_name(const struct hls_group *g)
{
    return g->name;
}

struct hls_stream *hls_group_add(struct hls_group *g, const char *rendition)
{
    struct hls_stream *st = NULL;
    pthread_mutex_lock(&g->lock);
    bool taken = false;
    for (int i = 0; i < g->n; i++)
        taken |= strcmp(g->r[i].name, rendition) == 0;
    if (!taken && g->n < HLS_GROUP_MAX_RENDITIONS) {
        struct rendition *r = &g->r[g->n++];
        snprintf(r->name, sizeof(r->name), "%s", rendition);
        r->st = hls_stream_create(g->name, rendition, g->sid, &g->cfg, g->started_mono_us);
        hls_stream_join(r->st, g->peers);
        if (g->detached)
            hls_stream_detach(r->st);
        if (g->clock_us > 0)
            hls_stream_set_clock(r->st, g->clock_us);
        st = hls_stream_ref(r->st);
    }
    pthread_mutex_unlock(&g->lock);
    return st;
}

void hls_group_set_clock(struct hls_group *g, int64_t wall_at_zero_us)
{
    pthread_mutex_lock(&g->lock);
    g->clock_us = wall_at_zero_us;
    for (int i = 0; i < g->n; i++)
        hls_stream_set_clock(g->r[i].st, wall_at_zero_us);
    pthread_mutex_unlock(&g->lock);
}

struct hls_stream *hls_group_find(struct hls_group *g, const char *rendition)
{
    struct hls_stream *st = NULL;
    pthread_mutex_lock(&g->lock);
    for (int i = 0; i < g->n && !st; i++)
        if (strcmp(g->r[i].name, rendition) == 0)
            st = hls_stream_ref(g->r[i].st);
    pthread_mutex_unlock(&g->lock);
    return st;
}

void hls_group_set_ladder(struct hls_group *g, struct hls_ladder *ladder)
{
    pthread_mutex_lock(&g->lock);
    hls_ladder_destroy(&g->ladder); /* none: one ladder per publish */
    g->ladder = ladder;
    pthread_mutex_unlock(&g->lock);
}

/* ---- the multivariant playlist ---- */

/* The renditions as they are: references and stats read with the group's lock released. The
 * ingest thread takes the group's lock (the tick) and an encoded rung's thread takes its
 * rendition's, so no rendition's lock is ever taken under the group's: the ingest thread, which
 * cuts the source, must never wait for a rung. */
struct view {
    struct rendition r[HLS_GROUP_MAX_RENDITIONS];
    struct hls_stream_stats stats[HLS_GROUP_MAX_RENDITIONS];
    int n;
    bool ended, detached, waiters;
};

static void view_take(struct hls_group *g, struct view *v, bool with_stats)
{
    pthread_mutex_lock(&g->lock);
    v->n = g->n;
    v->ended = g->ended;
    v->detached = g->detached;
    v->waiters = g->waiters != NULL;
    for (int i = 0; i < g->n; i++) {
        v->r[i] = g->r[i];
        hls_stream_ref(v->r[i].st);
    }
    pthread_mutex_unlock(&g->lock);
    for (int i = 0; with_stats && i < v->n; i++)
        hls_stream_stats(v->r[i].st, &v->stats[i]);
}

static void view_drop(struct view *v)
{
    for (int i = 0; i < v->n; i++)
        hls_stream_unref(v->r[i].st);
    v->n = 0;
}

/* Whether the playlist can be written now: some variant is ready and no rendition that may
 * still produce media is not, or those that are not have had LAGGARD_WAIT_TARGETS since.
 * Under the group's lock (first_ready_us). */
static bool mv_ready(struct hls_group *g, const struct view *v, int64_t now)
{
    bool any = false, waiting = v->n == 0 && !v->ended;
    int target_s = 0;
    for (int i = 0; i < v->n; i++) {
        const struct hls_stream_stats *s = &v->stats[i];
        if (s->ready && !s->failed) {
            any = true;
            target_s = s->target_s;
        } else if (!s->ready && !s->ended) {
            waiting = true;
        }
    }
    if (!any)
        return false;
    if (g->first_ready_us == 0)
        g->first_ready_us = now;
    return !waiting || now - g->first_ready_us >= LAGGARD_WAIT_TARGETS * target_s * 1000000LL;
}

static bool all_ended(const struct view *v)
{
    bool ended = v->n > 0 || v->ended;
    for (int i = 0; i < v->n; i++)
        ended &= v->stats[i].ended;
    return ended;
}

static struct blob *mv_write(const struct view *view)
{
    struct pl_variant v[HLS_GROUP_MAX_RENDITIONS];
    char uri[HLS_GROUP_MAX_RENDITIONS][32];
    int nv = 0;
    bool captions = false, video = false;
    for (int i = 0; i < view->n; i++) {
        const struct hls_stream_stats *s = &view->stats[i];
        if (!s->ready || s->failed)
            continue;
        captions |= s->vi.captions;
        video |= s->vi.width > 0;
        snprintf(uri[nv], sizeof(uri[nv]), "%s/media.m3u8", view->r[i].name);
        v[nv] = (struct pl_variant){
            .bandwidth = s->peak_bps > 0 ? s->peak_bps : 1000000,
            .avg_bandwidth = s->avg_bps > 0 ? s->avg_bps : 0,
            .width = s->vi.width,
            .height = s->vi.height,
            .frame_rate = s->vi.frame_rate,
            .codecs = s->vi.codecs,
            .uri = uri[nv],
        };
        nv++;
    }
    struct buf b;
    buf_init(&b);
    /* CLOSED-CAPTIONS=NONE where there is video and none of it carries captions. */
    pl_write_multivariant(&b, v, nv, video && !captions);
    struct blob *out = blob_create(buf_head(&b), buf_size(&b));
    buf_free(&b);
    return out;
}

int hls_group_answer(struct hls_group *g, int64_t wait_started_us, struct hls_response *resp)
{
    struct view v;
    memset(resp, 0, sizeof(*resp));
    int64_t now = clock_mono_us();
    view_take(g, &v, true);
    pthread_mutex_lock(&g->lock);
    bool ready = mv_ready(g, &v, now);
    pthread_mutex_unlock(&g->lock);
    bool gone = v.detached, ended = all_ended(&v);
    bool any_variant = false;
    for (int i = 0; i < v.n; i++)
        any_variant |= v.stats[i].ready && !v.stats[i].failed;
    struct blob *body = ready || (gone && any_variant) ? mv_write(&v) : NULL;
    view_drop(&v);
    resp->content_type = "application/vnd.apple.mpegurl";
    resp->cache_control = "no-cache";
    if (body) {
        resp->status = 200;
        resp->body = body;
        return 0;
    }
    if (!gone && !ended && (wait_started_us == 0 || now - wait_started_us < NOT_READY_WAIT_US))
        return HLS_BLOCK;
    resp->status = gone || ended ? 404 : 503;
    resp->content_type = "text/plain; charset=utf-8";
    resp->cache_control = "no-store";
    snprintf(resp->error, sizeof(resp->error), "%s",
             resp->status == 404 ? "the stream has no playlist"
                                 : "the stream's renditions are not ready yet");
    return 0;
}

int hls_group_wait(struct hls_group *g, int64_t wait_started_us, void (*wake)(void *), void *arg)
{
    struct hls_response resp;
    if (hls_group_answer(g, wait_started_us, &resp) != HLS_BLOCK) {
        blob_unrefp(&resp.body);
        return 1;
    }
    int64_t now = clock_mono_us();
    struct hls_waiter *w = xcalloc(1, sizeof(*w));
    w->wake = wake;
    w->arg = arg;
    w->deadline_us = (wait_started_us > 0 ? wait_started_us : now) + NOT_READY_WAIT_US;
    pthread_mutex_lock(&g->lock);
    if (g->detached) {
        pthread_mutex_unlock(&g->lock);
        free(w);
        return 1;
    }
    w->next = g->waiters;
    g->waiters = w;
    metrics_add(g->mx.blocking, 1);
    pthread_mutex_unlock(&g->lock);
    return 0;
}

/* ---- server side ---- */

void hls_group_end(struct hls_group *g)
{
    pthread_mutex_lock(&g->lock);
    if (!g->ended) {
        g->ended = true;
        g->ended_us = clock_mono_us();
    }
    pthread_mutex_unlock(&g->lock);
}

void hls_group_detach(struct hls_group *g)
{
    struct view v;
    pthread_mutex_lock(&g->lock);
    g->detached = true; /* renditions added from now on are detached by hls_group_add */
    struct hls_waiter *wake = g->waiters;
    g->waiters = NULL;
    pthread_mutex_unlock(&g->lock);
    view_take(g, &v, false);
    for (int i = 0; i < v.n; i++)
        hls_stream_detach(v.r[i].st);
    view_drop(&v);
    hls_waiters_wake(wake, g->mx.blocking);
}

bool hls_group_tick(struct hls_group *g, int64_t now_us)
{
    struct view v;
    view_take(g, &v, false);
    bool streams_done = true;
    for (int i = 0; i < v.n; i++)
        streams_done &= hls_stream_tick(v.r[i].st, now_us);
    for (int i = 0; v.waiters && i < v.n; i++) /* only while the renditions start */
        hls_stream_stats(v.r[i].st, &v.stats[i]);
    struct hls_waiter *wake = NULL;
    pthread_mutex_lock(&g->lock);
    bool done = streams_done && g->ended && now_us - g->ended_us >= g->cfg.linger_us;
    if (v.waiters) {
        bool ready = mv_ready(g, &v, now_us), ended = all_ended(&v);
        for (struct hls_waiter **pp = &g->waiters; *pp;) {
            struct hls_waiter *w = *pp;
            if (ready || ended || now_us >= w->deadline_us) {
                *pp = w->next;
                w->next = wake;
                wake = w;
            } else {
                pp = &w->next;
            }
        }
    }
    struct hls_ladder *reap = g->ladder && hls_ladder_done(g->ladder) ? g->ladder : NULL;
    if (reap)
        g->ladder = NULL;
    pthread_mutex_unlock(&g->lock);
    view_drop(&v);
    hls_ladder_destroy(&reap);
    hls_waiters_wake(wake, g->mx.blocking);
    return done;
}

void hls_group_note_viewer(struct hls_group *g, uint64_t client, int64_t now_us)
{
    pthread_mutex_lock(&g->lock);
    struct viewer *slot = &g->viewers[0];
    for (int i = 0; i < VIEWER_SLOTS; i++) {
        struct viewer *v = &g->viewers[i];
        if (v->seen_us && v->client == client) {
            slot = v;
            break;
        }
        if (v->seen_us < slot->seen_us)
            slot = v; /* empty (0) or least recent so far */
    }
    slot->client = client;
    slot->seen_us = now_us;
    pthread_mutex_unlock(&g->lock);
}

int hls_group_viewers(struct hls_group *g, int64_t now_us, int64_t window_us)
{
    int n = 0;
    pthread_mutex_lock(&g->lock);
    for (int i = 0; i < VIEWER_SLOTS; i++)
        n += g->viewers[i].seen_us && now_us - g->viewers[i].seen_us <= window_us;
    pthread_mutex_unlock(&g->lock);
    return n;
}

void hls_group_counts(struct hls_group *g, uint64_t *parts, uint64_t *segments, int64_t *bytes_held,
                      double *lag_s)
{
    struct view v;
    *parts = *segments = 0;
    *bytes_held = 0;
    view_take(g, &v, false);
    for (int i = 0; i < v.n; i++) {
        uint64_t p, s;
        int64_t b;
        hls_stream_counts(v.r[i].st, &p, &s, &b);
        *parts += p;
        *segments += s;
        *bytes_held += b;
    }
    view_drop(&v);
    pthread_mutex_lock(&g->lock);
    *lag_s = g->ladder ? hls_ladder_lag(g->ladder) : 0;
    pthread_mutex_unlock(&g->lock);
}
