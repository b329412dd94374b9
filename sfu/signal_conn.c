/* The signaling server's connections (signal_priv.h): references, the queue of what waits to be
 * written (under the server's lock, from any thread), and the jobs that call the SFU on the
 * network loop's thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "sfu/signal_priv.h"

/* ---- connections ---- */

void signal_conn_ref(struct sconn *c)
{
    atomic_fetch_add(&c->refs, 1);
}

void signal_conn_drop_queue(struct sconn *c)
{
    for (struct out_msg *m = c->outq, *n; m; m = n) {
        n = m->next;
        free(m);
    }
    c->outq = NULL;
    c->outq_tail = &c->outq;
    c->queued = 0;
}

void signal_conn_unref(struct sconn *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    signal_conn_drop_queue(c);
    buf_free(&c->rx);
    free(c);
}

/* Under s->lock: appends a copy of the text; past max_queued the connection is closed instead
 * (a client that does not read its messages must not grow our memory). */
static void queue_locked(struct sconn *c, const void *text, size_t len)
{
    struct signal_server *s = c->s;
    if (!c->alive || c->close_code)
        return;
    if (c->queued + len > s->cfg.max_queued) {
        c->close_code = LWS_CLOSE_STATUS_POLICY_VIOLATION;
        snprintf(c->close_reason, sizeof(c->close_reason), "messages not read: output queue full");
        metrics_add(s->mx.closed[CW_SLOW], 1);
        signal_conn_drop_queue(c);
        return;
    }
    struct out_msg *m = xmalloc(sizeof(*m) + LWS_PRE + len);
    m->next = NULL;
    m->len = len;
    memcpy(m->data + LWS_PRE, text, len);
    *c->outq_tail = m;
    c->outq_tail = &m->next;
    c->queued += len;
}

