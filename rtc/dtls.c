/* DTLS-SRTP endpoint on OpenSSL: see dtls.h.
 *
 * Output goes through a small BIO of our own rather than a memory BIO: a memory BIO concatenates
 * every record of a flight, and the transport could no longer tell where one datagram ends. Ours
 * answers BIO_CTRL_WPENDING with what it holds, which OpenSSL's DTLS writer uses to fill each
 * datagram up to the MTU before it asks for a flush; a flush hands the datagram to the send
 * callback. Input is a plain memory BIO that holds one datagram at a time (each feed drains it). */
#include "rtc/dtls.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/alloc.h"
#include "core/log.h"

#define DEFAULT_PROFILES "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80"
#define MAX_RETRANSMIT_US 8000000u
#define MAX_RECORDS 32
#define MAX_RECORD_LEN (16384 + 2048)
#define MAX_HANDSHAKE_MSG (1u << 17)
#define EXPORTER_LABEL "EXTRACTOR-dtls_srtp"

struct rtc_dtls_ctx {
    SSL_CTX *ssl_ctx;
    BIO_METHOD *out_method;
    struct rtc_dtls_fingerprint fp;
    char fp_str[8 + 3 * 32];
    unsigned mtu, initial_timeout_us;
    int64_t handshake_timeout_us;
};

struct rtc_dtls {
    struct rtc_dtls_ctx *ctx;
    SSL *ssl;
    BIO *rbio; /* owned by ssl */
    enum rtc_dtls_role role;
    enum rtc_dtls_state state;
    int started, fp_mismatch;
    int64_t deadline_us;
    struct rtc_dtls_fingerprint peer;
    rtc_dtls_send_fn send;
    void *opaque;
    struct rtc_srtp_keys keys;
    char reason[96];
    char alert[64]; /* the peer's last fatal alert, for the reason */
    size_t out_len; /* bytes waiting in out (one datagram being packed) */
    uint8_t out[];  /* ctx->mtu bytes */
};

/* ---- fingerprints ---- */

static const EVP_MD *hash_md(enum rtc_dtls_hash h)
{
    switch (h) {
    case RTC_DTLS_SHA1:
        return EVP_sha1();
    case RTC_DTLS_SHA256:
        return EVP_sha256();
    case RTC_DTLS_SHA384:
        return EVP_sha384();
    case RTC_DTLS_SHA512:
        return EVP_sha512();
    }
    return NULL;
}

int rtc_dtls_fingerprint_parse(const char *s, struct rtc_dtls_fingerprint *out)
{
    static const struct {
        const char *name;
        enum rtc_dtls_hash hash;
        uint8_t len;
    } hashes[] = {{"sha-1", RTC_DTLS_SHA1, 20},
                  {"sha-256", RTC_DTLS_SHA256, 32},
                  {"sha-384", RTC_DTLS_SHA384, 48},
                  {"sha-512", RTC_DTLS_SHA512, 64}};
    memset(out, 0, sizeof(*out));
    const char *sp = strchr(s, ' ');
    if (!sp)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
        size_t n = strlen(hashes[i].name);
        if ((size_t)(sp - s) == n && strncasecmp(s, hashes[i].name, n) == 0) {
            out->hash = hashes[i].hash;
            out->len = hashes[i].len;
        }
    }
    if (!out->hash)
        return -EINVAL;
    const char *p = sp + 1;
    for (unsigned i = 0; i < out->len; i++) {
        if (i > 0 && *p++ != ':')
            return -EINVAL;
        if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]))
            return -EINVAL;
        char hex[3] = {p[0], p[1], 0};
        out->md[i] = (uint8_t)strtoul(hex, NULL, 16);
        p += 2;
    }
    return *p == '\0' ? 0 : -EINVAL;
}

