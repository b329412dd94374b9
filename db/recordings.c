/* The recording and chunk operations of db.h (issue 6), in the style of ops.c: one statement
 * each, written once for both dialects, every value bound. Statement ids start at
 * DB_STMT_OPS_END so they never collide with ops.c's in a backend's statement cache. Optional
 * filters are "CAST($n AS TEXT) IS NULL OR col = $n": the cast gives PostgreSQL the parameter's
 * type, and SQLite accepts it as it is. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "db/backend.h"
#include "db/db.h"
#include "db/rows.h"

enum {
    ST_REC_INSERT = DB_STMT_OPS_END,
    ST_REC_GET,
    ST_REC_FINISH,
    ST_REC_SET_STATE,
    ST_REC_LIST,
    ST_REC_COUNT,
    ST_REC_DELETE,
    ST_CHUNK_INSERT,
    ST_CHUNK_GET,
    ST_CHUNK_UPDATE,
    ST_CHUNK_SET_STATE,
    ST_CHUNK_LIST,
    ST_CHUNK_LIST_PENDING,
    ST_CHUNK_DELETE,
    ST_REC_SET_GAP_END,
    ST_REC_SET_PUBLIC,
    ST_REC_LAST_PUBLIC,
    ST_END
};
_Static_assert(ST_END <= DB_STMT_ROOMS_BEGIN, "raise DB_STMT_ROOMS_BEGIN");
#define S(id) (&stmts[(id)-DB_STMT_OPS_END])

#define CHUNKS_OF_R "FROM recording_chunks c WHERE c.recording_id = r.id"
#define REC_COLS                                                                                   \
    "SELECT r.id, r.stream_id, r.stream_name, r.user_id, r.user_name, r.node_id, r.started_at, "   \
    "r.ended_at, r.state, r.created_at, (SELECT COALESCE(SUM(c.bytes), 0) " CHUNKS_OF_R            \
    "), (SELECT COALESCE(SUM(c.duration_us), 0) " CHUNKS_OF_R "), (SELECT COUNT(*) " CHUNKS_OF_R   \
    "), (SELECT COUNT(*) " CHUNKS_OF_R " AND c.state = 'uploaded'), r.gap_end_us, r.gap_end_us + " \
    "(SELECT COALESCE(SUM(c.gap_before_us), 0) " CHUNKS_OF_R "), r.is_public FROM recordings r "
#define REC_TYPES "ssssssiisiiiiiiii"
_Static_assert(sizeof(REC_TYPES) - 1 <= DB_MAX_COLS, "raise DB_MAX_COLS");
#define REC_FILTER                                                                                 \
    "WHERE (CAST($1 AS TEXT) IS NULL OR r.stream_name = $1) AND (CAST($2 AS TEXT) IS NULL OR "     \
    "r.user_id = $2) AND (CAST($3 AS TEXT) IS NULL OR r.user_name = $3) AND r.started_at >= $4 "   \
    "AND r.started_at < $5 "
#define CHUNK_COLS                                                                                 \
    "SELECT recording_id, seq, object_key, bytes, duration_us, state, started_at, ended_at, "      \
    "uploaded_at, gap_before_us FROM recording_chunks "
#define CHUNK_TYPES "sisiisiiii"

static const struct db_stmt stmts[ST_END - DB_STMT_OPS_END] = {
    {ST_REC_INSERT,
     "INSERT INTO recordings (id, stream_id, stream_name, user_id, user_name, node_id, "
     "started_at, ended_at, state, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
     ""},
    {ST_REC_GET, REC_COLS "WHERE r.id = $1", REC_TYPES},
    {ST_REC_FINISH,
     "UPDATE recordings SET state = CASE WHEN state = 'recording' THEN 'finished' ELSE state "
     "END, ended_at = COALESCE(ended_at, $2) WHERE id = $1",
     ""},
    {ST_REC_SET_STATE, "UPDATE recordings SET state = $2 WHERE id = $1", ""},
    {ST_REC_LIST, REC_COLS REC_FILTER "ORDER BY r.started_at DESC, r.id LIMIT $6 OFFSET $7",
     REC_TYPES},
    {ST_REC_COUNT, "SELECT COUNT(*) FROM recordings r " REC_FILTER, "i"},
    {ST_REC_DELETE, "DELETE FROM recordings WHERE id = $1", ""},
    {ST_CHUNK_INSERT,
     "INSERT INTO recording_chunks (recording_id, seq, object_key, bytes, duration_us, state, "
     "started_at, ended_at, uploaded_at, gap_before_us) "
     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
     ""},
    {ST_CHUNK_GET, CHUNK_COLS "WHERE recording_id = $1 AND seq = $2", CHUNK_TYPES},
    {ST_CHUNK_UPDATE,
     "UPDATE recording_chunks SET state = $3, bytes = $4, duration_us = $5, ended_at = $6, "
     "uploaded_at = $7 WHERE recording_id = $1 AND seq = $2",
     ""},
    {ST_CHUNK_SET_STATE,
     "UPDATE recording_chunks SET state = $3, uploaded_at = COALESCE($4, uploaded_at) WHERE "
     "recording_id = $1 AND seq = $2",
     ""},
    {ST_CHUNK_LIST, CHUNK_COLS "WHERE recording_id = $1 ORDER BY seq", CHUNK_TYPES},
    {ST_CHUNK_LIST_PENDING,
     CHUNK_COLS "WHERE state IN ('pending', 'uploading') ORDER BY started_at, recording_id, seq",
     CHUNK_TYPES},
    {ST_CHUNK_DELETE, "DELETE FROM recording_chunks WHERE recording_id = $1 AND seq = $2", ""},
    {ST_REC_SET_GAP_END, "UPDATE recordings SET gap_end_us = $2 WHERE id = $1", ""},
    {ST_REC_SET_PUBLIC, "UPDATE recordings SET is_public = $2 WHERE id = $1", ""},
    {ST_REC_LAST_PUBLIC,
     REC_COLS "WHERE r.stream_name = $1 AND r.is_public = 1 AND r.state = 'ready' "
              "ORDER BY r.started_at DESC, r.id LIMIT 1",
     REC_TYPES},
};

static const char *const rec_states[] = {"recording", "finished", "ready", "failed"};
static const char *const chunk_states[] = {"recording", "pending", "uploading", "uploaded",
                                           "failed"};

const char *db_recording_state_name(enum db_recording_state s)
{
    return (unsigned)s < 4 ? rec_states[s] : "failed";
}

int db_recording_state_parse(const char *text, enum db_recording_state *out)
{
    for (int i = 0; text && i < 4; i++)
        if (!strcmp(text, rec_states[i]))
            return *out = (enum db_recording_state)i, 0;
    return -EINVAL;
}

const char *db_chunk_state_name(enum db_chunk_state s)
{
    return (unsigned)s < 5 ? chunk_states[s] : "failed";
}

int db_chunk_state_parse(const char *text, enum db_chunk_state *out)
{
    for (int i = 0; text && i < 5; i++)
        if (!strcmp(text, chunk_states[i]))
            return *out = (enum db_chunk_state)i, 0;
    return -EINVAL;
}

/* 0 is stored as NULL (times not known yet). */
static struct db_val num_or_null(int64_t i)
{
    return i ? db_num(i) : (struct db_val){.type = DB_NULL};
}

