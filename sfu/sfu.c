/* The voice SFU's rooms and members (sfu/sfu.h): joins and rejoins within the grace period,
 * leaving, moderation, the events about members, and the snapshots other threads read. The
 * media side is sfu/forward.c; the decisions are sfu/slots.c.
 *
 * A room exists while it has members (live or in their rejoin grace): created by the first
 * join, freed with its last member. Members are found by a linear walk of their room: rooms
 * hold tens to hundreds, and the hot path (forward.c) never searches by name.
 *
 * Snapshots. The API thread must not touch loop state, and the forwarding path must take no
 * lock: so every SFU_SNAPSHOT_MS the loop writes each room's JSON and swaps it into a table
 * under snap_mu, which only that refresh and the two readers take. */
#include <errno.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "sfu/sfu_priv.h"

/* ---- helpers ---- */

bool member_forwardable(const struct sfu_member *m)
{
    return m->ident.may_speak && !m->self_muted && !m->server_muted && m->connected &&
           m->mic_mline >= 0;
}

/* Replaces every byte that is not part of a well-formed UTF-8 sequence with '?': a name cut at
 * 64 bytes may end inside a character, and jansson refuses invalid UTF-8 (the events would not
 * be written). Overlongs, surrogates and code points past U+10FFFF count as invalid. */
