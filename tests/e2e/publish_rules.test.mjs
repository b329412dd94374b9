// Who may publish, republishing after a dropped connection, and how long an ended stream stays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, testClip, publish, fetchText, waitFor, metric, sleep } from './lib/server.mjs';

const clip = testClip({ seconds: 24 });

test('without --open-publish every publish is refused with a clear reason', async () => {
  const srv = await startServer([]);
  try {
    const res = await publish(srv.rtmpUrl('nokey'), clip).exited;
    assert.notEqual(res.code, 0, 'ffmpeg reports the refusal');
    assert.match(srv.log(), /stream key|open-publish/);
    assert.equal((await fetchText(`${srv.base}/hls/nokey/index.m3u8`)).status, 404);
    assert.equal(await metric(srv, 'kibitka_live_streams'), 0);
  } finally {
    await srv.stop();
  }
});

test('a publisher whose connection drops can republish at once; ended streams linger, then go', async () => {
  const srv = await startServer(['--open-publish', '--hls-linger', '2']);
  try {
    const media = `${srv.base}/hls/again/source/media.m3u8`;
    const sidOf = (text) => (text.match(/init-([0-9a-f]+)\.mp4/) || [])[1];
    const first = publish(srv.rtmpUrl('again'), clip, { loop: true });
    const pl1 = await waitFor(async () => {
      const r = await fetchText(media);
      return r.status === 200 ? r.text : null;
    }, { timeout: 20000, what: 'the first playlist' });
    first.proc.kill('SIGKILL'); // no FCUnpublish, no clean close: a dropped connection
    await first.exited;
    const t = Date.now();
    const second = publish(srv.rtmpUrl('again'), clip, { loop: true });
    // The name is free at once: the second publisher is live within 2 s (not "already live").
    await waitFor(async () => (await metric(srv, 'kibitka_publishers')) === 1 &&
      (srv.log().match(/stream=again publish started/g) || []).length === 2,
    { timeout: 2000, interval: 50, what: 'the republish to be accepted' });
    console.log(`# republish accepted ${Date.now() - t} ms after the dropped connection`);
    assert.doesNotMatch(srv.log(), /already live/);
    const pl2 = await waitFor(async () => {
      const r = await fetchText(media);
      return r.status === 200 && sidOf(r.text) !== sidOf(pl1) ? r.text : null;
    }, { timeout: 20000, what: 'the new session playlist' });
    assert.ok(!pl2.includes('#EXT-X-ENDLIST'));

    await second.stop();
    await waitFor(async () => (await fetchText(media)).text.includes('#EXT-X-ENDLIST'),
      { timeout: 5000, what: 'ENDLIST' });
    const ended = Date.now();
    await waitFor(async () => (await fetchText(media)).status === 404,
      { timeout: 6000, what: 'the ended stream to go away' });
    const gone = Date.now() - ended;
    assert.ok(gone >= 1500, `gone after ${gone} ms, linger is 2 s`);
    await sleep(10);
  } finally {
    await srv.stop();
  }
});
