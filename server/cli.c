/* kibitka user add NAME [--admin] --password-stdin | user list
 * kibitka stream add --user NAME --name STREAM
 * each with [--data DIR] [--db URL]. */
#include "server/cli.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/password.h"
#include "auth/secret.h"
#include "core/config.h"
#include "core/hub.h"
#include "core/log.h"
#include "db/db.h"

struct cli_args {
    const char *name; /* the positional NAME of `user add` */
    const char *user, *stream;
    bool admin, password_stdin;
    char *db_flags[4]; /* --data/--db pairs, handed to config_parse */
    int ndb;
};

/* What each subcommand accepts: its usage line and its arguments. */
struct subcommand {
    const char *group, *name, *usage, *about, *args;
};

#define DB_ARGS                                                                                    \
    "  --data DIR          the data directory; its database by default (default ./kibitka-data,\n" \
    "                      or KIBITKA_DATA)\n"                                                     \
    "  --db URL            sqlite:PATH or postgres://USER@HOST:PORT/DB (default\n"                 \
    "                      sqlite:DATA/kibitka.db, or KIBITKA_DB)\n"                               \
    "  --help, -h          print this help and exit\n"

static const struct subcommand subcommands[] = {
    {"user", "add", "kibitka user add NAME [--admin] --password-stdin [--data DIR] [--db URL]",
     "Adds a user. The password is one line on stdin (at least 8 characters), so it shows\n"
     "neither in ps nor in the shell's history: echo \"$PW\" | kibitka user add ann "
     "--password-stdin\n",
     "  NAME                1 to 64 characters of a-z 0-9 _ -\n"
     "  --admin             give the user the admin role (every user's streams and recordings)\n"
     "  --password-stdin    read the password from stdin (required)\n" DB_ARGS},
    {"user", "list", "kibitka user list [--data DIR] [--db URL]",
     "Lists the users, one per line: name, a tab, role.\n", DB_ARGS},
    {"stream", "add", "kibitka stream add --user NAME --name STREAM [--data DIR] [--db URL]",
     "Adds a stream owned by a user, recorded by default, and prints its stream key (the only\n"
     "time it is shown): publish to rtmp://HOST:1935/live/<key>.\n",
     "  --user NAME         the owner, an existing user\n"
     "  --name STREAM       the stream's name in URLs: 1 to 64 characters of a-z 0-9 _ "
     "-\n" DB_ARGS},
};

#define NSUB (sizeof(subcommands) / sizeof(subcommands[0]))

static const char *const cli_note =
    "\nThese commands only use the database (no spool, no recordings), so they may run while a\n"
    "server runs on the same --data; they do not take the data directory's lock.\n";

static const struct subcommand *find_sub(const char *group, const char *name)
{
    for (size_t i = 0; i < NSUB; i++)
        if (!strcmp(subcommands[i].group, group) && name && !strcmp(subcommands[i].name, name))
            return &subcommands[i];
    return NULL;
}

/* The usage lines of group ("user", "stream"), or of every subcommand when group is NULL. */
static void print_usages(FILE *out, const char *group)
{
    fprintf(out, "usage:\n");
    for (size_t i = 0; i < NSUB; i++)
        if (!group || !strcmp(subcommands[i].group, group))
            fprintf(out, "  %s\n", subcommands[i].usage);
}

static void print_sub_help(const struct subcommand *sc)
{
    printf("usage: %s\n\n%s\n%s%s", sc->usage, sc->about, sc->args, cli_note);
}

static int usage(const char *group)
{
    print_usages(stderr, group);
    fprintf(stderr, "(kibitka %s SUBCOMMAND --help for more)\n", group ? group : "COMMAND");
    return 2;
}

int cli_help(int argc, char **argv)
{
    const struct subcommand *sc = argc >= 2 ? find_sub(argv[0], argv[1]) : NULL;
    if (sc) {
        print_sub_help(sc);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "--help") && strcmp(argv[1], "-h")) {
        fprintf(stderr, "kibitka: %s has no subcommand '%s'\n", argv[0], argv[1]);
        return usage(argv[0]);
    }
    print_usages(stdout, argv[0]);
    printf("\nkibitka %s SUBCOMMAND --help: what each one accepts.\n%s", argv[0], cli_note);
    return 0;
}

