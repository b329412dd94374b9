/* The WebRTC port's sockets (rtc/net.c): UDP datagrams in and out, ICE-TCP frames (RFC 4571)
 * split and coalesced across reads, a frame over 1500 bytes dropped, the connection cap, the
 * validation deadline (the sweep is called with the deadline moved into the past: including
 * net.c reaches it without waiting 10 s), and a close from inside the packet callback; the
 * send queue (sendmmsg batches of 64, a refused datagram dropped alone, direct sends outside
 * a read callback). */
#include "rtc/net.c"

#include <arpa/inet.h>
#include <poll.h>

#include "test.h"

struct seen {
    int packets, closed;
    uint8_t last[2048];
    size_t last_len;
    struct rtc_path last_from;
    bool echo, close_in_cb;
    int burst; /* send this many datagrams back through the queue from the callback */
    struct rtc_net *net;
};

static void on_packet(void *opaque, const struct rtc_path *from, uint8_t *p, size_t n)
{
    struct seen *s = opaque;
    s->packets++;
    memcpy(s->last, p, n);
    s->last_len = n;
    s->last_from = *from;
    if (s->echo)
        rtc_net_send(s->net, from, p, n);
    if (s->close_in_cb && from->tcp_id)
        rtc_net_tcp_close(s->net, from->tcp_id);
    for (int k = 0; k < s->burst; k++) {
        size_t cap;
        uint8_t *b = rtc_net_send_buf(s->net, &cap);
        CHECK(cap >= RTC_NET_MAX_DATAGRAM);
        b[0] = (uint8_t)k;
        b[1] = 0x55;
        /* the 51st goes to an address the IPv4 socket cannot take: dropped alone */
        struct rtc_path bad = {.tcp_id = 0};
        bad.addr.ss_family = AF_INET6;
        CHECK_EQ_INT(rtc_net_send_commit(s->net, k == 50 ? &bad : from, 2), 0);
    }
    s->burst = 0;
}

static void on_closed(void *opaque, const struct rtc_path *path)
{
    ((struct seen *)opaque)->closed++;
}

static const struct rtc_net_ops ops = {.packet = on_packet, .tcp_closed = on_closed};

struct wait {
    struct seen *s;
    int packets;
    int64_t deadline;
};

static void poll_cb(struct loop *loop, void *o)
{
    struct wait *w = o;
    if (w->s->packets >= w->packets || clock_mono_us() > w->deadline)
        loop_stop(loop);
}

/* Runs the loop until s has seen `packets` packets; at most 5 s. */
static bool run_until(struct loop *loop, struct seen *s, int packets)
{
    struct wait w = {s, packets, clock_mono_us() + 5000000};
    struct loop_timer *t = loop_timer_add(loop, 2, true, poll_cb, &w);
    loop_run(loop);
    loop_timer_cancel(loop, t);
    return s->packets >= packets;
}

/* Runs the loop for about ms milliseconds. */
static void run_for(struct loop *loop, int ms)
{
    struct seen none = {0};
    struct wait w = {&none, 1, clock_mono_us() + (int64_t)ms * 1000};
    struct loop_timer *t = loop_timer_add(loop, 2, true, poll_cb, &w);
    loop_run(loop);
    loop_timer_cancel(loop, t);
}

static struct sockaddr_in local(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    return a;
}

static bool readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 1;
}

static void test_udp(struct loop *loop, struct rtc_net *net, struct seen *s, int port)
{
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = local(port);
    s->echo = true;
    const char msg[] = "\x00\x01 a STUN-looking datagram";
    sendto(c, msg, sizeof(msg), 0, (struct sockaddr *)&to, sizeof(to));
    CHECK(run_until(loop, s, 1));
    CHECK_EQ_INT(s->last_len, sizeof(msg));
    CHECK(memcmp(s->last, msg, sizeof(msg)) == 0);
    CHECK_EQ_INT(s->last_from.tcp_id, 0);
    char back[64];
    CHECK(readable(c, 2000));
    CHECK_EQ_INT(recv(c, back, sizeof(back), MSG_DONTWAIT), sizeof(msg));

    /* Over 1500 bytes: dropped and counted, never handed on. */
    uint8_t big[1600] = {0};
    sendto(c, big, sizeof(big), 0, (struct sockaddr *)&to, sizeof(to));
    sendto(c, msg, 3, 0, (struct sockaddr *)&to, sizeof(to));
    CHECK(run_until(loop, s, 2));
    CHECK_EQ_INT(s->last_len, 3);
    CHECK_EQ_INT(metrics_get(net->m_oversize), 1);
    s->echo = false;
    close(c);
}

