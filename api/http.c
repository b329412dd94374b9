#include "api/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api.h"
#include "api/http_limits.h"
#include "api/http_respond.h"
#include "api/metrics_text.h"
#include "api/web.h"
#include "auth/password.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/net.h"

struct http_server {
    /* One reference is the owner's, one each registered packager wait's: a wake-up may come
     * after http_server_destroy (from hls_server_destroy), and must still find the lock. */
    atomic_int refs;
    struct MHD_Daemon *daemon;
    struct http_server_config cfg;
    char *cors_origin;
    int port;
    atomic_bool ready;
    struct api *api;
    struct web *web; /* the pages (api/web.h) */
    /* Guards `stopped` and every request's `alive`: a packager wake-up must not resume a
     * connection MHD has already closed. */
    pthread_mutex_t lock;
    bool stopped;
    /* Connection limits, and the thread that closes connections past their request deadline
     * (http_limits_sweep); sweep_lock and sweep_cond only stop it. */
    struct http_limits *limits;
    pthread_t sweeper;
    bool sweeper_started, sweep_stop;
    pthread_mutex_t sweep_lock;
    pthread_cond_t sweep_cond;
    struct {
        atomic_int_fast64_t *refused, *hls_requests, *hls_bytes_out, *connections_max;
    } mx;
};

/* The HTTP server's own /metrics figures (the connection limits register theirs). */
static void register_metrics(struct http_server *srv, struct metrics *m)
{
    srv->mx.refused =
        metrics_counter(m, "kibitka_http_refused_total",
                        "HTTP requests refused before routing: %00, too many query arguments, "
                        "Transfer-Encoding with Content-Length or Content-Lengths that differ.");
    srv->mx.hls_requests =
        metrics_counter(m, "kibitka_hls_requests_total", "HTTP requests under /hls.");
    srv->mx.hls_bytes_out =
        metrics_counter(m, "kibitka_hls_bytes_out_total", "Body bytes sent for /hls requests.");
    srv->mx.connections_max = metrics_gauge(
        m, "kibitka_http_connections_max",
        "HTTP connections open at once (--http-max-connections, or the descriptor limit's "
        "share); more wait in the listen queue.");
}

/* One per HTTP request, from the first call of the access handler. One reference belongs to MHD
 * (dropped when the request completes), one to a registered packager wait (dropped in wake). */
struct request {
    atomic_int refs;
    struct http_server *srv;
    struct MHD_Connection *conn;
    struct http_conn *hc; /* the connection's record in srv->limits (NULL: none) */
    bool alive;           /* under srv->lock */
    int64_t wait_started_us;
    struct buf body; /* /api request body, at most API_BODY_MAX bytes */
    bool answered;   /* a response was queued early (413) */
    bool too_large;  /* the body grew past API_BODY_MAX: discarding it, then 413 */
    bool seen;       /* the access handler was called once (the headers are in) */
    bool received;   /* the whole request is in (headers and body): no deadline any more */
    /* Found on the access handler's first call; NULL: no route (404). */
    const struct http_route *route;
    /* Set by uri_seen when the request target is refused: answered with bad_status and the
     * connection closed, before any route sees it. */
    unsigned bad_status;
    const char *bad_reason;
    /* An /api call that finishes on another thread (a login on the password pool): its answer,
     * and under srv->lock whether it is in and whether the connection waits for it. */
    struct api_response api_resp;
    bool api_done, api_suspended;
};

/* More query arguments than any route reads. MHD stores each in the connection's 32 KiB memory
 * pool, and at about 460 the pool ran out: MHD could not even build its own 431, and the client
 * waited 30 s for the connection timeout. */
#define MAX_QUERY_ARGS 64

static void request_unref(struct request *r)
{
    if (atomic_fetch_sub(&r->refs, 1) == 1) {
        api_response_clear(&r->api_resp);
        buf_free(&r->body);
        free(r);
    }
}

