// Voice signaling on the real server (issue 14, sfu/signal.c): --ws is validated (exit 2, the
// setting named as given), bound before the data directory is touched (a port in use: exit 1,
// nothing created), served at /rtc only, and answers the messages that need no SFU; a join with a
// bad token is refused as "unauthorized". tests/unit/sfu/test_signal.c covers the rest against a
// double of the SFU, voice_sfu.test.mjs real members.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startServer, freePort, binary, workDir, waitFor } from './lib/server.mjs';
import { wsConnect } from './lib/ws.mjs';

const run = (args, env = {}) => spawnSync(binary, args,
  { encoding: 'utf8', timeout: 20000, env: { ...process.env, ...env } });

test('--ws is checked: a bad value exits 2 naming the setting; --help describes it', () => {
  for (const [args, env, want] of [
    [['serve', '--ws', 'nowhere'], {}, /^kibitka: --ws 'nowhere' is not ADDR:PORT \(e\.g\. 0\.0\.0\.0:8081\) or off\n$/],
    [['serve'], { KIBITKA_WS: '1.2.3.4' }, /^kibitka: KIBITKA_WS='1\.2\.3\.4' is not ADDR:PORT/],
  ]) {
    const r = run(args, env);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, want);
  }
  const help = run(['serve', '--help']);
  assert.match(help.stdout, /--ws ADDR:PORT +WebSocket signaling of the voice rooms at ws:\/\/ADDR:PORT\/rtc/);
  assert.match(help.stdout, /default 0\.0\.0\.0:8081/);
});

test('a --ws port in use is found before the data directory is touched', async () => {
  const held = net.createServer();
  await new Promise((r) => held.listen(0, '127.0.0.1', r));
  const port = held.address().port;
  try {
    const fresh = mkdtempSync(path.join(workDir, 'ws-bind-'));
    const missing = path.join(fresh, 'not-yet');
    for (const data of [fresh, missing]) {
      const r = run(['serve', '--data', data, '--http', `127.0.0.1:${await freePort()}`,
        '--rtmp', `127.0.0.1:${await freePort()}`, '--rtc', '127.0.0.1:0', '--ws', `127.0.0.1:${port}`]);
      assert.equal(r.status, 1, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], new RegExp(`ERROR main cannot listen on 127\\.0\\.0\\.1:${port} for WebSocket signaling \\(--ws\\): Address already in use$`));
      if (data === fresh) assert.deepEqual(readdirSync(fresh), []);
      else assert.ok(!existsSync(missing));
    }
  } finally {
    await new Promise((r) => held.close(r));
  }
});

test('the signaling socket: /rtc only, validation, ping, a join refused with a reason', async () => {
  const srv = await startServer(['--no-record']);
  try {
    assert.match(srv.log(), new RegExp(`ws 127\\.0\\.0\\.1:${srv.ws} \\(port ${srv.ws}\\)`));
    await assert.rejects(wsConnect(srv.ws, '/other'));
    const c = await wsConnect(srv.ws, '/rtc');
    c.send({ type: 'ping' });
    assert.deepEqual(await c.next(), { type: 'pong' });
    c.send('{"type":');
    assert.equal((await c.next()).code, 'bad_json');
    c.send({ type: 'dance' });
    const unknown = await c.next();
    assert.equal(unknown.code, 'unknown_type');
    assert.match(unknown.message, /unknown message type 'dance'/);
    c.send({ type: 'offer', sdp: 'v=0' });
    assert.equal((await c.next()).code, 'not_joined');
    c.send({ type: 'join', room: 'lobby', token: 'x', display: 'Ann' });
    const refused = await c.next();
    assert.equal(refused.type, 'error');
    assert.equal(refused.code, 'unauthorized', JSON.stringify(refused));
    assert.ok(refused.message.length > 0 && !refused.message.includes('"x"'), 'a reason, without the token');
    // A 100 KB message closes the socket with 1009; the server serves the next one.
    c.send({ type: 'offer', sdp: 'x'.repeat(100000) });
    assert.equal((await c.whenClosed()).code, 1009);
    const d = await wsConnect(srv.ws, '/rtc');
    d.send({ type: 'ping' });
    assert.deepEqual(await d.next(), { type: 'pong' });
    let metrics = '';
    await waitFor(async () => {
      metrics = await (await fetch(`${srv.base}/metrics`)).text();
      return /^kibitka_ws_sockets 1$/m.test(metrics);
    }, { timeout: 20000, what: 'the closed socket to be counted out' });
    assert.match(metrics, /^kibitka_ws_closed_total\{reason="too_large"\} 1$/m);
    d.close();
  } finally {
    await srv.stop();
  }
  assert.match(srv.log(), /INFO {2}main stopped/);
});

test('--ws off: nothing listens for signaling', async () => {
  const port = await freePort();
  const srv = await startServer(['--no-record', '--ws', 'off']);
  try {
    assert.doesNotMatch(srv.log(), /ws signaling/);
    await assert.rejects(wsConnect(port, '/rtc'));
  } finally {
    await srv.stop();
  }
});
