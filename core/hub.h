/* The hub: one per live stream, the single point where a source hands packets to its sinks.
 *
 * How the parts fit. A source (the RTMP session now, WHIP later) claims a stream name in the
 * hub_registry and gets a hub. Claiming calls every registry observer: server/main.c registers
 * the packager (packager/hls_sink.c, LL-HLS), the webhooks with --webhook (events/webhook.c,
 * stream.live and stream.ended) and, without --no-record, the recorder (recorder/sink.c, fMP4
 * chunks) at start, in that order, and each observer attaches a sink to the new hub. The transcoder
 * is not a sink: the packager's sink feeds it. The source therefore never knows who consumes its
 * packets, and a new consumer is added without touching ingest code.
 *
 *   source --hub_start(tracks)--> hub --sink.start-->  packager, webhooks, recorder
 *   source --hub_push(packet)---> hub --sink.packet--> (each sink av_packet_ref's what it keeps)
 *   source --hub_end()----------> hub --sink.end-->    (sinks finish; the name is free again)
 *
 * Threads. Sink callbacks run synchronously on the source's thread (the network thread for RTMP)
 * in the order the sinks were attached. A sink must not block in them: one with heavy work queues
 * it for a thread of its own and returns (the recorder its fragments for its I/O thread, the
 * packager video packet references for a transcode worker). Renditions the transcoder makes go
 * back to the packager through its own API, not through this hub.
 *
 * Packets are AVPackets whose stream_index is a track index from hub_start, with pts/dts in that
 * track's time_base, plus the wall-clock time the source received them (for
 * EXT-X-PROGRAM-DATE-TIME and latency figures). The hub never modifies or frees a pushed packet;
 * the source keeps ownership, a sink that keeps data takes its own reference.
 *
 * Timestamp jumps. The hub is where a publisher's timestamp jumps are taken out (core/rebase.h):
 * the sinks get a copy of each packet on one continuous timeline, shared by all tracks, and the
 * first packet after a jump of more than REBASE_JUMP_US either way carries discontinuity = true
 * (the packager then marks EXT-X-DISCONTINUITY, the recorder starts a new chunk, both at the next
 * keyframe). Sources pass their timestamps as they are (extended to 64 bits); sinks never see a
 * jump, so no duration they compute can come from one.
 *
 * Lifetime. A hub is refcounted. The registry holds one reference while the stream is live, the
 * source holds one, and each sink may hold one (hub_ref) for as long as it serves the stream
 * after the end (an ended HLS playlist lingers). hub_end releases the name at once, so a new
 * publisher may take it again, even while sinks of the old hub still linger. */
#ifndef KIBITKA_CORE_HUB_H
#define KIBITKA_CORE_HUB_H

#include <libavcodec/avcodec.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define HUB_MAX_TRACKS 4
#define HUB_NAME_MAX 64
#define HUB_REFUSAL_MAX 200

struct hub;
struct hub_registry;

struct hub_track {
    /* Codec parameters: codec_type, codec_id, extradata (avcC for H.264, AudioSpecificConfig for
     * AAC), width/height, sample_rate, ch_layout, bit_rate when known. Owned by the hub. */
    AVCodecParameters *par;
    AVRational time_base;  /* of pts/dts in this track's packets */
    AVRational frame_rate; /* video: nominal frame rate when the source declared one, else 0/1 */
};

struct hub_packet {
    const AVPacket *pkt;  /* stream_index = track index; flags & AV_PKT_FLAG_KEY on keyframes */
    int64_t wallclock_us; /* when the source received it (clock_wall_us) */
    /* Set by the hub for the sinks (a source leaves it false): the stream's timestamps jumped
     * just before this packet, and were rebased so that this packet continues the timeline. */
    bool discontinuity;
};

