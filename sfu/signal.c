/* The signaling server (signal.h): libwebsockets on its service thread, jobs for the SFU on the
 * network loop's thread, and a per-connection queue between them. */
#include "sfu/signal.h"

#include <errno.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/net.h"
#include "sfu/signal_msg.h"

#define PATH "/rtc"
#define CLOSE_MEMBER 4000 /* the SFU ended the member: an application close code */

enum join_state { JOIN_NONE, JOIN_PENDING, JOIN_DONE };

enum close_why { CW_RATE, CW_TOO_LARGE, CW_PING, CW_SLOW, CW_MEMBER, CW_LEFT, CW_N };
static const char *const close_labels[CW_N] = {"rate_limit", "too_large",     "ping_timeout",
                                               "slow_reader", "member_closed", "left"};

struct out_msg {
    struct out_msg *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes of room for lws, then the text */
};

struct sconn {
    struct signal_server *s;
    atomic_int refs;
    atomic_int join; /* enum join_state */
    /* The service thread's. */
    struct lws *wsi; /* NULL once the socket closed */
    struct buf rx;   /* the message being received */
    double tokens;
    int64_t refill_us, heard_us, pinged_us;
    bool ping_due, closing;
    char peer[64];
    struct sconn *prev, *next; /* every open socket */
    /* Under s->lock. */
    bool alive; /* the socket is open: queue and wake, else drop */
    struct out_msg *outq, **outq_tail;
    size_t queued;
    int close_code;
    char close_reason[124];
    bool dirty; /* on s->dirty (which holds a reference) */
    struct sconn *dirty_next;
    /* The loop thread's. */
    struct sfu_member *member; /* set by sfu_join, cleared by leave, detach and ops->closed */
    bool dead;                 /* the socket went (the detach job ran) */
};

struct signal_server {
    struct signal_config cfg;
    char *addr;
    struct lws_context *ctx;
    int port;
    struct loop *loop;
    struct sfu *sfu;
    sfu_access_fn access;
    void *access_opaque;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;    /* the service thread ends */
    bool loop_stopping;  /* the loop thread's: jobs only free */
    pthread_mutex_t lock;
    struct sconn *dirty; /* under lock: connections with something to write or a close */
    /* The service thread's. */
    struct sconn *conns;
    int nsock;
    int64_t cap_logged_us;
    struct {
        atomic_int_fast64_t *sockets, *messages, *refused, *closed[CW_N];
    } mx;
};

enum job_kind { JOB_JOIN, JOB_OFFER, JOB_TRICKLE, JOB_MUTE, JOB_LEAVE, JOB_DETACH };

/* Work for the loop thread about one connection; holds a reference to it. */
struct job {
    enum job_kind kind;
    struct sconn *c;
    struct signal_msg msg;
    int status; /* JOB_JOIN: the access check's answer */
    struct sfu_identity id;
    char why[256];
};

/* ---- connections ---- */

static void conn_ref(struct sconn *c)
{
    atomic_fetch_add(&c->refs, 1);
}

static void free_queue(struct sconn *c)
{
    for (struct out_msg *m = c->outq, *n; m; m = n) {
        n = m->next;
        free(m);
    }
    c->outq = NULL;
    c->outq_tail = &c->outq;
    c->queued = 0;
}

static void conn_unref(struct sconn *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    free_queue(c);
    buf_free(&c->rx);
    free(c);
}

/* Under s->lock: appends a copy of the text; past max_queued the connection is closed instead
 * (a client that does not read its messages must not grow our memory). */
static void queue_locked(struct sconn *c, const void *text, size_t len)
{
    struct signal_server *s = c->s;
    if (!c->alive || c->close_code)
        return;
    if (c->queued + len > s->cfg.max_queued) {
        c->close_code = LWS_CLOSE_STATUS_POLICY_VIOLATION;
        snprintf(c->close_reason, sizeof(c->close_reason), "messages not read: output queue full");
        metrics_add(s->mx.closed[CW_SLOW], 1);
        free_queue(c);
        return;
    }
    struct out_msg *m = xmalloc(sizeof(*m) + LWS_PRE + len);
    m->next = NULL;
    m->len = len;
    memcpy(m->data + LWS_PRE, text, len);
    *c->outq_tail = m;
    c->outq_tail = &m->next;
    c->queued += len;
}

