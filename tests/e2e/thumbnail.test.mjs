// Thumbnails (issue 15): GET /api/streams/{name}/thumbnail.jpg while ffmpeg publishes: a JPEG
// that ffprobe decodes, at most 320 px wide, cached for 10 s (the same ETag and bytes), a new
// one after that, 404 for a stream that is not live and after the stream ended; the thumbnail
// counters in /metrics; and `/` showing it as an <img> that loads, with alt text naming the
// stream, whose URL changes every 10 s. Streams have no private flag (every live stream is in
// the public /api/live and its HLS is public), so neither has the thumbnail: there is no
// token case to test.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fetchBytes, metric, publish, startServer, testClip, waitFor, workDir } from './lib/server.mjs';
import { launchChromium } from './lib/pages.mjs';

const srv = await startServer(['--open-publish']);
const clip = testClip({ seconds: 12, size: '640x360', rate: 30, gop: 30 });
let pub = publish(srv.rtmpUrl('cam'), clip, { loop: true });
const tmp = mkdtempSync(path.join(workDir, 'thumb-'));
let browser;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  if (browser) await browser.close();
  await pub.stop();
  await srv.stop();
});

const url = (name) => `${srv.base}/api/streams/${name}/thumbnail.jpg`;

function probe(buf) {
  const file = path.join(tmp, `t-${Date.now()}.jpg`);
  writeFileSync(file, buf);
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries',
    'stream=codec_name,width,height', '-of', 'json', file]);
  return JSON.parse(out).streams[0];
}

test('the thumbnail is a JPEG of at most 320 px, cached for 10 s, then made anew', async () => {
  const first = await waitFor(async () => {
    const r = await fetchBytes(url('cam'), { timeout: 20000 });
    return r.status === 200 ? r : null;
  }, { timeout: 30000, interval: 250, what: 'a thumbnail of cam' });
  const t0 = Date.now();
  assert.equal(first.headers.get('content-type'), 'image/jpeg');
  assert.match(first.headers.get('cache-control'), /max-age=10\b/);
  assert.ok(first.headers.get('etag'));
  const s = probe(first.body);
  assert.equal(s.codec_name, 'mjpeg');
  assert.equal(s.width, 320);
  assert.equal(s.height, 180);

  const second = await fetchBytes(url('cam'));
  assert.equal(second.status, 200);
  if (Date.now() - t0 < 9000) { // the cache's 10 s, less a second of slack for a loaded box
    assert.equal(second.headers.get('etag'), first.headers.get('etag'));
    assert.ok(second.body.equals(first.body), 'the same bytes within 10 s');
  }
  assert.ok((await metric(srv, 'kibitka_thumbnails_made_total')) >= 1);
  assert.equal(await metric(srv, 'kibitka_thumbnail_failures_total'), 0);
  assert.ok((await metric(srv, 'kibitka_thumbnail_last_make_microseconds')) > 0);

  // After 10 s there have been new keyframes (testsrc2 moves): a new picture.
  const third = await waitFor(async () => {
    const r = await fetchBytes(url('cam'), { timeout: 20000 });
    return r.status === 200 && r.headers.get('etag') !== first.headers.get('etag') ? r : null;
  }, { timeout: 40000, interval: 1000, what: 'a new thumbnail after 10 s' });
  assert.ok(Date.now() - t0 >= 9000, 'not before its 10 s');
  assert.equal(probe(third.body).width, 320);
});

test('404 for a stream that is not live, and for a bad name', async () => {
  for (const name of ['nobody', 'BAD', '..%2F..%2Fetc', 'a'.repeat(65)]) {
    const r = await fetchBytes(url(name));
    assert.equal(r.status, 404, name);
    assert.match(r.headers.get('content-type'), /application\/json/);
  }
});

test('/ shows the live stream\'s thumbnail, which loads and is refreshed every 10 s', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const tab = await ctx.newPage();
  const problems = [];
  tab.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) problems.push(m.text()); });
  tab.on('pageerror', (e) => problems.push(e.message));
  await tab.goto(srv.base + '/');
  const img = tab.locator('[data-stream="cam"] img.thumb');
  await img.waitFor({ timeout: 20000 });
  assert.equal(await img.getAttribute('alt'), 'Latest picture of cam');
  const loaded = async () => img.evaluate((e) => (e.complete && e.naturalWidth > 0 ? e.src : null));
  const src1 = await waitFor(loaded, { timeout: 20000, what: 'the thumbnail loaded' });
  assert.match(src1, /\/api\/streams\/cam\/thumbnail\.jpg\?t=\d+$/);
  assert.equal(await img.evaluate((e) => e.naturalWidth), 320);
  const src2 = await waitFor(async () => {
    const s = await loaded();
    return s && s !== src1 ? s : null;
  }, { timeout: 30000, interval: 500, what: 'a refreshed thumbnail URL' });
  assert.notEqual(src2, src1);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('after the stream ends, 404; the server stops cleanly', async () => {
  await pub.stop();
  await waitFor(async () => (await fetchBytes(url('cam'))).status === 404,
    { timeout: 20000, interval: 250, what: '404 after the end' });
  const { code } = await srv.stop(); // ASan/LSan: nothing leaked (a keyframe, a JPEG)
  assert.equal(code, 0, srv.log().slice(-3000));
});
