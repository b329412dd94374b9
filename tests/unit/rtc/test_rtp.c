/* RTP: header parse and its hostile inputs, RFC 8285 extensions, sequence unwrap, RTX, receive
 * statistics against hand-computed values, the reorder buffer and its NACK list. */
#include <errno.h>
#include <stdlib.h>

#include "rtc/rtp.h"
#include "rtc/rtp_reorder.h"
#include "rtc/rtp_stats.h"
#include "test.h"

/* A 12-byte header with no CSRC, extension or padding, then plen payload bytes (i & 0xFF). */
static size_t mk(uint8_t *b, uint16_t seq, uint32_t ts, uint32_t ssrc, uint8_t pt, size_t plen)
{
    b[0] = 0x80;
    b[1] = pt;
    rtp_wr16(b + 2, seq);
    rtp_wr32(b + 4, ts);
    rtp_wr32(b + 8, ssrc);
    for (size_t i = 0; i < plen; i++)
        b[12 + i] = (uint8_t)i;
    return 12 + plen;
}

static void test_parse_basic(void)
{
    uint8_t b[64];
    size_t n = mk(b, 4660, 0x01020304, 0xCAFEBABE, 96, 10);
    b[1] |= 0x80;
    struct rtp_packet p;
    CHECK_EQ_INT(rtp_parse(b, n, &p), 0);
    CHECK(p.marker);
    CHECK_EQ_INT(p.pt, 96);
    CHECK_EQ_INT(p.seq, 4660);
    CHECK_EQ_INT(p.ts, 0x01020304);
    CHECK_EQ_INT(p.ssrc, 0xCAFEBABE);
    CHECK_EQ_INT(p.hdr_len, 12);
    CHECK(p.payload == b + 12);
    CHECK_EQ_INT(p.payload_len, 10);
    CHECK_EQ_INT(p.padding, 0);

    /* two CSRCs */
    uint8_t c[64];
    memcpy(c, b, 12);
    c[0] = 0x82;
    memset(c + 12, 0xAA, 8);
    c[20] = 0x55;
    CHECK_EQ_INT(rtp_parse(c, 21, &p), 0);
    CHECK_EQ_INT(p.cc, 2);
    CHECK_EQ_INT(rtp_rd32(p.csrc + 4), 0xAAAAAAAA);
    CHECK_EQ_INT(p.payload_len, 1);
    CHECK_EQ_INT(p.payload[0], 0x55);
}

static void test_parse_hostile(void)
{
    uint8_t b[64];
    struct rtp_packet p;
    size_t n = mk(b, 1, 2, 3, 96, 0);

    /* version != 2 */
    for (int v = 0; v < 4; v++) {
        b[0] = (uint8_t)(v << 6);
        CHECK_EQ_INT(rtp_parse(b, n, &p), v == 2 ? 0 : -EINVAL);
    }
    /* shorter than the fixed header */
    b[0] = 0x80;
    CHECK_EQ_INT(rtp_parse(b, 11, &p), -EINVAL);
    /* CC=15 in a 12-byte packet; CC=1 with 3 of its 4 bytes */
    b[0] = 0x8F;
    CHECK_EQ_INT(rtp_parse(b, 12, &p), -EINVAL);
    b[0] = 0x81;
    CHECK_EQ_INT(rtp_parse(b, 15, &p), -EINVAL);
    CHECK_EQ_INT(rtp_parse(b, 16, &p), 0);

    /* extension: header cut short, length 0xFFFF, length one word too long */
    b[0] = 0x90;
    CHECK_EQ_INT(rtp_parse(b, 14, &p), -EINVAL);
    rtp_wr16(b + 12, 0xBEDE);
    rtp_wr16(b + 14, 0xFFFF);
    memset(b + 16, 0, 8);
    CHECK_EQ_INT(rtp_parse(b, 24, &p), -EINVAL);
    rtp_wr16(b + 14, 3);
    CHECK_EQ_INT(rtp_parse(b, 24, &p), -EINVAL);
    rtp_wr16(b + 14, 2);
    CHECK_EQ_INT(rtp_parse(b, 24, &p), 0);
    CHECK_EQ_INT(p.payload_len, 0);

    /* padding: count 0, count beyond the payload, no byte after the header, a whole payload */
    n = mk(b, 1, 2, 3, 96, 6);
    b[0] = 0xA0;
    b[n - 1] = 0;
    CHECK_EQ_INT(rtp_parse(b, n, &p), -EINVAL);
    b[n - 1] = 7;
    CHECK_EQ_INT(rtp_parse(b, n, &p), -EINVAL);
    CHECK_EQ_INT(rtp_parse(b, 12, &p), -EINVAL);
    b[n - 1] = 6;
    CHECK_EQ_INT(rtp_parse(b, n, &p), 0);
    CHECK_EQ_INT(p.payload_len, 0);
    CHECK_EQ_INT(p.padding, 6);
    b[n - 1] = 2;
    CHECK_EQ_INT(rtp_parse(b, n, &p), 0);
    CHECK_EQ_INT(p.payload_len, 4);
}

