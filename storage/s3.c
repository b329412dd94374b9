/* The s3:// backend: PUT (with Content-MD5, ETag checked), multipart upload for files over
 * 16 MiB (each part retried, ETags checked, aborted when giving up), DELETE, the bucket check,
 * and presigned GET URLs. Requests go through s3_http.c (libcurl signs them); presigning is
 * sigv4.c's.
 *
 * Addressing: with endpoint=URL, path style (URL/BUCKET/KEY: MinIO, s3rver, most S3
 * look-alikes). Without, Amazon S3 itself: virtual-hosted style,
 * https://BUCKET.s3.REGION.amazonaws.com/KEY, or path style on https://s3.REGION.amazonaws.com
 * for bucket names with dots (which TLS wildcard certificates do not cover). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "storage/backend.h"
#include "storage/s3_http.h"
#include "storage/sigv4.h"

#define SINGLE_PUT_MAX ((uint64_t)16 << 20) /* larger files go multipart */
#define PART_MIN ((uint64_t)8 << 20)
#define MAX_PARTS 10000
#define HASH_CHUNK (256 << 10)
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- open, close ---- */

static char *dup_env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? xstrdup(v) : NULL;
}

/* A formatted heap string. */
__attribute__((format(printf, 1, 2))) static char *fmt(const char *f, ...)
{
    va_list ap;
    char *out = NULL;
    va_start(ap, f);
    int n = vasprintf(&out, f, ap);
    va_end(ap);
    if (n < 0)
        abort(); /* out of memory: decided once, as in core/alloc.h */
    return out;
}

static void addressing(struct s3 *s3, const struct storage_url *u)
{
    if (u->endpoint) {
        const char *sep = strstr(u->endpoint, "://");
        s3->scheme = xstrndup(u->endpoint, (size_t)(sep - u->endpoint));
        s3->host = xstrdup(sep + 3);
        s3->bucket_path = fmt("/%s", u->bucket);
        s3->where = fmt("bucket '%s' at %s", u->bucket, u->endpoint);
        return;
    }
    s3->scheme = xstrdup("https");
    if (strchr(u->bucket, '.')) {
        s3->host = fmt("s3.%s.amazonaws.com", u->region);
        s3->bucket_path = fmt("/%s", u->bucket);
    } else {
        s3->host = fmt("%s.s3.%s.amazonaws.com", u->bucket, u->region);
        s3->bucket_path = xstrdup("");
    }
    s3->where = fmt("bucket '%s' in %s", u->bucket, u->region);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int s3_open(struct storage *s, const struct storage_url *u, char *err, size_t errlen)
{
    struct s3 *s3 = xcalloc(1, sizeof(*s3));
    s->impl = s3;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return storage_fail(err, errlen, -EIO, "s3: libcurl failed to initialise");
    s3->bucket = xstrdup(u->bucket);
    s3->prefix = xstrdup(u->prefix);
    s3->region = xstrdup(u->region);
    s3->attempts = u->attempts;
    s3->backoff_ms = u->backoff_ms;
    s3->sigv4 = fmt("aws:amz:%s:s3", u->region);
    addressing(s3, u);
    s3->key_id = dup_env("AWS_ACCESS_KEY_ID");
    s3->secret = dup_env("AWS_SECRET_ACCESS_KEY");
    s3->token = dup_env("AWS_SESSION_TOKEN");
    if (!s3->key_id || !s3->secret)
        return storage_fail(err, errlen, -EINVAL,
                            "s3 storage needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the "
                            "environment");
    return 0;
}

static void s3_close(struct storage *s)
{
    struct s3 *s3 = s->impl;
    if (!s3)
        return;
    char **strs[] = {&s3->bucket, &s3->prefix, &s3->region, &s3->key_id,
                     &s3->secret, &s3->token,  &s3->scheme, &s3->bucket_path,
                     &s3->sigv4,  &s3->where,  &s3->host};
    if (s3->secret)
        OPENSSL_cleanse(s3->secret, strlen(s3->secret));
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        xfreep(strs[i]);
    free(s3);
    s->impl = NULL;
}

/* ---- helpers ---- */

/* "/bucket/prefix/key", URI-encoded (heap). */
static char *object_path(struct s3 *s3, const char *key)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "%s/", s3->bucket_path);
    if (*s3->prefix) {
        sigv4_uri_encode(&b, s3->prefix, 1);
        buf_append(&b, "/", 1);
    }
    sigv4_uri_encode(&b, key, 1);
    char *out = xstrndup((const char *)buf_head(&b), buf_size(&b));
    buf_free(&b);
    return out;
}

