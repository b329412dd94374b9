/* db_open / db_close, the url, and the connection pool every call goes through. */
#include "db/db.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "db/backend.h"

/* Enough for the HTTP threads to overlap without one connection per request: SQLite in WAL mode
 * reads in parallel and serializes writers itself; PostgreSQL does the same server-side. */
#define DB_POOL 4

struct db {
    const struct db_backend *be;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    void *conns[DB_POOL];
    void *idle[DB_POOL]; /* stack of free connections */
    int nidle;
};

char *db_default_url(const char *data_dir)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "sqlite:%s/kibitka.db", data_dir);
    buf_append(&b, "", 1);
    return (char *)b.data;
}

const char *db_backend_name(const struct db *db)
{
    return db->be->name;
}

/* Creates the directory holding path when missing (one level: the data dir itself). */
static void make_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return;
    char *dir = xstrndup(path, (size_t)(slash - path));
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        log_warn("db", NULL, "cannot create %s: %s", dir, strerror(errno));
    free(dir);
}

/* Picks the backend for url and the string handed to its connect. */
static int parse_url(const char *url, const struct db_backend **be, const char **arg)
{
    if (!url || !*url) {
        log_error("db", NULL, "empty --db url (want sqlite:PATH or postgres://...)");
        return -EINVAL;
    }
    if (strncmp(url, "sqlite:", 7) == 0) {
        *be = &db_backend_sqlite;
        *arg = url + 7;
        if (!**arg) {
            log_error("db", NULL, "--db sqlite: needs a path (sqlite:PATH)");
            return -EINVAL;
        }
        return 0;
    }
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
        *be = &db_backend_postgres;
        *arg = url;
        return 0;
    }
    /* Print only the scheme: a url may carry a password. */
    const char *colon = strchr(url, ':');
    log_error("db", NULL,
              "unsupported --db url scheme \"%.*s\" (want sqlite:PATH or postgres://...)",
              colon ? (int)(colon - url) : 16, url);
    return -EINVAL;
}

int db_open(const char *url, struct db **out)
{
    const struct db_backend *be;
    const char *arg;
    *out = NULL;
    int rc = parse_url(url, &be, &arg);
    if (rc < 0)
        return rc;
    if (be == &db_backend_sqlite)
        make_parent_dir(arg);

    struct db *db = xcalloc(1, sizeof(*db));
    db->be = be;
    pthread_mutex_init(&db->lock, NULL);
    pthread_cond_init(&db->cond, NULL);
    /* Migrate on the first connection before opening the others, so none of them sees (and
     * caches statements against) a half-made schema. */
    if ((rc = be->connect(arg, &db->conns[0])) < 0)
        goto fail;
    if ((rc = be->migrate(db->conns[0], db_migrations, db_migrations_count)) < 0)
        goto fail;
    for (int i = 1; i < DB_POOL; i++)
        if ((rc = be->connect(arg, &db->conns[i])) < 0)
            goto fail;
    for (int i = 0; i < DB_POOL; i++)
        db->idle[db->nidle++] = db->conns[i];
    log_info("db", NULL, "%s database open (%zu migrations)", be->name, db_migrations_count);
    *out = db;
    return 0;
fail:
    log_error("db", NULL, "cannot open the %s database: %s", be->name, strerror(-rc));
    db_close(&db);
    return rc;
}

static int count_row(void *ctx, const struct db_val *cols)
{
    *(int64_t *)ctx = cols[0].i;
    return 0;
}

/* PostgreSQL: empty when no migration was ever recorded. The statements run on a connection of
 * their own, closed right after, so their cache ids cannot clash with the pool's. */
static int probe_postgres(const struct db_backend *be, const char *arg, bool *empty)
{
    static const struct db_stmt has_table = {
        DB_STMT_MAX - 1,
        "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE tablename = 'schema_migrations' "
        "AND schemaname = current_schema()",
        "i"};
    static const struct db_stmt applied = {DB_STMT_MAX - 2,
                                           "SELECT COUNT(*) FROM schema_migrations", "i"};
    void *conn = NULL;
    int64_t n = 0;
    int rc = be->connect(arg, &conn);
    if (rc == 0)
        rc = be->exec(conn, &has_table, NULL, 0, count_row, &n, NULL);
    if (rc == 0 && n > 0)
        rc = be->exec(conn, &applied, NULL, 0, count_row, &n, NULL);
    be->disconnect(conn);
    *empty = n == 0;
    return rc;
}

int db_probe_empty(const char *url, bool *empty, char *why, size_t whylen)
{
    const struct db_backend *be;
    const char *arg;
    *empty = false;
    int rc = parse_url(url, &be, &arg);
    if (rc < 0)
        return rc;
    if (be == &db_backend_postgres) {
        if ((rc = probe_postgres(be, arg, empty)) == 0 && *empty)
            snprintf(why, whylen, "has no kibitka schema (no migration applied)");
        return rc;
    }
    struct stat st;
    if (stat(arg, &st) != 0) {
        if (errno != ENOENT) {
            rc = -errno;
            log_error("db", NULL, "cannot stat %s: %s", arg, strerror(errno));
            return rc;
        }
        *empty = true;
        snprintf(why, whylen, "is missing");
    } else if (st.st_size == 0) {
        *empty = true;
        snprintf(why, whylen, "is 0 bytes long");
    }
    return 0;
}

void db_close(struct db **dbp)
{
    struct db *db = *dbp;
    if (!db)
        return;
    for (int i = 0; i < DB_POOL; i++)
        if (db->conns[i])
            db->be->disconnect(db->conns[i]);
    pthread_cond_destroy(&db->cond);
    pthread_mutex_destroy(&db->lock);
    free(db);
    *dbp = NULL;
}

static void *conn_take(struct db *db)
{
    pthread_mutex_lock(&db->lock);
    while (db->nidle == 0)
        pthread_cond_wait(&db->cond, &db->lock);
    void *c = db->idle[--db->nidle];
    pthread_mutex_unlock(&db->lock);
    return c;
}

static void conn_give(struct db *db, void *c)
{
    pthread_mutex_lock(&db->lock);
    db->idle[db->nidle++] = c;
    pthread_cond_signal(&db->cond);
    pthread_mutex_unlock(&db->lock);
}

int db_exec(struct db *db, const struct db_stmt *st, const struct db_val *params, int nparams,
            db_row_fn row, void *ctx, int64_t *changed)
{
    void *c = conn_take(db);
    int rc = db->be->exec(c, st, params, nparams, row, ctx, changed);
    conn_give(db, c);
    return rc;
}

size_t db_migrations_embedded(void)
{
    return db_migrations_count;
}
