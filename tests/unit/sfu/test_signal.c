/* The signaling server (sfu/signal.c) on 127.0.0.1 against a test double of the SFU (the sfu_*
 * functions signal.c calls, defined here and checked to run on the loop's thread and never on a
 * member the SFU freed or was told is gone) and of the access check, driven by a hand-made
 * WebSocket client (ws_client.h): a join and what follows it (offer, trickle, mute, events, ping,
 * leave), refused joins (an expired token, another room), malformed and unknown messages, a
 * 10 MB message, a flood of joins, a silent socket, the socket cap, a member the SFU closes, and
 * a socket that drops while events are being queued for it, a client that does not read, and
 * sockets still open when the server stops. */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#include "core/loop.h"
#include "core/metrics.h"
#include "core/proxy.h"
#include "sfu/signal.h"
#include "test.h"
#include "ws_client.h"

/* ---- the SFU double (loop thread) ---- */

#define MAX_MEMBERS 512

struct sfu {
    int unused;
};

struct sfu_member {
    int n;
    bool live; /* false once left, detached or closed: no sfu_* call may name it again */
    struct sfu_identity id;
    char resume[SFU_RESUME_MAX];
    const struct sfu_member_ops *ops;
    void *opaque;
    bool muted;
    char frag[512];
    int offers, trickles;
};

static pthread_t loop_thread;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct sfu_member members[MAX_MEMBERS];
static int nmembers, joins, leaves, detaches, wrong_thread, stale_use, access_calls;
static char last_resume[SFU_RESUME_MAX];

static void on_loop(const char *what)
{
    if (!pthread_equal(pthread_self(), loop_thread)) {
        fprintf(stderr, "%s: not on the loop thread\n", what);
        wrong_thread++;
    }
}

static void check_live(struct sfu_member *m, const char *what)
{
    if (!m || !m->live) {
        fprintf(stderr, "%s on a member that is gone\n", what);
        stale_use++;
    }
}

int sfu_join(struct sfu *sfu, const struct sfu_identity *id, const char *resume,
             const struct sfu_member_ops *ops, void *opaque, struct sfu_member **out,
             struct buf *reply, char *why, size_t whylen)
{
    on_loop("sfu_join");
    pthread_mutex_lock(&mu);
    joins++;
    snprintf(last_resume, sizeof(last_resume), "%s", resume ? resume : "");
    if (resume && strcmp(resume, "r-known") != 0) {
        pthread_mutex_unlock(&mu);
        snprintf(why, whylen, "unknown or expired resume key");
        return -ENOENT;
    }
    if (nmembers == MAX_MEMBERS) {
        pthread_mutex_unlock(&mu);
        snprintf(why, whylen, "room full");
        return -EMFILE;
    }
    struct sfu_member *m = &members[nmembers];
    m->n = nmembers++;
    m->live = true;
    m->id = *id;
    m->ops = ops;
    m->opaque = opaque;
    pthread_mutex_unlock(&mu);
    *out = m;
    buf_printf(reply,
               "{\"type\":\"joined\",\"id\":\"m%d\",\"resume\":\"r%d\",\"slots\":8,"
               "\"participants\":[]}",
               m->n, m->n);
    return 0;
}

int sfu_offer(struct sfu_member *m, const char *sdp, size_t len, struct buf *answer, char *why,
              size_t whylen)
{
    on_loop("sfu_offer");
    check_live(m, "sfu_offer");
    m->offers++;
    if (strncmp(sdp, "v=0", 3) != 0) {
        snprintf(why, whylen, "not an SDP offer");
        return -EINVAL;
    }
    buf_printf(answer, "v=0\r\ns=answer to %zu bytes\r\n", len);
    return 0;
}

int sfu_trickle(struct sfu_member *m, const char *frag, size_t len, char *why, size_t whylen)
{
    on_loop("sfu_trickle");
    check_live(m, "sfu_trickle");
    pthread_mutex_lock(&mu);
    m->trickles++;
    snprintf(m->frag, sizeof(m->frag), "%.*s", (int)len, frag);
    pthread_mutex_unlock(&mu);
    return 0;
}

void sfu_set_self_muted(struct sfu_member *m, bool muted)
{
    on_loop("sfu_set_self_muted");
    check_live(m, "sfu_set_self_muted");
    pthread_mutex_lock(&mu);
    m->muted = muted;
    pthread_mutex_unlock(&mu);
}

