#include "core/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/net.h"
#include "core/proxy.h"

/* FLAG_STR_LIST is repeatable: each occurrence appends its value, split at commas, to a
 * struct config_list (so the environment can carry several: KIBITKA_WEBHOOK=URL1,URL2). */
enum flag_type { FLAG_STR, FLAG_DOUBLE, FLAG_INT, FLAG_BOOL, FLAG_STR_LIST, FLAG_SIZE };

struct flag {
    const char *name; /* without the leading dashes */
    enum flag_type type;
    size_t offset;
    const char *def; /* default, as text (NULL for bools: false) */
    const char *arg; /* name of the value in --help */
    const char *help;
};

#define F(name, type, field, def, arg, help)                                                       \
    {                                                                                              \
        name, type, offsetof(struct config, field), def, arg, help                                 \
    }

static const struct flag flags[] = {
    F("http", FLAG_STR, http_addr, "0.0.0.0:8080", "ADDR:PORT",
      "HTTP listener: /hls, /health, /metrics"),
    F("rtmp", FLAG_STR, rtmp_addr, "0.0.0.0:1935", "ADDR:PORT",
      "RTMP listener for publishers: rtmp://HOST:PORT/live/<key>"),
    F("rtc", FLAG_STR, rtc_addr, "0.0.0.0:7880", "ADDR:PORT",
      "WebRTC port for WHIP publishers: UDP, and ICE-TCP on the same port number; 'off' turns "
      "WebRTC off"),
    F("ws", FLAG_STR, ws_addr, "0.0.0.0:8081", "ADDR:PORT",
      "WebSocket signaling of the voice rooms at ws://ADDR:PORT/rtc (libwebsockets); 'off' "
      "turns it off"),
    F("ws-origin", FLAG_STR_LIST, ws_origins, NULL, "ORIGIN",
      "an Origin (scheme://host[:port], as a browser sends it) whose pages may open the "
      "signaling WebSocket (repeatable); a handshake with another Origin is refused with 403, "
      "one without (not a browser) is let through. Default: any Origin, since a member is "
      "authorised by the join token in its messages, never by cookies"),
    F("voice-slots", FLAG_INT, voice_slots, "8", "N",
      "voice rooms: how many speakers each member hears at once (the loudest; 1 to 15)"),
    F("voice-rejoin", FLAG_INT, voice_rejoin, "30", "SECONDS",
      "voice rooms: how long a member whose connection dropped keeps its place for a rejoin "
      "(1 to 3600)"),
    F("public-ip", FLAG_STR_LIST, public_ips, NULL, "IP",
      "address WebRTC peers are told to reach (a host candidate; repeatable, IPv4 or IPv6); "
      "default: the --rtc address, or every non-loopback address of this host when that is "
      "0.0.0.0"),
    F("ice-server", FLAG_STR_LIST, ice_servers, NULL, "'URL [USER PASSWORD]'",
      "a STUN or TURN server WHIP clients may use, sent in the answer's Link header (RFC 9725 "
      "4.6): stun:, stuns:, turn: or turns: URL, for TURN followed by a username and a "
      "password (repeatable)"),
    F("data", FLAG_STR, data_dir, "./kibitka-data", "DIR",
      "where kibitka keeps its files: the SQLite database by default, the recording spool "
      "(DATA/spool) and, by default, the recordings (DATA/recordings)"),
    F("db", FLAG_STR, db_url, "", "URL",
      "database: sqlite:PATH or postgres://USER@HOST:PORT/DB (several nodes share one "
      "PostgreSQL); empty means sqlite:DATA/kibitka.db"),
    F("force-new-db", FLAG_BOOL, force_new_db, NULL, NULL,
      "start with a new, empty database even though the database is missing or empty (SQLite: "
      "no file or 0 bytes; PostgreSQL: no kibitka schema) while the spool or a file: store "
      "holds recordings; they stay on disk, unknown to the API. Without it such a start is "
      "refused: restore the database from a backup instead"),
    F("open-publish", FLAG_BOOL, open_publish, NULL, NULL,
      "development mode: any key publishes as a stream of that name (names are "
      "[a-z0-9_-]{1,64}); without it a publish needs a stream key from the API or "
      "`kibitka stream add`"),
    F("part", FLAG_DOUBLE, part_seconds, "0.4", "SECONDS", "LL-HLS part target duration, 0.1 to 2"),
    F("web-dir", FLAG_STR, web_dir, "", "DIR",
      "serve the pages (/, /watch/<stream>, ...) from this directory, a build of web/ (its "
      "dist/), instead of the ones built into this binary; read at each request"),
    F("cors-origin", FLAG_STR, cors_origin, "*", "ORIGIN",
      "Access-Control-Allow-Origin sent with /hls responses"),
    F("ladder", FLAG_STR, ladder, CONFIG_LADDER_DEFAULT, "SPEC",
      "HLS renditions: 'source' (passed through) and HEIGHTp:BITRATE rungs encoded with libx264 "
      "(rungs as tall as the source or taller are skipped), or 'none' for the source only"),
    F("x264-preset", FLAG_STR, x264_preset, "veryfast", "NAME",
      "libx264 preset of the encoded rungs: ultrafast, superfast, veryfast, faster, fast, "
      "medium ..."),
    F("cpu-budget", FLAG_INT, cpu_budget, "90", "PERCENT",
      "admission control: while kibitka uses more CPU than this share of the cores it may run "
      "on (averaged over the last 4 s), a new stream gets no ladder (see --over-budget) and the "
      "streams already live keep theirs; 0 means no budget"),
    F("over-budget", FLAG_STR, over_budget, "passthrough", "WHAT",
      "what a new stream gets past --cpu-budget: 'passthrough' (its source rendition only, no "
      "encoded rungs) or 'refuse' (the publish is refused)"),
    F("no-record", FLAG_BOOL, no_record, NULL, NULL,
      "do not record streams (chunks left in the spool by an earlier run are still uploaded); "
      "without it every stream whose record flag is set is recorded, and --open-publish "
      "streams under the user _open"),
    F("storage", FLAG_STR, storage_url, "", "URL",
      "where recordings go: file:DIR or s3://BUCKET/PREFIX?endpoint=URL&region=R (credentials "
      "from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); empty means "
      "file:DATA/recordings"),
    F("record-chunk", FLAG_DOUBLE, record_chunk, "300", "SECONDS",
      "recordings are cut into chunks at the first keyframe past this much media, 1 to 86400; "
      "each chunk is an fMP4 file of its own, spooled under DATA/spool until uploaded"),
    F("link-lifetime", FLAG_DOUBLE, link_lifetime, "21600", "SECONDS",
      "the signed links to a recording that the API hands out (its playlist_url, its chunks' "
      "urls) work this long plus the recording's duration, 1 to 2592000"),
    F("spool-max-bytes", FLAG_SIZE, spool_max_bytes, "0", "BYTES",
      "when the spool would grow past this (suffixes K, M, G, T), recording pauses until "
      "uploads free space; the live stream goes on; 0 means no limit"),
    F("idle-timeout", FLAG_DOUBLE, idle_timeout, "10", "SECONDS",
      "close an RTMP connection silent this long (handshake or publisher); ends its stream"),
    F("hls-linger", FLAG_DOUBLE, hls_linger, "60", "SECONDS",
      "after a stream ends, its playlists (with #EXT-X-ENDLIST) stay served this long"),
    F("stop-grace", FLAG_DOUBLE, stop_grace, "1", "SECONDS",
      "on SIGTERM/SIGINT, HTTP keeps serving the ended playlists this long before exit"),
    F("http-threads", FLAG_INT, http_threads, "2", "N", "HTTP worker threads"),
    F("http-max-connections", FLAG_INT, http_max_connections, "0", "N",
      "HTTP connections open at once; more wait in the listen queue until one closes. 0 "
      "means from the descriptor limit (raised to the hard limit at start): what it leaves "
      "after 2 per --max-connections RTMP connection and 64 more, at most 16384"),
    F("http-max-connections-per-address", FLAG_INT, http_max_connections_per_address, "256", "N",
      "HTTP connections open at once from one IP address (an IPv6 address counts as its /64), "
      "loopback included; more are closed at accept. Behind a reverse proxy or a CDN that "
      "connects from few addresses, raise it or set 0 (no limit)"),
    F("http-request-timeout", FLAG_DOUBLE, http_request_timeout, "10", "SECONDS",
      "close an HTTP connection that has not sent a whole request (headers and body) this long "
      "after it was accepted or its last response was sent, however slowly it sends meanwhile; "
      "also how long a kept-alive connection may stay idle"),
    F("trusted-proxy", FLAG_STR_LIST, trusted_proxies, NULL, "ADDR[/BITS]",
      "a reverse proxy (IPv4 or IPv6 address, or a network such as 10.0.0.0/8; repeatable): "
      "for HTTP requests and signaling WebSockets from it, the client is the rightmost address "
      "in X-Forwarded-For (without it, Forwarded: for=) that is not a trusted proxy, for the "
      "login limits, the per-address WebSocket cap and the logs; from any other peer these "
      "headers are ignored. The per-address HTTP cap acts at accept, before any header: behind "
      "a proxy limit per client there (nginx limit_conn)"),
    F("max-connections", FLAG_INT, max_connections, "1000", "N",
      "RTMP connections accepted at once; more are closed at accept. Two descriptors each "
      "(the socket, a recording chunk) are kept out of HTTP's share"),
    F("max-connections-per-address", FLAG_INT, max_connections_per_address, "32", "N",
      "RTMP connections accepted at once from one IP address, loopback included (behind a "
      "local TCP proxy every peer is one address: raise it); 0 means no limit"),
    F("publish-timeout", FLAG_DOUBLE, publish_timeout, "10", "SECONDS",
      "close an RTMP connection that is not publishing this long after it was accepted, "
      "whatever it sends meanwhile"),
    F("log-level", FLAG_STR, log_level, "info", "LEVEL", "debug, info, warn or error"),
    F("webhook", FLAG_STR_LIST, webhook_urls, NULL, "URL",
      "POST stream.live and stream.ended events as JSON to this http(s) URL; repeat the flag "
      "(or separate URLs with commas) for several; retried with backoff on errors, 5xx and 429"),
    F("webhook-secret", FLAG_STR, webhook_secret, "", "SECRET",
      "key of the X-Kibitka-Signature: sha256=<hex HMAC-SHA256 of the body> header; prefer "
      "KIBITKA_WEBHOOK_SECRET (a flag shows in ps); without it events go unsigned"),
};

