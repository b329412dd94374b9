/* api/vod.c: the VOD playlist (golden text), the init-section walk, Range headers, and the
 * time and integer query parameters of /api/recordings. */
#include "api/vod.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

static void test_playlist_golden(void)
{
    struct vod_chunk c[] = {
        {1, 10000000, 500000, 1200, "chunks/1?expires=9&sig=a", 0},
        {2, 10033000, 480000, 1200, "chunks/2?expires=9&sig=b", 3000000}, /* after a gap */
        {4, 4500000, 90000, 1300, "chunks/4?expires=9&sig=c", 0},         /* 3 is missing */
    };
    char *p = vod_playlist(c, 3, true);
    CHECK_STREQ(p, "#EXTM3U\n"
                   "#EXT-X-VERSION:7\n"
                   "#EXT-X-PLAYLIST-TYPE:VOD\n"
                   "#EXT-X-TARGETDURATION:11\n"
                   "#EXT-X-MEDIA-SEQUENCE:0\n"
                   "#EXT-X-INDEPENDENT-SEGMENTS\n"
                   "#EXT-X-MAP:URI=\"chunks/1?expires=9&sig=a\",BYTERANGE=\"1200@0\"\n"
                   "#EXTINF:10.000,\n"
                   "#EXT-X-BYTERANGE:498800@1200\n"
                   "chunks/1?expires=9&sig=a\n"
                   "#EXT-X-DISCONTINUITY\n"
                   "#EXT-X-MAP:URI=\"chunks/2?expires=9&sig=b\",BYTERANGE=\"1200@0\"\n"
                   "#EXTINF:10.033,\n"
                   "#EXT-X-BYTERANGE:478800@1200\n"
                   "chunks/2?expires=9&sig=b\n"
                   "#EXT-X-DISCONTINUITY\n"
                   "#EXT-X-MAP:URI=\"chunks/4?expires=9&sig=c\",BYTERANGE=\"1300@0\"\n"
                   "#EXTINF:4.500,\n"
                   "#EXT-X-BYTERANGE:88700@1300\n"
                   "chunks/4?expires=9&sig=c\n"
                   "#EXT-X-ENDLIST\n");
    free(p);
    p = vod_playlist(NULL, 0, false); /* still recording, nothing uploaded yet */
    CHECK_STREQ(p, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-PLAYLIST-TYPE:EVENT\n"
                   "#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n"
                   "#EXT-X-INDEPENDENT-SEGMENTS\n");
    free(p);
}

static size_t box(uint8_t *p, const char *type, uint32_t size)
{
    p[0] = (uint8_t)(size >> 24), p[1] = (uint8_t)(size >> 16);
    p[2] = (uint8_t)(size >> 8), p[3] = (uint8_t)size;
    memcpy(p + 4, type, 4);
    return size;
}

static void test_init_length(void)
{
    uint8_t f[256] = {0};
    size_t n = box(f, "ftyp", 24);
    n += box(f + n, "moov", 100);
    n += box(f + n, "moof", 40);
    int64_t len = 0;
    CHECK_EQ_INT(vod_init_length(f, n, &len), 0);
    CHECK_EQ_INT(len, 124);
    CHECK_EQ_INT(vod_init_length(f, 132, &len), 0); /* the moof header is enough */
    CHECK_EQ_INT(vod_init_length(f, 100, &len), -EAGAIN);
    /* a 64-bit size for moov */
    memset(f, 0, sizeof(f));
    n = box(f, "ftyp", 24);
    box(f + n, "moov", 1);
    f[n + 15] = 50;
    n += 50;
    n += box(f + n, "moof", 8);
    CHECK_EQ_INT(vod_init_length(f, n, &len), 0);
    CHECK_EQ_INT(len, 74);
    /* no moov before the moof; a box smaller than its header; size 0 */
    memset(f, 0, sizeof(f));
    n = box(f, "ftyp", 24);
    n += box(f + n, "moof", 8);
    CHECK_EQ_INT(vod_init_length(f, n, &len), -EINVAL);
    box(f + 24, "moov", 4);
    CHECK_EQ_INT(vod_init_length(f, 64, &len), -EINVAL);
    box(f + 24, "moov", 0);
    CHECK_EQ_INT(vod_init_length(f, 64, &len), -EINVAL);
    /* 0xffffffffffffffff as a 64-bit size cannot wrap the position */
    memset(f, 0xff, 32);
    box(f, "ftyp", 1);
    memset(f + 8, 0xff, 8);
    CHECK_EQ_INT(vod_init_length(f, 64, &len), -EINVAL);
}