/* Digest of cert with the peer fingerprint's hash, compared in constant time. */
static int fingerprint_matches(X509 *cert, const struct rtc_dtls_fingerprint *want)
{
    const EVP_MD *md = hash_md(want->hash);
    uint8_t got[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (!md || !X509_digest(cert, md, got, &n) || n != want->len)
        return 0;
    return CRYPTO_memcmp(got, want->md, n) == 0;
}

/* ---- the process certificate and SSL_CTX ---- */

static X509 *make_cert(EVP_PKEY *key)
{
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    if (!x || !serial || !BN_rand(serial, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
        !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) || !X509_set_version(x, 2) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -86400L) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400L))
        goto fail;
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const uint8_t *)"kibitka", -1, -1,
                                    0) ||
        !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, key) ||
        !X509_sign(x, key, EVP_sha256()))
        goto fail;
    BN_free(serial);
    return x;
fail:
    BN_free(serial);
    X509_free(x);
    return NULL;
}

static int verify_cb(int ok, X509_STORE_CTX *store);
static void info_cb(const SSL *ssl, int where, int ret);
static int out_write(BIO *b, const char *data, int len);
static long out_ctrl(BIO *b, int cmd, long num, void *ptr);
static int out_create(BIO *b);
static unsigned timer_cb(SSL *ssl, unsigned timer_us);

static int setup_ssl_ctx(struct rtc_dtls_ctx *c, EVP_PKEY *key, X509 *cert, const char *profiles)
{
    SSL_CTX *s = c->ssl_ctx = SSL_CTX_new(DTLS_method());
    if (!s || !SSL_CTX_set_min_proto_version(s, DTLS1_2_VERSION) ||
        !SSL_CTX_set_max_proto_version(s, DTLS1_2_VERSION) || !SSL_CTX_use_certificate(s, cert) ||
        !SSL_CTX_use_PrivateKey(s, key) || !SSL_CTX_check_private_key(s))
        return -EIO;
    /* Our key is ECDSA, so as a server only the ECDSA suites apply; as a client we also offer
     * the RSA ones for peers with RSA certificates (GStreamer's webrtcbin, older stacks). */
    if (!SSL_CTX_set_cipher_list(s, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                                    "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA") ||
        !SSL_CTX_set1_groups_list(s, "X25519:P-256:P-384"))
        return -EIO;
    /* SSL_CTX_set_tlsext_use_srtp returns 0 on success. */
    if (SSL_CTX_set_tlsext_use_srtp(s, profiles) != 0)
        return -EINVAL;
    /* Any certificate is accepted by the chain check; verify_cb checks the fingerprint. */
    SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
    SSL_CTX_set_info_callback(s, info_cb);
    SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
    /* No cookie exchange (ICE already proved the peer's address), no renegotiation, no
     * tickets; the MTU is set per session and never queried from the BIO. */
    SSL_CTX_set_options(s, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
    SSL_CTX_set_read_ahead(s, 1);
    /* We send no application data, and handshake messages are fragmented to the MTU anyway:
     * a small send fragment shrinks each session's write buffer (measured: 77 KB to 61 KB of
     * heap per connected session). */
    SSL_CTX_set_max_send_fragment(s, 1024);

    c->out_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "kibitka-dtls-out");
    if (!c->out_method || !BIO_meth_set_write(c->out_method, out_write) ||
        !BIO_meth_set_ctrl(c->out_method, out_ctrl) ||
        !BIO_meth_set_create(c->out_method, out_create))
        return -EIO;
    return 0;
}

static void format_fingerprint(struct rtc_dtls_ctx *c)
{
    static const char hex[] = "0123456789ABCDEF";
    char *p = c->fp_str;
    memcpy(p, "sha-256 ", 8);
    p += 8;
    for (unsigned i = 0; i < c->fp.len; i++) {
        if (i)
            *p++ = ':';
        *p++ = hex[c->fp.md[i] >> 4];
        *p++ = hex[c->fp.md[i] & 15];
    }
    *p = '\0';
}

