#include "auth/ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* A linear table: it is consulted a few times per login attempt, next to an argon2id verify
 * that costs a hundred milliseconds, so a scan of a few thousand keys does not matter. */
struct entry {
    char *key;
    int failures;
    int64_t last_fail;
    int64_t blocked_until;
};

struct ratelimit {
    pthread_mutex_t lock;
    struct ratelimit_rules rules;
    size_t max_keys;
    size_t n;
    struct entry *entries;
};

struct ratelimit *ratelimit_create(const struct ratelimit_rules *rules, size_t max_keys)
{
    struct ratelimit *rl = xcalloc(1, sizeof(*rl));
    pthread_mutex_init(&rl->lock, NULL);
    rl->rules = *rules;
    rl->max_keys = max_keys ? max_keys : 1;
    rl->entries = xcalloc(rl->max_keys, sizeof(*rl->entries));
    return rl;
}

void ratelimit_destroy(struct ratelimit **prl)
{
    struct ratelimit *rl = *prl;
    if (!rl)
        return;
    for (size_t i = 0; i < rl->n; i++)
        free(rl->entries[i].key);
    free(rl->entries);
    pthread_mutex_destroy(&rl->lock);
    free(rl);
    *prl = NULL;
}

/* When the entry may be forgotten: a window after its last failure, and not while blocked. */
static int64_t forget_at(const struct ratelimit *rl, const struct entry *e)
{
    int64_t t = e->last_fail + rl->rules.window_us;
    return t > e->blocked_until ? t : e->blocked_until;
}

static struct entry *find(struct ratelimit *rl, const char *key, int64_t now)
{
    for (size_t i = 0; i < rl->n; i++) {
        struct entry *e = &rl->entries[i];
        if (!strcmp(e->key, key))
            return forget_at(rl, e) > now ? e : NULL;
    }
    return NULL;
}

static void drop(struct ratelimit *rl, struct entry *e)
{
    free(e->key);
    *e = rl->entries[--rl->n];
}

/* Makes room for one more key. */
static void evict(struct ratelimit *rl, int64_t now)
{
    for (size_t i = 0; i < rl->n;) {
        if (forget_at(rl, &rl->entries[i]) <= now)
            drop(rl, &rl->entries[i]);
        else
            i++;
    }
    if (rl->n < rl->max_keys)
        return;
    struct entry *soonest = &rl->entries[0];
    for (size_t i = 1; i < rl->n; i++)
        if (forget_at(rl, &rl->entries[i]) < forget_at(rl, soonest))
            soonest = &rl->entries[i];
    drop(rl, soonest);
}

int64_t ratelimit_check(struct ratelimit *rl, const char *key, int64_t now)
{
    int64_t wait = 0;
    pthread_mutex_lock(&rl->lock);
    struct entry *e = find(rl, key, now);
    if (e && e->blocked_until > now)
        wait = e->blocked_until - now;
    pthread_mutex_unlock(&rl->lock);
    return wait;
}

static int64_t block_for(const struct ratelimit_rules *r, int failures)
{
    int over = failures - r->free_failures; /* >= 1 */
    int64_t d = r->base_us;
    for (int i = 1; i < over && d < r->max_us; i++)
        d *= 2;
    return d < r->max_us ? d : r->max_us;
}

void ratelimit_fail(struct ratelimit *rl, const char *key, int64_t now)
{
    pthread_mutex_lock(&rl->lock);
    struct entry *e = NULL;
    for (size_t i = 0; i < rl->n && !e; i++)
        if (!strcmp(rl->entries[i].key, key))
            e = &rl->entries[i];
    if (e && forget_at(rl, e) <= now) {
        e->failures = 0;
        e->blocked_until = 0;
    }
    if (!e) {
        if (rl->n == rl->max_keys)
            evict(rl, now);
        e = &rl->entries[rl->n++];
        *e = (struct entry){.key = xstrdup(key)};
    }
    e->failures++;
    e->last_fail = now;
    if (e->failures > rl->rules.free_failures)
        e->blocked_until = now + block_for(&rl->rules, e->failures);
    pthread_mutex_unlock(&rl->lock);
}

int ratelimit_failures(struct ratelimit *rl, const char *key, int64_t now)
{
    pthread_mutex_lock(&rl->lock);
    struct entry *e = find(rl, key, now);
    int n = e ? e->failures : 0;
    pthread_mutex_unlock(&rl->lock);
    return n;
}

void ratelimit_reset(struct ratelimit *rl, const char *key)
{
    pthread_mutex_lock(&rl->lock);
    for (size_t i = 0; i < rl->n; i++) {
        if (!strcmp(rl->entries[i].key, key)) {
            drop(rl, &rl->entries[i]);
            break;
        }
    }
    pthread_mutex_unlock(&rl->lock);
}
