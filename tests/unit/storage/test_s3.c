/* The S3 backend against s3rver behind tests/lib/s3proxy.mjs, which checks every Signature V4
 * (with the npm aws4 package), the payload hashes and Content-MD5, and injects faults. Needs
 * KIBITKA_TEST_S3_URL, the proxy's endpoint; without it the test reports skipped (exit 77, see
 * test.h):
 *
 *   dir=$(mktemp -d) && export KIBITKA_TEST_S3_URL=$(tests/lib/s3-start "$dir")
 *   build-test/test_s3; tests/lib/s3-stop "$dir"
 *
 * Covers: the bucket check (and wrong secret, unknown key, missing bucket), single PUT, a
 * 40 MiB multipart PUT, 503 SlowDown and a TCP reset on UploadPart (retried), a failing
 * CompleteMultipartUpload (retried once; aborted when it keeps failing), an outage, DELETE,
 * presigned GETs (fetched through the proxy; tampered and expired ones refused), odd
 * characters in keys, and a session token. Objects go under a prefix of this process' own. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "storage/backend.h"
#include "storage/storage.h"
#include "test.h"

static const char *endpoint;
static char tmpdir[] = "/tmp/kibitka-s3test-XXXXXX";
static char prefix[64];

/* ---- plain HTTP to the proxy ---- */

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    buf_append(arg, p, size * n);
    return size * n;
}

/* GET (body NULL) or POST body to url; returns the status, fills out when given. */
static long http(const char *url, const char *body, struct buf *out)
{
    struct buf sink;
    buf_init(&sink);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out ? out : &sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    buf_free(&sink);
    return status;
}

static void fault(const char *json)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/__fault", endpoint);
    CHECK_EQ_INT(http(url, json, NULL), 200);
}

/* A counter of the proxy: "faultsInjected", or an operation ("UploadPart"). */
static long proxy_stat(const char *name)
{
    char url[256];
    struct buf b;
    buf_init(&b);
    snprintf(url, sizeof(url), "%s/__stats", endpoint);
    http(url, NULL, &b);
    buf_append(&b, "", 1);
    json_t *j = json_loads((const char *)buf_head(&b), 0, NULL);
    json_t *v = json_object_get(j, name);
    if (!v)
        v = json_object_get(json_object_get(j, "ops"), name);
    long n = v ? (long)json_integer_value(v) : 0;
    json_decref(j);
    buf_free(&b);
    return n;
}

/* ---- fixtures ---- */

static void make_file(const char *name, size_t n, unsigned seed, char *path, size_t pathlen)
{
    snprintf(path, pathlen, "%s/%s", tmpdir, name);
    unsigned char *d = malloc(n);
    unsigned x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        d[i] = (unsigned char)x;
    }
    FILE *f = fopen(path, "wb");
    fwrite(d, 1, n, f);
    fclose(f);
    free(d);
}

static int file_equals(const char *path, const struct buf *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = buf_size(b), i = 0;
    int ok = 1, ch;
    while ((ch = fgetc(f)) != EOF && ok)
        ok = i < n && buf_head(b)[i++] == (unsigned char)ch;
    fclose(f);
    return ok && i == n;
}

static struct storage *open_store(const char *bucket, const char *extra)
{
    char url[512], err[256] = "";
    struct storage *s = NULL;
    snprintf(url, sizeof(url), "s3://%s/%s?endpoint=%s&region=us-east-1%s", bucket, prefix,
             endpoint, extra);
    int rc = storage_open(url, &s, err, sizeof(err));
    CHECK_EQ_INT(rc, 0);
    if (rc < 0)
        fprintf(stderr, "  %s: %s\n", url, err);
    return s;
}

/* Fetches key through a presigned URL; returns the status and fills body. */
static long fetch(struct storage *s, const char *key, struct buf *body)
{
    char *url = NULL;
    int is_url = 0;
    CHECK_EQ_INT(storage_locate(s, key, 300, &url, &is_url), 0);
    CHECK_EQ_INT(is_url, 1);
    long st = url ? http(url, NULL, body) : 0;
    free(url);
    return st;
}

static void put_ok(struct storage *s, const char *key, const char *path)
{
    char err[512] = "";
    int rc = storage_put_file(s, key, path, err, sizeof(err));
    CHECK_EQ_INT(rc, 0);
    if (rc < 0)
        fprintf(stderr, "  put %s: %s\n", key, err);
}

