/* The peer of bench/loop.c: core/loop.c as it was before issue 12 (commit 277aed3), renamed.
 * Registrations in a list found by a linear scan on every mod and del, and walked whole after
 * every batch to free the deleted ones; timers in an unsorted list scanned twice per iteration
 * (next timeout, then the due ones). Kept only to measure the new loop against. */
#ifndef KIBITKA_BENCH_NAIVE_LOOP_H
#define KIBITKA_BENCH_NAIVE_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct naive_loop;
struct naive_timer;

typedef void (*naive_fd_cb)(struct naive_loop *loop, int fd, uint32_t events, void *opaque);
typedef void (*naive_timer_cb)(struct naive_loop *loop, void *opaque);

struct naive_loop *naive_loop_create(void);
void naive_loop_destroy(struct naive_loop **ploop);
int naive_loop_add_fd(struct naive_loop *loop, int fd, uint32_t events, naive_fd_cb cb,
                      void *opaque);
int naive_loop_mod_fd(struct naive_loop *loop, int fd, uint32_t events);
void naive_loop_del_fd(struct naive_loop *loop, int fd);
struct naive_timer *naive_loop_timer_add(struct naive_loop *loop, int64_t interval_ms, bool repeat,
                                         naive_timer_cb cb, void *opaque);
void naive_loop_timer_cancel(struct naive_loop *loop, struct naive_timer *t);
void naive_loop_post(struct naive_loop *loop, void (*fn)(void *arg), void *arg);
int naive_loop_run(struct naive_loop *loop);
void naive_loop_stop(struct naive_loop *loop);

#endif
