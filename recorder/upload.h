/* The durable upload queue: moves finished recording chunks from the spool to the store, and
 * keeps the recordings' rows in the database.
 *
 * How it fits. The recorder (recorder/) writes chunks into the spool on its I/O thread and
 * reports what happened as events (upload_post): a recording started, a chunk was opened, a
 * chunk was closed (fsync'd, with its bytes and duration), a recording ended. Crash recovery at
 * start (recorder_recover) posts the same events for what it finds in the spool. One worker
 * thread takes the events in order and applies them to the database, then uploads the closed
 * chunks, oldest first, one at a time:
 *
 *   chunk row:  recording --(closed)--> pending --> uploading --> uploaded  (spool file deleted)
 *                                          ^            |
 *                                          +--(retry)---+------> failed    (spool file kept)
 *
 * A spool file is deleted only after the store confirmed the object (put_file returned 0) and
 * the row says uploaded. Failures back off exponentially (backoff_min_ms doubling up to
 * backoff_max_ms) for the whole queue, since they nearly always mean the store is unwell:
 * - transient (-EAGAIN, timeouts, connection errors): retried for ever, nothing is lost;
 * - -EACCES (credentials refused) and -ENOENT (no bucket): a clear error line, the
 *   storage_access_denied gauge / storage_errors_total counter, and retried for ever (at the
 *   cap), so fixing the bucket policy resumes the uploads;
 * - anything else (-EIO, -EINVAL): retried max_tries times, then the chunk is marked failed
 *   and its recording too; the spool file stays (the next start retries it).
 * When every chunk of a finished recording is uploaded, the recording becomes ready, on_ready is
 * called (the recording.ready webhook), and its spool directory is removed.
 *
 * The database is only touched by the worker (and by recovery at start), never by the network
 * thread. upload_post copies the event under a mutex and returns; events are small and few (a
 * handful per chunk), so their list is not bounded.
 *
 * Shutdown. upload_destroy stops taking new uploads, applies the events still queued, and
 * waits up to stop_timeout_ms for an upload under way (storage calls have their own timeouts);
 * past that it abandons it: the worker is left to die with the process, never touches the
 * database again, and its chunk stays pending/uploading for the next start. */
#ifndef KIBITKA_RECORDER_UPLOAD_H
#define KIBITKA_RECORDER_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/metrics.h"
#include "db/db.h"

struct storage;
struct upload;

/* Who a recording belongs to: enough to make its rows and its object keys. */
struct upload_rec_info {
    char id[33];          /* 32 hex, made by the recorder; the spool directory's name */
    char stream_name[72]; /* hub name */
    char stream_id[40];   /* "" for an --open-publish stream */
    char user_id[40];     /* "" likewise */
    char user_name[72];   /* the <user> of the keys: the owner, or "_open" */
    int64_t started_at;   /* wall clock us; its UTC date is the <YYYY-MM-DD> of the keys */
};

enum upload_event_type {
    UPLOAD_REC_START,   /* the row is created (state recording) */
    UPLOAD_CHUNK_OPEN,  /* the chunk row is created (state recording) */
    UPLOAD_CHUNK_CLOSE, /* the chunk is complete in the spool: pending, queued for upload; bytes
                           0 means it held no media: its row is deleted (the file already is) */
    UPLOAD_REC_END,     /* the recording ended: finished (ready once every chunk is uploaded) */
};

struct upload_event {
    enum upload_event_type type;
    struct upload_rec_info rec;
    int seq;             /* chunk events */
    int64_t bytes;       /* CHUNK_CLOSE: the file's size */
    int64_t duration_us; /* CHUNK_CLOSE: media time covered */
    int64_t time_us;     /* wall clock: CHUNK_OPEN its start, CHUNK_CLOSE/REC_END the end */
    /* Media time the recorder could not write (paused: disk or spool full; a disk too slow):
     * CHUNK_OPEN and CHUNK_CLOSE, just before the chunk (db_chunk.gap_before_us); REC_END, at
     * the end (db_recording.gap_end_us). 0: none. */
    int64_t gap_us;
};

