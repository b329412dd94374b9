#include "transcode/admission.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "core/clock.h"
#include "core/log.h"

struct sample {
    int64_t wall_us, cpu_us;
};

struct admission {
    struct admission_config cfg;
    int ncpu;
    struct sample ring[ADMISSION_WINDOW + 1]; /* the sampling thread's only */
    int n, next;
    atomic_int usage_permille;
    struct {
        atomic_int_fast64_t *cpu_permille; /* the ratio's slot: 1/1000 of the cores */
        atomic_int_fast64_t *passthrough, *refused;
    } mx;
};

/* kibitka_cpu_usage_ratio from its slot, in 1/1000 of the cores. */
static void write_cpu_ratio(struct buf *out, const char *name, atomic_int_fast64_t *slots)
{
    int64_t cpu = metrics_get(&slots[0]);
    buf_printf(out, "%s %lld.%03lld\n", name, (long long)(cpu / 1000), (long long)(cpu % 1000));
}

static void register_metrics(struct admission *a, struct metrics *m)
{
    a->mx.cpu_permille = metrics_custom(
        m, METRIC_GAUGE, "kibitka_cpu_usage_ratio",
        "CPU time the process used over the last 4 s, as a share of the cores it may run on "
        "(what --cpu-budget is checked against).",
        write_cpu_ratio, 1);
    a->mx.passthrough = metrics_counter(
        m, "kibitka_admission_passthrough_total",
        "Streams that got no ladder, their source passed through, because the server was over "
        "--cpu-budget.");
    a->mx.refused = metrics_counter(
        m, "kibitka_admission_refused_total",
        "Publishes refused because the server was over --cpu-budget (--over-budget refuse).");
}

static int available_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    return 1;
}

struct admission *admission_create(const struct admission_config *cfg)
{
    struct admission *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->cfg = *cfg;
    register_metrics(a, cfg->metrics);
    a->ncpu = available_cpus();
    return a;
}

void admission_destroy(struct admission **pa)
{
    free(*pa);
    *pa = NULL;
}

static int64_t tv_us(struct timeval tv)
{
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

void admission_sample(struct admission *a)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return;
    admission_sample_at(a, clock_mono_us(), tv_us(ru.ru_utime) + tv_us(ru.ru_stime));
}

void admission_sample_at(struct admission *a, int64_t wall_us, int64_t cpu_us)
{
    int size = ADMISSION_WINDOW + 1;
    a->ring[a->next] = (struct sample){wall_us, cpu_us};
    a->next = (a->next + 1) % size;
    if (a->n < size)
        a->n++;
    if (a->n < 2)
        return;
    const struct sample *oldest = &a->ring[a->n < size ? 0 : a->next];
    int64_t wall = wall_us - oldest->wall_us, cpu = cpu_us - oldest->cpu_us;
    if (wall <= 0 || cpu < 0)
        return;
    int64_t permille = cpu * 1000 / (wall * a->ncpu);
    atomic_store_explicit(&a->usage_permille, (int)(permille > 100000 ? 100000 : permille),
                          memory_order_relaxed);
    metrics_set(a->mx.cpu_permille, permille);
}

int admission_usage_permille(const struct admission *a)
{
    return atomic_load_explicit(&a->usage_permille, memory_order_relaxed);
}

enum admission_decision admission_decide(struct admission *a, const char *name, char *why,
                                         size_t whylen)
{
    if (!a || a->cfg.budget_pct <= 0)
        return ADMIT_LADDER;
    int usage = admission_usage_permille(a);
    if (usage < a->cfg.budget_pct * 10)
        return ADMIT_LADDER;
    if (why)
        snprintf(why, whylen,
                 "the server is over its CPU budget (%d.%d%% of %d cores, --cpu-budget %d); "
                 "try again later",
                 usage / 10, usage % 10, a->ncpu, a->cfg.budget_pct);
    bool refuse = a->cfg.refuse;
    log_warn("admission", name, "%s: CPU at %d.%d%% of %d cores, over --cpu-budget %d%%%s",
             refuse ? "publish refused" : "no ladder for this stream", usage / 10, usage % 10,
             a->ncpu, a->cfg.budget_pct,
             refuse ? " (--over-budget refuse)"
                    : "; its source is passed through as it is, the live streams keep their "
                      "ladders");
    metrics_add(refuse ? a->mx.refused : a->mx.passthrough, 1);
    return refuse ? ADMIT_REFUSE : ADMIT_PASSTHROUGH;
}
