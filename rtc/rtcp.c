/* RTCP compound parse and write, NTP time helpers. See rtcp.h. */
#include "rtc/rtcp.h"

#include <errno.h>
#include <string.h>

#include "rtc/rtp.h"

#define NTP_UNIX_OFFSET 2208988800u /* seconds from 1900-01-01 to 1970-01-01 */
#define REPORT_BLOCK_LEN 24

void rtcp_iter_init(struct rtcp_iter *it, const uint8_t *p, size_t n, bool reduced_size)
{
    *it = (struct rtcp_iter){.p = p, .n = n, .reduced_size = reduced_size};
}

/* SDES (RFC 3550 §6.5): each chunk is an SSRC, items of type, length, text, a null item, then
 * padding to the next 32-bit boundary. Returns the chunk's end or 0 if it overruns. */
static size_t sdes_chunk_end(const uint8_t *b, size_t n, size_t pos)
{
    if (n - pos < 4)
        return 0;
    pos += 4;
    for (;;) {
        if (pos >= n)
            return 0;
        if (b[pos] == 0)
            break;
        if (n - pos < 2 || b[pos + 1] > n - pos - 2)
            return 0;
        pos += 2 + (size_t)b[pos + 1];
    }
    pos = (pos + 4) & ~(size_t)3; /* the null item and the padding after it */
    return pos <= n ? pos : 0;
}

static int parse_fb(struct rtcp_packet *out)
{
    const uint8_t *b = out->body;
    size_t n = out->body_len;
    if (n < 8)
        return -EINVAL;
    out->sender_ssrc = rtp_rd32(b);
    out->media_ssrc = rtp_rd32(b + 4);
    if (out->type == RTCP_RTPFB && out->count == RTCP_RTPFB_NACK) {
        out->kind = RTCP_KIND_NACK;
        out->nitems = (n - 8) / 4;
    } else if (out->type == RTCP_RTPFB && out->count == RTCP_RTPFB_TWCC) {
        out->kind = RTCP_KIND_TWCC;
    } else if (out->type == RTCP_PSFB && out->count == RTCP_PSFB_PLI) {
        out->kind = RTCP_KIND_PLI;
    } else if (out->type == RTCP_PSFB && out->count == RTCP_PSFB_FIR) {
        out->kind = RTCP_KIND_FIR;
        out->nitems = (n - 8) / 8;
    } else if (out->type == RTCP_PSFB && out->count == RTCP_PSFB_AFB && n >= 16 &&
               memcmp(b + 8, "REMB", 4) == 0) {
        size_t nssrc = b[12];
        if (16 + nssrc * 4 > n)
            return -EINVAL;
        unsigned exp = b[13] >> 2;
        uint64_t mantissa = (uint64_t)(b[13] & 3) << 16 | (uint64_t)b[14] << 8 | b[15];
        /* 18 bits shifted by up to 63 overflows: saturate rather than wrap. */
        out->remb_bitrate =
            mantissa && exp > 46 && (mantissa >> (64 - exp)) ? UINT64_MAX : mantissa << exp;
        out->kind = RTCP_KIND_REMB;
        out->nitems = nssrc;
    }
    return 0;
}

