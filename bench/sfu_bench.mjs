// Voice-room forwarding against one server (kibitka or Janus VideoRoom) with werift clients, all
// in this node process: CPU per forwarded Opus packet (the server's /proc ticks over the packets
// the clients received), the added delay (a speaker's send to a listener's receive, one clock),
// and for kibitka a ramp of rooms of 50. Run by bench/sfu_janus.sh, which prints the table;
// alone: SERVER=kibitka|janus CASE=all10|hall50|ramp node bench/sfu_bench.mjs
// Prints one JSON line per measurement on stdout ("result" lines), progress on stderr.
//
// Delay: each speaker sends the Opus packets of its own tone (lib/voice.mjs opusTones), and both
// SFUs forward payloads untouched: a received payload names its speaker and its index j in the
// tone; the packet is the speaker's latest send of index j (tones are 2 s, delays far shorter).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { performance, monitorEventLoopDelay } from 'node:perf_hooks';
import { RTCPeerConnection, RTCRtpCodecParameters, MediaStreamTrack, RtpHeader, RtpPacket,
  useAudioLevelIndication, useSdesMid } from '../tests/e2e/node_modules/werift/lib/index.mjs';
import { startServer, binary, workDir } from '../tests/e2e/lib/server.mjs';
import { opusTones, voiceJoin, allConnected } from '../tests/e2e/lib/voice.mjs';

const SERVER = process.env.SERVER || 'kibitka';
const CASE = process.env.CASE || 'all10';
const WARMUP = Number(process.env.WARMUP || 3);
const MEASURE = Number(process.env.MEASURE || 12);
const RAMP = (process.env.RAMP || '50,100,150,200').split(',').map(Number);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(`# ${SERVER} ${CASE}:`, ...a);
const hz = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
const ticks = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return Number(f[11]) + Number(f[12]); };

const OPUS = () => new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2,
  payloadType: 111, parameters: 'minptime=10;useinbandfec=1' });
const pcConfig = () => ({ codecs: { audio: [OPUS()] },
  headerExtensions: { audio: [useSdesMid(), useAudioLevelIndication()] }, iceUseIpv6: false, iceServers: [] });

// ---- the clock side: sends and receives -------------------------------------------------
// Tone 0 (300 Hz) is 6 whole periods per 20 ms frame: its packets repeat, so speakers use 1..
const tones = await opusTones(Number(process.env.TONES || 12));
const payloadKey = new Map(); // base64 payload -> "k:j"; payloads seen twice are dropped
tones.forEach((t, k) => t.payloads.forEach((p, j) => {
  const b = p.toString('base64');
  payloadKey.set(b, payloadKey.has(b) ? null : `${k}:${j}`);
}));
const sentAt = new Map(); // "k:j" -> performance.now() of the latest send
const stats = { sent: 0, on: false, received: 0, delays: [], unknown: 0 };

function receiveOn(track, seen) {
  if (seen.has(track)) return;
  seen.add(track);
  track.onReceiveRtp.subscribe((rtp) => {
    if (!stats.on) return;
    const now = performance.now();
    stats.received++;
    const key = payloadKey.get(rtp.payload.toString('base64'));
    const t = key && sentAt.get(key);
    if (t === undefined || t === null || !key) { stats.unknown++; return; }
    stats.delays.push(now - t);
  });
}
// every remote track of pc, now and later
function recordAll(pc) {
  const seen = new Set();
  for (const t of pc.getTransceivers()) for (const tr of t.receiver.tracks || []) receiveOn(tr, seen);
  pc.onTrack.subscribe((tr) => receiveOn(tr, seen));
}
const pumps = [], clearLists = [];
// speaker k: its tone's packets every 20 ms on track `mic` with the audio level (-dBov 30)
function speak(k, mic, levelId) {
  k = 1 + (k % (tones.length - 1));
  const payloads = tones[k].payloads;
  let seq = Math.floor(Math.random() * 65536), ts = Math.floor(Math.random() * 2 ** 32), i = 0;
  pumps.push(setInterval(() => {
    const header = new RtpHeader({ payloadType: 111, sequenceNumber: seq, timestamp: ts, marker: false,
      extensions: levelId ? [{ id: levelId, payload: Buffer.from([0x80 | 30]) }] : [] });
    seq = (seq + 1) & 0xffff; ts = (ts + 960) >>> 0;
    const j = i++ % payloads.length;
    sentAt.set(`${k}:${j}`, performance.now());
    mic.writeRtp(new RtpPacket(header, payloads[j]));
    stats.sent++;
  }, 20));
}

