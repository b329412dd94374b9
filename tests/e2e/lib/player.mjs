// Real players in headless Chromium (hls.js, Shaka Player, video.js with VHS), each on a page
// served from its own origin (so every /hls request is cross-origin, as on a real site). The
// players' dist files come from node_modules (pinned in package.json).
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { freePort } from './server.mjs';

const require = createRequire(import.meta.url);
const scripts = {
  'hls.js': 'hls.js/dist/hls.min.js',
  shaka: process.env.SHAKA_DEBUG ? 'shaka-player/dist/shaka-player.compiled.debug.js' : 'shaka-player/dist/shaka-player.compiled.js',
  'video.js': 'video.js/dist/video.min.js',
};
const cache = new Map();
function script(name) {
  if (!cache.has(name)) {
    let text = readFileSync(require.resolve(scripts[name]), 'utf8');
    if (name === 'shaka') text = withFix10589(text);
    cache.set(name, text);
  }
  return cache.get(name);
}

// Shaka 5.2.12 adds 1 ms to a negative timestampOffset before it sets it (a workaround for
// legacy Edge), then compares the offset it reads back with the next segment's: 1 ms apart, so
// it calls abort() before every append, and Chromium drops each part that does not start on a
// keyframe (shaka-player #10589; fixed upstream by PR #10559, commit aba5ba5, in no release yet:
// npm's newest is 5.2.12). A viewer's timestampOffset is negative when the viewer joins after
// the stream's first seconds (Shaka's timeline starts at 0 at the join, the media's tfdt does
// not), or by a float error after a switch. On a page where window.shakaFix10589 is set, the
// copy served here leaves the offset as asked, which in Chromium is what upstream's fix does
// (it keeps the 1 ms only for legacy Edge, and compares with the offset it asked for); without
// the flag Shaka runs as released.
function withFix10589(text) {
  const re = /\b([a-z])<0&&\(\1\+=\.001\)/g;
  const n = (text.match(re) || []).length;
  if (n !== 1) throw new Error(`shaka-player: expected its one negative-timestampOffset nudge, found ${n}: a new release? (lib/player.mjs withFix10589)`);
  return text.replace(re, '$1<0&&!window.shakaFix10589&&($1+=.001)');
}

// The players the tests name: which library, and its configuration (none = its defaults).
export const PLAYERS = {
  'hls.js': { lib: 'hls.js', config: { lowLatencyMode: true, ...(process.env.HLS_DEBUG ? { debug: true } : {}) } },
  // Shaka 5's defaults include lowLatencyMode: true (in segments mode), so the abort() defect
  // below hits a page with Shaka's defaults too, for a viewer who joins more than about 90 s into
  // a stream (shaka-player #10589, unreleased fix); players.test.mjs joins in the first seconds.
  shaka: { lib: 'shaka', config: {} },
  // Shaka 5.2 in lowLatencyMode appends HLS in segments mode and, for a viewer whose timeline
  // starts after the stream's first segment (a negative timestampOffset, which it nudges by
  // 1 ms), calls abort() before every part, so Chromium drops all but each segment's first part
  // (docs/ARCHITECTURE.md, measured figures). Sequence mode is what a low-latency Shaka page
  // must configure, for any LL-HLS server whose tfdt does not start at the viewer's join.
  //
  // On a ladder it also needs the two settings of SHAKA_LADDER below (docs/ARCHITECTURE.md);
  // players.test.mjs adds them where shaka-ll plays the default ladder.
  'shaka-ll': { lib: 'shaka', config: { streaming: { lowLatencyMode: true }, manifest: { hls: { sequenceMode: true } } } },
  // Shaka at its defaults with upstream's fix for #10589 (withFix10589 above): what the next
  // Shaka release does, played where the released one cannot be (a late join, a ladder).
  'shaka+10589': { lib: 'shaka', config: {}, fix10589: true },
  'video.js': { lib: 'video.js', config: process.env.VJS_DEBUG ? { debugLog: true } : {} },
};

