/* libFuzzer target for what /api does with untrusted bytes before any handler runs: the path
 * through the router (against a table shaped like the real one) and the body through
 * json_body_parse with a field list. The first byte picks the method; the input is split at the
 * first NUL into path and body. */
#include <stdint.h>
#include <string.h>

#include "api/json.h"
#include "api/router.h"

static const struct router_route routes[] = {
    {"POST", "/api/auth/login"},    {"GET", "/api/users/{name}"},
    {"PATCH", "/api/users/{name}"}, {"POST", "/api/streams/{name}/key"},
    {"GET", "/api/streams"},        {"DELETE", "/api/streams/{name}"},
};

static const struct json_field fields[] = {
    {"username", JF_STRING, true, ""},
    {"password", JF_STRING, false, ""},
    {"admin", JF_BOOLEAN, false, ""},
    {"limit", JF_INTEGER, false, ""},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *methods[] = {"GET", "POST", "PATCH", "DELETE"};
    if (size < 1)
        return 0;
    const char *method = methods[data[0] % 4];
    data++;
    size--;
    const uint8_t *nul = memchr(data, 0, size);
    size_t plen = nul ? (size_t)(nul - data) : size;
    char path[4096];
    if (plen >= sizeof(path))
        plen = sizeof(path) - 1;
    memcpy(path, data, plen);
    path[plen] = '\0';
    size_t idx;
    struct router_params params;
    char allow[ROUTER_ALLOW_MAX];
    router_match(routes, sizeof(routes) / sizeof(routes[0]), sizeof(routes[0]), method, path, &idx,
                 &params, allow);
    if (nul) {
        const char *body = (const char *)nul + 1;
        size_t blen = size - plen - 1;
        json_t *obj = NULL;
        struct json_error err;
        if (json_body_parse(body, blen, fields, 4, &obj, &err) == 0) {
            json_body_str(obj, "username");
            json_decref(obj);
        }
    }
    return 0;
}
