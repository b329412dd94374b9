// RTMP in, LL-HLS out, with real ffmpeg publishing a 720p30 H.264/AAC clip in real time.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, testClip, publish, fetchText, fetchBytes, waitFor, metric, sleep } from './lib/server.mjs';
import { getPlaylist, listParts, attr, probe } from './lib/hls.mjs';

const clip = testClip({ seconds: 30 });
const srv = await startServer(['--open-publish', '--part', '0.5']);
after(() => srv.stop());

const base = `${srv.base}/hls/e2e720`;
const t0 = Date.now();
const pub = publish(srv.rtmpUrl('e2e720'), clip);
let media; // absolute URL of the media playlist

test('multivariant playlist advertises the source rendition', async () => {
  const mv = await waitFor(async () => {
    const r = await fetchText(`${base}/index.m3u8`);
    return r.status === 200 ? r : null;
  }, { what: 'the multivariant playlist' });
  console.log(`# time from publish to first playlist: ${Date.now() - t0} ms`);
  const { parsed, text } = await getPlaylist(`${base}/index.m3u8`);
  assert.equal(parsed.isMasterPlaylist, true, text);
  assert.equal(parsed.variants.length, 1);
  const v = parsed.variants[0];
  assert.ok(v.bandwidth > 100000, `BANDWIDTH ${v.bandwidth}`);
  assert.deepEqual(v.resolution, { width: 1280, height: 720 });
  assert.match(v.codecs, /avc1\.64[0-9a-fA-F]{4}/);
  assert.match(v.codecs, /mp4a\.40\.2/);
  assert.ok(Math.abs(v.frameRate - 30) < 0.01, `FRAME-RATE ${v.frameRate}`);
  assert.match(mv.headers.get('cache-control'), /max-age=\d|no-cache/);
  media = new URL(v.uri, `${base}/index.m3u8`).href;
});

test('media playlist carries every LL-HLS tag', async () => {
  // Wait until two full segments exist so every tag has had a chance to appear.
  const { text, parsed } = await waitFor(async () => {
    const p = await getPlaylist(media);
    return p.parsed.segments.filter((s) => s.uri).length >= 2 ? p : null;
  }, { timeout: 20000, what: 'two segments' });
  for (const tag of ['#EXT-X-TARGETDURATION:', '#EXT-X-MAP:', '#EXT-X-PART-INF:PART-TARGET=',
    '#EXT-X-PART:', '#EXT-X-PRELOAD-HINT:', '#EXT-X-SERVER-CONTROL:', '#EXT-X-PROGRAM-DATE-TIME:',
    '#EXT-X-MEDIA-SEQUENCE:']) {
    assert.ok(text.includes(tag), `missing ${tag}\n${text}`);
  }
  assert.equal(attr(text, '#EXT-X-SERVER-CONTROL', 'CAN-BLOCK-RELOAD'), 'YES');
  const partTarget = Number(attr(text, '#EXT-X-PART-INF', 'PART-TARGET'));
  assert.equal(partTarget, 0.5);
  const phb = Number(attr(text, '#EXT-X-SERVER-CONTROL', 'PART-HOLD-BACK'));
  assert.ok(phb >= 2 * partTarget, `PART-HOLD-BACK ${phb}`);
  assert.equal(parsed.endlist, false);
  assert.equal(parsed.targetDuration, 2, 'target duration follows the 2 s GOP');
  for (const p of listParts(text)) assert.ok(p.dur <= partTarget + 0.001, `part ${p.uri} ${p.dur} s`);
  const complete = parsed.segments.filter((s) => s.uri);
  for (const s of complete) {
    assert.ok(s.duration <= parsed.targetDuration, `segment ${s.uri} ${s.duration}`);
    assert.ok(s.programDateTime instanceof Date, 'PROGRAM-DATE-TIME on every segment');
  }
  // Live-edge lag: now minus (newest part's PROGRAM-DATE-TIME + duration).
  const last = complete[complete.length - 1];
  const tail = listParts(text).filter((p) => p.msn > last.mediaSequenceNumber);
  const edge = last.programDateTime.getTime() + last.duration * 1000 +
    tail.reduce((a, p) => a + p.dur * 1000, 0);
  console.log(`# live-edge lag: ${Date.now() - edge} ms`);
});

test('init section plus a segment decode as H.264 + AAC with the right frame count', async () => {
  const { parsed, text } = await getPlaylist(media);
  const seg = parsed.segments.filter((s) => s.uri)[0];
  const init = new URL(parsed.segments[0].map.uri, media).href;
  const streams = await probe(init, [new URL(seg.uri, media).href]);
  const v = streams.find((s) => s.codec_type === 'video');
  const a = streams.find((s) => s.codec_type === 'audio');
  assert.ok(v && a, JSON.stringify(streams));
  assert.equal(v.codec_name, 'h264');
  assert.equal(v.width, 1280);
  assert.equal(v.height, 720);
  assert.equal(a.codec_name, 'aac');
  assert.equal(Number(a.sample_rate), 48000);
  assert.equal(Number(v.nb_read_frames), Math.round(seg.duration * 30), `${seg.duration} s segment\n${text}`);
  // ~46.875 AAC frames per second at 48 kHz; allow one frame of slack at each boundary.
  assert.ok(Math.abs(Number(a.nb_read_frames) - seg.duration * 48000 / 1024) <= 2, `audio frames ${a.nb_read_frames}`);
  // Parts concatenated equal the segment, byte for byte.
  const parts = listParts(text).filter((p) => p.msn === seg.mediaSequenceNumber);
  if (parts.length) {
    const segBytes = (await fetchBytes(new URL(seg.uri, media).href)).body;
    const partBytes = Buffer.concat(await Promise.all(parts.map(async (p) => (await fetchBytes(new URL(p.uri, media).href)).body)));
    assert.ok(segBytes.equals(partBytes), 'segment = its parts');
  }
});

