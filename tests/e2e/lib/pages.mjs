// What the page tests share (pages, publish_page, voice_page, admin_page, home_rooms,
// watch_recording, thumbnail): headless Chromium, axe-core's serious and critical findings,
// where screenshots go, and a JSON API call against a server.
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { binary } from './server.mjs';

// Debian's Chromium, headless, without the background traffic of a first run; more flags
// (a fake camera, autoplay) in args.
export function launchChromium(...args) {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', ...args],
  });
}

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

// Screenshots of every page land beside the binary under test (build-test/screenshots), so a
// person can look at them after a run; KIBITKA_SCREENSHOTS names another directory.
export const shots = process.env.KIBITKA_SCREENSHOTS || path.join(path.dirname(binary), 'screenshots');
mkdirSync(shots, { recursive: true });

// axe-core's violations of impact serious or critical on the tab's page as it is now.
export async function axeFindings(tab) {
  if (!(await tab.evaluate(() => typeof window.axe === 'object'))) await tab.evaluate(axeSource);
  const violations = await tab.evaluate(async () =>
    (await window.axe.run(document, { resultTypes: ['violations'] })).violations
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) })));
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

// A JSON API call: { status, json } (json null for 204 or a body that is not JSON).
export async function apiCall(srv, method, url, token, body) {
  const r = await fetch(srv.base + url, {
    method,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, json: r.status === 204 ? null : await r.json().catch(() => null) };
}
