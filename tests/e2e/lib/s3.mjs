// The test S3 for end-to-end tests, and checks of recorded chunks.
//
// startS3() runs tests/lib/s3-start (s3rver behind tests/lib/s3proxy.mjs, which checks every
// Signature V4 and injects faults) in a fresh temporary directory and gives: the --storage url,
// the server environment with the credentials, fault control, and a signed (aws4) S3 client to
// list and fetch what kibitka uploaded. stop() runs tests/lib/s3-stop, which deletes the
// directory. Loopback only.
//
// probeChunk()/checkChunks(): what ffprobe and ffmpeg make of recording chunks (each must start
// with a keyframe, decode without an error, and follow the previous one without a gap).
import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { repo, workDir } from './server.mjs';

const require = createRequire(import.meta.url);
const aws4 = require('aws4');
const run = promisify(execFile);

export const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };
const REGION = 'us-east-1';

export async function startS3() {
  const dir = mkdtempSync(path.join(workDir, 's3-'));
  const { stdout } = await run(path.join(repo, 'tests/lib/s3-start'), [dir]);
  const endpoint = stdout.trim();
  const bucket = 'kibitka-test';
  const host = new URL(endpoint).host;

  // One signed request through the proxy (so the proxy checks our signature too).
  async function request(method, p, { query = '', body, creds = CREDENTIALS } = {}) {
    const opts = aws4.sign({ host, method, path: p + (query ? `?${query}` : ''), service: 's3',
      region: REGION, body, headers: {} },
    { accessKeyId: creds.AWS_ACCESS_KEY_ID, secretAccessKey: creds.AWS_SECRET_ACCESS_KEY });
    const r = await fetch(`${endpoint}${opts.path}`, { method, headers: opts.headers, body,
      signal: AbortSignal.timeout(20000) });
    return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
  }

  const s3 = {
    dir, endpoint, bucket,
    env: { ...CREDENTIALS },
    // The --storage url for keys under `prefix`; extra query items such as attempts=2.
    storageUrl(prefix = 'rec', extra = '') {
      return `s3://${bucket}/${prefix}?endpoint=${endpoint}&region=${REGION}${extra ? `&${extra}` : ''}`;
    },
    async fault(kind, more = {}) {
      const r = await fetch(`${endpoint}/__fault`, { method: 'POST',
        body: JSON.stringify({ kind, ...more }), signal: AbortSignal.timeout(5000) });
      if (r.status !== 200) throw new Error(`fault ${kind}: HTTP ${r.status} ${await r.text()}`);
      return r.json();
    },
    async stats() {
      const r = await fetch(`${endpoint}/__stats`, { signal: AbortSignal.timeout(5000) });
      return r.json();
    },
    // Every object under prefix: [{ key, size }], through ListObjectsV2 (paged).
    async list(prefix = '') {
      const out = [];
      let token = '';
      for (;;) {
        const q = new URLSearchParams({ 'list-type': '2', prefix });
        if (token) q.set('continuation-token', token);
        // aws4 wants the query sorted and RFC 3986-encoded, as S3 canonicalises it.
        const query = [...q.entries()].sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
        const r = await request('GET', `/${bucket}/`, { query });
        if (r.status !== 200) throw new Error(`list ${prefix}: HTTP ${r.status} ${r.body}`);
        const xml = r.body.toString();
        for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
          const key = m[1].match(/<Key>([^<]*)<\/Key>/)[1];
          const size = Number(m[1].match(/<Size>(\d+)<\/Size>/)[1]);
          out.push({ key, size });
        }
        const next = xml.match(/<NextContinuationToken>([^<]*)<\/NextContinuationToken>/);
        if (!/<IsTruncated>true<\/IsTruncated>/.test(xml) || !next) break;
        token = next[1];
      }
      return out.sort((a, b) => (a.key < b.key ? -1 : 1));
    },
    async get(key) {
      const r = await request('GET', `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`);
      if (r.status !== 200) throw new Error(`get ${key}: HTTP ${r.status} ${r.body}`);
      return r.body;
    },
    // Fetches every object under prefix into dir (made here); returns the local paths in order.
    async download(prefix, dir) {
      mkdirSync(dir, { recursive: true });
      const files = [];
      for (const o of await s3.list(prefix)) {
        const f = path.join(dir, o.key.replace(/\//g, '_'));
        writeFileSync(f, await s3.get(o.key));
        files.push(f);
      }
      return files;
    },
    async stop() {
      await run(path.join(repo, 'tests/lib/s3-stop'), [dir]).catch(() => {});
    },
  };
  return s3;
}

// ---- chunks ----

// The video and audio packets of one chunk as ffprobe reads them (no decoding): for each track,
// first pts, end (last pts + duration), packet count, and whether the first video packet is a
// keyframe. Times in seconds.
export async function probeChunk(file) {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries',
    'packet=codec_type,pts_time,duration_time,flags', '-of', 'csv=p=0', file],
  { maxBuffer: 64 << 20 });
  const tracks = { video: null, audio: null };
  for (const line of stdout.split('\n')) {
    const [type, pts, dur, flags] = line.split(',');
    if (type !== 'video' && type !== 'audio') continue;
    const t = Number(pts);
    const d = Number(dur) || 0;
    let s = tracks[type];
    if (!s) s = tracks[type] = { start: t, end: t + d, packets: 0, firstKey: (flags || '').includes('K') };
    s.start = Math.min(s.start, t);
    s.end = Math.max(s.end, t + d);
    s.packets++;
  }
  if (!tracks.video) throw new Error(`${file}: no video packets`);
  return { file, bytes: statSync(file).size, ...tracks, duration: tracks.video.end - tracks.video.start };
}

