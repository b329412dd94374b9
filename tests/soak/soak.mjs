// The soak (issue 11): a sanitizer build of kibitka under everyday traffic for a given time, to
// find what only time finds: leaks, memory that is not given back, a media sequence that goes
// backwards, a recording chunk lost to an S3 outage. Not part of scripts/test (it runs for an
// hour by default); scripts/soak runs it.
//
//   node tests/soak/soak.mjs [--minutes 60] [--streams 3] [--whip-every 3] [--no-voice]
//                            [--bin build-test/kibitka] | --self-check
//
// What it does, until the time is up:
//   - publishers come and go: up to --streams at once, each live for 20 to 120 s under a stream
//     key of its own user, recorded in 10 s chunks to S3 (s3rver behind tests/lib/s3proxy.mjs),
//     ladder source + 360p. Every --whip-every'th publish (default 3rd) is WHIP: werift
//     (tests/e2e/lib/whip_feed.mjs) fed by ffmpeg (a baseline clip: H.264 copied, audio to Opus),
//     the stream key as Bearer token, ended with DELETE; the others RTMP (ffmpeg stream copy of
//     the same clip), all in real time;
//   - a voice room: now and then 3 werift members (tests/e2e/lib/voice.mjs) join, two speak for
//     20 to 60 s, then they go (leave, or the socket simply closed); each must have heard every
//     speaker but itself;
//   - two viewers per live stream follow its playlist with blocking reloads (_HLS_msn/_HLS_part)
//     and fetch the parts they are told about;
//   - API calls: login, /api/live, /api/recordings (list and details), /api/me, every few seconds;
//   - an S3 outage of 30 s every 10 minutes;
//   - a quiet point every 15 minutes (every third of the run when shorter than 45 minutes): no
//     publisher for 30 s, then the server's RSS and its heap's live bytes are read. The server
//     serves an ended stream's playlists for 10 s here (--hls-linger 10) and gives its heap back
//     2 s after (its heap_trim: in this ASan build the sanitizer's quarantine of freed blocks,
//     up to 256 MiB, is drained too), so that a quiet point's RSS holds what is still in use;
//     one more quiet point at the end;
// It fails (exit 1) on: a sanitizer report or a non-zero exit at SIGTERM; the server's own memory
// at a quiet point (its RSS less AddressSanitizer's shadow and allocator pages, plus its live
// heap: see quietPoint) more than 10 % over the first quiet point's, or a quiet-point live heap
// more than 10 % + 1 MiB over the first's (a memory failure does not stop the run); a media
// sequence that goes backwards within a publish;
// a recording whose chunks are not 1..n, not all uploaded, or whose duration misses the
// published time by more than 2 s plus one chunk (the cut at a stop); a failed API call (5xx);
// a WHIP publish refused or not connected, or its ffmpeg feed dying; a voice member not
// connected or not hearing a speaker; WebRTC sessions or voice members left at the end.
// `--self-check` runs only the recording and playlist checks against made-up bad input (a lost
// chunk, a chunk not uploaded, a media sequence going back) and exits 0 if each is caught.
// werift keeps UDP sockets open after close(): the script ends with process.exit.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
const WHIP_EVERY = Number(arg('whip-every', 3)); // 0: no WHIP publishes
const VOICE = !process.argv.includes('--no-voice');
process.env.KIBITKA_BIN = path.resolve(arg('bin', process.env.KIBITKA_BIN || path.join(repo, 'build-test/kibitka')));
process.env.KIBITKA_E2E_DIR ||= mkdtempSync(path.join(os.tmpdir(), 'kibitka-soak-'));
const { startServer, testClip, publish, sleep, binary, workDir } = await import('../e2e/lib/server.mjs');
const { whipFeed } = await import('../e2e/lib/whip_feed.mjs');
const { opusTones, voiceJoin, allConnected, payloadIndex } = await import('../e2e/lib/voice.mjs');

const failures = [];
const fail = (what) => { failures.push(what); console.log(`FAIL ${what}`); };
// A memory check that fails does not stop the run: the quiet points after it show whether the
// memory keeps growing or levels off.
let memoryFailures = 0;
const failMemory = (what) => { memoryFailures++; fail(what); };
const running = () => failures.length === memoryFailures;

