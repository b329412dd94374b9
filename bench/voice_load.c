/* bench/voice_load: how many voice-room members one core of kibitka carries (issue 14). A light
 * load client in C in one process: rooms of ROOM members (default 50) with SPEAKERS (3) speaking
 * are added step by step (STEPS, total members) until the delay p99 passes LIMIT_MS (20).
 *
 * Each member is a WebSocket to kibitka's --ws (voice_load_ws.c, its own thread) and a WebRTC
 * session on one UDP socket here (this thread, epoll): ICE (binding requests with USE-CANDIDATE,
 * rtc/stun.h), the DTLS client handshake (rtc/dtls.h), SRTP (rtc/srtp.h, libsrtp2). A speaker
 * sends a 20 ms Opus packet (a valid TOC byte, then its send time on CLOCK_MONOTONIC in ns and
 * its number; the SFU never decodes) with the audio level at -10 dBov, the speakers' sends
 * spread over the 20 ms; every member decrypts what it receives and takes delay = now - stamp
 * (one process, one clock), twice: at our read (after decryption: includes this client's own
 * lag) and at the kernel's arrival on the member's socket (SO_TIMESTAMPNS: the server and the
 * loopback only). LIMIT_MS applies to the arrival p99 (CRITERION=read: to the read p99). An RTCP
 * RR and a consent check every 5 s per member.
 *
 * Per step, over MEASURE seconds after WARMUP: kibitka's forwarded packets/s (its counter), its
 * CPU (/proc/PID/stat) and µs per forwarded packet, this client's CPU, the delays, the server's
 * own kibitka_voice_forward_delay_seconds p50/p99 when /metrics has it, the run-queue wait of
 * both processes (a shared machine's share of the delay) and UDP receive-buffer drops.
 *   bench_voice_load HTTP_PORT WS_PORT RTC_PORT KIBITKA_PID ADMIN_TOKEN
 *   env: STEPS=50,100,200 ROOM=50 SPEAKERS=3 WARMUP=2 MEASURE=8 LIMIT_MS=20 BUDGET=200
 *        CRITERION=arrival|read */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "bench/ice_client.h"
#include "bench/voice_load.h"
#include "core/clock.h"
#include "rtc/rtcp.h"
#include "rtc/rtp.h"
#include "rtc/srtp.h"
#include "rtc/stun.h"

#define BIN_NS 10000 /* delay histogram: 10 µs bins up to 1 s */
#define NBINS 100000
#define PAYLOAD_LEN 70
#define OPUS_TOC 0x78 /* config 15 (hybrid, fullband, 20 ms), mono, one frame */

static struct vl_shared sh;
static struct rtc_dtls_ctx *dctx;
static int rtc_port, kpid;
/* delays at our read (after decryption) and at the kernel's arrival (SO_TIMESTAMPNS) */
static uint32_t bins[NBINS + 1], abins[NBINS + 1];
static uint64_t rx_packets, rx_bad, tx_packets;
static struct vl_member *speakers[VL_MAX_MEMBERS];
static int nspeakers;

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long cpu_ticks(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    long ut = 0, st = 0;
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st) != 2)
        return -1;
    return ut + st;
}

/* Nanoseconds the process' threads waited on a run queue (/proc/PID/task/N/schedstat, field 2):
 * on a shared machine, the part of the delay that is someone else's CPU. */
static long long runq_wait_ns(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    DIR *d = opendir(path);
    long long sum = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char p2[320];
        snprintf(p2, sizeof(p2), "/proc/%d/task/%s/schedstat", pid, e->d_name);
        FILE *f = fopen(p2, "r");
        long long run, wait;
        if (f && fscanf(f, "%lld %lld", &run, &wait) == 2)
            sum += wait;
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return sum;
}

/* Every thread of pid: its CPU ticks and run-queue wait, to find the busiest one (kibitka's
 * network loop, where the forwarding runs) over a window. */
struct threads {
    int n;
    int tid[128];
    long run_us[128]; /* on the CPU (schedstat field 1) */
    long long wait[128];
};

