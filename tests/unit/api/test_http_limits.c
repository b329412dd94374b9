/* api/http_limits.c: the per-address cap (IPv4, IPv4-mapped, IPv6 by /64), the request deadline
 * (shutdown of the socket at the deadline, once; none while a request is being answered; a new
 * one after each response), and the HTTP share of the descriptor limit. */
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/http_limits.h"
#include "test.h"

static struct sockaddr_storage v4(const char *ip)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    inet_pton(AF_INET, ip, &a->sin_addr);
    return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    inet_pton(AF_INET6, ip, &a->sin6_addr);
    return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))
#define S 1000000 /* microseconds */

static void test_sizing(void)
{
    long reserve;
    bool tight;
    /* The default soft limit with the default 1000 RTMP connections: too small. */
    CHECK_EQ_INT(http_limits_max_connections(1024, 1000, 0, &reserve, &tight), 256);
    CHECK_EQ_INT(reserve, 2064);
    CHECK(tight);
    /* A raised limit: HTTP gets the rest, at most 16384 unless asked for more. */
    CHECK_EQ_INT(http_limits_max_connections(1048576, 1000, 0, &reserve, &tight), 16384);
    CHECK(!tight);
    CHECK_EQ_INT(http_limits_max_connections(1048576, 1000, 50000, &reserve, &tight), 50000);
    CHECK_EQ_INT(http_limits_max_connections(512, 20, 0, &reserve, &tight), 408);
    CHECK_EQ_INT(reserve, 104);
    CHECK(!tight);
    CHECK_EQ_INT(http_limits_max_connections(512, 20, 100, &reserve, &tight), 100);
    /* Asking for more than the limit leaves: what it leaves. */
    CHECK_EQ_INT(http_limits_max_connections(512, 20, 1000, &reserve, &tight), 408);
    CHECK(!tight);
    CHECK_EQ_INT(http_limits_max_connections(100, 20, 0, &reserve, &tight), 25);
    CHECK(tight);
    CHECK_EQ_INT(http_limits_max_connections(32, 20, 0, &reserve, &tight), 16);
}

static void test_per_address(void)
{
    struct metrics *m = metrics_create();
    struct http_limits_config cfg = {.max_per_address = 2, .request_timeout_s = 10, .metrics = m};
    struct http_limits *l = http_limits_create(&cfg);
    struct sockaddr_storage a = v4("192.0.2.1"), b = v4("192.0.2.2");
    struct sockaddr_storage a6 = v6("::ffff:192.0.2.1");
    struct sockaddr_storage p1 = v6("2001:db8:1:2::1"), p2 = v6("2001:db8:1:2:ffff::9");
    struct sockaddr_storage q = v6("2001:db8:1:3::1");
    CHECK(http_limits_admit(l, SA(a)));
    struct http_conn *c1 = http_limits_open(l, -1, SA(a), 0);
    CHECK(http_limits_admit(l, SA(a)));
    struct http_conn *c2 = http_limits_open(l, -1, SA(a6), 0); /* the same address, mapped */
    CHECK(!http_limits_admit(l, SA(a)));
    CHECK(!http_limits_admit(l, SA(a6)));
    CHECK(http_limits_admit(l, SA(b)));
    CHECK_EQ_INT(metrics_value(m, "kibitka_http_connections_refused_total", "per_address_limit"),
                 2);
    CHECK_EQ_INT(metrics_value(m, "kibitka_http_connections", NULL), 2);
    http_limits_close(l, c1);
    CHECK(http_limits_admit(l, SA(a)));
    CHECK_EQ_INT(metrics_value(m, "kibitka_http_connections", NULL), 1);

    /* IPv6: one /64 is one address. */
    struct http_conn *d1 = http_limits_open(l, -1, SA(p1), 0);
    struct http_conn *d2 = http_limits_open(l, -1, SA(p2), 0);
    CHECK(!http_limits_admit(l, SA(p1)));
    CHECK(http_limits_admit(l, SA(q)));
    http_limits_close(l, d1);
    http_limits_close(l, d2);
    CHECK(http_limits_admit(l, SA(p2)));
    http_limits_close(l, c2);
    CHECK_EQ_INT(metrics_value(m, "kibitka_http_connections", NULL), 0);
    http_limits_destroy(&l);
    CHECK(l == NULL);

    /* 0: no limit. */
    cfg.max_per_address = 0;
    l = http_limits_create(&cfg);
    struct http_conn *cs[50];
    for (int i = 0; i < 50; i++)
        cs[i] = http_limits_open(l, -1, SA(a), 0);
    CHECK(http_limits_admit(l, SA(a)));
    for (int i = 0; i < 50; i++)
        http_limits_close(l, cs[i]);
    http_limits_destroy(&l);
    metrics_destroy(&m);
}

