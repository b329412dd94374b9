// The soak (issue 11): a sanitizer build of kibitka under everyday traffic for a given time, to
// find what only time finds: leaks, memory that is not given back, a media sequence that goes
// backwards, a recording chunk lost to an S3 outage. Not part of scripts/test (it runs for an
// hour by default); scripts/soak runs it.
//
//   node tests/soak/soak.mjs [--minutes 60] [--streams 3] [--bin build-test/kibitka]
//
// What it does, until the time is up:
//   - publishers come and go: up to --streams at once, each live for 20 to 120 s under a stream
//     key of its own user (RTMP, ffmpeg stream copy of a test clip, real time), recorded in
//     10 s chunks to S3 (s3rver behind tests/lib/s3proxy.mjs), ladder source + 360p;
//   - two viewers per live stream follow its playlist with blocking reloads (_HLS_msn/_HLS_part)
//     and fetch the parts they are told about;
//   - API calls: login, /api/live, /api/recordings (list and details), /api/me, every few seconds;
//   - an S3 outage of 30 s every 10 minutes;
//   - a quiet point every 15 minutes: no publisher for 30 s, then the server's RSS is read.
// It fails (exit 1) on: a sanitizer report or a non-zero exit at SIGTERM; a quiet-point RSS more
// than 10 % over the first quiet point's; a media sequence that goes backwards within a publish;
// a recording whose chunks are not 1..n, not all uploaded, or whose duration misses the
// published time by more than 2 s plus one chunk (the cut at a stop); a failed API call (5xx).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const MINUTES = Number(arg('minutes', process.env.SOAK_MINUTES || 60));
const STREAMS = Number(arg('streams', 3));
process.env.KIBITKA_BIN = path.resolve(arg('bin', process.env.KIBITKA_BIN || path.join(repo, 'build-test/kibitka')));
process.env.KIBITKA_E2E_DIR ||= mkdtempSync(path.join(os.tmpdir(), 'kibitka-soak-'));
const { startServer, testClip, publish, sleep, binary, workDir } = await import('../e2e/lib/server.mjs');

