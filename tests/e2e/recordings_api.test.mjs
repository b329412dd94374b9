// The recordings API over real HTTP with real recordings (--record-chunk 2), on SQLite and on a
// throwaway PostgreSQL: two users publish, recording.ready arrives by webhook, then the list
// (own / all, filters, pages, 400s), another user's recording (404), chunk downloads (the same
// bytes as the file in DATA/recordings; a Range), the VOD playlist decoded by ffmpeg over HTTP
// through its signed URL (no token), and DELETE (objects, then rows).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { webhookReceiver } from './lib/hooks.mjs';
import { startServer, testClip, publish, waitFor, binary, workDir, repo } from './lib/server.mjs';
import { openPlayerPage, startPlayback } from './lib/player.mjs';

const SECONDS = 7;
const clip = testClip({ seconds: SECONDS, size: '640x360' });
const ADMIN_PW = 'admin-pass-1';

const backends = [{ name: 'sqlite', url: (dir) => `sqlite:${dir}/k.db` }];
if (!process.env.KIBITKA_E2E_SQLITE_ONLY) {
  try {
    const pgDir = mkdtempSync(path.join(workDir, 'pg-'));
    const pgUrl = execFileSync(path.join(repo, 'tests/lib/pg-start'), [pgDir], { encoding: 'utf8' }).trim();
    backends.push({ name: 'postgres', url: () => pgUrl });
    after(() => execFileSync(path.join(repo, 'tests/lib/pg-stop'), [pgDir]));
  } catch (e) {
    test('postgres backend starts', () => { throw new Error(`cannot start PostgreSQL: ${e.message}`); });
  }
}

function ffprobe(url, args) {
  return execFileSync('ffprobe', ['-v', 'error', ...args, '-of', 'csv=p=0', url],
    { encoding: 'utf8', timeout: 60000 }).trim();
}

