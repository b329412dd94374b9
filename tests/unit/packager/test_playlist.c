/* Golden playlist text from synthetic segment descriptions (packager/playlist.c). */
#include "packager/playlist.h"

#include <stdlib.h>
#include <string.h>

#include "test.h"

#define WALL0 1767225600000000LL /* 2026-01-01T00:00:00.000Z */

static struct pl_part parts2[2] = {{500000, true}, {500000, false}};
static struct pl_part parts_open[1] = {{480000, true}};

/* Eight complete 1 s segments (msn 10..17) of two parts each and an open one with one part. */
static int count_of(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void live_media(struct pl_media *m, struct pl_segment segs[9])
{
    for (int i = 0; i < 8; i++)
        segs[i] = (struct pl_segment){.msn = 10 + i,
                                      .duration_us = 1000000,
                                      .wall_us = WALL0 + i * 1000000LL,
                                      .complete = true,
                                      .parts = parts2,
                                      .nparts = 2};
    segs[8] = (struct pl_segment){
        .msn = 18, .wall_us = WALL0 + 8000000LL, .parts = parts_open, .nparts = 1};
    *m = (struct pl_media){
        .sid = "s1", .target_duration = 1, .part_target_us = 500000, .segs = segs, .nsegs = 9};
}

static const char *live_full =
    "#EXTM3U\n"
    "#EXT-X-VERSION:9\n"
    "#EXT-X-TARGETDURATION:1\n"
    "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=6.000,HOLD-BACK=3.000,"
    "PART-HOLD-BACK=1.500\n"
    "#EXT-X-PART-INF:PART-TARGET=0.500\n"
    "#EXT-X-MEDIA-SEQUENCE:10\n"
    "#EXT-X-MAP:URI=\"init-s1.mp4\"\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z\n"
    "#EXTINF:1.00000,\nseg-s1-10.m4s\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:01.000Z\n"
    "#EXTINF:1.00000,\nseg-s1-11.m4s\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.000Z\n"
    "#EXTINF:1.00000,\nseg-s1-12.m4s\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:03.000Z\n"
    "#EXTINF:1.00000,\nseg-s1-13.m4s\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:04.000Z\n"
    "#EXTINF:1.00000,\nseg-s1-14.m4s\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:05.000Z\n"
    "#EXT-X-PART:DURATION=0.50000,URI=\"part-s1-15.0.m4s\",INDEPENDENT=YES\n"
    "#EXT-X-PART:DURATION=0.50000,URI=\"part-s1-15.1.m4s\"\n"
    "#EXTINF:1.00000,\nseg-s1-15.m4s\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:06.000Z\n"
    "#EXT-X-PART:DURATION=0.50000,URI=\"part-s1-16.0.m4s\",INDEPENDENT=YES\n"
    "#EXT-X-PART:DURATION=0.50000,URI=\"part-s1-16.1.m4s\"\n"
    "#EXTINF:1.00000,\nseg-s1-16.m4s\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:07.000Z\n"
    "#EXT-X-PART:DURATION=0.50000,URI=\"part-s1-17.0.m4s\",INDEPENDENT=YES\n"
    "#EXT-X-PART:DURATION=0.50000,URI=\"part-s1-17.1.m4s\"\n"
    "#EXTINF:1.00000,\nseg-s1-17.m4s\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:08.000Z\n"
    "#EXT-X-PART:DURATION=0.48000,URI=\"part-s1-18.0.m4s\",INDEPENDENT=YES\n"
    "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-s1-18.1.m4s\"\n";

/* The delta update: 8.48 s in all, CAN-SKIP-UNTIL 6 s, so the first two (2 s) go. */
static const char *live_skip =
    "#EXTM3U\n"
    "#EXT-X-VERSION:9\n"
    "#EXT-X-TARGETDURATION:1\n"
    "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=6.000,HOLD-BACK=3.000,"
    "PART-HOLD-BACK=1.500\n"
    "#EXT-X-PART-INF:PART-TARGET=0.500\n"
    "#EXT-X-MEDIA-SEQUENCE:10\n"
    "#EXT-X-MAP:URI=\"init-s1.mp4\"\n"
    "#EXT-X-SKIP:SKIPPED-SEGMENTS=2\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.000Z\n"
    "#EXTINF:1.00000,\nseg-s1-12.m4s\n";

static void test_live(void)
{
    struct pl_segment segs[9];
    struct pl_media m;
    live_media(&m, segs);
    CHECK_EQ_INT(pl_parts_from(&m), 5);
    CHECK_EQ_INT(pl_skippable(&m), 2);
    struct buf b;
    buf_init(&b);
    pl_write_media(&b, &m, 0);
    buf_append(&b, "", 1);
    CHECK_STREQ((const char *)buf_head(&b), live_full);
    buf_clear(&b);
    pl_write_media(&b, &m, pl_skippable(&m));
    buf_append(&b, "", 1);
    /* The skip form is the full form with segments 10 and 11 replaced by EXT-X-SKIP. */
    CHECK(strncmp((const char *)buf_head(&b), live_skip, strlen(live_skip)) == 0);
    const char *tail = strstr(live_full, "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:03.000Z");
    CHECK(strstr((const char *)buf_head(&b), "seg-s1-10.m4s") == NULL);
    CHECK(strstr((const char *)buf_head(&b), "seg-s1-11.m4s") == NULL);
    CHECK_STREQ((const char *)buf_head(&b) + strlen(live_skip), tail);
    buf_free(&b);
}

/* EXT-X-RENDITION-REPORT, one per other rendition, after the preload hint, in the full and the
 * delta form alike; none once the playlist has ended. */
static void test_rendition_reports(void)
{
    struct pl_segment segs[9];
    struct pl_media m;
    live_media(&m, segs);
    const struct pl_report reports[2] = {{"720p", 18, 0}, {"audio", 17, 3}};
    m.reports = reports;
    m.nreports = 2;
    static const char *tail =
        "#EXT-X-PART:DURATION=0.48000,URI=\"part-s1-18.0.m4s\",INDEPENDENT=YES\n"
        "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-s1-18.1.m4s\"\n"
        "#EXT-X-RENDITION-REPORT:URI=\"../720p/media.m3u8\",LAST-MSN=18,LAST-PART=0\n"
        "#EXT-X-RENDITION-REPORT:URI=\"../audio/media.m3u8\",LAST-MSN=17,LAST-PART=3\n";
    struct buf b;
    buf_init(&b);
    int skips[2] = {0, pl_skippable(&m)};
    CHECK_EQ_INT(skips[1], 2);
    for (int i = 0; i < 2; i++) {
        buf_clear(&b);
        pl_write_media(&b, &m, skips[i]);
        buf_append(&b, "", 1);
        const char *t = strstr((const char *)buf_head(&b), "#EXT-X-PART:DURATION=0.48000");
        CHECK_STREQ(t ? t : "", tail);
        CHECK_EQ_INT(count_of((const char *)buf_head(&b), "#EXT-X-RENDITION-REPORT:"), 2);
    }
    m.ended = true;
    buf_clear(&b);
    pl_write_media(&b, &m, 0);
    buf_append(&b, "", 1);
    CHECK(strstr((const char *)buf_head(&b), "RENDITION-REPORT") == NULL);
    buf_free(&b);
}

static const char *ended_full =
    "#EXTM3U\n"
    "#EXT-X-VERSION:9\n"
    "#EXT-X-TARGETDURATION:2\n"
    "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.000,HOLD-BACK=6.000,"
    "PART-HOLD-BACK=0.990\n"
    "#EXT-X-PART-INF:PART-TARGET=0.330\n"
    "#EXT-X-MEDIA-SEQUENCE:0\n"
    "#EXT-X-MAP:URI=\"init-18c0ffee.mp4\"\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z\n"
    "#EXT-X-PART:DURATION=0.33000,URI=\"part-18c0ffee-0.0.m4s\",INDEPENDENT=YES\n"
    "#EXT-X-PART:DURATION=0.33000,URI=\"part-18c0ffee-0.1.m4s\"\n"
    "#EXTINF:2.00000,\nseg-18c0ffee-0.m4s\n"
    "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.002Z\n"
    "#EXT-X-PART:DURATION=0.33000,URI=\"part-18c0ffee-1.0.m4s\",INDEPENDENT=YES\n"
    "#EXTINF:0.76667,\nseg-18c0ffee-1.m4s\n"
    "#EXT-X-ENDLIST\n";

static void test_ended(void)
{
    struct pl_part p[2] = {{330000, true}, {330000, false}};
    struct pl_segment segs[2] = {
        {.msn = 0,
         .duration_us = 2000000,
         .wall_us = WALL0,
         .complete = true,
         .parts = p,
         .nparts = 2},
        {.msn = 1,
         .duration_us = 766666,
         .wall_us = WALL0 + 2002000,
         .complete = true,
         .parts = p,
         .nparts = 1},
    };
    struct pl_media m = {.sid = "18c0ffee",
                         .target_duration = 2,
                         .part_target_us = 330000,
                         .segs = segs,
                         .nsegs = 2,
                         .ended = true};
    CHECK_EQ_INT(pl_skippable(&m), 0);
    struct buf b;
    buf_init(&b);
    pl_write_media(&b, &m, 0);
    buf_append(&b, "", 1);
    CHECK_STREQ((const char *)buf_head(&b), ended_full);
    buf_free(&b);
}

static void test_multivariant(void)
{
    struct pl_variant v = {.bandwidth = 2500000,
                           .avg_bandwidth = 2000000,
                           .width = 1280,
                           .height = 720,
                           .frame_rate = 29.97,
                           .codecs = "avc1.64001f,mp4a.40.2",
                           .uri = "source/media.m3u8"};
    struct buf b;
    buf_init(&b);
    pl_write_multivariant(&b, &v, 1, false); /* captions: no attribute */
    buf_append(&b, "", 1);
    CHECK_STREQ((const char *)buf_head(&b),
                "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n"
                "#EXT-X-STREAM-INF:BANDWIDTH=2500000,AVERAGE-BANDWIDTH=2000000,"
                "CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=29.970\n"
                "source/media.m3u8\n");
    buf_clear(&b);
    struct pl_variant audio = {.bandwidth = 130000, .codecs = "mp4a.40.5", .uri = "a.m3u8"};
    pl_write_multivariant(&b, &audio, 1, true);
    buf_append(&b, "", 1);
    CHECK_STREQ((const char *)buf_head(&b), "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n"
                                            "#EXT-X-STREAM-INF:BANDWIDTH=130000,"
                                            "CODECS=\"mp4a.40.5\",CLOSED-CAPTIONS=NONE\n"
                                            "a.m3u8\n");
    buf_clear(&b);
    /* a ladder: every variant with its audio muxed in, no audio group */
    struct pl_variant ladder[2] = {
        {.bandwidth = 2600000,
         .codecs = "avc1.64001f,mp4a.40.2",
         .width = 1280,
         .height = 720,
         .uri = "source/media.m3u8"},
        {.bandwidth = 700000,
         .avg_bandwidth = 650000,
         .codecs = "avc1.64001e,mp4a.40.2",
         .width = 640,
         .height = 360,
         .frame_rate = 30,
         .uri = "360p/media.m3u8"},
    };
    pl_write_multivariant(&b, ladder, 2, true); /* no captions: every variant says so */
    buf_append(&b, "", 1);
    CHECK_STREQ((const char *)buf_head(&b),
                "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n"
                "#EXT-X-STREAM-INF:BANDWIDTH=2600000,CODECS=\"avc1.64001f,mp4a.40.2\","
                "RESOLUTION=1280x720,CLOSED-CAPTIONS=NONE\nsource/media.m3u8\n"
                "#EXT-X-STREAM-INF:BANDWIDTH=700000,AVERAGE-BANDWIDTH=650000,"
                "CODECS=\"avc1.64001e,mp4a.40.2\",RESOLUTION=640x360,FRAME-RATE=30.000,"
                "CLOSED-CAPTIONS=NONE\n360p/media.m3u8\n");
    buf_free(&b);
}

/* A codec change mid-stream: EXT-X-DISCONTINUITY and the new EXT-X-MAP before the first segment
 * of the new init version; the discontinuity sequence in the header; a delta update that skips
 * past the change names the right init at once. */
static void test_discontinuity(void)
{
    struct pl_part p[1] = {{2000000, true}};
    struct pl_segment s[8];
    for (int i = 0; i < 8; i++)
        s[i] = (struct pl_segment){.msn = 20 + i,
                                   .duration_us = 2000000,
                                   .complete = true,
                                   .parts = p,
                                   .nparts = 1,
                                   .init_version = i < 5 ? 1 : 2};
    struct pl_media m = {.sid = "ab",
                         .target_duration = 2,
                         .part_target_us = 2000000,
                         .segs = s,
                         .nsegs = 8,
                         .disc_seq = 1};
    struct buf b;
    buf_init(&b);
    pl_write_media(&b, &m, 0);
    buf_append(&b, "", 1);
    const char *t = (const char *)buf_head(&b);
    CHECK(strstr(t, "#EXT-X-DISCONTINUITY-SEQUENCE:1\n#EXT-X-MAP:URI=\"init-ab-1.mp4\"\n"));
    CHECK(strstr(t, "seg-ab-24.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-ab-2.mp4\"\n"));
    int n = 0;
    for (const char *q = t; (q = strstr(q, "#EXT-X-DISCONTINUITY\n")); q++)
        n++;
    CHECK_EQ_INT(n, 1);
    buf_clear(&b);
    CHECK_EQ_INT(pl_skippable(&m), 2);
    pl_write_media(&b, &m, 2);
    buf_append(&b, "", 1);
    t = (const char *)buf_head(&b);
    CHECK(strstr(t, "#EXT-X-SKIP:SKIPPED-SEGMENTS=2\n"));
    /* segs 22..24 still carry version 1, as the header's map says; the change follows */
    CHECK(!strstr(t, "SKIPPED-SEGMENTS=2\n#EXT-X-MAP"));
    CHECK(strstr(t, "seg-ab-24.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-ab-2.mp4\"\n"));
    buf_clear(&b);
    for (int i = 0; i < 8; i++)
        s[i].init_version = i < 1 ? 1 : 2; /* the change is inside the skipped run */
    pl_write_media(&b, &m, 2);
    buf_append(&b, "", 1);
    t = (const char *)buf_head(&b);
    CHECK(strstr(t, "SKIPPED-SEGMENTS=2\n#EXT-X-MAP:URI=\"init-ab-2.mp4\"\n"));
    CHECK(!strstr(t, "#EXT-X-DISCONTINUITY\n"));
    buf_free(&b);
}

/* A timestamp jump (issue 11 item 5): EXT-X-DISCONTINUITY before the segment, with no new
 * EXT-X-MAP (the init section is the same); a jump on the first listed segment is the header's
 * discontinuity sequence's business, not a tag. */
static void test_timestamp_discontinuity(void)
{
    struct pl_part p[1] = {{2000000, true}};
    struct pl_segment s[6];
    for (int i = 0; i < 6; i++)
        s[i] = (struct pl_segment){.msn = 10 + i,
                                   .duration_us = 2000000,
                                   .complete = true,
                                   .parts = p,
                                   .nparts = 1,
                                   .discontinuity = i == 0 || i == 3};
    struct pl_media m = {
        .sid = "ab", .target_duration = 2, .part_target_us = 2000000, .segs = s, .nsegs = 6};
    struct buf b;
    buf_init(&b);
    pl_write_media(&b, &m, 0);
    buf_append(&b, "", 1);
    const char *t = (const char *)buf_head(&b);
    CHECK(strstr(t, "seg-ab-12.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME") ||
          strstr(t, "seg-ab-12.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-PART"));
    int n = 0;
    for (const char *q = t; (q = strstr(q, "#EXT-X-DISCONTINUITY\n")); q++)
        n++;
    CHECK_EQ_INT(n, 1);
    n = 0;
    for (const char *q = t; (q = strstr(q, "#EXT-X-MAP:")); q++)
        n++;
    CHECK_EQ_INT(n, 1);
    buf_free(&b);
}

static void test_codecs(void)
{
    char s[32];
    const uint8_t avcc[] = {1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f};
    pl_codec_avc(avcc, sizeof(avcc), s, sizeof(s));
    CHECK_STREQ(s, "avc1.64001f");
    const uint8_t annexb[] = {0, 0, 0, 1, 0x67, 0x4d, 0x40, 0x28, 0xaa, 0, 0, 1, 0x68, 1};
    pl_codec_avc(annexb, sizeof(annexb), s, sizeof(s));
    CHECK_STREQ(s, "avc1.4d4028");
    pl_codec_avc(NULL, 0, s, sizeof(s));
    CHECK_STREQ(s, "avc1.42e01f");
    const uint8_t lc[] = {0x12, 0x10}; /* object type 2, 44.1 kHz, stereo */
    pl_codec_aac(lc, sizeof(lc), s, sizeof(s));
    CHECK_STREQ(s, "mp4a.40.2");
    const uint8_t he[] = {0x2b, 0x92, 0x08, 0x00}; /* object type 5 (SBR) */
    pl_codec_aac(he, sizeof(he), s, sizeof(s));
    CHECK_STREQ(s, "mp4a.40.5");
    const uint8_t ext[] = {0xf8, 0x40}; /* escape 31: 32 + 2 = 34 */
    pl_codec_aac(ext, sizeof(ext), s, sizeof(s));
    CHECK_STREQ(s, "mp4a.40.34");
}

static void test_uris(void)
{
    char sid[PL_SID_MAX + 1], uri[96];
    int64_t msn;
    int part;
    pl_uri_part(uri, sizeof(uri), "18c0ffee", 12345, 7);
    CHECK_STREQ(uri, "part-18c0ffee-12345.7.m4s");
    CHECK_EQ_INT(pl_uri_parse(uri, sid, &msn, &part), PL_URI_PART);
    CHECK_STREQ(sid, "18c0ffee");
    CHECK_EQ_INT(msn, 12345);
    CHECK_EQ_INT(part, 7);
    pl_uri_segment(uri, sizeof(uri), "ab", 0);
    CHECK_EQ_INT(pl_uri_parse(uri, sid, &msn, &part), PL_URI_SEGMENT);
    CHECK_EQ_INT(msn, 0);
    pl_uri_init(uri, sizeof(uri), "ab", 0);
    CHECK_EQ_INT(pl_uri_parse(uri, sid, &msn, &part), PL_URI_INIT);
    CHECK_STREQ(sid, "ab");
    CHECK_EQ_INT(msn, 0);
    pl_uri_init(uri, sizeof(uri), "ab", 3);
    CHECK_STREQ(uri, "init-ab-3.mp4");
    CHECK_EQ_INT(pl_uri_parse(uri, sid, &msn, &part), PL_URI_INIT);
    CHECK_EQ_INT(msn, 3);
    const char *bad[] = {"seg-ab-.m4s",
                         "seg-ab-1.m4sx",
                         "seg--1.m4s",
                         "seg-AB-1.m4s",
                         "part-ab-1.m4s",
                         "part-ab-1.-1.m4s",
                         "init-ab.mp4/x",
                         "seg-ab-01.m4s",
                         "seg-ab-99999999999999999.m4s",
                         "part-ab-1.9999999.m4s",
                         "init-.mp4",
                         "init-ab-0.mp4",
                         "init-ab-.mp4",
                         "init-ab-2.mp4x",
                         "../init-ab.mp4",
                         ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int k = pl_uri_parse(bad[i], sid, &msn, &part);
        if (k != PL_URI_NONE)
            fprintf(stderr, "accepted %s\n", bad[i]);
        CHECK_EQ_INT(k, PL_URI_NONE);
    }
}

int main(void)
{
    test_live();
    test_rendition_reports();
    test_ended();
    test_multivariant();
    test_discontinuity();
    test_timestamp_discontinuity();
    test_codecs();
    test_uris();
    return test_report("test_playlist");
}
