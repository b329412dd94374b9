/* Opus over RTP (RFC 7587): each payload is one Opus packet, checked against RFC 6716 3.4's
 * rules R1-R5 (enough to know it is one packet) and passed on as it is, every one a keyframe.
 * See depack.h.
 *
 * Extradata: an OpusHead (RFC 7845 5.1, 19 bytes, channel mapping family 0) with the channel
 * count, 48 kHz and pre-skip 0. The channel count is the caller's (2 when the SDP says
 * sprop-stereo=1), or, left to the stream, the first packet's: stereo when its TOC's s bit is
 * set. The rtpmap always says opus/48000/2 (RFC 7587), but a browser's microphone is mono:
 * decoding it to two channels and encoding AAC from them doubled the audio transcode's cost
 * for nothing. A later stereo packet in a stream taken as mono is downmixed by the decoder. FFmpeg's mp4 muxer writes the dOps box from it and
 * refuses an Opus track without it ("invalid extradata size" under 19 bytes; the unit test
 * writes an init section to prove it takes this one). Pre-skip 0, not the 312 of an Ogg file
 * made by libopus: a WebRTC publish is joined mid-stream, so its first packet is not the
 * encoder's first, and a decoder told to skip 312 samples there would cut real audio and put
 * the track 6.5 ms behind its RTP timestamps. */
#include <errno.h>
#include <libavutil/channel_layout.h>
#include <libavutil/mem.h>
#include <stdlib.h>
#include <string.h>

#include "rtc/depack_priv.h"

#define OPUSHEAD_SIZE 19

struct opus {
    uint8_t head[OPUSHEAD_SIZE];
    int channels;
    bool announced;
};

/* A frame's duration in 1/400 s (2.5 ms) units from the TOC's configuration number. */
static int frame_units(uint8_t toc)
{
    static const int silk[4] = {4, 8, 16, 24}, hybrid[2] = {4, 8}, celt[4] = {1, 2, 4, 8};
    int config = toc >> 3;
    if (config < 12)
        return silk[config & 3];
    if (config < 16)
        return hybrid[config & 1];
    return celt[config & 3];
}

/* RFC 6716 3.4: R1 (a TOC byte), R2/R3 (code 0/1 frame sizes), R4 (code 2's first length
 * inside the packet), R5 (code 3: at least one frame, at most 120 ms). */
static int toc_check(const uint8_t *p, size_t n)
{
    if (n < 1)
        return -EINVAL;
    switch (p[0] & 3) {
    case 0:
        return n - 1 <= 1275 ? 0 : -EINVAL;
    case 1:
        return (n - 1) % 2 == 0 && (n - 1) / 2 <= 1275 ? 0 : -EINVAL;
    case 2: {
        if (n < 2)
            return -EINVAL;
        size_t len = p[1], hdr = 2;
        if (p[1] >= 252) {
            if (n < 3)
                return -EINVAL;
            len = p[1] + 4u * p[2];
            hdr = 3;
        }
        return len <= n - hdr && len <= 1275 ? 0 : -EINVAL;
    }
    default: {
        if (n < 2)
            return -EINVAL;
        int m = p[1] & 0x3f;
        return m >= 1 && m * frame_units(p[0]) <= 48 ? 0 : -EINVAL;
    }
    }
}

static int opus_push(struct depack *d, const struct depack_in *in, struct depack_out *out)
{
    struct opus *o = d->priv;
    if (toc_check(in->payload, in->len) < 0)
        return -EINVAL;
    bool changed = !o->announced;
    o->announced = true;
    if (o->channels == 0) {
        o->channels = in->payload[0] & 0x4 ? 2 : 1; /* RFC 6716 3.1: the TOC's s bit */
        o->head[9] = (uint8_t)o->channels;
    }
    depack_emit(d, out, in->payload, in->len, in->timestamp, true, changed, o->head, OPUSHEAD_SIZE);
    return 0;
}

static int opus_init(struct depack *d, const struct depack_params *p)
{
    struct opus *o = d->priv;
    o->channels = p ? p->channels : 0; /* 0: the first packet tells */
    if (o->channels < 0 || o->channels > 2)
        return -EINVAL; /* mapping family 0: mono or stereo */
    uint8_t *h = o->head;
    memcpy(h, "OpusHead", 8);
    h[8] = 1; /* version */
    h[9] = (uint8_t)o->channels;
    h[10] = h[11] = 0; /* pre-skip (LE): see the top of this file */
    h[12] = 48000 & 0xff;
    h[13] = (48000 >> 8) & 0xff;
    h[14] = h[15] = 0; /* input sample rate 48000, LE */
    h[16] = h[17] = 0; /* output gain */
    h[18] = 0;         /* channel mapping family */
    return 0;
}

static int opus_codecpar(const struct depack *d, AVCodecParameters *par)
{
    const struct opus *o = d->priv;
    if (o->channels == 0)
        return -EAGAIN; /* known at the first packet */
    par->extradata = av_mallocz(OPUSHEAD_SIZE + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!par->extradata)
        abort(); /* out of memory */
    memcpy(par->extradata, o->head, OPUSHEAD_SIZE);
    par->extradata_size = OPUSHEAD_SIZE;
    par->sample_rate = 48000;
    av_channel_layout_default(&par->ch_layout, o->channels);
    par->initial_padding = 0;
    return 0;
}

static void opus_uninit(struct depack *d) {}

const struct depack_ops depack_opus_ops = {
    .name = "opus",
    .codec_id = AV_CODEC_ID_OPUS,
    .type = AVMEDIA_TYPE_AUDIO,
    .clock_rate = 48000,
    .priv_size = sizeof(struct opus),
    .init = opus_init,
    .push = opus_push,
    .codecpar = opus_codecpar,
    .uninit = opus_uninit,
};
