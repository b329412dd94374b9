/* A publishing stream: FLV audio/video messages -> codec parameters and AVPackets -> the hub.
 *
 * The hub starts (hub_start with track 0 = H.264 video, track 1 = AAC audio when present) once
 * the AVC configuration is known and either the AAC configuration is known, or the metadata said
 * there is no audio, or one second of video has arrived without an audio configuration. Packets
 * that arrive before that wait in a bounded queue (STREAM_QUEUE_MAX packets, STREAM_QUEUE_MS of
 * media), so the first GOP reaches the sinks. Timestamps: the 32-bit RTMP milliseconds are
 * extended across the wrap to 64 bits and rebased so the first packet's dts is 0; time_base is
 * 1/1000 on both tracks. */
#ifndef KIBITKA_INGEST_RTMP_STREAM_H
#define KIBITKA_INGEST_RTMP_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/hub.h"
#include "core/metrics.h"
#include "ingest/rtmp/amf0.h"

#define STREAM_QUEUE_MAX 300
#define STREAM_QUEUE_MS 2000
#define STREAM_VIDEO_ONLY_MS 1000

struct rtmp_stream;

/* Takes over the caller's reference to hub (from hub_registry_claim). metrics may be NULL.
 * peer is copied, for log lines. */
struct rtmp_stream *rtmp_stream_create(struct hub *hub, struct metrics *metrics, const char *peer);
/* Ends the hub (the name is free again at once), logs "publish ended (reason)", frees. */
void rtmp_stream_destroy(struct rtmp_stream **pst, const char *reason);

/* A type 9 / type 8 message body with its RTMP timestamp. Returns 0, or -EPROTONOSUPPORT when
 * the codec is refused (rtmp_stream_refusal then says why, for the peer and the log). Malformed
 * configurations and frames are dropped with a log line, not errors. */
int rtmp_stream_video(struct rtmp_stream *st, uint32_t ts, const uint8_t *p, size_t n);
int rtmp_stream_audio(struct rtmp_stream *st, uint32_t ts, const uint8_t *p, size_t n);
/* The onMetaData object (OBJECT or ECMA_ARRAY). */
void rtmp_stream_metadata(struct rtmp_stream *st, const struct amf0_value *meta);
const char *rtmp_stream_refusal(const struct rtmp_stream *st);
const char *rtmp_stream_name(const struct rtmp_stream *st);

#endif
