/* rtc/ice: the ICE-lite agent. Includes the sources under test to compare the agent's whole
 * state before and after rejected requests, and to craft requests with the private writer. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

#include "rtc/ice.c"
#include "rtc/stun.c"
#include "test.h"

#define SEC 1000000LL
#define REMOTE_UFRAG "rEmO"
#define REMOTE_PWD "remotepasswordremotepa" /* 22 */

static struct sockaddr_in v4(const char *ip, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static uint8_t next_txid[STUN_TXID_LEN];

/* A binding request with no attributes at all. */
static const uint8_t vec_bare[STUN_HEADER_LEN] = {
    0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

/* A binding request as a browser sends it to the agent; flags change it. */
enum { USE_CAND = 1, CONTROLLED = 2, NO_PRIORITY = 4, NO_KEY = 8 };
static size_t request(const struct ice_agent *a, const char *username, const char *pwd, int flags,
                      uint8_t *out, size_t cap)
{
    char user[600];
    if (!username) {
        snprintf(user, sizeof(user), "%s:%s", ice_agent_local_ufrag(a), REMOTE_UFRAG);
        username = user;
    }
    if (!pwd)
        pwd = ice_agent_local_pwd(a);
    next_txid[0]++;
    if (!next_txid[0])
        next_txid[1]++;
    struct stun_request r = {.txid = next_txid,
                             .username = username,
                             .priority = flags & NO_PRIORITY ? 0 : 0x6e7f1eff,
                             .use_candidate = flags & USE_CAND,
                             .controlling = !(flags & CONTROLLED),
                             .controlled = flags & CONTROLLED,
                             .tiebreaker = 0x1122334455667788ull,
                             .key = flags & NO_KEY ? NULL : pwd,
                             .keylen = strlen(pwd)};
    int n = stun_write_binding_request(out, cap, &r);
    if (n <= 0)
        abort();
    return (size_t)n;
}

static enum ice_result send_check(struct ice_agent *a, int flags, const void *from, int64_t now,
                                  struct stun_msg *resp, uint8_t *out)
{
    uint8_t req[512];
    size_t n = request(a, NULL, NULL, flags, req, sizeof(req)), outlen = 0;
    enum ice_result r = ice_agent_handle_stun(a, req, n, from, now, out, 128, &outlen);
    memset(resp, 0, sizeof(*resp));
    if (outlen && stun_parse(out, outlen, resp) != 0)
        CHECK(!"response does not parse");
    return r;
}

static struct ice_agent *agent_with_remote(int64_t now)
{
    struct ice_agent *a;
    CHECK_EQ_INT(ice_agent_create(now, &a), 0);
    CHECK_EQ_INT(ice_agent_set_remote(a, REMOTE_UFRAG, REMOTE_PWD), 0);
    return a;
}

static bool is_ice_chars(const char *s)
{
    for (; *s; s++)
        if (!strchr(ice_chars, *s))
            return false;
    return true;
}

static void test_credentials(void)
{
    struct ice_agent *a, *b;
    CHECK_EQ_INT(ice_agent_create(0, &a), 0);
    CHECK_EQ_INT(ice_agent_create(0, &b), 0);
    CHECK_EQ_INT(strlen(ice_agent_local_ufrag(a)), ICE_UFRAG_LEN);
    CHECK_EQ_INT(strlen(ice_agent_local_pwd(a)), ICE_PWD_LEN);
    CHECK(is_ice_chars(ice_agent_local_ufrag(a)) && is_ice_chars(ice_agent_local_pwd(a)));
    CHECK(strcmp(ice_agent_local_ufrag(a), ice_agent_local_ufrag(b)) != 0);
    CHECK(strcmp(ice_agent_local_pwd(a), ice_agent_local_pwd(b)) != 0);
    CHECK_EQ_INT(ice_agent_set_remote(a, "abc", NULL), -EINVAL);
    CHECK_EQ_INT(ice_agent_set_remote(a, "ab:d", NULL), -EINVAL);
    CHECK_EQ_INT(ice_agent_set_remote(a, "abcd", "tooshort"), -EINVAL);
    CHECK_EQ_INT(ice_agent_set_remote(a, "abcd", REMOTE_PWD), 0);
    CHECK_EQ_INT(ice_agent_set_remote(a, NULL, NULL), 0);
    ice_agent_destroy(&a);
    ice_agent_destroy(&b);
    CHECK(a == NULL);
    ice_agent_destroy(&a);
}

static void test_valid_check_and_nomination(void)
{
    struct ice_agent *a = agent_with_remote(0);
    struct sockaddr_in pa = v4("192.0.2.1", 5000), pb = v4("198.51.100.7", 6000);
    struct stun_msg resp;
    uint8_t out[128];
    struct sockaddr_storage sel;
    bool nominated = true;
    CHECK(!ice_agent_selected(a, &sel, &nominated));

    /* the first valid check selects its address, not nominated */
    CHECK_EQ_INT(send_check(a, 0, &pa, 1 * SEC, &resp, out), ICE_CHECK_SELECTED);
    CHECK_EQ_INT(resp.cls, STUN_CLASS_SUCCESS);
    CHECK(resp.has_xor_mapped && memcmp(&resp.xor_mapped, &pa, sizeof(pa)) == 0);
    const char *pwd = ice_agent_local_pwd(a);
    CHECK(stun_check_integrity(&resp, pwd, strlen(pwd)) && stun_check_fingerprint(&resp));
    CHECK(memcmp(resp.txid, next_txid, STUN_TXID_LEN) == 0);
    CHECK(ice_agent_selected(a, &sel, &nominated));
    CHECK(memcmp(&sel, &pa, sizeof(pa)) == 0 && !nominated);
    CHECK(ice_agent_is_validated(a, (struct sockaddr *)&pa, 1 * SEC));
    CHECK(!ice_agent_is_validated(a, (struct sockaddr *)&pb, 1 * SEC));

    /* nomination of the same address */
    CHECK_EQ_INT(send_check(a, USE_CAND, &pa, 2 * SEC, &resp, out), ICE_CHECK_OK);
    CHECK(ice_agent_selected(a, &sel, &nominated) && nominated);
    /* another address, not nominated: validated, not selected */
    CHECK_EQ_INT(send_check(a, 0, &pb, 3 * SEC, &resp, out), ICE_CHECK_OK);
    CHECK(ice_agent_is_validated(a, (struct sockaddr *)&pb, 3 * SEC));
    CHECK(ice_agent_selected(a, &sel, NULL) && memcmp(&sel, &pa, sizeof(pa)) == 0);
    struct sockaddr_storage list[ICE_MAX_VALIDATED];
    CHECK_EQ_INT(ice_agent_validated(a, 3 * SEC, list, ICE_MAX_VALIDATED), 2);
    /* a network change: the new path is nominated and switches */
    CHECK_EQ_INT(send_check(a, USE_CAND, &pb, 4 * SEC, &resp, out), ICE_CHECK_SELECTED);
    CHECK(ice_agent_selected(a, &sel, &nominated) && memcmp(&sel, &pb, sizeof(pb)) == 0);
    CHECK(nominated);
    /* a check without USE-CANDIDATE from the old path does not switch back */
    CHECK_EQ_INT(send_check(a, 0, &pa, 5 * SEC, &resp, out), ICE_CHECK_OK);
    CHECK(ice_agent_selected(a, &sel, NULL) && memcmp(&sel, &pb, sizeof(pb)) == 0);

    /* IPv6 peer: XOR-MAPPED-ADDRESS in IPv6 */
    struct sockaddr_in6 p6 = {.sin6_family = AF_INET6, .sin6_port = htons(7000)};
    inet_pton(AF_INET6, "2001:db8::5", &p6.sin6_addr);
    CHECK_EQ_INT(send_check(a, 0, &p6, 6 * SEC, &resp, out), ICE_CHECK_OK);
    CHECK(resp.has_xor_mapped && memcmp(&resp.xor_mapped, &p6, sizeof(p6)) == 0);
    ice_agent_destroy(&a);
}

static void test_consent(void)
{
    struct ice_agent *a = agent_with_remote(10 * SEC);
    struct sockaddr_in pa = v4("192.0.2.1", 5000), pb = v4("192.0.2.1", 5001);
    struct stun_msg resp;
    uint8_t out[128];
    /* no check at all: 30 s from creation */
    CHECK_EQ_INT(ice_agent_next_deadline_us(a), 40 * SEC);
    CHECK(!ice_agent_consent_expired(a, 40 * SEC - 1));
    CHECK(ice_agent_consent_expired(a, 40 * SEC));

    CHECK_EQ_INT(send_check(a, USE_CAND, &pa, 20 * SEC, &resp, out), ICE_CHECK_SELECTED);
    CHECK_EQ_INT(ice_agent_next_deadline_us(a), 50 * SEC);
    /* checks from another address are not consent for the selected one */
    CHECK_EQ_INT(send_check(a, 0, &pb, 45 * SEC, &resp, out), ICE_CHECK_OK);
    CHECK_EQ_INT(ice_agent_next_deadline_us(a), 50 * SEC);
    CHECK(!ice_agent_consent_expired(a, 50 * SEC - 1));
    CHECK(ice_agent_consent_expired(a, 50 * SEC));
    /* validated addresses age out with consent */
    CHECK(ice_agent_is_validated(a, (struct sockaddr *)&pa, 50 * SEC - 1));
    CHECK(!ice_agent_is_validated(a, (struct sockaddr *)&pa, 50 * SEC));
    CHECK(ice_agent_is_validated(a, (struct sockaddr *)&pb, 50 * SEC));
    /* a refresh from the selected address moves the deadline */
    CHECK_EQ_INT(send_check(a, 0, &pa, 49 * SEC, &resp, out), ICE_CHECK_OK);
    CHECK_EQ_INT(ice_agent_next_deadline_us(a), 79 * SEC);
    CHECK(!ice_agent_consent_expired(a, 60 * SEC));
    ice_agent_destroy(&a);
}

/* 10,000 requests with a wrong password from distinct ports: all answered 401, none changes a
 * byte of the agent (no address remembered, selection and consent untouched). */
static void test_wrong_password_changes_nothing(void)
{
    struct ice_agent *a = agent_with_remote(0);
    struct sockaddr_in good = v4("192.0.2.1", 5000);
    struct stun_msg resp;
    uint8_t out[128], req[512];
    CHECK_EQ_INT(send_check(a, USE_CAND, &good, 1 * SEC, &resp, out), ICE_CHECK_SELECTED);
    struct ice_agent before = *a;
    int rejected = 0, answered401 = 0;
    for (int i = 0; i < 10000; i++) {
        struct sockaddr_in from = v4(i & 1 ? "203.0.113.9" : "192.0.2.1", 1024 + i);
        size_t n = request(a, NULL, "wrongpasswordwrongpass", USE_CAND, req, sizeof(req));
        size_t outlen = 0;
        enum ice_result r = ice_agent_handle_stun(a, req, n, (struct sockaddr *)&from,
                                                  (2 + i) * SEC, out, sizeof(out), &outlen);
        rejected += r == ICE_REJECT_INTEGRITY;
        struct stun_msg m;
        answered401 += outlen && stun_parse(out, outlen, &m) == 0 && m.error_code == 401 &&
                       memcmp(m.txid, req + 8, STUN_TXID_LEN) == 0;
    }
    CHECK_EQ_INT(rejected, 10000);
    CHECK_EQ_INT(answered401, 10000);
    CHECK(memcmp(&before, a, sizeof(before)) == 0);
    CHECK_EQ_INT(a->nv, 1);
    ice_agent_destroy(&a);
}

static enum ice_result handle(struct ice_agent *a, const uint8_t *req, size_t n, const void *from,
                              struct stun_msg *resp, uint8_t *out, size_t *outlen)
{
    enum ice_result r = ice_agent_handle_stun(a, req, n, from, SEC, out, 128, outlen);
    memset(resp, 0, sizeof(*resp));
    if (*outlen && stun_parse(out, *outlen, resp) != 0)
        CHECK(!"response does not parse");
    return r;
}

static void test_rejections(void)
{
    struct ice_agent *a = agent_with_remote(0);
    struct ice_agent before = *a;
    struct sockaddr_in from = v4("192.0.2.1", 5000);
    struct stun_msg resp;
    uint8_t out[128], req[1024];
    size_t n, outlen;
    char user[64];
    const char *pwd = ice_agent_local_pwd(a);

    /* wrong local ufrag, wrong remote ufrag: 401 */
    n = request(a, "xxxxxxxx:" REMOTE_UFRAG, NULL, 0, req, sizeof(req));
    CHECK_EQ_INT(handle(a, req, n, &from, &resp, out, &outlen), ICE_REJECT_USERNAME);
    CHECK_EQ_INT(resp.error_code, 401);
    snprintf(user, sizeof(user), "%s:other", ice_agent_local_ufrag(a));
    n = request(a, user, NULL, 0, req, sizeof(req));
    CHECK_EQ_INT(handle(a, req, n, &from, &resp, out, &outlen), ICE_REJECT_USERNAME);
    snprintf(user, sizeof(user), "%s", ice_agent_local_ufrag(a)); /* no ':' */
    n = request(a, user, NULL, 0, req, sizeof(req));
    CHECK_EQ_INT(handle(a, req, n, &from, &resp, out, &outlen), ICE_REJECT_USERNAME);
    /* no MESSAGE-INTEGRITY: 400 */
    n = request(a, NULL, NULL, NO_KEY, req, sizeof(req));
    CHECK_EQ_INT(handle(a, req, n, &from, &resp, out, &outlen), ICE_REJECT_BAD_REQUEST);
    CHECK_EQ_INT(resp.error_code, 400);
    /* a bare request: 400 would be longer than it, so silence */
    memcpy(req, vec_bare, sizeof(vec_bare));
    CHECK_EQ_INT(handle(a, req, sizeof(vec_bare), &from, &resp, out, &outlen),
                 ICE_REJECT_BAD_REQUEST);
    CHECK_EQ_INT(outlen, 0);
    /* ICE-CONTROLLED: 487 with integrity; the agent stays controlled and unchanged */
    n = request(a, NULL, NULL, CONTROLLED | USE_CAND, req, sizeof(req));
    CHECK_EQ_INT(handle(a, req, n, &from, &resp, out, &outlen), ICE_REJECT_ROLE_CONFLICT);
    CHECK_EQ_INT(resp.error_code, 487);
    CHECK(stun_check_integrity(&resp, pwd, strlen(pwd)));
    /* no PRIORITY: 400 with integrity */
    n = request(a, NULL, NULL, NO_PRIORITY, req, sizeof(req));
    CHECK_EQ_INT(handle(a, req, n, &from, &resp, out, &outlen), ICE_REJECT_BAD_REQUEST);
    CHECK(resp.error_code == 400 && stun_check_integrity(&resp, pwd, strlen(pwd)));
    /* broken FINGERPRINT: silence */
    n = request(a, NULL, NULL, 0, req, sizeof(req));
    req[n - 1] ^= 1;
    CHECK_EQ_INT(handle(a, req, n, &from, &resp, out, &outlen), ICE_REJECT_FINGERPRINT);
    CHECK_EQ_INT(outlen, 0);
    /* malformed, an indication, a response, an AF_UNIX sender */
    CHECK_EQ_INT(handle(a, req, n - 1, &from, &resp, out, &outlen), ICE_REJECT_MALFORMED);
    {
        struct writer w;
        w_start(&w, req, sizeof(req), STUN_METHOD_BINDING, STUN_CLASS_INDICATION, next_txid);
        n = (size_t)w_finish(&w, NULL, 0);
    }
    CHECK_EQ_INT(handle(a, req, n, &from, &resp, out, &outlen), ICE_IGNORED);
    CHECK_EQ_INT(outlen, 0);
    n = (size_t)stun_write_binding_success(req, sizeof(req), next_txid, (struct sockaddr *)&from,
                                           NULL, 0);
    CHECK_EQ_INT(handle(a, req, n, &from, &resp, out, &outlen), ICE_IGNORED);
    struct sockaddr unix_addr = {.sa_family = AF_UNIX};
    n = request(a, NULL, NULL, USE_CAND, req, sizeof(req));
    CHECK_EQ_INT(handle(a, req, n, &unix_addr, &resp, out, &outlen), ICE_REJECT_ADDRESS);
    /* too small an output buffer: not answered, nothing changes */
    outlen = 0;
    CHECK_EQ_INT(ice_agent_handle_stun(a, req, n, (struct sockaddr *)&from, SEC, out, 40, &outlen),
                 ICE_REJECT_NOSPACE);
    CHECK_EQ_INT(outlen, 0);

    /* unknown comprehension-required attribute, authenticated: 420 listing it */
    {
        struct writer w;
        w_start(&w, req, sizeof(req), STUN_METHOD_BINDING, STUN_CLASS_REQUEST, next_txid);
        snprintf(user, sizeof(user), "%s:%s", ice_agent_local_ufrag(a), REMOTE_UFRAG);
        w_bytes(&w, STUN_ATTR_USERNAME, user, strlen(user));
        w_u32(&w, STUN_ATTR_PRIORITY, 1);
        w_u64(&w, STUN_ATTR_ICE_CONTROLLING, 1);
        w_bytes(&w, 0x0042, "ab", 2);
        n = (size_t)w_finish(&w, pwd, strlen(pwd));
    }
    CHECK_EQ_INT(handle(a, req, n, &from, &resp, out, &outlen), ICE_REJECT_UNKNOWN_ATTR);
    CHECK(resp.error_code == 420 && stun_check_integrity(&resp, pwd, strlen(pwd)));
    CHECK(memmem(out, outlen, "\x00\x0a\x00\x02\x00\x42", 6) != NULL);

    CHECK(memcmp(&before, a, sizeof(before)) == 0);
    ice_agent_destroy(&a);
}

static void test_unknown_remote_ufrag(void)
{
    struct ice_agent *a;
    CHECK_EQ_INT(ice_agent_create(0, &a), 0);
    struct sockaddr_in from = v4("192.0.2.1", 5000);
    struct stun_msg resp;
    uint8_t out[128], req[512];
    char user[64];
    size_t outlen;
    snprintf(user, sizeof(user), "%s:whatever", ice_agent_local_ufrag(a));
    size_t n = request(a, user, NULL, USE_CAND, req, sizeof(req));
    CHECK_EQ_INT(handle(a, req, n, &from, &resp, out, &outlen), ICE_CHECK_SELECTED);
    /* the remote ufrag learnt later is then enforced */
    CHECK_EQ_INT(ice_agent_set_remote(a, REMOTE_UFRAG, NULL), 0);
    n = request(a, user, NULL, USE_CAND, req, sizeof(req));
    CHECK_EQ_INT(handle(a, req, n, &from, &resp, out, &outlen), ICE_REJECT_USERNAME);
    snprintf(user, sizeof(user), "%s:", ice_agent_local_ufrag(a)); /* empty remote part */
    ice_agent_set_remote(a, NULL, NULL);
    n = request(a, user, NULL, USE_CAND, req, sizeof(req));
    CHECK_EQ_INT(handle(a, req, n, &from, &resp, out, &outlen), ICE_REJECT_USERNAME);
    ice_agent_destroy(&a);
}

static void test_restart(void)
{
    struct ice_agent *a = agent_with_remote(0);
    struct sockaddr_in pa = v4("192.0.2.1", 5000), pc = v4("192.0.2.77", 5002);
    struct stun_msg resp;
    uint8_t out[128], req[512];
    size_t outlen;
    CHECK_EQ_INT(send_check(a, USE_CAND, &pa, SEC, &resp, out), ICE_CHECK_SELECTED);
    char old_ufrag[16], old_pwd[32];
    snprintf(old_ufrag, sizeof(old_ufrag), "%s", ice_agent_local_ufrag(a));
    snprintf(old_pwd, sizeof(old_pwd), "%s", ice_agent_local_pwd(a));
    size_t old_n = request(a, NULL, NULL, USE_CAND, req, sizeof(req)); /* old credentials */

    CHECK_EQ_INT(ice_agent_restart(a, "newR", "anotherremotepassword22"), 0);
    CHECK(strcmp(old_ufrag, ice_agent_local_ufrag(a)) != 0);
    CHECK(strcmp(old_pwd, ice_agent_local_pwd(a)) != 0);
    CHECK_EQ_INT(ice_agent_restart(a, "no", NULL), -EINVAL);
    /* old credentials no longer work; the selection stays */
    CHECK_EQ_INT(handle(a, req, old_n, &pc, &resp, out, &outlen), ICE_REJECT_USERNAME);
    struct sockaddr_storage sel;
    bool nominated = false;
    CHECK(ice_agent_selected(a, &sel, &nominated) && memcmp(&sel, &pa, sizeof(pa)) == 0);
    /* the first check on the new credentials selects its address, even without USE-CANDIDATE */
    char user[64];
    snprintf(user, sizeof(user), "%s:newR", ice_agent_local_ufrag(a));
    size_t n = request(a, user, NULL, 0, req, sizeof(req));
    CHECK_EQ_INT(handle(a, req, n, &pc, &resp, out, &outlen), ICE_CHECK_SELECTED);
    CHECK(ice_agent_selected(a, &sel, &nominated) && memcmp(&sel, &pc, sizeof(pc)) == 0);
    CHECK(!nominated);
    /* then the usual rule: only a nomination moves it */
    n = request(a, user, NULL, 0, req, sizeof(req));
    CHECK_EQ_INT(handle(a, req, n, &pa, &resp, out, &outlen), ICE_CHECK_OK);
    CHECK(ice_agent_selected(a, &sel, NULL) && memcmp(&sel, &pc, sizeof(pc)) == 0);
    ice_agent_destroy(&a);
}

static void test_validated_bound(void)
{
    struct ice_agent *a = agent_with_remote(0);
    struct sockaddr_in sel_addr = v4("192.0.2.1", 4000);
    struct stun_msg resp;
    uint8_t out[128];
    CHECK_EQ_INT(send_check(a, USE_CAND, &sel_addr, SEC, &resp, out), ICE_CHECK_SELECTED);
    for (int i = 0; i < 3 * ICE_MAX_VALIDATED; i++) {
        struct sockaddr_in p = v4("198.51.100.1", 6000 + i);
        CHECK_EQ_INT(send_check(a, 0, &p, (2 + i) * SEC, &resp, out), ICE_CHECK_OK);
    }
    struct sockaddr_storage list[2 * ICE_MAX_VALIDATED];
    int64_t now = (2 + 3 * ICE_MAX_VALIDATED) * SEC;
    CHECK_EQ_INT(ice_agent_validated(a, now, list, 2 * ICE_MAX_VALIDATED), ICE_MAX_VALIDATED);
    /* the selected address is never the one replaced; the latest one is there */
    CHECK(ice_agent_is_validated(a, (struct sockaddr *)&sel_addr, now));
    struct sockaddr_in last = v4("198.51.100.1", 6000 + 3 * ICE_MAX_VALIDATED - 1);
    struct sockaddr_in first = v4("198.51.100.1", 6000);
    CHECK(ice_agent_is_validated(a, (struct sockaddr *)&last, now));
    CHECK(!ice_agent_is_validated(a, (struct sockaddr *)&first, now));
    ice_agent_destroy(&a);
}

static void test_local_ufrag(void)
{
    uint8_t req[512];
    struct stun_msg m;
    const char *u;
    size_t len;
    struct stun_request r = {.txid = next_txid, .username = "abcd1234:efgh"};
    int n = stun_write_binding_request(req, sizeof(req), &r);
    CHECK_EQ_INT(stun_parse(req, (size_t)n, &m), 0);
    CHECK_EQ_INT(ice_local_ufrag(&m, &u, &len), 0);
    CHECK(len == 8 && memcmp(u, "abcd1234", 8) == 0);
    r.username = ":efgh";
    n = stun_write_binding_request(req, sizeof(req), &r);
    CHECK_EQ_INT(stun_parse(req, (size_t)n, &m), 0);
    CHECK_EQ_INT(ice_local_ufrag(&m, &u, &len), -ENOENT);
    r.username = "nocolon";
    n = stun_write_binding_request(req, sizeof(req), &r);
    CHECK_EQ_INT(stun_parse(req, (size_t)n, &m), 0);
    CHECK_EQ_INT(ice_local_ufrag(&m, &u, &len), -ENOENT);
    r.username = NULL;
    n = stun_write_binding_request(req, sizeof(req), &r);
    CHECK_EQ_INT(stun_parse(req, (size_t)n, &m), 0);
    CHECK_EQ_INT(ice_local_ufrag(&m, &u, &len), -ENOENT);
    CHECK_STREQ(ice_result_name(ICE_REJECT_INTEGRITY), "integrity");
}

int main(void)
{
    test_credentials();
    test_valid_check_and_nomination();
    test_consent();
    test_wrong_password_changes_nothing();
    test_rejections();
    test_unknown_remote_ufrag();
    test_restart();
    test_validated_bound();
    test_local_ufrag();
    return test_report("test_ice");
}
