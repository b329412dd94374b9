// A real browser publishes over WHIP: headless Chromium with its fake camera and microphone,
// RTCPeerConnection and fetch() in a page (cross-origin, so /whip's CORS answers are used too),
// once H.264 + Opus (setCodecPreferences puts H.264 first) and once VP8 + Opus (no H.264 in
// the offer: kibitka prefers H.264 when offered). The stream must appear at /hls/<name>/, play
// in hls.js in a second tab with its currentTime advancing and no fatal error, every rendition
// must decode with ffprobe at its advertised size, and the audio must be AAC.
//
// Chromium neither gathers nor uses loopback candidates: the server's --rtc is bound to an
// address on an interface this file makes and removes (lib/netif.mjs). Without root or `ip`
// every test here is skipped, saying why.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, freePort, fetchText, waitFor, metric } from './lib/server.mjs';
import { openPlayerPage, startPlayback, playerStats } from './lib/player.mjs';
import { getPlaylist, probe } from './lib/hls.mjs';
import { makeNetif } from './lib/netif.mjs';

const LADDER = 'source,240p:300k';
const netif = makeNetif();
const skip = netif.skip || false;

// Runs in the publishing tab: camera + microphone, one sendonly transceiver each, the codec
// put first (and H.264 left out for VP8), the offer POSTed to the WHIP URL, the answer applied.
// Resolves once the peer connection is connected; the page keeps it in window.pub.
async function publishInPage({ url, key, codec }) {
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { width: 640, height: 360, frameRate: 30 }, audio: true });
  const pc = new RTCPeerConnection();
  window.pub = { pc, stream, states: [] };
  pc.addEventListener('connectionstatechange', () => window.pub.states.push(pc.connectionState));
  const vt = pc.addTransceiver(stream.getVideoTracks()[0], { direction: 'sendonly', streams: [stream] });
  pc.addTransceiver(stream.getAudioTracks()[0], { direction: 'sendonly', streams: [stream] });
  const all = RTCRtpSender.getCapabilities('video').codecs;
  const mime = codec === 'h264' ? 'video/H264' : 'video/VP8';
  const first = all.filter((c) => c.mimeType === mime);
  if (!first.length) throw new Error(`Chromium offers no ${mime}: ${all.map((c) => c.mimeType)}`);
  const rest = all.filter((c) => c.mimeType !== mime && (codec === 'h264' || c.mimeType !== 'video/H264'));
  vt.setCodecPreferences([...first, ...rest]);
  // A loaded CI box must not make the encoder shrink the picture mid-test: the sizes checked
  // below are the camera's.
  const params = vt.sender.getParameters();
  params.degradationPreference = 'maintain-resolution';
  await vt.sender.setParameters(params);
  await pc.setLocalDescription();
  // Not needed by kibitka (ICE-lite learns our address from our checks), but a browser page
  // usually waits: the offer then carries our host candidates.
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
    setTimeout(resolve, 2000);
  });
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${key}` },
    body: pc.localDescription.sdp,
  });
  const answer = await r.text();
  if (r.status !== 201) return { status: r.status, answer };
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  await new Promise((resolve, reject) => {
    const check = () => {
      if (pc.connectionState === 'connected') resolve();
      if (pc.connectionState === 'failed') reject(new Error(`connection failed: ${window.pub.states}`));
    };
    pc.addEventListener('connectionstatechange', check);
    check();
  });
  const codecs = (await pc.getStats()).values();
  const used = [...codecs].filter((s) => s.type === 'codec').map((s) => s.mimeType);
  return { status: r.status, location: r.headers.get('location'), answer, offer: pc.localDescription.sdp, used };
}

function initOf(text, url) {
  return new URL(text.match(/#EXT-X-MAP:URI="([^"]+)"/)[1], url).href;
}

// Init + the first complete segment of a rendition's media playlist, decoded by ffprobe.
async function probeRendition(url) {
  const list = await waitFor(async () => {
    const p = await getPlaylist(url);
    return p.parsed.segments.some((s) => s.uri) ? p : null;
  }, { timeout: 30000, what: `a complete segment in ${url}` });
  const seg = list.parsed.segments.find((s) => s.uri);
  return probe(initOf(list.text, url), [new URL(seg.uri, url).href]);
}

describe('WHIP from Chromium', { skip }, () => {
  let srv, page;
  before(async () => {
    const port = await freePort();
    srv = await startServer(['--open-publish', '--no-record', '--rtc', `${netif.addr}:${port}`,
      '--ladder', LADDER]);
    page = await openPlayerPage({ args: ['--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream'] });
  });
  after(async () => {
    if (page) await page.close();
    if (srv) {
      const { code, signal } = await srv.stop();
      if (code !== 0 || process.env.WHIP_LOG) console.log(srv.log());
      assert.equal(code, 0, `kibitka exit ${code} ${signal}`);
    }
    netif.remove();
  });

  // A VP8 source has no passthrough rendition: the ladder encodes every rung (a rung at the
  // source's size replaces it), so hls.js plays H.264 either way.
  for (const codec of (process.env.WHIP_CODECS || 'h264,vp8').split(',')) {
    test(`${codec === 'h264' ? 'H.264' : 'VP8'} + Opus: plays in hls.js, every rendition decodes, audio is AAC`, async () => {
      const name = `cam-${codec}`;
      const pubTab = await page.newTab();
      pubTab.on('console', (m) => { if (process.env.WHIP_LOG) console.log(`# page: ${m.text()}`); });
      const res = await pubTab.evaluate(publishInPage, { url: `${srv.base}/whip`, key: name, codec });
      assert.equal(res.status, 201, res.answer);
      console.log(`# ${codec}: Chromium sends ${res.used.join(', ')}`);
      assert.ok(res.used.includes(codec === 'h264' ? 'video/H264' : 'video/VP8'), res.used.join());
      const src = `${srv.base}/hls/${name}/index.m3u8`;
      const mv = await waitFor(async () => {
        const refused = srv.log().match(/.*is not packaged.*/);
        if (refused) return { refused: refused[0] };
        const p = await getPlaylist(src);
        return p.parsed.variants.length >= 2 ? p : null;
      }, { timeout: 30000, what: `${src} with two variants` });
      assert.ok(!mv.refused, mv.refused);

      const playTab = await page.newTab();
      await startPlayback(playTab, src, 'hls.js', { timeout: 30000 });
      const t0 = (await playerStats(playTab)).time;
      await playTab.waitForFunction((t) => window.video.currentTime > t + 3, t0, { timeout: 30000 });
      const stats = await playerStats(playTab);
      assert.deepEqual(stats.errors.filter((e) => e.includes('fatal')), [], JSON.stringify(stats.errors));
      console.log(`# ${codec}: hls.js played ${t0.toFixed(2)} -> ${stats.time.toFixed(2)} s, errors ${JSON.stringify(stats.errors)}`);

      for (const v of mv.parsed.variants) {
        const url = new URL(v.uri, src).href;
        const streams = await probeRendition(url);
        const video = streams.find((s) => s.codec_type === 'video');
        assert.ok(video, `${v.uri}: ${JSON.stringify(streams)}`);
        assert.equal(`${video.width}x${video.height}`, `${v.resolution.width}x${v.resolution.height}`,
          `${v.uri} decodes at its advertised size`);
        assert.ok(Number(video.nb_read_frames) > 0, `${v.uri}: ${video.nb_read_frames} frames`);
        // The browser's Opus, as AAC, muxed into every rendition.
        const a = streams.find((x) => x.codec_type === 'audio');
        assert.equal(a?.codec_name, 'aac', `${v.uri}: ${JSON.stringify(streams)}`);
        assert.ok(Number(a.nb_read_frames) > 0, `${v.uri}: ${a.nb_read_frames} AAC frames`);
        console.log(`# ${codec}: ${v.uri} ${video.codec_name} ${video.width}x${video.height} ${video.nb_read_frames} frames, ${a.nb_read_frames} AAC frames`);
      }
      assert.doesNotMatch(mv.text, /TYPE=AUDIO/);

      const path = srv.log().match(new RegExp(`rtc stream=${name} WebRTC connected over (\\S+ \\S+)`));
      console.log(`# ${codec}: connected over ${path?.[1]}; PLIs the server sent so far ${await metric(srv, 'kibitka_rtcp_plis_sent_total')}`);
      // Closing the peer connection closes DTLS (close_notify): the publish ends at once.
      await playTab.close();
      await pubTab.evaluate(() => { window.pub.pc.close(); window.pub.stream.getTracks().forEach((tr) => tr.stop()); });
      await pubTab.close();
      const media = new URL(mv.parsed.variants[0].uri, src).href;
      await waitFor(async () => (await fetchText(media)).text.includes('#EXT-X-ENDLIST'),
        { timeout: 15000, what: `ENDLIST in ${media} after the browser closed its peer connection` });
      assert.match(srv.log(), new RegExp(`whip stream=${name} publish from \\S+ ended: the peer closed DTLS`));
    });
  }
});
