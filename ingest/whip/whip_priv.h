/* What whip.c (the resource side) and whip_media.c (the WebRTC session and the hub) share. */
#ifndef KIBITKA_INGEST_WHIP_PRIV_H
#define KIBITKA_INGEST_WHIP_PRIV_H

#include <libavcodec/avcodec.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/hub.h"
#include "ingest/whip/whip.h"
#include "rtc/depack.h"
#include "rtc/rtcp.h"
#include "rtc/transport.h"

#define SESSION_PREFIX "/whip/session/"
#define ID_LEN 24 /* hex characters of a session id: 96 random bits */
#define KEY_MAX 128
#define WHIP_MAX_TRACKS 2
#define WHIP_HOLD_MAX 600 /* frames held per track before the stream can start */

enum job_kind { JOB_POST, JOB_PATCH, JOB_DELETE };

/* A request on its way to, and through, the network thread. Owns copies of what it needs. */
struct job {
    struct whip *w;
    enum job_kind kind;
    char *stream; /* POST /whip/<stream>, or NULL */
    char *key;    /* the bearer token (POST) */
    char *body;
    size_t body_len;
    char *if_match;
    char id[ID_LEN + 1]; /* PATCH, DELETE */
    char client[64];
    struct whip_response *resp;
    void (*done)(void *done_ctx);
    void *done_ctx;
    struct publish_auth_req *auth_req; /* while the key is being checked */
    struct job *next;                  /* in w->checking */
};

/* One inbound track: its depacketizer, where its timestamps go, frames held before the start. */
struct whip_track {
    int mline;
    enum AVMediaType type;
    struct depack *dp;
    AVRational tb;
    int hub_index;
    bool ts_started;
    uint32_t last_ts;
    int64_t ts_ext;   /* the last frame's RTP timestamp, unwrapped */
    int64_t rtp_base; /* unwrapped timestamp that maps to pts offset */
    int64_t offset;   /* pts of rtp_base, in tb */
    struct rtcp_ntp_map ntp;
    /* Video: the unwrapped RTP timestamps of the last keyframe and of the last keyframe
     * request made because keyframes were too far apart (see ask_keyframe in whip_media.c). */
    bool key_seen;
    int64_t key_ext, key_asked_ext;
    AVPacket *held[WHIP_HOLD_MAX];
    int64_t held_ext[WHIP_HOLD_MAX], held_arrival_us[WHIP_HOLD_MAX];
    int nheld;
};

struct whip_session {
    struct whip *w;
    char id[ID_LEN + 1];
    unsigned etag_gen;
    struct hub *hub;
    char client[64];
    struct rtc_session *rtc;
    struct whip_track tracks[WHIP_MAX_TRACKS];
    int ntracks;
    bool started; /* hub_start done */
    int64_t first_packet_us;
    struct whip_session *next;
};

struct whip {
    struct loop *loop;
    struct whip_config cfg;
    char **ice_links;
    struct whip_session *sessions; /* network thread only */
    struct job *checking;          /* POSTs waiting for their key check */
    /* Requests from the HTTP threads, oldest first, until the network thread takes them. Under
     * lock, with stopping: once whip_shutdown has set it, whip_http answers 503 itself, so no
     * HTTP connection stays suspended on a request nobody will answer (MHD aborts at stop when
     * one does). */
    pthread_mutex_t lock;
    struct job *incoming, **incoming_tail;
    bool stopping;
    atomic_int nsessions;
    struct {
        atomic_int_fast64_t *requests, *refused, *sessions;
    } mx;
};


/* whip_media.c */
/* Starts the WebRTC session of s from the offer and writes the answer into resp (body, content
 * type). 0, or a negative errno with the reason in why (-EINVAL: a bad offer, 400). */
int whip_media_start(struct whip_session *s, const char *offer, size_t len,
                     struct whip_response *resp, char *why, size_t whylen);
/* Frees s's media state (the WebRTC session first). */
void whip_media_stop(struct whip_session *s);
/* whip.c */
void whip_session_end(struct whip_session *s, const char *reason);

#endif