static void test_extensions(void)
{
    uint8_t b[64];
    struct rtp_packet p;
    const uint8_t *v;
    size_t len;
    size_t n = mk(b, 1, 2, 3, 96, 0);
    /* one-byte form: id 1 (1 byte), a padding byte, id 3 (3 bytes), id 15 then junk */
    b[0] = 0x90;
    const uint8_t one[] = {0xBE, 0xDE, 0x00, 0x03, 0x10, 0x7F, 0x00, 0x32,
                           0x0A, 0x0B, 0x0C, 0xF0, 0x41, 0x00, 0x00, 0x00};
    memcpy(b + n, one, sizeof(one));
    n += sizeof(one);
    b[n++] = 0xEE; /* payload */
    CHECK_EQ_INT(rtp_parse(b, n, &p), 0);
    CHECK_EQ_INT(p.ext_profile, 0xBEDE);
    CHECK_EQ_INT(p.ext_len, 12);
    CHECK_EQ_INT(p.payload_len, 1);
    CHECK_EQ_INT(p.payload[0], 0xEE);
    CHECK_EQ_INT(rtp_ext_find(&p, 1, &v, &len), 0);
    CHECK(len == 1 && v[0] == 0x7F);
    CHECK_EQ_INT(rtp_ext_find(&p, 3, &v, &len), 0);
    CHECK(len == 3 && v[0] == 0x0A && v[2] == 0x0C);
    CHECK_EQ_INT(rtp_ext_find(&p, 4, &v, &len), -ENOENT); /* after the id 15 stop */
    CHECK_EQ_INT(rtp_ext_find(&p, 2, &v, &len), -ENOENT);
    CHECK_EQ_INT(rtp_ext_find(&p, 0, &v, &len), -ENOENT);
    /* an element whose length runs past the block */
    b[16 + 8] = 0x5F; /* id 5, 16 bytes: past the end */
    CHECK_EQ_INT(rtp_ext_find(&p, 5, &v, &len), -ENOENT);
    CHECK_EQ_INT(rtp_ext_find(&p, 1, &v, &len), 0); /* what came before still counts */

    /* two-byte form: id 5 empty, padding, id 200 with 3 bytes */
    n = mk(b, 1, 2, 3, 96, 0);
    b[0] = 0x90;
    const uint8_t two[] = {0x10, 0x00, 0x00, 0x02, 0x05, 0x00, 0x00, 0xC8, 0x03, 1, 2, 3};
    memcpy(b + n, two, sizeof(two));
    n += sizeof(two);
    CHECK_EQ_INT(rtp_parse(b, n, &p), 0);
    CHECK_EQ_INT(rtp_ext_find(&p, 5, &v, &len), 0);
    CHECK_EQ_INT(len, 0);
    CHECK_EQ_INT(rtp_ext_find(&p, 200, &v, &len), 0);
    CHECK(len == 3 && v[0] == 1 && v[2] == 3);
    b[16 + 4] = 9; /* id 200's length past the block */
    CHECK_EQ_INT(rtp_ext_find(&p, 200, &v, &len), -ENOENT);
    /* another profile: valid RTP, no elements */
    rtp_wr16(b + 12, 0x1234);
    CHECK_EQ_INT(rtp_parse(b, n, &p), 0);
    CHECK_EQ_INT(rtp_ext_find(&p, 5, &v, &len), -ENOENT);
}

