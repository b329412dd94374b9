#!/usr/bin/env bash
# Voice rooms under load (issue 14): how many members one core of kibitka carries in rooms of 50
# with 3 speakers before the delay p99 passes 20 ms. The release kibitka on 127.0.0.1 and one
# load client in C (bench/voice_load.c + voice_load_ws.c, built as bench_voice_load: WebSocket
# signaling on libwebsockets, ICE/DTLS/SRTP from rtc/, one media thread on epoll), which adds
# rooms step by step (STEPS, total members) and prints a row per step. Bounded: the client stops
# starting steps after BUDGET s (default 200) and is killed at 280 s.
#   STEPS=50,100,200,300,400 ROOM=50 SPEAKERS=3 WARMUP=2 MEASURE=8 bench/voice_load.sh
# KIBITKA= runs another server binary (the client is built in CLIENT_BUILD, default build/).
source "$(dirname "$0")/lib.sh"
[ -x "$KIBITKA" ] || { echo "voice_load: no $KIBITKA (scripts/build release)" >&2; exit 1; }
BUILD=${CLIENT_BUILD:-$REPO/build} # the client's build; KIBITKA= may name another server
cmake --build "$BUILD" --target bench_voice_load >/dev/null
hp=$(free_port); rp=$(free_port); cp=$(free_port); wp=$(free_port)
data="$BENCH_DIR/voice-data"
rm -rf "$data"
pw=voice-load-pass-1
echo "$pw" | "$KIBITKA" user add admin --admin --password-stdin --data "$data" >/dev/null
"$KIBITKA" serve --ladder none --no-record --http 127.0.0.1:$hp --rtmp 127.0.0.1:$rp \
    --rtc 127.0.0.1:$cp --ws 127.0.0.1:$wp --data "$data" --log-level error &
kpid=$!; PIDS+=($kpid)
wait_http "http://127.0.0.1:$hp/health"
token=$(curl -fs -H 'Content-Type: application/json' -d "{\"username\":\"admin\",\"password\":\"$pw\"}" \
    "http://127.0.0.1:$hp/api/auth/login" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || { echo "voice_load: no admin token from /api/auth/login" >&2; exit 1; }
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "voice_load: kibitka $("$KIBITKA" version 2>/dev/null | head -1), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
rc=0
timeout 280 "$BUILD/bench_voice_load" "$hp" "$wp" "$cp" "$kpid" "$token" || rc=$?
echo "voice_load: load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
curl -s "http://127.0.0.1:$hp/metrics" | grep -E '^kibitka_(voice_send_errors_total|rtc_dropped_total|ws_closed_total)' \
    | grep -v ' 0$' | sed 's/^/  /' || true
exit $rc
