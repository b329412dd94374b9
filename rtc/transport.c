/* The WebRTC transport (transport.h): the port, the session tables and the demultiplexer.
 * One session's state machine is in session.c. */
#include "rtc/transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <openssl/rand.h>
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
#include "rtc/stun.h"
#include "rtc/transport_priv.h"

static const char *const fail_names[FAIL_COUNT] = {
    [FAIL_ICE_TIMEOUT] = "ice_timeout",          [FAIL_CONSENT] = "consent_expired",
    [FAIL_FINGERPRINT] = "fingerprint_mismatch", [FAIL_DTLS_ALERT] = "dtls_alert",
    [FAIL_DTLS_TIMEOUT] = "dtls_timeout",        [FAIL_DTLS_OTHER] = "dtls_error",
    [FAIL_DTLS_CLOSED] = "dtls_closed",          [FAIL_SRTP] = "srtp_setup",
};

static const char *const drop_names[DROP_COUNT] = {
    [DROP_UNKNOWN_UFRAG] = "unknown_ufrag",   [DROP_UNKNOWN_PATH] = "unknown_path",
    [DROP_NOT_VALIDATED] = "not_validated",   [DROP_NO_KEYS] = "before_keys",
    [DROP_SRTP] = "srtp_unprotect",           [DROP_RTP_MALFORMED] = "rtp_malformed",
    [DROP_RTCP_MALFORMED] = "rtcp_malformed", [DROP_NO_STREAM] = "unknown_stream",
    [DROP_DTLS_MALFORMED] = "dtls_malformed", [DROP_UNKNOWN_KIND] = "not_stun_dtls_rtp",
};

static const char *const kind_names[3] = {"whip", "whep", "sfu"};

static void write_seconds(struct buf *out, const char *name, atomic_int_fast64_t *slots)
{
    buf_printf(out, "%s %.6f\n", name, (double)atomic_load(&slots[0]) / 1e6);
}

static void register_metrics(struct rtc_transport *t, struct metrics *m)
{
    struct rtc_transport_metrics *x = &t->mx;
    for (int k = 0; k < 3; k++)
        x->sessions[k] = metrics_labelled(m, METRIC_GAUGE, "kibitka_webrtc_sessions",
                                          "Live WebRTC sessions by kind.", "kind", kind_names[k]);
    for (int r = 0; r < FAIL_COUNT; r++)
        x->failures[r] =
            metrics_labelled(m, METRIC_COUNTER, "kibitka_webrtc_failures_total",
                             "WebRTC sessions that ended on an ICE or DTLS failure, by reason.",
                             "reason", fail_names[r]);
    for (int r = 0; r < DROP_COUNT; r++)
        x->dropped[r] = metrics_labelled(
            m, METRIC_COUNTER, "kibitka_rtc_dropped_total",
            "Packets on the WebRTC port dropped before reaching a session's media, by reason.",
            "reason", drop_names[r]);
    for (int r = ICE_REJECT_MALFORMED; r <= ICE_REJECT_NOSPACE; r++)
        x->stun_rejected[r] =
            metrics_labelled(m, METRIC_COUNTER, "kibitka_rtc_stun_rejected_total",
                             "STUN binding requests refused by a session's ICE agent, by reason.",
                             "reason", ice_result_name((enum ice_result)r));
    x->handshakes = metrics_counter(m, "kibitka_webrtc_connected_total",
                                    "WebRTC sessions that completed ICE and DTLS.");
    x->rtp_packets = metrics_counter(m, "kibitka_rtp_packets_in_total",
                                     "RTP packets received and decrypted (RTX included).");
    x->rtp_bytes =
        metrics_counter(m, "kibitka_rtp_bytes_in_total", "RTP bytes received (after SRTP).");
    x->rtx_packets = metrics_counter(m, "kibitka_rtp_retransmissions_in_total",
                                     "RTX packets (RFC 4588) received.");
    x->rtp_lost = metrics_counter(m, "kibitka_rtp_packets_lost_total",
                                  "RTP packets given up on: neither received nor repaired.");
    x->nacks = metrics_counter(m, "kibitka_rtcp_nacks_sent_total",
                               "Sequence numbers asked again with generic NACK (RFC 4585).");
    x->plis = metrics_counter(m, "kibitka_rtcp_plis_sent_total",
                              "Keyframe requests (PLI) sent to WebRTC senders.");
    x->jitter = metrics_custom(m, METRIC_GAUGE, "kibitka_rtp_jitter_seconds",
                               "Highest RTP interarrival jitter (RFC 3550) of a WebRTC stream "
                               "received over the last 2-4 s.",
                               write_seconds, 1);
}

