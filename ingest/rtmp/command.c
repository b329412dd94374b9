/* AMF0 commands of a publishing client, in the order OBS and ffmpeg send them:
 *
 *   connect(txn, {app: "live", ...})  -> Window Ack Size, Set Peer Bandwidth, Set Chunk Size,
 *                                        _result(NetConnection.Connect.Success)
 *   releaseStream(txn, null, key)     -> _result
 *   FCPublish(txn, null, key)         -> _result, onFCPublish
 *   createStream(txn, null)           -> _result(txn, null, 1)
 *   publish(0, null, key, "live")     -> StreamBegin, onStatus(NetStream.Publish.Start)
 *   @setDataFrame("onMetaData", {...})   (a data message)
 *   FCUnpublish / deleteStream / closeStream -> the stream ends
 *
 * Refusals (unknown app, no key, busy name) send _error or onStatus with level "error" and
 * return a negative errno so the connection closes after the reply is flushed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "auth/publish.h"
#include "core/log.h"
#include "ingest/rtmp/session_priv.h"

#define MAX_ARGS 6

struct cmd {
    struct amf0_value v[MAX_ARGS];
    int n;
};

/* Decodes up to MAX_ARGS values; trailing values past that are ignored. A decode error after
 * at least the name keeps what decoded (the handlers check each argument's type). */
static void cmd_decode(struct cmd *c, const uint8_t *p, size_t n)
{
    size_t pos = 0;
    c->n = 0;
    while (c->n < MAX_ARGS && pos < n && amf0_decode(p, n, &pos, &c->v[c->n]) == 0)
        c->n++;
}

static void cmd_free(struct cmd *c)
{
    for (int i = 0; i < c->n; i++)
        amf0_value_clear(&c->v[i]);
}

static const char *cmd_str(const struct cmd *c, int i)
{
    if (i >= c->n || (c->v[i].type != AMF0_STRING && c->v[i].type != AMF0_LONG_STRING))
        return NULL;
    return c->v[i].str;
}

static double cmd_txn(const struct cmd *c)
{
    return c->n > 1 && c->v[1].type == AMF0_NUMBER ? c->v[1].num : 0;
}

static void send_cmd(struct rtmp_session *s, struct buf *b)
{
    session_send(s, CSID_COMMAND, RTMP_MSG_COMMAND_AMF0, 0, buf_head(b), buf_size(b));
    buf_free(b);
}

/* _result(txn, null, undefined) or _result(txn, null, number). */
static void send_result(struct rtmp_session *s, double txn, bool with_number, double number)
{
    struct buf b;
    buf_init(&b);
    amf0_put_string(&b, "_result");
    amf0_put_number(&b, txn);
    amf0_put_null(&b);
    if (with_number)
        amf0_put_number(&b, number);
    else
        amf0_put_undefined(&b);
    send_cmd(s, &b);
}

static void put_status(struct buf *b, const char *level, const char *code, const char *desc)
{
    amf0_put_object_begin(b);
    amf0_put_key(b, "level");
    amf0_put_string(b, level);
    amf0_put_key(b, "code");
    amf0_put_string(b, code);
    amf0_put_key(b, "description");
    amf0_put_string(b, desc);
    amf0_put_key(b, "objectEncoding");
    amf0_put_number(b, 0);
    amf0_put_object_end(b);
}

static int refuse_connect(struct rtmp_session *s, double txn, const char *app)
{
    char shown[64], desc[160];
    session_printable(shown, sizeof(shown), app ? app : "");
    snprintf(desc, sizeof(desc), "unknown application \"%s\"; publish to rtmp://HOST/live/KEY",
             shown);
    log_warn("rtmp", NULL, "connect refused from %s: %s", s->peer, desc);
    struct buf b;
    buf_init(&b);
    amf0_put_string(&b, "_error");
    amf0_put_number(&b, txn);
    amf0_put_null(&b);
    put_status(&b, "error", "NetConnection.Connect.Rejected", desc);
    send_cmd(s, &b);
    return -ECONNREFUSED;
}

static bool app_is_live(const char *app)
{
    /* Some encoders keep a trailing slash from the URL they were given. */
    return app && (strcmp(app, "live") == 0 || strcmp(app, "live/") == 0);
}

