/* Speaker ranking, slot assignment and RTP rewriting of the voice SFU (sfu/slots.h). */
#include "sfu/slots.h"

#include <string.h>

void slot_speaker_init(struct slot_speaker *sp, uint32_t id)
{
    memset(sp, 0, sizeof(*sp));
    sp->id = id;
    sp->last_level = 127;
}

void slot_speaker_level(struct slot_speaker *sp, int level, int64_t now_us)
{
    if (level < 0 || level > 127)
        level = 127;
    sp->last_level = level;
    sp->level_sum += (uint32_t)(127 - level);
    sp->level_n++;
    sp->last_pkt_us = now_us;
}

int slot_speaker_loudness(const struct slot_speaker *sp)
{
    return (sp->score + 128) / 256;
}

static bool active(const struct slot_speaker *sp, int64_t now_us)
{
    return sp->eligible && sp->last_pkt_us &&
           now_us - sp->last_pkt_us < (int64_t)SLOTS_ACTIVE_MS * 1000;
}

/* The end of an interval: the average loudness of its packets (none: silence) folds into the
 * score with weight 1/2. */
static void update_score(struct slot_speaker *sp)
{
    int32_t avg = sp->level_n ? (int32_t)(sp->level_sum * 256 / sp->level_n) : 0;
    sp->score = (sp->score + avg) / 2;
    sp->level_sum = sp->level_n = 0;
}

int slots_select(struct slot_speaker *const *sp, int n, int want, int64_t now_us, bool *changed)
{
    int nsel = 0, ncand = 0;
    bool ch = false;
    for (int i = 0; i < n; i++) {
        update_score(sp[i]);
        if (!active(sp[i], now_us)) {
            ch = ch || sp[i]->selected;
            sp[i]->selected = false;
            sp[i]->above = 0;
            continue;
        }
        ncand++;
        nsel += sp[i]->selected;
    }
    if (want < 0)
        want = 0;
    /* Free places (or, with no more candidates than places, every one) to the loudest. */
    while (nsel < want && nsel < ncand) {
        struct slot_speaker *best = NULL;
        for (int i = 0; i < n; i++)
            if (!sp[i]->selected && active(sp[i], now_us) && (!best || sp[i]->score > best->score))
                best = sp[i];
        best->selected = true;
        best->above = 0;
        nsel++;
        ch = true;
    }
    while (nsel > want) { /* want shrank: the quietest go */
        struct slot_speaker *worst = NULL;
        for (int i = 0; i < n; i++)
            if (sp[i]->selected && (!worst || sp[i]->score < worst->score))
                worst = sp[i];
        worst->selected = false;
        nsel--;
        ch = true;
    }
    /* Challengers, loudest first, against the quietest inside, with the margin held for
     * SLOTS_CONFIRM evaluations. Each pass swaps at most one pair; at most want passes. */
    for (int pass = 0; pass < want; pass++) {
        struct slot_speaker *c = NULL, *w = NULL;
        for (int i = 0; i < n; i++) {
            struct slot_speaker *s = sp[i];
            if (s->selected) {
                if (!w || s->score < w->score)
                    w = s;
            } else if (active(s, now_us)) {
                if (!c || s->score > c->score)
                    c = s;
            }
        }
        if (!c || !w)
            break;
        for (int i = 0; i < n; i++) /* only the loudest outside keeps its count */
            if (sp[i] != c && !sp[i]->selected)
                sp[i]->above = pass == 0 ? 0 : sp[i]->above;
        if (c->score <= w->score + SLOTS_HYSTERESIS_DB * 256) {
            c->above = 0;
            break;
        }
        if (++c->above < SLOTS_CONFIRM)
            break;
        c->selected = true;
        c->above = 0;
        w->selected = false;
        w->above = 0;
        ch = true;
    }
    if (changed)
        *changed = ch;
    return nsel;
}

bool slots_admit(struct slot_speaker *const *sp, int n, int want, struct slot_speaker *who,
                 int64_t now_us)
{
    if (who->selected || !active(who, now_us))
        return false;
    int nsel = 0;
    for (int i = 0; i < n; i++)
        nsel += sp[i]->selected;
    if (nsel >= want)
        return false;
    who->selected = true;
    who->above = 0;
    return true;
}