void transport_note_jitter(struct rtc_transport *t, int64_t jitter_us, int64_t now_us)
{
    if (now_us - t->jitter_window_us >= 2 * RTCP_INTERVAL_US) {
        t->jitter_prev_us = t->jitter_cur_us;
        t->jitter_cur_us = 0;
        t->jitter_window_us = now_us;
    }
    if (jitter_us > t->jitter_cur_us)
        t->jitter_cur_us = jitter_us;
    int64_t max = t->jitter_cur_us > t->jitter_prev_us ? t->jitter_cur_us : t->jitter_prev_us;
    if (t->mx.jitter)
        atomic_store(&t->mx.jitter[0], max);
}

void transport_count_failure(struct rtc_transport *t, enum fail_reason r)
{
    metrics_add(t->mx.failures[r], 1);
}

/* ---- the tables ---- */

static uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 31);
}

static size_t ufrag_bucket(const struct rtc_transport *t, const char *u, size_t n)
{
    return hash_bytes(u, n, t->seed) & (TABLE_BUCKETS - 1);
}

void transport_ufrag_add(struct rtc_transport *t, struct rtc_session *s)
{
    size_t b = ufrag_bucket(t, s->ufrag, strlen(s->ufrag));
    s->next_ufrag = t->ufrag_table[b];
    t->ufrag_table[b] = s;
}

void transport_ufrag_remove(struct rtc_transport *t, struct rtc_session *s)
{
    size_t b = ufrag_bucket(t, s->ufrag, strlen(s->ufrag));
    for (struct rtc_session **pp = &t->ufrag_table[b]; *pp; pp = &(*pp)->next_ufrag)
        if (*pp == s) {
            *pp = s->next_ufrag;
            s->next_ufrag = NULL;
            return;
        }
}

static struct rtc_session *ufrag_find(struct rtc_transport *t, const char *u, size_t n)
{
    if (n != ICE_UFRAG_LEN)
        return NULL;
    for (struct rtc_session *s = t->ufrag_table[ufrag_bucket(t, u, n)]; s; s = s->next_ufrag)
        if (memcmp(s->ufrag, u, n) == 0)
            return s;
    return NULL;
}

static size_t path_bucket(const struct rtc_transport *t, const struct rtc_path *p)
{
    return rtc_path_hash(p, t->seed) & (TABLE_BUCKETS - 1);
}

static void path_unlink(struct rtc_transport *t, struct path_ent *e)
{
    for (struct path_ent **pp = &t->path_table[path_bucket(t, &e->path)]; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            break;
        }
    e->used = false;
    e->next = NULL;
}

static struct path_ent *path_find(struct rtc_transport *t, const struct rtc_path *p)
{
    for (struct path_ent *e = t->path_table[path_bucket(t, p)]; e; e = e->next)
        if (rtc_path_equal(&e->path, p))
            return e;
    return NULL;
}

/* Forgets the path; an ICE-TCP connection is closed with it: once validated it has no
 * deadline, and nothing else would ever close it (a peer could keep it open for good). */
static void path_drop(struct rtc_transport *t, struct path_ent *e)
{
    uint32_t tcp_id = e->path.tcp_id;
    path_unlink(t, e);
    if (tcp_id)
        rtc_net_tcp_close(t->net, tcp_id);
}

