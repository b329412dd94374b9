// Helpers for the WHIP loss, A/V sync tests and bench/whip_cpu.sh (branch i13-w5): a werift
// publisher fed from any ffmpeg input (a file with -c copy, a lavfi graph), with RTX offered,
// a loss-injecting UDP relay, and fetching a rendition's complete segments as they appear.
// lib/whip.mjs' whipPublish stays the reference publisher; this one differs in taking the
// ffmpeg input and codec arguments from the caller.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fetchText, fetchBytes } from './server.mjs';

// werift 0.25.2's ntpTime() (webrtc/src/utils.js) writes the decimal digits of the seconds as
// the NTP fraction ("1234.5678" -> 5678 / 2^32 s): its sender reports' NTP times are whole
// seconds, so each track's SR maps its RTP clock to the wall clock with an error of 0-1 s, and a
// receiver aligning audio with video by SR (as RFC 3550 says to) is off by up to 1 s. The SR is
// the sender's; the A/V sync test needs a correct one, so this replaces it (the sender reads
// it through the module's exports at each call). fixWeriftNtp(false) puts the original back.
// werift's CommonJS build, whose modules call each other through their exports objects (its
// ESM bundle binds them for good, so it could not be corrected from here).
const require = createRequire(import.meta.url);
const { RTCPeerConnection, MediaStreamTrack, RTCRtpCodecParameters } = require('werift');
const weriftUtils = require(path.join(path.dirname(require.resolve('werift')), 'utils.js'));
const weriftNtpTime = weriftUtils.ntpTime;
export function fixWeriftNtp(on = true) {
  weriftUtils.ntpTime = on ? () => {
    const ms = performance.timeOrigin + performance.now();
    const sec = Math.floor(ms / 1000);
    const frac = Math.floor(((ms - sec * 1000) / 1000) * 2 ** 32);
    return (BigInt(sec + 2208988800) << 32n) | BigInt(frac);
  } : weriftNtpTime;
}

export const H264 = new RTCRtpCodecParameters({
  mimeType: 'video/H264', clockRate: 90000, payloadType: 102,
  rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'goog-remb' }],
  parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
});
// RFC 4588 retransmission for H.264: werift answers a NACK with RTX when this is negotiated,
// else it resends the packet as it was, in the media stream.
export const RTX = new RTCRtpCodecParameters({
  mimeType: 'video/rtx', clockRate: 90000, payloadType: 103, parameters: 'apt=102',
});
export const OPUS = new RTCRtpCodecParameters({
  mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: 111,
});

// ffmpeg arguments encoding lavfi/file inputs to H.264 baseline + Opus (real-time encode).
export const encodeArgs = ({ gop = 60, bitrate = '1000k' } = {}) => ({
  video: ['-c:v', 'libx264', '-profile:v', 'baseline', '-preset', 'veryfast', '-tune', 'zerolatency',
    '-pix_fmt', 'yuv420p', '-g', String(gop), '-b:v', bitrate, '-bsf:v', 'dump_extra'],
  audio: ['-c:a', 'libopus', '-ac', '2', '-b:a', '64k'],
});

const udpHandles = () => process._getActiveHandles().filter((x) => x instanceof dgram.Socket);

function udpSink(onPacket) {
  const sock = dgram.createSocket('udp4');
  sock.on('message', onPacket);
  return new Promise((resolve) => sock.bind(0, '127.0.0.1', () => resolve(sock)));
}

async function waitGathered(pc) {
  if (pc.iceGatheringState === 'complete') return;
  await new Promise((resolve) => {
    pc.iceGatheringStateChange.subscribe((s) => { if (s === 'complete') resolve(); });
    setTimeout(resolve, 3000);
  });
}

