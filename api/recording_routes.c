/* /api/recordings and /api/recordings/{id}: the list with its filters and pages, one recording
 * with its chunks, and delete. The chunk and playlist routes are in recording_media.c.
 *
 * Who sees what: a user their own recordings (by owner id), an admin every one, including the
 * --open-publish ones (owner "_open", no owner id). Anyone else's recording is answered exactly
 * like one that does not exist (404), as for streams. A recording its owner or an admin made
 * public (PATCH {"public": true}) is also offered to anyone, through a signed playlist URL, as
 * its stream's last recording (GET /api/streams/{name}/recording). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "api/vod.h"
#include "core/alloc.h"
#include "core/log.h"

#define LIST_DEFAULT 50
#define LIST_MAX 500
#define OFFSET_MAX 1000000000

static bool id_valid(const char *id)
{
    if (!id || strlen(id) != 32)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

bool api_recording_visible(struct api_call *c, struct db_recording *r)
{
    memset(r, 0, sizeof(*r));
    const char *id = router_param(&c->params, "id");
    int err = id_valid(id) ? db_recording_get(c->api->db, id, r) : -ENOENT;
    if (err == 0 && !c->url_signed && c->user.role != DB_ROLE_ADMIN &&
        (!r->user_id || strcmp(r->user_id, c->user.id)))
        err = -ENOENT;
    if (err < 0) {
        db_recording_clear(r);
        api_fail_db(c, err, "recording");
        return false;
    }
    return true;
}

static json_t *time_or_null(int64_t us)
{
    return us > 0 ? json_time(us) : json_null();
}

static json_t *recording_json(const struct db_recording *r)
{
    char url[64];
    snprintf(url, sizeof(url), "/api/recordings/%s", r->id);
    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:f,s:I,s:i,s:i,s:b,s:f,s:b,s:s}", "id", r->id,
                     "stream", r->stream_name, "user", r->user_name, "state",
                     db_recording_state_name(r->state), "started_at", json_time(r->started_at),
                     "ended_at", time_or_null(r->ended_at), "duration_seconds",
                     r->duration_us / 1e6, "bytes", (json_int_t)r->bytes, "chunks", r->chunks,
                     "chunks_uploaded", r->chunks_uploaded, "incomplete", r->gap_us > 0,
                     "gap_seconds", r->gap_us / 1e6, "public", r->is_public, "url", url);
}

/* Where media is missing: before a chunk (its seq), or at the end (before_chunk null). */
static json_t *gaps_json(const struct db_recording *r, const struct db_chunk *chunks, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        if (chunks[i].gap_before_us > 0)
            json_array_append_new(arr, json_pack("{s:i,s:f}", "before_chunk", chunks[i].seq,
                                                 "seconds", chunks[i].gap_before_us / 1e6));
    if (r->gap_end_us > 0)
        json_array_append_new(arr, json_pack("{s:n,s:f}", "before_chunk", "seconds",
                                             r->gap_end_us / 1e6));
    return arr;
}

static json_t *chunk_json(struct api *api, const struct db_recording *r, const struct db_chunk *k,
                          int64_t expires)
{
    json_t *o = json_pack("{s:i,s:s?,s:I,s:f,s:s,s:o,s:o,s:o,s:f}", "seq", k->seq, "object_key",
                          k->object_key, "bytes", (json_int_t)k->bytes, "duration_seconds",
                          k->duration_us / 1e6, "state", db_chunk_state_name(k->state),
                          "started_at", time_or_null(k->started_at), "ended_at",
                          time_or_null(k->ended_at), "uploaded_at", time_or_null(k->uploaded_at),
                          "gap_before_seconds", k->gap_before_us / 1e6);
    if (k->state == DB_CHUNK_UPLOADED) {
        char path[96], q[API_URL_QUERY_MAX];
        snprintf(path, sizeof(path), "/api/recordings/%s/chunks/%d.mp4", r->id, k->seq);
        api_url_query(api, path, expires, q);
        json_object_set_new(o, "url", json_sprintf("%s?%s", path, q));
    }
    return o;
}

/* ---- the list ---- */

static const char *arg(struct api_call *c, const char *name)
{
    return c->req->arg ? c->req->arg(c->req->arg_ctx, name) : NULL;
}

static bool bad_param(struct api_call *c, const char *name, const char *want)
{
    api_fail(c, 400, "invalid_parameter", "query parameter '%s' must be %s", name, want);
    return false;
}

