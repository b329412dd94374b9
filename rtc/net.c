/* The WebRTC port's sockets (rtc/net.h): UDP with batched reads, passive ICE-TCP with RFC 4571
 * framing (a 16-bit length before each packet). */
#include "rtc/net.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/net.h"

#define BATCH 32     /* datagrams per recvmmsg */
#define OUT_BATCH 64 /* datagrams per sendmmsg */
#define DEFAULT_MAX_TCP 1024
#define SWEEP_MS 1000
#define ACCEPT_PAUSE_MS 200
/* A wake-up that read fewer than SPARSE_READ datagrams stops reading the UDP socket for
 * SPARSE_PAUSE_MS: senders pace their packets, so without the pause nearly every wake-up reads
 * one datagram and the wake-up (epoll_wait, the scheduler) costs more than the packet. */
#define SPARSE_READ 4
#define SPARSE_PAUSE_MS 1

struct tcp_conn {
    struct rtc_net *net;
    int fd;
    uint32_t id; /* slot index in the low 16 bits, a generation in the high 16 */
    bool validated;
    int64_t deadline_us;
    struct sockaddr_storage peer;
    uint8_t in[2 + 0xffff]; /* one frame at most: RFC 4571's length is 16 bits */
    size_t in_len;
    struct buf out; /* framed packets not yet written */
};

struct rtc_net {
    struct loop *loop;
    struct rtc_net_ops ops;
    void *opaque;
    int udp_fd, tcp_fd, port;
    struct tcp_conn **conns; /* slots; NULL when free */
    uint16_t *gen;           /* each slot's generation */
    int max_tcp, ntcp;
    struct loop_timer *sweep, *resume, *udp_resume;
    /* recvmmsg buffers, reused for every batch */
    uint8_t (*bufs)[RTC_NET_MAX_DATAGRAM + 1];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_storage from[BATCH];
    /* The send queue (see rtc_net_send_buf): datagrams written in place during a wake-up, sent
     * with sendmmsg at its end or when OUT_BATCH are queued. */
    uint8_t (*obufs)[RTC_NET_SEND_BUF];
    struct mmsghdr omsgs[OUT_BATCH];
    struct iovec oiov[OUT_BATCH];
    struct sockaddr_storage oto[OUT_BATCH];
    /* Per queued datagram: the histogram its forwarding delay goes to (NULL: not measured) and
     * the arrival time it is measured from (rtc_net_send_commit_timed). */
    struct metrics_hist *ohist[OUT_BATCH];
    int64_t ostamp[OUT_BATCH];
    int nout;
    int in_wakeup; /* > 0 while a read callback runs: sends are queued */
    int64_t rx_us; /* when the batch being handled was read; 0 outside a read */
    atomic_int_fast64_t *m_in, *m_bytes_in, *m_out, *m_batches, *m_drops, *m_oversize, *m_tcp,
        *m_tcp_refused, *m_tcp_timeouts;
};

static void register_metrics(struct rtc_net *net, struct metrics *m)
{
    net->m_in = metrics_counter(m, "kibitka_rtc_packets_in_total",
                                "Datagrams and ICE-TCP frames received on the WebRTC port.");
    net->m_bytes_in =
        metrics_counter(m, "kibitka_rtc_bytes_in_total", "Bytes received on the WebRTC port.");
    net->m_out =
        metrics_counter(m, "kibitka_rtc_packets_out_total", "Packets sent on the WebRTC port.");
    net->m_batches = metrics_counter(m, "kibitka_rtc_send_batches_total",
                                     "sendmmsg calls that flushed the WebRTC send queue.");
    net->m_drops = metrics_counter(m, "kibitka_rtc_send_drops_total",
                                   "Packets not sent: socket buffer or ICE-TCP queue full.");
    net->m_oversize =
        metrics_counter(m, "kibitka_rtc_oversize_total",
                        "Datagrams or ICE-TCP frames longer than 1500 bytes, dropped unread.");
    net->m_tcp = metrics_gauge(m, "kibitka_rtc_tcp_connections", "Open ICE-TCP connections.");
    net->m_tcp_refused = metrics_counter(m, "kibitka_rtc_tcp_refused_total",
                                         "ICE-TCP connections refused at the cap.");
    net->m_tcp_timeouts =
        metrics_counter(m, "kibitka_rtc_tcp_timeouts_total",
                        "ICE-TCP connections closed for no valid ICE check within 10 s.");
}

