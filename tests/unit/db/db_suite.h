/* The body of the database tests, run against SQLite (test_db_sqlite.c) and PostgreSQL
 * (test_db_postgres.c) alike: every operation of db.h, its error codes, verbatim storage of
 * hostile strings, concurrent use from several threads, and migrations applied once. Each
 * function takes the url of an empty database. */
#ifndef KIBITKA_TEST_DB_SUITE_H
#define KIBITKA_TEST_DB_SUITE_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "db/db.h"
#include "db_recordings.h"
#include "db_rooms.h"
#include "test.h"

static int64_t user_count(struct db *db)
{
    struct db_user *list = NULL;
    size_t n = 0;
    CHECK_EQ_INT(db_user_list(db, &list, &n), 0);
    db_user_list_free(&list, n);
    return (int64_t)n;
}

static void make_user(struct db *db, const char *name, enum db_role role, struct db_user *u)
{
    *u = (struct db_user){.name = (char *)name, .password_hash = (char *)"hash1", .role = role};
    CHECK_EQ_INT(db_user_create(db, u), 0);
    u->name = u->password_hash = NULL; /* borrowed; only id is ours to free */
}

static void suite_users(struct db *db)
{
    struct db_user alice, bob, got = {0};
    make_user(db, "alice", DB_ROLE_ADMIN, &alice);
    make_user(db, "bob", DB_ROLE_USER, &bob);
    CHECK(alice.id && strlen(alice.id) == 32);
    CHECK(alice.created_at > 0);

    /* a duplicate name changes nothing */
    struct db_user dup = {.name = "alice", .password_hash = "other", .role = DB_ROLE_USER};
    CHECK_EQ_INT(db_user_create(db, &dup), -EEXIST);
    CHECK(dup.id == NULL);
    CHECK_EQ_INT(db_user_get(db, "alice", &got), 0);
    CHECK_STREQ(got.id, alice.id);
    CHECK_STREQ(got.name, "alice");
    CHECK_STREQ(got.password_hash, "hash1");
    CHECK_EQ_INT(got.role, DB_ROLE_ADMIN);
    CHECK_EQ_INT(got.created_at, alice.created_at);
    db_user_clear(&got);
    CHECK_EQ_INT(user_count(db), 2);

    CHECK_EQ_INT(db_user_get(db, "carol", &got), -ENOENT);
    CHECK(got.id == NULL);
    CHECK_EQ_INT(db_user_get_by_id(db, bob.id, &got), 0);
    CHECK_STREQ(got.name, "bob");
    CHECK_EQ_INT(got.role, DB_ROLE_USER);
    db_user_clear(&got);

    /* update: password only, role only, missing user */
    CHECK_EQ_INT(db_user_update(db, "bob", "hash2", NULL), 0);
    enum db_role admin = DB_ROLE_ADMIN;
    CHECK_EQ_INT(db_user_update(db, "bob", NULL, &admin), 0);
    CHECK_EQ_INT(db_user_get(db, "bob", &got), 0);
    CHECK_STREQ(got.password_hash, "hash2");
    CHECK_EQ_INT(got.role, DB_ROLE_ADMIN);
    db_user_clear(&got);
    CHECK_EQ_INT(db_user_update(db, "carol", "x", NULL), -ENOENT);

    struct db_user *list = NULL;
    size_t n = 0;
    CHECK_EQ_INT(db_user_list(db, &list, &n), 0);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_STREQ(list[0].name, "alice");
        CHECK_STREQ(list[1].name, "bob");
    }
    db_user_list_free(&list, n);
    CHECK(list == NULL);

    CHECK_EQ_INT(db_user_delete(db, "bob"), 0);
    CHECK_EQ_INT(db_user_delete(db, "bob"), -ENOENT);
    CHECK_EQ_INT(db_user_get(db, "bob", &got), -ENOENT);
    db_user_clear(&alice);
    db_user_clear(&bob);
}

