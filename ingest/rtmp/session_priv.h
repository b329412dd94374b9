/* Internals shared by session.c (bytes, chunks, protocol control, sending) and command.c (AMF0
 * commands and data messages). Not for other modules. */
#ifndef KIBITKA_INGEST_RTMP_SESSION_PRIV_H
#define KIBITKA_INGEST_RTMP_SESSION_PRIV_H

#include "ingest/rtmp/chunk.h"
#include "ingest/rtmp/handshake.h"
#include "ingest/rtmp/rtmp_metrics.h"
#include "ingest/rtmp/session.h"
#include "ingest/rtmp/stream.h"

#define RTMP_OUT_CHUNK_SIZE 4096
#define RTMP_WINDOW_ACK_SIZE 2500000
#define RTMP_APP_MAX 128

/* Chunk stream ids for what we send: protocol control must use 2; commands 3; stream-level
 * status 5 (as FMS does). */
#define CSID_CONTROL 2
#define CSID_COMMAND 3
#define CSID_STREAM 5

/* The message stream id createStream hands out. */
#define RTMP_STREAM_ID 1

struct rtmp_session {
    bool open_publish;
    struct publish_auth *auth;
    struct publish_auth_req *auth_req; /* a key check under way */
    void (*wake)(void *opaque, int err);
    void *wake_opaque;
    struct hub_registry *hubs;
    struct metrics *metrics; /* for the stream on publish */
    struct rtmp_metrics mx;
    char peer[64];

    struct rtmp_handshake hs;
    struct chunk_reader *chunks;
    struct buf out;
    uint32_t out_chunk_size;

    uint64_t bytes_in, acked;
    uint32_t ack_window; /* the peer's Window Ack Size, or ours until it sends one */
    uint64_t progress;
    bool failed;

    bool connected, stream_created;
    char app[RTMP_APP_MAX];
    struct rtmp_stream *stream; /* while publishing */
};

/* Sends one message on csid (chunked at our outgoing chunk size). */
void session_send(struct rtmp_session *s, uint32_t csid, uint8_t type, uint32_t stream_id,
                  const void *p, size_t n);
/* A protocol control message with one 32-bit value (Window Ack Size, Set Chunk Size, Ack). */
void session_send_control(struct rtmp_session *s, uint8_t type, uint32_t v);
/* User Control: 2-byte event type (0 StreamBegin, 7 PingResponse ...), 4-byte value. */
void session_send_user_control(struct rtmp_session *s, uint16_t event, uint32_t v);
/* onStatus(0, null, {level, code, description}) on our message stream. */
void session_send_status(struct rtmp_session *s, const char *level, const char *code,
                         const char *description);

/* A command (type 20, or 17 with its leading 0 byte removed). Returns 0, or a negative errno to
 * close the connection (after anything queued in out). */
int command_handle(struct rtmp_session *s, const uint8_t *p, size_t n);
/* A data message (type 18 / 15): @setDataFrame / onMetaData. */
void command_handle_data(struct rtmp_session *s, const uint8_t *p, size_t n);

/* Copies s into out (size outlen) with anything but printable ASCII replaced by '?', cut to fit;
 * for putting untrusted names into log lines. */
void session_printable(char *out, size_t outlen, const char *s);

#endif
