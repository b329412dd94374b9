// How long the source's blocking reloads wait after their part exists while the
// ladder's rungs are behind (issue 10 item 7), and whether the lowest rung still advances.
//   node bench/rendition_wait.mjs [seconds] [size] [ladder] [preset]
// Defaults: 40 s, a 1920x1080 30 fps publish (the cached test clip, real time, stream copy),
// the default ladder (source,720p:2500k,480p:1000k,360p:600k), x264 veryfast; build/kibitka
// unless KIBITKA_BIN is set. Follows the source and the lowest rung (each with the audio) like
// a low-latency player (tests/e2e/lib/follow.mjs says how "after its part exists" is measured)
// and prints the delays (p50/p99/max, ms), the transcode lag and frames shed, and the load
// average.
import os from 'node:os';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
process.env.KIBITKA_BIN ||= path.join(here, '..', 'build', 'kibitka');
const lib = await import('../tests/e2e/lib/server.mjs');
const { followRendition, summary } = await import('../tests/e2e/lib/follow.mjs');

const [secArg, size = '1920x1080', ladder = lib.DEFAULT_LADDER,
  preset = 'veryfast'] = process.argv.slice(2);
const SECONDS = Number(secArg) || 40;
const clip = lib.testClip({ seconds: 60, size });
// BUSY=N: N busy loops (nice 0, other processes) during the run, as other load on the box;
// PLAYERS=1: also follow every rung and scrape /metrics and the multivariant twice a second.
const BUSY = Number(process.env.BUSY) || 0;
const PLAYERS = process.env.PLAYERS === '1';
const srv = await lib.startServer(['--open-publish', '--no-record', '--ladder', ladder,
  '--x264-preset', preset, '--cpu-budget', '100']);
const pub = lib.publish(srv.rtmpUrl('w'), clip, { loop: true });
const base = `${srv.base}/hls/w`;
try {
  const mv = await lib.waitFor(async () => {
    const r = await lib.fetchText(`${base}/index.m3u8`, { timeout: 20000 });
    return r.status === 200 ? r.text : null;
  }, { timeout: 40000, what: 'the multivariant playlist' });
  const rungs = [...mv.matchAll(/^([0-9a-z]+)\/media\.m3u8$/gm)].map((m) => m[1]).filter((r) => r !== 'source');
  const names = ['source', ...(PLAYERS ? rungs : rungs.slice(-1))];
  const busy = Array.from({ length: BUSY }, () => spawn(process.execPath,
    ['-e', `const e = Date.now() + ${SECONDS * 1000 + 5000}; while (Date.now() < e);`], { stdio: 'ignore' }));
  let scraping = PLAYERS;
  const scrape = (async () => {
    while (scraping) {
      try {
        await lib.fetchText(`${srv.base}/metrics`);
        await lib.fetchText(`${base}/index.m3u8`);
      } catch (e) {
        console.log(`  scrape: ${e.cause ? e.cause.code : e.message}`);
      }
      await lib.sleep(500);
    }
  })();
  const load0 = os.loadavg()[0];
  const runs = await Promise.all(names.map((r) => followRendition(`${base}/${r}/media.m3u8`, SECONDS * 1000)));
  scraping = false;
  await scrape;
  busy.forEach((b) => b.kill());
  const load1 = os.loadavg()[0];
  const m = (await lib.fetchText(`${srv.base}/metrics`)).text;
  const lag = (m.match(/kibitka_transcode_lag_seconds\{stream="w"\} ([\d.]+)/) || [])[1];
  const shed = (m.match(/kibitka_transcode_dropped_frames_total\S* (\d+)/) || [])[1];
  console.log(`BUSY=${BUSY} PLAYERS=${PLAYERS ? 1 : 0} ${size} --ladder ${ladder} --x264-preset ${preset}, ${SECONDS} s, load average ${load0.toFixed(1)} -> ${load1.toFixed(1)} (${os.cpus().length} cores)`);
  names.forEach((r, i) => {
    const d = summary(runs[i].delays), w = summary(runs[i].waits);
    console.log(`  ${r.padEnd(7)} answers ${d.n}: after the part existed p50 ${d.p50} p99 ${d.p99} max ${d.max} ms; request open p50 ${w.p50} max ${w.max} ms; longest part ${runs[i].longest} s`);
  });
  if (process.env.LOG) {
    (await import('node:fs')).writeFileSync(process.env.LOG, srv.log());
    names.forEach((r, i) => runs[i].answers.forEach((a, j) => {
      if (runs[i].delays[j] > Number(process.env.LATE || 300)) console.log(`  late ${r} ${a.msn}.${a.k} sent ${a.sent} got ${a.got} end ${a.end} delay ${runs[i].delays[j]}`);
    }));
  }
  console.log(`  transcode lag ${lag} s at the end, ${shed} rung frames shed`);
} catch (e) {
  console.error(`${e.stack}\nthe server's log:\n${srv.log().slice(-4000)}`);
  process.exitCode = 1;
} finally {
  await pub.stop();
  console.log(`  the server exited with ${JSON.stringify(await srv.stop())}`);
}
