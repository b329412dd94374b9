/* The session without sockets: a scripted client (handshake, connect, createStream, publish,
 * metadata, H.264 + AAC) against a hub registry whose observer attaches a recording sink. The
 * server's replies are read back with the chunk reader and AMF0 decoder. */
#include <errno.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/log.h"
#include "ingest/rtmp/amf0.h"
#include "ingest/rtmp/chunk.h"
#include "ingest/rtmp/session.h"
#include "ingest/rtmp/stream.h"
#include "test.h"

/* ---- the recording sink ---- */

#define MAX_PKTS 512

struct rec {
    int starts, ends, ntracks;
    int width, height, sample_rate, channels, pix_fmt;
    AVRational tb;
    int npkts;
    struct {
        int index;
        int64_t pts, dts;
        bool key;
        int size;
    } pkts[MAX_PKTS];
};

static int rec_start(void *o, struct hub *h, const struct hub_track *t, int n)
{
    struct rec *r = o;
    r->starts++;
    r->ntracks = n;
    r->tb = t[0].time_base;
    for (int i = 0; i < n; i++) {
        if (t[i].par->codec_type == AVMEDIA_TYPE_VIDEO) {
            r->width = t[i].par->width;
            r->height = t[i].par->height;
            r->pix_fmt = t[i].par->format;
        } else {
            r->sample_rate = t[i].par->sample_rate;
            r->channels = t[i].par->ch_layout.nb_channels;
        }
    }
    return 0;
}

/* Refuses every stream while refuse is set, as the packager refuses a source browsers cannot
 * decode without a ladder. */
static bool refuse;

static int rec_accept(void *o, const struct hub_track *t, int n, char *why, size_t len)
{
    if (!refuse)
        return 0;
    snprintf(why, len, "refused by the test sink");
    return -EPERM;
}

static void rec_packet(void *o, const struct hub_packet *p)
{
    struct rec *r = o;
    if (r->npkts == MAX_PKTS)
        return;
    r->pkts[r->npkts].index = p->pkt->stream_index;
    r->pkts[r->npkts].pts = p->pkt->pts;
    r->pkts[r->npkts].dts = p->pkt->dts;
    r->pkts[r->npkts].key = p->pkt->flags & AV_PKT_FLAG_KEY;
    r->pkts[r->npkts].size = p->pkt->size;
    r->npkts++;
}

static void rec_end(void *o)
{
    ((struct rec *)o)->ends++;
}

static void rec_destroy(void *o) {}

static const struct hub_sink_ops rec_ops = {.name = "rec",
                                            .start = rec_start,
                                            .packet = rec_packet,
                                            .end = rec_end,
                                            .destroy = rec_destroy,
                                            .accept = rec_accept};
static struct rec recs[16];
static int nrecs;

static void observe(void *opaque, struct hub *hub)
{
    memset(&recs[nrecs], 0, sizeof(recs[nrecs]));
    hub_add_sink(hub, &rec_ops, &recs[nrecs++]);
}

/* ---- the scripted client ---- */

#define MAX_REPLIES 32

struct client {
    struct rtmp_session *s;
    struct chunk_reader *replies;
    struct buf in; /* what we send next */
    int nreplies;
    struct {
        uint8_t type;
        char name[32], code[64], desc[200];
        double num;     /* _result's 4th value when a number */
        uint32_t value; /* protocol control / user control value */
    } r[MAX_REPLIES];
    bool handshake_read;
};

static int on_reply(void *opaque, const struct rtmp_msg *m)
{
    struct client *c = opaque;
    if (c->nreplies == MAX_REPLIES)
        return 0;
    typeof(c->r[0]) *r = &c->r[c->nreplies++];
    memset(r, 0, sizeof(*r));
    r->type = m->type;
    if (m->type != RTMP_MSG_COMMAND_AMF0) {
        size_t off = m->type == RTMP_MSG_USER_CONTROL ? 2 : 0;
        for (size_t i = off; i < off + 4 && i < m->len; i++)
            r->value = r->value << 8 | m->data[i];
        return 0;
    }
    struct amf0_value v[4];
    size_t pos = 0;
    int n = 0;
    while (n < 4 && amf0_decode(m->data, m->len, &pos, &v[n]) == 0)
        n++;
    if (n > 0 && v[0].str)
        snprintf(r->name, sizeof(r->name), "%s", v[0].str);
    if (n > 3 && amf0_get_str(&v[3], "code"))
        snprintf(r->code, sizeof(r->code), "%s", amf0_get_str(&v[3], "code"));
    if (n > 3 && amf0_get_str(&v[3], "description"))
        snprintf(r->desc, sizeof(r->desc), "%s", amf0_get_str(&v[3], "description"));
    if (n > 3 && v[3].type == AMF0_NUMBER)
        r->num = v[3].num;
    for (int i = 0; i < n; i++)
        amf0_value_clear(&v[i]);
    return 0;
}

