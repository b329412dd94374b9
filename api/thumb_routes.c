/* GET /api/streams/{name}/thumbnail.jpg: public, like /api/live and the stream's HLS (streams
 * have no private flag; whoever may watch may see the picture). The picture comes from
 * packager/thumb.h: from its cache at once, or, when older than 10 s, from its worker thread
 * while the connection is suspended (API_PENDING), so no HTTP thread waits on a decode. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/internal.h"
#include "core/alloc.h"
#include "packager/thumb.h"

struct thumb_job {
    struct api_call c; /* only api and resp are used after the handler returned */
    void (*done)(void *);
    void *done_ctx;
};

/* A strong validator from the bytes (FNV-1a): the same picture, the same ETag. */
static char *etag_of(const struct blob *b)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < b->len; i++)
        h = (h ^ b->data[i]) * 1099511628211ULL;
    char *s = xmalloc(24);
    snprintf(s, 24, "\"%016llx\"", (unsigned long long)h);
    return s;
}

static void answer(struct api_call *c, struct blob *jpeg, int err)
{
    if (jpeg) {
        c->resp->status = 200;
        c->resp->blob = jpeg;
        c->resp->content_type = "image/jpeg";
        c->resp->cache_control = "public, max-age=10";
        c->resp->etag = etag_of(jpeg);
    } else if (err == -ENOENT) {
        api_fail(c, 404, "not_found", "stream is not live or has no picture yet");
    } else {
        c->resp->retry_after_s = 1;
        api_fail(c, 503, "unavailable", "the thumbnail cannot be made now; retry in 1 s");
    }
}

static void thumb_done(void *ctx, struct blob *jpeg, int err)
{
    struct thumb_job *j = ctx;
    answer(&j->c, jpeg, err);
    void (*done)(void *) = j->done;
    void *done_ctx = j->done_ctx;
    free(j);
    done(done_ctx);
}

void api_stream_thumbnail(struct api_call *c)
{
    const char *name = router_param(&c->params, "name");
    if (!c->api->thumbs || !name || !hub_name_valid(name)) {
        answer(c, NULL, -ENOENT);
        return;
    }
    struct thumb_job *j = xcalloc(1, sizeof(*j));
    j->c.api = c->api;
    j->c.resp = c->resp;
    j->done = c->req->done;
    j->done_ctx = c->req->done_ctx;
    struct blob *jpeg = NULL;
    int rc = thumbs_get(c->api->thumbs, name, thumb_done, j, &jpeg);
    if (rc == THUMBS_PENDING) {
        c->pending = true; /* j is the worker's now; it may even be answered already */
        return;
    }
    free(j);
    answer(c, jpeg, rc);
}
