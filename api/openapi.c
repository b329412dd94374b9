/* GET /api/openapi.json: an OpenAPI 3.0 document made from the route table (routes.c), so every
 * route is listed with its method, parameters, request fields and every status it may answer,
 * each with the schema of its body. Nothing here names a route: what a route answers is said
 * next to it in the table, what every route of a kind answers is said here once.
 *
 * The schemas are strict (additionalProperties: false, every member required unless the table
 * says it may be absent) so that tests/e2e/openapi.test.mjs fails when the server renames a
 * member or changes its type. A nullable member whose type is a named schema gets a copy of it
 * with nullable: true, as OpenAPI 3.0 ignores keywords beside a $ref. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

#define SCHEMAS "#/components/schemas/"

static const struct api_schema *schema_find(const char *name)
{
    for (size_t i = 0; i < api_nschemas; i++)
        if (!strcmp(api_schemas[i].name, name))
            return &api_schemas[i];
    return NULL;
}

static const struct api_prop *param_find(const char *name, size_t len)
{
    for (size_t i = 0; i < api_nparams; i++)
        if (strlen(api_params[i].name) == len && !strncmp(api_params[i].name, name, len))
            return &api_params[i];
    abort(); /* a parameter missing from api_params: test_api catches it */
}

static json_t *object_schema(const struct api_schema *s);

static json_t *enum_values(const char *list)
{
    json_t *arr = json_array();
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        json_array_append_new(arr, json_stringn(p, len));
        p += len + (p[len] == ',');
    }
    return arr;
}

/* The schema of one value (the element's, for an array). */
static json_t *value_schema(const struct api_prop *p)
{
    const struct api_schema *named = schema_find(p->type);
    if (named && !(p->flags & API_NULLABLE))
        return json_pack("{s:s+}", "$ref", SCHEMAS, p->type);
    json_t *s = named ? object_schema(named) : json_pack("{s:s}", "type", p->type);
    if (p->format)
        json_object_set_new(s, "format", json_string(p->format));
    if (p->pattern)
        json_object_set_new(s, "pattern", json_string(p->pattern));
    if (p->enums)
        json_object_set_new(s, "enum", enum_values(p->enums));
    if (p->max > p->min || p->min)
        json_object_set_new(s, "minimum", json_integer(p->min));
    if (p->max > p->min)
        json_object_set_new(s, "maximum", json_integer(p->max));
    if (p->flags & API_NULLABLE)
        json_object_set_new(s, "nullable", json_true());
    return s;
}

static json_t *prop_schema(const struct api_prop *p)
{
    json_t *s = value_schema(p);
    if (p->flags & API_ARRAY)
        s = json_pack("{s:s,s:o}", "type", "array", "items", s);
    if (p->description && !json_object_get(s, "$ref"))
        json_object_set_new(s, "description", json_string(p->description));
    return s;
}

static void add_props(const struct api_schema *s, json_t *props, json_t *required)
{
    if (s->base)
        add_props(schema_find(s->base), props, required);
    for (size_t i = 0; i < s->nprops; i++) {
        json_object_set_new(props, s->props[i].name, prop_schema(&s->props[i]));
        if (!(s->props[i].flags & API_OPTIONAL))
            json_array_append_new(required, json_string(s->props[i].name));
    }
}

static json_t *object_schema(const struct api_schema *s)
{
    json_t *props = json_object(), *required = json_array();
    add_props(s, props, required);
    json_t *o = json_pack("{s:s,s:s,s:o,s:b}", "type", "object", "description", s->description,
                          "properties", props, "additionalProperties", 0);
    if (json_array_size(required)) /* OpenAPI 3.0: required, when present, is not empty */
        json_object_set_new(o, "required", required);
    else
        json_decref(required);
    return o;
}

static json_t *request_body(const struct api_route *r)
{
    json_t *props = json_object(), *required = json_array();
    for (size_t i = 0; i < r->nbody; i++) {
        const struct json_field *f = &r->body[i];
        json_object_set_new(props, f->name,
                            json_pack("{s:s,s:s}", "type", json_field_type_name(f->type),
                                      "description", f->description));
        if (f->required)
            json_array_append_new(required, json_string(f->name));
    }
    json_t *schema = json_pack("{s:s,s:o,s:b}", "type", "object", "properties", props,
                               "additionalProperties", 0);
    if (json_array_size(required))
        json_object_set_new(schema, "required", required);
    else
        json_decref(required);
    return json_pack("{s:b,s:{s:{s:o}}}", "required", 1, "content", "application/json", "schema",
                     schema);
}

