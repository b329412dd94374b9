/* The WebRTC transport: every session of the process on one port (rtc/net.h), each an ICE-lite
 * agent (ice.h), a DTLS endpoint (dtls.h), an SRTP pair (srtp.h) and its inbound RTP streams
 * (rtp.h, rtp_stats.h, rtp_reorder.h), with the RTCP feedback a receiver owes its sender.
 *
 * Demultiplexing (RFC 7983 first byte, rtc_classify): a STUN packet finds its session by the
 * local ufrag in USERNAME, and nothing is kept for one that fails its checks; a valid check
 * adds the sender's path (UDP address or ICE-TCP connection) to the session's. DTLS, RTP and
 * RTCP find their session by path, and are taken only from a path ICE validated in the last
 * 30 s: DTLS before ICE, or SRTP from elsewhere, is dropped and counted.
 *
 * A session's user (WHIP ingest, the SFU, WHEP) sees: connected (DTLS done, keys in), each RTP
 * packet of an accepted m-line in sequence order (decrypted, parsed; RTX repairs put back in
 * place; what the reorder buffer gave up on flagged as lost), each sender report (A/V sync), and
 * closed with a one-line reason when the session ends on its own (ICE consent or timeout, DTLS
 * alert or failure, fingerprint mismatch). The transport answers the sender's needs itself:
 * receiver reports and REMB once a second, generic NACKs for missing video packets, PLI at the
 * start, when a loss cannot be repaired and when the user asks (rtc_session_request_keyframe).
 *
 * REMB, not transport-cc: a receiver-side estimate needs one RTCP message a second from us,
 * where transport-wide feedback needs per-packet arrival times reported back many times a
 * second and a sender-side estimator the browser then runs. Browsers still honour REMB as the
 * ceiling of their loss-based estimate; we send a fixed ceiling (rtc_transport_config) so they
 * climb to the bitrate their encoder is set for, and loss (NACK, PLI) pulls them down.
 *
 * Threads: everything here runs on the loop's thread; nothing blocks. Timers: one per session,
 * armed at its earliest deadline (consent, DTLS retransmission, reorder give-up, NACK, RTCP). */
#ifndef KIBITKA_RTC_TRANSPORT_H
#define KIBITKA_RTC_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "rtc/rtcp.h"
#include "rtc/rtp.h"
#include "rtc/sdp.h"

struct metrics_hist;
struct loop;
struct metrics;
struct rtc_transport;
struct rtc_session;

#define RTC_MAX_CANDIDATE_ADDRS 8

struct rtc_transport_config {
    int udp_fd, tcp_fd; /* from rtc_net_open (tcp_fd -1: no ICE-TCP); owned from the call on */
    /* Addresses written as host candidates (--public-ip): IPv4 or IPv6 literals. None: the
     * bound address, or, when bound to a wildcard, every non-loopback address of the host. */
    const char *const *public_ips;
    int n_public_ips;
    int max_sessions;        /* 0: 10000; a new session past it is refused */
    uint64_t remb_bps;       /* the REMB ceiling sent to publishers; 0: 20 Mbit/s */
    struct metrics *metrics; /* kibitka_rtc_* and kibitka_webrtc_*; NULL: none */
};

/* NULL after logging why (the DTLS certificate could not be made, no address to advertise). */
struct rtc_transport *rtc_transport_create(struct loop *loop,
                                           const struct rtc_transport_config *cfg);
/* Ends every session (each user's closed is called, reason "server stopping"), closes the
 * sockets, clears *pt. */
void rtc_transport_destroy(struct rtc_transport **pt);
int rtc_transport_port(const struct rtc_transport *t);
/* When the packet being handed to a session's callbacks arrived (rtc_net_rx_us: the time its
 * read batch was read); 0 outside one. For rtc_rtp_out.arrival_us. */
int64_t rtc_transport_rx_us(const struct rtc_transport *t);
int rtc_transport_session_count(const struct rtc_transport *t);

enum rtc_session_kind { RTC_SESSION_WHIP, RTC_SESSION_WHEP, RTC_SESSION_SFU };

struct rtc_session_ops {
    /* DTLS is done and SRTP keyed: media flows from now on. */
    void (*connected)(void *opaque);
    /* One RTP packet of accepted m-line `mline`, in sequence order; seq is its unwrapped
     * number, always increasing: after an SSRC change the new stream's numbers go on after the
     * old one's last (and that first packet has lost_before); lost_before: packets before it
     * were given up on (a gap NACK did not fill). pkt and what it points to are valid during
     * the call only. */
    void (*rtp)(void *opaque, int mline, const struct rtp_packet *pkt, uint64_t seq,
                bool lost_before);
    /* A sender report for m-line mline's media (for A/V sync). May be NULL. */
    void (*sender_report)(void *opaque, int mline, const struct rtcp_sr_info *sr);
    /* The session ended on its own; it is freed right after the call: do not destroy it. */
    void (*closed)(void *opaque, const char *reason);
};

