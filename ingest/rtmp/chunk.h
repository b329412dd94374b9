/* The RTMP chunk stream: messages are cut into chunks of at most the sender's chunk size, and
 * chunks of different chunk streams (csid) interleave. The reader is a pure state machine fed
 * arbitrary byte slices (no sockets); it emits each complete message through a callback.
 *
 * It handles all four chunk header types (fmt 0 full, 1 no stream id, 2 delta only, 3 none), the
 * 1/2/3-byte csid forms, extended timestamps (also repeated on fmt 3 chunks of a message whose
 * header had one) and timestamp deltas. It consumes two protocol control messages itself: Set
 * Chunk Size (type 1) and Abort (type 2); everything else goes to the callback.
 *
 * Limits (docs/RELIABILITY.md, "RTMP and AMF0"): at most CHUNK_MAX_STREAMS distinct csids per
 * connection; message length at most CHUNK_MAX_MESSAGE (a larger declared length is refused
 * before anything is allocated); the peer's chunk size must be 1..0xFFFFFF; at most
 * CHUNK_MAX_PENDING bytes of partial messages across all chunk streams. Message buffers grow
 * as bytes arrive, never in proportion to a length the peer declared. */
#ifndef KIBITKA_INGEST_RTMP_CHUNK_H
#define KIBITKA_INGEST_RTMP_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define CHUNK_MAX_STREAMS 64
#define CHUNK_MAX_MESSAGE (8u << 20)
#define CHUNK_MAX_PENDING (16u << 20)
#define CHUNK_MAX_SIZE 0xFFFFFFu
#define CHUNK_DEFAULT_SIZE 128

enum rtmp_msg_type {
    RTMP_MSG_SET_CHUNK_SIZE = 1,
    RTMP_MSG_ABORT = 2,
    RTMP_MSG_ACK = 3,
    RTMP_MSG_USER_CONTROL = 4,
    RTMP_MSG_WINDOW_ACK_SIZE = 5,
    RTMP_MSG_SET_PEER_BANDWIDTH = 6,
    RTMP_MSG_AUDIO = 8,
    RTMP_MSG_VIDEO = 9,
    RTMP_MSG_DATA_AMF3 = 15,
    RTMP_MSG_COMMAND_AMF3 = 17,
    RTMP_MSG_DATA_AMF0 = 18,
    RTMP_MSG_COMMAND_AMF0 = 20,
};

struct rtmp_msg {
    uint32_t csid;
    uint8_t type;
    uint32_t stream_id;
    uint32_t timestamp;  /* absolute, 32-bit milliseconds (wraps) */
    const uint8_t *data; /* valid only during the callback */
    size_t len;
};

/* Returns 0 to go on, or a negative errno that chunk_reader_feed returns at once. */
typedef int (*chunk_msg_cb)(void *opaque, const struct rtmp_msg *msg);

struct chunk_reader;

struct chunk_reader *chunk_reader_create(chunk_msg_cb cb, void *opaque);
void chunk_reader_destroy(struct chunk_reader **pr);
/* Consumes all n bytes, calling cb for each message completed. Returns 0, a negative errno
 * from cb, or -EPROTO / -EMSGSIZE on a protocol violation (chunk_reader_error says which). After
 * an error the reader must not be fed again. */
int chunk_reader_feed(struct chunk_reader *r, const uint8_t *p, size_t n);
const char *chunk_reader_error(const struct chunk_reader *r);
uint32_t chunk_reader_chunk_size(const struct chunk_reader *r);

/* Writer: appends msg (its data/len) to out as chunks of chunk_size bytes on msg->csid: one
 * fmt 0 header, fmt 3 continuations, extended timestamps when needed. */
void chunk_write(struct buf *out, uint32_t chunk_size, const struct rtmp_msg *msg);

#endif
