/* libFuzzer target: RTP and RTCP from a hostile peer. The first byte selects:
 *   0 mod 3: a run of RTP packets, each [time step byte][2-byte length][bytes], parsed, their
 *            extensions looked up, RTX unwrapped, fed to receive stats and a reorder buffer,
 *            popped and NACKed. Traps if a view leaves the packet, or if the buffer releases
 *            out of sequence without reporting a skip.
 *   1 mod 3: an RTCP compound (the second byte's low bit: reduced-size), every accessor over
 *            every item.
 *   2 mod 3: NACK packing: the rest as 16-bit sequence numbers, written and parsed back, which
 *            must give the same numbers.
 * Seeds: tests/fuzz/corpus/fuzz_rtp/. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rtc/rtcp.h"
#include "rtc/rtp.h"
#include "rtc/rtp_reorder.h"
#include "rtc/rtp_stats.h"

static struct rtp_reorder *reorder;

static void check_view(const struct rtp_packet *p, const uint8_t *b, size_t n)
{
    if (p->hdr != b || p->hdr_len + p->payload_len + p->padding != n ||
        p->payload != b + p->hdr_len || p->ext_len > n || (p->ext && p->ext < b))
        __builtin_trap();
    for (unsigned id = 1; id < 256; id += (id < 16 ? 1 : 37)) {
        const uint8_t *v;
        size_t len;
        if (rtp_ext_find(p, (uint8_t)id, &v, &len) == 0 &&
            (v < p->ext || v + len > p->ext + p->ext_len))
            __builtin_trap();
    }
}

static void drain(int64_t now, uint16_t *prev, int *have_prev)
{
    struct rtp_packet out;
    uint32_t skipped;
    while (rtp_reorder_pop(reorder, now, &out, &skipped) == 1) {
        if (*have_prev && skipped == 0 && out.seq != (uint16_t)(*prev + 1))
            __builtin_trap();
        *prev = out.seq;
        *have_prev = 1;
    }
}

static void fuzz_rtp_run(const uint8_t *data, size_t size)
{
    static const struct rtp_rtx_map map[] = {
        {.rtx_pt = 97, .media_pt = 96, .rtx_ssrc = 2, .media_ssrc = 1}};
    if (!reorder)
        reorder = rtp_reorder_create(
            &(struct rtp_reorder_config){.capacity = 128, .max_delay_us = 50000});
    rtp_reorder_reset(reorder);
    struct rtp_stats stats;
    rtp_stats_init(&stats, 1, 90000);
    int64_t now = 0;
    uint16_t prev = 0;
    int have_prev = 0;
    size_t pos = 0;
    while (size - pos >= 3) {
        now += (int64_t)data[pos] * 1000;
        size_t len = (size_t)(data[pos + 1] << 8 | data[pos + 2]);
        pos += 3;
        if (len > size - pos)
            len = size - pos;
        const uint8_t *b = data + pos;
        pos += len;
        struct rtp_packet p, orig;
        if (rtp_parse(b, len, &p) < 0)
            continue;
        check_view(&p, b, len);
        bool rtx = rtp_rtx_unwrap(&p, map, 1, &orig) == 0;
        if (rtx)
            p = orig;
        rtp_stats_update(&stats, p.seq, p.ts, now, rtx);
        rtp_reorder_push(reorder, &p, now);
        if (rtp_reorder_missing(reorder) > 128)
            __builtin_trap();
        uint16_t seqs[64];
        bool pli;
        rtp_reorder_nack(reorder, now, 20000, seqs, 64, &pli);
        drain(now, &prev, &have_prev);
    }
    drain(INT64_MAX / 2, &prev, &have_prev);
    struct rtcp_report_block rb;
    rtp_stats_report(&stats, now, &rb);
}

static void fuzz_rtcp_run(const uint8_t *data, size_t size, bool reduced)
{
    struct rtcp_iter it;
    struct rtcp_packet p;
    rtcp_iter_init(&it, data, size, reduced);
    while (rtcp_iter_next(&it, &p) == 1) {
        if (p.body < data || p.body + p.body_len > data + size)
            __builtin_trap();
        struct rtcp_report_block rb;
        uint32_t ssrc;
        uint8_t seqnr;
        const uint8_t *cname;
        size_t clen;
        uint16_t seqs[1024];
        switch (p.kind) {
        case RTCP_KIND_SR:
        case RTCP_KIND_RR:
            for (size_t i = 0; i < p.nitems; i++)
                rtcp_report_block_get(&p, i, &rb);
            break;
        case RTCP_KIND_SDES:
            for (size_t i = 0; i < p.nitems; i++) {
                rtcp_sdes_get(&p, i, &ssrc, &cname, &clen);
                if (cname && (cname < p.body || cname + clen > p.body + p.body_len))
                    __builtin_trap();
            }
            break;
        case RTCP_KIND_BYE:
            for (size_t i = 0; i < p.nitems; i++)
                rtcp_bye_ssrc(&p, i);
            break;
        case RTCP_KIND_NACK:
            if (rtcp_nack_seqs(&p, seqs, 1024) > 1024)
                __builtin_trap();
            break;
        case RTCP_KIND_FIR:
            for (size_t i = 0; i < p.nitems; i++)
                rtcp_fir_get(&p, i, &ssrc, &seqnr);
            break;
        case RTCP_KIND_REMB:
            for (size_t i = 0; i < p.nitems; i++)
                rtcp_remb_ssrc(&p, i);
            break;
        default:
            break;
        }
    }
}

static void fuzz_nack_pack(const uint8_t *data, size_t size)
{
    uint16_t seqs[512], back[512 * 17];
    size_t n = 0;
    for (size_t i = 0; i + 1 < size && n < 512; i += 2)
        seqs[n++] = (uint16_t)(data[i] << 8 | data[i + 1]);
    if (n == 0)
        return;
    uint8_t buf[12 + 512 * 4];
    struct rtcp_writer w;
    rtcp_writer_init(&w, buf, sizeof(buf), true);
    if (rtcp_write_nack(&w, 1, 2, seqs, n) != 0)
        __builtin_trap();
    struct rtcp_iter it;
    struct rtcp_packet p;
    rtcp_iter_init(&it, buf, w.len, true);
    if (rtcp_iter_next(&it, &p) != 1 || p.kind != RTCP_KIND_NACK)
        __builtin_trap();
    /* Every number written comes back; a pair may list a duplicate once only, and a number
     * may come back earlier than given, so compare as sets, both ways. */
    size_t m = rtcp_nack_seqs(&p, back, sizeof(back) / sizeof(back[0]));
    static uint8_t seen[65536 / 8];
    memset(seen, 0, sizeof(seen));
    for (size_t i = 0; i < m; i++)
        seen[back[i] >> 3] |= (uint8_t)(1u << (back[i] & 7));
    for (size_t i = 0; i < n; i++)
        if (!(seen[seqs[i] >> 3] & (1u << (seqs[i] & 7))))
            __builtin_trap();
    memset(seen, 0, sizeof(seen));
    for (size_t i = 0; i < n; i++)
        seen[seqs[i] >> 3] |= (uint8_t)(1u << (seqs[i] & 7));
    for (size_t i = 0; i < m; i++)
        if (!(seen[back[i] >> 3] & (1u << (back[i] & 7))))
            __builtin_trap();
    if (rtcp_iter_next(&it, &p) != 0)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_rtp_run(data + 1, size - 1);
        break;
    case 1:
        if (size >= 2)
            fuzz_rtcp_run(data + 2, size - 2, data[1] & 1);
        break;
    default:
        fuzz_nack_pack(data + 1, size - 1);
        break;
    }
    return 0;
}
