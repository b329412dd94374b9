/* STUN parse, verify and write (see stun.h). */
#include "rtc/stun.h"

#include <errno.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#define FINGERPRINT_XOR 0x5354554eu

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, (uint16_t)(v >> 16));
    wr16(p + 2, (uint16_t)v);
}

enum rtc_pkt_kind rtc_classify(const uint8_t *p, size_t n)
{
    if (n == 0)
        return RTC_PKT_UNKNOWN;
    uint8_t b = p[0];
    if (b <= 3)
        return n >= STUN_HEADER_LEN && rd32(p + 4) == STUN_MAGIC_COOKIE ? RTC_PKT_STUN
                                                                        : RTC_PKT_UNKNOWN;
    if (b >= 20 && b <= 63)
        return n >= 13 ? RTC_PKT_DTLS : RTC_PKT_UNKNOWN;
    if (b >= 128 && b <= 191) {
        if (n < 4)
            return RTC_PKT_UNKNOWN;
        /* RFC 5761 §4: with rtcp-mux, RTP payload types 64..95 are not used, so a second byte
         * of 192..223 (M bit set, PT 64..95) is an RTCP packet type 192..223. */
        if (p[1] >= 192 && p[1] <= 223)
            return RTC_PKT_RTCP;
        return n >= 12 ? RTC_PKT_RTP : RTC_PKT_UNKNOWN;
    }
    return RTC_PKT_UNKNOWN;
}

/* CRC-32 a nibble at a time: a 16-entry table is small and fast enough for STUN. */
static const uint32_t crc_nibble[16] = {
    0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
    0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c, 0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
};

uint32_t stun_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        c = (c >> 4) ^ crc_nibble[c & 15];
        c = (c >> 4) ^ crc_nibble[c & 15];
    }
    return c ^ 0xffffffffu;
}

static int parse_xor_addr(const uint8_t *v, size_t len, const uint8_t *hdr,
                          struct sockaddr_storage *out)
{
    if (len < 4)
        return -EINVAL;
    uint16_t port = rd16(v + 2) ^ (uint16_t)(STUN_MAGIC_COOKIE >> 16);
    memset(out, 0, sizeof(*out));
    if (v[1] == 0x01 && len == 8) {
        struct sockaddr_in *sin = (struct sockaddr_in *)out;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        uint8_t *a = (uint8_t *)&sin->sin_addr;
        for (int i = 0; i < 4; i++)
            a[i] = v[4 + i] ^ hdr[4 + i];
        return 0;
    }
    if (v[1] == 0x02 && len == 20) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        /* xor with the cookie and the transaction id: header bytes 4..20 */
        for (int i = 0; i < 16; i++)
            sin6->sin6_addr.s6_addr[i] = v[4 + i] ^ hdr[4 + i];
        return 0;
    }
    return -EINVAL;
}

static int parse_error_code(const uint8_t *v, size_t len, struct stun_msg *m)
{
    if (len < 4 || len > 4 + 763)
        return -EINVAL;
    int cls = v[2] & 7, num = v[3];
    if (cls < 3 || cls > 6 || num > 99)
        return -EINVAL;
    m->error_code = cls * 100 + num;
    m->error_reason = (const char *)v + 4;
    m->error_reason_len = len - 4;
    return 0;
}

