/* The signaling server (signal.h): libwebsockets on its service thread: handshakes, frames in,
 * messages parsed and handed on as jobs, writes out, pings; and the life cycle. The connections
 * and the jobs that run on the loop thread are in signal_conn.c. */
#include "sfu/signal.h"

#include <errno.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/net.h"
#include "core/proxy.h"
#include "sfu/signal_priv.h"

static const char *const close_labels[CW_N] = {"rate_limit",  "too_large",     "ping_timeout",
                                               "slow_reader", "member_closed", "left"};

/* ---- the service thread ---- */

static bool take_token(struct signal_server *s, struct sconn *c, int64_t now)
{
    c->tokens += (double)(now - c->refill_us) / 1e6 * s->cfg.rate;
    if (c->tokens > s->cfg.burst)
        c->tokens = s->cfg.burst;
    c->refill_us = now;
    if (c->tokens < 1)
        return false;
    c->tokens -= 1;
    return true;
}

/* Closes from the service thread once what is queued is written. */
static void close_soon(struct sconn *c, int code, const char *reason, enum close_why why)
{
    c->closing = true;
    metrics_add(c->s->mx.closed[why], 1);
    signal_conn_send(c, NULL, 0, code, reason, true);
}

static void on_message(struct signal_server *s, struct sconn *c, const char *text, size_t len)
{
    metrics_add(s->mx.messages, 1);
    if (!take_token(s, c, clock_mono_us())) {
        char why[128];
        snprintf(why, sizeof(why), "more than %g messages a second: closing", s->cfg.rate);
        signal_send_error(c, "rate_limited", why, true);
        close_soon(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "rate limit", CW_RATE);
        return;
    }
    struct signal_msg m;
    const char *code;
    char why[256];
    if (signal_msg_parse(text, len, &m, &code, why, sizeof(why)) < 0) {
        signal_send_error(c, code, why, true);
        return;
    }
    enum job_kind kind = JOB_OFFER;
    switch (m.type) {
    case SIGNAL_PING:
        signal_msg_clear(&m);
        signal_conn_send(c, "{\"type\":\"pong\"}", 15, 0, NULL, true);
        return;
    case SIGNAL_JOIN: {
        int want = JOIN_NONE;
        if (!atomic_compare_exchange_strong(&c->join, &want, JOIN_PENDING)) {
            signal_msg_clear(&m);
            signal_send_error(c, "already_joined",
                              want == JOIN_PENDING ? "a join is under way" : "already in a room",
                              true);
            return;
        }
        /* The token goes to the access check only: the job keeps no copy. The check may
         * answer before it returns, and the job be run and freed on the loop thread: it is
         * given this thread's copies of the strings, never the job's. */
        struct signal_job *j = signal_job_new(c, JOB_JOIN);
        j->msg = m;
        memset(j->msg.token, 0, sizeof(j->msg.token));
        s->access(s->access_opaque, m.room, m.token, m.display, signal_access_done, j);
        memset(m.token, 0, sizeof(m.token));
        return;
    }
    case SIGNAL_OFFER:
        kind = JOB_OFFER;
        break;
    case SIGNAL_TRICKLE:
        kind = JOB_TRICKLE;
        break;
    case SIGNAL_MUTE:
        kind = JOB_MUTE;
        break;
    case SIGNAL_LEAVE:
        kind = JOB_LEAVE;
        break;
    }
    struct signal_job *j = signal_job_new(c, kind);
    j->msg = m;
    loop_post(s->loop, signal_run_job, j);
}

