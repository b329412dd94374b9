// The /publish page (web/src/publish*.ts[x], issue 15) in headless Chromium with its fake camera
// and microphone, against a real server with stream keys (no --open-publish): sign in through
// the page, pick a stream made by the CLI, paste its key, Go live; the stream appears at
// /hls/<name>/ and its source rendition decodes as H.264 with ffprobe, the page shows the watch
// link, "Live", a bitrate > 0 and the connection; a second tab publishing the same stream is
// told it is already live (409); the server ending the publish (a key rotated with
// end_live=true) is a lost connection: the page counts down to its retry, retries, and says
// the key was refused; Stop sends DELETE and the stream ends (ENDLIST); a wrong pasted key
// says "this stream key was refused"; a camera the browser refuses says so; a server that goes
// away mid-publish: five counted-down tries (on Playwright's clock), then "gave up" said. axe-core (no
// serious or critical finding), no sideways scrolling and a screenshot at 360 and 1440 px
// (build-test/screenshots/publish-live-*.png).
//
// Chromium neither gathers nor uses loopback candidates: --rtc is bound to an address on an
// interface lib/netif.mjs makes; without root or `ip` every test here is skipped, saying why.
// KIBITKA_WEB_DIR serves a freshly built web/dist instead of the embedded pages (to work on
// the page without rebuilding the binary).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { binary, fetchText, freePort, startServer, waitFor, workDir } from './lib/server.mjs';
import { axeFindings, shots, launchChromium } from './lib/pages.mjs';
import { getPlaylist, probe } from './lib/hls.mjs';
import { makeNetif } from './lib/netif.mjs';

const PASSWORD = 'a long password';
const XSS = '<img src=x onerror=alert(1)>';
const netif = makeNetif();
const skip = netif.skip || false;