/* SQL metacharacters, quotes, backslashes and non-ASCII text come back byte for byte. */
static void suite_verbatim(struct db *db)
{
    static const char *names[] = {"'; DROP TABLE users; --", "a\"b'c\\d%_$1?1",
                                  "\xd0\xae\xd0\xb7\xd0\xb5\xd1\x80 \xe2\x9c\x93 \xf0\x9f\x8e\xa5",
                                  "Robert'); DELETE FROM streams WHERE ('1'='1"};
    int64_t before = user_count(db);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct db_user u = {.name = (char *)names[i], .password_hash = (char *)names[i]}, got;
        CHECK_EQ_INT(db_user_create(db, &u), 0);
        CHECK_EQ_INT(db_user_get(db, names[i], &got), 0);
        CHECK_STREQ(got.name, names[i]);
        CHECK_STREQ(got.password_hash, names[i]);
        struct db_stream st = {.name = (char *)names[i],
                               .owner_id = u.id,
                               .key_hash = (char *)names[i]},
                         sgot;
        CHECK_EQ_INT(db_stream_create(db, &st), 0);
        CHECK_EQ_INT(db_stream_get_by_key_hash(db, names[i], &sgot), 0);
        CHECK_STREQ(sgot.name, names[i]);
        CHECK_STREQ(sgot.owner_name, names[i]);
        db_stream_clear(&sgot);
        CHECK_EQ_INT(db_stream_delete(db, names[i]), 0);
        xfreep(&st.id);
        db_user_clear(&got);
        xfreep(&u.id);
    }
    CHECK_EQ_INT(user_count(db), before + 4);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        CHECK_EQ_INT(db_user_delete(db, names[i]), 0);
    CHECK_EQ_INT(user_count(db), before);
}

static void suite_sessions(struct db *db)
{
    struct db_user u;
    make_user(db, "sess", DB_ROLE_USER, &u);
    int64_t now = clock_wall_us();
    struct db_session s = {.token_hash = "tok1", .user_id = u.id, .expires_at = now + 1000000};
    struct db_session old = {.token_hash = "tok0", .user_id = u.id, .expires_at = now - 1};
    struct db_session nouser = {.token_hash = "tok2", .user_id = "nobody", .expires_at = now};
    struct db_session got;
    CHECK_EQ_INT(db_session_create(db, &s), 0);
    CHECK(s.created_at > 0);
    CHECK_EQ_INT(db_session_create(db, &old), 0);
    CHECK_EQ_INT(db_session_create(db, &s), -EEXIST);
    CHECK_EQ_INT(db_session_create(db, &nouser), -ENOENT);
    CHECK_EQ_INT(db_session_get(db, "tok1", &got), 0);
    CHECK_STREQ(got.token_hash, "tok1");
    CHECK_STREQ(got.user_id, u.id);
    CHECK_EQ_INT(got.expires_at, now + 1000000);
    CHECK_EQ_INT(got.created_at, s.created_at);
    db_session_clear(&got);
    CHECK_EQ_INT(db_session_get(db, "tok2", &got), -ENOENT);

    /* the session's user in one query; expired and unknown sessions give none */
    struct db_user su = {0};
    CHECK_EQ_INT(db_session_user(db, "tok1", now, &su), 0);
    CHECK_STREQ(su.name, "sess");
    CHECK_STREQ(su.id, u.id);
    CHECK_EQ_INT(su.role, DB_ROLE_USER);
    db_user_clear(&su);
    CHECK_EQ_INT(db_session_user(db, "tok0", now, &su), -ENOENT);
    CHECK_EQ_INT(db_session_user(db, "tok1", now + 1000000, &su), -ENOENT);
    CHECK_EQ_INT(db_session_user(db, "nope", now, &su), -ENOENT);

    /* revoking a user's other sessions keeps the named one */
    struct db_session s3 = {.token_hash = "tok3", .user_id = u.id, .expires_at = now + 1000000};
    CHECK_EQ_INT(db_session_create(db, &s3), 0);
    CHECK_EQ_INT(db_session_delete_user(db, u.id, "tok3"), 2); /* tok1 and the expired tok0 */
    CHECK_EQ_INT(db_session_user(db, "tok3", now, &su), 0);
    db_user_clear(&su);
    CHECK_EQ_INT(db_session_delete_user(db, u.id, NULL), 1);
    CHECK_EQ_INT(db_session_create(db, &s), 0);
    CHECK_EQ_INT(db_session_create(db, &old), 0);

    CHECK_EQ_INT(db_session_delete_expired(db, now), 1);
    CHECK_EQ_INT(db_session_get(db, "tok0", &got), -ENOENT);
    CHECK_EQ_INT(db_session_delete_expired(db, now), 0);
    CHECK_EQ_INT(db_session_delete(db, "tok1"), 0);
    CHECK_EQ_INT(db_session_delete(db, "tok1"), -ENOENT);

    /* deleting the user deletes their sessions */
    CHECK_EQ_INT(db_session_create(db, &s), 0);
    CHECK_EQ_INT(db_user_delete(db, "sess"), 0);
    CHECK_EQ_INT(db_session_get(db, "tok1", &got), -ENOENT);
    db_user_clear(&u);
}

