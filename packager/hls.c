/* The packager's server: the registry observer that gives each new hub a stream and a sink, the
 * list of served streams, and the request entry points (path parsing, then hls_stream.c). */
#include "packager/hls.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "packager/hls_group.h"
#include "packager/hls_sink.h"
#include "packager/hls_stream.h"

struct hls_server {
    struct hls_stream_config scfg;
    struct hls_sink_config sink;
    struct ladder ladder; /* parsed --ladder */
    char preset[32];
    pthread_mutex_t lock;
    struct hls_group **streams; /* one reference each */
    int nstreams, cap;
    int64_t last_sid;
};

/* Unlinks the stream named name (or exactly st when st is not NULL); returns the list's
 * reference, or NULL. Under the server lock. */
static struct hls_group *unlink_stream(struct hls_server *srv, const char *name,
                                       const struct hls_group *st)
{
    for (int i = 0; i < srv->nstreams; i++) {
        struct hls_group *s = srv->streams[i];
        if (st ? s != st : strcmp(hls_group_name(s), name) != 0)
            continue;
        srv->streams[i] = srv->streams[--srv->nstreams];
        return s;
    }
    return NULL;
}

/* The registry observer: every new hub gets a group of renditions (replacing an ended one of
 * the same name at once) and a sink feeding it. */
static void on_hub(void *opaque, struct hub *hub)
{
    struct hls_server *srv = opaque;
    const char *name = hub_name(hub);
    char sid[PL_SID_MAX + 1];
    pthread_mutex_lock(&srv->lock);
    /* Unique per publish session, so immutable URIs are never reused: the claim's wall clock
     * in microseconds, strictly increasing within this process. */
    int64_t v = hub_started_wall_us(hub);
    srv->last_sid = v > srv->last_sid ? v : srv->last_sid + 1;
    snprintf(sid, sizeof(sid), "%" PRIx64, (uint64_t)srv->last_sid);
    struct hls_group *st = hls_group_create(name, sid, &srv->scfg, hub_started_mono_us(hub));
    struct hls_group *old = unlink_stream(srv, name, NULL);
    if (srv->nstreams == srv->cap) {
        srv->cap = srv->cap ? srv->cap * 2 : 8;
        srv->streams = xrealloc(srv->streams, sizeof(*srv->streams) * (size_t)srv->cap);
    }
    srv->streams[srv->nstreams++] = st;
    pthread_mutex_unlock(&srv->lock);
    if (old) {
        hls_group_detach(old);
        hls_group_unref(old);
    }
    hls_sink_attach(hub, st, &srv->sink);
}

struct hls_server *hls_server_create(const struct hls_config *cfg, struct hub_registry *hubs)
{
    struct hls_server *srv = xcalloc(1, sizeof(*srv));
    struct hls_counters mx; /* registered now: /metrics shows them at 0 before any stream */
    hls_counters_register(cfg->metrics, &mx);
    double part = cfg->part_seconds > 0 ? cfg->part_seconds : 0.5;
    double linger = cfg->linger_seconds >= 0 ? cfg->linger_seconds : 0;
    srv->scfg = (struct hls_stream_config){
        .part_target_us = (int64_t)(part * 1e6 + 0.5),
        .linger_us = (int64_t)(linger * 1e6 + 0.5),
        .metrics = cfg->metrics,
    };
    srv->ladder = cfg->ladder ? *cfg->ladder : (struct ladder){.source = true};
    snprintf(srv->preset, sizeof(srv->preset), "%s",
             cfg->x264_preset ? cfg->x264_preset : "veryfast");
    srv->sink = (struct hls_sink_config){
        .part_target_us = srv->scfg.part_target_us,
        .ladder = &srv->ladder,
        .preset = srv->preset,
        .admission = cfg->admission,
        .metrics = cfg->metrics,
    };
    pthread_mutex_init(&srv->lock, NULL);
    hub_registry_observe(hubs, on_hub, srv);
    return srv;
}

void hls_server_destroy(struct hls_server **psrv)
{
    struct hls_server *srv = *psrv;
    if (!srv)
        return;
    for (int i = 0; i < srv->nstreams; i++) {
        hls_group_detach(srv->streams[i]);
        hls_group_unref(srv->streams[i]);
    }
    free(srv->streams);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
    *psrv = NULL;
}

/* References to every served stream (the caller unrefs each and frees the array). */
static struct hls_group **snapshot(struct hls_server *srv, int *n)
{
    pthread_mutex_lock(&srv->lock);
    *n = srv->nstreams;
    struct hls_group **all = xmalloc(sizeof(*all) * (size_t)(*n ? *n : 1));
    for (int i = 0; i < *n; i++)
        all[i] = hls_group_ref(srv->streams[i]);
    pthread_mutex_unlock(&srv->lock);
    return all;
}

