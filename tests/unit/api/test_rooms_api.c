/* /api/rooms in process on SQLite (issue 14), with a test double of the SFU's room ops: every
 * route as admin, owner, another user and without a token; visibility of private rooms; join
 * tokens (who may mint which, the token verifies for its room and says what was asked);
 * participants from the live snapshot; kick and mute reach the SFU, 404 for someone not there,
 * 503 without the ops; delete closes the live room; the public list without a token. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/internal.h"
#include "auth/room_token.h"
#include "core/clock.h"
#include "test.h"

#include "api_call.h"

static struct db *db;

/* ---- the SFU double ---- */
static char *live_json; /* what snapshot answers for room "lobby" */
static char last_call[128];
static int kicks, mutes, closes;

static char *fake_snapshot(void *opaque, const char *room)
{
    (void)opaque;
    return !strcmp(room, "lobby") && live_json ? strdup(live_json) : NULL;
}
static int fake_kick(void *opaque, const char *room, const char *id)
{
    (void)opaque;
    kicks++;
    snprintf(last_call, sizeof(last_call), "kick %s %s", room, id);
    return !strcmp(id, "gone") ? -ENOENT : 0;
}
static int fake_mute(void *opaque, const char *room, const char *id, bool muted)
{
    (void)opaque;
    mutes++;
    snprintf(last_call, sizeof(last_call), "mute %s %s %d", room, id, muted);
    return 0;
}
static void fake_close(void *opaque, const char *room)
{
    (void)opaque;
    closes++;
    snprintf(last_call, sizeof(last_call), "close %s", room);
}
static const struct api_room_ops fake_ops = {fake_snapshot, fake_kick, fake_mute, fake_close};

/* ---- requests ---- */
/* A user with a session; returns the session token (static storage per slot). */
static const char *make_user(const char *name, enum db_role role, char tok[SECRET_TEXT_MAX])
{
    struct db_user u = {.name = (char *)name, .password_hash = (char *)"x", .role = role};
    CHECK_EQ_INT(db_user_create(db, &u), 0);
    char hash[SECRET_HASH_LEN + 1];
    CHECK_EQ_INT(secret_new("tk_", tok, hash), 0);
    struct db_session s = {
        .token_hash = hash, .user_id = u.id, .expires_at = clock_wall_us() + 3600000000LL};
    CHECK_EQ_INT(db_session_create(db, &s), 0);
    free(u.id);
    return tok;
}

static char admin[SECRET_TEXT_MAX], owner[SECRET_TEXT_MAX], other[SECRET_TEXT_MAX];

static void create_and_list(void)
{
    struct api_response r;
    CHECK_EQ_INT(call("POST", "/api/rooms", owner, "{\"name\":\"lobby\",\"public\":true}", &r),
                 201);
    CHECK_STREQ(json_string_value(json_object_get(r.body, "owner")), "owner");
    CHECK(json_is_true(json_object_get(r.body, "public")));
    api_response_clear(&r);
    CHECK_EQ_INT(st("POST", "/api/rooms", owner, "{\"name\":\"backstage\"}"), 201);
    CHECK_EQ_INT(st("POST", "/api/rooms", other, "{\"name\":\"den\",\"public\":false}"), 201);
    /* taken, bad names, bad body, no token */
    CHECK_EQ_INT(call("POST", "/api/rooms", other, "{\"name\":\"lobby\"}", &r), 409);
    CHECK_STREQ(err_code(&r), "conflict");
    api_response_clear(&r);
    CHECK_EQ_INT(st("POST", "/api/rooms", other, "{\"name\":\"Big Room\"}"), 400);
    CHECK_EQ_INT(st("POST", "/api/rooms", other, "{\"name\":\"\"}"), 400);
    CHECK_EQ_INT(st("POST", "/api/rooms", other, "{\"name\":\"x\",\"public\":\"yes\"}"), 400);
    CHECK_EQ_INT(st("POST", "/api/rooms", other, "{\"name\":\"x\",\"extra\":1}"), 400);
    CHECK_EQ_INT(st("POST", "/api/rooms", NULL, "{\"name\":\"x\"}"), 401);

    const struct {
        const char *token, *want;
    } lists[] = {{admin, "backstage,den,lobby"}, {owner, "backstage,lobby"}, {other, "den,lobby"}};
    for (size_t i = 0; i < 3; i++) {
        CHECK_EQ_INT(call("GET", "/api/rooms", lists[i].token, NULL, &r), 200);
        char got[128] = "";
        json_t *x;
        size_t k;
        json_array_foreach(json_object_get(r.body, "rooms"), k, x)
        {
            if (k)
                strcat(got, ",");
            strcat(got, json_string_value(json_object_get(x, "name")));
        }
        CHECK_STREQ(got, lists[i].want);
        api_response_clear(&r);
    }
    CHECK_EQ_INT(st("GET", "/api/rooms", NULL, NULL), 401);
}

