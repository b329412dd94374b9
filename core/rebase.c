/* Timestamp rebasing (see rebase.h). */
#include "core/rebase.h"

#include <string.h>

#define US_TB ((AVRational){1, 1000000})
/* The step after its track's last packet a jumping packet is put at when the track has none. */
#define DEFAULT_STEP_US 20000
/* A track's own step is used only up to this (a longer one was a gap, not a frame). */
#define MAX_STEP_US 1000000

void rebase_init(struct rebase *rb, const AVRational *tbs, int ntracks)
{
    memset(rb, 0, sizeof(*rb));
    rb->ntracks = ntracks < REBASE_MAX_TRACKS ? ntracks : REBASE_MAX_TRACKS;
    for (int i = 0; i < rb->ntracks; i++)
        rb->tr[i].tb = tbs[i];
}

static int64_t *offset_of(struct rebase *rb, int64_t epoch)
{
    return &rb->offset_us[epoch % REBASE_EPOCHS];
}

/* Whether out (output timeline, us) continues track t: not past the head by a jump, and not
 * before the track's last packet (a track's first packet: the head) by one. */
static bool plausible(const struct rebase *rb, const struct rebase_track *t, int64_t out)
{
    int64_t back_from = t->seen ? t->last_us : rb->head_us;
    return out - rb->head_us <= REBASE_JUMP_US && back_from - out <= REBASE_JUMP_US;
}

/* The epoch whose offset continues track t with in (us): its own, else the newest (the other
 * tracks jumped first); -1 when neither does. */
static int64_t find_epoch(struct rebase *rb, const struct rebase_track *t, int64_t in)
{
    int64_t own = t->seen ? t->epoch : rb->epoch;
    if (rb->epoch - own < REBASE_EPOCHS && plausible(rb, t, in + *offset_of(rb, own)))
        return own;
    if (own != rb->epoch && plausible(rb, t, in + *offset_of(rb, rb->epoch)))
        return rb->epoch;
    return -1;
}

bool rebase_packet(struct rebase *rb, AVPacket *pkt, struct rebase_jump *jump)
{
    int idx = pkt->stream_index;
    int64_t ts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
    if (idx < 0 || idx >= rb->ntracks || ts == AV_NOPTS_VALUE)
        return false;
    struct rebase_track *t = &rb->tr[idx];
    int64_t in = av_rescale_q(ts, t->tb, US_TB);
    if (!rb->any) { /* the first packet defines the timeline: offset 0 */
        rb->any = true;
        rb->head_us = in;
    }
    bool jumped = false;
    int64_t epoch = find_epoch(rb, t, in);
    if (epoch < 0) {
        int64_t step = t->step_us > 0 && t->step_us <= MAX_STEP_US ? t->step_us : DEFAULT_STEP_US;
        int64_t from = t->seen ? t->last_us : rb->head_us, to = from + step;
        int64_t was = in + *offset_of(rb, t->seen ? t->epoch : rb->epoch);
        if (jump)
            *jump = (struct rebase_jump){from, in, to, was - to};
        epoch = ++rb->epoch;
        *offset_of(rb, epoch) = to - in;
        rb->jumps++;
        jumped = true;
    }
    int64_t off_us = *offset_of(rb, epoch);
    int64_t off = av_rescale_q(off_us, US_TB, t->tb);
    if (pkt->dts != AV_NOPTS_VALUE)
        pkt->dts += off;
    if (pkt->pts != AV_NOPTS_VALUE)
        pkt->pts += off;
    int64_t out = in + off_us;
    if (t->seen && out > t->last_us)
        t->step_us = out - t->last_us;
    if (!t->seen || out > t->last_us)
        t->last_us = out;
    t->seen = true;
    t->epoch = epoch;
    if (out > rb->head_us)
        rb->head_us = out;
    return jumped;
}
