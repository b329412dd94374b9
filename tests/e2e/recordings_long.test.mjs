// A 10-minute recording cut into 60 s chunks (issue 6): ten chunks, contiguous timestamps, the
// total within one GOP of what was published. The publish runs at 8x real time (ffmpeg
// -readrate 8) so the test takes about 80 s: kibitka paces nothing by the wall clock but its
// idle timeout, and a publisher that sends faster only fills its queues faster. A file: store
// (S3 is not the point here; recordings_faults.test.mjs covers it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import { startServer, waitFor, metric, workDir } from './lib/server.mjs';
import { checkChunks, probeChunk, storedFiles, spoolFiles, rmrf } from './lib/s3.mjs';

const SECONDS = 600;
const GOP = 2;

// 600 s of 320x180 H.264 (2 s GOP) + AAC, small and cheap to make: about 20 s once, cached.
function longClip() {
  const file = path.join(workDir, `clip-320x180-${SECONDS}s-gop${GOP}.flv`);
  if (!existsSync(file)) {
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=30',
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', String(SECONDS),
      '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-g', String(GOP * 30),
      '-keyint_min', String(GOP * 30), '-sc_threshold', '0', '-b:v', '300k',
      '-c:a', 'aac', '-b:a', '64k', '-ac', '2', '-f', 'flv', `${file}.tmp`]);
    renameSync(`${file}.tmp`, file);
  }
  return file;
}

test('a 10-minute publish with --record-chunk 60: ten contiguous chunks, nothing lost', async (t) => {
  const clip = longClip();
  const source = await probeChunk(clip);
  const srv = await startServer(['--open-publish', '--record-chunk', '60']);
  const started = Date.now();
  const pub = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-readrate', '8', '-i', clip,
    '-c', 'copy', '-f', 'flv', srv.rtmpUrl('long')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  pub.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => pub.on('exit', (code) => resolve(code)));
  try {
    assert.equal(await exited, 0, `ffmpeg: ${err}`);
    const took = (Date.now() - started) / 1000;
    await waitFor(async () => /recording \w+ ready/.test(srv.log()) &&
      (await metric(srv, 'kibitka_upload_queue_chunks')) === 0,
    { timeout: 30000, what: `the recording to be ready\n${srv.log()}` });
    const log = srv.log();
    assert.match(log, /publish ended \(FCUnpublish\)/, 'the publisher ended the stream itself');
    assert.doesNotMatch(log, /idle|[1-9]\d* dropped| WARN | ERROR /, 'no timeout, drop or warning at 8x');
    assert.equal(await metric(srv, 'kibitka_recorder_dropped_total'), 0);
    assert.deepEqual(spoolFiles(srv.dataDir), []);
    const files = storedFiles(path.join(srv.dataDir, 'recordings'));
    assert.deepEqual(files.map((f) => path.basename(f)),
      Array.from({ length: 10 }, (_, i) => `${String(i + 1).padStart(6, '0')}.mp4`), 'ten chunks');
    const { probes, total } = await checkChunks(files, { tolerance: 0.05 });
    for (const p of probes.slice(0, -1))
      assert.ok(p.duration >= 60 && p.duration < 60 + GOP, `${path.basename(p.file)}: ${p.duration} s`);
    const published = source.duration;
    t.diagnostic(`published ${published.toFixed(3)} s in ${took.toFixed(1)} s; recorded ${total.toFixed(3)} s ` +
      `in ${probes.length} chunks (${probes.map((p) => p.duration.toFixed(2)).join(', ')})`);
    assert.ok(Math.abs(total - published) <= GOP,
      `recorded ${total.toFixed(3)} s of ${published.toFixed(3)} s published`);
    const { code } = await srv.stop();
    assert.equal(code, 0, srv.log());
  } finally {
    if (pub.exitCode === null) pub.kill('SIGINT');
    await srv.stop();
    rmrf(srv.dataDir);
  }
});
