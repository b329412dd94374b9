/* The /api router (404, 405 with Allow, parameters, HEAD) and the JSON body checks (malformed,
 * wrong type naming the field, unknown and missing fields, duplicates, deep nesting). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/json.h"
#include "api/router.h"
#include "test.h"

static const struct router_route routes[] = {
    {"GET", "/api/streams"},
    {"POST", "/api/streams"},
    {"GET", "/api/streams/{name}"},
    {"DELETE", "/api/streams/{name}"},
    {"POST", "/api/streams/{name}/key"},
    {"GET", "/api/a/{x}/b/{y}"},
};
#define NR (sizeof(routes) / sizeof(routes[0]))

static int match(const char *method, const char *path, size_t *i, struct router_params *p,
                 char *allow)
{
    return (int)router_match(routes, NR, sizeof(routes[0]), method, path, i, p, allow);
}

static void test_router(void)
{
    size_t i = 99;
    struct router_params p;
    char allow[ROUTER_ALLOW_MAX];
    CHECK_EQ_INT(match("GET", "/api/streams", &i, &p, allow), ROUTER_FOUND);
    CHECK_EQ_INT(i, 0);
    CHECK_EQ_INT(match("POST", "/api/streams", &i, &p, allow), ROUTER_FOUND);
    CHECK_EQ_INT(i, 1);
    CHECK_EQ_INT(match("HEAD", "/api/streams", &i, &p, allow), ROUTER_FOUND);
    CHECK_EQ_INT(i, 0);
    CHECK_EQ_INT(match("PUT", "/api/streams", &i, &p, allow), ROUTER_BAD_METHOD);
    CHECK_STREQ(allow, "GET, HEAD, POST");
    CHECK_EQ_INT(match("GET", "/api/streams/cam1", &i, &p, allow), ROUTER_FOUND);
    CHECK_EQ_INT(i, 2);
    CHECK_STREQ(router_param(&p, "name"), "cam1");
    CHECK(router_param(&p, "other") == NULL);
    CHECK_EQ_INT(match("POST", "/api/streams/cam1", &i, &p, allow), ROUTER_BAD_METHOD);
    CHECK_STREQ(allow, "GET, HEAD, DELETE");
    CHECK_EQ_INT(match("POST", "/api/streams/x';DROP/key", &i, &p, allow), ROUTER_FOUND);
    CHECK_STREQ(router_param(&p, "name"), "x';DROP");
    CHECK_EQ_INT(match("GET", "/api/a/1/b/2", &i, &p, allow), ROUTER_FOUND);
    CHECK_STREQ(router_param(&p, "x"), "1");
    CHECK_STREQ(router_param(&p, "y"), "2");
    CHECK_EQ_INT(match("GET", "/api/streams/", &i, &p, allow), ROUTER_NOT_FOUND);
    CHECK_EQ_INT(match("GET", "/api/streams//key", &i, &p, allow), ROUTER_NOT_FOUND);
    CHECK_EQ_INT(match("GET", "/api/stream", &i, &p, allow), ROUTER_NOT_FOUND);
    CHECK_EQ_INT(match("GET", "/api/streamsx", &i, &p, allow), ROUTER_NOT_FOUND);
    CHECK_EQ_INT(match("GET", "/api/streams/a/b", &i, &p, allow), ROUTER_NOT_FOUND);
    CHECK_EQ_INT(match("GET", "", &i, &p, allow), ROUTER_NOT_FOUND);
    /* A segment longer than a parameter can hold never matches. */
    char longp[600] = "/api/streams/";
    memset(longp + 13, 'a', 400);
    CHECK_EQ_INT(match("GET", longp, &i, &p, allow), ROUTER_NOT_FOUND);
}

static const struct json_field fields[] = {
    {"name", JF_STRING, true, ""},
    {"record", JF_BOOLEAN, false, ""},
    {"n", JF_INTEGER, false, ""},
};

static int parse(const char *text, struct json_error *err)
{
    json_t *o;
    int rc = json_body_parse(text, strlen(text), fields, 3, &o, err);
    json_decref(o);
    return rc;
}

/* The server's top-level table (api/http.c): a trailing "*" takes the rest of the path, method
 * "*" any method, and the first match wins. */
static const struct router_route top[] = {
    {"OPTIONS", "/api/recordings/*"},
    {"*", "/api/*"},
    {"GET", "/hls/*"},
    {"*", "/hls/*"},
    {"GET", "/health"},
    {"*", "/health"},
};

static size_t top_match(const char *method, const char *path)
{
    size_t i = 99;
    struct router_params p;
    char allow[ROUTER_ALLOW_MAX];
    if (router_match(top, sizeof(top) / sizeof(top[0]), sizeof(top[0]), method, path, &i, &p,
                     allow) != ROUTER_FOUND)
        return 404;
    return i;
}

