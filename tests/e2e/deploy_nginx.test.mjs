// The operations kit (issue 15), deploy/. Debian's nginx runs deploy/nginx.conf in front of a
// kibitka the test starts, and what viewers, publishers and voice room members do goes through
// it: LL-HLS (a blocking playlist reload answered through the proxy, parts that decode), the
// API, WHIP (201 with Location/ETag/Link, PATCH, DELETE, the stream playing), the signaling
// WebSocket at /rtc, the pages. The only changes to the file are those deploy/README.md lists
// (nginxConf below): the TLS lines dropped, addresses and paths replaced. A second nginx runs
// the file with its TLS lines and a throwaway certificate. RTMP goes to kibitka directly, as
// the file says. nginx runs without root (as nobody when the test runs as root), with -p/-c,
// daemon off, error_log stderr, everything under the test's directory. kibitka runs under
// prctl(PR_SET_MDWE), the unit's MemoryDenyWriteExecute, where the kernel has it. Also:
// kibitka.service through systemd-analyze, kibitka.env against --help, and every metric
// grafana-dashboard.json queries against /metrics.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import {
  startServer, freePort, repo, binary, workDir, testClip, publish, fetchText, waitFor,
} from './lib/server.mjs';
import { getPlaylist, listParts, probe } from './lib/hls.mjs';
import { whipPublish } from './lib/whip.mjs';
import { wsConnect } from './lib/ws.mjs';

const NGINX = process.env.NGINX_BIN || '/usr/sbin/nginx';
const CONF = path.join(repo, 'deploy', 'nginx.conf');
const DASHBOARD = path.join(repo, 'deploy', 'grafana-dashboard.json');
const UNIT = path.join(repo, 'deploy', 'kibitka.service');
const ENV_FILE = path.join(repo, 'deploy', 'kibitka.env');

const skip = existsSync(NGINX) ? false : `no nginx at ${NGINX} (scripts/install-deps installs it)`;
const cleanups = [];
after(async () => {
  const errors = [];
  for (const f of cleanups.reverse()) await Promise.resolve().then(f).catch((e) => errors.push(e));
  // werift 0.25 leaves a UDP socket open after pc.close() now and then (whip.test.mjs has the
  // same): end the process once everything is done (unref'd: only then).
  setTimeout(() => process.exit(), 2000).unref();
  if (errors.length) throw errors[0];
});

// Replaces every `from` in text (exactly `count` of them, or the file changed under the test).
function sub(text, from, to, count = 1) {
  const n = text.split(from).length - 1;
  assert.equal(n, count, `deploy/nginx.conf: expected ${count} of '${from}', found ${n}`);
  return text.split(from).join(to);
}

// The lines between '# @tls-begin' and '# @tls-end' (markers included) removed.
function dropTls(text) {
  const out = [];
  let inside = false;
  let regions = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '# @tls-begin') { assert.ok(!inside, 'nested @tls-begin'); inside = true; regions++; continue; }
    if (line.trim() === '# @tls-end') { assert.ok(inside, '@tls-end without begin'); inside = false; continue; }
    if (!inside) out.push(line);
  }
  assert.ok(!inside && regions >= 1, 'the TLS lines are marked');
  return out.join('\n');
}

