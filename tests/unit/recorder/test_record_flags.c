/* The recording flags of core/config: --storage, --record-chunk, --spool-max-bytes (sizes with
 * suffixes), --no-record, their defaults and errors. */
#include <stdlib.h>

#include "core/config.h"
#include "test.h"

static int parse(struct config *c, int argc, char **argv, char *err, size_t errlen)
{
    FILE *f = fmemopen(err, errlen, "w");
    int rc = config_parse(c, argc, argv, f);
    if (rc == 0)
        rc = config_check(c, f);
    fclose(f);
    return rc;
}

static void expect_error(int argc, char **argv, const char *want)
{
    struct config c;
    char err[512] = "";
    config_defaults(&c);
    CHECK(parse(&c, argc, argv, err, sizeof(err)) < 0);
    if (!strstr(err, want)) {
        test_failures++;
        fprintf(stderr, "'%s' not in '%s'\n", want, err);
    }
    config_free(&c);
}

int main(void)
{
    struct config c;
    char err[512];
    config_defaults(&c);
    CHECK(c.record_chunk == 300);
    CHECK_EQ_INT(c.spool_max_bytes, 0);
    CHECK(!c.no_record);
    char *url = config_storage_url(&c), *spool = config_spool_dir(&c);
    CHECK_STREQ(url, "file:./kibitka-data/recordings");
    CHECK_STREQ(spool, "./kibitka-data/spool");
    free(url);
    free(spool);
    config_free(&c);

    config_defaults(&c);
    char *a[] = {"--storage",
                 "s3://b/p?endpoint=http://127.0.0.1:9000",
                 "--record-chunk=60",
                 "--spool-max-bytes",
                 "20G",
                 "--no-record"};
    CHECK_EQ_INT(parse(&c, 6, a, err, sizeof(err)), 0);
    url = config_storage_url(&c);
    CHECK_STREQ(url, "s3://b/p?endpoint=http://127.0.0.1:9000");
    free(url);
    CHECK(c.record_chunk == 60);
    CHECK_EQ_INT(c.spool_max_bytes, 20LL << 30);
    CHECK(c.no_record);
    config_free(&c);

    setenv("KIBITKA_SPOOL_MAX_BYTES", "1500000", 1);
    config_defaults(&c);
    CHECK_EQ_INT(parse(&c, 0, NULL, err, sizeof(err)), 0);
    CHECK_EQ_INT(c.spool_max_bytes, 1500000);
    config_free(&c);
    unsetenv("KIBITKA_SPOOL_MAX_BYTES");

    expect_error(2, (char *[]){"--spool-max-bytes", "lots"}, "is not a size in bytes");
    expect_error(2, (char *[]){"--spool-max-bytes", "5X"}, "is not a size in bytes");
    expect_error(2, (char *[]){"--spool-max-bytes", "-1"}, "is not a size in bytes");
    expect_error(2, (char *[]){"--spool-max-bytes", "99999999999T"}, "is not a size in bytes");
    expect_error(2, (char *[]){"--record-chunk", "0.5"}, "--record-chunk 0.5 is out of range");
    expect_error(2, (char *[]){"--storage", "ftp://x"}, "is not file:DIR or s3://");
    return test_report("test_record_flags");
}