void transport_path_add(struct rtc_transport *t, struct rtc_session *s, const struct rtc_path *p,
                        int64_t now_us)
{
    struct path_ent *e = path_find(t, p);
    if (e && e->s == s) {
        e->last_us = now_us;
        return;
    }
    if (e) /* the address moved to another session (a NAT reused it): it is that one's now */
        path_unlink(t, e);
    struct path_ent *slot = NULL;
    for (int i = 0; i < ICE_MAX_VALIDATED; i++) {
        if (!s->paths[i].used) {
            slot = &s->paths[i];
            break;
        }
        /* The least recently checked goes, as in the ICE agent, which never evicts the
         * selected address: neither may we, or its media would be dropped as from nowhere. */
        if (s->have_selected && rtc_path_equal(&s->paths[i].path, &s->selected))
            continue;
        if (!slot || s->paths[i].last_us < slot->last_us)
            slot = &s->paths[i];
    }
    if (slot->used)
        path_drop(t, slot);
    slot->path = *p;
    slot->s = s;
    slot->used = true;
    slot->last_us = now_us;
    size_t b = path_bucket(t, p);
    slot->next = t->path_table[b];
    t->path_table[b] = slot;
    if (p->tcp_id)
        rtc_net_tcp_validate(t->net, p->tcp_id);
}

void transport_paths_remove(struct rtc_transport *t, struct rtc_session *s)
{
    for (int i = 0; i < ICE_MAX_VALIDATED; i++)
        if (s->paths[i].used)
            path_drop(t, &s->paths[i]);
}

/* ---- the demultiplexer ---- */

static void on_stun(struct rtc_transport *t, const struct rtc_path *from, const uint8_t *p,
                    size_t n, int64_t now)
{
    struct stun_msg m;
    const char *u;
    size_t ulen;
    if (stun_parse(p, n, &m) < 0) {
        metrics_add(t->mx.stun_rejected[ICE_REJECT_MALFORMED], 1);
        return;
    }
    if (ice_local_ufrag(&m, &u, &ulen) < 0) {
        metrics_add(t->mx.stun_rejected[ICE_REJECT_BAD_REQUEST], 1);
        return;
    }
    struct rtc_session *s = ufrag_find(t, u, ulen);
    if (!s) {
        metrics_add(t->mx.dropped[DROP_UNKNOWN_UFRAG], 1);
        return;
    }
    session_on_stun(s, from, p, n, now);
}

static void on_packet(void *opaque, const struct rtc_path *from, uint8_t *p, size_t n)
{
    struct rtc_transport *t = opaque;
    int64_t now = clock_mono_us();
    enum rtc_pkt_kind kind = rtc_classify(p, n);
    if (kind == RTC_PKT_STUN) {
        on_stun(t, from, p, n, now);
        return;
    }
    if (kind != RTC_PKT_DTLS && kind != RTC_PKT_RTP && kind != RTC_PKT_RTCP) {
        metrics_add(t->mx.dropped[DROP_UNKNOWN_KIND], 1);
        return;
    }
    struct path_ent *e = path_find(t, from);
    if (!e) {
        metrics_add(t->mx.dropped[DROP_UNKNOWN_PATH], 1);
        return;
    }
    struct rtc_session *s = e->s;
    if (!ice_agent_is_validated(s->ice, (const struct sockaddr *)&from->addr, now)) {
        metrics_add(t->mx.dropped[DROP_NOT_VALIDATED], 1);
        return;
    }
    if (kind == RTC_PKT_DTLS)
        session_on_dtls(s, from, p, n, now);
    else
        session_on_srtp(s, kind == RTC_PKT_RTCP, p, n, now);
}

static void on_tcp_closed(void *opaque, const struct rtc_path *path)
{
    struct rtc_transport *t = opaque;
    struct path_ent *e = path_find(t, path);
    if (e)
        path_unlink(t, e); /* the session lives on if it has another path; consent decides */
}

static const struct rtc_net_ops net_ops = {.packet = on_packet, .tcp_closed = on_tcp_closed};

/* ---- candidates ---- */

static bool addr_usable(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
        return (a >> 24) != 127 && a != 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return !IN6_IS_ADDR_LOOPBACK(a) && !IN6_IS_ADDR_LINKLOCAL(a) &&
               !IN6_IS_ADDR_UNSPECIFIED(a) && !IN6_IS_ADDR_V4MAPPED(a);
    }
    return false;
}

