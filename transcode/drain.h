/* The two libavcodec receive loops the video ladder (transcoder.c) and the audio transcoder
 * (audio.c) both run after every send: take what a decoder or an encoder has ready until it
 * wants more input (EAGAIN) or is drained (EOF), and hand each frame or packet on. */
#ifndef KIBITKA_TRANSCODE_DRAIN_H
#define KIBITKA_TRANSCODE_DRAIN_H

#include <libavcodec/avcodec.h>

/* Receives every frame dec has ready into frame, calls on_frame(arg, frame) for each and unrefs
 * it after. Returns 0 once dec has nothing more, or the first error (libavcodec's, or on_frame's
 * negative return, which stops the loop). */
int transcode_drain_frames(AVCodecContext *dec, AVFrame *frame,
                           int (*on_frame)(void *arg, AVFrame *frame), void *arg);

/* Receives every packet enc has ready, each in a new AVPacket that on_packet(arg, pkt) takes
 * (it frees the packet even when it fails). Returns 0 once enc has nothing more, or the first
 * error (AVERROR(ENOMEM), libavcodec's, or on_packet's negative return, which stops the loop). */
int transcode_drain_packets(AVCodecContext *enc, int (*on_packet)(void *arg, AVPacket *pkt),
                            void *arg);

#endif
