#include "api/metrics_text.h"

#include "core/alloc.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

static void gauge(struct buf *out, const char *name, const char *help, int64_t v)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name,
               (long long)v);
}

static void stream_bytes(void *opaque, struct hub *hub)
{
    buf_printf(opaque, "kibitka_stream_bytes_in_total{stream=\"%s\"} %llu\n", hub_name(hub),
               (unsigned long long)hub_bytes_in(hub));
}

static void stream_jumps(void *opaque, struct hub *hub)
{
    buf_printf(opaque, "kibitka_stream_timestamp_jumps_total{stream=\"%s\"} %llu\n", hub_name(hub),
               (unsigned long long)hub_timestamp_jumps(hub));
}

/* The process' resident memory (RSS) from /proc/self/statm; 0 when it cannot be read. */
static int64_t resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long long size = 0, resident = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lld %lld", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (int64_t)resident * sysconf(_SC_PAGESIZE);
}

/* Descriptors open now (the entries of /proc/self/fd, less the directory's own) and the soft
 * limit; -1 when they cannot be read. */
static int64_t open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int64_t n = -1;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static int64_t max_fds(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    return rl.rlim_cur == RLIM_INFINITY ? INT64_MAX : (int64_t)rl.rlim_cur;
}

void metrics_text_write(struct buf *out, struct metrics *m, struct hub_registry *hubs,
                        struct hls_server *hls)
{
    gauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.", resident_bytes());
    gauge(out, "kibitka_heap_in_use_bytes",
          "Bytes allocated and not freed (the heap's live part; RSS also holds free pages).",
          heap_in_use());
    gauge(out, "process_open_fds", "Number of open file descriptors.", open_fds());
    gauge(out, "process_max_fds", "Maximum number of open file descriptors (the soft limit).",
          max_fds());
    gauge(out, "kibitka_live_streams", "Live streams (hubs with a source).",
          hub_registry_count(hubs));
    buf_printf(out, "# HELP kibitka_stream_bytes_in_total Bytes received from the publisher, "
                    "per live stream.\n# TYPE kibitka_stream_bytes_in_total counter\n");
    hub_registry_foreach(hubs, stream_bytes, out);
    buf_printf(out, "# HELP kibitka_stream_timestamp_jumps_total Publisher timestamp jumps "
                    "rebased (each an EXT-X-DISCONTINUITY), per live stream.\n"
                    "# TYPE kibitka_stream_timestamp_jumps_total counter\n");
    hub_registry_foreach(hubs, stream_jumps, out);
    metrics_write(m, out); /* every module's registered figures */
    hls_metrics_write(hls, out);
}