int rtc_dtls_ctx_create(struct rtc_dtls_ctx **out, const struct rtc_dtls_ctx_options *opts)
{
    struct rtc_dtls_ctx_options o = {0};
    if (opts)
        o = *opts;
    *out = NULL;
    if ((o.mtu && (o.mtu < 256 || o.mtu > 65507)))
        return -EINVAL;
    struct rtc_dtls_ctx *c = xcalloc(1, sizeof(*c));
    c->mtu = o.mtu ? o.mtu : 1200;
    c->initial_timeout_us = (o.initial_timeout_ms ? o.initial_timeout_ms : 1000) * 1000u;
    c->handshake_timeout_us =
        (int64_t)(o.handshake_timeout_ms ? o.handshake_timeout_ms : 30000) * 1000;
    int err = -EIO;
    X509 *cert = NULL;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (!key || !(cert = make_cert(key)))
        goto fail;
    err = setup_ssl_ctx(c, key, cert, o.srtp_profiles ? o.srtp_profiles : DEFAULT_PROFILES);
    if (err)
        goto fail;
    unsigned n = 0;
    c->fp.hash = RTC_DTLS_SHA256;
    c->fp.len = 32;
    if (!X509_digest(cert, EVP_sha256(), c->fp.md, &n) || n != 32) {
        err = -EIO;
        goto fail;
    }
    format_fingerprint(c);
    X509_free(cert);
    EVP_PKEY_free(key);
    *out = c;
    return 0;
fail:
    log_error("rtc", NULL, "DTLS context: %s",
              err == -EINVAL ? "bad SRTP profile list"
                             : ERR_reason_error_string(ERR_peek_last_error()));
    ERR_clear_error();
    X509_free(cert);
    EVP_PKEY_free(key);
    rtc_dtls_ctx_destroy(&c);
    return err;
}

void rtc_dtls_ctx_destroy(struct rtc_dtls_ctx **ctxp)
{
    struct rtc_dtls_ctx *c = *ctxp;
    if (!c)
        return;
    SSL_CTX_free(c->ssl_ctx);
    BIO_meth_free(c->out_method);
    xfreep(ctxp);
}

const char *rtc_dtls_ctx_fingerprint(const struct rtc_dtls_ctx *ctx)
{
    return ctx->fp_str;
}

void rtc_dtls_ctx_fingerprint_bytes(const struct rtc_dtls_ctx *ctx,
                                    struct rtc_dtls_fingerprint *out)
{
    *out = ctx->fp;
}

int rtc_dtls_ctx_digest(const struct rtc_dtls_ctx *ctx, enum rtc_dtls_hash hash,
                        struct rtc_dtls_fingerprint *out)
{
    const EVP_MD *md = hash_md(hash);
    X509 *cert = SSL_CTX_get0_certificate(ctx->ssl_ctx);
    unsigned n = 0;
    memset(out, 0, sizeof(*out));
    if (!md || !cert || !X509_digest(cert, md, out->md, &n) || n > sizeof(out->md))
        return -EINVAL;
    out->hash = hash;
    out->len = (uint8_t)n;
    return 0;
}

/* ---- the output BIO ---- */

static void out_flush(struct rtc_dtls *d)
{
    if (d->out_len) {
        d->send(d->opaque, d->out, d->out_len);
        d->out_len = 0;
    }
}

static int out_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static int out_write(BIO *b, const char *data, int len)
{
    struct rtc_dtls *d = BIO_get_data(b);
    if (!d || len < 0)
        return -1;
    size_t n = (size_t)len;
    if (d->out_len + n > d->ctx->mtu)
        out_flush(d);
    if (n > d->ctx->mtu) /* larger than the MTU (cannot happen in a handshake): as it is */
        d->send(d->opaque, (const uint8_t *)data, n);
    else {
        memcpy(d->out + d->out_len, data, n);
        d->out_len += n;
    }
    return len;
}

static long out_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    struct rtc_dtls *d = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        if (d)
            out_flush(d);
        return 1;
    case BIO_CTRL_WPENDING:
        return d ? (long)d->out_len : 0;
    case BIO_CTRL_PENDING:
        return 0;
    case BIO_CTRL_DGRAM_QUERY_MTU:
    case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
        return d ? (long)d->ctx->mtu : 1200;
    default:
        return 0;
    }
}

/* ---- callbacks from OpenSSL ---- */

static int verify_cb(int ok, X509_STORE_CTX *store)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct rtc_dtls *d = ssl ? SSL_get_app_data(ssl) : NULL;
    if (!d)
        return 0;
    if (X509_STORE_CTX_get_error_depth(store) != 0)
        return 1; /* a chain above the leaf is the peer's business; the leaf is what is pinned */
    X509 *cert = X509_STORE_CTX_get_current_cert(store);
    if (!cert || !fingerprint_matches(cert, &d->peer)) {
        d->fp_mismatch = 1;
        X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED); /* alert: bad_certificate */
        return 0;
    }
    return 1;
}