static void test_unwrap(void)
{
    struct rtp_seq_unwrap u = {0};
    CHECK_EQ_INT(rtp_seq_unwrap(&u, 65534), 65534);
    CHECK_EQ_INT(rtp_seq_unwrap(&u, 65535), 65535);
    CHECK_EQ_INT(rtp_seq_unwrap(&u, 1), 65537);     /* 0 lost or late */
    CHECK_EQ_INT(rtp_seq_unwrap(&u, 0), 65536);     /* reordered back across the wrap */
    CHECK_EQ_INT(rtp_seq_unwrap(&u, 65533), 65533); /* further back, still before the wrap */
    CHECK_EQ_INT(rtp_seq_unwrap(&u, 2), 65538);
    CHECK_EQ_INT(rtp_seq_unwrap_peek(&u, 32769), 65536 + 32769); /* forward 32767 */
    CHECK_EQ_INT(rtp_seq_unwrap_peek(&u, 32770), 32770);         /* back 32768 */
    /* many cycles */
    for (uint32_t i = 3; i < 3 * 65536; i += 1000)
        rtp_seq_unwrap(&u, (uint16_t)i);
    CHECK_EQ_INT(rtp_seq_unwrap(&u, 5), 4 * 65536 + 5); /* the last was 196003 + 65536 */

    struct rtp_seq_unwrap w = {0};
    CHECK_EQ_INT(rtp_seq_unwrap(&w, 5), 5);
    CHECK_EQ_INT(rtp_seq_unwrap(&w, 65534), -2); /* before the first */
}

static void test_rtx(void)
{
    uint8_t b[64], out[64];
    size_t n = mk(b, 777, 9000, 0x2222, 97, 6);
    rtp_wr16(b + 12, 0xFFFE); /* OSN */
    struct rtp_packet rtx, orig;
    CHECK_EQ_INT(rtp_parse(b, n, &rtx), 0);
    struct rtp_rtx_map map[] = {
        {.rtx_pt = 99, .media_pt = 98, .rtx_ssrc = 0x2222, .media_ssrc = 7},
        {.rtx_pt = 97, .media_pt = 96, .rtx_ssrc = 0x2222, .media_ssrc = 0x1111}};
    CHECK_EQ_INT(rtp_rtx_unwrap(&rtx, map, 2, &orig), 0);
    CHECK_EQ_INT(orig.seq, 0xFFFE);
    CHECK_EQ_INT(orig.pt, 96);
    CHECK_EQ_INT(orig.ssrc, 0x1111);
    CHECK_EQ_INT(orig.ts, 9000);
    CHECK_EQ_INT(orig.payload_len, 4);
    CHECK_EQ_INT(orig.payload[0], 2);
    /* written out and parsed again it is the original packet */
    int len = rtp_packet_write(&orig, out, sizeof(out));
    CHECK_EQ_INT(len, 16);
    struct rtp_packet again;
    CHECK_EQ_INT(rtp_parse(out, (size_t)len, &again), 0);
    CHECK_EQ_INT(again.seq, 0xFFFE);
    CHECK_EQ_INT(again.pt, 96);
    CHECK_EQ_INT(again.ssrc, 0x1111);
    CHECK(again.payload_len == 4 && again.payload[3] == 5);
    CHECK_EQ_INT(rtp_packet_write(&orig, out, 15), -ENOSPC);
    /* not an RTX pair of the map; too short to hold an OSN */
    CHECK_EQ_INT(rtp_rtx_unwrap(&rtx, map, 1, &orig), -ENOENT);
    CHECK_EQ_INT(rtp_parse(b, 13, &rtx), 0);
    CHECK_EQ_INT(rtp_rtx_unwrap(&rtx, map, 2, &orig), -EINVAL);
}

