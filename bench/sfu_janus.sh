#!/usr/bin/env bash
# Voice forwarding, kibitka's SFU against Janus VideoRoom (Debian janus 1.1.x), audio only, with
# the same werift clients (bench/sfu_bench.mjs) in the same run, everything on 127.0.0.1:
#   all10  a 10-member room, all speaking (each hears the 9 others)
#   hall50 a 50-member room, 3 speaking
# then kibitka alone: rooms of 50 with 3 speakers added one by one (RAMP, total members) until
# the p99 delay passes 20 ms. Prints CPU per forwarded packet (the server's /proc utime+stime
# over the packets the clients received), the send-to-receive delay p50/p99, kibitka's own
# forwarding delay p50/p99 (arrival to sendmmsg, from kibitka_voice_forward_delay_seconds' delta
# over the measure window; bucket estimates), and the ratios.
#   WARMUP=3 MEASURE=12 RAMP=50,100,150,200 CASES="all10 hall50" bench/sfu_janus.sh
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/janus_conf.sh"
command -v janus >/dev/null || { echo "sfu_janus: janus is not installed (apt-get install janus)" >&2; exit 1; }
[ -x "$KIBITKA" ] || { echo "sfu_janus: no $KIBITKA (scripts/build release)" >&2; exit 1; }
[ -d "$REPO/tests/e2e/node_modules/werift" ] || { echo "sfu_janus: npm install in tests/e2e first" >&2; exit 1; }
CASES=${CASES:-all10 hall50}
OUT="$BENCH_DIR/sfu_janus.jsonl"
: >"$OUT"
jport=$(free_port)
janus_conf "$BENCH_DIR/janus-conf" "$jport"
export KIBITKA_BIN=$KIBITKA KIBITKA_E2E_DIR="$BENCH_DIR/sfu" JANUS_CONF="$BENCH_DIR/janus-conf" \
    JANUS_URL="http://127.0.0.1:$jport/janus" WARMUP=${WARMUP:-3} MEASURE=${MEASURE:-12}
mkdir -p "$KIBITKA_E2E_DIR"
run() { # server case
    echo "sfu_janus: $1 $2" >&2
    SERVER=$1 CASE=$2 timeout 300 node "$REPO/bench/sfu_bench.mjs" 2>"$BENCH_DIR/sfu-$1-$2.log" | tee -a "$OUT" >/dev/null \
        || { echo "sfu_janus: $1 $2 failed, see $BENCH_DIR/sfu-$1-$2.log" >&2; tail -5 "$BENCH_DIR/sfu-$1-$2.log" >&2; }
}
for c in $CASES; do run kibitka "$c"; run janus "$c"; done
[ "${RAMP:-50,100,150,200}" = none ] || MEASURE=${RAMP_MEASURE:-8} run kibitka ramp
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
node - "$OUT" <<'JS'
const rows = require('fs').readFileSync(process.argv[2], 'utf8').trim().split('\n').filter(Boolean).map(JSON.parse);
const get = (s, c) => rows.find((r) => r.server === s && r.case === c);
const f = (x, d = 1) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));
console.log('| case | server | forwarded pkt/s | server CPU (core) | µs per forwarded packet | delay p50 (ms) | p99 (ms) | server fwd p50 (ms) | server fwd p99 (ms) | clients\' loop lag p99 (ms) | client CPU (cores) |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.case} | ${r.server} | ${r.pps} | ${f(r.server_core, 3)} | ${f(r.us_per_packet, 2)} | ${f(r.delay_p50_ms, 2)} | ${f(r.delay_p99_ms, 2)} | ${f(r.server_fwd_delay_p50_ms, 3)} | ${f(r.server_fwd_delay_p99_ms, 3)} | ${f(r.client_lag_p99_ms, 2)} | ${f(r.client_core, 2)} |`);
for (const c of ['all10', 'hall50']) {
  const k = get('kibitka', c), j = get('janus', c);
  if (k && j) console.log(`${c}: CPU per forwarded packet kibitka/Janus = ${(k.us_per_packet / j.us_per_packet).toFixed(2)}x (goal <= 0.5x; kibitka ${k.us_per_packet} µs, goal <= 10 µs); delay p99 kibitka ${k.delay_p99_ms} ms, Janus ${j.delay_p99_ms} ms (goal < 5 ms)`);
}
const ramp = rows.filter((r) => r.case.startsWith('ramp'));
if (ramp.length) {
  const ok = ramp.filter((r) => r.delay_p99_ms <= 20);
  const last = ramp.at(-1);
  console.log(`ramp (kibitka, rooms of 50, 3 speakers): ${ok.length ? ok.at(-1).case.slice(4) : 'no'} members with p99 <= 20 ms` +
    (last.delay_p99_ms > 20 ? `; ${last.case.slice(4)} members: p99 ${last.delay_p99_ms} ms` : ' (the bound)') +
    `; kibitka used ${f(last.server_core * 100, 0)}% of a core there, the werift clients ${f(last.client_core * 100, 0)}% (one node process: one core at most)`);
}
JS