const failures = [];
const fail = (what) => { failures.push(what); console.log(`FAIL ${what}`); };
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 60000).toFixed(1)} min`;
const log = (s) => console.log(`[${elapsed()}] ${s}`);

const clip = testClip({ seconds: 30, size: '1280x720' }); // made once per work directory

// S3 with its fault-injecting proxy.
const s3dir = mkdtempSync(path.join(workDir, 's3-'));
execFileSync(path.join(repo, 'tests/lib/s3-start'), [s3dir], { encoding: 'utf8' });
const storage = readFileSync(path.join(s3dir, 'storage-url'), 'utf8').trim();
const endpoint = readFileSync(path.join(s3dir, 'endpoint'), 'utf8').trim();
process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';

const data = mkdtempSync(path.join(workDir, 'data-'));
const ADMIN_PW = 'soak-admin-pass';
execFileSync(binary, ['user', 'add', 'admin', '--admin', '--password-stdin', '--data', data],
  { input: `${ADMIN_PW}\n` });
const srv = await startServer(['--data', data, '--storage', storage, '--record-chunk', '10',
  '--ladder', 'source,360p:600k', '--x264-preset', 'ultrafast', '--log-level', 'warn']);
log(`kibitka pid ${srv.proc.pid}, S3 at ${endpoint}, for ${MINUTES} min with up to ${STREAMS} streams`);

async function call(method, p, { token, body } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body) headers['content-type'] = 'application/json';
  const res = await fetch(srv.base + p, { method, headers, redirect: 'manual',
    body: body ? JSON.stringify(body) : undefined, signal: AbortSignal.timeout(30000) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  if (res.status >= 500) fail(`${method} ${p}: ${res.status} ${text.slice(0, 200)}`);
  return { status: res.status, json, text };
}
const login = async (u, pw) => (await call('POST', '/api/auth/login', { body: { username: u, password: pw } })).json?.token;
const admin = await login('admin', ADMIN_PW);

// One user and stream per slot, so that recordings can be told apart.
const slots = [];
for (let i = 0; i < STREAMS; i++) {
  const name = `soak${i}`;
  const pw = `${name}-pass-1`;
  await call('POST', '/api/users', { token: admin, body: { name, password: pw } });
  const token = await login(name, pw);
  const r = await call('POST', '/api/streams', { token, body: { name, record: true } });
  slots.push({ name, token, key: r.json.key, pub: null, published: [] });
}

// Follows one live stream's source playlist with blocking reloads; checks the media sequence.
async function viewer(slot, gen, stop) {
  const base = `${srv.base}/hls/${slot.name}/source/`;
  let msn = -1, part = -1, lastSeq = -1;
  while (!stop.done) {
    const q = msn >= 0 ? `?_HLS_msn=${msn}&_HLS_part=${part}` : '';
    let text;
    try {
      const r = await fetch(base + 'media.m3u8' + q, { signal: AbortSignal.timeout(20000) });
      if (r.status !== 200) { await sleep(500); continue; }
      text = await r.text();
    } catch { await sleep(500); continue; }
    if (stop.gen !== gen) break;
    const seq = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1]);
    if (seq < lastSeq) fail(`${slot.name}: media sequence went back from ${lastSeq} to ${seq}`);
    lastSeq = seq;
    if (text.includes('#EXT-X-ENDLIST')) break;
    const parts = [...text.matchAll(/#EXT-X-PART:[^\n]*URI="([^"]+)"/g)].map((m) => m[1]);
    if (parts.length) await fetch(base + parts[parts.length - 1]).then((r) => r.arrayBuffer()).catch(() => {});
    const hint = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-[0-9a-f]+-(\d+)\.(\d+)\.m4s"/.exec(text);
    if (hint) { msn = Number(hint[1]); part = Number(hint[2]); } else await sleep(500);
  }
}

function startPublisher(slot) {
  const seconds = 20 + Math.floor(Math.random() * 100);
  const pub = publish(srv.rtmpUrl(slot.key), clip, { loop: true });
  const stop = { done: false, gen: Symbol(slot.name) };
  slot.pub = { pub, started: Date.now(), seconds, stop };
  for (let v = 0; v < 2; v++) viewer(slot, stop.gen, stop).catch((e) => fail(`viewer: ${e.message}`));
}
async function stopPublisher(slot) {
  const { pub, started, stop } = slot.pub;
  await pub.stop();
  stop.done = true;
  slot.published.push((Date.now() - started) / 1000);
  slot.pub = null;
}

function rssKiB() {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${srv.proc.pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

const start = Date.now(); // the set-up (the clip, S3, the server) does not count
const end = start + MINUTES * 60000;
let nextOutage = start + 10 * 60000, nextQuiet = start + Math.min(15, MINUTES / 3) * 60000;
const quietRss = [];
let apiCalls = 0;
while (Date.now() < end && failures.length === 0) {
  for (const s of slots) {
    if (s.pub && Date.now() - s.pub.started > s.pub.seconds * 1000) await stopPublisher(s);
    else if (!s.pub && Math.random() < 0.3) startPublisher(s);
  }
  if (Date.now() > nextOutage) {
    await fetch(`${endpoint}/__fault`, { method: 'POST', body: JSON.stringify({ kind: 'outage', seconds: 30 }) });
    log('S3 outage for 30 s');
    nextOutage += 10 * 60000;
  }
  if (Date.now() > nextQuiet) {
    for (const s of slots) if (s.pub) await stopPublisher(s);
    await sleep(30000);
    const rss = rssKiB();
    quietRss.push(rss);
    log(`quiet point: RSS ${(rss / 1024).toFixed(1)} MiB`);
    if (rss > quietRss[0] * 1.1)
      fail(`RSS at a quiet point ${(rss / 1024).toFixed(1)} MiB is over 110 % of the first (${(quietRss[0] / 1024).toFixed(1)} MiB)`);
    nextQuiet += 15 * 60000;
  }
  // Some API traffic.
  const s = slots[Math.floor(Math.random() * slots.length)];
  await call('GET', '/api/live');
  await call('GET', '/api/me', { token: s.token });
  const list = await call('GET', '/api/recordings?limit=5', { token: s.token });
  for (const r of list.json?.recordings || []) await call('GET', `/api/recordings/${r.id}`, { token: s.token });
  if (Math.random() < 0.05) await login(s.name, `${s.name}-pass-1`);
  apiCalls += 3;
  if (srv.proc.exitCode !== null) { fail(`kibitka exited: ${srv.proc.exitCode}`); break; }
  await sleep(2000);
}

for (const s of slots) if (s.pub) await stopPublisher(s);
log('publishers stopped; waiting for the uploads to drain');
await fetch(`${endpoint}/__fault`, { method: 'POST', body: JSON.stringify({ kind: 'clear' }) });
const drained = Date.now() + 180000;
let recs = [];
while (Date.now() < drained) {
  recs = (await call('GET', '/api/recordings?limit=500', { token: admin })).json?.recordings || [];
  if (recs.every((r) => r.state === 'ready')) break;
  await sleep(2000);
}
let chunksSeen = 0;
for (const slot of slots) {
  const mine = recs.filter((r) => r.stream === slot.name)
    .sort((a, b) => Date.parse(a.started_at) - Date.parse(b.started_at));
  if (mine.length !== slot.published.length)
    fail(`${slot.name}: ${mine.length} recordings for ${slot.published.length} publishes`);
  for (const r of mine) {
    const d = (await call('GET', `/api/recordings/${r.id}`, { token: admin })).json;
    const seqs = (d.chunk_list || []).map((c) => c.seq);
    chunksSeen += seqs.length;
    if (d.state !== 'ready') fail(`recording ${r.id} of ${slot.name}: ${d.state}`);
    if (seqs.join() !== seqs.map((_, i) => i + 1).join()) fail(`recording ${r.id}: chunks ${seqs}`);
    if (d.chunks_uploaded !== d.chunks) fail(`recording ${r.id}: ${d.chunks_uploaded} of ${d.chunks} uploaded`);
  }
  // Durations: the recordings in publish order against what was published.
  mine.forEach((r, i) => {
    const pub = slot.published[i];
    if (pub !== undefined && Math.abs(r.duration_seconds - pub) > 12)
      fail(`recording ${r.id} of ${slot.name}: ${r.duration_seconds.toFixed(1)} s recorded of ${pub.toFixed(1)} s published`);
  });
}
const stopped = await srv.stop();
const serverLog = srv.log();
if (/ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/.test(serverLog))
  fail(`sanitizer report:\n${serverLog.split('\n').filter((l) => /Sanitizer|runtime error/.test(l)).slice(0, 10).join('\n')}`);
if (stopped.code !== 0) fail(`kibitka exited ${stopped.code} ${stopped.signal || ''} at SIGTERM`);
execFileSync(path.join(repo, 'tests/lib/s3-stop'), [s3dir]);

const publishes = slots.reduce((n, s) => n + s.published.length, 0);
if (publishes === 0 || chunksSeen === 0) fail(`nothing was soaked: ${publishes} publishes, ${chunksSeen} chunks`);
if (quietRss.length === 0) fail('no quiet point was reached: run for 3 minutes or more');
log(`${publishes} publishes, ${recs.length} recordings, ${chunksSeen} chunks, ${apiCalls} API calls; ` +
  `quiet-point RSS (MiB): ${quietRss.map((k) => (k / 1024).toFixed(1)).join(', ') || 'none'}`);
if (failures.length) {
  console.log(`soak FAILED (${failures.length}): kept ${workDir}`);
  process.exit(1);
}
rmSync(workDir, { recursive: true, force: true });
console.log('soak passed');
