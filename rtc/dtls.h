/* DTLS-SRTP (RFC 5764, RFC 8827) on OpenSSL, without sockets or a loop.
 *
 * Two objects:
 *
 *  - struct rtc_dtls_ctx, one per process: an ECDSA P-256 key and a self-signed X.509 certificate
 *    made at start (random serial, CN "kibitka", valid from a day ago for 30 days), its SHA-256
 *    fingerprint as SDP wants it ("sha-256 AB:CD:..."), and the one SSL_CTX every session shares
 *    (DTLS 1.2 only, use_srtp, no cookie exchange, no session cache).
 *
 *  - struct rtc_dtls, one per session: an SSL object on a memory BIO for input and a packing BIO
 *    for output. The transport feeds it every datagram that RFC 7983 classifies as DTLS
 *    (rtc_dtls_feed) and gets datagrams to send through the send callback, at most `mtu` bytes
 *    each (records packed together up to the MTU). It owns no timer: after every call the
 *    transport asks rtc_dtls_next_timeout_us() and arms its loop timer, which calls
 *    rtc_dtls_on_timeout(). Time is the caller's monotonic clock in microseconds (`now_us`); the
 *    handshake must finish within handshake_timeout_ms of create. (OpenSSL's own retransmission
 *    timer reads real time; next_timeout_us reports it, so the loop only has to call back.)
 *
 * The peer's certificate is not checked against any CA: WebRTC certificates are self-signed, and
 * the check is its fingerprint against the one in the peer's SDP (a=fingerprint), compared in
 * constant time in the verify callback; a mismatch fails the handshake ("fingerprint mismatch")
 * and no keys are exported. After the handshake, the negotiated SRTP profile and the keying
 * material (RFC 5764 §4.2, label "EXTRACTOR-dtls_srtp") are in rtc_dtls_srtp_keys().
 * Application data (SCTP for data channels) is read and discarded.
 *
 * DTLS 1.3 is left out: OpenSSL 3.0 has none, and the max version is pinned at 1.2 so a newer
 * libssl does not start negotiating it before browsers and our tests cover DTLS 1.3 with use_srtp.
 *
 * Threads: a ctx may be shared by sessions on any threads (SSL_CTX is thread-safe for this use);
 * one session belongs to one thread at a time. Ownership: the ctx must outlive its sessions. */
#ifndef KIBITKA_RTC_DTLS_H
#define KIBITKA_RTC_DTLS_H

#include <stddef.h>
#include <stdint.h>

#include "rtc/srtp.h"

/* A certificate fingerprint as SDP carries it (RFC 8122): the hash and its digest bytes. */
enum rtc_dtls_hash { RTC_DTLS_SHA1 = 1, RTC_DTLS_SHA256, RTC_DTLS_SHA384, RTC_DTLS_SHA512 };
struct rtc_dtls_fingerprint {
    enum rtc_dtls_hash hash;
    uint8_t len; /* 20, 32, 48 or 64 */
    uint8_t md[64];
};

/* Parses the a=fingerprint value "sha-256 AB:CD:..." (hash name case-insensitive, hex either
 * case, the digest length checked against the hash). 0, or -EINVAL. */
int rtc_dtls_fingerprint_parse(const char *s, struct rtc_dtls_fingerprint *out);

struct rtc_dtls_ctx_options {
    /* OpenSSL's use_srtp list in preference order; NULL: "SRTP_AEAD_AES_128_GCM:
     * SRTP_AES128_CM_SHA1_80". As server OpenSSL picks by this order among what the client
     * offers. libwebrtc (GCM suites on by default in current releases) and Firefox offer
     * AEAD_AES_256_GCM, AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80, so AES-128-GCM wins with them
     * and CM_80 stays for the rest (not yet checked against a live browser here). */
    const char *srtp_profiles;
    unsigned mtu;                  /* largest datagram sent; 0: 1200 */
    unsigned initial_timeout_ms;   /* first retransmission; doubles up to 8 s; 0: 1000 (RFC 6347) */
    unsigned handshake_timeout_ms; /* from create to connected; 0: 30000 */
};

struct rtc_dtls_ctx;

/* Makes the key, the certificate and the SSL_CTX. opts may be NULL (defaults). 0 and *out, or
 * -EINVAL (a bad option, e.g. an unknown SRTP profile) / -EIO (OpenSSL failed, logged). */
