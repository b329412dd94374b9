// A scripted voice-room member built on npm werift (a WebRTC stack we did not write) and the
// signaling client of lib/ws.mjs: it joins a room over ws://HOST:PORT/rtc, offers one sendrecv
// audio m-line (its microphone) and `slots` recvonly ones, sends Opus with the RFC 6464
// audio-level header extension at the level the test sets, and records every packet each slot
// receives (SSRC, sequence number, timestamp and which speaker's payload it carries).
//
// Payloads: each speaker sends real Opus packets that ffmpeg encoded from a tone of its own
// frequency (opusTones); a payload's bytes tell whose it is, since the SFU forwards payloads
// untouched.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import {
  RTCPeerConnection, MediaStreamTrack, RTCRtpCodecParameters, RtpHeader, RtpPacket,
  useAudioLevelIndication, useSdesMid,
} from 'werift';
import { wsConnect } from './ws.mjs';

const OPUS = new RTCRtpCodecParameters({
  mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: 111,
  parameters: 'minptime=10;useinbandfec=1',
});
const LEVEL_URI = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';

// n distinct Opus packet sets (20 ms, mono, 2 s each), made once by ffmpeg's RTP muxer to a
// local socket. Resolves to [{payloads: Buffer[]}...].
export async function opusTones(n) {
  const out = [];
  for (let k = 0; k < n; k++) {
    const sock = dgram.createSocket('udp4');
    const payloads = [];
    sock.on('message', (m) => {
      const cc = m[0] & 0x0f, x = m[0] & 0x10;
      let off = 12 + 4 * cc;
      if (x) off += 4 + 4 * m.readUInt16BE(off + 2);
      payloads.push(Buffer.from(m.subarray(off)));
    });
    await new Promise((r) => sock.bind(0, '127.0.0.1', r));
    const port = sock.address().port;
    const ff = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi',
      '-i', `sine=frequency=${300 + 97 * k}:sample_rate=48000:duration=2`, '-ac', '1',
      '-c:a', 'libopus', '-b:a', '48k', '-frame_duration', '20', '-payload_type', '111',
      '-f', 'rtp', `rtp://127.0.0.1:${port}?pkt_size=1200`], { stdio: 'ignore' });
    await new Promise((r) => ff.on('exit', r));
    await new Promise((r) => setTimeout(r, 100));
    sock.close();
    if (payloads.length < 50) throw new Error(`ffmpeg made ${payloads.length} Opus packets`);
    out.push({ payloads });
  }
  return out;
}

async function waitGathered(pc) {
  if (pc.iceGatheringState === 'complete') return;
  await new Promise((resolve) => {
    pc.iceGatheringStateChange.subscribe((s) => { if (s === 'complete') resolve(); });
    setTimeout(resolve, 3000);
  });
}

