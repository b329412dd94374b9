/* The event loop. Registrations are found by fd in a table indexed by fd (fds are small, dense
 * integers: the kernel hands out the lowest free one), so mod and del cost O(1). Timers sit in a
 * binary min-heap ordered by (due time, arming order), each timer knowing its slot, so add,
 * cancel and firing the earliest cost O(log n) and the next timeout O(1). The list and the two
 * scans per iteration this replaces were quadratic once thousands of sessions each held timers
 * (bench/loop.sh has the figures). */
#include "core/loop.h"

#include <errno.h>
#include <limits.h>
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
    loop_fd_cb cb;
    void *opaque;
    struct reg *next_dead; /* deleted in the current batch, freed by reap() */
};

#define SLOT_RUNNING SIZE_MAX /* out of the heap while its callback runs */

struct loop_timer {
    int64_t due_us;
    int64_t interval_us;
    uint64_t seq; /* arming order: equal due times fire first armed, first run */
    size_t slot;  /* index in loop->heap, or SLOT_RUNNING */
    bool repeat;
    bool cancelled; /* cancelled from inside its own callback: freed when it returns */
    loop_timer_cb cb;
    void *opaque;
};

struct post {
    void (*fn)(void *arg);
    void *arg;
    struct post *next;
};

/* The lag gauge: the most a timer ran behind its due time, over this window and the last. */
#define LAG_WINDOW_US 10000000

struct loop {
    int epfd;
    int wakefd;
    atomic_bool stop;
    pthread_mutex_t post_lock;
    struct post *posts, **posts_tail; /* under post_lock */
    struct reg **regs;                /* by fd; NULL: not watched */
    size_t nregs;                     /* entries in regs */
    struct reg *dead;
    struct loop_timer **heap;
    size_t nheap, heap_cap;
    uint64_t seq;
    atomic_int_fast64_t *lag; /* kibitka_loop_lag_seconds' slots (LAG_*); may be NULL */
    int64_t lag_window_us, lag_cur_us, lag_prev_us;
};

static struct reg wake_reg; /* marker for the eventfd; never dispatched to a handler */

struct loop *loop_create(void)
{
    struct loop *loop = xcalloc(1, sizeof(*loop));
    atomic_init(&loop->stop, false);
    pthread_mutex_init(&loop->post_lock, NULL);
    loop->posts_tail = &loop->posts;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &wake_reg};
    if (loop->epfd < 0 || loop->wakefd < 0 ||
        epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) < 0) {
        loop_destroy(&loop); /* the one teardown, for a half-made loop too */
        return NULL;
    }
    return loop;
}

static void run_posts(struct loop *loop);
static void reap(struct loop *loop);

void loop_destroy(struct loop **ploop)
{
    struct loop *loop = *ploop;
    if (!loop)
        return;
    for (size_t i = 0; i < loop->nregs; i++)
        free(loop->regs[i]);
    free(loop->regs);
    reap(loop);
    for (size_t i = 0; i < loop->nheap; i++)
        free(loop->heap[i]);
    free(loop->heap);
    run_posts(loop); /* their owners may be waiting to free what they carry */
    pthread_mutex_destroy(&loop->post_lock);
    if (loop->epfd >= 0)
        close(loop->epfd);
    if (loop->wakefd >= 0)
        close(loop->wakefd);
    free(loop);
    *ploop = NULL;
}

/* kibitka_loop_lag_seconds' slots: the most a timer ran late over the last 10-20 s, and the
 * monotonic time the earliest timer is due (0: none). */
enum { LAG_MAX, LAG_NEXT_DUE, LAG_NSLOTS };

static int64_t lag_from_slots(atomic_int_fast64_t *slots, int64_t now)
{
    int64_t most = metrics_get(&slots[LAG_MAX]), due = metrics_get(&slots[LAG_NEXT_DUE]);
    return due > 0 && now - due > most ? now - due : most;
}

static void write_lag(struct buf *out, const char *name, atomic_int_fast64_t *slots)
{
    buf_printf(out, "%s %.6f\n", name, (double)lag_from_slots(slots, clock_mono_us()) / 1e6);
}

