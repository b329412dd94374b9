/* POST /api/auth/login, POST /api/auth/logout, GET and PATCH /api/me. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "api/internal.h"
#include "auth/password.h"
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

/* 429 when either the client address or the username has too many recent failures. */
static bool rate_limited(struct api_call *c, const char *username)
{
    int64_t now = clock_mono_us();
    int64_t a = ratelimit_check(c->api->fail_by_addr, c->req->client, now);
    int64_t u = ratelimit_check(c->api->fail_by_user, username, now);
    int64_t wait = a > u ? a : u;
    if (wait <= 0)
        return false;
    c->resp->retry_after_s = (wait + 999999) / 1000000;
    api_fail(c, 429, "rate_limited", "too many failed logins; retry in %lld s",
             (long long)c->resp->retry_after_s);
    return true;
}

static void count_failure(struct api_call *c, const char *username)
{
    int64_t now = clock_mono_us();
    ratelimit_fail(c->api->fail_by_addr, c->req->client, now);
    ratelimit_fail(c->api->fail_by_user, username, now);
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

void api_auth_login(struct api_call *c)
{
    const char *username = json_body_str(c->body, "username");
    const char *password = json_body_str(c->body, "password");
    if (rate_limited(c, username))
        return;
    struct db_user u = {0};
    int err = db_user_get(c->api->db, username, &u);
    if (err < 0 && err != -ENOENT) {
        api_fail_db(c, err, "user");
        return;
    }
    bool ok = password_verify(err == 0 ? u.password_hash : dummy_hash(), password) && err == 0;
    if (!ok) {
        db_user_clear(&u);
        count_failure(c, username);
        api_fail(c, 401, "invalid_credentials", "wrong username or password");
        return;
    }
    ratelimit_reset(c->api->fail_by_user, username);
    char token[SECRET_TEXT_MAX];
    struct db_session s = {.user_id = u.id, .expires_at = clock_wall_us() + API_SESSION_US};
    char hash[SECRET_HASH_LEN + 1];
    s.token_hash = hash;
    err = secret_new("tk_", token, hash);
    if (err == 0)
        err = db_session_create(c->api->db, &s);
    if (err < 0) {
        api_fail_db(c, err == -ENOENT ? -EIO : err, "session");
    } else {
        api_ok(c, 200,
               json_pack("{s:s,s:o,s:o}", "token", token, "expires_at", json_time(s.expires_at),
                         "user", api_user_json(&u)));
        log_info("api", NULL, "user '%s' logged in from %s", u.name, c->req->client);
    }
    db_user_clear(&u);
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

void api_me_patch(struct api_call *c)
{
    const char *old = json_body_str(c->body, "old_password");
    const char *pw = json_body_str(c->body, "password");
    if (rate_limited(c, c->user.name))
        return;
    if (!password_verify(c->user.password_hash, old)) {
        count_failure(c, c->user.name);
        api_fail(c, 403, "invalid_credentials", "old_password is wrong");
        return;
    }
    if (!api_password_ok(c, pw, "password"))
        return;
    char hash[PASSWORD_HASH_MAX];
    int err = password_hash(pw, hash);
    if (err < 0) {
        api_fail(c, 500, "internal", "cannot hash the password");
        return;
    }
    err = db_user_update(c->api->db, c->user.name, hash, NULL);
    /* A new password ends every other session: whoever knew the old one is logged out. */
    if (err == 0)
        err = db_session_delete_user(c->api->db, c->user.id, c->token_hash);
    if (err < 0)
        api_fail_db(c, err, "user");
    else
        api_ok(c, 200, api_user_json(&c->user));
}
