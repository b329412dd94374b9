#!/usr/bin/env bash
# Issue 11 item 2, repeated: STREAMS (default 40) real-time 720p publishers (stream copy, looping)
# added one every STAGGER s (1) to one kibitka with the default ladder, then HOLD s (90) of all of
# them live. Reports per publisher and in total: closed by the server (ffmpeg exited early, and the
# server's "publish ended (REASON)"), ladder or passthrough (the multivariant's variants,
# kibitka_admission_*_total), kibitka_loop_lag_seconds and kibitka_cpu_usage_ratio sampled every
# second, /health response time, the source rendition's live-edge lag at the end (now minus the
# newest part's PROGRAM-DATE-TIME + its duration, from a non-blocking playlist fetch), and the
# network thread's CPU share (the main thread: core/loop runs there; the threads are not named).
#   STREAMS=40 STAGGER=1 HOLD=90 bench/overload.sh          (~2.5 min; small: STREAMS=4 HOLD=20)
#   KIBITKA_ARGS='--cpu-budget 70' adds flags to `kibitka serve`.
source "$(dirname "$0")/lib.sh"
STREAMS=${STREAMS:-40}
STAGGER=${STAGGER:-1}
HOLD=${HOLD:-90}
KIBITKA_ARGS=${KIBITKA_ARGS:-}
out="$BENCH_DIR/overload"
rm -rf "$out"; mkdir -p "$out/pub" "$out/data"
clip=$(bench_clip 60)
tck=$(clk_tck)

# Hard bound on the whole run: setup + ramp + hold + report.
limit=$((STREAMS * STAGGER + HOLD + 90))
main=$$
(
    trap 'kill $sp 2>/dev/null; exit 0' TERM
    sleep "$limit" & sp=$!
    wait $sp && { echo "overload: over $limit s, giving up" >&2; kill -TERM $main; }
) &
PIDS+=($!)
# Every ffmpeg, even one started before an interruption, then what lib.sh's cleanup stops.
overload_cleanup() {
    local f rc=$?
    set +e
    for f in "$out"/pub/*.pid; do [ -s "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null; done
    cleanup
    exit $rc
}
trap overload_cleanup EXIT
trap 'exit 143' TERM INT

hp=$(free_port); rp=$(free_port)
# shellcheck disable=SC2086
"$KIBITKA" serve --open-publish --no-record --data "$out/data" --http 127.0.0.1:$hp \
    --rtmp 127.0.0.1:$rp --rtc off --log-level info --max-connections-per-address 0 \
    $KIBITKA_ARGS 2>"$out/kibitka.log" &
kpid=$!; PIDS+=($kpid)
base="http://127.0.0.1:$hp"
wait_http "$base/health" 30

# Threads: /proc/PID/task/*/stat and schedstat as they are (two processes, not two per thread).
threads() {
    grep -H . /proc/$kpid/task/*/stat /proc/$kpid/task/*/schedstat 2>/dev/null || true
}

# Sampler, once a second: "wall health_s loop_lag_s cpu_ratio main_thread_ticks main_wait_ns".
sampler() {
    local t0 h m lag cpu ticks wait
    while :; do
        t0=$(date +%s.%N)
        h=$(curl -s -o /dev/null --max-time 5 -w '%{time_total}' "$base/health" || echo 5)
        m=$(curl -s --max-time 5 "$base/metrics" || true)
        lag=$(awk '/^kibitka_loop_lag_seconds / {print $2}' <<<"$m")
        cpu=$(awk '/^kibitka_cpu_usage_ratio / {print $2}' <<<"$m")
        ticks=$(awk '{sub(/^.*\) /, ""); print $12 + $13}' /proc/$kpid/task/$kpid/stat 2>/dev/null || echo -)
        wait=$(awk '{print $2}' /proc/$kpid/task/$kpid/schedstat 2>/dev/null || echo -)
        echo "$t0 $h ${lag:--} ${cpu:--} $ticks $wait" >>"$out/samples"
        sleep "$(echo "1 - ($(date +%s.%N) - $t0)" | bc -l | awk '{print ($1 > 0.05 ? $1 : 0.05)}')"
    done
}
sampler &
sampler_pid=$!
PIDS+=($sampler_pid)

# Publishers s0..sN-1, each in a subshell that notes when its ffmpeg exited and how.
t_start=$(date +%s.%N)
declare -a FF
for ((i = 0; i < STREAMS; i++)); do
    (
        ffmpeg -hide_banner -loglevel error -re -stream_loop -1 -i "$clip" -c copy -f flv \
            "rtmp://127.0.0.1:$rp/live/s$i" </dev/null >/dev/null 2>"$out/pub/s$i.err" &
        echo $! >"$out/pub/s$i.pid"
        wait $!
        echo "$? $(date +%s.%N)" >"$out/pub/s$i.exit"
    ) &
    PIDS+=($!)
    echo "$(date +%s.%N)" >"$out/pub/s$i.start"
    sleep "$STAGGER"
done
for ((i = 0; i < STREAMS; i++)); do
    [ -s "$out/pub/s$i.pid" ] || sleep 0.2
    FF[i]=$(cat "$out/pub/s$i.pid" 2>/dev/null || echo 0)
done
threads >"$out/threads0"; t_hold=$(date +%s.%N)
sleep "$HOLD"
threads >"$out/threads1"; t_end=$(date +%s.%N)
kill $sampler_pid 2>/dev/null || true
cp "$out/kibitka.log" "$out/kibitka.hold.log"
curl -s --max-time 10 "$base/metrics" >"$out/metrics.end" || true

# Report (publishers still live, so the playlists are current).
rc=0
python3 - "$out" "$base" "$STREAMS" "$tck" "$t_start" "$t_hold" "$t_end" "$kpid" "$STAGGER" <<'PY' || rc=$?
import os, re, sys, time, urllib.request, statistics as st
out, base, n, tck = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
t_start, t_hold, t_end, kpid = float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7]), sys.argv[8]
stagger = sys.argv[9]

