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
    assert.ok(!srv.log().includes(key), 'the key never reaches the log');
  } finally {
    await pub.stop();
  }
});
