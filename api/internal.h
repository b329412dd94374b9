/* What the /api route files share: the route table entry, the per-call state handed to every
 * handler, and the helpers that fill the response. Private to api/. */
#ifndef KIBITKA_API_INTERNAL_H
#define KIBITKA_API_INTERNAL_H

#include <pthread.h>

#include "api/api.h"
#include "api/json.h"
#include "api/router.h"
#include "auth/login_limit.h"
#include "auth/pwpool.h"
#include "auth/room_token.h"
#include "auth/secret.h"

/* Sessions last a week. Failed logins are limited by auth/login_limit.h. At most
 * API_LOGIN_QUEUE logins wait for the password pool; more are answered 503 + Retry-After. */
#define API_SESSION_US (7 * 24 * 3600 * 1000000LL)
#define API_LOGIN_QUEUE 16

/* Signed URLs of the recordings' playlist and chunks (recording_routes.c): HMAC-SHA256 under a
 * key drawn at api_create, so they stop working at a restart and on other nodes. */
#define API_URL_KEY_LEN 32
#define API_LINK_LIFETIME_S (6 * 3600) /* plus the recording's duration; --link-lifetime */

/* The logins' figures (auth_routes.c), registered by api_set_metrics. */
struct api_metrics {
    atomic_int_fast64_t *logins_pending;            /* gauge: waiting for or in the pool */
    atomic_int_fast64_t *logins_refused_total;      /* counter: 503, the pool's queue was full */
    atomic_int_fast64_t *logins_rate_limited_total; /* counter: 429, not checked */
    atomic_int_fast64_t *logins_failed_total;       /* counter: wrong username or password */
};

struct api {
    struct db *db;
    struct hub_registry *hubs;
    struct hls_server *hls; /* for viewer counts; may be NULL */
    struct storage *store;  /* recordings' objects; may be NULL */
    /* told of a deleted recording; may be NULL */
    api_recording_deleted_fn on_deleted;
    void *on_deleted_opaque;
    unsigned char url_key[API_URL_KEY_LEN];
    int64_t link_lifetime_s; /* signed links work this long plus the recording's duration */
    struct login_limit *logins;
    struct pwpool *pwpool;   /* argon2id work: login verifies */
    struct api_metrics mx;   /* NULL handles without a registry */
    struct metrics *metrics; /* the registry (GET /api/server reads it); may be NULL */
    int64_t started_wall_us, started_mono_us; /* api_create: the server's start */
    /* Voice rooms (room_routes.c): the SFU's live side (NULL: none) and the join tokens' key,
     * read from the database at api_create or, if that failed, at the first use. */
    const struct api_room_ops *room_ops;
    void *room_ops_opaque;
    int ws_port; /* --ws, for GET /api/config; 0: no signaling */
    pthread_mutex_t room_key_lock;
    bool room_key_loaded; /* under room_key_lock */
    unsigned char room_key[ROOM_TOKEN_KEY_LEN];
    struct thumbs *thumbs; /* thumbnails (thumb_routes.c); NULL: none */
};

/* Bumps a /metrics counter when the api has them. */
#define API_METRIC_ADD(api, field, n)                                                              \
    do {                                                                                           \
        metrics_add((api)->mx.field, (n));                                                         \
    } while (0)

enum api_access {
    API_PUBLIC, /* no token */
    API_USER,   /* any valid token */
    API_ADMIN,  /* a token of an admin; a user gets 403 */
    API_SIGNED, /* a token, or a URL signed by this server for this path (?expires=&sig=) */
};

struct api_call {
    struct api *api;
    const struct api_request *req;
    struct api_response *resp;
    struct router_params params;
    json_t *body;        /* the checked body (an object, {} when empty); borrowed */
    struct db_user user; /* the caller, for API_USER and API_ADMIN routes */
    bool url_signed;     /* API_SIGNED: the URL's signature let it in (user is empty) */
    char token_hash[SECRET_HASH_LEN + 1];
    bool pending; /* the handler handed the call on (api_handle then returns API_PENDING) */
};

typedef void (*api_handler_fn)(struct api_call *c);

/* How openapi.c describes a JSON value: a member of a response body, or a path or query
 * parameter. type is a JSON Schema type ("string", "integer", "number", "boolean", "object": any
 * object) or the name of an entry of api_schemas, which the document then refers to (or, when
 * nullable, copies). The rest is what a client may rely on: every member is present unless
 * API_OPTIONAL, and never null unless API_NULLABLE. */
enum { API_OPTIONAL = 1, API_NULLABLE = 2, API_ARRAY = 4 /* an array of type */ };

struct api_prop {
    const char *name;
    const char *type;
    unsigned flags;
    const char *format;  /* "date-time", "uri-reference"... or NULL */
    const char *pattern; /* an ECMA 262 regular expression the value matches, or NULL */
    const char *enums;   /* the only values, comma-separated ("user,admin"), or NULL */
    long long min, max;  /* bounds: both when max > min, else a minimum when min != 0 */
    const char *description;
};

/* A JSON object body: the members of base (another entry's name, or NULL) and then props; no
 * others (additionalProperties: false), so a renamed or added member fails the e2e check. */
struct api_schema {
    const char *name;
    const char *base;
    const struct api_prop *props;
    size_t nprops;
    const char *description;
};