static void threads_read(int pid, struct threads *t)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    DIR *d = opendir(path);
    t->n = 0;
    for (struct dirent *e; d && (e = readdir(d)) && t->n < 128;) {
        if (e->d_name[0] == '.')
            continue;
        char p2[320];
        int tid = atoi(e->d_name);
        snprintf(p2, sizeof(p2), "/proc/%d/task/%d/schedstat", pid, tid);
        FILE *f = fopen(p2, "r");
        long long run, wait;
        if (!f || fscanf(f, "%lld %lld", &run, &wait) != 2) {
            if (f)
                fclose(f);
            continue;
        }
        fclose(f);
        t->tid[t->n] = tid;
        t->wait[t->n] = wait;
        t->run_us[t->n] = run / 1000;
        t->n++;
    }
    if (d)
        closedir(d);
}

/* The thread with the most CPU between a and b: its cores and its wait (ms per s). */
static void busiest(const struct threads *a, const struct threads *b, double secs, double *cores,
                    double *wait_ms)
{
    *cores = *wait_ms = 0;
    for (int j = 0; j < b->n; j++)
        for (int i = 0; i < a->n; i++)
            if (a->tid[i] == b->tid[j] && (b->run_us[j] - a->run_us[i]) / 1e6 / secs > *cores) {
                *cores = (double)(b->run_us[j] - a->run_us[i]) / 1e6 / secs;
                *wait_ms = (double)(b->wait[j] - a->wait[i]) / 1e6 / secs;
            }
}

/* UDP datagrams dropped for a full receive buffer, machine-wide (/proc/net/snmp RcvbufErrors). */
static long long udp_rcvbuf_errors(void)
{
    FILE *f = fopen("/proc/net/snmp", "r");
    char line[512];
    long long v = -1;
    int seen = 0;
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "Udp: ", 5) && ++seen == 2)
            sscanf(line + 5, "%*d %*d %*d %*d %lld", &v);
    if (f)
        fclose(f);
    return v;
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

static int env_int(const char *name, int def)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : def;
}

/* ---- media ---- */

static void fail(struct vl_member *m, const char *why)
{
    if (atomic_load(&m->state) != VL_FAILED)
        fprintf(stderr, "voice_load: member %d (%s): %s\n", m->idx, m->room, why);
    atomic_store(&m->state, VL_FAILED);
}

static void dtls_send(void *opaque, const uint8_t *data, size_t len)
{
    struct vl_member *m = opaque;
    (void)!send(m->fd, data, len, 0);
}

static void send_check(struct vl_member *m, int64_t now)
{
    bench_ice_check(m->fd, m->rufrag, m->ufrag, m->rpwd);
    m->next_check_us = now + (atomic_load(&m->state) == VL_MEDIA ? 5000000 : 500000);
}

