/* The recorder's I/O thread driven directly through its queue (recorder/internal.h), without a
 * hub: gaps measured from the media actually written (a chunk opening past the last fragment on
 * disk, a recording ending paused), and no chunk lost to EMFILE: with every descriptor of the
 * process taken, the I/O thread keeps the chunk's items queued and retries until descriptors
 * come back (issue 11 item 1), then writes every byte. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "recorder/internal.h"
#include "test.h"

static char spool[256];
static struct metrics *metrics; /* reachable: not a leak at exit */

#define MAX_EVENTS 64
static struct upload_event events[MAX_EVENTS];
static int nevents;
static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;

static void on_event(void *opaque, const struct upload_event *ev)
{
    (void)opaque;
    pthread_mutex_lock(&ev_mu);
    if (nevents < MAX_EVENTS)
        events[nevents++] = *ev;
    pthread_mutex_unlock(&ev_mu);
}

static const struct upload_event *find(enum upload_event_type type, int seq)
{
    for (int i = 0; i < nevents; i++)
        if (events[i].type == type &&
            (type == UPLOAD_REC_START || type == UPLOAD_REC_END || events[i].seq == seq))
            return &events[i];
    return NULL;
}

static struct recorder *make(void)
{
    nevents = 0;
    metrics_destroy(&metrics);
    metrics = metrics_create();
    struct recorder_config cfg = {
        .spool_dir = spool, .chunk_seconds = 2, .on_event = on_event, .metrics = metrics};
    return recorder_create(&cfg, NULL);
}

static struct io_file *new_file(const char *id)
{
    struct io_file *f = xcalloc(1, sizeof(*f));
    snprintf(f->info.id, sizeof(f->info.id), "%s", id);
    snprintf(f->info.stream_name, sizeof(f->info.stream_name), "cam");
    snprintf(f->info.user_name, sizeof(f->info.user_name), "_open");
    f->info.started_at = clock_wall_us();
    f->fd = -1;
    return f;
}

/* Queues one item; data is len bytes of c (none when len is 0). */
static void item(struct recorder *r, struct io_file *f, enum io_type type, int seq, size_t len,
                 char c, int64_t media_us)
{
    struct io_item *it = xcalloc(1, sizeof(*it));
    struct blob *b = NULL;
    if (len) {
        char *p = xmalloc(len);
        memset(p, c, len);
        b = blob_create(p, len);
        free(p);
    }
    *it = (struct io_item){.type = type,
                           .file = f,
                           .seq = seq,
                           .data = b,
                           .time_us = clock_wall_us(),
                           .media_us = media_us};
    CHECK_EQ_INT(io_push(r, it, false), 0);
}

