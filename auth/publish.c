#include "auth/publish.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/secret.h"
#include "core/alloc.h"
#include "core/log.h"

struct publish_auth_req {
    struct publish_auth *pa;
    char *key;
    publish_auth_done done;
    void *arg;
    bool cancelled; /* only touched on the loop thread */
    int err;
    char name[72];
    struct hub_publisher pub;
    struct publish_auth_req *next;
};

struct publish_auth {
    struct db *db;
    struct loop *loop;
    pthread_t thread;
    bool thread_started; /* false only when publish_auth_create failed to start it */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct publish_auth_req *queue, **tail; /* under lock */
    bool stopping;
};

/* On the worker: the database answer for one key. */
static void lookup(struct publish_auth *pa, struct publish_auth_req *r)
{
    char hash[SECRET_HASH_LEN + 1];
    secret_hash(r->key, hash);
    struct db_stream st = {0};
    int err = db_stream_get_by_key_hash(pa->db, hash, &st);
    if (err == 0 && (!st.key_hash || !secret_matches(r->key, st.key_hash)))
        err = -ENOENT;
    if (err == 0) {
        snprintf(r->name, sizeof(r->name), "%s", st.name);
        snprintf(r->pub.stream_id, sizeof(r->pub.stream_id), "%s", st.id ? st.id : "");
        snprintf(r->pub.user_id, sizeof(r->pub.user_id), "%s", st.owner_id ? st.owner_id : "");
        snprintf(r->pub.user_name, sizeof(r->pub.user_name), "%s",
                 st.owner_name ? st.owner_name : "");
        r->pub.record = st.record;
    }
    r->err = err == 0 || err == -ENOENT ? err : -EIO;
    db_stream_clear(&st);
}

/* On the loop thread. */
static void deliver(void *arg)
{
    struct publish_auth_req *r = arg;
    if (!r->cancelled)
        r->done(r->arg, r->err, r->err == 0 ? r->name : NULL);
    free(r->key);
    free(r);
}

static void *worker(void *arg)
{
    struct publish_auth *pa = arg;
    pthread_mutex_lock(&pa->lock);
    for (;;) {
        while (!pa->queue && !pa->stopping)
            pthread_cond_wait(&pa->cond, &pa->lock);
        if (pa->stopping)
            break;
        struct publish_auth_req *r = pa->queue;
        pa->queue = r->next;
        if (!pa->queue)
            pa->tail = &pa->queue;
        pthread_mutex_unlock(&pa->lock);
        lookup(pa, r);
        loop_post(pa->loop, deliver, r);
        pthread_mutex_lock(&pa->lock);
    }
    pthread_mutex_unlock(&pa->lock);
    return NULL;
}

struct publish_auth *publish_auth_create(struct db *db, struct loop *loop)
{
    struct publish_auth *pa = xcalloc(1, sizeof(*pa));
    pa->db = db;
    pa->loop = loop;
    pa->tail = &pa->queue;
    pthread_mutex_init(&pa->lock, NULL);
    pthread_cond_init(&pa->cond, NULL);
    pa->thread_started = pthread_create(&pa->thread, NULL, worker, pa) == 0;
    if (!pa->thread_started) {
        log_error("auth", NULL, "cannot start the stream-key worker thread");
        publish_auth_destroy(&pa);
    }
    return pa;
}

void publish_auth_destroy(struct publish_auth **ppa)
{
    struct publish_auth *pa = *ppa;
    if (!pa)
        return;
    pthread_mutex_lock(&pa->lock);
    pa->stopping = true;
    pthread_cond_signal(&pa->cond);
    pthread_mutex_unlock(&pa->lock);
    if (pa->thread_started)
        pthread_join(pa->thread, NULL);
    for (struct publish_auth_req *r = pa->queue, *n; r; r = n) {
        n = r->next;
        free(r->key);
        free(r);
    }
    pthread_mutex_destroy(&pa->lock);
    pthread_cond_destroy(&pa->cond);
    free(pa);
    *ppa = NULL;
}

struct publish_auth_req *publish_auth_check(struct publish_auth *pa, const char *key,
                                            publish_auth_done done, void *arg)
{
    struct publish_auth_req *r = xcalloc(1, sizeof(*r));
    r->pa = pa;
    r->key = xstrndup(key, 256);
    r->done = done;
    r->arg = arg;
    pthread_mutex_lock(&pa->lock);
    *pa->tail = r;
    pa->tail = &r->next;
    pthread_cond_signal(&pa->cond);
    pthread_mutex_unlock(&pa->lock);
    return r;
}

const struct hub_publisher *publish_auth_req_publisher(const struct publish_auth_req *req)
{
    return &req->pub;
}

void publish_auth_cancel(struct publish_auth *pa, struct publish_auth_req *req)
{
    /* The request is either queued, being looked up, or posted; in every case deliver runs
     * later on this thread (or destroy frees it), and sees the flag. */
    (void)pa;
    req->cancelled = true;
}
