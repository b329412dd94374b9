#include "ingest/rtmp/rtmp_metrics.h"

const char *rtmp_close_reason_label(enum rtmp_close_reason r)
{
    static const char *const labels[RTMP_CLOSE_NREASONS] = {
        "disconnected", "protocol_error",  "publish_refused", "not_reading",
        "idle_timeout", "publish_timeout", "max_connections", "per_address_limit",
        "ended_by_api", "server_stopping", "internal_error"};
    return r < RTMP_CLOSE_NREASONS ? labels[r] : "unknown";
}

void rtmp_metrics_register(struct metrics *m, struct rtmp_metrics *mx)
{
    mx->publishers = metrics_gauge(m, "kibitka_publishers", "Publishing RTMP sessions.");
    mx->connections = metrics_gauge(m, "kibitka_rtmp_connections", "Open RTMP connections.");
    mx->connections_total =
        metrics_counter(m, "kibitka_rtmp_connections_total", "RTMP connections accepted.");
    mx->rejected =
        metrics_counter(m, "kibitka_rtmp_rejected_total",
                        "RTMP connections closed for bad input, timeouts or refused publishes.");
    for (int r = 0; r < RTMP_CLOSE_NREASONS; r++)
        mx->closed[r] = metrics_labelled(m, METRIC_COUNTER, "kibitka_rtmp_closed_total",
                                         "RTMP connections closed or refused at accept, by reason.",
                                         "reason", rtmp_close_reason_label(r));
}