static int parse_body(struct rtcp_packet *out)
{
    const uint8_t *b = out->body;
    size_t n = out->body_len, rc = out->count;
    switch (out->type) {
    case RTCP_SR:
        if (n < 24 + rc * REPORT_BLOCK_LEN)
            return -EINVAL;
        out->kind = RTCP_KIND_SR;
        out->sender_ssrc = rtp_rd32(b);
        out->sr = (struct rtcp_sr_info){
            .ssrc = out->sender_ssrc,
            .ntp = (uint64_t)rtp_rd32(b + 4) << 32 | rtp_rd32(b + 8),
            .rtp_ts = rtp_rd32(b + 12),
            .packet_count = rtp_rd32(b + 16),
            .octet_count = rtp_rd32(b + 20),
        };
        out->nitems = rc;
        return 0;
    case RTCP_RR:
        if (n < 4 + rc * REPORT_BLOCK_LEN)
            return -EINVAL;
        out->kind = RTCP_KIND_RR;
        out->sender_ssrc = rtp_rd32(b);
        out->nitems = rc;
        return 0;
    case RTCP_SDES: {
        size_t pos = 0;
        for (size_t i = 0; i < rc; i++)
            if (!(pos = sdes_chunk_end(b, n, pos)))
                return -EINVAL;
        out->kind = RTCP_KIND_SDES;
        out->nitems = rc;
        return 0;
    }
    case RTCP_BYE:
        if (n < rc * 4)
            return -EINVAL;
        out->kind = RTCP_KIND_BYE;
        out->nitems = rc;
        return 0;
    case RTCP_RTPFB:
    case RTCP_PSFB:
        return parse_fb(out);
    default:
        return 0; /* APP, XR and the rest: well-formed as far as the header goes */
    }
}

int rtcp_iter_next(struct rtcp_iter *it, struct rtcp_packet *out)
{
    if (it->failed)
        return -EINVAL;
    if (it->pos == it->n && it->pos > 0)
        return 0;
    const uint8_t *p = it->p + it->pos;
    size_t left = it->n - it->pos;
    memset(out, 0, sizeof(*out));
    if (left < 4 || p[0] >> 6 != 2)
        goto fail;
    size_t plen = ((size_t)rtp_rd16(p + 2) + 1) * 4;
    if (plen > left)
        goto fail;
    out->type = p[1];
    out->count = p[0] & 0x1F;
    if (it->pos == 0 && !it->reduced_size && out->type != RTCP_SR && out->type != RTCP_RR)
        goto fail;
    out->body = p + 4;
    out->body_len = plen - 4;
    if (p[0] & 0x20) {
        /* Padding only on the last packet of the compound (RFC 3550 §6.4.1); the count
         * includes itself and cannot eat the header. */
        uint8_t pad = p[plen - 1];
        if (plen != left || pad == 0 || pad > plen - 4)
            goto fail;
        out->body_len -= pad;
    }
    if (parse_body(out) < 0)
        goto fail;
    it->pos += plen;
    return 1;
fail:
    it->failed = true;
    return -EINVAL;
}

int rtcp_compound_check(const uint8_t *p, size_t n, bool reduced_size, size_t *count)
{
    struct rtcp_iter it;
    struct rtcp_packet pkt;
    size_t k = 0;
    int rc;
    rtcp_iter_init(&it, p, n, reduced_size);
    while ((rc = rtcp_iter_next(&it, &pkt)) == 1)
        k++;
    if (count)
        *count = k;
    return rc;
}

void rtcp_report_block_get(const struct rtcp_packet *pkt, size_t i, struct rtcp_report_block *rb)
{
    const uint8_t *b = pkt->body + (pkt->kind == RTCP_KIND_SR ? 24 : 4) + i * REPORT_BLOCK_LEN;
    uint32_t lost = (uint32_t)b[5] << 16 | (uint32_t)b[6] << 8 | b[7];
    *rb = (struct rtcp_report_block){
        .ssrc = rtp_rd32(b),
        .fraction_lost = b[4],
        .cumulative_lost = (lost & 0x800000) ? (int32_t)lost - 0x1000000 : (int32_t)lost,
        .ext_highest_seq = rtp_rd32(b + 8),
        .jitter = rtp_rd32(b + 12),
        .lsr = rtp_rd32(b + 16),
        .dlsr = rtp_rd32(b + 20),
    };
}

void rtcp_sdes_get(const struct rtcp_packet *pkt, size_t i, uint32_t *ssrc, const uint8_t **cname,
                   size_t *cname_len)
{
    const uint8_t *b = pkt->body;
    size_t n = pkt->body_len, pos = 0;
    for (size_t k = 0; k < i; k++)
        pos = sdes_chunk_end(b, n, pos);
    *ssrc = rtp_rd32(b + pos);
    *cname = NULL;
    *cname_len = 0;
    for (pos += 4; b[pos] != 0; pos += 2 + (size_t)b[pos + 1]) {
        if (b[pos] == 1) { /* CNAME */
            *cname = b + pos + 2;
            *cname_len = b[pos + 1];
            return;
        }
    }
}