static struct hub_registry *reg;

static void client_init(struct client *c, bool open_publish)
{
    memset(c, 0, sizeof(*c));
    struct rtmp_session_config cfg = {.open_publish = open_publish, .hubs = reg, .peer = "test:1"};
    c->s = rtmp_session_create(&cfg);
    c->replies = chunk_reader_create(on_reply, c);
    buf_init(&c->in);
}

static void client_free(struct client *c, const char *reason)
{
    rtmp_session_destroy(&c->s, reason);
    chunk_reader_destroy(&c->replies);
    buf_free(&c->in);
}

/* Sends what is in c->in; reads replies. Returns the session's verdict. */
static int client_flush(struct client *c)
{
    int err = rtmp_session_feed(c->s, buf_head(&c->in), buf_size(&c->in));
    buf_clear(&c->in);
    struct buf *out = rtmp_session_output(c->s);
    if (!c->handshake_read && buf_size(out) >= 1 + 2 * 1536) {
        buf_consume(out, 1 + 2 * 1536);
        c->handshake_read = true;
    }
    if (c->handshake_read) {
        CHECK_EQ_INT(chunk_reader_feed(c->replies, buf_head(out), buf_size(out)), 0);
        buf_clear(out);
    }
    return err;
}

static void handshake(struct client *c)
{
    uint8_t hs[1 + 1536 + 1536] = {3};
    buf_append(&c->in, hs, sizeof(hs));
    CHECK_EQ_INT(client_flush(c), 0);
    CHECK(c->handshake_read);
}

static void send_msg(struct client *c, uint32_t csid, uint8_t type, uint32_t sid, uint32_t ts,
                     const struct buf *body)
{
    struct rtmp_msg m = {csid, type, sid, ts, buf_head(body), buf_size(body)};
    chunk_write(&c->in, 128, &m);
}

static void command(struct client *c, const char *name, double txn, const char *arg, uint32_t sid)
{
    struct buf b;
    buf_init(&b);
    amf0_put_string(&b, name);
    amf0_put_number(&b, txn);
    if (strcmp(name, "connect") == 0) {
        amf0_put_object_begin(&b);
        amf0_put_key(&b, "app");
        amf0_put_string(&b, arg);
        amf0_put_key(&b, "tcUrl");
        amf0_put_string(&b, "rtmp://127.0.0.1/live");
        amf0_put_object_end(&b);
    } else {
        amf0_put_null(&b);
        if (arg)
            amf0_put_string(&b, arg);
        if (strcmp(name, "publish") == 0)
            amf0_put_string(&b, "live");
    }
    send_msg(c, 3, RTMP_MSG_COMMAND_AMF0, sid, 0, &b);
    buf_free(&b);
}

static const char *last_code(const struct client *c)
{
    for (int i = c->nreplies - 1; i >= 0; i--)
        if (c->r[i].code[0])
            return c->r[i].code;
    return "";
}

static bool has_reply(const struct client *c, const char *name)
{
    for (int i = 0; i < c->nreplies; i++)
        if (strcmp(c->r[i].name, name) == 0)
            return true;
    return false;
}

/* connect, releaseStream, FCPublish, createStream, publish(key). Returns publish's verdict. */
static int publish(struct client *c, const char *key)
{
    handshake(c);
    command(c, "connect", 1, "live", 0);
    CHECK_EQ_INT(client_flush(c), 0);
    CHECK_STREQ(last_code(c), "NetConnection.Connect.Success");
    command(c, "releaseStream", 2, key, 0);
    command(c, "FCPublish", 3, key, 0);
    command(c, "createStream", 4, NULL, 0);
    CHECK_EQ_INT(client_flush(c), 0);
    CHECK(has_reply(c, "onFCPublish"));
    CHECK(c->nreplies > 0 && c->r[c->nreplies - 1].num == 1); /* createStream -> stream 1 */
    command(c, "publish", 0, key, 1);
    return client_flush(c);
}