// Decodes every frame; throws with ffmpeg's complaint if any is broken.
export async function decodes(file) {
  const { stderr } = await run('ffmpeg', ['-hide_banner', '-v', 'error', '-xerror', '-i', file,
    '-f', 'null', '-'], { maxBuffer: 16 << 20 });
  if (stderr.trim()) throw new Error(`${file} does not decode cleanly: ${stderr.slice(0, 400)}`);
}

// The top-level boxes of an fMP4 chunk must be whole: ftyp, moov, then moof+mdat pairs whose
// sizes add up to the file's (a chunk cut off by a crash and not repaired ends mid-box, which
// ffmpeg reads without a word). Returns the number of fragments.
export function checkBoxes(file) {
  const b = readFileSync(file);
  const types = [];
  for (let off = 0; off < b.length;) {
    if (off + 8 > b.length) throw new Error(`${file}: ${b.length - off} stray bytes at the end`);
    let len = b.readUInt32BE(off);
    if (len === 1) len = Number(b.readBigUInt64BE(off + 8));
    const type = b.toString('latin1', off + 4, off + 8);
    if (len < 8 || off + len > b.length)
      throw new Error(`${file}: box '${type}' at ${off} is cut off (${len} bytes, ${b.length - off} left)`);
    types.push(type);
    off += len;
  }
  const shape = types.join(' ');
  if (!/^ftyp moov( moof mdat)+$/.test(shape)) throw new Error(`${file}: boxes ${shape.slice(0, 200)}`);
  return (types.length - 2) / 2;
}

// Probes and decodes every chunk (in order) and checks they are contiguous: each one starts with
// a keyframe, and its first video pts is the previous chunk's first pts plus its duration
// (within `tolerance` s: the fragments' decode times keep counting across chunks). Returns the
// probes and the total video duration.
export async function checkChunks(files, { tolerance = 0.1 } = {}) {
  const probes = [];
  for (const f of files) {
    checkBoxes(f);
    await decodes(f);
    probes.push(await probeChunk(f));
  }
  for (let i = 0; i < probes.length; i++) {
    const p = probes[i];
    if (!p.video.firstKey) throw new Error(`${path.basename(p.file)} does not start with a keyframe`);
    if (i === 0) continue;
    const prev = probes[i - 1];
    const gap = p.video.start - (prev.video.start + prev.duration);
    if (Math.abs(gap) > tolerance)
      throw new Error(`${path.basename(p.file)} starts at ${p.video.start.toFixed(3)} s, ` +
        `${gap.toFixed(3)} s after the previous chunk ended (${(prev.video.start + prev.duration).toFixed(3)} s)`);
    if (p.audio && prev.audio && Math.abs(p.audio.start - prev.audio.end) > tolerance)
      throw new Error(`${path.basename(p.file)}: audio starts at ${p.audio.start.toFixed(3)} s, ` +
        `the previous chunk's ended at ${prev.audio.end.toFixed(3)} s`);
  }
  const total = probes.reduce((s, p) => s + p.duration, 0);
  return { probes, total };
}

// The chunk files under a file: store's directory (recursively), sorted by key.
export function storedFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.mp4')) out.push(p);
    }
  };
  try { walk(dir); } catch (e) { if (e.code !== 'ENOENT') throw e; }
  return out.sort();
}

// Chunk files still in a spool (DATA/spool/<recording>/<seq>.mp4).
export function spoolFiles(dataDir) {
  return storedFiles(path.join(dataDir, 'spool'));
}

export function rmrf(p) {
  rmSync(p, { recursive: true, force: true });
}

