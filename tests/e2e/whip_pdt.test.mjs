// WHIP PROGRAM-DATE-TIME is the server's clock at the frames' arrival, as for RTMP: a WHIP
// stream's frames wait (held) until the first sender reports align the tracks, ~1-2 s with
// werift, and the PDT anchor used to be the first keyframe's release from that hold, which put
// every PDT that far in the future (a players' wall latency 0.7 s short, an ingest-to-playlist lag
// of -0.7 s in bench/whip_latency.mjs). The newest part's PDT + duration must not be later than
// the moment the playlist listing it was fetched (0.5 s of slack for an anchor frame delayed by
// load; before the fix it was 0.7-1.4 s ahead).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, fetchText, waitFor } from './lib/server.mjs';
import { listParts } from './lib/hls.mjs';
import { whipPublish } from './lib/whip.mjs';

const srv = await startServer(['--open-publish', '--no-record', '--ladder', 'none', '--part', '0.5']);
after(async () => {
  await srv.stop();
  setTimeout(() => process.exit(), 2000).unref(); // werift 0.25 may leave a UDP socket open
});

test('WHIP: the newest part\'s PROGRAM-DATE-TIME is not in the future', { timeout: 90000 }, async () => {
  const h = await whipPublish(srv.base, 'pdt', { seconds: 30 });
  try {
    assert.equal(h.status, 201, h.answer);
    const media = `${srv.base}/hls/pdt/source/media.m3u8`;
    await waitFor(async () => (await fetchText(media)).status === 200, { timeout: 30000 });
    let next = null;
    const ahead = [];
    for (let i = 0; i < 12; i++) { // ~6 s of blocking reloads
      const url = next ? `${media}?_HLS_msn=${next.msn}&_HLS_part=${next.k}` : media;
      const { text } = await fetchText(url);
      const now = Date.now();
      const lines = text.split('\n');
      const idx = lines.map((l, j) => (l.startsWith('#EXT-X-PROGRAM-DATE-TIME:') ? j : -1)).filter((j) => j >= 0).pop();
      const start = Date.parse(lines[idx].slice('#EXT-X-PROGRAM-DATE-TIME:'.length));
      let dur = 0;
      for (const l of lines.slice(idx + 1)) {
        const m = l.match(/^#EXT-X-PART:DURATION=([\d.]+)/);
        if (m) dur += Number(m[1]);
      }
      ahead.push(start + dur * 1000 - now);
      const parts = listParts(text);
      const last = parts[parts.length - 1];
      next = { msn: last.msn, k: last.k + 1 };
    }
    ahead.sort((a, b) => a - b);
    const median = ahead[ahead.length >> 1];
    assert.ok(median < 500, `the newest part ends ${median} ms after now (PDT in the future): ${ahead.join(', ')}`);
  } finally {
    await h.stop();
  }
});
