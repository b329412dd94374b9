/* Voice rooms between the API and the SFU (issue 14): the api_room_ops (api/api.h) over
 * sfu_room_snapshot_json, sfu_kick, sfu_server_mute and sfu_close_room. The snapshot is read on
 * the HTTP thread (sfu.h allows any thread); the moderation calls are posted to the network
 * loop, where every other sfu_* call runs, and not waited for: the API has already found the
 * member in the snapshot, and a member that left in between is simply not there to kick.
 *
 * Not built yet: CMakeLists.txt adds server/room_glue.c to the kibitka executable once sfu/ is
 * (its sfu_* come from the forwarding branch). main then does, with the http config:
 *     struct room_glue rooms = {.sfu = sfu, .loop = loop};
 *     http_cfg.room_ops = &room_glue_ops;
 *     http_cfg.room_ops_opaque = &rooms;
 * Shutdown: a post still queued when the loop is destroyed is run by loop_destroy, and calls
 * the sfu: stop the HTTP server first (no new posts), and let the loop run its queue (a last
 * loop iteration) before sfu_destroy.
 * main also hands the signaling server room_access_check with a room_access_create(db) as its
 * sfu_access_fn and opaque (auth/room_access.h). */
#ifndef KIBITKA_SERVER_ROOM_GLUE_H
#define KIBITKA_SERVER_ROOM_GLUE_H

#include "api/api.h"
#include "core/loop.h"
#include "sfu/sfu.h"

struct room_glue {
    struct sfu *sfu;   /* must outlive the HTTP server */
    struct loop *loop; /* the network loop the sfu runs on */
};

/* opaque: a struct room_glue. */
extern const struct api_room_ops room_glue_ops;

#endif
