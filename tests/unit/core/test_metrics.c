/* The /metrics registry (core/metrics.c): registration (idempotent, by name and label value),
 * labelled families, custom families and their slots, the text it writes, a NULL registry, and
 * increments from several threads at once while another thread scrapes. */
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

int main(void)
{
    test_register_and_write();
    test_labels();
    test_custom();
    test_null();
    test_concurrent();
    return test_report("test_metrics");
}