fetch_until = time.time() + 40  # the report's playlist fetches, all streams: at most 40 s

def get(url):
    if time.time() > fetch_until:
        return 0, ''
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status, r.read().decode()
    except Exception as e:
        return getattr(e, 'code', 0) or 0, ''

def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] if v else float('nan')

def live_lag(text):
    """now minus the newest part's PDT + duration: the last PROGRAM-DATE-TIME plus every part after
    it (or, with none listed after it, its segment's EXTINF)."""
    now = time.time()
    lines = text.split('\n')
    idx = [j for j, l in enumerate(lines) if l.startswith('#EXT-X-PROGRAM-DATE-TIME:')]
    if not idx:
        return None
    s = lines[idx[-1]].split(':', 1)[1].strip()
    from datetime import datetime
    start = datetime.fromisoformat(s.replace('Z', '+00:00')).timestamp()
    dur = 0.0
    extinf = None
    for l in lines[idx[-1] + 1:]:
        m = re.match(r'#EXT-X-PART:DURATION=([\d.]+)', l)
        if m:
            dur += float(m.group(1))
        m = re.match(r'#EXTINF:([\d.]+)', l)
        if m and extinf is None:
            extinf = float(m.group(1))
    if dur == 0 and extinf:
        dur = extinf
    return now - (start + dur)

log = open(f'{out}/kibitka.hold.log', errors='replace').read().splitlines()
metrics = open(f'{out}/metrics.end', errors='replace').read() if os.path.exists(f'{out}/metrics.end') else ''
def metric(name):
    m = re.search(r'^' + re.escape(name) + r' (\S+)$', metrics, re.M)
    return m.group(1) if m else 'n/a'

rows, lags = [], []
closed = ladder = passthrough = 0
for i in range(n):
    name = f's{i}'
    p = f'{out}/pub/{name}'
    started = float(open(p + '.start').read()) - t_start
    ex = open(p + '.exit').read().split() if os.path.exists(p + '.exit') else None
    early = f'exit {ex[0]} at {float(ex[1]) - t_start:.0f}s' if ex else ''
    err = open(p + '.err', errors='replace').read().strip().splitlines()
    reasons = [re.search(r'publish ended \(([^)]*)\)', l).group(1) for l in log
               if f'stream={name} ' in l and 'publish ended (' in l]
    refused = any(f'stream={name} ' in l and 'publish refused' in l for l in log)
    status, mv = get(f'{base}/hls/{name}/index.m3u8')
    variants = [l for l in mv.split('\n')[1:] if l and not l.startswith('#')] if status == 200 else []
    nvar = sum(1 for l in mv.split('\n') if l.startswith('#EXT-X-STREAM-INF'))
    kind = 'ladder' if nvar > 1 else 'passthrough' if nvar == 1 else f'none ({status})'
    ladder += nvar > 1
    passthrough += nvar == 1
    src = next((v for v in variants if 'source' in v), variants[0] if variants else None)
    lag = None
    if src:
        s2, text = get(f'{base}/hls/{name}/{src}' if not src.startswith('/') else base + src)
        lag = live_lag(text) if s2 == 200 else None
    if lag is not None:
        lags.append(lag)
    is_closed = bool(ex) or bool(reasons)
    closed += is_closed
    why = ', '.join(reasons) + (' [refused]' if refused else '')
    rows.append((name, started, early or 'live', why or '-', kind,
                 f'{lag:.2f}' if lag is not None else 'n/a', err[-1][:60] if (ex and err) else ''))

print(f'overload: {n} publishers of a 720p30 2.5 Mbit/s clip (ffmpeg -re -c copy, looping), '
      f'one every {stagger} s (ramp {t_hold - t_start:.0f} s), held {t_end - t_hold:.0f} s; '
      f'{os.cpu_count()} CPUs; load average {open("/proc/loadavg").read().split()[0]}')
print(f'{"pub":5} {"start":>6}  {"ffmpeg":16} {"server log: publish ended (...)":34} {"ladder":12} {"src lag s":>9}')
for r in rows:
    print(f'{r[0]:5} {r[1]:5.1f}s  {r[2]:16} {r[3][:34]:34} {r[4]:12} {r[5]:>9}  {r[6]}')

