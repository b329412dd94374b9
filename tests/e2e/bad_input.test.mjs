// Bad RTMP input: each case must leave the server up and another live stream untouched.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startServer, testClip, publish, fetchText, waitFor, metric, sleep } from './lib/server.mjs';
import { getPlaylist, listParts } from './lib/hls.mjs';
import * as rtmp from './lib/rtmp.mjs';

const IDLE = 3; // --idle-timeout for this server, seconds
// No per-address limit: '500 silent connections' (all from 127.0.0.1) tests the idle timeout at
// scale; the limit has its own test (rtmp_slots.test.mjs).
const srv = await startServer(['--open-publish', '--idle-timeout', String(IDLE),
  '--max-connections-per-address', '0']);
const clip = testClip({ seconds: 24 });
const live = publish(srv.rtmpUrl('bystander'), clip, { loop: true });
const media = `${srv.base}/hls/bystander/source/media.m3u8`;
after(async () => { await live.stop(); await srv.stop(); });

async function newestPart() {
  const { text } = await getPlaylist(media);
  const p = listParts(text).pop();
  return p.msn * 1000 + p.k;
}

// The bystander stream keeps producing parts and the server stays healthy.
async function assertUntouched(what) {
  const h = await fetchText(`${srv.base}/health`);
  assert.equal(h.status, 200, `health after ${what}`);
  const a = await newestPart();
  await waitFor(async () => (await newestPart()) > a, { timeout: 3000, what: `a new bystander part after ${what}` });
  assert.equal(live.proc.exitCode, null, `bystander publisher still running after ${what}`);
}

before(async () => {
  await waitFor(async () => (await fetchText(media)).status === 200, { timeout: 20000, what: 'bystander playlist' });
});

test('random bytes instead of a handshake', async () => {
  const c = await rtmp.connect(srv.rtmp);
  const junk = crypto.randomBytes(4096);
  junk[0] = 0x47; // not version 3 (a TS sync byte, as if someone pointed an MPEG-TS sender here)
  await rtmp.send(c, junk);
  assert.ok(await rtmp.closedWithin(c, 2000), 'server closes the connection');
  await assertUntouched('random bytes');
});

test('a truncated handshake is closed after the idle timeout', async () => {
  const c = await rtmp.connect(srv.rtmp);
  await rtmp.send(c, Buffer.concat([Buffer.from([3]), Buffer.alloc(700)]));
  const t = Date.now();
  assert.ok(await rtmp.closedWithin(c, (IDLE + 3) * 1000), 'closed after the timeout');
  assert.ok(Date.now() - t >= (IDLE - 1.5) * 1000, 'not before the timeout');
  await assertUntouched('truncated handshake');
});

for (const size of [0, 0x7fffffff]) {
  test(`chunk size ${size}`, async () => {
    const c = await rtmp.connect(srv.rtmp);
    await rtmp.handshake(c);
    await rtmp.send(c, rtmp.setChunkSize(size));
    await rtmp.send(c, rtmp.connectCmd());
    assert.ok(await rtmp.closedWithin(c, 2000), 'closed');
    await assertUntouched(`chunk size ${size}`);
  });
}

test('chunk stream ids beyond any table', async () => {
  const c = await rtmp.connect(srv.rtmp);
  await rtmp.handshake(c);
  const msgs = [];
  for (let csid = 3; csid < 65599; csid += 97) msgs.push(rtmp.chunked({ csid, type: 20, payload: rtmp.amfNull() }));
  msgs.push(rtmp.chunked({ csid: 65599, type: 20, payload: rtmp.amfNull() }));
  await rtmp.send(c, Buffer.concat(msgs));
  assert.ok(await rtmp.closedWithin(c, 2000), 'closed');
  await assertUntouched('many chunk stream ids');
});

test('an AMF0 string length past the end of the message', async () => {
  const c = await rtmp.connect(srv.rtmp);
  await rtmp.handshake(c);
  const bad = Buffer.from([2, 0xff, 0xf0, 0x63, 0x6f]); // string of 65520 bytes, 2 present
  await rtmp.send(c, rtmp.chunked({ type: 20, payload: bad }));
  await rtmp.send(c, rtmp.connectCmd());
  assert.ok(await rtmp.closedWithin(c, 2000), 'closed');
  await assertUntouched('bad AMF0 string');
});

