/* Stream-key checks for publishers, off the network thread.
 *
 * An RTMP publish carries a stream key; which stream it publishes (if any) is a database question,
 * and database calls never run on the network thread. publish_auth_check queues the key for a
 * worker thread, which looks up the key's hash (db_stream_get_by_key_hash) and compares in
 * constant time, then posts the answer back to the loop (loop_post): done runs on the loop's
 * thread, exactly once, unless the request was cancelled first.
 *
 * Ownership: the checker borrows db and loop, which must outlive it. A request handle is valid
 * until done has run or publish_auth_cancel has been called, whichever comes first. */
#ifndef KIBITKA_AUTH_PUBLISH_H
#define KIBITKA_AUTH_PUBLISH_H

#include "core/hub.h"
#include "core/loop.h"
#include "db/db.h"

struct publish_auth;
struct publish_auth_req;

/* err: 0 with the stream's name; -ENOENT for a key that opens no stream; -EIO when the database
 * failed. name is valid during the call only. */
typedef void (*publish_auth_done)(void *arg, int err, const char *name);

struct publish_auth *publish_auth_create(struct db *db, struct loop *loop);
/* Stops the worker (after the request it is on); queued requests are dropped without done. */
void publish_auth_destroy(struct publish_auth **pa);
struct publish_auth_req *publish_auth_check(struct publish_auth *pa, const char *key,
                                            publish_auth_done done, void *arg);
/* Inside done with err 0 only: the stream the key opened (ids, owner, record flag), for the
 * source to hand to hub_set_publisher. Valid during done. */
const struct hub_publisher *publish_auth_req_publisher(const struct publish_auth_req *req);
/* done will not be called for req; call it on the loop's thread. */
void publish_auth_cancel(struct publish_auth *pa, struct publish_auth_req *req);

#endif
