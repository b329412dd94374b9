/* Reading fMP4 fragments back in tests: per track (found by its handler in the moov), how many
 * samples the moofs flag as sync and as non-sync, and the total duration; the flags each sample
 * gets are resolved as a player resolves them (trun per-sample flags, else first-sample flags,
 * else tfhd's default, else trex's, which our muxer leaves at 0: sync). */
#ifndef KIBITKA_TEST_BOXES_H
#define KIBITKA_TEST_BOXES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define BOXES_MAX_TRACKS 4

struct box_track {
    uint32_t id;
    char handler[5]; /* "vide", "soun" */
    uint32_t timescale;
    int sync, non_sync;
    uint64_t duration; /* sum of the trun sample durations, in timescale */
    uint32_t tfhd_flags;
};

struct boxes {
    struct box_track t[BOXES_MAX_TRACKS];
    int n;
    int fragments;
};

static uint32_t boxes_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The child box of type inside [p, end), or NULL; *len is its size. */
static const uint8_t *boxes_find(const uint8_t *p, const uint8_t *end, const char *type,
                                 size_t *len)
{
    while (p + 8 <= end) {
        size_t n = boxes_u32(p);
        if (n < 8 || p + n > end)
            return NULL;
        if (memcmp(p + 4, type, 4) == 0) {
            *len = n;
            return p;
        }
        p += n;
    }
    return NULL;
}

static struct box_track *boxes_track(struct boxes *b, uint32_t id)
{
    for (int i = 0; i < b->n; i++)
        if (b->t[i].id == id)
            return &b->t[i];
    if (b->n == BOXES_MAX_TRACKS)
        return &b->t[0];
    b->t[b->n].id = id;
    return &b->t[b->n++];
}

/* tkhd's track_ID, mdhd's timescale and hdlr's handler of each trak. */
static void boxes_moov(struct boxes *b, const uint8_t *p, const uint8_t *end)
{
    size_t n;
    const uint8_t *trak;
    for (; (trak = boxes_find(p, end, "trak", &n)); p = trak + n) {
        const uint8_t *te = trak + n, *tkhd, *mdia, *hdlr, *mdhd;
        size_t tl, ml, hl, dl;
        if (!(tkhd = boxes_find(trak + 8, te, "tkhd", &tl)) ||
            !(mdia = boxes_find(trak + 8, te, "mdia", &ml)) ||
            !(hdlr = boxes_find(mdia + 8, mdia + ml, "hdlr", &hl)) ||
            !(mdhd = boxes_find(mdia + 8, mdia + ml, "mdhd", &dl)))
            continue;
        bool v1 = tkhd[8] == 1, m1 = mdhd[8] == 1;
        struct box_track *t = boxes_track(b, boxes_u32(tkhd + (v1 ? 28 : 20)));
        memcpy(t->handler, hdlr + 16, 4);
        t->timescale = boxes_u32(mdhd + (m1 ? 28 : 20));
    }
}

static void boxes_traf(struct boxes *b, const uint8_t *p, const uint8_t *end)
{
    size_t n;
    const uint8_t *tfhd = boxes_find(p, end, "tfhd", &n), *trun;
    if (!tfhd)
        return;
    uint32_t tf = boxes_u32(tfhd + 8) & 0xffffff;
    struct box_track *t = boxes_track(b, boxes_u32(tfhd + 12));
    t->tfhd_flags = tf;
    const uint8_t *q = tfhd + 16;
    q += (tf & 0x01) ? 8 : 0; /* base data offset */
    q += (tf & 0x02) ? 4 : 0; /* sample description index */
    uint32_t def_dur = 0, def_flags = 0;
    if (tf & 0x08)
        def_dur = boxes_u32(q), q += 4;
    q += (tf & 0x10) ? 4 : 0; /* default size */
    if (tf & 0x20)
        def_flags = boxes_u32(q);
    for (; (trun = boxes_find(p, end, "trun", &n)); p = trun + n) {
        uint32_t rf = boxes_u32(trun + 8) & 0xffffff, count = boxes_u32(trun + 12);
        const uint8_t *s = trun + 16 + ((rf & 0x01) ? 4 : 0);
        uint32_t first = def_flags;
        bool has_first = rf & 0x04;
        if (has_first)
            first = boxes_u32(s), s += 4;
        for (uint32_t i = 0; i < count && s <= trun + n; i++) {
            uint32_t dur = def_dur, flags = (i == 0 && has_first) ? first : def_flags;
            if (rf & 0x100)
                dur = boxes_u32(s), s += 4;
            s += (rf & 0x200) ? 4 : 0;
            if (rf & 0x400)
                flags = boxes_u32(s), s += 4;
            s += (rf & 0x800) ? 4 : 0;
            t->duration += dur;
            /* sample_is_non_sync_sample is bit 16 */
            *((flags & 0x10000) ? &t->non_sync : &t->sync) += 1;
        }
    }
}

/* Walks the top-level boxes of an fMP4 file or fragment sequence (init optional). */
static void boxes_read(struct boxes *b, const uint8_t *data, size_t len)
{
    const uint8_t *p = data, *end = data + len;
    while (p + 8 <= end) {
        size_t n = boxes_u32(p);
        if (n < 8 || p + n > end)
            return;
        if (memcmp(p + 4, "moov", 4) == 0)
            boxes_moov(b, p + 8, p + n);
        if (memcmp(p + 4, "moof", 4) == 0) {
            b->fragments++;
            const uint8_t *q = p + 8, *traf;
            size_t tn;
            for (; (traf = boxes_find(q, p + n, "traf", &tn)); q = traf + tn)
                boxes_traf(b, traf + 8, traf + tn);
        }
        p += n;
    }
}

/* The track with that handler, or NULL. */
static struct box_track *boxes_by_handler(struct boxes *b, const char *handler)
{
    for (int i = 0; i < b->n; i++)
        if (memcmp(b->t[i].handler, handler, 4) == 0)
            return &b->t[i];
    return NULL;
}

#endif
