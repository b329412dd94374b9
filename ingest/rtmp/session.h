/* One RTMP connection's protocol state, without sockets: bytes in (rtmp_session_feed), bytes
 * out (rtmp_session_output), so tests and the fuzzer drive it exactly as the server does.
 *
 * Inside: the handshake, then the chunk reader; protocol control messages (Set Chunk Size and
 * Abort in the reader, Acknowledgement, Window Ack Size, User Control ping here); AMF0 commands
 * (command.c: connect, releaseStream, FCPublish, createStream, publish, FCUnpublish,
 * deleteStream, closeStream); and, once publishing, audio/video/metadata handed to the
 * publishing stream (stream.c), which owns the hub. */
#ifndef KIBITKA_INGEST_RTMP_SESSION_H
#define KIBITKA_INGEST_RTMP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/hub.h"
#include "core/metrics.h"

struct rtmp_session;

struct publish_auth;

struct rtmp_session_config {
    bool open_publish;
    struct hub_registry *hubs;
    struct metrics *metrics; /* may be NULL (tests) */
    const char *peer;        /* "1.2.3.4:5678", for log lines; copied */
    /* Without open_publish, a publish's key is checked here, asynchronously (NULL: every publish
     * is refused). When the answer has been handled, the session calls wake(wake_opaque, err)
     * on the loop's thread: output is waiting, and err < 0 means the connection must close
     * (-ECANCELED: the stream was ended through the API, hub_registry_stop; the stream has
     * ended already). */
    struct publish_auth *auth;
    void (*wake)(void *opaque, int err);
    void *wake_opaque;
};

struct rtmp_session *rtmp_session_create(const struct rtmp_session_config *cfg);
/* Ends the stream if still publishing (logging reason, e.g. "publisher disconnected") and frees
 * the session. NULL-safe; clears *ps. */
void rtmp_session_destroy(struct rtmp_session **ps, const char *reason);

/* Consumes n received bytes; replies are appended to the output buffer. Returns 0 to go on, or
 * a negative errno when the connection must close: the session has logged why, ended its stream
 * and counted rtmp_rejected_total; the caller should still try to send what is in the output
 * buffer (a refusal's onStatus) and then close. After an error, feed must not be called
 * again (it returns -EPIPE). */
int rtmp_session_feed(struct rtmp_session *s, const uint8_t *p, size_t n);
/* Bytes waiting to be sent. The caller consumes what it wrote (buf_consume). */
struct buf *rtmp_session_output(struct rtmp_session *s);

/* Grows with every step that shows the peer is alive and doing something: the handshake done,
 * each command, data or media message (not pings). The server's idle timeout watches it. */
uint64_t rtmp_session_progress(const struct rtmp_session *s);
bool rtmp_session_publishing(const struct rtmp_session *s);
/* Ends the stream, if any, with reason; the connection may continue (it will be closed). */
void rtmp_session_end_stream(struct rtmp_session *s, const char *reason);

#endif