uint32_t rtcp_bye_ssrc(const struct rtcp_packet *pkt, size_t i)
{
    return rtp_rd32(pkt->body + i * 4);
}

size_t rtcp_nack_seqs(const struct rtcp_packet *pkt, uint16_t *seqs, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < pkt->nitems && k < cap; i++) {
        const uint8_t *e = pkt->body + 8 + i * 4;
        uint16_t pid = rtp_rd16(e), blp = rtp_rd16(e + 2);
        seqs[k++] = pid;
        for (int bit = 0; bit < 16 && k < cap; bit++)
            if (blp & (1u << bit))
                seqs[k++] = (uint16_t)(pid + bit + 1);
    }
    return k;
}

void rtcp_fir_get(const struct rtcp_packet *pkt, size_t i, uint32_t *ssrc, uint8_t *seqnr)
{
    const uint8_t *e = pkt->body + 8 + i * 8;
    *ssrc = rtp_rd32(e);
    *seqnr = e[4];
}

uint32_t rtcp_remb_ssrc(const struct rtcp_packet *pkt, size_t i)
{
    return rtp_rd32(pkt->body + 16 + i * 4);
}

/* ---- writing ---- */

void rtcp_writer_init(struct rtcp_writer *w, uint8_t *buf, size_t cap, bool reduced_size)
{
    *w = (struct rtcp_writer){.buf = buf, .cap = cap, .reduced_size = reduced_size};
}

/* Room for a packet of len bytes (a multiple of 4) of this type, its common header written. */
static uint8_t *begin(struct rtcp_writer *w, uint8_t type, uint8_t count, size_t len, int *err)
{
    if (w->len == 0 && !w->reduced_size && type != RTCP_SR && type != RTCP_RR) {
        *err = -EPROTO;
        return NULL;
    }
    if (len > w->cap - w->len || len / 4 - 1 > 0xFFFF) {
        *err = -ENOSPC;
        return NULL;
    }
    uint8_t *p = w->buf + w->len;
    p[0] = (uint8_t)(0x80 | (count & 0x1F));
    p[1] = type;
    rtp_wr16(p + 2, (uint16_t)(len / 4 - 1));
    w->len += len;
    return p;
}

static void put_blocks(uint8_t *p, const struct rtcp_report_block *rb, size_t n)
{
    for (size_t i = 0; i < n; i++, p += REPORT_BLOCK_LEN) {
        int32_t lost = rb[i].cumulative_lost;
        if (lost > 0x7FFFFF)
            lost = 0x7FFFFF;
        if (lost < -0x800000)
            lost = -0x800000;
        uint32_t l = (uint32_t)lost & 0xFFFFFF;
        rtp_wr32(p, rb[i].ssrc);
        p[4] = rb[i].fraction_lost;
        p[5] = (uint8_t)(l >> 16);
        p[6] = (uint8_t)(l >> 8);
        p[7] = (uint8_t)l;
        rtp_wr32(p + 8, rb[i].ext_highest_seq);
        rtp_wr32(p + 12, rb[i].jitter);
        rtp_wr32(p + 16, rb[i].lsr);
        rtp_wr32(p + 20, rb[i].dlsr);
    }
}

int rtcp_write_sr(struct rtcp_writer *w, const struct rtcp_sr_info *sr,
                  const struct rtcp_report_block *rb, size_t nrb)
{
    int err = 0;
    if (nrb > 31)
        return -EINVAL;
    uint8_t *p = begin(w, RTCP_SR, (uint8_t)nrb, 28 + nrb * REPORT_BLOCK_LEN, &err);
    if (!p)
        return err;
    rtp_wr32(p + 4, sr->ssrc);
    rtp_wr32(p + 8, (uint32_t)(sr->ntp >> 32));
    rtp_wr32(p + 12, (uint32_t)sr->ntp);
    rtp_wr32(p + 16, sr->rtp_ts);
    rtp_wr32(p + 20, sr->packet_count);
    rtp_wr32(p + 24, sr->octet_count);
    put_blocks(p + 28, rb, nrb);
    return 0;
}

