#!/usr/bin/env bash
# Viewer egress: requests per second for the newest segment and for the media playlist with 200
# concurrent connections (wrk), kibitka (from memory, with a live publisher) against nginx
# serving the same bytes from disk with sendfile, in the same run.
#   CONNS=200 DURATION=10 bench/egress.sh
source "$(dirname "$0")/lib.sh"
CONNS=${CONNS:-200}
DURATION=${DURATION:-10}
clip=$(bench_clip 60)

hp=$(free_port); rp=$(free_port)
# wrk connects from one address: no per-address HTTP limit (CONNS may pass its default, 256).
"$KIBITKA" serve --open-publish --ladder none --no-record --http 127.0.0.1:$hp --rtmp 127.0.0.1:$rp --log-level warn \
  --http-max-connections-per-address 0 &
kpid=$!; PIDS+=($kpid)
wait_http "http://127.0.0.1:$hp/health"
start_publishers 1 "rtmp://127.0.0.1:$rp/live/egress" "$clip" # publishes as egress0
media="http://127.0.0.1:$hp/hls/egress0/source/media.m3u8"
for _ in $(seq 1 100); do
    n=$(curl -fs "$media" 2>/dev/null | grep -c '^#EXTINF' || true)
    [ "${n:-0}" -ge 3 ] && break
    sleep 0.3
done
seg=$(curl -fs "$media" | grep -v '^#' | grep . | tail -1)
segurl="http://127.0.0.1:$hp/hls/egress0/source/$seg"
www="$BENCH_DIR/egress-www"; rm -rf "$www"; mkdir -p "$www"
curl -fs "$segurl" -o "$www/segment.m4s"
curl -fs "$media" -o "$www/media.m3u8"
seg_bytes=$(stat -c %s "$www/segment.m4s"); pl_bytes=$(stat -c %s "$www/media.m3u8")

rps() { wrk -t2 -c"$CONNS" -d"${DURATION}s" "$1" | awk '/^Requests\/sec/ {print $2}'; }
k_seg=$(rps "$segurl")
k_pl=$(rps "$media")
stop_publishers
kill -TERM $kpid; wait $kpid || true

np=$(free_port)
nd="$BENCH_DIR/nginx-http"; rm -rf "$nd"; mkdir -p "$nd/logs"
cat >"$nd/nginx.conf" <<CONF
daemon off; worker_processes 2; error_log $nd/logs/error.log warn; pid $nd/nginx.pid;
events { worker_connections 4096; }
http { access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000;
  server { listen 127.0.0.1:$np; root $www; } }
CONF
nginx -c "$nd/nginx.conf" -p "$nd" &
npid=$!; PIDS+=($npid)
wait_http "http://127.0.0.1:$np/media.m3u8"
n_seg=$(rps "http://127.0.0.1:$np/segment.m4s")
n_pl=$(rps "http://127.0.0.1:$np/media.m3u8")
kill -QUIT $npid; wait $npid 2>/dev/null || true

printf 'egress, %d connections, %d s each, wrk on the same 2-core machine\n' "$CONNS" "$DURATION"
printf 'newest segment (%d bytes): kibitka %s req/s, nginx sendfile %s req/s, ratio %.2f\n' \
    "$seg_bytes" "$k_seg" "$n_seg" "$(echo "$k_seg / $n_seg" | bc -l)"
printf 'media playlist (%d bytes): kibitka %s req/s, nginx sendfile %s req/s, ratio %.2f\n' \
    "$pl_bytes" "$k_pl" "$n_pl" "$(echo "$k_pl / $n_pl" | bc -l)"
echo "goal: ratio >= 0.8 for both"
