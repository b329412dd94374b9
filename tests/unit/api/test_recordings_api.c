/* The /api/recordings routes in process, on SQLite and a file: store: who sees what (404 for
 * another user's), the list's filters, pages and 400s, the chunk (file body, Range), the
 * playlist, signed URLs (no token; tampered or moved to another path: 403 link_invalid; expired:
 * 403 link_expired; a token still opens the path), public recordings (PATCH, the stream's last
 * public one without a token), delete
 * (409 while recording, objects then rows). tests/e2e/recordings_api.test.mjs does it over
 * HTTP with real recordings. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/internal.h"
#include "auth/password.h"
#include "core/clock.h"
#include "recorder/upload.h"
#include "test.h"
#include "api_call.h"

static struct db *db;
static struct storage *store;
static char dir[64], spool_dir[96];
static const char *qs[16]; /* name, value, ... for the next requests */

static const char *arg(void *ctx, const char *name)
{
    (void)ctx;
    for (int i = 0; i + 1 < 16 && qs[i]; i += 2)
        if (!strcmp(qs[i], name))
            return qs[i + 1];
    return NULL;
}

/* What server/main.c wires: a deleted recording's leftovers leave the spool. */
static void forget_recording(void *spool, const char *id)
{
    upload_spool_forget(spool, id);
}

/* Creates a user; returns its id (the caller frees). */
static char *user(const char *name, enum db_role role)
{
    char hash[PASSWORD_HASH_MAX];
    CHECK_EQ_INT(password_hash("password1", hash), 0);
    struct db_user u = {.name = (char *)name, .password_hash = hash, .role = role};
    CHECK_EQ_INT(db_user_create(db, &u), 0);
    return u.id;
}

/* A fake chunk: ftyp (24) + moov (100) + moof (8) + mdat (n - 132). */
static void put_chunk(const char *key, int n)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/src.mp4", dir);
    unsigned char *b = calloc(1, (size_t)n);
    const struct {
        const char *type;
        int size;
    } boxes[] = {{"ftyp", 24}, {"moov", 100}, {"moof", 8}, {"mdat", n - 132}};
    for (int i = 0, pos = 0; i < 4; pos += boxes[i++].size) {
        b[pos + 2] = (unsigned char)(boxes[i].size >> 8), b[pos + 3] = (unsigned char)boxes[i].size;
        memcpy(b + pos + 4, boxes[i].type, 4);
    }
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, (size_t)n, f);
    fclose(f);
    free(b);
    char err[256];
    CHECK_EQ_INT(storage_put_file(store, key, path, err, sizeof(err)), 0);
    unlink(path);
}

static void recording(const char *id, const char *uid, const char *uname, int64_t start,
                      enum db_recording_state state, int nchunks, enum db_chunk_state cstate)
{
    struct db_recording r = {.id = (char *)id,
                             .stream_name = "cam",
                             .user_id = (char *)uid,
                             .user_name = (char *)uname,
                             .started_at = start,
                             .state = state};
    CHECK_EQ_INT(db_recording_create(db, &r), 0);
    for (int s = 1; s <= nchunks; s++) {
        char key[128];
        snprintf(key, sizeof(key), "%s/cam/2026-01-01/%s/%06d.mp4", uname, id, s);
        if (cstate == DB_CHUNK_UPLOADED)
            put_chunk(key, 1000 + s);
        struct db_chunk c = {(char *)id, s, key, 1000 + s, 2000000, cstate, start, start + 2, 0, 0};
        CHECK_EQ_INT(db_chunk_create(db, &c), 0);
    }
}

/* The value of name in a URL's query, copied into out. */
static const char *query_value(const char *url, const char *name, char *out, size_t n)
{
    const char *p = strstr(url, name);
    size_t len = p ? strcspn(p + strlen(name) + 1, "&") : 0;
    snprintf(out, n, "%.*s", (int)len, p ? p + strlen(name) + 1 : "");
    return out;
}

