// Not a test: makes Shaka Player switch renditions of a live default-ladder stream through its
// ABR path (as its own bandwidth estimate would: `adaptation` set, so in sequence mode it aborts
// and sets timestampOffset) every SWITCH_MS, and logs what is needed to see why it waited:
// every request (with the playlists' bodies if BODIES=1), every SourceBuffer call (the tfdt and
// duration of each track in each append, the buffered ranges after it, abort, timestampOffset)
// and, with Shaka's debug build (SHAKA_DEBUG=1), its own log plus two hooks: LIVEDUR when the
// HLS parser sets a live availability window under 8 s (with each loaded rendition's first and
// last time) and EVICT when a segment index drops three references or more at once.
// It found the Shaka race that lib/player.mjs' SHAKA_LADDER avoids (docs/ARCHITECTURE.md).
//
//   node shaka_switch.mjs          env: PLAYER (shaka-ll | shaka), N (s of play, 40), SWITCH_MS
//                                  (2300), A and B (the two heights, 480 and 720), ON_DOWNLOAD=1
//                                  (make each switch when a download ends, as Shaka's ABR does),
//                                  NATURAL=1 (no forced switch: Shaka's ABR decides), CLIP (the
//                                  looping clip's length, s, 6), SHAKA_CFG (JSON merged over the
//                                  player's settings), OUT (the log, /tmp/shaka_switch.log)
//
// Prints one line: waits, gaps jumped, stalls, switches. Runs the release build (build/kibitka).
import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, testClip, publish, fetchText, waitFor, repo, DEFAULT_LADDER } from './lib/server.mjs';
import { openPlayerPage, startPlayback } from './lib/player.mjs';

const out = process.env.OUT || '/tmp/shaka_switch.log';
writeFileSync(out, '');
const log = (s) => appendFileSync(out, `${Date.now()} ${s}\n`);
const player = process.env.PLAYER || 'shaka-ll';
const N = Number(process.env.N || 40);
const SWITCH_MS = Number(process.env.SWITCH_MS || 2300);
const A = Number(process.env.A || 480), B = Number(process.env.B || 720);
const short = (u) => u.replace(/^.*\/hls\/play\//, '');

const srv = await startServer(['--open-publish', '--no-record', '--ladder', DEFAULT_LADDER], {},
  { bin: path.join(repo, 'build', 'kibitka') });
const pub = publish(srv.rtmpUrl('play'), testClip({ seconds: Number(process.env.CLIP || 6) }), { loop: true });
const src = `${srv.base}/hls/play/index.m3u8`;
await waitFor(async () => (await fetchText(src)).status === 200, { timeout: 20000, what: 'playlist' });
const page = await openPlayerPage();
const tab = page.tab;
tab.on('console', (m) => log(`C ${m.text()}`));
const t0 = new Map();
tab.on('request', (r) => t0.set(r, Date.now()));
tab.on('requestfinished', async (r) => {
  log(`REQ ${Date.now() - t0.get(r)}ms ${short(r.url())}`);
  if (process.env.BODIES && r.url().includes('.m3u8'))
    log(`BODY ${short(r.url())}\n${await (await r.response()).text().catch(() => '?')}`);
});
tab.on('requestfailed', (r) => log(`REQFAIL ${Date.now() - t0.get(r)}ms ${r.failure()?.errorText} ${short(r.url())}`));

// SourceBuffer calls, with the boxes of each append read far enough for tfdt and durations.
await tab.evaluate(() => {
  const u32 = (b, o) => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  const boxes = (b, s, e, f) => {
    for (let o = s; o + 8 <= e;) {
      const n = u32(b, o);
      if (n < 8) break;
      f(String.fromCharCode(b[o + 4], b[o + 5], b[o + 6], b[o + 7]), o + 8, o + n);
      o += n;
    }
  };
  const tracks = {}; // track ID -> { scale, kind }
  const describe = (d) => {
    const b = new Uint8Array(d.buffer ? d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength) : d);
    const res = [];
    boxes(b, 0, b.length, (t, s, e) => {
      if (t === 'moov') boxes(b, s, e, (t2, s2, e2) => {
        if (t2 !== 'trak') return;
        let id = 0, scale = 0, kind = '';
        boxes(b, s2, e2, (t3, s3, e3) => {
          if (t3 === 'tkhd') id = u32(b, s3 + (b[s3] === 1 ? 20 : 12));
          if (t3 === 'mdia') boxes(b, s3, e3, (t4, s4) => {
            if (t4 === 'mdhd') scale = u32(b, s4 + (b[s4] === 1 ? 20 : 12));
            if (t4 === 'hdlr') kind = String.fromCharCode(b[s4 + 8], b[s4 + 9], b[s4 + 10], b[s4 + 11]);
          });
        });
        tracks[id] = { scale, kind: kind === 'vide' ? 'v' : 'a' };
        res.push(`init ${id}=${kind}/${scale}`);
      });
      if (t === 'moof') boxes(b, s, e, (t2, s2, e2) => {
        if (t2 !== 'traf') return;
        let id = 0, dflt = 0, tfdt = 0, dur = 0, n = 0;
        boxes(b, s2, e2, (t3, s3) => {
          if (t3 === 'tfhd') {
            id = u32(b, s3 + 4);
            const fl = u32(b, s3) & 0xffffff;
            let o = s3 + 8;
            if (fl & 1) o += 8;
            if (fl & 2) o += 4;
            if (fl & 8) dflt = u32(b, o);
          }
          if (t3 === 'tfdt') tfdt = b[s3] === 1 ? u32(b, s3 + 4) * 4294967296 + u32(b, s3 + 8) : u32(b, s3 + 4);
          if (t3 === 'trun') {
            const fl = u32(b, s3) & 0xffffff;
            n = u32(b, s3 + 4);
            let o = s3 + 8;
            if (fl & 1) o += 4;
            if (fl & 4) o += 4;
            const per = [0x100, 0x200, 0x400, 0x800].filter((f) => fl & f).length * 4;
            for (let i = 0; i < n; i++) dur += (fl & 0x100) ? u32(b, o + i * per) : dflt;
          }
        });
        const k = tracks[id] || { scale: 1, kind: '?' };
        res.push(`${k.kind}:${(tfdt / k.scale).toFixed(4)}+${(dur / k.scale).toFixed(4)}(${n})`);
      });
    });
    return res.join(' ');
  };
  const ranges = (r) => Array.from({ length: r.length }, (_, i) => `${r.start(i).toFixed(4)}-${r.end(i).toFixed(4)}`).join(',');
  const P = SourceBuffer.prototype;
  const append = P.appendBuffer, abort = P.abort;
  const offset = Object.getOwnPropertyDescriptor(P, 'timestampOffset');
  P.appendBuffer = function (d) {
    if (!this.logged) {
      this.logged = true;
      this.addEventListener('updateend', () => console.log(`SBEND off=${this.timestampOffset.toFixed(4)} buf=${ranges(this.buffered)}`));
    }
    console.log(`SBAPP off=${this.timestampOffset.toFixed(4)} mode=${this.mode} len=${d.byteLength} ${describe(d)}`);
    return append.call(this, d);
  };
  P.abort = function () { console.log('SBABORT'); return abort.call(this); };
  Object.defineProperty(P, 'timestampOffset', {
    get() { return offset.get.call(this); },
    set(v) { console.log(`SBTSO ${v}`); offset.set.call(this, v); },
  });
});

