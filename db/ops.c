/* The operations of db.h: each is one statement from the table below, written once for both
 * dialects, with every value bound as a parameter. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "db/backend.h"
#include "db/db.h"
#include "db/rows.h"

enum {
    ST_USER_INSERT,
    ST_USER_GET,
    ST_USER_GET_ID,
    ST_USER_LIST,
    ST_USER_UPDATE,
    ST_USER_DELETE,
    ST_SESSION_INSERT,
    ST_SESSION_GET,
    ST_SESSION_USER,
    ST_SESSION_DELETE,
    ST_SESSION_DELETE_USER,
    ST_SESSION_DELETE_EXPIRED,
    ST_STREAM_INSERT,
    ST_STREAM_GET,
    ST_STREAM_GET_KEY,
    ST_STREAM_LIST,
    ST_STREAM_LIST_OWNER,
    ST_STREAM_SET_KEY,
    ST_STREAM_DELETE,
    ST_STREAM_SET_RECORD,
    ST_NODE_UPSERT,
    ST_NODE_LIST,
    ST_MIGRATIONS_COUNT,
    ST_COUNT
};
_Static_assert(ST_COUNT <= DB_STMT_OPS_END, "raise DB_STMT_OPS_END");

#define USER_COLS "SELECT id, name, password_hash, role, created_at FROM users "
#define STREAM_COLS                                                                                \
    "SELECT s.id, s.name, s.owner_id, u.name, s.key_hash, s.record, s.created_at "                 \
    "FROM streams s JOIN users u ON u.id = s.owner_id "

static const struct db_stmt stmts[ST_COUNT] = {
    [ST_USER_INSERT] = {ST_USER_INSERT,
                        "INSERT INTO users (id, name, password_hash, role, "
                        "created_at) VALUES ($1, $2, $3, $4, $5)",
                        ""},
    [ST_USER_GET] = {ST_USER_GET, USER_COLS "WHERE name = $1", "ssssi"},
    [ST_USER_GET_ID] = {ST_USER_GET_ID, USER_COLS "WHERE id = $1", "ssssi"},
    [ST_USER_LIST] = {ST_USER_LIST, USER_COLS "ORDER BY name", "ssssi"},
    /* A NULL parameter keeps the column as it is. */
    [ST_USER_UPDATE] = {ST_USER_UPDATE,
                        "UPDATE users SET password_hash = COALESCE($2, "
                        "password_hash), role = COALESCE($3, role) WHERE name = $1",
                        ""},
    [ST_USER_DELETE] = {ST_USER_DELETE, "DELETE FROM users WHERE name = $1", ""},
    [ST_SESSION_INSERT] = {ST_SESSION_INSERT,
                           "INSERT INTO sessions (token_hash, user_id, "
                           "expires_at, created_at) VALUES ($1, $2, $3, $4)",
                           ""},
    [ST_SESSION_GET] = {ST_SESSION_GET,
                        "SELECT token_hash, user_id, expires_at, created_at FROM "
                        "sessions WHERE token_hash = $1",
                        "ssii"},
    /* Authenticating a request: the session and its user in one round trip. */
    [ST_SESSION_USER] = {ST_SESSION_USER,
                         "SELECT u.id, u.name, u.password_hash, u.role, u.created_at FROM "
                         "sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 "
                         "AND s.expires_at > $2",
                         "ssssi"},
    [ST_SESSION_DELETE] = {ST_SESSION_DELETE, "DELETE FROM sessions WHERE token_hash = $1", ""},
    [ST_SESSION_DELETE_USER] = {ST_SESSION_DELETE_USER,
                                "DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2", ""},
    [ST_SESSION_DELETE_EXPIRED] = {ST_SESSION_DELETE_EXPIRED,
                                   "DELETE FROM sessions WHERE expires_at <= $1", ""},
    [ST_STREAM_INSERT] = {ST_STREAM_INSERT,
                          "INSERT INTO streams (id, name, owner_id, key_hash, "
                          "record, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                          ""},
    [ST_STREAM_GET] = {ST_STREAM_GET, STREAM_COLS "WHERE s.name = $1", "sssssii"},
    [ST_STREAM_GET_KEY] = {ST_STREAM_GET_KEY, STREAM_COLS "WHERE s.key_hash = $1", "sssssii"},
    [ST_STREAM_LIST] = {ST_STREAM_LIST, STREAM_COLS "ORDER BY s.name", "sssssii"},
    [ST_STREAM_LIST_OWNER] = {ST_STREAM_LIST_OWNER,
                              STREAM_COLS "WHERE s.owner_id = $1 ORDER BY s.name", "sssssii"},
    [ST_STREAM_SET_KEY] = {ST_STREAM_SET_KEY, "UPDATE streams SET key_hash = $2 WHERE name = $1",
                           ""},
    [ST_STREAM_DELETE] = {ST_STREAM_DELETE, "DELETE FROM streams WHERE name = $1", ""},
    [ST_STREAM_SET_RECORD] = {ST_STREAM_SET_RECORD,
                              "UPDATE streams SET record = $2 WHERE name = $1", ""},
    [ST_NODE_UPSERT] = {ST_NODE_UPSERT,
                        "INSERT INTO nodes (id, address, last_seen) VALUES ($1, "
                        "$2, $3) ON CONFLICT (id) DO UPDATE SET address = "
                        "excluded.address, last_seen = excluded.last_seen",
                        ""},
    [ST_NODE_LIST] = {ST_NODE_LIST, "SELECT id, address, last_seen FROM nodes ORDER BY id", "ssi"},
    [ST_MIGRATIONS_COUNT] = {ST_MIGRATIONS_COUNT, "SELECT COUNT(*) FROM schema_migrations", "i"},
};

