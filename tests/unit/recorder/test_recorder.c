/* The recorder end to end without a network: a real hub fed with H.264 (keyframe every 1 s)
 * + AAC from libavcodec encoders; the chunk files in a temporary spool are opened with
 * libavformat. Checks: chunks cut at the first keyframe past --record-chunk, each a valid fMP4
 * starting with a keyframe, timestamps contiguous across chunks and no frame lost, the events
 * for the upload queue, the record flag, the spool limit (pause and resume), and recovery of
 * a chunk cut off mid-fragment. */
#include "recorder/recorder.h"

#include <dirent.h>
#include <fcntl.h>
#include <libavformat/avformat.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../packager/clip.h"
#include "core/alloc.h"
#include "media/boxes.h"
#include "recorder/internal.h" /* queued_bytes: test_spool_limit waits for the I/O thread */
#include "test.h"

static struct clip clip;
static char spool[256];

/* ---- the event collector (called on the recorder's I/O thread) ---- */

#define MAX_EVENTS 256
static struct upload_event events[MAX_EVENTS];
static int nevents;
static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
/* test_spool_limit plays the upload worker: closed chunks wait in the spool (keep_closed) until
 * the recorder pauses for room, then all of them are "uploaded" (removed). (Removing each
 * chunk from this callback the moment it closed made the pause depend on how far the I/O thread
 * lagged behind the stream: on a quiet machine the spool never filled and the test failed.) */
static bool keep_closed;
static struct metrics *metrics;                 /* reachable: not a leak at exit */
static struct upload_event waiting[MAX_EVENTS]; /* closed chunks not uploaded yet (ev_mu) */
static int nwaiting;

static void upload_waiting(void)
{
    pthread_mutex_lock(&ev_mu);
    for (int i = 0; i < nwaiting; i++) {
        char path[512];
        upload_chunk_path(spool, waiting[i].rec.id, waiting[i].seq, path, sizeof(path));
        if (unlink(path) == 0)
            metrics_add(metrics_gauge(metrics, "kibitka_spool_bytes", RECORDER_SPOOL_BYTES_HELP),
                        -waiting[i].bytes);
    }
    nwaiting = 0;
    pthread_mutex_unlock(&ev_mu);
}

static void on_event(void *opaque, const struct upload_event *ev)
{
    pthread_mutex_lock(&ev_mu);
    if (nevents < MAX_EVENTS)
        events[nevents++] = *ev;
    if (keep_closed && ev->type == UPLOAD_CHUNK_CLOSE && ev->bytes > 0 && nwaiting < MAX_EVENTS)
        waiting[nwaiting++] = *ev;
    pthread_mutex_unlock(&ev_mu);
}

static int count_events(enum upload_event_type type)
{
    int n = 0;
    for (int i = 0; i < nevents; i++)
        n += events[i].type == type;
    return n;
}

static void reset(void)
{
    nevents = 0;
    nwaiting = 0;
    keep_closed = false;
    metrics_destroy(&metrics);
    metrics = metrics_create();
}

/* ---- running a stream through a recorder ---- */

static struct recorder *make(double chunk_s, int64_t spool_max, struct hub_registry *hubs)
{
    struct recorder_config cfg = {.spool_dir = spool,
                                  .chunk_seconds = chunk_s,
                                  .spool_max_bytes = spool_max,
                                  .on_event = on_event,
                                  .metrics = metrics};
    return recorder_create(&cfg, hubs);
}

/* Publishes the whole clip as stream name (with pub when not NULL), then ends it. */
static void publish(struct hub_registry *hubs, const char *name, const struct hub_publisher *pub)
{
    struct hub *hub = NULL;
    CHECK_EQ_INT(hub_registry_claim(hubs, name, &hub), 0);
    if (!hub)
        return;
    if (pub)
        hub_set_publisher(hub, pub);
    struct hub_track tr[2] = {{clip.par[0], {1, 1000}, {30, 1}}, {clip.par[1], {1, 1000}, {0, 1}}};
    CHECK_EQ_INT(hub_start(hub, tr, 2), 0);
    for (int i = 0; i < clip.n; i++) {
        struct hub_packet hp = {clip.pkts[i].pkt, 1767225600000000LL + clip.pkts[i].pkt->dts,
                                false};
        hub_push(hub, &hp);
    }
    hub_end(hub);
    hub_unref(hub);
}

