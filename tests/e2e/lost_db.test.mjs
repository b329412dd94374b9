// A lost database beside recordings (issue 11, item 7). A SQLite file truncated to 0 bytes (or
// deleted) used to start as a new empty database: every user, stream key and recording row gone
// without a word while DATA/recordings still held the recordings. Now the start is refused with
// a message naming the way out (restore, or --force-new-db), nothing under --data changes, and
// --force-new-db (or KIBITKA_FORCE_NEW_DB=1) starts a new database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, testClip, publish, waitFor, freePort, binary, workDir, repo, dirSnapshot } from './lib/server.mjs';

const clip = testClip({ seconds: 6, size: '640x360' });

// Starts serve on data and waits for it to exit (a refused start exits at once).
async function serveOnce(data, extra = [], env = {}) {
  const [http, rtmp] = [await freePort(), await freePort()];
  return spawnSync(binary, ['serve', '--data', data, '--http', `127.0.0.1:${http}`,
    '--rtmp', `127.0.0.1:${rtmp}`, '--rtc', '127.0.0.1:0', '--ladder', 'none', ...extra],
  { encoding: 'utf8', timeout: 20000, env: { ...process.env, ...env } });
}

test('a lost database beside recordings is refused; --force-new-db starts a new one', { timeout: 120000 }, async (t) => {
  const data = mkdtempSync(path.join(workDir, 'lostdb-'));
  const db = path.join(data, 'kibitka.db');
  const cli = (args, input) => execFileSync(binary, [...args, '--data', data],
    { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  cli(['user', 'add', 'alice', '--password-stdin'], 'alice-pass-1\n');
  const key = cli(['stream', 'add', '--user', 'alice', '--name', 'cam']).trim();

  // A recording, all uploaded to DATA/recordings.
  const srv = await startServer(['--data', data, '--record-chunk', '2']);
  try {
    const res = await publish(srv.rtmpUrl(key), clip).exited;
    assert.equal(res.code, 0, `publish: ${res.err}`);
    const files = (d) => (existsSync(d) ? Object.keys(dirSnapshot(d)).length : 0);
    await waitFor(() => files(path.join(data, 'spool')) === 0 &&
      files(path.join(data, 'recordings')) > 0, { timeout: 30000, what: 'the upload' });
  } finally {
    await srv.stop();
  }
  const recordings = path.join(data, 'recordings');
  const before = dirSnapshot(recordings);
  t.diagnostic(`${Object.keys(before).length} files in DATA/recordings`);
  assert.ok(Object.keys(before).length > 0, 'the recording is on disk');

  // Case 1: the database truncated to 0 bytes.
  truncateSync(db, 0);
  let r = await serveOnce(data);
  t.diagnostic(`0-byte db: exit ${r.status}, stderr ${JSON.stringify(r.stderr)}`);
  assert.equal(r.status, 1, 'the start is refused');
  assert.match(r.stderr, new RegExp(`the database sqlite:${data}/kibitka.db is 0 bytes long, but ` +
    'the data directory holds recordings \\(such as .*\\.mp4\\): refusing'));
  assert.match(r.stderr, /Restore the database from a backup, or start with --force-new-db \(KIBITKA_FORCE_NEW_DB=1\)/);
  assert.doesNotMatch(r.stderr, /migration/, 'no migration ran');
  assert.equal(statSync(db).size, 0, 'the database file is untouched');
  assert.deepEqual(dirSnapshot(recordings), before, 'the recordings are untouched');

  // Case 2: the database deleted.
  unlinkSync(db);
  r = await serveOnce(data);
  t.diagnostic(`missing db: exit ${r.status}`);
  assert.equal(r.status, 1, 'the start is refused');
  assert.match(r.stderr, /kibitka\.db is missing, but the data directory holds recordings/);
  assert.ok(!existsSync(db), 'no database was created');
  assert.deepEqual(dirSnapshot(recordings), before, 'the recordings are untouched');

  // --force-new-db (here as its variable) starts a new, empty database.
  const forced = await startServer(['--data', data], { KIBITKA_FORCE_NEW_DB: '1' });
  try {
    assert.match(forced.log(), /is missing; --force-new-db: starting a new one beside the recordings/);
    assert.ok(statSync(db).size > 0, 'a new database');
  } finally {
    await forced.stop();
  }
  // Now the database has a schema: a plain start works again.
  const again = await startServer(['--data', data]);
  await again.stop();
  assert.deepEqual(dirSnapshot(recordings), before, 'the recordings are still there');
});

test('an empty data directory starts a new database without --force-new-db', { timeout: 30000 }, async () => {
  const data = mkdtempSync(path.join(workDir, 'lostdb-new-'));
  const srv = await startServer(['--data', data]);
  await srv.stop();
  assert.ok(statSync(path.join(data, 'kibitka.db')).size > 0);
});

// PostgreSQL: "empty" is a database where no migration was ever applied (users are not counted:
// an --open-publish server has none). A recording file stands in for a real one here; the test
// above makes real ones.
test('PostgreSQL without kibitka\'s schema beside recordings is refused the same way', { timeout: 60000 }, async (t) => {
  const pgDir = mkdtempSync(path.join(workDir, 'lostdb-pg-'));
  const url = execFileSync(path.join(repo, 'tests/lib/pg-start'), [pgDir], { encoding: 'utf8' }).trim();
  try {
    const data = mkdtempSync(path.join(workDir, 'lostdb-pgdata-'));
    mkdirSync(path.join(data, 'spool', 'abc'), { recursive: true });
    writeFileSync(path.join(data, 'spool', 'abc', '000001.mp4'), 'not empty');
    let r = await serveOnce(data, ['--db', url]);
    t.diagnostic(`fresh PostgreSQL: exit ${r.status}`);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /the database of --db \(PostgreSQL\) has no kibitka schema \(no migration applied\), but the data directory holds recordings \(such as .*spool\/abc\/000001\.mp4\)/);
    assert.doesNotMatch(r.stderr, /postgres(ql)?:\/\//, 'the url (it may hold a password) is not printed');
    assert.doesNotMatch(r.stderr, /applied migration/);
    const forced = await startServer(['--data', data, '--db', url, '--force-new-db']);
    await forced.stop();
    // Migrated now, without users: not empty any more.
    const again = await startServer(['--data', data, '--db', url]);
    await again.stop();
  } finally {
    execFileSync(path.join(repo, 'tests/lib/pg-stop'), [pgDir]);
  }
});
