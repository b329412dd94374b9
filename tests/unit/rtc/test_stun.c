/* rtc/stun: the RFC 5769 vectors, the writers read back by the parser, the RFC 7983
 * classifier, and the malformed inputs the parser must refuse. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "rtc/stun.h"
#include "test.h"

/* RFC 5769 §2.1-2.3 (short-term credentials). */
static const char vec_pwd[] = "VOkJxbRl1RmTxUk/WvJxBt";

static const uint8_t vec_request[] = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
    0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
    0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};

static const uint8_t vec_resp4[] = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};

static const uint8_t vec_resp6[] = {
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
    0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14,
    0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75,
    0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c,
};

static const uint8_t txid[STUN_TXID_LEN] = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
                                            0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

static bool verifies(const uint8_t *p, size_t n)
{
    struct stun_msg m;
    return stun_parse(p, n, &m) == 0 && stun_check_integrity(&m, vec_pwd, strlen(vec_pwd)) &&
           stun_check_fingerprint(&m);
}

/* Every single-bit flip of a vector must fail the parse, the integrity or the fingerprint. */
static void check_bit_flips(const uint8_t *vec, size_t n)
{
    uint8_t p[128];
    int passed = 0;
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(p, vec, n);
            p[i] ^= (uint8_t)(1 << bit);
            passed += verifies(p, n);
        }
    }
    CHECK_EQ_INT(passed, 0);
}

static void test_rfc5769_request(void)
{
    struct stun_msg m;
    CHECK_EQ_INT(stun_parse(vec_request, sizeof(vec_request), &m), 0);
    CHECK_EQ_INT(m.method, STUN_METHOD_BINDING);
    CHECK_EQ_INT(m.cls, STUN_CLASS_REQUEST);
    CHECK(memcmp(m.txid, txid, STUN_TXID_LEN) == 0);
    CHECK(m.username_len == 9 && memcmp(m.username, "evtj:h6vY", 9) == 0);
    CHECK(m.has_priority && m.priority == 0x6e0001ff);
    CHECK(m.has_controlled && !m.has_controlling);
    CHECK(m.tiebreaker == 0x932ff9b151263b36ull);
    CHECK(!m.use_candidate);
    CHECK_EQ_INT(m.n_unknown, 0);
    CHECK_EQ_INT(m.integrity_off, 76);
    CHECK_EQ_INT(m.fingerprint_off, 100);
    CHECK(stun_check_integrity(&m, vec_pwd, strlen(vec_pwd)));
    CHECK(stun_check_fingerprint(&m));
    CHECK(!stun_check_integrity(&m, "VOkJxbRl1RmTxUk/WvJxBT", 22)); /* one letter's case */
    check_bit_flips(vec_request, sizeof(vec_request));
}

static void test_rfc5769_responses(void)
{
    struct stun_msg m;
    CHECK_EQ_INT(stun_parse(vec_resp4, sizeof(vec_resp4), &m), 0);
    CHECK_EQ_INT(m.cls, STUN_CLASS_SUCCESS);
    CHECK(m.has_xor_mapped);
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&m.xor_mapped;
    CHECK_EQ_INT(sin->sin_family, AF_INET);
    CHECK_EQ_INT(ntohs(sin->sin_port), 32853);
    CHECK_EQ_INT(ntohl(sin->sin_addr.s_addr), 0xc0000201); /* 192.0.2.1 */
    CHECK(stun_check_integrity(&m, vec_pwd, strlen(vec_pwd)));
    CHECK(stun_check_fingerprint(&m));
    check_bit_flips(vec_resp4, sizeof(vec_resp4));

    CHECK_EQ_INT(stun_parse(vec_resp6, sizeof(vec_resp6), &m), 0);
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&m.xor_mapped;
    struct in6_addr want;
    inet_pton(AF_INET6, "2001:db8:1234:5678:11:2233:4455:6677", &want);
    CHECK_EQ_INT(sin6->sin6_family, AF_INET6);
    CHECK_EQ_INT(ntohs(sin6->sin6_port), 32853);
    CHECK(memcmp(&sin6->sin6_addr, &want, 16) == 0);
    CHECK(stun_check_integrity(&m, vec_pwd, strlen(vec_pwd)));
    CHECK(stun_check_fingerprint(&m));
    check_bit_flips(vec_resp6, sizeof(vec_resp6));
}