/* A finished recording is ready: every chunk (chunks[0..n)) is in the store. Called on the
 * worker thread; the rows are borrowed for the call. server/main.c points it at the
 * recording.ready webhook (events/webhook.h). */
typedef void (*upload_ready_fn)(void *opaque, const struct db_recording *r,
                                const struct db_chunk *chunks, size_t n);

/* Stores a local file under key (storage_put_file, or a fault-injecting fake in tests). */
typedef int (*upload_put_fn)(struct storage *s, const char *key, const char *path, char *err,
                             size_t errlen);

/* The upload queue's /metrics figures (kibitka_upload_*, kibitka_storage_*), registered by
 * upload_create; server/ registers them too to count a store refused at start. It also moves
 * kibitka_spool_bytes (the recorder's gauge) down as uploaded chunks leave the spool. */
struct upload_metrics {
    atomic_int_fast64_t *upload_queue_chunks;      /* gauge: closed chunks waiting for the store */
    atomic_int_fast64_t *upload_oldest_pending_us; /* wall time the oldest waiting chunk closed;
                                                      0: none */
    atomic_int_fast64_t *upload_chunks_total;      /* counter: chunks the store confirmed */
    atomic_int_fast64_t *upload_bytes_total;       /* counter: their bytes */
    atomic_int_fast64_t *upload_failures_total;    /* counter: failed upload attempts */
    atomic_int_fast64_t *storage_errors_total;     /* counter: credentials refused, no bucket */
    atomic_int_fast64_t *storage_access_denied;    /* gauge: 1 while the store refuses us */
    atomic_int_fast64_t *spool_bytes;              /* gauge: bytes of chunk files in the spool */
};
void upload_metrics_register(struct metrics *m, struct upload_metrics *mx);

struct upload_config {
    struct db *db;            /* borrowed; must outlive the queue (see upload_destroy) */
    struct storage *store;    /* borrowed likewise */
    upload_put_fn put_file;   /* storage_put_file */
    const char *store_name;   /* for logs (storage_describe) */
    const char *spool_dir;    /* DATA/spool: chunks are <spool>/<id>/<seq>.mp4 */
    struct metrics *metrics;  /* registers the upload_* and storage_* figures; required */
    upload_ready_fn on_ready; /* recording.ready; NULL for none */
    void *ready_opaque;       /* on_ready's first argument */
    int backoff_min_ms;       /* 0: 1000 */
    int backoff_max_ms;       /* 0: 60000 */
    int max_tries;            /* attempts for a permanent error; 0: 5 */
    int stop_timeout_ms;      /* 0: 3000 */
};

/* Starts the worker. Returns NULL when it cannot (logged). */
struct upload *upload_create(const struct upload_config *cfg);
/* Stops as described above, frees, clears *pu; NULL-safe. Returns true when an upload under
 * way was abandoned: then the store (and the db, for the worker's last db call already done) is
 * still referenced by a thread; the caller must not close the store and should exit soon. */
bool upload_destroy(struct upload **pu);

/* Queues an event (copied); any thread, never blocks beyond a short mutex. */
void upload_post(struct upload *u, const struct upload_event *ev);
/* The same, shaped as a recorder event callback (opaque is the struct upload). */
void upload_post_cb(void *opaque, const struct upload_event *ev);

/* Waits until every queued event is applied and no upload is due now (tests); returns false
 * after timeout_ms. */
bool upload_wait_idle(struct upload *u, int timeout_ms);

/* "<user>/<stream>/<YYYY-MM-DD>/<id>/<seq:06d>.mp4"; characters of user outside
 * [A-Za-z0-9._-] become '_'. Returns the length, or -ENOSPC when it does not fit. */
int upload_object_key(const struct upload_rec_info *rec, int seq, char *out, size_t outlen);
/* "<spool>/<id>/<seq:06d>.mp4" and "<spool>/<id>". */
int upload_chunk_path(const char *spool, const char *id, int seq, char *out, size_t outlen);
/* Removes what the spool still holds of recording id (the files of chunks that failed for good,
 * recording.json) and its directory, so a deleted recording is not recovered at the next start.
 * Only for a recording the worker is done with. 0, or a negative errno (a missing directory is
 * fine). */
int upload_spool_forget(const char *spool, const char *id);

#endif