int rtcp_write_rr(struct rtcp_writer *w, uint32_t sender_ssrc, const struct rtcp_report_block *rb,
                  size_t nrb)
{
    int err = 0;
    if (nrb > 31)
        return -EINVAL;
    uint8_t *p = begin(w, RTCP_RR, (uint8_t)nrb, 8 + nrb * REPORT_BLOCK_LEN, &err);
    if (!p)
        return err;
    rtp_wr32(p + 4, sender_ssrc);
    put_blocks(p + 8, rb, nrb);
    return 0;
}

int rtcp_write_sdes_cname(struct rtcp_writer *w, uint32_t ssrc, const char *cname)
{
    int err = 0;
    size_t clen = strlen(cname);
    if (clen == 0 || clen > 255)
        return -EINVAL;
    /* SSRC, CNAME item (2 + clen), at least one null byte, padded to 32 bits. */
    size_t len = 4 + ((4 + 2 + clen + 1 + 3) & ~(size_t)3);
    uint8_t *p = begin(w, RTCP_SDES, 1, len, &err);
    if (!p)
        return err;
    memset(p + 4, 0, len - 4);
    rtp_wr32(p + 4, ssrc);
    p[8] = 1;
    p[9] = (uint8_t)clen;
    memcpy(p + 10, cname, clen);
    return 0;
}

int rtcp_write_bye(struct rtcp_writer *w, uint32_t ssrc)
{
    int err = 0;
    uint8_t *p = begin(w, RTCP_BYE, 1, 8, &err);
    if (!p)
        return err;
    rtp_wr32(p + 4, ssrc);
    return 0;
}

static uint8_t *begin_fb(struct rtcp_writer *w, uint8_t type, uint8_t fmt, size_t len,
                         uint32_t sender, uint32_t media, int *err)
{
    uint8_t *p = begin(w, type, fmt, len, err);
    if (p) {
        rtp_wr32(p + 4, sender);
        rtp_wr32(p + 8, media);
    }
    return p;
}

/* Packs seqs[i..] into one PID+BLP pair; returns the index after the numbers it took. */
static size_t nack_pair(const uint16_t *seqs, size_t n, size_t i, uint8_t out[4])
{
    uint16_t pid = seqs[i], blp = 0;
    for (i++; i < n; i++) {
        uint16_t d = (uint16_t)(seqs[i] - pid);
        if (d > 16)
            break;
        if (d > 0)
            blp |= (uint16_t)(1u << (d - 1));
    }
    rtp_wr16(out, pid);
    rtp_wr16(out + 2, blp);
    return i;
}

int rtcp_write_nack(struct rtcp_writer *w, uint32_t sender_ssrc, uint32_t media_ssrc,
                    const uint16_t *seqs, size_t n)
{
    uint8_t pairs[4];
    size_t npairs = 0;
    if (n == 0)
        return -EINVAL;
    for (size_t i = 0; i < n; npairs++)
        i = nack_pair(seqs, n, i, pairs);
    int err = 0;
    uint8_t *p =
        begin_fb(w, RTCP_RTPFB, RTCP_RTPFB_NACK, 12 + npairs * 4, sender_ssrc, media_ssrc, &err);
    if (!p)
        return err;
    p += 12;
    for (size_t i = 0; i < n; p += 4)
        i = nack_pair(seqs, n, i, p);
    return 0;
}

int rtcp_write_pli(struct rtcp_writer *w, uint32_t sender_ssrc, uint32_t media_ssrc)
{
    int err = 0;
    return begin_fb(w, RTCP_PSFB, RTCP_PSFB_PLI, 12, sender_ssrc, media_ssrc, &err) ? 0 : err;
}