static void check_stream_key(struct db *db, const char *name, const char *key)
{
    struct db_stream got;
    CHECK_EQ_INT(db_stream_get(db, name, &got), 0);
    CHECK_STREQ(got.key_hash, key);
    db_stream_clear(&got);
}

static void suite_streams(struct db *db)
{
    struct db_user a, b;
    make_user(db, "owner_a", DB_ROLE_USER, &a);
    make_user(db, "owner_b", DB_ROLE_USER, &b);
    struct db_stream s1 = {.name = "cam1", .owner_id = a.id, .key_hash = "k1", .record = true};
    struct db_stream s2 = {.name = "cam2", .owner_id = b.id, .key_hash = "k2"};
    struct db_stream s3 = {.name = "cam3", .owner_id = a.id, .key_hash = "k3"}, got;
    CHECK_EQ_INT(db_stream_create(db, &s1), 0);
    CHECK_EQ_INT(db_stream_create(db, &s2), 0);
    CHECK_EQ_INT(db_stream_create(db, &s3), 0);

    struct db_stream dup_name = {.name = "cam1", .owner_id = b.id, .key_hash = "k9"};
    struct db_stream dup_key = {.name = "cam9", .owner_id = b.id, .key_hash = "k1"};
    struct db_stream no_owner = {.name = "cam8", .owner_id = "nobody", .key_hash = "k8"};
    CHECK_EQ_INT(db_stream_create(db, &dup_name), -EEXIST);
    CHECK_EQ_INT(db_stream_create(db, &dup_key), -EEXIST);
    CHECK_EQ_INT(db_stream_create(db, &no_owner), -ENOENT);
    CHECK_EQ_INT(db_stream_get(db, "cam9", &got), -ENOENT);
    CHECK_EQ_INT(db_stream_get(db, "cam8", &got), -ENOENT);

    CHECK_EQ_INT(db_stream_get(db, "cam1", &got), 0);
    CHECK_STREQ(got.id, s1.id);
    CHECK_STREQ(got.owner_id, a.id);
    CHECK_STREQ(got.owner_name, "owner_a");
    CHECK_STREQ(got.key_hash, "k1");
    CHECK(got.record);
    CHECK_EQ_INT(got.created_at, s1.created_at);
    db_stream_clear(&got);
    CHECK_EQ_INT(db_stream_get_by_key_hash(db, "k2", &got), 0);
    CHECK_STREQ(got.name, "cam2");
    CHECK(!got.record);
    db_stream_clear(&got);
    CHECK_EQ_INT(db_stream_get_by_key_hash(db, "nope", &got), -ENOENT);

    struct db_stream *list = NULL;
    size_t n = 0;
    CHECK_EQ_INT(db_stream_list(db, NULL, &list, &n), 0);
    CHECK_EQ_INT(n, 3);
    db_stream_list_free(&list, n);
    CHECK_EQ_INT(db_stream_list(db, a.id, &list, &n), 0);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_STREQ(list[0].name, "cam1");
        CHECK_STREQ(list[1].name, "cam3");
    }
    db_stream_list_free(&list, n);

    /* key rotation: the old key stops matching at once; a taken key changes nothing */
    CHECK_EQ_INT(db_stream_set_key(db, "cam1", "k1b"), 0);
    CHECK_EQ_INT(db_stream_get_by_key_hash(db, "k1", &got), -ENOENT);
    CHECK_EQ_INT(db_stream_get_by_key_hash(db, "k1b", &got), 0);
    CHECK_STREQ(got.name, "cam1");
    db_stream_clear(&got);
    CHECK_EQ_INT(db_stream_set_key(db, "cam1", "k2"), -EEXIST);
    check_stream_key(db, "cam1", "k1b");
    check_stream_key(db, "cam2", "k2");
    CHECK_EQ_INT(db_stream_set_key(db, "nope", "k7"), -ENOENT);

    /* the record flag */
    CHECK_EQ_INT(db_stream_set_record(db, "cam1", false), 0);
    CHECK_EQ_INT(db_stream_get(db, "cam1", &got), 0);
    CHECK(!got.record);
    db_stream_clear(&got);
    CHECK_EQ_INT(db_stream_set_record(db, "cam1", true), 0);
    CHECK_EQ_INT(db_stream_get(db, "cam1", &got), 0);
    CHECK(got.record);
    db_stream_clear(&got);
    CHECK_EQ_INT(db_stream_set_record(db, "nope", true), -ENOENT);

    CHECK_EQ_INT(db_stream_delete(db, "cam3"), 0);
    CHECK_EQ_INT(db_stream_delete(db, "cam3"), -ENOENT);
    /* deleting the owner deletes their streams */
    CHECK_EQ_INT(db_user_delete(db, "owner_b"), 0);
    CHECK_EQ_INT(db_stream_get(db, "cam2", &got), -ENOENT);
    CHECK_EQ_INT(db_stream_list(db, NULL, &list, &n), 0);
    CHECK_EQ_INT(n, 1);
    db_stream_list_free(&list, n);
    CHECK_EQ_INT(db_user_delete(db, "owner_a"), 0);
    free(s1.id); /* the other fields are borrowed literals */
    free(s2.id);
    free(s3.id);
    db_user_clear(&a);
    db_user_clear(&b);
}

