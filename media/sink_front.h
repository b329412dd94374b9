/* The sink front-end: what every hub sink that muxes a stream onto one clean timeline does before
 * its own work, written once for the packager's sink (packager/hls_sink.c, also its feed mode
 * for the encoded rungs), the recorder's (recorder/sink.c) and the WHEP sink to come.
 *
 *   sink_front_packet(track, pkt)
 *     -> begin: the stream starts here? (ops.begin, once)
 *     -> shift onto the stream's timeline (media/timeline.h), or ops.drop
 *     -> ops.take(the shifted packet)              (the packager feeds its ladder here)
 *     -> ops.release(the track's previous packet, its duration now known)
 *     -> held until the track's next packet, or sink_front_flush
 *
 * Track pick (sink_front_start). The first H.264 video track with its configuration and the first
 * AAC track with its AudioSpecificConfig are used as they are (tl_track_muxable); every other
 * audio track, and a video track while none is picked, is offered to ops.pick, which may take it
 * (the packager: audio through its AAC transcoder, VP8 video for its ladder to encode; the
 * recorder: MP3, Opus, VP8 as they are), giving its time base and one frame's duration. The
 * main track, which the sink's cuts follow, is the video when there is one, else the audio.
 *
 * Start. The stream starts at the main track's first keyframe (audio-only: its first packet with
 * a timestamp): ops.begin sees that packet before any shift, and every track is then shifted by
 * its dts, so nothing is negative and the tracks keep their relative timing (no shift with
 * keep_timestamps: a rung already on the source's timeline). Packets before the start, packets
 * without a timestamp and packets whose dts does not increase on their track are not taken.
 *
 * Held packets. A packet's duration is the gap to its track's next packet, so each track holds its
 * newest packet; ops.release gets it, duration set, when the next one is taken. Tracks do not
 * wait for each other here (the packager interleaves by dts after release, the recorder writes in
 * arrival order). sink_front_flush releases every held packet, the main track's first (its last
 * packet closes the sink's last cut), with the track's last duration, else one frame: at the end
 * and before a reconfiguration's first packet.
 *
 * Timestamp jumps (the hub's rebase: hub_packet.discontinuity). sink_front_jump marks the next
 * main-track keyframe taken (audio-only: packet): ops.take gets disc = true for it. The sink calls
 * it when the jump matters to it (the packager once the stream started; its feed mode whenever
 * the ladder says the source cut).
 *
 * Ownership. The front-end owns every packet it holds. ops.take borrows the shifted packet: it may
 * change its timestamps (the packager's feed mode moves a rung's dts onto the source's decode
 * timeline), and takes its own reference to keep it. ops.release hands the packet over: the sink
 * frees it (av_packet_free). sink_front_destroy frees what is still held without releasing it
 * (a sink torn down before its end writes nothing more). The ops table and opaque must outlive
 * the front-end; it never frees opaque. The hub tracks given to start and reconfigure are read
 * during the call only.
 *
 * Threads. None of its own: every call on one thread at a time (the source's thread for a hub
 * sink, the transcode worker for a rung), callbacks on the calling thread. */
#ifndef KIBITKA_MEDIA_SINK_FRONT_H
#define KIBITKA_MEDIA_SINK_FRONT_H

#include <libavcodec/avcodec.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/hub.h"

struct sink_front;

/* A track as picked; read-only for the sink. */
struct sink_front_track {
    bool used;           /* picked: its packets are taken */
    bool video;          /* the video track (else the audio) */
    AVRational tb;       /* of its packets as given to sink_front_packet (a transcoder's) */
    int64_t default_dur; /* one frame, in tb: the last packet's duration when no other is known */
};

struct sink_front_ops {
    /* Optional. Track i (ht) is not muxable as it is: return true to use it as the stream's
     * audio (an audio track) or video (a video track, offered only while no video is picked),
     * setting *tb (of the packets the sink will give for it) and *default_dur (in *tb); false
     * leaves it unused (say why in the log). have_audio: an audio track is already picked.
     * Called from sink_front_start, in track order. */
    bool (*pick)(void *opaque, int i, const struct hub_track *ht, bool have_audio, AVRational *tb,
                 int64_t *default_dur);
    /* Optional. The stream starts with in (track i), before it is shifted; wall_us as given. */
    void (*begin)(void *opaque, int i, const AVPacket *in, int64_t wall_us);
    /* Optional. A packet of a started stream was not taken: no timestamp, or its dts does not
     * increase on its track (dts: after the shift). Packets from before the start are not told. */
    void (*drop)(void *opaque, int i, const AVPacket *in, bool no_timestamp, int64_t dts);
    /* Optional. A packet taken, shifted, before it is held (borrowed: see Ownership). disc: the
     * first main-track keyframe after sink_front_jump. */
    void (*take)(void *opaque, int i, AVPacket *pkt, bool disc, int64_t wall_us);
    /* Required. A held packet of track i with its duration: the sink owns it now. Per track in
     * the order taken. */
    void (*release)(void *opaque, int i, AVPacket *pkt);
};

/* keep_timestamps: the packets are already on the stream's timeline (no shift). Aborts on out of
 * memory, like xmalloc. */
struct sink_front *sink_front_create(const struct sink_front_ops *ops, void *opaque,
                                     bool keep_timestamps);
/* Frees what is held (see Ownership) and the front-end; NULL-safe, clears *pf. */
void sink_front_destroy(struct sink_front **pf);

/* Picks the tracks (ntracks <= HUB_MAX_TRACKS). Returns how many are used; 0: nothing to mux.
 * Once per front-end. */
int sink_front_start(struct sink_front *f, const struct hub_track *tracks, int ntracks);
/* One packet of track i (pkt->stream_index is not read): see the flow above. Returns true when
 * track i is used and the stream has started (with this packet or before), whether the packet was
 * taken or not; false when it was ignored. */
bool sink_front_packet(struct sink_front *f, int i, const AVPacket *pkt, int64_t wall_us);
/* Marks the next main-track keyframe taken (see Timestamp jumps). */
void sink_front_jump(struct sink_front *f);
/* Releases every held packet, the main track's first. Nothing before the start. */
void sink_front_flush(struct sink_front *f);
/* The source's configuration changed: each used video track's one-frame duration follows the new
 * frame rate when one is declared. Returns -EINVAL (and changes nothing) when ntracks differs
 * from the start's. Flush first: what is held belongs to the old configuration. */
int sink_front_reconfigure(struct sink_front *f, const struct hub_track *tracks, int ntracks);

/* Track i as picked (i < sink_front_ntracks). */
const struct sink_front_track *sink_front_track(const struct sink_front *f, int i);
/* Whether track i exists and is used. */
bool sink_front_used(const struct sink_front *f, int i);
int sink_front_ntracks(const struct sink_front *f);
/* The main track (video if any, else audio); -1 before a start that picked one. */
int sink_front_main(const struct sink_front *f);
bool sink_front_has_video(const struct sink_front *f);
/* Whether the stream has started (its first keyframe was taken). */
bool sink_front_started(const struct sink_front *f);

#endif
