/* The packager with a transcode ladder (source, one encoded rung, each with the audio muxed in),
 * without HTTP: rendition reports in every media playlist, parts never longer than PART-TARGET
 * (in the playlist and in the media), the audio in every part of every rendition, and a stalled
 * rung holding back neither the source nor the multivariant playlist. Also parts within
 * PART-TARGET with --ladder none. */
#include "packager/hls.h"

#include <libavformat/avformat.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "clip.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "media/boxes.h"
#include "test.h"
#include "transcode/ladder.h"

#include "hls_helpers.h"

/* The clip is 160x96: one encoded rung below it. */
#define LADDER "source,64p:100k"

static struct hls_server *make_ladder_server(struct hub_registry *reg, struct metrics *m,
                                             struct ladder *l, const char *spec)
{
    char err[128];
    CHECK_EQ_INT(ladder_parse(spec, l, err, sizeof(err)), 0);
    struct hls_config cfg = {.part_seconds = 0.5,
                             .linger_seconds = 30,
                             .ladder = l,
                             .x264_preset = "ultrafast",
                             .metrics = m};
    return hls_server_create(&cfg, reg);
}

/* Pushes the clip from *i up to ms at about 8x real time, so the rung's worker keeps up. */
static void push_paced(struct hub *hub, int *i, int64_t ms)
{
    while (*i < clip.n && clip.pkts[*i].pkt->dts < ms) {
        push(hub, clip.pkts[(*i)++].pkt);
        usleep(2000);
    }
}

/* The rendition's playlist, or NULL. */
static char *playlist(struct hls_server *srv, const char *stream, const char *rendition)
{
    char path[96];
    snprintf(path, sizeof(path), "%s/%s/media.m3u8", stream, rendition);
    return text(srv, path, NULL, NULL, NULL);
}

/* The last part a playlist lists: its segment and index (false when none). */
static bool last_part(const char *pl, int64_t *msn, int *part)
{
    const char *p = pl, *last = NULL;
    while (p && (p = strstr(p, "#EXT-X-PART:")))
        last = p++;
    if (!last || !(last = strstr(last, "URI=\"part-")))
        return false;
    last = strchr(last + 10, '-');
    long long m;
    return last && sscanf(last + 1, "%lld.%d.m4s", &m, part) == 2 && (*msn = m, true);
}

/* The report about rendition r in pl: true with its LAST-MSN and LAST-PART. */
static bool report_of(const char *pl, const char *r, int64_t *msn, int *part)
{
    char tag[96];
    snprintf(tag, sizeof(tag), "#EXT-X-RENDITION-REPORT:URI=\"../%s/media.m3u8\",", r);
    const char *p = pl ? strstr(pl, tag) : NULL;
    long long m;
    return p && sscanf(p + strlen(tag), "LAST-MSN=%lld,LAST-PART=%d", &m, part) == 2 &&
           (*msn = m, true);
}

/* Each other rendition is reported once, with a part that exists and is no later than its
 * own playlist's last; the rendition itself is not reported. */
static void check_reports(struct hls_server *srv, const char *self, const char *const *others,
                          int n)
{
    char *pl = playlist(srv, "lad", self), *sid_pl = pl;
    char sid[32];
    sid_of(sid_pl ? sid_pl : "", sid);
    CHECK_EQ_INT(count(pl ? pl : "", "#EXT-X-RENDITION-REPORT:"), n);
    char tag[64];
    snprintf(tag, sizeof(tag), "\"../%s/media.m3u8\"", self);
    CHECK(!has(pl, tag));
    for (int i = 0; i < n; i++) {
        int64_t msn = -1, last_msn = -1;
        int part = -1, last = -1;
        CHECK(report_of(pl, others[i], &msn, &part));
        char *other = playlist(srv, "lad", others[i]);
        CHECK(last_part(other, &last_msn, &last));
        CHECK(msn < last_msn || (msn == last_msn && part <= last));
        char path[128];
        snprintf(path, sizeof(path), "lad/%s/part-%s-%lld.%d.m4s", others[i], sid, (long long)msn,
                 part);
        CHECK_EQ_INT(status(srv, path, NULL, NULL, NULL, 0), 200);
        fprintf(stderr, "%s reports %s at %lld.%d (its last: %lld.%d)\n", self, others[i],
                (long long)msn, part, (long long)last_msn, last);
        free(other);
    }
    free(pl);
}

