/* The /api handlers in process, on a SQLite file: every route, every error of the issue, and the
 * OpenAPI document against the route table. (tests/e2e/api.test.mjs does the same over HTTP on
 * both databases.) */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/internal.h"
#include "auth/password.h"
#include "core/clock.h"
#include "events/webhook.h"
#include "recorder/upload.h"
#include "test.h"

#include "api_call.h"

static struct db *db;
static const char *query_user;

static const char *arg(void *ctx, const char *name)
{
    return !strcmp(name, "user") ? query_user : NULL;
}

static char *login(const char *user, const char *pw)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"username\":\"%s\",\"password\":\"%s\"}", user, pw);
    struct api_response r;
    char *tok = NULL;
    if (call("POST", "/api/auth/login", NULL, body, &r) == 200)
        tok = strdup(json_string_value(json_object_get(r.body, "token")));
    api_response_clear(&r);
    return tok;
}

static void test_openapi_matches_table(void)
{
    json_t *doc = api_openapi_document();
    json_t *paths = json_object_get(doc, "paths");
    size_t ops = 0;
    const char *path;
    json_t *item;
    json_object_foreach(paths, path, item) ops += json_object_size(item);
    CHECK_EQ_INT(ops, api_nroutes);
    for (size_t i = 0; i < api_nroutes; i++) {
        char m[8] = {0};
        for (size_t k = 0; api_routes[i].r.method[k] && k < 7; k++)
            m[k] = (char)(api_routes[i].r.method[k] | 0x20);
        json_t *op = json_object_get(json_object_get(paths, api_routes[i].r.pattern), m);
        CHECK(op != NULL);
        CHECK((json_object_get(op, "requestBody") != NULL) == (api_routes[i].nbody > 0));
        /* every query argument the route reads is listed; signed routes take either scheme */
        size_t nquery = 0, want = 0;
        for (const char *q = api_routes[i].query; q && *q; q++)
            want += q == api_routes[i].query || *q == ',';
        json_t *p;
        size_t k;
        json_array_foreach(json_object_get(op, "parameters"), k, p)
        {
            nquery += !strcmp(json_string_value(json_object_get(p, "in")), "query");
        }
        CHECK_EQ_INT(nquery, want);
        CHECK_EQ_INT(json_array_size(json_object_get(op, "security")),
                     api_routes[i].access == API_PUBLIC   ? 0
                     : api_routes[i].access == API_SIGNED ? 2
                                                          : 1);
    }
    json_t *list = json_object_get(json_object_get(paths, "/api/recordings"), "get");
    CHECK_EQ_INT(json_array_size(json_object_get(list, "parameters")), 6);
    json_decref(doc);
}

/* Every $ref of the document points at something in it. */
static void check_refs(json_t *doc, json_t *v)
{
    const char *key;
    json_t *x;
    size_t i;
    if (json_is_array(v)) {
        json_array_foreach(v, i, x) check_refs(doc, x);
        return;
    }
    json_object_foreach(v, key, x)
    {
        if (strcmp(key, "$ref")) {
            check_refs(doc, x);
            continue;
        }
        char kind[16], name[64];
        CHECK(sscanf(json_string_value(x), "#/components/%15[a-z]/%63s", kind, name) == 2);
        CHECK(json_object_get(json_object_get(json_object_get(doc, "components"), kind), name));
    }
}

