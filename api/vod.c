/* The VOD playlist writer and the small parsers of /api/recordings (see vod.h). */
#include "api/vod.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/buf.h"

char *vod_playlist(const struct vod_chunk *chunks, size_t n, bool ended)
{
    int64_t max_us = 0;
    for (size_t i = 0; i < n; i++)
        if (chunks[i].duration_us > max_us)
            max_us = chunks[i].duration_us;
    int64_t target = (max_us + 999999) / 1000000;
    struct buf b;
    buf_init(&b);
    buf_printf(&b,
               "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-PLAYLIST-TYPE:%s\n#EXT-X-TARGETDURATION:%lld\n"
               "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n",
               ended ? "VOD" : "EVENT", (long long)(target > 0 ? target : 1));
    for (size_t i = 0; i < n; i++) {
        const struct vod_chunk *c = &chunks[i];
        if (i > 0 && (c->seq != chunks[i - 1].seq + 1 || c->gap_before_us > 0))
            buf_printf(&b, "#EXT-X-DISCONTINUITY\n");
        buf_printf(&b, "#EXT-X-MAP:URI=\"%s\",BYTERANGE=\"%lld@0\"\n", c->uri,
                   (long long)c->init_bytes);
        buf_printf(&b, "#EXTINF:%.3f,\n#EXT-X-BYTERANGE:%lld@%lld\n%s\n", c->duration_us / 1e6,
                   (long long)(c->bytes - c->init_bytes), (long long)c->init_bytes, c->uri);
    }
    if (ended)
        buf_printf(&b, "#EXT-X-ENDLIST\n");
    buf_append(&b, "", 1);
    char *out = xstrdup((const char *)buf_head(&b));
    buf_free(&b);
    return out;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int vod_init_length(const uint8_t *head, size_t len, int64_t *out)
{
    uint64_t pos = 0;
    bool moov = false;
    while (pos + 8 <= len) {
        const uint8_t *h = head + pos;
        uint64_t size = be32(h), hdr = 8;
        if (size == 1) {
            if (pos + 16 > len)
                return -EAGAIN;
            size = (uint64_t)be32(h + 8) << 32 | be32(h + 12);
            hdr = 16;
        }
        if (size < hdr || size > (uint64_t)INT64_MAX - pos)
            return -EINVAL; /* 0 (to the end of the file) included: no fragment would follow */
        if (!memcmp(h + 4, "moof", 4)) {
            if (!moov)
                return -EINVAL;
            *out = (int64_t)pos;
            return 0;
        }
        moov |= !memcmp(h + 4, "moov", 4);
        pos += size;
    }
    return -EAGAIN;
}

/* A non-negative decimal at *p (at least one digit), advancing *p; -1 when none or too large. */
static int64_t digits(const char **p)
{
    int64_t v = 0;
    const char *s = *p;
    if (!isdigit((unsigned char)*s))
        return -1;
    for (; isdigit((unsigned char)*s); s++) {
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    *p = s;
    return v;
}

int vod_range_parse(const char *header, int64_t size, int64_t *start, int64_t *len)
{
    if (!header || strncmp(header, "bytes=", 6) || strchr(header, ','))
        return 1;
    const char *p = header + 6;
    int64_t a = -1, b = -1;
    if (*p == '-') {
        p++;
        int64_t suffix = digits(&p);
        if (suffix < 0 || *p)
            return 1;
        if (suffix == 0 || size == 0)
            return -ERANGE;
        a = suffix > size ? 0 : size - suffix;
        b = size - 1;
    } else {
        a = digits(&p);
        if (a < 0 || *p++ != '-')
            return 1;
        b = *p ? digits(&p) : INT64_MAX;
        if (b < 0 || *p || b < a)
            return 1;
        if (a >= size)
            return -ERANGE;
        if (b >= size)
            b = size - 1;
    }
    *start = a;
    *len = b - a + 1;
    return 0;
}

int vod_parse_int(const char *text, int64_t min, int64_t max, int64_t *out)
{
    const char *p = text;
    int64_t v = text ? digits(&p) : -1;
    if (v < 0 || *p || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

/* Exactly n digits at *p, advancing it; -1 otherwise. */
static int fixed(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
    }
    return v;
}

static bool expect(const char **p, const char *set)
{
    if (!**p || !strchr(set, **p))
        return false;
    (*p)++;
    return true;
}

/* RFC 3339 date-time: YYYY-MM-DD(T|t| )HH:MM:SS(.frac)?(Z|z|+HH:MM|-HH:MM). */
static int parse_rfc3339(const char *p, int64_t *out_us)
{
    struct tm tm = {0};
    int y = fixed(&p, 4), mo = expect(&p, "-") ? fixed(&p, 2) : -1;
    int d = expect(&p, "-") ? fixed(&p, 2) : -1;
    int h = expect(&p, "Tt ") ? fixed(&p, 2) : -1;
    int mi = expect(&p, ":") ? fixed(&p, 2) : -1;
    int s = expect(&p, ":") ? fixed(&p, 2) : -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        s < 0 || s > 60)
        return -EINVAL;
    int64_t frac_us = 0, scale = 100000;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        for (; isdigit((unsigned char)*p); p++, scale /= 10)
            frac_us += (*p - '0') * scale;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        int oh = fixed(&p, 2), om = expect(&p, ":") ? fixed(&p, 2) : -1;
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -EINVAL;
        offset_s = sign * (oh * 3600 + om * 60);
    } else {
        return -EINVAL;
    }
    if (*p)
        return -EINVAL;
    tm = (struct tm){.tm_year = y - 1900,
                     .tm_mon = mo - 1,
                     .tm_mday = d,
                     .tm_hour = h,
                     .tm_min = mi,
                     .tm_sec = s};
    time_t t = timegm(&tm);
    if (tm.tm_mday != d) /* timegm normalised it: 2026-02-30 */
        return -EINVAL;
    *out_us = ((int64_t)t - offset_s) * 1000000 + frac_us;
    return *out_us < 0 ? -EINVAL : 0;
}

int vod_parse_time(const char *text, int64_t *out_us)
{
    if (!text)
        return -EINVAL;
    int64_t secs;
    /* All digits: unix seconds, up to the year 9999. */
    if (vod_parse_int(text, 0, 253402300799LL, &secs) == 0) {
        *out_us = secs * 1000000;
        return 0;
    }
    return parse_rfc3339(text, out_us);
}
