/* The RTMP TCP server on the network thread's loop: accept, read -> session -> write, idle
 * sweep. All protocol logic is in session.c; this file only moves bytes and enforces the
 * connection-level limits (--max-connections and its per-address share, the idle timeout, the
 * publish deadline, the outgoing buffer bound).
 *
 * Two timers, because they stop two different things. The idle timeout closes a connection that
 * sends nothing; any message resets it, so alone it let a peer without a key hold a slot for
 * ever with a 15-byte message every few seconds (1,000 of them refused every real publisher).
 * The publish deadline counts from accept and nothing but a successful publish stops it. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/net.h"
#include "ingest/rtmp/rtmp.h"
#include "ingest/rtmp/rtmp_metrics.h"
#include "ingest/rtmp/session.h"

#define READ_CHUNK (64 * 1024)
#define READS_PER_EVENT 16    /* then let other connections run */
#define OUT_MAX (1024 * 1024) /* a peer that does not read our replies is dropped */
#define ACCEPT_PAUSE_MS 1000  /* after EMFILE: stop accepting for this long */

struct conn {
    struct rtmp_server *srv;
    int fd;
    struct rtmp_session *sess;
    char peer[64];
    struct sockaddr_storage addr; /* the peer, for the per-address count */
    int64_t accepted_us, last_progress_us;
    uint64_t progress;
    bool want_out;
    /* Receive low-water mark (see tune_lowat): bytes read in the current rate window. */
    int64_t rate_t0_us, last_read_us;
    uint64_t rate_bytes;
    int lowat;
    /* Refused mid-publish (a codec or a source the server will not serve): the onStatus is sent
     * and our side shut down; what the peer still sends is read and dropped until it closes, so
     * that it reads the onStatus (a close with its media unread would reset the connection
     * before ffmpeg sees it). Closed by the sweep after REFUSED_LINGER_US at the latest. */
    int64_t refused_us;
    struct conn *prev, *next;
};

#define REFUSED_LINGER_US 2000000

/* A publishing connection is read when LOWAT_DELAY_MS of its media (at the rate it sent over
 * the last LOWAT_WINDOW_US) has arrived, not on every few hundred bytes: at 2.5 Mbit/s that is
 * 3 KB, one wake-up for several audio and video messages instead of one each. It cut the
 * network thread's CPU per stream by 40% (bench/ingest_cpu.sh, 20 publishers) for at most
 * 10 ms of added delay. Bytes below the mark never wait longer than one idle sweep: a
 * connection unread for LOWAT_STALE_US goes back to a mark of 1. */
#define LOWAT_WINDOW_US 1000000
#define LOWAT_DELAY_MS 10
#define LOWAT_MAX 16384
#define LOWAT_STALE_US 250000

struct rtmp_server {
    struct loop *loop;
    struct rtmp_server_config cfg;
    int lfd, port;
    struct loop_timer *sweep, *resume;
    struct conn *conns;
    int nconns;
    int64_t last_refusal_log_us;
    bool stopped;
    struct rtmp_metrics mx;
};

/* What the log and the session's end say for each reason (the metric's label is in
 * rtmp_metrics.c). */
static const char *const close_text[RTMP_CLOSE_NREASONS] = {
    [RTMP_CLOSE_DISCONNECTED] = "publisher disconnected",
    [RTMP_CLOSE_PROTOCOL] = "protocol error",
    [RTMP_CLOSE_REFUSED] = "publish refused",
    [RTMP_CLOSE_NOT_READING] = "publisher disconnected or not reading",
    [RTMP_CLOSE_IDLE] = "idle timeout",
    [RTMP_CLOSE_NO_PUBLISH] = "no publish in time",
    [RTMP_CLOSE_MAX_CONNS] = "too many connections",
    [RTMP_CLOSE_PER_ADDRESS] = "too many connections from one address",
    [RTMP_CLOSE_ENDED_BY_API] = "publish ended by the API",
    [RTMP_CLOSE_STOPPING] = "server stopping",
    [RTMP_CLOSE_INTERNAL] = "internal error",
};

static void count_close(struct rtmp_server *srv, enum rtmp_close_reason why)
{
    metrics_add(srv->mx.closed[why], 1);
}

static void conn_close(struct conn *c, enum rtmp_close_reason why)
{
    struct rtmp_server *srv = c->srv;
    const char *reason = close_text[why];
    count_close(srv, why);
    loop_del_fd(srv->loop, c->fd);
    close(c->fd);
    rtmp_session_destroy(&c->sess, reason);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    metrics_add(srv->mx.connections, -1);
    log_debug("rtmp", NULL, "connection from %s closed (%s)", c->peer, reason);
    free(c);
}

