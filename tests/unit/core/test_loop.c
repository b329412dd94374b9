/* The event loop: fd readiness, one-shot and repeating timers, deleting an fd from inside a
 * callback, and loop_stop from another thread; timer order, cancel and re-arm from callbacks,
 * 50,000 timers and 10,000 registrations (the heap and the fd table), the lag gauge. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/loop.h"
#include "test.h"

struct st {
    int reads, ticks, once;
    int fds[2];
};

static void on_read(struct loop *loop, int fd, uint32_t ev, void *o)
{
    struct st *s = o;
    char c;
    if (read(fd, &c, 1) == 1)
        s->reads++;
    loop_del_fd(loop, fd); /* deleting itself inside its callback is allowed */
}

static void on_tick(struct loop *loop, void *o)
{
    struct st *s = o;
    if (++s->ticks == 5)
        loop_stop(loop);
}

static void on_once(struct loop *loop, void *o)
{
    ((struct st *)o)->once++;
}

struct posted {
    struct loop *loop;
    int order[3], n;
};

static void on_post(void *arg)
{
    struct posted *p = arg;
    p->order[p->n] = p->n + 1;
    if (++p->n == 3)
        loop_stop(p->loop);
}

static void *poster(void *arg)
{
    struct posted *p = arg;
    usleep(20000);
    for (int i = 0; i < 3; i++)
        loop_post(p->loop, on_post, p);
    return NULL;
}

static void post_at_destroy(void *arg)
{
    (*(int *)arg)++;
}

static void *stopper(void *arg)
{
    usleep(50000);
    loop_stop(arg);
    return NULL;
}

/* Many timers: each records the order it fired in; its expected rank is its due time. */
#define NTIMERS 50000

struct many {
    struct loop *loop;
    struct loop_timer **handles;
    int64_t *lo, *hi; /* by timer index: bounds of its due time (clock before and after add) */
    int *ms;          /* by timer index: its interval */
    int *fired_order; /* timer indexes in firing order */
    int nfired, nexpect;
    int cancelled_fired; /* a cancelled timer that fired anyway: must stay 0 */
    bool *cancelled;
};

struct many_arg {
    struct many *m;
    int idx;
};

static void on_many(struct loop *loop, void *o)
{
    struct many_arg *a = o;
    struct many *m = a->m;
    if (m->cancelled[a->idx])
        m->cancelled_fired++;
    m->fired_order[m->nfired++] = a->idx;
    /* every 7th timer cancels a later one from inside its callback */
    if (a->idx % 7 == 0 && a->idx + 3 < NTIMERS && !m->cancelled[a->idx + 3] &&
        m->handles[a->idx + 3]) {
        loop_timer_cancel(loop, m->handles[a->idx + 3]);
        m->cancelled[a->idx + 3] = true;
        m->nexpect--;
    }
    m->handles[a->idx] = NULL; /* one-shot: gone once this returns */
    if (m->nfired == m->nexpect)
        loop_stop(loop);
}

