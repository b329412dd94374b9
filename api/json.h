/* JSON request bodies: parsing with limits and checking an object against a field list.
 *
 * A body is an object whose members are all listed fields, each of the listed type, with every
 * required field present. Anything else is a 400 whose message names the field. The field list
 * is also what api/openapi.c publishes as the request schema, so the two cannot disagree. */
#ifndef KIBITKA_API_JSON_H
#define KIBITKA_API_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum json_field_type { JF_STRING, JF_BOOLEAN, JF_INTEGER };

struct json_field {
    const char *name;
    enum json_field_type type;
    bool required;
    const char *description;
};

struct json_error {
    const char *code; /* "bad_json", "invalid_body", "unknown_field", "missing_field",
                         "invalid_field" */
    char message[256];
};

/* Parses len bytes (duplicate keys rejected; jansson bounds the nesting depth and rejects
 * invalid UTF-8 and \u0000) and checks the result against fields. An empty body counts as {}.
 * On success *out is a new reference; else -EINVAL with *err filled. */
int json_body_parse(const char *data, size_t len, const struct json_field *fields, size_t n,
                    json_t **out, struct json_error *err);
/* The JSON Schema type name of a field type ("string", "boolean", "integer"). */
const char *json_field_type_name(enum json_field_type type);
/* The string member name of obj, or NULL (bodies were checked, so a present field has its
 * type). */
const char *json_body_str(const json_t *obj, const char *name);
/* {"error":{"code":code,"message":message}} (a new reference). */
json_t *json_error_body(const char *code, const char *message);
/* An RFC 3339 UTC time string for unix microseconds (a new reference). */
json_t *json_time(int64_t wall_us);

#endif