static atomic_int_fast64_t *lag_slots(struct metrics *m)
{
    return metrics_custom(m, METRIC_GAUGE, "kibitka_loop_lag_seconds",
                          "How late the network thread's event loop runs its timers: the most "
                          "over the last 10-20 s, or how overdue the earliest one is while the "
                          "loop is stuck.",
                          write_lag, LAG_NSLOTS);
}

void loop_set_metrics(struct loop *loop, struct metrics *metrics)
{
    loop->lag = lag_slots(metrics);
}

int64_t loop_lag_us(struct metrics *m, int64_t now)
{
    atomic_int_fast64_t *slots = metrics_find(m, "kibitka_loop_lag_seconds", NULL);
    return slots ? lag_from_slots(slots, now) : 0;
}

static struct reg *find_reg(struct loop *loop, int fd)
{
    return fd >= 0 && (size_t)fd < loop->nregs ? loop->regs[fd] : NULL;
}

int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_cb cb, void *opaque)
{
    struct reg *r = xcalloc(1, sizeof(*r));
    r->fd = fd;
    r->cb = cb;
    r->opaque = opaque;
    struct epoll_event ev = {.events = events, .data.ptr = r};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) { /* EBADF, EEXIST: before the table */
        int err = -errno;
        free(r);
        return err;
    }
    if ((size_t)fd >= loop->nregs) {
        size_t n = loop->nregs ? loop->nregs : 64;
        while (n <= (size_t)fd)
            n *= 2;
        loop->regs = xrealloc(loop->regs, n * sizeof(*loop->regs));
        memset(loop->regs + loop->nregs, 0, (n - loop->nregs) * sizeof(*loop->regs));
        loop->nregs = n;
    }
    loop->regs[fd] = r;
    return 0;
}