/* ---- media ---- */

static const char *avcc_720p = "0164001fffe1001a6764001facd9405005bb011000000300100000030320f18319"
                               "6001000668ebe3cb22c0fdf8f800";

static void send_video_config(struct client *c, uint32_t ts)
{
    struct buf b;
    buf_init(&b);
    buf_append(&b, (uint8_t[]){0x17, 0, 0, 0, 0}, 5);
    for (const char *h = avcc_720p; h[0] && h[1]; h += 2) {
        uint8_t v = (uint8_t)strtoul((char[]){h[0], h[1], 0}, NULL, 16);
        buf_append(&b, &v, 1);
    }
    send_msg(c, 6, RTMP_MSG_VIDEO, 1, ts, &b);
    buf_free(&b);
}

static void send_video(struct client *c, uint32_t ts, bool key, int cts)
{
    uint8_t body[] = {key ? 0x17 : 0x27,
                      1,
                      (uint8_t)(cts >> 16),
                      (uint8_t)(cts >> 8),
                      (uint8_t)cts,
                      0,
                      0,
                      0,
                      5,
                      key ? 0x65 : 0x41,
                      1,
                      2,
                      3,
                      4};
    struct buf b;
    buf_init(&b);
    buf_append(&b, body, sizeof(body));
    send_msg(c, 6, RTMP_MSG_VIDEO, 1, ts, &b);
    buf_free(&b);
}

static void send_audio_config(struct client *c)
{
    struct buf b;
    buf_init(&b);
    buf_append(&b, (uint8_t[]){0xAF, 0, 0x11, 0x90}, 4); /* AAC-LC 48000 Hz stereo */
    send_msg(c, 4, RTMP_MSG_AUDIO, 1, 0, &b);
    buf_free(&b);
}

static void send_audio(struct client *c, uint32_t ts)
{
    struct buf b;
    buf_init(&b);
    buf_append(&b, (uint8_t[]){0xAF, 1, 0x21, 0x10, 0x04, 0x60, 0x8C, 0x1C}, 8);
    send_msg(c, 4, RTMP_MSG_AUDIO, 1, ts, &b);
    buf_free(&b);
}

static void send_metadata_av(struct client *c, bool video, bool audio)
{
    struct buf b;
    buf_init(&b);
    amf0_put_string(&b, "@setDataFrame");
    amf0_put_string(&b, "onMetaData");
    amf0_put_ecma_array_begin(&b, 4);
    if (video) {
        amf0_put_key(&b, "width");
        amf0_put_number(&b, 1280);
        amf0_put_key(&b, "height");
        amf0_put_number(&b, 720);
        amf0_put_key(&b, "framerate");
        amf0_put_number(&b, 30);
        amf0_put_key(&b, "videocodecid");
        amf0_put_number(&b, 7);
    }
    if (audio) {
        amf0_put_key(&b, "audiocodecid");
        amf0_put_number(&b, 10);
    }
    amf0_put_object_end(&b);
    send_msg(c, 4, RTMP_MSG_DATA_AMF0, 1, 0, &b);
    buf_free(&b);
}

static void send_metadata(struct client *c, bool audio)
{
    send_metadata_av(c, true, audio);
}

/* ---- tests ---- */

