/* RTP depacketizers: the payloads of one inbound RTP stream (already decrypted, parsed and put in
 * sequence order by rtc/rtp) in, the frames the hub takes out.
 *
 * One depacketizer per inbound media stream, behind a small ops table per codec:
 *
 *   depack_h264_ops  RFC 6184 packetization-mode 0/1: single NAL units, STAP-A, FU-A; an access
 *                    unit ends on the marker bit or a new timestamp; out in AVCC (4-byte NAL
 *                    lengths) with avcC extradata, as the RTMP ingest gives the hub.
 *   depack_vp8_ops   RFC 7741: the payload descriptor stripped, a frame from S=1/PID=0 to the
 *                    marker (or a new timestamp); out the raw VP8 frame.
 *   depack_opus_ops  RFC 7587: one payload = one Opus packet, out as it is; OpusHead extradata.
 *
 * Pure code: no sockets, no loop, no clock, no logging; one thread at a time per depacketizer.
 *
 * Loss. The caller says, per packet, whether packets were lost just before it (its reorder
 * buffer gave up on a gap); a jump in the unwrapped sequence number counts as one too. After a
 * loss a video depacketizer drops the frame being built and every frame up to the next
 * keyframe, and raises need_keyframe once: the caller sends a PLI (and may repeat it, rate
 * limited, while depack_waiting_keyframe is true). It also waits for a keyframe at the start.
 * Opus frames stand alone: a loss only loses them.
 *
 * Ownership. Each frame in depack_out is an AVPacket the caller owns (av_packet_free), with its
 * own refcounted buffer (padded), so it may be handed to hub_push and kept; a packet never
 * points into the RTP payload, which the caller may reuse as soon as depack_push returns. */
#ifndef KIBITKA_RTC_DEPACK_H
#define KIBITKA_RTC_DEPACK_H

#include <libavcodec/avcodec.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest frame assembled (an H.264 access unit, a VP8 frame): a bigger one is dropped as if
 * lost (need_keyframe). 4 MiB is far beyond any 4K intra frame at WebRTC bitrates. */
#define DEPACK_MAX_FRAME (4u << 20)
/* One payload may complete the frame before it (new timestamp) and itself (marker). */
#define DEPACK_MAX_OUT 2

struct depack;

/* Per RTP packet, from the RTP header and the caller's reorder buffer. */
struct depack_in {
    const uint8_t *payload; /* after the header, extensions and padding */
    size_t len;
    uint32_t timestamp;
    bool marker;
    uint64_t seq;     /* unwrapped sequence number (rtc/rtp), strictly increasing */
    bool lost_before; /* packets before this one were given up as lost */
};

struct depack_frame {
    /* Owned by the caller. data/size = the frame in the hub's format; pts = dts = the RTP
     * timestamp (0..2^32-1: the caller unwraps and rebases it); AV_PKT_FLAG_KEY on keyframes;
     * stream_index 0 (the caller sets the track). When config_changed, the packet also carries
     * the new extradata as AV_PKT_DATA_NEW_EXTRADATA side data. */
    AVPacket *pkt;
    uint32_t timestamp;
    bool keyframe;
    /* The codec configuration changed with this frame (the first frame, or a new SPS/PPS or
     * VP8 size): depack_codecpar now gives the parameters for it and what follows (call
     * hub_reconfigure before pushing it, or hub_start for the first). Always a keyframe.
     * (Should both frames of one push change it, depack_codecpar gives the second's; the first's
     * extradata is still in its side data.) */
    bool config_changed;
};

struct depack_out {
    int nframes; /* 0..DEPACK_MAX_OUT, in decode order */
    struct depack_frame frames[DEPACK_MAX_OUT];
    /* Ask the sender for a keyframe (RTCP PLI): a loss, a dropped frame, a malformed packet,
     * or a first frame that is not a keyframe. Raised once per wait for a keyframe; the caller
     * repeats the PLI (rate limited) while depack_waiting_keyframe is true. */
    bool need_keyframe;
};

/* From the SDP (rtc/sdp) for the payload type. */
struct depack_params {
    const char *fmtp; /* the a=fmtp parameters ("profile-level-id=...;sprop-parameter-sets=..."),
                         or NULL; read during create only */
    int channels;     /* Opus: 1 or 2; 0: the first packet's (its TOC's stereo bit), and
                         depack_codecpar is -EAGAIN until then (rtpmap always says /2) */
};

struct depack_ops {
    const char *name; /* the rtpmap encoding name: "H264", "VP8", "opus" */
    enum AVCodecID codec_id;
    enum AVMediaType type;
    int clock_rate;   /* 90000 video, 48000 Opus: the time base is 1/clock_rate */
    size_t priv_size; /* of the codec's state, zeroed at create */
    /* 0 or a negative errno; uninit runs after a failed init too. */
    int (*init)(struct depack *d, const struct depack_params *p);
    /* As depack_push, after the common checks (sequence order; a sequence gap is already in
     * in->lost_before). */
    int (*push)(struct depack *d, const struct depack_in *in, struct depack_out *out);
    /* Fills extradata (av_malloc'ed copy) and the size or audio fields; -EAGAIN when the
     * configuration is not known yet. */
    int (*codecpar)(const struct depack *d, AVCodecParameters *par);
    void (*uninit)(struct depack *d);
};

extern const struct depack_ops depack_h264_ops, depack_vp8_ops, depack_opus_ops;

/* The ops for an rtpmap encoding name (case-insensitive), or NULL. */
const struct depack_ops *depack_ops_find(const char *encoding);

/* Returns 0 and *out, or a negative errno with *out NULL: -EINVAL for a bad parameter,
 * -ENOTSUP for an H.264 packetization-mode other than 0 or 1. H.264: the SPS and PPS of
 * sprop-parameter-sets, when given and valid, are the configuration until in-band ones
 * replace them (a bad sprop is ignored: in-band ones may still come). */
int depack_create(const struct depack_ops *ops, const struct depack_params *p, struct depack **out);
/* NULL-safe; clears *pd. */
void depack_destroy(struct depack **pd);

/* Takes one payload. out is cleared first and always filled (frames completed before a bad
 * payload are still given). Returns 0; -EINVAL when the payload is malformed (a truncated
 * descriptor, a STAP-A length past the packet, an FU-A with both S and E, a bad Opus TOC),
 * -ENOTSUP for a packet type we do not take (STAP-B, MTAP, FU-B), -EALREADY for a sequence
 * number not after the last one (ignored). A rejected video payload drops its frame, as a
 * loss does. */
int depack_push(struct depack *d, const struct depack_in *in, struct depack_out *out);

/* Frees the AVPackets left in out (those the caller did not take: set a taken one to NULL). */
void depack_out_clear(struct depack_out *out);

/* True while frames are dropped until a keyframe (at the start and after a loss). */
bool depack_waiting_keyframe(const struct depack *d);

/* The hub track's parameters from the current state: codec_type, codec_id, extradata (avcC for
 * H.264, OpusHead for Opus, none for VP8), width/height (video), sample_rate and ch_layout
 * (Opus, 48 kHz); *time_base = 1/90000 video, 1/48000 Opus. par is reset first. Returns 0, or
 * -EAGAIN before the configuration is known (H.264 without SPS+PPS, VP8 before a keyframe). */
int depack_codecpar(const struct depack *d, AVCodecParameters *par, AVRational *time_base);

/* Statistics since create. */
struct depack_stats {
    uint64_t frames, dropped_frames, bad_payloads, keyframe_requests;
};
void depack_stats_get(const struct depack *d, struct depack_stats *s);

#endif
