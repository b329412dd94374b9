/* The RTMP server's idle sweep (issue 11 item 2): a connection with bytes waiting unread in its
 * socket is never closed as idle, however old its last progress (the network thread ran late,
 * not the peer); once they are read and still nothing comes, it is. Includes server.c to call
 * the sweep directly with a stale last_progress_us: a loop starved of CPU is not reproducible
 * on demand, its effect on the connection's state is. */
#include "ingest/rtmp/server.c"

#include <arpa/inet.h>
#include <sys/ioctl.h>

#include "test.h"

struct wait {
    bool (*done)(struct rtmp_server *srv);
    struct rtmp_server *srv;
    int64_t deadline_us;
    bool timed_out;
};

static void on_poll(struct loop *loop, void *o)
{
    struct wait *w = o;
    if (w->done(w->srv))
        loop_stop(loop);
    else if (clock_mono_us() > w->deadline_us) {
        w->timed_out = true;
        loop_stop(loop);
    }
}

/* Runs the loop until done(srv) (checked every 5 ms), at most 10 s. */
static bool run_until(struct loop *loop, struct rtmp_server *srv,
                      bool (*done)(struct rtmp_server *srv))
{
    struct wait w = {done, srv, clock_mono_us() + 10000000, false};
    struct loop_timer *t = loop_timer_add(loop, 5, true, on_poll, &w);
    loop_run(loop);
    loop_timer_cancel(loop, t);
    return !w.timed_out;
}

static bool one_conn(struct rtmp_server *srv)
{
    return srv->nconns == 1;
}

static bool drained(struct rtmp_server *srv)
{
    return srv->conns && unread_bytes(srv->conns) == 0 && srv->conns->last_read_us > 0;
}

static bool bytes_waiting(int fd, int want)
{
    for (int i = 0; i < 2000; i++) { /* loopback delivers at once; 10 s at most */
        int n = 0;
        if (ioctl(fd, FIONREAD, &n) == 0 && n >= want)
            return true;
        usleep(5000);
    }
    return false;
}

int main(void)
{
    struct sockaddr_storage addr;
    CHECK_EQ_INT(net_parse_addr("127.0.0.1:0", &addr), 0);
    int lfd = net_listen_tcp(&addr, 16);
    CHECK(lfd >= 0);
    struct metrics *m = metrics_create();
    struct loop *loop = loop_create();
    struct rtmp_server_config cfg = {
        .listen_fd = lfd,
        .idle_timeout = 1,
        .max_connections = 4,
        .metrics = m,
    };
    struct rtmp_server *srv = rtmp_server_create(loop, &cfg);
    CHECK(srv != NULL);

    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(rtmp_server_port(srv))};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    CHECK(connect(cfd, (struct sockaddr *)&to, sizeof(to)) == 0);
    CHECK(run_until(loop, srv, one_conn));
    struct conn *c = srv->conns;
    CHECK(c != NULL);

    /* C0 and part of C1, unread: the loop does not run between the write and the sweep. */
    uint8_t hello[100] = {3};
    CHECK(write(cfd, hello, sizeof(hello)) == (ssize_t)sizeof(hello));
    CHECK(bytes_waiting(c->fd, (int)sizeof(hello)));
    c->last_progress_us = clock_mono_us() - 5000000; /* as a starved loop leaves it */
    sweep_cb(loop, srv);
    CHECK_EQ_INT(srv->nconns, 1); /* the old sweep closed it as idle here */
    CHECK_EQ_INT(
        metrics_value(m, "kibitka_rtmp_closed_total", rtmp_close_reason_label(RTMP_CLOSE_IDLE)), 0);

    if (srv->nconns != 1) /* closed: c is gone */
        goto out;
    /* read (a partial handshake: no progress), then silence: idle after all */
    c->last_progress_us = clock_mono_us(); /* so that the sweep timer leaves it meanwhile */
    CHECK(run_until(loop, srv, drained));
    CHECK_EQ_INT(srv->nconns, 1);
    c->last_progress_us = clock_mono_us() - 5000000;
    sweep_cb(loop, srv);
    CHECK_EQ_INT(srv->nconns, 0);
    CHECK_EQ_INT(
        metrics_value(m, "kibitka_rtmp_closed_total", rtmp_close_reason_label(RTMP_CLOSE_IDLE)), 1);

out:
    rtmp_server_shutdown(srv);
    rtmp_server_destroy(&srv);
    loop_destroy(&loop);
    metrics_destroy(&m);
    close(cfd);
    return test_report("test_server_idle");
}
