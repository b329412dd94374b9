/* A publishing stream: FLV audio/video messages -> codec parameters and AVPackets -> the hub.
 *
 * The hub's tracks are H.264 video (track 0) and AAC or MP3 audio (the next track), each when
 * present. The hub starts:
 * - with video, once the AVC configuration and a keyframe are queued and either the audio
 *   configuration is known (AAC's, or the first MP3 frame), or the metadata said there is no
 *   audio, or STREAM_VIDEO_ONLY_MS of video has arrived without audio (audio configured later is
 *   dropped);
 * - audio-only, when the audio is known and there is no keyframe yet, once the metadata said
 *   there is no video (`ffmpeg -vn` sends no videocodecid) or STREAM_VIDEO_WAIT_MS of audio has
 *   arrived (a late video); video sent after that start is dropped with one warning.
 * Packets that arrive before that wait in a bounded queue (STREAM_QUEUE_MAX packets,
 * STREAM_QUEUE_MS of media, longer than either wait), so the first GOP or the first seconds of
 * audio reach the sinks. A sink may refuse the stream at the start (hub_start -EPERM): the
 * media calls then return -EPROTONOSUPPORT with the sink's reason as the refusal. Timestamps:
 * the 32-bit RTMP milliseconds are extended across the wrap to 64 bits and rebased so the first
 * packet's dts is 0; time_base is 1/1000 on both tracks. */
#ifndef KIBITKA_INGEST_RTMP_STREAM_H
#define KIBITKA_INGEST_RTMP_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/hub.h"
#include "core/metrics.h"
#include "ingest/rtmp/amf0.h"

#define STREAM_QUEUE_MAX 300
#define STREAM_QUEUE_MS 3000
#define STREAM_VIDEO_ONLY_MS 1000
#define STREAM_VIDEO_WAIT_MS 2000

struct rtmp_stream;

/* Takes over the caller's reference to hub (from hub_registry_claim). metrics may be NULL.
 * peer is copied, for log lines. */
struct rtmp_stream *rtmp_stream_create(struct hub *hub, struct metrics *metrics, const char *peer);
/* Ends the hub (the name is free again at once), logs "publish ended (reason)", frees. */
void rtmp_stream_destroy(struct rtmp_stream **pst, const char *reason);

/* A type 9 / type 8 message body with its RTMP timestamp. Returns 0, or -EPROTONOSUPPORT when
 * the codec or the stream is refused (rtmp_stream_refusal then says why, for the peer and the
 * log). Malformed
 * configurations and frames are dropped with a log line, not errors. */
int rtmp_stream_video(struct rtmp_stream *st, uint32_t ts, const uint8_t *p, size_t n);
int rtmp_stream_audio(struct rtmp_stream *st, uint32_t ts, const uint8_t *p, size_t n);
/* The onMetaData object (OBJECT or ECMA_ARRAY). */
void rtmp_stream_metadata(struct rtmp_stream *st, const struct amf0_value *meta);
const char *rtmp_stream_refusal(const struct rtmp_stream *st);
const char *rtmp_stream_name(const struct rtmp_stream *st);

#endif
