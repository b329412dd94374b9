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
    '-map', '1:a', '-c:a', 'libopus', '-ac', '2', '-b:a', '64k', '-payload_type', '111',
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
    async stop() {
      if (this.ff && this.ff.proc.exitCode === null) this.ff.proc.kill('SIGKILL');
      for (const s of this.socks) s.close();
      await pc.close();
    },
    async del() {
      return fetch(new URL(this.location, base), { method: 'DELETE', signal: AbortSignal.timeout(10000) });
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
