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

static int usage(void)
{
    fprintf(stderr, "usage:\n"
                    "  kibitka user add NAME [--admin] --password-stdin [--data DIR] [--db URL]\n"
                    "  kibitka user list [--data DIR] [--db URL]\n"
                    "  kibitka stream add --user NAME --name STREAM [--data DIR] [--db URL]\n");
    return 2;
}

static int parse(int argc, char **argv, struct cli_args *a)
{
    memset(a, 0, sizeof(*a));
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        bool has_value = i + 1 < argc;
        if (!strcmp(s, "--admin")) {
            a->admin = true;
        } else if (!strcmp(s, "--password-stdin")) {
            a->password_stdin = true;
        } else if ((!strcmp(s, "--data") || !strcmp(s, "--db")) && has_value && a->ndb < 4) {
            a->db_flags[a->ndb++] = argv[i];
            a->db_flags[a->ndb++] = argv[++i];
        } else if (!strcmp(s, "--user") && has_value) {
            a->user = argv[++i];
        } else if (!strcmp(s, "--name") && has_value) {
            a->stream = argv[++i];
        } else if (s[0] != '-' && !a->name) {
            a->name = s;
        } else {
            fprintf(stderr, "kibitka: unexpected argument '%s'\n", s);
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
        return usage();
    if (!hub_name_valid(a->name)) {
        fprintf(stderr, "kibitka: user names are 1 to 64 characters of a-z 0-9 _ -\n");
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
    if (a->name || open_db(a, &db) < 0)
        return a->name ? usage() : 1;
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
    if (!a->user || !a->stream || a->name)
        return usage();
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

int cli_main(int argc, char **argv)
{
    struct cli_args a;
    if (argc < 2 || parse(argc - 2, argv + 2, &a) < 0)
        return usage();
    log_set_level(LOG_WARN); /* the database's info lines (migrations) are not for this output */
    if (!strcmp(argv[0], "user") && !strcmp(argv[1], "add"))
        return user_add(&a);
    if (!strcmp(argv[0], "user") && !strcmp(argv[1], "list"))
        return user_list(&a);
    if (!strcmp(argv[0], "stream") && !strcmp(argv[1], "add"))
        return stream_add(&a);
    return usage();
}
