/* --ladder parsing and fitting to a source size. See ladder.h. */
#include "transcode/ladder.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_HEIGHT 16
#define MAX_HEIGHT 4320
#define MIN_BIT_RATE 32000LL
#define MAX_BIT_RATE 100000000LL

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* A decimal integer of 1..9 digits at *p; advances p. */
static int parse_uint(const char **p, long long *out)
{
    const char *s = *p;
    long long v = 0;
    int n = 0;
    while (*s >= '0' && *s <= '9') {
        if (++n > 9)
            return -1;
        v = v * 10 + (*s++ - '0');
    }
    if (n == 0)
        return -1;
    *p = s;
    *out = v;
    return 0;
}

/* One `HEIGHTp:BITRATE[k|M]` rung from [s, end). */
static int parse_rung(const char *s, const char *end, struct ladder_rung *r, char *err,
                      size_t errlen)
{
    int len = (int)(end - s);
    long long h, br;
    const char *p = s;
    if (parse_uint(&p, &h) < 0 || *p != 'p')
        return fail(err, errlen, "ladder rung '%.*s': expected HEIGHTp:BITRATE like 720p:2500k",
                    len, s);
    p++;
    if (p >= end || *p != ':')
        return fail(err, errlen, "ladder rung '%.*s': missing ':BITRATE' (like 720p:2500k)", len,
                    s);
    p++;
    if (parse_uint(&p, &br) < 0)
        return fail(err, errlen, "ladder rung '%.*s': bad bitrate", len, s);
    if (p < end && *p == 'k')
        br *= 1000, p++;
    else if (p < end && *p == 'M')
        br *= 1000000, p++;
    if (p != end)
        return fail(err, errlen, "ladder rung '%.*s': trailing characters after the bitrate", len,
                    s);
    if (h < MIN_HEIGHT || h > MAX_HEIGHT || h % 2)
        return fail(err, errlen, "ladder rung '%.*s': height must be even, %d..%d", len, s,
                    MIN_HEIGHT, MAX_HEIGHT);
    if (br < MIN_BIT_RATE || br > MAX_BIT_RATE)
        return fail(err, errlen, "ladder rung '%.*s': bitrate must be 32k..100M", len, s);
    r->height = (int)h;
    r->width = 0;
    r->bit_rate = br;
    return 0;
}

static int cmp_taller_first(const void *a, const void *b)
{
    const struct ladder_rung *x = a, *y = b;
    return (y->height > x->height) - (y->height < x->height);
}

int ladder_parse(const char *spec, struct ladder *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!spec || !*spec)
        return fail(err, errlen, "ladder: empty spec (use 'none' for the source only)");
    if (strcmp(spec, "none") == 0) {
        out->source = true;
        return 0;
    }
    const char *s = spec;
    for (;;) {
        const char *end = strchr(s, ',');
        if (!end)
            end = s + strlen(s);
        size_t len = (size_t)(end - s);
        if (len == 0)
            return fail(err, errlen, "ladder: empty rung in '%s'", spec);
        if (len == 6 && memcmp(s, "source", 6) == 0) {
            if (out->source)
                return fail(err, errlen, "ladder: 'source' given twice");
            out->source = true;
        } else if (len == 4 && memcmp(s, "none", 4) == 0) {
            return fail(err, errlen, "ladder: 'none' cannot be combined with other rungs");
        } else {
            if (out->nrungs == LADDER_MAX_RUNGS)
                return fail(err, errlen, "ladder: more than %d encoded rungs", LADDER_MAX_RUNGS);
            struct ladder_rung *r = &out->rungs[out->nrungs];
            int rc = parse_rung(s, end, r, err, errlen);
            if (rc < 0)
                return rc;
            for (int i = 0; i < out->nrungs; i++)
                if (out->rungs[i].height == r->height)
                    return fail(err, errlen, "ladder: %dp given twice", r->height);
            out->nrungs++;
        }
        if (!*end)
            break;
        s = end + 1;
    }
    qsort(out->rungs, (size_t)out->nrungs, sizeof(out->rungs[0]), cmp_taller_first);
    return 0;
}

int ladder_even_width(int src_width, int src_height, int height)
{
    /* nearest even: round(w * h / H / 2) * 2, in integers */
    long long num = (long long)src_width * height;
    long long w = (num + src_height) / (2LL * src_height) * 2;
    return w < 2 ? 2 : (int)w;
}

int ladder_fit(const struct ladder *in, int src_width, int src_height, struct ladder *out)
{
    if (src_width <= 0 || src_height <= 0)
        return -EINVAL;
    struct ladder fitted = {.source = in->source};
    for (int i = 0; i < in->nrungs; i++) {
        struct ladder_rung r = in->rungs[i];
        /* Beside the passthrough, a rung as tall as the source would be a second rendition of
         * the same size, at a lower quality, for the cost of an encode. */
        if (r.height > src_height || (in->source && r.height == src_height))
            continue;
        r.width = ladder_even_width(src_width, src_height, r.height);
        fitted.rungs[fitted.nrungs++] = r;
    }
    qsort(fitted.rungs, (size_t)fitted.nrungs, sizeof(fitted.rungs[0]), cmp_taller_first);
    *out = fitted;
    return 0;
}

/* Bits per second for a rung of width x height at the configured ladder's bits per pixel. */
static int64_t scaled_rate(const struct ladder *in, int src_width, int src_height, int width,
                           int height)
{
    struct ladder_rung top = {.height = 720, .width = 1280, .bit_rate = 2500000};
    for (int i = 0; i < in->nrungs; i++)
        if (i == 0 || in->rungs[i].height > top.height)
            top = in->rungs[i];
    if (in->nrungs > 0)
        top.width = ladder_even_width(src_width, src_height, top.height);
    return (int64_t)((double)top.bit_rate * width * height / ((double)top.width * top.height));
}

int ladder_reencode_source(const struct ladder *in, int src_width, int src_height, int64_t bit_rate,
                           struct ladder *fitted)
{
    int height = src_height & ~1;
    if (!fitted->source || height < 16 || height > 4320 || src_width <= 0)
        return -EINVAL;
    fitted->source = false;
    for (int i = 0; i < fitted->nrungs; i++)
        if (fitted->rungs[i].height == height)
            return 0;
    if (fitted->nrungs == LADDER_MAX_RUNGS)
        fitted->nrungs--; /* the shortest goes: cannot happen with rungs below the source */
    struct ladder_rung r = {.height = height,
                            .width = ladder_even_width(src_width, src_height, height)};
    r.bit_rate = bit_rate > 0 ? bit_rate : scaled_rate(in, src_width, src_height, r.width, height);
    memmove(&fitted->rungs[1], &fitted->rungs[0], (size_t)fitted->nrungs * sizeof(r));
    fitted->rungs[0] = r;
    fitted->nrungs++;
    return 0;
}