/* The clip as a publisher whose timestamps jump by delta_ms from at_ms on (the hub rebases). */
static void publish_jump(struct hub_registry *hubs, const char *name, int64_t at_ms,
                         int64_t delta_ms)
{
    struct hub *hub = NULL;
    CHECK_EQ_INT(hub_registry_claim(hubs, name, &hub), 0);
    if (!hub)
        return;
    struct hub_track tr[2] = {{clip.par[0], {1, 1000}, {30, 1}}, {clip.par[1], {1, 1000}, {0, 1}}};
    CHECK_EQ_INT(hub_start(hub, tr, 2), 0);
    AVPacket *p = av_packet_alloc();
    for (int i = 0; i < clip.n; i++) {
        av_packet_ref(p, clip.pkts[i].pkt);
        if (p->dts >= at_ms) {
            p->dts += delta_ms;
            p->pts += delta_ms;
        }
        struct hub_packet hp = {p, 1767225600000000LL + clip.pkts[i].pkt->dts, false};
        hub_push(hub, &hp);
        av_packet_unref(p);
    }
    av_packet_free(&p);
    hub_end(hub);
    hub_unref(hub);
}

/* ---- checking a chunk file ---- */

struct chunk_info {
    int video, audio, keyframes;
    bool first_key;
    int64_t v_first, v_end, a_first, a_end; /* us */
};

static bool probe(const char *path, struct chunk_info *ci)
{
    memset(ci, 0, sizeof(*ci));
    ci->v_first = ci->a_first = INT64_MAX;
    AVFormatContext *fmt = NULL;
    if (avformat_open_input(&fmt, path, NULL, NULL) < 0)
        return false;
    bool ok = avformat_find_stream_info(fmt, NULL) >= 0 && fmt->nb_streams == 2;
    AVPacket *p = av_packet_alloc();
    while (ok && av_read_frame(fmt, p) >= 0) {
        AVStream *st = fmt->streams[p->stream_index];
        int64_t dts = av_rescale_q(p->dts, st->time_base, (AVRational){1, 1000000});
        int64_t end = av_rescale_q(p->dts + p->duration, st->time_base, (AVRational){1, 1000000});
        if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
            if (ci->video++ == 0)
                ci->first_key = p->flags & AV_PKT_FLAG_KEY;
            ci->keyframes += !!(p->flags & AV_PKT_FLAG_KEY);
            ci->v_first = dts < ci->v_first ? dts : ci->v_first;
            ci->v_end = end > ci->v_end ? end : ci->v_end;
        } else {
            ci->audio++;
            ci->a_first = dts < ci->a_first ? dts : ci->a_first;
            ci->a_end = end > ci->a_end ? end : ci->a_end;
        }
        av_packet_unref(p);
    }
    av_packet_free(&p);
    avformat_close_input(&fmt);
    return ok;
}

static void rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[768];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            rm_rf(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void clean_spool(void)
{
    rm_rf(spool);
    mkdir(spool, 0755);
}

/* The chunk's samples as its moofs flag them: every audio sample a sync sample (RTMP gives
 * audio no key flag), video sync exactly on its keyframes. */
static void check_sample_flags(const char *path, const struct chunk_info *ci)
{
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0) {
        CHECK(!"chunk readable");
        if (fd >= 0)
            close(fd);
        return;
    }
    uint8_t *data = xmalloc((size_t)sb.st_size);
    CHECK(read(fd, data, (size_t)sb.st_size) == sb.st_size);
    close(fd);
    struct boxes b = {0};
    boxes_read(&b, data, (size_t)sb.st_size);
    free(data);
    struct box_track *v = boxes_by_handler(&b, "vide"), *a = boxes_by_handler(&b, "soun");
    CHECK(v && a);
    if (!v || !a)
        return;
    CHECK_EQ_INT(a->sync, ci->audio);
    CHECK_EQ_INT(a->non_sync, 0);
    CHECK_EQ_INT(v->sync, ci->keyframes);
    CHECK_EQ_INT(v->non_sync, ci->video - ci->keyframes);
}

/* ---- tests ---- */

