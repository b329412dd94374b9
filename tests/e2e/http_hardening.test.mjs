// The smaller findings of issue 11, item 9, over raw sockets where a real client would not send
// such bytes. Before: 463+ query arguments got no answer (a 30 s hang); a request with both
// Transfer-Encoding and Content-Length, or two different Content-Lengths, was accepted and the
// rest of the bytes parsed as a second request; %00 truncated a path (media.m3u8%00.txt served
// the playlist); an admin could create a real user named _open (the owner of the --open-publish
// recordings). Also: the process' resident memory in /metrics.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startServer, testClip, publish, fetchText, waitFor, metric, binary, workDir } from './lib/server.mjs';

const data = mkdtempSync(path.join(workDir, 'http-'));
const cli = (args, input) => spawnSync(binary, [...args, '--data', data],
  { input, encoding: 'utf8' });
assert.equal(cli(['user', 'add', 'admin', '--admin', '--password-stdin'], 'admin-pass-1\n').status, 0);
const srv = await startServer(['--data', data, '--open-publish']);
after(() => srv.stop());

// Sends raw bytes; resolves with everything the server sent until it closed the connection (or
// ms passed: then timedOut is set), and how long that took.
function raw(bytes, ms = 5000) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = net.connect(srv.http, '127.0.0.1');
    let out = '';
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; s.destroy(); }, ms);
    s.on('data', (d) => { out += d.toString('latin1'); });
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(timer); resolve({ out, timedOut, ms: Date.now() - t0 }); });
    s.write(bytes);
  });
}

const responses = (out) => out.match(/^HTTP\/1\.1 \d+/gm) || [];

test('a live stream to fetch from', { timeout: 30000 }, async () => {
  const pub = publish(srv.rtmpUrl('cam'), testClip({ seconds: 20, size: '640x360' }), { loop: true });
  after(() => pub.stop());
  await waitFor(async () => (await fetchText(`${srv.base}/hls/cam/source/media.m3u8`)).status === 200,
    { timeout: 20000, what: 'the playlist' });
});

test('too many query arguments are answered 414 at once, and the connection closed', async (t) => {
  for (const n of [465, 2000]) {
    const q = Array.from({ length: n }, (_, i) => `a${i}=1`).join('&');
    const r = await raw(`GET /hls/cam/source/media.m3u8?${q} HTTP/1.1\r\nHost: x\r\n\r\n`);
    t.diagnostic(`${n} arguments: ${JSON.stringify(r.out.split('\r\n')[0])} in ${r.ms} ms`);
    assert.match(r.out, /^HTTP\/1\.1 414 /);
    assert.ok(!r.timedOut, 'the server closed the connection');
    assert.ok(r.ms < 2000, `answered in ${r.ms} ms`);
  }
  // As many as a route could use still work.
  const q = Array.from({ length: 20 }, (_, i) => `a${i}=1`).join('&');
  assert.equal((await fetchText(`${srv.base}/hls/cam/source/media.m3u8?${q}`)).status, 200);
});

test('Transfer-Encoding with Content-Length, or two Content-Lengths that differ: 400 and close', async (t) => {
  const smuggled = 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n';
  const cases = {
    'TE + CL': 'POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n' +
      `Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    'CL + TE': 'POST /api/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n' +
      `Content-Length: 5\r\n\r\n0\r\n\r\n${smuggled}`,
    'two CLs': 'POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n' +
      `Content-Length: 40\r\n\r\n{}${smuggled}`,
    'TE + CL on /hls': 'GET /hls/cam/index.m3u8 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n' +
      `Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
  };
  for (const [name, bytes] of Object.entries(cases)) {
    const r = await raw(bytes);
    t.diagnostic(`${name}: ${JSON.stringify(responses(r.out))}`);
    assert.match(r.out, /^HTTP\/1\.1 400 /, name);
    assert.match(r.out, /connection: close/i, name);
    assert.deepEqual(responses(r.out), ['HTTP/1.1 400'], `${name}: the smuggled request is not answered`);
    assert.ok(!r.timedOut, `${name}: the connection is closed`);
  }
  // Two identical Content-Lengths and ordinary keep-alive requests are fine.
  const body = JSON.stringify({ username: 'admin', password: 'wrong-pass-1' });
  const ok = await raw(`POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${body.length}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
  assert.match(ok.out, /^HTTP\/1\.1 401 /);
  const two = await raw(`GET /health HTTP/1.1\r\nHost: x\r\n\r\n${smuggled.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')}`);
  assert.deepEqual(responses(two.out), ['HTTP/1.1 200', 'HTTP/1.1 200'], 'pipelining still works');
});

test('%00 in the request target is refused, not truncated', async () => {
  for (const target of ['/hls/cam/source/media.m3u8%00.txt', '/hls/cam/index.m3u8%00', '/health%00x',
    '/api/recordings?user=a%00b']) {
    const r = await raw(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.match(r.out, /^HTTP\/1\.1 400 /, target);
    assert.match(r.out, /escaped NUL/, target);
    assert.doesNotMatch(r.out, /#EXTM3U/, `${target}: no playlist`);
  }
  assert.ok(await metric(srv, 'kibitka_http_refused_total') >= 4);
  // An ordinary escape still decodes.
  assert.equal((await fetchText(`${srv.base}/hls/cam/source/media%2Em3u8`)).status, 200);
});

test('user names starting with _ are reserved, in the API and the CLI', async () => {
  const login = await fetch(`${srv.base}/api/auth/login`, { method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: 'admin-pass-1' }) });
  const { token } = await login.json();
  for (const name of ['_open', '_x']) {
    const r = await fetch(`${srv.base}/api/users`, { method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ name, password: 'a-long-pass-1' }) });
    assert.equal(r.status, 400, name);
    const err = (await r.json()).error;
    assert.equal(err.code, 'invalid_field');
    assert.match(err.message, /names starting with '_' are reserved \(the user _open owns the --open-publish recordings\)/);
    const c = cli(['user', 'add', name, '--password-stdin'], 'a-long-pass-1\n');
    assert.equal(c.status, 2, `CLI ${name}`);
    assert.match(c.stderr, new RegExp(`user ${name}: names starting with '_' are reserved`));
  }
  assert.doesNotMatch(cli(['user', 'list']).stdout, /^_/m);
});

test('/metrics shows the resident memory, close to what the kernel says', async () => {
  const rss = await metric(srv, 'process_resident_memory_bytes');
  const status = readFileSync(`/proc/${srv.proc.pid}/status`, 'utf8');
  const kernel = Number(status.match(/VmRSS:\s+(\d+) kB/)[1]) * 1024;
  assert.ok(rss > 4 << 20 && rss < 16 * 2 ** 30, `plausible: ${rss}`);
  assert.ok(Math.abs(rss - kernel) / kernel < 0.2, `${rss} against VmRSS ${kernel}`);
  const { text } = await fetchText(`${srv.base}/metrics`);
  assert.match(text, /# TYPE process_resident_memory_bytes gauge\n/);
});