static void utf8_clean(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        int n = *p < 0x80             ? 1
                : (*p & 0xe0) == 0xc0 ? 2
                : (*p & 0xf0) == 0xe0 ? 3
                : (*p & 0xf8) == 0xf0 ? 4
                                      : 0;
        uint32_t cp = n == 1 ? *p : n == 2 ? *p & 0x1f : n == 3 ? *p & 0x0f : *p & 0x07;
        bool ok = n > 0;
        for (int i = 1; ok && i < n; i++) {
            ok = (p[i] & 0xc0) == 0x80;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if (ok && n > 1) {
            static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
            ok = cp >= min[n] && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
        }
        if (!ok) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

static void hex_id(char *out, size_t nbytes)
{
    uint8_t b[32];
    RAND_bytes(b, (int)nbytes);
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

json_t *member_json(const struct sfu_member *m)
{
    char at[32];
    clock_format_iso8601(m->joined_wall_us, at);
    bool speaking = m->spk.selected && slot_speaker_loudness(&m->spk) >= SFU_SPEAKING_LOUDNESS;
    return json_pack("{s:s,s:s,s:s,s:b,s:b,s:s}", "id", m->id, "user", m->ident.user, "display",
                     m->ident.display, "speaking", speaking, "muted",
                     m->self_muted || m->server_muted, "joined_at", at);
}

void member_send(struct sfu_member *m, json_t *msg)
{
    if (msg && m->attached && m->ops.send) {
        char *text = json_dumps(msg, JSON_COMPACT);
        if (text)
            m->ops.send(m->opaque, text, strlen(text));
        free(text);
    }
    json_decref(msg);
}

void room_broadcast(struct room *r, json_t *msg, const struct sfu_member *except)
{
    char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    for (int i = 0; text && i < r->n; i++) {
        struct sfu_member *m = r->m[i];
        if (m != except && m->attached && m->ops.send)
            m->ops.send(m->opaque, text, strlen(text));
    }
    free(text);
    json_decref(msg);
}

static void mute_event(struct sfu_member *m, const char *by)
{
    room_broadcast(m->room,
                   json_pack("{s:s,s:s,s:b,s:s}", "type", "mute", "participant", m->id, "muted",
                             m->self_muted || m->server_muted, "by", by),
                   NULL);
}

/* ---- rooms ---- */

static struct room *room_find(struct sfu *sfu, const char *name)
{
    for (struct room *r = sfu->rooms; r; r = r->next)
        if (strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

static void room_metrics(struct room *r, struct metrics *mx)
{
    const char *v = r->name;
    r->mx.members =
        metrics_labelled(mx, METRIC_GAUGE, "kibitka_voice_room_members",
                         "Members of a voice room (live or in their rejoin grace).", "room", v);
    r->mx.forwarded =
        metrics_labelled(mx, METRIC_COUNTER, "kibitka_voice_room_packets_forwarded_total",
                         "RTP copies a voice room sent to its members.", "room", v);
    r->mx.lost =
        metrics_labelled(mx, METRIC_COUNTER, "kibitka_voice_room_packets_lost_total",
                         "RTP packets of a voice room's microphones never received.", "room", v);
    r->mx.slots_in_use = metrics_labelled(mx, METRIC_GAUGE, "kibitka_voice_room_slots_in_use",
                                          "Slots holding a speaker, summed over the room's "
                                          "receivers.",
                                          "room", v);
    r->mx.jitter_ms = metrics_labelled(mx, METRIC_GAUGE, "kibitka_voice_room_jitter_ms",
                                       "Highest interarrival jitter of a voice room's "
                                       "microphones (ms).",
                                       "room", v);
    r->mx.rtt_ms =
        metrics_labelled(mx, METRIC_GAUGE, "kibitka_voice_room_rtt_ms",
                         "Highest round-trip time to a voice room's members (ms).", "room", v);
}

static struct room *room_get(struct sfu *sfu, const char *name)
{
    struct room *r = room_find(sfu, name);
    if (r)
        return r;
    r = xcalloc(1, sizeof(*r));
    r->sfu = sfu;
    snprintf(r->name, sizeof(r->name), "%s", name);
    room_metrics(r, sfu->cfg.metrics);
    r->next = sfu->rooms;
    sfu->rooms = r;
    metrics_add(sfu->mx.rooms, 1);
    return r;
}

static void room_free(struct room *r)
{
    struct sfu *sfu = r->sfu;
    for (struct room **pp = &sfu->rooms; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    metrics_set(r->mx.members, 0);
    metrics_set(r->mx.slots_in_use, 0);
    metrics_set(r->mx.jitter_ms, 0);
    metrics_set(r->mx.rtt_ms, 0);
    metrics_add(sfu->mx.rooms, -1);
    free(r->m);
    free(r->spk);
    free(r);
}

static void room_add(struct room *r, struct sfu_member *m)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 8;
        r->m = xrealloc(r->m, (size_t)r->cap * sizeof(*r->m));
        r->spk = xrealloc(r->spk, (size_t)r->cap * sizeof(*r->spk));
    }
    r->m[r->n++] = m;
    m->room = r;
    metrics_set(r->mx.members, r->n);
    metrics_add(r->sfu->mx.members, 1);
}

static void room_remove(struct room *r, struct sfu_member *m)
{
    for (int i = 0; i < r->n; i++)
        if (r->m[i] == m) {
            r->m[i] = r->m[--r->n];
            break;
        }
    metrics_set(r->mx.members, r->n);
    metrics_add(r->sfu->mx.members, -1);
}

/* ---- members ---- */

void member_end(struct sfu_member *m, const char *reason)
{
    struct room *r = m->room;
    member_media_destroy(m);
    room_remove(r, m);
    room_broadcast(r, json_pack("{s:s,s:s}", "type", "participant_left", "participant", m->id),
                   NULL);
    log_info("sfu", r->name, "member %s (%s) left%s%s", m->id, m->ident.display, reason ? ": " : "",
             reason ? reason : "");
    if (reason && m->attached && m->ops.closed)
        m->ops.closed(m->opaque, reason);
    free(m);
    if (r->n == 0)
        room_free(r);
}

static struct sfu_member *find_member(struct room *r, const char *id)
{
    for (int i = 0; r && i < r->n; i++)
        if (strcmp(r->m[i]->id, id) == 0)
            return r->m[i];
    return NULL;
}

static void joined_reply(struct sfu_member *m, struct buf *reply)
{
    json_t *list = json_array();
    for (int i = 0; i < m->room->n; i++)
        if (m->room->m[i] != m)
            json_array_append_new(list, member_json(m->room->m[i]));
    json_t *j = json_pack("{s:s,s:s,s:s,s:i,s:o}", "type", "joined", "id", m->id, "resume",
                          m->resume, "slots", m->sfu->cfg.slots, "participants", list);
    char *text = json_dumps(j, JSON_COMPACT);
    if (text)
        buf_append(reply, text, strlen(text));
    free(text);
    json_decref(j);
}

/* The return of a dropped member by its resume key. */
static int resume_member(struct sfu *sfu, const struct sfu_identity *id, const char *resume,
                         const struct sfu_member_ops *ops, void *opaque, struct sfu_member **out,
                         struct buf *reply, char *why, size_t whylen)
{
    struct room *r = room_find(sfu, id->room);
    struct sfu_member *m = NULL;
    for (int i = 0; r && i < r->n && !m; i++)
        if (strcmp(r->m[i]->resume, resume) == 0)
            m = r->m[i];
    if (!m || m->ident.user_id != id->user_id || strcmp(m->ident.user, id->user) != 0) {
        snprintf(why, whylen, "unknown or expired resume key");
        return -ENOENT;
    }
    if (m->attached) {
        snprintf(why, whylen, "that participant is connected");
        return -EEXIST;
    }
    m->attached = true;
    m->ops = *ops;
    m->opaque = opaque;
    m->ident.may_speak = id->may_speak;
    m->ident.moderator = id->moderator;
    *out = m;
    log_info("sfu", r->name, "member %s (%s) back", m->id, m->ident.display);
    joined_reply(m, reply);
    return 0;
}

int sfu_join(struct sfu *sfu, const struct sfu_identity *id, const char *resume,
             const struct sfu_member_ops *ops, void *opaque, struct sfu_member **out,
             struct buf *reply, char *why, size_t whylen)
{
    *out = NULL;
    if (resume && resume[0])
        return resume_member(sfu, id, resume, ops, opaque, out, reply, why, whylen);
    struct room *r = room_find(sfu, id->room);
    for (int i = 0; r && id->user_id && i < r->n; i++) {
        struct sfu_member *o = r->m[i];
        if (o->ident.user_id != id->user_id)
            continue;
        if (o->attached) {
            snprintf(why, whylen, "%s is already in this room", id->user);
            return -EEXIST;
        }
        member_end(o, NULL); /* a dropped seat of the same account: the new join replaces it */
        r = room_find(sfu, id->room);
        break;
    }
    int max = sfu->cfg.max_members > 0 ? sfu->cfg.max_members : 500;
    if (r && r->n >= max) {
        snprintf(why, whylen, "the room is full (%d members)", max);
        return -EMFILE;
    }
    struct sfu_member *m = xcalloc(1, sizeof(*m));
    m->sfu = sfu;
    m->num = ++sfu->next_num;
    hex_id(m->id, 8);
    hex_id(m->resume, 16);
    m->ident = *id;
    m->ident.room[SFU_NAME_MAX] = m->ident.user[SFU_NAME_MAX] = '\0';
    m->ident.display[SFU_NAME_MAX] = '\0';
    utf8_clean(m->ident.user);
    utf8_clean(m->ident.display);
    m->joined_wall_us = clock_wall_us();
    m->ops = *ops;
    m->opaque = opaque;
    m->attached = true;
    m->mic_mline = -1;
    slot_speaker_init(&m->spk, m->num);
    slot_map_init(&m->map, 0, 0, 0);
    r = room_get(sfu, id->room);
    room_broadcast(
        r, json_pack("{s:s,s:o}", "type", "participant_joined", "participant", member_json(m)),
        NULL);
    room_add(r, m);
    log_info("sfu", r->name, "member %s (%s%s%s) joined", m->id, id->display,
             id->may_speak ? "" : ", listen-only", id->user[0] ? "" : ", guest");
    joined_reply(m, reply);
    *out = m;
    return 0;
}

void sfu_set_self_muted(struct sfu_member *m, bool muted)
{
    if (m->self_muted == muted)
        return;
    m->self_muted = muted;
    mute_event(m, "self");
}

void sfu_leave(struct sfu_member **pm)
{
    struct sfu_member *m = *pm;
    *pm = NULL;
    if (!m)
        return;
    m->attached = false; /* its own socket needs no closed call */
    member_end(m, "left");
}

void sfu_detach(struct sfu_member **pm)
{
    struct sfu_member *m = *pm;
    *pm = NULL;
    if (!m)
        return;
    member_media_destroy(m);
    m->attached = false;
    m->detached_us = clock_mono_us();
    log_info("sfu", m->room->name, "member %s (%s) dropped; kept %d s for a rejoin", m->id,
             m->ident.display, m->sfu->cfg.rejoin_grace_s);
}

/* ---- moderation ---- */

int sfu_kick(struct sfu *sfu, const char *room, const char *member_id)
{
    struct sfu_member *m = find_member(room_find(sfu, room), member_id);
    if (!m)
        return -ENOENT;
    member_end(m, "kicked");
    return 0;
}

int sfu_server_mute(struct sfu *sfu, const char *room, const char *member_id, bool muted)
{
    struct sfu_member *m = find_member(room_find(sfu, room), member_id);
    if (!m)
        return -ENOENT;
    if (m->server_muted != muted) {
        m->server_muted = muted;
        mute_event(m, "server");
    }
    return 0;
}

void sfu_close_room(struct sfu *sfu, const char *room)
{
    struct room *r;
    while ((r = room_find(sfu, room)) != NULL)
        member_end(r->m[r->n - 1], "room deleted");
}

/* ---- snapshots ---- */

static char *room_snapshot(struct room *r, int *nrows)
{
    json_t *list = json_array();
    int64_t jitter = 0, rtt = 0, used = 0;
    for (int i = 0; i < r->n; i++) {
        struct sfu_member *m = r->m[i];
        struct rtc_session_stats st = {.rtt_ms = -1};
        if (m->rtc)
            rtc_session_stats_get(m->rtc, &st);
        if (st.packets_lost > m->lost_reported) {
            metrics_add(r->mx.lost, (int64_t)(st.packets_lost - m->lost_reported));
            m->lost_reported = st.packets_lost;
        }
        jitter = st.jitter_ms > jitter ? st.jitter_ms : jitter;
        rtt = st.rtt_ms > rtt ? st.rtt_ms : rtt;
        int inuse = slot_map_used(&m->map);
        used += inuse;
        json_t *j = member_json(m);
        json_object_set_new(j, "packets_in", json_integer((json_int_t)m->packets_in));
        json_object_set_new(j, "packets_forwarded", json_integer((json_int_t)m->packets_forwarded));
        json_object_set_new(j, "packets_lost", json_integer((json_int_t)m->lost_reported));
        json_object_set_new(j, "jitter_ms", json_integer(st.jitter_ms));
        json_object_set_new(j, "rtt_ms", st.rtt_ms >= 0 ? json_integer(st.rtt_ms) : json_null());
        json_object_set_new(j, "slots_in_use", json_integer(inuse));
        json_object_set_new(j, "connected", json_boolean(m->attached && m->connected));
        json_array_append_new(list, j);
        if (*nrows < PM_MAX) {
            struct pm_row *row = &r->sfu->pm_rows[(*nrows)++];
            snprintf(row->room, sizeof(row->room), "%s", r->name);
            snprintf(row->id, sizeof(row->id), "%s", m->id);
            row->v[PM_PACKETS_IN] = (int64_t)m->packets_in;
            row->v[PM_FORWARDED] = (int64_t)m->packets_forwarded;
            row->v[PM_LOST] = (int64_t)m->lost_reported;
            row->v[PM_JITTER_MS] = st.jitter_ms;
            row->v[PM_RTT_MS] = st.rtt_ms;
            row->v[PM_SLOTS_IN_USE] = inuse;
        }
    }
    metrics_set(r->mx.jitter_ms, jitter);
    metrics_set(r->mx.rtt_ms, rtt);
    metrics_set(r->mx.slots_in_use, used);
    json_t *root = json_pack("{s:o}", "members", list);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

static void refresh_snapshots(struct sfu *sfu)
{
    int n = 0;
    for (struct room *r = sfu->rooms; r; r = r->next)
        n++;
    struct snap *snaps = n ? xcalloc((size_t)n, sizeof(*snaps)) : NULL;
    json_t *rooms = json_array();
    int i = 0, nrows = 0;
    for (struct room *r = sfu->rooms; r; r = r->next, i++) {
        snprintf(snaps[i].name, sizeof(snaps[i].name), "%s", r->name);
        snaps[i].json = room_snapshot(r, &nrows);
        json_array_append_new(rooms, json_pack("{s:s,s:i}", "name", r->name, "members", r->n));
    }
    json_t *root = json_pack("{s:o}", "rooms", rooms);
    char *summary = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    member_metrics_publish(sfu, sfu->pm_rows, nrows);
    pthread_mutex_lock(&sfu->snap_mu);
    struct snap *old = sfu->snaps;
    int nold = sfu->nsnaps;
    char *old_summary = sfu->summary;
    sfu->snaps = snaps;
    sfu->nsnaps = n;
    sfu->summary = summary;
    pthread_mutex_unlock(&sfu->snap_mu);
    for (int k = 0; k < nold; k++)
        free(old[k].json);
    free(old);
    free(old_summary);
}

char *sfu_room_snapshot_json(struct sfu *sfu, const char *room)
{
    char *out = NULL;
    pthread_mutex_lock(&sfu->snap_mu);
    for (int i = 0; i < sfu->nsnaps && !out; i++)
        if (strcmp(sfu->snaps[i].name, room) == 0 && sfu->snaps[i].json)
            out = xstrdup(sfu->snaps[i].json);
    pthread_mutex_unlock(&sfu->snap_mu);
    return out;
}

char *sfu_rooms_summary_json(struct sfu *sfu)
{
    pthread_mutex_lock(&sfu->snap_mu);
    char *out = xstrdup(sfu->summary ? sfu->summary : "{\"rooms\":[]}");
    pthread_mutex_unlock(&sfu->snap_mu);
    return out;
}

/* ---- the tick and the life cycle ---- */

static void expire_dropped(struct sfu *sfu, int64_t now)
{
    int64_t grace = (int64_t)sfu->cfg.rejoin_grace_s * 1000000;
    for (struct room *r = sfu->rooms, *next; r; r = next) {
        next = r->next; /* member_end may free r */
        for (int i = r->n - 1; i >= 0 && i < r->n; i--) {
            struct sfu_member *m = r->m[i];
            if (!m->attached && now - m->detached_us >= grace) {
                bool last = r->n == 1;
                member_end(m, NULL);
                if (last)
                    break;
            }
        }
    }
}

static void tick(struct loop *loop, void *opaque)
{
    struct sfu *sfu = opaque;
    (void)loop;
    int64_t now = clock_mono_us();
    expire_dropped(sfu, now);
    for (struct room *r = sfu->rooms; r; r = r->next)
        room_rank(r, now);
    if (now >= sfu->next_snapshot_us) {
        refresh_snapshots(sfu);
        sfu->next_snapshot_us = now + SFU_SNAPSHOT_MS * 1000;
    }
}

struct sfu *sfu_create(struct loop *loop, struct rtc_transport *rtc, const struct sfu_config *cfg)
{
    _Static_assert(SFU_SLOTS_MAX + 1 <= SDP_MAX_MEDIA && SFU_SLOTS_MAX <= SLOTS_MAX,
                   "an offer of 1 + SFU_SLOTS_MAX m-lines must parse");
    if (cfg->slots < 1 || cfg->slots > SFU_SLOTS_MAX) {
        log_error("sfu", NULL, "--voice-slots %d: must be 1 to %d", cfg->slots, SFU_SLOTS_MAX);
        return NULL;
    }
    struct sfu *sfu = xcalloc(1, sizeof(*sfu));
    sfu->loop = loop;
    sfu->rtc = rtc;
    sfu->cfg = *cfg;
    if (sfu->cfg.rejoin_grace_s <= 0)
        sfu->cfg.rejoin_grace_s = 30;
    pthread_mutex_init(&sfu->snap_mu, NULL);
    struct metrics *mx = cfg->metrics;
    sfu->mx.rooms = metrics_gauge(mx, "kibitka_voice_rooms", "Voice rooms with members.");
    sfu->mx.members = metrics_gauge(mx, "kibitka_voice_members",
                                    "Members of voice rooms (live or in their rejoin grace).");
    sfu->mx.sessions =
        metrics_gauge(mx, "kibitka_voice_media_sessions", "WebRTC sessions of voice room members.");
    sfu->mx.packets_in = metrics_counter(mx, "kibitka_voice_packets_in_total",
                                         "RTP packets received from voice room microphones.");
    sfu->mx.forwarded = metrics_counter(mx, "kibitka_voice_packets_forwarded_total",
                                        "RTP copies sent to voice room members.");
    sfu->mx.send_errors = metrics_counter(mx, "kibitka_voice_send_errors_total",
                                          "RTP copies not sent (a member not connected yet, "
                                          "SRTP refused).");
    /* From 100 us (a copy that left in the same wake-up) to 250 ms (a loop that stalled). */
    static const double delay_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005,
                                          0.01,   0.02,    0.05,   0.1,   0.25};
    sfu->mx.forward_delay = metrics_histogram(
        mx, "kibitka_voice_forward_delay_seconds",
        "Voice SFU: from a packet's arrival (its recvmmsg batch) to the sendmmsg that carried "
        "each forwarded copy.",
        delay_bounds, (int)(sizeof(delay_bounds) / sizeof(delay_bounds[0])));
    member_metrics_register(sfu, mx);
    sfu->pm_rows = xcalloc(PM_MAX, sizeof(*sfu->pm_rows));
    sfu->tick = loop_timer_add(loop, SFU_TICK_MS, true, tick, sfu);
    refresh_snapshots(sfu);
    return sfu;
}

void sfu_destroy(struct sfu **ps)
{
    struct sfu *sfu = *ps;
    if (!sfu)
        return;
    *ps = NULL;
    while (sfu->rooms)
        member_end(sfu->rooms->m[sfu->rooms->n - 1], "server stopping");
    loop_timer_cancel(sfu->loop, sfu->tick);
    member_metrics_publish(sfu, NULL, 0); /* no stale rows once it is gone */
    free(sfu->pm_rows);
    for (int i = 0; i < sfu->nsnaps; i++)
        free(sfu->snaps[i].json);
    free(sfu->snaps);
    free(sfu->summary);
    pthread_mutex_destroy(&sfu->snap_mu);
    free(sfu);
}