static void test_publish_av(void)
{
    struct client c;
    client_init(&c, true);
    CHECK_EQ_INT(publish(&c, "cam1"), 0);
    CHECK_STREQ(last_code(&c), "NetStream.Publish.Start");
    CHECK(rtmp_session_publishing(c.s));
    struct rec *r = &recs[nrecs - 1];
    send_metadata(&c, true);
    send_video_config(&c, 1000);
    send_video(&c, 1000, true, 66); /* before the audio config: queued */
    CHECK_EQ_INT(client_flush(&c), 0);
    CHECK_EQ_INT(r->starts, 0);
    send_audio_config(&c);
    CHECK_EQ_INT(client_flush(&c), 0);
    CHECK_EQ_INT(r->starts, 1);
    CHECK_EQ_INT(r->ntracks, 2);
    CHECK_EQ_INT(r->width, 1280);
    CHECK_EQ_INT(r->height, 720);
    CHECK_EQ_INT(r->pix_fmt, AV_PIX_FMT_YUV420P); /* from the SPS: High, 4:2:0 8-bit */
    CHECK_EQ_INT(r->sample_rate, 48000);
    CHECK_EQ_INT(r->channels, 2);
    CHECK(r->tb.num == 1 && r->tb.den == 1000);
    send_audio(&c, 1010);
    send_video(&c, 1033, false, 33);
    send_audio(&c, 1031);
    CHECK_EQ_INT(client_flush(&c), 0);
    CHECK_EQ_INT(r->npkts, 4);
    if (r->npkts == 4) {
        CHECK(r->pkts[0].index == 0 && r->pkts[0].key && r->pkts[0].dts == 0);
        CHECK_EQ_INT(r->pkts[0].pts, 66);
        CHECK(r->pkts[1].index == 1 && r->pkts[1].dts == 10 && !r->pkts[1].key);
        CHECK(r->pkts[2].index == 0 && r->pkts[2].dts == 33 && r->pkts[2].pts == 66);
        CHECK(!r->pkts[2].key);
        CHECK_EQ_INT(r->pkts[3].dts, 31);
    }

    /* A second publisher with the same key is refused; the first is not disturbed. */
    struct client c2;
    client_init(&c2, true);
    CHECK(publish(&c2, "cam1") < 0);
    CHECK_STREQ(last_code(&c2), "NetStream.Publish.BadName");
    CHECK(!rtmp_session_publishing(c2.s));
    client_free(&c2, "publisher disconnected");
    send_video(&c, 1066, false, 0);
    CHECK_EQ_INT(client_flush(&c), 0);
    CHECK_EQ_INT(r->npkts, 5);
    CHECK_EQ_INT(r->ends, 0);

    /* Ping request -> ping response with the same value. */
    buf_append(&c.in, (uint8_t[]){0x02, 0, 0, 0, 0, 0, 6, 4, 0, 0, 0, 0, 0, 6, 0, 0, 0x12, 0x34},
               18);
    CHECK_EQ_INT(client_flush(&c), 0);
    CHECK(c.r[c.nreplies - 1].type == RTMP_MSG_USER_CONTROL);
    CHECK_EQ_INT(c.r[c.nreplies - 1].value, 0x1234);

    /* FCUnpublish ends the stream; the name is free at once. */
    command(&c, "FCUnpublish", 5, "cam1", 0);
    CHECK_EQ_INT(client_flush(&c), 0);
    CHECK_EQ_INT(r->ends, 1);
    CHECK(!rtmp_session_publishing(c.s));
    struct client c3;
    client_init(&c3, true);
    CHECK_EQ_INT(publish(&c3, "cam1"), 0);
    /* Disconnect while publishing: the stream ends too. */
    client_free(&c3, "publisher disconnected");
    CHECK_EQ_INT(recs[nrecs - 1].ends, 0); /* never started: end is not called, destroy is */
    CHECK_EQ_INT(hub_registry_count(reg), 0);
    client_free(&c, "publisher disconnected");
}

/* Video only, no metadata: the hub starts after one second of video, from the first keyframe. */
static void test_video_only_and_wrap(void)
{
    struct client c;
    client_init(&c, true);
    CHECK_EQ_INT(publish(&c, "wrap"), 0);
    struct rec *r = &recs[nrecs - 1];
    uint32_t t0 = 0xFFFFFC00u;    /* wraps 1024 ms later */
    send_video(&c, t0, false, 0); /* before the config: dropped */
    send_video_config(&c, t0);
    send_video(&c, t0, false, 0); /* before any keyframe: dropped */
    for (uint32_t i = 0; i <= 40; i++)
        send_video(&c, t0 + 33 + i * 33, i % 30 == 0, 0);
    CHECK_EQ_INT(client_flush(&c), 0);
    CHECK_EQ_INT(r->starts, 1);
    CHECK_EQ_INT(r->ntracks, 1);
    CHECK(r->npkts >= 30);
    bool mono = true;
    for (int i = 1; i < r->npkts; i++)
        mono = mono && r->pkts[i].dts == r->pkts[i - 1].dts + 33;
    CHECK(mono); /* across the 32-bit wrap */
    CHECK(r->npkts > 0 && r->pkts[0].dts == 0 && r->pkts[0].key);
    CHECK(r->npkts > 0 && r->pkts[r->npkts - 1].dts == 40 * 33);
    client_free(&c, "idle timeout");
    CHECK_EQ_INT(r->ends, 1);
}

