/* The voice rooms' join check: see room_access.h. */
#include "sfu/room_access.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/pwpool.h"
#include "auth/room_token.h"
#include "auth/secret.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/hub.h"
#include "core/log.h"

struct room_access {
    struct db *db;
    struct pwpool *pool;
    pthread_mutex_t key_lock;
    bool key_loaded; /* under key_lock */
    unsigned char key[ROOM_TOKEN_KEY_LEN];
};

struct job {
    struct room_access *ra;
    char room[SFU_NAME_MAX + 1];
    bool room_ok;  /* the name fitted and is a valid room name */
    char *token;   /* NULL: none or too long */
    bool too_long; /* longer than ROOM_TOKEN_MAX */
    char display[SFU_NAME_MAX + 1];
    sfu_access_done done;
    void *ctx;
};

int64_t room_access_user_number(const char *user_id)
{
    int64_t v = 0;
    for (int i = 0; i < 15 && user_id && user_id[i]; i++) {
        char c = user_id[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0;
        v = v << 4 | d;
    }
    return v ? v : 1;
}

static int load_key(struct room_access *ra, unsigned char key[ROOM_TOKEN_KEY_LEN])
{
    int rc = 0;
    pthread_mutex_lock(&ra->key_lock);
    if (!ra->key_loaded) {
        rc = room_token_key_load(ra->db, ra->key);
        ra->key_loaded = rc == 0;
    }
    if (rc == 0)
        memcpy(key, ra->key, ROOM_TOKEN_KEY_LEN);
    pthread_mutex_unlock(&ra->key_lock);
    return rc;
}

static int fail(char *why, size_t len, int status, const char *msg)
{
    snprintf(why, len, "%s", msg);
    return status;
}

/* A database error other than "no such row" as the client sees it. */
static int db_failed(char *why, size_t len)
{
    return fail(why, len, -EIO, "the server cannot check the token now; try again");
}

/* The room row and whether the user (NULL: a guest) moderates it. */
static int room_of(struct room_access *ra, const char *name, struct db_room *r, char *why,
                   size_t len)
{
    int err = db_room_get(ra->db, name, r);
    if (err == -ENOENT)
        return fail(why, len, -ENOENT, "no such room");
    return err < 0 ? db_failed(why, len) : 0;
}

static void set_user(struct sfu_identity *id, const struct db_user *u, const struct db_room *r)
{
    snprintf(id->user, sizeof(id->user), "%s", u->name);
    id->user_id = room_access_user_number(u->id);
    id->moderator = u->role == DB_ROLE_ADMIN || !strcmp(r->owner_id, u->id);
}

/* An API token: the session's user; public rooms, or the user's own, or any for an admin. */
static int check_api_token(struct job *j, struct sfu_identity *id, char *why, size_t len)
{
    char hash[SECRET_HASH_LEN + 1];
    secret_hash(j->token, hash);
    struct db_user u = {0};
    struct db_room r = {0};
    int err = db_session_user(j->ra->db, hash, clock_wall_us(), &u);
    if (err == -ENOENT)
        err = fail(why, len, -EACCES, "the API token is invalid or has expired");
    else if (err < 0)
        err = db_failed(why, len);
    else if ((err = room_of(j->ra, j->room, &r, why, len)) == 0) {
        set_user(id, &u, &r);
        if (!r.is_public && !id->moderator)
            err = fail(why, len, -EPERM, "this room is private: join with a token from its owner");
        snprintf(id->display, sizeof(id->display), "%s", j->display[0] ? j->display : u.name);
        id->may_speak = true;
    }
    db_user_clear(&u);
    db_room_clear(&r);
    return err;
}

/* A join token: signed for this room and not expired; the room and its user still there. */
static int check_join_token(struct job *j, struct sfu_identity *id, char *why, size_t len)
{
    unsigned char key[ROOM_TOKEN_KEY_LEN];
    struct room_token t;
    if (load_key(j->ra, key) < 0)
        return db_failed(why, len);
    int err = room_token_verify(key, j->token, j->room, clock_wall_us() / 1000000, &t);
    memset(key, 0, sizeof(key));
    if (err == -EKEYEXPIRED)
        return fail(why, len, err, "the token has expired");
    if (err == -EPERM)
        return fail(why, len, err, "the token is for another room");
    if (err < 0)
        return fail(why, len, -EACCES, "the token is not valid");
    struct db_room r = {0};
    struct db_user u = {0};
    if ((err = room_of(j->ra, j->room, &r, why, len)) == 0 && t.user_id[0]) {
        err = db_user_get_by_id(j->ra->db, t.user_id, &u);
        if (err == -ENOENT)
            err = fail(why, len, -EACCES, "the token's user no longer exists");
        else if (err < 0)
            err = db_failed(why, len);
        else
            set_user(id, &u, &r);
    }
    if (err == 0) {
        const char *display = t.display[0] ? t.display : j->display;
        snprintf(id->display, sizeof(id->display), "%s",
                 display[0]    ? display
                 : id->user[0] ? id->user
                               : "guest");
        id->may_speak = t.may_speak;
    }
    db_room_clear(&r);
    db_user_clear(&u);
    return err;
}

static int decide(struct job *j, struct sfu_identity *id, char *why, size_t len)
{
    memset(id, 0, sizeof(*id));
    snprintf(id->room, sizeof(id->room), "%s", j->room);
    if (!j->ra->db)
        return fail(why, len, -EIO, "voice rooms need a database (--db)");
    if (!j->room_ok)
        return fail(why, len, -ENOENT, "no such room");
    if (j->too_long)
        return fail(why, len, -EACCES, "the token is not valid");
    if (!j->token || !j->token[0])
        return fail(why, len, -EACCES, "a token is required");
    if (!strncmp(j->token, "tk_", 3))
        return check_api_token(j, id, why, len);
    return check_join_token(j, id, why, len);
}

static void job_free(struct job *j)
{
    if (j->token) {
        memset(j->token, 0, strlen(j->token));
        free(j->token);
    }
    free(j);
}

static void run(void *arg, bool cancelled)
{
    struct job *j = arg;
    struct sfu_identity id;
    char why[160];
    int status = cancelled ? fail(why, sizeof(why), -ECANCELED, "the server is stopping")
                           : decide(j, &id, why, sizeof(why));
    if (status == -EIO)
        log_warn("auth", j->room, "a join could not be checked: the database failed");
    j->done(j->ctx, status, status == 0 ? &id : NULL, status == 0 ? "" : why);
    job_free(j);
}

struct room_access *room_access_create(struct db *db)
{
    struct room_access *ra = xcalloc(1, sizeof(*ra));
    ra->db = db;
    pthread_mutex_init(&ra->key_lock, NULL);
    ra->pool = pwpool_create(1, ROOM_ACCESS_QUEUE);
    if (!ra->pool) {
        log_error("auth", NULL, "cannot start the room access worker");
        room_access_destroy(&ra);
    }
    return ra;
}

void room_access_destroy(struct room_access **pra)
{
    struct room_access *ra = *pra;
    if (!ra)
        return;
    pwpool_destroy(&ra->pool);
    pthread_mutex_destroy(&ra->key_lock);
    memset(ra->key, 0, sizeof(ra->key));
    free(ra);
    *pra = NULL;
}

void room_access_check(void *opaque, const char *room, const char *token, const char *display,
                       sfu_access_done done, void *ctx)
{
    struct room_access *ra = opaque;
    struct job *j = xcalloc(1, sizeof(*j));
    j->ra = ra;
    j->done = done;
    j->ctx = ctx;
    size_t rlen = room ? strnlen(room, SFU_NAME_MAX + 1) : 0;
    j->room_ok = rlen <= SFU_NAME_MAX && room && hub_name_valid(room);
    if (rlen <= SFU_NAME_MAX && room)
        memcpy(j->room, room, rlen + 1);
    size_t tlen = token ? strnlen(token, ROOM_TOKEN_MAX + 1) : 0;
    j->too_long = tlen > ROOM_TOKEN_MAX;
    if (token && !j->too_long)
        j->token = xstrdup(token);
    room_display_clean(display, j->display);
    if (pwpool_submit(ra->pool, run, j) < 0) {
        j->done(j->ctx, -EAGAIN, NULL, "the server is busy; try again");
        job_free(j);
    }
}
