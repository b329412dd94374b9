/* The HTTP server's /whip tree (api/http.h: config.whip) served by WHIP ingest (ingest/whip):
 * the api's request and response types translated to whip.h's, so neither folder includes the
 * other (docs/ARCHITECTURE.md). A pending WHIP answer comes back through a small record that
 * copies the whip_response into the api_response before the HTTP side's done runs. */
#include "server/whip_glue.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

struct pending {
    struct whip_response wr;
    struct api_response *ar;
    void (*done)(void *done_ctx);
    void *done_ctx;
};

/* Moves wr's answer into ar (taking its heap strings). */
static void move_answer(struct whip_response *wr, struct api_response *ar)
{
    memset(ar, 0, sizeof(*ar));
    ar->file_fd = -1;
    ar->status = wr->status ? wr->status : 500;
    ar->text = wr->body;
    ar->content_type = wr->body ? wr->content_type : NULL;
    ar->location = wr->location;
    ar->etag = wr->etag;
    ar->link = wr->link;
    wr->body = wr->location = wr->etag = wr->link = NULL;
    if (wr->allow)
        snprintf(ar->allow, sizeof(ar->allow), "%s", wr->allow);
    ar->www_authenticate = wr->www_authenticate;
    ar->accept_patch = wr->accept_patch;
    ar->cors = true; /* a page on another origin may publish (RFC 9725 §4.2) */
    whip_response_clear(wr);
}

static void pending_done(void *ctx)
{
    struct pending *p = ctx;
    move_answer(&p->wr, p->ar);
    p->done(p->done_ctx);
    free(p);
}

int whip_glue_http(void *opaque, const struct api_request *req, struct api_response *resp)
{
    struct pending *p = xcalloc(1, sizeof(*p));
    p->ar = resp;
    p->done = req->done;
    p->done_ctx = req->done_ctx;
    struct whip_request wreq = {
        .method = req->method,
        .path = req->path,
        .content_type = req->content_type,
        .authorization = req->authorization,
        .if_match = req->if_match,
        .client = req->client,
        .body = req->body,
        .body_len = req->body_len,
        .done = req->done ? pending_done : NULL,
        .done_ctx = p,
    };
    if (whip_http(opaque, &wreq, &p->wr) == WHIP_PENDING)
        return API_PENDING; /* p is freed by pending_done */
    move_answer(&p->wr, resp);
    free(p);
    return 0;
}
