/* Renders /metrics: the Prometheus text exposition of the process (memory, descriptors), the
 * live hubs, every figure the modules registered in the registry (core/metrics.h), and the
 * packager's per-stream figures. */
#ifndef KIBITKA_API_METRICS_TEXT_H
#define KIBITKA_API_METRICS_TEXT_H

#include "core/buf.h"
#include "core/hub.h"
#include "core/metrics.h"
#include "packager/hls.h"

void metrics_text_write(struct buf *out, struct metrics *m, struct hub_registry *hubs,
                        struct hls_server *hls);

#endif