static const char *content_type(const char *key)
{
    const char *dot = strrchr(key, '.');
    if (dot && !strcasecmp(dot, ".mp4"))
        return "video/mp4";
    if (dot && !strcasecmp(dot, ".m3u8"))
        return "application/vnd.apple.mpegurl";
    if (dot && !strcasecmp(dot, ".json"))
        return "application/json";
    return "application/octet-stream";
}

struct digests {
    unsigned char md5[16];
    char md5_hex[33];
    char md5_b64[25];
    char sha256[65];
};

static void digests_finish(struct digests *d, EVP_MD_CTX *md5, EVP_MD_CTX *sha)
{
    unsigned char s[32];
    EVP_DigestFinal_ex(md5, d->md5, NULL);
    EVP_DigestFinal_ex(sha, s, NULL);
    sigv4_hex(d->md5, 16, d->md5_hex);
    sigv4_hex(s, 32, d->sha256);
    EVP_EncodeBlock((unsigned char *)d->md5_b64, d->md5, 16);
}

/* MD5 and SHA-256 of len bytes of fd at off; also feeds whole (the whole file's MD5) when not
 * NULL. 0 or -EIO. */
static int hash_range(int fd, off_t off, uint64_t len, struct digests *d, EVP_MD_CTX *whole)
{
    static const size_t chunk = HASH_CHUNK;
    char *buf = xmalloc(chunk);
    EVP_MD_CTX *md5 = EVP_MD_CTX_new(), *sha = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md5, EVP_md5(), NULL);
    EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
    int rc = 0;
    for (uint64_t pos = 0; pos < len;) {
        size_t want = len - pos < chunk ? (size_t)(len - pos) : chunk;
        ssize_t n = pread(fd, buf, want, off + (off_t)pos);
        if (n <= 0) {
            rc = -EIO;
            break;
        }
        EVP_DigestUpdate(md5, buf, (size_t)n);
        EVP_DigestUpdate(sha, buf, (size_t)n);
        if (whole)
            EVP_DigestUpdate(whole, buf, (size_t)n);
        pos += (uint64_t)n;
    }
    digests_finish(d, md5, sha);
    EVP_MD_CTX_free(md5);
    EVP_MD_CTX_free(sha);
    free(buf);
    return rc;
}

static CURL *curl_new(void)
{
    CURL *c = curl_easy_init();
    if (!c)
        abort(); /* out of memory: decided once, as in core/alloc.h */
    return c;
}

/* ---- single PUT ---- */

static int put_single(struct s3 *s3, CURL *c, const char *key, const char *path, int fd,
                      uint64_t size, char *err, size_t errlen)
{
    struct digests d;
    if (hash_range(fd, 0, size, &d, NULL) < 0)
        return storage_fail(err, errlen, -EIO, "s3: cannot read %s: %s", path, strerror(errno));
    char *opath = object_path(s3, key), what[300];
    snprintf(what, sizeof(what), "PUT %s", key);
    struct s3_request rq = {.method = "PUT",
                            .path = opath,
                            .body = {.fd = fd, .len = size},
                            .sha256 = d.sha256,
                            .content_md5 = d.md5_b64,
                            .content_type = content_type(key),
                            .what = what};
    struct s3_response rs;
    s3_response_init(&rs);
    int rc = s3_perform_retry(s3, c, &rq, &rs, err, errlen);
    if (rc == 0 && strcasecmp(rs.etag, d.md5_hex) != 0)
        rc = storage_fail(err, errlen, -EIO,
                          "S3 %s: ETag '%s' is not the MD5 of what was sent (%s) (%s)", what,
                          rs.etag, d.md5_hex, s3->where);
    s3_response_free(&rs);
    free(opath);
    return rc;
}

/* ---- multipart ---- */

/* A multipart upload in progress. The parts' MD5s are kept in order: S3's ETag for the whole
 * object is hex(MD5(md5(part 1) || ... || md5(part N))) "-" N. */
struct mpu {
    struct s3 *s3;
    CURL *c;
    const char *key;
    char *opath;
    char *upload_id; /* URI-encoded, as it goes into queries */
    int nparts;
    char (*etags)[33];
    struct buf md5s;
    EVP_MD_CTX *whole; /* MD5 of the whole file: some S3 look-alikes answer with that */
};