/* Sends what the session queued. 0, or -1 when the connection is broken or over its bound. */
static int conn_flush(struct conn *c)
{
    struct buf *out = rtmp_session_output(c->sess);
    while (buf_size(out) > 0) {
        ssize_t n = send(c->fd, buf_head(out), buf_size(out), MSG_NOSIGNAL);
        if (n > 0) {
            buf_consume(out, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        return -1;
    }
    if (buf_size(out) > OUT_MAX)
        return -1;
    bool want = buf_size(out) > 0;
    if (want != c->want_out) {
        c->want_out = want;
        loop_mod_fd(c->srv->loop, c->fd, EPOLLIN | (want ? EPOLLOUT : 0));
    }
    return 0;
}

/* Reads and feeds. Returns 0 to keep the connection, or -1 after closing it. */
static void set_lowat(struct conn *c, int want)
{
    if (want == c->lowat)
        return;
    if (setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof(want)) == 0)
        c->lowat = want;
}

/* Once a second, sets the receive low-water mark from the rate of the last second, for
 * publishing connections only: during the handshake and commands the peer waits for our
 * answers, and a mark above 1 would hold its last bytes back. */
static void tune_lowat(struct conn *c, int64_t now)
{
    if (c->rate_t0_us == 0)
        c->rate_t0_us = now;
    if (now - c->rate_t0_us < LOWAT_WINDOW_US)
        return;
    int64_t rate = (int64_t)c->rate_bytes * 1000000 / (now - c->rate_t0_us);
    int64_t want = rtmp_session_publishing(c->sess) ? rate * LOWAT_DELAY_MS / 1000 : 1;
    set_lowat(c, (int)(want < 1 ? 1 : want > LOWAT_MAX ? LOWAT_MAX : want));
    c->rate_t0_us = now;
    c->rate_bytes = 0;
}

static int conn_read(struct conn *c)
{
    uint8_t data[READ_CHUNK];
    for (int i = 0; i < READS_PER_EVENT; i++) {
        ssize_t n = recv(c->fd, data, sizeof(data), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            conn_close(c, RTMP_CLOSE_DISCONNECTED);
            return -1;
        }
        if (c->refused_us)
            continue; /* dropped: see refused_us */
        int err = rtmp_session_feed(c->sess, data, (size_t)n);
        if (err == -EPROTONOSUPPORT && conn_flush(c) == 0) {
            if (buf_size(rtmp_session_output(c->sess)) == 0)
                shutdown(c->fd, SHUT_WR); /* else EPOLLOUT sends the rest; the peer closes */
            c->refused_us = clock_mono_us();
            continue;
        }
        if (err < 0) {
            conn_flush(c); /* best effort: the refusal's onStatus */
            conn_close(c, RTMP_CLOSE_PROTOCOL);
            return -1;
        }
        c->rate_bytes += (uint64_t)n;
        if ((size_t)n < sizeof(data))
            break;
    }
    c->last_read_us = clock_mono_us();
    tune_lowat(c, c->last_read_us);
    uint64_t progress = rtmp_session_progress(c->sess);
    if (progress != c->progress) {
        c->progress = progress;
        c->last_progress_us = clock_mono_us();
    }
    return 0;
}

/* The session answered something asynchronously (a stream-key check): send it, and close when
 * it refused, or when its stream was ended through the API (-ECANCELED). */
static void conn_wake(void *opaque, int err)
{
    struct conn *c = opaque;
    if (err == -ECANCELED) { /* the stream was ended through the API (hub_registry_stop) */
        conn_flush(c);
        conn_close(c, RTMP_CLOSE_ENDED_BY_API);
        return;
    }
    if (err < 0) {
        metrics_add(c->srv->mx.rejected, 1);
        conn_flush(c); /* best effort: the refusal's onStatus */
        conn_close(c, RTMP_CLOSE_REFUSED);
        return;
    }
    if (conn_flush(c) < 0)
        conn_close(c, RTMP_CLOSE_NOT_READING);
}

static void conn_cb(struct loop *loop, int fd, uint32_t events, void *opaque)
{
    struct conn *c = opaque;
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && conn_read(c) < 0)
        return;
    if (conn_flush(c) < 0) {
        if (buf_size(rtmp_session_output(c->sess)) > OUT_MAX)
            metrics_add(c->srv->mx.rejected, 1);
        conn_close(c, RTMP_CLOSE_NOT_READING);
    }
}