static int64_t file_size(const char *id, int seq)
{
    char path[512];
    upload_chunk_path(spool, id, seq, path, sizeof(path));
    struct stat sb;
    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

/* Chunk 1 [0, 2 s), then nothing until chunk 2 opens at 5 s ([5, 6 s)), and the stream goes on
 * to 9 s unrecorded: gaps of 3 s before chunk 2 and 3 s at the end. */
static void test_gaps(void)
{
    const char *id = "0123456789abcdef0123456789abcdef";
    struct recorder *r = make();
    CHECK(r != NULL);
    if (!r)
        return;
    struct io_file *f = new_file(id);
    item(r, f, IO_REC_START, 0, 0, 0, 0);
    item(r, f, IO_CHUNK_OPEN, 1, 100, 'i', 0);
    item(r, f, IO_WRITE, 1, 1000, 'a', 1000000);
    item(r, f, IO_WRITE, 1, 1000, 'b', 2000000);
    item(r, f, IO_CHUNK_CLOSE, 1, 0, 0, 0);
    item(r, f, IO_CHUNK_OPEN, 2, 100, 'i', 5000000);
    item(r, f, IO_WRITE, 2, 1000, 'c', 6000000);
    item(r, f, IO_CHUNK_CLOSE, 2, 0, 0, 0);
    item(r, f, IO_REC_END, 0, 0, 0, 9000000);
    recorder_sync(r);
    const struct upload_event *c1 = find(UPLOAD_CHUNK_CLOSE, 1), *o2 = find(UPLOAD_CHUNK_OPEN, 2);
    const struct upload_event *c2 = find(UPLOAD_CHUNK_CLOSE, 2), *end = find(UPLOAD_REC_END, 0);
    CHECK(c1 && o2 && c2 && end);
    if (c1 && o2 && c2 && end) {
        CHECK_EQ_INT(c1->bytes, 2100);
        CHECK_EQ_INT(c1->duration_us, 2000000);
        CHECK_EQ_INT(c1->gap_us, 0);
        CHECK_EQ_INT(o2->gap_us, 3000000);
        CHECK_EQ_INT(c2->gap_us, 3000000);
        CHECK_EQ_INT(c2->duration_us, 1000000);
        CHECK_EQ_INT(end->gap_us, 3000000);
    }
    CHECK_EQ_INT(metrics_value(metrics, "kibitka_recording_gaps_total", NULL), 2);
    recorder_destroy(&r);
    upload_spool_forget(spool, id);
}

/* Every descriptor taken: the chunk's open (or its directory's fsync) fails with EMFILE; the
 * I/O thread waits and retries, the chunk's items wait in the queue, and once descriptors are
 * back the whole chunk is written: nothing dropped, nothing lost. */
static void test_emfile(void)
{
    const char *id = "fedcba9876543210fedcba9876543210";
    struct rlimit old;
    CHECK_EQ_INT(getrlimit(RLIMIT_NOFILE, &old), 0);
    struct rlimit low = old;
    low.rlim_cur = old.rlim_cur < 256 ? old.rlim_cur : 256;
    CHECK_EQ_INT(setrlimit(RLIMIT_NOFILE, &low), 0);
    struct recorder *r = make();
    CHECK(r != NULL);
    if (!r)
        return;
    static int taken[1024];
    int ntaken = 0;
    for (int fd; ntaken < 1024 && (fd = dup(0)) >= 0;)
        taken[ntaken++] = fd;
    CHECK_EQ_INT(errno, EMFILE);

    struct io_file *f = new_file(id);
    item(r, f, IO_REC_START, 0, 0, 0, 0);
    item(r, f, IO_CHUNK_OPEN, 1, 100, 'i', 0);
    for (int i = 1; i <= 3; i++)
        item(r, f, IO_WRITE, 1, 1000, (char)('a' + i), i * 1000000LL);
    item(r, f, IO_CHUNK_CLOSE, 1, 0, 0, 0);
    item(r, f, IO_REC_END, 0, 0, 0, 3000000);
    /* the I/O thread is stuck retrying an open now */
    for (int i = 0;
         i < 1000 && metrics_value(metrics, "kibitka_recorder_fd_retries_total", NULL) < 3; i++)
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    CHECK(metrics_value(metrics, "kibitka_recorder_fd_retries_total", NULL) >= 3);
    pthread_mutex_lock(&ev_mu);
    CHECK(find(UPLOAD_CHUNK_CLOSE, 1) == NULL); /* not given up on */
    pthread_mutex_unlock(&ev_mu);

    while (ntaken > 0)
        close(taken[--ntaken]);
    recorder_sync(r);
    CHECK_EQ_INT(setrlimit(RLIMIT_NOFILE, &old), 0);
    const struct upload_event *close1 = find(UPLOAD_CHUNK_CLOSE, 1);
    CHECK(close1 != NULL);
    if (close1) {
        CHECK_EQ_INT(close1->bytes, 3100);
        CHECK_EQ_INT(close1->duration_us, 3000000);
    }
    CHECK_EQ_INT(file_size(id, 1), 3100);
    CHECK_EQ_INT(metrics_value(metrics, "kibitka_recorder_dropped_total", NULL), 0);
    CHECK_EQ_INT(metrics_value(metrics, "kibitka_spool_bytes", NULL), 3100);
    recorder_destroy(&r);
    upload_spool_forget(spool, id);
}

int main(void)
{
    char dir[] = "/tmp/kibitka-recorder-io-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    snprintf(spool, sizeof(spool), "%s/spool", dir);
    test_gaps();
    test_emfile();
    rmdir(spool);
    rmdir(dir);
    return test_report("test_recorder_io");
}
