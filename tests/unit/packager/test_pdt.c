/* EXT-X-PROGRAM-DATE-TIME against jittery arrival times: a source with B-frames whose packets
 * arrive up to 60 ms early or late, through a ladder (the source, and one encoded rung without
 * B-frames, each with the audio muxed in). Each segment's PDT must follow the previous one by
 * exactly its EXTINF; a segment must have the same PDT in every rendition; and PDT minus the
 * segment's first decode time (tfdt) must be the same everywhere. Players that place segments by
 * PDT (Shaka Player maps each segment's tfdt to its PDT) saw holes and overlaps when PDT was each
 * segment's arrival time, and holes when switching between the source and a rung whose segments
 * started at decode times 67 ms apart. */
#include "packager/hls.h"

#include <libavformat/avformat.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "clip.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "test.h"
#include "transcode/ladder.h"

/* The shared helpers; this test uses only some of them. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "hls_helpers.h"

#define MAX_SEGS 64

struct seg_times {
    int n;
    int64_t msn[MAX_SEGS], pdt_ms[MAX_SEGS], extinf_ms[MAX_SEGS];
};

/* Milliseconds since WALL0's midnight of a PDT value (the test stays within one day). */
static int64_t pdt_ms(const char *v)
{
    int h, m;
    double s;
    if (sscanf(v, "2026-01-01T%d:%d:%lfZ", &h, &m, &s) != 3)
        return -1;
    return ((int64_t)h * 3600 + m * 60) * 1000 + (int64_t)(s * 1000 + 0.5);
}

/* Each complete segment's PDT and EXTINF, from a finished playlist. */
static struct seg_times times_of(const char *pl)
{
    struct seg_times t = {0};
    int64_t pdt = -1, msn = tag_int(pl, "#EXT-X-MEDIA-SEQUENCE:");
    for (const char *l = pl; l && *l; l = strchr(l, '\n'), l += l ? 1 : 0) {
        double d;
        if (strncmp(l, "#EXT-X-PROGRAM-DATE-TIME:", 25) == 0)
            pdt = pdt_ms(l + 25);
        else if (sscanf(l, "#EXTINF:%lf,", &d) == 1 && t.n < MAX_SEGS) {
            t.msn[t.n] = msn++;
            t.pdt_ms[t.n] = pdt;
            t.extinf_ms[t.n++] = (int64_t)(d * 1000 + 0.5);
            pdt = -1;
        }
    }
    return t;
}

/* The first packet's decode time (ms) of a segment, read from init + segment as a player would. */
static int64_t first_dts_ms(struct hls_server *srv, const char *rendition, const char *sid,
                            int64_t msn)
{
    char path[128], file[64];
    snprintf(path, sizeof(path), "jit/%s/init-%s.mp4", rendition, sid);
    struct blob *init = fetch(srv, path);
    snprintf(path, sizeof(path), "jit/%s/seg-%s-%lld.m4s", rendition, sid, (long long)msn);
    struct blob *seg = fetch(srv, path);
    int64_t dts = INT64_MIN;
    snprintf(file, sizeof(file), "/tmp/kibitka-test-pdt-%d.mp4", (int)getpid());
    FILE *f = init && seg ? fopen(file, "wb") : NULL;
    AVFormatContext *fmt = NULL;
    AVPacket *pkt = av_packet_alloc();
    if (f) {
        fwrite(init->data, 1, init->len, f);
        fwrite(seg->data, 1, seg->len, f);
        fclose(f);
        if (avformat_open_input(&fmt, file, NULL, NULL) == 0 && av_read_frame(fmt, pkt) == 0)
            dts = av_rescale_q(pkt->dts, fmt->streams[pkt->stream_index]->time_base,
                               (AVRational){1, 1000});
        avformat_close_input(&fmt);
        unlink(file);
    }
    av_packet_free(&pkt);
    blob_unref(init);
    blob_unref(seg);
    return dts;
}

