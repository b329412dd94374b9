// Reading kibitka's LL-HLS output the way a player does: hls-parser for the playlists, plain
// fetches for the media, ffprobe to decode it.
import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import HLS from 'hls-parser';
import { fetchText, fetchBytes } from './server.mjs';

HLS.setOptions({ silent: true });

export async function getPlaylist(url) {
  const r = await fetchText(url);
  if (r.status !== 200) throw new Error(`${url}: HTTP ${r.status} ${r.text}`);
  return { ...r, parsed: HLS.parse(r.text) };
}

// The parts of the media playlist in order, with the segment number each belongs to, read from
// the text (the in-progress segment's parts follow the last #EXTINF).
export function listParts(text) {
  const lines = text.split('\n');
  let msn = Number((text.match(/#EXT-X-MEDIA-SEQUENCE:(\d+)/) || [])[1] || 0);
  const skipped = Number((text.match(/#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)/) || [])[1] || 0);
  msn += skipped;
  let k = 0;
  const parts = [];
  for (const l of lines) {
    if (l.startsWith('#EXT-X-PART:')) {
      const dur = Number(l.match(/DURATION=([\d.]+)/)[1]);
      const uri = l.match(/URI="([^"]+)"/)[1];
      parts.push({ msn, k: k++, dur, uri, independent: /INDEPENDENT=YES/.test(l) });
    } else if (l.startsWith('#EXTINF:')) {
      // The segment line follows; parts of the next segment start at 0.
    } else if (l && !l.startsWith('#')) {
      msn += 1;
      k = 0;
    }
  }
  return parts;
}

export function attr(text, tag, name) {
  const line = text.split('\n').find((l) => l.startsWith(tag));
  if (!line) return undefined;
  const m = line.match(new RegExp(`${name}=("([^"]*)"|[^,]*)`));
  return m ? (m[2] !== undefined ? m[2] : m[1]) : undefined;
}

// ffprobe over init + media bytes: per stream codec, size and decoded frame count.
export async function probe(initUrl, mediaUrls) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kibitka-probe-'));
  const chunks = [(await fetchBytes(initUrl)).body];
  for (const u of mediaUrls) {
    const r = await fetchBytes(u);
    if (r.status !== 200) throw new Error(`${u}: HTTP ${r.status}`);
    chunks.push(r.body);
  }
  const file = path.join(dir, 'probe.mp4');
  writeFileSync(file, Buffer.concat(chunks));
  const out = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-show_entries',
    'stream=codec_type,codec_name,width,height,nb_read_frames,sample_rate,channels,profile',
    '-of', 'json', file]);
  return JSON.parse(out).streams;
}

// The earliest presentation time (seconds) of the packets in init + one segment or part, per
// stream type: what "segment N starts at" means to a player.
export async function firstPts(initUrl, mediaUrl) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kibitka-pts-'));
  const init = (await fetchBytes(initUrl)).body;
  const r = await fetchBytes(mediaUrl);
  if (r.status !== 200) throw new Error(`${mediaUrl}: HTTP ${r.status}`);
  const file = path.join(dir, 'pts.mp4');
  writeFileSync(file, Buffer.concat([init, r.body]));
  const out = JSON.parse(execFileSync('ffprobe', ['-v', 'fatal', '-show_entries',
    'packet=pts_time,stream_index:stream=index,codec_type', '-of', 'json', file]));
  const type = Object.fromEntries(out.streams.map((s) => [s.index, s.codec_type]));
  const first = {};
  for (const p of out.packets) {
    const t = type[p.stream_index];
    const v = Number(p.pts_time);
    if (first[t] === undefined || v < first[t]) first[t] = v;
  }
  return first;
}