#define A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define O "00000000000000000000000000000000"

static void test_list(const char *ann, const char *eve, const char *root)
{
    struct api_response r;
    CHECK_EQ_INT(call("GET", "/api/recordings", ann, NULL, &r), 200);
    CHECK_EQ_INT(json_integer_value(json_object_get(r.body, "total")), 2);
    json_t *list = json_object_get(r.body, "recordings");
    CHECK_STREQ(json_string_value(json_object_get(json_array_get(list, 0), "id")), B); /* newest */
    CHECK_STREQ(json_string_value(json_object_get(json_array_get(list, 1), "state")), "ready");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(list, 1), "bytes")), 2003);
    api_response_clear(&r);
    qs[0] = "limit", qs[1] = "1";
    CHECK_EQ_INT(call("GET", "/api/recordings", ann, NULL, &r), 200);
    CHECK_EQ_INT(json_array_size(json_object_get(r.body, "recordings")), 1);
    CHECK_EQ_INT(json_integer_value(json_object_get(r.body, "next_offset")), 1);
    api_response_clear(&r);
    qs[2] = "offset", qs[3] = "1";
    CHECK_EQ_INT(call("GET", "/api/recordings", ann, NULL, &r), 200);
    CHECK_STREQ(json_string_value(json_object_get(
                    json_array_get(json_object_get(r.body, "recordings"), 0), "id")),
                A);
    CHECK(json_is_null(json_object_get(r.body, "next_offset")));
    api_response_clear(&r);
    /* from/to: A started at 2026-01-01T00:00:00Z, B an hour later */
    qs[0] = "from", qs[1] = "2026-01-01T00:30:00Z", qs[2] = "to", qs[3] = "1767236400";
    CHECK_EQ_INT(call("GET", "/api/recordings", ann, NULL, &r), 200);
    CHECK_EQ_INT(json_integer_value(json_object_get(r.body, "total")), 1);
    api_response_clear(&r);
    const char *bad[][2] = {{"from", "yesterday"}, {"to", "2026-02-30T00:00:00Z"},
                            {"limit", "0"},        {"limit", "501"},
                            {"offset", "-1"},      {"stream", "Cam'; DROP TABLE recordings;--"},
                            {"user", "../x"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        qs[0] = bad[i][0], qs[1] = bad[i][1], qs[2] = NULL;
        CHECK_EQ_INT(call("GET", "/api/recordings", ann, NULL, &r), 400);
        CHECK_STREQ(err_code(&r), "invalid_parameter");
        const char *msg =
            json_string_value(json_object_get(json_object_get(r.body, "error"), "message"));
        char quoted[32];
        snprintf(quoted, sizeof(quoted), "'%s'", bad[i][0]);
        CHECK(msg && strstr(msg, quoted));
        api_response_clear(&r);
    }
    qs[0] = "user", qs[1] = "root";
    CHECK_EQ_INT(st("GET", "/api/recordings", ann, NULL), 403);
    CHECK_EQ_INT(call("GET", "/api/recordings", eve, NULL, &r), 403);
    api_response_clear(&r);
    qs[0] = NULL;
    CHECK_EQ_INT(call("GET", "/api/recordings", eve, NULL, &r), 200);
    CHECK_EQ_INT(json_integer_value(json_object_get(r.body, "total")), 0);
    api_response_clear(&r);
    CHECK_EQ_INT(call("GET", "/api/recordings", root, NULL, &r), 200);
    CHECK_EQ_INT(json_integer_value(json_object_get(r.body, "total")), 3);
    api_response_clear(&r);
    qs[0] = "user", qs[1] = "_open";
    CHECK_EQ_INT(call("GET", "/api/recordings", root, NULL, &r), 200);
    CHECK_EQ_INT(json_integer_value(json_object_get(r.body, "total")), 1);
    api_response_clear(&r);
    qs[0] = "stream", qs[1] = "nope";
    CHECK_EQ_INT(call("GET", "/api/recordings", root, NULL, &r), 200);
    CHECK_EQ_INT(json_integer_value(json_object_get(r.body, "total")), 0);
    api_response_clear(&r);
    qs[0] = NULL;
}