int rtc_net_open(const char *addr, bool tcp, int *udp_fd, int *tcp_fd)
{
    struct sockaddr_storage ss;
    *udp_fd = *tcp_fd = -1;
    if (net_parse_addr(addr, &ss) < 0)
        return -EINVAL;
    socklen_t len =
        ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* Media arrives in bursts (a keyframe is a hundred packets): a deep receive buffer rides out
     * a network thread that runs late. The kernel caps it at net.core.rmem_max. */
    int rcv = 4 * 1024 * 1024;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    *udp_fd = fd;
    if (!tcp)
        return 0;
    int port = net_local_port(fd);
    if (ss.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
    int lfd = net_listen_tcp(&ss, SOMAXCONN); /* a burst of peers fits: see server/main.c */
    if (lfd < 0) {
        close(fd);
        *udp_fd = -1;
        return lfd;
    }
    *tcp_fd = lfd;
    return 0;
}

static struct tcp_conn *conn_by_id(struct rtc_net *net, uint32_t id)
{
    uint32_t slot = id & 0xffff;
    if (slot >= (uint32_t)net->max_tcp || !net->conns[slot] || net->conns[slot]->id != id)
        return NULL;
    return net->conns[slot];
}

static void conn_free(struct rtc_net *net, struct tcp_conn *c)
{
    loop_del_fd(net->loop, c->fd);
    close(c->fd);
    net->conns[c->id & 0xffff] = NULL;
    net->ntcp--;
    metrics_set(net->m_tcp, net->ntcp);
    buf_free(&c->out);
    free(c);
}

/* Closes c and tells the owner. */
static void conn_close(struct rtc_net *net, struct tcp_conn *c)
{
    struct rtc_path path = {.addr = c->peer, .tcp_id = c->id};
    conn_free(net, c);
    if (net->ops.tcp_closed)
        net->ops.tcp_closed(net->opaque, &path);
}

/* Writes what is queued; 0, or -errno when the connection failed. */
static int conn_flush(struct rtc_net *net, struct tcp_conn *c)
{
    while (buf_size(&c->out) > 0) {
        ssize_t w = send(c->fd, buf_head(&c->out), buf_size(&c->out), MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -errno;
        }
        buf_consume(&c->out, (size_t)w);
    }
    if (buf_size(&c->out) == 0) {
        buf_clear(&c->out);
        return loop_mod_fd(net->loop, c->fd, EPOLLIN);
    }
    return loop_mod_fd(net->loop, c->fd, EPOLLIN | EPOLLOUT);
}

/* Hands every complete frame in c's buffer to the owner. false when c was closed meanwhile. */
static bool conn_deliver(struct rtc_net *net, struct tcp_conn *c)
{
    uint32_t id = c->id;
    size_t off = 0;
    while (c->in_len - off >= 2) {
        size_t n = (size_t)c->in[off] << 8 | c->in[off + 1];
        if (c->in_len - off - 2 < n)
            break;
        struct rtc_path from = {.addr = c->peer, .tcp_id = id};
        metrics_add(net->m_in, 1);
        metrics_add(net->m_bytes_in, (int64_t)n + 2);
        if (n > RTC_NET_MAX_DATAGRAM || n == 0)
            metrics_add(net->m_oversize, n > 0);
        else
            net->ops.packet(net->opaque, &from, c->in + off + 2, n);
        if (conn_by_id(net, id) != c)
            return false;
        off += 2 + n;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return true;
}

static void conn_read(struct loop *loop, int fd, uint32_t events, struct tcp_conn *c);

/* Sends queued while frames are handed to the owner go out together at the end. */
static void conn_cb(struct loop *loop, int fd, uint32_t events, void *opaque)
{
    struct tcp_conn *c = opaque;
    struct rtc_net *net = c->net;
    net->in_wakeup++;
    conn_read(loop, fd, events, c);
    if (--net->in_wakeup == 0) {
        rtc_net_flush(net);
        net->rx_us = 0;
    }
}

static void conn_read(struct loop *loop, int fd, uint32_t events, struct tcp_conn *c)
{
    struct rtc_net *net = c->net;
    if (events & EPOLLOUT) {
        if (conn_flush(net, c) < 0) {
            conn_close(net, c);
            return;
        }
    }
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        return;
    /* Read at most a few frames' worth per wake-up, so one connection cannot hold the thread. */
    for (int round = 0; round < 8; round++) {
        ssize_t r = recv(fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
        if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
            conn_close(net, c);
            return;
        }
        if (r < 0)
            return;
        c->in_len += (size_t)r;
        net->rx_us = clock_mono_us();
        if (!conn_deliver(net, c))
            return;
    }
}

static void resume_accept(struct loop *loop, void *opaque)
{
    struct rtc_net *net = opaque;
    net->resume = NULL;
    loop_mod_fd(loop, net->tcp_fd, EPOLLIN);
}

static void conn_new(struct rtc_net *net, int fd, const struct sockaddr_storage *peer)
{
    int slot = 0;
    while (slot < net->max_tcp && net->conns[slot])
        slot++;
    if (slot == net->max_tcp || net->ntcp >= net->max_tcp) {
        metrics_add(net->m_tcp_refused, 1);
        close(fd);
        return;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct tcp_conn *c = xcalloc(1, sizeof(*c));
    c->net = net;
    c->fd = fd;
    c->peer = *peer;
    buf_init(&c->out);
    c->id = (uint32_t)++net->gen[slot] << 16 | (uint32_t)slot;
    if (c->id == (uint32_t)slot) /* generation 0 would make id 0 (UDP) for slot 0 */
        c->id = (uint32_t)++net->gen[slot] << 16 | (uint32_t)slot;
    c->deadline_us = clock_mono_us() + (int64_t)RTC_NET_TCP_VALIDATE_MS * 1000;
    if (loop_add_fd(net->loop, fd, EPOLLIN, conn_cb, c) < 0) {
        close(fd);
        free(c);
        return;
    }
    net->conns[slot] = c;
    net->ntcp++;
    metrics_set(net->m_tcp, net->ntcp);
}

static void accept_cb(struct loop *loop, int lfd, uint32_t events, void *opaque)
{
    struct rtc_net *net = opaque;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_error("rtc", NULL, "ICE-TCP accept: %s; pausing for %d ms", strerror(errno),
                          ACCEPT_PAUSE_MS);
                loop_mod_fd(loop, lfd, 0);
                if (!net->resume)
                    net->resume = loop_timer_add(loop, ACCEPT_PAUSE_MS, false, resume_accept, net);
            }
            return;
        }
        conn_new(net, fd, &ss);
    }
}