/* Cuts a character that snprintf split at the end of text: a close reason must be UTF-8. */
static void utf8_trim_tail(char *text)
{
    size_t n = strlen(text), i = n;
    while (i > 0 && ((unsigned char)text[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)text[i - 1];
    size_t want = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (i - 1 + want > n)
        text[i - 1] = '\0';
}

static void close_locked(struct sconn *c, int code, const char *reason)
{
    if (!c->alive || c->close_code)
        return;
    c->close_code = code;
    snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason); /* 123 bytes at most */
    utf8_trim_tail(c->close_reason);
}

/* From the loop thread (or any but the service thread): marks c dirty and wakes the service
 * thread, which asks lws for a writable callback. */
static void wake_locked(struct sconn *c, bool *wake)
{
    if (c->alive && !c->dirty) {
        c->dirty = true;
        conn_ref(c);
        c->dirty_next = c->s->dirty;
        c->s->dirty = c;
        *wake = true;
    }
}

/* Queues text (and a close, when code is not 0) for c. On the service thread (own) the writable
 * callback is asked for at once; elsewhere the service thread is woken. */
static void conn_send(struct sconn *c, const void *text, size_t len, int code, const char *reason,
                      bool own)
{
    struct signal_server *s = c->s;
    bool wake = false;
    pthread_mutex_lock(&s->lock);
    if (text)
        queue_locked(c, text, len);
    if (code)
        close_locked(c, code, reason);
    if (!own)
        wake_locked(c, &wake);
    pthread_mutex_unlock(&s->lock);
    if (own && c->wsi)
        lws_callback_on_writable(c->wsi);
    if (wake)
        lws_cancel_service(s->ctx);
}

static void send_error(struct sconn *c, const char *code, const char *message, bool own)
{
    struct buf b;
    buf_init(&b);
    signal_msg_error(&b, code, message);
    conn_send(c, buf_head(&b), buf_size(&b), 0, NULL, own);
    buf_free(&b);
}

/* ---- the SFU's side of a member (loop thread) ---- */

static void member_send(void *opaque, const char *json, size_t len)
{
    conn_send(opaque, json, len, 0, NULL, false);
}

static void member_closed(void *opaque, const char *reason)
{
    struct sconn *c = opaque;
    c->member = NULL; /* freed by the SFU right after this call */
    atomic_store(&c->join, JOIN_NONE);
    metrics_add(c->s->mx.closed[CW_MEMBER], 1);
    conn_send(c, NULL, 0, CLOSE_MEMBER, reason && reason[0] ? reason : "closed by the server",
              false);
    conn_unref(c); /* the member's reference */
}

static const struct sfu_member_ops member_ops = {.send = member_send, .closed = member_closed};

/* ---- jobs (loop thread) ---- */

static void job_free(struct job *j)
{
    signal_msg_clear(&j->msg);
    conn_unref(j->c);
    free(j);
}

/* The error code a client gets for a refused join. */
static const char *access_code(int status)
{
    switch (status) {
    case -EKEYEXPIRED:
        return "token_expired";
    case -EACCES:
        return "unauthorized";
    case -ENOENT:
        return "no_such_room";
    case -EPERM:
        return "forbidden";
    case -ENOSYS:
        return "unavailable";
    default:
        return "join_refused";
    }
}

static const char *join_code(int err)
{
    switch (err) {
    case -EMFILE:
        return "room_full";
    case -ENOENT:
        return "resume_expired";
    case -EEXIST:
        return "already_connected";
    default:
        return "join_failed";
    }
}

static void do_join(struct job *j)
{
    struct sconn *c = j->c;
    struct signal_server *s = c->s;
    char why[256] = "";
    if (c->dead) { /* the socket went while the token was checked */
        atomic_store(&c->join, JOIN_NONE);
        return;
    }
    if (j->status < 0) {
        atomic_store(&c->join, JOIN_NONE);
        send_error(c, access_code(j->status), j->why[0] ? j->why : "join refused", false);
        return;
    }
    if (strcmp(j->id.room, j->msg.room) != 0) { /* an access function must not say otherwise */
        atomic_store(&c->join, JOIN_NONE);
        send_error(c, "forbidden", "the token is for another room", false);
        return;
    }
    struct buf reply;
    buf_init(&reply);
    conn_ref(c); /* the member's, from now: ops may be called during sfu_join */
    int rc = sfu_join(s->sfu, &j->id, j->msg.has_resume ? j->msg.resume : NULL, &member_ops, c,
                      &c->member, &reply, why, sizeof(why));
    if (rc < 0) {
        c->member = NULL;
        atomic_store(&c->join, JOIN_NONE);
        send_error(c, join_code(rc), why[0] ? why : "the join failed", false);
        conn_unref(c);
    } else {
        atomic_store(&c->join, JOIN_DONE);
        conn_send(c, buf_head(&reply), buf_size(&reply), 0, NULL, false);
        log_info("ws", NULL, "%s joined room %s as %s%s", c->peer, j->id.room,
                 j->id.user[0] ? j->id.user : "a guest", j->msg.has_resume ? " (resumed)" : "");
    }
    buf_free(&reply);
}

static void do_member_job(struct job *j)
{
    struct sconn *c = j->c;
    char why[256] = "";
    if (c->dead)
        return;
    if (!c->member) {
        send_error(c, "not_joined", "join a room first", false);
        return;
    }
    struct buf out;
    buf_init(&out);
    int rc = 0;
    if (j->kind == JOB_OFFER) {
        struct buf answer;
        buf_init(&answer);
        rc = sfu_offer(c->member, j->msg.sdp, j->msg.sdp_len, &answer, why, sizeof(why));
        if (rc == 0)
            signal_msg_simple(&out, "answer", "sdp", (const char *)buf_head(&answer),
                              buf_size(&answer));
        buf_free(&answer);
        if (rc < 0)
            send_error(c, "bad_offer", why[0] ? why : "the offer was refused", false);
    } else if (j->kind == JOB_TRICKLE) {
        rc = sfu_trickle(c->member, j->msg.frag, j->msg.frag_len, why, sizeof(why));
        if (rc < 0)
            send_error(c, "bad_trickle", why[0] ? why : "the candidate was refused", false);
    } else if (j->kind == JOB_MUTE) {
        sfu_set_self_muted(c->member, j->msg.muted);
    } else if (j->kind == JOB_LEAVE) {
        sfu_leave(&c->member);
        c->member = NULL;
        atomic_store(&c->join, JOIN_NONE);
        signal_msg_simple(&out, "left", NULL, NULL, 0);
        metrics_add(c->s->mx.closed[CW_LEFT], 1);
        conn_send(c, buf_head(&out), buf_size(&out), LWS_CLOSE_STATUS_NORMAL, "left", false);
        buf_clear(&out);
        conn_unref(c); /* the member's reference */
    }
    if (buf_size(&out))
        conn_send(c, buf_head(&out), buf_size(&out), 0, NULL, false);
    buf_free(&out);
}

static void run_job(void *arg)
{
    struct job *j = arg;
    struct sconn *c = j->c;
    if (c->s->loop_stopping) {
        /* after signal_server_shutdown: sfu_destroy has ended (or will end) every member */
    } else if (j->kind == JOB_JOIN) {
        do_join(j);
    } else if (j->kind == JOB_DETACH) {
        c->dead = true;
        if (c->member) {
            sfu_detach(&c->member);
            c->member = NULL;
            conn_unref(c); /* the member's reference */
        }
    } else {
        do_member_job(j);
    }
    job_free(j);
}

static struct job *job_new(struct sconn *c, enum job_kind kind)
{
    struct job *j = xcalloc(1, sizeof(*j));
    j->kind = kind;
    j->c = c;
    conn_ref(c);
    return j;
}

/* The access check's answer, on any thread. */
static void access_done(void *ctx, int status, const struct sfu_identity *id, const char *why)
{
    struct job *j = ctx;
    j->status = status;
    if (status == 0 && id)
        j->id = *id;
    else if (status == 0)
        j->status = -EACCES;
    snprintf(j->why, sizeof(j->why), "%s", why ? why : "");
    loop_post(j->c->s->loop, run_job, j);
}

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
    conn_send(c, NULL, 0, code, reason, true);
}

