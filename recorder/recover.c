/* Crash recovery of the spool at start, and the fMP4 box walk it needs: a chunk file that was
 * being written when the process died ends in a partial fragment (or none); cut back to its
 * last complete moof+mdat, it plays. See recorder.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libavformat/avformat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "recorder/recorder.h"

/* ---- the box walk ---- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads the box header at off: its type and total size. 0, or -ENODATA when the header or the
 * box does not fit in size, or a negative errno. */
static int box_at(int fd, int64_t off, int64_t size, char type[5], int64_t *len)
{
    uint8_t h[16];
    if (off + 8 > size)
        return -ENODATA;
    ssize_t n = pread(fd, h, off + 16 <= size ? 16 : 8, off);
    if (n < 8)
        return n < 0 ? -errno : -ENODATA;
    memcpy(type, h + 4, 4);
    type[4] = '\0';
    int64_t l = be32(h), header = 8;
    if (l == 1) { /* 64-bit largesize */
        if (n < 16)
            return -ENODATA;
        l = (int64_t)((uint64_t)be32(h + 8) << 32 | be32(h + 12));
        header = 16;
    } else if (l == 0) {
        l = size - off; /* to the end of the file: only complete if it is the last box */
    }
    /* Shorter than its own header is malformed; and not off + l > size: a 64-bit largesize
     * would overflow it. */
    if (l < header || l > size - off)
        return -ENODATA;
    *len = l;
    return 0;
}

int64_t recorder_fmp4_complete(int fd, int64_t size, int *fragments)
{
    int64_t off = 0, complete = 0, moof_end = -1;
    bool ftyp = false, moov = false;
    *fragments = 0;
    for (;;) {
        char type[5];
        int64_t len = 0;
        int rc = box_at(fd, off, size, type, &len);
        if (rc == -ENODATA)
            break;
        if (rc < 0)
            return rc;
        off += len;
        if (!strcmp(type, "ftyp")) {
            ftyp = true;
        } else if (!strcmp(type, "moov")) {
            moov = ftyp;
            if (moov)
                complete = off;
        } else if (!moov) {
            break; /* media before an init section: nothing playable */
        } else if (!strcmp(type, "moof")) {
            moof_end = off;
        } else if (!strcmp(type, "mdat") && moof_end >= 0) {
            complete = off;
            moof_end = -1;
            (*fragments)++;
        } else if (moof_end < 0) {
            complete = off; /* free, styp, sidx... between fragments */
        }
    }
    return moov ? complete : 0;
}

