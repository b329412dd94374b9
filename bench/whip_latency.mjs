// WHIP against RTMP latency, in one run against one kibitka (--ladder none --part 0.5): the same
// 720p30 H.264 baseline clip (2 s GOP, AAC) published once over RTMP (ffmpeg -re -c copy) and
// once over WHIP (werift, tests/e2e/lib/whip_feed.mjs: ffmpeg -re -c:v copy of the same H.264,
// audio to Opus), one after the other. For each:
//   - time from the publish's start to the first playlist (RTMP: spawning ffmpeg; WHIP: the
//     POST, and from spawning the feeding ffmpeg once the answer is in), and the server's own
//     figure (its log: from the hub's start);
//   - the live-edge lag over LAG seconds of blocking playlist reloads: now minus (the newest
//     part's PROGRAM-DATE-TIME + its duration). PDT is the server's clock at the stream's
//     ingest, so this is the ingest-to-playlist lag;
//   - with PLAYER > 0, hls.js (lowLatencyMode) in headless Chromium: hls.latency and the wall
//     latency (now minus the PDT of the frame on screen), sampled every second for PLAYER s after
//     10 s of settling.
//   node bench/whip_latency.mjs          (build/kibitka unless KIBITKA_BIN is set)
//   LAG=30 PLAYER=25 ORDER=rtmp,whip node bench/whip_latency.mjs   (PLAYER=0: no Chromium)
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
process.env.KIBITKA_BIN ||= path.join(here, '..', 'build', 'kibitka');
const lib = await import('../tests/e2e/lib/server.mjs');
const { listParts } = await import('../tests/e2e/lib/hls.mjs');
const { whipFeed } = await import('../tests/e2e/lib/whip_feed.mjs');

const LAG = Number(process.env.LAG ?? 30);
const PLAYER = Number(process.env.PLAYER ?? 25);
const SETTLE = 10;
const ORDER = (process.env.ORDER || 'rtmp,whip').split(',');
const q = (xs, p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];

// H.264 baseline (what a WebRTC sender sends), fixed 2 s GOP, AAC. 90 s, longer than one
// publish (LAG + SETTLE + PLAYER + the first playlist): ffmpeg 5.1 breaks a bitstream filter at
// a -stream_loop wrap ("A non-NULL packet sent after an EOF"). The RTP side needs
// h264_mp4toannexb, not dump_extra: FLV's H.264 is length-prefixed, and dump_extra prepends the
// avcC record to it, which the depacketizer cannot parse as SPS/PPS (no video ever starts).
const clip = path.join(lib.workDir, 'clip-720p30-baseline-g60-90s.flv');
if (!existsSync(clip)) {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', '90', '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'baseline',
    '-pix_fmt', 'yuv420p', '-g', '60', '-keyint_min', '60', '-sc_threshold', '0',
    '-b:v', '2500k', '-maxrate', '2500k', '-bufsize', '5000k',
    '-c:a', 'aac', '-b:a', '128k', '-ac', '2', '-f', 'flv', clip + '.tmp']);
  execFileSync('mv', [clip + '.tmp', clip]);
}

async function startRtmp(srv, name) {
  const t0 = Date.now();
  const pub = lib.publish(srv.rtmpUrl(name), clip, { loop: true });
  return { t0, tFeed: t0, stop: () => pub.stop() };
}

async function startWhip(srv, name) {
  const t0 = Date.now();
  const h = await whipFeed(srv.base, name, {
    input: ['-re', '-stream_loop', '-1', '-i', clip],
    vmap: '0:v', amap: '0:a',
    video: ['-c:v', 'copy', '-bsf:v', 'h264_mp4toannexb'],
    audio: ['-c:a', 'libopus', '-ac', '2', '-b:a', '64k'],
  });
  if (h.status !== 201) throw new Error(`WHIP POST: HTTP ${h.status} ${h.answer}`);
  return { t0, tFeed: Date.now(), stop: () => h.stop(), err: () => h.ffErr };
}