/* The boxes of the part the EXT-X-PART tag at p names, read after init's. */
static void part_boxes(struct hls_server *srv, const char *stream, const char *rendition,
                       const char *p, const struct blob *init, struct boxes *b)
{
    char uri[96] = "", path[160];
    sscanf(strstr(p, "URI=\"") + 5, "%95[^\"]", uri);
    snprintf(path, sizeof(path), "%s/%s/%s", stream, rendition, uri);
    struct blob *part = fetch(srv, path);
    *b = (struct boxes){0};
    boxes_read(b, init->data, init->len);
    if (part)
        boxes_read(b, part->data, part->len);
    blob_unref(part);
}

/* Every EXT-X-PART of the playlist lasts at most PART-TARGET; with handler set ("vide",
 * "soun"), so do that track's samples in the part itself (its trun durations, read with the
 * init section's timescale), which also match DURATION within a sample. Returns the number of
 * parts. */
static int check_parts(struct hls_server *srv, const char *stream, const char *rendition,
                       const char *handler)
{
    char *pl = playlist(srv, stream, rendition), sid[32], path[160];
    sid_of(pl ? pl : "", sid);
    snprintf(path, sizeof(path), "%s/%s/init-%s.mp4", stream, rendition, sid);
    struct blob *init = fetch(srv, path);
    CHECK(init != NULL);
    const char *pt = pl ? strstr(pl, "#EXT-X-PART-INF:PART-TARGET=") : NULL;
    double target = pt ? atof(pt + 28) : 0, longest = 0, longest_media = 0;
    CHECK(target == 0.5);
    int n = 0;
    for (const char *p = pl; p && init && (p = strstr(p, "#EXT-X-PART:DURATION=")); p++, n++) {
        double d = atof(p + 21);
        CHECK(d > 0 && d <= target);
        longest = d > longest ? d : longest;
        struct boxes b;
        part_boxes(srv, stream, rendition, p, init, &b);
        struct box_track *t = boxes_by_handler(&b, handler);
        CHECK(t && t->timescale > 0);
        if (!t || t->timescale == 0)
            break;
        double media = (double)t->duration / t->timescale;
        CHECK(media <= target + 1e-6);
        CHECK(fabs(media - d) <= 1.0 / t->timescale + 1e-5);
        longest_media = media > longest_media ? media : longest_media;
    }
    fprintf(stderr, "%s/%s: %d parts, the longest %.5f s (media %.5f s), PART-TARGET %.3f\n",
            stream, rendition, n, longest, longest_media, target);
    blob_unref(init);
    free(pl);
    return n;
}

/* How many of the rendition's parts carry audio (an AAC track with samples), and through *all,
 * whether every part does; *seconds sums the audio. */
static int audio_parts(struct hls_server *srv, const char *stream, const char *rendition, bool *all,
                       double *seconds)
{
    char *pl = playlist(srv, stream, rendition), sid[32], path[160];
    sid_of(pl ? pl : "", sid);
    snprintf(path, sizeof(path), "%s/%s/init-%s.mp4", stream, rendition, sid);
    struct blob *init = fetch(srv, path);
    int n = 0, with = 0;
    *seconds = 0;
    for (const char *p = pl; p && init && (p = strstr(p, "#EXT-X-PART:DURATION=")); p++, n++) {
        struct boxes b;
        part_boxes(srv, stream, rendition, p, init, &b);
        struct box_track *t = boxes_by_handler(&b, "soun");
        if (t && t->timescale > 0 && t->duration > 0) {
            with++;
            *seconds += (double)t->duration / t->timescale;
        }
    }
    *all = n > 0 && with == n;
    blob_unref(init);
    free(pl);
    return with;
}