#define NFLAGS (sizeof(flags) / sizeof(flags[0]))
_Static_assert(NFLAGS <= 64, "struct config's from_env has a bit per flag");

static void list_clear(struct config_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    xfreep(&l->v);
    l->n = 0;
}

static void list_append(struct config_list *l, const char *val)
{
    for (const char *p = val; *p;) {
        size_t len = strcspn(p, ",");
        if (len) {
            l->v = xrealloc(l->v, sizeof(*l->v) * (size_t)(l->n + 1));
            l->v[l->n++] = xstrndup(p, len);
        }
        p += len + (p[len] == ',');
    }
}

/* The binary multiplier of a size suffix ("", K, M, G, T) as a shift; -1 for anything else. */
static int size_shift(const char *suffix)
{
    if (!suffix[0])
        return 0;
    const char *units = "KMGT", *u = suffix[1] ? NULL : strchr(units, toupper(suffix[0]));
    return u && *u ? 10 * (int)(u - units + 1) : -1;
}

/* "--part 'x'" or "KIBITKA_PART='x'": the setting as the user wrote it, for error messages (a bad
 * KIBITKA_PART must not be reported as a --part nobody typed). env is the variable's name, or NULL
 * for the command line; quote puts the value in quotes (text values). */
static const char *spelled(const char *flag, const char *env, const char *val, bool quote,
                           char *buf, size_t n)
{
    const char *q = quote ? "'" : "";
    if (env)
        snprintf(buf, n, "%s=%s%s%s", env, q, val, q);
    else
        snprintf(buf, n, "--%s %s%s%s", flag, q, val, q);
    return buf;
}