void sfu_leave(struct sfu_member **pm)
{
    on_loop("sfu_leave");
    check_live(*pm, "sfu_leave");
    pthread_mutex_lock(&mu);
    (*pm)->live = false;
    leaves++;
    pthread_mutex_unlock(&mu);
    *pm = NULL;
}

void sfu_detach(struct sfu_member **pm)
{
    on_loop("sfu_detach");
    check_live(*pm, "sfu_detach");
    pthread_mutex_lock(&mu);
    (*pm)->live = false;
    detaches++;
    pthread_mutex_unlock(&mu);
    *pm = NULL;
}

/* ---- the access double (answers on another thread for "good", at once otherwise) ---- */

struct access_req {
    sfu_access_done done;
    void *ctx;
    struct sfu_identity id;
};

static void *access_thread(void *arg)
{
    struct access_req *r = arg;
    r->done(r->ctx, 0, &r->id, NULL);
    free(r);
    return NULL;
}

static void access_fn(void *opaque, const char *room, const char *token, const char *display,
                      sfu_access_done done, void *ctx)
{
    pthread_mutex_lock(&mu);
    access_calls++;
    pthread_mutex_unlock(&mu);
    struct sfu_identity id = {0};
    snprintf(id.room, sizeof(id.room), "%s", room);
    snprintf(id.display, sizeof(id.display), "%s", display && display[0] ? display : "guest");
    id.may_speak = true;
    if (!strcmp(token, "expired")) {
        done(ctx, -EKEYEXPIRED, NULL, "the join token expired 5 minutes ago");
    } else if (!strcmp(token, "other")) {
        done(ctx, -EPERM, NULL, "this token is for room 'lobby'");
    } else if (!strcmp(token, "liar")) { /* an access function that answers another room */
        snprintf(id.room, sizeof(id.room), "lobby");
        done(ctx, 0, &id, NULL);
    } else if (!strcmp(token, "good")) {
        struct access_req *r = calloc(1, sizeof(*r));
        r->done = done;
        r->ctx = ctx;
        r->id = id;
        pthread_t t;
        pthread_create(&t, NULL, access_thread, r);
        pthread_detach(t);
    } else {
        done(ctx, -EACCES, NULL, "bad token");
    }
}

/* ---- helpers ---- */

static struct loop *loop;

static void *run_loop(void *arg)
{
    loop_run(arg);
    return NULL;
}

static void noop(void *arg)
{
    (void)arg;
}

/* Runs fn on the loop thread and waits for it. */
struct call {
    void (*fn)(void *);
    void *arg;
    atomic_bool done;
};

static void call_tramp(void *arg)
{
    struct call *c = arg;
    c->fn(c->arg);
    atomic_store(&c->done, true);
}

static void on_loop_wait(void (*fn)(void *), void *arg)
{
    struct call c = {fn, arg, false};
    loop_post(loop, call_tramp, &c);
    int64_t deadline = clock_mono_us() + 10000000;
    while (!atomic_load(&c.done) && clock_mono_us() < deadline)
        usleep(1000);
}

static int counter(int *v)
{
    pthread_mutex_lock(&mu);
    int n = *v;
    pthread_mutex_unlock(&mu);
    return n;
}

/* Waits up to 10 s for *v to reach want. */
static bool wait_count(int *v, int want)
{
    int64_t deadline = clock_mono_us() + 10000000;
    while (counter(v) < want && clock_mono_us() < deadline)
        usleep(2000);
    return counter(v) >= want;
}

/* The next text message's type (and code, for an error), "" on none; the JSON in *out. */
static char *read_msg(struct wsc *c, json_t **out, char *code, size_t codelen)
{
    static char type[32];
    type[0] = '\0';
    if (code)
        code[0] = '\0';
    char *text = wsc_read(c, 10000);
    if (!text)
        return type;
    json_t *o = json_loads(text, 0, NULL);
    free(text);
    snprintf(type, sizeof(type), "%s", json_string_value(json_object_get(o, "type")) ?: "?");
    if (code)
        snprintf(code, codelen, "%s", json_string_value(json_object_get(o, "code")) ?: "");
    if (out)
        *out = o;
    else
        json_decref(o);
    return type;
}

static void expect_error(struct wsc *c, const char *want)
{
    char code[64];
    json_t *o = NULL;
    CHECK_STREQ(read_msg(c, &o, code, sizeof(code)), "error");
    CHECK_STREQ(code, want);
    const char *msg = json_string_value(json_object_get(o, "message"));
    CHECK(msg && msg[0]);
    json_decref(o);
}