static void server_unref(struct http_server *srv)
{
    if (atomic_fetch_sub(&srv->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&srv->lock);
    api_destroy(&srv->api);
    free(srv->cors_origin);
    free(srv);
}

static void wake(void *arg)
{
    struct request *r = arg;
    struct http_server *srv = r->srv;
    pthread_mutex_lock(&srv->lock);
    if (r->alive && !srv->stopped)
        MHD_resume_connection(r->conn);
    pthread_mutex_unlock(&srv->lock);
    request_unref(r);
    server_unref(srv);
}

static struct request *request_new(struct http_server *srv, struct MHD_Connection *conn)
{
    struct request *r = xcalloc(1, sizeof(*r));
    atomic_init(&r->refs, 1);
    r->srv = srv;
    r->conn = conn;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    r->hc = ci ? ci->socket_context : NULL;
    r->alive = true;
    buf_init(&r->body);
    return r;
}

/* "%00" (or %00 in any case) in the target: MHD decodes it to a NUL, and everything after it
 * was silently cut off (media.m3u8%00.txt served media.m3u8). */
static bool has_escaped_nul(const char *s)
{
    for (const char *p = strchr(s, '%'); p; p = strchr(p + 1, '%'))
        if (p[1] == '0' && p[2] == '0')
            return true;
    return false;
}

/* MHD_OPTION_URI_LOG_CALLBACK: MHD calls it with the raw request target before it decodes the
 * path and parses the query, so this is where the target is checked. Its return value is the
 * request's context (*req_cls in the handler). A query with too many arguments is cut off here,
 * in MHD's own buffer (the pointer is const in the API but points into the connection's read
 * buffer; libmicrohttpd 0.9.75 parses the arguments from just after the '?' once we return), so
 * MHD does not parse them into its pool: the request is answered 414 instead. */
static void *uri_seen(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct request *r = request_new(cls, conn);
    char *query = strchr(uri, '?');
    if (has_escaped_nul(uri)) {
        r->bad_status = MHD_HTTP_BAD_REQUEST;
        r->bad_reason = "the request target holds an escaped NUL (%00)";
    }
    int args = query && query[1] ? 1 : 0;
    for (const char *p = query; p && (p = strchr(p + 1, '&'));)
        args++;
    if (args > MAX_QUERY_ARGS) {
        r->bad_status = MHD_HTTP_URI_TOO_LONG;
        r->bad_reason = "too many query arguments";
        query[1] = '\0'; /* MHD found the '?' before calling us: parse nothing after it */
    }
    return r;
}

/* Request smuggling: with both Transfer-Encoding and Content-Length, or two Content-Lengths
 * that differ, a proxy in front and this server may see different bodies, and what one takes
 * for body the other takes for a second request. RFC 9112 6.3 lets a server refuse both. */
struct framing {
    int te, cl;
    const char *first_cl;
    bool cl_differ;
};

static enum MHD_Result framing_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    struct framing *f = cls;
    if (!strcasecmp(key, "Transfer-Encoding"))
        f->te++;
    if (!strcasecmp(key, "Content-Length")) {
        if (f->cl++ == 0)
            f->first_cl = value;
        else if (strcmp(value ? value : "", f->first_cl ? f->first_cl : ""))
            f->cl_differ = true;
    }
    return MHD_YES;
}

static const char *bad_framing(struct MHD_Connection *conn)
{
    struct framing f = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, framing_header, &f);
    if (f.te && f.cl)
        return "both Transfer-Encoding and Content-Length";
    if (f.cl_differ)
        return "Content-Length headers that differ";
    return NULL;
}

/* Refuses the request and closes the connection after the answer: what follows on it cannot
 * be trusted to start a request. */
static enum MHD_Result refuse(struct request *r, unsigned status, const char *why)
{
    r->answered = true;
    metrics_add(r->srv->mx.refused, 1);
    return http_send_refusal(r->conn, status, why);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct http_server *srv = cls;
    struct request *r = *req_cls;
    if (!r)
        return;
    pthread_mutex_lock(&srv->lock);
    r->alive = false;
    pthread_mutex_unlock(&srv->lock);
    /* Answered (or the connection is going): a kept-alive connection now waits for its next
     * request, with a new deadline. */
    http_limits_request_done(srv->limits, r->hc, clock_mono_us());
    request_unref(r);
    *req_cls = NULL;
}

/* MHD's accept policy: the per-address cap (MHD has applied its own cap on connections). */
static enum MHD_Result admit(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct http_server *srv = cls;
    (void)addrlen;
    return http_limits_admit(srv->limits, addr) ? MHD_YES : MHD_NO;
}

