#include "api/metrics_text.h"

#include <stdio.h>
#include <unistd.h>

#include "core/clock.h"

static void gauge(struct buf *out, const char *name, const char *help, const char *type, int64_t v)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", name, help, name, type, name,
               (long long)v);
}

static void stream_bytes(void *opaque, struct hub *hub)
{
    buf_printf(opaque, "kibitka_stream_bytes_in_total{stream=\"%s\"} %llu\n", hub_name(hub),
               (unsigned long long)hub_bytes_in(hub));
}

/* Recorder and upload queue figures (recorder/, storage/upload.c). */
static void recording_metrics(struct buf *out, struct metrics *m)
{
    int64_t oldest = metrics_get(&m->upload_oldest_pending_us), now = clock_wall_us();
    gauge(out, "kibitka_recordings_active", "Streams being recorded now.", "gauge",
          metrics_get(&m->recordings_active));
    gauge(out, "kibitka_recordings_paused",
          "Recordings paused because the spool reached --spool-max-bytes or the disk is full.",
          "gauge", metrics_get(&m->recorder_paused));
    gauge(out, "kibitka_recorder_disk_full",
          "1 while the recorder found the disk full (recording paused until it has room).",
          "gauge", metrics_get(&m->recorder_disk_full));
    gauge(out, "kibitka_recording_gaps_total",
          "Gaps recorded in recordings: media not written (paused, or the disk too slow).",
          "counter", metrics_get(&m->recording_gaps_total));
    gauge(out, "kibitka_recorder_fd_retries_total",
          "Recorder file opens retried for lack of file descriptors (nothing lost).", "counter",
          metrics_get(&m->recorder_fd_retries_total));
    gauge(out, "kibitka_recorder_dropped_total",
          "Recording fragments dropped (disk too slow: I/O queue full, or a write error).",
          "counter", metrics_get(&m->recorder_dropped_total));
    gauge(out, "kibitka_spool_bytes", "Bytes of recording chunks in the local spool.", "gauge",
          metrics_get(&m->spool_bytes));
    gauge(out, "kibitka_upload_queue_chunks", "Closed chunks waiting for the store.", "gauge",
          metrics_get(&m->upload_queue_chunks));
    gauge(out, "kibitka_upload_oldest_pending_seconds",
          "Age of the oldest chunk waiting for the store (0 when none).", "gauge",
          oldest > 0 && now > oldest ? (now - oldest) / 1000000 : 0);
    gauge(out, "kibitka_upload_chunks_total", "Chunks the store confirmed.", "counter",
          metrics_get(&m->upload_chunks_total));
    gauge(out, "kibitka_upload_bytes_total", "Bytes of the chunks the store confirmed.", "counter",
          metrics_get(&m->upload_bytes_total));
    gauge(out, "kibitka_upload_failures_total", "Failed upload attempts (each is retried).",
          "counter", metrics_get(&m->upload_failures_total));
    gauge(out, "kibitka_storage_errors_total",
          "Uploads refused for credentials or a missing bucket.", "counter",
          metrics_get(&m->storage_errors_total));
    gauge(out, "kibitka_storage_access_denied",
          "1 while the store refuses the credentials (see the log).", "gauge",
          metrics_get(&m->storage_access_denied));
}

/* The process' resident memory (RSS) from /proc/self/statm; 0 when it cannot be read. */
static int64_t resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long long size = 0, resident = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lld %lld", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (int64_t)resident * sysconf(_SC_PAGESIZE);
}

static void login_metrics(struct buf *out, struct metrics *m)
{
    gauge(out, "kibitka_logins_pending",
          "Logins (and password changes) waiting for the password pool or in it now.", "gauge",
          metrics_get(&m->logins_pending));
    gauge(out, "kibitka_logins_refused_total",
          "Logins (and password changes) answered 503: the password pool's queue was full.",
          "counter", metrics_get(&m->logins_refused_total));
    gauge(out, "kibitka_logins_rate_limited_total",
          "Logins answered 429 without a check (too many failures; auth/login_limit.h).", "counter",
          metrics_get(&m->logins_rate_limited_total));
    gauge(out, "kibitka_logins_failed_total", "Logins with a wrong username or password.",
          "counter", metrics_get(&m->logins_failed_total));
}

