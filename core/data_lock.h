/* The lock on a data directory (--data): one process at a time may own the spool and the
 * recordings under it.
 *
 * Two servers on one directory would each take the other's open spool chunks for a crash's
 * leftovers and "recover" them under its feet (issue 10), so `kibitka serve` holds an exclusive
 * flock(2) on DATA/lock for its whole life, with its pid written in the file for the message the
 * next one prints. flock, not a pid file: the kernel drops it when the process dies, even by
 * SIGKILL, so a crash never leaves a stale lock behind. The file itself is never removed:
 * unlinking it would let a third process lock a new file while a second still waits on the old
 * one.
 *
 * Commands that only talk to the database (`kibitka user ...`, `kibitka stream ...`) do not take
 * the lock: the database has its own locking (SQLite's, and migrations run under BEGIN
 * IMMEDIATE or pg_advisory_lock), so they may run beside the server. Anything that reads or
 * writes DATA/spool or DATA/recordings must take it. */
#ifndef KIBITKA_CORE_DATA_LOCK_H
#define KIBITKA_CORE_DATA_LOCK_H

#include <stddef.h>

struct data_lock;

/* Creates dir if missing (and its parents), then locks dir/lock without waiting. 0 and *out on
 * success; on failure a negative errno and one sentence in err: -EBUSY "data directory D is in
 * use by pid N", or why the directory or the file could not be made. On -EBUSY nothing in the
 * directory was changed. */
int data_lock_acquire(const char *dir, struct data_lock **out, char *err, size_t errlen);
/* Unlocks (the file stays), frees and clears *plock; NULL is fine. */
void data_lock_release(struct data_lock **plock);

#endif
