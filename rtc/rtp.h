/* RTP packets (RFC 3550 §5.1) as the WebRTC receive path sees them: already SRTP-decrypted,
 * parsed in place without copying.
 *
 * rtp_parse() checks everything a hostile peer controls before any field is believed: version
 * 2, the CSRC list and the header extension within the packet, the padding count (at least 1,
 * at most what follows the header). The parsed struct rtp_packet is a view: its pointers point
 * into the caller's bytes and stay valid only as long as those do.
 *
 * Header extensions are RFC 8285's one-byte (profile 0xBEDE) and two-byte (0x100X) forms;
 * rtp_ext_find() walks them bounded by the extension block. Any other profile parses (the
 * packet is valid RTP) but has no elements.
 *
 * Sequence numbers are unwrapped to 64 bits (struct rtp_seq_unwrap); an RTX packet (RFC 4588)
 * is turned back into the view of the packet it repairs by rtp_rtx_unwrap(). rtp_packet_write()
 * serialises a view (with its possibly rewritten pt/seq/ssrc) into a caller's buffer: that is
 * how the reorder buffer (rtp_reorder.h) stores a repaired packet as if it were the original. */
#ifndef KIBITKA_RTC_RTP_H
#define KIBITKA_RTC_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RTP_HEADER_MIN 12
/* The largest packet the receive path keeps (reorder buffer slots are this big); a larger one
 * cannot come through a 1500-byte Ethernet path anyway. */
#define RTP_MTU 1500

struct rtp_packet {
    const uint8_t *hdr; /* the fixed header; hdr_len bytes up to the payload */
    size_t hdr_len;     /* 12 + 4*cc + extension (4 + 4*words) */
    bool marker;
    uint8_t pt;
    uint16_t seq;
    uint32_t ts;
    uint32_t ssrc;
    uint8_t cc;
    const uint8_t *csrc;  /* cc big-endian 32-bit values */
    uint16_t ext_profile; /* 0 when there is no extension */
    const uint8_t *ext;   /* the extension elements (after the 4-byte extension header) */
    size_t ext_len;       /* bytes (4 * the header's length field) */
    const uint8_t *payload;
    size_t payload_len; /* without the padding */
    uint8_t padding;    /* padding bytes that followed the payload (0 if none) */
};

/* Parses p[0..n). 0 or -EINVAL; on error *out is unspecified. */
int rtp_parse(const uint8_t *p, size_t n, struct rtp_packet *out);

/* Finds the header extension element with this id (1..14 one-byte, 1..255 two-byte).
 * 0 and *val, *len (a view into the packet; len may be 0 in the two-byte form), or -ENOENT
 * (absent, or the element walk met a malformed length first: then what came before still
 * counts). */
int rtp_ext_find(const struct rtp_packet *pkt, uint8_t id, const uint8_t **val, size_t *len);

/* The RFC 6464 client-to-mixer audio level of the packet under extension id: 0 (loudest) to
 * 127 (silence) in -dBov, *vad the voice-activity bit (NULL: not wanted); -1 when the packet
 * has no such element (or it is empty). */
int rtp_audio_level(const struct rtp_packet *pkt, int id, bool *vad);

/* Writes the packet a view describes: the header bytes with its marker, pt, seq, ts and ssrc
 * (which may differ from hdr's, after rtp_rtx_unwrap), the padding bit cleared, then the
 * payload. Returns the length or -ENOSPC. */
int rtp_packet_write(const struct rtp_packet *pkt, uint8_t *dst, size_t cap);

/* 16-bit sequence numbers to a 64-bit count: the first seen is itself; then each one is taken
 * as the nearest to the highest seen so far (a forward step of up to 32767, or a backward one
 * of up to 32768: a reordered packet near the wrap). Before the first packet (reordered ahead
 * of it across the wrap) comes out negative. */
struct rtp_seq_unwrap {
    int64_t highest;
    bool started;
};

int64_t rtp_seq_unwrap(struct rtp_seq_unwrap *u, uint16_t seq);

/* The unwrapped value without recording it as seen. */
int64_t rtp_seq_unwrap_peek(const struct rtp_seq_unwrap *u, uint16_t seq);

/* One RTX association (SDP a=fmtp:<rtx_pt> apt=<media_pt>, a=ssrc-group:FID media rtx). */
struct rtp_rtx_map {
    uint8_t rtx_pt;
    uint8_t media_pt;
    uint32_t rtx_ssrc;
    uint32_t media_ssrc;
};

/* If rtx is an RTX packet by the map (its pt and ssrc are an rtx pair), makes *out the view of
 * the original packet: media pt and ssrc, the original sequence number (the first two payload
 * bytes, RFC 4588 §4), the rest of the payload; header, timestamp, marker and extensions as
 * sent in the RTX packet. Returns 0, -ENOENT (not an RTX packet of the map) or -EINVAL (an RTX
 * payload shorter than 2 bytes; an empty one, 2 bytes, is a padding probe the caller drops). */
int rtp_rtx_unwrap(const struct rtp_packet *rtx, const struct rtp_rtx_map *map, size_t nmap,
                   struct rtp_packet *out);

static inline uint16_t rtp_rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rtp_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void rtp_wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void rtp_wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#endif
