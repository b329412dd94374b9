/* The hub registry and fan-out: claims, busy names, observers attaching sinks, packet order,
 * end and release of the name, refcounts (ASan reports any leak). */
#include <errno.h>
#include <stdio.h>

#include "core/hub.h"
#include "core/loop.h"
#include "test.h"

struct rec {
    int starts, packets, ends, destroys;
    int64_t last_pts;
    int refuse, veto;
    struct hub *kept; /* a sink that outlives the source keeps a reference */
};

static int rec_start(void *o, struct hub *hub, const struct hub_track *t, int n)
{
    struct rec *r = o;
    r->starts++;
    return r->refuse ? -ENOTSUP : (n == 2 && t[0].par->codec_id == AV_CODEC_ID_H264 ? 0 : -EINVAL);
}
static void rec_packet(void *o, const struct hub_packet *p)
{
    struct rec *r = o;
    r->packets++;
    r->last_pts = p->pkt->pts;
}
static void rec_end(void *o)
{
    ((struct rec *)o)->ends++;
}
static void rec_destroy(void *o)
{
    struct rec *r = o;
    r->destroys++;
    hub_unrefp(&r->kept);
}

static int rec_accept(void *o, const struct hub_track *t, int n, char *why, size_t len)
{
    if (!((struct rec *)o)->veto)
        return 0;
    snprintf(why, len, "vetoed: %d tracks", n);
    return -EPERM;
}

static const struct hub_sink_ops rec_ops = {.name = "rec",
                                            .start = rec_start,
                                            .packet = rec_packet,
                                            .end = rec_end,
                                            .destroy = rec_destroy,
                                            .accept = rec_accept};

static struct rec sinks[2];
static void observer(void *opaque, struct hub *hub)
{
    int *calls = opaque;
    sinks[*calls % 2].kept = hub_ref(hub);
    hub_add_sink(hub, &rec_ops, &sinks[*calls % 2]);
    (*calls)++;
}

/* Stop requests (issue 11 item 8): matched by stream id or owner id from any thread, carried
 * out on the registry's loop, and only for hubs that have not ended by then. */
struct stopped {
    struct hub *hub;
    int calls;
    const char *reason;
};

static void on_stop(void *opaque, const char *reason)
{
    struct stopped *st = opaque;
    st->calls++;
    st->reason = reason;
    hub_end(st->hub); /* what a source does: end its stream (and close its connection) */
}

static void quit(void *arg)
{
    loop_stop(arg);
}

static void test_stop(void)
{
    struct hub_registry *reg = hub_registry_create();
    CHECK_EQ_INT(hub_registry_stop(reg, "s1", NULL, "x"), -ENOTSUP); /* no loop: no way */
    struct loop *loop = loop_create();
    hub_registry_set_loop(reg, loop);
    const char *names[] = {"a", "b", "c", "d"};
    struct hub_publisher pubs[] = {
        {"s1", "u1", "alice", true}, {"s2", "u1", "alice", true}, {"s3", "u2", "bob", true}};
    struct stopped st[4] = {{0}};
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(hub_registry_claim(reg, names[i], &st[i].hub), 0);
        if (i < 3) /* "d" is an --open-publish stream: no publisher, never matched */
            hub_set_publisher(st[i].hub, &pubs[i]);
        hub_set_stop(st[i].hub, on_stop, &st[i]);
    }
    CHECK_EQ_INT(hub_registry_stop(reg, "s1", NULL, "the stream was deleted"), 1);
    CHECK_EQ_INT(hub_registry_stop(reg, NULL, "u1", "its owner was deleted"), 2);
    CHECK_EQ_INT(hub_registry_stop(reg, "nope", "nobody", "x"), 0);
    CHECK_EQ_INT(hub_registry_stop(reg, "s3", NULL, "x"), 1);
    hub_end(st[2].hub); /* "c" ends on its own before the loop gets to the request */
    CHECK_EQ_INT(st[0].calls + st[1].calls, 0); /* nothing happens off the loop */
    loop_post(loop, quit, loop);
    CHECK_EQ_INT(loop_run(loop), 0);
    CHECK_EQ_INT(st[0].calls, 1); /* the second request found it ended */
    CHECK_STREQ(st[0].reason, "the stream was deleted");
    CHECK_EQ_INT(st[1].calls, 1);
    CHECK_STREQ(st[1].reason, "its owner was deleted");
    CHECK_EQ_INT(st[2].calls, 0);
    CHECK_EQ_INT(st[3].calls, 0);
    CHECK_EQ_INT(hub_registry_count(reg), 1);
    hub_end(st[3].hub);
    for (int i = 0; i < 4; i++)
        hub_unrefp(&st[i].hub);
    loop_destroy(&loop);
    hub_registry_destroy(&reg);
}

