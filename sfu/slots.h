/* The forwarding decisions of the voice SFU, with no sockets, no loop and no clock of its own
 * (every time is the caller's): who is heard, in which slot, and the RTP numbers each slot
 * sends. sfu/room.c drives it; tests/unit/sfu/test_slots.c checks it exactly.
 *
 * Ranking. Each speaker's packets carry the RFC 6464 audio level (0 loud .. 127 silent, in
 * -dBov); slot_speaker_level() adds it to the current interval. Every SLOTS_RANK_INTERVAL_MS
 * the room calls slots_select(): a speaker's score is a moving average of its loudness
 * (127 - level) per interval, an interval without packets counting as silence (DTX, or a muted
 * microphone that still sends). A speaker is a candidate while it may be forwarded (may speak,
 * not muted) and sent a packet in the last SLOTS_ACTIVE_MS. At most `want` candidates are
 * selected: with no more candidates than that, all of them (everyone is heard); else free
 * places go to the loudest, and a candidate outside takes the place of the quietest inside
 * only when its score beats that one's by SLOTS_HYSTERESIS_DB for SLOTS_CONFIRM evaluations in
 * a row. So slots do not flap between two similar voices, and a voice that gets clearly louder
 * is in within about 4 intervals (200 ms).
 *
 * Slots. The room selects `slots + 1` speakers; each receiver hears the selected ones except
 * itself, at most `slots` (slots_for_receiver: nobody hears themselves). A receiver's struct
 * slot_map keeps a speaker in the slot it has as long as it stays selected; a newcomer takes
 * a free slot.
 *
 * Rewriting. A slot is one outgoing RTP stream (one SSRC, chosen by the transport): its
 * sequence numbers go up by one per packet sent and its timestamps keep advancing whoever
 * speaks. Within one speaker, out = in + offset for both (so the speaker's own losses and DTX
 * gaps show to the receiver as they are); when the slot changes speaker the offsets are set
 * so the next packet is the previous one's sequence number + 1 and its timestamp is the
 * previous one's plus the wall time in between (at least one 20 ms frame), and it carries the
 * marker bit (a talkspurt starts). Payloads are never touched: DTX and in-band FEC pass
 * through. */
#ifndef KIBITKA_SFU_SLOTS_H
#define KIBITKA_SFU_SLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLOTS_MAX 32
#define SLOTS_RANK_INTERVAL_MS 50
#define SLOTS_ACTIVE_MS 1500
#define SLOTS_HYSTERESIS_DB 6
#define SLOTS_CONFIRM 2

/* One speaker's ranking state; the caller embeds it (zeroed) in its member. */
struct slot_speaker {
    uint32_t id;                 /* the caller's: what slots_select reports and slot maps hold */
    bool eligible;               /* may speak and not muted: the caller keeps it current */
    bool selected;               /* slots_select's result */
    int64_t last_pkt_us;         /* 0: never */
    uint32_t level_sum, level_n; /* loudness (127 - level) of the current interval */
    int32_t score;               /* moving average of loudness, x256 */
    int above;                   /* evaluations in a row it beat the quietest selected one */
    int last_level;              /* the last packet's level (0-127), 127 before any */
};

void slot_speaker_init(struct slot_speaker *sp, uint32_t id);
/* A packet from the speaker with its audio level (0-127; -1: none, counted as silence). */
void slot_speaker_level(struct slot_speaker *sp, int level, int64_t now_us);
/* Loudness 0 (silent) .. 127, the score rounded. */
int slot_speaker_loudness(const struct slot_speaker *sp);

/* One evaluation over the room's n speakers (any order): updates scores and `selected` of each
 * (at most want). Returns how many are selected, and when changed is not NULL, whether the set
 * changed. */
int slots_select(struct slot_speaker *const *sp, int n, int want, int64_t now_us, bool *changed);

struct slot_map;
/* Between evaluations: selects `who` at once when it is a candidate and fewer than `want` of the
 * n speakers are selected (a new voice in a room with free places is heard from its first
 * packet, not the next evaluation). Scores are left alone. true when it was selected now. */
bool slots_admit(struct slot_speaker *const *sp, int n, int want, struct slot_speaker *who,
                 int64_t now_us);

/* The ids receiver `self` should hear, from the selected speakers (sel, nsel, loudest first):
 * all but self, at most m->nslots. When there are more, the ones m holds stay unless one left
 * out beats the quietest kept by SLOTS_HYSTERESIS_DB (so a listener's slots do not flap either).
 * Returns how many were written to out. */
int slots_for_receiver(struct slot_speaker *const *sel, int nsel, uint32_t self,
                       const struct slot_map *m, uint32_t *out);

/* One outgoing slot of a receiver. */
struct slot_out {
    int64_t src;  /* the speaker's id, -1: none */
    bool fresh;   /* src set since its last packet: the offsets are made on the next */
    bool started; /* a packet was sent */
    uint16_t seq; /* the last sent */
    uint32_t ts;
    int64_t last_us;
    int64_t seq_off; /* out = in + seq_off (mod 2^16) */
    uint32_t ts_off;
    uint64_t src_seq; /* the last forwarded input number of src */
    uint64_t packets;
};

struct slot_map {
    int nslots;
    struct slot_out slot[SLOTS_MAX];
};

/* seq0/ts0: the first packet's numbers - 1 (random, RFC 3550). */
void slot_map_init(struct slot_map *m, int nslots, uint16_t seq0, uint32_t ts0);
/* Makes the map hold exactly ids[0..n) (n <= nslots): speakers already in a slot keep it,
 * others leave theirs, newcomers take free slots in order. Returns the number of slots whose
 * speaker changed. */
int slot_map_assign(struct slot_map *m, const uint32_t *ids, int n);
/* The slot holding speaker id, -1. */
int slot_map_find(const struct slot_map *m, uint32_t id);
/* How many slots hold a speaker. */
int slot_map_used(const struct slot_map *m);

/* The numbers a packet of the slot's speaker goes out with: in_seq as the transport gave it
 * (unwrapped, increasing), in_ts, the track's clock, now. 1 and *seq, *ts, *marker; 0 when the
 * packet must not go (not newer than the last one forwarded from this speaker). */
int slot_out_rewrite(struct slot_out *o, uint64_t in_seq, uint32_t in_ts, uint32_t clock,
                     int64_t now_us, uint16_t *seq, uint32_t *ts, bool *marker);

#endif
