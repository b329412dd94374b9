/* Timestamp rebasing (core/rebase.h, issue 11 item 5): a publisher whose timestamps jump +3 h,
 * jump back 3 h, or wrap at 2^31 ms gives its sinks one continuous timeline with one
 * discontinuity flag, audio and video rebased together; RTMP's own 2^32 wrap, a gap in one track
 * and small steps back are not jumps. Also through a real hub: the sinks get the flag and the
 * rebased copy, the source's packet is left alone. */
#include <stdint.h>
#include <stdio.h>

#include "core/hub.h"
#include "core/rebase.h"
#include "test.h"

#define H3 (3LL * 3600 * 1000) /* three hours in ms */

/* A publisher of 30 fps video (track 0) and 43 audio frames/s (track 1, 23 ms) in ms, as RTMP
 * hands them to the hub: interleaved in time order. raw(t) maps the media time t (ms) to the
 * timestamp the publisher sends. */
struct run {
    struct rebase rb;
    int discs;
    int64_t first_disc_at; /* media time of the first discontinuity, -1: none */
    int64_t last_out[2];   /* last output dts per track */
    int64_t max_step[2];   /* largest output dts step per track */
    int64_t min_step[2];   /* smallest */
    int64_t av_skew_max;   /* |video out - audio out - (video t - audio t)| over the run */
    int64_t out_at_t[2];   /* output minus media time of each track's last packet */
};

static void run_init(struct run *r)
{
    AVRational tbs[2] = {{1, 1000}, {1, 1000}};
    rebase_init(&r->rb, tbs, 2);
    *r = (struct run){.rb = r->rb, .first_disc_at = -1};
    for (int i = 0; i < 2; i++) {
        r->last_out[i] = INT64_MIN;
        r->min_step[i] = INT64_MAX;
    }
}

static void feed(struct run *r, int track, int64_t t, int64_t raw)
{
    AVPacket *p = av_packet_alloc();
    p->stream_index = track;
    p->dts = raw;
    p->pts = raw + (track == 0 ? 66 : 0); /* B-frames: pts - dts must survive */
    struct rebase_jump j;
    if (rebase_packet(&r->rb, p, &j)) {
        r->discs++;
        if (r->first_disc_at < 0)
            r->first_disc_at = t;
    }
    CHECK_EQ_INT(p->pts - p->dts, track == 0 ? 66 : 0);
    if (r->last_out[track] != INT64_MIN) {
        int64_t step = p->dts - r->last_out[track];
        if (step > r->max_step[track])
            r->max_step[track] = step;
        if (step < r->min_step[track])
            r->min_step[track] = step;
    }
    r->last_out[track] = p->dts;
    r->out_at_t[track] = p->dts - t;
    av_packet_free(&p);
}

/* Media time 0 .. ms, each packet's timestamp from raw(). */
static void publish(struct run *r, int64_t ms, int64_t (*raw)(int track, int64_t t))
{
    int64_t tv = 0, ta = 0;
    while (tv < ms || ta < ms) {
        if (tv <= ta) {
            feed(r, 0, tv, raw(0, tv));
            tv += 33;
        } else {
            feed(r, 1, ta, raw(1, ta));
            ta += 23;
        }
        /* Where both tracks are on the same epoch, output minus media time is the same. */
        int64_t skew = r->out_at_t[0] - r->out_at_t[1];
        if (skew < 0)
            skew = -skew;
        if (skew > r->av_skew_max && r->last_out[0] != INT64_MIN && r->last_out[1] != INT64_MIN)
            r->av_skew_max = skew;
    }
}

/* RTMP's timestamps are 32-bit ms; ingest (stream_extend_ts) extends them by taking each step
 * as a signed 32-bit delta. The same here, so that a 2^31 and a 2^32 wrap reach the rebaser as
 * the server's ingest would hand them over. */
static int64_t extend(uint32_t ts)
{
    static bool init;
    static uint32_t last32;
    static int64_t last64;
    if (!init) {
        init = true;
        last64 = ts;
    } else {
        last64 += (int32_t)(ts - last32);
    }
    last32 = ts;
    return last64;
}

