/* The database: users, sessions, streams, recordings, rooms and nodes, on SQLite (one node,
 * embedded, the default) or PostgreSQL (several nodes sharing one server).
 *
 * One `struct db` is opened at start with db_open and shared by every thread that needs it (the
 * HTTP handlers, the CLI, the recorder). Every call is thread-safe and blocking: it takes one of a
 * few pooled connections (waiting for a free one), runs one prepared statement with bound
 * parameters, and returns. So it must never run on the network thread.
 *
 * db_open applies the embedded schema migrations (db/migrations/NNN_*.sql) that the database has
 * not seen yet, under a lock that makes two nodes starting at once safe (see db/README.md).
 *
 * Results: 0 on success; -ENOENT when the row asked for (or a row it refers to, such as a
 * stream's owner) does not exist; -EEXIST when a unique name, token or key is already taken (no
 * row is changed); -EINVAL for a bad argument; -EBUSY when SQLite stayed locked past its busy
 * timeout; -EIO for any other database error (logged with module "db").
 *
 * Memory: the db copies every string it is given. Strings in a struct it fills are heap copies
 * owned by the caller, released with the matching *_clear (one struct) or *_list_free (an array).
 * Ids are 32 lowercase hex characters made by the db; times are unix microseconds (clock.h). */
#ifndef KIBITKA_DB_DB_H
#define KIBITKA_DB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;

/* The disk space a SQLite database keeps for itself beside its file (PATH-reserve), released
 * when the disk is full so logins and deletes still work (db/sqlite.c). A writer that fills the
 * same disk (the recorder) resumes only with room for this and more. */
#define DB_SQLITE_RESERVE_BYTES (4LL << 20)

/* url: "sqlite:PATH" (the file is created, with its parent directory, if missing) or
 * "postgres://..." / "postgresql://..." (a libpq connection URI). On failure, logs why (a bad url,
 * an unreachable server, a failed migration), leaves *out NULL and returns -EINVAL, -ECONNREFUSED,
 * -EIO or another negative errno. */
int db_open(const char *url, struct db **out);
/* Whether the database url names holds nothing yet, looked at without creating or changing it
 * (serve refuses to start a new database over a data directory full of recordings). SQLite: the
 * file is missing or 0 bytes long. PostgreSQL: no migration was ever applied (no
 * schema_migrations table, or an empty one); a database with the schema but no users is not
 * empty (an --open-publish server has none). Sets *empty and, when it is, a few words on why in
 * why ("is missing", "is 0 bytes long", "has no kibitka schema"). Returns 0, or a negative errno
 * when it could not tell (logged). */
int db_probe_empty(const char *url, bool *empty, char *why, size_t whylen);
/* Closes every pooled connection and frees the db; sets *dbp to NULL. No call may be in flight. */
void db_close(struct db **dbp);
/* "sqlite:DATA_DIR/kibitka.db", the default --db. The caller frees it. */
char *db_default_url(const char *data_dir);
/* "sqlite" or "postgres". */
const char *db_backend_name(const struct db *db);

enum db_role { DB_ROLE_USER = 0, DB_ROLE_ADMIN = 1 };
const char *db_role_name(enum db_role role);

struct db_user {
    char *id;
    char *name;          /* unique */
    char *password_hash; /* whatever the auth layer stores (an argon2id string) */
    enum db_role role;
    int64_t created_at;
};

/* Names starting with '_' are kibitka's own: the pseudo-user "_open" owns the --open-publish
 * recordings (no row), and a real user of that name would see them as theirs. */
static inline bool db_user_name_reserved(const char *name)
{
    return name && name[0] == '_';
}
#define DB_USER_NAME_RESERVED_MSG                                                                  \
    "names starting with '_' are reserved (the user _open owns the --open-publish recordings)"

/* Creates u->name with u->password_hash and u->role; -EINVAL for a reserved name (above); on
 * success sets u->id (a new heap string the caller frees; whatever u->id held is overwritten, not
 * freed) and u->created_at. -EEXIST if the name is taken. */
