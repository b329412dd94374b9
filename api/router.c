#include "api/router.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Whether path matches pattern segment by segment; fills params when it does. */
static bool match_pattern(const char *pattern, const char *path, struct router_params *params)
{
    params->n = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (p[0] == '*' && p[1] == '\0')
            return true;
        if (*p == '{') {
            const char *close = strchr(p, '}');
            size_t vlen = strcspn(s, "/");
            size_t nlen = close ? (size_t)(close - p - 1) : 0;
            if (!close || vlen == 0 || vlen >= ROUTER_PARAM_MAX || params->n == ROUTER_MAX_PARAMS ||
                nlen >= sizeof(params->names[0]))
                return false;
            int i = params->n++;
            memcpy(params->names[i], p + 1, nlen);
            params->names[i][nlen] = '\0';
            memcpy(params->values[i], s, vlen);
            params->values[i][vlen] = '\0';
            p = close + 1;
            s += vlen;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    if (p[0] == '*' && p[1] == '\0') /* the rest of the path is empty */
        return true;
    return *p == '\0' && *s == '\0';
}

static void allow_add(char allow[ROUTER_ALLOW_MAX], const char *method)
{
    if (strstr(allow, method)) /* methods are distinct words; "GET" is not inside another */
        return;
    size_t len = strlen(allow);
    snprintf(allow + len, ROUTER_ALLOW_MAX - len, "%s%s", len ? ", " : "", method);
}

enum router_result router_match(const void *routes, size_t n, size_t stride, const char *method,
                                const char *path, size_t *index, struct router_params *params,
                                char allow[ROUTER_ALLOW_MAX])
{
    bool path_known = false;
    allow[0] = '\0';
    const char *want = strcmp(method, "HEAD") ? method : "GET";
    for (size_t i = 0; i < n; i++) {
        const struct router_route *r =
            (const struct router_route *)((const char *)routes + i * stride);
        if (!match_pattern(r->pattern, path, params))
            continue;
        if (!strcmp(r->method, want) || !strcmp(r->method, "*")) {
            *index = i;
            return ROUTER_FOUND;
        }
        path_known = true;
        allow_add(allow, r->method);
        if (!strcmp(r->method, "GET"))
            allow_add(allow, "HEAD");
    }
    params->n = 0;
    return path_known ? ROUTER_BAD_METHOD : ROUTER_NOT_FOUND;
}

const char *router_param(const struct router_params *params, const char *name)
{
    for (int i = 0; i < params->n; i++)
        if (!strcmp(params->names[i], name))
            return params->values[i];
    return NULL;
}