/* One attribute of type t, value v[0..len). Of a repeated attribute the first counts. */
static int parse_attr(struct stun_msg *m, uint16_t t, const uint8_t *v, size_t len)
{
    switch (t) {
    case STUN_ATTR_USERNAME:
        if (len > STUN_MAX_USERNAME)
            return -EINVAL;
        if (!m->username) {
            m->username = (const char *)v;
            m->username_len = len;
        }
        return 0;
    case STUN_ATTR_PRIORITY:
        if (len != 4)
            return -EINVAL;
        if (!m->has_priority) {
            m->has_priority = true;
            m->priority = rd32(v);
        }
        return 0;
    case STUN_ATTR_USE_CANDIDATE:
        if (len != 0)
            return -EINVAL;
        m->use_candidate = true;
        return 0;
    case STUN_ATTR_ICE_CONTROLLED:
    case STUN_ATTR_ICE_CONTROLLING:
        if (len != 8)
            return -EINVAL;
        if (!m->has_controlled && !m->has_controlling)
            m->tiebreaker = (uint64_t)rd32(v) << 32 | rd32(v + 4);
        if (t == STUN_ATTR_ICE_CONTROLLED)
            m->has_controlled = true;
        else
            m->has_controlling = true;
        return 0;
    case STUN_ATTR_XOR_MAPPED_ADDRESS:
        if (m->has_xor_mapped)
            return 0;
        m->has_xor_mapped = true;
        return parse_xor_addr(v, len, m->pkt, &m->xor_mapped);
    case STUN_ATTR_ERROR_CODE:
        return m->error_code ? 0 : parse_error_code(v, len, m);
    case STUN_ATTR_MESSAGE_INTEGRITY:
        return len == STUN_INTEGRITY_LEN ? 0 : -EINVAL;
    case STUN_ATTR_FINGERPRINT:
        return len == 4 ? 0 : -EINVAL;
    case STUN_ATTR_MAPPED_ADDRESS:
    case STUN_ATTR_UNKNOWN_ATTRIBUTES:
        return 0; /* understood, not needed by ICE */
    default:
        if (t < 0x8000 && m->n_unknown < STUN_MAX_UNKNOWN)
            m->unknown[m->n_unknown++] = t;
        return 0;
    }
}

int stun_parse(const uint8_t *p, size_t n, struct stun_msg *m)
{
    memset(m, 0, sizeof(*m));
    /* first byte 0..3, not just the top two bits clear: on the shared port 4..63 belong to
     * ZRTP, DTLS and TURN channels (RFC 7983), so only what rtc_classify calls STUN parses */
    if (n < STUN_HEADER_LEN || p[0] > 3 || rd32(p + 4) != STUN_MAGIC_COOKIE)
        return -EINVAL;
    size_t body = rd16(p + 2);
    if (body % 4 != 0 || body != n - STUN_HEADER_LEN)
        return -EINVAL;
    uint16_t type = rd16(p);
    m->pkt = p;
    m->len = n;
    m->txid = p + 8;
    /* method bits M11..M0 are spread around the class bits C1 (bit 8) and C0 (bit 4) */
    m->method = (uint16_t)((type & 0x000f) | (type & 0x00e0) >> 1 | (type & 0x3e00) >> 2);
    m->cls = (enum stun_class)((type >> 4 & 1) | (type >> 7 & 2));

    size_t off = STUN_HEADER_LEN, count = 0;
    while (off < n) {
        if (++count > STUN_MAX_ATTRS || n - off < 4)
            return -EINVAL;
        uint16_t t = rd16(p + off);
        size_t len = rd16(p + off + 2), padded = (len + 3) & ~(size_t)3;
        if (padded > n - off - 4)
            return -EINVAL;
        if (m->fingerprint_off)
            return -EINVAL; /* nothing after FINGERPRINT */
        if (m->integrity_off && t != STUN_ATTR_FINGERPRINT)
            return -EINVAL; /* only FINGERPRINT after MESSAGE-INTEGRITY */
        int rc = parse_attr(m, t, p + off + 4, len);
        if (rc < 0)
            return rc;
        if (t == STUN_ATTR_MESSAGE_INTEGRITY)
            m->integrity_off = off;
        else if (t == STUN_ATTR_FINGERPRINT)
            m->fingerprint_off = off;
        off += 4 + padded;
    }
    return 0;
}

/* HMAC-SHA1 of hdr (the 20-byte header, length field already adjusted) then rest[0..restlen). */
static bool hmac_sha1(const void *key, size_t keylen, const uint8_t hdr[STUN_HEADER_LEN],
                      const uint8_t *rest, size_t restlen, uint8_t out[STUN_INTEGRITY_LEN])
{
    bool ok = false;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA1", 0),
        OSSL_PARAM_construct_end(),
    };
    size_t outlen = 0;
    /* an empty key is legal HMAC, but EVP wants a non-NULL pointer */
    static const uint8_t none;
    if (ctx && EVP_MAC_init(ctx, keylen ? key : &none, keylen, params) == 1 &&
        EVP_MAC_update(ctx, hdr, STUN_HEADER_LEN) == 1 &&
        (restlen == 0 || EVP_MAC_update(ctx, rest, restlen) == 1) &&
        EVP_MAC_final(ctx, out, &outlen, STUN_INTEGRITY_LEN) == 1)
        ok = outlen == STUN_INTEGRITY_LEN;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return ok;
}