static bool is_help(const char *s)
{
    return !strcmp(s, "--help") || !strcmp(s, "-h");
}

/* Takes "--flag VALUE" or "--flag=VALUE" at argv[*i]; *val is NULL when s is not that flag. */
static bool take_value(int argc, char **argv, int *i, const char *flag, const char **val)
{
    const char *s = argv[*i];
    size_t n = strlen(flag);
    if (strncmp(s, flag, n) != 0 || (s[n] != '\0' && s[n] != '='))
        return false;
    if (s[n] == '=')
        *val = s + n + 1;
    else if (*i + 1 < argc)
        *val = argv[++*i];
    else
        *val = NULL;
    return true;
}

/* True when args ask for help: --help or -h where a flag may stand (not as a flag's value). */
static bool wants_help(int argc, char **argv)
{
    static const char *const valued[] = {"--data", "--db", "--user", "--name"};
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i]))
            return true;
        for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]); k++)
            if (!strcmp(argv[i], valued[k])) {
                i++; /* its value, even one spelled -h */
                break;
            }
    }
    return false;
}

static int parse(int argc, char **argv, struct cli_args *a)
{
    memset(a, 0, sizeof(*a));
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i], *v = NULL;
        bool ok = true;
        if (!strcmp(s, "--admin")) {
            a->admin = true;
        } else if (!strcmp(s, "--password-stdin")) {
            a->password_stdin = true;
        } else if (take_value(argc, argv, &i, "--data", &v) ||
                   take_value(argc, argv, &i, "--db", &v)) {
            ok = v && a->ndb < 4;
            if (ok) {
                a->db_flags[a->ndb++] = strncmp(s, "--data", 6) == 0 ? "--data" : "--db";
                a->db_flags[a->ndb++] = (char *)v;
            }
        } else if (take_value(argc, argv, &i, "--user", &v)) {
            ok = (a->user = v) != NULL;
        } else if (take_value(argc, argv, &i, "--name", &v)) {
            ok = (a->stream = v) != NULL;
        } else if (s[0] != '-' && !a->name) {
            a->name = s;
        } else {
            fprintf(stderr, "kibitka: unexpected argument '%s'\n", s);
            return -EINVAL;
        }
        if (!ok) {
            fprintf(stderr, "kibitka: %s needs a value (once)\n", s);
            return -EINVAL;
        }
    }
    return 0;
}

static int open_db(struct cli_args *a, struct db **db)
{
    struct config cfg;
    config_defaults(&cfg);
    int rc = config_parse(&cfg, a->ndb, a->db_flags, stderr);
    if (rc == 0)
        rc = config_check(&cfg, stderr);
    if (rc == 0) {
        char *url = config_db_url(&cfg);
        rc = db_open(url, db);
        if (rc < 0)
            fprintf(stderr, "kibitka: cannot open the database %s: %s\n", url, strerror(-rc));
        free(url);
    }
    config_free(&cfg);
    return rc;
}

