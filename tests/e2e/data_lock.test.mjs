// One data directory, one server (issue 10, item 1). A second `kibitka serve` on the same --data
// (other ports) used to "recover" the first one's open spool chunk, mark the recording ready and
// make the first lose its next chunk. Now the directory is locked (DATA/lock, flock): the second
// server exits 1 with "data directory D is in use by pid N" before touching anything, and the
// first one's recording keeps every second. The user/stream commands only use the database, so
// they run beside the server; a server started after the first stopped gets the lock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, testClip, publish, waitFor, freePort, binary, workDir, dirSnapshot } from './lib/server.mjs';

const SECONDS = 16;
const clip = testClip({ seconds: SECONDS, size: '640x360' });

test('a second server on a data directory in use is refused; the first keeps recording', { timeout: 120000 }, async (t) => {
  const data = mkdtempSync(path.join(workDir, 'lock-'));
  const cli = (args, input) => execFileSync(binary, [...args, '--data', data],
    { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  cli(['user', 'add', 'alice', '--password-stdin'], 'alice-pass-1\n');
  const key = cli(['stream', 'add', '--user', 'alice', '--name', 'cam']).trim();
  const srv = await startServer(['--data', data, '--record-chunk', '4']);
  try {
    assert.equal(readFileSync(path.join(data, 'lock'), 'utf8').trim(), String(srv.proc.pid),
      'the lock file holds the server\'s pid');
    const pub = publish(srv.rtmpUrl(key), clip);
    const spool = path.join(data, 'spool');
    // Mid-chunk: chunk 1 closed (4 s), chunk 2 open in the spool.
    await waitFor(() => readdirSync(spool).length > 0 && srv.log().includes('stream=cam publish started'),
      { timeout: 20000, what: 'the recording to start' });
    await new Promise((r) => setTimeout(r, 6000));

    const [http, rtmp] = [await freePort(), await freePort()];
    const before = dirSnapshot(path.join(data, 'recordings'));
    const second = spawnSync(binary, ['serve', '--data', data, '--http', `127.0.0.1:${http}`,
      '--rtmp', `127.0.0.1:${rtmp}`, '--rtc', '127.0.0.1:0', '--ladder', 'none'], { encoding: 'utf8', timeout: 20000 });
    t.diagnostic(`second server: exit ${second.status}, stderr ${JSON.stringify(second.stderr)}`);
    assert.equal(second.status, 1, 'the second server exits 1');
    assert.match(second.stderr, new RegExp(`data directory ${data} is in use by pid ${srv.proc.pid}\\n$`));
    assert.equal(second.stderr.trim().split('\n').length, 1,
      'nothing else happened: no migrations, no spool recovery');
    // The first server keeps recording meanwhile: a chunk it closes in this window is uploaded
    // as a new file (that made this check fail once under load). The second server must not
    // change what was there, and what is new must be the first one's next chunks (numbered
    // after the ones that were there); the end of this test checks the recording is whole.
    const after = dirSnapshot(path.join(data, 'recordings'));
    const seqOf = (f) => Number(path.basename(f, '.mp4'));
    const lastBefore = Math.max(0, ...Object.keys(before).map(seqOf));
    for (const [f, v] of Object.entries(before)) assert.equal(after[f], v, `the store was not touched: ${f}`);
    for (const f of Object.keys(after).filter((f) => !(f in before))) {
      t.diagnostic(`uploaded by the first server meanwhile: ${f}`);
      assert.ok(seqOf(f) > lastBefore, `a new file in the store is a later chunk of the first server: ${f}`);
    }

    // The database-only commands run beside the server, and what they write is live at once.
    assert.match(cli(['user', 'add', 'bob', '--password-stdin'], 'bob-pass-12\n'), /user bob created/);
    assert.match(cli(['stream', 'add', '--user', 'bob', '--name', 'bobcam']).trim(), /^sk_/);
    assert.match(cli(['user', 'list']), /^alice\tuser\nbob\tuser\n$/);

    const res = await pub.exited;
    assert.equal(res.code, 0, `the publish went to its end: ${res.err}`);
    // The recording holds the whole publish: every chunk uploaded, none lost.
    const login = await fetch(`${srv.base}/api/auth/login`, { method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'alice-pass-1' }) });
    const token = (await login.json()).token;
    const get = async (p) => (await fetch(srv.base + p, { headers: { authorization: `Bearer ${token}` } })).json();
    const rec = await waitFor(async () => {
      const list = await get('/api/recordings');
      return list.recordings.length === 1 && list.recordings[0].state === 'ready' &&
        get(`/api/recordings/${list.recordings[0].id}`);
    }, { timeout: 30000, what: 'the recording to be ready' });
    t.diagnostic(`recording: ${rec.duration_seconds} s in ${rec.chunks} chunks (published ${SECONDS} s)`);
    assert.ok(rec.duration_seconds >= SECONDS - 1, `${rec.duration_seconds} s of ${SECONDS} s recorded`);
    assert.deepEqual(rec.chunk_list.map((c) => c.seq), [...Array(rec.chunks).keys()].map((i) => i + 1));
    assert.ok(rec.chunk_list.every((c) => c.state === 'uploaded'));
    assert.doesNotMatch(srv.log(), /this chunk is lost|ERROR/);
  } finally {
    await srv.stop();
  }

  // Stopped: the lock is free, and the next server on the directory starts.
  const next = await startServer(['--data', data]);
  assert.equal(readFileSync(path.join(data, 'lock'), 'utf8').trim(), String(next.proc.pid));
  assert.equal((await next.stop()).code, 0);
});

test('the lock dies with its process: a server killed with SIGKILL does not block the next', { timeout: 60000 }, async () => {
  const data = mkdtempSync(path.join(workDir, 'lock-kill-'));
  const first = await startServer(['--data', data, '--no-record']);
  first.proc.kill('SIGKILL');
  await first.exited;
  const next = await startServer(['--data', data, '--no-record']);
  assert.equal((await next.stop()).code, 0);
});