static void on_message(struct signal_server *s, struct sconn *c, const char *text, size_t len)
{
    metrics_add(s->mx.messages, 1);
    if (!take_token(s, c, clock_mono_us())) {
        char why[128];
        snprintf(why, sizeof(why), "more than %g messages a second: closing", s->cfg.rate);
        send_error(c, "rate_limited", why, true);
        close_soon(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "rate limit", CW_RATE);
        return;
    }
    struct signal_msg m;
    const char *code;
    char why[256];
    if (signal_msg_parse(text, len, &m, &code, why, sizeof(why)) < 0) {
        send_error(c, code, why, true);
        return;
    }
    enum job_kind kind = JOB_OFFER;
    switch (m.type) {
    case SIGNAL_PING:
        signal_msg_clear(&m);
        conn_send(c, "{\"type\":\"pong\"}", 15, 0, NULL, true);
        return;
    case SIGNAL_JOIN: {
        int want = JOIN_NONE;
        if (!atomic_compare_exchange_strong(&c->join, &want, JOIN_PENDING)) {
            signal_msg_clear(&m);
            send_error(c, "already_joined",
                       want == JOIN_PENDING ? "a join is under way" : "already in a room", true);
            return;
        }
        /* The token goes to the access check only: the job keeps no copy. The check may
         * answer before it returns, and the job be run and freed on the loop thread: it is
         * given this thread's copies of the strings, never the job's. */
        struct job *j = job_new(c, JOB_JOIN);
        j->msg = m;
        memset(j->msg.token, 0, sizeof(j->msg.token));
        s->access(s->access_opaque, m.room, m.token, m.display, access_done, j);
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
    struct job *j = job_new(c, kind);
    j->msg = m;
    loop_post(s->loop, run_job, j);
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
        send_error(c, "bad_message", "messages are JSON text, not binary", true);
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
        lws_close_reason(wsi, (enum lws_close_status)code, (unsigned char *)reason,
                         strlen(reason));
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
    lws_get_peer_simple(wsi, c->peer, sizeof(c->peer));
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
    free_queue(c);
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
        loop_post(s->loop, run_job, job_new(c, JOB_DETACH));
    conn_unref(c); /* the socket's reference */
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
        conn_unref(c); /* the dirty list's reference */
    }
}

/* May this handshake go on: the path, the socket cap. 0 or nonzero to refuse. */
static int on_filter(struct signal_server *s, struct lws *wsi)
{
    char uri[128] = "";
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) < 0 || strcmp(uri, PATH) != 0) {
        metrics_add(s->mx.refused, 1);
        return 1;
    }
    char peer[64] = "";
    int same = 0;
    lws_get_peer_simple(wsi, peer, sizeof(peer));
    for (struct sconn *c = s->conns; c && peer[0]; c = c->next)
        same += strcmp(c->peer, peer) == 0;
    if (same >= s->cfg.max_per_address) {
        metrics_add(s->mx.refused, 1);
        return 1;
    }
    if (s->nsock >= s->cfg.max_sockets) {
        metrics_add(s->mx.refused, 1);
        int64_t now = clock_mono_us();
        if (now - s->cap_logged_us >= 10000000) { /* a line per 10 s, not per refusal */
            s->cap_logged_us = now;
            log_warn("ws", NULL, "%d sockets open (the cap): new ones are refused", s->nsock);
        }
        return 1;
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
        if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, "WebSocket signaling: ws://HOST:PORT" PATH))
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
        s->mx.closed[i] = metrics_labelled(
            m, METRIC_COUNTER, "kibitka_ws_closed_total",
            "Signaling WebSockets closed by the server, by reason.", "reason", close_labels[i]);
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
    log_info("ws", NULL, "signaling on ws://%s%s, port %d (at most %d sockets, %zu bytes a message)",
             s->addr, PATH, s->port, s->cfg.max_sockets, s->cfg.max_message);
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
