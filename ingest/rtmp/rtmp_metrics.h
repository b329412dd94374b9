/* The RTMP ingest's /metrics figures (kibitka_rtmp_*, kibitka_publishers). The server, each
 * session and each stream register them when created (the registry gives back the same handles)
 * and bump them from the network thread. */
#ifndef KIBITKA_INGEST_RTMP_METRICS_H
#define KIBITKA_INGEST_RTMP_METRICS_H

#include "core/metrics.h"
#include "ingest/rtmp/rtmp.h"

struct rtmp_metrics {
    atomic_int_fast64_t *closed[RTMP_CLOSE_NREASONS]; /* counters, by reason */
    atomic_int_fast64_t *connections;                 /* gauge: open RTMP connections */
    atomic_int_fast64_t *connections_total;           /* counter: accepted */
    atomic_int_fast64_t *rejected;                    /* counter: closed for bad input or refused */
    atomic_int_fast64_t *publishers;                  /* gauge: publishing sessions */
};

/* Fills mx with m's handles (all NULL when m is NULL). */
void rtmp_metrics_register(struct metrics *m, struct rtmp_metrics *mx);

#endif