static void visibility(void)
{
    struct api_response r;
    /* a private room is a 404 to anyone but its owner and admins, exactly like a missing one */
    CHECK_EQ_INT(call("GET", "/api/rooms/backstage", other, NULL, &r), 404);
    CHECK_STREQ(err_code(&r), "not_found");
    api_response_clear(&r);
    CHECK_EQ_INT(st("GET", "/api/rooms/nowhere", other, NULL), 404);
    CHECK_EQ_INT(st("GET", "/api/rooms/backstage", owner, NULL), 200);
    CHECK_EQ_INT(st("GET", "/api/rooms/backstage", admin, NULL), 200);
    CHECK_EQ_INT(st("GET", "/api/rooms/lobby", other, NULL), 200);
    CHECK_EQ_INT(st("GET", "/api/rooms/lobby", NULL, NULL), 401);
    /* the public room's moderation is not another user's */
    CHECK_EQ_INT(call("DELETE", "/api/rooms/lobby", other, NULL, &r), 403);
    CHECK_STREQ(err_code(&r), "forbidden");
    api_response_clear(&r);
    CHECK_EQ_INT(st("DELETE", "/api/rooms/backstage", other, NULL), 404);
    CHECK_EQ_INT(st("POST", "/api/rooms/lobby/participants/p1/kick", other, NULL), 403);
    CHECK_EQ_INT(st("POST", "/api/rooms/lobby/participants/p1/mute", other, "{\"muted\":true}"),
                 403);
}

/* A minted token, verified with the key the api keeps in the database. */
static int mint(const char *room, const char *token, const char *body, struct room_token *t)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/rooms/%s/token", room);
    struct api_response r;
    int status = (int)call("POST", path, token, body, &r);
    if (status == 201) {
        unsigned char key[ROOM_TOKEN_KEY_LEN];
        CHECK_EQ_INT(room_token_key_load(db, key), 0);
        const char *tok = json_string_value(json_object_get(r.body, "token"));
        CHECK_EQ_INT(room_token_verify(key, tok, room, clock_wall_us() / 1000000, t), 0);
        CHECK_STREQ(json_string_value(json_object_get(r.body, "display")), t->display);
        CHECK_EQ_INT(json_is_true(json_object_get(r.body, "may_speak")), t->may_speak);
        const char *user = json_string_value(json_object_get(r.body, "user"));
        CHECK_STREQ(user ? user : "", t->user);
    } else {
        memset(t, 0, sizeof(*t));
        snprintf(t->display, sizeof(t->display), "%s", err_code(&r) ? err_code(&r) : "");
    }
    api_response_clear(&r);
    return status;
}

static void tokens(void)
{
    struct room_token t;
    int64_t now = clock_wall_us() / 1000000;
    /* anyone logged in, for themselves, in a public room */
    CHECK_EQ_INT(mint("lobby", other, NULL, &t), 201);
    CHECK_STREQ(t.user, "other");
    CHECK_STREQ(t.display, "other");
    CHECK(t.may_speak);
    CHECK(t.expires_at >= now + 590 && t.expires_at <= now + 610);
    CHECK_EQ_INT(mint("lobby", other,
                      "{\"display\":\" Otto\\n\",\"may_speak\":false,"
                      "\"ttl_s\":60}",
                      &t),
                 201);
    CHECK_STREQ(t.display, "Otto");
    CHECK(!t.may_speak);
    CHECK(t.expires_at <= now + 61);
    CHECK_EQ_INT(mint("lobby", other, "{\"user\":\"other\"}", &t), 201);
    /* but not for a guest or someone else */
    CHECK_EQ_INT(mint("lobby", other, "{\"guest\":\"Eve\"}", &t), 403);
    CHECK_EQ_INT(mint("lobby", other, "{\"user\":\"owner\"}", &t), 403);
    /* a private room is not there for them */
    CHECK_EQ_INT(mint("backstage", other, NULL, &t), 404);
    /* owners and admins mint for anyone */
    CHECK_EQ_INT(mint("backstage", owner, "{\"guest\":\"Visitor\",\"may_speak\":false}", &t), 201);
    CHECK_STREQ(t.user, "");
    CHECK_STREQ(t.user_id, "");
    CHECK_STREQ(t.display, "Visitor");
    CHECK(!t.may_speak);
    CHECK_EQ_INT(mint("backstage", owner, "{\"user\":\"other\",\"display\":\"O.\"}", &t), 201);
    CHECK_STREQ(t.user, "other");
    CHECK(strlen(t.user_id) == 32);
    CHECK_STREQ(t.display, "O.");
    CHECK_EQ_INT(mint("den", admin, "{\"guest\":\"Inspector\"}", &t), 201);
    CHECK_STREQ(t.room, "den");
    /* bad bodies */
    CHECK_EQ_INT(mint("lobby", owner, "{\"guest\":\"a\",\"user\":\"owner\"}", &t), 400);
    CHECK_STREQ(t.display, "invalid_body");
    CHECK_EQ_INT(mint("lobby", owner, "{\"guest\":\"  \"}", &t), 400);
    CHECK_EQ_INT(mint("lobby", owner, "{\"ttl_s\":5}", &t), 400);
    CHECK_EQ_INT(mint("lobby", owner, "{\"ttl_s\":86401}", &t), 400);
    CHECK_EQ_INT(mint("lobby", owner, "{\"ttl_s\":\"60\"}", &t), 400);
    CHECK_EQ_INT(mint("lobby", owner, "{\"may_speak\":1}", &t), 400);
    CHECK_EQ_INT(mint("lobby", owner, "{\"user\":\"nobody\"}", &t), 404);
    CHECK_EQ_INT(mint("nowhere", owner, NULL, &t), 404);
    CHECK_EQ_INT(mint("lobby", NULL, NULL, &t), 401);
}