static void test_many_timers(void)
{
    struct many m = {0};
    m.loop = loop_create();
    m.handles = calloc(NTIMERS, sizeof(*m.handles));
    m.lo = calloc(NTIMERS, sizeof(*m.lo));
    m.hi = calloc(NTIMERS, sizeof(*m.hi));
    m.ms = calloc(NTIMERS, sizeof(*m.ms));
    m.fired_order = calloc(NTIMERS, sizeof(*m.fired_order));
    m.cancelled = calloc(NTIMERS, sizeof(*m.cancelled));
    struct many_arg *args = calloc(NTIMERS, sizeof(*args));
    srand(12);
    /* Intervals 0..199 ms in a random order, many equal. Each timer's due time lies between
     * the clock read before its add and the one after, plus its interval: a timer must never
     * fire after one whose whole range is later, and of two with the same interval the one
     * armed first (lower index: it is due no later, and ties go in arming order) fires first. */
    for (int i = 0; i < NTIMERS; i++) {
        args[i] = (struct many_arg){&m, i};
        m.ms[i] = rand() % 200;
        m.lo[i] = clock_mono_us() + m.ms[i] * 1000;
        m.handles[i] = loop_timer_add(m.loop, m.ms[i], false, on_many, &args[i]);
        m.hi[i] = clock_mono_us() + m.ms[i] * 1000;
    }
    m.nexpect = NTIMERS;
    /* cancel one in ten before the loop runs, in a scattered order */
    for (int i = 5; i < NTIMERS; i += 10) {
        loop_timer_cancel(m.loop, m.handles[i]);
        m.handles[i] = NULL;
        m.cancelled[i] = true;
        m.nexpect--;
    }
    CHECK_EQ_INT(loop_run(m.loop), 0);
    CHECK_EQ_INT(m.nfired, m.nexpect);
    CHECK_EQ_INT(m.cancelled_fired, 0);
    /* fired in due order, ties in arming order (the old unsorted list fired newest first) */
    int bad = 0;
    for (int k = 1; k < m.nfired; k++) {
        int a = m.fired_order[k - 1], b = m.fired_order[k];
        if (m.lo[a] > m.hi[b] || (m.ms[a] == m.ms[b] && a > b))
            bad++;
    }
    CHECK_EQ_INT(bad, 0);
    loop_destroy(&m.loop);
    free(m.handles);
    free(m.lo);
    free(m.hi);
    free(m.ms);
    free(m.fired_order);
    free(m.cancelled);
    free(args);
}

/* Re-arm and cancel from inside callbacks. */
struct rearm {
    int a, b, zero;
    struct loop_timer *tb;
};

static void on_zero(struct loop *loop, void *o)
{
    struct rearm *r = o;
    r->zero++; /* a 0 ms repeating timer: once per iteration, never a spin inside one */
}

static void on_b(struct loop *loop, void *o)
{
    struct rearm *r = o;
    if (++r->b == 3) {
        loop_timer_cancel(loop, r->tb); /* cancels itself: no further calls, no leak */
        r->tb = NULL;
        loop_stop(loop);
    }
}

static void on_a(struct loop *loop, void *o)
{
    struct rearm *r = o;
    if (++r->a < 4)
        loop_timer_add(loop, 1, false, on_a, r); /* re-arms itself as a new one-shot */
    else if (r->a == 4)
        r->tb = loop_timer_add(loop, 2, true, on_b, r);
}

static void test_rearm_cancel(void)
{
    struct loop *loop = loop_create();
    struct rearm r = {0};
    loop_timer_add(loop, 1, false, on_a, &r);
    /* a 0 ms repeating timer, re-armed each pass: if re-arming let it fire again in the same
     * pass, loop_run would never leave run_timers and this test would hang */
    struct loop_timer *z = loop_timer_add(loop, 0, true, on_zero, &r);
    CHECK_EQ_INT(loop_run(loop), 0);
    CHECK_EQ_INT(r.a, 4);
    CHECK_EQ_INT(r.b, 3);
    CHECK(r.zero >= 1);
    loop_timer_cancel(loop, z);
    loop_timer_cancel(loop, NULL);
    loop_destroy(&loop);
}

/* Registrations: 10,000 eventfds, readiness delivered to the right one, mod and del in a
 * scattered order, a callback deleting others (a stale event for them is skipped) and an fd
 * number reused within the same batch. */
struct fdt {
    struct loop *loop;
    int *fds, n;
    int *hits;
    int calls, wrong, first, odd_hits;
};

struct fd_arg {
    struct fdt *t;
    int idx;
};

static void on_fd(struct loop *loop, int fd, uint32_t ev, void *o)
{
    struct fd_arg *a = o;
    struct fdt *t = a->t;
    uint64_t v;
    if (fd != t->fds[a->idx])
        t->wrong++;
    if (read(fd, &v, sizeof(v)) == sizeof(v)) {
        t->hits[a->idx]++;
        t->odd_hits += a->idx % 2;
    }
    /* the first one called deletes every even-numbered one: their pending events are skipped */
    if (t->calls++ == 0) {
        t->first = a->idx;
        for (int i = 0; i < t->n; i += 2)
            if (i != a->idx)
                loop_del_fd(loop, t->fds[i]);
    }
    if (t->odd_hits == t->n / 2)
        loop_stop(loop);
}

static int fd_budget(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1000;
    long n = (long)rl.rlim_cur - 100;
    return n > 10000 ? 10000 : n < 0 ? 0 : (int)n;
}

