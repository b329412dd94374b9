/* The /metrics registry (core/metrics.c): registration (idempotent, by name and label value),
 * labelled families, custom families and their slots, the text it writes, a NULL registry, and
 * increments from several threads at once while another thread scrapes. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/metrics.h"
#include "test.h"

static char *text(struct metrics *m)
{
    struct buf b;
    buf_init(&b);
    metrics_write(m, &b);
    buf_append(&b, "", 1);
    char *s = strdup((char *)buf_head(&b));
    buf_free(&b);
    return s;
}

static void test_register_and_write(void)
{
    struct metrics *m = metrics_create();
    atomic_int_fast64_t *c = metrics_counter(m, "kibitka_a_total", "As counted.");
    atomic_int_fast64_t *g = metrics_gauge(m, "kibitka_b", "Bs now.");
    CHECK(c && g && c != g);
    CHECK(metrics_counter(m, "kibitka_a_total", "As counted.") == c); /* same name: same handle */
    metrics_add(c, 3);
    metrics_add(g, 5);
    metrics_add(g, -2);
    CHECK_EQ_INT(metrics_value(m, "kibitka_a_total", NULL), 3);
    CHECK_EQ_INT(metrics_value(m, "kibitka_b", NULL), 3);
    CHECK_EQ_INT(metrics_value(m, "kibitka_missing", NULL), 0);
    CHECK(metrics_find(m, "kibitka_missing", NULL) == NULL);
    char *s = text(m);
    CHECK_STREQ(s, "# HELP kibitka_a_total As counted.\n# TYPE kibitka_a_total counter\n"
                   "kibitka_a_total 3\n"
                   "# HELP kibitka_b Bs now.\n# TYPE kibitka_b gauge\nkibitka_b 3\n");
    free(s);
    metrics_destroy(&m);
    CHECK(m == NULL);
}

static void test_labels(void)
{
    struct metrics *m = metrics_create();
    const char *help = "Closed, by reason.";
    atomic_int_fast64_t *x =
        metrics_labelled(m, METRIC_COUNTER, "kibitka_c_total", help, "reason", "x");
    atomic_int_fast64_t *y =
        metrics_labelled(m, METRIC_COUNTER, "kibitka_c_total", help, "reason", "y");
    CHECK(x != y);
    CHECK(metrics_labelled(m, METRIC_COUNTER, "kibitka_c_total", help, "reason", "x") == x);
    metrics_add(y, 7);
    CHECK(metrics_find(m, "kibitka_c_total", "y") == y);
    char *s = text(m);
    CHECK_STREQ(s, "# HELP kibitka_c_total Closed, by reason.\n# TYPE kibitka_c_total counter\n"
                   "kibitka_c_total{reason=\"x\"} 0\nkibitka_c_total{reason=\"y\"} 7\n");
    free(s);
    metrics_destroy(&m);
}

static void write_tenths(struct buf *out, const char *name, atomic_int_fast64_t *slots)
{
    int64_t v = metrics_get(&slots[0]) + metrics_get(&slots[1]);
    buf_printf(out, "%s %lld.%lld\n", name, (long long)(v / 10), (long long)(v % 10));
}

static void test_custom(void)
{
    struct metrics *m = metrics_create();
    atomic_int_fast64_t *slots =
        metrics_custom(m, METRIC_GAUGE, "kibitka_ratio", "A ratio.", write_tenths, 2);
    CHECK(slots != NULL);
    CHECK(metrics_custom(m, METRIC_GAUGE, "kibitka_ratio", "A ratio.", write_tenths, 2) == slots);
    metrics_set(&slots[0], 12);
    metrics_set(&slots[1], 3);
    CHECK(metrics_find(m, "kibitka_ratio", NULL) == slots);
    char *s = text(m);
    CHECK_STREQ(s,
                "# HELP kibitka_ratio A ratio.\n# TYPE kibitka_ratio gauge\nkibitka_ratio 1.5\n");
    free(s);
    metrics_destroy(&m);
}

/* Without a registry every handle is NULL and bumping one does nothing. */
static void test_null(void)
{
    atomic_int_fast64_t *h = metrics_counter(NULL, "kibitka_a_total", "As.");
    CHECK(h == NULL);
    metrics_add(h, 1);
    metrics_set(h, 1);
    CHECK_EQ_INT(metrics_get(h), 0);
    CHECK(metrics_custom(NULL, METRIC_GAUGE, "kibitka_r", "R.", write_tenths, 1) == NULL);
    CHECK_EQ_INT(metrics_value(NULL, "kibitka_a_total", NULL), 0);
    metrics_destroy(&(struct metrics *){NULL});
}

#define THREADS 4
#define ADDS 100000

struct worker_arg {
    struct metrics *m;
    int id;
};

/* Each thread registers (as a module created on its own thread would) and bumps. */
static void *adder(void *opaque)
{
    struct worker_arg *a = opaque;
    char value[8];
    snprintf(value, sizeof(value), "t%d", a->id);
    atomic_int_fast64_t *shared = metrics_counter(a->m, "kibitka_shared_total", "Shared.");
    atomic_int_fast64_t *own =
        metrics_labelled(a->m, METRIC_COUNTER, "kibitka_own_total", "Own.", "thread", value);
    for (int i = 0; i < ADDS; i++) {
        metrics_add(shared, 1);
        metrics_add(own, 1);
    }
    return NULL;
}

static void *scraper(void *opaque)
{
    for (int i = 0; i < 50; i++)
        free(text(opaque));
    return NULL;
}

