// A real player: hls.js in headless Chromium, on a page served from another origin, plays the
// live stream for 20 s without a stall and reports hls.js' measured latency.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, testClip, publish, fetchText, waitFor } from './lib/server.mjs';
import { openPlayerPage, startPlayback } from './lib/player.mjs';

const PLAY_SECONDS = 20;

const srv = await startServer(['--open-publish']);
const pub = publish(srv.rtmpUrl('player'), testClip({ seconds: 24 }), { loop: true });
let player;
after(async () => {
  if (player) await player.close();
  await pub.stop();
  await srv.stop();
});

test('hls.js plays the live stream from another origin without stalling', async () => {
  const src = `${srv.base}/hls/player/index.m3u8`;
  await waitFor(async () => (await fetchText(src)).status === 200, { timeout: 20000, what: 'playlist' });
  player = await openPlayerPage();
  const { tab } = player;
  const supported = await tab.evaluate(() => window.MediaSource &&
    MediaSource.isTypeSupported('video/mp4; codecs="avc1.640020,mp4a.40.2"'));
  assert.ok(supported, 'this Chromium plays H.264/AAC in MSE');
  await startPlayback(tab, src);
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
