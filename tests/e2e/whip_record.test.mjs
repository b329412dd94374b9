// A WHIP publish gets what an RTMP publish gets (issue 13): recorded with the source's codecs
// (H.264 + Opus: 'avc1' + 'Opus'; VP8 + Opus: 'vp08' + 'Opus'), chunks uploaded to the file:
// store, recording.ready and stream.live/stream.ended webhooks, the recording's VOD playlist
// decoded by ffmpeg; a VP8 source gets no passthrough rendition (the default ladder encodes
// every rung, each decoded at its advertised size), and with --ladder none it is refused.
// The publisher is werift fed by ffmpeg RTP, as tests/e2e/lib/whip.mjs (copied here with a
// frame size option, which that shared file does not have).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RTCPeerConnection, MediaStreamTrack, RTCRtpCodecParameters } from 'werift';
import { startServer, waitFor, binary, workDir, fetchText, DEFAULT_LADDER } from './lib/server.mjs';
import { webhookReceiver } from './lib/hooks.mjs';

const execFileP = promisify(execFile);
const SECONDS = 12;
const ADMIN_PW = 'admin-pass-1';

// ---- the publisher (lib/whip.mjs' whipPublish, with `size`) ----

const H264 = new RTCRtpCodecParameters({
  mimeType: 'video/H264', clockRate: 90000, payloadType: 102,
  rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
  parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
});
const VP8 = new RTCRtpCodecParameters({
  mimeType: 'video/VP8', clockRate: 90000, payloadType: 96,
  rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
});
const OPUS = new RTCRtpCodecParameters({
  mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: 111,
});

function udpSink(onPacket) {
  const sock = dgram.createSocket('udp4');
  sock.on('message', onPacket);
  return new Promise((resolve) => sock.bind(0, '127.0.0.1', () => resolve(sock)));
}

function ffmpegRtp(vport, aport, { codec, size, seconds }) {
  const v = codec === 'vp8'
    ? ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '800k', '-g', '60']
    : ['-c:v', 'libx264', '-profile:v', 'baseline', '-preset', 'veryfast', '-tune', 'zerolatency',
      '-pix_fmt', 'yuv420p', '-g', '60', '-b:v', '1000k', '-bsf:v', 'dump_extra'];
  const args = ['-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=30`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(seconds),
    '-map', '0:v', ...v, '-payload_type', codec === 'vp8' ? '96' : '102', '-ssrc', '1111',
    '-f', 'rtp', `rtp://127.0.0.1:${vport}?pkt_size=1200`,
    '-t', String(seconds), // per output: the tone never ends
    '-map', '1:a', '-c:a', 'libopus', '-ac', '2', '-b:a', '64k', '-payload_type', '111',
    '-ssrc', '2222', '-f', 'rtp', `rtp://127.0.0.1:${aport}?pkt_size=1200`];
  const proc = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, exited };
}