describe('/publish', { skip }, () => {
  let srv, browser, allowed, denied, key, key2;
  const shared = {}; /* the signed-in tab and its token, from one test to the next */
  const problems = [];
  const data = skip ? null : mkdtempSync(path.join(workDir, 'publish-'));
  const cli = (args, input) => execFileSync(binary, [...args, '--data', data],
    { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });

  before(async () => {
        cli(['user', 'add', 'alice', '--password-stdin'], `${PASSWORD}\n`);
    key = cli(['stream', 'add', '--user', 'alice', '--name', 'cam']).trim();
    key2 = cli(['stream', 'add', '--user', 'alice', '--name', 'second']).trim();
    const port = await freePort();
    srv = await startServer(['--data', data, '--no-record', '--rtc', `${netif.addr}:${port}`,
      '--ladder', 'source,240p:300k',
      ...(process.env.KIBITKA_WEB_DIR ? ['--web-dir', process.env.KIBITKA_WEB_DIR] : [])]);
    // The fake camera and microphone, but not --use-fake-ui-for-media-stream: a context is
    // allowed the devices only when granted them, and one that is not is refused (NotAllowedError).
    browser = await launchChromium('--use-fake-device-for-media-stream', '--autoplay-policy=no-user-gesture-required');
    allowed = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    await allowed.grantPermissions(['camera', 'microphone'], { origin: srv.base });
    denied = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  });
  after(async () => {
    if (browser) await browser.close();
    if (srv) {
      const { code, signal } = await srv.stop();
      if (code !== 0 || process.env.PUBLISH_LOG) console.log(srv.log());
      assert.equal(code, 0, `kibitka exit ${code} ${signal}`);
    }
    if (netif.remove) netif.remove();
  });

  // A tab that records what must never happen: a CSP violation, a dialog, an uncaught error.
  async function openTab(ctx) {
    const tab = await ctx.newPage();
    tab.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); void d.dismiss(); });
    tab.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    tab.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) problems.push(`console: ${m.text()}`);
      if (process.env.PUBLISH_LOG) console.log(`# page: ${m.text()}`);
    });
    await tab.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`);
      });
    });
    await tab.goto(`${srv.base}/publish`);
    return tab;
  }


  const status = (tab) => tab.getByTestId('pub-status');
  const phase = (tab) => status(tab).getAttribute('data-phase');
  const waitPhase = async (tab, want, timeout = 30000) => {
    try {
      await tab.waitForFunction(
        (w) => document.querySelector('[data-testid="pub-status"]')?.dataset.phase === w, want, { timeout });
    } catch (e) {
      const now = await tab.evaluate(() => document.querySelector('.pub-side')?.textContent);
      throw new Error(`phase ${want} not reached in ${timeout} ms: "${now}"`, { cause: e });
    }
  };
  const apiStream = async (token, name) => (await (await fetch(`${srv.base}/api/streams/${name}`,
    { headers: { Authorization: `Bearer ${token}` } })).json());

  test('sign in, pick a stream, Go live: HLS decodes, watch link, bitrate, H.264; 409 said; Stop by keyboard ends it', async () => {
    const tab = await openTab(allowed);
    await tab.getByLabel('User name').fill('alice');
    await tab.getByLabel('Password').fill(PASSWORD);
    await tab.getByRole('button', { name: 'Sign in' }).click();
    const stream = tab.getByLabel('Stream', { exact: true });
    await stream.waitFor({ timeout: 20000 });
    assert.deepEqual(await stream.locator('option').allInnerTexts(), ['cam', 'second', 'Another stream (by its key)']);
    const token = await tab.evaluate(() => JSON.parse(sessionStorage.getItem('kibitka.session')).token);
    await stream.selectOption('cam');
    await tab.getByLabel('Stream key').fill(key);
    await tab.getByRole('button', { name: 'Go live' }).click();
    await waitPhase(tab, 'live');
    assert.equal(await status(tab).innerText(), 'Live');

    // The page's own measures: a bitrate above 0, connected, H.264 (setCodecPreferences).
    await tab.waitForFunction(() => Number(document.querySelector('[data-testid="bitrate"]')?.dataset.bps) > 0,
      null, { timeout: 20000 });
    const bps = Number(await tab.getByTestId('bitrate').getAttribute('data-bps'));
    assert.equal(await tab.getByTestId('connection').innerText(), 'connected');
    await tab.getByTestId('codec').waitFor({ timeout: 10000 });
    assert.equal(await tab.getByTestId('codec').innerText(), 'H264');
    const link = tab.getByTestId('watch-link').locator('a');
    assert.equal(await link.getAttribute('href'), '/watch/cam');
    assert.equal(await link.innerText(), `${srv.base}/watch/cam`);
    console.log(`# sending ${(bps / 1e3).toFixed(0)} kbit/s, lost ${await tab.getByTestId('lost').innerText()}, rtt ${await tab.getByTestId('rtt').innerText()}`);

    // The stream is live over WHIP and its source rendition decodes as H.264.
    const src = `${srv.base}/hls/cam/index.m3u8`;
    const mv = await waitFor(async () => {
      const p = await getPlaylist(src);
      return p.parsed.variants.length >= 2 ? p : null;
    }, { timeout: 30000, what: `${src} with two variants` });
    const media = new URL(mv.parsed.variants[0].uri, src).href;
    const list = await waitFor(async () => {
      const p = await getPlaylist(media);
      return p.parsed.segments.some((s) => s.uri) ? p : null;
    }, { timeout: 30000, what: `a complete segment in ${media}` });
    const init = new URL(list.text.match(/#EXT-X-MAP:URI="([^"]+)"/)[1], media).href;
    const seg = new URL(list.parsed.segments.find((s) => s.uri).uri, media).href;
    const video = (await probe(init, [seg])).find((s) => s.codec_type === 'video');
    assert.equal(video?.codec_name, 'h264');
    assert.ok(Number(video.nb_read_frames) > 0, `${video.nb_read_frames} frames`);
    const row = await apiStream(token, 'cam');
    assert.equal(row.live, true);
    assert.equal(row.protocol, 'whip');
    console.log(`# source rendition ${video.codec_name} ${video.width}x${video.height}, ${video.nb_read_frames} frames in the first segment`);

    // At both widths while live: no sideways scrolling, axe-core clean, a screenshot.
    for (const width of [1440, 360]) {
      await tab.setViewportSize({ width, height: 900 });
      const overflow = await tab.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `/publish at ${width} px scrolls sideways by ${overflow} px`);
      const findings = await axeFindings(tab);
      await tab.screenshot({ path: path.join(shots, `publish-live-${width}.png`), fullPage: true });
      assert.deepEqual(findings, [], `/publish at ${width} px: ${JSON.stringify(findings, null, 1)}`);
    }
    await tab.setViewportSize({ width: 1440, height: 900 });

    // A second publish of the live stream: 409, said as such, and no retry.
    const other = await openTab(allowed);
    await other.getByLabel('Stream name (optional, for the watch link)').fill('cam');
    await other.getByLabel('Stream key').fill(key);
    await other.getByRole('button', { name: 'Go live' }).click();
    await waitPhase(other, 'failed');
    assert.equal(await other.getByTestId('pub-problem').getAttribute('data-problem'), 'busy');
    assert.match(await other.getByTestId('pub-problem').innerText(), /already live/);
    await other.close();
    assert.equal((await apiStream(token, 'cam')).live, true, 'the first publish is still live');

    // Stop, reached by the keyboard (Shift+Tab from the watch link: the pickers are disabled
    // while live) and pressed with Enter: DELETE on the Location, the stream ends at once.
    await link.focus();
    await tab.keyboard.press('Shift+Tab');
    const focused = await tab.evaluate(() => document.activeElement?.textContent?.trim() ?? '');
    assert.equal(focused, 'Stop', 'Shift+Tab from the watch link');
    await tab.keyboard.press('Enter');
    await waitPhase(tab, 'stopped', 15000);
    await waitFor(async () => (await fetchText(media)).text.includes('#EXT-X-ENDLIST'),
      { timeout: 15000, what: `ENDLIST in ${media} after Stop` });
    assert.match(srv.log(), /whip stream=cam publish from \S+ ended: DELETE from the publisher/);
    await waitFor(async () => (await apiStream(token, 'cam')).live === false, { timeout: 10000, what: 'cam not live' });

    shared.tab = tab;
    shared.token = token;
  });

  test('the server ends the publish: a countdown, a retry, the rotated key refused; a new key from the page', async () => {
    const { tab, token } = shared;
    assert.ok(tab, 'the first test left its tab');
    // Live again, then the server ends the publish (the key rotated with end_live=true): a lost
    // connection, retried after a countdown; the retry's key is now refused (401), which ends it.
    await tab.getByRole('button', { name: 'Go live' }).click();
    await waitPhase(tab, 'live');
    const r = await fetch(`${srv.base}/api/streams/cam/key?end_live=true`,
      { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200);
    await waitPhase(tab, 'retrying', 30000);
    const countdown = await status(tab).innerText();
    assert.match(countdown, /^Reconnecting in \d+ s \(try 1 of 5\)/, countdown);
    assert.match(await tab.getByTestId('pub-problem').innerText(), /connection was lost/);
    await waitPhase(tab, 'failed', 30000);
    assert.equal(await tab.getByTestId('pub-problem').getAttribute('data-problem'), 'refused');
    assert.match(await tab.getByTestId('pub-problem').innerText(), /this stream key was refused/i);
    console.log(`# lost connection: "${countdown}", then "${await tab.getByTestId('pub-problem').innerText()}"`);

    // "Make a new key" (confirmed) puts a working key in the field: live again with it.
    await tab.getByRole('button', { name: 'Make a new key for cam' }).click();
    await tab.getByRole('button', { name: 'Make the new key' }).click();
    await tab.getByTestId('key-note').waitFor({ timeout: 10000 });
    const fresh = await tab.getByLabel('Stream key').inputValue();
    assert.match(fresh, /^sk_/);
    await tab.getByRole('button', { name: 'Go live' }).click();
    await waitPhase(tab, 'live');
    assert.deepEqual(problems, []);
  });

  test('the network goes away and comes back: the page reconnects by itself', async () => {
    const { tab, token } = shared;
    assert.ok(tab, 'the previous test left its tab live');
    const startedAt = (await apiStream(token, 'cam')).started_at;
    // The server's --rtc address disappears: nothing reaches Chromium any more.
    execFileSync('ip', ['addr', 'del', `${netif.addr}/32`, 'dev', netif.name]);
    let restored = false;
    try {
      await waitPhase(tab, 'retrying', 45000);
      const countdown = await status(tab).innerText();
      console.log(`# network gone: "${countdown}"; ${await tab.getByTestId('pub-problem').innerText()}`);
      assert.match(countdown, /^Reconnecting in \d+ s \(try \d of 5\)/, countdown);
    } finally {
      execFileSync('ip', ['addr', 'add', `${netif.addr}/32`, 'dev', netif.name]);
      restored = true;
    }
    assert.ok(restored);
    await waitPhase(tab, 'live', 60000);
    await waitFor(async () => {
      const row = await apiStream(token, 'cam');
      return row.live && row.started_at !== startedAt;
    }, { timeout: 20000, what: 'cam live again, a new publish' });
    await tab.waitForFunction(() => Number(document.querySelector('[data-testid="bitrate"]')?.dataset.bps) > 0,
      null, { timeout: 20000 });
    assert.equal(await tab.getByTestId('pub-problem').count(), 0, 'the problem is gone once live again');
    await tab.getByRole('button', { name: 'Stop' }).click();
    await waitPhase(tab, 'stopped', 15000);
    await waitFor(async () => (await apiStream(token, 'cam')).live === false, { timeout: 10000, what: 'cam not live' });
    assert.deepEqual(problems, []);
    await tab.close();
  });

  // Screen capture needs a browser that accepts its picker: one with --use-fake-ui-for-media-stream
  // (its fake screen is a generated picture). Not signed in: the stream's name typed, its key
  // pasted, no microphone.
  test('the screen, without a microphone, by a pasted key: live at the captured size; closing the tab ends it', async () => {
    const other = await launchChromium('--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream');
    try {
      const tab = await openTab(await other.newContext({ viewport: { width: 1440, height: 900 } }));
      await tab.getByLabel('Stream name (optional, for the watch link)').fill('second');
      await tab.getByLabel('Stream key').fill(key2);
      await tab.getByLabel('Screen').check();
      assert.equal(await tab.locator('#pub-camera').count(), 0, 'no camera picker for the screen');
      await tab.getByLabel('Microphone').selectOption({ label: 'No microphone' });
      await tab.getByRole('button', { name: 'Go live' }).click();
      await waitPhase(tab, 'live');
      assert.equal(await tab.getByTestId('watch-link').locator('a').getAttribute('href'), '/watch/second');
      const token = shared.token;
      const row = await waitFor(async () => {
        const r = await apiStream(token, 'second');
        return r.live && r.media?.video ? r : null;
      }, { timeout: 30000, what: 'second live with its media known' });
      const cap = await tab.getByTestId('preview').evaluate((v) => {
        const s = v.srcObject.getVideoTracks()[0].getSettings();
        return { size: `${s.width}x${s.height}`, surface: s.displaySurface ?? null, audio: v.srcObject.getAudioTracks().length };
      });
      console.log(`# screen: captured ${JSON.stringify(cap)}, the server has ${JSON.stringify(row.media)}`);
      assert.ok(cap.surface, 'the preview is a screen capture (a displaySurface)');
      assert.equal(cap.audio, 0);
      assert.equal(`${row.media.video.width}x${row.media.video.height}`, cap.size);
      assert.equal(row.media.audio, undefined, 'no audio track');
      // Closing the tab while live: the page's pagehide sends DELETE (keepalive), the stream ends.
      assert.deepEqual(problems, []);
      await tab.close({ runBeforeUnload: true });
      await waitFor(async () => (await apiStream(token, 'second')).live === false, { timeout: 10000, what: 'second not live' });
      // pagehide's DELETE races Chromium closing the connection itself: either ends it at once
      // (not ICE consent's 30 s later); which one won is printed.
      const ended = srv.log().match(/whip stream=second publish from \S+ ended: .*/)?.[0];
      console.log(`# tab closed: ${ended}`);
      assert.match(ended ?? '', /ended: (DELETE from the publisher|the peer closed DTLS)$/);
    } finally {
      await other.close();
    }
  });

  test('a wrong pasted key: "this stream key was refused", nothing goes live; a hostile name stays text', async () => {
    const tab = await openTab(allowed);
    // A name that is no stream name is said, as the characters typed, and not sent.
    const nameField = tab.getByLabel('Stream name (optional, for the watch link)');
    await nameField.fill(XSS);
    assert.match(await tab.getByTestId('name-error').innerText(), /^“<img src=x onerror=alert\(1\)>” is not a stream name/);
    assert.equal(await tab.locator('main img').count(), 0, 'the name made no element');
    assert.equal(await tab.getByRole('button', { name: 'Go live' }).isDisabled(), true);
    assert.equal(await tab.getByTestId('watch-link').count(), 0);
    await nameField.fill('');
    await tab.getByLabel('Stream key').fill('sk_wrong');
    await tab.getByRole('button', { name: 'Go live' }).click();
    await waitPhase(tab, 'failed');
    assert.equal(await tab.getByTestId('pub-problem').getAttribute('data-problem'), 'refused');
    assert.match(await tab.getByTestId('pub-problem').innerText(), /this stream key was refused/i);
    assert.equal(await tab.getByRole('button', { name: 'Go live' }).isEnabled(), true, 'Go live can be pressed again');
    assert.ok(await tab.getByTestId('preview').evaluate((v) => v.srcObject !== null), 'the preview stays');
    assert.deepEqual(problems, []);
    await tab.close();
  });

  // The retry gives up after MAX_TRIES (5) with a clear message. The backoff (2+4+8+16+30 s) is
  // a minute of page timers: the tab runs on Playwright's clock (page.clock, installed before the
  // page loads, flowing in real time until fast-forwarded), so the test skips the waits instead
  // of sitting through them. A second server of its own is stopped mid-publish: each try's POST
  // /whip then finds nothing listening. (Node-side polling: the page's rAF and timers are fake.)
  test('the server goes away mid-publish: five tries, each counted down, then the page gives up and says so', async () => {
    const data2 = mkdtempSync(path.join(workDir, 'publish-giveup-'));
    const cli2 = (args, input) => execFileSync(binary, [...args, '--data', data2],
      { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    cli2(['user', 'add', 'alice', '--password-stdin'], `${PASSWORD}\n`);
    const key3 = cli2(['stream', 'add', '--user', 'alice', '--name', 'gone']).trim();
    const srv2 = await startServer(['--data', data2, '--no-record', '--rtc', `${netif.addr}:${await freePort()}`]);
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    try {
      await ctx.grantPermissions(['camera', 'microphone'], { origin: srv2.base });
      const tab = await ctx.newPage();
      tab.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      await tab.clock.install();
      await tab.goto(`${srv2.base}/publish`);
      const text = () => status(tab).innerText();
      const phaseIs = (want, timeout, what) => waitFor(async () => (await phase(tab)) === want,
        { timeout, what });
      await tab.getByLabel('Stream name (optional, for the watch link)').fill('gone');
      await tab.getByLabel('Stream key').fill(key3);
      await tab.getByRole('button', { name: 'Go live' }).click();
      await phaseIs('live', 30000, 'live on the second server');
      const { code } = await srv2.stop();
      assert.equal(code, 0);
      await phaseIs('retrying', 60000, 'the lost connection noticed');
      const tries = [];
      for (let i = 0; i < 8 && (await phase(tab)) !== 'failed'; i++) {
        const m = /^Reconnecting in \d+ s \(try (\d) of 5\)/.exec(await text());
        assert.ok(m, await text());
        tries.push(Number(m[1]));
        await tab.clock.fastForward('00:31'); /* past the longest wait (30 s) */
        const next = new RegExp(`^Reconnecting in \\d+ s \\(try ${tries.at(-1) + 1} of 5\\)`);
        await waitFor(async () => (await phase(tab)) === 'failed' || next.test(await text()),
          { timeout: 20000, what: `try ${tries.at(-1)} refused, then the next countdown or the end` });
      }
      assert.deepEqual(tries, [1, 2, 3, 4, 5]);
      assert.equal(await phase(tab), 'failed');
      const said = tab.getByTestId('pub-problem');
      assert.equal(await said.getAttribute('data-problem'), 'gave-up');
      assert.equal(await said.innerText(),
        'The connection was lost and 5 tries to reconnect failed. Press Go live to try again.');
      assert.equal(await tab.getByRole('button', { name: 'Go live' }).isEnabled(), true, 'Go live can be pressed again');
      console.log(`# gave up after tries ${tries.join(', ')}: "${await said.innerText()}"`);
      assert.deepEqual(problems, []);
    } finally {
      await ctx.close();
      await srv2.stop();
    }
  });

  test('a denied camera is said, and nothing is sent', async () => {
    const tab = await openTab(denied);
    await tab.getByRole('button', { name: 'Preview' }).click();
    const err = tab.getByTestId('media-error');
    await err.waitFor({ timeout: 15000 });
    assert.match(await err.innerText(), /Access to the camera and microphone was denied/);
    assert.equal(await phase(tab), 'idle');
    assert.deepEqual(await axeFindings(tab), []);
    assert.deepEqual(problems, []);
    await tab.close();
  });
});
