#include "core/hub.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/rebase.h"

struct sink {
    const struct hub_sink_ops *ops;
    void *opaque;
    bool active;
};

#define HUB_MAX_SINKS 8

struct hub {
    atomic_int refs;
    char name[HUB_NAME_MAX + 1];
    struct hub_registry *reg;
    int64_t started_mono_us, started_wall_us;
    struct sink sinks[HUB_MAX_SINKS];
    int nsinks;
    struct hub_track tracks[HUB_MAX_TRACKS];
    int ntracks;
    bool started, ended;
    struct hub_info info; /* under reg->lock */
    char protocol[8];     /* under reg->lock: hub_set_protocol, copied into hub_info_get */
    atomic_uint_fast64_t bytes_in;
    struct rebase rebase;           /* the source's thread */
    atomic_uint_fast64_t jumps;     /* rebase.jumps, for other threads */
    struct hub_publisher publisher; /* written under reg->lock (hub_registry_stop reads it) */
    bool has_publisher;
    char refusal[HUB_REFUSAL_MAX]; /* why a sink's accept refused the stream, "" otherwise */
    hub_stop_fn stop_fn;           /* the source's thread only */
    void *stop_opaque;
    struct hub *next; /* registry list, under the registry lock */
};

struct observer {
    hub_observer_fn fn;
    void *opaque;
};

#define HUB_MAX_OBSERVERS 8

struct hub_registry {
    pthread_mutex_t lock;
    struct hub *live;
    int nlive;
    struct observer observers[HUB_MAX_OBSERVERS];
    int nobservers;
    struct loop *loop; /* where stop requests run; NULL: none */
};

struct hub_registry *hub_registry_create(void)
{
    struct hub_registry *reg = xcalloc(1, sizeof(*reg));
    pthread_mutex_init(&reg->lock, NULL);
    return reg;
}

void hub_registry_destroy(struct hub_registry **preg)
{
    struct hub_registry *reg = *preg;
    if (!reg)
        return;
    pthread_mutex_destroy(&reg->lock);
    free(reg);
    *preg = NULL;
}

void hub_registry_observe(struct hub_registry *reg, hub_observer_fn fn, void *opaque)
{
    if (reg->nobservers == HUB_MAX_OBSERVERS)
        abort(); /* a programming error: the set of consumers is fixed at build time */
    reg->observers[reg->nobservers++] = (struct observer){fn, opaque};
}

