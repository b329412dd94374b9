/* The recorder's hub sink, on the network thread: its front-end (media/sink_front.h, as the HLS
 * sink's) picks the tracks, starts the recording at the first video keyframe, shifts every track
 * by its dts and gives each packet once the next one told its duration; this file muxes them with
 * media/fmp4 and cuts fragments (about every fragment_seconds) and chunks (at the first keyframe
 * past chunk_seconds). Everything touching the disk is queued for the I/O thread (io.c). */
#include <errno.h>
#include <libavutil/avutil.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "media/fmp4.h"
#include "media/sink_front.h"
#include "recorder/internal.h"

#define US_TB ((AVRational){1, 1000000})

struct sink {
    struct recorder *r;
    char name[HUB_NAME_MAX + 1];
    /* Track pick, the start and shift, one packet held per track (media/sink_front.h); its main
     * track (video if any, else audio) is the one cuts follow. */
    struct sink_front *front;
    int mux_idx[HUB_MAX_TRACKS]; /* each track's index in the muxer; -1: not recorded */
    bool off, failed;
    struct fmp4 *mux;
    struct blob *init;
    struct upload_rec_info info;
    struct io_file *file; /* NULL until the first chunk opens */
    int seq;
    bool chunk_open, paused, paused_disk, warned_drop;
    int64_t pause_need; /* the bytes that did not fit when the spool paused it */
    bool disc_pending;  /* a timestamp jump: the chunk ends before the next keyframe */
    int64_t chunk_us, frag_us;
    int64_t chunk_start_us, chunk_end_us, frag_start_us; /* main track, after the shift */
    int64_t written_end_us; /* the end of the media handed to the I/O thread in this chunk */
    int64_t media_end_us;   /* the end of the main track's media so far, recorded or not */
};

static void fail(struct sink *k, const char *what, int err)
{
    if (!k->failed)
        log_error("recorder", k->name, "%s failed (%s); the recording stops here", what,
                  av_err2str(err));
    k->failed = true;
}

static void push(struct sink *k, enum io_type type, struct blob *data, int64_t dur, int64_t t,
                 int64_t media_us)
{
    struct io_item *it = xcalloc(1, sizeof(*it));
    *it = (struct io_item){.type = type,
                           .file = k->file,
                           .seq = k->seq,
                           .data = data,
                           .duration_us = dur,
                           .time_us = t,
                           .media_us = media_us};
    io_push(k->r, it, false);
}

/* ---- chunks ---- */

static int64_t spool_used(const struct sink *k)
{
    return metrics_get(k->r->m.spool_bytes) + atomic_load(&k->r->queued_bytes);
}

