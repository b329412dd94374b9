// hls.js switching between the ladder's renditions: a 720p publish with a 480p and a 360p rung,
// the player told to move to another rendition every few seconds (at the next fragment, as its
// ABR controller does), must switch through all of them, without a stall or a waiting event.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, testClip, publish, fetchText, waitFor } from './lib/server.mjs';
import { openPlayerPage, startPlayback } from './lib/player.mjs';

const srv = await startServer(['--open-publish', '--ladder', 'source,480p:1000k,360p:600k']);
const pub = publish(srv.rtmpUrl('abr'), testClip({ seconds: 24 }), { loop: true });
let player;
after(async () => {
  if (player) await player.close();
  await pub.stop();
  await srv.stop();
});

let result; // what the switching run saw, for the test after it

test('hls.js switches through every rendition', async () => {
  const src = `${srv.base}/hls/abr/index.m3u8`;
  // Every rung listed: one still starting two target durations after the first is left out of
  // the first answers (a busy machine), and hls.js reads the multivariant playlist once.
  await waitFor(async () => ((await fetchText(src)).text.match(/#EXT-X-STREAM-INF/g) || []).length === 3,
    { timeout: 20000, what: 'playlist with three variants' });
  player = await openPlayerPage();
  const { tab } = player;
  await startPlayback(tab, src);
  const levels = await tab.evaluate(() => window.hls.levels.map((l) => l.height));
  assert.deepEqual([...levels].sort((a, b) => a - b), [360, 480, 720]);
  const start = await tab.evaluate(() => document.getElementById('v').currentTime);
  const t0 = Date.now();
  // 360p -> 720p -> 480p -> 360p: every rendition reached from another one.
  for (const h of [360, 720, 480, 360]) {
    await tab.evaluate((want) => {
      window.hls.nextLevel = window.hls.levels.findIndex((l) => l.height === want);
    }, h);
    await tab.waitForFunction((want) => {
      const s = window.stats.switches;
      return s.length && window.hls.levels[s[s.length - 1]].height === want;
    }, h, { timeout: 15000 });
    await new Promise((r) => setTimeout(r, 2500));
  }
  const s = await tab.evaluate(() => ({
    ...window.stats,
    time: document.getElementById('v').currentTime,
    heights: window.stats.switches.map((i) => window.hls.levels[i].height),
  }));
  const wall = (Date.now() - t0) / 1000;
  console.log(`# switched through ${s.heights.join(' -> ')} in ${wall.toFixed(1)} s; played ${(s.time - start).toFixed(1)} s; errors: ${s.errors.join(', ') || 'none'}`);
  for (const h of [360, 480, 720]) assert.ok(s.heights.includes(h), `played ${h}p`);
  assert.ok(!s.errors.some((e) => e.includes('fatal')), s.errors.join(', '));
  result = { s, start, wall };
});

// On a loaded 2-core box hls.js once stalled while switching (a CI run: 17.0 s played in 20.1 s),
// then reported as TODO. Two server-side causes were found since (issue 10): a rung that fell
// behind made a part as long as its hole (the worker now reports the gap), and the shared
// audio's last part of each segment was 1-2 AAC frames, which hls.js did not load (the parts
// now split the segment evenly).
test('hls.js switches without a stall or a waiting event', () => {
  assert.ok(result, 'the switching run completed');
  const { s, start, wall } = result;
  assert.equal(s.stalls, 0, `stalls: ${s.errors.join(', ')}`);
  assert.equal(s.waiting, 0, 'no waiting event while switching');
  assert.ok(s.time - start > wall - 1.5, `played ${s.time - start} s in ${wall} s`);
});
