/* Between the recorder's sink (recorder/sink.c, network thread) and its I/O thread
 * (recorder/io.c): the bounded queue of file operations. */
#ifndef KIBITKA_RECORDER_INTERNAL_H
#define KIBITKA_RECORDER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/blob.h"
#include "recorder/recorder.h"

/* One recording's file, used only by the I/O thread once handed over: the sink creates it with
 * IO_REC_START and never touches it again except to name it in later items; the I/O thread
 * frees it at IO_REC_END (items are applied in order, so none follows). */
struct io_file {
    struct upload_rec_info info;
    int fd; /* the chunk being written; -1 */
    int seq;
    int64_t bytes; /* of the chunk so far */
    int fragments; /* complete fragments in the chunk */
    bool broken;   /* a write failed: the chunk takes no more fragments */
    /* Media time (the recording's timeline, us): where the chunk being written starts, and the
     * end of the media written for good so far (a fragment on disk). A chunk that opens past
     * media_end_us follows a gap: what the recorder could not write (paused, dropped). */
    int64_t chunk_start_us, media_end_us, gap_us;
};

enum io_type { IO_REC_START, IO_CHUNK_OPEN, IO_WRITE, IO_CHUNK_CLOSE, IO_REC_END };

struct io_item {
    struct io_item *next;
    enum io_type type;
    struct io_file *file;
    int seq;             /* IO_CHUNK_OPEN */
    struct blob *data;   /* IO_CHUNK_OPEN: the init section; IO_WRITE: one fragment */
    int64_t duration_us; /* IO_CHUNK_CLOSE */
    int64_t time_us;     /* wall clock: chunk start (OPEN), end (CLOSE, REC_END) */
    /* Media time: the stream's start (REC_START), the chunk's start (OPEN), the fragment's end
     * (WRITE), the end of the stream's media (REC_END). */
    int64_t media_us;
};

struct recorder {
    struct recorder_config cfg;
    char *spool_dir;
    struct recorder_metrics m;

    pthread_mutex_t mu;
    pthread_cond_t cond; /* items queued, stop, or (done) the queue drained */
    struct io_item *head, *tail;
    atomic_int_fast64_t queued_bytes; /* blob bytes in the queue; written under mu */
    uint64_t pushed, done;            /* items queued and applied, for recorder_sync */
    bool stop;
    pthread_t thread;
    bool thread_started; /* false only when recorder_create failed to start it */

    /* Set by the I/O thread when a write finds the disk full (ENOSPC, EDQUOT); the sinks then
     * pause. Cleared by the I/O thread once the disk has resume_free_bytes free again. */
    atomic_bool disk_full;
    int64_t resume_free_bytes;
    int64_t disk_checked_us; /* monotonic: the last look at the free space (I/O thread) */
    /* The I/O thread's alone: a descriptor held back (/dev/null) and closed when an open fails
     * with EMFILE, so the chunk at hand still gets its file; -1 while used up. */
    int spare_fd;
    bool fd_short; /* an EMFILE episode was logged */
};

/* Queues an item (takes its data reference). A droppable item (IO_WRITE) is refused with
 * -ENOBUFS when the queue holds queue_max_bytes already; the caller still owns it then. */
int io_push(struct recorder *r, struct io_item *it, bool droppable);
int io_start(struct recorder *r);
/* Applies what is queued, then stops the thread. */
void io_stop(struct recorder *r);

/* The hub observer (sink.c). */
void recorder_on_hub(void *opaque, struct hub *hub);

#endif
