// A real player: hls.js in headless Chromium, on a page served from another origin, plays the
// live stream for 20 s without a stall and reports hls.js' measured latency.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { startServer, testClip, publish, fetchText, waitFor, freePort } from './lib/server.mjs';

const require = createRequire(import.meta.url);
const hlsJs = readFileSync(require.resolve('hls.js/dist/hls.min.js'));
const PLAY_SECONDS = 20;

const srv = await startServer(['--open-publish']);
const pub = publish(srv.rtmpUrl('player'), testClip({ seconds: 24 }), { loop: true });
const pagePort = await freePort();
const page = http.createServer((req, res) => {
  if (req.url === '/hls.min.js') {
    res.writeHead(200, { 'Content-Type': 'text/javascript' });
    return res.end(hlsJs);
  }
  res.writeHead(200, { 'Content-Type': 'text/html' });
  res.end(`<!doctype html><video id=v muted playsinline></video><script src="/hls.min.js"></script>`);
}).listen(pagePort, '127.0.0.1');
let browser;
after(async () => {
  if (browser) await browser.close();
  page.close();
  await pub.stop();
  await srv.stop();
});

test('hls.js plays the live stream from another origin without stalling', async () => {
  const src = `${srv.base}/hls/player/index.m3u8`;
  await waitFor(async () => (await fetchText(src)).status === 200, { timeout: 20000, what: 'playlist' });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'],
  });
  const tab = await browser.newPage();
  await tab.goto(`http://127.0.0.1:${pagePort}/`);
  const supported = await tab.evaluate(() => window.MediaSource &&
    MediaSource.isTypeSupported('video/mp4; codecs="avc1.640020,mp4a.40.2"'));
  assert.ok(supported, 'this Chromium plays H.264/AAC in MSE');
  await tab.evaluate((url) => {
    const v = document.getElementById('v');
    window.stats = { stalls: 0, errors: [], playing: false, waiting: 0 };
    const hls = new Hls({ lowLatencyMode: true });
    window.hls = hls;
    hls.on(Hls.Events.ERROR, (_, d) => {
      if (d.details === 'bufferStalledError') window.stats.stalls++;
      window.stats.errors.push(`${d.type}/${d.details}${d.fatal ? ' (fatal)' : ''}`);
    });
    v.addEventListener('playing', () => { window.stats.playing = true; });
    v.addEventListener('waiting', () => { if (window.stats.playing) window.stats.waiting++; });
    hls.loadSource(url);
    hls.attachMedia(v);
    v.play().catch(() => {});
  }, src);
  await tab.waitForFunction(() => window.stats.playing && document.getElementById('v').currentTime > 0.5,
    null, { timeout: 20000 });
  const start = await tab.evaluate(() => document.getElementById('v').currentTime);
  await new Promise((r) => setTimeout(r, PLAY_SECONDS * 1000));
  const s = await tab.evaluate(() => ({
    ...window.stats,
    time: document.getElementById('v').currentTime,
    latency: window.hls.latency,
    lowLatency: window.hls.lowLatencyMode,
  }));
  console.log(`# hls.js latency after ${PLAY_SECONDS} s: ${s.latency.toFixed(2)} s; played ${(s.time - start).toFixed(1)} s; errors: ${s.errors.join(', ') || 'none'}`);
  assert.equal(s.stalls, 0, `stalls: ${s.errors.join(', ')}`);
  assert.equal(s.waiting, 0, 'no waiting events after playback started');
  assert.ok(s.time - start > PLAY_SECONDS - 1.5, `played ${s.time - start} s of ${PLAY_SECONDS}`);
  assert.ok(!s.errors.some((e) => e.includes('fatal')), s.errors.join(', '));
  assert.ok(s.latency > 0 && s.latency < 5, `latency ${s.latency}`);
});
