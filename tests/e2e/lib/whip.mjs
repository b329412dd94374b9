// A scripted WHIP publisher built on npm werift (a WebRTC stack we did not write): H.264 (or
// VP8) + Opus from ffmpeg's RTP muxer, fed into werift's tracks, offered to kibitka's /whip.
// What browsers cannot be made to do (trickle, ICE restart, DELETE mid-stream, a wrong
// fingerprint, ICE-TCP only) is done through the options and the returned handle.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import {
  RTCPeerConnection, MediaStreamTrack, RTCRtpCodecParameters,
} from 'werift';

const H264 = new RTCRtpCodecParameters({
  mimeType: 'video/H264', clockRate: 90000, payloadType: 102,
  rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'goog-remb' }],
  parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
});
const VP8 = new RTCRtpCodecParameters({
  mimeType: 'video/VP8', clockRate: 90000, payloadType: 96,
  rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'goog-remb' }],
});
const OPUS = new RTCRtpCodecParameters({
  mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: 111,
});

function udpSink(onPacket) {
  const sock = dgram.createSocket('udp4');
  sock.on('message', onPacket);
  return new Promise((resolve) => sock.bind(0, '127.0.0.1', () => resolve(sock)));
}

// Starts ffmpeg sending test video and a tone as RTP to two local ports (real time).
function ffmpegRtp(vport, aport, { codec = 'h264', size = '640x360', rate = 30, seconds = 60 }) {
  const v = codec === 'vp8'
    ? ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '800k', '-g', '60']
    : ['-c:v', 'libx264', '-profile:v', 'baseline', '-preset', 'veryfast', '-tune', 'zerolatency',
      '-pix_fmt', 'yuv420p', '-g', '60', '-b:v', '1000k', '-bsf:v', 'dump_extra'];
  const args = ['-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${rate}`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(seconds),
    '-map', '0:v', ...v, '-payload_type', codec === 'vp8' ? '96' : '102', '-ssrc', '1111',
    '-f', 'rtp', `rtp://127.0.0.1:${vport}?pkt_size=1200`,
    '-t', String(seconds), '-map', '1:a', '-c:a', 'libopus', '-ac', '2', '-b:a', '64k', '-payload_type', '111',
    '-ssrc', '2222', '-f', 'rtp', `rtp://127.0.0.1:${aport}?pkt_size=1200`];
  const proc = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  return { proc, err: () => err };
}

async function waitGathered(pc) {
  if (pc.iceGatheringState === 'complete') return;
  await new Promise((resolve) => {
    pc.iceGatheringStateChange.subscribe((s) => { if (s === 'complete') resolve(); });
    setTimeout(resolve, 3000);
  });
}