static void test_media(const char *ann, const char *eve)
{
    struct api_response r;
    CHECK_EQ_INT(st("GET", "/api/recordings/" A, eve, NULL), 404); /* exactly like a missing one */
    CHECK_EQ_INT(st("GET", "/api/recordings/" O, ann, NULL), 404); /* _open: admins only */
    CHECK_EQ_INT(st("GET", "/api/recordings/nothex", ann, NULL), 404);
    CHECK_EQ_INT(st("GET", "/api/recordings/" A "/chunks/1", eve, NULL), 404);
    CHECK_EQ_INT(st("GET", "/api/recordings/" A "/chunks/1", NULL, NULL), 401);
    CHECK_EQ_INT(call("GET", "/api/recordings/" A, ann, NULL, &r), 200);
    json_t *chunks = json_object_get(r.body, "chunk_list");
    CHECK_EQ_INT(json_array_size(chunks), 2);
    CHECK_STREQ(json_string_value(json_object_get(json_array_get(chunks, 0), "state")), "uploaded");
    char purl[256], curl_[256];
    snprintf(purl, sizeof(purl), "%s", json_string_value(json_object_get(r.body, "playlist_url")));
    snprintf(curl_, sizeof(curl_), "%s",
             json_string_value(json_object_get(json_array_get(chunks, 0), "url")));
    api_response_clear(&r);

    /* the chunk: the file, whole or a range */
    CHECK_EQ_INT(call("GET", "/api/recordings/" A "/chunks/1", ann, NULL, &r), 200);
    CHECK(r.has_file && r.file_len == 1001 && r.file_offset == 0);
    CHECK_STREQ(r.content_type, "video/mp4");
    api_response_clear(&r);
    call_range = "bytes=124-";
    CHECK_EQ_INT(call("GET", "/api/recordings/" A "/chunks/1", ann, NULL, &r), 206);
    CHECK(r.partial && r.file_offset == 124 && r.file_len == 877 && r.file_size == 1001);
    api_response_clear(&r);
    call_range = "bytes=5000-";
    CHECK_EQ_INT(st("GET", "/api/recordings/" A "/chunks/1", ann, NULL), 416);
    call_range = NULL;
    CHECK_EQ_INT(st("GET", "/api/recordings/" A "/chunks/3", ann, NULL), 404);
    CHECK_EQ_INT(st("GET", "/api/recordings/" A "/chunks/0", ann, NULL), 404);
    CHECK_EQ_INT(st("GET", "/api/recordings/" A "/chunks/x1", ann, NULL), 404);
    CHECK_EQ_INT(call("GET", "/api/recordings/" B "/chunks/1", ann, NULL, &r), 404);
    CHECK_STREQ(err_code(&r), "not_uploaded");
    api_response_clear(&r);

    /* the playlist, with the token, then by its signed URL alone */
    CHECK_EQ_INT(call("GET", "/api/recordings/" A "/index.m3u8", ann, NULL, &r), 200);
    CHECK(r.text && strstr(r.text, "#EXT-X-MAP:URI=\"chunks/1.mp4?expires=") &&
          strstr(r.text, "BYTERANGE=\"124@0\"") && strstr(r.text, "#EXT-X-BYTERANGE:878@124") &&
          strstr(r.text, "#EXT-X-ENDLIST"));
    api_response_clear(&r);
    char e[32], sig[80];
    qs[0] = "expires", qs[1] = query_value(purl, "expires", e, sizeof(e));
    qs[2] = "sig", qs[3] = query_value(purl, "sig", sig, sizeof(sig));
    CHECK_EQ_INT(st("GET", "/api/recordings/" A "/index.m3u8", NULL, NULL), 200);
    CHECK_EQ_INT(st("GET", "/api/recordings/" A, NULL, NULL), 401); /* JSON: token only */
    CHECK_EQ_INT(call("GET", "/api/recordings/" A "/chunks/1", NULL, NULL, &r), 403); /* another path */
    CHECK_STREQ(err_code(&r), "link_invalid");
    CHECK(!r.www_authenticate); /* a player cannot send a token: do not ask for one */
    api_response_clear(&r);
    sig[0] = sig[0] == '0' ? '1' : '0';
    CHECK_EQ_INT(call("GET", "/api/recordings/" A "/index.m3u8", NULL, NULL, &r), 403);
    CHECK_STREQ(err_code(&r), "link_invalid");
    api_response_clear(&r);
    CHECK_EQ_INT(st("GET", "/api/recordings/" A "/index.m3u8", ann, NULL), 200); /* the token decides */
    qs[1] = query_value(curl_, "expires", e, sizeof(e));
    qs[3] = query_value(curl_, "sig", sig, sizeof(sig));
    CHECK_EQ_INT(st("GET", "/api/recordings/" A "/chunks/1.mp4", NULL, NULL), 200);
    CHECK_EQ_INT(st("GET", "/api/recordings/" A "/chunks/1", NULL, NULL), 403); /* not what was signed */
    CHECK_EQ_INT(st("GET", "/api/recordings/" A "/chunks/1.mp4", ann, NULL), 200);
    qs[1] = "1000"; /* expired, but not what was signed: not valid */
    CHECK_EQ_INT(call("GET", "/api/recordings/" A "/chunks/1.mp4", NULL, NULL, &r), 403);
    CHECK_STREQ(err_code(&r), "link_invalid");
    api_response_clear(&r);
    /* Links outlive a recording by its duration, but never by more than its wall-clock span:
     * a 37 s recording whose duration came from jumping timestamps (2147488.6 s, issue 11 item
     * 5) gets links of --link-lifetime + 37 s, not 25 days; a live one, up to now. */
    int64_t now_s = clock_wall_us() / 1000000;
    struct db_recording bogus = {.started_at = (now_s - 37) * 1000000,
                                 .ended_at = now_s * 1000000,
                                 .duration_us = 2147488600000LL};
    int64_t exp = api_url_expiry(api, &bogus) - now_s - API_LINK_LIFETIME_S;
    CHECK(exp >= 36 && exp <= 38);
    bogus.duration_us = 20000000; /* an honest duration under the span is used as it is */
    exp = api_url_expiry(api, &bogus) - now_s - API_LINK_LIFETIME_S;
    CHECK(exp >= 19 && exp <= 21);
    bogus = (struct db_recording){.started_at = (now_s - 100) * 1000000, .duration_us = INT64_MAX};
    exp = api_url_expiry(api, &bogus) - now_s - API_LINK_LIFETIME_S;
    CHECK(exp >= 99 && exp <= 101);
    /* a link this server signed, expired a second ago */
    char q[API_URL_QUERY_MAX];
    api_url_query(api, "/api/recordings/" A "/chunks/1.mp4",
                  api_url_expiry(api, NULL) - API_LINK_LIFETIME_S - 1, q);
    qs[1] = query_value(q, "expires", e, sizeof(e));
    qs[3] = query_value(q, "sig", sig, sizeof(sig));
    CHECK_EQ_INT(call("GET", "/api/recordings/" A "/chunks/1.mp4", NULL, NULL, &r), 403);
    CHECK_STREQ(err_code(&r), "link_expired");
    CHECK_STREQ(json_string_value(json_object_get(json_object_get(r.body, "error"), "message")),
                "this link has expired");
    api_response_clear(&r);
    CHECK_EQ_INT(st("GET", "/api/recordings/" A "/chunks/1.mp4", ann, NULL), 200);
    qs[2] = NULL; /* expires alone: not a valid link */
    CHECK_EQ_INT(st("GET", "/api/recordings/" A "/chunks/1.mp4", NULL, NULL), 403);
    qs[0] = NULL;
}