static void test_crc32(void)
{
    CHECK_EQ_INT(stun_crc32((const uint8_t *)"123456789", 9), 0xcbf43926u);
    CHECK_EQ_INT(stun_crc32(NULL, 0), 0);
}

static void test_write_success(void)
{
    uint8_t out[128];
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(32853)};
    inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
    int n = stun_write_binding_success(out, sizeof(out), txid, (struct sockaddr *)&sin, vec_pwd,
                                       strlen(vec_pwd));
    CHECK_EQ_INT(n, 20 + 12 + 24 + 8);
    struct stun_msg m;
    CHECK_EQ_INT(stun_parse(out, (size_t)n, &m), 0);
    CHECK_EQ_INT(m.cls, STUN_CLASS_SUCCESS);
    CHECK_EQ_INT(m.method, STUN_METHOD_BINDING);
    CHECK(stun_check_integrity(&m, vec_pwd, strlen(vec_pwd)));
    CHECK(stun_check_fingerprint(&m));
    /* the attribute's bytes are the RFC's (same txid and address) */
    CHECK(memcmp(out + 20, vec_resp4 + 36, 12) == 0);
    CHECK(memcmp(&m.xor_mapped, &sin, sizeof(sin)) == 0);

    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(32853)};
    inet_pton(AF_INET6, "2001:db8:1234:5678:11:2233:4455:6677", &sin6.sin6_addr);
    n = stun_write_binding_success(out, sizeof(out), txid, (struct sockaddr *)&sin6, vec_pwd,
                                   strlen(vec_pwd));
    CHECK_EQ_INT(n, 20 + 24 + 24 + 8);
    CHECK(n > 0 && memcmp(out + 20, vec_resp6 + 36, 24) == 0);
    CHECK(verifies(out, (size_t)n));

    /* too small a buffer: -ENOSPC at every size short of the message */
    for (size_t cap = 0; cap < 76; cap++)
        CHECK_EQ_INT(stun_write_binding_success(out, cap, txid, (struct sockaddr *)&sin6, vec_pwd,
                                                strlen(vec_pwd)),
                     -ENOSPC);
    struct sockaddr bad = {.sa_family = AF_UNIX};
    CHECK_EQ_INT(stun_write_binding_success(out, sizeof(out), txid, &bad, NULL, 0), -EINVAL);
}