static void info_cb(const SSL *ssl, int where, int ret)
{
    struct rtc_dtls *d = SSL_get_app_data(ssl);
    /* Only what the peer sent, and only fatal ones: close_notify is seen as
     * SSL_ERROR_ZERO_RETURN, alerts we send follow an error that says more. */
    if (!d || !(where & SSL_CB_ALERT) || !(where & SSL_CB_READ) || (ret >> 8) != SSL3_AL_FATAL)
        return;
    snprintf(d->alert, sizeof(d->alert), "DTLS alert: %s", SSL_alert_desc_string_long(ret));
}

/* ---- the endpoint ---- */

static void fail(struct rtc_dtls *d, const char *reason)
{
    if (d->state == RTC_DTLS_FAILED)
        return;
    d->state = RTC_DTLS_FAILED;
    snprintf(d->reason, sizeof(d->reason), "%s", reason);
    OPENSSL_cleanse(&d->keys, sizeof(d->keys));
}

/* After an OpenSSL call failed: the most telling reason, and a clean error queue (the queue is
 * per thread and shared by every session on it). */
static void fail_ssl(struct rtc_dtls *d)
{
    char buf[96];
    if (d->fp_mismatch)
        fail(d, "fingerprint mismatch");
    else if (d->alert[0])
        fail(d, d->alert);
    else {
        const char *r = ERR_reason_error_string(ERR_peek_last_error());
        snprintf(buf, sizeof(buf), "DTLS error: %s", r ? r : "unknown");
        fail(d, buf);
    }
    ERR_clear_error();
}

struct rtc_dtls *rtc_dtls_create(struct rtc_dtls_ctx *ctx, enum rtc_dtls_role role,
                                 const struct rtc_dtls_fingerprint *peer, rtc_dtls_send_fn send,
                                 void *opaque, int64_t now_us)
{
    struct rtc_dtls *d = xcalloc(1, sizeof(*d) + ctx->mtu);
    d->ctx = ctx;
    d->role = role;
    d->peer = *peer;
    d->send = send;
    d->opaque = opaque;
    d->deadline_us = now_us + ctx->handshake_timeout_us;
    d->state = RTC_DTLS_HANDSHAKING;

    d->ssl = SSL_new(ctx->ssl_ctx);
    BIO *rbio = BIO_new(BIO_s_mem());
    BIO *wbio = BIO_new(ctx->out_method);
    if (!d->ssl || !rbio || !wbio)
        goto fail;
    BIO_set_mem_eof_return(rbio, -1); /* empty: "retry", not end of stream */
    BIO_set_data(wbio, d);
    SSL_set_bio(d->ssl, rbio, wbio); /* the SSL owns both now */
    d->rbio = rbio;
    rbio = wbio = NULL;
    SSL_set_app_data(d->ssl, d);
    if (!SSL_set_mtu(d->ssl, ctx->mtu))
        goto fail;
    DTLS_set_timer_cb(d->ssl, timer_cb);
    if (role == RTC_DTLS_CLIENT)
        SSL_set_connect_state(d->ssl);
    else
        SSL_set_accept_state(d->ssl);
    return d;
fail:
    log_error("rtc", NULL, "DTLS session: %s", ERR_reason_error_string(ERR_peek_last_error()));
    ERR_clear_error();
    BIO_free(rbio);
    BIO_free(wbio);
    SSL_free(d->ssl);
    free(d);
    return NULL;
}

/* Retransmission: the ctx's initial timeout, doubling, at most MAX_RETRANSMIT_US. */
static unsigned timer_cb(SSL *ssl, unsigned timer_us)
{
    struct rtc_dtls *d = SSL_get_app_data(ssl);
    if (timer_us == 0)
        return d ? d->ctx->initial_timeout_us : 1000000u;
    return timer_us >= MAX_RETRANSMIT_US / 2 ? MAX_RETRANSMIT_US : timer_us * 2;
}

