/* The ladder: which renditions a live stream gets, from `--ladder SPEC`.
 *
 * SPEC is `none` (the source only) or a comma-separated list of rungs, each either `source` (the
 * passthrough rendition, no re-encode) or `HEIGHTp:BITRATE` with BITRATE in bits per second and an
 * optional `k` or `M` suffix: `source,720p:2500k,480p:1000k,360p:600k` (the default,
 * core/config.h CONFIG_LADDER_DEFAULT).
 *
 * Parsing knows nothing of the source; ladder_fit then takes the source's size, drops the encoded
 * rungs taller than it (and as tall, when `source` is kept) and gives each kept rung a width that
 * follows the source's aspect ratio, rounded to an even number (4:2:0 chroma needs even sizes).
 * Encoded rungs come out sorted tallest first, which is the order the transcoder cascades its
 * scalers in. Plain data, no allocation. */
#ifndef KIBITKA_TRANSCODE_LADDER_H
#define KIBITKA_TRANSCODE_LADDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LADDER_MAX_RUNGS 8

struct ladder_rung {
    int height;       /* even, 16..4320 */
    int width;        /* 0 until ladder_fit */
    int64_t bit_rate; /* bits per second */
};

struct ladder {
    bool source; /* the passthrough rendition is included */
    int nrungs;  /* encoded rungs */
    struct ladder_rung rungs[LADDER_MAX_RUNGS];
};

/* Parses spec into *out. Returns 0, or -EINVAL with a one-line message in err (which may be NULL)
 * naming the offending rung. Duplicate heights, an empty spec and a ladder with no rendition at
 * all are errors. */
int ladder_parse(const char *spec, struct ladder *out, char *err, size_t errlen);

/* Copies in to *out keeping the encoded rungs no taller than src_height (shorter than it when
 * the source rendition is in the ladder), with widths computed from src_width:src_height,
 * tallest first. Returns 0 or -EINVAL for a non-positive source size. */
int ladder_fit(const struct ladder *in, int src_width, int src_height, struct ladder *out);

/* For a source players cannot decode (media/timeline.h tl_video_playable): the fitted
 * ladder's passthrough rendition becomes an encoded rung at the source's size (its height
 * rounded down to even), the tallest, at bit_rate; when bit_rate is 0, at the bits per pixel of
 * the configured ladder's tallest rung (in), else 2.5 Mbit/s per 1280x720. Nothing is added when
 * a rung of that height is already there. Returns 0, or -EINVAL when the ladder has no source,
 * or the source is too small or too large for a rung. */
int ladder_reencode_source(const struct ladder *in, int src_width, int src_height, int64_t bit_rate,
                           struct ladder *fitted);

/* The width for height at the aspect ratio src_width:src_height, rounded to the nearest even
 * number, at least 2. */
int ladder_even_width(int src_width, int src_height, int height);

#endif
