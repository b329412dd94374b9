// GStreamer publishes over WHIP: Meetecho's whip-client (Debian package simple-whip-client:
// webrtcbin + libnice) sends H.264 (x264enc) + Opus from test sources, trickling its candidates
// with PATCH. The stream must appear, its source rendition must decode with ffprobe (H.264
// video, AAC audio); then the client is killed (SIGKILL: no DELETE, no DTLS close) and the
// stream must end by ICE consent expiry (30 s without a check, RFC 7675).
//
// libnice does not use loopback candidates either (against 127.0.0.1 it connected only over
// ICE-TCP from the machine's other address, after 2 s): --rtc is bound to an address on an
// interface this file makes (lib/netif.mjs), as in whip_browser.test.mjs.
//
// Debian 12's whip-client links libsoup 2 while libnice pulls libsoup 3 in (through
// gupnp-igd), and libsoup 3 aborts at load when it sees libsoup 2's symbols ("libsoup2 symbols
// detected. Using libsoup2 and libsoup3 in the same process is not supported."). So when
// whip-client links libsoup 2, it runs with a preloaded shim (built here with cc) that hides
// soup_uri_new from libsoup 3's check and turns UPnP off in libnice's agents, so that libsoup 3
// (gupnp) never runs next to libsoup 2: with UPnP on, the client sometimes hung after setting
// the answer (GLib-GObject-CRITICAL g_object_notify_by_pspec). No whip-client, GStreamer
// element, cc or root: skipped, saying why.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, freePort, fetchText, waitFor, workDir } from './lib/server.mjs';
import { getPlaylist, probe } from './lib/hls.mjs';
import { makeNetif } from './lib/netif.mjs';

const VIDEO = 'videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! '
  + 'videoconvert ! x264enc tune=zerolatency bitrate=1000 speed-preset=veryfast key-int-max=60 ! '
  + 'rtph264pay config-interval=-1 pt=96 ! queue ! application/x-rtp,media=video,encoding-name=H264,payload=96';
const AUDIO = 'audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! queue ! opusenc ! '
  + 'rtpopuspay pt=111 ! queue ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111';

const SHIM = `#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>
/* libsoup 3's load-time check for libsoup 2 looks soup_uri_new up in the process. */
int g_module_symbol(void *module, const char *name, void **sym)
{
    static int (*real)(void *, const char *, void **);
    if (name && strcmp(name, "soup_uri_new") == 0) {
        if (sym)
            *sym = 0;
        return 0;
    }
    if (!real)
        real = (int (*)(void *, const char *, void **))dlsym(RTLD_NEXT, "g_module_symbol");
    return real(module, name, sym);
}
/* UPnP off in every ICE agent webrtcbin makes, so libsoup 3 (gupnp) never runs. */
void *nice_agent_new_full(void *ctx, int compat, int flags)
{
    /* libnice came in with the nice plugin (dlopen, local scope): RTLD_NEXT cannot see it. */
    void *lib = dlopen("libnice.so.10", RTLD_LAZY | RTLD_NOLOAD);
    void *(*real)(void *, int, int) = lib ? (void *(*)(void *, int, int))dlsym(lib, "nice_agent_new_full") : 0;
    if (!real)
        return 0;
    void (*set)(void *, const char *, ...) = (void (*)(void *, const char *, ...))dlsym(RTLD_DEFAULT, "g_object_set");
    void *agent = real(ctx, compat, flags);
    if (agent && set)
        set(agent, "upnp", 0, (char *)0);
    return agent;
}
`;

// What whip-client needs here: { env } or { skip: 'why' }.
function prepare() {
  const which = spawnSync('sh', ['-c', 'command -v whip-client'], { encoding: 'utf8' });
  if (which.status !== 0) return { skip: 'no whip-client (Debian package simple-whip-client)' };
  for (const el of ['webrtcbin', 'nicesrc', 'x264enc', 'rtph264pay', 'opusenc', 'rtpopuspay']) {
    if (spawnSync('gst-inspect-1.0', [el], { stdio: 'ignore' }).status !== 0) return { skip: `no GStreamer element ${el}` };
  }
  const ldd = spawnSync('ldd', [which.stdout.trim()], { encoding: 'utf8' });
  if (!/libsoup-2\.4/.test(ldd.stdout || '')) return { env: {} };
  const dir = mkdtempSync(path.join(workDir, 'soupshim-'));
  writeFileSync(path.join(dir, 'shim.c'), SHIM);
  const cc = spawnSync('cc', ['-shared', '-fPIC', '-O2', '-o', path.join(dir, 'shim.so'),
    path.join(dir, 'shim.c'), '-ldl'], { encoding: 'utf8' });
  if (cc.status !== 0) return { skip: `whip-client links libsoup 2 and the shim does not build: ${cc.stderr || cc.error}` };
  return { env: { LD_PRELOAD: path.join(dir, 'shim.so') } };
}