/* 10 s of media, keyframes every second, chunks of 3 s: cuts at 3, 6, 9 s: four chunks. */
static void test_chunks(void)
{
    reset();
    clean_spool();
    struct hub_registry *hubs = hub_registry_create();
    struct recorder *r = make(3, 0, hubs);
    CHECK(r != NULL);
    publish(hubs, "cam", NULL);
    recorder_destroy(&r);
    hub_registry_destroy(&hubs);

    CHECK_EQ_INT(count_events(UPLOAD_REC_START), 1);
    CHECK_EQ_INT(count_events(UPLOAD_CHUNK_OPEN), 4);
    CHECK_EQ_INT(count_events(UPLOAD_CHUNK_CLOSE), 4);
    CHECK_EQ_INT(count_events(UPLOAD_REC_END), 1);
    CHECK_EQ_INT(nevents > 0 ? (int)events[0].type : -1, UPLOAD_REC_START);
    CHECK_EQ_INT(nevents > 0 ? (int)events[nevents - 1].type : -1, UPLOAD_REC_END);
    CHECK_STREQ(events[0].rec.user_name, RECORDER_OPEN_USER); /* --open-publish: no publisher */
    CHECK_STREQ(events[0].rec.stream_name, "cam");
    CHECK_STREQ(events[0].rec.stream_id, "");
    CHECK_EQ_INT(strlen(events[0].rec.id), 32);

    int video = 0, audio = 0, seq = 0;
    int64_t prev_v_end = 0, prev_a_end = -1;
    for (int i = 0; i < nevents; i++) {
        const struct upload_event *ev = &events[i];
        if (ev->type != UPLOAD_CHUNK_CLOSE)
            continue;
        CHECK_EQ_INT(ev->seq, ++seq);
        char path[512];
        upload_chunk_path(spool, ev->rec.id, ev->seq, path, sizeof(path));
        struct stat sb;
        CHECK(stat(path, &sb) == 0 && sb.st_size == ev->bytes);
        struct chunk_info ci;
        CHECK(probe(path, &ci));
        CHECK(ci.first_key);
        check_sample_flags(path, &ci);
        video += ci.video;
        audio += ci.audio;
        /* contiguous: each chunk's video starts where the previous ended (libavformat's
         * reading rounds the sample times to the track's timescale: 1 ms of slack) */
        CHECK(llabs(ci.v_first - prev_v_end) <= 1000);
        fprintf(stderr, "chunk %d: video %d [%lld, %lld) audio %d [%lld, %lld)\n", seq, ci.video,
                (long long)ci.v_first, (long long)ci.v_end, ci.audio, (long long)ci.a_first,
                (long long)ci.a_end);
        if (prev_a_end >= 0) /* audio follows on too */
            CHECK(llabs(ci.a_first - prev_a_end) <= 1000);
        if (seq < 4) {
            CHECK(llabs(ci.v_end - ci.v_first - 3000000) <= 1000); /* cut at the keyframe at 3 s */
            CHECK(ev->duration_us >= 3000000 && ev->duration_us < 3100000);
            CHECK_EQ_INT(ci.keyframes, 3);
        }
        prev_v_end = ci.v_end;
        prev_a_end = ci.a_end;
    }
    CHECK_EQ_INT(video, clip.video_frames);
    /* all the audio but the frames before the first video keyframe was released */
    CHECK(audio >= clip.audio_frames - 4 && audio <= clip.audio_frames + 2);
    /* meta for recovery */
    char meta[512];
    snprintf(meta, sizeof(meta), "%s/%s/recording.json", spool, events[0].rec.id);
    CHECK(access(meta, R_OK) == 0);
    CHECK(metrics_value(metrics, "kibitka_spool_bytes", NULL) > 0);
    CHECK_EQ_INT(metrics_value(metrics, "kibitka_recordings_active", NULL), 0);
}

/* Timestamps that jump +3 h, back 3 h, or by -2^31 ms (a 31-bit clock's wrap, as RTMP ingest
 * extends it) at 4.5 s, mid-GOP, with --record-chunk 60 (issue 11 item 5): a new chunk at the
 * next keyframe (5 s), the timeline going on across it, and chunk durations adding up to the
 * 10 s published, never hours. */
