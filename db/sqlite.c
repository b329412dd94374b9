/* The SQLite backend: one sqlite3 handle per pooled connection, in WAL mode so readers never
 * wait for the writer, with a busy timeout so concurrent writers (other pooled connections,
 * another process such as the CLI) queue instead of failing. */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "db/backend.h"

#define BUSY_TIMEOUT_MS 5000

struct sq {
    sqlite3 *db;
    sqlite3_stmt *stmts[DB_STMT_MAX]; /* prepared on first use, by db_stmt.id */
};

/* Maps a SQLite result code; logs what is not an expected constraint outcome. */
static int map_err(sqlite3 *db, int rc, const char *what)
{
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return -EEXIST;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return -ENOENT;
    }
    log_error("db", NULL, "sqlite: %s: %s", what, sqlite3_errmsg(db));
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return -EBUSY;
    return -EIO;
}

static void sq_disconnect(void *conn)
{
    struct sq *c = conn;
    for (int i = 0; i < DB_STMT_MAX; i++)
        sqlite3_finalize(c->stmts[i]);
    sqlite3_close(c->db); /* NULL is a no-op */
    free(c);
}

static int sq_connect(const char *path, void **conn)
{
    struct sq *c = xcalloc(1, sizeof(*c));
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        log_error("db", NULL, "sqlite: cannot open %s: %s", path,
                  c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    /* synchronous=NORMAL is durable across application crashes in WAL mode; only a power loss
     * may drop the last commits. Foreign keys are per connection and off by default. */
    rc = sqlite3_exec(c->db,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        log_error("db", NULL, "sqlite: cannot set up %s: %s", path, sqlite3_errmsg(c->db));
        goto fail;
    }
    *conn = c;
    return 0;
fail:
    sq_disconnect(c);
    return -EIO;
}

/* Our statements number their parameters $1..$N (PostgreSQL's syntax); SQLite reads "$1" as a
 * named parameter numbered by first appearance, so rewrite them as ?1..?N, which keep their
 * number. The SQL is our own constant text: no values ever pass through here. */
static char *to_sqlite_params(const char *sql)
{
    char *s = xstrdup(sql);
    for (char *p = s; *p; p++)
        if (*p == '$' && p[1] >= '0' && p[1] <= '9')
            *p = '?';
    return s;
}

static int prepare(struct sq *c, const char *sql, sqlite3_stmt **out)
{
    char *q = to_sqlite_params(sql);
    int rc = sqlite3_prepare_v2(c->db, q, -1, out, NULL);
    free(q);
    return rc == SQLITE_OK ? 0 : map_err(c->db, rc, "prepare");
}

static void bind(sqlite3_stmt *s, const struct db_val *params, int nparams)
{
    for (int i = 0; i < nparams; i++) {
        if (params[i].type == DB_TEXT)
            sqlite3_bind_text(s, i + 1, params[i].s, -1, SQLITE_STATIC);
        else if (params[i].type == DB_INT)
            sqlite3_bind_int64(s, i + 1, params[i].i);
        else
            sqlite3_bind_null(s, i + 1);
    }
}

/* Steps s to the end, handing each row to row(). s is reset and unbound after. */
static int run(struct sq *c, sqlite3_stmt *s, const char *cols, db_row_fn row, void *ctx,
               int64_t *changed)
{
    int ncols = (int)strlen(cols), rc, out = 0;
    struct db_val v[DB_MAX_COLS];
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        for (int i = 0; i < ncols && i < DB_MAX_COLS; i++) {
            v[i] = (struct db_val){.type = DB_NULL};
            if (sqlite3_column_type(s, i) == SQLITE_NULL)
                continue;
            v[i].type = cols[i] == 'i' ? DB_INT : DB_TEXT;
            if (cols[i] == 'i')
                v[i].i = sqlite3_column_int64(s, i);
            else
                v[i].s = (const char *)sqlite3_column_text(s, i);
        }
        if (row && (out = row(ctx, v)) != 0)
            break;
    }
    if (out == 0 && rc != SQLITE_DONE)
        out = map_err(c->db, rc, sqlite3_sql(s));
    if (out == 0 && changed)
        *changed = sqlite3_changes64(c->db);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return out;
}

static int sq_exec(void *conn, const struct db_stmt *st, const struct db_val *params, int nparams,
                   db_row_fn row, void *ctx, int64_t *changed)
{
    struct sq *c = conn;
    if (!c->stmts[st->id]) {
        int rc = prepare(c, st->sql, &c->stmts[st->id]);
        if (rc < 0)
            return rc;
    }
    bind(c->stmts[st->id], params, nparams);
    return run(c, c->stmts[st->id], st->cols, row, ctx, changed);
}

static int found_row(void *ctx, const struct db_val *cols)
{
    *(int *)ctx = 1;
    return 0;
}

/* Applies m unless schema_migrations has it. Runs inside migrate's transaction. */
static int apply_one(struct sq *c, const struct db_migration *m, sqlite3_stmt *check,
                     sqlite3_stmt *record)
{
    int found = 0, rc;
    struct db_val p[] = {{.type = DB_INT, .i = m->version},
                         {.type = DB_TEXT, .s = m->name},
                         {.type = DB_INT, .i = clock_wall_us()}};
    bind(check, p, 1);
    if ((rc = run(c, check, "i", found_row, &found, NULL)) < 0 || found)
        return rc;
    rc = sqlite3_exec(c->db, m->sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return map_err(c->db, rc, m->name);
    bind(record, p, 3);
    if ((rc = run(c, record, "", NULL, NULL, NULL)) < 0)
        return rc;
    log_info("db", NULL, "sqlite: applied migration %s", m->name);
    return 0;
}

/* BEGIN IMMEDIATE takes the database's write lock before reading schema_migrations, so a second
 * process opening the same file waits (busy timeout) and then finds the migrations recorded. */
static int sq_migrate(void *conn, const struct db_migration *list, size_t n)
{
    struct sq *c = conn;
    sqlite3_stmt *check = NULL, *record = NULL;
    int rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return map_err(c->db, rc, "begin migrations");
    rc = sqlite3_exec(c->db, DB_SQL_MIGRATIONS_TABLE, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = map_err(c->db, rc, "schema_migrations");
        goto fail;
    }
    if ((rc = prepare(c, DB_SQL_MIGRATION_APPLIED, &check)) < 0 ||
        (rc = prepare(c, DB_SQL_MIGRATION_RECORD, &record)) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if ((rc = apply_one(c, &list[i], check, record)) < 0)
            goto fail;
    sqlite3_finalize(check);
    sqlite3_finalize(record);
    check = record = NULL;
    rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = map_err(c->db, rc, "commit migrations");
        goto fail;
    }
    return 0;
fail:
    sqlite3_finalize(check);
    sqlite3_finalize(record);
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return rc < 0 ? rc : -EIO;
}

const struct db_backend db_backend_sqlite = {
    .name = "sqlite",
    .connect = sq_connect,
    .disconnect = sq_disconnect,
    .migrate = sq_migrate,
    .exec = sq_exec,
};