/* env: the KIBITKA_ variable val came from, NULL for the command line, "" for a default. */
static int set_flag(struct config *cfg, const struct flag *f, const char *val, FILE *err,
                    const char *env)
{
    void *field = (char *)cfg + f->offset;
    char *end, who[160];
    spelled(f->name, env && env[0] ? env : NULL, val, true, who, sizeof(who));
    switch (f->type) {
    case FLAG_STR:
        free(*(char **)field);
        *(char **)field = xstrdup(val);
        return 0;
    case FLAG_STR_LIST:
        list_append(field, val);
        return 0;
    case FLAG_DOUBLE: {
        errno = 0;
        double d = strtod(val, &end);
        if (errno || end == val || *end || !isfinite(d)) {
            fprintf(err, "kibitka: %s is not a number\n", who);
            return -EINVAL;
        }
        *(double *)field = d;
        return 0;
    }
    case FLAG_INT: {
        errno = 0;
        long l = strtol(val, &end, 10);
        if (errno || end == val || *end || l < 0 || l > 1000000) {
            fprintf(err, "kibitka: %s is not a whole number from 0 to 1000000\n", who);
            return -EINVAL;
        }
        *(int *)field = (int)l;
        return 0;
    }
    case FLAG_SIZE: {
        errno = 0;
        long long v = strtoll(val, &end, 10);
        int shift = size_shift(end);
        if (errno || end == val || v < 0 || shift < 0 || v > (INT64_MAX >> shift)) {
            fprintf(err, "kibitka: %s is not a size in bytes (e.g. 500000000, 20G)\n", who);
            return -EINVAL;
        }
        *(int64_t *)field = (int64_t)v << shift;
        return 0;
    }
    case FLAG_BOOL:
        if (!strcmp(val, "1") || !strcmp(val, "true") || !strcmp(val, "yes")) {
            *(bool *)field = true;
        } else if (!strcmp(val, "0") || !strcmp(val, "false") || !strcmp(val, "no")) {
            *(bool *)field = false;
        } else {
            fprintf(err, "kibitka: %s is not one of 1/0, true/false, yes/no\n", who);
            return -EINVAL;
        }
        return 0;
    }
    return -EINVAL;
}