struct hub_sink_ops {
    const char *name;
    /* The tracks are known; packets follow. Called once per hub, from hub_start. The tracks
     * array is valid until end; copy what you keep beyond it. Return 0, or a negative errno to
     * detach (the sink then gets no more calls except destroy). */
    int (*start)(void *opaque, struct hub *hub, const struct hub_track *tracks, int ntracks);
    /* May be NULL for a sink that only follows the stream's start and end (webhooks). */
    void (*packet)(void *opaque, const struct hub_packet *pkt);
    /* The source is gone (normal end, timeout, or server stop). No more packets. */
    void (*end)(void *opaque);
    /* The hub drops the sink; release the opaque's hub-facing state. Called exactly once, after
     * end, or right away when start failed or the hub never started. */
    void (*destroy)(void *opaque);
    /* The source's codec parameters changed mid-stream (a new H.264 sequence header: a new
     * resolution or profile). tracks has the same count and kinds as at start; the next packet of
     * the changed track starts with a keyframe in the new configuration. May be NULL: the sink
     * then only sees AV_PKT_DATA_NEW_EXTRADATA side data on that packet. */
    void (*reconfigure)(void *opaque, const struct hub_track *tracks, int ntracks);
    /* May be NULL. Called from hub_start for every sink before any sink starts: a negative errno
     * refuses the whole stream (no sink starts; the source ends the publish and tells its peer
     * why), with a one-line reason for the publisher written into why (whylen bytes). For
     * policies a sink knows and the source does not (what the packager can serve). */
    int (*accept)(void *opaque, const struct hub_track *tracks, int ntracks, char *why,
                  size_t whylen);
};

/* Observers are called, under no lock of the registry, on the claiming thread, for each new hub;
 * they typically call hub_add_sink. */
typedef void (*hub_observer_fn)(void *opaque, struct hub *hub);

struct hub_registry *hub_registry_create(void);
/* Frees the registry; every hub must have ended. */
void hub_registry_destroy(struct hub_registry **preg);
/* Registers an observer; call at start, before any claim. */
void hub_registry_observe(struct hub_registry *reg, hub_observer_fn fn, void *opaque);
/* Claims a live stream name. On success *out is a new hub holding one reference for the caller
 * (the source) and returns 0. Returns -EBUSY if the name is live, -EINVAL for a bad name
 * (names are [a-z0-9_-]{1,64}). */
int hub_registry_claim(struct hub_registry *reg, const char *name, struct hub **out);
/* Calls fn for each live hub, under the registry lock: fn must not claim or end hubs. */
void hub_registry_foreach(struct hub_registry *reg, void (*fn)(void *opaque, struct hub *hub),
                          void *opaque);
int hub_registry_count(struct hub_registry *reg);
/* True when name matches [a-z0-9_-]{1,64}. */
bool hub_name_valid(const char *name);

struct hub *hub_ref(struct hub *hub);
void hub_unref(struct hub *hub);
/* hub_unref(*phub) and clear it; NULL-safe. */
void hub_unrefp(struct hub **phub);

const char *hub_name(const struct hub *hub);
/* Monotonic time of the claim, and wall-clock time of the claim. */
int64_t hub_started_mono_us(const struct hub *hub);
int64_t hub_started_wall_us(const struct hub *hub);

/* Attaches a sink. Called by observers during the claim (before hub_start). */
void hub_add_sink(struct hub *hub, const struct hub_sink_ops *ops, void *opaque);

/* Source side. hub_start copies the tracks (it takes a copy of each par) and starts every sink.
 * ntracks <= HUB_MAX_TRACKS. Returns 0, -EINVAL, or -EPERM when a sink's accept refused the
 * stream: the hub is then not started and hub_refusal says why (for the publisher); the source
 * ends it. */
int hub_start(struct hub *hub, const struct hub_track *tracks, int ntracks);
/* Why hub_start refused the stream; "" when it did not. */
const char *hub_refusal(const struct hub *hub);
bool hub_started(const struct hub *hub);
/* The source's codec parameters changed (same number of tracks): copies them and calls every
 * sink's reconfigure before the packet in the new configuration is pushed. Returns 0 or
 * -EINVAL. */