int recorder_truncate_chunk(const char *path, int64_t *bytes)
{
    *bytes = 0;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat sb;
    int frags = 0, rc = 0;
    int64_t keep = fstat(fd, &sb) < 0 ? -errno : recorder_fmp4_complete(fd, sb.st_size, &frags);
    if (keep < 0)
        rc = (int)keep;
    else if (keep < sb.st_size && ftruncate(fd, keep) < 0)
        rc = -errno;
    else if (keep < sb.st_size && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    if (rc < 0)
        return rc;
    *bytes = keep;
    return frags;
}

int64_t recorder_chunk_duration_us(const char *path)
{
    AVFormatContext *fmt = NULL;
    if (avformat_open_input(&fmt, path, NULL, NULL) < 0)
        return 0;
    int64_t first = INT64_MAX, last = INT64_MIN;
    AVRational tb = fmt->nb_streams ? fmt->streams[0]->time_base : (AVRational){1, 1};
    AVPacket *pkt = av_packet_alloc();
    while (pkt && av_read_frame(fmt, pkt) >= 0) {
        if (pkt->stream_index == 0 && pkt->dts != AV_NOPTS_VALUE) {
            if (pkt->dts < first)
                first = pkt->dts;
            if (pkt->dts + pkt->duration > last)
                last = pkt->dts + pkt->duration;
        }
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    avformat_close_input(&fmt);
    return last > first ? av_rescale_q(last - first, tb, (AVRational){1, 1000000}) : 0;
}

/* ---- the spool ---- */

static bool is_hex_id(const char *s)
{
    if (strlen(s) != 32)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

static int read_meta(const char *dir, struct upload_rec_info *out)
{
    char path[1100];
    snprintf(path, sizeof(path), "%s/recording.json", dir);
    json_t *o = json_load_file(path, 0, NULL);
    const char *id = NULL, *stream = NULL, *sid = "", *uid = "", *user = NULL;
    json_int_t started = 0;
    int rc = o && json_unpack(o, "{s:s, s:s, s?s, s?s, s:s, s:I}", "id", &id, "stream", &stream,
                              "stream_id", &sid, "user_id", &uid, "user", &user, "started_at",
                              &started) == 0
                 ? 0
                 : -EINVAL;
    if (rc == 0) {
        memset(out, 0, sizeof(*out));
        snprintf(out->id, sizeof(out->id), "%s", id);
        snprintf(out->stream_name, sizeof(out->stream_name), "%s", stream);
        snprintf(out->stream_id, sizeof(out->stream_id), "%s", sid);
        snprintf(out->user_id, sizeof(out->user_id), "%s", uid);
        snprintf(out->user_name, sizeof(out->user_name), "%s", user);
        out->started_at = started;
    }
    json_decref(o);
    return rc;
}

static int seq_cmp(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* The chunk numbers in dir, sorted; *n of them (heap). */
static int *list_chunks(const char *dir, int *n)
{
    int *seqs = NULL, cap = 0;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        int seq = 0, used = 0;
        if (sscanf(e->d_name, "%d.mp4%n", &seq, &used) != 1 || used != (int)strlen(e->d_name) ||
            seq <= 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            seqs = xrealloc(seqs, sizeof(*seqs) * (size_t)cap);
        }
        seqs[(*n)++] = seq;
    }
    closedir(d);
    if (*n)
        qsort(seqs, (size_t)*n, sizeof(*seqs), seq_cmp);
    return seqs;
}

/* One chunk file: cut back if it was being written, reported closed. Returns 1 when reported,
 * 0 when removed (no media), or a negative errno. *end is its end time. */
static int recover_chunk(const struct recorder_recover_config *cfg,
                         const struct upload_rec_info *ri, int seq, int64_t *end)
{
    char path[1024];
    upload_chunk_path(cfg->spool_dir, ri->id, seq, path, sizeof(path));
    struct db_chunk row = {0};
    int found = cfg->db ? db_chunk_get(cfg->db, ri->id, seq, &row) : -ENOENT;
    bool written = found == 0 && row.state != DB_CHUNK_RECORDING; /* closed before the stop */
    int64_t bytes = 0;
    int frags = recorder_truncate_chunk(path, &bytes);
    if (frags <= 0) {
        if (frags == 0) {
            log_warn("recorder", ri->stream_name, "%s holds no complete fragment: removed", path);
            unlink(path);
        }
        db_chunk_clear(&row);
        struct upload_event ev = {.type = UPLOAD_CHUNK_CLOSE, .rec = *ri, .seq = seq};
        if (frags == 0)
            cfg->on_event(cfg->opaque, &ev); /* bytes 0: the row goes */
        return frags;
    }
    struct stat sb;
    int64_t mtime = stat(path, &sb) == 0
                        ? (int64_t)sb.st_mtim.tv_sec * 1000000 + sb.st_mtim.tv_nsec / 1000
                        : clock_wall_us();
    struct upload_event ev = {.type = UPLOAD_CHUNK_CLOSE, .rec = *ri, .seq = seq, .bytes = bytes};
    ev.duration_us = written ? row.duration_us : recorder_chunk_duration_us(path);
    ev.time_us = written && row.ended_at ? row.ended_at : mtime;
    if (!written)
        log_info("recorder", ri->stream_name,
                 "recovered chunk %06d of recording %s: %lld bytes, %d fragments, %.1f s", seq,
                 ri->id, (long long)bytes, frags, (double)ev.duration_us / 1e6);
    db_chunk_clear(&row);
    metrics_add(metrics_gauge(cfg->metrics, "kibitka_spool_bytes", RECORDER_SPOOL_BYTES_HELP),
                bytes);
    cfg->on_event(cfg->opaque, &ev);
    if (ev.time_us > *end)
        *end = ev.time_us;
    return 1;
}

static int recover_recording(const struct recorder_recover_config *cfg, const char *name)
{
    char dir[1024];
    struct upload_rec_info ri;
    upload_chunk_path(cfg->spool_dir, name, 0, dir, sizeof(dir));
    if (read_meta(dir, &ri) < 0 || strcmp(ri.id, name) != 0) {
        log_warn("recorder", NULL, "%s: no readable recording.json; left alone", dir);
        return -1;
    }
    struct upload_event ev = {.type = UPLOAD_REC_START, .rec = ri, .time_us = ri.started_at};
    cfg->on_event(cfg->opaque, &ev);
    int n = 0, count = 0;
    int64_t end = ri.started_at;
    int *seqs = list_chunks(dir, &n);
    for (int i = 0; i < n; i++)
        if (recover_chunk(cfg, &ri, seqs[i], &end) > 0)
            count++;
    free(seqs);
    ev = (struct upload_event){.type = UPLOAD_REC_END, .rec = ri, .time_us = end};
    cfg->on_event(cfg->opaque, &ev);
    return count;
}

int recorder_recover(const struct recorder_recover_config *cfg)
{
    struct recorder_metrics mx; /* registered here too: /metrics shows them with --no-record */
    recorder_metrics_register(cfg->metrics, &mx);
    DIR *d = opendir(cfg->spool_dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    struct dirent *e;
    int chunks = 0, recs = 0;
    char **names = NULL;
    int n = 0;
    while ((e = readdir(d))) {
        if (!is_hex_id(e->d_name))
            continue;
        names = xrealloc(names, sizeof(*names) * (size_t)(n + 1));
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    for (int i = 0; i < n; i++) {
        int found = recover_recording(cfg, names[i]);
        if (found >= 0) {
            chunks += found;
            recs++;
        }
        free(names[i]);
    }
    free(names);
    if (recs)
        log_info("recorder", NULL,
                 "spool %s: %d chunk(s) of %d recording(s) left from before, "
                 "queued for upload",
                 cfg->spool_dir, chunks, recs);
    return chunks;
}
