/* The voice rooms' join check (sfu/room_access.h) on SQLite: join tokens for users and guests,
 * listen-only, expired, tampered, another room's, a deleted room or user; API tokens for public
 * and private rooms, as owner, admin and another user; the moderator flag; done always called
 * once, off the caller's thread, and with -ECANCELED for checks still queued at destroy. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sfu/room_access.h"
#include "auth/room_token.h"
#include "auth/secret.h"
#include "core/clock.h"
#include "test.h"

static struct db *db;
static struct room_access *ra;
static unsigned char key[ROOM_TOKEN_KEY_LEN];
static char owner_id[33], user_id[33], admin_id[33];

struct answer {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int calls;
    int status;
    struct sfu_identity id;
    char why[160];
    bool on_caller;
    pthread_t caller;
};

static void done(void *ctx, int status, const struct sfu_identity *id, const char *why)
{
    struct answer *a = ctx;
    pthread_mutex_lock(&a->lock);
    a->calls++;
    a->status = status;
    if (id)
        a->id = *id;
    snprintf(a->why, sizeof(a->why), "%s", why ? why : "(null)");
    a->on_caller = pthread_equal(pthread_self(), a->caller);
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->lock);
}

/* One check, waited for (generously: the machine may be loaded). */
static int check(const char *room, const char *token, const char *display, struct answer *a)
{
    memset(a, 0, sizeof(*a));
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->cond, NULL);
    a->caller = pthread_self();
    room_access_check(ra, room, token, display, done, a);
    pthread_mutex_lock(&a->lock);
    int64_t deadline = clock_mono_us() + 30000000;
    while (!a->calls && clock_mono_us() < deadline) {
        pthread_mutex_unlock(&a->lock);
        usleep(1000);
        pthread_mutex_lock(&a->lock);
    }
    pthread_mutex_unlock(&a->lock);
    CHECK_EQ_INT(a->calls, 1);
    CHECK(!a->on_caller);
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->cond);
    return a->status;
}

static void make_user(const char *name, enum db_role role, char id[33], char tok[SECRET_TEXT_MAX])
{
    struct db_user u = {.name = (char *)name, .password_hash = (char *)"x", .role = role};
    CHECK_EQ_INT(db_user_create(db, &u), 0);
    snprintf(id, 33, "%s", u.id);
    char hash[SECRET_HASH_LEN + 1];
    CHECK_EQ_INT(secret_new("tk_", tok, hash), 0);
    struct db_session s = {
        .token_hash = hash, .user_id = u.id, .expires_at = clock_wall_us() + 3600000000LL};
    CHECK_EQ_INT(db_session_create(db, &s), 0);
    free(u.id);
}

static void make_room(const char *name, const char *owner, bool is_public)
{
    struct db_room r = {.name = (char *)name, .owner_id = (char *)owner, .is_public = is_public};
    CHECK_EQ_INT(db_room_create(db, &r), 0);
    free(r.id);
}

static void mint(const char *room, const char *user, const char *uid, const char *display,
                 bool may_speak, int64_t ttl, char *out)
{
    struct room_token t = {.may_speak = may_speak, .expires_at = clock_wall_us() / 1000000 + ttl};
    snprintf(t.room, sizeof(t.room), "%s", room);
    snprintf(t.user, sizeof(t.user), "%s", user ? user : "");
    snprintf(t.user_id, sizeof(t.user_id), "%s", uid ? uid : "");
    snprintf(t.display, sizeof(t.display), "%s", display);
    CHECK(room_token_make(key, &t, out, ROOM_TOKEN_MAX) > 0);
}

static char owner_tok[SECRET_TEXT_MAX], user_tok[SECRET_TEXT_MAX], admin_tok[SECRET_TEXT_MAX];