/* Joins room r1 on a new socket; the member it became (NULL on a failure). */
static struct sfu_member *join(struct wsc *c, int port, const char *display)
{
    if (wsc_open(c, port, "/rtc") < 0)
        return NULL;
    char msg[256];
    snprintf(msg, sizeof(msg),
             "{\"type\":\"join\",\"room\":\"r1\",\"token\":\"good\","
             "\"display\":\"%s\"}",
             display);
    int before = counter(&joins);
    wsc_text(c, msg);
    json_t *o = NULL;
    const char *type = read_msg(c, &o, NULL, 0);
    bool ok = !strcmp(type, "joined");
    CHECK(ok);
    json_decref(o);
    if (!ok || !wait_count(&joins, before + 1))
        return NULL;
    pthread_mutex_lock(&mu);
    struct sfu_member *m = &members[nmembers - 1];
    pthread_mutex_unlock(&mu);
    return m;
}

/* ---- the cases ---- */

struct event {
    struct sfu_member *m;
    const char *json;
};

static void send_event(void *arg)
{
    struct event *e = arg;
    if (e->m->live) /* as the SFU: no ops call after a member's detach */
        e->m->ops->send(e->m->opaque, e->json, strlen(e->json));
}

static void close_member(void *arg)
{
    struct sfu_member *m = arg;
    m->live = false;
    m->ops->closed(m->opaque, "kicked");
}

static void test_join_and_session(int port)
{
    struct wsc c;
    struct sfu_member *m = join(&c, port, "Ann");
    CHECK(m != NULL);
    if (!m)
        return;
    CHECK_STREQ(m->id.room, "r1");
    CHECK_STREQ(m->id.display, "Ann");

    wsc_text(&c, "{\"type\":\"offer\",\"sdp\":\"v=0\\r\\no=- 1 1 IN IP4 0.0.0.0\\r\\n\"}");
    json_t *o = NULL;
    CHECK_STREQ(read_msg(&c, &o, NULL, 0), "answer");
    CHECK(o && strstr(json_string_value(json_object_get(o, "sdp")) ?: "", "s=answer"));
    json_decref(o);
    wsc_text(&c, "{\"type\":\"offer\",\"sdp\":\"nonsense\"}");
    expect_error(&c, "bad_offer");
    /* A 40 KB offer in one frame reaches the SFU whole (libwebsockets hands it over in pieces). */
    size_t big = 40000;
    char *offer = malloc(big + 64);
    int n = snprintf(offer, 64, "{\"type\":\"offer\",\"sdp\":\"v=0");
    memset(offer + n, 'a', big);
    strcpy(offer + n + big, "\"}");
    wsc_text(&c, offer);
    free(offer);
    CHECK_STREQ(read_msg(&c, &o, NULL, 0), "answer");
    char want[64];
    snprintf(want, sizeof(want), "s=answer to %zu bytes", big + 3);
    CHECK(o && strstr(json_string_value(json_object_get(o, "sdp")) ?: "", want));
    json_decref(o);

    wsc_text(&c, "{\"type\":\"trickle\",\"candidate\":\"candidate:1 1 UDP 2122 192.0.2.1 5000 "
                 "typ host\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0}");
    wsc_text(&c, "{\"type\":\"mute\",\"muted\":true}");
    wsc_text(&c, "{\"type\":\"ping\"}");
    CHECK_STREQ(read_msg(&c, NULL, NULL, 0), "pong"); /* answered by the service thread */
    CHECK(wait_count(&m->trickles, 1));
    on_loop_wait(noop, NULL); /* the mute came after the trickle */
    pthread_mutex_lock(&mu);
    CHECK_STREQ(m->frag, "a=mid:0\r\na=candidate:1 1 UDP 2122 192.0.2.1 5000 typ host\r\n");
    CHECK(m->muted);
    pthread_mutex_unlock(&mu);

    /* Events from the SFU reach the socket, in order. */
    struct event e1 = {m, "{\"type\":\"participant_joined\",\"id\":\"m99\"}"};
    struct event e2 = {m, "{\"type\":\"speakers\",\"slots\":{}}"};
    on_loop_wait(send_event, &e1);
    on_loop_wait(send_event, &e2);
    CHECK_STREQ(read_msg(&c, NULL, NULL, 0), "participant_joined");
    CHECK_STREQ(read_msg(&c, NULL, NULL, 0), "speakers");

    /* A second join on the same socket. */
    wsc_text(&c, "{\"type\":\"join\",\"room\":\"r1\",\"token\":\"good\"}");
    expect_error(&c, "already_joined");

    /* leave: left, then the socket is closed normally; sfu_leave, never a detach after it. */
    int l = counter(&leaves), d = counter(&detaches);
    wsc_text(&c, "{\"type\":\"leave\"}");
    CHECK_STREQ(read_msg(&c, NULL, NULL, 0), "left");
    read_msg(&c, NULL, NULL, 0);
    CHECK(c.closed);
    CHECK_EQ_INT(c.close_code, 1000);
    CHECK(wait_count(&leaves, l + 1));
    usleep(100000);
    CHECK_EQ_INT(counter(&detaches), d);
    wsc_close(&c);
}

