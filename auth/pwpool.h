/* The password pool: a small fixed number of threads that run the argon2id work (a login's
 * verify), with a bounded queue in front of them.
 *
 * Why a pool of its own: one argon2id verify costs about 0.1 s of CPU and 64 MiB, and on the
 * HTTP threads a burst of logins kept playlists and /health waiting behind them. Here a burst
 * waits in the queue while the HTTP threads go on serving; when the queue is full the caller
 * is told at once (-EAGAIN) and answers 503 with Retry-After. The thread count also bounds the
 * memory argon2id takes (threads x 64 MiB).
 *
 * Jobs run in submission order. A job's fn is called exactly once: on a pool thread with
 * cancelled false, or, for a job still queued when the pool is destroyed, with cancelled true
 * on the destroying thread (it should then answer "unavailable" and release arg). fn owns arg. */
#ifndef KIBITKA_AUTH_PWPOOL_H
#define KIBITKA_AUTH_PWPOOL_H

#include <stdbool.h>

struct pwpool;

typedef void (*pwpool_fn)(void *arg, bool cancelled);

/* threads >= 1 run the jobs; at most queue_max wait for one (jobs being run not counted). */
struct pwpool *pwpool_create(int threads, int queue_max);
/* Cancels the queued jobs, waits for the running ones and joins the threads; from then on
 * every submit is refused. The pool stays allocated (submit may still be called). Idempotent;
 * one thread at a time; must not be called from a job. */
void pwpool_stop(struct pwpool *p);
/* pwpool_stop, then frees. */
void pwpool_destroy(struct pwpool **pp);
/* Queues fn(arg). 0, or -EAGAIN when queue_max jobs are waiting already (or the pool is being
 * destroyed): fn is then not called and arg stays the caller's. */
int pwpool_submit(struct pwpool *p, pwpool_fn fn, void *arg);
/* The pool's default size on this machine: 1 thread on up to 2 CPUs (the other core keeps
 * the network and HTTP threads going), 2 beyond. */
int pwpool_default_threads(void);

#endif
