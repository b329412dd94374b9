#!/usr/bin/env bash
# Makes the RTP fixtures of tests/unit/rtc/test_depack.c (run from anywhere; needs ffmpeg with
# libx264, libvpx, libopus, and python3). Each clip is encoded once to a file (the source the
# test compares against), then sent unchanged by ffmpeg's RTP muxer (-c copy) to a loopback
# port, where every datagram is recorded as a 2-byte big-endian length + the RTP packet.
#   h264.264  Annex B, 176x144, 10 frames, IDRs at 0 and 5, an AUD before each access unit
#   h264.rtp  its RTP (max payload 400 bytes: FU-A, STAP-A and single NAL packets)
#   vp8.ivf   176x144, 10 frames, keyframes at 0 and 5;  vp8.rtp  its RTP (RFC 7741)
#   opus.rtp  0.2 s of a 440 Hz tone, libopus stereo 20 ms frames
# and the seeds of tests/fuzz/fuzz_depack.c from them (fuzz_seeds.py).
set -euo pipefail
cd "$(dirname "$0")"
src="-f lavfi -i testsrc2=size=176x144:rate=30 -frames:v 10"
ffmpeg -v error -y $src -c:v libx264 -profile:v baseline -pix_fmt yuv420p -g 5 -keyint_min 5 \
    -sc_threshold 0 -bsf:v h264_metadata=aud=insert -f h264 h264.264
ffmpeg -v error -y $src -c:v libvpx -g 5 -keyint_min 5 -b:v 200k -f ivf vp8.ivf

capture() { # out port -- ffmpeg args
    local out=$1 port=$2
    shift 2
    python3 - "$out" "$port" <<'PY' &
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.bind(("127.0.0.1", int(sys.argv[2])))
s.settimeout(3)
with open(sys.argv[1], "wb") as f:
    try:
        while True:
            d = s.recv(65536)
            f.write(struct.pack(">H", len(d)) + d)
    except socket.timeout:
        pass
PY
    local pid=$!
    sleep 2 # python binds its socket
    ffmpeg -v error "$@" -f rtp "rtp://127.0.0.1:$port?pkt_size=412&rtcpport=$((port + 10))"
    wait $pid
}
capture h264.rtp 47120 -i h264.264 -c copy
capture vp8.rtp 47122 -i vp8.ivf -c copy
capture opus.rtp 47124 -f lavfi -i sine=frequency=440:sample_rate=48000 -t 0.2 -ac 2 \
    -c:a libopus -b:a 64k
python3 fuzz_seeds.py # the fuzz target's seeds from these captures
ls -l h264.264 h264.rtp vp8.ivf vp8.rtp opus.rtp
