/* WHIP ingest: the resource side (whip.h). The HTTP threads check what a request shows and post
 * it to the network thread; there a POST has its key checked (auth/publish), claims the stream's
 * name and starts a WebRTC session; PATCH and DELETE find their session by id. */
#include "ingest/whip/whip.h"

#include <errno.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/publish.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/hub.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "ingest/whip/whip_priv.h"
#include "rtc/sdp.h"

#define SESSION_PREFIX "/whip/session/"
#define ID_LEN 24 /* hex characters of a session id: 96 random bits */
#define KEY_MAX 128

void whip_response_clear(struct whip_response *resp)
{
    free(resp->body);
    free(resp->location);
    free(resp->etag);
    free(resp->link);
    memset(resp, 0, sizeof(*resp));
}

/* A one-line text answer. */
static void answer(struct whip_response *resp, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void answer(struct whip_response *resp, unsigned status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    free(resp->body);
    size_t n = strlen(msg);
    resp->body = xmalloc(n + 2);
    memcpy(resp->body, msg, n);
    memcpy(resp->body + n, "\n", 2);
    resp->content_type = "text/plain; charset=utf-8";
    resp->status = status;
}

static void job_free(struct job *j)
{
    free(j->stream);
    if (j->key) /* a secret: not left behind in freed memory */
        memset(j->key, 0, strlen(j->key));
    free(j->key);
    free(j->body);
    free(j->if_match);
    free(j);
}

/* Hands the answer back to the HTTP thread and frees the job. */
static void job_finish(struct job *j)
{
    if (j->resp->status >= 400)
        metrics_add(j->w->mx.refused, 1);
    j->done(j->done_ctx);
    job_free(j);
}

/* ---- the network thread ---- */

static struct whip_session *session_find(struct whip *w, const char *id)
{
    for (struct whip_session *s = w->sessions; s; s = s->next)
        if (strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

/* Ends s's publish, unlinks and frees it. */
void whip_session_end(struct whip_session *s, const char *reason)
{
    struct whip *w = s->w;
    for (struct whip_session **pp = &w->sessions; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    log_info("whip", hub_name(s->hub), "publish from %s ended: %s", s->client, reason);
    whip_media_stop(s); /* the WebRTC session first: no packet reaches the hub after its end */
    hub_set_stop(s->hub, NULL, NULL);
    hub_end(s->hub);
    hub_unrefp(&s->hub);
    atomic_fetch_sub(&w->nsessions, 1);
    metrics_set(w->mx.sessions, atomic_load(&w->nsessions));
    free(s);
}

/* The API ended the stream (deleted, key rotated with end_live). */
static void stop_requested(void *opaque, const char *reason)
{
    whip_session_end(opaque, reason);
}

static void random_id(char out[ID_LEN + 1])
{
    uint8_t raw[ID_LEN / 2];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        abort(); /* no randomness: nothing here may guess ids */
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

static void set_etag(struct whip_session *s, struct whip_response *resp)
{
    char tag[64];
    snprintf(tag, sizeof(tag), "\"%s-%u\"", s->id, s->etag_gen);
    free(resp->etag);
    resp->etag = xstrdup(tag);
}

/* Claims name for the job's publish and starts its WebRTC session. */
static void start_publish(struct job *j, const char *name, const struct hub_publisher *pub)
{
    struct whip *w = j->w;
    struct hub *hub;
    int err = hub_registry_claim(w->cfg.hubs, name, &hub);
    if (err == -EBUSY) {
        answer(j->resp, 409, "stream '%s' is already live", name);
        return;
    }
    if (err < 0) {
        answer(j->resp, 400, "bad stream name '%s'", name);
        return;
    }
    if (pub) /* before hub_start: sinks (the recorder) read it at their start */
        hub_set_publisher(hub, pub);
    hub_set_protocol(hub, "whip");
    struct whip_session *s = xcalloc(1, sizeof(*s));
    s->w = w;
    s->hub = hub;
    random_id(s->id);
    snprintf(s->client, sizeof(s->client), "%s", j->client);
    s->next = w->sessions;
    w->sessions = s;
    atomic_fetch_add(&w->nsessions, 1);
    metrics_set(w->mx.sessions, atomic_load(&w->nsessions));
    hub_set_stop(hub, stop_requested, s);
    char why[256] = "";
    err = whip_media_start(s, j->body, j->body_len, j->resp, why, sizeof(why));
    if (err < 0) {
        whip_session_end(s, why);
        answer(j->resp, err == -EINVAL ? 400 : err == -EBUSY ? 503 : 500, "%s", why);
        return;
    }
    char loc[sizeof(SESSION_PREFIX) + ID_LEN];
    snprintf(loc, sizeof(loc), SESSION_PREFIX "%s", s->id);
    j->resp->location = xstrdup(loc);
    set_etag(s, j->resp);
    if (w->cfg.nice_links > 0) { /* RFC 9725 §4.6: the ICE servers the client may use */
        struct buf links;
        buf_init(&links);
        for (int i = 0; i < w->cfg.nice_links; i++)
            buf_printf(&links, "%s%s", i ? ", " : "", w->cfg.ice_links[i]);
        j->resp->link = xstrndup((const char *)buf_head(&links), buf_size(&links));
        buf_free(&links);
    }
    j->resp->status = 201;
    log_info("whip", name, "publishing from %s (session %s)", s->client, s->id);
}

static void key_checked(void *arg, int err, const char *name)
{
    struct job *j = arg;
    struct whip *w = j->w;
    for (struct job **pp = &w->checking; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    const struct hub_publisher *pub =
        err == 0 && j->auth_req ? publish_auth_req_publisher(j->auth_req) : NULL;
    j->auth_req = NULL;
    if (err == -ENOENT) {
        answer(j->resp, 401, "invalid stream key (key not shown)");
        j->resp->www_authenticate = true;
    } else if (err < 0) {
        answer(j->resp, 503, "the stream key could not be checked (database error)");
    } else if (j->stream && strcmp(j->stream, name) != 0) {
        answer(j->resp, 403, "this key publishes stream '%s', not '%s'", name, j->stream);
    } else {
        start_publish(j, name, pub);
    }
    job_finish(j);
}

static void do_post(struct job *j)
{
    struct whip *w = j->w;
    if (w->cfg.open_publish) {
        const char *name = j->stream ? j->stream : j->key;
        if (!hub_name_valid(name))
            answer(j->resp, 400, "the stream name must be 1 to 64 characters of a-z 0-9 _ -");
        else
            start_publish(j, name, NULL);
        job_finish(j);
        return;
    }
    if (!w->cfg.auth) {
        answer(j->resp, 401, "publishing needs a stream key or --open-publish");
        j->resp->www_authenticate = true;
        job_finish(j);
        return;
    }
    j->next = w->checking;
    w->checking = j;
    j->auth_req = publish_auth_check(w->cfg.auth, j->key, key_checked, j);
}

/* If-Match against s's current ETag: 0, or the status to answer. */
static unsigned check_if_match(const struct whip_session *s, const char *if_match)
{
    if (!if_match)
        return 428;
    if (strcmp(if_match, "*") == 0)
        return 0;
    char tag[64];
    snprintf(tag, sizeof(tag), "\"%s-%u\"", s->id, s->etag_gen);
    return strstr(if_match, tag) ? 0 : 412;
}

/* A PATCH whose If-Match matched (RFC 9725 §4.3): trickle candidates (204; an ICE-lite agent
 * needs none of them) or an ICE restart (200 with our new credentials and a new ETag, which
 * the next PATCH must name). */
static void do_patch(struct whip_session *s, struct job *j)
{
    struct sdp_frag *f = xcalloc(1, sizeof(*f)); /* tens of KB: not on the loop's stack */
    char err[SDP_ERR_LEN];
    if (sdp_frag_parse(j->body ? j->body : "", j->body_len, f, err, sizeof(err)) < 0) {
        answer(j->resp, 400, "bad trickle fragment: %s", err);
        free(f);
        return;
    }
    bool restarted = false;
    char why[256] = "";
    struct buf frag;
    buf_init(&frag);
    int r = rtc_session_trickle(s->rtc, f, &restarted, &frag, why, sizeof(why));
    free(f);
    if (r < 0) {
        answer(j->resp, 400, "%s", why[0] ? why : "the fragment could not be applied");
    } else if (restarted) {
        s->etag_gen++; /* the old ETag names the old ICE session: it is stale from now on */
        j->resp->body = xstrndup((const char *)buf_head(&frag), buf_size(&frag));
        j->resp->content_type = "application/trickle-ice-sdpfrag";
        set_etag(s, j->resp);
        j->resp->status = 200;
        log_info("whip", hub_name(s->hub), "ICE restart from %s (session %s)", j->client, s->id);
    } else {
        j->resp->status = 204;
    }
    buf_free(&frag);
}

static void on_job(struct job *j)
{
    struct whip *w = j->w;
    if (j->kind == JOB_POST) {
        do_post(j);
        return;
    }
    struct whip_session *s = session_find(w, j->id);
    if (!s) {
        answer(j->resp, 404, "no such WHIP session");
    } else if (j->kind == JOB_DELETE) {
        whip_session_end(s, "DELETE from the publisher");
        j->resp->status = 200;
    } else {
        unsigned st = check_if_match(s, j->if_match);
        if (st == 428)
            answer(j->resp, 428, "a PATCH needs If-Match with the session's ETag");
        else if (st == 412)
            answer(j->resp, 412, "the ETag in If-Match is not the session's current one");
        else
            do_patch(s, j);
    }
    job_finish(j);
}

/* Takes the queued requests (loop_post from enqueue). */
static void drain(void *arg)
{
    struct whip *w = arg;
    pthread_mutex_lock(&w->lock);
    struct job *j = w->incoming;
    w->incoming = NULL;
    w->incoming_tail = &w->incoming;
    pthread_mutex_unlock(&w->lock);
    while (j) {
        struct job *next = j->next;
        j->next = NULL;
        on_job(j);
        j = next;
    }
}

/* ---- the HTTP threads ---- */

/* Queues j for the network thread: WHIP_PENDING, or 0 with a 503 when the server stops. */
static int enqueue(struct whip *w, struct job *j)
{
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        pthread_mutex_unlock(&w->lock);
        j->done = NULL; /* answered synchronously: the caller sends resp itself */
        answer(j->resp, 503, "the server is stopping");
        metrics_add(w->mx.refused, 1);
        job_free(j);
        return 0;
    }
    bool wake = !w->incoming;
    *w->incoming_tail = j;
    w->incoming_tail = &j->next;
    pthread_mutex_unlock(&w->lock);
    if (wake)
        loop_post(w->loop, drain, w);
    return WHIP_PENDING;
}

/* "application/sdp; charset=x" has media type application/sdp. */
static bool media_type_is(const char *ct, const char *want)
{
    if (!ct)
        return false;
    size_t n = strlen(want);
    if (strncasecmp(ct, want, n) != 0)
        return false;
    return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* The bearer token of an Authorization header, or NULL. */
static const char *bearer(const char *auth)
{
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return NULL;
    auth += 7;
    while (*auth == ' ')
        auth++;
    return *auth ? auth : NULL;
}

static struct job *job_new(struct whip *w, enum job_kind kind, const struct whip_request *req,
                           struct whip_response *resp)
{
    struct job *j = xcalloc(1, sizeof(*j));
    j->w = w;
    j->kind = kind;
    j->resp = resp;
    j->done = req->done;
    j->done_ctx = req->done_ctx;
    snprintf(j->client, sizeof(j->client), "%s", req->client ? req->client : "?");
    if (req->body_len) {
        j->body = xmalloc(req->body_len + 1);
        memcpy(j->body, req->body, req->body_len);
        j->body[req->body_len] = '\0';
        j->body_len = req->body_len;
    }
    if (req->if_match)
        j->if_match = xstrdup(req->if_match);
    return j;
}

static int http_post(struct whip *w, const struct whip_request *req, const char *stream,
                     struct whip_response *resp)
{
    if (!media_type_is(req->content_type, "application/sdp")) {
        answer(resp, 415, "a WHIP offer is sent with Content-Type: application/sdp");
        return 0;
    }
    const char *key = bearer(req->authorization);
    if (!key || strlen(key) > KEY_MAX) {
        answer(resp, 401, "publishing needs Authorization: Bearer <stream key>");
        resp->www_authenticate = true;
        return 0;
    }
    if (req->body_len == 0 || memchr(req->body, '\0', req->body_len)) {
        answer(resp, 400, "the body must be an SDP offer");
        return 0;
    }
    if (stream && !hub_name_valid(stream)) {
        answer(resp, 400, "the stream name must be 1 to 64 characters of a-z 0-9 _ -");
        return 0;
    }
    if (!req->done) {
        answer(resp, 500, "internal error: no completion callback");
        return 0;
    }
    struct job *j = job_new(w, JOB_POST, req, resp);
    j->key = xstrdup(key);
    j->stream = stream ? xstrdup(stream) : NULL;
    return enqueue(w, j);
}

int whip_http(struct whip *w, const struct whip_request *req, struct whip_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    metrics_add(w->mx.requests, 1);
    const char *path = req->path;
    if (strncmp(path, SESSION_PREFIX, strlen(SESSION_PREFIX)) == 0) {
        const char *id = path + strlen(SESSION_PREFIX);
        bool del = strcmp(req->method, "DELETE") == 0, patch = strcmp(req->method, "PATCH") == 0;
        if (!del && !patch) {
            answer(resp, 405, "a WHIP session takes PATCH and DELETE");
            resp->allow = "PATCH, DELETE, OPTIONS";
            return 0;
        }
        if (strlen(id) != ID_LEN || strspn(id, "0123456789abcdef") != ID_LEN) {
            answer(resp, 404, "no such WHIP session");
            return 0;
        }
        if (patch && !media_type_is(req->content_type, "application/trickle-ice-sdpfrag")) {
            answer(resp, 415, "a PATCH is sent with Content-Type: application/trickle-ice-sdpfrag");
            resp->accept_patch = "application/trickle-ice-sdpfrag";
            return 0;
        }
        if (!req->done) {
            answer(resp, 500, "internal error: no completion callback");
            return 0;
        }
        struct job *j = job_new(w, del ? JOB_DELETE : JOB_PATCH, req, resp);
        memcpy(j->id, id, ID_LEN + 1);
        return enqueue(w, j);
    }
    const char *stream = NULL;
    if (strcmp(path, "/whip") != 0 && strcmp(path, "/whip/") != 0) {
        stream = path + strlen("/whip/");
        if (strchr(stream, '/')) {
            answer(resp, 404, "not a WHIP endpoint");
            return 0;
        }
    }
    if (strcmp(req->method, "POST") != 0) {
        answer(resp, 405, "the WHIP endpoint takes POST with an SDP offer");
        resp->allow = "POST, OPTIONS";
        return 0;
    }
    return http_post(w, req, stream, resp);
}

/* ---- life cycle ---- */

struct whip *whip_create(struct loop *loop, const struct whip_config *cfg)
{
    struct whip *w = xcalloc(1, sizeof(*w));
    w->loop = loop;
    w->cfg = *cfg;
    if (cfg->nice_links > 0) {
        w->ice_links = xcalloc((size_t)cfg->nice_links, sizeof(char *));
        for (int i = 0; i < cfg->nice_links; i++)
            w->ice_links[i] = xstrdup(cfg->ice_links[i]);
    }
    w->cfg.ice_links = (const char *const *)w->ice_links;
    pthread_mutex_init(&w->lock, NULL);
    w->incoming_tail = &w->incoming;
    w->mx.requests = metrics_counter(cfg->metrics, "kibitka_whip_requests_total",
                                     "HTTP requests under /whip.");
    w->mx.refused = metrics_counter(cfg->metrics, "kibitka_whip_refused_total",
                                    "WHIP requests answered with an error status.");
    w->mx.sessions = metrics_gauge(cfg->metrics, "kibitka_whip_sessions", "Live WHIP sessions.");
    return w;
}

void whip_shutdown(struct whip *w)
{
    pthread_mutex_lock(&w->lock);
    bool again = w->stopping;
    w->stopping = true;
    struct job *j = w->incoming;
    w->incoming = NULL;
    w->incoming_tail = &w->incoming;
    pthread_mutex_unlock(&w->lock);
    if (again)
        return;
    while (j) {
        struct job *next = j->next;
        answer(j->resp, 503, "the server is stopping");
        job_finish(j);
        j = next;
    }
    while (w->sessions)
        whip_session_end(w->sessions, "server stopping");
    while (w->checking) {
        j = w->checking;
        w->checking = j->next;
        publish_auth_cancel(w->cfg.auth, j->auth_req);
        answer(j->resp, 503, "the server is stopping");
        job_finish(j);
    }
}

void whip_destroy(struct whip **pw)
{
    struct whip *w = *pw;
    if (!w)
        return;
    whip_shutdown(w);
    for (int i = 0; i < w->cfg.nice_links; i++)
        free(w->ice_links[i]);
    free(w->ice_links);
    pthread_mutex_destroy(&w->lock);
    free(w);
    *pw = NULL;
}

int whip_session_count(const struct whip *w)
{
    return atomic_load(&((struct whip *)w)->nsessions);
}
