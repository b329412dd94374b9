// hls.js (low-latency mode) against kibitka for each part length: time from publish to the first
// playlist, hls.js' own latency (median and p90 over the run, sampled every second after a
// settling period), stalls and waiting events, and HTTP requests per second per viewer.
//   node bench/player_latency.mjs [seconds] [part ...]   (build/kibitka unless KIBITKA_BIN is set)
// Each setting: a fresh server (--ladder none, or LADDER=default for the server's default ladder:
// 720p source, 480p and 360p rungs, each with the audio), a real-time publish of the 720p test
// clip with a 2 s GOP, one hls.js page in headless Chromium. RATE=r sets hls.js'
// maxLiveSyncPlaybackRate (default 1: it never speeds up to reach its target latency; the watch
// page sets 1.1).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
process.env.KIBITKA_BIN ||= path.join(here, '..', 'build', 'kibitka');
const lib = await import('../tests/e2e/lib/server.mjs');
const { openPlayerPage, startPlayback, playerStats } = await import('../tests/e2e/lib/player.mjs');

const [secArg, ...partArgs] = process.argv.slice(2);
const SECONDS = Number(secArg) || 40;
const SETTLE = 10; // hls.js joins, then converges on its target latency
const parts = partArgs.length ? partArgs : ['0.5', '0.333', '0.25', '0.2'];
// GOP=frames: the publish's keyframe interval (default 60, 2 s at 30 fps).
const gop = Number(process.env.GOP) || 60;
const hlsConfig = process.env.RATE ? { maxLiveSyncPlaybackRate: Number(process.env.RATE) } : {};
const clip = lib.testClip({ seconds: 24, gop });
const q = (xs, p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];

const rows = [];
for (const part of parts) {
  const srv = await lib.startServer(['--open-publish', '--no-record', '--part', part,
    ...(process.env.LADDER === 'default' ? ['--ladder', lib.DEFAULT_LADDER] : [])]);
  const t0 = Date.now();
  const pub = lib.publish(srv.rtmpUrl('lat'), clip, { loop: true });
  const src = `${srv.base}/hls/lat/index.m3u8`;
  await lib.waitFor(async () => (await lib.fetchText(src)).status === 200, { interval: 10, timeout: 20000 });
  const first = Date.now() - t0;
  const page = await openPlayerPage();
  let requests = 0;
  page.tab.on('request', (r) => { if (r.url().includes('/hls/')) requests++; });
  await startPlayback(page.tab, src, 'hls.js', { config: hlsConfig });
  const lat = [];
  let r0 = 0;
  let tr = 0;
  for (let s = 0; s < SECONDS; s++) {
    await lib.sleep(1000);
    if (s === SETTLE) { r0 = requests; tr = Date.now(); }
    if (s >= SETTLE) lat.push(await page.tab.evaluate(() => window.hls.latency));
  }
  const target = await page.tab.evaluate(() => window.hls.targetLatency);
  // The rendition hls.js plays at the end, and how often it switched (with LADDER=default).
  const level = await page.tab.evaluate(() => `${window.hls.levels[window.hls.currentLevel]?.height}p, ${window.stats.switches.length} switches`);
  // The server's own figure: from the RTMP publish (the hub's claim) to the first playlist.
  const ready = Math.round(Number((srv.log().match(/first playlist ready ([\d.]+) s after the publish/) || [])[1]) * 1000);
  const rate = (requests - r0) / ((Date.now() - tr) / 1000);
  const st = await playerStats(page.tab);
  await page.close();
  await pub.stop();
  await srv.stop();
  lat.sort((a, b) => a - b);
  rows.push({ part, first, ready, target, med: q(lat, 0.5), p90: q(lat, 0.9), stalls: st.stalls, waiting: st.waiting, rate, level });
  console.log(`part ${part} s: first playlist ${first} ms after spawning ffmpeg, ${ready} ms after the publish, hls.js target latency ${target} s, latency median ${q(lat, 0.5).toFixed(2)} s, p90 ${q(lat, 0.9).toFixed(2)} s, stalls ${st.stalls}, waiting ${st.waiting}, ${rate.toFixed(1)} requests/s per viewer, playing ${level}`);
}
console.log(`\nhls.js maxLiveSyncPlaybackRate ${process.env.RATE || '1 (its default)'}, ladder ${process.env.LADDER === 'default' ? 'default' : 'none'}`);
console.log('\n| part (s) | first playlist after publish / ffmpeg spawn (ms) | hls.js target (s) | latency median (s) | p90 (s) | stalls | waiting | requests/s per viewer | rendition at the end |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.part} | ${r.ready} / ${r.first} | ${r.target} | ${r.med.toFixed(2)} | ${r.p90.toFixed(2)} | ${r.stalls} | ${r.waiting} | ${r.rate.toFixed(1)} | ${r.level} |`);
}
