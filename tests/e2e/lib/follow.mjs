// Follows a live LL-HLS rendition like a low-latency player (hls.js): a blocking reload for
// the part after the last one it has (_HLS_msn=M&_HLS_part=K+1), again as soon as it answers,
// and measures how late each answer came after its part existed.
//
// When a part exists: the publisher sends in real time (ffmpeg -re, stream copy), so the last
// frame of a part that ends at time e of the timeline arrives at the wall clock anchor + e,
// where the anchor is the arrival of the first keyframe: exactly the server's
// PROGRAM-DATE-TIME (the anchor, once per publish, plus the segment's start on the timeline).
// So a part exists at PDT(segment) + the DURATIONs of its parts up to and including it, plus
// the one frame the packager holds back (sink_front) and the audio it interleaves with, a few
// tens of ms. An answer's delay is from then, or from the request if that came later (a
// player that is behind is answered at once). A publisher late on its own pace makes parts
// exist later than this says, so the figures can only overstate the server's delay.
import { fetchText } from './server.mjs';

// The parts of a media playlist with their wall-clock end (ms): PDT of the segment + the
// DURATIONs so far. Needs EXT-X-PROGRAM-DATE-TIME on every segment (kibitka writes one each).
export function partEnds(text) {
  let msn = Number((text.match(/#EXT-X-MEDIA-SEQUENCE:(\d+)/) || [])[1] || 0);
  msn += Number((text.match(/#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)/) || [])[1] || 0);
  const parts = [];
  let k = 0, pdt = NaN, at = NaN;
  for (const l of text.split('\n')) {
    if (l.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) {
      pdt = Date.parse(l.slice(25));
      at = pdt;
    } else if (l.startsWith('#EXT-X-PART:')) {
      const dur = Number(l.match(/DURATION=([\d.]+)/)[1]);
      at += dur * 1000;
      parts.push({ msn, k: k++, dur, end: at });
    } else if (l && !l.startsWith('#')) {
      msn += 1;
      k = 0;
      pdt = at = NaN;
    }
  }
  return parts;
}

const pct = (xs, p) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

export function summary(xs) {
  return { n: xs.length, p50: pct(xs, 50), p99: pct(xs, 99), max: xs.length ? Math.max(...xs) : NaN };
}

// Follows url (a media playlist) for ms milliseconds. Returns { delays, waits, answers,
// longest, target }: delays[i] is how long after its part existed (or after the request, if
// later) answer i came; waits[i] how long the request was open; longest the longest part
// DURATION in any answer, target the PART-TARGET (s). Every answer must be a 200 with the part
// asked for (or a 503, counted in unavailable, with tolerate503).
// With tolerate503, a 503 (the rendition did not advance for three target durations: a rung far
// behind) is counted in unavailable and the playlist reloaded, as hls.js retries a level.
// timeout: per request, above the server's longest block (10 s before a rendition's first
// playlist; 3 target durations after).
export async function followRendition(url, ms, { timeout = 15000, tolerate503 = false } = {}) {
  const get = (u) => fetchText(u, { timeout }).catch((e) => {
    throw new Error(`${u}: ${e.name} ${e.message}`);
  });
  const first = await get(url);
  if (first.status !== 200) throw new Error(`${url}: HTTP ${first.status} ${first.text}`);
  let last = partEnds(first.text).pop();
  if (!last) throw new Error(`${url}: no part in\n${first.text}`);
  const delays = [], waits = [], answers = [];
  let longest = 0; // the longest part DURATION seen in an answer (s)
  let unavailable = 0;
  const target = Number((first.text.match(/#EXT-X-PART-INF:PART-TARGET=([\d.]+)/) || [])[1]);
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const sent = Date.now();
    const r = await get(`${url}?_HLS_msn=${last.msn}&_HLS_part=${last.k + 1}`);
    const got = Date.now();
    if (r.status === 503 && tolerate503) {
      unavailable++;
      const again = await get(url);
      if (again.status !== 200) throw new Error(`${url}: HTTP ${again.status} ${again.text}`);
      last = partEnds(again.text).pop();
      continue;
    }
    if (r.status !== 200) throw new Error(`${url} ${last.msn}.${last.k + 1}: HTTP ${r.status} ${r.text}`);
    if (/#EXT-X-ENDLIST/.test(r.text)) break;
    const parts = partEnds(r.text);
    for (const p of parts) longest = Math.max(longest, p.dur);
    // The part asked for: K+1 of M, or part 0 of M+1 when M ended with K.
    const want = parts.find((p) => p.msn === last.msn && p.k === last.k + 1) ||
      parts.find((p) => p.msn === last.msn + 1 && p.k === 0);
    if (!want) throw new Error(`${url}: the answer to ${last.msn}.${last.k + 1} lacks it:\n${r.text}`);
    const existed = Math.max(want.end, sent);
    delays.push(got - existed);
    waits.push(got - sent);
    answers.push({ msn: want.msn, k: want.k, sent, got, end: Math.round(want.end) });
    last = parts.pop();
  }
  return { delays, waits, answers, longest, target, unavailable };
}