/* True when the peer of fd sees the end of the stream. */
static bool peer_sees_eof(int peer)
{
    char c;
    return recv(peer, &c, 1, MSG_DONTWAIT) == 0;
}

static void test_deadline(void)
{
    struct metrics *m = metrics_create();
    struct http_limits_config cfg = {.max_per_address = 0, .request_timeout_s = 1, .metrics = m};
    struct http_limits *l = http_limits_create(&cfg);
    struct sockaddr_storage a = v4("127.0.0.2");
    int sv[3][2];
    for (int i = 0; i < 3; i++)
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]) == 0);
    /* A slow client: connected at 0, never finishes its request. */
    struct http_conn *slow = http_limits_open(l, sv[0][0], SA(a), 0);
    /* A client whose request is in at 0.5 s and whose response takes until 3 s. */
    struct http_conn *kept = http_limits_open(l, sv[1][0], SA(a), (int64_t)(0.2 * S));
    /* A third connection, opened later. */
    struct http_conn *late = http_limits_open(l, sv[2][0], SA(a), (int64_t)(0.9 * S));
    http_limits_request_in(l, kept);
    CHECK_EQ_INT(http_limits_sweep(l, (int64_t)(0.99 * S)), 0);
    CHECK(!peer_sees_eof(sv[0][1]));
    CHECK_EQ_INT(http_limits_sweep(l, 1 * S), 1);
    CHECK(peer_sees_eof(sv[0][1]));
    CHECK(!peer_sees_eof(sv[1][1]));
    CHECK_EQ_INT(metrics_value(m, "kibitka_http_request_timeouts_total", NULL), 1);
    /* Once: it stays until MHD closes it, but is not shut down or counted again. */
    CHECK_EQ_INT(http_limits_sweep(l, 2 * S), 1); /* only "late" */
    CHECK(peer_sees_eof(sv[2][1]));
    CHECK_EQ_INT(http_limits_sweep(l, 100 * S), 0);
    CHECK_EQ_INT(metrics_value(m, "kibitka_http_request_timeouts_total", NULL), 2);
    /* A swept connection's request completing (MHD ends it) starts no new deadline. */
    http_limits_request_done(l, slow, 2 * S);
    CHECK_EQ_INT(http_limits_sweep(l, 100 * S), 0);
    /* Answered at 3 s: the next request must be in by 4 s. */
    CHECK_EQ_INT(http_limits_sweep(l, 3 * S), 0);
    http_limits_request_done(l, kept, 3 * S);
    CHECK_EQ_INT(http_limits_sweep(l, (int64_t)(3.5 * S)), 0);
    CHECK(!peer_sees_eof(sv[1][1]));
    http_limits_request_in(l, kept); /* a second request, in time */
    http_limits_request_done(l, kept, (int64_t)(3.7 * S));
    CHECK_EQ_INT(http_limits_sweep(l, (int64_t)(4.5 * S)), 0);
    CHECK_EQ_INT(http_limits_sweep(l, (int64_t)(4.7 * S)), 1);
    CHECK(peer_sees_eof(sv[1][1]));
    CHECK_EQ_INT(metrics_value(m, "kibitka_http_request_timeouts_total", NULL), 3);
    http_limits_close(l, slow);
    http_limits_close(l, kept);
    http_limits_close(l, late);
    CHECK_EQ_INT(metrics_value(m, "kibitka_http_connections", NULL), 0);
    http_limits_destroy(&l);
    for (int i = 0; i < 3; i++) {
        close(sv[i][0]);
        close(sv[i][1]);
    }
    metrics_destroy(&m);
}

/* A connection closed while it waits leaves the waiting list intact (first, middle, last). */
static void test_close_while_waiting(void)
{
    struct http_limits_config cfg = {.max_per_address = 0, .request_timeout_s = 1};
    struct http_limits *l = http_limits_create(&cfg);
    struct sockaddr_storage a = v4("127.0.0.3");
    int sv[4][2];
    struct http_conn *c[4];
    for (int i = 0; i < 4; i++) {
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]) == 0);
        c[i] = http_limits_open(l, sv[i][0], SA(a), i * S / 10);
    }
    http_limits_close(l, c[1]);
    http_limits_close(l, c[0]);
    http_limits_close(l, c[3]);
    CHECK_EQ_INT(http_limits_sweep(l, 10 * S), 1);
    CHECK(peer_sees_eof(sv[2][1]));
    http_limits_close(l, c[2]);
    CHECK_EQ_INT(http_limits_sweep(l, 20 * S), 0);
    http_limits_destroy(&l);
    for (int i = 0; i < 4; i++) {
        close(sv[i][0]);
        close(sv[i][1]);
    }
}

int main(void)
{
    test_sizing();
    test_per_address();
    test_deadline();
    test_close_while_waiting();
    return test_report("test_http_limits");
}
