#include "api/metrics_text.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/resource.h>
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

static void stream_jumps(void *opaque, struct hub *hub)
{
    buf_printf(opaque, "kibitka_stream_timestamp_jumps_total{stream=\"%s\"} %llu\n", hub_name(hub),
               (unsigned long long)hub_timestamp_jumps(hub));
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

/* Descriptors open now (the entries of /proc/self/fd, less the directory's own) and the soft
 * limit; -1 when they cannot be read. */
static int64_t open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int64_t n = -1;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static int64_t max_fds(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    return rl.rlim_cur == RLIM_INFINITY ? INT64_MAX : (int64_t)rl.rlim_cur;
}

/* HTTP connections and what the limits did (api/http_limits.h). */
static void http_metrics(struct buf *out, struct metrics *m)
{
    gauge(out, "process_open_fds", "Number of open file descriptors.", "gauge", open_fds());
    gauge(out, "process_max_fds", "Maximum number of open file descriptors (the soft limit).",
          "gauge", max_fds());
    gauge(out, "kibitka_http_connections", "Open HTTP connections.", "gauge",
          metrics_get(&m->http_connections));
    gauge(out, "kibitka_http_connections_max",
          "HTTP connections open at once (--http-max-connections, or the descriptor limit's "
          "share); more wait in the listen queue.",
          "gauge", metrics_get(&m->http_connections_max));
    buf_printf(out,
               "# HELP kibitka_http_connections_refused_total HTTP connections closed at "
               "accept, by reason.\n# TYPE kibitka_http_connections_refused_total counter\n"
               "kibitka_http_connections_refused_total{reason=\"per_address_limit\"} %lld\n",
               (long long)metrics_get(&m->http_refused_per_address_total));
    gauge(out, "kibitka_http_request_timeouts_total",
          "HTTP connections closed because a whole request was not in within "
          "--http-request-timeout (slow headers or body, or idle after a response).",
          "counter", metrics_get(&m->http_request_timeouts_total));
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
    buf_printf(out,
               "# HELP kibitka_loop_lag_seconds How late the network thread's event loop runs "
               "its timers: the most over the last 10-20 s, or how overdue the earliest one is "
               "while the loop is stuck.\n# TYPE kibitka_loop_lag_seconds gauge\n"
               "kibitka_loop_lag_seconds %.6f\n",
               (double)metrics_loop_lag_us(m, clock_mono_us()) / 1e6);
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
    buf_printf(out, "# HELP kibitka_stream_timestamp_jumps_total Publisher timestamp jumps "
                    "rebased (each an EXT-X-DISCONTINUITY), per live stream.\n"
                    "# TYPE kibitka_stream_timestamp_jumps_total counter\n");
    hub_registry_foreach(hubs, stream_jumps, out);
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
    int64_t cpu = metrics_get(&m->cpu_usage_permille);
    buf_printf(out,
               "# HELP kibitka_cpu_usage_ratio CPU time the process used over the last 4 s, as a "
               "share of the cores it may run on (what --cpu-budget is checked against).\n"
               "# TYPE kibitka_cpu_usage_ratio gauge\nkibitka_cpu_usage_ratio %lld.%03lld\n",
               (long long)(cpu / 1000), (long long)(cpu % 1000));
    gauge(out, "kibitka_admission_passthrough_total",
          "Streams that got no ladder, their source passed through, because the server was over "
          "--cpu-budget.",
          "counter", metrics_get(&m->admission_passthrough_total));
    gauge(out, "kibitka_admission_refused_total",
          "Publishes refused because the server was over --cpu-budget (--over-budget refuse).",
          "counter", metrics_get(&m->admission_refused_total));
    http_metrics(out, m);
    recording_metrics(out, m);
    login_metrics(out, m);
    hls_metrics_write(hls, out);
}
