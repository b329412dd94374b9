// hls.js in headless Chromium, on a page served from its own origin (so every /hls request is
// cross-origin, as on a real site).
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { freePort } from './server.mjs';

const require = createRequire(import.meta.url);
const hlsJs = readFileSync(require.resolve('hls.js/dist/hls.min.js'));

// Starts the page server and the browser; returns { tab, close() } with the page loaded.
export async function openPlayerPage() {
  const port = await freePort();
  const page = http.createServer((req, res) => {
    if (req.url === '/hls.min.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' });
      return res.end(hlsJs);
    }
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(`<!doctype html><video id=v muted playsinline></video><script src="/hls.min.js"></script>`);
  }).listen(port, '127.0.0.1');
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'],
  });
  const tab = await browser.newPage();
  await tab.goto(`http://127.0.0.1:${port}/`);
  return {
    tab,
    async close() {
      await browser.close();
      page.close();
    },
  };
}

// Starts hls.js on url in the page; window.stats counts stalls, errors, waiting events (after
// playback started) and level switches.
export async function startPlayback(tab, url) {
  await tab.evaluate((src) => {
    const v = document.getElementById('v');
    window.stats = { stalls: 0, errors: [], playing: false, waiting: 0, switches: [] };
    const hls = new Hls({ lowLatencyMode: true });
    window.hls = hls;
    hls.on(Hls.Events.ERROR, (_, d) => {
      if (d.details === 'bufferStalledError') window.stats.stalls++;
      window.stats.errors.push(`${d.type}/${d.details}${d.fatal ? ' (fatal)' : ''}`);
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_, d) => { window.stats.switches.push(d.level); });
    v.addEventListener('playing', () => { window.stats.playing = true; });
    v.addEventListener('waiting', () => { if (window.stats.playing) window.stats.waiting++; });
    hls.loadSource(src);
    hls.attachMedia(v);
    v.play().catch(() => {});
  }, url);
  await tab.waitForFunction(() => window.stats.playing && document.getElementById('v').currentTime > 0.5,
    null, { timeout: 20000 });
}