static void test_refused_joins(int port)
{
    struct wsc c;
    CHECK_EQ_INT(wsc_open(&c, port, "/rtc"), 0);
    wsc_text(&c, "{\"type\":\"join\",\"room\":\"r1\",\"token\":\"expired\"}");
    expect_error(&c, "token_expired");
    wsc_text(&c, "{\"type\":\"join\",\"room\":\"r1\",\"token\":\"other\"}");
    expect_error(&c, "forbidden");
    wsc_text(&c, "{\"type\":\"join\",\"room\":\"r1\",\"token\":\"liar\"}");
    expect_error(&c, "forbidden");
    wsc_text(&c, "{\"type\":\"join\",\"room\":\"r1\",\"token\":\"nope\"}");
    expect_error(&c, "unauthorized");
    /* Before a join, the member messages are refused. */
    wsc_text(&c, "{\"type\":\"offer\",\"sdp\":\"v=0\"}");
    expect_error(&c, "not_joined");
    /* A resume key the SFU does not know. */
    wsc_text(&c, "{\"type\":\"join\",\"room\":\"r1\",\"token\":\"good\",\"resume\":\"r-gone\"}");
    expect_error(&c, "resume_expired");
    /* The socket is still usable: a good join now works. */
    wsc_text(&c, "{\"type\":\"join\",\"room\":\"r1\",\"token\":\"good\",\"resume\":\"r-known\"}");
    CHECK_STREQ(read_msg(&c, NULL, NULL, 0), "joined");
    pthread_mutex_lock(&mu);
    CHECK_STREQ(last_resume, "r-known");
    pthread_mutex_unlock(&mu);
    wsc_close(&c);
}

