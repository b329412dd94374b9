/* What the /api route files share: the route table entry, the per-call state handed to every
 * handler, and the helpers that fill the response. Private to api/. */
#ifndef KIBITKA_API_INTERNAL_H
#define KIBITKA_API_INTERNAL_H

#include "api/api.h"
#include "api/json.h"
#include "api/router.h"
#include "auth/ratelimit.h"
#include "auth/secret.h"

/* Sessions last a week; 10 failed logins in 10 minutes from one address or for one username
 * block further tries until the window ends. */
#define API_SESSION_US (7 * 24 * 3600 * 1000000LL)
#define API_LOGIN_FAILURES 10
#define API_LOGIN_WINDOW_US (600 * 1000000LL)

struct api {
    struct db *db;
    struct hub_registry *hubs;
    struct hls_server *hls; /* for viewer counts; may be NULL */
    struct ratelimit *fail_by_addr;
    struct ratelimit *fail_by_user;
};

enum api_access {
    API_PUBLIC, /* no token */
    API_USER,   /* any valid token */
    API_ADMIN,  /* a token of an admin; a user gets 403 */
};

struct api_call {
    struct api *api;
    const struct api_request *req;
    struct api_response *resp;
    struct router_params params;
    json_t *body;        /* the checked body (an object, {} when empty); borrowed */
    struct db_user user; /* the caller, for API_USER and API_ADMIN routes */
    char token_hash[SECRET_HASH_LEN + 1];
};

typedef void (*api_handler_fn)(struct api_call *c);

struct api_route {
    struct router_route r; /* first: the router walks the table by it */
    api_handler_fn fn;
    enum api_access access;
    unsigned status; /* on success */
    const char *summary;
    const struct json_field *body; /* the accepted request fields (none: only {} or empty) */
    size_t nbody;
    const char *query; /* the one optional query argument it reads, or NULL */
};

extern const struct api_route api_routes[];
extern const size_t api_nroutes;

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
void api_stream_rotate_key(struct api_call *c);
void api_live_list(struct api_call *c);
void api_openapi(struct api_call *c); /* openapi.c */
/* The OpenAPI 3 document for the route table (a new reference). */
json_t *api_openapi_document(void);

#endif
