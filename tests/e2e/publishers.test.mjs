// What publishers send that is not plain H.264 + AAC (issue 10, items 9 and 10): audio-only
// publishes (AAC, and MP3 served as AAC) are served as audio-only LL-HLS, played by hls.js and
// recorded; a publish whose video comes late starts audio-only after STREAM_VIDEO_WAIT_MS (2 s);
// a source browsers cannot decode (High 4:4:4, 4:2:2, High 10) is re-encoded at its size with a
// ladder and refused, with the reason, without one.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, fetchText, waitFor, sleep, workDir, DEFAULT_LADDER as LADDER } from './lib/server.mjs';
import { getPlaylist, listParts, probe } from './lib/hls.mjs';
import { flvTags, publishFlvSequence, closedWithin } from './lib/rtmp.mjs';
import { openPlayerPage, startPlayback } from './lib/player.mjs';

const servers = [];
after(() => Promise.all(servers.map((s) => s.stop())));

// An FLV file made once per machine with the given ffmpeg output options.
function makeFlv(name, inputs, opts) {
  mkdirSync(workDir, { recursive: true });
  const file = path.join(workDir, name);
  if (!existsSync(file)) {
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...inputs, ...opts,
      '-f', 'flv', file + '.tmp']);
    execFileSync('mv', [file + '.tmp', file]);
  }
  return file;
}

const TONE = ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'];
const testsrc = (size) => ['-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=30`];
const x264 = (pixFmt, profile) => ['-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', pixFmt,
  '-profile:v', profile, '-g', '60', '-keyint_min', '60', '-sc_threshold', '0'];

// ffmpeg publishing a file at its pace, with stream copy.
function publishFile(url, file) {
  const proc = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-i', file, '-c', 'copy',
    '-f', 'flv', url], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve) => proc.on('exit', (code) => resolve({ code, err })));
}

async function multivariant(base) {
  await waitFor(async () => (await fetchText(`${base}/index.m3u8`, { timeout: 20000 })).status === 200,
    { timeout: 30000, what: 'the multivariant playlist' });
  return getPlaylist(`${base}/index.m3u8`);
}

// The media playlist once it lists segment msn complete.
async function mediaWith(url, msn) {
  return waitFor(async () => {
    const p = await getPlaylist(url);
    return p.parsed.segments.filter((s) => s.uri).length + (p.parsed.mediaSequenceBase ?? 0) > msn ? p : null;
  }, { timeout: 20000, what: `segment ${msn} in ${url}` });
}

