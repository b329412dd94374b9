/* The sink front-end alone (media/sink_front.h), with a fake sink that logs its callbacks: track
 * pick, the start at the first video keyframe, the shift, packets held until their track's next
 * one and released in order with their durations, the flush (main track first), a track that
 * never starts, drops, the jump mark, reconfigure, keep_timestamps, and teardown with packets
 * held (ASan reports a leak or a double free). */
#include <errno.h>

#include "media/sink_front.h"
#include "test.h"

#define MAX_EV 64

struct ev {
    char kind; /* 'b' begin, 't' take, 'r' release, 'd' drop */
    int track;
    int64_t dts, pts, dur;
    bool disc, key, no_ts;
};

struct fake {
    struct sink_front *f;
    struct ev ev[MAX_EV];
    int nev;
    int picks;          /* calls of pick */
    bool pick_mp3;      /* take an MP3 track as the audio */
    bool pick_vp8;      /* take a VP8 track as the video */
    int vp8_offers;     /* VP8 tracks offered to pick */
    int64_t lead;       /* take adds this to dts (the packager's feed mode does) */
    int64_t begin_wall; /* wall_us given to begin */
};

static void log_ev(struct fake *s, struct ev e)
{
    if (s->nev < MAX_EV)
        s->ev[s->nev++] = e;
}

static bool on_pick(void *opaque, int i, const struct hub_track *ht, bool have_audio,
                    AVRational *tb, int64_t *default_dur)
{
    struct fake *s = opaque;
    (void)i;
    s->picks++;
    if (ht->par->codec_id == AV_CODEC_ID_VP8) {
        s->vp8_offers++;
        if (!s->pick_vp8)
            return false;
        *default_dur = 40; /* 25 fps in the track's 1/1000 */
        return true;
    }
    if (!s->pick_mp3 || have_audio || ht->par->codec_id != AV_CODEC_ID_MP3)
        return false;
    *tb = (AVRational){1, 44100};
    *default_dur = 1152;
    return true;
}

static void on_begin(void *opaque, int i, const AVPacket *in, int64_t wall_us)
{
    struct fake *s = opaque;
    s->begin_wall = wall_us;
    log_ev(s, (struct ev){.kind = 'b', .track = i, .dts = in->dts, .pts = in->pts});
}

static void on_drop(void *opaque, int i, const AVPacket *in, bool no_timestamp, int64_t dts)
{
    (void)in;
    log_ev(opaque, (struct ev){.kind = 'd', .track = i, .dts = dts, .no_ts = no_timestamp});
}

static void on_take(void *opaque, int i, AVPacket *p, bool disc, int64_t wall_us)
{
    struct fake *s = opaque;
    (void)wall_us;
    p->dts += s->lead;
    log_ev(s, (struct ev){.kind = 't',
                          .track = i,
                          .dts = p->dts,
                          .pts = p->pts,
                          .disc = disc,
                          .key = p->flags & AV_PKT_FLAG_KEY});
}

static void on_release(void *opaque, int i, AVPacket *p)
{
    log_ev(opaque, (struct ev){.kind = 'r',
                               .track = i,
                               .dts = p->dts,
                               .pts = p->pts,
                               .dur = p->duration,
                               .key = p->flags & AV_PKT_FLAG_KEY});
    av_packet_free(&p); /* the sink owns a released packet */
}

static const struct sink_front_ops ops = {
    .pick = on_pick,
    .begin = on_begin,
    .drop = on_drop,
    .take = on_take,
    .release = on_release,
};

/* ---- tracks and packets ---- */

static AVCodecParameters *par_new(enum AVMediaType type, enum AVCodecID id)
{
    AVCodecParameters *par = avcodec_parameters_alloc();
    par->codec_type = type;
    par->codec_id = id;
    if (id == AV_CODEC_ID_H264 || id == AV_CODEC_ID_AAC) { /* avcC / ASC: muxable as they are */
        par->extradata = av_mallocz(8 + AV_INPUT_BUFFER_PADDING_SIZE);
        par->extradata_size = 8;
    }
    if (type == AVMEDIA_TYPE_AUDIO)
        par->sample_rate = 48000;
    return par;
}

static struct hub_track track(AVCodecParameters *par, int fps)
{
    return (struct hub_track){.par = par, .time_base = {1, 1000}, .frame_rate = {fps, 1}};
}