struct api_route {
    struct router_route r; /* first: the router walks the table by it */
    api_handler_fn fn;
    enum api_access access;
    unsigned status; /* on success */
    const char *summary;
    const struct json_field *body; /* the accepted request fields (none: only {} or empty) */
    size_t nbody;
    const char *query; /* the optional query arguments it reads, comma-separated, or NULL */
    /* The success body: an entry of api_schemas, or a media type ("video/mp4") for a body that
     * is not JSON; NULL for none (204). */
    const char *result;
    /* The statuses it may answer beyond its success status and those openapi.c gives every
     * route of its kind (400, 413; 401 unless public; 403 for admin and signed routes; 500 and
     * 503 when it needs the database), space-separated: "206 302 404 416". */
    const char *statuses;
};

extern const struct api_route api_routes[];
extern const size_t api_nroutes;
/* The response bodies' schemas and the parameters (path and query) by name: routes.c. */
extern const struct api_schema api_schemas[];
extern const size_t api_nschemas;
extern const struct api_prop api_params[];
extern const size_t api_nparams;
/* False for the routes that answer without a database (/api/live, /api/openapi.json). */
bool api_route_needs_db(const struct api_route *r);

/* Response helpers: api_ok takes the reference to body. */
void api_ok(struct api_call *c, unsigned status, json_t *body);
void api_fail(struct api_call *c, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Maps a db error (-ENOENT, -EEXIST, -EBUSY, -EIO...) to a response; what names the object. */
void api_fail_db(struct api_call *c, int err, const char *what);
/* True for [a-z0-9_-]{1,64}. */
bool api_name_valid(const char *name);
/* {"name","role","created_at"} */
json_t *api_user_json(const struct db_user *u);
/* 400 naming field unless password has 8 to 1024 characters. */
bool api_password_ok(struct api_call *c, const char *password, const char *field);
/* Bearer check for API_USER/API_ADMIN routes: fills c->user and c->token_hash, or answers 401
 * and returns false. */
bool api_authenticate(struct api_call *c);

/* Handlers, by file. */
void api_auth_login(struct api_call *c); /* auth_routes.c */
void api_auth_logout(struct api_call *c);
void api_me_get(struct api_call *c);
void api_me_patch(struct api_call *c);
void api_users_list(struct api_call *c); /* user_routes.c */
void api_users_create(struct api_call *c);
void api_user_get(struct api_call *c);
void api_user_patch(struct api_call *c);
void api_user_delete(struct api_call *c);
void api_streams_list(struct api_call *c); /* stream_routes.c */
void api_streams_create(struct api_call *c);
void api_stream_get(struct api_call *c);
void api_stream_delete(struct api_call *c);
void api_stream_patch(struct api_call *c);
void api_stream_rotate_key(struct api_call *c);
void api_live_list(struct api_call *c);
void api_stream_thumbnail(struct api_call *c);
/* Ends the live publishes of a stream (stream_id) or of a user's streams (user_id) on this node,
 * through the hub registry; why goes to the logs (a string literal). */
void api_end_live(struct api_call *c, const char *stream_id, const char *user_id, const char *why);
void api_recordings_list(struct api_call *c); /* recording_routes.c */
void api_recording_get(struct api_call *c);
void api_recording_delete(struct api_call *c);
void api_recording_patch(struct api_call *c);
void api_stream_last_recording(struct api_call *c);
void api_recording_chunk(struct api_call *c);
void api_recording_playlist(struct api_call *c);
/* Signed URLs (recording_media.c). api_url_query writes "expires=E&sig=HEX" for path, valid
 * until expires (unix seconds); api_url_expiry is when the URLs handed out now for recording r
 * expire (--link-lifetime plus its duration, at most its wall-clock span; r NULL: no duration);
 * api_url_signature_check checks the request's own ?expires=&sig=
 * against its path: 0 when valid, -ENOENT when the query has neither, -EKEYEXPIRED when this
 * server signed it but it has expired, -EBADMSG when it is malformed or the signature does not
 * match (tampered, another path, or signed before a restart). */
#define API_URL_QUERY_MAX 96
void api_url_query(const struct api *api, const char *path, int64_t expires,
                   char out[API_URL_QUERY_MAX]);
struct db_recording;
int64_t api_url_expiry(const struct api *api, const struct db_recording *r);
int api_url_signature_check(struct api_call *c);
/* The recording {id} of the path if the caller may see it (owner, admin, or a signed URL),
 * else false after a 404 exactly like a missing one. Clear *r after true. */
bool api_recording_visible(struct api_call *c, struct db_recording *r);
void api_rooms_list(struct api_call *c); /* room_routes.c */
void api_rooms_create(struct api_call *c);
void api_rooms_public(struct api_call *c);
void api_room_get(struct api_call *c);
void api_room_delete(struct api_call *c);
void api_room_token(struct api_call *c);
void api_room_kick(struct api_call *c);
void api_room_mute(struct api_call *c);
/* The join tokens' key (loaded from the database once): 0, or a db error. */
int api_room_key(struct api *api, unsigned char key[ROOM_TOKEN_KEY_LEN]);
void api_openapi(struct api_call *c);       /* openapi.c */
void api_server_status(struct api_call *c); /* server_routes.c */
void api_config(struct api_call *c);        /* server_routes.c */
/* The OpenAPI 3 document for the route table (a new reference). */
json_t *api_openapi_document(void);

#endif
