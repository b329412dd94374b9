/* /api dispatch: route, parse and check the body, authenticate, call the handler. */
#include "api/api.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "api/internal.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "packager/thumb.h"

struct api *api_create(struct db *db, struct hub_registry *hubs, struct hls_server *hls,
                       struct storage *store, api_recording_deleted_fn on_deleted, void *opaque,
                       double link_lifetime_s)
{
    struct api *api = xcalloc(1, sizeof(*api));
    api->db = db;
    api->hubs = hubs;
    api->hls = hls;
    api->store = store;
    api->on_deleted = on_deleted;
    api->on_deleted_opaque = opaque;
    api->started_wall_us = clock_wall_us();
    api->started_mono_us = clock_mono_us();
    api->link_lifetime_s = link_lifetime_s > 0 ? (int64_t)link_lifetime_s : API_LINK_LIFETIME_S;
    if (getrandom(api->url_key, sizeof(api->url_key), 0) != (ssize_t)sizeof(api->url_key))
        abort(); /* no randomness for the URL key: nothing safe to fall back to */
    pthread_mutex_init(&api->room_key_lock, NULL);
    if (db) { /* the rooms' token key is made here at the first start; a failure retries later */
        unsigned char key[ROOM_TOKEN_KEY_LEN];
        api_room_key(api, key);
    }
    api->logins = login_limit_create();
    api->pwpool = pwpool_create(pwpool_default_threads(), API_LOGIN_QUEUE);
    return api;
}

void api_stop(struct api *api)
{
    pwpool_stop(api->pwpool);
    thumbs_stop(api->thumbs); /* answers the waiting thumbnail requests */
}

void api_set_thumbs(struct api *api, struct thumbs *thumbs)
{
    api->thumbs = thumbs;
}

void api_set_metrics(struct api *api, struct metrics *metrics)
{
    struct api_metrics *mx = &api->mx;
    api->metrics = metrics;
    mx->logins_pending =
        metrics_gauge(metrics, "kibitka_logins_pending",
                      "Logins (and password changes) waiting for the password pool or in it now.");
    mx->logins_refused_total = metrics_counter(
        metrics, "kibitka_logins_refused_total",
        "Logins (and password changes) answered 503: the password pool's queue was full.");
    mx->logins_rate_limited_total = metrics_counter(
        metrics, "kibitka_logins_rate_limited_total",
        "Logins answered 429 without a check (too many failures; auth/login_limit.h).");
    mx->logins_failed_total = metrics_counter(metrics, "kibitka_logins_failed_total",
                                              "Logins with a wrong username or password.");
}

void api_set_room_ops(struct api *api, const struct api_room_ops *ops, void *opaque)
{
    api->room_ops = ops;
    api->room_ops_opaque = opaque;
}

void api_set_ws_port(struct api *api, int port)
{
    api->ws_port = port;
}

void api_destroy(struct api **papi)
{
    struct api *api = *papi;
    if (!api)
        return;
    /* First: the logins still queued are answered (503) and the running ones finish, while
     * everything they use is still here. */
    pwpool_destroy(&api->pwpool);
    login_limit_destroy(&api->logins);
    pthread_mutex_destroy(&api->room_key_lock);
    free(api);
    *papi = NULL;
}

static void free_payload(struct api_response *resp)
{
    json_decref(resp->body);
    resp->body = NULL;
    free(resp->text);
    free(resp->location);
    free(resp->etag);
    free(resp->link);
    resp->text = resp->location = resp->etag = resp->link = NULL;
    blob_unrefp(&resp->blob);
    if (resp->has_file && resp->file_fd >= 0)
        close(resp->file_fd);
    resp->has_file = false;
    resp->content_type = NULL;
}

void api_response_clear(struct api_response *resp)
{
    free_payload(resp);
    memset(resp, 0, sizeof(*resp));
}

void api_response_error(struct api_response *resp, unsigned status, const char *code,
                        const char *message)
{
    free_payload(resp);
    resp->partial = false;
    resp->cache_control = NULL;
    resp->status = status;
    resp->body = json_error_body(code, message);
}

void api_ok(struct api_call *c, unsigned status, json_t *body)
{
    json_decref(c->resp->body);
    c->resp->status = status;
    c->resp->body = body;
}

void api_fail(struct api_call *c, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    api_response_error(c->resp, status, code, msg);
}

void api_fail_db(struct api_call *c, int err, const char *what)
{
    if (err == -ENOENT)
        api_fail(c, 404, "not_found", "no such %s", what);
    else if (err == -EEXIST)
        api_fail(c, 409, "conflict", "that %s already exists", what);
    else if (err == -EBUSY)
        api_fail(c, 503, "unavailable", "the database is busy; try again");
    else if (err == -ENOSPC)
        api_fail(c, 503, "unavailable", "the database's disk is full; try again once it has room");
    else
        api_fail(c, 500, "internal", "database error");
}