int db_user_create(struct db *db, struct db_user *u);
/* Fill *out (zeroed first) with the user of that name / id. -ENOENT if none. */
int db_user_get(struct db *db, const char *name, struct db_user *out);
int db_user_get_by_id(struct db *db, const char *id, struct db_user *out);
/* Every user, by name. *out is a heap array of *n users; free with db_user_list_free. */
int db_user_list(struct db *db, struct db_user **out, size_t *n);
/* Sets the password hash when password_hash is not NULL, the role when role is not NULL. */
int db_user_update(struct db *db, const char *name, const char *password_hash,
                   const enum db_role *role);
/* Deletes the user, their sessions and streams; their recordings stay (user_id and stream_id
 * become NULL), since the recordings' objects do. */
int db_user_delete(struct db *db, const char *name);
void db_user_clear(struct db_user *u);
void db_user_list_free(struct db_user **list, size_t n);

struct db_session {
    char *token_hash; /* unique; the token itself is never stored */
    char *user_id;
    int64_t expires_at;
    int64_t created_at;
};

/* Stores s (token_hash, user_id, expires_at); sets s->created_at. -ENOENT if the user does not
 * exist, -EEXIST if the token hash does. */
int db_session_create(struct db *db, struct db_session *s);
/* Returns the session even when expired: comparing expires_at with now is the caller's rule. */
int db_session_get(struct db *db, const char *token_hash, struct db_session *out);
/* The user of the session token_hash if it has not expired at now (one round trip): fills *out
 * (free with db_user_clear); -ENOENT for no such or an expired session. */
int db_session_user(struct db *db, const char *token_hash, int64_t now, struct db_user *out);
int db_session_delete(struct db *db, const char *token_hash);
/* Revokes every session of user_id except keep_token_hash (NULL: all); returns how many. */
int db_session_delete_user(struct db *db, const char *user_id, const char *keep_token_hash);
/* Deletes sessions with expires_at <= now; returns how many (>= 0) or a negative error. */
int db_session_delete_expired(struct db *db, int64_t now);
void db_session_clear(struct db_session *s);

struct db_stream {
    char *id;
    char *name;       /* unique across all users (it is the /hls/<name>/ path) */
    char *owner_id;   /* users.id */
    char *owner_name; /* filled by reads (joined from users); ignored by create */
    char *key_hash;   /* unique; the stream key as the auth layer stores it */
    bool record;
    int64_t created_at;
};

/* Creates st->name owned by st->owner_id with st->key_hash and st->record; sets st->id (as
 * db_user_create does) and st->created_at. -EEXIST if the name or key hash is taken, -ENOENT if the
 * owner does not exist. */
int db_stream_create(struct db *db, struct db_stream *st);
int db_stream_get(struct db *db, const char *name, struct db_stream *out);
int db_stream_get_by_key_hash(struct db *db, const char *key_hash, struct db_stream *out);
/* Streams by name: all of them when owner_id is NULL, else that user's. */
int db_stream_list(struct db *db, const char *owner_id, struct db_stream **out, size_t *n);
/* Replaces the key hash (the old key stops matching at once). -EEXIST if the new one is taken. */
int db_stream_set_key(struct db *db, const char *name, const char *key_hash);
/* Whether the stream's next publishes are recorded. -ENOENT if no such stream. */
int db_stream_set_record(struct db *db, const char *name, bool record);
int db_stream_delete(struct db *db, const char *name);
void db_stream_clear(struct db_stream *st);
void db_stream_list_free(struct db_stream **list, size_t n);

/* Recordings (issue 6): one per publish of a recorded stream, in chunks of fragmented MP4 that
 * the recorder writes to the spool and the upload worker (recorder/upload.h) moves to the store.
 *
 *   recording: recording -> finished (the stream ended) -> ready (every chunk uploaded)
 *                                                       -> failed (a chunk failed for good)
 *   chunk:     recording (being written) -> pending (closed, in the spool) -> uploading
 *                -> uploaded (the store confirmed it, the spool file is gone) | failed */
