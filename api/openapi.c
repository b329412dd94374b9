/* GET /api/openapi.json: an OpenAPI 3.0 document made from the route table, so every route is
 * listed with its method, path parameters, request fields and success status. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "api/internal.h"

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

static json_t *parameters(const struct api_route *r)
{
    json_t *params = json_array();
    for (const char *p = strchr(r->r.pattern, '{'); p; p = strchr(p + 1, '{')) {
        const char *close = strchr(p, '}');
        json_array_append_new(params,
                              json_pack("{s:s#,s:s,s:b,s:{s:s,s:s}}", "name", p + 1,
                                        (int)(close - p - 1), "in", "path", "required", 1, "schema",
                                        "type", "string", "pattern", "^[a-z0-9_-]{1,64}$"));
    }
    for (const char *q = r->query; q && *q;) {
        size_t len = strcspn(q, ",");
        json_array_append_new(params,
                              json_pack("{s:s#,s:s,s:b,s:{s:s}}", "name", q, (int)len, "in",
                                        "query", "required", 0, "schema", "type", "string"));
        q += len + (q[len] == ',');
    }
    return params;
}

static json_t *operation(const struct api_route *r)
{
    char status[8];
    snprintf(status, sizeof(status), "%u", r->status);
    json_t *responses = json_pack("{s:{s:s}}", status, "description", "success");
    json_object_set_new(responses, "default",
                        json_pack("{s:s,s:{s:{s:{s:s}}}}", "description",
                                  "an error: {\"error\":{\"code\",\"message\"}}", "content",
                                  "application/json", "schema", "$ref",
                                  "#/components/schemas/Error"));
    json_t *op = json_pack("{s:s,s:o,s:o}", "summary", r->summary, "parameters", parameters(r),
                           "responses", responses);
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
    json_t *error = json_pack("{s:s,s:{s:{s:s,s:{s:{s:s},s:{s:s}}}}}", "type", "object",
                              "properties", "error", "type", "object", "properties", "code", "type",
                              "string", "message", "type", "string");
    /* signed_url: ?expires=&sig= as handed out by GET /api/recordings/{id}. */
    return json_pack("{s:s,s:{s:s,s:s},s:o,s:{s:{s:{s:s,s:s},s:{s:s,s:s,s:s}},s:{s:o}}}", "openapi",
                     "3.0.3", "info", "title", "kibitka API", "version", KIBITKA_VERSION, "paths",
                     paths, "components", "securitySchemes", "bearer", "type", "http", "scheme",
                     "bearer", "signed_url", "type", "apiKey", "in", "query", "name", "sig",
                     "schemas", "Error", error);
}

void api_openapi(struct api_call *c)
{
    api_ok(c, 200, api_openapi_document());
}