// What a Shaka 5.2 page in low-latency sequence mode needs to play an LL-HLS ladder (any
// server's) through its rendition switches, for two defects of its own:
// - manifest.availabilityWindowOverride: an ABR switch closes the old rendition's segment index
//   and then loads the new rendition's playlist; a playlist update that completes in between
//   (in LL-HLS a blocking reload is pending nearly all the time, and it is answered when a part
//   appears, the moment Shaka's ABR decides) finds no rendition loaded, and the HLS parser sets
//   the live availability window to 0 (getLiveDuration_: NaN, taken as 0). Its next update of
//   the new rendition then evicts every reference before the live edge: the streaming engine's
//   iterator points at an evicted position and fetches nothing more until the next switch (a
//   stall), or its lookup lands past parts it had not fetched (a hole). A fixed window (s; 20
//   is within the 24 s a kibitka playlist lists) keeps it from collapsing.
// - abr.droppedFrames false: when Chromium drops 15% of the frames (a loaded machine) Shaka bans
//   the rendition and switches without its ABR's `adaptation` flag, and in sequence mode such a
//   switch does not reset timestampOffset: the new rendition's parts, from the first part of
//   the segment (the last independent one), are appended after the buffer's end, so up to a
//   segment of media plays twice and, where the audio and video ends differ, a hole is left
//   (the same for a track picked with selectVariantTrack).
// shaka_switch.mjs shows both; upstream has no fix in 5.2.12.
export const SHAKA_WINDOW = { manifest: { availabilityWindowOverride: 20 } };
export const SHAKA_LADDER = { ...SHAKA_WINDOW, abr: { droppedFrames: false } };

