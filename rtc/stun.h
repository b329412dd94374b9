/* STUN messages (RFC 8489, RFC 5389) as ICE uses them: parse, verify, write. Pure functions on
 * byte buffers: no sockets, no allocation, no state.
 *
 * stun_parse() reads a packet into a struct stun_msg whose pointers point into the packet (the
 * caller keeps the packet alive while it uses the struct). It is strict, because the bytes come
 * from anyone who can reach our UDP port:
 *   - the first byte is 0..3 (RFC 7983) and the magic cookie is there;
 *   - the header's length equals the rest of the packet and is a multiple of 4;
 *   - every attribute lies within the packet, padded to 4 bytes;
 *   - only FINGERPRINT may follow MESSAGE-INTEGRITY, nothing may follow FINGERPRINT;
 *   - the attributes we read have their exact sizes (PRIORITY 4, MESSAGE-INTEGRITY 20, ...);
 *   - USERNAME is at most STUN_MAX_USERNAME bytes; at most STUN_MAX_ATTRS attributes.
 * Unknown comprehension-required attributes (type < 0x8000) are not an error of the parse: they
 * are listed in `unknown` so that a server can answer 420 (after authenticating, RFC 8489 §6.3).
 * A repeated attribute: the first one counts (RFC 8489 §14).
 *
 * Integrity and fingerprint are checked by separate calls (stun_check_integrity,
 * stun_check_fingerprint), so that the caller decides the order: ICE checks the fingerprint and
 * the short-term credential before anything else is believed. */
#ifndef KIBITKA_RTC_STUN_H
#define KIBITKA_RTC_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define STUN_HEADER_LEN 20
#define STUN_TXID_LEN 12
#define STUN_MAGIC_COOKIE 0x2112A442u
#define STUN_MAX_USERNAME 513 /* bytes; RFC 8489 §14.3 */
#define STUN_MAX_ATTRS 32     /* a binding request from a browser carries about 8 */
#define STUN_MAX_UNKNOWN 8    /* unknown comprehension-required attributes remembered */
#define STUN_INTEGRITY_LEN 20 /* HMAC-SHA1 */

/* What the first bytes of a datagram on the shared port say it is (RFC 7983, RFC 5761). */
enum rtc_pkt_kind {
    RTC_PKT_UNKNOWN = 0,
    RTC_PKT_STUN, /* first byte 0..3, at least 20 bytes and the magic cookie */
    RTC_PKT_DTLS, /* first byte 20..63, at least a 13-byte record header */
    RTC_PKT_RTP,  /* first byte 128..191, second byte's payload type outside 64..95 */
    RTC_PKT_RTCP, /* first byte 128..191, second byte 192..223 (RTCP packet types 200-207...) */
};
enum rtc_pkt_kind rtc_classify(const uint8_t *p, size_t n);

enum stun_class {
    STUN_CLASS_REQUEST = 0,
    STUN_CLASS_INDICATION = 1,
    STUN_CLASS_SUCCESS = 2,
    STUN_CLASS_ERROR = 3,
};

#define STUN_METHOD_BINDING 0x001

/* Attribute types we know. */
enum {
    STUN_ATTR_MAPPED_ADDRESS = 0x0001,
    STUN_ATTR_USERNAME = 0x0006,
    STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
    STUN_ATTR_ERROR_CODE = 0x0009,
    STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
    STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
    STUN_ATTR_PRIORITY = 0x0024,
    STUN_ATTR_USE_CANDIDATE = 0x0025,
    STUN_ATTR_SOFTWARE = 0x8022,
    STUN_ATTR_FINGERPRINT = 0x8028,
    STUN_ATTR_ICE_CONTROLLED = 0x8029,
    STUN_ATTR_ICE_CONTROLLING = 0x802A,
};

/* A parsed message. Pointers point into the parsed packet; offsets count from its first byte. */
struct stun_msg {
    const uint8_t *pkt;
    size_t len; /* the whole message: 20 + header length */
    uint16_t method;
    enum stun_class cls;
    const uint8_t *txid; /* STUN_TXID_LEN bytes */

    const char *username; /* not NUL-terminated; NULL if absent */
    size_t username_len;
    bool has_priority;
    uint32_t priority;
    bool use_candidate;
    bool has_controlling, has_controlled;
    uint64_t tiebreaker; /* of whichever of the two came first */
    bool has_xor_mapped;
    struct sockaddr_storage xor_mapped; /* AF_INET or AF_INET6, decoded */
    int error_code;                     /* 300..699, or 0 if no ERROR-CODE */
    const char *error_reason;           /* not NUL-terminated */
    size_t error_reason_len;

    size_t integrity_off;   /* offset of the MESSAGE-INTEGRITY attribute header, 0 if absent */
    size_t fingerprint_off; /* offset of the FINGERPRINT attribute header, 0 if absent */

    uint16_t unknown[STUN_MAX_UNKNOWN]; /* unknown comprehension-required types, first ones */
    size_t n_unknown;
};

/* Parses the packet. 0, or -EINVAL for anything malformed (the list above). */
int stun_parse(const uint8_t *p, size_t n, struct stun_msg *m);

/* HMAC-SHA1 of the message up to MESSAGE-INTEGRITY (with the header's length as it was when the
 * attribute was added) compared in constant time with the attribute. key is the short-term
 * password (its bytes; ICE passwords need no SASLprep). false if the attribute is absent. */
bool stun_check_integrity(const struct stun_msg *m, const void *key, size_t keylen);
/* CRC-32 of the message up to FINGERPRINT xor 0x5354554e. false if the attribute is absent. */
bool stun_check_fingerprint(const struct stun_msg *m);

/* CRC-32 (IEEE 802.3, as zlib's crc32) of p[0..n). */
uint32_t stun_crc32(const uint8_t *p, size_t n);

/* Writers. Each writes a whole message into out[0..cap) and returns its length, or -ENOSPC if
 * cap is too small, -EINVAL for an argument it cannot encode. A key (short-term password) adds
 * MESSAGE-INTEGRITY; every message ends with FINGERPRINT, as ICE requires (RFC 8445 §7.2.2). */

/* Binding success response with XOR-MAPPED-ADDRESS = mapped (AF_INET or AF_INET6). */
int stun_write_binding_success(uint8_t *out, size_t cap, const uint8_t txid[STUN_TXID_LEN],
                               const struct sockaddr *mapped, const void *key, size_t keylen);

/* Error response to a request of `method`: ERROR-CODE with code (300..699) and its reason
 * phrase (ours for 400, 401, 420, 487; "Error" otherwise); for 420, UNKNOWN-ATTRIBUTES listing
 * unknown[0..n_unknown). key may be NULL (an unauthenticated request gets no MESSAGE-INTEGRITY). */
int stun_write_error(uint8_t *out, size_t cap, uint16_t method, const uint8_t txid[STUN_TXID_LEN],
                     int code, const uint16_t *unknown, size_t n_unknown, const void *key,
                     size_t keylen);

/* A binding request as an ICE agent sends it (for tests, and a later client role). */
struct stun_request {
    const uint8_t *txid;  /* STUN_TXID_LEN bytes */
    const char *username; /* "THEIRUFRAG:OURUFRAG", or NULL for none */
    uint32_t priority;    /* 0: no PRIORITY attribute */
    bool use_candidate;
    bool controlling, controlled; /* at most one */
    uint64_t tiebreaker;
    const void *key; /* the peer's password; NULL for no MESSAGE-INTEGRITY */
    size_t keylen;
};
int stun_write_binding_request(uint8_t *out, size_t cap, const struct stun_request *r);

#endif
