/* Join tokens (auth/room_token.h): a round trip for a user and a guest, listen-only, then every
 * way a token must be refused: tampered payload or signature, another key, expired, another
 * room, malformed text; the key made once in the database; display names cleaned. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/room_token.h"
#include "db/db.h"
#include "test.h"

static const unsigned char key[ROOM_TOKEN_KEY_LEN] = "0123456789abcdef0123456789abcdef";
static const unsigned char other_key[ROOM_TOKEN_KEY_LEN] = "0123456789abcdef0123456789abcdeF";

static void make(const struct room_token *t, char *out)
{
    int n = room_token_make(key, t, out, ROOM_TOKEN_MAX);
    CHECK(n > 0 && (size_t)n == strlen(out));
}

static void round_trips(void)
{
    struct room_token user = {.room = "lobby",
                              .user = "alice",
                              .user_id = "0123456789abcdef0123456789abcdef",
                              .display = "Alice <b>",
                              .may_speak = true,
                              .expires_at = 2000};
    char tok[ROOM_TOKEN_MAX];
    make(&user, tok);
    /* URL-safe: base64url and one dot */
    CHECK(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") ==
          strlen(tok));
    CHECK(strchr(tok, '.') == strrchr(tok, '.'));
    struct room_token got;
    CHECK_EQ_INT(room_token_verify(key, tok, "lobby", 1999, &got), 0);
    CHECK_STREQ(got.room, "lobby");
    CHECK_STREQ(got.user, "alice");
    CHECK_STREQ(got.user_id, user.user_id);
    CHECK_STREQ(got.display, "Alice <b>");
    CHECK(got.may_speak);
    CHECK_EQ_INT(got.expires_at, 2000);

    /* a guest, listen-only: no user, may_speak false */
    struct room_token guest = {.room = "lobby", .display = "Visitor \xc3\xa9", .expires_at = 2000};
    make(&guest, tok);
    CHECK_EQ_INT(room_token_verify(key, tok, "lobby", 10, &got), 0);
    CHECK_STREQ(got.user, "");
    CHECK_STREQ(got.user_id, "");
    CHECK_STREQ(got.display, "Visitor \xc3\xa9");
    CHECK(!got.may_speak);

    /* names too long, no room */
    struct room_token bad = user;
    memset(bad.display, 'x', ROOM_TOKEN_NAME_MAX);
    bad.display[ROOM_TOKEN_NAME_MAX] = '\0';
    CHECK(room_token_make(key, &bad, tok, ROOM_TOKEN_MAX) > 0);
    bad.room[0] = '\0';
    CHECK_EQ_INT(room_token_make(key, &bad, tok, ROOM_TOKEN_MAX), -EINVAL);
    CHECK_EQ_INT(room_token_make(key, &user, tok, 20), -ENOSPC);
}

