// Publishing with stream keys (no --open-publish): keys made by `kibitka stream add`, a valid
// key publishes under the stream's name, a wrong key is refused with an RTMP error.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { startServer, testClip, publish, fetchText, waitFor, metric, binary, workDir } from './lib/server.mjs';

const clip = testClip({ seconds: 24 });
const data = mkdtempSync(path.join(workDir, 'keys-'));
const cli = (args, input) => execFileSync(binary, [...args, '--data', data],
  { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });

cli(['user', 'add', 'alice', '--password-stdin'], 'correct horse battery\n');
const key = cli(['stream', 'add', '--user', 'alice', '--name', 'alicecam']).trim();
const srv = await startServer(['--data', data]);
after(() => srv.stop());

test('the CLI prints a fresh stream key', () => {
  assert.match(key, /^sk_[A-Za-z0-9_-]{43}$/);
  assert.match(cli(['user', 'list']), /^alice\tuser$/m);
  assert.throws(() => cli(['stream', 'add', '--user', 'alice', '--name', 'alicecam']), /already exists/);
  assert.throws(() => cli(['stream', 'add', '--user', 'nobody', '--name', 'x']), /no user 'nobody'/);
  assert.throws(() => cli(['user', 'add', 'bob', '--password-stdin'], 'short\n'), /at least 8/);
});

test('a wrong key is refused and publishes nothing', async () => {
  const res = await publish(srv.rtmpUrl('sk_' + 'A'.repeat(43)), clip).exited;
  assert.notEqual(res.code, 0);
  assert.match(srv.log(), /invalid stream key \(key not shown\)/);
  assert.doesNotMatch(srv.log(), /AAAAAAAAAA/, 'keys never reach the log');
  assert.equal(await metric(srv, 'kibitka_live_streams'), 0);
});

test('a valid key publishes under the stream name', async () => {
  const pub = publish(srv.rtmpUrl(key), clip, { loop: true });
  try {
    await waitFor(async () => (await fetchText(`${srv.base}/hls/alicecam/index.m3u8`)).status === 200,
      { timeout: 20000, what: 'the stream published under its name' });
    assert.equal(await metric(srv, 'kibitka_live_streams'), 1);
    assert.equal((await fetchText(`${srv.base}/hls/${key}/index.m3u8`)).status, 404);
    // The API describes the live stream: codecs and size from the source.
    const login = await fetch(`${srv.base}/api/auth/login`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'correct horse battery' }),
    });
    const { token } = await login.json();
    const info = await (await fetch(`${srv.base}/api/streams/alicecam`,
      { headers: { Authorization: `Bearer ${token}` } })).json();
    assert.equal(info.live, true, JSON.stringify(info));
    assert.match(info.media.video.codec, /^h264 High/);
    assert.equal(info.media.video.width, 1280);
    assert.equal(info.media.video.height, 720);
    assert.match(info.media.audio.codec, /^aac/);
    assert.equal(info.media.audio.sample_rate, 48000);
    assert.ok(info.bitrate_bps > 100000, `bitrate ${info.bitrate_bps}`);
    assert.equal(info.viewers, 1, 'this test fetched the playlists from one address');
    assert.ok(!srv.log().includes(key), 'the key never reaches the log');
  } finally {
    await pub.stop();
  }
});

test('a rotated key stops working at once; the live publisher on the old key is not cut', async () => {
  const login = await fetch(`${srv.base}/api/auth/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'alice', password: 'correct horse battery' }),
  });
  assert.equal(login.status, 200);
  const { token } = await login.json();
  const media = `${srv.base}/hls/alicecam/source/media.m3u8`;
  const live = publish(srv.rtmpUrl(key), clip, { loop: true });
  try {
    await waitFor(async () => (await fetchText(media)).status === 200 &&
      !(await fetchText(media)).text.includes('#EXT-X-ENDLIST'), { timeout: 20000, what: 'live on the old key' });
    const rot = await fetch(`${srv.base}/api/streams/alicecam/key`, {
      method: 'POST', headers: { Authorization: `Bearer ${token}` },
    });
    assert.equal(rot.status, 200);
    const newKey = (await rot.json()).key;
    assert.match(newKey, /^sk_/);
    assert.notEqual(newKey, key);
    // The old key no longer opens the stream (a second publisher with it is refused as invalid,
    // not as "already live").
    const before = (srv.log().match(/invalid stream key/g) || []).length;
    const old = await publish(srv.rtmpUrl(key), clip).exited;
    assert.notEqual(old.code, 0);
    assert.equal((srv.log().match(/invalid stream key/g) || []).length, before + 1);
    // The publisher that went live with the old key goes on.
    const parts = (t) => (t.match(/#EXT-X-PART:/g) || []).length + 1000 * Number((t.match(/#EXT-X-MEDIA-SEQUENCE:(\d+)/) || [])[1]);
    const p0 = parts((await fetchText(media)).text);
    await waitFor(async () => parts((await fetchText(media)).text) !== p0, { timeout: 3000, what: 'new parts from the old-key publisher' });
    assert.equal(live.proc.exitCode, null, 'old-key publisher still connected');
    await live.stop();
    await waitFor(async () => (await metric(srv, 'kibitka_live_streams')) === 0, { what: 'the stream to end' });
    // The new key publishes.
    const next = publish(srv.rtmpUrl(newKey), clip, { loop: true });
    try {
      await waitFor(async () => (await metric(srv, 'kibitka_publishers')) === 1 &&
        (srv.log().match(/stream=alicecam publish started/g) || []).length >= 3,
      { timeout: 10000, what: 'a publish with the new key' });
    } finally {
      await next.stop();
    }
  } finally {
    if (live.proc.exitCode === null) await live.stop();
  }
});
