/* The durable upload queue against a fake store that injects failures, on a real SQLite
 * database in a temporary directory: events become rows, chunks go pending -> uploading ->
 * uploaded, nothing is deleted before the store confirmed it, transient errors are retried
 * with backoff for as long as it takes, permanent ones mark the chunk failed and keep the file,
 * a restart (recorder_recover) resumes what was pending, and a stuck upload is abandoned at
 * stop within the timeout. */
#include "recorder/upload.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "recorder/recorder.h"
#include "test.h"

static char dir[128], spool[192];
static struct metrics *metrics; /* reachable: not a leak at exit */

/* ---- the fake store ---- */

static pthread_mutex_t fake_mu = PTHREAD_MUTEX_INITIALIZER;
static int fail_left; /* this many calls fail with fail_rc */
static int fail_rc;
static int calls, stored;
static bool file_missing; /* a call found its file gone: something deleted it too early */
static int sleep_ms;      /* each call takes this long */
static char last_key[512];

static int fake_put(struct storage *s, const char *key, const char *path, char *err, size_t errlen)
{
    if (sleep_ms) {
        struct timespec ts = {sleep_ms / 1000, (long)(sleep_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&fake_mu);
    calls++;
    if (access(path, R_OK) < 0)
        file_missing = true;
    int rc = 0;
    if (fail_left > 0) {
        fail_left--;
        rc = fail_rc;
        snprintf(err, errlen, "injected failure");
    } else {
        stored++;
        snprintf(last_key, sizeof(last_key), "%s", key);
    }
    pthread_mutex_unlock(&fake_mu);
    return rc;
}

static void inject(int n, int rc)
{
    pthread_mutex_lock(&fake_mu);
    fail_left = n;
    fail_rc = rc;
    calls = stored = 0;
    file_missing = false;
    pthread_mutex_unlock(&fake_mu);
}

/* ---- helpers ---- */

static struct upload *make(struct db *db, int max_tries, int stop_ms)
{
    struct upload_config cfg = {.db = db,
                                .put_file = fake_put,
                                .store_name = "fake:",
                                .spool_dir = spool,
                                .metrics = metrics,
                                .backoff_min_ms = 10,
                                .backoff_max_ms = 40,
                                .max_tries = max_tries,
                                .stop_timeout_ms = stop_ms};
    return upload_create(&cfg);
}

static struct upload_rec_info rec_info(const char *id)
{
    struct upload_rec_info ri = {.started_at = 1767225600000000LL}; /* 2026-01-01 */
    snprintf(ri.id, sizeof(ri.id), "%s", id);
    snprintf(ri.stream_name, sizeof(ri.stream_name), "cam");
    snprintf(ri.user_name, sizeof(ri.user_name), "al/ice");
    return ri;
}

/* A minimal fMP4 shape: ftyp, moov, then n moof+mdat pairs (box walk only). */
static int64_t write_chunk(const char *id, int seq, int n, bool partial)
{
    char path[512];
    upload_chunk_path(spool, id, 0, path, sizeof(path));
    mkdir(path, 0755);
    upload_chunk_path(spool, id, seq, path, sizeof(path));
    FILE *f = fopen(path, "wb");
    static const unsigned char ftyp[16] = {0, 0, 0, 16, 'f', 't', 'y', 'p', 'i', 's', 'o', '5'};
    static const unsigned char moov[8] = {0, 0, 0, 8, 'm', 'o', 'o', 'v'};
    static const unsigned char moof[12] = {0, 0, 0, 12, 'm', 'o', 'o', 'f'};
    static const unsigned char mdat[20] = {0, 0, 0, 20, 'm', 'd', 'a', 't'};
    fwrite(ftyp, 1, 16, f);
    fwrite(moov, 1, 8, f);
    for (int i = 0; i < n; i++) {
        fwrite(moof, 1, 12, f);
        fwrite(mdat, 1, 20, f);
    }
    if (partial) { /* a moof and half an mdat */
        fwrite(moof, 1, 12, f);
        fwrite(mdat, 1, 10, f);
    }
    fclose(f);
    return 24 + 32 * n + (partial ? 22 : 0);
}

static void post(struct upload *u, enum upload_event_type t, const char *id, int seq, int64_t bytes)
{
    struct upload_event ev = {.type = t,
                              .rec = rec_info(id),
                              .seq = seq,
                              .bytes = bytes,
                              .duration_us = 1000000,
                              .time_us = clock_wall_us()};
    upload_post(u, &ev);
}

static bool exists(const char *id, int seq)
{
    char path[512];
    upload_chunk_path(spool, id, seq, path, sizeof(path));
    return access(path, F_OK) == 0;
}

/* Waits until the queue is empty (every chunk settled) or timeout. */
static bool drained(struct upload *u, int timeout_ms)
{
    int64_t until = clock_mono_us() + (int64_t)timeout_ms * 1000;
    while (clock_mono_us() < until) {
        if (upload_wait_idle(u, 100) &&
            metrics_value(metrics, "kibitka_upload_queue_chunks", NULL) == 0)
            return true;
        usleep(5000);
    }
    return false;
}

static enum db_chunk_state chunk_state(struct db *db, const char *id, int seq)
{
    struct db_chunk c;
    if (db_chunk_get(db, id, seq, &c) < 0)
        return (enum db_chunk_state) - 1;
    enum db_chunk_state s = c.state;
    db_chunk_clear(&c);
    return s;
}

static enum db_recording_state rec_state(struct db *db, const char *id)
{
    struct db_recording r;
    if (db_recording_get(db, id, &r) < 0)
        return (enum db_recording_state) - 1;
    enum db_recording_state s = r.state;
    db_recording_clear(&r);
    return s;
}

/* ---- tests ---- */

static void test_keys(void)
{
    struct upload_rec_info ri = rec_info("0123456789abcdef0123456789abcdef");
    char key[256];
    CHECK(upload_object_key(&ri, 7, key, sizeof(key)) > 0);
    CHECK_STREQ(key, "al_ice/cam/2026-01-01/0123456789abcdef0123456789abcdef/000007.mp4");
    CHECK_EQ_INT(upload_object_key(&ri, 7, key, 20), -ENOSPC);
}

/* Two chunks; the store fails the first three calls (transient): nothing lost or deleted
 * early, both uploaded in order, the recording ready, its spool directory gone. */
static void test_transient(struct db *db)
{
    const char *id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    metrics_destroy(&metrics);
    metrics = metrics_create();
    inject(3, -EAGAIN);
    struct upload *u = make(db, 0, 0);
    post(u, UPLOAD_REC_START, id, 0, 0);
    post(u, UPLOAD_CHUNK_OPEN, id, 1, 0);
    int64_t b1 = write_chunk(id, 1, 3, false);
    metrics_add(metrics_gauge(metrics, "kibitka_spool_bytes", RECORDER_SPOOL_BYTES_HELP), b1);
    post(u, UPLOAD_CHUNK_CLOSE, id, 1, b1);
    post(u, UPLOAD_CHUNK_OPEN, id, 2, 0);
    int64_t b2 = write_chunk(id, 2, 2, false);
    metrics_add(metrics_gauge(metrics, "kibitka_spool_bytes", RECORDER_SPOOL_BYTES_HELP), b2);
    post(u, UPLOAD_CHUNK_CLOSE, id, 2, b2);
    post(u, UPLOAD_REC_END, id, 0, 0);
    CHECK(drained(u, 5000));
    CHECK(!file_missing);
    CHECK_EQ_INT(calls, 5);
    CHECK_EQ_INT(stored, 2);
    CHECK_STREQ(last_key, "al_ice/cam/2026-01-01/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/000002.mp4");
    CHECK(!exists(id, 1) && !exists(id, 2) && !exists(id, 0));
    CHECK_EQ_INT(chunk_state(db, id, 1), DB_CHUNK_UPLOADED);
    CHECK_EQ_INT(chunk_state(db, id, 2), DB_CHUNK_UPLOADED);
    CHECK_EQ_INT(rec_state(db, id), DB_REC_READY);
    CHECK_EQ_INT(metrics_value(metrics, "kibitka_upload_chunks_total", NULL), 2);
    CHECK_EQ_INT(metrics_value(metrics, "kibitka_upload_bytes_total", NULL), b1 + b2);
    CHECK_EQ_INT(metrics_value(metrics, "kibitka_upload_failures_total", NULL), 3);
    CHECK_EQ_INT(metrics_value(metrics, "kibitka_spool_bytes", NULL), 0);
    CHECK_EQ_INT(metrics_value(metrics, "kibitka_upload_oldest_pending_seconds", NULL), 0);
    struct db_recording r;
    CHECK_EQ_INT(db_recording_get(db, id, &r), 0);
    CHECK_EQ_INT(r.bytes, b1 + b2);
    CHECK_EQ_INT(r.chunks_uploaded, 2);
    CHECK(r.ended_at > 0);
    db_recording_clear(&r);
    CHECK(!upload_destroy(&u));
}

/* Credentials refused for a while: a metric says so, nothing is deleted, and uploads resume. */
static void test_access_denied(struct db *db)
{
    const char *id = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    metrics_destroy(&metrics);
    metrics = metrics_create();
    inject(1000000, -EACCES);
    struct upload *u = make(db, 2, 0);
    post(u, UPLOAD_REC_START, id, 0, 0);
    int64_t b = write_chunk(id, 1, 1, false);
    post(u, UPLOAD_CHUNK_CLOSE, id, 1, b); /* no OPEN: the row is made on close */
    usleep(300000);
    CHECK(calls >= 4); /* retried past max_tries: -EACCES is not permanent */
    CHECK(exists(id, 1));
    CHECK_EQ_INT(metrics_value(metrics, "kibitka_storage_access_denied", NULL), 1);
    CHECK(metrics_value(metrics, "kibitka_storage_errors_total", NULL) >= 4);
    CHECK_EQ_INT(metrics_value(metrics, "kibitka_upload_queue_chunks", NULL), 1);
    CHECK(metrics_value(metrics, "kibitka_upload_oldest_pending_seconds", NULL) > 0);
    CHECK_EQ_INT(chunk_state(db, id, 1), DB_CHUNK_PENDING);
    inject(0, 0);
    CHECK(drained(u, 5000));
    CHECK(!exists(id, 1));
    CHECK_EQ_INT(metrics_value(metrics, "kibitka_storage_access_denied", NULL), 0);
    CHECK_EQ_INT(chunk_state(db, id, 1), DB_CHUNK_UPLOADED);
    CHECK_EQ_INT(rec_state(db, id), DB_REC_RECORDING); /* no REC_END yet: not ready */
    post(u, UPLOAD_REC_END, id, 0, 0);
    CHECK(drained(u, 5000));
    CHECK_EQ_INT(rec_state(db, id), DB_REC_READY);
    upload_destroy(&u);
}

/* A permanent error: max_tries attempts, then failed, and the spool file stays. */
static void test_permanent(struct db *db)
{
    const char *id = "cccccccccccccccccccccccccccccccc";
    metrics_destroy(&metrics);
    metrics = metrics_create();
    inject(1000000, -EIO);
    struct upload *u = make(db, 3, 0);
    post(u, UPLOAD_REC_START, id, 0, 0);
    post(u, UPLOAD_CHUNK_OPEN, id, 1, 0);
    int64_t b = write_chunk(id, 1, 1, false);
    post(u, UPLOAD_CHUNK_CLOSE, id, 1, b);
    post(u, UPLOAD_REC_END, id, 0, 0);
    CHECK(drained(u, 5000));
    CHECK_EQ_INT(calls, 3);
    CHECK(exists(id, 1));
    CHECK_EQ_INT(chunk_state(db, id, 1), DB_CHUNK_FAILED);
    CHECK_EQ_INT(rec_state(db, id), DB_REC_FAILED);
    upload_destroy(&u);
    inject(0, 0);
}

/* The process stops while the store is down, and dies mid-chunk: a restart's recovery cuts
 * the chunk being written back to its last complete fragment, and everything is uploaded. */
static void test_restart(struct db *db)
{
    const char *id = "dddddddddddddddddddddddddddddddd";
    metrics_destroy(&metrics);
    metrics = metrics_create();
    inject(1000000, -EAGAIN);
    struct upload *u = make(db, 0, 0);
    post(u, UPLOAD_REC_START, id, 0, 0);
    post(u, UPLOAD_CHUNK_OPEN, id, 1, 0);
    int64_t b1 = write_chunk(id, 1, 4, false);
    post(u, UPLOAD_CHUNK_CLOSE, id, 1, b1);
    post(u, UPLOAD_CHUNK_OPEN, id, 2, 0);
    upload_wait_idle(u, 1000);
    usleep(50000);
    CHECK(!upload_destroy(&u));
    CHECK_EQ_INT(chunk_state(db, id, 1), DB_CHUNK_PENDING);
    CHECK_EQ_INT(chunk_state(db, id, 2), DB_CHUNK_RECORDING);
    CHECK_EQ_INT(rec_state(db, id), DB_REC_RECORDING);
    CHECK(exists(id, 1));

    /* what the recorder's I/O thread had written of chunk 2 when the process died; its
     * recording.json (written at the start) too */
    write_chunk(id, 2, 2, true);
    char meta[512];
    snprintf(meta, sizeof(meta), "%s/%s/recording.json", spool, id);
    FILE *f = fopen(meta, "w");
    fprintf(f,
            "{\"id\":\"%s\",\"stream\":\"cam\",\"stream_id\":\"\",\"user_id\":\"\","
            "\"user\":\"al/ice\",\"started_at\":1767225600000000}",
            id);
    fclose(f);

    metrics_destroy(&metrics);
    metrics = metrics_create();
    inject(0, 0);
    u = make(db, 0, 0);
    struct recorder_recover_config rc = {db, spool, upload_post_cb, u, metrics};
    CHECK_EQ_INT(recorder_recover(&rc), 2);
    CHECK(drained(u, 5000));
    CHECK_EQ_INT(stored, 2);
    CHECK(!file_missing);
    CHECK_EQ_INT(chunk_state(db, id, 1), DB_CHUNK_UPLOADED);
    CHECK_EQ_INT(chunk_state(db, id, 2), DB_CHUNK_UPLOADED);
    CHECK_EQ_INT(rec_state(db, id), DB_REC_READY);
    struct db_chunk c;
    CHECK_EQ_INT(db_chunk_get(db, id, 2, &c), 0);
    CHECK_EQ_INT(c.bytes, 24 + 2 * 32); /* the partial fragment was cut off */
    db_chunk_clear(&c);
    CHECK(!exists(id, 0));
    CHECK_EQ_INT(metrics_value(metrics, "kibitka_spool_bytes", NULL), 0);
    upload_destroy(&u);
}

/* A store call that hangs: the stop gives up on it within the timeout. */
static void test_abandon(struct db *db)
{
    const char *id = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
    metrics_destroy(&metrics);
    metrics = metrics_create();
    inject(0, 0);
    sleep_ms = 1500;
    struct upload *u = make(db, 0, 200);
    post(u, UPLOAD_REC_START, id, 0, 0);
    int64_t b = write_chunk(id, 1, 1, false);
    post(u, UPLOAD_CHUNK_CLOSE, id, 1, b);
    usleep(200000); /* the worker is in the call now */
    int64_t t0 = clock_mono_us();
    CHECK(upload_destroy(&u));
    CHECK(clock_mono_us() - t0 < 1000000);
    usleep(1700000); /* the call returns; the worker frees itself without touching the db */
    CHECK(exists(id, 1));
    CHECK_EQ_INT(chunk_state(db, id, 1), DB_CHUNK_UPLOADING); /* the next start uploads it */
    sleep_ms = 0;
}

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        unlink(path);
        return;
    }
    struct dirent *e;
    char p[768];
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
            rm_rf(p);
        }
    closedir(d);
    rmdir(path);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/kibitka-upload-test-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(spool, sizeof(spool), "%s/spool", dir);
    mkdir(spool, 0755);
    char url[256];
    snprintf(url, sizeof(url), "sqlite:%s/k.db", dir);
    struct db *db = NULL;
    CHECK_EQ_INT(db_open(url, &db), 0);
    if (!db)
        return test_report("test_upload");
    test_keys();
    test_transient(db);
    test_access_denied(db);
    test_permanent(db);
    test_restart(db);
    test_abandon(db);
    db_close(&db);
    rm_rf(dir);
    return test_report("test_upload");
}
