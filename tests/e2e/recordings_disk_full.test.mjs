// A full disk (issue 11 item 6; docs/RELIABILITY.md 31): --data on a 30 MB tmpfs with a
// ballast file, a publish that fills the rest. Recording pauses with a log line and a metric (the
// live stream goes on), login and DELETE /api/recordings/{id} still work while the disk is full
// (the database's reserve), and once the ballast is removed recording resumes in a new chunk:
// the recording ends ready but incomplete, its gap in the API (gaps, the chunk's
// gap_before_seconds) and in its VOD playlist (EXT-X-DISCONTINUITY before that chunk).
// Needs root for the mount: skipped (with the reason) where mount is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statfsSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { startServer, testClip, publish, waitFor, metric, binary, workDir } from './lib/server.mjs';
import { webhookReceiver } from './lib/hooks.mjs';

const ADMIN_PW = 'admin-pass-1';
const MiB = 1024 * 1024;
let mnt = null;
let skip = false;

before(() => {
  mkdirSync(workDir, { recursive: true });
  const dir = mkdtempSync(path.join(workDir, 'tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=30m', 'tmpfs', dir], { stdio: 'pipe' });
    mnt = dir;
  } catch (e) {
    skip = `cannot mount a 30 MB tmpfs (needs root): ${String(e.stderr || e.message).trim()}`;
    rmSync(dir, { recursive: true, force: true });
  }
});

after(() => {
  if (!mnt) return;
  try { execFileSync('umount', [mnt], { stdio: 'pipe' }); } catch { /* still busy: leave it */ }
  rmSync(mnt, { recursive: true, force: true });
});

const freeBytes = (dir) => { const s = statfsSync(dir); return s.bavail * s.bsize; };

// Writes file until the disk refuses another byte (ENOSPC).
function fillUp(file) {
  const fd = openSync(file, 'w');
  try {
    for (const size of [64 * 1024, 4096, 1]) {
      const buf = Buffer.alloc(size);
      for (;;) {
        try { writeSync(fd, buf); } catch (e) { if (e.code === 'ENOSPC') break; throw e; }
      }
    }
  } finally { closeSync(fd); }
}

