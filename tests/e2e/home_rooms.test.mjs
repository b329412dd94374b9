// "/" lists the public voice rooms with who is in them (GET /api/public/rooms, issue 15), for a
// visitor who is not signed in: a real member (werift, lib/voice.mjs) with a hostile display name
// joins a public room and speaks: shown on / as text and as speaking, with a link to
// /voice/<room>; a member of a private room is not shown, nor is the room; when the member leaves
// the next refresh says nobody is there. The public route answers without a token and gives the
// display names only. axe-core (no serious or critical finding), no sideways scrolling and a
// screenshot at 360 and 1440 px, under build-test/screenshots/ (or $KIBITKA_SCREENSHOTS).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { binary, startServer, waitFor, workDir } from './lib/server.mjs';
import { axeFindings, shots, apiCall, launchChromium } from './lib/pages.mjs';
import { opusTones, voiceJoin, allConnected } from './lib/voice.mjs';


const ADMIN_PW = 'root password 1';
const XSS = '<img src=x onerror=alert(1)>';

const dataDir = mkdtempSync(path.join(workDir, 'home-rooms-'));
execFileSync(binary, ['user', 'add', 'root', '--admin', '--password-stdin', '--data', dataDir],
  { input: `${ADMIN_PW}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
const srv = await startServer(['--data', dataDir]);
let browser;
const cleanups = [];
after(async () => {
  if (browser) await browser.close();
  for (const f of cleanups) await f();
  await srv.stop();
  // werift 0.25 may leave a UDP socket open after pc.close(), which would keep this file's
  // process alive once everything is done: end it (unref'd: only then), as admin_page does.
  setTimeout(() => process.exit(), 2000).unref();
});

before(async () => {
  browser = await launchChromium();
});

const api = (method, url, token, body) => apiCall(srv, method, url, token, body);


test('/ shows the public voice rooms and who is in them to a visitor; private rooms stay hidden', async () => {
  const root = (await api('POST', '/api/auth/login', null, { username: 'root', password: ADMIN_PW })).json.token;
  assert.equal((await api('POST', '/api/rooms', root, { name: 'lounge', public: true })).status, 201);
  assert.equal((await api('POST', '/api/rooms', root, { name: 'backstage', public: false })).status, 201);
  const tones = await opusTones(2);
  const pubTok = (await api('POST', '/api/rooms/lounge/token', root, { guest: XSS })).json.token;
  const privTok = (await api('POST', '/api/rooms/backstage/token', root, { guest: 'Secret Sam' })).json.token;
  const member = await voiceJoin(srv.ws, 'lounge', pubTok, { tones, tone: 0 });
  cleanups.push(() => member.close().catch(() => {}));
  const hidden = await voiceJoin(srv.ws, 'backstage', privTok, { tones, tone: 1 });
  cleanups.push(() => hidden.close().catch(() => {}));
  await allConnected([member, hidden]);
  member.speak(10);
  hidden.speak(10);

  // The route itself: no token needed, display names and speaking only.
  const r = await api('GET', '/api/public/rooms');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.rooms.map((x) => x.name), ['lounge']);
  assert.deepEqual(Object.keys(r.json.rooms[0].members[0]).sort(), ['display', 'speaking']);
  assert.equal(r.json.rooms[0].members[0].display, XSS);
  assert.ok(!JSON.stringify(r.json).includes(member.id), 'no participant id');

  for (const width of [360, 1440]) {
    const ctx = await browser.newContext({ viewport: { width, height: 900 } });
    const tab = await ctx.newPage();
    const problems = [];
    tab.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); void d.dismiss(); });
    tab.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    await tab.goto(`${srv.base}/`);
    const card = tab.locator('li[data-room="lounge"]');
    await card.locator('li.member', { hasText: XSS }).waitFor({ timeout: 15000 });
    await card.locator('li.member.speaking', { hasText: XSS }).waitFor({ timeout: 15000 });
    assert.equal(await card.getByRole('link', { name: 'lounge' }).getAttribute('href'), '/voice/lounge');
    assert.equal(await tab.locator('.rooms img').count(), 0, 'the display name is text, not markup');
    const text = await tab.locator('body').innerText();
    assert.ok(!text.includes('backstage') && !text.includes('Secret Sam'), 'the private room is not shown');
    assert.match(await card.innerText(), /1 person/);
    const overflow = await tab.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `/ at ${width} px scrolls sideways by ${overflow} px`);
    const findings = await axeFindings(tab);
    await tab.screenshot({ path: path.join(shots, `home-rooms-${width}.png`), fullPage: true });
    assert.deepEqual(findings, [], `/ at ${width} px: ${JSON.stringify(findings, null, 1)}`);
    assert.deepEqual(problems, []);
    if (width === 1440) {
      // The list refreshes like the live list: the member leaves, the room says nobody is there.
      await member.leave();
      await waitFor(async () => /nobody yet/.test(await card.innerText()),
        { timeout: 20000, what: 'the room shown empty after the member left' });
    }
    await ctx.close();
  }
});