static int on_connect(struct rtmp_session *s, const struct cmd *c)
{
    double txn = cmd_txn(c);
    const char *app = c->n > 2 ? amf0_get_str(&c->v[2], "app") : NULL;
    if (!app_is_live(app))
        return refuse_connect(s, txn, app);
    snprintf(s->app, sizeof(s->app), "%s", app);
    session_send_control(s, RTMP_MSG_WINDOW_ACK_SIZE, RTMP_WINDOW_ACK_SIZE);
    uint8_t bw[5] = {RTMP_WINDOW_ACK_SIZE >> 24, (RTMP_WINDOW_ACK_SIZE >> 16) & 0xFF,
                     (RTMP_WINDOW_ACK_SIZE >> 8) & 0xFF, RTMP_WINDOW_ACK_SIZE & 0xFF,
                     2 /* dynamic */};
    session_send(s, CSID_CONTROL, RTMP_MSG_SET_PEER_BANDWIDTH, 0, bw, sizeof(bw));
    session_send_control(s, RTMP_MSG_SET_CHUNK_SIZE, RTMP_OUT_CHUNK_SIZE);
    s->out_chunk_size = RTMP_OUT_CHUNK_SIZE;

    struct buf b;
    buf_init(&b);
    amf0_put_string(&b, "_result");
    amf0_put_number(&b, txn);
    amf0_put_object_begin(&b);
    amf0_put_key(&b, "fmsVer");
    amf0_put_string(&b, "FMS/3,0,1,123");
    amf0_put_key(&b, "capabilities");
    amf0_put_number(&b, 31);
    amf0_put_object_end(&b);
    put_status(&b, "status", "NetConnection.Connect.Success", "Connection succeeded.");
    send_cmd(s, &b);
    s->connected = true;
    return 0;
}

static void on_fcpublish(struct rtmp_session *s, const struct cmd *c)
{
    send_result(s, cmd_txn(c), false, 0);
    struct buf b;
    buf_init(&b);
    amf0_put_string(&b, "onFCPublish");
    amf0_put_number(&b, 0);
    amf0_put_null(&b);
    amf0_put_object_begin(&b);
    amf0_put_key(&b, "code");
    amf0_put_string(&b, "NetStream.Publish.Start");
    amf0_put_key(&b, "description");
    amf0_put_string(&b, "FCPublish");
    amf0_put_object_end(&b);
    send_cmd(s, &b);
}

/* onStatus with level error, a warning line, and a negative errno to close. key is the name the
 * line may show, NULL when there is none to show (a secret key, or none given). */
static int refuse_publish(struct rtmp_session *s, int err, const char *code, const char *desc,
                          const char *key)
{
    char printable[80], shown[84] = "";
    if (key && key[0]) {
        session_printable(printable, sizeof(printable), key);
        snprintf(shown, sizeof(shown), " \"%s\"", printable);
    }
    log_warn("rtmp", NULL, "%s%s refused from %s: %s",
             strcmp(code, "NetStream.Play.Failed") == 0 ? "play" : "publish", shown, s->peer, desc);
    session_send_status(s, "error", code, desc);
    return err;
}

/* The hub's stop request (hub_registry_stop: the stream or its owner deleted, or its key
 * rotated with end_live), on the loop's thread while the stream is live: end it as a normal
 * stop does, then have the server close the connection (the publisher learns it is over). */
static void stop_requested(void *opaque, const char *reason)
{
    struct rtmp_session *s = opaque;
    log_info("rtmp", NULL, "ending the publish from %s: %s", s->peer, reason);
    rtmp_session_end_stream(s, reason);
    s->failed = true;
    if (s->wake)
        s->wake(s->wake_opaque, -ECANCELED); /* frees s */
}

/* Claims name and starts publishing. key is what the log may show (the name under
 * --open-publish; never a secret stream key). */
static int start_publish(struct rtmp_session *s, const char *name, const struct hub_publisher *pub)
{
    struct hub *hub;
    int err = hub_registry_claim(s->hubs, name, &hub);
    if (err == -EBUSY)
        return refuse_publish(s, err, "NetStream.Publish.BadName", "stream is already live", name);
    if (err < 0)
        return refuse_publish(s, err, "NetStream.Publish.BadName", "bad stream name", name);
    if (pub) /* before hub_start: sinks (the recorder) read it at their start */
        hub_set_publisher(hub, pub);
    hub_set_protocol(hub, "rtmp");
    hub_set_stop(hub, stop_requested, s);
    s->stream = rtmp_stream_create(hub, s->metrics, s->peer);
    session_send_user_control(s, 0, RTMP_STREAM_ID); /* StreamBegin */
    session_send_status(s, "status", "NetStream.Publish.Start", "publishing");
    log_info("rtmp", name, "publishing from %s, waiting for codec configuration", s->peer);
    return 0;
}

