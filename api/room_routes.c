/* /api/rooms: voice rooms (issue 14). A room is a row of the database; who is in it is live
 * state of the SFU, read through the api's room ops (api.h), which server/ wires to sfu/.
 *
 * Who sees what: a public room is visible to every logged-in user, a private one to its owner
 * and admins only; to anyone else it is a 404 exactly like a missing room (as streams are).
 * Moderation (delete, kick, mute, tokens for others) is the owner's and admins'; anyone else
 * who can see the room gets a 403. GET /api/public/rooms shows the public rooms to anyone,
 * with their members' display names only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

#define TOKEN_TTL_DEFAULT_S 600
#define TOKEN_TTL_MIN_S 10
#define TOKEN_TTL_MAX_S 86400

int api_room_key(struct api *api, unsigned char key[ROOM_TOKEN_KEY_LEN])
{
    int rc = 0;
    pthread_mutex_lock(&api->room_key_lock);
    if (!api->room_key_loaded) {
        rc = room_token_key_load(api->db, api->room_key);
        api->room_key_loaded = rc == 0;
    }
    if (rc == 0)
        memcpy(key, api->room_key, ROOM_TOKEN_KEY_LEN);
    pthread_mutex_unlock(&api->room_key_lock);
    return rc;
}

static bool is_moderator(const struct api_call *c, const struct db_room *r)
{
    return c->user.role == DB_ROLE_ADMIN || !strcmp(r->owner_id, c->user.id);
}

/* The room {name} of the path if the caller may see it, else false after a 404. */
static bool room_visible(struct api_call *c, struct db_room *r)
{
    memset(r, 0, sizeof(*r));
    const char *name = router_param(&c->params, "name");
    int err = api_name_valid(name) ? db_room_get(c->api->db, name, r) : -ENOENT;
    if (err == 0 && !r->is_public && !is_moderator(c, r))
        err = -ENOENT;
    if (err < 0) {
        db_room_clear(r);
        api_fail_db(c, err, "room");
        return false;
    }
    return true;
}

/* room_visible, and the caller moderates it (else a 403). */
static bool room_moderated(struct api_call *c, struct db_room *r)
{
    if (!room_visible(c, r))
        return false;
    if (is_moderator(c, r))
        return true;
    api_fail(c, 403, "forbidden", "only the room's owner or an admin may do this");
    db_room_clear(r);
    return false;
}

static json_t *room_json(const struct db_room *r)
{
    return json_pack("{s:s,s:s?,s:b,s:o}", "name", r->name, "owner", r->owner_name, "public",
                     r->is_public, "created_at", json_time(r->created_at));
}

/* The SFU's snapshot of the room, parsed; NULL without ops or members. */
static json_t *snapshot(struct api *api, const char *room)
{
    if (!api->room_ops)
        return NULL;
    char *text = api->room_ops->snapshot(api->room_ops_opaque, room);
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    return o;
}

/* A time from the SFU: an RFC 3339 string as it is, a number as unix time (seconds,
 * milliseconds or microseconds, told apart by size); null otherwise. */
static json_t *time_value(json_t *v)
{
    if (json_is_string(v))
        return json_incref(v);
    if (!json_is_number(v) || json_number_value(v) <= 0)
        return json_null();
    double t = json_number_value(v);
    return json_time((int64_t)(t > 1e14 ? t : t > 1e11 ? t * 1e3 : t * 1e6));
}

static json_t *int_or_0(json_t *m, const char *k)
{
    json_t *v = json_object_get(m, k);
    return json_integer(json_is_number(v) ? (json_int_t)json_number_value(v) : 0);
}

static json_t *num_or(json_t *m, const char *k, json_t *dflt)
{
    json_t *v = json_object_get(m, k);
    if (json_is_number(v) && json_number_value(v) >= 0) {
        json_decref(dflt);
        return json_real(json_number_value(v));
    }
    return dflt;
}

/* One participant as the API shows it, whatever the SFU's snapshot holds (the schema is
 * strict: every member present with its type). */
static json_t *participant_json(json_t *m)
{
    const char *user = json_string_value(json_object_get(m, "user"));
    const char *display = json_string_value(json_object_get(m, "display"));
    const char *id = json_string_value(json_object_get(m, "id"));
    return json_pack("{s:s,s:s?,s:s,s:b,s:b,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "id", id ? id : "",
                     "user", user && *user ? user : NULL, "display", display ? display : "",
                     "speaking", json_is_true(json_object_get(m, "speaking")), "muted",
                     json_is_true(json_object_get(m, "muted")), "joined_at",
                     time_value(json_object_get(m, "joined_at")), "packets_in",
                     int_or_0(m, "packets_in"), "packets_forwarded",
                     int_or_0(m, "packets_forwarded"), "packets_lost", int_or_0(m, "packets_lost"),
                     "jitter_ms", num_or(m, "jitter_ms", json_real(0)), "rtt_ms",
                     num_or(m, "rtt_ms", json_null()), "slots_in_use", int_or_0(m, "slots_in_use"));
}

