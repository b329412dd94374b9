/* RTP packet parse, header extensions, sequence unwrap, RTX. See rtp.h. */
#include "rtc/rtp.h"

#include <errno.h>
#include <string.h>

int rtp_parse(const uint8_t *p, size_t n, struct rtp_packet *out)
{
    if (n < RTP_HEADER_MIN || p[0] >> 6 != 2)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    bool has_padding = p[0] & 0x20, has_ext = p[0] & 0x10;
    out->cc = p[0] & 0x0F;
    out->marker = p[1] & 0x80;
    out->pt = p[1] & 0x7F;
    out->seq = rtp_rd16(p + 2);
    out->ts = rtp_rd32(p + 4);
    out->ssrc = rtp_rd32(p + 8);
    size_t pos = RTP_HEADER_MIN;
    if ((size_t)out->cc * 4 > n - pos)
        return -EINVAL;
    out->csrc = p + pos;
    pos += (size_t)out->cc * 4;
    if (has_ext) {
        if (n - pos < 4)
            return -EINVAL;
        size_t words = rtp_rd16(p + pos + 2);
        out->ext_profile = rtp_rd16(p + pos);
        pos += 4;
        if (words * 4 > n - pos)
            return -EINVAL;
        out->ext = p + pos;
        out->ext_len = words * 4;
        pos += words * 4;
    }
    size_t rest = n - pos;
    if (has_padding) {
        /* The count includes itself, so 0 is invalid; it may eat the whole payload (a padding
         * only packet, which bandwidth probes send) but not the header. */
        uint8_t pad = p[n - 1];
        if (rest == 0 || pad == 0 || pad > rest)
            return -EINVAL;
        out->padding = pad;
        rest -= pad;
    }
    out->hdr = p;
    out->hdr_len = pos;
    out->payload = p + pos;
    out->payload_len = rest;
    return 0;
}

/* One-byte form (RFC 8285 §4.2): ID(4) L(4), L+1 data bytes; ID 0 is a padding byte, ID 15 ends
 * the walk. Two-byte form (§4.3): ID byte, length byte, data; ID 0 is a padding byte. */
int rtp_ext_find(const struct rtp_packet *pkt, uint8_t id, const uint8_t **val, size_t *len)
{
    const uint8_t *e = pkt->ext;
    size_t n = pkt->ext_len, pos = 0;
    if (id == 0 || !e)
        return -ENOENT;
    if (pkt->ext_profile == 0xBEDE) {
        if (id > 14)
            return -ENOENT;
        while (pos < n) {
            uint8_t eid = e[pos] >> 4;
            size_t elen = (size_t)(e[pos] & 0x0F) + 1;
            if (eid == 0) {
                pos++;
                continue;
            }
            if (eid == 15 || elen > n - pos - 1)
                return -ENOENT;
            if (eid == id) {
                *val = e + pos + 1;
                *len = elen;
                return 0;
            }
            pos += 1 + elen;
        }
    } else if ((pkt->ext_profile & 0xFFF0) == 0x1000) {
        while (pos < n) {
            uint8_t eid = e[pos];
            if (eid == 0) {
                pos++;
                continue;
            }
            if (n - pos < 2 || e[pos + 1] > n - pos - 2)
                return -ENOENT;
            size_t elen = e[pos + 1];
            if (eid == id) {
                *val = e + pos + 2;
                *len = elen;
                return 0;
            }
            pos += 2 + elen;
        }
    }
    return -ENOENT;
}

int rtp_packet_write(const struct rtp_packet *pkt, uint8_t *dst, size_t cap)
{
    size_t total = pkt->hdr_len + pkt->payload_len;
    if (total > cap || total > INT32_MAX)
        return -ENOSPC;
    memcpy(dst, pkt->hdr, pkt->hdr_len);
    dst[0] &= (uint8_t)~0x20;
    dst[1] = (uint8_t)((pkt->marker ? 0x80 : 0) | (pkt->pt & 0x7F));
    rtp_wr16(dst + 2, pkt->seq);
    rtp_wr32(dst + 4, pkt->ts);
    rtp_wr32(dst + 8, pkt->ssrc);
    if (pkt->payload_len)
        memcpy(dst + pkt->hdr_len, pkt->payload, pkt->payload_len);
    return (int)total;
}

int64_t rtp_seq_unwrap_peek(const struct rtp_seq_unwrap *u, uint16_t seq)
{
    if (!u->started)
        return seq;
    int16_t delta = (int16_t)(uint16_t)(seq - (uint16_t)u->highest);
    return u->highest + delta;
}

int64_t rtp_seq_unwrap(struct rtp_seq_unwrap *u, uint16_t seq)
{
    int64_t v = rtp_seq_unwrap_peek(u, seq);
    if (!u->started || v > u->highest)
        u->highest = v;
    u->started = true;
    return v;
}

int rtp_rtx_unwrap(const struct rtp_packet *rtx, const struct rtp_rtx_map *map, size_t nmap,
                   struct rtp_packet *out)
{
    for (size_t i = 0; i < nmap; i++) {
        if (map[i].rtx_pt != rtx->pt || map[i].rtx_ssrc != rtx->ssrc)
            continue;
        if (rtx->payload_len < 2)
            return -EINVAL;
        *out = *rtx;
        out->pt = map[i].media_pt;
        out->ssrc = map[i].media_ssrc;
        out->seq = rtp_rd16(rtx->payload);
        out->payload = rtx->payload + 2;
        out->payload_len = rtx->payload_len - 2;
        return 0;
    }
    return -ENOENT;
}

int rtp_audio_level(const struct rtp_packet *pkt, int id, bool *vad)
{
    const uint8_t *v;
    size_t len;
    if (id < 1 || id > 255 || rtp_ext_find(pkt, (uint8_t)id, &v, &len) < 0 || len < 1)
        return -1;
    if (vad)
        *vad = (v[0] & 0x80) != 0;
    return v[0] & 0x7f;
}
