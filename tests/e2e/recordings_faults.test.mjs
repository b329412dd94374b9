// Recordings under faults (issue 6; docs/RELIABILITY.md 13 and 15): a real kibitka
// recording a real ffmpeg RTMP publish, uploading to s3rver behind tests/lib/s3proxy.mjs (which
// checks every signature and injects the faults), or to a file: store where S3 is not the point.
// Every chunk that reaches the store is fetched back, decoded with ffmpeg and probed with
// ffprobe: each starts with a keyframe and starts where the previous one ended.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { startServer, testClip, waitFor, metric, sleep, fetchText, workDir } from './lib/server.mjs';
import { startS3, checkBoxes, checkChunks, decodes, storedFiles, spoolFiles, rmrf } from './lib/s3.mjs';

let s3;
const cleanup = [];

before(async () => {
  s3 = await startS3();
});

after(async () => {
  await s3?.stop();
  for (const d of cleanup) rmrf(d);
});

// Publishes like publish() in lib/server.mjs, but with ffmpeg's -progress, so the test knows how
// much media ffmpeg had sent (out_time: the last muxed timestamp) at any moment.
function publishTimed(url, file, { loop = false, rate = null } = {}) {
  const args = ['-hide_banner', '-loglevel', 'error', '-nostats', '-progress', 'pipe:1',
    '-stats_period', '0.1', ...(rate ? ['-readrate', String(rate)] : ['-re'])];
  if (loop) args.push('-stream_loop', '-1');
  args.push('-i', file, '-c', 'copy', '-f', 'flv', url);
  const proc = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const pub = { proc, sent: 0, err: '' };
  let buf = '';
  proc.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const m = /^out_time_us=(\d+)/.exec(buf.slice(0, i));
      if (m) pub.sent = Number(m[1]) / 1e6;
      buf = buf.slice(i + 1);
    }
  });
  proc.stderr.on('data', (d) => { pub.err += d; });
  pub.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  pub.stop = () => { if (proc.exitCode === null) proc.kill('SIGINT'); return pub.exited; };
  return pub;
}

