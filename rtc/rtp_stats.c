/* RFC 3550 A.1 (sequence validity), A.3 (loss), A.8 (jitter). See rtp_stats.h. */
#include "rtc/rtp_stats.h"

#include <string.h>

#define MAX_DROPOUT 3000
#define MAX_MISORDER 100
#define SEQ_MOD (1u << 16)

void rtp_stats_init(struct rtp_stats *s, uint32_t ssrc, uint32_t clock_rate)
{
    memset(s, 0, sizeof(*s));
    s->ssrc = ssrc;
    s->clock_rate = clock_rate;
    s->probation = RTP_STATS_PROBATION;
    s->bad_seq = SEQ_MOD + 1; /* so seq == bad_seq is false */
}

static void init_seq(struct rtp_stats *s, uint16_t seq)
{
    s->base_seq = seq;
    s->max_seq = seq;
    s->bad_seq = SEQ_MOD + 1;
    s->cycles = 0;
    s->received = 0;
    s->received_prior = 0;
    s->expected_prior = 0;
}

/* A.1 update_seq(); the first packet also starts the source (init_seq then probation). */
static bool update_seq(struct rtp_stats *s, uint16_t seq)
{
    if (!s->started) {
        /* A.1's source start: the packet before this one "was" seq - 1, so the first packet
         * is the first of the probation run. */
        s->started = true;
        init_seq(s, seq);
        s->max_seq = (uint16_t)(seq - 1);
        s->probation = RTP_STATS_PROBATION;
    }
    if (s->probation) {
        if (seq == (uint16_t)(s->max_seq + 1)) {
            s->probation--;
            s->max_seq = seq;
            if (s->probation == 0) {
                init_seq(s, seq);
                s->received++;
                return true;
            }
        } else {
            s->probation = RTP_STATS_PROBATION - 1;
            s->max_seq = seq;
        }
        return false;
    }
    uint16_t udelta = (uint16_t)(seq - s->max_seq);
    if (udelta < MAX_DROPOUT) {
        if (seq < s->max_seq)
            s->cycles += SEQ_MOD;
        s->max_seq = seq;
    } else if (udelta <= SEQ_MOD - MAX_MISORDER) {
        /* a very large jump: believed if the next packet follows it */
        if (seq == s->bad_seq) {
            init_seq(s, seq);
        } else {
            s->bad_seq = (seq + 1) & (SEQ_MOD - 1);
            return false;
        }
    }
    /* else a duplicate or reordered packet */
    s->received++;
    return true;
}

bool rtp_stats_update(struct rtp_stats *s, uint16_t seq, uint32_t rtp_ts, int64_t now_us,
                      bool retransmit)
{
    if (!update_seq(s, seq))
        return false;
    if (retransmit || s->clock_rate == 0)
        return true;
    /* Arrival in RTP units; split so that now_us * rate cannot overflow. */
    int64_t rate = s->clock_rate;
    uint32_t arrival = (uint32_t)((now_us / 1000000) * rate + (now_us % 1000000) * rate / 1000000);
    uint32_t transit = arrival - rtp_ts;
    if (s->have_transit) {
        int32_t d = (int32_t)(transit - s->transit);
        uint32_t ad = d < 0 ? (uint32_t) - (int64_t)d : (uint32_t)d;
        s->jitter_q4 += ad - ((s->jitter_q4 + 8) >> 4);
    }
    s->transit = transit;
    s->have_transit = true;
    return true;
}

void rtp_stats_on_sr(struct rtp_stats *s, uint64_t ntp, int64_t now_us)
{
    s->last_sr = (uint32_t)(ntp >> 16);
    s->last_sr_us = now_us;
}

uint32_t rtp_stats_ext_max(const struct rtp_stats *s)
{
    return s->cycles + s->max_seq;
}

uint32_t rtp_stats_expected(const struct rtp_stats *s)
{
    if (s->probation)
        return 0;
    return rtp_stats_ext_max(s) - s->base_seq + 1;
}

int64_t rtp_stats_lost(const struct rtp_stats *s)
{
    return (int64_t)rtp_stats_expected(s) - s->received;
}

uint32_t rtp_stats_jitter(const struct rtp_stats *s)
{
    return s->jitter_q4 >> 4;
}

void rtp_stats_report(struct rtp_stats *s, int64_t now_us, struct rtcp_report_block *rb)
{
    uint32_t expected = rtp_stats_expected(s);
    int64_t lost = rtp_stats_lost(s);
    if (lost > 0x7FFFFF)
        lost = 0x7FFFFF;
    if (lost < -0x800000)
        lost = -0x800000;
    uint32_t expected_interval = expected - s->expected_prior;
    uint32_t received_interval = s->received - s->received_prior;
    int64_t lost_interval = (int64_t)expected_interval - received_interval;
    s->expected_prior = expected;
    s->received_prior = s->received;
    uint8_t fraction = 0;
    if (expected_interval != 0 && lost_interval > 0)
        fraction = (uint8_t)((lost_interval << 8) / expected_interval);
    uint32_t dlsr = 0;
    if (s->last_sr && now_us > s->last_sr_us)
        dlsr = (uint32_t)((now_us - s->last_sr_us) * 65536 / 1000000);
    *rb = (struct rtcp_report_block){
        .ssrc = s->ssrc,
        .fraction_lost = fraction,
        .cumulative_lost = (int32_t)lost,
        .ext_highest_seq = rtp_stats_ext_max(s),
        .jitter = rtp_stats_jitter(s),
        .lsr = s->last_sr,
        .dlsr = dlsr,
    };
}
