// The pages (web/, issue 15) served by kibitka itself, in headless Chromium: the headers (CSP,
// nosniff, immutable assets, 404/405, no shadowing of /api, /hls, /whip, /health, /metrics),
// `/` listing a live ffmpeg publish and logging in, `/watch/<stream>` playing LL-HLS with hls.js
// (time advances, the quality menu lists the ladder's rungs and switches, latency shown, "go to
// live" after a pause, the end of the stream said), a hostile name rendered as text, keyboard
// reach, no horizontal scrolling at 360 px, axe-core (no serious or critical finding) on every
// page at 360 and 1440 px, with a screenshot of each saved under the build directory
// (build-test/screenshots/). --web-dir too.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { binary, fetchText, publish, startServer, testClip, waitFor, workDir } from './lib/server.mjs';
import { axeFindings, shots, launchChromium } from './lib/pages.mjs';


const PASSWORD = 'a long password';
const XSS = '<img src=x onerror=alert(1)>';
const WIDTHS = [360, 1440];

const dataDir = mkdtempSync(path.join(workDir, 'pages-'));
execFileSync(binary, ['user', 'add', 'alice', '--admin', '--password-stdin', '--data', dataDir],
  { input: `${PASSWORD}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
// A small source and one encoded rung: the quality menu has two rungs to list and switch.
const srv = await startServer(['--open-publish', '--data', dataDir, '--ladder', 'source,180p:200k']);
const clip = testClip({ seconds: 12, size: '640x360', rate: 30, gop: 30 });
let pub = publish(srv.rtmpUrl('cam'), clip, { loop: true });
let browser;
after(async () => {
  if (browser) await browser.close();
  await pub.stop();
  await srv.stop();
});

before(async () => {
  browser = await launchChromium('--disable-quic', '--autoplay-policy=no-user-gesture-required');
});

// A tab at one width that records what must never happen: a CSP violation, a dialog (the XSS
// name's onerror), an uncaught error.
async function openTab(width = 1440) {
  const ctx = await browser.newContext({ viewport: { width, height: 900 } });
  const tab = await ctx.newPage();
  const problems = [];
  tab.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); void d.dismiss(); });
  tab.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  tab.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) problems.push(`console: ${m.text()}`); });
  await tab.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return { ctx, tab, problems };
}

// axe-core's serious and critical findings on the page as it is now. Evaluated through the
// DevTools protocol, which the page's CSP does not apply to (an injected <script> would be
// refused, as it should be).

// At each width: a screenshot, no horizontal scrolling, and axe-core clean.
async function checkLayouts(url, name, ready) {
  for (const width of WIDTHS) {
    const { ctx, tab, problems } = await openTab(width);
    await tab.goto(srv.base + url);
    await ready(tab);
    const overflow = await tab.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${name} at ${width} px scrolls sideways by ${overflow} px`);
    const findings = await axeFindings(tab);
    await tab.screenshot({ path: path.join(shots, `${name}-${width}.png`), fullPage: true });
    assert.deepEqual(findings, [], `${name} at ${width} px: ${JSON.stringify(findings, null, 1)}`);
    assert.deepEqual(problems, [], `${name} at ${width} px`);
    await ctx.close();
  }
}

// The ids (or test ids, or tag names) focused by pressing Tab up to n times.
async function tabStops(tab, n = 25) {
  const seen = [];
  for (let i = 0; i < n; i++) {
    await tab.keyboard.press('Tab');
    seen.push(await tab.evaluate(() => {
      const e = document.activeElement;
      return e ? e.id || e.dataset.testid || e.textContent.trim() || e.tagName : '';
    }));
  }
  return seen;
}

const live = async () => (await (await fetch(`${srv.base}/api/live`)).json()).live;