async function metrics(srv) {
  const { text } = await fetchText(`${srv.base}/metrics`);
  const out = {};
  for (const l of text.split('\n')) {
    const m = /^(kibitka_[a-z_]+) (\S+)$/.exec(l);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

// The server's own data directory is removed with the test's temporary files.
async function server(extra, env) {
  const srv = await startServer(extra, env);
  cleanup.push(srv.dataDir);
  return srv;
}

async function stopClean(srv) {
  const { code, signal } = await srv.stop();
  assert.equal(signal, null, srv.log());
  assert.equal(code, 0, `kibitka did not exit 0 (a sanitizer report?):\n${srv.log()}`);
}

const seqOf = (key) => Number(path.basename(key, '.mp4'));

test('S3 down for 30 s mid-recording: nothing lost, the queue grows and drains, chunks contiguous', async (t) => {
  // Two tries per request (not five): the outage is ridden out by the upload queue's own
  // retries (1 s doubling), which must keep going past its limit for permanent errors (5).
  const srv = await server(['--open-publish', '--record-chunk', '4',
    '--storage', s3.storageUrl('outage', 'attempts=2&backoff_ms=500')], s3.env);
  const pub = publishTimed(srv.rtmpUrl('out'), testClip({ seconds: 20 }), { loop: true });
  try {
    await waitFor(async () => (await s3.list('outage/')).length >= 1,
      { timeout: 20000, what: 'the first chunk in S3' });
    const before = await metrics(srv);
    assert.equal(before.kibitka_upload_queue_chunks, 0, 'the queue is empty while S3 is up');
    await s3.fault('outage', { seconds: 30 });
    const outageEnd = Date.now() + 30000;
    let maxQueue = 0;
    let maxAge = 0;
    while (Date.now() < outageEnd - 500) {
      const m = await metrics(srv);
      maxQueue = Math.max(maxQueue, m.kibitka_upload_queue_chunks);
      maxAge = Math.max(maxAge, m.kibitka_upload_oldest_pending_seconds);
      await sleep(1000);
    }
    // 30 s of 4 s chunks: about 7 closed while nothing could be uploaded.
    assert.ok(maxQueue >= 5, `the queue grew during the outage (max ${maxQueue})\n${srv.log()}`);
    assert.ok(maxAge >= 20, `the oldest pending chunk aged (max ${maxAge} s)`);
    const during = await metrics(srv);
    assert.ok(during.kibitka_upload_failures_total >= 5,
      `failed attempts are counted, more than the 5 allowed a permanent error (${during.kibitka_upload_failures_total})`);
    assert.equal(during.kibitka_storage_access_denied, 0, 'an outage is not an access problem');
    await sleep(Math.max(0, outageEnd - Date.now()) + 3000);
    await pub.stop();
    const published = pub.sent;
    // Back to 0 once S3 answers again, and every closed chunk confirmed.
    const stopped = Date.now();
    await waitFor(async () => {
      const m = await metrics(srv);
      return m.kibitka_upload_queue_chunks === 0 && m.kibitka_recordings_active === 0 &&
        /recording \w+ ready/.test(srv.log());
    }, { timeout: 90000, interval: 500, what: `the queue to drain\n${srv.log()}` });
    const m = await metrics(srv);
    t.diagnostic(`queue max ${maxQueue} chunks, oldest ${maxAge} s; drained ${((Date.now() - outageEnd) / 1000).toFixed(1)} s ` +
      `after the outage (${((Date.now() - stopped) / 1000).toFixed(1)} s after the publish ended); ` +
      `${m.kibitka_upload_failures_total} failed attempts`);
    const objects = await s3.list('outage/');
    assert.deepEqual(objects.map((o) => seqOf(o.key)), objects.map((_, i) => i + 1),
      'chunks 1..N, none missing');
    assert.equal(m.kibitka_upload_chunks_total, objects.length);
    assert.ok(objects.length >= Math.floor(published / 4), `${objects.length} chunks for ${published.toFixed(1)} s`);
    assert.deepEqual(spoolFiles(srv.dataDir), [], 'the spool is empty once all is uploaded');
    assert.ok((await s3.stats()).faultsInjected > 0, 'the proxy did refuse connections');
    const dir = mkdtempSync(path.join(workDir, 'dl-'));
    cleanup.push(dir);
    const { total } = await checkChunks(await s3.download('outage/', dir));
    t.diagnostic(`${objects.length} chunks, ${total.toFixed(3)} s recorded of ${published.toFixed(3)} s published`);
    assert.ok(Math.abs(total - published) < 2.1,
      `recorded ${total.toFixed(2)} s of the ${published.toFixed(2)} s published`);
    await stopClean(srv);
  } finally {
    await s3.fault('clear');
    await pub.stop();
    await srv.stop();
  }
});

test('kill -9 mid-chunk, restart: every chunk uploaded, the cut one too, all but ~1 s kept', async (t) => {
  const srv = await server(['--open-publish', '--record-chunk', '4']);
  const pub = publishTimed(srv.rtmpUrl('crash'), testClip({ seconds: 20 }), { loop: true });
  let published;
  try {
    // Mid-way through chunk 3 (8-12 s): chunks 1 and 2 closed, chunk 3 half written.
    await waitFor(() => pub.sent >= 10.5, { timeout: 30000, interval: 20, what: '10.5 s published' });
    srv.proc.kill('SIGKILL');
    published = pub.sent;
    await srv.exited;
  } finally {
    await pub.stop();
  }
  const spool = spoolFiles(srv.dataDir);
  const cut = spool.find((f) => f.endsWith('000003.mp4'));
  assert.ok(cut, `chunk 3 is left in the spool: ${spool}`);
  // A kill -9 stops the process between two write()s of whole fragments (the page cache keeps
  // what was written), so the file ends on a fragment boundary. A power cut can also leave a
  // torn fragment: append half of one, which recovery must cut off again.
  const whole = statSync(cut).size;
  const fragments = checkBoxes(cut);
  assert.ok(fragments >= 2, `chunk 3 holds ${fragments} complete fragments at the kill`);
  const b = readFileSync(cut);
  const moof = b.indexOf('moof', 0, 'latin1') - 4;
  const pair = b.readUInt32BE(moof) + b.readUInt32BE(moof + b.readUInt32BE(moof));
  appendFileSync(cut, b.subarray(moof, moof + Math.floor(pair / 2)));

  const again = await server(['--open-publish', '--record-chunk', '4', '--data', srv.dataDir]);
  try {
    await waitFor(async () => /recording \w+ ready/.test(again.log()) &&
      (await metric(again, 'kibitka_upload_queue_chunks')) === 0,
    { timeout: 30000, what: `the recovered recording to be uploaded\n${again.log()}` });
    assert.match(again.log(), /recovered chunk 000003 of recording \w+: \d+ bytes, \d+ fragments/);
    assert.deepEqual(spoolFiles(srv.dataDir), [], 'the spool is empty');
    const stored = storedFiles(path.join(srv.dataDir, 'recordings'));
    assert.equal(statSync(stored[2]).size, whole, 'the torn fragment was cut off, nothing more');
    assert.deepEqual(stored.map((f) => path.basename(f)), ['000001.mp4', '000002.mp4', '000003.mp4']);
    const { probes, total } = await checkChunks(stored);
    t.diagnostic(`published ${published.toFixed(3)} s at the kill, recorded ${total.toFixed(3)} s ` +
      `(chunk 3: ${probes[2].duration.toFixed(3)} s)`);
    assert.ok(probes[2].duration >= 1.5, `the cut chunk keeps its complete fragments (${probes[2].duration} s)`);
    // fdatasync'd about every second: the kill loses at most the fragment being filled.
    assert.ok(total >= published - 1.2 && total <= published + 0.2,
      `recorded ${total.toFixed(2)} s of the ${published.toFixed(2)} s published at the kill`);
    await stopClean(again);
  } finally {
    await again.stop();
  }
});

test('wrong credentials, then a missing bucket: clear errors, chunks kept; right ones upload them', async () => {
  const url = s3.storageUrl('creds');
  const wrong = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'not-the-secret' };
  const srv = await server(['--open-publish', '--record-chunk', '2', '--storage', url], wrong);
  const data = srv.dataDir;
  const pub = publishTimed(srv.rtmpUrl('creds'), testClip({ seconds: 20 }), { loop: true });
  let kept;
  try {
    assert.match(srv.log(), /the store s3:\/\/kibitka-test\/creds\S* is not usable \(S3 refused the credentials \(SignatureDoesNotMatch\)/);
    assert.doesNotMatch(srv.log(), /not-the-secret/, 'the secret never appears');
    let m = await metrics(srv);
    assert.equal(m.kibitka_storage_access_denied, 1, 'access denied from the start');
    assert.ok(m.kibitka_storage_errors_total >= 1);
    await waitFor(async () => (await metrics(srv)).kibitka_upload_failures_total >= 2,
      { timeout: 20000, what: 'two refused uploads' });
    await waitFor(() => pub.sent >= 7, { timeout: 20000, what: '7 s published' });
    await pub.stop();
    await waitFor(async () => (await metrics(srv)).kibitka_recordings_active === 0, { what: 'the recording to end' });
    assert.match(srv.log(), /refuses uploads: credentials refused \(S3 refused the credentials \(SignatureDoesNotMatch\)/);
    m = await metrics(srv);
    assert.equal(m.kibitka_storage_access_denied, 1);
    assert.equal(m.kibitka_upload_chunks_total, 0);
    kept = spoolFiles(data).map((f) => [f, statSync(f).size]);
    assert.ok(kept.length >= 3, `the chunks stay in the spool: ${kept}`);
    assert.ok(m.kibitka_spool_bytes >= kept.reduce((s, [, n]) => s + n, 0));
    await stopClean(srv);
  } finally {
    await pub.stop();
    await srv.stop();
  }
  assert.deepEqual(spoolFiles(data).map((f) => [f, statSync(f).size]), kept, 'nothing deleted at the stop');
  assert.deepEqual(await s3.list('creds/'), [], 'nothing reached the bucket');

  // A bucket that does not exist, with the right credentials.
  const nobucket = url.replace('s3://kibitka-test/', 's3://no-such-bucket/');
  const srv2 = await server(['--open-publish', '--data', data, '--storage', nobucket], s3.env);
  try {
    assert.match(srv2.log(), /is not usable \(S3 has no bucket 'no-such-bucket'/);
    await waitFor(async () => (await metrics(srv2)).kibitka_upload_failures_total >= 1,
      { timeout: 20000, what: 'an upload to the missing bucket' });
    const m = await metrics(srv2);
    assert.ok(m.kibitka_storage_errors_total >= 1);
    assert.equal(m.kibitka_storage_access_denied, 0, 'a missing bucket is not a credentials problem');
    assert.match(srv2.log(), /refuses uploads: no such bucket/);
    assert.deepEqual(spoolFiles(data).map((f) => [f, statSync(f).size]), kept, 'nothing deleted');
    await stopClean(srv2);
  } finally {
    await srv2.stop();
  }

  // Fixed: the next start uploads every chunk kept.
  const srv3 = await server(['--open-publish', '--data', data, '--storage', url], s3.env);
  try {
    await waitFor(async () => spoolFiles(data).length === 0 &&
      (await metrics(srv3)).kibitka_upload_queue_chunks === 0,
    { timeout: 30000, what: `the kept chunks to upload\n${srv3.log()}` });
    assert.doesNotMatch(srv3.log(), /not usable/);
    const objects = await s3.list('creds/');
    assert.equal(objects.length, kept.length, 'every kept chunk is in the bucket');
    assert.deepEqual(objects.map((o) => o.size), kept.map(([, n]) => n), 'byte for byte');
    const dir = mkdtempSync(path.join(workDir, 'dl-'));
    cleanup.push(dir);
    await checkChunks(await s3.download('creds/', dir));
    await stopClean(srv3);
  } finally {
    await srv3.stop();
  }
});

test('a full spool pauses recording, not the live stream; uploads make room and it resumes', async () => {
  await s3.fault('outage', { seconds: 120 }); // nothing leaves the spool until cleared
  const max = 3 * 1024 * 1024;
  const srv = await server(['--open-publish', '--record-chunk', '2', '--spool-max-bytes', '3M',
    '--storage', s3.storageUrl('spool')], s3.env);
  const pub = publishTimed(srv.rtmpUrl('full'), testClip({ seconds: 20 }), { loop: true });
  const media = `${srv.base}/hls/full/source/media.m3u8`;
  const lastMsn = async () => {
    const { status, text } = await fetchText(media);
    if (status !== 200) return -1;
    const seq = Number(text.match(/#EXT-X-MEDIA-SEQUENCE:(\d+)/)[1]);
    return seq + text.split('\n').filter((l) => l.startsWith('#EXTINF')).length - 1;
  };
  try {
    // 2.5 Mbit/s fills 3 MiB in about 10 s.
    await waitFor(() => /spool full \(\d+ of 3145728 bytes, --spool-max-bytes\): recording paused/.test(srv.log()),
      { timeout: 30000, what: `the spool-full warning\n${srv.log()}` });
    assert.equal(await metric(srv, 'kibitka_recordings_paused'), 1);
    await sleep(500); // the I/O thread closes the chunk the pause ended
    const files = spoolFiles(srv.dataDir);
    const msn0 = await lastMsn();
    await sleep(6000);
    assert.ok(await lastMsn() >= msn0 + 2, 'the live playlist keeps advancing while recording is paused');
    assert.deepEqual(spoolFiles(srv.dataDir), files, 'no chunk opens while paused');
    const bytes = files.reduce((s, f) => s + statSync(f).size, 0);
    assert.ok(bytes <= max, `the spool stays under the limit (${bytes} bytes)`);
    assert.equal((srv.log().match(/recording paused/g) || []).length, 1, 'warned once');
    assert.equal(await metric(srv, 'kibitka_recordings_paused'), 1);

    await s3.fault('clear');
    await waitFor(() => /spool has room again \(\d+ bytes\): recording resumes/.test(srv.log()),
      { timeout: 40000, what: `recording to resume\n${srv.log()}` });
    assert.equal(await metric(srv, 'kibitka_recordings_paused'), 0);
    await sleep(3000); // a chunk or so after the pause
    await pub.stop();
    await waitFor(async () => /recording \w+ ready/.test(srv.log()) &&
      (await metric(srv, 'kibitka_upload_queue_chunks')) === 0,
    { timeout: 60000, what: `every chunk uploaded\n${srv.log()}` });
    const dir = mkdtempSync(path.join(workDir, 'dl-'));
    cleanup.push(dir);
    const got = await s3.download('spool/', dir);
    assert.ok(got.length > files.length, 'chunks from before and after the pause');
    for (const f of got) await decodes(f);
    await stopClean(srv);
  } finally {
    await s3.fault('clear');
    await pub.stop();
    await srv.stop();
  }
});