/* MHD_OPTION_NOTIFY_CONNECTION: a connection's record in the limits lives from MHD's set-up of
 * the connection to its clean-up, which comes before MHD closes the socket. */
static void connection_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    struct http_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        http_limits_close(srv->limits, *socket_context);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *peer =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    *socket_context = fd ? http_limits_open(srv->limits, fd->connect_fd,
                                            peer ? peer->client_addr : NULL, clock_mono_us())
                         : NULL;
}

/* Closes, a few times per timeout, the connections that have not sent a whole request in time. */
static void *sweeper(void *arg)
{
    struct http_server *srv = arg;
    int64_t period_us = (int64_t)(srv->cfg.request_timeout_s * 1e6 / 4);
    period_us = period_us < 50000 ? 50000 : period_us > 500000 ? 500000 : period_us;
    pthread_mutex_lock(&srv->sweep_lock);
    while (!srv->sweep_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + period_us * 1000;
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&srv->sweep_cond, &srv->sweep_lock, &ts);
        if (srv->sweep_stop)
            break;
        pthread_mutex_unlock(&srv->sweep_lock);
        http_limits_sweep(srv->limits, clock_mono_us());
        pthread_mutex_lock(&srv->sweep_lock);
    }
    pthread_mutex_unlock(&srv->sweep_lock);
    return NULL;
}

static void sweeper_stop(struct http_server *srv)
{
    if (!srv->sweeper_started)
        return;
    pthread_mutex_lock(&srv->sweep_lock);
    srv->sweep_stop = true;
    pthread_cond_signal(&srv->sweep_cond);
    pthread_mutex_unlock(&srv->sweep_lock);
    pthread_join(srv->sweeper, NULL);
    srv->sweeper_started = false;
}

/* The X-Forwarded-For and Forwarded lines of a request, in order (the last MAX_FWD_LINES of
 * each: only the rightmost entries are ever read). Pointers into MHD's copy of the headers. */
#define MAX_FWD_LINES 8
struct fwd_lines {
    const char *xff[MAX_FWD_LINES], *fwd[MAX_FWD_LINES];
    int nxff, nfwd;
};

static void keep_line(const char **v, int *n, const char *line)
{
    if (*n == MAX_FWD_LINES) {
        memmove(v, v + 1, sizeof(*v) * (MAX_FWD_LINES - 1));
        (*n)--;
    }
    v[(*n)++] = line;
}

static enum MHD_Result fwd_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    struct fwd_lines *f = cls;
    (void)kind;
    if (value && !strcasecmp(key, "X-Forwarded-For"))
        keep_line(f->xff, &f->nxff, value);
    else if (value && !strcasecmp(key, "Forwarded"))
        keep_line(f->fwd, &f->nfwd, value);
    return MHD_YES;
}

/* The client's IP address as text (no port), or "" when MHD cannot tell: the peer's, or behind
 * a --trusted-proxy the one the proxy's headers give (core/proxy.h). */
static void client_address(struct http_server *srv, struct MHD_Connection *conn, char *out,
                           size_t outlen)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    const struct proxy_trust *t = srv->cfg.trusted_proxies;
    struct fwd_lines f = {.nxff = 0};
    if (t && t->n > 0 && proxy_trusted(t, ci->client_addr))
        MHD_get_connection_values(conn, MHD_HEADER_KIND, fwd_header, &f);
    struct proxy_headers h = {f.xff, f.nxff, f.fwd, f.nfwd};
    proxy_client_str(t, ci->client_addr, &h, out, outlen);
}