static uint64_t part_size_for(uint64_t size)
{
    uint64_t need = (size + MAX_PARTS - 1) / MAX_PARTS, mib = (uint64_t)1 << 20;
    return need <= PART_MIN ? PART_MIN : (need + mib - 1) / mib * mib;
}

static int mpu_create(struct mpu *m, char *err, size_t errlen)
{
    char what[300], id[1024];
    snprintf(what, sizeof(what), "CreateMultipartUpload %s", m->key);
    struct s3_request rq = {.method = "POST",
                            .path = m->opath,
                            .query = "uploads=",
                            .body = {.fd = -1},
                            .sha256 = EMPTY_SHA256,
                            .content_type = content_type(m->key),
                            .what = what};
    struct s3_response rs;
    s3_response_init(&rs);
    int rc = s3_perform_retry(m->s3, m->c, &rq, &rs, err, errlen);
    if (rc == 0 && s3_xml_tag((const char *)buf_head(&rs.body), "UploadId", id, sizeof(id)) < 0)
        rc = storage_fail(err, errlen, -EIO, "S3 %s: no UploadId in the answer (%s)", what,
                          m->s3->where);
    if (rc == 0) {
        struct buf b;
        buf_init(&b);
        sigv4_uri_encode(&b, id, 0);
        m->upload_id = xstrndup((const char *)buf_head(&b), buf_size(&b));
        buf_free(&b);
    }
    s3_response_free(&rs);
    return rc;
}

/* Uploads part n (from 1) of len bytes at off, retried; its ETag must be its MD5. */
static int mpu_part(struct mpu *m, int n, int fd, off_t off, uint64_t len, char *err, size_t errlen)
{
    struct digests d;
    if (hash_range(fd, off, len, &d, m->whole) < 0)
        return storage_fail(err, errlen, -EIO, "s3: cannot read part %d for %s: %s", n, m->key,
                            strerror(errno));
    char what[300], query[1200];
    snprintf(what, sizeof(what), "UploadPart %d of %s", n, m->key);
    snprintf(query, sizeof(query), "partNumber=%d&uploadId=%s", n, m->upload_id);
    struct s3_request rq = {.method = "PUT",
                            .path = m->opath,
                            .query = query,
                            .body = {.fd = fd, .off = off, .len = len},
                            .sha256 = d.sha256,
                            .content_md5 = d.md5_b64,
                            .what = what};
    struct s3_response rs;
    s3_response_init(&rs);
    int rc = s3_perform_retry(m->s3, m->c, &rq, &rs, err, errlen);
    if (rc == 0 && strcasecmp(rs.etag, d.md5_hex) != 0)
        rc = storage_fail(err, errlen, -EIO,
                          "S3 %s: ETag '%s' is not the MD5 of what was sent (%s) (%s)", what,
                          rs.etag, d.md5_hex, m->s3->where);
    if (rc == 0) {
        memcpy(m->etags[n - 1], d.md5_hex, 33);
        buf_append(&m->md5s, d.md5, 16);
    }
    s3_response_free(&rs);
    return rc;
}

/* The ETags S3 may answer for the completed object: the multipart form, or (some look-alikes)
 * the MD5 of the whole file. */
static int mpu_etag_ok(struct mpu *m, const char *etag)
{
    unsigned char md[16];
    char hex[33], multi[48];
    EVP_MD_CTX *x = EVP_MD_CTX_new();
    EVP_DigestInit_ex(x, EVP_md5(), NULL);
    EVP_DigestUpdate(x, buf_head(&m->md5s), buf_size(&m->md5s));
    EVP_DigestFinal_ex(x, md, NULL);
    EVP_MD_CTX_free(x);
    sigv4_hex(md, 16, hex);
    snprintf(multi, sizeof(multi), "%s-%d", hex, m->nparts);
    if (!strcasecmp(etag, multi))
        return 1;
    EVP_MD_CTX *w = EVP_MD_CTX_new(); /* m->whole is finalised on a copy: check may repeat */
    EVP_MD_CTX_copy_ex(w, m->whole);
    EVP_DigestFinal_ex(w, md, NULL);
    EVP_MD_CTX_free(w);
    sigv4_hex(md, 16, hex);
    return !strcasecmp(etag, hex);
}

static void mpu_body(struct mpu *m, struct buf *xml)
{
    buf_printf(xml, "<CompleteMultipartUpload>");
    for (int i = 0; i < m->nparts; i++)
        buf_printf(xml, "<Part><PartNumber>%d</PartNumber><ETag>\"%s\"</ETag></Part>", i + 1,
                   m->etags[i]);
    buf_printf(xml, "</CompleteMultipartUpload>");
}