// Publishes to `${base}/whip` with `key`, media from ffmpeg: `input` is ffmpeg's input
// arguments (e.g. ['-re', '-i', file] or two lavfi inputs), `video`/`audio` the codec
// arguments for map 0:v / 1:a (or `vmap`/`amap`). `rtx`: offer RTX (default true).
// `fixNtp` (default true): correct werift's SR times (above). `mangleAnswer(sdp)`: edit the answer (point the candidate at a relay). Returns
// { status, answer, pc, ff, stop(), exited }.
export async function whipFeed(base, key, opts) {
  fixWeriftNtp(opts.fixNtp !== false);
  const before = new Set(udpHandles());
  const pc = new RTCPeerConnection({
    codecs: { video: opts.rtx === false ? [H264] : [H264, RTX], audio: [OPUS] },
    iceUseIpv6: false,
    iceServers: [], // werift's default is Google's STUN server: no use on loopback, and its socket outlives close()
  });
  const video = new MediaStreamTrack({ kind: 'video' });
  const audio = new MediaStreamTrack({ kind: 'audio' });
  pc.addTransceiver(video, { direction: 'sendonly' });
  pc.addTransceiver(audio, { direction: 'sendonly' });
  await pc.setLocalDescription(await pc.createOffer());
  await waitGathered(pc);
  const offer = pc.localDescription.sdp;
  const r = await fetch(`${base}/whip`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${key}` },
    body: offer,
    signal: AbortSignal.timeout(15000),
  });
  const answer = await r.text();
  const h = {
    status: r.status, answer, offer, pc, ff: null, socks: [], ffErr: '',
    location: r.headers.get('location'),
    exited: Promise.resolve(),
    async stop() {
      if (this.ff && this.ff.exitCode === null) this.ff.kill('SIGKILL');
      for (const s of this.socks) s.close();
      await pc.close();
      // werift 0.25.2 leaves its ICE socket open after close(): the test process would never
      // exit. Unref what this peer opened and left.
      for (const s of udpHandles()) if (!before.has(s)) s.unref();
    },
  };
  if (r.status !== 201) return h;
  await pc.setRemoteDescription({ type: 'answer', sdp: opts.mangleAnswer ? opts.mangleAnswer(answer) : answer });
  const vs = await udpSink((buf) => { try { video.writeRtp(buf); } catch { /* closed */ } });
  const as = await udpSink((buf) => { try { audio.writeRtp(buf); } catch { /* closed */ } });
  h.socks = [vs, as];
  const args = ['-hide_banner', '-loglevel', 'error', ...opts.input,
    '-map', opts.vmap || '0:v', ...opts.video, '-payload_type', '102', '-ssrc', '1111',
    '-f', 'rtp', `rtp://127.0.0.1:${vs.address().port}?pkt_size=1200`,
    '-map', opts.amap || '1:a', ...opts.audio, '-payload_type', '111', '-ssrc', '2222',
    '-f', 'rtp', `rtp://127.0.0.1:${as.address().port}?pkt_size=1200`];
  h.ff = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  h.ff.stderr.on('data', (d) => { h.ffErr += d; });
  h.exited = new Promise((resolve) => h.ff.on('exit', (code) => resolve(code)));
  return h;
}

// mulberry32: a seeded PRNG, so a run drops the same packets of the same sequence.
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// A UDP relay between one publisher and the server's rtc port that drops a fraction `loss` of
// the publisher->server RTP datagrams (RFC 7983: first byte 128-191, and not RTCP: second byte
// 192-223); STUN, DTLS and RTCP always pass, and nothing server->publisher is dropped.
export async function lossyRelay(serverPort, { loss = 0.05, seed = 13 } = {}) {
  const rand = prng(seed);
  const sock = dgram.createSocket('udp4');
  const st = { rtp: 0, dropped: 0, other: 0, back: 0, droppedByPt: {} };
  let peer = null;
  sock.on('message', (buf, from) => {
    if (from.port === serverPort && from.address === '127.0.0.1') {
      st.back++;
      if (peer) sock.send(buf, peer.port, peer.address);
      return;
    }
    peer = from;
    const isRtp = buf.length >= 2 && buf[0] >= 128 && buf[0] <= 191 && !(buf[1] >= 192 && buf[1] <= 223);
    if (isRtp) {
      st.rtp++;
      if (rand() < loss) {
        st.dropped++;
        const pt = buf[1] & 0x7f;
        st.droppedByPt[pt] = (st.droppedByPt[pt] || 0) + 1;
        return;
      }
    } else st.other++;
    sock.send(buf, serverPort, '127.0.0.1');
  });
  await new Promise((resolve) => sock.bind(0, '127.0.0.1', resolve));
  return {
    port: sock.address().port, stats: st,
    close() { sock.close(); },
    // The answer's UDP candidate for the server's port, pointed at the relay; TCP ones removed.
    mangle(sdp) {
      return sdp.split('\r\n')
        .filter((l) => !(l.startsWith('a=candidate:') && / tcp /i.test(l)))
        .map((l) => (l.startsWith('a=candidate:') ? l.replace(` ${serverPort} typ`, ` ${sock.address().port} typ`) : l))
        .join('\r\n');
    },
  };
}

// Follows a media playlist and downloads each complete segment once (its EXTINF URI), with
// the init segment; call poll() repeatedly, then bytes() for init + segments in order.
export function segmentCollector(mediaUrl) {
  const seen = new Map();
  let init = null;
  return {
    async poll() {
      const r = await fetchText(mediaUrl, { timeout: 5000 });
      if (r.status !== 200) return 0;
      const lines = r.text.split('\n');
      let msn = Number((r.text.match(/#EXT-X-MEDIA-SEQUENCE:(\d+)/) || [])[1] || 0);
      const map = r.text.match(/#EXT-X-MAP:URI="([^"]+)"/);
      if (map && !init) init = (await fetchBytes(new URL(map[1], mediaUrl).href)).body;
      for (let i = 0; i < lines.length; i++) {
        const l = lines[i];
        if (l.startsWith('#EXTINF:')) {
          let j = i + 1;
          while (j < lines.length && lines[j].startsWith('#')) j++;
          const uri = lines[j];
          if (uri && !seen.has(msn)) {
            const b = await fetchBytes(new URL(uri, mediaUrl).href);
            if (b.status === 200) seen.set(msn, b.body);
          }
          msn++;
          i = j;
        }
      }
      return seen.size;
    },
    count: () => seen.size,
    bytes() {
      const keys = [...seen.keys()].sort((a, b) => a - b);
      return Buffer.concat([init, ...keys.map((k) => seen.get(k))]);
    },
    gaps() {
      const keys = [...seen.keys()].sort((a, b) => a - b);
      return keys.length ? keys[keys.length - 1] - keys[0] + 1 - keys.length : 0;
    },
  };
}
