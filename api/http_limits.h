/* HTTP connection limits that libmicrohttpd lacks or cannot report (issue 11, item 1). Idle
 * connections used to take the whole server down: one address opening 4,000 connections that
 * sent a header byte every 5 s held every slot, so /health, the playlists and the API stopped;
 * under `ulimit -n 1024`, 1,100 were enough to leave RTMP accepts and the recorder's chunk files
 * failing with EMFILE. What this module adds, beside the cap on connections that MHD enforces
 * (sized from the descriptor limit by http_limits_max_connections):
 *
 * - A per-address cap, checked in MHD's accept policy callback. MHD has one of its own
 *   (MHD_OPTION_PER_IP_CONNECTION_LIMIT), but it refuses with nothing but a log line that it
 *   shares with its global cap, so neither a metric nor our log could say what happened to whom.
 *   Here a refusal is counted (kibitka_http_connections_refused_total{reason=
 *   "per_address_limit"}) and logged with the address, once a second at most.
 * - A deadline to receive a whole request: its headers and its body must be in within
 *   --http-request-timeout of the connection being ready for it (accepted, or the previous
 *   response sent on a kept-alive connection). MHD's own connection timeout restarts on every
 *   byte received, which is what let a byte every 5 s hold a connection for ever.
 *   http_limits_sweep shuts down (shutdown(2)) the socket of each connection past its deadline:
 *   MHD sees the end of the stream and closes the connection as when a client goes away. The
 *   deadline also bounds how long a kept-alive connection may stay idle.
 *
 * Threads: every function takes the module's mutex. MHD's worker threads admit, open, close and
 * mark connections; the HTTP server's sweep thread sweeps. A connection's record is created in
 * MHD's connection-started notification and freed in its connection-closed one, which MHD calls
 * before it closes the socket: so the sweep, under the same mutex, never shuts down a descriptor
 * that has been closed and perhaps reused. */
#ifndef KIBITKA_API_HTTP_LIMITS_H
#define KIBITKA_API_HTTP_LIMITS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/metrics.h"

struct http_limits;
struct http_conn; /* one per open connection, owned by the limits */

struct http_limits_config {
    int max_per_address;      /* connections open at once from one IP address; 0: no limit */
    double request_timeout_s; /* > 0 */
    struct metrics *metrics;  /* may be NULL; else must outlive the limits */
};

struct http_limits *http_limits_create(const struct http_limits_config *cfg);
/* Every connection must have been closed (http_limits_close) before. */
void http_limits_destroy(struct http_limits **pl);

/* May addr open one more connection? A refusal is counted and logged. Connections are counted
 * when they open (not here): accepts that race on different MHD threads may let an address go
 * over its cap by one per thread, never more, and no count is ever left behind by a connection
 * MHD failed to set up after admitting it. */
bool http_limits_admit(struct http_limits *l, const struct sockaddr *addr);
/* A connection MHD set up: its socket and its peer's address. Its deadline starts now (now_us,
 * monotonic). */
struct http_conn *http_limits_open(struct http_limits *l, int fd, const struct sockaddr *addr,
                                   int64_t now_us);
/* The connection is closing; frees its record. Must come before its descriptor is closed. */
void http_limits_close(struct http_limits *l, struct http_conn *c);
/* The whole request is in (headers and body): its deadline no longer applies. */
void http_limits_request_in(struct http_limits *l, struct http_conn *c);
/* The response was sent: on a kept-alive connection the next request's deadline starts. */
void http_limits_request_done(struct http_limits *l, struct http_conn *c, int64_t now_us);
/* Shuts down the connections whose deadline has passed at now_us (once each) and counts them in
 * kibitka_http_request_timeouts_total. Returns how many. */
int http_limits_sweep(struct http_limits *l, int64_t now_us);
/* The HTTP connection cap. Every HTTP connection holds a descriptor, and so do RTMP connections,
 * recording chunks, the database, uploads and webhooks: HTTP gets what the descriptor limit
 * leaves after a reserve of *reserve = 2 per --max-connections RTMP connection (its socket and
 * a recording chunk) + 64 (listeners, event loops, the database, uploads, webhooks, logs). With
 * requested 0 (--http-max-connections unset) it is at most 16384 (each connection also costs
 * MHD a 32 KiB memory pool); a request is granted up to what the limit leaves (the caller warns
 * when it gets less). When the limit is too small to keep the reserve and 16 HTTP connections,
 * HTTP gets a quarter of it (at least 16) and *tight is set: the caller warns that RTMP and the
 * recordings may run out of descriptors. */
int http_limits_max_connections(long fd_limit, int rtmp_max_connections, int requested,
                                long *reserve, bool *tight);

#endif