test('headers: CSP and nosniff on the HTML, immutable hashed assets, 404 and 405, nothing shadowed', async () => {
  const pages = ['/', '/watch/cam', `/watch/${encodeURIComponent(XSS)}`, '/publish', '/voice/lobby', '/admin'];
  const assets = new Set();
  for (const p of pages) {
    const r = await fetchText(srv.base + p);
    assert.equal(r.status, 200, p);
    assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8', p);
    const csp = r.headers.get('content-security-policy');
    assert.match(csp, /script-src 'self'(;|$)/, `${p}: ${csp}`);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, p);
    assert.match(csp, /media-src 'self' blob:/, p);
    assert.match(csp, /connect-src 'self'/, p);
    assert.match(csp, /frame-ancestors 'none'/, p);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff', p);
    assert.ok(r.headers.get('referrer-policy'), p);
    assert.equal(r.headers.get('cache-control'), 'no-cache', p);
    assert.doesNotMatch(r.text, /<script(?![^>]*\bsrc=)[^>]*>/, `${p} has an inline script`);
    for (const m of r.text.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)) assets.add(m[1]);
  }
  assert.ok([...assets].some((a) => a.endsWith('.js')) && [...assets].some((a) => a.endsWith('.css')),
    [...assets].join(' '));
  for (const a of assets) {
    assert.match(a, /^\/assets\/[\w.-]+-[\w-]{8}\.\w+$/, `${a} has a content hash in its name`);
    const r = await fetch(srv.base + a);
    assert.equal(r.status, 200, a);
    assert.equal(r.headers.get('cache-control'), 'public, max-age=31536000, immutable', a);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff', a);
    const type = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', svg: 'image/svg+xml' }[a.split('.').pop()];
    assert.equal(r.headers.get('content-type'), type, a);
    await r.arrayBuffer();
  }
  // hls.js and the other large assets go gzipped to clients that take it, the same bytes.
  const big = [...assets].find((a) => /\/watch-[\w-]+\.js$/.test(a));
  const plain = await fetch(srv.base + big, { headers: { 'accept-encoding': 'identity' } });
  const zipped = await fetch(srv.base + big, { headers: { 'accept-encoding': 'br, gzip;q=0.8' } });
  const refused = await fetch(srv.base + big, { headers: { 'accept-encoding': 'gzip;q=0' } });
  assert.equal(plain.headers.get('content-encoding'), null);
  assert.equal(zipped.headers.get('content-encoding'), 'gzip');
  assert.equal(refused.headers.get('content-encoding'), null);
  for (const r of [plain, zipped, refused]) assert.equal(r.headers.get('vary'), 'Accept-Encoding');
  assert.equal(zipped.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(zipped.headers.get('content-type'), 'text/javascript; charset=utf-8');
  const plainBody = Buffer.from(await plain.arrayBuffer());
  assert.ok(Number(zipped.headers.get('content-length')) < plainBody.length / 2,
    `${zipped.headers.get('content-length')} of ${plainBody.length} bytes`);
  assert.ok(Buffer.from(await zipped.arrayBuffer()).equals(plainBody), 'the gzip copy is the same file');
  await refused.arrayBuffer();
  assert.equal((await fetch(`${srv.base}${big}.gz`)).status, 404, 'a .gz copy is not served by its name');
  // HEAD: the headers without a body; other methods 405.
  const head = await fetch(srv.base + '/', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.ok(head.headers.get('content-security-policy'));
  assert.equal((await head.text()).length, 0);
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const r = await fetch(srv.base + '/watch/cam', { method });
    assert.equal(r.status, 405, method);
    assert.equal(r.headers.get('allow'), 'GET, HEAD', method);
  }
  for (const p of ['/assets/nope-12345678.js', '/assets/.hidden', '/nope', '/watch/', '/watch/a/b', '/index.html',
    '/publish/x', '/favicon.ico']) {
    const r = await fetchText(srv.base + p);
    assert.equal(r.status, 404, p);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff', p);
  }
  // The server's own routes still answer as before.
  assert.equal((await fetchText(`${srv.base}/health`)).text, 'ok\n');
  assert.match((await fetchText(`${srv.base}/metrics`)).text, /^# HELP kibitka_/m);
  const api = await fetchText(`${srv.base}/api/live`);
  assert.match(api.headers.get('content-type'), /^application\/json/);
  const openapi = await fetchText(`${srv.base}/api/nope`);
  assert.equal(openapi.status, 404);
  assert.match(openapi.headers.get('content-type'), /^application\/json/);
  const hls = await fetchText(`${srv.base}/hls/nope/index.m3u8`);
  assert.equal(hls.status, 404);
  assert.doesNotMatch(hls.headers.get('content-type'), /html/);
  const whip = await fetch(`${srv.base}/whip`, { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } });
  assert.equal(whip.status, 415);
});

