/* The reorder (jitter) buffer of one incoming video SSRC, and the NACKs that try to fill its
 * gaps (RFC 4585 §6.2.1 generic NACK).
 *
 * Packets go in in arrival order (rtp_reorder_push) and come out in sequence order
 * (rtp_reorder_pop). A missing packet holds back everything after it until it arrives (by
 * retransmission, usually: rtp_rtx_unwrap then push) or until its deadline: max_delay_us after
 * the packet that revealed the gap arrived. Then it is skipped, and pop reports how many
 * numbers were skipped before the packet it returns: loss that could not be repaired, for
 * which the caller asks a keyframe (PLI). A push so far ahead that the span would outgrow the
 * buffer skips the oldest numbers at once (what they held is dropped and counted as skipped
 * too: the gap is too big for NACK to matter).
 *
 * Memory: `capacity` slots of RTP_MTU bytes, allocated at create. push copies the packet's
 * bytes into a slot (rtp_packet_write: header as the view says, padding dropped), so the
 * caller's datagram buffer is free again at once; nothing is allocated per packet. The view
 * pop returns points into the slot and stays valid until the next push or pop.
 *
 * NACK: rtp_reorder_nack() lists the missing numbers due for a (re)request: each at most
 * nack_max_retries times, the first at once and the next after an RTT each. A number leaves
 * the list when it arrives or is skipped. When more than nack_max_missing numbers are missing,
 * retransmission will not catch up: no NACK then, and the call says a keyframe is the better
 * request.
 *
 * Time is the caller's monotonic microseconds (now_us); the module has no clock and no timer:
 * rtp_reorder_deadline() says when the next pop may release something by giving up. */
#ifndef KIBITKA_RTC_RTP_REORDER_H
#define KIBITKA_RTC_RTP_REORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtc/rtp.h"

#define RTP_REORDER_RESTART_RUN 64

struct rtp_reorder_config {
    size_t capacity;         /* packets held at most; 0: 512 (at most 32768) */
    int64_t max_delay_us;    /* how long a gap is waited for; 0: 200 ms */
    int nack_max_retries;    /* 0: 10 */
    size_t nack_max_missing; /* 0: capacity / 2 */
};

struct rtp_reorder;

struct rtp_reorder *rtp_reorder_create(const struct rtp_reorder_config *cfg);
/* Frees and clears *pr; NULL is fine. */
void rtp_reorder_destroy(struct rtp_reorder **pr);

enum {
    RTP_REORDER_STORED = 0,
    RTP_REORDER_DUPLICATE = 1, /* the same number is held already: dropped */
    RTP_REORDER_LATE = 2,      /* older than what was released or skipped (a late copy of a
                                  released packet too): dropped */
};

/* Copies the packet into the buffer. One of the values above, or -EMSGSIZE (larger than
 * RTP_MTU). The first packet pushed starts the sequence. A run of RTP_REORDER_RESTART_RUN
 * packets in a row from more than `capacity` numbers back is a sender that jumped back: the
 * buffer restarts at that packet (and the next pop reports one skipped number, so that the
 * caller asks for a keyframe). Late packets nearer than that (repairs that came too late) are
 * only dropped. */
int rtp_reorder_push(struct rtp_reorder *r, const struct rtp_packet *pkt, int64_t now_us);

/* 1 and *out: the next packet in sequence, with *skipped the numbers given up on just before
 * it (0 normally). 0 when the next packet is still awaited (or nothing is held). */
int rtp_reorder_pop(struct rtp_reorder *r, int64_t now_us, struct rtp_packet *out,
                    uint32_t *skipped);

/* When a pop may next give up on a gap (INT64_MAX if there is none waiting). */
int64_t rtp_reorder_deadline(const struct rtp_reorder *r);

/* Missing numbers due for a NACK at now_us, at most cap into seqs, in sequence order; each
 * listed one counts as sent. rtt_us <= 0 means 100 ms. *want_pli (if not NULL) is set, on
 * every call while it lasts, when too many are missing for NACK to help (the caller paces its
 * PLIs). Returns how many were written. */
size_t rtp_reorder_nack(struct rtp_reorder *r, int64_t now_us, int64_t rtt_us, uint16_t *seqs,
                        size_t cap, bool *want_pli);

/* Numbers currently missing between the next to release and the highest received. */
size_t rtp_reorder_missing(const struct rtp_reorder *r);

/* Clears everything: the next push starts a new sequence (after an SSRC change, say). */
void rtp_reorder_reset(struct rtp_reorder *r);

#endif
