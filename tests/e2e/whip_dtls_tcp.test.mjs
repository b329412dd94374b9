// Two things a browser cannot be made to do, done with werift (lib/whip.mjs, a WebRTC stack we
// did not write) against the real server (issue 13):
//   - a wrong fingerprint: the offer carries the fingerprint of another certificate than the one
//     werift then shows in DTLS. The server refuses the handshake (no SRTP keys: the session
//     never counts as connected), counts it in kibitka_webrtc_failures_total{reason=
//     "fingerprint_mismatch"}, logs one line saying "fingerprint mismatch" and ends the session;
//     a publish running beside it goes on;
//   - ICE-TCP only: werift 0.25 does ICE-TCP (RFC 6544; iceUseTcp, its active candidate
//     dialling out); the server's UDP candidates are taken out of the answer, so the only pair
//     is werift's active TCP candidate with kibitka's passive one (RFC 4571 framing). A full
//     publish over it: connected over tcp, LL-HLS that decodes, one open ICE-TCP connection,
//     closed at DELETE.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, fetchText, fetchBytes, waitFor, binary, workDir, metricSeries } from './lib/server.mjs';
import { whipPublish } from './lib/whip.mjs';

const data = mkdtempSync(path.join(workDir, 'whip-dtls-tcp-'));
const cli = (args, input) => execFileSync(binary, [...args, '--data', data],
  { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
cli(['user', 'add', 'alice', '--password-stdin'], 'correct horse battery\n');
const keys = Object.fromEntries(['goodcam', 'badcam', 'tcpcam'].map((name) =>
  [name, cli(['stream', 'add', '--user', 'alice', '--name', name]).trim()]));

const srv = await startServer(['--data', data, '--log-level', 'info']);
const cleanups = [];
after(async () => {
  for (const f of cleanups.reverse()) await f();
  await srv.stop();
  // werift 0.25 leaves a UDP socket open after pc.close() now and then: end this process.
  setTimeout(() => process.exit(), 2000).unref();
});

const series = (name) => metricSeries(srv, name);
const SESSIONS = 'kibitka_webrtc_sessions{kind="whip"}';
const CONNECTED = 'kibitka_webrtc_connected_total';
const FP_FAILED = 'kibitka_webrtc_failures_total{reason="fingerprint_mismatch"}';

async function waitConnected(pc, what) {
  await waitFor(() => pc.connectionState === 'connected', { timeout: 30000, what: `${what} connected` });
}

// The source rendition's media playlist URL, once the stream is live.
async function sourceMedia(name) {
  const index = `${srv.base}/hls/${name}/index.m3u8`;
  const { text } = await waitFor(async () => {
    const r = await fetchText(index);
    return r.status === 200 && r;
  }, { timeout: 30000, what: index });
  return new URL(text.split('\n').find((l) => l && !l.startsWith('#')), index).href;
}
const segments = (text) => text.split('\n').filter((l) => l && !l.startsWith('#'));
const lastMsn = (text) => Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)[1]) + segments(text).length - 1;