static void put_and_fetch(struct storage *s, const char *key, const char *path)
{
    struct buf b;
    buf_init(&b);
    put_ok(s, key, path);
    CHECK_EQ_INT(fetch(s, key, &b), 200);
    CHECK(file_equals(path, &b));
    buf_free(&b);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- tests ---- */

static void test_check_and_small(struct storage *s)
{
    char err[512] = "", path[512];
    CHECK_EQ_INT(storage_check(s, err, sizeof(err)), 0);
    make_file("small.mp4", 100000, 1, path, sizeof(path));
    long puts = proxy_stat("PutObject");
    put_and_fetch(s, "alice/show/2026-11-23/rec-1/000001.mp4", path);
    CHECK_EQ_INT(proxy_stat("PutObject") - puts, 1);
    make_file("empty.mp4", 0, 2, path, sizeof(path));
    put_and_fetch(s, "alice/empty.mp4", path);
    /* Characters that need encoding in a path and in SigV4's canonical URI. */
    make_file("odd.mp4", 1000, 3, path, sizeof(path));
    put_and_fetch(s, "odd/a+b=c!d*e(f)g'h,i;j@k$l~m.mp4", path);
}

static void test_multipart(struct storage *s)
{
    char path[512];
    make_file("big.mp4", 40 << 20, 4, path, sizeof(path));
    long parts = proxy_stat("UploadPart"), completes = proxy_stat("CompleteMultipartUpload");
    double t0 = now_s();
    put_ok(s, "alice/show/2026-11-23/rec-1/000002.mp4", path);
    double dt = now_s() - t0;
    fprintf(stderr, "test_s3: 40 MiB multipart put in %.2f s (%.1f MiB/s, 5 parts of 8 MiB)\n", dt,
            40 / dt);
    CHECK_EQ_INT(proxy_stat("UploadPart") - parts, 5);
    CHECK_EQ_INT(proxy_stat("CompleteMultipartUpload") - completes, 1);
    struct buf b;
    buf_init(&b);
    CHECK_EQ_INT(fetch(s, "alice/show/2026-11-23/rec-1/000002.mp4", &b), 200);
    CHECK(file_equals(path, &b));
    buf_free(&b);
}

/* 20 MiB: three parts (8, 8, 4 MiB). */
static void test_part_faults(struct storage *s)
{
    char path[512], err[512] = "";
    make_file("mid.mp4", 20 << 20, 5, path, sizeof(path));

    long parts = proxy_stat("UploadPart"), faults = proxy_stat("faultsInjected");
    fault("{\"kind\":\"slowdown-uploadpart\",\"count\":2}");
    put_and_fetch(s, "faults/slowdown.mp4", path);
    CHECK_EQ_INT(proxy_stat("UploadPart") - parts, 5);
    CHECK_EQ_INT(proxy_stat("faultsInjected") - faults, 2);

    parts = proxy_stat("UploadPart");
    fault("{\"kind\":\"reset-uploadpart\",\"count\":1}");
    put_and_fetch(s, "faults/reset.mp4", path);
    CHECK_EQ_INT(proxy_stat("UploadPart") - parts, 4);

    /* A part that never gets through: the upload is aborted, nothing is left. */
    long aborts = proxy_stat("AbortMultipartUpload");
    fault("{\"kind\":\"slowdown-uploadpart\",\"count\":100}");
    CHECK_EQ_INT(storage_put_file(s, "faults/parts-fail.mp4", path, err, sizeof(err)), -EAGAIN);
    CHECK(strstr(err, "SlowDown") && strstr(err, "multipart upload aborted"));
    CHECK_EQ_INT(proxy_stat("AbortMultipartUpload") - aborts, 1);
    fault("{\"kind\":\"clear\"}");
    CHECK_EQ_INT(fetch(s, "faults/parts-fail.mp4", NULL), 404);
}

static void test_complete_faults(struct storage *s)
{
    char path[512], err[512] = "";
    make_file("mid.mp4", 20 << 20, 6, path, sizeof(path));

    /* A 200 carrying an <Error>, once: retried, completes. */
    long completes = proxy_stat("CompleteMultipartUpload");
    fault("{\"kind\":\"fail-complete\",\"count\":1}");
    put_and_fetch(s, "faults/complete-once.mp4", path);
    CHECK_EQ_INT(proxy_stat("CompleteMultipartUpload") - completes, 2);

    /* A 500 every time: an error, and the upload aborted. */
    long aborts = proxy_stat("AbortMultipartUpload");
    fault("{\"kind\":\"fail-complete\",\"count\":100,\"status\":500}");
    int rc = storage_put_file(s, "faults/complete-fail.mp4", path, err, sizeof(err));
    CHECK_EQ_INT(rc, -EAGAIN);
    CHECK(strstr(err, "CompleteMultipartUpload") && strstr(err, "multipart upload aborted"));
    CHECK_EQ_INT(proxy_stat("AbortMultipartUpload") - aborts, 1);
    fault("{\"kind\":\"clear\"}");
    CHECK_EQ_INT(fetch(s, "faults/complete-fail.mp4", NULL), 404);
}

static void test_outage(void)
{
    char path[512], err[512] = "";
    make_file("small2.mp4", 5000, 7, path, sizeof(path));
    /* Tries spread over 50+100+200 ms: all inside a 2 s outage. */
    struct storage *quick = open_store("kibitka-test", "&attempts=4&backoff_ms=50");
    fault("{\"kind\":\"outage\",\"seconds\":2}");
    CHECK_EQ_INT(storage_put_file(quick, "outage/a.mp4", path, err, sizeof(err)), -EAGAIN);
    CHECK(strstr(err, "PUT outage/a.mp4") != NULL);
    /* 300+600+1200 ms: outlives a 1 s outage. */
    struct storage *patient = open_store("kibitka-test", "&attempts=4&backoff_ms=300");
    fault("{\"kind\":\"outage\",\"seconds\":1}");
    put_and_fetch(patient, "outage/b.mp4", path);
    fault("{\"kind\":\"clear\"}");
    storage_close(&quick);
    storage_close(&patient);

    /* Nothing listening: connection refused is transient, and quick. */
    struct storage *dead = NULL;
    CHECK_EQ_INT(storage_open("s3://kibitka-test/x?endpoint=http://127.0.0.1:1&attempts=1", &dead,
                              err, sizeof(err)),
                 0);
    CHECK_EQ_INT(storage_check(dead, err, sizeof(err)), -EAGAIN);
    CHECK(strstr(err, "127.0.0.1:1") != NULL);
    storage_close(&dead);
}

static void test_credentials(void)
{
    char err[512] = "", path[512];
    make_file("small3.mp4", 5000, 8, path, sizeof(path));
    setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret", 1);
    struct storage *s = open_store("kibitka-test", "");
    long rejected = proxy_stat("signatureRejected"), requests = proxy_stat("requests");
    CHECK_EQ_INT(storage_check(s, err, sizeof(err)), -EACCES);
    CHECK(strstr(err, "S3 refused the credentials (SignatureDoesNotMatch)") != NULL);
    CHECK(strstr(err, "not-the-secret") == NULL);
    CHECK_EQ_INT(storage_put_file(s, "creds/x.mp4", path, err, sizeof(err)), -EACCES);
    CHECK_EQ_INT(proxy_stat("signatureRejected") - rejected, 2);
    CHECK_EQ_INT(proxy_stat("requests") - requests, 2); /* refused credentials are not retried */
    storage_close(&s);

    setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIANOSUCHKEY", 1);
    s = open_store("kibitka-test", "");
    CHECK_EQ_INT(storage_check(s, err, sizeof(err)), -EACCES);
    CHECK(strstr(err, "(InvalidAccessKeyId)") != NULL);
    storage_close(&s);
    setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);

    s = open_store("no-such-bucket-kibitka", "");
    CHECK_EQ_INT(storage_check(s, err, sizeof(err)), -ENOENT);
    CHECK(strstr(err, "NoSuchBucket") != NULL);
    storage_close(&s);

    /* A session token travels as x-amz-security-token and is signed with the rest. */
    setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzE//token+with/odd=chars", 1);
    s = open_store("kibitka-test", "");
    put_and_fetch(s, "creds/token.mp4", path);
    storage_close(&s);
    unsetenv("AWS_SESSION_TOKEN");
}

