/* The room and setting operations of db.h (issue 14), in the style of ops.c: one statement
 * each, written once for both dialects, every value bound. Statement ids start at
 * DB_STMT_ROOMS_BEGIN, after recordings.c's. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "db/backend.h"
#include "db/db.h"
#include "db/rows.h"

enum {
    ST_ROOM_INSERT = DB_STMT_ROOMS_BEGIN,
    ST_ROOM_GET,
    ST_ROOM_LIST,
    ST_ROOM_LIST_VIEWER,
    ST_ROOM_DELETE,
    ST_SETTING_INSERT,
    ST_SETTING_GET,
    ST_END
};
/* db.c uses the last two ids for the migrations' bookkeeping */
_Static_assert(ST_END <= DB_STMT_MAX - 2, "raise DB_STMT_MAX");
#define S(id) (&stmts[(id)-DB_STMT_ROOMS_BEGIN])

#define ROOM_COLS                                                                                  \
    "SELECT r.id, r.name, r.owner_id, u.name, r.is_public, r.created_at "                          \
    "FROM rooms r JOIN users u ON u.id = r.owner_id "
#define ROOM_TYPES "ssssii"

static const struct db_stmt stmts[ST_END - DB_STMT_ROOMS_BEGIN] = {
    {ST_ROOM_INSERT,
     "INSERT INTO rooms (id, name, owner_id, is_public, created_at) VALUES ($1, $2, $3, $4, $5)",
     ""},
    {ST_ROOM_GET, ROOM_COLS "WHERE r.name = $1", ROOM_TYPES},
    {ST_ROOM_LIST, ROOM_COLS "ORDER BY r.name", ROOM_TYPES},
    {ST_ROOM_LIST_VIEWER, ROOM_COLS "WHERE r.owner_id = $1 OR r.is_public = 1 ORDER BY r.name",
     ROOM_TYPES},
    {ST_ROOM_DELETE, "DELETE FROM rooms WHERE name = $1", ""},
    {ST_SETTING_INSERT,
     "INSERT INTO settings (name, value, created_at) VALUES ($1, $2, $3) "
     "ON CONFLICT (name) DO NOTHING",
     ""},
    {ST_SETTING_GET, "SELECT value FROM settings WHERE name = $1", "s"},
};

static void fill_room(void *item, const struct db_val *c)
{
    struct db_room *r = item;
    r->id = db_dup_col(&c[0]);
    r->name = db_dup_col(&c[1]);
    r->owner_id = db_dup_col(&c[2]);
    r->owner_name = db_dup_col(&c[3]);
    r->is_public = c[4].i != 0;
    r->created_at = c[5].i;
}

void db_room_clear(struct db_room *r)
{
    xfreep(&r->id);
    xfreep(&r->name);
    xfreep(&r->owner_id);
    xfreep(&r->owner_name);
}

static void room_clear_item(void *r)
{
    db_room_clear(r);
}

void db_room_list_free(struct db_room **list, size_t n)
{
    for (size_t i = 0; *list && i < n; i++)
        db_room_clear(&(*list)[i]);
    xfreep(list);
}

int db_room_create(struct db *db, struct db_room *r)
{
    if (!r->name || !r->owner_id)
        return -EINVAL;
    char *id = db_new_id();
    int64_t now = clock_wall_us();
    struct db_val p[] = {db_txt(id), db_txt(r->name), db_txt(r->owner_id),
                         db_num(r->is_public ? 1 : 0), db_num(now)};
    int rc = db_exec(db, S(ST_ROOM_INSERT), p, 5, NULL, NULL, NULL);
    if (rc < 0) {
        free(id);
        return rc;
    }
    r->id = id;
    r->created_at = now;
    return 0;
}

int db_room_get(struct db *db, const char *name, struct db_room *out)
{
    struct db_val p[] = {db_txt(name)};
    return db_query_one(db, S(ST_ROOM_GET), p, 1, out, sizeof(*out), fill_room, room_clear_item);
}

int db_room_list(struct db *db, const char *viewer_id, struct db_room **out, size_t *n)
{
    struct db_val p[] = {db_txt(viewer_id)};
    return db_query_list(db, S(viewer_id ? ST_ROOM_LIST_VIEWER : ST_ROOM_LIST), p,
                         viewer_id ? 1 : 0, (void **)out, n, sizeof(**out), fill_room,
                         room_clear_item);
}

int db_room_delete(struct db *db, const char *name)
{
    struct db_val p[] = {db_txt(name)};
    return db_exec_change(db, S(ST_ROOM_DELETE), p, 1);
}

static int setting_row(void *ctx, const struct db_val *cols)
{
    char **out = ctx;
    free(*out);
    *out = db_dup_col(&cols[0]);
    return 0;
}

int db_setting_ensure(struct db *db, const char *name, const char *value, char **out)
{
    *out = NULL;
    if (!name || !value)
        return -EINVAL;
    struct db_val p[] = {db_txt(name), db_txt(value), db_num(clock_wall_us())};
    int rc = db_exec(db, S(ST_SETTING_INSERT), p, 3, NULL, NULL, NULL);
    if (rc == 0)
        rc = db_exec(db, S(ST_SETTING_GET), p, 1, setting_row, out, NULL);
    if (rc == 0 && !*out)
        rc = -EIO; /* inserted or there, yet not found: should not happen */
    if (rc < 0)
        xfreep(out);
    return rc;
}
