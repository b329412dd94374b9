// SIGTERM while a stream is live: the playlist gets ENDLIST, connections close, exit code 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, testClip, publish, fetchText, waitFor } from './lib/server.mjs';
import { getPlaylist, listParts } from './lib/hls.mjs';

test('SIGTERM ends every playlist with ENDLIST and exits 0', async () => {
  const srv = await startServer(['--open-publish', '--stop-grace', '3']);
  const pub = publish(srv.rtmpUrl('bye'), testClip({ seconds: 24 }), { loop: true });
  const media = `${srv.base}/hls/bye/source/media.m3u8`;
  await waitFor(async () => {
    const r = await fetchText(media);
    return r.status === 200 && listParts(r.text).length > 2;
  }, { timeout: 20000, what: 'a live playlist' });
  // A blocking reload waiting for a part that will never come is answered by the stop.
  const { text } = await getPlaylist(media);
  const last = listParts(text).pop();
  const blocked = fetchText(`${media}?_HLS_msn=${last.msn + 1}&_HLS_part=3`, { timeout: 8000 });
  srv.proc.kill('SIGTERM');
  const r = await blocked;
  assert.equal(r.status, 200);
  assert.match(r.text, /#EXT-X-ENDLIST/);
  const again = await fetchText(media);
  assert.match(again.text, /#EXT-X-ENDLIST/);
  const { code, signal } = await srv.exited;
  assert.equal(signal, null);
  assert.equal(code, 0, srv.log());
  assert.match(srv.log(), /stopping/);
  const res = await pub.exited;
  assert.ok(res.code !== null || res.signal !== null, 'the publisher was disconnected');
});

test('bad flags give a clear error and exit code 2', async () => {
  const { spawnSync } = await import('node:child_process');
  const { binary } = await import('./lib/server.mjs');
  const bad = spawnSync(binary, ['serve', '--part', 'fast'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--part 'fast' is not a number/);
  const unknown = spawnSync(binary, ['--no-such-flag'], { encoding: 'utf8' });
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown flag '--no-such-flag'/);
  const env = spawnSync(binary, ['serve'], { encoding: 'utf8', env: { ...process.env, KIBITKA_HTTP: 'nonsense' } });
  assert.equal(env.status, 2);
  assert.match(env.stderr, /KIBITKA_HTTP='nonsense' is not ADDR:PORT/);
  const help = spawnSync(binary, ['--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  for (const f of ['--http', '--rtmp', '--open-publish', '--part', '--cors-origin', '--ladder', '--no-record']) {
    assert.ok(help.stdout.includes(f), `--help lists ${f}`);
  }
  const ver = spawnSync(binary, ['version'], { encoding: 'utf8' });
  assert.equal(ver.status, 0);
  assert.match(ver.stdout, /^kibitka \d+\.\d+\.\d+/);
});
