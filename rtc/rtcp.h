/* RTCP (RFC 3550 §6, RFC 4585 feedback, RFC 5506 reduced size): compound parse and write.
 *
 * Parsing is strict and in place. rtcp_iter_next() walks a compound datagram one packet at a
 * time; before it returns a packet it has checked that packet's version (2), that its length
 * field stays within the datagram, that its count (RC/SC) fits its length, and, at the end,
 * that the lengths add up to the datagram exactly (padding allowed only on the last packet).
 * The first packet must be SR or RR unless reduced-size RTCP was negotiated (`reduced_size`).
 * A malformed packet ends the walk with -EINVAL: the caller drops the rest of the datagram
 * (packets already returned were whole and valid). Variable-length contents (report blocks,
 * NACK pairs, SDES chunks, FIR entries, REMB SSRCs) are read through accessors that take an
 * index or a capacity, so a 10,000-pair NACK costs the caller what it asks for, not more.
 *
 * Writing goes through struct rtcp_writer, which appends packets to a caller's buffer and keeps
 * the compound rule: without reduced_size the first packet must be an SR or RR (-EPROTO
 * otherwise). Every writer returns 0 or a negative errno (-ENOSPC when the buffer is full; the
 * buffer then keeps what was appended before).
 *
 * NTP times are 64-bit fixed point (32.32 seconds since 1900); rtcp_ntp_from_unix_us() and
 * rtcp_ntp_to_unix_us() convert to and from wall-clock microseconds. struct rtcp_ntp_map keeps
 * the last SR's (NTP, RTP timestamp) pair of a track to put its RTP timestamps on the sender's
 * wall clock, which is what aligns audio with video (RFC 3550 §6.4.1). */
#ifndef KIBITKA_RTC_RTCP_H
#define KIBITKA_RTC_RTCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rtcp_type {
    RTCP_SR = 200,
    RTCP_RR = 201,
    RTCP_SDES = 202,
    RTCP_BYE = 203,
    RTCP_APP = 204,
    RTCP_RTPFB = 205,
    RTCP_PSFB = 206,
};

enum rtcp_fb_fmt {
    RTCP_RTPFB_NACK = 1,
    RTCP_RTPFB_TWCC = 15,
    RTCP_PSFB_PLI = 1,
    RTCP_PSFB_FIR = 4,
    RTCP_PSFB_AFB = 15, /* application layer feedback: REMB when it starts with "REMB" */
};

/* What a parsed packet is, with the feedback types told apart. */
enum rtcp_kind {
    RTCP_KIND_OTHER, /* APP, XR, unknown types and formats: skipped, not an error */
    RTCP_KIND_SR,
    RTCP_KIND_RR,
    RTCP_KIND_SDES,
    RTCP_KIND_BYE,
    RTCP_KIND_NACK,
    RTCP_KIND_TWCC, /* recognised only: body left to a later parser */
    RTCP_KIND_PLI,
    RTCP_KIND_FIR,
    RTCP_KIND_REMB,
};

struct rtcp_report_block {
    uint32_t ssrc;
    uint8_t fraction_lost;   /* of 256, since the previous report */
    int32_t cumulative_lost; /* 24-bit signed on the wire */
    uint32_t ext_highest_seq;
    uint32_t jitter; /* RTP clock units */
    uint32_t lsr;    /* middle 32 bits of the last SR's NTP time, 0 if none */
    uint32_t dlsr;   /* 1/65536 s since that SR arrived */
};

struct rtcp_sr_info {
    uint32_t ssrc;
    uint64_t ntp;
    uint32_t rtp_ts;
    uint32_t packet_count;
    uint32_t octet_count;
};

/* One packet of a compound. body points after the 4-byte common header, body_len is the
 * length field's bytes (padding of the last packet excluded). */
struct rtcp_packet {
    enum rtcp_kind kind;
    uint8_t type;  /* enum rtcp_type value */
    uint8_t count; /* RC, SC or FMT: the 5 low bits of the first byte */
    const uint8_t *body;
    size_t body_len;
    uint32_t sender_ssrc;   /* SR/RR/feedback; 0 for SDES/BYE */
    uint32_t media_ssrc;    /* feedback packets: the media source (0 for FIR and REMB) */
    struct rtcp_sr_info sr; /* RTCP_KIND_SR */
    size_t nitems;          /* report blocks (SR/RR), SDES chunks, BYE SSRCs, NACK pairs,
                               FIR entries, REMB SSRCs */
    uint64_t remb_bitrate;  /* RTCP_KIND_REMB: bits per second */
};

struct rtcp_iter {
    const uint8_t *p;
    size_t n, pos;
    bool reduced_size;
    bool failed;
};

void rtcp_iter_init(struct rtcp_iter *it, const uint8_t *p, size_t n, bool reduced_size);

/* 1 and *out, 0 at the end of a valid compound, -EINVAL (and every later call too) when the
 * next packet or the compound as a whole is malformed. */
int rtcp_iter_next(struct rtcp_iter *it, struct rtcp_packet *out);

