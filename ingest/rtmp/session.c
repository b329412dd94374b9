#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/publish.h"
#include "core/alloc.h"
#include "core/log.h"
#include "ingest/rtmp/session_priv.h"

static int on_message(void *opaque, const struct rtmp_msg *msg);

struct rtmp_session *rtmp_session_create(const struct rtmp_session_config *cfg)
{
    struct rtmp_session *s = xcalloc(1, sizeof(*s));
    s->open_publish = cfg->open_publish;
    s->auth = cfg->auth;
    s->wake = cfg->wake;
    s->wake_opaque = cfg->wake_opaque;
    s->hubs = cfg->hubs;
    s->metrics = cfg->metrics;
    rtmp_metrics_register(cfg->metrics, &s->mx);
    snprintf(s->peer, sizeof(s->peer), "%s", cfg->peer ? cfg->peer : "?");
    rtmp_handshake_init(&s->hs);
    s->chunks = chunk_reader_create(on_message, s);
    buf_init(&s->out);
    s->out_chunk_size = CHUNK_DEFAULT_SIZE;
    s->ack_window = RTMP_WINDOW_ACK_SIZE;
    return s;
}

void rtmp_session_destroy(struct rtmp_session **ps, const char *reason)
{
    struct rtmp_session *s = *ps;
    if (!s)
        return;
    if (s->auth_req)
        publish_auth_cancel(s->auth, s->auth_req);
    rtmp_session_end_stream(s, reason ? reason : "connection closed");
    chunk_reader_destroy(&s->chunks);
    buf_free(&s->out);
    free(s);
    *ps = NULL;
}

struct buf *rtmp_session_output(struct rtmp_session *s)
{
    return &s->out;
}

uint64_t rtmp_session_progress(const struct rtmp_session *s)
{
    return s->progress;
}

bool rtmp_session_publishing(const struct rtmp_session *s)
{
    return s->stream != NULL;
}

void rtmp_session_end_stream(struct rtmp_session *s, const char *reason)
{
    rtmp_stream_destroy(&s->stream, reason);
}

void session_printable(char *out, size_t outlen, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < outlen; i++)
        out[i] = s[i] >= 0x20 && s[i] < 0x7F ? s[i] : '?';
    out[i] = '\0';
}

void session_send(struct rtmp_session *s, uint32_t csid, uint8_t type, uint32_t stream_id,
                  const void *p, size_t n)
{
    struct rtmp_msg m = {csid, type, stream_id, 0, p, n};
    chunk_write(&s->out, s->out_chunk_size, &m);
}

void session_send_control(struct rtmp_session *s, uint8_t type, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    session_send(s, CSID_CONTROL, type, 0, b, 4);
}

/* User Control message: 2-byte event type, 4-byte value. */
void session_send_user_control(struct rtmp_session *s, uint16_t event, uint32_t v)
{
    uint8_t b[6] = {(uint8_t)(event >> 8), (uint8_t)event,    (uint8_t)(v >> 24),
                    (uint8_t)(v >> 16),    (uint8_t)(v >> 8), (uint8_t)v};
    session_send(s, CSID_CONTROL, RTMP_MSG_USER_CONTROL, 0, b, 6);
}