samples = []
for l in open(f'{out}/samples'):
    f = l.split()
    if len(f) == 6:
        samples.append(f)
def col(k, lo=t_start):
    return [float(f[k]) for f in samples if float(f[0]) >= lo and f[k] != '-']
health, lag_s, cpu = col(1), col(2), col(3)
# The network thread's per-second CPU share and run-queue wait, from consecutive samples.
share, wait = [], []
for a, b in zip(samples, samples[1:]):
    if float(a[0]) < t_start or '-' in (a[4], b[4], a[5], b[5]):
        continue
    dt = float(b[0]) - float(a[0])
    share.append((float(b[4]) - float(a[4])) / tck / dt)
    wait.append((float(b[5]) - float(a[5])) / 1e9 / dt)

def threads(f):
    """tid -> (nice, utime+stime ticks, run-queue wait ns, comm) from `grep -H .` of stat, schedstat."""
    d, wait = {}, {}
    for l in open(f, errors='replace'):
        path, _, line = l.rstrip('\n').partition(':')
        tid = path.split('/')[4]
        if path.endswith('/schedstat'):
            wait[tid] = int(line.split()[1])
        else:
            comm = line[line.index('(') + 1:line.rindex(')')]
            x = line[line.rindex(')') + 2:].split()
            d[tid] = [int(x[16]), int(x[11]) + int(x[12]), 0, comm]
    for tid, w in wait.items():
        if tid in d:
            d[tid][2] = w
    return d
t0, t1 = threads(f'{out}/threads0'), threads(f'{out}/threads1')
dt = t_end - t_hold
per = sorted(((t1[k][1] - t0.get(k, (0, 0, 0, ''))[1]) / tck / dt, k) for k in t1)[::-1]
comms = sorted({v[3] for v in t1.values()})
net = t1.get(kpid)
net_share = (net[1] - t0[kpid][1]) / tck / dt if net and kpid in t0 else float('nan')
proc = sum(s for s, _ in per)

lag_med = st.median(lags) if lags else float('nan')
print('totals:')
print(f'  closed by the server: {closed} of {n} (ffmpeg exited early: '
      f'{sum(1 for r in rows if r[2] != "live")}); kibitka_rtmp_closed_total by reason: ' +
      (', '.join(f'{m.group(1)} {m.group(2)}' for m in re.finditer(
          r'^kibitka_rtmp_closed_total\{reason="([^"]+)"\} (\S+)$', metrics, re.M) if m.group(2) not in ('0',))
       or 'none'))
print(f'  ladder {ladder}, passthrough {passthrough} (multivariant variants); '
      f'kibitka_admission_passthrough_total {metric("kibitka_admission_passthrough_total")}, '
      f'kibitka_admission_refused_total {metric("kibitka_admission_refused_total")}')
print(f'  kibitka_loop_lag_seconds over {len(lag_s)} samples: max {max(lag_s, default=float("nan")):.3f}, '
      f'p50 {q(lag_s, 0.5):.3f}')
print(f'  kibitka_cpu_usage_ratio: max {max(cpu, default=float("nan")):.3f}, p50 {q(cpu, 0.5):.3f}, '
      f'at the end {metric("kibitka_cpu_usage_ratio")}; kibitka_publishers {metric("kibitka_publishers")}')
print(f'  /health response over {len(health)} samples: p50 {q(health, 0.5) * 1000:.1f} ms, '
      f'max {max(health, default=float("nan")) * 1000:.1f} ms')
print(f'  source live-edge lag over {len(lags)} streams at the end: median {lag_med:.2f} s, '
      f'max {max(lags, default=float("nan")):.2f} s')
print(f'  network thread (tid {kpid}, comm "{net[3] if net else "?"}", nice {net[0] if net else "?"}): '
      f'{net_share * 100:.1f}% of a CPU over the hold; per second over the run: min '
      f'{min(share, default=float("nan")) * 100:.1f}%, p50 {q(share, 0.5) * 100:.1f}%; '
      f'run-queue wait p50 {q(wait, 0.5) * 1000:.0f} ms/s, max {max(wait, default=float("nan")) * 1000:.0f} ms/s')
print(f'  kibitka over the hold: {proc:.2f} CPUs in {len(t1)} threads (names: {", ".join(comms)}); '
      'busiest: ' + ', '.join(f'{k}{"*" if k == kpid else ""} nice {t1[k][0]} {s * 100:.0f}%' for s, k in per[:6]))
ok = [('no publisher closed by the server', closed == 0),
      ('loop lag max < 1 s', bool(lag_s) and max(lag_s) < 1),
      ('source live lag median < 2 s' + (f' (and a source playlist for every stream: {n - len(lags)} '
       'without)' if len(lags) < n else ''), bool(lags) and len(lags) == n and lag_med < 2)]
for what, good in ok:
    print(f'{"PASS" if good else "FAIL"}: {what}')
sys.exit(0 if all(g for _, g in ok) else 1)
PY
for p in "${FF[@]}"; do kill -INT "$p" 2>/dev/null || true; done
kill -TERM $kpid 2>/dev/null || true
echo "logs and samples in $out"
exit $rc