static void test_bad_messages(int port)
{
    struct wsc c;
    CHECK_EQ_INT(wsc_open(&c, port, "/rtc"), 0);
    static const struct {
        const char *text, *code;
    } cases[] = {
        {"{\"type\":\"join\",", "bad_json"},
        {"[1,2,3]", "bad_message"},
        {"{\"type\":42}", "bad_message"},
        {"{\"type\":\"dance\"}", "unknown_type"},
        {"{\"type\":\"join\",\"room\":\"r1\"}", "bad_message"},               /* no token */
        {"{\"type\":\"join\",\"room\":7,\"token\":\"good\"}", "bad_message"}, /* a number */
        {"{\"type\":\"join\",\"room\":\"r1\",\"token\":\"good\",\"x\":1}", "bad_message"},
        {"{\"type\":\"mute\",\"muted\":\"yes\"}", "bad_message"},
        {"{\"type\":\"trickle\"}", "bad_message"},
        {"{\"type\":\"ping\",\"type\":\"ping\"}", "bad_json"}, /* duplicate key */
        {"{\"type\":\"join\",\"room\":\"r\\u0000\",\"token\":\"good\"}", "bad_json"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int f = test_failures;
        wsc_text(&c, cases[i].text);
        expect_error(&c, cases[i].code);
        if (test_failures != f)
            fprintf(stderr, "  (for %s)\n", cases[i].text);
    }
    /* A room name over 64 bytes. */
    char big[400];
    snprintf(big, sizeof(big), "{\"type\":\"join\",\"room\":\"%0100d\",\"token\":\"good\"}", 0);
    wsc_text(&c, big);
    expect_error(&c, "bad_message");
    /* A binary frame: refused, the socket kept. */
    wsc_frame(&c, 2, "{\"type\":\"ping\"}", 15);
    expect_error(&c, "bad_message");
    /* An empty text frame is not JSON. */
    wsc_frame(&c, 1, "", 0);
    expect_error(&c, "bad_json");
    /* A message in two frames (text, then a continuation) is one message. */
    wsc_frame_raw(&c, 0x01, "{\"type\":", 8);
    wsc_frame_raw(&c, 0x80, "\"ping\"}", 7);
    CHECK_STREQ(read_msg(&c, NULL, NULL, 0), "pong");
    wsc_text(&c, "{\"type\":\"ping\"}");
    CHECK_STREQ(read_msg(&c, NULL, NULL, 0), "pong");
    CHECK(!c.closed);
    /* Text that is not UTF-8: closed by libwebsockets with 1007. */
    wsc_text(&c, "{\"type\":\"join\",\"room\":\"\xff\xfe\",\"token\":\"good\"}");
    read_msg(&c, NULL, NULL, 0);
    CHECK(c.closed);
    CHECK_EQ_INT(c.close_code, 1007);
    wsc_close(&c);
}

/* 80 KB in 20 frames of 4 KB: the cap counts the whole message, not a frame. */
static void test_fragmented_too_large(int port)
{
    struct wsc c;
    CHECK_EQ_INT(wsc_open(&c, port, "/rtc"), 0);
    static char part[4000];
    memset(part, ' ', sizeof(part));
    wsc_frame_raw(&c, 0x01, "{\"type\":\"ping\"", 15);
    for (int i = 0; i < 20 && !c.closed; i++)
        wsc_frame_raw(&c, i == 19 ? 0x80 : 0x00, part, sizeof(part));
    read_msg(&c, NULL, NULL, 0);
    CHECK(c.closed);
    CHECK_EQ_INT(c.close_code, 1009);
    wsc_close(&c);
}

/* 10 MB in one frame: closed with 1009 long before the end (or reset while still sending). */
static void test_huge_message(int port)
{
    struct wsc c;
    CHECK_EQ_INT(wsc_open(&c, port, "/rtc"), 0);
    size_t len = 10 << 20;
    uint8_t hdr[14] = {0x81, 0x80 | 127};
    for (int i = 0; i < 8; i++)
        hdr[2 + i] = (uint8_t)((uint64_t)len >> (8 * (7 - i)));
    memset(hdr + 10, 0, 4); /* mask 0: the payload goes as it is */
    CHECK(send(c.fd, hdr, 14, MSG_NOSIGNAL) == 14);
    char *chunk = calloc(1, 65536);
    memset(chunk, ' ', 65536);
    size_t sent = 0;
    int64_t deadline = clock_mono_us() + 20000000;
    while (sent < len && !c.closed && clock_mono_us() < deadline) {
        struct pollfd p = {c.fd, POLLIN | POLLOUT, 0};
        poll(&p, 1, 100);
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            wsc_read(&c, 100);
            continue;
        }
        ssize_t n = send(c.fd, chunk, 65536, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN)
            break;
        if (n > 0)
            sent += (size_t)n;
    }
    free(chunk);
    if (!c.closed)
        wsc_read(&c, 10000);
    CHECK(c.closed);
    CHECK(c.close_code == 1009 || c.close_code == -1);
    CHECK(sent < len);
    fprintf(stderr, "huge message: %zu bytes sent before the close (code %d)\n", sent,
            c.close_code);
    wsc_close(&c);
}

/* 1,000 joins in a second from one socket: rate_limited, then closed with 1008; the access
 * check ran once; another socket is served meanwhile and after. */
static void test_flood(int port)
{
    struct wsc c, other;
    CHECK_EQ_INT(wsc_open(&c, port, "/rtc"), 0);
    CHECK_EQ_INT(wsc_open(&other, port, "/rtc"), 0);
    int calls = counter(&access_calls), d = counter(&detaches), j = counter(&joins);
    const char *msg = "{\"type\":\"join\",\"room\":\"r1\",\"token\":\"good\"}";
    int sent = 0;
    int64_t t0 = clock_mono_us();
    for (int burst = 0; burst < 10; burst++) {
        for (int i = 0; i < 100; i++)
            if (wsc_text(&c, msg) == 0)
                sent++;
        int64_t due = t0 + (burst + 1) * 100000;
        while (clock_mono_us() < due)
            usleep(1000);
    }
    bool limited = false;
    for (int i = 0; i < 2000 && !c.closed; i++) {
        char code[64];
        const char *type = read_msg(&c, NULL, code, sizeof(code));
        if (!strcmp(type, "error") && !strcmp(code, "rate_limited"))
            limited = true;
        if (!type[0])
            break;
    }
    CHECK(limited);
    CHECK(c.closed);
    CHECK_EQ_INT(c.close_code, 1008);
    CHECK_EQ_INT(counter(&access_calls), calls + 1);
    /* Its one join became a member (then detached when the socket went), or came after the
     * socket had gone and never reached the SFU. */
    usleep(300000);
    on_loop_wait(noop, NULL);
    CHECK_EQ_INT(counter(&joins) - j, counter(&detaches) - d);
    fprintf(stderr, "flood: %d joins sent in %.2f s, closed with %d\n", sent,
            (double)(clock_mono_us() - t0) / 1e6, c.close_code);
    wsc_text(&other, "{\"type\":\"ping\"}");
    CHECK_STREQ(read_msg(&other, NULL, NULL, 0), "pong");
    wsc_close(&c);
    wsc_close(&other);
}

