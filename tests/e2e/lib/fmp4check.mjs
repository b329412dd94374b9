// Per-track continuity of a live LL-HLS rendition's fMP4 parts, read the way a player reads
// them: follow the media playlist with blocking reloads (_HLS_msn/_HLS_part), fetch every part
// in order, parse each moof (tfhd, tfdt, trun) and check, per track, that a part starts exactly
// where the previous one ended (tfdt == previous tfdt + sum of its sample durations, in the
// track's timescale) and that no sample has an odd duration.
//
// Why it matters: in MSE's coded frame processing a track whose decode timestamp goes backwards,
// or jumps by more than twice the last frame's duration, is a discontinuity: every track then
// needs a random access point, so all video up to the next keyframe is dropped (Shaka Player in
// low-latency mode, which appends HLS in sequence mode, kept only the first part of each segment
// when that happened). A gap of more than 2 frames in the audio alone does it too.
import { fetchText, fetchBytes } from './server.mjs';
import { listParts } from './hls.mjs';

// ---- boxes ----

function* boxes(buf, start = 0, end = buf.length) {
  let p = start;
  while (p + 8 <= end) {
    let size = buf.readUInt32BE(p);
    const type = buf.toString('latin1', p + 4, p + 8);
    let head = 8;
    if (size === 1) {
      size = Number(buf.readBigUInt64BE(p + 8));
      head = 16;
    } else if (size === 0) {
      size = end - p;
    }
    if (size < head || p + size > end) throw new Error(`box ${type} at ${p}: bad size ${size}`);
    yield { type, start: p, body: p + head, end: p + size };
    p += size;
  }
  if (p !== end) throw new Error(`${end - p} trailing bytes after the last box`);
}

function child(buf, box, type) {
  for (const b of boxes(buf, box.body, box.end)) if (b.type === type) return b;
  return undefined;
}

// Init section: track_ID -> { timescale, handler ('vide' | 'soun'), defaults from trex }.
export function parseInit(buf) {
  const tracks = new Map();
  const moov = [...boxes(buf)].find((b) => b.type === 'moov');
  if (!moov) throw new Error('init section without moov');
  for (const trak of boxes(buf, moov.body, moov.end)) {
    if (trak.type !== 'trak') continue;
    const tkhd = child(buf, trak, 'tkhd');
    const v = buf[tkhd.body];
    const id = buf.readUInt32BE(tkhd.body + (v === 1 ? 20 : 12));
    const mdia = child(buf, trak, 'mdia');
    const mdhd = child(buf, mdia, 'mdhd');
    const timescale = buf.readUInt32BE(mdhd.body + (buf[mdhd.body] === 1 ? 20 : 12));
    const hdlr = child(buf, mdia, 'hdlr');
    const handler = buf.toString('latin1', hdlr.body + 8, hdlr.body + 12);
    tracks.set(id, { id, timescale, handler, defaultDuration: 0, defaultSize: 0, defaultFlags: 0 });
  }
  const mvex = child(buf, moov, 'mvex');
  if (mvex) {
    for (const trex of boxes(buf, mvex.body, mvex.end)) {
      if (trex.type !== 'trex') continue;
      const t = tracks.get(buf.readUInt32BE(trex.body + 4));
      if (!t) continue;
      t.defaultDuration = buf.readUInt32BE(trex.body + 12);
      t.defaultSize = buf.readUInt32BE(trex.body + 16);
      t.defaultFlags = buf.readUInt32BE(trex.body + 20);
    }
  }
  return tracks;
}

