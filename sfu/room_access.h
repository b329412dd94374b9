/* The voice rooms' join check (issue 14): the sfu_access_fn (sfu/sfu.h) that server/ gives the
 * signaling server. A join presents a room name, a token and a display name; the answer is who
 * the member is (struct sfu_identity) or why not.
 *
 * Off the calling thread: the signaling server's thread must not wait on the database, so each
 * check is a job on a small pool of its own (auth/pwpool.h: one thread, a bounded queue), and
 * done is called on that thread. Two tokens are accepted:
 *   - a join token from POST /api/rooms/{name}/token (auth/room_token.h): signature, expiry and
 *     room checked, then the room must still exist and a user's token its user; the token's
 *     display name and may_speak are the member's;
 *   - a logged-in user's API token (tk_...): public rooms, or the user's own rooms and every
 *     room for an admin; the client's display name (cleaned; else the user's name), may speak.
 * moderator is the room's owner or an admin, looked up at each join.
 *
 * done's status: 0 with the identity; -EACCES a missing, malformed, tampered or revoked token;
 * -EKEYEXPIRED an expired join token; -ENOENT no such room; -EPERM a join token for another
 * room, or an API token for a private room; -EIO the database failed; -EAGAIN the queue is full
 * (done is then called before room_access_check returns, on the caller's thread);
 * -ECANCELED the checker was destroyed first. why is one line for the client, never holding
 * the token. Identity and why are valid during done only. */
#ifndef KIBITKA_SFU_ROOM_ACCESS_H
#define KIBITKA_SFU_ROOM_ACCESS_H

#include "db/db.h"
#include "sfu/sfu.h"

#define ROOM_ACCESS_QUEUE 256

struct room_access;

/* db is borrowed and must outlive the checker (NULL: every check is -EIO). NULL only if no
 * thread could be started. */
struct room_access *room_access_create(struct db *db);
/* Checks still queued get done(-ECANCELED); a running one finishes first. Clears *pra. */
void room_access_destroy(struct room_access **pra);
/* An sfu_access_fn: opaque is the struct room_access. */
void room_access_check(void *opaque, const char *room, const char *token, const char *display,
                       sfu_access_done done, void *ctx);

/* The sfu_identity's int64 user id for a users.id (32 hex characters): its first 15 hex digits,
 * never 0 (guests are 0). Stable for a user, and the same on every node. */
int64_t room_access_user_number(const char *user_id);

#endif
