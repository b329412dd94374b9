/* Join tokens for voice rooms (issue 14): what POST /api/rooms/{name}/token hands out and the
 * signaling server's access check (sfu/room_access.h) accepts, as LiveKit's access tokens let
 * an app admit its own users.
 *
 * Format: base64url(payload).base64url(HMAC-SHA256(key, base64url(payload))), no padding, so
 * it is safe in URLs and JSON without escaping. The payload is compact JSON:
 *   {"r":room,"u":user name,"i":user id,"d":display name,"s":may speak,"e":expiry (unix s)}
 * with "u" and "i" absent for a guest. Nothing in it is secret (anyone holding the token can
 * read it); what the signature gives is that only a holder of the key could have made it.
 *
 * The key is 32 random bytes kept in the database (settings row "room_token_key", made once by
 * the first node that needs it), so every node sharing a PostgreSQL accepts the others' tokens.
 * Checks: the signature first (constant-time), then the expiry, then the room; so only a
 * genuine token is ever called expired or another room's. */
#ifndef KIBITKA_AUTH_ROOM_TOKEN_H
#define KIBITKA_AUTH_ROOM_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;

#define ROOM_TOKEN_KEY_LEN 32
#define ROOM_TOKEN_NAME_MAX 64 /* room, user and display names: at most 64 bytes */
#define ROOM_TOKEN_MAX 1024    /* a longer token is refused unread */
#define ROOM_TOKEN_SETTING "room_token_key"

struct room_token {
    char room[ROOM_TOKEN_NAME_MAX + 1];
    char user[ROOM_TOKEN_NAME_MAX + 1]; /* "" for a guest */
    char user_id[33];                   /* users.id (32 hex); "" for a guest */
    char display[ROOM_TOKEN_NAME_MAX + 1];
    bool may_speak;     /* false: listen-only */
    int64_t expires_at; /* unix seconds */
};

/* The cluster's key: made (32 random bytes) and stored on first use, read back otherwise. 0 or
 * a negative errno from the database (logged there). */
int room_token_key_load(struct db *db, unsigned char key[ROOM_TOKEN_KEY_LEN]);

/* Writes the token for t into out (NUL-terminated); its length, or -ENOSPC when outlen is too
 * small (ROOM_TOKEN_MAX always suffices), -EINVAL for an empty room or over-long names. */
int room_token_make(const unsigned char key[ROOM_TOKEN_KEY_LEN], const struct room_token *t,
                    char *out, size_t outlen);

/* Checks token for room at now_s (unix seconds) and fills *out (zeroed first). 0; -EACCES for
 * a malformed token or a signature that does not match (tampered, or another cluster's key);
 * -EKEYEXPIRED when it has expired (expires_at <= now_s); -EPERM when it is another room's (out
 * holds it then, for the message). */
int room_token_verify(const unsigned char key[ROOM_TOKEN_KEY_LEN], const char *token,
                      const char *room, int64_t now_s, struct room_token *out);

/* A display name fit to show: at most ROOM_TOKEN_NAME_MAX bytes cut at a UTF-8 character
 * boundary, control characters replaced by spaces, outer spaces trimmed; "" when nothing is
 * left. in may be NULL. It is never markup: clients must show it as text. */
void room_display_clean(const char *in, char out[ROOM_TOKEN_NAME_MAX + 1]);

#endif