/* Video (track 0, fps declared or 0) and AAC (track 1). */
struct av {
    AVCodecParameters *v, *a;
    struct hub_track t[2];
};

/* ... and a fake sink's front-end started on them. */
static void av_open(struct av *x, int fps, struct fake *s)
{
    x->v = par_new(AVMEDIA_TYPE_VIDEO, AV_CODEC_ID_H264);
    x->a = par_new(AVMEDIA_TYPE_AUDIO, AV_CODEC_ID_AAC);
    x->t[0] = track(x->v, fps);
    x->t[1] = track(x->a, 0);
    *s = (struct fake){0};
    s->f = sink_front_create(&ops, s, false);
    CHECK_EQ_INT(sink_front_start(s->f, x->t, 2), 2);
}

static void av_close(struct av *x)
{
    avcodec_parameters_free(&x->v);
    avcodec_parameters_free(&x->a);
}

/* Gives one packet (ms) of track i; returns sink_front_packet's answer. */
static bool give(struct fake *s, int i, int64_t dts, int64_t pts, bool key)
{
    AVPacket *p = av_packet_alloc();
    p->dts = dts;
    p->pts = pts;
    p->flags = key ? AV_PKT_FLAG_KEY : 0;
    p->stream_index = 99; /* not read: the track is the argument */
    int64_t wall = dts == AV_NOPTS_VALUE ? 0 : 1700000000000000LL + dts * 1000;
    bool r = sink_front_packet(s->f, i, p, wall);
    av_packet_free(&p);
    return r;
}

static int count(const struct fake *s, char kind)
{
    int n = 0;
    for (int i = 0; i < s->nev; i++)
        n += s->ev[i].kind == kind;
    return n;
}

/* The n-th event of kind (0-based); a zeroed one when there is none. */
static struct ev nth(const struct fake *s, char kind, int n)
{
    for (int i = 0; i < s->nev; i++)
        if (s->ev[i].kind == kind && n-- == 0)
            return s->ev[i];
    return (struct ev){0};
}

/* ---- tests ---- */

/* Audio at track 0, video at 1, an Opus track at 2 nobody takes: video is main. Nothing is taken
 * before the first video keyframe; then every track is shifted by its dts, each packet is held
 * until its track's next one, and released in order with the gap as duration; the flush releases
 * the main track's last packet first. */