const client = prepare();
const netif = client.skip ? { skip: client.skip } : makeNetif();
const skip = netif.skip || false;

let srv, proc;
after(async () => {
  if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  if (srv) {
    const { code, signal } = await srv.stop();
    if (code !== 0 || process.env.WHIP_LOG) console.log(srv.log());
    assert.equal(code, 0, `kibitka exit ${code} ${signal}`);
  }
  if (netif.remove) netif.remove();
});

test('whip-client (GStreamer) publishes H.264 + Opus; the source decodes; killed, the stream ends by consent expiry', { skip }, async () => {
  srv = await startServer(['--open-publish', '--no-record', '--rtc', `${netif.addr}:${await freePort()}`]);
  const name = 'gst';
  proc = spawn('whip-client', ['-u', `${srv.base}/whip`, '-t', name, '-V', VIDEO, '-A', AUDIO, '-l', '4', '-o'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...client.env } });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  const clientLog = () => out.split('\n').filter((l) => l && !l.includes('GLib-CRITICAL')).slice(-30).join('\n');

  const url = `${srv.base}/hls/${name}/source/media.m3u8`;
  let list;
  try {
    list = await waitFor(async () => {
      if (proc.exitCode !== null) return { exited: proc.exitCode };
      const p = await getPlaylist(url);
      return p.parsed.segments.some((s) => s.uri) ? p : null;
    }, { timeout: 30000, what: `a complete segment in ${url}` });
  } catch (e) {
    throw new Error(`${e.message}\nwhip-client:\n${clientLog()}\nkibitka:\n${srv.log()}`);
  }
  assert.ok(!('exited' in list), `whip-client exited (${list.exited}):\n${clientLog()}`);
  assert.match(out, /PeerConnection connected/);
  const connected = srv.log().match(/rtc stream=gst WebRTC connected over (\S+) (\S+)/);
  console.log(`# connected over ${connected?.[1]} from ${connected?.[2]}`);

  const seg = list.parsed.segments.find((s) => s.uri);
  const init = new URL(list.text.match(/#EXT-X-MAP:URI="([^"]+)"/)[1], url).href;
  const streams = await probe(init, [new URL(seg.uri, url).href]);
  const v = streams.find((s) => s.codec_type === 'video');
  const a = streams.find((s) => s.codec_type === 'audio');
  assert.equal(v?.codec_name, 'h264', JSON.stringify(streams));
  assert.equal(`${v.width}x${v.height}`, '320x240');
  assert.ok(Number(v.nb_read_frames) >= 10, `${v.nb_read_frames} video frames in a segment (the first may be short)`);
  assert.equal(a?.codec_name, 'aac', JSON.stringify(streams));
  assert.ok(Number(a.nb_read_frames) > 0, `${a.nb_read_frames} AAC frames`);
  console.log(`# source: h264 ${v.width}x${v.height} ${v.nb_read_frames} frames, aac ${a.nb_read_frames} frames in ${seg.uri} (${seg.duration} s)`);

  // Killed: no DELETE and no DTLS close_notify reach the server, only silence.
  const killed = Date.now();
  proc.kill('SIGKILL');
  await waitFor(async () => (await fetchText(url)).text.includes('#EXT-X-ENDLIST'),
    { timeout: 60000, interval: 500, what: 'ENDLIST after whip-client was killed' });
  console.log(`# stream ended ${((Date.now() - killed) / 1000).toFixed(1)} s after the kill`);
  assert.match(srv.log(), /whip stream=gst publish from \S+ ended: ICE consent expired/);
});