// An ABR manager that switches when told (window.forceSwitch) and never by itself; Shaka's
// debug build keeps its internal names, so two of them are hooked.
await tab.evaluate(() => {
  class Forced extends shaka.abr.SimpleAbrManager {
    init(cb) {
      super.init(cb);
      // As Shaka's own ABR does, the switch is made when a download ends (ON_DOWNLOAD=1), or
      // at once.
      window.forceSwitch = (h) => {
        const v = this.variants.find((x) => x.video && x.video.height === h);
        if (v && window.onDownload) this.pending = () => cb(v, false, 0);
        else if (v) cb(v, false, 0);
        return !!v;
      };
    }
    setVariants(vs) { this.variants = vs; return super.setVariants(vs); }
    segmentDownloaded(...a) {
      if (window.naturalAbr) super.segmentDownloaded(...a);
      const p = this.pending;
      this.pending = null;
      if (p) p();
    }
  }
  const configure = shaka.Player.prototype.configure;
  shaka.Player.prototype.configure = function (c, v) {
    configure.call(this, c, v);
    if (typeof c === 'object') configure.call(this, 'abrFactory', () => new Forced());
    return true;
  };
  const H = shaka.hls && shaka.hls.HlsParser && shaka.hls.HlsParser.prototype;
  if (H && H.getLiveDuration_) {
    const live = H.getLiveDuration_;
    H.getLiveDuration_ = function () {
      const d = live.call(this);
      if (!(d >= 8)) {
        const loaded = [...this.uriToStreamInfosMap_.values()].filter((i) => i.stream.segmentIndex && i.stream.type !== 'text')
          .map((i) => `${i.stream.id}[${i.minTimestamp.toFixed(3)},${i.maxTimestamp.toFixed(3)}]`);
        console.log(`LIVEDUR ${d} loaded: ${loaded.join(' ') || 'none'}`);
      }
      return d;
    };
  }
  const S = shaka.media && shaka.media.SegmentIndex && shaka.media.SegmentIndex.prototype;
  if (S && S.evict) {
    const evict = S.evict;
    S.evict = function (time) {
      const n = (this.references || []).filter((r) => r.endTime <= time).length;
      if (n >= 3) console.log(`EVICT ${n}/${this.references.length} before ${time.toFixed(3)} (first ${this.references[0].startTime.toFixed(3)}, last end ${this.references[this.references.length - 1].endTime.toFixed(3)})`);
      return evict.call(this, time);
    };
  }
});
if (process.env.NATURAL) await tab.evaluate(() => { window.naturalAbr = true; });
if (process.env.ON_DOWNLOAD) await tab.evaluate(() => { window.onDownload = true; });
await startPlayback(tab, src, player, { config: JSON.parse(process.env.SHAKA_CFG || '{}') });
log('PLAYING');
let h = A;
const timer = process.env.NATURAL ? null : setInterval(async () => {
  const ok = await tab.evaluate((x) => window.forceSwitch(x), h).catch((e) => e.message);
  log(`SWITCH to ${h} ${ok}`);
  h = h === A ? B : A;
}, SWITCH_MS);
await new Promise((r) => setTimeout(r, N * 1000));
clearInterval(timer);
const st = await tab.evaluate(() => ({ ...window.stats, s: window.shakaPlayer.getStats() }));
log(`STATS waiting=${st.waiting} stalls=${st.stalls} gaps=${st.s.gapsJumped} errors=${st.errors.join('|')} switches=${st.switches.join(',')}`);
console.log(`waiting=${st.waiting} gaps=${st.s.gapsJumped} stalls=${st.s.stallsDetected} switches=${st.switches.length}`);
await page.close();
await pub.stop();
await srv.stop();
process.exit(0);
