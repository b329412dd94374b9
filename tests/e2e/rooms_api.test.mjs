// Voice rooms over HTTP (issue 14), on SQLite and on a throwaway PostgreSQL (tests/lib/pg-start):
// the /api/rooms routes as an admin, a room's owner, another user and without a token; join
// tokens, who may mint which, and what they hold, checked against the key in the database's
// settings row (HMAC-SHA256 recomputed here); the key survives a restart, and on PostgreSQL a
// second node sharing the database signs with the same key and sees the same rooms. Nobody joins
// here: rooms have no participants and kick/mute find none (404); test_rooms_api.c drives them
// with an SFU double, voice_sfu.test.mjs with real members.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { startServer, binary, workDir, repo } from './lib/server.mjs';

const ADMIN_PW = 'admin-pass-1';

const backends = [{
  name: 'sqlite',
  url: (dir) => `sqlite:${dir}/k.db`,
  key: (url) => execFileSync('sqlite3', [url.slice('sqlite:'.length),
    "SELECT value FROM settings WHERE name = 'room_token_key'"], { encoding: 'utf8' }).trim(),
}];
let pgDir = null;
try {
  pgDir = mkdtempSync(path.join(workDir, 'pg-'));
  const pgUrl = execFileSync(path.join(repo, 'tests/lib/pg-start'), [pgDir], { encoding: 'utf8' }).trim();
  backends.push({
    name: 'postgres',
    url: () => pgUrl,
    key: (url) => execFileSync('psql', [url, '-At', '-c',
      "SELECT value FROM settings WHERE name = 'room_token_key'"], { encoding: 'utf8' }).trim(),
  });
  after(() => execFileSync(path.join(repo, 'tests/lib/pg-stop'), [pgDir]));
} catch (e) {
  // scripts/install-deps installs PostgreSQL: not being able to start it is a failure, not a skip.
  test('postgres backend starts', () => { throw new Error(`cannot start PostgreSQL: ${e.message}`); });
}