static void test_jump(int64_t delta_ms)
{
    reset();
    clean_spool();
    struct hub_registry *hubs = hub_registry_create();
    struct recorder *r = make(60, 0, hubs);
    publish_jump(hubs, "jumpy", 4500, delta_ms);
    recorder_destroy(&r);
    hub_registry_destroy(&hubs);
    CHECK_EQ_INT(count_events(UPLOAD_CHUNK_CLOSE), 2);
    int64_t total = 0, prev_v_end = 0;
    int video = 0;
    for (int i = 0; i < nevents; i++) {
        const struct upload_event *ev = &events[i];
        if (ev->type != UPLOAD_CHUNK_CLOSE)
            continue;
        char path[512];
        upload_chunk_path(spool, ev->rec.id, ev->seq, path, sizeof(path));
        struct chunk_info ci;
        CHECK(probe(path, &ci));
        CHECK(ci.first_key);
        CHECK(llabs(ci.v_first - prev_v_end) <= 1000); /* continuous across the jump */
        fprintf(stderr, "jump %+lld ms: chunk %d: %.3f s, video [%lld, %lld)\n",
                (long long)delta_ms, ev->seq, (double)ev->duration_us / 1e6, (long long)ci.v_first,
                (long long)ci.v_end);
        if (ev->seq == 1)
            CHECK(llabs(ev->duration_us - 5000000) <= 1000); /* cut at the keyframe at 5 s */
        prev_v_end = ci.v_end;
        total += ev->duration_us;
        video += ci.video;
    }
    CHECK(total > 9900000 && total < 10200000);
    CHECK_EQ_INT(video, clip.video_frames); /* nothing dropped */
}

/* The width in the first avc1 sample entry of an mp4 file, or -1. */
static int avc1_width(const char *path)
{
    uint8_t head[8192];
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, head, sizeof(head)) : -1;
    if (fd >= 0)
        close(fd);
    for (ssize_t i = 0; i + 30 < n; i++)
        if (!memcmp(head + i, "avc1", 4))
            return head[i + 28] << 8 | head[i + 29];
    return -1;
}

/* A resolution change at the keyframe at 4 s (hub_reconfigure, as RTMP ingest does on a new
 * sequence header) with chunks of 100 s: the chunk ends there and the next one opens with a
 * new init section (the new width), its decode times going on from the first's; no frame is
 * lost. */
static void test_reconfigure(void)
{
    reset();
    clean_spool();
    struct hub_registry *hubs = hub_registry_create();
    struct recorder *r = make(100, 0, hubs);
    struct hub *hub = NULL;
    CHECK_EQ_INT(hub_registry_claim(hubs, "cam", &hub), 0);
    struct hub_track tr[2] = {{clip.par[0], {1, 1000}, {30, 1}}, {clip.par[1], {1, 1000}, {0, 1}}};
    CHECK_EQ_INT(hub_start(hub, tr, 2), 0);
    AVCodecParameters *wide = avcodec_parameters_alloc();
    avcodec_parameters_copy(wide, clip.par[0]);
    wide->width *= 2;
    wide->height *= 2;
    bool changed = false;
    for (int i = 0; i < clip.n; i++) {
        const AVPacket *p = clip.pkts[i].pkt;
        if (!changed && p->stream_index == 0 && (p->flags & AV_PKT_FLAG_KEY) && p->pts >= 4000) {
            struct hub_track tr2[2] = {{wide, {1, 1000}, {30, 1}}, tr[1]};
            CHECK_EQ_INT(hub_reconfigure(hub, tr2, 2), 0);
            changed = true;
        }
        struct hub_packet hp = {p, 1767225600000000LL + p->dts, false};
        hub_push(hub, &hp);
    }
    hub_end(hub);
    hub_unref(hub);
    recorder_destroy(&r);
    hub_registry_destroy(&hubs);

    CHECK_EQ_INT(count_events(UPLOAD_CHUNK_CLOSE), 2);
    int video = 0, seq = 0;
    int64_t prev_v_end = 0;
    for (int i = 0; i < nevents; i++) {
        const struct upload_event *ev = &events[i];
        if (ev->type != UPLOAD_CHUNK_CLOSE)
            continue;
        seq++;
        char path[512];
        upload_chunk_path(spool, ev->rec.id, ev->seq, path, sizeof(path));
        struct chunk_info ci;
        CHECK(probe(path, &ci));
        CHECK(ci.first_key);
        CHECK_EQ_INT(avc1_width(path), seq == 1 ? clip.par[0]->width : wide->width);
        fprintf(stderr, "reconfigure chunk %d: video %d [%lld, %lld)\n", seq, ci.video,
                (long long)ci.v_first, (long long)ci.v_end);
        if (seq == 1)
            CHECK(llabs(ci.v_end - 4000000) <= 1000); /* ends at the change */
        else
            CHECK(llabs(ci.v_first - prev_v_end) <= 1000); /* and the next goes on from there */
        prev_v_end = ci.v_end;
        video += ci.video;
    }
    CHECK_EQ_INT(video, clip.video_frames);
    avcodec_parameters_free(&wide);
}

