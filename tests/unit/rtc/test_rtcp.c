/* RTCP: writers round-tripped through the parser (SR, RR from receive stats, SDES, BYE, NACK
 * packing across the wrap, PLI, FIR, REMB), the compound rules, hostile compounds (bad
 * lengths, RC=31 in a short packet, a 10,000-pair NACK), NTP time and the SR's NTP<->RTP
 * mapping. */
#include <errno.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "rtc/rtcp.h"
#include "rtc/rtp.h"
#include "rtc/rtp_stats.h"
#include "test.h"

static int next(struct rtcp_iter *it, struct rtcp_packet *p)
{
    return rtcp_iter_next(it, p);
}

static void test_sr_sdes_bye(void)
{
    uint8_t buf[512];
    struct rtcp_writer w;
    rtcp_writer_init(&w, buf, sizeof(buf), false);
    struct rtcp_sr_info sr = {.ssrc = 0x11223344,
                              .ntp = 0xE5A1B2C380000000ull,
                              .rtp_ts = 123456,
                              .packet_count = 1000,
                              .octet_count = 1200000};
    struct rtcp_report_block rb[2] = {
        {.ssrc = 1,
         .fraction_lost = 51,
         .cumulative_lost = 7,
         .ext_highest_seq = 70000,
         .jitter = 9,
         .lsr = 0xAABBCCDD,
         .dlsr = 32768},
        {.ssrc = 2, .cumulative_lost = -3},
    };
    CHECK_EQ_INT(rtcp_write_sr(&w, &sr, rb, 2), 0);
    CHECK_EQ_INT(rtcp_write_sdes_cname(&w, 0x11223344, "kibitka-cname"), 0);
    CHECK_EQ_INT(rtcp_write_bye(&w, 0x11223344), 0);
    CHECK_EQ_INT(w.len % 4, 0);

    size_t count = 0;
    CHECK_EQ_INT(rtcp_compound_check(buf, w.len, false, &count), 0);
    CHECK_EQ_INT(count, 3);
    struct rtcp_iter it;
    struct rtcp_packet p;
    rtcp_iter_init(&it, buf, w.len, false);
    CHECK_EQ_INT(next(&it, &p), 1);
    CHECK_EQ_INT(p.kind, RTCP_KIND_SR);
    CHECK_EQ_INT(p.sr.ssrc, 0x11223344);
    CHECK(p.sr.ntp == 0xE5A1B2C380000000ull);
    CHECK_EQ_INT(p.sr.rtp_ts, 123456);
    CHECK_EQ_INT(p.sr.packet_count, 1000);
    CHECK_EQ_INT(p.sr.octet_count, 1200000);
    CHECK_EQ_INT(p.nitems, 2);
    struct rtcp_report_block got;
    rtcp_report_block_get(&p, 0, &got);
    CHECK(got.ssrc == 1 && got.fraction_lost == 51 && got.cumulative_lost == 7 &&
          got.ext_highest_seq == 70000 && got.jitter == 9 && got.lsr == 0xAABBCCDD &&
          got.dlsr == 32768);
    rtcp_report_block_get(&p, 1, &got);
    CHECK_EQ_INT(got.ssrc, 2);
    CHECK_EQ_INT(got.cumulative_lost, -3);
    CHECK_EQ_INT(next(&it, &p), 1);
    CHECK_EQ_INT(p.kind, RTCP_KIND_SDES);
    CHECK_EQ_INT(p.nitems, 1);
    uint32_t ssrc;
    const uint8_t *cname;
    size_t clen;
    rtcp_sdes_get(&p, 0, &ssrc, &cname, &clen);
    CHECK_EQ_INT(ssrc, 0x11223344);
    CHECK(clen == 13 && memcmp(cname, "kibitka-cname", 13) == 0);
    CHECK_EQ_INT(next(&it, &p), 1);
    CHECK_EQ_INT(p.kind, RTCP_KIND_BYE);
    CHECK_EQ_INT(rtcp_bye_ssrc(&p, 0), 0x11223344);
    CHECK_EQ_INT(next(&it, &p), 0);
    CHECK_EQ_INT(next(&it, &p), 0);
}