/* The ladder: rendition reports and part durations. */
static void test_ladder(void)
{
    struct hub_registry *reg = hub_registry_create();
    struct metrics *m = metrics_create();
    struct ladder l;
    struct hls_server *srv = make_ladder_server(reg, m, &l, LADDER);
    struct hub *hub = start_hub(reg, "lad", true, true);
    int i = 0;
    push_paced(hub, &i, 12000);
    /* Let the rung catch up with the source (it is behind by its encoder's delay). */
    for (int k = 0; k < 50; k++) {
        usleep(20000);
        hls_server_tick(srv);
    }
    push_paced(hub, &i, 12500);
    char *mv = text(srv, "lad/index.m3u8", NULL, NULL, NULL);
    CHECK(has(mv, "source/media.m3u8") && has(mv, "64p/media.m3u8"));
    /* No separate audio rendition: every variant carries it (CODECS says so). */
    CHECK(!has(mv, "TYPE=AUDIO") && !has(mv, "audio/media") && count(mv, ",mp4a.40.") == 2);
    free(mv);

    check_reports(srv, "source", (const char *const[]){"64p"}, 1);
    check_reports(srv, "64p", (const char *const[]){"source"}, 1);

    CHECK(check_parts(srv, "lad", "source", "vide") >= 8);
    CHECK(check_parts(srv, "lad", "64p", "vide") >= 8);
    /* The audio is in every part of both, the rung's as much of it as the source's. */
    const char *rs[] = {"source", "64p"};
    double secs[2];
    for (int r = 0; r < 2; r++) {
        bool all = false;
        int n = audio_parts(srv, "lad", rs[r], &all, &secs[r]);
        fprintf(stderr, "%s: audio in %d parts (all: %d), %.3f s of it\n", rs[r], n, all, secs[r]);
        CHECK(n >= 8 && all);
    }
    CHECK(fabs(secs[0] - secs[1]) < 1.0);

    /* A player that switches follows the report: the next part after the reported one. */
    char *pl = playlist(srv, "lad", "source");
    int64_t msn = -1;
    int part = -1;
    CHECK(report_of(pl, "64p", &msn, &part));
    free(pl);
    char smsn[32], spart[32];
    snprintf(smsn, sizeof(smsn), "%lld", (long long)msn);
    snprintf(spart, sizeof(spart), "%d", part + 1);
    int st = status(srv, "lad/64p/media.m3u8", smsn, spart, NULL, 0);
    CHECK(st == 200 || st == -1);

    hub_end(hub);
    hub_unrefp(&hub);
    pl = playlist(srv, "lad", "source");
    CHECK(has(pl, "#EXT-X-ENDLIST") && !has(pl, "RENDITION-REPORT")); /* ended: no reports */
    free(pl);
    hls_server_destroy(&srv);
    hub_registry_destroy(&reg);
    metrics_destroy(&m);
}

/* The segment that follows playlist pl's only EXT-X-DISCONTINUITY (its msn), -1 when there is
 * not exactly one; *longest is the longest EXTINF. */
static int64_t discontinuity_msn(const char *pl, double *longest)
{
    *longest = 0;
    for (const char *p = pl; p && (p = strstr(p, "#EXTINF:")); p++)
        *longest = atof(p + 8) > *longest ? atof(p + 8) : *longest;
    const char *d = pl ? strstr(pl, "#EXT-X-DISCONTINUITY\n") : NULL;
    if (!d || strstr(d + 1, "#EXT-X-DISCONTINUITY\n"))
        return -1;
    const char *seg = strstr(d, "\nseg-");
    long long msn = -1;
    if (!seg || sscanf(strchr(seg + 5, '-') + 1, "%lld.m4s", &msn) != 1)
        return -1;
    return msn;
}

