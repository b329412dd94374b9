// WHIP under 5% random packet loss (issue 13): a relay in this test drops 5% of the werift
// publisher's RTP datagrams (seeded, so a run drops the same share the same way; STUN, DTLS and
// RTCP pass). The server must ask for the lost packets (NACK), take the repairs (werift sends
// RTX: it is offered), ask for a keyframe when a repair never comes (PLI), and the HLS it makes
// must decode without a single decoder error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startServer, waitFor, metric, workDir, sleep } from './lib/server.mjs';
import { whipFeed, encodeArgs, lossyRelay, segmentCollector } from './lib/whip_feed.mjs';

const SECONDS = 16;

test('WHIP with 5% RTP loss: NACK + RTX repair, PLI otherwise, HLS decodes cleanly', { timeout: 90000 }, async () => {
  const srv = await startServer(['--open-publish', '--log-level', 'info']);
  const relay = await lossyRelay(srv.rtc, { loss: 0.05, seed: 1313 });
  const enc = encodeArgs({ gop: 60, bitrate: '1000k' });
  const h = await whipFeed(srv.base, 'lossy', {
    input: ['-re', '-t', String(SECONDS), '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
      '-t', String(SECONDS), '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'],
    ...enc,
    mangleAnswer: (sdp) => relay.mangle(sdp),
  });
  try {
    assert.equal(h.status, 201, h.answer);
    assert.match(h.answer, /a=rtpmap:\d+ rtx\/90000/, 'the answer takes RTX');
    const seg = segmentCollector(`${srv.base}/hls/lossy/source/media.m3u8`);
    await waitFor(() => seg.poll(), { timeout: 20000, interval: 500, what: 'a first segment' });
    let timer;
    const code = await Promise.race([h.exited.then((c) => ({ c })),
      new Promise((resolve) => { timer = setTimeout(resolve, (SECONDS + 30) * 1000); })]);
    clearTimeout(timer);
    assert.ok(code, 'ffmpeg ended');
    await seg.poll();
    await sleep(300);
    await seg.poll();
    assert.equal(h.ffErr, '', 'ffmpeg (the source) reported nothing');

    const nacks = await metric(srv, 'kibitka_rtcp_nacks_sent_total');
    const rtx = await metric(srv, 'kibitka_rtp_retransmissions_in_total');
    const lost = await metric(srv, 'kibitka_rtp_packets_lost_total');
    const plis = await metric(srv, 'kibitka_rtcp_plis_sent_total');
    const pkts = await metric(srv, 'kibitka_rtp_packets_in_total');
    const sender = h.pc.getTransceivers()[0].sender;
    const figures = {
      relayRtp: relay.stats.rtp, relayDropped: relay.stats.dropped, droppedByPt: relay.stats.droppedByPt, serverRtpIn: pkts,
      nacksSent: nacks, rtxIn: rtx, lostNotRepaired: lost, plisSent: plis,
      weriftNacksReceived: sender.nackCount, weriftRetransmitted: sender.retransmittedPacketsSent,
      segments: seg.count(), segmentGaps: seg.gaps(),
    };
    console.log('whip_loss figures', JSON.stringify(figures));
    assert.ok(relay.stats.dropped > 50, `the relay dropped packets (${relay.stats.dropped})`);
    assert.ok(nacks > 0, 'NACKs sent');
    assert.ok(rtx > 0, 'RTX repairs received');
    // Lost and not repaired: audio is not NACKed (an Opus loss loses that packet only), so
    // every dropped audio packet counts; a video packet whose repairs were dropped too counts
    // and costs a keyframe request (PLI) on top of the one at the start.
    const d = relay.stats.droppedByPt;
    assert.ok(lost >= (d[111] || 0) && lost <= relay.stats.dropped, `lost ${lost} vs dropped ${JSON.stringify(d)}`);
    if (lost > (d[111] || 0)) assert.ok(plis > 1, `PLIs sent for unrepaired video loss (${plis})`);
    assert.ok(plis >= 1, 'the PLI at the start');
    assert.ok(seg.count() >= 4, `segments collected (${seg.count()})`);

    const dir = mkdtempSync(path.join(workDir, 'whip-loss-'));
    const file = path.join(dir, 'out.mp4');
    writeFileSync(file, seg.bytes());
    const dec = spawnSync('ffmpeg', ['-hide_banner', '-v', 'error', '-i', file, '-f', 'null', '-'],
      { encoding: 'utf8' });
    assert.equal(dec.status, 0, dec.stderr);
    assert.equal(dec.stderr.trim(), '', `decoder errors:\n${dec.stderr}`);
    const frames = Number(execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v', '-count_frames',
      '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file], { encoding: 'utf8' }).trim());
    console.log('whip_loss decoded video frames', frames, 'of', seg.count(), 'segments');
    assert.ok(frames > 30 * 2 * (seg.count() - 1) * 0.5, `frames decoded (${frames})`);
  } finally {
    await h.stop();
    relay.close();
    await srv.stop();
  }
});