static enum MHD_Result serve_hls(struct http_server *srv, struct MHD_Connection *conn,
                                 struct request *r, const char *path)
{
    char client[INET6_ADDRSTRLEN] = "";
    client_address(srv, conn, client, sizeof(client));
    struct hls_request hq = {
        .path = path,
        .client = client[0] ? client : NULL,
        .hls_msn = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "_HLS_msn"),
        .hls_part = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "_HLS_part"),
        .hls_skip = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "_HLS_skip"),
        .wait_started_us = r->wait_started_us,
    };
    struct hls_response hr;
    for (;;) {
        memset(&hr, 0, sizeof(hr));
        if (hls_handle(srv->cfg.hls, &hq, &hr) != HLS_BLOCK)
            break;
        if (r->wait_started_us == 0)
            hq.wait_started_us = r->wait_started_us = clock_mono_us();
        /* Suspend first, then register: a wake that comes at once finds the connection
         * suspended and resumes it, so no wake-up can be lost in between. */
        MHD_suspend_connection(conn);
        atomic_fetch_add(&r->refs, 1);
        atomic_fetch_add(&srv->refs, 1);
        if (hls_wait(srv->cfg.hls, &hq, wake, r) == 0)
            return MHD_YES;
        atomic_fetch_sub(&srv->refs, 1);
        atomic_fetch_sub(&r->refs, 1);
        MHD_resume_connection(conn);
        /* The part arrived between hls_handle and hls_wait: answer now. */
    }
    if (hr.status == 200 && hr.body) {
        metrics_add(srv->mx.hls_bytes_out, (int64_t)hr.body->len);
        return http_send_blob(conn, &hr, srv->cors_origin);
    }
    blob_unrefp(&hr.body);
    return http_send_status(conn, (unsigned)(hr.status ? hr.status : 500),
                            hr.error[0] ? hr.error : "error", srv->cors_origin);
}

static enum MHD_Result serve_metrics(struct http_server *srv, struct MHD_Connection *conn)
{
    struct buf out;
    buf_init(&out);
    metrics_text_write(&out, srv->cfg.metrics, srv->cfg.hubs, srv->cfg.hls);
    buf_append(&out, "", 1);
    enum MHD_Result ret = http_send_text(conn, MHD_HTTP_OK, "text/plain; version=0.0.4",
                                         (const char *)buf_head(&out), NULL);
    buf_free(&out);
    return ret;
}

