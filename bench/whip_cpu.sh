#!/usr/bin/env bash
# CPU per WHIP publisher against the same media over RTMP, into one kibitka (release build,
# --ladder none: SRTP decrypt, depacketize, LL-HLS out), in the same run: N publishers each of a
# 720p30 H.264 baseline clip (2 s GOP, ~2.5 Mbit/s) with audio. RTMP: ffmpeg -c copy (AAC).
# WHIP: werift (bench/whip_pub.mjs) fed by ffmpeg -c:v copy of the same H.264, audio to Opus.
# Only kibitka's CPU is counted (/proc/PID/stat utime+stime), never ffmpeg's or node's.
#   STREAMS=4 WARMUP=8 MEASURE=30 bench/whip_cpu.sh
source "$(dirname "$0")/lib.sh"
STREAMS=${STREAMS:-4}
WARMUP=${WARMUP:-8}
MEASURE=${MEASURE:-30}
tck=$(clk_tck)
clip="$BENCH_DIR/clip720-baseline-60.flv"
if [ ! -s "$clip" ]; then
    ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1280x720:rate=30 \
        -f lavfi -i sine=frequency=440:sample_rate=48000 -t 60 \
        -c:v libx264 -profile:v baseline -preset veryfast -pix_fmt yuv420p -g 60 -keyint_min 60 \
        -sc_threshold 0 -b:v 2500k -maxrate 2500k -bufsize 5000k -c:a aac -b:a 128k -f flv "$clip.tmp"
    mv "$clip.tmp" "$clip"
fi

hp=$(free_port); rp=$(free_port); cp=$(free_port)
"$KIBITKA" serve --open-publish --ladder none --no-record --http 127.0.0.1:$hp --rtmp 127.0.0.1:$rp \
    --rtc 127.0.0.1:$cp --data "$BENCH_DIR/whip-data" --log-level warn --max-connections-per-address 0 &
kpid=$!; PIDS+=($kpid)
wait_http "http://127.0.0.1:$hp/health"
live() { curl -s "http://127.0.0.1:$hp/metrics" | awk '/^kibitka_live_streams / {print $2}'; }

# RTMP
if [ "${RTMP_AUDIO:-aac}" = mp3 ]; then
    # Audio kibitka must transcode on both sides: MP3 over RTMP, Opus over WHIP (both become
    # AAC for HLS), so the ratio compares the transports, not AAC passthrough with a transcode.
    for ((i = 0; i < STREAMS; i++)); do
        ffmpeg -hide_banner -loglevel error -re -stream_loop -1 -i "$clip" -c:v copy \
            -c:a libmp3lame -b:a 128k -ar 44100 -f flv "rtmp://127.0.0.1:$rp/live/r$i" \
            </dev/null >/dev/null 2>&1 &
        PUB_PIDS+=($!)
        PIDS+=($!)
    done
else
    start_publishers "$STREAMS" "rtmp://127.0.0.1:$rp/live/r" "$clip"
fi
sleep "$WARMUP"
c0=$(cpu_ticks $kpid); sleep "$MEASURE"; c1=$(cpu_ticks $kpid)
r_live=$(live)
stop_publishers
r_cpu=$(echo "($c1 - $c0) / $tck" | bc -l)
sleep 2

# WHIP
node "$REPO/bench/whip_pub.mjs" "http://127.0.0.1:$hp" "$STREAMS" $((WARMUP + MEASURE + 5)) "$clip" \
    >"$BENCH_DIR/whip_pub.out" 2>&1 &
npid=$!; PIDS+=($npid)
end=$((SECONDS + 30))
until grep -q '^up' "$BENCH_DIR/whip_pub.out"; do
    [ $SECONDS -lt $end ] && kill -0 $npid 2>/dev/null || { cat "$BENCH_DIR/whip_pub.out" >&2; exit 1; }
    sleep 0.2
done
sleep "$WARMUP"
c0=$(cpu_ticks $kpid); sleep "$MEASURE"; c1=$(cpu_ticks $kpid)
w_live=$(live)
m=$(curl -s "http://127.0.0.1:$hp/metrics")
wait $npid || true
w_cpu=$(echo "($c1 - $c0) / $tck" | bc -l)
kill -TERM $kpid; wait $kpid || true

per_min() { echo "$1 / $STREAMS * 60 / $MEASURE" | bc -l; }
printf 'publishers: %d of 720p30 H.264 baseline ~2.5 Mbit/s + audio (RTMP: %s); measured %d s after %d s warm-up\n' \
    "$STREAMS" "${RTMP_AUDIO:-aac}" "$MEASURE" "$WARMUP"
printf 'RTMP:        live streams %s; kibitka CPU %.3f s per publisher per minute\n' "${r_live:-?}" "$(per_min "$r_cpu")"
printf 'WHIP (Opus): live streams %s; kibitka CPU %.3f s per publisher per minute\n' "${w_live:-?}" "$(per_min "$w_cpu")"
echo "$m" | grep -E '^kibitka_(rtp_packets_in_total|rtp_packets_lost_total|rtcp_nacks_sent_total|webrtc_sessions)' | sed 's/^/  /'
printf 'ratio WHIP/RTMP kibitka CPU: %.2f (goal <= 1.5)\n' "$(echo "$w_cpu / $r_cpu" | bc -l)"
