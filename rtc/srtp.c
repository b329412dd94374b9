/* libsrtp2 session pair: see srtp.h. */
#include "rtc/srtp.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <srtp2/srtp.h>

#include "core/alloc.h"
#include "core/log.h"

struct rtc_srtp {
    srtp_t in;  /* unprotects what the peer sent: the peer's write key */
    srtp_t out; /* protects what we send: our write key */
    enum rtc_srtp_profile profile;
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_status = -1;

static void init_libsrtp(void)
{
    srtp_err_status_t st = srtp_init();
    if (st != srtp_err_status_ok)
        log_error("rtc", NULL, "srtp_init failed (libsrtp2 status %d)", (int)st);
    init_status = st == srtp_err_status_ok ? 0 : -1;
}

int rtc_srtp_profile_lengths(enum rtc_srtp_profile p, unsigned *key_len, unsigned *salt_len)
{
    switch (p) {
    case RTC_SRTP_AES128_CM_SHA1_80:
        *key_len = 16;
        *salt_len = 14;
        return 0;
    case RTC_SRTP_AEAD_AES_128_GCM:
        *key_len = 16;
        *salt_len = 12;
        return 0;
    default:
        return -EINVAL;
    }
}

const char *rtc_srtp_profile_name(enum rtc_srtp_profile p)
{
    switch (p) {
    case RTC_SRTP_AES128_CM_SHA1_80:
        return "AES_CM_128_HMAC_SHA1_80";
    case RTC_SRTP_AEAD_AES_128_GCM:
        return "AEAD_AES_128_GCM";
    default:
        return "none";
    }
}

/* One libsrtp2 session: master key || master salt, the profile's crypto policy for RTP and RTCP,
 * any SSRC in the given direction. */
static int make_session(srtp_t *out, enum rtc_srtp_profile p, const uint8_t *key,
                        const uint8_t *salt, unsigned key_len, unsigned salt_len,
                        srtp_ssrc_type_t dir)
{
    uint8_t master[RTC_SRTP_KEY_MAX + RTC_SRTP_SALT_MAX];
    memcpy(master, key, key_len);
    memcpy(master + key_len, salt, salt_len);

    srtp_policy_t pol;
    memset(&pol, 0, sizeof(pol));
    if (p == RTC_SRTP_AEAD_AES_128_GCM) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtcp);
    } else {
        srtp_crypto_policy_set_rtp_default(&pol.rtp); /* AES_CM_128_HMAC_SHA1_80 */
        srtp_crypto_policy_set_rtcp_default(&pol.rtcp);
    }
    pol.ssrc.type = dir;
    pol.key = master;
    pol.window_size = RTC_SRTP_REPLAY_WINDOW;
    pol.allow_repeat_tx = dir == ssrc_any_outbound;
    pol.next = NULL;
    srtp_err_status_t st = srtp_create(out, &pol);
    memset(master, 0, sizeof(master));
    if (st != srtp_err_status_ok) {
        log_error("rtc", NULL, "srtp_create (%s) failed: libsrtp2 status %d",
                  rtc_srtp_profile_name(p), (int)st);
        *out = NULL;
        return -EINVAL;
    }
    return 0;
}

int rtc_srtp_create(struct rtc_srtp **out, const struct rtc_srtp_keys *k, int local_is_client)
{
    *out = NULL;
    pthread_once(&init_once, init_libsrtp);
    unsigned kl, sl;
    if (init_status != 0 || rtc_srtp_profile_lengths(k->profile, &kl, &sl) != 0 ||
        k->key_len != kl || k->salt_len != sl)
        return -EINVAL;

    struct rtc_srtp *s = xcalloc(1, sizeof(*s));
    s->profile = k->profile;
    const uint8_t *in_key = local_is_client ? k->server_key : k->client_key;
    const uint8_t *in_salt = local_is_client ? k->server_salt : k->client_salt;
    const uint8_t *out_key = local_is_client ? k->client_key : k->server_key;
    const uint8_t *out_salt = local_is_client ? k->client_salt : k->server_salt;
    if (make_session(&s->in, k->profile, in_key, in_salt, kl, sl, ssrc_any_inbound) != 0 ||
        make_session(&s->out, k->profile, out_key, out_salt, kl, sl, ssrc_any_outbound) != 0)
        goto fail;
    *out = s;
    return 0;
fail:
    rtc_srtp_destroy(&s);
    return -EINVAL;
}