int hls_server_tick(struct hls_server *srv)
{
    int64_t now = clock_mono_us();
    int n, dropped = 0;
    struct hls_group **all = snapshot(srv, &n);
    for (int i = 0; i < n; i++) {
        if (hls_group_tick(all[i], now)) {
            pthread_mutex_lock(&srv->lock);
            struct hls_group *gone = unlink_stream(srv, NULL, all[i]);
            pthread_mutex_unlock(&srv->lock);
            if (gone) {
                log_info("hls", hls_group_name(gone), "ended stream no longer served");
                hls_group_detach(gone);
                hls_group_unref(gone);
                dropped++;
            }
        }
        hls_group_unref(all[i]);
    }
    free(all);
    return dropped;
}

static struct hls_group *find_stream(struct hls_server *srv, const char *name)
{
    struct hls_group *st = NULL;
    pthread_mutex_lock(&srv->lock);
    for (int i = 0; i < srv->nstreams && !st; i++)
        if (strcmp(hls_group_name(srv->streams[i]), name) == 0)
            st = hls_group_ref(srv->streams[i]);
    pthread_mutex_unlock(&srv->lock);
    return st;
}

/* ---- requests ---- */

/* A directive's decimal value: 1 to 15 digits, nothing else. */
static bool parse_directive(const char *s, int64_t max, int64_t *out)
{
    int64_t v = 0;
    int n = 0;
    for (; s[n]; n++) {
        if (s[n] < '0' || s[n] > '9' || n == 15)
            return false;
        v = v * 10 + (s[n] - '0');
    }
    if (n == 0 || v > max)
        return false;
    *out = v;
    return true;
}

static void parse_directives(const struct hls_request *req, struct hls_query *q)
{
    int64_t v = 0;
    if (req->hls_msn) {
        if (!parse_directive(req->hls_msn, INT64_MAX / 2, &v))
            q->bad = "_HLS_msn is not a number";
        q->has_msn = true;
        q->hls_msn = v;
    }
    if (req->hls_part) {
        if (!parse_directive(req->hls_part, 1000000, &v))
            q->bad = "_HLS_part is not a number";
        q->has_part = true;
        q->hls_part = (int)v;
    }
    if (q->has_part && !q->has_msn)
        q->bad = "_HLS_part without _HLS_msn";
    if (req->hls_skip) {
        if (strcmp(req->hls_skip, "YES") == 0 || strcmp(req->hls_skip, "v2") == 0)
            q->skip = true;
        else
            q->bad = "_HLS_skip must be YES or v2";
    }
}

/* The rendition of "<rendition>/<file>": [a-z0-9]{1,HLS_RENDITION_MAX}; the rest after it, or
 * NULL. */
