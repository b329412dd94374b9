/* The packager's sink, inside: what hls_sink.c (cutting parts and segments, packets, the end)
 * and hls_sink_start.c (the start: which track goes to which rendition, the ladder, admission)
 * share. Not for other modules: hls_sink.h is the interface. */
#ifndef KIBITKA_PACKAGER_HLS_SINK_PRIV_H
#define KIBITKA_PACKAGER_HLS_SINK_PRIV_H

#include <libavcodec/avcodec.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/hub.h"
#include "media/sink_front.h"
#include "packager/hls_group.h"
#include "packager/hls_ladder.h"
#include "packager/hls_sink.h"
#include "transcode/audio.h"

#define MIN_SEG_US 1000000LL        /* a keyframe starts a new segment after this long */
#define AUDIO_SEG_US 2000000LL      /* audio-only segments stay under this */
#define FIRST_SEG_MAX_US 10000000LL /* a first segment without a second keyframe ends here */
/* EXTINF rounded to the nearest integer must not exceed the target duration. */
#define ROUNDING_SLACK_US 499000LL
/* A composition delay beyond this is no encoder's reordering: not matched (see begin). */
#define MAX_REORDER_US 500000LL
#define US_TB ((AVRational){1, 1000000})
/* Packets waiting for the other tracks to catch up, per track (see drain). A track this far
 * ahead stops waiting for a stalled one. */
#define QUEUE_MAX 64
#define QUEUE_WAIT 48

/* Where the cut media goes: one rendition, its muxer, the tracks it carries. */
struct output {
    struct hls_stream *st;
    struct fmp4 *mux;
    struct hls_variant_info vi;
    int ntracks;
    bool disc_next; /* its next part starts a segment after a timestamp jump */
    /* A part kept back to be published with the next one (see hold_next in struct hls_sink). */
    bool has_held;
    struct hls_part_pub held;
};

/* A sink writes one rendition (its "source"), or none when the ladder's rungs replace the source
 * (nout 0): each rung is a sink of its own in feed mode. */
#define MAX_OUTPUTS 1

/* The packager's side of a track; what was picked (used, video, time base) is the front-end's
 * (media/sink_front.h: sink_front_track). */
struct track {
    int out;              /* output index, -1: not written (a video only fed to the ladder) */
    int mux;              /* index in that output's muxer */
    int64_t dts_lead;     /* added to dts after the shift (feed mode: minus the source's reorder
                           * delay) */
    int64_t last_wall_us; /* arrival of the last packet taken */
    int64_t dropped;
    int nal_length_size; /* H.264 video in AVCC: scanned for captions (h264_au_has_captions) */
    struct audio_transcoder *atx; /* non-AAC audio: transcoded to AAC before anything else */
    /* Packets with known durations, in dts order, waiting to be interleaved with the other
     * tracks: a ring of QUEUE_MAX. */
    AVPacket *q[QUEUE_MAX];
    int q_head, q_len;
};

struct hls_sink {
    struct hls_group *group;    /* source mode; NULL in feed mode */
    struct hls_stream *feed_st; /* feed mode: the rung's rendition */
    bool feed;                  /* timestamps already on the stream's timeline */
    bool hole_next;             /* feed mode: hls_sink_feed_hole, for the next keyframe */
    int64_t hole_dts;           /* feed mode: that keyframe's dts (main track tb); INT64_MIN */
    struct hls_sink_config cfg;
    char name[HUB_NAME_MAX + 1];
    int64_t part_target_us;
    struct output out[MAX_OUTPUTS];
    int nout;
    struct hls_ladder *ladder; /* owned by the group; ours to push to until finish */
    int ladder_track;
    int ladder_audio; /* the audio track muxed into the rungs, -1: none */
    /* Track pick, the start and shift, one packet held per track: the front-end. Its main track
     * is the one cuts follow (video if any, else audio). */
    struct sink_front *front;
    struct track tr[HUB_MAX_TRACKS];
    bool failed, warned_long, ended;
    bool over_budget; /* admission control denied this stream its ladder: the source only */
    /* Its video carried closed captions (an A/53 SEI) at least once: every output with video
     * says so from then on (the multivariant playlist's CLOSED-CAPTIONS). */
    bool captions;
    /* The segment and part being cut, on the main track's timeline (us after the shift). */
    bool seg_open, part_open, part_independent;
    int64_t seg_start_us, part_start_us, part_end_us;
    int64_t last_seg_us; /* the main track's last whole segment, 0 before the first */
    int target_s;
    int64_t max_seg_us;
    int64_t fr_frames; /* video frames in the first segment */
    /* A timestamp jump (see mark_discontinuity): the front-end marks the main track's next
     * keyframe (sink_front_jump), whose dts (tb of the main track) then cuts the segment. */
    bool disc_cut;
    int64_t disc_dts;
    /* The main track's last keyframe taken (us, on the timeline; INT64_MIN before one): the
     * front-end takes a packet before it releases the one held before it, so when a released
     * frame ends where this keyframe starts, it is the last frame before the keyframe. */
    int64_t key_taken_us;
    /* The part being closed is kept back and published with the next one, the segment's last,
     * which holds only the frame that did not fit (a frame longer than the others before a
     * keyframe: a timestamp gap, a dropped frame). Published a frame apart, hls.js 1.7 could
     * miss the one-frame part when its playlist came between the first part's download and its
     * append, then load nothing for 6 s and wait on the hole. */
    bool hold_next;
};

/* Logs what failed (once) and stops the stream's parts. */
void hls_sink_fail(struct hls_sink *k, const char *what, int err);

/* hls_sink_start.c: the hub sink's accept and start (also the feed mode's start, hub NULL). */
int hls_sink_accept(void *opaque, const struct hub_track *tracks, int ntracks, char *why,
                    size_t whylen);
int hls_sink_start(void *opaque, struct hub *hub, const struct hub_track *hub_tracks, int ntracks);
/* The front-end's pick (sink_front_ops.pick): non-AAC audio through the AAC transcoder. */
bool hls_sink_pick(void *opaque, int i, const struct hub_track *ht, bool have_audio, AVRational *tb,
                   int64_t *default_dur);
/* The tracks as packaged: a transcoded audio track carries the AAC output's parameters. */
void hls_sink_packaged_tracks(const struct hls_sink *k, const struct hub_track *in, int n,
                              struct hub_track *out);
/* (Re)opens output o's muxer on tracks; 0 or a negative errno. */
int hls_sink_open_output(struct hls_sink *k, int o, const struct hub_track *tracks, int ntracks);

#endif