/* Cuts a character that snprintf split at the end of text: a close reason must be UTF-8. */
static void utf8_trim_tail(char *text)
{
    size_t n = strlen(text), i = n;
    while (i > 0 && ((unsigned char)text[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)text[i - 1];
    size_t want = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (i - 1 + want > n)
        text[i - 1] = '\0';
}

static void close_locked(struct sconn *c, int code, const char *reason)
{
    if (!c->alive || c->close_code)
        return;
    c->close_code = code;
    snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason); /* 123 bytes at most */
    utf8_trim_tail(c->close_reason);
}

/* From the loop thread (or any but the service thread): marks c dirty and wakes the service
 * thread, which asks lws for a writable callback. */
static void wake_locked(struct sconn *c, bool *wake)
{
    if (c->alive && !c->dirty) {
        c->dirty = true;
        signal_conn_ref(c);
        c->dirty_next = c->s->dirty;
        c->s->dirty = c;
        *wake = true;
    }
}

/* Queues text (and a close, when code is not 0) for c. On the service thread (own) the writable
 * callback is asked for at once; elsewhere the service thread is woken. */
void signal_conn_send(struct sconn *c, const void *text, size_t len, int code, const char *reason,
                      bool own)
{
    struct signal_server *s = c->s;
    bool wake = false;
    pthread_mutex_lock(&s->lock);
    if (text)
        queue_locked(c, text, len);
    if (code)
        close_locked(c, code, reason);
    if (!own)
        wake_locked(c, &wake);
    pthread_mutex_unlock(&s->lock);
    if (own && c->wsi)
        lws_callback_on_writable(c->wsi);
    if (wake)
        lws_cancel_service(s->ctx);
}

void signal_send_error(struct sconn *c, const char *code, const char *message, bool own)
{
    struct buf b;
    buf_init(&b);
    signal_msg_error(&b, code, message);
    signal_conn_send(c, buf_head(&b), buf_size(&b), 0, NULL, own);
    buf_free(&b);
}

/* ---- the SFU's side of a member (loop thread) ---- */

static void member_send(void *opaque, const char *json, size_t len)
{
    signal_conn_send(opaque, json, len, 0, NULL, false);
}

static void member_closed(void *opaque, const char *reason)
{
    struct sconn *c = opaque;
    c->member = NULL; /* freed by the SFU right after this call */
    atomic_store(&c->join, JOIN_NONE);
    metrics_add(c->s->mx.closed[CW_MEMBER], 1);
    signal_conn_send(c, NULL, 0, CLOSE_MEMBER,
                     reason && reason[0] ? reason : "closed by the server", false);
    signal_conn_unref(c); /* the member's reference */
}

static const struct sfu_member_ops member_ops = {.send = member_send, .closed = member_closed};

/* ---- jobs (loop thread) ---- */

static void job_free(struct signal_job *j)
{
    signal_msg_clear(&j->msg);
    signal_conn_unref(j->c);
    free(j);
}

/* The error code a client gets for a refused join. */
static const char *access_code(int status)
{
    switch (status) {
    case -EKEYEXPIRED:
        return "token_expired";
    case -EACCES:
        return "unauthorized";
    case -ENOENT:
        return "no_such_room";
    case -EPERM:
        return "forbidden";
    case -ENOSYS:
        return "unavailable";
    default:
        return "join_refused";
    }
}

static const char *join_code(int err)
{
    switch (err) {
    case -EMFILE:
        return "room_full";
    case -ENOENT:
        return "resume_expired";
    case -EEXIST:
        return "already_connected";
    default:
        return "join_failed";
    }
}

static void do_join(struct signal_job *j)
{
    struct sconn *c = j->c;
    struct signal_server *s = c->s;
    char why[256] = "";
    if (c->dead) { /* the socket went while the token was checked */
        atomic_store(&c->join, JOIN_NONE);
        return;
    }
    if (j->status < 0) {
        atomic_store(&c->join, JOIN_NONE);
        signal_send_error(c, access_code(j->status), j->why[0] ? j->why : "join refused", false);
        return;
    }
    if (strcmp(j->id.room, j->msg.room) != 0) { /* an access function must not say otherwise */
        atomic_store(&c->join, JOIN_NONE);
        signal_send_error(c, "forbidden", "the token is for another room", false);
        return;
    }
    struct buf reply;
    buf_init(&reply);
    signal_conn_ref(c); /* the member's, from now: ops may be called during sfu_join */
    int rc = sfu_join(s->sfu, &j->id, j->msg.has_resume ? j->msg.resume : NULL, &member_ops, c,
                      &c->member, &reply, why, sizeof(why));
    if (rc < 0) {
        c->member = NULL;
        atomic_store(&c->join, JOIN_NONE);
        signal_send_error(c, join_code(rc), why[0] ? why : "the join failed", false);
        signal_conn_unref(c);
    } else {
        atomic_store(&c->join, JOIN_DONE);
        signal_conn_send(c, buf_head(&reply), buf_size(&reply), 0, NULL, false);
        log_info("ws", NULL, "%s joined room %s as %s%s", c->peer, j->id.room,
                 j->id.user[0] ? j->id.user : "a guest", j->msg.has_resume ? " (resumed)" : "");
    }
    buf_free(&reply);
}

static void do_member_job(struct signal_job *j)
{
    struct sconn *c = j->c;
    char why[256] = "";
    if (c->dead)
        return;
    if (!c->member) {
        signal_send_error(c, "not_joined", "join a room first", false);
        return;
    }
    struct buf out;
    buf_init(&out);
    int rc = 0;
    if (j->kind == JOB_OFFER) {
        struct buf answer;
        buf_init(&answer);
        rc = sfu_offer(c->member, j->msg.sdp, j->msg.sdp_len, &answer, why, sizeof(why));
        if (rc == 0)
            signal_msg_simple(&out, "answer", "sdp", (const char *)buf_head(&answer),
                              buf_size(&answer));
        buf_free(&answer);
        if (rc < 0)
            signal_send_error(c, "bad_offer", why[0] ? why : "the offer was refused", false);
    } else if (j->kind == JOB_TRICKLE) {
        rc = sfu_trickle(c->member, j->msg.frag, j->msg.frag_len, why, sizeof(why));
        if (rc < 0)
            signal_send_error(c, "bad_trickle", why[0] ? why : "the candidate was refused", false);
    } else if (j->kind == JOB_MUTE) {
        sfu_set_self_muted(c->member, j->msg.muted);
    } else if (j->kind == JOB_LEAVE) {
        sfu_leave(&c->member);
        c->member = NULL;
        atomic_store(&c->join, JOIN_NONE);
        signal_msg_simple(&out, "left", NULL, NULL, 0);
        metrics_add(c->s->mx.closed[CW_LEFT], 1);
        signal_conn_send(c, buf_head(&out), buf_size(&out), LWS_CLOSE_STATUS_NORMAL, "left", false);
        buf_clear(&out);
        signal_conn_unref(c); /* the member's reference */
    }
    if (buf_size(&out))
        signal_conn_send(c, buf_head(&out), buf_size(&out), 0, NULL, false);
    buf_free(&out);
}

void signal_run_job(void *arg)
{
    struct signal_job *j = arg;
    struct sconn *c = j->c;
    if (c->s->loop_stopping) {
        /* after signal_server_shutdown: sfu_destroy has ended (or will end) every member */
    } else if (j->kind == JOB_JOIN) {
        do_join(j);
    } else if (j->kind == JOB_DETACH) {
        c->dead = true;
        if (c->member) {
            sfu_detach(&c->member);
            c->member = NULL;
            signal_conn_unref(c); /* the member's reference */
        }
    } else {
        do_member_job(j);
    }
    job_free(j);
}

struct signal_job *signal_job_new(struct sconn *c, enum job_kind kind)
{
    struct signal_job *j = xcalloc(1, sizeof(*j));
    j->kind = kind;
    j->c = c;
    signal_conn_ref(c);
    return j;
}

/* The access check's answer, on any thread. */
void signal_access_done(void *ctx, int status, const struct sfu_identity *id, const char *why)
{
    struct signal_job *j = ctx;
    j->status = status;
    if (status == 0 && id)
        j->id = *id;
    else if (status == 0)
        j->status = -EACCES;
    snprintf(j->why, sizeof(j->why), "%s", why ? why : "");
    loop_post(j->c->s->loop, signal_run_job, j);
}