int rtcp_write_fir(struct rtcp_writer *w, uint32_t sender_ssrc, uint32_t media_ssrc, uint8_t seqnr)
{
    int err = 0;
    /* RFC 5104 §4.3.1: the media source field is 0; the FCI names the SSRC. */
    uint8_t *p = begin_fb(w, RTCP_PSFB, RTCP_PSFB_FIR, 20, sender_ssrc, 0, &err);
    if (!p)
        return err;
    rtp_wr32(p + 12, media_ssrc);
    p[16] = seqnr;
    p[17] = p[18] = p[19] = 0;
    return 0;
}

int rtcp_write_remb(struct rtcp_writer *w, uint32_t sender_ssrc, uint64_t bitrate_bps,
                    const uint32_t *ssrcs, size_t n)
{
    int err = 0;
    if (n > 255)
        return -EINVAL;
    unsigned exp = 0;
    while (bitrate_bps >> exp > 0x3FFFF)
        exp++;
    uint32_t mantissa = (uint32_t)(bitrate_bps >> exp);
    uint8_t *p = begin_fb(w, RTCP_PSFB, RTCP_PSFB_AFB, 20 + n * 4, sender_ssrc, 0, &err);
    if (!p)
        return err;
    memcpy(p + 12, "REMB", 4);
    p[16] = (uint8_t)n;
    p[17] = (uint8_t)(exp << 2 | mantissa >> 16);
    p[18] = (uint8_t)(mantissa >> 8);
    p[19] = (uint8_t)mantissa;
    for (size_t i = 0; i < n; i++)
        rtp_wr32(p + 20 + i * 4, ssrcs[i]);
    return 0;
}

/* ---- NTP ---- */

uint64_t rtcp_ntp_from_unix_us(int64_t unix_us)
{
    uint64_t sec = (uint64_t)(unix_us / 1000000) + NTP_UNIX_OFFSET;
    uint64_t frac = ((uint64_t)(unix_us % 1000000) << 32) / 1000000;
    return sec << 32 | frac;
}

int64_t rtcp_ntp_to_unix_us(uint64_t ntp)
{
    int64_t sec = (int64_t)(ntp >> 32) - NTP_UNIX_OFFSET;
    int64_t us = (int64_t)(((ntp & 0xFFFFFFFFu) * 1000000 + (1u << 31)) >> 32);
    return sec * 1000000 + us;
}

int64_t rtcp_rtt_us(uint32_t arrival_mid, uint32_t lsr, uint32_t dlsr)
{
    if (lsr == 0)
        return -1;
    int32_t rtt = (int32_t)(arrival_mid - lsr - dlsr); /* 1/65536 s */
    if (rtt < 0)
        return -1;
    return (int64_t)rtt * 1000000 / 65536;
}

void rtcp_ntp_map_init(struct rtcp_ntp_map *m, uint32_t clock_rate)
{
    *m = (struct rtcp_ntp_map){.clock_rate = clock_rate};
}

void rtcp_ntp_map_update(struct rtcp_ntp_map *m, uint64_t ntp, uint32_t rtp_ts)
{
    m->ntp = ntp;
    m->rtp_ts = rtp_ts;
    m->valid = m->clock_rate > 0;
}

int rtcp_ntp_map_to_ntp(const struct rtcp_ntp_map *m, uint32_t rtp_ts, uint64_t *ntp)
{
    if (!m->valid)
        return -EAGAIN;
    int64_t d = (int32_t)(rtp_ts - m->rtp_ts), rate = m->clock_rate;
    /* seconds and remainder separately: d << 32 overflows for d beyond 2^31. */
    int64_t delta = (d / rate) * ((int64_t)1 << 32) + (d % rate) * ((int64_t)1 << 32) / rate;
    *ntp = m->ntp + (uint64_t)delta;
    return 0;
}

int rtcp_ntp_map_to_unix_us(const struct rtcp_ntp_map *m, uint32_t rtp_ts, int64_t *unix_us)
{
    uint64_t ntp;
    int rc = rtcp_ntp_map_to_ntp(m, rtp_ts, &ntp);
    if (rc == 0)
        *unix_us = rtcp_ntp_to_unix_us(ntp);
    return rc;
}
