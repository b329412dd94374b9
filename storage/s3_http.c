/* One signed S3 request with libcurl, error mapping, retries. See s3_http.h. */
#include "storage/s3_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "storage/backend.h"

#define CONNECT_TIMEOUT_MS 5000L
/* A stall detector, not a speed requirement: less than 1 byte/s for 30 s aborts the request
 * (a server that accepted the connection and went silent). */
#define LOW_SPEED_LIMIT 1L
#define LOW_SPEED_TIME_S 30L
#define MAX_BODY (1 << 20)
#define MAX_WAIT_MS 20000

void s3_response_init(struct s3_response *rs)
{
    memset(rs, 0, sizeof(*rs));
    buf_init(&rs->body);
}

void s3_response_free(struct s3_response *rs)
{
    buf_free(&rs->body);
}

static void response_reset(struct s3_response *rs)
{
    rs->status = 0;
    rs->etag[0] = rs->code[0] = rs->message[0] = '\0';
    buf_clear(&rs->body);
}

/* ---- libcurl callbacks ---- */

static size_t on_read(char *dst, size_t size, size_t nitems, void *arg)
{
    struct s3_body *b = arg;
    size_t want = size * nitems;
    if (want > b->len - b->pos)
        want = (size_t)(b->len - b->pos);
    if (want == 0)
        return 0;
    if (b->mem) {
        memcpy(dst, b->mem + b->pos, want);
        b->pos += want;
        return want;
    }
    ssize_t n = pread(b->fd, dst, want, b->off + (off_t)b->pos);
    if (n <= 0) /* an error, or the file shrank under us: never send a short body */
        return CURL_READFUNC_ABORT;
    b->pos += (uint64_t)n;
    return (size_t)n;
}

static int on_seek(void *arg, curl_off_t offset, int origin)
{
    struct s3_body *b = arg;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > b->len)
        return CURL_SEEKFUNC_FAIL;
    b->pos = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
    struct s3_response *rs = arg;
    size_t n = size * nmemb;
    if (buf_size(&rs->body) + n <= MAX_BODY)
        buf_append(&rs->body, data, n);
    return n; /* beyond the cap: read and dropped, the request still completes */
}

void s3_etag_clean(char *etag)
{
    char *p = etag;
    while (*p == ' ' || *p == '"')
        p++;
    if (!strncmp(p, "&quot;", 6))
        p += 6;
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '"' || p[n - 1] == '\r' || p[n - 1] == '\n'))
        n--;
    if (n >= 6 && !strncmp(p + n - 6, "&quot;", 6))
        n -= 6;
    memmove(etag, p, n);
    etag[n] = '\0';
}

static size_t on_header(char *data, size_t size, size_t nitems, void *arg)
{
    struct s3_response *rs = arg;
    size_t n = size * nitems;
    if (n > 5 && !strncasecmp(data, "etag:", 5)) {
        size_t len = n - 5 < sizeof(rs->etag) - 1 ? n - 5 : sizeof(rs->etag) - 1;
        memcpy(rs->etag, data + 5, len);
        rs->etag[len] = '\0';
        s3_etag_clean(rs->etag);
    }
    return n;
}

/* ---- XML ---- */

int s3_xml_tag(const char *xml, const char *tag, char *out, size_t outlen)
{
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    const char *a = strstr(xml, open);
    if (!a)
        return -1;
    a += strlen(open);
    const char *z = strstr(a, close);
    if (!z || (size_t)(z - a) >= outlen)
        return -1;
    memcpy(out, a, (size_t)(z - a));
    out[z - a] = '\0';
    return 0;
}

/* ---- one request ---- */

static struct curl_slist *headers(struct s3 *s3, const struct s3_request *rq)
{
    char line[2048];
    struct curl_slist *h = NULL;
    snprintf(line, sizeof(line), "x-amz-content-sha256: %s", rq->sha256);
    h = curl_slist_append(h, line);
    if (rq->content_md5) {
        snprintf(line, sizeof(line), "Content-MD5: %s", rq->content_md5);
        h = curl_slist_append(h, line);
    }
    if (rq->content_type) {
        snprintf(line, sizeof(line), "Content-Type: %s", rq->content_type);
        h = curl_slist_append(h, line);
    }
    if (s3->token &&
        snprintf(line, sizeof(line), "x-amz-security-token: %s", s3->token) < (int)sizeof(line))
        h = curl_slist_append(h, line);
    if (!h)
        abort(); /* out of memory: decided once, as in core/alloc.h */
    return h;
}

static void set_method(CURL *c, struct s3_request *rq)
{
    struct s3_body *b = &rq->body;
    b->pos = 0;
    if (!strcmp(rq->method, "HEAD")) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(rq->method, "PUT")) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)b->len);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, b);
        curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(c, CURLOPT_SEEKDATA, b);
    } else if (!strcmp(rq->method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, b->mem ? b->mem : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(b->mem ? b->len : 0));
    } else if (strcmp(rq->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
    }
}