// deploy/nginx.conf for a test: addresses and paths replaced (the transform deploy/README.md
// documents), the TLS lines dropped unless tls = { port, cert, key } is given.
function nginxConf(text, { listen, http, ws, dir, tls = null }) {
  let t = tls ? text : dropTls(text);
  t = sub(t, 'listen 80;', `listen 127.0.0.1:${listen};`);
  t = sub(t, 'listen [::]:80;', '# (the test listens on IPv4 loopback only)');
  t = sub(t, 'server 127.0.0.1:8080;', `server 127.0.0.1:${http};`);
  t = sub(t, 'server 127.0.0.1:8081;', `server 127.0.0.1:${ws};`);
  t = sub(t, 'pid /run/nginx.pid;', `pid ${dir}/nginx.pid;`);
  t = sub(t, 'error_log /var/log/nginx/error.log warn;', 'error_log stderr warn;');
  t = sub(t, 'access_log /var/log/nginx/access.log;', `access_log ${dir}/access.log;`);
  t = sub(t, '/var/lib/nginx/', `${dir}/tmp/`, 5);
  if (tls) {
    t = sub(t, 'listen 443 ssl http2;', `listen 127.0.0.1:${tls.port} ssl http2;`);
    t = sub(t, 'listen [::]:443 ssl http2;', '# (the test listens on IPv4 loopback only)');
    t = sub(t, '/etc/letsencrypt/live/example.org/fullchain.pem', tls.cert);
    t = sub(t, '/etc/letsencrypt/live/example.org/privkey.pem', tls.key);
    t = sub(t, 'root /var/www/letsencrypt;', `root ${dir}/acme;`);
  }
  return t;
}