void rtc_srtp_destroy(struct rtc_srtp **sp)
{
    struct rtc_srtp *s = *sp;
    if (!s)
        return;
    if (s->in)
        srtp_dealloc(s->in);
    if (s->out)
        srtp_dealloc(s->out);
    xfreep(sp);
}

static int map_status(srtp_err_status_t st)
{
    switch (st) {
    case srtp_err_status_ok:
        return 0;
    case srtp_err_status_auth_fail:
    case srtp_err_status_cipher_fail: /* GCM's tag check fails inside the cipher */
        return -EBADMSG;
    case srtp_err_status_replay_fail:
        return -EALREADY;
    case srtp_err_status_replay_old:
        return -ESTALE;
    default:
        return -EINVAL;
    }
}

static size_t trailer(const struct rtc_srtp *s, int rtcp)
{
    size_t tag = s->profile == RTC_SRTP_AEAD_AES_128_GCM ? 16 : 10;
    return tag + (rtcp ? 4 : 0);
}

/* The smallest sanity checks before libsrtp2 reads the header: version 2 and a fixed header.
 * libsrtp2 validates CSRC count and extension lengths itself. */
static int header_ok(const uint8_t *pkt, size_t len, size_t min)
{
    return len >= min && len <= (size_t)INT32_MAX && (pkt[0] >> 6) == 2;
}

int rtc_srtp_protect_rtp(struct rtc_srtp *s, uint8_t *pkt, size_t *len, size_t cap)
{
    if (!header_ok(pkt, *len, 12))
        return -EINVAL;
    if (cap < *len || cap - *len < trailer(s, 0))
        return -ENOBUFS;
    int n = (int)*len;
    int r = map_status(srtp_protect(s->out, pkt, &n));
    if (r == 0)
        *len = (size_t)n;
    return r;
}

int rtc_srtp_protect_rtcp(struct rtc_srtp *s, uint8_t *pkt, size_t *len, size_t cap)
{
    if (!header_ok(pkt, *len, 8))
        return -EINVAL;
    if (cap < *len || cap - *len < trailer(s, 1))
        return -ENOBUFS;
    int n = (int)*len;
    int r = map_status(srtp_protect_rtcp(s->out, pkt, &n));
    if (r == 0)
        *len = (size_t)n;
    return r;
}

int rtc_srtp_unprotect_rtp(struct rtc_srtp *s, uint8_t *pkt, size_t *len)
{
    if (!header_ok(pkt, *len, 12 + trailer(s, 0)))
        return -EINVAL;
    int n = (int)*len;
    int r = map_status(srtp_unprotect(s->in, pkt, &n));
    if (r == 0)
        *len = (size_t)n;
    return r;
}

int rtc_srtp_unprotect_rtcp(struct rtc_srtp *s, uint8_t *pkt, size_t *len)
{
    if (!header_ok(pkt, *len, 8 + trailer(s, 1)))
        return -EINVAL;
    int n = (int)*len;
    int r = map_status(srtp_unprotect_rtcp(s->in, pkt, &n));
    if (r == 0)
        *len = (size_t)n;
    return r;
}

const char *rtc_srtp_strerror(int err)
{
    switch (err) {
    case 0:
        return "ok";
    case -EBADMSG:
        return "authentication failed";
    case -EALREADY:
        return "replayed packet";
    case -ESTALE:
        return "packet too old for the replay window";
    case -ENOBUFS:
        return "no room for the SRTP trailer";
    case -EINVAL:
        return "malformed packet";
    default:
        return "SRTP error";
    }
}