// Blocking reloads of the media playlist for `seconds`: now - (newest PDT + parts after it).
async function edgeLag(media, seconds) {
  const lags = [];
  const end = Date.now() + seconds * 1000;
  let next = null;
  while (Date.now() < end) {
    const url = next ? `${media}?_HLS_msn=${next.msn}&_HLS_part=${next.k}` : media;
    const { status, text } = await lib.fetchText(url);
    const now = Date.now();
    if (status !== 200) throw new Error(`${url}: HTTP ${status}`);
    const lines = text.split('\n');
    const idx = lines.map((l, j) => (l.startsWith('#EXT-X-PROGRAM-DATE-TIME:') ? j : -1)).filter((j) => j >= 0).pop();
    const start = Date.parse(lines[idx].split(':').slice(1).join(':'));
    let dur = 0;
    let extinf = 0;
    for (const l of lines.slice(idx + 1)) {
      const m = l.match(/^#EXT-X-PART:DURATION=([\d.]+)/);
      if (m) dur += Number(m[1]);
      const e = l.match(/^#EXTINF:([\d.]+)/);
      if (e) extinf = Number(e[1]);
    }
    if (dur === 0) dur = extinf;
    lags.push(now - (start + dur * 1000));
    const parts = listParts(text);
    const last = parts[parts.length - 1];
    next = { msn: last.msn, k: last.k + 1 };
  }
  return lags.sort((a, b) => a - b);
}

async function player(src) {
  const { openPlayerPage, startPlayback, playerStats } = await import('../tests/e2e/lib/player.mjs');
  const page = await openPlayerPage();
  try {
    await startPlayback(page.tab, src, 'hls.js');
    const lat = [];
    const wall = [];
    for (let s = 0; s < SETTLE + PLAYER; s++) {
      await lib.sleep(1000);
      if (s < SETTLE) continue;
      const [a, b] = await page.tab.evaluate(() => [window.hls.latency, window.wallLatency()]);
      lat.push(a);
      if (Number.isFinite(b)) wall.push(b);
    }
    const target = await page.tab.evaluate(() => window.hls.targetLatency);
    const st = await playerStats(page.tab);
    lat.sort((a, b) => a - b);
    wall.sort((a, b) => a - b);
    return { target, med: q(lat, 0.5), p90: q(lat, 0.9), wall: wall.length ? q(wall, 0.5) : NaN, stalls: st.stalls, waiting: st.waiting };
  } finally {
    await page.close();
  }
}

const srv = await lib.startServer(['--open-publish', '--no-record', '--ladder', 'none', '--part', '0.5']);
const res = {};
let current = null; // the running publisher: stopped on an error too (its ffmpeg would outlive us)
try {
  for (const kind of ORDER) {
    const name = `lat${kind}`;
    const load0 = os.loadavg()[0];
    const logLen = srv.log().length;
    const pub = await (kind === 'whip' ? startWhip : startRtmp)(srv, name);
    current = pub;
    const index = `${srv.base}/hls/${name}/index.m3u8`;
    await lib.waitFor(async () => (await lib.fetchText(index, { timeout: 2000 })).status === 200, { interval: 10, timeout: 30000 })
      .catch((e) => { console.error(srv.log().slice(logLen).slice(-3000), pub.err ? pub.err() : ''); throw e; });
    const tReady = Date.now();
    const m = srv.log().slice(logLen).match(/first playlist ready ([\d.]+) s after the publish/);
    const r = { first: tReady - pub.t0, firstFeed: tReady - pub.tFeed, server: m ? Number(m[1]) * 1000 : NaN };
    const lags = await edgeLag(`${srv.base}/hls/${name}/source/media.m3u8`, LAG);
    Object.assign(r, { n: lags.length, lagMed: q(lags, 0.5), lagP90: q(lags, 0.9), lagMax: lags[lags.length - 1] });
    if (PLAYER > 0) r.player = await player(index);
    r.load = `${load0.toFixed(1)}-${os.loadavg()[0].toFixed(1)}`;
    current = null;
    await pub.stop();
    res[kind] = r;
    console.log(kind, JSON.stringify(r));
    await lib.waitFor(async () => (await lib.fetchText(index)).status === 404, { interval: 200, timeout: 30000 }).catch(() => {});
  }
} finally {
  if (current) await current.stop();
  await srv.stop();
}

const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const ratio = (k) => (res.rtmp && res.whip ? f(k(res.whip) / k(res.rtmp), 2) : '-');
const rows = [
  ['publish start to first playlist (ms)', (r) => r.first],
  ['  from the feeding ffmpeg\'s spawn (ms)', (r) => r.firstFeed],
  ['  server\'s figure, from the hub start (ms)', (r) => r.server],
  ['live-edge lag median (ms)', (r) => r.lagMed],
  ['live-edge lag p90 (ms)', (r) => r.lagP90],
  ['live-edge lag max (ms)', (r) => r.lagMax],
];
if (PLAYER > 0) {
  rows.push(['hls.js latency median (s)', (r) => r.player.med, 2], ['hls.js latency p90 (s)', (r) => r.player.p90, 2],
    ['hls.js target (s)', (r) => r.player.target, 2], ['hls.js wall latency median (s)', (r) => r.player.wall, 2],
    ['hls.js stalls', (r) => r.player.stalls], ['hls.js waiting', (r) => r.player.waiting]);
}
console.log(`\n| what | RTMP | WHIP | WHIP/RTMP |\n|---|---|---|---|`);
for (const [label, k, d] of rows) {
  console.log(`| ${label} | ${res.rtmp ? f(k(res.rtmp), d) : '-'} | ${res.whip ? f(k(res.whip), d) : '-'} | ${ratio(k)} |`);
}
console.log(`| load average (1 min) during | ${res.rtmp?.load ?? '-'} | ${res.whip?.load ?? '-'} | |`);
process.exit(0);