static void test_many_fds(void)
{
    struct fdt t = {0};
    t.n = fd_budget();
    if (t.n < 10000)
        fprintf(stderr, "test_loop: only %d registrations (RLIMIT_NOFILE)\n", t.n);
    t.loop = loop_create();
    t.fds = calloc((size_t)t.n, sizeof(int));
    t.hits = calloc((size_t)t.n, sizeof(int));
    struct fd_arg *args = calloc((size_t)t.n, sizeof(*args));
    for (int i = 0; i < t.n; i++) {
        t.fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        args[i] = (struct fd_arg){&t, i};
        CHECK(t.fds[i] >= 0);
        CHECK_EQ_INT(loop_add_fd(t.loop, t.fds[i], 0, on_fd, &args[i]), 0);
    }
    CHECK_EQ_INT(loop_add_fd(t.loop, t.fds[0], EPOLLIN, on_fd, &args[0]), -EEXIST);
    /* mod every one to EPOLLIN, in a scattered order, and make each readable */
    for (int k = 0; k < t.n; k++) {
        int i = (int)(((long)k * 7919) % t.n);
        CHECK_EQ_INT(loop_mod_fd(t.loop, t.fds[i], EPOLLIN), 0);
    }
    uint64_t one = 1;
    for (int i = 0; i < t.n; i++)
        CHECK(write(t.fds[i], &one, sizeof(one)) == sizeof(one));
    CHECK_EQ_INT(loop_run(t.loop), 0);
    /* every odd one was read exactly once (level-triggered, read drains it); of the even ones
     * only the one that deleted them, if it was even */
    int odd_ok = 0, even_read = 0;
    for (int i = 0; i < t.n; i++) {
        if (i % 2)
            odd_ok += t.hits[i] == 1;
        else
            even_read += t.hits[i];
    }
    CHECK_EQ_INT(odd_ok, t.n / 2);
    CHECK(even_read <= 1);
    CHECK_EQ_INT(t.wrong, 0);
    int still = 0;
    for (int i = 0; i < t.n; i += 2)
        still += i != t.first && loop_mod_fd(t.loop, t.fds[i], EPOLLIN) != -ENOENT;
    CHECK_EQ_INT(still, 0);
    /* del the rest in a scattered order; mod then says ENOENT */
    for (int k = 0; k < t.n; k++) {
        int i = (int)(((long)k * 7919) % t.n);
        loop_del_fd(t.loop, t.fds[i]);
    }
    int left = 0;
    for (int i = 0; i < t.n; i++)
        left += loop_mod_fd(t.loop, t.fds[i], EPOLLIN) != -ENOENT;
    CHECK_EQ_INT(left, 0);
    loop_destroy(&t.loop);
    for (int i = 0; i < t.n; i++)
        close(t.fds[i]);
    free(t.fds);
    free(t.hits);
    free(args);
}

/* An fd deleted, closed, and its number reused by a new registration inside one callback: the
 * stale event of the old one goes nowhere, the new one gets its own. */
struct reuse {
    int a, b; /* two eventfds, both readable */
    int a_calls, b_calls, c_calls, c_fd;
};

static void on_c(struct loop *loop, int fd, uint32_t ev, void *o)
{
    struct reuse *r = o;
    uint64_t v;
    if (read(fd, &v, sizeof(v)) == sizeof(v))
        r->c_calls++;
    loop_del_fd(loop, fd);
    loop_stop(loop);
}

static void on_ab(struct loop *loop, int fd, uint32_t ev, void *o)
{
    struct reuse *r = o;
    int other = fd == r->a ? r->b : r->a;
    if (fd == r->a)
        r->a_calls++;
    else
        r->b_calls++;
    /* the first of the two called closes the other and puts a new fd in its number */
    loop_del_fd(loop, other);
    close(other);
    int c = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
    r->c_fd = c;
    loop_add_fd(loop, c, EPOLLIN, on_c, r);
    loop_del_fd(loop, fd);
}