/* Checks a whole compound: 0 or -EINVAL. The number of packets in *count if not NULL. */
int rtcp_compound_check(const uint8_t *p, size_t n, bool reduced_size, size_t *count);

/* SR/RR report block i < nitems. */
void rtcp_report_block_get(const struct rtcp_packet *pkt, size_t i, struct rtcp_report_block *rb);

/* SDES chunk i < nitems: its SSRC and CNAME (a view, not NUL-terminated; NULL/0 if the chunk
 * has none). Items were bounds-checked by the parse. */
void rtcp_sdes_get(const struct rtcp_packet *pkt, size_t i, uint32_t *ssrc, const uint8_t **cname,
                   size_t *cname_len);

/* BYE SSRC i < nitems. */
uint32_t rtcp_bye_ssrc(const struct rtcp_packet *pkt, size_t i);

/* The sequence numbers a generic NACK asks for, in packet order, at most cap of them. Returns
 * how many were written. */
size_t rtcp_nack_seqs(const struct rtcp_packet *pkt, uint16_t *seqs, size_t cap);

/* FIR entry i < nitems: the SSRC asked to send a keyframe and the command sequence number. */
void rtcp_fir_get(const struct rtcp_packet *pkt, size_t i, uint32_t *ssrc, uint8_t *seqnr);

/* REMB SSRC i < nitems. */
uint32_t rtcp_remb_ssrc(const struct rtcp_packet *pkt, size_t i);

/* Appends packets to buf[0..cap). */
struct rtcp_writer {
    uint8_t *buf;
    size_t cap, len;
    bool reduced_size;
};

void rtcp_writer_init(struct rtcp_writer *w, uint8_t *buf, size_t cap, bool reduced_size);

/* At most 31 report blocks each (-EINVAL beyond). */
int rtcp_write_sr(struct rtcp_writer *w, const struct rtcp_sr_info *sr,
                  const struct rtcp_report_block *rb, size_t nrb);
int rtcp_write_rr(struct rtcp_writer *w, uint32_t sender_ssrc, const struct rtcp_report_block *rb,
                  size_t nrb);
/* One chunk with a CNAME item (1..255 bytes). */
int rtcp_write_sdes_cname(struct rtcp_writer *w, uint32_t ssrc, const char *cname);
int rtcp_write_bye(struct rtcp_writer *w, uint32_t ssrc);
/* Packs seqs into PID+BLP pairs: a pair covers its PID and the 16 numbers after it, so a list
 * in increasing order (modulo 2^16, across the wrap) packs tightest; any order is still
 * correct. */
int rtcp_write_nack(struct rtcp_writer *w, uint32_t sender_ssrc, uint32_t media_ssrc,
                    const uint16_t *seqs, size_t n);
int rtcp_write_pli(struct rtcp_writer *w, uint32_t sender_ssrc, uint32_t media_ssrc);
int rtcp_write_fir(struct rtcp_writer *w, uint32_t sender_ssrc, uint32_t media_ssrc, uint8_t seqnr);
/* Bitrate as 6-bit exponent and 18-bit mantissa (rounded down); at most 255 SSRCs. */
int rtcp_write_remb(struct rtcp_writer *w, uint32_t sender_ssrc, uint64_t bitrate_bps,
                    const uint32_t *ssrcs, size_t n);

uint64_t rtcp_ntp_from_unix_us(int64_t unix_us);
int64_t rtcp_ntp_to_unix_us(uint64_t ntp);

/* The middle 32 bits of an NTP time: an SR's id in LSR. */
static inline uint32_t rtcp_ntp_mid(uint64_t ntp)
{
    return (uint32_t)(ntp >> 16);
}

/* Round-trip time from a report block about our stream (RFC 3550 §6.4.1): the arrival time
 * of the report (NTP, middle 32 bits) minus LSR minus DLSR, in microseconds; -1 when the block
 * has no LSR or the result would be negative (clocks of the report's own making are off). */
int64_t rtcp_rtt_us(uint32_t arrival_mid, uint32_t lsr, uint32_t dlsr);

struct rtcp_ntp_map {
    bool valid;
    uint64_t ntp;
    uint32_t rtp_ts;
    uint32_t clock_rate;
};

void rtcp_ntp_map_init(struct rtcp_ntp_map *m, uint32_t clock_rate);
/* From a sender report of the track. */
void rtcp_ntp_map_update(struct rtcp_ntp_map *m, uint64_t ntp, uint32_t rtp_ts);
/* The sender's NTP time of an RTP timestamp (within ±2^31 ticks of the SR's). 0 or -EAGAIN
 * before the first SR. */
int rtcp_ntp_map_to_ntp(const struct rtcp_ntp_map *m, uint32_t rtp_ts, uint64_t *ntp);
/* The same as wall-clock microseconds. */
int rtcp_ntp_map_to_unix_us(const struct rtcp_ntp_map *m, uint32_t rtp_ts, int64_t *unix_us);

#endif