static const char *parse_rendition(const char *s, char out[HLS_RENDITION_MAX + 1])
{
    int n = 0;
    for (; s[n] && s[n] != '/'; n++) {
        bool ok = (s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9');
        if (!ok || n == HLS_RENDITION_MAX)
            return NULL;
        out[n] = s[n];
    }
    if (n == 0 || s[n] != '/')
        return NULL;
    out[n] = '\0';
    return s + n + 1;
}

/* Splits "<name>/index.m3u8" or "<name>/<rendition>/<file>"; returns false for anything else. */
static bool parse_path(const struct hls_request *req, char name[HUB_NAME_MAX + 1],
                       char rendition[HLS_RENDITION_MAX + 1], struct hls_query *q)
{
    const char *slash = strchr(req->path, '/');
    size_t n = slash ? (size_t)(slash - req->path) : 0;
    if (n == 0 || n > HUB_NAME_MAX)
        return false;
    memcpy(name, req->path, n);
    name[n] = '\0';
    if (!hub_name_valid(name))
        return false;
    const char *rest = slash + 1;
    if (strcmp(rest, "index.m3u8") == 0) {
        q->file = HLS_FILE_MULTIVARIANT;
        return true;
    }
    rest = parse_rendition(rest, rendition);
    if (!rest)
        return false;
    if (strcmp(rest, "media.m3u8") == 0) {
        q->file = HLS_FILE_MEDIA;
        parse_directives(req, q);
        return true;
    }
    switch (pl_uri_parse(rest, q->sid, &q->msn, &q->part)) {
    case PL_URI_INIT:
        q->file = HLS_FILE_INIT;
        return true;
    case PL_URI_SEGMENT:
        q->file = HLS_FILE_SEGMENT;
        return true;
    case PL_URI_PART:
        q->file = HLS_FILE_PART;
        return true;
    default:
        return false;
    }
}

static int not_found(struct hls_response *resp, const char *why)
{
    resp->status = 404;
    resp->body = NULL;
    resp->content_type = "text/plain; charset=utf-8";
    resp->cache_control = "no-store";
    snprintf(resp->error, sizeof(resp->error), "%s", why);
    return 0;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

int hls_viewers(struct hls_server *srv, const char *name)
{
    struct hls_group *g = find_stream(srv, name);
    if (!g)
        return -ENOENT;
    int n = hls_group_viewers(g, clock_mono_us(), HLS_VIEWER_WINDOW_S * 1000000LL);
    hls_group_unref(g);
    return n;
}

int hls_transcode_lag(struct hls_server *srv, const char *name, double *lag_s)
{
    *lag_s = 0;
    struct hls_group *g = find_stream(srv, name);
    if (!g)
        return -ENOENT;
    uint64_t parts, segs;
    int64_t held;
    hls_group_counts(g, &parts, &segs, &held, lag_s);
    hls_group_unref(g);
    return 0;
}

int hls_handle(struct hls_server *srv, const struct hls_request *req, struct hls_response *resp)
{
    char name[HUB_NAME_MAX + 1], rendition[HLS_RENDITION_MAX + 1];
    struct hls_query q = {.wait_started_us = req->wait_started_us};
    memset(resp, 0, sizeof(*resp));
    if (!req->path || !parse_path(req, name, rendition, &q))
        return not_found(resp, "no such file");
    struct hls_group *g = find_stream(srv, name);
    if (!g)
        return not_found(resp, "no such stream");
    bool playlist = q.file == HLS_FILE_MEDIA || q.file == HLS_FILE_MULTIVARIANT;
    if (playlist && req->client && req->wait_started_us == 0)
        hls_group_note_viewer(g, fnv1a(req->client), clock_mono_us());
    int rc;
    if (q.file == HLS_FILE_MULTIVARIANT) {
        rc = hls_group_answer(g, req->wait_started_us, resp);
    } else {
        struct hls_stream *st = hls_group_find(g, rendition);
        rc = st ? hls_stream_answer(st, &q, resp) : not_found(resp, "no such rendition");
        hls_stream_unref(st);
    }
    hls_group_unref(g);
    return rc;
}

int hls_wait(struct hls_server *srv, const struct hls_request *req, void (*wake)(void *arg),
             void *arg)
{
    char name[HUB_NAME_MAX + 1], rendition[HLS_RENDITION_MAX + 1];
    struct hls_query q = {.wait_started_us = req->wait_started_us};
    if (!req->path || !parse_path(req, name, rendition, &q))
        return 1;
    struct hls_group *g = find_stream(srv, name);
    if (!g)
        return 1;
    int rc = 1;
    if (q.file == HLS_FILE_MULTIVARIANT) {
        rc = hls_group_wait(g, req->wait_started_us, wake, arg);
    } else {
        struct hls_stream *st = hls_group_find(g, rendition);
        if (st)
            rc = hls_stream_wait(st, &q, wake, arg);
        hls_stream_unref(st);
    }
    hls_group_unref(g);
    return rc;
}

/* ---- metrics ---- */

void hls_metrics_write(struct hls_server *srv, struct buf *out)
{
    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        {"kibitka_hls_parts_total", "counter", "LL-HLS parts produced by the stream."},
        {"kibitka_hls_segments_total", "counter", "HLS segments produced by the stream."},
        {"kibitka_hls_bytes_held", "gauge", "Bytes of segments and parts kept in memory."},
    };
    int n;
    struct hls_group **all = snapshot(srv, &n);
    int64_t(*vals)[3] = xcalloc((size_t)(n ? n : 1), sizeof(*vals));
    double *lag = xcalloc((size_t)(n ? n : 1), sizeof(*lag));
    for (int i = 0; i < n; i++) {
        uint64_t parts, segs;
        hls_group_counts(all[i], &parts, &segs, &vals[i][2], &lag[i]);
        vals[i][0] = (int64_t)parts;
        vals[i][1] = (int64_t)segs;
    }
    for (int f = 0; f < 3; f++) {
        buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help, fam[f].name,
                   fam[f].type);
        for (int i = 0; i < n; i++)
            buf_printf(out, "%s{stream=\"%s\"} %" PRId64 "\n", fam[f].name, hls_group_name(all[i]),
                       vals[i][f]);
    }
    buf_printf(out, "# HELP kibitka_transcode_lag_seconds How far the stream's transcode worker is "
                    "behind its source (age of the packet being encoded).\n"
                    "# TYPE kibitka_transcode_lag_seconds gauge\n");
    for (int i = 0; i < n; i++)
        buf_printf(out, "kibitka_transcode_lag_seconds{stream=\"%s\"} %.3f\n",
                   hls_group_name(all[i]), lag[i]);
    free(lag);
    for (int i = 0; i < n; i++)
        hls_group_unref(all[i]);
    free(vals);
    free(all);
}