static void new_id(char out[33])
{
    unsigned char b[16];
    if (getrandom(b, sizeof(b), GRND_NONBLOCK) != (ssize_t)sizeof(b)) {
        int64_t t = clock_wall_us() ^ (int64_t)(intptr_t)out; /* unique enough: never secret */
        memcpy(b, &t, 8);
        memcpy(b + 8, &t, 8);
    }
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void start_recording(struct sink *k)
{
    new_id(k->info.id);
    k->info.started_at = clock_wall_us();
    k->file = xcalloc(1, sizeof(*k->file));
    k->file->info = k->info;
    k->file->fd = -1;
    push(k, IO_REC_START, NULL, 0, k->info.started_at, 0); /* media time 0: the stream's start */
    metrics_add(k->r->m.recordings_active, 1);
    log_info("recorder", k->name, "recording %s (chunks of %.0f s into %s)", k->info.id,
             k->r->cfg.chunk_seconds, k->r->spool_dir);
}

/* disk: the I/O thread found the disk full (recorder->disk_full); else the spool reached
 * --spool-max-bytes. The media until the resume is recorded as a gap (io.c). */
static void pause_recording(struct sink *k, bool disk, int64_t need)
{
    if (k->paused)
        return;
    k->paused = true;
    k->pause_need = need;
    k->paused_disk = disk;
    metrics_add(k->r->m.recorder_paused, 1);
    if (disk)
        log_warn("recorder", k->name,
                 "disk full: recording paused, the live stream goes on; it resumes when the "
                 "disk has room, and the gap is recorded");
    else
        log_warn("recorder", k->name,
                 "spool full (%lld of %lld bytes, --spool-max-bytes): recording paused, the live "
                 "stream goes on; it resumes when uploads free space",
                 (long long)spool_used(k), (long long)k->r->cfg.spool_max_bytes);
}

/* Whether a chunk may open now: false while the spool or the disk is full (paused). A spool
 * pause lasts until the bytes that did not fit would, with 10% of the limit to spare: under 90%
 * alone, a fragment larger than a tenth of the limit paused and resumed the recording at every
 * keyframe, in chunks of one fragment. */
static bool spool_allows(struct sink *k)
{
    int64_t max = k->r->cfg.spool_max_bytes;
    bool disk = atomic_load(&k->r->disk_full);
    if (k->paused) {
        if (disk || (max > 0 && spool_used(k) + k->pause_need > max / 10 * 9))
            return false;
        k->paused = false;
        metrics_add(k->r->m.recorder_paused, -1);
        if (k->paused_disk)
            log_info("recorder", k->name, "the disk has room again: recording resumes");
        else
            log_info("recorder", k->name, "spool has room again (%lld bytes): recording resumes",
                     (long long)spool_used(k));
        return true;
    }
    if (disk || (max > 0 && spool_used(k) + (int64_t)k->init->len > max)) {
        pause_recording(k, disk, (int64_t)k->init->len);
        return false;
    }
    return true;
}

/* Hands the fragment written since the last flush to the I/O thread. Returns false when it
 * was dropped (spool full, I/O queue full, mux error): the chunk must then end. */
static bool emit_fragment(struct sink *k)
{
    struct blob *frag = NULL;
    int err = fmp4_flush(k->mux, &frag);
    if (err < 0) {
        fail(k, "writing a fragment", err);
        return false;
    }
    if (!frag)
        return true;
    int64_t end_us = k->chunk_end_us, max = k->r->cfg.spool_max_bytes;
    bool disk = atomic_load(&k->r->disk_full);
    if (disk || (max > 0 && spool_used(k) + (int64_t)frag->len > max)) {
        int64_t need = (int64_t)frag->len;
        blob_unref(frag);
        pause_recording(k, disk, need);
        return false;
    }
    struct io_item *it = xcalloc(1, sizeof(*it));
    *it = (struct io_item){
        .type = IO_WRITE, .file = k->file, .seq = k->seq, .data = frag, .media_us = end_us};
    if (io_push(k->r, it, true) == 0) {
        k->written_end_us = end_us;
        return true;
    }
    metrics_add(k->r->m.recorder_dropped_total, 1);
    if (!k->warned_drop)
        log_warn("recorder", k->name,
                 "the disk is too slow: %lld bytes wait for the recorder's I/O thread; a "
                 "fragment was dropped and the chunk closed early (warned once per stream)",
                 (long long)atomic_load(&k->r->queued_bytes));
    k->warned_drop = true;
    blob_unref(frag);
    free(it);
    return false;
}

static void close_chunk(struct sink *k)
{
    if (!k->chunk_open)
        return;
    emit_fragment(k);
    push(k, IO_CHUNK_CLOSE, NULL, k->written_end_us - k->chunk_start_us, clock_wall_us(), 0);
    k->chunk_open = false;
}

static void open_chunk(struct sink *k, int64_t dts_us)
{
    if (!spool_allows(k))
        return;
    if (!k->file)
        start_recording(k);
    k->seq++;
    push(k, IO_CHUNK_OPEN, blob_ref(k->init), 0, clock_wall_us(), dts_us);
    k->chunk_open = true;
    k->chunk_start_us = k->frag_start_us = k->chunk_end_us = k->written_end_us = dts_us;
}

/* Before the main track's packet [dts, end): the cuts it causes. After a timestamp jump (the hub
 * rebased it: the timeline goes on) the chunk ends at the next keyframe, so a jump is where a
 * chunk starts, as a player of the recording would expect a discontinuity. */
static void cut(struct sink *k, int64_t dts_us, int64_t end_us, bool key)
{
    bool jumped = key && k->disc_pending;
    if (key)
        k->disc_pending = false;
    if (k->chunk_open && key && (jumped || dts_us - k->chunk_start_us >= k->chunk_us)) {
        if (jumped)
            log_info("recorder", k->name,
                     "the publisher's timestamps jumped: chunk %d ends here, at %.3f s", k->seq,
                     (double)dts_us / 1e6);
        close_chunk(k);
    } else if (k->chunk_open && dts_us - k->frag_start_us >= k->frag_us) {
        k->frag_start_us = dts_us;
        if (!emit_fragment(k))
            close_chunk(k); /* the next keyframe starts a new chunk */
    }
    if (!k->chunk_open && key && !k->failed)
        open_chunk(k, dts_us);
    if (k->chunk_open)
        k->chunk_end_us = end_us;
    if (end_us > k->media_end_us)
        k->media_end_us = end_us;
}

/* The front-end's release: writes one packet whose duration is known, and frees it. */
static void on_release(void *opaque, int idx, AVPacket *p)
{
    struct sink *k = opaque;
    const struct sink_front_track *t = sink_front_track(k->front, idx);
    if (idx == sink_front_main(k->front)) {
        int64_t dts = av_rescale_q(p->dts, t->tb, US_TB);
        int64_t end = av_rescale_q(p->dts + p->duration, t->tb, US_TB);
        cut(k, dts, end, !t->video || (p->flags & AV_PKT_FLAG_KEY));
    }
    if (k->chunk_open && !k->failed) { /* not before the first chunk, nor in a pause */
        int err = fmp4_write(k->mux, k->mux_idx[idx], p);
        if (err < 0)
            fail(k, "muxing a packet", err);
    }
    av_packet_free(&p);
}

/* ---- packets ---- */

/* A jump flagged on a packet of a started stream's recorded track is noted after that track's
 * previous packet was written: the chunk then ends before the next main-track keyframe written
 * (see cut). */
static void sink_packet(void *opaque, const struct hub_packet *hp)
{
    struct sink *k = opaque;
    if (k->off || k->failed)
        return;
    if (sink_front_packet(k->front, hp->pkt->stream_index, hp->pkt, hp->wallclock_us))
        k->disc_pending |= hp->discontinuity;
}

/* ---- start, end ---- */

/* The front-end's pick, for a track that is not H.264 or AAC: recorded as it is (source
 * quality, no transcode) when MP4 carries it: MP3 (object type 0x6B), Opus ('Opus' + 'dOps'
 * from the 19-byte OpusHead the WHIP depacketizer gives), VP8 ('vp08' + 'vpcC', media/fmp4.h). */
static bool on_pick(void *opaque, int i, const struct hub_track *ht, bool have_audio,
                    AVRational *tb, int64_t *default_dur)
{
    struct sink *k = opaque;
    const AVCodecParameters *par = ht->par;
    if (par->codec_type == AVMEDIA_TYPE_AUDIO && !have_audio &&
        (par->codec_id == AV_CODEC_ID_MP3 ||
         (par->codec_id == AV_CODEC_ID_OPUS && par->extradata_size >= 19))) {
        int rate = par->sample_rate > 0 ? par->sample_rate : 44100;
        int frame = par->codec_id == AV_CODEC_ID_MP3 ? 1152 : rate / 50; /* Opus: 20 ms */
        *default_dur = av_rescale_q(frame, (AVRational){1, rate}, *tb);
        return true;
    }
    if (par->codec_type == AVMEDIA_TYPE_VIDEO && par->codec_id == AV_CODEC_ID_VP8 &&
        par->width > 0 && par->height > 0) {
        AVRational fr = ht->frame_rate.num > 0 ? ht->frame_rate : (AVRational){30, 1};
        *default_dur = av_rescale_q(1, av_inv_q(fr), *tb);
        return true;
    }
    log_warn("recorder", k->name,
             "track %d (%s) is not recorded: only H.264, VP8, AAC, MP3 and Opus are "
             "(one video and one audio track)",
             i, avcodec_get_name(par->codec_id));
    return false;
}

/* Whether to record, and under whom (see recorder.h). */
static bool choose_owner(struct sink *k, struct hub *hub)
{
    const struct hub_publisher *pub = hub_publisher(hub);
    snprintf(k->info.stream_name, sizeof(k->info.stream_name), "%s", k->name);
    if (!pub) {
        snprintf(k->info.user_name, sizeof(k->info.user_name), "%s", RECORDER_OPEN_USER);
        return true;
    }
    if (!pub->record) {
        log_info("recorder", k->name, "not recorded: the stream's record flag is off");
        return false;
    }
    snprintf(k->info.stream_id, sizeof(k->info.stream_id), "%s", pub->stream_id);
    snprintf(k->info.user_id, sizeof(k->info.user_id), "%s", pub->user_id);
    snprintf(k->info.user_name, sizeof(k->info.user_name), "%s",
             pub->user_name[0] ? pub->user_name : "_");
    return true;
}

static int sink_start(void *opaque, struct hub *hub, const struct hub_track *tracks, int ntracks)
{
    struct sink *k = opaque;
    k->off = !choose_owner(k, hub);
    if (k->off)
        return 0; /* no warning from the hub: a choice, not a failure */
    struct fmp4_track ft[HUB_MAX_TRACKS];
    int n = 0;
    if (sink_front_start(k->front, tracks, ntracks) == 0) {
        log_error("recorder", k->name, "no track can be recorded; not recorded");
        k->off = true;
        return 0;
    }
    for (int i = 0; i < ntracks; i++) {
        k->mux_idx[i] = -1;
        if (!sink_front_used(k->front, i))
            continue;
        k->mux_idx[i] = n;
        ft[n++] = (struct fmp4_track){tracks[i].par, tracks[i].time_base};
    }
    if (fmp4_create(ft, n, k->name, &k->init, &k->mux) < 0) {
        k->off = true;
        return 0;
    }
    return 0;
}

/* Writes the packets still held (their durations guessed from the previous ones), the main
 * track's first: it may open a cut. */
static void release_all(struct sink *k)
{
    if (!k->off && !k->failed)
        sink_front_flush(k->front);
}

/* The source's configuration changed (a new resolution): the chunk so far ends with the
 * packets of the old configuration, and a new muxer makes the init section the next chunk
 * opens with, at the next keyframe (the hub's next packet of the track). The tracks' offsets
 * and last decode times are kept, so the new chunk's decode times go on from the old one's. */
static void sink_reconfigure(void *opaque, const struct hub_track *tracks, int ntracks)
{
    struct sink *k = opaque;
    if (k->off || k->failed || ntracks != sink_front_ntracks(k->front) || !k->mux)
        return;
    release_all(k);
    close_chunk(k);
    sink_front_reconfigure(k->front, tracks, ntracks); /* the new frame rate */
    struct fmp4_track ft[HUB_MAX_TRACKS];
    int n = 0;
    for (int i = 0; i < ntracks; i++)
        if (sink_front_used(k->front, i))
            ft[n++] = (struct fmp4_track){tracks[i].par, sink_front_track(k->front, i)->tb};
    fmp4_destroy(&k->mux);
    blob_unrefp(&k->init);
    int err = fmp4_create(ft, n, k->name, &k->init, &k->mux);
    if (err < 0) {
        fail(k, "reopening the muxer for the new configuration", err);
        return;
    }
    log_info("recorder", k->name,
             "the source's configuration changed: chunk %d ends here, "
             "the next one has the new parameters",
             k->seq);
}

static void sink_end(void *opaque)
{
    struct sink *k = opaque;
    release_all(k);
    close_chunk(k);
    if (k->file) {
        /* the I/O thread frees the file */
        push(k, IO_REC_END, NULL, 0, clock_wall_us(), k->media_end_us);
        k->file = NULL;
        metrics_add(k->r->m.recordings_active, -1);
        log_info("recorder", k->name, "recording %s ended after %d chunk(s)", k->info.id, k->seq);
    }
    if (k->paused)
        metrics_add(k->r->m.recorder_paused, -1);
    k->paused = false;
}

static void sink_destroy(void *opaque)
{
    struct sink *k = opaque;
    sink_end(k); /* a no-op after end; a hub that never started has nothing to end */
    sink_front_destroy(&k->front);
    fmp4_destroy(&k->mux);
    blob_unrefp(&k->init);
    free(k);
}

static const struct sink_front_ops front_ops = {
    .pick = on_pick,
    .release = on_release,
};

static const struct hub_sink_ops sink_ops = {
    .name = "recorder",
    .start = sink_start,
    .packet = sink_packet,
    .end = sink_end,
    .destroy = sink_destroy,
    .reconfigure = sink_reconfigure,
};

void recorder_on_hub(void *opaque, struct hub *hub)
{
    struct recorder *r = opaque;
    struct sink *k = xcalloc(1, sizeof(*k));
    k->r = r;
    k->front = sink_front_create(&front_ops, k, false);
    snprintf(k->name, sizeof(k->name), "%s", hub_name(hub));
    k->chunk_us = (int64_t)(r->cfg.chunk_seconds * 1e6);
    k->frag_us = (int64_t)(r->cfg.fragment_seconds * 1e6);
    hub_add_sink(hub, &sink_ops, k);
}
