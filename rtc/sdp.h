/* SDP for WebRTC: offer parse, codec choice, answer write, trickle fragment parse.
 *
 * How the parts fit. A peer's offer (WHIP POST body, an SFU join, a WHEP request) goes through
 * sdp_offer_parse(), which is strict and bounded: it reads only the `len` bytes it is given,
 * refuses input over SDP_MAX_INPUT, lines over SDP_MAX_LINE, NUL bytes, numbers out of their
 * range and anything past the SDP_MAX_* limits below, each with a one-line reason naming the line
 * ("line 7: payload type 4294967296 out of range 0-127") that the HTTP layer sends in its 400
 * body. The result is plain data (struct sdp_offer), owned by the caller and freed with
 * sdp_offer_free(); nothing in it points into the input.
 *
 * The user then decides each m-line with sdp_choose(), which picks what kibitka can take (H.264
 * packetization-mode 1, else VP8, with their RTX; Opus/48000/2; the rtcp-fb and header
 * extensions we implement) and answers the offer's direction with its mirror image: a WHIP
 * publisher's sendonly becomes recvonly, a WHEP viewer's recvonly becomes sendonly, an SFU seat's
 * sendrecv stays sendrecv. The user may edit the choice (reject an m-line, add the SSRC, cname
 * and msid it sends with) before sdp_answer_write() turns the offer, the choices and the local
 * transport (ICE-lite credentials, DTLS fingerprint, host candidates) into the answer.
 *
 * Trickle ICE (RFC 8840, a WHIP PATCH with application/trickle-ice-sdpfrag) goes through
 * sdp_frag_parse(); sdp_frag_is_restart() tells an ICE restart (new credentials) from more
 * candidates.
 *
 * No sockets, no loop, no global state: every function is safe to call from any thread on its
 * own data. */
#ifndef KIBITKA_RTC_SDP_H
#define KIBITKA_RTC_SDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define SDP_MAX_INPUT 65536 /* bytes of one offer or fragment */
#define SDP_MAX_LINE 4096   /* bytes of one line, without its CRLF */
#define SDP_MAX_MEDIA 16    /* m-lines */
#define SDP_MAX_PT 64       /* payload types of one m-line (Chromium 156 offers 34 for video) */
#define SDP_MAX_CAND 32     /* candidates kept per m-line; more are counted and dropped */
#define SDP_MAX_EXTMAP 32   /* a=extmap lines of one m-line */
#define SDP_MAX_SSRC 16     /* distinct SSRCs named by a=ssrc in one m-line */
#define SDP_MAX_FID 8       /* a=ssrc-group:FID pairs of one m-line */
#define SDP_MAX_FP 4        /* a=fingerprint lines per level */
#define SDP_MAX_UFRAG 256   /* RFC 8839: ice-ufrag 4-256 chars, ice-pwd 22-256 */
#define SDP_MAX_MID 64
#define SDP_ERR_LEN 160 /* a good size for the reason buffer */

enum sdp_kind { SDP_KIND_OTHER, SDP_KIND_AUDIO, SDP_KIND_VIDEO, SDP_KIND_APPLICATION };
enum sdp_proto {
    SDP_PROTO_OTHER,
    SDP_PROTO_UDP_SAVPF, /* UDP/TLS/RTP/SAVPF */
    SDP_PROTO_TCP_SAVPF, /* TCP/DTLS/RTP/SAVPF (RFC 7850) */
    SDP_PROTO_SCTP,      /* UDP/DTLS/SCTP or TCP/DTLS/SCTP (data channels; we reject them) */
};
/* SDP_DIR_UNSET: the m-line named none; sdp_offer_parse() resolves it to the session-level
 * direction or to sendrecv (RFC 8866 6.7), so a parsed offer never holds it. */
