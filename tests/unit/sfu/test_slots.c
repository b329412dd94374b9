/* sfu/slots: speaker ranking with hysteresis, slot assignment per receiver, and the RTP
 * numbers of a slot across speaker changes, on a simulated clock (issue 14).
 *
 * Cases: fewer speakers than places (all selected, each receiver hears every other one, never
 * itself); the loudest go in when there are more; two voices of about the same level do not
 * flap over 10 s; a speaker who gets clearly louder is in within 300 ms; a silent or
 * ineligible (muted, listen-only) speaker is never selected and leaves its place; a receiver's
 * slot keeps its speaker while the set changes around it; a slot's sequence numbers go up by
 * exactly one per packet and its timestamps keep advancing across speaker changes (and across
 * the 16-bit and 32-bit wraps), with the marker on the first packet of a new speaker; a
 * speaker's own loss and DTX gap show through unchanged; packets not newer are refused. */
#include "sfu/slots.h"

#include "test.h"

#define MS 1000
#define IV (SLOTS_RANK_INTERVAL_MS * MS)

static struct slot_speaker spk[16];
static struct slot_speaker *ptr[16];
static int64_t next_rank; /* the room's ranking timer; 0: from the first run */

static void setup(int n)
{
    for (int i = 0; i < n; i++) {
        slot_speaker_init(&spk[i], (uint32_t)(100 + i));
        spk[i].eligible = true;
        ptr[i] = &spk[i];
    }
    next_rank = 0;
}

/* Runs the room for ms: each speaker with levels[i] >= 0 sends a packet every 20 ms at that
 * level, and the ranking runs every interval. Returns the time at the end. */
static int64_t run(int n, const int *levels, int want, int64_t t, int ms)
{
    int64_t end = t + (int64_t)ms * MS;
    if (!next_rank)
        next_rank = t + IV;
    for (; t < end; t += 20 * MS) {
        for (int i = 0; i < n; i++)
            if (levels[i] >= 0)
                slot_speaker_level(&spk[i], levels[i], t);
        while (next_rank <= t) {
            slots_select(ptr, n, want, next_rank, NULL);
            next_rank += IV;
        }
    }
    return t;
}

static int nselected(int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += spk[i].selected;
    return k;
}

static void test_fewer_than_slots(void)
{
    setup(4);
    int lv[4] = {40, 127, 90, 60}; /* one silent (DTX comfort noise): still heard */
    run(4, lv, 9, 1000 * MS, 200);
    CHECK_EQ_INT(nselected(4), 4);
    struct slot_map m;
    slot_map_init(&m, 8, 0, 0);
    uint32_t out[9];
    for (int r = 0; r < 4; r++) {
        int k = slots_for_receiver(ptr, 4, spk[r].id, &m, out);
        CHECK_EQ_INT(k, 3);
        for (int j = 0; j < k; j++)
            CHECK(out[j] != spk[r].id); /* nobody hears themselves */
    }
    /* A listener (not a speaker) hears all four. */
    CHECK_EQ_INT(slots_for_receiver(ptr, 4, 999, &m, out), 4);
}

/* A listener with 2 slots and 3 selected speakers drops one, and keeps dropping the same one
 * while the levels stay within the margin; a clearly louder one gets in. */
static void test_receiver_hysteresis(void)
{
    setup(3);
    spk[0].score = 80 * 256;
    spk[1].score = 70 * 256;
    spk[2].score = 60 * 256;
    struct slot_map m;
    slot_map_init(&m, 2, 0, 0);
    uint32_t out[3];
    int n = slots_for_receiver(ptr, 3, 999, &m, out);
    CHECK_EQ_INT(n, 2);
    slot_map_assign(&m, out, n);
    CHECK(slot_map_find(&m, 100) >= 0 && slot_map_find(&m, 101) >= 0);
    /* 2 creeps above 1 (within the margin), sorted first: nothing moves */
    spk[2].score = 74 * 256;
    struct slot_speaker *order[3] = {&spk[0], &spk[2], &spk[1]};
    n = slots_for_receiver(order, 3, 999, &m, out);
    CHECK_EQ_INT(slot_map_assign(&m, out, n), 0);
    /* 2 clearly louder than 1: it takes 1's slot */
    spk[2].score = 77 * 256;
    n = slots_for_receiver(order, 3, 999, &m, out);
    CHECK_EQ_INT(slot_map_assign(&m, out, n), 2);
    CHECK(slot_map_find(&m, 102) >= 0 && slot_map_find(&m, 101) < 0);
    /* a speaker among the 3 hears the 2 others, whatever the map held */
    n = slots_for_receiver(order, 3, 101, &m, out);
    CHECK_EQ_INT(n, 2);
    CHECK(out[0] != 101 && out[1] != 101);
}