async function whipPublish(base, key, { codec = 'h264', size = '640x360', seconds = SECONDS } = {}) {
  const pc = new RTCPeerConnection({
    codecs: { video: [codec === 'vp8' ? VP8 : H264], audio: [OPUS] }, iceUseIpv6: false,
    iceServers: [], // werift's default is a public STUN server: nothing leaves this host
  });
  const video = new MediaStreamTrack({ kind: 'video' });
  const audio = new MediaStreamTrack({ kind: 'audio' });
  pc.addTransceiver(video, { direction: 'sendonly' });
  pc.addTransceiver(audio, { direction: 'sendonly' });
  await pc.setLocalDescription(await pc.createOffer());
  if (pc.iceGatheringState !== 'complete') {
    await new Promise((resolve) => {
      pc.iceGatheringStateChange.subscribe((s) => { if (s === 'complete') resolve(); });
      setTimeout(resolve, 3000);
    });
  }
  const r = await fetch(`${base}/whip`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${key}` },
    body: pc.localDescription.sdp,
    signal: AbortSignal.timeout(15000),
  });
  const answer = await r.text();
  const h = {
    status: r.status, location: r.headers.get('location'), ff: null, socks: [],
    async stop() {
      if (this.ff && this.ff.proc.exitCode === null) this.ff.proc.kill('SIGKILL');
      for (const s of this.socks) s.close();
      await pc.close();
    },
    del() {
      return fetch(new URL(this.location, base), { method: 'DELETE', signal: AbortSignal.timeout(10000) });
    },
  };
  if (r.status !== 201) return h;
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  const vs = await udpSink((buf) => { try { video.writeRtp(buf); } catch { /* closed */ } });
  const as = await udpSink((buf) => { try { audio.writeRtp(buf); } catch { /* closed */ } });
  h.socks = [vs, as];
  h.ff = ffmpegRtp(vs.address().port, as.address().port, { codec, size, seconds });
  return h;
}

// ---- helpers ----

const srvLine = (srv, re) => (srv.log().match(re) || ['(no such line)'])[0];

// Async: the werift publisher lives in this process, and a synchronous child would stop it.
async function ffprobeJson(url, args) {
  const { stdout } = await execFileP('ffprobe', ['-v', 'error', ...args, '-of', 'json', url],
    { encoding: 'utf8', timeout: 60000, maxBuffer: 64 << 20 });
  return JSON.parse(stdout);
}

// Decodes url to null: ffmpeg's exit code and what it said at -v error.
async function decodeStderr(url) {
  try {
    const { stderr } = await execFileP('ffmpeg', ['-nostdin', '-v', 'error', '-i', url, '-f', 'null', '-'],
      { encoding: 'utf8', timeout: 60000 });
    return { code: 0, err: stderr };
  } catch (e) {
    return { code: e.code, err: String(e.stderr || e.message) };
  }
}

async function api(srv, method, p, token) {
  const res = await fetch(srv.base + p, {
    method, headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(10000),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

// A server with an admin user (to read the _open recordings), a webhook receiver, small chunks.
async function serverWithAdmin(extra) {
  const dir = mkdtempSync(path.join(workDir, 'whip-rec-'));
  execFileSync(binary, ['user', 'add', 'admin', '--admin', '--password-stdin', '--data', dir],
    { input: `${ADMIN_PW}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
  const rx = await webhookReceiver();
  const srv = await startServer(['--open-publish', '--data', dir, '--record-chunk', '4',
    '--webhook', rx.url, ...extra]);
  const login = await fetch(`${srv.base}/api/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: ADMIN_PW }),
  });
  const token = (await login.json()).token;
  return { dir, rx, srv, token };
}

// Publishes `seconds`, ends the session with DELETE, and waits for recording.ready.
async function publishAndRecord(s, name, opts) {
  const h = await whipPublish(s.srv.base, name, opts);
  assert.equal(h.status, 201);
  try {
    const live = await waitFor(async () => {
      const l = await api(s.srv, 'GET', '/api/recordings', s.token);
      return l.json.recordings.find((x) => x.stream === name && x.state === 'recording');
    }, { timeout: 20000, what: 'a recording in progress' });
    assert.equal(live.user, '_open');
    assert.equal(await h.ff.exited, 0, 'ffmpeg published to the end');
    assert.equal((await h.del()).status, 200);
  } finally {
    await h.stop();
  }
  const ready = await waitFor(() => s.rx.events.find((e) => e.type === 'recording.ready'
    && e.data.stream === name), { timeout: 30000, what: 'recording.ready' });
  return ready.data;
}

// The core checks of recordings_api.test.mjs on a ready recording: its row, the chunks in the
// store decoding cleanly with the expected sample entries, its duration, the VOD playlist.
async function checkRecording(s, ready, { video, audio }) {
  const r = await api(s.srv, 'GET', `/api/recordings/${ready.id}`, s.token);
  assert.equal(r.status, 200, r.text);
  const detail = r.json;
  assert.deepEqual([detail.state, detail.user, detail.stream], ['ready', '_open', ready.stream]);
  console.log(`# ${ready.stream}: ${detail.chunk_list.length} chunks, ${detail.duration_seconds} s`);
  // ffmpeg starts sending when the answer is in; what it sends before werift's DTLS is up is
  // lost, and the recording starts at the next keyframe (every 2 s): up to a GOP or two short.
  assert.ok(detail.duration_seconds > SECONDS - 5 && detail.duration_seconds < SECONDS + 1.5,
    `duration ${detail.duration_seconds}`);
  assert.ok(detail.chunk_list.length >= 2, 'cut into chunks of 4 s');
  assert.equal(detail.chunk_list.length, ready.chunks.length);
  for (const c of detail.chunk_list) {
    assert.equal(c.state, 'uploaded');
    const file = path.join(s.dir, 'recordings', c.object_key);
    assert.ok(existsSync(file), file);
    assert.equal(readFileSync(file).length, c.bytes);
    const p = await ffprobeJson(file, ['-show_entries', 'stream=codec_type,codec_name,codec_tag_string,width,height,sample_rate,channels']);
    const byType = Object.fromEntries(p.streams.map((st) => [st.codec_type, st]));
    assert.deepEqual([byType.video?.codec_name, byType.video?.codec_tag_string], video, `chunk ${c.seq} video`);
    assert.deepEqual([byType.audio?.codec_name, byType.audio?.codec_tag_string], audio, `chunk ${c.seq} audio`);
    assert.equal(byType.audio.sample_rate, '48000');
    assert.equal(byType.audio.channels, 2);
    const d = await decodeStderr(file);
    assert.deepEqual([d.code, d.err.trim()], [0, ''], `chunk ${c.seq} decodes without an error`);
  }
  // The VOD playlist by its signed URL, decoded over HTTP: both tracks, about the published time.
  const playlistUrl = s.srv.base + detail.playlist_url;
  const text = (await fetchText(playlistUrl)).text;
  assert.match(text, /#EXT-X-PLAYLIST-TYPE:VOD/);
  assert.equal(text.match(/#EXT-X-MAP/g).length, detail.chunk_list.length);
  const d = await decodeStderr(playlistUrl);
  assert.deepEqual([d.code, d.err.trim()], [0, ''], 'the VOD playlist decodes without an error');
  const pk = await ffprobeJson(playlistUrl, ['-show_entries', 'stream=codec_name:packet=stream_index,pts_time']);
  const names = pk.streams.map((st) => st.codec_name).sort();
  assert.deepEqual(names, [audio[0], video[0]].sort());
  const vi = pk.streams.findIndex((st) => st.codec_name === video[0]);
  const ts = pk.packets.filter((p) => p.stream_index === vi).map((p) => Number(p.pts_time));
  const span = Math.max(...ts) - Math.min(...ts);
  console.log(`# ${ready.stream}: VOD playlist ${ts.length} video frames over ${span.toFixed(2)} s`);
  assert.ok(Math.abs(span - detail.duration_seconds) < 1, `span ${span}`);
  assert.ok(ts.length > (detail.duration_seconds - 1) * 30 * 0.9, `frames ${ts.length}`);
}

function checkStreamHooks(rx, name) {
  const mine = rx.events.filter((e) => e.data && (e.data.name === name || e.data.stream === name));
  assert.deepEqual(mine.map((e) => e.type), ['stream.live', 'stream.ended', 'recording.ready']);
  for (const e of mine) {
    assert.match(e.id, /\S/);
    assert.match(e.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
  const rr = mine[2].data;
  assert.equal(rr.user, '_open');
  assert.ok(rr.chunks.length >= 2);
}

// ---- tests ----

// werift 0.25 leaves a UDP socket open after pc.close() now and then, which would keep this
// file's process alive once everything is done: end it (unref'd: only then), as whip.test.mjs.
after(() => { setTimeout(() => process.exit(), 2000).unref(); });

test('WHIP H.264 + Opus: recorded as avc1 + Opus, uploaded, webhooks, VOD playlist', { timeout: 90000 }, async () => {
  const s = await serverWithAdmin([]);
  try {
    const ready = await publishAndRecord(s, 'whiph264', { codec: 'h264' });
    checkStreamHooks(s.rx, 'whiph264');
    await checkRecording(s, ready, { video: ['h264', 'avc1'], audio: ['opus', 'Opus'] });
    assert.doesNotMatch(s.srv.log(), /is not recorded/);
  } finally {
    const { code } = await s.srv.stop();
    writeFileSync(path.join(s.dir, 'server.log'), s.srv.log()); // for a failure's post-mortem
    await s.rx.close();
    assert.equal(code, 0, s.srv.log());
  }
});

test('WHIP VP8 + Opus, default ladder: every rung encoded, no passthrough; recorded as vp08 + Opus', { timeout: 120000 }, async () => {
  const s = await serverWithAdmin(['--ladder', DEFAULT_LADDER]);
  try {
    const h = await whipPublish(s.srv.base, 'whipvp8', { codec: 'vp8', size: '854x480' });
    assert.equal(h.status, 201);
    let mv;
    try {
      // The multivariant playlist: the 480p rung encoded at the source's size instead of the
      // source, the 360p rung below it, the audio (Opus transcoded to AAC) shared.
      mv = await waitFor(async () => {
        const r = await fetchText(`${s.srv.base}/hls/whipvp8/index.m3u8`, { timeout: 20000 });
        return r.status === 200 && (r.text.match(/#EXT-X-STREAM-INF/g) || []).length >= 2 && r.text;
      }, { timeout: 40000, what: 'the multivariant playlist with both rungs' });
      assert.equal(await h.ff.exited, 0, 'ffmpeg published to the end');
      assert.equal((await h.del()).status, 200);
    } finally {
      await h.stop();
    }
    assert.doesNotMatch(mv, /source\//, 'no passthrough rendition');
    assert.doesNotMatch(mv, /TYPE=AUDIO/); // the audio is muxed into each rung
    const variants = [...mv.matchAll(/#EXT-X-STREAM-INF:([^\n]*)\n([^\n]+)/g)].map((m) => ({
      uri: m[2], res: m[1].match(/RESOLUTION=(\d+)x(\d+)/).slice(1).map(Number),
      codecs: m[1].match(/CODECS="([^"]+)"/)[1],
    }));
    assert.deepEqual(variants.map((v) => v.uri).sort(), ['360p/media.m3u8', '480p/media.m3u8']);
    // Each rendition, ended (ENDLIST; served --hls-linger 60 s): decoded whole without an error,
    // every frame at its advertised size.
    for (const v of variants) {
      assert.match(v.codecs, /^avc1\.[0-9a-f]{6},mp4a\.40\.2$/);
      const url = `${s.srv.base}/hls/whipvp8/${v.uri}`;
      const d = await decodeStderr(url);
      assert.deepEqual([d.code, d.err.trim()], [0, ''], `${v.uri} decodes without an error`);
      const p = await ffprobeJson(url, ['-select_streams', 'v', '-show_entries', 'frame=width,height,best_effort_timestamp_time']);
      const sizes = new Set(p.frames.map((f) => `${f.width}x${f.height}`));
      const ts = p.frames.map((f) => Number(f.best_effort_timestamp_time));
      const span = Math.max(...ts) - Math.min(...ts);
      console.log(`# ${v.uri}: ${p.frames.length} frames decoded over ${span.toFixed(2)} s, sizes ${[...sizes]}`);
      assert.deepEqual([...sizes], [v.res.join('x')]);
      // A rung that lags on a loaded box encodes keyframes only for a while (transcode/README):
      // frames may be missing, not time.
      assert.ok(span > SECONDS - 4, `span ${span}`);
    }
    for (const v of variants) {
      const a = await ffprobeJson(`${s.srv.base}/hls/whipvp8/${v.uri}`, ['-select_streams', 'a', '-show_entries', 'stream=codec_name']);
      assert.equal(a.streams[0]?.codec_name, 'aac', `${v.uri}: ${JSON.stringify(a.streams)}`);
    }
    assert.match(s.srv.log(), /the source \(vp8 video\) is not playable in browsers: it is not passed through, a 480p rung is encoded/);
    const ready = await waitFor(() => s.rx.events.find((e) => e.type === 'recording.ready'),
      { timeout: 30000, what: 'recording.ready' });
    checkStreamHooks(s.rx, 'whipvp8');
    await checkRecording(s, ready.data, { video: ['vp8', 'vp08'], audio: ['opus', 'Opus'] });
  } finally {
    const { code } = await s.srv.stop();
    writeFileSync(path.join(s.dir, 'server.log'), s.srv.log()); // for a failure's post-mortem
    await s.rx.close();
    assert.equal(code, 0, s.srv.log());
  }
});

test('WHIP VP8 with --ladder none: refused at the start, the session ends, the log says why', { timeout: 60000 }, async () => {
  const srv = await startServer(['--open-publish', '--ladder', 'none']);
  const h = await whipPublish(srv.base, 'whipvp8none', { codec: 'vp8', seconds: 8 });
  try {
    assert.equal(h.status, 201); // the offer is fine; the hub refuses once the media is known
    await waitFor(() => /publish refused: the source is vp8 video/.test(srv.log()),
      { timeout: 20000, what: 'the refusal in the log' });
    // The session is gone: its resource answers 404, nothing is served or recorded.
    await waitFor(async () => (await h.del()).status === 404, { timeout: 10000, what: 'the session ended' });
    assert.equal((await fetchText(`${srv.base}/hls/whipvp8none/index.m3u8`, { timeout: 20000 })).status, 404);
    assert.doesNotMatch(srv.log(), /recorder stream=whipvp8none recording/);
  } finally {
    await h.stop();
    const { code } = await srv.stop();
    assert.equal(code, 0, srv.log());
  }
});

test('WHIP VP8 + Opus, kill -9 mid-chunk: the cut chunk is recovered, uploaded and decodes', { timeout: 90000 }, async () => {
  // A 240p rung alone: VP8 needs a ladder to be served, and this one costs little.
  const flags = ['--open-publish', '--record-chunk', '2', '--ladder', '240p:300k'];
  const srv = await startServer(flags);
  const h = await whipPublish(srv.base, 'whipcrash', { codec: 'vp8', size: '320x240', seconds: 30 });
  let cut;
  try {
    assert.equal(h.status, 201);
    // Chunk 3 (4-6 s) open with a fragment on disk: chunks 1 and 2 closed before it.
    cut = await waitFor(() => {
      const spool = path.join(srv.dataDir, 'spool');
      for (const id of existsSync(spool) ? readdirSync(spool) : []) {
        const f = path.join(spool, id, '000003.mp4');
        if (existsSync(f) && readFileSync(f).includes('moof')) return f;
      }
      return null;
    }, { timeout: 40000, what: 'chunk 3 with a fragment in the spool' }).catch((e) => {
      e.message += `\n--- server log (tail) ---\n${srv.log().slice(-4000)}`; // failed once under load
      srv.proc.kill('SIGKILL'); // not left running after the test
      throw e;
    });
    srv.proc.kill('SIGKILL');
    await srv.exited;
  } finally {
    await h.stop();
  }
  const again = await startServer([...flags, '--data', srv.dataDir]);
  try {
    await waitFor(() => /recording \w+ ready/.test(again.log()),
      { timeout: 30000, what: 'the recovered recording to be uploaded' });
    assert.match(again.log(), /recovered chunk 000003 of recording \w+: \d+ bytes, \d+ fragments/);
    assert.ok(!existsSync(cut), 'the spool file is gone once uploaded');
    const id = path.basename(path.dirname(cut));
    const stored = [];
    const walk = (d) => { for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p); else if (p.includes(id)) stored.push(p);
    } };
    walk(path.join(srv.dataDir, 'recordings'));
    stored.sort();
    assert.ok(stored.length >= 3, `${stored.length} chunks stored`);
    for (const f of stored) {
      const p = await ffprobeJson(f, ['-show_entries', 'stream=codec_name,codec_tag_string:format=duration']);
      assert.deepEqual(p.streams.map((st) => `${st.codec_name}/${st.codec_tag_string}`).sort(),
        ['opus/Opus', 'vp8/vp08'], path.basename(f));
      const d = await decodeStderr(f);
      assert.deepEqual([d.code, d.err.trim()], [0, ''], `${path.basename(f)} decodes without an error`);
    }
    console.log(`# recovered ${stored.length} chunks`);
    assert.equal((await again.stop()).code, 0, again.log());
  } finally {
    await again.stop();
  }
});