static void test_delete_and_presign(struct storage *s)
{
    char err[512] = "", path[512], *url = NULL;
    int is_url;
    make_file("small4.mp4", 5000, 9, path, sizeof(path));
    put_ok(s, "del/x.mp4", path);
    CHECK_EQ_INT(fetch(s, "del/x.mp4", NULL), 200);

    /* A tampered signature, and an expired URL: 403. */
    CHECK_EQ_INT(storage_locate(s, "del/x.mp4", 60, &url, &is_url), 0);
    char *sig = url ? strstr(url, "X-Amz-Signature=") : NULL;
    if (sig) {
        sig[16] = sig[16] == '0' ? '1' : '0';
        CHECK_EQ_INT(http(url, NULL, NULL), 403);
    }
    free(url);
    CHECK_EQ_INT(storage_locate_at(s, "del/x.mp4", 60, time(NULL) - 3600, &url, &is_url), 0);
    CHECK_EQ_INT(http(url, NULL, NULL), 403);
    free(url);

    CHECK_EQ_INT(storage_delete(s, "del/x.mp4", err, sizeof(err)), 0);
    CHECK_EQ_INT(fetch(s, "del/x.mp4", NULL), 404);
    CHECK_EQ_INT(storage_delete(s, "del/x.mp4", err, sizeof(err)), 0);
}

int main(void)
{
    endpoint = getenv("KIBITKA_TEST_S3_URL");
    if (!endpoint || !*endpoint) {
        return test_skip("test_s3", "KIBITKA_TEST_S3_URL is not set (see tests/lib/s3-start)");
    }
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(prefix, sizeof(prefix), "test-%d", (int)getpid());
    setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
    unsetenv("AWS_SESSION_TOKEN");

    struct storage *s = open_store("kibitka-test", "&attempts=4&backoff_ms=50");
    if (s) {
        test_check_and_small(s);
        test_multipart(s);
        test_part_faults(s);
        test_complete_faults(s);
        test_delete_and_presign(s);
        storage_close(&s);
    }
    test_outage();
    test_credentials();

    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    CHECK_EQ_INT(system(cmd), 0);
    curl_global_cleanup();
    return test_report("test_s3");
}
