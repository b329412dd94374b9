/* Process-wide counters for /metrics. One struct metrics is created by the server and handed to
 * each module at create time; modules bump the counters with the inline helpers (relaxed atomics,
 * any thread). Per-stream figures live with the stream (hub bytes in, packager parts) and are
 * written by their module's *_metrics_write function. */
#ifndef KIBITKA_CORE_METRICS_H
#define KIBITKA_CORE_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

/* Why an RTMP connection was closed or refused (kibitka_rtmp_closed_total{reason}). */
enum rtmp_close_reason {
    RTMP_CLOSE_DISCONNECTED, /* the peer closed or reset */
    RTMP_CLOSE_PROTOCOL,     /* bad input */
    RTMP_CLOSE_REFUSED,      /* the publish was refused (key, name, codec) */
    RTMP_CLOSE_NOT_READING,  /* our replies piled up unread */
    RTMP_CLOSE_IDLE,         /* --idle-timeout */
    RTMP_CLOSE_NO_PUBLISH,   /* --publish-timeout */
    RTMP_CLOSE_MAX_CONNS,    /* refused at accept: --max-connections */
    RTMP_CLOSE_PER_ADDRESS,  /* refused at accept: --max-connections-per-address */
    RTMP_CLOSE_ENDED_BY_API, /* stream or user deleted, or key rotated with end_live */
    RTMP_CLOSE_STOPPING,     /* server shutdown */
    RTMP_CLOSE_INTERNAL,
    RTMP_CLOSE_NREASONS
};

/* The label of kibitka_rtmp_closed_total{reason="..."}. */
static inline const char *rtmp_close_reason_label(enum rtmp_close_reason r)
{
    static const char *const labels[RTMP_CLOSE_NREASONS] = {
        "disconnected",    "protocol_error",  "publish_refused", "not_reading",
        "idle_timeout",    "publish_timeout", "max_connections", "per_address_limit",
        "ended_by_api",    "server_stopping", "internal_error"};
    return r < RTMP_CLOSE_NREASONS ? labels[r] : "unknown";
}

struct metrics {
    atomic_int_fast64_t rtmp_closed_total[RTMP_CLOSE_NREASONS]; /* counters, by reason */
    atomic_int_fast64_t rtmp_connections;                       /* gauge: open RTMP connections */
    atomic_int_fast64_t rtmp_connections_total;                 /* counter: accepted */
    atomic_int_fast64_t rtmp_rejected_total;     /* counter: closed for bad input or refused */
    atomic_int_fast64_t publishers;              /* gauge: publishing sessions */
    atomic_int_fast64_t hls_requests_total;      /* counter */
    atomic_int_fast64_t http_refused_total;      /* counter: bad targets or framing (400, 414) */
    atomic_int_fast64_t hls_bytes_out_total;     /* counter: body bytes of /hls responses */
    atomic_int_fast64_t hls_blocking_waiting;    /* gauge: suspended blocking playlist requests */
    atomic_int_fast64_t hls_parts_total;         /* counter: parts produced, all streams */
    atomic_int_fast64_t hls_segments_total;      /* counter: segments produced, all streams */
    atomic_int_fast64_t webhook_delivered_total; /* counter: event deliveries answered 2xx */
    atomic_int_fast64_t webhook_failed_total;    /* counter: deliveries refused or given up */
    atomic_int_fast64_t webhook_dropped_total;   /* counter: events dropped unsent (queue full,
                                                    stopping) */
    atomic_int_fast64_t transcode_dropped_frames_total; /* counter: rung frames not encoded
                                                           because a worker fell behind */
    /* admission control (transcode/admission.c) */
    atomic_int_fast64_t cpu_usage_permille;          /* gauge: process CPU, 1/1000 of the cores */
    atomic_int_fast64_t admission_passthrough_total; /* counter: streams denied a ladder */
    atomic_int_fast64_t admission_refused_total;     /* counter: publishes refused (budget) */
    /* recordings (recorder/, storage/upload.c) */
    atomic_int_fast64_t recordings_active;        /* gauge: streams being recorded */
    atomic_int_fast64_t recorder_paused;          /* gauge: recordings paused (spool, disk full) */
    atomic_int_fast64_t recorder_disk_full;       /* gauge: 1 while the spool's disk is full */
    atomic_int_fast64_t recording_gaps_total;     /* counter: gaps recorded (media not written) */
    atomic_int_fast64_t recorder_fd_retries_total; /* counter: opens retried for lack of fds */
    atomic_int_fast64_t recorder_dropped_total;   /* counter: fragments dropped (I/O queue full,
                                                     disk errors) */
    atomic_int_fast64_t spool_bytes;              /* gauge: bytes of chunk files in the spool */
    atomic_int_fast64_t upload_queue_chunks;      /* gauge: closed chunks waiting for the store */
    atomic_int_fast64_t upload_oldest_pending_us; /* wall time the oldest waiting chunk closed;
                                                     0: none */
    atomic_int_fast64_t upload_chunks_total;      /* counter: chunks the store confirmed */
    atomic_int_fast64_t upload_bytes_total;       /* counter: their bytes */
    atomic_int_fast64_t upload_failures_total;    /* counter: failed upload attempts */
    atomic_int_fast64_t storage_errors_total;     /* counter: credentials refused, no bucket */
    atomic_int_fast64_t storage_access_denied;    /* gauge: 1 while the store refuses us */
    /* logins and password changes (api/auth_routes.c) */
    atomic_int_fast64_t logins_pending;            /* gauge: waiting for or in the password pool */
    atomic_int_fast64_t logins_refused_total;      /* counter: 503, the pool's queue was full */
    atomic_int_fast64_t logins_rate_limited_total; /* counter: 429, not checked */
    atomic_int_fast64_t logins_failed_total;       /* counter: wrong username or password */
    /* the network thread's loop (core/loop.c, loop_set_metrics); read with metrics_loop_lag_us */
    atomic_int_fast64_t loop_lag_max_us;  /* most a timer ran late, over the last 10-20 s */
    atomic_int_fast64_t loop_next_due_us; /* monotonic time the earliest timer is due; 0: none */
    /* HTTP connections (api/http_limits.h) */
    atomic_int_fast64_t http_connections;     /* gauge: open now */
    atomic_int_fast64_t http_connections_max; /* gauge: the cap (--http-max-connections or the
                                                 descriptor limit's share) */
    atomic_int_fast64_t http_refused_per_address_total; /* counter: closed at accept,
                                                           --http-max-connections-per-address */
    atomic_int_fast64_t http_request_timeouts_total;    /* counter: closed without a whole
                                                           request, --http-request-timeout */
};

static inline void metrics_add(atomic_int_fast64_t *m, int64_t n)
{
    atomic_fetch_add_explicit(m, n, memory_order_relaxed);
}

static inline int64_t metrics_get(atomic_int_fast64_t *m)
{
    return atomic_load_explicit(m, memory_order_relaxed);
}

/* How late the network thread's loop runs (kibitka_loop_lag_seconds), at monotonic time now:
 * the most a timer ran behind its due time over the last 10-20 s, or, when the loop is stuck
 * now (in a long callback, or starved of CPU), how overdue its earliest timer already is. */
static inline int64_t metrics_loop_lag_us(struct metrics *m, int64_t now)
{
    int64_t most = metrics_get(&m->loop_lag_max_us), due = metrics_get(&m->loop_next_due_us);
    return due > 0 && now - due > most ? now - due : most;
}

#endif
