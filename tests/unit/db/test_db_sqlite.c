/* The database layer on SQLite: the shared suite (db_suite.h) on a file in a temporary
 * directory, two opens racing on a fresh file, and db_open's errors for bad urls. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "db_suite.h"

static void remove_db(const char *path)
{
    char p[512];
    const char *suffix[] = {"", "-wal", "-shm", "-reserve"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s%s", path, suffix[i]);
        unlink(p);
    }
}

static void bad_urls(const char *dir)
{
    struct db *db = (struct db *)1;
    char url[512];
    CHECK_EQ_INT(db_open("mysql://localhost/x", &db), -EINVAL);
    CHECK(db == NULL);
    CHECK_EQ_INT(db_open("sqlite:", &db), -EINVAL);
    CHECK_EQ_INT(db_open("", &db), -EINVAL);
    CHECK_EQ_INT(db_open(NULL, &db), -EINVAL);
    snprintf(url, sizeof(url), "sqlite:%s/no/such/dir/x.db", dir);
    CHECK(db_open(url, &db) < 0);
    CHECK(db == NULL);
    /* nothing listens on port 1 */
    CHECK_EQ_INT(db_open("postgres://127.0.0.1:1/x?connect_timeout=2", &db), -ECONNREFUSED);
    CHECK(db == NULL);

    char *def = db_default_url("/var/lib/kibitka");
    CHECK_STREQ(def, "sqlite:/var/lib/kibitka/kibitka.db");
    free(def);
}

/* db_probe_empty: a missing or 0-byte file is empty and stays as it was; a database that went
 * through db_open is not, though it has no users. */
static void probe_empty(const char *dir)
{
    char path[256], url[300], why[80] = "";
    bool empty = false;
    struct db *db = NULL;
    snprintf(path, sizeof(path), "%s/probe.db", dir);
    snprintf(url, sizeof(url), "sqlite:%s", path);
    CHECK_EQ_INT(db_probe_empty(url, &empty, why, sizeof(why)), 0);
    CHECK(empty);
    CHECK_STREQ(why, "is missing");
    CHECK(access(path, F_OK) != 0);
    close(open(path, O_CREAT | O_WRONLY, 0644));
    CHECK_EQ_INT(db_probe_empty(url, &empty, why, sizeof(why)), 0);
    CHECK(empty);
    CHECK_STREQ(why, "is 0 bytes long");
    CHECK_EQ_INT(db_open(url, &db), 0);
    db_close(&db);
    CHECK_EQ_INT(db_probe_empty(url, &empty, why, sizeof(why)), 0);
    CHECK(!empty);
    remove_db(path);
}

int main(void)
{
    char dir[] = "/tmp/kibitka-db-test-XXXXXX", path[256], url[300];
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    bad_urls(dir);
    probe_empty(dir);

    /* the parent directory (the data dir) is created when missing */
    snprintf(path, sizeof(path), "%s/data/kibitka.db", dir);
    snprintf(url, sizeof(url), "sqlite:%s", path);
    suite_run(url);
    struct db *db = NULL;
    CHECK_EQ_INT(db_open(url, &db), 0);
    CHECK_STREQ(db ? db_backend_name(db) : NULL, "sqlite");
    /* the disk reserve beside the file (db/README.md: a full disk), when /tmp has room for it */
    struct statvfs v;
    char reserve[300];
    snprintf(reserve, sizeof(reserve), "%s-reserve", path);
    if (statvfs(dir, &v) == 0 &&
        (int64_t)v.f_bavail * (int64_t)v.f_frsize >= 3 * DB_SQLITE_RESERVE_BYTES) {
        struct stat sb;
        CHECK_EQ_INT(stat(reserve, &sb), 0);
        CHECK(sb.st_blocks * 512 >= DB_SQLITE_RESERVE_BYTES); /* allocated, not sparse */
    } else {
        fprintf(stderr, "test_db_sqlite: too little room in /tmp to check the disk reserve\n");
    }
    db_close(&db);
    remove_db(path);

    snprintf(path, sizeof(path), "%s/data/race.db", dir);
    snprintf(url, sizeof(url), "sqlite:%s", path);
    suite_concurrent_open(url);
    remove_db(path);

    snprintf(path, sizeof(path), "%s/data", dir);
    rmdir(path);
    CHECK_EQ_INT(rmdir(dir), 0);
    return test_report("test_db_sqlite");
}