static void test_record_flag(void)
{
    reset();
    clean_spool();
    struct hub_registry *hubs = hub_registry_create();
    struct recorder *r = make(3, 0, hubs);
    struct hub_publisher pub = {"sid", "uid", "alice", false};
    publish(hubs, "quiet", &pub);
    CHECK_EQ_INT(nevents, 0);
    pub.record = true;
    publish(hubs, "loud", &pub);
    recorder_destroy(&r);
    hub_registry_destroy(&hubs);
    CHECK(nevents > 0);
    CHECK_STREQ(events[0].rec.user_name, "alice");
    CHECK_STREQ(events[0].rec.stream_id, "sid");
    CHECK_STREQ(events[0].rec.user_id, "uid");
}

/* A spool limit far below the stream: recording pauses, resumes when "uploads" free space,
 * and every chunk written is still valid, starting on a keyframe. */
static void test_spool_limit(void)
{
    reset();
    clean_spool();
    keep_closed = true;
    struct hub_registry *hubs = hub_registry_create();
    struct recorder *r = make(2, 60000, hubs);
    struct hub *hub = NULL;
    CHECK_EQ_INT(hub_registry_claim(hubs, "cam", &hub), 0);
    struct hub_track tr[2] = {{clip.par[0], {1, 1000}, {30, 1}}, {clip.par[1], {1, 1000}, {0, 1}}};
    CHECK_EQ_INT(hub_start(hub, tr, 2), 0);
    int pauses = 0;
    for (int i = 0; hub && i < clip.n; i++) {
        struct hub_packet hp = {clip.pkts[i].pkt, 1767225600000000LL + clip.pkts[i].pkt->dts,
                                false};
        hub_push(hub, &hp); /* the recorder's sink runs in it */
        if (metrics_value(metrics, "kibitka_recordings_paused", NULL) == 0)
            continue;
        /* Paused: upload what the I/O thread closed until the spool has room again (the next
         * keyframe then resumes the recording), as the upload worker would in real time. The
         * room counts only once the I/O thread has written everything queued: the recorder
         * counts queued bytes as used, and with the spool gauge alone the loop went on while
         * the paused chunk was still queued, pushed the rest of the clip before it closed, and
         * the recording never resumed (8 of 30 runs). */
        pauses++;
        for (int k = 0; k < 5000; k++) {
            upload_waiting();
            if (atomic_load(&r->queued_bytes) == 0 &&
                metrics_value(metrics, "kibitka_spool_bytes", NULL) < 30000)
                break;
            usleep(1000);
        }
    }
    if (hub) {
        hub_end(hub);
        hub_unref(hub);
    }
    recorder_destroy(&r);
    hub_registry_destroy(&hubs);
    upload_waiting(); /* the rest, after the end */
    CHECK(pauses > 0);
    int closes = count_events(UPLOAD_CHUNK_CLOSE);
    CHECK(closes >= 3); /* recording resumed once uploads made room */
    CHECK_EQ_INT(metrics_value(metrics, "kibitka_recordings_paused", NULL), 0);
    CHECK_EQ_INT(metrics_value(metrics, "kibitka_spool_bytes", NULL), 0);
    int64_t covered = 0;
    for (int i = 0; i < nevents; i++)
        if (events[i].type == UPLOAD_CHUNK_CLOSE)
            covered += events[i].duration_us;
    CHECK(covered < 10000000); /* some of the stream was skipped while paused */
    fprintf(stderr, "spool limit: %d chunks, %.1f s recorded of 10\n", closes, covered / 1e6);
}

/* Copies src to dst keeping its first len bytes. */
static void copy_prefix(const char *src, const char *dst, int64_t len)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    char buf[4096];
    size_t n;
    while (in && out && len > 0 && (n = fread(buf, 1, sizeof(buf), in)) > 0) {
        size_t w = (size_t)len < n ? (size_t)len : n;
        fwrite(buf, 1, w, out);
        len -= (int64_t)w;
    }
    if (in)
        fclose(in);
    if (out)
        fclose(out);
}