static void join_tokens(void)
{
    struct answer a;
    char tok[ROOM_TOKEN_MAX];
    /* a user's token: identity from it; the display the client asked for loses to the token's */
    mint("lobby", "user", user_id, "Ursula", true, 60, tok);
    CHECK_EQ_INT(check("lobby", tok, "Someone Else", &a), 0);
    CHECK_STREQ(a.id.room, "lobby");
    CHECK_STREQ(a.id.user, "user");
    CHECK_EQ_INT(a.id.user_id, room_access_user_number(user_id));
    CHECK(a.id.user_id != 0);
    CHECK_STREQ(a.id.display, "Ursula");
    CHECK(a.id.may_speak);
    CHECK(!a.id.moderator);
    /* into a private room too: the token is the owner's invitation */
    mint("backstage", "user", user_id, "Ursula", true, 60, tok);
    CHECK_EQ_INT(check("backstage", tok, NULL, &a), 0);
    /* the owner's own token: moderator; an admin's: moderator */
    mint("backstage", "owner", owner_id, "Boss", true, 60, tok);
    CHECK_EQ_INT(check("backstage", tok, NULL, &a), 0);
    CHECK(a.id.moderator);
    mint("lobby", "admin", admin_id, "Root", true, 60, tok);
    CHECK_EQ_INT(check("lobby", tok, NULL, &a), 0);
    CHECK(a.id.moderator);
    /* a guest, listen-only */
    mint("backstage", NULL, NULL, "Visitor", false, 60, tok);
    CHECK_EQ_INT(check("backstage", tok, "Mallory", &a), 0);
    CHECK_STREQ(a.id.user, "");
    CHECK_EQ_INT(a.id.user_id, 0);
    CHECK_STREQ(a.id.display, "Visitor");
    CHECK(!a.id.may_speak);
    CHECK(!a.id.moderator);

    /* refusals, each with its reason */
    mint("lobby", "user", user_id, "U", true, -1, tok);
    CHECK_EQ_INT(check("lobby", tok, NULL, &a), -EKEYEXPIRED);
    CHECK_STREQ(a.why, "the token has expired");
    mint("lobby", "user", user_id, "U", true, 60, tok);
    CHECK_EQ_INT(check("backstage", tok, NULL, &a), -EPERM);
    CHECK_STREQ(a.why, "the token is for another room");
    tok[3] = tok[3] == 'A' ? 'B' : 'A';
    CHECK_EQ_INT(check("lobby", tok, NULL, &a), -EACCES);
    CHECK_STREQ(a.why, "the token is not valid");
    CHECK(strstr(a.why, tok) == NULL);
    CHECK_EQ_INT(check("lobby", "", NULL, &a), -EACCES);
    CHECK_STREQ(a.why, "a token is required");
    CHECK_EQ_INT(check("lobby", NULL, NULL, &a), -EACCES);
    char huge[ROOM_TOKEN_MAX + 10];
    memset(huge, 'A', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    CHECK_EQ_INT(check("lobby", huge, NULL, &a), -EACCES);
    /* no such room: a bad name, one never made, one deleted after the token was minted */
    CHECK_EQ_INT(check("No Room!", tok, NULL, &a), -ENOENT);
    CHECK_STREQ(a.why, "no such room");
    CHECK_EQ_INT(check(NULL, tok, NULL, &a), -ENOENT);
    make_room("gone", owner_id, true);
    mint("gone", NULL, NULL, "G", true, 60, tok);
    CHECK_EQ_INT(check("gone", tok, NULL, &a), 0);
    CHECK_EQ_INT(db_room_delete(db, "gone"), 0);
    CHECK_EQ_INT(check("gone", tok, NULL, &a), -ENOENT);
}

static void api_tokens(void)
{
    struct answer a;
    /* a public room: any logged-in user, the client's display (cleaned) or the user's name */
    CHECK_EQ_INT(check("lobby", user_tok, " Uschi\n", &a), 0);
    CHECK_STREQ(a.id.user, "user");
    CHECK_STREQ(a.id.display, "Uschi");
    CHECK(a.id.may_speak);
    CHECK(!a.id.moderator);
    CHECK_EQ_INT(check("lobby", user_tok, NULL, &a), 0);
    CHECK_STREQ(a.id.display, "user");
    /* a private room: not for another user, yes for its owner and admins */
    CHECK_EQ_INT(check("backstage", user_tok, NULL, &a), -EPERM);
    CHECK_STREQ(a.why, "this room is private: join with a token from its owner");
    CHECK_EQ_INT(check("backstage", owner_tok, NULL, &a), 0);
    CHECK(a.id.moderator);
    CHECK_EQ_INT(check("backstage", admin_tok, NULL, &a), 0);
    CHECK(a.id.moderator);
    CHECK_EQ_INT(check("nowhere", user_tok, NULL, &a), -ENOENT);
    /* a token that is not (or no longer) a session */
    CHECK_EQ_INT(check("lobby", "tk_not-a-session", NULL, &a), -EACCES);
    CHECK_STREQ(a.why, "the API token is invalid or has expired");
}

static void deleted_user(void)
{
    struct answer a;
    char tok[ROOM_TOKEN_MAX], id[33], session[SECRET_TEXT_MAX];
    make_user("leaver", DB_ROLE_USER, id, session);
    mint("lobby", "leaver", id, "L", true, 60, tok);
    CHECK_EQ_INT(check("lobby", tok, NULL, &a), 0);
    CHECK_EQ_INT(db_user_delete(db, "leaver"), 0);
    CHECK_EQ_INT(check("lobby", tok, NULL, &a), -EACCES);
    CHECK_STREQ(a.why, "the token's user no longer exists");
    CHECK_EQ_INT(check("lobby", session, NULL, &a), -EACCES);
}

/* Checks queued at destroy are each answered once, with -ECANCELED or their real answer. */
static int stop_calls, stop_cancelled, stop_ok;
static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
static void stop_done(void *ctx, int status, const struct sfu_identity *id, const char *why)
{
    (void)ctx, (void)id, (void)why;
    pthread_mutex_lock(&stop_lock);
    stop_calls++;
    stop_cancelled += status == -ECANCELED;
    stop_ok += status == 0;
    pthread_mutex_unlock(&stop_lock);
}

static void destroy_with_queue(void)
{
    for (int i = 0; i < 50; i++)
        room_access_check(ra, "lobby", user_tok, NULL, stop_done, NULL);
    room_access_destroy(&ra);
    CHECK(ra == NULL);
    /* how many ran before the destroy depends on the scheduler; each got exactly one answer */
    CHECK_EQ_INT(stop_calls, 50);
    CHECK_EQ_INT(stop_ok + stop_cancelled, 50);
    fprintf(stderr, "destroy: %d checks answered, %d cancelled\n", stop_ok, stop_cancelled);
}

int main(void)
{
    char dir[] = "/tmp/kibitka-room-access-XXXXXX", url[128], path[128];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(url, sizeof(url), "sqlite:%s/k.db", dir);
    CHECK_EQ_INT(db_open(url, &db), 0);
    CHECK_EQ_INT(room_token_key_load(db, key), 0);
    make_user("owner", DB_ROLE_USER, owner_id, owner_tok);
    make_user("user", DB_ROLE_USER, user_id, user_tok);
    make_user("admin", DB_ROLE_ADMIN, admin_id, admin_tok);
    make_room("lobby", owner_id, true);
    make_room("backstage", owner_id, false);
    ra = room_access_create(db);
    CHECK(ra != NULL);
    join_tokens();
    api_tokens();
    deleted_user();
    destroy_with_queue();
    db_close(&db);
    const char *suffix[] = {"", "-wal", "-shm", "-reserve"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/k.db%s", dir, suffix[i]);
        unlink(path);
    }
    rmdir(dir);
    return test_report("test_room_access");
}