static void live_state(void)
{
    struct api_response r;
    /* no ops: no participants, kick and mute 503 */
    api_set_room_ops(api, NULL, NULL);
    CHECK_EQ_INT(call("GET", "/api/rooms/lobby", owner, NULL, &r), 200);
    CHECK_EQ_INT(json_array_size(json_object_get(r.body, "participants")), 0);
    api_response_clear(&r);
    CHECK_EQ_INT(call("POST", "/api/rooms/lobby/participants/p1/kick", owner, NULL, &r), 503);
    CHECK_STREQ(err_code(&r), "unavailable");
    api_response_clear(&r);
    CHECK_EQ_INT(st("POST", "/api/rooms/lobby/participants/p1/mute", owner, "{\"muted\":true}"),
                 503);

    api_set_room_ops(api, &fake_ops, NULL);
    live_json = "{\"members\":[{\"id\":\"p1\",\"user\":\"other\",\"display\":\"Otto\","
                "\"speaking\":true,\"muted\":false,\"joined_at\":1767225600000000,"
                "\"packets_in\":500,\"packets_forwarded\":4500,\"packets_lost\":3,"
                "\"jitter_ms\":2.5,\"rtt_ms\":18,\"slots_in_use\":2},"
                "{\"id\":\"p2\",\"user\":\"\",\"display\":\"Visitor\",\"speaking\":false,"
                "\"muted\":true,\"joined_at\":\"2026-01-01T00:00:01Z\"}]}";
    CHECK_EQ_INT(call("GET", "/api/rooms/lobby", other, NULL, &r), 200);
    json_t *ps = json_object_get(r.body, "participants");
    CHECK_EQ_INT(json_array_size(ps), 2);
    json_t *p1 = json_array_get(ps, 0), *p2 = json_array_get(ps, 1);
    CHECK_STREQ(json_string_value(json_object_get(p1, "id")), "p1");
    CHECK_STREQ(json_string_value(json_object_get(p1, "user")), "other");
    CHECK(json_is_true(json_object_get(p1, "speaking")));
    CHECK_STREQ(json_string_value(json_object_get(p1, "joined_at")), "2026-01-01T00:00:00.000Z");
    CHECK_EQ_INT(json_integer_value(json_object_get(p1, "packets_forwarded")), 4500);
    CHECK_EQ_INT(json_integer_value(json_object_get(p1, "packets_lost")), 3);
    CHECK(json_real_value(json_object_get(p1, "jitter_ms")) == 2.5);
    CHECK(json_real_value(json_object_get(p1, "rtt_ms")) == 18);
    CHECK(json_is_null(json_object_get(p2, "user"))); /* a guest */
    CHECK(json_is_true(json_object_get(p2, "muted")));
    CHECK(json_is_null(json_object_get(p2, "rtt_ms")));
    CHECK_EQ_INT(json_integer_value(json_object_get(p2, "packets_in")), 0);
    CHECK_EQ_INT(json_object_size(p2), 12);
    api_response_clear(&r);

    /* the public list (no token): public rooms only, members' display names and speaking,
     * nothing else */
    CHECK_EQ_INT(call("GET", "/api/public/rooms", NULL, NULL, &r), 200);
    json_t *rooms = json_object_get(r.body, "rooms");
    CHECK_EQ_INT(json_array_size(rooms), 1); /* lobby; not backstage nor den (private) */
    json_t *lobby = json_array_get(rooms, 0);
    CHECK_STREQ(json_string_value(json_object_get(lobby, "name")), "lobby");
    CHECK_EQ_INT(json_object_size(lobby), 2);
    json_t *ms = json_object_get(lobby, "members");
    CHECK_EQ_INT(json_array_size(ms), 2);
    CHECK_STREQ(json_string_value(json_object_get(json_array_get(ms, 0), "display")), "Otto");
    CHECK(json_is_true(json_object_get(json_array_get(ms, 0), "speaking")));
    CHECK_STREQ(json_string_value(json_object_get(json_array_get(ms, 1), "display")), "Visitor");
    CHECK(json_is_false(json_object_get(json_array_get(ms, 1), "speaking")));
    CHECK_EQ_INT(json_object_size(json_array_get(ms, 0)), 2); /* no id, user or figures */
    api_response_clear(&r);
    CHECK_EQ_INT(st("GET", "/api/public/rooms", admin, NULL), 200); /* a token changes nothing */

    /* kick and mute reach the SFU, for someone in the room */
    CHECK_EQ_INT(st("POST", "/api/rooms/lobby/participants/p1/kick", owner, NULL), 204);
    CHECK_STREQ(last_call, "kick lobby p1");
    CHECK_EQ_INT(st("POST", "/api/rooms/lobby/participants/p2/mute", admin, "{\"muted\":true}"),
                 204);
    CHECK_STREQ(last_call, "mute lobby p2 1");
    CHECK_EQ_INT(st("POST", "/api/rooms/lobby/participants/p2/mute", owner, "{\"muted\":false}"),
                 204);
    CHECK_STREQ(last_call, "mute lobby p2 0");
    int k = kicks, m = mutes;
    CHECK_EQ_INT(st("POST", "/api/rooms/lobby/participants/p9/kick", owner, NULL), 404);
    CHECK_EQ_INT(st("POST", "/api/rooms/lobby/participants/p9/mute", owner, "{\"muted\":true}"),
                 404);
    CHECK_EQ_INT(st("POST", "/api/rooms/lobby/participants/p1/mute", owner, "{}"), 400);
    CHECK_EQ_INT(st("POST", "/api/rooms/lobby/participants/p1/kick", other, NULL), 403);
    CHECK_EQ_INT(st("POST", "/api/rooms/backstage/participants/p1/kick", other, NULL), 404);
    CHECK_EQ_INT(kicks, k);
    CHECK_EQ_INT(mutes, m);
    /* the SFU says the member left in between */
    live_json = "{\"members\":[{\"id\":\"gone\"}]}";
    CHECK_EQ_INT(st("POST", "/api/rooms/lobby/participants/gone/kick", owner, NULL), 404);
    /* junk from the SFU is no participant */
    live_json = "not json";
    CHECK_EQ_INT(call("GET", "/api/rooms/lobby", owner, NULL, &r), 200);
    CHECK_EQ_INT(json_array_size(json_object_get(r.body, "participants")), 0);
    api_response_clear(&r);
    live_json = NULL;
}

