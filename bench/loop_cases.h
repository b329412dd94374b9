/* The cases of bench/loop.c, included once per loop: LOOP_T and TIMER_T name its types, FN(x)
 * its functions (loop_x or naive_loop_x), CASE(x) the case's name for this loop. Every case
 * returns operations per second of the bench thread's CPU time. */

struct CASE(st) {
    int fired, want, iters;
};

static void CASE(on_fire)(LOOP_T *loop, void *o)
{
    struct CASE(st) *s = o;
    if (++s->fired == s->want)
        FN(stop)(loop);
}

static void CASE(on_iter)(LOOP_T *loop, void *o)
{
    struct CASE(st) *s = o;
    if (++s->iters == s->want)
        FN(stop)(loop);
}

static void CASE(on_stop)(LOOP_T *loop, void *o)
{
    FN(stop)(loop);
}

static void CASE(on_fd)(LOOP_T *loop, int fd, uint32_t events, void *o) {}

/* n one-shot timers 1 s to 60 s away; then all cancelled in a scattered order, and one loop
 * iteration (the old loop frees cancelled timers after each iteration). */
static void CASE(timer_add_cancel)(int n, double *add, double *cancel)
{
    LOOP_T *loop = FN(create)();
    TIMER_T **t = xcalloc((size_t)n, sizeof(*t));
    double t0 = cpu_s();
    for (int i = 0; i < n; i++)
        t[i] = FN(timer_add)(loop, 1000 + (i * 7919L) % 59000, false, CASE(on_fire), NULL);
    double t1 = cpu_s();
    for (int k = 0; k < n; k++)
        FN(timer_cancel)(loop, t[scatter(k, n)]);
    FN(timer_add)(loop, 0, false, CASE(on_stop), NULL);
    FN(run)(loop);
    double t2 = cpu_s();
    *add = n / (t1 - t0);
    *cancel = n / (t2 - t1);
    FN(destroy)(&loop);
    free(t);
}

/* n one-shot timers due over 0-199 ms, run until every one has fired: timers added and fired
 * per second of CPU (the wall time, ~200 ms, is mostly the loop asleep). */
static double CASE(timer_fire)(int n)
{
    LOOP_T *loop = FN(create)();
    struct CASE(st) s = {.want = n};
    double t0 = cpu_s();
    for (int i = 0; i < n; i++)
        FN(timer_add)(loop, (i * 7919L) % 200, false, CASE(on_fire), &s);
    FN(run)(loop);
    double t1 = cpu_s();
    FN(destroy)(&loop);
    return s.fired == n ? n / (t1 - t0) : 0;
}

/* Loop iterations per second with n timers pending 60 s away: the many sessions' DTLS,
 * consent and RTCP timers while the loop wakes for I/O. A 0 ms timer makes each iteration. */
static double CASE(timer_iterate)(int n)
{
    LOOP_T *loop = FN(create)();
    for (int i = 0; i < n; i++)
        FN(timer_add)(loop, 60000, false, CASE(on_fire), NULL);
    struct CASE(st) s = {.want = ITERATIONS};
    double t0 = cpu_s();
    FN(timer_add)(loop, 0, true, CASE(on_iter), &s);
    FN(run)(loop);
    double t1 = cpu_s();
    FN(destroy)(&loop);
    return ITERATIONS / (t1 - t0);
}

/* n eventfds: add, mod in a scattered order, loop iterations with all of them idle, del in a
 * scattered order (plus one iteration, which frees them). */
static void CASE(fds)(const int *fds, int n, double *add, double *mod, double *iter, double *del)
{
    LOOP_T *loop = FN(create)();
    double t0 = cpu_s();
    for (int i = 0; i < n; i++)
        FN(add_fd)(loop, fds[i], 0, CASE(on_fd), NULL);
    double t1 = cpu_s();
    for (int k = 0; k < n; k++)
        FN(mod_fd)(loop, fds[scatter(k, n)], EPOLLIN);
    double t2 = cpu_s();
    struct CASE(st) s = {.want = ITERATIONS};
    TIMER_T *it = FN(timer_add)(loop, 0, true, CASE(on_iter), &s);
    FN(run)(loop);
    FN(timer_cancel)(loop, it);
    double t3 = cpu_s();
    for (int k = 0; k < n; k++)
        FN(del_fd)(loop, fds[scatter(k, n)]);
    FN(timer_add)(loop, 0, false, CASE(on_stop), NULL);
    FN(run)(loop);
    double t4 = cpu_s();
    *add = n / (t1 - t0);
    *mod = n / (t2 - t1);
    *iter = ITERATIONS / (t3 - t2);
    *del = n / (t4 - t3);
    FN(destroy)(&loop);
}