function client(srv) {
  const call = async (method, p, { token, body } = {}) => {
    const h = {};
    if (token) h.authorization = `Bearer ${token}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await fetch(srv.base + p, { method, headers: h, signal: AbortSignal.timeout(20000),
      body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { /* checked by the caller */ }
    return { status: res.status, json, text };
  };
  const expect = async (status, method, p, opts) => {
    const r = await call(method, p, opts);
    assert.equal(r.status, status, `${method} ${p}: ${r.text}`);
    return r;
  };
  const login = async (username, password) =>
    (await expect(200, 'POST', '/api/auth/login', { body: { username, password } })).json.token;
  return { call, expect, login };
}

// A join token's payload, after checking its form and its signature with the database's key.
function decodeToken(token, keyHex) {
  assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/, 'compact and URL-safe');
  const [payload, sig] = token.split('.');
  const want = createHmac('sha256', Buffer.from(keyHex, 'hex')).update(payload).digest('base64url');
  assert.equal(sig, want, 'signed with the key in the settings row');
  return JSON.parse(Buffer.from(payload, 'base64url').toString());
}

for (const backend of backends) {
  test(`${backend.name}: rooms, roles and join tokens`, { timeout: 180000 }, async () => {
    const dir = mkdtempSync(path.join(workDir, `rooms-${backend.name}-`));
    const db = backend.url(dir);
    execFileSync(binary, ['user', 'add', 'admin', '--admin', '--password-stdin', '--db', db, '--data', dir],
      { input: `${ADMIN_PW}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
    let srv = await startServer(['--db', db, '--data', dir]);
    let second = null;
    try {
      let api = client(srv);
      const { expect } = api;
      const admin = await api.login('admin', ADMIN_PW);
      for (const name of ['alice', 'bob'])
        await expect(201, 'POST', '/api/users', { token: admin, body: { name, password: `${name}-pass-1` } });
      const alice = await api.login('alice', 'alice-pass-1'); // owns the rooms
      const bob = await api.login('bob', 'bob-pass-1');       // another user

      // The key was made at the first start, before any token.
      const key = backend.key(db);
      assert.match(key, /^[0-9a-f]{64}$/);

      // Create: name rules, 409, the public flag, anonymous 401.
      let r = await expect(201, 'POST', '/api/rooms', { token: alice, body: { name: 'lobby', public: true } });
      assert.deepEqual([r.json.name, r.json.owner, r.json.public], ['lobby', 'alice', true]);
      r = await expect(201, 'POST', '/api/rooms', { token: alice, body: { name: 'backstage' } });
      assert.equal(r.json.public, false);
      await expect(201, 'POST', '/api/rooms', { token: bob, body: { name: 'bobs-den' } });
      assert.equal((await expect(409, 'POST', '/api/rooms', { token: bob, body: { name: 'lobby' } })).json.error.code, 'conflict');
      for (const name of ['Lobby', 'a b', 'x'.repeat(65), '', '../x'])
        await expect(400, 'POST', '/api/rooms', { token: bob, body: { name } });
      await expect(400, 'POST', '/api/rooms', { token: bob, body: { name: 'x', public: 'yes' } });
      await expect(401, 'POST', '/api/rooms', { body: { name: 'x' } });

      // List: own and public; admins all.
      const names = async (token) => (await expect(200, 'GET', '/api/rooms', { token })).json.rooms.map((x) => x.name);
      assert.deepEqual(await names(admin), ['backstage', 'bobs-den', 'lobby']);
      assert.deepEqual(await names(alice), ['backstage', 'lobby']);
      assert.deepEqual(await names(bob), ['bobs-den', 'lobby']);
      await expect(401, 'GET', '/api/rooms');

      // One room: public to everyone logged in; private like a missing room to others.
      r = await expect(200, 'GET', '/api/rooms/lobby', { token: bob });
      assert.deepEqual(r.json.participants, []);
      await expect(200, 'GET', '/api/rooms/backstage', { token: alice });
      await expect(200, 'GET', '/api/rooms/backstage', { token: admin });
      const hidden = await expect(404, 'GET', '/api/rooms/backstage', { token: bob });
      const missing = await expect(404, 'GET', '/api/rooms/nowhere', { token: bob });
      assert.deepEqual(hidden.json, { error: { ...missing.json.error } }, 'a private room looks missing');
      await expect(401, 'GET', '/api/rooms/lobby');

      // Tokens: anyone for themselves in a public room, with the defaults.
      const now = Date.now() / 1000;
      r = await expect(201, 'POST', '/api/rooms/lobby/token', { token: bob });
      let p = decodeToken(r.json.token, key);
      assert.deepEqual([p.r, p.u, p.d, p.s], ['lobby', 'bob', 'bob', true]);
      assert.match(p.i, /^[0-9a-f]{32}$/);
      assert.ok(p.e > now + 590 && p.e < now + 610, 'valid 600 s by default');
      assert.deepEqual([r.json.room, r.json.user, r.json.display, r.json.may_speak], ['lobby', 'bob', 'bob', true]);
      assert.equal(Date.parse(r.json.expires_at) / 1000, p.e);
      r = await expect(201, 'POST', '/api/rooms/lobby/token', { token: bob, body: { display: 'Bobby <script>', ttl_s: 30, may_speak: false } });
      p = decodeToken(r.json.token, key);
      assert.deepEqual([p.d, p.s], ['Bobby <script>', false]);
      assert.ok(p.e <= now + 31 + 5);
      // ...but not for a guest or another user, and not in a private room they cannot see.
      await expect(403, 'POST', '/api/rooms/lobby/token', { token: bob, body: { guest: 'Eve' } });
      await expect(403, 'POST', '/api/rooms/lobby/token', { token: bob, body: { user: 'alice' } });
      await expect(404, 'POST', '/api/rooms/backstage/token', { token: bob });
      await expect(401, 'POST', '/api/rooms/lobby/token');
      // The owner and admins mint for anyone: a listen-only guest, another user.
      r = await expect(201, 'POST', '/api/rooms/backstage/token', { token: alice, body: { guest: 'Visitor', may_speak: false } });
      p = decodeToken(r.json.token, key);
      assert.deepEqual([p.r, p.u, p.i, p.d, p.s], ['backstage', undefined, undefined, 'Visitor', false]);
      assert.equal(r.json.user, null);
      r = await expect(201, 'POST', '/api/rooms/backstage/token', { token: admin, body: { user: 'bob', display: 'B.', ttl_s: 86400 } });
      p = decodeToken(r.json.token, key);
      assert.deepEqual([p.u, p.d, p.s], ['bob', 'B.', true]);
      await expect(404, 'POST', '/api/rooms/backstage/token', { token: alice, body: { user: 'nobody' } });
      await expect(400, 'POST', '/api/rooms/backstage/token', { token: alice, body: { guest: 'G', user: 'bob' } });
      for (const ttl_s of [0, 9, 86401, -5])
        await expect(400, 'POST', '/api/rooms/backstage/token', { token: alice, body: { ttl_s } });
      await expect(400, 'POST', '/api/rooms/backstage/token', { token: alice, body: { guest: '' } });
      await expect(400, 'POST', '/api/rooms/backstage/token', { token: alice, body: { role: 'admin' } });
      await expect(404, 'POST', '/api/rooms/nowhere/token', { token: admin });

      // Moderation: owners and admins only; p1 is in no room (voice_sfu.test.mjs kicks and mutes
      // real members).
      await expect(403, 'POST', '/api/rooms/lobby/participants/p1/kick', { token: bob });
      await expect(403, 'POST', '/api/rooms/lobby/participants/p1/mute', { token: bob, body: { muted: true } });
      await expect(404, 'POST', '/api/rooms/backstage/participants/p1/kick', { token: bob });
      await expect(404, 'POST', '/api/rooms/lobby/participants/p1/kick', { token: alice });
      await expect(404, 'POST', '/api/rooms/lobby/participants/p1/mute', { token: admin, body: { muted: true } });
      await expect(400, 'POST', '/api/rooms/lobby/participants/p1/mute', { token: alice, body: {} });
      await expect(401, 'POST', '/api/rooms/lobby/participants/p1/kick');

      // Rooms and the key survive a restart.
      await srv.stop();
      srv = await startServer(['--db', db, '--data', dir]);
      api = client(srv);
      assert.deepEqual((await api.expect(200, 'GET', '/api/rooms', { token: admin })).json.rooms.map((x) => x.name),
        ['backstage', 'bobs-den', 'lobby']);
      assert.equal(backend.key(db), key);
      decodeToken((await api.expect(201, 'POST', '/api/rooms/lobby/token', { token: alice })).json.token, key);

      if (backend.name === 'postgres') {
        // A second node on the same database: the same rooms, tokens under the same key.
        second = await startServer(['--db', db, '--data', mkdtempSync(path.join(workDir, 'rooms-node2-'))]);
        const api2 = client(second);
        assert.deepEqual((await api2.expect(200, 'GET', '/api/rooms', { token: bob })).json.rooms.map((x) => x.name),
          ['bobs-den', 'lobby']);
        p = decodeToken((await api2.expect(201, 'POST', '/api/rooms/lobby/token', { token: bob })).json.token, key);
        assert.equal(p.u, 'bob');
        await api2.expect(204, 'DELETE', '/api/rooms/bobs-den', { token: bob });
        await api.expect(404, 'GET', '/api/rooms/bobs-den', { token: bob });
      }

      // Delete: owner or admin; a room goes with its owner.
      await api.expect(403, 'DELETE', '/api/rooms/lobby', { token: bob });
      await api.expect(404, 'DELETE', '/api/rooms/backstage', { token: bob });
      await api.expect(401, 'DELETE', '/api/rooms/lobby');
      await api.expect(204, 'DELETE', '/api/rooms/lobby', { token: alice });
      await api.expect(404, 'GET', '/api/rooms/lobby', { token: alice });
      await api.expect(404, 'DELETE', '/api/rooms/lobby', { token: alice });
      await api.expect(204, 'DELETE', '/api/rooms/backstage', { token: admin });
      await api.expect(201, 'POST', '/api/rooms', { token: bob, body: { name: 'lobby', public: true } });
      await api.expect(204, 'DELETE', '/api/users/bob', { token: admin });
      assert.deepEqual((await api.expect(200, 'GET', '/api/rooms', { token: admin })).json.rooms, []);
    } finally {
      if (second) assert.equal((await second.stop()).code, 0, second.log());
      const { code } = await srv.stop();
      assert.equal(code, 0, srv.log());
    }
  });
}
