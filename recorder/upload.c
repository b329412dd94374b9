/* The durable upload queue: the worker that applies recorder events to the database and moves
 * closed chunks to the store. See upload.h for the contract. */
#include "recorder/upload.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

#define DEFAULT_BACKOFF_MIN_MS 1000
#define DEFAULT_BACKOFF_MAX_MS 60000
#define DEFAULT_MAX_TRIES 5
#define DEFAULT_STOP_TIMEOUT_MS 3000

struct event {
    struct event *next;
    struct upload_event ev;
};

/* A closed chunk waiting for the store. */
struct job {
    struct job *next;
    struct upload_rec_info rec;
    int seq;
    int64_t bytes, ended_at;
    int tries;      /* failed attempts with a permanent-looking error */
    bool confirmed; /* the store has it; only the row and the file are left to settle */
};

struct upload {
    struct upload_config cfg;
    char *spool_dir, *store_name;
    struct upload_metrics m;

    pthread_mutex_t mu; /* the lists, stop, next_try_us, busy */
    pthread_cond_t cond;
    struct event *ev_head, *ev_tail;
    struct job *jobs, *jobs_tail;
    int njobs;
    bool stop, busy;
    int64_t inflight_end; /* the end time of the chunk being uploaded; 0: none */
    int64_t next_try_us;  /* monotonic: no upload before this (backoff) */
    int64_t backoff_ms;   /* the next wait after a failure; 0 after a success */
    int last_error;       /* the last failure's code, to log a change once */

    /* Held by the worker around every database call and spool change after an upload;
     * upload_destroy takes it to abandon the worker, which then touches nothing shared. */
    pthread_mutex_t dbmu;
    bool abandoned;
    pthread_t thread;
};

/* ---- keys and paths ---- */