/* Clock 8000 Hz, a packet every 20 ms (160 ticks); arrival in ticks is now_us / 125. */
static void test_stats(void)
{
    struct rtp_stats s;
    rtp_stats_init(&s, 0xABCD, 8000);
    /* seq 100 is probation, 101 starts the counts (A.1); 104 is lost; 102 and 103 come
     * 10 ms (80 ticks) late */
    struct {
        uint16_t seq;
        int64_t at_us;
        bool counts;
    } pk[] = {{100, 0, false},
              {101, 20000, true},
              {102, 50000, true},
              {103, 70000, true},
              {105, 100000, true}};
    for (size_t i = 0; i < sizeof(pk) / sizeof(pk[0]); i++)
        CHECK_EQ_INT(
            rtp_stats_update(&s, pk[i].seq, (uint32_t)(pk[i].seq - 100) * 160, pk[i].at_us, false),
            pk[i].counts);
    /* transits 0, 80, 80, 0 ticks, so D = 80, 0, 80; jitter*16 (A.8): 0 + 80 - 0 = 80,
     * 80 + 0 - 5 = 75, 75 + 80 - 5 = 150; reported 150 / 16 = 9 */
    CHECK_EQ_INT(s.jitter_q4, 150);
    CHECK_EQ_INT(rtp_stats_jitter(&s), 9);
    CHECK_EQ_INT(rtp_stats_expected(&s), 5);
    CHECK_EQ_INT(rtp_stats_lost(&s), 1);

    rtp_stats_on_sr(&s, 0x0123456789ABCDEFull, 1000000);
    struct rtcp_report_block rb;
    rtp_stats_report(&s, 1500000, &rb);
    CHECK_EQ_INT(rb.ssrc, 0xABCD);
    CHECK_EQ_INT(rb.fraction_lost, 256 / 5); /* 1 of 5 */
    CHECK_EQ_INT(rb.cumulative_lost, 1);
    CHECK_EQ_INT(rb.ext_highest_seq, 105);
    CHECK_EQ_INT(rb.jitter, 9);
    CHECK_EQ_INT(rb.lsr, 0x456789AB);
    CHECK_EQ_INT(rb.dlsr, 32768); /* 0.5 s in 1/65536 s */

    /* the next interval: 106..109 all arrive; a retransmitted copy of 104 counts as received
     * but leaves the jitter alone */
    for (uint16_t q = 106; q < 110; q++)
        rtp_stats_update(&s, q, (uint32_t)(q - 100) * 160, (int64_t)(q - 100) * 20000, false);
    uint32_t j = s.jitter_q4;
    CHECK(rtp_stats_update(&s, 104, 4 * 160, 900000, true));
    CHECK_EQ_INT(s.jitter_q4, j);
    rtp_stats_report(&s, 2000000, &rb);
    CHECK_EQ_INT(rb.fraction_lost, 0);
    CHECK_EQ_INT(rb.cumulative_lost, 0);
    CHECK_EQ_INT(rb.ext_highest_seq, 109);

    /* 5 of 9 lost in an interval: 110 then 120 (111..119 missing) and 121..123 */
    rtp_stats_update(&s, 110, 0, 0, false);
    for (uint16_t q = 120; q < 124; q++)
        rtp_stats_update(&s, q, 0, 0, false);
    rtp_stats_report(&s, 2000000, &rb);
    CHECK_EQ_INT(rb.fraction_lost, 9 * 256 / 14); /* 14 expected, 5 received */
    CHECK_EQ_INT(rb.cumulative_lost, 9);

    /* cycles: across the wrap */
    rtp_stats_init(&s, 1, 90000);
    uint16_t wrap[] = {65534, 65535, 0, 1};
    for (int i = 0; i < 4; i++)
        rtp_stats_update(&s, wrap[i], 0, 0, false);
    CHECK_EQ_INT(rtp_stats_ext_max(&s), 65537);
    CHECK_EQ_INT(rtp_stats_expected(&s), 3);
    CHECK_EQ_INT(rtp_stats_lost(&s), 0);
    /* a jump of 10000 is believed only when the next packet follows it */
    CHECK(!rtp_stats_update(&s, 10001, 0, 0, false));
    CHECK(rtp_stats_update(&s, 10002, 0, 0, false));
    CHECK_EQ_INT(s.base_seq, 10002);
}

static void push(struct rtp_reorder *r, uint16_t seq, int64_t now, int expect)
{
    uint8_t b[64];
    struct rtp_packet p;
    size_t n = mk(b, seq, seq * 10u, 0x1111, 96, 4);
    rtp_parse(b, n, &p);
    CHECK_EQ_INT(rtp_reorder_push(r, &p, now), expect);
}