static void test_concurrent(void)
{
    struct metrics *m = metrics_create();
    pthread_t t[THREADS], s;
    struct worker_arg args[THREADS];
    CHECK_EQ_INT(pthread_create(&s, NULL, scraper, m), 0);
    for (int i = 0; i < THREADS; i++) {
        args[i] = (struct worker_arg){m, i};
        CHECK_EQ_INT(pthread_create(&t[i], NULL, adder, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_join(s, NULL);
    CHECK_EQ_INT(metrics_value(m, "kibitka_shared_total", NULL), THREADS * ADDS);
    for (int i = 0; i < THREADS; i++) {
        char value[8];
        snprintf(value, sizeof(value), "t%d", i);
        CHECK_EQ_INT(metrics_value(m, "kibitka_own_total", value), ADDS);
    }
    char *out = text(m);
    CHECK(strstr(out, "kibitka_shared_total 400000\n") != NULL);
    CHECK(strstr(out, "kibitka_own_total{thread=\"t3\"} 100000\n") != NULL);
    free(out);
    metrics_destroy(&m);
}

static void *observe_many(void *arg)
{
    for (int i = 0; i < 100000; i++)
        metrics_observe(arg, (i % 3) * 0.001); /* 0, 0.001, 0.002 */
    return NULL;
}

static void test_histogram(void)
{
    struct metrics *m = metrics_create();
    const double b[] = {0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25};
    struct metrics_hist *h = metrics_histogram(m, "kibitka_x_seconds", "Xs.", b, 11);
    CHECK(h != NULL);
    CHECK(metrics_histogram(m, "kibitka_x_seconds", "Xs.", b, 11) == h); /* same handle */
    metrics_observe(h, 0.00005);                                         /* first bucket */
    metrics_observe(h, 0.0001); /* a bound is in its own bucket (le) */
    metrics_observe(h, 0.0003); /* 0.0005 */
    metrics_observe(h, 0.003);  /* 0.005 */
    metrics_observe(h, 0.003);  /* 0.005 */
    metrics_observe(h, 1.5);    /* +Inf only */
    char *s = text(m);
    CHECK_STREQ(s, "# HELP kibitka_x_seconds Xs.\n# TYPE kibitka_x_seconds histogram\n"
                   "kibitka_x_seconds_bucket{le=\"0.0001\"} 2\n"
                   "kibitka_x_seconds_bucket{le=\"0.00025\"} 2\n"
                   "kibitka_x_seconds_bucket{le=\"0.0005\"} 3\n"
                   "kibitka_x_seconds_bucket{le=\"0.001\"} 3\n"
                   "kibitka_x_seconds_bucket{le=\"0.002\"} 3\n"
                   "kibitka_x_seconds_bucket{le=\"0.005\"} 5\n"
                   "kibitka_x_seconds_bucket{le=\"0.01\"} 5\n"
                   "kibitka_x_seconds_bucket{le=\"0.02\"} 5\n"
                   "kibitka_x_seconds_bucket{le=\"0.05\"} 5\n"
                   "kibitka_x_seconds_bucket{le=\"0.1\"} 5\n"
                   "kibitka_x_seconds_bucket{le=\"0.25\"} 5\n"
                   "kibitka_x_seconds_bucket{le=\"+Inf\"} 6\n"
                   "kibitka_x_seconds_sum 1.50645\n"
                   "kibitka_x_seconds_count 6\n");
    free(s);
    /* Quantiles from the counts, as Prometheus' histogram_quantile. */
    int64_t c[METRICS_HIST_MAX + 1];
    double sum;
    CHECK_EQ_INT(metrics_hist_read(h, c, &sum), 11);
    CHECK(sum > 1.5064 && sum < 1.5065);
    /* rank 3 of 6: the third observation, the only one in (0.00025, 0.0005]: its top */
    CHECK(fabs(metrics_hist_quantile(h, c, 0.5) - 0.0005) < 1e-12);
    /* rank 1 of 6: half of the first bucket's 2, from 0: 0.00005 */
    CHECK(fabs(metrics_hist_quantile(h, c, 1.0 / 6) - 0.00005) < 1e-12);
    /* rank 4.5: 1.5 of the 0.005 bucket's two, 3/4 of the way from 0.002 to 0.005 */
    CHECK(fabs(metrics_hist_quantile(h, c, 0.75) - 0.00425) < 1e-12);
    /* past the highest bound: that bound */
    CHECK(fabs(metrics_hist_quantile(h, c, 0.99) - 0.25) < 1e-12);
    int64_t none[METRICS_HIST_MAX + 1] = {0};
    CHECK(isnan(metrics_hist_quantile(h, none, 0.5)));
    /* Lock-free observations from several threads: none lost. */
    struct metrics_hist *h2 = metrics_histogram(m, "kibitka_y_seconds", "Ys.", b, 11);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, observe_many, h2);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    metrics_hist_read(h2, c, &sum);
    int64_t total = 0;
    for (int i = 0; i <= 11; i++)
        total += c[i];
    CHECK_EQ_INT(total, 400000);
    CHECK_EQ_INT(c[0], 133336); /* the zeros: i % 3 == 0, 33334 per thread */
    CHECK(fabs(sum - 4 * (33333 * 0.001 + 33333 * 0.002)) < 1e-6);
    metrics_observe(NULL, 1); /* a NULL handle is ignored */
    CHECK(metrics_histogram(NULL, "kibitka_z_seconds", "Zs.", b, 11) == NULL);
    CHECK_EQ_INT(metrics_hist_read(NULL, c, &sum), 0);
    metrics_destroy(&m);
}

int main(void)
{
    test_histogram();
    test_register_and_write();
    test_labels();
    test_custom();
    test_null();
    test_concurrent();
    return test_report("test_metrics");
}
