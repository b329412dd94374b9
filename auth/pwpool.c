#include "auth/pwpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/alloc.h"

struct job {
    pwpool_fn fn;
    void *arg;
    struct job *next;
};

struct pwpool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job *head, *tail;
    int queued, queue_max;
    bool stopping;
    int nthreads;
    pthread_t *threads;
};

static void *worker(void *opaque)
{
    struct pwpool *p = opaque;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->cond, &p->lock);
        if (p->stopping)
            break; /* destroy cancels what is still queued */
        struct job *j = p->head;
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        pthread_mutex_unlock(&p->lock);
        j->fn(j->arg, false);
        free(j);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

struct pwpool *pwpool_create(int threads, int queue_max)
{
    struct pwpool *p = xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->queue_max = queue_max;
    p->threads = xcalloc((size_t)(threads > 0 ? threads : 1), sizeof(*p->threads));
    for (int i = 0; i < (threads > 0 ? threads : 1); i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
            break; /* fewer threads: slower logins, still correct as long as one runs */
        p->nthreads++;
    }
    if (p->nthreads == 0)
        abort(); /* no thread at all: no login could ever be answered */
    return p;
}

void pwpool_stop(struct pwpool *p)
{
    pthread_mutex_lock(&p->lock);
    bool joined = p->stopping;
    p->stopping = true;
    struct job *j = p->head;
    p->head = p->tail = NULL;
    p->queued = 0;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    while (j) {
        struct job *next = j->next;
        j->fn(j->arg, true);
        free(j);
        j = next;
    }
    if (joined)
        return; /* stopped before: the threads are joined already */
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
}

void pwpool_destroy(struct pwpool **pp)
{
    struct pwpool *p = *pp;
    if (!p)
        return;
    pwpool_stop(p);
    free(p->threads);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
    *pp = NULL;
}

int pwpool_submit(struct pwpool *p, pwpool_fn fn, void *arg)
{
    pthread_mutex_lock(&p->lock);
    if (p->stopping || p->queued >= p->queue_max) {
        pthread_mutex_unlock(&p->lock);
        return -EAGAIN;
    }
    struct job *j = xcalloc(1, sizeof(*j));
    j->fn = fn;
    j->arg = arg;
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->queued++;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int pwpool_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 2 ? 2 : 1;
}