static int64_t int_col(const struct db_val *v)
{
    return v->type == DB_INT ? v->i : 0;
}

static void fill_recording(void *item, const struct db_val *c)
{
    struct db_recording *r = item;
    r->id = db_dup_col(&c[0]);
    r->stream_id = db_dup_col(&c[1]);
    r->stream_name = db_dup_col(&c[2]);
    r->user_id = db_dup_col(&c[3]);
    r->user_name = db_dup_col(&c[4]);
    r->node_id = db_dup_col(&c[5]);
    r->started_at = int_col(&c[6]);
    r->ended_at = int_col(&c[7]);
    if (c[8].type != DB_TEXT || db_recording_state_parse(c[8].s, &r->state) < 0)
        r->state = DB_REC_FAILED;
    r->created_at = int_col(&c[9]);
    r->bytes = int_col(&c[10]);
    r->duration_us = int_col(&c[11]);
    r->chunks = (int)int_col(&c[12]);
    r->chunks_uploaded = (int)int_col(&c[13]);
    r->gap_end_us = int_col(&c[14]);
    r->gap_us = int_col(&c[15]);
    r->is_public = int_col(&c[16]) != 0;
}

void db_recording_clear(struct db_recording *r)
{
    xfreep(&r->id);
    xfreep(&r->stream_id);
    xfreep(&r->stream_name);
    xfreep(&r->user_id);
    xfreep(&r->user_name);
    xfreep(&r->node_id);
}

