// LL-HLS rules across a ladder's renditions, over real ffmpeg publishes: EXT-X-RENDITION-REPORT
// in every media playlist, no part longer than PART-TARGET (in the playlist and in the media),
// audio samples flagged as sync samples (the audio is muxed into every rendition),
// _HLS_part past the Advance Part Limit refused at once, and a stalled or slow rung not holding
// back the source.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, testClip, publish, fetchText, fetchBytes, waitFor, DEFAULT_LADDER } from './lib/server.mjs';
import { getPlaylist, listParts, attr } from './lib/hls.mjs';
import { followRendition, summary } from './lib/follow.mjs';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const servers = [];
const pubs = [];
after(async () => {
  await Promise.all(pubs.map((p) => p.stop()));
  await Promise.all(servers.map((s) => s.stop()));
});

// ---- fMP4 boxes: timescales from the init section, per-track sample durations and flags ----

function boxes(buf, start = 0, end = buf.length) {
  const out = [];
  for (let p = start; p + 8 <= end;) {
    const size = buf.readUInt32BE(p);
    if (size < 8 || p + size > end) break;
    out.push({ type: buf.toString('latin1', p + 4, p + 8), start: p, end: p + size });
    p += size;
  }
  return out;
}
const child = (buf, box, type) => boxes(buf, box.start + 8, box.end).find((b) => b.type === type);

// track_ID -> { handler, timescale } from an init section.
function tracksOf(init) {
  const tracks = {};
  const moov = boxes(init).find((b) => b.type === 'moov');
  for (const trak of boxes(init, moov.start + 8, moov.end).filter((b) => b.type === 'trak')) {
    const tkhd = child(init, trak, 'tkhd');
    const mdia = child(init, trak, 'mdia');
    const mdhd = child(init, mdia, 'mdhd');
    const hdlr = child(init, mdia, 'hdlr');
    const v1 = init[tkhd.start + 8] === 1;
    const id = init.readUInt32BE(tkhd.start + (v1 ? 28 : 20));
    const m1 = init[mdhd.start + 8] === 1;
    tracks[id] = {
      handler: init.toString('latin1', hdlr.start + 16, hdlr.start + 20),
      timescale: init.readUInt32BE(mdhd.start + (m1 ? 28 : 20)),
    };
  }
  return tracks;
}

// Per handler ('vide', 'soun'): seconds of samples and sync / non-sync counts in a part.
function samplesOf(part, tracks) {
  const out = {};
  for (const moof of boxes(part).filter((b) => b.type === 'moof')) {
    for (const traf of boxes(part, moof.start + 8, moof.end).filter((b) => b.type === 'traf')) {
      const tfhd = child(part, traf, 'tfhd');
      const trun = child(part, traf, 'trun');
      const t = tracks[part.readUInt32BE(tfhd.start + 12)];
      const flags = part.readUInt32BE(trun.start + 8) & 0xffffff;
      const count = part.readUInt32BE(trun.start + 12);
      assert.equal(flags & 0x000f00, 0x000f00, 'per-sample duration, size, flags, cts in trun');
      let p = trun.start + 16 + (flags & 1 ? 4 : 0) + (flags & 4 ? 4 : 0);
      const o = (out[t.handler] ??= { seconds: 0, sync: 0, nonSync: 0 });
      for (let i = 0; i < count; i++, p += 16) {
        o.seconds += part.readUInt32BE(p) / t.timescale;
        if (part.readUInt32BE(p + 8) & 0x10000) o.nonSync++; else o.sync++;
      }
    }
  }
  return out;
}

