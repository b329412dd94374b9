/* The process configuration: every flag of `kibitka serve`, each also read from the environment
 * as KIBITKA_<FLAG> (dashes become underscores: --open-publish is KIBITKA_OPEN_PUBLISH). The
 * command line wins over the environment, which wins over the defaults.
 *
 * This is the only process-wide state the modules share; it is filled once at start and only
 * read after that. */
#ifndef KIBITKA_CORE_CONFIG_H
#define KIBITKA_CORE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* --ladder's default: the source passed through and three encoded rungs (the spec's grammar is
 * transcode/ladder.h's). */
#define CONFIG_LADDER_DEFAULT "source,720p:2500k,480p:1000k,360p:600k"

/* A repeatable flag's values, in order. Owned by the config. */
struct config_list {
    char **v;
    int n;
};

struct config {
    char *http_addr;  /* --http ADDR:PORT */
    char *rtmp_addr;  /* --rtmp ADDR:PORT */
    char *rtc_addr;   /* --rtc ADDR:PORT, or "off" */
    char *ws_addr;    /* --ws ADDR:PORT (voice signaling, path /rtc), or "off" */
    int voice_slots;  /* --voice-slots: speakers each voice member hears at once */
    int voice_rejoin; /* --voice-rejoin: seconds a dropped voice member keeps its place */
    struct config_list public_ips;  /* --public-ip IP, repeatable */
    struct config_list ice_servers; /* --ice-server 'URL [USER PASSWORD]', repeatable */
    char *data_dir;      /* --data DIR: the database file and, later, the recording spool */
    char *db_url;        /* --db: sqlite:PATH or postgres://...; "" = sqlite:DATA/kibitka.db */
    bool force_new_db;   /* --force-new-db: start on an empty database beside recordings */
    double part_seconds; /* --part: LL-HLS part target duration */
    char *cors_origin;   /* --cors-origin */
    char *web_dir;       /* --web-dir: serve the pages from it; "" = the embedded ones */
    bool open_publish;   /* --open-publish: the RTMP key is the stream name */
    char *ladder;        /* --ladder: "none" or a spec for transcode/ladder.h (checked by main) */
    char *x264_preset;   /* --x264-preset */
    int cpu_budget;      /* --cpu-budget: percent of the cores; past it new streams get no ladder */
    char *over_budget;   /* --over-budget: passthrough or refuse */
    bool no_record;      /* --no-record */
    char *storage_url;   /* --storage: file:DIR or s3://...; "" = file:DATA/recordings */
    double record_chunk; /* --record-chunk: seconds of media per recording chunk */

    /* --link-lifetime: the API's signed recording links work this long plus the duration */
    double link_lifetime;

    int64_t spool_max_bytes; /* --spool-max-bytes: recording pauses past this; 0 = no limit */
    char *log_level;         /* --log-level */
    double idle_timeout;     /* --idle-timeout: silent connection or publisher ends after this */
    double hls_linger;       /* --hls-linger: ended playlists stay served this long */
    double stop_grace;   /* --stop-grace: on SIGTERM, keep serving HTTP this long after ENDLIST */
    int http_threads;    /* --http-threads */
    int max_connections; /* --max-connections: RTMP connections at once */
    int max_connections_per_address; /* --max-connections-per-address: 0 = no limit */
    double publish_timeout;          /* --publish-timeout: from accept to publishing, seconds */
    /* HTTP connections (api/http_limits.h) */
    int http_max_connections;             /* --http-max-connections: 0 = from the fd limit */
    int http_max_connections_per_address; /* --http-max-connections-per-address: 0 = none */
    double http_request_timeout;          /* --http-request-timeout: seconds for a request */
    /* --trusted-proxy ADDR[/BITS], repeatable: peers whose X-Forwarded-For (or Forwarded) names
     * the client (core/proxy.h) */
    struct config_list trusted_proxies;
    /* --ws-origin scheme://host[:port], repeatable: the Origins the signaling accepts (none:
     * any) */
    struct config_list ws_origins;
    struct config_list webhook_urls; /* --webhook URL, repeatable (or comma-separated) */
    char *webhook_secret;            /* --webhook-secret: HMAC-SHA256 key of X-Kibitka-Signature */
    /* Bit i: the i-th flag's value came from its KIBITKA_ variable, not the command line, so an
     * error names what the user actually set (KIBITKA_PART=9, not --part 9). */
    uint64_t from_env;
};

/* Fills cfg with defaults. */
void config_defaults(struct config *cfg);
/* Applies KIBITKA_* environment variables, then argv (the flags after the subcommand).
 * On a bad flag or value, writes one line to err naming it and returns -EINVAL. */
int config_parse(struct config *cfg, int argc, char **argv, FILE *err);
/* Validates cross-flag rules and value ranges; writes the reason to err. */
int config_check(const struct config *cfg, FILE *err);
/* True when flag's value came from its KIBITKA_ variable (for messages that name it). */
bool config_from_env(const struct config *cfg, const char *flag);
/* The database URL: --db, or sqlite:DATA/kibitka.db when it is empty. The caller frees it. */
char *config_db_url(const struct config *cfg);
/* The store URL: --storage, or file:DATA/recordings when it is empty. The caller frees it. */
char *config_storage_url(const struct config *cfg);
/* DATA/spool, where recording chunks wait for the store. The caller frees it. */
char *config_spool_dir(const struct config *cfg);
/* True when argv (the flags after `serve`) holds --help or -h where a flag may stand (a flag's
 * value spelled "-h" is not a request for help). Checked before config_parse, so that help is
 * given even when a flag or a KIBITKA_ variable is wrong. */
bool config_wants_help(int argc, char **argv);
/* `kibitka serve --help`: usage, every flag with its default, the URLs. */
void config_print_help(FILE *out);
void config_free(struct config *cfg);

/* Splits an --ice-server value into its URL and, for TURN, username and password. Returns how
 * many parts it had (1 or 3), or -1 when it is not one (a scheme other than stun:, stuns:,
 * turn:, turns:; quotes, angle brackets, commas or backslashes, which a Link header cannot
 * carry as they are). */
int config_ice_server(const char *v, char url[256], char user[128], char pass[128]);

#endif
