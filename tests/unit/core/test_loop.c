/* The event loop: fd readiness, one-shot and repeating timers, deleting an fd from inside a
 * callback, and loop_stop from another thread. */
#include <errno.h>
#include <pthread.h>
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
    return test_report("test_loop");
}