for (const backend of backends) {
  test(`${backend.name}: list, chunks, playlist, delete`, { timeout: 180000 }, async () => {
    const dir = mkdtempSync(path.join(workDir, `rec-api-${backend.name}-`));
    const db = backend.url(dir);
    execFileSync(binary, ['user', 'add', 'admin', '--admin', '--password-stdin', '--db', db, '--data', dir],
      { input: `${ADMIN_PW}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
    const rx = await webhookReceiver();
    const srv = await startServer(['--db', db, '--data', dir, '--record-chunk', '2', '--webhook', rx.url]);
    try {
      const call = async (method, p, { token, body, headers = {} } = {}) => {
        const h = { ...headers };
        if (token) h.authorization = `Bearer ${token}`;
        if (body) h['content-type'] = 'application/json';
        const res = await fetch(srv.base + p, { method, headers: h, redirect: 'manual',
          body: body ? JSON.stringify(body) : undefined });
        const buf = Buffer.from(await res.arrayBuffer());
        let json = null;
        try { json = JSON.parse(buf.toString()); } catch { /* not JSON */ }
        return { status: res.status, headers: res.headers, json, buf, text: buf.toString() };
      };
      const login = async (username, password) =>
        (await call('POST', '/api/auth/login', { body: { username, password } })).json.token;
      const admin = await login('admin', ADMIN_PW);
      for (const name of ['alice', 'bob'])
        assert.equal((await call('POST', '/api/users', { token: admin, body: { name, password: `${name}-pass-1` } })).status, 201);
      const alice = await login('alice', 'alice-pass-1');
      const bob = await login('bob', 'bob-pass-1');
      const keys = {};
      for (const [tok, name] of [[alice, 'alicecam'], [bob, 'bobcam']]) {
        const r = await call('POST', '/api/streams', { token: tok, body: { name, record: true } });
        assert.equal(r.status, 201, r.text);
        keys[name] = r.json.key;
      }

      // Both publish; each recording becomes ready (every chunk uploaded) and says so.
      const t0 = Date.now();
      const pubs = Object.values(keys).map((k) => publish(srv.rtmpUrl(k), clip));
      // While it is recorded: listed as recording, DELETE is a 409, the playlist an EVENT one.
      const live = await waitFor(async () => {
        const l = await call('GET', '/api/recordings', { token: alice });
        return l.json.recordings.find((x) => x.state === 'recording');
      }, { what: 'a recording in progress' });
      const del = await call('DELETE', `/api/recordings/${live.id}`, { token: alice });
      assert.equal(del.status, 409, del.text);
      const event = await call('GET', `/api/recordings/${live.id}/index.m3u8`, { token: alice });
      assert.match(event.text, /#EXT-X-PLAYLIST-TYPE:EVENT/);
      assert.doesNotMatch(event.text, /#EXT-X-ENDLIST/);
      for (const p of pubs) assert.equal((await p.exited).code, 0);
      console.log(`# published ${SECONDS} s twice in ${Date.now() - t0} ms`);
      const ready = await waitFor(() => {
        const got = rx.events.filter((e) => e.type === 'recording.ready');
        return got.length === 2 && got;
      }, { timeout: 30000, what: 'two recording.ready webhooks' });
      const aliceReady = ready.find((e) => e.data.stream === 'alicecam').data;
      assert.equal(aliceReady.user, 'alice');
      assert.ok(aliceReady.chunks.length >= 3, JSON.stringify(aliceReady));

      // The list: own for users, all for admins; filters and pages.
      let r = await call('GET', '/api/recordings', { token: alice });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.total, 1);
      const rec = r.json.recordings[0];
      assert.deepEqual([rec.id, rec.stream, rec.user, rec.state], [aliceReady.id, 'alicecam', 'alice', 'ready']);
      assert.ok(Math.abs(rec.duration_seconds - SECONDS) < 1.5, `duration ${rec.duration_seconds}`);
      r = await call('GET', '/api/recordings', { token: admin });
      assert.equal(r.json.total, 2);
      const bobId = r.json.recordings.find((x) => x.stream === 'bobcam').id;
      r = await call('GET', '/api/recordings?limit=1', { token: admin });
      assert.deepEqual([r.json.recordings.length, r.json.total, r.json.next_offset], [1, 2, 1]);
      const first = r.json.recordings[0].id;
      r = await call('GET', '/api/recordings?limit=1&offset=1', { token: admin });
      assert.notEqual(r.json.recordings[0].id, first);
      assert.equal(r.json.next_offset, null);
      r = await call('GET', '/api/recordings?user=bob', { token: admin });
      assert.deepEqual(r.json.recordings.map((x) => x.id), [bobId]);
      r = await call('GET', '/api/recordings?stream=alicecam', { token: admin });
      assert.deepEqual(r.json.recordings.map((x) => x.id), [aliceReady.id]);
      const since = new Date(Date.parse(rec.started_at) - 60000).toISOString();
      r = await call('GET', `/api/recordings?from=${encodeURIComponent(since)}&to=${Math.floor(Date.now() / 1000) + 60}`, { token: alice });
      assert.equal(r.json.total, 1);
      r = await call('GET', `/api/recordings?to=${Math.floor(Date.parse(rec.started_at) / 1000) - 60}`, { token: alice });
      assert.equal(r.json.total, 0);
      for (const [q, name] of [['from=yesterday', 'from'], ['to=2026-13-01T00:00:00Z', 'to'],
        ['limit=1000', 'limit'], ['offset=-2', 'offset'], ['stream=..%2Fetc', 'stream']]) {
        r = await call('GET', `/api/recordings?${q}`, { token: alice });
        assert.equal(r.status, 400, q);
        assert.equal(r.json.error.code, 'invalid_parameter');
        assert.match(r.json.error.message, new RegExp(`'${name}'`));
      }
      assert.equal((await call('GET', '/api/recordings?user=bob', { token: alice })).status, 403);
      assert.equal((await call('GET', '/api/recordings')).status, 401);

      // Another user's recording is a 404, exactly like a missing one.
      const missing = await call('GET', `/api/recordings/${'0'.repeat(32)}`, { token: bob });
      for (const p of ['', '/chunks/1', '/index.m3u8']) {
        r = await call('GET', `/api/recordings/${aliceReady.id}${p}`, { token: bob });
        assert.equal(r.status, 404, p);
        if (!p) assert.deepEqual(r.json, missing.json);
      }
      assert.equal((await call('DELETE', `/api/recordings/${aliceReady.id}`, { token: bob })).status, 404);

      // One recording: its chunks, each the same bytes as the file in the store.
      r = await call('GET', `/api/recordings/${aliceReady.id}`, { token: alice });
      assert.equal(r.status, 200);
      const detail = r.json;
      assert.equal(detail.chunk_list.length, aliceReady.chunks.length);
      for (const c of detail.chunk_list) {
        assert.equal(c.state, 'uploaded');
        const file = readFileSync(path.join(dir, 'recordings', c.object_key));
        const got = await call('GET', `/api/recordings/${aliceReady.id}/chunks/${c.seq}`, { token: alice });
        assert.equal(got.status, 200);
        assert.equal(got.headers.get('content-type'), 'video/mp4');
        assert.equal(Number(got.headers.get('content-length')), file.length);
        assert.ok(got.buf.equals(file), `chunk ${c.seq}`);
      }
      const c1 = detail.chunk_list[0];
      r = await call('GET', `/api/recordings/${aliceReady.id}/chunks/1`, { token: alice, headers: { range: 'bytes=100-199' } });
      assert.equal(r.status, 206);
      assert.equal(r.headers.get('content-range'), `bytes 100-199/${c1.bytes}`);
      assert.ok(r.buf.equals(readFileSync(path.join(dir, 'recordings', c1.object_key)).subarray(100, 200)));
      const signedChunk = await fetch(srv.base + c1.url);
      assert.equal(signedChunk.status, 200, 'a chunk by its signed url, no token');
      // A tampered link is a 403 saying so, not a 401 asking a player for a token.
      r = await call('GET', c1.url.replace(/sig=(.)/, (_, ch) => `sig=${ch === '0' ? '1' : '0'}`));
      assert.deepEqual([r.status, r.json.error.code], [403, 'link_invalid']);

      // The playlist by its signed URL: ffmpeg decodes it over HTTP, about the published time.
      const playlistUrl = srv.base + detail.playlist_url;
      const text = await (await fetch(playlistUrl)).text();
      assert.match(text, /#EXT-X-PLAYLIST-TYPE:VOD/);
      assert.match(text, /#EXT-X-ENDLIST/);
      assert.equal(text.match(/#EXT-X-MAP/g).length, detail.chunk_list.length);
      const target = Number(text.match(/#EXT-X-TARGETDURATION:(\d+)/)[1]);
      const maxDur = Math.max(...detail.chunk_list.map((c) => c.duration_seconds));
      assert.equal(target, Math.ceil(maxDur));
      execFileSync('ffmpeg', ['-v', 'error', '-xerror', '-i', playlistUrl, '-f', 'null', '-'], { timeout: 60000 });
      const ts = ffprobe(playlistUrl, ['-select_streams', 'v', '-show_entries', 'packet=pts_time'])
        .split('\n').filter((l) => l.trim()).map(Number);
      const frames = ts.length;
      const span = Math.max(...ts) - Math.min(...ts) + 1 / 30;
      console.log(`# playlist: ${detail.chunk_list.length} chunks, ${frames} frames, ${span.toFixed(3)} s`);
      assert.ok(Math.abs(span - SECONDS) < 1, `span ${span}`);
      assert.ok(Math.abs(frames - SECONDS * 30) <= 30, `frames ${frames}`);

      // hls.js in Chromium (a page on another origin) plays it to the end, over every chunk's
      // own init section (the Range requests go through the CORS preflight).
      if (backend.name === 'sqlite') {
        const page = await openPlayerPage();
        try {
          await startPlayback(page.tab, playlistUrl);
          await page.tab.waitForFunction(() => document.getElementById('v').ended, null, { timeout: 30000 });
          const stats = await page.tab.evaluate(() => ({ ...window.stats,
            t: document.getElementById('v').currentTime }));
          console.log(`# hls.js: ended at ${stats.t.toFixed(3)} s, errors ${JSON.stringify(stats.errors)}`);
          assert.ok(Math.abs(stats.t - SECONDS) < 0.5, `ended at ${stats.t}`);
          assert.deepEqual(stats.errors.filter((e) => e.includes('fatal')), []);
        } finally {
          await page.close();
        }
      }

      // Delete: the objects, then the rows.
      const files = detail.chunk_list.map((c) => path.join(dir, 'recordings', c.object_key));
      assert.ok(files.every((f) => existsSync(f)));
      assert.equal((await call('DELETE', `/api/recordings/${aliceReady.id}`, { token: alice })).status, 204);
      assert.ok(files.every((f) => !existsSync(f)));
      assert.equal((await call('GET', `/api/recordings/${aliceReady.id}`, { token: alice })).status, 404);
      assert.equal((await fetch(signedChunk.url)).status, 404);
      assert.equal((await call('GET', '/api/recordings', { token: alice })).json.total, 0);
      assert.equal((await call('DELETE', `/api/recordings/${bobId}`, { token: admin })).status, 204);
      assert.equal((await call('GET', '/api/recordings', { token: admin })).json.total, 0);
    } finally {
      const { code } = await srv.stop();
      await rx.close();
      assert.equal(code, 0, srv.log());
    }
  });
}