bool hub_name_valid(const char *name)
{
    size_t n = 0;
    for (; name[n]; n++) {
        char c = name[n];
        if (n >= HUB_NAME_MAX)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return n > 0;
}

int hub_registry_claim(struct hub_registry *reg, const char *name, struct hub **out)
{
    if (!hub_name_valid(name))
        return -EINVAL;
    pthread_mutex_lock(&reg->lock);
    for (struct hub *h = reg->live; h; h = h->next) {
        if (strcmp(h->name, name) == 0) {
            pthread_mutex_unlock(&reg->lock);
            return -EBUSY;
        }
    }
    struct hub *hub = xcalloc(1, sizeof(*hub));
    atomic_init(&hub->refs, 2); /* the registry's and the caller's */
    strcpy(hub->name, name);
    hub->reg = reg;
    hub->started_mono_us = clock_mono_us();
    hub->started_wall_us = clock_wall_us();
    atomic_init(&hub->bytes_in, 0);
    atomic_init(&hub->jumps, 0);
    hub->next = reg->live;
    reg->live = hub;
    reg->nlive++;
    pthread_mutex_unlock(&reg->lock);

    for (int i = 0; i < reg->nobservers; i++)
        reg->observers[i].fn(reg->observers[i].opaque, hub);
    *out = hub;
    return 0;
}

void hub_registry_foreach(struct hub_registry *reg, void (*fn)(void *opaque, struct hub *hub),
                          void *opaque)
{
    pthread_mutex_lock(&reg->lock);
    for (struct hub *h = reg->live; h; h = h->next)
        fn(opaque, h);
    pthread_mutex_unlock(&reg->lock);
}

int hub_registry_count(struct hub_registry *reg)
{
    pthread_mutex_lock(&reg->lock);
    int n = reg->nlive;
    pthread_mutex_unlock(&reg->lock);
    return n;
}

struct hub *hub_ref(struct hub *hub)
{
    atomic_fetch_add(&hub->refs, 1);
    return hub;
}

void hub_unref(struct hub *hub)
{
    if (!hub || atomic_fetch_sub(&hub->refs, 1) != 1)
        return;
    for (int i = 0; i < hub->ntracks; i++)
        avcodec_parameters_free(&hub->tracks[i].par);
    free(hub);
}

void hub_unrefp(struct hub **phub)
{
    hub_unref(*phub);
    *phub = NULL;
}

const char *hub_name(const struct hub *hub)
{
    return hub->name;
}

int64_t hub_started_mono_us(const struct hub *hub)
{
    return hub->started_mono_us;
}

int64_t hub_started_wall_us(const struct hub *hub)
{
    return hub->started_wall_us;
}

void hub_set_publisher(struct hub *hub, const struct hub_publisher *p)
{
    pthread_mutex_lock(&hub->reg->lock);
    hub->publisher = *p;
    hub->has_publisher = true;
    pthread_mutex_unlock(&hub->reg->lock);
}

void hub_registry_set_loop(struct hub_registry *reg, struct loop *loop)
{
    reg->loop = loop;
}

void hub_set_stop(struct hub *hub, hub_stop_fn fn, void *opaque)
{
    hub->stop_fn = fn;
    hub->stop_opaque = opaque;
}

/* One hub's stop request, posted to the loop; holds a reference so the hub outlives it. */
struct stop_req {
    struct hub *hub;
    const char *reason;
};

static void stop_on_loop(void *arg)
{
    struct stop_req *r = arg;
    /* Ended meanwhile (the publisher left, or the server is stopping and loop_destroy runs
     * what is left): the source may be gone, and there is nothing to stop. */
    if (!r->hub->ended && r->hub->stop_fn)
        r->hub->stop_fn(r->hub->stop_opaque, r->reason);
    hub_unref(r->hub);
    free(r);
}

static bool stop_matches(const struct hub *h, const char *stream_id, const char *user_id)
{
    if (!h->has_publisher)
        return false;
    return (stream_id && !strcmp(h->publisher.stream_id, stream_id)) ||
           (user_id && !strcmp(h->publisher.user_id, user_id));
}

int hub_registry_stop(struct hub_registry *reg, const char *stream_id, const char *user_id,
                      const char *reason)
{
    if (!reg->loop)
        return -ENOTSUP;
    int n = 0;
    pthread_mutex_lock(&reg->lock);
    for (struct hub *h = reg->live; h; h = h->next) {
        if (!stop_matches(h, stream_id, user_id))
            continue;
        struct stop_req *r = xcalloc(1, sizeof(*r));
        r->hub = hub_ref(h);
        r->reason = reason;
        loop_post(reg->loop, stop_on_loop, r); /* only queues: fine under the lock */
        n++;
    }
    pthread_mutex_unlock(&reg->lock);
    return n;
}

const struct hub_publisher *hub_publisher(const struct hub *hub)
{
    return hub->has_publisher ? &hub->publisher : NULL;
}

void hub_add_sink(struct hub *hub, const struct hub_sink_ops *ops, void *opaque)
{
    if (hub->nsinks == HUB_MAX_SINKS || hub->started)
        abort(); /* programming error: sinks attach from observers, during the claim */
    hub->sinks[hub->nsinks++] = (struct sink){ops, opaque, true};
}

static void drop_sink(struct sink *s)
{
    s->active = false;
    s->ops->destroy(s->opaque);
}

static void describe(const struct hub_track *tracks, int ntracks, struct hub_info *info)
{
    memset(info, 0, sizeof(*info));
    info->started = true;
    for (int i = 0; i < ntracks; i++) {
        const AVCodecParameters *par = tracks[i].par;
        const char *profile = avcodec_profile_name(par->codec_id, par->profile);
        if (par->codec_type == AVMEDIA_TYPE_VIDEO && !info->video_codec[0]) {
            if (par->level > 0)
                snprintf(info->video_codec, sizeof(info->video_codec), "%s %s %d.%d",
                         avcodec_get_name(par->codec_id), profile ? profile : "", par->level / 10,
                         par->level % 10);
            else
                snprintf(info->video_codec, sizeof(info->video_codec), "%s%s%s",
                         avcodec_get_name(par->codec_id), profile ? " " : "",
                         profile ? profile : "");
            info->width = par->width;
            info->height = par->height;
            if (tracks[i].frame_rate.num > 0 && tracks[i].frame_rate.den > 0)
                info->frame_rate = av_q2d(tracks[i].frame_rate);
        } else if (par->codec_type == AVMEDIA_TYPE_AUDIO && !info->audio_codec[0]) {
            snprintf(info->audio_codec, sizeof(info->audio_codec), "%s%s%s",
                     avcodec_get_name(par->codec_id), profile ? " " : "", profile ? profile : "");
            info->sample_rate = par->sample_rate;
            info->channels = par->ch_layout.nb_channels;
        }
    }
}

void hub_info_get(const struct hub *hub, struct hub_info *out)
{
    *out = hub->info;
    snprintf(out->protocol, sizeof(out->protocol), "%s", hub->protocol);
}

void hub_set_protocol(struct hub *hub, const char *protocol)
{
    pthread_mutex_lock(&hub->reg->lock);
    snprintf(hub->protocol, sizeof(hub->protocol), "%s", protocol ? protocol : "");
    pthread_mutex_unlock(&hub->reg->lock);
}

/* Every sink's accept, before any sink starts: the first refusal refuses the stream. */
static bool accepted(struct hub *hub, const struct hub_track *tracks, int ntracks)
{
    for (int i = 0; i < hub->nsinks; i++) {
        struct sink *s = &hub->sinks[i];
        if (!s->active || !s->ops->accept)
            continue;
        char why[HUB_REFUSAL_MAX] = "";
        if (s->ops->accept(s->opaque, tracks, ntracks, why, sizeof(why)) < 0) {
            /* Logged by the source, with its peer, when it ends the publish. */
            snprintf(hub->refusal, sizeof(hub->refusal), "%s",
                     why[0] ? why : "the stream was refused");
            return false;
        }
    }
    return true;
}

int hub_start(struct hub *hub, const struct hub_track *tracks, int ntracks)
{
    if (hub->started || hub->ended || ntracks <= 0 || ntracks > HUB_MAX_TRACKS)
        return -EINVAL;
    if (!accepted(hub, tracks, ntracks))
        return -EPERM;
    for (int i = 0; i < ntracks; i++) {
        hub->tracks[i] = tracks[i];
        hub->tracks[i].par = avcodec_parameters_alloc();
        if (!hub->tracks[i].par || avcodec_parameters_copy(hub->tracks[i].par, tracks[i].par) < 0)
            abort(); /* out of memory */
        hub->ntracks = i + 1;
    }
    hub->started = true;
    AVRational tbs[HUB_MAX_TRACKS];
    for (int i = 0; i < ntracks; i++)
        tbs[i] = tracks[i].time_base;
    rebase_init(&hub->rebase, tbs, ntracks);
    struct hub_info info;
    describe(hub->tracks, hub->ntracks, &info);
    pthread_mutex_lock(&hub->reg->lock);
    hub->info = info;
    pthread_mutex_unlock(&hub->reg->lock);
    for (int i = 0; i < hub->nsinks; i++) {
        struct sink *s = &hub->sinks[i];
        int err = s->ops->start(s->opaque, hub, hub->tracks, hub->ntracks);
        if (err < 0) {
            log_warn("hub", hub->name, "sink %s refused the stream (%s); it gets no packets",
                     s->ops->name, strerror(-err));
            drop_sink(s);
        }
    }
    return 0;
}

int hub_reconfigure(struct hub *hub, const struct hub_track *tracks, int ntracks)
{
    if (!hub->started || hub->ended || ntracks != hub->ntracks)
        return -EINVAL;
    for (int i = 0; i < ntracks; i++) {
        AVCodecParameters *par = hub->tracks[i].par;
        hub->tracks[i] = tracks[i];
        hub->tracks[i].par = par;
        if (avcodec_parameters_copy(par, tracks[i].par) < 0)
            abort(); /* out of memory */
    }
    struct hub_info info;
    describe(hub->tracks, hub->ntracks, &info);
    pthread_mutex_lock(&hub->reg->lock);
    hub->info = info;
    pthread_mutex_unlock(&hub->reg->lock);
    for (int i = 0; i < hub->nsinks; i++)
        if (hub->sinks[i].active && hub->sinks[i].ops->reconfigure)
            hub->sinks[i].ops->reconfigure(hub->sinks[i].opaque, hub->tracks, hub->ntracks);
    return 0;
}

const char *hub_refusal(const struct hub *hub)
{
    return hub->refusal;
}

bool hub_started(const struct hub *hub)
{
    return hub->started;
}

const struct hub_track *hub_tracks(const struct hub *hub, int *ntracks)
{
    *ntracks = hub->ntracks;
    return hub->tracks;
}

static void log_jump(const struct hub *hub, int track, const struct rebase_jump *j)
{
    log_warn("hub", hub->name,
             "timestamps jumped by %+.3f s (track %d, at %.3f s of the stream): rebased to go on "
             "at %.3f s, marked as a discontinuity",
             (double)j->by_us / 1e6, track, (double)j->from_us / 1e6, (double)j->to_us / 1e6);
}

void hub_push(struct hub *hub, const struct hub_packet *pkt)
{
    if (!hub->started || hub->ended)
        return;
    /* A shallow copy with rebased timestamps: the sinks only read it or take their own
     * reference (av_packet_ref works on it); the source's packet is left as it was. */
    AVPacket copy = *pkt->pkt;
    struct rebase_jump jump;
    struct hub_packet hp = {&copy, pkt->wallclock_us, false};
    if (rebase_packet(&hub->rebase, &copy, &jump)) {
        hp.discontinuity = true;
        atomic_store(&hub->jumps, hub->rebase.jumps);
        log_jump(hub, copy.stream_index, &jump);
    }
    for (int i = 0; i < hub->nsinks; i++)
        if (hub->sinks[i].active && hub->sinks[i].ops->packet)
            hub->sinks[i].ops->packet(hub->sinks[i].opaque, &hp);
}

void hub_end(struct hub *hub)
{
    if (hub->ended)
        return;
    hub->ended = true;
    struct hub_registry *reg = hub->reg;
    pthread_mutex_lock(&reg->lock);
    for (struct hub **pp = &reg->live; *pp; pp = &(*pp)->next) {
        if (*pp == hub) {
            *pp = hub->next;
            reg->nlive--;
            break;
        }
    }
    pthread_mutex_unlock(&reg->lock);
    for (int i = 0; i < hub->nsinks; i++) {
        struct sink *s = &hub->sinks[i];
        if (!s->active)
            continue;
        if (hub->started)
            s->ops->end(s->opaque);
        drop_sink(s);
    }
    hub_unref(hub); /* the registry's reference */
}

bool hub_ended(const struct hub *hub)
{
    return hub->ended;
}

void hub_count_bytes_in(struct hub *hub, uint64_t n)
{
    atomic_fetch_add(&hub->bytes_in, n);
}

uint64_t hub_bytes_in(const struct hub *hub)
{
    return atomic_load(&hub->bytes_in);
}

uint64_t hub_timestamp_jumps(const struct hub *hub)
{
    return atomic_load(&hub->jumps);
}
