// Two headless Chromium tabs with fake microphones talk in a voice room (issue 14): each joins
// over the WebSocket signaling with a join token, offers its microphone (sendrecv) plus the
// room's recvonly slots, and must receive the other's audio: its `inbound-rtp` stats count
// packets and audio energy. Then one leaves and the other is told `participant_left`.
//
// Chromium neither gathers nor uses loopback candidates: the server's --rtc is bound to an
// address on an interface this file makes and removes (lib/netif.mjs); signaling stays on
// 127.0.0.1. Without root or `ip` the test is skipped, saying why.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { startServer, freePort, binary, workDir } from './lib/server.mjs';
import { openPlayerPage } from './lib/player.mjs';
import { makeNetif } from './lib/netif.mjs';

const netif = makeNetif();
after(() => { if (!netif.skip) netif.remove(); });

// Runs in a tab: joins `room` and keeps everything in window.voice.
async function joinInPage({ wsUrl, room, token, display }) {
  const v = { events: [], errors: [] };
  window.voice = v;
  const ws = new WebSocket(wsUrl);
  v.ws = ws;
  const next = () => new Promise((resolve) => { v.waiter = resolve; });
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (v.waiter && (m.type === 'joined' || m.type === 'answer' || m.type === 'error')) {
      const w = v.waiter; v.waiter = null; w(m); return;
    }
    v.events.push(m);
  };
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('ws error')); });
  ws.send(JSON.stringify({ type: 'join', room, token, display }));
  const joined = await next();
  if (joined.type !== 'joined') return { error: joined };
  v.joined = joined;
  const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
  const pc = new RTCPeerConnection();
  v.pc = pc;
  pc.addTransceiver(mic.getAudioTracks()[0], { direction: 'sendrecv' });
  for (let i = 0; i < joined.slots; i++) pc.addTransceiver('audio', { direction: 'recvonly' });
  pc.onicecandidate = (e) => {
    if (e.candidate) ws.send(JSON.stringify({ type: 'trickle', candidate: e.candidate.candidate,
      sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex }));
  };
  await pc.setLocalDescription();
  ws.send(JSON.stringify({ type: 'offer', sdp: pc.localDescription.sdp }));
  const answer = await next();
  if (answer.type !== 'answer') return { error: answer };
  await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
  // Received audio must be played (or at least attached) for Chromium to decode it and count
  // its energy.
  v.audio = [];
  for (const t of pc.getTransceivers().slice(1)) {
    const a = new Audio();
    a.srcObject = new MediaStream([t.receiver.track]);
    a.muted = false; // a muted element is not played out, and Chromium then counts no audio energy
    a.play().catch(() => {});
    v.audio.push(a);
  }
  return { id: joined.id, participants: joined.participants.length };
}

// In a tab: the summed inbound-rtp figures of its recvonly slots.
async function inboundInPage() {
  const stats = await window.voice.pc.getStats();
  let packets = 0, energy = 0, bytes = 0;
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      packets += s.packetsReceived || 0;
      bytes += s.bytesReceived || 0;
      energy += s.totalAudioEnergy || 0;
    }
  });
  return { packets, bytes, energy, state: window.voice.pc.connectionState };
}

test('two Chromium tabs hear each other in a room; one leaves, the other is told', { skip: netif.skip || false, timeout: 120000 }, async () => {
  const dir = mkdtempSync(path.join(workDir, 'voice-browser-'));
  execFileSync(binary, ['user', 'add', 'admin', '--admin', '--password-stdin', '--data', dir],
    { input: 'admin-pass-1\n', stdio: ['pipe', 'pipe', 'pipe'] });
  const srv = await startServer(['--data', dir, '--no-record', '--rtc', `${netif.addr}:${await freePort()}`]);
  const page = await openPlayerPage({ args: ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'] });
  try {
    const call = async (method, p, token, body) => {
      const r = await fetch(srv.base + p, { method, headers: { 'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: body ? JSON.stringify(body) : undefined });
      const json = await r.json();
      assert.ok(r.status < 300, `${method} ${p}: ${r.status} ${JSON.stringify(json)}`);
      return json;
    };
    const admin = (await call('POST', '/api/auth/login', null, { username: 'admin', password: 'admin-pass-1' })).token;
    await call('POST', '/api/rooms', admin, { name: 'den', public: true });
    const tabs = [await page.newTab(), await page.newTab()];
    const ids = [];
    for (const [i, tab] of tabs.entries()) {
      const token = (await call('POST', '/api/rooms/den/token', admin, { guest: `tab${i}` })).token;
      const r = await tab.evaluate(joinInPage, { wsUrl: `ws://127.0.0.1:${srv.ws}/rtc`, room: 'den', token, display: `tab${i}` });
      assert.ok(!r.error, `tab ${i} joined: ${JSON.stringify(r.error)}`);
      assert.equal(r.participants, i, `tab ${i} sees the ${i} already there`);
      ids.push(r.id);
    }
    // Both receive audio with energy (the fake microphone's beep).
    for (const [i, tab] of tabs.entries()) {
      const deadline = Date.now() + 30000;
      let s;
      for (;;) {
        s = await tab.evaluate(inboundInPage);
        if (s.packets >= 100 && s.energy > 0) break;
        if (Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      console.log(`# tab ${i}: ${JSON.stringify(s)}`);
      assert.ok(s.packets >= 100, `tab ${i} receives the other's packets: ${JSON.stringify(s)}`);
      assert.ok(s.energy > 0, `tab ${i} decodes audio with energy: ${JSON.stringify(s)}`);
    }
    // The API lists both with their packets.
    const room = await call('GET', '/api/rooms/den', admin);
    assert.deepEqual(room.participants.map((p) => p.display).sort(), ['tab0', 'tab1']);
    // tab1 leaves: tab0 is told.
    await tabs[1].evaluate(() => window.voice.ws.send(JSON.stringify({ type: 'leave' })));
    await tabs[0].waitForFunction((id) => window.voice.events.some((e) => e.type === 'participant_left' &&
      (e.participant === id || e.participant?.id === id)), ids[1], { timeout: 15000 });
  } finally {
    await page.close();
    const { code } = await srv.stop();
    assert.equal(code, 0);
  }
});
