#include "api/json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"

const char *json_field_type_name(enum json_field_type type)
{
    switch (type) {
    case JF_STRING:
        return "string";
    case JF_BOOLEAN:
        return "boolean";
    case JF_INTEGER:
        return "integer";
    }
    return "string";
}

static bool type_ok(const json_t *v, enum json_field_type type)
{
    switch (type) {
    case JF_STRING:
        return json_is_string(v);
    case JF_BOOLEAN:
        return json_is_boolean(v);
    case JF_INTEGER:
        return json_is_integer(v);
    }
    return false;
}

static int fail(struct json_error *err, const char *code, const char *fmt, const char *what)
{
    err->code = code;
    snprintf(err->message, sizeof(err->message), fmt, what);
    return -EINVAL;
}

/* Names from the body are echoed into messages: cut them short so a 60 KB key stays out. */
static const char *clip(const char *name, char out[48])
{
    snprintf(out, 48, "%s", name);
    return out;
}

static int check_fields(json_t *obj, const struct json_field *fields, size_t n,
                        struct json_error *err)
{
    const char *key;
    json_t *v;
    char cut[48];
    json_object_foreach(obj, key, v)
    {
        size_t i = 0;
        while (i < n && strcmp(fields[i].name, key))
            i++;
        if (i == n)
            return fail(err, "unknown_field", "unknown field '%s'", clip(key, cut));
        if (!type_ok(v, fields[i].type)) {
            err->code = "invalid_field";
            snprintf(err->message, sizeof(err->message), "field '%s' must be a %s", fields[i].name,
                     json_field_type_name(fields[i].type));
            return -EINVAL;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (fields[i].required && !json_object_get(obj, fields[i].name))
            return fail(err, "missing_field", "field '%s' is required", fields[i].name);
    return 0;
}

int json_body_parse(const char *data, size_t len, const struct json_field *fields, size_t n,
                    json_t **out, struct json_error *err)
{
    *out = NULL;
    json_t *obj;
    if (len == 0) {
        obj = json_object();
    } else {
        json_error_t je;
        obj = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
        if (!obj) {
            err->code = "bad_json";
            snprintf(err->message, sizeof(err->message), "malformed JSON at line %d column %d: %s",
                     je.line, je.column, je.text);
            return -EINVAL;
        }
    }
    if (!json_is_object(obj)) {
        json_decref(obj);
        return fail(err, "invalid_body", "%s", "the body must be a JSON object");
    }
    if (check_fields(obj, fields, n, err) < 0) {
        json_decref(obj);
        return -EINVAL;
    }
    *out = obj;
    return 0;
}

const char *json_body_str(const json_t *obj, const char *name)
{
    return obj ? json_string_value(json_object_get(obj, name)) : NULL;
}

json_t *json_error_body(const char *code, const char *message)
{
    return json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
}

json_t *json_time(int64_t wall_us)
{
    char text[32];
    clock_format_iso8601(wall_us, text);
    return json_string(text);
}