void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NFLAGS; i++)
        if (flags[i].def)
            set_flag(cfg, &flags[i], flags[i].def, stderr, "");
}

static void env_name(const char *flag, char *out, size_t outlen)
{
    size_t n = (size_t)snprintf(out, outlen, "KIBITKA_");
    for (const char *p = flag; *p && n + 1 < outlen; p++)
        out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

static const struct flag *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < NFLAGS; i++)
        if (strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0)
            return &flags[i];
    return NULL;
}

int config_parse(struct config *cfg, int argc, char **argv, FILE *err)
{
    for (size_t i = 0; i < NFLAGS; i++) {
        char env[64];
        env_name(flags[i].name, env, sizeof(env));
        const char *v = getenv(env);
        if (v && set_flag(cfg, &flags[i], v, err, env) < 0)
            return -EINVAL;
        if (v)
            cfg->from_env |= 1ULL << i;
    }
    bool list_seen[NFLAGS] = {false};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            fprintf(err, "kibitka: unexpected argument '%s' (see kibitka --help)\n", a);
            return -EINVAL;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct flag *f = find_flag(name, nlen);
        if (!f) {
            fprintf(err, "kibitka: unknown flag '--%.*s' (see kibitka --help)\n", (int)nlen, name);
            return -EINVAL;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (!val && f->type == FLAG_BOOL)
            val = "true";
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(err, "kibitka: flag --%s needs a value (%s)\n", f->name, f->arg);
                return -EINVAL;
            }
            val = argv[++i];
        }
        if (f->type == FLAG_STR_LIST && !list_seen[f - flags]) {
            /* the command line's values replace the environment's, not add to them */
            list_clear((struct config_list *)((char *)cfg + f->offset));
            list_seen[f - flags] = true;
        }
        if (set_flag(cfg, f, val, err, NULL) < 0)
            return -EINVAL;
        cfg->from_env &= ~(1ULL << (f - flags));
    }
    return 0;
}

