/* Reorder buffer and NACK list of one incoming SSRC. See rtp_reorder.h.
 *
 * Slots form a ring indexed by the unwrapped sequence number modulo capacity. Every number
 * from head (the next to release) to highest (the highest received) has its slot, holding
 * either the packet or the mark that it is missing (with its NACK state); highest - head stays
 * below capacity. */
#include "rtc/rtp_reorder.h"

#include <errno.h>

#include "core/alloc.h"

enum slot_state { SLOT_EMPTY, SLOT_PRESENT, SLOT_MISSING };

struct slot {
    int64_t ext;
    int64_t since_us;     /* PRESENT: arrival; MISSING: when the gap was seen */
    int64_t nack_last_us; /* MISSING: when last listed for a NACK */
    uint16_t len;
    uint8_t state;
    uint8_t nack_tries;
    uint8_t data[RTP_MTU];
};

struct rtp_reorder {
    struct rtp_reorder_config cfg;
    struct slot *slots;
    struct rtp_seq_unwrap unwrap;
    bool started;
    int64_t head;    /* next number to release */
    int64_t highest; /* highest number received; head - 1 when nothing is held */
    size_t missing;
    uint32_t skipped_pending; /* given up on since the last released packet */
    unsigned late_run;
};

struct rtp_reorder *rtp_reorder_create(const struct rtp_reorder_config *cfg)
{
    struct rtp_reorder *r = xcalloc(1, sizeof(*r));
    r->cfg = *cfg;
    if (r->cfg.capacity == 0)
        r->cfg.capacity = 512;
    if (r->cfg.capacity > 32768)
        r->cfg.capacity = 32768;
    if (r->cfg.max_delay_us <= 0)
        r->cfg.max_delay_us = 200000;
    if (r->cfg.nack_max_retries <= 0)
        r->cfg.nack_max_retries = 10;
    if (r->cfg.nack_max_retries > 255)
        r->cfg.nack_max_retries = 255;
    if (r->cfg.nack_max_missing == 0)
        r->cfg.nack_max_missing = r->cfg.capacity / 2;
    r->slots = xcalloc(r->cfg.capacity, sizeof(*r->slots));
    return r;
}

void rtp_reorder_destroy(struct rtp_reorder **pr)
{
    if (!*pr)
        return;
    xfreep(&(*pr)->slots);
    xfreep(pr);
}

void rtp_reorder_reset(struct rtp_reorder *r)
{
    for (size_t i = 0; i < r->cfg.capacity; i++)
        r->slots[i].state = SLOT_EMPTY;
    r->unwrap = (struct rtp_seq_unwrap){0};
    r->started = false;
    r->head = r->highest = 0;
    r->missing = 0;
    r->skipped_pending = 0;
    r->late_run = 0;
}

static struct slot *slot_of(struct rtp_reorder *r, int64_t ext)
{
    return &r->slots[(uint64_t)ext % r->cfg.capacity];
}

static void add_skipped(struct rtp_reorder *r, int64_t n)
{
    uint64_t sum = (uint64_t)r->skipped_pending + (uint64_t)n;
    r->skipped_pending = sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
}

/* Moves head to new_head, giving up on everything before it. */
static void skip_to(struct rtp_reorder *r, int64_t new_head)
{
    for (int64_t e = r->head; e < new_head && e <= r->highest; e++) {
        struct slot *s = slot_of(r, e);
        if (s->state == SLOT_MISSING)
            r->missing--;
        s->state = SLOT_EMPTY;
    }
    add_skipped(r, new_head - r->head);
    r->head = new_head;
    if (r->highest < new_head - 1)
        r->highest = new_head - 1;
}

static void store(struct rtp_reorder *r, struct slot *s, int64_t ext, const struct rtp_packet *pkt,
                  int64_t now_us)
{
    s->len = (uint16_t)rtp_packet_write(pkt, s->data, sizeof(s->data));
    s->ext = ext;
    s->since_us = now_us;
    s->state = SLOT_PRESENT;
}

