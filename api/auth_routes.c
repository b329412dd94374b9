/* POST /api/auth/login, POST /api/auth/logout, GET and PATCH /api/me. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "auth/password.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

/* Characters, not bytes: a UTF-8 continuation byte does not start one. Jansson has already
 * checked the string is valid UTF-8. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

bool api_password_ok(struct api_call *c, const char *password, const char *field)
{
    if (utf8_chars(password) < 8) {
        api_fail(c, 400, "invalid_field", "field '%s' must be at least 8 characters", field);
        return false;
    }
    if (strlen(password) > 1024) {
        api_fail(c, 400, "invalid_field", "field '%s' must be at most 1024 bytes", field);
        return false;
    }
    return true;
}

/* 429 when the login rules (auth/login_limit.h) refuse username from this address now. */
static bool rate_limited(struct api_call *c, const char *username)
{
    int64_t wait = login_limit_check(c->api->logins, username, c->req->client, clock_mono_us());
    if (wait <= 0)
        return false;
    API_METRIC_ADD(c->api, logins_rate_limited_total, 1);
    c->resp->retry_after_s = (wait + 999999) / 1000000;
    api_fail(c, 429, "rate_limited", "too many failed logins; retry in %lld s",
             (long long)c->resp->retry_after_s);
    return true;
}

/* An argon2id hash of nothing anyone knows, verified when the user does not exist so that
 * both failures take the same time (no user enumeration by timing). */
