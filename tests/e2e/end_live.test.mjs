// Revoking access ends a live publish (issue 11 item 8): deleting the stream, deleting its owner,
// or rotating its key with ?end_live=true ends the publish at once, as a normal stop does (the
// publisher's connection closes, the playlist gets ENDLIST, /api/live drops it, stream.ended is
// sent and the recording is finished); rotating without end_live leaves it live.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { startServer, testClip, publish, fetchText, waitFor, binary, workDir } from './lib/server.mjs';

const clip = testClip({ seconds: 24 });
const data = mkdtempSync(path.join(workDir, 'endlive-'));
const cli = (args, input) => execFileSync(binary, [...args, '--data', data],
  { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
cli(['user', 'add', 'root', '--admin', '--password-stdin'], 'root-pass-1\n');
cli(['user', 'add', 'alice', '--password-stdin'], 'alice-pass-1\n');
cli(['user', 'add', 'bob', '--password-stdin'], 'bob-pass-12\n');
const keys = {};
for (const [user, name] of [['alice', 'deleted'], ['bob', 'bobcam'], ['alice', 'rotated'], ['alice', 'kept']])
  keys[name] = cli(['stream', 'add', '--user', user, '--name', name]).trim();

// The webhook receiver: every event's type and stream name.
const events = [];
const hooks = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    const j = JSON.parse(body);
    events.push({ type: j.type, name: j.data.name });
    res.end('ok');
  });
});
await new Promise((resolve) => hooks.listen(0, '127.0.0.1', resolve));
const srv = await startServer(['--data', data, '--record-chunk', '2', '--hls-linger', '30',
  '--webhook', `http://127.0.0.1:${hooks.address().port}/hook`]);
after(async () => {
  await srv.stop();
  hooks.closeAllConnections();
  hooks.close();
});

async function call(method, p, { token, body } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body) headers['Content-Type'] = 'application/json';
  const r = await fetch(srv.base + p, { method, headers, body: body && JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}
const admin = (await call('POST', '/api/auth/login', { body: { username: 'root', password: 'root-pass-1' } })).json.token;
const alice = (await call('POST', '/api/auth/login', { body: { username: 'alice', password: 'alice-pass-1' } })).json.token;
const media = (name) => `${srv.base}/hls/${name}/source/media.m3u8`;
const liveNames = async () => (await call('GET', '/api/live')).json.live.map((s) => s.name);

// Publishes with the stream's key until the playlist is up; returns the ffmpeg handle.
async function goLive(name) {
  const pub = publish(srv.rtmpUrl(keys[name]), clip, { loop: true });
  await waitFor(async () => (await fetchText(media(name))).status === 200,
    { timeout: 30000, what: `${name} live` });
  assert.ok((await liveNames()).includes(name));
  return pub;
}

// What a normal stop leaves behind, within a few seconds of the API call.
async function assertEnded(name, pub) {
  const t0 = Date.now();
  const res = await Promise.race([pub.exited, new Promise((r) => setTimeout(() => r(null), 10000))]);
  assert.ok(res, `ffmpeg still publishing ${name} 10 s after the call`);
  console.log(`# ${name}: ffmpeg exited ${Date.now() - t0} ms after the call`);
  await waitFor(async () => (await fetchText(media(name))).text.includes('#EXT-X-ENDLIST'),
    { timeout: 5000, what: `ENDLIST for ${name}` });
  assert.ok(!(await liveNames()).includes(name), '/api/live no longer lists it');
  await waitFor(() => events.some((e) => e.type === 'stream.ended' && e.name === name),
    { timeout: 10000, what: `stream.ended for ${name}` });
  const recs = (await call('GET', `/api/recordings?stream=${name}`, { token: admin })).json.recordings;
  assert.equal(recs.length, 1);
  await waitFor(async () => (await call('GET', `/api/recordings/${recs[0].id}`, { token: admin })).json.state !== 'recording',
    { timeout: 10000, what: `the recording of ${name} to end` });
  assert.match(srv.log(), new RegExp(`ending the publish from .*: .*`));
}

test('deleting a live stream ends its publish', async () => {
  const pub = await goLive('deleted');
  assert.equal((await call('DELETE', '/api/streams/deleted', { token: alice })).status, 204);
  await assertEnded('deleted', pub);
  assert.match(srv.log(), /the stream was deleted/);
});

test('deleting a user ends their live publish', async () => {
  const pub = await goLive('bobcam');
  assert.equal((await call('DELETE', '/api/users/bob', { token: admin })).status, 204);
  await assertEnded('bobcam', pub);
  assert.match(srv.log(), /its owner was deleted/);
});

test('rotating a key leaves the publish live unless end_live=true', async () => {
  const kept = await goLive('kept');
  let r = await call('POST', '/api/streams/kept/key', { token: alice });
  assert.equal(r.status, 200);
  r = await call('POST', '/api/streams/kept/key?end_live=false', { token: alice });
  assert.equal(r.status, 200);
  r = await call('POST', '/api/streams/kept/key?end_live=maybe', { token: alice });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'invalid_parameter');
  const rotated = await goLive('rotated');
  r = await call('POST', '/api/streams/rotated/key?end_live=true', { token: alice });
  assert.equal(r.status, 200);
  assert.match(r.json.key, /^sk_/);
  await assertEnded('rotated', rotated);
  // The publisher on the old key of "kept" was never touched.
  assert.equal(kept.proc.exitCode, null, 'ffmpeg still publishing kept');
  assert.ok((await liveNames()).includes('kept'));
  assert.ok(!(await fetchText(media('kept'))).text.includes('#EXT-X-ENDLIST'));
  assert.ok(!events.some((e) => e.type === 'stream.ended' && e.name === 'kept'));
  await kept.stop();
});

test('the server stops cleanly afterwards (no sanitizer report)', async () => {
  const { code, signal } = await srv.stop();
  assert.equal(signal, null, srv.log());
  assert.equal(code, 0, srv.log());
  assert.doesNotMatch(srv.log(), /Sanitizer|runtime error/);
});
