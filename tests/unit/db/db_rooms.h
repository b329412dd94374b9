/* The room and setting operations of db.h (issue 14), part of the dual-backend suite
 * (db_suite.h runs suite_rooms on SQLite and PostgreSQL). */
#ifndef KIBITKA_TEST_DB_ROOMS_H
#define KIBITKA_TEST_DB_ROOMS_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "test.h"

static void room_names(struct db *db, const char *viewer, const char *want)
{
    struct db_room *list = NULL;
    size_t n = 0;
    char got[256] = "";
    CHECK_EQ_INT(db_room_list(db, viewer, &list, &n), 0);
    for (size_t i = 0; i < n; i++) {
        strncat(got, list[i].name, sizeof(got) - strlen(got) - 2);
        strcat(got, i + 1 < n ? "," : "");
    }
    CHECK_STREQ(got, want);
    db_room_list_free(&list, n);
    CHECK(list == NULL);
}

/* Needs no other rows; makes users of its own (names starting "room"). */
static void suite_rooms(struct db *db)
{
    struct db_user owner = {.name = "roomowner", .password_hash = "h", .role = DB_ROLE_USER};
    struct db_user other = {.name = "roomother", .password_hash = "h", .role = DB_ROLE_USER};
    CHECK_EQ_INT(db_user_create(db, &owner), 0);
    CHECK_EQ_INT(db_user_create(db, &other), 0);

    struct db_room a = {.name = "lobby", .owner_id = owner.id, .is_public = true};
    struct db_room b = {.name = "backstage", .owner_id = owner.id, .is_public = false};
    struct db_room c = {.name = "den", .owner_id = other.id, .is_public = false};
    CHECK_EQ_INT(db_room_create(db, &a), 0);
    CHECK(a.id && strlen(a.id) == 32 && a.created_at > 0);
    CHECK_EQ_INT(db_room_create(db, &b), 0);
    CHECK_EQ_INT(db_room_create(db, &c), 0);
    struct db_room dup = {.name = "lobby", .owner_id = other.id};
    CHECK_EQ_INT(db_room_create(db, &dup), -EEXIST);
    CHECK(dup.id == NULL);
    struct db_room orphan = {.name = "orphan", .owner_id = "00000000000000000000000000000000"};
    CHECK_EQ_INT(db_room_create(db, &orphan), -ENOENT);
    struct db_room bad = {.name = NULL, .owner_id = owner.id};
    CHECK_EQ_INT(db_room_create(db, &bad), -EINVAL);

    struct db_room got;
    CHECK_EQ_INT(db_room_get(db, "lobby", &got), 0);
    CHECK_STREQ(got.id, a.id);
    CHECK_STREQ(got.owner_id, owner.id);
    CHECK_STREQ(got.owner_name, "roomowner");
    CHECK(got.is_public);
    CHECK_EQ_INT(got.created_at, a.created_at);
    db_room_clear(&got);
    CHECK_EQ_INT(db_room_get(db, "backstage", &got), 0);
    CHECK(!got.is_public);
    db_room_clear(&got);
    CHECK_EQ_INT(db_room_get(db, "nowhere", &got), -ENOENT);
    CHECK(got.id == NULL);

    /* all (admins); the owner's own and public; another user's own and public */
    room_names(db, NULL, "backstage,den,lobby");
    room_names(db, owner.id, "backstage,lobby");
    room_names(db, other.id, "den,lobby");

    CHECK_EQ_INT(db_room_delete(db, "backstage"), 0);
    CHECK_EQ_INT(db_room_delete(db, "backstage"), -ENOENT);
    /* a room goes with its owner */
    CHECK_EQ_INT(db_user_delete(db, "roomother"), 0);
    CHECK_EQ_INT(db_room_get(db, "den", &got), -ENOENT);
    room_names(db, NULL, "lobby");
    CHECK_EQ_INT(db_room_delete(db, "lobby"), 0);
    CHECK_EQ_INT(db_user_delete(db, "roomowner"), 0);

    /* a setting is made once; a second value does not replace it */
    char *v = NULL;
    CHECK_EQ_INT(db_setting_ensure(db, "test_key", "first", &v), 0);
    CHECK_STREQ(v, "first");
    free(v);
    CHECK_EQ_INT(db_setting_ensure(db, "test_key", "second", &v), 0);
    CHECK_STREQ(v, "first");
    free(v);
    CHECK_EQ_INT(db_setting_ensure(db, "test_key", NULL, &v), -EINVAL);
    CHECK(v == NULL);
    free(a.id);
    free(b.id);
    free(c.id);
    free(owner.id);
    free(other.id);
}

#endif
