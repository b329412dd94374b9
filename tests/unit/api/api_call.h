/* Requests to the API in process, as the HTTP layer builds them, for the API's unit tests
 * (test_api.c, test_rooms_api.c, test_recordings_api.c): the including file sets `api` before
 * the first call, `call_arg` when its routes read query arguments (NULL: none), and
 * `call_range` for a Range header (NULL: none). */
#ifndef KIBITKA_TEST_API_CALL_H
#define KIBITKA_TEST_API_CALL_H

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"

static struct api *api;
static const char *(*call_arg)(void *ctx, const char *name);
static const char *call_range;

/* Runs one request; returns the status, leaves the body in *out (caller decrefs). */
static unsigned call(const char *method, const char *path, const char *token, const char *body,
                     struct api_response *out)
{
    char auth[128];
    snprintf(auth, sizeof(auth), "Bearer %s", token ? token : "");
    struct api_request req = {.method = method,
                              .path = path,
                              .authorization = token ? auth : NULL,
                              .client = "10.0.0.1",
                              .arg = call_arg,
                              .body = body,
                              .body_len = body ? strlen(body) : 0,
                              .range = call_range};
    api_handle(api, &req, out);
    return out->status;
}

/* The status only. */
static unsigned st(const char *method, const char *path, const char *token, const char *body)
{
    struct api_response r;
    unsigned s = call(method, path, token, body, &r);
    api_response_clear(&r);
    return s;
}

/* An error answer's code ({"error":{"code"}}). */
static const char *err_code(const struct api_response *r)
{
    return json_string_value(json_object_get(json_object_get(r->body, "error"), "code"));
}

#endif