/* Public recordings: PATCH {"public"} by the owner or an admin; the stream's last public ready
 * one for anyone, with a signed playlist URL that plays without a token; never a private one. */
static void test_public(const char *ann, const char *eve, const char *root)
{
    struct api_response r;
    CHECK_EQ_INT(call("GET", "/api/streams/cam/recording", NULL, NULL, &r), 404); /* none public */
    CHECK_STREQ(err_code(&r), "not_found");
    api_response_clear(&r);
    CHECK_EQ_INT(call("GET", "/api/recordings/" A, ann, NULL, &r), 200);
    CHECK(json_is_false(json_object_get(r.body, "public")));
    api_response_clear(&r);
    const char *on = "{\"public\":true}";
    CHECK_EQ_INT(st("PATCH", "/api/recordings/" A, eve, on), 404); /* not hers */
    CHECK_EQ_INT(st("PATCH", "/api/recordings/" A, NULL, on), 401);
    CHECK_EQ_INT(st("PATCH", "/api/recordings/" A, ann, "{}"), 400);
    CHECK_EQ_INT(st("PATCH", "/api/recordings/" A, ann, "{\"public\":\"yes\"}"), 400);
    CHECK_EQ_INT(st("PATCH", "/api/recordings/" O, ann, on), 404); /* _open: admins */
    CHECK_EQ_INT(call("GET", "/api/streams/cam/recording", NULL, NULL, &r), 404); /* still none */
    api_response_clear(&r);
    CHECK_EQ_INT(call("PATCH", "/api/recordings/" A, ann, on, &r), 200);
    CHECK(json_is_true(json_object_get(r.body, "public")));
    CHECK_STREQ(json_string_value(json_object_get(r.body, "id")), A);
    api_response_clear(&r);
    /* B (newer, still recording) public too: not ready, so A is offered */
    CHECK_EQ_INT(st("PATCH", "/api/recordings/" B, root, on), 200);
    CHECK_EQ_INT(call("GET", "/api/streams/cam/recording", NULL, NULL, &r), 200);
    CHECK_STREQ(json_string_value(json_object_get(r.body, "stream")), "cam");
    CHECK_EQ_INT(json_object_size(r.body), 5); /* no id, owner or chunk keys */
    char purl[256], e[32], sig[80];
    snprintf(purl, sizeof(purl), "%s", json_string_value(json_object_get(r.body, "playlist_url")));
    api_response_clear(&r);
#define PLAYLIST_A "/api/recordings/" A "/index.m3u8?expires="
    CHECK(!strncmp(purl, PLAYLIST_A, sizeof(PLAYLIST_A) - 1));
    qs[0] = "expires", qs[1] = query_value(purl, "expires", e, sizeof(e));
    qs[2] = "sig", qs[3] = query_value(purl, "sig", sig, sizeof(sig));
    CHECK_EQ_INT(call("GET", "/api/recordings/" A "/index.m3u8", NULL, NULL, &r), 200);
    CHECK(r.text && strstr(r.text, "#EXT-X-ENDLIST"));
    api_response_clear(&r);
    qs[0] = NULL;
    /* private again: nothing offered; the playlist needs a token or a link */
    CHECK_EQ_INT(st("PATCH", "/api/recordings/" A, root, "{\"public\":false}"), 200);
    CHECK_EQ_INT(st("GET", "/api/streams/cam/recording", NULL, NULL), 404);
    CHECK_EQ_INT(st("GET", "/api/recordings/" A "/index.m3u8", NULL, NULL), 401);
    CHECK_EQ_INT(st("GET", "/api/streams/Bad!/recording", NULL, NULL), 404);
    CHECK_EQ_INT(st("GET", "/api/streams/nothing/recording", NULL, NULL), 404);
    CHECK_EQ_INT(st("PATCH", "/api/recordings/" B, root, "{\"public\":false}"), 200);
}