/* A Complete whose first answer was lost may have succeeded: its retry then hears
 * NoSuchUpload. The object's own ETag tells. */
static int mpu_already_done(struct mpu *m)
{
    struct s3_request rq = {.method = "HEAD",
                            .path = m->opath,
                            .body = {.fd = -1},
                            .sha256 = EMPTY_SHA256,
                            .what = "HEAD"};
    struct s3_response rs;
    s3_response_init(&rs);
    int ok = s3_perform(m->s3, m->c, &rq, &rs, NULL, 0) == 0 && mpu_etag_ok(m, rs.etag);
    s3_response_free(&rs);
    return ok;
}

static int mpu_complete(struct mpu *m, char *err, size_t errlen)
{
    struct buf xml;
    buf_init(&xml);
    mpu_body(m, &xml);
    struct digests d;
    unsigned char md[16];
    unsigned int mdlen = 16;
    EVP_Digest(buf_head(&xml), buf_size(&xml), md, &mdlen, EVP_md5(), NULL);
    EVP_EncodeBlock((unsigned char *)d.md5_b64, md, 16);
    sigv4_sha256_hex(buf_head(&xml), buf_size(&xml), d.sha256);
    char what[300], query[1100], etag[80] = "";
    snprintf(what, sizeof(what), "CompleteMultipartUpload %s", m->key);
    snprintf(query, sizeof(query), "uploadId=%s", m->upload_id);
    struct s3_request rq = {
        .method = "POST",
        .path = m->opath,
        .query = query,
        .body = {.fd = -1, .mem = (const char *)buf_head(&xml), .len = buf_size(&xml)},
        .sha256 = d.sha256,
        .content_md5 = d.md5_b64,
        .content_type = "application/xml",
        .what = what};
    struct s3_response rs;
    s3_response_init(&rs);
    int rc = s3_perform_retry(m->s3, m->c, &rq, &rs, err, errlen);
    if (rc == -ENOENT && !strcmp(rs.code, "NoSuchUpload") && mpu_already_done(m)) {
        rc = 0;
    } else if (rc == 0) {
        if (s3_xml_tag((const char *)buf_head(&rs.body), "ETag", etag, sizeof(etag)) == 0)
            s3_etag_clean(etag);
        if (!mpu_etag_ok(m, etag))
            rc = storage_fail(err, errlen, -EIO,
                              "S3 %s: ETag '%s' does not match the %d parts sent (%s)", what, etag,
                              m->nparts, m->s3->where);
    }
    s3_response_free(&rs);
    buf_free(&xml);
    return rc;
}

/* Gives up on the upload so S3 frees its parts; says so at the end of err. */
static void mpu_abort(struct mpu *m, char *err, size_t errlen)
{
    char what[300], query[1100], why[256] = "";
    snprintf(what, sizeof(what), "AbortMultipartUpload %s", m->key);
    snprintf(query, sizeof(query), "uploadId=%s", m->upload_id);
    struct s3_request rq = {.method = "DELETE",
                            .path = m->opath,
                            .query = query,
                            .body = {.fd = -1},
                            .sha256 = EMPTY_SHA256,
                            .what = what};
    struct s3_response rs;
    s3_response_init(&rs);
    int rc = s3_perform_retry(m->s3, m->c, &rq, &rs, why, sizeof(why));
    s3_response_free(&rs);
    size_t used = err ? strnlen(err, errlen) : 0;
    if (err && used + 1 < errlen)
        snprintf(err + used, errlen - used,
                 rc == 0 || rc == -ENOENT ? "; multipart upload aborted" : "; abort failed too: %s",
                 why);
}

static int put_multipart(struct s3 *s3, CURL *c, const char *key, int fd, uint64_t size, char *err,
                         size_t errlen)
{
    uint64_t psize = part_size_for(size);
    struct mpu m = {.s3 = s3,
                    .c = c,
                    .key = key,
                    .opath = object_path(s3, key),
                    .nparts = (int)((size + psize - 1) / psize),
                    .whole = EVP_MD_CTX_new()};
    m.etags = xcalloc((size_t)m.nparts, sizeof(*m.etags));
    buf_init(&m.md5s);
    EVP_DigestInit_ex(m.whole, EVP_md5(), NULL);
    int rc = mpu_create(&m, err, errlen);
    for (int n = 1; rc == 0 && n <= m.nparts; n++) {
        uint64_t off = (uint64_t)(n - 1) * psize;
        rc = mpu_part(&m, n, fd, (off_t)off, size - off < psize ? size - off : psize, err, errlen);
    }
    if (rc == 0)
        rc = mpu_complete(&m, err, errlen);
    if (rc < 0 && m.upload_id)
        mpu_abort(&m, err, errlen);
    EVP_MD_CTX_free(m.whole);
    buf_free(&m.md5s);
    free(m.etags);
    free(m.upload_id);
    free(m.opath);
    return rc;
}

