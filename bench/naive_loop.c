/* core/loop.c before issue 12 (commit 277aed3), names prefixed naive_: the peer of
 * bench/loop.c. See bench/naive_loop.h. Not used by the server. */
#include "bench/naive_loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"

struct reg {
    int fd;
    bool dead;
    naive_fd_cb cb;
    void *opaque;
    struct reg *next; /* all registrations, for lookup by fd and for destroy */
};

struct naive_timer {
    int64_t due_us;
    int64_t interval_us;
    bool repeat;
    bool dead;
    naive_timer_cb cb;
    void *opaque;
    struct naive_timer *next;
};

struct post {
    void (*fn)(void *arg);
    void *arg;
    struct post *next;
};

struct naive_loop {
    int epfd;
    int wakefd;
    atomic_bool stop;
    pthread_mutex_t post_lock;
    struct post *posts, **posts_tail; /* under post_lock */
    struct reg *regs;
    struct naive_timer *timers;
};

static struct reg wake_reg; /* marker for the eventfd; never dispatched to a handler */

struct naive_loop *naive_loop_create(void)
{
    struct naive_loop *loop = xcalloc(1, sizeof(*loop));
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->epfd < 0 || loop->wakefd < 0) {
        if (loop->epfd >= 0)
            close(loop->epfd);
        if (loop->wakefd >= 0)
            close(loop->wakefd);
        free(loop);
        return NULL;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &wake_reg};
    epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev);
    atomic_init(&loop->stop, false);
    pthread_mutex_init(&loop->post_lock, NULL);
    loop->posts_tail = &loop->posts;
    return loop;
}

static void run_posts(struct naive_loop *loop);

void naive_loop_destroy(struct naive_loop **ploop)
{
    struct naive_loop *loop = *ploop;
    if (!loop)
        return;
    for (struct reg *r = loop->regs, *n; r; r = n) {
        n = r->next;
        free(r);
    }
    for (struct naive_timer *t = loop->timers, *n; t; t = n) {
        n = t->next;
        free(t);
    }
    run_posts(loop); /* their owners may be waiting to free what they carry */
    pthread_mutex_destroy(&loop->post_lock);
    close(loop->epfd);
    close(loop->wakefd);
    free(loop);
    *ploop = NULL;
}

static struct reg *find_reg(struct naive_loop *loop, int fd)
{
    for (struct reg *r = loop->regs; r; r = r->next)
        if (r->fd == fd && !r->dead)
            return r;
    return NULL;
}

int naive_loop_add_fd(struct naive_loop *loop, int fd, uint32_t events, naive_fd_cb cb, void *opaque)
{
    struct reg *r = xcalloc(1, sizeof(*r));
    r->fd = fd;
    r->cb = cb;
    r->opaque = opaque;
    struct epoll_event ev = {.events = events, .data.ptr = r};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int err = -errno;
        free(r);
        return err;
    }
    r->next = loop->regs;
    loop->regs = r;
    return 0;
}

int naive_loop_mod_fd(struct naive_loop *loop, int fd, uint32_t events)
{
    struct reg *r = find_reg(loop, fd);
    if (!r)
        return -ENOENT;
    struct epoll_event ev = {.events = events, .data.ptr = r};
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void naive_loop_del_fd(struct naive_loop *loop, int fd)
{
    struct reg *r = find_reg(loop, fd);
    if (!r)
        return;
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    r->dead = true; /* freed by reap() once the current batch is dispatched */
}

struct naive_timer *naive_loop_timer_add(struct naive_loop *loop, int64_t interval_ms, bool repeat,
                                  naive_timer_cb cb, void *opaque)
{
    struct naive_timer *t = xcalloc(1, sizeof(*t));
    t->interval_us = interval_ms * 1000;
    t->due_us = clock_mono_us() + t->interval_us;
    t->repeat = repeat;
    t->cb = cb;
    t->opaque = opaque;
    t->next = loop->timers;
    loop->timers = t;
    return t;
}

void naive_loop_timer_cancel(struct naive_loop *loop, struct naive_timer *t)
{
    (void)loop;
    if (t)
        t->dead = true;
}

void naive_loop_stop(struct naive_loop *loop)
{
    atomic_store(&loop->stop, true);
    uint64_t one = 1;
    ssize_t w = write(loop->wakefd, &one, sizeof(one));
    (void)w;
}

void naive_loop_post(struct naive_loop *loop, void (*fn)(void *arg), void *arg)
{
    struct post *p = xcalloc(1, sizeof(*p));
    p->fn = fn;
    p->arg = arg;
    pthread_mutex_lock(&loop->post_lock);
    *loop->posts_tail = p;
    loop->posts_tail = &p->next;
    pthread_mutex_unlock(&loop->post_lock);
    uint64_t one = 1;
    ssize_t w = write(loop->wakefd, &one, sizeof(one));
    (void)w;
}

static void run_posts(struct naive_loop *loop)
{
    pthread_mutex_lock(&loop->post_lock);
    struct post *list = loop->posts;
    loop->posts = NULL;
    loop->posts_tail = &loop->posts;
    pthread_mutex_unlock(&loop->post_lock);
    while (list) {
        struct post *p = list;
        list = p->next;
        p->fn(p->arg);
        free(p);
    }
}

static void reap(struct naive_loop *loop)
{
    for (struct reg **pp = &loop->regs; *pp;) {
        if ((*pp)->dead) {
            struct reg *d = *pp;
            *pp = d->next;
            free(d);
        } else {
            pp = &(*pp)->next;
        }
    }
    for (struct naive_timer **pp = &loop->timers; *pp;) {
        if ((*pp)->dead) {
            struct naive_timer *d = *pp;
            *pp = d->next;
            free(d);
        } else {
            pp = &(*pp)->next;
        }
    }
}

static int next_timeout_ms(struct naive_loop *loop)
{
    int64_t now = clock_mono_us(), best = -1;
    for (struct naive_timer *t = loop->timers; t; t = t->next) {
        if (t->dead)
            continue;
        int64_t wait = t->due_us > now ? t->due_us - now : 0;
        if (best < 0 || wait < best)
            best = wait;
    }
    return best < 0 ? -1 : (int)((best + 999) / 1000);
}

static void run_timers(struct naive_loop *loop)
{
    int64_t now = clock_mono_us();
    for (struct naive_timer *t = loop->timers; t; t = t->next) {
        if (t->dead || t->due_us > now)
            continue;
        if (t->repeat)
            t->due_us = now + t->interval_us;
        else
            t->dead = true;
        t->cb(loop, t->opaque);
    }
}

int naive_loop_run(struct naive_loop *loop)
{
    struct epoll_event evs[64];
    while (!atomic_load(&loop->stop)) {
        int n = epoll_wait(loop->epfd, evs, 64, next_timeout_ms(loop));
        if (n < 0 && errno != EINTR)
            return -errno;
        for (int i = 0; i < n; i++) {
            struct reg *r = evs[i].data.ptr;
            if (r == &wake_reg) {
                uint64_t v;
                ssize_t rd = read(loop->wakefd, &v, sizeof(v));
                (void)rd;
                run_posts(loop);
                continue;
            }
            if (!r->dead)
                r->cb(loop, r->fd, evs[i].events, r->opaque);
        }
        run_timers(loop);
        reap(loop);
    }
    atomic_store(&loop->stop, false); /* so the loop can be run again */
    return 0;
}