int rtc_dtls_ctx_create(struct rtc_dtls_ctx **out, const struct rtc_dtls_ctx_options *opts);
void rtc_dtls_ctx_destroy(struct rtc_dtls_ctx **ctxp);
/* "sha-256 AB:CD:..." for a=fingerprint; valid while the ctx lives. */
const char *rtc_dtls_ctx_fingerprint(const struct rtc_dtls_ctx *ctx);
/* The same, as bytes (for tests and for a peer made from this ctx). */
void rtc_dtls_ctx_fingerprint_bytes(const struct rtc_dtls_ctx *ctx,
                                    struct rtc_dtls_fingerprint *out);
/* The certificate's fingerprint with another hash (sha-1, sha-384, sha-512): 0 or -EINVAL. */
int rtc_dtls_ctx_digest(const struct rtc_dtls_ctx *ctx, enum rtc_dtls_hash hash,
                        struct rtc_dtls_fingerprint *out);

enum rtc_dtls_role {
    RTC_DTLS_CLIENT, /* a=setup:active on our side: we send the ClientHello */
    RTC_DTLS_SERVER, /* a=setup:passive: we wait for it */
};

enum rtc_dtls_state {
    RTC_DTLS_HANDSHAKING,
    RTC_DTLS_CONNECTED, /* keys available */
    RTC_DTLS_FAILED,    /* rtc_dtls_reason() says why; the session is over */
    RTC_DTLS_CLOSED,    /* close_notify sent or received */
};

/* Called with each datagram to send to the peer, synchronously from within feed, start,
 * on_timeout and close. The bytes are valid only during the call. It must not destroy the
 * endpoint or call back into it. */
typedef void (*rtc_dtls_send_fn)(void *opaque, const uint8_t *data, size_t len);

struct rtc_dtls;

/* A session endpoint. peer is the fingerprint from the peer's SDP (copied). Never fails except
 * on out-of-memory inside OpenSSL, then NULL (logged). */
struct rtc_dtls *rtc_dtls_create(struct rtc_dtls_ctx *ctx, enum rtc_dtls_role role,
                                 const struct rtc_dtls_fingerprint *peer, rtc_dtls_send_fn send,
                                 void *opaque, int64_t now_us);
/* Frees the session (sends nothing; call rtc_dtls_close first for a close_notify). NULL-safe,
 * clears *dp. */
void rtc_dtls_destroy(struct rtc_dtls **dp);

/* Client role: sends the ClientHello. 0, or -EINVAL for a server endpoint or a second call. */
int rtc_dtls_start(struct rtc_dtls *d, int64_t now_us);

/* One datagram from the peer. Its DTLS record framing is checked first (content type 20-25,
 * version 1.0/1.2, lengths inside the datagram, at most 32 records, unencrypted handshake
 * fragments inside their message); a malformed datagram is dropped before OpenSSL sees it
 * (-EINVAL; the state is unchanged). Otherwise 0: look at rtc_dtls_state() for the outcome. */
int rtc_dtls_feed(struct rtc_dtls *d, const uint8_t *data, size_t len, int64_t now_us);

/* The framing check alone: 0 if the datagram is well-formed DTLS records, else -EINVAL. */
int rtc_dtls_check_records(const uint8_t *data, size_t len);

/* Microseconds from now_us until rtc_dtls_on_timeout should run (0: now), or -1 when no timer
 * is needed (connected, failed, closed). */
int64_t rtc_dtls_next_timeout_us(struct rtc_dtls *d, int64_t now_us);
/* Retransmits the last flight if OpenSSL's timer expired; fails the session with "handshake
 * timeout" past the handshake deadline. Calling it early is harmless. */
void rtc_dtls_on_timeout(struct rtc_dtls *d, int64_t now_us);

enum rtc_dtls_state rtc_dtls_state(const struct rtc_dtls *d);
/* One line for the log: "" while fine; "fingerprint mismatch", "DTLS alert: ...", "handshake
 * timeout", "DTLS error: ...", "no SRTP profile negotiated", "peer closed". */
const char *rtc_dtls_reason(const struct rtc_dtls *d);
enum rtc_dtls_role rtc_dtls_role(const struct rtc_dtls *d);

/* Connected: copies the SRTP profile and keys. -EAGAIN before, -EINVAL when failed/closed. */
int rtc_dtls_srtp_keys(const struct rtc_dtls *d, struct rtc_srtp_keys *out);

/* Sends close_notify if connected and moves to CLOSED. */
void rtc_dtls_close(struct rtc_dtls *d);

#endif