enum sdp_dir {
    SDP_DIR_UNSET,
    SDP_DIR_SENDRECV,
    SDP_DIR_SENDONLY,
    SDP_DIR_RECVONLY,
    SDP_DIR_INACTIVE
};
enum sdp_setup { SDP_SETUP_UNSET, SDP_SETUP_ACTPASS, SDP_SETUP_ACTIVE, SDP_SETUP_PASSIVE };
enum sdp_transport { SDP_TRANSPORT_UDP, SDP_TRANSPORT_TCP };
enum sdp_addr_kind { SDP_ADDR_V4, SDP_ADDR_V6, SDP_ADDR_MDNS };
enum sdp_cand_type { SDP_CAND_HOST, SDP_CAND_SRFLX, SDP_CAND_PRFLX, SDP_CAND_RELAY };
enum sdp_tcptype { SDP_TCPTYPE_NONE, SDP_TCPTYPE_ACTIVE, SDP_TCPTYPE_PASSIVE, SDP_TCPTYPE_SO };

/* rtcp-fb values, a mask per codec (RFC 4585, RFC 5104, draft-alvestrand-rmcat-remb,
 * draft-holmer-rmcat-transport-wide-cc-extensions). */
#define SDP_FB_NACK (1u << 0)
#define SDP_FB_NACK_PLI (1u << 1)
#define SDP_FB_CCM_FIR (1u << 2)
#define SDP_FB_GOOG_REMB (1u << 3)
#define SDP_FB_TRANSPORT_CC (1u << 4)

/* The header extensions kibitka uses (what sdp_choose() keeps). */
#define SDP_EXT_MID "urn:ietf:params:rtp-hdrext:sdes:mid"
#define SDP_EXT_AUDIO_LEVEL "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
#define SDP_EXT_ABS_SEND_TIME "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"

struct sdp_fingerprint {
    char alg[16]; /* lower case: "sha-256" */
    uint8_t bytes[64];
    uint8_t len;
};

/* a=fmtp parameters we understand; -1 means absent. Unknown keys are skipped. */
struct sdp_fmtp {
    int packetization_mode;
    int32_t profile_level_id; /* 24 bits: profile_idc, constraint flags, level_idc */
    int level_asymmetry_allowed;
    int apt; /* RTX: the payload type it repairs */
    int minptime, useinbandfec, usedtx, stereo, sprop_stereo;
    const char *sprop; /* sprop-parameter-sets as written, NUL-terminated, in the offer's pool;
                        * NULL when absent */
};

struct sdp_codec {
    uint8_t pt;
    bool has_rtpmap;
    char name[32]; /* encoding name as written ("H264", "opus", "rtx") */
    uint32_t clock;
    uint8_t channels; /* 0 when not given */
    bool has_fmtp;
    struct sdp_fmtp fmtp;
    uint32_t fb; /* SDP_FB_* */
};

struct sdp_extmap {
    uint16_t id;      /* 1-255 */
    enum sdp_dir dir; /* SDP_DIR_UNSET when not given */
    char uri[128];
};

struct sdp_ssrc {
    uint32_t id;
    char cname[64];
    char msid[132]; /* "<stream> <track>", as written */
};

struct sdp_candidate {
    char foundation[33];
    uint16_t component; /* 1-256 */
    enum sdp_transport transport;
    uint32_t priority;
    enum sdp_addr_kind addr_kind;
    char addr[64]; /* IPv4, IPv6, or an mDNS name ending in ".local" */
    uint16_t port;
    enum sdp_cand_type type;
    enum sdp_tcptype tcptype;
    bool has_raddr;
    char raddr[46];
    uint16_t rport;
};

struct sdp_media {
    enum sdp_kind kind;
    char kind_name[16]; /* as written, echoed in a rejection */
    uint16_t port;
    enum sdp_proto proto;
    char proto_name[24];
    uint8_t pts[SDP_MAX_PT]; /* RTP m-lines: the format list in order */
    size_t n_pts;
    char fmt0[33]; /* the first format token as written (non-RTP m-lines: webrtc-datachannel) */
    char mid[SDP_MAX_MID + 1];
    enum sdp_dir dir;
    bool rtcp_mux, rtcp_rsize, bundle_only;
    /* Transport, resolved: the m-line's own value, else the session's. */
    char ice_ufrag[SDP_MAX_UFRAG + 1], ice_pwd[SDP_MAX_UFRAG + 1];
    bool ice_trickle;
    struct sdp_fingerprint fp[SDP_MAX_FP];
    size_t n_fp;
    enum sdp_setup setup;
    /* One entry per payload type of pts[], same order; rtpmap/fmtp/rtcp-fb for a payload type
     * not in the format list are ignored. */
    struct sdp_codec codecs[SDP_MAX_PT];
    struct sdp_extmap extmaps[SDP_MAX_EXTMAP];
    size_t n_extmaps;
    char msid[132]; /* a=msid (unified plan), "" when absent */
    struct sdp_ssrc ssrcs[SDP_MAX_SSRC];
    size_t n_ssrcs;
    uint32_t fid[SDP_MAX_FID][2]; /* a=ssrc-group:FID <primary> <rtx> */
    size_t n_fid;
    struct sdp_candidate cand[SDP_MAX_CAND];
    size_t n_cand;
    size_t cand_dropped; /* past SDP_MAX_CAND, or with an FQDN address or unknown transport */
    bool end_of_candidates;
};

