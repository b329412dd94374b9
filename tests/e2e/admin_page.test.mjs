// /admin (web/src/admin*.tsx, issue 15) in headless Chromium against a real server: an admin signs
// in, sees the server's health (GET /api/server), creates a user (changes their role, resets
// their password), is refused a hostile name in a sentence that shows it as text, creates a
// stream and copies its key (masked until shown), publishes with it (ffmpeg, --record-chunk 4)
// and watches the live charts update, turns recording off, rotates the key (the old key is then
// refused by the RTMP server, the new one publishes), plays the recording through its VOD
// playlist with hls.js, downloads a chunk and deletes it; an empty voice room is listed, then a
// real member (werift, lib/voice.mjs) with a hostile display name joins and speaks: shown as
// text and speaking, muted from the page (the member gets the server's mute event) and kicked
// (its socket closed with 4000 "kicked"). A plain user sees only their own streams and
// recordings (no health, no users) and deletes their stream. axe-core (no serious or critical
// finding), no sideways scrolling and a screenshot at 360 and 1440 px in each state, under
// build-test/screenshots/ (or $KIBITKA_SCREENSHOTS).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { binary, publish, startServer, testClip, waitFor, workDir } from './lib/server.mjs';
import { axeFindings, shots, apiCall, launchChromium } from './lib/pages.mjs';
import { opusTones, voiceJoin, allConnected } from './lib/voice.mjs';


const ADMIN_PW = 'root password 1';
const XSS = '<img src=x onerror=alert(1)>';

