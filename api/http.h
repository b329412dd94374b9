/* The HTTP server (libmicrohttpd, its own internal epoll thread pool): /hls/..., /api/...
 * (api.h), /whip, /health, /metrics, and the pages (web.h) on every other path.
 *
 * Blocking playlist reloads suspend the MHD connection and register a wake-up with the packager;
 * no HTTP thread ever sleeps. The wake-up may arrive on any thread and after the connection has
 * gone (closed by the client, or by the server stopping): a per-request record, refcounted
 * between MHD and the packager, makes that safe. An /api call the api finishes later (a login
 * on the password pool: API_PENDING) suspends the connection the same way, and the api's done
 * callback resumes it with the answer.
 *
 * Connection limits (http_limits.h): a cap on open connections, one per address, and a deadline
 * to receive each request, enforced by a sweep thread of the server's own. */
#ifndef KIBITKA_API_HTTP_H
#define KIBITKA_API_HTTP_H

#include <stdbool.h>

#include "api/api.h"
#include "core/hub.h"
#include "core/metrics.h"
#include "core/proxy.h"
#include "db/db.h"
#include "packager/hls.h"
#include "storage/storage.h"

struct http_server;

struct http_server_config {
    /* A bound, listening, non-blocking socket (net_listen_tcp): kibitka binds its ports before
     * it touches the data directory, so a port in use changes nothing. Owned by the server from
     * the call on (closed by destroy, or by create when it fails). */
    int listen_fd;
    const char *cors_origin; /* Access-Control-Allow-Origin for /hls */
    int threads;
    struct hls_server *hls;
    struct hub_registry *hubs;
    struct metrics *metrics;
    /* /api/...: the database (NULL: every /api route but /api/live and /api/openapi.json answers
     * 503). Not owned; must outlive the server. */
    struct db *db;
    /* The recordings' store, for /api/recordings (chunks, playlists, delete); NULL: those answer
     * 503. Not owned; must outlive the server. */
    struct storage *store;
    /* Called (HTTP thread) with opaque and the id of a recording the API deleted, once its
     * objects and rows are gone: main clears the recorder's spool of its leftovers. May be NULL. */
    void (*on_recording_deleted)(void *opaque, const char *id);
    void *recording_deleted_opaque;
    double link_lifetime_s; /* signed recording links work this long + duration; 0: 6 h */
    /* Voice rooms' live state and moderation (api.h, struct api_room_ops; server/ wires it to
     * the SFU); NULL: rooms show no participants and kick/mute answer 503. Not owned. */
    const struct api_room_ops *room_ops;
    void *room_ops_opaque;
    /* /whip and /whip/...: WHIP ingest (ingest/whip, wired by main), on the HTTP threads; NULL:
     * those paths answer 404. The preflight (OPTIONS) is answered here, for any origin allowed
     * by cors_origin. */
    api_external_fn whip;
    void *whip_opaque;
    /* The pages (api/web.h): served from this directory (--web-dir), or the embedded ones when
     * NULL. */
    const char *web_dir;
    /* The voice signaling WebSocket's port (--ws; 0: none): GET /api/config tells the pages, and
     * the pages' Content-Security-Policy lets them connect to ws://<any host>:port. */
    int ws_port;
    /* Thumbnails of live streams (packager/thumb.h); NULL: the thumbnail route answers 404. Not
     * owned; must outlive the server (http_server_destroy stops it). */
    struct thumbs *thumbs;
    /* Connection limits (api/http_limits.h): connections open at once (more wait in the listen
     * queue; main sizes it from the descriptor limit), from one address (more are closed at
     * accept; 0: no limit), and how long a connection may take to send a whole request. */
    int max_connections;             /* > 0 */
    int max_connections_per_address; /* 0: no limit */
    double request_timeout_s;        /* > 0 */
    /* --trusted-proxy (core/proxy.h): requests from these peers are the client's that their
     * X-Forwarded-For (or Forwarded) names, for the login limits, HLS sessions and the API's
     * logs. NULL or empty: every peer is the client. Not owned; must outlive the server. The
     * per-address connection cap acts at accept and always counts the peer. */
    const struct proxy_trust *trusted_proxies;
};

/* Starts serving on cfg->listen_fd. NULL after logging why. */
struct http_server *http_server_create(const struct http_server_config *cfg);
int http_server_port(const struct http_server *srv);
/* /health answers 200 once ready, 503 before and while stopping. */
void http_server_set_ready(struct http_server *srv, bool ready);
/* Stops serving, closes every connection (suspended ones too), frees. */
void http_server_destroy(struct http_server **psrv);

#endif