enum db_recording_state {
    DB_REC_RECORDING = 0,
    DB_REC_FINISHED,
    DB_REC_READY,
    DB_REC_FAILED,
};
enum db_chunk_state {
    DB_CHUNK_RECORDING = 0,
    DB_CHUNK_PENDING,
    DB_CHUNK_UPLOADING,
    DB_CHUNK_UPLOADED,
    DB_CHUNK_FAILED,
};
/* "recording", "finished", ... as stored; the parse functions return -EINVAL for other text. */
const char *db_recording_state_name(enum db_recording_state s);
int db_recording_state_parse(const char *text, enum db_recording_state *out);
const char *db_chunk_state_name(enum db_chunk_state s);
int db_chunk_state_parse(const char *text, enum db_chunk_state *out);

struct db_recording {
    char *id;          /* 32 hex; made by the recorder (it names the spool directory) */
    char *stream_id;   /* NULL for an --open-publish stream, or once the stream was deleted */
    char *stream_name; /* at the start of the recording */
    char *user_id;     /* the stream's owner; NULL as stream_id */
    char *user_name;   /* the owner's name at the start ("_open" without an owner) */
    char *node_id;     /* may be NULL */
    int64_t started_at;
    int64_t ended_at; /* 0 while recording */
    enum db_recording_state state;
    int64_t created_at;
    /* Media time missing at the end (the stream ended while recording was paused); 0: none.
     * Written by db_recording_set_gap_end, ignored by create. */
    int64_t gap_end_us;
    /* Anyone may play it once ready (migration 005; db_recording_set_public); ignored by
     * create: a recording starts private. */
    bool is_public;
    /* Filled by reads, over the recording's chunks: */
    int64_t bytes, duration_us;
    int chunks, chunks_uploaded;
    int64_t gap_us; /* every gap: the chunks' gap_before_us and gap_end_us; > 0: incomplete */
};

/* Inserts r (id, stream_name, user_name and started_at required; state as given, normally
 * DB_REC_RECORDING). An id left NULL is made and set (a heap string the caller frees). Sets
 * r->created_at. -EEXIST if the id exists; -ENOENT if stream_id or user_id names no row. */
int db_recording_create(struct db *db, struct db_recording *r);
int db_recording_get(struct db *db, const char *id, struct db_recording *out);
/* The recording ended at ended_at: state recording becomes finished (any other state is kept);
 * ended_at is set when it was not. -ENOENT for no such recording. */
int db_recording_finish(struct db *db, const char *id, int64_t ended_at);
/* Sets the state (ready, failed...). -ENOENT for no such recording. */
int db_recording_set_state(struct db *db, const char *id, enum db_recording_state state);
/* Sets gap_end_us (negative: 0). -ENOENT for no such recording. */
int db_recording_set_gap_end(struct db *db, const char *id, int64_t gap_us);
/* Makes the recording public or private. -ENOENT for no such recording. */
int db_recording_set_public(struct db *db, const char *id, bool is_public);
/* The public ready recording of stream_name that started last (by its name at the start);
 * -ENOENT when there is none. */
int db_recording_last_public(struct db *db, const char *stream_name, struct db_recording *out);

/* A filter for db_recording_list; zero/NULL fields match everything. */
struct db_recording_filter {
    const char *stream_name;
    const char *user_id;   /* the owner (for "my recordings") */
    const char *user_name; /* the owner's name at the start */
    int64_t from, to;      /* started_at >= from, started_at < to (unix us; 0: open) */
    int limit;             /* rows per page; 0: 100 */
    int offset;            /* rows skipped (pagination) */
};
/* Recordings matching f, newest first (started_at descending, then id), a page of them;
 * *total (when not NULL) counts every match ignoring limit and offset. Free with
 * db_recording_list_free. */
int db_recording_list(struct db *db, const struct db_recording_filter *f, struct db_recording **out,
                      size_t *n, int64_t *total);
/* Deletes the recording's rows (its chunks' too). The objects in the store are the caller's
 * to remove first (their keys are in the chunks). -ENOENT for no such recording. */
int db_recording_delete(struct db *db, const char *id);
void db_recording_clear(struct db_recording *r);
void db_recording_list_free(struct db_recording **list, size_t n);