const dataDir = mkdtempSync(path.join(workDir, 'admin-page-'));
execFileSync(binary, ['user', 'add', 'root', '--admin', '--password-stdin', '--data', dataDir],
  { input: `${ADMIN_PW}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
const srv = await startServer(['--data', dataDir, '--record-chunk', '4']);
const clip = testClip({ seconds: 8, size: '640x360', rate: 30, gop: 30 });
let browser;
const pubs = [];
const cleanups = [];
after(async () => {
  if (browser) await browser.close();
  for (const p of pubs) await p.stop();
  for (const f of cleanups) await f();
  await srv.stop();
  // werift 0.25 may leave a UDP socket open after pc.close(), which would keep this file's
  // process alive once everything is done: end it (unref'd: only then), as whip.test.mjs does.
  setTimeout(() => process.exit(), 2000).unref();
});

before(async () => {
  browser = await launchChromium('--autoplay-policy=no-user-gesture-required');
});

const api = (method, url, token, body) => apiCall(srv, method, url, token, body);
const tokenOf = async (username, password) => (await api('POST', '/api/auth/login', null, { username, password })).json?.token;

// A tab that records what must never happen: a dialog (the hostile name's onerror), a page error,
// a CSP violation.
const openedAt = Date.now();
async function openTab() {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: srv.base });
  const tab = await ctx.newPage();
  const problems = [];
  // The recording player's requests (playlist, init, chunks), for the report if it does not play.
  const mediaRequests = [];
  tab.on('requestfinished', async (r) => {
    if (!/\/recordings\/|\.m3u8|\.mp4|\.m4s/.test(r.url())) return;
    const res = await r.response().catch(() => null);
    mediaRequests.push(`+${Date.now() - openedAt} ms ${r.method()} ${r.url().replace(srv.base, '').replace(/\?.*/, '?…')} ${res ? res.status() : '?'}`);
  });
  tab.on('requestfailed', (r) => {
    if (/\/recordings\/|\.m3u8|\.mp4|\.m4s/.test(r.url()))
      mediaRequests.push(`+${Date.now() - openedAt} ms ${r.method()} ${r.url().replace(srv.base, '').replace(/\?.*/, '?…')} failed: ${r.failure()?.errorText}`);
  });
  tab.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); void d.dismiss(); });
  tab.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  tab.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) problems.push(`console: ${m.text()}`); });
  await tab.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  await tab.goto(`${srv.base}/admin`);
  return { ctx, tab, problems, mediaRequests };
}

async function signIn(tab, user, password) {
  await tab.getByLabel('User name').fill(user);
  await tab.getByLabel('Password').fill(password);
  await tab.getByRole('button', { name: 'Sign in' }).click();
  await tab.getByTestId('admin-who').waitFor({ timeout: 10000 });
}


// The page as it is now at 360 and 1440 px: no sideways scrolling, axe-core clean, a screenshot.
async function checkState(tab, name) {
  for (const width of [360, 1440]) {
    await tab.setViewportSize({ width, height: 900 });
    await tab.waitForTimeout(150); // a layout pass and uPlot's resize
    const overflow = await tab.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `admin ${name} at ${width} px scrolls sideways by ${overflow} px`);
    const findings = await axeFindings(tab);
    await tab.screenshot({ path: path.join(shots, `admin-${name}-${width}.png`), fullPage: true });
    assert.deepEqual(findings, [], `admin ${name} at ${width} px: ${JSON.stringify(findings, null, 1)}`);
  }
}

// Reads the stream key from the key box: masked first, shown by "Show", copied by "Copy".
async function readKey(tab) {
  const box = tab.getByTestId('new-key');
  await box.waitFor({ timeout: 10000 });
  const input = box.locator('input.key');
  assert.equal(await input.getAttribute('type'), 'password', 'the key is masked by default');
  await box.getByRole('button', { name: 'Show' }).click();
  assert.equal(await input.getAttribute('type'), 'text');
  const key = await input.inputValue();
  assert.match(key, /^sk_/);
  await box.getByTestId('copy-key').click();
  await box.getByText('Copied to the clipboard.').waitFor({ timeout: 5000 });
  assert.equal(await tab.evaluate(() => navigator.clipboard.readText()), key);
  await box.getByRole('button', { name: 'Done' }).click();
  return key;
}

const liveNames = async () => (await api('GET', '/api/live')).json.live.map((l) => l.name);

test('an admin manages users, streams, keys, live charts, recordings, rooms and sees the health', { timeout: 150000 }, async () => {
  const { ctx, tab, problems, mediaRequests } = await openTab();
  await tab.getByRole('heading', { name: 'Admin: sign in' }).waitFor({ timeout: 10000 });
  await checkState(tab, 'signin');
  await tab.setViewportSize({ width: 1440, height: 900 });
  await signIn(tab, 'root', ADMIN_PW);
  assert.match(await tab.getByTestId('admin-who').innerText(), /Signed in as root \(admin\)/);

  // Health, from GET /api/server.
  await tab.getByTestId('h-version').waitFor({ timeout: 10000 });
  assert.match(await tab.getByTestId('h-version').innerText(), /^\d+\.\d+/);
  assert.equal(await tab.getByTestId('h-queue').innerText(), '0 chunks');
  assert.match(await tab.getByTestId('h-webhook-failures').innerText(), /^0 failed, 0 dropped$/);

  // Users: create, role, reset password; a hostile name is refused in a sentence, as text.
  const users = tab.getByTestId('section-users');
  await users.locator('#nu-name').fill('bob');
  await users.locator('#nu-pw').fill('bob password 1');
  await users.getByRole('button', { name: 'Create user' }).click();
  await users.locator('tr[data-user="bob"]').waitFor({ timeout: 10000 });
  await users.getByLabel('Role of bob').selectOption('admin');
  await users.getByText('bob is now an admin.').waitFor({ timeout: 10000 });
  assert.equal((await api('GET', '/api/users/bob', await tokenOf('root', ADMIN_PW))).json.role, 'admin');
  await users.getByLabel('Role of bob').selectOption('user');
  await users.getByText('bob is now a user.').waitFor({ timeout: 10000 });
  await users.getByRole('button', { name: 'Reset the password of bob' }).click();
  await users.getByLabel('New password for bob').fill('bob password 2');
  await users.getByRole('button', { name: 'Save' }).click();
  await users.getByText('The password of bob was changed.').waitFor({ timeout: 10000 });
  assert.ok(await tokenOf('bob', 'bob password 2'), 'the new password works');
  assert.equal(await tokenOf('bob', 'bob password 1'), undefined, 'the old one does not');

  await users.locator('#nu-name').fill(XSS);
  await users.locator('#nu-pw').fill('xss password 1');
  await users.getByRole('button', { name: 'Create user' }).click();
  const err = users.getByTestId('users-error');
  await err.waitFor({ timeout: 10000 });
  const said = await err.innerText();
  assert.ok(said.startsWith(`Could not create the user “${XSS}”:`), said);
  assert.equal(await users.locator('img').count(), 0, 'the name is text, not markup');

  // A stream: its key once, masked, copied.
  const streams = tab.getByTestId('section-streams');
  await streams.getByLabel('Stream name').fill('cam');
  await streams.getByRole('button', { name: 'Create stream' }).click();
  const key1 = await readKey(tab);
  await streams.locator('tr[data-stream="cam"]').waitFor({ timeout: 10000 });

  // Publish 8 s with it: the live card's charts gain points every 2 s, the bitrate is not 0.
  const pub1 = publish(srv.rtmpUrl(key1), clip);
  pubs.push(pub1);
  const card = tab.getByTestId('live-cam');
  await card.waitFor({ timeout: 20000 });
  const points = async () => Number(await tab.getByTestId('chart-bitrate-cam').getAttribute('data-points'));
  const p0 = await points();
  await waitFor(async () => (await points()) >= p0 + 2, { timeout: 15000, what: 'the chart to gain two points' });
  assert.equal(await card.locator('canvas').count(), 3, 'three uPlot charts');
  assert.match(await tab.getByTestId('chart-bitrate-cam-value').innerText(), /[1-9]\d* (kbit|Mbit)\/s|\d\.\d Mbit\/s/);
  await tab.getByTestId('h-live').filter({ hasText: '1' }).waitFor({ timeout: 10000 });
  await checkState(tab, 'live');
  await tab.setViewportSize({ width: 1440, height: 900 });
  const res1 = await pub1.exited;
  assert.equal(res1.code, 0, res1.err);
  await waitFor(async () => !(await liveNames()).includes('cam'), { what: 'the publish to end' });

  // Recording off (from the next publish), then rotate the key: the old key is refused.
  await streams.getByLabel('Record cam').uncheck();
  const root = await tokenOf('root', ADMIN_PW);
  await waitFor(async () => (await api('GET', '/api/streams/cam', root)).json.record === false, { what: 'record off' });
  await tab.getByTestId('rotate-cam').click();
  await tab.getByTestId('rotate-cam-yes').click();
  const key2 = await readKey(tab);
  assert.notEqual(key2, key1);
  const refusedBefore = (srv.log().match(/invalid stream key/g) || []).length;
  const old = await publish(srv.rtmpUrl(key1), clip).exited;
  assert.notEqual(old.code, 0, 'ffmpeg with the old key is refused');
  assert.equal((srv.log().match(/invalid stream key/g) || []).length, refusedBefore + 1);
  const pub2 = publish(srv.rtmpUrl(key2), clip, { loop: true });
  pubs.push(pub2);
  await waitFor(async () => (await liveNames()).includes('cam'), { timeout: 20000, what: 'the new key to publish' });
  await pub2.stop();

  // The recording of the first publish (the second was not recorded): play it, a chunk, delete.
  const recs = tab.getByTestId('section-recordings');
  const row = recs.locator('tr[data-recording]');
  await waitFor(async () => {
    await recs.getByRole('button', { name: 'Refresh' }).click();
    return (await row.count()) === 1 && /ready/.test(await row.locator('td[data-label="State"]').innerText());
  }, { timeout: 30000, interval: 1000, what: 'the recording to be ready' });
  const id = await row.getAttribute('data-recording');
  await row.getByRole('button', { name: /^Play the recording of cam/ }).click();
  const video = tab.getByTestId('vod-video');
  await video.waitFor({ timeout: 10000 });
  // The page starts playback itself ("Play" was clicked): the test does not call play().
  try {
    await waitFor(async () => (await video.evaluate((v) => v.currentTime)) > 1, { timeout: 20000, what: 'the recording to play' });
  } catch (e) {
    // Say what the element and the page saw, so that a failure here can be told apart: no
    // request, a failed one, media that never buffered, or a paused element.
    const state = await video.evaluate((v) => {
      const b = [];
      for (let i = 0; i < v.buffered.length; i++) b.push(`${v.buffered.start(i).toFixed(3)}-${v.buffered.end(i).toFixed(3)}`);
      return { t: v.currentTime, paused: v.paused, readyState: v.readyState, networkState: v.networkState,
        buffered: b.join(' '), error: v.error && `${v.error.code} ${v.error.message}`, src: v.currentSrc };
    }).catch((x) => x.message);
    const shown = await recs.locator('p.error').allInnerTexts().catch(() => []);
    throw new Error(`${e.message}\nvideo: ${JSON.stringify(state)}\npage errors shown: ${JSON.stringify(shown)}` +
      `\nproblems: ${JSON.stringify(problems)}\nrequests:\n${mediaRequests.join('\n')}`);
  }
  await row.getByRole('button', { name: /^Chunks of the recording of cam/ }).click();
  const chunk = row.getByTestId('chunk-1');
  await chunk.waitFor({ timeout: 10000 });
  const href = await chunk.getAttribute('href');
  const got = await fetch(new URL(href, srv.base));
  assert.equal(got.status, 200, 'the chunk link downloads without a token (signed URL)');
  assert.equal(got.headers.get('content-type'), 'video/mp4');
  assert.ok((await got.arrayBuffer()).byteLength > 1000);
  await checkState(tab, 'recording');
  await tab.setViewportSize({ width: 1440, height: 900 });
  await tab.getByTestId(`delete-recording-${id}`).click();
  await tab.getByTestId(`delete-recording-${id}-yes`).click();
  await recs.getByText('No recordings match.').waitFor({ timeout: 10000 });
  assert.equal((await api('GET', `/api/recordings/${id}`, root)).status, 404);

  // Voice rooms: an empty one (members need a WebRTC client; rooms_api and voice tests do that).
  assert.equal((await api('POST', '/api/rooms', root, { name: 'lounge', public: true })).status, 201);
  await tab.getByTestId('room-empty-lounge').waitFor({ timeout: 15000 });

  // A real member (werift, lib/voice.mjs) joins with a guest token whose display name is
  // hostile, and speaks; the page lists it as text, and its Mute and Kick reach the member.
  const token = (await api('POST', '/api/rooms/lounge/token', root, { guest: XSS })).json.token;
  const member = await voiceJoin(srv.ws, 'lounge', token, { tones: await opusTones(1), tone: 0 });
  cleanups.push(() => member.close().catch(() => {}));
  await allConnected([member]);
  member.speak(10);
  const rooms = tab.getByTestId('section-rooms');
  const mrow = rooms.locator('tr', { hasText: XSS });
  await mrow.waitFor({ timeout: 15000 });
  assert.equal(await rooms.locator('img').count(), 0, 'a display name is text, not markup');
  await waitFor(async () => (await mrow.locator('td[data-label="State"]').innerText()) === 'speaking',
    { timeout: 15000, what: 'the member shown speaking' });
  await mrow.getByRole('button', { name: `Mute ${XSS}` }).click();
  await member.waitEvent((e) => e.type === 'mute' && e.muted === true && e.by === 'server', 10000);
  await mrow.getByRole('button', { name: `Unmute ${XSS}` }).waitFor({ timeout: 10000 });
  await mrow.getByRole('button', { name: 'Kick' }).click();
  await mrow.getByRole('button', { name: 'Yes, kick' }).click();
  const closed = await member.ws.whenClosed(10000);
  assert.equal(closed.code, 4000, `kicked: ${JSON.stringify(closed)}`);
  assert.match(closed.reason, /kick/);
  await checkState(tab, 'room');
  await tab.setViewportSize({ width: 1440, height: 900 });
  await tab.getByTestId('room-empty-lounge').waitFor({ timeout: 15000 }); // the kicked member gone
  await checkState(tab, 'full');
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('a plain user sees only their own streams and recordings', { timeout: 60000 }, async () => {
  // The room the first test made; made here if that test failed before it (so that a failure
  // there is reported once, not twice).
  const made = await api('POST', '/api/rooms', await tokenOf('root', ADMIN_PW), { name: 'lounge', public: true });
  assert.ok([201, 409].includes(made.status), `POST /api/rooms: ${made.status}`);
  const { ctx, tab, problems } = await openTab();
  await signIn(tab, 'bob', 'bob password 2');
  assert.match(await tab.getByTestId('admin-who').innerText(), /Signed in as bob \(user\)/);
  const streams = tab.getByTestId('section-streams');
  await streams.getByLabel('Stream name').fill('bobcam');
  await streams.getByRole('button', { name: 'Create stream' }).click();
  await readKey(tab);
  await streams.locator('tr[data-stream="bobcam"]').waitFor({ timeout: 10000 });
  assert.equal(await streams.locator('tr[data-stream="cam"]').count(), 0, "root's stream is not listed");
  assert.equal(await tab.getByTestId('section-users').count(), 0, 'no users section');
  assert.equal(await tab.getByTestId('section-health').count(), 0, 'no health section');
  await tab.getByTestId('section-rooms').getByTestId('room-empty-lounge').waitFor({ timeout: 15000 });
  await checkState(tab, 'user');
  await tab.setViewportSize({ width: 1440, height: 900 });
  // By keyboard: Tab reaches the stream's buttons; Enter asks, the focus is on Cancel, Escape
  // takes it back; Enter again, Shift+Tab to "Yes, delete", Enter deletes.
  const focused = () => tab.evaluate(() => document.activeElement?.dataset.testid || document.activeElement?.textContent?.trim());
  await tab.locator('#ns-name').focus();
  let stops = 0;
  while ((await focused()) !== 'delete-stream-bobcam' && stops++ < 15) await tab.keyboard.press('Tab');
  assert.equal(await focused(), 'delete-stream-bobcam', 'Tab reaches the delete button');
  await tab.keyboard.press('Enter');
  await waitFor(async () => (await focused()) === 'Cancel', { timeout: 5000, what: 'the focus on Cancel' });
  await tab.keyboard.press('Escape');
  await waitFor(async () => (await focused()) === 'delete-stream-bobcam', { timeout: 5000, what: 'the focus back' });
  assert.equal((await api('GET', '/api/streams', await tokenOf('bob', 'bob password 2'))).json.streams.length, 1);
  await tab.keyboard.press('Enter');
  await waitFor(async () => (await focused()) === 'Cancel', { timeout: 5000, what: 'the focus on Cancel' });
  await tab.keyboard.press('Shift+Tab');
  assert.equal(await focused(), 'delete-stream-bobcam-yes');
  await tab.keyboard.press('Enter');
  await streams.getByText('No streams yet.').waitFor({ timeout: 10000 });
  assert.deepEqual(problems, []);
  await ctx.close();
});