// The checks on a recording's details (GET /api/recordings/ID) and on a playlist's media
// sequence, apart so that --self-check can show they catch what they are for.
function checkRecording(d, label) {
  const seqs = (d.chunk_list || []).map((c) => c.seq);
  if (d.state !== 'ready') fail(`${label}: ${d.state}`);
  if (seqs.length === 0 || seqs.join() !== seqs.map((_, i) => i + 1).join()) fail(`${label}: chunks ${seqs}`);
  if (d.chunks_uploaded !== d.chunks || d.chunks !== seqs.length)
    fail(`${label}: ${d.chunks_uploaded} of ${d.chunks} uploaded, ${seqs.length} listed`);
  return seqs.length;
}
const mediaSequence = (text) => Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1]);
function checkSequence(label, last, text) {
  const seq = mediaSequence(text);
  if (seq < last) fail(`${label}: media sequence went back from ${last} to ${seq}`);
  return Number.isNaN(seq) ? last : seq;
}
if (process.argv.includes('--self-check')) {
  const rec = (seqs, up = seqs.length) => ({ state: 'ready', chunks: seqs.length, chunks_uploaded: up,
    chunk_list: seqs.map((seq) => ({ seq })) });
  const caught = (f) => { const n = failures.length; f(); return failures.length > n; };
  const cases = [
    ['good recording passes', !caught(() => checkRecording(rec([1, 2, 3]), 'good'))],
    ['lost chunk caught', caught(() => checkRecording(rec([1, 3, 4]), 'lost'))],
    ['chunk not uploaded caught', caught(() => checkRecording(rec([1, 2, 3], 2), 'not uploaded'))],
    ['no chunk caught', caught(() => checkRecording(rec([]), 'empty'))],
    ['sequence going on passes', !caught(() => checkSequence('on', 7, '#EXT-X-MEDIA-SEQUENCE:8\n'))],
    ['sequence going back caught', caught(() => checkSequence('back', 7, '#EXT-X-MEDIA-SEQUENCE:6\n'))],
  ];
  for (const [what, ok] of cases) console.log(`${ok ? 'ok' : 'NOT OK'} ${what}`);
  process.exit(cases.every(([, ok]) => ok) ? 0 : 1);
}
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 60000).toFixed(1)} min`;
const log = (s) => console.log(`[${elapsed()}] ${s}`);

const clip = testClip({ seconds: 30, size: '1280x720' }); // made once per work directory
// The WHIP publishers' clip: H.264 constrained baseline as browsers send it (no B-frames: RTP
// carries no decode times, and frames whose time does not increase are dropped), the same
// picture and tone, made once. In MPEG-TS: Annex B with SPS/PPS before each keyframe, as RTP
// wants it, with no bitstream filter (from an FLV, -stream_loop with -bsf:v h264_mp4toannexb
// ends the video at the first loop, "A non-NULL packet sent after an EOF", ffmpeg 5.1, while
// the audio goes on: a recording of the first 30 s only).
const clipTs = path.join(workDir, 'clip-1280x720-baseline-30.ts');
if (!existsSync(clipTs)) {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '30', '-c:v', 'libx264', '-preset', 'veryfast',
    '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-g', '60', '-keyint_min', '60', '-sc_threshold', '0',
    '-b:v', '2500k', '-maxrate', '2500k', '-bufsize', '5000k', '-c:a', 'aac', '-b:a', '128k', '-ac', '2', clipTs + '.tmp.ts']);
  execFileSync('mv', [clipTs + '.tmp.ts', clipTs]);
}

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
  '--ladder', 'source,360p:600k', '--x264-preset', 'ultrafast', '--log-level', 'info',
  '--hls-linger', '10']);
log(`kibitka pid ${srv.proc.pid}, S3 at ${endpoint}, for ${MINUTES} min with up to ${STREAMS} streams` +
  `${WHIP_EVERY ? `, every ${WHIP_EVERY}. publish WHIP` : ''}${VOICE ? ', a voice room' : ''}`);

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
async function viewer(slot, kind, stop) {
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
    if (stop.done) break; // the publish ended while this reload waited: the next one starts anew
    lastSeq = checkSequence(`${slot.name} (${kind})`, lastSeq, text);
    if (text.includes('#EXT-X-ENDLIST')) break;
    const parts = [...text.matchAll(/#EXT-X-PART:[^\n]*URI="([^"]+)"/g)].map((m) => m[1]);
    if (parts.length) await fetch(base + parts[parts.length - 1]).then((r) => r.arrayBuffer()).catch(() => {});
    const hint = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-[0-9a-f]+-(\d+)\.(\d+)\.m4s"/.exec(text);
    if (hint) { msn = Number(hint[1]); part = Number(hint[2]); } else await sleep(500);
  }
}

// A publish: RTMP (ffmpeg to the RTMP port) or WHIP (werift fed by ffmpeg over loopback RTP).
// slot.pub.ready settles once a WHIP publish has its answer and is connected (or has failed).
let publishCount = 0;
const kinds = { rtmp: 0, whip: 0 };
function startPublisher(slot) {
  const kind = WHIP_EVERY > 0 && ++publishCount % WHIP_EVERY === 0 ? 'whip' : 'rtmp';
  kinds[kind]++;
  const p = { kind, seconds: 20 + Math.floor(Math.random() * 100), started: Date.now(),
    stop: { done: false }, failed: false };
  if (kind === 'rtmp') {
    p.pub = publish(srv.rtmpUrl(slot.key), clip, { loop: true });
    p.ready = Promise.resolve();
  } else {
    p.ready = startWhip(slot, p).catch((e) => { p.failed = true; fail(`${slot.name}: WHIP publish: ${e.message}`); });
  }
  slot.pub = p;
  log(`${slot.name}: ${kind} publish for ${p.seconds} s`);
  for (let v = 0; v < 2; v++) viewer(slot, kind, p.stop).catch((e) => fail(`viewer: ${e.message}`));
}
async function startWhip(slot, p) {
  const h = await whipFeed(srv.base, slot.key, {
    input: ['-re', '-stream_loop', '-1', '-i', clipTs], vmap: '0:v', amap: '0:a',
    video: ['-c:v', 'copy'],
    audio: ['-c:a', 'libopus', '-ac', '2', '-b:a', '64k'],
  });
  p.h = h;
  p.started = Date.now();
  if (h.status !== 201) {
    p.failed = true;
    fail(`${slot.name}: WHIP publish refused: ${h.status} ${h.answer.slice(0, 200)}`);
    return;
  }
  const deadline = Date.now() + 20000;
  while (h.pc.connectionState !== 'connected') {
    if (Date.now() > deadline) {
      p.failed = true;
      fail(`${slot.name}: WHIP publish not connected in 20 s: ${h.pc.connectionState}`);
      return;
    }
    await sleep(100);
  }
  log(`${slot.name}: WHIP connected ${((Date.now() - p.started) / 1000).toFixed(1)} s after the answer`);
  p.started = Date.now(); // the published time counts from here
}
async function stopPublisher(slot) {
  const p = slot.pub;
  await p.ready;
  // Stopped early (a quiet point, the end): live for 15 s at least, so that a WHIP publish
  // (connected, then started at a keyframe once both tracks' sender reports are in) is recorded.
  if (!p.failed && Date.now() - p.started < 15000) await sleep(15000 - (Date.now() - p.started));
  if (p.kind === 'rtmp') await p.pub.stop();
  else if (p.h) {
    const { h } = p;
    if (h.ff && h.ff.exitCode !== null) {
      p.failed = true;
      fail(`${slot.name}: the WHIP publish's ffmpeg exited early (${h.ff.exitCode}): ${h.ffErr.slice(0, 300)}`);
    }
    else {
      // ffmpeg's RTP output binds its RTCP socket at the RTP port + 1 and, when that is taken,
      // says "bind failed" and tries another pair: not an error of the publish.
      const said = h.ffErr.split('\n').filter((l) => l.trim() && !/\[udp @ \w+\] bind failed: Address already in use/.test(l));
      if (said.length) fail(`${slot.name}: the WHIP publish's ffmpeg said: ${said.join('\n').slice(0, 300)}`);
    }
    if (h.ff && h.ff.exitCode === null) h.ff.kill('SIGKILL');
    if (h.status === 201) {
      const r = await fetch(new URL(h.location, srv.base), { method: 'DELETE', signal: AbortSignal.timeout(15000) })
        .catch((e) => ({ status: e.message }));
      if (r.status !== 200) fail(`${slot.name}: DELETE of the WHIP session: ${r.status}`);
    }
    await h.stop();
  }
  p.stop.done = true;
  // A publish that failed is reported already; it has no recording to look for.
  if (!p.failed) slot.published.push({ seconds: (Date.now() - p.started) / 1000, kind: p.kind });
  slot.pub = null;
}