test('a wrong fingerprint: DTLS refused, counted, one log line, the session ended, the other publish goes on', { timeout: 120000 }, async () => {
  const good = await whipPublish(srv.base, keys.goodcam, { seconds: 90 });
  cleanups.push(() => good.stop());
  assert.equal(good.status, 201, good.answer);
  await waitConnected(good.pc, 'the good publish');
  const goodMedia = await sourceMedia('goodcam');
  await waitFor(async () => segments((await fetchText(goodMedia)).text).length >= 1,
    { timeout: 30000, what: 'a segment of goodcam' });

  const before = { connected: await series(CONNECTED), failed: await series(FP_FAILED),
    sessions: await series(SESSIONS) };
  assert.equal(before.sessions, 1);
  // The fingerprint of another certificate (made here by openssl: werift uses one certificate
  // for every peer of a process): well formed, real, not the one werift shows.
  const dir = mkdtempSync(path.join(workDir, 'other-cert-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-subj', '/CN=not-the-publisher', '-days', '1', '-keyout', path.join(dir, 'key.pem'),
    '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
  const hex = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', path.join(dir, 'cert.pem')],
    { encoding: 'utf8' }).split('=')[1].trim();
  const otherFp = `a=fingerprint:sha-256 ${hex}`;
  let ownFp;
  const bad = await whipPublish(srv.base, keys.badcam, {
    seconds: 60,
    mangle: (sdp) => {
      ownFp = sdp.match(/^a=fingerprint:.*$/m)[0].trim();
      return sdp.replace(/^a=fingerprint:.*$/gm, otherFp);
    },
  });
  cleanups.push(() => bad.stop());
  assert.notEqual(ownFp, otherFp, 'the offer names another certificate');
  assert.equal(bad.status, 201, 'the offer itself is fine: the server cannot tell before DTLS');

  await waitFor(async () => await series(FP_FAILED) === before.failed + 1,
    { timeout: 30000, what: `${FP_FAILED} to count the refused handshake` });
  assert.equal(await series(CONNECTED), before.connected, 'the bad session never connected: no SRTP keys');
  assert.notEqual(bad.pc.connectionState, 'connected', 'werift did not get through either');
  // One WARN line for the failure (rtc: the session ended, its path and reason); the WHIP
  // publish's end line (INFO) carries the same reason. Once each: not one per retransmitted
  // flight of werift's.
  const fpLines = () => srv.log().split('\n').filter((l) => l.includes('fingerprint mismatch'));
  const checkLines = () => {
    const lines = fpLines();
    const warn = lines.filter((l) => / WARN  rtc stream=badcam WebRTC session \(udp [\d.]+:\d+\) ended: DTLS failed: fingerprint mismatch$/.test(l));
    assert.equal(warn.length, 1, `one WARN line says "fingerprint mismatch":\n${lines.join('\n')}`);
    assert.deepEqual(lines.filter((l) => !warn.includes(l)).map((l) => l.replace(/^\S+ /, '')),
      ['INFO  whip stream=badcam publish from 127.0.0.1 ended: DTLS failed: fingerprint mismatch'],
      'and the publish\'s end line, once');
    return lines;
  };
  for (const l of checkLines()) console.log(`# ${l}`);
  // The session is gone: the gauge is back to the good one alone, its resource is 404, and
  // the stream never went live.
  await waitFor(async () => await series(SESSIONS) === 1, { timeout: 10000, what: 'one WHIP session left' });
  const del = await bad.del();
  assert.equal(del.status, 404, 'the refused session is gone');
  assert.equal((await fetchText(`${srv.base}/hls/badcam/index.m3u8`)).status, 404, 'badcam never went live');

  // The good publish is untouched: still connected, and its playlist gains segments after.
  const at = lastMsn((await fetchText(goodMedia)).text);
  await waitFor(async () => lastMsn((await fetchText(goodMedia)).text) >= at + 2,
    { timeout: 30000, what: 'two more goodcam segments after the refused handshake' });
  assert.equal(good.pc.connectionState, 'connected');
  assert.equal(await series(SESSIONS), 1);
  assert.equal((await good.del()).status, 200, 'the good session was still there to DELETE');
  checkLines(); // still once each, seconds later
  assert.equal(await series(FP_FAILED), before.failed + 1, 'counted once');
  await good.stop();
});

test('ICE-TCP only: a werift publish over kibitka\'s passive ICE-TCP, LL-HLS that decodes', { timeout: 120000 }, async () => {
  const tcpBefore = await series('kibitka_rtc_tcp_connections');
  let answerSeen;
  const pub = await whipPublish(srv.base, keys.tcpcam, {
    seconds: 60,
    pc: { iceUseTcp: true, iceTcpPassive: false }, // an active TCP candidate: werift dials out
    // The server's UDP candidates out of the answer: only the passive TCP one is left to pair.
    mangleAnswer: (sdp) => {
      answerSeen = sdp;
      return sdp.split('\r\n').filter((l) => !(l.startsWith('a=candidate:') && / udp /i.test(l))).join('\r\n');
    },
  });
  cleanups.push(() => pub.stop());
  assert.equal(pub.status, 201, pub.answer);
  assert.match(pub.offer, /^a=candidate:.* tcp .* typ host tcptype active/m, 'werift offers an active TCP candidate');
  assert.match(answerSeen, new RegExp(`^a=candidate:.* tcp \\d+ 127\\.0\\.0\\.1 ${srv.rtc} typ host tcptype passive\\r$`, 'm'),
    'the server answers a passive TCP candidate on its --rtc port');
  await waitConnected(pub.pc, 'the ICE-TCP publish');
  // werift's active candidate is bound to each of the host's addresses: its connection may come
  // from another of them than 127.0.0.1, this host all the same.
  const connected = await waitFor(() => srv.log().split('\n').find((l) => l.includes('stream=tcpcam')
    && l.includes('WebRTC connected over')), { timeout: 10000, what: 'the server\'s "connected" line for tcpcam' });
  assert.match(connected, /WebRTC connected over tcp [\d.]+:\d+ /, connected);
  console.log(`# ${connected}`);
  assert.equal(await series('kibitka_rtc_tcp_connections'), tcpBefore + 1, 'one ICE-TCP connection open');

  const media = await sourceMedia('tcpcam');
  const list = await waitFor(async () => {
    const r = await fetchText(media);
    return r.status === 200 && segments(r.text).length >= 2 && r;
  }, { timeout: 40000, what: 'two segments of tcpcam' });
  const map = list.text.match(/#EXT-X-MAP:URI="([^"]+)"/)[1];
  const urls = [map, ...segments(list.text).slice(0, 2)].map((u) => new URL(u, media).href);
  const file = path.join(data, 'tcp.mp4');
  writeFileSync(file, Buffer.concat(await Promise.all(urls.map(async (u) => {
    const r = await fetchBytes(u);
    assert.equal(r.status, 200, u);
    return r.body;
  }))));
  const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-show_entries',
    'stream=codec_type,codec_name,nb_read_frames', '-of', 'json', file], { encoding: 'utf8' }));
  const v = probe.streams.find((s) => s.codec_type === 'video');
  const a = probe.streams.find((s) => s.codec_type === 'audio');
  assert.equal(v?.codec_name, 'h264', JSON.stringify(probe));
  assert.ok(Number(v.nb_read_frames) > 30, `decoded ${v.nb_read_frames} video frames`);
  assert.equal(a?.codec_name, 'aac', JSON.stringify(probe));
  assert.ok(Number(a.nb_read_frames) > 10, `decoded ${a.nb_read_frames} audio frames`);

  assert.equal((await pub.del()).status, 200);
  await waitFor(async () => await series('kibitka_rtc_tcp_connections') === tcpBefore,
    { timeout: 10000, what: 'the ICE-TCP connection closed with the session' });
  await pub.stop();
});
