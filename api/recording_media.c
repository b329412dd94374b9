/* GET /api/recordings/{id}/chunks/{seq} and /api/recordings/{id}/index.m3u8, and the signed
 * URLs that let a player fetch them.
 *
 * Signed URLs: a player cannot send an Authorization header (Safari's native HLS, ffmpeg, a
 * <video src>), and a session token in a URL would end up in logs, histories and Referer
 * headers and stay valid for a week. So GET /api/recordings/{id} (with the token) hands out
 * playlist_url and each chunk's url with ?expires=<unix s>&sig=<hex HMAC-SHA256(key, path \n
 * expires)>, and the playlist's chunk URIs are signed the same way. Such a URL opens that one
 * path, read-only, until it expires (--link-lifetime, 6 h by default, plus the recording's
 * duration, so a long recording can be watched to its end). The key is drawn at start: a
 * restart (or another node behind the same address) invalidates the URLs, and the client asks
 * for new ones. Both routes take a bearer token too. A link that does not open is a 403 saying
 * why (api.c), not a 401 asking a player for a token it cannot send.
 *
 * Chunks are served from the store only: a chunk not uploaded yet is a 404 (not_uploaded),
 * never read from the spool, whose files the upload worker deletes under us; the playlist
 * lists uploaded chunks only. s3: a 302 to a presigned GET URL valid 300 s (the client's
 * Range header follows the redirect). file: the file itself with sendfile, with one Range. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/internal.h"
#include "api/vod.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"

#define PRESIGN_S 300
#define HEAD_MAX (64 * 1024) /* an init section is ~1 KiB; read at most this much to find it */

/* ---- signed URLs ---- */

static void sign(const struct api *api, const char *path, int64_t expires, char hex[65])
{
    char msg[ROUTER_PARAM_MAX + 64];
    int len = snprintf(msg, sizeof(msg), "%s\n%lld", path, (long long)expires);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    HMAC(EVP_sha256(), api->url_key, API_URL_KEY_LEN, (const unsigned char *)msg,
         (size_t)(len < (int)sizeof(msg) ? len : (int)sizeof(msg) - 1), md, &mdlen);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

void api_url_query(const struct api *api, const char *path, int64_t expires,
                   char out[API_URL_QUERY_MAX])
{
    char hex[65];
    sign(api, path, expires, hex);
    snprintf(out, API_URL_QUERY_MAX, "expires=%lld&sig=%s", (long long)expires, hex);
}

int64_t api_url_expiry(const struct api *api, const struct db_recording *r)
{
    int64_t now = clock_wall_us(), add_us = 0;
    if (r) {
        /* The media's duration, but never more than the wall-clock time the recording took on
         * this server: a duration once computed from a publisher's jumping timestamps (25 days
         * for a 37 s recording) must not make links live that long. */
        int64_t span = (r->ended_at > 0 ? r->ended_at : now) - r->started_at;
        add_us = r->duration_us < span ? r->duration_us : span;
        if (add_us < 0)
            add_us = 0;
    }
    return now / 1000000 + api->link_lifetime_s + add_us / 1000000;
}

int api_url_signature_check(struct api_call *c)
{
    const struct api_request *req = c->req;
    const char *e = req->arg ? req->arg(req->arg_ctx, "expires") : NULL;
    const char *sig = req->arg ? req->arg(req->arg_ctx, "sig") : NULL;
    int64_t expires;
    if (!e && !sig)
        return -ENOENT;
    if (!e || !sig || strlen(sig) != 64 || vod_parse_int(e, 0, INT64_MAX / 2, &expires) < 0 ||
        strlen(req->path) > ROUTER_PARAM_MAX)
        return -EBADMSG;
    char want[65];
    sign(c->api, req->path, expires, want);
    if (CRYPTO_memcmp(want, sig, 64) != 0)
        return -EBADMSG;
    /* Only a link this server signed is said to have expired: the expiry is checked after the
     * signature, so a forged one learns nothing but "not valid". */
    return expires < clock_wall_us() / 1000000 ? -EKEYEXPIRED : 0;
}

/* ---- reading a chunk's head ---- */

static size_t head_write(char *data, size_t size, size_t nmemb, void *opaque)
{
    struct buf *b = opaque;
    size_t n = size * nmemb, room = HEAD_MAX - buf_size(b);
    buf_append(b, data, n < room ? n : room);
    return n < room ? n : 0; /* full: stop the transfer */
}

/* The first bytes of an object behind a presigned URL (a ranged GET). */
static int head_url(const char *url, struct buf *b)
{
    CURL *h = curl_easy_init();
    if (!h)
        return -ENOMEM;
    char range[32];
    snprintf(range, sizeof(range), "0-%d", HEAD_MAX - 1);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_RANGE, range);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, head_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && buf_size(b) == HEAD_MAX))
        return -EIO;
    return status == 200 || status == 206 ? 0 : -EIO;
}

static int head_file(const char *path, struct buf *b)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    buf_reserve(b, HEAD_MAX);
    ssize_t n = pread(fd, b->data + b->len, HEAD_MAX, 0);
    int err = n < 0 ? -errno : 0;
    close(fd);
    if (n > 0)
        b->len += (size_t)n;
    return err;
}

/* The length of the chunk's init section (ftyp+moov), read from the store. */
static int init_length(struct storage *store, const char *key, int64_t *out)
{
    char *loc = NULL;
    int is_url = 0;
    int err = storage_locate(store, key, PRESIGN_S, &loc, &is_url);
    if (err < 0)
        return err;
    struct buf b;
    buf_init(&b);
    err = is_url ? head_url(loc, &b) : head_file(loc, &b);
    if (err == 0)
        err = vod_init_length(buf_head(&b), buf_size(&b), out);
    buf_free(&b);
    free(loc);
    return err;
}