static void test_fd_reuse(void)
{
    struct loop *loop = loop_create();
    struct reuse r = {0};
    r.a = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
    r.b = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
    loop_add_fd(loop, r.a, EPOLLIN, on_ab, &r);
    loop_add_fd(loop, r.b, EPOLLIN, on_ab, &r);
    CHECK_EQ_INT(loop_run(loop), 0);
    CHECK_EQ_INT(r.a_calls + r.b_calls, 1); /* the other's pending event was skipped */
    CHECK_EQ_INT(r.c_calls, 1);
    CHECK(r.c_fd == r.a || r.c_fd == r.b); /* the number was reused */
    loop_destroy(&loop);
    close(r.c_fd);
    close(r.a_calls ? r.a : r.b);
}

/* The lag gauge: a callback that blocks shows while it blocks (the earliest timer overdue),
 * and afterwards as the windowed maximum. */
struct lagt {
    struct metrics *m;
    int64_t seen_during_us;
};

static void on_block(struct loop *loop, void *o)
{
    struct lagt *l = o;
    usleep(300000);
    l->seen_during_us = loop_lag_us(l->m, clock_mono_us());
}

static void on_after(struct loop *loop, void *o)
{
    loop_stop(loop);
}

static void test_lag_gauge(void)
{
    struct metrics *m = metrics_create();
    struct loop *loop = loop_create();
    loop_set_metrics(loop, m);
    struct lagt l = {m, 0};
    struct loop_timer *tick = loop_timer_add(loop, 5, true, on_after, NULL);
    CHECK_EQ_INT(loop_run(loop), 0); /* one pass: publishes the earliest due time */
    CHECK(loop_lag_us(m, clock_mono_us()) < 1000000); /* generous: a loaded box */
    loop_timer_cancel(loop, tick);
    loop_timer_add(loop, 10, false, on_block, &l);
    loop_timer_add(loop, 20, false, on_after, NULL);
    CHECK_EQ_INT(loop_run(loop), 0);
    CHECK(l.seen_during_us >= 250000);
    CHECK(metrics_value(m, "kibitka_loop_lag_seconds", NULL) >=
          250000); /* on_after ran 280 ms late */
    loop_destroy(&loop);
    metrics_destroy(&m);
}

int main(void)
{
    struct loop *loop = loop_create();
    struct st s = {0};
    CHECK(pipe(s.fds) == 0);
    CHECK_EQ_INT(loop_add_fd(loop, s.fds[0], EPOLLIN, on_read, &s), 0);
    CHECK(write(s.fds[1], "ab", 2) == 2);
    loop_timer_add(loop, 10, true, on_tick, &s);
    loop_timer_add(loop, 5, false, on_once, &s);
    int64_t t0 = clock_mono_us();
    CHECK_EQ_INT(loop_run(loop), 0);
    int64_t took = clock_mono_us() - t0;
    CHECK_EQ_INT(s.reads, 1); /* deleted after the first byte */
    CHECK_EQ_INT(s.ticks, 5);
    CHECK_EQ_INT(s.once, 1);
    CHECK(took >= 45000);
    CHECK_EQ_INT(loop_mod_fd(loop, s.fds[0], EPOLLIN), -ENOENT);
    loop_destroy(&loop);

    loop = loop_create();
    pthread_t th;
    pthread_create(&th, NULL, stopper, loop);
    CHECK_EQ_INT(loop_run(loop), 0); /* returns once the other thread stops it */
    pthread_join(th, NULL);
    loop_destroy(&loop);
    CHECK(loop == NULL);
    /* loop_post from another thread runs on the loop, in order */
    struct posted p = {loop_create(), {0}, 0};
    pthread_create(&th, NULL, poster, &p);
    CHECK_EQ_INT(loop_run(p.loop), 0);
    pthread_join(th, NULL);
    CHECK_EQ_INT(p.n, 3);
    CHECK(p.order[0] == 1 && p.order[1] == 2 && p.order[2] == 3);
    int never = 0;
    loop_post(p.loop, post_at_destroy, &never); /* run by destroy, so nothing leaks */
    loop_destroy(&p.loop);
    CHECK_EQ_INT(never, 1);

    close(s.fds[0]);
    close(s.fds[1]);

    test_many_timers();
    test_rearm_cancel();
    test_many_fds();
    test_fd_reuse();
    test_lag_gauge();
    return test_report("test_loop");
}