static void sweep_cb(struct loop *loop, void *opaque)
{
    struct rtc_net *net = opaque;
    int64_t now = clock_mono_us();
    for (int i = 0; i < net->max_tcp; i++) {
        struct tcp_conn *c = net->conns[i];
        if (c && !c->validated && now >= c->deadline_us) {
            metrics_add(net->m_tcp_timeouts, 1);
            conn_close(net, c);
        }
    }
}

static void udp_resume(struct loop *loop, void *opaque)
{
    struct rtc_net *net = opaque;
    net->udp_resume = NULL;
    (void)loop_mod_fd(loop, net->udp_fd, EPOLLIN);
}

static void udp_cb(struct loop *loop, int fd, uint32_t events, void *opaque)
{
    struct rtc_net *net = opaque;
    (void)events;
    int total = 0;
    net->in_wakeup++;
    /* A bounded number of batches per wake-up: the loop is level-triggered, so what is left is
     * read on the next iteration, after the timers and the other sockets had their turn. */
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < BATCH; i++) {
            net->iov[i] = (struct iovec){net->bufs[i], sizeof(net->bufs[i])};
            net->msgs[i].msg_hdr = (struct msghdr){
                .msg_name = &net->from[i],
                .msg_namelen = sizeof(net->from[i]),
                .msg_iov = &net->iov[i],
                .msg_iovlen = 1,
            };
            net->msgs[i].msg_len = 0;
        }
        int n = recvmmsg(fd, net->msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            break;
        net->rx_us = clock_mono_us(); /* the arrival time of every datagram of the batch */
        total += n;
        for (int i = 0; i < n; i++) {
            size_t len = net->msgs[i].msg_len;
            metrics_add(net->m_in, 1);
            metrics_add(net->m_bytes_in, (int64_t)len);
            if (len > RTC_NET_MAX_DATAGRAM || (net->msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) {
                metrics_add(net->m_oversize, 1);
                continue;
            }
            if (len == 0)
                continue;
            struct rtc_path from = {.addr = net->from[i], .tcp_id = 0};
            net->ops.packet(net->opaque, &from, net->bufs[i], len);
        }
        rtc_net_flush(net); /* what this batch produced (forwarded copies) goes out now */
        if (n < BATCH)
            break;
    }
    net->in_wakeup--;
    net->rx_us = 0;
    if (total < SPARSE_READ && !net->udp_resume && loop_mod_fd(loop, fd, 0) == 0)
        net->udp_resume = loop_timer_add(loop, SPARSE_PAUSE_MS, false, udp_resume, net);
}

