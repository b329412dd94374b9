// Investigation tool (not a test): appends parts captured by fmp4check_run.mjs (CAPTURE=DIR) to a
// bare MSE SourceBuffer in headless Chromium, one by one in playlist order, and prints the
// buffered ranges after each: does the browser keep every part, without any player in between?
// From tests/e2e:
//   node lib/mse_replay.mjs DIR
// MODES=segments,sequence (default both), START=15.0 (first part), OFFSET=-7.999 (timestampOffset
// set before the first part, or before every part with ABORT_EACH=1, after an abort(): what
// Shaka Player 5.2 does for a negative offset, see docs/ARCHITECTURE.md), CODECS (default
// avc1.64001f,mp4a.40.2).
import http from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node lib/mse_replay.mjs DIR');
  process.exit(2);
}
let order = readFileSync(path.join(dir, 'order.txt'), 'utf8').trim().split('\n');
if (process.env.START) {
  const i = order.findIndex((n) => n.endsWith(`-${process.env.START}.m4s`));
  if (i < 0) throw new Error(`no part ${process.env.START}`);
  order = [order.filter((n) => n.startsWith('init'))[0], ...order.slice(i).filter((n) => !n.startsWith('init'))];
}
const opts = {
  offset: Number(process.env.OFFSET || 0),
  abortEach: !!process.env.ABORT_EACH,
  codecs: process.env.CODECS || 'avc1.64001f,mp4a.40.2',
};
const srv = http.createServer((req, res) => {
  if (req.url === '/') {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    return res.end('<video id=v muted></video>');
  }
  try {
    const body = readFileSync(path.join(dir, path.basename(req.url)));
    res.writeHead(200);
    res.end(body);
  } catch {
    res.writeHead(404);
    res.end();
  }
}).listen(0, '127.0.0.1');
await new Promise((r) => srv.once('listening', r));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
try {
  const tab = await browser.newPage();
  await tab.goto(`http://127.0.0.1:${srv.address().port}/`);
  for (const mode of (process.env.MODES || 'segments,sequence').split(',')) {
    const rows = await tab.evaluate(async ([order, mode, o]) => {
      const v = document.getElementById('v');
      const ms = new MediaSource();
      v.src = URL.createObjectURL(ms);
      await new Promise((r) => ms.addEventListener('sourceopen', r, { once: true }));
      const sb = ms.addSourceBuffer(`video/mp4; codecs="${o.codecs}"`);
      sb.mode = mode;
      const append = (buf) => new Promise((resolve, reject) => {
        sb.addEventListener('updateend', resolve, { once: true });
        sb.addEventListener('error', () => reject(new Error('append error')), { once: true });
        sb.appendBuffer(buf);
      });
      const fmt = (b) => {
        const out = [];
        for (let i = 0; i < b.length; i++) out.push(`${b.start(i).toFixed(3)}-${b.end(i).toFixed(3)}`);
        return out.join(',');
      };
      const out = [];
      let first = true;
      for (const name of order) {
        const buf = await (await fetch(`/${name}`)).arrayBuffer();
        if (!name.startsWith('init') && (first || o.abortEach)) {
          if (!first) sb.abort();
          sb.timestampOffset = o.offset;
          first = false;
        }
        await append(buf);
        out.push(`${name} ${fmt(sb.buffered)}`);
      }
      return out;
    }, [order, mode, opts]);
    console.log(`== ${mode}`);
    for (const r of rows) console.log(r);
  }
} finally {
  await browser.close();
  srv.close();
}
