#include "packager/hls_stream.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"

/* A playlist request before the first segment exists waits at most this long (the target
 * duration, which normally bounds the wait, is not known yet). */
#define NOT_READY_WAIT_US (15 * 1000000LL)
/* Complete segments before the first playlist (see hls_stream_publish). */
#define READY_SEGMENTS 1
/* The playlist lasts at least this many target durations: more than CAN-SKIP-UNTIL (6), so that
 * delta updates skip something, and far more than the 3 a client needs. */
#define WINDOW_TARGETS 12
/* Bytes of segments and parts that left the playlist stay fetchable this many target durations
 * (a client may have fetched the playlist just before). */
#define KEEP_TARGETS 3
/* Init sections kept (the current one and those of older segments still served): a source
 * would have to change its configuration this often within a playlist window to lose one. */
#define INIT_VERSIONS 8

#define TYPE_PLAYLIST "application/vnd.apple.mpegurl"
#define TYPE_INIT "video/mp4"
#define TYPE_MEDIA "video/iso.segment"
#define TYPE_TEXT "text/plain; charset=utf-8"
#define CACHE_IMMUTABLE "public, max-age=31536000, immutable"
/* Every playlist answer, blocking reloads included. A blocking reload's URL does not name one
 * playlist state: a request for a part that already exists is answered at once with whatever is
 * newest, and a player may ask the same URL again for news. video.js (VHS 3) does, after each
 * segment's last part (it asks _HLS_msn=N&_HLS_part=3 while it has 3 already, every half part
 * target): with the answers cacheable for 5 s, Chromium's cache served it the same playlist for
 * up to 5 s and it ran dry at the segment's end (issue 10, item 2). */
#define CACHE_PLAYLIST "no-cache"
#define CACHE_ERROR "no-store"

struct seg {
    int64_t msn;
    int init_version;
    bool discontinuity;  /* EXT-X-DISCONTINUITY before it (a timestamp jump) */
    int64_t duration_us; /* sum of the parts */
    int64_t wall_us;
    bool complete;
    struct pl_part *parts;
    struct blob **pdata; /* kept for the segment's whole life: the segment is made of them */
    int nparts, cap;
    int64_t bytes;     /* sum of the parts */
    struct blob *data; /* the whole segment: built on its first request (segment_data) */
    int64_t gone_us;   /* when it left the playlist; 0 while listed */
};

/* A rendition's last part for the others' reports: (msn << PEER_PART_BITS | part) + 1, or 0
 * while it has no playlist to report (not ready, or failed). */
#define PEER_PART_BITS 20

struct peer {
    char rendition[HLS_RENDITION_MAX + 1]; /* written before n counts it, then constant */
    atomic_int_fast64_t last;
};

struct hls_peers {
    atomic_int refs;
    atomic_int n;
    struct peer p[HLS_PEERS_MAX];
};

struct hls_stream {
    atomic_int refs;
    struct hls_counters mx;
    char name[HUB_NAME_MAX + 1];
    char rendition[HLS_RENDITION_MAX + 1];
    char sid[PL_SID_MAX + 1];
    struct hls_stream_config cfg;
    int64_t started_mono_us;
    struct hls_peers *peers; /* NULL: reports nothing */
    int peer;                /* our slot in peers */
    pthread_mutex_t lock;
    /* Everything below is under lock. */
    struct blob *inits[INIT_VERSIONS]; /* version v at v % INIT_VERSIONS */
    int init_version;                  /* the current one; -1 before the first */
    int64_t disc_seq;                  /* discontinuities before segs[listed] */
    int64_t clock_us;                  /* wall clock at timeline 0; 0: unknown (no PDT) */
    struct hls_variant_info vi;
    struct seg *segs; /* oldest first: [0, listed) left the playlist but are still kept */
    int nsegs, cap, listed;
    int target_s; /* 0 until the first segment is complete */
    bool ready, ended, detached, failed;
    int64_t ended_us;
    struct blob *media, *media_skip;
    struct pl_segment *scratch;
    int scratch_cap;
    struct pl_report reports[HLS_PEERS_MAX];
    struct hls_waiter *waiters;
    uint64_t parts_total, segments_total;
    int64_t bytes_total, duration_total_us, peak_bps;
};