static void test_delete(const char *ann, const char *eve, const char *root)
{
    CHECK_EQ_INT(st("DELETE", "/api/recordings/" B, ann, NULL), 409); /* still recording */
    CHECK_EQ_INT(st("DELETE", "/api/recordings/" A, eve, NULL), 404);
    char path[256];
    snprintf(path, sizeof(path), "%s/store/ann/cam/2026-01-01/" A "/000001.mp4", dir);
    CHECK(access(path, F_OK) == 0);
    /* a chunk that failed for good left its spool file: the delete takes it too, else the next
     * start would recover the recording */
    char spool[256], cmd[1024];
    snprintf(spool, sizeof(spool), "%s/spool/" A, dir);
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %s && echo x > %s/000003.mp4 && echo {} > %s/recording.json", spool, spool,
             spool);
    CHECK_EQ_INT(system(cmd), 0);
    CHECK_EQ_INT(st("DELETE", "/api/recordings/" A, ann, NULL), 204);
    CHECK(access(path, F_OK) != 0);
    CHECK(access(spool, F_OK) != 0);
    CHECK_EQ_INT(st("GET", "/api/recordings/" A, ann, NULL), 404);
    CHECK_EQ_INT(st("DELETE", "/api/recordings/" O, root, NULL), 409); /* finished: uploads pending */
    db_recording_set_state(db, O, DB_REC_READY);
    CHECK_EQ_INT(st("DELETE", "/api/recordings/" O, root, NULL), 409); /* a chunk is still pending */
}

