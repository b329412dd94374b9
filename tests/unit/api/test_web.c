/* The pages' routes (api/web.c): which file each path maps to, what is refused (dot files,
 * path traversal, nested paths, empty names, the gzip copies), the content types, and the embedded
 * table's invariants (every file named as web_route would name it, the HTML entries present when
 * the build embedded any). */
#include <string.h>

#include "api/web.h"
#include "test.h"

static const char *route(const char *url)
{
    static char out[160];
    return web_route(url, out, sizeof(out)) ? out : NULL;
}

static void test_routes(void)
{
    CHECK_STREQ(route("/"), "index.html");
    CHECK_STREQ(route("/watch/cam"), "watch.html");
    CHECK_STREQ(route("/watch/<img src=x onerror=alert(1)>"), "watch.html");
    CHECK_STREQ(route("/publish"), "publish.html");
    CHECK_STREQ(route("/voice/lobby"), "voice.html");
    CHECK_STREQ(route("/admin"), "admin.html");
    CHECK_STREQ(route("/assets/watch-Gv8VHLtC.js"), "assets/watch-Gv8VHLtC.js");
    static const char *const refused[] = {
        "",
        "/index.html",
        "/watch",
        "/watch/",
        "/watch/a/b",
        "/voice/",
        "/publish/",
        "/publish/x",
        "/admin/x",
        "/assets/",
        "/assets/.hidden",
        "/assets/../index.html",
        "/assets/a/b.js",
        "/assets/a b.js",
        "/assets/..",
        "/favicon.ico",
        "//",
        "/api",
        "/hls/x/index.m3u8",
        "/assets/watch-1.js.gz",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        if (route(refused[i]))
            fprintf(stderr, "routed: '%s'\n", refused[i]);
        CHECK(route(refused[i]) == NULL);
    }
    char big[400] = "/assets/";
    memset(big + 8, 'a', 200);
    big[208] = '\0';
    CHECK(route(big) == NULL); /* longer than any name the build makes */
    char small[4];
    CHECK(!web_route("/watch/cam", small, sizeof(small))); /* does not fit: no file */
}

static void test_types(void)
{
    CHECK_STREQ(web_content_type("index.html"), "text/html; charset=utf-8");
    CHECK_STREQ(web_content_type("assets/a-1.js"), "text/javascript; charset=utf-8");
    CHECK_STREQ(web_content_type("assets/a-1.css"), "text/css; charset=utf-8");
    CHECK_STREQ(web_content_type("assets/icon-1.SVG"), "image/svg+xml");
    CHECK_STREQ(web_content_type("assets/f.woff2"), "font/woff2");
    CHECK_STREQ(web_content_type("assets/noext"), "application/octet-stream");
}

static void test_embedded(void)
{
    bool index = false;
    for (size_t i = 0; i < web_embedded_count; i++) {
        const struct web_file *f = &web_embedded[i];
        char url[200];
        snprintf(url, sizeof(url), "/%s", f->path);
        CHECK(f->data != NULL);
        if (!strcmp(f->path, "index.html"))
            index = true;
        else if (strstr(f->path, ".gz") == f->path + strlen(f->path) - 3)
            CHECK(route(url) == NULL); /* sent in its file's place only */
        else if (!strncmp(f->path, "assets/", 7))
            CHECK_STREQ(route(url), f->path);
    }
    CHECK(web_embedded_count == 0 || index);
    CHECK(web_embedded[web_embedded_count].path == NULL); /* the table ends with {0} */
}

int main(void)
{
    test_routes();
    test_types();
    test_embedded();
    return test_report("test_web");
}
