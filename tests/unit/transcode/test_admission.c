/* Admission control (--cpu-budget, --over-budget): the usage over the sampled window, and what a
 * new stream gets under and over the budget, with the metrics counted. Clocks are given
 * (admission_sample_at), so the figures are exact; one case samples the real process. */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "test.h"
#include "transcode/admission.h"

#define S 1000000 /* one second in us */

static void test_usage_window(void)
{
    struct metrics *m = metrics_create();
    struct admission *a =
        admission_create(&(struct admission_config){.budget_pct = 50, .metrics = m});
    CHECK(a != NULL);
    CHECK_EQ_INT(admission_usage_permille(a), 0); /* one sample: no usage yet */
    admission_sample_at(a, 0, 0);
    CHECK_EQ_INT(admission_usage_permille(a), 0);
    /* whatever the cores, a process using none of them is at 0 */
    admission_sample_at(a, 1 * S, 0);
    CHECK_EQ_INT(admission_usage_permille(a), 0);
    /* a spike is averaged over the window: 4 s of CPU in 1 s is at most what 4 s/1 s gives */
    int before = admission_usage_permille(a);
    admission_sample_at(a, 2 * S, 4 * S);
    int spike = admission_usage_permille(a);
    CHECK(spike > before);
    /* the spike leaves the window after ADMISSION_WINDOW more idle samples */
    for (int i = 3; i < 3 + ADMISSION_WINDOW; i++)
        admission_sample_at(a, (int64_t)i * S, 4 * S);
    CHECK_EQ_INT(admission_usage_permille(a), 0);
    CHECK_EQ_INT((int)metrics_value(m, "kibitka_cpu_usage_ratio", NULL), 0);
    admission_destroy(&a);
    CHECK(a == NULL);
    metrics_destroy(&m);
}

/* With n cores, cpu_per_s of CPU each second is cpu_per_s / n of them. */
static struct admission *loaded(struct metrics *m, int budget, bool refuse, double cores_used)
{
    struct admission *a = admission_create(&(struct admission_config){budget, refuse, m});
    for (int i = 0; i <= ADMISSION_WINDOW; i++)
        admission_sample_at(a, (int64_t)i * S, (int64_t)(i * cores_used * S));
    return a;
}

static void test_decisions(void)
{
    struct metrics *m = metrics_create();
    char why[200] = "";
    /* no admission object, or no budget: always the ladder */
    CHECK_EQ_INT(admission_decide(NULL, "s", why, sizeof(why)), ADMIT_LADDER);
    struct admission *a = loaded(m, 0, false, 64.0);
    CHECK_EQ_INT(admission_decide(a, "s", why, sizeof(why)), ADMIT_LADDER);
    admission_destroy(&a);

    /* usage at a quarter of one core is under any budget of 90 % of the cores */
    a = loaded(m, 90, false, 0.25);
    int u = admission_usage_permille(a);
    CHECK(u > 0 && u <= 250);
    CHECK_EQ_INT(admission_decide(a, "s", why, sizeof(why)), ADMIT_LADDER);
    CHECK_EQ_INT((int)metrics_value(m, "kibitka_admission_passthrough_total", NULL), 0);
    admission_destroy(&a);

    /* 64 cores busy is over 1 % of any machine this runs on: passthrough, counted, explained */
    a = loaded(m, 1, false, 64.0);
    CHECK(admission_usage_permille(a) >= 10);
    CHECK_EQ_INT((int)metrics_value(m, "kibitka_cpu_usage_ratio", NULL),
                 admission_usage_permille(a));
    CHECK_EQ_INT(admission_decide(a, "cam", why, sizeof(why)), ADMIT_PASSTHROUGH);
    CHECK(strstr(why, "--cpu-budget 1") != NULL);
    CHECK_EQ_INT((int)metrics_value(m, "kibitka_admission_passthrough_total", NULL), 1);
    CHECK_EQ_INT((int)metrics_value(m, "kibitka_admission_refused_total", NULL), 0);
    admission_destroy(&a);

    /* the same with --over-budget refuse */
    a = loaded(m, 1, true, 64.0);
    CHECK_EQ_INT(admission_decide(a, "cam", why, sizeof(why)), ADMIT_REFUSE);
    CHECK_EQ_INT((int)metrics_value(m, "kibitka_admission_refused_total", NULL), 1);
    CHECK_EQ_INT((int)metrics_value(m, "kibitka_admission_passthrough_total", NULL), 1);
    /* load gone (the window is idle again): ladders again */
    for (int i = ADMISSION_WINDOW + 1; i <= 2 * ADMISSION_WINDOW + 1; i++)
        admission_sample_at(a, (int64_t)i * S, (int64_t)((ADMISSION_WINDOW)*64.0 * S));
    CHECK_EQ_INT(admission_usage_permille(a), 0);
    CHECK_EQ_INT(admission_decide(a, "cam", why, sizeof(why)), ADMIT_LADDER);
    admission_destroy(&a);
    metrics_destroy(&m);
}

/* The real clock: a busy loop of ~300 ms of CPU on this thread shows as usage. */
static void test_real_process(void)
{
    struct metrics *m = metrics_create();
    struct admission *a =
        admission_create(&(struct admission_config){.budget_pct = 90, .metrics = m});
    admission_sample(a);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    volatile unsigned long x = 0;
    do {
        for (int i = 0; i < 100000; i++)
            x += (unsigned long)i;
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 300);
    admission_sample(a);
    CHECK(admission_usage_permille(a) > 0);
    admission_destroy(&a);
    metrics_destroy(&m);
}

int main(void)
{
    test_usage_window();
    test_decisions();
    test_real_process();
    return test_report("test_admission");
}