test('cache and CORS headers fit a CDN and players on other origins', async () => {
  const { parsed, text } = await getPlaylist(media);
  const part = listParts(text).pop();
  const r = await fetchBytes(new URL(part.uri, media).href);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('cache-control'), /immutable/);
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
  const pl = await fetchText(media);
  // Players poll the playlist: each poll must not cost a new TCP connection.
  assert.notEqual(pl.headers.get('connection'), 'close', 'HTTP keep-alive');
  assert.notEqual(r.headers.get('connection'), 'close', 'HTTP keep-alive');
  assert.doesNotMatch(pl.headers.get('cache-control'), /immutable/);
  assert.equal(pl.headers.get('access-control-allow-origin'), '*');
  const pre = await fetch(media, { method: 'OPTIONS', headers: { Origin: 'http://example.test', 'Access-Control-Request-Method': 'GET' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), '*');
  assert.match(pre.headers.get('access-control-allow-methods'), /GET/);
  assert.ok(parsed.segments.length > 0);
});

test('a blocking reload for the next part returns when that part exists', async () => {
  const { text } = await getPlaylist(media);
  const parts = listParts(text);
  const last = parts[parts.length - 1];
  // The part after the newest: same segment, next index (the server maps an index past the
  // segment's end to part 0 of the next one).
  const t = Date.now();
  const r = await fetchText(`${media}?_HLS_msn=${last.msn}&_HLS_part=${last.k + 1}`);
  const waited = Date.now() - t;
  assert.equal(r.status, 200);
  const after = listParts(r.text);
  const newest = after[after.length - 1];
  assert.ok(newest.msn > last.msn || newest.k > last.k, `no new part after ${last.msn}.${last.k}`);
  assert.ok(after.some((p) => (p.msn === last.msn && p.k === last.k + 1) || (p.msn === last.msn + 1 && p.k === 0)));
  console.log(`# blocking reload for the next part answered after ${waited} ms`);
  // The preload-hinted part is fetchable and blocks until it exists.
  const hint = attr(r.text, '#EXT-X-PRELOAD-HINT', 'URI');
  assert.ok(hint, 'preload hint');
  const h = await fetchBytes(new URL(hint, media).href);
  assert.equal(h.status, 200);
  assert.ok(h.body.length > 100);
});

test('a player that does not speak LL-HLS (ffmpeg) plays the same playlist', async () => {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', `${base}/index.m3u8`,
    '-t', '4', '-map', '0:v', '-map', '0:a', '-f', 'null', '-progress', 'pipe:1', '-'],
  { encoding: 'utf8', timeout: 30000 });
  assert.equal(r.status, 0, r.stderr);
  const frames = Number((r.stdout.match(/frame=(\d+)/g) || []).pop()?.split('=')[1]);
  assert.ok(frames >= 100, `decoded ${frames} frames of 4 s at 30 fps`);
});

test('blocking reload rejects bad directives', async () => {
  const { text } = await getPlaylist(media);
  const msn = listParts(text).pop().msn;
  assert.equal((await fetchText(`${media}?_HLS_part=1`)).status, 400);
  // 4 past the newest segment shown, not 3: a segment may complete between the two requests on
  // a loaded machine, and 3 past the segment being cut is the first refused (the exact boundary
  // is tests/unit/packager/test_hls.c's).
  assert.equal((await fetchText(`${media}?_HLS_msn=${msn + 4}`)).status, 400);
  assert.equal((await fetchText(`${media}?_HLS_msn=abc`)).status, 400);
});

test('delta update skips old segments', async () => {
  const r = await waitFor(async () => {
    const x = await fetchText(`${media}?_HLS_skip=YES`);
    return x.text.includes('#EXT-X-SKIP:SKIPPED-SEGMENTS=') ? x : null;
  }, { timeout: 25000, what: 'a playlist long enough to skip' });
  assert.equal(r.status, 200);
  const full = await fetchText(media);
  assert.ok(r.text.length < full.text.length);
});

test('metrics count the live stream', async () => {
  assert.equal(await metric(srv, 'kibitka_live_streams'), 1);
  assert.ok((await metric(srv, 'kibitka_stream_bytes_in_total')) > 100000);
  assert.ok((await metric(srv, 'kibitka_parts_total')) > 4);
  assert.ok((await metric(srv, 'kibitka_hls_requests_total')) > 4);
});

test('the playlist ends with ENDLIST when the publisher stops', async () => {
  const res = await pub.exited;
  assert.equal(res.code, 0, `ffmpeg: ${res.err}`);
  const r = await waitFor(async () => {
    const x = await fetchText(media);
    return x.text.includes('#EXT-X-ENDLIST') ? x : null;
  }, { timeout: 5000, what: 'ENDLIST' });
  assert.ok(!r.text.includes('#EXT-X-PRELOAD-HINT'));
  // Directives are ignored once the playlist has ended: answered at once.
  const t = Date.now();
  const b = await fetchText(`${media}?_HLS_msn=99999&_HLS_part=0`);
  assert.equal(b.status, 200);
  assert.ok(Date.now() - t < 1000);
  assert.equal(await metric(srv, 'kibitka_live_streams'), 0);
  await sleep(10);
});
