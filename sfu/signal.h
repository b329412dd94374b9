/* The voice rooms' signaling server (issue 14): WebSocket (libwebsockets) at ws://ADDR:PORT/rtc
 * (--ws), one socket per member, JSON text messages.
 *
 * libwebsockets runs on a service thread of its own; the SFU (sfu.h) runs on the network loop's
 * thread. What crosses between them:
 *
 *   - from a socket to the SFU: each message is read, size-capped, rate-limited, parsed and
 *     validated on the service thread; a join asks the access function (any thread answers), and
 *     every SFU call (join, offer, trickle, mute, leave, and the detach of a dropped socket) is a
 *     job handed to the loop with loop_post, so the sfu_* functions only ever run there;
 *   - from the SFU to a socket: replies and the events of ops->send go into the connection's
 *     queue under the server's lock, and lws_cancel_service wakes the service thread, which
 *     writes them out; ops->closed queues a close with the reason.
 *
 * A connection is refcounted: the socket holds a reference until it closes, the SFU member one
 * from a successful sfu_join until sfu_leave, sfu_detach or ops->closed, and every job and
 * access request in flight one. So a job that runs after the socket went (or the member was
 * closed) finds the connection still allocated, sees that it is gone, and touches no member:
 * the loop thread alone sets and clears the member pointer.
 *
 * Messages from a client, every one an object with a "type" (unknown fields are refused):
 *   join    {room, token, display?, resume?} -> joined (sfu_join's text) or error
 *   offer   {sdp}                            -> answer {sdp}
 *   trickle {frag} (RFC 8840 sdpfrag text) or {candidate, sdpMid?, sdpMLineIndex?,
 *           usernameFragment?} (a browser's RTCIceCandidate; candidate "" ends the candidates)
 *   mute    {muted}
 *   leave   {}                               -> left, then the socket is closed (1000)
 *   ping    {}                               -> pong
 * To a client, beside the answers: the SFU's events as it wrote them (participant_joined,
 * participant_left, speakers, mute, trickle) and {"type":"error","code":"...","message":"..."}.
 * Close codes: 1008 past the rate limit or the output cap, 1009 a message over the size cap,
 * 1001 no pong within the ping timeout or the server stopping, 4000 the SFU ended the member
 * (the reason as the close reason: kicked, room deleted, ...), 1000 after leave. */
#ifndef KIBITKA_SFU_SIGNAL_H
#define KIBITKA_SFU_SIGNAL_H

#include <stddef.h>

#include "sfu/sfu.h"

struct loop;
struct metrics;
struct proxy_trust;
struct signal_server;

struct signal_config {
    const char *addr;     /* "ADDR:PORT" to listen on (port 0: any free one) */
    int max_sockets;      /* sockets open at once; more are refused at the handshake. 0: 10000 */
    int max_per_address;  /* ... of them from one IP address. 0: 256 */
    size_t max_message;   /* bytes of one message; more closes the socket (1009). 0: 64 KiB */
    double rate;          /* messages per second a socket may send on average; 0: 20 */
    double burst;         /* ... and at once (the bucket's size); 0: 60 */
    size_t max_queued;    /* bytes waiting to be sent to one socket; more closes it. 0: 256 KiB */
    int ping_interval_ms; /* a silent socket gets a WebSocket ping this often; 0: 5000 */
    int ping_timeout_ms;  /* nothing heard for this long closes it (1001); 0: 12000 */
    struct metrics *metrics; /* kibitka_ws_*; NULL: none */
    /* --trusted-proxy (core/proxy.h): a socket from one of these peers is the client's that its
     * X-Forwarded-For (or Forwarded) names, for the per-address cap and the logs. NULL: every
     * peer is the client. Not owned; must outlive the server. */
    const struct proxy_trust *trusted_proxies;
    /* --ws-origin: the Origins a handshake may carry (scheme://host[:port], compared without
     * regard to case); another is refused with 403. A handshake without Origin (not from a
     * browser) is let through: the allowlist is against other sites' pages, and the join is
     * authorised by the token in the message, never by cookies. n 0: any Origin. Not owned. */
    const char *const *origins;
    int norigins;
};

/* Binds cfg->addr (at start, before the data directory is touched, like --http): 0 and *out, or
 * a negative errno with the reason in err. Nothing is served before signal_server_start. */
int signal_server_create(const struct signal_config *cfg, struct signal_server **out, char *err,
                         size_t errlen);
/* The port bound (useful with port 0). */
int signal_server_port(const struct signal_server *s);

/* Starts the service thread. sfu is the forwarding core the jobs call on loop's thread; access
 * checks join tokens (sfu.h: it answers on any thread, exactly once). None is owned. 0 or a
 * negative errno. */
int signal_server_start(struct signal_server *s, struct loop *loop, struct sfu *sfu,
                        sfu_access_fn access, void *access_opaque);

/* On the loop's thread, with the loop no longer running (main's stop), in this order:
 * signal_server_shutdown (closes every socket, joins the service thread; jobs still queued on the
 * loop will do nothing but free), then the access module's destroy (its last answers may still
 * loop_post), sfu_destroy, loop_destroy (runs those posts), and last signal_server_destroy. */
void signal_server_shutdown(struct signal_server *s);
void signal_server_destroy(struct signal_server **ps);

#endif