static void recording_clear_item(void *r)
{
    db_recording_clear(r);
}

void db_recording_list_free(struct db_recording **list, size_t n)
{
    for (size_t i = 0; *list && i < n; i++)
        db_recording_clear(&(*list)[i]);
    xfreep(list);
}

int db_recording_create(struct db *db, struct db_recording *r)
{
    if (!r->stream_name || !r->user_name || r->started_at <= 0)
        return -EINVAL;
    char *made = r->id ? NULL : db_new_id();
    const char *id = r->id ? r->id : made;
    int64_t now = clock_wall_us();
    struct db_val p[] = {db_txt(id),
                         db_txt(r->stream_id),
                         db_txt(r->stream_name),
                         db_txt(r->user_id),
                         db_txt(r->user_name),
                         db_txt(r->node_id),
                         db_num(r->started_at),
                         num_or_null(r->ended_at),
                         db_txt(db_recording_state_name(r->state)),
                         db_num(now)};
    int rc = db_exec(db, S(ST_REC_INSERT), p, 10, NULL, NULL, NULL);
    if (rc < 0) {
        free(made);
        return rc;
    }
    if (made)
        r->id = made;
    r->created_at = now;
    return 0;
}

int db_recording_get(struct db *db, const char *id, struct db_recording *out)
{
    struct db_val p[] = {db_txt(id)};
    return db_query_one(db, S(ST_REC_GET), p, 1, out, sizeof(*out), fill_recording,
                        recording_clear_item);
}

int db_recording_finish(struct db *db, const char *id, int64_t ended_at)
{
    struct db_val p[] = {db_txt(id), db_num(ended_at)};
    return db_exec_change(db, S(ST_REC_FINISH), p, 2);
}

int db_recording_set_state(struct db *db, const char *id, enum db_recording_state state)
{
    struct db_val p[] = {db_txt(id), db_txt(db_recording_state_name(state))};
    return db_exec_change(db, S(ST_REC_SET_STATE), p, 2);
}

int db_recording_set_gap_end(struct db *db, const char *id, int64_t gap_us)
{
    struct db_val p[] = {db_txt(id), db_num(gap_us > 0 ? gap_us : 0)};
    return db_exec_change(db, S(ST_REC_SET_GAP_END), p, 2);
}

int db_recording_set_public(struct db *db, const char *id, bool is_public)
{
    struct db_val p[] = {db_txt(id), db_num(is_public ? 1 : 0)};
    return db_exec_change(db, S(ST_REC_SET_PUBLIC), p, 2);
}

int db_recording_last_public(struct db *db, const char *stream_name, struct db_recording *out)
{
    struct db_val p[] = {db_txt(stream_name)};
    return db_query_one(db, S(ST_REC_LAST_PUBLIC), p, 1, out, sizeof(*out), fill_recording,
                        recording_clear_item);
}

static int count_row(void *ctx, const struct db_val *cols)
{
    *(int64_t *)ctx = int_col(&cols[0]);
    return 0;
}

int db_recording_list(struct db *db, const struct db_recording_filter *f, struct db_recording **out,
                      size_t *n, int64_t *total)
{
    static const struct db_recording_filter none = {0};
    if (!f)
        f = &none;
    if (f->limit < 0 || f->offset < 0)
        return -EINVAL;
    struct db_val p[] = {db_txt(f->stream_name && f->stream_name[0] ? f->stream_name : NULL),
                         db_txt(f->user_id && f->user_id[0] ? f->user_id : NULL),
                         db_txt(f->user_name && f->user_name[0] ? f->user_name : NULL),
                         db_num(f->from),
                         db_num(f->to > 0 ? f->to : INT64_MAX),
                         db_num(f->limit > 0 ? f->limit : 100),
                         db_num(f->offset)};
    *out = NULL;
    *n = 0;
    if (total) {
        *total = 0;
        int rc = db_exec(db, S(ST_REC_COUNT), p, 5, count_row, total, NULL);
        if (rc < 0)
            return rc;
    }
    return db_query_list(db, S(ST_REC_LIST), p, 7, (void **)out, n, sizeof(**out), fill_recording,
                         recording_clear_item);
}

