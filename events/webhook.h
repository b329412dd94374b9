/* Webhooks: events (stream.live, stream.ended, recording.ready) POSTed as JSON to the
 * --webhook URLs, signed with --webhook-secret.
 *
 * How it fits. webhook_create registers a hub registry observer, so every new hub gets a small
 * sink: its start emits stream.live, its end stream.ended. Those callbacks run on the network
 * thread and only append to a bounded in-memory queue (webhook_emit; when the queue is full the
 * oldest event is dropped with a warning). One worker thread takes events in order and POSTs
 * each to every URL with libcurl, one after the other:
 *
 *   POST <url>
 *   Content-Type: application/json
 *   X-Kibitka-Event: stream.live
 *   X-Kibitka-Delivery: <event id, the same on every retry and every URL>
 *   X-Kibitka-Signature: sha256=<hex HMAC-SHA256 of the exact body, keyed with the secret>
 *
 *   {"id":"...","type":"stream.live","created_at":"2026-11-23T16:30:00.123Z",
 *    "data":{"name":"cam1","started_at":"2026-11-23T16:30:00.100Z"}}
 *
 * A delivery succeeds on any 2xx. Connection errors, timeouts (5 s to connect, 10 s in all),
 * 5xx and 429 are retried after 1, 2, 4, 8 s (5 attempts), then logged as an error and
 * dropped; any other status is logged and dropped at once. Delivery is at least once (a
 * receiver that answered too late sees the event again: deduplicate by the delivery id) and in
 * order per URL; a URL that keeps failing delays the events behind it (the queue then sheds
 * the oldest), which is the price of one worker and ordered delivery.
 *
 * Shutdown. webhook_destroy stops the worker at once: a request under way is aborted, queued
 * events are dropped and counted in a log line. Events the RTMP shutdown emits are delivered
 * during --stop-grace, while the worker still runs. Nothing is persisted across restarts. */
#ifndef KIBITKA_EVENTS_WEBHOOK_H
#define KIBITKA_EVENTS_WEBHOOK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/hub.h"
#include "core/metrics.h"

struct webhook;

struct webhook_config {
    const char *const *urls; /* copied */
    int nurls;               /* at least 1 */
    const char *secret;      /* copied; NULL or "" sends no signature header */
    int queue_max;           /* 0: 1000 events */
    int max_attempts;        /* 0: 5 */
    int backoff_ms;          /* 0: 1000; the wait before retry k (1-based) is backoff_ms << (k-1) */
    struct metrics *metrics; /* registers kibitka_webhook_*_total; may be NULL */
};

/* kibitka_webhook_{delivered,failed,dropped}_total. webhook_create registers them; server/ also
 * does without --webhook, so that /metrics shows them at 0. */
struct webhook_metrics {
    atomic_int_fast64_t *delivered, *failed, *dropped;
};
void webhook_metrics_register(struct metrics *m, struct webhook_metrics *mx);

/* Starts the worker and registers the observer on hubs (call before any claim). Returns NULL
 * when the worker cannot start (logged). */
struct webhook *webhook_create(const struct webhook_config *cfg, struct hub_registry *hubs);
/* Stops the worker (aborting a request under way), drops what is queued, frees, clears *pwh.
 * NULL-safe. Every hub must have ended: sinks point at the webhook. */
void webhook_destroy(struct webhook **pwh);

/* Queues an event of any type; never blocks beyond a short mutex, callable from any thread.
 * Takes ownership of data (a JSON object, the event's "data"). */
void webhook_emit(struct webhook *wh, const char *type, json_t *data);

/* Queues recording.ready (any thread): every chunk of the finished recording r is in the store.
 * data: {"id","stream","user","started_at","ended_at","duration_seconds","bytes",
 *        "chunks":[{"seq","key","bytes","duration_seconds"}...]}. */
struct db_recording;
struct db_chunk;
void webhook_emit_recording_ready(struct webhook *wh, const struct db_recording *r,
                                  const struct db_chunk *chunks, size_t n);

/* The request body of an event: compact JSON, keys in the order shown above. The caller
 * frees it. Exposed for tests. */
char *webhook_body(const char *id, const char *type, int64_t created_wall_us, const json_t *data);
/* out = "sha256=" + 64 hex digits + NUL of HMAC-SHA256(secret, body). */
#define WEBHOOK_SIGNATURE_LEN 72
void webhook_sign(const char *secret, const char *body, size_t len,
                  char out[WEBHOOK_SIGNATURE_LEN]);

#endif
