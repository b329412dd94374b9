#include "api/metrics_text.h"

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

void metrics_text_write(struct buf *out, struct metrics *m, struct hub_registry *hubs,
                        struct hls_server *hls)
{
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
    buf_printf(out, "# HELP kibitka_stream_bytes_in_total Bytes received from the publisher, "
                    "per live stream.\n# TYPE kibitka_stream_bytes_in_total counter\n");
    hub_registry_foreach(hubs, stream_bytes, out);
    gauge(out, "kibitka_parts_total", "LL-HLS parts produced since start, all streams.", "counter",
          metrics_get(&m->hls_parts_total));
    gauge(out, "kibitka_segments_total", "HLS segments produced since start, all streams.",
          "counter", metrics_get(&m->hls_segments_total));
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
    hls_metrics_write(hls, out);
}