struct rtc_session_params {
    enum rtc_session_kind kind;
    const struct sdp_offer *offer;    /* read during create only */
    const struct sdp_choice *choices; /* one per offer m-line (sdp_choose, edited by the user) */
    const struct rtc_session_ops *ops;
    void *opaque;
    const char *log_name; /* the stream or room, for logs; copied */
};

/* Starts a session for the offer and appends the SDP answer to answer. 0 and *out; or a
 * negative errno with a one-line reason (no sha-256 fingerprint, too many sessions, the
 * answer could not be written). */
int rtc_session_create(struct rtc_transport *t, const struct rtc_session_params *p,
                       struct buf *answer, char *why, size_t whylen, struct rtc_session **out);
/* Ends the session from the user's side (close_notify sent, no closed call); clears *ps. */
void rtc_session_destroy(struct rtc_session **ps);

/* ---- sending (WHEP, the SFU) ----
 * Every accepted m-line whose answer direction is sendonly or sendrecv is an outgoing stream:
 * the answer carries its SSRC, cname and msid (the choice's, or, when its ssrc is 0, a random
 * SSRC, cname "kibitka" and msid "kibitka-<sid> t<mline>"). rtc_session_send_rtp writes one
 * packet with that SSRC and the m-line's payload type, the user's sequence number, timestamp
 * and marker, the RFC 6464 audio level when the m-line negotiated ssrc-audio-level, then the
 * payload untouched; it is encrypted once, straight into the port's send queue (no copy, no
 * allocation), and sent with the other packets of the same wake-up in one sendmmsg
 * (rtc/net.h). A sender report for each stream that sent goes with the receiver reports
 * (about once a second); the peer's receiver reports about our streams give loss, jitter and
 * RTT (rtc_session_out_stats). */
struct rtc_rtp_out {
    uint16_t seq;
    uint32_t ts;
    bool marker;
    int audio_level; /* 0-127 (-dBov), -1: none */
    bool vad;
    const uint8_t *payload;
    size_t payload_len;
    /* The forwarding delay: when arrival_us is not 0, the time from it (rtc_transport_rx_us of
     * the packet this one forwards) to the sendmmsg that carries this copy goes to delay
     * (rtc_net_send_commit_timed). */
    struct metrics_hist *delay;
    int64_t arrival_us;
};
/* 0; -ENOTCONN before DTLS is done (or after the session ended); -ENOENT when mline sends
 * nothing; -EMSGSIZE for a payload over the MTU; another negative errno when SRTP refused. */
int rtc_session_send_rtp(struct rtc_session *s, int mline, const struct rtc_rtp_out *o);
/* The SSRC m-line mline sends with, 0 when it sends nothing. */
uint32_t rtc_session_out_ssrc(const struct rtc_session *s, int mline);

struct rtc_out_stats {
    uint64_t packets, octets;
    bool have_rr;          /* a receiver report about this stream came */
    uint8_t fraction_lost; /* of 256, the last report's */
    int32_t cumulative_lost;
    uint32_t jitter_ms;
    int32_t rtt_ms; /* -1 until measured */
};
/* -ENOENT when mline sends nothing. */
int rtc_session_out_stats(const struct rtc_session *s, int mline, struct rtc_out_stats *out);

/* The RFC 6464 audio level of a packet of m-line mline as the rtp callback gave it: 0 (loud)
 * to 127 (silent), *vad its voice-activity bit (NULL: not wanted); -1 when the m-line did not
 * negotiate ssrc-audio-level or the packet carries none. */
int rtc_session_audio_level(const struct rtc_session *s, int mline, const struct rtp_packet *pkt,
                            bool *vad);

/* Asks the sender of m-line mline for a keyframe (PLI; at most one each 500 ms). */
void rtc_session_request_keyframe(struct rtc_session *s, int mline);
/* A trickle fragment (WHIP PATCH). An ICE-lite agent sends no checks, so remote candidates
 * are not needed; a restart (new remote credentials) makes new local ones, and the answer
 * fragment (RFC 8840: our ice-ufrag, ice-pwd) is appended to frag_answer. 0 and *restarted, or
 * a negative errno with the reason. */
int rtc_session_trickle(struct rtc_session *s, const struct sdp_frag *f, bool *restarted,
                        struct buf *frag_answer, char *why, size_t whylen);

/* What the API shows and the tests check. */
struct rtc_session_stats {
    bool connected;
    uint64_t packets_in, bytes_in, packets_lost, nacks_sent, plis_sent;
    uint32_t jitter_ms;              /* of the video stream, else the audio one */
    uint64_t packets_out, bytes_out; /* RTP sent on every outgoing stream (payload bytes) */
    int32_t rtt_ms;                  /* the latest RTT the peer's receiver reports gave, -1: none */
    char srtp_profile[32];           /* "AEAD_AES_128_GCM", ... once connected */
    char path[64];                   /* "udp 1.2.3.4:5678" / "tcp ...": the selected path */
};
void rtc_session_stats_get(const struct rtc_session *s, struct rtc_session_stats *out);

#endif