/* Receive stats through an RR and back. */
static void test_rr_from_stats(void)
{
    struct rtp_stats s;
    rtp_stats_init(&s, 0xBEEF, 90000);
    for (uint16_t q = 65530; q != 10; q++)
        if (q != 3 && q != 4)
            rtp_stats_update(&s, q, 0, 0, false);
    struct rtcp_report_block rb;
    rtp_stats_report(&s, 0, &rb);
    uint8_t buf[64];
    struct rtcp_writer w;
    rtcp_writer_init(&w, buf, sizeof(buf), false);
    CHECK_EQ_INT(rtcp_write_rr(&w, 0x5150, &rb, 1), 0);
    CHECK_EQ_INT(w.len, 32);
    struct rtcp_iter it;
    struct rtcp_packet p;
    rtcp_iter_init(&it, buf, w.len, false);
    CHECK_EQ_INT(next(&it, &p), 1);
    CHECK_EQ_INT(p.kind, RTCP_KIND_RR);
    CHECK_EQ_INT(p.sender_ssrc, 0x5150);
    struct rtcp_report_block got;
    rtcp_report_block_get(&p, 0, &got);
    CHECK_EQ_INT(got.ssrc, 0xBEEF);
    CHECK_EQ_INT(got.ext_highest_seq, 65536 + 9);
    CHECK_EQ_INT(got.cumulative_lost, 2); /* base 65531 (A.1 probation) .. 65545: 15, 13 got */
    CHECK_EQ_INT(got.fraction_lost, 2 * 256 / 15);
    CHECK_EQ_INT(next(&it, &p), 0);
}

static void test_feedback_round_trip(void)
{
    uint8_t buf[256];
    struct rtcp_writer w;
    /* feedback alone is reduced-size RTCP: refused unless negotiated */
    rtcp_writer_init(&w, buf, sizeof(buf), false);
    CHECK_EQ_INT(rtcp_write_pli(&w, 1, 2), -EPROTO);
    CHECK_EQ_INT(w.len, 0);
    rtcp_writer_init(&w, buf, sizeof(buf), true);
    const uint16_t seqs[] = {65530, 65533, 65535, 0, 1, 20, 40, 41};
    CHECK_EQ_INT(rtcp_write_nack(&w, 1, 0xAAAA, seqs, 8), 0);
    CHECK_EQ_INT(w.len, 12 + 3 * 4); /* 65530 +3 +5 +6 +7; 20; 40 +1 */
    CHECK_EQ_INT(rtcp_write_pli(&w, 1, 0xAAAA), 0);
    CHECK_EQ_INT(rtcp_write_fir(&w, 1, 0xAAAA, 42), 0);
    const uint32_t remb_ssrcs[] = {0xAAAA, 0xBBBB};
    CHECK_EQ_INT(rtcp_write_remb(&w, 1, 2500000, remb_ssrcs, 2), 0);
    CHECK_EQ_INT(rtcp_write_remb(&w, 1, 3000001, remb_ssrcs, 0), 0);

    CHECK_EQ_INT(rtcp_compound_check(buf, w.len, false, NULL), -EINVAL); /* first is no SR/RR */
    struct rtcp_iter it;
    struct rtcp_packet p;
    rtcp_iter_init(&it, buf, w.len, true);
    CHECK_EQ_INT(next(&it, &p), 1);
    CHECK_EQ_INT(p.kind, RTCP_KIND_NACK);
    CHECK_EQ_INT(p.media_ssrc, 0xAAAA);
    CHECK_EQ_INT(p.nitems, 3);
    uint16_t back[64];
    CHECK_EQ_INT(rtcp_nack_seqs(&p, back, 64), 8);
    CHECK(memcmp(back, seqs, sizeof(seqs)) == 0);
    CHECK_EQ_INT(rtcp_nack_seqs(&p, back, 3), 3);
    CHECK_EQ_INT(next(&it, &p), 1);
    CHECK_EQ_INT(p.kind, RTCP_KIND_PLI);
    CHECK(p.sender_ssrc == 1 && p.media_ssrc == 0xAAAA);
    CHECK_EQ_INT(next(&it, &p), 1);
    CHECK_EQ_INT(p.kind, RTCP_KIND_FIR);
    CHECK_EQ_INT(p.nitems, 1);
    uint32_t ssrc;
    uint8_t seqnr;
    rtcp_fir_get(&p, 0, &ssrc, &seqnr);
    CHECK(ssrc == 0xAAAA && seqnr == 42);
    CHECK_EQ_INT(next(&it, &p), 1);
    CHECK_EQ_INT(p.kind, RTCP_KIND_REMB);
    CHECK(p.remb_bitrate == 2500000);
    CHECK_EQ_INT(p.nitems, 2);
    CHECK_EQ_INT(rtcp_remb_ssrc(&p, 1), 0xBBBB);
    CHECK_EQ_INT(next(&it, &p), 1);
    CHECK_EQ_INT(p.kind, RTCP_KIND_REMB);
    /* 3000001 needs exponent 4: mantissa 187500, rounded down */
    CHECK(p.remb_bitrate == 3000000);
    CHECK_EQ_INT(next(&it, &p), 0);

    /* out of room: -ENOSPC, what was there stays */
    rtcp_writer_init(&w, buf, 20, true);
    CHECK_EQ_INT(rtcp_write_pli(&w, 1, 2), 0);
    CHECK_EQ_INT(rtcp_write_pli(&w, 1, 2), -ENOSPC);
    CHECK_EQ_INT(w.len, 12);
    CHECK_EQ_INT(rtcp_write_nack(&w, 1, 2, seqs, 0), -EINVAL);
    CHECK_EQ_INT(rtcp_write_sdes_cname(&w, 1, ""), -EINVAL);
}