/* users */

const char *db_role_name(enum db_role role)
{
    return role == DB_ROLE_ADMIN ? "admin" : "user";
}

static void fill_user(void *item, const struct db_val *c)
{
    struct db_user *u = item;
    u->id = db_dup_col(&c[0]);
    u->name = db_dup_col(&c[1]);
    u->password_hash = db_dup_col(&c[2]);
    u->role = c[3].type == DB_TEXT && strcmp(c[3].s, "admin") == 0 ? DB_ROLE_ADMIN : DB_ROLE_USER;
    u->created_at = c[4].i;
}

void db_user_clear(struct db_user *u)
{
    xfreep(&u->id);
    xfreep(&u->name);
    xfreep(&u->password_hash);
}

static void user_clear_item(void *u)
{
    db_user_clear(u);
}

void db_user_list_free(struct db_user **list, size_t n)
{
    for (size_t i = 0; *list && i < n; i++)
        db_user_clear(&(*list)[i]);
    xfreep(list);
}

int db_user_create(struct db *db, struct db_user *u)
{
    if (!u->name || !u->password_hash || db_user_name_reserved(u->name))
        return -EINVAL;
    char *id = db_new_id();
    int64_t now = clock_wall_us();
    struct db_val p[] = {db_txt(id), db_txt(u->name), db_txt(u->password_hash),
                         db_txt(db_role_name(u->role)), db_num(now)};
    int rc = db_exec(db, &stmts[ST_USER_INSERT], p, 5, NULL, NULL, NULL);
    if (rc < 0) {
        free(id);
        return rc;
    }
    u->id = id;
    u->created_at = now;
    return 0;
}

int db_user_get(struct db *db, const char *name, struct db_user *out)
{
    struct db_val p[] = {db_txt(name)};
    return db_query_one(db, &stmts[ST_USER_GET], p, 1, out, sizeof(*out), fill_user,
                        user_clear_item);
}

int db_user_get_by_id(struct db *db, const char *id, struct db_user *out)
{
    struct db_val p[] = {db_txt(id)};
    return db_query_one(db, &stmts[ST_USER_GET_ID], p, 1, out, sizeof(*out), fill_user,
                        user_clear_item);
}

int db_user_list(struct db *db, struct db_user **out, size_t *n)
{
    return db_query_list(db, &stmts[ST_USER_LIST], NULL, 0, (void **)out, n, sizeof(**out),
                         fill_user, user_clear_item);
}