struct db_chunk {
    char *recording_id;
    int seq;          /* 1, 2, ... in the recording */
    char *object_key; /* <user>/<stream>/<YYYY-MM-DD>/<recording-id>/<seq>.mp4 (store-relative) */
    int64_t bytes, duration_us;
    enum db_chunk_state state;
    int64_t started_at;  /* wall clock of its first frame */
    int64_t ended_at;    /* 0 until closed */
    int64_t uploaded_at; /* 0 until uploaded */
    /* Media time missing just before this chunk (the recording paused: disk or spool full, or
     * a disk too slow), since the end of the previous chunk written (or the stream's start for
     * the first); 0 when it follows on. Written by create only. */
    int64_t gap_before_us;
};

/* Inserts c (gap_before_us included). -EEXIST if (recording_id, seq) exists, -ENOENT if the
 * recording does not. */
int db_chunk_create(struct db *db, const struct db_chunk *c);
int db_chunk_get(struct db *db, const char *recording_id, int seq, struct db_chunk *out);
/* Writes c's state, bytes, duration_us, ended_at and uploaded_at (0 stores NULL) to the row
 * (recording_id, seq). -ENOENT for no such chunk. */
int db_chunk_update(struct db *db, const struct db_chunk *c);
/* Sets only the state, and uploaded_at when it is not 0. */
int db_chunk_set_state(struct db *db, const char *recording_id, int seq, enum db_chunk_state state,
                       int64_t uploaded_at);
/* The recording's chunks by seq. */
int db_chunk_list(struct db *db, const char *recording_id, struct db_chunk **out, size_t *n);
/* Every chunk in state pending or uploading (waiting for the store; uploading ones were cut
 * short by a restart), oldest first (started_at, then recording_id and seq). */
int db_chunk_list_pending(struct db *db, struct db_chunk **out, size_t *n);
int db_chunk_delete(struct db *db, const char *recording_id, int seq);
void db_chunk_clear(struct db_chunk *c);
void db_chunk_list_free(struct db_chunk **list, size_t n);

struct db_node {
    char *id;
    char *address;
    int64_t last_seen;
};

/* Inserts the node or updates its address and last_seen. */
int db_node_upsert(struct db *db, const struct db_node *node);
int db_node_list(struct db *db, struct db_node **out, size_t *n);
void db_node_clear(struct db_node *node);
void db_node_list_free(struct db_node **list, size_t n);

/* Voice rooms (issue 14, migrations/004_rooms.sql). A room is a row; its members are live
 * state in the SFU (sfu/sfu.h), never stored. */
struct db_room {
    char *id;
    char *name;       /* unique, [a-z0-9_-]{1,64} (the API checks) */
    char *owner_id;   /* users.id; the room goes with its owner (ON DELETE CASCADE) */
    char *owner_name; /* filled by reads (joined from users); ignored by create */
    bool is_public;   /* any logged-in user may join with their API token */
    int64_t created_at;
};

/* Creates r->name owned by r->owner_id; sets r->id (a heap string the caller frees) and
 * r->created_at. -EEXIST if the name is taken, -ENOENT if the owner does not exist. */
int db_room_create(struct db *db, struct db_room *r);
int db_room_get(struct db *db, const char *name, struct db_room *out);
/* Rooms by name: every one when viewer_id is NULL (admins), else the viewer's own and the
 * public ones (viewer_id "": only the public ones). Free with db_room_list_free. */
int db_room_list(struct db *db, const char *viewer_id, struct db_room **out, size_t *n);
int db_room_delete(struct db *db, const char *name);
void db_room_clear(struct db_room *r);
void db_room_list_free(struct db_room **list, size_t n);

/* A server-wide setting shared by every node on the database (the rooms' token key): stores
 * value under name unless a value is there already, then sets *out (heap, the caller frees) to
 * what the database holds, so nodes racing to make it agree on one. */
int db_setting_ensure(struct db *db, const char *name, const char *value, char **out);

/* Rows in schema_migrations and the number of embedded migrations (for tests and `version`). */
int db_migrations_applied(struct db *db, int64_t *count);
size_t db_migrations_embedded(void);

#endif
