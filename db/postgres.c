/* The PostgreSQL backend: one libpq connection per pooled connection, each statement prepared
 * once per connection (PQprepare) and run with text parameters (PQexecPrepared), so values
 * never become SQL text. Several nodes share one server; migrations take an advisory lock. */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "db/backend.h"

/* pg_advisory_lock key for applying migrations: any constant every kibitka node agrees on
 * ("kibitka" in ASCII as a 56-bit integer). */
#define MIGRATION_LOCK "SELECT pg_advisory_lock(30233693904989025)"
#define MIGRATION_UNLOCK "SELECT pg_advisory_unlock(30233693904989025)"

#define MAX_PARAMS 16

struct pg {
    PGconn *conn;
    bool prepared[DB_STMT_MAX]; /* by db_stmt.id; cleared when the connection is reset */
};

/* libpq messages hold newlines and tabs ("...failed: Connection refused\n\tIs the server
 * running..."); a log line must stay one line. */
static void log_pg(const char *what, const char *msg)
{
    char *m = xstrdup(msg);
    size_t n = strlen(m);
    for (size_t i = 0; i < n; i++)
        if (m[i] == '\n' || m[i] == '\t' || m[i] == '\r')
            m[i] = ' ';
    while (n && m[n - 1] == ' ')
        m[--n] = '\0';
    log_error("db", NULL, "postgres: %s: %s", what, m);
    free(m);
}

/* Notices (such as "relation already exists, skipping") would otherwise go to stderr. */
static void on_notice(void *arg, const char *msg)
{
    log_debug("db", NULL, "postgres: %s", msg);
}

static void pg_disconnect(void *conn)
{
    struct pg *c = conn;
    PQfinish(c->conn); /* NULL is a no-op */
    free(c);
}

static int pg_connect(const char *url, void **conn)
{
    struct pg *c = xcalloc(1, sizeof(*c));
    c->conn = PQconnectdb(url);
    if (PQstatus(c->conn) != CONNECTION_OK) {
        log_pg("cannot connect", PQerrorMessage(c->conn));
        pg_disconnect(c);
        return -ECONNREFUSED;
    }
    PQsetNoticeProcessor(c->conn, on_notice, NULL);
    *conn = c;
    return 0;
}

/* Maps a failed result: SQLSTATE 23505 unique_violation, 23503 foreign_key_violation. */
static int map_err(struct pg *c, const PGresult *res, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state && strcmp(state, "23505") == 0)
        return -EEXIST;
    if (state && strcmp(state, "23503") == 0)
        return -ENOENT;
    log_pg(what, res ? PQresultErrorMessage(res) : PQerrorMessage(c->conn));
    return -EIO;
}

/* A connection the server dropped (restart, failover, idle timeout) is reopened before its next
 * use; the statement that found it broken has already failed with -EIO, since it may or may not
 * have committed. */
static void revive(struct pg *c)
{
    if (PQstatus(c->conn) != CONNECTION_BAD)
        return;
    log_warn("db", NULL, "postgres: connection lost, reconnecting");
    PQreset(c->conn);
    memset(c->prepared, 0, sizeof(c->prepared));
}

static int prepare(struct pg *c, const struct db_stmt *st)
{
    char name[16];
    snprintf(name, sizeof(name), "k%d", st->id);
    PGresult *res = PQprepare(c->conn, name, st->sql, 0, NULL);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : map_err(c, res, "prepare");
    PQclear(res);
    if (rc == 0)
        c->prepared[st->id] = true;
    return rc;
}

/* Hands each row of res to row(), columns typed by cols. */
static int rows(PGresult *res, const char *cols, db_row_fn row, void *ctx)
{
    int ncols = (int)strlen(cols), out = 0;
    struct db_val v[DB_MAX_COLS];
    for (int r = 0; row && r < PQntuples(res) && out == 0; r++) {
        for (int i = 0; i < ncols && i < DB_MAX_COLS; i++) {
            v[i] = (struct db_val){.type = DB_NULL};
            if (PQgetisnull(res, r, i))
                continue;
            v[i].type = cols[i] == 'i' ? DB_INT : DB_TEXT;
            v[i].s = PQgetvalue(res, r, i);
            if (cols[i] == 'i')
                v[i].i = strtoll(v[i].s, NULL, 10);
        }
        out = row(ctx, v);
    }
    return out;
}

