/* Flags, KIBITKA_* environment variables, precedence and error messages. */
#include <stdlib.h>

#include "core/config.h"
#include "test.h"

static int parse(struct config *c, int argc, char **argv, char *err, size_t errlen)
{
    FILE *f = fmemopen(err, errlen, "w");
    int rc = config_parse(c, argc, argv, f);
    if (rc == 0)
        rc = config_check(c, f);
    fclose(f);
    return rc;
}

int main(void)
{
    struct config c;
    char err[512];

    config_defaults(&c);
    CHECK_STREQ(c.http_addr, "0.0.0.0:8080");
    CHECK_STREQ(c.rtmp_addr, "0.0.0.0:1935");
    CHECK(c.part_seconds == 0.4);
    CHECK(c.link_lifetime == 21600); /* 6 h */
    CHECK(!c.open_publish);
    CHECK_STREQ(c.cors_origin, "*");
    CHECK_EQ_INT(c.http_max_connections, 0); /* from the descriptor limit */
    CHECK_EQ_INT(c.http_max_connections_per_address, 256);
    CHECK(c.http_request_timeout == 10);
    config_free(&c);

    /* --ice-server: a URL, or a TURN URL with its username and password */
    char url[256], user[128], pass[128];
    CHECK_EQ_INT(config_ice_server("stun:stun.example.net:3478", url, user, pass), 1);
    CHECK_STREQ(url, "stun:stun.example.net:3478");
    CHECK_EQ_INT(config_ice_server("turns:t.example.net:5349?transport=tcp u p", url, user, pass),
                 3);
    CHECK_STREQ(user, "u");
    CHECK_STREQ(pass, "p");
    CHECK_EQ_INT(config_ice_server("http://example.net", url, user, pass), -1);
    CHECK_EQ_INT(config_ice_server("turn:t.example.net u", url, user, pass), -1);
    CHECK_EQ_INT(config_ice_server("turn:t.example.net u p\"", url, user, pass), -1);
    CHECK_EQ_INT(config_ice_server("stun:a.example>; rel=x", url, user, pass), -1);
    config_defaults(&c);
    char *ai[] = {"--ice-server", "ftp:x"};
    CHECK(parse(&c, 2, ai, err, sizeof(err)) < 0);
    CHECK(strstr(err, "--ice-server") != NULL);
    config_free(&c);

    /* flags, both --flag value and --flag=value forms */
    config_defaults(&c);
    char *a1[] = {"--http", "127.0.0.1:9000", "--part=0.25", "--open-publish", "--ladder", "none"};
    CHECK_EQ_INT(parse(&c, 6, a1, err, sizeof(err)), 0);
    CHECK_STREQ(c.http_addr, "127.0.0.1:9000");
    CHECK(c.part_seconds == 0.25);
    CHECK(c.open_publish);
    CHECK_STREQ(c.ladder, "none");
    config_free(&c);

    /* --trusted-proxy: repeatable, and a list in the environment */
    config_defaults(&c);
    char *tp[] = {"--trusted-proxy", "127.0.0.1", "--trusted-proxy=fd00::/8"};
    CHECK_EQ_INT(parse(&c, 3, tp, err, sizeof(err)), 0);
    CHECK_EQ_INT(c.trusted_proxies.n, 2);
    CHECK_STREQ(c.trusted_proxies.v[1], "fd00::/8");
    config_free(&c);
    setenv("KIBITKA_TRUSTED_PROXY", "127.0.0.1,bogus", 1);
    config_defaults(&c);
    memset(err, 0, sizeof(err));
    CHECK(parse(&c, 0, NULL, err, sizeof(err)) < 0);
    CHECK(strstr(err, "KIBITKA_TRUSTED_PROXY") && strstr(err, "'bogus'"));
    config_free(&c);
    unsetenv("KIBITKA_TRUSTED_PROXY");

    config_defaults(&c);
    char *wo[] = {"--ws-origin", "https://example.org", "--ws-origin=http://[::1]:5173"};
    CHECK_EQ_INT(parse(&c, 3, wo, err, sizeof(err)), 0);
    CHECK_EQ_INT(c.ws_origins.n, 2);
    config_free(&c);

    /* environment, and the command line winning over it */
    setenv("KIBITKA_PART", "1.5", 1);
    setenv("KIBITKA_OPEN_PUBLISH", "yes", 1);
    setenv("KIBITKA_CORS_ORIGIN", "https://example.com", 1);
    config_defaults(&c);
    char *a2[] = {"--part", "0.3"};
    CHECK_EQ_INT(parse(&c, 2, a2, err, sizeof(err)), 0);
    CHECK(c.part_seconds == 0.3);
    CHECK(c.open_publish);
    CHECK_STREQ(c.cors_origin, "https://example.com");
    config_free(&c);
    unsetenv("KIBITKA_PART");
    unsetenv("KIBITKA_OPEN_PUBLISH");
    unsetenv("KIBITKA_CORS_ORIGIN");

    /* errors name the flag */
    struct {
        int argc;
        char *argv[3];
        const char *want;
    } bad[] = {
        {1, {"--nope"}, "unknown flag '--nope'"},
        {2, {"--part", "abc"}, "--part 'abc' is not a number"},
        {2, {"--part", "5"}, "--part 5 is out of range"},
        {1, {"--http"}, "--http needs a value"},
        {2, {"--http", "localhost"}, "--http 'localhost' is not ADDR:PORT"},
        {2, {"--x264-preset", "turbo"}, "--x264-preset 'turbo' is not one of"},
        {2, {"--log-level", "loud"}, "--log-level 'loud'"},
        {2, {"--link-lifetime", "0"}, "--link-lifetime 0 is out of range"},
        {2, {"--http-request-timeout", "0.5"}, "--http-request-timeout 0.5 is out of range (1 to"},
        {2, {"--http-max-connections-per-address", "-1"}, "is not a whole number"},
        {2, {"--http-max-connections", "x"}, "--http-max-connections 'x' is not a whole number"},
        {2, {"--trusted-proxy", "10.0.0.1/8"}, "--trusted-proxy '10.0.0.1/8' is not an IPv4 or"},
        {2, {"--trusted-proxy", "nginx"}, "--trusted-proxy 'nginx' is not an IPv4 or"},
        {2, {"--ws-origin", "example.org"}, "--ws-origin 'example.org' is not an origin"},
        {2, {"--ws-origin", "https://example.org/"}, "is not an origin"},
        {2, {"--ws-origin", "https://example.org:0"}, "is not an origin"},
        {2, {"--ws-origin", "ftp://example.org"}, "is not an origin"},
        {1, {"stray"}, "unexpected argument 'stray'"},
        {2, {"--open-publish=maybe", ""}, "not one of 1/0"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        config_defaults(&c);
        memset(err, 0, sizeof(err));
        int argc = bad[i].argc;
        CHECK(parse(&c, argc, bad[i].argv, err, sizeof(err)) < 0);
        if (!strstr(err, bad[i].want)) {
            test_failures++;
            fprintf(stderr, "case %zu: '%s' not in '%s'\n", i, bad[i].want, err);
        }
        config_free(&c);
    }

    setenv("KIBITKA_IDLE_TIMEOUT", "soon", 1);
    config_defaults(&c);
    CHECK(parse(&c, 0, NULL, err, sizeof(err)) < 0);
    CHECK(strstr(err, "KIBITKA_IDLE_TIMEOUT='soon' is not a number") != NULL);
    config_free(&c);
    unsetenv("KIBITKA_IDLE_TIMEOUT");

    /* A value out of range names where it came from: the variable, as the user wrote it, or
     * the flag when the command line overrode the variable. */
    struct {
        const char *var, *val, *flag_val, *want;
    } env_bad[] = {
        {"KIBITKA_PART", "9", NULL, "kibitka: KIBITKA_PART=9 is out of range (0.1 to 2 seconds)"},
        {"KIBITKA_PART", "1", "9", "kibitka: --part 9 is out of range"},
        {"KIBITKA_HTTP", "nonsense", NULL, "kibitka: KIBITKA_HTTP='nonsense' is not ADDR:PORT"},
        {"KIBITKA_RECORD_CHUNK", "0.50", NULL, "KIBITKA_RECORD_CHUNK=0.50 is out of range"},
        {"KIBITKA_HTTP_THREADS", "0", NULL, "KIBITKA_HTTP_THREADS=0 is out of range (1 to 64)"},
        {"KIBITKA_STOP_GRACE", "-1", NULL, "KIBITKA_STOP_GRACE=-1 is out of range"},
        {"KIBITKA_WEBHOOK", "http://a/,ftp://b", NULL,
         "KIBITKA_WEBHOOK='http://a/,ftp://b' has 'ftp://b', which is not an http"},
    };
    for (size_t i = 0; i < sizeof(env_bad) / sizeof(env_bad[0]); i++) {
        setenv(env_bad[i].var, env_bad[i].val, 1);
        char flag[32] = "--part";
        char *argv[] = {flag, (char *)env_bad[i].flag_val};
        config_defaults(&c);
        memset(err, 0, sizeof(err));
        CHECK(parse(&c, env_bad[i].flag_val ? 2 : 0, argv, err, sizeof(err)) < 0);
        if (!strstr(err, env_bad[i].want)) {
            test_failures++;
            fprintf(stderr, "env case %zu: '%s' not in '%s'\n", i, env_bad[i].want, err);
        }
        config_free(&c);
        unsetenv(env_bad[i].var);
    }

    /* --help or -h where a flag may stand, not as a flag's value */
    CHECK(config_wants_help(1, (char *[]){"--help"}));
    CHECK(config_wants_help(3, (char *[]){"--part", "0.3", "-h"}));
    CHECK(config_wants_help(2, (char *[]){"--open-publish", "--help"}));
    CHECK(!config_wants_help(2, (char *[]){"--webhook-secret", "-h"}));
    CHECK(!config_wants_help(1, (char *[]){"--webhook-secret=-h"}));
    CHECK(!config_wants_help(0, NULL));

    char help[32768] = {0}; /* the whole text: it grew past 8 KiB with --ws and --web-dir */
    FILE *f = fmemopen(help, sizeof(help), "w");
    config_print_help(f);
    fclose(f);
    CHECK(strstr(help, "--open-publish") && strstr(help, "--part SECONDS") &&
          strstr(help, "KIBITKA_") && strstr(help, "usage: kibitka [serve] [FLAGS]") &&
          strstr(help, "--help, -h"));
    return test_report("test_config");
}