/* The addresses written as host candidates: --public-ip, else the bound one, else (a wildcard
 * bind) every non-loopback address of the host. */
static int pick_addresses(struct rtc_transport *t, const struct rtc_transport_config *cfg,
                          int udp_fd)
{
    for (int i = 0; i < cfg->n_public_ips && t->naddrs < RTC_MAX_CANDIDATE_ADDRS; i++)
        snprintf(t->addrs[t->naddrs++], sizeof(t->addrs[0]), "%s", cfg->public_ips[i]);
    if (t->naddrs)
        return 0;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(udp_fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    bool wildcard = (ss.ss_family == AF_INET &&
                     ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY)) ||
                    (ss.ss_family == AF_INET6 &&
                     IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr));
    if (!wildcard) {
        net_ip_str((struct sockaddr *)&ss, t->addrs[0], sizeof(t->addrs[0]));
        t->naddrs = 1;
        return 0;
    }
    struct ifaddrs *ifs, *i;
    if (getifaddrs(&ifs) < 0)
        return -errno;
    for (i = ifs; i && t->naddrs < RTC_MAX_CANDIDATE_ADDRS; i = i->ifa_next) {
        if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
            continue;
        if (i->ifa_addr->sa_family != ss.ss_family && ss.ss_family == AF_INET)
            continue; /* a v4 socket cannot serve v6 candidates */
        if (!addr_usable(i->ifa_addr))
            continue;
        net_ip_str(i->ifa_addr, t->addrs[t->naddrs], sizeof(t->addrs[0]));
        t->naddrs++;
    }
    freeifaddrs(ifs);
    return t->naddrs ? 0 : -EADDRNOTAVAIL;
}

/* ---- life cycle ---- */

struct rtc_transport *rtc_transport_create(struct loop *loop,
                                           const struct rtc_transport_config *cfg)
{
    struct rtc_transport *t = xcalloc(1, sizeof(*t));
    t->loop = loop;
    t->max_sessions = cfg->max_sessions > 0 ? cfg->max_sessions : 10000;
    t->remb_bps = cfg->remb_bps ? cfg->remb_bps : 20000000;
    t->tcp = cfg->tcp_fd >= 0;
    if (RAND_bytes((uint8_t *)&t->seed, sizeof(t->seed)) != 1)
        t->seed = (uint64_t)clock_mono_us();
    int err = pick_addresses(t, cfg, cfg->udp_fd);
    if (err < 0) {
        log_error("rtc", NULL, "no address to offer WebRTC peers (%s): give one with --public-ip",
                  strerror(-err));
        goto fail;
    }
    if (rtc_dtls_ctx_create(&t->dtls, NULL) < 0) {
        log_error("rtc", NULL, "cannot make the DTLS certificate");
        goto fail;
    }
    register_metrics(t, cfg->metrics);
    struct rtc_net_config nc = {
        .udp_fd = cfg->udp_fd, .tcp_fd = cfg->tcp_fd, .metrics = cfg->metrics};
    t->net = rtc_net_create(loop, &nc, &net_ops, t);
    return t;
fail:
    close(cfg->udp_fd);
    if (cfg->tcp_fd >= 0)
        close(cfg->tcp_fd);
    rtc_dtls_ctx_destroy(&t->dtls);
    free(t);
    return NULL;
}

void rtc_transport_destroy(struct rtc_transport **pt)
{
    struct rtc_transport *t = *pt;
    if (!t)
        return;
    while (t->all) {
        struct rtc_session *s = t->all;
        session_fail(s, FAIL_COUNT, "server stopping");
    }
    rtc_net_destroy(&t->net);
    rtc_dtls_ctx_destroy(&t->dtls);
    free(t);
    *pt = NULL;
}

int rtc_transport_port(const struct rtc_transport *t)
{
    return rtc_net_port(t->net);
}

int64_t rtc_transport_rx_us(const struct rtc_transport *t)
{
    return rtc_net_rx_us(t->net);
}

int rtc_transport_session_count(const struct rtc_transport *t)
{
    return t->nsessions;
}
