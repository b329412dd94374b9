// A publisher that changes its resolution mid-stream (a new AVC sequence header, as OBS sends
// when its output size changes): every video rendition continues in the same playlist after an
// EXT-X-DISCONTINUITY with a new init section, the rungs re-encoded from the new source, and the
// server ends cleanly afterwards (the test build's ASan reports any worker or memory left).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startServer, testClip, fetchText, waitFor } from './lib/server.mjs';
import { getPlaylist, probe } from './lib/hls.mjs';
import { flvTags, publishFlvSequence } from './lib/rtmp.mjs';

const srv = await startServer(['--open-publish', '--ladder', 'source,360p:600k', '--hls-linger', '5']);
after(() => srv.stop());

test('a resolution change restarts the renditions with a discontinuity', async () => {
  const a = flvTags(readFileSync(testClip({ seconds: 8, size: '1280x720' })));
  const b = flvTags(readFileSync(testClip({ seconds: 8, size: '854x480' })));
  const c = await publishFlvSequence(srv.rtmp, 'resize', [a, b]);
  const base = `${srv.base}/hls/resize`;
  for (const r of ['source', '360p']) {
    const url = `${base}/${r}/media.m3u8`;
    const { text } = await waitFor(async () => {
      const p = await getPlaylist(url).catch(() => null);
      return p && /#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="(init-[0-9a-f]+-1\.mp4)"\n(?:#EXT-X-PROGRAM-DATE-TIME:.*\n)?(?:#EXT-X-PART:.*\n)*#EXTINF/.test(p.text) ? p : null;
    }, { timeout: 20000, what: `a discontinuity in ${r}` });
    const maps = [...text.matchAll(/#EXT-X-MAP:URI="([^"]+)"/g)].map((m) => m[1]);
    assert.equal(maps.length, 2, text);
    // The first segment after the discontinuity decodes at the new size with the new init.
    const after = text.split('#EXT-X-DISCONTINUITY\n')[1];
    const seg = after.match(/^(seg-[^\n]+\.m4s)$/m)[1];
    const [v] = await probe(new URL(maps[1], url).href, [new URL(seg, url).href]);
    const want = r === 'source' ? [854, 480] : [640, 360];
    assert.deepEqual([v.width, v.height], want, `${r} after the change`);
    assert.ok(Number(v.nb_read_frames) > 10, `${r}: ${v.nb_read_frames} frames decoded`);
    const before = text.split('#EXT-X-DISCONTINUITY\n')[0].match(/^(seg-[^\n]+\.m4s)$/m);
    if (before) {
      const [v0] = await probe(new URL(maps[0], url).href, [new URL(before[1], url).href]);
      assert.deepEqual([v0.width, v0.height], r === 'source' ? [1280, 720] : [640, 360]);
    }
  }
  const mv = await fetchText(`${base}/index.m3u8`);
  assert.match(mv.text, /360p\/media\.m3u8/);
  c.sock.destroy(); // the publisher vanishes without a goodbye
  await waitFor(async () => (await getPlaylist(`${base}/source/media.m3u8`)).text.includes('#EXT-X-ENDLIST'),
    { timeout: 20000, what: 'ENDLIST after the publisher vanished' });
  const exit = await srv.stop();
  assert.equal(exit.code, 0, srv.log().slice(-3000));
  assert.ok(!/Sanitizer|runtime error/.test(srv.log()), srv.log().slice(-3000));
});
