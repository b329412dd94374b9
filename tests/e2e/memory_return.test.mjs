// Memory goes back to the system when streams end (issue 11, item 9): after a 40-stream spike
// with one stream left, RSS stayed at 2.5 GB (glibc keeps freed heap; main.c keeps parts in the
// heap on purpose). Now main's tick trims the heap a little after streams end (core/alloc.h
// heap_trim: glibc's malloc_trim(0), or in the sanitizer build ASan's allocator purge, without
// which this test could not run there: malloc_trim does not touch ASan's heap).
// Measured under ASan: 60 MB at start, 162 MB with 10 streams, 71-72 MB 8 s after they ended.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startServer, testClip, publish, waitFor, fetchText, metric, sleep } from './lib/server.mjs';

const N = 10;
const vmrss = (pid) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/)[1]) * 1024;
const mb = (b) => `${(b / 2 ** 20).toFixed(0)} MB`;

test('RSS returns after a spike of streams ends', { timeout: 120000 }, async (t) => {
  const srv = await startServer(['--open-publish', '--hls-linger', '1', '--no-record']);
  try {
    const clip = testClip({ seconds: 20 });
    const base = vmrss(srv.proc.pid);
    const pubs = Array.from({ length: N }, (_, i) => publish(srv.rtmpUrl(`spike${i}`), clip, { loop: true }));
    await waitFor(async () => (await Promise.all(pubs.map((_, i) =>
      fetchText(`${srv.base}/hls/spike${i}/index.m3u8`)))).every((r) => r.status === 200),
    { timeout: 30000, what: 'every stream live' });
    await sleep(8000); // let each fill its window of parts
    const peak = vmrss(srv.proc.pid);
    await Promise.all(pubs.map((p) => p.stop()));
    // Ended, lingered 1 s, dropped; the trim runs 2 s later.
    await sleep(8000);
    const after = vmrss(srv.proc.pid);
    t.diagnostic(`RSS: ${mb(base)} at start, ${mb(peak)} with ${N} streams, ${mb(after)} 8 s after they ended`);
    assert.ok(peak - base > 30 * 2 ** 20, `the spike used memory: ${mb(peak - base)}`);
    assert.ok(after - base < (peak - base) / 2, `at least half of it returned: ${mb(after)}`);
    const m = await metric(srv, 'process_resident_memory_bytes');
    assert.ok(Math.abs(m - after) < 16 * 2 ** 20, `the metric agrees: ${mb(m)}`);
  } finally {
    await srv.stop();
  }
});
