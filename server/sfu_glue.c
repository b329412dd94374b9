/* The voice rooms' wiring (sfu_glue.h): signaling -> access check -> SFU.
 *
 * Left for the merge of issue 14's three branches (this one has the signaling only):
 *   - the SFU (branch i14-fwd): sfu_create/sfu_destroy here already name the real functions; in
 *     this branch they and the sfu_* calls of sfu/signal_conn.c come from server/sfu_stub.c.
 *     Delete that file and its line in CMakeLists.txt (add_executable(kibitka ...)). main.c
 *     passes 8 slots to sfu_glue_start: pass --voice-slots (that branch's flag) instead;
 *   - the join check (branch i14-rooms): `deny_access` below stands in for auth/room_access.c's
 *     sfu_access_fn. Create that module in sfu_glue_start (it reads db), pass its function and
 *     opaque to signal_server_start, and destroy it in sfu_glue_stop between
 *     signal_server_shutdown and sfu_destroy (its last answers loop_post; loop_destroy runs
 *     them, and they then only free);
 *   - the API's moderation and live state: sfu_glue_sfu gives the struct sfu to hand to the
 *     API's config (sfu_kick, sfu_server_mute, sfu_close_room posted to the loop;
 *     sfu_room_snapshot_json from any thread). */
#include "server/sfu_glue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "sfu/sfu.h"
#include "sfu/signal.h"

struct sfu_glue {
    char *addr;
    struct signal_server *ws;
    struct sfu *sfu;
};

/* Until auth/room_access.c is merged: every join is refused, with a reason the client sees. */
static void deny_access(void *opaque, const char *room, const char *token, const char *display,
                        sfu_access_done done, void *ctx)
{
    (void)opaque;
    (void)room;
    (void)token;
    (void)display;
    done(ctx, -ENOSYS, NULL, "voice rooms are not available on this server yet");
}

int sfu_glue_bind(const char *ws_addr, struct metrics *metrics, struct sfu_glue **out)
{
    *out = NULL;
    if (!strcmp(ws_addr, "off"))
        return 0;
    struct sfu_glue *g = xcalloc(1, sizeof(*g));
    g->addr = xstrdup(ws_addr);
    char err[256] = "";
    struct signal_config sc = {.addr = ws_addr, .metrics = metrics};
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
                   struct metrics *metrics, int slots)
{
    (void)db;
    if (!rtc) {
        log_warn("main", NULL, "--rtc off: no voice rooms, so --ws %s is not served", g->addr);
        signal_server_destroy(&g->ws);
        return 0;
    }
    struct sfu_config cfg = {.slots = slots, .rejoin_grace_s = 30, .metrics = metrics};
    if (!(g->sfu = sfu_create(loop, rtc, &cfg)))
        return -1;
    return signal_server_start(g->ws, loop, g->sfu, deny_access, NULL) < 0 ? -1 : 0;
}

void sfu_glue_stop(struct sfu_glue *g)
{
    if (!g)
        return;
    signal_server_shutdown(g->ws); /* no socket, no job that calls the SFU from here on */
    sfu_destroy(&g->sfu);
}

void sfu_glue_destroy(struct sfu_glue **pg)
{
    struct sfu_glue *g = *pg;
    if (!g)
        return;
    sfu_glue_stop(g);
    signal_server_destroy(&g->ws);
    free(g->addr);
    free(g);
    *pg = NULL;
}