/* Datagrams written in place from inside the read callback go out in batches of 64 by sendmmsg
 * after the read batch; a datagram the kernel refuses is dropped and the rest still go, in
 * order; outside a callback a commit sends at once. */
static void test_send_queue(struct loop *loop, struct rtc_net *net, struct seen *s, int port)
{
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = local(port);
    int64_t batches = metrics_get(net->m_batches), drops = metrics_get(net->m_drops);
    s->burst = 100;
    int before = s->packets;
    sendto(c, "x", 1, 0, (struct sockaddr *)&to, sizeof(to));
    CHECK(run_until(loop, s, before + 1));
    int got = 0, last = -1;
    bool in_order = true;
    uint8_t b[64];
    while (readable(c, 1000) && got < 99) {
        ssize_t r = recv(c, b, sizeof(b), MSG_DONTWAIT);
        if (r != 2)
            break;
        in_order = in_order && b[0] > last && b[0] != 50 && b[1] == 0x55;
        last = b[0];
        got++;
    }
    CHECK_EQ_INT(got, 99);
    CHECK(in_order);
    CHECK_EQ_INT(metrics_get(net->m_drops), drops + 1);
    /* 64 (50 sent, the refused one, 13 more: 3 calls) + 36 (1 call) */
    CHECK_EQ_INT(metrics_get(net->m_batches), batches + 4);
    CHECK_EQ_INT(net->nout, 0);

    /* Outside a read callback: at once, no batch. */
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    getsockname(c, (struct sockaddr *)&ss, &len);
    struct rtc_path back = {.addr = ss};
    struct sockaddr_in *sin = (struct sockaddr_in *)&back.addr;
    inet_pton(AF_INET, "127.0.0.1", &sin->sin_addr);
    size_t cap;
    uint8_t *p = rtc_net_send_buf(net, &cap);
    memcpy(p, "ok", 2);
    CHECK_EQ_INT(rtc_net_send_commit(net, &back, 2), 0);
    CHECK_EQ_INT(net->nout, 0);
    CHECK(readable(c, 1000));
    CHECK_EQ_INT(recv(c, b, sizeof(b), MSG_DONTWAIT), 2);
    CHECK_EQ_INT(metrics_get(net->m_batches), batches + 4);
    close(c);
}

static int tcp_connect(int port)
{
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = local(port);
    CHECK_EQ_INT(connect(c, (struct sockaddr *)&to, sizeof(to)), 0);
    return c;
}