static int on_receive(struct signal_server *s, struct lws *wsi, struct sconn *c, const void *in,
                      size_t len)
{
    c->heard_us = clock_mono_us();
    if (c->closing)
        return 0;
    size_t rest = lws_remaining_packet_payload(wsi);
    if (buf_size(&c->rx) + len + rest > s->cfg.max_message) {
        metrics_add(s->mx.closed[CW_TOO_LARGE], 1);
        log_info("ws", NULL, "%s: a message over %zu bytes: closing", c->peer, s->cfg.max_message);
        char reason[64];
        snprintf(reason, sizeof(reason), "message over %zu bytes", s->cfg.max_message);
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)reason,
                         strlen(reason));
        return -1;
    }
    buf_append(&c->rx, in, len);
    if (rest || !lws_is_final_fragment(wsi))
        return 0;
    if (lws_frame_is_binary(wsi))
        signal_send_error(c, "bad_message", "messages are JSON text, not binary", true);
    else
        on_message(s, c, (const char *)buf_head(&c->rx), buf_size(&c->rx));
    if (c->rx.cap > 16384) { /* an offer's worth is not kept for the socket's life */
        buf_free(&c->rx);
        buf_init(&c->rx);
    }
    buf_clear(&c->rx);
    return 0;
}

static int on_writable(struct lws *wsi, struct sconn *c)
{
    struct signal_server *s = c->s;
    if (c->ping_due) {
        /* A payload of one byte: lws 4.1 does not report an empty pong (RECEIVE_PONG). */
        unsigned char ping[LWS_PRE + 1] = {[LWS_PRE] = 'k'};
        c->ping_due = false;
        if (lws_write(wsi, ping + LWS_PRE, 1, LWS_WRITE_PING) < 0)
            return -1;
        lws_callback_on_writable(wsi);
        return 0;
    }
    pthread_mutex_lock(&s->lock);
    struct out_msg *m = c->outq;
    if (m) {
        c->outq = m->next;
        if (!c->outq)
            c->outq_tail = &c->outq;
        c->queued -= m->len;
    }
    bool more = c->outq || c->close_code;
    int code = c->close_code;
    char reason[sizeof(c->close_reason)];
    memcpy(reason, c->close_reason, sizeof(reason));
    pthread_mutex_unlock(&s->lock);
    if (m) {
        int n = lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
        free(m);
        if (n < 0)
            return -1;
        if (more)
            lws_callback_on_writable(wsi);
        return 0;
    }
    if (code) {
        lws_close_reason(wsi, (enum lws_close_status)code, (unsigned char *)reason, strlen(reason));
        return -1;
    }
    return 0;
}

static int tick_us(const struct signal_server *s)
{
    int ms = s->cfg.ping_interval_ms / 2;
    return (ms > 1000 ? 1000 : ms < 10 ? 10 : ms) * 1000;
}

/* The ping timer: a silent socket gets a ping each ping_interval, and is closed when nothing
 * (a pong, a message) came for ping_timeout. */
static int on_timer(struct lws *wsi, struct sconn *c)
{
    struct signal_server *s = c->s;
    int64_t now = clock_mono_us(), silent = now - c->heard_us;
    if (silent >= (int64_t)s->cfg.ping_timeout_ms * 1000) {
        metrics_add(s->mx.closed[CW_PING], 1);
        log_info("ws", NULL, "%s: nothing heard for %d ms: closing", c->peer,
                 s->cfg.ping_timeout_ms);
        const char *r = "ping timeout";
        lws_close_reason(wsi, LWS_CLOSE_STATUS_GOINGAWAY, (unsigned char *)r, strlen(r));
        return -1;
    }
    if (silent >= (int64_t)s->cfg.ping_interval_ms * 1000 &&
        now - c->pinged_us >= (int64_t)s->cfg.ping_interval_ms * 1000) {
        c->pinged_us = now;
        c->ping_due = true;
        lws_callback_on_writable(wsi);
    }
    lws_set_timer_usecs(wsi, tick_us(s));
    return 0;
}

/* The client's address as text: the peer's, or behind a --trusted-proxy the one its
 * X-Forwarded-For (or Forwarded) gives (core/proxy.h). Called while the handshake's headers are
 * still held (the filter and the established callbacks). */