struct rtc_net *rtc_net_create(struct loop *loop, const struct rtc_net_config *cfg,
                               const struct rtc_net_ops *ops, void *opaque)
{
    struct rtc_net *net = xcalloc(1, sizeof(*net));
    net->loop = loop;
    net->ops = *ops;
    net->opaque = opaque;
    net->udp_fd = cfg->udp_fd;
    net->tcp_fd = cfg->tcp_fd;
    net->port = net_local_port(cfg->udp_fd);
    net->max_tcp = cfg->max_tcp > 0 ? cfg->max_tcp : DEFAULT_MAX_TCP;
    if (net->max_tcp > 0xffff)
        net->max_tcp = 0xffff;
    net->conns = xcalloc((size_t)net->max_tcp, sizeof(*net->conns));
    net->gen = xcalloc((size_t)net->max_tcp, sizeof(*net->gen));
    net->bufs = xcalloc(BATCH, sizeof(*net->bufs));
    net->obufs = xcalloc(OUT_BATCH, sizeof(*net->obufs));
    register_metrics(net, cfg->metrics);
    if (loop_add_fd(loop, net->udp_fd, EPOLLIN, udp_cb, net) < 0)
        log_error("rtc", NULL, "cannot watch the WebRTC UDP socket");
    if (net->tcp_fd >= 0) {
        if (loop_add_fd(loop, net->tcp_fd, EPOLLIN, accept_cb, net) < 0)
            log_error("rtc", NULL, "cannot watch the ICE-TCP listener");
        net->sweep = loop_timer_add(loop, SWEEP_MS, true, sweep_cb, net);
    }
    return net;
}

void rtc_net_destroy(struct rtc_net **pnet)
{
    struct rtc_net *net = *pnet;
    if (!net)
        return;
    net->in_wakeup = 0;
    rtc_net_flush(net);
    for (int i = 0; i < net->max_tcp; i++)
        if (net->conns[i])
            conn_free(net, net->conns[i]);
    loop_timer_cancel(net->loop, net->sweep);
    loop_timer_cancel(net->loop, net->resume);
    loop_timer_cancel(net->loop, net->udp_resume);
    loop_del_fd(net->loop, net->udp_fd);
    close(net->udp_fd);
    if (net->tcp_fd >= 0) {
        loop_del_fd(net->loop, net->tcp_fd);
        close(net->tcp_fd);
    }
    free(net->conns);
    free(net->gen);
    free(net->bufs);
    free(net->obufs);
    free(net);
    *pnet = NULL;
}

int rtc_net_port(const struct rtc_net *net)
{
    return net->port;
}

int rtc_net_send(struct rtc_net *net, const struct rtc_path *to, const uint8_t *p, size_t n)
{
    if (n > 0xffff)
        return -EMSGSIZE;
    if (to->tcp_id == 0 && net->in_wakeup && n <= RTC_NET_SEND_BUF) {
        size_t cap;
        uint8_t *b = rtc_net_send_buf(net, &cap);
        memcpy(b, p, n);
        return rtc_net_send_commit(net, to, n);
    }
    if (to->tcp_id == 0) {
        socklen_t len = to->addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                       : sizeof(struct sockaddr_in);
        ssize_t w = sendto(net->udp_fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL,
                           (const struct sockaddr *)&to->addr, len);
        if (w < 0) {
            metrics_add(net->m_drops, 1);
            return -errno;
        }
        metrics_add(net->m_out, 1);
        return 0;
    }
    struct tcp_conn *c = conn_by_id(net, to->tcp_id);
    if (!c)
        return -ENOTCONN;
    if (buf_size(&c->out) + n + 2 > RTC_NET_TCP_MAX_QUEUE) {
        metrics_add(net->m_drops, 1);
        return -ENOBUFS;
    }
    uint8_t hdr[2] = {(uint8_t)(n >> 8), (uint8_t)n};
    buf_append(&c->out, hdr, 2);
    buf_append(&c->out, p, n);
    metrics_add(net->m_out, 1);
    if (conn_flush(net, c) < 0) {
        conn_close(net, c);
        return -EPIPE;
    }
    return 0;
}

uint8_t *rtc_net_send_buf(struct rtc_net *net, size_t *cap)
{
    *cap = RTC_NET_SEND_BUF;
    return net->obufs[net->nout];
}

