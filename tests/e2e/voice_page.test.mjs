// The /voice/<room> page (web/src/voice*.ts(x), issue 15) in headless Chromium with fake
// microphones: alice (signed in; her API token joins a public room) and a guest (a join link
// minted by the API, `#token=...`, which the page takes out of the URL) join the same room from
// the page; each lists the other, receives the other's audio (inbound-rtp packets and energy),
// sees the other speaking (the SFU's levels), muted after Mute and with push to talk, rejoining
// with its resume key after its socket drops, and gone after Leave. The guest's display name
// (set by the join link) is hostile and must show as text. GET /api/config and the CSP's connect-src are checked; axe-core
// at 360 and 1440 px with screenshots (build-test/screenshots/voice-*.png).
//
// Chromium neither gathers nor uses loopback candidates: --rtc is on an address of an interface
// made for this file (lib/netif.mjs); without root or `ip` the test is skipped, saying why.
// KIBITKA_WEB_DIR serves a freshly built web/dist instead of the embedded pages.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { binary, freePort, startServer, workDir } from './lib/server.mjs';
import { axeFindings, shots, launchChromium } from './lib/pages.mjs';
import { makeNetif } from './lib/netif.mjs';

const XSS = '<img src=x onerror=alert(1)>';
const PASSWORD = 'a long password';

const netif = makeNetif();
after(() => { if (!netif.skip) netif.remove(); });


// In a tab: the summed inbound-rtp figures of the page's slots.
async function inbound(tab) {
  return tab.evaluate(async () => {
    const pc = window.kibitkaVoice?.peer;
    if (!pc) return { packets: 0, energy: 0 };
    let packets = 0, energy = 0;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') { packets += s.packetsReceived || 0; energy += s.totalAudioEnergy || 0; }
    });
    return { packets, energy, state: pc.connectionState };
  });
}