int db_user_update(struct db *db, const char *name, const char *password_hash,
                   const enum db_role *role)
{
    struct db_val p[] = {db_txt(name), db_txt(password_hash),
                         db_txt(role ? db_role_name(*role) : NULL)};
    return db_exec_change(db, &stmts[ST_USER_UPDATE], p, 3);
}

int db_user_delete(struct db *db, const char *name)
{
    struct db_val p[] = {db_txt(name)};
    return db_exec_change(db, &stmts[ST_USER_DELETE], p, 1);
}

/* sessions */

static void fill_session(void *item, const struct db_val *c)
{
    struct db_session *s = item;
    s->token_hash = db_dup_col(&c[0]);
    s->user_id = db_dup_col(&c[1]);
    s->expires_at = c[2].i;
    s->created_at = c[3].i;
}

void db_session_clear(struct db_session *s)
{
    xfreep(&s->token_hash);
    xfreep(&s->user_id);
}

static void session_clear_item(void *s)
{
    db_session_clear(s);
}

int db_session_create(struct db *db, struct db_session *s)
{
    if (!s->token_hash || !s->user_id)
        return -EINVAL;
    int64_t now = clock_wall_us();
    struct db_val p[] = {db_txt(s->token_hash), db_txt(s->user_id), db_num(s->expires_at),
                         db_num(now)};
    int rc = db_exec(db, &stmts[ST_SESSION_INSERT], p, 4, NULL, NULL, NULL);
    if (rc == 0)
        s->created_at = now;
    return rc;
}

int db_session_get(struct db *db, const char *token_hash, struct db_session *out)
{
    struct db_val p[] = {db_txt(token_hash)};
    return db_query_one(db, &stmts[ST_SESSION_GET], p, 1, out, sizeof(*out), fill_session,
                        session_clear_item);
}

int db_session_user(struct db *db, const char *token_hash, int64_t now, struct db_user *out)
{
    struct db_val p[] = {db_txt(token_hash), db_num(now)};
    return db_query_one(db, &stmts[ST_SESSION_USER], p, 2, out, sizeof(*out), fill_user,
                        user_clear_item);
}

int db_session_delete(struct db *db, const char *token_hash)
{
    struct db_val p[] = {db_txt(token_hash)};
    return db_exec_change(db, &stmts[ST_SESSION_DELETE], p, 1);
}

int db_session_delete_user(struct db *db, const char *user_id, const char *keep_token_hash)
{
    struct db_val p[] = {db_txt(user_id), db_txt(keep_token_hash ? keep_token_hash : "")};
    int64_t changed = 0;
    int rc = db_exec(db, &stmts[ST_SESSION_DELETE_USER], p, 2, NULL, NULL, &changed);
    return rc < 0 ? rc : (int)changed;
}

int db_session_delete_expired(struct db *db, int64_t now)
{
    struct db_val p[] = {db_num(now)};
    int64_t changed = 0;
    int rc = db_exec(db, &stmts[ST_SESSION_DELETE_EXPIRED], p, 1, NULL, NULL, &changed);
    return rc < 0 ? rc : (int)changed;
}

/* streams */

static void fill_stream(void *item, const struct db_val *c)
{
    struct db_stream *st = item;
    st->id = db_dup_col(&c[0]);
    st->name = db_dup_col(&c[1]);
    st->owner_id = db_dup_col(&c[2]);
    st->owner_name = db_dup_col(&c[3]);
    st->key_hash = db_dup_col(&c[4]);
    st->record = c[5].i != 0;
    st->created_at = c[6].i;
}

void db_stream_clear(struct db_stream *st)
{
    xfreep(&st->id);
    xfreep(&st->name);
    xfreep(&st->owner_id);
    xfreep(&st->owner_name);
    xfreep(&st->key_hash);
}

static void stream_clear_item(void *st)
{
    db_stream_clear(st);
}

void db_stream_list_free(struct db_stream **list, size_t n)
{
    for (size_t i = 0; *list && i < n; i++)
        db_stream_clear(&(*list)[i]);
    xfreep(list);
}

