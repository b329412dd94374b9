#include "packager/playlist.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"

static int64_t seg_duration(const struct pl_segment *s)
{
    if (s->complete)
        return s->duration_us;
    int64_t d = 0;
    for (int k = 0; k < s->nparts; k++)
        d += s->parts[k].duration_us;
    return d;
}

int pl_parts_from(const struct pl_media *m)
{
    int64_t window = 3 * (int64_t)m->target_duration * 1000000;
    int64_t after = 0; /* duration of the segments after segs[i] */
    int i = m->nsegs;
    while (i > 0) {
        const struct pl_segment *s = &m->segs[i - 1];
        if (s->complete && after >= window)
            break;
        after += seg_duration(s);
        i--;
    }
    return i;
}

int pl_skippable(const struct pl_media *m)
{
    int64_t until = 6 * (int64_t)m->target_duration * 1000000;
    int64_t remaining = 0;
    for (int i = 0; i < m->nsegs; i++)
        remaining += seg_duration(&m->segs[i]);
    int k = 0;
    while (k < m->nsegs && m->segs[k].complete && remaining - m->segs[k].duration_us >= until) {
        remaining -= m->segs[k].duration_us;
        k++;
    }
    return k;
}

static void write_header(struct buf *out, const struct pl_media *m)
{
    double td = m->target_duration, pt = (double)m->part_target_us / 1e6;
    char uri[96];
    buf_printf(out, "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:%d\n", m->target_duration);
    buf_printf(out,
               "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=%.3f,"
               "HOLD-BACK=%.3f,PART-HOLD-BACK=%.3f\n",
               6 * td, 3 * td, 3 * pt);
    buf_printf(out, "#EXT-X-PART-INF:PART-TARGET=%.3f\n", pt);
    buf_printf(out, "#EXT-X-MEDIA-SEQUENCE:%" PRId64 "\n", m->nsegs ? m->segs[0].msn : 0);
    if (m->disc_seq > 0)
        buf_printf(out, "#EXT-X-DISCONTINUITY-SEQUENCE:%" PRId64 "\n", m->disc_seq);
    pl_uri_init(uri, sizeof(uri), m->sid, m->nsegs ? m->segs[0].init_version : m->init_version);
    buf_printf(out, "#EXT-X-MAP:URI=\"%s\"\n", uri);
}

/* Before segment i: a discontinuity and the new init section where the init version changes, a
 * discontinuity alone after a timestamp jump; after a delta update's skip, the init of the first
 * segment shown when it is not the header's. (Segment 0's discontinuity is in the header's
 * EXT-X-DISCONTINUITY-SEQUENCE.) */
static void write_map_change(struct buf *out, const struct pl_media *m, int i, int skip)
{
    char uri[96];
    int v = m->segs[i].init_version;
    bool disc = i > 0 && v != m->segs[i - 1].init_version;
    bool after_skip = i == skip && skip > 0 && v != m->segs[0].init_version;
    if (disc || (i > 0 && m->segs[i].discontinuity))
        buf_printf(out, "#EXT-X-DISCONTINUITY\n");
    if (disc || after_skip) {
        pl_uri_init(uri, sizeof(uri), m->sid, v);
        buf_printf(out, "#EXT-X-MAP:URI=\"%s\"\n", uri);
    }
}

static void write_segment(struct buf *out, const struct pl_media *m, const struct pl_segment *s,
                          bool with_parts)
{
    char uri[96];
    if (s->wall_us > 0 && (s->complete || s->nparts > 0)) {
        char date[32];
        clock_format_iso8601(s->wall_us, date);
        buf_printf(out, "#EXT-X-PROGRAM-DATE-TIME:%s\n", date);
    }
    for (int k = 0; with_parts && k < s->nparts; k++) {
        pl_uri_part(uri, sizeof(uri), m->sid, s->msn, k);
        buf_printf(out, "#EXT-X-PART:DURATION=%.5f,URI=\"%s\"%s\n",
                   (double)s->parts[k].duration_us / 1e6, uri,
                   s->parts[k].independent ? ",INDEPENDENT=YES" : "");
    }
    if (!s->complete)
        return;
    pl_uri_segment(uri, sizeof(uri), m->sid, s->msn);
    buf_printf(out, "#EXTINF:%.5f,\n%s\n", (double)s->duration_us / 1e6, uri);
}

