/* Failure counting for rate limits (failed logins per client address and per username).
 *
 * Fixed windows per key: the first failure opens a window of window_us; once max_failures have
 * been counted inside it, the key is blocked until the window ends. Checking does not count:
 * the caller checks before the expensive work (an argon2id verify), and counts only a failure.
 *
 * Memory is bounded: at most max_keys keys are kept. When full, expired windows are dropped
 * first, then the window that ends soonest (so an attacker spraying new keys evicts nearly
 * expired entries before fresh blocks). Thread-safe (one mutex). Keys are copied. */
#ifndef KIBITKA_AUTH_RATELIMIT_H
#define KIBITKA_AUTH_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct ratelimit;

struct ratelimit *ratelimit_create(int max_failures, int64_t window_us, size_t max_keys);
void ratelimit_destroy(struct ratelimit **prl);
/* 0 when key may try now, else how many microseconds until it may (> 0). now: clock_mono_us. */
int64_t ratelimit_check(struct ratelimit *rl, const char *key, int64_t now);
/* Counts one failure for key. */
void ratelimit_fail(struct ratelimit *rl, const char *key, int64_t now);
/* Forgets key (a successful login clears its username's count). */
void ratelimit_reset(struct ratelimit *rl, const char *key);

#endif
