/* The JSON API under /api: users, sessions, streams, recordings, voice rooms, the public live
 * list and the OpenAPI document. Transport-free: http.c turns an MHD request into a struct
 * api_request (with the whole body, at most API_BODY_MAX bytes) and sends the struct api_response
 * back, so the whole API can be driven from a unit test without sockets.
 *
 * Threads: api_handle blocks on the database, so it runs on the HTTP threads, never the network
 * thread. It is thread-safe; the struct api is shared. The argon2id check of a login runs on
 * the api's password pool (auth/pwpool.h), not on the caller's thread: with a done callback in
 * the request, api_handle returns API_PENDING and the answer comes later (see there). */
#ifndef KIBITKA_API_API_H
#define KIBITKA_API_API_H

#include "packager/hls.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/router.h"
#include "core/blob.h"
#include "core/hub.h"
#include "core/metrics.h"
#include "db/db.h"
#include "storage/storage.h"

#define API_BODY_MAX (64 * 1024)

struct api;

struct api_request {
    const char *method;
    const char *path;          /* decoded, without the query */
    const char *authorization; /* the Authorization header, or NULL */
    const char *client;        /* the client address as text (for rate limits) */
    /* A query argument, or NULL (may itself be NULL: no arguments). */
    const char *(*arg)(void *ctx, const char *name);
    void *arg_ctx;
    const char *body; /* not NUL-terminated; NULL when empty */
    size_t body_len;
    const char *range; /* the Range header, or NULL */
    /* When set, a call may finish later, on another thread: api_handle returns API_PENDING, and
     * done(done_ctx) is called, exactly once, once the response is filled in; the response
     * must stay valid until then (the request itself need not: what is needed is copied). NULL:
     * api_handle waits for such a call itself (tests, tools). */
    void (*done)(void *done_ctx);
    void *done_ctx;
    const char *content_type; /* the Content-Type header, or NULL */
    const char *if_match;     /* the If-Match header, or NULL */
    /* X-Forwarded-Proto, or NULL: set by a reverse proxy (deploy/nginx.conf); GET /api/config
     * then points the pages at the proxy's same-origin /rtc. */
    const char *forwarded_proto;
};

struct api_response {
    unsigned status;
    json_t *body;                 /* owned by the response; NULL for an empty body (204) */
    char allow[ROUTER_ALLOW_MAX]; /* Allow header when not empty (405) */
    bool www_authenticate;        /* WWW-Authenticate: Bearer (401) */
    int64_t retry_after_s;        /* Retry-After when > 0 (429) */
    /* Answers that are not JSON (the recordings' playlist and chunks). At most one of text and
     * file is set, and body is NULL then. */
    char *location; /* Location header (302); heap, owned */
    char *text;     /* a text body (heap, owned) of content_type */
    bool has_file;  /* a file body: file_len bytes of file_fd from file_offset */
    int file_fd;    /* owned: closed by api_response_clear unless taken (-1) */
    int64_t file_offset, file_len, file_size;
    bool partial;              /* 206: Content-Range bytes file_offset-.../file_size */
    const char *content_type;  /* of text or file (static) */
    const char *cache_control; /* static; NULL: no-store */
    bool cors;                 /* add the server's Access-Control-Allow-Origin */
    char *etag;                /* ETag header (heap, owned), or NULL */
    char *link;                /* Link header value(s), comma-joined (heap, owned), or NULL */
    const char *accept_patch;  /* Accept-Patch header (static), or NULL */
    /* A binary body of content_type (a thumbnail): a reference the response owns, sent without
     * a copy. At most one of blob, text, file and body is set. */
    struct blob *blob;
};

/* An HTTP tree served outside the /api table (WHIP, /whip/...): the same request and response,
 * collected and sent by http.c as /api's are (body up to API_BODY_MAX, API_PENDING with
 * req->done). Responses with cors set also expose Location, ETag, Link and Accept-Patch to
 * scripts on other origins. */
