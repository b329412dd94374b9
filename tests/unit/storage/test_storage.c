/* The blob store without a network: url parsing (good and bad urls, errors that say what is
 * wrong and never echo credentials), key checks, the file: backend end to end, and AWS
 * Signature V4 against the two worked examples of AWS's S3 documentation (the header form and
 * the presigned query-string form). The S3 backend against a server is test_s3.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "storage/backend.h"
#include "storage/sigv4.h"
#include "storage/storage.h"
#include "test.h"

static char tmpdir[] = "/tmp/kibitka-storage-XXXXXX";

static void set_credentials(void)
{
    setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", 1);
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_REGION");
}

/* Opens url, expects success, and checks the backend and description. */
static void good_url(const char *url, const char *backend, const char *described)
{
    struct storage *s = NULL;
    char err[256] = "";
    int rc = storage_open(url, &s, err, sizeof(err));
    CHECK_EQ_INT(rc, 0);
    if (rc < 0) {
        fprintf(stderr, "  %s: %s\n", url, err);
        return;
    }
    CHECK_STREQ(storage_backend_name(s), backend);
    CHECK_STREQ(storage_describe(s), described);
    storage_close(&s);
    CHECK(s == NULL);
}

/* Expects -EINVAL with an error line containing want (and not hidden, when given). */
static void bad_url(const char *url, const char *want, const char *hidden)
{
    struct storage *s = (struct storage *)1;
    char err[256] = "";
    CHECK_EQ_INT(storage_open(url, &s, err, sizeof(err)), -EINVAL);
    CHECK(s == NULL);
    if (!strstr(err, want))
        fprintf(stderr, "  url '%s': error '%s' lacks '%s'\n", url ? url : "(null)", err, want);
    CHECK(strstr(err, want) != NULL);
    if (hidden)
        CHECK(strstr(err, hidden) == NULL);
}

static void test_urls(void)
{
    char url[512], want[512];
    set_credentials();
    snprintf(url, sizeof(url), "file:%s/a/b/", tmpdir);
    snprintf(want, sizeof(want), "file:%s/a/b", tmpdir);
    good_url(url, "file", want);
    snprintf(url, sizeof(url), "file://%s/c", tmpdir);
    snprintf(want, sizeof(want), "file:%s/c", tmpdir);
    good_url(url, "file", want);
    good_url("s3://kibitka-rec", "s3", "s3://kibitka-rec?region=us-east-1");
    good_url("s3://kibitka-rec/", "s3", "s3://kibitka-rec?region=us-east-1");
    good_url("s3://kibitka-rec//live/rec/?region=eu-west-3", "s3",
             "s3://kibitka-rec/live/rec?region=eu-west-3");
    good_url("s3://b.with.dots/p?endpoint=http://127.0.0.1:9000/&region=us-west-2", "s3",
             "s3://b.with.dots/p?endpoint=http://127.0.0.1:9000&region=us-west-2");
    good_url("s3://bkt/p?endpoint=https%3A%2F%2Fminio.local%3A9000&attempts=3&backoff_ms=10", "s3",
             "s3://bkt/p?endpoint=https://minio.local:9000&region=us-east-1");
    setenv("AWS_REGION", "ap-south-1", 1);
    good_url("s3://bkt", "s3", "s3://bkt?region=ap-south-1");
    unsetenv("AWS_REGION");

    bad_url(NULL, "empty", NULL);
    bad_url("", "empty", NULL);
    bad_url("ftp://x/y", "want file:DIR or s3://", NULL);
    bad_url("/var/lib/kibitka", "want file:DIR or s3://", NULL);
    bad_url("file:", "without a directory", NULL);
    bad_url("file://host/dir", "local directory", NULL);
    bad_url("s3://", "bad s3 bucket", NULL);
    bad_url("s3://ab", "bad s3 bucket", NULL);
    bad_url("s3://Upper_Case", "bad s3 bucket", NULL);
    bad_url("s3://-bucket", "bad s3 bucket", NULL);
    bad_url("s3://bucket/a/../b", "bad s3 prefix", NULL);
    bad_url("s3://bucket/a//b", "bad s3 prefix", NULL);
    bad_url("s3://bucket?endpoint=ftp://host", "bad s3 endpoint", NULL);
    bad_url("s3://bucket?endpoint=http://host/path", "no path", NULL);
    bad_url("s3://bucket?endpoint=http://AKID:s3cr3t@host", "credentials", "s3cr3t");
    bad_url("s3://bucket?endpoint=http%3A%2F%2Fhost%zz", "bad %-escape", NULL);
    bad_url("s3://bucket?endpoint", "want name=value", NULL);
    bad_url("s3://bucket?region=EU", "bad s3 region", NULL);
    bad_url("s3://bucket?attempts=0", "bad s3 attempts", NULL);
    bad_url("s3://bucket?bucket=x", "unknown parameter 'bucket'", NULL);

    unsetenv("AWS_SECRET_ACCESS_KEY");
    bad_url("s3://bucket", "AWS_SECRET_ACCESS_KEY", NULL);
    set_credentials();
}