static json_t *participants(struct api *api, const char *room)
{
    json_t *snap = snapshot(api, room), *arr = json_array(), *m;
    size_t i;
    json_array_foreach(json_object_get(snap, "members"), i, m)
    {
        if (json_is_object(m))
            json_array_append_new(arr, participant_json(m));
    }
    json_decref(snap);
    return arr;
}

/* Whether member is in the room's live snapshot. */
static bool member_present(struct api *api, const char *room, const char *member)
{
    json_t *snap = snapshot(api, room), *m;
    size_t i;
    bool found = false;
    json_array_foreach(json_object_get(snap, "members"), i, m)
    {
        const char *id = json_string_value(json_object_get(m, "id"));
        found |= id && !strcmp(id, member);
    }
    json_decref(snap);
    return found;
}

void api_rooms_list(struct api_call *c)
{
    struct db_room *list;
    size_t n;
    int err =
        db_room_list(c->api->db, c->user.role == DB_ROLE_ADMIN ? NULL : c->user.id, &list, &n);
    if (err < 0) {
        api_fail_db(c, err, "room");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, room_json(&list[i]));
    db_room_list_free(&list, n);
    api_ok(c, 200, json_pack("{s:o}", "rooms", arr));
}

/* GET /api/public/rooms (no token, for "/"): every public room with the display names of who
 * is in it and whether they speak, nothing else (no user names, ids, figures or owner). */
static json_t *public_members(struct api *api, const char *room)
{
    json_t *snap = snapshot(api, room), *arr = json_array(), *m;
    size_t i;
    json_array_foreach(json_object_get(snap, "members"), i, m)
    {
        const char *display = json_string_value(json_object_get(m, "display"));
        if (json_is_object(m))
            json_array_append_new(arr, json_pack("{s:s,s:b}", "display", display ? display : "",
                                                 "speaking",
                                                 json_is_true(json_object_get(m, "speaking"))));
    }
    json_decref(snap);
    return arr;
}