static void deletes(void)
{
    int c = closes;
    CHECK_EQ_INT(st("DELETE", "/api/rooms/lobby", owner, NULL), 204);
    CHECK_EQ_INT(closes, c + 1);
    CHECK_STREQ(last_call, "close lobby");
    CHECK_EQ_INT(st("DELETE", "/api/rooms/lobby", owner, NULL), 404);
    CHECK_EQ_INT(st("DELETE", "/api/rooms/den", admin, NULL), 204);
    CHECK_EQ_INT(st("GET", "/api/rooms/den", admin, NULL), 404);
    CHECK_EQ_INT(st("DELETE", "/api/rooms/backstage", NULL, NULL), 401);
    /* the name is free again */
    CHECK_EQ_INT(st("POST", "/api/rooms", other, "{\"name\":\"lobby\"}"), 201);
}

int main(void)
{
    char dir[] = "/tmp/kibitka-rooms-XXXXXX", url[128], path[128];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(url, sizeof(url), "sqlite:%s/k.db", dir);
    CHECK_EQ_INT(db_open(url, &db), 0);
    api = api_create(db, NULL, NULL, NULL, NULL, NULL, 0);
    make_user("admin", DB_ROLE_ADMIN, admin);
    make_user("owner", DB_ROLE_USER, owner);
    make_user("other", DB_ROLE_USER, other);
    create_and_list();
    visibility();
    tokens();
    live_state();
    deletes();
    api_destroy(&api);
    db_close(&db);
    const char *suffix[] = {"", "-wal", "-shm", "-reserve"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/k.db%s", dir, suffix[i]);
        unlink(path);
    }
    rmdir(dir);
    return test_report("test_rooms_api");
}