static void test_keys(void)
{
    static const char *bad[] = {"",    "/abs", "a//b",      "a/../b",   "..",  "a/.",
                                "a b", "a\\b", "trailing/", "tab\tkey", "\x7f"};
    char url[512], err[256];
    struct storage *s;
    snprintf(url, sizeof(url), "file:%s/keys", tmpdir);
    CHECK_EQ_INT(storage_open(url, &s, err, sizeof(err)), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *out = NULL;
        int is_url;
        err[0] = '\0';
        CHECK_EQ_INT(storage_put_file(s, bad[i], "/etc/hostname", err, sizeof(err)), -EINVAL);
        CHECK(strstr(err, "bad storage key") != NULL);
        CHECK_EQ_INT(storage_delete(s, bad[i], NULL, 0), -EINVAL);
        CHECK_EQ_INT(storage_locate(s, bad[i], 60, &out, &is_url), -EINVAL);
        CHECK(out == NULL);
    }
    char longkey[1100];
    memset(longkey, 'a', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    CHECK_EQ_INT(storage_delete(s, longkey, NULL, 0), -EINVAL);
    storage_close(&s);
}

/* ---- file: ---- */

static void write_file(const char *path, size_t n, unsigned seed)
{
    char *data = xmalloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)((i * 2654435761u + seed) >> 13);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK_EQ_INT(fwrite(data, 1, n, f), n);
    fclose(f);
    free(data);
}

static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

/* Entries in dir whose name contains needle. */
static int count_entries(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += strstr(e->d_name, needle) != NULL;
    closedir(d);
    return n;
}

