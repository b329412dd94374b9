/* What rtc/transport.c (the port, the tables, the demultiplexer) and rtc/session.c (one
 * session's state machine) share. Not for users of the transport. */
#ifndef KIBITKA_RTC_TRANSPORT_PRIV_H
#define KIBITKA_RTC_TRANSPORT_PRIV_H

#include <stdatomic.h>

#include "rtc/dtls.h"
#include "rtc/ice.h"
#include "rtc/net.h"
#include "rtc/rtp_reorder.h"
#include "rtc/rtp_stats.h"
#include "rtc/srtp.h"
#include "rtc/transport.h"

#define TABLE_BUCKETS 4096 /* power of two; chains stay short up to tens of thousands */
#define PLI_INTERVAL_US 500000
#define RTCP_INTERVAL_US 1000000
#define NACK_INTERVAL_US 20000
#define NACK_BATCH 64

/* One validated path of a session, linked into the transport's path table. */
struct path_ent {
    struct rtc_path path;
    struct rtc_session *s;
    bool used;
    int64_t last_us;
    struct path_ent *next;
};

/* One accepted m-line we receive on. */
struct in_stream {
    int mline;
    enum sdp_kind kind;
    uint8_t pt;
    int rtx_pt;         /* -1: none */
    uint32_t clock;
    uint32_t ssrc;      /* 0 until known (a=ssrc, or the first packet of pt) */
    uint32_t rtx_ssrc;  /* 0 until known */
    bool nack;          /* the sender takes NACKs (rtcp-fb nack) */
    bool started;       /* stats initialised */
    struct rtp_stats stats;
    struct rtp_seq_unwrap unwrap;
    /* What the user is given: the unwrapped number plus out_offset, so that it keeps
     * increasing across an SSRC change (the new stream goes on after the old one's last). */
    int64_t out_offset;
    uint64_t out_last;
    bool out_started, out_rebase;
    struct rtp_reorder *reorder;
    int64_t last_pli_us;
    int64_t ssrc_log_us; /* when an SSRC change was last logged (at most one line per 10 s) */
    bool pli_wanted;
    uint64_t lost;
    int level_id; /* the ssrc-audio-level extmap id (RFC 6464), -1: not negotiated */
};

/* One accepted m-line we send on (WHEP, the SFU): its SSRC in the answer, what was sent (for
 * the sender reports) and what the peer's receiver reports say about it. */
struct out_stream {
    int mline;
    uint8_t pt;
    uint32_t ssrc, clock;
    int level_id; /* 1-14: the audio level is written under this id; else not written */
    uint64_t packets, octets;
    uint32_t last_ts;      /* of the last packet sent, and when (for the SR's NTP/RTP map) */
    int64_t last_send_us;
    bool have_rr;
    uint8_t fraction_lost;
    int32_t cumulative_lost;
    uint32_t jitter;       /* the peer's, RTP clock units */
    int64_t rtt_us;        /* -1 until a report block with LSR came */
};

enum drop_reason {
    DROP_UNKNOWN_UFRAG,
    DROP_UNKNOWN_PATH,
    DROP_NOT_VALIDATED,
    DROP_NO_KEYS,
    DROP_SRTP,
    DROP_RTP_MALFORMED,
    DROP_RTCP_MALFORMED,
    DROP_NO_STREAM,
    DROP_DTLS_MALFORMED,
    DROP_UNKNOWN_KIND,
    DROP_COUNT
};

enum fail_reason {
    FAIL_ICE_TIMEOUT,
    FAIL_CONSENT,
    FAIL_FINGERPRINT,
    FAIL_DTLS_ALERT,
    FAIL_DTLS_TIMEOUT,
    FAIL_DTLS_OTHER,
    FAIL_DTLS_CLOSED,
    FAIL_SRTP,
    FAIL_COUNT
};

struct rtc_transport_metrics {
    atomic_int_fast64_t *sessions[3]; /* by enum rtc_session_kind */
    atomic_int_fast64_t *failures[FAIL_COUNT];
    atomic_int_fast64_t *dropped[DROP_COUNT];
    atomic_int_fast64_t *stun_rejected[16]; /* by enum ice_result */
    atomic_int_fast64_t *rtp_packets, *rtp_bytes, *rtp_lost, *nacks, *plis, *handshakes,
        *rtx_packets;
    atomic_int_fast64_t *jitter; /* custom slot: µs, written as seconds */
};