/* How flag name's value was given, e.g. "--part 9" or "KIBITKA_PART=9" (then the variable's own
 * text). val is the value as text, shown for the command line and the defaults. */
static const char *given(const struct config *cfg, const char *name, const char *val, bool quote,
                         char *buf, size_t n)
{
    char env[64];
    env_name(name, env, sizeof(env));
    const char *raw = config_from_env(cfg, name) ? getenv(env) : NULL;
    return spelled(name, raw ? env : NULL, raw ? raw : val, quote, buf, n);
}

bool config_from_env(const struct config *cfg, const char *flag)
{
    const struct flag *f = find_flag(flag, strlen(flag));
    return f && (cfg->from_env >> (f - flags) & 1);
}

/* given() for a number. */
static const char *given_num(const struct config *cfg, const char *name, double v, char *buf,
                             size_t n)
{
    char text[32];
    snprintf(text, sizeof(text), "%g", v);
    return given(cfg, name, text, false, buf, n);
}

static bool preset_valid(const char *preset)
{
    static const char *const presets[] = {"ultrafast", "superfast", "veryfast", "faster",  "fast",
                                          "medium",    "slow",      "slower",   "veryslow"};
    for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
        if (strcmp(preset, presets[i]) == 0)
            return true;
    return false;
}

/* An origin as browsers send it: http(s)://host[:port], no path, query, user or blanks. */
static bool origin_valid(const char *o)
{
    const char *h = NULL;
    if (!strncasecmp(o, "https://", 8))
        h = o + 8;
    else if (!strncasecmp(o, "http://", 7))
        h = o + 7;
    if (!h || !*h || *h == ':')
        return false;
    for (const char *p = h; *p; p++)
        if (*p <= ' ' || *p == '/' || *p == '?' || *p == '#' || *p == '@' || *p == '"' ||
            *p == '\\' || *p > '~')
            return false;
    const char *colon = strrchr(h, ':'), *bracket = strrchr(h, ']');
    if (colon && (!bracket || colon > bracket)) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (colon[1] == '\0' || *end || port < 1 || port > 65535)
            return false;
    }
    return true;
}

/* Writes "kibitka: <the setting as given> <what is wrong>" and returns -EINVAL. */
static int bad(const struct config *cfg, FILE *err, const char *flag, const char *val,
               const char *what)
{
    char w[300];
    fprintf(err, "kibitka: %s %s\n", given(cfg, flag, val, true, w, sizeof(w)), what);
    return -EINVAL;
}

