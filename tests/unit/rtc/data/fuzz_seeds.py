#!/usr/bin/env python3
# Seeds for tests/fuzz/fuzz_depack.c (into tests/fuzz/corpus/fuzz_depack/) from the RTP
# captures here: the codec
# byte, then per packet the flags (marker, next timestamp) and the 16-bit length + payload.
import os, struct

data = os.path.dirname(os.path.abspath(__file__))
here = os.path.join(data, "..", "..", "..", "fuzz", "corpus", "fuzz_depack")


def packets(name):
    d = open(os.path.join(data, name), "rb").read()
    i = 0
    while i < len(d):
        n = struct.unpack(">H", d[i:i + 2])[0]
        yield d[i + 2:i + 2 + n]
        i += 2 + n


def seed(out, first, name, limit=None):
    b = bytearray(first)
    last = None
    for k, p in enumerate(packets(name)):
        if limit is not None and k >= limit:
            break
        ts = struct.unpack(">I", p[4:8])[0]
        flags = (1 if p[1] & 0x80 else 0) | (4 if last is not None and ts != last else 0)
        last = ts
        b += bytes([flags]) + struct.pack(">H", len(p) - 12) + p[12:]
    open(os.path.join(here, out), "wb").write(b)


seed("h264_clip.bin", b"\x00", "h264.rtp")
seed("h264_inband.bin", b"\x03packetization-mode=1\x00", "h264.rtp", 20)
seed("vp8_clip.bin", b"\x01", "vp8.rtp")
seed("opus_clip.bin", b"\x82", "opus.rtp")
