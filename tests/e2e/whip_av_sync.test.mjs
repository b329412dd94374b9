// WHIP audio/video sync (issue 13): a source that flashes white for one frame and beeps for
// 50 ms at the same instant every second, encoded by ffmpeg and published through werift. In
// the HLS source rendition each beep onset must be within 60 ms of its flash: this is what
// ingest/whip/whip_media.c's alignment of the two RTP clocks by RTCP sender reports gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, waitFor, workDir } from './lib/server.mjs';
import { whipFeed, encodeArgs, segmentCollector } from './lib/whip_feed.mjs';

const SECONDS = 12;
const TOLERANCE_MS = 60;

// Flash times (s): frames whose mean luma is high.
function flashes(file) {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-v', 'error', '-copyts', '-i', file, '-map', '0:v',
    '-vf', 'signalstats,metadata=print:key=lavfi.signalstats.YAVG:file=-', '-f', 'null', '-'],
  { encoding: 'utf8', maxBuffer: 64 << 20 });
  const out = [];
  let t = null;
  for (const l of r.stdout.split('\n')) {
    const m = l.match(/pts_time:([\d.]+)/);
    if (m) t = Number(m[1]);
    const y = l.match(/YAVG=([\d.]+)/);
    if (y && Number(y[1]) > 128 && t !== null) out.push(t);
  }
  // one flash is one frame; should two adjacent frames be bright, keep the first
  return out.filter((v, i) => i === 0 || v - out[i - 1] > 0.5);
}

// Beep onsets (s): where silence ends.
function beeps(file) {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-v', 'info', '-copyts', '-i', file, '-map', '0:a',
    '-af', 'silencedetect=n=-30dB:d=0.3', '-f', 'null', '-'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return [...r.stderr.matchAll(/silence_end: ([\d.]+)/g)].map((m) => Number(m[1]));
}

test('WHIP: each beep is within 60 ms of its flash in the HLS output', { timeout: 90000 }, async () => {
  const srv = await startServer(['--open-publish', '--log-level', 'debug']);
  const flash = "color=black:s=320x240:r=30,drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='lt(mod(t,1),0.02)*not(between(t,3.5,4.5))'";
  const beep = "aevalsrc='if(lt(mod(t,1),0.05)*not(between(t,3.5,4.5)),sin(2*PI*1000*t),0)':s=48000";
  const h = await whipFeed(srv.base, 'sync', {
    input: ['-re', '-t', String(SECONDS), '-f', 'lavfi', '-i', flash,
      '-t', String(SECONDS), '-f', 'lavfi', '-i', beep],
    ...encodeArgs({ gop: 30, bitrate: '300k' }),
  });
  try {
    assert.equal(h.status, 201, h.answer);
    const seg = segmentCollector(`${srv.base}/hls/sync/source/media.m3u8`);
    await waitFor(() => seg.poll(), { timeout: 20000, interval: 500, what: 'a first segment' });
    while (h.ff.exitCode === null) { await seg.poll(); await new Promise((r) => setTimeout(r, 500)); }
    await seg.poll();
    assert.equal(h.ffErr, '', 'ffmpeg (the source) reported nothing');
    assert.match(srv.log(), /aligned by sender reports/, 'the tracks were aligned by RTCP SRs');
    const file = path.join(mkdtempSync(path.join(workDir, 'whip-sync-')), 'out.mp4');
    writeFileSync(file, seg.bytes());
    const f = flashes(file);
    const b = beeps(file);
    // Second 4 has neither flash nor beep, so a whole-period (1 s) shift cannot pass either.
    const nearest = (t, xs) => xs.reduce((best, x) => (Math.abs(x - t) < Math.abs(best - t) ? x : best), Infinity);
    const lo = Math.max(f[0], b[0]) - 0.5;
    const hi = Math.min(f[f.length - 1], b[b.length - 1]) + 0.5;
    const offsets = f.filter((t) => t > lo && t < hi).map((t) => Math.round((nearest(t, b) - t) * 1000));
    const beepsWithoutFlash = b.filter((t) => t > lo && t < hi && Math.abs(nearest(t, f) - t) > TOLERANCE_MS / 1000);
    console.log('whip_av_sync', JSON.stringify({ flashes: f, beeps: b, offsetsMs: offsets }));
    console.log(srv.log().split('\n').filter((l) => /first frame|aligned/.test(l)).join('\n'));
    assert.ok(offsets.length >= 6, `flash/beep pairs (${offsets.length})`);
    for (const o of offsets) assert.ok(Math.abs(o) <= TOLERANCE_MS, `beep - flash = ${o} ms (offsets ${offsets})`);
    assert.deepEqual(beepsWithoutFlash, [], 'every beep has its flash');
  } finally {
    await h.stop();
    await srv.stop();
  }
});
