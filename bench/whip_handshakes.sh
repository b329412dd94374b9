#!/usr/bin/env bash
# ICE + DTLS handshakes: N (default 1000) concurrent WHIP sessions against one --open-publish
# kibitka (release build): each POSTs its own offer, then all do ICE and DTLS at once
# (bench/whip_handshakes.c, built as bench_whip_handshakes from rtc/stun.h and rtc/dtls.h).
# Prints handshakes/s, kibitka's CPU per handshake and its RSS per session. Bounded: the client
# gives up after 90 s.
#   SESSIONS=1000 bench/whip_handshakes.sh
source "$(dirname "$0")/lib.sh"
SESSIONS=${SESSIONS:-1000}
BUILD=$(dirname "$KIBITKA")
cmake --build "$BUILD" --target bench_whip_handshakes >/dev/null
hp=$(free_port); rp=$(free_port); cp=$(free_port)
rm -rf "$BENCH_DIR/hs-data"
"$KIBITKA" serve --open-publish --ladder none --no-record --http 127.0.0.1:$hp --rtmp 127.0.0.1:$rp \
    --rtc 127.0.0.1:$cp --data "$BENCH_DIR/hs-data" --log-level error &
kpid=$!; PIDS+=($kpid)
wait_http "http://127.0.0.1:$hp/health"
ulimit -n 8192 2>/dev/null || true
timeout 120 "$BUILD/bench_whip_handshakes" "$hp" "$cp" "$SESSIONS" "$kpid"
curl -s "http://127.0.0.1:$hp/metrics" | grep -E '^kibitka_(webrtc_sessions\{kind="whip"|webrtc_failures_total|rtc_dropped_total)' \
    | grep -v ' 0$' | sed 's/^/  /'
