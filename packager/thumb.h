/* Thumbnails of live streams (GET /api/streams/{name}/thumbnail.jpg): a JPEG of the latest
 * keyframe, made at most every THUMBS_MAX_AGE_US per stream, on one worker thread.
 *
 * A hub registry observer: each hub with an H.264 or VP8 video track gets a tiny sink that, on
 * the network thread, only swaps its reference to the newest keyframe of that track
 * (av_packet_ref under the module's mutex: no copy, no decode) and keeps a copy of the track's
 * codec parameters (at start and reconfigure). Nothing else runs there.
 *
 * thumbs_get (an HTTP thread) answers from the cache when the stream's JPEG is younger than
 * THUMBS_MAX_AGE_US, or when no keyframe came since it was made; else it queues the stream for
 * the worker (once: later requests for the same stream join the same job) and returns
 * THUMBS_PENDING; the worker decodes the keyframe and encodes the JPEG (transcode/thumb.h) and
 * calls every waiter's done. The queue is bounded (THUMBS_QUEUE_MAX streams); when it is full a
 * request gets the stale JPEG if there is one, else -EBUSY.
 *
 * Memory: per live stream one keyframe reference, one codec parameter copy and one JPEG, all
 * freed when the stream ends (or, when the worker is busy with it, right after). */
#ifndef KIBITKA_PACKAGER_THUMB_H
#define KIBITKA_PACKAGER_THUMB_H

#include <stdint.h>

#include "core/blob.h"
#include "core/hub.h"
#include "core/metrics.h"

#define THUMBS_MAX_AGE_US (10 * 1000000LL)
#define THUMBS_QUEUE_MAX 64
#define THUMBS_PENDING 1

struct thumbs;

/* Observes reg (call before any claim); metrics may be NULL. Registers
 * kibitka_thumbnails_made_total, kibitka_thumbnail_failures_total,
 * kibitka_thumbnail_make_seconds_total (the time spent making them: divide by made) and
 * kibitka_thumbnail_last_make_microseconds. Starts the worker thread; NULL when it cannot. */
struct thumbs *thumbs_create(struct hub_registry *reg, struct metrics *metrics);
/* Stops the worker (thumbs_stop) and frees everything; every hub must have ended. */
void thumbs_destroy(struct thumbs **pt);
/* Joins the worker and answers every waiter with -ECANCELED; later requests that would wait
 * get -ECANCELED at once (a fresh or stale JPEG is still served). Idempotent, any thread. */
void thumbs_stop(struct thumbs *t);

/* Called once per waiting request, on the worker thread (or in thumbs_stop): jpeg is a
 * reference for the callee (unref it), or NULL with err < 0. */
typedef void (*thumbs_done_fn)(void *ctx, struct blob *jpeg, int err);

/* 0 and *out (a reference for the caller) from the cache; THUMBS_PENDING: done(ctx, ...) will be
 * called exactly once, maybe before this returns on another thread; -ENOENT: the stream is not
 * live, has no H.264/VP8 video, or had no keyframe yet; -EBUSY: the queue is full;
 * -ECANCELED: stopped. */
int thumbs_get(struct thumbs *t, const char *name, thumbs_done_fn done, void *ctx,
               struct blob **out);

/* Tests: the clock that ages the cache (default clock_mono_us). */
void thumbs_set_clock(struct thumbs *t, int64_t (*now_us)(void));

#endif
