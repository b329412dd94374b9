/* Route matching for /api, and for the server's top level (api/http.c: /api/, /hls/, /health,
 * /metrics): a const table of {method, pattern} where a pattern is a path whose segments are
 * literals or "{name}" parameters (one whole segment, any bytes but '/'); a pattern ending in
 * "*" matches every path that starts with what comes before it (the rest may hold '/' or be
 * empty). Method "*" matches any method. The first route that matches wins.
 *
 * router_match finds the route for a method and path. When the path matches some pattern but
 * no route with that method, it reports 405 and the methods that would be allowed (for the Allow
 * header); when no pattern matches, 404. HEAD is answered by GET routes. The router knows nothing
 * of handlers: a route table entry embeds a struct router_route first and the caller casts. */
#ifndef KIBITKA_API_ROUTER_H
#define KIBITKA_API_ROUTER_H

#include <stddef.h>

#define ROUTER_MAX_PARAMS 4
#define ROUTER_PARAM_MAX 256 /* bytes of one parameter value, with the NUL */
#define ROUTER_ALLOW_MAX 64

struct router_route {
    const char *method;  /* "GET", "POST", "PATCH", "DELETE" */
    const char *pattern; /* "/api/streams/{name}/key" */
};

struct router_params {
    int n;
    char names[ROUTER_MAX_PARAMS][32]; /* "name" for "{name}" */
    char values[ROUTER_MAX_PARAMS][ROUTER_PARAM_MAX];
};

enum router_result { ROUTER_FOUND = 0, ROUTER_NOT_FOUND = 404, ROUTER_BAD_METHOD = 405 };

/* routes: n entries of stride bytes each, each starting with a struct router_route. On
 * ROUTER_FOUND sets *index and fills params; on ROUTER_BAD_METHOD writes "GET, POST" style text
 * into allow. A path segment longer than ROUTER_PARAM_MAX - 1 never matches a parameter. */
enum router_result router_match(const void *routes, size_t n, size_t stride, const char *method,
                                const char *path, size_t *index, struct router_params *params,
                                char allow[ROUTER_ALLOW_MAX]);
/* The value of parameter name, or NULL. */
const char *router_param(const struct router_params *params, const char *name);

#endif