void session_send_status(struct rtmp_session *s, const char *level, const char *code,
                         const char *description)
{
    struct buf b;
    buf_init(&b);
    amf0_put_string(&b, "onStatus");
    amf0_put_number(&b, 0);
    amf0_put_null(&b);
    amf0_put_object_begin(&b);
    amf0_put_key(&b, "level");
    amf0_put_string(&b, level);
    amf0_put_key(&b, "code");
    amf0_put_string(&b, code);
    amf0_put_key(&b, "description");
    amf0_put_string(&b, description);
    amf0_put_object_end(&b);
    session_send(s, CSID_STREAM, RTMP_MSG_COMMAND_AMF0, RTMP_STREAM_ID, buf_head(&b), buf_size(&b));
    buf_free(&b);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void user_control(struct rtmp_session *s, const uint8_t *p, size_t n)
{
    if (n < 6)
        return;
    uint16_t event = (uint16_t)(p[0] << 8 | p[1]);
    if (event == 6) /* PingRequest: answer PingResponse with its timestamp */
        session_send_user_control(s, 7, be32(p + 2));
}

/* An audio or video message while publishing. A refusal (a codec browsers cannot play, a stream
 * over the CPU budget with --over-budget refuse) ends the publish; the line before says why. */
static int media(struct rtmp_session *s, const struct rtmp_msg *m)
{
    if (!s->stream)
        return 0; /* media before publish (or after its end) carries nothing we can use */
    int err = m->type == RTMP_MSG_VIDEO
                  ? rtmp_stream_video(s->stream, m->timestamp, m->data, m->len)
                  : rtmp_stream_audio(s->stream, m->timestamp, m->data, m->len);
    if (err == 0)
        return 0;
    const char *why = rtmp_stream_refusal(s->stream);
    log_warn("rtmp", rtmp_stream_name(s->stream), "%s (%s)", why, s->peer);
    session_send_status(s, "error", "NetStream.Publish.Rejected", why);
    rtmp_session_end_stream(s, "refused");
    return err;
}

static int dispatch(struct rtmp_session *s, const struct rtmp_msg *m)
{
    switch (m->type) {
    case RTMP_MSG_WINDOW_ACK_SIZE:
        if (m->len >= 4) /* acking more often than every 4 KiB only costs us bytes */
            s->ack_window = be32(m->data) < 4096 ? 4096 : be32(m->data);
        return 0;
    case RTMP_MSG_USER_CONTROL:
        user_control(s, m->data, m->len);
        return 0;
    case RTMP_MSG_COMMAND_AMF3: /* an AMF0 command behind a 0 format byte */
        s->progress++;
        return m->len > 1 ? command_handle(s, m->data + 1, m->len - 1) : 0;
    case RTMP_MSG_COMMAND_AMF0:
        s->progress++;
        return command_handle(s, m->data, m->len);
    case RTMP_MSG_DATA_AMF3:
        s->progress++;
        if (m->len > 1)
            command_handle_data(s, m->data + 1, m->len - 1);
        return 0;
    case RTMP_MSG_DATA_AMF0:
        s->progress++;
        command_handle_data(s, m->data, m->len);
        return 0;
    case RTMP_MSG_AUDIO:
    case RTMP_MSG_VIDEO:
        s->progress++;
        return media(s, m);
    default: /* Acknowledgement, Set Peer Bandwidth, shared objects, aggregates: ignored */
        return 0;
    }
}

static int on_message(void *opaque, const struct rtmp_msg *m)
{
    struct rtmp_session *s = opaque;
    int err = dispatch(s, m);
    if (err < 0)
        s->failed = true; /* the handler has logged why */
    return err;
}

static void maybe_ack(struct rtmp_session *s)
{
    if (s->bytes_in - s->acked < s->ack_window)
        return;
    s->acked = s->bytes_in;
    session_send_control(s, RTMP_MSG_ACK, (uint32_t)s->bytes_in);
}

static int fail(struct rtmp_session *s, int err, const char *what)
{
    s->failed = true;
    log_warn("rtmp", s->stream ? rtmp_stream_name(s->stream) : NULL, "closing %s: %s", s->peer,
             what);
    rtmp_session_end_stream(s, "protocol error");
    metrics_add(s->mx.rejected, 1);
    return err;
}

int rtmp_session_feed(struct rtmp_session *s, const uint8_t *p, size_t n)
{
    if (s->failed)
        return -EPIPE;
    s->bytes_in += n;
    if (s->hs.state != RTMP_HS_DONE) {
        size_t used;
        int r = rtmp_handshake_feed(&s->hs, p, n, &used, &s->out);
        if (r < 0)
            return fail(s, r, "handshake version byte (C0) is not 3");
        if (r == 0)
            return 0;
        s->progress++;
        log_debug("rtmp", NULL, "handshake with %s done (%s)", s->peer,
                  s->hs.digest ? "digest" : "plain");
        p += used;
        n -= used;
    }
    int err = chunk_reader_feed(s->chunks, p, n);
    if (err < 0) {
        if (!s->failed)
            return fail(s, err, chunk_reader_error(s->chunks));
        rtmp_session_end_stream(s, "closed after an error");
        metrics_add(s->mx.rejected, 1);
        return err;
    }
    maybe_ack(s);
    return 0;
}