bool api_name_valid(const char *name)
{
    return name && hub_name_valid(name);
}

json_t *api_user_json(const struct db_user *u)
{
    return json_pack("{s:s,s:s,s:o}", "name", u->name, "role", db_role_name(u->role), "created_at",
                     json_time(u->created_at));
}

bool api_authenticate(struct api_call *c)
{
    const char *h = c->req->authorization;
    const char *token = NULL;
    if (h && !strncasecmp(h, "Bearer ", 7)) {
        token = h + 7;
        while (*token == ' ')
            token++;
    }
    c->resp->www_authenticate = true;
    if (!token || !*token) {
        api_fail(c, 401, "unauthorized", "an Authorization: Bearer token is required");
        return false;
    }
    secret_hash(token, c->token_hash);
    int err = db_session_user(c->api->db, c->token_hash, clock_wall_us(), &c->user);
    if (err == -ENOENT) {
        api_fail(c, 401, "unauthorized", "the token is invalid or has expired");
        return false;
    }
    c->resp->www_authenticate = false;
    if (err < 0) {
        api_fail_db(c, err, "session");
        return false;
    }
    return true;
}

bool api_route_needs_db(const struct api_route *r)
{
    return r->fn != api_live_list && r->fn != api_openapi && r->fn != api_config;
}

/* A signed route: a valid ?expires=&sig= lets the call in (c->url_signed). A link that is not
 * valid is a 403 saying why, not the 401 asking for a token that its holder (a player) cannot
 * send; unless the request also carries a token, which then decides. */
static bool signed_ok(struct api_call *c)
{
    int err = api_url_signature_check(c);
    c->url_signed = err == 0;
    if (err == 0 || err == -ENOENT || c->req->authorization)
        return true;
    if (err == -EKEYEXPIRED)
        api_fail(c, 403, "link_expired", "this link has expired");
    else
        api_fail(c, 403, "link_invalid",
                 "this link's signature is not valid (links stop working when the server "
                 "restarts)");
    return false;
}

static void dispatch(struct api_call *c)
{
    const struct api_request *req = c->req;
    size_t i;
    char allow[ROUTER_ALLOW_MAX];
    switch (router_match(api_routes, api_nroutes, sizeof(api_routes[0]), req->method, req->path, &i,
                         &c->params, allow)) {
    case ROUTER_NOT_FOUND:
        api_fail(c, 404, "not_found", "no such route");
        return;
    case ROUTER_BAD_METHOD:
        snprintf(c->resp->allow, sizeof(c->resp->allow), "%s", allow);
        api_fail(c, 405, "method_not_allowed", "allowed here: %s", allow);
        return;
    case ROUTER_FOUND:
        break;
    }
    const struct api_route *route = &api_routes[i];
    if (!c->api->db && api_route_needs_db(route)) {
        api_fail(c, 503, "unavailable", "no database configured");
        return;
    }
    /* Authenticate before looking at the body: a caller without a token learns nothing about
     * what a route accepts. */
    if (route->access == API_SIGNED && !signed_ok(c))
        return;
    if (!c->url_signed && route->access != API_PUBLIC && !api_authenticate(c))
        return;
    if (route->access == API_ADMIN && c->user.role != DB_ROLE_ADMIN) {
        api_fail(c, 403, "forbidden", "only admins may do this");
        return;
    }
    struct json_error je;
    if (json_body_parse(req->body, req->body_len, route->body, route->nbody, &c->body, &je) < 0) {
        api_fail(c, 400, je.code, "%s", je.message);
        return;
    }
    c->resp->status = route->status;
    route->fn(c);
}

/* A caller without a done callback waits here for a call handed on to the password pool. */
struct sync_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
};

static void sync_done(void *ctx)
{
    struct sync_wait *w = ctx;
    pthread_mutex_lock(&w->lock);
    w->done = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

int api_handle(struct api *api, const struct api_request *req, struct api_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    struct sync_wait w = {.done = false};
    struct api_request own;
    bool sync = !req->done;
    if (sync) {
        pthread_mutex_init(&w.lock, NULL);
        pthread_cond_init(&w.cond, NULL);
        own = *req;
        own.done = sync_done;
        own.done_ctx = &w;
        req = &own;
    }
    struct api_call c = {.api = api, .req = req, .resp = resp};
    dispatch(&c);
    json_decref(c.body);
    db_user_clear(&c.user);
    if (!sync)
        return c.pending ? API_PENDING : 0;
    pthread_mutex_lock(&w.lock);
    while (c.pending && !w.done)
        pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.lock);
    return 0;
}