// Publishes to `${base}/whip` with `key`. Options: codec 'h264'|'vp8', seconds, stream (POST
// /whip/<stream>), mangle(sdp) (edits the offer before it is sent), mangleAnswer(sdp) (edits
// the answer before werift takes it: point its candidates at a relay, say), pc (more
// RTCPeerConnection options). Returns the handle:
// { status, answer, location, etag, pc, stop(), del() }.
export async function whipPublish(base, key, opts = {}) {
  const codec = opts.codec || 'h264';
  const pc = new RTCPeerConnection({
    codecs: { video: [codec === 'vp8' ? VP8 : H264], audio: [OPUS] },
    iceUseIpv6: false,
    iceServers: [], // werift's default is a public STUN server: nothing leaves this host
    ...(opts.pc || {}),
  });
  const video = new MediaStreamTrack({ kind: 'video' });
  const audio = new MediaStreamTrack({ kind: 'audio' });
  pc.addTransceiver(video, { direction: 'sendonly' });
  pc.addTransceiver(audio, { direction: 'sendonly' });
  await pc.setLocalDescription(await pc.createOffer());
  await waitGathered(pc);
  let offer = pc.localDescription.sdp;
  if (opts.mangle) offer = opts.mangle(offer);
  const r = await fetch(`${base}/whip${opts.stream ? '/' + opts.stream : ''}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${key}` },
    body: offer,
    signal: AbortSignal.timeout(15000),
  });
  const answer = await r.text();
  const handle = {
    status: r.status, answer, pc, offer,
    location: r.headers.get('location'), etag: r.headers.get('etag'),
    link: r.headers.get('link'),
    ff: null, socks: [],
    async stop() { // idempotent
      if (this.ff && this.ff.proc.exitCode === null) this.ff.proc.kill('SIGKILL');
      for (const s of this.socks.splice(0)) s.close();
      await pc.close();
    },
    async del() {
      return fetch(new URL(this.location, base), { method: 'DELETE', signal: AbortSignal.timeout(10000) });
    },
    // PATCH the session with an sdpfrag body; ifMatch undefined: this.etag, null: no If-Match.
    async patch(frag, ifMatch) {
      const headers = { 'Content-Type': 'application/trickle-ice-sdpfrag' };
      const tag = ifMatch === undefined ? this.etag : ifMatch;
      if (tag !== null) headers['If-Match'] = tag;
      const res = await fetch(new URL(this.location, base), {
        method: 'PATCH', headers, body: frag, signal: AbortSignal.timeout(10000),
      });
      return { status: res.status, headers: res.headers, text: await res.text() };
    },
    // An ICE restart as RFC 9725 §4.3.2 has it: werift makes a new offer with new credentials
    // (createOffer({ iceRestart })), they go to the server in a PATCH, and the server's new
    // credentials (the 200's sdpfrag) are put into the answer werift is given again.
    async restartIce() {
      const o = await pc.createOffer({ iceRestart: true });
      await pc.setLocalDescription(o);
      await waitGathered(pc);
      const sdp = pc.localDescription.sdp;
      const ufrag = sdp.match(/a=ice-ufrag:(\S+)/)[1];
      const pwd = sdp.match(/a=ice-pwd:(\S+)/)[1];
      const mid = sdp.match(/a=mid:(\S+)/)[1];
      const r = await this.patch(`a=ice-options:trickle ice2\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n`
        + `a=mid:${mid}\r\na=ice-ufrag:${ufrag}\r\na=ice-pwd:${pwd}\r\n`);
      r.offerUfrag = ufrag;
      if (r.status !== 200) return r;
      const nu = r.text.match(/a=ice-ufrag:(\S+)/)[1];
      const np = r.text.match(/a=ice-pwd:(\S+)/)[1];
      this.etag = r.headers.get('etag');
      this.answer = this.answer.replace(/a=ice-ufrag:\S+/g, `a=ice-ufrag:${nu}`)
        .replace(/a=ice-pwd:\S+/g, `a=ice-pwd:${np}`);
      await pc.setRemoteDescription({ type: 'answer', sdp: this.answer });
      // werift 0.25 skips ICE when its DTLS transport is connected already (connect() returns
      // early), so after a restart it would never check the new credentials: start its ICE
      // transport here, as a browser's agent would on its own.
      for (const t of pc.iceTransports) {
        if (t.state !== 'connected') await t.start();
      }
      return r;
    },
  };
  if (r.status !== 201) return handle;
  await pc.setRemoteDescription({ type: 'answer', sdp: opts.mangleAnswer ? opts.mangleAnswer(answer) : answer });
  const vs = await udpSink((buf) => { try { video.writeRtp(buf); } catch { /* closed */ } });
  const as = await udpSink((buf) => { try { audio.writeRtp(buf); } catch { /* closed */ } });
  handle.socks = [vs, as];
  handle.ff = ffmpegRtp(vs.address().port, as.address().port,
    { codec, seconds: opts.seconds || 60 });
  return handle;
}

// A werift offer (H.264 + Opus, sendonly) for requests that never connect: the error cases.
export async function whipOffer() {
  const pc = new RTCPeerConnection({ codecs: { video: [H264], audio: [OPUS] }, iceUseIpv6: false, iceServers: [] });
  pc.addTransceiver(new MediaStreamTrack({ kind: 'video' }), { direction: 'sendonly' });
  pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), { direction: 'sendonly' });
  await pc.setLocalDescription(await pc.createOffer());
  await waitGathered(pc);
  const sdp = pc.localDescription.sdp;
  await pc.close();
  return sdp;
}

// whipPublish in a child node process, for a publisher that vanishes: kill() SIGKILLs it and
// its ffmpeg, so nothing more is sent (no DELETE, no DTLS close_notify, no consent checks).
// Resolves once the POST is answered: { status, location, kill() }.
export async function whipPublishChild(base, key, opts = {}) {
  const self = new URL(import.meta.url).href;
  const code = `import { whipPublish } from ${JSON.stringify(self)};
    const h = await whipPublish(${JSON.stringify(base)}, ${JSON.stringify(key)}, ${JSON.stringify(opts)});
    console.log(JSON.stringify({ status: h.status, location: h.location, ff: h.ff ? h.ff.proc.pid : 0 }));
    setInterval(() => {}, 1000);`;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', code],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: new URL('.', import.meta.url).pathname });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  const line = await new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => { out += d; if (out.includes('\n')) resolve(out.split('\n')[0]); });
    proc.on('exit', (c) => reject(new Error(`the publisher exited (${c}): ${err}`)));
    setTimeout(() => reject(new Error(`the publisher did not answer: ${err}`)), 30000).unref();
  });
  const info = JSON.parse(line);
  return {
    ...info,
    kill() {
      if (info.ff) try { process.kill(info.ff, 'SIGKILL'); } catch { /* gone */ }
      if (proc.exitCode === null) proc.kill('SIGKILL');
    },
  };
}
