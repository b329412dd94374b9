/* One rendition of a packaged live stream as HTTP sees it (the source or an encoded rung, with
 * the audio muxed in): the init section, the segments and parts cut so far with their bytes, the
 * current media playlists as blobs, and the blocked requests waiting on it. A live stream's
 * renditions are gathered in an hls_group (hls_group.h), which writes the multivariant
 * playlist.
 *
 * Threads. The stream's sink (hls_sink.c, the source's thread) publishes parts into it; HTTP
 * threads answer requests from it; the server's tick expires waits and frees old bytes. All
 * state below is guarded by the stream's mutex. Waiters are always woken after it is released,
 * so a wake callback may call straight back into hls_handle.
 *
 * Lifetime. Refcounted: the server's list holds one reference while the stream is served, the
 * sink one until the hub destroys it, and a request one while it looks at it. */
#ifndef KIBITKA_PACKAGER_HLS_STREAM_H
#define KIBITKA_PACKAGER_HLS_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/blob.h"
#include "core/hub.h"
#include "core/metrics.h"
#include "packager/hls.h"
#include "packager/playlist.h"

struct hls_stream;

/* The packager's /metrics figures, registered by each stream and group at create (the same
 * handles every time; NULL without a registry). */
struct hls_counters {
    atomic_int_fast64_t *blocking; /* gauge: suspended blocking playlist requests */
    atomic_int_fast64_t *parts;    /* counter: parts produced, all streams */
    atomic_int_fast64_t *segments; /* counter: segments produced, all streams */
};
void hls_counters_register(struct metrics *m, struct hls_counters *mx);

struct hls_stream_config {
    int64_t part_target_us;
    int64_t linger_us;
    struct metrics *metrics; /* may be NULL (tests) */
};

/* Rendition names in URLs ("source", "720p"): [a-z0-9]{1,15}. */
#define HLS_RENDITION_MAX 15

/* What the multivariant playlist says about the rendition. */
struct hls_variant_info {
    char codecs[64];
    int width, height; /* 0 for audio */
    double frame_rate; /* 0 when unknown */
    int channels;      /* audio, 0 when unknown */
    bool captions;     /* its video carries CEA-608/708 captions (seen in an A/53 SEI) */
};

/* One part handed over by the sink. */
struct hls_part_pub {
    struct blob *data;   /* moof+mdat; the stream takes this reference */
    int64_t duration_us; /* its length on the main track's timeline */
    bool independent;    /* starts with a keyframe */
    int64_t seg_time_us; /* the segment's start on the stream's timeline (PDT: set_clock) */
    bool seg_end;        /* the last part of its segment */
    int target_s;        /* the target duration, once the sink has chosen it (0 before) */
    /* The first part of a segment that follows a timestamp jump: EXT-X-DISCONTINUITY before it
     * (ignored on a part that does not start a segment). */
    bool discontinuity;
};

/* The renditions of one stream as their EXT-X-RENDITION-REPORT tags see each other: each
 * rendition's last part, written by that rendition when it publishes one and read by the
 * others when they write their playlists. Lock-free (atomics), so no rendition's lock is ever
 * taken inside another's, and a rendition's playlist never waits for a slower one. Refcounted;
 * the group creates it and its renditions join it. */
struct hls_peers;
struct hls_peers *hls_peers_create(void);
void hls_peers_unref(struct hls_peers *p);

struct hls_stream *hls_stream_create(const char *name, const char *rendition, const char *sid,
                                     const struct hls_stream_config *cfg, int64_t started_mono_us);
struct hls_stream *hls_stream_ref(struct hls_stream *st);
void hls_stream_unref(struct hls_stream *st);
/* Joins the stream's peers (once, before it publishes; at most HLS_PEERS_MAX renditions): its
 * playlist then reports the others that are ready and have not failed, and they report it. */
#define HLS_PEERS_MAX 16
void hls_stream_join(struct hls_stream *st, struct hls_peers *peers);
const char *hls_stream_name(const struct hls_stream *st);
const char *hls_stream_rendition(const struct hls_stream *st);

