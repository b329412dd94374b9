/* Per-participant series in /metrics (sfu_priv.h: member_metrics_*).
 *
 * The registry (core/metrics.h) never drops a series, and participants come and go without
 * bound (guests), so a labelled series per participant would grow /metrics for good. Instead
 * each figure is a custom family whose slots hold a table the loop rewrites at every snapshot
 * refresh: a sequence word, a row count, then per row the room name and the participant id
 * (as bytes packed into words) and the value. The scrape reads the table under the sequence
 * word (a seqlock: the writer makes it odd while it writes; the reader copies the table and
 * retries when the word was odd or moved), so it never takes a lock the loop takes and never
 * touches sfu memory, which may be gone by then. At most PM_MAX rows are shown. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/metrics.h"
#include "sfu/sfu_priv.h"

#define PM_ROOM_WORDS ((SFU_NAME_MAX + 1 + 7) / 8)
#define PM_ID_WORDS ((SFU_ID_MAX + 7) / 8)
#define PM_ENTRY (PM_ROOM_WORDS + PM_ID_WORDS + 1)
#define PM_SLOTS (2 + PM_MAX * PM_ENTRY)

static const struct {
    const char *name, *help;
    enum metric_type type;
} figures[PM_COUNT] = {
    [PM_PACKETS_IN] = {"kibitka_voice_participant_packets_in_total",
                       "RTP packets received from a voice participant's microphone.",
                       METRIC_COUNTER},
    [PM_FORWARDED] = {"kibitka_voice_participant_packets_forwarded_total",
                      "RTP copies sent to a voice participant.", METRIC_COUNTER},
    [PM_LOST] = {"kibitka_voice_participant_packets_lost_total",
                 "RTP packets of a voice participant's microphone never received.", METRIC_COUNTER},
    [PM_JITTER_MS] = {"kibitka_voice_participant_jitter_ms",
                      "Interarrival jitter of a voice participant's microphone (ms).",
                      METRIC_GAUGE},
    [PM_RTT_MS] = {"kibitka_voice_participant_rtt_ms",
                   "Round-trip time to a voice participant (ms; -1 until measured).", METRIC_GAUGE},
    [PM_SLOTS_IN_USE] = {"kibitka_voice_participant_slots_in_use",
                         "Slots of a voice participant holding a speaker.", METRIC_GAUGE},
};

/* Label values: the room name may hold a quote or a backslash. */
static void write_label(struct buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_printf(out, "\\%c", *s);
        else if (*s == '\n')
            buf_printf(out, "\\n");
        else
            buf_append(out, s, 1);
    }
}

static void unpack(const int_fast64_t *w, int nwords, char *out, size_t cap)
{
    memset(out, 0, cap);
    for (int i = 0; i < nwords && (size_t)(i + 1) * 8 <= cap; i++) {
        uint64_t v = (uint64_t)w[i];
        memcpy(out + i * 8, &v, 8);
    }
    out[cap - 1] = '\0';
}

static void write_table(struct buf *out, const char *name, atomic_int_fast64_t *slots)
{
    int_fast64_t *copy = xmalloc(sizeof(int_fast64_t) * PM_SLOTS);
    int n = -1;
    for (int attempt = 0; attempt < 16 && n < 0; attempt++) {
        int_fast64_t s1 = atomic_load_explicit(&slots[0], memory_order_acquire);
        if (s1 & 1)
            continue;
        int_fast64_t rows = atomic_load_explicit(&slots[1], memory_order_relaxed);
        if (rows < 0 || rows > PM_MAX)
            continue;
        for (int_fast64_t i = 0; i < rows * PM_ENTRY; i++)
            copy[i] = atomic_load_explicit(&slots[2 + i], memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&slots[0], memory_order_relaxed) == s1)
            n = (int)rows;
    }
    for (int i = 0; i < n; i++) {
        const int_fast64_t *e = copy + i * PM_ENTRY;
        char room[PM_ROOM_WORDS * 8 + 1], id[PM_ID_WORDS * 8 + 1];
        unpack(e, PM_ROOM_WORDS, room, sizeof(room));
        unpack(e + PM_ROOM_WORDS, PM_ID_WORDS, id, sizeof(id));
        buf_printf(out, "%s{room=\"", name);
        write_label(out, room);
        buf_printf(out, "\",participant=\"");
        write_label(out, id);
        buf_printf(out, "\"} %lld\n", (long long)e[PM_ROOM_WORDS + PM_ID_WORDS]);
    }
    free(copy);
}

void member_metrics_register(struct sfu *sfu, struct metrics *m)
{
    for (int f = 0; f < PM_COUNT; f++)
        sfu->pm[f] = metrics_custom(m, figures[f].type, figures[f].name, figures[f].help,
                                    write_table, PM_SLOTS);
}

static void pack(atomic_int_fast64_t *w, int nwords, const char *s)
{
    char b[PM_ROOM_WORDS * 8] = {0};
    size_t n = strlen(s);
    memcpy(b, s, n < sizeof(b) - 1 ? n : sizeof(b) - 1);
    for (int i = 0; i < nwords; i++) {
        uint64_t v;
        memcpy(&v, b + i * 8, 8);
        atomic_store_explicit(&w[i], (int_fast64_t)v, memory_order_relaxed);
    }
}

void member_metrics_publish(struct sfu *sfu, const struct pm_row *rows, int n)
{
    if (n > PM_MAX)
        n = PM_MAX;
    for (int f = 0; f < PM_COUNT; f++) {
        atomic_int_fast64_t *s = sfu->pm[f];
        if (!s)
            continue;
        int_fast64_t seq = atomic_load_explicit(&s[0], memory_order_relaxed);
        atomic_store_explicit(&s[0], seq + 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_release);
        atomic_store_explicit(&s[1], n, memory_order_relaxed);
        for (int i = 0; i < n; i++) {
            atomic_int_fast64_t *e = s + 2 + i * PM_ENTRY;
            pack(e, PM_ROOM_WORDS, rows[i].room);
            pack(e + PM_ROOM_WORDS, PM_ID_WORDS, rows[i].id);
            atomic_store_explicit(&e[PM_ROOM_WORDS + PM_ID_WORDS], rows[i].v[f],
                                  memory_order_relaxed);
        }
        atomic_store_explicit(&s[0], seq + 2, memory_order_release);
    }
}