/* Every status a route may answer is listed, with the body the table names; no catch-all. */
static void test_openapi_responses(void)
{
    json_t *doc = api_openapi_document();
    check_refs(doc, doc);
    json_t *paths = json_object_get(doc, "paths");
    for (size_t i = 0; i < api_nroutes; i++) {
        const struct api_route *r = &api_routes[i];
        char m[8] = {0}, code[8];
        for (size_t k = 0; r->r.method[k] && k < 7; k++)
            m[k] = (char)(r->r.method[k] | 0x20);
        json_t *resp =
            json_object_get(json_object_get(json_object_get(paths, r->r.pattern), m), "responses");
        CHECK(json_object_get(resp, "default") == NULL);
        snprintf(code, sizeof(code), "%u", r->status);
        json_t *ok = json_object_get(resp, code);
        json_t *content = json_object_get(ok, "content");
        CHECK((content != NULL) == (r->result != NULL));
        if (r->result && !strchr(r->result, '/')) {
            char ref[96];
            snprintf(ref, sizeof(ref), "#/components/schemas/%s", r->result);
            CHECK_STREQ(json_string_value(json_object_get(
                            json_object_get(json_object_get(content, "application/json"), "schema"),
                            "$ref")),
                        ref);
        }
        for (const char *p = r->statuses; p && *p; p += strcspn(p, " "), p += *p == ' ') {
            snprintf(code, sizeof(code), "%.*s", (int)strcspn(p, " "), p);
            CHECK(json_object_get(resp, code) != NULL);
        }
        CHECK(json_object_get(resp, "400") && json_object_get(resp, "413"));
        CHECK(r->access == API_PUBLIC || json_object_get(resp, "401"));
    }
    const char *name;
    json_t *schema;
    json_object_foreach(json_object_get(json_object_get(doc, "components"), "schemas"), name,
                        schema)
    {
        CHECK(json_is_false(json_object_get(schema, "additionalProperties")));
    }
    /* the query's numbers are integers; a chunk's {seq} takes the URLs the server hands out */
    json_t *p;
    size_t k;
    json_array_foreach(
        json_object_get(json_object_get(json_object_get(paths, "/api/recordings"), "get"),
                        "parameters"),
        k, p)
    {
        const char *n = json_string_value(json_object_get(p, "name"));
        if (!strcmp(n, "limit") || !strcmp(n, "offset"))
            CHECK_STREQ(json_string_value(json_object_get(json_object_get(p, "schema"), "type")),
                        "integer");
    }
    json_t *seq = json_array_get(
        json_object_get(
            json_object_get(json_object_get(paths, "/api/recordings/{id}/chunks/{seq}"), "get"),
            "parameters"),
        1);
    CHECK_STREQ(json_string_value(json_object_get(seq, "name")), "seq");
    CHECK_STREQ(json_string_value(json_object_get(json_object_get(seq, "schema"), "pattern")),
                "^[1-9][0-9]{0,9}(\\.mp4)?$");
    json_decref(doc);
}

/* GET /api/server: admins only; the figures are those the modules keep in the registry (set here
 * through the handles the modules register), the oldest pending chunk's age from its close time,
 * and 0 for a module that never registered. */
static void check_server_status(const char *atok, const char *btok)
{
    struct api_response r;
    CHECK_EQ_INT(st("GET", "/api/server", NULL, NULL), 401);
    CHECK_EQ_INT(st("GET", "/api/server", btok, NULL), 403);
    /* no registry yet: every figure 0 */
    CHECK_EQ_INT(call("GET", "/api/server", atok, NULL, &r), 200);
    CHECK_EQ_INT((int)json_integer_value(json_object_get(r.body, "upload_queue_chunks")), 0);
    CHECK_STREQ(json_string_value(json_object_get(r.body, "version")), KIBITKA_VERSION);
    CHECK(json_is_string(json_object_get(r.body, "started_at")));
    api_response_clear(&r);

    struct metrics *m = metrics_create();
    api_set_metrics(api, m);
    struct upload_metrics up;
    upload_metrics_register(m, &up);
    metrics_set(up.upload_queue_chunks, 7);
    metrics_set(up.upload_oldest_pending_us, clock_wall_us() - 42 * 1000000LL);
    metrics_add(up.upload_failures_total, 3);
    metrics_add(up.upload_chunks_total, 11);
    metrics_add(up.storage_errors_total, 2);
    metrics_set(up.storage_access_denied, 1);
    CHECK_EQ_INT(call("GET", "/api/server", atok, NULL, &r), 200);
    CHECK_EQ_INT((int)json_integer_value(json_object_get(r.body, "upload_queue_chunks")), 7);
    json_int_t age = json_integer_value(json_object_get(r.body, "upload_oldest_pending_seconds"));
    CHECK(age >= 42 && age < 42 + 60);
    CHECK_EQ_INT((int)json_integer_value(json_object_get(r.body, "upload_failures_total")), 3);
    CHECK_EQ_INT((int)json_integer_value(json_object_get(r.body, "uploads_total")), 11);
    CHECK_EQ_INT((int)json_integer_value(json_object_get(r.body, "storage_errors_total")), 2);
    CHECK(json_is_true(json_object_get(r.body, "storage_access_denied")));
    CHECK(json_is_false(json_object_get(r.body, "recorder_disk_full")));
    CHECK_EQ_INT((int)json_integer_value(json_object_get(r.body, "webhook_failures_total")), 0);
    CHECK_EQ_INT((int)json_integer_value(json_object_get(r.body, "live_streams")), 0);
    api_response_clear(&r);

    struct webhook_metrics wh;
    webhook_metrics_register(m, &wh);
    metrics_add(wh.delivered, 5);
    metrics_add(wh.failed, 4);
    metrics_add(wh.dropped, 1);
    metrics_set(up.upload_oldest_pending_us, 0); /* none waiting */
    CHECK_EQ_INT(call("GET", "/api/server", atok, NULL, &r), 200);
    CHECK_EQ_INT((int)json_integer_value(json_object_get(r.body, "webhook_deliveries_total")), 5);
    CHECK_EQ_INT((int)json_integer_value(json_object_get(r.body, "webhook_failures_total")), 4);
    CHECK_EQ_INT((int)json_integer_value(json_object_get(r.body, "webhook_dropped_total")), 1);
    CHECK_EQ_INT((int)json_integer_value(json_object_get(r.body, "upload_oldest_pending_seconds")),
                 0);
    api_response_clear(&r);
    api_set_metrics(api, NULL); /* the handles go with the registry */
    metrics_destroy(&m);
}

