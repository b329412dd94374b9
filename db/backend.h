/* What a database backend provides (db/sqlite.c, db/postgres.c), and what db.c gives it.
 *
 * db.c owns the statements (the SQL text, written once with $1..$N placeholders valid on both
 * dialects), the connection pool and the row structs; a backend only connects, runs one
 * statement on one connection with bound parameters, and applies the migrations. A connection
 * is used by one thread at a time (the pool guarantees it), so a backend needs no locks. */
#ifndef KIBITKA_DB_BACKEND_H
#define KIBITKA_DB_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* A bound parameter or a result column. Text is borrowed: for parameters from the caller, for
 * columns from the backend until the row callback returns. */
enum db_type { DB_NULL = 0, DB_TEXT, DB_INT };
struct db_val {
    enum db_type type;
    const char *s;
    int64_t i;
};

#define DB_MAX_COLS 24

struct db_stmt {
    int id;           /* index into the backend's per-connection statement cache */
    const char *sql;  /* parameters as $1..$N, each N used in order of first appearance or not */
    const char *cols; /* result column types, one letter each: 's' text, 'i' int64 */
};

/* Called once per result row with strlen(stmt->cols) columns (DB_NULL for SQL NULL). A nonzero
 * return stops the statement and becomes exec's result. */
typedef int (*db_row_fn)(void *ctx, const struct db_val *cols);

struct db_migration {
    int version;      /* NNN of NNN_name.sql */
    const char *name; /* "001_init" */
    const char *sql;  /* the whole file, NUL-terminated; may hold several statements */
};

/* The embedded migrations in version order (generated at build time by db/migrations.cmake). */
extern const struct db_migration db_migrations[];
extern const size_t db_migrations_count;

/* The bookkeeping both backends' migrate share: one row per applied migration. */
#define DB_SQL_MIGRATIONS_TABLE                                                                    \
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT "    \
    "NULL, applied_at BIGINT NOT NULL)"
#define DB_SQL_MIGRATION_APPLIED "SELECT version FROM schema_migrations WHERE version = $1"
#define DB_SQL_MIGRATION_RECORD                                                                    \
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)"

struct db_backend {
    const char *name;
    /* Opens one connection; url is the part the backend understands (a path for SQLite, the
     * whole URI for libpq). Logs why on failure. */
    int (*connect)(const char *url, void **conn);
    /* Closes a connection (also one whose connect failed half-way, left NULL). */
    void (*disconnect)(void *conn);
    /* Applies every migration not recorded in schema_migrations, holding the database-wide
     * lock across the check and the apply so two nodes starting at once apply each once. */
    int (*migrate)(void *conn, const struct db_migration *list, size_t n);
    /* Runs st with params; calls row for each row; sets *changed (when not NULL) to the rows an
     * INSERT/UPDATE/DELETE changed. Returns 0, -EEXIST (unique violation), -ENOENT (foreign key
     * violation), -EBUSY or -EIO. */
    int (*exec)(void *conn, const struct db_stmt *st, const struct db_val *params, int nparams,
                db_row_fn row, void *ctx, int64_t *changed);
};

extern const struct db_backend db_backend_sqlite;
extern const struct db_backend db_backend_postgres;

struct db;
/* Runs st on a pooled connection (waiting for one to be free): backend exec's contract. */
int db_exec(struct db *db, const struct db_stmt *st, const struct db_val *params, int nparams,
            db_row_fn row, void *ctx, int64_t *changed);

/* The size of a backend's statement cache: ops.c uses ids 0..DB_STMT_OPS_END-1, recordings.c
 * the ids from DB_STMT_OPS_END on, rooms.c those from DB_STMT_ROOMS_BEGIN on; db.c takes the
 * last two (DB_STMT_MAX - 2 and - 1) for the migrations' bookkeeping. */
#define DB_STMT_OPS_END 32
#define DB_STMT_ROOMS_BEGIN 52
#define DB_STMT_MAX 64

#endif