int db_stream_create(struct db *db, struct db_stream *st)
{
    if (!st->name || !st->owner_id || !st->key_hash)
        return -EINVAL;
    char *id = db_new_id();
    int64_t now = clock_wall_us();
    struct db_val p[] = {db_txt(id),           db_txt(st->name),           db_txt(st->owner_id),
                         db_txt(st->key_hash), db_num(st->record ? 1 : 0), db_num(now)};
    int rc = db_exec(db, &stmts[ST_STREAM_INSERT], p, 6, NULL, NULL, NULL);
    if (rc < 0) {
        free(id);
        return rc;
    }
    st->id = id;
    st->created_at = now;
    return 0;
}

int db_stream_get(struct db *db, const char *name, struct db_stream *out)
{
    struct db_val p[] = {db_txt(name)};
    return db_query_one(db, &stmts[ST_STREAM_GET], p, 1, out, sizeof(*out), fill_stream,
                        stream_clear_item);
}

int db_stream_get_by_key_hash(struct db *db, const char *key_hash, struct db_stream *out)
{
    struct db_val p[] = {db_txt(key_hash)};
    return db_query_one(db, &stmts[ST_STREAM_GET_KEY], p, 1, out, sizeof(*out), fill_stream,
                        stream_clear_item);
}

int db_stream_list(struct db *db, const char *owner_id, struct db_stream **out, size_t *n)
{
    struct db_val p[] = {db_txt(owner_id)};
    int st = owner_id ? ST_STREAM_LIST_OWNER : ST_STREAM_LIST;
    return db_query_list(db, &stmts[st], p, owner_id ? 1 : 0, (void **)out, n, sizeof(**out),
                         fill_stream, stream_clear_item);
}

int db_stream_set_key(struct db *db, const char *name, const char *key_hash)
{
    if (!key_hash)
        return -EINVAL;
    struct db_val p[] = {db_txt(name), db_txt(key_hash)};
    return db_exec_change(db, &stmts[ST_STREAM_SET_KEY], p, 2);
}

int db_stream_set_record(struct db *db, const char *name, bool record)
{
    struct db_val p[] = {db_txt(name), db_num(record ? 1 : 0)};
    return db_exec_change(db, &stmts[ST_STREAM_SET_RECORD], p, 2);
}

int db_stream_delete(struct db *db, const char *name)
{
    struct db_val p[] = {db_txt(name)};
    return db_exec_change(db, &stmts[ST_STREAM_DELETE], p, 1);
}

/* nodes */

static void fill_node(void *item, const struct db_val *c)
{
    struct db_node *nd = item;
    nd->id = db_dup_col(&c[0]);
    nd->address = db_dup_col(&c[1]);
    nd->last_seen = c[2].i;
}

void db_node_clear(struct db_node *node)
{
    xfreep(&node->id);
    xfreep(&node->address);
}

static void node_clear_item(void *nd)
{
    db_node_clear(nd);
}

void db_node_list_free(struct db_node **list, size_t n)
{
    for (size_t i = 0; *list && i < n; i++)
        db_node_clear(&(*list)[i]);
    xfreep(list);
}

int db_node_upsert(struct db *db, const struct db_node *node)
{
    if (!node->id || !node->address)
        return -EINVAL;
    struct db_val p[] = {db_txt(node->id), db_txt(node->address), db_num(node->last_seen)};
    return db_exec(db, &stmts[ST_NODE_UPSERT], p, 3, NULL, NULL, NULL);
}

int db_node_list(struct db *db, struct db_node **out, size_t *n)
{
    return db_query_list(db, &stmts[ST_NODE_LIST], NULL, 0, (void **)out, n, sizeof(**out),
                         fill_node, node_clear_item);
}

static int count_row(void *ctx, const struct db_val *cols)
{
    *(int64_t *)ctx = cols[0].i;
    return 0;
}

int db_migrations_applied(struct db *db, int64_t *count)
{
    *count = 0;
    return db_exec(db, &stmts[ST_MIGRATIONS_COUNT], NULL, 0, count_row, count, NULL);
}