static void test_range(void)
{
    int64_t s = -1, l = -1;
    CHECK_EQ_INT(vod_range_parse(NULL, 100, &s, &l), 1);
    CHECK_EQ_INT(vod_range_parse("bytes=0-9", 100, &s, &l), 0);
    CHECK(s == 0 && l == 10);
    CHECK_EQ_INT(vod_range_parse("bytes=90-", 100, &s, &l), 0);
    CHECK(s == 90 && l == 10);
    CHECK_EQ_INT(vod_range_parse("bytes=50-500", 100, &s, &l), 0);
    CHECK(s == 50 && l == 50);
    CHECK_EQ_INT(vod_range_parse("bytes=-30", 100, &s, &l), 0);
    CHECK(s == 70 && l == 30);
    CHECK_EQ_INT(vod_range_parse("bytes=-300", 100, &s, &l), 0);
    CHECK(s == 0 && l == 100);
    CHECK_EQ_INT(vod_range_parse("bytes=100-", 100, &s, &l), -ERANGE);
    CHECK_EQ_INT(vod_range_parse("bytes=-0", 100, &s, &l), -ERANGE);
    CHECK_EQ_INT(vod_range_parse("bytes=0-1,5-6", 100, &s, &l), 1);
    CHECK_EQ_INT(vod_range_parse("bytes=9-1", 100, &s, &l), 1);
    CHECK_EQ_INT(vod_range_parse("items=0-1", 100, &s, &l), 1);
    CHECK_EQ_INT(vod_range_parse("bytes=x-1", 100, &s, &l), 1);
    CHECK_EQ_INT(vod_range_parse("bytes=0-99999999999999999999999", 100, &s, &l), 1);
    CHECK_EQ_INT(vod_range_parse("bytes= 0-1", 100, &s, &l), 1);
}

static void test_params(void)
{
    int64_t t = 0, n = 0;
    CHECK_EQ_INT(vod_parse_time("1767225600", &t), 0);
    CHECK_EQ_INT(t, 1767225600000000LL);
    CHECK_EQ_INT(vod_parse_time("2026-01-01T00:00:00Z", &t), 0);
    CHECK_EQ_INT(t, 1767225600000000LL);
    CHECK_EQ_INT(vod_parse_time("2026-01-01T01:30:00.25+01:30", &t), 0);
    CHECK_EQ_INT(t, 1767225600250000LL);
    CHECK_EQ_INT(vod_parse_time("2025-12-31t19:00:00-05:00", &t), 0);
    CHECK_EQ_INT(t, 1767225600000000LL);
    const char *bad[] = {"",
                         "-5",
                         "1e9",
                         "2026-01-01",
                         "2026-01-01T00:00:00",
                         "2026-02-30T00:00:00Z",
                         "2026-13-01T00:00:00Z",
                         "2026-01-01T24:00:00Z",
                         "2026-01-01T00:00:00Zjunk",
                         "2026-01-01T00:00:00.Z",
                         "2026-01-01T00:00:00+1:00",
                         "1969-12-31T23:59:59Z",
                         "99999999999999999999",
                         "2026-01-01T00:00:00Z' OR '1'='1",
                         "today"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ_INT(vod_parse_time(bad[i], &t), -EINVAL);
    CHECK_EQ_INT(vod_parse_time(NULL, &t), -EINVAL);
    CHECK_EQ_INT(vod_parse_int("50", 1, 500, &n), 0);
    CHECK_EQ_INT(n, 50);
    CHECK_EQ_INT(vod_parse_int("0", 1, 500, &n), -EINVAL);
    CHECK_EQ_INT(vod_parse_int("501", 1, 500, &n), -EINVAL);
    CHECK_EQ_INT(vod_parse_int("+5", 1, 500, &n), -EINVAL);
    CHECK_EQ_INT(vod_parse_int(" 5", 1, 500, &n), -EINVAL);
    CHECK_EQ_INT(vod_parse_int("5x", 1, 500, &n), -EINVAL);
    CHECK_EQ_INT(vod_parse_int("", 1, 500, &n), -EINVAL);
    CHECK_EQ_INT(vod_parse_int(NULL, 1, 500, &n), -EINVAL);
}

int main(void)
{
    test_playlist_golden();
    test_init_length();
    test_range();
    test_params();
    return test_report("test_vod");
}