/* The SFU closes a member (kicked): the socket closes with 4000 and the reason; the member is
 * never named again (no detach for it). */
static void test_member_closed(int port)
{
    struct wsc c;
    struct sfu_member *m = join(&c, port, "Bob");
    CHECK(m != NULL);
    if (!m)
        return;
    int d = counter(&detaches);
    on_loop_wait(close_member, m);
    read_msg(&c, NULL, NULL, 0);
    CHECK(c.closed);
    CHECK_EQ_INT(c.close_code, 4000);
    CHECK_STREQ(c.close_reason, "kicked");
    usleep(200000);
    CHECK_EQ_INT(counter(&detaches), d);
    wsc_close(&c);
}

/* Sockets that drop while the SFU keeps queueing events for them: detached once each, no event
 * reaches freed memory (ASan), no call names a member after its detach. */
struct storm {
    struct sfu_member *m;
    int n;
};

static void storm_events(void *arg)
{
    struct storm *s = arg;
    for (int i = 0; i < s->n && s->m->live; i++)
        s->m->ops->send(s->m->opaque, "{\"type\":\"speakers\"}", 19);
}

static void test_drop_races(int port)
{
    for (int round = 0; round < 40; round++) {
        struct wsc c;
        struct sfu_member *m = join(&c, port, "Cy");
        if (!m)
            break;
        int d = counter(&detaches);
        struct storm s = {m, 200};
        loop_post(loop, storm_events, &s);
        wsc_close(&c); /* abruptly, while the events are queued */
        loop_post(loop, storm_events, &s);
        CHECK(wait_count(&detaches, d + 1));
        on_loop_wait(storm_events, &s); /* after the detach: storm_events sees !live */
    }
}

/* A client that does not read while the SFU sends: once 64 KiB wait (beyond what the kernel's
 * buffers took), the socket is closed with 1008 and its queue dropped. */
static struct metrics *mx;

static void test_slow_reader(int port)
{
    struct wsc c;
    struct sfu_member *m = join(&c, port, "Slow");
    CHECK(m != NULL);
    if (!m)
        return;
    static char big[1024];
    memset(big, 'x', sizeof(big));
    const char *head = "{\"type\":\"speakers\",\"pad\":\"";
    memcpy(big, head, strlen(head));
    memcpy(big + sizeof(big) - 3, "\"}", 3);
    struct event e = {m, big};
    int64_t before = metrics_value(mx, "kibitka_ws_closed_total", "slow_reader");
    for (int batch = 0; batch < 200; batch++) { /* at most 200 MB */
        for (int i = 0; i < 1000; i++)
            loop_post(loop, send_event, &e);
        on_loop_wait(noop, NULL);
        if (metrics_value(mx, "kibitka_ws_closed_total", "slow_reader") > before)
            break;
    }
    CHECK(metrics_value(mx, "kibitka_ws_closed_total", "slow_reader") > before);
    int n = 0;
    char *text;
    while ((text = wsc_read(&c, 10000))) {
        n++;
        free(text);
    }
    CHECK(c.closed);
    CHECK_EQ_INT(c.close_code, 1008);
    fprintf(stderr, "slow reader: %d messages of 1 KB reached it before the close\n", n);
    wsc_close(&c);
}

