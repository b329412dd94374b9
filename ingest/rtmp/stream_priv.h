/* Internals shared by stream.c (lifecycle, queue, hub start) and stream_media.c (FLV messages
 * -> codec state and packets). Not for other modules. */
#ifndef KIBITKA_INGEST_RTMP_STREAM_PRIV_H
#define KIBITKA_INGEST_RTMP_STREAM_PRIV_H

#include <libavcodec/avcodec.h>
#include <stdbool.h>

#include "ingest/rtmp/flv.h"
#include "ingest/rtmp/rtmp_metrics.h"
#include "ingest/rtmp/stream.h"
#include "media/h264.h"

struct queued {
    AVPacket *pkt; /* dts/pts not yet rebased */
    int64_t wall_us;
};

struct rtmp_stream {
    struct hub *hub;
    struct rtmp_metrics mx;
    char peer[64];
    char refusal[HUB_REFUSAL_MAX];

    uint8_t *avcc; /* AVCDecoderConfigurationRecord as received */
    size_t avcc_len;
    struct avc_config avc;
    bool new_extradata; /* config changed after the start: attach it to the next video packet */

    int mp3_rate, mp3_channels; /* MP3 audio: from the first frame's header; 0 before */
    uint8_t *asc;               /* AudioSpecificConfig */
    size_t asc_len;
    struct aac_config aac;

    bool meta_seen, meta_has_audio, meta_has_video;
    double meta_fps, meta_vrate, meta_arate; /* frames/s, kbit/s */

    bool ts_init;
    uint32_t last32;
    int64_t last64;
    bool origin_set;
    int64_t origin; /* extended dts of the first packet handed to the hub */

    bool started, video_track, audio_track; /* the hub's tracks: video is track 0 when present */
    bool refused; /* a sink refused the stream at hub_start: refusal says why */
    struct queued queue[STREAM_QUEUE_MAX];
    int qhead, qlen;

    int64_t created_mono_us;
    uint64_t video_pkts, audio_pkts, dropped;
    bool warned_audio_late, warned_video_late, warned_bad_frame, warned_no_config, warned_no_video;
};

/* Extends a 32-bit RTMP timestamp to 64 bits (steps are taken as signed 32-bit deltas). */
int64_t stream_extend_ts(struct rtmp_stream *st, uint32_t ts);
/* Hands a packet to the hub (rebased) or, before the start, to the queue; takes ownership. */
void stream_deliver(struct rtmp_stream *st, AVPacket *pkt);
/* Starts the hub when the start condition holds (see stream.h). After a refusal st->refused is
 * set and the caller ends the publish. */
void stream_maybe_start(struct rtmp_stream *st);
/* The AVC configuration changed after the start: hands the new tracks to the hub. */
void stream_reconfigure(struct rtmp_stream *st);

#endif