void hls_counters_register(struct metrics *m, struct hls_counters *mx)
{
    mx->parts = metrics_counter(m, "kibitka_parts_total",
                                "LL-HLS parts produced since start, all streams.");
    mx->segments = metrics_counter(m, "kibitka_segments_total",
                                   "HLS segments produced since start, all streams.");
    mx->blocking =
        metrics_gauge(m, "kibitka_hls_blocking_requests", "Blocking playlist reloads waiting now.");
}

struct hls_stream *hls_stream_create(const char *name, const char *rendition, const char *sid,
                                     const struct hls_stream_config *cfg, int64_t started_mono_us)
{
    struct hls_stream *st = xcalloc(1, sizeof(*st));
    atomic_init(&st->refs, 1);
    snprintf(st->name, sizeof(st->name), "%s", name);
    snprintf(st->rendition, sizeof(st->rendition), "%s", rendition);
    snprintf(st->sid, sizeof(st->sid), "%s", sid);
    st->cfg = *cfg;
    hls_counters_register(cfg->metrics, &st->mx);
    st->started_mono_us = started_mono_us;
    st->init_version = -1;
    pthread_mutex_init(&st->lock, NULL);
    return st;
}

struct hls_peers *hls_peers_create(void)
{
    struct hls_peers *p = xcalloc(1, sizeof(*p));
    atomic_init(&p->refs, 1);
    return p;
}

void hls_peers_unref(struct hls_peers *p)
{
    if (p && atomic_fetch_sub(&p->refs, 1) == 1)
        free(p);
}

void hls_stream_join(struct hls_stream *st, struct hls_peers *peers)
{
    int i = atomic_load(&peers->n);
    if (st->peers || i == HLS_PEERS_MAX)
        return;
    /* One writer at a time (the group adds renditions under its lock): the name is in place
     * before readers count the slot. */
    snprintf(peers->p[i].rendition, sizeof(peers->p[i].rendition), "%s", st->rendition);
    atomic_store(&peers->p[i].last, 0);
    atomic_store(&peers->n, i + 1);
    atomic_fetch_add(&peers->refs, 1);
    st->peers = peers;
    st->peer = i;
}

/* Publishes our last part to the peers (0: nothing to report). Under lock. */
static void peer_note(struct hls_stream *st)
{
    const struct seg *s = st->nsegs ? &st->segs[st->nsegs - 1] : NULL;
    if (!st->peers)
        return;
    int64_t v = 0;
    if (st->ready && !st->failed && s && s->nparts > 0)
        v = (s->msn << PEER_PART_BITS | (int64_t)(s->nparts - 1)) + 1;
    atomic_store(&st->peers->p[st->peer].last, v);
}

/* The other renditions' last parts, as they are now, into st->reports. Under lock. */
static int peer_reports(struct hls_stream *st)
{
    int n = 0, count = st->peers ? atomic_load(&st->peers->n) : 0;
    for (int i = 0; i < count; i++) {
        int64_t v = atomic_load(&st->peers->p[i].last);
        if (i == st->peer || v <= 0)
            continue;
        v--;
        st->reports[n++] = (struct pl_report){
            .rendition = st->peers->p[i].rendition,
            .last_msn = v >> PEER_PART_BITS,
            .last_part = (int)(v & ((1 << PEER_PART_BITS) - 1)),
        };
    }
    return n;
}

struct hls_stream *hls_stream_ref(struct hls_stream *st)
{
    atomic_fetch_add(&st->refs, 1);
    return st;
}

static void seg_free(struct seg *s)
{
    for (int k = 0; k < s->nparts; k++)
        blob_unref(s->pdata[k]);
    free(s->parts);
    free(s->pdata);
    blob_unref(s->data);
}

void hls_waiters_wake(struct hls_waiter *list, atomic_int_fast64_t *blocking)
{
    while (list) {
        struct hls_waiter *w = list;
        list = w->next;
        metrics_add(blocking, -1);
        w->wake(w->arg);
        free(w);
    }
}

