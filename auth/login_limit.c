#include "auth/login_limit.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/ratelimit.h"
#include "core/alloc.h"

/* Keys hold at most this much of a username: real names are at most 64 characters, and a
 * megabyte-long name must not make a megabyte-long key. */
#define USER_KEY_MAX 72
#define KEY_MAX (USER_KEY_MAX + INET6_ADDRSTRLEN + 2)
#define MAX_KEYS 4096

struct login_limit {
    struct ratelimit *pair, *addr, *user;
};

struct login_limit *login_limit_create(void)
{
    struct login_limit *l = xcalloc(1, sizeof(*l));
    const int64_t w = LOGIN_LIMIT_WINDOW_US;
    struct ratelimit_rules pair = {LOGIN_LIMIT_PAIR_FREE, LOGIN_LIMIT_BASE_US, w, w};
    struct ratelimit_rules addr = {LOGIN_LIMIT_ADDR_FREE, LOGIN_LIMIT_BASE_US, w, w};
    /* The user table only says whether the user is under attack, and until when. */
    struct ratelimit_rules user = {LOGIN_LIMIT_USER_FREE, w, w, w};
    l->pair = ratelimit_create(&pair, MAX_KEYS);
    l->addr = ratelimit_create(&addr, MAX_KEYS);
    l->user = ratelimit_create(&user, MAX_KEYS);
    return l;
}

void login_limit_destroy(struct login_limit **pl)
{
    struct login_limit *l = *pl;
    if (!l)
        return;
    ratelimit_destroy(&l->pair);
    ratelimit_destroy(&l->addr);
    ratelimit_destroy(&l->user);
    free(l);
    *pl = NULL;
}

/* The address as counted: an IPv6 address by its /64, anything else as given. */
static void addr_key(const char *addr, char out[INET6_ADDRSTRLEN])
{
    struct in6_addr a6;
    if (strchr(addr, ':') && inet_pton(AF_INET6, addr, &a6) == 1 && !IN6_IS_ADDR_V4MAPPED(&a6)) {
        memset(a6.s6_addr + 8, 0, 8);
        if (inet_ntop(AF_INET6, &a6, out, INET6_ADDRSTRLEN))
            return;
    }
    snprintf(out, INET6_ADDRSTRLEN, "%s", addr);
}

struct keys {
    char user[USER_KEY_MAX + 1];
    char addr[INET6_ADDRSTRLEN];
    char pair[KEY_MAX];
};

static void make_keys(const char *user, const char *addr, struct keys *k)
{
    snprintf(k->user, sizeof(k->user), "%s", user ? user : "");
    addr_key(addr ? addr : "", k->addr);
    /* \x1f cannot be in an address, so the split between the two parts is unambiguous. */
    snprintf(k->pair, sizeof(k->pair), "%s\x1f%s", k->user, k->addr);
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

int64_t login_limit_check(struct login_limit *l, const char *user, const char *addr, int64_t now)
{
    struct keys k;
    make_keys(user, addr, &k);
    int64_t wait =
        max64(ratelimit_check(l->pair, k.pair, now), ratelimit_check(l->addr, k.addr, now));
    int64_t attacked = ratelimit_check(l->user, k.user, now);
    if (attacked > 0 && ratelimit_failures(l->addr, k.addr, now) > 0)
        wait = max64(wait, attacked);
    return wait;
}

void login_limit_fail(struct login_limit *l, const char *user, const char *addr, int64_t now)
{
    struct keys k;
    make_keys(user, addr, &k);
    ratelimit_fail(l->pair, k.pair, now);
    ratelimit_fail(l->addr, k.addr, now);
    ratelimit_fail(l->user, k.user, now);
}

void login_limit_success(struct login_limit *l, const char *user, const char *addr)
{
    struct keys k;
    make_keys(user, addr, &k);
    ratelimit_reset(l->pair, k.pair);
}