static void start_ice(struct vl_member *m, int ep, int64_t now)
{
    m->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in src = {.sin_family = AF_INET},
                       dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)rtc_port)};
    inet_pton(AF_INET, m->src_ip, &src.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    if (m->fd < 0 || bind(m->fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
        connect(m->fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
        fail(m, strerror(errno));
        return;
    }
    int rcv = 1 << 20;
    setsockopt(m->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    int one = 1;
    setsockopt(m->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = m};
    epoll_ctl(ep, EPOLL_CTL_ADD, m->fd, &ev);
    atomic_store(&m->state, VL_ICE);
    m->next_rr_us = now + 5000000;
    send_check(m, now);
}

static void bin_add(uint32_t *h, int64_t delay_ns)
{
    int64_t bin = delay_ns / BIN_NS;
    h[bin < 0 ? 0 : bin > NBINS ? NBINS : bin]++;
}

/* arrival_ns: the kernel's receive time on CLOCK_MONOTONIC, 0 if unknown */
static void on_datagram(struct vl_member *m, uint8_t *buf, size_t len, int64_t now_us,
                        int64_t arrival_ns)
{
    enum rtc_pkt_kind kind = rtc_classify(buf, len);
    int st = atomic_load(&m->state);
    if (kind == RTC_PKT_RTP && st == VL_MEDIA) {
        int64_t t = now_ns();
        struct rtp_packet p;
        if (rtc_srtp_unprotect_rtp(m->srtp, buf, &len) < 0 || rtp_parse(buf, len, &p) < 0 ||
            p.payload_len < 13 || p.payload[0] != OPUS_TOC) {
            rx_bad++;
            return;
        }
        int64_t stamp;
        memcpy(&stamp, p.payload + 1, 8);
        bin_add(bins, t - stamp);
        if (arrival_ns)
            bin_add(abins, arrival_ns - stamp);
        rx_packets++;
    } else if (kind == RTC_PKT_STUN && st == VL_ICE) {
        struct stun_msg sm;
        if (stun_parse(buf, len, &sm) == 0 && sm.cls == STUN_CLASS_SUCCESS) {
            m->dtls = rtc_dtls_create(dctx, RTC_DTLS_CLIENT, &m->fp, dtls_send, m, now_us);
            atomic_store(&m->state, VL_DTLS);
            rtc_dtls_start(m->dtls, now_us);
        }
    } else if (kind == RTC_PKT_DTLS && st == VL_DTLS) {
        rtc_dtls_feed(m->dtls, buf, len, now_us);
        enum rtc_dtls_state ds = rtc_dtls_state(m->dtls);
        if (ds == RTC_DTLS_CONNECTED) {
            struct rtc_srtp_keys keys;
            if (rtc_dtls_srtp_keys(m->dtls, &keys) < 0 || rtc_srtp_create(&m->srtp, &keys, 1) < 0) {
                fail(m, "no SRTP keys");
                return;
            }
            atomic_store(&m->state, VL_MEDIA);
            m->next_check_us = now_us + 5000000;
        } else if (ds != RTC_DTLS_HANDSHAKING) {
            fail(m, rtc_dtls_reason(m->dtls));
        }
    }
}

static void speak(struct vl_member *m)
{
    uint8_t pkt[128 + RTC_SRTP_MAX_TRAILER] = {0};
    pkt[0] = 0x90; /* V=2, X */
    pkt[1] = 111;
    rtp_wr16(pkt + 2, m->seq++);
    rtp_wr32(pkt + 4, m->ts);
    m->ts += 960;
    rtp_wr32(pkt + 8, m->ssrc);
    pkt[12] = 0xBE, pkt[13] = 0xDE, pkt[14] = 0, pkt[15] = 1; /* one-byte elements, 1 word */
    pkt[16] = (uint8_t)(m->level_id << 4);                    /* length 1 */
    pkt[17] = 0x80 | 10;                                      /* voice, -10 dBov */
    uint8_t *pl = pkt + 20;
    pl[0] = OPUS_TOC;
    uint32_t id = (uint32_t)m->speaker;
    memcpy(pl + 9, &id, 4);
    int64_t t = now_ns();
    memcpy(pl + 1, &t, 8);
    size_t len = 20 + PAYLOAD_LEN;
    if (rtc_srtp_protect_rtp(m->srtp, pkt, &len, sizeof(pkt)) == 0 &&
        send(m->fd, pkt, len, 0) > 0) {
        m->sent++;
        tx_packets++;
    }
}

static void send_rr(struct vl_member *m)
{
    uint8_t buf[128];
    struct rtcp_writer w;
    rtcp_writer_init(&w, buf, sizeof(buf) - RTC_SRTP_MAX_TRAILER, false);
    if (rtcp_write_rr(&w, m->ssrc, NULL, 0) < 0 || rtcp_write_sdes_cname(&w, m->ssrc, "vl") < 0)
        return;
    size_t len = w.len;
    if (rtc_srtp_protect_rtcp(m->srtp, buf, &len, sizeof(buf)) == 0)
        (void)!send(m->fd, buf, len, 0);
}

/* Timers of every member: the ICE checks and DTLS retransmissions, consent and RR. */
static void housekeeping(int n, int ep, int64_t now)
{
    for (int i = 0; i < n; i++) {
        struct vl_member *m = &sh.m[i];
        int st = atomic_load(&m->state);
        if (st == VL_ANSWERED)
            start_ice(m, ep, now);
        else if (st == VL_ICE && now >= m->next_check_us)
            send_check(m, now);
        else if (st == VL_DTLS && rtc_dtls_next_timeout_us(m->dtls, now) == 0) {
            rtc_dtls_on_timeout(m->dtls, now);
            if (rtc_dtls_state(m->dtls) == RTC_DTLS_FAILED)
                fail(m, rtc_dtls_reason(m->dtls));
        } else if (st == VL_MEDIA) {
            if (now >= m->next_check_us)
                send_check(m, now);
            if (now >= m->next_rr_us) {
                send_rr(m);
                m->next_rr_us = now + 5000000;
            }
        }
    }
}

static void read_socket(struct vl_member *m)
{
    enum { B = 32 };
    static uint8_t bufs[B][1600];
    static uint8_t cbufs[B][64];
    struct mmsghdr msgs[B];
    struct iovec iov[B];
    for (;;) {
        for (int i = 0; i < B; i++) {
            iov[i] = (struct iovec){bufs[i], sizeof(bufs[i])};
            msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i],
                                                   .msg_iovlen = 1,
                                                   .msg_control = cbufs[i],
                                                   .msg_controllen = sizeof(cbufs[i])}};
        }
        int k = recvmmsg(m->fd, msgs, B, MSG_DONTWAIT, NULL);
        if (k <= 0)
            return;
        int64_t now = clock_mono_us();
        /* the kernel stamps on CLOCK_REALTIME: moved to CLOCK_MONOTONIC by the offset now */
        struct timespec rt;
        clock_gettime(CLOCK_REALTIME, &rt);
        int64_t off = rt.tv_sec * 1000000000LL + rt.tv_nsec - now_ns();
        for (int i = 0; i < k; i++) {
            int64_t arrival = 0;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c;
                 c = CMSG_NXTHDR(&msgs[i].msg_hdr, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                    struct timespec ts;
                    memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                    arrival = ts.tv_sec * 1000000000LL + ts.tv_nsec - off;
                }
            on_datagram(m, bufs[i], msgs[i].msg_len, now, arrival);
        }
        if (k < B)
            return;
    }
}

