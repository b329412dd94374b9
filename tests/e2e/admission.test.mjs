// Admission control (issue 11, item 2): past --cpu-budget a new stream gets no ladder (its
// source passed through) or, with --over-budget refuse, is refused, with a log line and a metric,
// while the stream already live keeps its ladder. The budget here is 5 % of the cores: an idle
// server is far under it, one stream transcoding a 360p rung far over it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, testClip, publish, fetchText, waitFor, metric } from './lib/server.mjs';

const servers = [];
const pubs = [];
after(async () => {
  for (const p of pubs) await p.stop();
  for (const s of servers) await s.stop();
});

const LADDER = ['--open-publish', '--no-record', '--ladder', 'source,360p:600k', '--cpu-budget', '5'];

async function renditions(srv, name) {
  const { text } = await waitFor(async () => {
    const r = await fetchText(`${srv.base}/hls/${name}/index.m3u8`);
    return r.status === 200 && r.text.includes('#EXT-X-STREAM-INF') ? r : null;
  }, { timeout: 30000, what: `${name}'s multivariant playlist` });
  return [...text.matchAll(/^([a-z0-9]+)\/media\.m3u8$/gm)].map((m) => m[1]);
}

// Starts a server, waits until it is idle (under the budget), publishes stream "first" and waits
// until its ladder has both renditions and the CPU gauge is over the budget.
async function loadedServer(extra = []) {
  const srv = await startServer([...LADDER, ...extra]);
  servers.push(srv);
  await waitFor(async () => (await metric(srv, 'kibitka_cpu_usage_ratio')) < 0.05,
    { timeout: 20000, what: 'an idle server' });
  const clip = testClip({ seconds: 30 });
  const first = publish(srv.rtmpUrl('first'), clip);
  pubs.push(first);
  await waitFor(async () => (await renditions(srv, 'first')).length === 2,
    { timeout: 30000, what: 'the first stream with its 360p rung' });
  await waitFor(async () => (await metric(srv, 'kibitka_cpu_usage_ratio')) > 0.05,
    { timeout: 20000, what: 'CPU usage over the 5 % budget' });
  return { srv, clip };
}

test('over --cpu-budget a new stream is passed through; the live one keeps its ladder', async () => {
  const { srv, clip } = await loadedServer();
  assert.equal(await metric(srv, 'kibitka_admission_passthrough_total'), 0);
  const second = publish(srv.rtmpUrl('second'), clip);
  pubs.push(second);
  const got = await renditions(srv, 'second');
  assert.deepEqual(got, ['source'], 'the second stream has its source only');
  const { text } = await fetchText(`${srv.base}/hls/second/index.m3u8`);
  assert.ok(!text.includes('#EXT-X-MEDIA'), 'audio muxed into the source, no separate rendition');
  const media = await fetchText(`${srv.base}/hls/second/source/media.m3u8`);
  assert.equal(media.status, 200);
  assert.equal(await metric(srv, 'kibitka_admission_passthrough_total'), 1);
  assert.match(srv.log(), /second.*no ladder for this stream: CPU at [\d.]+% of \d+ cores, over --cpu-budget 5%/);
  assert.deepEqual(await renditions(srv, 'first'), ['source', '360p'], 'the first keeps its ladder');
});

test('with --over-budget refuse the publish is refused, counted and logged', async () => {
  const { srv, clip } = await loadedServer(['--over-budget', 'refuse']);
  const second = publish(srv.rtmpUrl('second'), clip);
  pubs.push(second);
  const { code } = await Promise.race([second.exited,
    new Promise((r) => setTimeout(() => r({ code: 'still running' }), 20000))]);
  assert.notEqual(code, 0, 'ffmpeg is refused');
  assert.notEqual(code, 'still running', 'ffmpeg is refused');
  assert.equal(await metric(srv, 'kibitka_admission_refused_total'), 1);
  assert.match(srv.log(), /second.*publish refused: CPU at [\d.]+% of \d+ cores, over --cpu-budget 5%/);
  assert.equal((await fetchText(`${srv.base}/hls/second/index.m3u8`)).status, 404);
  assert.deepEqual(await renditions(srv, 'first'), ['source', '360p']);
});

test('a bad --over-budget or --cpu-budget is refused at start', async () => {
  await assert.rejects(startServer(['--over-budget', 'maybe']), /--over-budget 'maybe' is not passthrough or refuse/);
  await assert.rejects(startServer(['--cpu-budget', '101']), /--cpu-budget 101 is out of range \(0 to 100 percent\)/);
});
