#include "api/web.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"

struct web {
    int dirfd;     /* --web-dir, opened once; -1: the embedded files */
    char csp[640]; /* CSP with the signaling port in connect-src */
};

/* The pages load scripts, styles, images and fonts from this server only, and never run inline
 * script. hls.js feeds the <video> through MediaSource (a blob: URL) and may run its demuxer
 * in a worker made from a blob: URL. connect-src: the API and HLS on this origin, which in CSP
 * level 3 also covers ws:/wss: to this origin (the voice signaling proxied at /rtc,
 * deploy/nginx.conf), and, with --ws, the signaling port on any host name (ws://ANYHOST:PORT: the
 * page connects to its own host name, which the server does not echo back). */
static const char CSP_FMT[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                              "img-src 'self' blob:; media-src 'self' blob:; connect-src 'self'%s; "
                              "worker-src 'self' blob:; font-src 'self'; object-src 'none'; "
                              "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

struct web *web_create(const char *dir, int ws_port)
{
    int fd = -1;
    if (dir) {
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            log_error("web", NULL, "cannot open --web-dir %s: %s", dir, strerror(errno));
            return NULL;
        }
        if (faccessat(fd, "index.html", R_OK, 0) < 0)
            log_warn("web", NULL, "--web-dir %s has no index.html: / will answer 404", dir);
    } else if (web_embedded_count == 0) {
        log_warn("web", NULL,
                 "this build has no pages (web/dist was not built): page URLs "
                 "answer 404; serve them with --web-dir");
    }
    struct web *w = xcalloc(1, sizeof(*w));
    w->dirfd = fd;
    char ws[48] = "";
    if (ws_port > 0 && ws_port < 65536)
        snprintf(ws, sizeof(ws), " ws://*:%d", ws_port);
    snprintf(w->csp, sizeof(w->csp), CSP_FMT, ws);
    return w;
}

void web_destroy(struct web **pw)
{
    struct web *w = *pw;
    if (!w)
        return;
    if (w->dirfd >= 0)
        close(w->dirfd);
    free(w);
    *pw = NULL;
}

/* A file name the pages' build makes: [A-Za-z0-9._-], not starting with a dot (so no "..", no
 * hidden file), at most 128 bytes. */
static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || s[0] == '.')
        return false;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* True when url is prefix followed by one non-empty path segment (a stream's or a room's
 * name: the page reads it from its own URL; the server never echoes it). */
static bool one_segment(const char *url, const char *prefix)
{
    size_t n = strlen(prefix);
    return !strncmp(url, prefix, n) && url[n] && !strchr(url + n, '/');
}

bool web_route(const char *url, char *out, size_t outlen)
{
    static const struct {
        const char *path;
        bool segment; /* path is a prefix followed by one segment */
        const char *file;
    } pages[] = {
        {"/", false, "index.html"},          {"/watch/", true, "watch.html"},
        {"/publish", false, "publish.html"}, {"/voice/", true, "voice.html"},
        {"/admin", false, "admin.html"},
    };
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
        if (pages[i].segment ? one_segment(url, pages[i].path) : !strcmp(url, pages[i].path))
            return snprintf(out, outlen, "%s", pages[i].file) < (int)outlen;
    size_t n = strlen(url);
    if (n > 3 && !strcmp(url + n - 3, ".gz"))
        return false; /* a precompressed copy is sent in its file's place, never by name */
    if (!strncmp(url, "/assets/", 8) && name_ok(url + 8))
        return snprintf(out, outlen, "assets/%s", url + 8) < (int)outlen;
    return false;
}

const char *web_content_type(const char *path)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".webp", "image/webp"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".woff", "font/woff"},
        {".txt", "text/plain; charset=utf-8"},
        {".wasm", "application/wasm"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (!strcasecmp(dot, types[i][0]))
            return types[i][1];
    return "application/octet-stream";
}