static void test_start_hold_release(void)
{
    AVCodecParameters *a = par_new(AVMEDIA_TYPE_AUDIO, AV_CODEC_ID_AAC);
    AVCodecParameters *v = par_new(AVMEDIA_TYPE_VIDEO, AV_CODEC_ID_H264);
    AVCodecParameters *o = par_new(AVMEDIA_TYPE_AUDIO, AV_CODEC_ID_OPUS);
    struct hub_track t[3] = {track(a, 0), track(v, 25), track(o, 0)};
    struct fake s = {0};
    s.f = sink_front_create(&ops, &s, false);
    CHECK_EQ_INT(sink_front_main(s.f), -1);
    CHECK_EQ_INT(sink_front_start(s.f, t, 3), 2);
    CHECK_EQ_INT(s.picks, 1); /* only the track tl_track_muxable refused is offered */
    CHECK_EQ_INT(sink_front_main(s.f), 1);
    CHECK(sink_front_has_video(s.f));
    CHECK(sink_front_used(s.f, 0) && sink_front_used(s.f, 1) && !sink_front_used(s.f, 2));
    CHECK(!sink_front_used(s.f, 3) && !sink_front_used(s.f, -1));
    CHECK(sink_front_track(s.f, 1)->video && !sink_front_track(s.f, 0)->video);
    CHECK_EQ_INT(sink_front_track(s.f, 1)->default_dur, 40); /* 1/25 s in ms */

    /* before the start: audio, a video frame that is not a keyframe, an unused track */
    CHECK(!give(&s, 0, 990, 990, false));
    CHECK(!give(&s, 1, 960, 1000, false));
    CHECK(!give(&s, 2, 995, 995, true));
    CHECK(!sink_front_started(s.f));
    CHECK_EQ_INT(s.nev, 0);

    /* the first keyframe starts the stream: begin sees it unshifted */
    CHECK(give(&s, 1, 1000, 1080, true));
    CHECK(sink_front_started(s.f));
    CHECK_EQ_INT(count(&s, 'b'), 1);
    CHECK_EQ_INT(nth(&s, 'b', 0).track, 1);
    CHECK_EQ_INT(nth(&s, 'b', 0).dts, 1000);
    CHECK_EQ_INT(s.begin_wall, 1700000000000000LL + 1000 * 1000);
    CHECK_EQ_INT(nth(&s, 't', 0).dts, 0);
    CHECK_EQ_INT(nth(&s, 't', 0).pts, 80);
    CHECK_EQ_INT(count(&s, 'r'), 0); /* held: its duration is not known yet */

    /* audio from before the keyframe's dts is not taken (no drop told), later audio is */
    CHECK(give(&s, 0, 980, 980, false));
    CHECK_EQ_INT(count(&s, 't'), 1);
    CHECK_EQ_INT(count(&s, 'd'), 0);
    CHECK(give(&s, 0, 1010, 1010, false));
    CHECK(give(&s, 1, 1040, 1120, false));
    CHECK(give(&s, 0, 1031, 1031, false));
    CHECK(give(&s, 1, 1080, 1160, false));
    CHECK(give(&s, 0, 1052, 1052, false));
    /* the unused track stays ignored after the start */
    CHECK(!give(&s, 2, 1060, 1060, true));

    /* released: each track's packets in order, duration = the gap to its next */
    CHECK_EQ_INT(count(&s, 't'), 6);
    CHECK_EQ_INT(count(&s, 'r'), 4); /* one held per track */
    struct ev r0 = nth(&s, 'r', 0), r1 = nth(&s, 'r', 1), r2 = nth(&s, 'r', 2),
              r3 = nth(&s, 'r', 3);
    CHECK(r0.track == 1 && r0.dts == 0 && r0.dur == 40 && r0.key);
    CHECK(r1.track == 0 && r1.dts == 10 && r1.dur == 21);
    CHECK(r2.track == 1 && r2.dts == 40 && r2.dur == 40 && !r2.key);
    CHECK(r3.track == 0 && r3.dts == 31 && r3.dur == 21);

    /* the flush: the main track's held packet first, each with its track's last duration */
    sink_front_flush(s.f);
    CHECK_EQ_INT(count(&s, 'r'), 6);
    struct ev r4 = nth(&s, 'r', 4), r5 = nth(&s, 'r', 5);
    CHECK(r4.track == 1 && r4.dts == 80 && r4.dur == 40);
    CHECK(r5.track == 0 && r5.dts == 52 && r5.dur == 21);
    sink_front_flush(s.f); /* nothing held: nothing more */
    CHECK_EQ_INT(count(&s, 'r'), 6);

    sink_front_destroy(&s.f);
    CHECK(s.f == NULL);
    sink_front_destroy(&s.f); /* NULL-safe */
    avcodec_parameters_free(&a);
    avcodec_parameters_free(&v);
    avcodec_parameters_free(&o);
}

/* A video track that never sends a keyframe: the stream never starts, nothing is taken or held,
 * the flush releases nothing. A track that never sends anything (the audio here, once the video
 * started) holds nobody back: the video's packets are released as they come. */
static void test_track_never_starts(void)
{
    struct av x;
    struct fake s;
    av_open(&x, 0, &s);
    CHECK_EQ_INT(sink_front_track(s.f, 0)->default_dur, 33); /* no frame rate: 30 fps */
    for (int i = 0; i < 10; i++) {
        CHECK(!give(&s, 0, i * 33, i * 33, false));
        CHECK(!give(&s, 1, i * 21, i * 21, false));
    }
    sink_front_flush(s.f);
    CHECK(!sink_front_started(s.f));
    CHECK_EQ_INT(s.nev, 0);

    CHECK(give(&s, 0, 330, 330, true)); /* now it starts; the audio stays silent */
    for (int i = 1; i <= 5; i++)
        CHECK(give(&s, 0, 330 + i * 33, 330 + i * 33, false));
    CHECK_EQ_INT(count(&s, 'r'), 5);
    CHECK_EQ_INT(nth(&s, 'r', 4).dts, 4 * 33);
    sink_front_destroy(&s.f);
    av_close(&x);
}