/* Sink side (one thread). set_init: the init section (the stream takes the reference) and the
 * variant description, known at start. set_variant updates the description (measured frame
 * rate). publish: a new part; wakes the waiters it satisfies. end: ENDLIST, wakes everyone. */
void hls_stream_set_init(struct hls_stream *st, struct blob *init,
                         const struct hls_variant_info *vi);
void hls_stream_set_variant(struct hls_stream *st, const struct hls_variant_info *vi);
void hls_stream_publish(struct hls_stream *st, const struct hls_part_pub *pub);
/* Publishes n parts (in order) as one change: no playlist answer lists the first without the
 * others. */
void hls_stream_publish_parts(struct hls_stream *st, const struct hls_part_pub *pubs, int n);
/* The wall clock at time 0 of the stream's timeline: a segment's EXT-X-PROGRAM-DATE-TIME is this
 * plus its start (seg_time_us), so PDT advances exactly by the media's duration and names the
 * same instant in every rendition (hls_group_set_clock gives all of them the same). Set before
 * the first part; without it, segments have no PDT. */
void hls_stream_set_clock(struct hls_stream *st, int64_t wall_at_zero_us);
void hls_stream_end(struct hls_stream *st);
/* The rendition will never have media (its transcoder could not start): it ends, and the
 * multivariant playlist leaves it out. */
void hls_stream_fail(struct hls_stream *st);

struct hls_stream_stats {
    bool ready, ended, failed;
    int64_t peak_bps, avg_bps; /* of complete segments; 0 before the first */
    struct hls_variant_info vi;
    int target_s;
};
void hls_stream_stats(struct hls_stream *st, struct hls_stream_stats *out);

/* Server side. detach: the stream is no longer served (replaced, lingered out, server
 * destroyed): wakes every waiter, refuses new ones. tick: wakes waiters past their deadline,
 * frees bytes past their keep time; returns true when the stream ended more than the linger
 * time ago. tick never waits for the stream's lock: when another thread holds it, it does
 * nothing and returns false (the next tick does it). */
void hls_stream_detach(struct hls_stream *st);
bool hls_stream_tick(struct hls_stream *st, int64_t now_us);

/* A parsed request for one stream. */
enum hls_file {
    HLS_FILE_MULTIVARIANT,
    HLS_FILE_MEDIA,
    HLS_FILE_INIT,
    HLS_FILE_SEGMENT,
    HLS_FILE_PART,
};

struct hls_query {
    enum hls_file file;
    char sid[PL_SID_MAX + 1]; /* init, segment, part */
    int64_t msn;              /* segment, part */
    int part;                 /* part */
    /* Media playlist directives. bad: why they are malformed (NULL when fine); answered with
     * 400 unless the playlist has ended (then directives are ignored). */
    const char *bad;
    bool has_msn, has_part, skip;
    int64_t hls_msn;
    int hls_part;
    int64_t wait_started_us;
};

/* A blocked request, on a rendition (hls_stream_wait) or on a group's multivariant playlist
 * (hls_group_wait): wake(arg) is called once, with no lock held. */
struct hls_waiter {
    struct hls_waiter *next;
    void (*wake)(void *);
    void *arg;
    struct hls_query q; /* a rendition's waiter: what it waits for (unused by a group's) */
    int64_t deadline_us;
};

/* Calls and frees every waiter on list, which the caller took off its stream or group (whose
 * lock it no longer holds), and counts them out of cfg's hls_blocking_waiting gauge. */
void hls_waiters_wake(struct hls_waiter *list, atomic_int_fast64_t *blocking);

/* Answers q: returns 0 with resp filled, or HLS_BLOCK (nothing filled). */
int hls_stream_answer(struct hls_stream *st, const struct hls_query *q, struct hls_response *resp);
/* Registers wake for a query that blocked; returns 0 when registered (wake is then called once),
 * 1 when it can be answered now. */
int hls_stream_wait(struct hls_stream *st, const struct hls_query *q, void (*wake)(void *),
                    void *arg);

/* Counters for /metrics. */
void hls_stream_counts(struct hls_stream *st, uint64_t *parts, uint64_t *segments,
                       int64_t *bytes_held);

#endif
