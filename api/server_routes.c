/* GET /api/server (admins): the server's health as JSON, for the /admin page and for tools that
 * would rather not parse /metrics. The figures are the ones the modules keep in the metrics
 * registry (core/metrics.h): read from their handles by name (metrics_value, an atomic load),
 * never by writing and parsing the Prometheus text. A module that is not running (no store: no
 * upload worker; no --webhook) registered nothing, and its figures read 0. */
#include <stdbool.h>
#include <stdint.h>

#include "api/internal.h"
#include "core/clock.h"

/* What the page shows, from the registry. */
struct server_figures {
    int64_t upload_queue_chunks, upload_oldest_pending_s, upload_failures, uploads, spool_bytes;
    int64_t storage_errors;
    bool storage_access_denied, recorder_disk_full;
    int64_t recordings_active;
    int64_t webhook_delivered, webhook_failed, webhook_dropped;
};

static int64_t value(struct metrics *m, const char *name)
{
    return m ? metrics_value(m, name, NULL) : 0;
}

static void server_figures_read(struct metrics *m, struct server_figures *f)
{
    f->upload_queue_chunks = value(m, "kibitka_upload_queue_chunks");
    /* recorder/upload.c keeps the wall time the oldest waiting chunk closed (0: none) */
    int64_t oldest = value(m, "kibitka_upload_oldest_pending_seconds"), now = clock_wall_us();
    f->upload_oldest_pending_s = oldest > 0 && now > oldest ? (now - oldest) / 1000000 : 0;
    f->upload_failures = value(m, "kibitka_upload_failures_total");
    f->uploads = value(m, "kibitka_upload_chunks_total");
    f->spool_bytes = value(m, "kibitka_spool_bytes");
    f->storage_errors = value(m, "kibitka_storage_errors_total");
    f->storage_access_denied = value(m, "kibitka_storage_access_denied") != 0;
    f->recorder_disk_full = value(m, "kibitka_recorder_disk_full") != 0;
    f->recordings_active = value(m, "kibitka_recordings_active");
    f->webhook_delivered = value(m, "kibitka_webhook_delivered_total");
    f->webhook_failed = value(m, "kibitka_webhook_failed_total");
    f->webhook_dropped = value(m, "kibitka_webhook_dropped_total");
}

void api_server_status(struct api_call *c)
{
    struct api *api = c->api;
    struct server_figures f;
    server_figures_read(api->metrics, &f);
    int64_t up_us = clock_mono_us() - api->started_mono_us;
    json_t *o = json_object();
    json_object_set_new(o, "version", json_string(KIBITKA_VERSION));
    json_object_set_new(o, "started_at", json_time(api->started_wall_us));
    json_object_set_new(o, "uptime_seconds", json_integer(up_us > 0 ? up_us / 1000000 : 0));
    json_object_set_new(o, "live_streams",
                        json_integer(api->hubs ? hub_registry_count(api->hubs) : 0));
    json_object_set_new(o, "upload_queue_chunks", json_integer(f.upload_queue_chunks));
    json_object_set_new(o, "upload_oldest_pending_seconds",
                        json_integer(f.upload_oldest_pending_s));
    json_object_set_new(o, "upload_failures_total", json_integer(f.upload_failures));
    json_object_set_new(o, "uploads_total", json_integer(f.uploads));
    json_object_set_new(o, "spool_bytes", json_integer(f.spool_bytes));
    json_object_set_new(o, "storage_errors_total", json_integer(f.storage_errors));
    json_object_set_new(o, "storage_access_denied", json_boolean(f.storage_access_denied));
    json_object_set_new(o, "recorder_disk_full", json_boolean(f.recorder_disk_full));
    json_object_set_new(o, "recordings_active", json_integer(f.recordings_active));
    json_object_set_new(o, "webhook_deliveries_total", json_integer(f.webhook_delivered));
    json_object_set_new(o, "webhook_failures_total", json_integer(f.webhook_failed));
    json_object_set_new(o, "webhook_dropped_total", json_integer(f.webhook_dropped));
    api_ok(c, 200, o);
}

/* GET /api/config: where the pages find the voice signaling. Direct, it is ws://<the page's
 * host>:ws_port/rtc; through a reverse proxy (it sets X-Forwarded-Proto, deploy/nginx.conf) the
 * proxy's own /rtc, on the page's origin. */
void api_config(struct api_call *c)
{
    json_t *o = json_pack("{s:s,s:b}", "ws_path", "/rtc", "proxied",
                          c->req->forwarded_proto != NULL && c->req->forwarded_proto[0]);
    json_object_set_new(o, "ws_port",
                        c->api->ws_port > 0 ? json_integer(c->api->ws_port) : json_null());
    api_ok(c, 200, o);
}