/* A second server with short ping times and a cap of 2 sockets. */
static void test_ping_and_cap(struct signal_server *s2)
{
    int port = signal_server_port(s2);
    struct wsc silent, alive, third;
    CHECK_EQ_INT(wsc_open(&silent, port, "/rtc"), 0);
    CHECK_EQ_INT(wsc_open(&alive, port, "/rtc"), 0);
    silent.auto_pong = false;
    usleep(100000);
    CHECK(wsc_open(&third, port, "/rtc") < 0); /* the cap */
    wsc_close(&third);
    /* alive answers pings (by reading); silent reads them without answering. */
    int64_t deadline = clock_mono_us() + 20000000;
    while (!silent.closed && clock_mono_us() < deadline) {
        wsc_read(&alive, 50);
        wsc_read(&silent, 50);
    }
    CHECK(silent.closed);
    CHECK_EQ_INT(silent.close_code, 1001);
    CHECK(silent.pings >= 1);
    CHECK(!alive.closed);
    CHECK(alive.pings >= 1);
    fprintf(stderr, "ping: the silent socket got %d pings before its close, the live one %d\n",
            silent.pings, alive.pings);
    wsc_text(&alive, "{\"type\":\"ping\"}");
    CHECK_STREQ(read_msg(&alive, NULL, NULL, 0), "pong");
    /* Its slot is free again. */
    deadline = clock_mono_us() + 10000000;
    int rc = -1;
    while (rc < 0 && clock_mono_us() < deadline) {
        rc = wsc_open(&third, port, "/rtc");
        if (rc < 0) {
            wsc_close(&third);
            usleep(50000);
        }
    }
    CHECK_EQ_INT(rc, 0);
    wsc_close(&third);
    wsc_close(&silent);
    wsc_close(&alive);
}

/* Opens sockets with these headers until one is refused (the first one's established callback,
 * which records its address, may come after the next handshake): true when one was, within 10 s. */
static bool refused_eventually(int port, const char *headers, int *status)
{
    int64_t deadline = clock_mono_us() + 10000000;
    while (clock_mono_us() < deadline) {
        struct wsc c;
        int rc = wsc_open_hdr(&c, port, "/rtc", headers);
        *status = c.status;
        wsc_close(&c);
        if (rc < 0)
            return true;
        usleep(20000);
    }
    return false;
}

/* A server that takes one socket per address, trusts 127.0.0.1 as a proxy and allows two
 * Origins. */
static void test_per_address(struct signal_server *s4)
{
    int port = signal_server_port(s4);
    struct wsc a, x1, x2, o1, o2;
    int status = 0;
    CHECK_EQ_INT(wsc_open(&a, port, "/rtc"), 0);
    CHECK(refused_eventually(port, "", &status)); /* 127.0.0.1 again */
    CHECK_EQ_INT(status, 503);
    /* Behind the proxy: clients by their X-Forwarded-For (the rightmost untrusted entry). */
    CHECK_EQ_INT(wsc_open_hdr(&x1, port, "/rtc", "X-Forwarded-For: 198.51.100.1\r\n"), 0);
    CHECK_EQ_INT(wsc_open_hdr(&x2, port, "/rtc",
                              "X-Forwarded-For: 198.51.100.1, 198.51.100.2, 127.0.0.1\r\n"),
                 0); /* 198.51.100.2: another client, though both come from 127.0.0.1 */
    CHECK(refused_eventually(port, "X-Forwarded-For: 6.6.6.6, 198.51.100.1\r\n", &status));
    CHECK_EQ_INT(status, 503);
    CHECK(refused_eventually(port, "Forwarded: for=198.51.100.2\r\n", &status));
    /* --ws-origin: another site's page is refused at the handshake, in any case; a listed one
     * (any case) and a client without Origin pass. */
    struct wsc bad;
    CHECK(wsc_open_hdr(&bad, port, "/rtc",
                       "X-Forwarded-For: 198.51.100.3\r\nOrigin: https://evil.example\r\n") < 0);
    CHECK_EQ_INT(bad.status, 403);
    wsc_close(&bad);
    CHECK(wsc_open_hdr(&bad, port, "/rtc",
                       "X-Forwarded-For: 198.51.100.3\r\nOrigin: https://app.example.evil\r\n") <
          0);
    CHECK_EQ_INT(bad.status, 403);
    wsc_close(&bad);
    CHECK_EQ_INT(wsc_open_hdr(&o1, port, "/rtc",
                              "X-Forwarded-For: 198.51.100.3\r\nOrigin: https://APP.example\r\n"),
                 0);
    CHECK_EQ_INT(wsc_open_hdr(&o2, port, "/rtc", "X-Forwarded-For: 198.51.100.4\r\n"), 0);
    wsc_close(&o2);
    wsc_close(&o1);
    wsc_close(&x2);
    wsc_close(&x1);
    wsc_close(&a);
}