static void test_router_prefix(void)
{
    CHECK_EQ_INT(top_match("OPTIONS", "/api/recordings/r1/index.m3u8"), 0);
    CHECK_EQ_INT(top_match("OPTIONS", "/api/recordings/"), 0);
    CHECK_EQ_INT(top_match("OPTIONS", "/api/streams"), 1);
    CHECK_EQ_INT(top_match("PATCH", "/api/x/y/z"), 1);
    CHECK_EQ_INT(top_match("GET", "/api/"), 1);
    CHECK_EQ_INT(top_match("GET", "/api"), 404);
    CHECK_EQ_INT(top_match("GET", "/apix/"), 404);
    CHECK_EQ_INT(top_match("HEAD", "/hls/cam/720p/seg-1.m4s"), 2);
    CHECK_EQ_INT(top_match("POST", "/hls/cam/index.m3u8"), 3);
    CHECK_EQ_INT(top_match("GET", "/hls"), 404);
    CHECK_EQ_INT(top_match("GET", "/health"), 4);
    CHECK_EQ_INT(top_match("DELETE", "/health"), 5);
    CHECK_EQ_INT(top_match("GET", "/health/"), 404);
    CHECK_EQ_INT(top_match("GET", "/"), 404);
    /* A "*" inside a pattern is a literal. */
    static const struct router_route lit[] = {{"GET", "/a/*/b"}};
    size_t i;
    struct router_params p;
    char allow[ROUTER_ALLOW_MAX];
    CHECK_EQ_INT(router_match(lit, 1, sizeof(lit[0]), "GET", "/a/x/b", &i, &p, allow),
                 ROUTER_NOT_FOUND);
    CHECK_EQ_INT(router_match(lit, 1, sizeof(lit[0]), "GET", "/a/*/b", &i, &p, allow),
                 ROUTER_FOUND);
}

static void test_json(void)
{
    struct json_error e;
    json_t *o;
    const char *ok = "{\"name\":\"a'b\\\"c\",\"record\":true}";
    CHECK_EQ_INT(json_body_parse(ok, strlen(ok), fields, 3, &o, &e), 0);
    CHECK_STREQ(json_body_str(o, "name"), "a'b\"c");
    CHECK(json_body_str(o, "nope") == NULL);
    json_decref(o);
    CHECK_EQ_INT(json_body_parse(NULL, 0, fields, 0, &o, &e), 0); /* empty is {} */
    CHECK(json_is_object(o) && json_object_size(o) == 0);
    json_decref(o);
    CHECK_EQ_INT(parse("{\"name\":", &e), -EINVAL);
    CHECK_STREQ(e.code, "bad_json");
    CHECK_EQ_INT(parse("[1]", &e), -EINVAL);
    CHECK_STREQ(e.code, "invalid_body");
    CHECK_EQ_INT(parse("\"x\"", &e), -EINVAL); /* jansson rejects a bare string by default */
    CHECK_EQ_INT(parse("{\"name\":5}", &e), -EINVAL);
    CHECK_STREQ(e.code, "invalid_field");
    CHECK(strstr(e.message, "'name'") != NULL);
    CHECK_EQ_INT(parse("{\"name\":\"a\",\"record\":\"yes\"}", &e), -EINVAL);
    CHECK(strstr(e.message, "'record'") && strstr(e.message, "boolean"));
    CHECK_EQ_INT(parse("{\"name\":\"a\",\"n\":1.5}", &e), -EINVAL);
    CHECK(strstr(e.message, "'n'") != NULL);
    CHECK_EQ_INT(parse("{\"name\":\"a\",\"admin\":true}", &e), -EINVAL);
    CHECK_STREQ(e.code, "unknown_field");
    CHECK(strstr(e.message, "'admin'") != NULL);
    CHECK_EQ_INT(parse("{\"record\":true}", &e), -EINVAL);
    CHECK_STREQ(e.code, "missing_field");
    CHECK_EQ_INT(parse("{\"name\":\"a\",\"name\":\"b\"}", &e), -EINVAL);
    CHECK_STREQ(e.code, "bad_json");
    CHECK_EQ_INT(parse("{\"name\":\"a\\u0000b\"}", &e), -EINVAL);
    CHECK_EQ_INT(parse("{\"name\":\"\xff\"}", &e), -EINVAL);
    /* 100,000 levels of nesting: refused by jansson's depth limit, without a deep stack. */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    CHECK_EQ_INT(parse(deep, &e), -EINVAL);
    CHECK_STREQ(e.code, "bad_json");
    free(deep);
    /* A huge unknown key is cut short in the message. */
    char big[4096];
    memset(big, 'k', sizeof(big));
    memcpy(big, "{\"", 2);
    memcpy(big + sizeof(big) - 6, "\":1}", 5);
    CHECK_EQ_INT(parse(big, &e), -EINVAL);
    CHECK(strlen(e.message) < 100);
    json_t *err = json_error_body("x", "y");
    CHECK_STREQ(json_string_value(json_object_get(json_object_get(err, "error"), "code")), "x");
    json_decref(err);
}

int main(void)
{
    test_router();
    test_router_prefix();
    test_json();
    return test_report("test_router");
}
