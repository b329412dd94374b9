/* The SQLite backend: one sqlite3 handle per pooled connection, in WAL mode so readers never
 * wait for the writer, with a busy timeout so concurrent writers (other pooled connections,
 * another process such as the CLI) queue instead of failing.
 *
 * A full disk. The database usually shares its filesystem with the recordings (--data), and a
 * full one would fail every write (SQLITE_FULL): logins (a session row) and the deletes an
 * operator makes room with included. So the database keeps DB_SQLITE_RESERVE_BYTES of the disk
 * for itself in a file beside it (PATH-reserve, allocated when there is room for it twice over).
 * A write that finds the disk full removes the reserve and is tried again, once: the space is
 * the database's for as long as the disk stays full (the recorder pauses before touching it, see
 * recorder/README.md), and the reserve is made again once the disk has room. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "db/backend.h"
#include "db/db.h"

#define BUSY_TIMEOUT_MS 5000
#define RESERVE_CHECK_US 10000000 /* how often a connection looks for a missing reserve */

struct sq {
    sqlite3 *db;
    sqlite3_stmt *stmts[DB_STMT_MAX]; /* prepared on first use, by db_stmt.id */
    char *reserve;                    /* PATH-reserve */
    int64_t reserve_checked_us;       /* monotonic; 0: never */
};

/* ---- the disk reserve ---- */

/* Makes the reserve when it is missing and the disk has room for it twice over. Every pooled
 * connection may try: O_EXCL lets one make it. */
static void reserve_make(struct sq *c)
{
    c->reserve_checked_us = clock_mono_us();
    if (access(c->reserve, F_OK) == 0)
        return;
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s", c->reserve);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else
        slash[slash == dir ? 1 : 0] = '\0';
    struct statvfs v;
    if (statvfs(dir, &v) < 0 ||
        (int64_t)v.f_bavail * (int64_t)v.f_frsize < 2 * DB_SQLITE_RESERVE_BYTES)
        return;
    int fd = open(c->reserve, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    int err = posix_fallocate(fd, 0, DB_SQLITE_RESERVE_BYTES);
    close(fd);
    if (err) {
        unlink(c->reserve);
        return;
    }
    log_debug("db", NULL, "sqlite: %lld bytes of the disk reserved for the database in %s",
              (long long)DB_SQLITE_RESERVE_BYTES, c->reserve);
}

/* The disk is full: gives the reserve to the database. True when there was one. */
static bool reserve_release(struct sq *c)
{
    if (unlink(c->reserve) < 0)
        return false;
    log_warn("db", NULL,
             "sqlite: the disk is full; the database uses its reserve (%lld bytes, %s) until "
             "there is room again",
             (long long)DB_SQLITE_RESERVE_BYTES, c->reserve);
    return true;
}

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
    if ((rc & 0xff) == SQLITE_FULL)
        return -ENOSPC;
    return -EIO;
}

static void sq_disconnect(void *conn)
{
    struct sq *c = conn;
    for (int i = 0; i < DB_STMT_MAX; i++)
        sqlite3_finalize(c->stmts[i]);
    sqlite3_close(c->db); /* NULL is a no-op */
    free(c->reserve);
    free(c);
}

static int sq_connect(const char *path, void **conn)
{
    struct sq *c = xcalloc(1, sizeof(*c));
    size_t len = strlen(path) + sizeof("-reserve");
    c->reserve = xmalloc(len);
    snprintf(c->reserve, len, "%s-reserve", path);
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
    reserve_make(c);
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

/* Steps s to the end, handing each row to row(). s is reset and unbound after. With full set,
 * a full disk is not logged: *full is set and -ENOSPC returned (the caller may try again). */
static int run(struct sq *c, sqlite3_stmt *s, const char *cols, db_row_fn row, void *ctx,
               int64_t *changed, bool *full)
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
    if (out == 0 && full && (rc & 0xff) == SQLITE_FULL) {
        *full = true;
        out = -ENOSPC;
    } else if (out == 0 && rc != SQLITE_DONE) {
        out = map_err(c->db, rc, sqlite3_sql(s));
    }
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
    sqlite3_stmt *s = c->stmts[st->id];
    bool full = false;
    bind(s, params, nparams);
    int rc = run(c, s, st->cols, row, ctx, changed, &full);
    if (full) { /* the statement was rolled back: try once more in the reserve */
        bool more = reserve_release(c);
        bind(s, params, nparams);
        rc = run(c, s, st->cols, row, ctx, changed, NULL);
        if (rc == -ENOSPC && !more)
            log_warn("db", NULL, "sqlite: the disk is full and the reserve is used up");
    } else if (rc == 0 && clock_mono_us() - c->reserve_checked_us > RESERVE_CHECK_US) {
        reserve_make(c);
    }
    return rc;
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
    if ((rc = run(c, check, "i", found_row, &found, NULL, NULL)) < 0 || found)
        return rc;
    rc = sqlite3_exec(c->db, m->sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return map_err(c->db, rc, m->name);
    bind(record, p, 3);
    if ((rc = run(c, record, "", NULL, NULL, NULL, NULL)) < 0)
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
