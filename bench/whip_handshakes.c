/* bench/whip_handshakes: N WHIP sessions against one kibitka, each a POST of our own offer (our
 * ufrag, password and certificate fingerprint) and then, all at once, ICE (a STUN binding
 * request with USE-CANDIDATE, as a controlling full agent sends to our ICE-lite server) and a
 * DTLS 1.2 client handshake (rtc/dtls.h, the server's code in the client role) on one UDP socket
 * per session. Prints handshakes per second (wall time from the first check to the last
 * connected), kibitka's CPU per handshake and its RSS per session (before the POSTs / after
 * every session connected). Used by bench/whip_handshakes.sh.
 *   bench_whip_handshakes HTTP_PORT RTC_PORT N KIBITKA_PID */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "bench/ice_client.h"
#include "core/clock.h"
#include "rtc/dtls.h"
#include "rtc/stun.h"

struct sess {
    int fd;
    char ufrag[16], pwd[40];          /* ours */
    char rufrag[64], rpwd[128];       /* the server's, from the answer */
    struct rtc_dtls *dtls;
    int64_t t_check, t_done, t_next_check;
    bool done, failed;
};

static struct rtc_dtls_ctx *ctx;
static struct rtc_dtls_fingerprint server_fp;

static long proc_field(int pid, const char *file, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
    FILE *f = fopen(path, "r");
    long v = -1;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, key, strlen(key)))
            v = atol(line + strlen(key));
    if (f)
        fclose(f);
    return v;
}

static long cpu_ticks(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(buf, sizeof(buf), f)) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    char *p = strrchr(buf, ')');
    long ut = 0, st = 0;
    /* after ") ": state(3) ... utime is field 14, stime 15 */
    int field = 2;
    for (char *t = strtok(p + 1, " "); t; t = strtok(NULL, " ")) {
        field++;
        if (field == 14)
            ut = atol(t);
        if (field == 15) {
            st = atol(t);
            break;
        }
    }
    return ut + st;
}

