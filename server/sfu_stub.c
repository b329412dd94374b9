/* A stand-in for the forwarding core (sfu/sfu.h) until branch i14-fwd is merged: the server
 * links and runs, and a join that got past the access check is refused with a clear reason.
 * Delete this file and its line in CMakeLists.txt at the merge (see server/sfu_glue.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "sfu/sfu.h"

struct sfu {
    int unused;
};

struct sfu *sfu_create(struct loop *loop, struct rtc_transport *rtc, const struct sfu_config *cfg)
{
    (void)loop;
    (void)rtc;
    (void)cfg;
    return xcalloc(1, sizeof(struct sfu));
}

void sfu_destroy(struct sfu **ps)
{
    free(*ps);
    *ps = NULL;
}

int sfu_join(struct sfu *sfu, const struct sfu_identity *id, const char *resume,
             const struct sfu_member_ops *ops, void *opaque, struct sfu_member **out,
             struct buf *reply, char *why, size_t whylen)
{
    *out = NULL;
    snprintf(why, whylen, "voice forwarding is not built into this server yet");
    return -ENOSYS;
}

int sfu_offer(struct sfu_member *m, const char *sdp, size_t len, struct buf *answer, char *why,
              size_t whylen)
{
    return -ENOSYS;
}

int sfu_trickle(struct sfu_member *m, const char *frag, size_t len, char *why, size_t whylen)
{
    return -ENOSYS;
}

void sfu_set_self_muted(struct sfu_member *m, bool muted) {}

void sfu_leave(struct sfu_member **pm)
{
    *pm = NULL;
}

void sfu_detach(struct sfu_member **pm)
{
    *pm = NULL;
}

int sfu_kick(struct sfu *sfu, const char *room, const char *member_id)
{
    return -ENOENT;
}

int sfu_server_mute(struct sfu *sfu, const char *room, const char *member_id, bool muted)
{
    return -ENOENT;
}

void sfu_close_room(struct sfu *sfu, const char *room) {}

char *sfu_room_snapshot_json(struct sfu *sfu, const char *room)
{
    return NULL;
}