/* The text flags: addresses, URLs, names. */
static int check_text(const struct config *cfg, FILE *err)
{
    struct sockaddr_storage ss;
    enum log_level lvl;
    const char *db = cfg->db_url, *st = cfg->storage_url;
    if (net_parse_addr(cfg->http_addr, &ss) < 0)
        return bad(cfg, err, "http", cfg->http_addr, "is not ADDR:PORT (e.g. 0.0.0.0:8080)");
    if (net_parse_addr(cfg->rtmp_addr, &ss) < 0)
        return bad(cfg, err, "rtmp", cfg->rtmp_addr, "is not ADDR:PORT (e.g. 0.0.0.0:1935)");
    if (strcmp(cfg->rtc_addr, "off") != 0 && net_parse_addr(cfg->rtc_addr, &ss) < 0)
        return bad(cfg, err, "rtc", cfg->rtc_addr, "is not ADDR:PORT (e.g. 0.0.0.0:7880) or off");
    if (strcmp(cfg->ws_addr, "off") != 0 && net_parse_addr(cfg->ws_addr, &ss) < 0)
        return bad(cfg, err, "ws", cfg->ws_addr, "is not ADDR:PORT (e.g. 0.0.0.0:8081) or off");
    for (int i = 0; i < cfg->public_ips.n; i++) {
        struct in6_addr a6;
        const char *ip = cfg->public_ips.v[i];
        if (inet_pton(AF_INET, ip, &a6) != 1 && inet_pton(AF_INET6, ip, &a6) != 1)
            return bad(cfg, err, "public-ip", ip, "is not an IPv4 or IPv6 address");
    }
    for (int i = 0; i < cfg->trusted_proxies.n; i++) {
        struct proxy_net net;
        const char *v = cfg->trusted_proxies.v[i];
        if (proxy_net_parse(v, &net) == 0)
            continue;
        const char *why = "is not an IPv4 or IPv6 address or network (ADDR or ADDR/BITS with no "
                          "host bits set, e.g. 127.0.0.1, 10.0.0.0/8, fd00::/8)";
        char what[400];
        snprintf(what, sizeof(what), "%s", why);
        if (config_from_env(cfg, "trusted-proxy")) /* the variable may hold several */
            snprintf(what, sizeof(what), "has '%s', which %s", v, why);
        return bad(cfg, err, "trusted-proxy", v, what);
    }
    for (int i = 0; i < cfg->ws_origins.n; i++) {
        const char *v = cfg->ws_origins.v[i];
        if (origin_valid(v))
            continue;
        const char *why = "is not an origin: http:// or https:// and a host, with an optional "
                          "port, no path (e.g. https://example.org)";
        char what[400];
        snprintf(what, sizeof(what), "%s", why);
        if (config_from_env(cfg, "ws-origin"))
            snprintf(what, sizeof(what), "has '%s', which %s", v, why);
        return bad(cfg, err, "ws-origin", v, what);
    }
    for (int i = 0; i < cfg->ice_servers.n; i++) {
        char url[256], user[128], pass[128];
        const char *v = cfg->ice_servers.v[i];
        int n = config_ice_server(v, url, user, pass);
        if (n != 1 && n != 3)
            return bad(cfg, err, "ice-server", v,
                       "is not 'stun:HOST[:PORT]' or 'turn:HOST[:PORT][?transport=udp|tcp] USER "
                       "PASSWORD' (no quotes, angle brackets or commas)");
    }
    if (db[0] && strncmp(db, "sqlite:", 7) != 0 && strncmp(db, "postgres://", 11) != 0 &&
        strncmp(db, "postgresql://", 13) != 0)
        return bad(cfg, err, "db", db, "is not sqlite:PATH or postgres://...");
    if (!cfg->data_dir[0])
        return bad(cfg, err, "data", "", "does not name a directory");
    struct stat wd;
    if (cfg->web_dir[0] && (stat(cfg->web_dir, &wd) < 0 || !S_ISDIR(wd.st_mode)))
        return bad(cfg, err, "web-dir", cfg->web_dir, "is not a directory");
    if (!preset_valid(cfg->x264_preset))
        return bad(cfg, err, "x264-preset", cfg->x264_preset,
                   "is not one of ultrafast, superfast, veryfast, faster, fast, medium, slow, "
                   "slower, veryslow");
    if (st[0] && strncmp(st, "file:", 5) != 0 && strncmp(st, "s3://", 5) != 0)
        return bad(cfg, err, "storage", st, "is not file:DIR or s3://BUCKET/PREFIX");
    if (strcmp(cfg->over_budget, "passthrough") != 0 && strcmp(cfg->over_budget, "refuse") != 0)
        return bad(cfg, err, "over-budget", cfg->over_budget, "is not passthrough or refuse");
    if (log_parse_level(cfg->log_level, &lvl) < 0)
        return bad(cfg, err, "log-level", cfg->log_level, "is not debug, info, warn or error");
    for (int i = 0; i < cfg->webhook_urls.n; i++) {
        const char *u = cfg->webhook_urls.v[i];
        if (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0)
            continue;
        /* The variable may carry several URLs (comma-separated): say which one is wrong. */
        char what[600] = "is not an http:// or https:// URL";
        if (config_from_env(cfg, "webhook"))
            snprintf(what, sizeof(what), "has '%s', which is not an http:// or https:// URL", u);
        return bad(cfg, err, "webhook", u, what);
    }
    return 0;
}