static void conn_new(struct rtmp_server *srv, int fd, const struct sockaddr_storage *ss)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    c->srv = srv;
    c->fd = fd;
    net_addr_str(ss, c->peer, sizeof(c->peer));
    c->addr = *ss;
    c->accepted_us = c->last_progress_us = clock_mono_us();
    struct rtmp_session_config sc = {
        .open_publish = srv->cfg.open_publish,
        .hubs = srv->cfg.hubs,
        .metrics = srv->cfg.metrics,
        .peer = c->peer,
        .auth = srv->cfg.auth,
        .wake = conn_wake,
        .wake_opaque = c,
    };
    c->sess = rtmp_session_create(&sc);
    int err = loop_add_fd(srv->loop, fd, EPOLLIN, conn_cb, c);
    if (err < 0) {
        log_error("rtmp", NULL, "cannot watch connection from %s: %s", c->peer, strerror(-err));
        rtmp_session_destroy(&c->sess, close_text[RTMP_CLOSE_INTERNAL]);
        count_close(srv, RTMP_CLOSE_INTERNAL);
        close(fd);
        free(c);
        return;
    }
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    metrics_add(srv->mx.connections, 1);
    metrics_add(srv->mx.connections_total, 1);
    log_debug("rtmp", NULL, "connection from %s", c->peer);
}

static void accept_cb(struct loop *loop, int fd, uint32_t events, void *opaque);

static void resume_accept(struct loop *loop, void *opaque)
{
    struct rtmp_server *srv = opaque;
    srv->resume = NULL;
    if (!srv->stopped)
        loop_mod_fd(loop, srv->lfd, EPOLLIN);
}

static bool same_address(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                       &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr));
    return false;
}

/* The connection limits at accept: --max-connections in all, and a share per address, so that
 * one address cannot take every slot. A walk of the list (at most --max-connections long) per
 * accept costs less than keeping a table of addresses. Refusals are logged once a second at
 * most: a flood must not become a flood of log lines. */
static bool admit(struct rtmp_server *srv, int fd, const struct sockaddr_storage *ss)
{
    enum rtmp_close_reason why = RTMP_CLOSE_NREASONS;
    int per = srv->cfg.max_connections_per_address, same = 0;
    if (srv->nconns >= srv->cfg.max_connections)
        why = RTMP_CLOSE_MAX_CONNS;
    for (struct conn *c = srv->conns; per > 0 && why == RTMP_CLOSE_NREASONS && c; c = c->next)
        if (same_address(&c->addr, ss) && ++same >= per)
            why = RTMP_CLOSE_PER_ADDRESS;
    if (why == RTMP_CLOSE_NREASONS)
        return true;
    close(fd);
    count_close(srv, why);
    metrics_add(srv->mx.rejected, 1);
    int64_t now = clock_mono_us();
    if (now - srv->last_refusal_log_us >= 1000000) {
        char peer[64];
        net_addr_str(ss, peer, sizeof(peer));
        srv->last_refusal_log_us = now;
        if (why == RTMP_CLOSE_MAX_CONNS)
            log_warn("rtmp", NULL,
                     "refusing connection from %s: %d connections open (--max-connections)", peer,
                     srv->nconns);
        else
            log_warn("rtmp", NULL,
                     "refusing connection from %s: %d connections open from that address "
                     "(--max-connections-per-address)",
                     peer, same);
    }
    return false;
}

static void accept_cb(struct loop *loop, int lfd, uint32_t events, void *opaque)
{
    struct rtmp_server *srv = opaque;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Level-triggered: without a pause the loop would spin on the backlog. */
                log_error("rtmp", NULL, "accept: %s; pausing new connections for %d ms",
                          strerror(errno), ACCEPT_PAUSE_MS);
                loop_mod_fd(loop, lfd, 0);
                if (!srv->resume)
                    srv->resume = loop_timer_add(loop, ACCEPT_PAUSE_MS, false, resume_accept, srv);
            }
            return;
        }
        if (admit(srv, fd, &ss))
            conn_new(srv, fd, &ss);
    }
}

/* Bytes the kernel holds for c that we have not read yet. */
static int unread_bytes(const struct conn *c)
{
    int n = 0;
    return ioctl(c->fd, FIONREAD, &n) == 0 ? n : 0;
}