/* HMAC over p[0..mi_off) as if the message ended with the MESSAGE-INTEGRITY attribute. */
static bool integrity_of(const uint8_t *p, size_t mi_off, const void *key, size_t keylen,
                         uint8_t out[STUN_INTEGRITY_LEN])
{
    uint8_t hdr[STUN_HEADER_LEN];
    memcpy(hdr, p, STUN_HEADER_LEN);
    wr16(hdr + 2, (uint16_t)(mi_off + 4 + STUN_INTEGRITY_LEN - STUN_HEADER_LEN));
    return hmac_sha1(key, keylen, hdr, p + STUN_HEADER_LEN, mi_off - STUN_HEADER_LEN, out);
}

bool stun_check_integrity(const struct stun_msg *m, const void *key, size_t keylen)
{
    if (!m->integrity_off)
        return false;
    uint8_t want[STUN_INTEGRITY_LEN];
    if (!integrity_of(m->pkt, m->integrity_off, key, keylen, want))
        return false;
    return CRYPTO_memcmp(want, m->pkt + m->integrity_off + 4, STUN_INTEGRITY_LEN) == 0;
}

bool stun_check_fingerprint(const struct stun_msg *m)
{
    if (!m->fingerprint_off)
        return false;
    /* The parse made FINGERPRINT the last attribute, so the header length already counts it. */
    uint32_t want = stun_crc32(m->pkt, m->fingerprint_off) ^ FINGERPRINT_XOR;
    return rd32(m->pkt + m->fingerprint_off + 4) == want;
}

/* A message being written: attributes appended, the header's length kept current. */
struct writer {
    uint8_t *p;
    size_t cap, len;
    bool full;
};

static void w_start(struct writer *w, uint8_t *out, size_t cap, uint16_t method,
                    enum stun_class cls, const uint8_t *txid)
{
    *w = (struct writer){.p = out, .cap = cap};
    if (cap < STUN_HEADER_LEN) {
        w->full = true;
        return;
    }
    uint16_t type = (uint16_t)((method & 0x000f) | (method & 0x0070) << 1 | (method & 0x0f80) << 2 |
                               (cls & 1) << 4 | (cls & 2) << 7);
    wr16(out, type);
    wr16(out + 2, 0);
    wr32(out + 4, STUN_MAGIC_COOKIE);
    memcpy(out + 8, txid, STUN_TXID_LEN);
    w->len = STUN_HEADER_LEN;
}

/* Appends an attribute and returns its value's place (len bytes, then zero padding), or NULL. */
static uint8_t *w_attr(struct writer *w, uint16_t type, size_t len)
{
    size_t padded = (len + 3) & ~(size_t)3;
    if (w->full || len > 0xffff || w->cap - w->len < 4 + padded ||
        w->len - STUN_HEADER_LEN + 4 + padded > 0xffff) {
        w->full = true;
        return NULL;
    }
    uint8_t *a = w->p + w->len;
    wr16(a, type);
    wr16(a + 2, (uint16_t)len);
    memset(a + 4 + len, 0, padded - len);
    w->len += 4 + padded;
    wr16(w->p + 2, (uint16_t)(w->len - STUN_HEADER_LEN));
    return a + 4;
}

static void w_bytes(struct writer *w, uint16_t type, const void *v, size_t len)
{
    uint8_t *a = w_attr(w, type, len);
    if (a && len)
        memcpy(a, v, len);
}

static void w_u32(struct writer *w, uint16_t type, uint32_t v)
{
    uint8_t *a = w_attr(w, type, 4);
    if (a)
        wr32(a, v);
}

static void w_u64(struct writer *w, uint16_t type, uint64_t v)
{
    uint8_t *a = w_attr(w, type, 8);
    if (a) {
        wr32(a, (uint32_t)(v >> 32));
        wr32(a + 4, (uint32_t)v);
    }
}

/* MESSAGE-INTEGRITY (if key) then FINGERPRINT; returns the length or -ENOSPC. */
static int w_finish(struct writer *w, const void *key, size_t keylen)
{
    if (key) {
        size_t off = w->len;
        uint8_t *a = w_attr(w, STUN_ATTR_MESSAGE_INTEGRITY, STUN_INTEGRITY_LEN);
        if (a && !integrity_of(w->p, off, key, keylen, a))
            return -EIO;
    }
    size_t off = w->len;
    uint8_t *a = w_attr(w, STUN_ATTR_FINGERPRINT, 4);
    if (!a)
        return -ENOSPC;
    wr32(a, stun_crc32(w->p, off) ^ FINGERPRINT_XOR);
    return (int)w->len;
}

