// Time from publish to the first playlist, and the live-edge lag (now minus the newest part's
// PROGRAM-DATE-TIME plus its duration), sampled for 30 s with 0.5 s parts.
//   node bench/latency.mjs   (uses build/kibitka unless KIBITKA_BIN is set)
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
process.env.KIBITKA_BIN ||= path.join(here, '..', 'build', 'kibitka');
const lib = await import('../tests/e2e/lib/server.mjs');
const { listParts } = await import('../tests/e2e/lib/hls.mjs');

const srv = await lib.startServer(['--open-publish', '--no-record', '--part', '0.5', '--log-level', 'warn']);
const clip = lib.testClip({ seconds: 24 });
const runs = [];
for (let i = 0; i < 3; i++) {
  const t0 = Date.now();
  const pub = lib.publish(srv.rtmpUrl(`lat${i}`), clip, { loop: true });
  await lib.waitFor(async () => (await lib.fetchText(`${srv.base}/hls/lat${i}/index.m3u8`)).status === 200,
    { interval: 10, timeout: 20000 });
  runs.push(Date.now() - t0);
  if (i < 2) await pub.stop();
  else {
    const media = `${srv.base}/hls/lat${i}/source/media.m3u8`;
    const lags = [];
    const end = Date.now() + 30000;
    let next = null;
    while (Date.now() < end) {
      const url = next ? `${media}?_HLS_msn=${next.msn}&_HLS_part=${next.k}` : media;
      const { text } = await lib.fetchText(url);
      const now = Date.now();
      const pdts = [...text.matchAll(/#EXT-X-PROGRAM-DATE-TIME:(\S+)\n(?:#EXT-X-PART:[^\n]*\n)*#EXTINF:([\d.]+)/g)];
      const lines = text.split('\n');
      // Newest segment start: the last PROGRAM-DATE-TIME; add every part after it.
      let idx = lines.map((l, j) => (l.startsWith('#EXT-X-PROGRAM-DATE-TIME:') ? j : -1)).filter((j) => j >= 0).pop();
      const start = Date.parse(lines[idx].split(':').slice(1).join(':'));
      let dur = 0;
      for (const l of lines.slice(idx + 1)) {
        const m = l.match(/^#EXT-X-PART:DURATION=([\d.]+)/);
        if (m) dur += Number(m[1]);
      }
      // parts of the newest segment follow its PROGRAM-DATE-TIME; if it is complete, its EXTINF
      if (dur === 0 && pdts.length) dur = Number(pdts[pdts.length - 1][2]);
      lags.push(now - (start + dur * 1000));
      const parts = listParts(text);
      const last = parts[parts.length - 1];
      next = { msn: last.msn, k: last.k + 1 };
    }
    await pub.stop();
    lags.sort((a, b) => a - b);
    const q = (p) => lags[Math.min(lags.length - 1, Math.floor(p * lags.length))];
    console.log(`publish to first playlist: ${runs.join(', ')} ms`);
    console.log(`live-edge lag over ${lags.length} blocking reloads: median ${q(0.5)} ms, p90 ${q(0.9)} ms, max ${lags[lags.length - 1]} ms (goal < 1000 ms with 0.5 s parts)`);
  }
}
await srv.stop();
