#include "api/http_respond.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

static void blob_free_cb(void *cls)
{
    blob_unref(cls);
}

enum MHD_Result http_send_text(struct MHD_Connection *conn, unsigned status, const char *ctype,
                               const char *text, const char *cors)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (cors)
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", cors);
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result http_send_status(struct MHD_Connection *conn, unsigned status, const char *msg,
                                 const char *cors)
{
    char text[256];
    snprintf(text, sizeof(text), "%s\n", msg);
    return http_send_text(conn, status, "text/plain; charset=utf-8", text, cors);
}

enum MHD_Result http_send_blob(struct MHD_Connection *conn, const struct hls_response *hr,
                               const char *cors)
{
    struct blob *b = hr->body;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback_cls(b->len, b->data, blob_free_cb, b);
    MHD_add_response_header(resp, "Content-Type", hr->content_type);
    MHD_add_response_header(resp, "Cache-Control", hr->cache_control);
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", cors);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)hr->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result http_send_preflight(struct MHD_Connection *conn, const char *cors)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", cors);
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
    const char *want =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Headers");
    MHD_add_response_header(resp, "Access-Control-Allow-Headers", want ? want : "Range");
    MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_NO_CONTENT, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* A file body (the fd goes to MHD, which sends it with sendfile and closes it), a text body,
 * JSON, or nothing. */
static struct MHD_Response *api_body(struct api_response *ar)
{
    struct MHD_Response *resp;
    if (ar->has_file) {
        resp = MHD_create_response_from_fd_at_offset64((uint64_t)ar->file_len, ar->file_fd,
                                                       (uint64_t)ar->file_offset);
        if (resp)
            ar->has_file = false; /* MHD owns the fd now */
    } else if (ar->blob) {
        resp = MHD_create_response_from_buffer_with_free_callback_cls(ar->blob->len, ar->blob->data,
                                                                      blob_free_cb, ar->blob);
        if (resp)
            ar->blob = NULL; /* MHD holds the reference now */
    } else if (ar->text) {
        resp = MHD_create_response_from_buffer(strlen(ar->text), ar->text, MHD_RESPMEM_MUST_FREE);
        if (resp)
            ar->text = NULL;
    } else {
        char *text = ar->body ? json_dumps(ar->body, JSON_COMPACT) : NULL;
        resp = text ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE)
                    : MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (text)
            MHD_add_response_header(resp, "Content-Type", "application/json");
        return resp;
    }
    if (resp && ar->content_type)
        MHD_add_response_header(resp, "Content-Type", ar->content_type);
    return resp;
}

enum MHD_Result http_send_api(struct MHD_Connection *conn, struct api_response *ar,
                              const char *cors)
{
    struct MHD_Response *resp = api_body(ar);
    if (!resp)
        return MHD_NO; /* out of memory in MHD: drop the connection */
    MHD_add_response_header(resp, "Cache-Control",
                            ar->cache_control ? ar->cache_control : "no-store");
    if (ar->location)
        MHD_add_response_header(resp, "Location", ar->location);
    if (ar->partial) {
        char range[96];
        snprintf(range, sizeof(range), "bytes %lld-%lld/%lld", (long long)ar->file_offset,
                 (long long)(ar->file_offset + ar->file_len - 1), (long long)ar->file_size);
        MHD_add_response_header(resp, "Content-Range", range);
    }
    if (ar->content_type && !strcmp(ar->content_type, "video/mp4"))
        MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    if (ar->etag)
        MHD_add_response_header(resp, "ETag", ar->etag);
    if (ar->link)
        MHD_add_response_header(resp, "Link", ar->link);
    if (ar->accept_patch)
        MHD_add_response_header(resp, "Accept-Patch", ar->accept_patch);
    if (ar->cors && cors) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", cors);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                                "Location, ETag, Link, Accept-Patch");
    }
    if (ar->allow[0])
        MHD_add_response_header(resp, "Allow", ar->allow);
    if (ar->www_authenticate)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    if (ar->retry_after_s > 0) {
        char secs[24];
        snprintf(secs, sizeof(secs), "%lld", (long long)ar->retry_after_s);
        MHD_add_response_header(resp, "Retry-After", secs);
    }
    enum MHD_Result ret = MHD_queue_response(conn, ar->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result http_send_whip_preflight(struct MHD_Connection *conn, const char *cors)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", cors);
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS");
    MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                            "Authorization, Content-Type, If-Match");
    MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                            "Location, ETag, Link, Accept-Patch");
    MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
    MHD_add_response_header(resp, "Accept-Post", "application/sdp");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_NO_CONTENT, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result http_send_refusal(struct MHD_Connection *conn, unsigned status, const char *why)
{
    char text[160];
    snprintf(text, sizeof(text), "%s\n", why);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
    MHD_add_response_header(resp, "Connection", "close");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}
