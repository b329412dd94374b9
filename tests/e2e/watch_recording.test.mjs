// An ended stream's last public recording on /watch/<stream> (issue 15): a user publishes a
// recorded stream (ffmpeg, --record-chunk 2) and it ends. While the recording is private,
// /watch/<stream> says the stream is not live and offers nothing, GET
// /api/streams/{name}/recording is 404 and the recording's playlist is 401 without a token. The
// owner ticks "Public" on /admin (PATCH /api/recordings/{id}); /watch/<stream> then offers the
// last recording and plays it through its signed VOD playlist with hls.js (currentTime
// advances), with no token in the tab; unticked, the route is 404 again and a fresh /watch
// offers nothing. axe-core (no serious or critical finding), no sideways scrolling and
// screenshots (`watch-recording-<width>.png`) at 360 and 1440 px.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { binary, publish, startServer, testClip, waitFor, workDir } from './lib/server.mjs';
import { axeFindings, shots, apiCall, launchChromium } from './lib/pages.mjs';


const PW = 'alice password 1';
const dataDir = mkdtempSync(path.join(workDir, 'watch-recording-'));
execFileSync(binary, ['user', 'add', 'alice', '--password-stdin', '--data', dataDir],
  { input: `${PW}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
const srv = await startServer(['--data', dataDir, '--record-chunk', '2']);
const clip = testClip({ seconds: 6, size: '640x360', rate: 30, gop: 30 });
let browser;
const pubs = [];
after(async () => {
  if (browser) await browser.close();
  for (const p of pubs) await p.stop();
  await srv.stop();
});

before(async () => {
  browser = await launchChromium('--autoplay-policy=no-user-gesture-required');
});

const api = (method, url, token, body) => apiCall(srv, method, url, token, body);


async function openTab(width = 1440) {
  const ctx = await browser.newContext({ viewport: { width, height: 900 } });
  const tab = await ctx.newPage();
  const problems = [];
  tab.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); void d.dismiss(); });
  tab.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  tab.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) problems.push(`console: ${m.text()}`); });
  const urls = [];
  tab.on('request', (r) => urls.push(r.url()));
  return { ctx, tab, problems, urls };
}

test('an ended stream offers its last recording on /watch once the owner made it public', { timeout: 180000 }, async () => {
  const alice = (await api('POST', '/api/auth/login', null, { username: 'alice', password: PW })).json.token;
  const made = await api('POST', '/api/streams', alice, { name: 'show' });
  assert.equal(made.status, 201);
  const pub = publish(srv.rtmpUrl(made.json.key), clip);
  pubs.push(pub);
  const res = await pub.exited;
  assert.equal(res.code, 0, res.err);
  const rec = await waitFor(async () => {
    const l = (await api('GET', '/api/recordings?stream=show', alice)).json.recordings;
    return l.length === 1 && l[0].state === 'ready' && l[0];
  }, { timeout: 60000, interval: 500, what: 'the recording to be ready' });
  assert.equal(rec.public, false, 'recordings start private');

  // Private: not offered, not reachable without a token.
  assert.equal((await api('GET', '/api/streams/show/recording')).status, 404);
  assert.equal((await api('GET', `/api/recordings/${rec.id}/index.m3u8`)).status, 401);
  assert.equal((await api('GET', `/api/recordings/${rec.id}/chunks/1.mp4`)).status, 401);
  {
    const { ctx, tab, problems, urls } = await openTab();
    await tab.goto(`${srv.base}/watch/show`);
    await tab.locator('[data-testid="status"][data-phase="offline"]').waitFor({ timeout: 15000 });
    // two polls of the page (5 s apart) ask for the recording: neither offers one
    await waitFor(() => urls.filter((u) => u.endsWith('/api/streams/show/recording')).length >= 2,
      { timeout: 20000, what: 'the page to ask twice' });
    assert.equal(await tab.getByTestId('last-recording').count(), 0, 'a private recording is not offered');
    assert.ok(!urls.some((u) => u.includes(rec.id)), 'nothing of the private recording reaches the page');
    assert.deepEqual(problems, []);
    await ctx.close();
  }

  // The owner makes it public on /admin.
  {
    const { ctx, tab, problems } = await openTab();
    await tab.goto(`${srv.base}/admin`);
    await tab.getByLabel('User name').fill('alice');
    await tab.getByLabel('Password').fill(PW);
    await tab.getByRole('button', { name: 'Sign in' }).click();
    const box = tab.getByTestId(`public-${rec.id}`);
    await box.waitFor({ timeout: 15000 });
    assert.equal(await box.isChecked(), false);
    await box.check();
    await waitFor(async () => (await api('GET', `/api/recordings/${rec.id}`, alice)).json.public === true,
      { what: 'the recording public' });
    await waitFor(async () => box.isChecked(), { what: 'the box ticked after the reload' });
    assert.deepEqual(problems, []);
    await ctx.close();
  }
  const offered = await api('GET', '/api/streams/show/recording');
  assert.equal(offered.status, 200);
  assert.ok(offered.json.playlist_url.startsWith(`/api/recordings/${rec.id}/index.m3u8?expires=`), offered.json.playlist_url);

  // /watch/show, signed out: "not live", the last recording offered, played through its VOD
  // playlist (a new tab: no session anywhere).
  for (const width of [1440, 360]) {
    const { ctx, tab, problems } = await openTab(width);
    await tab.goto(`${srv.base}/watch/show`);
    await tab.locator('[data-testid="status"][data-phase="offline"]').waitFor({ timeout: 15000 });
    const offer = tab.getByTestId('last-recording');
    await offer.waitFor({ timeout: 15000 });
    assert.match(await offer.innerText(), /Last recording[\s\S]*Recorded .* · \d+ s/);
    await offer.getByRole('button', { name: 'Play the last recording' }).click();
    await tab.locator('[data-testid="status"][data-phase="recording"]').waitFor({ timeout: 10000 });
    const video = tab.getByTestId('video');
    await waitFor(async () => (await video.evaluate((v) => v.currentTime)) > 1.5,
      { timeout: 30000, what: 'the recording to play' });
    assert.equal(await tab.evaluate(() => sessionStorage.length), 0, 'no session in this tab');
    const overflow = await tab.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `/watch at ${width} px scrolls sideways by ${overflow} px`);
    const findings = await axeFindings(tab);
    await tab.screenshot({ path: path.join(shots, `watch-recording-${width}.png`), fullPage: true });
    assert.deepEqual(findings, [], `/watch with a recording at ${width} px: ${JSON.stringify(findings, null, 1)}`);
    assert.deepEqual(problems, []);
    await ctx.close();
  }

  // Private again: not offered any more.
  assert.equal((await api('PATCH', `/api/recordings/${rec.id}`, alice, { public: false })).status, 200);
  assert.equal((await api('GET', '/api/streams/show/recording')).status, 404);
  {
    const { ctx, tab } = await openTab();
    const asked = tab.waitForResponse((r) => r.url().endsWith('/api/streams/show/recording'), { timeout: 15000 });
    await tab.goto(`${srv.base}/watch/show`);
    await tab.locator('[data-testid="status"][data-phase="offline"]').waitFor({ timeout: 15000 });
    assert.equal((await asked).status(), 404);
    assert.equal(await tab.getByTestId('last-recording').count(), 0);
    await ctx.close();
  }
});
