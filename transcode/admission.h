/* Admission control for transcoding (--cpu-budget, --over-budget). A ladder costs far more CPU
 * than the stream it comes from: on a full box, one more ladder slows every encoder already
 * running, the network thread falls behind and healthy publishers time out. So a new stream only
 * gets a ladder while the process uses less CPU than its budget; past it, the stream is passed
 * through as it is (its source rendition only) or refused, and the streams already live keep
 * their ladders.
 *
 * The usage is the process' CPU time (every thread: decoders, encoders, network, HTTP) over the
 * wall time of the last few seconds, as a share of the cores this process may run on. The server
 * samples it once a second from its loop (admission_sample); the packager asks at each publish
 * (admission_decide, any thread). Each decision other than a ladder is logged (warn) and counted:
 * kibitka_admission_passthrough_total, kibitka_admission_refused_total; the usage itself is
 * kibitka_cpu_usage_ratio. */
#ifndef KIBITKA_TRANSCODE_ADMISSION_H
#define KIBITKA_TRANSCODE_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/metrics.h"

#define ADMISSION_WINDOW 4 /* samples (seconds) the usage is averaged over */

enum admission_decision {
    ADMIT_LADDER,      /* under budget (or no budget): the configured ladder */
    ADMIT_PASSTHROUGH, /* over budget: the source rendition only */
    ADMIT_REFUSE,      /* over budget with --over-budget refuse: no publish */
};

struct admission_config {
    int budget_pct; /* percent of the available cores; 0: no budget, every stream gets a ladder */
    bool refuse;    /* over budget: refuse the publish instead of passing it through */
    struct metrics *metrics;
};

struct admission;

struct admission *admission_create(const struct admission_config *cfg);
void admission_destroy(struct admission **pa);

/* Takes a sample of the process' CPU time now (call about once a second, one thread). */
void admission_sample(struct admission *a);
/* The same with given clocks (tests): wall and CPU time in microseconds, increasing. */
void admission_sample_at(struct admission *a, int64_t wall_us, int64_t cpu_us);
/* The latest usage, in thousandths of the available cores (0 before two samples). Any thread. */
int admission_usage_permille(const struct admission *a);
/* What a new stream named name gets; a NULL a admits every ladder. Anything but ADMIT_LADDER is
 * logged and counted, and why (if given) says it in one line for the publisher. Any thread. */
enum admission_decision admission_decide(struct admission *a, const char *name, char *why,
                                         size_t whylen);

#endif