/* A hand-built common header. */
static void hdr(uint8_t *p, uint8_t first, uint8_t type, uint16_t words_minus_1)
{
    p[0] = first;
    p[1] = type;
    rtp_wr16(p + 2, words_minus_1);
}

static void test_hostile(void)
{
    uint8_t b[64] = {0};
    size_t count = 99;
    /* an empty datagram; a header cut short */
    CHECK_EQ_INT(rtcp_compound_check(b, 0, false, &count), -EINVAL);
    CHECK_EQ_INT(count, 0);
    hdr(b, 0x80, RTCP_RR, 1);
    CHECK_EQ_INT(rtcp_compound_check(b, 3, false, NULL), -EINVAL);
    /* an empty RR is fine; version 1 or 3 is not */
    CHECK_EQ_INT(rtcp_compound_check(b, 8, false, NULL), 0);
    b[0] = 0x40;
    CHECK_EQ_INT(rtcp_compound_check(b, 8, false, NULL), -EINVAL);
    b[0] = 0xC0;
    CHECK_EQ_INT(rtcp_compound_check(b, 8, false, NULL), -EINVAL);
    /* length beyond the datagram; lengths not adding up (2 bytes left over) */
    hdr(b, 0x80, RTCP_RR, 2);
    CHECK_EQ_INT(rtcp_compound_check(b, 8, false, NULL), -EINVAL);
    hdr(b, 0x80, RTCP_RR, 1);
    CHECK_EQ_INT(rtcp_compound_check(b, 10, false, &count), -EINVAL);
    CHECK_EQ_INT(count, 1); /* the first was whole and valid */
    hdr(b, 0x80, RTCP_RR, 0xFFFF);
    CHECK_EQ_INT(rtcp_compound_check(b, 64, false, NULL), -EINVAL);
    /* RC=31 in an 8-byte RR; SC=31 in a 4-byte BYE; RC=1 one byte short */
    hdr(b, 0x80 | 31, RTCP_RR, 1);
    CHECK_EQ_INT(rtcp_compound_check(b, 8, false, NULL), -EINVAL);
    hdr(b, 0x80, RTCP_RR, 1);
    hdr(b + 8, 0x80 | 31, RTCP_BYE, 0);
    CHECK_EQ_INT(rtcp_compound_check(b, 12, false, NULL), -EINVAL);
    hdr(b, 0x81, RTCP_SR, 11); /* 28 + 24 = 52 bytes needed */
    CHECK_EQ_INT(rtcp_compound_check(b, 48, false, NULL), -EINVAL);
    hdr(b, 0x81, RTCP_SR, 12);
    CHECK_EQ_INT(rtcp_compound_check(b, 52, false, NULL), 0);
    /* SDES whose item runs past the packet; whose chunk has no end */
    hdr(b, 0x80, RTCP_RR, 1);
    hdr(b + 8, 0x81, RTCP_SDES, 2);
    rtp_wr32(b + 12, 5);
    b[16] = 1;
    b[17] = 10;
    CHECK_EQ_INT(rtcp_compound_check(b, 20, false, NULL), -EINVAL);
    b[17] = 1;
    b[19] = 7;
    CHECK_EQ_INT(rtcp_compound_check(b, 20, false, NULL), -EINVAL);
    b[19] = 0;
    CHECK_EQ_INT(rtcp_compound_check(b, 20, false, NULL), 0);
    /* padding: on the last packet only, count within the packet */
    hdr(b, 0xA0, RTCP_RR, 1);
    hdr(b + 8, 0x80, RTCP_BYE, 0);
    CHECK_EQ_INT(rtcp_compound_check(b, 12, false, NULL), -EINVAL);
    hdr(b, 0x80, RTCP_RR, 2);
    b[0] = 0xA0;
    b[11] = 4;
    CHECK_EQ_INT(rtcp_compound_check(b, 12, false, NULL), 0);
    b[11] = 9;
    CHECK_EQ_INT(rtcp_compound_check(b, 12, false, NULL), -EINVAL);
    b[11] = 0;
    CHECK_EQ_INT(rtcp_compound_check(b, 12, false, NULL), -EINVAL);
    /* feedback shorter than its two SSRCs; REMB whose SSRC count overruns */
    hdr(b, 0x81, RTCP_PSFB, 1);
    CHECK_EQ_INT(rtcp_compound_check(b, 8, true, NULL), -EINVAL);
    hdr(b, 0x80 | RTCP_PSFB_AFB, RTCP_PSFB, 4);
    memcpy(b + 12, "REMB", 4);
    b[16] = 1;
    CHECK_EQ_INT(rtcp_compound_check(b, 20, true, NULL), -EINVAL);
    b[16] = 0;
    CHECK_EQ_INT(rtcp_compound_check(b, 20, true, NULL), 0);
    /* exponent 63: saturates instead of wrapping */
    b[17] = 63 << 2;
    b[18] = 0xFF;
    struct rtcp_iter it;
    struct rtcp_packet p;
    rtcp_iter_init(&it, b, 20, true);
    CHECK_EQ_INT(next(&it, &p), 1);
    CHECK(p.remb_bitrate == UINT64_MAX);
    /* an unknown type and an APP packet are skipped, not errors */
    hdr(b, 0x80, RTCP_RR, 1);
    hdr(b + 8, 0x80, RTCP_APP, 2);
    hdr(b + 20, 0x80, 210, 0);
    rtcp_iter_init(&it, b, 24, false);
    CHECK_EQ_INT(next(&it, &p), 1);
    CHECK_EQ_INT(next(&it, &p), 1);
    CHECK_EQ_INT(p.kind, RTCP_KIND_OTHER);
    CHECK_EQ_INT(next(&it, &p), 1);
    CHECK_EQ_INT(p.kind, RTCP_KIND_OTHER);
    CHECK_EQ_INT(next(&it, &p), 0);
    /* after an error every call fails */
    rtcp_iter_init(&it, b, 23, false);
    CHECK_EQ_INT(next(&it, &p), 1);
    CHECK_EQ_INT(next(&it, &p), 1);
    CHECK_EQ_INT(next(&it, &p), -EINVAL);
    CHECK_EQ_INT(next(&it, &p), -EINVAL);
}