// A part or segment: its fragments, each { sequence, trafs: [{ trackId, tfdt, samples }] },
// samples { duration, size, flags, cto }. Checks that the sample sizes add up to the mdat.
export function parseFragments(buf, init) {
  const frags = [];
  let pending = null;
  for (const b of boxes(buf)) {
    if (b.type === 'moof') {
      const mfhd = child(buf, b, 'mfhd');
      pending = { sequence: buf.readUInt32BE(mfhd.body + 4), trafs: [] };
      for (const traf of boxes(buf, b.body, b.end)) {
        if (traf.type !== 'traf') continue;
        const tfhd = child(buf, traf, 'tfhd');
        const tf = buf.readUInt32BE(tfhd.body) & 0xffffff;
        const trackId = buf.readUInt32BE(tfhd.body + 4);
        const t = init.get(trackId);
        if (!t) throw new Error(`traf for track ${trackId}, not in the init section`);
        let q = tfhd.body + 8;
        if (tf & 0x1) q += 8; // base_data_offset
        if (tf & 0x2) q += 4; // sample_description_index
        let dDur = t.defaultDuration, dSize = t.defaultSize, dFlags = t.defaultFlags;
        if (tf & 0x8) { dDur = buf.readUInt32BE(q); q += 4; }
        if (tf & 0x10) { dSize = buf.readUInt32BE(q); q += 4; }
        if (tf & 0x20) { dFlags = buf.readUInt32BE(q); q += 4; }
        const tfdtBox = child(buf, traf, 'tfdt');
        if (!tfdtBox) throw new Error(`track ${trackId}: traf without tfdt`);
        const tfdt = buf[tfdtBox.body] === 1 ? Number(buf.readBigUInt64BE(tfdtBox.body + 4))
          : buf.readUInt32BE(tfdtBox.body + 4);
        const samples = [];
        for (const trun of boxes(buf, traf.body, traf.end)) {
          if (trun.type !== 'trun') continue;
          const version = buf[trun.body];
          const f = buf.readUInt32BE(trun.body) & 0xffffff;
          const n = buf.readUInt32BE(trun.body + 4);
          let r = trun.body + 8;
          if (f & 0x1) r += 4; // data_offset
          let first = null;
          if (f & 0x4) { first = buf.readUInt32BE(r); r += 4; }
          for (let i = 0; i < n; i++) {
            const s = { duration: dDur, size: dSize, flags: i === 0 && first !== null ? first : dFlags, cto: 0 };
            if (f & 0x100) { s.duration = buf.readUInt32BE(r); r += 4; }
            if (f & 0x200) { s.size = buf.readUInt32BE(r); r += 4; }
            if (f & 0x400) { s.flags = buf.readUInt32BE(r); r += 4; }
            if (f & 0x800) { s.cto = version === 1 ? buf.readInt32BE(r) : buf.readUInt32BE(r); r += 4; }
            samples.push(s);
          }
        }
        pending.trafs.push({ trackId, tfdt, samples });
      }
    } else if (b.type === 'mdat') {
      if (!pending) throw new Error('mdat without a moof');
      const bytes = pending.trafs.reduce((a, t) => a + t.samples.reduce((x, s) => x + s.size, 0), 0);
      if (bytes !== b.end - b.body) throw new Error(`mdat holds ${b.end - b.body} bytes, samples ${bytes}`);
      frags.push(pending);
      pending = null;
    }
  }
  if (pending) throw new Error('moof without an mdat');
  return frags;
}

// ---- continuity ----

const isSync = (flags) => (flags & 0x10000) === 0; // sample_is_non_sync_sample clear

// Feeds parts in playlist order; keeps per track the end of the last part and reports
// discontinuities and odd sample durations. A new init section (EXT-X-MAP after a
// reconfiguration) is an announced discontinuity: the check restarts there.
export class ContinuityChecker {
  constructor() {
    this.issues = [];
    this.parts = 0;
    this.tracks = new Map(); // id -> state
    this.initUri = null;
  }

  setInit(uri, init) {
    if (uri === this.initUri) return;
    this.initUri = uri;
    this.init = init;
    for (const [id, t] of init) {
      const old = this.tracks.get(id);
      this.tracks.set(id, {
        ...t, nextDts: null, lastDur: 0, lastName: null, samples: old?.samples || 0,
        durations: old?.durations || new Map(), nominal: 0, maxCto: old?.maxCto || 0, minCto: old?.minCto || 0,
        parts: old?.parts || 0,
      });
    }
  }

  issue(kind, name, track, detail) {
    this.issues.push({ kind, part: name, track: track.handler, detail });
  }

