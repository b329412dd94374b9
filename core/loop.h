/* The event loop: epoll over non-blocking file descriptors plus a few timers.
 *
 * One loop runs on one thread (the network thread); every function here except loop_stop must be
 * called on that thread. Callbacks run on it and must never block. A handler may delete its own
 * fd, or any other, from inside a callback: registrations are freed only after the current batch
 * of events has been dispatched, so a stale event for a deleted fd is skipped, not delivered.
 *
 * Sized for tens of thousands of fds and timers: a registration is found by its fd in O(1);
 * timers are a min-heap, O(log n) to add, cancel or fire. Due timers fire earliest first, and
 * timers due at the same time in the order they were armed. */
#ifndef KIBITKA_CORE_LOOP_H
#define KIBITKA_CORE_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "core/metrics.h"

struct loop;
struct loop_timer;

/* events: EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP as returned by epoll_wait. */
typedef void (*loop_fd_cb)(struct loop *loop, int fd, uint32_t events, void *opaque);
typedef void (*loop_timer_cb)(struct loop *loop, void *opaque);

struct loop *loop_create(void);
/* Frees the loop and every registration and timer; does not close the fds. */
void loop_destroy(struct loop **ploop);

/* Registers kibitka_loop_lag_seconds in metrics and publishes there how late the loop runs its
 * timers. metrics must outlive the loop; NULL: none. */
void loop_set_metrics(struct loop *loop, struct metrics *metrics);
/* How late the loop of metrics runs (kibitka_loop_lag_seconds), at monotonic time now, from any
 * thread: the most a timer ran behind its due time over the last 10-20 s, or, when the loop is
 * stuck now (in a long callback, or starved of CPU), how overdue its earliest timer already is.
 * 0 when no loop registered it. */
int64_t loop_lag_us(struct metrics *m, int64_t now);

/* Watches fd for events (EPOLLIN and/or EPOLLOUT, level-triggered). 0 or -errno. */
int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_cb cb, void *opaque);
int loop_mod_fd(struct loop *loop, int fd, uint32_t events);
/* Stops watching fd. The caller still owns and closes fd. */
void loop_del_fd(struct loop *loop, int fd);

/* Calls cb after interval_ms, and every interval_ms after that when repeat is true (counted
 * from when the loop ran it, so a late loop does not fire a burst to catch up). The handle stays
 * valid until loop_timer_cancel, or, for a one-shot timer, until its callback returns; a callback
 * may cancel its own timer, or any other. A timer armed or re-armed inside a timer callback
 * fires in a later iteration, never in the same one, even with interval 0. */
struct loop_timer *loop_timer_add(struct loop *loop, int64_t interval_ms, bool repeat,
                                  loop_timer_cb cb, void *opaque);
/* Frees t (after its callback returns, when called from it). NULL is ignored. */
void loop_timer_cancel(struct loop *loop, struct loop_timer *t);

/* Runs fn(arg) on the loop's thread soon. Safe from any thread: the way worker threads hand
 * results back (a database answer for a waiting RTMP publish, say). Calls run in the order
 * posted. Posts still queued when the loop is destroyed are run by loop_destroy, so whatever they
 * carry is freed: their owners must be ready for that (cancelled requests, say). */
void loop_post(struct loop *loop, void (*fn)(void *arg), void *arg);

/* Runs until loop_stop, which it then forgets: the loop may be run again. Returns 0, or -errno
 * if epoll itself failed. */
int loop_run(struct loop *loop);
/* Asks loop_run to return after the current batch. Safe from any thread and from a signal
 * handler (it writes an eventfd). */
void loop_stop(struct loop *loop);

#endif