test('/voice/<room>: two tabs join from the page, hear each other, mute, leave', { skip: netif.skip || false, timeout: 120000 }, async () => {
    const dir = mkdtempSync(path.join(workDir, 'voice-page-'));
  execFileSync(binary, ['user', 'add', 'alice', '--password-stdin', '--data', dir],
    { input: `${PASSWORD}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
  const srv = await startServer(['--data', dir, '--no-record', '--rtc', `${netif.addr}:${await freePort()}`,
    ...(process.env.KIBITKA_WEB_DIR ? ['--web-dir', process.env.KIBITKA_WEB_DIR] : [])]);
  const browser = await launchChromium('--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required');
  const problems = [];
  const open = async (width) => {
    const ctx = await browser.newContext({ viewport: { width, height: 900 } });
    await ctx.grantPermissions(['microphone']);
    const tab = await ctx.newPage();
    tab.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); void d.dismiss(); });
    tab.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    tab.on('console', (m) => { if (/Content Security Policy|Refused to connect/i.test(m.text())) problems.push(`console: ${m.text()}`); });
    return tab;
  };
  try {
    const call = async (method, p, token, body) => {
      const r = await fetch(srv.base + p, { method, headers: { 'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: body ? JSON.stringify(body) : undefined });
      const json = r.status === 204 ? null : await r.json();
      assert.ok(r.status < 300, `${method} ${p}: ${r.status} ${JSON.stringify(json)}`);
      return json;
    };
    // Where the signaling is: the port directly; through a proxy, its same-origin /rtc.
    assert.deepEqual(await call('GET', '/api/config'), { ws_port: srv.ws, ws_path: '/rtc', proxied: false });
    const prox = await (await fetch(srv.base + '/api/config', { headers: { 'x-forwarded-proto': 'https' } })).json();
    assert.equal(prox.proxied, true);
    const csp = (await fetch(srv.base + '/voice/den')).headers.get('content-security-policy');
    assert.match(csp, new RegExp(`connect-src 'self' ws://\\*:${srv.ws};`));

    const session = await call('POST', '/api/auth/login', null, { username: 'alice', password: PASSWORD });
    await call('POST', '/api/rooms', session.token, { name: 'den', public: true });
    const guest = (await call('POST', '/api/rooms/den/token', session.token, { guest: XSS })).token;

    // alice: signed in (the page's session in sessionStorage, as / leaves it).
    const a = await open(1440);
    await a.goto(`${srv.base}/`);
    await a.evaluate((s) => sessionStorage.setItem('kibitka.session', JSON.stringify(s)), session);
    await a.goto(`${srv.base}/voice/den`);
    await a.getByLabel('Display name').waitFor();
    assert.equal(await a.getByLabel('Display name').inputValue(), 'alice');
    // The guest: the join link; the token leaves the URL at once.
    const b = await open(360);
    await b.goto(`${srv.base}/voice/den#token=${encodeURIComponent(guest)}`);
    await b.getByLabel('Display name').waitFor();
    assert.equal(new URL(b.url()).hash, '', 'the token is out of the URL');
    assert.equal(await b.evaluate(() => sessionStorage.getItem('kibitka.voice.den')), guest);
    // Before joining: accessible at both widths.
    for (const [tab, name] of [[a, 'voice-1440'], [b, 'voice-360']]) {
      assert.deepEqual(await axeFindings(tab), [], `${name} before joining`);
      assert.ok(await tab.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), `${name} scrolls sideways`);
    }
    await b.getByLabel('Display name').fill(XSS);
    // Keyboard: Join is reachable and pressed with Enter.
    await a.getByTestId('join').focus();
    await a.keyboard.press('Enter');
    await a.getByTestId('voice-status').and(a.locator('[data-phase=joined]')).waitFor({ timeout: 20000 });
    await b.getByTestId('join').click();
    await b.getByTestId('voice-status').and(b.locator('[data-phase=joined]')).waitFor({ timeout: 20000 });

    // Each lists the other; the hostile name is text.
    await a.getByTestId('participant').filter({ hasText: XSS }).waitFor({ timeout: 15000 });
    await b.getByTestId('participant').filter({ hasText: 'alice' }).waitFor({ timeout: 15000 });
    assert.equal(await a.locator('img[src=x]').count(), 0);

    // Each receives the other's audio.
    for (const [tab, who] of [[a, 'alice'], [b, 'guest']]) {
      const deadline = Date.now() + 30000;
      let s;
      for (;;) {
        s = await inbound(tab);
        if ((s.packets >= 50 && s.energy > 0) || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      console.log(`# ${who}: ${JSON.stringify(s)}`);
      assert.ok(s.packets >= 50 && s.energy > 0, `${who} hears the other: ${JSON.stringify(s)}`);
    }

    // Who is speaking: the SFU's `speakers` levels mark the other (the fake microphone beeps).
    await a.locator('[data-testid=participant][data-speaking=true]').filter({ hasText: XSS }).waitFor({ timeout: 20000 });
    await b.locator('[data-testid=participant][data-speaking=true]').filter({ hasText: 'alice' }).waitFor({ timeout: 20000 });

    // Joined: accessible, screenshots at both widths.
    for (const [tab, name] of [[a, 'voice-1440'], [b, 'voice-360']]) {
      await tab.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
      assert.deepEqual(await axeFindings(tab), [], `${name} in the room`);
      assert.ok(await tab.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), `${name} scrolls sideways`);
    }

    // A network change: the guest's socket drops. The page rejoins with its resume key: the same
    // id, alice never sees the guest leave, and audio flows again on a new connection.
    const id = await b.evaluate(() => window.kibitkaVoice.snapshot.id);
    const before = await inbound(a);
    await b.evaluate(() => window.kibitkaVoice.ws.close());
    await b.getByTestId('voice-status').and(b.locator('[data-phase=reconnecting]')).waitFor({ timeout: 10000 });
    await b.getByTestId('voice-status').and(b.locator('[data-phase=joined]')).waitFor({ timeout: 20000 });
    assert.equal(await b.evaluate(() => window.kibitkaVoice.snapshot.id), id, 'resumed with the same id');
    assert.equal(await a.locator(`[data-testid=participant][data-id="${id}"]`).count(), 1, 'alice still lists the guest');
    await b.getByTestId('participant').filter({ hasText: 'alice' }).waitFor({ timeout: 15000 });
    for (const deadline = Date.now() + 30000; ;) {
      const now = await inbound(a);
      if (now.packets >= before.packets + 25) break;
      assert.ok(Date.now() < deadline, `alice hears the guest again: ${JSON.stringify(before)} -> ${JSON.stringify(now)}`);
      await new Promise((r) => setTimeout(r, 250));
    }

    // Mute: the other tab shows it; unmute clears it.
    await b.getByTestId('mute').click();
    await a.locator('[data-testid=participant][data-muted=true]').filter({ hasText: XSS }).waitFor({ timeout: 15000 });
    await b.getByTestId('mute').click();
    await a.locator('[data-testid=participant][data-muted=false]').filter({ hasText: XSS }).waitFor({ timeout: 15000 });
    // Push to talk: muted until Space is held.
    await b.getByTestId('ptt').check();
    await a.locator('[data-testid=participant][data-muted=true]').filter({ hasText: XSS }).waitFor({ timeout: 15000 });
    await b.locator('h1').click();
    await b.keyboard.down('Space');
    await a.locator('[data-testid=participant][data-muted=false]').filter({ hasText: XSS }).waitFor({ timeout: 15000 });
    assert.equal(await b.getByTestId('talk-state').textContent(), 'Talking');
    await b.keyboard.up('Space');
    await a.locator('[data-testid=participant][data-muted=true]').filter({ hasText: XSS }).waitFor({ timeout: 15000 });

    // The guest leaves: alice sees it go.
    await b.getByTestId('leave').click();
    await b.getByTestId('voice-status').and(b.locator('[data-phase=left]')).waitFor({ timeout: 10000 });
    await a.getByTestId('participant').filter({ hasText: XSS }).waitFor({ state: 'detached', timeout: 15000 });
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    const { code } = await srv.stop();
    assert.equal(code, 0);
  }
});
