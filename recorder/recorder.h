/* The recorder: every live stream written at source quality (stream copy) as fragmented MP4
 * chunks into a local spool, from which the upload queue (recorder/upload.h) moves them to the
 * store.
 *
 * How it fits. recorder_create registers a hub registry observer, like the packager, so every
 * new hub gets a recorder sink. The sink runs on the network thread and must not block there:
 * it muxes packets with media/fmp4 (cheap: no decode, one copy of each frame) and hands
 * refcounted blobs to the recorder's I/O thread through a bounded queue:
 *
 *   network thread (sink)                      recorder I/O thread             upload worker
 *   packets -> fmp4 fragments (1 s) ----------> write + fdatasync ----events--> database,
 *   cut at a keyframe past --record-chunk ----> close the chunk file            uploads
 *
 * Layout: <spool>/<recording-id>/recording.json (who and when: enough to rebuild the rows)
 * and <spool>/<recording-id>/<seq:06d>.mp4, each chunk an init section (ftyp+moov) followed by
 * moof+mdat fragments of about one second. Every chunk plays on its own; the fragments' decode
 * times (tfdt) keep counting across chunks, so the chunks of a recording are contiguous.
 *
 * Limits. If the I/O queue holds more than queue_max_bytes (a disk far too slow), a fragment
 * is dropped with a warning; with spool_max_bytes, a recording pauses (one log line) when the
 * spool would outgrow it and resumes, in a new chunk at a keyframe, once uploads made room for
 * what did not fit with 10% of it to spare. A full disk (a write fails with ENOSPC or EDQUOT)
 * pauses every recording the same way until the disk has DB_SQLITE_RESERVE_BYTES + 8 MiB free (the
 * I/O thread looks once a second). In every case the current chunk is closed, and the next starts
 * on a keyframe, so every chunk stays decodable; the media missing is reported as a gap
 * (upload_event.gap_us). The live stream is never affected. A shortage of descriptors (EMFILE) is
 * waited out, never a lost chunk.
 *
 * Which streams. Not at all with --no-record (the server then creates no recorder). A
 * stream-key publish carries its stream row (hub_publisher): recorded when the row's record
 * flag is set, under its owner. An --open-publish stream has no row: it is recorded under the
 * pseudo-user "_open" (object keys _open/<stream>/...; the rows have no stream_id/user_id), so
 * development setups record too; run with --no-record to avoid it. */
#ifndef KIBITKA_RECORDER_RECORDER_H
#define KIBITKA_RECORDER_RECORDER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/hub.h"
#include "core/metrics.h"
#include "db/db.h"
#include "recorder/upload.h"

/* The pseudo-user of --open-publish streams. */
#define RECORDER_OPEN_USER "_open"

struct recorder;

/* Where chunk events go: upload_post_cb with the struct upload, or a test's collector. Called
 * on the recorder's I/O thread (and on the caller's by recorder_recover). */
typedef void (*recorder_event_fn)(void *opaque, const struct upload_event *ev);

struct recorder_config {
    const char *spool_dir;   /* DATA/spool; created when missing */
    double chunk_seconds;    /* --record-chunk: a chunk ends at the first keyframe past this */
    double fragment_seconds; /* 0: 1; a fragment (and an fdatasync) at least this often */
    int64_t spool_max_bytes; /* --spool-max-bytes; 0: no limit */
    int64_t queue_max_bytes; /* the I/O queue's bound; 0: 64 MiB */
    recorder_event_fn on_event;
    void *opaque;
    struct metrics *metrics; /* required: registers the recorder's figures */
};

/* The recorder's /metrics figures (kibitka_recording*, kibitka_recorder_*, kibitka_spool_bytes),
 * registered by recorder_create and recorder_recover. The upload queue registers
 * kibitka_spool_bytes too (it removes uploaded chunks) with this help. */
#define RECORDER_SPOOL_BYTES_HELP "Bytes of recording chunks in the local spool."
struct recorder_metrics {
    atomic_int_fast64_t *recordings_active;         /* gauge: streams being recorded */
    atomic_int_fast64_t *recorder_paused;           /* gauge: paused (spool, disk full) */
    atomic_int_fast64_t *recorder_disk_full;        /* gauge: 1 while the disk is full */
    atomic_int_fast64_t *recording_gaps_total;      /* counter: gaps (media not written) */
    atomic_int_fast64_t *recorder_fd_retries_total; /* counter: opens retried for lack of fds */
    atomic_int_fast64_t *recorder_dropped_total;    /* counter: fragments dropped */
    atomic_int_fast64_t *spool_bytes;               /* gauge: bytes of chunk files in the spool */
};
void recorder_metrics_register(struct metrics *m, struct recorder_metrics *mx);

/* Starts the I/O thread and registers the observer on hubs (before any claim). NULL on
 * failure (logged). */
struct recorder *recorder_create(const struct recorder_config *cfg, struct hub_registry *hubs);
/* Writes out what is queued, stops the I/O thread, frees, clears *pr; NULL-safe. Every hub
 * must have ended (its sink then queued the end of its recording). */
void recorder_destroy(struct recorder **pr);
/* Blocks until the I/O thread has written everything queued so far (tests). */
void recorder_sync(struct recorder *r);

/* Crash recovery, at start, before recording anything: for each recording directory in the
 * spool, each chunk is cut back to its last complete fragment (a chunk being written when the
 * process died) or removed when it holds none, and reported closed (on_event CHUNK_CLOSE, after
 * REC_START); then REC_END finishes the recording. Chunks already uploaded are reported too
 * (the upload worker then only removes the file). Adds the chunks' bytes to
 * kibitka_spool_bytes. Returns the number of chunks found, or a negative errno when the spool
 * cannot be read. */
struct recorder_recover_config {
    struct db *db; /* to read the chunks' rows; may be NULL (every chunk is probed) */
    const char *spool_dir;
    recorder_event_fn on_event;
    void *opaque;
    struct metrics *metrics;
};
int recorder_recover(const struct recorder_recover_config *cfg);

/* fMP4 top-level box walk over the first size bytes of fd: the length of the prefix that is
 * complete (ftyp, moov, then moof+mdat pairs; a trailing partial pair is left out). Sets
 * *fragments to the number of complete moof+mdat pairs. Returns 0 when there is no complete
 * init section (ftyp+moov), or a negative errno on a read error. */
int64_t recorder_fmp4_complete(int fd, int64_t size, int *fragments);
/* Cuts the file at path back to recorder_fmp4_complete and fsyncs it; *bytes is the new size.
 * Returns the number of fragments left, or a negative errno. */
int recorder_truncate_chunk(const char *path, int64_t *bytes);
/* Media time a chunk file covers (its first track, usually the video), by reading its packets
 * with libavformat; 0 when unreadable. */
int64_t recorder_chunk_duration_us(const char *path);

#endif
