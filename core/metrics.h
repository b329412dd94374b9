/* The /metrics registry. The server creates one struct metrics and hands it to each module at
 * create time; each module registers the counters and gauges it owns (name, help, type, and a
 * label for families such as kibitka_rtmp_closed_total{reason}) and keeps the handles it gets
 * back: relaxed atomics that any thread bumps with metrics_add. api/metrics_text.c writes the
 * whole registry in the Prometheus text format (metrics_write), in registration order, so a new
 * module (rtc/, sfu/) adds its figures without editing core or api.
 *
 * Registering is idempotent: the same name (and label value) gives back the same handle, so
 * several objects of a module (a session per connection, a stream per publish) and two modules
 * that share a gauge (the recorder and the upload queue both move kibitka_spool_bytes) register
 * where they are created. A second registration must agree on help, type and label name; a
 * mismatch is a programming error and aborts with the name. Registration and metrics_write take
 * the registry's mutex; bumping a handle takes nothing. Handles and names live as long as the
 * registry (metrics_destroy), which must outlive every module that holds one.
 *
 * A NULL registry is allowed everywhere (unit tests that do not count): registration then returns
 * NULL handles, and metrics_add/metrics_set/metrics_get ignore a NULL handle (reading 0). */
#ifndef KIBITKA_CORE_METRICS_H
#define KIBITKA_CORE_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/buf.h"

struct metrics;

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metrics *metrics_create(void);
/* Frees the registry and every handle it gave out; clears *m. */
void metrics_destroy(struct metrics **m);

/* One unlabelled series. name and help are copied. */
atomic_int_fast64_t *metrics_counter(struct metrics *m, const char *name, const char *help);
atomic_int_fast64_t *metrics_gauge(struct metrics *m, const char *name, const char *help);

/* One series of a labelled family, name{label="value"}; the family's HELP and TYPE are written
 * once, its series in the order they were first registered. */
atomic_int_fast64_t *metrics_labelled(struct metrics *m, enum metric_type type, const char *name,
                                      const char *help, const char *label, const char *value);

/* A family whose sample lines a function writes at scrape time (a ratio, an age computed from a
 * stored time, a float). The registry owns nslots atomics (zeroed) that the module stores into
 * and write reads: write must only read slots (the module may be gone by then), and writes whole
 * lines ("name value\n"). Returns the slots (NULL when m is NULL or nslots is 0). */
typedef void metrics_write_fn(struct buf *out, const char *name, atomic_int_fast64_t *slots);
atomic_int_fast64_t *metrics_custom(struct metrics *m, enum metric_type type, const char *name,
                                    const char *help, metrics_write_fn *write, int nslots);

/* A histogram (Prometheus' kind: name_bucket{le="B"} cumulative counts, +Inf, name_sum,
 * name_count), for a distribution such as a delay. Bounds are ascending, at most
 * METRICS_HIST_MAX, copied. Observing is lock-free and allocation-free (relaxed atomics: a
 * linear search of the bounds, one increment, one add to the sum), so a hot path may observe
 * every packet; a scrape may see an observation's bucket before its sum. Registering the same
 * name again gives the same handle (the bounds must agree). NULL when m is NULL; observing a
 * NULL handle does nothing. */
#define METRICS_HIST_MAX 24
struct metrics_hist;
struct metrics_hist *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                       const double *bounds, int nbounds);
/* Records one value (in the unit of the bounds; seconds for a *_seconds name). */
void metrics_observe(struct metrics_hist *h, double v);
/* The counts now: counts[i] observations <= bounds[i] and > bounds[i-1] (not cumulative),
 * counts[nbounds] the ones above every bound; *sum their sum. Returns nbounds (0 for NULL). */
int metrics_hist_read(const struct metrics_hist *h, int64_t counts[METRICS_HIST_MAX + 1],
                      double *sum);
/* The q-quantile (0..1) of the observations given by counts (metrics_hist_read's, or the
 * difference of two reads: a window), estimated as Prometheus' histogram_quantile does: linear
 * within the bucket it falls in, from 0 for the first; the highest bound when it falls above
 * it. NaN when there are none. */
double metrics_hist_quantile(const struct metrics_hist *h, const int64_t *counts, double q);

/* The handle registered under name (and value, for a labelled family; NULL otherwise), or a
 * custom family's slots; NULL when there is none. For tests and wiring, not hot paths. */
atomic_int_fast64_t *metrics_find(struct metrics *m, const char *name, const char *value);

/* The value of metrics_find's handle (a custom family's first slot); 0 when there is none. */
int64_t metrics_value(struct metrics *m, const char *name, const char *value);

/* Appends every family: "# HELP", "# TYPE", then its samples. */
void metrics_write(struct metrics *m, struct buf *out);

static inline void metrics_add(atomic_int_fast64_t *h, int64_t n)
{
    if (h)
        atomic_fetch_add_explicit(h, n, memory_order_relaxed);
}

static inline void metrics_set(atomic_int_fast64_t *h, int64_t v)
{
    if (h)
        atomic_store_explicit(h, v, memory_order_relaxed);
}

static inline int64_t metrics_get(atomic_int_fast64_t *h)
{
    return h ? atomic_load_explicit(h, memory_order_relaxed) : 0;
}

#endif