static void test_write_request_and_errors(void)
{
    uint8_t out[256];
    struct stun_request r = {.txid = txid,
                             .username = "evtj:h6vY",
                             .priority = 0x6e0001ff,
                             .use_candidate = true,
                             .controlling = true,
                             .tiebreaker = 0x0102030405060708ull,
                             .key = vec_pwd,
                             .keylen = strlen(vec_pwd)};
    int n = stun_write_binding_request(out, sizeof(out), &r);
    CHECK(n > 0);
    struct stun_msg m;
    CHECK_EQ_INT(stun_parse(out, (size_t)n, &m), 0);
    CHECK_EQ_INT(m.cls, STUN_CLASS_REQUEST);
    CHECK(m.username_len == 9 && memcmp(m.username, "evtj:h6vY", 9) == 0);
    CHECK(m.priority == 0x6e0001ff && m.use_candidate && m.has_controlling && !m.has_controlled);
    CHECK(m.tiebreaker == 0x0102030405060708ull);
    CHECK(verifies(out, (size_t)n));
    r.controlled = true;
    CHECK_EQ_INT(stun_write_binding_request(out, sizeof(out), &r), -EINVAL);

    const uint16_t unknown[] = {0x0031, 0x7777};
    n = stun_write_error(out, sizeof(out), STUN_METHOD_BINDING, txid, 420, unknown, 2, vec_pwd,
                         strlen(vec_pwd));
    CHECK(n > 0);
    CHECK_EQ_INT(stun_parse(out, (size_t)n, &m), 0);
    CHECK_EQ_INT(m.cls, STUN_CLASS_ERROR);
    CHECK_EQ_INT(m.error_code, 420);
    CHECK(m.error_reason_len == 17 && memcmp(m.error_reason, "Unknown Attribute", 17) == 0);
    CHECK(verifies(out, (size_t)n));
    /* UNKNOWN-ATTRIBUTES right after ERROR-CODE (4 + 4 + 17, padded to 28 bytes) */
    CHECK(out[48] == 0x00 && out[49] == 0x0a && out[51] == 4);
    CHECK(out[52] == 0x00 && out[53] == 0x31 && out[54] == 0x77 && out[55] == 0x77);

    n = stun_write_error(out, sizeof(out), STUN_METHOD_BINDING, txid, 401, NULL, 0, NULL, 0);
    CHECK_EQ_INT(n, 20 + 20 + 8);
    CHECK_EQ_INT(stun_parse(out, (size_t)n, &m), 0);
    CHECK_EQ_INT(m.error_code, 401);
    CHECK(!m.integrity_off && stun_check_fingerprint(&m));
    n = stun_write_error(out, sizeof(out), STUN_METHOD_BINDING, txid, 487, NULL, 0, vec_pwd,
                         strlen(vec_pwd));
    CHECK(n > 0 && stun_parse(out, (size_t)n, &m) == 0 && m.error_code == 487);
    n = stun_write_error(out, sizeof(out), STUN_METHOD_BINDING, txid, 400, NULL, 0, NULL, 0);
    CHECK(n > 0 && stun_parse(out, (size_t)n, &m) == 0 && m.error_code == 400);
    CHECK_EQ_INT(stun_write_error(out, sizeof(out), 1, txid, 700, NULL, 0, NULL, 0), -EINVAL);
}

static void test_classify(void)
{
    uint8_t p[32] = {0};
    memcpy(p, vec_request, 20);
    CHECK_EQ_INT(rtc_classify(p, 20), RTC_PKT_STUN);
    CHECK_EQ_INT(rtc_classify(p, 19), RTC_PKT_UNKNOWN);
    p[4] = 0x22; /* wrong cookie */
    CHECK_EQ_INT(rtc_classify(p, 20), RTC_PKT_UNKNOWN);
    CHECK_EQ_INT(rtc_classify(p, 0), RTC_PKT_UNKNOWN);
    for (int b = 0; b < 256; b++) {
        memset(p, 0, sizeof(p));
        p[0] = (uint8_t)b;
        p[1] = 96; /* an RTP payload type */
        enum rtc_pkt_kind want = RTC_PKT_UNKNOWN;
        if (b >= 20 && b <= 63)
            want = RTC_PKT_DTLS;
        else if (b >= 128 && b <= 191)
            want = RTC_PKT_RTP;
        CHECK_EQ_INT(rtc_classify(p, sizeof(p)), want);
    }
    p[0] = 0x80;
    for (int pt = 0; pt < 256; pt++) {
        p[1] = (uint8_t)pt;
        CHECK_EQ_INT(rtc_classify(p, sizeof(p)),
                     pt >= 192 && pt <= 223 ? RTC_PKT_RTCP : RTC_PKT_RTP);
    }
    p[1] = 200; /* an RTCP SR header alone is 4 bytes... */
    CHECK_EQ_INT(rtc_classify(p, 4), RTC_PKT_RTCP);
    p[1] = 96; /* ...an RTP header is 12 */
    CHECK_EQ_INT(rtc_classify(p, 11), RTC_PKT_UNKNOWN);
    p[0] = 22; /* a DTLS record header is 13 */
    CHECK_EQ_INT(rtc_classify(p, 12), RTC_PKT_UNKNOWN);
}