int upload_object_key(const struct upload_rec_info *rec, int seq, char *out, size_t outlen)
{
    char user[72], date[16];
    size_t i = 0;
    for (; rec->user_name[i] && i < sizeof(user) - 1; i++) {
        char c = rec->user_name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        user[i] = ok ? c : '_';
    }
    user[i] = '\0';
    if (i == 0 || !strcmp(user, ".") || !strcmp(user, ".."))
        snprintf(user, sizeof(user), "_");
    time_t t = (time_t)(rec->started_at / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d", &tm);
    int n =
        snprintf(out, outlen, "%s/%s/%s/%s/%06d.mp4", user, rec->stream_name, date, rec->id, seq);
    return n < 0 || (size_t)n >= outlen ? -ENOSPC : n;
}

int upload_chunk_path(const char *spool, const char *id, int seq, char *out, size_t outlen)
{
    int n = seq > 0 ? snprintf(out, outlen, "%s/%s/%06d.mp4", spool, id, seq)
                    : snprintf(out, outlen, "%s/%s", spool, id);
    return n < 0 || (size_t)n >= outlen ? -ENOSPC : n;
}

/* ---- the lists ---- */

static void publish_queue_locked(struct upload *u);

void upload_post(struct upload *u, const struct upload_event *ev)
{
    struct event *e = xcalloc(1, sizeof(*e));
    e->ev = *ev;
    pthread_mutex_lock(&u->mu);
    if (u->ev_tail)
        u->ev_tail->next = e;
    else
        u->ev_head = e;
    u->ev_tail = e;
    if (ev->type == UPLOAD_CHUNK_CLOSE)
        publish_queue_locked(u);
    pthread_cond_broadcast(&u->cond);
    pthread_mutex_unlock(&u->mu);
}

void upload_post_cb(void *opaque, const struct upload_event *ev)
{
    upload_post(opaque, ev);
}

static void older(int64_t *oldest, int64_t t)
{
    if (t > 0 && (!*oldest || t < *oldest))
        *oldest = t;
}

/* The queue figures for /metrics, under mu: closed chunks not yet in the store, whether queued,
 * being uploaded, or still an event waiting behind a long store call. */
static void publish_queue_locked(struct upload *u)
{
    int64_t n = u->njobs + (u->inflight_end ? 1 : 0), oldest = 0;
    older(&oldest, u->inflight_end);
    for (struct job *j = u->jobs; j; j = j->next)
        older(&oldest, j->ended_at);
    for (struct event *e = u->ev_head; e; e = e->next) {
        if (e->ev.type == UPLOAD_CHUNK_CLOSE && e->ev.bytes > 0) {
            n++;
            older(&oldest, e->ev.time_us);
        }
    }
    metrics_set(u->m.upload_queue_chunks, n);
    metrics_set(u->m.upload_oldest_pending_us, oldest);
}

static void job_push(struct upload *u, struct job *j, bool front)
{
    pthread_mutex_lock(&u->mu);
    if (front) {
        j->next = u->jobs;
        u->jobs = j;
        if (!u->jobs_tail)
            u->jobs_tail = j;
    } else {
        j->next = NULL;
        if (u->jobs_tail)
            u->jobs_tail->next = j;
        else
            u->jobs = j;
        u->jobs_tail = j;
    }
    u->njobs++;
    publish_queue_locked(u);
    pthread_mutex_unlock(&u->mu);
}

/* Under mu. */
static struct job *job_pop_locked(struct upload *u)
{
    struct job *j = u->jobs;
    u->jobs = j->next;
    if (!u->jobs)
        u->jobs_tail = NULL;
    u->njobs--;
    j->next = NULL;
    publish_queue_locked(u);
    return j;
}

/* Sleeps on cond until deadline (monotonic us; 0 = none) or a broadcast; under mu. */
static void wait_locked(struct upload *u, int64_t deadline_us)
{
    if (!deadline_us) {
        pthread_cond_wait(&u->cond, &u->mu);
        return;
    }
    struct timespec ts = {(time_t)(deadline_us / 1000000), (long)(deadline_us % 1000000) * 1000};
    pthread_cond_timedwait(&u->cond, &u->mu, &ts);
}

/* The failure backoff: the next upload waits; the wait doubles up to the cap. */
static void backoff(struct upload *u)
{
    pthread_mutex_lock(&u->mu);
    u->backoff_ms = u->backoff_ms ? u->backoff_ms * 2 : u->cfg.backoff_min_ms;
    if (u->backoff_ms > u->cfg.backoff_max_ms)
        u->backoff_ms = u->cfg.backoff_max_ms;
    u->next_try_us = clock_mono_us() + u->backoff_ms * 1000;
    pthread_mutex_unlock(&u->mu);
}

static void backoff_reset(struct upload *u)
{
    pthread_mutex_lock(&u->mu);
    u->backoff_ms = 0;
    u->next_try_us = 0;
    pthread_mutex_unlock(&u->mu);
}

/* ---- events -> database ---- */

static bool db_transient(int rc)
{
    return rc == -EBUSY || rc == -EIO || rc == -ENOSPC;
}

static int rec_create(struct upload *u, const struct upload_rec_info *ri)
{
    struct db_recording r = {
        .id = (char *)ri->id,
        .stream_id = ri->stream_id[0] ? (char *)ri->stream_id : NULL,
        .stream_name = (char *)ri->stream_name,
        .user_id = ri->user_id[0] ? (char *)ri->user_id : NULL,
        .user_name = (char *)ri->user_name,
        .started_at = ri->started_at,
        .state = DB_REC_RECORDING,
    };
    int rc = db_recording_create(u->cfg.db, &r);
    if (rc == -ENOENT) { /* the stream or its owner was deleted meanwhile: keep it unlinked */
        r.stream_id = r.user_id = NULL;
        rc = db_recording_create(u->cfg.db, &r);
    }
    return rc == -EEXIST ? 0 : rc;
}

static int chunk_create(struct upload *u, const struct upload_event *ev, enum db_chunk_state st)
{
    char key[512];
    if (upload_object_key(&ev->rec, ev->seq, key, sizeof(key)) < 0)
        return -EINVAL;
    struct db_chunk c = {.recording_id = (char *)ev->rec.id,
                         .seq = ev->seq,
                         .object_key = key,
                         .state = st,
                         .bytes = ev->bytes,
                         .duration_us = ev->duration_us,
                         .started_at = ev->time_us,
                         .ended_at = st == DB_CHUNK_RECORDING ? 0 : ev->time_us,
                         .gap_before_us = ev->gap_us};
    int rc = db_chunk_create(u->cfg.db, &c);
    if (rc == -ENOENT && (rc = rec_create(u, &ev->rec)) == 0) /* no recording row yet */
        rc = db_chunk_create(u->cfg.db, &c);
    return rc == -EEXIST ? 0 : rc;
}

static void check_ready(struct upload *u, const char *rec_id);

/* A closed chunk: pending in the db and queued, or (already uploaded before a crash) its file
 * removed, or (no media) its row deleted. */
static int chunk_closed(struct upload *u, const struct upload_event *ev)
{
    struct db *db = u->cfg.db;
    if (ev->bytes == 0) {
        int rc = db_chunk_delete(db, ev->rec.id, ev->seq);
        return rc == -ENOENT ? 0 : rc;
    }
    struct db_chunk c = {0};
    int rc = db_chunk_get(db, ev->rec.id, ev->seq, &c);
    if (rc == -ENOENT)
        rc = chunk_create(u, ev, DB_CHUNK_PENDING);
    else if (rc == 0 && c.state != DB_CHUNK_UPLOADED) {
        c.state = DB_CHUNK_PENDING;
        c.bytes = ev->bytes;
        c.duration_us = ev->duration_us;
        c.ended_at = ev->time_us;
        rc = db_chunk_update(db, &c);
    }
    bool uploaded = rc == 0 && c.state == DB_CHUNK_UPLOADED;
    db_chunk_clear(&c);
    if (rc < 0)
        return rc;
    struct job *j = xcalloc(1, sizeof(*j));
    j->rec = ev->rec;
    j->seq = ev->seq;
    j->bytes = ev->bytes;
    j->ended_at = ev->time_us;
    j->confirmed = uploaded; /* only the file is left to remove */
    job_push(u, j, false);
    return 0;
}

static int apply(struct upload *u, const struct upload_event *ev)
{
    switch (ev->type) {
    case UPLOAD_REC_START:
        return rec_create(u, &ev->rec);
    case UPLOAD_CHUNK_OPEN:
        return chunk_create(u, ev, DB_CHUNK_RECORDING);
    case UPLOAD_CHUNK_CLOSE:
        return chunk_closed(u, ev);
    case UPLOAD_REC_END: {
        int rc = ev->gap_us > 0 ? db_recording_set_gap_end(u->cfg.db, ev->rec.id, ev->gap_us) : 0;
        if (rc == 0)
            rc = db_recording_finish(u->cfg.db, ev->rec.id, ev->time_us);
        if (rc == 0)
            check_ready(u, ev->rec.id);
        return rc == -ENOENT ? 0 : rc;
    }
    }
    return 0;
}

/* Applies the oldest event. A database failure keeps it first in line and backs off. */
static void apply_next(struct upload *u, struct event *e)
{
    pthread_mutex_lock(&u->dbmu);
    int rc = u->abandoned ? 0 : apply(u, &e->ev);
    pthread_mutex_unlock(&u->dbmu);
    pthread_mutex_lock(&u->mu);
    bool retry = rc < 0 && db_transient(rc) && !u->stop;
    if (!retry) {
        u->ev_head = e->next;
        if (!u->ev_head)
            u->ev_tail = NULL;
        publish_queue_locked(u);
    }
    pthread_mutex_unlock(&u->mu);
    if (rc < 0)
        log_error("upload", e->ev.rec.stream_name, "recording %s: database update failed (%s)%s",
                  e->ev.rec.id, strerror(-rc), retry ? "; retrying" : "; skipped");
    if (retry) {
        struct timespec ts = {1, 0}; /* the db has its own busy timeout; this only paces */
        nanosleep(&ts, NULL);
        return;
    }
    free(e);
}

/* ---- uploads ---- */

static void remove_dir(struct upload *u, const char *rec_id)
{
    char dir[1024], meta[1100];
    upload_chunk_path(u->spool_dir, rec_id, 0, dir, sizeof(dir));
    snprintf(meta, sizeof(meta), "%s/recording.json", dir);
    unlink(meta);
    if (rmdir(dir) < 0 && errno != ENOENT)
        log_warn("upload", NULL, "cannot remove %s: %s", dir, strerror(errno));
}

int upload_spool_forget(const char *spool, const char *id)
{
    char dir[1024], path[1400];
    if (upload_chunk_path(spool, id, 0, dir, sizeof(dir)) < 0)
        return -ENOSPC;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
    closedir(d);
    return rmdir(dir) < 0 ? -errno : 0;
}

/* A finished recording whose chunks are all uploaded becomes ready: on_ready, spool dir gone. */
static void check_ready(struct upload *u, const char *rec_id)
{
    struct db_recording r = {0};
    if (db_recording_get(u->cfg.db, rec_id, &r) < 0)
        return;
    if (r.state == DB_REC_READY) /* ready before a restart: only the directory was left */
        remove_dir(u, rec_id);
    /* failed too: a chunk that failed for good was retried after a restart and went up */
    bool ended = r.state == DB_REC_FINISHED || (r.state == DB_REC_FAILED && r.ended_at);
    if (ended && r.chunks > 0 && r.chunks_uploaded == r.chunks &&
        db_recording_set_state(u->cfg.db, rec_id, DB_REC_READY) == 0) {
        r.state = DB_REC_READY;
        log_info("upload", r.stream_name, "recording %s ready: %d chunk(s), %.1f s, %lld bytes",
                 rec_id, r.chunks, (double)r.duration_us / 1e6, (long long)r.bytes);
        if (u->cfg.on_ready) {
            struct db_chunk *chunks = NULL;
            size_t n = 0;
            if (db_chunk_list(u->cfg.db, rec_id, &chunks, &n) == 0)
                u->cfg.on_ready(u->cfg.ready_opaque, &r, chunks, n);
            db_chunk_list_free(&chunks, n);
        }
        remove_dir(u, rec_id);
    }
    db_recording_clear(&r);
}

/* The store confirmed the chunk: the row, then the file. Under dbmu. */
static int settle(struct upload *u, struct job *j, const char *path)
{
    int rc = db_chunk_set_state(u->cfg.db, j->rec.id, j->seq, DB_CHUNK_UPLOADED, clock_wall_us());
    if (rc < 0 && rc != -ENOENT)
        return rc; /* the file stays until the row says uploaded */
    struct stat sb;
    int64_t size = stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
    if (unlink(path) == 0)
        metrics_add(u->m.spool_bytes, -size);
    else if (errno != ENOENT)
        log_warn("upload", j->rec.stream_name, "cannot remove %s: %s", path, strerror(errno));
    check_ready(u, j->rec.id);
    return 0;
}

static bool permanent(int rc)
{
    return rc != -EAGAIN && rc != -ETIMEDOUT && rc != -ECONNREFUSED && rc != -ECONNRESET &&
           rc != -EHOSTUNREACH && rc != -ENETUNREACH && rc != -EACCES && rc != -ENOENT &&
           rc != -EINTR && rc != -ENOSPC && rc != -EMFILE && rc != -ENFILE;
}

/* After a failed put: log, count, maybe give up on the chunk. Under dbmu. Returns true when the
 * job goes back to the queue. */
static bool failed(struct upload *u, struct job *j, int rc, const char *err)
{
    metrics_add(u->m.upload_failures_total, 1);
    const char *who = j->rec.stream_name;
    if (rc == -EACCES || rc == -ENOENT) {
        metrics_add(u->m.storage_errors_total, 1);
        metrics_set(u->m.storage_access_denied, rc == -EACCES);
        if (u->last_error != rc)
            log_error("upload", who,
                      "the store %s refuses uploads: %s (%s); chunks stay in the spool and are "
                      "retried every %g s at most",
                      u->store_name, rc == -EACCES ? "credentials refused" : "no such bucket", err,
                      u->cfg.backoff_max_ms / 1000.0);
    } else if (u->last_error != rc) {
        log_warn("upload", who, "upload of %s/%06d to %s failed: %s (%s); retrying with backoff",
                 j->rec.id, j->seq, u->store_name, err, strerror(-rc));
    }
    u->last_error = rc;
    if (permanent(rc) && ++j->tries >= u->cfg.max_tries) {
        log_error("upload", who,
                  "chunk %s/%06d failed %d times (%s); marked failed, the spool file is kept",
                  j->rec.id, j->seq, j->tries, err);
        db_chunk_set_state(u->cfg.db, j->rec.id, j->seq, DB_CHUNK_FAILED, 0);
        db_recording_set_state(u->cfg.db, j->rec.id, DB_REC_FAILED);
        return false;
    }
    db_chunk_set_state(u->cfg.db, j->rec.id, j->seq, DB_CHUNK_PENDING, 0);
    return true;
}

/* One attempt at the first job. Returns false when abandoned. */
static bool upload_one(struct upload *u, struct job *j)
{
    char path[1024], key[512], err[512] = "";
    upload_chunk_path(u->spool_dir, j->rec.id, j->seq, path, sizeof(path));
    upload_object_key(&j->rec, j->seq, key, sizeof(key));
    int rc = 0;
    bool sent = !j->confirmed;
    if (sent) {
        if (access(path, R_OK) < 0) {
            pthread_mutex_lock(&u->dbmu);
            if (!u->abandoned) {
                log_error("upload", j->rec.stream_name, "chunk file %s is gone (%s); marked failed",
                          path, strerror(errno));
                db_chunk_set_state(u->cfg.db, j->rec.id, j->seq, DB_CHUNK_FAILED, 0);
            }
            pthread_mutex_unlock(&u->dbmu);
            free(j);
            return true;
        }
        pthread_mutex_lock(&u->dbmu);
        if (!u->abandoned)
            db_chunk_set_state(u->cfg.db, j->rec.id, j->seq, DB_CHUNK_UPLOADING, 0);
        pthread_mutex_unlock(&u->dbmu);
        rc = u->cfg.put_file(u->cfg.store, key, path, err, sizeof(err));
    }
    pthread_mutex_lock(&u->dbmu);
    if (u->abandoned) {
        pthread_mutex_unlock(&u->dbmu);
        free(j);
        return false;
    }
    bool requeue = false;
    if (rc == 0) {
        j->confirmed = true;
        int src = settle(u, j, path);
        if (src == 0 && sent) {
            metrics_add(u->m.upload_chunks_total, 1);
            metrics_add(u->m.upload_bytes_total, j->bytes);
            metrics_set(u->m.storage_access_denied, 0);
            if (u->last_error)
                log_info("upload", j->rec.stream_name, "uploads to %s work again", u->store_name);
            u->last_error = 0;
            log_debug("upload", j->rec.stream_name, "uploaded %s (%lld bytes)", key,
                      (long long)j->bytes);
        }
        requeue = src < 0;
    } else {
        requeue = failed(u, j, rc, err[0] ? err : strerror(-rc));
    }
    pthread_mutex_unlock(&u->dbmu);
    if (requeue) {
        job_push(u, j, true);
        backoff(u);
    } else {
        free(j);
        if (rc == 0)
            backoff_reset(u);
    }
    return true;
}

/* ---- the worker ---- */

static void upload_free(struct upload *u);

static void *worker(void *arg)
{
    struct upload *u = arg;
    pthread_mutex_lock(&u->mu);
    for (;;) {
        if (u->ev_head) {
            struct event *e = u->ev_head;
            u->busy = true;
            pthread_mutex_unlock(&u->mu);
            apply_next(u, e);
            pthread_mutex_lock(&u->mu);
            u->busy = false;
            continue;
        }
        if (u->stop)
            break;
        int64_t now = clock_mono_us();
        if (u->jobs && now >= u->next_try_us) {
            struct job *j = job_pop_locked(u);
            u->busy = true;
            u->inflight_end = j->ended_at ? j->ended_at : 1;
            publish_queue_locked(u);
            pthread_mutex_unlock(&u->mu);
            bool alive = upload_one(u, j);
            pthread_mutex_lock(&u->mu);
            u->busy = false;
            u->inflight_end = 0;
            publish_queue_locked(u);
            if (!alive)
                break;
            pthread_cond_broadcast(&u->cond);
            continue;
        }
        pthread_cond_broadcast(&u->cond); /* idle: upload_wait_idle */
        wait_locked(u, u->jobs ? u->next_try_us : 0);
    }
    pthread_mutex_unlock(&u->mu);
    pthread_mutex_lock(&u->dbmu);
    bool abandoned = u->abandoned;
    pthread_mutex_unlock(&u->dbmu);
    if (abandoned) /* upload_destroy gave up on us and forgot u: it is ours to free */
        upload_free(u);
    return NULL;
}

bool upload_wait_idle(struct upload *u, int timeout_ms)
{
    int64_t deadline = clock_mono_us() + (int64_t)timeout_ms * 1000;
    pthread_mutex_lock(&u->mu);
    while (u->ev_head || u->busy || (u->jobs && u->next_try_us <= clock_mono_us())) {
        if (clock_mono_us() >= deadline)
            break;
        pthread_cond_broadcast(&u->cond);
        int64_t t = clock_mono_us() + 20000;
        wait_locked(u, t < deadline ? t : deadline);
    }
    bool idle = !u->ev_head && !u->busy && !(u->jobs && u->next_try_us <= clock_mono_us());
    pthread_mutex_unlock(&u->mu);
    return idle;
}

/* kibitka_upload_oldest_pending_seconds from its slot (the wall time the oldest waiting chunk
 * closed). */
static void write_oldest(struct buf *out, const char *name, atomic_int_fast64_t *slots)
{
    int64_t oldest = metrics_get(slots), now = clock_wall_us();
    buf_printf(out, "%s %lld\n", name,
               (long long)(oldest > 0 && now > oldest ? (now - oldest) / 1000000 : 0));
}

void upload_metrics_register(struct metrics *m, struct upload_metrics *mx)
{
    mx->spool_bytes =
        metrics_gauge(m, "kibitka_spool_bytes", "Bytes of recording chunks in the local spool.");
    mx->upload_queue_chunks =
        metrics_gauge(m, "kibitka_upload_queue_chunks", "Closed chunks waiting for the store.");
    mx->upload_oldest_pending_us = metrics_custom(
        m, METRIC_GAUGE, "kibitka_upload_oldest_pending_seconds",
        "Age of the oldest chunk waiting for the store (0 when none).", write_oldest, 1);
    mx->upload_chunks_total =
        metrics_counter(m, "kibitka_upload_chunks_total", "Chunks the store confirmed.");
    mx->upload_bytes_total = metrics_counter(m, "kibitka_upload_bytes_total",
                                             "Bytes of the chunks the store confirmed.");
    mx->upload_failures_total = metrics_counter(m, "kibitka_upload_failures_total",
                                                "Failed upload attempts (each is retried).");
    mx->storage_errors_total = metrics_counter(
        m, "kibitka_storage_errors_total", "Uploads refused for credentials or a missing bucket.");
    mx->storage_access_denied =
        metrics_gauge(m, "kibitka_storage_access_denied",
                      "1 while the store refuses the credentials (see the log).");
}

static void upload_free(struct upload *u);

struct upload *upload_create(const struct upload_config *cfg)
{
    if (!cfg->db || !cfg->put_file || !cfg->spool_dir || !cfg->metrics)
        return NULL;
    struct upload *u = xcalloc(1, sizeof(*u));
    u->cfg = *cfg;
    u->spool_dir = xstrdup(cfg->spool_dir);
    u->store_name = xstrdup(cfg->store_name ? cfg->store_name : "the store");
    u->cfg.spool_dir = u->spool_dir;
    u->cfg.store_name = u->store_name;
    upload_metrics_register(cfg->metrics, &u->m);
    if (u->cfg.backoff_min_ms <= 0)
        u->cfg.backoff_min_ms = DEFAULT_BACKOFF_MIN_MS;
    if (u->cfg.backoff_max_ms <= 0)
        u->cfg.backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
    if (u->cfg.max_tries <= 0)
        u->cfg.max_tries = DEFAULT_MAX_TRIES;
    if (u->cfg.stop_timeout_ms <= 0)
        u->cfg.stop_timeout_ms = DEFAULT_STOP_TIMEOUT_MS;
    pthread_mutex_init(&u->mu, NULL);
    pthread_mutex_init(&u->dbmu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* deadlines are clock_mono_us */
    pthread_cond_init(&u->cond, &ca);
    pthread_condattr_destroy(&ca);
    int err = pthread_create(&u->thread, NULL, worker, u);
    if (err) {
        log_error("upload", NULL, "cannot start the upload worker: %s", strerror(err));
        upload_free(u); /* no job or event queued yet */
        return NULL;
    }
    return u;
}

static void upload_free(struct upload *u)
{
    int left = u->njobs;
    for (struct job *j = u->jobs, *n; j; j = n) {
        n = j->next;
        free(j);
    }
    for (struct event *e = u->ev_head, *n; e; e = n) {
        n = e->next;
        free(e);
    }
    if (left)
        log_info("upload", NULL,
                 "stopping with %d chunk(s) not uploaded yet; they stay in the "
                 "spool and are uploaded at the next start",
                 left);
    pthread_cond_destroy(&u->cond);
    pthread_mutex_destroy(&u->mu);
    pthread_mutex_destroy(&u->dbmu);
    free(u->spool_dir);
    free(u->store_name);
    free(u);
}

bool upload_destroy(struct upload **pu)
{
    struct upload *u = *pu;
    if (!u)
        return false;
    *pu = NULL;
    pthread_mutex_lock(&u->mu);
    u->stop = true;
    pthread_cond_broadcast(&u->cond);
    pthread_mutex_unlock(&u->mu);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = (int64_t)ts.tv_nsec + (int64_t)(u->cfg.stop_timeout_ms % 1000) * 1000000;
    ts.tv_sec += u->cfg.stop_timeout_ms / 1000 + (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    if (pthread_timedjoin_np(u->thread, NULL, &ts) == 0) {
        upload_free(u);
        return false;
    }
    log_warn("upload", NULL,
             "an upload to %s did not finish within %d ms of the stop: abandoned (the chunk "
             "stays in the spool and is uploaded at the next start)",
             u->store_name, u->cfg.stop_timeout_ms);
    pthread_t t = u->thread;
    pthread_mutex_lock(&u->dbmu);
    u->abandoned = true;
    pthread_mutex_unlock(&u->dbmu);
    pthread_detach(t);
    return true; /* u is the worker's now: it frees it when its call returns, touching nothing
                    else (not the db, not the store) */
}