// The voice room: a session of three werift members, two of them speaking (Opus tones), for
// 20 to 60 s; at its end every member must have heard every speaker but itself.
const ROOM = 'soakroom';
const VOICE_NAMES = ['v0', 'v1', 'v2'];
let tones = null, whoIs = null, voice = null;
const voiceStats = { sessions: 0, members: 0 };
if (VOICE) {
  await call('POST', '/api/rooms', { token: admin, body: { name: ROOM, public: true } });
  tones = await opusTones(2);
  whoIs = payloadIndex(tones, VOICE_NAMES.slice(0, 2));
}
function startVoice() {
  // started: when the speakers started, once everyone has joined and connected.
  const v = { members: [], started: Infinity, seconds: 20 + Math.floor(Math.random() * 40) };
  voice = v;
  voiceStats.sessions++;
  log(`voice room: 3 members for ${v.seconds} s`);
  v.ready = joinVoice(v);
}
async function joinVoice(v) {
  const t = Date.now();
  try {
    for (let k = 0; k < VOICE_NAMES.length; k++) {
      const t = await call('POST', `/api/rooms/${ROOM}/token`, { token: admin, body: { guest: VOICE_NAMES[k] } });
      if (t.status !== 201) throw new Error(`join token: ${t.status} ${t.text.slice(0, 200)}`);
      v.members.push(await voiceJoin(srv.ws, ROOM, t.json.token, k < 2 ? { tones, tone: k, whoIs } : { whoIs }));
      voiceStats.members++;
    }
    await allConnected(v.members, 30000);
    v.members[0].speak(30);
    v.members[1].speak(40);
    v.started = Date.now();
    log(`voice room: all joined and connected in ${((v.started - t) / 1000).toFixed(1)} s`);
  } catch (e) {
    v.failed = true;
    fail(`voice room: ${e.message}`);
  }
}
async function stopVoice() {
  const v = voice;
  voice = null;
  await v.ready;
  const heardBy = (m) => {
    const heard = new Set();
    for (const s of m.slots) for (const pk of s.packets) heard.add(pk.from);
    return heard;
  };
  const speakers = VOICE_NAMES.slice(0, 2);
  if (!v.failed) {
    // Stopped early: until each has heard each other speaker, 15 s at most.
    const all = () => v.members.every((m, i) => speakers.every((n) => n === VOICE_NAMES[i] || heardBy(m).has(n)));
    for (const until = Date.now() + 15000; !all() && Date.now() < until;) await sleep(200);
    v.members.forEach((m, i) => {
      const heard = heardBy(m);
      for (const n of speakers) {
        if (n !== VOICE_NAMES[i] && !heard.has(n)) {
          const from = v.members[VOICE_NAMES.indexOf(n)];
          fail(`voice room: ${VOICE_NAMES[i]} did not hear ${n} (${((Date.now() - v.started) / 1000).toFixed(1)} s ` +
            `after the speakers started; its slots got ${m.slots.map((sl) => sl.packets.length).join('/')} packets, ` +
            `${n} sent ${from.sent}; ${v.members.map((x) => x.pc.connectionState).join('/')})`);
        }
      }
      if (heard.has(VOICE_NAMES[i])) fail(`voice room: ${VOICE_NAMES[i]} heard itself`);
    });
  }
  // Half the time a clean leave, else the signaling socket just closes (a tab closed).
  const clean = Math.random() < 0.5;
  await Promise.all(v.members.map((m) => (clean ? m.leave() : m.close()).catch((e) => fail(`voice leave: ${e.message}`))));
}