const initOf = (text, url) => new URL(text.match(/#EXT-X-MAP:URI="([^"]+)"/)[1], url).href;

// The first recorded chunk of the server's file store, once uploaded.
async function recordedChunk(srv) {
  return waitFor(() => {
    const out = spawnSync('find', [path.join(srv.dataDir, 'recordings'), '-name', '*.mp4'], { encoding: 'utf8' });
    return out.stdout.split('\n').filter(Boolean)[0];
  }, { timeout: 20000, what: 'a recorded chunk' });
}

function ffprobeJson(file, entries) {
  return JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_entries', entries, '-of', 'json', file]));
}

// Audio-only LL-HLS: one variant whose CODECS has only the audio codec and no RESOLUTION, parts
// that are all independent, media that decodes as AAC for as long as the playlist says.
async function checkAudioOnly(srv, name, { rate }) {
  const base = `${srv.base}/hls/${name}`;
  const { parsed, text } = await multivariant(base);
  assert.equal(parsed.variants.length, 1, text);
  assert.equal(parsed.variants[0].codecs, 'mp4a.40.2', text);
  assert.doesNotMatch(text, /RESOLUTION|EXT-X-MEDIA/, text);
  const url = new URL(parsed.variants[0].uri, `${base}/index.m3u8`).href;
  const list = await mediaWith(url, 1);
  const parts = listParts(list.text).filter((p) => p.msn <= 1);
  assert.ok(parts.length >= 4, list.text);
  assert.ok(parts.every((p) => p.independent), list.text);
  const streams = await probe(initOf(list.text, url), parts.map((p) => new URL(p.uri, url).href));
  assert.deepEqual(streams.map((s) => s.codec_type), ['audio'], JSON.stringify(streams));
  assert.equal(streams[0].codec_name, 'aac');
  assert.equal(Number(streams[0].sample_rate), rate);
  // What decodes lasts what the parts say, within a frame or two.
  const decoded = Number(streams[0].nb_read_frames) * 1024 / rate;
  const listed = parts.reduce((s, p) => s + p.dur, 0);
  assert.ok(Math.abs(decoded - listed) < 0.05, `decoded ${decoded.toFixed(3)} s, parts say ${listed.toFixed(3)} s`);
  return `${base}/index.m3u8`;
}

test('an AAC audio-only publish (ffmpeg -vn) is served as audio-only LL-HLS, played and recorded', async () => {
  const srv = await startServer(['--open-publish', '--ladder', LADDER]);
  servers.push(srv);
  const file = makeFlv('radio-aac.flv', TONE, ['-t', '14', '-vn', '-c:a', 'aac', '-b:a', '128k']);
  const pub = publishFile(srv.rtmpUrl('radio'), file);
  const index = await checkAudioOnly(srv, 'radio', { rate: 48000 });
  assert.match(srv.log(), /publish started: audio only, AAC-LC 48000 Hz/);

  const player = await openPlayerPage();
  try {
    await startPlayback(player.tab, index);
    const t0 = await player.tab.evaluate(() => document.getElementById('v').currentTime);
    await sleep(3000);
    const st = await player.tab.evaluate(() => ({ t: document.getElementById('v').currentTime, ...window.stats }));
    assert.ok(st.t - t0 > 2, `hls.js played ${(st.t - t0).toFixed(2)} s in 3 s: ${JSON.stringify(st)}`);
    assert.ok(!st.errors.some((e) => e.includes('fatal')), JSON.stringify(st.errors));
  } finally {
    await player.close();
  }

  const { code } = await pub;
  assert.equal(code, 0);
  const chunk = await recordedChunk(srv);
  const info = ffprobeJson(chunk, 'stream=codec_type,codec_name:format=duration');
  assert.deepEqual(info.streams.map((s) => `${s.codec_type}/${s.codec_name}`), ['audio/aac']);
  const dur = Number(info.format.duration);
  assert.ok(dur > 13 && dur < 14.5, `the recording lasts ${dur} s of a 14 s publish`);
});

test('an MP3 audio-only publish is served as AAC and recorded as MP3', async () => {
  const srv = await startServer(['--open-publish']);
  servers.push(srv);
  const file = makeFlv('radio-mp3.flv', TONE, ['-t', '10', '-vn', '-c:a', 'libmp3lame', '-b:a', '128k',
    '-ar', '44100']);
  const pub = publishFile(srv.rtmpUrl('mp3radio'), file);
  await checkAudioOnly(srv, 'mp3radio', { rate: 44100 });
  assert.match(srv.log(), /transcoded to AAC/);
  assert.equal((await pub).code, 0);
  const chunk = await recordedChunk(srv);
  const info = ffprobeJson(chunk, 'stream=codec_type,codec_name');
  assert.deepEqual(info.streams.map((s) => `${s.codec_type}/${s.codec_name}`), ['audio/mp3']);
});

// The AVC configuration comes at once but the first keyframe 4 s later (a camera that starts
// late): audio waits 2 s of media, the stream starts audio-only, and the late video is dropped
// with one warning.
test('a publish whose video starts late starts audio-only after 2 s of audio', async () => {
  const srv = await startServer(['--open-publish', '--ladder', LADDER]);
  servers.push(srv);
  const file = makeFlv('late-video.flv', [...testsrc('640x360'), ...TONE],
    ['-t', '10', ...x264('yuv420p', 'high'), '-c:a', 'aac', '-b:a', '128k']);
  const tags = flvTags(readFileSync(file)).filter((t) => t.type === 8 || t.data[1] === 0 || t.ts >= 4000);
  assert.equal(tags.find((t) => t.type === 9 && t.data[1] === 1).data[0] >> 4, 1, 'a keyframe first');
  const c = await publishFlvSequence(srv.rtmp, 'late', [tags]);
  const index = await checkAudioOnly(srv, 'late', { rate: 48000 });
  assert.ok(index);
  const log = srv.log();
  const at = (re) => Date.parse(log.split('\n').find((l) => re.test(l)).split(' ')[0]);
  const waited = (at(/publish started: audio only/) - at(/stream=late publishing from/)) / 1000;
  assert.ok(waited > 1.7 && waited < 3.5, `started audio-only ${waited} s after the publish`);
  assert.match(log, /no H.264 keyframe after 2.0 s of audio: the stream starts audio-only/);
  await waitFor(() => /dropping video that arrived after the stream started audio-only/.test(srv.log()),
    { timeout: 10000, what: 'the late video warning' });
  c.sock.destroy();
});

// Sources browsers cannot decode. libx264 here encodes all three.
const UNPLAYABLE = [
  { pixFmt: 'yuv444p', profile: 'high444', name: /High 4:4:4 Predictive, yuv444p/, codec: 'avc1.f4' },
  { pixFmt: 'yuv422p', profile: 'high422', name: /High 4:2:2, yuv422p/, codec: 'avc1.7a' },
  { pixFmt: 'yuv420p10le', profile: 'high10', name: /High 10, yuv420p10le/, codec: 'avc1.6e' },
];

test('with a ladder, a High 4:4:4 source is not passed through: a rung at its size replaces it', async () => {
  const srv = await startServer(['--open-publish', '--no-record', '--ladder', LADDER]);
  servers.push(srv);
  const file = makeFlv('h444-480p.flv', [...testsrc('854x480'), ...TONE],
    ['-t', '12', ...x264('yuv444p', 'high444'), '-b:v', '1500k', '-c:a', 'aac']);
  const pub = publishFile(srv.rtmpUrl('g444'), file);
  const base = `${srv.base}/hls/g444`;
  const { parsed, text } = await multivariant(base);
  assert.doesNotMatch(text, /avc1\.f4|source\//, text);
  assert.deepEqual(parsed.variants.map((v) => v.resolution.height), [480, 360], text);
  assert.equal(parsed.variants[0].resolution.width, 854);
  assert.match(parsed.variants[0].codecs, /^avc1\.64/, text);
  assert.match(srv.log(), /the source \(H.264 High 4:4:4 Predictive, yuv444p\) is not playable in browsers: it is not passed through, a 480p rung is encoded at its size instead/);
  const url = `${base}/480p/media.m3u8`;
  const list = await mediaWith(url, 1);
  const seg = new URL(list.parsed.segments.filter((s) => s.uri)[1].uri, url).href;
  const streams = await probe(initOf(list.text, url), [seg]);
  const v = streams.find((s) => s.codec_type === 'video');
  assert.equal(v.width, 854);
  assert.equal(v.height, 480);
  assert.equal(v.profile, 'High');
  const dir = path.join(workDir, 'probe-444');
  mkdirSync(dir, { recursive: true });
  const init = Buffer.from(await (await fetch(initOf(list.text, url))).arrayBuffer());
  const body = Buffer.from(await (await fetch(seg)).arrayBuffer());
  const f = path.join(dir, 'seg.mp4');
  writeFileSync(f, Buffer.concat([init, body]));
  assert.equal(ffprobeJson(f, 'stream=pix_fmt').streams[0].pix_fmt, 'yuv420p');
  await pub;
});

// A ladder that leaves the source out and has no rung as short as it would pass it through:
// not an undecodable one.
test('a High 4:4:4 source smaller than every rung of a ladder without source is re-encoded', async () => {
  const srv = await startServer(['--open-publish', '--no-record', '--ladder', '720p:2500k']);
  servers.push(srv);
  const file = makeFlv('high444-360p-8s.flv', [...testsrc('640x360'), ...TONE],
    ['-t', '8', ...x264('yuv444p', 'high444'), '-c:a', 'aac']);
  const pub = publishFile(srv.rtmpUrl('small444'), file);
  const { parsed, text } = await multivariant(`${srv.base}/hls/small444`);
  assert.doesNotMatch(text, /avc1\.f4|source\//, text);
  assert.deepEqual(parsed.variants.map((v) => `${v.resolution.width}x${v.resolution.height}`), ['640x360'], text);
  assert.match(parsed.variants[0].codecs, /^avc1\.64/, text);
  await pub;
});

test('without a ladder, sources browsers cannot decode are refused with the reason', async () => {
  const srv = await startServer(['--open-publish', '--no-record']);
  servers.push(srv);
  for (const u of UNPLAYABLE) {
    const file = makeFlv(`${u.profile}-360p.flv`, [...testsrc('640x360'), ...TONE],
      ['-t', '4', ...x264(u.pixFmt, u.profile), '-c:a', 'aac']);
    // ffmpeg: the publish fails.
    const key = `bad-${u.profile}`;
    const { code, err } = await publishFile(srv.rtmpUrl(key), file);
    assert.notEqual(code, 0, `ffmpeg publishing ${u.profile} exited 0`);
    // ffmpeg reads the onStatus before the connection closes, and says why.
    assert.match(err, new RegExp(`Server error: H.264 ${u.name.source} cannot be played by browsers`), err);
    assert.match(srv.log(), new RegExp(`stream=${key} publish refused: the source is H.264 ${u.name.source}`));
    const r = await fetchText(`${srv.base}/hls/${key}/index.m3u8`);
    assert.equal(r.status, 404);
    // A client that reads its onStatus: NetStream.Publish.Rejected, naming the profile.
    const c = await publishFlvSequence(srv.rtmp, `${key}-2`, [flvTags(readFileSync(file)).slice(0, 80)]);
    assert.ok(await closedWithin(c, 5000), 'the connection is closed');
    const replies = c.data.toString('latin1');
    assert.match(replies, /NetStream\.Publish\.Rejected/);
    assert.match(replies, u.name);
    assert.match(replies, /cannot be played by browsers and there is no ladder to re-encode it/);
  }
  // A High 4:2:0 8-bit publish still goes through.
  const ok = makeFlv('high-360p.flv', [...testsrc('640x360'), ...TONE], ['-t', '6', ...x264('yuv420p', 'high'), '-c:a', 'aac']);
  const pub = publishFile(srv.rtmpUrl('fine'), ok);
  const { parsed } = await multivariant(`${srv.base}/hls/fine`);
  assert.match(parsed.variants[0].codecs, /^avc1\.64001e,mp4a\.40\.2$/);
  assert.equal((await pub).code, 0);
});