/* What every answer carries; the HTML its policy, assets their year of caching. */
static enum MHD_Result answer(struct web *w, struct MHD_Connection *conn, unsigned status,
                              struct MHD_Response *resp, const char *file)
{
    if (!resp)
        return MHD_NO; /* out of memory in MHD: drop the connection */
    bool html = file && !strncmp(web_content_type(file), "text/html", 9);
    MHD_add_response_header(resp, "Content-Type",
                            file ? web_content_type(file) : "text/plain; charset=utf-8");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
    if (html) {
        MHD_add_response_header(resp, "Content-Security-Policy", w->csp);
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
        MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
        /* Revalidated each time: a new build's HTML names new asset hashes. */
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
    } else if (file) {
        MHD_add_response_header(resp, "Cache-Control", "public, max-age=31536000, immutable");
    } else {
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    }
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, "Allow", "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *text)
{
    return answer(
        NULL, conn, status,
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT), NULL);
}

static const struct web_file *embedded(const char *file)
{
    for (size_t i = 0; i < web_embedded_count; i++)
        if (!strcmp(web_embedded[i].path, file))
            return &web_embedded[i];
    return NULL;
}

/* The file from --web-dir, read now (a restyled page shows without a restart). MHD sends it
 * from the descriptor and closes it. */
static struct MHD_Response *from_dir(struct web *w, const char *file)
{
    int fd = openat(w->dirfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return NULL;
    }
    struct MHD_Response *resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
    if (!resp)
        close(fd);
    return resp;
}

/* Whether Accept-Encoding lists gzip without q=0 (RFC 9110 12.5.3). */
static bool accepts_gzip(struct MHD_Connection *conn)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept-Encoding");
    while (v && *v) {
        v += strspn(v, " \t,");
        size_t len = strcspn(v, ",");
        size_t name = strcspn(v, " \t;,");
        if (name == 4 && !strncasecmp(v, "gzip", 4)) {
            const char *q = memchr(v, ';', len) ? strstr(v, "q=") : NULL;
            return !q || q > v + len || strtod(q + 2, NULL) > 0;
        }
        v += len;
    }
    return false;
}

/* An asset's gzip copy (NAME.gz, made by web/vite.config.ts) in its place when the client
 * takes gzip; *vary tells that the answer depends on Accept-Encoding (a copy exists). */
static struct MHD_Response *asset_gzip(struct web *w, struct MHD_Connection *conn, const char *file,
                                       bool *vary)
{
    char gz[170];
    snprintf(gz, sizeof(gz), "%s.gz", file);
    struct MHD_Response *resp = NULL;
    if (w->dirfd >= 0) {
        *vary = faccessat(w->dirfd, gz, R_OK, 0) == 0;
        if (*vary && accepts_gzip(conn))
            resp = from_dir(w, gz);
    } else {
        const struct web_file *f = embedded(gz);
        *vary = f != NULL;
        if (f && accepts_gzip(conn))
            resp = MHD_create_response_from_buffer(f->len, (void *)f->data, MHD_RESPMEM_PERSISTENT);
    }
    if (resp)
        MHD_add_response_header(resp, "Content-Encoding", "gzip");
    return resp;
}

enum MHD_Result web_serve(struct web *w, struct MHD_Connection *conn, const char *url,
                          const char *method)
{
    char file[160];
    if (!w || !web_route(url, file, sizeof(file)))
        return send_error(conn, MHD_HTTP_NOT_FOUND, "not found\n");
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    if (w->dirfd < 0 && web_embedded_count == 0)
        return send_error(conn, MHD_HTTP_NOT_FOUND,
                          "the pages are not in this build of kibitka: build them "
                          "(scripts/build), or serve them with --web-dir DIR\n");
    bool vary = false;
    struct MHD_Response *resp =
        !strncmp(file, "assets/", 7) ? asset_gzip(w, conn, file, &vary) : NULL;
    const struct web_file *f;
    if (!resp && w->dirfd >= 0)
        resp = from_dir(w, file);
    else if (!resp && (f = embedded(file)))
        resp = MHD_create_response_from_buffer(f->len, (void *)f->data, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return send_error(conn, MHD_HTTP_NOT_FOUND, "not found\n");
    if (vary)
        MHD_add_response_header(resp, "Vary", "Accept-Encoding");
    return answer(w, conn, MHD_HTTP_OK, resp, file);
}
