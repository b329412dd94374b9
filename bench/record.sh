#!/usr/bin/env bash
# Recording cost and upload throughput (issue 6).
#
# 1. CPU (utime+stime from /proc) and disk bytes written (/proc/PID/io write_bytes) per recorded
#    stream: N publishers (default 20) of a 720p 2.5 Mbit/s clip in real time, kibitka
#    (--ladder none, recording on, --record-chunk RECORD_CHUNK s, file: store under --data)
#    against nginx-rtmp (`record all`, one FLV file per stream) in the same run. kibitka's
#    figures include the HLS packaging it always does; the file: store hard-links each closed
#    chunk from the spool into DATA/recordings (same filesystem), so the bytes are written once
#    (an s3:// store sends them over the network). A kibitka run with --no-record gives its
#    LL-HLS cost, so the recorder's own CPU is the difference.
# 2. Upload throughput to s3rver behind tests/lib/s3proxy.mjs (which hashes and checks every
#    byte): UP_STREAMS publishers at 10x real time, --record-chunk 120 (chunks of about 39 MB:
#    multipart uploads of 8 MiB parts), recorded while the store is unreachable; then a restart
#    with the real store uploads the spool, timed until the queue is empty.
#   STREAMS=20 WARMUP=10 MEASURE=40 RECORD_CHUNK=10 UP_STREAMS=2 UP_SECONDS=240 bench/record.sh
source "$(dirname "$0")/lib.sh"
STREAMS=${STREAMS:-20}
WARMUP=${WARMUP:-10}
MEASURE=${MEASURE:-40}
RECORD_CHUNK=${RECORD_CHUNK:-10}
UP_STREAMS=${UP_STREAMS:-2}
UP_SECONDS=${UP_SECONDS:-240}
clip=$(bench_clip 60)
tck=$(clk_tck)

write_bytes() { awk '/^write_bytes/ {print $2}' "/proc/$1/io"; }
metric() { curl -s "$1" | awk -v n="$2" '$1 == n {print $2}'; }

measure() { # pid url [metrics-url] -> "cpu_seconds write_bytes uploaded_bytes recordings_active"
    local pid=$1 url=$2 c0 c1 w0 w1 u0=0 u1=0 active=-
    start_publishers "$STREAMS" "$url" "$clip"
    sleep "$WARMUP"
    c0=$(cpu_ticks "$pid"); w0=$(write_bytes "$pid")
    [ -n "${3:-}" ] && u0=$(metric "$3" kibitka_upload_bytes_total)
    sleep "$MEASURE"
    c1=$(cpu_ticks "$pid"); w1=$(write_bytes "$pid")
    [ -n "${3:-}" ] && u1=$(metric "$3" kibitka_upload_bytes_total) &&
        active=$(metric "$3" kibitka_recordings_active)
    stop_publishers
    echo "$(echo "($c1 - $c0) / $tck" | bc -l) $((w1 - w0)) $((u1 - u0)) $active"
}

kibitka_run() { # extra flags... -> "cpu write uploaded active chunks"
    local kd="$BENCH_DIR/record-kibitka" hp rp kpid out chunks
    rm -rf "$kd"; mkdir -p "$kd"
    hp=$(free_port); rp=$(free_port)
    "$KIBITKA" serve --open-publish --ladder none --data "$kd" --record-chunk "$RECORD_CHUNK" \
        --http 127.0.0.1:$hp --rtmp 127.0.0.1:$rp --log-level warn --max-connections-per-address 0 "$@" &
    kpid=$!; PIDS+=($kpid)
    wait_http "http://127.0.0.1:$hp/health"
    out=$(measure $kpid "rtmp://127.0.0.1:$rp/live/r" "http://127.0.0.1:$hp/metrics")
    kill -TERM $kpid; wait $kpid || true
    chunks=$(find "$kd" -name '*.mp4' -path '*recordings*' | wc -l)
    rm -rf "$kd"
    echo "$out $chunks"
}

# ---- 1. kibitka recording, and without recording (its LL-HLS cost, to isolate the recorder's)
read -r k_cpu k_write k_up k_active k_chunks < <(kibitka_run)
read -r b_cpu b_write _ _ _ < <(kibitka_run --no-record)

# ---- 1. nginx-rtmp, one process (master_process off) so its CPU and I/O are one /proc entry
np=$(free_port)
nd="$BENCH_DIR/record-nginx"; rm -rf "$nd"; mkdir -p "$nd/rec" "$nd/logs"
cat >"$nd/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off; master_process off; worker_processes 1;
error_log $nd/logs/error.log warn; pid $nd/nginx.pid;
events { worker_connections 1024; }
rtmp { server { listen 127.0.0.1:$np; chunk_size 4096;
  application live { live on; record all; record_path $nd/rec; record_unique on; } } }
CONF
nginx -c "$nd/nginx.conf" -p "$nd" &
npid=$!; PIDS+=($npid)
sleep 1
read -r n_cpu n_write _ _ < <(measure $npid "rtmp://127.0.0.1:$np/live/r")
kill -QUIT $npid; wait $npid 2>/dev/null || true
n_files=$(find "$nd/rec" -name '*.flv' | wc -l)
rm -rf "$nd"