static void test_flow(void)
{
    struct api_response r;
    char hash[PASSWORD_HASH_MAX];
    CHECK_EQ_INT(password_hash("adminpass1", hash), 0);
    struct db_user admin = {.name = "admin", .password_hash = hash, .role = DB_ROLE_ADMIN};
    CHECK_EQ_INT(db_user_create(db, &admin), 0);
    free(admin.id);

    CHECK_EQ_INT(st("GET", "/api/nope", NULL, NULL), 404);
    CHECK_EQ_INT(call("PUT", "/api/users", NULL, NULL, &r), 405);
    CHECK_STREQ(r.allow, "GET, HEAD, POST");
    CHECK_STREQ(err_code(&r), "method_not_allowed");
    api_response_clear(&r);
    CHECK_EQ_INT(call("GET", "/api/me", NULL, NULL, &r), 401);
    CHECK(r.www_authenticate);
    api_response_clear(&r);
    CHECK_EQ_INT(st("GET", "/api/me", "tk_bogus", NULL), 401);
    CHECK_EQ_INT(st("POST", "/api/auth/login", NULL, "{\"username\":"), 400);
    CHECK_EQ_INT(call("POST", "/api/auth/login", NULL, "{\"username\":1,\"password\":\"x\"}", &r),
                 400);
    CHECK(strstr(json_string_value(json_object_get(json_object_get(r.body, "error"), "message")),
                 "'username'") != NULL);
    api_response_clear(&r);

    char *atok = login("admin", "adminpass1");
    CHECK(atok && !strncmp(atok, "tk_", 3));
    CHECK_EQ_INT(call("GET", "/api/me", atok, NULL, &r), 200);
    CHECK_STREQ(json_string_value(json_object_get(r.body, "role")), "admin");
    api_response_clear(&r);

    /* Users: create, duplicate, bad name, SQL metacharacters in the password. */
    const char *bob = "{\"name\":\"bob\",\"password\":\"x'); DROP TABLE users;--\"}";
    CHECK_EQ_INT(st("POST", "/api/users", atok, bob), 201);
    CHECK_EQ_INT(st("POST", "/api/users", atok, bob), 409);
    CHECK_EQ_INT(st("POST", "/api/users", atok, "{\"name\":\"b'ob\",\"password\":\"12345678\"}"),
                 400);
    CHECK_EQ_INT(st("POST", "/api/users", atok, "{\"name\":\"carl\",\"password\":\"short\"}"), 400);
    /* _open owns the --open-publish recordings: no real user may take it, or any '_' name. */
    const char *reserved[] = {"{\"name\":\"_open\",\"password\":\"12345678\"}",
                              "{\"name\":\"_x\",\"password\":\"12345678\"}"};
    for (int i = 0; i < 2; i++) {
        struct api_response r;
        CHECK_EQ_INT(call("POST", "/api/users", atok, reserved[i], &r), 400);
        const char *msg =
            json_string_value(json_object_get(json_object_get(r.body, "error"), "message"));
        CHECK(msg && strstr(msg, "names starting with '_' are reserved"));
        api_response_clear(&r);
    }
    struct db_user open_user = {.name = "_open", .password_hash = "x"};
    CHECK_EQ_INT(db_user_create(db, &open_user), -EINVAL);
    CHECK_EQ_INT(st("POST", "/api/users", atok,
                    "{\"name\":\"carl\",\"password\":\"12345678\","
                    "\"role\":\"root\"}"),
                 400);
    char *btok = login("bob", "x'); DROP TABLE users;--");
    check_server_status(atok, btok);
    CHECK(btok != NULL);
    CHECK_EQ_INT(st("GET", "/api/users", btok, NULL), 403);
    CHECK_EQ_INT(st("POST", "/api/users", btok, "{\"name\":\"eve\",\"password\":\"12345678\"}"),
                 403);
    CHECK_EQ_INT(st("GET", "/api/users/bob", atok, NULL), 200);
    CHECK_EQ_INT(st("GET", "/api/users/nobody", atok, NULL), 404);
    CHECK_EQ_INT(st("PATCH", "/api/users/bob", atok, "{\"role\":\"user\"}"), 200);
    CHECK_EQ_INT(call("GET", "/api/users", atok, NULL, &r), 200);
    CHECK_EQ_INT(json_array_size(json_object_get(r.body, "users")), 2);
    api_response_clear(&r);

    /* Streams. */
    CHECK_EQ_INT(call("POST", "/api/streams", btok, "{\"name\":\"cam\"}", &r), 201);
    const char *key = json_string_value(json_object_get(r.body, "key"));
    CHECK(key && !strncmp(key, "sk_", 3));
    CHECK_STREQ(json_string_value(json_object_get(r.body, "hls_url")), "/hls/cam/index.m3u8");
    CHECK(json_is_false(json_object_get(r.body, "live")));
    api_response_clear(&r);
    CHECK_EQ_INT(st("POST", "/api/streams", atok, "{\"name\":\"cam\"}"), 409);
    CHECK_EQ_INT(st("POST", "/api/streams", btok, "{\"name\":\"cam\",\"record\":\"no\"}"), 400);
    CHECK_EQ_INT(st("POST", "/api/streams", atok, "{\"name\":\"admincam\"}"), 201);
    CHECK_EQ_INT(st("GET", "/api/streams/admincam", btok, NULL), 404); /* not bob's */
    CHECK_EQ_INT(st("DELETE", "/api/streams/admincam", btok, NULL), 404);
    CHECK_EQ_INT(st("POST", "/api/streams/admincam/key", btok, NULL), 404);
    CHECK_EQ_INT(call("GET", "/api/streams/cam", btok, NULL, &r), 200);
    CHECK(json_object_get(r.body, "key") == NULL);
    CHECK_STREQ(json_string_value(json_object_get(r.body, "owner")), "bob");
    api_response_clear(&r);
    CHECK_EQ_INT(call("GET", "/api/streams", btok, NULL, &r), 200);
    CHECK_EQ_INT(json_array_size(json_object_get(r.body, "streams")), 1);
    api_response_clear(&r);
    CHECK_EQ_INT(call("GET", "/api/streams", atok, NULL, &r), 200);
    CHECK_EQ_INT(json_array_size(json_object_get(r.body, "streams")), 2);
    api_response_clear(&r);
    query_user = "bob";
    CHECK_EQ_INT(call("GET", "/api/streams", atok, NULL, &r), 200);
    CHECK_EQ_INT(json_array_size(json_object_get(r.body, "streams")), 1);
    api_response_clear(&r);
    query_user = "admin";
    CHECK_EQ_INT(st("GET", "/api/streams", btok, NULL), 403);
    query_user = NULL;
    CHECK_EQ_INT(call("POST", "/api/streams/cam/key", btok, NULL, &r), 200);
    CHECK(json_string_value(json_object_get(r.body, "key")) != NULL);
    api_response_clear(&r);
    CHECK_EQ_INT(st("DELETE", "/api/streams/cam", btok, NULL), 204);
    CHECK_EQ_INT(st("GET", "/api/streams/cam", btok, NULL), 404);
    CHECK_EQ_INT(st("GET", "/api/live", NULL, NULL), 200);
    CHECK_EQ_INT(st("GET", "/api/openapi.json", NULL, NULL), 200);
    /* Where the pages find the voice signaling: nothing without --ws, then its port. */
    CHECK_EQ_INT(call("GET", "/api/config", NULL, NULL, &r), 200);
    CHECK(json_is_null(json_object_get(r.body, "ws_port")));
    CHECK(json_is_false(json_object_get(r.body, "proxied")));
    CHECK_STREQ(json_string_value(json_object_get(r.body, "ws_path")), "/rtc");
    api_response_clear(&r);
    api_set_ws_port(api, 8081);
    CHECK_EQ_INT(call("GET", "/api/config", NULL, NULL, &r), 200);
    CHECK_EQ_INT(json_integer_value(json_object_get(r.body, "ws_port")), 8081);
    api_response_clear(&r);
    api_set_ws_port(api, 0);

    /* Own password. */
    CHECK_EQ_INT(st("PATCH", "/api/me", btok,
                    "{\"old_password\":\"wrongwrong\","
                    "\"password\":\"newpass12\"}"),
                 403);
    CHECK_EQ_INT(st("PATCH", "/api/me", btok,
                    "{\"old_password\":\"x'); DROP TABLE users;--\","
                    "\"password\":\"newpass12\"}"),
                 200);
    char *b2 = login("bob", "newpass12");
    CHECK(b2 != NULL);

    /* Logout revokes at once. */
    CHECK_EQ_INT(st("POST", "/api/auth/logout", b2, NULL), 204);
    CHECK_EQ_INT(st("GET", "/api/me", b2, NULL), 401);
    CHECK_EQ_INT(st("GET", "/api/me", btok, NULL), 200);

    /* 40 wrong logins: 401 then 429 with Retry-After. */
    int n429 = 0;
    for (int i = 0; i < 40; i++) {
        unsigned s = call("POST", "/api/auth/login", NULL,
                          "{\"username\":\"admin\",\"password\":\"wrong-pass\"}", &r);
        CHECK(s == 401 || s == 429);
        if (s == 429) {
            n429++;
            CHECK(r.retry_after_s > 0);
        }
        api_response_clear(&r);
    }
    CHECK(n429 >= 30); /* 31: the wrong old_password above counted for this address */
    CHECK(login("admin", "adminpass1") == NULL); /* this address guessed: blocked */

    CHECK_EQ_INT(st("DELETE", "/api/users/bob", atok, NULL), 204);
    CHECK_EQ_INT(st("GET", "/api/me", btok, NULL), 401); /* sessions went with the user */
    free(atok);
    free(btok);
    free(b2);
}