static void test_file_backend(void)
{
    char url[512], src[512], src2[512], err[256] = "", path[1024], dir[1024];
    struct storage *s;
    const char *key = "alice/show/2026-11-23/rec-1/000001.mp4";
    snprintf(url, sizeof(url), "file:%s/store", tmpdir);
    snprintf(src, sizeof(src), "%s/chunk.mp4", tmpdir);
    snprintf(src2, sizeof(src2), "%s/chunk2.mp4", tmpdir);
    write_file(src, 3 << 20, 1);
    write_file(src2, 1000, 2);

    CHECK_EQ_INT(storage_open(url, &s, err, sizeof(err)), 0);
    CHECK_EQ_INT(storage_check(s, err, sizeof(err)), 0);
    CHECK_EQ_INT(storage_put_file(s, key, src, err, sizeof(err)), 0);
    char *where = NULL;
    int is_url = -1;
    CHECK_EQ_INT(storage_locate(s, key, 60, &where, &is_url), 0);
    snprintf(path, sizeof(path), "%s/store/%s", tmpdir, key);
    CHECK_STREQ(where, path);
    CHECK_EQ_INT(is_url, 0);
    CHECK(same_file(src, path));
    free(where);
    /* same filesystem: a hard link, not a second copy of the bytes */
    struct stat a, b;
    CHECK(stat(src, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino);

    /* Overwrite; no temporary file left behind; the source stays. */
    CHECK_EQ_INT(storage_put_file(s, key, src2, err, sizeof(err)), 0);
    CHECK(same_file(src2, path));
    snprintf(dir, sizeof(dir), "%s/store/alice/show/2026-11-23/rec-1", tmpdir);
    CHECK_EQ_INT(count_entries(dir, ".tmp-"), 0);
    CHECK(access(src2, R_OK) == 0);

    /* A missing source: -ENOENT and a line naming it. */
    snprintf(path, sizeof(path), "%s/nope.mp4", tmpdir);
    CHECK_EQ_INT(storage_put_file(s, "x/y.mp4", path, err, sizeof(err)), -ENOENT);
    CHECK(strstr(err, "nope.mp4") != NULL);

    /* Delete removes the file and the directories it leaves empty; twice is fine. */
    CHECK_EQ_INT(storage_delete(s, key, err, sizeof(err)), 0);
    CHECK_EQ_INT(storage_delete(s, key, err, sizeof(err)), 0);
    CHECK(access(dir, F_OK) < 0);
    snprintf(dir, sizeof(dir), "%s/store", tmpdir);
    CHECK(access(dir, F_OK) == 0);
    where = NULL;
    CHECK_EQ_INT(storage_locate(s, key, 60, &where, &is_url), -ENOENT);
    CHECK(where == NULL);
    storage_close(&s);

    /* A directory that cannot be created. */
    snprintf(url, sizeof(url), "file:%s/chunk.mp4/sub", tmpdir);
    s = (struct storage *)1;
    CHECK(storage_open(url, &s, err, sizeof(err)) < 0);
    CHECK(s == NULL);
    CHECK(strstr(err, "cannot create") != NULL);
}

/* ---- Signature V4 ---- */

static void test_uri_encode(void)
{
    struct buf b;
    buf_init(&b);
    sigv4_uri_encode(&b, "a/b c~d_e.f-g+h=i&j%k\xc3\xa9", 1);
    buf_append(&b, "", 1);
    CHECK_STREQ((const char *)buf_head(&b), "a/b%20c~d_e.f-g%2Bh%3Di%26j%25k%C3%A9");
    buf_clear(&b);
    sigv4_uri_encode(&b, "AKID/20130524/us-east-1/s3/aws4_request", 0);
    buf_append(&b, "", 1);
    CHECK_STREQ((const char *)buf_head(&b), "AKID%2F20130524%2Fus-east-1%2Fs3%2Faws4_request");
    buf_free(&b);
}

/* "Example: GET Object" of "Signature Calculations for the Authorization Header: Transferring
 * Payload in a Single Chunk (AWS Signature Version 4)". */
static void test_header_example(void)
{
    const char *creq = "GET\n"
                       "/test.txt\n"
                       "\n"
                       "host:examplebucket.s3.amazonaws.com\n"
                       "range:bytes=0-9\n"
                       "x-amz-content-sha256:"
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                       "x-amz-date:20130524T000000Z\n"
                       "\n"
                       "host;range;x-amz-content-sha256;x-amz-date\n"
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    char sig[65], hash[65];
    sigv4_sha256_hex("", 0, hash);
    CHECK_STREQ(hash, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sigv4_sha256_hex(creq, strlen(creq), hash);
    CHECK_STREQ(hash, "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    sigv4_sign("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524T000000Z", "us-east-1", "s3",
               creq, sig);
    CHECK_STREQ(sig, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

/* The example of "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)". */
static void test_presign_example(void)
{
    struct sigv4_presign p = {.scheme = "https",
                              .host = "examplebucket.s3.amazonaws.com",
                              .path = "/test.txt",
                              .key_id = "AKIAIOSFODNN7EXAMPLE",
                              .secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                              .region = "us-east-1",
                              .expires_s = 86400,
                              .now = 1369353600 /* 2013-05-24T00:00:00Z */};
    char *url = sigv4_presign_get(&p);
    CHECK_STREQ(url, "https://examplebucket.s3.amazonaws.com/test.txt"
                     "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                     "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F"
                     "aws4_request"
                     "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
                     "&X-Amz-SignedHeaders=host"
                     "&X-Amz-Signature="
                     "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    free(url);
}

/* storage_locate on s3: the path-style url with prefix and encoded key, the session token
 * signed in, bad lifetimes refused. */
static void test_s3_locate(void)
{
    struct storage *s;
    char err[256], *url = NULL;
    int is_url = 0;
    set_credentials();
    setenv("AWS_SESSION_TOKEN", "tok/en+=", 1);
    CHECK_EQ_INT(storage_open("s3://rec/pre?endpoint=http://127.0.0.1:9000", &s, err, sizeof(err)),
                 0);
    CHECK_EQ_INT(storage_locate_at(s, "a+b/c=d.mp4", 3600, 1369353600, &url, &is_url), 0);
    CHECK_EQ_INT(is_url, 1);
    const char *want = "http://127.0.0.1:9000/rec/pre/a%2Bb/c%3Dd.mp4?X-Amz-Algorithm=AWS4-HMAC-"
                       "SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3"
                       "%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=3600&X-Amz-"
                       "Security-Token=tok%2Fen%2B%3D&X-Amz-SignedHeaders=host&X-Amz-Signature=";
    CHECK(url && !strncmp(url, want, strlen(want)));
    CHECK(url && strlen(url) == strlen(want) + 64);
    free(url);
    url = NULL;
    CHECK_EQ_INT(storage_locate(s, "k", 0, &url, &is_url), -EINVAL);
    CHECK_EQ_INT(storage_locate(s, "k", 604801, &url, &is_url), -EINVAL);
    CHECK(url == NULL);
    storage_close(&s);

    /* Plain AWS: virtual-hosted style, https. */
    unsetenv("AWS_SESSION_TOKEN");
    CHECK_EQ_INT(storage_open("s3://examplebucket?region=us-east-1", &s, err, sizeof(err)), 0);
    CHECK_EQ_INT(storage_locate(s, "test.txt", 60, &url, &is_url), 0);
    CHECK(url && !strncmp(url, "https://examplebucket.s3.us-east-1.amazonaws.com/test.txt?", 58));
    free(url);
    storage_close(&s);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_urls();
    test_keys();
    test_file_backend();
    test_uri_encode();
    test_header_example();
    test_presign_example();
    test_s3_locate();
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    CHECK_EQ_INT(system(cmd), 0);
    return test_report("test_storage");
}
