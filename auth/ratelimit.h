/* Failure counting with backoff, per key (auth/login_limit.h combines three tables of these for
 * logins: per (user, address), per address, per user).
 *
 * A key's first `free_failures` failures cost nothing; each failure after those blocks the key
 * for base_us, doubling with every further failure up to max_us (backoff: a client that keeps
 * guessing waits longer and longer, one that mistyped twice does not wait at all). A key is
 * forgotten window_us after its last failure (and never while it is blocked). Checking does not
 * count: the caller checks before the expensive work (an argon2id verify), and counts only a
 * failure.
 *
 * Memory is bounded: at most max_keys keys are kept. When full, forgotten keys are dropped
 * first, then the key that would be forgotten soonest (so an attacker spraying new keys evicts
 * nearly expired entries before fresh blocks). Thread-safe (one mutex). Keys are copied. */
#ifndef KIBITKA_AUTH_RATELIMIT_H
#define KIBITKA_AUTH_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct ratelimit;

struct ratelimit_rules {
    int free_failures; /* failures before the first block */
    int64_t base_us;   /* the first block; each further failure doubles it */
    int64_t max_us;    /* longest block */
    int64_t window_us; /* a key is forgotten this long after its last failure */
};

struct ratelimit *ratelimit_create(const struct ratelimit_rules *rules, size_t max_keys);
void ratelimit_destroy(struct ratelimit **prl);
/* 0 when key may try now, else how many microseconds until it may (> 0). now: clock_mono_us. */
int64_t ratelimit_check(struct ratelimit *rl, const char *key, int64_t now);
/* Counts one failure for key. */
void ratelimit_fail(struct ratelimit *rl, const char *key, int64_t now);
/* Failures counted for key that are not forgotten yet (0 for an unknown key). */
int ratelimit_failures(struct ratelimit *rl, const char *key, int64_t now);
/* Forgets key (a successful login clears its (user, address) count). */
void ratelimit_reset(struct ratelimit *rl, const char *key);

#endif
