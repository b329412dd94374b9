#!/usr/bin/python3
"""A voice-room member on GStreamer's webrtcbin (a WebRTC stack we did not write), for
tests/e2e/voice_sfu.test.mjs. The test does the WebSocket signaling; this process only speaks
WebRTC. One JSON object per line:

  out {"offer": SDP}          once ICE gathering is done: one sendrecv Opus m-line (a tone from
                              audiotestsrc, RFC 6464 audio level from the `level` element), then
                              --slots recvonly ones
  in  {"answer": SDP}
  out {"state": S}            each peer-connection state change
  out {"rx": N, "streams": K} once a second: RTP packets received on the recvonly m-lines, and
                              on how many of them
  in  {"quit": true}          (or stdin closed) ends it

Usage: webrtcbin_peer.py --slots N [--freq HZ] [--seconds S]
Runs with Debian's python3-gi and the GStreamer introspection data (gir1.2-gst-plugins-bad-1.0).
"""
import argparse
import json
import sys
import threading

import gi

gi.require_version('Gst', '1.0')
gi.require_version('GstWebRTC', '1.0')
gi.require_version('GstSdp', '1.0')
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

LEVEL_URI = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level'


def say(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--slots', type=int, required=True)
    ap.add_argument('--freq', type=int, default=440)
    ap.add_argument('--seconds', type=int, default=120)
    args = ap.parse_args()
    Gst.init(None)
    pipe = Gst.parse_launch(
        f'webrtcbin name=w bundle-policy=max-bundle '
        f'audiotestsrc is-live=true wave=sine freq={args.freq} volume=0.5 ! audioconvert ! '
        f'audioresample ! audio/x-raw,rate=48000,channels=1 ! level audio-level-meta=true ! '
        f'opusenc frame-size=20 ! rtpopuspay name=pay pt=111 ! '
        f'application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=111 ! w.')
    w = pipe.get_by_name('w')
    pay = pipe.get_by_name('pay')
    try:  # the audio level from the level element's meta, on every packet
        gi.require_version('GstRtp', '1.0')
        from gi.repository import GstRtp
        ext = GstRtp.RTPHeaderExtension.create_from_uri(LEVEL_URI)
        if ext:
            ext.set_id(1)
            pay.emit('add-extension', ext)
    except Exception as e:  # the SFU then ranks this member as silent; still heard with free slots
        print(f'no audio level extension: {e}', file=sys.stderr)
    caps = Gst.Caps.from_string(  # encoding-params: RFC 7587's opus/48000/2 (else refused)
        'application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=111,'
        'encoding-params=(string)2')
    for _ in range(args.slots):
        w.emit('add-transceiver', GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY, caps)

    loop = GLib.MainLoop()
    rx = {'n': 0, 'pads': set()}

    def on_pad(_w, pad):
        if pad.get_direction() != Gst.PadDirection.SRC:
            return
        sink = Gst.ElementFactory.make('fakesink')
        sink.set_property('async', False)
        pipe.add(sink)
        sink.sync_state_with_parent()
        pad.link(sink.get_static_pad('sink'))
        name = pad.get_name()

        def probe(_pad, _info):
            rx['n'] += 1
            rx['pads'].add(name)
            return Gst.PadProbeReturn.OK
        pad.add_probe(Gst.PadProbeType.BUFFER, probe)

    w.connect('pad-added', on_pad)

    def on_state(_w, _p):
        say({'state': w.get_property('connection-state').value_nick})
    w.connect('notify::connection-state', on_state)

    sent = {'offer': False}

    def send_offer():
        if not sent['offer']:  # negotiation-needed may fire more than once: one offer
            sent['offer'] = True
            say({'offer': w.get_property('local-description').sdp.as_text()})

    def on_gathering(_w, _p):
        if w.get_property('ice-gathering-state') == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            GLib.idle_add(send_offer)
    w.connect('notify::ice-gathering-state', on_gathering)

    def on_offer(promise, _):
        reply = promise.get_reply()
        offer = reply.get_value('offer') if reply and reply.has_field('offer') else None
        if offer is None:
            say({'error': f'create-offer failed: {reply.to_string() if reply else None}'})
            loop.quit()
            return
        w.emit('set-local-description', offer, Gst.Promise.new())

    def on_negotiation(_w):
        w.emit('create-offer', None, Gst.Promise.new_with_change_func(on_offer, None))
    w.connect('on-negotiation-needed', on_negotiation)

    def set_answer(sdp_text):
        ok, msg = GstSdp.SDPMessage.new_from_text(sdp_text)
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, msg)
        w.emit('set-remote-description', answer, Gst.Promise.new())
        return False

    def reader():
        for line in sys.stdin:
            m = json.loads(line)
            if 'answer' in m:
                GLib.idle_add(set_answer, m['answer'])
            if m.get('quit'):
                break
        GLib.idle_add(loop.quit)
    threading.Thread(target=reader, daemon=True).start()

    def report():
        say({'rx': rx['n'], 'streams': len(rx['pads'])})
        return True
    GLib.timeout_add(1000, report)
    GLib.timeout_add(args.seconds * 1000, loop.quit)
    bus = pipe.get_bus()
    bus.add_signal_watch()

    def on_error(_bus, msg):
        err, dbg = msg.parse_error()
        print(f'gstreamer error: {err.message} ({dbg})', file=sys.stderr)
        loop.quit()
    bus.connect('message::error', on_error)
    pipe.set_state(Gst.State.PLAYING)
    loop.run()
    pipe.set_state(Gst.State.NULL)


if __name__ == '__main__':
    main()
