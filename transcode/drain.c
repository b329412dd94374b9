/* The libavcodec receive loops. See drain.h. */
#include "transcode/drain.h"

#include <errno.h>
#include <stdbool.h>

static bool wants_more(int rc)
{
    return rc == AVERROR(EAGAIN) || rc == AVERROR_EOF;
}

int transcode_drain_frames(AVCodecContext *dec, AVFrame *frame,
                           int (*on_frame)(void *arg, AVFrame *frame), void *arg)
{
    for (;;) {
        int rc = avcodec_receive_frame(dec, frame);
        if (rc < 0)
            return wants_more(rc) ? 0 : rc;
        rc = on_frame(arg, frame);
        av_frame_unref(frame);
        if (rc < 0)
            return rc;
    }
}

int transcode_drain_packets(AVCodecContext *enc, int (*on_packet)(void *arg, AVPacket *pkt),
                            void *arg)
{
    for (;;) {
        AVPacket *pkt = av_packet_alloc();
        if (!pkt)
            return AVERROR(ENOMEM);
        int rc = avcodec_receive_packet(enc, pkt);
        if (rc < 0) {
            av_packet_free(&pkt);
            return wants_more(rc) ? 0 : rc;
        }
        rc = on_packet(arg, pkt);
        if (rc < 0)
            return rc;
    }
}