static char *login(const char *name)
{
    char body[128];
    snprintf(body, sizeof(body), "{\"username\":\"%s\",\"password\":\"password1\"}", name);
    struct api_request req = {"POST", "/api/auth/login", NULL, "10.0.0.2", arg, NULL,
                              body,   strlen(body),      NULL, NULL,       NULL, NULL, NULL, NULL};
    struct api_response r;
    api_handle(api, &req, &r);
    const char *t = json_string_value(json_object_get(r.body, "token"));
    char *tok = strdup(t ? t : "");
    api_response_clear(&r);
    return tok;
}

int main(void)
{
    CHECK_EQ_INT(password_init(), 0);
    snprintf(dir, sizeof(dir), "/tmp/kibitka-api-rec-%d", (int)getpid());
    char url[128], cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir -p %s", dir, dir);
    CHECK_EQ_INT(system(cmd), 0);
    snprintf(url, sizeof(url), "sqlite:%s/k.db", dir);
    CHECK_EQ_INT(db_open(url, &db), 0);
    snprintf(url, sizeof(url), "file:%s/store", dir);
    char err[256];
    CHECK_EQ_INT(storage_open(url, &store, err, sizeof(err)), 0);
    snprintf(spool_dir, sizeof(spool_dir), "%s/spool", dir);
    api = api_create(db, NULL, NULL, store, forget_recording, spool_dir, 0);
    call_arg = arg;
    char *ann_id = user("ann", DB_ROLE_USER), *eve_id = user("eve", DB_ROLE_USER);
    char *root_id = user("root", DB_ROLE_ADMIN);
    char *ann = login("ann"), *eve = login("eve"), *root = login("root");
    recording(A, ann_id, "ann", 1767225600000000LL, DB_REC_READY, 2, DB_CHUNK_UPLOADED);
    recording(B, ann_id, "ann", 1767229200000000LL, DB_REC_RECORDING, 1, DB_CHUNK_RECORDING);
    recording(O, NULL, "_open", 1767225000000000LL, DB_REC_FINISHED, 1, DB_CHUNK_PENDING);
    test_list(ann, eve, root);
    test_media(ann, eve);
    test_public(ann, eve, root);
    test_delete(ann, eve, root);
    free(ann), free(eve), free(root), free(ann_id), free(eve_id), free(root_id);
    api_destroy(&api);
    storage_close(&store);
    db_close(&db);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK_EQ_INT(system(cmd), 0);
    return test_report("test_recordings_api");
}
