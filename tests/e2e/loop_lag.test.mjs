// kibitka_loop_lag_seconds (issue 11 item 2): how late the network thread's event loop runs its
// timers. Near 0 on an idle server; after the process was stopped (SIGSTOP, as a thread starved
// of CPU) for 1.5 s, at least 1 s, whether /metrics is answered before or after the loop has run
// its overdue timers (the earliest one's lateness, then the windowed maximum).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { startServer, metric, sleep, waitFor, workDir } from './lib/server.mjs';

const data = mkdtempSync(path.join(workDir, 'loop-lag-'));
const srv = await startServer(['--data', data, '--open-publish']);
after(() => srv.stop());

test('the loop lag gauge is near 0 when idle and shows a stall', async (t) => {
  const idle = await metric(srv, 'kibitka_loop_lag_seconds');
  assert.equal(typeof idle, 'number');
  assert.ok(idle >= 0 && idle < 5, `idle lag ${idle}`); // generous: a loaded 2-core box
  process.kill(srv.proc.pid, 'SIGSTOP');
  await sleep(1500);
  process.kill(srv.proc.pid, 'SIGCONT');
  const late = await metric(srv, 'kibitka_loop_lag_seconds');
  t.diagnostic(`idle ${idle} s, after a 1.5 s stop ${late} s`);
  assert.ok(late >= 1, `lag after the stop: ${late}`);
  // it stays up for the window (10-20 s), then comes back down; only check it stays sane
  await waitFor(async () => (await metric(srv, 'kibitka_loop_lag_seconds')) >= 1,
    { timeout: 5000, what: 'the lag kept over the window' });
});