static void test_paths(int port)
{
    struct wsc c;
    CHECK(wsc_open(&c, port, "/other") < 0);
    wsc_close(&c);
    CHECK(wsc_open(&c, port, "/rtc/x") < 0);
    wsc_close(&c);
    CHECK_EQ_INT(wsc_open(&c, port, "/rtc"), 0);
    wsc_close(&c);
}

int main(void)
{
    mx = metrics_create();
    loop = loop_create();
    struct sfu fake = {0};
    char err[256];
    struct signal_server *s = NULL, *s2 = NULL;
    struct signal_config cfg = {.addr = "127.0.0.1:0", .max_queued = 64 * 1024, .metrics = mx};
    CHECK_EQ_INT(signal_server_create(&cfg, &s, err, sizeof(err)), 0);
    struct signal_config cfg2 = {
        .addr = "127.0.0.1:0", .max_sockets = 2, .ping_interval_ms = 250, .ping_timeout_ms = 3000};
    CHECK_EQ_INT(signal_server_create(&cfg2, &s2, err, sizeof(err)), 0);
    struct signal_server *s4 = NULL;
    /* One socket per address, behind a trusted proxy (this test's 127.0.0.1), for pages of
     * one origin only. */
    struct proxy_trust trust = {0};
    CHECK_EQ_INT(proxy_trust_add(&trust, "127.0.0.1"), 0);
    const char *origins[] = {"https://app.example", "http://localhost:5173"};
    struct signal_config cfg4 = {.addr = "127.0.0.1:0",
                                 .max_per_address = 1,
                                 .trusted_proxies = &trust,
                                 .origins = origins,
                                 .norigins = 2};
    CHECK_EQ_INT(signal_server_create(&cfg4, &s4, err, sizeof(err)), 0);
    if (!s || !s2 || !s4)
        return test_report("test_signal");
    /* The same port again: a clear error, as main shows it. */
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", signal_server_port(s));
    struct signal_config dup = {.addr = addr};
    struct signal_server *s3 = NULL;
    CHECK_EQ_INT(signal_server_create(&dup, &s3, err, sizeof(err)), -EADDRINUSE);
    CHECK(strstr(err, "in use") != NULL);

    pthread_t lt;
    pthread_create(&lt, NULL, run_loop, loop);
    loop_thread = lt;
    CHECK_EQ_INT(signal_server_start(s, loop, &fake, access_fn, NULL), 0);
    CHECK_EQ_INT(signal_server_start(s2, loop, &fake, access_fn, NULL), 0);
    CHECK_EQ_INT(signal_server_start(s4, loop, &fake, access_fn, NULL), 0);
    int port = signal_server_port(s);

    test_paths(port);
    test_per_address(s4);
    test_join_and_session(port);
    test_refused_joins(port);
    test_bad_messages(port);
    test_huge_message(port);
    test_fragmented_too_large(port);
    test_flood(port);
    test_member_closed(port);
    test_drop_races(port);
    test_ping_and_cap(s2);
    test_slow_reader(port);
    /* Two sockets left open at the stop, one of them a member. */
    struct wsc left1, left2;
    CHECK(join(&left1, port, "Stay") != NULL);
    CHECK_EQ_INT(wsc_open(&left2, port, "/rtc"), 0);

    CHECK_EQ_INT(wrong_thread, 0);
    CHECK_EQ_INT(stale_use, 0);
    CHECK(metrics_value(mx, "kibitka_ws_closed_total", "rate_limit") >= 1);
    CHECK(metrics_value(mx, "kibitka_ws_closed_total", "too_large") >= 1);
    CHECK(metrics_value(mx, "kibitka_ws_messages_total", NULL) > 100);

    /* main's stop order: shutdown with the loop stopped, the loop's leftovers, destroy. */
    loop_stop(loop);
    pthread_join(lt, NULL);
    loop_thread = pthread_self();
    signal_server_shutdown(s);
    signal_server_shutdown(s2);
    signal_server_shutdown(s4);
    for (int i = 0; i < nmembers; i++) /* as sfu_destroy does */
        if (members[i].live) {
            members[i].live = false;
            members[i].ops->closed(members[i].opaque, "server stopping");
        }
    loop_destroy(&loop);
    wsc_read(&left1, 2000);
    wsc_read(&left2, 2000);
    CHECK(left1.closed && left2.closed); /* the stop closed them */
    wsc_close(&left1);
    wsc_close(&left2);
    signal_server_destroy(&s);
    signal_server_destroy(&s2);
    signal_server_destroy(&s4);
    proxy_trust_clear(&trust);
    metrics_destroy(&mx);
    return test_report("test_signal");
}
