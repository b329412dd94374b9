// RTMP slots held without a key (issue 11, item 3). Connections that finished the handshake and
// sent a 15-byte data message every few seconds were never closed (each message reset the idle
// timer), so 1,000 of them refused every real publisher at --max-connections. Now a connection
// not publishing --publish-timeout seconds after accept is closed whatever it sends, one address
// holds at most --max-connections-per-address connections, and /metrics counts both.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { startServer, testClip, publish, fetchText, waitFor, metric, sleep, binary, workDir } from './lib/server.mjs';
import * as rtmp from './lib/rtmp.mjs';

const DEADLINE = 12; // --publish-timeout, seconds
const PER_ADDRESS = 16;
const data = mkdtempSync(path.join(workDir, 'slots-'));
const cli = (args, input) => execFileSync(binary, [...args, '--data', data],
  { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
cli(['user', 'add', 'alice', '--password-stdin'], 'alice-pass-1\n');
const key = cli(['stream', 'add', '--user', 'alice', '--name', 'cam']).trim();
// --max-connections 40: without the per-address limit the two attacking addresses would hold
// every slot; --idle-timeout stays above the trickle's period, as in the report.
const srv = await startServer(['--data', data, '--no-record', '--publish-timeout', String(DEADLINE),
  '--max-connections', '40', '--max-connections-per-address', String(PER_ADDRESS), '--idle-timeout', '10']);
const clip = testClip({ seconds: 20, size: '640x360' });
after(async () => { await srv.stop(); });

const closedMetric = (reason) => metric(srv, `kibitka_rtmp_closed_total{reason="${reason}"}`);

// Handshake, connect, then a 15-byte AMF0 data message every 2 s until closed.
async function squatter(localAddress) {
  const c = await rtmp.connect(srv.rtmp, { localAddress });
  c.openedAt = Date.now();
  await rtmp.handshake(c);
  await rtmp.send(c, rtmp.connectCmd());
  const trickle = rtmp.chunked({ type: 18, payload: rtmp.amfString('abcdefghijkl') });
  assert.equal(rtmp.amfString('abcdefghijkl').length, 15);
  c.sent = 0;
  c.timer = setInterval(async () => { if (await rtmp.send(c, trickle)) c.sent++; }, 2000);
  c.closedAt.then(() => clearInterval(c.timer));
  return c;
}

test('squatters are closed at the deadline, the per-address limit refuses more, a keyed publisher goes live meanwhile', { timeout: 90000 }, async (t) => {
  // 40 squatters from two addresses: 16 each are let in, the other 8 are refused at accept.
  const addrs = [...Array(40).keys()].map((i) => (i % 2 ? '127.0.0.3' : '127.0.0.2'));
  const conns = await Promise.all(addrs.map(async (a) => {
    try { return await squatter(a); } catch { return null; } // refused at accept: no handshake
  }));
  const held = conns.filter((c) => c && !c.closed);
  t.diagnostic(`${held.length} of 40 squatters held after their handshake`);
  assert.equal(held.length, 2 * PER_ADDRESS, 'each address gets its share, no more');
  assert.equal(await closedMetric('per_address_limit'), 40 - 2 * PER_ADDRESS);
  assert.equal(await metric(srv, 'kibitka_rtmp_connections'), 2 * PER_ADDRESS);
  assert.match(srv.log(), /refusing connection from 127\.0\.0\.[23]:\d+: 16 connections open from that address \(--max-connections-per-address\)/);

  // A real publisher (from 127.0.0.1) with a valid key goes live while they are held.
  const pub = publish(srv.rtmpUrl(key), clip, { loop: true });
  try {
    await waitFor(async () => (await fetchText(`${srv.base}/hls/cam/index.m3u8`)).status === 200,
      { timeout: 20000, what: 'the keyed publish to go live' });
    const liveAt = Date.now();
    const openThen = held.filter((c) => !c.closed).length;
    t.diagnostic(`live ${((liveAt - held[0].openedAt) / 1000).toFixed(1)} s after the squatters connected; ${openThen} squatters open then`);
    assert.equal(openThen, 2 * PER_ADDRESS, 'live while every squatter still held its slot');

    // Every squatter is closed at the deadline though it kept sending.
    const times = await Promise.all(held.map(async (c) => ((await c.closedAt) - c.openedAt) / 1000));
    t.diagnostic(`closed after ${Math.min(...times).toFixed(1)} to ${Math.max(...times).toFixed(1)} s; messages sent each: ${Math.min(...held.map((c) => c.sent))}+`);
    assert.ok(Math.min(...times) >= DEADLINE - 0.5, `none closed before the deadline: ${Math.min(...times)} s`);
    assert.ok(Math.max(...times) <= DEADLINE + 3, `all closed by the deadline: ${Math.max(...times)} s`);
    assert.ok(held.every((c) => c.sent >= 2), 'each kept trickling until closed');
    assert.equal(await closedMetric('publish_timeout'), 2 * PER_ADDRESS);
    assert.equal(await closedMetric('idle_timeout'), 0, 'they were not idle');

    // The publisher is past the deadline and stays live; the slots are free again.
    await sleep(1000);
    assert.equal(pub.proc.exitCode, null, 'the publisher is still running');
    assert.equal(await metric(srv, 'kibitka_rtmp_connections'), 1);
    assert.equal(await metric(srv, 'kibitka_publishers'), 1);
    const again = await rtmp.connect(srv.rtmp, { localAddress: '127.0.0.2' });
    await rtmp.handshake(again);
    assert.ok(!again.closed, 'the address may connect again');
    again.sock.destroy();
  } finally {
    await pub.stop();
  }
});