// The server's resident memory (KiB): the total, and its anonymous (heap, stacks, the sanitizer's
// shadow) and file-backed (code of the libraries as paths get used) parts.
function rssKiB(field = 'VmRSS') {
  const m = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${srv.proc.pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

const start = Date.now(); // the set-up (the clip, S3, the server) does not count
const end = start + MINUTES * 60000;
const QUIET_EVERY = Math.min(15, MINUTES / 3) * 60000;
let nextOutage = start + 10 * 60000, nextQuiet = start + QUIET_EVERY;
const quietRss = [], quietOwn = [], quietHeap = [];
// A quiet point (no publisher, no voice room for 30 s): the server's own memory must have come
// back to within 10 % of the first quiet point's, and its live heap to within 10 % (+ 1 MiB).
// Its own memory is its RSS less what AddressSanitizer keeps for itself, its shadow and its
// allocator's pages, plus the live heap those pages hold: an ASan build keeps what its
// allocator and shadow ever used, even after the purge (three hour runs: RSS +10.7 %, +11.3 %
// and +11.7 % from the 15 to the 30 minute point; in the third, ASan's heap pages +11.6 MiB and
// its shadow +5.6 MiB of the +18.8, the live heap 3.0 and 3.1 MiB), which says nothing of what the
// server holds or of what a release build gives back. Without ASan (--bin build/kibitka) its
// own memory is its RSS. The RSS is logged in full either way.
async function quietPoint(what = 'quiet point') {
  await sleep(30000);
  const rss = rssKiB(), heap = await heapBytes(), kinds = anonKinds();
  const asan = kinds.shadow + kinds['asan heap'];
  const own = asan > 0 ? rss - asan + heap / 1024 : rss;
  quietRss.push(rss);
  quietOwn.push(own);
  quietHeap.push(heap);
  log(`${what}: RSS ${(rss / 1024).toFixed(1)} MiB (anonymous ${(rssKiB('RssAnon') / 1024).toFixed(1)}, ` +
    `files ${(rssKiB('RssFile') / 1024).toFixed(1)}), heap in use ${(heap / 1048576).toFixed(1)} MiB, ` +
    `${rssKiB('Threads')} threads; anonymous by kind: ` +
    `${Object.entries(kinds).map(([k, v]) => `${k} ${(v / 1024).toFixed(1)}`).join(', ')}; ` +
    `own memory ${(own / 1024).toFixed(1)} MiB`);
  if (own > quietOwn[0] * 1.1)
    failMemory(`the server's own memory at a quiet point, ${(own / 1024).toFixed(1)} MiB, is over 110 % ` +
      `of the first quiet point's (${(quietOwn[0] / 1024).toFixed(1)} MiB)`);
  if (heap > quietHeap[0] * 1.1 + 1048576)
    failMemory(`heap in use at a quiet point ${(heap / 1048576).toFixed(1)} MiB is over 110 % of the first ` +
      `(${(quietHeap[0] / 1048576).toFixed(1)} MiB)`);
}
// The server's anonymous resident memory by kind (KiB), from /proc/PID/smaps: in an ASan build
// (x86-64) its shadow (1 byte per 8 of memory ever used, kept), its allocator's primary heap
// (live blocks, caches, pages not given back), libraries' written data, and the rest (thread
// stacks, large blocks, which ASan maps on their own). Their sum is RssAnon.
function anonKinds() {
  const kinds = { shadow: 0, 'asan heap': 0, libraries: 0, other: 0 };
  let kind = null;
  for (const line of readFileSync(`/proc/${srv.proc.pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const lo = BigInt(`0x${head[1]}`), file = head[3];
      kind = file && !file.startsWith('[') ? 'libraries' // file-backed: its copied pages
        : lo >= 0x7fff8000n && lo < 0x10007fff8000n ? 'shadow'
          : lo >= 0x600000000000n && lo < 0x640000000000n ? 'asan heap' : 'other';
      continue;
    }
    const rss = /^Anonymous:\s+(\d+) kB/.exec(line);
    if (rss && kind) kinds[kind] += Number(rss[1]);
  }
  return kinds;
}
async function heapBytes() {
  const text = await (await fetch(`${srv.base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('kibitka_heap_in_use_bytes '));
  return line ? Number(line.split(' ').pop()) : NaN;
}
let apiCalls = 0;
while (Date.now() < end && running()) {
  for (const s of slots) {
    if (s.pub && Date.now() - s.pub.started > s.pub.seconds * 1000) await stopPublisher(s);
    else if (!s.pub && Math.random() < 0.3) startPublisher(s);
  }
  if (VOICE) {
    if (voice && Date.now() - voice.started > voice.seconds * 1000) await stopVoice();
    else if (!voice && Math.random() < 0.1) startVoice();
  }
  if (Date.now() > nextOutage) {
    await fetch(`${endpoint}/__fault`, { method: 'POST', body: JSON.stringify({ kind: 'outage', seconds: 30 }) });
    log('S3 outage for 30 s');
    nextOutage += 10 * 60000;
  }
  if (Date.now() > nextQuiet) {
    for (const s of slots) if (s.pub) await stopPublisher(s);
    if (voice) await stopVoice();
    await quietPoint();
    nextQuiet += QUIET_EVERY;
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
if (voice) await stopVoice();
if (running()) await quietPoint('the end, quiet');
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
    fail(`${slot.name}: ${mine.length} recordings for ${slot.published.length} publishes ` +
      `(${slot.published.map((p) => p.kind).join(' ')})`);
  for (const [i, r] of mine.entries()) {
    const d = (await call('GET', `/api/recordings/${r.id}`, { token: admin })).json;
    chunksSeen += checkRecording(d, `recording ${r.id} of ${slot.name} (${slot.published[i]?.kind})`);
  }
  // Durations: the recordings in publish order against what was published.
  mine.forEach((r, i) => {
    const pub = slot.published[i];
    if (pub !== undefined && Math.abs(r.duration_seconds - pub.seconds) > 12)
      fail(`recording ${r.id} of ${slot.name} (${pub.kind}): ${r.duration_seconds.toFixed(1)} s recorded of ${pub.seconds.toFixed(1)} s published`);
  });
}
// Nothing WebRTC left: the WHIP sessions ended by DELETE, the voice members by leave or by
// their socket's close (their media sessions then by ICE consent, 30 s at most).
const gauges = ['kibitka_webrtc_sessions{kind="whip"}', 'kibitka_webrtc_sessions{kind="sfu"}', 'kibitka_voice_members'];
const gaugeValues = async () => {
  const text = await (await fetch(`${srv.base}/metrics`)).text();
  return gauges.map((g) => Number(text.split('\n').find((l) => l.startsWith(g + ' '))?.split(' ').pop() ?? 0));
};
let left = await gaugeValues();
for (const until = Date.now() + 60000; left.some((x) => x !== 0) && Date.now() < until; left = await gaugeValues()) await sleep(1000);
if (left.some((x) => x !== 0)) fail(`left at the end: ${gauges.map((g, i) => `${g} ${left[i]}`).join(', ')}`);

const stopped = await srv.stop();
const serverLog = srv.log();
if (/ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:/.test(serverLog))
  fail(`sanitizer report:\n${serverLog.split('\n').filter((l) => /Sanitizer|runtime error/.test(l)).slice(0, 10).join('\n')}`);
if (stopped.code !== 0) fail(`kibitka exited ${stopped.code} ${stopped.signal || ''} at SIGTERM`);
execFileSync(path.join(repo, 'tests/lib/s3-stop'), [s3dir]);

const publishes = slots.reduce((n, s) => n + s.published.length, 0);
if (publishes === 0 || chunksSeen === 0) fail(`nothing was soaked: ${publishes} publishes, ${chunksSeen} chunks`);
if (failures.length === 0 && quietRss.length < 2)
  fail('fewer than two quiet points: run for 3 minutes or more');
log(`${publishes} publishes (${kinds.rtmp} RTMP, ${kinds.whip} WHIP started), ${recs.length} recordings, ` +
  `${chunksSeen} chunks, ${apiCalls} API calls, ${voiceStats.sessions} voice sessions (${voiceStats.members} joins); ` +
  `quiet-point RSS (MiB): ${quietRss.map((k) => (k / 1024).toFixed(1)).join(', ') || 'none'}; ` +
  `own memory (MiB): ${quietOwn.map((k) => (k / 1024).toFixed(1)).join(', ') || 'none'}; ` +
  `heap in use (MiB): ${quietHeap.map((b) => (b / 1048576).toFixed(1)).join(', ') || 'none'}`);
if (failures.length) {
  writeFileSync(path.join(workDir, 'kibitka.log'), serverLog);
  console.log(`soak FAILED (${failures.length}): kept ${workDir} (the server's log in kibitka.log)`);
  process.exit(1);
}
rmSync(workDir, { recursive: true, force: true });
console.log('soak passed');
process.exit(0); // werift's UDP sockets would keep the process alive
