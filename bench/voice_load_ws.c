/* bench/voice_load: the signaling side. One libwebsockets client context on a thread of its
 * own: each member's WebSocket to ws://127.0.0.1:PORT/rtc (from its own loopback source
 * address), join -> joined, offer (one sendrecv microphone m-line with the RFC 6464 audio-level
 * extension, then `slots` recvonly ones, BUNDLE, rtcp-mux, our ufrag/pwd/fingerprint) ->
 * answer, whose ICE credentials and fingerprint it hands to the media thread (state
 * VL_ANSWERED). Later messages (speakers, participant_joined, ...) are read and dropped; a
 * ping every 4 s. And the HTTP API calls, on libcurl (called from the media thread only). */
#include <curl/curl.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/ice_client.h"
#include "bench/voice_load.h"
#include "core/clock.h"

static struct vl_shared *sh;
static struct lws_context *ctx;
static pthread_t thread;
static int n_connected; /* members [0, n_connected) have had their connect */
static int64_t last_ping_us;

static void fail(struct vl_member *m, const char *why)
{
    if (atomic_load(&m->state) != VL_FAILED)
        fprintf(stderr, "voice_load: member %d (%s): %s\n", m->idx, m->room, why);
    atomic_store(&m->state, VL_FAILED);
}

static void queue(struct vl_member *m, char *text)
{
    free(m->out);
    m->out = text;
    if (m->wsi)
        lws_callback_on_writable(m->wsi);
}

static void send_join(struct vl_member *m)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "type", "join", "room", m->room, "token", m->token,
                          "display", m->speaker >= 0 ? "speaker" : "listener");
    queue(m, json_dumps(o, JSON_COMPACT));
    json_decref(o);
}

static void send_offer(struct vl_member *m)
{
    size_t cap = 1024 + 600 * (size_t)(m->nslots + 1);
    char *sdp = malloc(cap);
    size_t n = (size_t)snprintf(sdp, cap,
                                "v=0\r\no=- %d 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE",
                                1000 + m->idx);
    for (int k = 0; k <= m->nslots; k++)
        n += (size_t)snprintf(sdp + n, cap - n, " %d", k);
    n += (size_t)snprintf(sdp + n, cap - n, "\r\na=msid-semantic: WMS *\r\n");
    for (int k = 0; k <= m->nslots; k++) {
        n += (size_t)snprintf(
            sdp + n, cap - n,
            "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:%d\r\na=%s\r\n"
            "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\na=fingerprint:%s\r\na=setup:actpass\r\n"
            "a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
            "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n",
            k, k ? "recvonly" : "sendrecv", m->ufrag, m->pwd, sh->dtls_fingerprint);
        if (!k)
            n += (size_t)snprintf(sdp + n, cap - n, "a=ssrc:%u cname:vl%d\r\n", m->ssrc, m->idx);
    }
    json_t *o = json_pack("{s:s,s:s}", "type", "offer", "sdp", sdp);
    free(sdp);
    queue(m, json_dumps(o, JSON_COMPACT));
    json_decref(o);
}

static void take_answer(struct vl_member *m, const char *sdp)
{
    char fp[256];
    if (!bench_sdp_attr(sdp, "a=ice-ufrag:", m->rufrag, sizeof(m->rufrag)) ||
        !bench_sdp_attr(sdp, "a=ice-pwd:", m->rpwd, sizeof(m->rpwd)) ||
        !bench_sdp_attr(sdp, "a=fingerprint:", fp, sizeof(fp)) ||
        rtc_dtls_fingerprint_parse(fp, &m->fp) < 0) {
        fail(m, "no ufrag/pwd/fingerprint in the answer");
        return;
    }
    m->level_id = 1;
    const char *e = strstr(sdp, " urn:ietf:params:rtp-hdrext:ssrc-audio-level");
    if (e) { /* a=extmap:N urn:...: the id the answer kept */
        const char *p = e;
        while (p > sdp && p[-1] != ':')
            p--;
        m->level_id = atoi(p);
    }
    atomic_store(&m->state, VL_ANSWERED);
}

