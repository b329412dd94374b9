/* /api/users and /api/users/{name}: admins manage users and roles (the router has already
 * refused non-admins with 403). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "auth/password.h"
#include "core/log.h"

static bool parse_role(struct api_call *c, const char *text, enum db_role *role)
{
    if (!strcmp(text, "admin"))
        *role = DB_ROLE_ADMIN;
    else if (!strcmp(text, "user"))
        *role = DB_ROLE_USER;
    else {
        api_fail(c, 400, "invalid_field", "field 'role' must be \"user\" or \"admin\"");
        return false;
    }
    return true;
}

/* The {name} of the path; an invalid one cannot exist, so it is a 404. */
static const char *path_name(struct api_call *c)
{
    const char *name = router_param(&c->params, "name");
    if (!api_name_valid(name)) {
        api_fail(c, 404, "not_found", "no such user");
        return NULL;
    }
    return name;
}

/* Refuses (409) to delete or demote name when it is the only admin: nobody could manage users
 * any more. Two admins removing each other at the same instant can still both succeed; the CLI
 * (`kibitka user add --admin`) is the way back. */
static bool last_admin(struct api_call *c, const char *name)
{
    struct db_user *users = NULL;
    size_t n = 0, admins = 0;
    bool is_admin = false;
    if (db_user_list(c->api->db, &users, &n) < 0)
        return false; /* the update itself will report the database error */
    for (size_t i = 0; i < n; i++) {
        admins += users[i].role == DB_ROLE_ADMIN;
        is_admin |= users[i].role == DB_ROLE_ADMIN && strcmp(users[i].name, name) == 0;
    }
    db_user_list_free(&users, n);
    if (!is_admin || admins > 1)
        return false;
    api_fail(c, 409, "conflict", "the last admin cannot be deleted or made a user");
    return true;
}

void api_users_list(struct api_call *c)
{
    struct db_user *list;
    size_t n;
    int err = db_user_list(c->api->db, &list, &n);
    if (err < 0) {
        api_fail_db(c, err, "user");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, api_user_json(&list[i]));
    db_user_list_free(&list, n);
    api_ok(c, 200, json_pack("{s:o}", "users", arr));
}

void api_users_create(struct api_call *c)
{
    const char *name = json_body_str(c->body, "name");
    const char *pw = json_body_str(c->body, "password");
    const char *role_text = json_body_str(c->body, "role");
    enum db_role role = DB_ROLE_USER;
    if (!api_name_valid(name)) {
        api_fail(c, 400, "invalid_field", "field 'name' must match [a-z0-9_-]{1,64}");
        return;
    }
    if (db_user_name_reserved(name)) {
        api_fail(c, 400, "invalid_field", "field 'name': " DB_USER_NAME_RESERVED_MSG);
        return;
    }
    if (!api_password_ok(c, pw, "password") || (role_text && !parse_role(c, role_text, &role)))
        return;
    char hash[PASSWORD_HASH_MAX];
    if (password_hash(pw, hash) < 0) {
        api_fail(c, 500, "internal", "cannot hash the password");
        return;
    }
    struct db_user u = {.name = (char *)name, .password_hash = hash, .role = role};
    int err = db_user_create(c->api->db, &u);
    if (err < 0) {
        api_fail_db(c, err, "user");
        return;
    }
    api_ok(c, 201, api_user_json(&u));
    log_info("api", NULL, "user '%s' created by '%s'", name, c->user.name);
    free(u.id);
}

void api_user_get(struct api_call *c)
{
    const char *name = path_name(c);
    if (!name)
        return;
    struct db_user u = {0};
    int err = db_user_get(c->api->db, name, &u);
    if (err < 0)
        api_fail_db(c, err, "user");
    else
        api_ok(c, 200, api_user_json(&u));
    db_user_clear(&u);
}

void api_user_patch(struct api_call *c)
{
    const char *name = path_name(c);
    if (!name)
        return;
    const char *pw = json_body_str(c->body, "password");
    const char *role_text = json_body_str(c->body, "role");
    enum db_role role;
    if ((pw && !api_password_ok(c, pw, "password")) ||
        (role_text && !parse_role(c, role_text, &role)))
        return;
    if (role_text && role == DB_ROLE_USER && last_admin(c, name))
        return;
    char hash[PASSWORD_HASH_MAX];
    if (pw && password_hash(pw, hash) < 0) {
        api_fail(c, 500, "internal", "cannot hash the password");
        return;
    }
    int err = db_user_update(c->api->db, name, pw ? hash : NULL, role_text ? &role : NULL);
    struct db_user u = {0};
    if (err == 0)
        err = db_user_get(c->api->db, name, &u);
    if (err == 0 && pw) /* a password set by an admin logs the user out everywhere */
        err = db_session_delete_user(c->api->db, u.id, NULL);
    err = err > 0 ? 0 : err;
    if (err < 0)
        api_fail_db(c, err, "user");
    else
        api_ok(c, 200, api_user_json(&u));
    db_user_clear(&u);
}

void api_user_delete(struct api_call *c)
{
    const char *name = path_name(c);
    if (!name || last_admin(c, name))
        return;
    struct db_user u = {0};
    int err = db_user_get(c->api->db, name, &u);
    if (err == 0)
        err = db_user_delete(c->api->db, name);
    if (err < 0) {
        db_user_clear(&u);
        api_fail_db(c, err, "user");
        return;
    }
    api_ok(c, 204, NULL);
    api_end_live(c, NULL, u.id, "its owner was deleted");
    db_user_clear(&u);
    log_info("api", NULL, "user '%s' deleted by '%s'", name, c->user.name);
}