/* Closes connections that made no progress (handshake, command, media) for idle_timeout, and
 * those not publishing publish_timeout after accept (a key check still under way included: it
 * answers in milliseconds unless the database is stuck).
 *
 * Never as idle while the connection has bytes we have not read: then the silence is ours (the
 * network thread ran late, starved of CPU by encoders, or this timer ran after a long callback,
 * while last_progress_us dates from before), not the peer's. With 40 publishers on 2 cores that
 * closed half of them as idle with their media waiting in their sockets. The publish deadline
 * keeps no such exception: a peer without a key must not dodge it by keeping bytes in flight. */
static void sweep_cb(struct loop *loop, void *opaque)
{
    struct rtmp_server *srv = opaque;
    int64_t now = clock_mono_us(), limit = (int64_t)(srv->cfg.idle_timeout * 1e6);
    int64_t deadline = (int64_t)(srv->cfg.publish_timeout * 1e6);
    for (struct conn *c = srv->conns, *next; c; c = next) {
        next = c->next;
        if (c->lowat > 1 && now - c->last_read_us > LOWAT_STALE_US)
            set_lowat(c, 1); /* the publisher slowed down or paused: read what is there */
        if (c->refused_us && now - c->refused_us > REFUSED_LINGER_US) {
            conn_close(c, RTMP_CLOSE_REFUSED);
            continue;
        }
        enum rtmp_close_reason why = RTMP_CLOSE_NREASONS;
        if (limit > 0 && now - c->last_progress_us > limit && unread_bytes(c) == 0)
            why = RTMP_CLOSE_IDLE;
        else if (deadline > 0 && now - c->accepted_us > deadline &&
                 !rtmp_session_publishing(c->sess))
            why = RTMP_CLOSE_NO_PUBLISH;
        if (why == RTMP_CLOSE_NREASONS)
            continue;
        if (why == RTMP_CLOSE_IDLE)
            log_info("rtmp", NULL, "closing %s: nothing received for %.1f s", c->peer,
                     srv->cfg.idle_timeout);
        else /* debug: a flood of these must not flood the log; the metric counts them */
            log_debug("rtmp", NULL, "closing %s: not publishing %.1f s after connecting", c->peer,
                      srv->cfg.publish_timeout);
        metrics_add(srv->mx.rejected, 1);
        conn_close(c, why);
    }
}

struct rtmp_server *rtmp_server_create(struct loop *loop, const struct rtmp_server_config *cfg)
{
    int fd = cfg->listen_fd;
    struct rtmp_server *srv = xcalloc(1, sizeof(*srv));
    srv->loop = loop;
    srv->cfg = *cfg;
    rtmp_metrics_register(cfg->metrics, &srv->mx);
    if (srv->cfg.max_connections <= 0)
        srv->cfg.max_connections = 1;
    srv->lfd = fd;
    srv->port = net_local_port(fd);
    int err = loop_add_fd(loop, fd, EPOLLIN, accept_cb, srv);
    if (err < 0) {
        log_error("rtmp", NULL, "cannot watch the listening socket: %s", strerror(-err));
        rtmp_server_destroy(&srv); /* closes fd; deleting an unwatched fd is a no-op */
        return NULL;
    }
    double shortest = srv->cfg.idle_timeout;
    if (srv->cfg.publish_timeout > 0 && (shortest <= 0 || srv->cfg.publish_timeout < shortest))
        shortest = srv->cfg.publish_timeout;
    if (shortest > 0) {
        int64_t ms = (int64_t)(shortest * 1000 / 4);
        ms = ms < 100 ? 100 : ms > 1000 ? 1000 : ms;
        srv->sweep = loop_timer_add(loop, ms, true, sweep_cb, srv);
    }
    char where[64];
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sslen);
    net_addr_str(&ss, where, sizeof(where));
    log_info("rtmp", NULL, "listening on %s", where);
    return srv;
}

int rtmp_server_port(const struct rtmp_server *srv)
{
    return srv->port;
}

void rtmp_server_shutdown(struct rtmp_server *srv)
{
    if (srv->stopped)
        return;
    srv->stopped = true;
    loop_del_fd(srv->loop, srv->lfd);
    close(srv->lfd);
    srv->lfd = -1;
    loop_timer_cancel(srv->loop, srv->sweep);
    loop_timer_cancel(srv->loop, srv->resume);
    srv->sweep = srv->resume = NULL;
    while (srv->conns)
        conn_close(srv->conns, RTMP_CLOSE_STOPPING);
}

void rtmp_server_destroy(struct rtmp_server **psrv)
{
    struct rtmp_server *srv = *psrv;
    if (!srv)
        return;
    rtmp_server_shutdown(srv);
    free(srv);
    *psrv = NULL;
}