static char *final_playlist(struct hls_server *srv, const char *path)
{
    for (int i = 0; i < 1000; i++) { /* the rung is cut on the worker thread: up to 10 s */
        hls_server_tick(srv);
        char *pl = text(srv, path, NULL, NULL, NULL);
        if (pl && has(pl, "#EXT-X-ENDLIST"))
            return pl;
        free(pl);
        usleep(10000);
    }
    return NULL;
}

static void test_pdt_follows_media_time(void)
{
    struct hub_registry *reg = hub_registry_create();
    struct metrics *m = metrics_create();
    struct ladder ladder;
    CHECK_EQ_INT(ladder_parse("source,48p:100k", &ladder, NULL, 0), 0);
    struct hls_config cfg = {
        .part_seconds = 0.5, .linger_seconds = 30, .ladder = &ladder, .metrics = m};
    struct hls_server *srv = hls_server_create(&cfg, reg);
    struct hub *hub = start_hub(reg, "jit", true, true);
    int64_t first_key_wall = 0;
    for (int i = 0; i < clip.n && clip.pkts[i].pkt->dts < 12000; i++) {
        const AVPacket *p = clip.pkts[i].pkt;
        int64_t jitter_ms = (i * 7919) % 121 - 60; /* -60..60 ms, no pattern */
        struct hub_packet hp = {p, WALL0 + (p->dts + 1000 + jitter_ms) * 1000, false};
        if (!first_key_wall && p->stream_index == 0 && (p->flags & AV_PKT_FLAG_KEY))
            first_key_wall = hp.wallclock_us;
        hub_push(hub, &hp);
    }
    hub_end(hub);
    hub_unrefp(&hub);

    const char *names[] = {"source", "48p"};
    struct seg_times t[2];
    int64_t clock = INT64_MIN; /* PDT minus tfdt: the wall clock of the timeline's 0 */
    for (int r = 0; r < 2; r++) {
        char path[64], sid[32];
        snprintf(path, sizeof(path), "jit/%s/media.m3u8", names[r]);
        char *pl = final_playlist(srv, path);
        CHECK(pl != NULL);
        t[r] = times_of(pl ? pl : "");
        sid_of(pl ? pl : "", sid);
        free(pl);
        CHECK(t[r].n >= 5);
        /* Segment 0 starts with the first keyframe: its PDT is that packet's arrival. */
        int64_t first_ms = (first_key_wall - WALL0) / 1000;
        CHECK_EQ_INT(t[r].pdt_ms[0], first_ms);
        for (int s = 0; s < t[r].n; s++) {
            if (s + 1 < t[r].n)
                CHECK_EQ_INT(t[r].pdt_ms[s + 1] - t[r].pdt_ms[s], t[r].extinf_ms[s]);
            /* PDT names each segment's first sample in every rendition: PDT - tfdt is one
             * constant, the wall clock of the timeline's 0 (+-1 ms of rounding). */
            int64_t off = t[r].pdt_ms[s] - first_dts_ms(srv, names[r], sid, t[r].msn[s]);
            if (clock == INT64_MIN)
                clock = off;
            CHECK(llabs(off - clock) <= 1);
        }
    }
    /* The same segment: the same instant in every rendition. */
    CHECK(abs(t[1].n - t[0].n) <= 1);
    for (int s = 0; s < t[1].n && s < t[0].n; s++) {
        CHECK_EQ_INT(t[1].msn[s], t[0].msn[s]);
        CHECK_EQ_INT(t[1].pdt_ms[s], t[0].pdt_ms[s]);
    }
    hls_server_destroy(&srv);
    hub_registry_destroy(&reg);
    metrics_destroy(&m);
}

int main(void)
{
    av_log_set_level(AV_LOG_ERROR);
    if (clip_make(&clip, 14, 30, 60, true) < 0) {
        fprintf(stderr, "test_pdt: cannot encode the test clip (libx264 and aac needed)\n");
        return 1;
    }
    test_pdt_follows_media_time();
    clip_free(&clip);
    return test_report("test_pdt");
}