int rtp_reorder_push(struct rtp_reorder *r, const struct rtp_packet *pkt, int64_t now_us)
{
    if (pkt->hdr_len + pkt->payload_len > RTP_MTU)
        return -EMSGSIZE;
    int64_t ext = rtp_seq_unwrap(&r->unwrap, pkt->seq);
    if (!r->started) {
        r->started = true;
        r->head = ext;
        r->highest = ext - 1;
    }
    if (ext < r->head) {
        /* Only packets from beyond the window count towards a restart: late repairs of numbers
         * just given up on come in bursts after a loss and mean nothing of the kind. */
        if (r->head - ext <= (int64_t)r->cfg.capacity || ++r->late_run < RTP_REORDER_RESTART_RUN)
            return RTP_REORDER_LATE;
        rtp_reorder_reset(r);
        r->skipped_pending = 1;
        return rtp_reorder_push(r, pkt, now_us);
    }
    r->late_run = 0;
    int64_t cap = (int64_t)r->cfg.capacity;
    if (ext - r->head >= cap)
        skip_to(r, ext - cap + 1);
    struct slot *s = slot_of(r, ext);
    if (ext <= r->highest) {
        if (s->state == SLOT_PRESENT)
            return RTP_REORDER_DUPLICATE;
        r->missing--;
        store(r, s, ext, pkt, now_us);
        return RTP_REORDER_STORED;
    }
    for (int64_t e = r->highest + 1; e < ext; e++) {
        struct slot *m = slot_of(r, e);
        m->ext = e;
        m->since_us = now_us;
        m->state = SLOT_MISSING;
        m->nack_tries = 0;
        m->nack_last_us = 0;
        r->missing++;
    }
    r->highest = ext;
    store(r, s, ext, pkt, now_us);
    return RTP_REORDER_STORED;
}

int rtp_reorder_pop(struct rtp_reorder *r, int64_t now_us, struct rtp_packet *out,
                    uint32_t *skipped)
{
    while (r->started && r->head <= r->highest) {
        struct slot *s = slot_of(r, r->head);
        if (s->state == SLOT_PRESENT) {
            s->state = SLOT_EMPTY;
            r->head++;
            *skipped = r->skipped_pending;
            r->skipped_pending = 0;
            /* Cannot fail: store() wrote a well-formed packet (the view had been parsed). */
            if (rtp_parse(s->data, s->len, out) < 0)
                continue;
            return 1;
        }
        if (now_us - s->since_us < r->cfg.max_delay_us)
            return 0;
        skip_to(r, r->head + 1);
    }
    return 0;
}

int64_t rtp_reorder_deadline(const struct rtp_reorder *r)
{
    if (!r->started || r->head > r->highest)
        return INT64_MAX;
    const struct slot *s = &r->slots[(uint64_t)r->head % r->cfg.capacity];
    return s->state == SLOT_MISSING ? s->since_us + r->cfg.max_delay_us : INT64_MAX;
}

size_t rtp_reorder_nack(struct rtp_reorder *r, int64_t now_us, int64_t rtt_us, uint16_t *seqs,
                        size_t cap, bool *want_pli)
{
    if (want_pli)
        *want_pli = false;
    if (r->missing == 0)
        return 0;
    if (r->missing > r->cfg.nack_max_missing) {
        if (want_pli)
            *want_pli = true;
        return 0;
    }
    if (rtt_us <= 0)
        rtt_us = 100000;
    size_t n = 0;
    for (int64_t e = r->head; e <= r->highest && n < cap; e++) {
        struct slot *s = slot_of(r, e);
        if (s->state != SLOT_MISSING || s->nack_tries >= r->cfg.nack_max_retries)
            continue;
        if (s->nack_tries > 0 && now_us - s->nack_last_us < rtt_us)
            continue;
        s->nack_tries++;
        s->nack_last_us = now_us;
        seqs[n++] = (uint16_t)e;
    }
    return n;
}

size_t rtp_reorder_missing(const struct rtp_reorder *r)
{
    return r->missing;
}