static void on_message(struct vl_member *m, const char *text, size_t len)
{
    json_error_t je;
    json_t *o = json_loadb(text, len, 0, &je);
    const char *type = o ? json_string_value(json_object_get(o, "type")) : NULL;
    if (!type) {
        fail(m, "a message that is not JSON with a type");
    } else if (!strcmp(type, "joined")) {
        m->nslots = (int)json_integer_value(json_object_get(o, "slots"));
        if (m->nslots < 1 || m->nslots > VL_MAX_SLOTS) {
            fail(m, "joined: slots out of range");
        } else {
            atomic_store(&m->state, VL_JOINED);
            send_offer(m);
            atomic_store(&m->state, VL_OFFERED);
        }
    } else if (!strcmp(type, "answer")) {
        take_answer(m, json_string_value(json_object_get(o, "sdp")));
    } else if (!strcmp(type, "error")) {
        char why[512];
        snprintf(why, sizeof(why), "error %s: %s", json_string_value(json_object_get(o, "code")),
                 json_string_value(json_object_get(o, "message")));
        fail(m, why);
    } /* events and pong: nothing to do */
    json_decref(o);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct vl_member *m = user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        atomic_store(&m->state, VL_WS);
        send_join(m);
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
        char why[300];
        snprintf(why, sizeof(why), "WebSocket: %s", in ? (const char *)in : "connection error");
        m->wsi = NULL;
        fail(m, why);
        return 0;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (m->rx_len + len + 1 > m->rx_cap) {
            m->rx_cap = (m->rx_len + len + 1) * 2;
            m->rx = realloc(m->rx, m->rx_cap);
        }
        memcpy(m->rx + m->rx_len, in, len);
        m->rx_len += len;
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            m->rx[m->rx_len] = '\0';
            on_message(m, m->rx, m->rx_len);
            m->rx_len = 0;
        }
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        char *text = m->out;
        bool ping = !text && m->ping_due;
        if (ping)
            text = "{\"type\":\"ping\"}";
        if (!text)
            return 0;
        size_t n = strlen(text);
        unsigned char *b = malloc(LWS_PRE + n);
        memcpy(b + LWS_PRE, text, n);
        int w = lws_write(wsi, b + LWS_PRE, n, LWS_WRITE_TEXT);
        free(b);
        if (ping) {
            m->ping_due = false;
        } else {
            free(m->out);
            m->out = NULL;
            if (m->ping_due)
                lws_callback_on_writable(wsi);
        }
        return w < (int)n ? -1 : 0;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
        m->wsi = NULL;
        if (!atomic_load(&sh->stop))
            fail(m, "WebSocket closed by the server");
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED: {
        int n = atomic_load(&sh->n_ready);
        for (; n_connected < n; n_connected++) {
            struct vl_member *x = &sh->m[n_connected];
            struct lws_client_connect_info ci;
            memset(&ci, 0, sizeof(ci));
            ci.context = ctx;
            ci.address = "127.0.0.1";
            ci.port = sh->ws_port;
            ci.path = "/rtc";
            ci.host = "127.0.0.1";
            ci.origin = "127.0.0.1";
            ci.iface = x->src_ip;
            ci.local_protocol_name = "voice";
            ci.userdata = x;
            ci.pwsi = &x->wsi;
            if (!lws_client_connect_via_info(&ci))
                fail(x, "lws_client_connect_via_info failed");
        }
        int64_t now = clock_mono_us();
        if (now - last_ping_us >= 4000000) {
            last_ping_us = now;
            for (int i = 0; i < n_connected; i++) {
                struct vl_member *x = &sh->m[i];
                if (x->wsi && atomic_load(&x->state) >= VL_JOINED &&
                    atomic_load(&x->state) != VL_FAILED) {
                    x->ping_due = true;
                    lws_callback_on_writable(x->wsi);
                }
            }
        }
        return 0;
    }
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {"voice", callback, 0, 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void *service(void *arg)
{
    (void)arg;
    while (!atomic_load(&sh->stop))
        if (lws_service(ctx, 0) < 0)
            break;
    return NULL;
}

int vl_ws_start(struct vl_shared *shared)
{
    sh = shared;
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.fd_limit_per_thread = VL_MAX_MEMBERS + 64;
    info.count_threads = 1;
    info.timeout_secs = 20;
    ctx = lws_create_context(&info);
    if (!ctx)
        return -1;
    return pthread_create(&thread, NULL, service, NULL) ? -1 : 0;
}

void vl_ws_wake(void)
{
    lws_cancel_service(ctx);
}

void vl_ws_stop(void)
{
    atomic_store(&sh->stop, true);
    lws_cancel_service(ctx);
    pthread_join(thread, NULL);
    lws_context_destroy(ctx);
}

/* ---- the HTTP API ---- */

static CURL *curl;
static char base[64], auth[300];

struct body {
    char *p;
    size_t n;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *opaque)
{
    struct body *b = opaque;
    size_t n = size * nmemb;
    b->p = realloc(b->p, b->n + n + 1);
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

/* method path (body: JSON or NULL) -> status, *out the response (malloc'd). */
static long call(const char *method, const char *path, const char *json, char **out)
{
    char url[256];
    snprintf(url, sizeof(url), "%s%s", base, path);
    struct body b = {0};
    struct curl_slist *h = curl_slist_append(NULL, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    if (json)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    long status = 0;
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    if (out)
        *out = b.p;
    else
        free(b.p);
    return status;
}

int vl_api_init(int http_port, const char *admin_token)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl = curl_easy_init();
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", http_port);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", admin_token);
    return curl ? 0 : -1;
}

int vl_api_room(const char *name)
{
    char body[128], *resp = NULL;
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"public\":true}", name);
    long st = call("POST", "/api/rooms", body, &resp);
    if (st != 200 && st != 201) {
        fprintf(stderr, "voice_load: POST /api/rooms %s: %ld %s\n", name, st, resp ? resp : "");
        free(resp);
        return -1;
    }
    free(resp);
    return 0;
}

int vl_api_token(const char *room, const char *guest, bool may_speak, char *out, size_t cap)
{
    char path[128], body[160], *resp = NULL;
    snprintf(path, sizeof(path), "/api/rooms/%s/token", room);
    snprintf(body, sizeof(body), "{\"guest\":\"%s\",\"may_speak\":%s,\"ttl_s\":3600}", guest,
             may_speak ? "true" : "false");
    long st = call("POST", path, body, &resp);
    json_t *o = resp ? json_loads(resp, 0, NULL) : NULL;
    const char *tok = json_string_value(json_object_get(o, "token"));
    int rc = -1;
    if ((st == 200 || st == 201) && tok && strlen(tok) < cap) {
        snprintf(out, cap, "%s", tok);
        rc = 0;
    } else {
        fprintf(stderr, "voice_load: POST %s: %ld %s\n", path, st, resp ? resp : "");
    }
    json_decref(o);
    free(resp);
    return rc;
}

char *vl_api_metrics(void)
{
    char *resp = NULL;
    if (call("GET", "/metrics", NULL, &resp) != 200) {
        free(resp);
        return NULL;
    }
    return resp;
}