struct sdp_offer {
    struct sdp_media media[SDP_MAX_MEDIA];
    size_t n_media;
    char bundle[SDP_MAX_MEDIA][SDP_MAX_MID + 1]; /* a=group:BUNDLE mids in order */
    size_t n_bundle;
    bool has_bundle;
    bool ice_lite; /* the offerer is ICE-lite (then both sides are: sdp_choose() rejects) */
    char msid_semantic[64]; /* "WMS *" etc., "" when absent */
    /* Session-level values (each m-line also has them resolved). */
    char ice_ufrag[SDP_MAX_UFRAG + 1], ice_pwd[SDP_MAX_UFRAG + 1];
    struct sdp_fingerprint fp[SDP_MAX_FP];
    size_t n_fp;
    enum sdp_setup setup;
    bool ice_trickle;
    enum sdp_dir dir;
    char pool[8192]; /* strings of variable size: sprop-parameter-sets */
    size_t pool_used;
};

/* Parses an offer of `len` bytes (no NUL needed; never read past len). On success *out is a new
 * offer the caller frees with sdp_offer_free() and 0 is returned. On failure *out is NULL, a
 * negative errno is returned (-E2BIG for a limit, -EINVAL otherwise) and err holds one line
 * saying what and where. Required: v=0 first; for every m-line not rejected by the offerer
 * (port 0 without a=bundle-only), ice-ufrag, ice-pwd and a sha-256 fingerprint at its level or
 * the session's. */
int sdp_offer_parse(const char *text, size_t len, struct sdp_offer **out, char *err, size_t errlen);
void sdp_offer_free(struct sdp_offer **o);

/* The sha-256 fingerprint of an m-line, NULL when absent (never, after a successful parse, for
 * an m-line the offerer did not reject). */
const struct sdp_fingerprint *sdp_media_fingerprint(const struct sdp_media *m, const char *alg);

/* The id the offer gave the header extension `uri` in m (SDP_EXT_*), or -1: what the RTP layer
 * reads the mid and audio level under, and writes abs-send-time with. */
int sdp_media_extmap_id(const struct sdp_media *m, const char *uri);

/* What we answer for one m-line. sdp_choose() fills it; the user may change it before writing. */
#define SDP_CHOICE_PTS 2
struct sdp_choice {
    bool accept;                /* false: port 0 in the answer, left out of BUNDLE */
    char reason[64];            /* why not accepted, for the log */
    enum sdp_dir dir;           /* our direction */
    uint8_t pt[SDP_CHOICE_PTS]; /* the codec, then its RTX when offered */
    size_t n_pt;
    int rtx_pt;        /* -1 when none */
    uint32_t fb;       /* rtcp-fb we answer for the codec: nack, nack pli, goog-remb when offered */
    uint32_t ext_keep; /* bit i: echo the offer m-line's extmaps[i] */
    /* What we send with (WHEP, the SFU), 0/"" when we only receive: a=ssrc lines, a=msid and
     * a=ssrc-group:FID when rtx_ssrc is set. */
    uint32_t ssrc, rtx_ssrc;
    char cname[64];
    char msid[132];
};