async function waitGathered(pc) {
  if (pc.iceGatheringState === 'complete') return;
  await new Promise((resolve) => {
    pc.iceGatheringStateChange.subscribe((s) => { if (s === 'complete') resolve(); });
    setTimeout(resolve, 3000);
  });
}
async function connected(pcs, ms = 60000) {
  const end = Date.now() + ms;
  for (const pc of pcs) {
    while (pc.connectionState !== 'connected') {
      if (Date.now() > end) throw new Error(`a peer connection is ${pc.connectionState}`);
      await sleep(50);
    }
  }
}

const pct = (a, p) => a.length ? a[Math.min(a.length - 1, Math.floor(p * a.length))] : NaN;
// kibitka_voice_forward_delay_seconds from /metrics text: [[le, cumulative count], ...], +Inf last.
function histogram(text, name) {
  const rows = [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)`, 'gm'))];
  return rows.map((m) => [m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])]);
}
// The q-quantile of the observations between two reads of a histogram, as Prometheus'
// histogram_quantile: linear within the bucket, from 0 for the first; the highest finite bound
// when it falls in +Inf.
function histQuantile(before, after, q) {
  if (!before?.length || before.length !== after?.length) return NaN;
  const cum = after.map(([le, n], i) => [le, n - before[i][1]]);
  const total = cum.at(-1)[1];
  if (!(total > 0)) return NaN;
  const rank = q * total;
  for (let i = 0; i < cum.length; i++) {
    if (cum[i][1] >= rank) {
      if (cum[i][0] === Infinity) return cum[i - 1][0];
      const lo = i ? cum[i - 1][0] : 0, below = i ? cum[i - 1][1] : 0;
      return lo + (cum[i][0] - lo) * (rank - below) / (cum[i][1] - below);
    }
  }
  return NaN;
}
// one measurement window: the server's CPU over what the clients received
async function measure(pid, label, extra = async () => ({})) {
  stats.on = true;
  await sleep(WARMUP * 1000);
  stats.received = 0; stats.delays = []; stats.unknown = 0;
  const before = await extra();
  const sent0 = stats.sent;
  const lag = monitorEventLoopDelay({ resolution: 1 }); // the clients' own event-loop lag
  lag.enable();
  const t0 = ticks(pid), w0 = performance.now(), c0 = process.cpuUsage();
  await sleep(MEASURE * 1000);
  lag.disable();
  const t1 = ticks(pid), w1 = performance.now(), c1 = process.cpuUsage(c0);
  const after = await extra();
  const received = stats.received, sent = stats.sent - sent0;
  const d = stats.delays.slice().sort((a, b) => a - b);
  stats.on = false;
  const secs = (w1 - w0) / 1000;
  const cpu = (t1 - t0) / hz;
  const r = { result: true, server: SERVER, case: label, seconds: +secs.toFixed(1), received,
    pps: Math.round(received / secs), server_cpu_s: cpu, server_core: +(cpu / secs).toFixed(3),
    us_per_packet: +(cpu * 1e6 / received).toFixed(2),
    delay_p50_ms: +pct(d, 0.5).toFixed(2), delay_p99_ms: +pct(d, 0.99).toFixed(2), delay_samples: d.length,
    unmatched: stats.unknown,
    client_lag_p99_ms: +(lag.percentile(99) / 1e6).toFixed(2), client_core: +((c1.user + c1.system) / 1e6 / secs).toFixed(2) };
  for (const k of Object.keys(before)) {
    if (Array.isArray(before[k])) continue;
    r[`server_${k}`] = after[k] - before[k];
  }
  // The server's own forwarding delay (arrival to sendmmsg) over the same window, from its
  // histogram's delta: beside the clients' send-to-receive figures above.
  if (before.fwd_hist) {
    r.server_fwd_delay_p50_ms = +(histQuantile(before.fwd_hist, after.fwd_hist, 0.5) * 1e3).toFixed(3);
    r.server_fwd_delay_p99_ms = +(histQuantile(before.fwd_hist, after.fwd_hist, 0.99) * 1e3).toFixed(3);
    r.server_fwd_delay_count = after.fwd_hist.at(-1)?.[1] - before.fwd_hist.at(-1)?.[1];
  }
  r.sent = sent;
  console.log(JSON.stringify(r));
  log(JSON.stringify(r));
  return r;
}

// ---- kibitka ----------------------------------------------------------------------------
async function kibitka() {
  const ADMIN_PW = 'admin-pass-1';
  const dir = mkdtempSync(path.join(workDir, 'sfu-bench-'));
  execFileSync(binary, ['user', 'add', 'admin', '--admin', '--password-stdin', '--data', dir],
    { input: `${ADMIN_PW}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
  // 9 slots: a 10-member room where all speak forwards all 9 others, as Janus does
  // startServer picks free TCP ports; the WebRTC one is UDP too and may be taken: try again
  let srv;
  for (let i = 0; ; i++) {
    try { srv = await startServer(['--data', dir, '--voice-slots', '9', '--max-connections-per-address', '0']); break; } catch (e) {
      if (i === 3 || !/Address already in use/.test(e.message)) throw e;
    }
  }
  const api = async (method, p, token, body) => {
    const res = await fetch(srv.base + p, { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  const admin = (await api('POST', '/api/auth/login', null, { username: 'admin', password: ADMIN_PW })).token;
  const forwarded = async () => {
    const text = await (await fetch(`${srv.base}/metrics`)).text();
    const get = (name) => { const m = new RegExp(`^${name}(?:\\{\\})? (\\d+)`, 'm').exec(text); return m ? Number(m[1]) : NaN; };
    return { forwarded: get('kibitka_voice_packets_forwarded_total'), in: get('kibitka_voice_packets_in_total'),
      send_drops: get('kibitka_rtc_send_drops_total'), batches: get('kibitka_rtc_send_batches_total'),
      fwd_hist: histogram(text, 'kibitka_voice_forward_delay_seconds') };
  };
  const members = [];
  let nextTone = 0;
  async function room(name, n, speakers) {
    await api('POST', '/api/rooms', admin, { name, public: true });
    const mine = [];
    for (let i = 0; i < n; i++) {
      const tok = (await api('POST', `/api/rooms/${name}/token`, admin, { guest: `${name}-${i}`, may_speak: i < speakers })).token;
      const m = await voiceJoin(srv.ws, name, tok, {});
      members.push(m); mine.push(m);
      recordAll(m.pc);
      // lib/voice.mjs keeps every packet it receives: empty its lists, as Janus' clients keep none
      clearLists.push(setInterval(() => m.slots.forEach((sl) => { sl.packets.length = 0; }), 500));
    }
    await allConnected(mine, 60000);
    for (let i = 0; i < speakers; i++) speak(nextTone++, mine[i].pc.getTransceivers()[0].sender.track, mine[i].levelId);
  }
  try {
    if (CASE === 'all10') { await room('all10', 10, 10); await measure(srv.proc.pid, 'all10', forwarded); }
    if (CASE === 'hall50') { await room('hall50', 50, 3); await measure(srv.proc.pid, 'hall50', forwarded); }
    if (CASE === 'ramp') {
      for (const [s, total] of RAMP.entries()) {
        const t = Date.now();
        await room(`hall${s}`, 50, 3);
        log(`${total} members joined (${Date.now() - t} ms for the last 50)`);
        const r = await measure(srv.proc.pid, `ramp${total}`, forwarded);
        if (!(r.delay_p99_ms <= 20)) { log(`p99 ${r.delay_p99_ms} ms > 20 ms at ${total} members: stop`); break; }
      }
    }
  } finally {
    pumps.forEach(clearInterval); clearLists.forEach(clearInterval);
    await Promise.all(members.map((m) => m.close().catch(() => {})));
    await srv.stop();
  }
}

// ---- Janus VideoRoom over its plain-HTTP API -------------------------------------------
async function janus() {
  const conf = process.env.JANUS_CONF, base = process.env.JANUS_URL;
  const proc = spawn('janus', ['-F', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let jlog = '';
  proc.stdout.on('data', (d) => { jlog += d; }); proc.stderr.on('data', (d) => { jlog += d; });
  let tx = 0;
  const post = async (p, body) => {
    const res = await fetch(base + p, { method: 'POST', body: JSON.stringify({ transaction: `t${++tx}`, ...body }) });
    const j = await res.json();
    if (j.janus === 'error') throw new Error(`janus ${JSON.stringify(body)}: ${JSON.stringify(j.error)}`);
    return j;
  };
  for (let end = Date.now() + 15000; ;) {
    try { await fetch(`${base}/info`); break; } catch { if (Date.now() > end) throw new Error(`janus did not start:\n${jlog}`); await sleep(100); }
  }
  const session = (await post('', { janus: 'create' })).data.id;
  const waiters = []; // {handle, pred, resolve}
  let polling = true;
  (async () => { // the session's long poll: events to whoever waits on that handle
    while (polling) {
      let evs;
      try { evs = await (await fetch(`${base}/${session}?maxev=50&rid=${Date.now()}`)).json(); } catch { await sleep(100); continue; }
      for (const ev of Array.isArray(evs) ? evs : [evs]) {
        const w = waiters.find((x) => x.handle === ev.sender && x.pred(ev));
        if (w) { waiters.splice(waiters.indexOf(w), 1); w.resolve(ev); }
      }
    }
  })();
  const event = (handle, pred, ms = 20000) => new Promise((resolve, reject) => {
    const w = { handle, pred, resolve };
    waiters.push(w);
    setTimeout(() => { if (waiters.includes(w)) { waiters.splice(waiters.indexOf(w), 1); reject(new Error(`janus: no event on handle ${handle}`)); } }, ms);
  });
  const attach = async () => (await post(`/${session}`, { janus: 'attach', plugin: 'janus.plugin.videoroom' })).data.id;
  const msg = (h, body, jsep) => post(`/${session}/${h}`, { janus: 'message', body, ...(jsep ? { jsep } : {}) });
  const pcs = [];
  async function publisher(roomId, k) {
    const h = await attach();
    const pc = new RTCPeerConnection(pcConfig());
    pcs.push(pc);
    const mic = new MediaStreamTrack({ kind: 'audio' });
    pc.addTransceiver(mic, { direction: 'sendonly' });
    await pc.setLocalDescription(await pc.createOffer());
    await waitGathered(pc);
    const got = event(h, (e) => e.jsep);
    await msg(h, { request: 'joinandconfigure', ptype: 'publisher', room: roomId, display: `p${k}`, audio: true, video: false },
      { type: 'offer', sdp: pc.localDescription.sdp });
    const ev = await got;
    await pc.setRemoteDescription(ev.jsep);
    const ext = /a=extmap:(\d+)(?:\/\w+)? urn:ietf:params:rtp-hdrext:ssrc-audio-level/.exec(ev.jsep.sdp);
    return { id: ev.plugindata.data.id, pc, mic, levelId: ext ? Number(ext[1]) : null };
  }
  async function subscriber(roomId, feeds) {
    const h = await attach();
    const got = event(h, (e) => e.jsep);
    await msg(h, { request: 'join', ptype: 'subscriber', room: roomId, streams: feeds.map((feed) => ({ feed })) });
    const ev = await got;
    const pc = new RTCPeerConnection(pcConfig());
    pcs.push(pc);
    recordAll(pc);
    await pc.setRemoteDescription(ev.jsep);
    await pc.setLocalDescription(await pc.createAnswer());
    await waitGathered(pc);
    const started = event(h, (e) => e.plugindata?.data?.started !== undefined || e.plugindata?.data?.videoroom === 'event');
    await msg(h, { request: 'start', room: roomId }, { type: 'answer', sdp: pc.localDescription.sdp });
    await started.catch(() => {});
    return pc;
  }
  let nextRoom = 1000, nextTone = 0;
  async function room(n, speakers) {
    const h = await attach();
    const roomId = nextRoom++;
    const r = await msg(h, { request: 'create', room: roomId, publishers: Math.max(speakers, 1) + 5,
      audiocodec: 'opus', audiolevel_ext: true, audiolevel_event: false, permanent: false });
    if (r.plugindata?.data?.error) throw new Error(`janus create: ${r.plugindata.data.error}`);
    const pubs = [];
    for (let k = 0; k < speakers; k++) pubs.push(await publisher(roomId, k));
    await connected(pubs.map((p) => p.pc));
    const subs = [];
    for (let i = 0; i < n; i++) {
      const feeds = pubs.filter((p, k) => k !== i).map((p) => p.id); // member i < speakers is pubs[i]
      subs.push(await subscriber(roomId, feeds));
    }
    await connected(subs);
    for (const p of pubs) speak(nextTone++, p.mic, p.levelId);
  }
  try {
    if (CASE === 'all10') { await room(10, 10); await measure(proc.pid, 'all10'); }
    if (CASE === 'hall50') { await room(50, 3); await measure(proc.pid, 'hall50'); }
  } catch (e) {
    console.error(jlog.split('\n').slice(-30).join('\n'));
    throw e;
  } finally {
    polling = false;
    pumps.forEach(clearInterval);
    await Promise.all(pcs.map((pc) => pc.close().catch(() => {})));
    proc.kill('SIGTERM');
    await new Promise((r) => { proc.on('exit', r); setTimeout(() => { proc.kill('SIGKILL'); r(); }, 5000); });
  }
}

await (SERVER === 'janus' ? janus() : kibitka());
process.exit(0);