test('/ lists the live stream with its owner, viewers and age, keyboard reachable, at both widths', async () => {
  await waitFor(async () => (await live()).some((s) => s.name === 'cam'), { timeout: 20000, what: 'cam live' });
  const entry = (await live()).find((s) => s.name === 'cam');
  assert.equal(typeof entry.viewers, 'number', 'GET /api/live gives viewers');
  const { ctx, tab, problems } = await openTab(1440);
  await tab.goto(srv.base + '/');
  const card = tab.locator('[data-stream="cam"]');
  await card.waitFor({ timeout: 15000 });
  const text = await card.innerText();
  assert.match(text, /cam/);
  assert.match(text, /open publish/);
  assert.match(text, /Live for\s*\d+ (s|min)/);
  assert.match(text, /Viewers\s*\d+/);
  assert.equal(await card.locator('a').getAttribute('href'), '/watch/cam');
  const stops = await tabStops(tab, 10);
  for (const want of ['Skip to content', 'cam', 'username', 'password', 'Sign in'])
    assert.ok(stops.includes(want), `Tab reaches ${want}: ${stops.join(' | ')}`);
  assert.deepEqual(problems, []);
  await ctx.close();
  await checkLayouts('/', 'home', (t) => t.locator('[data-stream="cam"]').waitFor({ timeout: 15000 }));
});