int main(void)
{
    test_stop();
    CHECK(hub_name_valid("cam-1_b"));
    CHECK(!hub_name_valid(""));
    CHECK(!hub_name_valid("Cam"));
    CHECK(!hub_name_valid("../x"));
    CHECK(!hub_name_valid("a b"));
    CHECK(!hub_name_valid(
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 65 */

    struct hub_registry *reg = hub_registry_create();
    int calls = 0;
    hub_registry_observe(reg, observer, &calls);
    hub_registry_observe(reg, observer, &calls);

    struct hub *h = NULL, *h2 = NULL;
    CHECK_EQ_INT(hub_registry_claim(reg, "bad name", &h), -EINVAL);
    CHECK_EQ_INT(hub_registry_claim(reg, "cam", &h), 0);
    CHECK_EQ_INT(calls, 2);
    CHECK_EQ_INT(hub_registry_claim(reg, "cam", &h2), -EBUSY);
    CHECK_EQ_INT(hub_registry_count(reg), 1);
    sinks[1].refuse = 1;
    hub_set_protocol(h, "whip"); /* before hub_start, which rewrites the rest of hub_info */

    AVCodecParameters *v = avcodec_parameters_alloc(), *a = avcodec_parameters_alloc();
    v->codec_type = AVMEDIA_TYPE_VIDEO;
    v->codec_id = AV_CODEC_ID_H264;
    a->codec_type = AVMEDIA_TYPE_AUDIO;
    a->codec_id = AV_CODEC_ID_AAC;
    struct hub_track tracks[2] = {{v, {1, 1000}, {30, 1}}, {a, {1, 1000}, {0, 1}}};
    CHECK_EQ_INT(hub_start(h, tracks, 2), 0);
    CHECK_EQ_INT(hub_start(h, tracks, 2), -EINVAL); /* once only */
    avcodec_parameters_free(&v);                    /* the hub copied them */
    avcodec_parameters_free(&a);
    CHECK_EQ_INT(sinks[0].starts, 1);
    CHECK_EQ_INT(sinks[1].starts, 1);
    CHECK_EQ_INT(sinks[1].destroys, 1); /* refused: dropped at once */
    CHECK_STREQ(hub_refusal(h), "");
    struct hub_info info;
    hub_info_get(h, &info); /* no other thread here: the registry lock is not needed */
    CHECK(info.started);
    CHECK_STREQ(info.protocol, "whip");
    CHECK_STREQ(info.video_codec, "h264");

    AVPacket *pkt = av_packet_alloc();
    for (int i = 0; i < 10; i++) {
        pkt->pts = pkt->dts = i * 33;
        struct hub_packet hp = {pkt, 0, false};
        hub_push(h, &hp);
    }
    av_packet_free(&pkt);
    CHECK_EQ_INT(sinks[0].packets, 10);
    CHECK_EQ_INT(sinks[0].last_pts, 297);
    CHECK_EQ_INT(sinks[1].packets, 0);

    hub_end(h);
    hub_end(h); /* idempotent */
    CHECK(hub_ended(h));
    CHECK_EQ_INT(sinks[0].ends, 1);
    CHECK_EQ_INT(sinks[0].destroys, 1);
    CHECK_EQ_INT(sinks[1].ends, 0);
    CHECK_EQ_INT(hub_registry_count(reg), 0);

    /* the name is free again at once, while the old hub still has a holder (the source) */
    CHECK_EQ_INT(hub_registry_claim(reg, "cam", &h2), 0);
    /* a sink's accept vetoes the stream: no sink starts, hub_refusal says why */
    sinks[1].refuse = 0;
    sinks[1].veto = 1;
    v = avcodec_parameters_alloc();
    v->codec_type = AVMEDIA_TYPE_VIDEO;
    v->codec_id = AV_CODEC_ID_H264;
    tracks[0].par = v;
    CHECK_EQ_INT(hub_start(h2, tracks, 1), -EPERM);
    avcodec_parameters_free(&v);
    CHECK_STREQ(hub_refusal(h2), "vetoed: 1 tracks");
    CHECK(!hub_started(h2));
    CHECK_EQ_INT(sinks[0].starts, 1);
    CHECK_EQ_INT(sinks[1].starts, 1);
    hub_end(h2); /* never started: sinks are destroyed without end */
    CHECK_EQ_INT(sinks[0].ends, 1);
    CHECK_EQ_INT(sinks[0].destroys, 2);
    CHECK_EQ_INT(sinks[1].destroys, 2);
    hub_unrefp(&h2);
    hub_unrefp(&h);
    CHECK(h == NULL);
    hub_registry_destroy(&reg);
    return test_report("test_hub");
}