/* A header for a message of body bytes. */
static void header(uint8_t *p, uint16_t type, size_t body)
{
    p[0] = (uint8_t)(type >> 8);
    p[1] = (uint8_t)type;
    p[2] = (uint8_t)(body >> 8);
    p[3] = (uint8_t)body;
    p[4] = 0x21, p[5] = 0x12, p[6] = 0xa4, p[7] = 0x42;
    memcpy(p + 8, txid, STUN_TXID_LEN);
}

static size_t attr(uint8_t *p, uint16_t type, size_t len)
{
    p[0] = (uint8_t)(type >> 8);
    p[1] = (uint8_t)type;
    p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
    return 4 + ((len + 3) & ~(size_t)3);
}

static void test_malformed(void)
{
    struct stun_msg m;
    uint8_t p[256] = {0};

    /* truncated header: every prefix of the vector */
    for (size_t n = 0; n < sizeof(vec_request); n++)
        CHECK_EQ_INT(stun_parse(vec_request, n, &m), -EINVAL);
    /* wrong cookie */
    memcpy(p, vec_request, sizeof(vec_request));
    p[7] ^= 1;
    CHECK_EQ_INT(stun_parse(p, sizeof(vec_request), &m), -EINVAL);
    /* top two bits set (not STUN) */
    memcpy(p, vec_request, sizeof(vec_request));
    p[0] |= 0x40;
    CHECK_EQ_INT(stun_parse(p, sizeof(vec_request), &m), -EINVAL);
    /* first byte 4..63: not STUN on the shared port (RFC 7983), though the top bits are 0 */
    memcpy(p, vec_request, sizeof(vec_request));
    p[0] = 0x04;
    CHECK_EQ_INT(stun_parse(p, sizeof(vec_request), &m), -EINVAL);
    /* header length not a multiple of 4 (and the packet as long as it says) */
    header(p, 0x0001, 6);
    attr(p + 20, STUN_ATTR_SOFTWARE, 2);
    CHECK_EQ_INT(stun_parse(p, 26, &m), -EINVAL);
    /* header length shorter / longer than the packet */
    header(p, 0x0001, 8);
    attr(p + 20, STUN_ATTR_PRIORITY, 4);
    CHECK_EQ_INT(stun_parse(p, 28, &m), 0);
    CHECK_EQ_INT(stun_parse(p, 32, &m), -EINVAL);
    header(p, 0x0001, 12);
    CHECK_EQ_INT(stun_parse(p, 28, &m), -EINVAL);
    /* attribute length past the packet */
    header(p, 0x0001, 8);
    attr(p + 20, STUN_ATTR_SOFTWARE, 5);
    CHECK_EQ_INT(stun_parse(p, 28, &m), -EINVAL);
    attr(p + 20, STUN_ATTR_SOFTWARE, 0xffff);
    CHECK_EQ_INT(stun_parse(p, 28, &m), -EINVAL);
    /* an attribute of unknown type 0 and no value */
    header(p, 0x0001, 4);
    memset(p + 20, 0, 4);
    CHECK_EQ_INT(stun_parse(p, 24, &m), 0); /* 4 zero bytes: an empty attribute 0x0000 */
    CHECK_EQ_INT(m.n_unknown, 1);
    /* wrong sizes of fixed attributes */
    header(p, 0x0001, 8);
    attr(p + 20, STUN_ATTR_PRIORITY, 3);
    CHECK_EQ_INT(stun_parse(p, 28, &m), -EINVAL);
    header(p, 0x0001, 8);
    attr(p + 20, STUN_ATTR_USE_CANDIDATE, 4);
    CHECK_EQ_INT(stun_parse(p, 28, &m), -EINVAL);
    header(p, 0x0001, 12);
    attr(p + 20, STUN_ATTR_FINGERPRINT, 8);
    CHECK_EQ_INT(stun_parse(p, 32, &m), -EINVAL);
    header(p, 0x0001, 12);
    attr(p + 20, STUN_ATTR_XOR_MAPPED_ADDRESS, 8);
    p[25] = 3; /* family */
    CHECK_EQ_INT(stun_parse(p, 32, &m), -EINVAL);

    /* MESSAGE-INTEGRITY not last: PRIORITY after it */
    memset(p, 0, sizeof(p));
    header(p, 0x0001, 24 + 8);
    attr(p + 20, STUN_ATTR_MESSAGE_INTEGRITY, 20);
    attr(p + 44, STUN_ATTR_PRIORITY, 4);
    CHECK_EQ_INT(stun_parse(p, 52, &m), -EINVAL);
    /* ... FINGERPRINT after it is fine, anything after FINGERPRINT is not */
    attr(p + 44, STUN_ATTR_FINGERPRINT, 4);
    CHECK_EQ_INT(stun_parse(p, 52, &m), 0);
    header(p, 0x0001, 24 + 8 + 8);
    attr(p + 52, STUN_ATTR_PRIORITY, 4);
    CHECK_EQ_INT(stun_parse(p, 60, &m), -EINVAL);
    header(p, 0x0001, 8 + 8);
    attr(p + 20, STUN_ATTR_FINGERPRINT, 4);
    attr(p + 28, STUN_ATTR_FINGERPRINT, 4);
    CHECK_EQ_INT(stun_parse(p, 36, &m), -EINVAL);

    /* more than STUN_MAX_ATTRS attributes */
    memset(p, 0, sizeof(p));
    header(p, 0x0001, 4 * (STUN_MAX_ATTRS + 1));
    for (int i = 0; i <= STUN_MAX_ATTRS; i++)
        attr(p + 20 + 4 * i, STUN_ATTR_SOFTWARE, 0);
    CHECK_EQ_INT(stun_parse(p, 20 + 4 * (STUN_MAX_ATTRS + 1), &m), -EINVAL);
    CHECK_EQ_INT(stun_parse(p, 20 + 4 * STUN_MAX_ATTRS, &m), -EINVAL); /* length mismatch */
    header(p, 0x0001, 4 * STUN_MAX_ATTRS);
    CHECK_EQ_INT(stun_parse(p, 20 + 4 * STUN_MAX_ATTRS, &m), 0);

    /* unknown attributes: comprehension-required ones listed, optional ones not */
    memset(p, 0, sizeof(p));
    header(p, 0x0001, 12);
    attr(p + 20, 0x0031, 0);
    attr(p + 24, 0xc057, 0);
    attr(p + 28, 0x7fff, 0);
    CHECK_EQ_INT(stun_parse(p, 32, &m), 0);
    CHECK(m.n_unknown == 2 && m.unknown[0] == 0x0031 && m.unknown[1] == 0x7fff);
}

