/* The recorder's I/O thread: applies the sink's file operations in order (mkdir, open, write,
 * fdatasync, close), reports them to the upload queue, and owns the bounded queue between the
 * network thread and the disk. Also recorder_create/destroy. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "recorder/internal.h"

#define DEFAULT_QUEUE_MAX (64LL << 20)
/* Recording resumes after a full disk once this much is free beyond the database's reserve
 * (db.h): room for a few chunks, and never the database's last bytes. */
#define RESUME_MARGIN (8LL << 20)
#define DISK_CHECK_US 1000000
/* A difference this small between a chunk's start and the end of the media written before is
 * timestamp jitter (a duration guessed at a configuration change), not a gap. */
#define GAP_MIN_US 100000
/* After the stop, how long a shortage of descriptors is waited out before giving up. */
#define STOP_RETRY_US 5000000

/* ---- the queue ---- */

int io_push(struct recorder *r, struct io_item *it, bool droppable)
{
    int64_t len = it->data ? (int64_t)it->data->len : 0;
    pthread_mutex_lock(&r->mu);
    if (droppable && atomic_load(&r->queued_bytes) + len > r->cfg.queue_max_bytes) {
        pthread_mutex_unlock(&r->mu);
        return -ENOBUFS;
    }
    it->next = NULL;
    if (r->tail)
        r->tail->next = it;
    else
        r->head = it;
    r->tail = it;
    atomic_fetch_add(&r->queued_bytes, len);
    r->pushed++;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

static void report(struct recorder *r, enum upload_event_type type, const struct io_file *f,
                   int seq, int64_t bytes, int64_t duration_us, int64_t time_us)
{
    struct upload_event ev = {.type = type,
                              .rec = f->info,
                              .seq = seq,
                              .bytes = bytes,
                              .duration_us = duration_us,
                              .time_us = time_us};
    if (r->cfg.on_event)
        r->cfg.on_event(r->cfg.opaque, &ev);
}

/* ---- a full disk, a shortage of descriptors ---- */

static bool disk_full_err(int rc)
{
    return rc == -ENOSPC || rc == -EDQUOT;
}

/* A write found the disk full: every sink pauses (sink.c) until check_disk finds room. The
 * chunk being written keeps what it has. */
static void set_disk_full(struct recorder *r, const char *who, const char *path, int rc)
{
    if (atomic_exchange(&r->disk_full, true))
        return;
    r->disk_checked_us = clock_mono_us();
    metrics_add(r->m.recorder_disk_full, 1);
    log_error("recorder", who,
              "the disk is full (%s: %s): recording pauses on every stream, the live streams go "
              "on; it resumes when %lld MiB are free, and the gap is recorded",
              path, strerror(-rc), (long long)(r->resume_free_bytes >> 20));
}

/* While the disk is full, at most once a second: has it room again? */
static void check_disk(struct recorder *r)
{
    int64_t now = clock_mono_us();
    if (!atomic_load(&r->disk_full) || now - r->disk_checked_us < DISK_CHECK_US)
        return;
    r->disk_checked_us = now;
    struct statvfs v;
    if (statvfs(r->spool_dir, &v) < 0)
        return;
    int64_t avail = (int64_t)v.f_bavail * (int64_t)v.f_frsize;
    if (avail < r->resume_free_bytes)
        return;
    atomic_store(&r->disk_full, false);
    metrics_add(r->m.recorder_disk_full, -1);
    log_info("recorder", NULL,
             "the disk has room again (%lld MiB free in %s): recording resumes at each stream's "
             "next keyframe",
             (long long)(avail >> 20), r->spool_dir);
}

static bool stopping(struct recorder *r)
{
    pthread_mutex_lock(&r->mu);
    bool stop = r->stop;
    pthread_mutex_unlock(&r->mu);
    return stop;
}

/* open(2) that waits out a shortage of descriptors (EMFILE, ENFILE) instead of losing the
 * chunk: first the spare descriptor is given up, then the open is tried again with a backoff
 * (10 ms doubling to 1 s) for as long as it takes; what the sinks queue meanwhile waits in the
 * queue (past its bound fragments are dropped, and the gap recorded). Gives up only after the
 * stop, still short STOP_RETRY_US later. Returns the descriptor or a negative errno. */
static int open_retry(struct recorder *r, const char *who, const char *path, int flags, mode_t mode)
{
    int64_t give_up = 0;
    for (int ms = 10;; ms = ms < 500 ? ms * 2 : 1000) {
        int fd = open(path, flags | O_CLOEXEC, mode);
        if (fd >= 0) {
            if (r->fd_short)
                log_info("recorder", who, "file descriptors are available again");
            r->fd_short = false;
            if (r->spare_fd < 0)
                r->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            return fd;
        }
        int err = errno;
        if (err == EINTR)
            continue;
        if (err != EMFILE && err != ENFILE)
            return -err;
        if (r->spare_fd >= 0) {
            close(r->spare_fd);
            r->spare_fd = -1;
            continue;
        }
        metrics_add(r->m.recorder_fd_retries_total, 1);
        if (!r->fd_short)
            log_error("recorder", who,
                      "cannot open %s: %s; the recorder keeps what it has and tries again", path,
                      strerror(err));
        r->fd_short = true;
        if (stopping(r)) {
            int64_t now = clock_mono_us();
            if (!give_up)
                give_up = now + STOP_RETRY_US;
            else if (now > give_up)
                return -err;
        }
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* fs_sync_dir with open_retry. */
static int sync_dir(struct recorder *r, const char *who, const char *dir)
{
    int fd = open_retry(r, who, dir, O_RDONLY | O_DIRECTORY, 0);
    return fd < 0 ? fd : fs_sync_close(fd);
}

/* ---- file operations ---- */

/* Writes all of len bytes; returns 0 or a negative errno. */
static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* recording.json: who and when, so recovery can rebuild the rows from the spool alone. */
static int write_meta(struct recorder *r, const char *dir, const struct upload_rec_info *in)
{
    char path[1100], tmp[1110];
    snprintf(path, sizeof(path), "%s/recording.json", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "id", in->id, "stream", in->stream_name,
                          "stream_id", in->stream_id, "user_id", in->user_id, "user", in->user_name,
                          "started_at", (json_int_t)in->started_at);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text)
        return -ENOMEM;
    int rc = 0, fd = open_retry(r, in->stream_name, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        rc = fd;
    if (rc == 0)
        rc = write_all(fd, (const uint8_t *)text, strlen(text));
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (fd >= 0)
        close(fd);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
    free(text);
    return rc == 0 ? sync_dir(r, in->stream_name, dir) : rc;
}

static void rec_start(struct recorder *r, struct io_file *f, const struct io_item *it)
{
    char dir[1024];
    upload_chunk_path(r->spool_dir, f->info.id, 0, dir, sizeof(dir));
    f->media_end_us = it->media_us;
    int rc = mkdir(dir, 0755) < 0 && errno != EEXIST ? -errno : 0;
    if (rc == 0)
        rc = write_meta(r, dir, &f->info);
    if (rc == 0)
        rc = sync_dir(r, f->info.stream_name, r->spool_dir);
    if (disk_full_err(rc))
        set_disk_full(r, f->info.stream_name, dir, rc);
    else if (rc < 0)
        log_error("recorder", f->info.stream_name, "cannot create %s: %s", dir, strerror(-rc));
    report(r, UPLOAD_REC_START, f, 0, 0, 0, f->info.started_at);
}

/* The media time missing before the chunk opening at it->media_us. */
static int64_t gap_before(const struct io_file *f, const struct io_item *it)
{
    int64_t gap = it->media_us - f->media_end_us;
    return gap < GAP_MIN_US ? 0 : gap;
}

static void chunk_open(struct recorder *r, struct io_file *f, const struct io_item *it)
{
    char path[1024], dir[1024];
    upload_chunk_path(r->spool_dir, f->info.id, it->seq, path, sizeof(path));
    upload_chunk_path(r->spool_dir, f->info.id, 0, dir, sizeof(dir));
    f->seq = it->seq;
    f->bytes = 0;
    f->fragments = 0;
    f->broken = false;
    f->chunk_start_us = it->media_us;
    f->gap_us = gap_before(f, it);
    int rc = open_retry(r, f->info.stream_name, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    f->fd = rc < 0 ? -1 : rc;
    if (rc >= 0)
        rc = write_all(f->fd, it->data->data, it->data->len);
    if (rc == 0)
        rc = sync_dir(r, f->info.stream_name, dir);
    if (rc < 0) {
        if (disk_full_err(rc))
            set_disk_full(r, f->info.stream_name, path, rc);
        else
            log_error("recorder", f->info.stream_name, "cannot write %s: %s; this chunk is lost",
                      path, strerror(-rc));
        if (f->fd >= 0 && ftruncate(f->fd, 0) < 0)
            log_warn("recorder", f->info.stream_name, "cannot empty %s: %s", path, strerror(errno));
        f->broken = true;
    } else {
        f->bytes = (int64_t)it->data->len;
        metrics_add(r->m.spool_bytes, f->bytes);
    }
    struct upload_event ev = {.type = UPLOAD_CHUNK_OPEN,
                              .rec = f->info,
                              .seq = it->seq,
                              .time_us = it->time_us,
                              .gap_us = f->gap_us};
    if (r->cfg.on_event)
        r->cfg.on_event(r->cfg.opaque, &ev);
}

/* One fragment, made durable at once: a killed process loses at most the fragment being
 * written (about a second). A failed write is cut off again so the file stays valid. */
static void chunk_write(struct recorder *r, struct io_file *f, const struct io_item *it)
{
    const struct blob *b = it->data;
    if (f->fd < 0 || f->broken) {
        metrics_add(r->m.recorder_dropped_total, 1);
        return;
    }
    int rc = write_all(f->fd, b->data, b->len);
    if (rc == 0 && fdatasync(f->fd) < 0)
        rc = -errno;
    if (rc < 0) {
        if (disk_full_err(rc))
            set_disk_full(r, f->info.stream_name, "the spool", rc);
        log_error("recorder", f->info.stream_name,
                  "writing chunk %06d of recording %s failed: %s; the chunk ends here, with "
                  "what it has",
                  f->seq, f->info.id, strerror(-rc));
        if (ftruncate(f->fd, f->bytes) < 0)
            log_warn("recorder", f->info.stream_name, "cannot cut the chunk back: %s",
                     strerror(errno));
        f->broken = true;
        metrics_add(r->m.recorder_dropped_total, 1);
        return;
    }
    if (f->fragments == 0 && f->gap_us > 0) { /* the chunk after the gap is there: say so */
        metrics_add(r->m.recording_gaps_total, 1);
        log_warn("recorder", f->info.stream_name,
                 "recording %s: %.1f s of media missing before chunk %06d (recording was paused "
                 "or the disk too slow); recorded as a gap",
                 f->info.id, f->gap_us / 1e6, f->seq);
    }
    f->bytes += (int64_t)b->len;
    f->fragments++;
    f->media_end_us = it->media_us;
    metrics_add(r->m.spool_bytes, (int64_t)b->len);
}

static void chunk_close(struct recorder *r, struct io_file *f, const struct io_item *it)
{
    char path[1024];
    upload_chunk_path(r->spool_dir, f->info.id, f->seq, path, sizeof(path));
    if (f->fd >= 0) {
        if (fdatasync(f->fd) < 0)
            log_warn("recorder", f->info.stream_name, "fdatasync %s: %s", path, strerror(errno));
        close(f->fd);
        f->fd = -1;
    }
    int64_t bytes = f->bytes;
    if (f->fragments == 0) { /* no media: nothing worth keeping */
        if (unlink(path) == 0)
            metrics_add(r->m.spool_bytes, -bytes);
        bytes = 0;
    }
    /* The media written, not what the sink queued: a failed write ended the chunk early. */
    struct upload_event ev = {.type = UPLOAD_CHUNK_CLOSE,
                              .rec = f->info,
                              .seq = f->seq,
                              .bytes = bytes,
                              .duration_us = bytes ? f->media_end_us - f->chunk_start_us : 0,
                              .time_us = it->time_us,
                              .gap_us = f->gap_us};
    if (r->cfg.on_event)
        r->cfg.on_event(r->cfg.opaque, &ev);
}

static void rec_end(struct recorder *r, struct io_file *f, const struct io_item *it)
{
    if (f->fd >= 0)
        close(f->fd);
    int64_t gap = it->media_us - f->media_end_us;
    struct upload_event ev = {.type = UPLOAD_REC_END,
                              .rec = f->info,
                              .time_us = it->time_us,
                              .gap_us = gap >= GAP_MIN_US ? gap : 0};
    if (ev.gap_us) {
        metrics_add(r->m.recording_gaps_total, 1);
        log_warn("recorder", f->info.stream_name,
                 "recording %s: the last %.1f s of media are missing (recording was paused); "
                 "recorded as a gap",
                 f->info.id, gap / 1e6);
    }
    if (r->cfg.on_event)
        r->cfg.on_event(r->cfg.opaque, &ev);
}

static void apply(struct recorder *r, struct io_item *it)
{
    struct io_file *f = it->file;
    switch (it->type) {
    case IO_REC_START:
        rec_start(r, f, it);
        break;
    case IO_CHUNK_OPEN:
        chunk_open(r, f, it);
        break;
    case IO_WRITE:
        chunk_write(r, f, it);
        break;
    case IO_CHUNK_CLOSE:
        chunk_close(r, f, it);
        break;
    case IO_REC_END:
        rec_end(r, f, it);
        free(f);
        break;
    }
}

static void *io_main(void *arg)
{
    struct recorder *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->head && !r->stop) {
            if (!atomic_load(&r->disk_full)) {
                pthread_cond_wait(&r->cond, &r->mu);
                continue;
            }
            struct timespec ts; /* the disk is full: look for room once a second */
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&r->cond, &r->mu, &ts);
            pthread_mutex_unlock(&r->mu);
            check_disk(r);
            pthread_mutex_lock(&r->mu);
        }
        struct io_item *it = r->head;
        if (!it)
            break; /* stop, and everything applied */
        r->head = it->next;
        if (!r->head)
            r->tail = NULL;
        pthread_mutex_unlock(&r->mu);
        apply(r, it);
        check_disk(r);
        int64_t len = it->data ? (int64_t)it->data->len : 0;
        blob_unrefp(&it->data);
        free(it);
        pthread_mutex_lock(&r->mu);
        atomic_fetch_sub(&r->queued_bytes, len);
        r->done++;
        pthread_cond_broadcast(&r->cond);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int io_start(struct recorder *r)
{
    int err = pthread_create(&r->thread, NULL, io_main, r);
    r->thread_started = err == 0;
    return err ? -err : 0;
}

void io_stop(struct recorder *r)
{
    if (!r->thread_started)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
}

void recorder_sync(struct recorder *r)
{
    pthread_mutex_lock(&r->mu);
    uint64_t target = r->pushed;
    while (r->done < target)
        pthread_cond_wait(&r->cond, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

/* ---- lifetime ---- */

void recorder_metrics_register(struct metrics *m, struct recorder_metrics *mx)
{
    mx->recordings_active =
        metrics_gauge(m, "kibitka_recordings_active", "Streams being recorded now.");
    mx->recorder_paused = metrics_gauge(
        m, "kibitka_recordings_paused",
        "Recordings paused because the spool reached --spool-max-bytes or the disk is full.");
    mx->recorder_disk_full = metrics_gauge(
        m, "kibitka_recorder_disk_full",
        "1 while the recorder found the disk full (recording paused until it has room).");
    mx->recording_gaps_total = metrics_counter(
        m, "kibitka_recording_gaps_total",
        "Gaps recorded in recordings: media not written (paused, or the disk too slow).");
    mx->recorder_fd_retries_total =
        metrics_counter(m, "kibitka_recorder_fd_retries_total",
                        "Recorder file opens retried for lack of file descriptors (nothing lost).");
    mx->recorder_dropped_total = metrics_counter(
        m, "kibitka_recorder_dropped_total",
        "Recording fragments dropped (disk too slow: I/O queue full, or a write error).");
    mx->spool_bytes = metrics_gauge(m, "kibitka_spool_bytes", RECORDER_SPOOL_BYTES_HELP);
}

struct recorder *recorder_create(const struct recorder_config *cfg, struct hub_registry *hubs)
{
    if (!cfg->spool_dir || !cfg->metrics || cfg->chunk_seconds <= 0)
        return NULL;
    if (mkdir(cfg->spool_dir, 0755) < 0 && errno != EEXIST) {
        log_error("recorder", NULL, "cannot create the spool %s: %s", cfg->spool_dir,
                  strerror(errno));
        return NULL;
    }
    struct recorder *r = xcalloc(1, sizeof(*r));
    r->cfg = *cfg;
    r->spool_dir = xstrdup(cfg->spool_dir);
    r->cfg.spool_dir = r->spool_dir;
    recorder_metrics_register(cfg->metrics, &r->m);
    if (r->cfg.queue_max_bytes <= 0)
        r->cfg.queue_max_bytes = DEFAULT_QUEUE_MAX;
    if (r->cfg.fragment_seconds <= 0)
        r->cfg.fragment_seconds = 1;
    atomic_init(&r->queued_bytes, 0);
    atomic_init(&r->disk_full, false);
    r->resume_free_bytes = DB_SQLITE_RESERVE_BYTES + RESUME_MARGIN;
    r->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cond, NULL);
    int err = io_start(r);
    if (err < 0) {
        log_error("recorder", NULL, "cannot start the I/O thread: %s", strerror(-err));
        recorder_destroy(&r);
        return NULL;
    }
    if (hubs)
        hub_registry_observe(hubs, recorder_on_hub, r);
    return r;
}

void recorder_destroy(struct recorder **pr)
{
    struct recorder *r = *pr;
    if (!r)
        return;
    *pr = NULL;
    io_stop(r);
    if (r->spare_fd >= 0)
        close(r->spare_fd);
    if (atomic_load(&r->disk_full))
        metrics_add(r->m.recorder_disk_full, -1);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cond);
    free(r->spool_dir);
    free(r);
}