static void client_addr(struct signal_server *s, struct lws *wsi, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int fd = lws_get_socket_fd(wsi);
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) {
        out[0] = '\0';
        lws_get_peer_simple(wsi, out, outlen);
        return;
    }
    const struct proxy_trust *t = s->cfg.trusted_proxies;
    /* As large as the handshake's header buffer may hold; a longer one is not read. */
    char xff[4096], fwd[4096];
    const char *xv = xff, *fv = fwd;
    struct proxy_headers h = {NULL, 0, NULL, 0};
    if (t && t->n > 0 && proxy_trusted(t, (struct sockaddr *)&ss)) {
        if (lws_hdr_copy(wsi, xff, sizeof(xff), WSI_TOKEN_X_FORWARDED_FOR) > 0)
            h.xff = &xv, h.nxff = 1;
        if (lws_hdr_custom_copy(wsi, fwd, sizeof(fwd), "forwarded:", 10) > 0)
            h.fwd = &fv, h.nfwd = 1;
    }
    proxy_client_str(t, (struct sockaddr *)&ss, &h, out, outlen);
}

static void on_established(struct signal_server *s, struct lws *wsi, struct sconn **pc)
{
    struct sconn *c = xcalloc(1, sizeof(*c));
    c->s = s;
    atomic_init(&c->refs, 1); /* the socket's */
    atomic_init(&c->join, JOIN_NONE);
    c->wsi = wsi;
    buf_init(&c->rx);
    c->tokens = s->cfg.burst;
    c->refill_us = c->heard_us = c->pinged_us = clock_mono_us();
    c->outq_tail = &c->outq;
    c->alive = true;
    client_addr(s, wsi, c->peer, sizeof(c->peer));
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nsock++;
    metrics_set(s->mx.sockets, s->nsock);
    *pc = c;
    lws_set_timer_usecs(wsi, tick_us(s));
}

/* The socket is gone (closed by either side, or the context is being destroyed). */
static void on_closed(struct signal_server *s, struct sconn *c)
{
    pthread_mutex_lock(&s->lock);
    c->alive = false;
    signal_conn_drop_queue(c);
    pthread_mutex_unlock(&s->lock);
    c->wsi = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nsock--;
    metrics_set(s->mx.sockets, s->nsock);
    if (s->loop) /* else never started: no member */
        loop_post(s->loop, signal_run_job, signal_job_new(c, JOB_DETACH));
    signal_conn_unref(c); /* the socket's reference */
}

/* Woken by lws_cancel_service: asks for writable callbacks for every dirty connection. */
static void on_wake(struct signal_server *s)
{
    pthread_mutex_lock(&s->lock);
    struct sconn *list = s->dirty;
    s->dirty = NULL;
    for (struct sconn *c = list; c; c = c->dirty_next)
        c->dirty = false;
    pthread_mutex_unlock(&s->lock);
    while (list) {
        struct sconn *c = list;
        list = c->dirty_next;
        if (c->wsi)
            lws_callback_on_writable(c->wsi);
        signal_conn_unref(c); /* the dirty list's reference */
    }
}

/* May this handshake go on: the path, the socket cap. 0 or nonzero to refuse. */
/* Answers a refused handshake with an HTTP status (a browser shows it) and refuses it. */
static int refuse(struct signal_server *s, struct lws *wsi, unsigned status, const char *why)
{
    metrics_add(s->mx.refused, 1);
    lws_return_http_status(wsi, status, why);
    return 1;
}

/* --ws-origin: no list, no Origin header, or one of the list. */
static bool origin_allowed(struct signal_server *s, struct lws *wsi)
{
    char origin[256];
    if (s->cfg.norigins <= 0 || lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
        return true;
    if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0)
        return false; /* longer than any origin we could list */
    for (int i = 0; i < s->cfg.norigins; i++)
        if (!strcasecmp(origin, s->cfg.origins[i]))
            return true;
    return false;
}