// Runs in the page: starts one player on src and counts what the tests assert on in
// window.stats: playing, waiting events after playback started, the player's own stalls and
// errors, level switches. window.latency() gives the player's own measure of its distance
// from the live edge (s), window.wallLatency() now minus the wall clock (PROGRAM-DATE-TIME)
// of the frame on screen, where the player exposes it.
function harness() {
  // video.js moves the element into a wrapper that takes its id: keep the element itself.
  const v = document.querySelector('video');
  window.video = v;
  window.stats = { stalls: 0, errors: [], playing: false, waiting: 0, waitingAt: [], switches: [],
    log: [] };
  v.addEventListener('playing', () => { window.stats.playing = true; });
  // What a `waiting` event reports besides the buffer: the last 3 s of the buffer ahead of the
  // playhead (sampled every 250 ms) and the requests that ended in them (start relative to the
  // event, and duration, ms), so that a CI log says whether the player fetched late or the
  // server answered late. With window.logBuffer set (players.test.mjs under PLAYER_LOG) each
  // sample is also logged, with the rendition playing and, for video.js, each SourceBuffer.
  const trace = [];
  setInterval(() => {
    if (!window.stats.playing) return;
    const b = v.buffered;
    const ahead = b.length ? b.end(b.length - 1) - v.currentTime : 0;
    trace.push(`${v.currentTime.toFixed(2)}+${ahead.toFixed(2)}`);
    if (trace.length > 12) trace.shift();
    if (!window.logBuffer) return;
    const level = window.shakaPlayer ? window.shakaPlayer.getStats().height
      : window.hls ? window.hls.currentLevel : '';
    const fmt = (r) => (r && r.length ? `${r.start(0).toFixed(3)}-${r.end(r.length - 1).toFixed(3)}` : '-');
    const su = window.vjs ? window.vjs.tech(true).vhs.playlistController_.sourceUpdater_ : null;
    const sb = su ? ` a=${fmt(su.audioBuffer && su.audioBuffer.buffered)} v=${fmt(su.videoBuffer && su.videoBuffer.buffered)}` : '';
    console.log(`BUF ct=${v.currentTime.toFixed(3)} ahead=${ahead.toFixed(3)} ranges=${b.length} level=${level} rate=${v.playbackRate}${sb}`);
  }, 250);
  performance.setResourceTimingBufferSize(5000);
  performance.addEventListener('resourcetimingbufferfull', () => performance.clearResourceTimings());
  const recentRequests = () => {
    const now = performance.now();
    return performance.getEntriesByType('resource').filter((e) => e.responseEnd > now - 3000)
      .map((e) => `${e.name.replace(/^.*\/hls\/[^/]+\//, '')}@${(e.startTime - now).toFixed(0)}+${e.duration.toFixed(0)}`);
  };
  v.addEventListener('waiting', () => {
    if (!window.stats.playing) return;
    window.stats.waiting++;
    const b = v.buffered;
    const ranges = [];
    for (let i = 0; i < b.length; i++) ranges.push(`${b.start(i).toFixed(3)}-${b.end(i).toFixed(3)}`);
    let detail = '';
    if (window.shakaPlayer) { // per track: which one has the hole
      const info = window.shakaPlayer.getBufferedInfo();
      const fmt = (rs) => rs.map((r) => `${r.start.toFixed(3)}-${r.end.toFixed(3)}`).join(',');
      detail = ` (video ${fmt(info.video)}; audio ${fmt(info.audio)})`;
    }
    window.stats.waitingAt.push(`t=${v.currentTime.toFixed(3)} buffered ${ranges.join(',')}${detail}`
      + `; playhead+ahead over 3 s: ${trace.join(' ')}; requests: ${recentRequests().join(' ')}`);
    console.log(`WAITING ${window.stats.waitingAt[window.stats.waitingAt.length - 1]}`);
  });
  const err = (s) => { window.stats.errors.push(s); };

  window.startPlayer = async (lib, src, config) => {
    // hls.js has attached the element and Shaka has loaded when play() is called below; video.js
    // sets its source a timer later, and a play() on the element before that would be undone by
    // the new load (AbortError, the element left paused), so its own play() is used: it waits.
    let play = () => v.play();
    if (lib === 'hls.js') {
      const hls = new Hls(config);
      window.hls = hls;
      hls.on(Hls.Events.ERROR, (_, d) => {
        if (d.details === 'bufferStalledError') window.stats.stalls++;
        err(`${d.type}/${d.details}${d.fatal ? ' (fatal)' : ''}`);
      });
      hls.on(Hls.Events.LEVEL_SWITCHED, (_, d) => { window.stats.switches.push(d.level); });
      hls.loadSource(src);
      hls.attachMedia(v);
      window.latency = () => hls.latency;
      window.wallLatency = () => (hls.playingDate ? (Date.now() - hls.playingDate.getTime()) / 1000 : NaN);
    } else if (lib === 'shaka') {
      shaka.polyfill.installAll();
      // The debug build (SHAKA_DEBUG=1) logs every append, offset and append window.
      if (shaka.log && shaka.log.setLevel) shaka.log.setLevel(shaka.log.Level.V1);
      const player = new shaka.Player();
      window.shakaPlayer = player;
      await player.attach(v);
      player.configure(config);
      player.addEventListener('error', (e) => err(`shaka ${e.detail.code}${e.detail.severity === 2 ? ' (fatal)' : ''}`));
      player.addEventListener('adaptation', () => { window.stats.switches.push(player.getStats().height); });
      // Shaka's own gap jumper and stall detector move the playhead instead of waiting.
      for (const ev of ['stalldetected', 'gapjumped']) {
        player.addEventListener(ev, () => {
          if (!window.stats.playing) return;
          window.stats.stalls++;
          err(`shaka ${ev} at ${v.currentTime.toFixed(3)}`);
        });
      }
      window.latency = () => player.getStats().liveLatency;
      window.wallLatency = () => {
        const d = player.getPlayheadTimeAsDate();
        return d ? (Date.now() - d.getTime()) / 1000 : NaN;
      };
      await player.load(src).catch((e) => err(`shaka load ${e.code ?? `${e.name}: ${e.message} ${(e.stack || '').split('\n').slice(1, 14).join(' | ')}`}${e.data ? ` ${JSON.stringify(e.data).slice(0, 200)}` : ''} (fatal)`));
    } else {
      if (config.debugLog) videojs.log.level('debug'); // VHS's own log (VJS_DEBUG=1)
      const p = videojs(v, { html5: { vhs: config } });
      window.vjs = p;
      p.on('error', () => err(`video.js ${p.error()?.code} ${p.error()?.message} (fatal)`));
      p.src({ src, type: 'application/x-mpegURL' });
      play = () => p.play();
      window.latency = () => {
        const s = p.seekable();
        return s.length ? s.end(s.length - 1) - p.currentTime() : NaN;
      };
      window.wallLatency = () => NaN;
    }
    Promise.resolve(play()).catch(() => {});
  };
}