void rtc_dtls_destroy(struct rtc_dtls **dp)
{
    struct rtc_dtls *d = *dp;
    if (!d)
        return;
    SSL_free(d->ssl);
    OPENSSL_cleanse(&d->keys, sizeof(d->keys));
    xfreep(dp);
}

/* The handshake is done: the peer's certificate once more (verify_cb saw it, but a session
 * without one must not pass), the SRTP profile, the keys. */
static void on_connected(struct rtc_dtls *d)
{
    X509 *cert = SSL_get0_peer_certificate(d->ssl);
    if (!cert || !fingerprint_matches(cert, &d->peer)) {
        fail(d, "fingerprint mismatch");
        return;
    }
    const SRTP_PROTECTION_PROFILE *p = SSL_get_selected_srtp_profile(d->ssl);
    enum rtc_srtp_profile prof = RTC_SRTP_NONE;
    if (p && p->id == SRTP_AES128_CM_SHA1_80)
        prof = RTC_SRTP_AES128_CM_SHA1_80;
    else if (p && p->id == SRTP_AEAD_AES_128_GCM)
        prof = RTC_SRTP_AEAD_AES_128_GCM;
    unsigned kl, sl;
    if (rtc_srtp_profile_lengths(prof, &kl, &sl) != 0) {
        fail(d, "no SRTP profile negotiated");
        return;
    }
    uint8_t km[2 * (RTC_SRTP_KEY_MAX + RTC_SRTP_SALT_MAX)];
    size_t n = 2 * (kl + sl);
    if (SSL_export_keying_material(d->ssl, km, n, EXPORTER_LABEL, strlen(EXPORTER_LABEL), NULL, 0,
                                   0) != 1) {
        fail_ssl(d);
        return;
    }
    /* RFC 5764 §4.2: client key, server key, client salt, server salt. */
    struct rtc_srtp_keys *k = &d->keys;
    k->profile = prof;
    k->key_len = (uint8_t)kl;
    k->salt_len = (uint8_t)sl;
    memcpy(k->client_key, km, kl);
    memcpy(k->server_key, km + kl, kl);
    memcpy(k->client_salt, km + 2 * kl, sl);
    memcpy(k->server_salt, km + 2 * kl + sl, sl);
    OPENSSL_cleanse(km, sizeof(km));
    d->state = RTC_DTLS_CONNECTED;
}

/* Application data (a data channel's SCTP) is not used: read and dropped. Reading also answers
 * a peer that retransmits its last flight because ours got lost. */
static void drain(struct rtc_dtls *d)
{
    uint8_t buf[2048];
    for (;;) {
        ERR_clear_error();
        int r = SSL_read(d->ssl, buf, sizeof(buf));
        if (r > 0)
            continue;
        int e = SSL_get_error(d->ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN) {
            d->state = RTC_DTLS_CLOSED;
            snprintf(d->reason, sizeof(d->reason), "peer closed");
        } else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            fail_ssl(d);
        ERR_clear_error();
        return;
    }
}

