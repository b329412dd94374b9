/* --ladder parsing (good and bad specs) and fitting rungs to a source size. */
#include <errno.h>

#include "core/config.h"
#include "test.h"
#include "transcode/ladder.h"

static int bad(const char *spec, const char *needle)
{
    struct ladder l;
    char err[256] = "";
    int rc = ladder_parse(spec, &l, err, sizeof(err));
    if (rc != -EINVAL || !strstr(err, needle)) {
        fprintf(stderr, "spec '%s': rc %d, err '%s' (wanted '%s')\n", spec, rc, err, needle);
        return 0;
    }
    return 1;
}

static void test_parse(void)
{
    struct ladder l;
    char err[256];
    CHECK_EQ_INT(ladder_parse(CONFIG_LADDER_DEFAULT, &l, err, sizeof(err)), 0);
    CHECK(l.source);
    CHECK_EQ_INT(l.nrungs, 3);
    CHECK_EQ_INT(l.rungs[0].height, 720);
    CHECK_EQ_INT(l.rungs[0].bit_rate, 2500000);
    CHECK_EQ_INT(l.rungs[1].height, 480);
    CHECK_EQ_INT(l.rungs[1].bit_rate, 1000000);
    CHECK_EQ_INT(l.rungs[2].height, 360);
    CHECK_EQ_INT(l.rungs[2].bit_rate, 600000);

    CHECK_EQ_INT(ladder_parse("none", &l, err, sizeof(err)), 0);
    CHECK(l.source);
    CHECK_EQ_INT(l.nrungs, 0);

    /* no source, out of order, M suffix and plain bits per second; sorted tallest first */
    CHECK_EQ_INT(ladder_parse("360p:600000,1080p:5M,720p:2500k", &l, err, sizeof(err)), 0);
    CHECK(!l.source);
    CHECK_EQ_INT(l.nrungs, 3);
    CHECK_EQ_INT(l.rungs[0].height, 1080);
    CHECK_EQ_INT(l.rungs[0].bit_rate, 5000000);
    CHECK_EQ_INT(l.rungs[2].height, 360);
    CHECK_EQ_INT(l.rungs[2].bit_rate, 600000);

    CHECK_EQ_INT(ladder_parse("source", &l, NULL, 0), 0);
    CHECK(l.source);
    CHECK_EQ_INT(l.nrungs, 0);

    CHECK(bad("", "empty spec"));
    CHECK(bad("source,,480p:1000k", "empty rung"));
    CHECK(bad("source,", "empty rung"));
    CHECK(bad("720:2500k", "expected HEIGHTp:BITRATE"));
    CHECK(bad("p:2500k", "expected HEIGHTp:BITRATE"));
    CHECK(bad("720p", "missing ':BITRATE'"));
    CHECK(bad("720p:", "bad bitrate"));
    CHECK(bad("720p:fast", "bad bitrate"));
    CHECK(bad("720p:2500kb", "trailing characters"));
    CHECK(bad("721p:2500k", "height must be even"));
    CHECK(bad("8p:100k", "height must be even"));
    CHECK(bad("8640p:100k", "height must be even"));
    CHECK(bad("9999999999p:100k", "expected HEIGHTp:BITRATE"));
    CHECK(bad("480p:10k", "bitrate must be"));
    CHECK(bad("480p:500M", "bitrate must be"));
    CHECK(bad("source,480p:1000k,480p:800k", "480p given twice"));
    CHECK(bad("source,source", "'source' given twice"));
    CHECK(bad("none,480p:1000k", "'none' cannot be combined"));
    CHECK(bad("1080p:1M,1080p:2M,720p:1M,480p:1M,360p:1M,240p:1M,160p:1M,144p:1M,120p:1M",
              "1080p given twice"));
    CHECK(bad("1080p:1M,1078p:1M,720p:1M,480p:1M,360p:1M,240p:1M,160p:1M,144p:1M,120p:1M",
              "more than 8"));
    CHECK_EQ_INT(ladder_parse("bogus", &l, NULL, 0), -EINVAL); /* err is optional */
}

