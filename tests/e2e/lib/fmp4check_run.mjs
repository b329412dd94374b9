// Investigation tool (not a test): starts kibitka, publishes the looping 24 s test clip, follows
// every rendition's parts for SECONDS with fmp4check.mjs and prints each track's duration
// histogram and every discontinuity or odd duration. From tests/e2e:
//   node lib/fmp4check_run.mjs 75 [--ladder source,360p:600k]
// VERBOSE=1 prints every part's tracks' decode time spans, RENDITIONS=a,b follows those
// (waiting for each, e.g. a rung the multivariant playlist left out), SERVER_LOG=1 the log,
// CAPTURE=DIR saves the first rendition's init section and parts there (and their order in
// DIR/order.txt) for mse_replay.mjs.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, testClip, publish, fetchText, waitFor } from './server.mjs';
import { followRendition, formatRow } from './fmp4check.mjs';
const seconds = Number(process.argv[2] || 60);
const extra = process.argv.slice(3);
const srv = await startServer(['--open-publish', '--no-record', ...extra]);
const pub = publish(srv.rtmpUrl('play'), testClip({ seconds: 24 }), { loop: true });
try {
  await waitFor(async () => (await fetchText(`${srv.base}/hls/play/index.m3u8`)).status === 200, { timeout: 30000, what: 'playlist' });
  const mv = (await fetchText(`${srv.base}/hls/play/index.m3u8`)).text;
  const rens = process.env.RENDITIONS ? process.env.RENDITIONS.split(',')
    : [...new Set([...mv.matchAll(/([a-z0-9]+)\/media\.m3u8/g)].map((m) => m[1]))];
  for (const r of rens)
    await waitFor(async () => (await fetchText(`${srv.base}/hls/play/${r}/media.m3u8`)).status === 200, { timeout: 60000, what: r });
  console.log('renditions', rens);
  const capture = process.env.CAPTURE;
  if (capture) {
    mkdirSync(capture, { recursive: true });
    writeFileSync(path.join(capture, 'order.txt'), '');
  }
  const onPart = (uri, body) => {
    writeFileSync(path.join(capture, uri), body);
    appendFileSync(path.join(capture, 'order.txt'), `${uri}\n`);
  };
  const results = await Promise.all(rens.map((r, i) => followRendition(srv.base, 'play', r, {
    seconds, log: process.env.VERBOSE ? (row) => console.log(r, formatRow(row)) : null,
    onPart: capture && i === 0 ? onPart : null })));
  rens.forEach((r, i) => {
    const { checker, playlists, blockingMs } = results[i];
    console.log(`== ${r}: ${checker.parts} parts, ${playlists} playlists, ${results[i].unavailable} x 503`);
    console.log(JSON.stringify(checker.summary(), null, 1));
    for (const x of checker.issues) console.log(r, x.kind, x.part, x.track || '', x.detail);
  });
} finally {
  await pub.stop();
  await srv.stop();
  if (process.env.SERVER_LOG) console.log(srv.log());
}
