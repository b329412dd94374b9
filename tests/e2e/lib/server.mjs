// Helpers shared by the end-to-end tests: start a real kibitka on free loopback ports, publish
// with real ffmpeg, fetch with timeouts. Everything listens on 127.0.0.1 only.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '../../..');
export const binary = process.env.KIBITKA_BIN || path.join(repo, 'build-test', 'kibitka');
export const workDir = process.env.KIBITKA_E2E_DIR || '/tmp/kibitka-e2e';
// Made here, once, before any test file uses it: test files call mkdtemp under it at their top
// level, and on a fresh machine the first of them (api.test.mjs) ran before anything had made it.
mkdirSync(workDir, { recursive: true });
// Voice signaling (--ws) listens on 0.0.0.0:8081 by default: servers a test spawns by hand
// (data_lock, lost_db, command_line) get a port of their own instead, so two never collide.
process.env.KIBITKA_WS ??= '127.0.0.1:0';
// The server's default --ladder (core/config.h CONFIG_LADDER_DEFAULT; command_line.test.mjs
// checks that --help says the same), for the tests and benches that must name it: startServer
// runs --ladder none unless told otherwise.
export const DEFAULT_LADDER = 'source,720p:2500k,480p:1000k,360p:600k';

// A port that is free for TCP and UDP on every address, chosen below the kernel's ephemeral range
// (ip_local_port_range, 32768-60999 on Debian). A port from inside that range, merely free when
// checked, could be handed to any client socket before the server binds it: werift's UDP sockets,
// still open from an earlier test in the same process, took a WebRTC port that way ("cannot bind
// ... Address already in use"). Below the range only an explicit bind can take it, and every test
// binds through this function, which never hands out one port twice in a process.
const handedOut = new Set();

function canBind(port, kind) {
  return new Promise((resolve) => {
    if (kind === 'tcp') {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen({ port, host: '0.0.0.0', exclusive: true }, () => s.close(() => resolve(true)));
    } else {
      const s = dgram.createSocket('udp4');
      s.once('error', () => { s.close(); resolve(false); });
      s.bind({ port, address: '0.0.0.0', exclusive: true }, () => s.close(() => resolve(true)));
    }
  });
}

export async function freePort() {
  for (let tries = 0; tries < 500; tries++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (handedOut.has(port)) continue;
    if (await canBind(port, 'tcp') && await canBind(port, 'udp')) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port in 20000-31999 after 500 tries');
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Starts kibitka with the given extra flags; resolves once /health answers 200. Without a
// --ladder flag the server runs `--ladder none`: most tests are about packaging the source, and
// transcoding every 720p test publish would cost CPU they do not need (ladder.test.mjs names its
// ladders). `launcher` runs the server through a command that execs it (same pid), such as
// ['prlimit', '--nofile=256:512', '--']. `bin` runs another build of the server (players.test.mjs
// runs the release build).
export async function startServer(extra = [], env = {}, { launcher = [], bin = binary } = {}) {
  const http = await freePort();
  const rtmp = await freePort();
  const rtc = await freePort();
  const ws = await freePort();
  // Each server gets its own data directory (its SQLite database) unless the test names one.
  const dataDir = mkdtempSync(path.join(workDir, 'data-'));
  const args = ['serve', '--http', `127.0.0.1:${http}`, '--rtmp', `127.0.0.1:${rtmp}`,
    ...(extra.includes('--rtc') ? [] : ['--rtc', `127.0.0.1:${rtc}`]),
    ...(extra.includes('--ws') ? [] : ['--ws', `127.0.0.1:${ws}`]),
    ...(extra.includes('--data') ? [] : ['--data', dataDir]),
    ...(extra.includes('--ladder') ? [] : ['--ladder', 'none']), ...extra];
  const proc = spawn(launcher[0] || bin, [...launcher.slice(1), ...(launcher.length ? [bin] : []), ...args], {
    env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const srv = {
    proc, http, rtmp, rtc, ws, exited, dataDir,
    base: `http://127.0.0.1:${http}`,
    rtmpUrl: (key) => `rtmp://127.0.0.1:${rtmp}/live/${key}`,
    log: () => log,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`kibitka exited at start:\n${log}`);
    try {
      const r = await fetch(`${srv.base}/health`);
      if (r.status === 200) return srv;
    } catch { /* not listening yet */ }
    await sleep(50);
  }
  proc.kill('SIGKILL');
  throw new Error(`kibitka did not become healthy:\n${log}`);
}

// A 720p30 H.264 High + AAC clip with a 2 s GOP, made once per machine and cached.
export function testClip({ seconds = 20, size = '1280x720', rate = 30, gop = 60, name } = {}) {
  const file = path.join(workDir, name || `clip-${size}-${rate}-${gop}-${seconds}.flv`);
  if (!existsSync(file)) {
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${rate}`,
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', String(seconds), '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high',
      '-pix_fmt', 'yuv420p', '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0',
      '-b:v', '2500k', '-maxrate', '2500k', '-bufsize', '5000k',
      '-c:a', 'aac', '-b:a', '128k', '-ac', '2', '-f', 'flv', file + '.tmp']);
    execFileSync('mv', [file + '.tmp', file]);
  }
  return file;
}

// Publishes a file in real time with stream copy (like OBS would, at the source's pace).
export function publish(url, file, { loop = false, extra = [] } = {}) {
  const args = ['-hide_banner', '-loglevel', 'error', '-re'];
  if (loop) args.push('-stream_loop', '-1');
  args.push('-i', file, '-c', 'copy', ...extra, '-f', 'flv', url);
  const proc = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal, err })));
  return { proc, exited, stop() { if (proc.exitCode === null) proc.kill('SIGINT'); return exited; } };
}

export async function fetchText(url, { timeout = 10000 } = {}) {
  const r = await fetch(url, { signal: AbortSignal.timeout(timeout) });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

export async function fetchBytes(url, { timeout = 10000 } = {}) {
  const r = await fetch(url, { signal: AbortSignal.timeout(timeout) });
  return { status: r.status, headers: r.headers, body: Buffer.from(await r.arrayBuffer()) };
}

// Polls until fn() returns a truthy value or the time is up.
export async function waitFor(fn, { timeout = 15000, interval = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) { last = e; }
    await sleep(interval);
  }
  throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}

// The value of one exact series (its name with its labels, as /metrics writes them); 0 when absent.
export async function metricSeries(srv, series) {
  const { text } = await fetchText(`${srv.base}/metrics`);
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.split(' ').pop()) : 0;
}

export async function metric(srv, name) {
  const { text } = await fetchText(`${srv.base}/metrics`);
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
  return line ? Number(line.split(' ').pop()) : undefined;
}

// Every file under dir with its size and mtime, to show that nothing changed.
export function dirSnapshot(dir) {
  const out = {};
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else { const st = statSync(p); out[path.relative(dir, p)] = `${st.size}@${st.mtimeMs}`; }
    }
  };
  walk(dir);
  return out;
}
