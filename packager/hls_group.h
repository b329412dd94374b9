/* One live stream's renditions, as HTTP sees them: the source (or nothing but the encoded rungs)
 * and the encoded rungs of the ladder, each with the stream's audio muxed in; the multivariant
 * playlist written from them; the stream's viewers; and the transcode ladder feeding the rungs.
 *
 * Renditions are added by the source sink when the stream's tracks are known (hub_start), so a
 * group exists, empty, between the claim and then. The multivariant playlist is answered once
 * every rendition that can still produce media has its first playlist (each rendition's
 * READY_SEGMENTS), so a player never sees a rung it cannot load yet; requests before then wait
 * (hls_group_wait) and are woken by hls_group_tick, at most one tick late.
 *
 * Threads: every function may be called from any thread; the group's lock guards the rendition
 * list and the waiters, each rendition has its own lock (hls_stream.h). Refcounted like
 * hls_stream. */
#ifndef KIBITKA_PACKAGER_HLS_GROUP_H
#define KIBITKA_PACKAGER_HLS_GROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "packager/hls.h"
#include "packager/hls_stream.h"

#define HLS_GROUP_MAX_RENDITIONS 10

struct hls_group;
struct hls_ladder;

struct hls_group *hls_group_create(const char *name, const char *sid,
                                   const struct hls_stream_config *cfg, int64_t started_mono_us);
struct hls_group *hls_group_ref(struct hls_group *g);
void hls_group_unref(struct hls_group *g);
const char *hls_group_name(const struct hls_group *g);

/* Adds a rendition; returns a new reference to its stream (NULL when the group is full or the
 * name is taken). Variants are listed in the order they are added. */
struct hls_stream *hls_group_add(struct hls_group *g, const char *rendition);
/* The wall clock at time 0 of the stream's timeline (the first keyframe's arrival), given to
 * every rendition, present and later added: their segments' PROGRAM-DATE-TIMEs are this plus
 * the segment's start (hls_stream_set_clock). */
void hls_group_set_clock(struct hls_group *g, int64_t wall_at_zero_us);
/* A new reference to the rendition of that name, or NULL. */
struct hls_stream *hls_group_find(struct hls_group *g, const char *rendition);
/* The group owns the ladder from now on: it is destroyed once done (hls_group_tick) or with the
 * group. */
void hls_group_set_ladder(struct hls_group *g, struct hls_ladder *ladder);

/* The multivariant playlist: 0 with resp filled, or HLS_BLOCK (renditions not ready yet). */
int hls_group_answer(struct hls_group *g, int64_t wait_started_us, struct hls_response *resp);
/* Registers wake for a multivariant request that blocked: 0 when registered (wake is called
 * once, from hls_group_tick or detach), 1 when it can be answered now. */
int hls_group_wait(struct hls_group *g, int64_t wait_started_us, void (*wake)(void *), void *arg);

/* The source ended (its sink is done): with no rendition at all, the group still lingers out. */
void hls_group_end(struct hls_group *g);
/* Detaches every rendition (the group is no longer served) and wakes every waiter. */
void hls_group_detach(struct hls_group *g);
/* Ticks every rendition, wakes multivariant waiters that can be answered or are past their
 * deadline, reaps a finished ladder. True when every rendition ended more than the linger time
 * ago (the group can go). */
bool hls_group_tick(struct hls_group *g, int64_t now_us);

/* Viewers: see hls_viewers. */
void hls_group_note_viewer(struct hls_group *g, uint64_t client, int64_t now_us);
int hls_group_viewers(struct hls_group *g, int64_t now_us, int64_t window_us);

/* Sums over renditions, for /metrics; lag_s is the ladder's (0 without one). */
void hls_group_counts(struct hls_group *g, uint64_t *parts, uint64_t *segments, int64_t *bytes_held,
                      double *lag_s);

#endif
