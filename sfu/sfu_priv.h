/* What sfu/sfu.c (rooms, members, moderation, snapshots) and sfu/forward.c (media sessions,
 * forwarding, ranking, events) share. Everything here lives on the loop's thread except the
 * snapshot table, which snap_mu guards (taken by the snapshot refresh and the readers, never
 * by the forwarding path). */
#ifndef KIBITKA_SFU_SFU_PRIV_H
#define KIBITKA_SFU_SFU_PRIV_H

#include <pthread.h>
#include <stdatomic.h>

#include "rtc/transport.h"
#include "sfu/sfu.h"
#include "sfu/slots.h"

#define SFU_TICK_MS SLOTS_RANK_INTERVAL_MS
#define SFU_SNAPSHOT_MS 250
#define SFU_SPEAKERS_MIN_MS 250   /* speakers events at most 4 a second per member */
#define SFU_SPEAKERS_IDLE_MS 1000 /* levels refreshed this often while a slot is used */
#define SFU_SPEAKING_LOUDNESS 40  /* "speaking": selected and louder than -87 dBov on average */

struct room;

struct sfu_member {
    struct sfu *sfu;
    struct room *room;
    uint32_t num; /* the slots' speaker id; unique in the process */
    char id[SFU_ID_MAX];
    char resume[SFU_RESUME_MAX];
    struct sfu_identity ident;
    int64_t joined_wall_us;
    struct sfu_member_ops ops;
    void *opaque;
    bool attached;       /* a signaling connection is there (ops usable) */
    int64_t detached_us; /* when it dropped (grace from then) */
    bool self_muted, server_muted;
    struct rtc_session *rtc;
    bool connected;
    int mic_mline;     /* -1: none (listen-only answers it inactive) */
    uint32_t mic_ssrc; /* the microphone's SSRC seen last (0: none yet) */
    int nslots;        /* slot m-lines accepted */
    int slot_mline[SLOTS_MAX];
    struct slot_speaker spk;
    struct slot_map map;
    bool map_dirty;
    int64_t speakers_sent_us;
    uint64_t packets_in, packets_forwarded; /* forwarded: copies sent to this member */
    uint64_t lost_reported;                 /* inbound loss already added to the room counter */
};

struct room_metrics {
    atomic_int_fast64_t *members, *forwarded, *lost, *slots_in_use, *jitter_ms, *rtt_ms;
};

struct room {
    struct sfu *sfu;
    char name[SFU_NAME_MAX + 1];
    struct sfu_member **m;
    int n, cap;
    struct slot_speaker **spk;   /* scratch for slots_select, cap entries */
    uint32_t sel[SLOTS_MAX + 1]; /* the selected speakers, loudest first */
    int nsel;
    struct room_metrics mx;
    struct room *next;
};

/* Per-participant series (member_metrics.c). */
#define PM_MAX 1024 /* rows shown in /metrics */
enum pm_figure {
    PM_PACKETS_IN,
    PM_FORWARDED,
    PM_LOST,
    PM_JITTER_MS,
    PM_RTT_MS,
    PM_SLOTS_IN_USE,
    PM_COUNT
};
struct pm_row {
    char room[SFU_NAME_MAX + 1];
    char id[SFU_ID_MAX];
    int64_t v[PM_COUNT];
};

struct snap {
    char name[SFU_NAME_MAX + 1];
    char *json;
};

struct sfu {
    struct loop *loop;
    struct rtc_transport *rtc;
    struct sfu_config cfg;
    struct room *rooms;
    uint32_t next_num;
    struct loop_timer *tick;
    int64_t next_snapshot_us;
    pthread_mutex_t snap_mu;
    struct snap *snaps;
    int nsnaps;
    char *summary;
    struct {
        atomic_int_fast64_t *rooms, *members, *packets_in, *forwarded, *send_errors, *sessions;
        struct metrics_hist *forward_delay; /* kibitka_voice_forward_delay_seconds */
    } mx;
    atomic_int_fast64_t *pm[PM_COUNT]; /* member_metrics.c's tables */
    struct pm_row *pm_rows;            /* scratch for the refresh, PM_MAX rows */
};

/* sfu.c */
/* Ends m: participant_left to the others, ops->closed(reason) when attached and reason is not
 * NULL, media destroyed, freed; its room goes with its last member. */
void member_end(struct sfu_member *m, const char *reason);
/* {"id","user","display","speaking","muted","joined_at"} of m (a new jansson object). */
struct json_t *member_json(const struct sfu_member *m);
/* Sends the JSON object (and frees it) to every attached member of r but `except`. */
void room_broadcast(struct room *r, struct json_t *msg, const struct sfu_member *except);
/* Sends the JSON object (and frees it) to m when attached. */
void member_send(struct sfu_member *m, struct json_t *msg);
bool member_forwardable(const struct sfu_member *m);

/* member_metrics.c */
void member_metrics_register(struct sfu *sfu, struct metrics *m);
/* Publishes rows[0..n) (at most PM_MAX) as the per-participant series. */
void member_metrics_publish(struct sfu *sfu, const struct pm_row *rows, int n);

/* forward.c */
void member_media_destroy(struct sfu_member *m);
/* The ranking, the slot maps and the speakers events of one room (every SFU_TICK_MS). */
void room_rank(struct room *r, int64_t now_us);
/* m (forwardable, not selected) sent while the room has free places: selected at once. */
void room_admit(struct room *r, struct sfu_member *m, int64_t now_us);

#endif
