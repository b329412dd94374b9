/* Webhooks: the HMAC-SHA256 signature (RFC 4231 vectors), the JSON body, the bounded queue
 * dropping the oldest, the stream.live/stream.ended events a hub produces, and the
 * --webhook/--webhook-secret flags. Includes the .c to drive the queue without the worker. */
#include "events/webhook.c"

#include <stdlib.h>

#include "core/config.h"
#include "test.h"

static void test_sign(void)
{
    char sig[WEBHOOK_SIGNATURE_LEN];
    /* RFC 4231 test case 2 */
    const char *data = "what do ya want for nothing?";
    webhook_sign("Jefe", data, strlen(data), sig);
    CHECK_STREQ(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* the exact bytes: a length shorter than the string signs only that prefix */
    char sig2[WEBHOOK_SIGNATURE_LEN];
    webhook_sign("Jefe", data, strlen(data) - 1, sig2);
    CHECK(strcmp(sig, sig2) != 0);
    /* RFC 4231 test case 1: key 20 x 0x0b, "Hi There" */
    char key[21];
    memset(key, 0x0b, 20);
    key[20] = '\0';
    webhook_sign(key, "Hi There", 8, sig);
    CHECK_STREQ(sig, "sha256=b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

static void test_body(void)
{
    json_t *d = json_pack("{s:s, s:s}", "name", "cam1", "started_at", "2026-11-23T16:30:00.100Z");
    /* 2026-11-23T16:30:00.123Z */
    int64_t t = (int64_t)1795451400 * 1000000 + 123000;
    char *body = webhook_body("00112233445566778899aabbccddeeff", "stream.live", t, d);
    CHECK_STREQ(body, "{\"id\":\"00112233445566778899aabbccddeeff\",\"type\":\"stream.live\","
                      "\"created_at\":\"2026-11-23T16:30:00.123Z\",\"data\":{\"name\":\"cam1\","
                      "\"started_at\":\"2026-11-23T16:30:00.100Z\"}}");
    free(body);
    CHECK_EQ_INT(d->refcount, 1); /* webhook_body does not take the data */
    json_decref(d);
}

static void test_queue_drops_oldest(void)
{
    const char *urls[] = {"http://127.0.0.1:1/"};
    struct webhook_config cfg = {.urls = urls, .nurls = 1, .secret = "s", .queue_max = 3};
    struct webhook *wh = webhook_alloc(&cfg);
    for (int i = 0; i < 5; i++)
        webhook_emit(wh, "test.event", json_pack("{s:i}", "n", i));
    CHECK_EQ_INT(wh->count, 3);
    int n = 2;
    for (struct event *ev = wh->head; ev; ev = ev->next, n++) {
        CHECK_EQ_INT(json_integer_value(json_object_get(ev->data, "n")), n);
        CHECK_STREQ(ev->type, "test.event");
        CHECK_EQ_INT(strlen(ev->id), 32);
    }
    CHECK(strcmp(wh->head->id, wh->tail->id) != 0);
    struct event *ev = queue_pop(wh);
    CHECK(ev && json_integer_value(json_object_get(ev->data, "n")) == 2);
    event_free(ev);
    webhook_free(wh); /* frees the two left */
}

static void test_sink_events(void)
{
    const char *urls[] = {"http://127.0.0.1:1/"};
    struct webhook_config cfg = {.urls = urls, .nurls = 1};
    struct webhook *wh = webhook_alloc(&cfg);
    struct hub_registry *reg = hub_registry_create();
    hub_registry_observe(reg, on_hub, wh);

    /* a hub that never starts emits nothing */
    struct hub *h;
    CHECK_EQ_INT(hub_registry_claim(reg, "nostart", &h), 0);
    hub_end(h);
    hub_unrefp(&h);
    CHECK_EQ_INT(wh->count, 0);

    CHECK_EQ_INT(hub_registry_claim(reg, "cam1", &h), 0);
    AVCodecParameters *par = avcodec_parameters_alloc();
    par->codec_type = AVMEDIA_TYPE_VIDEO;
    par->codec_id = AV_CODEC_ID_H264;
    par->width = 1280;
    par->height = 720;
    struct hub_track tr = {.par = par, .time_base = {1, 1000}, .frame_rate = {30, 1}};
    CHECK_EQ_INT(hub_start(h, &tr, 1), 0);
    hub_end(h);
    hub_unrefp(&h);
    avcodec_parameters_free(&par);

    CHECK_EQ_INT(wh->count, 2);
    struct event *live = queue_pop(wh), *ended = queue_pop(wh);
    CHECK_STREQ(live->type, "stream.live");
    CHECK_STREQ(json_string_value(json_object_get(live->data, "name")), "cam1");
    json_t *t0 = json_array_get(json_object_get(live->data, "tracks"), 0);
    CHECK_STREQ(json_string_value(json_object_get(t0, "codec")), "h264");
    CHECK_EQ_INT(json_integer_value(json_object_get(t0, "height")), 720);
    CHECK_STREQ(ended->type, "stream.ended");
    CHECK_STREQ(json_string_value(json_object_get(ended->data, "name")), "cam1");
    CHECK_STREQ(json_string_value(json_object_get(ended->data, "started_at")),
                json_string_value(json_object_get(live->data, "started_at")));
    CHECK(json_is_string(json_object_get(ended->data, "ended_at")));
    json_t *dur = json_object_get(ended->data, "duration_seconds");
    CHECK(json_is_real(dur) && json_real_value(dur) >= 0 && json_real_value(dur) < 5);
    CHECK(strcmp(live->id, ended->id) != 0);
    event_free(live);
    event_free(ended);
    hub_registry_destroy(&reg);
    webhook_free(wh);
}

/* Delivery to a port where nothing listens: retried max_attempts times with backoff, then
 * dropped; destroy does not hang. */
static void test_unreachable(void)
{
    const char *urls[] = {"http://127.0.0.1:1/hook"};
    struct metrics *m = metrics_create();
    struct webhook_config cfg = {
        .urls = urls, .nurls = 1, .max_attempts = 2, .backoff_ms = 10, .metrics = m};
    struct hub_registry *reg = hub_registry_create();
    struct webhook *wh = webhook_create(&cfg, reg);
    CHECK(wh != NULL);
    webhook_emit(wh, "test.event", json_object());
    for (int i = 0; i < 200; i++) { /* up to 2 s */
        pthread_mutex_lock(&wh->mu);
        int n = wh->count;
        pthread_mutex_unlock(&wh->mu);
        if (n == 0)
            break;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    CHECK_EQ_INT(wh->count, 0);
    for (int i = 0; i < 200 && metrics_value(m, "kibitka_webhook_failed_total", NULL) == 0; i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    CHECK_EQ_INT(metrics_value(m, "kibitka_webhook_failed_total", NULL),
                 1); /* given up after 2 attempts */
    CHECK_EQ_INT(metrics_value(m, "kibitka_webhook_delivered_total", NULL), 0);
    webhook_destroy(&wh);
    CHECK(wh == NULL);
    hub_registry_destroy(&reg);
    metrics_destroy(&m);
}

static int parse(struct config *c, int argc, char **argv)
{
    char err[256];
    FILE *f = fmemopen(err, sizeof(err), "w");
    int rc = config_parse(c, argc, argv, f);
    if (rc == 0)
        rc = config_check(c, f);
    fclose(f);
    return rc;
}

static void test_flags(void)
{
    struct config c;
    setenv("KIBITKA_WEBHOOK", "http://a/1,http://b/2", 1);
    setenv("KIBITKA_WEBHOOK_SECRET", "envsecret", 1);
    config_defaults(&c);
    CHECK_EQ_INT(parse(&c, 0, NULL), 0);
    CHECK_EQ_INT(c.webhook_urls.n, 2);
    CHECK_STREQ(c.webhook_urls.v[1], "http://b/2");
    CHECK_STREQ(c.webhook_secret, "envsecret");
    config_free(&c);

    /* the command line replaces the environment's list; the flag repeats */
    config_defaults(&c);
    char *a[] = {"--webhook", "https://x/h", "--webhook=http://y/h", "--webhook-secret", "s"};
    CHECK_EQ_INT(parse(&c, 5, a), 0);
    CHECK_EQ_INT(c.webhook_urls.n, 2);
    CHECK_STREQ(c.webhook_urls.v[0], "https://x/h");
    CHECK_STREQ(c.webhook_urls.v[1], "http://y/h");
    CHECK_STREQ(c.webhook_secret, "s");
    config_free(&c);
    CHECK(c.webhook_urls.v == NULL && c.webhook_urls.n == 0);
    unsetenv("KIBITKA_WEBHOOK");
    unsetenv("KIBITKA_WEBHOOK_SECRET");

    config_defaults(&c);
    CHECK_EQ_INT(c.webhook_urls.n, 0);
    char *bad[] = {"--webhook", "ftp://x/"};
    CHECK_EQ_INT(parse(&c, 2, bad), -EINVAL);
    config_free(&c);
}

int main(void)
{
    test_sign();
    test_body();
    test_queue_drops_oldest();
    test_sink_events();
    test_unreachable();
    test_flags();
    return test_report("test_webhook");
}