/* 413 at once, without reading the rest of the body: MHD closes the connection after it. */
static enum MHD_Result api_too_large(struct request *r, struct MHD_Connection *conn)
{
    struct api_response ar = {0};
    char msg[64];
    snprintf(msg, sizeof(msg), "the body is larger than %d bytes", API_BODY_MAX);
    api_response_error(&ar, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large", msg);
    r->answered = true;
    enum MHD_Result ret = http_send_api(conn, &ar, NULL);
    api_response_clear(&ar);
    return ret;
}

static const char *query_arg(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result send_api_resp(struct http_server *srv, struct MHD_Connection *conn,
                                     struct request *r)
{
    enum MHD_Result ret = http_send_api(conn, &r->api_resp, srv->cors_origin);
    api_response_clear(&r->api_resp);
    r->answered = true;
    return ret;
}

/* The api finished a pending call (on a password pool thread, or at destroy). */
static void api_done(void *ctx)
{
    struct request *r = ctx;
    struct http_server *srv = r->srv;
    pthread_mutex_lock(&srv->lock);
    r->api_done = true;
    if (r->api_suspended && r->alive && !srv->stopped)
        MHD_resume_connection(r->conn);
    pthread_mutex_unlock(&srv->lock);
    request_unref(r);
}

/* Hands the collected request to fn (api_handle, or an external tree's handler) and sends its
 * answer now, or when its done callback comes. */
static enum MHD_Result serve_handler(struct http_server *srv, struct MHD_Connection *conn,
                                     struct request *r, const char *url, const char *method,
                                     api_external_fn fn, void *opaque)
{
    char client[INET6_ADDRSTRLEN];
    client_address(srv, conn, client, sizeof(client));
    if (!client[0])
        strcpy(client, "unknown"); /* the rate limits still need a key */
    struct api_request req = {
        .method = method,
        .path = url,
        .authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"),
        .client = client,
        .arg = query_arg,
        .arg_ctx = conn,
        .body = buf_size(&r->body) ? (const char *)buf_head(&r->body) : NULL,
        .body_len = buf_size(&r->body),
        .range = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Range"),
        .content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type"),
        .if_match = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-Match"),
        .forwarded_proto = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-Proto"),
    };
    atomic_fetch_add(&r->refs, 1); /* the done callback's */
    req.done = api_done;
    req.done_ctx = r;
    if (fn(opaque, &req, &r->api_resp) != API_PENDING) {
        atomic_fetch_sub(&r->refs, 1);
        return send_api_resp(srv, conn, r);
    }
    /* Suspend unless the answer is in already; api_done resumes under the same lock. */
    pthread_mutex_lock(&srv->lock);
    bool wait = !r->api_done;
    if (wait) {
        r->api_suspended = true;
        MHD_suspend_connection(conn);
    }
    pthread_mutex_unlock(&srv->lock);
    return wait ? MHD_YES : send_api_resp(srv, conn, r);
}

static int call_api(void *opaque, const struct api_request *req, struct api_response *resp)
{
    return api_handle(opaque, req, resp);
}

static enum MHD_Result serve_api(struct http_server *srv, struct MHD_Connection *conn,
                                 struct request *r, const char *url, const char *method)
{
    return serve_handler(srv, conn, r, url, method, call_api, srv->api);
}

static enum MHD_Result serve_whip(struct http_server *srv, struct MHD_Connection *conn,
                                  struct request *r, const char *url, const char *method)
{
    if (!srv->cfg.whip)
        return http_send_status(conn, MHD_HTTP_NOT_FOUND, "WHIP is not enabled on this server",
                                NULL);
    return serve_handler(srv, conn, r, url, method, srv->cfg.whip, srv->cfg.whip_opaque);
}

/* CORS preflight for WHIP (RFC 9725 §4.2 lets a page on another origin publish). */
static enum MHD_Result whip_preflight(struct http_server *srv, struct MHD_Connection *conn,
                                      struct request *r, const char *url, const char *method)
{
    if (!srv->cfg.whip)
        return http_send_status(conn, MHD_HTTP_NOT_FOUND, "WHIP is not enabled on this server",
                                NULL);
    return http_send_whip_preflight(conn, srv->cors_origin);
}

/* Collects an /api body across calls, at most API_BODY_MAX bytes. A declared Content-Length
 * over the limit was refused on the first call; a chunked body that grows past it is discarded
 * as it arrives (memory stays bounded; libmicrohttpd 0.9.75 does not let a response be queued
 * in the middle of an upload) and answered 413 when it ends or the connection times out. */
static enum MHD_Result api_upload(struct request *r, const char *data, size_t *size)
{
    if (!r->too_large && buf_size(&r->body) + *size > API_BODY_MAX) {
        r->too_large = true;
        buf_free(&r->body);
    }
    if (!r->too_large)
        buf_append(&r->body, data, *size);
    *size = 0;
    return MHD_YES;
}

static bool declared_too_large(struct MHD_Connection *conn)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (!cl)
        return false;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    return errno == ERANGE || n > API_BODY_MAX;
}

/* ---- the routes ---- */

/* One entry of the server's route table: the first that matches a request's method and path
 * (router.h) serves it. api: the /api tree, which takes request bodies (API_BODY_MAX) and has
 * its own table in api.c. hls: counted in kibitka_hls_requests_total. */
struct http_route {
    struct router_route r;
    bool api, hls;
    enum MHD_Result (*serve)(struct http_server *srv, struct MHD_Connection *conn,
                             struct request *r, const char *url, const char *method);
};

static enum MHD_Result route_preflight(struct http_server *srv, struct MHD_Connection *conn,
                                       struct request *r, const char *url, const char *method)
{
    return http_send_preflight(conn, srv->cors_origin);
}

static enum MHD_Result route_hls(struct http_server *srv, struct MHD_Connection *conn,
                                 struct request *r, const char *url, const char *method)
{
    return serve_hls(srv, conn, r, url + strlen("/hls/"));
}

static enum MHD_Result route_hls_bad_method(struct http_server *srv, struct MHD_Connection *conn,
                                            struct request *r, const char *url, const char *method)
{
    return http_send_status(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
                            srv->cors_origin);
}

static enum MHD_Result route_bad_method(struct http_server *srv, struct MHD_Connection *conn,
                                        struct request *r, const char *url, const char *method)
{
    return http_send_status(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed", NULL);
}

static enum MHD_Result route_health(struct http_server *srv, struct MHD_Connection *conn,
                                    struct request *r, const char *url, const char *method)
{
    if (atomic_load(&srv->ready))
        return http_send_text(conn, MHD_HTTP_OK, "text/plain", "ok\n", NULL);
    return http_send_status(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready", NULL);
}

static enum MHD_Result route_metrics(struct http_server *srv, struct MHD_Connection *conn,
                                     struct request *r, const char *url, const char *method)
{
    return serve_metrics(srv, conn);
}

static enum MHD_Result route_web(struct http_server *srv, struct MHD_Connection *conn,
                                 struct request *r, const char *url, const char *method)
{
    return web_serve(srv->web, conn, url, method);
}

static const struct http_route routes[] = {
    /* The recordings' playlists and chunks are fetched by players on other origins (signed
     * URLs, with a Range header): the same preflight answer as /hls. */
    {{"OPTIONS", "/api/recordings/*"}, .api = true, .serve = route_preflight},
    {{"*", "/api/*"}, .api = true, .serve = serve_api}, /* 404 and 405 from api.c's table */
    {{"OPTIONS", "/hls/*"}, .hls = true, .serve = route_preflight},
    {{"GET", "/hls/*"}, .hls = true, .serve = route_hls},
    {{"*", "/hls/*"}, .hls = true, .serve = route_hls_bad_method},
    {{"OPTIONS", "/whip"}, .serve = whip_preflight},
    {{"OPTIONS", "/whip/*"}, .serve = whip_preflight},
    {{"*", "/whip"}, .api = true, .serve = serve_whip},
    {{"*", "/whip/*"}, .api = true, .serve = serve_whip},
    {{"GET", "/health"}, .serve = route_health},
    {{"GET", "/metrics"}, .serve = route_metrics},
    {{"*", "/health"}, .serve = route_bad_method},
    {{"*", "/metrics"}, .serve = route_bad_method},
    /* Last, so it never shadows the routes above: the pages and their assets, else 404. */
    {{"*", "/*"}, .serve = route_web},
};

static const struct http_route *route_find(const char *url, const char *method)
{
    size_t i;
    struct router_params params;
    char allow[ROUTER_ALLOW_MAX];
    if (router_match(routes, sizeof(routes) / sizeof(routes[0]), sizeof(routes[0]), method, url, &i,
                     &params, allow) != ROUTER_FOUND)
        return NULL; /* the "*" routes leave no 405 here */
    return &routes[i];
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    struct http_server *srv = cls;
    struct request *r = *req_cls;
    if (!r) /* uri_seen made it; this is only for a request MHD did not show it */
        *req_cls = r = request_new(srv, conn);
    if (!r->seen) {
        /* The first call only sees the headers. Answering before MHD has seen the (empty) body
         * makes it close the connection after the response ("Connection: close"), which cost
         * a TCP handshake per request: every player polls the playlist many times. */
        r->seen = true;
        r->route = route_find(url, method);
        const char *framing = bad_framing(conn);
        if (r->bad_status)
            return refuse(r, r->bad_status, r->bad_reason);
        if (framing)
            return refuse(r, MHD_HTTP_BAD_REQUEST, framing);
        /* A declared body over the limit is refused before any of it is read. */
        if (r->route && r->route->api && declared_too_large(conn))
            return api_too_large(r, conn);
        return MHD_YES;
    }
    if (*upload_data_size == 0 && !r->received) {
        r->received = true; /* the whole request is in: its deadline no longer applies */
        http_limits_request_in(srv->limits, r->hc);
    }
    const struct http_route *route = r->route;
    bool api = route && route->api;
    if (api && *upload_data_size > 0)
        return api_upload(r, upload_data, upload_data_size);
    if (r->answered)
        return MHD_YES;
    if (r->api_suspended) { /* resumed by api_done: the answer is in */
        r->api_suspended = false;
        return send_api_resp(srv, conn, r);
    }
    if (api && r->too_large)
        return api_too_large(r, conn);
    if (!api && *upload_data_size > 0) {
        *upload_data_size = 0; /* no other route takes a body yet; read and ignore it */
        return MHD_YES;
    }
    if (!route)
        return http_send_status(conn, MHD_HTTP_NOT_FOUND, "not found", NULL);
    if (route->hls && r->wait_started_us == 0)
        metrics_add(srv->mx.hls_requests, 1);
    return route->serve(srv, conn, r, url, method);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    /* Almost all of these are clients going away mid-response: debug, not warnings. Failures
     * that matter (a port in use) are logged by http_server_create in words of our own. */
    log_debug("http", NULL, "libmicrohttpd: %s", line);
}

struct http_server *http_server_create(const struct http_server_config *cfg)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    if (getsockname(cfg->listen_fd, (struct sockaddr *)&ss, &sslen) < 0) {
        log_error("http", NULL, "the HTTP listening socket is not usable: %s", strerror(errno));
        close(cfg->listen_fd);
        return NULL;
    }
    struct http_server *srv = xcalloc(1, sizeof(*srv));
    atomic_init(&srv->refs, 1);
    srv->cfg = *cfg;
    register_metrics(srv, cfg->metrics);
    srv->cors_origin = xstrdup(cfg->cors_origin);
    srv->port = net_local_port(cfg->listen_fd);
    pthread_mutex_init(&srv->lock, NULL);
    if (password_init() < 0)
        log_warn("http", NULL, "libsodium failed to initialise: logins will fail");
    srv->api = api_create(cfg->db, cfg->hubs, cfg->hls, cfg->store, cfg->on_recording_deleted,
                          cfg->recording_deleted_opaque, cfg->link_lifetime_s);
    api_set_metrics(srv->api, cfg->metrics);
    api_set_room_ops(srv->api, cfg->room_ops, cfg->room_ops_opaque);
    api_set_ws_port(srv->api, cfg->ws_port);
    api_set_thumbs(srv->api, cfg->thumbs);
    /* MHD_USE_TURBO: no shutdown() before close and fewer syscalls per request; playlist
     * polling is many small requests, where per-request cost is what counts. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct http_limits_config lc = {
        .max_per_address = cfg->max_connections_per_address,
        .request_timeout_s = cfg->request_timeout_s > 0 ? cfg->request_timeout_s : 10,
        .metrics = cfg->metrics,
    };
    srv->cfg.request_timeout_s = lc.request_timeout_s;
    srv->limits = http_limits_create(&lc);
    pthread_mutex_init(&srv->sweep_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->sweep_cond, &ca);
    pthread_condattr_destroy(&ca);
    /* At its connection cap MHD stops accepting: more connections wait in the listen queue
     * (SOMAXCONN long) until one closes, which a request deadline makes soon. */
    unsigned max_conns = cfg->max_connections > 0 ? (unsigned)cfg->max_connections : 4000;
    metrics_set(srv->mx.connections_max, (int64_t)max_conns);
    if (!(srv->web = web_create(cfg->web_dir, cfg->ws_port))) {
        http_server_destroy(&srv); /* --web-dir cannot be opened (logged) */
        return NULL;
    }
    srv->daemon = MHD_start_daemon(
        flags, 0, admit, srv, handle, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, cfg->listen_fd, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)cfg->threads, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_CONNECTION_LIMIT, max_conns, MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, connection_notify, srv, MHD_OPTION_URI_LOG_CALLBACK, uri_seen,
        srv, MHD_OPTION_END);
    if (srv->daemon && pthread_create(&srv->sweeper, NULL, sweeper, srv) == 0)
        srv->sweeper_started = true;
    if (!srv->sweeper_started) {
        /* The socket is bound already: what fails here is threads or epoll, not the port. */
        log_error("http", NULL, "cannot start the HTTP server's threads (see --http-threads)");
        http_server_destroy(&srv);
    }
    return srv;
}

int http_server_port(const struct http_server *srv)
{
    return srv->port;
}

void http_server_set_ready(struct http_server *srv, bool ready)
{
    atomic_store(&srv->ready, ready);
}

void http_server_destroy(struct http_server **psrv)
{
    struct http_server *srv = *psrv;
    if (!srv)
        return;
    /* First the logins on the password pool: each is answered (queued ones 503) and its
     * connection resumed while the daemon runs, since MHD_stop_daemon aborts the process when
     * a connection is still suspended. */
    api_stop(srv->api);
    pthread_mutex_lock(&srv->lock);
    srv->stopped = true;
    pthread_mutex_unlock(&srv->lock);
    sweeper_stop(srv);
    /* It closes every connection (none is left in the limits) and the listening socket; when
     * http_server_create failed to start it, the socket is closed here. */
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    else
        close(srv->cfg.listen_fd);
    http_limits_destroy(&srv->limits);
    web_destroy(&srv->web);
    pthread_cond_destroy(&srv->sweep_cond);
    pthread_mutex_destroy(&srv->sweep_lock);
    server_unref(srv);
    *psrv = NULL;
}