// nobody's uid and gid when the test runs as root (nginx must not), else the test's own.
function unprivileged() {
  if (process.getuid() !== 0) return {};
  const id = (flag) => Number(execFileSync('id', [flag, 'nobody'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

function chownTree(dir, { uid, gid }) {
  if (uid === undefined) return;
  chownSync(dir, uid, gid);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) chownTree(p, { uid, gid });
    else chownSync(p, uid, gid);
  }
}

// Runs nginx in the foreground on conf text; resolves once it answers on `listen`.
async function startNginx(dir, text, listen) {
  mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  mkdirSync(path.join(dir, 'acme', '.well-known', 'acme-challenge'), { recursive: true });
  const confPath = path.join(dir, 'nginx.conf');
  writeFileSync(confPath, text);
  const who = unprivileged();
  chownTree(dir, who);
  const proc = spawn(NGINX, ['-p', `${dir}/`, '-c', confPath, '-g', 'daemon off;'],
    { ...who, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const ng = {
    proc, log: () => log, base: `http://127.0.0.1:${listen}`,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGQUIT'); // graceful
      const t = setTimeout(() => proc.kill('SIGKILL'), 15000);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`nginx exited: ${log}`);
    await fetch(`${ng.base}/health`, { redirect: 'manual', signal: AbortSignal.timeout(2000) });
    return true;
  }, { timeout: 15000, what: `nginx on ${listen}: ${log}` }).catch((e) => { proc.kill('SIGKILL'); throw e; });
  const uid = readFileSync(`/proc/${proc.pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)[1];
  assert.notEqual(uid, '0', 'nginx runs without root');
  return ng;
}

const MDWE_EXEC = `import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0: sys.exit('PR_SET_MDWE: errno %d' % ctypes.get_errno())
os.execv(sys.argv[1], sys.argv[1:])`;
const mdwe = spawnSync('python3', ['-c', `${MDWE_EXEC.split('\n').slice(0, 3).join('\n')}`]).status === 0;
const ADMIN_PW = 'deploy-admin-pw';
const GUESSED_PW = 'guessed-user-pw';
let srv;
let ng;
let roomToken; // from the API subtest, for the signaling one
if (!skip) {
  // kibitka.service has MemoryDenyWriteExecute=yes: the kernel's own form of it
  // (prctl PR_SET_MDWE, Linux 6.3+, kept across exec) is put on the server here, so the ladder
  // (x264), WHIP (DTLS, SRTP, Opus) and the rest run under it. Older kernels: without.
  const launcher = mdwe ? ['python3', '-c', MDWE_EXEC] : [];
  srv = await startServer(['--open-publish', '--no-record', '--part', '0.5', '--ladder', 'source,240p:300k',
    '--ice-server', 'stun:stun.example.net:3478', '--http-max-connections-per-address', '0',
    '--trusted-proxy', '127.0.0.1'], {}, { launcher }); // as deploy/kibitka.env sets them

  cleanups.push(() => srv.stop());
  execFileSync(binary, ['user', 'add', 'admin', '--admin', '--password-stdin', '--data', srv.dataDir],
    { input: `${ADMIN_PW}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
  for (const name of ['guessed', 'guessed2']) // one each: past 10 failures a user is "under attack"
    execFileSync(binary, ['user', 'add', name, '--password-stdin', '--data', srv.dataDir],
      { input: `${GUESSED_PW}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
  const dir = mkdtempSync(path.join(workDir, 'nginx-'));
  const listen = await freePort();
  ng = await startNginx(dir, nginxConf(readFileSync(CONF, 'utf8'), { listen, http: srv.http, ws: srv.ws, dir }), listen);
  cleanups.push(async () => {
    const r = await ng.stop();
    assert.equal(r.code, 0, `nginx exit ${JSON.stringify(r)}\n${ng.log()}`);
    // (worker_rlimit_nofile past a low hard limit is an [alert] that changes nothing here)
    const bad = ng.log().split('\n').filter((l) => /\[(emerg|alert|crit)\]/.test(l) && !/setrlimit\(RLIMIT_NOFILE/.test(l));
    assert.deepEqual(bad, [], ng.log());
  });
}

test('LL-HLS through nginx: multivariant, a blocking reload answered through the proxy, a part that decodes', { skip }, async () => {
  const clip = testClip({ seconds: 20, size: '640x360' });
  const pub = publish(srv.rtmpUrl('deploycam'), clip, { loop: true }); // RTMP: direct to kibitka
  cleanups.push(() => pub.stop());
  const index = `${ng.base}/hls/deploycam/index.m3u8`;
  await waitFor(async () => (await fetchText(index)).status === 200, { timeout: 20000, what: 'the multivariant playlist through nginx' });
  const mv = await getPlaylist(index);
  assert.equal(mv.parsed.isMasterPlaylist, true, mv.text);
  const media = new URL(mv.parsed.variants[0].uri, index).href;
  assert.ok(media.startsWith(`${ng.base}/hls/`), media);
  const first = await waitFor(async () => {
    const p = await getPlaylist(media);
    return p.parsed.segments.filter((s) => s.uri).length >= 1 && listParts(p.text).length >= 2 && p;
  }, { timeout: 30000, what: 'a segment and parts through nginx' });

  // A blocking reload for the part after the newest: kibitka holds it until that part exists,
  // and nginx (proxy_buffering off) hands it over as it comes.
  const parts = listParts(first.text);
  const last = parts[parts.length - 1];
  const t = Date.now();
  const r = await fetchText(`${media}?_HLS_msn=${last.msn}&_HLS_part=${last.k + 1}`, { timeout: 30000 });
  const waited = Date.now() - t;
  assert.equal(r.status, 200, r.text);
  const now = listParts(r.text);
  assert.ok(now.some((p) => (p.msn === last.msn && p.k === last.k + 1) || (p.msn === last.msn + 1 && p.k === 0)),
    `the part after ${last.msn}.${last.k} is in the answer:\n${r.text}`);
  console.log(`# blocking reload through nginx answered after ${waited} ms`);
  // The preload-hinted part: kibitka holds the request until the part is complete, nginx
  // passes the bytes on.
  const hint = r.text.match(/#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"/);
  assert.ok(hint, r.text);
  const h = await fetch(new URL(hint[1], media).href, { signal: AbortSignal.timeout(30000) });
  assert.equal(h.status, 200);
  assert.ok((await h.arrayBuffer()).byteLength > 0, 'the hinted part has bytes');

  // A part that starts with a keyframe, with the init section, decoded by ffprobe.
  const part = now.filter((p) => p.independent).pop();
  assert.ok(part, r.text);
  const init = new URL(r.text.match(/#EXT-X-MAP:URI="([^"]+)"/)[1], media).href;
  const partUrl = new URL(part.uri, media).href;
  const pr = await fetch(partUrl, { signal: AbortSignal.timeout(10000) });
  assert.equal(pr.status, 200);
  assert.match(pr.headers.get('cache-control') || '', /immutable/, 'kibitka\'s caching headers pass through');
  await pr.arrayBuffer();
  const streams = await probe(init, [partUrl]);
  assert.equal(mv.parsed.variants.length, 2, 'source and the 240p rung (x264 ran)');
  const v = streams.find((s) => s.codec_type === 'video');
  assert.ok(v && v.codec_name === 'h264' && Number(v.nb_read_frames) > 0, JSON.stringify(streams));
  // The audio is muxed into every rendition (no audio group): in this part as well.
  assert.ok(!mv.text.includes('#EXT-X-MEDIA'), mv.text);
  assert.ok(streams.some((s) => s.codec_type === 'audio' && s.codec_name === 'aac' && Number(s.nb_read_frames) > 0), JSON.stringify(streams));
  await pub.stop();
  console.log(`# kibitka ran ${mdwe ? 'under PR_SET_MDWE' : 'without MDWE (the kernel lacks PR_SET_MDWE)'}`);
});

test('the API through nginx: login, a voice room and its join token', { skip }, async () => {
  const call = async (method, p, { token, body } = {}) => {
    const headers = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(ng.base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10000) });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null, text };
  };
  const login = await call('POST', '/api/auth/login', { body: { username: 'admin', password: ADMIN_PW } });
  assert.equal(login.status, 200, login.text);
  const token = login.json.token;
  const users = await call('GET', '/api/users', { token });
  assert.equal(users.status, 200, users.text);
  assert.equal((await call('GET', '/api/users')).status, 401, 'the Authorization header is what decides');
  assert.equal((await call('POST', '/api/rooms', { token, body: { name: 'deployroom', public: false } })).status, 201);
  const jt = await call('POST', '/api/rooms/deployroom/token', { token, body: {} });
  assert.equal(jt.status, 201, jt.text);
  roomToken = jt.json.token;
  // The /voice page asks where the signaling is: through the proxy, its own origin's /rtc.
  const cfg = await call('GET', '/api/config');
  assert.equal(cfg.status, 200, cfg.text);
  assert.equal(cfg.json.proxied, true, 'nginx sets X-Forwarded-Proto');
  assert.equal(cfg.json.ws_path, '/rtc');
});

test('WHIP through nginx: 201 with Location, ETag and Link; PATCH with If-Match; DELETE', { skip }, async () => {
  const pub = await whipPublish(ng.base, 'deploywhip', { seconds: 10 });
  cleanups.push(() => pub.stop());
  assert.equal(pub.status, 201, pub.answer);
  assert.match(pub.location, /^\/whip\/session\/[0-9a-f]{24}$/, 'the Location kibitka wrote, untouched');
  assert.match(pub.etag, /^"[^"]+"$/);
  assert.equal(pub.link, '<stun:stun.example.net:3478>; rel="ice-server"');
  assert.match(pub.answer, /^a=fingerprint:sha-256 /m);
  const frag = 'a=ice-ufrag:x\r\na=ice-pwd:y\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=end-of-candidates\r\n';
  // Media flows (DTLS, SRTP, Opus to AAC: under MDWE when the kernel has it), and the stream
  // plays through nginx.
  await waitFor(async () => (await fetchText(`${ng.base}/hls/deploywhip/index.m3u8`)).status === 200,
    { timeout: 30000, what: 'the WHIP stream\'s playlist through nginx' });
  assert.equal((await pub.patch(frag, null)).status, 428, 'a PATCH reaches kibitka');
  assert.equal((await pub.patch(frag, '"stale"')).status, 412, 'with its If-Match header');
  await pub.stop();
  assert.equal((await pub.del()).status, 200);
  assert.equal((await pub.del()).status, 404, 'the session is gone');
});

test('the signaling WebSocket through nginx: 101, ping answered, a join reaches the rooms check', { skip }, async () => {
  const c = await wsConnect(Number(new URL(ng.base).port), '/rtc'); // rejects unless 101
  cleanups.push(() => c.close());
  c.send({ type: 'ping' });
  assert.deepEqual(await c.next(), { type: 'pong' });
  const sockets = await fetchText(`${srv.base}/metrics`);
  assert.match(sockets.text, /^kibitka_ws_sockets 1$/m, 'kibitka\'s signaling holds the socket nginx opened');
  // The join token from the API (through nginx) passes the signaling's rooms check (through
  // nginx) and the member joins. A token that did not survive the trip would be
  // "unauthorized", a wrong room "no_such_room".
  assert.ok(roomToken, 'needs the API subtest\'s token');
  c.send({ type: 'join', room: 'deployroom', token: roomToken, display: 'Deploy' });
  const m = await c.next();
  assert.equal(m.type, 'joined', JSON.stringify(m));
  console.log(`# join through nginx: ${JSON.stringify(m).slice(0, 120)}`);
  c.close();
  const bad = await wsConnect(Number(new URL(ng.base).port), '/rtc');
  cleanups.push(() => bad.close());
  bad.send({ type: 'join', room: 'deployroom', token: `${roomToken}x`, display: 'Deploy' });
  assert.equal((await bad.next()).code, 'unauthorized', 'a bad token is told apart');
  bad.close();
});

// One login on a connection of its own, from a loopback address (every 127/8 address reaches
// the loopback servers), to nginx or straight to kibitka, with extra request headers.
function loginFrom(port, from, password, headers = {}, username = 'guessed') {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ username, password });
    const req = http.request({
      host: '127.0.0.1', port, method: 'POST', path: '/api/auth/login', localAddress: from, agent: false,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.setTimeout(60000, () => req.destroy(new Error(`login from ${from} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

// kibitka runs with --trusted-proxy 127.0.0.1 (deploy/kibitka.env): nginx connects from there,
// and X-Forwarded-For ($proxy_add_x_forwarded_for) names the client. Without it every client
// behind nginx was 127.0.0.1 to the login limiter and the signaling's per-address cap.
test('--trusted-proxy: clients behind nginx are limited apart; a header from an untrusted peer is ignored', { skip }, async () => {
  const ngPort = Number(new URL(ng.base).port);
  // A guesser behind nginx (127.0.0.5) gets the (user, address) backoff after 6 failures...
  for (let i = 0; i < 6; i++)
    assert.equal(await loginFrom(ngPort, '127.0.0.5', `wrong-${i}`), 401, `free try ${i}`);
  assert.equal(await loginFrom(ngPort, '127.0.0.5', GUESSED_PW), 429, 'the guesser is blocked');
  // ...and cannot escape it with a header of its own: nginx appends its real address.
  assert.equal(await loginFrom(ngPort, '127.0.0.5', GUESSED_PW, { 'X-Forwarded-For': '203.0.113.9' }), 429,
    'a spoofed X-Forwarded-For through nginx changes nothing');
  // Another client behind the same nginx is not: the old code saw both as 127.0.0.1.
  assert.equal(await loginFrom(ngPort, '127.0.0.6', GUESSED_PW), 200, 'a second client behind nginx logs in');
  // Straight to kibitka from a peer that is not a trusted proxy: its X-Forwarded-For is
  // ignored, so a fresh header per guess does not reset the count.
  for (let i = 0; i < 6; i++)
    assert.equal(await loginFrom(srv.http, '127.0.0.7', `wrong-${i}`, { 'X-Forwarded-For': `198.51.100.${i + 1}` }, 'guessed2'), 401);
  assert.equal(await loginFrom(srv.http, '127.0.0.7', GUESSED_PW, { 'X-Forwarded-For': '198.51.100.99' }, 'guessed2'), 429,
    'the header from an untrusted peer was ignored');
  assert.equal(await loginFrom(srv.http, '127.0.0.7', GUESSED_PW, { Forwarded: 'for=198.51.100.98' }, 'guessed2'), 429);
  // The same header from the trusted proxy's address is read: a client of its own.
  assert.equal(await loginFrom(srv.http, '127.0.0.1', GUESSED_PW, { 'X-Forwarded-For': '198.51.100.99' }, 'guessed2'), 200);

  // The signaling WebSocket: its address is the one in kibitka's log lines. An oversized
  // message (past 64 KiB) closes the socket with a line naming the client.
  const big = 'x'.repeat(70 * 1024);
  const viaNginx = await wsConnect(ngPort, '/rtc', '127.0.0.1', { localAddress: '127.0.0.8' });
  cleanups.push(() => viaNginx.close());
  viaNginx.send(big);
  await viaNginx.whenClosed();
  await waitFor(() => /127\.0\.0\.8: a message over/.test(srv.log()), { timeout: 10000, what: 'the log line naming 127.0.0.8' });
  const spoof = await wsConnect(srv.ws, '/rtc', '127.0.0.1', { localAddress: '127.0.0.9', headers: { 'X-Forwarded-For': '198.51.100.77' } });
  cleanups.push(() => spoof.close());
  spoof.send(big);
  await spoof.whenClosed();
  await waitFor(() => /127\.0\.0\.9: a message over/.test(srv.log()), { timeout: 10000, what: 'the log line naming 127.0.0.9' });
  assert.doesNotMatch(srv.log(), /198\.51\.100\.77/, 'the untrusted peer\'s header is not used');
});

test('through nginx: /health and the pages served, /metrics refused', { skip }, async (t) => {
  assert.equal((await fetchText(`${ng.base}/health`)).status, 200);
  assert.equal((await fetchText(`${ng.base}/metrics`)).status, 403);
  const direct = await fetchText(`${srv.base}/`);
  if (direct.status === 404) { // a plain cmake build without web/dist (web/README.md)
    t.skip(`this kibitka has no pages: ${direct.text.trim()}`);
    return;
  }
  const page = await fetch(`${ng.base}/`, { signal: AbortSignal.timeout(10000) });
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /^text\/html/);
  assert.ok(page.headers.get('content-security-policy'), 'the pages\' headers pass through');
  assert.equal(await page.text(), direct.text, 'the same page as kibitka serves');
});

test('deploy/nginx.conf with its TLS lines: https answers, http redirects except ACME challenges', { skip }, async () => {
  const dir = mkdtempSync(path.join(workDir, 'nginx-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const listen = await freePort();
  const port = await freePort();
  const tls = await startNginx(dir, nginxConf(readFileSync(CONF, 'utf8'),
    { listen, http: srv.http, ws: srv.ws, dir, tls: { port, cert, key } }), listen);
  try {
    const r = await fetch(`${tls.base}/hls/x/index.m3u8?a=1`, { redirect: 'manual', signal: AbortSignal.timeout(10000) });
    assert.equal(r.status, 301);
    assert.equal(r.headers.get('location'), `https://127.0.0.1/hls/x/index.m3u8?a=1`);
    writeFileSync(path.join(dir, 'acme', '.well-known', 'acme-challenge', 'tok'), 'proof');
    const acme = await fetchText(`${tls.base}/.well-known/acme-challenge/tok`);
    assert.equal(acme.status, 200);
    assert.equal(acme.text, 'proof');
    const health = await new Promise((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, path: '/health', ca: readFileSync(cert), timeout: 10000 }, (res) => {
        let body = '';
        res.on('data', (d) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode, body }));
      }).on('error', reject);
    });
    assert.equal(health.status, 200, health.body);
  } finally {
    const r = await tls.stop();
    assert.equal(r.code, 0, tls.log());
  }
});

// Metric names in a PromQL expression: kibitka_* and process_*, histogram suffixes mapped to
// their family.
function metricNames(expr) {
  return (expr.match(/\b(kibitka|process)_[a-z0-9_]+/g) || [])
    .map((n) => n.replace(/_(bucket|sum|count)$/, ''));
}

test('deploy/grafana-dashboard.json parses and queries only metrics kibitka exports', async () => {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
  assert.ok(dash.schemaVersion >= 36, `schemaVersion ${dash.schemaVersion}`);
  const ds = dash.templating.list.find((v) => v.type === 'datasource');
  assert.equal(ds?.query, 'prometheus', 'a Prometheus datasource variable');
  const exprs = [];
  const walk = (o) => {
    if (Array.isArray(o)) o.forEach(walk);
    else if (o && typeof o === 'object') {
      for (const [k, v] of Object.entries(o)) {
        if ((k === 'expr' || (k === 'query' && typeof v === 'string')) && typeof v === 'string') exprs.push(v);
        else if (k === 'definition' && typeof v === 'string') exprs.push(v);
        else walk(v);
      }
    }
  };
  walk(dash);
  const panels = dash.panels.filter((p) => p.type !== 'row');
  assert.ok(panels.length >= 9, `${panels.length} panels`);
  for (const p of panels) assert.ok(p.targets?.length && p.targets.every((t) => t.expr), `panel '${p.title}' has queries`);
  const used = new Set(exprs.flatMap(metricNames));
  assert.ok(used.size >= 15, [...used].join(' '));
  const own = srv ? null : await startServer(['--no-record']); // without nginx, no srv above
  const text = (await fetchText(`${(srv || own).base}/metrics`)).text;
  if (own) await own.stop();
  const exported = new Set(text.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]));
  const missing = [...used].filter((n) => !exported.has(n));
  assert.deepEqual(missing, [], 'every metric the dashboard queries is in /metrics');
  assert.ok(used.has('kibitka_voice_rooms') && used.has('kibitka_voice_members'), 'the voice rooms panel');
});

