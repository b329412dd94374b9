/* The password pool: jobs run off the caller's thread in order, the queue bound refuses with
 * -EAGAIN, and destroy cancels what is still queued (each fn exactly once). */
#include "auth/pwpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "test.h"

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static atomic_int ran, cancelled, order_ok = 1, next_seq, started;
static pthread_t main_thread;

static void job(void *arg, bool was_cancelled)
{
    int seq = (int)(intptr_t)arg;
    if (was_cancelled) {
        atomic_fetch_add(&cancelled, 1);
        return;
    }
    if (pthread_equal(pthread_self(), main_thread))
        atomic_store(&order_ok, 0);
    atomic_fetch_add(&started, 1);
    pthread_mutex_lock(&gate); /* held by main: the first job blocks here */
    pthread_mutex_unlock(&gate);
    if (atomic_fetch_add(&next_seq, 1) != seq)
        atomic_store(&order_ok, 0);
    atomic_fetch_add(&ran, 1);
}

int main(void)
{
    main_thread = pthread_self();
    CHECK(pwpool_default_threads() >= 1 && pwpool_default_threads() <= 2);
    /* One thread, 3 queued at most: job 0 runs (blocked at the gate), 1..3 wait, 4 is refused. */
    struct pwpool *p = pwpool_create(1, 3);
    pthread_mutex_lock(&gate);
    CHECK_EQ_INT(pwpool_submit(p, job, (void *)0), 0);
    for (int i = 0; i < 500 && atomic_load(&started) == 0; i++)
        usleep(10000); /* until the worker has taken job 0 off the queue */
    for (intptr_t i = 1; i <= 3; i++)
        CHECK_EQ_INT(pwpool_submit(p, job, (void *)i), 0);
    CHECK_EQ_INT(pwpool_submit(p, job, (void *)99), -EAGAIN);
    pthread_mutex_unlock(&gate);
    for (int i = 0; i < 500 && atomic_load(&ran) < 4; i++)
        usleep(10000);
    CHECK_EQ_INT(atomic_load(&ran), 4);
    CHECK(atomic_load(&order_ok));
    pwpool_destroy(&p);
    CHECK(p == NULL);

    /* Destroy with jobs queued behind a running one: the running one finishes, the queued ones
     * are cancelled, none is lost or run twice. */
    atomic_store(&ran, 0);
    atomic_store(&next_seq, 0);
    atomic_store(&started, 0);
    p = pwpool_create(1, 8);
    pthread_mutex_lock(&gate);
    CHECK_EQ_INT(pwpool_submit(p, job, (void *)0), 0);
    for (int i = 0; i < 500 && atomic_load(&started) == 0; i++)
        usleep(10000);
    for (intptr_t i = 1; i <= 5; i++)
        CHECK_EQ_INT(pwpool_submit(p, job, (void *)i), 0);
    pthread_mutex_unlock(&gate);
    pwpool_stop(p); /* what a server stopping does first: every job answered, threads joined */
    CHECK_EQ_INT(atomic_load(&ran) + atomic_load(&cancelled), 6);
    CHECK(atomic_load(&ran) >= 1);
    CHECK_EQ_INT(pwpool_submit(p, job, (void *)7), -EAGAIN); /* refused after the stop */
    pwpool_stop(p);                                          /* idempotent */
    pwpool_destroy(&p);
    CHECK_EQ_INT(atomic_load(&ran) + atomic_load(&cancelled), 6);
    return test_report("test_pwpool");
}