static void refusals(void)
{
    struct room_token t = {.room = "lobby",
                           .user = "bob",
                           .user_id = "fedcba9876543210fedcba9876543210",
                           .display = "Bob",
                           .may_speak = false,
                           .expires_at = 5000};
    char tok[ROOM_TOKEN_MAX], bad[ROOM_TOKEN_MAX + 8];
    make(&t, tok);
    struct room_token got;
    CHECK_EQ_INT(room_token_verify(key, tok, "lobby", 4999, &got), 0);
    CHECK(!got.may_speak); /* listen-only stays listen-only */

    /* expired, at and after its time */
    CHECK_EQ_INT(room_token_verify(key, tok, "lobby", 5000, &got), -EKEYEXPIRED);
    CHECK_EQ_INT(room_token_verify(key, tok, "lobby", 90000, &got), -EKEYEXPIRED);
    /* another room */
    CHECK_EQ_INT(room_token_verify(key, tok, "den", 10, &got), -EPERM);
    CHECK_STREQ(got.room, "lobby");
    CHECK_EQ_INT(room_token_verify(key, tok, NULL, 10, &got), -EPERM);
    /* another key (another cluster) */
    CHECK_EQ_INT(room_token_verify(other_key, tok, "lobby", 10, &got), -EACCES);
    CHECK_STREQ(got.room, "");

    /* every single character changed, payload and signature: refused, never expired/EPERM */
    size_t len = strlen(tok);
    for (size_t i = 0; i < len; i++) {
        if (tok[i] == '.')
            continue;
        strcpy(bad, tok);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        CHECK_EQ_INT(room_token_verify(key, bad, "lobby", 10, &got), -EACCES);
    }
    /* a payload that says may_speak, with the old signature */
    struct room_token loud = t;
    loud.may_speak = true;
    char loud_tok[ROOM_TOKEN_MAX];
    make(&loud, loud_tok);
    strcpy(bad, loud_tok);
    strcpy(strchr(bad, '.'), strchr(tok, '.'));
    CHECK_EQ_INT(room_token_verify(key, bad, "lobby", 10, &got), -EACCES);

    /* malformed */
    const char *junk[] = {"", ".", "abc", "abc.", ".abc", "tk_abcdef", "a.b.c", "%%%.%%%", NULL};
    for (int i = 0; junk[i]; i++)
        CHECK_EQ_INT(room_token_verify(key, junk[i], "lobby", 10, &got), -EACCES);
    CHECK_EQ_INT(room_token_verify(key, NULL, "lobby", 10, &got), -EACCES);
    /* a signature with an extra character, a truncated one */
    snprintf(bad, sizeof(bad), "%sA", tok);
    CHECK_EQ_INT(room_token_verify(key, bad, "lobby", 10, &got), -EACCES);
    strcpy(bad, tok);
    bad[len - 1] = '\0';
    CHECK_EQ_INT(room_token_verify(key, bad, "lobby", 10, &got), -EACCES);
    /* too long to read */
    char *huge = malloc(ROOM_TOKEN_MAX + 100);
    memset(huge, 'A', ROOM_TOKEN_MAX + 99);
    huge[ROOM_TOKEN_MAX + 99] = '\0';
    memcpy(huge + ROOM_TOKEN_MAX + 99 - 44, strchr(tok, '.'), 44);
    CHECK_EQ_INT(room_token_verify(key, huge, "lobby", 10, &got), -EACCES);
    free(huge);
}

static void display_names(void)
{
    char out[ROOM_TOKEN_NAME_MAX + 1];
    room_display_clean("  Ann\tB\n ", out);
    CHECK_STREQ(out, "Ann B");
    room_display_clean(NULL, out);
    CHECK_STREQ(out, "");
    room_display_clean("\x01\x02", out);
    CHECK_STREQ(out, "");
    /* not UTF-8: a lead byte whose "continuation" is a control character, a stray byte, a
     * sequence cut short (found by fuzz_room_token: the control byte got through) */
    room_display_clean("a\xff\x01\x02\x03" "b", out);
    CHECK_STREQ(out, "a?   b");
    room_display_clean("\xe2\x82x\x80", out);
    CHECK_STREQ(out, "??x?");
    /* 70 two-byte characters: cut at 64 bytes, on a character boundary */
    char in[200] = "";
    for (int i = 0; i < 70; i++)
        strcat(in, "\xc3\xa9");
    room_display_clean(in, out);
    CHECK_EQ_INT(strlen(out), 64);
    /* a 3-byte character that would cross the limit is left out whole */
    memset(in, 'a', 63);
    strcpy(in + 63, "\xe2\x82\xac");
    room_display_clean(in, out);
    CHECK_EQ_INT(strlen(out), 63);
}

/* The key is made once and read back by every later call (another node's too). */
static void key_in_db(void)
{
    char dir[] = "/tmp/test_room_token.XXXXXX", url[64], path[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(url, sizeof(url), "sqlite:%s/k.db", dir);
    struct db *db = NULL, *db2 = NULL;
    CHECK_EQ_INT(db_open(url, &db), 0);
    unsigned char k1[ROOM_TOKEN_KEY_LEN], k2[ROOM_TOKEN_KEY_LEN];
    CHECK_EQ_INT(room_token_key_load(db, k1), 0);
    CHECK_EQ_INT(db_open(url, &db2), 0);
    CHECK_EQ_INT(room_token_key_load(db2, k2), 0);
    CHECK(memcmp(k1, k2, sizeof(k1)) == 0);
    CHECK(memcmp(k1, key, sizeof(k1)) != 0);
    db_close(&db);
    db_close(&db2);
    const char *suffix[] = {"k.db", "k.db-wal", "k.db-shm", "k.db-reserve"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, suffix[i]);
        unlink(path);
    }
    rmdir(dir);
}

int main(void)
{
    round_trips();
    refusals();
    display_names();
    key_in_db();
    return test_report("test_room_token");
}