void hls_stream_unref(struct hls_stream *st)
{
    if (!st || atomic_fetch_sub(&st->refs, 1) != 1)
        return;
    hls_waiters_wake(st->waiters, st->mx.blocking); /* none normally: detach woke them */
    for (int i = 0; i < st->nsegs; i++)
        seg_free(&st->segs[i]);
    free(st->segs);
    free(st->scratch);
    for (int i = 0; i < INIT_VERSIONS; i++)
        blob_unref(st->inits[i]);
    blob_unref(st->media);
    blob_unref(st->media_skip);
    hls_peers_unref(st->peers);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

const char *hls_stream_name(const struct hls_stream *st)
{
    return st->name;
}

const char *hls_stream_rendition(const struct hls_stream *st)
{
    return st->rendition;
}

/* ---- lookups (under lock) ---- */

static struct seg *find_seg(const struct hls_stream *st, int64_t msn)
{
    if (st->nsegs == 0 || msn < st->segs[0].msn || msn - st->segs[0].msn >= st->nsegs)
        return NULL;
    return &st->segs[msn - st->segs[0].msn];
}

static struct seg *last_seg(const struct hls_stream *st)
{
    return st->nsegs ? &st->segs[st->nsegs - 1] : NULL;
}

/* The media sequence number of the segment being cut (the preload hint's). */
static int64_t next_msn(const struct hls_stream *st)
{
    const struct seg *s = last_seg(st);
    return !s ? 0 : s->complete ? s->msn + 1 : s->msn;
}

static int next_part(const struct hls_stream *st)
{
    const struct seg *s = last_seg(st);
    return !s || s->complete ? 0 : s->nparts;
}

static int64_t target_us(const struct hls_stream *st)
{
    return (int64_t)st->target_s * 1000000;
}

/* ---- playlists (under lock) ---- */

static struct blob *blob_from_buf(struct buf *b)
{
    struct blob *out = blob_create(buf_head(b), buf_size(b));
    buf_free(b);
    return out;
}

/* Builds the playlist description of the listed segments into st->scratch. */
static struct pl_media describe(struct hls_stream *st)
{
    int n = st->nsegs - st->listed;
    if (n > st->scratch_cap) {
        st->scratch_cap = n * 2;
        st->scratch = xrealloc(st->scratch, sizeof(*st->scratch) * (size_t)st->scratch_cap);
    }
    for (int i = 0; i < n; i++) {
        const struct seg *s = &st->segs[st->listed + i];
        st->scratch[i] = (struct pl_segment){
            .msn = s->msn,
            .duration_us = s->duration_us,
            .wall_us = s->wall_us,
            .complete = s->complete,
            .parts = s->parts,
            .nparts = s->nparts,
            .init_version = s->init_version,
            .discontinuity = s->discontinuity,
        };
    }
    return (struct pl_media){
        .sid = st->sid,
        .target_duration = st->target_s,
        .part_target_us = st->cfg.part_target_us,
        .segs = st->scratch,
        .nsegs = n,
        .ended = st->ended,
        .disc_seq = st->disc_seq,
        .init_version = st->init_version > 0 ? st->init_version : 0,
        .reports = st->reports,
        .nreports = peer_reports(st),
    };
}

static void regen_media(struct hls_stream *st)
{
    struct pl_media m = describe(st);
    struct buf b;
    buf_init(&b);
    pl_write_media(&b, &m, 0);
    blob_unref(st->media);
    st->media = blob_from_buf(&b);
    blob_unref(st->media_skip);
    int skip = pl_skippable(&m);
    if (skip > 0) {
        pl_write_media(&b, &m, skip);
        st->media_skip = blob_from_buf(&b);
    } else {
        st->media_skip = blob_ref(st->media);
    }
}

/* Moves old segments out of the playlist and frees bytes past their keep time. */
static void trim(struct hls_stream *st, int64_t now)
{
    int64_t window = WINDOW_TARGETS * target_us(st), keep = KEEP_TARGETS * target_us(st);
    int64_t total = 0;
    for (int i = st->listed; i < st->nsegs; i++)
        if (st->segs[i].complete)
            total += st->segs[i].duration_us;
    while (st->listed < st->nsegs && st->segs[st->listed].complete &&
           total - st->segs[st->listed].duration_us >= window) {
        total -= st->segs[st->listed].duration_us;
        st->segs[st->listed++].gone_us = now;
        if (st->listed < st->nsegs &&
            (st->segs[st->listed].init_version != st->segs[st->listed - 1].init_version ||
             st->segs[st->listed].discontinuity))
            st->disc_seq++;
    }
    int drop = 0;
    while (drop < st->listed && now - st->segs[drop].gone_us >= keep)
        seg_free(&st->segs[drop++]);
    if (drop > 0) {
        memmove(st->segs, st->segs + drop, sizeof(*st->segs) * (size_t)(st->nsegs - drop));
        st->nsegs -= drop;
        st->listed -= drop;
    }
}

/* ---- blocking (under lock) ---- */

/* Whether segment msn is complete (part < 0) or its part exists; a part past the last part of a
 * finished segment means part 0 of the next one. Segments older than the playlist count as
 * reached: the current playlist is the answer. */
static bool msn_reached(const struct hls_stream *st, int64_t msn, int part)
{
    if (st->listed < st->nsegs && msn < st->segs[st->listed].msn)
        return true;
    const struct seg *s = find_seg(st, msn);
    if (!s)
        return false;
    if (part < 0)
        return s->complete;
    if (part < s->nparts)
        return true;
    if (!s->complete)
        return false;
    const struct seg *t = find_seg(st, msn + 1);
    return t && t->nparts > 0;
}

/* RFC 8216bis 6.2.5.2: the Advance Part Limit, in parts: three divided by the part target
 * when it is under one second (6 for 0.5 s), else three. */
static int advance_part_limit(const struct hls_stream *st)
{
    int64_t pt = st->cfg.part_target_us;
    return pt > 0 && pt < 1000000 ? (int)(3000000 / pt) : 3;
}

/* How many parts (msn, part) is past the last part published, at least: within the last
 * part's segment, the difference of their indices; in a later segment, its part index + 1
 * plus one part for each segment in between (each has at least one). Not positive when the
 * part exists, or is the next one once the last part's segment is complete. */
static int64_t parts_ahead(const struct hls_stream *st, int64_t msn, int part)
{
    const struct seg *s = last_seg(st);
    int64_t last_msn = s ? s->msn : -1;
    if (msn < last_msn)
        return 0;
    if (msn == last_msn) {
        int64_t d = (int64_t)part - (s->nparts - 1);
        return s->complete && d > 0 ? 1 : d;
    }
    return (msn - last_msn - 1) + part + 1;
}

/* Why the blocking reload directives of q are refused at once with 400 (RFC 8216bis 6.2.5.2),
 * or NULL: malformed, _HLS_msn more than two segments past the one being cut, or _HLS_part more
 * than the Advance Part Limit past the last part. */
static const char *directive_error(const struct hls_stream *st, const struct hls_query *q)
{
    if (q->bad)
        return q->bad;
    if (q->has_msn && q->hls_msn > next_msn(st) + 2)
        return "_HLS_msn is more than two segments past the last one";
    if (q->has_msn && q->has_part &&
        parts_ahead(st, q->hls_msn, q->hls_part) > advance_part_limit(st))
        return "_HLS_part is past the Advance Part Limit (3 / PART-TARGET parts after the last "
               "part)";
    return NULL;
}

/* True when q must wait: only the media playlist before the first segments, blocking reloads
 * whose part is not there yet, and the preload-hinted part. (The multivariant playlist is the
 * group's, hls_group.c, which waits on its own.) */
static bool must_block(const struct hls_stream *st, const struct hls_query *q)
{
    if (st->detached || st->ended)
        return false;
    switch (q->file) {
    case HLS_FILE_MEDIA:
        if (directive_error(st, q))
            return false; /* 400 at once */
        if (!st->ready)
            return true;
        return q->has_msn && !msn_reached(st, q->hls_msn, q->has_part ? q->hls_part : -1);
    case HLS_FILE_PART:
        return strcmp(q->sid, st->sid) == 0 && q->msn == next_msn(st) && q->part == next_part(st);
    default:
        return false;
    }
}

static int64_t wait_limit_us(const struct hls_stream *st)
{
    return st->ready ? 3 * target_us(st) : NOT_READY_WAIT_US;
}

/* Unlinks the waiters that are satisfied (or all, or past now when now > 0). */
static struct hls_waiter *collect(struct hls_stream *st, bool all, int64_t now)
{
    struct hls_waiter *out = NULL;
    for (struct hls_waiter **pp = &st->waiters; *pp;) {
        struct hls_waiter *w = *pp;
        if (all || !must_block(st, &w->q) || (now > 0 && now >= w->deadline_us)) {
            *pp = w->next;
            w->next = out;
            out = w;
        } else {
            pp = &w->next;
        }
    }
    return out;
}

/* ---- sink side ---- */

void hls_stream_set_init(struct hls_stream *st, struct blob *init,
                         const struct hls_variant_info *vi)
{
    pthread_mutex_lock(&st->lock);
    int v = ++st->init_version;
    blob_unref(st->inits[v % INIT_VERSIONS]);
    st->inits[v % INIT_VERSIONS] = init;
    if (v > 0)
        log_info("hls", st->name, "%s: new init section (version %d, %dx%d): discontinuity",
                 st->rendition, v, vi->width, vi->height);
    st->vi = *vi;
    pthread_mutex_unlock(&st->lock);
}

void hls_stream_set_variant(struct hls_stream *st, const struct hls_variant_info *vi)
{
    pthread_mutex_lock(&st->lock);
    st->vi = *vi;
    pthread_mutex_unlock(&st->lock);
}

void hls_stream_set_clock(struct hls_stream *st, int64_t wall_at_zero_us)
{
    pthread_mutex_lock(&st->lock);
    st->clock_us = wall_at_zero_us;
    pthread_mutex_unlock(&st->lock);
}

static struct seg *open_seg(struct hls_stream *st)
{
    struct seg *last = last_seg(st);
    if (last && !last->complete)
        return last;
    int64_t msn = last ? last->msn + 1 : 0; /* read before the realloc moves the segments */
    if (st->nsegs == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 16;
        st->segs = xrealloc(st->segs, sizeof(*st->segs) * (size_t)st->cap);
    }
    struct seg *s = &st->segs[st->nsegs++];
    *s = (struct seg){.msn = msn, .init_version = st->init_version};
    return s;
}

static void add_part(struct hls_stream *st, struct seg *s, const struct hls_part_pub *pub)
{
    if (s->nparts == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->parts = xrealloc(s->parts, sizeof(*s->parts) * (size_t)s->cap);
        s->pdata = xrealloc(s->pdata, sizeof(*s->pdata) * (size_t)s->cap);
    }
    if (s->nparts == 0)
        s->wall_us = st->clock_us > 0 ? st->clock_us + pub->seg_time_us : 0;
    s->parts[s->nparts] = (struct pl_part){pub->duration_us, pub->independent};
    s->pdata[s->nparts++] = pub->data;
    s->duration_us += pub->duration_us;
    st->parts_total++;
    metrics_add(st->mx.parts, 1);
}

/* The segment's bytes are the concatenation of its parts. */
/* The segment's bytes are its parts' in order. Built when a player first asks for the segment
 * (LL-HLS players mostly fetch parts; others fetch segments) and then kept: a segment nobody
 * requests costs no copy and no memory beyond its parts. */
static struct blob *segment_data(struct seg *s)
{
    if (s->data)
        return s->data;
    s->data = blob_create(NULL, (size_t)s->bytes);
    size_t len = 0;
    for (int k = 0; k < s->nparts; k++) {
        memcpy(s->data->data + len, s->pdata[k]->data, s->pdata[k]->len);
        len += s->pdata[k]->len;
    }
    return s->data;
}

static void complete_seg(struct hls_stream *st, struct seg *s)
{
    int64_t len = 0;
    for (int k = 0; k < s->nparts; k++)
        len += (int64_t)s->pdata[k]->len;
    s->bytes = len;
    s->complete = true;
    st->segments_total++;
    metrics_add(st->mx.segments, 1);
    st->bytes_total += len;
    st->duration_total_us += s->duration_us;
    if (s->duration_us > 0) {
        int64_t bps = (int64_t)len * 8 * 1000000 / s->duration_us;
        if (bps > st->peak_bps)
            st->peak_bps = bps;
    }
}

void hls_stream_publish(struct hls_stream *st, const struct hls_part_pub *pub)
{
    hls_stream_publish_parts(st, pub, 1);
}

void hls_stream_publish_parts(struct hls_stream *st, const struct hls_part_pub *pubs, int n)
{
    int64_t now = clock_mono_us();
    pthread_mutex_lock(&st->lock);
    for (int i = 0; i < n; i++) {
        const struct hls_part_pub *pub = &pubs[i];
        struct seg *s = open_seg(st);
        if (s->nparts == 0 && pub->discontinuity && st->nsegs > 1)
            s->discontinuity = true;
        add_part(st, s, pub);
        if (pub->target_s > 0 && st->target_s == 0)
            st->target_s = pub->target_s;
        if (pub->seg_end)
            complete_seg(st, s);
        /* Playlists appear with the first complete segment, one GOP after the publish (the
         * target duration is the first GOP's length, known at the second keyframe). They once
         * waited for a second: video.js (VHS) joining a one-segment playlist waited at every
         * segment boundary, which was the 5 s cache on blocking reloads (see CACHE_PLAYLIST),
         * not the join; and hls.js 1.5 looped on its last part, which 1.7 does not. */
        if (!st->ready && st->target_s > 0 && pub->seg_end &&
            st->segments_total >= READY_SEGMENTS) {
            st->ready = true;
            log_info("hls", st->name, "%s: first playlist ready %.3f s after the publish started",
                     st->rendition, (double)(now - st->started_mono_us) / 1e6);
        }
    }
    peer_note(st);
    if (st->ready) {
        trim(st, now);
        regen_media(st);
    }
    struct hls_waiter *wake = collect(st, false, 0);
    pthread_mutex_unlock(&st->lock);
    hls_waiters_wake(wake, st->mx.blocking);
}

void hls_stream_end(struct hls_stream *st)
{
    int64_t now = clock_mono_us();
    pthread_mutex_lock(&st->lock);
    if (st->ended) {
        pthread_mutex_unlock(&st->lock);
        return;
    }
    st->ended = true;
    st->ended_us = now;
    /* The sink closes its last segment before it ends; one left open (a muxer failure) is
     * closed here with the parts it has. */
    struct seg *last = last_seg(st);
    if (last && !last->complete)
        complete_seg(st, last);
    if (!st->ready && st->target_s > 0 && st->nsegs > 0)
        st->ready = true; /* a stream shorter than READY_SEGMENTS is still served */
    if (st->ready)
        regen_media(st);
    struct hls_waiter *wake = collect(st, true, 0);
    log_info("hls", st->name, "%s ended: %" PRIu64 " segments, %" PRIu64 " parts", st->rendition,
             st->segments_total, st->parts_total);
    pthread_mutex_unlock(&st->lock);
    hls_waiters_wake(wake, st->mx.blocking);
}

/* ---- server side ---- */

void hls_stream_detach(struct hls_stream *st)
{
    pthread_mutex_lock(&st->lock);
    st->detached = true;
    struct hls_waiter *wake = collect(st, true, 0);
    pthread_mutex_unlock(&st->lock);
    hls_waiters_wake(wake, st->mx.blocking);
}

bool hls_stream_tick(struct hls_stream *st, int64_t now_us)
{
    /* The tick runs on the ingest thread, which also cuts the source: it never waits for a
     * lock that an encoded rung's thread (preempted, at a lower priority) may hold. */
    if (pthread_mutex_trylock(&st->lock) != 0)
        return false;
    struct hls_waiter *wake = collect(st, false, now_us);
    if (st->ready)
        trim(st, now_us);
    bool done = st->ended && now_us - st->ended_us >= st->cfg.linger_us;
    pthread_mutex_unlock(&st->lock);
    hls_waiters_wake(wake, st->mx.blocking);
    return done;
}

void hls_stream_fail(struct hls_stream *st)
{
    pthread_mutex_lock(&st->lock);
    st->failed = true;
    peer_note(st);
    pthread_mutex_unlock(&st->lock);
    hls_stream_end(st);
}

void hls_stream_stats(struct hls_stream *st, struct hls_stream_stats *out)
{
    pthread_mutex_lock(&st->lock);
    *out = (struct hls_stream_stats){
        .ready = st->ready,
        .ended = st->ended,
        .failed = st->failed,
        .peak_bps = st->peak_bps,
        .avg_bps =
            st->duration_total_us > 0 ? st->bytes_total * 8 * 1000000 / st->duration_total_us : 0,
        .vi = st->vi,
        .target_s = st->target_s,
    };
    pthread_mutex_unlock(&st->lock);
}

void hls_stream_counts(struct hls_stream *st, uint64_t *parts, uint64_t *segments,
                       int64_t *bytes_held)
{
    pthread_mutex_lock(&st->lock);
    *parts = st->parts_total;
    *segments = st->segments_total;
    int64_t held = 0;
    for (int i = 0; i < st->nsegs; i++) {
        const struct seg *s = &st->segs[i];
        held += s->data ? (int64_t)s->data->len : 0;
        for (int k = 0; k < s->nparts; k++)
            held += s->pdata[k] ? (int64_t)s->pdata[k]->len : 0;
    }
    *bytes_held = held;
    pthread_mutex_unlock(&st->lock);
}

/* ---- answers (under lock) ---- */

static int answer_error(struct hls_response *resp, int status, const char *why)
{
    resp->status = status;
    resp->body = NULL;
    resp->content_type = TYPE_TEXT;
    resp->cache_control = CACHE_ERROR;
    snprintf(resp->error, sizeof(resp->error), "%s", why);
    return 0;
}

static int answer_blob(struct hls_response *resp, struct blob *b, const char *type,
                       const char *cache)
{
    resp->status = 200;
    resp->body = blob_ref(b);
    resp->content_type = type;
    resp->cache_control = cache;
    resp->error[0] = '\0';
    return 0;
}

static int answer_media(struct hls_stream *st, const struct hls_query *q, struct hls_response *resp)
{
    const char *bad = st->ended ? NULL : directive_error(st, q);
    if (bad)
        return answer_error(resp, 400, bad);
    if (!st->media)
        return answer_error(resp, 404, "the stream has no playlist");
    struct blob *b = q->skip && !st->ended ? st->media_skip : st->media;
    return answer_blob(resp, b, TYPE_PLAYLIST, CACHE_PLAYLIST);
}

static int answer_file(struct hls_stream *st, const struct hls_query *q, struct hls_response *resp)
{
    if (strcmp(q->sid, st->sid) != 0)
        return answer_error(resp, 404, "no such file in this publish session");
    if (q->file == HLS_FILE_INIT) {
        int64_t v = q->msn; /* the version */
        if (st->init_version < 0 || v > st->init_version || v <= st->init_version - INIT_VERSIONS)
            return answer_error(resp, 404, "no such init section");
        return answer_blob(resp, st->inits[v % INIT_VERSIONS], TYPE_INIT, CACHE_IMMUTABLE);
    }
    struct seg *s = find_seg(st, q->msn);
    if (q->file == HLS_FILE_SEGMENT) {
        if (!s || !s->complete)
            return answer_error(resp, 404, "no such segment");
        return answer_blob(resp, segment_data(s), TYPE_MEDIA, CACHE_IMMUTABLE);
    }
    if (!s || q->part >= s->nparts)
        return answer_error(resp, 404, "no such part");
    return answer_blob(resp, s->pdata[q->part], TYPE_MEDIA, CACHE_IMMUTABLE);
}

static int answer_locked(struct hls_stream *st, const struct hls_query *q,
                         struct hls_response *resp, int64_t now)
{
    if (must_block(st, q)) {
        if (q->wait_started_us > 0 && now - q->wait_started_us >= wait_limit_us(st))
            return answer_error(resp, 503, "blocked longer than three target durations");
        return HLS_BLOCK;
    }
    switch (q->file) {
    case HLS_FILE_MULTIVARIANT:
        return answer_error(resp, 404, "the multivariant playlist is the group's");
    case HLS_FILE_MEDIA:
        return answer_media(st, q, resp);
    default:
        return answer_file(st, q, resp);
    }
}

int hls_stream_answer(struct hls_stream *st, const struct hls_query *q, struct hls_response *resp)
{
    pthread_mutex_lock(&st->lock);
    int rc = answer_locked(st, q, resp, clock_mono_us());
    pthread_mutex_unlock(&st->lock);
    return rc;
}

int hls_stream_wait(struct hls_stream *st, const struct hls_query *q, void (*wake)(void *),
                    void *arg)
{
    int64_t now = clock_mono_us();
    struct hls_response resp;
    pthread_mutex_lock(&st->lock);
    if (st->detached) {
        pthread_mutex_unlock(&st->lock);
        return 1;
    }
    if (answer_locked(st, q, &resp, now) != HLS_BLOCK) {
        pthread_mutex_unlock(&st->lock);
        blob_unrefp(&resp.body);
        return 1;
    }
    struct hls_waiter *w = xcalloc(1, sizeof(*w));
    w->wake = wake;
    w->arg = arg;
    w->q = *q;
    w->deadline_us = (q->wait_started_us > 0 ? q->wait_started_us : now) + wait_limit_us(st);
    w->next = st->waiters;
    st->waiters = w;
    metrics_add(st->mx.blocking, 1);
    pthread_mutex_unlock(&st->lock);
    return 0;
}
