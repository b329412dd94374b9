/* SRTP and SRTCP for one WebRTC session, on libsrtp2.
 *
 * The keys come from the DTLS handshake (rtc/dtls.h exports a struct rtc_srtp_keys): RFC 5764
 * §4.2 gives a client write key+salt and a server write key+salt. A session pair is made for the
 * local role: what the local side sends is protected with its own write key, what it receives is
 * unprotected with the peer's write key. Two libsrtp2 sessions per pair: the inbound one accepts
 * any SSRC (ssrc_any_inbound: a new SSRC, an RTX stream, a simulcast layer, needs no set-up
 * here) and the outbound one any SSRC we send.
 *
 * Replay protection is on, both for SRTP and SRTCP. The window is RTC_SRTP_REPLAY_WINDOW packets
 * (libsrtp2's default is 128): a packet older than that, or one seen already, is refused. NACK'd
 * retransmissions arrive on their own RTX SSRC with their own sequence numbers, so they do not
 * trip the window; the wider window is for reordering on long paths. The outbound session allows
 * protecting the same packet again (allow_repeat_tx): resending a packet as-is after a NACK on a
 * stream without RTX encrypts the same plaintext with the same index, which reveals nothing.
 *
 * Every function works in place on a caller's buffer: `*len` is the packet's length on entry and
 * its new length on success; `cap` is the buffer's size. Protect grows the packet (RTP: the auth
 * tag, 10 bytes for AES_CM_128_HMAC_SHA1_80 and 16 for AEAD_AES_128_GCM; RTCP: the tag plus the
 * 4-byte SRTCP index), so `cap` must leave RTC_SRTP_MAX_TRAILER bytes after the packet.
 *
 * Errors are negative errno-style codes; rtc_srtp_strerror() gives the reason for the log:
 *   -EBADMSG  authentication failed (a flipped bit, a wrong key)
 *   -EALREADY replayed: the index was seen already (replay_fail)
 *   -ESTALE   too old: the index is behind the replay window (replay_old)
 *   -EINVAL   malformed (too short, bad header) or not accepted by libsrtp2
 *   -ENOBUFS  protect: `cap` has no room for the trailer
 * A session pair belongs to one thread at a time (libsrtp2 contexts are not locked). */
#ifndef KIBITKA_RTC_SRTP_H
#define KIBITKA_RTC_SRTP_H

#include <stddef.h>
#include <stdint.h>

enum rtc_srtp_profile {
    RTC_SRTP_NONE = 0,
    RTC_SRTP_AES128_CM_SHA1_80 = 1, /* RFC 5764 SRTP_AES128_CM_HMAC_SHA1_80, id 0x0001 */
    RTC_SRTP_AEAD_AES_128_GCM = 7,  /* RFC 7714 SRTP_AEAD_AES_128_GCM, id 0x0007 */
};

#define RTC_SRTP_KEY_MAX 16
#define RTC_SRTP_SALT_MAX 14
#define RTC_SRTP_REPLAY_WINDOW 1024
/* The most protect adds: SRTCP's 4-byte index (with the E flag) + a 16-byte GCM tag. */
#define RTC_SRTP_MAX_TRAILER 20

/* What DTLS-SRTP exports (RFC 5764 §4.2). key_len/salt_len depend on the profile: 16+14 for
 * AES128_CM_SHA1_80, 16+12 for AEAD_AES_128_GCM. */
struct rtc_srtp_keys {
    enum rtc_srtp_profile profile;
    uint8_t key_len, salt_len;
    uint8_t client_key[RTC_SRTP_KEY_MAX], client_salt[RTC_SRTP_SALT_MAX];
    uint8_t server_key[RTC_SRTP_KEY_MAX], server_salt[RTC_SRTP_SALT_MAX];
};

/* Key and salt lengths of a profile; 0 on success, -EINVAL for an unknown profile. */
int rtc_srtp_profile_lengths(enum rtc_srtp_profile p, unsigned *key_len, unsigned *salt_len);
/* "AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM", "none". */
const char *rtc_srtp_profile_name(enum rtc_srtp_profile p);

struct rtc_srtp;

/* Makes the pair for the local side: local_is_client is the DTLS role this side played. Calls
 * libsrtp2's srtp_init() once per process first. 0 and *out, or -EINVAL (bad profile or key
 * lengths) with *out NULL. The keys are copied; the caller may wipe its copy. */
int rtc_srtp_create(struct rtc_srtp **out, const struct rtc_srtp_keys *keys, int local_is_client);
/* Frees the pair and clears *sp; NULL-safe. */
void rtc_srtp_destroy(struct rtc_srtp **sp);

int rtc_srtp_protect_rtp(struct rtc_srtp *s, uint8_t *pkt, size_t *len, size_t cap);
int rtc_srtp_protect_rtcp(struct rtc_srtp *s, uint8_t *pkt, size_t *len, size_t cap);
int rtc_srtp_unprotect_rtp(struct rtc_srtp *s, uint8_t *pkt, size_t *len);
int rtc_srtp_unprotect_rtcp(struct rtc_srtp *s, uint8_t *pkt, size_t *len);

/* "authentication failed", "replayed packet", "packet too old for the replay window", ... */
const char *rtc_srtp_strerror(int err);

#endif
