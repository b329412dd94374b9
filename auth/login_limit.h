/* Which login attempts may go to the (expensive) password check: the rules against guessing
 * and against locking someone else out.
 *
 * Three failure tables (auth/ratelimit.h), all forgotten 10 minutes after their last failure:
 *
 * - per (user, address): 5 failures free, then 1 s, 2 s, 4 s ... up to 10 minutes of waiting
 *   after each further failure. This is the rule a guesser from one address meets.
 * - per address, whatever the user: 20 free, then the same backoff (one address spraying many
 *   usernames).
 * - per user, from any address (the global cap): past 10 failures the user is "under attack",
 *   and from then until the failures are forgotten, an address that has failed at all (for
 *   any user) is refused for that user. An address with no failure on record is never refused:
 *   someone who did not take part in the guessing (the real user, from home) always gets their
 *   password checked, however many addresses guess wrong. Each guessing address gets at most
 *   one try per attacked user; an attacker then needs a fresh address per guess.
 *
 * IPv6 addresses count by their /64 (one host usually holds a whole /64). A successful login
 * clears its (user, address) count only: it neither ends an attack on the user nor clears an
 * address that also guessed at others. Thread-safe. */
#ifndef KIBITKA_AUTH_LOGIN_LIMIT_H
#define KIBITKA_AUTH_LOGIN_LIMIT_H

#include <stdint.h>

#define LOGIN_LIMIT_WINDOW_US (600 * 1000000LL)
#define LOGIN_LIMIT_PAIR_FREE 5
#define LOGIN_LIMIT_ADDR_FREE 20
#define LOGIN_LIMIT_USER_FREE 10
#define LOGIN_LIMIT_BASE_US 1000000LL

struct login_limit;

struct login_limit *login_limit_create(void);
void login_limit_destroy(struct login_limit **pl);
/* 0 when user may try from addr now, else how many microseconds until it may. */
int64_t login_limit_check(struct login_limit *l, const char *user, const char *addr, int64_t now);
/* A wrong password (or no such user) for user from addr. */
void login_limit_fail(struct login_limit *l, const char *user, const char *addr, int64_t now);
/* The right password: forgets the (user, address) failures. */
void login_limit_success(struct login_limit *l, const char *user, const char *addr);

#endif
