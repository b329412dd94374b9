#include "core/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* One sample line's value; its own allocation so the handle stays put when the family grows. */
struct series {
    char *value; /* the label's value; NULL in an unlabelled family */
    atomic_int_fast64_t v;
};

struct metrics_hist {
    int n;
    double bound[METRICS_HIST_MAX];
    atomic_int_fast64_t count[METRICS_HIST_MAX + 1]; /* per bucket; the last: above every bound */
    atomic_int_fast64_t sum_nano;                    /* the sum, in 1e-9 of the unit */
};

struct family {
    char *name, *help, *label; /* label: NULL when unlabelled */
    struct metrics_hist *hist; /* METRIC_HISTOGRAM */
    enum metric_type type;
    metrics_write_fn *write; /* custom families */
    atomic_int_fast64_t *slots;
    int nslots;
    struct series **series;
    int nseries;
};

struct metrics {
    pthread_mutex_t mu;
    struct family **fam;
    int nfam, cap;
};

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static bool same(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

struct metrics *metrics_create(void)
{
    struct metrics *m = xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

void metrics_destroy(struct metrics **mp)
{
    struct metrics *m = *mp;
    if (!m)
        return;
    for (int i = 0; i < m->nfam; i++) {
        struct family *f = m->fam[i];
        for (int j = 0; j < f->nseries; j++) {
            free(f->series[j]->value);
            free(f->series[j]);
        }
        free(f->series);
        free(f->slots);
        free(f->hist);
        free(f->name);
        free(f->help);
        free(f->label);
        free(f);
    }
    free(m->fam);
    pthread_mutex_destroy(&m->mu);
    free(m);
    *mp = NULL;
}

static struct family *find_family(struct metrics *m, const char *name)
{
    for (int i = 0; i < m->nfam; i++)
        if (!strcmp(m->fam[i]->name, name))
            return m->fam[i];
    return NULL;
}

/* The family called name, made if new; aborts when an earlier registration disagrees. */
static struct family *family(struct metrics *m, enum metric_type type, const char *name,
                             const char *help, const char *label, metrics_write_fn *write)
{
    struct family *f = find_family(m, name);
    if (f) {
        if (f->type != type || !same(f->help, help) || !same(f->label, label) ||
            f->write != write) {
            fprintf(stderr, "metrics: %s registered twice with different help, type or label\n",
                    name);
            abort();
        }
        return f;
    }
    f = xcalloc(1, sizeof(*f));
    f->name = xstrdup(name);
    f->help = xstrdup(help);
    f->label = dup_or_null(label);
    f->type = type;
    f->write = write;
    if (m->nfam == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 32;
        m->fam = xrealloc(m->fam, (size_t)m->cap * sizeof(*m->fam));
    }
    m->fam[m->nfam++] = f;
    return f;
}

static struct series *find_series(struct family *f, const char *value)
{
    for (int i = 0; i < f->nseries; i++)
        if (same(f->series[i]->value, value))
            return f->series[i];
    return NULL;
}

static atomic_int_fast64_t *series(struct metrics *m, enum metric_type type, const char *name,
                                   const char *help, const char *label, const char *value)
{
    if (!m)
        return NULL;
    pthread_mutex_lock(&m->mu);
    struct family *f = family(m, type, name, help, label, NULL);
    struct series *s = find_series(f, value);
    if (!s) {
        s = xcalloc(1, sizeof(*s));
        s->value = dup_or_null(value);
        atomic_init(&s->v, 0);
        f->series = xrealloc(f->series, (size_t)(f->nseries + 1) * sizeof(*f->series));
        f->series[f->nseries++] = s;
    }
    pthread_mutex_unlock(&m->mu);
    return &s->v;
}

atomic_int_fast64_t *metrics_counter(struct metrics *m, const char *name, const char *help)
{
    return series(m, METRIC_COUNTER, name, help, NULL, NULL);
}

atomic_int_fast64_t *metrics_gauge(struct metrics *m, const char *name, const char *help)
{
    return series(m, METRIC_GAUGE, name, help, NULL, NULL);
}

atomic_int_fast64_t *metrics_labelled(struct metrics *m, enum metric_type type, const char *name,
                                      const char *help, const char *label, const char *value)
{
    return series(m, type, name, help, label, value);
}

atomic_int_fast64_t *metrics_custom(struct metrics *m, enum metric_type type, const char *name,
                                    const char *help, metrics_write_fn *write, int nslots)
{
    if (!m)
        return NULL;
    pthread_mutex_lock(&m->mu);
    struct family *f = family(m, type, name, help, NULL, write);
    if (!f->slots && nslots > 0) {
        f->slots = xcalloc((size_t)nslots, sizeof(*f->slots));
        f->nslots = nslots;
    } else if (nslots > f->nslots) {
        fprintf(stderr, "metrics: %s registered twice with more slots\n", name);
        abort();
    }
    pthread_mutex_unlock(&m->mu);
    return f->slots;
}

struct metrics_hist *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                       const double *bounds, int nbounds)
{
    if (!m)
        return NULL;
    if (nbounds < 1 || nbounds > METRICS_HIST_MAX) {
        fprintf(stderr, "metrics: %s has %d bounds (1 to %d)\n", name, nbounds, METRICS_HIST_MAX);
        abort();
    }
    pthread_mutex_lock(&m->mu);
    struct family *f = family(m, METRIC_HISTOGRAM, name, help, NULL, NULL);
    if (!f->hist) {
        f->hist = xcalloc(1, sizeof(*f->hist));
        f->hist->n = nbounds;
        for (int i = 0; i < nbounds; i++)
            f->hist->bound[i] = bounds[i];
    } else if (f->hist->n != nbounds ||
               memcmp(f->hist->bound, bounds, (size_t)nbounds * sizeof(*bounds)) != 0) {
        fprintf(stderr, "metrics: %s registered twice with other bounds\n", name);
        abort();
    }
    pthread_mutex_unlock(&m->mu);
    return f->hist;
}

void metrics_observe(struct metrics_hist *h, double v)
{
    if (!h)
        return;
    int i = 0;
    while (i < h->n && v > h->bound[i])
        i++;
    atomic_fetch_add_explicit(&h->count[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_nano, (int_fast64_t)llround(v * 1e9), memory_order_relaxed);
}

int metrics_hist_read(const struct metrics_hist *h, int64_t counts[METRICS_HIST_MAX + 1],
                      double *sum)
{
    if (!h) {
        *sum = 0;
        return 0;
    }
    for (int i = 0; i <= h->n; i++)
        counts[i] =
            atomic_load_explicit(&((struct metrics_hist *)h)->count[i], memory_order_relaxed);
    *sum =
        (double)atomic_load_explicit(&((struct metrics_hist *)h)->sum_nano, memory_order_relaxed) /
        1e9;
    return h->n;
}

double metrics_hist_quantile(const struct metrics_hist *h, const int64_t *counts, double q)
{
    int64_t total = 0;
    for (int i = 0; h && i <= h->n; i++)
        total += counts[i];
    if (!h || total <= 0)
        return NAN;
    double rank = q * (double)total, below = 0;
    for (int i = 0; i < h->n; i++) {
        if (below + (double)counts[i] >= rank && counts[i] > 0) {
            double lo = i ? h->bound[i - 1] : 0;
            return lo + (h->bound[i] - lo) * (rank - below) / (double)counts[i];
        }
        below += (double)counts[i];
    }
    return h->bound[h->n - 1];
}

/* name_bucket{le=...} (cumulative), name_sum, name_count. */
static void write_hist(struct buf *out, const char *name, const struct metrics_hist *h)
{
    int64_t c[METRICS_HIST_MAX + 1];
    double sum;
    metrics_hist_read(h, c, &sum);
    long long cum = 0;
    for (int i = 0; i < h->n; i++) {
        cum += c[i];
        buf_printf(out, "%s_bucket{le=\"%g\"} %lld\n", name, h->bound[i], cum);
    }
    cum += c[h->n];
    buf_printf(out, "%s_bucket{le=\"+Inf\"} %lld\n%s_sum %.9g\n%s_count %lld\n", name, cum, name,
               sum, name, cum);
}

atomic_int_fast64_t *metrics_find(struct metrics *m, const char *name, const char *value)
{
    if (!m)
        return NULL;
    pthread_mutex_lock(&m->mu);
    struct family *f = find_family(m, name);
    atomic_int_fast64_t *h = NULL;
    if (f && f->write)
        h = f->slots;
    else if (f) {
        struct series *s = find_series(f, value);
        h = s ? &s->v : NULL;
    }
    pthread_mutex_unlock(&m->mu);
    return h;
}

int64_t metrics_value(struct metrics *m, const char *name, const char *value)
{
    return metrics_get(metrics_find(m, name, value));
}

void metrics_write(struct metrics *m, struct buf *out)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->nfam; i++) {
        struct family *f = m->fam[i];
        static const char *const types[] = {"counter", "gauge", "histogram"};
        buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, types[f->type]);
        if (f->hist) {
            write_hist(out, f->name, f->hist);
            continue;
        }
        if (f->write) {
            f->write(out, f->name, f->slots);
            continue;
        }
        for (int j = 0; j < f->nseries; j++) {
            struct series *s = f->series[j];
            long long v = (long long)metrics_get(&s->v);
            if (f->label)
                buf_printf(out, "%s{%s=\"%s\"} %lld\n", f->name, f->label, s->value, v);
            else
                buf_printf(out, "%s %lld\n", f->name, v);
        }
    }
    pthread_mutex_unlock(&m->mu);
}