/* One line from stdin without its line break; NULL at EOF. */
static char *read_password(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

static int user_add(struct cli_args *a)
{
    if (!a->name || !a->password_stdin)
        return usage("user");
    if (!hub_name_valid(a->name)) {
        fprintf(stderr, "kibitka: user names are 1 to 64 characters of a-z 0-9 _ -\n");
        return 2;
    }
    if (db_user_name_reserved(a->name)) {
        fprintf(stderr, "kibitka: user %s: " DB_USER_NAME_RESERVED_MSG "\n", a->name);
        return 2;
    }
    char *pw = read_password();
    if (!pw || strlen(pw) < 8) {
        fprintf(stderr, "kibitka: the password (one line on stdin) must have at least 8 "
                        "characters\n");
        free(pw);
        return 2;
    }
    char hash[PASSWORD_HASH_MAX];
    int rc = password_init() == 0 ? password_hash(pw, hash) : -EIO;
    sodium_memzero(pw, strlen(pw));
    free(pw);
    struct db *db = NULL;
    if (rc == 0)
        rc = open_db(a, &db);
    if (rc < 0)
        return 1;
    struct db_user u = {.name = (char *)a->name,
                        .password_hash = hash,
                        .role = a->admin ? DB_ROLE_ADMIN : DB_ROLE_USER};
    rc = db_user_create(db, &u);
    if (rc == -EEXIST)
        fprintf(stderr, "kibitka: user '%s' already exists\n", a->name);
    else if (rc < 0)
        fprintf(stderr, "kibitka: cannot create user '%s': %s\n", a->name, strerror(-rc));
    else
        printf("user %s created (%s)\n", a->name, db_role_name(u.role));
    free(u.id);
    db_close(&db);
    return rc < 0 ? 1 : 0;
}

static int user_list(struct cli_args *a)
{
    struct db *db = NULL;
    if (open_db(a, &db) < 0)
        return 1;
    struct db_user *users = NULL;
    size_t n = 0;
    int rc = db_user_list(db, &users, &n);
    if (rc < 0)
        fprintf(stderr, "kibitka: cannot list users: %s\n", strerror(-rc));
    for (size_t i = 0; i < n; i++)
        printf("%s\t%s\n", users[i].name, db_role_name(users[i].role));
    db_user_list_free(&users, n);
    db_close(&db);
    return rc < 0 ? 1 : 0;
}

static int stream_add(struct cli_args *a)
{
    if (!a->user || !a->stream)
        return usage("stream");
    if (!hub_name_valid(a->stream)) {
        fprintf(stderr, "kibitka: stream names are 1 to 64 characters of a-z 0-9 _ -\n");
        return 2;
    }
    struct db *db = NULL;
    if (open_db(a, &db) < 0)
        return 1;
    struct db_user u = {0};
    char key[SECRET_TEXT_MAX], hash[SECRET_HASH_LEN + 1];
    int rc = db_user_get(db, a->user, &u);
    if (rc == -ENOENT)
        fprintf(stderr, "kibitka: no user '%s'\n", a->user);
    else if (rc == 0 && (rc = secret_new("sk_", key, hash)) == 0) {
        struct db_stream st = {
            .name = (char *)a->stream, .owner_id = u.id, .key_hash = hash, .record = true};
        rc = db_stream_create(db, &st);
        if (rc == -EEXIST)
            fprintf(stderr, "kibitka: stream '%s' already exists\n", a->stream);
        else if (rc == 0)
            printf("%s\n", key); /* the only time the key is shown */
        free(st.id);
    }
    if (rc < 0 && rc != -ENOENT && rc != -EEXIST)
        fprintf(stderr, "kibitka: cannot create stream '%s': %s\n", a->stream, strerror(-rc));
    db_user_clear(&u);
    db_close(&db);
    return rc < 0 ? 1 : 0;
}

/* Refuses what was given that sc does not take (its usage line is the list). */
static int check_takes(const struct cli_args *a, const struct subcommand *sc)
{
    const char *extra = a->admin && !strstr(sc->usage, "--admin") ? "--admin"
                        : a->password_stdin && !strstr(sc->usage, "--password-stdin")
                            ? "--password-stdin"
                        : a->user && !strstr(sc->usage, "--user")   ? "--user"
                        : a->stream && !strstr(sc->usage, "--name") ? "--name"
                        : a->name && !strstr(sc->usage, "add NAME") ? a->name
                                                                    : NULL;
    if (!extra)
        return 0;
    fprintf(stderr, "kibitka: %s %s does not take '%s'\n", sc->group, sc->name, extra);
    return -EINVAL;
}

int cli_main(int argc, char **argv)
{
    if (argc < 2)
        return usage(argv[0]);
    if (is_help(argv[1]))
        return cli_help(1, argv);
    const struct subcommand *sc = find_sub(argv[0], argv[1]);
    if (!sc) {
        fprintf(stderr, "kibitka: %s has no subcommand '%s'\n", argv[0], argv[1]);
        return usage(argv[0]);
    }
    if (wants_help(argc - 2, argv + 2)) {
        print_sub_help(sc);
        return 0;
    }
    struct cli_args a;
    if (parse(argc - 2, argv + 2, &a) < 0 || check_takes(&a, sc) < 0)
        return usage(argv[0]);
    log_set_level(LOG_WARN); /* the database's info lines (migrations) are not for this output */
    if (!strcmp(sc->group, "user") && !strcmp(sc->name, "add"))
        return user_add(&a);
    if (!strcmp(sc->group, "user") && !strcmp(sc->name, "list"))
        return user_list(&a);
    return stream_add(&a);
}