/* A publisher whose timestamps jump by delta_ms at 7 s (mid-GOP): the hub rebases them and every
 * rendition, the encoded rung included, has one EXT-X-DISCONTINUITY before
 * the same segment (the one starting at the source's next keyframe, 8 s) and no EXTINF longer
 * than the target (issue 11 item 5). */
static void test_jump(int64_t delta_ms)
{
    struct hub_registry *reg = hub_registry_create();
    struct metrics *m = metrics_create();
    struct ladder l;
    struct hls_server *srv = make_ladder_server(reg, m, &l, LADDER);
    struct hub *hub = start_hub(reg, "lad", true, true);
    AVPacket *p = av_packet_alloc();
    for (int i = 0; i < clip.n && clip.pkts[i].pkt->dts < 14000; i++) {
        av_packet_ref(p, clip.pkts[i].pkt);
        if (p->dts >= 7000) {
            p->dts += delta_ms;
            p->pts += delta_ms;
        }
        push(hub, p);
        av_packet_unref(p);
        usleep(2000);
    }
    av_packet_free(&p);
    for (int k = 0; k < 50; k++) { /* the rung catches up */
        usleep(20000);
        hls_server_tick(srv);
    }
    hub_end(hub);
    hub_unrefp(&hub);
    for (int k = 0; k < 100; k++) { /* the worker flushes the rung */
        usleep(20000);
        hls_server_tick(srv);
    }
    const char *rs[] = {"source", "64p"};
    for (int r = 0; r < 2; r++) {
        char *pl = playlist(srv, "lad", rs[r]);
        double longest;
        int64_t msn = discontinuity_msn(pl, &longest);
        fprintf(stderr,
                "jump %+lld ms: %s: discontinuity before segment %lld, longest EXTINF %.3f\n",
                (long long)delta_ms, rs[r], (long long)msn, longest);
        CHECK_EQ_INT(msn, 4); /* segments 0-3 are 0-8 s */
        CHECK(longest > 1.5 && longest < 2.5);
        CHECK(has(pl, "#EXT-X-TARGETDURATION:2\n") && has(pl, "#EXT-X-ENDLIST"));
        free(pl);
    }
    hls_server_destroy(&srv);
    hub_registry_destroy(&reg);
    metrics_destroy(&m);
}

/* --ladder none: one muxed rendition; its parts (their video) within PART-TARGET. */
static void test_no_ladder(void)
{
    struct one_stream o = one_stream_start("one");
    int i = 0;
    push_until(o.hub, &i, 12000);
    CHECK(check_parts(o.srv, "one", "source", "vide") >= 8);
    char *pl = playlist(o.srv, "one", "source");
    CHECK(!has(pl, "RENDITION-REPORT")); /* no other rendition */
    free(pl);
    one_stream_end(&o);
}

/* Registers a blocking reload for the part after the playlist's hint on rendition r; returns
 * the part's path (for checking when it exists). */
static void wait_next(struct hls_server *srv, const char *r, struct wake_count *w, char *part_path,
                      size_t n)
{
    char *pl = playlist(srv, "lag", r), sid[32];
    int64_t msn = -1;
    int part = -1;
    CHECK(hint_of(pl ? pl : "", &msn, &part));
    sid_of(pl ? pl : "", sid);
    free(pl);
    char path[64], smsn[32], spart[32];
    snprintf(path, sizeof(path), "lag/%s/media.m3u8", r);
    snprintf(smsn, sizeof(smsn), "%lld", (long long)msn);
    snprintf(spart, sizeof(spart), "%d", part);
    CHECK_EQ_INT(wait_on(srv, path, smsn, spart, w), 0);
    snprintf(part_path, n, "lag/%s/part-%s-%lld.%d.m4s", r, sid, (long long)msn, part);
}

