/* The transcode worker: one thread per transcoded stream, between the packager's source sink and
 * the packager's rung renditions.
 *
 *   network thread                         worker thread
 *   transcode_worker_push(pkt) --queue-->  transcoder_send --> ops.packet(rung, pkt) --> segmenter
 *   transcode_worker_push_audio --held---> ops.audio(pkt), once the video before it was sent
 *
 * push only takes a packet reference into a bounded queue under a mutex, so the network thread
 * never waits for an encoder. The worker opens the decoder and the encoders itself (opening
 * libx264 takes tens of milliseconds), then calls ops.start once with the open transcoder (for
 * the rungs' codec parameters), ops.packet for every encoded packet and ops.end once at the end;
 * ops.fail instead of start when the ladder cannot be opened (nothing else follows).
 *
 * Keeping up. The lag is the age of the packet being transcoded (now minus when push queued it).
 * Past 1 s the lowest rung sheds (keyframes, and a frame per tc.shed_interval_us between them:
 * transcoder_set_skip), then the next lowest for each further 0.5 s;
 * back under 0.5 s every rung encodes every frame again. When the queue holds more than
 * WORKER_QUEUE_MAX packets (or the lag passes WORKER_LAG_DROP_S), push drops packets until the
 * next source keyframe, so memory stays bounded whatever happens to the CPU. Both are logged and
 * counted in metrics (transcode_dropped_frames_total counts frames not encoded, per rung).
 *
 * Priority. The worker thread lowers its nice value by 10 (to at most 19) before it opens the
 * decoder and the encoders, whose threads inherit it (Linux: nice is per thread). So when the
 * CPU is short, the network thread that cuts the source and the HTTP threads that answer its
 * blocking reloads run first, and the rungs fall behind and shed instead of holding back the
 * source and its audio.
 *
 * Timestamps pass through: the packets handed to push are already on the packager's timeline
 * (normalised, shifted), and rung packets come out with the same pts (and dts == pts). The wall
 * clock of each rung packet is the one push was given with the same pts, so EXT-X-PROGRAM-DATE-
 * TIME agrees across renditions. */
#ifndef KIBITKA_TRANSCODE_WORKER_H
#define KIBITKA_TRANSCODE_WORKER_H

#include <libavcodec/avcodec.h>
#include <stdbool.h>

#include "core/metrics.h"
#include "transcode/transcoder.h"

#define WORKER_QUEUE_MAX 600
#define WORKER_LAG_DROP_S 6.0
#define WORKER_AUDIO_MAX 1024

struct transcode_worker;

struct transcode_worker_ops {
    /* The ladder is open; t gives rung codec parameters (valid until end). */
    void (*start)(void *opaque, const struct transcoder *t);
    /* The source was reconfigured (transcode_worker_restart): the frames before the change are
     * out, and t is the new transcoder (same rungs, new sizes). Called instead of fail when it
     * opened. */
    void (*restart)(void *opaque, const struct transcoder *t);
    /* One encoded packet of rung; the callee takes what it needs (av_packet_ref), the worker
     * unrefs pkt after the call. */
    void (*packet)(void *opaque, int rung, const AVPacket *pkt, int64_t wall_us);
    /* No more packets: the source ended and the encoders are flushed. */
    void (*end)(void *opaque);
    /* The ladder could not be opened (no libx264, a bad preset, an undecodable source). */
    void (*fail)(void *opaque, int err);
    /* Optional: push dropped source frames before the keyframe of pts (in the source time
     * base), which the worker is about to transcode: each rung has a hole before it. Called on
     * the worker thread before that keyframe's packets. */
    void (*hole)(void *opaque, int64_t pts);
    /* Optional: one audio packet given to transcode_worker_push_audio, on the worker thread,
     * once the video before it went to the encoders (so that it reaches the rungs about when
     * their video of the same time does). The callee takes what it needs. */
    void (*audio)(void *opaque, const AVPacket *pkt, int64_t wall_us);
};

struct transcode_worker_config {
    struct transcoder_config tc; /* copied, with its ladder and strings, by start */
    struct transcode_worker_ops ops;
    void *opaque;
    struct metrics *metrics; /* registers kibitka_transcode_dropped_frames_total; may be NULL */
    /* Lag (s) at which the lowest rung goes keyframe-only; 0 means the default, 1 s. Tests that
     * need every frame whatever the machine's load set it high. */
    double shed_after_s;
};

/* The kibitka_transcode_dropped_frames_total handle (every worker registers it; server/ also
 * does at start, so that /metrics shows it at 0 without a ladder). NULL when m is NULL. */
atomic_int_fast64_t *transcode_dropped_frames_metric(struct metrics *m);

/* Starts the thread. Returns 0 and *out, or a negative errno (the thread could not start). */
int transcode_worker_start(const struct transcode_worker_config *cfg,
                           struct transcode_worker **out);
/* Queues a reference to a source video packet (any thread, never blocks on the encoders). */
void transcode_worker_push(struct transcode_worker *w, const AVPacket *pkt, int64_t wall_us);
/* An audio packet for the rungs (their renditions carry the stream's audio with their video):
 * held until the worker has sent the video before it (start time tb_us: the packet's dts in
 * microseconds on the packager's timeline) to the encoders, then given to ops.audio. Never
 * dropped for lag; at most WORKER_AUDIO_MAX are held (a ladder stalled that long loses the
 * oldest). */
void transcode_worker_push_audio(struct transcode_worker *w, const AVPacket *pkt, int64_t dts_us,
                                 int64_t wall_us);
/* The source's codec parameters changed (a new sequence header): queued in order with the
 * packets, so the worker flushes the frames before it and re-opens its transcoder on par (same
 * rung heights; widths follow the new aspect ratio). */
void transcode_worker_restart(struct transcode_worker *w, const AVCodecParameters *par);
/* The source ended: the worker transcodes what is queued, flushes, calls end and exits. Does
 * not wait for it: transcode_worker_done tells when it has. */
void transcode_worker_finish(struct transcode_worker *w);
bool transcode_worker_done(struct transcode_worker *w);
/* Stops the worker (at once when it is not done: queued packets are dropped, end is still
 * called on the worker thread), joins the thread and frees everything; NULL-safe, clears *pw.
 * Blocks only as long as the packet being encoded takes. */
void transcode_worker_destroy(struct transcode_worker **pw);

/* Seconds the worker is behind (0 when idle), and its current number of keyframe-only rungs. */
double transcode_worker_lag(struct transcode_worker *w);
int transcode_worker_skipping(struct transcode_worker *w);

#endif