static void test_fit(void)
{
    struct ladder l, f;
    CHECK_EQ_INT(ladder_parse("source,1080p:5M,720p:2500k,480p:1000k,360p:600k", &l, NULL, 0), 0);
    struct ladder with_source = l;
    CHECK_EQ_INT(ladder_parse("1080p:5M,720p:2500k,480p:1000k,360p:600k", &l, NULL, 0), 0);

    /* 16:9 1080p: every rung, widths from the aspect ratio, rounded to even */
    CHECK_EQ_INT(ladder_fit(&l, 1920, 1080, &f), 0);
    CHECK(!f.source);
    CHECK_EQ_INT(f.nrungs, 4);
    CHECK_EQ_INT(f.rungs[0].width, 1920);
    CHECK_EQ_INT(f.rungs[1].width, 1280);
    CHECK_EQ_INT(f.rungs[2].width, 854); /* 853.33 -> 854 */
    CHECK_EQ_INT(f.rungs[3].width, 640);
    CHECK_EQ_INT(f.rungs[3].bit_rate, 600000);

    /* 16:9 480p beside the source: the 480p rung would duplicate it; only 360p is encoded */
    CHECK_EQ_INT(ladder_fit(&with_source, 854, 480, &f), 0);
    CHECK_EQ_INT(f.nrungs, 1);
    CHECK_EQ_INT(f.rungs[0].height, 360);
    CHECK_EQ_INT(ladder_fit(&with_source, 1920, 1080, &f), 0);
    CHECK(f.source);
    CHECK_EQ_INT(f.nrungs, 3); /* no second 1080p */
    CHECK_EQ_INT(f.rungs[0].height, 720);

    /* 16:9 480p: only 480p and 360p */
    CHECK_EQ_INT(ladder_fit(&l, 854, 480, &f), 0);
    CHECK_EQ_INT(f.nrungs, 2);
    CHECK_EQ_INT(f.rungs[0].height, 480);
    CHECK_EQ_INT(f.rungs[0].width, 854);
    CHECK_EQ_INT(f.rungs[1].height, 360);
    CHECK_EQ_INT(f.rungs[1].width, 640); /* 640.5 -> 640 */

    /* 4:3 */
    CHECK_EQ_INT(ladder_fit(&l, 1440, 1080, &f), 0);
    CHECK_EQ_INT(f.nrungs, 4);
    CHECK_EQ_INT(f.rungs[1].width, 960);
    CHECK_EQ_INT(f.rungs[2].width, 640);
    CHECK_EQ_INT(f.rungs[3].width, 480);
    CHECK_EQ_INT(ladder_fit(&l, 640, 480, &f), 0);
    CHECK_EQ_INT(f.nrungs, 2);
    CHECK_EQ_INT(f.rungs[0].width, 640);
    CHECK_EQ_INT(f.rungs[1].width, 480);

    /* odd sizes: 1279x719 keeps 480p/360p; widths even */
    CHECK_EQ_INT(ladder_fit(&l, 1279, 719, &f), 0);
    CHECK_EQ_INT(f.nrungs, 2);
    CHECK_EQ_INT(f.rungs[0].width, 854);                  /* 853.8 */
    CHECK_EQ_INT(f.rungs[1].width, 640);                  /* 640.4 */
    CHECK_EQ_INT(ladder_even_width(1001, 999, 360), 360); /* 360.7 -> 360 */
    CHECK_EQ_INT(ladder_even_width(1003, 999, 360), 362); /* 361.4 -> 362 */
    CHECK_EQ_INT(ladder_even_width(1, 1000, 360), 2);     /* never below 2 */
    /* portrait 9:16 phone video: width from height */
    CHECK_EQ_INT(ladder_fit(&l, 1080, 1920, &f), 0);
    CHECK_EQ_INT(f.nrungs, 4);
    CHECK_EQ_INT(f.rungs[1].width, 406); /* 405 -> nearest even: 404 or 406, rounds up */

    /* smaller than every rung: the source only */
    CHECK_EQ_INT(ladder_fit(&with_source, 320, 240, &f), 0);
    CHECK(f.source);
    CHECK_EQ_INT(f.nrungs, 0);

    CHECK_EQ_INT(ladder_fit(&l, 0, 1080, &f), -EINVAL);
    CHECK_EQ_INT(ladder_fit(&l, 1920, -1, &f), -EINVAL);
}

/* A source players cannot decode: the passthrough becomes a rung at the source's size. */
static void test_reencode_source(void)
{
    struct ladder l, f;
    CHECK_EQ_INT(ladder_parse("source,720p:2500k,480p:1000k,360p:600k", &l, NULL, 0), 0);
    CHECK_EQ_INT(ladder_fit(&l, 960, 540, &f), 0);
    CHECK_EQ_INT(f.nrungs, 2);
    CHECK_EQ_INT(ladder_reencode_source(&l, 960, 540, 0, &f), 0);
    CHECK(!f.source);
    CHECK_EQ_INT(f.nrungs, 3);
    CHECK_EQ_INT(f.rungs[0].height, 540);
    CHECK_EQ_INT(f.rungs[0].width, 960);
    CHECK_EQ_INT(f.rungs[0].bit_rate, 1406250); /* 720p's bits per pixel */
    CHECK_EQ_INT(f.rungs[1].height, 480);
    /* the declared bitrate wins */
    CHECK_EQ_INT(ladder_fit(&l, 960, 540, &f), 0);
    CHECK_EQ_INT(ladder_reencode_source(&l, 960, 540, 3000000, &f), 0);
    CHECK_EQ_INT(f.rungs[0].bit_rate, 3000000);
    /* an odd height is rounded down to even: the 720p rung already there is the source-size one */
    CHECK_EQ_INT(ladder_fit(&l, 1280, 721, &f), 0);
    CHECK_EQ_INT(f.nrungs, 3);
    CHECK_EQ_INT(ladder_reencode_source(&l, 1280, 721, 4000000, &f), 0);
    CHECK(!f.source);
    CHECK_EQ_INT(f.nrungs, 3);
    CHECK_EQ_INT(f.rungs[0].height, 720);
    CHECK_EQ_INT(f.rungs[0].bit_rate, 2500000);
    /* smaller than every rung: the source-size rung is the only one */
    CHECK_EQ_INT(ladder_fit(&l, 320, 240, &f), 0);
    CHECK_EQ_INT(f.nrungs, 0);
    CHECK_EQ_INT(ladder_reencode_source(&l, 320, 240, 0, &f), 0);
    CHECK_EQ_INT(f.nrungs, 1);
    CHECK_EQ_INT(f.rungs[0].width, 320);
    /* a ladder without the source has nothing to replace */
    CHECK_EQ_INT(ladder_parse("480p:1000k", &l, NULL, 0), 0);
    CHECK_EQ_INT(ladder_fit(&l, 960, 540, &f), 0);
    CHECK_EQ_INT(ladder_reencode_source(&l, 960, 540, 0, &f), -EINVAL);
    CHECK_EQ_INT(f.nrungs, 1);
}

int main(void)
{
    test_parse();
    test_fit();
    test_reencode_source();
    return test_report("test_ladder");
}