int loop_mod_fd(struct loop *loop, int fd, uint32_t events)
{
    struct reg *r = find_reg(loop, fd);
    if (!r)
        return -ENOENT;
    struct epoll_event ev = {.events = events, .data.ptr = r};
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void loop_del_fd(struct loop *loop, int fd)
{
    struct reg *r = find_reg(loop, fd);
    if (!r)
        return;
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    loop->regs[fd] = NULL; /* the fd may be reused and added again within this batch */
    r->dead = true;        /* a stale event for it in this batch is skipped */
    r->next_dead = loop->dead;
    loop->dead = r;
}

/* The heap: heap[0] is the earliest; a parent is never later than its children. */
static bool earlier(const struct loop_timer *a, const struct loop_timer *b)
{
    return a->due_us < b->due_us || (a->due_us == b->due_us && a->seq < b->seq);
}

static void heap_set(struct loop *loop, size_t i, struct loop_timer *t)
{
    loop->heap[i] = t;
    t->slot = i;
}

static void sift_up(struct loop *loop, size_t i)
{
    struct loop_timer *t = loop->heap[i];
    while (i > 0 && earlier(t, loop->heap[(i - 1) / 2])) {
        heap_set(loop, i, loop->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(loop, i, t);
}

static void sift_down(struct loop *loop, size_t i)
{
    struct loop_timer *t = loop->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= loop->nheap)
            break;
        if (c + 1 < loop->nheap && earlier(loop->heap[c + 1], loop->heap[c]))
            c++;
        if (!earlier(loop->heap[c], t))
            break;
        heap_set(loop, i, loop->heap[c]);
        i = c;
    }
    heap_set(loop, i, t);
}

static void heap_push(struct loop *loop, struct loop_timer *t)
{
    if (loop->nheap == loop->heap_cap) {
        loop->heap_cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
        loop->heap = xrealloc(loop->heap, loop->heap_cap * sizeof(*loop->heap));
    }
    t->seq = loop->seq++;
    loop->heap[loop->nheap++] = t;
    sift_up(loop, loop->nheap - 1);
}

static void heap_remove(struct loop *loop, struct loop_timer *t)
{
    size_t i = t->slot;
    struct loop_timer *last = loop->heap[--loop->nheap];
    if (last != t) {
        heap_set(loop, i, last);
        if (i > 0 && earlier(last, loop->heap[(i - 1) / 2]))
            sift_up(loop, i);
        else
            sift_down(loop, i);
    }
    t->slot = SLOT_RUNNING;
}

struct loop_timer *loop_timer_add(struct loop *loop, int64_t interval_ms, bool repeat,
                                  loop_timer_cb cb, void *opaque)
{
    struct loop_timer *t = xcalloc(1, sizeof(*t));
    t->interval_us = (interval_ms > 0 ? interval_ms : 0) * 1000;
    t->due_us = clock_mono_us() + t->interval_us;
    t->repeat = repeat;
    t->cb = cb;
    t->opaque = opaque;
    heap_push(loop, t);
    return t;
}

void loop_timer_cancel(struct loop *loop, struct loop_timer *t)
{
    if (!t)
        return;
    if (t->slot == SLOT_RUNNING) {
        t->cancelled = true; /* run_timers frees it when its callback returns */
        return;
    }
    heap_remove(loop, t);
    free(t);
}

void loop_stop(struct loop *loop)
{
    atomic_store(&loop->stop, true);
    uint64_t one = 1;
    ssize_t w = write(loop->wakefd, &one, sizeof(one));
    (void)w;
}

void loop_post(struct loop *loop, void (*fn)(void *arg), void *arg)
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

static void run_posts(struct loop *loop)
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

static void reap(struct loop *loop)
{
    while (loop->dead) {
        struct reg *d = loop->dead;
        loop->dead = d->next_dead;
        free(d);
    }
}

/* Also publishes when the earliest timer is due, for the lag gauge: if the loop then gets stuck
 * (a long callback, no CPU), the gauge shows how overdue that timer is while it lasts. */
static int next_timeout_ms(struct loop *loop)
{
    if (loop->lag)
        metrics_set(&loop->lag[LAG_NEXT_DUE], loop->nheap ? loop->heap[0]->due_us : 0);
    if (loop->nheap == 0)
        return -1;
    int64_t now = clock_mono_us(), due = loop->heap[0]->due_us;
    int64_t ms = due > now ? (due - now + 999) / 1000 : 0;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* The lag gauge (loop_lag_us): the most a timer ran late, over this
 * window and the last. */
static void lag_note(struct loop *loop, int64_t now, int64_t lag)
{
    if (now - loop->lag_window_us >= LAG_WINDOW_US) {
        loop->lag_prev_us = now - loop->lag_window_us < 2 * LAG_WINDOW_US ? loop->lag_cur_us : 0;
        loop->lag_cur_us = 0;
        loop->lag_window_us = now;
    }
    if (lag > loop->lag_cur_us)
        loop->lag_cur_us = lag;
    if (loop->lag) {
        int64_t most = loop->lag_cur_us > loop->lag_prev_us ? loop->lag_cur_us : loop->lag_prev_us;
        metrics_set(&loop->lag[LAG_MAX], most);
    }
}

/* Fires the timers due at the start of the pass, earliest first. A timer armed during the pass
 * (a new one, or a repeating one re-armed) waits for the next pass, even with a 0 interval: a
 * callback that re-arms itself cannot keep the loop here. Such a timer is never due before the
 * pass began, and sorts after every older timer with the same due time, so meeting one at the
 * top means no older timer is due. */
static void run_timers(struct loop *loop)
{
    int64_t now = clock_mono_us();
    uint64_t pass = loop->seq;
    int64_t lag = 0;
    while (loop->nheap > 0) {
        struct loop_timer *t = loop->heap[0];
        if (t->due_us > now || t->seq >= pass)
            break;
        if (now - t->due_us > lag)
            lag = now - t->due_us;
        heap_remove(loop, t); /* slot is SLOT_RUNNING: a cancel inside cb only marks it */
        t->cb(loop, t->opaque);
        if (t->repeat && !t->cancelled) {
            t->due_us = now + t->interval_us;
            heap_push(loop, t);
        } else {
            free(t);
        }
    }
    lag_note(loop, now, lag);
}

int loop_run(struct loop *loop)
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