test('a full disk pauses recording, records the gap, keeps login and delete working, and resumes',
  { timeout: 300000 }, async (t) => {
    if (skip) { t.skip(skip); return; }
    execFileSync(binary, ['user', 'add', 'admin', '--admin', '--password-stdin', '--data', mnt],
      { input: `${ADMIN_PW}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
    const rx = await webhookReceiver();
    const srv = await startServer(['--data', mnt, '--open-publish', '--record-chunk', '2', '--webhook', rx.url]);
    let pub = null;
    try {
      const call = async (method, p, { token, body } = {}) => {
        const h = {};
        if (token) h.authorization = `Bearer ${token}`;
        if (body) h['content-type'] = 'application/json';
        const res = await fetch(srv.base + p, { method, headers: h, body: body ? JSON.stringify(body) : undefined });
        const text = await res.text();
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        return { status: res.status, json, text };
      };
      const login = () => call('POST', '/api/auth/login', { body: { username: 'admin', password: ADMIN_PW } });
      let token = (await login()).json.token;
      const recordings = async () => (await call('GET', '/api/recordings', { token })).json.recordings;

      // A first recording, ready before the disk fills: deleted while it is full.
      pub = publish(srv.rtmpUrl('first'), testClip({ seconds: 6, size: '640x360' }));
      await pub.exited;
      const first = await waitFor(async () => (await recordings()).find((r) => r.stream === 'first' && r.state === 'ready'),
        { timeout: 60000, what: `the first recording ready\n${srv.log()}` });

      // The ballast leaves a few MB (the database keeps 4 MiB of its own); 720p at 2.6 Mbit/s fills them.
      const ballast = path.join(mnt, 'ballast');
      writeFileSync(ballast, Buffer.alloc(Math.max(0, freeBytes(mnt) - 6 * MiB)));
      pub = publish(srv.rtmpUrl('full'), testClip({ seconds: 20 }), { loop: true });
      await waitFor(() => /ERROR recorder .*the disk is full \(.*No space left on device\): recording pauses/.test(srv.log()),
        { timeout: 120000, what: `the disk-full error line\n${srv.log()}` });
      await waitFor(() => /WARN  recorder stream=full disk full: recording paused, the live stream goes on/.test(srv.log()),
        { timeout: 30000, what: `the stream's pause line\n${srv.log()}` });
      assert.equal(await metric(srv, 'kibitka_recorder_disk_full'), 1);
      assert.equal(await metric(srv, 'kibitka_recordings_paused'), 1);
      // The last bytes too: the database's writes now need its reserve.
      const filler = path.join(mnt, 'filler');
      fillUp(filler);
      assert.equal(freeBytes(mnt), 0);

      // Login and delete while full: both write the database.
      for (let i = 0; i < 5; i++) {
        const r = await login();
        assert.equal(r.status, 200, `login while the disk is full: ${r.text}\n${srv.log()}`);
        token = r.json.token;
      }
      let r = await call('DELETE', `/api/recordings/${first.id}`, { token });
      assert.equal(r.status, 204, `delete while the disk is full: ${r.text}\n${srv.log()}`);
      assert.equal((await call('GET', `/api/recordings/${first.id}`, { token })).status, 404);
      assert.match(srv.log(), /WARN  db sqlite: the disk is full; the database uses its reserve \(4194304 bytes/);
      const live = await call('GET', '/hls/full/source/media.m3u8');
      assert.equal(live.status, 200, 'the live stream goes on');
      const rec = (await recordings()).find((x) => x.stream === 'full');
      assert.equal(rec.state, 'recording');
      const chunksBefore = rec.chunks;
      assert.equal(await metric(srv, 'kibitka_recorder_disk_full'), 1, 'still paused: the freed space is not enough');

      // Room again: recording resumes in a new chunk, after a gap.
      unlinkSync(ballast);
      unlinkSync(filler);
      await waitFor(() => /the disk has room again \(\d+ MiB free in .*\): recording resumes/.test(srv.log()),
        { timeout: 30000, what: `the room-again line\n${srv.log()}` });
      await waitFor(() => /stream=full the disk has room again: recording resumes/.test(srv.log()),
        { timeout: 30000, what: `the stream's resume line\n${srv.log()}` });
      assert.equal(await metric(srv, 'kibitka_recorder_disk_full'), 0);
      assert.equal(await metric(srv, 'kibitka_recordings_paused'), 0);
      await waitFor(async () => (await recordings()).find((x) => x.id === rec.id).chunks >= chunksBefore + 2,
        { timeout: 30000, what: `chunks after the resume\n${srv.log()}` });
      await pub.stop();
      pub = null;
      await waitFor(async () => (await recordings()).find((x) => x.id === rec.id).state === 'ready',
        { timeout: 60000, what: `the recording ready\n${srv.log()}` });

      r = await call('GET', `/api/recordings/${rec.id}`, { token });
      assert.equal(r.status, 200);
      const d = r.json;
      assert.equal(d.incomplete, true, JSON.stringify(d));
      assert.ok(d.gap_seconds > 1, `gap_seconds ${d.gap_seconds}`);
      const gap = d.gaps.find((g) => g.before_chunk !== null);
      assert.ok(gap && gap.seconds > 1, `a gap before a chunk: ${JSON.stringify(d.gaps)}`);
      const after = d.chunk_list.find((c) => c.seq === gap.before_chunk);
      assert.ok(after && Math.abs(after.gap_before_seconds - gap.seconds) < 1e-6);
      assert.ok(d.chunk_list.some((c) => c.seq < gap.before_chunk), 'chunks before the gap were kept');
      assert.ok(d.chunk_list.every((c) => c.state === 'uploaded'), JSON.stringify(d.chunk_list));
      assert.ok(await metric(srv, 'kibitka_recording_gaps_total') >= 1);

      const playlist = await fetch(srv.base + d.playlist_url).then((x) => x.text());
      const lines = playlist.split('\n');
      const map = lines.findIndex((l) => l.startsWith(`#EXT-X-MAP:URI="chunks/${gap.before_chunk}.mp4?`));
      assert.ok(map > 0, playlist);
      assert.equal(lines[map - 1], '#EXT-X-DISCONTINUITY', `a discontinuity before the chunk after the gap:\n${playlist}`);
      assert.match(playlist, /#EXT-X-ENDLIST/);

      // recording.ready says the same as the API: incomplete, how much, where.
      const ready = await waitFor(() => rx.events.find((e) => e.type === 'recording.ready' && e.data.id === rec.id),
        { timeout: 30000, what: 'the recording.ready webhook' });
      assert.equal(ready.data.incomplete, true, JSON.stringify(ready.data));
      assert.ok(Math.abs(ready.data.gap_seconds - d.gap_seconds) < 1e-6, JSON.stringify(ready.data));
      assert.deepEqual(ready.data.gaps, d.gaps);
      const firstReady = rx.events.find((e) => e.type === 'recording.ready' && e.data.id === first.id);
      assert.ok(firstReady && firstReady.data.incomplete === false && firstReady.data.gaps.length === 0,
        `the complete recording's webhook: ${JSON.stringify(firstReady?.data)}`);

      await srv.stop();
      if (process.env.KIBITKA_E2E_LOG) console.log(srv.log());
      assert.doesNotMatch(srv.log(), /ERROR db|this chunk is lost|AddressSanitizer|runtime error/);
    } finally {
      await pub?.stop();
      await srv.stop();
      await rx.close();
    }
  });
