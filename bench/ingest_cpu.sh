#!/usr/bin/env bash
# CPU and memory per published stream: N publishers (default 20) of a 720p 2.5 Mbit/s clip in
# real time, stream copy (--ladder none), HLS out; kibitka against nginx-rtmp (`hls on`) in the same run.
# Prints CPU seconds per stream per minute for each, the ratio, and memory per live stream.
#   STREAMS=20 WARMUP=10 MEASURE=30 bench/ingest_cpu.sh
source "$(dirname "$0")/lib.sh"
STREAMS=${STREAMS:-20}
WARMUP=${WARMUP:-10}
MEASURE=${MEASURE:-30}
clip=$(bench_clip 60)
tck=$(clk_tck)

measure() { # pid url [metrics-url] -> prints "cpu_seconds rss_idle_kb rss_live_kb"
    local pid=$1 url=$2 idle live c0 c1
    idle=$(rss_kb "$pid")
    start_publishers "$STREAMS" "$url" "$clip"
    sleep "$WARMUP"
    c0=$(cpu_ticks "$pid")
    sleep "$MEASURE"
    c1=$(cpu_ticks "$pid")
    live=$(rss_kb "$pid")
    if [ -n "${3:-}" ]; then
        curl -s "$3" | awk '/^kibitka_live_streams / {print $2}' >"$BENCH_DIR/live_streams"
    fi
    stop_publishers
    echo "$(echo "($c1 - $c0) / $tck" | bc -l) $idle $live"
}

# kibitka
hp=$(free_port); rp=$(free_port)
"$KIBITKA" serve --open-publish --ladder none --no-record --http 127.0.0.1:$hp --rtmp 127.0.0.1:$rp --log-level warn \
    --max-connections-per-address 0 &
kpid=$!; PIDS+=($kpid)
wait_http "http://127.0.0.1:$hp/health"
read -r k_cpu k_idle k_live < <(measure $kpid "rtmp://127.0.0.1:$rp/live/s" \
    "http://127.0.0.1:$hp/metrics")
live_streams=$(cat "$BENCH_DIR/live_streams")
kill -TERM $kpid; wait $kpid || true

# nginx-rtmp, one process (master_process off) so its CPU is one /proc entry
np=$(free_port)
nd="$BENCH_DIR/nginx-rtmp"; rm -rf "$nd"; mkdir -p "$nd/hls" "$nd/logs"
cat >"$nd/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off; master_process off; worker_processes 1;
error_log $nd/logs/error.log warn; pid $nd/nginx.pid;
events { worker_connections 1024; }
rtmp { server { listen 127.0.0.1:$np; chunk_size 4096;
  application live { live on; hls on; hls_path $nd/hls; hls_fragment 2s; hls_playlist_length 12s; } } }
CONF
nginx -c "$nd/nginx.conf" -p "$nd" &
npid=$!; PIDS+=($npid)
sleep 1
read -r n_cpu n_idle n_live < <(measure $npid "rtmp://127.0.0.1:$np/live/s")
kill -QUIT $npid; wait $npid 2>/dev/null || true

per_min() { echo "$1 / $STREAMS * 60 / $MEASURE" | bc -l; }
printf 'streams: %d of 720p30 ~2.6 Mbit/s, stream copy; measured %d s after %d s warm-up\n' \
    "$STREAMS" "$MEASURE" "$WARMUP"
printf 'kibitka (LL-HLS, fMP4 parts in memory): live streams seen %s\n' "${live_streams:-?}"
printf '  CPU %.3f s per stream per minute; memory %.0f KiB per live stream (RSS %d -> %d KiB)\n' \
    "$(per_min "$k_cpu")" "$(echo "($k_live - $k_idle) / $STREAMS" | bc -l)" "$k_idle" "$k_live"
printf 'nginx-rtmp (hls on, MPEG-TS to disk):\n'
printf '  CPU %.3f s per stream per minute; memory %.0f KiB per live stream (RSS %d -> %d KiB)\n' \
    "$(per_min "$n_cpu")" "$(echo "($n_live - $n_idle) / $STREAMS" | bc -l)" "$n_idle" "$n_live"
printf 'ratio kibitka/nginx-rtmp CPU: %.2f (must be <= 1.0, goal <= 0.5)\n' \
    "$(echo "$k_cpu / $n_cpu" | bc -l)"
