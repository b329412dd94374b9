/* libFuzzer target: the packager's request parsing (packager/hls.c, playlist.c): the path after
 * /hls/ (stream, rendition, file names with session ids, segment and part numbers) and the
 * _HLS_msn/_HLS_part/_HLS_skip values, all from any client. The input is split at NUL bytes
 * into the path and the three values; the server holds one live stream, "cam", with a source
 * rendition, so parsed requests also reach the stream's answers.
 * Seeds: tests/fuzz/corpus/fuzz_hls_path/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "packager/hls.h"

static struct hls_server *srv;
static struct hub_registry *reg;

static void setup(void)
{
    reg = hub_registry_create();
    struct hls_config cfg = {.part_seconds = 0.5, .linger_seconds = 30};
    srv = hls_server_create(&cfg, reg);
    struct hub *hub = NULL;
    if (hub_registry_claim(reg, "cam", &hub) != 0)
        abort();
    /* a claimed, not yet started stream: requests for it block or 404 */
}

/* The next NUL-terminated field of the input, or NULL when there is none. */
static const char *field(const char **p, const char *end)
{
    if (*p >= end)
        return NULL;
    const char *f = *p;
    *p += strnlen(f, (size_t)(end - f)) + 1;
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv)
        setup();
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *p = copy, *end = copy + size;
    struct hls_request rq = {0};
    rq.path = field(&p, end);
    rq.hls_msn = field(&p, end);
    rq.hls_part = field(&p, end);
    rq.hls_skip = field(&p, end);
    rq.client = "127.0.0.1";
    if (!rq.path)
        rq.path = "";
    struct hls_response resp;
    int rc = hls_handle(srv, &rq, &resp);
    if (rc == 0) {
        if (resp.status < 200 || resp.status > 599)
            __builtin_trap();
        blob_unrefp(&resp.body);
    } else if (rc != HLS_BLOCK) {
        __builtin_trap();
    }
    free(copy);
    return 0;
}
