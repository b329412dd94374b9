/* bench/voice_load: what the signaling side (voice_load_ws.c, libwebsockets and libcurl) and
 * the media side (voice_load.c, epoll) of the voice load client share. */
#ifndef KIBITKA_BENCH_VOICE_LOAD_H
#define KIBITKA_BENCH_VOICE_LOAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtc/dtls.h"

#define VL_MAX_MEMBERS 4000
#define VL_MAX_SLOTS 15

/* A member's life: the signaling thread moves it from VL_NEW to VL_ANSWERED (or VL_FAILED);
 * the media thread from VL_ANSWERED on. */
enum vl_state {
    VL_NEW,
    VL_WS,
    VL_JOINED,
    VL_OFFERED,
    VL_ANSWERED,
    VL_ICE,
    VL_DTLS,
    VL_MEDIA,
    VL_FAILED
};

struct vl_member {
    int idx;     /* global index */
    int speaker; /* its speaker number (payload id), or -1 for a listener */
    char room[32];
    char token[1100];
    char src_ip[24];         /* loopback source address (kibitka allows 256 sockets per address) */
    char ufrag[16], pwd[40]; /* ours */
    _Atomic int state;

    /* signaling thread */
    struct lws *wsi;
    char *rx;
    size_t rx_len, rx_cap;
    char *out; /* one message waiting for a writable callback, or NULL */
    bool ping_due;
    int nslots;

    /* from the answer (written before state becomes VL_ANSWERED) */
    char rufrag[64], rpwd[128];
    struct rtc_dtls_fingerprint fp;
    int level_id;

    /* media thread */
    int fd;
    struct rtc_dtls *dtls;
    struct rtc_srtp *srtp;
    int64_t next_check_us, next_rr_us;
    uint16_t seq;
    uint32_t ts, ssrc;
    uint64_t sent; /* packets sent in the current window */
};

struct vl_shared {
    struct vl_member *m; /* VL_MAX_MEMBERS */
    _Atomic int n_ready; /* members [0, n_ready) may be connected by the signaling thread */
    _Atomic bool stop;
    int ws_port;
    const char *dtls_fingerprint; /* ours, for the offers */
};

/* Starts the signaling thread (a libwebsockets client context). 0 or -1. */
int vl_ws_start(struct vl_shared *sh);
/* Wakes it: new members to connect (after n_ready grew). */
void vl_ws_wake(void);
void vl_ws_stop(void);

/* The HTTP API (libcurl): a public room, and a join token for a guest. 0 or -1 (printed). */
int vl_api_init(int http_port, const char *admin_token);
int vl_api_room(const char *name);
int vl_api_token(const char *room, const char *guest, bool may_speak, char *out, size_t cap);
/* GET /metrics into a malloc'd string (NULL on failure). */
char *vl_api_metrics(void);

#endif
