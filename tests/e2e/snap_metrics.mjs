// Not a test: saves /metrics of a server with a live publish, a recording and a login, to compare
// the exposition before and after a change. Usage: node snap_metrics.mjs OUT (KIBITKA_BIN, KIBITKA_E2E_DIR).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { binary, workDir, startServer, testClip, publish, waitFor, fetchText, metric } from './lib/server.mjs';

const dir = mkdtempSync(path.join(workDir, 'snap-'));
execFileSync(binary, ['user', 'add', 'admin', '--admin', '--password-stdin', '--data', dir],
  { input: 'admin-pass-123\n', stdio: ['pipe', 'pipe', 'pipe'] });
const srv = await startServer(['--data', dir, '--record-chunk', '2']);
const call = async (method, p, { token, body } = {}) => {
  const h = {};
  if (token) h.authorization = `Bearer ${token}`;
  if (body) h['content-type'] = 'application/json';
  const r = await fetch(srv.base + p, { method, headers: h, body: body ? JSON.stringify(body) : undefined });
  return r.json();
};
const tok = (await call('POST', '/api/auth/login', { body: { username: 'admin', password: 'admin-pass-123' } })).token;
await call('POST', '/api/auth/login', { body: { username: 'admin', password: 'wrong-password' } });
const key = (await call('POST', '/api/streams', { token: tok, body: { name: 'cam', record: true } })).key;
const pub = publish(srv.rtmpUrl(key), testClip());
await waitFor(async () => (await metric(srv, 'kibitka_upload_chunks_total')) >= 1, { timeout: 30000 });
await fetchText(`${srv.base}/hls/cam/index.m3u8`);
const { text } = await fetchText(`${srv.base}/metrics`);
writeFileSync(process.argv[2], text);
await pub.stop();
await srv.stop();