int db_recording_delete(struct db *db, const char *id)
{
    struct db_val p[] = {db_txt(id)};
    return db_exec_change(db, S(ST_REC_DELETE), p,
                          1); /* the chunks go with it: ON DELETE CASCADE */
}

/* ---- chunks ---- */

static void fill_chunk(void *item, const struct db_val *c)
{
    struct db_chunk *k = item;
    k->recording_id = db_dup_col(&c[0]);
    k->seq = (int)int_col(&c[1]);
    k->object_key = db_dup_col(&c[2]);
    k->bytes = int_col(&c[3]);
    k->duration_us = int_col(&c[4]);
    if (c[5].type != DB_TEXT || db_chunk_state_parse(c[5].s, &k->state) < 0)
        k->state = DB_CHUNK_FAILED;
    k->started_at = int_col(&c[6]);
    k->ended_at = int_col(&c[7]);
    k->uploaded_at = int_col(&c[8]);
    k->gap_before_us = int_col(&c[9]);
}

void db_chunk_clear(struct db_chunk *c)
{
    xfreep(&c->recording_id);
    xfreep(&c->object_key);
}

static void chunk_clear_item(void *c)
{
    db_chunk_clear(c);
}

void db_chunk_list_free(struct db_chunk **list, size_t n)
{
    for (size_t i = 0; *list && i < n; i++)
        db_chunk_clear(&(*list)[i]);
    xfreep(list);
}

int db_chunk_create(struct db *db, const struct db_chunk *c)
{
    if (!c->recording_id || !c->object_key || c->seq < 0)
        return -EINVAL;
    struct db_val p[] = {
        db_txt(c->recording_id), db_num(c->seq),           db_txt(c->object_key),
        db_num(c->bytes),        db_num(c->duration_us),   db_txt(db_chunk_state_name(c->state)),
        db_num(c->started_at),   num_or_null(c->ended_at), num_or_null(c->uploaded_at),
        db_num(c->gap_before_us > 0 ? c->gap_before_us : 0)};
    return db_exec(db, S(ST_CHUNK_INSERT), p, 10, NULL, NULL, NULL);
}

int db_chunk_get(struct db *db, const char *recording_id, int seq, struct db_chunk *out)
{
    struct db_val p[] = {db_txt(recording_id), db_num(seq)};
    return db_query_one(db, S(ST_CHUNK_GET), p, 2, out, sizeof(*out), fill_chunk, chunk_clear_item);
}

int db_chunk_update(struct db *db, const struct db_chunk *c)
{
    struct db_val p[] = {
        db_txt(c->recording_id),    db_num(c->seq),         db_txt(db_chunk_state_name(c->state)),
        db_num(c->bytes),           db_num(c->duration_us), num_or_null(c->ended_at),
        num_or_null(c->uploaded_at)};
    return db_exec_change(db, S(ST_CHUNK_UPDATE), p, 7);
}

int db_chunk_set_state(struct db *db, const char *recording_id, int seq, enum db_chunk_state state,
                       int64_t uploaded_at)
{
    struct db_val p[] = {db_txt(recording_id), db_num(seq), db_txt(db_chunk_state_name(state)),
                         num_or_null(uploaded_at)};
    return db_exec_change(db, S(ST_CHUNK_SET_STATE), p, 4);
}

int db_chunk_list(struct db *db, const char *recording_id, struct db_chunk **out, size_t *n)
{
    struct db_val p[] = {db_txt(recording_id)};
    return db_query_list(db, S(ST_CHUNK_LIST), p, 1, (void **)out, n, sizeof(**out), fill_chunk,
                         chunk_clear_item);
}

int db_chunk_list_pending(struct db *db, struct db_chunk **out, size_t *n)
{
    return db_query_list(db, S(ST_CHUNK_LIST_PENDING), NULL, 0, (void **)out, n, sizeof(**out),
                         fill_chunk, chunk_clear_item);
}

int db_chunk_delete(struct db *db, const char *recording_id, int seq)
{
    struct db_val p[] = {db_txt(recording_id), db_num(seq)};
    return db_exec_change(db, S(ST_CHUNK_DELETE), p, 2);
}
