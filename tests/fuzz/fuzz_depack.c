/* libFuzzer target: the RTP depacketizers (rtc/depack.h). The first byte picks the codec: 0
 * H.264 with the sprop-parameter-sets of the test clip, 1 VP8, 2 Opus, 3 H.264 with an fmtp line
 * read from the input up to a NUL. The rest is packets, each a 3-byte header (flags, then a
 * 16-bit big-endian length, cut to what is left) and its payload. Flags: 1 marker, 2 lost before,
 * 4 the next timestamp (+3000), 8 a sequence gap, 16 a duplicate sequence number.
 *
 * Checked on every frame: its size is within DEPACK_MAX_FRAME and ASan can read all of it; an
 * H.264 frame is AVCC (4-byte lengths, nonzero, filling it exactly); an Opus frame is the
 * payload; a configuration change comes on a keyframe with parameters depack_codecpar gives.
 * Seeds: tests/fuzz/corpus/fuzz_depack/ (the RTP captures of tests/unit/rtc/data/, made by
 * tests/unit/rtc/data/fuzz_seeds.py). */
#include <libavcodec/avcodec.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rtc/depack.h"

static void check_frame(struct depack *d, int codec, const struct depack_frame *f,
                        const uint8_t *payload, size_t len)
{
    const AVPacket *pkt = f->pkt;
    if (pkt->size < 0 || (size_t)pkt->size > DEPACK_MAX_FRAME)
        __builtin_trap();
    volatile uint8_t x = 0;
    for (int i = 0; i < pkt->size; i++)
        x ^= pkt->data[i];
    (void)x;
    if (codec == 0 || codec == 3) {
        size_t pos = 0, n = (size_t)pkt->size;
        while (pos < n) {
            if (n - pos < 4)
                __builtin_trap();
            size_t l = (size_t)pkt->data[pos] << 24 | (size_t)pkt->data[pos + 1] << 16 |
                       (size_t)pkt->data[pos + 2] << 8 | pkt->data[pos + 3];
            if (l == 0 || l > n - pos - 4)
                __builtin_trap();
            pos += 4 + l;
        }
    }
    if (codec == 2 && ((size_t)pkt->size != len || memcmp(pkt->data, payload, len) != 0))
        __builtin_trap();
    if (f->config_changed) {
        AVCodecParameters *par = avcodec_parameters_alloc();
        AVRational tb;
        if (!f->keyframe || depack_codecpar(d, par, &tb) != 0)
            __builtin_trap();
        avcodec_parameters_free(&par);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct depack_ops *const ops[4] = {&depack_h264_ops, &depack_vp8_ops,
                                                    &depack_opus_ops, &depack_h264_ops};
    char fmtp[256] = "packetization-mode=1;sprop-parameter-sets=Z0LAC9kCxOwEQAAAAwBAAAAPA8UKkg=="
                     ",aMuDyyA=";
    if (size < 1)
        return 0;
    int codec = data[0] & 3;
    size_t pos = 1;
    if (codec == 3) {
        size_t n = 0;
        while (pos < size && data[pos] && n < sizeof(fmtp) - 1)
            fmtp[n++] = (char)data[pos++];
        fmtp[n] = 0;
        pos++;
    }
    struct depack_params p = {.fmtp = codec == 1 || codec == 2 ? NULL : fmtp,
                              .channels = 1 + (data[0] >> 7)};
    struct depack *d;
    if (depack_create(ops[codec], &p, &d) < 0)
        return 0;
    uint32_t ts = 0;
    uint64_t seq = 1;
    while (pos + 3 <= size) {
        uint8_t flags = data[pos];
        size_t len = (size_t)data[pos + 1] << 8 | data[pos + 2];
        pos += 3;
        if (len > size - pos)
            len = size - pos;
        if (flags & 4)
            ts += 3000;
        seq += (flags & 16) ? 0 : (flags & 8) ? 2 : 1;
        struct depack_in in = {data + pos, len, ts, flags & 1, seq, flags & 2};
        struct depack_out out;
        depack_push(d, &in, &out);
        if (out.nframes < 0 || out.nframes > DEPACK_MAX_OUT)
            __builtin_trap();
        for (int i = 0; i < out.nframes; i++)
            check_frame(d, codec, &out.frames[i], data + pos, len);
        depack_out_clear(&out);
        pos += len;
    }
    AVCodecParameters *par = avcodec_parameters_alloc();
    AVRational tb;
    depack_codecpar(d, par, &tb);
    avcodec_parameters_free(&par);
    depack_destroy(&d);
    return 0;
}
