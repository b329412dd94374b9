/* The voice rooms' wiring (sfu_glue.h): signaling -> access check -> SFU, and the API's rooms
 * routes -> SFU.
 *
 * The API's ops (api_room_ops) run on HTTP threads: the snapshot is read there (sfu.h allows
 * any thread), moderation is posted to the network loop where every other sfu_* call runs, and
 * not waited for (the API found the member in the snapshot; one that left meanwhile is simply
 * not there to kick). Both go through `live`, which sfu_glue_stop clears under the lock before
 * the SFU is destroyed: an HTTP request racing the stop sees no SFU (no participants, 503), and
 * a post that loop_destroy runs after the stop only frees itself. */
#include "server/sfu_glue.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/loop.h"
#include "sfu/room_access.h"
#include "sfu/sfu.h"
#include "sfu/signal.h"

struct sfu_glue {
    char *addr;
    struct signal_server *ws;
    struct sfu *sfu;
    struct room_access *access; /* the join check (sfu/room_access.h) */
    struct loop *loop;
    pthread_mutex_t lock; /* guards live */
    struct sfu *live;     /* sfu while the API may use it; NULL from sfu_glue_stop on */
};

/* ---- the API's rooms ops ---- */

enum act { ACT_KICK, ACT_MUTE, ACT_UNMUTE, ACT_CLOSE };

struct post {
    struct sfu_glue *g;
    enum act act;
    char room[SFU_NAME_MAX + 1];
    char member[SFU_ID_MAX];
};

/* On the loop thread (or in loop_destroy, after the stop: then live is NULL). */
static void run_post(void *arg)
{
    struct post *p = arg;
    pthread_mutex_lock(&p->g->lock);
    struct sfu *sfu = p->g->live;
    pthread_mutex_unlock(&p->g->lock);
    if (sfu && p->act == ACT_KICK)
        sfu_kick(sfu, p->room, p->member);
    else if (sfu && p->act == ACT_CLOSE)
        sfu_close_room(sfu, p->room);
    else if (sfu)
        sfu_server_mute(sfu, p->room, p->member, p->act == ACT_MUTE);
    free(p);
}

static int post(void *opaque, enum act act, const char *room, const char *member)
{
    struct sfu_glue *g = opaque;
    pthread_mutex_lock(&g->lock);
    bool live = g->live != NULL;
    pthread_mutex_unlock(&g->lock);
    if (!live)
        return -EAGAIN;
    struct post *p = xcalloc(1, sizeof(*p));
    p->g = g;
    p->act = act;
    if (snprintf(p->room, sizeof(p->room), "%s", room) >= (int)sizeof(p->room) ||
        snprintf(p->member, sizeof(p->member), "%s", member ? member : "") >=
            (int)sizeof(p->member)) {
        free(p);
        return -ENOENT; /* names that long are in no room */
    }
    loop_post(g->loop, run_post, p);
    return 0;
}

static char *snapshot(void *opaque, const char *room)
{
    struct sfu_glue *g = opaque;
    pthread_mutex_lock(&g->lock); /* held so the stop cannot free the SFU under the copy */
    char *json = g->live ? sfu_room_snapshot_json(g->live, room) : NULL;
    pthread_mutex_unlock(&g->lock);
    return json;
}

static int kick(void *opaque, const char *room, const char *member)
{
    return post(opaque, ACT_KICK, room, member);
}

static int mute(void *opaque, const char *room, const char *member, bool muted)
{
    return post(opaque, muted ? ACT_MUTE : ACT_UNMUTE, room, member);
}

static void close_room(void *opaque, const char *room)
{
    post(opaque, ACT_CLOSE, room, NULL);
}

static const struct api_room_ops room_ops = {
    .snapshot = snapshot,
    .kick = kick,
    .mute = mute,
    .close = close_room,
};

const struct api_room_ops *sfu_glue_room_ops(struct sfu_glue *g)
{
    return g && g->sfu ? &room_ops : NULL;
}

int sfu_glue_bind(const char *ws_addr, struct metrics *metrics,
                  const struct proxy_trust *trusted_proxies, const char *const *origins,
                  int norigins, struct sfu_glue **out)
{
    *out = NULL;
    if (!strcmp(ws_addr, "off"))
        return 0;
    struct sfu_glue *g = xcalloc(1, sizeof(*g));
    pthread_mutex_init(&g->lock, NULL);
    g->addr = xstrdup(ws_addr);
    char err[256] = "";
    struct signal_config sc = {.addr = ws_addr,
                               .metrics = metrics,
                               .trusted_proxies = trusted_proxies,
                               .origins = origins,
                               .norigins = norigins};
    if (signal_server_create(&sc, &g->ws, err, sizeof(err)) < 0) {
        log_error("main", NULL, "cannot listen on %s for WebSocket signaling (--ws): %s", ws_addr,
                  err);
        sfu_glue_destroy(&g);
        return -1;
    }
    *out = g;
    return 0;
}

struct sfu *sfu_glue_sfu(const struct sfu_glue *g)
{
    return g ? g->sfu : NULL;
}

int sfu_glue_port(const struct sfu_glue *g)
{
    return g && g->ws ? signal_server_port(g->ws) : 0;
}

int sfu_glue_start(struct sfu_glue *g, struct loop *loop, struct rtc_transport *rtc, struct db *db,
                   struct metrics *metrics, int slots, int rejoin_s)
{
    if (!rtc) {
        log_warn("main", NULL, "--rtc off: no voice rooms, so --ws %s is not served", g->addr);
        signal_server_destroy(&g->ws);
        return 0;
    }
    struct sfu_config cfg = {.slots = slots, .rejoin_grace_s = rejoin_s, .metrics = metrics};
    g->loop = loop;
    if (!(g->sfu = sfu_create(loop, rtc, &cfg)))
        return -1;
    if (!(g->access = room_access_create(db))) {
        log_error("main", NULL, "cannot start the voice rooms' join check");
        return -1;
    }
    pthread_mutex_lock(&g->lock);
    g->live = g->sfu;
    pthread_mutex_unlock(&g->lock);
    return signal_server_start(g->ws, loop, g->sfu, room_access_check, g->access) < 0 ? -1 : 0;
}

void sfu_glue_stop(struct sfu_glue *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock); /* the API's ops see no SFU from here on */
    g->live = NULL;
    pthread_mutex_unlock(&g->lock);
    signal_server_shutdown(g->ws);   /* no socket, no job that calls the SFU from here on */
    room_access_destroy(&g->access); /* its last answers were posted; loop_destroy frees them */
    sfu_destroy(&g->sfu);
}

void sfu_glue_destroy(struct sfu_glue **pg)
{
    struct sfu_glue *g = *pg;
    if (!g)
        return;
    sfu_glue_stop(g);
    signal_server_destroy(&g->ws);
    pthread_mutex_destroy(&g->lock);
    free(g->addr);
    free(g);
    *pg = NULL;
}
