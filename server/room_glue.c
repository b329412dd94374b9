/* The API's room ops over the SFU: see room_glue.h. */
#include "server/room_glue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"

enum act { ACT_KICK, ACT_MUTE, ACT_UNMUTE, ACT_CLOSE };

struct post {
    struct sfu *sfu;
    enum act act;
    char room[SFU_NAME_MAX + 1];
    char member[SFU_ID_MAX];
};

/* On the loop thread. */
static void run(void *arg)
{
    struct post *p = arg;
    if (p->act == ACT_KICK)
        sfu_kick(p->sfu, p->room, p->member);
    else if (p->act == ACT_CLOSE)
        sfu_close_room(p->sfu, p->room);
    else
        sfu_server_mute(p->sfu, p->room, p->member, p->act == ACT_MUTE);
    free(p);
}

static int post(void *opaque, enum act act, const char *room, const char *member)
{
    struct room_glue *g = opaque;
    struct post *p = xcalloc(1, sizeof(*p));
    p->sfu = g->sfu;
    p->act = act;
    if (snprintf(p->room, sizeof(p->room), "%s", room) >= (int)sizeof(p->room) ||
        snprintf(p->member, sizeof(p->member), "%s", member ? member : "") >=
            (int)sizeof(p->member)) {
        free(p);
        return -ENOENT; /* names that long are in no room */
    }
    loop_post(g->loop, run, p);
    return 0;
}

static char *snapshot(void *opaque, const char *room)
{
    struct room_glue *g = opaque;
    return sfu_room_snapshot_json(g->sfu, room);
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

const struct api_room_ops room_glue_ops = {
    .snapshot = snapshot,
    .kick = kick,
    .mute = mute,
    .close = close_room,
};