/* The filter and page from the query; false after a 400 naming the parameter. */
static bool list_params(struct api_call *c, struct db_recording_filter *f)
{
    static const char *const times = "unix seconds or an RFC 3339 time (2026-01-02T03:04:05Z)";
    const char *v;
    int64_t n;
    memset(f, 0, sizeof(*f));
    f->limit = LIST_DEFAULT;
    if ((v = arg(c, "stream")) && !api_name_valid(v))
        return bad_param(c, "stream", "a stream name ([a-z0-9_-]{1,64})");
    f->stream_name = v;
    if ((v = arg(c, "user")) && !(api_name_valid(v) || !strcmp(v, "_open")))
        return bad_param(c, "user", "a user name ([a-z0-9_-]{1,64})");
    f->user_name = v;
    if ((v = arg(c, "from")) && vod_parse_time(v, &f->from) < 0)
        return bad_param(c, "from", times);
    if ((v = arg(c, "to")) && vod_parse_time(v, &f->to) < 0)
        return bad_param(c, "to", times);
    if (f->from && f->to && f->to <= f->from)
        return bad_param(c, "to", "later than 'from'");
    if ((v = arg(c, "limit"))) {
        if (vod_parse_int(v, 1, LIST_MAX, &n) < 0)
            return bad_param(c, "limit", "an integer from 1 to 500");
        f->limit = (int)n;
    }
    if ((v = arg(c, "offset"))) {
        if (vod_parse_int(v, 0, OFFSET_MAX, &n) < 0)
            return bad_param(c, "offset", "an integer from 0 to 1000000000");
        f->offset = (int)n;
    }
    return true;
}

void api_recordings_list(struct api_call *c)
{
    struct db_recording_filter f;
    if (!list_params(c, &f))
        return;
    if (c->user.role != DB_ROLE_ADMIN) {
        if (f.user_name && strcmp(f.user_name, c->user.name)) {
            api_fail(c, 403, "forbidden", "only admins may list other users' recordings");
            return;
        }
        f.user_name = NULL;
        f.user_id = c->user.id;
    }
    struct db_recording *list;
    size_t n;
    int64_t total;
    int err = db_recording_list(c->api->db, &f, &list, &n, &total);
    if (err < 0) {
        api_fail_db(c, err, "recording");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, recording_json(&list[i]));
    db_recording_list_free(&list, n);
    int64_t next = f.offset + (int64_t)n;
    api_ok(c, 200,
           json_pack("{s:o,s:I,s:i,s:i,s:o}", "recordings", arr, "total", (json_int_t)total,
                     "limit", f.limit, "offset", f.offset, "next_offset",
                     next < total && n > 0 ? json_integer(next) : json_null()));
}

/* ---- one recording ---- */

void api_recording_get(struct api_call *c)
{
    struct db_recording r;
    if (!api_recording_visible(c, &r))
        return;
    struct db_chunk *chunks = NULL;
    size_t n = 0;
    int err = db_chunk_list(c->api->db, r.id, &chunks, &n);
    if (err < 0) {
        api_fail_db(c, err, "recording");
        db_recording_clear(&r);
        return;
    }
    int64_t expires = api_url_expiry(c->api, &r);
    json_t *o = recording_json(&r), *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, chunk_json(c->api, &r, &chunks[i], expires));
    json_object_set_new(o, "chunk_list", arr);
    json_object_set_new(o, "gaps", gaps_json(&r, chunks, n));
    char path[96], q[API_URL_QUERY_MAX];
    snprintf(path, sizeof(path), "/api/recordings/%s/index.m3u8", r.id);
    api_url_query(c->api, path, expires, q);
    json_object_set_new(o, "playlist_url", json_sprintf("%s?%s", path, q));
    api_ok(c, 200, o);
    db_chunk_list_free(&chunks, n);
    db_recording_clear(&r);
}

/* ---- public: PATCH {"public"} (owner, admin) and a stream's last public recording ---- */

void api_recording_patch(struct api_call *c)
{
    struct db_recording r;
    if (!api_recording_visible(c, &r))
        return;
    bool pub = json_is_true(json_object_get(c->body, "public"));
    int err = db_recording_set_public(c->api->db, r.id, pub);
    if (err < 0) {
        api_fail_db(c, err, "recording");
    } else {
        r.is_public = pub;
        api_ok(c, 200, recording_json(&r));
        log_info("api", r.stream_name, "recording %s made %s by '%s'", r.id,
                 pub ? "public" : "private", c->user.name);
    }
    db_recording_clear(&r);
}