/* The numeric flags and their ranges. */
static int check_numbers(const struct config *cfg, FILE *err)
{
    struct {
        const char *name;
        double v, min, max;
        const char *range;
    } const nums[] = {
        {"part", cfg->part_seconds, 0.1, 2, "0.1 to 2 seconds"},
        {"record-chunk", cfg->record_chunk, 1, 86400, "1 to 86400 seconds"},
        {"link-lifetime", cfg->link_lifetime, 1, 2592000, "1 to 2592000 seconds"},
        {"idle-timeout", cfg->idle_timeout, 0.5, INFINITY, "0.5 seconds or more"},
        {"hls-linger", cfg->hls_linger, 0, INFINITY, "0 seconds or more"},
        {"stop-grace", cfg->stop_grace, 0, INFINITY, "0 seconds or more"},
        {"http-threads", cfg->http_threads, 1, 64, "1 to 64"},
        {"http-max-connections", cfg->http_max_connections, 0, 1000000, "0 to 1000000"},
        {"http-max-connections-per-address", cfg->http_max_connections_per_address, 0, INFINITY,
         "0 or more"},
        {"http-request-timeout", cfg->http_request_timeout, 1, 3600, "1 to 3600 seconds"},
        {"max-connections", cfg->max_connections, 1, INFINITY, "1 or more"},
        {"max-connections-per-address", cfg->max_connections_per_address, 0, INFINITY, "0 or more"},
        {"publish-timeout", cfg->publish_timeout, 1, 3600, "1 to 3600 seconds"},
        {"cpu-budget", cfg->cpu_budget, 0, 100, "0 to 100 percent"},
        {"voice-slots", cfg->voice_slots, 1, 15, "1 to 15"},
        {"voice-rejoin", cfg->voice_rejoin, 1, 3600, "1 to 3600 seconds"},
    };
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        if (nums[i].v >= nums[i].min && nums[i].v <= nums[i].max)
            continue;
        char w[160];
        fprintf(err, "kibitka: %s is out of range (%s)\n",
                given_num(cfg, nums[i].name, nums[i].v, w, sizeof(w)), nums[i].range);
        return -EINVAL;
    }
    return 0;
}

int config_check(const struct config *cfg, FILE *err)
{
    return check_text(cfg, err) < 0 || check_numbers(cfg, err) < 0 ? -EINVAL : 0;
}

/* Writes text as " word word...", the cursor being at column indent, wrapping at width with
 * continuation lines indented to the same column. */
static void print_wrapped(FILE *out, const char *text, int indent, int width)
{
    int col = indent;
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, ' ');
        int len = end ? (int)(end - p) : (int)strlen(p);
        if (col > indent && col + 1 + len > width) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
        }
        fprintf(out, " %.*s", len, p);
        col += len + 1;
        p += len;
        while (*p == ' ')
            p++;
    }
    fprintf(out, "\n");
}

bool config_wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h"))
            return true;
        if (strncmp(a, "--", 2) != 0 || strchr(a, '='))
            continue;
        const struct flag *f = find_flag(a + 2, strlen(a + 2));
        if (f && f->type != FLAG_BOOL)
            i++; /* its value, even one spelled "-h" */
    }
    return false;
}

