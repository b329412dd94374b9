/* The WebRTC port's sockets: one UDP socket for every session, and ICE-TCP (RFC 6544, passive
 * only) on the same port number, on the network thread's loop.
 *
 * This layer knows datagrams and paths, not sessions: every datagram (or RFC 4571 frame read
 * from an ICE-TCP connection) goes to ops->packet with the path it came on, and the owner (the
 * transport, rtc/transport.c) demultiplexes. What it owns is the sockets' hygiene: batched reads
 * (recvmmsg), a cap on ICE-TCP connections, a bounded write queue per connection, and a
 * deadline: an ICE-TCP connection the owner has not marked valid (a STUN check with the right
 * credentials, rtc_net_tcp_validate) within RTC_NET_TCP_VALIDATE_MS is closed, so idle or
 * garbage connections cannot hold descriptors.
 *
 * Threading: everything here runs on the loop's thread. ops->packet may call rtc_net_send and
 * rtc_net_tcp_close, including on the path it is handling. */
#ifndef KIBITKA_RTC_NET_H
#define KIBITKA_RTC_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define RTC_NET_MAX_DATAGRAM 1500 /* longer datagrams and frames are dropped (counted) */
#define RTC_NET_TCP_VALIDATE_MS 10000
/* The room for one queued outgoing datagram: an MTU-sized packet plus the SRTP trailer. */
#define RTC_NET_SEND_BUF 1536
#define RTC_NET_TCP_MAX_QUEUE (256 * 1024) /* bytes queued on one ICE-TCP connection */

struct loop;
struct metrics;
struct rtc_net;
struct metrics_hist;

/* Where a packet came from and where an answer goes: a UDP peer address, or an ICE-TCP
 * connection (tcp_id != 0; addr is then its peer address, for logs and for ICE). Plain data,
 * copied freely; a tcp_id is never reused within a process. */
struct rtc_path {
    struct sockaddr_storage addr;
    uint32_t tcp_id;
};

struct rtc_net_ops {
    /* One datagram or frame. p is valid only during the call; the callee may modify it in place
     * (SRTP unprotects in place). */
    void (*packet)(void *opaque, const struct rtc_path *from, uint8_t *p, size_t n);
    /* An ICE-TCP connection closed (peer, error, deadline, or rtc_net_tcp_close); its path is no
     * longer usable. May be NULL. */
    void (*tcp_closed)(void *opaque, const struct rtc_path *path);
};

struct rtc_net_config {
    int udp_fd;              /* bound, owned by the net from create on */
    int tcp_fd;              /* listening, owned by the net; -1: no ICE-TCP */
    int max_tcp;             /* ICE-TCP connections at once (0: 1024) */
    struct metrics *metrics; /* kibitka_rtc_* socket figures registered here; NULL: none */
};

/* Opens "ADDR:PORT" for UDP and, when tcp is true, a TCP listener on the same port (the UDP
 * port's, when PORT is 0). Both non-blocking and close-on-exec. 0, or -errno with neither open. */
int rtc_net_open(const char *addr, bool tcp, int *udp_fd, int *tcp_fd);

struct rtc_net *rtc_net_create(struct loop *loop, const struct rtc_net_config *cfg,
                               const struct rtc_net_ops *ops, void *opaque);
/* Closes every socket and connection (no tcp_closed calls) and clears *pnet. */
void rtc_net_destroy(struct rtc_net **pnet);

/* The UDP port bound (for ":0" in tests). */
int rtc_net_port(const struct rtc_net *net);

/* Sends one packet on path: sendto on UDP (a full socket buffer drops it: media is realtime, and
 * the peers repair loss), or a framed write on ICE-TCP (queued up to RTC_NET_TCP_MAX_QUEUE,
 * then dropped). 0, or -errno when it was dropped. */
int rtc_net_send(struct rtc_net *net, const struct rtc_path *to, const uint8_t *p, size_t n);

/* Sending without a copy, in batches. Inside a read callback (ops->packet) UDP sends are queued
 * and sent together with sendmmsg when the callback's batch of reads is done (or when 64 are
 * queued), so one incoming packet forwarded to 50 peers costs one system call, not 50; outside
 * one (a timer) they go at once. rtc_net_send_buf gives the buffer of the next datagram (cap
 * RTC_NET_SEND_BUF bytes): the caller writes (and encrypts) its packet there, then
 * rtc_net_send_commit queues its n bytes for `to` (an ICE-TCP path: framed into the
 * connection's queue at once). Nothing is allocated. A buffer not committed is simply reused.
 * rtc_net_send copies into the same queue. */
uint8_t *rtc_net_send_buf(struct rtc_net *net, size_t *cap);
int rtc_net_send_commit(struct rtc_net *net, const struct rtc_path *to, size_t n);
/* rtc_net_send_commit that also measures the datagram's delay: once the sendmmsg (or sendto, or
 * the ICE-TCP write) that carries it returns, now - since_us (seconds) goes to h. since_us is
 * normally rtc_net_rx_us: the arrival of the packet it forwards. h NULL or since_us 0: not
 * measured. A datagram dropped is not measured. One clock read per sendmmsg. */
int rtc_net_send_commit_timed(struct rtc_net *net, const struct rtc_path *to, size_t n,
                              struct metrics_hist *h, int64_t since_us);
/* When the datagram (or ICE-TCP read) being handed to ops->packet arrived: the time recvmmsg
 * returned its batch (one clock read per batch). 0 outside a read callback. */
int64_t rtc_net_rx_us(const struct rtc_net *net);
/* Sends what is queued now (the read callbacks call it; exposed for tests and owners that
 * send from elsewhere inside a wake-up). */
void rtc_net_flush(struct rtc_net *net);

/* The owner accepted this ICE-TCP connection (a valid STUN check): its deadline is lifted. */
void rtc_net_tcp_validate(struct rtc_net *net, uint32_t tcp_id);
/* Closes an ICE-TCP connection now (no tcp_closed call for it). */
void rtc_net_tcp_close(struct rtc_net *net, uint32_t tcp_id);

/* Same family, address and port (and the same ICE-TCP connection). */
bool rtc_path_equal(const struct rtc_path *a, const struct rtc_path *b);
/* A hash of the path for the owner's tables, seeded by the caller. */
uint64_t rtc_path_hash(const struct rtc_path *p, uint64_t seed);

#endif
