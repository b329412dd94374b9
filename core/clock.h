/* Clocks. Monotonic time drives timeouts; wall time is only for what people read
 * (log lines, EXT-X-PROGRAM-DATE-TIME). Both in microseconds. */
#ifndef KIBITKA_CORE_CLOCK_H
#define KIBITKA_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t clock_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Formats wall-clock microseconds as ISO 8601 UTC with milliseconds:
 * 2026-11-23T16:30:00.123Z. out must hold 32 bytes. */
void clock_format_iso8601(int64_t wall_us, char out[32]);

#endif