/* ---- measurement ---- */

static double pct_ms(const uint32_t *bins, double p)
{
    uint64_t total = 0, acc = 0;
    for (int i = 0; i <= NBINS; i++)
        total += bins[i];
    if (!total)
        return -1;
    uint64_t want = (uint64_t)(p * (double)total);
    for (int i = 0; i <= NBINS; i++) {
        acc += bins[i];
        if (acc > want)
            return (i + 0.5) * BIN_NS / 1e6;
    }
    return NBINS * BIN_NS / 1e6;
}

struct scrape {
    double forwarded;
    int nb;
    double le[64], count[64]; /* the server's delay histogram, cumulative, by le */
};

static void scrape(struct scrape *s)
{
    memset(s, 0, sizeof(*s));
    s->forwarded = -1;
    char *text = vl_api_metrics();
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (!strncmp(line, "kibitka_voice_packets_forwarded_total ", 38))
            s->forwarded = atof(line + 38);
        if (!strncmp(line, "kibitka_voice_forward_delay_seconds_bucket{", 43)) {
            char *le = strstr(line, "le=\""), *val = strrchr(line, ' ');
            if (le && val) {
                double x = strncmp(le + 4, "+Inf", 4) ? atof(le + 4) : 1e9;
                int j = 0;
                while (j < s->nb && s->le[j] != x)
                    j++;
                if (j == s->nb && s->nb < 64)
                    s->le[s->nb++] = x;
                if (j < 64)
                    s->count[j] += atof(val + 1);
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
}

/* histogram_quantile over the bucket deltas b - a (les sorted as the server writes them). */
static double server_pct_ms(const struct scrape *a, const struct scrape *b, double p)
{
    if (!b->nb || a->nb != b->nb)
        return -1;
    double total = b->count[b->nb - 1] - a->count[a->nb - 1];
    if (total <= 0)
        return -1;
    double want = p * total, prev_le = 0, prev_c = 0;
    for (int j = 0; j < b->nb; j++) {
        double c = b->count[j] - a->count[j];
        if (c >= want) {
            if (b->le[j] >= 1e9)
                return prev_le * 1e3;
            return (prev_le +
                    (b->le[j] - prev_le) * (c > prev_c ? (want - prev_c) / (c - prev_c) : 1)) *
                   1e3;
        }
        prev_le = b->le[j];
        prev_c = c;
    }
    return -1;
}

static int add_room(int r, int room_size, int nspk)
{
    char name[32];
    snprintf(name, sizeof(name), "vl%d", r);
    if (vl_api_room(name) < 0)
        return -1;
    int first = atomic_load(&sh.n_ready);
    for (int i = 0; i < room_size; i++) {
        struct vl_member *m = &sh.m[first + i];
        memset(m, 0, sizeof(*m));
        m->idx = first + i;
        m->speaker = i < nspk ? nspeakers : -1;
        snprintf(m->room, sizeof(m->room), "%s", name);
        snprintf(m->src_ip, sizeof(m->src_ip), "127.0.%d.%d", 1 + m->idx / 40000,
                 2 + (m->idx / 200) % 200);
        rand_chars(m->ufrag, 8);
        rand_chars(m->pwd, 24);
        RAND_bytes((uint8_t *)&m->ssrc, 4);
        RAND_bytes((uint8_t *)&m->seq, 2);
        RAND_bytes((uint8_t *)&m->ts, 4);
        m->fd = -1;
        char guest[48];
        snprintf(guest, sizeof(guest), "%s-%d", name, i);
        if (vl_api_token(name, guest, i < nspk, m->token, sizeof(m->token)) < 0)
            return -1;
        if (i < nspk)
            speakers[nspeakers++] = m;
    }
    atomic_store(&sh.n_ready, first + room_size);
    vl_ws_wake();
    return 0;
}

static void loadavg(char *out, size_t n)
{
    FILE *f = fopen("/proc/loadavg", "r");
    out[0] = '\0';
    if (f && fgets(out, (int)n, f))
        out[strcspn(out, " ")] = '\0';
    if (f)
        fclose(f);
}

/* What a step's window is measured against: read at its start and at its end. */
struct window {
    struct scrape metrics;
    long kibitka_ticks, own_ticks;
    long long kibitka_wait, own_wait, udp_drops;
    struct threads th;
    int64_t at_us;
};

static void window_read(struct window *w)
{
    w->kibitka_ticks = cpu_ticks(kpid);
    w->own_ticks = cpu_ticks(getpid());
    w->kibitka_wait = runq_wait_ns(kpid);
    w->own_wait = runq_wait_ns(getpid());
    w->udp_drops = udp_rcvbuf_errors();
    threads_read(kpid, &w->th);
    w->at_us = clock_mono_us();
}

/* A window starts: the counters read, the delays and per-speaker counts reset. */
static void window_start(struct window *w)
{
    scrape(&w->metrics);
    memset(bins, 0, sizeof(bins));
    memset(abins, 0, sizeof(abins));
    rx_packets = rx_bad = 0;
    for (int s = 0; s < nspeakers; s++)
        speakers[s]->sent = 0;
    window_read(w);
}

/* Packets the members up should have received: each speaker's sends times the others up in its
 * room. */
static double expected_packets(int n)
{
    double expected = 0;
    for (int s = 0; s < nspeakers; s++) {
        if (atomic_load(&speakers[s]->state) != VL_MEDIA)
            continue;
        int others = 0;
        for (int i = 0; i < n; i++)
            others += &sh.m[i] != speakers[s] && !strcmp(sh.m[i].room, speakers[s]->room) &&
                      atomic_load(&sh.m[i].state) == VL_MEDIA;
        expected += (double)speakers[s]->sent * others;
    }
    return expected;
}

struct step_result {
    int up;
    double kibitka_cores, p99_read, p99_arrival;
};

/* The window from w0 ends: prints the step's row. */
static struct step_result window_end(int n, const struct window *w0)
{
    static struct window w1;
    window_read(&w1);
    uint64_t rx = rx_packets;
    struct step_result r = {0};
    double p50 = pct_ms(bins, 0.5), p90 = pct_ms(bins, 0.9);
    double a50 = pct_ms(abins, 0.5);
    r.p99_read = pct_ms(bins, 0.99);
    r.p99_arrival = pct_ms(abins, 0.99);
    scrape(&w1.metrics);
    long hz = sysconf(_SC_CLK_TCK);
    double secs = (double)(w1.at_us - w0->at_us) / 1e6, bc, bw;
    busiest(&w0->th, &w1.th, secs, &bc, &bw);
    r.kibitka_cores = (double)(w1.kibitka_ticks - w0->kibitka_ticks) / (double)hz / secs;
    double kc = r.kibitka_cores, cc = (double)(w1.own_ticks - w0->own_ticks) / (double)hz / secs;
    double fwd = w1.metrics.forwarded >= 0 && w0->metrics.forwarded >= 0
                     ? (w1.metrics.forwarded - w0->metrics.forwarded) / secs
                     : -1;
    for (int i = 0; i < n; i++)
        r.up += atomic_load(&sh.m[i].state) == VL_MEDIA;
    double expected = expected_packets(n);
    double sp50 = server_pct_ms(&w0->metrics, &w1.metrics, 0.5),
           sp99 = server_pct_ms(&w0->metrics, &w1.metrics, 0.99);
    char la[32], sv50[24] = "n/a", sv99[24] = "n/a";
    loadavg(la, sizeof(la));
    if (sp50 >= 0)
        snprintf(sv50, sizeof(sv50), "%.2f", sp50);
    if (sp99 >= 0)
        snprintf(sv99, sizeof(sv99), "%.2f", sp99);
    printf("| %d | %d | %.0f | %.2f | %.3f | %.2f | %.3f | %.2f / %.2f / %.2f | %.2f / "
           "%.2f | %s / %s | %.0f | %.0f, %.0f | %.3f, %.0f | %lld | %s |\n",
           n, r.up, fwd, expected > 0 ? 100.0 * (1.0 - (double)rx / expected) : 0, kc,
           fwd > 0 ? kc * 1e6 / fwd : 0, cc, p50, p90, r.p99_read, a50, r.p99_arrival, sv50, sv99,
           kc > 0 ? n / kc : 0, (double)(w1.kibitka_wait - w0->kibitka_wait) / 1e6 / secs,
           (double)(w1.own_wait - w0->own_wait) / 1e6 / secs, bc, bw, w1.udp_drops - w0->udp_drops,
           la);
    fflush(stdout);
    if (rx_bad)
        fprintf(stderr, "voice_load: %llu packets not ours or not decrypted\n",
                (unsigned long long)rx_bad);
    return r;
}

/* The 1 ms timer: each speaker sends on its own millisecond of the 20 (catching up at most
 * 40 ms after a stall). */
static void speakers_tick(int64_t ms, int64_t *tick_ms)
{
    if (ms - *tick_ms > 40)
        *tick_ms = ms - 40;
    for (; *tick_ms < ms; (*tick_ms)++)
        for (int s = 0; s < nspeakers; s++)
            if ((s * 7) % 20 == *tick_ms % 20 && atomic_load(&speakers[s]->state) == VL_MEDIA)
                speak(speakers[s]);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s HTTP_PORT WS_PORT RTC_PORT KIBITKA_PID ADMIN_TOKEN\n", argv[0]);
        return 2;
    }
    int http_port = atoi(argv[1]);
    sh.ws_port = atoi(argv[2]);
    rtc_port = atoi(argv[3]);
    kpid = atoi(argv[4]);
    int room_size = env_int("ROOM", 50), nspk = env_int("SPEAKERS", 3);
    int warmup = env_int("WARMUP", 2), measure = env_int("MEASURE", 8);
    int limit_ms = env_int("LIMIT_MS", 20), budget = env_int("BUDGET", 200);
    /* the p99 the limit applies to: at the kernel's arrival (default) or at our read */
    bool by_arrival = !getenv("CRITERION") || strcmp(getenv("CRITERION"), "read") != 0;
    const char *steps_env = getenv("STEPS") && *getenv("STEPS")
                                ? getenv("STEPS")
                                : "50,100,150,200,300,400,500,600,800,1000,1200,1500";
    int steps[64], nsteps = 0;
    for (const char *p = steps_env; *p && nsteps < 64; p += strcspn(p, ","), p += *p == ',') {
        int v = atoi(p);
        if (v > VL_MAX_MEMBERS)
            break;
        steps[nsteps++] = v;
    }
    if (rtc_dtls_ctx_create(&dctx, NULL) < 0 || vl_api_init(http_port, argv[5]) < 0)
        return 1;
    sh.m = calloc(VL_MAX_MEMBERS, sizeof(*sh.m));
    sh.dtls_fingerprint = rtc_dtls_ctx_fingerprint(dctx);
    if (vl_ws_start(&sh) < 0) {
        fprintf(stderr, "voice_load: libwebsockets client context failed\n");
        return 1;
    }
    int ep = epoll_create1(0);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct itimerspec its = {.it_interval = {0, 1000000}, .it_value = {0, 1000000}};
    timerfd_settime(tfd, 0, &its, NULL);
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev);

    int64_t t_start = clock_mono_us();
    printf(
        "| members | up | forwarded pkt/s | lost %% | kibitka CPU (cores) | µs per forwarded pkt | "
        "client CPU (cores) | delay at read p50 / p90 / p99 (ms) | at arrival p50 / p99 (ms) | "
        "server histogram p50 / p99 (ms) | members per kibitka core | run-queue wait kibitka, "
        "client (ms/s) | kibitka's busiest thread: cores, wait (ms/s) | UDP rcvbuf drops | "
        "load 1 min |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    fflush(stdout);
    enum { ADD, WAIT_UP, WARM, MEASURE, DONE } phase = ADD;
    int step = 0, rooms = 0, best_members = 0;
    double best_cores = 0, best_p99 = 0;
    int64_t phase_end = 0, tick_ms = 0, last_hk = 0;
    static struct window w0;
    int exit_code = 0;
    while (phase != DONE) {
        struct epoll_event evs[256];
        int k = epoll_wait(ep, evs, 256, 5);
        int64_t now = clock_mono_us();
        for (int e = 0; e < k; e++) {
            if (!evs[e].data.ptr) { /* the 1 ms timer: speakers, spread over 20 ms */
                uint64_t x;
                if (read(tfd, &x, sizeof(x)) != sizeof(x))
                    continue;
                speakers_tick((now - t_start) / 1000, &tick_ms);
                continue;
            }
            read_socket(evs[e].data.ptr);
        }
        int n = atomic_load(&sh.n_ready);
        if (now - last_hk >= 10000) {
            housekeeping(n, ep, now);
            last_hk = now;
        }
        if (phase == ADD) {
            int target = steps[step];
            while (rooms * room_size < target) {
                if (add_room(rooms, room_size, nspk) < 0) {
                    exit_code = 1;
                    phase = DONE;
                    break;
                }
                rooms++;
            }
            if (phase == DONE)
                break;
            phase = WAIT_UP;
            phase_end = clock_mono_us() + 120000000;
        } else if (phase == WAIT_UP) {
            int up = 0, failed = 0;
            for (int i = 0; i < n; i++) {
                int st = atomic_load(&sh.m[i].state);
                up += st == VL_MEDIA;
                failed += st == VL_FAILED;
            }
            if (up + failed == n || now >= phase_end) {
                if (up + failed < n || failed)
                    fprintf(stderr,
                            "voice_load: %d members: %d up, %d failed, %d still connecting\n", n,
                            up, failed, n - up - failed);
                phase = WARM;
                phase_end = now + warmup * 1000000LL;
            }
        } else if (phase == WARM && now >= phase_end) {
            window_start(&w0);
            phase = MEASURE;
            phase_end = w0.at_us + measure * 1000000LL;
        } else if (phase == MEASURE && now >= phase_end) {
            struct step_result r = window_end(n, &w0);
            double p99 = by_arrival && r.p99_arrival >= 0 ? r.p99_arrival : r.p99_read;
            int up = r.up;
            double kc = r.kibitka_cores;
            int64_t w1 = clock_mono_us();
            if (p99 >= 0 && p99 <= limit_ms && up == n) {
                best_members = n;
                best_cores = kc;
                best_p99 = p99;
            }
            step++;
            if (p99 < 0 || p99 > limit_ms || up < n || step >= nsteps ||
                (w1 - t_start) / 1e6 > budget) {
                if (p99 <= limit_ms && up == n)
                    printf("stopped at the %s (p99 %.2f ms)\n",
                           step >= nsteps ? "last step" : "time budget", p99);
                else
                    printf("stopped: %s at %d members\n",
                           up < n ? "not every member up" : "p99 over the limit", n);
                phase = DONE;
            } else {
                phase = ADD;
            }
        }
    }
    if (best_members)
        printf(
            "members per core: %.0f (%d members with p99 at %s %.2f ms <= %d ms, kibitka at %.3f "
            "cores)\n",
            best_cores > 0 ? best_members / best_cores : 0, best_members,
            by_arrival ? "arrival" : "read", best_p99, limit_ms, best_cores);
    else
        printf("members per core: none (no step had p99 at %s <= %d ms with every member up)\n",
               by_arrival ? "arrival" : "read", limit_ms);
    fflush(stdout);
    vl_ws_stop();
    rtc_dtls_ctx_destroy(&dctx);
    return exit_code;
}