int slots_for_receiver(struct slot_speaker *const *sel, int nsel, uint32_t self,
                       const struct slot_map *m, uint32_t *out)
{
    struct slot_speaker *in[SLOTS_MAX + 1], *rest[SLOTS_MAX + 1];
    int nin = 0, nrest = 0, ncand = 0;
    if (nsel > SLOTS_MAX + 1)
        nsel = SLOTS_MAX + 1;
    for (int i = 0; i < nsel; i++)
        ncand += sel[i]->id != self;
    for (int i = 0; i < nsel; i++) {
        if (sel[i]->id == self)
            continue;
        if (ncand <= m->nslots)
            in[nin++] = sel[i]; /* no more than the slots: all */
        else if (slot_map_find(m, sel[i]->id) >= 0 && nin < m->nslots)
            in[nin++] = sel[i];
        else
            rest[nrest++] = sel[i];
    }
    if (ncand > m->nslots) {
        int r = 0;
        while (nin < m->nslots && r < nrest) /* free places: the loudest left out */
            in[nin++] = rest[r++];
        for (; r < nrest; r++) { /* rest[] is loudest first: one swap at most per call */
            int w = 0;
            for (int k = 1; k < nin; k++)
                if (in[k]->score < in[w]->score)
                    w = k;
            if (nin == 0 || rest[r]->score <= in[w]->score + SLOTS_HYSTERESIS_DB * 256)
                break;
            in[w] = rest[r];
        }
    }
    for (int i = 0; i < nin; i++)
        out[i] = in[i]->id;
    return nin;
}

void slot_map_init(struct slot_map *m, int nslots, uint16_t seq0, uint32_t ts0)
{
    memset(m, 0, sizeof(*m));
    m->nslots = nslots < 0 ? 0 : nslots > SLOTS_MAX ? SLOTS_MAX : nslots;
    for (int i = 0; i < SLOTS_MAX; i++) {
        m->slot[i].src = -1;
        m->slot[i].seq = (uint16_t)(seq0 + (uint16_t)(i * 7919));
        m->slot[i].ts = ts0 + (uint32_t)i * 104729u;
    }
}

int slot_map_find(const struct slot_map *m, uint32_t id)
{
    for (int i = 0; i < m->nslots; i++)
        if (m->slot[i].src == (int64_t)id)
            return i;
    return -1;
}

int slot_map_used(const struct slot_map *m)
{
    int n = 0;
    for (int i = 0; i < m->nslots; i++)
        n += m->slot[i].src >= 0;
    return n;
}

int slot_map_assign(struct slot_map *m, const uint32_t *ids, int n)
{
    int changed = 0;
    for (int i = 0; i < m->nslots; i++) {
        struct slot_out *o = &m->slot[i];
        if (o->src < 0)
            continue;
        bool keep = false;
        for (int k = 0; k < n && !keep; k++)
            keep = o->src == (int64_t)ids[k];
        if (!keep) {
            o->src = -1;
            changed++;
        }
    }
    for (int k = 0; k < n; k++) {
        if (slot_map_find(m, ids[k]) >= 0)
            continue;
        for (int i = 0; i < m->nslots; i++) {
            struct slot_out *o = &m->slot[i];
            if (o->src >= 0)
                continue;
            o->src = ids[k];
            o->fresh = true;
            changed++;
            break;
        }
    }
    return changed;
}

int slot_out_rewrite(struct slot_out *o, uint64_t in_seq, uint32_t in_ts, uint32_t clock,
                     int64_t now_us, uint16_t *seq, uint32_t *ts, bool *marker)
{
    *marker = false;
    if (o->fresh) {
        /* The first packet of a new speaker in this slot: one number after the last sent,
         * and the time since it (at least a 20 ms frame) added to the timestamp. */
        uint32_t step = clock / 50;
        if (o->started && now_us > o->last_us) {
            uint64_t el = (uint64_t)(now_us - o->last_us) * clock / 1000000;
            if (el > step)
                step = el > 0x7fffffff ? 0x7fffffff : (uint32_t)el;
        }
        uint16_t next_seq = (uint16_t)(o->seq + 1);
        uint32_t next_ts = o->ts + step;
        o->seq_off = (int64_t)next_seq - (int64_t)(in_seq & 0xffff);
        o->ts_off = next_ts - in_ts;
        o->fresh = false;
        o->src_seq = in_seq;
        *marker = true;
    } else if (in_seq <= o->src_seq) {
        return 0;
    }
    o->src_seq = in_seq;
    o->seq = (uint16_t)((int64_t)(in_seq & 0xffff) + o->seq_off);
    o->ts = in_ts + o->ts_off;
    o->last_us = now_us;
    o->started = true;
    o->packets++;
    *seq = o->seq;
    *ts = o->ts;
    return 1;
}