test('login: the token lands in sessionStorage, never in the URL; a wrong password says so', async () => {
  const { ctx, tab, problems } = await openTab(1440);
  const urls = [];
  tab.on('request', (r) => urls.push(r.url()));
  await tab.goto(srv.base + '/');
  await tab.getByLabel('User name').fill('alice');
  await tab.getByLabel('Password').fill(PASSWORD);
  await tab.getByRole('button', { name: 'Sign in' }).click();
  await tab.getByTestId('signed-in').waitFor({ timeout: 20000 });
  assert.match(await tab.getByTestId('signed-in').innerText(), /Signed in as alice \(admin\)/);
  const stored = JSON.parse(await tab.evaluate(() => sessionStorage.getItem('kibitka.session')));
  assert.match(stored.token, /^tk_/);
  assert.equal(stored.user.name, 'alice');
  assert.equal(await tab.evaluate(() => localStorage.length), 0, 'nothing in localStorage');
  assert.ok(!urls.some((u) => u.includes(stored.token) || u.includes('password')), urls.join('\n'));
  assert.ok(!tab.url().includes('?'), tab.url());
  // Still signed in after a reload (same tab), and the token works against the API.
  await tab.reload();
  await tab.getByTestId('signed-in').waitFor();
  const me = await fetch(`${srv.base}/api/me`, { headers: { authorization: `Bearer ${stored.token}` } });
  assert.equal(me.status, 200);
  // Signing out revokes it.
  await tab.getByRole('button', { name: 'Sign out' }).click();
  await tab.getByRole('button', { name: 'Sign in' }).waitFor();
  assert.equal(await tab.evaluate(() => sessionStorage.getItem('kibitka.session')), null);
  await waitFor(async () => (await fetch(`${srv.base}/api/me`, { headers: { authorization: `Bearer ${stored.token}` } })).status === 401,
    { what: 'token revoked' });
  await tab.getByLabel('User name').fill('nobody');
  await tab.getByLabel('Password').fill('wrong password');
  await tab.getByRole('button', { name: 'Sign in' }).click();
  const alert = tab.getByRole('alert');
  await alert.waitFor({ timeout: 20000 });
  assert.match(await alert.innerText(), /Wrong user name or password/);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('a hostile stream name in the URL is shown as text, never run', async () => {
  const { ctx, tab, problems } = await openTab(1440);
  await tab.goto(`${srv.base}/watch/${encodeURIComponent(XSS)}`);
  await tab.getByTestId('status').filter({ hasText: 'not live' }).waitFor({ timeout: 15000 });
  assert.equal(await tab.getByTestId('stream-name').innerText(), XSS);
  assert.equal(await tab.locator('main img').count(), 0);
  assert.equal(await tab.title(), `${XSS} · kibitka`);
  await new Promise((r) => setTimeout(r, 500)); // an onerror would have fired by now
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('/watch/cam plays with hls.js, lists and switches the rungs, shows the latency, says when it ends', async () => {
  const { ctx, tab, problems } = await openTab(1440);
  await tab.goto(srv.base + '/watch/cam');
  const video = tab.getByTestId('video');
  await tab.waitForFunction(() => document.querySelector('video').currentTime > 1, null, { timeout: 30000 });
  const t0 = await video.evaluate((v) => v.currentTime);
  await tab.waitForFunction((t) => document.querySelector('video').currentTime > t + 2, t0, { timeout: 20000 });
  // The quality menu: Auto and the two renditions of the ladder (360p source, 180p encoded).
  const options = await tab.getByTestId('quality').locator('option').allInnerTexts();
  assert.equal(options.length, 3, options.join(' | '));
  assert.match(options[0], /^Auto/);
  assert.ok(options.some((o) => /^360p · /.test(o)) && options.some((o) => /^180p · /.test(o)), options.join(' | '));
  assert.equal(await tab.getByLabel('Quality').count(), 1, 'the menu is labelled');
  const low = options.findIndex((o) => o.startsWith('180p'));
  await tab.getByTestId('quality').selectOption({ index: low });
  await tab.waitForFunction(() => document.querySelector('video').videoHeight === 180, null, { timeout: 30000 });
  const t1 = await video.evaluate((v) => v.currentTime);
  await tab.waitForFunction((t) => document.querySelector('video').currentTime > t + 1, t1, { timeout: 20000 });
  await waitFor(async () => /^Latency \d+\.\d s$/.test((await tab.getByTestId('latency').innerText()).trim()),
    { timeout: 10000, what: 'latency shown' });
  const latency = Number((await tab.getByTestId('latency').innerText()).match(/[\d.]+/)[0]);
  console.log(`# latency shown on /watch/cam: ${latency} s`);
  assert.ok(latency > 0 && latency < 10, `latency ${latency}`);
  assert.match(await tab.getByTestId('viewers').innerText(), /Viewers \d+/);
  // Paused for a while, the player falls behind: "Go to live" is offered and, pressed from the
  // keyboard, brings it back to the live edge and playing.
  const shown = async () => Number(((await tab.getByTestId('latency').innerText()).match(/[\d.]+/) || [NaN])[0]);
  const goLive = tab.getByRole('button', { name: 'Go to live' });
  await video.evaluate((v) => v.pause());
  await waitFor(() => goLive.isEnabled(), { timeout: 30000, what: '"Go to live" offered' });
  const behind = await shown();
  await goLive.focus();
  await tab.keyboard.press('Enter');
  await waitFor(async () => !(await video.evaluate((v) => v.paused)) && (await shown()) < behind - 1.5,
    { timeout: 20000, what: `back to the live edge from ${behind} s behind` });
  console.log(`# "Go to live": ${behind} s behind -> ${await shown()} s`);
  const stops = await tabStops(tab, 20); // the video's own controls take several stops
  assert.ok(stops.includes('quality'), `Tab reaches the quality menu: ${stops.join(' | ')}`);
  // Layouts while it plays.
  await checkLayouts('/watch/cam', 'watch', (t) =>
    t.waitForFunction(() => document.querySelector('video').currentTime > 0.5, null, { timeout: 30000 }));
  // The publisher stops: the page says the stream has ended.
  await pub.stop();
  await tab.getByTestId('status').filter({ hasText: 'This stream has ended.' }).waitFor({ timeout: 20000 });
  assert.deepEqual(problems, []);
  await ctx.close();
});

// Signed out, before any camera: the sign-in, the stream key and the device pickers
// (publish_page.test.mjs publishes from it, in a browser given a fake camera). /admin is the
// console now: tests/e2e/admin_page.test.mjs.
test('/publish before publishing, accessible at both widths', async () => {
  await checkLayouts('/publish', 'publish', (t) => t.getByTestId('go-live').waitFor({ timeout: 10000 }));
});

// /voice/<room> signed out, without a join link: it says how to join. The room itself (two tabs
// talking, mute, push to talk, rejoin, axe-core in the room): tests/e2e/voice_page.test.mjs.
test('/voice/<room> without a token: says how to join, accessible at both widths', async () => {
  await checkLayouts('/voice/lobby', 'voice-signed-out', (t) => t.getByTestId('no-token').waitFor({ timeout: 10000 }));
});

test('--web-dir serves a directory instead; a path that is not a directory exits 2', async () => {
  const dir = mkdtempSync(path.join(workDir, 'webdir-'));
  mkdirSync(path.join(dir, 'assets'));
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>restyled</title><p>mine</p>');
  writeFileSync(path.join(dir, 'assets', 'site-abcdef12.css'), 'p{color:red}');
  const other = await startServer(['--web-dir', dir, '--data', mkdtempSync(path.join(workDir, 'pages-'))]);
  try {
    const r = await fetchText(other.base + '/');
    assert.equal(r.status, 200);
    assert.match(r.text, /restyled/);
    assert.ok(r.headers.get('content-security-policy'));
    // Read at each request: an edit shows without a restart.
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>edited</title>');
    assert.match((await fetchText(other.base + '/')).text, /edited/);
    const css = await fetchText(other.base + '/assets/site-abcdef12.css');
    assert.equal(css.status, 200);
    assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');
    assert.equal((await fetchText(other.base + '/watch/cam')).status, 404, 'no watch.html in that directory');
    assert.equal((await fetchText(other.base + '/assets/..%2Findex.html')).status, 404);
  } finally {
    await other.stop();
  }
  const bad = spawnSync(binary, ['serve', '--web-dir', path.join(dir, 'index.html')], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--web-dir .* is not a directory/);
});
