// The JSON API over real HTTP, once on SQLite and once on a throwaway PostgreSQL
// (tests/lib/pg-start): every route, and every bad input of the issue, checking that none of the
// bad inputs changed a stored row.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { startServer, binary, workDir, repo } from './lib/server.mjs';

const backends = [{ name: 'sqlite', url: (dir) => `sqlite:${dir}/k.db` }];
let pgDir = null;
try {
  pgDir = mkdtempSync(path.join(workDir, 'pg-'));
  const pgUrl = execFileSync(path.join(repo, 'tests/lib/pg-start'), [pgDir], { encoding: 'utf8' }).trim();
  backends.push({ name: 'postgres', url: () => pgUrl });
  after(() => execFileSync(path.join(repo, 'tests/lib/pg-stop'), [pgDir]));
} catch (e) {
  // scripts/install-deps installs PostgreSQL: not being able to start it is a failure, not a skip.
  test('postgres backend starts', () => { throw new Error(`cannot start PostgreSQL: ${e.message}`); });
}

const ADMIN_PW = 'admin-pass-1';

for (const backend of backends) {
  const dir = mkdtempSync(path.join(workDir, `api-${backend.name}-`));
  const db = backend.url(dir);
  execFileSync(binary, ['user', 'add', 'admin', '--admin', '--password-stdin', '--db', db, '--data', dir],
    { input: `${ADMIN_PW}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
  const srv = await startServer(['--db', db, '--data', dir]);
  after(() => srv.stop());

  const call = async (method, p, { token, body, raw, headers = {} } = {}) => {
    const h = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    if (body !== undefined || raw !== undefined) h['content-type'] = 'application/json';
    const res = await fetch(srv.base + p, { method, headers: h, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
    const text = await res.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { /* checked by the caller */ }
    return { status: res.status, headers: res.headers, json, text };
  };
  const expectError = (r, status, code) => {
    assert.equal(r.status, status, r.text);
    assert.match(r.headers.get('content-type'), /^application\/json/);
    assert.equal(typeof r.json.error.message, 'string');
    if (code) assert.equal(r.json.error.code, code);
  };
  const login = async (username, password) => {
    const r = await call('POST', '/api/auth/login', { body: { username, password } });
    assert.equal(r.status, 200, r.text);
    return r.json.token;
  };
  const state = async (admin) => JSON.stringify([
    (await call('GET', '/api/users', { token: admin })).json,
    (await call('GET', '/api/streams', { token: admin })).json,
  ]);

  test(`${backend.name}: every route and every error`, async () => {
    const admin = await login('admin', ADMIN_PW);
    assert.match(admin, /^tk_[A-Za-z0-9_-]{43}$/);
    // The only admin can be neither deleted nor demoted (nobody could manage users after).
    expectError(await call('DELETE', '/api/users/admin', { token: admin }), 409, 'conflict');
    expectError(await call('PATCH', '/api/users/admin', { token: admin, body: { role: 'user' } }), 409, 'conflict');
    assert.equal((await call('GET', '/api/me', { token: admin })).json.role, 'admin');
    const me = await call('GET', '/api/me', { token: admin });
    assert.deepEqual([me.status, me.json.name, me.json.role], [200, 'admin', 'admin']);

    // Users (SQL metacharacters in the password, stored and usable verbatim).
    const bobPw = `x'); DROP TABLE users; -- "$(touch /tmp/pwned)`;
    let r = await call('POST', '/api/users', { token: admin, body: { name: 'bob', password: bobPw } });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual([r.json.name, r.json.role], ['bob', 'user']);
    const bob = await login('bob', bobPw);
    r = await call('POST', '/api/users', { token: admin, body: { name: 'carol', password: 'carol-pass', role: 'admin' } });
    assert.equal(r.status, 201);
    assert.equal((await call('GET', '/api/users/carol', { token: admin })).json.role, 'admin');
    r = await call('PATCH', '/api/users/carol', { token: admin, body: { role: 'user' } });
    assert.equal(r.json.role, 'user');
    assert.equal((await call('GET', '/api/users', { token: admin })).json.users.length, 3);

    // Streams.
    r = await call('POST', '/api/streams', { token: bob, body: { name: 'bobcam' } });
    assert.equal(r.status, 201, r.text);
    assert.match(r.json.key, /^sk_/);
    assert.equal(r.json.hls_url, '/hls/bobcam/index.m3u8');
    assert.equal(r.json.live, false);
    r = await call('GET', '/api/streams/bobcam', { token: bob });
    assert.equal(r.status, 200);
    assert.equal(r.json.key, undefined, 'the key is shown only at creation');
    assert.equal(r.json.owner, 'bob');
    assert.equal((await call('POST', '/api/streams', { token: admin, body: { name: 'admincam' } })).status, 201);
    assert.deepEqual((await call('GET', '/api/streams', { token: bob })).json.streams.map((s) => s.name), ['bobcam']);
    assert.deepEqual((await call('GET', '/api/streams', { token: admin })).json.streams.map((s) => s.name), ['admincam', 'bobcam']);
    assert.deepEqual((await call('GET', '/api/streams?user=bob', { token: admin })).json.streams.map((s) => s.name), ['bobcam']);
    r = await call('POST', '/api/streams/bobcam/key', { token: bob });
    assert.equal(r.status, 200);
    assert.match(r.json.key, /^sk_/);
    // Recorded unless told otherwise; PATCH turns recording off and on.
    assert.equal((await call('GET', '/api/streams/bobcam', { token: bob })).json.record, true);
    r = await call('PATCH', '/api/streams/bobcam', { token: bob, body: { record: false } });
    assert.deepEqual([r.status, r.json.record], [200, false]);
    assert.equal((await call('GET', '/api/streams/bobcam', { token: bob })).json.record, false);
    assert.equal((await call('PATCH', '/api/streams/bobcam', { token: admin, body: { record: true } })).json.record, true);
    expectError(await call('PATCH', '/api/streams/bobcam', { token: bob, body: { record: 'no' } }), 400, 'invalid_field');
    expectError(await call('PATCH', '/api/streams/bobcam', { token: bob, body: {} }), 400);
    expectError(await call('PATCH', '/api/streams/admincam', { token: bob, body: { record: false } }), 404, 'not_found');
    assert.equal((await call('POST', '/api/streams', { token: bob, body: { name: 'tmp', record: false } })).json.record, false);
    assert.equal((await call('DELETE', '/api/streams/tmp', { token: bob })).status, 204);
    assert.equal((await call('GET', '/api/streams/tmp', { token: bob })).status, 404);
    r = await call('GET', '/api/live');
    assert.deepEqual([r.status, r.json.live], [200, []]);
    r = await call('GET', '/api/openapi.json');
    assert.equal(r.json.openapi, '3.0.3');
    for (const [p, m] of [['/api/auth/login', 'post'], ['/api/streams/{name}/key', 'post'], ['/api/streams/{name}', 'patch'], ['/api/users/{name}', 'delete'], ['/api/live', 'get']])
      assert.ok(r.json.paths[p]?.[m], `${m} ${p} in openapi.json`);

    // Own password change, logout.
    expectError(await call('PATCH', '/api/me', { token: bob, body: { old_password: 'wrong-wrong', password: 'new-pass-1' } }), 403);
    const bobElsewhere = await login('bob', bobPw);
    assert.equal((await call('PATCH', '/api/me', { token: bob, body: { old_password: bobPw, password: 'new-pass-1' } })).status, 200);
    // The new password ends bob's other sessions, not the one that changed it.
    expectError(await call('GET', '/api/me', { token: bobElsewhere }), 401);
    assert.equal((await call('GET', '/api/me', { token: bob })).status, 200);
    const bob2 = await login('bob', 'new-pass-1');
    assert.equal((await call('POST', '/api/auth/logout', { token: bob2 })).status, 204);
    expectError(await call('GET', '/api/me', { token: bob2 }), 401);

    // Bad input: none of it may change a row.
    const before = await state(admin);
    expectError(await call('POST', '/api/streams', { token: bob, raw: '{"name":' }), 400, 'bad_json');
    expectError(await call('POST', '/api/streams', { token: bob, raw: '['.repeat(60000) }), 400, 'bad_json');
    expectError(await call('POST', '/api/streams', { token: bob, raw: JSON.stringify({ name: 'x'.repeat(70000) }) }), 413, 'payload_too_large');
    r = await call('POST', '/api/streams', { token: bob, body: { name: 42 } });
    expectError(r, 400, 'invalid_field');
    assert.match(r.json.error.message, /'name'/);
    r = await call('POST', '/api/users', { token: admin, body: { name: 'dave', password: 12345678 } });
    assert.match(r.json.error.message, /'password'/);
    expectError(await call('POST', '/api/streams', { token: bob, body: { name: 'y', owner: 'admin' } }), 400, 'unknown_field');
    expectError(await call('POST', '/api/streams', { token: bob, body: { name: "a'; DROP TABLE streams;--" } }), 400);
    expectError(await call('POST', '/api/users', { token: admin, body: { name: 'dave', password: 'short' } }), 400);
    expectError(await call('GET', '/api/nothing', { token: admin }), 404, 'not_found');
    r = await call('PUT', '/api/streams', { token: admin });
    expectError(r, 405, 'method_not_allowed');
    assert.equal(r.headers.get('allow'), 'GET, HEAD, POST');
    r = await call('GET', '/api/streams');
    expectError(r, 401);
    assert.equal(r.headers.get('www-authenticate'), 'Bearer');
    expectError(await call('GET', '/api/streams', { token: 'tk_' + 'A'.repeat(43) }), 401);
    expectError(await call('DELETE', '/api/streams/bobcam', { token: 'garbage' }), 401);
    for (const [m, p] of [['GET', '/api/streams/admincam'], ['DELETE', '/api/streams/admincam'], ['POST', '/api/streams/admincam/key']]) {
      r = await call(m, p, { token: bob });
      expectError(r, 404, 'not_found');
      assert.equal(r.json.error.message, 'no such stream', 'no hint that it exists');
    }
    expectError(await call('POST', '/api/streams', { token: bob, body: { name: 'admincam' } }), 409, 'conflict');
    expectError(await call('POST', '/api/users', { token: admin, body: { name: 'bob', password: 'whatever1' } }), 409, 'conflict');
    expectError(await call('POST', '/api/users', { token: bob, body: { name: 'eve', password: 'eve-pass-1' } }), 403, 'forbidden');
    expectError(await call('PATCH', '/api/users/bob', { token: bob, body: { role: 'admin' } }), 403, 'forbidden');
    expectError(await call('DELETE', '/api/users/admin', { token: bob }), 403, 'forbidden');
    let limited = 0;
    for (let i = 0; i < 40; i++) {
      r = await call('POST', '/api/auth/login', { body: { username: 'admin', password: `wrong-${i}` } });
      assert.ok(r.status === 401 || r.status === 429, r.text);
      if (r.status === 429) {
        limited++;
        assert.ok(Number(r.headers.get('retry-after')) > 0);
      }
    }
    assert.ok(limited >= 29, `${limited} of 40 wrong logins got 429`);
    assert.equal(await state(admin), before, 'no bad input changed a row');

    // Deleting a user takes their sessions and streams.
    assert.equal((await call('DELETE', '/api/users/bob', { token: admin })).status, 204);
    expectError(await call('GET', '/api/me', { token: bob }), 401);
    assert.equal((await call('GET', '/api/streams/bobcam', { token: admin })).status, 404);
  });
}