static int on_filter(struct signal_server *s, struct lws *wsi)
{
    char uri[128] = "";
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) < 0 || strcmp(uri, SIGNAL_PATH) != 0)
        return refuse(s, wsi, HTTP_STATUS_NOT_FOUND, "WebSocket signaling is at " SIGNAL_PATH);
    if (!origin_allowed(s, wsi))
        return refuse(s, wsi, HTTP_STATUS_FORBIDDEN, "this Origin may not use the signaling");
    char peer[64] = "";
    int same = 0;
    client_addr(s, wsi, peer, sizeof(peer));
    for (struct sconn *c = s->conns; c && peer[0]; c = c->next)
        same += strcmp(c->peer, peer) == 0;
    if (same >= s->cfg.max_per_address)
        return refuse(s, wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "too many sockets from one address");
    if (s->nsock >= s->cfg.max_sockets) {
        int64_t now = clock_mono_us();
        if (now - s->cap_logged_us >= 10000000) { /* a line per 10 s, not per refusal */
            s->cap_logged_us = now;
            log_warn("ws", NULL, "%d sockets open (the cap): new ones are refused", s->nsock);
        }
        return refuse(s, wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "too many sockets");
    }
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct signal_server *s = lws_context_user(lws_get_context(wsi));
    struct sconn **pc = user;
    if (!s)
        return 0;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return on_filter(s, wsi);
    case LWS_CALLBACK_HTTP: /* a plain HTTP request on the WebSocket port */
        metrics_add(s->mx.refused, 1);
        if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND,
                                   "WebSocket signaling: ws://HOST:PORT" SIGNAL_PATH))
            return -1;
        return lws_http_transaction_completed(wsi);
    case LWS_CALLBACK_ESTABLISHED:
        on_established(s, wsi, pc);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        return *pc ? on_receive(s, wsi, *pc, in, len) : -1;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (*pc)
            (*pc)->heard_us = clock_mono_us();
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return *pc ? on_writable(wsi, *pc) : 0;
    case LWS_CALLBACK_TIMER:
        return *pc ? on_timer(wsi, *pc) : 0;
    case LWS_CALLBACK_CLOSED:
        if (*pc)
            on_closed(s, *pc);
        *pc = NULL;
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        on_wake(s);
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {"kibitka-rtc", callback, sizeof(struct sconn *), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void *service(void *arg)
{
    struct signal_server *s = arg;
    while (!atomic_load(&s->stop))
        if (lws_service(s->ctx, 0) < 0)
            break;
    return NULL;
}

static void lws_to_log(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    if (level & LLL_ERR)
        log_error("ws", NULL, "libwebsockets: %.*s", (int)n, line);
    else
        log_warn("ws", NULL, "libwebsockets: %.*s", (int)n, line);
}

/* ---- life cycle ---- */

static void fill_defaults(struct signal_config *c)
{
    if (c->max_sockets <= 0)
        c->max_sockets = 10000;
    if (c->max_per_address <= 0)
        c->max_per_address = 256;
    if (!c->max_message)
        c->max_message = 64 * 1024;
    if (c->rate <= 0)
        c->rate = 20;
    if (c->burst <= 0)
        c->burst = 60;
    if (!c->max_queued)
        c->max_queued = 256 * 1024;
    if (c->ping_interval_ms <= 0)
        c->ping_interval_ms = 5000;
    if (c->ping_timeout_ms <= 0)
        c->ping_timeout_ms = 12000;
}

static void register_metrics(struct signal_server *s, struct metrics *m)
{
    s->mx.sockets = metrics_gauge(m, "kibitka_ws_sockets", "Open signaling WebSockets (--ws).");
    s->mx.messages = metrics_counter(m, "kibitka_ws_messages_total",
                                     "Messages received on signaling WebSockets.");
    s->mx.refused = metrics_counter(
        m, "kibitka_ws_refused_total",
        "WebSocket handshakes refused: a path other than /rtc, the socket caps, plain HTTP.");
    for (int i = 0; i < CW_N; i++)
        s->mx.closed[i] = metrics_labelled(m, METRIC_COUNTER, "kibitka_ws_closed_total",
                                           "Signaling WebSockets closed by the server, by reason.",
                                           "reason", close_labels[i]);
}

int signal_server_create(const struct signal_config *cfg, struct signal_server **out, char *err,
                         size_t errlen)
{
    *out = NULL;
    struct sockaddr_storage ss;
    if (!cfg->addr || net_parse_addr(cfg->addr, &ss) < 0) {
        snprintf(err, errlen, "'%s' is not ADDR:PORT", cfg->addr ? cfg->addr : "");
        return -EINVAL;
    }
    /* lws says only that it failed: a listen of our own first names the reason (port in use). */
    int fd = net_listen_tcp(&ss, 16);
    if (fd < 0) {
        snprintf(err, errlen, "%s", strerror(-fd));
        return fd;
    }
    int port = net_local_port(fd);
    close(fd);
    struct signal_server *s = xcalloc(1, sizeof(*s));
    s->cfg = *cfg;
    fill_defaults(&s->cfg);
    s->addr = xstrdup(cfg->addr);
    pthread_mutex_init(&s->lock, NULL);
    register_metrics(s, cfg->metrics);
    char host[64] = "";
    const char *colon = strrchr(s->addr, ':');
    snprintf(host, sizeof(host), "%.*s", (int)(colon - s->addr), s->addr);
    if (host[0] == '[') { /* [::1] */
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    lws_set_log_level(LLL_ERR, lws_to_log); /* its warnings name every refused handshake */
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = port;
    info.iface = strcmp(host, "0.0.0.0") && strcmp(host, "::") && host[0] ? host : NULL;
    info.protocols = protocols;
    info.user = s;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
    if (ss.ss_family == AF_INET)
        info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    info.fd_limit_per_thread = (unsigned)s->cfg.max_sockets + 64;
    info.count_threads = 1;
    info.timeout_secs = 10; /* a handshake not done in 10 s is dropped */
    s->ctx = lws_create_context(&info);
    if (!s->ctx) {
        snprintf(err, errlen, "libwebsockets could not listen (see the lines above)");
        signal_server_destroy(&s);
        return -EADDRNOTAVAIL;
    }
    s->port = port;
    *out = s;
    return 0;
}

int signal_server_port(const struct signal_server *s)
{
    return s->port;
}

int signal_server_start(struct signal_server *s, struct loop *loop, struct sfu *sfu,
                        sfu_access_fn access, void *access_opaque)
{
    s->loop = loop;
    s->sfu = sfu;
    s->access = access;
    s->access_opaque = access_opaque;
    if (pthread_create(&s->thread, NULL, service, s) != 0)
        return -EAGAIN;
    s->thread_started = true;
    log_info("ws", NULL,
             "signaling on ws://%s%s, port %d (at most %d sockets, %zu bytes a message)", s->addr,
             SIGNAL_PATH, s->port, s->cfg.max_sockets, s->cfg.max_message);
    return 0;
}

void signal_server_shutdown(struct signal_server *s)
{
    if (!s || s->loop_stopping)
        return;
    s->loop_stopping = true;
    atomic_store(&s->stop, true);
    if (s->thread_started) {
        lws_cancel_service(s->ctx);
        pthread_join(s->thread, NULL);
        s->thread_started = false;
    }
    /* Closes every socket: their CLOSED callbacks run here, on this thread. */
    if (s->ctx)
        lws_context_destroy(s->ctx);
    s->ctx = NULL;
    while (s->conns) /* any the context did not report closed */
        on_closed(s, s->conns);
    on_wake(s); /* drops the dirty list's references */
}

void signal_server_destroy(struct signal_server **ps)
{
    struct signal_server *s = *ps;
    if (!s)
        return;
    signal_server_shutdown(s);
    pthread_mutex_destroy(&s->lock);
    free(s->addr);
    free(s);
    *ps = NULL;
}