static void test_huge_username(void)
{
    /* 65535 + 20 bytes: the header's length cannot be a multiple of 4 */
    size_t n = 65535 + 20;
    uint8_t *p = xcalloc(1, n);
    struct stun_msg m;
    header(p, 0x0001, 65535);
    attr(p + 20, STUN_ATTR_USERNAME, 65531);
    memset(p + 24, 'a', 65531);
    CHECK_EQ_INT(stun_parse(p, n, &m), -EINVAL);
    /* the largest legal body, all USERNAME: refused for its length */
    header(p, 0x0001, 65532);
    attr(p + 20, STUN_ATTR_USERNAME, 65528);
    CHECK_EQ_INT(stun_parse(p, 65532 + 20, &m), -EINVAL);
    /* 514 bytes refused, 513 accepted */
    header(p, 0x0001, 4 + 516);
    attr(p + 20, STUN_ATTR_USERNAME, 514);
    CHECK_EQ_INT(stun_parse(p, 20 + 4 + 516, &m), -EINVAL);
    attr(p + 20, STUN_ATTR_USERNAME, 513);
    CHECK_EQ_INT(stun_parse(p, 20 + 4 + 516, &m), 0);
    CHECK_EQ_INT(m.username_len, 513);
    free(p);
}

int main(void)
{
    test_rfc5769_request();
    test_rfc5769_responses();
    test_crc32();
    test_write_success();
    test_write_request_and_errors();
    test_classify();
    test_malformed();
    test_huge_username();
    return test_report("test_stun");
}