/* Chooses for m-line i of o. Video: H.264 with packetization-mode=1 and profile_idc 0x42
 * (baseline and constrained baseline, 42xxyy), 0x4d (main) or 0x64 (high), first in the offer's
 * order, so the source can pass through to HLS untouched; else VP8; plus the offered RTX whose
 * apt names it. Audio: opus/48000/2. Application and other kinds are rejected, and so is an
 * m-line the offerer rejected, a non-SAVPF proto, or no usable codec. Our direction mirrors the
 * offer's. transport-cc is dropped on purpose: we answer goog-remb, which needs one message
 * from the receiver, not per-packet feedback (see rtc/README.md). Returns 0 when accepted, else
 * -ENOTSUP with c->accept false and c->reason set. */
int sdp_choose(const struct sdp_offer *o, size_t i, struct sdp_choice *c);

struct sdp_local_candidate {
    const char *addr; /* IPv4 or IPv6 literal */
    uint16_t port;
    enum sdp_transport transport; /* TCP is written with tcptype passive */
};

/* Our side of the transport, one per answer. */
struct sdp_local {
    const char *ice_ufrag, *ice_pwd;
    const char *fingerprint; /* "sha-256 AB:CD:..." */
    uint64_t session_id;     /* o= line; any value the user keeps per session */
    const struct sdp_local_candidate *cand;
    size_t n_cand;
    bool end_of_candidates; /* write a=end-of-candidates (all host candidates are known) */
};

/* RFC 8445 5.1.2.1: (2^24) type pref + (2^8) local pref + (256 - component). Host candidates
 * use type preference 126; index i lowers the local preference so every candidate differs; TCP
 * passive takes RFC 6544 4.2's local preference (direction 4 << 13) so UDP ranks first. */
uint32_t sdp_candidate_priority(enum sdp_transport t, size_t index, unsigned component);

/* The answer's a=setup for the offer's: passive for actpass or active, active for passive. */
enum sdp_setup sdp_answer_setup(enum sdp_setup offer);

/* Appends the answer to out: every offer m-line in order, accepted ones with the choices' codecs,
 * direction, mid, the kept extmaps with the offer's ids, rtcp-mux, rtcp-rsize when offered, our
 * credentials, fingerprint, setup, a=ice-lite, candidates and SSRCs; rejected ones with port 0
 * and their mid; a=group:BUNDLE of the accepted mids. choices has o->n_media entries. Returns 0,
 * or -EINVAL with err set when the choices or local values are unusable (nothing accepted, a
 * chosen PT not offered, a value with CR/LF). */
int sdp_answer_write(const struct sdp_offer *o, const struct sdp_choice *choices,
                     const struct sdp_local *local, struct buf *out, char *err, size_t errlen);

/* Our host candidates as a=candidate lines (and a=end-of-candidates), as in an answer: also for
 * the fragment that answers an ICE restart. */
void sdp_write_candidates(struct buf *b, const struct sdp_local_candidate *cand, size_t n,
                          bool end_of_candidates);

/* A trickle ICE fragment (RFC 8840 application/trickle-ice-sdpfrag). */
struct sdp_frag_media {
    char mid[SDP_MAX_MID + 1];
    struct sdp_candidate cand[SDP_MAX_CAND];
    size_t n_cand, cand_dropped;
    bool end_of_candidates;
};

struct sdp_frag {
    /* Credentials, session or m-line level ("" when absent). */
    char ice_ufrag[SDP_MAX_UFRAG + 1], ice_pwd[SDP_MAX_UFRAG + 1];
    struct sdp_frag_media media[SDP_MAX_MEDIA];
    size_t n_media;
    bool end_of_candidates; /* at session level */
};

/* Parses a fragment of `len` bytes into *f (caller-owned; nothing to free). Returns 0 or a
 * negative errno with err set, under the same limits as sdp_offer_parse(). A fragment whose
 * candidates come before any a=mid or m= line is refused: RFC 8840 ties candidates to a mid. */
int sdp_frag_parse(const char *text, size_t len, struct sdp_frag *f, char *err, size_t errlen);

/* True when f carries credentials that differ from the session's: an ICE restart (RFC 8839
 * 4.4.1.1.1), which the WHIP layer answers with new local credentials. */
bool sdp_frag_is_restart(const struct sdp_frag *f, const char *ufrag, const char *pwd);

#endif
