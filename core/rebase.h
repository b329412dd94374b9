/* Timestamp rebasing: the one place where a publisher's timestamp jumps are taken out, so that
 * every sink (the packager, the transcoder behind it, the recorder) sees one continuous
 * timeline. The hub runs it on every packet before its sinks see it (hub_push).
 *
 * A publisher's clock can jump: an encoder restarted or reset its clock, a 32-bit millisecond
 * counter wrapped at 2^31 (RTMP's own 2^32 wrap is unwrapped by ingest), a splice of two
 * recordings. Left as they are, a jump of +3 h made one HLS part (and EXTINF) three hours long,
 * a jump back made the sinks drop every packet until the timestamps caught up, and a recording's
 * duration came out in weeks.
 *
 * The model. Every track's timestamps go through one offset shared by the stream (so audio and
 * video keep their relative timing); the offset starts at 0. A packet is a jump when, with its
 * track's offset, it lands more than REBASE_JUMP_US after the newest timestamp of any track (the
 * head), or more than REBASE_JUMP_US before its own track's last one. A track's gap alone (video
 * frames an encoder dropped while its audio went on) is not a jump: it is measured from the
 * head, which the other track kept moving. On a jump a new epoch starts: its offset puts the
 * packet one frame (the track's last step) after its track's last packet, where it would have
 * been without the jump, and the packet is flagged as a discontinuity. The other tracks keep their
 * old offset until their own timestamps jump too, which normally happens within a few packets; they
 * then land near the head with the new epoch's offset and take it, without a second discontinuity.
 * So when the whole stream jumps, both tracks are rebased by the same amount and A/V sync survives;
 * when one track jumps and the other does not, the jumping track is rebased onto the other's
 * timeline.
 *
 * Smaller backward steps (under REBASE_JUMP_US) are left alone: the sinks drop packets whose dts
 * does not increase. Limits: a publisher that pauses with its clock running (nothing sent for
 * more than REBASE_JUMP_US, timestamps then following the wall clock) is rebased too, so its
 * timeline (and PDT) leaves the pause out; a stream whose only track has frames more than
 * REBASE_JUMP_US apart would be rebased at every frame. Not thread-safe: one per hub, on the
 * source's thread. */
#ifndef KIBITKA_CORE_REBASE_H
#define KIBITKA_CORE_REBASE_H

#include <libavcodec/avcodec.h>
#include <stdbool.h>
#include <stdint.h>

/* A step of more than this either way is a jump ("more than a few seconds"): above any
 * interleaving skew between tracks and any honest frame interval; FFmpeg's own timestamp
 * discontinuity threshold is 10 s. */
#define REBASE_JUMP_US (5 * 1000000LL)
#define REBASE_MAX_TRACKS 4
/* Epochs whose offset a lagging track may still take (jumps in a row faster than its packets). */
#define REBASE_EPOCHS 4

struct rebase_track {
    AVRational tb;
    bool seen;
    int64_t epoch;   /* the epoch whose offset this track's last packet took */
    int64_t last_us; /* the largest output dts of the track, microseconds */
    int64_t step_us; /* its last positive dts step, microseconds (0: none yet) */
};

struct rebase {
    struct rebase_track tr[REBASE_MAX_TRACKS];
    int ntracks;
    int64_t epoch;                    /* the newest epoch; 0 at the start */
    int64_t offset_us[REBASE_EPOCHS]; /* epoch e's offset at e % REBASE_EPOCHS */
    bool any;                         /* a packet was seen */
    int64_t head_us;                  /* the largest output dts of any track */
    uint64_t jumps;                   /* epochs started after the first */
};

/* What a jump did, for the log. */
struct rebase_jump {
    int64_t from_us; /* where the track's timestamps were (output timeline: its last dts) */
    int64_t in_us;   /* the packet's timestamp as the source sent it */
    int64_t to_us;   /* where it was put */
    int64_t by_us;   /* the jump: where the packet would have landed, minus to_us */
};

/* Starts with offset 0 for ntracks tracks (at most REBASE_MAX_TRACKS) in the given time bases. */
void rebase_init(struct rebase *rb, const AVRational *tbs, int ntracks);
/* Rebases pkt (its stream_index is the track) in place: adds the offset of its epoch to dts and
 * pts. Returns true when pkt started a new epoch (a discontinuity), with *jump filled in (may be
 * NULL). A packet without a timestamp, or of an unknown track, is left as it is. */
bool rebase_packet(struct rebase *rb, AVPacket *pkt, struct rebase_jump *jump);

#endif