// Joins `room` with `token`. Options: display, slots (the recvonly m-lines to offer; default
// the server's, from `joined`), resume, tones (from opusTones) and tone (this member's index
// in it: the payloads it sends), whoIs(payload) -> a speaker's name (to label what slots get).
// Returns the member:
//   { ws, joined, id, pc, events[], slots[{packets:[{ssrc, seq, ts, from, at}]}],
//     speak(level) (level in -dBov: 0 loudest .. 127 silent; null stops sending),
//     waitEvent(pred, ms), leave(), close() }
export async function voiceJoin(wsPort, room, token, opts = {}) {
  const ws = await wsConnect(wsPort);
  const events = [];
  const eventWaiters = [];
  ws.send({ type: 'join', room, token, ...(opts.display ? { display: opts.display } : {}),
    ...(opts.resume ? { resume: opts.resume } : {}) });
  const joined = await ws.next(15000);
  if (joined.type !== 'joined') {
    ws.close();
    const e = new Error(`join refused: ${JSON.stringify(joined)}`);
    e.reply = joined;
    throw e;
  }
  const nslots = opts.slots ?? joined.slots;
  const pc = new RTCPeerConnection({
    codecs: { audio: [OPUS] },
    headerExtensions: { audio: [useSdesMid(), useAudioLevelIndication()] },
    iceUseIpv6: false,
    iceServers: [],
  });
  const mic = new MediaStreamTrack({ kind: 'audio' });
  pc.addTransceiver(mic, { direction: 'sendrecv' });
  const slots = [];
  for (let i = 0; i < nslots; i++) {
    const t = pc.addTransceiver('audio', { direction: 'recvonly' });
    const slot = { packets: [] };
    slots.push(slot);
    t.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => {
        slot.packets.push({
          ssrc: rtp.header.ssrc, seq: rtp.header.sequenceNumber, ts: rtp.header.timestamp,
          from: opts.whoIs ? opts.whoIs(rtp.payload) : null, at: Date.now(),
        });
      });
    });
  }
  const micSlot = { packets: [] }; // what comes back on the sendrecv m-line: should be nothing
  pc.getTransceivers()[0].onTrack.subscribe((track) => {
    track.onReceiveRtp.subscribe((rtp) => micSlot.packets.push({ ssrc: rtp.header.ssrc }));
  });
  await pc.setLocalDescription(await pc.createOffer());
  await waitGathered(pc);
  ws.send({ type: 'offer', sdp: pc.localDescription.sdp });
  // Events may come before the answer; keep them.
  let answer;
  for (;;) {
    const m = await ws.next(15000);
    if (m.type === 'answer') { answer = m; break; }
    if (m.type === 'error') { ws.close(); await pc.close(); throw new Error(`offer refused: ${JSON.stringify(m)}`); }
    events.push(m);
  }
  await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
  const ext = /a=extmap:(\d+)(?:\/\w+)? urn:ietf:params:rtp-hdrext:ssrc-audio-level/.exec(answer.sdp);
  const levelId = ext ? Number(ext[1]) : null;

  let pump = null;
  (async () => { // every message after the answer: events for the test
    for (;;) {
      let m;
      try { m = await ws.next(3600 * 1000); } catch { return; }
      events.push(m);
      for (const w of eventWaiters.slice()) if (w.pred(m)) { eventWaiters.splice(eventWaiters.indexOf(w), 1); w.resolve(m); }
    }
  })();

  const member = {
    ws, joined, id: joined.id, pc, events, slots, micSlot, answer: answer.sdp, levelId,
    sent: 0,
    // Starts (or changes) sending at `level` -dBov every 20 ms; null stops.
    speak(level) {
      if (level === null || level === undefined) { clearInterval(pump); pump = null; return; }
      member.level = level;
      if (pump) return;
      const payloads = opts.tones[opts.tone].payloads;
      let seq = Math.floor(Math.random() * 65536), ts = Math.floor(Math.random() * 2 ** 32), i = 0;
      pump = setInterval(() => {
        const header = new RtpHeader({ payloadType: 111, sequenceNumber: seq, timestamp: ts, marker: false,
          extensions: levelId ? [{ id: levelId, payload: Buffer.from([0x80 | (member.level & 0x7f)]) }] : [] });
        seq = (seq + 1) & 0xffff;
        ts = (ts + 960) >>> 0;
        mic.writeRtp(new RtpPacket(header, payloads[i++ % payloads.length]));
        member.sent++;
      }, 20);
    },
    waitEvent(pred, ms = 10000) {
      const seen = events.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        eventWaiters.push(w);
        setTimeout(() => { const i = eventWaiters.indexOf(w); if (i >= 0) { eventWaiters.splice(i, 1); reject(new Error(`no such event in ${ms} ms; got ${JSON.stringify(events.slice(-5))}`)); } }, ms);
      });
    },
    async leave() { member.speak(null); ws.send({ type: 'leave' }); await ws.whenClosed(5000).catch(() => {}); await pc.close(); },
    async close() { member.speak(null); ws.close(); await pc.close(); },
  };
  return member;
}

// Waits until every member's peer connection is connected (DTLS done), up to ms.
export async function allConnected(members, ms = 20000) {
  const end = Date.now() + ms;
  for (const m of members) {
    while (m.pc.connectionState !== 'connected') {
      if (Date.now() > end) throw new Error(`member ${m.id} is ${m.pc.connectionState}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

// Maps a payload to the speaker whose tone made it: build from the members' tones.
export function payloadIndex(tones, names) {
  const map = new Map();
  tones.forEach((t, k) => t.payloads.forEach((p) => map.set(p.toString('base64'), names[k])));
  return (payload) => map.get(Buffer.from(payload).toString('base64')) ?? '?';
}