/* Runs a prepared statement (name) or, when name is NULL, sql as an unnamed one. */
static int run(struct pg *c, const char *name, const char *sql, const char *cols,
               const struct db_val *params, int nparams, db_row_fn row, void *ctx, int64_t *changed)
{
    const char *values[MAX_PARAMS];
    char nums[MAX_PARAMS][24];
    if (nparams > MAX_PARAMS)
        return -EINVAL;
    for (int i = 0; i < nparams; i++) {
        values[i] = params[i].type == DB_TEXT ? params[i].s : NULL;
        if (params[i].type == DB_INT) {
            snprintf(nums[i], sizeof(nums[i]), "%" PRId64, params[i].i);
            values[i] = nums[i];
        }
    }
    PGresult *res = name ? PQexecPrepared(c->conn, name, nparams, values, NULL, NULL, 0)
                         : PQexecParams(c->conn, sql, nparams, NULL, values, NULL, NULL, 0);
    int rc, status = PQresultStatus(res);
    if (status == PGRES_TUPLES_OK)
        rc = rows(res, cols, row, ctx);
    else if (status == PGRES_COMMAND_OK)
        rc = 0;
    else
        rc = map_err(c, res, name ? sql : "query");
    if (rc == 0 && changed)
        *changed = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return rc;
}

static int pg_exec(void *conn, const struct db_stmt *st, const struct db_val *params, int nparams,
                   db_row_fn row, void *ctx, int64_t *changed)
{
    struct pg *c = conn;
    char name[16];
    int rc;
    revive(c);
    if (!c->prepared[st->id] && (rc = prepare(c, st)) < 0)
        return rc;
    snprintf(name, sizeof(name), "k%d", st->id);
    rc = run(c, name, st->sql, st->cols, params, nparams, row, ctx, changed);
    revive(c);
    return rc;
}

/* Runs constant SQL (one or more statements, no parameters). */
static int simple(struct pg *c, const char *sql, const char *what)
{
    PGresult *res = PQexec(c->conn, sql);
    int status = PQresultStatus(res);
    int rc = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK ? 0 : map_err(c, res, what);
    PQclear(res);
    return rc;
}

static int found_row(void *ctx, const struct db_val *cols)
{
    *(int *)ctx = 1;
    return 0;
}

/* Applies m in its own transaction unless schema_migrations has it. */
static int apply_one(struct pg *c, const struct db_migration *m)
{
    int found = 0, rc;
    struct db_val p[] = {{.type = DB_INT, .i = m->version},
                         {.type = DB_TEXT, .s = m->name},
                         {.type = DB_INT, .i = clock_wall_us()}};
    rc = run(c, NULL, DB_SQL_MIGRATION_APPLIED, "i", p, 1, found_row, &found, NULL);
    if (rc < 0 || found)
        return rc;
    if ((rc = simple(c, "BEGIN", "begin")) < 0)
        return rc;
    if ((rc = simple(c, m->sql, m->name)) < 0 ||
        (rc = run(c, NULL, DB_SQL_MIGRATION_RECORD, "", p, 3, NULL, NULL, NULL)) < 0 ||
        (rc = simple(c, "COMMIT", "commit")) < 0) {
        simple(c, "ROLLBACK", "rollback");
        return rc;
    }
    log_info("db", NULL, "postgres: applied migration %s", m->name);
    return 0;
}

/* The advisory lock serializes nodes starting at once: the second waits here until the first
 * has applied and recorded everything, then finds nothing left to do. It is a session lock, so
 * a node that dies mid-way releases it with its connection. */
static int pg_migrate(void *conn, const struct db_migration *list, size_t n)
{
    struct pg *c = conn;
    int rc = simple(c, MIGRATION_LOCK, "lock migrations");
    if (rc < 0)
        return rc;
    rc = simple(c, DB_SQL_MIGRATIONS_TABLE, "schema_migrations");
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = apply_one(c, &list[i]);
    simple(c, MIGRATION_UNLOCK, "unlock migrations");
    return rc;
}

const struct db_backend db_backend_postgres = {
    .name = "postgres",
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .migrate = pg_migrate,
    .exec = pg_exec,
};
