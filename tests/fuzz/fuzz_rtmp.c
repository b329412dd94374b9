/* libFuzzer target: an RTMP connection without sockets. The input is what a client sends: the
 * handshake, the chunk stream, AMF0 commands, metadata and FLV audio/video, all through
 * rtmp_session_feed with --open-publish, into a hub with a sink that reads every packet.
 *
 * An input starting with 3 (the RTMP version) is fed as is, handshake included; any other first
 * byte is replaced by a plain handshake, so the fuzzer reaches the chunk stream without
 * rediscovering 3073 bytes. Bytes are fed in slices of varying size to exercise partial
 * headers. Seeds: tests/fuzz/corpus/fuzz_rtmp/ (a capture of a real ffmpeg publish). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/hub.h"
#include "core/log.h"
#include "ingest/rtmp/session.h"

static int sink_start(void *o, struct hub *h, const struct hub_track *t, int n)
{
    return 0;
}

static void sink_packet(void *o, const struct hub_packet *p)
{
    volatile uint8_t x = 0;
    for (int i = 0; i < p->pkt->size; i++) /* reads every byte: ASan checks the packet */
        x ^= p->pkt->data[i];
    (void)x;
}

static void sink_end(void *o) {}

static void sink_destroy(void *o) {}

static const struct hub_sink_ops ops = {.name = "fuzz",
                                        .start = sink_start,
                                        .packet = sink_packet,
                                        .end = sink_end,
                                        .destroy = sink_destroy};

static void observe(void *opaque, struct hub *hub)
{
    hub_add_sink(hub, &ops, NULL);
}

static struct hub_registry *registry(void)
{
    static struct hub_registry *reg;
    if (!reg) {
        log_set_level(LOG_ERROR + 1); /* quiet: the fuzzer triggers every warning */
        reg = hub_registry_create();
        hub_registry_observe(reg, observe, NULL);
    }
    return reg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t slices[] = {1, 3, 12, 128, 4096, 65536};
    struct rtmp_session_config cfg = {.open_publish = true, .hubs = registry(), .peer = "fuzz:1"};
    struct rtmp_session *s = rtmp_session_create(&cfg);
    int err = 0;
    if (size > 0 && data[0] != 3) {
        static uint8_t hs[1 + 2 * 1536] = {3};
        err = rtmp_session_feed(s, hs, sizeof(hs));
        data++;
        size--;
    }
    for (size_t off = 0, i = 0; off < size && err == 0; i++) {
        size_t k = slices[i % 6];
        if (k > size - off)
            k = size - off;
        err = rtmp_session_feed(s, data + off, k);
        buf_clear(rtmp_session_output(s));
        off += k;
    }
    rtmp_session_destroy(&s, "fuzz input ended");
    if (hub_registry_count(registry()) != 0)
        __builtin_trap(); /* a hub outlived its session */
    return 0;
}
