#include "auth/ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* A linear table: it is consulted once per login attempt, next to an argon2id verify that costs
 * a hundred milliseconds, so a scan of a few thousand keys does not matter. */
struct entry {
    char *key;
    int64_t window_end;
    int failures;
};

struct ratelimit {
    pthread_mutex_t lock;
    int max_failures;
    int64_t window_us;
    size_t max_keys;
    size_t n;
    struct entry *entries;
};

struct ratelimit *ratelimit_create(int max_failures, int64_t window_us, size_t max_keys)
{
    struct ratelimit *rl = xcalloc(1, sizeof(*rl));
    pthread_mutex_init(&rl->lock, NULL);
    rl->max_failures = max_failures;
    rl->window_us = window_us;
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

static struct entry *find(struct ratelimit *rl, const char *key)
{
    for (size_t i = 0; i < rl->n; i++)
        if (!strcmp(rl->entries[i].key, key))
            return &rl->entries[i];
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
        if (rl->entries[i].window_end <= now)
            drop(rl, &rl->entries[i]);
        else
            i++;
    }
    if (rl->n < rl->max_keys)
        return;
    struct entry *soonest = &rl->entries[0];
    for (size_t i = 1; i < rl->n; i++)
        if (rl->entries[i].window_end < soonest->window_end)
            soonest = &rl->entries[i];
    drop(rl, soonest);
}

int64_t ratelimit_check(struct ratelimit *rl, const char *key, int64_t now)
{
    int64_t wait = 0;
    pthread_mutex_lock(&rl->lock);
    struct entry *e = find(rl, key);
    if (e && e->window_end > now && e->failures >= rl->max_failures)
        wait = e->window_end - now;
    pthread_mutex_unlock(&rl->lock);
    return wait;
}

void ratelimit_fail(struct ratelimit *rl, const char *key, int64_t now)
{
    pthread_mutex_lock(&rl->lock);
    struct entry *e = find(rl, key);
    if (e && e->window_end <= now) {
        e->window_end = now + rl->window_us;
        e->failures = 0;
    }
    if (!e) {
        if (rl->n == rl->max_keys)
            evict(rl, now);
        e = &rl->entries[rl->n++];
        e->key = xstrdup(key);
        e->window_end = now + rl->window_us;
        e->failures = 0;
    }
    e->failures++;
    pthread_mutex_unlock(&rl->lock);
}

void ratelimit_reset(struct ratelimit *rl, const char *key)
{
    pthread_mutex_lock(&rl->lock);
    struct entry *e = find(rl, key);
    if (e)
        drop(rl, e);
    pthread_mutex_unlock(&rl->lock);
}
