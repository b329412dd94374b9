/* WHIP's resource side (ingest/whip/whip.c): what the HTTP threads answer at once (405 with
 * Allow, 415, 401, 400, 404 for a malformed session id), what goes to the network thread and
 * comes back through done (a POST under --open-publish, a PATCH or DELETE of an unknown
 * session), and the stop: a request after whip_shutdown is answered 503 at once, so no HTTP
 * connection waits on a request nobody will answer. */
#include "ingest/whip/whip.c"

#include "core/clock.h"
#include "test.h"

static int dones;

static void on_done(void *ctx)
{
    dones++;
    loop_stop(ctx);
}

static int call(struct whip *w, struct loop *loop, const char *method, const char *path,
                const char *ct, const char *auth, const char *body, struct whip_response *resp)
{
    struct whip_request req = {
        .method = method,
        .path = path,
        .content_type = ct,
        .authorization = auth,
        .client = "10.0.0.1",
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .done = on_done,
        .done_ctx = loop,
    };
    int before = dones;
    int r = whip_http(w, &req, resp);
    if (r == WHIP_PENDING) {
        loop_run(loop); /* on_done stops it */
        CHECK_EQ_INT(dones, before + 1);
    }
    return r;
}

int main(void)
{
    struct loop *loop = loop_create();
    struct hub_registry *hubs = hub_registry_create();
    struct metrics *m = metrics_create();
    struct whip_config cfg = {.open_publish = false, .auth = NULL, .hubs = hubs, .metrics = m};
    struct whip *w = whip_create(loop, &cfg);
    struct whip_response r;
    const char *sdp = "application/sdp";

    CHECK_EQ_INT(call(w, loop, "GET", "/whip", NULL, NULL, NULL, &r), 0);
    CHECK_EQ_INT(r.status, 405);
    CHECK_STREQ(r.allow, "POST, OPTIONS");
    whip_response_clear(&r);
    call(w, loop, "POST", "/whip", "text/plain", "Bearer k", "v=0", &r);
    CHECK_EQ_INT(r.status, 415);
    whip_response_clear(&r);
    call(w, loop, "POST", "/whip", "Application/SDP; charset=utf-8", "Basic k", "v=0", &r);
    CHECK_EQ_INT(r.status, 401);
    CHECK(r.www_authenticate);
    whip_response_clear(&r);
    call(w, loop, "POST", "/whip", sdp, "Bearer k", NULL, &r);
    CHECK_EQ_INT(r.status, 400);
    whip_response_clear(&r);
    call(w, loop, "POST", "/whip/Bad Name", sdp, "Bearer k", "v=0", &r);
    CHECK_EQ_INT(r.status, 400);
    whip_response_clear(&r);
    call(w, loop, "POST", "/whip/a/b", sdp, "Bearer k", "v=0", &r);
    CHECK_EQ_INT(r.status, 404);
    whip_response_clear(&r);
    /* No key checker and no --open-publish: the key cannot open anything (network thread). */
    CHECK_EQ_INT(call(w, loop, "POST", "/whip", sdp, "Bearer k", "v=0", &r), WHIP_PENDING);
    CHECK_EQ_INT(r.status, 401);
    whip_response_clear(&r);

    /* Session resources. */
    call(w, loop, "POST", "/whip/session/0123456789abcdef01234567", sdp, NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 405);
    CHECK_STREQ(r.allow, "PATCH, DELETE, OPTIONS");
    whip_response_clear(&r);
    call(w, loop, "DELETE", "/whip/session/../../etc", NULL, NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 404);
    whip_response_clear(&r);
    call(w, loop, "PATCH", "/whip/session/0123456789abcdef01234567", "application/sdp", NULL,
         "a=candidate", &r);
    CHECK_EQ_INT(r.status, 415);
    CHECK_STREQ(r.accept_patch, "application/trickle-ice-sdpfrag");
    whip_response_clear(&r);
    CHECK_EQ_INT(call(w, loop, "PATCH", "/whip/session/0123456789abcdef01234567",
                      "application/trickle-ice-sdpfrag", NULL, "a=end-of-candidates", &r),
                 WHIP_PENDING);
    CHECK_EQ_INT(r.status, 404);
    whip_response_clear(&r);
    CHECK_EQ_INT(call(w, loop, "DELETE", "/whip/session/0123456789abcdef01234567", NULL, NULL,
                      NULL, &r),
                 WHIP_PENDING);
    CHECK_EQ_INT(r.status, 404);
    whip_response_clear(&r);

    /* --open-publish: the key names the stream; a malformed offer is refused 400 with the
     * parser's reason, and the name is given back, so a second try gets the same answer, not
     * 409. (A whole publish is tests/e2e/whip.test.mjs, with a real WebRTC peer.) */
    w->cfg.open_publish = true;
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(call(w, loop, "POST", "/whip", sdp, "Bearer cam1", "v=0", &r), WHIP_PENDING);
        CHECK_EQ_INT(r.status, 400);
        CHECK(r.body && strstr(r.body, "bad SDP offer"));
        whip_response_clear(&r);
    }
    CHECK_EQ_INT(whip_session_count(w), 0);
    CHECK_EQ_INT(hub_registry_count(hubs), 0);

    /* Queued but not yet taken by the network thread at shutdown: answered 503 by the
     * shutdown itself; after it, answered 503 at once. */
    struct whip_request req = {.method = "POST", .path = "/whip", .content_type = sdp,
                               .authorization = "Bearer cam2", .client = "x", .body = "v=0",
                               .body_len = 3, .done = on_done, .done_ctx = loop};
    int before = dones;
    CHECK_EQ_INT(whip_http(w, &req, &r), WHIP_PENDING);
    whip_shutdown(w);
    CHECK_EQ_INT(dones, before + 1);
    CHECK_EQ_INT(r.status, 503);
    whip_response_clear(&r);
    CHECK_EQ_INT(whip_http(w, &req, &r), 0);
    CHECK_EQ_INT(r.status, 503);
    whip_response_clear(&r);
    CHECK(metrics_value(m, "kibitka_whip_requests_total", NULL) >= 14);

    loop_destroy(&loop); /* runs the queue's last wake-up: it finds the queue empty */
    whip_destroy(&w);
    hub_registry_destroy(&hubs);
    metrics_destroy(&m);
    return test_report("whip");
}
