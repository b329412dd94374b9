#include "core/metrics.h"

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

struct family {
    char *name, *help, *label; /* label: NULL when unlabelled */
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
        buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                   f->type == METRIC_COUNTER ? "counter" : "gauge");
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
