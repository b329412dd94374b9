/* LL-HLS packager: a hub sink per live stream that cuts fMP4/CMAF parts and segments in memory and
 * answers /hls requests, with blocking playlist reload.
 *
 * Ownership and threads. hls_server_create registers an observer on the hub registry, so every
 * new hub gets a packager sink; the sink runs on the source's thread (the network thread).
 * hls_handle and hls_wait are called from HTTP threads; hls_server_tick from any one thread every
 * ~100 ms. All per-stream state is guarded by a per-stream mutex; what leaves the packager is
 * refcounted (struct blob), never a pointer into live state.
 *
 * URLs (below /hls/, relative URIs inside the playlists):
 *   <name>/index.m3u8                  multivariant playlist
 *   <name>/<rendition>/media.m3u8      media playlist (LL-HLS), with _HLS_msn/_HLS_part/_HLS_skip
 *   <name>/<rendition>/init-<sid>.mp4            fMP4 init section (ftyp+moov)
 *   <name>/<rendition>/seg-<sid>-<M>.m4s         segment M (the concatenation of its parts)
 *   <name>/<rendition>/part-<sid>-<M>.<K>.m4s    part K of segment M (moof+mdat)
 * <sid> names the publish session ([0-9a-f]+): init, segments and parts are served as immutable,
 * so a republish under the same name must never reuse their URIs.
 *
 * Renditions ([a-z0-9]{1,15}): "source" (the publisher's video passed through) and one per
 * encoded rung of the ladder named by its height ("720p"), each with the stream's AAC audio muxed
 * in: one request per part, and one segment loader per rendition in a player (a separate audio
 * rendition made video.js run two, and wait: docs/ARCHITECTURE.md). */
#ifndef KIBITKA_PACKAGER_HLS_H
#define KIBITKA_PACKAGER_HLS_H

#include <stdint.h>

#include "core/blob.h"
#include "core/buf.h"
#include "core/hub.h"
#include "core/metrics.h"

struct hls_server;
struct hls_waiter;

struct ladder;
struct admission;

struct hls_config {
    double part_seconds;         /* part target duration (--part) */
    double linger_seconds;       /* how long an ended stream stays served (--hls-linger) */
    const struct ladder *ladder; /* parsed --ladder (copied); NULL: the source only */
    const char *x264_preset;     /* --x264-preset; NULL: veryfast */
    struct admission *admission; /* NULL: every stream gets the ladder */
    struct metrics *metrics;
};

struct hls_server *hls_server_create(const struct hls_config *cfg, struct hub_registry *hubs);
/* Wakes every waiter and frees every stream. Call after HTTP has stopped calling in, and when
 * the registry claims no more hubs (its observer points here); sinks of hubs still live keep
 * their stream alive until the hub ends, harmlessly. */
void hls_server_destroy(struct hls_server **psrv);
/* Expires blocking waits past their deadline (their wake is called) and drops ended streams
 * past the linger time. Returns how many streams it dropped (their memory is freed once the
 * HTTP threads let go of their last blobs). */
int hls_server_tick(struct hls_server *srv);

struct hls_request {
    const char *path;    /* after "/hls/", e.g. "cam1/source/media.m3u8"; not URL-decoded */
    const char *hls_msn; /* query values, or NULL when absent */
    const char *hls_part;
    const char *hls_skip;
    int64_t wait_started_us; /* 0 on the first call; clock_mono_us() of the first block after */
    const char *client;      /* the client's address, for the viewer count; may be NULL */
};

struct hls_response {
    int status;                /* 200, 400, 404, 503 */
    struct blob *body;         /* a reference the caller unrefs; NULL for errors */
    const char *content_type;  /* static string */
    const char *cache_control; /* static string */
    char error[160];           /* for non-200: a one-line reason, sent as text/plain */
};

#define HLS_BLOCK 1

/* Answers a request. Returns 0 with *resp filled (any status), or HLS_BLOCK when the request is
 * a blocking reload whose part does not exist yet: the caller then suspends its connection and
 * calls hls_wait, and later calls hls_handle again with wait_started_us set. A request blocked
 * longer than three target durations gets 503. */
int hls_handle(struct hls_server *srv, const struct hls_request *req, struct hls_response *resp);

/* Registers a wake-up for a request that got HLS_BLOCK. Returns 0 when registered: wake(arg) is
 * then called exactly once, from some thread, when the awaited part exists, the stream ends or
 * goes away, or the wait's deadline passes. Returns 1 when the request can already be answered
 * (nothing is registered; call hls_handle again now). */
int hls_wait(struct hls_server *srv, const struct hls_request *req, void (*wake)(void *arg),
             void *arg);

/* Viewers of stream name: distinct client addresses that fetched its playlists in the last
 * HLS_VIEWER_WINDOW_S seconds (players reload them every part, so a watching player is always
 * counted; viewers behind one NAT or CDN address count once). -ENOENT for no such stream. */
#define HLS_VIEWER_WINDOW_S 30
int hls_viewers(struct hls_server *srv, const char *name);

/* How far stream name's transcode worker is behind its source, in seconds (0 without a ladder),
 * as kibitka_transcode_lag_seconds shows it; -ENOENT for no such stream. For the API. */
int hls_transcode_lag(struct hls_server *srv, const char *name, double *lag_s);

/* Appends per-stream Prometheus lines (parts, segments, ...) to out. */
void hls_metrics_write(struct hls_server *srv, struct buf *out);

#endif