/* 10,000 PID+BLP pairs each asking 17 numbers: parses, and the caller gets what it has room
 * for. */
static void test_huge_nack(void)
{
    size_t n = 12 + 10000 * 4;
    uint8_t *b = xmalloc(n);
    hdr(b, 0x80 | RTCP_RTPFB_NACK, RTCP_RTPFB, (uint16_t)(n / 4 - 1));
    rtp_wr32(b + 4, 1);
    rtp_wr32(b + 8, 2);
    for (size_t i = 0; i < 10000; i++) {
        rtp_wr16(b + 12 + i * 4, (uint16_t)(i * 17));
        rtp_wr16(b + 14 + i * 4, 0xFFFF);
    }
    struct rtcp_iter it;
    struct rtcp_packet p;
    rtcp_iter_init(&it, b, n, true);
    CHECK_EQ_INT(next(&it, &p), 1);
    CHECK_EQ_INT(p.kind, RTCP_KIND_NACK);
    CHECK_EQ_INT(p.nitems, 10000);
    uint16_t seqs[512];
    CHECK_EQ_INT(rtcp_nack_seqs(&p, seqs, 512), 512);
    CHECK_EQ_INT(seqs[17], 17);
    CHECK_EQ_INT(seqs[511], 511);
    CHECK_EQ_INT(next(&it, &p), 0);
    /* one byte short of its length field */
    rtcp_iter_init(&it, b, n - 1, true);
    CHECK_EQ_INT(next(&it, &p), -EINVAL);
    xfreep(&b);
}