/* Packets held at teardown are freed, not released (ASan: no leak). */
static void test_teardown_with_held(void)
{
    struct av x;
    struct fake s;
    av_open(&x, 30, &s);
    CHECK(give(&s, 0, 0, 0, true));
    CHECK(give(&s, 1, 5, 5, false));
    CHECK(give(&s, 0, 33, 33, false));
    CHECK_EQ_INT(count(&s, 'r'), 1);
    sink_front_destroy(&s.f); /* two packets held */
    CHECK_EQ_INT(count(&s, 'r'), 1);

    /* never started: nothing held, nothing to free */
    s.f = sink_front_create(&ops, &s, false);
    sink_front_destroy(&s.f);
    av_close(&x);
}

/* Drops are told after the start; the jump marks the next main-track keyframe only, once. */
static void test_drop_and_jump(void)
{
    struct av x;
    struct fake s;
    av_open(&x, 25, &s);
    CHECK(give(&s, 0, 100, 100, true));
    CHECK(give(&s, 0, 140, 140, false));
    CHECK(give(&s, 0, 140, 140, false)); /* dts does not increase */
    CHECK(give(&s, 0, AV_NOPTS_VALUE, AV_NOPTS_VALUE, false));
    CHECK_EQ_INT(count(&s, 'd'), 2);
    CHECK(!nth(&s, 'd', 0).no_ts && nth(&s, 'd', 0).dts == 40);
    CHECK(nth(&s, 'd', 1).no_ts);
    CHECK_EQ_INT(count(&s, 't'), 2);

    sink_front_jump(s.f);
    CHECK(give(&s, 1, 150, 150, false)); /* not the main track */
    CHECK(give(&s, 0, 180, 180, false)); /* not a keyframe */
    CHECK(give(&s, 0, 220, 220, true));  /* marked */
    CHECK(give(&s, 0, 260, 260, true));  /* once */
    int marked = 0;
    for (int i = 0; i < s.nev; i++)
        if (s.ev[i].kind == 't' && s.ev[i].disc) {
            marked++;
            CHECK(s.ev[i].track == 0 && s.ev[i].dts == 120 && s.ev[i].key);
        }
    CHECK_EQ_INT(marked, 1);
    sink_front_destroy(&s.f);
    av_close(&x);
}

/* Reconfigure: the video's one-frame duration follows a new declared frame rate; a different
 * track count changes nothing. */
static void test_reconfigure(void)
{
    struct av x;
    struct fake s;
    av_open(&x, 25, &s);
    CHECK(give(&s, 0, 0, 0, true));
    CHECK_EQ_INT(sink_front_reconfigure(s.f, x.t, 1), -EINVAL);
    CHECK_EQ_INT(sink_front_track(s.f, 0)->default_dur, 40);
    struct hub_track t2[2] = {track(x.v, 50), track(x.a, 0)};
    sink_front_flush(s.f);
    CHECK_EQ_INT(sink_front_reconfigure(s.f, t2, 2), 0);
    CHECK_EQ_INT(sink_front_track(s.f, 0)->default_dur, 20);
    CHECK_EQ_INT(sink_front_track(s.f, 1)->default_dur, 21); /* audio: unchanged */
    /* the flushed keyframe had no duration known: one frame at the old rate */
    CHECK_EQ_INT(nth(&s, 'r', 0).dur, 40);
    /* the timeline goes on after the reconfiguration */
    CHECK(give(&s, 0, 40, 40, true));
    CHECK(give(&s, 0, 60, 60, false));
    CHECK_EQ_INT(nth(&s, 'r', 1).dts, 40);
    CHECK_EQ_INT(nth(&s, 'r', 1).dur, 20);
    sink_front_destroy(&s.f);
    av_close(&x);
}

/* Audio-only, with the sink's pick taking MP3; keep_timestamps: no shift; the take may move dts
 * (durations follow the moved dts). The jump marks the next audio packet. */
