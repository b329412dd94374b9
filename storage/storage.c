/* The blob store front: url parsing, key checks, and dispatch to the backend's const table
 * (backend.h). See storage.h for the contract. */
#include "storage/storage.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "storage/backend.h"

#define DEFAULT_REGION "us-east-1"
#define DEFAULT_ATTEMPTS 5
#define DEFAULT_BACKOFF_MS 500
#define MAX_KEY 1024

int storage_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static void url_free(struct storage_url *u)
{
    xfreep(&u->dir);
    xfreep(&u->bucket);
    xfreep(&u->prefix);
    xfreep(&u->endpoint);
    xfreep(&u->region);
}

/* ---- keys ---- */

/* A relative key of printable ASCII with no empty, "." or ".." segment: safe as a path under
 * DIR and as an S3 key. Also used for the s3 PREFIX (where "" is allowed). */
static int path_valid(const char *k, int allow_empty)
{
    size_t n = strlen(k);
    if (n == 0)
        return allow_empty;
    if (n > MAX_KEY)
        return 0;
    for (const char *p = k; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '\\')
            return 0;
    for (const char *seg = k;;) {
        size_t len = strcspn(seg, "/");
        if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && !strncmp(seg, "..", 2)))
            return 0;
        if (!seg[len])
            return 1;
        seg += len + 1;
    }
}

static int key_check(const char *key, char *err, size_t errlen)
{
    if (!key || !path_valid(key, 0))
        return storage_fail(err, errlen, -EINVAL,
                            "bad storage key '%s': want printable ASCII without spaces or "
                            "backslashes, no empty, '.' or '..' segments, at most %d bytes",
                            key ? key : "(null)", MAX_KEY);
    return 0;
}

/* ---- file:DIR ---- */

static int parse_file(const char *rest, struct storage_url *u, char *err, size_t errlen)
{
    if (!strncmp(rest, "//", 2)) {
        if (rest[2] != '/')
            return storage_fail(err, errlen, -EINVAL,
                                "file: urls name a local directory (file:DIR or file:///abs/dir)");
        rest += 2;
    }
    if (!*rest)
        return storage_fail(err, errlen, -EINVAL, "file: url without a directory (file:DIR)");
    struct buf b;
    buf_init(&b);
    if (rest[0] != '/') {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd)))
            return storage_fail(err, errlen, -errno, "file: cannot resolve '%s': %s", rest,
                                strerror(errno));
        buf_printf(&b, "%s/", cwd);
    }
    buf_printf(&b, "%s", rest);
    while (buf_size(&b) > 1 && b.data[b.len - 1] == '/')
        b.len--;
    u->dir = xstrndup((const char *)buf_head(&b), buf_size(&b));
    buf_free(&b);
    return 0;
}

/* ---- s3://BUCKET/PREFIX?endpoint=URL&region=R ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into a heap string; NULL on a bad escape or a NUL byte. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
        int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        *o++ = (char)(hi * 16 + lo);
        i += 2;
    }
    *o = '\0';
    return out;
}

static int bucket_valid(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !((c == '-' || c == '.') && i > 0 && i < n - 1))
            return 0;
    }
    return 1;
}

static int region_valid(const char *r)
{
    size_t n = strlen(r);
    return n > 0 && n <= 32 && strspn(r, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* endpoint=scheme://host[:port] with nothing after it but an optional '/'. */
static int endpoint_set(struct storage_url *u, char *v, char *err, size_t errlen)
{
    size_t n = strlen(v);
    while (n > 0 && v[n - 1] == '/')
        v[--n] = '\0';
    const char *host = !strncmp(v, "http://", 7)    ? v + 7
                       : !strncmp(v, "https://", 8) ? v + 8
                                                    : NULL;
    if (!host || !*host || strpbrk(host, "/?#@ "))
        return storage_fail(err, errlen, -EINVAL,
                            "bad s3 endpoint '%s': want http(s)://HOST[:PORT], no path and no "
                            "credentials (those come from AWS_ACCESS_KEY_ID and "
                            "AWS_SECRET_ACCESS_KEY)",
                            strchr(v, '@') ? "(hidden: it contains '@')" : v);
    xfreep(&u->endpoint);
    u->endpoint = v;
    return 0;
}

static int int_param(const char *name, const char *v, int lo, int hi, int *out, char *err,
                     size_t errlen)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi)
        return storage_fail(err, errlen, -EINVAL, "bad s3 %s '%s': want %d..%d", name, v, lo, hi);
    *out = (int)x;
    return 0;
}

/* One name=value of the query; takes ownership of v. */
static int s3_param(struct storage_url *u, const char *name, size_t nlen, char *v, char *err,
                    size_t errlen)
{
    int rc = 0;
    if (nlen == 8 && !strncmp(name, "endpoint", 8)) {
        rc = endpoint_set(u, v, err, errlen); /* keeps v on success */
        if (rc < 0)
            free(v);
        return rc;
    }
    if (nlen == 6 && !strncmp(name, "region", 6)) {
        if (!region_valid(v)) {
            rc = storage_fail(err, errlen, -EINVAL, "bad s3 region '%s'", v);
        } else {
            xfreep(&u->region);
            u->region = xstrdup(v);
        }
    } else if (nlen == 8 && !strncmp(name, "attempts", 8)) {
        rc = int_param("attempts", v, 1, 20, &u->attempts, err, errlen);
    } else if (nlen == 10 && !strncmp(name, "backoff_ms", 10)) {
        rc = int_param("backoff_ms", v, 0, 60000, &u->backoff_ms, err, errlen);
    } else {
        rc = storage_fail(err, errlen, -EINVAL,
                          "unknown parameter '%.*s' in s3 url (known: endpoint, region, "
                          "attempts, backoff_ms)",
                          (int)nlen, name);
    }
    free(v);
    return rc;
}

