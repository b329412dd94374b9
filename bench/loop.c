/* The event loop at tens of thousands of timers and fds (issue 12 item 6): core/loop.c against
 * the loop it replaced (bench/naive_loop.c: lists and linear scans), in one run, on the same
 * epoll. Prints operations per second of the bench thread's CPU time, and the ratio. Run by
 * bench/loop.sh. Registrations are eventfds, so their count is bounded by RLIMIT_NOFILE (raised
 * to the hard limit); a count it cannot reach is reported as such. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench/naive_loop.h"
#include "core/alloc.h"
#include "core/loop.h"

#define ITERATIONS 2000

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A permutation of 0..n-1 (7919 is prime, so it is one unless n is a multiple of it). */
static int scatter(int k, int n)
{
    return (int)((k * 7919L) % n);
}

#define LOOP_T struct loop
#define TIMER_T struct loop_timer
#define FN(x) loop_##x
#define CASE(x) kib_##x
#include "bench/loop_cases.h"
#undef LOOP_T
#undef TIMER_T
#undef FN
#undef CASE

#define LOOP_T struct naive_loop
#define TIMER_T struct naive_timer
#define FN(x) naive_loop_##x
#define CASE(x) naive_##x
#include "bench/loop_cases.h"

static void row(const char *what, int n, double ours, double peer)
{
    printf("%-34s %7d %14.0f %14.0f %9.1fx\n", what, n, ours, peer, peer > 0 ? ours / peer : 0);
}

static int fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (int)(rl.rlim_cur > 1000000 ? 1000000 : rl.rlim_cur)
                                              : 1024;
}

int main(int argc, char **argv)
{
    int sizes[] = {10000, 50000};
    printf("Each figure is the second of two rounds (the first pays page faults).\n");
    printf("%-34s %7s %14s %14s %10s\n", "ops/s (CPU)", "n", "kibitka", "naive (old)", "ratio");
    for (int k = 0; k < 2; k++) {
        int n = sizes[k];
        double a1, c1, a2, c2;
        for (int warm = 0; warm < 2; warm++) { /* the first round pays the heap's page faults */
            kib_timer_add_cancel(n, &a1, &c1);
            naive_timer_add_cancel(n, &a2, &c2);
        }
        row("timer add", n, a1, a2);
        row("timer cancel", n, c1, c2);
        row("timer add+fire (due over 200 ms)", n, kib_timer_fire(n), naive_timer_fire(n));
        row("iterations, n timers pending", n, kib_timer_iterate(n), naive_timer_iterate(n));
    }
    int limit = fd_limit() - 100;
    for (int k = 0; k < 2; k++) {
        int n = sizes[k];
        if (n > limit) {
            printf("fds %d: not possible under RLIMIT_NOFILE %d; measuring %d\n", n, limit + 100,
                   limit);
            n = limit;
        }
        int *fds = xcalloc((size_t)n, sizeof(int));
        for (int i = 0; i < n; i++)
            if ((fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
                perror("eventfd");
                return 1;
            }
        double o[4], p[4];
        for (int warm = 0; warm < 2; warm++) {
            kib_fds(fds, n, &o[0], &o[1], &o[2], &o[3]);
            naive_fds(fds, n, &p[0], &p[1], &p[2], &p[3]);
        }
        row("fd add", n, o[0], p[0]);
        row("fd mod (scattered)", n, o[1], p[1]);
        row("iterations, n fds idle", n, o[2], p[2]);
        row("fd del (scattered)", n, o[3], p[3]);
        for (int i = 0; i < n; i++)
            close(fds[i]);
        free(fds);
    }
    return 0;
}