/* GET /api/streams/{name}/recording, no token: the last public ready recording of the stream
 * (by its name at the start), with a signed playlist URL; 404 when there is none (private
 * ones are never named). For /watch/<stream> once the stream has ended. */
void api_stream_last_recording(struct api_call *c)
{
    const char *name = router_param(&c->params, "name");
    struct db_recording r = {0};
    int err = api_name_valid(name) ? db_recording_last_public(c->api->db, name, &r) : -ENOENT;
    if (err < 0) {
        if (err == -ENOENT)
            api_fail(c, 404, "not_found", "this stream has no public recording");
        else
            api_fail_db(c, err, "recording");
        db_recording_clear(&r);
        return;
    }
    char path[96], q[API_URL_QUERY_MAX];
    snprintf(path, sizeof(path), "/api/recordings/%s/index.m3u8", r.id);
    api_url_query(c->api, path, api_url_expiry(c->api, &r), q);
    api_ok(c, 200,
           json_pack("{s:s,s:o,s:o,s:f,s:o}", "stream", r.stream_name, "started_at",
                     json_time(r.started_at), "ended_at", time_or_null(r.ended_at),
                     "duration_seconds", r.duration_us / 1e6, "playlist_url",
                     json_sprintf("%s?%s", path, q)));
    db_recording_clear(&r);
}

/* ---- delete ---- */

/* 409 unless every chunk has reached the end of the upload queue (uploaded or failed): the
 * upload worker still owns the rows and spool files of the others. */
static bool deletable(struct api_call *c, const struct db_recording *r,
                      const struct db_chunk *chunks, size_t n)
{
    if (r->state == DB_REC_RECORDING) {
        api_fail(c, 409, "conflict", "the recording is still being recorded");
        return false;
    }
    bool busy = r->state == DB_REC_FINISHED;
    for (size_t i = 0; i < n; i++)
        busy |= chunks[i].state != DB_CHUNK_UPLOADED && chunks[i].state != DB_CHUNK_FAILED;
    if (busy) {
        api_fail(c, 409, "conflict", "the recording's chunks are still being uploaded; try again");
        return false;
    }
    return true;
}

/* Removes the objects (a missing one is fine); false after a 502 when the store refused. */
static bool delete_objects(struct api_call *c, const struct db_recording *r,
                           const struct db_chunk *chunks, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!chunks[i].object_key || !chunks[i].object_key[0])
            continue;
        char err[256] = "";
        int rc = storage_delete(c->api->store, chunks[i].object_key, err, sizeof(err));
        if (rc < 0) {
            log_warn("api", r->stream_name, "deleting recording %s: %s: %s", r->id,
                     chunks[i].object_key, err[0] ? err : strerror(-rc));
            api_fail(c, rc == -EAGAIN ? 503 : 502, "storage_error",
                     "the store did not delete chunk %d; nothing was removed from the list, "
                     "try again",
                     chunks[i].seq);
            return false;
        }
    }
    return true;
}

void api_recording_delete(struct api_call *c)
{
    struct db_recording r;
    if (!api_recording_visible(c, &r))
        return;
    struct db_chunk *chunks = NULL;
    size_t n = 0;
    int err = db_chunk_list(c->api->db, r.id, &chunks, &n);
    if (err < 0)
        api_fail_db(c, err, "recording");
    else if (!c->api->store)
        api_fail(c, 503, "unavailable", "no store configured");
    else if (deletable(c, &r, chunks, n) && delete_objects(c, &r, chunks, n)) {
        err = db_recording_delete(c->api->db, r.id);
        if (err < 0) {
            api_fail_db(c, err, "recording");
        } else {
            /* chunks that failed for good left spool files: else the next start recovers them */
            if (c->api->on_deleted)
                c->api->on_deleted(c->api->on_deleted_opaque, r.id);
            api_ok(c, 204, NULL);
            log_info("api", r.stream_name, "recording %s (%zu chunks) deleted by '%s'", r.id, n,
                     c->user.name);
        }
    }
    db_chunk_list_free(&chunks, n);
    db_recording_clear(&r);
}