test('a message length of 16 MB', async () => {
  const c = await rtmp.connect(srv.rtmp);
  await rtmp.handshake(c);
  await rtmp.send(c, rtmp.chunked({ type: 9, payload: Buffer.alloc(128), declaredLength: 0xffffff }));
  assert.ok(await rtmp.closedWithin(c, 2000), 'closed');
  await assertUntouched('16 MB message');
});

test('a publish with no createStream', async () => {
  const c = await rtmp.connect(srv.rtmp);
  await rtmp.handshake(c);
  await rtmp.send(c, rtmp.connectCmd());
  await rtmp.send(c, rtmp.publishCmd('nocreate'));
  assert.ok(await rtmp.closedWithin(c, 2000), 'closed');
  assert.equal((await fetchText(`${srv.base}/hls/nocreate/index.m3u8`)).status, 404);
  await assertUntouched('publish without createStream');
});

test('a second publisher to a live name is refused; the first goes on', async () => {
  const second = publish(srv.rtmpUrl('bystander'), clip);
  const res = await second.exited;
  assert.notEqual(res.code, 0, 'ffmpeg reports the refusal');
  assert.match(srv.log(), /already live|busy/i);
  await assertUntouched('a second publisher');
});

test('a video codec other than H.264 is refused with a clear log line', async () => {
  const p = publish(srv.rtmpUrl('flv1'), clip, { extra: ['-c:v', 'flv1', '-an'] });
  // ffmpeg with -c copy would conflict; publish() puts -c copy first and the later -c:v wins.
  const res = await p.exited;
  assert.notEqual(res.code, 0);
  // The connection stays open until ffmpeg has read the onStatus, so it says why.
  assert.match(res.err, /Server error: video codec Sorenson H.263 \(2\) is not supported; use H.264/, res.err);
  assert.match(srv.log(), /stream=flv1 .*(not supported|unsupported)/i);
  assert.equal((await fetchText(`${srv.base}/hls/flv1/index.m3u8`)).status, 404);
  await assertUntouched('an unsupported codec');
});

test('500 silent connections are closed after the idle timeout', async (t) => {
  const accepted = (await metric(srv, 'kibitka_rtmp_connections_total')) || 0;
  const conns = await Promise.all(Array.from({ length: 500 }, () => rtmp.connect(srv.rtmp)));
  t.after(() => conns.forEach((c) => c.sock.destroy())); // a failure must not keep the file alive
  // Connected means the kernel finished the handshake; the server may still be accepting them
  // (a fixed 0.5 s was not enough on a loaded machine). The accept counter, not the open
  // gauge: on a loaded box the first ones may reach their idle timeout before the last is
  // accepted (a CI run waited IDLE - 1 s for the gauge to reach 500 and failed).
  await waitFor(async () => (await metric(srv, 'kibitka_rtmp_connections_total')) >= accepted + 500,
    { timeout: 20000, what: 'the server to accept all 500 connections' });
  await assertUntouched('500 open silent connections');
  const closed = await Promise.all(conns.map((c) => rtmp.closedWithin(c, (IDLE + 4) * 1000)));
  assert.equal(closed.filter(Boolean).length, 500);
  await waitFor(async () => (await metric(srv, 'kibitka_rtmp_connections')) <= 1, { what: 'connections gauge back to the publisher' });
  await assertUntouched('500 silent connections');
});

test('a publisher that goes silent ends its stream after the idle timeout', async () => {
  const c = await rtmp.connect(srv.rtmp);
  await rtmp.handshake(c);
  await rtmp.send(c, rtmp.connectCmd());
  await rtmp.send(c, rtmp.createStreamCmd());
  await rtmp.send(c, rtmp.publishCmd('silent'));
  assert.ok(await rtmp.closedWithin(c, (IDLE + 3) * 1000), 'closed after the idle timeout');
  assert.match(srv.log(), /stream=silent .*idle/i);
  await assertUntouched('a silent publisher');
});