static void test_tcp_frames(struct loop *loop, struct rtc_net *net, struct seen *s, int port)
{
    int c = tcp_connect(port);
    s->packets = 0;
    s->echo = true;
    /* Two frames in one write, then a third split inside its length field. */
    const uint8_t two[] = {0, 3, 'a', 'b', 'c', 0, 2, 'd', 'e', 0};
    CHECK_EQ_INT(write(c, two, sizeof(two)), sizeof(two));
    CHECK(run_until(loop, s, 2));
    CHECK_EQ_INT(s->last_len, 2);
    CHECK(memcmp(s->last, "de", 2) == 0);
    CHECK(s->last_from.tcp_id != 0);
    const uint8_t rest[] = {4, 'f', 'g', 'h', 'i'};
    CHECK_EQ_INT(write(c, rest, sizeof(rest)), sizeof(rest));
    CHECK(run_until(loop, s, 3));
    CHECK_EQ_INT(s->last_len, 4);
    CHECK(memcmp(s->last, "fghi", 4) == 0);
    /* The echoes come back framed. */
    uint8_t back[64];
    size_t got = 0;
    while (got < 5 + 4 + 6 && readable(c, 2000)) {
        ssize_t r = read(c, back + got, sizeof(back) - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    CHECK_EQ_INT(got, 15);
    CHECK(memcmp(back, two, 9) == 0 && back[9] == 0 && back[10] == 4);
    s->echo = false;

    /* A 2000-byte frame is read past and dropped; the next one still arrives. */
    int64_t over = metrics_get(net->m_oversize);
    uint8_t big[2 + 2000 + 3] = {2000 >> 8, 2000 & 0xff};
    big[2002] = 0;
    big[2003] = 1;
    big[2004] = 'z';
    CHECK_EQ_INT(write(c, big, sizeof(big)), sizeof(big));
    CHECK(run_until(loop, s, 4));
    CHECK_EQ_INT(s->last_len, 1);
    CHECK_EQ_INT(metrics_get(net->m_oversize), over + 1);

    /* Closed from inside the packet callback: no use after free, no tcp_closed call. */
    s->close_in_cb = true;
    int closed = s->closed;
    const uint8_t one[] = {0, 1, 'x', 0, 1, 'y'};
    CHECK_EQ_INT(write(c, one, sizeof(one)), sizeof(one));
    CHECK(run_until(loop, s, 5));
    run_for(loop, 50);
    CHECK_EQ_INT(s->packets, 5); /* 'y' was after the close */
    CHECK_EQ_INT(s->closed, closed);
    CHECK(readable(c, 2000));
    CHECK_EQ_INT(read(c, back, sizeof(back)), 0);
    s->close_in_cb = false;
    close(c);
}

static void test_tcp_cap_and_deadline(struct loop *loop, struct rtc_net *net, struct seen *s,
                                      int port)
{
    int a = tcp_connect(port), b = tcp_connect(port), c = tcp_connect(port);
    run_for(loop, 100);
    CHECK_EQ_INT(net->ntcp, 2); /* max_tcp = 2: the third was refused */
    CHECK_EQ_INT(metrics_get(net->m_tcp_refused), 1);
    CHECK(readable(c, 2000));
    char x;
    CHECK(read(c, &x, 1) <= 0);

    /* Validate one; move both deadlines into the past; the sweep closes only the other. */
    uint32_t ids[2] = {0, 0};
    int k = 0;
    for (int i = 0; i < net->max_tcp; i++)
        if (net->conns[i])
            ids[k++] = net->conns[i]->id;
    rtc_net_tcp_validate(net, ids[0]);
    for (int i = 0; i < net->max_tcp; i++)
        if (net->conns[i])
            net->conns[i]->deadline_us = 0;
    int closed = s->closed;
    sweep_cb(loop, net);
    CHECK_EQ_INT(net->ntcp, 1);
    CHECK_EQ_INT(s->closed, closed + 1);
    CHECK_EQ_INT(metrics_get(net->m_tcp_timeouts), 1);
    CHECK(conn_by_id(net, ids[0]) != NULL);
    CHECK(conn_by_id(net, ids[1]) == NULL);
    /* A stale id never reaches a new connection in the same slot. */
    CHECK_EQ_INT(rtc_net_send(net, &(struct rtc_path){.tcp_id = ids[1]}, (uint8_t *)"q", 1),
                 -ENOTCONN);
    close(a);
    close(b);
    close(c);
    run_for(loop, 100);
    CHECK_EQ_INT(net->ntcp, 0);
}

static void test_path(void)
{
    struct rtc_path a = {0}, b = {0};
    struct sockaddr_in x = local(5000);
    memcpy(&a.addr, &x, sizeof(x));
    memcpy(&b.addr, &x, sizeof(x));
    CHECK(rtc_path_equal(&a, &b));
    CHECK(rtc_path_hash(&a, 7) == rtc_path_hash(&b, 7));
    b.tcp_id = 65537;
    CHECK(!rtc_path_equal(&a, &b));
    b.tcp_id = 0;
    ((struct sockaddr_in *)&b.addr)->sin_port = htons(5001);
    CHECK(!rtc_path_equal(&a, &b));
    CHECK(rtc_path_hash(&a, 7) != rtc_path_hash(&b, 7));
}

int main(void)
{
    int ufd, tfd;
    CHECK_EQ_INT(rtc_net_open("no-such-address", true, &ufd, &tfd), -EINVAL);
    CHECK(ufd == -1 && tfd == -1);
    CHECK_EQ_INT(rtc_net_open("127.0.0.1:0", true, &ufd, &tfd), 0);
    struct loop *loop = loop_create();
    struct metrics *m = metrics_create();
    struct seen s = {0};
    struct rtc_net_config cfg = {.udp_fd = ufd, .tcp_fd = tfd, .max_tcp = 2, .metrics = m};
    struct rtc_net *net = rtc_net_create(loop, &cfg, &ops, &s);
    s.net = net;
    int port = rtc_net_port(net);
    CHECK(port > 0);
    CHECK_EQ_INT(net_local_port(tfd), port); /* ICE-TCP on the same port number */
    test_udp(loop, net, &s, port);
    test_send_queue(loop, net, &s, port);
    test_tcp_frames(loop, net, &s, port);
    test_tcp_cap_and_deadline(loop, net, &s, port);
    test_path();
    rtc_net_destroy(&net);
    CHECK(net == NULL);
    loop_destroy(&loop);
    metrics_destroy(&m);
    return test_report("rtc_net");
}