void pl_write_media(struct buf *out, const struct pl_media *m, int skip)
{
    write_header(out, m);
    if (skip > 0)
        buf_printf(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS=%d\n", skip);
    int parts_from = pl_parts_from(m);
    for (int i = skip > 0 ? skip : 0; i < m->nsegs; i++) {
        write_map_change(out, m, i, skip);
        write_segment(out, m, &m->segs[i], i >= parts_from);
    }
    if (m->ended) {
        buf_printf(out, "#EXT-X-ENDLIST\n");
        return;
    }
    /* The next part: the one being cut in the open segment, or the first of the next one. */
    int64_t msn = 0;
    int part = 0;
    if (m->nsegs > 0) {
        const struct pl_segment *last = &m->segs[m->nsegs - 1];
        msn = last->complete ? last->msn + 1 : last->msn;
        part = last->complete ? 0 : last->nparts;
    }
    char uri[96];
    pl_uri_part(uri, sizeof(uri), m->sid, msn, part);
    buf_printf(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"%s\"\n", uri);
    for (int i = 0; i < m->nreports; i++)
        buf_printf(out,
                   "#EXT-X-RENDITION-REPORT:URI=\"../%s/media.m3u8\",LAST-MSN=%" PRId64
                   ",LAST-PART=%d\n",
                   m->reports[i].rendition, m->reports[i].last_msn, m->reports[i].last_part);
}

void pl_write_multivariant(struct buf *out, const struct pl_variant *v, int n, bool no_captions)
{
    buf_printf(out, "#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for (int i = 0; i < n; i++) {
        buf_printf(out, "#EXT-X-STREAM-INF:BANDWIDTH=%" PRId64, v[i].bandwidth);
        if (v[i].avg_bandwidth > 0)
            buf_printf(out, ",AVERAGE-BANDWIDTH=%" PRId64, v[i].avg_bandwidth);
        buf_printf(out, ",CODECS=\"%s\"", v[i].codecs);
        if (v[i].width > 0 && v[i].height > 0)
            buf_printf(out, ",RESOLUTION=%dx%d", v[i].width, v[i].height);
        if (v[i].frame_rate > 0)
            buf_printf(out, ",FRAME-RATE=%.3f", v[i].frame_rate);
        if (no_captions)
            buf_printf(out, ",CLOSED-CAPTIONS=NONE");
        buf_printf(out, "\n%s\n", v[i].uri);
    }
}

/* The SPS of an Annex B byte stream (after its NAL header byte), or NULL. */
static const uint8_t *annexb_sps(const uint8_t *p, int size)
{
    for (int i = 0; i + 3 < size; i++) {
        if (p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1 && (p[i + 3] & 0x1f) == 7)
            return i + 7 <= size ? p + i + 4 : NULL;
    }
    return NULL;
}

void pl_codec_avc(const uint8_t *extradata, int size, char *out, size_t n)
{
    const uint8_t *pcl = NULL; /* profile_idc, constraint flags, level_idc */
    if (extradata && size >= 4 && extradata[0] == 1)
        pcl = extradata + 1;
    else if (extradata && size >= 4)
        pcl = annexb_sps(extradata, size);
    if (!pcl) {
        snprintf(out, n, "avc1.42e01f");
        return;
    }
    snprintf(out, n, "avc1.%02x%02x%02x", pcl[0], pcl[1], pcl[2]);
}

void pl_codec_aac(const uint8_t *extradata, int size, char *out, size_t n)
{
    int ot = 2; /* AAC-LC */
    if (extradata && size >= 1) {
        ot = extradata[0] >> 3;
        if (ot == 31 && size >= 2)
            ot = 32 + (((extradata[0] & 7) << 3) | (extradata[1] >> 5));
        if (ot == 0)
            ot = 2;
    }
    snprintf(out, n, "mp4a.40.%d", ot);
}

void pl_uri_init(char *out, size_t n, const char *sid, int version)
{
    if (version > 0)
        snprintf(out, n, "init-%s-%d.mp4", sid, version);
    else
        snprintf(out, n, "init-%s.mp4", sid);
}

void pl_uri_segment(char *out, size_t n, const char *sid, int64_t msn)
{
    snprintf(out, n, "seg-%s-%" PRId64 ".m4s", sid, msn);
}

void pl_uri_part(char *out, size_t n, const char *sid, int64_t msn, int part)
{
    snprintf(out, n, "part-%s-%" PRId64 ".%d.m4s", sid, msn, part);
}

/* Reads [0-9a-z]+ into sid; returns the end or NULL. */
static const char *parse_sid(const char *p, char sid[PL_SID_MAX + 1])
{
    size_t n = 0;
    while ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z')) {
        if (n == PL_SID_MAX)
            return NULL;
        sid[n++] = *p++;
    }
    sid[n] = '\0';
    return n ? p : NULL;
}

/* Reads a decimal number up to 10^15 (no sign, no leading zeros but "0"); returns the end or
 * NULL. */
static const char *parse_num(const char *p, int64_t *v)
{
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
        return NULL;
    int64_t x = 0;
    for (int n = 0; *p >= '0' && *p <= '9'; p++, n++) {
        if (n == 15)
            return NULL;
        x = x * 10 + (*p - '0');
    }
    *v = x;
    return p;
}

enum pl_uri_kind pl_uri_parse(const char *name, char sid[PL_SID_MAX + 1], int64_t *msn, int *part)
{
    const char *p;
    int64_t k = 0;
    *msn = 0;
    *part = 0;
    if (strncmp(name, "init-", 5) == 0) {
        p = parse_sid(name + 5, sid);
        if (p && *p == '-' && (!(p = parse_num(p + 1, msn)) || *msn == 0 || *msn > 1000000))
            return PL_URI_NONE; /* init-<sid>-<version>.mp4, version >= 1 */
        return p && strcmp(p, ".mp4") == 0 ? PL_URI_INIT : PL_URI_NONE;
    }
    if (strncmp(name, "seg-", 4) == 0) {
        p = parse_sid(name + 4, sid);
        if (!p || *p != '-' || !(p = parse_num(p + 1, msn)))
            return PL_URI_NONE;
        return strcmp(p, ".m4s") == 0 ? PL_URI_SEGMENT : PL_URI_NONE;
    }
    if (strncmp(name, "part-", 5) == 0) {
        p = parse_sid(name + 5, sid);
        if (!p || *p != '-' || !(p = parse_num(p + 1, msn)) || *p != '.' ||
            !(p = parse_num(p + 1, &k)) || k > 1000000)
            return PL_URI_NONE;
        *part = (int)k;
        return strcmp(p, ".m4s") == 0 ? PL_URI_PART : PL_URI_NONE;
    }
    return PL_URI_NONE;
}