static int64_t raw_plain(int track, int64_t t)
{
    (void)track;
    return 1000 + t;
}
/* +3 h at 10 s; the audio follows 3 frames (69 ms) after the video. */
static int64_t raw_forward(int track, int64_t t)
{
    return t >= (track == 0 ? 10000 : 10069) ? t + H3 : t;
}
/* Starts 3 h in, jumps back to 0 at 10 s (the video first). */
static int64_t raw_back(int track, int64_t t)
{
    return t >= (track == 0 ? 10000 : 10069) ? t - 10000 : H3 + t;
}
/* A 31-bit counter: starts 5 s before 2^31 and wraps to 0. */
static int64_t raw_wrap31(int track, int64_t t)
{
    (void)track;
    return extend((uint32_t)((((int64_t)1 << 31) - 5000 + t) & 0x7FFFFFFF));
}
/* RTMP's own wrap: 5 s before 2^32. */
static int64_t raw_wrap32(int track, int64_t t)
{
    (void)track;
    return extend((uint32_t)((((int64_t)1 << 32) - 5000 + t) & 0xFFFFFFFF));
}
/* The video alone jumps +3 h at 10 s (a broken encoder); the audio goes on. */
static int64_t raw_video_only(int track, int64_t t)
{
    return track == 0 && t >= 10000 ? t + H3 : t;
}
/* The encoder drops 7 s of video frames (congestion) while the audio goes on: a gap, no jump. */
static int64_t raw_video_gap(int track, int64_t t)
{
    return track == 0 && t >= 10000 && t < 17000 ? -1 : t;
}
/* Both tracks step back 1 s at 10 s: not a jump (the sinks drop what does not increase). */
static int64_t raw_small_back(int track, int64_t t)
{
    return t >= (track == 0 ? 10000 : 10069) ? t - 1000 : t;
}

/* A continuous timeline: one discontinuity at the jump, no step longer than a frame or two or
 * backwards, audio and video rebased by the same amount. */
static void check_continuous(const struct run *r, int64_t disc_at)
{
    CHECK_EQ_INT(r->discs, 1);
    CHECK(r->first_disc_at >= disc_at && r->first_disc_at < disc_at + 100);
    CHECK(r->max_step[0] <= 100 && r->min_step[0] > 0);
    CHECK(r->max_step[1] <= 100 && r->min_step[1] > 0);
    CHECK_EQ_INT(r->av_skew_max, 0); /* both tracks rebased by the same amount */
}

static void test_cases(void)
{
    struct run r;
    run_init(&r);
    publish(&r, 30000, raw_plain);
    CHECK_EQ_INT(r.discs, 0);
    CHECK_EQ_INT(r.out_at_t[0], 1000); /* unchanged: the offset starts at 0 */
    CHECK_EQ_INT(r.max_step[0], 33);
    CHECK_EQ_INT(r.av_skew_max, 0);

    run_init(&r);
    publish(&r, 30000, raw_forward);
    check_continuous(&r, 10000);
    CHECK(r.out_at_t[0] < 200); /* not three hours on */
    CHECK_EQ_INT(r.rb.jumps, 1);

    run_init(&r);
    publish(&r, 30000, raw_back);
    check_continuous(&r, 10000);
    CHECK(r.out_at_t[0] > H3 - 100 && r.out_at_t[0] < H3 + 200); /* goes on from 3 h */

    run_init(&r);
    publish(&r, 30000, raw_wrap31);
    check_continuous(&r, 5000);

    run_init(&r);
    publish(&r, 30000, raw_wrap32);
    CHECK_EQ_INT(r.discs, 0); /* ingest unwraps it: nothing to rebase */
    CHECK_EQ_INT(r.max_step[0], 33);

    run_init(&r);
    publish(&r, 30000, raw_video_only);
    CHECK_EQ_INT(r.discs, 1);
    CHECK(r.max_step[0] <= 100 && r.min_step[0] > 0);
    CHECK(r.av_skew_max <= 33); /* the video put back next to the audio (within a frame) */
}

static void test_not_jumps(void)
{
    struct run r;
    run_init(&r);
    AVRational tbs[2] = {{1, 1000}, {1, 1000}};
    rebase_init(&r.rb, tbs, 2);
    for (int64_t t = 0; t < 30000; t += 23) { /* audio every 23 ms, video where it is sent */
        feed(&r, 1, t, t);
        int64_t v = raw_video_gap(0, t - t % 33);
        if (t % 33 < 23 && v >= 0)
            feed(&r, 0, t - t % 33, v);
    }
    CHECK_EQ_INT(r.discs, 0);
    CHECK(r.max_step[0] >= 7000); /* the gap is kept: A/V stay in sync */
    CHECK_EQ_INT(r.av_skew_max, 0);

    run_init(&r);
    publish(&r, 30000, raw_small_back);
    CHECK_EQ_INT(r.discs, 0);
    CHECK(r.min_step[0] < 0); /* left to the sinks, which drop what does not increase */
}