typedef int (*api_external_fn)(void *opaque, const struct api_request *req,
                               struct api_response *resp);

/* db, hubs and store are not owned and must outlive the api; any may be NULL (routes needing
 * the db answer 503, so do the recordings' chunk, playlist and delete routes without a store;
 * /api/live lists nothing without hubs). on_deleted (may be NULL) is called with opaque and a
 * recording's id on the HTTP thread once its objects and rows are gone, for what else holds it
 * (server/main.c: the recorder's spool, cleared of the recording's leftovers). The signed links
 * to a recording work link_lifetime_s plus its duration (0: 6 h). */
typedef void (*api_recording_deleted_fn)(void *opaque, const char *id);
struct api *api_create(struct db *db, struct hub_registry *hubs, struct hls_server *hls,
                       struct storage *store, api_recording_deleted_fn on_deleted, void *opaque,
                       double link_lifetime_s);
void api_destroy(struct api **papi);
/* Answers every call still pending (logins waiting for the password pool: 503) and waits for
 * those being worked on, calling their done callbacks; later logins are answered 503 at once.
 * For a transport that must not stop with requests in flight (libmicrohttpd refuses to stop
 * with suspended connections). */
void api_stop(struct api *api);
/* Counters for /metrics (the logins' queue, refusals and rate limits); NULL: none. */
void api_set_metrics(struct api *api, struct metrics *metrics);
/* Voice rooms' live side (issue 14): the SFU (sfu/sfu.h), which api/ does not link. server/
 * fills this with wrappers of sfu_room_snapshot_json, sfu_kick, sfu_server_mute and
 * sfu_close_room, which post the moderation calls to the network loop. Every function is called
 * on an HTTP thread, with opaque; none may be NULL in a table that is set.
 *   snapshot: the room's live state as JSON text, malloc'd, the api frees it:
 *     {"members":[{"id","user","display","speaking","muted","joined_at","packets_in",
 *     "packets_forwarded","packets_lost","jitter_ms","rtt_ms","slots_in_use"}...]}, or NULL
 *     when nobody is in it;
 *   kick, mute: 0, or -ENOENT when the member is not (or no longer) there; they may return
 *     before the loop has acted;
 *   close: every member of a deleted room is closed ("room deleted").
 * Without a table (NULL, the default) rooms have no live participants and kick and mute
 * answer 503. */
struct api_room_ops {
    char *(*snapshot)(void *opaque, const char *room);
    int (*kick)(void *opaque, const char *room, const char *member_id);
    int (*mute)(void *opaque, const char *room, const char *member_id, bool muted);
    void (*close)(void *opaque, const char *room);
};
/* Set before the api serves (not synchronised with requests); ops must outlive the api. */
void api_set_room_ops(struct api *api, const struct api_room_ops *ops, void *opaque);
/* The voice signaling WebSocket's port (--ws), for GET /api/config; 0: none (the default). */
void api_set_ws_port(struct api *api, int port);
/* Thumbnails of live streams (packager/thumb.h) for GET /api/streams/{name}/thumbnail.jpg;
 * NULL (the default): that route answers 404. Set before the api serves; not owned; api_stop
 * stops it (thumbs_stop) so no request stays suspended. */
struct thumbs;
void api_set_thumbs(struct api *api, struct thumbs *thumbs);
/* Fills *resp (zeroed first) and returns 0, or returns API_PENDING when req->done will be called
 * once *resp is filled (only when req->done is set). The caller releases *resp with
 * api_response_clear. */
#define API_PENDING 1
int api_handle(struct api *api, const struct api_request *req, struct api_response *resp);
void api_response_clear(struct api_response *resp);
/* An error response {"error":{"code","message"}} (for the transport's own errors, e.g. 413). */
void api_response_error(struct api_response *resp, unsigned status, const char *code,
                        const char *message);

#endif
