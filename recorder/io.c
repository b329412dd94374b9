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
#include <unistd.h>

#include "core/alloc.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "recorder/internal.h"

#define DEFAULT_QUEUE_MAX (64LL << 20)

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
static int write_meta(const char *dir, const struct upload_rec_info *in)
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
    int rc = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        rc = -errno;
    if (rc == 0)
        rc = write_all(fd, (const uint8_t *)text, strlen(text));
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (fd >= 0)
        close(fd);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    free(text);
    return rc == 0 ? fs_sync_dir(dir) : rc;
}

static void rec_start(struct recorder *r, struct io_file *f)
{
    char dir[1024];
    upload_chunk_path(r->spool_dir, f->info.id, 0, dir, sizeof(dir));
    int rc = mkdir(dir, 0755) < 0 && errno != EEXIST ? -errno : 0;
    if (rc == 0)
        rc = write_meta(dir, &f->info);
    if (rc == 0)
        rc = fs_sync_dir(r->spool_dir);
    if (rc < 0)
        log_error("recorder", f->info.stream_name, "cannot create %s: %s", dir, strerror(-rc));
    report(r, UPLOAD_REC_START, f, 0, 0, 0, f->info.started_at);
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
    f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = f->fd < 0 ? -errno : write_all(f->fd, it->data->data, it->data->len);
    if (rc == 0)
        rc = fs_sync_dir(dir);
    if (rc < 0) {
        log_error("recorder", f->info.stream_name, "cannot write %s: %s; this chunk is lost", path,
                  strerror(-rc));
        f->broken = true;
    } else {
        f->bytes = (int64_t)it->data->len;
        metrics_add(&r->m->spool_bytes, f->bytes);
    }
    report(r, UPLOAD_CHUNK_OPEN, f, it->seq, 0, 0, it->time_us);
}

/* One fragment, made durable at once: a killed process loses at most the fragment being
 * written (about a second). A failed write is cut off again so the file stays valid. */
static void chunk_write(struct recorder *r, struct io_file *f, const struct blob *b)
{
    if (f->fd < 0 || f->broken) {
        metrics_add(&r->m->recorder_dropped_total, 1);
        return;
    }
    int rc = write_all(f->fd, b->data, b->len);
    if (rc == 0 && fdatasync(f->fd) < 0)
        rc = -errno;
    if (rc < 0) {
        log_error("recorder", f->info.stream_name,
                  "writing chunk %06d of recording %s failed: %s; the chunk ends here", f->seq,
                  f->info.id, strerror(-rc));
        if (ftruncate(f->fd, f->bytes) < 0)
            log_warn("recorder", f->info.stream_name, "cannot cut the chunk back: %s",
                     strerror(errno));
        f->broken = true;
        metrics_add(&r->m->recorder_dropped_total, 1);
        return;
    }
    f->bytes += (int64_t)b->len;
    f->fragments++;
    metrics_add(&r->m->spool_bytes, (int64_t)b->len);
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
            metrics_add(&r->m->spool_bytes, -bytes);
        bytes = 0;
    }
    report(r, UPLOAD_CHUNK_CLOSE, f, f->seq, bytes, it->duration_us, it->time_us);
}

static void apply(struct recorder *r, struct io_item *it)
{
    struct io_file *f = it->file;
    switch (it->type) {
    case IO_REC_START:
        rec_start(r, f);
        break;
    case IO_CHUNK_OPEN:
        chunk_open(r, f, it);
        break;
    case IO_WRITE:
        chunk_write(r, f, it->data);
        break;
    case IO_CHUNK_CLOSE:
        chunk_close(r, f, it);
        break;
    case IO_REC_END:
        if (f->fd >= 0)
            close(f->fd);
        report(r, UPLOAD_REC_END, f, 0, 0, 0, it->time_us);
        free(f);
        break;
    }
}

static void *io_main(void *arg)
{
    struct recorder *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->head && !r->stop)
            pthread_cond_wait(&r->cond, &r->mu);
        struct io_item *it = r->head;
        if (!it)
            break; /* stop, and everything applied */
        r->head = it->next;
        if (!r->head)
            r->tail = NULL;
        pthread_mutex_unlock(&r->mu);
        apply(r, it);
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
    return err ? -err : 0;
}

void io_stop(struct recorder *r)
{
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
    r->m = cfg->metrics;
    if (r->cfg.queue_max_bytes <= 0)
        r->cfg.queue_max_bytes = DEFAULT_QUEUE_MAX;
    if (r->cfg.fragment_seconds <= 0)
        r->cfg.fragment_seconds = 1;
    atomic_init(&r->queued_bytes, 0);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cond, NULL);
    int err = io_start(r);
    if (err < 0) {
        log_error("recorder", NULL, "cannot start the I/O thread: %s", strerror(-err));
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cond);
        free(r->spool_dir);
        free(r);
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
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cond);
    free(r->spool_dir);
    free(r);
}
