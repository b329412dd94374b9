/* The sink front-end: track pick, the start, held packets. See sink_front.h. */
#include "media/sink_front.h"

#include <errno.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "media/timeline.h"

#define US_TB ((AVRational){1, 1000000})

struct front_track {
    struct sink_front_track pub;
    int64_t offset;   /* subtracted from pts and dts (tb) */
    int64_t last_dts; /* after the shift; INT64_MIN before the first */
    int64_t last_dur; /* of the last packet released; 0 before */
    AVPacket *held;   /* waits for the next packet to know its duration */
};

struct sink_front {
    const struct sink_front_ops *ops;
    void *opaque;
    bool keep_timestamps;
    struct front_track tr[HUB_MAX_TRACKS];
    int ntracks, main;
    bool has_video, started, jump;
};

struct sink_front *sink_front_create(const struct sink_front_ops *ops, void *opaque,
                                     bool keep_timestamps)
{
    struct sink_front *f = xcalloc(1, sizeof(*f));
    f->ops = ops;
    f->opaque = opaque;
    f->keep_timestamps = keep_timestamps;
    f->main = -1;
    for (int i = 0; i < HUB_MAX_TRACKS; i++)
        f->tr[i].last_dts = INT64_MIN;
    return f;
}

void sink_front_destroy(struct sink_front **pf)
{
    struct sink_front *f = *pf;
    if (!f)
        return;
    for (int i = 0; i < HUB_MAX_TRACKS; i++)
        av_packet_free(&f->tr[i].held);
    free(f);
    *pf = NULL;
}

/* ---- start ---- */

static bool pick(struct sink_front *f, int i, const struct hub_track *ht, bool *has_audio)
{
    struct sink_front_track *t = &f->tr[i].pub;
    t->tb = ht->time_base;
    if (tl_track_muxable(ht, f->has_video, *has_audio, &t->video, &t->default_dur)) {
        f->has_video |= t->video;
        *has_audio |= !t->video;
        return true;
    }
    bool video = ht->par->codec_type == AVMEDIA_TYPE_VIDEO;
    t->video = false;
    if ((video && f->has_video) || (!video && ht->par->codec_type != AVMEDIA_TYPE_AUDIO))
        return false; /* one video track; nothing but audio and video */
    if (!f->ops->pick || !f->ops->pick(f->opaque, i, ht, *has_audio, &t->tb, &t->default_dur))
        return false;
    t->video = video;
    f->has_video |= video;
    *has_audio |= !video;
    return true;
}

int sink_front_start(struct sink_front *f, const struct hub_track *tracks, int ntracks)
{
    int n = 0, audio = -1;
    bool has_audio = false;
    f->ntracks = ntracks < HUB_MAX_TRACKS ? ntracks : HUB_MAX_TRACKS;
    for (int i = 0; i < f->ntracks; i++) {
        if (!pick(f, i, &tracks[i], &has_audio))
            continue;
        f->tr[i].pub.used = true;
        n++;
        if (f->tr[i].pub.video)
            f->main = i;
        else
            audio = i;
    }
    if (!f->has_video)
        f->main = audio;
    return n;
}

/* ---- packets ---- */

/* The stream starts at the main track's first keyframe (timeline.h): every track's offset. */
static bool begin(struct sink_front *f, int i, const AVPacket *in, int64_t wall_us)
{
    if (f->started)
        return true;
    const struct sink_front_track *t = &f->tr[i].pub;
    if (f->has_video && !(t->video && (in->flags & AV_PKT_FLAG_KEY)))
        return false;
    int64_t offset_us = tl_dts_us(in, t->tb);
    if (offset_us == INT64_MIN)
        return false;
    if (f->keep_timestamps)
        offset_us = 0;
    for (int k = 0; k < f->ntracks; k++)
        f->tr[k].offset = av_rescale_q(offset_us, US_TB, f->tr[k].pub.tb);
    if (f->ops->begin)
        f->ops->begin(f->opaque, i, in, wall_us);
    f->started = true;
    return true;
}

static void release(struct sink_front *f, int i, int64_t dur)
{
    struct front_track *t = &f->tr[i];
    if (!t->held)
        return;
    AVPacket *p = t->held;
    t->held = NULL;
    p->duration = dur > 0 ? dur : t->pub.default_dur;
    t->last_dur = p->duration;
    f->ops->release(f->opaque, i, p);
}

bool sink_front_packet(struct sink_front *f, int i, const AVPacket *in, int64_t wall_us)
{
    if (!sink_front_used(f, i) || !begin(f, i, in, wall_us))
        return false;
    struct front_track *t = &f->tr[i];
    AVPacket *p;
    switch (tl_shift(in, t->offset, &t->last_dts, &p)) {
    case TL_NO_TIMESTAMP:
        if (f->ops->drop)
            f->ops->drop(f->opaque, i, in, true, 0);
        return true;
    case TL_NOT_INCREASING:
        if (f->ops->drop)
            f->ops->drop(f->opaque, i, in, false, in->dts - t->offset);
        return true;
    case TL_BEFORE_START:
        return true;
    case TL_KEEP:
        break;
    }
    bool disc = false;
    if (f->jump && i == f->main && (!t->pub.video || (p->flags & AV_PKT_FLAG_KEY))) {
        f->jump = false;
        disc = true;
    }
    if (f->ops->take)
        f->ops->take(f->opaque, i, p, disc, wall_us);
    if (t->held)
        release(f, i, p->dts - t->held->dts);
    t->held = p;
    return true;
}

void sink_front_jump(struct sink_front *f)
{
    f->jump = true;
}

void sink_front_flush(struct sink_front *f)
{
    if (!f->started)
        return;
    release(f, f->main, f->tr[f->main].last_dur); /* its last packet may close a cut */
    for (int i = 0; i < f->ntracks; i++)
        release(f, i, f->tr[i].last_dur);
}

int sink_front_reconfigure(struct sink_front *f, const struct hub_track *tracks, int ntracks)
{
    if (ntracks != f->ntracks)
        return -EINVAL;
    for (int i = 0; i < ntracks; i++) {
        struct sink_front_track *t = &f->tr[i].pub;
        if (t->used && t->video && tracks[i].frame_rate.num > 0)
            t->default_dur = av_rescale_q(1, av_inv_q(tracks[i].frame_rate), t->tb);
    }
    return 0;
}

/* ---- what was picked ---- */

const struct sink_front_track *sink_front_track(const struct sink_front *f, int i)
{
    return &f->tr[i].pub;
}

bool sink_front_used(const struct sink_front *f, int i)
{
    return i >= 0 && i < f->ntracks && f->tr[i].pub.used;
}

int sink_front_ntracks(const struct sink_front *f)
{
    return f->ntracks;
}

int sink_front_main(const struct sink_front *f)
{
    return f->main;
}

bool sink_front_has_video(const struct sink_front *f)
{
    return f->has_video;
}

bool sink_front_started(const struct sink_front *f)
{
    return f->started;
}
