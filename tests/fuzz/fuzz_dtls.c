/* libFuzzer target: DTLS datagrams from the peer into a session endpoint (rtc/dtls.h), through
 * the record pre-check and OpenSSL behind it.
 *
 * Input: one mode byte, then datagrams each prefixed by a 2-byte big-endian length (a length past
 * the end takes what is left). Mode bit 0 clear: a server endpoint, as for a browser that sends
 * the ClientHello; set: a client endpoint that has sent its ClientHello and now reads the
 * server's flight. Bit 1 runs the retransmission timer after every datagram. The process context
 * (key, certificate, SSL_CTX) is made once; each input gets a fresh endpoint, destroyed at the
 * end (ASan's leak check covers the per-session state).
 *
 * Seeds: tests/fuzz/corpus/fuzz_dtls/ (a real ClientHello and a real server first flight,
 * written by tests/unit/rtc/test_dtls with KIBITKA_DTLS_SEED_DIR). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/log.h"
#include "rtc/dtls.h"

static struct rtc_dtls_ctx *ctx;
static struct rtc_dtls_fingerprint peer;

static void on_send(void *opaque, const uint8_t *data, size_t len)
{
    volatile uint8_t x = 0;
    for (size_t i = 0; i < len; i++) /* reads every byte: ASan checks what was sent */
        x ^= data[i];
    (void)x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) {
        log_set_level(LOG_ERROR);
        if (rtc_dtls_ctx_create(&ctx, NULL) != 0)
            __builtin_trap();
        rtc_dtls_ctx_fingerprint_bytes(ctx, &peer); /* any: the check runs after the chain */
    }
    if (size < 1)
        return 0;
    int mode = data[0];
    int64_t now = 1000000;
    struct rtc_dtls *d = rtc_dtls_create(ctx, (mode & 1) ? RTC_DTLS_CLIENT : RTC_DTLS_SERVER, &peer,
                                         on_send, NULL, now);
    if (!d)
        __builtin_trap();
    if (mode & 1)
        rtc_dtls_start(d, now);
    size_t pos = 1;
    while (pos < size) {
        size_t n = size - pos;
        if (n >= 2) {
            size_t want = (size_t)data[pos] << 8 | data[pos + 1];
            pos += 2;
            n = size - pos;
            if (want < n)
                n = want;
        }
        int checked = rtc_dtls_check_records(data + pos, n);
        int fed = rtc_dtls_feed(d, data + pos, n, now);
        if ((checked != 0) != (fed == -EINVAL))
            __builtin_trap(); /* feed drops exactly what the check refuses */
        if (mode & 2) {
            now += 10000;
            rtc_dtls_next_timeout_us(d, now);
            rtc_dtls_on_timeout(d, now);
        }
        struct rtc_srtp_keys k;
        if (rtc_dtls_state(d) == RTC_DTLS_CONNECTED && rtc_dtls_srtp_keys(d, &k) != 0)
            __builtin_trap();
        pos += n;
    }
    rtc_dtls_close(d);
    rtc_dtls_destroy(&d);
    return 0;
}