/* Pops one packet; returns its seq, or -1 if none; *skipped as pop says. */
static long pop(struct rtp_reorder *r, int64_t now, uint32_t *skipped)
{
    struct rtp_packet p;
    uint32_t sk = 0;
    if (rtp_reorder_pop(r, now, &p, &sk) != 1)
        return -1;
    if (skipped)
        *skipped = sk;
    CHECK_EQ_INT(p.payload_len, 4);
    CHECK_EQ_INT(p.ts, p.seq * 10u);
    return p.seq;
}

static void test_reorder_order_dup(void)
{
    struct rtp_reorder *r = rtp_reorder_create(&(struct rtp_reorder_config){0});
    uint32_t sk = 99;
    push(r, 1, 0, RTP_REORDER_STORED);
    CHECK_EQ_INT(pop(r, 0, &sk), 1);
    CHECK_EQ_INT(sk, 0);
    push(r, 4, 1000, RTP_REORDER_STORED);
    push(r, 3, 2000, RTP_REORDER_STORED);
    push(r, 4, 2500, RTP_REORDER_DUPLICATE); /* a late RTX copy of a held packet */
    CHECK_EQ_INT(pop(r, 3000, NULL), -1);    /* 2 awaited */
    CHECK_EQ_INT(rtp_reorder_deadline(r), 1000 + 200000);
    push(r, 2, 4000, RTP_REORDER_STORED);
    CHECK_EQ_INT(pop(r, 4000, &sk), 2);
    CHECK_EQ_INT(sk, 0);
    CHECK_EQ_INT(pop(r, 4000, NULL), 3);
    CHECK_EQ_INT(pop(r, 4000, NULL), 4);
    CHECK_EQ_INT(pop(r, 4000, NULL), -1);
    CHECK_EQ_INT(rtp_reorder_deadline(r), INT64_MAX);
    push(r, 3, 5000, RTP_REORDER_LATE); /* already released */

    /* too big for a slot */
    uint8_t big[RTP_MTU + 8];
    struct rtp_packet p;
    size_t n = mk(big, 5, 0, 1, 96, RTP_MTU - 11);
    CHECK_EQ_INT(rtp_parse(big, n, &p), 0);
    CHECK_EQ_INT(rtp_reorder_push(r, &p, 6000), -EMSGSIZE);
    rtp_reorder_destroy(&r);
    CHECK(r == NULL);
}

/* 65533, 65534 arrive, 65535 and 0 are lost, 1 and 2 arrive: NACK asks exactly for 65535 and
 * 0, again after an RTT, at most 10 times; an RTX repair of 65535 leaves only 0, given up on at
 * the deadline and reported as one lost. */
static void test_reorder_wrap_nack(void)
{
    struct rtp_reorder *r =
        rtp_reorder_create(&(struct rtp_reorder_config){.capacity = 512, .max_delay_us = 200000});
    uint16_t seqs[32];
    bool pli = true;
    push(r, 65533, 0, RTP_REORDER_STORED);
    push(r, 65534, 1000, RTP_REORDER_STORED);
    CHECK_EQ_INT(rtp_reorder_nack(r, 1000, 0, seqs, 32, &pli), 0);
    CHECK(!pli);
    push(r, 1, 2000, RTP_REORDER_STORED);
    push(r, 2, 3000, RTP_REORDER_STORED);
    CHECK_EQ_INT(rtp_reorder_missing(r), 2);
    CHECK_EQ_INT(rtp_reorder_nack(r, 3000, 50000, seqs, 32, &pli), 2);
    CHECK(seqs[0] == 65535 && seqs[1] == 0);
    CHECK_EQ_INT(rtp_reorder_nack(r, 3000 + 49999, 50000, seqs, 32, NULL), 0); /* within RTT */
    CHECK_EQ_INT(rtp_reorder_nack(r, 3000 + 50000, 50000, seqs, 32, NULL), 2);
    CHECK_EQ_INT(pop(r, 60000, NULL), 65533);
    CHECK_EQ_INT(pop(r, 60000, NULL), 65534);
    CHECK_EQ_INT(pop(r, 60000, NULL), -1);

    /* the repair of 65535 arrives (as rtp_rtx_unwrap would give it) */
    push(r, 65535, 70000, RTP_REORDER_STORED);
    CHECK_EQ_INT(rtp_reorder_missing(r), 1);
    CHECK_EQ_INT(rtp_reorder_nack(r, 200000, 50000, seqs, 32, NULL), 1);
    CHECK_EQ_INT(seqs[0], 0);
    CHECK_EQ_INT(pop(r, 70000, NULL), 65535);
    CHECK_EQ_INT(pop(r, 70000, NULL), -1);
    /* 0 has been asked 3 times; 7 more, then never again */
    int asked = 3;
    for (int i = 0; i < 20; i++)
        asked += (int)rtp_reorder_nack(r, 300000 + i * 50000, 50000, seqs, 32, NULL);
    CHECK_EQ_INT(asked, 10);
    /* gap seen at 2000: given up at 202000 */
    CHECK_EQ_INT(rtp_reorder_deadline(r), 202000);
    CHECK_EQ_INT(pop(r, 201999, NULL), -1);
    uint32_t sk = 0;
    CHECK_EQ_INT(pop(r, 202000, &sk), 1);
    CHECK_EQ_INT(sk, 1);
    CHECK_EQ_INT(pop(r, 202000, &sk), 2);
    CHECK_EQ_INT(sk, 0);
    CHECK_EQ_INT(rtp_reorder_missing(r), 0);
    push(r, 0, 210000, RTP_REORDER_LATE); /* the repair, too late */
    rtp_reorder_destroy(&r);
}