  // name: the part's URI (for the report); buf: its bytes; meta: { duration, independent }.
  add(name, buf, meta = {}) {
    this.parts++;
    const frags = parseFragments(buf, this.init);
    if (frags.length !== 1) this.issues.push({ kind: 'fragments', part: name, detail: `${frags.length} moof+mdat` });
    const spans = {};
    for (const f of frags) {
      for (const traf of f.trafs) {
        const t = this.tracks.get(traf.trackId);
        const ms = (v) => (v * 1000 / t.timescale).toFixed(3);
        t.parts++;
        if (traf.samples.length === 0) {
          this.issue('empty-traf', name, t, 'no samples');
          continue;
        }
        if (t.nextDts !== null && traf.tfdt !== t.nextDts) {
          const d = traf.tfdt - t.nextDts;
          const mse = d < 0 || d > 2 * t.lastDur;
          this.issue(d < 0 ? 'overlap' : 'gap', name, t,
            `tfdt ${traf.tfdt} (${ms(traf.tfdt)} ms) but ${t.lastName} ended at ${t.nextDts} ` +
            `(${ms(t.nextDts)} ms): ${d > 0 ? '+' : ''}${d} (${ms(d)} ms)` +
            `${mse ? `; an MSE discontinuity (last frame ${ms(t.lastDur)} ms)` : ''}`);
        }
        let dts = traf.tfdt;
        let i = 0;
        for (const s of traf.samples) {
          t.samples++;
          t.durations.set(s.duration, (t.durations.get(s.duration) || 0) + 1);
          t.maxCto = Math.max(t.maxCto, s.cto);
          t.minCto = Math.min(t.minCto, s.cto);
          // The nominal frame duration: the most common one so far (from 30 samples on).
          if (t.samples >= 30 && (t.samples % 30 === 0 || !t.nominal)) {
            t.nominal = [...t.durations].sort((a, b) => b[1] - a[1])[0][0];
          }
          if (s.duration === 0) this.issue('zero-duration', name, t, `sample ${i} at ${ms(dts)} ms`);
          else if (t.nominal && (s.duration > 1.6 * t.nominal || s.duration < 0.4 * t.nominal)) {
            this.issue('odd-duration', name, t,
              `sample ${i}${i === traf.samples.length - 1 ? ' (last)' : ''} at ${ms(dts)} ms lasts ` +
              `${ms(s.duration)} ms (nominal ${ms(t.nominal)} ms)`);
          }
          dts += s.duration;
          t.lastDur = s.duration;
          i++;
        }
        spans[t.handler] = { start: traf.tfdt / t.timescale, end: dts / t.timescale,
          sync: isSync(traf.samples[0].flags), n: traf.samples.length };
        t.nextDts = dts;
        t.lastName = name;
      }
    }
    const v = spans.vide;
    if (v && meta.independent !== undefined && meta.independent !== v.sync)
      this.issues.push({ kind: 'independent', part: name, detail: `INDEPENDENT=${meta.independent} but first video sample sync=${v.sync}` });
    // The playlist's DURATION is the main track's (video, else audio) span, to the millisecond:
    // players place part K of a segment at the segment's start plus the DURATIONs before it.
    const main = v || spans.soun;
    if (main && meta.duration !== undefined && Math.abs(main.end - main.start - meta.duration) > 0.0015)
      this.issues.push({ kind: 'duration', part: name, detail: `DURATION=${meta.duration} but the media lasts ${(main.end - main.start).toFixed(4)} s` });
    for (const t of this.tracks.values())
      if (!Object.values(spans).length || (t.parts > 0 && !spans[t.handler] && this.init.has(t.id)))
        this.issues.push({ kind: 'track-missing', part: name, detail: `no ${t.handler} samples` });
    return spans;
  }

  summary() {
    const out = {};
    for (const t of this.tracks.values()) {
      const top = [...t.durations].sort((a, b) => b[1] - a[1]).slice(0, 6)
        .map(([d, n]) => `${(d * 1000 / t.timescale).toFixed(3)}ms x${n}`);
      out[t.handler] = { timescale: t.timescale, parts: t.parts, samples: t.samples, durations: top,
        cto: [t.minCto * 1000 / t.timescale, t.maxCto * 1000 / t.timescale] };
    }
    return out;
  }
}

// ---- following a live rendition ----

