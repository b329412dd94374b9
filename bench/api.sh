#!/usr/bin/env bash
# API throughput: wrk against an authenticated GET /api/streams/{name}, on SQLite and on a
# throwaway PostgreSQL (tests/lib/pg-start), each with the release build. Goal: >= 10,000 req/s
# on this 2-core machine with wrk on the same machine.
#   CONNS=50 DURATION=10 bench/api.sh
source "$(dirname "$0")/lib.sh"
CONNS=${CONNS:-50}
DURATION=${DURATION:-10}

run() { # db-url label
    local hp rp data tok pid
    hp=$(free_port); rp=$(free_port)
    data=$(mktemp -d "$BENCH_DIR/api-XXXXXX")
    echo 'bench password' | "$KIBITKA" user add bench --admin --password-stdin --data "$data" \
        --db "$1" >/dev/null
    "$KIBITKA" serve --http 127.0.0.1:$hp --rtmp 127.0.0.1:$rp --data "$data" --db "$1" \
        --log-level warn &
    pid=$!; PIDS+=($pid)
    wait_http "http://127.0.0.1:$hp/health"
    tok=$(curl -fs -X POST -H 'Content-Type: application/json' \
        -d '{"username":"bench","password":"bench password"}' \
        "http://127.0.0.1:$hp/api/auth/login" | sed 's/.*"token": *"\([^"]*\)".*/\1/')
    curl -fs -X POST -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
        -d '{"name":"benchcam"}' "http://127.0.0.1:$hp/api/streams" >/dev/null
    curl -fs -H "Authorization: Bearer $tok" "http://127.0.0.1:$hp/api/streams/benchcam" \
        | grep -q benchcam || { echo "bench: GET /api/streams/benchcam failed" >&2; return 1; }
    local rps
    rps=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" -H "Authorization: Bearer $tok" \
        "http://127.0.0.1:$hp/api/streams/benchcam" | awk '/^Requests\/sec/ {print $2}')
    printf '%-10s GET /api/streams/{name} (authenticated): %s req/s (goal >= 10000)\n' "$2" "$rps"
    kill -TERM $pid; wait $pid || true
}

run "sqlite:$BENCH_DIR/api-sqlite-$$.db" sqlite
pgdir=$(mktemp -d /tmp/kibitka-pg.XXXXXX)
pgurl=$("$REPO/tests/lib/pg-start" "$pgdir")
run "$pgurl" postgres || true
"$REPO/tests/lib/pg-stop" "$pgdir"
