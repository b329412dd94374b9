/* WHIP ingest (RFC 9725): the HTTP resource side of a WebRTC publish.
 *
 *   POST /whip, /whip/<stream>   Content-Type: application/sdp, Authorization: Bearer <key>
 *                                → 201, the SDP answer, Location: /whip/session/<id>, ETag
 *   PATCH /whip/session/<id>     application/trickle-ice-sdpfrag, If-Match: trickle candidates
 *                                (204) or an ICE restart (200 with our new credentials)
 *   DELETE /whip/session/<id>    ends the publish at once (200)
 *
 * Errors: 415 for another content type, 405 (with Allow) for another method, 401 for a missing
 * or wrong key (WWW-Authenticate: Bearer), 409 when the stream is live already, 400 with the
 * reason for a malformed offer, 428 for a PATCH without If-Match, 412 for a stale one, 404 for
 * an unknown session.
 *
 * Threads: whip_http runs on the HTTP threads and only checks what the request itself shows
 * (method, path, headers, size); everything else runs on the network thread, where the sessions
 * live: the request is posted there (loop_post), the key goes to the publish checker's worker
 * (auth/publish.h, as for RTMP: the network thread never waits on the database), and the answer
 * is handed back through req->done. The HTTP side never touches a session. */
#ifndef KIBITKA_INGEST_WHIP_H
#define KIBITKA_INGEST_WHIP_H

#include <stdbool.h>
#include <stddef.h>

struct hub_registry;
struct loop;
struct metrics;
struct publish_auth;
struct rtc_transport;
struct whip;

/* One HTTP request, as the HTTP layer collected it. Valid during whip_http only. */
struct whip_request {
    const char *method;
    const char *path; /* decoded, without the query */
    const char *content_type, *authorization, *if_match; /* headers, or NULL */
    const char *client;                                  /* the peer's address, for logs */
    const char *body;
    size_t body_len;
    /* Called exactly once, on any thread, when whip_http returned WHIP_PENDING and the response
     * is filled in. The response must stay valid until then. */
    void (*done)(void *done_ctx);
    void *done_ctx;
};

/* The answer. Strings marked heap are owned by the response: whip_response_clear frees them
 * (the HTTP layer may take them, setting the pointer to NULL). */
struct whip_response {
    unsigned status;
    char *body;               /* heap: the SDP answer, an sdpfrag, or a one-line reason */
    const char *content_type; /* static: of body */
    char *location;           /* heap: Location (201) */
    char *etag;               /* heap: ETag (201, 200 after an ICE restart) */
    char *link;               /* heap: Link header(s) for --ice-server, comma-joined */
    const char *allow;        /* static: Allow (405) */
    const char *accept_patch; /* static: Accept-Patch on the session resource */
    bool www_authenticate;    /* WWW-Authenticate: Bearer (401) */
};

struct whip_config {
    bool open_publish;          /* any key publishes a stream of the key's name (development) */
    struct publish_auth *auth;  /* key checks when open_publish is off; NULL: every key fails */
    struct hub_registry *hubs;
    struct rtc_transport *rtc;  /* the WebRTC port the sessions run on */
    struct metrics *metrics;    /* kibitka_whip_* figures; NULL: none */
    /* Link header value for each --ice-server (RFC 9725 §4.6), or NULL/0. Copied. */
    const char *const *ice_links;
    int nice_links;
};

/* On the network thread's loop; the loop, hubs, auth and metrics must outlive the whip. */
struct whip *whip_create(struct loop *loop, const struct whip_config *cfg);
/* Ends every WHIP publish (the stream ends as an RTMP one does: ENDLIST, recording, webhook).
 * On the loop's thread. Requests still in flight are answered 503. */
void whip_shutdown(struct whip *w);
void whip_destroy(struct whip **pw);

#define WHIP_PENDING 1
/* Serves one request under /whip: fills resp and returns 0, or returns WHIP_PENDING and calls
 * req->done later. Any thread. */
int whip_http(struct whip *w, const struct whip_request *req, struct whip_response *resp);
void whip_response_clear(struct whip_response *resp);

/* Live WHIP sessions (the network thread's figure, readable anywhere). */
int whip_session_count(const struct whip *w);

#endif