// Starts the page server and the browser; returns { tab, newTab(), close() } with the first
// tab loaded. Every tab loads every player library; startPlayback picks one. `args`: more
// Chromium flags (whip_browser.test.mjs adds a fake camera and microphone). The page's origin,
// http://127.0.0.1:<port>, is a secure context, so getUserMedia and RTCPeerConnection work in it.
export async function openPlayerPage({ args = [] } = {}) {
  const port = await freePort();
  const page = http.createServer((req, res) => {
    const lib = Object.keys(scripts).find((n) => req.url === `/${n}`);
    if (lib) {
      res.writeHead(200, { 'Content-Type': 'text/javascript' });
      return res.end(script(lib));
    }
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(`<!doctype html><video id=v muted playsinline></video>${Object.keys(scripts)
      .map((n) => `<script src="/${n}"></script>`).join('')}<script>(${harness})()</script>`);
  }).listen(port, '127.0.0.1');
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
      // Tabs play side by side: none of them may be throttled as a background tab.
      '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows', ...args],
  });
  const newTab = async () => {
    const tab = await browser.newPage();
    await tab.goto(`http://127.0.0.1:${port}/`);
    return tab;
  };
  const tab = await newTab();
  return {
    tab,
    newTab,
    origin: `http://127.0.0.1:${port}`,
    async close() {
      await browser.close();
      page.close();
    },
  };
}

// b over a, object by object (Shaka's settings nest: manifest.hls.sequenceMode beside
// manifest.availabilityWindowOverride).
function merge(a, b) {
  const isObj = (x) => x && typeof x === 'object' && !Array.isArray(x);
  const r = { ...a };
  for (const [k, v] of Object.entries(b)) r[k] = isObj(v) && isObj(a[k]) ? merge(a[k], v) : v;
  return r;
}

// Starts a player (a key of PLAYERS; hls.js in low-latency mode by default) on url in the tab
// and waits until it plays. `config`: more of the player's settings, merged over the PLAYERS
// entry's.
export async function startPlayback(tab, url, player = 'hls.js', { timeout = 20000, config: more = {} } = {}) {
  const { lib, config, fix10589 = false } = PLAYERS[player];
  await tab.evaluate(([l, src, c, fix]) => {
    window.shakaFix10589 = fix; // read by the served Shaka build (withFix10589)
    return window.startPlayer(l, src, c);
  }, [lib, url, merge(config, more), fix10589]);
  try {
    await tab.waitForFunction(() => window.stats.playing && window.video.currentTime > 0.5,
      null, { timeout });
  } catch (e) {
    // Say what the player was doing when it did not start: its errors, the element's state, what
    // it had buffered.
    const state = await tab.evaluate(() => {
      const v = window.video;
      const b = [];
      for (let i = 0; i < v.buffered.length; i++) b.push(`${v.buffered.start(i).toFixed(3)}-${v.buffered.end(i).toFixed(3)}`);
      return `playing ${window.stats.playing}, currentTime ${v.currentTime.toFixed(3)}, readyState ${v.readyState}, `
        + `paused ${v.paused}, buffered ${b.join(',') || 'nothing'}, errors: ${window.stats.errors.join(', ') || 'none'}`;
    }).catch((err) => `(page state unreadable: ${err.message})`);
    e.message = `${player} did not start playing within ${timeout} ms: ${state}\n${e.message}`;
    throw e;
  }
}

// What the tests assert on, read from the page.
export async function playerStats(tab) {
  return tab.evaluate(() => ({
    ...window.stats,
    time: window.video.currentTime,
    latency: window.latency(),
    wallLatency: window.wallLatency(),
    shaka: window.shakaPlayer ? (({ gapsJumped, stallsDetected }) => ({ gapsJumped, stallsDetected }))(window.shakaPlayer.getStats()) : null,
  }));
}