/* Logins handed to the password pool (issue 11 item 4): with a done callback api_handle answers
 * API_PENDING at once and done comes later; past the pool's queue a login is a 503 with
 * Retry-After at once; the right password from an address that never failed works although the
 * user was under attack (test_flow's 40 wrong logins). */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static int pool_done;

static void pool_done_cb(void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&pool_lock);
    pool_done++;
    pthread_cond_signal(&pool_cond);
    pthread_mutex_unlock(&pool_lock);
}

static void test_login_pool(void)
{
    enum { N = API_LOGIN_QUEUE + 8 };
    static struct api_response resp[N];
    const char *body = "{\"username\":\"admin\",\"password\":\"adminpass1\"}";
    int pending = 0, refused = 0;
    for (int i = 0; i < N; i++) {
        struct api_request req = {"POST", "/api/auth/login", NULL, "10.0.0.9",   arg, NULL,
                                  body,   strlen(body),      NULL, pool_done_cb, NULL, NULL, NULL, NULL};
        if (api_handle(api, &req, &resp[i]) == API_PENDING) {
            pending++;
            continue;
        }
        CHECK_EQ_INT(resp[i].status, 503);
        CHECK_STREQ(err_code(&resp[i]), "unavailable");
        CHECK(resp[i].retry_after_s > 0);
        refused++;
    }
    CHECK(pending >= API_LOGIN_QUEUE);
    CHECK(refused >= N - API_LOGIN_QUEUE - 2); /* the bound: one or two may be running */
    pthread_mutex_lock(&pool_lock);
    while (pool_done < pending)
        pthread_cond_wait(&pool_cond, &pool_lock);
    pthread_mutex_unlock(&pool_lock);
    int ok = 0;
    for (int i = 0; i < N; i++) {
        ok += resp[i].status == 200 && json_string_value(json_object_get(resp[i].body, "token"));
        api_response_clear(&resp[i]);
    }
    CHECK_EQ_INT(ok, pending);
}

int main(void)
{
    call_arg = arg; /* ?user= on the user routes */
    CHECK_EQ_INT(password_init(), 0);
    char dir[] = "/tmp/kibitka-api-XXXXXX", url[128], path[128];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(url, sizeof(url), "sqlite:%s/k.db", dir);
    CHECK_EQ_INT(db_open(url, &db), 0);
    api = api_create(db, NULL, NULL, NULL, NULL, NULL, 0);
    test_openapi_matches_table();
    test_openapi_responses();
    test_flow();
    test_login_pool();
    api_destroy(&api);
    db_close(&db);
    const char *suffix[] = {"", "-wal", "-shm", "-reserve"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/k.db%s", dir, suffix[i]);
        unlink(path);
    }
    rmdir(dir);
    return test_report("test_api");
}