static socklen_t addr_len(const struct sockaddr_storage *a)
{
    return a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

int64_t rtc_net_rx_us(const struct rtc_net *net)
{
    return net->rx_us;
}

/* One datagram that left (or went into an ICE-TCP queue) now. */
static void observe(struct metrics_hist *h, int64_t since_us)
{
    if (h && since_us > 0)
        metrics_observe(h, (double)(clock_mono_us() - since_us) / 1e6);
}

int rtc_net_send_commit(struct rtc_net *net, const struct rtc_path *to, size_t n)
{
    return rtc_net_send_commit_timed(net, to, n, NULL, 0);
}

int rtc_net_send_commit_timed(struct rtc_net *net, const struct rtc_path *to, size_t n,
                              struct metrics_hist *h, int64_t since_us)
{
    uint8_t *b = net->obufs[net->nout];
    if (n > RTC_NET_SEND_BUF || n > 0xffff)
        return -EMSGSIZE;
    if (to->tcp_id) {
        int err = rtc_net_send(net, to, b, n); /* framed into the connection's queue */
        if (err == 0)
            observe(h, since_us);
        return err;
    }
    if (!net->in_wakeup) {
        ssize_t w = sendto(net->udp_fd, b, n, MSG_DONTWAIT | MSG_NOSIGNAL,
                           (const struct sockaddr *)&to->addr, addr_len(&to->addr));
        metrics_add(w < 0 ? net->m_drops : net->m_out, 1);
        if (w < 0)
            return -errno;
        observe(h, since_us);
        return 0;
    }
    int i = net->nout++;
    net->ohist[i] = since_us > 0 ? h : NULL;
    net->ostamp[i] = since_us;
    net->oto[i] = to->addr;
    net->oiov[i] = (struct iovec){b, n};
    net->omsgs[i].msg_hdr = (struct msghdr){
        .msg_name = &net->oto[i],
        .msg_namelen = addr_len(&to->addr),
        .msg_iov = &net->oiov[i],
        .msg_iovlen = 1,
    };
    if (net->nout == OUT_BATCH)
        rtc_net_flush(net);
    return 0;
}

/* A datagram the kernel refuses (a port unreachable reported back on loopback, say) is dropped
 * and the rest of the batch still goes; a full socket buffer drops the rest, like sendto. */
void rtc_net_flush(struct rtc_net *net)
{
    int i = 0, n = net->nout;
    net->nout = 0;
    while (i < n) {
        int r =
            sendmmsg(net->udp_fd, net->omsgs + i, (unsigned)(n - i), MSG_DONTWAIT | MSG_NOSIGNAL);
        metrics_add(net->m_batches, 1);
        if (r > 0) {
            metrics_add(net->m_out, r);
            /* The forwarding delay of each measured datagram this call sent: one clock read. */
            int64_t now = 0;
            for (int k = i; k < i + r; k++) {
                if (!net->ohist[k])
                    continue;
                now = now ? now : clock_mono_us();
                metrics_observe(net->ohist[k], (double)(now - net->ostamp[k]) / 1e6);
            }
            i += r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
            metrics_add(net->m_drops, n - i);
            break;
        }
        metrics_add(net->m_drops, 1);
        i++;
    }
}

void rtc_net_tcp_validate(struct rtc_net *net, uint32_t tcp_id)
{
    struct tcp_conn *c = conn_by_id(net, tcp_id);
    if (c)
        c->validated = true;
}

void rtc_net_tcp_close(struct rtc_net *net, uint32_t tcp_id)
{
    struct tcp_conn *c = conn_by_id(net, tcp_id);
    if (c)
        conn_free(net, c);
}

bool rtc_path_equal(const struct rtc_path *a, const struct rtc_path *b)
{
    if (a->tcp_id != b->tcp_id || a->addr.ss_family != b->addr.ss_family)
        return false;
    if (a->addr.ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)&a->addr, *y = (const void *)&b->addr;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->addr.ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)&a->addr, *y = (const void *)&b->addr;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return false;
}

/* FNV-1a over the fields rtc_path_equal compares, mixed with the seed. */
uint64_t rtc_path_hash(const struct rtc_path *p, uint64_t seed)
{
    uint8_t key[4 + 2 + 16];
    size_t n = 0;
    memcpy(key, &p->tcp_id, 4);
    n = 4;
    if (p->addr.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)&p->addr;
        memcpy(key + n, &a->sin_port, 2);
        memcpy(key + n + 2, &a->sin_addr, 4);
        n += 6;
    } else if (p->addr.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)&p->addr;
        memcpy(key + n, &a->sin6_port, 2);
        memcpy(key + n + 2, &a->sin6_addr, 16);
        n += 18;
    }
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= key[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}