static json_t *parameter(const struct api_prop *p, size_t len, const char *in)
{
    json_t *schema = value_schema(p);
    return json_pack("{s:s#,s:s,s:b,s:s,s:o}", "name", p->name, (int)len, "in", in, "required",
                     !strcmp(in, "path"), "description", p->description, "schema", schema);
}

static json_t *parameters(const struct api_route *r)
{
    json_t *params = json_array();
    for (const char *p = strchr(r->r.pattern, '{'); p; p = strchr(p + 1, '{')) {
        size_t len = strcspn(p + 1, "}");
        json_array_append_new(params, parameter(param_find(p + 1, len), len, "path"));
    }
    for (const char *q = r->query; q && *q;) {
        size_t len = strcspn(q, ",");
        json_array_append_new(params, parameter(param_find(q, len), len, "query"));
        q += len + (q[len] == ',');
    }
    return params;
}

/* The errors, each a components/responses entry with the Error body. */
static const struct {
    unsigned status;
    const char *name, *description, *header, *header_description;
} errors[] = {
    {400, "BadRequest",
     "the body or a query parameter is not valid (bad_json, invalid_body, unknown_field, "
     "missing_field, invalid_field, invalid_parameter); a route that takes no body takes only "
     "an empty one or {}",
     NULL, NULL},
    {401, "Unauthorized",
     "no valid bearer token (unauthorized), or at login a wrong name or password "
     "(invalid_credentials)",
     "WWW-Authenticate", "Bearer, when a token is missing or not valid"},
    {403, "Forbidden",
     "the caller may not do this (forbidden), the old password is wrong (invalid_credentials), "
     "or a signed URL has expired (link_expired) or its signature does not match "
     "(link_invalid)",
     NULL, NULL},
    {404, "NotFound",
     "no such object, or one the caller may not see (not_found); a chunk not in the store yet "
     "(not_uploaded)",
     NULL, NULL},
    {409, "Conflict", "the name is taken, the last admin, or a recording still in progress", NULL,
     NULL},
    {413, "PayloadTooLarge", "the body is over 64 KiB (payload_too_large)", NULL, NULL},
    {416, "RangeNotSatisfiable", "the Range starts past the end (range_not_satisfiable)", NULL,
     NULL},
    {429, "TooManyRequests", "too many failed logins (rate_limited)", "Retry-After",
     "seconds until the next try is allowed"},
    {500, "InternalError", "a database or store error (internal, storage_error)", NULL, NULL},
    {502, "BadGateway", "the store refused (storage_error); nothing was deleted", NULL, NULL},
    {503, "Unavailable",
     "no database or store configured, or it is busy; for logins, too many are waiting for the "
     "password check; voice rooms not running on this server (kick, mute) (unavailable)",
     "Retry-After", "seconds to wait before trying again (logins)"},
};

static json_t *error_responses(void)
{
    json_t *out = json_object();
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
        json_t *resp = json_pack("{s:s,s:{s:{s:{s:s}}}}", "description", errors[i].description,
                                 "content", "application/json", "schema", "$ref", SCHEMAS "Error");
        if (errors[i].header)
            json_object_set_new(resp, "headers",
                                json_pack("{s:{s:s,s:b,s:{s:s}}}", errors[i].header, "description",
                                          errors[i].header_description, "required",
                                          errors[i].status == 429, "schema", "type", "string"));
        json_object_set_new(out, errors[i].name, resp);
    }
    return out;
}

static json_t *media_body(const char *type)
{
    /* a playlist is text; a chunk is bytes */
    json_t *schema = strncmp(type, "video/", 6)
                         ? json_pack("{s:s}", "type", "string")
                         : json_pack("{s:s,s:s}", "type", "string", "format", "binary");
    return json_pack("{s:{s:o}}", type, "schema", schema);
}

