/* The packager end to end, without HTTP: a real hub fed with H.264 + AAC from libavcodec
 * encoders, answers checked through hls_handle / hls_wait / hls_server_tick. */
#include "packager/hls.h"

#include <libavformat/avformat.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "clip.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "test.h"

#include "hls_helpers.h"

/* ---- one live stream, step by step ---- */

struct live {
    struct hub_registry *reg;
    struct metrics *m;
    struct hls_server *srv;
    struct hub *hub;
    int i; /* next clip packet */
    char sid[32];
};

#define MEDIA "cam1/source/media.m3u8"

static void live_first_playlist(struct live *L)
{
    /* Nothing is cut yet: playlists block until the first segment is complete (the next
     * keyframe, about 1.93 s into the clip). */
    CHECK_EQ_INT(status(L->srv, MEDIA, NULL, NULL, NULL, 0), -1);
    CHECK_EQ_INT(status(L->srv, "cam1/index.m3u8", NULL, NULL, NULL, 0), -1);
    struct wake_count w = {0};
    CHECK_EQ_INT(wait_on(L->srv, MEDIA, NULL, NULL, &w), 0);
    CHECK_EQ_INT(metrics_value(L->m, "kibitka_hls_blocking_requests", NULL), 1);
    push_until(L->hub, &L->i, 1800);
    CHECK_EQ_INT(w.n, 0);
    while (w.n == 0 && L->i < 400)
        push(L->hub, clip.pkts[L->i++].pkt);
    CHECK_EQ_INT(w.n, 1);
    /* Woken by the second keyframe (one GOP): the first playlist comes one segment after the
     * publish, not two (issue 10, item 8). */
    CHECK(clip.pkts[L->i - 1].pkt->dts < 2100);
    CHECK_EQ_INT(metrics_value(L->m, "kibitka_hls_blocking_requests", NULL), 0);

    char *pl = text(L->srv, MEDIA, NULL, NULL, NULL);
    CHECK(pl != NULL);
    if (!pl)
        return;
    sid_of(pl, L->sid);
    CHECK(strlen(L->sid) > 0);
    CHECK(has(pl, "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n"));
    CHECK(has(pl, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.000,"
                  "HOLD-BACK=6.000,PART-HOLD-BACK=1.500\n"));
    CHECK(has(pl, "#EXT-X-PART-INF:PART-TARGET=0.500\n#EXT-X-MEDIA-SEQUENCE:0\n"));
    /* The first keyframe (dts -67 ms) arrived at 1 s - 67 ms past WALL0. */
    CHECK(has(pl, "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.933Z\n"));
    char want[160];
    snprintf(want, sizeof(want), "#EXTINF:2.00000,\nseg-%s-0.m4s\n", L->sid);
    CHECK(has(pl, want));
    snprintf(want, sizeof(want), "#EXT-X-MAP:URI=\"init-%s.mp4\"\n", L->sid);
    CHECK(has(pl, want));
    CHECK(has(pl, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-"));
    CHECK(!has(pl, "#EXT-X-ENDLIST"));
    free(pl);

    pl = text(L->srv, "cam1/index.m3u8", NULL, NULL, NULL);
    const uint8_t *ex = clip.par[0]->extradata;
    snprintf(want, sizeof(want),
             "CODECS=\"avc1.%02x%02x%02x,mp4a.40.2\",RESOLUTION=160x96,"
             "FRAME-RATE=30.000,CLOSED-CAPTIONS=NONE\nsource/media.m3u8\n",
             ex[1], ex[2], ex[3]);
    CHECK(has(pl, want));
    CHECK(has(pl, "#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH="));
    CHECK(tag_int(pl ? pl : "", "BANDWIDTH=") > 10000);
    free(pl);
}

static void live_files(struct live *L)
{
    char path[128];
    struct hls_response r;
    snprintf(path, sizeof(path), "cam1/source/init-%s.mp4", L->sid);
    CHECK_EQ_INT(ask(L->srv, path, NULL, NULL, NULL, 0, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_STREQ(r.content_type, "video/mp4");
    CHECK_STREQ(r.cache_control, "public, max-age=31536000, immutable");
    struct blob *init = r.body;
    CHECK(init && init->len > 16 && memcmp(init->data + 4, "ftyp", 4) == 0);
    CHECK(init && memmem(init->data, init->len, "moov", 4) != NULL);

    /* A segment is the concatenation of its parts, starts with a keyframe and decodes. */
    snprintf(path, sizeof(path), "cam1/source/seg-%s-0.m4s", L->sid);
    CHECK_EQ_INT(ask(L->srv, path, NULL, NULL, NULL, 0, &r), 0);
    CHECK_STREQ(r.content_type, "video/iso.segment");
    struct blob *seg = r.body;
    CHECK(seg && memcmp(seg->data + 4, "moof", 4) == 0);
    size_t off = 0;
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof(path), "cam1/source/part-%s-0.%d.m4s", L->sid, k);
        struct blob *part = fetch(L->srv, path);
        CHECK(part && seg && off + part->len <= seg->len &&
              memcmp(seg->data + off, part->data, part->len) == 0);
        off += part ? part->len : 0;
        blob_unref(part);
    }
    CHECK(seg && off == seg->len);
    if (init && seg) {
        struct decoded d = decode(init, seg);
        CHECK(d.h264 && d.aac);
        CHECK(d.first_key);
        CHECK_EQ_INT(d.video, 60);             /* one 2 s GOP at 30 fps */
        CHECK(d.audio >= 84 && d.audio <= 88); /* 2 s of 1024-sample frames at 44.1 kHz */
    }
    blob_unref(seg);
    blob_unref(init);

    snprintf(path, sizeof(path), "cam1/source/init-%sx.mp4", L->sid);
    CHECK_EQ_INT(status(L->srv, path, NULL, NULL, NULL, 0), 404);
    CHECK_EQ_INT(status(L->srv, "cam1/source/init-0.mp4", NULL, NULL, NULL, 0), 404);
    snprintf(path, sizeof(path), "cam1/source/seg-%s-2.m4s", L->sid); /* not complete yet */
    CHECK_EQ_INT(status(L->srv, path, NULL, NULL, NULL, 0), 404);
    CHECK_EQ_INT(status(L->srv, "cam1/source/../index.m3u8", NULL, NULL, NULL, 0), 404);
    CHECK_EQ_INT(status(L->srv, "nosuch/index.m3u8", NULL, NULL, NULL, 0), 404);
    CHECK_EQ_INT(status(L->srv, "cam1/other/media.m3u8", NULL, NULL, NULL, 0), 404);
    CHECK_EQ_INT(status(L->srv, "cam1", NULL, NULL, NULL, 0), 404);
}

/* Walks the playlist: every part within the part target, the first part of each segment (and
 * only it, with a 2 s GOP) independent, every segment as long as the GOP. Returns the number of
 * complete segments listed. */
static int check_playlist_shape(const char *pl, double extinf)
{
    int segs = 0;
    bool first = false;
    for (const char *line = pl; line && *line; line = strchr(line, '\n'), line += line ? 1 : 0) {
        double d;
        if (strncmp(line, "#EXT-X-PROGRAM-DATE-TIME:", 25) == 0) {
            first = true;
        } else if (sscanf(line, "#EXT-X-PART:DURATION=%lf,", &d) == 1) {
            CHECK(d > 0.3 && d <= 0.5);
            const char *eol = strchr(line, '\n');
            const char *ind = strstr(line, "INDEPENDENT=YES");
            CHECK((ind && ind < eol) == first);
            first = false;
        } else if (sscanf(line, "#EXTINF:%lf,", &d) == 1) {
            if (extinf > 0 && d != extinf)
                fprintf(stderr, "EXTINF %f\n", d);
            CHECK(extinf <= 0 || d == extinf);
            segs++;
        }
    }
    return segs;
}

static void live_parts_and_segments(struct live *L)
{
    push_until(L->hub, &L->i, 7000);
    char *pl = text(L->srv, MEDIA, NULL, NULL, NULL);
    CHECK_EQ_INT(check_playlist_shape(pl, 2.0), 3);
    free(pl);
    char path[128];
    snprintf(path, sizeof(path), "cam1/source/init-%s.mp4", L->sid);
    struct blob *init = fetch(L->srv, path);
    for (int m = 1; m <= 2; m++) {
        snprintf(path, sizeof(path), "cam1/source/seg-%s-%d.m4s", L->sid, m);
        struct blob *seg = fetch(L->srv, path);
        CHECK(init && seg);
        if (init && seg) {
            struct decoded d = decode(init, seg);
            CHECK(d.first_key);
            CHECK_EQ_INT(d.video, 60);
        }
        blob_unref(seg);
    }
    blob_unref(init);
    CHECK(metrics_value(L->m, "kibitka_segments_total", NULL) == 3);
    CHECK(metrics_value(L->m, "kibitka_parts_total", NULL) >= 12);
}

static void live_blocking(struct live *L)
{
    char *pl = text(L->srv, MEDIA, NULL, NULL, NULL);
    int64_t msn = -1;
    int part = -1;
    CHECK(pl && hint_of(pl, &msn, &part));
    free(pl);
    char smsn[32], spart[32], hinted[128], uri[96];
    snprintf(smsn, sizeof(smsn), "%lld", (long long)msn);
    snprintf(spart, sizeof(spart), "%d", part);
    snprintf(uri, sizeof(uri), "part-%s-%lld.%d.m4s", L->sid, (long long)msn, part);
    snprintf(hinted, sizeof(hinted), "cam1/source/%s", uri);

    /* The playlist with the next part, and the hinted part itself, both block... */
    CHECK_EQ_INT(status(L->srv, MEDIA, smsn, spart, NULL, 0), -1);
    CHECK_EQ_INT(status(L->srv, hinted, NULL, NULL, NULL, 0), -1);
    struct wake_count w1 = {0}, w2 = {0};
    CHECK_EQ_INT(wait_on(L->srv, MEDIA, smsn, spart, &w1), 0);
    CHECK_EQ_INT(wait_on(L->srv, hinted, NULL, NULL, &w2), 0);
    CHECK_EQ_INT(metrics_value(L->m, "kibitka_hls_blocking_requests", NULL), 2);
    /* ...until that part is cut: both wake at the same packet, exactly once. */
    while (w1.n == 0 && L->i < clip.n) {
        push(L->hub, clip.pkts[L->i++].pkt);
        CHECK_EQ_INT(w1.n, w2.n);
    }
    push(L->hub, clip.pkts[L->i++].pkt);
    CHECK_EQ_INT(w1.n, 1);
    CHECK_EQ_INT(w2.n, 1);
    CHECK_EQ_INT(metrics_value(L->m, "kibitka_hls_blocking_requests", NULL), 0);
    struct hls_response r;
    CHECK_EQ_INT(ask(L->srv, MEDIA, smsn, spart, NULL, clock_mono_us(), &r), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_STREQ(r.content_type, "application/vnd.apple.mpegurl");
    CHECK(r.body && memmem(r.body->data, r.body->len, uri, strlen(uri)));
    blob_unref(r.body);
    CHECK_EQ_INT(status(L->srv, hinted, NULL, NULL, NULL, clock_mono_us()), 200);
    /* Already there: hls_wait registers nothing and says answer now. */
    struct wake_count w3 = {0};
    CHECK_EQ_INT(wait_on(L->srv, hinted, NULL, NULL, &w3), 1);
    CHECK_EQ_INT(wait_on(L->srv, MEDIA, smsn, spart, &w3), 1);
    CHECK_EQ_INT(metrics_value(L->m, "kibitka_hls_blocking_requests", NULL), 0);

    /* A part index past the end of the open segment (of 4 parts), within the Advance Part
     * Limit, means part 0 of the next segment. */
    CHECK_EQ_INT(status(L->srv, MEDIA, smsn, "5", NULL, 0), -1);
    CHECK_EQ_INT(wait_on(L->srv, MEDIA, smsn, "5", &w3), 0);
    while (w3.n == 0 && L->i < clip.n)
        push(L->hub, clip.pkts[L->i++].pkt);
    CHECK_EQ_INT(w3.n, 1);
    pl = text(L->srv, MEDIA, smsn, "5", NULL);
    snprintf(uri, sizeof(uri), "part-%s-%lld.0.m4s", L->sid, (long long)msn + 1);
    CHECK(has(pl, uri));
    snprintf(uri, sizeof(uri), "seg-%s-%lld.m4s", L->sid, (long long)msn);
    CHECK(has(pl, uri));
    free(pl);
    /* A finished segment with a part past its end: answered at once. */
    CHECK_EQ_INT(status(L->srv, MEDIA, "1", "9", NULL, 0), 200);
    CHECK_EQ_INT(status(L->srv, MEDIA, "1", NULL, NULL, 0), 200);
    /* A blocking reload answered at once is the newest playlist, which a repeat of the same
     * URL must see again: not cacheable (video.js repeats it; a cached copy starved it). */
    struct hls_response r2;
    CHECK_EQ_INT(ask(L->srv, MEDIA, "1", "0", "YES", 0, &r2), 0);
    CHECK_EQ_INT(r2.status, 200);
    CHECK_STREQ(r2.cache_control, "no-cache");
    blob_unref(r2.body);
}

static void live_bad_requests(struct live *L)
{
    char *pl = text(L->srv, MEDIA, NULL, NULL, NULL);
    int64_t next = -1;
    int part = 0;
    CHECK(pl && hint_of(pl, &next, &part));
    free(pl);
    char s2[32], s3[32];
    snprintf(s2, sizeof(s2), "%lld", (long long)next + 2);
    snprintf(s3, sizeof(s3), "%lld", (long long)next + 3);
    struct hls_response r;
    CHECK_EQ_INT(ask(L->srv, MEDIA, NULL, "1", NULL, 0, &r), 0);
    CHECK_EQ_INT(r.status, 400);
    CHECK(r.body == NULL && strlen(r.error) > 0);
    CHECK_EQ_INT(status(L->srv, MEDIA, s3, NULL, NULL, 0), 400);
    CHECK_EQ_INT(status(L->srv, MEDIA, s3, "0", NULL, 0), 400);
    CHECK_EQ_INT(status(L->srv, MEDIA, s2, NULL, NULL, 0), -1); /* two ahead is allowed */
    /* RFC 8216bis 6.2.5.2: a part more than the Advance Part Limit (3 / 0.5 s = 6 parts) past
     * the last part is 400 at once; 6 past it still waits. The last part is the one before
     * the hint's (the previous segment's last when the hint is part 0 of a new one). */
    char s0[32], s1[32], p6[32], p7[32];
    snprintf(s0, sizeof(s0), "%lld", (long long)next);
    snprintf(s1, sizeof(s1), "%lld", (long long)next + 1);
    snprintf(p6, sizeof(p6), "%d", part + 5);
    snprintf(p7, sizeof(p7), "%d", part + 6);
    CHECK_EQ_INT(status(L->srv, MEDIA, s0, p6, NULL, 0), -1);
    CHECK_EQ_INT(ask(L->srv, MEDIA, s0, p7, NULL, 0, &r), 0);
    CHECK_EQ_INT(r.status, 400);
    CHECK(strstr(r.error, "Advance Part Limit") != NULL);
    CHECK_EQ_INT(status(L->srv, MEDIA, s0, "40", NULL, 0), 400);
    CHECK_EQ_INT(status(L->srv, MEDIA, s1, "6", NULL, 0), 400);
    CHECK_EQ_INT(status(L->srv, MEDIA, s2, "0", NULL, 0), -1);
    struct wake_count w = {0};
    CHECK_EQ_INT(wait_on(L->srv, MEDIA, s0, p7, &w), 1); /* nothing registered */
    CHECK_EQ_INT(status(L->srv, MEDIA, "abc", NULL, NULL, 0), 400);
    CHECK_EQ_INT(status(L->srv, MEDIA, "-1", NULL, NULL, 0), 400);
    CHECK_EQ_INT(status(L->srv, MEDIA, "", NULL, NULL, 0), 400);
    CHECK_EQ_INT(status(L->srv, MEDIA, "99999999999999999999", NULL, NULL, 0), 400);
    CHECK_EQ_INT(status(L->srv, MEDIA, "1", "x", NULL, 0), 400);
    CHECK_EQ_INT(status(L->srv, MEDIA, "1", "1e3", NULL, 0), 400);
    CHECK_EQ_INT(status(L->srv, MEDIA, NULL, NULL, "NO", 0), 400);
    CHECK_EQ_INT(status(L->srv, MEDIA, NULL, NULL, "YES", 0), 200);
    /* A part that will never exist (past the hint) is 404 at once, not a wait. */
    char path[128];
    snprintf(path, sizeof(path), "cam1/source/part-%s-%lld.%d.m4s", L->sid, (long long)next,
             part + 1);
    CHECK_EQ_INT(status(L->srv, path, NULL, NULL, NULL, 0), 404);
    snprintf(path, sizeof(path), "cam1/source/part-%s-%lld.0.m4s", L->sid, (long long)next + 5);
    CHECK_EQ_INT(status(L->srv, path, NULL, NULL, NULL, 0), 404);
}

static void live_deadline(struct live *L)
{
    char *pl = text(L->srv, MEDIA, NULL, NULL, NULL);
    int64_t next = -1;
    int part = 0;
    CHECK(pl && hint_of(pl, &next, &part));
    free(pl);
    char s1[32];
    snprintf(s1, sizeof(s1), "%lld", (long long)next + 1);
    /* Blocked for longer than three target durations (6 s): 503. */
    int64_t now = clock_mono_us();
    CHECK_EQ_INT(status(L->srv, MEDIA, s1, NULL, NULL, now - 6100000), 503);
    CHECK_EQ_INT(status(L->srv, MEDIA, s1, NULL, NULL, now - 5000000), -1);
    /* The tick wakes a waiter when its deadline passes; the retry then gets 503. */
    struct wake_count w = {0};
    /* The wait began 5 s ago: its deadline is 1 s away, a margin no loaded machine eats
     * between here and the first tick (0.1 s did: a flaky failure under CPU load). */
    struct hls_request rq = {MEDIA, s1, NULL, NULL, now - 5000000, NULL};
    CHECK_EQ_INT(hls_wait(L->srv, &rq, on_wake, &w), 0);
    hls_server_tick(L->srv);
    CHECK_EQ_INT(w.n, 0);
    usleep(1100000);
    hls_server_tick(L->srv);
    CHECK_EQ_INT(w.n, 1);
    hls_server_tick(L->srv);
    CHECK_EQ_INT(w.n, 1);
    CHECK_EQ_INT(status(L->srv, MEDIA, s1, NULL, NULL, rq.wait_started_us), 503);
    CHECK_EQ_INT(metrics_value(L->m, "kibitka_hls_blocking_requests", NULL), 0);
}

static void live_window_and_skip(struct live *L)
{
    int64_t last_seq = 0;
    bool skipped = false;
    char seg0[96];
    snprintf(seg0, sizeof(seg0), "seg-%s-0.m4s\n", L->sid);
    while (L->i < clip.n) {
        push(L->hub, clip.pkts[L->i++].pkt);
        if (L->i % 10)
            continue;
        char *pl = text(L->srv, MEDIA, NULL, NULL, NULL);
        int64_t seq = tag_int(pl, "#EXT-X-MEDIA-SEQUENCE:");
        CHECK(seq >= last_seq); /* never decreases */
        last_seq = seq;
        double total = 0, d;
        for (const char *p = pl; (p = strstr(p, "#EXTINF:")); p++)
            total += sscanf(p, "#EXTINF:%lf", &d) == 1 ? d : 0;
        CHECK(total >= 6.0 || tag_int(pl, "#EXT-X-MEDIA-SEQUENCE:") == 0);
        char *delta = text(L->srv, MEDIA, NULL, NULL, "YES");
        int64_t n = tag_int(delta, "#EXT-X-SKIP:SKIPPED-SEGMENTS=");
        if (n > 0) {
            /* The delta update keeps at least CAN-SKIP-UNTIL (12 s) and the same sequence. */
            skipped = true;
            CHECK_EQ_INT(tag_int(delta, "#EXT-X-MEDIA-SEQUENCE:"), seq);
            CHECK(count(delta, "#EXTINF:") + n == count(pl, "#EXTINF:"));
            CHECK(count(delta, "#EXTINF:") >= 5);
            CHECK(has(pl, "#EXT-X-MEDIA-SEQUENCE:0\n") == has(pl, seg0));
            CHECK(!has(delta, seg0));
        }
        free(delta);
        free(pl);
    }
    CHECK(skipped);
    /* 30 s in 2 s segments with a 24 s window: the oldest left the playlist, still fetchable. */
    CHECK(last_seq >= 2);
    char path[128];
    snprintf(path, sizeof(path), "cam1/source/seg-%s-0.m4s", L->sid);
    CHECK_EQ_INT(status(L->srv, path, NULL, NULL, NULL, 0), 200);
    snprintf(path, sizeof(path), "cam1/source/part-%s-0.1.m4s", L->sid);
    CHECK_EQ_INT(status(L->srv, path, NULL, NULL, NULL, 0), 200);
    char *pl = text(L->srv, MEDIA, NULL, NULL, NULL);
    check_playlist_shape(pl, 2.0);
    free(pl);
}

static void live_end_and_linger(struct live *L)
{
    char *pl = text(L->srv, MEDIA, NULL, NULL, NULL);
    int64_t next = -1;
    int part = 0;
    CHECK(pl && hint_of(pl, &next, &part));
    free(pl);
    char s1[32], hinted[128];
    snprintf(s1, sizeof(s1), "%lld", (long long)next + 1);
    snprintf(hinted, sizeof(hinted), "cam1/source/part-%s-%lld.%d.m4s", L->sid, (long long)next,
             part);
    struct wake_count w1 = {0}, w2 = {0};
    CHECK_EQ_INT(wait_on(L->srv, MEDIA, s1, NULL, &w1), 0);
    CHECK_EQ_INT(wait_on(L->srv, hinted, NULL, NULL, &w2), 0);

    uint64_t parts_before = (uint64_t)metrics_value(L->m, "kibitka_parts_total", NULL);
    hub_end(L->hub);
    hub_unrefp(&L->hub);
    /* The end wakes everyone, closes the last part and segment, and adds ENDLIST. */
    CHECK_EQ_INT(w1.n, 1);
    CHECK_EQ_INT(w2.n, 1);
    CHECK_EQ_INT(metrics_value(L->m, "kibitka_hls_blocking_requests", NULL), 0);
    CHECK((uint64_t)metrics_value(L->m, "kibitka_parts_total", NULL) > parts_before);
    pl = text(L->srv, MEDIA, NULL, NULL, NULL);
    CHECK(pl && strlen(pl) > 15 && strcmp(pl + strlen(pl) - 15, "#EXT-X-ENDLIST\n") == 0);
    CHECK(!has(pl, "PRELOAD-HINT"));
    /* 901 frames: 15 segments of 2 s and a last one of one frame. */
    snprintf(hinted, sizeof(hinted), "seg-%s-15.m4s\n", L->sid);
    CHECK(has(pl, hinted));
    CHECK(has(pl, "#EXTINF:0.03"));
    free(pl);
    /* Directives are ignored once the playlist has ENDLIST; the hinted part is now 404. */
    CHECK_EQ_INT(status(L->srv, MEDIA, s1, NULL, NULL, 0), 200);
    CHECK_EQ_INT(status(L->srv, MEDIA, "999", "3", NULL, 0), 200);
    CHECK_EQ_INT(status(L->srv, MEDIA, NULL, "3", NULL, 0), 200);
    snprintf(hinted, sizeof(hinted), "cam1/source/part-%s-%lld.%d.m4s", L->sid, (long long)next + 1,
             5);
    CHECK_EQ_INT(status(L->srv, hinted, NULL, NULL, NULL, 0), 404);
    CHECK_EQ_INT(metrics_value(L->m, "kibitka_segments_total", NULL), 16);

    struct buf out;
    buf_init(&out);
    hls_metrics_write(L->srv, &out);
    buf_append(&out, "", 1);
    char want[128];
    snprintf(want, sizeof(want), "kibitka_hls_parts_total{stream=\"cam1\"} %lld\n",
             (long long)metrics_value(L->m, "kibitka_parts_total", NULL));
    CHECK(has((char *)buf_head(&out), want));
    CHECK(has((char *)buf_head(&out), "kibitka_hls_segments_total{stream=\"cam1\"} 16\n"));
    CHECK_EQ_INT(count((char *)buf_head(&out), "# TYPE kibitka_hls_parts_total counter\n"), 1);
    buf_free(&out);

    /* Served for the linger time (1 s, counted from the end above: a loaded machine took more
     * than the 0.2 s this once was to get here), then dropped by the tick. */
    hls_server_tick(L->srv);
    CHECK_EQ_INT(status(L->srv, MEDIA, NULL, NULL, NULL, 0), 200);
    usleep(1100000);
    hls_server_tick(L->srv);
    CHECK_EQ_INT(status(L->srv, MEDIA, NULL, NULL, NULL, 0), 404);
    CHECK_EQ_INT(status(L->srv, "cam1/index.m3u8", NULL, NULL, NULL, 0), 404);
}

/* Distinct playlist clients count as viewers; parts and repeated polls do not add any. */
static void live_viewers(struct live *L)
{
    CHECK_EQ_INT(hls_viewers(L->srv, "cam1"), 0);
    const char *clients[] = {"10.0.0.1", "10.0.0.2", "10.0.0.1", "2001:db8::1"};
    for (int i = 0; i < 4; i++) {
        struct hls_request rq = {MEDIA, NULL, NULL, NULL, 0, clients[i]};
        struct hls_response r;
        CHECK_EQ_INT(hls_handle(L->srv, &rq, &r), 0);
        blob_unref(r.body);
    }
    struct hls_request idx = {"cam1/index.m3u8", NULL, NULL, NULL, 0, "10.0.0.2"};
    struct hls_response r;
    CHECK_EQ_INT(hls_handle(L->srv, &idx, &r), 0);
    blob_unref(r.body);
    CHECK_EQ_INT(hls_viewers(L->srv, "cam1"), 3);
    CHECK_EQ_INT(hls_viewers(L->srv, "nosuch"), -ENOENT);
}

static void test_live(void)
{
    struct live L = {0};
    L.reg = hub_registry_create();
    L.m = metrics_create();
    L.srv = make_server(L.reg, L.m, 1.0);
    L.hub = start_hub(L.reg, "cam1", true, true);
    live_first_playlist(&L);
    live_viewers(&L);
    live_files(&L);
    live_parts_and_segments(&L);
    live_blocking(&L);
    live_bad_requests(&L);
    live_deadline(&L);
    live_window_and_skip(&L);
    live_end_and_linger(&L);
    hls_server_destroy(&L.srv);
    CHECK(L.srv == NULL);
    hub_registry_destroy(&L.reg);
    metrics_destroy(&L.m);
}

/* ---- other streams ---- */

/* A republish under the same name replaces the ended stream at once, with new URIs. */
static void test_republish(void)
{
    struct hub_registry *reg = hub_registry_create();
    struct metrics *m = metrics_create();
    struct hls_server *srv = make_server(reg, m, 30);
    struct hub *hub = start_hub(reg, "cam2", true, true);
    int i = 0;
    push_until(hub, &i, 3000);
    hub_end(hub);
    hub_unrefp(&hub);
    char *pl = text(srv, "cam2/source/media.m3u8", NULL, NULL, NULL);
    char old[32], sid[32], path[128];
    sid_of(pl ? pl : "", old);
    CHECK(has(pl, "#EXT-X-ENDLIST"));
    free(pl);
    snprintf(path, sizeof(path), "cam2/source/init-%s.mp4", old);
    CHECK_EQ_INT(status(srv, path, NULL, NULL, NULL, 0), 200);

    hub = start_hub(reg, "cam2", true, true);
    CHECK_EQ_INT(status(srv, "cam2/source/media.m3u8", NULL, NULL, NULL, 0), -1);
    CHECK_EQ_INT(status(srv, path, NULL, NULL, NULL, 0), 404);
    i = 0;
    push_until(hub, &i, 4500);
    pl = text(srv, "cam2/source/media.m3u8", NULL, NULL, NULL);
    sid_of(pl ? pl : "", sid);
    CHECK(strlen(sid) > 0 && strcmp(sid, old) != 0);
    CHECK(!has(pl, "#EXT-X-ENDLIST"));
    free(pl);
    hub_end(hub);
    hub_unrefp(&hub);
    hls_server_destroy(&srv);
    hub_registry_destroy(&reg);
    metrics_destroy(&m);
}

/* hls_server_destroy wakes every waiter; the hub may end after it. */
static void test_destroy_wakes(void)
{
    struct hub_registry *reg = hub_registry_create();
    struct metrics *m = metrics_create();
    struct hls_server *srv = make_server(reg, m, 30);
    struct hub *hub = start_hub(reg, "cam3", true, true);
    int i = 0;
    push_until(hub, &i, 2500);
    struct wake_count w = {0};
    CHECK_EQ_INT(wait_on(srv, "cam3/source/media.m3u8", "1", NULL, &w), 0);
    CHECK_EQ_INT(metrics_value(m, "kibitka_hls_blocking_requests", NULL), 1);
    hls_server_destroy(&srv);
    CHECK_EQ_INT(w.n, 1);
    CHECK_EQ_INT(metrics_value(m, "kibitka_hls_blocking_requests", NULL), 0);
    push_until(hub, &i, 3000); /* the sink outlives the server harmlessly */
    hub_end(hub);
    hub_unrefp(&hub);
    CHECK_EQ_INT(w.n, 1);
    hub_registry_destroy(&reg);
    metrics_destroy(&m);
}

/* Audio only: segments cut by time at part boundaries, every part independent. */
static void test_audio_only(void)
{
    struct hub_registry *reg = hub_registry_create();
    struct metrics *m = metrics_create();
    struct hls_server *srv = make_server(reg, m, 30);
    struct hub *hub = NULL;
    CHECK_EQ_INT(hub_registry_claim(reg, "radio", &hub), 0);
    struct hub_track tr = {clip.par[1], {1, 1000}, {0, 1}};
    CHECK_EQ_INT(hub_start(hub, &tr, 1), 0);
    for (int i = 0; i < clip.n; i++)
        if (clip.pkts[i].pkt->stream_index == 1 && clip.pkts[i].pkt->dts < 10000) {
            AVPacket *p = av_packet_clone(clip.pkts[i].pkt);
            p->stream_index = 0;
            push(hub, p);
            av_packet_free(&p);
        }
    char *pl = text(srv, "radio/source/media.m3u8", NULL, NULL, NULL);
    CHECK(has(pl, "#EXT-X-TARGETDURATION:2\n"));
    CHECK(count(pl ? pl : "", "#EXTINF:") >= 4);
    CHECK_EQ_INT(count(pl ? pl : "", "INDEPENDENT=YES"), count(pl ? pl : "", "#EXT-X-PART:"));
    double d;
    for (const char *p = pl; p && (p = strstr(p, "#EXTINF:")); p++)
        CHECK(sscanf(p, "#EXTINF:%lf", &d) == 1 && d > 1.5 && d <= 2.0);
    free(pl);
    pl = text(srv, "radio/index.m3u8", NULL, NULL, NULL);
    CHECK(has(pl, "CODECS=\"mp4a.40.2\"\n"));
    CHECK(!has(pl, "RESOLUTION"));
    free(pl);
    hub_end(hub);
    hub_unrefp(&hub);
    hls_server_destroy(&srv);
    hub_registry_destroy(&reg);
    metrics_destroy(&m);
}

/* Closed captions (CEA-608 in an A/53 SEI) that start 3 s into the stream: the multivariant
 * playlist says CLOSED-CAPTIONS=NONE until they come, and not after, so that players look for
 * them in the video. */
static void test_captions(void)
{
    /* An SEI NAL unit: payload type 4, 14 bytes: the A/53 header, cc_count 1, one padding
     * triplet, the marker; then the RBSP's trailing bits. */
    static const uint8_t sei[] = {0x06, 0x04, 0x0e, 0xb5, 0x00, 0x31, 'G',  'A',  '9',
                                  '4',  0x03, 0x41, 0xff, 0xfc, 0x80, 0x80, 0xff, 0x80};
    struct one_stream o = one_stream_start("cc");
    int i = 0;
    push_until(o.hub, &i, 3000);
    char *pl = text(o.srv, "cc/index.m3u8", NULL, NULL, NULL);
    CHECK(has(pl, "RESOLUTION=160x96,FRAME-RATE=30.000,CLOSED-CAPTIONS=NONE\n"));
    free(pl);
    for (; i < clip.n && clip.pkts[i].pkt->dts < 6000; i++) {
        const AVPacket *in = clip.pkts[i].pkt;
        AVPacket *p = av_packet_clone(in);
        if (in->stream_index == 0) { /* 4-byte NAL lengths (clip_avcc) */
            uint8_t *data =
                av_malloc((size_t)in->size + 4 + sizeof(sei) + AV_INPUT_BUFFER_PADDING_SIZE);
            data[0] = data[1] = data[2] = 0;
            data[3] = sizeof(sei);
            memcpy(data + 4, sei, sizeof(sei));
            memcpy(data + 4 + sizeof(sei), in->data, (size_t)in->size);
            av_packet_unref(p);
            CHECK_EQ_INT(av_packet_from_data(p, data, in->size + 4 + (int)sizeof(sei)), 0);
            av_packet_copy_props(p, in);
        }
        push(o.hub, p);
        av_packet_free(&p);
    }
    pl = text(o.srv, "cc/index.m3u8", NULL, NULL, NULL);
    CHECK(has(pl, "RESOLUTION=160x96,FRAME-RATE=30.000\nsource/media.m3u8\n"));
    CHECK(!has(pl, "CLOSED-CAPTIONS"));
    free(pl);
    one_stream_end(&o);
}

/* A frame longer than the others just before a keyframe (video timestamps 50 ms late from that
 * keyframe on, as at the seam of ffmpeg's -stream_loop): it does not fit in the segment's fourth
 * part and makes a fifth of its own. The fourth is published with it, never alone: hls.js 1.7,
 * given the fourth and then the fifth a frame later, could miss the fifth and load nothing for
 * 6 s. */
static void test_long_last_frame(void)
{
    struct one_stream o = one_stream_start("seam");
    int64_t key_dts = -1;
    for (int i = 0; i < clip.n; i++)
        if (clip.pkts[i].pkt->stream_index == 0 && clip.pkts[i].pkt->pts == 4000)
            key_dts = clip.pkts[i].pkt->dts;
    CHECK(key_dts > 3800);
    struct wake_count w = {0};
    bool registered = false, checked = false;
    for (int i = 0; i < clip.n && clip.pkts[i].pkt->dts < 6000; i++) {
        AVPacket *p = av_packet_clone(clip.pkts[i].pkt);
        if (p->stream_index == 0 && p->dts >= key_dts) {
            p->dts += 50;
            p->pts += 50;
        }
        push(o.hub, p);
        av_packet_free(&p);
        if (!registered && status(o.srv, "seam/source/media.m3u8", NULL, NULL, NULL, 0) == 200) {
            /* the first segment is out: wait for segment 1's fourth part */
            CHECK_EQ_INT(wait_on(o.srv, "seam/source/media.m3u8", "1", "3", &w), 0);
            registered = true;
        }
        if (w.n > 0 && !checked) {
            char *pl = text(o.srv, "seam/source/media.m3u8", NULL, NULL, NULL);
            char sid[32];
            sid_of(pl ? pl : "", sid);
            char want[96];
            snprintf(want, sizeof(want), "URI=\"part-%s-1.4.m4s\"\n#EXTINF:", sid);
            CHECK(has(pl, want)); /* the fifth part, and the segment complete */
            free(pl);
            checked = true;
        }
    }
    CHECK(checked);
    char *pl = text(o.srv, "seam/source/media.m3u8", NULL, NULL, NULL);
    /* The fifth part is the frame alone: 83 ms. */
    const char *p5 = pl ? strstr(pl, "-1.4.m4s") : NULL;
    CHECK(p5 != NULL);
    if (p5) {
        const char *d = p5;
        while (d > pl && strncmp(d, "DURATION=", 9) != 0)
            d--;
        CHECK(strncmp(d, "DURATION=0.08", 13) == 0);
    }
    free(pl);
    one_stream_end(&o);
}

/* A GOP longer than the target: the segment is cut between keyframes rather than exceed the
 * target duration (EXTINF rounds to at most TARGETDURATION), and the target never changes. */
static void test_long_gop(void)
{
    struct one_stream o = one_stream_start("cam4");
    for (int i = 0; i < clip.n && clip.pkts[i].pkt->dts < 12000; i++) {
        AVPacket *p = av_packet_clone(clip.pkts[i].pkt);
        if (p->stream_index == 0 && (p->pts == 4000 || p->pts == 6000))
            p->flags &= ~AV_PKT_FLAG_KEY; /* a 6 s GOP from 2 s to 8 s */
        push(o.hub, p);
        av_packet_free(&p);
    }
    char *pl = text(o.srv, "cam4/source/media.m3u8", NULL, NULL, NULL);
    CHECK(has(pl, "#EXT-X-TARGETDURATION:2\n"));
    double d, longest = 0;
    int n = 0;
    for (const char *p = pl; p && (p = strstr(p, "#EXTINF:")); p++, n++)
        if (sscanf(p, "#EXTINF:%lf", &d) == 1 && d > longest)
            longest = d;
    CHECK(n >= 5);
    CHECK(longest > 2.0 && longest < 2.5);
    free(pl);
    one_stream_end(&o);
}

/* ---- concurrency: HTTP-like threads doing blocking reloads while the source pushes ---- */

struct reloader {
    struct hls_server *srv;
    sem_t woken;
    atomic_int registered, wakes;
    int answers, errors;
};

static void on_wake_sem(void *arg)
{
    struct reloader *r = arg;
    atomic_fetch_add(&r->wakes, 1);
    sem_post(&r->woken);
}

/* Follows the live edge part by part, as an LL-HLS client does, until ENDLIST. */
static void *reload_loop(void *arg)
{
    struct reloader *r = arg;
    char *pl = NULL;
    while (!(pl = text(r->srv, "cam5/source/media.m3u8", NULL, NULL, NULL)))
        usleep(1000);
    for (;;) {
        int64_t msn;
        int part;
        bool live = hint_of(pl, &msn, &part);
        free(pl);
        if (!live)
            return NULL;
        char smsn[32], spart[32];
        snprintf(smsn, sizeof(smsn), "%lld", (long long)msn);
        snprintf(spart, sizeof(spart), "%d", part);
        struct hls_request rq = {"cam5/source/media.m3u8", smsn, spart, NULL, 0, NULL};
        struct hls_response resp;
        while (hls_handle(r->srv, &rq, &resp) == HLS_BLOCK) {
            rq.wait_started_us = rq.wait_started_us ? rq.wait_started_us : clock_mono_us();
            if (hls_wait(r->srv, &rq, on_wake_sem, r) == 0) {
                atomic_fetch_add(&r->registered, 1);
                sem_wait(&r->woken);
            }
        }
        if (resp.status != 200) {
            r->errors++;
            return NULL;
        }
        r->answers++;
        pl = xstrndup((const char *)resp.body->data, resp.body->len);
        blob_unref(resp.body);
    }
}

static void test_threads(void)
{
    struct hub_registry *reg = hub_registry_create();
    struct metrics *m = metrics_create();
    struct hls_server *srv = make_server(reg, m, 30);
    struct hub *hub = start_hub(reg, "cam5", true, true);
    struct reloader r[3];
    pthread_t th[3];
    for (int t = 0; t < 3; t++) {
        r[t] = (struct reloader){.srv = srv};
        sem_init(&r[t].woken, 0, 0);
        pthread_create(&th[t], NULL, reload_loop, &r[t]);
    }
    for (int i = 0; i < clip.n && clip.pkts[i].pkt->dts < 12000; i++) {
        push(hub, clip.pkts[i].pkt);
        usleep(100);
        if (i % 50 == 0)
            hls_server_tick(srv);
    }
    hub_end(hub);
    hub_unrefp(&hub);
    for (int t = 0; t < 3; t++) {
        pthread_join(th[t], NULL);
        CHECK_EQ_INT(r[t].errors, 0);
        CHECK(r[t].answers >= 10);
        CHECK_EQ_INT(atomic_load(&r[t].wakes), atomic_load(&r[t].registered));
        sem_destroy(&r[t].woken);
    }
    CHECK_EQ_INT(metrics_value(m, "kibitka_hls_blocking_requests", NULL), 0);
    hls_server_destroy(&srv);
    hub_registry_destroy(&reg);
    metrics_destroy(&m);
}

/* More segments held than the segment array's first allocation (16), all at once (a publisher
 * faster than real time, or the keep window at real time): the array grows under the open
 * segment and the numbering goes on. Found by the 8x recording e2e test as a use-after-free. */
static void test_many_segments(void)
{
    struct hub_registry *reg = hub_registry_create();
    struct metrics *m = metrics_create();
    struct hls_server *srv = make_server(reg, m, 30);
    struct hub *hub = start_hub(reg, "many", true, true);
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < clip.n; i++) {
            AVPacket *p = av_packet_clone(clip.pkts[i].pkt);
            p->pts += 30000 * k;
            p->dts += 30000 * k;
            push(hub, p);
            av_packet_free(&p);
        }
    char *pl = text(srv, "many/source/media.m3u8", NULL, NULL, NULL);
    CHECK(has(pl, "seg-") && count(pl, "#EXTINF:") >= 12);
    CHECK(strstr(pl ? pl : "", "-43.m4s\n")); /* 45 segments of 2 s, the last one still open */
    free(pl);
    hub_end(hub);
    hub_unrefp(&hub);
    hls_server_destroy(&srv);
    hub_registry_destroy(&reg);
    metrics_destroy(&m);
}

int main(void)
{
    av_log_set_level(AV_LOG_ERROR);
    if (clip_make(&clip, 30, 30, 60, true) < 0) {
        fprintf(stderr, "test_hls: cannot encode the test clip (libx264 and aac needed)\n");
        return 1;
    }
    test_live();
    test_republish();
    test_destroy_wakes();
    test_audio_only();
    test_long_gop();
    test_captions();
    test_long_last_frame();
    test_threads();
    test_many_segments();
    clip_free(&clip);
    return test_report("test_hls");
}