static void test_loudest_and_hysteresis(void)
{
    setup(6);
    /* want 3: levels 20, 30, 40 are in; 50, 60, 70 out. */
    int lv[6] = {20, 30, 40, 50, 60, 70};
    int64_t t = run(6, lv, 3, 1000 * MS, 500);
    CHECK(spk[0].selected && spk[1].selected && spk[2].selected);
    CHECK(!spk[3].selected && !spk[4].selected && !spk[5].selected);
    /* 42 vs 40 and 38 vs 40 alternating every 100 ms: within the margin, nothing moves. */
    int swaps = 0;
    bool was2 = spk[2].selected;
    for (int k = 0; k < 100; k++) {
        lv[2] = k % 2 ? 44 : 38;
        lv[3] = k % 2 ? 38 : 44;
        t = run(6, lv, 3, t, 100);
        if (spk[2].selected != was2)
            swaps++;
        was2 = spk[2].selected;
    }
    CHECK_EQ_INT(swaps, 0);
    CHECK_EQ_INT(nselected(6), 3);
    /* Speaker 5 gets loud (level 10): in within 300 ms, in place of the quietest (2 or 3). */
    lv[2] = 40;
    lv[3] = 50;
    t = run(6, lv, 3, t, 300);
    lv[5] = 10;
    int64_t start = t;
    int64_t in_at = -1;
    for (int step = 0; step < 50 && in_at < 0; step++) {
        t = run(6, lv, 3, t, 20);
        if (spk[5].selected)
            in_at = t - start;
    }
    CHECK(in_at >= 0 && in_at <= 300 * MS);
    CHECK(spk[0].selected && spk[1].selected && !spk[2].selected);
    CHECK_EQ_INT(nselected(6), 3);
}

static void test_silent_and_ineligible(void)
{
    setup(3);
    int lv[3] = {30, 30, 30};
    int64_t t = run(3, lv, 2, 1000 * MS, 300);
    CHECK_EQ_INT(nselected(3), 2);
    /* Muted: out at the next evaluation, and a loud muted one never gets in. */
    for (int i = 0; i < 3; i++)
        if (spk[i].selected) {
            spk[i].eligible = false;
            lv[i] = 0;
            break;
        }
    t = run(3, lv, 2, t, 100);
    for (int i = 0; i < 3; i++)
        if (!spk[i].eligible)
            CHECK(!spk[i].selected);
    CHECK_EQ_INT(nselected(3), 2);
    /* Stops sending (a dropped connection): out after SLOTS_ACTIVE_MS. */
    setup(3);
    int lv2[3] = {30, 30, 30};
    t = run(3, lv2, 3, t, 200);
    CHECK_EQ_INT(nselected(3), 3);
    lv2[1] = -1;
    t = run(3, lv2, 3, t, SLOTS_ACTIVE_MS - 100);
    CHECK(spk[1].selected);
    t = run(3, lv2, 3, t, 200);
    CHECK(!spk[1].selected);
    /* Packets without a level count as silence; they are still candidates. */
    setup(2);
    slot_speaker_level(&spk[0], -1, t);
    slot_speaker_level(&spk[1], 5, t);
    CHECK_EQ_INT(slots_select(ptr, 2, 1, t + IV, NULL), 1);
    CHECK(spk[1].selected && !spk[0].selected);
}

/* A new voice between evaluations: in at once while places are free, scores untouched. */
static void test_admit(void)
{
    setup(3);
    int64_t t = 1000 * MS;
    slot_speaker_level(&spk[0], 30, t);
    CHECK(slots_admit(ptr, 3, 2, &spk[0], t));
    CHECK(!slots_admit(ptr, 3, 2, &spk[0], t)); /* already in */
    CHECK_EQ_INT(spk[0].score, 0);
    CHECK(!slots_admit(ptr, 3, 2, &spk[1], t)); /* never sent: not a candidate */
    slot_speaker_level(&spk[1], 30, t);
    spk[2].eligible = false;
    slot_speaker_level(&spk[2], 30, t);
    CHECK(!slots_admit(ptr, 3, 2, &spk[2], t)); /* muted */
    CHECK(slots_admit(ptr, 3, 2, &spk[1], t));
    spk[2].eligible = true;
    CHECK(!slots_admit(ptr, 3, 2, &spk[2], t)); /* full: the evaluation decides */
    CHECK_EQ_INT(nselected(3), 2);
}