static void test_refusals(void)
{
    struct client c;
    /* Without --open-publish, every publish is refused. */
    client_init(&c, false);
    CHECK(publish(&c, "cam1") < 0);
    CHECK_STREQ(last_code(&c), "NetStream.Publish.BadName");
    client_free(&c, NULL);

    /* A key that is not a valid name. */
    client_init(&c, true);
    CHECK(publish(&c, "../etc/passwd%00?x") < 0);
    CHECK_STREQ(last_code(&c), "NetStream.Publish.BadName");
    client_free(&c, NULL);

    /* Another application. */
    client_init(&c, true);
    handshake(&c);
    command(&c, "connect", 1, "vod", 0);
    CHECK(client_flush(&c) < 0);
    CHECK_STREQ(last_code(&c), "NetConnection.Connect.Rejected");
    CHECK(has_reply(&c, "_error"));
    client_free(&c, NULL);

    /* publish without createStream. */
    client_init(&c, true);
    handshake(&c);
    command(&c, "connect", 1, "live", 0);
    command(&c, "publish", 0, "cam1", 1);
    CHECK(client_flush(&c) < 0);
    CHECK_STREQ(last_code(&c), "NetStream.Publish.Rejected");
    CHECK_EQ_INT(hub_registry_count(reg), 0);
    client_free(&c, NULL);

    /* HEVC: refused with a clear reason, the stream ends. */
    client_init(&c, true);
    CHECK_EQ_INT(publish(&c, "hevc"), 0);
    struct buf b;
    buf_init(&b);
    buf_append(&b, (uint8_t[]){0x1C, 0, 0, 0, 0, 1, 2, 3}, 8);
    send_msg(&c, 6, RTMP_MSG_VIDEO, 1, 0, &b);
    buf_free(&b);
    CHECK_EQ_INT(client_flush(&c), -EPROTONOSUPPORT);
    CHECK_STREQ(last_code(&c), "NetStream.Publish.Rejected");
    CHECK(!rtmp_session_publishing(c.s));
    CHECK_EQ_INT(hub_registry_count(reg), 0);
    CHECK(rtmp_session_feed(c.s, (uint8_t[]){0}, 1) < 0); /* no feeding after an error */
    client_free(&c, NULL);

    /* Bad C0. */
    client_init(&c, true);
    buf_append(&c.in, (uint8_t[]){6}, 1);
    CHECK_EQ_INT(client_flush(&c), -EPROTO);
    client_free(&c, NULL);
}

/* An Acknowledgement after each window of bytes received. */
static void test_ack(void)
{
    struct client c;
    client_init(&c, true);
    CHECK_EQ_INT(publish(&c, "ack"), 0);
    send_video_config(&c, 0);
    CHECK_EQ_INT(client_flush(&c), 0);
    uint8_t *big = xcalloc(1, 600000);
    big[0] = 0x27;
    big[1] = 1;
    struct buf b;
    buf_init(&b);
    buf_append(&b, big, 600000);
    free(big);
    for (int i = 0; i < 5; i++) {
        send_msg(&c, 6, RTMP_MSG_VIDEO, 1, (uint32_t)i * 33, &b); /* bad NAL lengths: dropped */
        CHECK_EQ_INT(client_flush(&c), 0);
    }
    buf_free(&b);
    int acks = 0;
    for (int i = 0; i < c.nreplies; i++)
        if (c.r[i].type == RTMP_MSG_ACK) {
            acks++;
            CHECK(c.r[i].value >= 2500000);
        }
    CHECK_EQ_INT(acks, 1);
    client_free(&c, NULL);
}

/* ffmpeg -vn: onMetaData without videocodecid, then AAC. The hub starts audio-only at once, with
 * the audio as track 0; video sent later is dropped, and the stream goes on. */
