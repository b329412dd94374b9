#!/usr/bin/env bash
# The transcoding ladder against the ffmpeg command line doing the same ladder, in one run.
# One 1080p30 H.264/AAC publish (2 s GOP) in real time:
#   kibitka: the default ladder (source + 720p:2500k + 480p:1000k + 360p:600k, x264 veryfast),
#            LL-HLS out; the publisher is a separate ffmpeg doing stream copy (not counted);
#   ffmpeg:  decode, split, scale, three libx264 veryfast encodes at 2500k/1000k/600k with
#            -g 60 (the source GOP), AAC 128k, read at the same real-time pace (-re).
# Prints CPU seconds of each over the same MEASURE seconds of media and the ratio (goal <= 0.9,
# limit 1.10), kibitka's worst transcode lag, the time from publish to the first playlist of
# every rendition, and kibitka's memory for the stream.
#   WARMUP=8 MEASURE=40 bench/transcode.sh
source "$(dirname "$0")/lib.sh"
WARMUP=${WARMUP:-8}
MEASURE=${MEASURE:-40}
tck=$(clk_tck)
clip="$BENCH_DIR/clip1080-90.flv"
if [ ! -s "$clip" ]; then
    ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1920x1080:rate=30 \
        -f lavfi -i sine=frequency=440:sample_rate=48000 -t 90 \
        -c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -g 60 -keyint_min 60 \
        -sc_threshold 0 -b:v 4500k -maxrate 4500k -bufsize 9000k -c:a aac -b:a 128k \
        -f flv "$clip.tmp"
    mv "$clip.tmp" "$clip"
fi

# kibitka
hp=$(free_port); rp=$(free_port)
"$KIBITKA" serve --open-publish --http 127.0.0.1:$hp --rtmp 127.0.0.1:$rp --data "$BENCH_DIR/tdata" \
    --no-record >"$BENCH_DIR/transcode-kibitka.log" 2>&1 &
kpid=$!; PIDS+=($kpid)
wait_http "http://127.0.0.1:$hp/health"
rss_idle=$(rss_kb $kpid)
t0=$(date +%s.%N)
ffmpeg -hide_banner -loglevel error -re -i "$clip" -c copy -f flv "rtmp://127.0.0.1:$rp/live/b" \
    </dev/null >/dev/null 2>&1 &
pub=$!; PIDS+=($pub)
ready=""
for r in source 720p 480p 360p; do
    until curl -fs -o /dev/null "http://127.0.0.1:$hp/hls/b/$r/media.m3u8"; do sleep 0.05; done
    ready+="$r $(echo "$(date +%s.%N) - $t0" | bc -l | xargs printf '%.2f') s, "
done
sleep "$WARMUP"
c0=$(cpu_ticks $kpid)
maxlag=0
for ((i = 0; i < MEASURE; i++)); do
    sleep 1
    lag=$(curl -s "http://127.0.0.1:$hp/metrics" |
        awk '/^kibitka_transcode_lag_seconds\{stream="b"\}/ {print $2}')
    maxlag=$(echo "if (${lag:-0} > $maxlag) ${lag:-0} else $maxlag" | bc -l)
done
c1=$(cpu_ticks $kpid)
rss_live=$(rss_kb $kpid)
dropped=$(curl -s "http://127.0.0.1:$hp/metrics" | awk '/^kibitka_transcode_dropped_frames_total / {print $2}')
kill -INT $pub 2>/dev/null || true; wait $pub 2>/dev/null || true
kill -TERM $kpid; wait $kpid || true
k_cpu=$(echo "($c1 - $c0) / $tck" | bc -l)

# ffmpeg command line: the same media span, measured the same way (its own /proc ticks)
ffmpeg -hide_banner -loglevel error -re -i "$clip" -filter_complex \
    "[0:v]split=3[a][b][c];[a]scale=1280:720[v1];[b]scale=854:480[v2];[c]scale=640:360[v3]" \
    -map "[v1]" -c:v:0 libx264 -preset veryfast -b:v:0 2500k -maxrate:v:0 2500k -bufsize:v:0 2500k -g 60 \
    -map "[v2]" -c:v:1 libx264 -preset veryfast -b:v:1 1000k -maxrate:v:1 1000k -bufsize:v:1 1000k -g 60 \
    -map "[v3]" -c:v:2 libx264 -preset veryfast -b:v:2 600k -maxrate:v:2 600k -bufsize:v:2 600k -g 60 \
    -map 0:a -c:a aac -b:a 128k -f null - </dev/null >/dev/null 2>&1 &
fpid=$!; PIDS+=($fpid)
sleep "$WARMUP"
f0=$(cpu_ticks $fpid)
sleep "$MEASURE"
f1=$(cpu_ticks $fpid)
kill -INT $fpid 2>/dev/null || true; wait $fpid 2>/dev/null || true
f_cpu=$(echo "($f1 - $f0) / $tck" | bc -l)

printf 'transcode ladder, 1080p30 source, %d s of media:\n' "$MEASURE"
printf '  kibitka (decode once, cascade scale, 3 x264 rungs, LL-HLS): %.1f CPU-s (%.0f%% of a core), worst lag %.2f s, %s frames dropped\n' \
    "$k_cpu" "$(echo "100 * $k_cpu / $MEASURE" | bc -l)" "$maxlag" "${dropped:-0}"
printf '  ffmpeg CLI (split, scale x3, 3 x264, aac):                  %.1f CPU-s (%.0f%% of a core)\n' \
    "$f_cpu" "$(echo "100 * $f_cpu / $MEASURE" | bc -l)"
printf '  ratio kibitka / ffmpeg: %.2f (goal <= 0.9, limit <= 1.10)\n' "$(echo "$k_cpu / $f_cpu" | bc -l)"
printf '  publish -> first playlist: %s\n' "${ready%, }"
printf '  kibitka memory for the stream (RSS live - idle): %.0f MB\n' "$(echo "($rss_live - $rss_idle) / 1024" | bc -l)"