int hub_reconfigure(struct hub *hub, const struct hub_track *tracks, int ntracks);
const struct hub_track *hub_tracks(const struct hub *hub, int *ntracks);
void hub_push(struct hub *hub, const struct hub_packet *pkt);
/* Ends the stream: sinks get end then destroy; the name is released. Idempotent. */
void hub_end(struct hub *hub);
bool hub_ended(const struct hub *hub);

/* What a live stream carries, for the API (GET /api/streams/{name}). Written by hub_start under
 * the registry lock; read it only inside hub_registry_foreach's callback (which holds that lock),
 * never straight from another thread. */
struct hub_info {
    bool started;                          /* false until the source knows its codecs */
    /* "h264 High 3.1", "h264 Constrained Baseline 3.1" (29), "aac LC"; "" when absent */
    char video_codec[40], audio_codec[40];
    int width, height;
    double frame_rate; /* 0 when the source did not declare one */
    int sample_rate, channels;
    char protocol[8]; /* how it is published: "rtmp", "whip"; "" when the source did not say */
};
void hub_info_get(const struct hub *hub, struct hub_info *out);
/* Source side, right after the claim and before hub_start: the ingest protocol ("rtmp",
 * "whip"; at most 7 characters) that hub_info shows. Any thread (under the registry lock). */
void hub_set_protocol(struct hub *hub, const char *protocol);

/* Who publishes, when the source knows it (a stream-key publish: the stream's row). The source
 * sets it right after the claim and before hub_start, on its own thread; sinks read it from
 * start on (the recorder: whether to record, and under which user). An --open-publish stream has
 * none: hub_publisher returns NULL. */
struct hub_publisher {
    char stream_id[40]; /* streams.id */
    char user_id[40];   /* users.id of the owner */
    char user_name[72];
    bool record; /* the stream's record flag */
};
void hub_set_publisher(struct hub *hub, const struct hub_publisher *p);
const struct hub_publisher *hub_publisher(const struct hub *hub);

/* Ending a live stream from elsewhere: an admin's kill switch (its stream or its owner deleted,
 * or its key rotated with end_live). Sources run on the network thread and the API on HTTP
 * threads, so the API never touches a source: hub_registry_stop finds the hubs (under the
 * registry lock, taking a reference on each) and posts the request to the registry's loop,
 * where the hub's stop function is called if the hub has not ended meanwhile. That function
 * ends the stream as a normal stop would (sinks' end: webhooks, the recording) and closes the
 * source's connection. */
struct loop;
typedef void (*hub_stop_fn)(void *opaque, const char *reason);
/* The loop the sources run on (the network thread); set once at start, before any claim. */
void hub_registry_set_loop(struct hub_registry *reg, struct loop *loop);
/* Source side, on the source's thread after the claim: how to stop this source. fn is called on
 * the registry's loop only while the hub has not ended, so opaque need live no longer than the
 * source's hub does. */
void hub_set_stop(struct hub *hub, hub_stop_fn fn, void *opaque);
/* Any thread. Asks every live hub whose publisher has stream_id, or whose owner is user_id
 * (either may be NULL), to stop, giving reason (a string literal: it is kept). Returns how many
 * live hubs matched (they stop soon after, on the loop), or -ENOTSUP without a loop. */
int hub_registry_stop(struct hub_registry *reg, const char *stream_id, const char *user_id,
                      const char *reason);

/* Ingest accounting for /metrics, updated by the source. */
void hub_count_bytes_in(struct hub *hub, uint64_t n);
uint64_t hub_bytes_in(const struct hub *hub);
/* Timestamp jumps rebased so far (any thread). */
uint64_t hub_timestamp_jumps(const struct hub *hub);

#endif