static void test_audio_only(void)
{
    struct client c;
    client_init(&c, true);
    CHECK_EQ_INT(publish(&c, "radio"), 0);
    struct rec *r = &recs[nrecs - 1];
    send_metadata_av(&c, false, true);
    send_audio_config(&c);
    CHECK_EQ_INT(client_flush(&c), 0);
    CHECK_EQ_INT(r->starts, 1);
    CHECK_EQ_INT(r->ntracks, 1);
    CHECK_EQ_INT(r->sample_rate, 48000);
    CHECK_EQ_INT(r->width, 0);
    for (uint32_t i = 0; i < 10; i++)
        send_audio(&c, 500 + i * 21);
    send_video_config(&c, 700);
    send_video(&c, 700, true, 0);
    send_audio(&c, 710);
    CHECK_EQ_INT(client_flush(&c), 0);
    CHECK_EQ_INT(r->npkts, 11);
    bool audio0 = true;
    for (int i = 0; i < r->npkts; i++)
        audio0 = audio0 && r->pkts[i].index == 0 && r->pkts[i].dts == (i < 10 ? i * 21 : 210);
    CHECK(audio0);
    CHECK(rtmp_session_publishing(c.s));
    client_free(&c, "publisher disconnected");
    CHECK_EQ_INT(r->ends, 1);
}

/* No metadata, the AVC configuration sent early but no keyframe: audio waits
 * STREAM_VIDEO_WAIT_MS, then the stream starts audio-only with none of that audio lost; the
 * keyframe that comes after is dropped. A keyframe inside the wait starts it with video. */
static void test_late_video(void)
{
    struct client c;
    client_init(&c, true);
    CHECK_EQ_INT(publish(&c, "late"), 0);
    struct rec *r = &recs[nrecs - 1];
    send_video_config(&c, 0);
    send_audio_config(&c);
    uint32_t ts = 0;
    for (; ts + 21 < STREAM_VIDEO_WAIT_MS; ts += 21)
        send_audio(&c, ts);
    CHECK_EQ_INT(client_flush(&c), 0);
    CHECK_EQ_INT(r->starts, 0);
    int waited = (int)(ts / 21);
    for (; ts < STREAM_VIDEO_WAIT_MS + 100; ts += 21)
        send_audio(&c, ts);
    CHECK_EQ_INT(client_flush(&c), 0);
    CHECK_EQ_INT(r->starts, 1);
    CHECK_EQ_INT(r->ntracks, 1);
    CHECK(r->npkts > waited);
    CHECK(r->npkts > 0 && r->pkts[0].dts == 0 && r->pkts[0].index == 0);
    int before = r->npkts;
    send_video(&c, ts, true, 0);
    CHECK_EQ_INT(client_flush(&c), 0);
    CHECK_EQ_INT(r->npkts, before);
    client_free(&c, "publisher disconnected");

    client_init(&c, true);
    CHECK_EQ_INT(publish(&c, "late2"), 0);
    r = &recs[nrecs - 1];
    send_video_config(&c, 0);
    send_audio_config(&c);
    for (ts = 0; ts < 1500; ts += 21)
        send_audio(&c, ts);
    send_video(&c, 1500, true, 0);
    CHECK_EQ_INT(client_flush(&c), 0);
    CHECK_EQ_INT(r->starts, 1);
    CHECK_EQ_INT(r->ntracks, 2);
    CHECK_EQ_INT(r->width, 1280);
    client_free(&c, "publisher disconnected");
}

/* A sink's accept refuses the stream: no sink starts, the publisher gets
 * NetStream.Publish.Rejected with the sink's reason, and the name is free. */
static void test_sink_refusal(void)
{
    struct client c;
    client_init(&c, true);
    CHECK_EQ_INT(publish(&c, "refused"), 0);
    struct rec *r = &recs[nrecs - 1];
    refuse = true;
    send_metadata(&c, true);
    send_video_config(&c, 0);
    send_video(&c, 0, true, 0);
    send_audio_config(&c);
    CHECK_EQ_INT(client_flush(&c), -EPROTONOSUPPORT);
    refuse = false;
    CHECK_EQ_INT(r->starts, 0);
    CHECK_STREQ(last_code(&c), "NetStream.Publish.Rejected");
    CHECK_STREQ(c.r[c.nreplies - 1].desc, "refused by the test sink");
    CHECK(!rtmp_session_publishing(c.s));
    CHECK_EQ_INT(hub_registry_count(reg), 0);
    client_free(&c, NULL);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    reg = hub_registry_create();
    hub_registry_observe(reg, observe, NULL);
    test_publish_av();
    test_video_only_and_wrap();
    test_refusals();
    test_ack();
    test_audio_only();
    test_late_video();
    test_sink_refusal();
    CHECK_EQ_INT(hub_registry_count(reg), 0);
    hub_registry_destroy(&reg);
    return test_report("test_session");
}
