/* Webhooks: the hub sink that turns stream start and end into events, the bounded queue, and
 * the worker that POSTs them with libcurl. See webhook.h for the contract. */
#include "events/webhook.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "db/db.h"

#define DEFAULT_QUEUE_MAX 1000
#define DEFAULT_MAX_ATTEMPTS 5
#define DEFAULT_BACKOFF_MS 1000
#define CONNECT_TIMEOUT_MS 5000L
#define TOTAL_TIMEOUT_MS 10000L

struct event {
    struct event *next;
    char id[33]; /* 16 random bytes in hex: the delivery id */
    char *type;
    json_t *data;
    int64_t created_us;
};

struct webhook {
    char **urls;
    int nurls;
    char *secret; /* "" when none */
    int queue_max, max_attempts, backoff_ms;
    struct webhook_metrics mx;

    pthread_mutex_t mu;
    pthread_cond_t cond; /* an event was queued, or stop */
    struct event *head, *tail;
    int count;
    atomic_bool stop;
    bool worker_started;
    pthread_t worker;
};

void webhook_metrics_register(struct metrics *m, struct webhook_metrics *mx)
{
    mx->delivered =
        metrics_counter(m, "kibitka_webhook_delivered_total", "Webhook deliveries answered 2xx.");
    mx->failed = metrics_counter(m, "kibitka_webhook_failed_total",
                                 "Webhook deliveries refused (4xx) or given up after retries.");
    mx->dropped = metrics_counter(m, "kibitka_webhook_dropped_total",
                                  "Webhook events dropped unsent (queue full, or the server "
                                  "stopping).");
}

/* ---- body and signature ---- */

char *webhook_body(const char *id, const char *type, int64_t created_wall_us, const json_t *data)
{
    char created[32];
    clock_format_iso8601(created_wall_us, created);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "created_at", json_string(created));
    json_object_set(o, "data", (json_t *)data);
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!body)
        abort(); /* out of memory: decided once, as in core/alloc.h */
    return body;
}

void webhook_sign(const char *secret, const char *body, size_t len, char out[WEBHOOK_SIGNATURE_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, md, &mdlen);
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256=", 7);
    for (unsigned int i = 0; i < mdlen && i < 32; i++) {
        out[7 + 2 * i] = hex[md[i] >> 4];
        out[8 + 2 * i] = hex[md[i] & 15];
    }
    out[7 + 64] = '\0';
}

/* ---- the queue ---- */

static void event_free(struct event *ev)
{
    if (!ev)
        return;
    json_decref(ev->data);
    free(ev->type);
    free(ev);
}

static void make_id(char out[33])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1) {
        /* Not secret, only unique: the clock and a counter will do. */
        static atomic_uint_fast64_t seq;
        uint64_t t = (uint64_t)clock_wall_us(), s = atomic_fetch_add(&seq, 1);
        memcpy(b, &t, 8);
        memcpy(b + 8, &s, 8);
    }
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

void webhook_emit(struct webhook *wh, const char *type, json_t *data)
{
    struct event *ev = xcalloc(1, sizeof(*ev));
    make_id(ev->id);
    ev->type = xstrdup(type);
    ev->data = data;
    ev->created_us = clock_wall_us();

    struct event *dropped = NULL;
    pthread_mutex_lock(&wh->mu);
    if (wh->count >= wh->queue_max) {
        dropped = wh->head;
        wh->head = dropped->next;
        if (!wh->head)
            wh->tail = NULL;
        wh->count--;
    }
    if (wh->tail)
        wh->tail->next = ev;
    else
        wh->head = ev;
    wh->tail = ev;
    wh->count++;
    pthread_cond_signal(&wh->cond);
    pthread_mutex_unlock(&wh->mu);
    if (dropped) {
        metrics_add(wh->mx.dropped, 1);
        log_warn("webhook", NULL, "queue full (%d events): dropped the oldest, %s %s",
                 wh->queue_max, dropped->type, dropped->id);
        event_free(dropped);
    }
}

/* Waits until an event is queued or stop; returns it, or NULL on stop. */
static struct event *queue_pop(struct webhook *wh)
{
    pthread_mutex_lock(&wh->mu);
    while (!wh->head && !atomic_load(&wh->stop))
        pthread_cond_wait(&wh->cond, &wh->mu);
    struct event *ev = NULL;
    if (!atomic_load(&wh->stop)) {
        ev = wh->head;
        wh->head = ev->next;
        if (!wh->head)
            wh->tail = NULL;
        wh->count--;
    }
    pthread_mutex_unlock(&wh->mu);
    return ev;
}