static void test_reorder_limits(void)
{
    struct rtp_reorder *r = rtp_reorder_create(&(struct rtp_reorder_config){.capacity = 512});
    uint16_t seqs[600];
    bool pli = false;
    uint32_t sk = 0;
    /* 399 missing > 256 (capacity / 2): no NACK, a keyframe instead */
    push(r, 100, 0, RTP_REORDER_STORED);
    CHECK_EQ_INT(pop(r, 0, NULL), 100);
    push(r, 500, 0, RTP_REORDER_STORED);
    CHECK_EQ_INT(rtp_reorder_nack(r, 0, 0, seqs, 600, &pli), 0);
    CHECK(pli);
    /* beyond the buffer's span: the oldest numbers go at once, the rest at the deadline;
     * every number from 101 to 1099 is reported skipped, held 500 included */
    push(r, 1100, 1000, RTP_REORDER_STORED);
    CHECK_EQ_INT(rtp_reorder_missing(r), 511);
    CHECK_EQ_INT(pop(r, 1000, NULL), -1);
    CHECK_EQ_INT(pop(r, 201000, &sk), 1100);
    CHECK_EQ_INT(sk, 999);
    /* a burst of late repairs from within the window does not restart anything */
    for (int i = 0; i < 2 * RTP_REORDER_RESTART_RUN; i++)
        push(r, (uint16_t)(1000 + i % 100), 250000, RTP_REORDER_LATE);
    /* a sender jumping back: after RTP_REORDER_RESTART_RUN packets from beyond the window
     * the buffer restarts */
    for (int i = 0; i < RTP_REORDER_RESTART_RUN - 1; i++)
        push(r, (uint16_t)(10 + i), 300000, RTP_REORDER_LATE);
    push(r, (uint16_t)(10 + RTP_REORDER_RESTART_RUN - 1), 300000, RTP_REORDER_STORED);
    CHECK_EQ_INT(pop(r, 300000, &sk), 10 + RTP_REORDER_RESTART_RUN - 1);
    CHECK_EQ_INT(sk, 1);
    push(r, (uint16_t)(10 + RTP_REORDER_RESTART_RUN), 300000, RTP_REORDER_STORED);
    CHECK_EQ_INT(pop(r, 300000, &sk), 10 + RTP_REORDER_RESTART_RUN);
    CHECK_EQ_INT(sk, 0);
    rtp_reorder_reset(r);
    push(r, 7, 0, RTP_REORDER_STORED);
    CHECK_EQ_INT(pop(r, 0, NULL), 7);
    rtp_reorder_destroy(&r);
    rtp_reorder_destroy(&r); /* NULL is fine */
}

int main(void)
{
    test_parse_basic();
    test_parse_hostile();
    test_extensions();
    test_unwrap();
    test_rtx();
    test_stats();
    test_reorder_order_dup();
    test_reorder_wrap_nack();
    test_reorder_limits();
    return test_report("test_rtp");
}