static char dummy[PASSWORD_HASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void dummy_init(void)
{
    char pw[SECRET_TEXT_MAX], unused[SECRET_HASH_LEN + 1];
    if (password_init() < 0 || secret_new("x_", pw, unused) < 0 || password_hash(pw, dummy) < 0)
        dummy[0] = '\0'; /* verify then fails at once: only the timing hint is lost */
}

static const char *dummy_hash(void)
{
    pthread_once(&dummy_once, dummy_init);
    return dummy;
}

/* A call handed to the password pool (a login, a password change): everything it needs,
 * copied off the request; check runs on a pool thread and fills the response. */
struct pw_job {
    void (*check)(struct api_call *c, struct pw_job *j);
    struct api *api;
    struct api_response *resp;
    void (*done)(void *ctx);
    void *done_ctx;
    bool exists;         /* user holds the row */
    struct db_user user; /* owned */
    char *username, *password, *new_password, *client;
    char token_hash[SECRET_HASH_LEN + 1]; /* the caller's session (a password change keeps it) */
};

static char *secret_dup(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void secret_free(char *s)
{
    if (s)
        sodium_memzero(s, strlen(s));
    free(s);
}

static void pw_job_free(struct pw_job *j)
{
    db_user_clear(&j->user);
    free(j->username);
    secret_free(j->password);
    secret_free(j->new_password);
    free(j->client);
    free(j);
}

/* On a pool thread: the verify, then the session. */
static void login_check(struct api_call *c, struct pw_job *j)
{
    const char *hash = j->exists ? j->user.password_hash : dummy_hash();
    if (!password_verify(hash, j->password) || !j->exists) {
        login_limit_fail(c->api->logins, j->username, j->client, clock_mono_us());
        API_METRIC_ADD(c->api, logins_failed_total, 1);
        api_fail(c, 401, "invalid_credentials", "wrong username or password");
        return;
    }
    login_limit_success(c->api->logins, j->username, j->client);
    char token[SECRET_TEXT_MAX];
    struct db_session s = {.user_id = j->user.id, .expires_at = clock_wall_us() + API_SESSION_US};
    char hash_hex[SECRET_HASH_LEN + 1];
    s.token_hash = hash_hex;
    int err = secret_new("tk_", token, hash_hex);
    if (err == 0)
        err = db_session_create(c->api->db, &s);
    if (err < 0) {
        api_fail_db(c, err == -ENOENT ? -EIO : err, "session");
        return;
    }
    api_ok(c, 200,
           json_pack("{s:s,s:o,s:o}", "token", token, "expires_at", json_time(s.expires_at), "user",
                     api_user_json(&j->user)));
    log_info("api", NULL, "user '%s' logged in from %s", j->user.name, j->client);
}

static void pw_run(void *arg, bool cancelled)
{
    struct pw_job *j = arg;
    struct api_call c = {.api = j->api, .resp = j->resp};
    if (cancelled)
        api_fail(&c, 503, "unavailable", "the server is stopping");
    else
        j->check(&c, j);
    API_METRIC_ADD(j->api, logins_pending, -1);
    void (*done)(void *) = j->done;
    void *ctx = j->done_ctx;
    pw_job_free(j);
    done(ctx);
}

/* Hands j to the password pool (the call is then pending), or answers 503 + Retry-After when
 * its queue is full. Takes j either way. */
static void pw_submit(struct api_call *c, struct pw_job *j)
{
    j->api = c->api;
    j->resp = c->resp;
    j->done = c->req->done;
    j->done_ctx = c->req->done_ctx;
    j->client = xstrdup(c->req->client);
    /* Counted before the submit: the job may finish (and subtract) before submit returns. */
    API_METRIC_ADD(c->api, logins_pending, 1);
    if (pwpool_submit(c->api->pwpool, pw_run, j) == 0) {
        c->pending = true;
        return;
    }
    API_METRIC_ADD(c->api, logins_pending, -1);
    API_METRIC_ADD(c->api, logins_refused_total, 1);
    pw_job_free(j);
    c->resp->retry_after_s = 1;
    api_fail(c, 503, "unavailable", "too many password checks are waiting; retry in 1 s");
}

/* The rate limits and the user's row here; the argon2id verify on the password pool, so a
 * burst of logins waits there (or is refused when the queue is full) instead of holding the
 * HTTP threads that serve playlists. */
void api_auth_login(struct api_call *c)
{
    const char *username = json_body_str(c->body, "username");
    const char *password = json_body_str(c->body, "password");
    if (rate_limited(c, username))
        return;
    struct pw_job *j = xcalloc(1, sizeof(*j));
    int err = db_user_get(c->api->db, username, &j->user);
    if (err < 0 && err != -ENOENT) {
        pw_job_free(j);
        api_fail_db(c, err, "user");
        return;
    }
    j->check = login_check;
    j->exists = err == 0;
    j->username = xstrdup(username ? username : "");
    j->password = secret_dup(password ? password : "");
    pw_submit(c, j);
}

void api_auth_logout(struct api_call *c)
{
    int err = db_session_delete(c->api->db, c->token_hash);
    if (err < 0 && err != -ENOENT)
        api_fail_db(c, err, "session");
    else
        api_ok(c, 204, NULL);
}

void api_me_get(struct api_call *c)
{
    api_ok(c, 200, api_user_json(&c->user));
}

/* On a pool thread: the old password's verify, the new one's hash, then the rows. */
static void me_patch_check(struct api_call *c, struct pw_job *j)
{
    if (!password_verify(j->user.password_hash, j->password)) {
        login_limit_fail(c->api->logins, j->user.name, j->client, clock_mono_us());
        api_fail(c, 403, "invalid_credentials", "old_password is wrong");
        return;
    }
    if (!api_password_ok(c, j->new_password, "password"))
        return;
    char hash[PASSWORD_HASH_MAX];
    int err = password_hash(j->new_password, hash);
    if (err < 0) {
        api_fail(c, 500, "internal", "cannot hash the password");
        return;
    }
    err = db_user_update(c->api->db, j->user.name, hash, NULL);
    /* A new password ends every other session: whoever knew the old one is logged out. */
    if (err == 0)
        err = db_session_delete_user(c->api->db, j->user.id, j->token_hash);
    if (err < 0)
        api_fail_db(c, err, "user");
    else
        api_ok(c, 200, api_user_json(&j->user));
}

/* Two argon2id runs (verify the old password, hash the new one): on the password pool too. */
void api_me_patch(struct api_call *c)
{
    const char *old = json_body_str(c->body, "old_password");
    const char *pw = json_body_str(c->body, "password");
    if (rate_limited(c, c->user.name))
        return;
    struct pw_job *j = xcalloc(1, sizeof(*j));
    int err = db_user_get(c->api->db, c->user.name, &j->user); /* a copy the job owns */
    if (err < 0) {
        pw_job_free(j);
        api_fail_db(c, err, "user");
        return;
    }
    j->check = me_patch_check;
    j->exists = true;
    j->password = secret_dup(old ? old : "");
    j->new_password = secret_dup(pw ? pw : "");
    memcpy(j->token_hash, c->token_hash, sizeof(j->token_hash));
    pw_submit(c, j);
}