/* ---- operations ---- */

static int s3_put(struct storage *s, const char *key, const char *path, char *err, size_t errlen)
{
    struct s3 *s3 = s->impl;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return storage_fail(err, errlen, errno == ENOENT ? -ENOENT : -EIO, "s3: cannot read %s: %s",
                            path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return storage_fail(err, errlen, -EIO, "s3: cannot stat %s", path);
    }
    CURL *c = curl_new();
    uint64_t size = (uint64_t)st.st_size;
    int rc = size <= SINGLE_PUT_MAX ? put_single(s3, c, key, path, fd, size, err, errlen)
                                    : put_multipart(s3, c, key, fd, size, err, errlen);
    curl_easy_cleanup(c);
    close(fd);
    return rc;
}

static int s3_del(struct storage *s, const char *key, char *err, size_t errlen)
{
    struct s3 *s3 = s->impl;
    char *opath = object_path(s3, key), what[300];
    snprintf(what, sizeof(what), "DELETE %s", key);
    struct s3_request rq = {.method = "DELETE",
                            .path = opath,
                            .body = {.fd = -1},
                            .sha256 = EMPTY_SHA256,
                            .what = what};
    struct s3_response rs;
    s3_response_init(&rs);
    CURL *c = curl_new();
    int rc = s3_perform_retry(s3, c, &rq, &rs, err, errlen);
    if (rc == -ENOENT && strcmp(rs.code, "NoSuchBucket") != 0)
        rc = 0; /* already gone (S3 itself answers 204 either way) */
    curl_easy_cleanup(c);
    s3_response_free(&rs);
    free(opath);
    return rc;
}

/* A signed GET listing at most one key under the prefix: proves the bucket exists and the
 * credentials are accepted, and unlike HEAD its error answers carry a code to report. */
static int s3_check(struct storage *s, char *err, size_t errlen)
{
    struct s3 *s3 = s->impl;
    struct buf q, p;
    buf_init(&q);
    buf_init(&p);
    buf_printf(&q, "list-type=2&max-keys=1");
    if (*s3->prefix) {
        buf_printf(&q, "&prefix=");
        sigv4_uri_encode(&q, s3->prefix, 0);
        buf_printf(&q, "%%2F");
    }
    buf_append(&q, "", 1);
    buf_printf(&p, "%s/", s3->bucket_path);
    buf_append(&p, "", 1);
    struct s3_request rq = {.method = "GET",
                            .path = (const char *)buf_head(&p),
                            .query = (const char *)buf_head(&q),
                            .body = {.fd = -1},
                            .sha256 = EMPTY_SHA256,
                            .what = "list bucket"};
    struct s3_response rs;
    s3_response_init(&rs);
    CURL *c = curl_new();
    int rc = s3_perform(s3, c, &rq, &rs, err, errlen);
    curl_easy_cleanup(c);
    s3_response_free(&rs);
    buf_free(&q);
    buf_free(&p);
    return rc;
}

static int s3_locate(struct storage *s, const char *key, int expires_s, time_t now, char **out,
                     int *is_url)
{
    struct s3 *s3 = s->impl;
    if (expires_s < 1 || expires_s > 604800)
        return -EINVAL; /* SigV4 presigned URLs live at most 7 days */
    char *opath = object_path(s3, key);
    struct sigv4_presign p = {.scheme = s3->scheme,
                              .host = s3->host,
                              .path = opath,
                              .key_id = s3->key_id,
                              .secret = s3->secret,
                              .token = s3->token,
                              .region = s3->region,
                              .expires_s = expires_s,
                              .now = now};
    *out = sigv4_presign_get(&p);
    if (is_url)
        *is_url = 1;
    free(opath);
    return 0;
}

const struct storage_ops storage_s3_ops = {
    .name = "s3",
    .open = s3_open,
    .close = s3_close,
    .check = s3_check,
    .put_file = s3_put,
    .del = s3_del,
    .locate = s3_locate,
};