/* ---- the chunk ---- */

static void serve_file(struct api_call *c, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0) {
        if (fd >= 0)
            close(fd);
        api_fail(c, 404, "not_found", "the chunk is missing from the store");
        return;
    }
    struct api_response *r = c->resp;
    int64_t start = 0, len = sb.st_size;
    int rc = vod_range_parse(c->req->range, sb.st_size, &start, &len);
    if (rc == -ERANGE) {
        close(fd);
        api_fail(c, 416, "range_not_satisfiable", "the chunk has %lld bytes",
                 (long long)sb.st_size);
        return;
    }
    r->status = rc == 0 ? 206 : 200;
    r->partial = rc == 0;
    r->has_file = true;
    r->file_fd = fd;
    r->file_offset = start;
    r->file_len = len;
    r->file_size = sb.st_size;
    r->content_type = "video/mp4";
    r->cache_control = "private, max-age=86400"; /* an uploaded chunk never changes */
    r->cors = true;
}

/* The chunk {seq} of a visible recording, uploaded; false after answering. */
static bool get_chunk(struct api_call *c, const struct db_recording *r, struct db_chunk *k)
{
    memset(k, 0, sizeof(*k));
    /* "3" or "3.mp4" (the URLs handed out: ffmpeg's HLS demuxer only fetches segments whose
     * names end in a media extension) */
    char text[ROUTER_PARAM_MAX];
    snprintf(text, sizeof(text), "%s", router_param(&c->params, "seq"));
    size_t len = strlen(text);
    if (len > 4 && !strcmp(text + len - 4, ".mp4"))
        text[len - 4] = '\0';
    int64_t seq;
    int err = vod_parse_int(text, 1, INT32_MAX, &seq);
    if (err == 0)
        err = db_chunk_get(c->api->db, r->id, (int)seq, k);
    if (err < 0) {
        db_chunk_clear(k);
        api_fail_db(c, err == -EINVAL ? -ENOENT : err, "chunk");
        return false;
    }
    if (k->state != DB_CHUNK_UPLOADED || !k->object_key) {
        api_fail(c, 404, "not_uploaded", "chunk %d is not in the store yet (%s)", k->seq,
                 db_chunk_state_name(k->state));
        db_chunk_clear(k);
        return false;
    }
    return true;
}

void api_recording_chunk(struct api_call *c)
{
    struct db_recording r;
    if (!api_recording_visible(c, &r))
        return;
    struct db_chunk k;
    if (!c->api->store)
        api_fail(c, 503, "unavailable", "no store configured");
    else if (get_chunk(c, &r, &k)) {
        char *loc = NULL;
        int is_url = 0;
        int err = storage_locate(c->api->store, k.object_key, PRESIGN_S, &loc, &is_url);
        if (err == -ENOENT) {
            api_fail(c, 404, "not_found", "the chunk is missing from the store");
        } else if (err < 0) {
            api_fail(c, 500, "storage_error", "cannot locate the chunk");
        } else if (is_url) {
            c->resp->status = 302;
            c->resp->location = loc;
            c->resp->cors = true;
            loc = NULL;
        } else {
            serve_file(c, loc);
        }
        free(loc);
        db_chunk_clear(&k);
    }
    db_recording_clear(&r);
}

/* ---- the playlist ---- */

/* The uploaded chunks as playlist entries (URIs relative to the playlist, signed). */
static size_t playlist_chunks(struct api_call *c, const struct db_recording *r,
                              const struct db_chunk *chunks, size_t n, struct vod_chunk *out)
{
    int64_t expires = api_url_expiry(c->api, r);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const struct db_chunk *k = &chunks[i];
        int64_t init = 0;
        if (k->state != DB_CHUNK_UPLOADED || !k->object_key)
            continue;
        int err = init_length(c->api->store, k->object_key, &init);
        if (err < 0 || init >= k->bytes) {
            log_warn("api", r->stream_name,
                     "recording %s: chunk %d left out of the playlist: its init section "
                     "cannot be read (%s)",
                     r->id, k->seq, err < 0 ? strerror(-err) : "no fragment");
            continue;
        }
        char path[96], q[API_URL_QUERY_MAX];
        snprintf(path, sizeof(path), "/api/recordings/%s/chunks/%d.mp4", r->id, k->seq);
        api_url_query(c->api, path, expires, q);
        char *uri = xmalloc(strlen(q) + 32);
        sprintf(uri, "chunks/%d.mp4?%s", k->seq, q);
        out[m++] =
            (struct vod_chunk){k->seq, k->duration_us, k->bytes, init, uri, k->gap_before_us};
    }
    return m;
}

void api_recording_playlist(struct api_call *c)
{
    struct db_recording r;
    if (!api_recording_visible(c, &r))
        return;
    struct db_chunk *chunks = NULL;
    size_t n = 0;
    int err = c->api->store ? db_chunk_list(c->api->db, r.id, &chunks, &n) : 0;
    if (!c->api->store) {
        api_fail(c, 503, "unavailable", "no store configured");
    } else if (err < 0) {
        api_fail_db(c, err, "recording");
    } else {
        struct vod_chunk *v = xcalloc(n ? n : 1, sizeof(*v));
        size_t m = playlist_chunks(c, &r, chunks, n, v);
        c->resp->status = 200;
        c->resp->text = vod_playlist(v, m, r.state == DB_REC_READY || r.state == DB_REC_FAILED);
        c->resp->content_type = "application/vnd.apple.mpegurl";
        c->resp->cors = true;
        for (size_t i = 0; i < m; i++)
            free((char *)v[i].uri);
        free(v);
    }
    db_chunk_list_free(&chunks, n);
    db_recording_clear(&r);
}