/* A rung whose worker is stuck entirely (KIBITKA_TEST_WORKER_STALL): the source's blocking
 * reloads are answered the moment their part exists, part after part, and
 * the multivariant playlist comes two target durations after the source is ready, without the
 * stuck rung, instead of waiting for it until it gives up (503 after 15 s). */
static void test_stalled_rung(void)
{
    setenv("KIBITKA_TEST_WORKER_STALL", "1", 1);
    struct hub_registry *reg = hub_registry_create();
    struct metrics *m = metrics_create();
    struct ladder l;
    struct hls_server *srv = make_ladder_server(reg, m, &l, LADDER);
    struct hub *hub = start_hub(reg, "lag", true, true);
    int i = 0;
    push_until(hub, &i, 4500);
    CHECK_EQ_INT(status(srv, "lag/64p/media.m3u8", NULL, NULL, NULL, 0), -1);

    /* The multivariant playlist: blocked while the rung may still come, then answered. */
    int64_t asked = clock_mono_us();
    CHECK_EQ_INT(status(srv, "lag/index.m3u8", NULL, NULL, NULL, 0), -1);
    struct wake_count mw = {0};
    struct hls_request rq = {"lag/index.m3u8", NULL, NULL, NULL, asked, NULL};
    CHECK_EQ_INT(hls_wait(srv, &rq, on_wake, &mw), 0);

    /* Meanwhile the source advances part by part. */
    int answered = 0;
    for (int round = 0; round < 12; round++) {
        struct wake_count ws = {0};
        char src_part[128];
        wait_next(srv, "source", &ws, src_part, sizeof(src_part));
        while (ws.n == 0 && i < clip.n) {
            push(hub, clip.pkts[i++].pkt);
            /* woken by the very push that made the part: not a moment later */
            CHECK_EQ_INT(ws.n, status(srv, src_part, NULL, NULL, NULL, 0) == 200 ? 1 : 0);
        }
        answered += ws.n;
        usleep(100000);
        hls_server_tick(srv);
    }
    CHECK_EQ_INT(answered, 12);
    while (mw.n == 0 && clock_mono_us() - asked < 7000000) {
        usleep(50000);
        hls_server_tick(srv);
    }
    CHECK_EQ_INT(mw.n, 1);
    struct hls_response r;
    CHECK_EQ_INT(ask(srv, "lag/index.m3u8", NULL, NULL, NULL, asked, &r), 0);
    CHECK_EQ_INT(r.status, 200);
    char *mv = r.body ? xstrndup((const char *)r.body->data, r.body->len) : NULL;
    blob_unref(r.body);
    CHECK(has(mv, "source/media.m3u8") && has(mv, "mp4a.40."));
    CHECK(!has(mv, "64p"));
    fprintf(stderr, "multivariant after %.2f s without the stalled rung\n",
            (double)(clock_mono_us() - asked) / 1e6);
    free(mv);
    /* The stalled rung is not reported: it has no playlist. */
    char *pl = playlist(srv, "lag", "source");
    CHECK(!has(pl, "../64p/") && !has(pl, "RENDITION-REPORT"));
    free(pl);

    hub_end(hub);
    hub_unrefp(&hub);
    hls_server_destroy(&srv);
    hub_registry_destroy(&reg);
    unsetenv("KIBITKA_TEST_WORKER_STALL");
    metrics_destroy(&m);
}

int main(void)
{
    (void)decode; /* helpers test_hls.c uses */
    (void)tag_int;
    av_log_set_level(AV_LOG_ERROR);
    if (clip_make(&clip, 30, 30, 60, true) < 0) {
        fprintf(stderr, "test_hls_ladder: cannot encode the test clip (libx264 and aac needed)\n");
        return 1;
    }
    test_ladder();
    test_no_ladder();
    test_stalled_rung();
    test_jump(3LL * 3600 * 1000);
    test_jump(-3LL * 3600 * 1000);
    clip_free(&clip);
    return test_report("test_hls_ladder");
}
