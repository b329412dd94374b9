/* Receive statistics of one incoming SSRC, as RFC 3550 appendix A.1, A.3 and A.8 compute them,
 * and the RTCP report block they make (rtcp.h).
 *
 * Plain data the caller embeds (one per media SSRC); no allocation. A source is valid after
 * RTP_STATS_PROBATION packets in sequence (A.1; until then nothing counts), and a jump of more
 * than 3000 numbers is believed only when the next packet follows it (a restarted sender).
 * Retransmissions (RTX repaired packets) count as received, which is what the loss in the
 * report then means (loss after repair), but they are left out of the jitter: their arrival
 * time says nothing about the network's variation. */
#ifndef KIBITKA_RTC_RTP_STATS_H
#define KIBITKA_RTC_RTP_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "rtc/rtcp.h"

#define RTP_STATS_PROBATION 2

struct rtp_stats {
    uint32_t ssrc;
    uint32_t clock_rate;
    bool started;
    uint16_t max_seq;
    uint32_t cycles; /* shifted count of sequence number cycles (A.1: multiples of 2^16) */
    uint32_t base_seq;
    uint32_t bad_seq;
    uint32_t probation;
    uint32_t received;
    uint32_t expected_prior;
    uint32_t received_prior;
    bool have_transit;
    uint32_t transit;
    uint32_t jitter_q4; /* interarrival jitter * 16 (A.8's integer form) */
    uint32_t last_sr;   /* middle 32 bits of the last SR's NTP time, 0 before one */
    int64_t last_sr_us; /* when it arrived (the caller's monotonic clock) */
};

void rtp_stats_init(struct rtp_stats *s, uint32_t ssrc, uint32_t clock_rate);

/* One received packet at now_us (monotonic microseconds). Returns true when the packet counts
 * (the source is valid and the number believable), false in probation or on a bad jump. */
bool rtp_stats_update(struct rtp_stats *s, uint16_t seq, uint32_t rtp_ts, int64_t now_us,
                      bool retransmit);

/* A sender report of this SSRC arrived. */
void rtp_stats_on_sr(struct rtp_stats *s, uint64_t ntp, int64_t now_us);

uint32_t rtp_stats_ext_max(const struct rtp_stats *s);
uint32_t rtp_stats_expected(const struct rtp_stats *s);
int64_t rtp_stats_lost(const struct rtp_stats *s);
uint32_t rtp_stats_jitter(const struct rtp_stats *s);

/* Fills a report block and starts the next interval for the fraction lost (A.3). */
void rtp_stats_report(struct rtp_stats *s, int64_t now_us, struct rtcp_report_block *rb);

#endif