static void suite_nodes(struct db *db)
{
    struct db_node n1 = {.id = "node-1", .address = "10.0.0.1:8080", .last_seen = 100};
    struct db_node n2 = {.id = "node-2", .address = "10.0.0.2:8080", .last_seen = 200};
    CHECK_EQ_INT(db_node_upsert(db, &n1), 0);
    CHECK_EQ_INT(db_node_upsert(db, &n2), 0);
    n1.address = "10.0.0.9:8080";
    n1.last_seen = 300;
    CHECK_EQ_INT(db_node_upsert(db, &n1), 0);
    struct db_node *list = NULL;
    size_t n = 0;
    CHECK_EQ_INT(db_node_list(db, &list, &n), 0);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_STREQ(list[0].id, "node-1");
        CHECK_STREQ(list[0].address, "10.0.0.9:8080");
        CHECK_EQ_INT(list[0].last_seen, 300);
        CHECK_EQ_INT(list[1].last_seen, 200);
    }
    db_node_list_free(&list, n);
}

#define THREADS 4
#define PER_THREAD 25

struct worker {
    struct db *db;
    int index;
    int ok, exists; /* results of creating the shared name */
    int errors;
};

/* Each worker makes its own users and streams, reads them back, and races the others for one
 * shared user name: exactly one create may win. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char name[32], key[32];
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(name, sizeof(name), "w%d_%d", w->index, i);
        snprintf(key, sizeof(key), "key%d_%d", w->index, i);
        struct db_user u = {.name = name, .password_hash = "h"};
        struct db_stream st = {.name = name, .key_hash = key}, got = {0};
        if (db_user_create(w->db, &u) != 0) {
            w->errors++;
            continue;
        }
        st.owner_id = u.id;
        if (db_stream_create(w->db, &st) != 0 || db_stream_get_by_key_hash(w->db, key, &got) != 0)
            w->errors++;
        else if (strcmp(got.owner_id, u.id) != 0)
            w->errors++;
        db_stream_clear(&got);
        free(st.id);
        free(u.id);
    }
    struct db_user shared = {.name = "shared", .password_hash = "h"};
    int rc = db_user_create(w->db, &shared);
    w->ok += rc == 0;
    w->exists += rc == -EEXIST;
    free(shared.id);
    return NULL;
}

static void suite_threads(struct db *db)
{
    pthread_t t[THREADS];
    struct worker w[THREADS];
    int64_t before = user_count(db);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.db = db, .index = i};
        pthread_create(&t[i], NULL, worker_main, &w[i]);
    }
    int ok = 0, exists = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ_INT(w[i].errors, 0);
        ok += w[i].ok;
        exists += w[i].exists;
    }
    CHECK_EQ_INT(ok, 1);
    CHECK_EQ_INT(exists, THREADS - 1);
    CHECK_EQ_INT(user_count(db), before + THREADS * PER_THREAD + 1);
    struct db_stream *list = NULL;
    size_t n = 0;
    CHECK_EQ_INT(db_stream_list(db, NULL, &list, &n), 0);
    CHECK_EQ_INT(n, THREADS * PER_THREAD);
    db_stream_list_free(&list, n);
}

static void check_migrations(struct db *db)
{
    int64_t applied = -1;
    CHECK_EQ_INT(db_migrations_applied(db, &applied), 0);
    CHECK(db_migrations_embedded() >= 1);
    CHECK_EQ_INT(applied, (int64_t)db_migrations_embedded());
}

/* Every operation on a fresh database at url; then a reopen applies nothing again. */
static void suite_run(const char *url)
{
    struct db *db = NULL;
    CHECK_EQ_INT(db_open(url, &db), 0);
    if (!db)
        return;
    check_migrations(db);
    suite_users(db);
    suite_verbatim(db);
    suite_sessions(db);
    suite_streams(db);
    suite_nodes(db);
    suite_recordings(db);
    suite_rooms(db);
    suite_threads(db);
    db_close(&db);
    CHECK(db == NULL);

    CHECK_EQ_INT(db_open(url, &db), 0);
    if (!db)
        return;
    check_migrations(db);
    struct db_user got;
    CHECK_EQ_INT(db_user_get(db, "alice", &got), 0); /* data survives the reopen */
    db_user_clear(&got);
    db_close(&db);
}

static void *opener_main(void *arg)
{
    const char *url = *(const char **)arg;
    struct db *db = NULL;
    intptr_t rc = db_open(url, &db);
    db_close(&db);
    return (void *)rc;
}

/* Two nodes starting at once on a fresh database: both open, each migration applied once. */
static void suite_concurrent_open(const char *url)
{
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, opener_main, &url);
    for (int i = 0; i < 2; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        CHECK_EQ_INT((intptr_t)rc, 0);
    }
    struct db *db = NULL;
    CHECK_EQ_INT(db_open(url, &db), 0);
    if (db)
        check_migrations(db);
    db_close(&db);
}

#endif
