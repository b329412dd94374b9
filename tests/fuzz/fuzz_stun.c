/* libFuzzer target: the STUN parser and the ICE-lite agent.
 *
 * The input is one datagram. It goes to stun_parse and the checks, then to a fresh agent twice:
 * as it is, and with its MESSAGE-INTEGRITY and FINGERPRINT recomputed with the agent's password
 * (the fuzzer cannot forge an HMAC, and without this fix-up it would never get past
 * authentication). The agent's local credentials are set to fixed values so that seeds can
 * carry a matching USERNAME ("fuzzufrg:..."); the remote ufrag is left unknown.
 * Invariants trapped: a rejected or ignored packet changes no byte of the agent; an accepted
 * check leaves a selected, validated address and a response that parses and verifies.
 * Seeds: tests/fuzz/corpus/fuzz_stun/ (RFC 5769 vectors, requests with the fixed credentials). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rtc/ice.c"
#include "rtc/stun.c"

#define FUZZ_UFRAG "fuzzufrg"
#define FUZZ_PWD "fuzzpasswordfuzzpassword"

static void check_parse(const uint8_t *data, size_t size)
{
    struct stun_msg m;
    uint8_t cls = rtc_classify(data, size);
    if (stun_parse(data, size, &m) != 0)
        return;
    if (cls != RTC_PKT_STUN || m.len != size)
        __builtin_trap(); /* a parsed message is what the demultiplexer calls STUN */
    stun_check_integrity(&m, FUZZ_PWD, strlen(FUZZ_PWD));
    stun_check_fingerprint(&m);
    const char *u;
    size_t len;
    if (ice_local_ufrag(&m, &u, &len) == 0 && (len == 0 || u + len > (const char *)data + size))
        __builtin_trap();
}

/* Recomputes MESSAGE-INTEGRITY and FINGERPRINT in place, if the message has them. */
static void fix_up(uint8_t *p, size_t n)
{
    struct stun_msg m;
    if (stun_parse(p, n, &m) != 0)
        return;
    if (m.integrity_off)
        integrity_of(p, m.integrity_off, FUZZ_PWD, strlen(FUZZ_PWD), p + m.integrity_off + 4);
    if (m.fingerprint_off)
        wr32(p + m.fingerprint_off + 4, stun_crc32(p, m.fingerprint_off) ^ FINGERPRINT_XOR);
}

static void feed(struct ice_agent *a, const uint8_t *p, size_t n, const struct sockaddr *from,
                 int64_t now)
{
    struct ice_agent before = *a;
    uint8_t out[128];
    size_t outlen = 0;
    enum ice_result r = ice_agent_handle_stun(a, p, n, from, now, out, sizeof(out), &outlen);
    if (outlen > sizeof(out))
        __builtin_trap();
    if (r != ICE_CHECK_OK && r != ICE_CHECK_SELECTED) {
        if (memcmp(&before, a, sizeof(before)) != 0)
            __builtin_trap();
        return;
    }
    struct stun_msg m;
    struct sockaddr_storage sel;
    if (!outlen || stun_parse(out, outlen, &m) != 0 ||
        !stun_check_integrity(&m, FUZZ_PWD, strlen(FUZZ_PWD)) || !stun_check_fingerprint(&m) ||
        !ice_agent_selected(a, &sel, NULL) || !ice_agent_is_validated(a, from, now))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_parse(data, size);
    if (size > STUN_HEADER_LEN + 0xffff)
        return 0; /* longer than any STUN message: stun_parse refused it */

    struct ice_agent *a;
    if (ice_agent_create(0, &a) != 0)
        return 0;
    memcpy(a->lufrag, FUZZ_UFRAG, sizeof(FUZZ_UFRAG));
    memcpy(a->lpwd, FUZZ_PWD, sizeof(FUZZ_PWD));

    struct sockaddr_in from4 = {.sin_family = AF_INET, .sin_port = htons(5000)};
    from4.sin_addr.s_addr = htonl(0xc0000201);
    struct sockaddr_in6 from6 = {.sin6_family = AF_INET6, .sin6_port = htons(6000)};
    from6.sin6_addr.s6_addr[15] = 1;

    feed(a, data, size, (struct sockaddr *)&from4, 1000000);
    static uint8_t copy[STUN_HEADER_LEN + 0xffff];
    memcpy(copy, data, size);
    fix_up(copy, size);
    feed(a, copy, size, (struct sockaddr *)&from6, 2000000);
    feed(a, copy, size, (struct sockaddr *)&from4, 3000000);
    ice_agent_consent_expired(a, 40000000);
    ice_agent_destroy(&a);
    return 0;
}