static int w_xor_addr(struct writer *w, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        uint8_t *a = w_attr(w, STUN_ATTR_XOR_MAPPED_ADDRESS, 8);
        if (!a)
            return 0;
        a[0] = 0;
        a[1] = 0x01;
        wr16(a + 2, ntohs(sin->sin_port) ^ (uint16_t)(STUN_MAGIC_COOKIE >> 16));
        const uint8_t *ip = (const uint8_t *)&sin->sin_addr;
        for (int i = 0; i < 4; i++)
            a[4 + i] = ip[i] ^ w->p[4 + i];
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        uint8_t *a = w_attr(w, STUN_ATTR_XOR_MAPPED_ADDRESS, 20);
        if (!a)
            return 0;
        a[0] = 0;
        a[1] = 0x02;
        wr16(a + 2, ntohs(sin6->sin6_port) ^ (uint16_t)(STUN_MAGIC_COOKIE >> 16));
        for (int i = 0; i < 16; i++)
            a[4 + i] = sin6->sin6_addr.s6_addr[i] ^ w->p[4 + i];
        return 0;
    }
    return -EINVAL;
}

int stun_write_binding_success(uint8_t *out, size_t cap, const uint8_t txid[STUN_TXID_LEN],
                               const struct sockaddr *mapped, const void *key, size_t keylen)
{
    struct writer w;
    w_start(&w, out, cap, STUN_METHOD_BINDING, STUN_CLASS_SUCCESS, txid);
    if (w_xor_addr(&w, mapped) < 0)
        return -EINVAL;
    return w_finish(&w, key, keylen);
}

static const char *reason_phrase(int code)
{
    switch (code) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 420:
        return "Unknown Attribute";
    case 487:
        return "Role Conflict";
    default:
        return "Error";
    }
}

int stun_write_error(uint8_t *out, size_t cap, uint16_t method, const uint8_t txid[STUN_TXID_LEN],
                     int code, const uint16_t *unknown, size_t n_unknown, const void *key,
                     size_t keylen)
{
    if (code < 300 || code > 699 || method > 0xfff || n_unknown > STUN_MAX_UNKNOWN)
        return -EINVAL;
    struct writer w;
    w_start(&w, out, cap, method, STUN_CLASS_ERROR, txid);
    const char *reason = reason_phrase(code);
    size_t rlen = strlen(reason);
    uint8_t *a = w_attr(&w, STUN_ATTR_ERROR_CODE, 4 + rlen);
    if (a) {
        wr16(a, 0);
        a[2] = (uint8_t)(code / 100);
        a[3] = (uint8_t)(code % 100);
        memcpy(a + 4, reason, rlen);
    }
    if (code == 420 && n_unknown) {
        a = w_attr(&w, STUN_ATTR_UNKNOWN_ATTRIBUTES, 2 * n_unknown);
        for (size_t i = 0; a && i < n_unknown; i++)
            wr16(a + 2 * i, unknown[i]);
    }
    return w_finish(&w, key, keylen);
}

int stun_write_binding_request(uint8_t *out, size_t cap, const struct stun_request *r)
{
    if (r->controlling && r->controlled)
        return -EINVAL;
    struct writer w;
    w_start(&w, out, cap, STUN_METHOD_BINDING, STUN_CLASS_REQUEST, r->txid);
    if (r->username) {
        size_t len = strlen(r->username);
        if (len > STUN_MAX_USERNAME)
            return -EINVAL;
        w_bytes(&w, STUN_ATTR_USERNAME, r->username, len);
    }
    if (r->priority)
        w_u32(&w, STUN_ATTR_PRIORITY, r->priority);
    if (r->controlling)
        w_u64(&w, STUN_ATTR_ICE_CONTROLLING, r->tiebreaker);
    if (r->controlled)
        w_u64(&w, STUN_ATTR_ICE_CONTROLLED, r->tiebreaker);
    if (r->use_candidate)
        w_attr(&w, STUN_ATTR_USE_CANDIDATE, 0);
    return w_finish(&w, r->key, r->keylen);
}
