/* AWS Signature Version 4: the presigned (query-string) form, and helpers. See sigv4.h. */
#include "storage/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"

void sigv4_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, n, md);
    sigv4_hex(md, sizeof(md), out);
}

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

void sigv4_uri_encode(struct buf *b, const char *s, int keep_slash)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (unreserved(*p) || (keep_slash && *p == '/'))
            buf_append(b, p, 1);
        else
            buf_printf(b, "%%%02X", *p);
    }
}

void sigv4_amz_date(time_t t, char out[17])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static void hmac(const void *key, size_t keylen, const char *msg, unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), out, &n);
}

void sigv4_sign(const char *secret, const char *amz_date, const char *region, const char *service,
                const char *canonical_request, char out[65])
{
    char date[9], hash[65], key0[256];
    unsigned char k[32], t[32];
    memcpy(date, amz_date, 8);
    date[8] = '\0';
    sigv4_sha256_hex(canonical_request, strlen(canonical_request), hash);

    struct buf sts;
    buf_init(&sts);
    buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, date, region,
               service, hash);
    buf_append(&sts, "", 1);

    int n = snprintf(key0, sizeof(key0), "AWS4%s", secret);
    if (n < 0 || (size_t)n >= sizeof(key0))
        n = (int)sizeof(key0) - 1; /* a secret that long is wrong anyway; the signature will say */
    /* Alternating buffers: an HMAC's output never aliases its key. */
    hmac(key0, (size_t)n, date, k);
    hmac(k, 32, region, t);
    hmac(t, 32, service, k);
    hmac(k, 32, "aws4_request", t);
    hmac(t, 32, (const char *)buf_head(&sts), k);
    sigv4_hex(k, 32, out);
    OPENSSL_cleanse(key0, sizeof(key0));
    buf_free(&sts);
}

/* The canonical query string of a presigned GET, sorted by name (the names below are already
 * in byte order), without the signature itself. */
static void presign_query(struct buf *q, const struct sigv4_presign *p, const char *amz_date)
{
    char scope[256];
    snprintf(scope, sizeof(scope), "%s/%.8s/%s/s3/aws4_request", p->key_id, amz_date, p->region);
    buf_printf(q, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
    sigv4_uri_encode(q, scope, 0);
    buf_printf(q, "&X-Amz-Date=%s&X-Amz-Expires=%d", amz_date, p->expires_s);
    if (p->token && *p->token) {
        buf_printf(q, "&X-Amz-Security-Token=");
        sigv4_uri_encode(q, p->token, 0);
    }
    buf_printf(q, "&X-Amz-SignedHeaders=host");
}

char *sigv4_presign_get(const struct sigv4_presign *p)
{
    char amz_date[17], sig[65];
    sigv4_amz_date(p->now, amz_date);

    struct buf q, creq, url;
    buf_init(&q);
    buf_init(&creq);
    buf_init(&url);
    presign_query(&q, p, amz_date);
    buf_append(&q, "", 1);
    const char *query = (const char *)buf_head(&q);

    buf_printf(&creq, "GET\n%s\n%s\nhost:%s\n\nhost\nUNSIGNED-PAYLOAD", p->path, query, p->host);
    buf_append(&creq, "", 1);
    sigv4_sign(p->secret, amz_date, p->region, "s3", (const char *)buf_head(&creq), sig);

    buf_printf(&url, "%s://%s%s?%s&X-Amz-Signature=%s", p->scheme, p->host, p->path, query, sig);
    char *out = xstrndup((const char *)buf_head(&url), buf_size(&url));
    buf_free(&q);
    buf_free(&creq);
    buf_free(&url);
    return out;
}