static void test_audio_only_pick_keep(void)
{
    AVCodecParameters *m = par_new(AVMEDIA_TYPE_AUDIO, AV_CODEC_ID_MP3);
    struct hub_track t[1] = {track(m, 0)};
    struct fake s = {.pick_mp3 = true, .lead = -5};
    s.f = sink_front_create(&ops, &s, true);
    CHECK_EQ_INT(sink_front_start(s.f, t, 1), 1);
    CHECK_EQ_INT(sink_front_main(s.f), 0);
    CHECK(!sink_front_has_video(s.f));
    CHECK_EQ_INT(sink_front_track(s.f, 0)->tb.den, 44100); /* the pick's time base */
    CHECK(give(&s, 0, 5000, 5000, false));                 /* audio-only: any packet starts */
    CHECK(sink_front_started(s.f));
    sink_front_jump(s.f);
    CHECK(give(&s, 0, 6152, 6152, false));
    CHECK_EQ_INT(nth(&s, 't', 0).dts, 4995); /* not shifted; moved by take */
    CHECK(!nth(&s, 't', 0).disc);
    CHECK(nth(&s, 't', 1).disc);
    CHECK_EQ_INT(nth(&s, 'r', 0).dur, 1152);
    sink_front_flush(s.f);
    CHECK_EQ_INT(nth(&s, 'r', 1).dur, 1152);
    sink_front_destroy(&s.f);
    avcodec_parameters_free(&m);

    /* the pick declines: nothing to mux */
    AVCodecParameters *o = par_new(AVMEDIA_TYPE_AUDIO, AV_CODEC_ID_OPUS);
    struct hub_track t2[1] = {track(o, 0)};
    struct fake s2 = {.pick_mp3 = true};
    s2.f = sink_front_create(&ops, &s2, false);
    CHECK_EQ_INT(sink_front_start(s2.f, t2, 1), 0);
    CHECK_EQ_INT(sink_front_main(s2.f), -1);
    CHECK(!give(&s2, 0, 0, 0, true));
    sink_front_flush(s2.f);
    sink_front_destroy(&s2.f);
    avcodec_parameters_free(&o);
}

/* WHIP's VP8: offered to the sink's pick as video (only the first video track), which makes it
 * the main track: the stream starts at its first keyframe; declined, the stream is audio-only. */
static void test_video_pick(void)
{
    AVCodecParameters *v = par_new(AVMEDIA_TYPE_VIDEO, AV_CODEC_ID_VP8);
    AVCodecParameters *v2 = par_new(AVMEDIA_TYPE_VIDEO, AV_CODEC_ID_VP8);
    AVCodecParameters *a = par_new(AVMEDIA_TYPE_AUDIO, AV_CODEC_ID_AAC);
    struct hub_track t[3] = {track(a, 0), track(v, 25), track(v2, 25)};
    struct fake s = {.pick_vp8 = true};
    s.f = sink_front_create(&ops, &s, false);
    CHECK_EQ_INT(sink_front_start(s.f, t, 3), 2);
    CHECK_EQ_INT(s.vp8_offers, 1); /* the second video track is not offered */
    CHECK_EQ_INT(sink_front_main(s.f), 1);
    CHECK(sink_front_has_video(s.f) && sink_front_track(s.f, 1)->video);
    CHECK(!sink_front_used(s.f, 2));
    CHECK(!give(&s, 0, 100, 100, false)); /* audio before the video keyframe: not started */
    CHECK(!give(&s, 1, 120, 120, false));
    CHECK(give(&s, 1, 160, 160, true));
    CHECK_EQ_INT(nth(&s, 'b', 0).track, 1);
    sink_front_flush(s.f);
    CHECK_EQ_INT(nth(&s, 'r', 0).dur, 40); /* the pick's one frame */
    sink_front_destroy(&s.f);

    struct fake s2 = {0};
    s2.f = sink_front_create(&ops, &s2, false);
    CHECK_EQ_INT(sink_front_start(s2.f, t, 2), 1);
    CHECK_EQ_INT(sink_front_main(s2.f), 0);
    CHECK(!sink_front_has_video(s2.f));
    sink_front_destroy(&s2.f);
    avcodec_parameters_free(&v);
    avcodec_parameters_free(&v2);
    avcodec_parameters_free(&a);
}

int main(void)
{
    test_start_hold_release();
    test_track_never_starts();
    test_teardown_with_held();
    test_drop_and_jump();
    test_reconfigure();
    test_audio_only_pick_keep();
    test_video_pick();
    return test_report("test_sink_front");
}