// Follows base/hls/<name>/<rendition>/media.m3u8 for `seconds` of wall time (or until ENDLIST),
// from the live edge's newest segment start, fetching every part in order like a low-latency
// player. Returns the checker, and per part its spans (log: each part's times, when asked;
// onPart(uri, bytes): the init sections and parts as fetched, in order).
export async function followRendition(base, name, rendition, { seconds = 60, log = null, onPart = null } = {}) {
  const root = `${base}/hls/${name}/${rendition}`;
  const checker = new ContinuityChecker();
  const inits = new Map();
  const stop = Date.now() + seconds * 1000;
  let last = null; // { msn, k } of the last part fetched
  const timeline = [];
  let playlists = 0, blockingMs = 0, unavailable = 0;
  while (Date.now() < stop) {
    const q = last ? `?_HLS_msn=${last.msn}&_HLS_part=${last.k + 1}` : '';
    const t0 = Date.now();
    const r = await fetchText(`${root}/media.m3u8${q}`, { timeout: 15000 });
    blockingMs += Date.now() - t0;
    playlists++;
    // A rendition that falls behind (an encoded rung on a loaded machine) answers a blocking
    // reload 503 after three target durations: a player asks again.
    if (r.status === 503 && last && unavailable++ < 20) continue;
    if (r.status !== 200) throw new Error(`${root}/media.m3u8${q}: HTTP ${r.status} ${r.text}`);
    let parts = listParts(r.text);
    // Which init section each part follows: the last EXT-X-MAP before it.
    const maps = [];
    {
      let msn = Number((r.text.match(/#EXT-X-MEDIA-SEQUENCE:(\d+)/) || [])[1] || 0);
      for (const l of r.text.split('\n')) {
        const m = l.match(/^#EXT-X-MAP:URI="([^"]+)"/);
        if (m) maps.push({ msn, uri: m[1] });
        else if (l && !l.startsWith('#')) msn++;
      }
    }
    const mapFor = (msn) => maps.filter((m) => m.msn <= msn).pop()?.uri || maps[0]?.uri;
    if (!last) {
      // Start like a player at the live edge: the first part of the newest segment with parts.
      const lastMsn = parts.length ? parts[parts.length - 1].msn : 0;
      parts = parts.filter((p) => p.msn === lastMsn);
    } else {
      parts = parts.filter((p) => p.msn > last.msn || (p.msn === last.msn && p.k > last.k));
      if (parts.length && !(parts[0].msn === last.msn || (parts[0].msn === last.msn + 1 && parts[0].k === 0))) {
        checker.issues.push({ kind: 'missed', part: parts[0].uri, detail: `after ${last.msn}.${last.k}` });
      }
    }
    for (const p of parts) {
      const mapUri = mapFor(p.msn);
      if (!inits.has(mapUri)) {
        const b = await fetchBytes(`${root}/${mapUri}`);
        if (b.status !== 200) throw new Error(`${mapUri}: HTTP ${b.status}`);
        inits.set(mapUri, parseInit(b.body));
        if (onPart) onPart(mapUri, b.body);
      }
      checker.setInit(mapUri, inits.get(mapUri));
      const b = await fetchBytes(`${root}/${p.uri}`);
      if (b.status !== 200) throw new Error(`${p.uri}: HTTP ${b.status}`);
      if (onPart) onPart(p.uri, b.body);
      const spans = checker.add(p.uri, b.body, { duration: p.dur, independent: p.independent });
      const row = { uri: p.uri, dur: p.dur, independent: p.independent, at: Date.now(), spans };
      timeline.push(row);
      if (log) log(row);
      last = { msn: p.msn, k: p.k };
    }
    if (/#EXT-X-ENDLIST/.test(r.text)) break;
  }
  return { checker, timeline, playlists, blockingMs, unavailable };
}

// One line per part: its name, playlist DURATION, and per track [start, end) in seconds.
export function formatRow(row) {
  const s = Object.entries(row.spans).map(([h, x]) =>
    `${h} ${x.start.toFixed(4)}-${x.end.toFixed(4)} (${x.n}${x.sync ? ',sync' : ''})`).join('  ');
  return `${row.uri} DURATION=${row.dur}${row.independent ? ' IND' : ''}  ${s}`;
}
