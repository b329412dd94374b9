#include "core/clock.h"

#include <stdio.h>

void clock_format_iso8601(int64_t wall_us, char out[32])
{
    time_t secs = (time_t)(wall_us / 1000000);
    int ms = (int)((wall_us / 1000) % 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    /* strftime keeps the compiler's truncation analysis quiet about years past 9999. */
    size_t n = strftime(out, 24, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", ms % 1000);
}
