# Shared helpers for the benches (sourced). Everything listens on 127.0.0.1.
set -euo pipefail
BENCH_DIR=${BENCH_DIR:-/tmp/kibitka-bench}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KIBITKA=${KIBITKA:-$REPO/build/kibitka}
mkdir -p "$BENCH_DIR"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# A 720p30 H.264 High + AAC clip at ~2.5 Mbit/s with a 2 s GOP, cached.
bench_clip() {
    local secs=${1:-60} f="$BENCH_DIR/clip720-${1:-60}.flv"
    if [ ! -s "$f" ]; then
        ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=1280x720:rate=30 \
            -f lavfi -i sine=frequency=440:sample_rate=48000 -t "$secs" \
            -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 60 -keyint_min 60 -sc_threshold 0 \
            -b:v 2500k -maxrate 2500k -bufsize 5000k -c:a aac -b:a 128k -f flv "$f.tmp"
        mv "$f.tmp" "$f"
    fi
    echo "$f"
}

# CPU ticks (user+system) of a process and its threads.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
clk_tck() { getconf CLK_TCK; }

wait_http() { # url, timeout seconds
    local end=$((SECONDS + ${2:-15}))
    until curl -fs -o /dev/null "$1"; do
        [ $SECONDS -lt $end ] || { echo "bench: $1 never answered" >&2; return 1; }
        sleep 0.2
    done
}

# start N looping real-time stream-copy publishers to URL prefix (key = prefix + index)
start_publishers() { # n, url-prefix, clip
    local i
    for ((i = 0; i < $1; i++)); do
        ffmpeg -hide_banner -loglevel error -re -stream_loop -1 -i "$3" -c copy -f flv \
            "$2$i" </dev/null >/dev/null 2>&1 &
        PUB_PIDS+=($!)
        PIDS+=($!)
    done
}
stop_publishers() {
    for p in "${PUB_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    for p in "${PUB_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PUB_PIDS=()
}
PUB_PIDS=()

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