struct rtc_session {
    struct rtc_transport *t;
    enum rtc_session_kind kind;
    struct rtc_session_ops ops;
    void *opaque;
    char name[72];
    struct ice_agent *ice;
    struct rtc_dtls *dtls;
    struct rtc_srtp *srtp;
    enum rtc_dtls_role role;
    struct rtc_dtls_fingerprint peer_fp;
    bool dtls_started, connected, ended;
    int in_callback; /* > 0 while a user callback runs: a destroy then is deferred */
    bool destroy_pending;
    struct path_ent paths[ICE_MAX_VALIDATED];
    struct rtc_path selected;
    bool have_selected;
    bool restart_pending; /* an ICE restart answered, no valid check on its credentials yet */
    struct in_stream in[SDP_MAX_MEDIA];
    int nin;
    struct out_stream out[SDP_MAX_MEDIA];
    int nout;
    int8_t out_of[SDP_MAX_MEDIA]; /* m-line -> index in out, -1 */
    uint32_t local_ssrc; /* the SSRC our RTCP is sent as */
    bool rtcp_rsize;
    struct loop_timer *timer;
    int64_t timer_due_us;
    int64_t created_us, next_rtcp_us, next_nack_us;
    char ufrag[ICE_UFRAG_LEN + 1];
    char remote_ufrag[SDP_MAX_UFRAG + 1], remote_pwd[SDP_MAX_UFRAG + 1];
    struct rtc_session *next_ufrag; /* the transport's ufrag chain */
    struct rtc_session *next_all, *prev_all;
    uint64_t packets_in, bytes_in, nacks_sent, plis_sent;
    int64_t rtt_us; /* the latest from a receiver report about our streams, -1: none */
    uint8_t scratch[RTP_MTU + RTC_SRTP_MAX_TRAILER]; /* RTX unwrap, RTCP writes */
};

struct rtc_transport {
    struct loop *loop;
    struct rtc_net *net;
    struct rtc_dtls_ctx *dtls;
    struct rtc_session *ufrag_table[TABLE_BUCKETS];
    struct path_ent *path_table[TABLE_BUCKETS];
    struct rtc_session *all;
    int nsessions, max_sessions;
    uint64_t remb_bps;
    uint64_t seed;
    /* kibitka_rtp_jitter_seconds: the highest jitter a session reported in this window and the
     * last (each session reports once a second), so the gauge covers the last 2-4 s. */
    int64_t jitter_window_us, jitter_cur_us, jitter_prev_us;
    char addrs[RTC_MAX_CANDIDATE_ADDRS][64];
    int naddrs;
    bool tcp;
    struct rtc_transport_metrics mx;
};

/* transport.c: the tables. */
void transport_ufrag_add(struct rtc_transport *t, struct rtc_session *s);
void transport_ufrag_remove(struct rtc_transport *t, struct rtc_session *s);
void transport_path_add(struct rtc_transport *t, struct rtc_session *s, const struct rtc_path *p,
                        int64_t now_us);
void transport_paths_remove(struct rtc_transport *t, struct rtc_session *s);
/* A stream's interarrival jitter (µs) at its receiver report, for kibitka_rtp_jitter_seconds. */
void transport_note_jitter(struct rtc_transport *t, int64_t jitter_us, int64_t now_us);
/* Counts a failure and logs it in one line. */
void transport_count_failure(struct rtc_transport *t, enum fail_reason r);

/* session.c: what the demultiplexer hands a session. */
void session_on_stun(struct rtc_session *s, const struct rtc_path *from, const uint8_t *p,
                     size_t n, int64_t now_us);
void session_on_dtls(struct rtc_session *s, const struct rtc_path *from, const uint8_t *p,
                     size_t n, int64_t now_us);
void session_on_srtp(struct rtc_session *s, bool rtcp, uint8_t *p, size_t n, int64_t now_us);
/* Ends s with reason (the user's closed is called) and frees it. */
void session_fail(struct rtc_session *s, enum fail_reason r, const char *reason);

/* session_send.c: the send path. */
/* The id of the ssrc-audio-level extension the answer keeps for m, -1: none. */
int session_level_id(const struct sdp_media *m, const struct sdp_choice *c);
/* The choice sends (accepted, sendonly or sendrecv). */
bool session_choice_sends(const struct sdp_choice *c);
/* The outgoing streams of the offer's choices (those that send and carry an SSRC). */
void session_add_out_streams(struct rtc_session *s, const struct sdp_offer *o,
                             const struct sdp_choice *c);
/* Starts the compound with an SR per stream that sent (the first with the report blocks), or
 * an RR when none did. 0 or -ENOSPC. */
int session_write_sender_reports(struct rtc_session *s, struct rtcp_writer *w, int64_t now,
                                 const struct rtcp_report_block *rb, size_t nrb);
/* The report blocks of an SR or RR from the peer: those about our streams. */
void session_on_report_blocks(struct rtc_session *s, const struct rtcp_packet *pkt);

#endif