// Every part of the rendition's playlist: DURATION <= PART-TARGET, and its media (the track of
// handler) as long as DURATION within a sample. Returns the longest part's media seconds.
async function checkParts(url, handler, { audio = false } = {}) {
  const { text } = await getPlaylist(url);
  const target = Number(attr(text, '#EXT-X-PART-INF', 'PART-TARGET'));
  assert.equal(target, 0.4); // the default --part
  const init = (await fetchBytes(new URL(text.match(/#EXT-X-MAP:URI="([^"]+)"/)[1], url).href)).body;
  const tracks = tracksOf(init);
  let longest = 0;
  const parts = listParts(text);
  assert.ok(parts.length >= 6, `${parts.length} parts in ${url}`);
  for (const p of parts) {
    assert.ok(p.dur <= target, `${url}: ${p.uri} DURATION ${p.dur} > PART-TARGET ${target}`);
    const body = (await fetchBytes(new URL(p.uri, url).href)).body;
    const s = samplesOf(body, tracks);
    const media = s[handler].seconds;
    assert.ok(media <= target + 1e-6, `${url}: ${p.uri} holds ${media} s of ${handler}`);
    assert.ok(Math.abs(media - p.dur) < 0.0011, `${p.uri}: media ${media} s, DURATION ${p.dur}`);
    if (audio) assert.ok(s.soun && s.soun.sync > 0, `${url}: ${p.uri} carries no audio`);
    if (s.soun) assert.equal(s.soun.nonSync, 0, `${p.uri}: every audio sample is a sync sample`);
    longest = Math.max(longest, media);
  }
  return longest;
}

function reports(text) {
  const out = {};
  for (const m of text.matchAll(/#EXT-X-RENDITION-REPORT:URI="\.\.\/([a-z0-9]+)\/media\.m3u8",LAST-MSN=(\d+),LAST-PART=(\d+)/g))
    out[m[1]] = { msn: Number(m[2]), part: Number(m[3]) };
  return out;
}

async function ready(base, what) {
  return waitFor(async () => {
    const r = await fetchText(`${base}/index.m3u8`, { timeout: 20000 });
    return r.status === 200 ? r.text : null;
  }, { timeout: 30000, what });
}

test('a ladder: rendition reports, parts within PART-TARGET, Advance Part Limit', async () => {
  const srv = await startServer(['--open-publish', '--ladder', 'source,360p:600k', '--x264-preset', 'ultrafast']);
  servers.push(srv);
  const pub = publish(srv.rtmpUrl('lad'), testClip({ seconds: 30 }));
  pubs.push(pub);
  const base = `${srv.base}/hls/lad`;
  const mv = await ready(base, 'the multivariant playlist');
  assert.match(mv, /360p\/media\.m3u8/);
  await waitFor(async () => listParts((await getPlaylist(`${base}/360p/media.m3u8`)).text).length >= 8,
    { timeout: 20000, what: 'parts in 360p' });

  const names = ['source', '360p'];
  for (const self of names) {
    const url = `${base}/${self}/media.m3u8`;
    const want = names.filter((n) => n !== self).sort();
    // A playlist is written when its rendition publishes a part: the one written as the
    // others became ready reports them from its next part on.
    const text = await waitFor(async () => {
      const t = (await getPlaylist(url)).text;
      return Object.keys(reports(t)).length === want.length ? t : null;
    }, { timeout: 5000, what: `${self} reporting ${want}` });
    const r = reports(text);
    assert.deepEqual(Object.keys(r).sort(), want, `${self}:\n${text}`);
    const sid = text.match(/init-([0-9a-f]+)\.mp4/)[1];
    for (const [other, at] of Object.entries(r)) {
      // The reported part exists, and the next one is a blocking reload a player can make.
      const part = await fetchBytes(`${base}/${other}/part-${sid}-${at.msn}.${at.part}.m4s`);
      assert.equal(part.status, 200, `${self} reports ${other} at ${at.msn}.${at.part}`);
      const next = await fetchText(`${base}/${other}/media.m3u8?_HLS_msn=${at.msn}&_HLS_part=${at.part + 1}`);
      assert.equal(next.status, 200);
    }
  }

  const longest = {
    source: await checkParts(`${base}/source/media.m3u8`, 'vide'),
    '360p': await checkParts(`${base}/360p/media.m3u8`, 'vide', { audio: true }),
  };
  console.log(`# longest part media (s): ${JSON.stringify(longest)}`);

  // _HLS_part more than 3 / PART-TARGET parts (7 for 0.4 s) past the last part: 400 at once.
  const media = `${base}/source/media.m3u8`;
  const limit = Math.floor(3 / Number(attr((await getPlaylist(media)).text, '#EXT-X-PART-INF', 'PART-TARGET')));
  // Taken early in its segment: were the segment to end before the request, K past its end
  // would be read as the next segment's part 0 (the lenient reading) and blocked on (seen on a
  // loaded box: a 200).
  const last = await waitFor(async () => {
    const p = listParts((await getPlaylist(media)).text).pop();
    return p.k <= 1 ? p : null;
  }, { timeout: 10000, interval: 50, what: 'a playlist whose last part opens its segment' });
  const t = Date.now();
  const far = await fetchText(`${media}?_HLS_msn=${last.msn}&_HLS_part=${last.k + limit + 1}`);
  assert.equal(far.status, 400, far.text);
  assert.match(far.text, /Advance Part Limit/);
  assert.ok(Date.now() - t < 400, `answered after ${Date.now() - t} ms`);
  assert.equal((await fetchText(`${media}?_HLS_msn=${last.msn}&_HLS_part=40`)).status, 400);
});

test('--ladder none: muxed parts within PART-TARGET, audio samples are sync samples', async () => {
  const srv = await startServer(['--open-publish', '--record-chunk', '4']);
  servers.push(srv);
  const pub = publish(srv.rtmpUrl('one'), testClip({ seconds: 30 }));
  pubs.push(pub);
  const base = `${srv.base}/hls/one`;
  await ready(base, 'the multivariant playlist');
  const url = `${base}/source/media.m3u8`;
  await waitFor(async () => listParts((await getPlaylist(url)).text).length >= 8,
    { timeout: 20000, what: 'parts' });
  const { text } = await getPlaylist(url);
  assert.doesNotMatch(text, /RENDITION-REPORT/);
  console.log(`# longest muxed part (video): ${await checkParts(url, 'vide')} s`);
  // The recorder's chunks (same fMP4 writer): audio all sync, video sync on keyframes only.
  const chunk = await waitFor(() => {
    const out = spawnSync('find', [path.join(srv.dataDir, 'recordings'), '-name', '*.mp4'], { encoding: 'utf8' });
    return out.stdout.split('\n').filter(Boolean)[0];
  }, { timeout: 20000, what: 'a recorded chunk' });
  const bytes = readFileSync(chunk);
  const s = samplesOf(bytes, tracksOf(bytes));
  assert.ok(s.soun.sync > 100 && s.soun.nonSync === 0, `${chunk}: audio ${JSON.stringify(s.soun)}`);
  assert.ok(s.vide.sync >= 1 && s.vide.nonSync > s.vide.sync * 20, `${chunk}: video ${JSON.stringify(s.vide)}`);
});

// The source followed like a player (lib/follow.mjs) for ms: its blocking reloads are
// answered within 1.5 x PART-TARGET of their part existing (PDT + the part's end: the publisher
// sends in real time), whatever the rungs do (issue 10 item 7). What is measured includes the
// frame the packager holds back and the audio it interleaves (a few tens of ms) and the box's
// own scheduling of kibitka, ffmpeg and this process: on the shared 2-core machine at load 17-25
// single answers came 1.2 s late with and without a ladder's rungs behind. So 95 % of the
// answers must be within 1.5 x PART-TARGET and every one within 3 x PART-TARGET; the bug this
// guards against (the ingest thread waiting for a rung) made them 1.4-4.2 s late, repeatedly.
// Returns the followers' results by rendition.
async function checkPrompt(base, label, ms, extra = []) {
  const names = ['source', ...extra];
  const runs = await Promise.all(names.map((r) =>
    followRendition(`${base}/${r}/media.m3u8`, ms, { tolerate503: extra.includes(r) })));
  const out = Object.fromEntries(names.map((r, i) => [r, runs[i]]));
  const load = os.loadavg()[0].toFixed(1);
  for (const r of names)
    console.log(`# ${label}: ${r} answered after its part existed (ms): ${JSON.stringify(summary(out[r].delays))}, load ${load}`);
  for (const r of ['source']) {
    const { delays, answers, target } = out[r];
    const bound = 1.5 * target * 1000;
    assert.ok(delays.length >= ms / 1000, `${label}: ${r} answered only ${delays.length} reloads in ${ms} ms`);
    const late = delays.map((d, i) => ({ d, a: answers[i] })).filter((x) => x.d > bound);
    const what = late.map((x) => `${x.a.msn}.${x.a.k}: ${x.d} ms`).join(', ');
    assert.ok(late.length <= delays.length * 0.05,
      `${label}: ${r}: ${late.length} of ${delays.length} answers later than ${bound} ms after their part (${what}; load ${load})`);
    assert.ok(late.every((x) => x.d <= 2 * bound), `${label}: ${r}: an answer later than ${2 * bound} ms (${what}; load ${load})`);
  }
  return out;
}

test('a stalled rung: the stream starts without it, the source answers at once', async () => {
  const srv = await startServer(['--open-publish', '--ladder', 'source,360p:600k'],
    { KIBITKA_TEST_WORKER_STALL: '1' });
  servers.push(srv);
  const t0 = Date.now();
  const pub = publish(srv.rtmpUrl('lag'), testClip({ seconds: 30 }));
  pubs.push(pub);
  const base = `${srv.base}/hls/lag`;
  const mv = await ready(base, 'the multivariant playlist without the stalled rung');
  console.log(`# publish -> multivariant without the stalled rung: ${Date.now() - t0} ms`);
  assert.match(mv, /source\/media\.m3u8/);
  assert.match(mv, /mp4a\.40\.2/);
  assert.doesNotMatch(mv, /360p/);
  await checkPrompt(base, 'stalled rung', 8000);
  const { text } = await getPlaylist(`${base}/source/media.m3u8`);
  assert.deepEqual(Object.keys(reports(text)), []); // the stalled rung has no playlist
});

// Issue 10 item 7: a ladder the box cannot encode in real time (a 1080p source into three
// veryfast rungs on 2 cores), the lowest rung followed by a player too. Before the rungs were
// isolated (435f1c3), the network thread waited for the rungs' locks and source and audio
// answers came up to 1.9 s (4.7 s with a 1080p source) after their part; see packager/README.md.
test('a ladder too heavy for the box: the source answers on time, the lowest rung sheds', async (t) => {
  const srv = await startServer(['--open-publish', '--no-record', '--cpu-budget', '100',
    '--ladder', DEFAULT_LADDER]);
  servers.push(srv);
  // The 1080p clip ladder.test.mjs makes, looped: a clip of its own would cost CI its encode.
  const pub = publish(srv.rtmpUrl('heavy'), testClip({ seconds: 24, size: '1920x1080' }), { loop: true });
  pubs.push(pub);
  const base = `${srv.base}/hls/heavy`;
  await ready(base, 'the multivariant playlist');
  // The rung may start after the multivariant playlist (left out after two target durations).
  await waitFor(async () => (await fetchText(`${base}/360p/media.m3u8`, { timeout: 15000 })).status === 200,
    { timeout: 60000, what: 'the 360p playlist' });
  const runs = await checkPrompt(base, 'heavy ladder', 30000, ['360p']);
  const m = (await fetchText(`${srv.base}/metrics`)).text;
  const lag = Number((m.match(/kibitka_transcode_lag_seconds\{stream="heavy"\} ([\d.]+)/) || [])[1]);
  const shed = Number((m.match(/kibitka_transcode_dropped_frames_total\S* (\d+)/) || [])[1] || 0);
  console.log(`# heavy ladder: transcode lag ${lag} s at the end, ${shed} rung frames not encoded`);
  // A player following the lowest rung: its reloads answered with their part (or a 503 when the
  // rung stood still for three target durations, which hls.js retries), parts within
  // PART-TARGET while it sheds, and also across the holes left where the worker, 6 s behind,
  // dropped source frames (a frame before a hole used to last the whole hole: parts of 3.5 s).
  const low = runs['360p'];
  console.log(`# heavy ladder: 360p: ${low.unavailable} reloads answered 503, longest part ${low.longest} s`);
  assert.ok(low.delays.length >= 10, `360p answered ${low.delays.length} reloads`);
  assert.ok(low.longest <= low.target, `360p: a part of ${low.longest} s > PART-TARGET ${low.target}`);
  await t.test('the lowest rung shed frames', (st) => {
    if (shed === 0) return st.skip('this box encoded the whole ladder in real time: nothing was shed');
    assert.match(srv.log(), /lowest rung\(s\) now encode keyframes and a frame per part only/);
  });
  // Its looped 1080p publish and three encoders would go on through the next test otherwise.
  await pub.stop();
  await srv.stop();
});

// A rung that stands still for 8 s (KIBITKA_TEST_WORKER_PAUSE: as a worker starved of CPU):
// its queue ages past 6 s and the source frames pushed meanwhile are dropped up to a keyframe,
// a hole in the rung. The frame before the hole used to last the whole hole (a 3.5 s part in
// a loaded run, longer than the target duration too); now it lasts one frame, and the rung
// goes on from the keyframe after the hole. Source and audio are not held back meanwhile.
test('a rung that stood still: no part longer than PART-TARGET across its hole', async () => {
  const srv = await startServer(['--open-publish', '--no-record', '--ladder', 'source,360p:600k',
    '--x264-preset', 'ultrafast'], { KIBITKA_TEST_WORKER_PAUSE: '8' });
  servers.push(srv);
  const pub = publish(srv.rtmpUrl('hole'), testClip({ seconds: 24 }), { loop: true });
  pubs.push(pub);
  const base = `${srv.base}/hls/hole`;
  const mv = await ready(base, 'the multivariant playlist');
  assert.match(mv, /360p\/media\.m3u8/);
  const runs = await checkPrompt(base, 'rung that stood still', 20000, ['360p']);
  await waitFor(() => /transcoding again from a keyframe after dropping/.test(srv.log()),
    { timeout: 10000, what: 'the worker to drop source frames and go on' });
  const low = runs['360p'];
  console.log(`# stood still: 360p: ${low.unavailable} reloads answered 503, longest part ${low.longest} s`);
  assert.ok(low.longest <= low.target, `360p: a part of ${low.longest} s > PART-TARGET ${low.target}`);
  // The whole playlist now: every part and segment within its target, the rung going on.
  const { text } = await waitFor(async () => {
    const r = await getPlaylist(`${base}/360p/media.m3u8`);
    return listParts(r.text).length >= 6 ? r : null;
  }, { timeout: 15000, what: 'parts in 360p after the hole' });
  const target = Number(text.match(/#EXT-X-TARGETDURATION:(\d+)/)[1]);
  const partTarget = Number(attr(text, '#EXT-X-PART-INF', 'PART-TARGET'));
  for (const p of listParts(text)) assert.ok(p.dur <= partTarget, `${p.uri}: DURATION ${p.dur} > ${partTarget}`);
  for (const m of text.matchAll(/#EXTINF:([\d.]+)/g))
    assert.ok(Math.round(Number(m[1])) <= target, `EXTINF ${m[1]} > target ${target}:\n${text}`);
});