static void print_flags(FILE *out)
{
    for (size_t i = 0; i < NFLAGS; i++) {
        const struct flag *f = &flags[i];
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", f->name, f->arg ? " " : "", f->arg ? f->arg : "");
        char text[512];
        snprintf(text, sizeof(text), "%s%s%s%s", f->help,
                 f->def && f->def[0] && f->type != FLAG_BOOL ? " (default " : "",
                 f->def && f->def[0] && f->type != FLAG_BOOL ? f->def : "",
                 f->def && f->def[0] && f->type != FLAG_BOOL ? ")" : "");
        fprintf(out, "  %-26s", left);
        print_wrapped(out, text, 28, 100);
    }
    fprintf(out, "  %-26s", "--help, -h");
    print_wrapped(out, "print this help and exit", 28, 100);
}

void config_print_help(FILE *out)
{
    fprintf(out,
            "usage: kibitka [serve] [FLAGS]\n\n"
            "Runs the server: RTMP in, LL-HLS out, recordings, the JSON API. It locks its data\n"
            "directory (DATA/lock, flock): a second server on the same --data refuses to start.\n\n"
            "flags (each also read from the environment as KIBITKA_<FLAG>, e.g.\n"
            "KIBITKA_OPEN_PUBLISH=1; the command line wins):\n");
    print_flags(out);
    fprintf(out,
            "\nURLs:\n"
            "  publish  rtmp://HOST:1935/live/<key>     (OBS: server rtmp://HOST/live, the key "
            "from stream add)\n"
            "  watch    http://HOST:8080/hls/<name>/index.m3u8\n"
            "  health   http://HOST:8080/health    metrics  http://HOST:8080/metrics\n"
            "\nSIGTERM or SIGINT stops gracefully: playlists end with #EXT-X-ENDLIST, exit 0.\n");
}

char *config_db_url(const struct config *cfg)
{
    if (cfg->db_url[0])
        return xstrdup(cfg->db_url);
    size_t n = strlen(cfg->data_dir) + 32;
    char *url = xmalloc(n);
    snprintf(url, n, "sqlite:%s/kibitka.db", cfg->data_dir);
    return url;
}

char *config_storage_url(const struct config *cfg)
{
    if (cfg->storage_url[0])
        return xstrdup(cfg->storage_url);
    size_t n = strlen(cfg->data_dir) + 32;
    char *url = xmalloc(n);
    snprintf(url, n, "file:%s/recordings", cfg->data_dir);
    return url;
}

char *config_spool_dir(const struct config *cfg)
{
    size_t n = strlen(cfg->data_dir) + 16;
    char *dir = xmalloc(n);
    snprintf(dir, n, "%s/spool", cfg->data_dir);
    return dir;
}

void config_free(struct config *cfg)
{
    for (size_t i = 0; i < NFLAGS; i++)
        if (flags[i].type == FLAG_STR)
            xfreep((char *)cfg + flags[i].offset);
        else if (flags[i].type == FLAG_STR_LIST)
            list_clear((struct config_list *)((char *)cfg + flags[i].offset));
}

int config_ice_server(const char *v, char url[256], char user[128], char pass[128])
{
    url[0] = user[0] = pass[0] = '\0';
    if (strpbrk(v, "\"<>,\\") || strlen(v) > 500)
        return -1;
    char extra[8];
    int n = sscanf(v, "%255s %127s %127s %7s", url, user, pass, extra);
    if (n != 1 && n != 3)
        return -1;
    bool turn = strncmp(url, "turn:", 5) == 0 || strncmp(url, "turns:", 6) == 0;
    bool stun = strncmp(url, "stun:", 5) == 0 || strncmp(url, "stuns:", 6) == 0;
    if (!turn && !stun)
        return -1;
    return n;
}