/* The database's answer to a key check, on the loop's thread. */
static void key_checked(void *arg, int err, const char *name)
{
    struct rtmp_session *s = arg;
    const struct hub_publisher *pub =
        err == 0 && s->auth_req ? publish_auth_req_publisher(s->auth_req) : NULL;
    s->auth_req = NULL;
    if (err == -ENOENT)
        err = refuse_publish(s, -EACCES, "NetStream.Publish.BadName",
                             "invalid stream key (key not shown)", NULL);
    else if (err < 0)
        err = refuse_publish(s, -EIO, "NetStream.Publish.Rejected",
                             "the stream key could not be checked (database error)", NULL);
    else
        err = start_publish(s, name, pub);
    if (err < 0)
        s->failed = true;
    if (s->wake)
        s->wake(s->wake_opaque, err);
}

static int on_publish(struct rtmp_session *s, const struct cmd *c)
{
    const char *key = cmd_str(c, 3);
    if (!s->connected || !s->stream_created)
        return refuse_publish(s, -EPROTO, "NetStream.Publish.Rejected",
                              "publish before connect and createStream", NULL);
    if (s->stream || s->auth_req)
        return refuse_publish(s, -EPROTO, "NetStream.Publish.Rejected",
                              "this connection is already publishing", NULL);
    if (!key || !key[0]) /* rtmp://HOST/live with nothing after it */
        return refuse_publish(s, -EACCES, "NetStream.Publish.BadName",
                              "an empty stream key (publish to rtmp://HOST:PORT/live/<key>)", NULL);
    if (s->open_publish) {
        if (!hub_name_valid(key))
            return refuse_publish(s, -EINVAL, "NetStream.Publish.BadName",
                                  "the stream key must be 1 to 64 characters of a-z 0-9 _ -", key);
        return start_publish(s, key, NULL);
    }
    if (!s->auth)
        return refuse_publish(s, -EACCES, "NetStream.Publish.BadName",
                              "publishing needs a stream key or --open-publish", NULL);
    if (strlen(key) > 128)
        return refuse_publish(s, -EACCES, "NetStream.Publish.BadName",
                              "invalid stream key (key not shown)", NULL);
    s->auth_req = publish_auth_check(s->auth, key, key_checked, s);
    log_debug("rtmp", NULL, "checking the stream key from %s", s->peer);
    return 0;
}

int command_handle(struct rtmp_session *s, const uint8_t *p, size_t n)
{
    struct cmd c;
    cmd_decode(&c, p, n);
    const char *name = cmd_str(&c, 0);
    int err = 0;
    if (!name) {
        log_warn("rtmp", NULL, "closing %s: malformed AMF0 command", s->peer);
        err = -EPROTO;
    } else if (strcmp(name, "connect") == 0) {
        err = on_connect(s, &c);
    } else if (strcmp(name, "releaseStream") == 0) {
        send_result(s, cmd_txn(&c), false, 0);
    } else if (strcmp(name, "FCPublish") == 0) {
        on_fcpublish(s, &c);
    } else if (strcmp(name, "createStream") == 0) {
        s->stream_created = true;
        send_result(s, cmd_txn(&c), true, RTMP_STREAM_ID);
    } else if (strcmp(name, "publish") == 0) {
        err = on_publish(s, &c);
    } else if (strcmp(name, "FCUnpublish") == 0 || strcmp(name, "deleteStream") == 0 ||
               strcmp(name, "closeStream") == 0) {
        rtmp_session_end_stream(s, name);
    } else if (strcmp(name, "play") == 0 || strcmp(name, "play2") == 0) {
        err = refuse_publish(s, -EPROTONOSUPPORT, "NetStream.Play.Failed",
                             "this server takes publishers only; watch over HLS", cmd_str(&c, 3));
    } else {
        char shown[48];
        session_printable(shown, sizeof(shown), name);
        log_debug("rtmp", NULL, "ignoring command \"%s\" from %s", shown, s->peer);
    }
    cmd_free(&c);
    return err;
}

void command_handle_data(struct rtmp_session *s, const uint8_t *p, size_t n)
{
    if (!s->stream)
        return;
    struct cmd c;
    cmd_decode(&c, p, n);
    int i = 0;
    const char *name = cmd_str(&c, i);
    if (name && strcmp(name, "@setDataFrame") == 0)
        name = cmd_str(&c, ++i);
    if (name && strcmp(name, "onMetaData") == 0 && i + 1 < c.n &&
        (c.v[i + 1].type == AMF0_OBJECT || c.v[i + 1].type == AMF0_ECMA_ARRAY))
        rtmp_stream_metadata(s->stream, &c.v[i + 1]);
    cmd_free(&c);
}