test('deploy/kibitka.env sets only flags kibitka has', () => {
  const help = execFileSync(binary, ['serve', '--help'], { encoding: 'utf8' });
  const flags = new Set([...help.matchAll(/^ {2}--([a-z0-9-]+)/gm)].map((m) => `KIBITKA_${m[1].toUpperCase().replace(/-/g, '_')}`));
  const names = [...readFileSync(ENV_FILE, 'utf8').matchAll(/^#?(KIBITKA_[A-Z0-9_]+)=/gm)].map((m) => m[1]);
  assert.ok(names.length >= 10, names.join(' '));
  assert.deepEqual(names.filter((n) => !flags.has(n)), [], 'every KIBITKA_ variable, set or commented, is a flag');
});

const analyze = spawnSync('systemd-analyze', ['--version']).status === 0 ? false : 'no systemd-analyze';
test('deploy/kibitka.service: systemd-analyze verify passes, exposure at most 2.0', { skip: analyze }, () => {
  const unit = readFileSync(UNIT, 'utf8');
  // The data directory on the command line is the state directory, the one place it may write.
  assert.match(unit, /^StateDirectory=kibitka$/m);
  assert.match(unit, /^ExecStart=\/usr\/local\/bin\/kibitka serve --data \/var\/lib\/kibitka$/m);
  assert.match(unit, /^KillSignal=SIGTERM$/m);
  // verify wants ExecStart's binary to exist: this build's, in a copy of the unit.
  const dir = mkdtempSync(path.join(workDir, 'unit-'));
  const copy = path.join(dir, 'kibitka.service');
  writeFileSync(copy, sub(unit, '/usr/local/bin/kibitka', binary));
  const v = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
  assert.equal(v.status, 0, v.stderr + v.stdout);
  assert.equal(v.stderr.trim(), '', 'no warnings');
  const sec = spawnSync('systemd-analyze', ['security', '--offline=yes', copy], { encoding: 'utf8' });
  const m = (sec.stdout + sec.stderr).match(/Overall exposure level for kibitka\.service: ([\d.]+)/);
  assert.ok(m, sec.stdout + sec.stderr);
  console.log(`# systemd-analyze security: exposure ${m[1]}`);
  assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]}`);
});