void metrics_text_write(struct buf *out, struct metrics *m, struct hub_registry *hubs,
                        struct hls_server *hls)
{
    gauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.", "gauge",
          resident_bytes());
    gauge(out, "kibitka_live_streams", "Live streams (hubs with a source).", "gauge",
          hub_registry_count(hubs));
    gauge(out, "kibitka_publishers", "Publishing RTMP sessions.", "gauge",
          metrics_get(&m->publishers));
    gauge(out, "kibitka_rtmp_connections", "Open RTMP connections.", "gauge",
          metrics_get(&m->rtmp_connections));
    gauge(out, "kibitka_rtmp_connections_total", "RTMP connections accepted.", "counter",
          metrics_get(&m->rtmp_connections_total));
    gauge(out, "kibitka_rtmp_rejected_total",
          "RTMP connections closed for bad input, timeouts or refused publishes.", "counter",
          metrics_get(&m->rtmp_rejected_total));
    buf_printf(out, "# HELP kibitka_rtmp_closed_total RTMP connections closed or refused at "
                    "accept, by reason.\n# TYPE kibitka_rtmp_closed_total counter\n");
    for (int r = 0; r < RTMP_CLOSE_NREASONS; r++)
        buf_printf(out, "kibitka_rtmp_closed_total{reason=\"%s\"} %lld\n",
                   rtmp_close_reason_label(r), (long long)metrics_get(&m->rtmp_closed_total[r]));
    buf_printf(out, "# HELP kibitka_stream_bytes_in_total Bytes received from the publisher, "
                    "per live stream.\n# TYPE kibitka_stream_bytes_in_total counter\n");
    hub_registry_foreach(hubs, stream_bytes, out);
    gauge(out, "kibitka_parts_total", "LL-HLS parts produced since start, all streams.", "counter",
          metrics_get(&m->hls_parts_total));
    gauge(out, "kibitka_segments_total", "HLS segments produced since start, all streams.",
          "counter", metrics_get(&m->hls_segments_total));
    gauge(out, "kibitka_http_refused_total",
          "HTTP requests refused before routing: %00, too many query arguments, "
          "Transfer-Encoding with Content-Length or Content-Lengths that differ.",
          "counter", metrics_get(&m->http_refused_total));
    gauge(out, "kibitka_hls_requests_total", "HTTP requests under /hls.", "counter",
          metrics_get(&m->hls_requests_total));
    gauge(out, "kibitka_hls_bytes_out_total", "Body bytes sent for /hls requests.", "counter",
          metrics_get(&m->hls_bytes_out_total));
    gauge(out, "kibitka_hls_blocking_requests", "Blocking playlist reloads waiting now.", "gauge",
          metrics_get(&m->hls_blocking_waiting));
    gauge(out, "kibitka_webhook_delivered_total", "Webhook deliveries answered 2xx.", "counter",
          metrics_get(&m->webhook_delivered_total));
    gauge(out, "kibitka_webhook_failed_total",
          "Webhook deliveries refused (4xx) or given up after retries.", "counter",
          metrics_get(&m->webhook_failed_total));
    gauge(out, "kibitka_webhook_dropped_total",
          "Webhook events dropped unsent (queue full, or the server stopping).", "counter",
          metrics_get(&m->webhook_dropped_total));
    gauge(out, "kibitka_transcode_dropped_frames_total",
          "Rendition frames not encoded because a transcode worker fell behind (per rung).",
          "counter", metrics_get(&m->transcode_dropped_frames_total));
    recording_metrics(out, m);
    login_metrics(out, m);
    hls_metrics_write(hls, out);
}