static int parse_query(const char *q, struct storage_url *u, char *err, size_t errlen)
{
    while (*q) {
        size_t len = strcspn(q, "&");
        const char *eq = memchr(q, '=', len);
        if (len > 0) {
            if (!eq)
                return storage_fail(err, errlen, -EINVAL,
                                    "bad s3 url parameter '%.*s': want name=value", (int)len, q);
            char *v = pct_decode(eq + 1, len - (size_t)(eq + 1 - q));
            if (!v)
                return storage_fail(err, errlen, -EINVAL,
                                    "bad %%-escape in s3 url parameter "
                                    "'%.*s'",
                                    (int)(eq - q), q);
            int rc = s3_param(u, q, (size_t)(eq - q), v, err, errlen);
            if (rc < 0)
                return rc;
        }
        q += len + (q[len] == '&');
    }
    return 0;
}

static int parse_s3(const char *rest, struct storage_url *u, char *err, size_t errlen)
{
    size_t blen = strcspn(rest, "/?");
    u->bucket = xstrndup(rest, blen);
    if (!bucket_valid(u->bucket))
        return storage_fail(err, errlen, -EINVAL,
                            "bad s3 bucket '%s': want 3-63 of a-z 0-9 . - (s3://BUCKET/PREFIX)",
                            u->bucket);
    rest += blen;
    size_t plen = strcspn(rest, "?");
    const char *p = rest;
    while (plen > 0 && *p == '/')
        p++, plen--;
    while (plen > 0 && p[plen - 1] == '/')
        plen--;
    u->prefix = xstrndup(p, plen);
    if (!path_valid(u->prefix, 1))
        return storage_fail(err, errlen, -EINVAL,
                            "bad s3 prefix '%s': no empty, '.' or '..' segments, printable "
                            "ASCII",
                            u->prefix);
    rest = strchr(rest, '?');
    int rc = rest ? parse_query(rest + 1, u, err, errlen) : 0;
    if (rc == 0 && !u->region) {
        const char *r = getenv("AWS_REGION");
        u->region = xstrdup(r && region_valid(r) ? r : DEFAULT_REGION);
    }
    return rc;
}

static void describe(struct storage *s, const struct storage_url *u)
{
    struct buf b;
    buf_init(&b);
    if (s->ops == &storage_file_ops) {
        buf_printf(&b, "file:%s", u->dir);
    } else {
        buf_printf(&b, "s3://%s%s%s?", u->bucket, *u->prefix ? "/" : "", u->prefix);
        if (u->endpoint)
            buf_printf(&b, "endpoint=%s&", u->endpoint);
        buf_printf(&b, "region=%s", u->region);
    }
    s->description = xstrndup((const char *)buf_head(&b), buf_size(&b));
    buf_free(&b);
}

static int parse(const char *url, struct storage_url *u, const struct storage_ops **ops, char *err,
                 size_t errlen)
{
    u->attempts = DEFAULT_ATTEMPTS;
    u->backoff_ms = DEFAULT_BACKOFF_MS;
    if (!url || !*url)
        return storage_fail(err, errlen, -EINVAL, "empty storage url");
    if (!strncmp(url, "file:", 5)) {
        *ops = &storage_file_ops;
        return parse_file(url + 5, u, err, errlen);
    }
    if (!strncmp(url, "s3://", 5)) {
        *ops = &storage_s3_ops;
        return parse_s3(url + 5, u, err, errlen);
    }
    return storage_fail(err, errlen, -EINVAL,
                        "unknown storage url '%.*s': want file:DIR or "
                        "s3://BUCKET/PREFIX?endpoint=URL&region=R",
                        (int)strcspn(url, "?@"), url);
}

int storage_open(const char *url, struct storage **out, char *err, size_t errlen)
{
    struct storage_url u = {0};
    const struct storage_ops *ops = NULL;
    *out = NULL;
    int rc = parse(url, &u, &ops, err, errlen);
    if (rc < 0) {
        url_free(&u);
        return rc;
    }
    struct storage *s = xcalloc(1, sizeof(*s));
    s->ops = ops;
    describe(s, &u);
    rc = ops->open(s, &u, err, errlen);
    url_free(&u);
    if (rc < 0) {
        storage_close(&s);
        return rc;
    }
    *out = s;
    return 0;
}

void storage_close(struct storage **ps)
{
    struct storage *s = *ps;
    if (!s)
        return;
    s->ops->close(s);
    free(s->description);
    free(s);
    *ps = NULL;
}

const char *storage_backend_name(const struct storage *s)
{
    return s->ops->name;
}

const char *storage_describe(const struct storage *s)
{
    return s->description;
}

int storage_check(struct storage *s, char *err, size_t errlen)
{
    return s->ops->check(s, err, errlen);
}

int storage_put_file(struct storage *s, const char *key, const char *path, char *err, size_t errlen)
{
    int rc = key_check(key, err, errlen);
    return rc < 0 ? rc : s->ops->put_file(s, key, path, err, errlen);
}

int storage_delete(struct storage *s, const char *key, char *err, size_t errlen)
{
    int rc = key_check(key, err, errlen);
    return rc < 0 ? rc : s->ops->del(s, key, err, errlen);
}

int storage_locate_at(struct storage *s, const char *key, int expires_s, time_t now, char **out,
                      int *is_url)
{
    *out = NULL;
    if (key_check(key, NULL, 0) < 0)
        return -EINVAL;
    return s->ops->locate(s, key, expires_s, now, out, is_url);
}

int storage_locate(struct storage *s, const char *key, int expires_s, char **out, int *is_url)
{
    return storage_locate_at(s, key, expires_s, time(NULL), out, is_url);
}