/* A chunk cut mid-fragment (kill -9 while writing): recovery cuts it back to its last
 * complete fragment, which plays, and reports it; a chunk without even an init section goes. */
static void test_recover(void)
{
    reset();
    clean_spool();
    struct hub_registry *hubs = hub_registry_create();
    struct recorder *r = make(100, 0, hubs); /* one chunk of 10 s */
    publish(hubs, "cam", NULL);
    recorder_destroy(&r);
    hub_registry_destroy(&hubs);
    CHECK_EQ_INT(count_events(UPLOAD_CHUNK_CLOSE), 1);
    struct upload_rec_info ri = events[0].rec;
    char path[512], cut[512], tiny[512];
    upload_chunk_path(spool, ri.id, 1, path, sizeof(path));
    upload_chunk_path(spool, ri.id, 2, cut, sizeof(cut));
    upload_chunk_path(spool, ri.id, 3, tiny, sizeof(tiny));
    struct stat sb;
    CHECK_EQ_INT(stat(path, &sb), 0);
    int fd = open(path, O_RDONLY);
    int frags = 0;
    CHECK_EQ_INT(recorder_fmp4_complete(fd, sb.st_size, &frags), sb.st_size);
    CHECK(frags >= 9 && frags <= 11); /* a fragment a second */
    close(fd);
    struct chunk_info whole;
    CHECK(probe(path, &whole));

    copy_prefix(path, cut, sb.st_size * 2 / 3); /* mid-fragment */
    copy_prefix(path, tiny, 20);                /* inside ftyp */
    unlink(path);                               /* chunk 1 was "uploaded" */
    metrics_set(metrics_gauge(metrics, "kibitka_spool_bytes", RECORDER_SPOOL_BYTES_HELP), 0);

    reset();
    struct recorder_recover_config rc = {NULL, spool, on_event, NULL, metrics};
    CHECK_EQ_INT(recorder_recover(&rc), 1);
    CHECK_EQ_INT(access(tiny, F_OK), -1);
    CHECK_EQ_INT(count_events(UPLOAD_REC_START), 1);
    CHECK_EQ_INT(count_events(UPLOAD_REC_END), 1);
    const struct upload_event *closed = NULL;
    for (int i = 0; i < nevents; i++)
        if (events[i].type == UPLOAD_CHUNK_CLOSE && events[i].seq == 2)
            closed = &events[i];
    CHECK(closed != NULL);
    if (!closed)
        return;
    CHECK_STREQ(closed->rec.id, ri.id);
    CHECK_STREQ(closed->rec.user_name, ri.user_name);
    CHECK_EQ_INT(closed->rec.started_at, ri.started_at);
    CHECK_EQ_INT(stat(cut, &sb), 0);
    CHECK_EQ_INT(sb.st_size, closed->bytes);
    CHECK(closed->bytes < whole.video * 1000000); /* sanity */
    CHECK_EQ_INT(metrics_value(metrics, "kibitka_spool_bytes", NULL), closed->bytes);
    struct chunk_info part;
    CHECK(probe(cut, &part));
    CHECK(part.first_key);
    CHECK(part.video > 0 && part.video < whole.video);
    CHECK(closed->duration_us > 3000000 && closed->duration_us < 8000000);
    /* the tiny one was reported with no bytes, so its row goes */
    bool tiny_gone = false;
    for (int i = 0; i < nevents; i++)
        tiny_gone |=
            events[i].type == UPLOAD_CHUNK_CLOSE && events[i].seq == 3 && events[i].bytes == 0;
    CHECK(tiny_gone);
    fprintf(stderr, "recovery: %lld of %lld bytes kept, %d of %d frames\n",
            (long long)closed->bytes, (long long)(sb.st_size), part.video, whole.video);
}

int main(void)
{
    snprintf(spool, sizeof(spool), "/tmp/kibitka-rec-test-%d", (int)getpid());
    if (clip_make(&clip, 10, 30, 30, true) < 0) {
        fprintf(stderr, "test_recorder: cannot encode the test clip (libx264, aac)\n");
        return 1;
    }
    test_chunks();
    test_reconfigure();
    test_record_flag();
    test_spool_limit();
    test_recover();
    test_jump(3LL * 3600 * 1000);
    test_jump(-3LL * 3600 * 1000);
    test_jump(-(1LL << 31));
    rm_rf(spool);
    clip_free(&clip);
    return test_report("test_recorder");
}
