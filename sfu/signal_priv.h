/* The signaling server's insides (signal.h), shared by signal.c (libwebsockets' side: sockets,
 * the service thread, the life cycle) and signal_conn.c (connections, their queues, and the jobs
 * that run on the loop thread). Not for other folders. */
#ifndef KIBITKA_SFU_SIGNAL_PRIV_H
#define KIBITKA_SFU_SIGNAL_PRIV_H

#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "sfu/signal.h"
#include "sfu/signal_msg.h"

#define SIGNAL_PATH "/rtc"
#define CLOSE_MEMBER 4000 /* the SFU ended the member: an application close code */

enum join_state { JOIN_NONE, JOIN_PENDING, JOIN_DONE };

enum close_why { CW_RATE, CW_TOO_LARGE, CW_PING, CW_SLOW, CW_MEMBER, CW_LEFT, CW_N };

struct out_msg {
    struct out_msg *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes of room for lws, then the text */
};

struct sconn {
    struct signal_server *s;
    atomic_int refs;
    atomic_int join; /* enum join_state */
    /* The service thread's. */
    struct lws *wsi; /* NULL once the socket closed */
    struct buf rx;   /* the message being received */
    double tokens;
    int64_t refill_us, heard_us, pinged_us;
    bool ping_due, closing;
    char peer[64];
    struct sconn *prev, *next; /* every open socket */
    /* Under s->lock. */
    bool alive; /* the socket is open: queue and wake, else drop */
    struct out_msg *outq, **outq_tail;
    size_t queued;
    int close_code;
    char close_reason[124];
    bool dirty; /* on s->dirty (which holds a reference) */
    struct sconn *dirty_next;
    /* The loop thread's. */
    struct sfu_member *member; /* set by sfu_join, cleared by leave, detach and ops->closed */
    bool dead;                 /* the socket went (the detach job ran) */
};

struct signal_server {
    struct signal_config cfg;
    char *addr;
    struct lws_context *ctx;
    int port;
    struct loop *loop;
    struct sfu *sfu;
    sfu_access_fn access;
    void *access_opaque;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;   /* the service thread ends */
    bool loop_stopping; /* the loop thread's: jobs only free */
    pthread_mutex_t lock;
    struct sconn *dirty; /* under lock: connections with something to write or a close */
    /* The service thread's. */
    struct sconn *conns;
    int nsock;
    int64_t cap_logged_us;
    struct {
        atomic_int_fast64_t *sockets, *messages, *refused, *closed[CW_N];
    } mx;
};

enum job_kind { JOB_JOIN, JOB_OFFER, JOB_TRICKLE, JOB_MUTE, JOB_LEAVE, JOB_DETACH };

/* Work for the loop thread about one connection; holds a reference to it. */
struct signal_job {
    enum job_kind kind;
    struct sconn *c;
    struct signal_msg msg;
    int status; /* JOB_JOIN: the access check's answer */
    struct sfu_identity id;
    char why[256];
};

void signal_conn_ref(struct sconn *c);
/* Frees what waits to be written (under s->lock, or with c unreachable). */
void signal_conn_drop_queue(struct sconn *c);
/* Frees c with its last reference (any thread). */
void signal_conn_unref(struct sconn *c);
/* Queues text (and a close, when code is not 0) for c. On the service thread (own) the writable
 * callback is asked for at once; elsewhere the service thread is woken. */
void signal_conn_send(struct sconn *c, const void *text, size_t len, int code, const char *reason,
                      bool own);
void signal_send_error(struct sconn *c, const char *code, const char *message, bool own);

/* A job about c (it takes a reference), for loop_post(s->loop, signal_run_job, job). */
struct signal_job *signal_job_new(struct sconn *c, enum job_kind kind);
void signal_run_job(void *job);
/* The access check's answer (an sfu_access_done; ctx is a JOB_JOIN job): posts it to the loop. */
void signal_access_done(void *ctx, int status, const struct sfu_identity *id, const char *why);

#endif
