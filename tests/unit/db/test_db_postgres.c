/* The database layer on a real PostgreSQL: the shared suite (db_suite.h) and two nodes opening a
 * fresh database at once. Needs KIBITKA_TEST_POSTGRES_URL (a user allowed to CREATE DATABASE);
 * without it the test reports skipped (exit 77, see test.h). tests/lib/pg-start makes a
 * throwaway server:
 *
 *   dir=$(mktemp -d) && export KIBITKA_TEST_POSTGRES_URL=$(tests/lib/pg-start "$dir")
 *   build-test/test_db_postgres; tests/lib/pg-stop "$dir"
 *
 * Each run works in databases of its own (kibitka_test_<pid>_<n>), dropped at the end. */
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db_suite.h"

/* Runs constant admin SQL on the server the url names; returns 0 on success. */
static int admin(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    int rc = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *res = PQexec(c, sql);
        rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
        if (rc < 0)
            fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(res));
        PQclear(res);
    } else {
        fprintf(stderr, "cannot connect: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return rc;
}

/* url with its database path replaced by name (query parameters kept). */
static char *url_with_db(const char *url, const char *name)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    const char *query = strchr(host, '?');
    const char *path = strchr(host, '/');
    if (!query)
        query = host + strlen(host);
    if (!path || path > query)
        path = query;
    size_t n = (size_t)(path - url) + strlen(name) + strlen(query) + 2;
    char *out = malloc(n);
    snprintf(out, n, "%.*s/%s%s", (int)(path - url), url, name, query);
    return out;
}

/* Creates a fresh database, runs fn on its url, drops it. */
static void with_fresh_db(const char *url, int n, void (*fn)(const char *))
{
    char name[64], sql[160];
    snprintf(name, sizeof(name), "kibitka_test_%d_%d", (int)getpid(), n);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    CHECK_EQ_INT(admin(url, sql), 0);
    char *db_url = url_with_db(url, name);
    fn(db_url);
    free(db_url);
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    CHECK_EQ_INT(admin(url, sql), 0);
}

/* A fresh database is empty for db_probe_empty (serve refuses it beside recordings); one with
 * the schema is not, users or no users. */
static void check_backend(const char *url)
{
    struct db *db = NULL;
    bool empty = false;
    char why[80] = "";
    CHECK_EQ_INT(db_probe_empty(url, &empty, why, sizeof(why)), 0);
    CHECK(empty);
    CHECK_STREQ(why, "has no kibitka schema (no migration applied)");
    CHECK_EQ_INT(db_open(url, &db), 0);
    CHECK_EQ_INT(db_probe_empty(url, &empty, why, sizeof(why)), 0);
    CHECK(!empty);
    CHECK_STREQ(db ? db_backend_name(db) : NULL, "postgres");
    db_close(&db);
}

int main(void)
{
    const char *url = getenv("KIBITKA_TEST_POSTGRES_URL");
    if (!url || !*url) {
        return test_skip("test_db_postgres",
                         "KIBITKA_TEST_POSTGRES_URL is not set (tests/lib/pg-start prints one)");
    }
    char *u = url_with_db("postgres://h:1/a?x=1", "b");
    CHECK_STREQ(u, "postgres://h:1/b?x=1");
    free(u);
    u = url_with_db("postgresql://u@h", "b");
    CHECK_STREQ(u, "postgresql://u@h/b");
    free(u);

    with_fresh_db(url, 1, suite_run);
    with_fresh_db(url, 2, suite_concurrent_open);
    with_fresh_db(url, 3, check_backend);
    return test_report("test_db_postgres");
}