static json_t *response(const struct api_route *r, unsigned status)
{
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
        if (errors[i].status == status)
            return json_pack("{s:s+}", "$ref", "#/components/responses/", errors[i].name);
    if (status == 302)
        return json_pack("{s:s,s:{s:{s:s,s:b,s:{s:s,s:s}}}}", "description",
                         "the object is in S3: follow Location, a presigned URL valid 300 s "
                         "(the Range header too)",
                         "headers", "Location", "description", "the presigned URL", "required", 1,
                         "schema", "type", "string", "format", "uri");
    if (!r->result)
        return json_pack("{s:s}", "description", "done; no body");
    json_t *resp = json_pack("{s:s}", "description", status == 206 ? "the requested range" : "ok");
    if (strchr(r->result, '/'))
        json_object_set_new(resp, "content", media_body(r->result));
    else
        json_object_set_new(
            resp, "content",
            json_pack("{s:{s:{s:s+}}}", "application/json", "schema", "$ref", SCHEMAS, r->result));
    if (status == 206)
        json_object_set_new(resp, "headers",
                            json_pack("{s:{s:s,s:b,s:{s:s}}}", "Content-Range", "description",
                                      "bytes first-last/size", "required", 1, "schema", "type",
                                      "string"));
    return resp;
}

static void add_response(json_t *responses, const struct api_route *r, unsigned status)
{
    char key[8];
    snprintf(key, sizeof(key), "%u", status);
    json_object_set_new(responses, key, response(r, status));
}

/* Every status the route may answer: its success, its own (the table), and its kind's. */
static json_t *responses(const struct api_route *r)
{
    json_t *out = json_object();
    add_response(out, r, r->status);
    for (const char *p = r->statuses; p && *p;) {
        char *end;
        add_response(out, r, (unsigned)strtoul(p, &end, 10));
        p = end + strspn(end, " ");
    }
    add_response(out, r, 400);
    add_response(out, r, 413);
    if (r->access != API_PUBLIC)
        add_response(out, r, 401);
    if (r->access == API_ADMIN || r->access == API_SIGNED)
        add_response(out, r, 403);
    if (api_route_needs_db(r)) {
        add_response(out, r, 500);
        add_response(out, r, 503);
    }
    return out;
}

static json_t *operation(const struct api_route *r)
{
    json_t *op = json_pack("{s:s,s:o,s:o}", "summary", r->summary, "parameters", parameters(r),
                           "responses", responses(r));
    if (r->nbody)
        json_object_set_new(op, "requestBody", request_body(r));
    json_t *security = r->access == API_PUBLIC ? json_array() : json_pack("[{s:[]}]", "bearer");
    if (r->access == API_SIGNED)
        json_array_append_new(security, json_pack("{s:[]}", "signed_url"));
    json_object_set_new(op, "security", security);
    return op;
}

json_t *api_openapi_document(void)
{
    json_t *paths = json_object();
    for (size_t i = 0; i < api_nroutes; i++) {
        const struct api_route *r = &api_routes[i];
        json_t *item = json_object_get(paths, r->r.pattern);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, r->r.pattern, item);
        }
        char method[8];
        size_t k = 0;
        for (; r->r.method[k] && k < sizeof(method) - 1; k++)
            method[k] = (char)tolower((unsigned char)r->r.method[k]);
        method[k] = '\0';
        json_object_set_new(item, method, operation(r));
    }
    json_t *schemas = json_object();
    for (size_t i = 0; i < api_nschemas; i++)
        json_object_set_new(schemas, api_schemas[i].name, object_schema(&api_schemas[i]));
    /* signed_url: ?expires=&sig= as handed out by GET /api/recordings/{id}. */
    return json_pack("{s:s,s:{s:s,s:s},s:o,s:{s:{s:{s:s,s:s},s:{s:s,s:s,s:s}},s:o,s:o}}", "openapi",
                     "3.0.3", "info", "title", "kibitka API", "version", KIBITKA_VERSION, "paths",
                     paths, "components", "securitySchemes", "bearer", "type", "http", "scheme",
                     "bearer", "signed_url", "type", "apiKey", "in", "query", "name", "sig",
                     "responses", error_responses(), "schemas", schemas);
}

void api_openapi(struct api_call *c)
{
    api_ok(c, 200, api_openapi_document());
}