static void test_map_stability(void)
{
    struct slot_map m;
    slot_map_init(&m, 3, 100, 5000);
    uint32_t a[3] = {1, 2, 3};
    CHECK_EQ_INT(slot_map_assign(&m, a, 3), 3);
    CHECK_EQ_INT(slot_map_find(&m, 1), 0);
    CHECK_EQ_INT(slot_map_find(&m, 2), 1);
    CHECK_EQ_INT(slot_map_find(&m, 3), 2);
    uint32_t b[3] = {3, 4, 1}; /* 2 leaves, 4 comes: 4 takes 2's slot, the others stay */
    CHECK_EQ_INT(slot_map_assign(&m, b, 3), 2);
    CHECK_EQ_INT(slot_map_find(&m, 1), 0);
    CHECK_EQ_INT(slot_map_find(&m, 4), 1);
    CHECK_EQ_INT(slot_map_find(&m, 3), 2);
    CHECK_EQ_INT(slot_map_assign(&m, b, 3), 0);
    CHECK_EQ_INT(slot_map_assign(&m, b, 1), 2);
    CHECK_EQ_INT(slot_map_used(&m), 1);
    CHECK_EQ_INT(slot_map_find(&m, 3), 2);
}

/* A slot's stream across speaker changes: +1 per packet, timestamps advancing. */
static void test_rewrite_continuity(void)
{
    struct slot_map m;
    slot_map_init(&m, 1, 65530, 0xfffff000u); /* both wraps come within the test */
    struct slot_out *o = &m.slot[0];
    uint16_t seq, prev_seq = 0;
    uint32_t ts, prev_ts = 0;
    bool marker;
    int64_t t = 5000 * MS;
    int sent = 0;
    /* speaker A: seq from 40000, ts from 123456789; B: seq from 7, ts from 3e9 */
    uint64_t a_seq = 40000, b_seq = 7;
    uint32_t a_ts = 123456789, b_ts = 3000000000u;
    for (int round = 0; round < 6; round++) {
        uint32_t id = round % 2 ? 2 : 1;
        CHECK(slot_map_assign(&m, &id, 1) >= 1);
        for (int k = 0; k < 30; k++, t += 20 * MS) {
            uint64_t *s = id == 1 ? &a_seq : &b_seq;
            uint32_t *ts_in = id == 1 ? &a_ts : &b_ts;
            CHECK_EQ_INT(slot_out_rewrite(o, (*s)++, *ts_in += 960, 48000, t, &seq, &ts, &marker),
                         1);
            CHECK_EQ_INT(marker, k == 0);
            if (sent) {
                CHECK_EQ_INT(seq, (uint16_t)(prev_seq + 1));
                uint32_t d = ts - prev_ts; /* mod 2^32 */
                CHECK_EQ_INT(d, 960);
            }
            prev_seq = seq;
            prev_ts = ts;
            sent++;
        }
        t += 200 * MS; /* a pause between speakers: the timestamp covers it */
        /* the other speaker's (now stale) packets are not this slot's business: the room only
         * rewrites for the speaker the slot holds, checked by slot_map_find */
        prev_ts += 200 * 48;
    }
    CHECK_EQ_INT(o->packets, 180);
    CHECK((uint16_t)(prev_seq - 65530) == 180); /* wrapped 16 bits */
}

static void test_rewrite_loss_dtx_old(void)
{
    struct slot_map m;
    slot_map_init(&m, 1, 1000, 50000);
    uint32_t id = 9;
    slot_map_assign(&m, &id, 1);
    struct slot_out *o = &m.slot[0];
    uint16_t seq;
    uint32_t ts;
    bool mk;
    int64_t t = 1000 * MS;
    CHECK_EQ_INT(slot_out_rewrite(o, 500, 9600, 48000, t, &seq, &ts, &mk), 1);
    CHECK_EQ_INT(seq, 1001);
    CHECK_EQ_INT(ts, 50000 + 960); /* the first packet ever: one frame after ts0 */
    CHECK(mk);
    /* 501 lost: the receiver sees the gap */
    CHECK_EQ_INT(slot_out_rewrite(o, 502, 9600 + 1920, 48000, t + 40 * MS, &seq, &ts, &mk), 1);
    CHECK_EQ_INT(seq, 1003);
    CHECK_EQ_INT(ts, 50000 + 960 + 1920);
    CHECK(!mk);
    /* DTX: 400 ms of silence, the next packet's timestamp jumps by as much, numbers do not */
    CHECK_EQ_INT(slot_out_rewrite(o, 503, 9600 + 1920 + 19200, 48000, t + 440 * MS, &seq, &ts, &mk),
                 1);
    CHECK_EQ_INT(seq, 1004);
    CHECK_EQ_INT(ts, 50000 + 960 + 1920 + 19200);
    /* not newer */
    CHECK_EQ_INT(slot_out_rewrite(o, 503, 0, 48000, t + 460 * MS, &seq, &ts, &mk), 0);
    CHECK_EQ_INT(slot_out_rewrite(o, 400, 0, 48000, t + 460 * MS, &seq, &ts, &mk), 0);
    CHECK_EQ_INT(o->packets, 3);
}

int main(void)
{
    test_fewer_than_slots();
    test_receiver_hysteresis();
    test_loudest_and_hysteresis();
    test_silent_and_ineligible();
    test_admit();
    test_map_stability();
    test_rewrite_continuity();
    test_rewrite_loss_dtx_old();
    return test_report("sfu_slots");
}