static void advance(struct rtc_dtls *d)
{
    if (d->state == RTC_DTLS_HANDSHAKING) {
        ERR_clear_error();
        int r = SSL_do_handshake(d->ssl);
        if (r == 1)
            on_connected(d);
        else {
            int e = SSL_get_error(d->ssl, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                fail_ssl(d);
        }
        ERR_clear_error();
    }
    if (d->state == RTC_DTLS_CONNECTED)
        drain(d);
    out_flush(d);
}

int rtc_dtls_start(struct rtc_dtls *d, int64_t now_us)
{
    if (d->role != RTC_DTLS_CLIENT || d->started || d->state != RTC_DTLS_HANDSHAKING)
        return -EINVAL;
    d->started = 1;
    advance(d);
    return 0;
}

static int check_handshake(const uint8_t *b, size_t n)
{
    if (n == 0)
        return -EINVAL;
    size_t off = 0;
    while (off < n) {
        if (n - off < 12)
            return -EINVAL;
        const uint8_t *h = b + off;
        size_t msg_len = (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
        size_t frag_off = (size_t)h[6] << 16 | (size_t)h[7] << 8 | h[8];
        size_t frag_len = (size_t)h[9] << 16 | (size_t)h[10] << 8 | h[11];
        if (msg_len > MAX_HANDSHAKE_MSG || frag_off > msg_len || frag_len > msg_len - frag_off ||
            frag_len > n - off - 12)
            return -EINVAL;
        off += 12 + frag_len;
    }
    return 0;
}

int rtc_dtls_check_records(const uint8_t *p, size_t len)
{
    size_t off = 0;
    int records = 0;
    if (len == 0)
        return -EINVAL;
    while (off < len) {
        const uint8_t *r = p + off;
        if (++records > MAX_RECORDS || len - off < 13)
            return -EINVAL;
        if (r[0] < 20 || r[0] > 25 || r[1] != 0xfe || (r[2] != 0xff && r[2] != 0xfd))
            return -EINVAL;
        unsigned epoch = (unsigned)r[3] << 8 | r[4];
        size_t rlen = (size_t)r[11] << 8 | r[12];
        if (rlen > MAX_RECORD_LEN || rlen > len - off - 13)
            return -EINVAL;
        /* Epoch 0 is plaintext: its change_cipher_spec, alerts and handshake are checkable. */
        if (epoch == 0 && ((r[0] == 20 && (rlen != 1 || r[13] != 1)) || (r[0] == 21 && rlen != 2) ||
                           (r[0] == 22 && check_handshake(r + 13, rlen) != 0)))
            return -EINVAL;
        off += 13 + rlen;
    }
    return 0;
}

int rtc_dtls_feed(struct rtc_dtls *d, const uint8_t *data, size_t len, int64_t now_us)
{
    if (rtc_dtls_check_records(data, len) != 0)
        return -EINVAL;
    if (d->state == RTC_DTLS_FAILED || d->state == RTC_DTLS_CLOSED)
        return 0;
    if (d->state == RTC_DTLS_HANDSHAKING && now_us >= d->deadline_us) {
        fail(d, "handshake timeout");
        return 0;
    }
    /* Whatever an earlier datagram left unread is stale: one datagram at a time. */
    (void)BIO_reset(d->rbio);
    if (BIO_write(d->rbio, data, (int)len) != (int)len) {
        ERR_clear_error();
        return -ENOMEM;
    }
    d->started = 1;
    advance(d);
    return 0;
}

int64_t rtc_dtls_next_timeout_us(struct rtc_dtls *d, int64_t now_us)
{
    if (d->state != RTC_DTLS_HANDSHAKING)
        return -1;
    int64_t left = d->deadline_us > now_us ? d->deadline_us - now_us : 0;
    struct timeval tv;
    if (DTLSv1_get_timeout(d->ssl, &tv) == 1) {
        int64_t t = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
        if (t < left)
            left = t;
    }
    return left;
}

void rtc_dtls_on_timeout(struct rtc_dtls *d, int64_t now_us)
{
    if (d->state != RTC_DTLS_HANDSHAKING)
        return;
    if (now_us >= d->deadline_us) {
        fail(d, "handshake timeout");
        return;
    }
    ERR_clear_error();
    if (DTLSv1_handle_timeout(d->ssl) < 0)
        fail_ssl(d);
    ERR_clear_error();
    out_flush(d);
}

enum rtc_dtls_state rtc_dtls_state(const struct rtc_dtls *d)
{
    return d->state;
}

const char *rtc_dtls_reason(const struct rtc_dtls *d)
{
    return d->reason;
}

enum rtc_dtls_role rtc_dtls_role(const struct rtc_dtls *d)
{
    return d->role;
}

int rtc_dtls_srtp_keys(const struct rtc_dtls *d, struct rtc_srtp_keys *out)
{
    if (d->state == RTC_DTLS_HANDSHAKING)
        return -EAGAIN;
    if (d->state != RTC_DTLS_CONNECTED)
        return -EINVAL;
    *out = d->keys;
    return 0;
}

void rtc_dtls_close(struct rtc_dtls *d)
{
    if (d->state == RTC_DTLS_CONNECTED) {
        ERR_clear_error();
        (void)SSL_shutdown(d->ssl); /* writes close_notify; the peer's is not waited for */
        ERR_clear_error();
        out_flush(d);
    }
    if (d->state != RTC_DTLS_FAILED)
        d->state = RTC_DTLS_CLOSED;
}