per_min() { echo "$1 / $STREAMS * 60 / $MEASURE" | bc -l; }
mb_min() { echo "$1 / 1000000 / $STREAMS * 60 / $MEASURE" | bc -l; }
printf 'streams: %d of 720p30 ~2.6 Mbit/s (~19.5 MB of media per minute), recorded; measured %d s after %d s warm-up\n' \
    "$STREAMS" "$MEASURE" "$WARMUP"
printf 'kibitka (fMP4 chunks of %d s, fdatasync per 1 s fragment, file: store; LL-HLS too): %s recording, %d chunks stored\n' \
    "$RECORD_CHUNK" "$k_active" "$k_chunks"
printf '  CPU %.3f s per stream per minute; disk written %.1f MB per stream per minute (%.1f MB of it stored in the file: store, by hard link)\n' \
    "$(per_min "$k_cpu")" "$(mb_min "$k_write")" "$(mb_min "$k_up")"
printf '  the same without recording (--no-record): CPU %.3f, disk %.1f MB; so the recorder costs %.3f CPU-s per stream per minute\n' \
    "$(per_min "$b_cpu")" "$(mb_min "$b_write")" "$(per_min "$(echo "$k_cpu - $b_cpu" | bc -l)")"
printf 'nginx-rtmp (record all, FLV; no HLS): %d files\n' "$n_files"
printf '  CPU %.3f s per stream per minute; disk written %.1f MB per stream per minute\n' \
    "$(per_min "$n_cpu")" "$(mb_min "$n_write")"
printf 'ratio kibitka/nginx-rtmp: CPU %.2f (recorder alone %.2f), disk %.2f\n' \
    "$(echo "$k_cpu / $n_cpu" | bc -l)" "$(echo "($k_cpu - $b_cpu) / $n_cpu" | bc -l)" \
    "$(echo "$k_write / $n_write" | bc -l)"

# ---- 2. upload throughput to s3rver
s3dir=$(mktemp -d "$BENCH_DIR/s3.XXXXXX")
"$REPO/tests/lib/s3-start" "$s3dir" >/dev/null
trap 'cleanup; "$REPO/tests/lib/s3-stop" "$s3dir"' EXIT
endpoint=$(cat "$s3dir/endpoint")
ud="$BENCH_DIR/record-upload"; rm -rf "$ud"; mkdir -p "$ud"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
dead=$(free_port) # nothing listens: every upload is refused and retried, chunks stay spooled
hp=$(free_port); rp=$(free_port)
"$KIBITKA" serve --open-publish --ladder none --data "$ud" --record-chunk 120 \
    --storage "s3://kibitka-test/bench?endpoint=http://127.0.0.1:$dead&region=us-east-1" \
    --http 127.0.0.1:$hp --rtmp 127.0.0.1:$rp --log-level error &
kpid=$!; PIDS+=($kpid)
wait_http "http://127.0.0.1:$hp/health"
loops=$(( (UP_SECONDS + 59) / 60 - 1 ))
for ((i = 0; i < UP_STREAMS; i++)); do
    ffmpeg -hide_banner -loglevel error -readrate 10 -stream_loop "$loops" -i "$clip" -c copy \
        -f flv "rtmp://127.0.0.1:$rp/live/up$i" </dev/null >/dev/null 2>&1 &
    PUB_PIDS+=($!); PIDS+=($!)
done
for p in "${PUB_PIDS[@]}"; do wait "$p" || true; done
PUB_PIDS=()
sleep 1
kill -TERM $kpid; wait $kpid || true
spooled=$(find "$ud/spool" -name '*.mp4' -printf '%s\n' | awk '{n++; s+=$1} END {printf "%d %d", n, s}')
read -r up_n up_bytes <<<"$spooled"

hp=$(free_port); rp=$(free_port)
t0=$(date +%s.%N)
"$KIBITKA" serve --no-record --ladder none --data "$ud" \
    --storage "s3://kibitka-test/bench?endpoint=$endpoint&region=us-east-1" \
    --http 127.0.0.1:$hp --rtmp 127.0.0.1:$rp --log-level error &
kpid=$!; PIDS+=($kpid)
wait_http "http://127.0.0.1:$hp/health"
until [ "$(metric "http://127.0.0.1:$hp/metrics" kibitka_upload_chunks_total)" = "$up_n" ]; do
    sleep 0.05
done
t1=$(date +%s.%N)
up_total=$(metric "http://127.0.0.1:$hp/metrics" kibitka_upload_bytes_total)
kill -TERM $kpid; wait $kpid || true
parts=$(curl -s "$endpoint/__stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const o=JSON.parse(s).ops;console.log(o.UploadPart||0, o.PutObject||0)})')
rm -rf "$ud"
secs=$(echo "$t1 - $t0" | bc -l)
printf 'upload to s3rver through the checking proxy: %d chunks, %.1f MB (%s UploadPart, %s PutObject) in %.2f s from the start: %.1f MB/s\n' \
    "$up_n" "$(echo "$up_total / 1000000" | bc -l)" ${parts% *} ${parts#* } "$secs" \
    "$(echo "$up_total / 1000000 / $secs" | bc -l)"