static void set_common(struct s3 *s3, CURL *c, struct s3_response *rs, const char *url)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, LOW_SPEED_LIMIT);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, LOW_SPEED_TIME_S);
    curl_easy_setopt(c, CURLOPT_USERNAME, s3->key_id);
    curl_easy_setopt(c, CURLOPT_PASSWORD, s3->secret);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s3->sigv4);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, rs);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, rs);
}

static int map_curl(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return -EAGAIN;
    case CURLE_URL_MALFORMAT:
        return -EINVAL;
    default:
        return -EIO;
    }
}

static int code_is(const char *code, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(code, *list))
            return 1;
    return 0;
}

static int map_http(long status, const char *code)
{
    static const char *const refused[] = {"SignatureDoesNotMatch",
                                          "InvalidAccessKeyId",
                                          "AccessDenied",
                                          "ExpiredToken",
                                          "InvalidToken",
                                          "RequestTimeTooSkewed",
                                          NULL};
    static const char *const transient[] = {"SlowDown",           "RequestTimeout", "InternalError",
                                            "ServiceUnavailable", "BadDigest",      NULL};
    if (code_is(code, refused) || status == 401 || status == 403)
        return -EACCES;
    if (status == 404)
        return -ENOENT;
    if (code_is(code, transient) || status >= 500 || status == 429 || status == 408)
        return -EAGAIN;
    return -EIO;
}

/* The line for a failed answer. */
static int http_fail(struct s3 *s3, struct s3_request *rq, struct s3_response *rs, int rc,
                     char *err, size_t errlen)
{
    const char *code = rs->code[0] ? rs->code : "no error code";
    if (rc == -EACCES && strcmp(rs->code, "AccessDenied") != 0)
        return storage_fail(err, errlen, rc,
                            "S3 refused the credentials (%s) for %s on %s: %s; check "
                            "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the clock",
                            code, s3->where, rq->what, rs->message);
    if (rc == -ENOENT && !strcmp(rs->code, "NoSuchBucket"))
        return storage_fail(err, errlen, rc, "S3 has no %s (NoSuchBucket)", s3->where);
    return storage_fail(err, errlen, rc, "S3 %s: HTTP %ld %s%s%s (%s)", rq->what, rs->status, code,
                        rs->message[0] ? ": " : "", rs->message, s3->where);
}

static char *url_of(struct s3 *s3, struct s3_request *rq)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "%s://%s%s%s%s", s3->scheme, s3->host, rq->path, rq->query ? "?" : "",
               rq->query ? rq->query : "");
    char *url = xstrndup((const char *)buf_head(&b), buf_size(&b));
    buf_free(&b);
    return url;
}

/* After the transfer: status, error code and message from the body. A 200 can still carry
 * an <Error> (CompleteMultipartUpload does that when it fails after starting its answer). */
static int judge(struct s3 *s3, CURL *c, struct s3_request *rq, struct s3_response *rs, char *err,
                 size_t errlen)
{
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs->status);
    buf_append(&rs->body, "", 1);
    rs->body.len--; /* NUL-terminated, not counted */
    const char *xml = (const char *)buf_head(&rs->body);
    int has_error = strstr(xml, "<Error>") != NULL;
    if (has_error) {
        s3_xml_tag(xml, "Code", rs->code, sizeof(rs->code));
        s3_xml_tag(xml, "Message", rs->message, sizeof(rs->message));
    }
    if (rs->status >= 200 && rs->status < 300 && !has_error)
        return 0;
    int rc = rs->status / 100 == 2 ? -EAGAIN : map_http(rs->status, rs->code);
    return http_fail(s3, rq, rs, rc, err, errlen);
}

int s3_perform(struct s3 *s3, CURL *c, struct s3_request *rq, struct s3_response *rs, char *err,
               size_t errlen)
{
    char *url = url_of(s3, rq);
    struct curl_slist *h = headers(s3, rq);
    char cerr[CURL_ERROR_SIZE] = "";
    response_reset(rs);
    curl_easy_reset(c);
    set_common(s3, c, rs, url);
    set_method(c, rq);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    CURLcode cc = curl_easy_perform(c);
    int rc;
    if (cc != CURLE_OK)
        rc = storage_fail(err, errlen, map_curl(cc), "S3 %s: %s (%s)", rq->what,
                          cerr[0] ? cerr : curl_easy_strerror(cc), s3->where);
    else
        rc = judge(s3, c, rq, rs, err, errlen);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(h);
    free(url);
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

int s3_perform_retry(struct s3 *s3, CURL *c, struct s3_request *rq, struct s3_response *rs,
                     char *err, size_t errlen)
{
    long wait = s3->backoff_ms;
    for (int i = 1;; i++) {
        int rc = s3_perform(s3, c, rq, rs, err, errlen);
        if (rc != -EAGAIN || i >= s3->attempts)
            return rc;
        sleep_ms(wait);
        wait = wait * 2 > MAX_WAIT_MS ? MAX_WAIT_MS : wait * 2;
    }
}