void api_rooms_public(struct api_call *c)
{
    struct db_room *list;
    size_t n;
    int err = db_room_list(c->api->db, "", &list, &n); /* no viewer: the public rooms only */
    if (err < 0) {
        api_fail_db(c, err, "room");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        if (list[i].is_public)
            json_array_append_new(arr, json_pack("{s:s,s:o}", "name", list[i].name, "members",
                                                 public_members(c->api, list[i].name)));
    db_room_list_free(&list, n);
    api_ok(c, 200, json_pack("{s:o}", "rooms", arr));
}

void api_rooms_create(struct api_call *c)
{
    const char *name = json_body_str(c->body, "name");
    if (!api_name_valid(name)) {
        api_fail(c, 400, "invalid_field", "field 'name' must match [a-z0-9_-]{1,64}");
        return;
    }
    struct db_room r = {.name = (char *)name,
                        .owner_id = c->user.id,
                        .is_public = json_is_true(json_object_get(c->body, "public"))};
    int err = db_room_create(c->api->db, &r);
    if (err < 0) {
        api_fail_db(c, err, "room");
        return;
    }
    r.owner_name = c->user.name;
    api_ok(c, 201, room_json(&r));
    log_info("api", name, "%s room created by '%s'", r.is_public ? "public" : "private",
             c->user.name);
    free(r.id);
}

void api_room_get(struct api_call *c)
{
    struct db_room r;
    if (!room_visible(c, &r))
        return;
    json_t *o = room_json(&r);
    json_object_set_new(o, "participants", participants(c->api, r.name));
    api_ok(c, 200, o);
    db_room_clear(&r);
}

void api_room_delete(struct api_call *c)
{
    struct db_room r;
    if (!room_moderated(c, &r))
        return;
    int err = db_room_delete(c->api->db, r.name);
    if (err < 0) {
        api_fail_db(c, err, "room");
    } else {
        if (c->api->room_ops)
            c->api->room_ops->close(c->api->room_ops_opaque, r.name);
        api_ok(c, 204, NULL);
        log_info("api", r.name, "room deleted by '%s'", c->user.name);
    }
    db_room_clear(&r);
}

/* The token's identity from the body: the caller, another user (owner/admin) or a guest
 * (owner/admin). False after answering. */
static bool token_identity(struct api_call *c, const struct db_room *r, struct room_token *t)
{
    const char *guest = json_body_str(c->body, "guest");
    const char *user = json_body_str(c->body, "user");
    const char *display = json_body_str(c->body, "display");
    bool self = !guest && (!user || !strcmp(user, c->user.name));
    if (guest && user) {
        api_fail(c, 400, "invalid_body", "give either 'guest' or 'user', not both");
        return false;
    }
    if (!self && !is_moderator(c, r)) {
        api_fail(c, 403, "forbidden",
                 "only the room's owner or an admin may mint tokens for others or guests");
        return false;
    }
    if (guest) {
        room_display_clean(guest, t->display);
        if (!t->display[0]) {
            api_fail(c, 400, "invalid_field", "field 'guest' must be a display name");
            return false;
        }
        return true;
    }
    struct db_user u = {0};
    int err = self ? 0 : api_name_valid(user) ? db_user_get(c->api->db, user, &u) : -ENOENT;
    if (err < 0) {
        api_fail_db(c, err, "user");
        return false;
    }
    const struct db_user *who = self ? &c->user : &u;
    snprintf(t->user, sizeof(t->user), "%s", who->name);
    snprintf(t->user_id, sizeof(t->user_id), "%s", who->id);
    room_display_clean(display, t->display);
    if (!t->display[0])
        snprintf(t->display, sizeof(t->display), "%s", who->name);
    db_user_clear(&u);
    return true;
}

void api_room_token(struct api_call *c)
{
    struct db_room r;
    if (!room_visible(c, &r))
        return;
    json_t *ttl_v = json_object_get(c->body, "ttl_s");
    json_int_t ttl = ttl_v ? json_integer_value(ttl_v) : TOKEN_TTL_DEFAULT_S;
    struct room_token t = {0};
    unsigned char key[ROOM_TOKEN_KEY_LEN];
    char tok[ROOM_TOKEN_MAX];
    int err;
    if (ttl < TOKEN_TTL_MIN_S || ttl > TOKEN_TTL_MAX_S) {
        api_fail(c, 400, "invalid_field", "field 'ttl_s' must be %d to %d seconds", TOKEN_TTL_MIN_S,
                 TOKEN_TTL_MAX_S);
    } else if (token_identity(c, &r, &t)) {
        snprintf(t.room, sizeof(t.room), "%s", r.name);
        t.may_speak = !json_is_false(json_object_get(c->body, "may_speak"));
        t.expires_at = clock_wall_us() / 1000000 + ttl;
        if ((err = api_room_key(c->api, key)) < 0)
            api_fail_db(c, err, "token key");
        else if (room_token_make(key, &t, tok, sizeof(tok)) < 0)
            api_fail(c, 500, "internal", "cannot make a join token");
        else
            api_ok(c, 201,
                   json_pack("{s:s,s:s,s:s?,s:s,s:b,s:o}", "token", tok, "room", t.room, "user",
                             t.user[0] ? t.user : NULL, "display", t.display, "may_speak",
                             t.may_speak, "expires_at", json_time(t.expires_at * 1000000)));
        memset(key, 0, sizeof(key));
    }
    db_room_clear(&r);
}

/* The checks kick and mute share: the room moderated by the caller, the SFU there, the member
 * in the room. False after answering. */
static bool moderation_target(struct api_call *c, struct db_room *r, const char **member)
{
    if (!room_moderated(c, r))
        return false;
    *member = router_param(&c->params, "participant");
    if (!c->api->room_ops)
        api_fail(c, 503, "unavailable", "voice rooms are not running on this server");
    else if (!member_present(c->api, r->name, *member))
        api_fail(c, 404, "not_found", "no such participant in this room");
    else
        return true;
    db_room_clear(r);
    return false;
}

void api_room_kick(struct api_call *c)
{
    struct db_room r;
    const char *member;
    if (!moderation_target(c, &r, &member))
        return;
    if (c->api->room_ops->kick(c->api->room_ops_opaque, r.name, member) < 0) {
        api_fail(c, 404, "not_found", "no such participant in this room");
    } else {
        api_ok(c, 204, NULL);
        log_info("api", r.name, "participant %s kicked by '%s'", member, c->user.name);
    }
    db_room_clear(&r);
}

void api_room_mute(struct api_call *c)
{
    struct db_room r;
    const char *member;
    if (!moderation_target(c, &r, &member))
        return;
    bool muted = json_is_true(json_object_get(c->body, "muted"));
    if (c->api->room_ops->mute(c->api->room_ops_opaque, r.name, member, muted) < 0) {
        api_fail(c, 404, "not_found", "no such participant in this room");
    } else {
        api_ok(c, 204, NULL);
        log_info("api", r.name, "participant %s %s by '%s'", member,
                 muted ? "server-muted" : "unmuted", c->user.name);
    }
    db_room_clear(&r);
}