static void rand_chars(char *out, int n)
{
    static const char a[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    uint8_t r[64];
    RAND_bytes(r, n);
    for (int i = 0; i < n; i++)
        out[i] = a[r[i] % 62];
    out[n] = '\0';
}

/* POST /whip with our offer; fills the server's ufrag/pwd/fingerprint. */
static int post_offer(int http_port, int i, struct sess *s)
{
    char offer[2048], req[4096], resp[16384];
    rand_chars(s->ufrag, 8);
    rand_chars(s->pwd, 24);
    int ol = snprintf(offer, sizeof(offer),
        "v=0\r\no=- %d 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
        "a=msid-semantic: WMS *\r\na=fingerprint:%s\r\na=ice-ufrag:%s\r\na=ice-pwd:%s\r\n"
        "a=ice-options:trickle\r\na=setup:actpass\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 102\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n"
        "a=rtcp-mux\r\na=rtpmap:102 H264/90000\r\na=rtcp-fb:102 nack\r\na=rtcp-fb:102 nack pli\r\n"
        "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n",
        1000 + i, rtc_dtls_ctx_fingerprint(ctx), s->ufrag, s->pwd);
    int rl = snprintf(req, sizeof(req),
        "POST /whip HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/sdp\r\n"
        "Authorization: Bearer hs%d\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
        i, ol, offer);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)http_port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || write(fd, req, (size_t)rl) != rl) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    ssize_t k;
    while (got < sizeof(resp) - 1 && (k = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
        got += (size_t)k;
    close(fd);
    resp[got] = '\0';
    if (strncmp(resp, "HTTP/1.1 201", 12) != 0) {
        fprintf(stderr, "session %d: %.200s\n", i, resp);
        return -1;
    }
    char fp[256];
    if (!bench_sdp_attr(resp, "a=ice-ufrag:", s->rufrag, sizeof(s->rufrag)) ||
        !bench_sdp_attr(resp, "a=ice-pwd:", s->rpwd, sizeof(s->rpwd)) ||
        !bench_sdp_attr(resp, "a=fingerprint:", fp, sizeof(fp)) ||
        rtc_dtls_fingerprint_parse(fp, &server_fp) < 0) {
        fprintf(stderr, "session %d: no ufrag/pwd/fingerprint in the answer\n", i);
        return -1;
    }
    return 0;
}

static void dtls_send(void *opaque, const uint8_t *data, size_t len)
{
    struct sess *s = opaque;
    (void)!send(s->fd, data, len, 0);
}

static void send_check(struct sess *s, int64_t now)
{
    bench_ice_check(s->fd, s->rufrag, s->ufrag, s->rpwd);
    if (!s->t_check)
        s->t_check = now;
    s->t_next_check = now + 500000;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s HTTP_PORT RTC_PORT N KIBITKA_PID\n", argv[0]);
        return 2;
    }
    int http_port = atoi(argv[1]), rtc_port = atoi(argv[2]), n = atoi(argv[3]), pid = atoi(argv[4]);
    if (rtc_dtls_ctx_create(&ctx, NULL) < 0)
        return 1;
    struct sess *ss = calloc((size_t)n, sizeof(*ss));
    long rss0 = proc_field(pid, "status", "VmRSS:");
    int64_t tp0 = clock_mono_us();
    for (int i = 0; i < n; i++)
        if (post_offer(http_port, i, &ss[i]) < 0)
            return 1;
    int64_t tp1 = clock_mono_us();
    long rss_posted = proc_field(pid, "status", "VmRSS:");

    int ep = epoll_create1(0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)rtc_port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    for (int i = 0; i < n; i++) {
        ss[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (ss[i].fd < 0 || connect(ss[i].fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
            perror("udp socket");
            return 1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &ss[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, ss[i].fd, &ev);
    }
    long cpu0 = cpu_ticks(pid);
    int64_t t0 = clock_mono_us();
    for (int i = 0; i < n; i++)
        send_check(&ss[i], clock_mono_us());
    int done = 0, failed = 0;
    int64_t deadline = t0 + 90 * 1000000LL;
    uint8_t buf[2048];
    while (done + failed < n && clock_mono_us() < deadline) {
        struct epoll_event evs[64];
        int k = epoll_wait(ep, evs, 64, 10);
        int64_t now = clock_mono_us();
        for (int e = 0; e < k; e++) {
            struct sess *s = evs[e].data.ptr;
            ssize_t len;
            while ((len = recv(s->fd, buf, sizeof(buf), 0)) > 0) {
                enum rtc_pkt_kind kind = rtc_classify(buf, (size_t)len);
                if (kind == RTC_PKT_STUN && !s->dtls) {
                    struct stun_msg m;
                    if (stun_parse(buf, (size_t)len, &m) == 0 && m.cls == STUN_CLASS_SUCCESS) {
                        s->dtls = rtc_dtls_create(ctx, RTC_DTLS_CLIENT, &server_fp, dtls_send, s, now);
                        rtc_dtls_start(s->dtls, now);
                    }
                } else if (kind == RTC_PKT_DTLS && s->dtls && !s->done && !s->failed) {
                    rtc_dtls_feed(s->dtls, buf, (size_t)len, now);
                    enum rtc_dtls_state st = rtc_dtls_state(s->dtls);
                    if (st == RTC_DTLS_CONNECTED) {
                        s->done = true;
                        s->t_done = now;
                        done++;
                    } else if (st != RTC_DTLS_HANDSHAKING) {
                        s->failed = true;
                        failed++;
                        fprintf(stderr, "DTLS failed: %s\n", rtc_dtls_reason(s->dtls));
                    }
                }
            }
        }
        for (int i = 0; i < n; i++) { /* timers: STUN and DTLS retransmissions */
            struct sess *s = &ss[i];
            if (s->done || s->failed)
                continue;
            if (!s->dtls && now >= s->t_next_check)
                send_check(s, now);
            else if (s->dtls && rtc_dtls_next_timeout_us(s->dtls, now) == 0)
                rtc_dtls_on_timeout(s->dtls, now);
        }
    }
    int64_t t1 = clock_mono_us();
    long cpu1 = cpu_ticks(pid);
    long rss1 = proc_field(pid, "status", "VmRSS:");
    int64_t *lat = calloc((size_t)n, sizeof(*lat));
    int nl = 0;
    int64_t last = t0;
    for (int i = 0; i < n; i++)
        if (ss[i].done) {
            lat[nl++] = ss[i].t_done - ss[i].t_check;
            if (ss[i].t_done > last)
                last = ss[i].t_done;
        }
    qsort(lat, (size_t)nl, sizeof(*lat), cmp64);
    long tck = sysconf(_SC_CLK_TCK);
    printf("sessions: %d POSTed in %.2f s (%.0f offers/s)\n", n, (tp1 - tp0) / 1e6,
           n / ((tp1 - tp0) / 1e6));
    printf("ICE + DTLS handshakes: %d connected, %d failed, %d unfinished, in %.2f s: %.0f handshakes/s\n",
           done, failed, n - done - failed, (last - t0) / 1e6, done / ((last - t0) / 1e6));
    if (nl)
        printf("  time from first check to connected: median %.0f ms, p90 %.0f ms, max %.0f ms\n",
               lat[nl / 2] / 1e3, lat[nl * 9 / 10] / 1e3, lat[nl - 1] / 1e3);
    printf("kibitka CPU during the handshakes: %.2f s (%.2f ms per handshake)\n",
           (double)(cpu1 - cpu0) / (double)tck, done ? (double)(cpu1 - cpu0) / (double)tck * 1e3 / done : 0);
    printf("kibitka RSS: %ld KiB before, %ld after the POSTs, %ld with %d connected: %.1f KiB per "
           "session (%.1f KiB of it after the POST)\n",
           rss0, rss_posted, rss1, done, (double)(rss1 - rss0) / n, (double)(rss_posted - rss0) / n);
    (void)t1;
    for (int i = 0; i < n; i++) {
        rtc_dtls_destroy(&ss[i].dtls);
        close(ss[i].fd);
    }
    rtc_dtls_ctx_destroy(&ctx);
    return done == n ? 0 : 1;
}