static void test_ntp(void)
{
    /* 2023-11-14T22:13:20.5Z */
    int64_t us = 1700000000500000;
    uint64_t ntp = rtcp_ntp_from_unix_us(us);
    CHECK(ntp >> 32 == 1700000000ull + 2208988800ull);
    CHECK_EQ_INT((uint32_t)ntp, 0x80000000u);
    CHECK_EQ_INT(rtcp_ntp_to_unix_us(ntp), us);
    CHECK_EQ_INT(rtcp_ntp_to_unix_us(rtcp_ntp_from_unix_us(us + 123457)), us + 123457);
    CHECK_EQ_INT(rtcp_ntp_mid(0x0123456789ABCDEFull), 0x456789AB);

    /* video at 90 kHz and audio at 48 kHz, each SR taken at the same instant T */
    struct rtcp_ntp_map v, a;
    rtcp_ntp_map_init(&v, 90000);
    rtcp_ntp_map_init(&a, 48000);
    int64_t out;
    CHECK_EQ_INT(rtcp_ntp_map_to_unix_us(&v, 0, &out), -EAGAIN);
    rtcp_ntp_map_update(&v, ntp, 0xFFFFFF00u); /* the RTP clock wraps in what follows */
    rtcp_ntp_map_update(&a, ntp, 1000);
    int64_t tv, ta;
    CHECK_EQ_INT(rtcp_ntp_map_to_unix_us(&v, 0xFFFFFF00u + 9000, &tv), 0); /* +100 ms */
    CHECK_EQ_INT(rtcp_ntp_map_to_unix_us(&a, 1000 + 4800, &ta), 0);        /* +100 ms */
    CHECK_EQ_INT(tv, us + 100000);
    CHECK_EQ_INT(ta, tv);
    CHECK_EQ_INT(rtcp_ntp_map_to_unix_us(&a, 1000 - 24000, &ta), 0); /* before the SR */
    CHECK_EQ_INT(ta, us - 500000);
    /* an hour later: 324,000,000 ticks, beyond what d << 32 could hold */
    CHECK_EQ_INT(rtcp_ntp_map_to_unix_us(&v, 0xFFFFFF00u + 324000000u, &tv), 0);
    CHECK_EQ_INT(tv, us + 3600000000ll);
    /* RTT: the SR left at 10.0 s, the peer held it 0.25 s, its RR came back at 10.3125 s */
    uint32_t lsr = rtcp_ntp_mid(10ull << 32), arrive = lsr + 20480;
    CHECK_EQ_INT(rtcp_rtt_us(arrive, lsr, 16384), 62500);
    CHECK_EQ_INT(rtcp_rtt_us(arrive, 0, 16384), -1);
    CHECK_EQ_INT(rtcp_rtt_us(lsr, lsr, 16384), -1);
    uint64_t n2;
    CHECK_EQ_INT(rtcp_ntp_map_to_ntp(&a, 1000 + 48000, &n2), 0);
    CHECK(n2 == ntp + (1ull << 32));
}

int main(void)
{
    test_sr_sdes_bye();
    test_rr_from_stats();
    test_feedback_round_trip();
    test_hostile();
    test_huge_nack();
    test_ntp();
    return test_report("test_rtcp");
}
