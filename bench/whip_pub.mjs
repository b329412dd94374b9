// N WHIP publishers (werift, tests/e2e/lib/whip_feed.mjs) of one file in real time, looped:
// H.264 stream-copied, audio encoded to Opus. For bench/whip_cpu.sh and whip_handshakes.
//   node bench/whip_pub.mjs BASE N SECONDS FILE [key-prefix]
// Prints "up N" once every publisher has its 201, then runs SECONDS and stops them.
const [base, n, seconds, file, prefix = 'w'] = process.argv.slice(2);
const { whipFeed } = await import('../tests/e2e/lib/whip_feed.mjs');
const pubs = [];
// Killed early (the bench's cleanup): stop the ffmpeg feeders too, or they outlive us.
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => { for (const h of pubs) if (h.ff && h.ff.exitCode === null) h.ff.kill('SIGKILL'); process.exit(1); });
}
for (let i = 0; i < Number(n); i++) {
  const h = await whipFeed(base, `${prefix}${i}`, {
    input: ['-re', '-stream_loop', '-1', '-i', file],
    vmap: '0:v', amap: '0:a',
    video: ['-c:v', 'copy', '-bsf:v', 'h264_mp4toannexb'], // FLV's H.264 is length-prefixed: dump_extra would never start the video
    // The clip's audio is mono, as a browser's microphone is: Opus keeps it mono (the RTMP side
    // gets the same mono source), and kibitka decodes it as its packets are coded.
    audio: ['-c:a', 'libopus', '-ac', '1', '-b:a', '64k'],
  });
  if (h.status !== 201) { console.error(`publisher ${i}: HTTP ${h.status} ${h.answer}`); process.exit(1); }
  pubs.push(h);
}
console.log(`up ${pubs.length}`);
await new Promise((r) => setTimeout(r, Number(seconds) * 1000));
for (const h of pubs) await h.stop();
process.exit(0);
