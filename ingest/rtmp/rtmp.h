/* RTMP ingest: the TCP server publishers (OBS, ffmpeg) connect to, on the network thread's loop.
 *
 * A connection goes handshake -> chunk stream -> AMF0 commands (connect, releaseStream,
 * FCPublish, createStream, publish) -> FLV audio/video messages. On publish it claims the stream
 * name in the hub registry (with --open-publish the key is the name), and hands every H.264/AAC
 * frame to the hub as an AVPacket. Disconnects, a silent publisher (idle timeout) and
 * rtmp_server_shutdown end the hub. Nothing here blocks; all sockets are non-blocking. */
#ifndef KIBITKA_INGEST_RTMP_H
#define KIBITKA_INGEST_RTMP_H

#include <stdbool.h>

#include "core/hub.h"
#include "core/loop.h"
#include "core/metrics.h"

/* Why an RTMP connection was closed or refused (kibitka_rtmp_closed_total{reason}). */
enum rtmp_close_reason {
    RTMP_CLOSE_DISCONNECTED, /* the peer closed or reset */
    RTMP_CLOSE_PROTOCOL,     /* bad input */
    RTMP_CLOSE_REFUSED,      /* the publish was refused (key, name, codec) */
    RTMP_CLOSE_NOT_READING,  /* our replies piled up unread */
    RTMP_CLOSE_IDLE,         /* --idle-timeout */
    RTMP_CLOSE_NO_PUBLISH,   /* --publish-timeout */
    RTMP_CLOSE_MAX_CONNS,    /* refused at accept: --max-connections */
    RTMP_CLOSE_PER_ADDRESS,  /* refused at accept: --max-connections-per-address */
    RTMP_CLOSE_ENDED_BY_API, /* stream or user deleted, or key rotated with end_live */
    RTMP_CLOSE_STOPPING,     /* server shutdown */
    RTMP_CLOSE_INTERNAL,
    RTMP_CLOSE_NREASONS
};

/* The label of kibitka_rtmp_closed_total{reason="..."}. */
const char *rtmp_close_reason_label(enum rtmp_close_reason r);

struct rtmp_server;
struct publish_auth;

struct rtmp_server_config {
    /* A bound, listening, non-blocking socket (net_listen_tcp; bound by main before it touches
     * the data directory). Owned by the server from the call on, closed when create fails. */
    int listen_fd;
    bool open_publish;
    double idle_timeout; /* seconds: handshake, between messages, publisher silence */
    int max_connections;
    int max_connections_per_address; /* at once from one IP address; 0: no limit */
    double publish_timeout; /* seconds from accept to publishing, whatever arrives; 0: none */
    struct hub_registry *hubs;
    struct metrics *metrics; /* registers kibitka_rtmp_* and _publishers; may be NULL */
    /* Checks stream keys when open_publish is off (NULL: every publish is refused). */
    struct publish_auth *auth;
};

/* Starts accepting on cfg->listen_fd, on loop. Returns NULL after logging why. */
struct rtmp_server *rtmp_server_create(struct loop *loop, const struct rtmp_server_config *cfg);
int rtmp_server_port(const struct rtmp_server *srv);

/* Stops accepting, ends every live stream (so playlists get ENDLIST), closes every connection. */
void rtmp_server_shutdown(struct rtmp_server *srv);
void rtmp_server_destroy(struct rtmp_server **psrv);

#endif