/* Other time bases: 90 kHz video and 48 kHz audio (WHIP, later) jump together. */
static void test_time_bases(void)
{
    struct rebase rb;
    AVRational tbs[2] = {{1, 90000}, {1, 48000}};
    rebase_init(&rb, tbs, 2);
    int discs = 0;
    int64_t last_v = INT64_MIN, last_a = INT64_MIN, maxv = 0, maxa = 0;
    for (int i = 0; i < 900; i++) {
        int64_t jump = i >= 300 ? 1000000 : 0; /* +1000 s at 10 s */
        AVPacket *p = av_packet_alloc();
        p->stream_index = 0;
        p->dts = p->pts = (int64_t)i * 3000 + jump * 90;
        discs += rebase_packet(&rb, p, NULL);
        if (last_v != INT64_MIN && p->dts - last_v > maxv)
            maxv = p->dts - last_v;
        last_v = p->dts;
        p->stream_index = 1;
        p->dts = p->pts = (int64_t)i * 1600 + (i >= 301 ? jump * 48 : 0);
        discs += rebase_packet(&rb, p, NULL);
        if (last_a != INT64_MIN && p->dts - last_a > maxa)
            maxa = p->dts - last_a;
        last_a = p->dts;
        av_packet_free(&p);
    }
    CHECK_EQ_INT(discs, 1);
    CHECK(maxv <= 2 * 3000);
    CHECK(maxa <= 2 * 1600);
}

/* ---- through a hub ---- */

struct seen {
    int packets, discs;
    int64_t last_dts, max_step;
};

static int s_start(void *o, struct hub *hub, const struct hub_track *t, int n)
{
    (void)o, (void)hub, (void)t, (void)n;
    return 0;
}
static void s_packet(void *o, const struct hub_packet *p)
{
    struct seen *s = o;
    if (p->pkt->stream_index != 0)
        return;
    if (s->packets++ > 0 && p->pkt->dts - s->last_dts > s->max_step)
        s->max_step = p->pkt->dts - s->last_dts;
    s->last_dts = p->pkt->dts;
    s->discs += p->discontinuity;
}
static void s_end(void *o)
{
    (void)o;
}
static void s_destroy(void *o)
{
    (void)o;
}
static const struct hub_sink_ops s_ops = {
    .name = "seen", .start = s_start, .packet = s_packet, .end = s_end, .destroy = s_destroy};

static void observe(void *opaque, struct hub *hub)
{
    hub_add_sink(hub, &s_ops, opaque);
}

static void test_hub(void)
{
    struct hub_registry *reg = hub_registry_create();
    struct seen s = {0};
    hub_registry_observe(reg, observe, &s);
    struct hub *h;
    CHECK_EQ_INT(hub_registry_claim(reg, "jumpy", &h), 0);
    AVCodecParameters *v = avcodec_parameters_alloc();
    v->codec_type = AVMEDIA_TYPE_VIDEO;
    v->codec_id = AV_CODEC_ID_H264;
    struct hub_track tracks[1] = {{v, {1, 1000}, {30, 1}}};
    CHECK_EQ_INT(hub_start(h, tracks, 1), 0);
    AVPacket *p = av_packet_alloc();
    for (int i = 0; i < 600; i++) {
        int64_t ts = (int64_t)i * 33 + (i >= 300 ? H3 : 0);
        p->dts = p->pts = ts;
        p->stream_index = 0;
        struct hub_packet hp = {p, 0, false};
        hub_push(h, &hp);
        CHECK_EQ_INT(p->dts, ts); /* the source's packet is not touched */
    }
    CHECK_EQ_INT(s.packets, 600);
    CHECK_EQ_INT(s.discs, 1);
    CHECK(s.max_step <= 33);
    CHECK_EQ_INT(hub_timestamp_jumps(h), 1);
    av_packet_free(&p);
    avcodec_parameters_free(&v);
    hub_end(h);
    hub_unref(h);
    hub_registry_destroy(&reg);
}

int main(void)
{
    test_cases();
    test_not_jumps();
    test_time_bases();
    test_hub();
    return test_report("test_rebase");
}