/* Sleeps ms or until stop; returns false on stop. */
static bool backoff_wait(struct webhook *wh, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = (int64_t)ts.tv_nsec + (ms % 1000) * 1000000;
    ts.tv_sec += (time_t)(ms / 1000 + ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    pthread_mutex_lock(&wh->mu);
    while (!atomic_load(&wh->stop))
        if (pthread_cond_timedwait(&wh->cond, &wh->mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&wh->mu);
    return !atomic_load(&wh->stop);
}

/* ---- delivery ---- */

static size_t discard(char *ptr, size_t size, size_t nmemb, void *opaque)
{
    return size * nmemb;
}

/* libcurl calls this at least once a second during a transfer: abort it on stop. */
static int on_progress(void *opaque, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct webhook *wh = opaque;
    return atomic_load(&wh->stop) ? 1 : 0;
}

/* One POST. Returns the HTTP status, or -1 when no response came (errbuf says why). */
static long post(struct webhook *wh, CURL *curl, const char *url, struct curl_slist *headers,
                 const char *body, char errbuf[CURL_ERROR_SIZE])
{
    curl_easy_reset(curl); /* keeps the connection cache: retries and next events reuse it */
    errbuf[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, wh);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "kibitka/" KIBITKA_VERSION);
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        if (!errbuf[0])
            snprintf(errbuf, CURL_ERROR_SIZE, "%s", curl_easy_strerror(rc));
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

static bool retryable(long status)
{
    return status < 0 || status == 429 || status >= 500;
}

/* Delivers one event to one URL, with retries. Returns false when stopping. */
static bool deliver_to(struct webhook *wh, CURL *curl, const struct event *ev, const char *url,
                       struct curl_slist *headers, const char *body)
{
    char errbuf[CURL_ERROR_SIZE];
    for (int attempt = 1; attempt <= wh->max_attempts; attempt++) {
        long status = post(wh, curl, url, headers, body, errbuf);
        if (atomic_load(&wh->stop))
            return false;
        if (status >= 200 && status < 300) {
            log_debug("webhook", NULL, "%s %s delivered to %s (%ld, attempt %d)", ev->type, ev->id,
                      url, status, attempt);
            metrics_add(wh->mx.delivered, 1);
            return true;
        }
        char why[CURL_ERROR_SIZE + 32];
        if (status < 0)
            snprintf(why, sizeof(why), "%s", errbuf);
        else
            snprintf(why, sizeof(why), "HTTP %ld", status);
        if (!retryable(status)) {
            log_error("webhook", NULL, "%s %s to %s refused (%s); not retried", ev->type, ev->id,
                      url, why);
            metrics_add(wh->mx.failed, 1);
            return true;
        }
        if (attempt == wh->max_attempts) {
            log_error("webhook", NULL, "%s %s to %s failed %d times (last: %s); dropped", ev->type,
                      ev->id, url, attempt, why);
            metrics_add(wh->mx.failed, 1);
            return true;
        }
        int64_t wait = (int64_t)wh->backoff_ms << (attempt - 1);
        log_warn("webhook", NULL, "%s %s to %s failed (%s); retry %d in %lld ms", ev->type, ev->id,
                 url, why, attempt, (long long)wait);
        if (!backoff_wait(wh, wait))
            return false;
    }
    return true;
}

static void deliver(struct webhook *wh, CURL *curl, const struct event *ev)
{
    char *body = webhook_body(ev->id, ev->type, ev->created_us, ev->data);
    char line[160];
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    snprintf(line, sizeof(line), "X-Kibitka-Event: %s", ev->type);
    headers = curl_slist_append(headers, line);
    snprintf(line, sizeof(line), "X-Kibitka-Delivery: %s", ev->id);
    headers = curl_slist_append(headers, line);
    if (wh->secret[0]) {
        char sig[WEBHOOK_SIGNATURE_LEN];
        webhook_sign(wh->secret, body, strlen(body), sig);
        snprintf(line, sizeof(line), "X-Kibitka-Signature: %s", sig);
        headers = curl_slist_append(headers, line);
    }
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    if (!headers)
        abort();
    for (int i = 0; i < wh->nurls; i++)
        if (!deliver_to(wh, curl, ev, wh->urls[i], headers, body))
            break;
    curl_slist_free_all(headers);
    free(body);
}

static void *worker_main(void *opaque)
{
    struct webhook *wh = opaque;
    CURL *curl = curl_easy_init();
    if (!curl) {
        log_error("webhook", NULL, "libcurl cannot start; webhooks are off");
        return NULL;
    }
    struct event *ev;
    while ((ev = queue_pop(wh))) {
        deliver(wh, curl, ev);
        event_free(ev);
    }
    curl_easy_cleanup(curl);
    return NULL;
}

/* ---- the hub sink: stream.live and stream.ended ---- */

struct sink {
    struct webhook *wh;
    char name[HUB_NAME_MAX + 1];
    int64_t started_us;
    bool live;
};

static json_t *time_json(int64_t wall_us)
{
    char text[32];
    clock_format_iso8601(wall_us, text);
    return json_string(text);
}

static json_t *tracks_json(const struct hub_track *tracks, int ntracks)
{
    json_t *a = json_array();
    for (int i = 0; i < ntracks; i++) {
        const AVCodecParameters *p = tracks[i].par;
        json_t *t = json_object();
        bool video = p->codec_type == AVMEDIA_TYPE_VIDEO;
        json_object_set_new(t, "type", json_string(video ? "video" : "audio"));
        json_object_set_new(t, "codec", json_string(avcodec_get_name(p->codec_id)));
        if (video) {
            json_object_set_new(t, "width", json_integer(p->width));
            json_object_set_new(t, "height", json_integer(p->height));
        } else {
            json_object_set_new(t, "sample_rate", json_integer(p->sample_rate));
            json_object_set_new(t, "channels", json_integer(p->ch_layout.nb_channels));
        }
        json_array_append_new(a, t);
    }
    return a;
}

static int sink_start(void *opaque, struct hub *hub, const struct hub_track *tracks, int ntracks)
{
    struct sink *s = opaque;
    s->started_us = hub_started_wall_us(hub);
    s->live = true;
    json_t *d = json_object();
    json_object_set_new(d, "name", json_string(s->name));
    json_object_set_new(d, "started_at", time_json(s->started_us));
    json_object_set_new(d, "tracks", tracks_json(tracks, ntracks));
    webhook_emit(s->wh, "stream.live", d);
    return 0;
}

static void sink_end(void *opaque)
{
    struct sink *s = opaque;
    if (!s->live)
        return;
    int64_t now = clock_wall_us();
    json_t *d = json_object();
    json_object_set_new(d, "name", json_string(s->name));
    json_object_set_new(d, "started_at", time_json(s->started_us));
    json_object_set_new(d, "ended_at", time_json(now));
    json_object_set_new(d, "duration_seconds",
                        json_real((double)((now - s->started_us) / 1000) / 1e3));
    webhook_emit(s->wh, "stream.ended", d);
    s->live = false;
}

static void sink_destroy(void *opaque)
{
    free(opaque);
}

static const struct hub_sink_ops sink_ops = {
    .name = "webhook",
    .start = sink_start,
    .packet = NULL, /* only the start and the end matter */
    .end = sink_end,
    .destroy = sink_destroy,
};

static void on_hub(void *opaque, struct hub *hub)
{
    struct sink *s = xcalloc(1, sizeof(*s));
    s->wh = opaque;
    snprintf(s->name, sizeof(s->name), "%s", hub_name(hub));
    hub_add_sink(hub, &sink_ops, s);
}

/* ---- recording.ready (queued by the upload worker, recorder/upload.c) ---- */

void webhook_emit_recording_ready(struct webhook *wh, const struct db_recording *r,
                                  const struct db_chunk *chunks, size_t n)
{
    json_t *d = json_object();
    json_object_set_new(d, "id", json_string(r->id));
    json_object_set_new(d, "stream", json_string(r->stream_name));
    json_object_set_new(d, "user", json_string(r->user_name));
    json_object_set_new(d, "started_at", time_json(r->started_at));
    json_object_set_new(d, "ended_at", time_json(r->ended_at ? r->ended_at : r->started_at));
    json_object_set_new(d, "duration_seconds", json_real((double)(r->duration_us / 1000) / 1e3));
    json_object_set_new(d, "bytes", json_integer(r->bytes));
    /* Media the recording misses (a full disk paused it), as GET /api/recordings/{id} says. */
    json_object_set_new(d, "incomplete", json_boolean(r->gap_us > 0));
    json_object_set_new(d, "gap_seconds", json_real((double)r->gap_us / 1e6));
    json_t *a = json_array(), *gaps = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_object();
        json_object_set_new(c, "seq", json_integer(chunks[i].seq));
        json_object_set_new(c, "key", json_string(chunks[i].object_key));
        json_object_set_new(c, "bytes", json_integer(chunks[i].bytes));
        json_object_set_new(c, "duration_seconds",
                            json_real((double)(chunks[i].duration_us / 1000) / 1e3));
        json_object_set_new(c, "gap_before_seconds",
                            json_real((double)chunks[i].gap_before_us / 1e6));
        json_array_append_new(a, c);
        if (chunks[i].gap_before_us > 0) {
            json_t *g = json_object();
            json_object_set_new(g, "before_chunk", json_integer(chunks[i].seq));
            json_object_set_new(g, "seconds", json_real((double)chunks[i].gap_before_us / 1e6));
            json_array_append_new(gaps, g);
        }
    }
    if (r->gap_end_us > 0) {
        json_t *g = json_object();
        json_object_set_new(g, "before_chunk", json_null());
        json_object_set_new(g, "seconds", json_real((double)r->gap_end_us / 1e6));
        json_array_append_new(gaps, g);
    }
    json_object_set_new(d, "chunks", a);
    json_object_set_new(d, "gaps", gaps);
    webhook_emit(wh, "recording.ready", d);
}

/* ---- lifetime ---- */

/* The webhook without its worker or observer (the unit test drives the queue directly). */
static struct webhook *webhook_alloc(const struct webhook_config *cfg)
{
    struct webhook *wh = xcalloc(1, sizeof(*wh));
    wh->nurls = cfg->nurls;
    wh->urls = xcalloc((size_t)cfg->nurls, sizeof(*wh->urls));
    for (int i = 0; i < cfg->nurls; i++)
        wh->urls[i] = xstrdup(cfg->urls[i]);
    wh->secret = xstrdup(cfg->secret ? cfg->secret : "");
    wh->queue_max = cfg->queue_max > 0 ? cfg->queue_max : DEFAULT_QUEUE_MAX;
    wh->max_attempts = cfg->max_attempts > 0 ? cfg->max_attempts : DEFAULT_MAX_ATTEMPTS;
    wh->backoff_ms = cfg->backoff_ms > 0 ? cfg->backoff_ms : DEFAULT_BACKOFF_MS;
    webhook_metrics_register(cfg->metrics, &wh->mx);
    pthread_mutex_init(&wh->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* backoff_wait's deadline */
    pthread_cond_init(&wh->cond, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&wh->stop, false);
    return wh;
}

static void webhook_free(struct webhook *wh)
{
    int left = 0;
    for (struct event *ev = wh->head, *next; ev; ev = next, left++) {
        next = ev->next;
        event_free(ev);
    }
    if (left) {
        metrics_add(wh->mx.dropped, left);
        log_warn("webhook", NULL, "stopping with %d undelivered event(s); dropped", left);
    }
    for (int i = 0; i < wh->nurls; i++)
        free(wh->urls[i]);
    free(wh->urls);
    free(wh->secret);
    pthread_cond_destroy(&wh->cond);
    pthread_mutex_destroy(&wh->mu);
    free(wh);
}

struct webhook *webhook_create(const struct webhook_config *cfg, struct hub_registry *hubs)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("webhook", NULL, "libcurl cannot initialise");
        return NULL;
    }
    struct webhook *wh = webhook_alloc(cfg);
    int err = pthread_create(&wh->worker, NULL, worker_main, wh);
    if (err) {
        log_error("webhook", NULL, "cannot start the worker: %s", strerror(err));
        webhook_free(wh);
        curl_global_cleanup();
        return NULL;
    }
    wh->worker_started = true;
    hub_registry_observe(hubs, on_hub, wh);
    if (!wh->secret[0])
        log_warn("webhook", NULL, "no --webhook-secret: events are sent unsigned");
    for (int i = 0; i < wh->nurls; i++)
        log_info("webhook", NULL, "events go to %s", wh->urls[i]);
    return wh;
}

void webhook_destroy(struct webhook **pwh)
{
    struct webhook *wh = *pwh;
    if (!wh)
        return;
    *pwh = NULL;
    pthread_mutex_lock(&wh->mu);
    atomic_store(&wh->stop, true);
    pthread_cond_broadcast(&wh->cond);
    pthread_mutex_unlock(&wh->mu);
    bool global = wh->worker_started;
    if (wh->worker_started)
        pthread_join(wh->worker, NULL);
    webhook_free(wh);
    if (global)
        curl_global_cleanup();
}
