// Publishers whose timestamps jump (issue 11 item 5, docs/RELIABILITY.md 30): +3 h, back 3 h, a
// 31-bit millisecond clock wrapping at 2^31 (with RTMP extended timestamps), and RTMP's own 2^32
// wrap (not a jump). Each publishes a 14 s clip from an FLV file tag by tag at real-time pace,
// with the timestamps it sends mapped; the jump is at 7 s, mid-GOP, after the first playlist.
// Before the fix: EXTINF:10800 under TARGETDURATION:2, or no segment for the rest of a jump back,
// and recordings of weeks. Now the playlist keeps advancing, no EXTINF exceeds the target, one
// EXT-X-DISCONTINUITY marks the jump, and the recording lasts about what was published, with a
// new chunk at the jump.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, testClip, waitFor, binary, workDir, metric } from './lib/server.mjs';
import { getPlaylist } from './lib/hls.mjs';
import { flvTags, publishFlvSequence } from './lib/rtmp.mjs';

const H3 = 3 * 3600 * 1000;
const JUMP_MS = 7000;
const SECONDS = 14;
const ADMIN_PW = 'admin-pass-1';

const dir = mkdtempSync(path.join(workDir, 'jump-'));
execFileSync(binary, ['user', 'add', 'admin', '--admin', '--password-stdin', '--data', dir],
  { input: `${ADMIN_PW}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
const srv = await startServer(['--data', dir, '--open-publish', '--record-chunk', '60',
  '--hls-linger', '60']);
after(() => srv.stop());

const publishers = {
  forward: { mapTs: (ts) => (ts < JUMP_MS ? ts : ts + H3), jumps: 1 },
  back: { mapTs: (ts) => (ts < JUMP_MS ? ts + H3 : ts), jumps: 1 },
  wrap31: { mapTs: (ts) => (2 ** 31 - JUMP_MS + ts) % 2 ** 31, jumps: 1 },
  wrap32: { mapTs: (ts) => 2 ** 32 - JUMP_MS + ts, jumps: 0 },
};

function extinfs(text) {
  return [...text.matchAll(/#EXTINF:([0-9.]+)/g)].map((m) => Number(m[1]));
}

async function api(p, token) {
  const r = await fetch(srv.base + p, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: r.status, text: await r.text() };
}

test('timestamp jumps are rebased: continuous playlists, one discontinuity, sane recordings',
  { timeout: 240000 }, async () => {
    const tags = flvTags(readFileSync(testClip({ seconds: SECONDS, size: '640x360' })));
    const conns = {};
    const maxJumps = {};
    const sending = Object.entries(publishers).map(async ([name, p]) => {
      conns[name] = await publishFlvSequence(srv.rtmp, name, [tags], { mapTs: p.mapTs });
    });
    // While live, /metrics counts each stream's jumps (its line goes when the stream ends).
    let live = true;
    const polling = (async () => {
      while (live) {
        const m = await fetch(`${srv.base}/metrics`).then((r) => r.text()).catch(() => '');
        for (const [, name, v] of m.matchAll(/^kibitka_stream_timestamp_jumps_total\{stream="(\w+)"\} (\d+)$/gm))
          maxJumps[name] = Math.max(maxJumps[name] ?? 0, Number(v));
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    // The playlists advance past the jump while the publishers send.
    for (const name of Object.keys(publishers)) {
      await waitFor(async () => {
        const { text } = await getPlaylist(`${srv.base}/hls/${name}/source/media.m3u8`);
        return extinfs(text).reduce((a, b) => a + b, 0) >= JUMP_MS / 1000 + 3;
      }, { timeout: 60000, what: `${name}: segments past the jump` });
    }
    await Promise.all(sending);
    live = false;
    await polling;
    for (const c of Object.values(conns)) c.sock.destroy();

    for (const [name, p] of Object.entries(publishers)) {
      const { text } = await waitFor(async () => {
        const pl = await getPlaylist(`${srv.base}/hls/${name}/source/media.m3u8`);
        return pl.text.includes('#EXT-X-ENDLIST') ? pl : null;
      }, { timeout: 30000, what: `${name}: ENDLIST` });
      const target = Number(text.match(/#EXT-X-TARGETDURATION:(\d+)/)[1]);
      const durs = extinfs(text);
      assert.equal(target, 2, `${name}\n${text}`);
      for (const d of durs) assert.ok(Math.round(d) <= target, `${name}: EXTINF ${d} > ${target}\n${text}`);
      const total = durs.reduce((a, b) => a + b, 0);
      assert.ok(text.includes('#EXT-X-MEDIA-SEQUENCE:0\n'), `${name}: the whole stream is listed`);
      assert.ok(Math.abs(total - SECONDS) < 1.5, `${name}: ${total.toFixed(3)} s listed of ${SECONDS}\n${text}`);
      const discs = (text.match(/#EXT-X-DISCONTINUITY\n/g) || []).length;
      console.log(`${name}: ${durs.length} segments, ${total.toFixed(3)} s, longest EXTINF `
        + `${Math.max(...durs)}, ${discs} discontinuity`);
      assert.equal(discs, p.jumps, `${name}: discontinuities\n${text}`);
      if (p.jumps) {
        // At the first keyframe after the jump (7 s into a 2 s GOP: 8 s), continuing the timeline.
        const before = text.split('#EXT-X-DISCONTINUITY\n')[0];
        const at = extinfs(before).reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(at - 8) < 0.2, `${name}: discontinuity at ${at} s\n${text}`);
      }
      assert.ok(name in maxJumps, `${name}: no kibitka_stream_timestamp_jumps_total while live`);
      assert.equal(maxJumps[name], p.jumps, `${name}: kibitka_stream_timestamp_jumps_total`);
    }

    // The recordings: about 14 s each, a new chunk at the jump, sane VOD playlists and links.
    const token = JSON.parse((await fetch(`${srv.base}/api/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: ADMIN_PW }),
    }).then((r) => r.text()))).token;
    for (const [name, p] of Object.entries(publishers)) {
      const rec = await waitFor(async () => {
        const list = JSON.parse((await api(`/api/recordings?stream=${name}`, token)).text);
        const r = list.recordings?.[0];
        return r && r.state === 'ready' ? r : null;
      }, { timeout: 60000, what: `${name}: recording ready` });
      const detail = JSON.parse((await api(`/api/recordings/${rec.id}`, token)).text);
      console.log(`${name}: recording ${detail.duration_seconds} s in ${detail.chunks} chunk(s) `
        + `(${detail.chunk_list.map((k) => k.duration_seconds).join(' + ')})`);
      assert.ok(Math.abs(detail.duration_seconds - SECONDS) < 1.5,
        `${name}: recording of ${detail.duration_seconds} s`);
      assert.equal(detail.chunks, 1 + p.jumps, `${name}: chunks ${JSON.stringify(detail.chunk_list)}`);
      if (p.jumps)
        assert.ok(Math.abs(detail.chunk_list[0].duration_seconds - 8) < 0.2,
          `${name}: first chunk ${detail.chunk_list[0].duration_seconds} s`);
      const expires = Number(new URL(detail.playlist_url, srv.base).searchParams.get('expires'));
      assert.ok(expires - Date.now() / 1000 < 6 * 3600 + 120, `${name}: link lives ${expires - Date.now() / 1000} s`);
      const vod = await api(new URL(detail.playlist_url, srv.base).pathname + new URL(detail.playlist_url, srv.base).search);
      assert.equal(vod.status, 200, vod.text);
      const vt = Number(vod.text.match(/#EXT-X-TARGETDURATION:(\d+)/)[1]);
      assert.ok(vt <= SECONDS + 1, `${name}: VOD target ${vt}\n${vod.text}`);
    }
    assert.ok(!/Sanitizer|runtime error/.test(srv.log()), srv.log().slice(-3000));
    assert.equal(await metric(srv, 'kibitka_recordings_active'), 0);
  });
